"""Keras 2's ``keras.utils.data_utils``: downloads and Sequence."""
from . import Sequence, get_file  # noqa: F401
