"""TensorFlow's ``tf.ragged`` basics: a :class:`RaggedTensor` of rows of
different lengths (one ragged dimension: ``[[1, 2], [3], []]``), made by
``tf.ragged.constant`` or ``RaggedTensor.from_row_lengths`` /
``from_row_splits`` / ``from_value_rowids``, padded into a dense tensor by
``to_tensor``; elementwise arithmetic and ``tf.ragged.map_flat_values``
work on its values."""
import operator

import numpy as np

from .autodiff import value_of
from .debugging import InvalidArgumentError
from .tensor import TensorShape, eager

__all__ = ["RaggedTensor", "constant", "map_flat_values", "concat"]


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
            rows = [np.asarray(self[r]) for r in range(self.nrows())[i[0]]]
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
        return (self[i] for i in range(self.nrows()))

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
        for r in range(min(rows, self.nrows())):
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
    parts = [v if isinstance(v, RaggedTensor) else constant(v) for v in values]
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
        rows = [np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(counts.pop())]
    common = np.result_type(*[p.values for p in parts])
    inner = tuple(parts[0].values.shape[1:])
    flat = np.concatenate([r.astype(common).reshape((-1,) + inner) for r in rows]) if rows \
        else np.zeros((0,) + inner, common)
    return RaggedTensor.from_row_lengths(flat, [len(r) for r in rows])


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
