"""KerasFileEditor (Keras 3's keras.saving.KerasFileEditor): the weights
of a ``.keras`` or ``.weights.h5`` file as a nested dict, to inspect,
compare with a model, rename, delete or add, and save as a new
``.weights.h5`` file that Keras and pynn load."""
import collections
import io
import json
import math
import os
import zipfile

import numpy as np

from .common import check_readable, require_h5py
from .keras_format import _CONFIG, _MAX_CONFIG_BYTES, _METADATA, _WEIGHTS, _h5_bytes

_MAX_ARRAY_BYTES = 1 << 32  # what one dataset may hold (4 GiB), as Keras allows


class KerasFileEditor:
    """Opens ``filepath`` (a ``.keras`` model or a ``.weights.h5`` file)
    and prints what it is.  ``weights_dict`` holds the weights as Keras's
    file lays them out (``{'layers': {'dense': {'0': kernel, '1': bias}}}``,
    each object's ``vars`` group folded into it); the editing methods
    change it, and :meth:`save` writes it out."""

    def __init__(self, filepath):
        self.filepath = os.fspath(filepath)
        self.metadata = None
        self.config = None
        self.model = None
        path = check_readable(self.filepath)
        h5py = require_h5py(path)
        if path.endswith(".keras"):
            with zipfile.ZipFile(path, "r") as zf:
                self.config = json.loads(_read_member(zf, _CONFIG))
                self.metadata = json.loads(_read_member(zf, _METADATA))
                weights = io.BytesIO(zf.read(_WEIGHTS))
            store = h5py.File(weights, "r")
        elif path.endswith(".weights.h5"):
            store = h5py.File(path, "r")
        else:
            raise ValueError(f"Invalid filename: expected a `.keras` `.weights.h5` extension. "
                             f"Received: filepath={self.filepath}")
        with store:
            self.weights_dict, self.object_metadata = _extract(h5py, store)
        print(f"Keras model file '{self.filepath}'")
        if self.metadata is not None:
            print(f"Saved with Keras {self.metadata.get('keras_version')} - date: "
                  f"{self.metadata.get('date_saved')}")

    # ------------------------------------------------------------ looking

    def summary(self):
        """Print the tree of objects and weights (shape and dtype)."""
        print("Weights structure")
        self._print_tree(self.weights_dict, "  ", "")

    def _print_tree(self, tree, prefix, path):
        items = list(tree.items())
        for i, (key, value) in enumerate(items):
            inner = f"{path}/{key}"
            connector = "> " if i == 0 and not path else ("└─ " if i == len(items) - 1
                                                          else "├─ ")
            if isinstance(value, dict):
                name = self.object_metadata.get(inner, {}).get("name")
                print(f"{prefix}{connector}{key}" + (f" ('{name}')" if name else ""))
                self._print_tree(value, prefix + ("    " if i == len(items) - 1 else "│   "),
                                 inner)
            else:
                print(f"{prefix}{connector}{key}: shape={value.shape}, dtype={value.dtype}")

    def compare(self, reference_model):
        """Check the file's weights against ``reference_model``'s: every
        object and weight present in both, with equal shapes.  Prints what
        differs; returns {'status': 'success' or 'error', 'error_count',
        'match_count'}."""
        print("Running comparison")
        h5py = require_h5py(self.filepath)
        compiled = bool(getattr(reference_model, "compiled", False))
        with h5py.File(io.BytesIO(_h5_bytes(reference_model, compiled, self.filepath)),
                       "r") as f:
            reference, _ = _extract(h5py, f)
        checked = set()
        errors, matches = _compare(self.weights_dict, reference, "", "saved file",
                                   "reference model", checked)
        more, _ = _compare(reference, self.weights_dict, "", "reference model", "saved file",
                           checked)
        errors += more
        print("─────────────────────")
        if errors == 0:
            print("Comparison successful: saved file is compatible with the reference model")
            print(f"    Found {matches} matching weight{'' if matches == 1 else 's'}")
        else:
            print(f"Found {errors} error{'' if errors == 1 else 's'}: saved file is not "
                  f"compatible with the reference model")
        return {"status": "success" if errors == 0 else "error", "error_count": errors,
                "match_count": matches}

    # ------------------------------------------------------------ editing

    def _edit_object(self, edit, source_name, target_name=None):
        """Apply ``edit(parent dict, source_name, target_name)`` where the
        object is: a full path (``layers/dense``), or a name found once."""
        if target_name is not None and "/" in target_name:
            raise ValueError(f"Argument `target_name` should be a leaf name, not a full path "
                             f"name. Received: target_name='{target_name}'")
        if "/" in source_name:
            parts = source_name.split("/")
            parent = self.weights_dict
            for p in parts[:-1]:
                if not isinstance(parent.get(p), dict):
                    raise ValueError(f"Path '{source_name}' not found in model.")
                parent = parent[p]
            if parts[-1] not in parent:
                raise ValueError(f"Path '{source_name}' not found in model.")
            edit(parent, parts[-1], target_name)
            return
        parents = list(_parents_holding(self.weights_dict, source_name))
        if len(parents) > 1:
            raise ValueError(f"Name '{source_name}' occurs more than once in the model; try "
                             f"passing a complete path")
        if not parents:
            raise ValueError(f"Source name '{source_name}' does not appear in the model. Use "
                             f"`editor.summary()` to list all objects.")
        edit(parents[0], source_name, target_name)

    def rename_object(self, object_name, new_name):
        """Rename an object (its path, or a name found once) to ``new_name``."""
        def rename(parent, source, target):
            parent[target] = parent.pop(source)
        self._edit_object(rename, object_name, new_name)

    def delete_object(self, object_name):
        """Remove an object and its weights."""
        self._edit_object(lambda parent, source, _: parent.pop(source), object_name)

    def add_object(self, object_path, weights):
        """Add an object at ``object_path`` holding ``weights`` (a dict of
        weight names, usually '0', '1', ..., to arrays)."""
        _check_weights(weights)
        parts = object_path.split("/")
        parent = self.weights_dict
        for p in parts[:-1]:
            if not isinstance(parent.get(p), dict):
                raise ValueError(f"Path '{'/'.join(parts[:-1])}' not found in model.")
            parent = parent[p]
        parent[parts[-1]] = {k: np.asarray(v) for k, v in weights.items()}

    def delete_weight(self, object_name, weight_name):
        """Remove one weight of an object."""
        def delete(parent, source, _):
            if weight_name not in parent[source]:
                raise ValueError(f"Weight {weight_name} not found in object {object_name}. "
                                 f"Weights found: {list(parent[source].keys())}")
            parent[source].pop(weight_name)
        self._edit_object(delete, object_name)

    def add_weights(self, object_name, weights):
        """Add weights (a dict of names to arrays) to an object."""
        _check_weights(weights)
        self._edit_object(lambda parent, source, _: parent[source].update(
            {k: np.asarray(v) for k, v in weights.items()}), object_name)

    def save(self, filepath):
        """Write the weights as a ``.weights.h5`` file (atomically)."""
        from ..utils.io import atomic_write
        filepath = os.fspath(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError(f"Invalid `filepath` argument: expected a `.weights.h5` "
                             f"extension. Received: filepath={filepath}")
        h5py = require_h5py(filepath)
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            _write(f, self.weights_dict, "")
        with atomic_write(filepath, "wb") as out:
            out.write(buf.getvalue())

    def resave_weights(self, filepath):
        self.save(filepath)


def _read_member(zf, name):
    info = zf.getinfo(name)
    if info.file_size > _MAX_CONFIG_BYTES:
        raise ValueError(f"{name} is {info.file_size} bytes, more than the "
                         f"{_MAX_CONFIG_BYTES} it may hold")
    return zf.read(name)


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ValueError(f"Argument `weights` should be a dict where keys are weight names "
                         f"(usually '0', '1', etc.) and values are NumPy arrays. Received: "
                         f"type(weights)={type(weights)}")


def _parents_holding(tree, name):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _parents_holding(value, name)
    if name in tree:
        yield tree


def _extract(h5py, group, metadata=None, path=""):
    """(nested dict of the group's arrays, {path: attributes}); a group's
    ``vars`` subgroup is folded into it and empty groups are left out.
    Links, external and virtual datasets and oversized arrays are refused
    before anything is read."""
    metadata = {} if metadata is None else metadata
    attrs = dict(group.attrs.items())
    if attrs:
        metadata[path] = attrs
    out = collections.OrderedDict()
    for key in group.keys():
        inner = f"{path}/{key}"
        link = group.get(key, default=None, getclass=True, getlink=True)
        if link in (h5py.ExternalLink, h5py.SoftLink):
            raise ValueError(f"Not allowed: H5 file with {link.__name__}")
        value = group[key]
        if isinstance(value, h5py.Group):
            if len(value) == 0:
                continue
            if "vars" in value.keys():
                if len(value["vars"]) == 0:
                    continue
                value = value["vars"]
            out[key], metadata = _extract(h5py, value, metadata, inner)
            continue
        if not isinstance(value, h5py.Dataset):
            continue
        if value.external:
            raise ValueError(f"Not allowed: H5 file Dataset with external links: "
                             f"{value.external}")
        if value.is_virtual:
            raise ValueError(f"Not allowed: H5 file with virtual Dataset at {inner}")
        if any(d < 0 for d in value.shape) or len(value.shape) > 64:
            raise ValueError(f"Malformed HDF5 dataset shape {value.shape} at {inner}")
        size = math.prod(value.shape) * value.dtype.itemsize
        if size > _MAX_ARRAY_BYTES:
            raise ValueError(f"HDF5 dataset too large to load safely ({size} bytes; limit is "
                             f"{_MAX_ARRAY_BYTES}).")
        out[key] = value[()]
    return out, metadata


def _compare(target, reference, path, target_name, ref_name, checked):
    """(errors, matches) of ``reference``'s entries looked up in ``target``."""
    errors = matches = 0
    for key, ref in reference.items():
        inner = f"{path}/{key}"
        if inner in checked:
            continue
        if key not in target:
            errors += 1
            checked.add(inner)
            if isinstance(ref, dict):
                print(f"...Object {inner} present in {ref_name}, missing from {target_name}")
                print(f"    In {ref_name}, {inner} contains the following keys: "
                      f"{list(ref.keys())}")
            else:
                print(f"...Weight {inner} present in {ref_name}, missing from {target_name}")
        elif isinstance(ref, dict):
            e, m = _compare(target[key], ref, inner, target_name, ref_name, checked)
            errors, matches = errors + e, matches + m
        elif np.shape(target[key]) != np.shape(ref):
            errors += 1
            checked.add(inner)
            print(f"...Weight shape mismatch for {inner}\n    In {ref_name}: "
                  f"shape={np.shape(ref)}\n    In {target_name}: shape={np.shape(target[key])}")
        else:
            matches += 1
    return errors, matches


def _write(f, tree, path):
    """Keras's layout: each object's arrays in a ``vars`` group under it."""
    arrays = {k: v for k, v in tree.items() if not isinstance(v, dict)}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            _write(f, value, f"{path}/{key}" if path else key)
    if arrays:
        group = f.create_group(f"{path}/vars" if path else "vars")
        for key, value in arrays.items():
            group.create_dataset(key, data=np.asarray(value))
