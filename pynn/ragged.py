"""TensorFlow's ``tf.ragged`` basics: a :class:`RaggedTensor` of rows of
different lengths (one ragged dimension: ``[[1, 2], [3], []]``), made by
``tf.ragged.constant`` or ``RaggedTensor.from_row_lengths`` /
``from_row_splits`` / ``from_value_rowids``, padded into a dense tensor by
``to_tensor``; elementwise arithmetic and ``tf.ragged.map_flat_values``
work on its values."""
import builtins
import functools
import operator

import numpy as np

from .autodiff import value_of
from .debugging import InvalidArgumentError
from .tensor import TensorShape, eager

__all__ = ["RaggedTensor", "constant", "map_flat_values", "concat", "range"]


class RaggedTensor:
    """Rows of ``values`` cut at ``row_splits`` (row i is
    ``values[row_splits[i]:row_splits[i + 1]]``)."""

    def __init__(self, values, row_splits):
        values = np.asarray(value_of(values))
        splits = np.asarray(value_of(row_splits), dtype=np.int64).reshape(-1)
        if splits.size == 0 or splits[0] != 0 or (np.diff(splits) < 0).any() or \
                splits[-1] != len(values):
            raise ValueError(f"RaggedTensor: row_splits must start at 0, never decrease and "
                             f"end at the number of values ({len(values)}), got "
                             f"{splits.tolist()}")
        if values.dtype == np.float64:
            values = values.astype(np.float32)  # (as tf.constant makes Python floats)
        elif values.dtype.kind == "U":
            # (TensorFlow holds strings as UTF-8 bytes)
            values = np.frompyfunc(str.encode, 1, 1)(values).astype(object)
        self.values = eager(values)
        self.row_splits = eager(splits)

    @classmethod
    def from_row_lengths(cls, values, row_lengths, name=None, validate=True):
        lengths = np.asarray(value_of(row_lengths), dtype=np.int64).reshape(-1)
        return cls(values, np.concatenate([[0], np.cumsum(lengths)]))

    @classmethod
    def from_row_splits(cls, values, row_splits, name=None, validate=True):
        return cls(values, row_splits)

    @classmethod
    def from_value_rowids(cls, values, value_rowids, nrows=None, name=None, validate=True):
        """Row ``value_rowids[i]`` holds ``values[i]`` (the ids ascending;
        ``nrows`` adds empty rows at the end)."""
        ids = np.asarray(value_of(value_rowids), dtype=np.int64).reshape(-1)
        if (ids < 0).any() or (np.diff(ids) < 0).any():
            raise ValueError(f"RaggedTensor.from_value_rowids: value_rowids must be "
                             f"ascending and not negative, got {ids.tolist()}")
        n = int(ids[-1]) + 1 if ids.size else 0
        if nrows is not None:
            if int(nrows) < n:
                raise ValueError(f"RaggedTensor.from_value_rowids: nrows={int(nrows)} is less "
                                 f"than the rows value_rowids name ({n})")
            n = int(nrows)
        return cls.from_row_lengths(values, np.bincount(ids, minlength=n))

    @classmethod
    def from_uniform_row_length(cls, values, uniform_row_length, nrows=None,
                                validate=True, name=None):
        """Rows of ``uniform_row_length`` values each (``nrows`` of them,
        which an empty length needs)."""
        length = int(np.asarray(value_of(uniform_row_length)))
        n = len(np.asarray(value_of(values)))
        if length < 0 or (length and n % length):
            raise ValueError(f"RaggedTensor.from_uniform_row_length: {n} values do not make "
                             f"rows of {length}")
        rows = n // length if length else int(nrows or 0)
        if nrows is not None and int(nrows) != rows:
            raise ValueError(f"RaggedTensor.from_uniform_row_length: nrows={int(nrows)}, but "
                             f"{n} values make {rows} rows of {length}")
        return cls(values, np.arange(rows + 1, dtype=np.int64) * length)

    @classmethod
    def from_tensor(cls, tensor, lengths=None, padding=None, ragged_rank=1, name=None,
                    row_splits_dtype="int64"):
        """The rows of a dense tensor (rank 2 or more), each cut to
        ``lengths[i]`` or before its trailing ``padding`` (whole
        elements equal to it), else whole."""
        if ragged_rank != 1:
            raise ValueError(f"RaggedTensor.from_tensor: pynn's RaggedTensor has one ragged "
                             f"dimension (ragged_rank=1), got ragged_rank={ragged_rank}")
        if lengths is not None and padding is not None:
            raise ValueError("RaggedTensor.from_tensor: give lengths or padding, not both")
        given = value_of(tensor)
        dense = np.asarray(given)
        if dense.dtype == np.int64 and not isinstance(given, np.ndarray):
            dense = dense.astype(np.int32)  # (Python ints, as tf.constant makes them)
        if dense.ndim < 2:
            raise ValueError(f"RaggedTensor.from_tensor: the tensor must have rank 2 or more, "
                             f"got shape {dense.shape}")
        if lengths is not None:
            cut = np.asarray(value_of(lengths), np.int64).reshape(-1)
            if cut.shape != (dense.shape[0],) or (cut < 0).any() or \
                    (cut > dense.shape[1]).any():
                raise ValueError(f"RaggedTensor.from_tensor: lengths must give one length "
                                 f"from 0 to {dense.shape[1]} per row, got {cut.tolist()}")
        elif padding is not None:
            kept = dense != np.asarray(value_of(padding), dense.dtype)
            kept = kept.reshape(kept.shape[:2] + (-1,)).any(axis=2)
            # (the length: one past the last element that is not padding)
            cut = np.where(kept.any(axis=1),
                           dense.shape[1] - np.argmax(kept[:, ::-1], axis=1), 0)
        else:
            cut = np.full(dense.shape[0], dense.shape[1], np.int64)
        values = np.concatenate([dense[i, :int(k)] for i, k in enumerate(cut)]) \
            if len(cut) else dense.reshape((0,) + dense.shape[2:])
        return cls.from_row_lengths(values, cut)

    @classmethod
    def from_sparse(cls, st_input, name=None, row_splits_dtype="int64"):
        """The rows of a 2-D SparseTensor whose values fill each row from
        its start (TensorFlow's "ragged-right" sparse tensors)."""
        from .sparse import SparseTensor
        if not isinstance(st_input, SparseTensor):
            raise TypeError(f"RaggedTensor.from_sparse: expected a SparseTensor, got "
                            f"{type(st_input).__name__}")
        idx = np.asarray(st_input.indices)
        shape = np.asarray(st_input.dense_shape)
        if shape.size != 2:
            raise ValueError(f"RaggedTensor.from_sparse: the SparseTensor must be 2-D, got "
                             f"dense_shape {shape.tolist()}")
        lengths = np.bincount(idx[:, 0], minlength=int(shape[0])) if len(idx) else \
            np.zeros(int(shape[0]), np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        want = np.arange(len(idx)) - np.repeat(starts, lengths)
        if (np.diff(idx[:, 0]) < 0).any() or (idx[:, 1] != want).any():
            raise ValueError("RaggedTensor.from_sparse: the SparseTensor is not ragged-right "
                             "(each row's values at columns 0, 1, ... in order)")
        return cls.from_row_lengths(np.asarray(st_input.values), lengths)

    def value_rowids(self):
        """The row of each value."""
        return eager(np.repeat(np.arange(self.nrows(), dtype=np.int64),
                               np.asarray(self.row_lengths())))

    def with_flat_values(self, new_values):
        """The same rows holding ``new_values`` (one per value)."""
        new_values = np.asarray(value_of(new_values))
        if len(new_values) != len(self.values):
            raise ValueError(f"RaggedTensor.with_flat_values: {len(self.values)} values "
                             f"needed, got {len(new_values)}")
        return RaggedTensor(new_values, self.row_splits)

    with_values = with_flat_values

    def bounding_shape(self, axis=None, name=None, out_type=None):
        """The smallest dense shape holding every row (``to_tensor``'s)."""
        lengths = np.asarray(self.row_lengths())
        shape = np.array((self.nrows(), int(lengths.max()) if lengths.size else 0)
                         + tuple(self.values.shape[1:]), dtype=out_type or np.int64)
        return eager(shape if axis is None else shape[axis])

    def to_sparse(self, name=None):
        """A SparseTensor of the values at their (row, position, ...)."""
        from .sparse import SparseTensor
        values = np.asarray(self.values)
        inner = values.shape[1:]
        positions = np.arange(len(values)) - np.repeat(np.asarray(self.row_splits)[:-1],
                                                        np.asarray(self.row_lengths()))
        outer = np.stack([np.asarray(self.value_rowids()), positions], axis=1)
        within = np.indices(inner).reshape(len(inner), -1).T if inner else \
            np.zeros((1, 0), np.int64)
        indices = np.concatenate([np.repeat(outer, len(within), axis=0),
                                  np.tile(within, (len(outer), 1))], axis=1)
        return SparseTensor(indices, values.reshape(-1), np.asarray(self.bounding_shape()))

    def _elementwise(self, other, op, reflected=False):
        """``op`` on the values: with a number or a tensor that broadcasts
        against each value, a RaggedTensor of the same row splits, or a
        dense (rows, 1, ...) tensor (one entry per row)."""
        mine = np.asarray(self.values)
        if isinstance(other, RaggedTensor):
            if not np.array_equal(np.asarray(other.row_splits), np.asarray(self.row_splits)):
                raise InvalidArgumentError(
                    f"RaggedTensor: the rows differ in length ({self.row_lengths().tolist()} "
                    f"and {other.row_lengths().tolist()}); elementwise operations need equal "
                    f"row lengths")
            theirs = np.asarray(other.values)
        else:
            # (a Python number stays one: int32 values + 3 stay int32)
            theirs = other if isinstance(other, (int, float)) else np.asarray(value_of(other))
            if np.ndim(theirs) == 0:
                pass
            elif theirs.ndim >= 2 and theirs.ndim == mine.ndim + 1 and \
                    theirs.shape[0] == self.nrows() and theirs.shape[1] == 1:
                theirs = np.repeat(theirs[:, 0], np.asarray(self.row_lengths()), axis=0)
            elif theirs.ndim >= mine.ndim + 1:
                raise InvalidArgumentError(
                    f"RaggedTensor: a tensor of shape {theirs.shape} does not broadcast "
                    f"against ragged shape {tuple(self.shape)}")
        try:
            out = op(theirs, mine) if reflected else op(mine, theirs)
        except ValueError as e:
            raise InvalidArgumentError(f"RaggedTensor: {e}") from None
        if out.shape[:1] != mine.shape[:1]:
            raise InvalidArgumentError(f"RaggedTensor: values of shape {mine.shape} and "
                                       f"{np.shape(theirs)} do not broadcast elementwise")
        return RaggedTensor(out, self.row_splits)

    def __neg__(self):
        return RaggedTensor(-np.asarray(self.values), self.row_splits)

    def __abs__(self):
        return RaggedTensor(np.abs(np.asarray(self.values)), self.row_splits)

    @property
    def flat_values(self):
        return self.values

    @property
    def shape(self):
        return TensorShape((self.nrows(), None) + tuple(self.values.shape[1:]))

    @property
    def dtype(self):
        from .dtypes import as_dtype
        return as_dtype("string" if self.values.dtype.kind in "OSU" else
                        self.values.dtype.name)

    @property
    def ragged_rank(self):
        return 1

    def nrows(self):
        return len(self.row_splits) - 1

    def row_lengths(self):
        return eager(np.diff(np.asarray(self.row_splits)))

    def __len__(self):
        return self.nrows()

    def __getitem__(self, i):
        if isinstance(i, slice):
            i = (i,)
        if isinstance(i, tuple) and i and all(isinstance(k, slice) for k in i[:2]):
            # ``rt[a:b]`` (rows) and ``rt[:, :n]`` (each row cut), as TensorFlow
            if len(i) > 2:
                raise TypeError(f"RaggedTensor: index at most the rows and within them, "
                                f"got {i!r}")
            rows = [np.asarray(self[r]) for r in builtins.range(self.nrows())[i[0]]]
            if len(i) == 2:
                rows = [row[i[1]] for row in rows]
            values = np.concatenate(rows) if rows else np.asarray(self.values)[:0]
            return RaggedTensor.from_row_lengths(values, [len(r) for r in rows])
        if isinstance(i, tuple) and i and isinstance(i[0], (int, np.integer)):
            # ``rt[1, 2]``: within the row, as TensorFlow indexes
            row = self[i[0]]
            return row[i[1:]] if len(i) > 1 else row
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"RaggedTensor: index a row by an integer, or rows and within "
                            f"them by slices, got {i!r}")
        n = self.nrows()
        if not -n <= i < n:
            raise IndexError(f"RaggedTensor: row {i} of {n}")
        i %= n
        return self.values[int(self.row_splits[i]):int(self.row_splits[i + 1])]

    def __iter__(self):
        return (self[i] for i in builtins.range(self.nrows()))

    def to_tensor(self, default_value=None, name=None, shape=None):
        """The rows padded at their ends with ``default_value`` (0) to the
        longest (or to ``shape``, cutting longer rows)."""
        lengths = np.asarray(self.row_lengths())
        width = int(lengths.max()) if lengths.size else 0
        rows = self.nrows()
        inner = tuple(self.values.shape[1:])
        if shape is not None:
            shape = list(shape)
            rows = rows if shape[0] is None else int(shape[0])
            width = width if shape[1] is None else int(shape[1])
        fill = (b"" if self.values.dtype.kind in "OS" else "") \
            if self.values.dtype.kind in "OSU" and default_value is None else \
            (0 if default_value is None else default_value)
        out = np.full((rows, width) + inner, fill, dtype=np.asarray(self.values).dtype)
        for r in builtins.range(min(rows, self.nrows())):
            row = np.asarray(self[r])[:width]
            out[r, :len(row)] = row
        return eager(out)

    def to_list(self):
        return [np.asarray(row).tolist() for row in self]

    def numpy(self):
        """The rows as an object array of arrays (TensorFlow's)."""
        out = np.empty(self.nrows(), dtype=object)
        for i, row in enumerate(self):
            out[i] = np.asarray(row)
        return out

    def __repr__(self):
        return f"<tf.RaggedTensor {self.to_list()}>"


def constant(pylist, dtype=None, ragged_rank=None, inner_shape=None, name=None,
             row_splits_dtype="int64"):
    """A RaggedTensor of a list of rows (lists of different lengths)."""
    if ragged_rank not in (None, 1):
        raise ValueError(f"tf.ragged.constant: pynn's RaggedTensor has one ragged dimension "
                         f"(ragged_rank=1), got ragged_rank={ragged_rank}")
    try:
        rows = [np.asarray(value_of(row), dtype=None if dtype is None else str(dtype))
                for row in pylist]
    except ValueError as e:  # (a row of rows of different lengths)
        if "inhomogeneous" not in str(e):
            raise
        rows = [np.empty(0, object)]
    if any(r.dtype == object for r in rows):
        raise ValueError("tf.ragged.constant: pynn's RaggedTensor has one ragged dimension; "
                         "the rows' own elements must all have one shape")
    lengths = [len(r) if r.ndim else 0 for r in rows]
    nonempty = [r for r in rows if r.size]
    inner = nonempty[0].shape[1:] if nonempty else ()
    if inner_shape is not None and tuple(inner) != tuple(inner_shape) and nonempty:
        raise ValueError(f"tf.ragged.constant: the rows' elements have shape {inner}, not "
                         f"inner_shape {tuple(inner_shape)}")
    if any(r.shape[1:] != inner for r in nonempty):
        raise ValueError("tf.ragged.constant: pynn's RaggedTensor has one ragged dimension; "
                         "the rows' elements differ in shape")
    # (an empty row takes the others' dtype: [[1, 2], []] holds integers)
    common = np.result_type(*nonempty) if nonempty else np.dtype(np.float32)
    values = np.concatenate([r.astype(common).reshape((-1,) + inner) for r in rows]) if rows \
        else np.zeros((0,), np.float32)
    if dtype is None and values.dtype == np.int64:
        values = values.astype(np.int32)  # (as tf.constant makes Python ints)
    return RaggedTensor.from_row_lengths(values, lengths)


def concat(values, axis):
    """``tf.concat`` of RaggedTensors (and lists of rows): axis 0 stacks
    their rows, axis 1 joins each row with the same row of the others."""
    parts = [v if isinstance(v, RaggedTensor) else _as_ragged(v) for v in values]
    if not parts:
        raise ValueError("tf.concat: no tensors to join")
    if axis not in (0, 1, -1):
        raise ValueError(f"tf.concat: RaggedTensors have rows (axis 0) and the ragged axis "
                         f"(axis 1); got axis={axis}")
    if axis == 0:
        rows = [np.asarray(r) for p in parts for r in p]
    else:
        counts = {p.nrows() for p in parts}
        if len(counts) != 1:
            raise ValueError(f"tf.concat: joining along axis {axis} needs the same number of "
                             f"rows in each RaggedTensor, got {[p.nrows() for p in parts]}")
        rows = [np.concatenate([np.asarray(p[i]) for p in parts]) for i in builtins.range(counts.pop())]
    common = np.result_type(*[p.values for p in parts])
    inner = tuple(parts[0].values.shape[1:])
    flat = np.concatenate([r.astype(common).reshape((-1,) + inner) for r in rows]) if rows \
        else np.zeros((0,) + inner, common)
    return RaggedTensor.from_row_lengths(flat, [len(r) for r in rows])


def _as_ragged(value):
    """A dense tensor (or a list of rows) as a RaggedTensor of its rows."""
    given = value_of(value)
    try:
        dense = np.asarray(given)
    except ValueError:  # (rows of different lengths)
        return constant(value)
    if dense.ndim >= 2 and (dense.dtype != object or all(
            isinstance(v, (str, bytes)) for v in dense.ravel())):
        return RaggedTensor.from_tensor(value)
    return constant(value)


def _operator(op, reflected=False):
    def method(self, other):
        return self._elementwise(other, op, reflected)
    return method


for _name, _op in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv),
                   ("mod", operator.mod), ("pow", operator.pow)):
    setattr(RaggedTensor, f"__{_name}__", _operator(_op))
    setattr(RaggedTensor, f"__r{_name}__", _operator(_op, reflected=True))
for _name, _op in (("lt", operator.lt), ("le", operator.le), ("gt", operator.gt),
                   ("ge", operator.ge)):
    setattr(RaggedTensor, f"__{_name}__", _operator(_op))
del _name, _op


def map_flat_values(op, *args, **kwargs):
    """``op`` on the flat values of the RaggedTensors among the arguments
    (all with the same row splits), as a RaggedTensor of those rows."""
    splits = []

    def flat(v):
        if isinstance(v, RaggedTensor):
            splits.append(np.asarray(v.row_splits))
            return v.values
        if isinstance(v, (list, tuple)):
            return type(v)(flat(u) for u in v)
        if isinstance(v, dict):
            return {k: flat(u) for k, u in v.items()}
        return v
    args, kwargs = flat(args), flat(kwargs)
    if not splits:
        raise ValueError("tf.ragged.map_flat_values: no RaggedTensor among the arguments")
    if any(not np.array_equal(s, splits[0]) for s in splits[1:]):
        raise InvalidArgumentError("tf.ragged.map_flat_values: the RaggedTensors' rows differ "
                                   "in length")
    out = np.asarray(value_of(op(*args, **kwargs)))
    if out.shape[:1] != (int(splits[0][-1]),):
        raise ValueError(f"tf.ragged.map_flat_values: op must give one value per flat value "
                         f"({int(splits[0][-1])}), got shape {out.shape}")
    return RaggedTensor(out, splits[0])


# ------------------------------------------------------------ TensorFlow's ops on
# RaggedTensors: tf.add(rt, 3), tf.reduce_mean(rt, axis=1), tf.tile, tf.reverse,
# tf.nn.embedding_lookup, tf.cast, tf.map_fn dispatch here as TensorFlow's do.

def elementwise(fn):
    """``fn`` (an elementwise tf.math function of one tensor) on a
    RaggedTensor's values, the rows kept."""
    def dispatch(x, *args, **kwargs):
        if isinstance(x, RaggedTensor):
            return RaggedTensor(fn(x.values, *args, **kwargs), x.row_splits)
        return fn(x, *args, **kwargs)
    return _wrapped(dispatch, fn)


def binary(fn):
    """``fn`` (an elementwise tf.math function of two tensors) where either
    is a RaggedTensor: with another of the same rows, a number, or a dense
    tensor that broadcasts against each value or has one entry per row."""
    def dispatch(x, y, *args, **kwargs):
        if isinstance(x, RaggedTensor):
            return x._elementwise(y, lambda a, b: np.asarray(value_of(fn(a, b, *args, **kwargs))))
        if isinstance(y, RaggedTensor):
            return y._elementwise(x, lambda a, b: np.asarray(value_of(fn(a, b, *args, **kwargs))),
                                  reflected=True)
        return fn(x, y, *args, **kwargs)
    return _wrapped(dispatch, fn)


def _wrapped(dispatch, fn):
    return functools.update_wrapper(dispatch, fn)


def _lowest(dtype):
    return -np.inf if dtype.kind in "fc" else (False if dtype.kind == "b" else np.iinfo(dtype).min)


def _highest(dtype):
    return np.inf if dtype.kind in "fc" else (True if dtype.kind == "b" else np.iinfo(dtype).max)


# kind: (the ufunc that combines two values, the value of an empty group)
_REDUCTIONS = {"sum": (np.add, lambda d: 0), "prod": (np.multiply, lambda d: 1),
               "max": (np.maximum, _lowest), "min": (np.minimum, _highest),
               "any": (np.logical_or, lambda d: False), "all": (np.logical_and, lambda d: True),
               "mean": (np.add, lambda d: 0)}


def _segment_reduce(kind, values, segments, count):
    """``values`` (one per entry of ``segments``) reduced into ``count``
    groups, an empty group holding the reduction's identity (TensorFlow's
    unsorted_segment_* : the lowest value for max, the highest for min,
    NaN for a mean)."""
    ufunc, empty = _REDUCTIONS[kind]
    if kind in ("any", "all"):
        values = values.astype(bool)
    if kind == "mean":
        out = np.zeros((count,) + values.shape[1:], np.float64)
        np.add.at(out, segments, values)
        n = np.bincount(segments, minlength=count).reshape((count,) + (1,) * (values.ndim - 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out / n
        # (integers' mean is a float64 division, TensorFlow's truediv)
        return out if values.dtype.kind in "iub" or values.dtype == np.float64 else \
            out.astype(values.dtype)
    out = np.full((count,) + values.shape[1:], empty(values.dtype), values.dtype)
    ufunc.at(out, segments, values)
    return out


def reduce(kind, rt, axis=None, keepdims=False):
    """tf.reduce_<kind> of a RaggedTensor: over its rows (axis 0, a dense
    result as wide as the longest row, each position over the rows that
    reach it), within each row (axis 1, a dense result of one entry per
    row, empty rows the reduction's identity), over the values' own axes
    (a RaggedTensor of the same rows), or over everything (None)."""
    values = np.asarray(rt.values)
    rank = values.ndim + 1
    if axis is None:
        axes = list(builtins.range(rank))
    else:
        axes = [int(a) for a in np.ravel(np.asarray(value_of(axis)))]
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(f"tf.reduce_{kind}: axis {axes} is out of range for a RaggedTensor of "
                         f"rank {rank} (shape {tuple(rt.shape)})")
    axes = sorted({a % rank for a in axes})
    inner = tuple(a - 1 for a in axes if a >= 2)
    if inner:
        if kind == "mean" and values.dtype.kind in "iub":
            values = values.astype(np.float64)
        ufunc, _ = _REDUCTIONS[kind]
        values = np.mean(values, axis=inner, keepdims=keepdims) if kind == "mean" else \
            ufunc.reduce(values.astype(bool) if kind in ("any", "all") else values,
                         axis=inner, keepdims=keepdims)
        if kind == "mean" and values.dtype == np.float64 and \
                np.asarray(rt.values).dtype.kind == "f":
            values = values.astype(np.asarray(rt.values).dtype)
    lengths = np.asarray(rt.row_lengths())
    if 0 in axes and 1 in axes:
        out = _segment_reduce(kind, values, np.zeros(len(values), np.int64), 1)[0]
    elif 1 in axes:
        out = _segment_reduce(kind, values, np.asarray(rt.value_rowids()), rt.nrows())
    elif 0 in axes:
        positions = np.arange(len(values)) - np.repeat(np.asarray(rt.row_splits)[:-1], lengths)
        width = int(lengths.max()) if lengths.size else 0
        out = _segment_reduce(kind, values, positions, width)
    else:
        return RaggedTensor(values, rt.row_splits)
    if keepdims:
        for a in (0, 1):
            if a in axes:
                out = np.expand_dims(out, a)
    return eager(np.asarray(out))


def reduction(kind):
    """A tf.reduce_<kind> function that reduces RaggedTensors too."""
    def decorate(fn):
        def dispatch(input_tensor, axis=None, keepdims=False, name=None):
            if isinstance(input_tensor, RaggedTensor):
                return reduce(kind, input_tensor, axis, bool(keepdims))
            return fn(input_tensor, axis=axis, keepdims=keepdims, name=name)
        return _wrapped(dispatch, fn)
    return decorate


def tile(rt, multiples):
    """tf.tile of a RaggedTensor: the rows ``multiples[0]`` times over,
    each row's values ``multiples[1]`` times over (the values' own axes
    tiled by the rest)."""
    reps = [int(m) for m in np.ravel(np.asarray(value_of(multiples)))]
    values = np.asarray(rt.values)
    if len(reps) != values.ndim + 1 or any(r < 0 for r in reps):
        raise ValueError(f"tf.tile: a RaggedTensor of rank {values.ndim + 1} needs that many "
                         f"non-negative multiples, got {reps}")
    rows = [np.tile(np.asarray(row), [reps[1]] + reps[2:]) for row in rt] * reps[0]
    inner = tuple(np.tile(values[:0], [1] + reps[2:]).shape[1:])
    flat = np.concatenate(rows) if rows else np.zeros((0,) + inner, values.dtype)
    return RaggedTensor.from_row_lengths(flat.astype(values.dtype, copy=False),
                                         [len(r) for r in rows])


def reverse(rt, axis):
    """tf.reverse of a RaggedTensor: the order of the rows (axis 0), of
    each row's values (axis 1), or of the values' own axes."""
    rank = np.asarray(rt.values).ndim + 1
    axes = [int(a) for a in np.ravel(np.asarray(value_of(axis)))]
    if any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
        raise ValueError(f"tf.reverse: axis {axes} must be distinct axes of a RaggedTensor of "
                         f"rank {rank}")
    rows = [np.asarray(row) for row in rt]
    for a in (a % rank for a in axes):
        if a == 0:
            rows = rows[::-1]
        else:
            rows = [np.flip(r, a - 1) for r in rows]
    values = np.asarray(rt.values)
    flat = np.concatenate(rows) if rows else values[:0]
    return RaggedTensor.from_row_lengths(flat, [len(r) for r in rows])



def range(starts, limits=None, deltas=1, dtype=None, name=None, row_splits_dtype="int64"):
    """tf.ragged.range: row i holds ``range(starts[i], limits[i], deltas[i])``
    (a number given for any of them is used for every row; with no
    ``limits`` the ``starts`` are the limits, from 0)."""
    if limits is None:
        starts, limits = 0, starts
    parts = [np.asarray(value_of(v)) for v in (starts, limits, deltas)]
    kind = np.result_type(*parts) if dtype is None else np.dtype(str(dtype))
    if kind == np.int64 and all(not isinstance(value_of(v), np.ndarray)
                                for v in (starts, limits, deltas)):
        kind = np.dtype(np.int32)  # (Python ints, as tf.constant makes them)
    try:
        s, lim, d = np.broadcast_arrays(*parts)
    except ValueError:
        raise ValueError(f"tf.ragged.range: starts, limits and deltas must have one entry per "
                         f"row (or be numbers), got shapes {[p.shape for p in parts]}") from None
    if s.ndim > 1:
        raise ValueError(f"tf.ragged.range: starts, limits and deltas must be numbers or 1-D, "
                         f"got shape {s.shape}")
    if (d == 0).any():
        raise InvalidArgumentError("tf.ragged.range: deltas must not be 0")
    rows = [np.arange(a, b, c).astype(kind) for a, b, c in
            zip(np.atleast_1d(s), np.atleast_1d(lim), np.atleast_1d(d))]
    flat = np.concatenate(rows) if rows else np.zeros(0, kind)
    return RaggedTensor.from_row_lengths(flat.astype(kind), [len(r) for r in rows])
