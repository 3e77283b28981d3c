"""Keras 3's ``keras.config``: the global settings pynn has (float32,
channels_last, the fuzz factor epsilon)."""
from .backend import epsilon, floatx, image_data_format, set_epsilon, set_floatx, \
    set_image_data_format


def backend():
    """The name of the array library computations run on: pynn computes on
    NumPy arrays, eagerly, as Keras's NumPy backend does."""
    return "numpy"


__all__ = ["backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
           "set_image_data_format"]
