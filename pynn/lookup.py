"""tf.lookup: tables that map keys (strings or integers) to values, as
TensorFlow's, built from an initializer (keys and values given, or the
columns of a text file) and looked up on tensors of any shape, eagerly or
in a Dataset's ``map``.

``StaticHashTable`` gives ``default_value`` for a key it lacks;
``StaticVocabularyTable`` gives ids, a key it lacks going to one of
``num_oov_buckets`` ids after the vocabulary's, by FarmHash's Fingerprint64
of the key (tf.strings.to_hash_bucket_fast), so the buckets are
TensorFlow's; ``experimental.MutableHashTable`` takes insertions and
removals.  String keys and values are held as TensorFlow holds them,
UTF-8 bytes; a lookup takes str or bytes alike.
"""
import os
import types

import numpy as np

from . import ops
from .dtypes import as_dtype, int64, string
from .tensor import eager


class TextFileIndex:
    """Which part of a text file's line is a key or a value: a column
    number (the line split at the delimiter), ``WHOLE_LINE`` or
    ``LINE_NUMBER`` (from 0)."""
    WHOLE_LINE = -2
    LINE_NUMBER = -1


def _is_text_dtype(dtype):
    return as_dtype(dtype) == string


def _text(v):
    """One string key as str (bytes decoded as UTF-8)."""
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8")
    return str(v)


def _tensor(values, dtype, what, who):
    """``values`` as a 1-D array of ``dtype`` (None: TensorFlow's, int32 for
    Python ints, float32 for floats, bytes for strings)."""
    from .backend import constant_tensor
    if isinstance(values, (str, bytes)):
        values = [values]
    if dtype is not None and _is_text_dtype(dtype):
        arr = np.asarray(values, dtype=object)
        arr = np.frompyfunc(lambda s: _text(s).encode("utf-8"), 1, 1)(arr).astype(object) \
            if arr.size else arr
    elif dtype is None and isinstance(values, np.ndarray) and values.dtype.kind not in "OSU":
        arr = np.asarray(values)   # (a tensor keeps its dtype, int64 ids included)
    else:
        arr = np.asarray(constant_tensor(values, None if dtype is None else as_dtype(dtype)))
    if arr.ndim != 1:
        raise ValueError(f"{who}: {what} must be 1-D, got shape {arr.shape}")
    return arr


def _dtype_of(arr):
    return string if arr.dtype.kind in "OSU" else as_dtype(arr.dtype)


class KeyValueTensorInitializer:
    """A table's contents given as two 1-D tensors: ``keys`` and the
    ``values`` they map to, element by element."""

    def __init__(self, keys, values, key_dtype=None, value_dtype=None, name=None):
        who = "KeyValueTensorInitializer"
        self._keys = _tensor(keys, key_dtype, "keys", who)
        self._values = _tensor(values, value_dtype, "values", who)
        if self._keys.shape != self._values.shape:
            raise ValueError(f"{who}: keys and values must have the same length, got shapes "
                             f"{self._keys.shape} and {self._values.shape}")
        self.key_dtype = _dtype_of(self._keys)
        self.value_dtype = _dtype_of(self._values)
        self._name = name

    def _pairs(self):
        return self._keys, self._values


class TextFileInitializer:
    """A table's contents read from a text file: one entry per line, the
    key and the value each a column of the line split at ``delimiter``,
    the whole line (``TextFileIndex.WHOLE_LINE``) or its number
    (``TextFileIndex.LINE_NUMBER``, plus ``value_index_offset`` for the
    values); only the first ``vocab_size`` lines when given."""

    def __init__(self, filename, key_dtype, key_index, value_dtype, value_index,
                 vocab_size=None, delimiter="\t", name=None, value_index_offset=0):
        who = "TextFileInitializer"
        if isinstance(filename, np.ndarray):
            filename = filename[()]
        self._filename = os.fspath(_text(filename) if isinstance(
            filename, (bytes, np.bytes_)) else filename)
        self.key_dtype, self.value_dtype = as_dtype(key_dtype), as_dtype(value_dtype)
        for index, dtype, what in ((key_index, self.key_dtype, "key"),
                                   (value_index, self.value_dtype, "value")):
            if not isinstance(index, (int, np.integer)) or index < -2:
                raise ValueError(f"{who}: {what}_index must be a column number (>= 0), "
                                 f"TextFileIndex.WHOLE_LINE or TextFileIndex.LINE_NUMBER, "
                                 f"got {index!r}")
            if index == TextFileIndex.LINE_NUMBER and dtype != int64:
                raise ValueError(f"{who}: the line number as {what} needs {what}_dtype int64, "
                                 f"got {dtype.name}")
            if index == TextFileIndex.WHOLE_LINE and dtype != string and \
                    not dtype.is_integer and not dtype.is_floating:
                raise ValueError(f"{who}: {what}_dtype {dtype.name} cannot hold a line")
        if vocab_size is not None and (not isinstance(vocab_size, (int, np.integer)) or
                                       vocab_size < 1):
            raise ValueError(f"{who}: vocab_size must be a positive integer, got "
                             f"{vocab_size!r}")
        self._key_index, self._value_index = int(key_index), int(value_index)
        self._vocab_size = vocab_size
        self._delimiter = delimiter
        self._offset = int(value_index_offset)
        self._name = name

    def _pairs(self):
        who = f"TextFileInitializer({self._filename!r})"
        with open(self._filename, "rb") as f:
            text = f.read().decode("utf-8")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()   # (the file's last newline ends a line, it starts none)
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        if self._vocab_size is not None:
            if len(lines) < self._vocab_size:
                raise ValueError(f"{who}: vocab_size {self._vocab_size} but the file has "
                                 f"{len(lines)} lines")
            lines = lines[:self._vocab_size]
        keys, values = [], []
        for number, line in enumerate(lines):
            if not line:
                raise ValueError(f"{who}: empty line found at position {number}")
            columns = line.split(self._delimiter) if self._delimiter else line.split()
            for index, dtype, out, offset in ((self._key_index, self.key_dtype, keys, 0),
                                              (self._value_index, self.value_dtype, values,
                                               self._offset)):
                if index == TextFileIndex.LINE_NUMBER:
                    out.append(number + offset)
                    continue
                if index == TextFileIndex.WHOLE_LINE:
                    field = line
                elif index < len(columns):
                    field = columns[index]
                else:
                    raise ValueError(f"{who}: line {number} has {len(columns)} columns, "
                                     f"column {index} is needed: {line!r}")
                if dtype == string:
                    out.append(field.encode("utf-8"))
                    continue
                try:
                    out.append(int(field) if dtype.is_integer else float(field))
                except ValueError:
                    raise ValueError(f"{who}: line {number}: {field!r} is not a "
                                     f"{dtype.name}") from None
        as_array = lambda v, d: np.array(v, dtype=object) if d == string else \
            np.array(v, dtype=d.as_numpy_dtype)
        return as_array(keys, self.key_dtype), as_array(values, self.value_dtype)


def _key_of(dtype):
    """How a table holds one key of ``dtype``."""
    if dtype == string:
        return _text
    if dtype.is_integer:
        return int
    return float


def _apply(keys, fn, who):
    """``fn`` over the keys of a tensor, a list, a RaggedTensor (its values)
    or a SparseTensor (its values): the same structure back."""
    from .ragged import RaggedTensor
    from .sparse import SparseTensor
    if isinstance(keys, RaggedTensor):
        return keys.with_flat_values(_apply(keys.flat_values, fn, who))
    if isinstance(keys, SparseTensor):
        return SparseTensor(keys.indices, _apply(keys.values, fn, who), keys.dense_shape)
    return eager(fn(np.asarray(keys if not isinstance(keys, (str, bytes)) else
                               np.array(keys, dtype=object))))


class _Table:
    """What the tables share: keys held in a dict, looked up on any shape."""

    def __init__(self, key_dtype, value_dtype, default_value, name):
        self._key_dtype, self._value_dtype = as_dtype(key_dtype), as_dtype(value_dtype)
        self._entries = {}
        self._name = name or type(self).__name__
        default = np.asarray(_tensor([default_value] if np.ndim(default_value) == 0 else
                                     default_value, self._value_dtype, "default_value",
                                     type(self).__name__))
        if default.shape != (1,):
            raise ValueError(f"{type(self).__name__}: default_value must be a scalar, got "
                             f"{default_value!r}")
        self._default = default[0]

    key_dtype = property(lambda self: self._key_dtype)
    value_dtype = property(lambda self: self._value_dtype)
    name = property(lambda self: self._name)

    @property
    def default_value(self):
        return eager(np.array(self._default, dtype=self._numpy_value_dtype()))

    def _numpy_value_dtype(self):
        return object if self._value_dtype == string else self._value_dtype.as_numpy_dtype

    def _normalized(self, keys):
        """The flat keys as the dict holds them, checked against the key
        dtype."""
        flat = np.asarray(keys).reshape(-1)
        text = flat.dtype.kind in "OSU"
        if text != (self._key_dtype == string) or flat.dtype.kind == "f" and \
                self._key_dtype.is_integer:
            if flat.size:
                raise TypeError(f"{type(self).__name__} {self._name!r}: keys must be "
                                f"{self._key_dtype.name}, got {flat.dtype} keys")
        key = _key_of(self._key_dtype)
        return [key(k) for k in flat.tolist()]

    def _insert(self, keys, values, replace):
        for k, v in zip(self._normalized(keys), np.asarray(values).tolist()):
            if not replace and k in self._entries and self._entries[k] != v:
                raise ValueError(f"{type(self).__name__} {self._name!r}: key {k!r} is given "
                                 f"two values, {self._entries[k]!r} and {v!r}")
            self._entries[k] = v

    def _lookup_values(self, keys, default=None):
        arr = np.asarray(keys)
        default = self._default if default is None else default
        found = [self._entries.get(k, default) for k in self._normalized(arr)]
        return np.array(found, dtype=self._numpy_value_dtype()).reshape(arr.shape)

    def lookup(self, keys, name=None):
        """The value of each key (``default_value`` for a key not in the
        table), in the keys' shape."""
        return _apply(keys, self._lookup_values, f"{type(self).__name__}.lookup")

    __getitem__ = lookup

    def size(self, name=None):
        """How many keys the table holds, an int64 scalar."""
        return eager(np.array(len(self._entries), np.int64))

    def export(self, name=None):
        """(keys, values): the table's contents as two 1-D tensors."""
        keys = list(self._entries)
        if self._key_dtype == string:
            keys = np.array([k.encode("utf-8") for k in keys], dtype=object)
        else:
            keys = np.array(keys, dtype=self._key_dtype.as_numpy_dtype)
        values = np.array(list(self._entries.values()), dtype=self._numpy_value_dtype())
        return eager(keys), eager(values)


def _bytes_values(values):
    if values.dtype.kind in "OSU":
        return np.array([_text(v).encode("utf-8") for v in values.tolist()], dtype=object)
    return values


class StaticHashTable(_Table):
    """An immutable table filled by ``initializer`` (a
    KeyValueTensorInitializer or TextFileInitializer); ``lookup`` gives
    ``default_value`` for a key it lacks."""

    def __init__(self, initializer, default_value, name=None, experimental_is_anonymous=False):
        if not hasattr(initializer, "_pairs"):
            raise TypeError(f"StaticHashTable: initializer must be a "
                            f"KeyValueTensorInitializer or TextFileInitializer, got "
                            f"{type(initializer).__name__}")
        keys, values = initializer._pairs()
        super().__init__(initializer.key_dtype, initializer.value_dtype, default_value, name)
        self._insert(keys, _bytes_values(values), replace=False)
        self._initializer = initializer

    @property
    def resource_handle(self):
        return self


class StaticVocabularyTable:
    """Ids of keys: a key of the vocabulary (``initializer``'s keys, its
    values int64 ids) gets its id, any other key ``vocabulary size +
    Fingerprint64(key) % num_oov_buckets`` (TensorFlow's hash: an integer
    key hashes as its decimal text).  Without an initializer every key
    goes to a bucket."""

    def __init__(self, initializer, num_oov_buckets, lookup_key_dtype=None, name=None,
                 experimental_is_anonymous=False):
        if isinstance(num_oov_buckets, bool) or not isinstance(num_oov_buckets, (int, np.integer)) \
                or num_oov_buckets < 1:
            raise ValueError(f"StaticVocabularyTable: num_oov_buckets must be a positive "
                             f"integer (use StaticHashTable for none), got "
                             f"{num_oov_buckets!r}")
        self._num_oov_buckets = int(num_oov_buckets)
        self._name = name or "StaticVocabularyTable"
        self._table = None
        if initializer is not None:
            if initializer.value_dtype != int64:
                raise TypeError(f"StaticVocabularyTable: the initializer's values must be "
                                f"int64 ids, got {initializer.value_dtype.name}")
            self._table = StaticHashTable(initializer, -1, name=self._name)
        key_dtype = initializer.key_dtype if initializer is not None else \
            as_dtype(lookup_key_dtype or string)
        if key_dtype != string and not key_dtype.is_integer:
            raise TypeError(f"StaticVocabularyTable: keys must be strings or integers, got "
                            f"{key_dtype.name}")
        self._key_dtype = key_dtype

    key_dtype = property(lambda self: self._key_dtype)
    value_dtype = property(lambda self: int64)
    name = property(lambda self: self._name)

    def _vocabulary_size(self):
        return 0 if self._table is None else len(self._table._entries)

    def size(self, name=None):
        """The vocabulary's size plus the OOV buckets, an int64 scalar."""
        return eager(np.array(self._vocabulary_size() + self._num_oov_buckets, np.int64))

    def _ids(self, keys):
        arr = np.asarray(keys)
        if self._table is not None:
            ids = self._table._lookup_values(arr).astype(np.int64)
        else:
            if arr.size and (arr.dtype.kind in "OSU") != (self._key_dtype == string):
                raise TypeError(f"StaticVocabularyTable {self._name!r}: keys must be "
                                f"{self._key_dtype.name}, got {arr.dtype} keys")
            ids = np.full(arr.shape, -1, np.int64)
        missing = ids < 0
        if missing.any():
            outside = arr[missing]
            if outside.dtype.kind == "O":
                outside = np.array([_text(v) for v in outside.tolist()], dtype=object)
            ids[missing] = self._vocabulary_size() + ops.hash_buckets(
                outside, self._num_oov_buckets)
        return ids

    def lookup(self, keys, name=None):
        """The id of each key, in the keys' shape."""
        return _apply(keys, self._ids, "StaticVocabularyTable.lookup")

    __getitem__ = lookup

    @property
    def resource_handle(self):
        return self


class MutableHashTable(_Table):
    """A table that takes ``insert`` (a key given again takes the new
    value) and ``remove``; ``lookup`` gives ``default_value`` (or
    ``dynamic_default_values``, one per key) for a key it lacks."""

    def __init__(self, key_dtype, value_dtype, default_value, name="MutableHashTable",
                 checkpoint=True, experimental_is_anonymous=False):
        super().__init__(key_dtype, value_dtype, default_value, name)

    def insert(self, keys, values, name=None):
        keys = np.asarray(keys if not isinstance(keys, (str, bytes)) else [keys])
        values = _tensor(np.asarray(values).reshape(-1).tolist(), self._value_dtype, "values",
                         "MutableHashTable.insert")
        if keys.reshape(-1).shape != values.shape:
            raise ValueError(f"MutableHashTable.insert: keys of shape {keys.shape} and values "
                             f"of shape {values.shape} differ in size")
        self._insert(keys, _bytes_values(values), replace=True)

    def remove(self, keys, name=None):
        for k in self._normalized(np.asarray(keys if not isinstance(keys, (str, bytes))
                                             else [keys])):
            self._entries.pop(k, None)

    def lookup(self, keys, dynamic_default_values=None, name=None):
        if dynamic_default_values is None:
            return super().lookup(keys, name)
        arr = np.asarray(keys if not isinstance(keys, (str, bytes)) else [keys])
        defaults = _bytes_values(np.broadcast_to(np.asarray(dynamic_default_values),
                                                 arr.shape).reshape(-1))
        out = self._lookup_values(arr).reshape(-1)
        for i, k in enumerate(self._normalized(arr)):
            if k not in self._entries:
                out[i] = defaults[i]
        return eager(out.reshape(arr.shape))

    __getitem__ = lookup


experimental = types.SimpleNamespace(MutableHashTable=MutableHashTable,
                                     StaticHashTable=StaticHashTable,
                                     StaticVocabularyTable=StaticVocabularyTable,
                                     TextFileIndex=TextFileIndex)

__all__ = ["KeyValueTensorInitializer", "TextFileInitializer", "TextFileIndex",
           "StaticHashTable", "StaticVocabularyTable", "experimental"]
