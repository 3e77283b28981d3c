"""Keras 2's ``keras.layers.convolutional_recurrent``."""
from .conv_recurrent import ConvLSTM2D  # noqa: F401
