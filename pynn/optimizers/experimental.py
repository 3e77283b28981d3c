"""tf.keras 2.9-2.15's ``optimizers.experimental`` (a diffusion model's
``optimizers.experimental.AdamW``): the same
optimizers under their old module names."""
from . import (SGD, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW, Ftrl,  # noqa: F401
               Nadam, Optimizer, RMSprop)

__all__ = ["SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "Adamax", "AdamW", "Ftrl",
           "Nadam", "Optimizer", "RMSprop"]
