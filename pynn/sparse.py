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
           "reorder", "add"]


class SparseTensor:
    """``values[i]`` at position ``indices[i]`` of a ``dense_shape`` array,
    zero elsewhere (tf.sparse.SparseTensor)."""

    def __init__(self, indices, values, dense_shape):
        indices = np.asarray(value_of(indices), dtype=np.int64)
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

    def __repr__(self):
        return (f"SparseTensor(indices={self.indices.tolist()}, values={self.values.tolist()}, "
                f"dense_shape={self.dense_shape.tolist()})")


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
