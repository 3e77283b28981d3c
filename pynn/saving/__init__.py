"""Saving and loading models and weights, in three formats chosen by the
file name:

``.pynn``
    pynn's own zip of a JSON config and ``.npy`` arrays (pynn_format);
``.keras``
    Keras 3's zip, read and written so that Keras and pynn load each
    other's files (keras_format), and ``.weights.h5``, its weights alone;
``.h5`` / ``.hdf5``
    the legacy HDF5 format of Keras 2, tf.keras and Keras 3's ``.h5``
    (legacy_h5): whole models, and weights such as keras.applications
    publishes.

The Keras formats need h5py (``pip install 'pynn[keras]'``), imported only
when such a file is touched.  No format carries code or a pickle; every
reader checks what the file declares (sizes, shapes, names, classes)
before it allocates or builds anything, and raises :class:`ModelFileError`
naming the problem.  Configs pass through one translation table between
pynn's and Keras's terms (keras_config).
"""
import os

from . import keras_format, legacy_h5, pynn_format
from .common import (H5, KERAS, KERAS_WEIGHTS, PYNN, ModelFileError, check_overwrite,
                     file_kind, is_checkpoint_prefix,
                     refuse_anonymous_functions)
from .config import (compile_config, compile_from_config, deserialize_layer,
                     functional_config, layer_classes, model_from_config, sequential_config,
                     serialize_layer)

from .file_editor import KerasFileEditor
from .pynn_format import restore_training_state
from .serialization import deserialize_keras_object, serialize_keras_object
from ..utils.custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects,
                                    get_registered_name, get_registered_object,
                                    register_keras_serializable)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "ModelFileError",
           "KerasFileEditor",
           "restore_training_state",
           "model_from_config", "serialize_layer", "deserialize_layer", "layer_classes",
           "functional_config", "sequential_config", "compile_config", "compile_from_config",
           "file_kind", "is_checkpoint_prefix", "CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "register_keras_serializable", "get_registered_name", "get_registered_object",
           "serialize_keras_object", "deserialize_keras_object"]


def _is_folder_name(filepath, save_format):
    """Whether ``model.save`` writes a SavedModel folder, as tf.keras 2
    did: for ``save_format="tf"``, or a name of none of the file formats
    (no suffix, an existing folder, or another suffix: DL4CV's
    ``alexnet_dogs_vs_cats.model``); foreign formats' names (.tflite,
    .onnx, ...) are refused by file_kind."""
    if save_format is not None:
        return str(save_format).lower() in ("tf", "tensorflow")
    name = os.fspath(filepath)
    return os.path.isdir(name) or is_checkpoint_prefix(name.rstrip("/\\"))


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None):
    """Write the whole model (config, weights, compile settings and
    optimizer state) in the format its name asks for.  As Keras 3:
    ``include_optimizer=False`` leaves the compile settings and optimizer
    state out of an ``.h5`` file (the other formats keep them).  As
    tf.keras 2: ``save_format="tf"``, or a name of none of the formats
    (no suffix, ``alexnet.model``), writes a SavedModel folder
    (pynn.saved_model), and ``save_format="h5"`` writes HDF5 under such a
    name too; beside a name that says its format, the name decides."""
    folder = _is_folder_name(filepath, save_format)
    # tf.keras 2 writes HDF5 for save_format="h5" whatever the name
    # ("mask_detector.model"); load_model knows the file by its signature
    h5_by_format = str(save_format).lower() in ("h5", "hdf5") and is_checkpoint_prefix(filepath)
    if save_format and not folder and not h5_by_format and \
            not str(filepath).endswith((".h5", ".hdf5", ".keras", ".pynn")):
        raise ValueError(f"save: save_format={save_format!r} is not supported (as in Keras 3): "
                         f"the format comes from the file name; give a path ending in "
                         f"'.keras', '.h5' or '.pynn', got {str(filepath)!r}")
    kind = None if folder else H5 if h5_by_format else file_kind(filepath, "save")
    refuse_anonymous_functions(serialize_layer(model), f"model {model.name!r}")
    if getattr(model, "compiled", False):
        refuse_anonymous_functions(compile_config(model), "the compile settings (loss or metrics)")
    if folder:
        # tf.keras 2's SavedModel: a folder (pynn's format inside it)
        from .. import saved_model
        saved_model.write(model, filepath, overwrite)
        return
    if kind == PYNN:
        pynn_format.save_model(model, filepath, overwrite)
    elif kind == KERAS:
        keras_format.save_keras(model, filepath, overwrite)
    else:
        legacy_h5.save_h5(model, filepath, overwrite, include_optimizer)


# tf.keras's save_format values for save_weights, by the format each means
_WEIGHTS_FORMATS = {"tf": "tf", "tensorflow": "tf", "h5": "h5", "hdf5": "h5", "keras": "h5"}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5_file(filepath):
    """Whether ``filepath`` is an existing file that starts as HDF5 files do."""
    try:
        with open(filepath, "rb") as f:
            return f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    except OSError:
        return False


def save_weights(model, filepath, overwrite=True, save_format=None):
    """Write the weights only: ``*.weights.pynn``, Keras 3's ``*.weights.h5``
    or a legacy ``*.h5`` weights file; a name of no format (``ckpt``) is
    written as a checkpoint (pynn.train.Checkpoint of the model), as
    TensorFlow's Keras does, and recorded as its folder's latest in the
    folder's ``checkpoint`` file, where tf.train.latest_checkpoint looks.
    ``save_format`` is tf.keras's: ``"tf"`` (a
    checkpoint, for a name of no format) or ``"h5"`` (HDF5, also under a
    name of no format, which load_weights then reads as HDF5)."""
    if save_format is not None:
        fmt = _WEIGHTS_FORMATS.get(str(save_format).lower().strip())
        if fmt is None:
            raise ValueError(f"save_weights: unknown save_format={save_format!r}; expected one "
                             f"of 'tf' or 'h5'")
        if fmt == "tf" and not is_checkpoint_prefix(filepath):
            raise ValueError(f"save_weights: save_format={save_format!r} writes a checkpoint, "
                             f"but {os.fspath(filepath)!r} names a file format; omit its "
                             f"suffix to write a checkpoint")
        if fmt == "h5":
            if is_checkpoint_prefix(filepath):
                legacy_h5.save_weights_legacy(model, filepath, overwrite)
                return
            if file_kind(filepath, "save_weights") == PYNN:
                raise ValueError(f"save_weights: save_format={save_format!r} writes HDF5, but "
                                 f"{os.fspath(filepath)!r} names a pynn file")
    if is_checkpoint_prefix(filepath):
        from ..train import Checkpoint, _file_of, _write_state
        check_overwrite(_file_of(filepath), overwrite, "save_weights")
        path = Checkpoint(root=model).write(filepath)
        _write_state(os.path.dirname(os.path.abspath(path)), path, [path])
        return
    kind = file_kind(filepath, "save_weights")
    if kind == PYNN:
        pynn_format.save_weights(model, filepath, overwrite)
    elif kind == KERAS_WEIGHTS:
        keras_format.save_weights_h5(model, filepath, overwrite)
    elif kind == H5:
        legacy_h5.save_weights_legacy(model, filepath, overwrite)
    else:
        raise ValueError(f"save_weights: {filepath!r} names a whole-model file; weights go to "
                         f"'name.weights.h5' (Keras 3), 'name.h5' (legacy) or "
                         f"'name.weights.pynn'")


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model saved in ``filepath`` (``.pynn``, ``.keras`` or ``.h5``),
    with its weights and, when ``compile``, its compile settings and
    optimizer state.  Nothing in a file is ever run: functions it names (a
    Lambda's, a custom activation, loss or metric) come from
    ``custom_objects`` or the registered objects; ``safe_mode=False`` also
    lets pynn import the modules a pynn file names.  Keras files' Lambda
    layers, which hold code, are refused whatever its value."""
    from ..utils.custom_objects import SafeModeScope, custom_object_scope
    if os.path.isdir(os.fspath(filepath)):
        from .. import saved_model
        with SafeModeScope(safe_mode), custom_object_scope(custom_objects):
            return saved_model.read_model(filepath, custom_objects, compile)
    # an HDF5 file under a name of no format (tf.keras 2's save_format="h5")
    kind = H5 if is_checkpoint_prefix(filepath) and _is_hdf5_file(filepath) else \
        file_kind(filepath, "load_model")
    if kind == KERAS_WEIGHTS:
        raise ValueError(f"load_model: {filepath!r} is a weights file; build the model and "
                         f"call model.load_weights() on it")
    with SafeModeScope(safe_mode), custom_object_scope(custom_objects):
        if kind == PYNN:
            return pynn_format.load_model(filepath, custom_objects, compile)
        if kind == KERAS:
            return keras_format.load_keras(filepath, custom_objects, compile)
        return legacy_h5.load_h5(filepath, custom_objects, compile)


def load_weights(model, filepath, skip_mismatch=False, by_name=False):
    """Assign the weights stored in ``filepath`` to ``model``, checking
    counts and shapes.  ``by_name`` matches layers by name (pynn and legacy
    HDF5 files; only layers present in both get weights);
    ``skip_mismatch`` leaves weights of another shape as they are, as
    Keras does.  A checkpoint prefix (what save_weights wrote for a name of
    no format) restores the model's variables from it."""
    hdf5_without_suffix = is_checkpoint_prefix(filepath) and _is_hdf5_file(filepath)
    if is_checkpoint_prefix(filepath) and not hdf5_without_suffix:
        from ..train import Checkpoint
        if not keras_format.has_weights(model):
            if not getattr(model, "_subclassed", False):
                raise ValueError(f"load_weights: the model {model.name!r} has not been built; "
                                 f"give it an input shape first, so that its weights exist")
            # As tf.keras restores a checkpoint into a subclassed model not
            # built yet: when its build (or first call) makes the weights.
            if not os.path.exists(os.fspath(filepath) + ".index"):
                raise FileNotFoundError(f"load_weights: no checkpoint at {filepath!r} (its "
                                        f"index file {os.fspath(filepath) + '.index'!r} is "
                                        f"missing)")
            model.__dict__["_restore_on_build"] = \
                lambda: Checkpoint(root=model).read(filepath).expect_partial()
            return None
        return Checkpoint(root=model).read(filepath).expect_partial()
    kind = H5 if hdf5_without_suffix else file_kind(filepath, "load_weights")
    if kind == PYNN:
        pynn_format.load_weights(model, filepath, skip_mismatch, by_name)
        return
    if not keras_format.has_weights(model):
        raise ValueError(f"load_weights: the model {model.name!r} has not been built; give it "
                         f"an input shape first, so that its weights exist")
    reader, archive = keras_format.open_weights(filepath)
    try:
        if legacy_h5.is_legacy(reader):
            legacy_h5.read_weights(reader, model, by_name, skip_mismatch)
        elif by_name:
            raise ValueError(f"load_weights: by_name=True matches layers in legacy HDF5 files "
                             f"(.h5) and .pynn files; {filepath!r} is in Keras 3's layout, "
                             f"whose weights are matched by position, as Keras does")
        else:
            keras_format.read_weights(reader, model, skip_mismatch)
    finally:
        reader.close()
        if archive is not None:
            archive.close()
