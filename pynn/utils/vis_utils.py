"""Keras 2's ``keras.utils.vis_utils``: plot_model and model_to_dot."""
from . import model_to_dot, plot_model  # noqa: F401
