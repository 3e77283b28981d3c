"""Data sets with Keras's loaders."""
from . import boston_housing, mnist
