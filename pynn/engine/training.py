"""Keras 2's ``keras.engine.training``."""
from . import Model  # noqa: F401
