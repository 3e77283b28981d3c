"""Keras 3's files: the ``.keras`` zip and the ``.weights.h5`` weights file.

A ``.keras`` file is a zip archive holding

``metadata.json``
    the Keras version whose layout the file follows, and the date;
``config.json``
    the model as Keras serializes it (class names, modules, registered
    names, each layer's config and build config, and the compile settings
    under ``compile_config``), translated by keras_config;
``assets/<layer path>/vocabulary.txt``
    the vocabulary of a lookup layer (StringLookup, IntegerLookup,
    TextVectorization) that Keras adapted, one token a line; pynn writes
    vocabularies in the layer's config, as Keras does for one given to the
    layer, and reads both;
``model.weights.h5``
    the weights in Keras's layout: each layer's variables at
    ``layers/<name>/vars/<i>``, where ``<name>`` is the snake-case Keras
    class name made unique in its model (``dense``, ``dense_1``); a nested
    model's layers under its own ``layers/<name>/layers/...``; the
    optimizer's variables at ``optimizer/vars/<i>``.

``model.save_weights('w.weights.h5')`` writes that HDF5 file alone.
Reading never trusts the archive: entry names are checked, the config's
size is bounded, and every array's shape is checked against the model
rebuilt from the config before it is read.
"""
import datetime
import io
import json
import os
import re
import tempfile
import zipfile
import zlib

import numpy as np

from .common import ModelFileError, check_overwrite, check_readable, require_h5py, rng_untouched
from .config import compile_from_config, model_from_config
from .hdf5 import H5Reader, optimizer_arrays, optimizer_state_from
from .keras_config import PYTHON_CLASS_NAMES, compile_from_keras, \
    keras_class_name, model_from_keras, to_keras, weight_groups

# The Keras release whose file layout pynn writes.
KERAS_VERSION = "3.15.1"
_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_MAX_CONFIG_BYTES = 64 << 20


def _snake(name):
    """Keras's naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def weight_layout(model, prefix=""):
    """[(path, layer)]: where Keras keeps the variables of the model and of
    each of its layers, in Keras's order (the model itself first, at
    ``prefix``; its layers under ``prefix/layers``, named by class)."""
    from ..models.functional import Model
    out = [(prefix, model)]
    if model._subclassed:  # its layers by its attributes (see _variable_groups)
        return out
    used = {}
    for layer in model.layers:
        keras_name = keras_class_name(layer)
        base = _snake(PYTHON_CLASS_NAMES.get(keras_name, keras_name))
        if base in used:
            used[base] += 1
            name = f"{base}_{used[base]}"
        else:
            used[base] = 0
            name = base
        path = f"{prefix}/layers/{name}" if prefix else f"layers/{name}"
        if isinstance(layer, Model):
            out += weight_layout(layer, path)
        else:
            out.append((path, layer))
    return out


def _vars_path(path):
    return f"{path}/vars" if path else "vars"


def _variable_groups(path, layer):
    """[(HDF5 group path, weights)] of a layer at ``path``: its own
    'vars' group, and those of the parts that hold its variables where
    Keras keeps them there (a recurrent layer's cell, a wrapper's
    layers)."""
    return [(_vars_path(f"{path}/{sub}" if sub else path), ws)
            for sub, ws in weight_groups(layer)]


# ------------------------------------------------------------------ write

def _overrides(layer, method):
    """Whether ``layer``'s class defines its own ``method`` (Keras's saving
    hooks: save_own_variables, load_own_variables, save_assets,
    load_assets, compile_from_config)."""
    from ..layers.base import Layer
    from ..models.functional import Model
    base = Model if method == "compile_from_config" else Layer
    return getattr(type(layer), method) is not getattr(base, method)


def write_weights(f, model, with_optimizer):
    """The model's weights (and the optimizer's state) into the open HDF5
    file ``f``, as Keras 3 lays them out."""
    from ..models.functional import Model
    for path, layer in weight_layout(model):
        if _overrides(layer, "save_own_variables"):
            store = {}
            layer.save_own_variables(store)
            group = f.create_group(_vars_path(path))
            group.attrs["name"] = layer.name
            for key, value in store.items():
                group.create_dataset(str(key), data=np.asarray(value))
            continue
        # a graph's variables are its layers'
        groups = [(_vars_path(path), [])] if isinstance(layer, Model) and \
            not layer._subclassed else _variable_groups(path, layer)
        for group_path, weights in groups:
            group = f.create_group(group_path)
            group.attrs["name"] = layer.name
            for i, w in enumerate(weights):
                # (a quantized layer's int8 values are int8 in Keras's files)
                int8 = layer.quantization_mode == "int8" and i == 0
                group.create_dataset(str(i), data=w.value.astype(np.int8) if int8 else w.value)
    if with_optimizer:
        group = f.create_group("optimizer/vars")
        group.attrs["name"] = model.optimizer.name
        for i, (_, value) in enumerate(optimizer_arrays(model)):
            group.create_dataset(str(i), data=value)
        inner = getattr(model.optimizer, "inner_optimizer", None)
        if inner is not None:
            # Keras also keeps a LossScaleOptimizer's inner optimizer on its own
            group = f.create_group("optimizer/inner_optimizer/vars")
            group.attrs["name"] = inner.name
            for i, (_, value) in enumerate(optimizer_arrays(model, inner, wrapped=True)):
                group.create_dataset(str(i), data=value)


def _h5_bytes(model, with_optimizer, path):
    h5py = require_h5py(path)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        write_weights(f, model, with_optimizer)
    return buf.getvalue()


def save_keras(model, filepath, overwrite=True):
    """Write ``model`` as a ``.keras`` file that Keras 3's load_model reads."""
    from ..utils.io import atomic_write
    check_overwrite(filepath, overwrite, "save")
    compiled = bool(getattr(model, "compiled", False))
    spec = to_keras(model)
    if compiled:
        from .serialization import serialize_keras_object
        spec["compile_config"] = serialize_keras_object(model.get_compile_config())
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = _h5_bytes(model, compiled, filepath)
    with atomic_write(filepath, "wb") as out:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_METADATA, json.dumps(metadata))
            zf.writestr(_CONFIG, json.dumps(spec, allow_nan=False))
            zf.writestr(_WEIGHTS, weights)
            _write_own_assets(zf, model)


def _write_own_assets(zf, model):
    """The files of each layer that defines save_assets, under
    ``assets/<layer path>/`` as Keras keeps them."""
    for path, layer in weight_layout(model):
        if not _overrides(layer, "save_assets"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            layer.save_assets(tmp)
            for root, _, files in os.walk(tmp):
                for name in sorted(files):
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, tmp).replace(os.sep, "/")
                    zf.write(full, "/".join(p for p in ("assets", path, rel) if p))


def has_weights(model):
    """Whether the model's weights exist: it is built, or it is a subclassed
    model never called as a whole (trained by its own train_step) whose
    layers are all built."""
    if model.built:
        return True
    return getattr(model, "_program", None) is None and bool(model.layers) and \
        all(layer.built for layer in model.layers)


def save_weights_h5(model, filepath, overwrite=True):
    """Write the weights alone as Keras 3's ``.weights.h5`` file."""
    from ..utils.io import atomic_write
    check_overwrite(filepath, overwrite, "save_weights")
    if not has_weights(model):
        raise ValueError("save_weights: the model has not been built, so it has no weights "
                         "yet; give it an input shape or train it first")
    data = _h5_bytes(model, False, filepath)
    with atomic_write(filepath, "wb") as out:
        out.write(data)


# ------------------------------------------------------------------- read

def read_weights(reader, model, skip_mismatch=False):
    """Assign the weights stored in Keras 3's layout to ``model``, checking
    every layer's count and shapes first; nothing is assigned unless all
    check out.  With ``skip_mismatch`` a layer whose weights differ is left
    as it is (as Keras does, with a warning)."""
    import warnings
    from ..models.functional import Model
    f = reader.file
    assign, own_loads = [], []
    for path, layer in weight_layout(model):
        if _overrides(layer, "load_own_variables"):
            own_loads.append((layer, _stored_variables(reader, path, layer)))
            continue
        if isinstance(layer, Model) and not layer._subclassed:
            continue
        groups = _variable_groups(path, layer)
        found, problem = [], None
        for group_path, mine in groups:
            label = f"layer {layer.name!r} ({group_path})"
            group = reader.group(f, group_path, label)
            keys = reader.keys(group, label) if group is not None else []
            if keys != [str(i) for i in range(len(keys))]:
                problem = f"{label}: its variables are named {keys}, not 0, 1, ..."
            elif len(keys) != len(mine):
                problem = (f"{label}: the model's layer has {len(mine)} weight arrays, the "
                           f"file holds {len(keys)}" +
                           (" (its group is missing)" if group is None else ""))
            else:
                datasets = [reader.dataset(group, k, f"variable {k} of {label}") for k in keys]
                shapes = [tuple(d.shape) for d in datasets]
                if shapes != [w.shape for w in mine]:
                    problem = (f"{label}: the model's weights have shapes "
                               f"{[w.shape for w in mine]}, the file's {shapes}")
                found += zip(mine, datasets)
            if problem is not None:
                break
        if problem is not None:
            if skip_mismatch:
                warnings.warn(f"{reader.label!r}: skipping {problem}", stacklevel=3)
                continue
            reader.fail(problem)
        for w, d in found:
            assign.append((w, reader.array(d, w.shape, f"weight {w.path!r} ({d.name})")))
    for w, value in assign:
        w.assign(value)
    for layer, store in own_loads:
        try:
            layer.load_own_variables(store)
        except (KeyError, ValueError, TypeError) as e:
            reader.fail(f"layer {layer.name!r}: its load_own_variables cannot read what the "
                        f"file holds ({type(e).__name__}: {e})")


def _stored_variables(reader, path, layer):
    """{name: array} of the variables a layer's own save_own_variables
    wrote at ``path``, for its load_own_variables."""
    label = f"layer {layer.name!r} ({_vars_path(path)})"
    group = reader.group(reader.file, _vars_path(path), label)
    if group is None:
        reader.fail(f"{label}: its variables are missing")
    store = {}
    for key in reader.keys(group, label):
        d = reader.dataset(group, key, f"variable {key} of {label}")
        store[key] = reader.array(d, d.shape, f"variable {key} of {label}")
    return store


def read_optimizer(reader, model):
    group = reader.group(reader.file, "optimizer/vars", "the optimizer's variables")
    if group is None:
        return
    keys = reader.keys(group, "the optimizer's variables")
    if keys != [str(i) for i in range(len(keys))]:
        reader.fail(f"the optimizer's variables are named {keys}, not 0, 1, ...")
    datasets = [reader.dataset(group, k, f"optimizer variable {k}") for k in keys]
    optimizer_state_from(reader, datasets, model)


class _Archive:
    """An open ``.keras`` file: its checked entries, the parsed config."""

    def __init__(self, filepath):
        self.path = check_readable(filepath)
        try:
            self.zf = zipfile.ZipFile(self.path, "r")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
            raise ModelFileError(f"{self.path!r} is not a .keras file or is damaged: it is not "
                                 f"a zip archive ({e})") from None
        try:
            for name in self.zf.namelist():
                parts = name.replace("\\", "/").split("/")
                if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                    self.fail(f"the archive holds an entry with an unsafe path {name!r}")
            self.config = self._json(_CONFIG)
        except BaseException:
            self.zf.close()
            raise

    def fail(self, message):
        raise ModelFileError(f"{self.path!r}: {message}")

    def close(self):
        self.zf.close()

    def _json(self, entry):
        try:
            info = self.zf.getinfo(entry)
        except KeyError:
            self.fail(f"{entry} is missing: this is not a .keras model file, or it is damaged")
        if info.file_size > _MAX_CONFIG_BYTES:
            self.fail(f"{entry} is {info.file_size} bytes, more than the {_MAX_CONFIG_BYTES} "
                      f"it may hold")
        try:
            return json.loads(self.zf.read(info).decode("utf-8"))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError,
                ValueError, NotImplementedError, RuntimeError) as e:
            self.fail(f"{entry} cannot be read ({e}); the file is damaged")

    def asset(self, name):
        """The text of the archive's entry ``name`` (UTF-8), None when it
        has none."""
        if name not in self.zf.namelist():
            return None
        info = self.zf.getinfo(name)
        if info.file_size > _MAX_CONFIG_BYTES:
            self.fail(f"{name} is {info.file_size} bytes, more than the {_MAX_CONFIG_BYTES} "
                      f"it may hold")
        try:
            return self.zf.read(info).decode("utf-8")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError,
                ValueError, NotImplementedError, RuntimeError) as e:
            self.fail(f"{name} cannot be read ({e}); the file is damaged")

    def load_own_assets(self, model):
        """Gives each layer that defines load_assets a folder holding the
        files its save_assets wrote (entry names and sizes checked)."""
        for path, layer in weight_layout(model):
            if not _overrides(layer, "load_assets"):
                continue
            prefix = "/".join(p for p in ("assets", path) if p) + "/"
            with tempfile.TemporaryDirectory() as tmp:
                for info in self.zf.infolist():
                    if not info.filename.startswith(prefix) or info.is_dir():
                        continue
                    if info.file_size > _MAX_CONFIG_BYTES:
                        self.fail(f"{info.filename} is {info.file_size} bytes, more than the "
                                  f"{_MAX_CONFIG_BYTES} it may hold")
                    target = os.path.join(tmp, *info.filename[len(prefix):].split("/"))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    try:
                        data = self.zf.read(info)
                    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                            NotImplementedError, RuntimeError) as e:
                        self.fail(f"{info.filename} cannot be read ({e}); the file is damaged")
                    with open(target, "wb") as f:
                        f.write(data)
                layer.load_assets(tmp)

    def weights(self):
        """An H5Reader over model.weights.h5, read from the archive in
        place."""
        names = self.zf.namelist()
        if _WEIGHTS not in names:
            other = " (Keras's .npz weights, which pynn does not read)" \
                if "model.weights.npz" in names else ""
            self.fail(f"{_WEIGHTS} is missing{other}")
        try:
            handle = self.zf.open(_WEIGHTS)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, NotImplementedError) as e:
            self.fail(f"{_WEIGHTS} cannot be read ({e}); the file is damaged")
        return H5Reader(handle, f"{self.path}/{_WEIGHTS}")


def _build(config, custom_objects, fail, asset=None):
    try:
        spec = model_from_keras(config, custom_objects, asset)
        with rng_untouched():
            return model_from_config(spec, custom_objects)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        fail(f"the model cannot be rebuilt from its config: {e}")


def _compile(model, config, custom_objects, legacy, fail):
    try:
        compile_from_config(model, compile_from_keras(config, custom_objects, legacy))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        fail(f"the compile settings cannot be restored ({e}); load with compile=False and "
             f"compile the model yourself")


def _own_compile(model, config, custom_objects, fail):
    """A model class's own compile_from_config, given the file's compile
    config (its get_compile_config's, serialized)."""
    from ..utils.custom_objects import custom_object_scope
    try:
        with custom_object_scope(custom_objects or {}):
            model.compile_from_config(config)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        fail(f"the model's compile_from_config cannot restore its compile settings "
             f"({type(e).__name__}: {e}); load with compile=False and compile the model "
             f"yourself")


def load_keras(filepath, custom_objects=None, compile=True):
    """The model in a ``.keras`` file (written by Keras 3 or by pynn)."""
    archive = _Archive(filepath)
    try:
        model = _build(archive.config, custom_objects, archive.fail, archive.asset)
        compile_config = archive.config.get("compile_config") if isinstance(
            archive.config, dict) else None
        reader = archive.weights()
        try:
            read_weights(reader, model)
            archive.load_own_assets(model)
            if compile and compile_config:
                if _overrides(model, "compile_from_config"):
                    _own_compile(model, compile_config, custom_objects, archive.fail)
                else:
                    _compile(model, compile_config, custom_objects, False, archive.fail)
                read_optimizer(reader, model)
        finally:
            reader.close()
        return model
    finally:
        archive.close()


def open_weights(filepath):
    """An H5Reader over the weights of a ``.keras`` file or of an HDF5
    file; the caller closes both (returned as (reader, archive or None))."""
    path = check_readable(filepath)
    if path.lower().endswith(".keras"):
        archive = _Archive(path)
        try:
            return archive.weights(), archive
        except BaseException:
            archive.close()
            raise
    return H5Reader(path, path), None
