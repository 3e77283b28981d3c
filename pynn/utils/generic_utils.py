"""Keras 2's ``keras.utils.generic_utils``: custom objects, the progress
bar, object (de)serialization."""
from . import (CustomObjectScope, Progbar, custom_object_scope,  # noqa: F401
               deserialize_keras_object, get_custom_objects, serialize_keras_object)
