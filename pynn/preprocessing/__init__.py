"""Keras's preprocessing utilities: sequence padding and text tokenizing."""
from . import sequence, text
