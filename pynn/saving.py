"""The ``.pynn`` file format: whole models, weights, and their checks.

A ``.pynn`` file is a zip archive (entries stored uncompressed) holding

``model.json``
    ``format`` ('pynn.model' or 'pynn.weights'), ``format_version``,
    ``pynn_version``, the model's config (its layers and their arguments),
    the compile settings (optimizer config, loss, metrics; model files
    only), and a manifest of every array: its entry name, shape and dtype.
``weights/NNNNN.npy``
    each weight array of ``model.weights``, in order, float32.
``optimizer/NNNNN.npy``
    the optimizer's state arrays (``optimizer.variables()``, in order;
    model files only); the iteration count is in ``model.json``.

Loading never unpickles anything: arrays are read with
``np.load(..., allow_pickle=False)`` after their ``.npy`` header has been
checked against the manifest, and the manifest against the model rebuilt
from the config, so a damaged or hostile file raises
:class:`ModelFileError` (a ``ValueError``) naming the problem before any
array of the wrong size is allocated.

File names: ``model.save('model.pynn')`` writes a whole model;
``model.save_weights('model.weights.pynn')`` writes the weights only (any
name ending in ``.pynn`` is accepted; ``.weights.pynn`` is the convention,
as ``.weights.h5`` is Keras's).  ``load_weights`` reads the weights of
either kind of file.  Every file is written through
:func:`pynn.utils.io.atomic_write`.
"""
import io
import json
import os
import zipfile
import zlib

import numpy as np

FORMAT_VERSION = 1
MODEL_FORMAT = "pynn.model"
WEIGHTS_FORMAT = "pynn.weights"
_CONFIG_ENTRY = "model.json"
_MAX_CONFIG_BYTES = 64 << 20
_NPY_HEADER_SLACK = 1 << 16  # the most a .npy header may add to the data


class ModelFileError(ValueError):
    """A ``.pynn`` file cannot be read: not a pynn file, damaged, written
    by a newer pynn, or not matching the model it describes."""


# ----------------------------------------------------------------- names

def _check_suffix(filepath, what):
    name = os.fspath(filepath)
    lower = name.lower()
    if lower.endswith(".pynn"):
        return name
    foreign = {".h5": "HDF5 (.h5)", ".hdf5": "HDF5 (.hdf5)", ".keras": "Keras (.keras)",
               ".tf": "TensorFlow SavedModel", ".pb": "TensorFlow SavedModel",
               ".tflite": "TensorFlow Lite"}
    kind = next((v for k, v in foreign.items() if lower.endswith(k)), None)
    hint = ("pynn writes its own format: model.save('name.pynn') saves the whole model, "
            "model.save_weights('name.weights.pynn') the weights only")
    if kind is not None:
        extra = " (use pynn.lite to export a .tflite model)" if kind == "TensorFlow Lite" else ""
        raise ValueError(f"{what}: cannot write {kind} files such as {name!r}; {hint}{extra}")
    raise ValueError(f"{what}: the file name must end in '.pynn', got {name!r}; {hint}")


# -------------------------------------------------------------- registry

def layer_classes():
    """Every Layer subclass by class name (pynn's own win a name clash), so
    layers defined after this module, in pynn or by users, are found."""
    from . import layers as _layers  # noqa: F401  (imports every layer module)
    from .layers.base import Layer
    found, todo = {}, list(Layer.__subclasses__())
    seen = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        name = cls.__name__
        if name not in found or (cls.__module__.startswith("pynn.")
                                 and not found[name].__module__.startswith("pynn.")):
            found[name] = cls
    return found


def serialize_layer(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec, custom_objects=None):
    from .layers.base import Layer
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
            or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"a layer must be described as {{'class_name': ..., 'config': {{...}}}}, "
                         f"got {spec!r}")
    name = spec["class_name"]
    cls = (custom_objects or {}).get(name) or layer_classes().get(name)
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"unknown layer class {name!r}; pass it in custom_objects="
                         f"{{{name!r}: {name}}} if it is your own layer")
    return cls.from_config(spec.get("config", {}))


# ----------------------------------------------------- model <-> config

def model_config(model):
    shape = model._input_shape
    return {"name": model.name, "trainable": model.trainable,
            "layers": [serialize_layer(l) for l in model.layers],
            "build_input_shape": None if shape is None else list(shape)}


def model_from_config(config, custom_objects=None):
    from .models import Sequential
    if isinstance(config, dict) and "class_name" in config and "config" in config:
        if config["class_name"] != "Sequential":
            raise ValueError(f"unknown model class {config['class_name']!r}; pynn reads "
                             f"Sequential models")
        config = config["config"]
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a Sequential config must be a dict with a 'layers' list")
    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
    for spec in config["layers"]:
        model.add(deserialize_layer(spec, custom_objects))
    shape = config.get("build_input_shape")
    if shape is not None and not model.built and model.layers:
        if not isinstance(shape, list) or not all(d is None or isinstance(d, int) for d in shape):
            raise ValueError(f"build_input_shape must be a list of integers, got {shape!r}")
        model.build(tuple(shape))
    return model


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with the same layers and arguments and fresh weights
    (Keras's clone_model); it is not compiled."""
    if input_tensors is not None:
        raise ValueError("clone_model: input_tensors is not supported for Sequential models")
    from .models import Sequential
    if clone_function is None:
        return model_from_config({"class_name": "Sequential", "config": model.get_config()})
    clone = Sequential(name=model.name, trainable=model.trainable)
    for layer in model.layers:
        clone.add(clone_function(layer))
    if model._input_shape is not None and not clone.built:
        clone.build(model._input_shape)
    return clone


def _compile_config(model):
    from . import losses, optimizers
    from .metrics import Metric
    metrics = []
    for m in getattr(model, "_metric_specs", []):
        if isinstance(m, str):
            metrics.append(m)
        elif isinstance(m, Metric) or (isinstance(m, type) and issubclass(m, Metric)):
            cls = m if isinstance(m, type) else type(m)
            metrics.append({"class_name": cls.__name__,
                            "config": {"name": m.name} if not isinstance(m, type) else {}})
        else:
            raise ValueError(f"save: cannot describe the metric {m!r} in a model file")
    return {"optimizer": optimizers.serialize(model.optimizer),
            "loss": losses.serialize(model.loss), "metrics": metrics}


def _compile_from_config(model, config):
    from . import metrics as metrics_mod
    from . import optimizers
    if not isinstance(config, dict):
        raise ValueError("the compile settings must be a dict")
    metrics = []
    for m in config.get("metrics") or []:
        if isinstance(m, dict):
            cls = getattr(metrics_mod, str(m.get("class_name")), None)
            if not (isinstance(cls, type) and issubclass(cls, metrics_mod.Metric)):
                raise ValueError(f"unknown metric {m.get('class_name')!r}")
            m = cls(**(m.get("config") or {}))
        metrics.append(m)
    opt = config.get("optimizer")
    if not isinstance(opt, dict):
        raise ValueError("the optimizer must be described as a dict")
    model.compile(optimizer=optimizers.get(opt), loss=config.get("loss"), metrics=metrics)


# ---------------------------------------------------------------- write

def _array_entry(prefix, i, arr):
    return {"path": f"{prefix}/{i:05d}.npy", "shape": list(arr.shape), "dtype": "float32"}


def _write(filepath, doc, arrays):
    from . import __version__
    from .utils.io import atomic_write
    doc = {"format": doc.pop("format"), "format_version": FORMAT_VERSION,
           "pynn_version": __version__, **doc}
    text = json.dumps(doc, indent=1, allow_nan=False).encode("utf-8")
    with atomic_write(filepath, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_CONFIG_ENTRY, text)
            for entry, arr in arrays:
                arr = np.ascontiguousarray(arr, dtype=np.float32)
                with zf.open(entry, "w", force_zip64=arr.nbytes > (1 << 30)) as out:
                    np.lib.format.write_array(out, arr, allow_pickle=False)


def _weights_doc(model, fmt):
    entries, arrays = [], []
    for i, w in enumerate(model.weights):
        e = _array_entry("weights", i, w.value)
        e["name"] = w.name
        entries.append(e)
        arrays.append((e["path"], w.value))
    doc = {"format": fmt, "model": {"class_name": "Sequential", "config": model_config(model)},
           "weights": entries}
    return doc, arrays


def save_model(model, filepath, overwrite=True):
    filepath = _check_suffix(filepath, "save")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath!r} exists and overwrite=False")
    doc, arrays = _weights_doc(model, MODEL_FORMAT)
    doc["compile"] = None
    doc["optimizer_state"] = None
    if getattr(model, "compiled", False):
        doc["compile"] = _compile_config(model)
        opt = model.optimizer
        slots = []
        for i, (name, v) in enumerate(zip(opt.slot_names, opt.variables())):
            e = _array_entry("optimizer", i, v)
            e["name"] = name
            slots.append(e)
            arrays.append((e["path"], v))
        doc["optimizer_state"] = {"iterations": int(opt.iterations), "slots": slots}
    _write(filepath, doc, arrays)


def save_weights(model, filepath, overwrite=True):
    filepath = _check_suffix(filepath, "save_weights")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {filepath!r} exists and overwrite=False")
    if not model.built:
        raise ValueError("save_weights: the model has not been built, so it has no weights "
                         "yet; give it an input shape or train it first")
    doc, arrays = _weights_doc(model, WEIGHTS_FORMAT)
    _write(filepath, doc, arrays)


# ----------------------------------------------------------------- read

class _Reader:
    """An open .pynn file: its parsed model.json and checked arrays."""

    def __init__(self, filepath):
        self.path = os.fspath(filepath)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"No such file: {self.path!r}")
        if os.path.isdir(self.path):
            raise ModelFileError(f"{self.path!r} is a folder, not a .pynn file")
        try:
            self.zf = zipfile.ZipFile(self.path, "r")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
            size = os.path.getsize(self.path)
            what = "it is empty" if size == 0 else f"it is not a zip archive ({e})"
            raise ModelFileError(f"{self.path!r} is not a pynn model file or is damaged: "
                                 f"{what}") from None
        try:
            self.doc = self._read_doc()
        except BaseException:
            self.zf.close()
            raise

    def close(self):
        self.zf.close()

    def fail(self, message):
        raise ModelFileError(f"{self.path!r}: {message}")

    def _read_raw(self, entry, limit):
        try:
            info = self.zf.getinfo(entry)
        except KeyError:
            self.fail(f"the entry {entry!r} is missing; the file is damaged or incomplete")
        if info.file_size > limit:
            self.fail(f"the entry {entry!r} is {info.file_size} bytes, more than the "
                      f"{limit} it may hold")
        try:
            return self.zf.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                NotImplementedError, RuntimeError) as e:
            self.fail(f"the entry {entry!r} cannot be read ({e}); the file is damaged")

    def _read_doc(self):
        raw = self._read_raw(_CONFIG_ENTRY, _MAX_CONFIG_BYTES)
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self.fail(f"{_CONFIG_ENTRY} is not valid JSON ({e})")
        if not isinstance(doc, dict) or doc.get("format") not in (MODEL_FORMAT, WEIGHTS_FORMAT):
            self.fail(f"{_CONFIG_ENTRY} does not describe a pynn model or weights file")
        version = doc.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.fail(f"format_version must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            self.fail(f"the file has format version {version}, written by pynn "
                      f"{doc.get('pynn_version', '?')}; this pynn reads format versions up to "
                      f"{FORMAT_VERSION}: upgrade pynn to load it")
        return doc

    def manifest(self, key, section=None):
        src = self.doc if section is None else (self.doc.get(section) or {})
        entries = src.get(key, [])
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("path"), str)
                and isinstance(e.get("shape"), list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                        for d in e["shape"]) for e in entries):
            self.fail(f"the '{key}' list in {_CONFIG_ENTRY} is malformed")
        for e in entries:
            if e.get("dtype") != "float32":
                self.fail(f"array {e['path']!r} has dtype {e.get('dtype')!r}; pynn stores "
                          f"float32")
        return entries

    def array(self, entry, shape, what):
        """The array at ``entry``, checked to be float32 of ``shape``."""
        shape = tuple(shape)
        nbytes = 4 * int(np.prod(shape, dtype=np.int64))
        raw = self._read_raw(entry, nbytes + _NPY_HEADER_SLACK)
        buf = io.BytesIO(raw)
        try:
            version = np.lib.format.read_magic(buf)
            if version == (1, 0):
                got_shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
            elif version == (2, 0):
                got_shape, fortran, dtype = np.lib.format.read_array_header_2_0(buf)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, SyntaxError, TypeError) as e:
            self.fail(f"{what} ({entry!r}) is not a valid .npy array: {e}")
        if dtype != np.dtype("<f4"):
            self.fail(f"{what} ({entry!r}) has dtype {dtype}, expected float32")
        if tuple(got_shape) != shape:
            self.fail(f"{what} ({entry!r}) has shape {tuple(got_shape)}, expected {shape}")
        if len(raw) - buf.tell() != nbytes:
            self.fail(f"{what} ({entry!r}) holds {len(raw) - buf.tell()} bytes of data, "
                      f"expected {nbytes}: the file is damaged")
        buf.seek(0)
        try:
            arr = np.load(buf, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            self.fail(f"{what} ({entry!r}) cannot be read: {e}")
        arr = np.array(arr, dtype=np.float32, order="F" if fortran else "C")
        if not np.all(np.isfinite(arr)):
            self.fail(f"{what} ({entry!r}) contains NaN or infinite values")
        return np.ascontiguousarray(arr)


def _weights_into(reader, model, what):
    """Check the file's weights against ``model.weights`` (count, shapes)
    and assign them; nothing is assigned unless all of them check out."""
    entries = reader.manifest("weights")
    mine = model.weights
    if len(entries) != len(mine):
        reader.fail(f"the file holds {len(entries)} weight arrays but the model has "
                    f"{len(mine)} ({what})")
    values = []
    for e, w in zip(entries, mine):
        if tuple(e["shape"]) != tuple(w.shape):
            reader.fail(f"weight {w.name!r} has shape {tuple(w.shape)} in the model but "
                        f"{tuple(e['shape'])} in the file")
        values.append(reader.array(e["path"], w.shape, f"weight {w.name!r}"))
    for w, v in zip(mine, values):
        w.assign(v)


class _rng_untouched:
    """Builds a model whose weights are about to be overwritten without
    drawing from pynn's random stream, so loading a model does not change
    what a seeded run does next."""

    def __enter__(self):
        from .utils import seeding
        self._saved = seeding._rng
        seeding._rng = np.random.default_rng(0)

    def __exit__(self, *exc):
        from .utils import seeding
        seeding._rng = self._saved


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model saved by ``model.save(filepath)``: its layers, weights and,
    when ``compile``, its compile settings and optimizer state, so that
    ``fit`` continues where it stopped."""
    reader = _Reader(filepath)
    try:
        doc = reader.doc
        if doc["format"] != MODEL_FORMAT:
            reader.fail("this is a weights-only file: build the model and call "
                        "model.load_weights() on it instead of load_model()")
        try:
            with _rng_untouched():
                model = model_from_config(doc.get("model"), custom_objects)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            reader.fail(f"the model config cannot be rebuilt: {e}")
        if model.built:
            _weights_into(reader, model, "the model config and its weights disagree")
        elif reader.manifest("weights"):
            reader.fail("the file holds weights for a model with no input shape")
        if compile and doc.get("compile"):
            try:
                _compile_from_config(model, doc["compile"])
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                reader.fail(f"the compile settings cannot be restored: {e}")
            _optimizer_state_into(reader, model)
        return model
    finally:
        reader.close()


def _optimizer_state_into(reader, model):
    state = reader.doc.get("optimizer_state")
    if state is None:
        return
    if not isinstance(state, dict):
        reader.fail("optimizer_state must be a dict")
    iterations = state.get("iterations", 0)
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0:
        reader.fail(f"the optimizer's iteration count must be an integer >= 0, "
                    f"got {iterations!r}")
    entries = reader.manifest("slots", "optimizer_state")
    opt = model.optimizer
    if not entries:
        opt.iterations = iterations
        return
    if len(entries) != len(opt.slot_names):
        reader.fail(f"the file holds {len(entries)} optimizer state arrays; "
                    f"{type(opt).__name__} has {len(opt.slot_names)}")
    size = sum(w.value.size for w in model.trainable_weights)
    for e, name in zip(entries, opt.slot_names):
        if tuple(e["shape"]) != (size,):
            reader.fail(f"optimizer state {name!r} has shape {tuple(e['shape'])} in the file; "
                        f"the model has {size} trainable parameters")
    slots = [reader.array(e["path"], (size,), f"optimizer state {name!r}")
             for e, name in zip(entries, opt.slot_names)]
    opt.set_state(iterations, slots)


def load_weights(model, filepath, skip_mismatch=False):
    """Assign the weights stored in ``filepath`` (a weights file or a whole
    model file) to ``model``, checking count and shapes."""
    if skip_mismatch:
        raise ValueError("load_weights: skip_mismatch=True is not supported")
    reader = _Reader(filepath)
    try:
        if not model.built:
            try:
                with _rng_untouched():
                    other = model_from_config(reader.doc.get("model"))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                reader.fail(f"the model config cannot be read: {e}")
            if other._input_shape is None:
                reader.fail("the model is not built and the file does not say its input shape")
            with _rng_untouched():
                model.build(other._input_shape)
        _weights_into(reader, model, "the file was saved from a different architecture")
    finally:
        reader.close()
