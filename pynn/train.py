"""TensorFlow's ``tf.train`` checkpoints for custom training loops:
``Checkpoint`` (save, restore, write, read of models, layers, modules,
optimizers and variables), ``CheckpointManager`` (numbered checkpoints,
``max_to_keep``) and ``latest_checkpoint``.

A checkpoint ``prefix`` (``ckpts/ckpt-3``) is one file, ``prefix.index``
(the name TensorFlow's checkpoints are found by), written atomically: a
zip holding ``checkpoint.json`` (a manifest of every value: its key, shape
and dtype) and one ``.npy`` array per value, as pynn's model files are.
It never holds code or a pickle, and reading checks every array against
the manifest.  Values are keyed by where they sit: ``model/variables/0``
(the first of ``model.variables``), ``optimizer/iteration``,
``optimizer/slots/model/variables/0/momentum``; so a checkpoint restores
into objects built the same way, as TensorFlow's object-based checkpoints
do.  ``ckpts/checkpoint`` lists the checkpoints in TensorFlow's text
format, for ``latest_checkpoint``.
"""
import functools
import json
import os
import re
import time
import zipfile

import numpy as np

from .layers.base import Layer, Weight
from .module import Module
from .records import (BytesList, Example, Feature, FeatureList, FeatureLists, Features,
                      FloatList, Int64List, SequenceExample)

__all__ = ["Checkpoint", "CheckpointManager", "latest_checkpoint", "get_checkpoint_state",
           "list_variables", "load_variable", "load_checkpoint", "CheckpointReader",
           "CheckpointOptions", "Example", "Features", "Feature", "BytesList", "FloatList",
           "Int64List", "SequenceExample", "FeatureList", "FeatureLists"]

_FORMAT = "pynn.checkpoint"
_MANIFEST = "checkpoint.json"
_STATE_FILE = "checkpoint"
_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
           "uint16", "uint32", "uint64", "bool"}
_MAX_MANIFEST_BYTES = 64 << 20
# (the suffix TensorFlow's checkpoints give a variable's value)
_VALUE_SUFFIX = ".ATTRIBUTES/VARIABLE_VALUE"


class CheckpointOptions:
    """tf.train.CheckpointOptions: accepted; one process writes one file."""

    def __init__(self, experimental_io_device=None, experimental_enable_async_checkpoint=False,
                 experimental_write_callbacks=None, enable_async=False,
                 experimental_skip_slot_variables=False, experimental_sharding_callback=None):
        self.experimental_skip_slot_variables = experimental_skip_slot_variables


# ---------------------------------------------------------------- the graph

def _optimizer_class():
    from .optimizers import Optimizer
    return Optimizer


def _collect(key, obj, values, optimizers, seen):
    """Fill ``values`` ({key: variable}) with what ``obj`` holds, and
    ``optimizers`` with (key, optimizer or other object whose state is
    more than variables: a dataset iterator, a random generator, saved by
    their ``_checkpoint_state``).  A variable reachable by two
    paths is stored under both (restoring either finds it); ``seen``
    holds the containers being walked (a cycle is walked once)."""
    if isinstance(obj, Weight):
        values[key] = obj
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    try:
        if isinstance(obj, _optimizer_class()):
            optimizers.append((key, obj))
        elif isinstance(obj, Checkpoint):
            for name, child in obj._children.items():
                _collect(f"{key}/{name}" if key else name, child, values, optimizers, seen)
        elif isinstance(obj, Module):
            variables = obj.weights if isinstance(obj, Layer) else obj.variables
            for i, w in enumerate(variables):
                values[f"{key}/variables/{i}"] = w
            opt = getattr(obj, "optimizer", None) if isinstance(obj, Layer) else None
            if isinstance(opt, _optimizer_class()):
                _collect(f"{key}/optimizer", opt, values, optimizers, seen)
        elif isinstance(obj, (list, tuple)):
            for i, child in enumerate(obj):
                _collect(f"{key}/{i}", child, values, optimizers, seen)
        elif isinstance(obj, dict):
            for name, child in obj.items():
                _collect(f"{key}/{name}", child, values, optimizers, seen)
        elif hasattr(obj, "_checkpoint_state"):
            optimizers.append((key, obj))
        elif hasattr(obj, "__next__"):
            raise ValueError(f"Checkpoint: {key!r} is a {type(obj).__name__} iterator; a "
                             f"checkpoint saves the position of a tf.data dataset's iterator "
                             f"(iter(dataset)) only")
        else:
            raise ValueError(f"Checkpoint: {key!r} must be a model, layer, Module, optimizer, "
                             f"Variable, Checkpoint, or a list or dict of them, got "
                             f"{type(obj).__name__}")
    finally:
        seen.discard(id(obj))


def _graph(checkpoint):
    values, optimizers = {}, []
    _collect("", checkpoint, values, optimizers, set())
    return values, optimizers


def _attribute_paths(key, obj, out, seen):
    """{path: variable} of the variables a model, layer or Module holds in
    its public attributes, by attribute name (``net/l1/kernel``), as
    TensorFlow's object graph names them; sublayers, Modules, lists and
    dicts of them are walked (each container once)."""
    if isinstance(obj, Weight):
        out.setdefault(key, obj)
        return
    if id(obj) in seen:
        return
    if isinstance(obj, Checkpoint):
        seen.add(id(obj))
        for name, child in obj._children.items():
            _attribute_paths(f"{key}/{name}" if key else name, child, out, seen)
    elif isinstance(obj, Module):
        seen.add(id(obj))
        for name, child in list(vars(obj).items()):
            if not name.startswith("_") and name != "optimizer" and \
                    isinstance(child, (Weight, Module, list, tuple, dict)):
                _attribute_paths(f"{key}/{name}", child, out, seen)
    elif isinstance(obj, (list, tuple)):
        seen.add(id(obj))
        for i, child in enumerate(obj):
            _attribute_paths(f"{key}/{i}", child, out, seen)
    elif isinstance(obj, dict):
        seen.add(id(obj))
        for name, child in obj.items():
            if isinstance(name, str):
                _attribute_paths(f"{key}/{name}", child, out, seen)


class _FileValues(dict):
    """{key: array} of a checkpoint file and its ``aliases``: {attribute
    path: key} of the variables that models, layers and Modules held
    (``net/l1/kernel`` for ``net/variables/0``), so that a checkpoint
    built of other objects with those attributes restores them, as
    TensorFlow restores by the object graph."""

    def __init__(self, values=(), aliases=None):
        super().__init__(values)
        self.aliases = dict(aliases or {})

    def find(self, key):
        """The key of the file's value for ``key`` (itself, or the key its
        attribute path stands for), or None."""
        if key in self:
            return key
        target = self.aliases.get(key)
        return target if target in self else None

    def under(self, prefix):
        """The values below ``prefix/``, keyed without it (aliases made
        plain keys)."""
        n = len(prefix) + 1
        out = _FileValues({k[n:]: v for k, v in self.items() if k.startswith(prefix + "/")})
        for alias, target in self.aliases.items():
            if alias.startswith(prefix + "/") and target in self:
                out.setdefault(alias[n:], self[target])
        return out


def _optimizer_values(key, opt, variables_by_id):
    """{key: array} of an optimizer's step count, learning rate and the
    state of each variable the checkpoint holds."""
    out = {f"{key}/{name}": np.array(value) for name, value in opt.keras_head()}
    for name, value in (opt.scalar_state() or {}).items():
        out[f"{key}/scalars/{name}"] = np.asarray(value, np.float64)
    for w, slots in opt._state_layout():
        where = variables_by_id.get(id(w))
        if where is None:
            continue  # (a variable the checkpoint does not hold: as TensorFlow, not saved)
        for name, slot in zip(opt.slot_names, slots):
            out[f"{key}/slots/{where}/{name}"] = np.array(slot).reshape(w.value.shape) \
                if np.size(slot) == w.value.size else np.array(slot)
    return out


def _restore_optimizer(key, opt, arrays, variables, consumed):
    """Set ``opt``'s state from ``arrays``; the variables' state is made
    when the optimizer has none yet (restored before the first step, as
    TensorFlow defers it)."""
    head = opt.keras_head()
    setters = opt._head_setters()
    for (name, _), set_value in zip(head, setters):
        k = f"{key}/{name}"
        if k in arrays:
            set_value(arrays[k][()])
            consumed.add(k)
    scalars = {k[len(key) + 9:]: float(v) for k, v in arrays.items()
               if k.startswith(f"{key}/scalars/")}
    if scalars:
        opt.set_scalar_state(scalars)
        consumed.update(f"{key}/scalars/{n}" for n in scalars)
    prefix = f"{key}/slots/"
    wanted = {}
    for k in arrays:
        if k.startswith(prefix):
            where, _, slot = k[len(prefix):].rpartition("/")
            if where in variables and slot in opt.slot_names:
                wanted.setdefault(where, variables[where])
    if not wanted:
        return
    tracked = opt.__dict__.get("_state_weights") or []
    if tracked and all(any(w is t for t in tracked) for w in wanted.values()):
        opt._build(sum(t.value.size for t in tracked), None)  # fit's flat state
    else:
        opt._variable_state(list(wanted.values()), "restore")
    where_of = {id(w): where for where, w in wanted.items()}
    for w, slots in opt._state_layout():
        where = where_of.get(id(w))
        if where is None:
            continue
        for name, slot in zip(opt.slot_names, slots):
            k = f"{prefix}{where}/{name}"
            if k in arrays:
                value = arrays[k]
                if value.size != np.size(slot):
                    raise ValueError(f"Checkpoint: optimizer state {k!r} has shape "
                                     f"{value.shape} in the file; the variable's is "
                                     f"{w.value.shape}")
                slot[...] = value.reshape(np.shape(slot))
                consumed.add(k)


# ---------------------------------------------------------------- the file

def _write_file(path, arrays, aliases=None):
    from .utils.io import atomic_write
    entries, payload = {}, []
    for i, (key, value) in enumerate(sorted(arrays.items())):
        value = np.array(value, order="C")  # (0-d stays 0-d)
        if value.dtype.name not in _DTYPES:
            raise TypeError(f"Checkpoint: {key!r} holds {value.dtype} values, which a "
                            f"checkpoint does not store")
        entry = f"values/{i:05d}.npy"
        entries[key] = {"path": entry, "shape": list(value.shape), "dtype": value.dtype.name}
        payload.append((entry, value))
    doc = {"format": _FORMAT, "format_version": 1, "values": entries}
    if aliases:
        doc["aliases"] = dict(sorted(aliases.items()))
    doc = json.dumps(doc, indent=1).encode("utf-8")
    with atomic_write(path, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_MANIFEST, doc)
            for entry, value in payload:
                with zf.open(entry, "w", force_zip64=value.nbytes > (1 << 30)) as out:
                    np.lib.format.write_array(out, value, allow_pickle=False)


def _file_of(path):
    """The checkpoint file of a prefix (or of the file's own name)."""
    path = os.fspath(path)
    return path if path.endswith(".index") else path + ".index"


def _read_file(path):
    """{key: array} of a checkpoint, every array checked against the
    manifest before it is used."""
    file = _file_of(path)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"Checkpoint: no checkpoint at {os.fspath(path)!r} (looked for "
                                f"{file!r})")

    def bad(why):
        return ValueError(f"Checkpoint {file!r} is damaged or not a pynn checkpoint: {why}")
    try:
        zf = zipfile.ZipFile(file, "r")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise bad(e) from None
    with zf:
        try:
            info = zf.getinfo(_MANIFEST)
        except KeyError:
            raise bad(f"it has no {_MANIFEST}") from None
        if info.file_size > _MAX_MANIFEST_BYTES:
            raise bad("its manifest is too large")
        try:
            doc = json.loads(zf.read(_MANIFEST).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile) as e:
            raise bad(f"its manifest is not JSON ({e})") from None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT or \
                not isinstance(doc.get("values"), dict):
            raise bad("its manifest is not a pynn checkpoint's")
        out = {}
        for key, entry in doc["values"].items():
            if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPES or \
                    not isinstance(entry.get("shape"), list) or \
                    not all(isinstance(d, int) and d >= 0 for d in entry["shape"]):
                raise bad(f"the entry of {key!r} is malformed")
            try:
                member = zf.getinfo(str(entry.get("path")))
            except KeyError:
                raise bad(f"the array of {key!r} is missing") from None
            nbytes = int(np.prod(entry["shape"], dtype=np.int64)) * \
                np.dtype(entry["dtype"]).itemsize
            if member.file_size > nbytes + (1 << 16):
                raise bad(f"the array of {key!r} is larger than its manifest says")
            with zf.open(member) as f:
                try:
                    value = np.load(f, allow_pickle=False)
                except (ValueError, OSError, EOFError) as e:
                    raise bad(f"the array of {key!r} cannot be read ({e})") from None
            if list(value.shape) != entry["shape"] or value.dtype.name != entry["dtype"]:
                raise bad(f"the array of {key!r} is not the {entry['dtype']} array of shape "
                          f"{tuple(entry['shape'])} its manifest says")
            out[key] = value
        aliases = doc.get("aliases", {})
        if not isinstance(aliases, dict) or not all(
                isinstance(a, str) and isinstance(t, str) and t in out
                for a, t in aliases.items()):
            raise bad("its aliases are malformed")
    return _FileValues(out, aliases)


# ------------------------------------------------------------ checkpoints

class _LoadStatus:
    """What ``Checkpoint.restore`` returns: which values of the file were
    used and which objects got none."""

    def __init__(self, unused, unmatched, restored):
        self.unused = sorted(unused)        # keys of the file nothing took
        self.unmatched = sorted(unmatched)  # keys of the program the file lacks
        self.restored = restored            # whether any object got a value

    def assert_consumed(self):
        """Raise unless every value of the file was restored and every
        object of the checkpoint got a value."""
        if self.unused or self.unmatched:
            raise AssertionError(f"Checkpoint: unrestored values in the file: {self.unused}; "
                                 f"objects with no value in the file: {self.unmatched}")
        return self

    def assert_existing_objects_matched(self):
        """Raise unless every object of the checkpoint got a value."""
        if self.unmatched:
            raise AssertionError(f"Checkpoint: objects with no value in the file: "
                                 f"{self.unmatched}")
        return self

    def assert_nontrivial_match(self):
        """Raise unless something was restored."""
        if not self.restored:
            raise AssertionError("Checkpoint: nothing in the file matched the checkpoint's "
                                 "objects")
        return self

    def expect_partial(self):
        """Values of the file that nothing took are expected (restoring
        only a model from a checkpoint that also holds its optimizer)."""
        return self

    def run_restore_ops(self, session=None):
        return None

    def initialize_or_restore(self, session=None):
        return None


class _NothingRestored(_LoadStatus):
    """restore(None): a fresh start (TensorFlow's initialization status)."""

    def __init__(self):
        super().__init__((), (), restored=False)

    def assert_consumed(self):
        raise AssertionError("Checkpoint: no checkpoint was restored (restore(None))")

    assert_existing_objects_matched = assert_consumed
    assert_nontrivial_match = assert_consumed


class Checkpoint:
    """``tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)``:
    the objects to save and restore, each named by its keyword (and
    readable as an attribute: ``ckpt.step``).  ``save`` numbers its files
    (``prefix-1``, ``prefix-2``, ... by ``save_counter``) and lists them in
    the folder's ``checkpoint`` file; ``write`` writes exactly the given
    prefix.  ``restore``/``read`` set every object's values (an optimizer's
    state is made for the variables it has none for yet)."""

    def __init__(self, root=None, **kwargs):
        from .tape import Variable
        children = dict(kwargs)
        if root is not None:
            children["root"] = root
        for name, value in children.items():
            if value is None:
                raise ValueError(f"Checkpoint: {name!r} is None; give an object to track")
            _collect(name, value, {}, [], set())  # (checks the types now)
        object.__setattr__(self, "_children", children)
        object.__setattr__(self, "save_counter", Variable(
            np.int64(0), trainable=False, dtype="int64", name="save_counter"))

    def __getattr__(self, name):
        children = self.__dict__.get("_children", {})
        if name in children:
            return children[name]
        raise AttributeError(f"'Checkpoint' object has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name in ("save_counter",) or name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        _collect(name, value, {}, [], set())
        if type(value) is list:
            value = ListWrapper(value, functools.partial(self._restore_later, name))
        elif type(value) is dict:
            value = _DictWrapper(value, functools.partial(self._restore_later, name))
        self._children[name] = value
        self._restore_later(name, None, value)

    def _restore_later(self, name, entry, value):
        """Give ``value``, attached (as ``name``, or as ``entry`` of the list
        or dict ``name``) after a restore, its values from that file now,
        as TensorFlow restores an object attached later."""
        pending = self.__dict__.get("_pending")
        if not pending:
            return
        key = name if entry is None else f"{name}/{entry}"
        values = pending.under(key)
        found = pending.find(key)
        if found is not None:
            values[""] = pending[found]
        Checkpoint(value=value)._apply(_FileValues(
            {f"value/{k}" if k else "value": v for k, v in values.items()}))

    def _arrays(self):
        """{key: array} of every value, and {attribute path: key} of the
        variables whose attribute path is not their key."""
        values, optimizers = _graph(self)
        values["save_counter"] = self.save_counter
        arrays = {key: np.array(w.value) for key, w in values.items()}
        by_id = {}
        for key, w in values.items():
            by_id.setdefault(id(w), key)
        paths = {}
        _attribute_paths("", self, paths, set())
        aliases = {path: by_id[id(w)] for path, w in paths.items()
                   if path not in values and id(w) in by_id}
        for key, opt in optimizers:
            if hasattr(opt, "_checkpoint_state"):
                arrays.update({f"{key}/{name}": value
                               for name, value in opt._checkpoint_state().items()})
            else:
                arrays.update(_optimizer_values(key, opt, by_id))
        return arrays, aliases

    def write(self, file_prefix, options=None):
        """Write the values to ``file_prefix`` (its ``.index`` file);
        returns the prefix."""
        file_prefix = os.fspath(file_prefix)
        folder = os.path.dirname(os.path.abspath(file_prefix))
        os.makedirs(folder, exist_ok=True)
        _write_file(_file_of(file_prefix), *self._arrays())
        return file_prefix

    def save(self, file_prefix, options=None):
        """Write the next numbered checkpoint, ``file_prefix-<n>``, and
        record it in the folder's ``checkpoint`` file; returns its path."""
        self.save_counter.assign_add(1)
        path = self.write(f"{os.fspath(file_prefix)}-{int(self.save_counter)}")
        folder = os.path.dirname(os.path.abspath(path))
        state = get_checkpoint_state(folder)
        paths = [] if state is None else [p for p in state.all_model_checkpoint_paths
                                          if os.path.abspath(p) != os.path.abspath(path)]
        _write_state(folder, path, paths + [path])
        return path

    def read(self, save_path, options=None):
        """Set the values of the checkpoint's objects from ``save_path``.
        A model or layer with no variables yet takes its values when it is
        built (its first call, ``build``, ``fit``), before it computes
        anything, as TensorFlow defers them; so does the optimizer's state
        for its variables."""
        arrays = _read_file(save_path)
        status = self._apply(arrays)
        # what nothing took waits for the objects that take it later
        left = _FileValues({k: v for k, v in arrays.items() if k in set(status.unused)},
                           arrays.aliases)
        for layer in _unbuilt(self, arrays):
            layer.__dict__["_restore_on_build"] = functools.partial(self._apply, left)
        _pend(self, left)
        return status

    def _apply(self, arrays):
        """Set the values ``arrays`` holds for the checkpoint's objects;
        returns the load status."""
        values, optimizers = _graph(self)
        values["save_counter"] = self.save_counter
        consumed, unmatched = set(), []
        find = arrays.find if isinstance(arrays, _FileValues) else \
            (lambda k: k if k in arrays else None)
        for key, w in values.items():
            found = find(key)
            if found is None:
                unmatched.append(key)
                continue
            value = arrays[found]
            if value.shape != w.value.shape:
                raise ValueError(f"Checkpoint: {key!r} ({w.path!r}) has shape {w.value.shape}, "
                                 f"the checkpoint's value {value.shape}")
            w.value[...] = value.astype(w.value.dtype, copy=False)
            consumed.add(found)
        for key, opt in optimizers:
            if hasattr(opt, "_checkpoint_state"):
                names = [f"{key}/{name}" for name in opt._checkpoint_state()]
                if all(k in arrays for k in names):
                    opt._restore_checkpoint_state({k[len(key) + 1:]: arrays[k] for k in names})
                    consumed.update(names)
                else:
                    unmatched.append(key)
            else:
                _restore_optimizer(key, opt, arrays, values, consumed)
        return _LoadStatus(set(arrays) - consumed, unmatched,
                           restored=bool(consumed - {"save_counter"}))

    def restore(self, save_path, options=None):
        """``read``; ``restore(None)`` (no checkpoint found yet) does
        nothing."""
        if save_path is None:
            return _NothingRestored()
        return self.read(save_path, options)


class ListWrapper(list):
    """A list attached to a Checkpoint (TensorFlow's ListWrapper): a
    variable appended (or set at an index) after a restore takes its value
    from that checkpoint, as the one attached at that index was saved."""

    def __init__(self, items, on_add):
        super().__init__(items)
        self._on_add = on_add

    def _added(self, index, item):
        _collect(str(index), item, {}, [], set())  # (checks the type now)
        self._on_add(index, item)

    def append(self, item):
        super().append(item)
        self._added(len(self) - 1, item)

    def extend(self, items):
        for item in items:
            self.append(item)

    def insert(self, index, item):
        super().insert(index, item)
        self._added(self.index(item), item)

    def __setitem__(self, index, item):
        super().__setitem__(index, item)
        if isinstance(index, int):
            self._added(index % len(self), item)

    def __iadd__(self, items):
        self.extend(items)
        return self

    def __repr__(self):
        return f"ListWrapper({super().__repr__()})"


class _DictWrapper(dict):
    """A dict attached to a Checkpoint: a variable set under a key after a
    restore takes that key's value from the checkpoint."""

    def __init__(self, items, on_add):
        super().__init__(items)
        self._on_add = on_add

    def __setitem__(self, key, item):
        _collect(str(key), item, {}, [], set())
        super().__setitem__(key, item)
        self._on_add(key, item)

    def update(self, *args, **kwargs):
        for key, item in dict(*args, **kwargs).items():
            self[key] = item

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def __repr__(self):
        return f"_DictWrapper({super().__repr__()})"


def _pend(checkpoint, arrays):
    """Keep the file's values with ``checkpoint`` and the checkpoints
    inside it, for the objects attached to them later."""
    checkpoint.__dict__["_pending"] = arrays
    for name, child in checkpoint._children.items():
        if isinstance(child, Checkpoint):
            _pend(child, arrays.under(name))


def _unbuilt(checkpoint, arrays):
    """The models and layers of the checkpoint without variables yet whose
    values the file holds."""
    out = []
    for name, obj in checkpoint._children.items():
        if isinstance(obj, Layer) and not obj.weights and \
                any(k.startswith(f"{name}/variables/") for k in arrays):
            out.append(obj)
        if isinstance(obj, Checkpoint):
            out += _unbuilt(obj, {k[len(name) + 1:]: v for k, v in arrays.items()
                                  if k.startswith(name + "/")})
    return out


# ---------------------------------------------------- the checkpoint file

class _CheckpointState:
    def __init__(self, model_checkpoint_path, all_model_checkpoint_paths):
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = list(all_model_checkpoint_paths)


def _write_state(folder, latest, paths):
    from .utils.io import atomic_write

    def rel(p):
        p = os.path.abspath(p)
        return os.path.relpath(p, folder) if os.path.dirname(p) == folder else p
    lines = [f"model_checkpoint_path: {json.dumps(rel(latest))}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(rel(p))}" for p in paths]
    with atomic_write(os.path.join(folder, _STATE_FILE), "w") as f:
        f.write("\n".join(lines) + "\n")


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The folder's ``checkpoint`` file: ``model_checkpoint_path`` and
    ``all_model_checkpoint_paths`` (full paths), or None."""
    folder = os.path.abspath(os.fspath(checkpoint_dir))
    path = os.path.join(folder, latest_filename or _STATE_FILE)
    if not os.path.isfile(path):
        return None
    latest, paths = None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*'
                         r'("(?:[^"\\]|\\.)*")\s*$', line)
            if m is None:
                continue
            value = json.loads(m.group(2))
            value = value if os.path.isabs(value) else os.path.join(folder, value)
            if m.group(1) == "model_checkpoint_path":
                latest = value
            else:
                paths.append(value)
    if latest is None:
        return None
    return _CheckpointState(latest, paths)


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint in ``checkpoint_dir`` (from its
    ``checkpoint`` file), or None when there is none."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not os.path.isfile(_file_of(state.model_checkpoint_path)):
        return None
    return state.model_checkpoint_path


def list_variables(ckpt_dir_or_file):
    """[(key, shape)] of the values in a checkpoint (or a folder's newest)."""
    shapes = CheckpointReader(_resolve(ckpt_dir_or_file)).get_variable_to_shape_map()
    return sorted(shapes.items())


def load_variable(ckpt_dir_or_file, name):
    """The value stored under ``name`` in a checkpoint."""
    return load_checkpoint(ckpt_dir_or_file).get_tensor(name)


class CheckpointReader:
    """The values of a checkpoint by key (tf.train.load_checkpoint's)."""

    def __init__(self, path):
        self._arrays = _read_file(path)

    def _names(self):
        """{name: key}: the keys, and each variable's attribute path as
        TensorFlow names its value (``net/l1/kernel/.ATTRIBUTES/VARIABLE_VALUE``)."""
        names = {k: k for k in self._arrays}
        names.update({f"{a}/{_VALUE_SUFFIX}": t for a, t in self._arrays.aliases.items()})
        return names

    def _key(self, name):
        names = self._names()
        if name in names:
            return names[name]
        return self._arrays.find(name[:-len(_VALUE_SUFFIX) - 1]
                                 if name.endswith("/" + _VALUE_SUFFIX) else name)

    def get_variable_to_shape_map(self):
        return {n: list(self._arrays[k].shape) for n, k in self._names().items()}

    def get_variable_to_dtype_map(self):
        from .dtypes import as_dtype
        return {n: as_dtype(self._arrays[k].dtype.name) for n, k in self._names().items()}

    def has_tensor(self, key):
        return self._key(key) is not None

    def get_tensor(self, key):
        found = self._key(key)
        if found is None:
            raise ValueError(f"Checkpoint has no value {key!r}; it holds "
                             f"{sorted(self._names())}")
        return np.array(self._arrays[found])


def load_checkpoint(ckpt_dir_or_file):
    """A CheckpointReader of a checkpoint (or of a folder's newest)."""
    return CheckpointReader(_resolve(ckpt_dir_or_file))


def _resolve(ckpt_dir_or_file):
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        found = latest_checkpoint(path)
        if found is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given "
                             f"directory {path}")
        return found
    return path


class CheckpointManager:
    """Numbered checkpoints of ``checkpoint`` in ``directory``
    (``ckpt-1``, ``ckpt-2``, ...), the newest ``max_to_keep`` kept (all
    with None), listed in the folder's ``checkpoint`` file."""

    def __init__(self, checkpoint, directory, max_to_keep, keep_checkpoint_every_n_hours=None,
                 checkpoint_name="ckpt", step_counter=None, checkpoint_interval=None,
                 init_fn=None):
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"CheckpointManager: expected a Checkpoint, got "
                            f"{type(checkpoint).__name__}")
        if max_to_keep is not None and int(max_to_keep) <= 0:
            raise ValueError(f"CheckpointManager: max_to_keep must be a positive integer or "
                             f"None, got {max_to_keep!r}")
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError("CheckpointManager: checkpoint_interval needs step_counter")
        self._checkpoint = checkpoint
        self.directory = os.fspath(directory)
        self._max_to_keep = None if max_to_keep is None else int(max_to_keep)
        self._keep_hours = keep_checkpoint_every_n_hours
        self._prefix = os.path.join(self.directory, checkpoint_name)
        self._step_counter = step_counter
        self.checkpoint_interval = checkpoint_interval
        self._init_fn = init_fn
        self._last_step = None
        state = get_checkpoint_state(self.directory)
        self._checkpoints = [] if state is None else [
            p for p in state.all_model_checkpoint_paths if os.path.isfile(_file_of(p))]
        self._last_preserved = time.time()

    @property
    def checkpoints(self):
        """The kept checkpoints' prefixes, oldest first."""
        return list(self._checkpoints)

    @property
    def latest_checkpoint(self):
        return self._checkpoints[-1] if self._checkpoints else None

    @property
    def checkpoint(self):
        return self._checkpoint

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        """Write the next checkpoint (numbered ``checkpoint_number``, else
        the checkpoint's save counter after it is incremented), drop the
        oldest beyond ``max_to_keep``; returns its prefix (None when the
        interval since the last save's step has not passed)."""
        if self.checkpoint_interval is not None and check_interval:
            step = int(np.asarray(self._step_counter.value if isinstance(
                self._step_counter, Weight) else self._step_counter))
            if self._last_step is not None and step < self._last_step + \
                    self.checkpoint_interval:
                return None
            self._last_step = step
        os.makedirs(self.directory, exist_ok=True)
        self._checkpoint.save_counter.assign_add(1)
        number = int(self._checkpoint.save_counter) if checkpoint_number is None else \
            int(np.asarray(getattr(checkpoint_number, "value", checkpoint_number)))
        path = self._checkpoint.write(f"{self._prefix}-{number}")
        self._checkpoints = [p for p in self._checkpoints
                             if os.path.abspath(p) != os.path.abspath(path)] + [path]
        if self._max_to_keep is not None:
            while len(self._checkpoints) > self._max_to_keep:
                old = self._checkpoints.pop(0)
                try:
                    made = os.path.getmtime(_file_of(old))
                except FileNotFoundError:
                    continue
                if self._keep_hours is not None and \
                        made - float(self._keep_hours) * 3600 >= self._last_preserved:
                    self._last_preserved = made  # kept on disk, no longer managed
                    continue
                os.remove(_file_of(old))
        _write_state(os.path.abspath(self.directory), path, self._checkpoints)
        return path

    def restore_or_initialize(self):
        """Restore the newest checkpoint and return its prefix, or call
        ``init_fn`` (when given) and return None."""
        if self.latest_checkpoint is not None:
            self._checkpoint.restore(self.latest_checkpoint)
            return self.latest_checkpoint
        if self._init_fn is not None:
            self._init_fn()
        return None

    def sync(self):
        """Nothing to wait for: saves are written when they return."""
