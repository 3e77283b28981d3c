"""Keras's preprocessing utilities: ``image`` (ImageDataGenerator and its
iterators, image files), ``sequence`` (padding) and ``text`` (tokenizing),
and image_dataset_from_directory / text_dataset_from_directory."""
from . import image, sequence, text
from ..utils.image_dataset import image_dataset_from_directory
from ..utils.text_dataset import text_dataset_from_directory
from ..utils.timeseries import timeseries_dataset_from_array

__all__ = ["image", "sequence", "text", "image_dataset_from_directory",
           "text_dataset_from_directory", "timeseries_dataset_from_array"]
