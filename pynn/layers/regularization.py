"""Noise and regularization layers: GaussianNoise, GaussianDropout,
AlphaDropout, SpatialDropout1D/2D/3D and ActivityRegularization (Keras's
arguments and defaults).

Each is the identity at inference (``inference_identity``: the graph
passes leave it out of predict and of the TFLite export).  While
training, the draws come from the C kernels' counter-based generators
(pynn.utils.set_random_seed, or the layer's ``seed``).
"""
import math

import numpy as np

from .. import ops
from .base import ChannelsFirst, Layer, shape_str
from .core import Dropout


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _rate(value, what, layer):
    """A probability in [0, 1) (a dropout rate), or a ValueError naming the
    layer."""
    try:
        ok = 0.0 <= float(value) < 1.0 and not isinstance(value, bool)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{_label(layer)}: {what} must be a number in [0, 1), got {value!r}")
    return float(value)


class _Noise(Layer):
    supports_masking = True
    fixed_input_axes = ()
    # A new seed for each training pass, as Dropout takes them: from the
    # global generator, or from the layer's own ``seed`` sequence.
    _seed = Dropout._seed
    _draws = 0

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` (in
    [0, 1], as Keras requires) while training."""
    inference_identity = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        try:
            ok = 0.0 <= float(stddev) <= 1.0 and not isinstance(stddev, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{_label(self)}: stddev must be a number in [0, 1], got "
                             f"{stddev!r}")
        self.stddev = float(stddev)

    def forward(self, ctx, x, training):
        if not training or ctx.inference_behaviour or self.stddev == 0.0:
            return x
        noise = ops.random_normal(x.shape, 0.0, self.stddev, self._seed(),
                                  out=ctx.buffer("noise", x.shape))
        return ops.add(x, noise, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy, need_input_grad=True):
        return dy if need_input_grad else None

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """Multiplies by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` while training."""
    inference_identity = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = _rate(rate, "rate", self)

    def forward(self, ctx, x, training):
        ctx.noise = None
        if not training or ctx.inference_behaviour or self.rate == 0.0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        ctx.noise = ops.random_normal(x.shape, 1.0, stddev, self._seed(),
                                      out=ctx.buffer("noise", x.shape))
        return ops.multiply(x, ctx.noise, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        if ctx.noise is None:
            return dy
        return ops.multiply(dy, ctx.noise, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class AlphaDropout(_Noise):
    """Dropout that keeps the mean and variance of its input (for SELU
    networks): dropped values are set to SELU's negative saturation, then
    everything is scaled and shifted, as Keras 3 computes it."""
    inference_identity = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = _rate(rate, "rate", self)
        if noise_shape is not None:
            raise ValueError(f"{_label(self)}: noise_shape is not supported")

    def forward(self, ctx, x, training):
        ctx.mask_bits = None
        if not training or ctx.inference_behaviour or self.rate == 0.0:
            return x
        y, ctx.mask_bits = ops.alpha_dropout(x, self.rate, self._seed(),
                                             out=ctx.buffer("y", x.shape),
                                             mask=ctx.buffer("mask", x.shape, np.uint8))
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        if ctx.mask_bits is None:
            return dy
        return ops.alpha_dropout_grad(dy, ctx.mask_bits, self.rate,
                                      out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": None}


class _SpatialDropout(ChannelsFirst, Dropout):
    """Dropout of whole channels: one draw per (sample, channel), kept
    channels scaled by ``1 / (1 - rate)``."""
    runs_on_gpu = False  # its mask is drawn per channel, on the host
    rank = 1
    fixed_input_axes = ()

    def __init__(self, rate, seed=None, data_format=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        if self.rank > 1:  # (Keras's SpatialDropout1D takes no data_format: channels last)
            self._set_data_format(data_format, _label(self))

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{_label(self)}: expected an input of rank {self.rank + 2}, got "
                             f"shape {shape_str(input_shape)}")
        return tuple(input_shape)

    def forward(self, ctx, x, training):
        ctx.scale = None
        if not training or ctx.inference_behaviour or self.rate == 0.0:
            return x
        n, c = x.shape[0], x.shape[-1]
        ones = ctx.buffer("ones", (n, c))
        ones[...] = 1.0
        ctx.scale, _ = ops.dropout(ones, self.rate, self._seed(), out=ctx.buffer("scale", (n, c)),
                                   mask=ctx.buffer("mask", (n, c), np.uint8))
        return ops.scale_channels(x, ctx.scale, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        if ctx.scale is None:
            return dy
        return ops.scale_channels(dy, ctx.scale, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        # Keras's spatial dropout layers take no ``trainable`` or
        # ``noise_shape`` argument, and write their dtype by name.
        config = super().get_config()
        config.pop("trainable")
        config.pop("noise_shape")
        config["dtype"] = self.dtype
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of (batch, steps, channels) data while
    training."""
    inference_identity = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels (feature maps) of NHWC images while training."""
    inference_identity = True
    rank = 2

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, data_format=data_format, **kwargs)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(_SpatialDropout):
    """Drops whole channels (feature volumes) of (batch, depth, height,
    width, channels) data while training."""
    inference_identity = True
    rank = 3

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, data_format=data_format, **kwargs)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class ActivityRegularization(Layer):
    """The identity, adding ``l1 * sum(|x|) + l2 * sum(x**2)`` of its input,
    divided by the batch size, to the training loss: the activity
    regularizer of Keras's layer, with nothing else to do."""
    supports_masking = True
    inference_identity = True
    fixed_input_axes = ()

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        from .. import regularizers
        super().__init__(**kwargs)
        try:
            self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)
        except ValueError as e:
            raise ValueError(f"{_label(self)}: {e}") from None
        self.l1, self.l2 = self.activity_regularizer.l1, self.activity_regularizer.l2

    def get_config(self):
        config = {**super().get_config(), "l1": self.l1, "l2": self.l2}
        config.pop("activity_regularizer", None)
        return config
