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

No file holds code: a Lambda's function, a custom activation, loss or
metric is named (module and name), and a model holding an anonymous
function (a lambda) is refused by ``save``.  Loading finds named functions
in ``custom_objects``; in safe mode (the default) it never imports a module
a file names (see pynn.utils.custom_objects).

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

from .utils.custom_objects import (CustomObjectScope, custom_object_scope,  # noqa: F401
                                   get_custom_objects, register_keras_serializable)

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
    """``{'class_name', 'config'}`` of a layer; a model built from inputs
    and outputs is a 'Functional', as Keras names it."""
    from .models.summary import class_label
    return {"class_name": class_label(layer), "config": layer.get_config()}


_MODEL_CLASSES = ("Functional", "Model", "Sequential")


def deserialize_layer(spec, custom_objects=None):
    from .layers.base import Layer
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
            or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"a layer must be described as {{'class_name': ..., 'config': {{...}}}}, "
                         f"got {spec!r}")
    name = spec["class_name"]
    custom = (custom_objects or {}).get(name) or _registered_layer(name)
    if custom is None and name in _MODEL_CLASSES:
        return model_from_config(spec, custom_objects)
    cls = custom or layer_classes().get(name)
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"unknown layer class {name!r}; pass it in custom_objects="
                         f"{{{name!r}: {name}}} if it is your own layer")
    return cls.from_config(spec.get("config", {}))


def _registered_layer(name):
    from .layers.base import Layer
    from .utils.custom_objects import lookup
    found = lookup(name)
    return found if isinstance(found, type) and issubclass(found, Layer) else None


# ----------------------------------------------------- model <-> config

def _history(tensor, reindex):
    h = tensor._keras_history
    node = h.operation._inbound_nodes[h.node_index]
    return [h.operation.name, reindex.get(id(node), h.node_index), h.tensor_index]


def _tensor_ref(tensor, reindex):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(tensor.shape), "dtype": tensor.dtype,
                       "keras_history": _history(tensor, reindex)}}


def functional_config(model):
    """Keras 3's functional config: every layer with the nodes at which the
    model calls it (``inbound_nodes``, each naming its input tensors by
    [layer, node index, tensor index]), and the model's inputs and
    outputs."""
    from .layers.base import InputLayer
    nodes = set(id(n) for n in model._nodes) | {id(t.node) for t in model._inputs}
    reindex = {}
    for layer in model._operations:
        kept = 0
        for node in layer._inbound_nodes:
            if id(node) in nodes:
                reindex[id(node)] = kept
                kept += 1
    layers = []
    for layer in model._operations:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        inbound = []
        if not isinstance(layer, InputLayer):
            for node in layer._inbound_nodes:
                if id(node) not in nodes:
                    continue
                refs = [_tensor_ref(t, reindex) for t in node.input_tensors]
                kwargs = {} if node.training is None else {"training": bool(node.training)}
                inbound.append({"args": [refs[0] if node.single_input else refs],
                                "kwargs": kwargs})
        entry["inbound_nodes"] = inbound
        layers.append(entry)

    def refs(struct):
        if isinstance(struct, dict):
            return {k: _history(v, reindex) for k, v in struct.items()}
        if isinstance(struct, (list, tuple)):
            return [_history(t, reindex) for t in struct]
        return _history(struct, reindex)

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": refs(model._inputs_struct),
            "output_layers": refs(model._outputs_struct)}


def sequential_config(model):
    """Keras 3's Sequential config: the InputLayer (once the input is
    known) and each layer's config."""
    layers = []
    if model._input_layer is not None:
        layers.append(serialize_layer(model._input_layer))
    layers += [serialize_layer(l) for l in model.layers]
    shape = model._input_layer.shape if model._input_layer is not None else None
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "build_input_shape": None if shape is None else list(shape)}


def _check_history(ref, what):
    if not (isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    for v in ref[1:])):
        raise ValueError(f"{what} must be [layer name, node index, tensor index], got {ref!r}")
    return ref


def _functional_from_config(config, custom_objects):
    from .models.functional import Model
    from .models.node import KerasTensor
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a functional model config must be a dict with a 'layers' list")
    created = {}
    pending = []
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise ValueError(f"a layer entry must be a dict, got {entry!r}")
        layer = deserialize_layer(entry, custom_objects)
        name = entry.get("name", layer.name)
        if name in created:
            raise ValueError(f"the layer name {name!r} appears twice in the config")
        created[name] = layer
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"inbound_nodes of layer {name!r} must be a list")
        pending.append((layer, name, list(nodes)))
    outputs = {}  # (layer name, node index) -> output tensors

    from .layers.base import InputLayer
    for layer, name, _ in pending:
        if isinstance(layer, InputLayer):
            outputs[(name, 0)] = [layer.output]

    def resolve(ref):
        if isinstance(ref, dict) and ref.get("class_name") == "__keras_tensor__":
            ref = (ref.get("config") or {}).get("keras_history")
        if isinstance(ref, list) and ref and isinstance(ref[0], (list, dict)):
            return [resolve(r) for r in ref]
        lname, node_index, tensor_index = _check_history(ref, "a tensor reference")
        made = outputs.get((lname, node_index))
        if made is None:
            return None
        if tensor_index >= len(made):
            raise ValueError(f"layer {lname!r} has no output {tensor_index}")
        return made[tensor_index]

    progress = True
    while progress:
        progress = False
        for layer, name, nodes in pending:
            while nodes:
                node = nodes[0]
                args, kwargs = _node_call(node, name)
                inputs = resolve(args)
                leaves = inputs if isinstance(inputs, list) else [inputs]
                if any(t is None for t in leaves):
                    break
                out = layer(inputs, **kwargs)
                index = sum(1 for key in outputs if key[0] == name)
                if isinstance(out, dict):
                    out = list(out.values())
                outputs[(name, index)] = out if isinstance(out, list) else [out]
                nodes.pop(0)
                progress = True
    stuck = [name for _, name, nodes in pending if nodes]
    if stuck:
        raise ValueError(f"the config's graph cannot be rebuilt: the inputs of layers {stuck} "
                         f"are never produced")

    def structure(refs):
        if isinstance(refs, dict):
            return {k: resolve(_check_history(v, "a model input/output")) for k, v in
                    refs.items()}
        if isinstance(refs, list) and refs and isinstance(refs[0], list):
            return [resolve(_check_history(r, "a model input/output")) for r in refs]
        return resolve(_check_history(refs, "a model input/output"))

    inputs = structure(config.get("input_layers"))
    outputs_ = structure(config.get("output_layers"))
    for t in (inputs.values() if isinstance(inputs, dict) else
              inputs if isinstance(inputs, list) else [inputs]):
        if not isinstance(t, KerasTensor):
            raise ValueError("the config names a model input that no layer produces")
    return Model(inputs, outputs_, name=config.get("name"),
                 trainable=config.get("trainable", True))


def _node_call(node, name):
    """(inputs reference, call kwargs) of one inbound node, in Keras 3's
    form ({'args': [...], 'kwargs': {...}}) or Keras 2's ([[name, i, j,
    kwargs], ...])."""
    if isinstance(node, dict):
        args = node.get("args") or []
        kwargs = node.get("kwargs") or {}
        if len(args) != 1:
            raise ValueError(f"layer {name!r}: a node must have one argument (a tensor or a "
                             f"list of tensors), got {len(args)}")
        allowed = {k: v for k, v in kwargs.items() if k in ("training", "mask")}
        if "training" in allowed and allowed["training"] is not None:
            allowed["training"] = bool(allowed["training"])
        allowed.pop("mask", None)
        return args[0], allowed
    if isinstance(node, list) and node and all(isinstance(r, list) for r in node):
        refs = [r[:3] for r in node]
        kwargs = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        kwargs = {k: bool(v) for k, v in kwargs.items() if k == "training" and v is not None}
        return (refs[0] if len(refs) == 1 else refs), kwargs
    raise ValueError(f"layer {name!r}: cannot read the inbound node {node!r}")


def _sequential_from_config(config, custom_objects):
    from .models.sequential import Sequential
    if isinstance(config, list):  # Keras 1/2's bare list of layers
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a Sequential config must be a dict with a 'layers' list")
    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
    for spec in config["layers"]:
        model.add(deserialize_layer(spec, custom_objects))
    shape = config.get("build_input_shape")
    if shape is not None and not model.built and model.layers:
        if not isinstance(shape, list) or not all(d is None or (isinstance(d, int) and d >= 0)
                                                  for d in shape):
            raise ValueError(f"build_input_shape must be a list of integers, got {shape!r}")
        model.build(tuple(shape))
    return model


def model_from_config(config, custom_objects=None):
    """A model from ``{'class_name': 'Sequential' | 'Functional', 'config':
    ...}`` (or a bare Sequential config); functions named in it are looked
    up in ``custom_objects`` too."""
    from .utils.custom_objects import custom_object_scope
    with custom_object_scope(custom_objects):
        return _model_from_config(config, custom_objects)


def _model_from_config(config, custom_objects):
    if isinstance(config, dict) and "class_name" in config and "config" in config:
        kind = config["class_name"]
        custom = (custom_objects or {}).get(kind)
        if custom is not None and hasattr(custom, "from_config") and \
                kind not in _MODEL_CLASSES:
            return custom.from_config(config["config"])
        if kind == "Sequential":
            return _sequential_from_config(config["config"], custom_objects)
        if kind in ("Functional", "Model"):
            return _functional_from_config(config["config"], custom_objects)
        raise ValueError(f"unknown model class {kind!r}; pynn reads Sequential and "
                         f"Functional models")
    return _sequential_from_config(config, custom_objects)


def _serialize_metric(m):
    from .metrics import Metric
    if isinstance(m, str):
        return m
    from .metrics import MeanMetricWrapper
    from .utils.custom_objects import serialize_function
    if isinstance(m, MeanMetricWrapper) and not m.fn_kwargs:
        return serialize_function(m.fn)
    if isinstance(m, Metric) or (isinstance(m, type) and issubclass(m, Metric)):
        cls = m if isinstance(m, type) else type(m)
        return {"class_name": cls.__name__,
                "config": {"name": m.name} if not isinstance(m, type) else {}}
    if callable(m) and (hasattr(m, "_metric_class") or hasattr(m, "_loss_class")):
        return m.__name__
    if callable(m) and not isinstance(m, type):
        return serialize_function(m)
    raise ValueError(f"save: cannot describe the metric {m!r} in a model file")


def _map_structure(fn, spec):
    """``fn`` over the leaves of a loss or metrics spec: one value, a list
    or a dict by output name (a serialized object, a dict with a
    'class_name', is a leaf)."""
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _map_structure(fn, v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_map_structure(fn, v) for v in spec]
    return None if spec is None else fn(spec)


def _compile_config(model):
    from . import losses, optimizers
    loss, loss_weights, metrics, weighted = model._compile_args

    def ser_loss(l):
        return losses.serialize(losses.get(l))

    return {"optimizer": optimizers.serialize(model.optimizer),
            "loss": _map_structure(ser_loss, loss),
            "loss_weights": loss_weights,
            "metrics": _map_structure(_serialize_metric, metrics),
            "weighted_metrics": _map_structure(_serialize_metric, weighted)}


def _compile_from_config(model, config):
    from . import losses
    from . import metrics as metrics_mod
    from . import optimizers
    from .utils.custom_objects import deserialize_function, is_function_description
    if not isinstance(config, dict):
        raise ValueError("the compile settings must be a dict")

    def metric(m):
        if is_function_description(m):
            return deserialize_function(m, "metric")
        if isinstance(m, dict):
            cls = getattr(metrics_mod, str(m.get("class_name")), None)
            if not (isinstance(cls, type) and issubclass(cls, metrics_mod.Metric)):
                raise ValueError(f"unknown metric {m.get('class_name')!r}")
            return cls(**(m.get("config") or {}))
        if not isinstance(m, str):
            raise ValueError(f"a metric must be a name or a dict, got {m!r}")
        return m

    opt = config.get("optimizer")
    if not isinstance(opt, dict):
        raise ValueError("the optimizer must be described as a dict")
    model.compile(optimizer=optimizers.get(opt),
                  loss=_map_structure(losses.get, config.get("loss")),
                  loss_weights=config.get("loss_weights"),
                  metrics=_map_structure(metric, config.get("metrics")),
                  weighted_metrics=_map_structure(metric, config.get("weighted_metrics")))


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
    doc = {"format": fmt, "model": serialize_layer(model), "weights": entries}
    return doc, arrays


def _refuse_anonymous_functions(value, where):
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
            _refuse_anonymous_functions(v, where)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _refuse_anonymous_functions(v, where)


def save_model(model, filepath, overwrite=True):
    filepath = _check_suffix(filepath, "save")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath!r} exists and overwrite=False")
    doc, arrays = _weights_doc(model, MODEL_FORMAT)
    _refuse_anonymous_functions(doc["model"], f"model {model.name!r}")
    doc["compile"] = None
    doc["optimizer_state"] = None
    if getattr(model, "compiled", False):
        doc["compile"] = _compile_config(model)
        _refuse_anonymous_functions(doc["compile"], "the compile settings (loss or metrics)")
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


def _weights_into(reader, model, what, skip_mismatch=False):
    """Check the file's weights against ``model.weights`` (count, shapes)
    and assign them; nothing is assigned unless all of them check out
    (with ``skip_mismatch``, weights of another shape are left as they
    are)."""
    entries = reader.manifest("weights")
    mine = model.weights
    if len(entries) != len(mine):
        reader.fail(f"the file holds {len(entries)} weight arrays but the model has "
                    f"{len(mine)} ({what})")
    values = []
    for e, w in zip(entries, mine):
        if tuple(e["shape"]) != tuple(w.shape):
            if skip_mismatch:
                continue
            reader.fail(f"weight {w.name!r} has shape {tuple(w.shape)} in the model but "
                        f"{tuple(e['shape'])} in the file")
        values.append((w, reader.array(e["path"], w.shape, f"weight {w.name!r}")))
    for w, v in values:
        w.assign(v)


def _rng_untouched():
    """Builds a model whose weights are about to be overwritten without
    drawing from pynn's random stream, so loading a model does not change
    what a seeded run does next."""
    from .utils.seeding import isolated
    return isolated()


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model saved by ``model.save(filepath)``: its layers, weights and,
    when ``compile``, its compile settings and optimizer state, so that
    ``fit`` continues where it stopped.  Functions the file names (a
    Lambda's, a custom activation or loss) come from ``custom_objects``;
    ``safe_mode=False`` also lets it import the modules the file names."""
    from .utils.custom_objects import SafeModeScope, custom_object_scope
    with SafeModeScope(safe_mode), custom_object_scope(custom_objects):
        return _load_model(filepath, custom_objects, compile)


def _load_model(filepath, custom_objects, compile):
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


def restore_training_state(model, filepath):
    """Load a whole-model file saved from a model of the same architecture
    into ``model`` (compiled): its weights and its optimizer's state, so
    training continues where the file's left off (BackupAndRestore)."""
    reader = _Reader(filepath)
    try:
        if reader.doc["format"] != MODEL_FORMAT:
            reader.fail("expected a whole-model file, with the optimizer's state")
        _weights_into(reader, model, "the backup was saved from a different architecture")
        _optimizer_state_into(reader, model)
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
    model._resolve_compile()
    size = sum(w.value.size for w in model._trainable_snapshot)
    for e, name in zip(entries, opt.slot_names):
        if tuple(e["shape"]) != (size,):
            reader.fail(f"optimizer state {name!r} has shape {tuple(e['shape'])} in the file; "
                        f"the model has {size} trainable parameters")
    slots = [reader.array(e["path"], (size,), f"optimizer state {name!r}")
             for e, name in zip(entries, opt.slot_names)]
    opt.set_state(iterations, slots)


def load_weights(model, filepath, skip_mismatch=False, by_name=False):
    """Assign the weights stored in ``filepath`` (a weights file or a whole
    model file) to ``model``, checking count and shapes.  ``by_name``
    matches layers by name (only layers present in both get weights);
    ``skip_mismatch`` skips weights whose shape differs instead of failing,
    as Keras's do."""
    reader = _Reader(filepath)
    try:
        if not model.built:
            try:
                with _rng_untouched():
                    other = model_from_config(reader.doc.get("model"))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                reader.fail(f"the model config cannot be read: {e}")
            if not other.built:
                reader.fail("the model is not built and the file does not say its input shape")
            with _rng_untouched():
                model.build(other.input_shape)
        if by_name:
            _weights_by_name(reader, model, skip_mismatch)
        else:
            _weights_into(reader, model, "the file was saved from a different architecture",
                          skip_mismatch)
    finally:
        reader.close()


def _weights_by_name(reader, model, skip_mismatch):
    """Weights for each layer of ``model`` from the file's weights of the
    layer with the same name (entries are named 'layer/weight')."""
    from .models.functional import Model
    by_layer = {}
    for e in reader.manifest("weights"):
        name = e.get("name")
        if not isinstance(name, str) or "/" not in name:
            reader.fail("the file's weights are not named by layer, so by_name cannot match "
                        "them")
        by_layer.setdefault(name.rsplit("/", 1)[0], []).append(e)
    assign = []

    def visit(layers):
        for layer in layers:
            if isinstance(layer, Model):
                visit(layer.layers)
                continue
            mine = layer.weights
            entries = by_layer.get(layer.name)
            if not mine or entries is None:
                continue
            if len(entries) != len(mine) or any(tuple(e["shape"]) != w.shape
                                                for e, w in zip(entries, mine)):
                if skip_mismatch:
                    continue
                reader.fail(f"layer {layer.name!r} has weights of shapes "
                            f"{[w.shape for w in mine]} in the model but "
                            f"{[tuple(e['shape']) for e in entries]} in the file")
            for e, w in zip(entries, mine):
                assign.append((w, reader.array(e["path"], w.shape, f"weight {w.name!r}")))

    visit(model.layers)
    for w, v in assign:
        w.assign(v)
