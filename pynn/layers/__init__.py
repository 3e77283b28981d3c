"""Layers, by family (Keras's names)."""
from .base import Input, InputLayer, Layer, Weight
from .core import Activation, Dense, Dropout, Flatten, Reshape
