"""Keras 2's ``keras.engine.base_layer``."""
from . import InputSpec, Layer  # noqa: F401
