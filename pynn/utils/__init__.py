"""Utilities: one-hot labels, sequence padding, seeding, plots, crash-safe file
writing, image files, datasets read from folders, PyDataset, custom objects for
reading configs."""
import numpy as np

from .custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects,
                             get_registered_name, get_registered_object,
                             register_keras_serializable)
from .dataset import Dataset
from .file_utils import get_file
from .image_dataset import image_dataset_from_directory
from .image_utils import array_to_img, img_to_array, load_img, save_img, smart_resize
from .io import atomic_write
from .plotting import plot_history, plot_model
from .progbar import Progbar
from .py_dataset import PyDataset, Sequence
from .seeding import set_random_seed
from .sequence_utils import pad_sequences
from .text_dataset import text_dataset_from_directory
from .timeseries import timeseries_dataset_from_array


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (Keras's to_categorical)."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("to_categorical: labels must be whole, finite numbers")
    elif y.dtype.kind not in "biu":
        raise TypeError(f"to_categorical: labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {y.min()}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {y.max()} does not fit num_classes={num_classes}")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(shape + (num_classes,))


__all__ = ["to_categorical", "pad_sequences", "set_random_seed", "plot_history", "plot_model",
           "atomic_write", "load_img", "img_to_array", "array_to_img", "save_img",
           "smart_resize", "image_dataset_from_directory", "text_dataset_from_directory",
           "timeseries_dataset_from_array", "get_file", "Dataset", "PyDataset", "Sequence",
           "Progbar", "CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "register_keras_serializable", "get_registered_name", "get_registered_object"]
