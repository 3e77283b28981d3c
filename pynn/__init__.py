"""pynn: neural networks with C kernels, a Keras-compatible API and a TFLite exporter."""
__version__ = "0.1.0"

from . import ops
