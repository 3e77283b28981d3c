"""pynn: neural networks with C kernels, a Keras-compatible API and a TFLite
exporter.  ``import pynn as keras`` gives Keras 3's top-level names."""
__version__ = "0.1.0"

from . import (activations, callbacks, datasets, initializers, layers, losses, metrics,
               models, ops, optimizers, preprocessing, utils)
from .backend import get_num_threads, set_num_threads, show_config
from .layers import Input
from .models import Sequential
from . import lite  # noqa: E402  (the TFLite exporter, as tf.lite)

__all__ = ["Sequential", "Input", "activations", "callbacks", "datasets", "initializers",
           "layers", "lite", "losses", "metrics", "models", "ops", "optimizers",
           "preprocessing", "utils", "set_num_threads", "get_num_threads", "show_config",
           "__version__"]
