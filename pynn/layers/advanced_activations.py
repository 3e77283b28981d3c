"""Keras 2's ``keras.layers.advanced_activations``."""
from .activation import ELU, PReLU, LeakyReLU, ReLU, Softmax, ThresholdedReLU  # noqa: F401
