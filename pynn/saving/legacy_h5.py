"""The legacy HDF5 format (``.h5``): what Keras 1/2 and tf.keras wrote, and
what Keras 3 still reads and writes for ``model.save('m.h5')``.

A model file holds, as attributes of its root, ``model_config`` (JSON:
``{'class_name', 'config'}``, layer entries without module or build
config), ``training_config`` (the compile settings, with the optimizer
under ``optimizer_config``), ``keras_version`` and ``backend``; the group
``model_weights`` holds one group per layer (attribute ``layer_names``
lists them in the model's order), each with a ``weight_names`` attribute
naming its datasets (``dense/kernel``; tf.keras wrote ``dense/kernel:0``)
in the legacy order: trainable weights, then the others.  A weights file
(``save_weights('w.h5')``, and the published weight files of
keras.applications) is the ``model_weights`` group's content at the
root.  ``optimizer_weights`` holds the optimizer's variables.

Weights load by layer order (layers without weights skipped) or, with
``by_name``, into the model's layers of the same name, with Keras's
``skip_mismatch`` rules.  Every shape is checked before an array is read;
nothing is assigned unless every check passes.
"""
import io
import json
import warnings

from .common import check_overwrite, check_readable, require_h5py
from .hdf5 import H5Reader, legacy_weights, optimizer_arrays, optimizer_state_from, \
    write_strings
from .keras_config import compile_to_keras, to_keras
from .keras_format import KERAS_VERSION, _build, _compile

# The weights are laid out as TensorFlow lays them (channels last, HWIO
# kernels): the backend attribute tells readers there is nothing to convert.
_BACKEND = "tensorflow"


# ------------------------------------------------------------------ write

def _write_layers(group, model):
    write_strings(group, "layer_names", [l.name for l in model.layers])
    group.attrs["backend"] = _BACKEND
    group.attrs["keras_version"] = KERAS_VERSION
    for layer in sorted(model.layers, key=lambda l: l.name):
        sub = group.create_group(layer.name)
        weights = legacy_weights(layer)
        names = [w.path for w in weights]  # (Keras 3 names them so)
        write_strings(sub, "weight_names", names)
        for name, w in zip(names, weights):
            sub.create_dataset(name, data=w.value)
    write_strings(group.create_group("top_level_model_weights"), "weight_names", [])


def _write(filepath, fill):
    from ..utils.io import atomic_write
    h5py = require_h5py(filepath)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        fill(f)
    with atomic_write(filepath, "wb") as out:
        out.write(buf.getvalue())


def save_h5(model, filepath, overwrite=True, include_optimizer=True):
    """Write ``model`` as a legacy HDF5 model file (without its compile
    settings and optimizer state where ``include_optimizer`` is false, as
    Keras writes it then)."""
    check_overwrite(filepath, overwrite, "save")
    compiled = bool(getattr(model, "compiled", False)) and include_optimizer

    def fill(f):
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = _BACKEND
        f.attrs["model_config"] = json.dumps(to_keras(model, legacy=True), allow_nan=False)
        if compiled:
            f.attrs["training_config"] = json.dumps(compile_to_keras(model, legacy=True))
        _write_layers(f.create_group("model_weights"), model)
        if compiled:
            group = f.create_group("optimizer_weights")
            prefix = model.optimizer.name
            arrays = optimizer_arrays(model)
            names = [f"{prefix}/{name}" for name, _ in arrays]
            write_strings(group, "weight_names", names)
            for name, (_, value) in zip(names, arrays):
                group.create_dataset(name, data=value)

    _write(filepath, fill)


def save_weights_legacy(model, filepath, overwrite=True):
    """Write the weights alone in the legacy layout (``save_weights('w.h5')``,
    as tf.keras did)."""
    check_overwrite(filepath, overwrite, "save_weights")
    if not model.built:
        raise ValueError("save_weights: the model has not been built, so it has no weights "
                         "yet; give it an input shape or train it first")
    _write(filepath, lambda f: _write_layers(f, model))


# ------------------------------------------------------------------- read

def weights_root(reader):
    """The group holding the layer groups: ``model_weights`` in a model
    file, the root in a weights file."""
    f = reader.file
    group = reader.group(f, "model_weights", "the group model_weights")
    return group if group is not None else f


def is_legacy(reader):
    """Whether the open file is in the legacy layout (not Keras 3's)."""
    root = weights_root(reader)
    return bool(reader.strings(root, "layer_names", "the attribute layer_names")) or \
        root is not reader.file


def _file_layers(reader, root):
    """[(name, [datasets])] of the file's layers in their order."""
    out = []
    for name in reader.strings(root, "layer_names", "the attribute layer_names"):
        group = reader.group(root, name, f"the group of layer {name!r}")
        if group is None:
            reader.fail(f"layer {name!r} is listed in layer_names but its group is missing")
        names = reader.strings(group, "weight_names", f"weight_names of layer {name!r}")
        out.append((name, [reader.dataset(group, n, f"weight {n!r} of layer {name!r}")
                           for n in names]))
    return out


def read_weights(reader, model, by_name=False, skip_mismatch=False):
    """Assign the legacy file's weights to ``model`` (see the module
    docstring for the rules)."""
    root = weights_root(reader)
    stored = _file_layers(reader, root)
    plan = []  # (layer, file layer name, datasets)
    if by_name:
        index = {}
        for layer in model.layers:
            index.setdefault(layer.name, []).append(layer)
        for name, datasets in stored:
            for layer in index.get(name, []):
                plan.append((layer, name, datasets))
    else:
        mine = [l for l in model.layers if legacy_weights(l)]
        theirs = [(n, d) for n, d in stored if d]
        if len(mine) != len(theirs):
            reader.fail(f"the file holds weights for {len(theirs)} layers "
                        f"({[n for n, _ in theirs]}), the model has {len(mine)} layers with "
                        f"weights ({[l.name for l in mine]}); load by_name=True to match them "
                        f"by name")
        plan = [(layer, n, d) for layer, (n, d) in zip(mine, theirs)]
    assign = []
    for layer, name, datasets in plan:
        weights = legacy_weights(layer)
        label = f"layer {layer.name!r}" + (f" (named {name!r} in the file)"
                                           if name != layer.name else "")
        if len(weights) != len(datasets):
            message = (f"{label} has {len(weights)} weight arrays, the file holds "
                       f"{len(datasets)}")
            if by_name and skip_mismatch:
                warnings.warn(f"{reader.label!r}: skipping {message}", stacklevel=3)
                continue
            reader.fail(message)
        for w, d in zip(weights, datasets):
            if tuple(d.shape) != w.shape:
                message = (f"{label}: weight {w.path!r} has shape {w.shape} in the model, "
                           f"{tuple(d.shape)} in the file")
                if skip_mismatch:
                    warnings.warn(f"{reader.label!r}: skipping {message}", stacklevel=3)
                    continue
                reader.fail(message)
            assign.append((w, reader.array(d, w.shape, f"weight {w.path!r} ({d.name})")))
    for w, value in assign:
        w.assign(value)


def load_h5(filepath, custom_objects=None, compile=True):
    """The model in a legacy HDF5 model file."""
    path = check_readable(filepath)
    reader = H5Reader(path, path)
    try:
        config = reader.json_attr(reader.file, "model_config", "the attribute model_config")
        if config is None:
            reader.fail("it holds no model config: it is a weights file; build the model and "
                        "call model.load_weights() on it")
        model = _build(config, custom_objects, reader.fail)
        read_weights(reader, model)
        training = reader.json_attr(reader.file, "training_config",
                                    "the attribute training_config")
        if compile and training:
            _compile(model, training, custom_objects, True, reader.fail)
            group = reader.group(reader.file, "optimizer_weights", "optimizer_weights")
            if group is not None:
                names = reader.strings(group, "weight_names", "the optimizer's weight_names")
                datasets = [reader.dataset(group, n, f"optimizer weight {n!r}") for n in names]
                optimizer_state_from(reader, datasets, model)
        return model
    finally:
        reader.close()

