"""Utilities: one-hot labels, sequence padding, seeding, plots, crash-safe file
writing, image files, datasets read from folders, PyDataset, custom objects for
reading configs."""
import numpy as np

from .custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects,
                             get_registered_name, get_registered_object,
                             register_keras_serializable)
from . import bounding_boxes
from .config import Config
from .dataset import Dataset, split_dataset
from .file_utils import get_file
from .image_dataset import image_dataset_from_directory
from .image_utils import array_to_img, img_to_array, load_img, save_img, smart_resize
from .io import atomic_write
from .io_utils import (disable_interactive_logging, enable_interactive_logging,
                       is_interactive_logging_enabled)
from .plotting import model_to_dot, plot_history, plot_model
from .progbar import Progbar
from .py_dataset import PyDataset, Sequence
from .seeding import set_random_seed
from .sequence_utils import pad_sequences
from .audio_dataset import audio_dataset_from_directory
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
    if len(shape) > 1 and shape[-1] == 1:
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


def __getattr__(name):
    # FeatureSpace is built on the layers, which import this package:
    # its module loads on first use.
    if name == "FeatureSpace":
        from .feature_space import FeatureSpace
        return FeatureSpace
    raise AttributeError(f"module 'pynn.utils' has no attribute {name!r}")


def clear_session(free_memory=True):
    """Keras's clear_session: restart the automatic layer names (and the
    counters of backend.get_uid); ``free_memory`` also runs Python's
    garbage collector."""
    from ..backend import clear_session as clear
    clear(free_memory=free_memory)


def is_keras_tensor(x):
    """Whether ``x`` is a symbolic tensor (from ``Input`` or a layer called
    on one)."""
    from ..backend import is_keras_tensor as check
    return check(x)


def standardize_dtype(dtype):
    """The canonical name of ``dtype``, as Keras's."""
    from ..backend import standardize_dtype as standardize
    return standardize(dtype)


def get_source_inputs(tensor):
    """The Input tensors ``tensor`` is computed from, in order and each
    once (a tensor made by no layer: itself; a non-tensor: as given), as
    Keras's."""
    if not hasattr(tensor, "_keras_history"):
        return tensor
    history = tensor._keras_history
    if history is None or not history.operation._inbound_nodes:
        return [tensor]
    node = history.operation._inbound_nodes[history.node_index]
    if node.is_input:
        return list(node.output_tensors)
    sources = []
    for t in node.input_tensors:
        for x in get_source_inputs(t):
            if all(x is not s for s in sources):
                sources.append(x)
    return sources


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero norms left
    as they are), as Keras's normalize for NumPy arrays; a list becomes an
    array.  Other tensors (traced under a GradientTape, symbolic, a
    Variable) go to ops.normalize as they are, as in Keras."""
    from .. import ops
    if isinstance(x, (list, tuple)):
        x = np.asarray(x, dtype=np.float32)
    if not isinstance(x, np.ndarray):
        return ops.normalize(x, axis=axis, order=order)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    # as Keras: the norm is spread along the last axis when axis is 0 or None
    axis = axis or -1
    return x / np.expand_dims(norm, axis)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``x``, ``(x, y)`` or ``(x, y, sample_weight)``, as a step's data
    (a tuple or list x alone is wrapped as ``(x,)``)."""
    from ..training import pack_x_y_sample_weight as pack
    return pack(x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a step's data, None where absent."""
    from ..training import unpack_x_y_sample_weight as unpack
    return unpack(data)


def serialize_keras_object(obj):
    """``obj`` (a layer, loss, optimizer, registered object...) as Keras 3's
    JSON-ready dict."""
    from ..saving.serialization import serialize_keras_object as serialize
    return serialize(obj)


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object a :func:`serialize_keras_object` dict describes."""
    from ..saving.serialization import deserialize_keras_object as deserialize
    return deserialize(config, custom_objects=custom_objects, safe_mode=safe_mode, **kwargs)


__all__ = ["to_categorical", "pad_sequences", "set_random_seed", "plot_history", "plot_model",
           "model_to_dot",
           "atomic_write", "load_img", "img_to_array", "array_to_img", "save_img",
           "smart_resize", "image_dataset_from_directory", "text_dataset_from_directory",
           "audio_dataset_from_directory",
           "timeseries_dataset_from_array", "get_file", "Dataset", "PyDataset", "Sequence",
           "Progbar", "CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "register_keras_serializable", "get_registered_name", "get_registered_object",
           "Config", "FeatureSpace", "clear_session", "disable_interactive_logging",
           "enable_interactive_logging", "is_interactive_logging_enabled", "get_source_inputs",
           "is_keras_tensor", "normalize", "pack_x_y_sample_weight", "serialize_keras_object",
           "deserialize_keras_object", "split_dataset", "standardize_dtype",
           "unpack_x_y_sample_weight", "bounding_boxes"]
