"""Keras 2's ``keras.utils.np_utils``: NumPy helpers for labels and rows."""
from . import normalize, to_categorical  # noqa: F401
