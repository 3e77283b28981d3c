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
    the optimizer's flat state arrays (momenta, velocities) in order;
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
import struct
import zipfile
import zlib

import numpy as np

from .common import ModelFileError, check_overwrite, check_readable, rng_untouched
from .config import compile_config, compile_from_config, model_from_config, serialize_layer

FORMAT_VERSION = 1
MODEL_FORMAT = "pynn.model"
WEIGHTS_FORMAT = "pynn.weights"
_CONFIG_ENTRY = "model.json"
_MAX_CONFIG_BYTES = 64 << 20
_NPY_HEADER_SLACK = 1 << 16  # the most a .npy header may add to the data
_MAX_MEMBERS = 1 << 20


# ---------------------------------------------------------------- write

def _array_entry(prefix, i, arr):
    return {"path": f"{prefix}/{i:05d}.npy", "shape": list(arr.shape), "dtype": "float32"}


def _write(filepath, doc, arrays):
    from .. import __version__
    from ..utils.io import atomic_write
    doc = {"format": doc.pop("format"), "format_version": FORMAT_VERSION,
           "pynn_version": __version__, **doc}
    text = json.dumps(doc, indent=1, allow_nan=False).encode("utf-8")
    with atomic_write(filepath, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_CONFIG_ENTRY, text)
            for entry, arr in arrays:
                arr = np.asarray(arr, dtype=np.float32, order="C")  # 0-d stays 0-d
                with zf.open(entry, "w", force_zip64=arr.nbytes > (1 << 30)) as out:
                    np.lib.format.write_array(out, arr, allow_pickle=False)


def _layers_with_weights(layers):
    """The layers that hold weights of their own among ``layers``, the
    models' and wrappers' (Bidirectional's) layers in their place."""
    from ..models.functional import Model
    for layer in layers:
        if isinstance(layer, Model):
            yield from _layers_with_weights(layer.layers)
        elif layer._sublayers():
            yield from _layers_with_weights(layer._sublayers())
        else:
            yield layer


def _weights_doc(model, fmt):
    entries, arrays = [], []
    # Each weight is named 'layer/weight', what load_weights(by_name=True) matches
    owner = {id(w): f"{model.name}/{w.name}" for w in model._weights}
    for layer in _layers_with_weights(getattr(model, "layers", [])):
        for w in layer.weights:
            owner.setdefault(id(w), f"{layer.name}/{w.name}")
    for i, w in enumerate(model.weights):
        e = _array_entry("weights", i, w.value)
        e["name"] = owner.get(id(w), w.path)
        entries.append(e)
        arrays.append((e["path"], w.value))
    doc = {"format": fmt, "model": serialize_layer(model), "weights": entries}
    return doc, arrays


def save_model(model, filepath, overwrite=True):
    check_overwrite(filepath, overwrite, "save")
    doc, arrays = _weights_doc(model, MODEL_FORMAT)
    doc["compile"] = None
    doc["optimizer_state"] = None
    if getattr(model, "compiled", False):
        doc["compile"] = compile_config(model)
        opt = model.optimizer
        flat = opt._state_arrays()
        if not flat and opt._state_layout():
            # no fit step: the state apply_gradients keeps per variable (a
            # model trained by its own train_step or a GradientTape loop),
            # laid out as fit's
            model._resolve_compile()
            layout = opt._state_of(model._trainable_snapshot)
            flat = [np.concatenate([slots[j] for _, slots in layout])
                    for j in range(len(opt.slot_names))]
        slots = []
        for i, (name, v) in enumerate(zip(opt.slot_names, flat)):
            e = _array_entry("optimizer", i, v)
            e["name"] = name
            slots.append(e)
            arrays.append((e["path"], v))
        # (the steps counted, which gradient accumulation's updates are not)
        doc["optimizer_state"] = {"iterations": int(getattr(opt, "_iterations", opt.iterations)),
                                  "slots": slots}
        if opt.scalar_state():
            doc["optimizer_state"]["scalars"] = opt.scalar_state()
        custom = []
        for i, (name, v) in enumerate(opt.custom_state()):
            v = np.ascontiguousarray(v, np.float32)
            e = _array_entry("optimizer/custom", i, v)
            e["name"] = str(name)
            custom.append(e)
            arrays.append((e["path"], v))
        if custom:
            # (a subclass's own slots, add_slot's or add_variable's)
            doc["optimizer_state"]["custom"] = custom
    _write(filepath, doc, arrays)


def save_weights(model, filepath, overwrite=True):
    check_overwrite(filepath, overwrite, "save_weights")
    if not model.built:
        raise ValueError("save_weights: the model has not been built, so it has no weights "
                         "yet; give it an input shape or train it first")
    doc, arrays = _weights_doc(model, WEIGHTS_FORMAT)
    _write(filepath, doc, arrays)


# ----------------------------------------------------------------- read

class _Reader:
    """An open .pynn file: its parsed model.json and checked arrays."""

    def __init__(self, filepath):
        self.path = check_readable(filepath)
        try:
            self.zf = zipfile.ZipFile(self.path, "r")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
                NotImplementedError, struct.error, KeyError, IndexError, OverflowError) as e:
            # (a damaged central directory surfaces as any of these)
            size = os.path.getsize(self.path)
            what = "it is empty" if size == 0 else f"it is not a zip archive ({e})"
            raise ModelFileError(f"{self.path!r} is not a pynn model file or is damaged: "
                                 f"{what}") from None
        try:
            self._check_members()
            self.doc = self._read_doc()
        except BaseException:
            self.zf.close()
            raise

    def _check_members(self):
        """Refuse archives whose member names could mean something outside
        the archive if anything ever extracted them ('..', absolute paths,
        drive letters, backslashes), or that name a member twice (which copy
        is read would be up to the zip library)."""
        names = self.zf.namelist()
        if len(names) > _MAX_MEMBERS:
            self.fail(f"the archive has {len(names)} members, more than the {_MAX_MEMBERS} a "
                      f"pynn file may hold")
        seen = set()
        for name in names:
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or "\\" in name or ".." in parts or \
                    (len(name) > 1 and name[1] == ":") or "\0" in name:
                self.fail(f"the archive holds a member with an unsafe name {name!r}; pynn "
                          f"files hold only model.json, weights/ and optimizer/")
            if name in seen:
                self.fail(f"the archive holds the member {name!r} twice")
            seen.add(name)

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
                NotImplementedError, RuntimeError, struct.error, OverflowError) as e:
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
        return np.asarray(arr, order="C")


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
            reader.fail(f"weight {w.path!r} has shape {tuple(w.shape)} in the model but "
                        f"{tuple(e['shape'])} in the file")
        values.append((w, reader.array(e["path"], w.shape, f"weight {w.path!r}")))
    for w, v in values:
        w.assign(v)



def load_model(filepath, custom_objects=None, compile=True):
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
            with rng_untouched():
                model = model_from_config(doc.get("model"), custom_objects)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            reader.fail(f"the model config cannot be rebuilt: {e}")
        if model.built:
            _weights_into(reader, model, "the model config and its weights disagree")
        elif reader.manifest("weights"):
            reader.fail("the file holds weights for a model with no input shape")
        if compile and doc.get("compile"):
            try:
                compile_from_config(model, doc["compile"])
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
    scalars = state.get("scalars", {})
    if not isinstance(scalars, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in scalars.values()):
        reader.fail(f"the optimizer's scalars must be a dict of numbers, got {scalars!r}")
    try:
        opt.set_scalar_state(scalars)
    except ValueError as e:
        reader.fail(str(e))
    custom = reader.manifest("custom", "optimizer_state")
    if custom:
        opt.set_custom_state([reader.array(e["path"], e["shape"], f"optimizer state "
                                           f"{e.get('name', e['path'])!r}") for e in custom])
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
    opt._share_flat_state(model._trainable_snapshot)


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
                with rng_untouched():
                    other = model_from_config(reader.doc.get("model"))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                reader.fail(f"the model config cannot be read: {e}")
            if not other.built:
                reader.fail("the model is not built and the file does not say its input shape")
            with rng_untouched():
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
    layer with the same name (entries are named 'layer/weight'; a
    recurrent layer's in older files 'layer/cell/weight')."""
    by_layer = {}
    for e in reader.manifest("weights"):
        name = e.get("name")
        if not isinstance(name, str) or "/" not in name:
            reader.fail("the file's weights are not named by layer, so by_name cannot match "
                        "them")
        by_layer.setdefault(name.split("/", 1)[0], []).append(e)
    assign = []

    for layer in _layers_with_weights(model.layers):
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
            assign.append((w, reader.array(e["path"], w.shape, f"weight {w.path!r}")))
    for w, v in assign:
        w.assign(v)
