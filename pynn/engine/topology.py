"""Keras 2's ``keras.engine.topology``."""
from . import Input, InputLayer, InputSpec, Layer, get_source_inputs  # noqa: F401
from . import Model as Network  # noqa: F401
