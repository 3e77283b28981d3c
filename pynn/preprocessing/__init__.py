"""Data preprocessing with Keras's legacy names: ``image`` (ImageDataGenerator
and its iterators, image files) and image_dataset_from_directory."""
from . import image
from ..utils.image_dataset import image_dataset_from_directory

__all__ = ["image", "image_dataset_from_directory"]
