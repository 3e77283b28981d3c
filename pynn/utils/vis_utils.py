"""Keras 2's ``keras.utils.vis_utils``: plot_model."""
from . import plot_model  # noqa: F401
