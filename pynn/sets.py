"""TensorFlow's ``tf.sets``: set operations along the last axis of two
tensors (each row a set; TensorFlow's and pynn's results are
SparseTensors whose rows hold the result's elements in ascending order)."""
import numpy as np

from .autodiff import value_of
from .sparse import SparseTensor, to_dense

__all__ = ["union", "intersection", "difference", "size"]


def _rows(x, what):
    if isinstance(x, SparseTensor):
        # (a SparseTensor's set holds its stored values only)
        dense = np.asarray(to_dense(x))
        present = np.zeros(dense.shape, bool)
        present[tuple(np.asarray(x.indices).T)] = True
        return dense, present
    dense = np.asarray(value_of(x))
    if dense.ndim < 2:
        raise ValueError(f"tf.sets.{what}: inputs need rank 2 or more (rows of sets), got "
                         f"shape {dense.shape}")
    return dense, np.ones(dense.shape, bool)


def _set_operation(a, b, what, combine):
    (da, pa), (db, pb) = _rows(a, what), _rows(b, what)
    if da.shape[:-1] != db.shape[:-1]:
        raise ValueError(f"tf.sets.{what}: the inputs' leading shapes differ: "
                         f"{da.shape[:-1]} and {db.shape[:-1]}")
    lead = da.shape[:-1]
    results = {i: combine(np.unique(da[i][pa[i]]), np.unique(db[i][pb[i]]))
               for i in np.ndindex(lead)}
    width = max((len(r) for r in results.values()), default=0)
    indices = [i + (j,) for i, r in results.items() for j in range(len(r))]
    values = np.concatenate([r for r in results.values()] or [np.zeros(0, da.dtype)])
    return SparseTensor(np.asarray(indices, np.int64).reshape(-1, len(lead) + 1),
                        values.astype(np.result_type(da, db)), lead + (width,))


def union(a, b, validate_indices=True):
    """Each row's elements found in ``a`` or in ``b``."""
    return _set_operation(a, b, "union", np.union1d)


def intersection(a, b, validate_indices=True):
    """Each row's elements found in both ``a`` and ``b``."""
    return _set_operation(a, b, "intersection", np.intersect1d)


def difference(a, b, aminusb=True, validate_indices=True):
    """Each row's elements of ``a`` not in ``b`` (of ``b`` not in ``a``
    when ``aminusb`` is False)."""
    return _set_operation(a, b, "difference",
                          np.setdiff1d if aminusb else lambda x, y: np.setdiff1d(y, x))


def size(a, validate_indices=True):
    """The number of distinct elements in each row, an int32 tensor."""
    from .tensor import eager
    dense, present = _rows(a, "size")
    return eager(np.array([len(np.unique(dense[i][present[i]])) for i in np.ndindex(dense.shape[:-1])],
                          np.int32).reshape(dense.shape[:-1]))
