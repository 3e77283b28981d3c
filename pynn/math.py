"""TensorFlow's math functions (``tf.math``, and the top-level ``tf.*``
names custom training code uses) for programs ported with
``import pynn as tf``.

Each takes TensorFlow's argument names and defaults and computes what
TensorFlow documents, through pynn.ops, so that values a GradientTape
traces (watched arrays included) keep recording; results are eager
tensors (``.numpy()``), as ``pynn.constant``'s.  The array functions that
TensorFlow has only at its top level (tf.tile, tf.gather, tf.split, ...)
are here too, below the tf.math ones; pynn's package imports both.
"""
import builtins
import collections
import functools

import numpy as np

from . import autodiff, ops
from . import _special as _sp
from . import ragged as _ragged
from .backend import _eager_results
from .tensor import TensorShape, eager, tf_default_dtype


def _value(x):
    """The plain array of ``x`` (a traced value's value), for dtypes and shapes."""
    return np.asarray(ops._plain(x))


def _dtype(x):
    """x's dtype, of a symbolic tensor too (a functional model's, being
    built: Keras 2 recorded TensorFlow functions applied to them)."""
    if isinstance(x, (list, tuple)) and x:
        # (a list of traced losses: tf.reduce_mean([loss(a, b) for ...]))
        return np.result_type(*[_dtype(v) for v in x])
    return np.dtype(ops.dtype(x)) if _symbolic(x) else _value(x).dtype


def _is_float(x):
    return _dtype(x).kind in "fc"


def _integers(x):
    """x's values when x holds integers (no gradient flows through them:
    TensorFlow keeps their dtype, int32 in, int32 out), else None."""
    if isinstance(x, (list, tuple)) or _symbolic(x) or _dtype(x).kind not in "iu":
        return None
    return _value(x)


# ------------------------------------------------------------ elementwise

def abs(x, name=None):
    """|x|; of complex values (a tf.signal.stft spectrum) their magnitudes,
    real (computed on the values: no gradient flows through them)."""
    if type(x) is ops._TracedComplex:
        return x.abs()
    if _dtype(x).kind == "c":
        v = _value(x)
        return np.abs(v).astype(np.float64 if v.dtype == np.complex128 else np.float32)
    if (v := _integers(x)) is not None:
        return np.abs(v)
    return ops.abs(x)



def complex(real, imag, name=None):
    """real + i imag, complex64 from float32 parts (complex128 from float64):
    a signal for tf.signal.fft; of traced parts a TracedComplex, which
    keeps their gradients."""
    if ops._is_traced(real) or ops._is_traced(imag):
        re, im = ops.convert_to_tensor(real), ops.convert_to_tensor(imag)
        if tuple(ops.shape(re)) != tuple(ops.shape(im)):
            raise ValueError(f"tf.complex: real and imag need one shape, got "
                             f"{tuple(ops.shape(re))} and {tuple(ops.shape(im))}")
        return ops._TracedComplex(re, im, "complex64")
    re, im = _value(real), _value(imag)
    # (Python floats are float32 parts, as TensorFlow converts them)
    dr, di = (tf_default_dtype(v) for v in (real, imag))
    dr, di = (v.dtype if d is None else d for v, d in ((re, dr), (im, di)))
    if dr != di or dr.kind != "f":
        raise TypeError(f"tf.complex: real and imag must be floats of one dtype, got "
                        f"{dr} and {di}")
    return (re + 1j * im).astype(np.complex128 if dr == np.float64 else np.complex64)


def real(input, name=None):
    """The real parts of complex values (real values as they are)."""
    if type(input) is ops._TracedComplex:
        return input.real
    v = _value(input)
    return v.real.copy() if v.dtype.kind == "c" else input


def conj(x, name=None):
    """The complex conjugates (real values as they are)."""
    if type(x) is ops._TracedComplex:
        return x.conj()
    v = _value(x)
    return np.conj(v) if v.dtype.kind == "c" else x


def imag(input, name=None):
    """The imaginary parts of complex values (zeros for real values)."""
    if type(input) is ops._TracedComplex:
        return input.imag
    v = _value(input)
    return v.imag.copy() if v.dtype.kind == "c" else np.zeros_like(v)

def add(x, y, name=None):
    return ops.add(x, y)


def subtract(x, y, name=None):
    return ops.subtract(x, y)


def multiply(x, y, name=None):
    return ops.multiply(x, y)


def divide(x, y, name=None):
    """x / y; of integers, float64 (float32 of 8- and 16-bit ones, and of
    Python ints int32), as TensorFlow's truediv."""
    dx, dy = tf_default_dtype(x), tf_default_dtype(y)
    if dx is not None and dy is not None and dx.kind in "iu" and dy.kind in "iu" and \
            not (ops._is_traced(x) or ops._is_traced(y)):
        to = np.float32 if builtins.max(dx.itemsize, dy.itemsize) <= 2 else np.float64
        return np.true_divide(np.asarray(_value(x), to), np.asarray(_value(y), to))
    return ops.divide(x, y)


def divide_no_nan(x, y, name=None):
    """x / y, with 0 where y is 0."""
    return ops.divide_no_nan(x, y)


def multiply_no_nan(x, y, name=None):
    """x * y, with 0 where y is 0 (even where x is inf or nan)."""
    return ops.where(ops.equal(y, 0), ops.zeros_like(ops.multiply(x, y)), ops.multiply(x, y))


def xdivy(x, y, name=None):
    """x / y, with 0 where x is 0."""
    return ops.where(ops.equal(x, 0), ops.zeros_like(ops.divide(x, y)), ops.divide(x, y))


def floordiv(x, y, name=None):
    """x / y rounded toward minus infinity (integers stay integers)."""
    return ops.floor_divide(x, y)


def floormod(x, y, name=None):
    """The remainder of floordiv: x - floordiv(x, y) * y, of y's sign."""
    return ops.mod(x, y)


def negative(x, name=None):
    if (v := _integers(x)) is not None:
        return np.negative(v)
    return ops.negative(x)


def reciprocal(x, name=None):
    return ops.reciprocal(x)


def squared_difference(x, y, name=None):
    """(x - y) ** 2, elementwise."""
    return ops.square(ops.subtract(x, y))


def pow(x, y, name=None):
    return ops.power(x, y)


def exp(x, name=None):
    return ops.exp(x)


def log(x, name=None):
    return ops.log(x)


def log1p(x, name=None):
    return ops.log1p(x)


def square(x, name=None):
    if (v := _integers(x)) is not None:
        return np.square(v)
    return ops.square(x)


def sqrt(x, name=None):
    """The square root (NaN for negative values, as TensorFlow's)."""
    return ops.sqrt(x)


def rsqrt(x, name=None):
    return ops.rsqrt(x)


def sign(x, name=None):
    return ops.sign(x)


def round(x, name=None):
    """Rounded to the nearest integer, halves to even (TensorFlow's banker's rounding)."""
    return ops.round(x)


def floor(x, name=None):
    return ops.floor(x)


def ceil(x, name=None):
    return ops.ceil(x)


def sin(x, name=None):
    return ops.sin(x)


def cos(x, name=None):
    return ops.cos(x)


def tan(x, name=None):
    return ops.tan(x)


def asin(x, name=None):
    return ops.arcsin(x)


def acos(x, name=None):
    return ops.arccos(x)


def atan(x, name=None):
    return ops.arctan(x)


def atan2(y, x, name=None):
    return ops.arctan2(y, x)


def sinh(x, name=None):
    return ops.sinh(x)


def cosh(x, name=None):
    return ops.cosh(x)


def asinh(x, name=None):
    return ops.arcsinh(x)


def acosh(x, name=None):
    return ops.arccosh(x)


def atanh(x, name=None):
    return ops.arctanh(x)


def tanh(x, name=None):
    return ops.tanh(x)


def sigmoid(x, name=None):
    return ops.sigmoid(x)


def softplus(features, name=None):
    return ops.softplus(features)


def softmax(logits, axis=None, name=None):
    """tf.math.softmax, which tf.nn.softmax also is: over the last axis
    unless one is given."""
    return ops.softmax(logits, axis=-1 if axis is None else axis)


def log_softmax(logits, axis=None, name=None):
    return ops.log_softmax(logits, axis=-1 if axis is None else axis)


def log_sigmoid(x, name=None):
    return ops.log_sigmoid(x)


def erf(x, name=None):
    return ops.erf(x)


def minimum(x, y, name=None):
    return ops.minimum(x, y)


def maximum(x, y, name=None):
    return ops.maximum(x, y)


def is_nan(x, name=None):
    return ops.isnan(x)


def is_finite(x, name=None):
    return ops.isfinite(x)


def is_inf(x, name=None):
    return ops.isinf(x)


# ----------------------------------------------------------- comparisons

def equal(x, y, name=None):
    return ops.equal(x, y)


def not_equal(x, y, name=None):
    return ops.not_equal(x, y)


def less(x, y, name=None):
    return ops.less(x, y)


def less_equal(x, y, name=None):
    return ops.less_equal(x, y)


def greater(x, y, name=None):
    return ops.greater(x, y)


def greater_equal(x, y, name=None):
    return ops.greater_equal(x, y)


def logical_and(x, y, name=None):
    return ops.logical_and(x, y)


def logical_or(x, y, name=None):
    return ops.logical_or(x, y)


def logical_not(x, name=None):
    return ops.logical_not(x)


# ------------------------------------------------------------ reductions

def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    if (v := _integers(input_tensor)) is not None:
        return np.sum(v, axis=_axes(axis), keepdims=keepdims, dtype=v.dtype)
    return ops.sum(input_tensor, axis=axis, keepdims=keepdims)


def _axes(axis):
    return None if axis is None else tuple(int(a) for a in np.ravel(_value(axis)))


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """The mean over ``axis``; of integers, an integer of their dtype
    (TensorFlow's: tf.reduce_mean([1, 0, 1, 0]) is 0; the mean of no
    integers is 0)."""
    kind = _dtype(input_tensor)
    if (v := _integers(input_tensor)) is not None:
        axes = _axes(axis)
        total = np.sum(v, axis=axes, keepdims=keepdims, dtype=np.int64)
        count = v.size // np.size(total) if np.size(total) else 0
        if count == 0:
            return np.zeros(np.shape(total), kind)
        # (C's division, toward zero, as TensorFlow's integer mean)
        return (np.sign(total) * (np.abs(total) // count)).astype(kind)
    out = ops.mean(input_tensor, axis=axis, keepdims=keepdims)
    if kind.kind in "iu":
        return np.trunc(_value(out)).astype(kind)
    return out


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    return ops.max(input_tensor, axis=axis, keepdims=keepdims)


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    return ops.min(input_tensor, axis=axis, keepdims=keepdims)


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    if (v := _integers(input_tensor)) is not None:
        return np.prod(v, axis=_axes(axis), keepdims=keepdims, dtype=v.dtype)
    return ops.prod(input_tensor, axis=axis, keepdims=keepdims)


def count_nonzero(input, axis=None, keepdims=None, dtype="int64", name=None):
    """The number of non-zero entries of ``input`` (non-empty strings)
    along ``axis`` (all of them when None), as tf.math.count_nonzero: int64
    unless ``dtype`` says otherwise; ``keepdims`` keeps the counted axes,
    of size 1."""
    from .dtypes import as_dtype
    counts = ops.count_nonzero(input, axis=axis)
    if keepdims:
        rank = len(ops.shape(input))
        axes = range(rank) if axis is None else [axis] if np.ndim(axis) == 0 else axis
        for a in sorted({int(a) % rank for a in axes}):
            counts = ops.expand_dims(counts, a)
    return ops.cast(counts, as_dtype(dtype).name)


def softsign(features, name=None):
    """``x / (1 + |x|)``."""
    return ops.softsign(features)


def logical_xor(x, y, name=None):
    """True where exactly one of ``x`` and ``y`` is."""
    return ops.not_equal(ops.cast(x, "bool"), ops.cast(y, "bool"))


def xlogy(x, y, name=None):
    """``x * log(y)``, 0 where ``x`` is 0 (whatever ``y``), as TensorFlow's."""
    zero = ops.equal(x, 0.0)
    return ops.where(zero, 0.0, ops.multiply(x, ops.log(ops.where(zero, 1.0, y))))


def scalar_mul(scalar, x, name=None):
    """``x`` times the number ``scalar``."""
    if np.ndim(_value(scalar)) != 0:
        raise ValueError(f"scalar_mul: the scalar must be a number or a 0-d tensor, got shape "
                         f"{np.shape(_value(scalar))}")
    return ops.multiply(scalar, x)


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    return ops.any(ops.cast(input_tensor, "bool"), axis=axis, keepdims=keepdims)


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    return ops.all(ops.cast(input_tensor, "bool"), axis=axis, keepdims=keepdims)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    return ops.logsumexp(input_tensor, axis=axis, keepdims=keepdims)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """The (biased) variance over ``axis``."""
    return ops.var(input_tensor, axis=axis, keepdims=keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    return ops.std(input_tensor, axis=axis, keepdims=keepdims)


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    return ops.sqrt(ops.sum(ops.square(input_tensor), axis=axis, keepdims=keepdims))


def _arg_extremum(fn, x, axis, output_type):
    # TensorFlow's default axis is 0, not the last one
    return ops.cast(fn(x, axis=0 if axis is None else axis), output_type)


def argmax(input, axis=None, output_type="int64", name=None):
    """The index of the largest value along ``axis`` (0 when None), int64."""
    return _arg_extremum(ops.argmax, input, axis, output_type)


def argmin(input, axis=None, output_type="int64", name=None):
    """The index of the smallest value along ``axis`` (0 when None), int64."""
    return _arg_extremum(ops.argmin, input, axis, output_type)


def _running(scan, identity_like, x, axis, exclusive, reverse):
    """cumsum's and cumprod's scan with TensorFlow's ``exclusive`` (each
    value left out of its own result: the scan shifted by one, the
    operation's identity first) and ``reverse`` (from the end)."""
    if reverse:
        x = ops.flip(x, axis)
    out = scan(x, axis=axis)
    if exclusive:
        n = _value(out).shape[axis]
        first = identity_like(ops.take(out, [0], axis=axis))
        out = ops.concatenate([first, ops.take(out, np.arange(n - 1), axis=axis)], axis=axis)
    return ops.flip(out, axis) if reverse else out


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running sums along ``axis``; ``exclusive`` leaves each value out of
    its own sum, ``reverse`` sums from the end."""
    out = _running(ops.cumsum, ops.zeros_like, x, axis, exclusive, reverse)
    return out if (v := _integers(x)) is None else _value(out).astype(v.dtype)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running products along ``axis`` (a diffusion schedule's
    ``alpha_bar``); ``exclusive`` leaves each value out of its own product,
    ``reverse`` multiplies from the end."""
    out = _running(ops.cumprod, ops.ones_like, x, axis, exclusive, reverse)
    return out if (v := _integers(x)) is None else _value(out).astype(v.dtype)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """x / sqrt(max(sum(x ** 2, axis), epsilon)) (the whole array when axis is None)."""
    axis = dim if axis is None else axis
    total = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.multiply(x, ops.rsqrt(ops.maximum(total, epsilon)))


TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def top_k(input, k=1, sorted=True, index_type="int32", name=None):
    """The ``k`` largest values of the last axis, largest first, and their
    indices (equal values in their order)."""
    values, indices = ops.top_k(input, k)
    return TopKV2(eager(values), eager(ops.cast(indices, index_type)))


def _sorted_segments(who, data, segment_ids):
    """The sorted, non-negative ids (one per row of ``data``) and the
    number of segments (the largest id + 1)."""
    ids = _value(segment_ids)
    if ids.ndim != 1 or ids.shape[0] != _value(data).shape[0]:
        raise ValueError(f"{who}: segment_ids must be one id per row of data "
                         f"{_value(data).shape}, got shape {ids.shape}")
    if ids.size and (np.any(np.diff(ids) < 0) or ids[0] < 0):
        raise _invalid(f"{who}: segment_ids must be sorted and non-negative, got "
                       f"{ids.tolist()}")
    return ids.astype(np.int64), int(ids.max()) + 1 if ids.size else 0


def in_top_k(targets, predictions, k, name=None):
    """Whether each row's target class is among the ``k`` largest of its
    ``predictions`` row; classes tied with the k-th largest count in, and
    a target out of range or of a non-finite prediction is not in."""
    preds = _value(predictions)
    t = _value(targets).astype(np.int64)
    if preds.ndim != 2 or t.shape != preds.shape[:1]:
        raise ValueError(f"in_top_k: predictions must be (batch, classes) and targets one "
                         f"class per row, got {preds.shape} and {t.shape}")
    inside = (t >= 0) & (t < preds.shape[1])
    target = np.take_along_axis(preds, np.where(inside, t, 0)[:, None], axis=1)
    above = (preds > target).sum(axis=1)
    return inside & np.isfinite(target[:, 0]) & (above < int(_value(k)))


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype="int32",
                     name=None):
    """TensorFlow's: a (num_classes, num_classes) matrix whose entry [i, j]
    counts (or sums the ``weights`` of) the examples of label i predicted
    as j; num_classes defaults to the largest label or prediction + 1."""
    y, p = _value(labels).reshape(-1), _value(predictions).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"confusion_matrix: labels and predictions must have the same "
                         f"size, got {y.size} and {p.size}")
    for what, v in (("labels", y), ("predictions", p)):
        if v.dtype.kind not in "iu" and not (v.size == 0 or np.all(v == np.round(v))):
            raise TypeError(f"confusion_matrix: {what} must be integers, got {v.dtype}")
        if v.size and v.min() < 0:
            raise _invalid(f"confusion_matrix: {what} must be non-negative, got "
                           f"{int(v.min())}")
    y, p = y.astype(np.int64), p.astype(np.int64)
    n = int(num_classes) if num_classes is not None else \
        (int(builtins.max(y.max(), p.max())) + 1 if y.size else 0)
    if y.size and builtins.max(y.max(), p.max()) >= n:
        raise _invalid(f"confusion_matrix: labels and predictions must be < num_classes={n}")
    w = np.ones(y.shape) if weights is None else \
        np.broadcast_to(_value(weights), y.shape).astype(np.float64)
    out = np.zeros((n, n), np.float64)
    np.add.at(out, (y, p), w)
    return out.astype(np.dtype(getattr(dtype, "name", dtype)))


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype="int32", name=None,
             axis=None, binary_output=False):
    """How often each value 0, 1, ... occurs in ``arr`` (the sums of their
    ``weights`` when given, of the weights' dtype; 1 where present with
    ``binary_output``).  The length is the largest value + 1, at least
    minlength, at most maxlength (larger values are left out).  axis=-1
    counts each row of a 2-D arr separately."""
    a = _value(arr)
    if a.dtype.kind not in "iu":
        raise TypeError(f"bincount: arr must be integers, got {a.dtype}")
    if a.size and a.min() < 0:
        raise _invalid(f"bincount: arr must be non-negative, got {int(a.min())}")
    if axis not in (None, 0, -1):
        raise ValueError(f"bincount: axis must be None, 0 or -1, got {axis}")
    if axis == -1 and a.ndim != 2:
        raise ValueError(f"bincount: axis=-1 counts the rows of a 2-D arr, got shape {a.shape}")
    w = None if weights is None else _value(weights)
    if w is not None and w.shape != a.shape:
        raise ValueError(f"bincount: weights {w.shape} must have the shape of arr {a.shape}")
    size = int(a.max()) + 1 if a.size else 0
    if minlength is not None:
        size = builtins.max(size, int(minlength))
    if maxlength is not None:
        size = builtins.min(size, int(maxlength))
    rows = a.reshape(-1, a.shape[-1]) if axis == -1 else a.reshape(1, -1)
    wrows = None if w is None else w.reshape(rows.shape)
    out_dtype = np.dtype(dtype) if w is None else w.dtype
    out = np.zeros((rows.shape[0], size), out_dtype)
    keep = rows < size
    r = np.broadcast_to(np.arange(rows.shape[0])[:, None], rows.shape)[keep]
    if binary_output:
        out[r, rows[keep]] = 1
    else:
        np.add.at(out, (r, rows[keep]), 1 if wrows is None else wrows[keep])
    return out if axis == -1 else out[0]


def segment_sum(data, segment_ids, name=None):
    """Sums of the rows of ``data`` with the same id of the sorted
    ``segment_ids``; ids that do not occur give zeros."""
    ids, n = _sorted_segments("segment_sum", data, segment_ids)
    return ops.segment_sum(data, ids, num_segments=n)


def segment_mean(data, segment_ids, name=None):
    """Means of the rows of ``data`` with the same id of the sorted
    ``segment_ids``; ids that do not occur give zeros."""
    ids, n = _sorted_segments("segment_mean", data, segment_ids)
    return unsorted_segment_mean(data, ids, n)


def segment_max(data, segment_ids, name=None):
    """Maxima of the rows of ``data`` with the same id of the sorted
    ``segment_ids``; ids that do not occur give zeros (TensorFlow's
    segment_max, where unsorted_segment_max gives the lowest value)."""
    ids, n = _sorted_segments("segment_max", data, segment_ids)
    present = (np.bincount(ids, minlength=n) > 0).reshape((n,) + (1,) * (_value(data).ndim - 1))
    return ops.where(present, unsorted_segment_max(data, ids, n), 0)


def segment_min(data, segment_ids, name=None):
    """Minima of the rows of ``data`` with the same id of the sorted
    ``segment_ids``; ids that do not occur give zeros."""
    return ops.negative(segment_max(ops.negative(data), segment_ids))


def _segments(who, data, segment_ids, num_segments):
    """The ids (one per row of ``data``) and the number of segments; rows
    of a negative id belong to none, as TensorFlow's."""
    ids = _value(segment_ids).astype(np.int64)
    rows = ops.shape(data)[0]
    if ids.ndim != 1 or (rows is not None and ids.shape[0] != rows):
        raise ValueError(f"{who}: segment_ids must be one id per row of data "
                         f"{tuple(ops.shape(data))}, got shape {ids.shape}")
    n = int(_value(num_segments))
    if ids.size and ids.max() >= n:
        raise ValueError(f"{who}: segment id {int(ids.max())} is out of range for {n} "
                         f"segments")
    return ids, n


def _per_segment(ids, n, data):
    """How many rows each segment has, shaped to divide (n, ...) sums."""
    counts = np.bincount(ids[ids >= 0], minlength=n).astype(np.float32)
    return counts.reshape((n,) + (1,) * (len(ops.shape(data)) - 1))


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """Sums of the rows of ``data`` by segment id, in any order; segments
    no row has are zeros."""
    ids, n = _segments("unsorted_segment_sum", data, segment_ids, num_segments)
    return ops.segment_sum(data, ids, num_segments=n)


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """Means of the rows of ``data`` by segment id; segments no row has
    are zeros."""
    ids, n = _segments("unsorted_segment_mean", data, segment_ids, num_segments)
    counts = _per_segment(ids, n, data)
    return ops.segment_sum(data, ids, num_segments=n) / np.maximum(counts, np.float32(1))


def unsorted_segment_min(data, segment_ids, num_segments, name=None):
    """Minima of the rows of ``data`` by segment id; segments no row has
    are the dtype's highest value."""
    return ops.negative(unsorted_segment_max(ops.negative(data), segment_ids, num_segments))


def unsorted_segment_max(data, segment_ids, num_segments, name=None):
    """Maxima of the rows of ``data`` by segment id; segments no row has
    are the dtype's lowest value.  The gradient goes to the rows that reach
    the maximum (shared equally among ties), as TensorFlow's."""
    ids, n = _segments("unsorted_segment_max", data, segment_ids, num_segments)
    values = _value(data)
    best = ops.segment_max(values, ids, num_segments=n)
    hit = (ids >= 0).reshape((-1,) + (1,) * (values.ndim - 1)) & \
        (values == best[np.maximum(ids, 0)])
    hit = hit.astype(values.dtype)
    ties = ops.segment_sum(hit, ids, num_segments=n)
    total = ops.segment_sum(ops.multiply(data, hit), ids, num_segments=n)
    lowest = np.finfo(values.dtype).min if values.dtype.kind == "f" else \
        np.iinfo(values.dtype).min
    return ops.where(ties > 0, total / np.maximum(ties, 1), lowest)


# ------------------------------------------- TensorFlow's top-level tensors

def _dtype_of_value(value):
    """TensorFlow's dtype for a Python or NumPy value: int32 for ints,
    float32 for floats, the array's own otherwise."""
    return ops.convert_to_tensor(value).dtype


def range(start, limit=None, delta=1, dtype=None, name="range"):
    """Numbers from start (0 when only one is given) up to limit (excluded)
    by delta; int32 for integers, float32 when any is a float."""
    if limit is None:
        start, limit = 0, start
    if dtype is None:
        dtypes = [_dtype_of_value(v) for v in (start, limit, delta)]
        floats = [d for d in dtypes if d.kind == "f"]
        dtype = np.result_type(*(floats or dtypes))
    return np.arange(_value(start)[()], _value(limit)[()], _value(delta)[()]).astype(dtype)


def fill(dims, value, name=None):
    """An array of shape ``dims`` holding ``value`` (of its dtype; a
    string as TensorFlow's string tensors hold it, UTF-8 bytes)."""
    if isinstance(value, (str, bytes)):
        return np.full(tuple(int(d) for d in np.ravel(_value(dims))),
                       value.encode() if isinstance(value, str) else value, dtype=object)
    return np.full(tuple(int(d) for d in np.ravel(_value(dims))), value,
                   dtype=_dtype_of_value(value))


def eye(num_rows, num_columns=None, batch_shape=None, dtype="float32", name=None):
    """The identity matrix (of num_rows x num_columns), repeated over ``batch_shape``."""
    m = np.eye(int(num_rows), None if num_columns is None else int(num_columns), dtype=dtype)
    if batch_shape is not None:
        m = np.array(np.broadcast_to(m, tuple(int(b) for b in batch_shape) + m.shape))
    return m


def linspace(start, stop, num, name=None, axis=0):
    """``num`` evenly spaced values from start to stop, both included:
    float32 for Python numbers, the bounds' dtype for float64 tensors, as
    TensorFlow's."""
    floats = [d for d in (tf_default_dtype(start), tf_default_dtype(stop))
              if d is not None and d.kind == "f"]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float32)
    return np.linspace(_value(start), _value(stop), int(num), axis=axis).astype(dtype)


def shape(input, out_type="int32", name=None):
    """The sizes as a 1-D int32 tensor (``tf.shape(x)[0]``: the batch size).
    Of a symbolic tensor (a layer's or subclassed model's call traced into
    a graph), the tuple of its sizes with None where unknown, as
    ``ops.shape`` gives it: ``tf.shape(x)[0]`` is then the symbolic batch
    size that ``tf.zeros`` and ``tf.reshape`` take."""
    sizes = ops.shape(input)
    if builtins.any(d is None for d in sizes):
        return tuple(sizes)
    return np.asarray(sizes, dtype=str(out_type))


def size(input, out_type="int32", name=None):
    """The number of elements (a scalar)."""
    sizes = ops.shape(input)
    if builtins.any(d is None for d in sizes):
        raise ValueError(f"size: the shape {tuple(sizes)} has an unknown size (None); count "
                         f"the elements of a value, not of a symbolic tensor")
    return np.asarray(np.prod(sizes, dtype=np.int64), dtype=str(out_type))


def rank(input, name=None):
    """The number of axes (an int32 scalar)."""
    return np.asarray(ops.ndim(input), dtype=np.int32)


def identity(input, name=None):
    """The same values (a traced value stays traced: gradients pass; a
    functional model's symbolic tensor is given back as it is)."""
    if _symbolic(input):
        return input
    if ops._is_traced(input):
        # a variable is read: on a recording tape as its traced value, so
        # gradients pass; otherwise as a tensor of its value now
        read = autodiff.resolve(input)
        return read if ops._is_traced(read) else np.array(read)
    return np.array(_value(input))


def stop_gradient(input, name=None):
    return ops.stop_gradient(input)


def ensure_shape(x, shape, name=None):
    """``x`` itself, after checking that its shape fits ``shape`` (None
    for a size left open), as tf.ensure_shape in a tf.data map."""
    want = None if shape is None else list(TensorShape(shape))
    got = tuple(ops.shape(x))
    if want is not None and (len(want) != len(got) or any(
            w is not None and g is not None and w != g for w, g in zip(want, got))):
        from .debugging import InvalidArgumentError
        raise InvalidArgumentError(f"ensure_shape: shape of tensor {list(got)} is not "
                                   f"compatible with expected shape {want}")
    return x


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    """TensorFlow 1's accumulate_n: add_n's sum."""
    return add_n(inputs)


def cumulative_logsumexp(x, axis=0, exclusive=False, reverse=False, name=None):
    """log(cumsum(exp(x))) along ``axis``, computed stably (the running
    maximum taken out); ``exclusive`` and ``reverse`` as cumsum's."""
    top = ops.stop_gradient(ops.max(x, axis=axis, keepdims=True))
    return ops.add(ops.log(cumsum(ops.exp(ops.subtract(x, top)), axis=axis,
                                  exclusive=exclusive, reverse=reverse)), top)


def add_n(inputs, name=None):
    """The elementwise sum of a list of arrays of one shape."""
    inputs = list(inputs)
    if not inputs:
        raise ValueError("add_n: needs at least one array")
    shapes = {_value(t).shape for t in inputs}
    if len(shapes) > 1:
        raise ValueError(f"add_n: the arrays must have one shape, got {sorted(shapes)}")
    return functools.reduce(ops.add, inputs)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """t limited to [clip_value_min, clip_value_max]."""
    return ops.minimum(ops.maximum(t, clip_value_min), clip_value_max)


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """t scaled to an L2 norm (over ``axes``, all when None) of at most clip_norm:
    t * clip_norm / max(norm, clip_norm)."""
    total = ops.sum(ops.square(t), axis=axes, keepdims=True)
    positive = _value(total) > 0
    # (sqrt at 0 would give an infinite gradient; such entries are 0 anyway)
    norm = ops.where(positive, ops.sqrt(ops.where(positive, total, 1.0)), total)
    return ops.divide(ops.multiply(t, clip_norm), ops.maximum(norm, clip_norm))


def global_norm(t_list, name=None):
    """sqrt of the sum of the squares of every entry of every tensor in
    ``t_list`` (None entries skipped), as tf.linalg.global_norm."""
    squares = [ops.sum(ops.square(t)) for t in t_list if t is not None]
    if not squares:
        return np.asarray(0.0, np.float32)
    return ops.sqrt(functools.reduce(ops.add, squares))


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(the tensors each scaled by clip_norm / max(global_norm, clip_norm),
    the global norm): gradients clipped together, their directions kept;
    None entries stay None."""
    total = global_norm(t_list) if use_norm is None else use_norm
    scale = ops.divide(float(clip_norm), ops.maximum(total, float(clip_norm)))
    return [None if t is None else ops.multiply(t, scale) for t in t_list], total


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None):
    """The vector norm over ``axis`` (the whole array flattened when None),
    or a matrix norm over a pair of axes ('fro'/'euclidean', 1, inf)."""
    keepdims = bool(keepdims)
    if ord in ("euclidean", "fro"):
        ord = None if np.ndim(axis) == 0 or len(axis) == 1 else "fro"
    if axis is None:
        shape = _value(tensor).shape
        out = ops.norm(ops.reshape(tensor, (-1,)), ord=ord)
        return ops.reshape(out, (1,) * len(shape)) if keepdims else out
    return ops.norm(tensor, ord=ord, axis=tuple(axis) if np.ndim(axis) else axis,
                    keepdims=keepdims)


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    """``tensor`` padded by ``paddings`` ([before, after] per axis); mode
    'CONSTANT' (with ``constant_values``), 'REFLECT' (the edge not
    repeated) or 'SYMMETRIC' (the edge repeated), as TensorFlow's."""
    modes = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}
    key = str(mode).upper()
    if key not in modes:
        raise ValueError(f"tf.pad: mode must be 'CONSTANT', 'REFLECT' or 'SYMMETRIC', got "
                         f"{mode!r}")
    pairs = np.asarray(_value(paddings)).astype(np.int64)
    rank = len(ops.shape(tensor))
    if pairs.shape != (rank, 2) or (pairs < 0).any():
        raise ValueError(f"tf.pad: paddings must be {rank} non-negative [before, after] pairs "
                         f"for a tensor of shape {tuple(ops.shape(tensor))}, got "
                         f"{pairs.tolist()}")
    return ops.pad(tensor, pairs.tolist(), mode=modes[key],
                   constant_values=constant_values if key == "CONSTANT" else None)


def tile(input, multiples, name=None):
    if isinstance(input, _ragged.RaggedTensor):
        return _ragged.tile(input, multiples)
    # a None among the multiples is the batch size of a traced call (ops.tile)
    reps = multiples if isinstance(multiples, (list, tuple)) else np.ravel(_value(multiples))
    return ops.tile(input, [None if m is None else int(_value(m)) for m in reps])


def repeat(input, repeats, axis=None, name=None):
    """Each slice of ``input`` along ``axis`` (of the flattened input when
    None) repeated ``repeats`` times (an integer, or one per slice); the
    dtype is kept."""
    repeats = int(_value(repeats)) if np.ndim(repeats) == 0 else np.asarray(_value(repeats))
    if _dtype(input) != np.float32:
        return np.repeat(_value(input), repeats, axis=axis)
    return ops.repeat(input, repeats, axis=axis)


def broadcast_to(input, shape, name=None):
    """``input`` broadcast to ``shape`` (a list, a TensorShape or the
    tensor ``tf.shape`` gives)."""
    return ops.broadcast_to(input, tuple(int(n) for n in np.ravel(_value(shape))))


def expand_dims(input, axis, name=None):
    return ops.expand_dims(input, int(axis))


def squeeze(input, axis=None, name=None):
    return ops.squeeze(input, axis if axis is None or np.ndim(axis) == 0 else tuple(axis))


def transpose(a, perm=None, conjugate=False, name=None):
    """a with its axes in the order ``perm`` (reversed when None), of its dtype."""
    perm = None if perm is None else tuple(int(p) for p in perm)
    if ops._is_traced(a) or _symbolic(a) or _value(a).dtype == np.float32:
        return ops.transpose(a, perm)
    # (ops.transpose keeps integers but makes other floats float32)
    return np.ascontiguousarray(np.transpose(_value(a), perm))


def _symbolic(x):
    """Whether x is a symbolic tensor (a functional model's, being built)."""
    return bool(ops._SYMBOLIC) and type(x) is ops._SYMBOLIC[0]


def _ids(indices):
    """Indices as integers: ids that reach a layer's call as whole floats
    (a graph's integer input, traced for training) are cast back."""
    ids = _value(indices)
    return ids.astype(np.int64) if ids.dtype.kind == "f" else ids


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """The slices of ``params`` along ``axis`` (0 when None) at ``indices``;
    with batch_dims b, the first b axes of both are a batch, each row of
    indices picking from its own row of params."""
    if batch_dims == 0:
        # (either may be a symbolic tensor: a subclassed model's call
        # gathering the rows its input names)
        axis = 0 if axis is None else axis % len(ops.shape(params))
        if _symbolic(indices):
            return ops.take(params, indices, axis=axis)
        ids = _ids(indices)
        length = ops.shape(params)[axis]
        if length is not None:
            _check_range("gather", ids, length)
        return ops.take(params, ids, axis=axis)
    ndim = _value(params).ndim
    ids = _ids(indices)
    if batch_dims < 0:
        batch_dims += ids.ndim
    axis = batch_dims if axis is None else axis % ndim
    shape = _value(params).shape
    if ids.shape[:batch_dims] != shape[:batch_dims] or axis < batch_dims:
        raise ValueError(f"gather: with batch_dims={batch_dims} params {shape} and indices "
                         f"{ids.shape} must share their first {batch_dims} axes, and axis "
                         f"({axis}) must come after them")
    # the batch and the gathered axis as one axis: each batch row's ids
    # offset by its row number times the axis length
    middle = list(builtins.range(batch_dims, axis))
    rest = list(builtins.range(axis + 1, ndim))
    moved = transpose(params, tuple(builtins.range(batch_dims)) + (axis,)
                          + tuple(middle + rest))
    rows, length = int(np.prod(shape[:batch_dims])), shape[axis]
    _check_range("gather", ids, length)
    flat = ops.reshape(moved, (rows * length,) + tuple(shape[a] for a in middle + rest))
    offsets = (np.arange(rows) * length).reshape(shape[:batch_dims] + (1,) * (ids.ndim
                                                                             - batch_dims))
    out = ops.take(flat, ids + offsets, axis=0)
    # out: batch + ids' own axes + middle + rest; TensorFlow's order is
    # batch + middle + ids' own axes + rest
    b, k, m = batch_dims, ids.ndim - batch_dims, len(middle)
    order = list(builtins.range(b)) + list(builtins.range(b + k, b + k + m)) + \
        list(builtins.range(b, b + k)) + list(builtins.range(b + k + m, b + k + m + len(rest)))
    return transpose(out, order)


def _invalid(text):
    from .debugging import InvalidArgumentError
    return InvalidArgumentError(None, None, text)


def _check_range(who, ids, bound):
    """Raise TensorFlow's InvalidArgumentError for the first index outside
    [0, bound) (negative ones too: TensorFlow does not count from the end)."""
    bad = (ids < 0) | (ids >= bound)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise _invalid(f"{who}: indices{list(at)} = {ids[at]} is not in [0, {bound})")


def _linear(who, ids, lead):
    """Index tuples (the last axis of ``ids``) as positions in the
    flattened ``lead`` shape, each coordinate checked against its size."""
    for axis, size in enumerate(lead):
        bad = (ids[..., axis] < 0) | (ids[..., axis] >= size)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise _invalid(f"{who}: indices{list(at)} = {ids[at].tolist()} does not index "
                           f"into shape {list(lead)}")
    if not lead:
        return np.zeros(ids.shape[:-1], np.int64)
    return np.ravel_multi_index(tuple(np.moveaxis(ids, -1, 0)), lead).astype(np.int64)


def gather_nd(params, indices, batch_dims=0, name=None):
    """The slices of ``params`` that the index tuples on the last axis of
    ``indices`` name: the result has shape indices.shape[:-1] +
    params.shape[batch_dims + k:] (k the tuples' length).  With batch_dims
    b, the first b axes of both are a batch, each row of indices picking
    from its own row of params.  An index out of range raises
    InvalidArgumentError, as TensorFlow's CPU kernel."""
    shape = tuple(ops.shape(params))
    ids = _ids(indices)
    b = int(batch_dims)
    if ids.ndim < 1 or b < 0 or ids.ndim <= b or ids.shape[:b] != shape[:b] or \
            b + ids.shape[-1] > len(shape):
        raise ValueError(f"gather_nd: indices of shape {ids.shape} (index tuples on the last "
                         f"axis, batch_dims={batch_dims}) do not fit params of shape {shape}")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"gather_nd: indices must be integers, got {ids.dtype}")
    if b:
        # each tuple led by its batch coordinates
        batch = np.indices(ids.shape[:-1])[:b]
        ids = np.concatenate([np.moveaxis(batch, 0, -1), ids], axis=-1)
    k = ids.shape[-1]
    lead, rest = shape[:k], shape[k:]
    flat = ops.reshape(params, (int(np.prod(lead, dtype=np.int64)),) + rest)
    return ops.take(flat, _linear("gather_nd", ids, lead), axis=0)


def boolean_mask(tensor, mask, axis=None, name=None):
    """The entries (slices) of ``tensor`` where the boolean ``mask`` is
    true; the mask covers the axes of ``tensor`` from ``axis`` (0 when
    None) on, and they become one axis in the result."""
    m = _value(mask)
    shape = tuple(ops.shape(tensor))
    axis = 0 if axis is None else int(axis) % len(shape)
    if m.ndim == 0 or shape[axis:axis + m.ndim] != m.shape:
        raise ValueError(f"boolean_mask: a mask of shape {m.shape} does not fit a tensor of "
                         f"shape {shape} from axis {axis}")
    flat = ops.reshape(tensor, shape[:axis] + (m.size,) + shape[axis + m.ndim:])
    return ops.take(flat, np.flatnonzero(m.astype(bool)), axis=axis)


def sequence_mask(lengths, maxlen=None, dtype="bool", name=None):
    """``mask[..., j] = j < lengths[...]``: one row of ``maxlen`` (the
    largest length when None) per length."""
    n = _value(lengths)
    if n.dtype.kind not in "iu":
        raise TypeError(f"sequence_mask: lengths must be integers, got {n.dtype}")
    maxlen = (int(n.max()) if n.size else 0) if maxlen is None else int(_value(maxlen))
    return (np.arange(maxlen) < n[..., None]).astype(np.dtype(dtype))


def roll(input, shift, axis, name=None):
    """``input`` with its values shifted by ``shift`` along ``axis`` (one
    shift per axis when both are lists; shifts of one axis add up)."""
    shifts, axes = np.ravel(_value(shift)), np.ravel(_value(axis))
    if shifts.shape != axes.shape:
        raise ValueError(f"roll: shift {shifts.tolist()} and axis {axes.tolist()} must have "
                         f"one entry each")
    ndim = len(ops.shape(input))
    total = {}
    for s, a in zip(shifts.tolist(), axes.tolist()):
        if not -ndim <= a < ndim:
            raise ValueError(f"roll: axis {a} is out of range for a tensor of rank {ndim}")
        total[a % ndim] = total.get(a % ndim, 0) + s
    for a, s in total.items():
        input = ops.roll(input, s, axis=a)
    return input


def reverse(tensor, axis, name=None):
    """``tensor`` with the order of its entries reversed along each axis of
    ``axis`` (a list)."""
    if isinstance(tensor, _ragged.RaggedTensor):
        return _ragged.reverse(tensor, axis)
    ndim = len(ops.shape(tensor))
    axes = [int(a) for a in np.ravel(_value(axis))]
    if builtins.any(not -ndim <= a < ndim for a in axes) or \
            len({a % ndim for a in axes}) != len(axes):
        raise ValueError(f"reverse: axis {axes} must be distinct axes of a tensor of rank {ndim}")
    for a in axes:
        tensor = ops.flip(tensor, a)
    return tensor


def slice(input_, begin, size, name=None):
    """TensorFlow's ``tf.slice``: the block of ``input_`` starting at
    ``begin`` with ``size`` entries per axis, -1 for all the rest."""
    shape = ops.shape(input_)
    starts = [int(v) for v in np.ravel(_value(begin))]
    sizes = [int(v) for v in np.ravel(_value(size))]
    if len(starts) != len(shape) or len(sizes) != len(shape):
        raise ValueError(f"slice: begin and size need {len(shape)} entries for a tensor of "
                         f"shape {tuple(shape)}, got {starts} and {sizes}")
    if any(d is None for d in shape):  # (a symbolic tensor's batch)
        return input_[tuple(builtins.slice(b, None if n == -1 else b + n)
                            for b, n in zip(starts, sizes))]
    sizes = [d - b if n == -1 else n for b, n, d in zip(starts, sizes, shape)]
    return ops.slice(input_, starts, sizes)


def meshgrid(*args, **kwargs):
    """Coordinate arrays from 1-D coordinate vectors, ``indexing='xy'``
    (Cartesian: the first two axes swapped) or 'ij' (matrix); gradients
    flow back to the vectors."""
    indexing = kwargs.pop("indexing", "xy")
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"meshgrid: unexpected arguments {sorted(kwargs)}")
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    vectors = [ops.reshape(a, (-1,)) for a in args]
    sizes = [ops.shape(v)[0] for v in vectors]
    place = list(builtins.range(len(vectors)))
    if indexing == "xy" and len(place) > 1:
        place[0], place[1] = 1, 0
    shape = [0] * len(vectors)
    for p, n in zip(place, sizes):
        shape[p] = n
    out = []
    for p, v in zip(place, vectors):
        single = [1] * len(vectors)
        single[p] = sizes[place.index(p)]
        out.append(ops.broadcast_to(ops.reshape(v, tuple(single)), tuple(shape)))
    return out


def is_tensor(x):
    """Whether ``x`` is a tensor, as TensorFlow's ``tf.is_tensor``: what
    pynn's operations return (an eager tensor, a traced value), a
    variable, a symbolic, sparse or ragged tensor; Python numbers and
    lists, and plain NumPy arrays and scalars, are not."""
    from .models.node import KerasTensor
    from .ragged import RaggedTensor
    from .sparse import SparseTensor
    if type(x) is np.ndarray or isinstance(x, np.generic):
        return False
    return ops.is_tensor(x) or isinstance(x, (KerasTensor, RaggedTensor, SparseTensor))


def searchsorted(sorted_sequence, values, side="left", out_type="int32", name=None):
    """Where each of ``values`` would go in ``sorted_sequence`` (along the
    last axis; the leading axes of both are rows searched separately)."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    seq, vals = _value(sorted_sequence), _value(values)
    if seq.ndim < 1 or seq.shape[:-1] != vals.shape[:-1]:
        raise ValueError(f"searchsorted: sorted_sequence {seq.shape} and values {vals.shape} "
                         f"must share all axes but the last")
    rows_s = seq.reshape(-1, seq.shape[-1])
    rows_v = vals.reshape(-1, vals.shape[-1] if vals.ndim else 1)
    out = np.stack([np.searchsorted(s, v, side=side) for s, v in zip(rows_s, rows_v)]) \
        if len(rows_s) else np.zeros(rows_v.shape, np.int64)
    return out.reshape(vals.shape).astype(np.dtype(out_type))


def _scatter(who, indices, updates, shape):
    """The updates of ``updates`` as rows of the flattened leading axes of
    ``shape`` that ``indices`` name: (the flattened updates, their rows,
    the number of rows, the slice shape)."""
    ids = _ids(indices)
    shape = tuple(int(d) for d in shape)
    if ids.ndim < 1 or ids.dtype.kind not in "iu" or ids.shape[-1] > len(shape):
        raise ValueError(f"{who}: indices of shape {ids.shape} (integer index tuples on the "
                         f"last axis) do not fit shape {list(shape)}")
    k = ids.shape[-1]
    slice_shape = shape[k:]
    want = ids.shape[:-1] + slice_shape
    if tuple(ops.shape(updates)) != want:
        raise ValueError(f"{who}: updates must have shape {list(want)} (indices.shape[:-1] + "
                         f"shape[{k}:]) for indices {ids.shape} into {list(shape)}, got "
                         f"{list(ops.shape(updates))}")
    rows = _linear(who, ids, shape[:k]).reshape(-1)
    flat = ops.reshape(updates, (rows.size,) + slice_shape)
    return flat, rows, int(np.prod(shape[:k], dtype=np.int64)), slice_shape


def scatter_nd(indices, updates, shape, name=None):
    """Zeros of ``shape`` with ``updates`` added at ``indices`` (index
    tuples on their last axis; repeated indices add up)."""
    shape = tuple(int(d) for d in np.ravel(_value(shape)))
    flat, rows, n, slice_shape = _scatter("scatter_nd", indices, updates, shape)
    return ops.reshape(ops.segment_sum(flat, rows, num_segments=n), shape)


def _dtype_of_tensor(updates, tensor):
    """``updates`` in ``tensor``'s dtype (TensorFlow converts the updates of
    a tensor_scatter_nd_* to it: Python ints into an int32 tensor stay int32)."""
    want = _value(tensor).dtype
    return updates if _value(updates).dtype == want else ops.cast(updates, want.name)


def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    """``tensor`` with ``updates`` added at ``indices`` (repeats add up)."""
    shape = tuple(ops.shape(tensor))
    flat, rows, n, _ = _scatter("tensor_scatter_nd_add", indices, updates, shape)
    flat = _dtype_of_tensor(flat, tensor)
    return ops.add(tensor, ops.reshape(ops.segment_sum(flat, rows, num_segments=n), shape))


def tensor_scatter_nd_sub(tensor, indices, updates, name=None):
    """``tensor`` with ``updates`` subtracted at ``indices`` (repeats add up)."""
    shape = tuple(ops.shape(tensor))
    flat, rows, n, _ = _scatter("tensor_scatter_nd_sub", indices, updates, shape)
    flat = _dtype_of_tensor(flat, tensor)
    return ops.subtract(tensor, ops.reshape(ops.segment_sum(flat, rows, num_segments=n), shape))


def tensor_scatter_nd_max(tensor, indices, updates, name=None):
    """``tensor`` with each slice at ``indices`` the maximum of it and the
    updates for it (a repeated index: of all of them)."""
    return _scatter_extreme("tensor_scatter_nd_max", tensor, indices, updates, ops.maximum)


def tensor_scatter_nd_min(tensor, indices, updates, name=None):
    """``tensor`` with each slice at ``indices`` the minimum of it and the
    updates for it (a repeated index: of all of them)."""
    return _scatter_extreme("tensor_scatter_nd_min", tensor, indices, updates, ops.minimum)


def _scatter_extreme(who, tensor, indices, updates, pick):
    shape = tuple(ops.shape(tensor))
    flat, rows, n, slice_shape = _scatter(who, indices, updates, shape)
    values = _value(tensor)
    if values.dtype.kind in "iub":
        # integers keep their dtype (no gradient to carry): NumPy's ufunc.at
        out = np.array(values).reshape((n,) + slice_shape)
        (np.maximum if pick is ops.maximum else np.minimum).at(
            out, rows, np.asarray(_value(flat)).astype(out.dtype))
        return out.reshape(shape)
    extreme = unsorted_segment_max if pick is ops.maximum else unsorted_segment_min
    best = extreme(flat, rows, n)  # (the dtype's lowest/highest where no update)
    return ops.reshape(pick(ops.reshape(tensor, (n,) + slice_shape), best), shape)


def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """``tensor`` with the slices at ``indices`` replaced by ``updates``
    (of a repeated index, the last update); the replaced entries pass no
    gradient back to ``tensor``."""
    shape = tuple(ops.shape(tensor))
    flat, rows, n, slice_shape = _scatter("tensor_scatter_nd_update", indices, updates, shape)
    flat = _dtype_of_tensor(flat, tensor)
    last = np.full(n, -1, np.int64)
    last[rows] = np.arange(rows.size)  # (NumPy keeps the last of repeated assignments)
    keep = last[last >= 0]
    placed = ops.segment_sum(ops.take(flat, keep, axis=0), rows[keep], num_segments=n)
    covered = np.zeros(n, bool)
    covered[rows[keep]] = True
    covered = covered.reshape((n,) + (1,) * len(slice_shape))
    return ops.reshape(ops.where(covered, placed, ops.reshape(tensor, (n,) + slice_shape)),
                       shape)


Unique = collections.namedtuple("Unique", ["y", "idx"])
UniqueWithCounts = collections.namedtuple("UniqueWithCounts", ["y", "idx", "count"])


def _unique(who, x, out_idx):
    v = _value(x)
    if v.ndim != 1:
        raise ValueError(f"{who}: x must be 1-D, got shape {v.shape}")
    _, first, inverse, counts = np.unique(v, return_index=True, return_inverse=True,
                                          return_counts=True)
    # TensorFlow lists the values in the order they first occur
    order = np.argsort(first, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return (v[first[order]], position[inverse.reshape(-1)].astype(np.dtype(out_idx)),
            counts[order].astype(np.dtype(out_idx)))


def unique(x, out_idx="int32", name=None):
    """(the distinct values of the 1-D ``x`` in the order they first occur,
    for each entry of x the index of its value among them)."""
    y, idx, _ = _unique("unique", x, out_idx)
    return Unique(eager(y), eager(idx))


def unique_with_counts(x, out_idx="int32", name=None):
    """unique's (y, idx) and how often each value occurs."""
    return UniqueWithCounts(*(eager(a) for a in _unique("unique_with_counts", x, out_idx)))


def histogram_fixed_width_bins(values, value_range, nbins=100, dtype="int32", name=None):
    """The bin of each value among ``nbins`` equal bins over
    ``value_range`` [lo, hi]; values below lo go to the first bin, values
    at or above hi to the last."""
    v = _value(values).astype(np.float64)
    lo, hi = (float(r) for r in np.ravel(_value(value_range)))
    nbins = int(_value(nbins))
    if not hi > lo or nbins < 1:
        raise ValueError(f"histogram_fixed_width: value_range must have lo < hi and nbins "
                         f"must be positive, got {[lo, hi]} and {nbins}")
    return np.clip(np.floor((v - lo) / (hi - lo) * nbins), 0, nbins - 1).astype(np.dtype(dtype))


def histogram_fixed_width(values, value_range, nbins=100, dtype="int32", name=None):
    """How many values fall in each of ``nbins`` equal bins over
    ``value_range`` (values outside it counted in the end bins)."""
    bins = histogram_fixed_width_bins(values, value_range, nbins).reshape(-1)
    return np.bincount(bins, minlength=int(_value(nbins))).astype(np.dtype(dtype))



def where(condition, x=None, y=None, name=None):
    """x where condition holds, else y (broadcast); with only a condition,
    the coordinates of its true entries (int64, one row each)."""
    if x is None and y is None:
        return np.argwhere(_value(condition)).astype(np.int64)
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither")
    return ops.where(condition, x, y)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """Each index as a vector of ``depth`` values, on_value (1) at the
    index and off_value (0) elsewhere, along ``axis`` (the last when None);
    an index outside [0, depth) gives a vector of off_value."""
    if dtype is None:
        given = [v for v in (on_value, off_value) if v is not None]
        dtype = _dtype_of_value(given[0]) if given else np.float32
    if _symbolic(indices) and on_value is None and off_value is None:
        return ops.one_hot(indices, int(depth), axis=-1 if axis is None else axis,
                           dtype=np.dtype(dtype).name)
    ids = _value(indices).astype(np.int64)
    hot = ids[..., None] == np.arange(int(depth))
    out = np.where(hot, 1 if on_value is None else _value(on_value),
                   0 if off_value is None else _value(off_value)).astype(dtype)
    return out if axis is None or axis == -1 else np.moveaxis(out, -1, axis)


def split(value, num_or_size_splits, axis=0, num=None, name=None):
    """Pieces of ``value`` along ``axis``: ``n`` equal ones, or of the
    given sizes (one may be -1: what is left)."""
    length = ops.shape(value)[axis]
    if np.ndim(num_or_size_splits) == 0:
        n = int(num_or_size_splits)
        if n <= 0 or length % n:
            raise ValueError(f"split: an axis of {length} does not split into {n} equal parts")
        return ops.split(value, n, axis=axis)
    sizes = [int(s) for s in num_or_size_splits]
    if sizes.count(-1) > 1:
        raise ValueError(f"split: at most one size may be -1, got {sizes}")
    if -1 in sizes:
        sizes[sizes.index(-1)] = length - (builtins.sum(sizes) + 1)
    if builtins.sum(sizes) != length or builtins.min(sizes) < 0:
        raise ValueError(f"split: sizes {list(num_or_size_splits)} do not add up to the "
                         f"axis length {length}")
    return list(ops.split(value, list(np.cumsum(sizes)[:-1]), axis=axis))


def unstack(value, num=None, axis=0, name=None):
    return list(ops.unstack(value, axis=axis))


def sort(values, axis=-1, direction="ASCENDING", name=None):
    """The values sorted along ``axis``, ascending or descending."""
    out = ops.sort(values, axis=axis)
    if direction == "DESCENDING":
        return ops.flip(out, axis)
    if direction != "ASCENDING":
        raise ValueError(f"sort: direction must be 'ASCENDING' or 'DESCENDING', got "
                         f"{direction!r}")
    return out


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """The indices (int32) that sort ``values`` along ``axis``; equal values
    keep their order."""
    v = _value(values)
    if direction == "DESCENDING":
        v = -(v.astype(np.int64) if v.dtype.kind in "ub" else v)
    elif direction != "ASCENDING":
        raise ValueError(f"argsort: direction must be 'ASCENDING' or 'DESCENDING', got "
                         f"{direction!r}")
    return np.argsort(v, axis=axis, kind="stable").astype(np.int32)


# ------------------------------------------------------------ special functions
#
# Values in float64 (pynn._special); float64 in gives float64 out, other
# inputs float32.  Gradients as TensorFlow defines them, for the arguments
# TensorFlow differentiates (betainc: x only; zeta: q only).

def _special(who, fn, args, grads):
    """``fn(*values)`` of ``args``, recorded on a tape with ``grads[i](*values)``,
    the derivative of the result by argument i, for the traced arguments
    listed in ``grads`` (the others are constants to the gradient)."""
    from . import autodiff
    if builtins.any(_symbolic(a) for a in args):
        # a functional model being built: a layer of the graph that computes
        # this function when the model runs (gradients flow through it)
        return ops._SYMBOLIC[1](who.rsplit(".", 1)[1], list(args), {})
    rs = [autodiff.resolve(a) for a in args]
    traced = [type(r) is autodiff.Traced for r in rs]
    vals = []
    for r, t in zip(rs, traced):
        v = np.asarray(r.value if t else ops._plain(r))
        if v.dtype.kind not in "fiub":
            raise TypeError(f"{who}: arguments must be real numbers, got dtype {v.dtype}")
        vals.append(v)
    try:
        shape = np.broadcast_shapes(*(v.shape for v in vals))
    except ValueError:
        raise ValueError(f"{who}: arguments of shapes {[v.shape for v in vals]} do not "
                         f"broadcast") from None
    wide = builtins.any(v.dtype == np.float64 for v in vals) and not builtins.any(traced)
    dt = np.float64 if wide else np.float32
    y = np.asarray(fn(*vals), np.float64).astype(dt).reshape(shape)
    live = [i for i in grads if traced[i]]
    if not live:
        return y
    tape = rs[live[0]].tape

    def vjp(g):
        g = np.asarray(g, np.float32)
        out = []
        for i in live:
            d = np.asarray(grads[i](*vals), np.float64)
            full = np.broadcast_to((g * d).astype(np.float32), shape)
            out.append(ops.reduce_to_shape(np.ascontiguousarray(full), vals[i].shape))
        return tuple(out)
    return tape.record(y, tuple(rs[i] for i in live), vjp)


def _checked_pair(fn, x0):
    """``fn`` with its value at 0 set to ``x0`` (a removable singularity)."""
    def f(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x == 0, x0, fn(np.where(x == 0, 1.0, x)))
    return f


def lgamma(x, name=None):
    """log |Gamma(x)| (+inf at the non-positive integers)."""
    return _special("tf.math.lgamma", _sp.lgamma, [x], {0: _sp.digamma})


def digamma(x, name=None):
    """psi(x), the derivative of lgamma (NaN at the non-positive integers)."""
    return _special("tf.math.digamma", _sp.digamma, [x], {0: _sp.trigamma})


def erfinv(x, name=None):
    """The inverse of erf (+-inf at +-1, NaN outside [-1, 1])."""
    return ops.erfinv(x)


def ndtri(x, name=None):
    """The inverse of the standard normal CDF: sqrt(2) erfinv(2 x - 1)."""
    return ops.multiply(np.float32(np.sqrt(2.0)),
                        ops.erfinv(ops.subtract(ops.multiply(np.float32(2.0), x),
                                                np.float32(1.0))))


def identity_n(input, name=None):
    """Each tensor of the list as it is (tf.identity_n)."""
    return [ops.convert_to_tensor(t) if not ops._is_traced(t) else t for t in input]


def gradients(ys, xs, grad_ys=None, name="gradients", gate_gradients=False,
              aggregation_method=None, stop_gradients=None, unconnected_gradients="none"):
    """tf.gradients: symbolically, of a loss built from a model's symbolic
    tensors, Keras 2's K.gradients (computed by K.function); on values
    TensorFlow 2 refuses it in eager code, and so does pynn: use
    tf.GradientTape."""
    from .backend import gradients as symbolic_gradients
    from .models.node import KerasTensor
    if isinstance(ys, KerasTensor) and grad_ys is None and stop_gradients is None and \
            unconnected_gradients in ("none", None):
        return symbolic_gradients(ys, xs)
    if isinstance(ys, KerasTensor):
        raise ValueError("tf.gradients of symbolic tensors takes only ys and xs here "
                         "(grad_ys, stop_gradients and unconnected_gradients='zero' are not "
                         "supported); compute the gradient with tf.GradientTape")
    raise RuntimeError("tf.gradients is not supported when eager execution is enabled. Use "
                       "tf.GradientTape instead.")


def recompute_grad(f):
    """tf.recompute_grad: ``f`` with the same values and gradients;
    TensorFlow recomputes its activations in the backward pass to save
    memory, which pynn's kernels have no use for."""
    if not callable(f):
        raise TypeError(f"recompute_grad: f must be callable, got {type(f).__name__}")
    return f


def expm1(x, name=None):
    """exp(x) - 1, accurate near 0."""
    return ops.expm1(x)


def bessel_i0(x, name=None):
    """The modified Bessel function of the first kind, order 0."""
    return _special("tf.math.bessel_i0", _sp.bessel_i0, [x], {0: _sp.bessel_i1})


def bessel_i0e(x, name=None):
    """exp(-|x|) I0(x), which does not overflow."""
    return _special("tf.math.bessel_i0e", _sp.bessel_i0e, [x],
                    {0: lambda v: _sp.bessel_i1e(v) - np.sign(v) * _sp.bessel_i0e(v)})


def bessel_i1(x, name=None):
    """The modified Bessel function of the first kind, order 1."""
    return _special("tf.math.bessel_i1", _sp.bessel_i1, [x],
                    {0: _checked_pair(lambda v: _sp.bessel_i0(v) - _sp.bessel_i1(v) / v, 0.5)})


def bessel_i1e(x, name=None):
    """exp(-|x|) I1(x), which does not overflow."""
    return _special("tf.math.bessel_i1e", _sp.bessel_i1e, [x], {0: _checked_pair(
        lambda v: _sp.bessel_i0e(v) - _sp.bessel_i1e(v) * (np.sign(v) + 1 / v), 0.5)})


def igamma(a, x, name=None):
    """P(a, x), the regularized lower incomplete gamma function (NaN for
    a <= 0 or x < 0)."""
    return _special("tf.math.igamma", _sp.igamma, [a, x],
                    {0: _sp.igamma_grad_a, 1: _sp.igamma_grad_x})


def igammac(a, x, name=None):
    """Q(a, x) = 1 - P(a, x), the regularized upper incomplete gamma
    function."""
    return _special("tf.math.igammac", _sp.igammac, [a, x],
                    {0: lambda a, x: -_sp.igamma_grad_a(a, x),
                     1: lambda a, x: -_sp.igamma_grad_x(a, x)})


def betainc(a, b, x, name=None):
    """I_x(a, b), the regularized incomplete beta function (NaN outside
    a > 0, b > 0, 0 <= x <= 1); its gradient flows to x only, as
    TensorFlow's."""
    return _special("tf.math.betainc", _sp.betainc, [a, b, x], {2: _sp.betainc_grad_x})


def zeta(x, q, name=None):
    """The Hurwitz zeta function sum_k (q + k)^-x (+inf at x == 1, NaN for
    x < 1); its gradient flows to q only, as TensorFlow's."""
    return _special("tf.math.zeta", _sp.zeta, [x, q],
                    {1: lambda x, q: -x * _sp.zeta(x + 1, q)})


def polyval(coeffs, x, name=None):
    """coeffs[0] x^(n-1) + ... + coeffs[n-1] by Horner's rule (recorded:
    gradients flow to x and to the coefficients)."""
    if not isinstance(coeffs, (list, tuple)):
        raise ValueError(f"tf.math.polyval: coeffs must be a list of tensors, got "
                         f"{type(coeffs).__name__}")
    if not coeffs:
        return ops.multiply(x, np.float32(0)) if _is_float(x) else np.zeros_like(_value(x))
    out = coeffs[0]
    for c in coeffs[1:]:
        out = add(multiply(out, x), c)
    return out



def _unary_special(name, doc, derivative):
    def fn(x, name=None):
        return _special(f"tf.math.special.{fn.__name__}", getattr(_sp, fn.__name__), [x],
                        {0: derivative})
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _k1_derivative(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -_sp.bessel_k0(x) - _sp.bessel_k1(x) / x


def _k1e_derivative(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _sp.bessel_k1e(x) * (1 - 1 / x) - _sp.bessel_k0e(x)


def _y1_derivative(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _sp.bessel_y0(x) - _sp.bessel_y1(x) / x


def _spence_derivative(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 1, -1.0, np.log(x) / (1 - x))


def _expint_derivative(x):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.exp(x) / x


# tf.math.special's functions (SciPy's definitions, computed in float64 by
# pynn._special), each with its derivative for a GradientTape, and each
# recorded as a layer on a functional model's symbolic tensors
SPECIAL = {f.__name__: f for f in (
    _unary_special("bessel_j0", "The Bessel function of the first kind, order 0.",
                   lambda v: -_sp.bessel_j1(v)),
    _unary_special("bessel_j1", "The Bessel function of the first kind, order 1.",
                   _checked_pair(lambda v: _sp.bessel_j0(v) - _sp.bessel_j1(v) / v, 0.5)),
    _unary_special("bessel_y0", "The Bessel function of the second kind, order 0 (NaN "
                   "for x < 0, -inf at 0).", lambda v: -_sp.bessel_y1(v)),
    _unary_special("bessel_y1", "The Bessel function of the second kind, order 1 (NaN "
                   "for x < 0, -inf at 0).", _y1_derivative),
    _unary_special("bessel_k0", "The modified Bessel function of the second kind, order 0 "
                   "(NaN for x < 0, inf at 0).", lambda v: -_sp.bessel_k1(v)),
    _unary_special("bessel_k1", "The modified Bessel function of the second kind, order 1 "
                   "(NaN for x < 0, inf at 0).", _k1_derivative),
    _unary_special("bessel_k0e", "exp(x) K0(x), which does not underflow.",
                   lambda v: _sp.bessel_k0e(v) - _sp.bessel_k1e(v)),
    _unary_special("bessel_k1e", "exp(x) K1(x), which does not underflow.", _k1e_derivative),
    _unary_special("dawsn", "Dawson's integral exp(-x^2) int_0^x exp(t^2) dt.",
                   lambda v: 1 - 2 * v * _sp.dawsn(v)),
    _unary_special("expint", "The exponential integral Ei(x), the principal value of "
                   "int_-inf^x exp(t) / t dt (as SciPy's expi; -inf at 0).",
                   _expint_derivative),
    _unary_special("fresnel_cos", "The Fresnel integral int_0^x cos(pi t^2 / 2) dt.",
                   lambda v: np.cos(np.pi / 2 * v * v)),
    _unary_special("fresnel_sin", "The Fresnel integral int_0^x sin(pi t^2 / 2) dt.",
                   lambda v: np.sin(np.pi / 2 * v * v)),
    _unary_special("spence", "Spence's function int_1^x log(t) / (1 - t) dt (NaN for "
                   "x < 0).", _spence_derivative))}


# tf.math.special: those above, and the Bessel functions I under their second names
special = __import__("types").SimpleNamespace(
    bessel_i0=lambda x, name=None: bessel_i0(x), bessel_i0e=lambda x, name=None: bessel_i0e(x),
    bessel_i1=lambda x, name=None: bessel_i1(x), bessel_i1e=lambda x, name=None: bessel_i1e(x),
    **SPECIAL)


# ------------------------------------------------------------ slicing


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None, name=None):
    """Each row (along ``batch_axis``, 0 by default) of ``input`` with its
    first ``seq_lengths[b]`` entries along ``seq_axis`` reversed, the rest
    as they are."""
    shape = tuple(ops.shape(input))
    ndim = len(shape)
    if seq_axis is None:
        raise ValueError("tf.reverse_sequence: seq_axis is required")
    sa = int(seq_axis)
    ba = 0 if batch_axis is None else int(batch_axis)
    if not (-ndim <= sa < ndim and -ndim <= ba < ndim) or sa % ndim == ba % ndim:
        raise ValueError(f"tf.reverse_sequence: seq_axis {seq_axis} and batch_axis "
                         f"{batch_axis} must be two distinct axes of a tensor of shape {shape}")
    sa, ba = sa % ndim, ba % ndim
    lengths = np.ravel(_value(seq_lengths))
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"tf.reverse_sequence: seq_lengths must be integers, got "
                        f"{lengths.dtype}")
    n, s = shape[ba], shape[sa]
    if lengths.shape != (n,):
        raise ValueError(f"tf.reverse_sequence: seq_lengths has {lengths.size} entries; "
                         f"input of shape {shape} has {n} rows along batch_axis {ba}")
    if builtins.any(v < 0 or v > s for v in lengths.tolist()):
        raise _invalid(f"tf.reverse_sequence: seq_lengths {lengths.tolist()} must be in "
                       f"[0, {s}] (the size of seq_axis {sa})")
    j = np.arange(s)
    L = lengths.astype(np.int64)[:, None]
    within = np.where(j < L, L - 1 - j, j)              # (n, s)
    flat = (np.arange(n)[:, None] * s + within).ravel()
    perm = [ba, sa] + [a for a in builtins.range(ndim) if a not in (ba, sa)]
    moved = ops.transpose(input, perm)
    rest = tuple(shape[a] for a in perm[2:])
    picked = ops.take(ops.reshape(moved, (n * s,) + rest), flat, axis=0)
    return ops.transpose(ops.reshape(picked, (n, s) + rest), [int(a) for a in np.argsort(perm)])


def unravel_index(indices, dims, name=None):
    """The coordinates, in an array of shape ``dims``, of the flat
    ``indices``: shape (len(dims),) + indices' shape, of indices' integer
    dtype (a scalar index gives a vector)."""
    idx, d = _value(indices), np.ravel(_value(dims))
    if not hasattr(indices, "dtype") and idx.dtype == np.int64:
        idx = idx.astype(np.int32)                       # (Python ints: tf.int32)
    if idx.dtype.kind not in "iu" or d.dtype.kind not in "iu":
        raise TypeError(f"tf.unravel_index: indices and dims must be integers, got "
                        f"{idx.dtype} and {d.dtype}")
    if (d <= 0).any() and idx.size:
        raise _invalid(f"tf.unravel_index: dims must be positive, got {d.tolist()}")
    total = int(np.prod(d.astype(np.int64)))
    bad = (idx < 0) | (idx >= total)
    if bad.any():
        raise _invalid(f"tf.unravel_index: index {idx[bad].ravel()[0]} is out of range for "
                       f"dims {d.tolist()} (size {total})")
    coords = np.unravel_index(idx.astype(np.int64), tuple(int(v) for v in d))
    return np.stack(coords).astype(idx.dtype)


def _partition_ids(who, partitions, data_shape, num):
    p = _value(partitions)
    if p.dtype.kind not in "iu":
        raise TypeError(f"{who}: partitions must be integers, got {p.dtype}")
    if tuple(data_shape[:p.ndim]) != p.shape:
        raise ValueError(f"{who}: partitions of shape {p.shape} must be a prefix of data's "
                         f"shape {tuple(data_shape)}")
    bad = (p < 0) | (p >= num)
    if bad.any():
        raise _invalid(f"{who}: partitions[{np.argwhere(bad)[0].tolist()}] = "
                       f"{p[bad].ravel()[0]} is not in [0, {num})")
    return p.ravel()


def dynamic_partition(data, partitions, num_partitions, name=None):
    """``num_partitions`` tensors, the i-th holding the slices of ``data``
    whose entry in ``partitions`` (of a shape that begins data's) is i, in
    order (gradients flow back to data)."""
    num = int(num_partitions)
    if num < 1:
        raise ValueError(f"tf.dynamic_partition: num_partitions must be >= 1, got {num}")
    shape = tuple(ops.shape(data))
    p = _partition_ids("tf.dynamic_partition", partitions, shape, num)
    rest = shape[_value(partitions).ndim:]
    flat = ops.reshape(data, (p.size,) + rest)
    return [ops.take(flat, np.flatnonzero(p == i), axis=0) for i in builtins.range(num)]


def dynamic_stitch(indices, data, name=None):
    """The slices of the tensors in ``data`` placed at the rows given by
    ``indices`` (one integer tensor per data tensor, its shape a prefix of
    the data's): merged[indices[m][i]] = data[m][i], a later pair winning
    where two give the same row; rows no index names are zeros (gradients
    flow back to data)."""
    if not isinstance(indices, (list, tuple)) or not isinstance(data, (list, tuple)) \
            or len(indices) != len(data) or not indices:
        raise ValueError("tf.dynamic_stitch: indices and data must be lists of the same "
                         "(non-zero) length")
    ids, parts, rest = [], [], None
    for m, (i, d) in enumerate(zip(indices, data)):
        iv, shape = _value(i), tuple(ops.shape(d))
        if iv.dtype.kind not in "iu":
            raise TypeError(f"tf.dynamic_stitch: indices[{m}] must be integers, got {iv.dtype}")
        if shape[:iv.ndim] != iv.shape:
            raise ValueError(f"tf.dynamic_stitch: indices[{m}] of shape {iv.shape} must be a "
                             f"prefix of data[{m}]'s shape {shape}")
        if rest is None:
            rest = shape[iv.ndim:]
        elif shape[iv.ndim:] != rest:
            raise ValueError(f"tf.dynamic_stitch: data[{m}] of shape {shape} has slices of "
                             f"shape {shape[iv.ndim:]}, data[0]'s are {rest}")
        if (iv < 0).any():
            raise _invalid(f"tf.dynamic_stitch: indices[{m}] has a negative index "
                           f"{iv[iv < 0].ravel()[0]}")
        ids.append(iv.ravel().astype(np.int64))
        parts.append(ops.reshape(d, (iv.size,) + rest))
    every = np.concatenate(ids)
    rows = int(every.max()) + 1 if every.size else 0
    source = np.full(rows, -1, np.int64)
    np.maximum.at(source, every, np.arange(every.size))  # (the last writer wins)
    source[source < 0] = every.size                      # (the zero row, after the data)
    zero = np.zeros((1,) + rest, _dtype(data[0]))
    stacked = ops.concatenate(parts + [zero], axis=0)
    return ops.take(stacked, source, axis=0)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """TensorFlow's ``tf.strided_slice``: ``input_[begin:end:strides]`` per
    axis, with bit i of ``begin_mask``/``end_mask`` ignoring begin[i] /
    end[i], of ``ellipsis_mask`` making entry i an ellipsis, of
    ``new_axis_mask`` a new axis, of ``shrink_axis_mask`` the single
    index begin[i] (that axis dropped)."""
    b = [int(v) for v in np.ravel(_value(begin))]
    e = [int(v) for v in np.ravel(_value(end))]
    st = [1] * len(b) if strides is None else [int(v) for v in np.ravel(_value(strides))]
    if not len(b) == len(e) == len(st):
        raise ValueError(f"tf.strided_slice: begin, end and strides must have one length, got "
                         f"{len(b)}, {len(e)} and {len(st)}")
    if bin(int(ellipsis_mask)).count("1") > 1:
        raise ValueError("tf.strided_slice: at most one ellipsis is allowed (ellipsis_mask "
                         f"{ellipsis_mask})")
    key = []
    for i in builtins.range(len(b)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(b[i])
        else:
            if st[i] == 0:
                raise ValueError(f"tf.strided_slice: strides[{i}] must be non-zero")
            key.append(builtins.slice(None if begin_mask & bit else b[i],
                                      None if end_mask & bit else e[i], st[i]))
    shape = tuple(ops.shape(input_))
    taken = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if taken > len(shape):
        raise ValueError(f"tf.strided_slice: {taken} sliced axes for a tensor of shape {shape}")
    try:
        out = input_[tuple(key)]
    except IndexError as err:
        raise _invalid(f"tf.strided_slice: {err} (input of shape {shape})") from None
    return out


# tf.math's names (the module's own); the top-level ones pynn exports are
# these and the tensor functions above (range to argsort).
_MATH = ["abs", "complex", "real", "imag", "conj", "multiply_no_nan", "xdivy",
         "accumulate_n", "cumulative_logsumexp", "ndtri", "add", "subtract", "multiply", "divide", "divide_no_nan", "floordiv",
         "floormod", "negative", "reciprocal", "squared_difference", "pow", "exp", "log",
         "log1p", "square", "sqrt", "rsqrt", "sign", "round", "floor", "ceil", "sin", "cos",
         "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh", "acosh", "atanh",
         "tanh",
         "sigmoid", "softplus", "softmax", "log_softmax", "log_sigmoid", "erf", "minimum",
         "maximum", "is_nan",
         "is_finite", "is_inf", "equal", "not_equal", "less", "less_equal", "greater",
         "greater_equal", "logical_and", "logical_or", "logical_not", "reduce_sum",
         "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_any",
         "reduce_all", "reduce_logsumexp", "reduce_variance", "reduce_std",
         "reduce_euclidean_norm", "argmax", "argmin", "cumsum", "cumprod", "l2_normalize", "top_k",
         "segment_sum", "segment_mean", "segment_max", "segment_min", "unsorted_segment_sum",
         "unsorted_segment_mean", "unsorted_segment_max", "unsorted_segment_min", "in_top_k",
         "bincount", "confusion_matrix", "count_nonzero", "softsign", "logical_xor", "xlogy",
         "scalar_mul", "lgamma", "digamma", "erfinv", "expm1", "bessel_i0", "bessel_i0e",
         "bessel_i1", "bessel_i1e", "igamma", "igammac", "betainc", "zeta", "polyval"]
_TENSORS = ["global_norm", "clip_by_global_norm", "range", "fill", "eye", "linspace", "shape",
            "ensure_shape",
            "size", "rank", "identity", "stop_gradient", "add_n", "clip_by_value",
            "clip_by_norm", "norm", "tile", "pad", "repeat", "broadcast_to",
            "expand_dims", "squeeze",
            "transpose", "gather", "where", "one_hot", "split", "unstack", "sort", "argsort",
            "gather_nd", "boolean_mask", "sequence_mask", "roll", "reverse", "slice", "meshgrid",
            "searchsorted", "scatter_nd", "tensor_scatter_nd_add", "tensor_scatter_nd_sub",
            "tensor_scatter_nd_update", "tensor_scatter_nd_max", "tensor_scatter_nd_min",
            "histogram_fixed_width", "histogram_fixed_width_bins", "reverse_sequence",
            "strided_slice", "unravel_index", "dynamic_partition", "dynamic_stitch"]
for _name in _MATH + _TENSORS:
    globals()[_name] = _eager_results(globals()[_name])
# TensorFlow dispatches these to RaggedTensors: elementwise on the values, the
# rows kept; the reductions over rows, within rows or over the values' axes
for _name in ("abs", "negative", "reciprocal", "exp", "log", "log1p", "square", "sqrt",
              "rsqrt", "sign", "round", "floor", "ceil", "sin", "cos", "tan", "asin", "acos",
              "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "tanh", "sigmoid", "softplus",
              "log_sigmoid", "erf", "is_nan", "is_finite", "is_inf", "logical_not", "identity",
              "stop_gradient"):
    globals()[_name] = _ragged.elementwise(globals()[_name])
for _name in ("add", "subtract", "multiply", "divide", "divide_no_nan", "floordiv",
              "floormod", "squared_difference", "pow", "atan2", "minimum", "maximum", "equal",
              "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
              "logical_or"):
    globals()[_name] = _ragged.binary(globals()[_name])
for _name in ("sum", "mean", "max", "min", "prod", "any", "all"):
    globals()[f"reduce_{_name}"] = _ragged.reduction(_name)(globals()[f"reduce_{_name}"])
del _name
truediv = divide
mod = floormod
__all__ = _MATH + ["truediv", "mod", "TopKV2", "unique", "unique_with_counts", "Unique",
                   "UniqueWithCounts"]
