"""Keras 2's ``keras.layers.noise``."""
from .regularization import AlphaDropout, GaussianDropout, GaussianNoise  # noqa: F401
