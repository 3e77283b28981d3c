"""pynn.lite: export pynn models to TensorFlow Lite flatbuffers.

Mirrors ``tf.lite`` so that converter code ports by changing its imports::

    converter = pynn.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [pynn.lite.Optimize.DEFAULT]
    tflite_bytes = converter.convert()
"""
import enum


class ConversionError(ValueError):
    """The model cannot be written as a TFLite model; the message names the
    layer and why."""


class Optimize(enum.Enum):
    DEFAULT = "DEFAULT"


class OpsSet(enum.Enum):
    TFLITE_BUILTINS = "TFLITE_BUILTINS"
    TFLITE_BUILTINS_INT8 = "TFLITE_BUILTINS_INT8"


__all__ = ["ConversionError", "Optimize", "OpsSet"]
