"""Keras 2's ``keras.engine.input_layer``."""
from . import Input, InputLayer  # noqa: F401
