"""Keras 3's ``keras.quantizers``: symmetric abs-max int8 quantization,
what ``model.quantize("int8")`` applies to Dense and Embedding layers.

pynn keeps the int8 values in float32 arrays (whole numbers in
[-127, 127]) and multiplies them with its float kernels, exactly while the
sums stay below 2**24 (inputs of up to about a thousand features); the
files it writes hold them as int8, as Keras's do."""
from . import ops


def abs_max_quantize(inputs, axis, value_range=(-127, 127), epsilon=1e-7):
    """(values, scale): ``inputs`` times ``scale`` rounded and clipped to
    ``value_range``, where ``scale`` is ``value_range[1]`` over the largest
    magnitude along ``axis`` (kept as an axis of size 1), as Keras's."""
    scale = ops.divide(value_range[1],
                       ops.add(ops.max(ops.abs(inputs), axis=axis, keepdims=True), epsilon))
    values = ops.clip(ops.round(ops.multiply(inputs, scale)), value_range[0], value_range[1])
    return values, scale


__all__ = ["abs_max_quantize"]
