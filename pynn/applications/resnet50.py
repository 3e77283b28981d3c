"""ResNet50 under Keras's ``keras.applications.resnet50`` name."""
from .resnet import ResNet50, decode_predictions, preprocess_input

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]
