"""Keras 2's ``keras.layers.merge``: the merge layers and their functional
forms (``add([a, b])``, ``concatenate([a, b], axis=-1)``, ...)."""
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,  # noqa: F401
                      Subtract, add, average, concatenate, dot, maximum, minimum, multiply,
                      subtract)
