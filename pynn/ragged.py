"""TensorFlow's ``tf.ragged`` basics: a :class:`RaggedTensor` of rows of
different lengths (one ragged dimension: ``[[1, 2], [3], []]``), made by
``tf.ragged.constant`` or ``RaggedTensor.from_row_lengths`` /
``from_row_splits``, padded into a dense tensor by ``to_tensor``."""
import numpy as np

from .autodiff import value_of
from .tensor import TensorShape, eager

__all__ = ["RaggedTensor", "constant"]


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
