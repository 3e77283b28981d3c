"""XLA's dynamic slices as ``tensorflow.compiler.tf2xla.python.xla``
gives them (keras.io's Forward-Forward example imports them): a block read
or written at start indices that may be tensors.  As XLA defines them, each
start index is clamped so that the block fits inside the operand."""
import numpy as np

from .... import ops

__all__ = ["dynamic_slice", "dynamic_update_slice"]


def _clamped_starts(who, operand_shape, indices, sizes):
    starts = np.asarray(ops._plain(indices))
    if starts.dtype.kind not in "iu" or starts.shape != (len(operand_shape),):
        raise ValueError(f"xla.{who}: the start indices must be {len(operand_shape)} integers "
                         f"(one per axis of the operand of shape {tuple(operand_shape)}), got "
                         f"{indices!r}")
    for axis, (n, d) in enumerate(zip(sizes, operand_shape)):
        if n < 0 or n > d:
            raise ValueError(f"xla.{who}: a block of shape {tuple(sizes)} does not fit the "
                             f"operand of shape {tuple(operand_shape)} (axis {axis})")
    return [min(max(int(s), 0), int(d) - int(n))
            for s, n, d in zip(starts, sizes, operand_shape)]


def dynamic_slice(x, starts, size_indices, name=None):
    """The block of ``x`` of shape ``size_indices`` starting at ``starts``
    (clamped so that it fits)."""
    sizes = [int(n) for n in np.asarray(ops._plain(size_indices)).reshape(-1)]
    if len(sizes) != ops.ndim(x):
        raise ValueError(f"xla.dynamic_slice: {len(sizes)} sizes for an operand of shape "
                         f"{tuple(ops.shape(x))}")
    begin = _clamped_starts("dynamic_slice", ops.shape(x), starts, sizes)
    return ops.slice(x, begin, sizes)


def dynamic_update_slice(operand, update, indices, name=None):
    """``operand`` with the block at ``indices`` (clamped so that it fits)
    replaced by ``update``, which has the operand's rank and dtype."""
    if ops.ndim(update) != ops.ndim(operand):
        raise ValueError(f"xla.dynamic_update_slice: an update of shape "
                         f"{tuple(ops.shape(update))} for an operand of shape "
                         f"{tuple(ops.shape(operand))}; they need the same rank")
    begin = _clamped_starts("dynamic_update_slice", ops.shape(operand), indices,
                            ops.shape(update))
    return ops.slice_update(operand, begin, update)
