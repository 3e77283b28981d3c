"""Keras 2's ``keras.layers.wrappers``."""
from .recurrent import Bidirectional, TimeDistributed, Wrapper  # noqa: F401
