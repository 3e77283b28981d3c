"""What the file formats share: their error, file names, and the optional
h5py import."""
import os

import numpy as np


class ModelFileError(ValueError):
    """A model or weights file cannot be read: not such a file, damaged,
    written by a newer version, hostile, or not matching the model it is
    loaded into."""


# The kinds of file, by name: pynn's own, Keras 3's zip, Keras 3's weights
# file, and the legacy HDF5 file (Keras 2, tf.keras, Keras 3's .h5).
PYNN, KERAS, KERAS_WEIGHTS, H5 = "pynn", "keras", "keras_weights", "h5"

_FOREIGN = {".tf": "TensorFlow SavedModel", ".pb": "TensorFlow SavedModel",
            ".tflite": "TensorFlow Lite", ".onnx": "ONNX", ".pt": "PyTorch",
            ".pth": "PyTorch"}


def file_kind(filepath, what):
    """The kind of file ``filepath`` names (by its suffix), or a
    ValueError saying which names pynn reads and writes."""
    name = os.fspath(filepath)
    lower = name.lower()
    if lower.endswith(".pynn"):
        return PYNN
    if lower.endswith(".keras"):
        return KERAS
    if lower.endswith(".weights.h5"):
        return KERAS_WEIGHTS
    if lower.endswith((".h5", ".hdf5")):
        return H5
    hint = ("pynn reads and writes 'name.pynn' (its own format), 'name.keras' (Keras 3), "
            "'name.h5' (legacy HDF5) and, for weights only, 'name.weights.h5' or "
            "'name.weights.pynn'")
    kind = next((v for k, v in _FOREIGN.items() if lower.endswith(k)), None)
    if kind is not None:
        extra = " (use pynn.lite to export a .tflite model)" if kind == "TensorFlow Lite" else ""
        raise ValueError(f"{what}: cannot handle {kind} files such as {name!r}; {hint}{extra}")
    raise ValueError(f"{what}: unknown file type {name!r}; {hint}")


def is_checkpoint_prefix(filepath):
    """Whether a weights file name is none of the formats' (``ckpt``,
    ``training/cp.ckpt``): TensorFlow's Keras writes such a name as a
    checkpoint, and so does pynn (pynn.train.Checkpoint, ``name.index``)."""
    lower = os.fspath(filepath).lower()
    known = (".pynn", ".keras", ".h5", ".hdf5") + tuple(_FOREIGN)
    return not lower.endswith(known)


def check_overwrite(filepath, overwrite, what):
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{what}: {os.fspath(filepath)!r} exists and overwrite=False")


def check_readable(filepath):
    """The path as a string, after checking it is an existing file."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a folder, not a model file")
    return path


def require_h5py(path):
    """The h5py module, imported on first use; a clear ImportError naming
    the extra that installs it when it is missing."""
    try:
        import h5py
    except ImportError:
        raise ImportError(f"reading or writing {os.fspath(path)!r} needs h5py, which is not "
                          f"installed: pip install 'pynn[keras]'") from None
    return h5py


class rng_untouched:
    """Builds a model whose weights are about to be overwritten without
    drawing from pynn's random stream, so loading a model does not change
    what a seeded run does next."""

    def __enter__(self):
        from ..utils import seeding
        self._saved = seeding._rng
        seeding._rng = np.random.default_rng(0)

    def __exit__(self, *exc):
        from ..utils import seeding
        seeding._rng = self._saved


def refuse_anonymous_functions(value, where):
    """Raise naming the layer (or setting) where a config holds an
    anonymous function: a model file holds no code to rebuild it from."""
    if isinstance(value, dict):
        if value.get("class_name") == "__lambda__":
            cfg = value.get("config") or {}
            raise ValueError(
                f"save: {where} uses the anonymous function {cfg.get('name')!r} (defined at "
                f"{cfg.get('defined_at')}); a model file never holds code, so it cannot be "
                f"saved. Define the function with def at module level (and pass it in "
                f"custom_objects when loading), or save the weights only (save_weights)")
        inner = value.get("config")
        if isinstance(value.get("class_name"), str) and isinstance(inner, dict) and \
                isinstance(inner.get("name"), str):
            where = f"layer {inner['name']!r} ({value['class_name']})"
        for v in value.values():
            refuse_anonymous_functions(v, where)
    elif isinstance(value, (list, tuple)):
        for v in value:
            refuse_anonymous_functions(v, where)
