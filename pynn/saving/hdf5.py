"""HDF5 pieces the Keras formats share: opening a file, reading an array
only after its shape and type are checked, string-list attributes, and the
layer weights in Keras's orders."""
import json
import warnings
import zipfile
import zlib

import numpy as np

from .common import ModelFileError, require_h5py

# Keras splits string-list attributes larger than an HDF5 object header
# into numbered chunks ('layer_names0', 'layer_names1', ...).
_HEADER_LIMIT = 64512
_MAX_JSON_BYTES = 64 << 20
# (a file inside a .keras archive is read through the zip: a damaged entry
# fails its CRC check or its inflate while HDF5 reads it)
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError)


class H5Reader:
    """An HDF5 file (or file object) open for reading, whose failures are
    ModelFileError naming the file."""

    def __init__(self, source, label):
        self.h5py = require_h5py(label)
        self.label = label
        try:
            self.file = self.h5py.File(source, "r")
        except (OSError, ValueError, *_DAMAGED) as e:
            raise ModelFileError(f"{label!r} is not an HDF5 file or is damaged ({e})") from None

    def close(self):
        self.file.close()

    def fail(self, message):
        raise ModelFileError(f"{self.label!r}: {message}")

    def group(self, parent, name, what):
        """The group ``name`` under ``parent``, or None when there is none."""
        try:
            obj = parent.get(name)
        except (KeyError, OSError, ValueError, RuntimeError, *_DAMAGED) as e:
            self.fail(f"{what} cannot be read ({e}); the file is damaged")
        if obj is not None and not isinstance(obj, self.h5py.Group):
            self.fail(f"{what} is not an HDF5 group")
        return obj

    def keys(self, group, what):
        """The names in ``group``, sorted as Keras numbers them (0, 1, ...,
        10 after 9)."""
        try:
            return sorted(group.keys(), key=lambda k: (len(k), k))
        except (KeyError, OSError, ValueError, RuntimeError, *_DAMAGED) as e:
            self.fail(f"{what} cannot be listed ({e}); the file is damaged")

    def dataset(self, parent, name, what):
        try:
            obj = parent.get(name)
        except (KeyError, OSError, ValueError, RuntimeError, *_DAMAGED) as e:
            self.fail(f"{what} cannot be read ({e}); the file is damaged")
        if obj is None:
            self.fail(f"{what} is missing")
        if not isinstance(obj, self.h5py.Dataset):
            self.fail(f"{what} is not an array")
        return obj

    def array(self, dataset, shape, what):
        """The dataset as float32, after checking its type and its shape
        against ``shape`` (nothing is read before).  Integers are read too:
        Keras keeps counts (Normalization's) as int32."""
        shape = tuple(shape)
        if dataset.dtype.kind not in "fiu":
            self.fail(f"{what} has dtype {dataset.dtype}, expected numbers")
        if tuple(dataset.shape) != shape:
            self.fail(f"{what} has shape {tuple(dataset.shape)} in the file, expected {shape}")
        try:
            value = np.asarray(dataset[()], dtype=np.float32)
        except (OSError, ValueError, TypeError, RuntimeError, *_DAMAGED) as e:
            self.fail(f"{what} cannot be read ({e}); the file is damaged")
        if not np.all(np.isfinite(value)):
            self.fail(f"{what} contains NaN or infinite values")
        # np.array, not ascontiguousarray, which makes a scalar 1-D
        return np.array(value.reshape(shape), order="C")

    def scalar(self, dataset, what, integer=False):
        if dataset.shape != () or dataset.dtype.kind not in ("iu" if integer else "fiu"):
            self.fail(f"{what} must be a {'whole number' if integer else 'number'}")
        try:
            value = dataset[()]
        except (OSError, ValueError, TypeError, RuntimeError, *_DAMAGED) as e:
            self.fail(f"{what} cannot be read ({e}); the file is damaged")
        return int(value) if integer else float(value)

    def strings(self, obj, name, what):
        """A string-list attribute (Keras's, chunked or not), [] when absent."""
        attrs = obj.attrs
        try:
            if name in attrs:
                parts = [attrs[name]]
            else:
                parts = []
                while f"{name}{len(parts)}" in attrs:
                    parts.append(attrs[f"{name}{len(parts)}"])
        except (OSError, ValueError, TypeError, RuntimeError, *_DAMAGED) as e:
            self.fail(f"{what} cannot be read ({e})")
        out = []
        for part in parts:
            for item in np.atleast_1d(np.asarray(part, dtype=object)):
                if isinstance(item, bytes):
                    try:
                        item = item.decode("utf-8")
                    except UnicodeDecodeError:
                        self.fail(f"{what} holds a name that is not UTF-8")
                if not isinstance(item, str):
                    self.fail(f"{what} must be a list of names")
                out.append(item)
        return out

    def json_attr(self, obj, name, what):
        """A JSON attribute, parsed; None when absent."""
        try:
            raw = obj.attrs.get(name)
        except (OSError, ValueError, TypeError, RuntimeError, *_DAMAGED) as e:
            self.fail(f"{what} cannot be read ({e})")
        if raw is None:
            return None
        if isinstance(raw, np.ndarray) and raw.shape == ():
            raw = raw[()]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if not isinstance(raw, str) or len(raw) > _MAX_JSON_BYTES:
            self.fail(f"{what} must be a JSON text")
        try:
            return json.loads(raw)
        except ValueError as e:
            self.fail(f"{what} is not valid JSON ({e})")


def write_strings(group, name, values):
    """A string-list attribute as Keras writes it (UTF-8 bytes, chunked
    when it would not fit an object header)."""
    data = np.asarray([v.encode("utf-8") for v in values]) if values else np.zeros((0,), "S1")
    chunks = 1
    parts = [data]
    while any(p.nbytes > _HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part


def legacy_weights(layer):
    """A layer's (or nested model's) weights in the legacy HDF5 order:
    trainable weights, then non-trainable ones, by the layer's current
    ``trainable`` setting."""
    return layer.trainable_weights + layer.non_trainable_weights


def optimizer_state_from(reader, datasets, model):
    """Restore the optimizer from its state as Keras stores it: the
    iteration count, the learning rate, then each trainable weight's state
    arrays in turn (Adam: momentum, velocity).  A file whose optimizer was
    never built holds the first two only; state laid out for another
    optimizer is not restored (with a warning, as Keras does)."""
    opt = model.optimizer
    if not datasets:
        return
    names = [name for name, _ in opt.keras_head()]
    values = []
    for name, dataset in zip(names, datasets):
        integer = name in ("iteration", "step_counter")
        value = reader.scalar(dataset, f"the optimizer's {name}", integer=integer)
        if integer and value < 0:
            reader.fail(f"the optimizer's {name} is negative ({value})")
        values.append(value)
    model._resolve_compile()
    weights = model._trainable_snapshot
    k = len(opt.slot_names)
    head = len(names)
    if len(datasets) <= head:
        if len(datasets) == head:
            opt.set_keras_head(values)
        else:  # a wrapper never built: its own count only
            opt.iterations = values[0]
        return
    if opt._writes_v2_updates() or opt._writes_keras3_updates():
        # a subclass's own state, given back when its first step makes it
        opt.set_keras_head(values)
        opt.set_custom_state([reader.array(d, d.shape, f"the optimizer's variable {head + i}")
                              for i, d in enumerate(datasets[head:])])
        return
    extra = len(opt.extra_variables())  # recomputed from the step, not read
    # with use_ema, each weight's moving average comes first, then with
    # gradient accumulation each one's accumulated gradient
    accumulating = head + (len(weights) if opt.use_ema else 0)
    averaged = accumulating + (len(weights) if opt.gradient_accumulation_steps else 0)
    # the dataset of each weight's state arrays, in Keras's order (weight by
    # weight), None where Keras keeps none
    index, at = [[None] * k for _ in weights], averaged
    for group in _slot_groups(opt):
        for i, w in enumerate(weights):
            for j in group:
                if opt.slot_shape(j, w.shape, path=w.path) is not None:
                    index[i][j] = at
                    at += 1
    if len(datasets) != at + extra:
        warnings.warn(f"{reader.label!r}: the optimizer's state was not restored: the file "
                      f"holds {len(datasets) - head - extra} state arrays, "
                      f"{type(opt).__name__} has {at - head} for the {len(weights)} "
                      f"trainable weights; training continues with a fresh optimizer state",
                      stacklevel=4)
        return
    if opt.use_ema:
        opt._ema = np.concatenate(
            [reader.array(datasets[head + i], w.shape,
                          f"the optimizer's moving average of weight {w.path!r}").reshape(-1)
             for i, w in enumerate(weights)] or [np.zeros(0, np.float32)]).astype(np.float32)
    if opt.gradient_accumulation_steps:
        for i, a in enumerate(opt._accumulators([(w, None) for w in weights])):
            a[...] = reader.array(datasets[accumulating + i], weights[i].shape,
                                  f"the optimizer's gradient accumulator of weight "
                                  f"{weights[i].path!r}")
    flat = []
    for j, slot in enumerate(opt.slot_names):
        # a piece smaller than its weight (Adafactor's factored moments)
        # fills the front of the weight's part of the flat array
        pieces = []
        for i, w in enumerate(weights):
            piece = np.zeros(w.value.size, np.float32)
            if index[i][j] is not None:
                a = reader.array(datasets[index[i][j]], opt.slot_shape(j, w.shape, path=w.path),
                                 f"the optimizer's {slot} of weight {w.path!r}").reshape(-1)
                piece[:a.size] = a
            pieces.append(piece)
        flat.append(np.concatenate(pieces) if pieces else np.zeros(0, np.float32))
    opt.set_state(values[0], flat)
    opt._share_flat_state(weights)
    opt.set_keras_head(values)


def optimizer_arrays(model, opt=None, wrapped=False):
    """The optimizer's (``opt``, default the model's; ``wrapped`` in a
    LossScaleOptimizer) state as Keras stores it: [(name, array)] for the
    iteration count, the learning rate, with use_ema each trainable
    weight's moving average, then each trainable weight's state arrays in
    turn (zeros when the optimizer has not taken a step yet)."""
    opt = opt or model.optimizer
    model._resolve_compile()
    custom = opt.custom_state()
    if custom:
        # a subclass's own state (add_slot's, add_variable's), in the order
        # made, after the head, as Keras stores a custom optimizer's
        return opt.keras_head() + [(n, np.asarray(v, np.float32)) for n, v in custom]
    return opt.keras_state(opt._state_of(model._trainable_snapshot), wrapped=wrapped)


def _slot_groups(opt):
    """The optimizer's state arrays in the groups Keras stores one after
    the other, each weight by weight: all but the last
    ``slots_after_weights``, then those."""
    k = len(opt.slot_names)
    late = opt.slots_after_weights
    return [range(k - late), range(k - late, k)]
