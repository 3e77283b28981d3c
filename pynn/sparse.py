"""TensorFlow's ``tf.sparse`` basics: a :class:`SparseTensor` (indices,
values, dense shape) and the functions that build, densify, multiply and
sum it.  pynn computes on dense arrays, so each function densifies: they
are for inputs written the sparse way (a bag of words, a one-hot table), not
for sizes only a sparse kernel could hold.  ``sparse_dense_matmul`` records
its dense operand on a GradientTape (its sparse values are constants)."""
import numpy as np

from . import ops
from .autodiff import value_of
from .tensor import TensorShape, eager

__all__ = ["SparseTensor", "from_dense", "to_dense", "sparse_dense_matmul", "reduce_sum",
           "reorder", "add", "concat", "slice", "map_values", "transpose", "reduce_max"]


class SparseTensor:
    """``values[i]`` at position ``indices[i]`` of a ``dense_shape`` array,
    zero elsewhere (tf.sparse.SparseTensor)."""

    def __init__(self, indices, values, dense_shape):
        indices = np.asarray(value_of(indices), dtype=np.int64)
        given = values
        values = np.asarray(value_of(values))
        dense_shape = np.asarray(value_of(dense_shape), dtype=np.int64).reshape(-1)
        if indices.ndim != 2 or indices.shape[1] != dense_shape.size:
            raise ValueError(f"SparseTensor: indices must have shape [N, {dense_shape.size}] "
                             f"for dense_shape {dense_shape.tolist()}, got {indices.shape}")
        if values.shape != (indices.shape[0],):
            raise ValueError(f"SparseTensor: values must have shape [{indices.shape[0]}] (one "
                             f"per index), got {values.shape}")
        if (dense_shape < 0).any() or (indices < 0).any() or \
                (indices.size and (indices >= dense_shape).any()):
            raise ValueError(f"SparseTensor: an index lies outside dense_shape "
                             f"{dense_shape.tolist()}")
        if values.dtype == np.float64:
            values = values.astype(np.float32)  # (as tf.constant makes Python floats)
        elif values.dtype == np.int64 and not isinstance(given, (np.ndarray, np.generic)) and \
                all(type(v) is int for v in np.asarray(given, dtype=object).reshape(-1)):
            values = values.astype(np.int32)  # (and Python ints)
        self.indices = eager(indices)
        self.values = eager(values)
        self.dense_shape = eager(dense_shape)

    @property
    def shape(self):
        return TensorShape(self.dense_shape.tolist())

    @property
    def dtype(self):
        from .dtypes import as_dtype
        return as_dtype(self.values.dtype.name)

    def get_shape(self):
        return self.shape

    def __neg__(self):
        return SparseTensor(self.indices, -np.asarray(self.values), self.dense_shape)

    def __abs__(self):
        return SparseTensor(self.indices, np.abs(np.asarray(self.values)), self.dense_shape)

    # printed as TensorFlow prints one: its three tensors
    def __repr__(self):
        return (f"SparseTensor(indices={self.indices}, values={self.values}, "
                f"dense_shape={self.dense_shape})")

    # sparse * dense, sparse / dense: the values at the stored positions
    # (the dense operand a number or broadcast to the dense shape), a
    # SparseTensor of the same positions, as TensorFlow's operators; a sum
    # has no such operator (``s + 1.0`` is TensorFlow's TypeError too)
    def _elementwise(self, other, fn, symbol):
        if isinstance(other, SparseTensor):
            raise TypeError(f"SparseTensor {symbol} SparseTensor is not defined; use "
                            f"tf.sparse functions (or densify one with tf.sparse.to_dense)")
        o = np.asarray(value_of(other))
        if o.ndim:
            try:
                o = np.broadcast_to(o, tuple(self.dense_shape.tolist()))[
                    tuple(np.asarray(self.indices).T)]
            except ValueError:
                raise ValueError(f"SparseTensor {symbol}: a dense operand of shape {o.shape} "
                                 f"does not broadcast to {self.dense_shape.tolist()}") from None
        return SparseTensor(self.indices, fn(np.asarray(self.values), o), self.dense_shape)

    def __mul__(self, other):
        return self._elementwise(other, np.multiply, "*")

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._elementwise(other, np.true_divide, "/")


class IndexedSlices:
    """Rows ``values[i]`` at rows ``indices[i]`` of a ``dense_shape`` array
    (tf.IndexedSlices: a Variable's ``scatter_update`` takes one)."""

    def __init__(self, values, indices, dense_shape=None):
        self.values = eager(np.asarray(value_of(values), dtype=np.float32)
                            if np.asarray(value_of(values)).dtype == np.float64
                            else np.asarray(value_of(values)))
        self.indices = eager(np.asarray(value_of(indices), dtype=np.int64))
        if self.indices.ndim != 1 or len(self.indices) != len(self.values):
            raise ValueError(f"IndexedSlices: indices must be one row index per row of values "
                             f"(shape [{len(self.values)}]), got shape {self.indices.shape}")
        self.dense_shape = None if dense_shape is None else \
            eager(np.asarray(value_of(dense_shape), dtype=np.int64))

    @property
    def dtype(self):
        from .dtypes import as_dtype
        return as_dtype(self.values.dtype.name)

    def __repr__(self):
        return (f"IndexedSlices(indices={self.indices.tolist()}, values={self.values.tolist()}"
                f"{'' if self.dense_shape is None else ', dense_shape=' + str(self.dense_shape.tolist())})")


def _check(sp, what):
    if not isinstance(sp, SparseTensor):
        raise TypeError(f"tf.sparse.{what}: expected a SparseTensor, got {type(sp).__name__}")


def from_dense(tensor, name=None):
    """The nonzero entries of ``tensor`` as a SparseTensor (row-major)."""
    dense = np.asarray(value_of(tensor))
    indices = np.argwhere(dense != 0)
    return SparseTensor(indices, dense[tuple(indices.T)], dense.shape)


def to_dense(sp_input, default_value=None, validate_indices=True, name=None):
    """The dense array: the values at their indices, ``default_value``
    (0) elsewhere.  A repeated index is refused (as TensorFlow's
    validation)."""
    _check(sp_input, "to_dense")
    idx = np.asarray(sp_input.indices)
    if validate_indices and len(np.unique(idx, axis=0)) != len(idx):
        raise ValueError("tf.sparse.to_dense: repeated indices")
    fill = 0 if default_value is None else default_value
    dense = np.full(tuple(sp_input.dense_shape.tolist()), fill,
                    dtype=np.asarray(sp_input.values).dtype)
    dense[tuple(idx.T)] = np.asarray(sp_input.values)
    return eager(dense)


def sparse_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """``sp_a @ b`` (either operand may be the SparseTensor), each
    transposed first when its adjoint is asked for."""
    a_sparse = isinstance(sp_a, SparseTensor)
    if not a_sparse and not isinstance(b, SparseTensor):
        raise TypeError("tf.sparse.sparse_dense_matmul: one operand must be a SparseTensor")
    a = to_dense(sp_a) if a_sparse else sp_a
    b = to_dense(b) if isinstance(b, SparseTensor) else b
    if adjoint_a:
        a = ops.transpose(a)
    if adjoint_b:
        b = ops.transpose(b)
    return ops.matmul(a, b)


def reduce_sum(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The sum of the entries (along ``axis``): a dense tensor, or a
    SparseTensor with ``output_is_sparse``."""
    _check(sp_input, "reduce_sum")
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    total = eager(np.sum(np.asarray(to_dense(sp_input)), axis=axis, keepdims=bool(keepdims)))
    return from_dense(total) if output_is_sparse else total


def reorder(sp_input, name=None):
    """The same SparseTensor with its entries in row-major order."""
    _check(sp_input, "reorder")
    idx = np.asarray(sp_input.indices)
    order = np.lexsort(idx.T[::-1]) if len(idx) else np.arange(0)
    return SparseTensor(idx[order], np.asarray(sp_input.values)[order], sp_input.dense_shape)


def add(a, b, threshold=0):
    """``a + b``: a SparseTensor for two of them (entries whose magnitude is
    below ``threshold`` dropped), a dense tensor when one is dense."""
    if isinstance(a, SparseTensor) and isinstance(b, SparseTensor):
        if a.dense_shape.tolist() != b.dense_shape.tolist():
            raise ValueError(f"tf.sparse.add: shapes {a.dense_shape.tolist()} and "
                             f"{b.dense_shape.tolist()} differ")
        total = np.asarray(to_dense(a)) + np.asarray(to_dense(b))
        both = np.concatenate([np.asarray(a.indices), np.asarray(b.indices)])
        idx = np.unique(both, axis=0) if len(both) else both
        values = total[tuple(idx.T)]
        keep = np.abs(values) >= threshold
        return SparseTensor(idx[keep], values[keep], a.dense_shape)
    dense = [to_dense(x) if isinstance(x, SparseTensor) else x for x in (a, b)]
    return ops.add(*dense)


def concat(axis, sp_inputs, expand_nonconcat_dims=False, concat_dim=None, name=None):
    """The SparseTensors joined along ``axis`` (row-major order); with
    ``expand_nonconcat_dims`` the other axes take the largest size."""
    axis = concat_dim if concat_dim is not None else axis
    sp_inputs = list(sp_inputs)
    for sp in sp_inputs:
        _check(sp, "concat")
    shapes = np.stack([np.asarray(sp.dense_shape) for sp in sp_inputs])
    axis = int(axis) % shapes.shape[1]
    others = np.delete(shapes, axis, axis=1)
    if not expand_nonconcat_dims and (others != others[0]).any():
        raise ValueError(f"tf.sparse.concat: the inputs' shapes {shapes.tolist()} differ "
                         f"outside axis {axis} (expand_nonconcat_dims=True takes the largest)")
    offsets = np.concatenate([[0], np.cumsum(shapes[:, axis])[:-1]])
    indices = []
    for sp, offset in zip(sp_inputs, offsets):
        idx = np.array(sp.indices)
        idx[:, axis] += offset
        indices.append(idx)
    dense_shape = shapes.max(axis=0)
    dense_shape[axis] = shapes[:, axis].sum()
    return reorder(SparseTensor(np.concatenate(indices),
                                np.concatenate([np.asarray(sp.values) for sp in sp_inputs]),
                                dense_shape))


def slice(sp_input, start, size, name=None):
    """The entries in the box from ``start`` of ``size`` (cut at the dense
    shape), their indices counted from ``start``."""
    _check(sp_input, "slice")
    start = np.asarray(value_of(start), dtype=np.int64).reshape(-1)
    size = np.asarray(value_of(size), dtype=np.int64).reshape(-1)
    shape = np.asarray(sp_input.dense_shape)
    if start.size != shape.size or size.size != shape.size or (start < 0).any() or \
            (size < 0).any():
        raise ValueError(f"tf.sparse.slice: start {start.tolist()} and size {size.tolist()} "
                         f"must be one non-negative entry per axis of {shape.tolist()}")
    idx = np.asarray(sp_input.indices)
    keep = ((idx >= start) & (idx < start + size)).all(axis=1)
    return SparseTensor(idx[keep] - start, np.asarray(sp_input.values)[keep],
                        np.clip(np.minimum(size, shape - start), 0, None))


def map_values(op, *args, **kwargs):
    """``op`` on the values of the SparseTensors among the arguments (all
    with the same indices), as a SparseTensor of those indices."""
    found = []

    def values_of(v):
        if isinstance(v, SparseTensor):
            found.append(v)
            return v.values
        return v
    args = [values_of(a) for a in args]
    kwargs = {k: values_of(v) for k, v in kwargs.items()}
    if not found:
        raise ValueError("tf.sparse.map_values: no SparseTensor among the arguments")
    first = found[0]
    for sp in found[1:]:
        if not (np.array_equal(np.asarray(sp.indices), np.asarray(first.indices)) and
                np.array_equal(np.asarray(sp.dense_shape), np.asarray(first.dense_shape))):
            raise ValueError("tf.sparse.map_values: the SparseTensors' indices differ")
    return SparseTensor(first.indices, np.asarray(value_of(op(*args, **kwargs))),
                        first.dense_shape)


def transpose(sp_input, perm=None, name=None):
    """The SparseTensor with its axes permuted (reversed by default)."""
    _check(sp_input, "transpose")
    rank = len(sp_input.dense_shape)
    perm = list(range(rank))[::-1] if perm is None else \
        [int(p) for p in np.asarray(value_of(perm)).reshape(-1)]
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"tf.sparse.transpose: perm {perm} is not a permutation of "
                         f"{rank} axes")
    return reorder(SparseTensor(np.asarray(sp_input.indices)[:, perm], sp_input.values,
                                np.asarray(sp_input.dense_shape)[perm]))


def reduce_max(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The maximum of the entries (along ``axis``): only the given values
    take part, not the implicit zeros; where none falls, 0 (as TensorFlow's)."""
    _check(sp_input, "reduce_max")
    shape = tuple(np.asarray(sp_input.dense_shape).tolist())
    axes = range(len(shape)) if axis is None else \
        [int(a) % len(shape) for a in np.asarray(axis).reshape(-1)]
    values = np.asarray(sp_input.values)
    low = np.finfo(values.dtype).min if values.dtype.kind == "f" else np.iinfo(values.dtype).min
    dense = np.full(shape, low, dtype=values.dtype)
    np.maximum.at(dense, tuple(np.asarray(sp_input.indices).T), values)
    present = np.zeros(shape, bool)
    present[tuple(np.asarray(sp_input.indices).T)] = True
    axes = tuple(axes)
    out = np.where(np.any(present, axis=axes, keepdims=bool(keepdims)),
                   np.max(dense, axis=axes, keepdims=bool(keepdims)), 0).astype(values.dtype)
    return from_dense(out) if output_is_sparse else eager(out)


def _sequences(sp):
    """{group index (all but the last axis): values ordered by the last}."""
    idx, values = np.asarray(sp.indices), np.asarray(sp.values)
    groups = {}
    for i in np.lexsort(idx.T[::-1]):
        groups.setdefault(tuple(idx[i, :-1].tolist()), []).append(values[i].item())
    return groups


def _levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def edit_distance(hypothesis, truth, normalize=True, name="edit_distance"):
    """TensorFlow's ``tf.edit_distance`` (top-level there, not tf.sparse's): the Levenshtein distance between
    the sequences of two SparseTensors of the same rank, each sequence the
    values along the last axis at one index of the others; shape the larger
    of the two dense shapes without its last axis.  ``normalize`` divides
    by the truth's length (a hypothesis against no truth is inf)."""
    _check(hypothesis, "edit_distance")
    _check(truth, "edit_distance")
    h_shape, t_shape = hypothesis.dense_shape.tolist(), truth.dense_shape.tolist()
    if len(h_shape) != len(t_shape) or len(h_shape) < 1:
        raise ValueError(f"tf.edit_distance: hypothesis and truth must have the same rank "
                         f"(at least 1), got dense shapes {h_shape} and {t_shape}")
    out = np.zeros([max(a, b) for a, b in zip(h_shape[:-1], t_shape[:-1])], np.float32)
    hyp, tru = _sequences(hypothesis), _sequences(truth)
    for loc in set(hyp) | set(tru):
        h, t = hyp.get(loc, []), tru.get(loc, [])
        d = float(_levenshtein(h, t))
        if normalize:
            d = d / len(t) if t else (np.inf if h else 0.0)
        out[loc] = d
    return eager(out)
