"""keras.layers.serialize / deserialize: a layer as Keras 3's JSON-ready
dict (``{'module', 'class_name', 'config', 'registered_name'}``) and back,
through pynn.saving's serialize_keras_object / deserialize_keras_object
(imported when called: saving sits on top of the layers)."""
from .base import Layer


def serialize(layer):
    """The layer's configuration as a dict, as Keras 3 writes it."""
    from ..saving.serialization import serialize_keras_object
    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """A layer from its serialized dict (as ``serialize`` or Keras writes
    it); ``custom_objects`` maps names to the user's own classes."""
    from ..saving.serialization import deserialize_keras_object
    obj = deserialize_keras_object(config, custom_objects=custom_objects)
    if not isinstance(obj, Layer):
        raise ValueError(f"pynn.layers.deserialize was passed a config that is not a layer's: "
                         f"{config!r}")
    return obj
