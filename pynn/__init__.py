"""pynn: neural networks with C kernels, a Keras-compatible API and a TFLite
exporter.  ``import pynn as keras`` gives Keras 3's top-level names."""
__version__ = "0.1.0"

# backend first: it loads the kernels with the thread runtime's settings.
from . import backend  # noqa: I001
# models next: the layers import its node module, and it imports them.
from . import models
from . import (activations, callbacks, config, constraints, cuda, datasets, distribution,
               initializers, layers, losses, metrics, ops, optimizers, preprocessing, random,
               regularizers, utils)
from .gradients import GradientTape, Variable
from .backend import device, get_num_threads, set_num_threads, show_config
from .layers import Input, InputLayer, Layer
from .losses import Loss
from .metrics import Metric
from .optimizers import Optimizer
from .models import Model, Sequential
from .models.node import KerasTensor
from . import lite  # noqa: E402  (the TFLite exporter, as tf.lite)
from . import applications  # noqa: E402  (built on models and layers)



def version():
    """pynn's version (Keras's ``keras.version()``)."""
    return __version__


__all__ = ["Sequential", "Model", "Input", "InputLayer", "KerasTensor", "Layer", "Loss",
           "Metric", "Optimizer", "GradientTape", "Variable", "config", "version", "activations",
           "applications", "backend", "random", "callbacks", "constraints", "cuda", "datasets",
           "distribution", "initializers", "layers", "lite", "losses", "metrics", "models", "ops",
           "optimizers", "preprocessing", "regularizers", "utils", "set_num_threads",
           "get_num_threads", "show_config", "device", "__version__"]
