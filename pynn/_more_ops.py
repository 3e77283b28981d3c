"""More of Keras 3's ``keras.ops`` names, as pynn.ops functions (pynn.ops
imports them from here): the NaN-ignoring reductions, set and index
functions, bitwise and special functions, complex numbers as Keras keeps
them, window functions, Fourier transforms, signal framing, more of the
nn, linalg and image functions, and ``custom_gradient``.

On NumPy arrays each is NumPy's computation with Keras 3's argument rules
and result dtypes.  The differentiable ones also take the traced arrays of
:mod:`pynn.autodiff`: most are written with pynn.ops functions that are
recorded, so their gradients come from those; erfc, erfinv and the
Fourier transforms record their own derivative or adjoint.  Functions
whose result is a constant (indices, counts, integer math) compute on the
values; those that build a constant from an array's values (unique,
histogram, stft...) refuse traced arrays rather than drop a gradient.
"""
import builtins
import contextlib
import functools
import inspect
import math
import re
import warnings

import numpy as np

from . import ops

_is_traced = ops._is_traced
_plain = ops._plain
_array = ops._array
_axis_arg = ops._axis_arg
_integer = ops._integer


def _float_result(a):
    """The float dtype Keras gives a float computation on ``a``: float32,
    unless ``a`` is float64 (pynn's arrays are float32)."""
    return np.float64 if a.dtype == np.float64 else np.float32


def _result_type(*arrays):
    """Keras's result dtype of mixing arrays: a float array's dtype wins
    over integers (float32 with int32 is float32, not NumPy's float64)."""
    floats = [a.dtype for a in arrays if a.dtype.kind in "fc"]
    return np.result_type(*floats) if floats else np.result_type(*arrays)


def _values(x, name):
    """x's values as an array (traced arrays refused: the result is a
    constant built from them)."""
    ops._constant_input(name, x=x)
    return _array(x)


# ---------------------------------------------------------- NaN reductions

def _nan_mask(x):
    return np.isnan(np.asarray(_plain(x)))


def _small_int(dtype):
    """Keras's accumulator for sums and products of small integers."""
    if dtype in (np.bool_, np.int8, np.int16):
        return np.int32
    if dtype in (np.uint8, np.uint16):
        return np.uint32
    return dtype


def nansum(x, axis=None, keepdims=False):
    """The sum over ``axis``, NaN counted as zero."""
    if _is_traced(x):
        return ops.sum(ops.where(_nan_mask(x), np.float32(0), x), axis, keepdims)
    a = _array(x)
    return np.asarray(np.nansum(a, axis=_axis_arg(axis), keepdims=keepdims)).astype(
        _small_int(a.dtype.type))


def nanprod(x, axis=None, keepdims=False):
    """The product over ``axis``, NaN counted as one."""
    if _is_traced(x):
        return ops.prod(ops.where(_nan_mask(x), np.float32(1), x), axis, keepdims)
    a = _array(x)
    return np.asarray(np.nanprod(a, axis=_axis_arg(axis), keepdims=keepdims,
                                 dtype=_small_int(a.dtype.type)))


def _nan_count(x, axis, keepdims):
    return np.sum(~_nan_mask(x), axis=_axis_arg(axis), keepdims=keepdims).astype(np.float32)


def nanmean(x, axis=None, keepdims=False):
    """The mean over ``axis`` of the values that are not NaN (NaN where
    all are)."""
    if _is_traced(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return ops.divide(nansum(x, axis, keepdims), _nan_count(x, axis, keepdims))
    a = _array(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.nanmean(a, axis=_axis_arg(axis), keepdims=keepdims)).astype(
            _float_result(a))


def nanvar(x, axis=None, keepdims=False):
    """The variance over ``axis`` of the values that are not NaN."""
    if _is_traced(x):
        nan = _nan_mask(x)
        centered = ops.where(nan, np.float32(0), ops.subtract(x, nanmean(x, axis, True)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return ops.divide(ops.sum(ops.square(centered), axis, keepdims),
                              _nan_count(x, axis, keepdims))
    a = _array(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.nanvar(a, axis=_axis_arg(axis), keepdims=keepdims,
                                    dtype=np.result_type(a.dtype, np.float32))).astype(
            _float_result(a))


def nanstd(x, axis=None, keepdims=False):
    """The standard deviation over ``axis`` of the values that are not NaN."""
    if _is_traced(x):
        return ops.sqrt(nanvar(x, axis, keepdims))
    return np.sqrt(nanvar(x, axis, keepdims))


def _nan_extremum(name, fill, reduce, np_fn):
    def op(x, axis=None, keepdims=False):
        if _is_traced(x):
            v = np.asarray(x.value)
            nan = np.isnan(v)
            out = reduce(ops.where(nan, np.float32(fill), x), axis, keepdims)
            all_nan = np.all(nan, axis=_axis_arg(axis), keepdims=keepdims)
            return ops.where(all_nan, np.float32(np.nan), out) if all_nan.any() else out
        with np.errstate(invalid="ignore"), _quiet_all_nan():
            return np.asarray(np_fn(_array(x), axis=_axis_arg(axis), keepdims=keepdims))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"The {'largest' if fill < 0 else 'smallest'} value over ``axis`` that "
                  f"is not NaN (NaN where all are).")
    return op


@contextlib.contextmanager
def _quiet_all_nan():
    """NumPy's nan-functions warn on an all-NaN slice; Keras's give NaN
    quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


nanmax = _nan_extremum("nanmax", -np.inf, lambda x, a, k: ops.max(x, a, k), np.nanmax)
nanmin = _nan_extremum("nanmin", np.inf, lambda x, a, k: ops.min(x, a, k), np.nanmin)


def _nan_arg(name, fill, arg):
    def op(x, axis=None, keepdims=False):
        a = _array(_plain(x))
        if a.dtype.kind != "f":
            return np.asarray(arg(a, axis=axis, keepdims=keepdims)).astype(np.int32)
        nan = np.isnan(a)
        found = arg(np.where(nan, fill, a), axis=axis, keepdims=keepdims).astype(np.int32)
        return np.asarray(np.where(np.all(nan, axis=axis, keepdims=keepdims), np.int32(-1),
                                   found))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"The index of the {'largest' if fill < 0 else 'smallest'} value along "
                  f"``axis`` that is not NaN (int32; -1 where all are NaN).")
    return op


nanargmax = _nan_arg("nanargmax", -np.inf, np.argmax)
nanargmin = _nan_arg("nanargmin", np.inf, np.argmin)


def nancumsum(x, axis=None, dtype=None):
    """Cumulative sums along ``axis``, NaN counted as zero."""
    if _is_traced(x):
        return ops.cumsum(ops.where(_nan_mask(x), np.float32(0), x), axis=axis)
    a = _array(x)
    dtype = np.dtype(dtype or a.dtype)
    return np.nancumsum(a, axis=axis, dtype=np.int32 if dtype == np.bool_ else dtype)


def nancumprod(x, axis=None, dtype=None):
    """Cumulative products along ``axis``, NaN counted as one."""
    a = _values(x, "nancumprod")
    dtype = np.dtype(dtype or a.dtype)
    return np.nancumprod(a, axis=axis, dtype=np.int32 if dtype == np.bool_ else dtype)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th quantiles (q in [0, 1]) along ``axis`` of the values
    that are not NaN."""
    if _is_traced(x) and not _nan_mask(x).any():
        return ops.quantile(x, q, axis, method, keepdims)
    a = _values(x, "nanquantile")
    ops.quantile(np.zeros(1, np.float32), q, method=method)     # q and method checks
    a = a.astype(np.float32) if a.dtype.kind != "f" else a
    with _quiet_all_nan():
        return np.asarray(np.nanquantile(a, np.asarray(_plain(q), np.float64),
                                         axis=_axis_arg(axis), method=method,
                                         keepdims=keepdims)).astype(a.dtype)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th percentiles (q in [0, 100]) of the values that are not
    NaN."""
    return nanquantile(x, np.asarray(_plain(q), np.float64) / 100.0, axis, method, keepdims)


def nanmedian(x, axis=None, keepdims=False):
    return nanquantile(x, 0.5, axis=axis, keepdims=keepdims)


# ------------------------------------------------- sets, indices, counting

def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    """The distinct values of x (sorted), with the index of each one's
    first occurrence, the inverse map and counts when asked; ``size`` pads
    (with ``fill_value``, default 0) or truncates them to that many, as
    Keras 3's."""
    a = _values(x, "unique")
    output = np.unique(a, return_index=return_index, return_inverse=return_inverse,
                       return_counts=return_counts, axis=axis, equal_nan=False)
    output = list(output) if (return_index or return_inverse or return_counts) else [output]
    values = output[0]
    if size is not None:
        size = _integer(size, "unique: size", low=0)
        dim = 0 if axis is None else int(axis) % a.ndim
        count = values.shape[dim]
        if count > size:
            keep = [builtins.slice(None)] * values.ndim
            keep[dim] = builtins.slice(0, size)
            values = values[tuple(keep)]
            if return_index:
                output[1] = output[1][:size]
            if return_counts:
                output[-1] = output[-1][:size]
        elif count < size:
            widths = [(0, 0)] * values.ndim
            widths[dim] = (0, size - count)
            values = np.pad(values, widths, constant_values=0 if fill_value is None
                            else fill_value)
            if return_index:
                output[1] = np.pad(output[1], (0, size - count), constant_values=1)
            if return_counts:
                output[-1] = np.pad(output[-1], (0, size - count))
    output[0] = values
    return output[0] if len(output) == 1 else tuple(output)


def unravel_index(indices, shape):
    """The coordinates in an array of ``shape`` of flat ``indices`` (a
    tuple of arrays of the indices' dtype)."""
    ids = np.asarray(_plain(indices))
    if ids.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: indices must be integers, got dtype {ids.dtype}")
    dims = tuple(_integer(d, "unravel_index: shape", low=1) for d in shape)
    total = int(np.prod(dims))
    if ids.size and (ids.min() < 0 or ids.max() >= total):
        raise ValueError(f"unravel_index: an index is outside [0, {total}) of shape {dims}")
    return tuple(c.astype(ids.dtype) for c in np.unravel_index(ids, dims))


def argpartition(x, kth, axis=-1):
    """Indices that partition x along ``axis`` around its ``kth`` value
    (int32)."""
    a = _array(_plain(x))
    n = a.shape[axis] if a.ndim else 0
    if not -n <= int(kth) < n:
        raise ValueError(f"argpartition: kth={kth} is outside an axis of {n} values")
    return np.argpartition(a, kth, axis).astype(np.int32)


def histogram(x, bins=10, range=None):
    """Counts of the values of the 1-D x in ``bins`` equal bins over
    ``range`` (the values' range by default), and the bin edges."""
    a = _values(x, "histogram")
    if a.ndim != 1:
        raise ValueError(f"histogram: x must be 1-D, got shape {a.shape}")
    bins = _integer(bins, "histogram: bins", low=1)
    if range is not None and (len(range) != 2 or range[0] > range[1]):
        raise ValueError(f"histogram: range must be (min, max) with min <= max, got {range!r}")
    return np.histogram(a, bins=bins, range=range)


# ---------------------------------------------------------- array building

def kron(x1, x2):
    """The Kronecker product of x1 and x2."""
    if _is_traced(x1) or _is_traced(x2):
        n = builtins.max(ops.ndim(x1), ops.ndim(x2))
        a = ops.reshape(x1, (1,) * (n - ops.ndim(x1)) + ops.shape(x1))
        b = ops.reshape(x2, (1,) * (n - ops.ndim(x2)) + ops.shape(x2))
        sa, sb = ops.shape(a), ops.shape(b)
        wide = ops.multiply(ops.reshape(a, tuple(d for s in sa for d in (s, 1))),
                            ops.reshape(b, tuple(d for s in sb for d in (1, s))))
        return ops.reshape(wide, tuple(p * q for p, q in zip(sa, sb)))
    a, b = _array(x1), _array(x2)
    return np.kron(a, b).astype(_result_type(a, b))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of vectors of 2 or 3 components, as NumPy's."""
    if axis is not None:
        axisa = axisb = axisc = axis
    if _is_traced(x1) or _is_traced(x2):
        a, b = ops.moveaxis(x1, axisa, -1), ops.moveaxis(x2, axisb, -1)
        if ops.shape(a)[-1] != 3 or ops.shape(b)[-1] != 3:
            raise ValueError(f"cross: traced arrays need 3 components, got shapes "
                             f"{ops.shape(x1)} and {ops.shape(x2)}")
        ax, ay, az = (a[..., i] for i in range(3))
        bx, by, bz = (b[..., i] for i in range(3))
        c = ops.stack([ops.subtract(ops.multiply(ay, bz), ops.multiply(az, by)),
                       ops.subtract(ops.multiply(az, bx), ops.multiply(ax, bz)),
                       ops.subtract(ops.multiply(ax, by), ops.multiply(ay, bx))], axis=-1)
        return ops.moveaxis(c, -1, axisc)
    a, b = _array(x1), _array(x2)
    dtype = _result_type(a, b)
    return np.cross(a.astype(dtype), b.astype(dtype), axisa=axisa, axisb=axisb, axisc=axisc)


def correlate(x1, x2, mode="valid"):
    """The cross-correlation of two 1-D arrays ('valid', 'same' or 'full'),
    float32."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}")
    if ops.ndim(x1) != 1 or ops.ndim(x2) != 1:
        raise ValueError(f"correlate: x1 and x2 must be 1-D, got shapes {ops.shape(x1)} and "
                         f"{ops.shape(x2)}")
    if _is_traced(x1) or _is_traced(x2):
        n, m = ops.shape(x1)[0], ops.shape(x2)[0]
        if n < m:   # NumPy swaps and reverses, as correlate(a, v) = correlate(v, a)[::-1]
            return ops.flip(correlate(x2, x1, mode))
        left = {"valid": 0, "same": m // 2, "full": m - 1}[mode]
        right = {"valid": 0, "same": m - 1 - m // 2, "full": m - 1}[mode]
        padded = ops.pad(x1, [(left, right)])
        frames = extract_sequences(padded, m, 1)
        return ops.matmul(frames, x2)
    return np.correlate(_f32_or_64(x1), _f32_or_64(x2), mode)


def _f32_or_64(x):
    a = _array(x)
    return a if a.dtype == np.float64 else a.astype(np.float32)


def corrcoef(x):
    """The Pearson correlation coefficients of the rows of x (variables in
    rows, observations in columns)."""
    a = _values(x, "corrcoef")
    if a.ndim > 2:
        raise ValueError(f"corrcoef: x must be 1-D or 2-D, got shape {a.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.corrcoef(a)).astype(_float_result(a))


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of y along ``axis`` by the trapezoidal rule, at sample
    points ``x`` or spaced ``dx`` apart."""
    if _is_traced(y) or _is_traced(x):
        yy = ops.moveaxis(y, axis, -1)
        mids = ops.multiply(ops.add(yy[..., 1:], yy[..., :-1]), 0.5)
        if x is None:
            return ops.multiply(ops.sum(mids, axis=-1), float(dx))
        steps = ops.diff(x, axis=-1 if ops.ndim(x) == 1 else axis)
        if ops.ndim(x) != 1:
            steps = ops.moveaxis(steps, axis, -1)
        return ops.sum(ops.multiply(mids, steps), axis=-1)
    a = _array(y)
    out = np.trapezoid(a, None if x is None else _array(x), dx=dx, axis=axis)
    return np.asarray(out).astype(_float_result(a))


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of the 1-D x: columns of its powers."""
    if ops.ndim(x) != 1:
        raise ValueError(f"vander: x must be 1-D, got shape {ops.shape(x)}")
    n = ops.shape(x)[0] if N is None else _integer(N, "vander: N", low=0)
    if _is_traced(x):
        powers = np.arange(n, dtype=np.float32)
        cols = ops.power(ops.expand_dims(x, 1), powers if increasing else powers[::-1].copy())
        return cols
    a = _array(x)
    return np.vander(a.astype(np.result_type(a.dtype, np.float32)), N=n,
                     increasing=increasing).astype(a.dtype)


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``num`` numbers spaced evenly on a log scale: base**start to
    base**stop."""
    ops._constant_input("logspace", start=start, stop=stop)
    num = _integer(num, "logspace: num", low=0)
    if dtype is None:
        dtype = np.float64 if np.result_type(np.asarray(start).dtype, np.asarray(
            stop).dtype) == np.float64 and not (_is_python(start) and _is_python(stop)) \
            else np.float32
    return np.logspace(start, stop, num=num, endpoint=endpoint, base=base, dtype=dtype,
                       axis=axis)


def _is_python(v):
    return type(v) in (int, float, bool)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` numbers spaced evenly on a log scale from ``start`` to
    ``stop`` (a geometric progression)."""
    ops._constant_input("geomspace", start=start, stop=stop)
    num = _integer(num, "geomspace: num", low=0)
    if np.any(np.asarray(start) == 0) or np.any(np.asarray(stop) == 0):
        raise ValueError(f"geomspace: start and stop must be nonzero, got {start!r}, {stop!r}")
    return np.geomspace(start, stop, num=num, endpoint=endpoint, dtype=dtype or np.float32,
                        axis=axis)


def get_item(x, key):
    """``x[key]``."""
    return x[key]


def view(x, dtype=None):
    """x's bytes read as ``dtype`` (NumPy's view; a constant)."""
    return _values(x, "view").view(dtype)


# ------------------------------------------------- elementwise and special

def fabs(x):
    """The absolute value, as floating point."""
    if _is_traced(x):
        return ops.abs(x)
    a = _array(x)
    return np.fabs(a.astype(np.float32) if a.dtype.kind in "biu" else a)


def _nan_pick(name, reduce):
    def op(x1, x2):
        if _is_traced(x1) or _is_traced(x2):
            a, b = np.asarray(_plain(x1)), np.asarray(_plain(x2))
            return ops.where(np.isnan(a), x2, ops.where(np.isnan(b), x1, reduce(x1, x2)))
        arrays = [_array(v) for v in (x1, x2) if not _is_python(v)]
        dtype = _result_type(*arrays) if arrays else np.dtype(np.float32)
        if dtype.kind in "biu" and builtins.any(type(v) is float for v in (x1, x2)):
            dtype = np.dtype(np.float32)    # (a Python number is weakly typed)
        a, b = np.asarray(_plain(x1), dtype), np.asarray(_plain(x2), dtype)
        return getattr(np, name)(a, b)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"The elementwise {'maximum' if name == 'fmax' else 'minimum'}, ignoring "
                  f"NaN (NaN only where both are).")
    return op


fmax = _nan_pick("fmax", lambda a, b: ops.maximum(a, b))
fmin = _nan_pick("fmin", lambda a, b: ops.minimum(a, b))


def ldexp(x1, x2):
    """``x1 * 2**x2`` for integer exponents x2."""
    e = np.asarray(_plain(x2))
    if e.dtype.kind not in "iu":
        raise TypeError(f"ldexp: the exponent x2 must be integers, got dtype {e.dtype}")
    if _is_traced(x1):
        return ops.multiply(x1, np.ldexp(np.float32(1), e).astype(np.float32))
    a = _array(x1)
    return np.ldexp(a, e).astype(np.result_type(a.dtype, np.float32))


def nextafter(x1, x2):
    """The next float32 after x1 towards x2 (a constant)."""
    a, b = _array(_plain(x1)), _array(_plain(x2))
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    return np.nextafter(a.astype(dtype), b.astype(dtype))


def _integer_pair(name, x1, x2):
    a, b = _array(_plain(x1)), _array(_plain(x2))
    if a.dtype.kind not in "biu" or b.dtype.kind not in "biu":
        raise TypeError(f"{name}: expected integer arrays, got dtypes {a.dtype} and {b.dtype}")
    return a, b, np.result_type(a.dtype, b.dtype)


def gcd(x1, x2):
    """The greatest common divisor of integers, elementwise."""
    a, b, dtype = _integer_pair("gcd", x1, x2)
    return np.gcd(a, b).astype(dtype)


def lcm(x1, x2):
    """The least common multiple of integers, elementwise."""
    a, b, dtype = _integer_pair("lcm", x1, x2)
    return np.lcm(a, b).astype(dtype)


def _erfc_values(x):
    """erfc by the Chebyshev fit of Numerical Recipes (fractional error
    under 1.2e-7 everywhere, so its tail keeps float32's precision where
    1 - erf(x) would round to zero)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    ans = t * np.exp(-z * z + poly)
    return np.where(x >= 0, ans, 2.0 - ans)


def _unary_with_grad(x, fwd, grad):
    """``fwd`` on values, recorded with ``grad(g, x, y)`` on traced ones."""
    from . import autodiff
    return autodiff._unary(x, fwd, grad)


def erfc(x):
    """The complementary error function ``1 - erf(x)``."""
    def fwd(v):
        return _erfc_values(np.asarray(v, np.float64)).astype(np.float32)
    if _is_traced(x):
        return _unary_with_grad(x, fwd, lambda g, v, y: (g * np.float32(-2 / np.sqrt(np.pi)) *
                                                         np.exp(-np.square(v))))
    return fwd(ops._f32(x, "erfc: x"))


def _erfinv_values(x):
    """erfinv by Giles's single precision fit ("Approximating the erfinv
    function", 2010), in float64."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = -np.log((1.0 - x) * (1.0 + x))
        central = w - 2.5
        p = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            p = c + p * central
        tail = np.sqrt(np.maximum(w, 0)) - 3.0
        q = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            q = c + q * tail
        out = np.where(w < 5.0, p, q) * x
        out = np.where(np.abs(x) == 1, np.copysign(np.inf, x), out)
        return np.where(np.abs(x) > 1, np.nan, out)


def erfinv(x):
    """The inverse error function (inf at +-1, NaN outside [-1, 1])."""
    def fwd(v):
        return _erfinv_values(np.asarray(v, np.float64)).astype(np.float32)
    if _is_traced(x):
        return _unary_with_grad(x, fwd, lambda g, v, y: g * np.float32(np.sqrt(np.pi) / 2) *
                                np.exp(np.square(y)))
    return fwd(ops._f32(x, "erfinv: x"))


def i0(x):
    """The modified Bessel function of the first kind, order 0."""
    a = _values(x, "i0")
    return np.i0(a.astype(_float_result(a))).astype(_float_result(a))


# ------------------------------------------------------------ complex data
#
# pynn's arrays are real: real, imag, conj and angle of real data are what
# NumPy gives; complex NumPy arrays (from polar, view_as_complex, eig) pass
# through NumPy's own functions.

def real(x):
    """The real part (x itself for real data)."""
    if type(x) is ops._TracedComplex:
        return x.real
    return x if _is_traced(x) else np.real(_array(x))


def imag(x):
    """The imaginary part (zeros for real data)."""
    if type(x) is ops._TracedComplex:
        return x.imag
    return np.imag(_array(_plain(x)))


def conj(x):
    """The complex conjugate (x itself for real data)."""
    if type(x) is ops._TracedComplex:
        return x.conj()
    return x if _is_traced(x) else np.conj(_array(x))


conjugate = conj


def angle(x):
    """The argument of complex numbers (0 or pi for real data)."""
    a = _array(_plain(x))
    if a.dtype.kind != "c":
        a = a.astype(np.float64 if a.dtype == np.float64 else np.float32)
    return np.angle(a)


def isreal(x):
    """Whether each value has no imaginary part."""
    return np.isreal(_array(_plain(x)))


def polar(abs_, angle):
    """The complex numbers ``abs_ * (cos(angle) + 1j sin(angle))``
    (complex64)."""
    r = _values(abs_, "polar").astype(np.float32)
    t = _values(angle, "polar").astype(np.float32)
    return (r * np.cos(t) + 1j * (r * np.sin(t))).astype(np.complex64)


def view_as_real(x):
    """Complex x as real numbers with a last axis of 2: (real, imaginary)."""
    a = _values(x, "view_as_real")
    return np.stack((np.real(a), np.imag(a)), axis=-1)


def view_as_complex(x):
    """Real x of shape (..., 2) as complex64 numbers of shape (...)."""
    a = _values(x, "view_as_complex")
    if a.ndim < 1 or a.shape[-1] != 2:
        raise ValueError(f"view_as_complex: the last axis must hold 2 values (real, "
                         f"imaginary), got shape {a.shape}")
    return a[..., 0].astype(np.complex64) + 1j * a[..., 1].astype(np.complex64)


# ---------------------------------------------------------------- bitwise

def _integers(name, *xs):
    """The integer arrays of a bitwise function in their common dtype (a
    Python int takes the other's, as Keras's weak types)."""
    arrays = [_array(_plain(x)) for x in xs]
    for a in arrays:
        if a.dtype.kind not in "biu":
            raise TypeError(f"{name}: expected integer or boolean arrays, got dtype {a.dtype}")
    typed = [a for a, x in zip(arrays, xs) if type(x) is not int]
    dtype = np.result_type(*(typed or arrays))
    return [a.astype(dtype) for a in arrays]


def bitwise_and(x, y):
    return np.bitwise_and(*_integers("bitwise_and", x, y))


def bitwise_or(x, y):
    return np.bitwise_or(*_integers("bitwise_or", x, y))


def bitwise_xor(x, y):
    return np.bitwise_xor(*_integers("bitwise_xor", x, y))


def bitwise_invert(x):
    return np.invert(*_integers("bitwise_invert", x))


bitwise_not = bitwise_invert


def bitwise_left_shift(x, y):
    return np.left_shift(*_integers("bitwise_left_shift", x, y))


def bitwise_right_shift(x, y):
    return np.right_shift(*_integers("bitwise_right_shift", x, y))


left_shift = bitwise_left_shift
right_shift = bitwise_right_shift


def saturate_cast(x, dtype):
    """x cast to ``dtype``, values beyond its range clipped to it first
    (casting -1.0 to uint8 gives 0, not 255)."""
    dtype = np.dtype(dtype)
    if _is_traced(x):
        if dtype.kind == "f":
            info = np.finfo(dtype)
            return ops.cast(ops.clip(x, float(info.min), float(info.max)), dtype)
        return saturate_cast(x.value, dtype)
    a = np.asarray(x)  # (float64 kept: its range is clipped in float64)

    def limits(dt):
        if dt == np.bool_:
            return 0, 1
        info = np.iinfo(dt) if dt.kind in "iu" else np.finfo(dt)
        return info.min, info.max
    (in_min, in_max), (out_min, out_max) = limits(a.dtype), limits(dtype)
    # (compared as Python numbers, exactly: float32(2**31 - 1) is 2**31,
    # beyond int32, so the bound is the float below it)
    low = np.asarray(builtins.max(in_min, out_min)).astype(a.dtype)
    if low.item() < out_min:
        low = np.nextafter(low, 0, dtype=a.dtype)
    high = np.asarray(builtins.min(in_max, out_max)).astype(a.dtype)
    if high.item() > out_max:
        high = np.nextafter(high, 0, dtype=a.dtype)
    with np.errstate(invalid="ignore"):  # (NaN: as a cast gives it)
        return np.clip(a, low, high).astype(dtype)


# -------------------------------------------------------- window functions

def _count(x, name):
    """A window's length: an integer (a 0-d integer array too)."""
    x = _plain(x)
    return _integer(x.item() if isinstance(x, np.ndarray) and x.ndim == 0 and
                    x.dtype.kind in "iu" else x, f"{name}: x", low=0)


def _window(name, fn):
    def op(x):
        return fn(_count(x, name)).astype(np.float32)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"The {name} window of ``x`` points (float32), as NumPy's."
    return op


bartlett = _window("bartlett", np.bartlett)
blackman = _window("blackman", np.blackman)
hamming = _window("hamming", np.hamming)
hanning = _window("hanning", np.hanning)


def kaiser(x, beta):
    """The Kaiser window of ``x`` points with shape ``beta`` (float32)."""
    return np.kaiser(_count(x, "kaiser"), float(beta)).astype(np.float32)


# ---------------------------------------------------- Fourier transforms
#
# Keras keeps complex data as a (real, imaginary) pair of float arrays.

def _complex_pair(name, x):
    """The complex array of a (real, imaginary) pair (traced parts read as
    values), and the dtype of the parts."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{name}: x must be a (real, imaginary) pair of arrays, got "
                         f"{type(x).__name__}")
    re_, im_ = (_array(_plain(v)) for v in x)
    if re_.shape != im_.shape:
        raise ValueError(f"{name}: the real and imaginary parts need the same shape, got "
                         f"{re_.shape} and {im_.shape}")
    if re_.dtype.kind != "f" or im_.dtype.kind != "f":
        raise ValueError(f"{name}: the real and imaginary parts must be floats, got "
                         f"{re_.dtype} and {im_.dtype}")
    return re_ + 1j * im_, np.result_type(re_.dtype, im_.dtype)


def _pair_out(c, dtype):
    return np.real(c).astype(dtype), np.imag(c).astype(dtype)


def _linear_record(parts, outputs, vjp):
    """``outputs`` (arrays) of a linear map of ``parts``; where a part is
    traced, recorded with ``vjp(gradients of the outputs)``, which gives
    one gradient per part.  A tuple of outputs stays a tuple."""
    from . import autodiff
    resolved = tuple(autodiff.resolve(p) for p in parts)
    tape = autodiff._tape_of(*resolved)
    if tape is None:
        return outputs

    def grads(gs):
        gs = gs if isinstance(outputs, tuple) else [gs]
        return [np.ascontiguousarray(g, np.float32) if type(p) is autodiff.Traced else None
                for p, g in zip(resolved, vjp([np.asarray(g, np.float64) for g in gs]))]
    if isinstance(outputs, tuple):
        return tuple(tape.record_several(outputs, resolved, grads))
    return tape.record(outputs, resolved, grads)


def _complex_grads(h):
    return np.real(h), np.imag(h)


def _dft(name, x, rank, transform, adjoint):
    """``transform`` (a NumPy DFT over the last ``rank`` axes) of a (real,
    imaginary) pair; ``adjoint(g, n)`` maps the complex output gradient to
    the input's, n being the number of points transformed (the adjoint
    of the DFT is n times the inverse DFT)."""
    c, dtype = _complex_pair(name, x)
    if c.ndim < rank:
        raise ValueError(f"{name}: expected arrays of rank >= {rank}, got shape {c.shape}")
    n = math.prod(c.shape[-rank:])
    return _linear_record(x, _pair_out(transform(c), dtype), lambda gs: _complex_grads(
        adjoint(gs[0] + 1j * gs[1], n)))


def fft(x):
    """The discrete Fourier transform along the last axis of a (real,
    imaginary) pair."""
    return _dft("fft", x, 1, np.fft.fft, lambda g, n: n * np.fft.ifft(g))


def fft2(x):
    """The 2-D discrete Fourier transform over the last two axes."""
    return _dft("fft2", x, 2, np.fft.fft2, lambda g, n: n * np.fft.ifft2(g))


def ifft2(x):
    """The inverse 2-D discrete Fourier transform over the last two axes."""
    return _dft("ifft2", x, 2, np.fft.ifft2, lambda g, n: np.fft.fft2(g) / n)


def _fft_length(name, fft_length):
    return None if fft_length is None else _integer(fft_length, f"{name}: fft_length", low=1)


def rfft(x, fft_length=None):
    """The Fourier transform of real x along its last axis (the
    non-negative frequencies), as a (real, imaginary) pair."""
    a = _array(_plain(x))
    if a.ndim < 1:
        raise ValueError(f"rfft: expected an array of rank >= 1, got shape {a.shape}")
    a = a.astype(_float_result(a)) if a.dtype.kind != "f" else a
    n = _fft_length("rfft", fft_length) or a.shape[-1]
    length = a.shape[-1]

    def vjp(gs):
        # The frequencies kept are the first n // 2 + 1 of the full DFT of
        # x cut or zero-padded to n: the adjoint puts the gradient there.
        full = np.zeros(gs[0].shape[:-1] + (n,), np.complex128)
        full[..., :gs[0].shape[-1]] = gs[0] + 1j * gs[1]
        g = np.real(n * np.fft.ifft(full))[..., :length]
        return [np.pad(g, [(0, 0)] * (g.ndim - 1) + [(0, length - g.shape[-1])])]
    return _linear_record([x], _pair_out(np.fft.rfft(a, n=n, axis=-1), a.dtype), vjp)


def irfft(x, fft_length=None):
    """The real signal of a (real, imaginary) pair of non-negative
    frequencies along the last axis (the inverse of rfft)."""
    c, dtype = _complex_pair("irfft", x)
    m = c.shape[-1]
    n = _fft_length("irfft", fft_length) or 2 * (m - 1)

    def vjp(gs):
        # y = (1/n) sum_k w_k Re(c_k e^{2 pi i k t / n}), w_k = 2 but for
        # the constant and Nyquist terms (1) and bins past n // 2 (0).
        k = np.arange(m)
        w = np.where(k > n // 2, 0.0, np.where((k == 0) | (2 * k == n), 1.0, 2.0))
        spectrum = np.fft.fft(gs[0], n=n, axis=-1)[..., :builtins.min(m, n // 2 + 1)]
        spectrum = np.pad(spectrum, [(0, 0)] * (spectrum.ndim - 1) +
                          [(0, m - spectrum.shape[-1])]) * (w / n)
        return _complex_grads(spectrum)
    return _linear_record(x, np.fft.irfft(c, n=n, axis=-1).astype(dtype), vjp)


# --------------------------------------------------------------- signals

def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of ``sequence_length`` values every ``sequence_stride`` along
    the last axis: shape (..., frames, sequence_length)."""
    n = _integer(sequence_length, "extract_sequences: sequence_length", low=1)
    step = _integer(sequence_stride, "extract_sequences: sequence_stride", low=1)
    if ops.ndim(x) < 1:
        raise ValueError("extract_sequences: expected an array of rank >= 1, got a scalar")
    width = ops.shape(x)[-1]
    frames = builtins.max((width - n) // step + 1, 0) if width >= n else 0
    index = np.arange(frames)[:, None] * step + np.arange(n)[None, :]
    if _is_traced(x):
        return x[(Ellipsis, index)]
    return _array(x)[..., index]


def _stft_window(name, window, sequence_length, fft_length, dtype):
    """The analysis window, zero-padded to ``fft_length`` in the middle
    (no window: all ``fft_length`` values of each frame, as Keras's)."""
    if window is None:
        return np.ones(fft_length, dtype)
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"{name}: a window given by name must be 'hann' or 'hamming', "
                             f"got {window!r}")
        # (periodic windows, as scipy.signal.get_window gives)
        k = np.arange(sequence_length)
        a0 = 0.5 if window == "hann" else 0.54
        win = (a0 - (1 - a0) * np.cos(2 * np.pi * k / sequence_length)).astype(dtype)
    else:
        win = np.asarray(_plain(window), dtype)
        if win.shape != (sequence_length,):
            raise ValueError(f"{name}: window must have shape ({sequence_length},), got "
                             f"{win.shape}")
    left = (fft_length - sequence_length) // 2
    return np.pad(win, (left, fft_length - sequence_length - left))


def _stft_sizes(name, sequence_length, sequence_stride, fft_length):
    n = _integer(sequence_length, f"{name}: sequence_length", low=1)
    step = _integer(sequence_stride, f"{name}: sequence_stride", low=1)
    nfft = _integer(fft_length, f"{name}: fft_length", low=1)
    if nfft < n:
        raise ValueError(f"{name}: fft_length ({nfft}) must be at least sequence_length ({n})")
    return n, step, nfft


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform along the last axis: a (real,
    imaginary) pair of shape (..., frames, fft_length // 2 + 1)."""
    dtype = np.dtype(str(x.dtype)) if _is_traced(x) else _array(x).dtype
    if dtype.kind != "f":
        raise TypeError(f"stft: x must be float32 or float64, got dtype {dtype}")
    n, step, nfft = _stft_sizes("stft", sequence_length, sequence_stride, fft_length)
    # pad, frames, window and rfft each record their gradient on a tape (the
    # transform is linear in x)
    a = x if _is_traced(x) else _array(x)
    if center:
        widths = [(0, 0)] * (ops.ndim(a) - 1) + [(nfft // 2, nfft // 2)]
        a = ops.pad(a, widths, mode="reflect")
    win = _stft_window("stft", window, n, nfft, dtype)
    frames = extract_sequences(a, nfft, step)
    frames = ops.multiply(frames, win) if _is_traced(frames) else frames * win
    return rfft(frames, fft_length=nfft)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    """The signal of a short-time Fourier transform (the inverse of stft:
    windowed overlap-add)."""
    c, dtype = _complex_pair("istft", x)
    n, step, nfft = _stft_sizes("istft", sequence_length, sequence_stride, fft_length)
    if c.ndim < 2:
        raise ValueError(f"istft: expected arrays of rank >= 2 (..., frames, bins), got "
                         f"shape {c.shape}")
    win = _stft_window("istft", window, n, nfft, dtype).astype(np.float64)
    frames = np.fft.irfft(c, n=nfft, axis=-1) * win
    count = c.shape[-2]
    total = nfft + step * (count - 1)
    signal = np.zeros(c.shape[:-2] + (total,))
    norm = np.zeros(total)
    for i in range(count):
        signal[..., i * step:i * step + nfft] += frames[..., i, :]
        norm[i * step:i * step + nfft] += win * win
    signal = np.where(norm > 1e-10, signal / np.where(norm > 1e-10, norm, 1.0), signal)
    if window is None:  # (Keras's scaling of an unwindowed transform)
        signal = signal * nfft / step
    start = nfft // 2 if center else 0
    if length is not None:
        end = start + _integer(length, "istft: length", low=0)
    else:
        end = total - nfft // 2 if center else total
    return signal[..., start:end].astype(dtype)


# -------------------------------------------------------------------- nn

def sparse_sigmoid(x):
    """0 below -1, 1 above 1, ``(x + 1) / 2`` between."""
    v = np.asarray(_plain(x))
    return ops.where(v <= -1, np.float32(0), ops.where(v >= 1, np.float32(1),
                                                       ops.multiply(ops.add(x, 1.0), 0.5)))


def sparsemax(x, axis=-1):
    """Sparse probabilities along ``axis`` by Keras 3's sparsemax formula:
    ``max(x - tau, 0)``, the threshold tau taken from the k largest values
    that pass the support test.  (Keras sums the running sums of those
    values, where Martins & Astudillo take the last, so its rows need not
    add up to 1; pynn gives Keras's values.)"""
    v = np.asarray(_plain(x), np.float32)
    if v.ndim == 0:
        raise ValueError("sparsemax: expected an array of rank >= 1, got a scalar")
    axis = int(axis) % v.ndim
    order = np.argsort(-v, axis=axis, kind="stable")
    ordered = np.take_along_axis(v, order, axis=axis)
    sums = np.cumsum(ordered, axis=axis)
    line = [1] * v.ndim
    line[axis] = -1
    r = np.arange(1, v.shape[axis] + 1, dtype=np.float32).reshape(line)
    k = np.sum(ordered - (sums - 1) / r > 0, axis=axis, keepdims=True)
    # Summing the first k running sums weighs the value of rank j (from 0)
    # by k - j: tau as that weighted sum of x carries the gradient.
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(v.shape[axis]).reshape(line) + 0 * order,
                      axis=axis)
    weight = np.maximum(k - rank, 0).astype(np.float32)
    tau = (np.sum(v * weight, axis=axis, keepdims=True) - 1) / k
    tau_x = ops.divide(ops.subtract(ops.sum(ops.multiply(x, weight), axis=axis,
                                            keepdims=True), 1.0), k.astype(np.float32))
    return ops.where(v - tau > 0, ops.subtract(x, tau_x), np.float32(0))


def cdist(x, y):
    """The Euclidean distances between the rows of x and of y (the last
    axis holds the coordinates; batch axes broadcast)."""
    if ops.ndim(x) < 2 or ops.ndim(y) < 2:
        raise ValueError(f"cdist: x and y need rank >= 2, got shapes {ops.shape(x)} and "
                         f"{ops.shape(y)}")
    if ops.shape(x)[-1] != ops.shape(y)[-1]:
        raise ValueError(f"cdist: x and y need the same last axis, got shapes {ops.shape(x)} "
                         f"and {ops.shape(y)}")
    diff = ops.subtract(ops.expand_dims(x, -2), ops.expand_dims(y, -3))
    return ops.sqrt(ops.sum(ops.square(diff), axis=-1))


def _segment_reduce(name, data, segment_ids, num_segments, fill, ufunc):
    ops._constant_input(name, data=data)
    values = _array(data)
    ids = np.asarray(_plain(segment_ids))
    if ids.dtype.kind not in "iu" or ids.shape != values.shape[:1]:
        raise ValueError(f"{name}: segment_ids must be integers, one per row of data, got "
                         f"dtype {ids.dtype} and shape {ids.shape} for data of shape "
                         f"{values.shape}")
    n = (int(ids.max()) + 1 if ids.size else 0) if num_segments is None else \
        _integer(num_segments, f"{name}: num_segments", low=0)
    out = np.full((n,) + values.shape[1:], fill, values.dtype)
    keep = (ids >= 0) & (ids < n)
    ufunc.at(out, ids[keep], values[keep])
    return out


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    """The rows of ``data`` reduced by minimum per segment (+inf, or the
    largest integer, for empty segments; negative ids dropped)."""
    dtype = _array(_plain(data)).dtype
    fill = np.inf if dtype.kind == "f" else np.iinfo(dtype).max if dtype.kind in "iu" else 1
    return _segment_reduce("segment_min", data, segment_ids, num_segments, fill, np.minimum)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    """The rows of ``data`` multiplied per segment (1 for empty segments;
    negative ids dropped)."""
    return _segment_reduce("segment_prod", data, segment_ids, num_segments, 1, np.multiply)


def _pair_arg(name, v, low):
    if isinstance(v, (int, np.integer)):
        v = (v, v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return tuple(_integer(int(d) if isinstance(d, np.integer) else d, name, low=low)
                 for d in v)


def _fold_geometry(name, size, kernel_size, dilation, padding, stride):
    k = _pair_arg(f"{name}: kernel_size", kernel_size, 1)
    d = _pair_arg(f"{name}: dilation", dilation, 1)
    p = _pair_arg(f"{name}: padding", padding, 0)
    s = _pair_arg(f"{name}: stride", stride, 1)
    blocks = tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
    if builtins.min(blocks) < 1:
        raise ValueError(f"{name}: a kernel of {k} with dilation {d} does not fit an image of "
                         f"{tuple(size)} padded by {p}")
    rows = (np.arange(k[0])[:, None] * d[0] + np.arange(blocks[0])[None, :] * s[0])
    cols = (np.arange(k[1])[:, None] * d[1] + np.arange(blocks[1])[None, :] * s[1])
    # index (kh, kw, bh, bw) -> padded pixel
    return k, p, blocks, rows[:, None, :, None], cols[None, :, None, :]


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """The sliding blocks of a channels-first batch of images (N, C, H, W)
    as columns: shape (N, C * kH * kW, blocks) (im2col)."""
    if ops.ndim(x) != 4:
        raise ValueError(f"unfold: expected images of shape (N, C, H, W), got shape "
                         f"{ops.shape(x)}")
    n, c, h, w = ops.shape(x)
    k, p, blocks, rows, cols = _fold_geometry("unfold", (h, w), kernel_size, dilation,
                                              padding, stride)
    padded = ops.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])]) if builtins.any(p) \
        else x
    patches = padded[:, :, rows, cols]           # (N, C, kH, kW, bH, bW)
    return ops.reshape(patches, (n, c * k[0] * k[1], blocks[0] * blocks[1]))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The images whose unfold is x, overlapping blocks summed (col2im):
    shape (N, C, oH, oW)."""
    if ops.ndim(x) != 3:
        raise ValueError(f"fold: expected blocks of shape (N, C * kH * kW, L), got shape "
                         f"{ops.shape(x)}")
    size = _pair_arg("fold: output_size", output_size, 1)
    k, p, blocks, rows, cols = _fold_geometry("fold", size, kernel_size, dilation, padding,
                                              stride)
    n, ckk, length = ops.shape(x)
    if ckk % (k[0] * k[1]) or length != blocks[0] * blocks[1]:
        raise ValueError(f"fold: blocks of shape {ops.shape(x)} do not fit kernel_size {k} "
                         f"and {blocks[0] * blocks[1]} blocks of output_size {size}")
    c = ckk // (k[0] * k[1])
    hp, wp = size[0] + 2 * p[0], size[1] + 2 * p[1]
    flat = np.broadcast_to(rows * wp + cols, k + blocks).reshape(-1)
    cols_x = ops.reshape(x, (n * c, k[0] * k[1] * length))
    # Each block value is added to its pixel: a segment sum over pixels.
    summed = ops.segment_sum(ops.transpose(cols_x), flat, num_segments=hp * wp)
    images = ops.reshape(ops.transpose(summed), (n, c, hp, wp))
    return images[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]


# ----------------------------------------------------------------- linalg

def cholesky_inverse(x, upper=False):
    """The inverse of the matrix whose Cholesky factor is x (lower, or
    upper with ``upper=True``): ``inv(L @ L.T)``."""
    ops._square_matrices("cholesky_inverse", x)
    eye = np.broadcast_to(np.eye(ops.shape(x)[-1], dtype=np.float32), ops.shape(x))
    inv_factor = ops.solve_triangular(x, eye, lower=not upper)
    t = ops.swapaxes(inv_factor, -1, -2)
    return ops.matmul(inv_factor, t) if upper else ops.matmul(t, inv_factor)


def eig(x):
    """The eigenvalues and right eigenvectors of square matrices (complex
    where NumPy's are)."""
    ops._square_matrices("eig", x)
    a = _values(x, "eig")
    w, v = np.linalg.eig(a)
    return w, v


def lu_factor(x):
    """The LU factorization with partial pivoting of square matrices, as
    scipy's lu_factor: ``(lu, pivots)``, L's unit diagonal left out of lu
    and pivots the row swapped with each row in turn (int32)."""
    a = _values(x, "lu_factor")
    if a.ndim < 2:
        raise ValueError(f"lu_factor: expected matrices (..., m, n), got shape {a.shape}")
    lu = np.array(a, dtype=np.result_type(a.dtype, np.float32))
    m, n = lu.shape[-2:]
    steps = builtins.min(m, n)
    pivots = np.zeros(lu.shape[:-2] + (steps,), np.int32)
    flat = lu.reshape((-1, m, n))
    piv = pivots.reshape((-1, steps))
    rows = np.arange(flat.shape[0])
    for j in range(steps):
        p = j + np.argmax(np.abs(flat[:, j:, j]), axis=1)
        piv[:, j] = p
        swap = flat[rows, p].copy()
        flat[rows, p] = flat[:, j]
        flat[:, j] = swap
        head = flat[:, j, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            factors = np.where(head[:, None] != 0, flat[:, j + 1:, j] / head[:, None], 0)
        flat[:, j + 1:, j] = factors
        flat[:, j + 1:, j + 1:] -= factors[:, :, None] * flat[:, j, None, j + 1:]
    return flat.reshape(lu.shape), piv.reshape(pivots.shape)


# -------------------------------------------------------------- functions

def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` applied over arrays elementwise (or over the core axes of
    ``signature``, such as '(n),(n)->()'), as NumPy's vectorize."""
    if not callable(pyfunc):
        raise TypeError(f"vectorize: pyfunc must be callable, got {type(pyfunc).__name__}")
    return np.vectorize(pyfunc, excluded=excluded, signature=signature)


def associative_scan(f, elems, reverse=False, axis=0):
    """The inclusive scan of ``elems`` (an array or a list/tuple/dict of
    arrays of one length along ``axis``) with the associative ``f(a, b)``:
    element i is ``f(...f(f(e0, e1), e2)..., ei)``.  Runs as a doubling
    (Hillis-Steele) scan, log2(n) vectorized calls of f, so f must accept
    slices of elems; on traced arrays the gradient flows through f."""
    if not callable(f):
        raise TypeError(f"associative_scan: f must be callable, got {type(f).__name__}")
    leaves, rebuild = _flatten_structure(elems)
    if not leaves:
        raise ValueError("associative_scan: elems is empty")
    n = ops.shape(leaves[0])[axis]
    if builtins.any(ops.shape(v)[axis] != n for v in leaves):
        raise ValueError(f"associative_scan: the arrays of elems differ in length along axis "
                         f"{axis}: {[ops.shape(v) for v in leaves]}")

    def part(v, start, stop):
        key = [builtins.slice(None)] * ops.ndim(v)
        key[axis] = builtins.slice(start, stop)
        return v[tuple(key)]

    if reverse:
        leaves = [ops.flip(v, axis=axis) for v in leaves]
    shift = 1
    while shift < n:
        head = [part(v, 0, shift) for v in leaves]
        if reverse:
            combined = f(rebuild([part(v, shift, None) for v in leaves]),
                         rebuild([part(v, 0, n - shift) for v in leaves]))
        else:
            combined = f(rebuild([part(v, 0, n - shift) for v in leaves]),
                         rebuild([part(v, shift, None) for v in leaves]))
        tail, _ = _flatten_structure(combined)
        leaves = [ops.concatenate([h, t], axis=axis) for h, t in zip(head, tail)]
        shift *= 2
    if reverse:
        leaves = [ops.flip(v, axis=axis) for v in leaves]
    return rebuild(leaves)


def _flatten_structure(elems):
    """The arrays of a nested list/tuple/dict, and the function that builds
    the same structure from such a list."""
    if isinstance(elems, (list, tuple)):
        parts = [_flatten_structure(e) for e in elems]
        sizes = [len(p[0]) for p in parts]

        def rebuild(flat):
            out, i = [], 0
            for (_, build), size in zip(parts, sizes):
                out.append(build(flat[i:i + size]))
                i += size
            return type(elems)(out)
        return [v for p in parts for v in p[0]], rebuild
    if isinstance(elems, dict):
        keys = sorted(elems)
        inner_leaves, inner = _flatten_structure([elems[k] for k in keys])
        return inner_leaves, lambda flat: dict(zip(keys, inner(flat)))
    return [elems], lambda flat: flat[0]


def custom_gradient(f):
    """A decorator for ``f(*args) -> (output, grad_fn)``: the decorated
    function returns ``output``, and the gradient reaching it (in a custom
    layer being trained or a GradientTape) goes back to ``args`` as
    ``grad_fn(upstream)`` says: one gradient per argument (a tuple), or the
    one gradient of a function of one argument.  ``grad_fn`` may take
    ``upstream`` positionally or as the keyword of ``def grad(*args,
    upstream)``, as Keras's backends do; an ``output`` of several tensors
    gives ``grad_fn`` one upstream gradient per tensor when it takes that
    many arguments (TensorFlow's ``grad_fn(*grad_ys)``), else their
    structure.

    As TensorFlow's ``tf.custom_gradient``: when ``f`` reads trainable
    variables that the tape watches (not passed as arguments), ``grad_fn``
    must take ``variables=None``; it is given those variables and returns
    ``(gradients of the arguments, [one gradient per variable])``."""
    if not callable(f):
        raise TypeError(f"custom_gradient: f must be callable, got {type(f).__name__}")

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from . import autodiff
        resolved = [autodiff.resolve(a) for a in args]
        tape = autodiff._tape_of(*resolved) or autodiff.active_tape()
        if tape is None:
            return _custom_output(f(*args, **kwargs), f)[0]
        reads = _variable_reads_class()()
        with autodiff._Recording(reads, []):
            output, grad_fn = _custom_output(f(*(autodiff.value_of(a) for a in resolved),
                                               **kwargs), f)
        outputs, rebuild = _flatten_structure(output)
        values = [np.asarray(autodiff.value_of(v), np.float32) for v in outputs]
        variables, leaves = [], []
        for w in reads.read.values():
            leaf = tape.watch(w)
            if type(leaf) is autodiff.Traced:
                variables.append(w)
                leaves.append(leaf)
        name = getattr(f, "__name__", "custom_gradient")
        # (as TensorFlow: grad_fn is given variables only when f read some)
        wants_variables = bool(variables)
        if variables and not _takes_keyword(grad_fn, "variables"):
            raise TypeError(f"custom_gradient: {name} reads the variable(s) "
                            f"{[w.path for w in variables]}, so its grad_fn must accept a "
                            f"keyword argument 'variables' and return (input gradients, "
                            f"variable gradients)")
        if not variables and not any(type(a) is autodiff.Traced for a in resolved):
            return output  # nothing recorded reaches it: a constant
        by_keyword = _upstream_keyword(grad_fn)
        unpack = len(outputs) > 1 and not by_keyword and \
            _positional_capacity(grad_fn) >= len(outputs)

        def vjp(g):
            gs = [g] if len(outputs) == 1 else list(g)
            extra = {"variables": list(variables)} if wants_variables else {}
            with autodiff.untraced():
                if by_keyword:
                    grads = grad_fn(upstream=gs[0] if len(gs) == 1 else rebuild(gs), **extra)
                elif unpack or len(gs) == 1:
                    grads = grad_fn(*gs, **extra)
                else:
                    grads = grad_fn(rebuild(gs), **extra)
            if wants_variables:
                if not isinstance(grads, (list, tuple)) or len(grads) != 2:
                    raise ValueError(f"custom_gradient: the gradient function of {name} takes "
                                     f"variables, so it must return (input gradients, "
                                     f"variable gradients)")
                grads, var_grads = grads
                var_grads = list(var_grads or [])
                if len(var_grads) != len(variables):
                    raise ValueError(f"custom_gradient: the gradient function of {name} "
                                     f"returned {len(var_grads)} variable gradients for "
                                     f"{len(variables)} variables")
            else:
                var_grads = []
            grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
            if len(grads) != len(resolved):
                raise ValueError(f"custom_gradient: the gradient function of {name} returned "
                                 f"{len(grads)} gradients for {len(resolved)} arguments")
            out = []
            for a, gr in zip(resolved + leaves, grads + var_grads):
                if gr is None or type(a) is not autodiff.Traced:
                    out.append(None)
                    continue
                gr = np.asarray(autodiff.value_of(gr), np.float32)
                if gr.shape != a.value.shape:
                    gr = ops.reduce_to_shape(np.broadcast_to(gr, np.broadcast_shapes(
                        gr.shape, a.value.shape)).copy(), a.value.shape)
                out.append(autodiff._contiguous(gr))
            return out
        parents = tuple(resolved + leaves)
        if len(values) == 1:
            return tape.record(values[0], parents, vjp)
        return rebuild(tape.record_several(values, parents, vjp))
    return wrapper


@functools.cache
def _variable_reads_class():
    """A tape that stands for the real one while a custom_gradient
    function runs: the function computes with the values of the variables
    it reads (nothing is recorded), and the tape notes which it read.
    (Made on first use: pynn.autodiff imports this module.)"""
    from . import autodiff

    class VariableReads(autodiff.Tape):
        converts_to_numpy = True

        def __init__(self):
            super().__init__("a custom_gradient function")
            self.read = {}

        def watch(self, weight):
            self.read.setdefault(id(weight), weight)
            return weight.value
    return VariableReads


def _takes_keyword(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get(name)
    return p is not None and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) or \
        any(q.kind is q.VAR_KEYWORD for q in params.values())


def _positional_capacity(fn):
    """How many positional arguments ``fn`` takes (a large number with
    ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 1 << 30
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "variables"
               for p in params)


def jvp(fun, primals, tangents, has_aux=False):
    """The forward-mode product of ``fun`` at ``primals`` (a tuple or list
    of its positional arguments) with ``tangents`` (one per argument, of
    its shape): ``(outputs, J @ tangents)``, and ``fun``'s auxiliary value
    third with ``has_aux`` (``fun`` then returns ``(outputs, aux)``), as
    Keras 3's ops.jvp.

    Built from two reverse passes: the gradient of ``<fun(x), u>`` with
    respect to x is ``J^T u``, linear in u; the gradient of
    ``<J^T u, tangents>`` with respect to u is ``J tangents``."""
    from . import tree
    from .tape import GradientTape, Variable
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"jvp: primals and tangents must be tuples or lists of the function's "
                        f"arguments, got {type(primals).__name__} and "
                        f"{type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    flat_primals, flat_tangents = tree.flatten(list(primals)), tree.flatten(list(tangents))
    if len(flat_primals) != len(flat_tangents):
        raise ValueError("jvp: primals and tangents must have the same structure")
    xs = [Variable(np.asarray(_plain(p), np.float32)) for p in flat_primals]
    vs = []
    for p, t in zip(xs, flat_tangents):
        t = np.asarray(_plain(t), np.float32)
        if t.shape != p.value.shape:
            raise ValueError(f"jvp: a tangent of shape {t.shape} for a primal of shape "
                             f"{p.value.shape}")
        vs.append(t)
    args = tree.pack_sequence_as(list(primals), xs)
    with GradientTape(persistent=True) as outer:
        with GradientTape() as inner:
            for x in xs:
                inner.watch(x)
            result = fun(*args)
            if has_aux:
                if not isinstance(result, (tuple, list)) or len(result) != 2:
                    raise TypeError("jvp: with has_aux=True, fun must return (outputs, aux)")
                result, aux = result
            outputs = tree.flatten(result)
            # the cotangents u, one per output, watched by the outer tape
            us = [Variable(np.zeros(np.shape(_plain_value(y)), np.float32)) for y in outputs]
            for u in us:
                outer.watch(u)
            total = None
            for y, u in zip(outputs, us):
                term = ops.sum(ops.multiply(y, u))
                total = term if total is None else ops.add(total, term)
        grads = inner.gradient(total, xs)
        total = None
        for g, v in zip(grads, vs):
            if g is not None:
                term = ops.sum(ops.multiply(g, v))
                total = term if total is None else ops.add(total, term)
    if total is None:
        products = [np.zeros(u.value.shape, np.float32) for u in us]
    else:
        products = [np.zeros(u.value.shape, np.float32) if g is None else
                    np.asarray(_plain_value(g), np.float32)
                    for u, g in zip(us, outer.gradient(total, us))]
    values = tree.pack_sequence_as(result, [np.asarray(_plain_value(y)) for y in outputs])
    out = (values, tree.pack_sequence_as(result, products))
    if has_aux:
        aux = tree.map_structure(lambda a: np.asarray(_plain_value(a)), aux)
        return out + (aux,)
    return out


def _plain_value(x):
    """An operand's value as an array (a traced value's, after its tape)."""
    from . import autodiff
    return _plain(autodiff.value_of(x))


def _custom_output(result, f):
    if not isinstance(result, (tuple, list)) or len(result) != 2 or not callable(result[1]):
        raise TypeError(f"custom_gradient: {getattr(f, '__name__', 'f')} must return "
                        f"(output, grad_fn), got {type(result).__name__}")
    return result


def _upstream_keyword(grad_fn):
    """Whether ``grad_fn`` wants ``upstream`` as a keyword: a keyword-only
    parameter, or ``def grad(*args, upstream=None)``."""
    try:
        params = inspect.signature(grad_fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("upstream")
    return p is not None and p.kind is p.KEYWORD_ONLY


def rearrange(tensor, pattern, **axes_lengths):
    """Axes reordered, split and merged by an einops pattern, such as
    'b h w c -> b (h w) c' or 'b (h p) c -> b h p c' with ``p=2``."""
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise ValueError(f"rearrange: pattern must be 'inputs -> outputs', got {pattern!r}")
    left, right = (_einops_groups(side, pattern) for side in pattern.split("->"))
    in_shape = ops.shape(tensor)
    if len(left) != len(in_shape):
        raise ValueError(f"rearrange: pattern {pattern!r} names {len(left)} axes, the input "
                         f"has shape {in_shape}")
    names_in = [a for g in left for a in g]
    names_out = [a for g in right for a in g]
    if sorted(names_in) != sorted(names_out) or len(set(names_in)) != len(names_in):
        raise ValueError(f"rearrange: pattern {pattern!r} must name each axis once on each "
                         f"side")
    sizes = {}
    for group, dim in zip(left, in_shape):
        unknown = [a for a in group if a not in axes_lengths]
        known = int(np.prod([axes_lengths[a] for a in group if a in axes_lengths]))
        if len(unknown) > 1:
            raise ValueError(f"rearrange: give the lengths of all but one of {group} "
                             f"(pattern {pattern!r})")
        if unknown:
            if known == 0 or dim % known:
                raise ValueError(f"rearrange: axis of {dim} cannot split into {group} with "
                                 f"{axes_lengths}")
            sizes[unknown[0]] = dim // known
        elif known != dim:
            raise ValueError(f"rearrange: axis of {dim} is not {group} = {known}")
        sizes.update({a: int(axes_lengths[a]) for a in group if a in axes_lengths})
    split = ops.reshape(tensor, tuple(sizes[a] for a in names_in))
    moved = ops.transpose(split, tuple(names_in.index(a) for a in names_out))
    return ops.reshape(moved, tuple(int(np.prod([sizes[a] for a in g])) for g in right))


def _einops_groups(side, pattern):
    tokens = re.findall(r"\(|\)|[A-Za-z_][A-Za-z0-9_]*|\S", side)
    groups, current = [], None
    for t in tokens:
        if t == "(":
            if current is not None:
                raise ValueError(f"rearrange: nested parentheses in {pattern!r}")
            current = []
        elif t == ")":
            if current is None:
                raise ValueError(f"rearrange: unbalanced parentheses in {pattern!r}")
            groups.append(current)
            current = None
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t):
            (groups if current is None else current).append([t] if current is None else t)
        else:
            raise ValueError(f"rearrange: unexpected {t!r} in pattern {pattern!r}")
    if current is not None:
        raise ValueError(f"rearrange: unbalanced parentheses in {pattern!r}")
    return groups


# ------------------------------------------------------------------ images
#
# Keras 3's ops.image functions beside resize: one image (rank 3) or a
# batch (rank 4), channels last unless data_format says channels_first.

def _rank(x):
    """The rank as a number, of a symbolic tensor too (ops.ndim records an
    op there, as Keras's does)."""
    return len(ops.shape(x))


def _nhwc(name, images, data_format):
    """``images`` as an NHWC batch, and the function that gives a result
    of that layout back in the caller's (rank and channel order)."""
    rank = _rank(images)
    if rank not in (3, 4):
        raise ValueError(f"{name}: expected one image (rank 3) or a batch (rank 4), got shape "
                         f"{ops.shape(images)}")
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{name}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    first = data_format == "channels_first"
    x = images if rank == 4 else ops.expand_dims(images, 0)
    if first:
        x = ops.transpose(x, (0, 2, 3, 1))

    def back(y):
        if first:
            y = ops.transpose(y, (0, 3, 1, 2) + tuple(range(4, _rank(y))))
        return y if rank == 4 else ops.squeeze(y, 0)
    return x, back


def rgb_to_grayscale(images, data_format=None):
    """The luma of RGB images (one channel), with TensorFlow's weights."""
    x, back = _nhwc("rgb_to_grayscale", images, data_format)
    channels = ops.shape(x)[-1]
    if channels not in (1, 3):
        raise ValueError(f"rgb_to_grayscale: expected 3 (RGB) or 1 channels, got shape "
                         f"{ops.shape(images)}")
    if channels == 1:
        return images
    if not _is_traced(x) and _array(x).dtype.kind != "f":
        a = _array(x)
        gray = np.tensordot(a.astype(np.float32), np.array([0.2989, 0.5870, 0.1140],
                                                           np.float32), axes=(-1, -1))
        return back(gray[..., None].astype(a.dtype))
    weights = np.array([[0.2989], [0.5870], [0.1140]], np.float32)
    return back(ops.matmul(x, weights))


def _float_images(name, images):
    if not _is_traced(images) and _array(images).dtype.kind != "f":
        raise ValueError(f"{name}: expected float images, got dtype {_array(images).dtype}")


def rgb_to_hsv(images, data_format=None):
    """RGB images (values in [0, 1]) as hue, saturation and value, each in
    [0, 1]."""
    _float_images("rgb_to_hsv", images)
    x, back = _nhwc("rgb_to_hsv", images, data_format)
    if ops.shape(x)[-1] != 3:
        raise ValueError(f"rgb_to_hsv: expected 3 channels, got shape {ops.shape(images)}")
    v = np.asarray(_plain(x))
    eps = np.finfo(np.float32).eps
    x = ops.where(np.abs(v) < eps, np.float32(0), x)
    v = np.where(np.abs(v) < eps, 0, v)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rv, gv, bv = v[..., 0], v[..., 1], v[..., 2]
    value = ops.maximum(ops.maximum(r, g), b)
    top = np.maximum(np.maximum(rv, gv), bv)
    span = ops.subtract(value, ops.minimum(ops.minimum(r, g), b))
    span_v = top - np.minimum(np.minimum(rv, gv), bv)
    safe_value = ops.where(top > 0, value, np.float32(1))
    safe_span = ops.where(span_v > 0, span, np.float32(1))
    saturation = ops.where(top > 0, ops.divide(span, safe_value), np.float32(0))
    norm = ops.divide(1.0, ops.multiply(safe_span, 6.0))
    hue = ops.where(top == gv, ops.add(ops.multiply(norm, ops.subtract(b, r)), 2.0 / 6.0),
                    ops.add(ops.multiply(norm, ops.subtract(r, g)), 4.0 / 6.0))
    hue = ops.where(top == rv, ops.multiply(norm, ops.subtract(g, b)), hue)
    hue = ops.where(span_v > 0, hue, np.float32(0))
    hue = ops.add(hue, (np.asarray(_plain(hue)) < 0).astype(np.float32))
    return back(ops.stack([hue, saturation, value], axis=-1))


def hsv_to_rgb(images, data_format=None):
    """Hue, saturation and value images (each in [0, 1]) as RGB."""
    _float_images("hsv_to_rgb", images)
    x, back = _nhwc("hsv_to_rgb", images, data_format)
    if ops.shape(x)[-1] != 3:
        raise ValueError(f"hsv_to_rgb: expected 3 channels, got shape {ops.shape(images)}")
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    dh = ops.multiply(ops.mod(h, 1.0), 6.0)
    dr = ops.clip(ops.subtract(ops.abs(ops.subtract(dh, 3.0)), 1.0), 0.0, 1.0)
    dg = ops.clip(ops.subtract(2.0, ops.abs(ops.subtract(dh, 2.0))), 0.0, 1.0)
    db = ops.clip(ops.subtract(2.0, ops.abs(ops.subtract(dh, 4.0))), 0.0, 1.0)
    one_minus_s = ops.subtract(1.0, s)
    planes = [ops.multiply(v, ops.add(one_minus_s, ops.multiply(s, d))) for d in (dr, dg, db)]
    return back(ops.stack(planes, axis=-1))


def _sides(name, first, second, target, size, what):
    """(first, kept or padded size) from two of (first, second, target)."""
    if [first, second, target].count(None) != 1:
        raise ValueError(f"{name}: give exactly two of top/bottom (left/right) {what} and the "
                         f"target size, got {first}, {second} and {target}")
    for v, label in ((first, "first"), (second, "second"), (target, "target")):
        if v is not None and _integer(v, f"{name}: {what}", low=0) < 0:
            raise ValueError(f"{name}: {label} {what} must be >= 0")
    return first, second, target


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    """Images padded with zeros: two of (top, bottom, target_height) and
    two of (left, right, target_width) say how."""
    x, back = _nhwc("pad_images", images, data_format)
    h, w = ops.shape(x)[1:3]
    top, bottom, th = _sides("pad_images", top_padding, bottom_padding, target_height, h,
                             "padding")
    left, right, tw = _sides("pad_images", left_padding, right_padding, target_width, w,
                             "padding")
    top = th - bottom - h if top is None else top
    bottom = th - top - h if bottom is None else bottom
    left = tw - right - w if left is None else left
    right = tw - left - w if right is None else right
    if builtins.min(top, bottom, left, right) < 0:
        raise ValueError(f"pad_images: images of {h}x{w} do not fit target size "
                         f"{th}x{tw} with those paddings")
    return back(ops.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)]))


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    """Images cropped: two of (top, bottom, target_height) and two of
    (left, right, target_width) say how."""
    x, back = _nhwc("crop_images", images, data_format)
    h, w = ops.shape(x)[1:3]
    top, bottom, th = _sides("crop_images", top_cropping, bottom_cropping, target_height, h,
                             "cropping")
    left, right, tw = _sides("crop_images", left_cropping, right_cropping, target_width, w,
                             "cropping")
    top = h - th - bottom if top is None else top
    th = h - bottom - top if th is None else th
    left = w - tw - right if left is None else left
    tw = w - right - left if tw is None else tw
    if builtins.min(top, left, th, tw) < 0 or top + th > h or left + tw > w:
        raise ValueError(f"crop_images: images of {h}x{w} cannot be cropped to {th}x{tw} from "
                         f"({top}, {left})")
    return back(x[:, top:top + th, left:left + tw, :])


def extract_patches(images=None, size=None, strides=None, dilation_rate=1, padding="valid",
                    data_format=None, *, image=None):
    """The ``size`` patches of images, each flattened into the channels:
    shape (batch, rows, cols, size_h * size_w * channels).  ``image=`` is
    the images' name in Keras 3's first releases."""
    if images is None:
        images = image
    if images is None or size is None:
        raise TypeError("extract_patches: give the images and the patch size")
    if not isinstance(size, int) and len(size) == 3:
        raise ValueError("extract_patches: 3-D patches (extract_patches_3d) are not supported")
    ph, pw = (size, size) if isinstance(size, int) else tuple(size)
    x, back = _nhwc("extract_patches", images, data_format)
    c = ops.shape(x)[-1]
    kernel = np.eye(ph * pw * c, dtype=np.float32).reshape(ph, pw, c, ph * pw * c)
    return back(ops.conv(x, kernel, strides=strides or (ph, pw), padding=padding,
                         dilation_rate=dilation_rate))


def _gaussian_1d(size, sigma):
    x = np.arange(size, dtype=np.float32) - (size - 1) / 2
    k = np.exp(-0.5 * (x / np.float32(sigma)) ** 2)
    return k / k.sum()


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Images blurred by a Gaussian kernel (zero padding, same size)."""
    x, back = _nhwc("gaussian_blur", images, data_format)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (sigma, sigma) if np.ndim(sigma) == 0 else sigma
    kh = _integer(int(kh), "gaussian_blur: kernel_size", low=1)
    kw = _integer(int(kw), "gaussian_blur: kernel_size", low=1)
    if float(sh) <= 0 or float(sw) <= 0:
        raise ValueError(f"gaussian_blur: sigma must be > 0, got {sigma!r}")
    # (Keras pairs the first size and sigma with the columns)
    kernel = np.outer(_gaussian_1d(kw, sw), _gaussian_1d(kh, sh))
    c = ops.shape(x)[-1]
    top, left = (kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2
    padded = ops.pad(x, [(0, 0), (top, kernel.shape[0] - 1 - top),
                         (left, kernel.shape[1] - 1 - left), (0, 0)])
    # (convolve2d flips the kernel; a Gaussian is symmetric)
    depthwise = np.broadcast_to(kernel[:, :, None, None], kernel.shape + (c, 1)).copy()
    out = back(ops.depthwise_conv(padded, depthwise))
    if not _is_traced(images) and _array(images).dtype.kind != "f":
        return np.asarray(out).astype(_array(images).dtype)
    return out


def sobel_edges(images, data_format=None):
    """The Sobel gradients of images, (vertical, horizontal) in a last axis
    of 2, with SciPy's reflected borders."""
    if _rank(images) != 4:
        raise ValueError(f"sobel_edges: expected a batch of images (rank 4), got shape "
                         f"{ops.shape(images)}")
    x, back = _nhwc("sobel_edges", images, data_format)
    c = ops.shape(x)[-1]
    padded = _reflect_pad(x)
    smooth = np.array([1.0, 2.0, 1.0], np.float32)
    diff = np.array([-1.0, 0.0, 1.0], np.float32)
    out = []
    for kernel in (np.outer(diff, smooth), np.outer(smooth, diff)):
        k = np.broadcast_to(kernel[:, :, None, None], (3, 3, c, 1)).copy()
        out.append(ops.depthwise_conv(padded, k))
    return back(ops.stack(out, axis=-1))


def _reflect_pad(x):
    """x with one row and column repeated at each border (SciPy's
    'reflect')."""
    x = ops.concatenate([x[:, :1], x, x[:, -1:]], axis=1)
    return ops.concatenate([x[:, :, :1], x, x[:, :, -1:]], axis=2)


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """The structural similarity of two images (or batches: one value per
    image), with a Gaussian window and no padding, as Keras 3's."""
    if ops.shape(image1) != ops.shape(image2):
        raise ValueError(f"ssim: image1 and image2 need the same shape, got "
                         f"{ops.shape(image1)} and {ops.shape(image2)}")
    a, back = _nhwc("ssim", image1, data_format)
    b, _ = _nhwc("ssim", image2, data_format)
    n, h, w, c = ops.shape(a)
    size = _integer(filter_size, "ssim: filter_size", low=1)
    if size > builtins.min(h, w):
        raise ValueError(f"ssim: filter_size {size} is larger than the images ({h}x{w})")
    g = _gaussian_1d(size, filter_sigma)
    kernel = np.broadcast_to(np.outer(g, g)[:, :, None, None], (size, size, c, 1)).copy()

    def blur(v):
        return ops.depthwise_conv(v, kernel)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = blur(a), blur(b)
    mu11, mu22, mu12 = ops.square(mu1), ops.square(mu2), ops.multiply(mu1, mu2)
    s11 = ops.subtract(blur(ops.square(a)), mu11)
    s22 = ops.subtract(blur(ops.square(b)), mu22)
    s12 = ops.subtract(blur(ops.multiply(a, b)), mu12)
    num = ops.multiply(ops.add(ops.multiply(mu12, 2.0), c1), ops.add(ops.multiply(s12, 2.0), c2))
    den = ops.multiply(ops.add(ops.add(mu11, mu22), c1), ops.add(ops.add(s11, s22), c2))
    per_image = ops.mean(ops.divide(num, den), axis=(1, 2, 3))
    return per_image if _rank(image1) == 4 else ops.squeeze(per_image, 0)


_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def _fold_index(i, size, mode):
    """Integer indices ``i`` outside [0, size) mapped in by ``mode`` (the
    inside mask for 'constant')."""
    if mode == "nearest":
        return np.clip(i, 0, size - 1)
    if mode == "wrap":
        return np.mod(i, size)
    if mode == "reflect":                       # ... 1 0 | 0 1 ... (edge repeated)
        j = np.mod(i, 2 * size)
        return np.where(j >= size, 2 * size - 1 - j, j)
    if mode == "mirror":                        # ... 2 1 | 0 1 ... (edge once)
        if size == 1:
            return np.zeros_like(i)
        j = np.mod(i, 2 * size - 2)
        return np.where(j >= size, 2 * size - 2 - j, j)
    return np.clip(i, 0, size - 1)


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    """The ``size`` (depth, height, width) patches of volumes (rank 5, or 4
    for one volume), each flattened into the channels in (depth, height,
    width, channel) order: shape (batch, d, h, w, pd * ph * pw * channels),
    as Keras 3's (a convolution with an identity kernel)."""
    if isinstance(size, int):
        size = (size,) * 3
    elif len(size) != 3:
        raise TypeError(f"Invalid `size` argument. Expected an int or a tuple of length 3. "
                        f"Received: size={size}")
    strides = size if strides is None else strides
    strides = (strides,) * 3 if isinstance(strides, int) else tuple(strides)
    if len(strides) != 3:
        raise ValueError(f"Invalid `strides` argument. Got: {strides}")
    dilation = (dilation_rate,) * 3 if isinstance(dilation_rate, int) else tuple(dilation_rate)
    if padding not in ("valid", "same"):
        raise ValueError(f"extract_patches_3d: padding must be 'valid' or 'same', got "
                         f"{padding!r}")
    a = _values(volumes, "extract_patches_3d")
    if a.ndim not in (4, 5):
        raise ValueError(f"extract_patches_3d: expected one volume (rank 4) or a batch (rank "
                         f"5), got shape {a.shape}")
    one = a.ndim == 4
    x = a[None] if one else a
    first = data_format == "channels_first"
    if first:
        x = np.moveaxis(x, 1, -1)
    spans = [(k - 1) * d + 1 for k, d in zip(size, dilation)]
    pads = [(0, 0)]
    for n, span, step in zip(x.shape[1:4], spans, strides):
        if padding == "same":
            total = builtins.max((-(-n // step) - 1) * step + span - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            pads.append((0, 0))
    x = np.pad(x, pads + [(0, 0)])
    counts = [(n - span) // step + 1 for n, span, step in zip(x.shape[1:4], spans, strides)]
    if builtins.min(counts) < 1:
        raise ValueError(f"extract_patches_3d: patches of {tuple(size)} do not fit volumes of "
                         f"shape {a.shape}")
    pieces = []
    for i in range(size[0]):
        for j in range(size[1]):
            for k in range(size[2]):
                d0, h0, w0 = i * dilation[0], j * dilation[1], k * dilation[2]
                pieces.append(x[:, d0:d0 + (counts[0] - 1) * strides[0] + 1:strides[0],
                                h0:h0 + (counts[1] - 1) * strides[1] + 1:strides[1],
                                w0:w0 + (counts[2] - 1) * strides[2] + 1:strides[2], :])
    out = np.concatenate(pieces, axis=-1)
    if first:
        out = np.moveaxis(out, -1, 1)
    return out[0] if one else out


def _triangle(x):
    return np.maximum(0, 1 - np.abs(x))


def _keys_cubic(x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius):
    def kernel(x):
        y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
        out = np.where(x > 1e-3, np.divide(y, np.where(x != 0, np.pi ** 2 * x ** 2, 1)), 1)
        return np.where(x > radius, 0.0, out)
    return kernel


_SCALE_KERNELS = {"linear": _triangle, "bilinear": _triangle, "trilinear": _triangle,
                  "triangle": _triangle, "cubic": _keys_cubic, "bicubic": _keys_cubic,
                  "tricubic": _keys_cubic, "lanczos3": _lanczos(3.0),
                  "lanczos5": _lanczos(5.0)}


def _gaussian_kernel(x):
    # TensorFlow's: radius 1.5, sigma = radius / 3
    return np.where(x >= 1.5, 0.0, np.exp(-x * x / (2 * 0.5 ** 2)))


def _mitchell_cubic(x):
    # TensorFlow's Mitchell-Netravali cubic (B = C = 1/3), radius 2
    near = (((7.0 / 6.0) * x - 2.0) * x) * x + 8.0 / 9.0
    far = (((-7.0 / 18.0) * x + 2.0) * x - 10.0 / 3.0) * x + 16.0 / 9.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, far, near))


# tf.image.resize's kernels beyond Keras 3's (not for scale_and_translate,
# whose methods are Keras's)
_TF_RESIZE_KERNELS = {"gaussian": _gaussian_kernel, "mitchellcubic": _mitchell_cubic}


def _area_weights(size_in, size_out):
    """(size_in, size_out) weights of TensorFlow's 'area' resize (its
    ResizeArea without align_corners): output sample y averages the input
    span [y, y + 1) * size_in / size_out, each input cell weighted by how
    much of it the span covers (float32 positions, as TensorFlow's)."""
    scale = np.float32(size_in) / np.float32(size_out)
    start = np.arange(size_out, dtype=np.float32) * scale
    end = np.arange(1, size_out + 1, dtype=np.float32) * scale
    cell = np.arange(size_in, dtype=np.float32)[:, None]
    covered = np.minimum(cell + 1, end) - np.maximum(cell, start)
    # (a span inside one cell counts the whole scale, as TensorFlow's)
    covered = np.where((cell < start) & (cell + 1 > end), scale, covered)
    return np.maximum(covered, 0).astype(np.float64) / np.float64(scale)


def _resample_weights(size_in, size_out, scale, translation, kernel, antialias):
    """(size_in, size_out) weights: output sample i reads input position
    ``(i + 0.5 - translation) / scale - 0.5``, the kernel widened by 1 /
    scale when shrinking with ``antialias``, each column normalized, and
    zero for samples outside the input."""
    dtype = np.result_type(scale, translation)
    inv = 1.0 / scale
    width = np.maximum(inv, 1.0) if antialias else 1.0
    at = (np.arange(size_out, dtype=dtype) + 0.5) * inv - translation * inv - 0.5
    w = kernel(np.abs(at[None, :] - np.arange(size_in, dtype=dtype)[:, None]) / width)
    total = np.sum(w, axis=0, keepdims=True)
    w = np.where(np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
                 w / np.where(total != 0, total, 1), 0)
    return np.where(((at >= -0.5) & (at <= size_in - 0.5))[None, :], w, 0)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """``images`` resampled along ``spatial_dims`` to ``output_shape``,
    scaled by ``scale`` and shifted by ``translation`` (one per spatial
    axis) with the ``method`` kernel, as jax.image.scale_and_translate and
    Keras 3's ops.image.scale_and_translate."""
    if method not in _SCALE_KERNELS or method == "triangle":
        raise ValueError(f"Invalid value for argument `method`. Expected of one "
                         f"{sorted(set(_SCALE_KERNELS) - {'triangle'})}. Received: "
                         f"method={method}")
    x = _values(images, "scale_and_translate")
    scale = np.asarray(_plain(scale))
    translation = np.asarray(_plain(translation))
    dtype = np.result_type(scale.dtype, translation.dtype)
    scale, translation = scale.astype(dtype), translation.astype(dtype)
    if len(output_shape) != x.ndim:
        raise ValueError(f"scale_and_translate: output_shape {tuple(output_shape)} must have "
                         f"one size per axis of images of shape {x.shape}")
    integer = np.issubdtype(x.dtype, np.integer)
    out = x.astype(np.float32) if integer else x.copy()
    for i, d in enumerate(spatial_dims):
        d = d % x.ndim
        w = _resample_weights(x.shape[d], output_shape[d], scale[i], translation[i],
                              _SCALE_KERNELS[method], antialias).astype(out.dtype)
        out = np.moveaxis(np.tensordot(out, w, axes=(d, 0)), -1, d)
    if integer:
        out = np.clip(np.round(out), x.min(), x.max()).astype(x.dtype)
    return out


_INTERPOLATION_ORDER = {"nearest": 0, "bilinear": 1}


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    """Images warped by a random smooth displacement field: normal noise
    per pixel and axis, blurred by a Gaussian of ``sigma`` and scaled by
    ``alpha``, read back by ``interpolation`` (Keras 3's; an int ``seed``
    draws the same field as Keras's NumPy backend)."""
    if interpolation not in _INTERPOLATION_ORDER:
        raise ValueError(f"Invalid value for argument `interpolation`. Expected of one "
                         f"{set(_INTERPOLATION_ORDER)}. Received: interpolation={interpolation}")
    if fill_mode not in ("constant", "nearest", "wrap", "mirror", "reflect"):
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected of one "
                         f"('constant', 'nearest', 'wrap', 'mirror', 'reflect'). Received: "
                         f"fill_mode={fill_mode}")
    a = _values(images, "elastic_transform")
    if a.ndim not in (3, 4):
        raise ValueError(f"Invalid images rank: expected rank 3 (single image) or rank 4 "
                         f"(batch of images). Received input with shape: images.shape={a.shape}")
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float32)
    alpha, sigma = dtype.type(alpha), dtype.type(sigma)
    size = int(6 * sigma) | 1
    x = a[None] if a.ndim == 3 else a
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    batch, height, width, channels = x.shape
    if seed is None:
        from .utils import seeding
        seed = int(seeding.rng().integers(2 ** 32))
    # (Keras's NumPy backend draws from a generator seeded by [seed, 0])
    gen = np.random.default_rng(np.array([int(seed) & 0xFFFFFFFF, 0], np.uint32))
    dx = gen.normal(size=(batch, height, width)).astype(dtype) * sigma
    dy = gen.normal(size=(batch, height, width)).astype(dtype) * sigma
    dx = np.asarray(gaussian_blur(dx[..., None], (size, size), (sigma, sigma)))[..., 0]
    dy = np.asarray(gaussian_blur(dy[..., None], (size, size), (sigma, sigma)))[..., 0]
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    read_x, read_y = cols[None] + alpha * dx, rows[None] + alpha * dy
    out = np.zeros_like(x)
    order = _INTERPOLATION_ORDER[interpolation]
    for b in range(batch):
        for c in range(channels):
            out[b, ..., c] = map_coordinates(x[b, ..., c].astype(dtype), [read_y[b], read_x[b]],
                                             order, fill_mode, fill_value)
    if data_format == "channels_first":
        out = np.moveaxis(out, -1, 1)
    return out[0] if a.ndim == 3 else out


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """The values of ``inputs`` at the (fractional) ``coordinates`` (one
    array per axis of inputs), by nearest (order 0) or linear (order 1)
    interpolation, points outside filled by ``fill_mode``."""
    a = _values(inputs, "map_coordinates")
    coords = [np.asarray(_plain(c), np.float64) for c in coordinates]
    if len(coords) != a.ndim:
        raise ValueError(f"map_coordinates: {len(coords)} coordinate arrays for inputs of rank "
                         f"{a.ndim}; give one per axis")
    if coords and np.ndim(coords[0]) < 1:
        raise ValueError("map_coordinates: coordinates must have rank >= 2 (axes first)")
    if order not in (0, 1):
        raise ValueError(f"map_coordinates: order must be 0 or 1, got {order!r}")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"map_coordinates: fill_mode must be one of {_FILL_MODES}, got "
                         f"{fill_mode!r}")
    values = a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.float64)
    if order == 0:
        corners = [[(np.floor(c + 0.5).astype(np.int64), 1.0)] for c in coords]
    else:
        corners = []
        for c in coords:
            low = np.floor(c)
            frac = c - low
            corners.append([(low.astype(np.int64), 1.0 - frac), (low.astype(np.int64) + 1,
                                                                   frac)])
    out = 0.0
    for choice in np.ndindex(*(len(cs) for cs in corners)):
        weight = 1.0
        index = []
        inside = True
        for axis, k in enumerate(choice):
            i, w = corners[axis][k]
            size = a.shape[axis]
            index.append(_fold_index(i, size, fill_mode))
            if fill_mode == "constant":
                inside = inside & (i >= 0) & (i < size)
            weight = weight * w
        picked = values[tuple(index)]
        if fill_mode == "constant":
            picked = np.where(inside, picked, fill_value)
        out = out + weight * picked
    return np.asarray(out).astype(a.dtype)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Images resampled through projective transforms ``[a0, a1, a2, b0,
    b1, b2, c0, c1]`` (one, or one per image): output pixel (x, y) reads
    the input at ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)`` with
    ``k = c0 x + c1 y + 1``, as Keras 3's (and TensorFlow's)."""
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"affine_transform: interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"affine_transform: fill_mode must be one of {_FILL_MODES}, got "
                         f"{fill_mode!r}")
    x, back = _nhwc("affine_transform", _values(images, "affine_transform"), data_format)
    x = np.asarray(x)
    t = np.asarray(_plain(transform), np.float64)
    if t.ndim not in (1, 2) or t.shape[-1] != 8:
        raise ValueError(f"affine_transform: transform must have shape (8,) or (batch, 8), got "
                         f"{t.shape}")
    n, h, w, c = x.shape
    t = np.broadcast_to(t.reshape(-1, 8), (n, 8))
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.empty(x.shape, x.dtype)
    for i in range(n):
        a0, a1, a2, b0, b1, b2, c0, c1 = t[i]
        k = c0 * cols + c1 * rows + 1.0
        src_x = (a0 * cols + a1 * rows + a2) / k
        src_y = (b0 * cols + b1 * rows + b2) / k
        coords = [np.broadcast_to(src_y[..., None], (h, w, c)),
                  np.broadcast_to(src_x[..., None], (h, w, c)),
                  np.broadcast_to(np.arange(c), (h, w, c))]
        out[i] = map_coordinates(x[i], coords, 0 if interpolation == "nearest" else 1,
                                 fill_mode, fill_value)
    return back(out)


def _homography(start, end):
    """The 8 projective parameters mapping each end point (output pixel)
    to its start point (input pixel): a linear system per image."""
    rows, rhs = [], []
    for i in range(4):
        sx, sy = start[:, i, 0], start[:, i, 1]
        ex, ey = end[:, i, 0], end[:, i, 1]
        one, zero = np.ones_like(ex), np.zeros_like(ex)
        rows += [np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1),
                 np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)]
        rhs += [sx, sy]
    try:
        return np.linalg.solve(np.stack(rows, 1), np.stack(rhs, 1)[..., None])[..., 0]
    except np.linalg.LinAlgError:
        raise ValueError("perspective_transform: the points do not define a perspective map "
                         "(three of them on a line)") from None


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    """Images warped so that the 4 ``start_points`` (x, y) move to the
    ``end_points`` (one set, or one per image); outside filled with
    ``fill_value``."""
    points = []
    for arg, p in (("start_points", start_points), ("end_points", end_points)):
        p = np.asarray(_plain(p), np.float64)
        if p.ndim not in (2, 3) or p.shape[-2:] != (4, 2):
            raise ValueError(f"perspective_transform: {arg} must have shape (4, 2) or "
                             f"(batch, 4, 2), got {p.shape}")
        points.append(p.reshape(-1, 4, 2))
    if np.shape(start_points) != np.shape(end_points):
        raise ValueError(f"perspective_transform: start_points and end_points need the same "
                         f"shape, got {np.shape(start_points)} and {np.shape(end_points)}")
    return affine_transform(images, _homography(*points), interpolation, "constant",
                            fill_value, data_format)
