"""pynn: neural networks with C kernels, a Keras-compatible API and a TFLite
exporter.  ``import pynn as keras`` gives Keras 3's top-level names."""
__version__ = "0.1.0"

# backend first: it loads the kernels with the thread runtime's settings.
from . import backend  # noqa: I001
# models next: the layers import its node module, and it imports them.
from . import models
from . import (activations, callbacks, constraints, datasets, distribution, initializers,
               layers, losses, metrics, ops, optimizers, preprocessing, regularizers, utils)
from .backend import get_num_threads, set_num_threads, show_config
from .layers import Input, InputLayer
from .models import Model, Sequential
from .models.node import KerasTensor
from . import lite  # noqa: E402  (the TFLite exporter, as tf.lite)

__all__ = ["Sequential", "Model", "Input", "InputLayer", "KerasTensor", "activations",
           "callbacks", "constraints", "datasets", "distribution", "initializers", "layers", "lite", "losses",
           "metrics", "models", "ops", "optimizers", "preprocessing", "regularizers", "utils",
           "set_num_threads", "get_num_threads", "show_config", "__version__"]
