"""Dataset: a re-iterable pipeline of NumPy elements with the tf.data
methods that Keras tutorials call (take, skip, map, filter, batch,
padded_batch, unbatch, rebatch, shuffle, repeat, cache, prefetch, zip,
concatenate, enumerate, flat_map, window, as_numpy_iterator, ...).

An element is an array, or a tuple, list or dict of them (an
``(images, labels)`` batch, say).  A Dataset holds a recipe, not data:
every ``iter()`` runs the recipe again, so one object serves every epoch.
"""
import csv
import enum
import queue
import threading

import numpy as np

from ..tensor import Tensor, eager
from . import seeding

AUTOTUNE = -1
INFINITE = -1
UNKNOWN = -2


def _background(make_items, depth):
    """Iterate the iterable that ``make_items()`` returns on a daemon thread,
    ``depth`` items ahead of the caller.  An exception on the thread is
    raised in the caller; a caller that stops early stops the thread."""
    items = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in make_items():
                if not put((item, None)):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            put((done, e))
            return
        put((done, None))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


def _ragged_stack(elements):
    """``_stack``, with a RaggedTensor for a component whose elements'
    first axes differ in length."""
    first = elements[0]
    if isinstance(first, tuple):
        return tuple(_ragged_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, list):
        return [_ragged_stack([e[i] for e in elements]) for i in range(len(first))]
    if isinstance(first, dict):
        return {k: _ragged_stack([e[k] for e in elements]) for k in first}
    if isinstance(first, _sparse_type()):
        return _stack(elements)
    arrays = [np.asarray(e) for e in elements]
    if not all(a.ndim for a in arrays):
        return _stack(elements)
    if any(a.shape[1:] != arrays[0].shape[1:] for a in arrays):
        raise ValueError(f"Dataset.ragged_batch: elements of shapes "
                         f"{sorted({a.shape for a in arrays})} differ beyond their first axis; "
                         f"a RaggedTensor here has one ragged dimension")
    from ..ragged import RaggedTensor
    return RaggedTensor.from_row_lengths(np.concatenate(arrays), [len(a) for a in arrays])


def _sparse_type():
    from ..sparse import SparseTensor
    return SparseTensor


def _stack_sparse(elements):
    """SparseTensors of one rank batched: an index column of the element,
    the dense shape the largest of theirs (as tf.data batches them)."""
    SparseTensor = _sparse_type()
    ranks = {int(e.dense_shape.size) for e in elements}
    if len(ranks) != 1:
        raise ValueError(f"Dataset.batch: SparseTensors of different ranks {sorted(ranks)}")
    indices = [np.concatenate([np.full((len(e.indices), 1), i, np.int64),
                               np.asarray(e.indices)], axis=1)
               for i, e in enumerate(elements)]
    shape = np.max([np.asarray(e.dense_shape) for e in elements], axis=0)
    return SparseTensor(np.concatenate(indices).reshape(-1, ranks.pop() + 1),
                        np.concatenate([np.asarray(e.values) for e in elements]),
                        [len(elements)] + shape.tolist())


def _sparse_row(sp, i):
    SparseTensor = _sparse_type()
    idx = np.asarray(sp.indices)
    keep = idx[:, 0] == i
    return SparseTensor(idx[keep, 1:], np.asarray(sp.values)[keep],
                        np.asarray(sp.dense_shape)[1:])


def _stack(elements):
    first = elements[0]
    if isinstance(first, _sparse_type()):
        return _stack_sparse(elements)
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, list):
        return [_stack([e[i] for e in elements]) for i in range(len(first))]
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    if all(isinstance(e, _RaggedRow) and e.ndim for e in elements):
        return _ragged_stack(elements)
    return np.stack([np.asarray(e) for e in elements])


def _map_structure(fn, structure):
    if isinstance(structure, (tuple, list)):
        return type(structure)(_map_structure(fn, v) for v in structure)
    if isinstance(structure, dict):
        return {k: _map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def _zip_structure(fn, element, spec):
    """``fn(leaf, spec_leaf)`` over an element and a spec of its structure
    (tuples and dicts are structure; a list is one value, as tf.data reads
    a generator's output)."""
    if isinstance(spec, tuple):
        if not isinstance(element, (tuple, list)) or len(spec) != len(element):
            raise ValueError(f"Dataset: an element {element!r} does not have the structure "
                             f"of {spec!r}")
        return tuple(_zip_structure(fn, e, s) for e, s in zip(element, spec))
    if isinstance(spec, dict):
        return {k: _zip_structure(fn, element[k], s) for k, s in spec.items()}
    return fn(element, spec)


def _np_dtype(dtype):
    if dtype is None:
        return None
    name = getattr(dtype, "name", dtype)  # a TensorSpec's dtype, or a string
    return np.dtype(str(name))


def _as_dtype(value, dtype):
    """``value`` as an array of ``dtype``; tf.string as UTF-8 bytes objects,
    as TensorFlow's string tensors hold."""
    if dtype is not None and str(getattr(dtype, "name", dtype)) == "string":
        from ..ops import _text_objects
        return _text_objects(np.asarray(value))
    return np.asarray(value, _np_dtype(dtype))


def _tensor_array(value):
    """``value`` as an array with TensorFlow's dtypes for Python data (a
    list of floats is float32, of ints int32 where they fit, as
    ``tf.constant`` reads them); arrays keep their own dtype."""
    a = np.asarray(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return a
    if a.dtype == np.float64:
        return a.astype(np.float32)
    if a.dtype == np.int64 and (not a.size or (a.min() >= -2 ** 31 and a.max() < 2 ** 31)):
        return a.astype(np.int32)
    return a


def _as_arrays(element):
    """An element's values as arrays: tuples and dicts are structure, a
    list is one value (tf.data's reading)."""
    if isinstance(element, tuple):
        return tuple(_as_arrays(v) for v in element)
    if isinstance(element, dict):
        return {k: _as_arrays(v) for k, v in element.items()}
    return _tensor_array(element)


def _pad_stack(elements, shapes, values):
    """``elements`` (of one structure) stacked, each component padded to its
    shape in ``shapes`` (the batch's largest where None or -1) with its
    value in ``values``."""
    first = elements[0]
    if isinstance(first, (tuple, list, dict)):
        keys = list(first.keys()) if isinstance(first, dict) else range(len(first))

        def part(spec, k):
            if isinstance(spec, dict) or (isinstance(spec, (tuple, list)) and
                                          isinstance(first, (tuple, list))):
                return spec[k]
            return spec
        parts = [_pad_stack([e[k] for e in elements], part(shapes, k), part(values, k))
                 for k in keys]
        if isinstance(first, dict):
            return dict(zip(keys, parts))
        return type(first)(parts)
    arrays = [np.asarray(e) for e in elements]
    rank = arrays[0].ndim
    if any(a.ndim != rank for a in arrays):
        raise ValueError(f"Dataset.padded_batch: the elements' ranks differ "
                         f"({sorted({a.ndim for a in arrays})})")
    largest = [max(a.shape[d] for a in arrays) for d in range(rank)]
    if shapes is None:
        target = largest
    else:
        shapes = list(getattr(shapes, "as_list", lambda: shapes)())
        if len(shapes) != rank:
            raise ValueError(f"Dataset.padded_batch: padded shape {tuple(shapes)} for "
                             f"elements of rank {rank}")
        target = [largest[d] if s is None or s == -1 else int(s) for d, s in enumerate(shapes)]
        for a in arrays:
            if any(n > t for n, t in zip(a.shape, target)):
                raise ValueError(f"Dataset.padded_batch: an element of shape {a.shape} is "
                                 f"larger than the padded shape {tuple(target)}")
    dtype = np.result_type(*arrays)
    fill = values if values is not None else ("" if dtype.kind in "US" else 0)
    out = np.full((len(arrays), *target), fill, dtype=dtype if dtype.kind not in "US"
                  else object)
    for i, a in enumerate(arrays):
        out[(i, *(slice(0, n) for n in a.shape))] = a
    return out


def _length(element):
    if isinstance(element, (tuple, list)):
        return _length(element[0])
    if isinstance(element, dict):
        return _length(next(iter(element.values())))
    if isinstance(element, _sparse_type()):
        return int(element.dense_shape[0])
    return len(element)


class _RaggedRow(Tensor):
    """One row of a RaggedTensor as a dataset element (tf.data's
    RaggedTensorSpec of ragged rank 0): a tensor, which ``batch`` stacks
    back into a RaggedTensor, as tf.data batches such elements.  What
    computes on it gives plain tensors."""

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        out = super().__array_wrap__(obj, context, return_scalar)
        return out.view(Tensor) if isinstance(out, np.ndarray) else out

    def __repr__(self):
        return repr(self.view(Tensor))


class _Rows:
    """A ragged tensor's rows, sliced by from_tensor_slices one per element
    (arrays of different lengths)."""

    def __init__(self, rows):
        self.rows = [np.asarray(r).view(_RaggedRow) for r in rows]

    def __len__(self):
        return len(self.rows)


def _row(element, i):
    if isinstance(element, _Rows):
        return element.rows[i]
    if isinstance(element, tuple):
        return tuple(_row(e, i) for e in element)
    if isinstance(element, list):
        return [_row(e, i) for e in element]
    if isinstance(element, dict):
        return {k: _row(v, i) for k, v in element.items()}
    if type(element) is not np.ndarray and isinstance(element, _sparse_type()):
        return _sparse_row(element, i)
    from ..ragged import RaggedTensor
    if isinstance(element, RaggedTensor):
        # (a batch of ragged rows unbatched: rows that batch stacks again)
        return np.asarray(element[i]).view(_RaggedRow)
    # (one string of a string array: a 0-d array of it, which the program
    # sees as a scalar string tensor, as TensorFlow's)
    return element[i, ...] if element.dtype == object else element[i]


def _check_count(count, where, name="count"):
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise TypeError(f"Dataset.{where}: {name} must be an integer, got {count!r}")
    return int(count)


class AutoShardPolicy(enum.IntEnum):
    """How a multi-process tf.distribute strategy splits a dataset between
    the processes (tf.data.experimental.AutoShardPolicy): AUTO and DATA
    give each process its share of every batch; OFF leaves the dataset to
    each process whole (it already yields that process's own batches);
    FILE needs a dataset read from files, which pynn does not split by
    file (see pynn.distribute)."""
    OFF = -1
    AUTO = 0
    FILE = 1
    DATA = 2
    HINT = 3


class DistributeOptions:
    """tf.data.experimental.DistributeOptions: ``auto_shard_policy``."""
    __slots__ = ("_policy", "num_devices")

    def __init__(self):
        self._policy = None
        self.num_devices = None

    @property
    def auto_shard_policy(self):
        return AutoShardPolicy.AUTO if self._policy is None else self._policy

    @auto_shard_policy.setter
    def auto_shard_policy(self, value):
        try:
            self._policy = AutoShardPolicy(value)
        except ValueError:
            raise ValueError(f"DistributeOptions: auto_shard_policy must be a "
                             f"tf.data.experimental.AutoShardPolicy, got {value!r}") from None


class ThreadingOptions:
    """tf.data.ThreadingOptions; pynn's pipelines run on the thread that
    reads them (prefetch on one more), so these sizes are kept only."""
    __slots__ = ("private_threadpool_size", "max_intra_op_parallelism")

    def __init__(self):
        self.private_threadpool_size = None
        self.max_intra_op_parallelism = None


class _SettingsGroup:
    """A group of tf.data settings, each None until set: flags take True or
    False (a TypeError otherwise, as TensorFlow's), numbers a number.
    TensorFlow reads them to rewrite its pipeline graph; pynn's pipelines
    are Python, which they would not change, so they are kept only."""
    __slots__ = ()
    _flags = ()
    _numbers = ()
    _groups = {}

    def __init__(self):
        for name in self._flags + self._numbers:
            object.__setattr__(self, name, None)
        for name, group in self._groups.items():
            object.__setattr__(self, name, group())

    def __setattr__(self, name, value):
        if name in self._groups:
            raise AttributeError(f"{type(self).__name__}: {name} is a group of options; "
                                 f"set its attributes")
        if value is not None:
            if name in self._flags and not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{type(self).__name__}: {name} must be a bool, got "
                                f"{value!r}")
            if name in self._numbers and (isinstance(value, bool) or
                                          not isinstance(value, (int, float, np.number))):
                raise TypeError(f"{type(self).__name__}: {name} must be a number, got "
                                f"{value!r}")
        object.__setattr__(self, name, value)

    def _merge_from(self, other):
        for name in self._flags + self._numbers:
            if getattr(other, name) is not None:
                setattr(self, name, getattr(other, name))
        for name in self._groups:
            getattr(self, name)._merge_from(getattr(other, name))


class MapVectorizationOptions(_SettingsGroup):
    """tf.data.experimental.MapVectorizationOptions (TensorFlow 2.0 to 2.6)."""
    _flags = ("enabled", "use_choose_fastest")
    __slots__ = _flags


class OptimizationOptions(_SettingsGroup):
    """tf.data.experimental.OptimizationOptions: ``options.experimental_
    optimization.map_fusion = True`` and the like, the names of TensorFlow
    2.0 to 2.16."""
    _flags = ("apply_default_optimizations", "autotune", "autotune_buffers",
              "filter_fusion", "filter_parallelization", "filter_with_random_uniform_fusion",
              "hoist_random_uniform", "inject_prefetch", "map_and_batch_fusion",
              "map_and_filter_fusion", "map_fusion", "map_parallelization",
              "noop_elimination", "parallel_batch", "reorder_data_discarding_ops",
              "seq_interleave_prefetch", "shuffle_and_repeat_fusion")
    _numbers = ("autotune_cpu_budget", "autotune_ram_budget")
    _groups = {"map_vectorization": MapVectorizationOptions}
    __slots__ = _flags + _numbers + tuple(_groups)


class AutotuneOptions(_SettingsGroup):
    """tf.data.experimental.AutotuneOptions (``options.autotune.enabled``)."""
    _flags = ("enabled",)
    _numbers = ("cpu_budget", "ram_budget", "autotune_algorithm")
    __slots__ = _flags + _numbers


class Options:
    """tf.data.Options: what ``Dataset.with_options`` sets.  Unknown
    attribute names raise AttributeError, as TensorFlow's do."""
    __slots__ = ("experimental_distribute", "threading", "deterministic",
                 "experimental_deterministic", "experimental_optimization", "autotune",
                 "experimental_slack")

    def __init__(self):
        self.experimental_distribute = DistributeOptions()
        self.threading = ThreadingOptions()
        self.deterministic = None
        self.experimental_deterministic = None
        self.experimental_optimization = OptimizationOptions()
        self.autotune = AutotuneOptions()
        self.experimental_slack = None

    # TensorFlow 2.0 to 2.5 named the threading options so
    @property
    def experimental_threading(self):
        return self.threading

    def merge(self, options):
        """These options with those set in ``options`` on top."""
        merged = Options()
        for source in (self, options):
            if source._distribute_policy() is not None:
                merged.experimental_distribute.auto_shard_policy = \
                    source.experimental_distribute.auto_shard_policy
            for name in ("deterministic", "experimental_deterministic", "experimental_slack"):
                if getattr(source, name) is not None:
                    setattr(merged, name, getattr(source, name))
            merged.experimental_optimization._merge_from(source.experimental_optimization)
            merged.autotune._merge_from(source.autotune)
            for name in ThreadingOptions.__slots__:
                if getattr(source.threading, name) is not None:
                    setattr(merged.threading, name, getattr(source.threading, name))
        return merged

    def _distribute_policy(self):
        return self.experimental_distribute._policy


class Optional:
    """A value that may be absent (tf.experimental.Optional): what
    ``iterator.get_next_as_optional()`` gives.  ``has_value()`` is a bool
    tensor, ``get_value()`` the value or InvalidArgumentError when empty."""

    def __init__(self, value, element_spec):
        self._value = value
        self.element_spec = element_spec

    @staticmethod
    def from_value(value):
        from ..backend import constant_tensor
        from ..execution import TensorSpec
        # (tuples and dicts are structure, a list one value, as tf.data
        # takes elements; Python values become tensors as tf.constant
        # makes them)
        def convert(v):
            if isinstance(v, tuple):
                return tuple(convert(u) for u in v)
            if isinstance(v, dict):
                return {k: convert(u) for k, u in v.items()}
            return eager(v if isinstance(v, np.ndarray) else constant_tensor(v))
        value = convert(value)
        return Optional(value, _map_structure(TensorSpec.from_tensor, value))

    @staticmethod
    def empty(element_spec):
        return Optional(_END, element_spec)

    def has_value(self, name=None):
        return eager(np.array(self._value is not _END))

    def get_value(self, name=None):
        if self._value is _END:
            from ..debugging import InvalidArgumentError
            raise InvalidArgumentError("Optional.get_value: the optional has no value")
        return self._value

    def __repr__(self):
        return f"<Optional has_value={self._value is not _END} spec={self.element_spec}>"


class DatasetIterator:
    """What ``iter(dataset)`` gives: the elements as eager tensors (plain
    arrays for ``as_numpy_iterator``), one pass; ``next(it)``,
    ``it.next()`` or ``it.get_next()``.  It counts the elements it
    gave, so a ``tf.train.Checkpoint`` saves its position, and restoring
    it replays a new pass of the dataset up to that element (the same
    state wherever the pipeline is deterministic: no unseeded shuffle)."""

    def __init__(self, dataset, as_numpy=False):
        self._dataset = dataset
        self._as_numpy = as_numpy  # (as_numpy_iterator: plain arrays)
        self._it = None
        self._start(0)

    def _start(self, position):
        self.close()
        self._it = iter(self._dataset._make_iterator())
        self._position = 0
        for _ in range(position):
            if next(self._it, _END) is _END:
                break
            self._position += 1

    def __iter__(self):
        return self

    def __next__(self):
        element = eager(next(self._it))
        self._position += 1
        return _numpy(element) if self._as_numpy else element

    def get_next(self):
        return next(self)

    def get_next_as_optional(self):
        """The next element as an Optional, empty at the end of the pass
        (a loop ends on ``has_value()`` instead of StopIteration)."""
        element = next(self, _END)
        if element is _END:
            return Optional.empty(self.element_spec)
        return Optional.from_value(element)

    # (tf.train.Checkpoint saves the position; restoring replays up to it)
    def _checkpoint_state(self):
        return {"position": np.array(self._position, np.int64)}

    def _restore_checkpoint_state(self, arrays):
        self._start(int(arrays["position"]))

    def next(self):
        return next(self)

    @property
    def element_spec(self):
        return self._dataset.element_spec

    def close(self):
        """Stop the pass (a prefetching stage's thread too)."""
        close = getattr(self._it, "close", None)
        if close is not None:
            close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass  # (at interpreter exit)


_END = object()
_DROPPED = object()  # what an element-wise stage's step gives for an element it leaves out


def _numpy(element):
    """An element as ``as_numpy_iterator`` gives it, whatever its stages
    made (a map's arithmetic gives tensors): arrays, a scalar as a NumPy
    scalar and a string scalar as bytes, as tf.data's ``.numpy()`` of each."""
    t = type(element)
    if t is list or t is tuple:
        return t(_numpy(v) for v in element)
    if t is dict:
        return {k: _numpy(v) for k, v in element.items()}
    return element.numpy() if isinstance(element, Tensor) else element


class DatasetSpec:
    """TensorFlow's ``tf.data.DatasetSpec``: the type of a dataset, its
    ``element_spec`` (a dataset's elements' structure of TensorSpecs)."""

    def __init__(self, element_spec, dataset_shape=()):
        from ..tensor import TensorShape
        self._element_spec = element_spec
        self._dataset_shape = TensorShape(dataset_shape)

    @classmethod
    def from_value(cls, value):
        """The spec of the dataset ``value``."""
        if not isinstance(value, Dataset):
            raise TypeError(f"DatasetSpec.from_value: expected a tf.data Dataset, got "
                            f"{type(value).__name__}")
        return cls(value.element_spec)

    @property
    def element_spec(self):
        return self._element_spec

    @property
    def value_type(self):
        return Dataset

    def is_compatible_with(self, spec_or_value):
        other = DatasetSpec.from_value(spec_or_value) if isinstance(spec_or_value, Dataset) \
            else spec_or_value
        if not isinstance(other, DatasetSpec):
            return False
        mine, theirs = _flatten_specs(self._element_spec), _flatten_specs(other._element_spec)
        return len(mine) == len(theirs) and all(
            a.is_compatible_with(b) for a, b in zip(mine, theirs))

    def __eq__(self, other):
        return isinstance(other, DatasetSpec) and (self._element_spec, self._dataset_shape) == \
            (other._element_spec, other._dataset_shape)

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        return f"DatasetSpec({self._element_spec!r}, {self._dataset_shape!r})"


def _flatten_specs(structure):
    if isinstance(structure, dict):
        return [s for k in sorted(structure) for s in _flatten_specs(structure[k])]
    if isinstance(structure, (tuple, list)):
        return [s for v in structure for s in _flatten_specs(v)]
    return [structure]


class Dataset:
    """A re-iterable sequence of elements built by chaining tf.data-style
    methods.  ``len()`` is the number of elements where it is known.
    Iterating gives the elements' arrays as eager tensors (``x.numpy()``);
    ``as_numpy_iterator`` gives plain arrays."""

    AUTOTUNE = AUTOTUNE
    _options = None  # a tf.data.Options, once with_options sets one
    # (source, step) for a stage that makes each element from one of its
    # source's alone (map, filter: _DROPPED for one it leaves out; prefetch),
    # which ignore_errors re-runs element by element
    _elementwise = None

    def __init__(self, make_iterator, cardinality=UNKNOWN, batched=False, spec=None):
        self._make_iterator = make_iterator
        self._cardinality = cardinality
        # for element_spec: whether the elements are batches whose size
        # varies (None in the spec), or the spec a generator's signature gave
        self._batched = batched
        self._spec = spec

    @classmethod
    def from_tensor_slices(cls, tensors):
        """One element per row of ``tensors`` (an array, or a tuple, list or
        dict of arrays with the same number of rows)."""
        def convert(t):
            if isinstance(t, tuple):
                return tuple(convert(e) for e in t)
            # (a list of scalars, 0-d tensors too, is one tensor, as tf.data
            # reads ``[v, v + 1]``)
            if isinstance(t, list) and t and isinstance(t[0], np.ndarray) and t[0].ndim:
                return [convert(e) for e in t]
            if isinstance(t, dict):
                return {k: convert(v) for k, v in t.items()}
            from ..ragged import RaggedTensor
            if isinstance(t, RaggedTensor):
                return _Rows([np.asarray(row) for row in t])
            if isinstance(t, _sparse_type()):
                if not t.dense_shape.size:
                    raise ValueError("Dataset.from_tensor_slices: a SparseTensor of rank 0 "
                                     "has no rows to slice")
                return t
            a = _tensor_array(t)
            if a.dtype.kind == "U" or (a.dtype.kind == "O" and a.size
                                       and isinstance(a.flat[0], str)):
                # TensorFlow's string tensors hold UTF-8 bytes (of a str
                # array, or of an object array of str, as pandas' .values)
                a = np.frompyfunc(lambda v: v.encode() if isinstance(v, str) else v, 1, 1)(
                    a).astype(object).reshape(a.shape)
            return a
        tensors = convert(tensors)
        n = _length(tensors)
        return cls(lambda: (_row(tensors, i) for i in range(n)), n)

    def __iter__(self):
        return DatasetIterator(self)

    def __repr__(self):
        """As TensorFlow prints a dataset: its element_spec (found from its
        first element, which printing makes; an empty dataset or one whose
        first element fails to be made shows none)."""
        try:
            spec = self.element_spec
        except Exception:
            return f"<{type(self).__name__}>"
        return f"<{type(self).__name__} element_spec={spec!r}>"

    def _elements(self):
        """The elements as the recipe makes them (each stage reads its
        source's this way; only what the program sees is made eager)."""
        return iter(self._make_iterator())

    def __len__(self):
        if self._cardinality == INFINITE:
            raise TypeError("The dataset is infinite.")
        if self._cardinality < 0:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    def cardinality(self):
        """The number of elements, INFINITE (-1) or UNKNOWN (-2), as an
        int64 scalar tensor (``.numpy()``), as TensorFlow's."""
        return eager(np.array(self._cardinality, np.int64))

    def as_numpy_iterator(self):
        """An iterator over the elements as plain NumPy arrays."""
        return DatasetIterator(self, as_numpy=True)

    def _derive(self, make_iterator, cardinality, batched=None, same_elements=False):
        # options set upstream hold downstream too, as in tf.data; so does a
        # known spec (a generator's signature) where the elements are the
        # source's own (``same_elements``: shuffled, repeated, taken, ...)
        derived = Dataset(make_iterator, cardinality,
                          self._batched if batched is None else batched,
                          spec=self._spec if same_elements else None)
        derived._options = self._options
        return derived

    def _batched_spec(self, size, padded_shapes=None):
        """The spec of batches of ``size`` (None where the last may be
        smaller) of this dataset's elements, where their spec is known and
        made of TensorSpecs: each shape after the batch axis, or the one
        ``padded_shapes`` gives it (None or -1 where the longest sets it),
        as tf.data's; else None (the first batch will tell)."""
        from ..execution import TensorSpec
        if self._spec is None:
            return None

        def batched(spec, shape):
            if type(spec) is not TensorSpec or spec.shape is None:
                raise LookupError
            dims = spec.shape if shape is None else \
                [None if d is None or int(d) == -1 else int(d) for d in shape]
            return TensorSpec((size, *dims), spec.dtype)
        try:
            if padded_shapes is None:
                return _map_structure(lambda spec: batched(spec, None), self._spec)
            if isinstance(self._spec, TensorSpec):
                return batched(self._spec, padded_shapes)
            return _zip_structure(lambda shape, spec: batched(spec, shape), padded_shapes,
                                  self._spec)
        except (LookupError, TypeError, ValueError):
            return None

    @property
    def element_spec(self):
        """The structure of the elements with a ``TensorSpec`` for each
        array: the shape of the first element (None for the batch size of
        batches whose last one may be smaller), its dtype; a generator's
        ``output_signature`` as given."""
        from ..execution import TensorSpec
        if self._spec is not None:
            return self._spec
        try:
            first = next(iter(self._elements()))
        except StopIteration:
            raise ValueError("Dataset.element_spec: the dataset is empty, its elements' "
                             "shapes are unknown") from None

        from ..execution import RaggedTensorSpec
        from ..ragged import RaggedTensor

        def spec(v):
            if isinstance(v, RaggedTensor):
                shape = tuple(v.shape)
                return RaggedTensorSpec((None,) + shape[1:] if self._batched else shape,
                                        v.dtype, ragged_rank=1)
            if isinstance(v, _RaggedRow):
                # (rows of different lengths: tf.data's ragged_rank-0 spec)
                return RaggedTensorSpec((None,) + v.shape[1:], "string" if v.dtype.kind in
                                        "OSU" else v.dtype, ragged_rank=0)
            a = np.asarray(v)
            shape = a.shape
            if self._batched and shape:
                shape = (None,) + shape[1:]
            return TensorSpec(shape, "string" if a.dtype.kind in "OSU" else a.dtype)
        return _map_structure(spec, first)

    def take(self, count):
        """The first ``count`` elements (all of them for -1)."""
        count = _check_count(count, "take")
        if count < 0:
            return self._derive(self._make_iterator, self._cardinality, same_elements=True)

        def make():
            it = self._elements()
            for _ in range(count):
                try:
                    yield next(it)
                except StopIteration:
                    return
        card = self._cardinality
        return self._derive(make, count if card == INFINITE else
                            (min(card, count) if card >= 0 else UNKNOWN), same_elements=True)

    def skip(self, count):
        """All but the first ``count`` elements (none for -1)."""
        count = _check_count(count, "skip")

        def make():
            it = self._elements()
            if count < 0:
                for _ in it:
                    pass
                return
            for _ in range(count):
                if next(it, StopIteration) is StopIteration:
                    return
            yield from it
        card = self._cardinality
        if count < 0:
            new = 0
        elif card >= 0:
            new = max(card - count, 0)
        else:
            new = card
        return self._derive(make, new, same_elements=True)

    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """``map_func`` applied to each element; a tuple element is passed as
        separate arguments, as tf.data does."""
        if not callable(map_func):
            raise TypeError(f"Dataset.map: map_func must be callable, got {map_func!r}")

        def apply(element):
            element = eager(element)
            out = map_func(*element) if isinstance(element, tuple) else map_func(element)
            # (a list returned is a tuple, as tf.data takes it: an augmenting
            # layer's call returning (images, labels) gives two components)
            return tuple(out) if type(out) is list else out
        mapped = self._derive(lambda: (apply(e) for e in self._elements()), self._cardinality)
        mapped._elementwise = (self, apply)
        return mapped

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None):
        """Consecutive elements stacked into batches of ``batch_size``."""
        batch_size = _check_count(batch_size, "batch", "batch_size")
        if batch_size < 1:
            raise ValueError(f"Dataset.batch: batch_size must be >= 1, got {batch_size}")

        batches = self._grouped(batch_size, drop_remainder, _stack)
        batches._spec = self._batched_spec(batch_size if drop_remainder else None)
        return batches

    def _grouped(self, batch_size, drop_remainder, stack):
        """Consecutive elements in groups of ``batch_size`` (the last one
        shorter unless dropped), each made one element by ``stack``: batch,
        padded_batch and ragged_batch differ only in it."""
        def make():
            group = []
            for element in self._elements():
                group.append(element)
                if len(group) == batch_size:
                    yield stack(group)
                    group = []
            if group and not drop_remainder:
                yield stack(group)
        card = self._cardinality
        if card >= 0:
            card = card // batch_size if drop_remainder else -(-card // batch_size)
        return self._derive(make, card, batched=not drop_remainder)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None,
                     drop_remainder=False):
        """Batches of elements of different lengths, each padded with
        ``padding_values`` (0, or "" for text) to ``padded_shapes`` (the
        largest in the batch where a shape or one of its sizes is None or
        -1), as tf.data's padded_batch.  ``padded_shapes`` and
        ``padding_values`` have the elements' structure (a tuple for
        ``(x, y)``), or are one value for every component."""
        batch_size = _check_count(batch_size, "padded_batch", "batch_size")
        if batch_size < 1:
            raise ValueError(f"Dataset.padded_batch: batch_size must be >= 1, got "
                             f"{batch_size}")

        batches = self._grouped(batch_size, drop_remainder,
                                lambda group: _pad_stack(group, padded_shapes, padding_values))
        batches._spec = self._batched_spec(batch_size if drop_remainder else None,
                                           padded_shapes)
        return batches

    def ragged_batch(self, batch_size, drop_remainder=False, row_splits_dtype=None,
                     name=None):
        """Batches of elements whose first axis may differ in length: each
        component with axes becomes a RaggedTensor of the batch's rows
        (ragged in their first axis, the other axes must agree), as
        TensorFlow batches components whose static length is unknown, which
        every component of a pynn dataset is; scalars are stacked."""
        batch_size = _check_count(batch_size, "ragged_batch", "batch_size")
        if batch_size < 1:
            raise ValueError(f"Dataset.ragged_batch: batch_size must be >= 1, got "
                             f"{batch_size}")

        return self._grouped(batch_size, drop_remainder, _ragged_stack)

    def rebatch(self, batch_size, drop_remainder=False):
        """The rows of the batches regrouped into batches of ``batch_size``."""
        return self.unbatch().batch(batch_size, drop_remainder=drop_remainder)

    def filter(self, predicate):
        """The elements for which ``predicate`` (given a tuple element as
        separate arguments) is true."""
        if not callable(predicate):
            raise TypeError(f"Dataset.filter: predicate must be callable, got {predicate!r}")

        def keep(element):
            shown = eager(element)
            verdict = predicate(*shown) if isinstance(shown, tuple) else predicate(shown)
            if np.ndim(verdict) != 0:
                raise ValueError(f"Dataset.filter: the predicate must return a scalar boolean, "
                                 f"got shape {np.shape(verdict)}")
            return bool(verdict)
        kept = self._derive(lambda: (e for e in self._elements() if keep(e)),
                            INFINITE if self._cardinality == INFINITE else UNKNOWN,
                            same_elements=True)
        kept._elementwise = (self, lambda e: e if keep(e) else _DROPPED)
        return kept

    def ignore_errors(self, log_warning=False, name=None):
        """The elements, less those whose making raised an error (tf.data's
        ``ignore_errors``, also ``apply(tf.data.experimental.
        ignore_errors())``): a map's function or a filter's predicate that
        fails on an element drops that element, and the others go on; with
        ``log_warning`` each drop is logged.  An error of another kind of
        stage (a batch of elements of different shapes) still ends the pass,
        as it raises."""
        from .io_utils import logger

        def tolerant(dataset):
            link = dataset._elementwise
            if link is None:
                yield from dataset._elements()
                return
            source, step = link
            for element in tolerant(source):
                try:
                    out = step(element)
                except Exception as e:
                    if log_warning:
                        logger.warning(f"Dataset.ignore_errors: dropped an element: "
                                       f"{type(e).__name__}: {e}")
                    continue
                if out is not _DROPPED:
                    yield out
        return self._derive(lambda: tolerant(self),
                            INFINITE if self._cardinality == INFINITE else UNKNOWN,
                            same_elements=True)

    def rejection_resample(self, class_func, target_dist, initial_dist=None, seed=None,
                           name=None):
        """``(class, element)`` pairs whose classes (``class_func(element)``,
        0 to k - 1) follow ``target_dist``: each element is kept with the
        probability target / initial of its class, scaled so the most
        wanted class is always kept (tf.data's rejection sampling).
        Without ``initial_dist`` the classes are counted over one pass."""
        if not callable(class_func):
            raise TypeError(f"Dataset.rejection_resample: class_func must be callable, got "
                            f"{class_func!r}")
        target = np.asarray(target_dist, np.float64).reshape(-1)
        if target.size == 0 or (target < 0).any() or target.sum() <= 0:
            raise ValueError(f"Dataset.rejection_resample: target_dist must be probabilities, "
                             f"got {target_dist!r}")

        def class_of(element):
            shown = eager(element)
            c = class_func(*shown) if isinstance(shown, tuple) else class_func(shown)
            c = int(np.asarray(c))
            if not 0 <= c < target.size:
                raise ValueError(f"Dataset.rejection_resample: class_func gave {c}, outside "
                                 f"the {target.size} classes of target_dist")
            return c
        if initial_dist is None:
            counts = np.bincount([class_of(e) for e in self._elements()],
                                 minlength=target.size)
            initial = counts / max(counts.sum(), 1)
        else:
            initial = np.asarray(initial_dist, np.float64).reshape(-1)
        if initial.shape != target.shape:
            raise ValueError(f"Dataset.rejection_resample: initial_dist has "
                             f"{initial.size} classes, target_dist {target.size}")
        ratio = np.divide(target / target.sum(), initial / initial.sum(),
                          out=np.zeros_like(target), where=initial > 0)
        accept = ratio / ratio.max()
        passes = [0]

        def make():
            passes[0] += 1
            rng = np.random.default_rng(seeding.next_seed() if seed is None
                                        else [int(seed), passes[0]])
            for element in self._elements():
                c = class_of(element)
                if rng.random() < accept[c]:
                    yield np.int32(c), element
        return self._derive(make, INFINITE if self._cardinality == INFINITE else UNKNOWN)

    def flat_map(self, map_func):
        """The elements of the datasets ``map_func`` returns, one after the
        other."""
        if not callable(map_func):
            raise TypeError(f"Dataset.flat_map: map_func must be callable, got {map_func!r}")

        def make():
            for element in self._elements():
                shown = eager(element)
                inner = map_func(*shown) if isinstance(shown, tuple) else map_func(shown)
                if not isinstance(inner, Dataset):
                    raise TypeError(f"Dataset.flat_map: map_func must return a Dataset, got "
                                    f"{type(inner).__name__}")
                yield from inner._elements()
        return self._derive(make, UNKNOWN)

    def interleave(self, map_func, cycle_length=None, block_length=1, num_parallel_calls=None,
                   deterministic=None):
        """The elements of the datasets ``map_func`` returns, ``block_length``
        at a time from ``cycle_length`` of them in turn (tf.data's order)."""
        if not callable(map_func):
            raise TypeError(f"Dataset.interleave: map_func must be callable, got {map_func!r}")
        cycle = 1 if cycle_length is None or cycle_length < 0 else \
            _check_count(cycle_length, "interleave", "cycle_length")
        block = _check_count(block_length, "interleave", "block_length")
        if cycle < 1 or block < 1:
            raise ValueError("Dataset.interleave: cycle_length and block_length must be >= 1")

        def open_next(source):
            for element in source:
                shown = eager(element)
                inner = map_func(*shown) if isinstance(shown, tuple) else map_func(shown)
                if not isinstance(inner, Dataset):
                    raise TypeError(f"Dataset.interleave: map_func must return a Dataset, "
                                    f"got {type(inner).__name__}")
                return inner._elements()
            return None

        def make():
            source = self._elements()
            active = []
            while True:
                while len(active) < cycle:
                    it = open_next(source)
                    if it is None:
                        break
                    active.append(it)
                if not active:
                    return
                i = 0
                while i < len(active):
                    done = False
                    for _ in range(block):
                        element = next(active[i], StopIteration)
                        if element is StopIteration:
                            done = True
                            break
                        yield element
                    if done:
                        replacement = open_next(source)
                        if replacement is None:
                            del active[i]
                            continue
                        active[i] = replacement
                    i += 1
        return self._derive(make, UNKNOWN)

    def enumerate(self, start=0):
        """``(index, element)`` pairs, the index an int64 counting from
        ``start``."""
        start = _check_count(start, "enumerate", "start")
        return self._derive(lambda: ((np.int64(start + i), e)
                                     for i, e in enumerate(self._elements())),
                            self._cardinality)

    def concatenate(self, dataset):
        """This dataset's elements, then those of ``dataset``."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"Dataset.concatenate: expected a Dataset, got "
                            f"{type(dataset).__name__}")

        def make():
            yield from self._elements()
            yield from dataset._elements()
        a, b = self._cardinality, dataset._cardinality
        card = INFINITE if INFINITE in (a, b) else (a + b if a >= 0 and b >= 0 else UNKNOWN)
        return self._derive(make, card)

    @staticmethod
    def zip(*datasets):
        """Elements taken together from each dataset, as a tuple (or the
        structure, tuples and dicts of datasets nested as given:
        ``zip((images, (counter, counter)))``; one dataset's own elements),
        until the shortest ends."""
        from ..tree import flatten, pack_sequence_as
        # (one dataset alone is its own structure: zip(ds) gives its
        # elements as they are, as tf.data's)
        structure = datasets[0] if len(datasets) == 1 else datasets
        structure = tuple(structure) if type(structure) is list else structure
        leaves = flatten(structure)
        if not leaves or not all(isinstance(d, Dataset) for d in leaves):
            raise TypeError("Dataset.zip: expected Datasets (as arguments, or tuples and dicts "
                            "of them)")

        def make():
            for parts in zip(*(d._elements() for d in leaves)):
                yield pack_sequence_as(structure, list(parts))
        cards = [d._cardinality for d in leaves]
        known = [c for c in cards if c >= 0]
        if known:
            card = min(known)
        else:
            card = INFINITE if all(c == INFINITE for c in cards) else UNKNOWN
        return Dataset(make, card)

    def window(self, size, shift=None, stride=1, drop_remainder=False):
        """A dataset of windows: each a Dataset of ``size`` consecutive
        elements (every ``stride``-th), the windows starting ``shift`` apart
        (``size`` by default).  A window of ``(x, y)`` elements is a tuple
        of two datasets, as in tf.data (``flat_map(lambda w: w.batch(n))``)."""
        size = _check_count(size, "window", "size")
        shift = size if shift is None else _check_count(shift, "window", "shift")
        stride = _check_count(stride, "window", "stride")
        if size < 1 or shift < 1 or stride < 1:
            raise ValueError("Dataset.window: size, shift and stride must be >= 1")
        span = (size - 1) * stride + 1

        def as_datasets(rows):
            first = rows[0]
            if isinstance(first, (tuple, list)):
                return type(first)(as_datasets([r[i] for r in rows]) for i in range(len(first)))
            if isinstance(first, dict):
                return {k: as_datasets([r[k] for r in rows]) for k in first}
            return Dataset(lambda: iter(rows), len(rows))

        def make():
            buffer, skip = [], 0
            for element in self._elements():
                if skip:
                    skip -= 1
                    continue
                buffer.append(element)
                if len(buffer) == span:
                    yield as_datasets(buffer[::stride])
                    skip = max(shift - span, 0)
                    buffer = buffer[shift:]
            while buffer and not drop_remainder:
                yield as_datasets(buffer[::stride])
                buffer = buffer[shift:]
        return self._derive(make, UNKNOWN)

    def shard(self, num_shards, index):
        """Every ``num_shards``-th element, from the ``index``-th."""
        num_shards = _check_count(num_shards, "shard", "num_shards")
        index = _check_count(index, "shard", "index")
        if num_shards < 1 or not 0 <= index < num_shards:
            raise ValueError(f"Dataset.shard: need num_shards >= 1 and 0 <= index < "
                             f"num_shards, got {num_shards} and {index}")
        card = self._cardinality
        if card >= 0:
            card = max(0, -(-(card - index) // num_shards))
        return self._derive(lambda: (e for i, e in enumerate(self._elements())
                                     if i % num_shards == index), card,
                             same_elements=True)

    def apply(self, transformation_func):
        """``transformation_func(self)``."""
        return transformation_func(self)

    def reduce(self, initial_state, reduce_func):
        """``reduce_func(state, element)`` folded over the elements."""
        state = initial_state
        for element in self:
            state = reduce_func(state, element)
        return eager(state)

    def get_single_element(self):
        """The one element of a dataset that has exactly one."""
        it = iter(self)
        first = next(it, StopIteration)
        if first is StopIteration or next(it, StopIteration) is not StopIteration:
            raise ValueError("Dataset.get_single_element: the dataset must have exactly one "
                             "element")
        return first

    def with_options(self, options):
        """The same elements with ``options`` (a tf.data.Options) set on
        top of those set before: of them, a multi-process tf.distribute
        strategy reads ``experimental_distribute.auto_shard_policy``; pynn's
        pipelines are deterministic whatever the others say."""
        if not isinstance(options, Options):
            raise TypeError(f"Dataset.with_options: expected a tf.data.Options, got "
                            f"{type(options).__name__}")
        derived = self._derive(self._make_iterator, self._cardinality, same_elements=True)
        derived._options = options if self._options is None else self._options.merge(options)
        return derived

    def options(self):
        """The options set with ``with_options`` (defaults where none were)."""
        return Options() if self._options is None else self._options

    @staticmethod
    def range(*args, output_type=np.int64):
        """Integers as Python's range(start, stop, step), int64 by default."""
        if not 1 <= len(args) <= 3:
            raise TypeError(f"Dataset.range: expected 1 to 3 arguments, got {len(args)}")
        values = range(*(_check_count(a, "range", "argument") for a in args))
        dtype = np.dtype(output_type)
        return Dataset(lambda: (np.asarray(v, dtype) for v in values), len(values))

    @staticmethod
    def sample_from_datasets(datasets, weights=None, seed=None, stop_on_empty_dataset=False,
                             rerandomize_each_iteration=None):
        """Each element from one of ``datasets`` drawn at random with
        probabilities ``weights`` (equal when None), as TensorFlow's: once
        one ends, the draws go on among the others (or the result ends with
        ``stop_on_empty_dataset``).  With ``seed`` every pass draws the same
        order unless ``rerandomize_each_iteration``."""
        datasets = list(datasets)
        if not datasets or not all(isinstance(d, Dataset) for d in datasets):
            raise TypeError("Dataset.sample_from_datasets: expected a list of Datasets")
        w = np.ones(len(datasets)) if weights is None else \
            np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, np.float64)
        if w.shape != (len(datasets),) or not np.all(np.isfinite(w)) or (w < 0).any() or \
                w.sum() <= 0:
            raise ValueError(f"Dataset.sample_from_datasets: weights must be {len(datasets)} "
                             f"non-negative numbers, not all zero; got {weights!r}")
        passes = [0]

        def make():
            gen = seeding.rng() if seed is None else np.random.default_rng(
                [int(seed), passes[0]] if rerandomize_each_iteration else int(seed))
            passes[0] += 1
            its = [iter(d._elements()) for d in datasets]
            live = w.copy()
            while live.sum() > 0:
                k = int(gen.choice(len(its), p=live / live.sum()))
                try:
                    yield next(its[k])
                except StopIteration:
                    if stop_on_empty_dataset:
                        return
                    live[k] = 0.0
        return Dataset(make, UNKNOWN)

    @staticmethod
    def choose_from_datasets(datasets, choice_dataset, stop_on_empty_dataset=True):
        """The element of ``datasets[i]`` for each index i that
        ``choice_dataset`` (int64 scalars) gives, in its order; an ended
        dataset ends the result (``stop_on_empty_dataset``) or is passed
        over."""
        datasets = list(datasets)
        if not datasets or not all(isinstance(d, Dataset) for d in datasets + [choice_dataset]):
            raise TypeError("Dataset.choose_from_datasets: expected a list of Datasets and a "
                            "Dataset of indices")

        def make():
            its = [iter(d._elements()) for d in datasets]
            for i in choice_dataset._elements():
                k = int(np.asarray(i))
                if not 0 <= k < len(its):
                    raise _invalid_argument(f"Dataset.choose_from_datasets: index {k} is not "
                                            f"in [0, {len(its)})")
                try:
                    yield next(its[k])
                except StopIteration:
                    if stop_on_empty_dataset:
                        return
        return Dataset(make, UNKNOWN)

    @staticmethod
    def list_files(file_pattern, shuffle=None, seed=None, name=None):
        """TensorFlow's: the names of the files matching ``file_pattern`` (a
        glob, or a list of them) as string elements, sorted, or shuffled
        (each pass anew) unless ``shuffle`` is False; ``seed`` repeats the
        orders.  No matching file is an InvalidArgumentError, as in
        TensorFlow."""
        import glob
        import os
        patterns = [file_pattern] if isinstance(file_pattern, (str, bytes, os.PathLike)) \
            else list(np.asarray(file_pattern, dtype=object).ravel())
        patterns = [os.fsdecode(p.numpy() if hasattr(p, "numpy") else p) for p in patterns]
        names = sorted({f for p in patterns for f in glob.glob(p)})
        if not names:
            from ..debugging import InvalidArgumentError
            raise InvalidArgumentError(None, None, f"Dataset.list_files: no files matched "
                                                   f"pattern: {', '.join(patterns)}")
        ds = Dataset.from_tensor_slices(np.array(names))
        return ds if shuffle is False else ds.shuffle(len(names), seed=seed)

    @staticmethod
    def from_tensors(tensors):
        """A dataset of one element, ``tensors``."""
        element = _as_arrays(tensors)
        return Dataset(lambda: iter([element]), 1)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None):
        """The elements a new call of ``generator(*args)`` yields each pass,
        as arrays (of ``output_types``' dtypes where given)."""
        if not callable(generator):
            raise TypeError(f"Dataset.from_generator: generator must be callable (a function "
                            f"that returns an iterator), got {type(generator).__name__}")
        dtypes = output_types
        if dtypes is None and output_signature is not None:
            dtypes = _map_structure(lambda spec: getattr(spec, "dtype", None),
                                    output_signature)
        call_args = tuple(args or ())
        spec = output_signature
        if spec is None and output_types is not None and output_shapes is not None:
            # (TensorFlow's deprecated pair: the same spec as a signature)
            from ..execution import TensorSpec
            spec = _zip_structure(lambda shape, dtype: TensorSpec(shape, dtype),
                                  output_shapes, output_types)

        def check(value, leaf):
            # tf.data refuses a yielded value whose shape does not fit the
            # signature's (rank, and each size the signature knows)
            shape = getattr(leaf, "shape", None)
            if shape is not None and shape.rank is not None and \
                    not shape.is_compatible_with(value.shape):
                raise ValueError(f"Dataset.from_generator: the generator yielded an element "
                                 f"of shape {tuple(value.shape)} where an element of shape "
                                 f"{tuple(shape)} was expected")
            return value

        def convert(element):
            if dtypes is None:
                element = _as_arrays(element)
            else:
                element = _zip_structure(_as_dtype, element, dtypes)
            if spec is not None:
                _zip_structure(check, element, spec)
            return element
        return Dataset(lambda: (convert(e) for e in generator(*call_args)), UNKNOWN,
                       spec=spec)

    def unbatch(self):
        """Each batch split back into its rows."""
        def make():
            for element in self._elements():
                for i in range(_length(element)):
                    yield _row(element, i)
        return self._derive(make, INFINITE if self._cardinality == INFINITE else UNKNOWN,
                            batched=False)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Elements in random order, drawn from a buffer of ``buffer_size``
        as tf.data does (a buffer as large as the dataset shuffles it
        uniformly).  With ``seed`` the orders are the same on every run: a
        new one each pass over the data unless ``reshuffle_each_iteration``
        is False (then every pass gives the first pass's order, seed or
        not)."""
        buffer_size = _check_count(buffer_size, "shuffle", "buffer_size")
        if buffer_size < 1:
            raise ValueError(f"Dataset.shuffle: buffer_size must be >= 1, got {buffer_size}")
        passes = [0]
        lock = threading.Lock()
        # without a seed, an order kept across passes is drawn once, when the
        # dataset is made (as TensorFlow fixes its seed then): take/skip
        # splits of it stay apart
        fixed = None if seed is not None or reshuffle_each_iteration else seeding.next_seed()

        def make():
            with lock:
                n = passes[0]
                passes[0] += 1
            if fixed is not None:
                rng = np.random.default_rng(fixed)
            elif seed is None:
                rng = np.random.default_rng(seeding.next_seed())
            else:
                rng = np.random.default_rng([int(seed), n if reshuffle_each_iteration else 0])
            buffer = []
            for element in self._elements():
                if len(buffer) < buffer_size:
                    buffer.append(element)
                    continue
                i = int(rng.integers(buffer_size))
                yield buffer[i]
                buffer[i] = element
            for i in rng.permutation(len(buffer)):
                yield buffer[i]
        return self._derive(make, self._cardinality, same_elements=True)

    def repeat(self, count=None):
        """The elements ``count`` times over (forever for None or -1)."""
        if count is not None:
            count = _check_count(count, "repeat")
        forever = count is None or count < 0

        def make():
            k = 0
            while forever or k < count:
                empty = True
                for element in self._elements():
                    empty = False
                    yield element
                if empty:
                    return
                k += 1
        card = self._cardinality
        if card == 0:
            new = 0
        elif forever:
            new = INFINITE
        else:
            new = card * count if card >= 0 else card
        return self._derive(make, new, same_elements=True)

    def cache(self, filename=""):
        """Keep the elements after the first complete pass; later passes
        read them from there: memory, or with ``filename`` the file
        ``filename + ".npz"``, which a later run reads instead of running
        the pipeline (tf.data's file cache)."""
        if filename:
            return self._stored(_text(filename) + ".npz", "Dataset.cache")
        stored = []
        state = {"complete": False}

        def make():
            if state["complete"]:
                yield from stored
                return
            seen = []
            for element in self._elements():
                seen.append(element)
                yield element
            stored[:] = seen
            state["complete"] = True
        return self._derive(make, self._cardinality, same_elements=True)

    def snapshot(self, path, compression="AUTO", reader_func=None, shard_func=None,
                 name=None):
        """tf.data's snapshot: the first complete pass writes the elements
        to the folder ``path`` (NumPy's .npz, no pickle); every later pass,
        in this run or a later one, reads them from there instead of running
        the pipeline.  (TensorFlow keys a snapshot by the pipeline's graph;
        pynn's pipelines are Python code, so a folder holds one dataset's
        snapshot: give another dataset another folder.)"""
        if compression not in ("AUTO", "GZIP", "SNAPPY", None, ""):
            raise ValueError(f"Dataset.snapshot: compression must be 'AUTO', 'GZIP', "
                             f"'SNAPPY' or None, got {compression!r}")
        for arg, what in ((reader_func, "reader_func"), (shard_func, "shard_func")):
            if arg is not None:
                raise ValueError(f"Dataset.snapshot: {what} is not supported (pynn writes "
                                 f"one file and reads it in order)")
        import os
        os.makedirs(path, exist_ok=True)
        return self._stored(os.path.join(path, "snapshot.npz"), "Dataset.snapshot")

    def _stored(self, file, who):
        """The elements, from ``file`` where a complete pass wrote them, else
        from the pipeline, written there at the end of its first complete
        pass (to a temporary file renamed into place)."""
        import os

        def make():
            if os.path.exists(file):
                yield from _read_elements(file, who)
                return
            seen = []
            for element in self._elements():
                seen.append(element)
                yield element
            _write_elements(file, seen, who)
        return self._derive(make, self._cardinality, same_elements=True)

    def save(self, path, compression=None, shard_func=None, checkpoint_args=None):
        """Write the elements and their element_spec to the folder ``path``
        (pynn's own format: the arrays in one .npz, the structure and spec
        as JSON; no pickle), for Dataset.load.  The folder is written beside
        and renamed into place, so a failed save leaves no half dataset."""
        import json
        import os
        import shutil
        import tempfile
        if compression not in (None, "", "GZIP", "SNAPPY"):
            raise ValueError(f"Dataset.save: compression must be None, 'GZIP' or 'SNAPPY', got "
                             f"{compression!r}")
        for arg, what in ((shard_func, "shard_func"), (checkpoint_args, "checkpoint_args")):
            if arg is not None:
                raise ValueError(f"Dataset.save: {what} is not supported (pynn writes one "
                                 f"shard)")
        if self._cardinality == INFINITE:
            raise ValueError("Dataset.save: the dataset is infinite")
        path = os.path.abspath(_text(path))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        elements = list(self._elements())
        spec = self._spec if self._spec is not None else \
            (self.element_spec if elements else None)
        tmp = tempfile.mkdtemp(prefix=".saving-", dir=parent)
        try:
            _write_elements(os.path.join(tmp, "elements.npz"), elements, "Dataset.save")
            with open(os.path.join(tmp, "dataset.json"), "w") as f:
                json.dump({"format": "pynn-dataset", "version": 1,
                           "cardinality": len(elements),
                           "element_spec": None if spec is None else _encode_spec(spec)}, f)
            if os.path.isdir(path):
                # (the old one set aside first: it stays whole until the new
                # one is in place)
                old = tempfile.mkdtemp(prefix=".replaced-", dir=parent)
                os.replace(path, os.path.join(old, "dataset"))
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @staticmethod
    def load(path, element_spec=None, compression=None, reader_func=None):
        """The dataset Dataset.save wrote to ``path``, its element_spec
        restored (or ``element_spec`` as given)."""
        import json
        import os
        if reader_func is not None:
            raise ValueError("Dataset.load: reader_func is not supported (pynn reads its one "
                             "shard in order)")
        path = _text(path)
        meta_file = os.path.join(path, "dataset.json")
        try:
            with open(meta_file) as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"Dataset.load: {path} holds no dataset saved by "
                                    f"Dataset.save ({meta_file} is missing)") from None
        except ValueError:
            raise ValueError(f"Dataset.load: {meta_file} is not a dataset description") from None
        if not isinstance(meta, dict) or meta.get("format") != "pynn-dataset":
            raise ValueError(f"Dataset.load: {meta_file} is not a dataset saved by pynn")
        file = os.path.join(path, "elements.npz")
        count = meta.get("cardinality")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"Dataset.load: {meta_file} gives no valid cardinality")
        spec = element_spec if element_spec is not None else (
            None if meta.get("element_spec") is None else _decode_spec(meta["element_spec"]))
        return Dataset(lambda: _read_elements(file, "Dataset.load"), count, spec=spec)

    @staticmethod
    def random(seed=None, name=None, rerandomize_each_iteration=None):
        """Endless int64 scalars drawn uniformly from [0, 2**32), as
        tf.data's: the same sequence on every pass for a seed (or, without
        one, a seed drawn once), a new one each pass with
        ``rerandomize_each_iteration``."""
        base = seeding.next_seed() if seed is None else int(seed)
        passes = [0]

        def make():
            key = [base, passes[0]] if rerandomize_each_iteration else [base]
            passes[0] += 1
            rng = np.random.default_rng(key)
            while True:
                for v in rng.integers(0, 2 ** 32, 256, dtype=np.int64):
                    yield np.asarray(v)
        from ..execution import TensorSpec
        return Dataset(make, INFINITE, spec=TensorSpec((), "int64"))

    @staticmethod
    def counter(start=0, step=1, dtype=np.int64, name=None):
        """start, start + step, ... without end (tf.data.Dataset.counter)."""
        return Counter(start, step, dtype)

    def scan(self, initial_state, scan_func, name=None):
        """``scan_func(state, element) -> (new state, output)`` run over the
        elements in order, giving the outputs (the state starting from
        ``initial_state`` on each pass)."""
        if not callable(scan_func):
            raise TypeError(f"Dataset.scan: scan_func must be callable, got {scan_func!r}")

        def tensor(v):
            # (tuples and dicts are structure; Python numbers, and lists of
            # them, as tf.constant makes them: float32, int32)
            if isinstance(v, tuple):
                return tuple(tensor(u) for u in v)
            if isinstance(v, dict):
                return {k: tensor(u) for k, u in v.items()}
            a = np.asarray(v)
            if isinstance(v, (float, int, list)) and a.dtype in (np.float64, np.int64):
                return a.astype(np.float32 if a.dtype == np.float64 else np.int32)
            return a

        def make():
            state = eager(tensor(initial_state))
            for element in self._elements():
                result = scan_func(state, eager(element))
                if not isinstance(result, (tuple, list)) or len(result) != 2:
                    raise ValueError(f"Dataset.scan: scan_func must return (new_state, "
                                     f"output_element), got {type(result).__name__}")
                state, out = result
                yield tuple(out) if type(out) is list else out
        return self._derive(make, self._cardinality)

    def unique(self, name=None):
        """The elements with repeats left out, in the order first seen
        (elements of int32, int64 or string tensors, as tf.data's)."""
        def key(element):
            if isinstance(element, (tuple, list, dict)):
                raise TypeError("Dataset.unique: the elements must be single tensors, got "
                                f"a {type(element).__name__}")
            a = np.asarray(element)
            if a.dtype.kind not in "iuOSU":
                raise TypeError(f"Dataset.unique: only int32, int64 and string elements are "
                                f"supported, got {a.dtype}")
            return a.shape, str(a.dtype), tuple(a.ravel().tolist())

        def make():
            seen = set()
            for element in self._elements():
                k = key(element)
                if k not in seen:
                    seen.add(k)
                    yield element
        return self._derive(make, INFINITE if self._cardinality == INFINITE else UNKNOWN,
                            same_elements=True)

    def bucket_by_sequence_length(self, element_length_func, bucket_boundaries,
                                  bucket_batch_sizes, padded_shapes=None, padding_values=None,
                                  pad_to_bucket_boundary=False, no_padding=False,
                                  drop_remainder=False, name=None):
        """Batches of elements of similar lengths (see the module's
        bucket_by_sequence_length, tf.data.experimental's form of it)."""
        return bucket_by_sequence_length(
            element_length_func, bucket_boundaries, bucket_batch_sizes, padded_shapes,
            padding_values, pad_to_bucket_boundary, no_padding, drop_remainder)(self)

    def group_by_window(self, key_func, reduce_func, window_size=None, window_size_func=None,
                        name=None):
        """Elements gathered by ``key_func(element)`` (an int64 key) into
        windows of ``window_size`` (or ``window_size_func(key)``); each full
        window (and, at the end, each partial one, in the order their keys
        first came) is given to ``reduce_func(key, window_dataset)`` and
        the elements of the dataset it returns follow."""
        if (window_size is None) == (window_size_func is None):
            raise ValueError("Dataset.group_by_window: give exactly one of window_size and "
                             "window_size_func")
        if window_size is not None:
            size = _check_count(window_size, "group_by_window", "window_size")
            if size < 1:
                raise ValueError(f"Dataset.group_by_window: window_size must be >= 1, got "
                                 f"{window_size}")

        def call(fn, element):
            shown = eager(element)
            return fn(*shown) if isinstance(shown, tuple) else fn(shown)

        def window_of(key):
            if window_size_func is None:
                return size
            n = int(np.asarray(window_size_func(eager(np.asarray(key, np.int64)))))
            if n < 1:
                raise ValueError(f"Dataset.group_by_window: window_size_func gave {n} for key "
                                 f"{key}; window sizes must be >= 1")
            return n

        def reduced(key, group):
            out = reduce_func(eager(np.asarray(key, np.int64)), _list_dataset(group))
            if not isinstance(out, Dataset):
                raise TypeError(f"Dataset.group_by_window: reduce_func must return a Dataset, "
                                f"got {type(out).__name__}")
            return out._elements()

        def make():
            windows, sizes = {}, {}
            for element in self._elements():
                k = np.asarray(call(key_func, element))
                if k.shape != () or k.dtype.kind not in "iu":
                    raise TypeError(f"Dataset.group_by_window: key_func must return an int64 "
                                    f"scalar, got {k.dtype} of shape {k.shape}")
                k = int(k)
                if k not in windows:
                    windows[k], sizes[k] = [], window_of(k)
                windows[k].append(element)
                if len(windows[k]) == sizes[k]:
                    yield from reduced(k, windows[k])
                    windows[k] = []
            for k, group in windows.items():
                if group:
                    yield from reduced(k, group)
        return self._derive(make, INFINITE if self._cardinality == INFINITE else UNKNOWN)

    def prefetch(self, buffer_size):
        """The same elements, prepared ``buffer_size`` ahead on a background
        thread (two for AUTOTUNE)."""
        buffer_size = _check_count(buffer_size, "prefetch", "buffer_size")
        depth = 2 if buffer_size < 0 else max(buffer_size, 1)
        fetched = self._derive(lambda: _background(self._elements, depth), self._cardinality,
                               same_elements=True)
        fetched._elementwise = (self, lambda e: e)
        return fetched


def _write_elements(file, elements, who):
    """The elements in one .npz: each array under its own key, their
    structure (tuples, lists, dicts) as JSON text."""
    import json
    import os
    import tempfile
    arrays = {}

    def encode(v):
        if isinstance(v, tuple):
            return {"tuple": [encode(u) for u in v]}
        if isinstance(v, list):
            return {"list": [encode(u) for u in v]}
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise TypeError(f"{who}: dict elements need string keys to be written, "
                                f"got {list(v)!r}")
            return {"dict": [[k, encode(u)] for k, u in v.items()]}
        a = np.asarray(v)
        if isinstance(v, bytes) or a.dtype.kind == "O":
            # strings (UTF-8 bytes, as TensorFlow's): their bytes one after
            # another and their lengths, so any byte (NUL too) comes back
            flat = a.ravel().tolist()
            if not all(isinstance(b, bytes) for b in flat):
                raise TypeError(f"{who}: cannot write an element of type "
                                f"{type(v).__name__} (arrays of numbers, booleans or "
                                f"strings only)")
            key = f"a{len(arrays)}"
            arrays[key] = np.frombuffer(b"".join(flat), np.uint8)
            arrays[key + "n"] = np.array([len(b) for b in flat], np.int64)
            return {"bytes": key, "shape": list(a.shape), "scalar": isinstance(v, bytes)}
        key = f"a{len(arrays)}"
        arrays[key] = a
        return {"array": key, "scalar": not isinstance(v, np.ndarray)}
    structure = [encode(e) for e in elements]
    arrays["structure"] = np.array(json.dumps(structure))
    folder = os.path.dirname(os.path.abspath(file))
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, file)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_elements(file, who):
    import json
    with np.load(file, allow_pickle=False) as data:
        try:
            structure = json.loads(str(data["structure"]))
        except (KeyError, ValueError):
            raise ValueError(f"{who}: {file} is not a dataset file written by pynn") from None

        def decode(node):
            if "tuple" in node:
                return tuple(decode(u) for u in node["tuple"])
            if "list" in node:
                return [decode(u) for u in node["list"]]
            if "dict" in node:
                return {k: decode(u) for k, u in node["dict"]}
            if "bytes" in node:
                raw, ends = data[node["bytes"]].tobytes(), np.cumsum(data[node["bytes"] + "n"])
                items = [raw[e - n:e] for e, n in zip(ends.tolist(),
                                                      data[node["bytes"] + "n"].tolist())]
                if node["scalar"]:
                    return items[0]
                out = np.empty(len(items), object)
                out[:] = items
                return out.reshape(node["shape"])
            a = data[node["array"]]
            return a[()] if node["scalar"] else a
        elements = [decode(e) for e in structure]
    yield from elements


def _list_dataset(elements):
    """A Dataset of these elements as they are."""
    elements = list(elements)
    return Dataset(lambda: iter(elements), len(elements))


def _encode_spec(spec):
    """An element_spec as JSON: TensorSpecs in tuples, lists and dicts."""
    from ..execution import RaggedTensorSpec, TensorSpec
    if isinstance(spec, tuple):
        return {"tuple": [_encode_spec(s) for s in spec]}
    if isinstance(spec, list):
        return {"list": [_encode_spec(s) for s in spec]}
    if isinstance(spec, dict):
        return {"dict": [[str(k), _encode_spec(s)] for k, s in spec.items()]}
    if type(spec) is TensorSpec:
        return {"tensor": None if spec.shape is None else
                [None if d is None else int(d) for d in spec.shape],
                "dtype": str(getattr(spec.dtype, "name", spec.dtype)), "name": spec.name}
    kind = "a RaggedTensorSpec" if isinstance(spec, RaggedTensorSpec) else type(spec).__name__
    raise TypeError(f"Dataset.save: cannot save elements described by {kind} (tensors "
                    f"in tuples, lists and dicts only)")


def _decode_spec(node):
    from ..execution import TensorSpec
    if not isinstance(node, dict):
        raise ValueError("Dataset.load: the saved element_spec is not valid")
    if "tuple" in node:
        return tuple(_decode_spec(s) for s in node["tuple"])
    if "list" in node:
        return [_decode_spec(s) for s in node["list"]]
    if "dict" in node:
        return {k: _decode_spec(s) for k, s in node["dict"]}
    if "tensor" in node:
        return TensorSpec(node["tensor"], node["dtype"], node.get("name"))
    raise ValueError("Dataset.load: the saved element_spec is not valid")


class TextLineDataset(Dataset):
    """tf.data.TextLineDataset: one string element per line of the text
    files ``filenames`` (a path, a list of paths or a Dataset of them),
    file after file, each line without its "\n" or "\r\n".
    ``compression_type`` is None/"" (plain), "GZIP" or "ZLIB";
    ``num_parallel_reads`` > 1 reads that many files at once, a line from
    each in turn (tf.data's interleaved order)."""

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        if isinstance(filenames, Dataset):
            paths = None
            source = filenames
        else:
            paths = np.asarray(filenames.numpy() if hasattr(filenames, "numpy") else filenames)
            if paths.dtype.kind not in "USO" or paths.ndim > 1:
                raise TypeError(f"TextLineDataset: filenames must be a path or a list of "
                                f"paths, got {filenames!r}")
            source = Dataset.from_tensor_slices(paths.reshape(-1))
        kind = (compression_type or "").upper()
        if kind not in ("", "GZIP", "ZLIB"):
            raise ValueError(f"TextLineDataset: compression_type must be None, '', 'GZIP' or "
                             f"'ZLIB', got {compression_type!r}")

        def lines(path):
            path = path.decode() if isinstance(path, bytes) else str(path)
            with open(path, "rb") as f:
                data = f.read()
            if kind == "GZIP":
                import gzip
                data = gzip.decompress(data)
            elif kind == "ZLIB":
                import zlib
                data = zlib.decompress(data)
            rows = data.split(b"\n")
            if rows[-1] == b"":
                rows.pop()  # (a final newline ends the last line, no empty one after it)
            for row in rows:
                # (a string tensor of the line's bytes, as TensorFlow's)
                line = np.empty((), dtype=object)
                line[()] = row[:-1] if row.endswith(b"\r") else row
                yield line

        def one_file(path):
            return Dataset(lambda: lines(np.asarray(path).item()))

        cycle = 1 if not num_parallel_reads or num_parallel_reads < 0 else \
            _check_count(num_parallel_reads, "TextLineDataset", "num_parallel_reads")
        files = source.interleave(one_file, cycle_length=cycle)
        super().__init__(files._make_iterator, UNKNOWN)


def Counter(start=0, step=1, dtype=np.int64, name=None):
    """tf.data.experimental.Counter: start, start + step, ... without end,
    scalars of ``dtype`` (int64)."""
    kind = np.dtype(getattr(dtype, "name", dtype))

    def make():
        value = start
        while True:
            yield np.asarray(value, kind)
            value += step
    return Dataset(make, INFINITE)


def _csv_defaults(record_defaults, who):
    """(dtype, default or None where the field is required) per column, as
    TensorFlow reads record_defaults: a value (int: int32, float:
    float32, str: string), a one-value list or tensor, or an empty one for
    a required field."""
    out = []
    for d in record_defaults:
        v = d.numpy() if hasattr(d, "numpy") else d
        if isinstance(v, bool) or isinstance(v, (list, tuple)) and any(
                isinstance(e, bool) for e in v):
            raise TypeError(f"{who}: record_defaults are int, float or string values")
        a = np.asarray(v, dtype=np.float32 if isinstance(v, float) else
                       np.int32 if isinstance(v, int) else None)
        if a.dtype.kind in "USO":
            kind = object
        elif a.dtype == np.float64 and not isinstance(v, np.ndarray):
            kind = np.float32  # (Python floats, as tf.constant makes them)
        elif a.dtype == np.int64 and not isinstance(v, np.ndarray):
            kind = np.int32
        else:
            kind = a.dtype.type
        if a.size > 1:
            raise ValueError(f"{who}: a record default holds one value or none, got {v!r}")
        default = None if a.size == 0 else a.reshape(-1)[0]
        if kind is object and default is not None and not isinstance(default, bytes):
            default = _text(default).encode()
        out.append((kind, default))
    return out


def _text(value):
    """A string (or a 0-d string tensor's value) as Python text; printing
    a tensor gives TensorFlow's ``tf.Tensor(...)``, not its value."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.view(np.ndarray)[()]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _csv_record(line, defaults, field_delim, use_quote_delim, na_value, select_cols, who):
    """One CSV line's fields as NumPy scalars of their columns' dtypes."""
    text = _text(line)
    fields = next(csv.reader([text], delimiter=field_delim,
                             quoting=csv.QUOTE_MINIMAL if use_quote_delim else csv.QUOTE_NONE),
                  [""])
    if select_cols is not None:
        if max(select_cols) >= len(fields):
            raise _invalid_argument(f"{who}: the record {text!r} has {len(fields)} fields, "
                                    f"select_cols reads column {max(select_cols)}")
        fields = [fields[c] for c in select_cols]
    if len(fields) != len(defaults):
        raise _invalid_argument(f"{who}: expect {len(defaults)} fields but have "
                                f"{len(fields)} in record {text!r}")
    out = []
    for k, (field, (kind, default)) in enumerate(zip(fields, defaults)):
        if field == "" or field == na_value:
            if default is None:
                raise _invalid_argument(f"{who}: field {k} is required but missing in record "
                                        f"{text!r}")
            value = default
        elif kind is object:
            value = field.encode("utf-8")
        else:
            try:
                value = kind(float(field)) if np.dtype(kind).kind == "f" else kind(int(field))
            except ValueError:
                raise _invalid_argument(f"{who}: field {k} of record {text!r} is not a "
                                        f"{np.dtype(kind).name}: {field!r}") from None
        out.append(value)
    return out


def _invalid_argument(text):
    from ..debugging import InvalidArgumentError
    return InvalidArgumentError(None, None, text)


def decode_csv(records, record_defaults, field_delim=",", use_quote_delim=True, na_value="",
               select_cols=None, name=None):
    """TensorFlow's ``tf.io.decode_csv``: the CSV lines ``records`` (a
    string tensor of any shape) parsed into one tensor per column, of
    ``records``' shape, typed by ``record_defaults`` (an empty default:
    the field is required)."""
    who = "decode_csv"
    defaults = _csv_defaults(record_defaults, who)
    lines = np.asarray(records.numpy() if hasattr(records, "numpy") else records, dtype=object)
    parsed = [_csv_record(line, defaults, field_delim, use_quote_delim, na_value, select_cols,
                          who) for line in lines.reshape(-1)]
    columns = []
    for k, (kind, _) in enumerate(defaults):
        col = np.empty(len(parsed), dtype=object if kind is object else kind)
        col[:] = [row[k] for row in parsed]
        columns.append(eager(col.reshape(lines.shape)))
    return columns


class CsvDataset(Dataset):
    """tf.data.experimental.CsvDataset: one element per CSV line of the
    files ``filenames``, a tuple of scalars typed by ``record_defaults`` (as
    decode_csv reads them), past the first line of each file with
    ``header``; ``select_cols`` (or ``exclude_cols``) picks the columns."""

    def __init__(self, filenames, record_defaults, compression_type=None, buffer_size=None,
                 header=False, field_delim=",", use_quote_delim=True, na_value="",
                 select_cols=None, exclude_cols=None, name=None):
        who = "CsvDataset"
        if select_cols is not None and exclude_cols is not None:
            raise ValueError(f"{who}: give select_cols or exclude_cols, not both")
        defaults = _csv_defaults(record_defaults, who)
        paths = np.asarray(filenames.numpy() if hasattr(filenames, "numpy") else filenames,
                           dtype=object).reshape(-1)

        def rows():
            for path in paths:
                cols = select_cols
                lines = iter(TextLineDataset(path, compression_type=compression_type))
                if header:
                    next(lines, None)
                for line in lines:
                    text = _text(line)
                    if exclude_cols is not None and cols is None:
                        width = len(next(csv.reader([text], delimiter=field_delim)))
                        cols = [c for c in range(width) if c not in set(exclude_cols)]
                    yield tuple(np.asarray(v) for v in _csv_record(
                        text, defaults, field_delim, use_quote_delim, na_value, cols, who))
        super().__init__(rows, UNKNOWN)


def _values_of(structure):
    """Eager tensors (and Variables) of a structure as their arrays."""
    from .. import autodiff
    return _map_structure(lambda v: autodiff.value_of(v), structure)


def assert_cardinality(expected_cardinality):
    """tf.data.experimental's ``dataset.apply(assert_cardinality(n))``: the
    elements, with ``n`` as the dataset's known cardinality (fit's progress
    bar and steps read it from a generator's dataset); a pass that finds
    more or fewer raises FailedPreconditionError, as TensorFlow's."""
    expected = _check_count(expected_cardinality, "assert_cardinality",
                            "expected_cardinality")

    def transform(dataset):
        def make():
            from ..debugging import FailedPreconditionError
            n = 0
            for element in dataset._elements():
                n += 1
                if expected >= 0 and n > expected:
                    raise FailedPreconditionError(
                        None, None, f"Input dataset was expected to contain {expected} "
                                    f"elements but contained at least {expected + 1} elements.")
                yield element
            if expected == INFINITE or (expected >= 0 and n < expected):
                raise FailedPreconditionError(
                    None, None, f"Input dataset was expected to contain {expected} elements "
                                f"but contained only {n} elements.")
        return dataset._derive(make, expected, same_elements=True)
    return transform


def bucket_by_sequence_length(element_length_func, bucket_boundaries, bucket_batch_sizes,
                              padded_shapes=None, padding_values=None,
                              pad_to_bucket_boundary=False, no_padding=False,
                              drop_remainder=False):
    """tf.data's transformation (``dataset.apply(...)``) that batches
    elements of similar lengths together: an element of length L goes to
    the bucket of the first boundary above L (the last bucket past them
    all), and a bucket is given out as a batch, padded as padded_batch
    pads (to its boundary less one with ``pad_to_bucket_boundary``), when
    it holds its batch size; at the end, what the buckets hold."""
    bounds = [int(b) for b in bucket_boundaries]
    sizes = [_check_count(b, "bucket_by_sequence_length", "bucket_batch_sizes")
             for b in bucket_batch_sizes]
    if len(sizes) != len(bounds) + 1:
        raise ValueError(f"bucket_by_sequence_length: bucket_batch_sizes needs one size per "
                         f"bucket, len(bucket_boundaries) + 1 = {len(bounds) + 1}, got "
                         f"{len(sizes)}")
    if any(b <= a for a, b in zip(bounds, bounds[1:])) or min(sizes) < 1:
        raise ValueError(f"bucket_by_sequence_length: the boundaries must increase and the "
                         f"batch sizes be >= 1, got {bounds} and {sizes}")
    if pad_to_bucket_boundary and padded_shapes is not None:
        raise ValueError("bucket_by_sequence_length: give padded_shapes or "
                         "pad_to_bucket_boundary, not both")

    def transform(dataset):
        def batch(group, k):
            if no_padding:
                return _stack(group)
            shapes = padded_shapes
            if pad_to_bucket_boundary:
                if k == len(bounds):
                    raise ValueError("bucket_by_sequence_length: pad_to_bucket_boundary "
                                     "needs every element shorter than the last boundary")
                # (the first axis of each component, its length; scalars as they are)
                shapes = _map_structure(
                    lambda a: [bounds[k] - 1] + [None] * (a.ndim - 1) if a.ndim else [],
                    _as_arrays(group[0]))
            return _pad_stack(group, shapes, padding_values)

        def make():
            buckets = [[] for _ in sizes]
            for element in dataset._elements():
                shown = eager(element)
                length = int(np.asarray(element_length_func(*shown) if isinstance(shown, tuple)
                                        else element_length_func(shown)))
                k = next((j for j, b in enumerate(bounds) if length < b), len(bounds))
                buckets[k].append(element)
                if len(buckets[k]) == sizes[k]:
                    yield batch(buckets[k], k)
                    buckets[k] = []
            if not drop_remainder:
                for k, group in enumerate(buckets):
                    if group:
                        yield batch(group, k)
        return Dataset(make, INFINITE if dataset._cardinality == INFINITE else UNKNOWN,
                       batched=True)
    return transform


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None,
                  preferred_backend=None):
    """Keras's split_dataset: the samples of ``dataset`` (an array, a list
    or tuple of arrays with the same number of rows, or a Dataset) as two
    Datasets, the first ``left_size`` samples and the last ``right_size``
    (an int is a count, a float in (0, 1) a fraction; None: the rest).
    ``shuffle`` shuffles the samples first, with Python's random generator
    seeded by ``seed`` as Keras does, so a seed splits as Keras's does.
    ``preferred_backend`` is accepted for Keras's signature; the splits are
    pynn Datasets."""
    from .. import tree
    if isinstance(dataset, np.ndarray):
        rows = list(dataset)
    elif isinstance(dataset, (list, tuple)):
        if not dataset:
            raise ValueError("split_dataset: received an empty list dataset; give a "
                             "non-empty list of arrays")
        arrays = [np.asarray(a) for a in dataset]
        lengths = {len(a) if a.ndim else None for a in arrays}
        if len(lengths) != 1 or None in lengths:
            raise ValueError(f"split_dataset: the arrays must have the same number of rows, "
                             f"got shapes {[a.shape for a in arrays]}")
        rows = list(zip(*arrays))
    elif isinstance(dataset, Dataset):
        rows = list(dataset)
    else:
        raise TypeError(f"split_dataset: dataset must be a Dataset, a NumPy array or a "
                        f"list/tuple of arrays, got {type(dataset).__name__}")
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    if shuffle:
        import random
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(rows)
    left_size, right_size = _split_sizes(left_size, right_size, len(rows))

    def restore(part):
        if isinstance(dataset, np.ndarray):
            return np.array(part)
        spec = part[0]
        columns = [np.array(c) for c in zip(*(tree.flatten(r) for r in part))]
        return tree.lists_to_tuples(tree.pack_sequence_as(spec, columns))
    return (Dataset.from_tensor_slices(restore(rows[:left_size])),
            Dataset.from_tensor_slices(restore(rows[-right_size:])))


def _split_sizes(left_size, right_size, total):
    """(left, right) sample counts from split_dataset's sizes, with Keras's
    checks."""
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, "
                            f"Received: type({name})={type(size)}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and (size <= 0 or size >= total)) or \
                (type(size) is float and (size <= 0 or size >= 1)):
            raise ValueError(f"`{name}` should be either a positive integer smaller than "
                             f"{total}, or a float within the range `[0, 1]`. Received: "
                             f"{name}={size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total}. Received: left_size + right_size = {left + right}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length={total}, `left_size`={left} and "
                             f"`right_size`={right}. Resulting {side} side dataset split will "
                             f"be empty. Adjust any of the aforementioned parameters")
    return int(left), int(right)


def _csv_column_type(values, na_value):
    """TensorFlow's inferred type of a CSV column: int32 (int64 past its
    range), float32, else string; an empty field, like ``na_value``, is
    missing and says nothing of the type."""
    kind = np.int32
    for v in values:
        if v == na_value or v == "":
            continue
        try:
            n = int(v)
            if kind is not np.float32 and not -2 ** 31 <= n < 2 ** 31:
                kind = np.int64
            continue
        except ValueError:
            pass
        try:
            float(v)
            kind = np.float32
        except ValueError:
            return object
    return kind


def make_csv_dataset(file_pattern, batch_size, column_names=None, column_defaults=None,
                     label_name=None, select_columns=None, field_delim=",",
                     use_quote_delim=True, na_value="", header=True, num_epochs=None,
                     shuffle=True, shuffle_buffer_size=10000, shuffle_seed=None,
                     prefetch_buffer_size=None, num_parallel_reads=None, sloppy=False,
                     num_rows_for_inference=100, compression_type=None, ignore_errors=False,
                     encoding="utf-8"):
    """tf.data.experimental.make_csv_dataset: batches of ``(features,
    label)`` (``features`` only without ``label_name``), ``features`` a
    dict of one array per column (batch,), read from the CSV files that
    ``file_pattern`` (a glob or a list of paths) matches.  Column types
    come from ``column_defaults`` or, as TensorFlow infers them, from the
    first ``num_rows_for_inference`` rows (int32, float32, else string,
    as bytes); a missing value (``na_value``) takes the default (0, or the
    empty string).  The rows go round ``num_epochs`` times (None: without
    end), shuffled unless ``shuffle=False``."""
    import csv
    import glob
    import io
    paths = [file_pattern] if isinstance(file_pattern, (str, bytes)) else list(file_pattern)
    files = sorted(f for p in paths for f in (glob.glob(p if isinstance(p, str) else p.decode())
                                              or [p]))
    rows, names = [], None if column_names is None else list(column_names)
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        if (compression_type or "").upper() == "GZIP":
            import gzip
            data = gzip.decompress(data)
        reader = csv.reader(io.StringIO(data.decode(encoding)), delimiter=field_delim,
                            quoting=csv.QUOTE_MINIMAL if use_quote_delim else csv.QUOTE_NONE)
        lines = [r for r in reader if r]
        if header and lines:
            first, lines = lines[0], lines[1:]
            if names is None:
                names = first
        rows.extend(lines)
    if names is None:
        raise ValueError("make_csv_dataset: give column_names for files without a header")
    bad = [r for r in rows if len(r) != len(names)]
    if bad and not ignore_errors:
        raise ValueError(f"make_csv_dataset: a row has {len(bad[0])} fields, expected "
                         f"{len(names)} ({names})")
    rows = [r for r in rows if len(r) == len(names)]
    keep = list(names) if select_columns is None else [
        names[c] if isinstance(c, (int, np.integer)) else c for c in select_columns]
    if label_name is not None and label_name not in names:
        raise ValueError(f"make_csv_dataset: label_name {label_name!r} is not a column: "
                         f"{names}")
    columns = {}
    for i, name in enumerate(names):
        if name not in keep and name != label_name:
            continue
        values = [r[i] for r in rows]
        default = None
        if column_defaults is not None:
            default = column_defaults[i]
            if isinstance(default, (list, tuple, np.ndarray)):
                # (TensorFlow's record defaults: [0.0], ["NA"]; [] for none)
                default = default[0] if len(default) else None
            default = getattr(default, "numpy", lambda: default)()
            kind = object if isinstance(default, (str, bytes)) else \
                np.int32 if isinstance(default, (int, np.integer)) else np.float32
        else:
            kind = _csv_column_type(values[:num_rows_for_inference], na_value)
        if kind is object:
            fill = b"" if default is None else default if isinstance(default, bytes) else \
                default.encode(encoding)
            col = np.empty(len(values), object)
            col[:] = [fill if v == na_value or v == "" else v.encode(encoding) for v in values]
        else:
            fill = 0 if default is None else default
            col = np.array([fill if v == na_value or v == "" else
                            float(v) if kind is np.float32 else int(v) for v in values],
                           dtype=kind)
        columns[name] = col
    label = columns.pop(label_name) if label_name is not None else None
    features = {n: columns[n] for n in names if n in columns}
    ds = Dataset.from_tensor_slices(features if label is None else (features, label))
    if shuffle:
        ds = ds.shuffle(shuffle_buffer_size, seed=shuffle_seed)
    ds = ds.repeat(num_epochs)
    return ds.batch(batch_size)
