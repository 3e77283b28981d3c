"""Keras 3's ``keras.quantizers``: symmetric abs-max int8 quantization
(what ``model.quantize("int8")`` applies to Dense and Embedding layers),
grouped int4 quantization with zero points, int4 packing, TensorFlow's
fake quantization, float8 scaling helpers, and the Quantizer objects.

pynn keeps a quantized layer's int8 values in float32 arrays (whole
numbers in [-127, 127]) and multiplies them with its float kernels,
exactly while the sums stay below 2**24 (inputs of up to about a thousand
features); the files it writes hold them as int8, as Keras's do."""
import math

import numpy as np

from . import ops

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _int_dtype(dtype, who):
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"{who}: expected dtype to be 'int8' or 'uint8', but got {dtype!r}.")
    return np.dtype(dtype)


def abs_max_quantize(inputs, axis, value_range=(-127, 127), dtype="int8", epsilon=_EPSILON,
                     to_numpy=False):
    """(values, scale): ``inputs`` times ``scale`` rounded, clipped to
    ``value_range`` and cast to ``dtype``, where ``scale`` is
    ``value_range[1]`` over the largest magnitude along ``axis`` (kept as
    an axis of size 1), as Keras's.  (``to_numpy`` is Keras's switch to
    compute in NumPy, which pynn always does.)"""
    scale = ops.divide(value_range[1],
                       ops.add(ops.max(ops.abs(inputs), axis=axis, keepdims=True), epsilon))
    values = ops.clip(ops.round(ops.multiply(inputs, scale)), value_range[0], value_range[1])
    return ops.cast(values, dtype), scale


def abs_max_quantize_grouped_with_zero_point(inputs, block_size, value_range=(-8, 7),
                                             dtype="int8", epsilon=_EPSILON, to_numpy=False):
    """Asymmetric quantization of a (input_dim, output_dim) kernel in groups
    of ``block_size`` rows: (values of ``inputs``' shape, scale and zero
    point of shape (groups, output_dim)), as Keras's int4 grouped kernels."""
    x = np.asarray(inputs)
    if x.ndim != 2:
        raise ValueError(f"abs_max_quantize_grouped_with_zero_point: expected a 2-D kernel "
                         f"(input_dim, output_dim), got shape {x.shape}")
    input_dim, output_dim = x.shape
    groups = math.ceil(input_dim / block_size)
    qmin, qmax = value_range
    padded = np.concatenate([x, np.zeros((groups * block_size - input_dim, output_dim),
                                         x.dtype)]) if groups * block_size > input_dim else x
    blocks = padded.reshape(groups, block_size, output_dim)
    low, high = blocks.min(axis=1, keepdims=True), blocks.max(axis=1, keepdims=True)
    scale = ((high - low) + x.dtype.type(epsilon)) / x.dtype.type(qmax - qmin)
    zero = np.clip(np.round(-low / scale) + qmin, qmin, qmax)
    values = np.clip(np.round(blocks / scale) + zero, qmin, qmax).astype(dtype)
    values = values.reshape(groups * block_size, output_dim)[:input_dim]
    return values, np.squeeze(scale, 1), np.squeeze(zero, 1).astype("int8")


def pack_int4(arr, axis=0, dtype="int8"):
    """Two int4 values per byte along ``axis`` (the first in the low four
    bits; an odd length padded with a zero): (packed, its shape, the
    original length), as Keras's."""
    np_dtype = _int_dtype(dtype, "pack_int4")
    a = np.asarray(arr)
    if a.dtype != np_dtype:
        raise TypeError(f"pack_int4: expected a {dtype} array for packing, got {a.dtype}.")
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    if n % 2:
        a = np.concatenate([a, np.zeros((1,) + a.shape[1:], a.dtype)])
    mask = np_dtype.type(0x0F)
    packed = np.bitwise_or(np.bitwise_and(a[::2], mask),
                           np.left_shift(np.bitwise_and(a[1::2], mask), np_dtype.type(4)))
    packed = np.moveaxis(packed.astype(np_dtype), 0, axis)
    return packed, tuple(packed.shape), n


def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """The int4 values :func:`pack_int4` packed, ``orig_len`` of them along
    ``axis``, as ``dtype`` (int8: sign-extended)."""
    _int_dtype(dtype, "unpack_int4")
    p = np.asarray(packed)
    if p.dtype not in (np.int8, np.uint8):
        raise TypeError(f"unpack_int4: expected an int8 or uint8 array for unpacking, got "
                        f"{p.dtype}")
    p = np.moveaxis(p, axis, 0).astype(np.int16)
    low, high = p & 0x0F, (p >> 4) & 0x0F
    if dtype == "int8":
        low, high = (low ^ 8) - 8, (high ^ 8) - 8
    out = np.stack([low, high], axis=1).reshape((-1,) + p.shape[1:])[:orig_len]
    return np.moveaxis(out.astype(dtype), 0, axis)


def _nudge(min_range, max_range, num_bits, narrow_range):
    """TensorFlow's range nudged so that zero is exactly representable."""
    quant_max = (1 << num_bits) - 1
    quant_min = 1 if narrow_range else 0
    scale = (max_range - min_range) / (quant_max - quant_min)
    inv_scale = (quant_max - quant_min) / (max_range - min_range)
    zero = np.round(np.clip(quant_min - min_range / scale, quant_min, quant_max))
    return (quant_min - zero) * scale, (quant_max - zero) * scale, scale, inv_scale


def fake_quant_with_min_max_vars(inputs, min_vals, max_vals, num_bits=8, narrow_range=False,
                                 axis=None):
    """``inputs`` quantized to ``num_bits`` over [min_vals, max_vals]
    (nudged so that 0 is exact) and back to floats, per tensor or per
    channel along ``axis``, as TensorFlow's fake_quant_with_min_max_vars;
    on a tape the gradient passes straight through inside the range and
    goes to min_vals / max_vals outside it."""
    x = np.asarray(ops.convert_to_numpy(inputs))
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype("float32")
    lo = np.asarray(ops.convert_to_numpy(min_vals), np.float32)
    hi = np.asarray(ops.convert_to_numpy(max_vals), np.float32)
    num_bits = int(num_bits)
    shape = [1] * x.ndim
    if axis is not None:
        axis = axis % x.ndim
        shape[axis] = -1
    nmin, nmax, scale, inv_scale = _nudge(lo.reshape(shape), hi.reshape(shape), num_bits,
                                          narrow_range)
    xf = x.astype(np.float32)
    quant_zero = np.floor(-nmin * inv_scale + 0.5)
    clamped = np.clip(xf, nmin, nmax)
    result = (np.floor((clamped - nmin) * inv_scale - quant_zero + 0.5) * scale).astype(dtype)
    from . import autodiff
    tape = autodiff._tape_of(*(autodiff.resolve(v) for v in (inputs, min_vals, max_vals)))
    if tape is None:
        return result
    inside = (xf >= nmin) & (xf <= nmax)
    below, above = xf <= nmin, xf >= nmax
    axes = tuple(i for i in range(x.ndim) if i != axis)

    def vjp(g):
        g = np.asarray(g, np.float32)
        return (np.where(inside, g, 0.0),
                np.where(below, g, 0.0).sum(axis=axes).reshape(lo.shape),
                np.where(above, g, 0.0).sum(axis=axes).reshape(hi.shape))
    return tape.record(result, (autodiff.resolve(inputs), autodiff.resolve(min_vals),
                                autodiff.resolve(max_vals)), vjp)


def compute_float8_scale(amax, scale, dtype_max, margin=0):
    """The next float8 scale from the largest magnitude seen (``amax``):
    ``amax * 2**margin / dtype_max``, the current ``scale`` kept where
    amax is 0 or not finite."""
    amax = np.asarray(ops.convert_to_numpy(amax), np.float32)
    current = np.reciprocal(np.asarray(ops.convert_to_numpy(scale), np.float32))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.float32(dtype_max) / amax / np.float32(2 ** margin)
    factor = np.where(amax > 0.0, factor, current)
    factor = np.where(np.isfinite(amax), factor, current)
    return np.reciprocal(factor)


def compute_float8_amax_history(x, amax_history):
    """The history rolled one place, the largest magnitude of ``x`` first."""
    history = np.asarray(ops.convert_to_numpy(amax_history))
    out = np.roll(history, -1)
    out[0] = np.max(np.abs(np.asarray(ops.convert_to_numpy(x)))).astype(history.dtype)
    return out


_FLOAT8_MAX = {"float8_e4m3fn": 448.0, "float8_e5m2": 57344.0}


def quantize_and_dequantize(inputs, scale, quantized_dtype, compute_dtype):
    """``inputs / scale`` clipped to the range of ``quantized_dtype``,
    rounded to it and multiplied back by ``scale``, in ``compute_dtype``
    (float8 formats need ml_dtypes, as in Keras)."""
    x = np.asarray(ops.convert_to_numpy(inputs)).astype(compute_dtype)
    s = np.asarray(ops.convert_to_numpy(scale)).astype(compute_dtype)
    qdt = str(quantized_dtype)
    if qdt.startswith("float8"):
        try:
            import ml_dtypes
        except ImportError:
            raise ImportError(f"quantize_and_dequantize: {qdt} needs the ml_dtypes package "
                              f"(pip install ml-dtypes)") from None
        target = np.dtype(getattr(ml_dtypes, qdt))
        top = float(ml_dtypes.finfo(target).max)
    else:
        target = np.dtype(qdt)
        info = np.finfo(target) if target.kind == "f" else np.iinfo(target)
        top = float(info.max)
    top = np.asarray(top, compute_dtype)
    q = np.clip(x / s, -top, top)
    if target.kind in "iu":
        q = np.round(q)
    return (q.astype(target).astype(compute_dtype) * s).astype(compute_dtype)


class Quantizer:
    """The base of quantizers: called on a tensor, returns it quantized
    (the base: as it is); ``output_dtype`` is the quantized dtype."""

    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x):
        return x

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")


class AbsMaxQuantizer(Quantizer):
    """:func:`abs_max_quantize` as an object: called on ``x`` (along
    ``axis``, default the last), returns (values, scale)."""

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=_EPSILON,
                 output_dtype="int8"):
        Quantizer.__init__(self, output_dtype=output_dtype)
        self.axis = None if axis is None else \
            ((axis,) if isinstance(axis, int) else tuple(axis))
        self.value_range = value_range
        self.epsilon = epsilon
        if output_dtype == "int8" and (value_range[0] < -128 or value_range[1] > 127):
            raise ValueError(f"Quantizer with output_dtype='int8' requires value_range to be "
                             f"within the interval [-128, 127]. Received: "
                             f"value_range={value_range}")

    def __call__(self, x, axis=None, to_numpy=False):
        if axis is None:
            axis = self.axis if self.axis is not None else -1
        return abs_max_quantize(x, axis, self.value_range, self.output_dtype, self.epsilon)

    def get_config(self):
        config = {"value_range": self.value_range, "epsilon": self.epsilon,
                  "output_dtype": self.output_dtype}
        if self.axis is not None:
            config["axis"] = self.axis
        return config


_BY_NAME = {"Quantizer": Quantizer, "AbsMaxQuantizer": AbsMaxQuantizer,
            "quantizer": Quantizer, "abs_max_quantizer": AbsMaxQuantizer}


def serialize(quantizer):
    """{'class_name', 'config'} of a quantizer."""
    return {"class_name": type(quantizer).__name__, "config": quantizer.get_config()}


def deserialize(config, custom_objects=None):
    """The quantizer a :func:`serialize` dict (or Keras's) describes."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"quantizers.deserialize: expected a dict with a 'class_name', got "
                         f"{config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"quantizers.deserialize: unknown quantizer {name!r}; pynn has "
                         f"Quantizer and AbsMaxQuantizer")
    inner = dict(config.get("config") or {})
    if isinstance(inner.get("value_range"), list):  # (JSON writes the tuple as a list)
        inner["value_range"] = tuple(inner["value_range"])
    return cls.from_config(inner)


def get(identifier, **kwargs):
    """A quantizer from None, a config dict, a class name (made with
    ``kwargs``) or an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj = _BY_NAME.get(identifier) if isinstance(identifier, str) else identifier
    if isinstance(obj, type):
        return obj(**kwargs)
    if callable(obj):
        return obj
    raise ValueError(f"Could not interpret quantizer identifier: {identifier}")


__all__ = ["abs_max_quantize", "abs_max_quantize_grouped_with_zero_point", "pack_int4",
           "unpack_int4", "fake_quant_with_min_max_vars", "compute_float8_scale",
           "compute_float8_amax_history", "quantize_and_dequantize", "Quantizer",
           "AbsMaxQuantizer", "serialize", "deserialize", "get"]
