"""tf.keras 2.11-2.15's ``optimizers.legacy`` (``optimizers.legacy.Adam(lr=...,
decay=...)``, common in programs of those years): the same optimizers
under their old module name, taking Keras 2's ``lr`` and ``decay``.  Their
updates are Keras 3's: the legacy RMSprop and Adagrad added epsilon inside
the square root, which differs only where the accumulated squares are
near epsilon."""
from . import (SGD, Adadelta, Adagrad, Adam, Adamax, Ftrl,  # noqa: F401
               Nadam, Optimizer, RMSprop)

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "Ftrl", "Nadam", "Optimizer",
           "RMSprop"]
