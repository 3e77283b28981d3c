"""Pooling layers: max and average pooling (1-D, 2-D and 3-D) and their
global forms.  1-D pooling runs the 2-D kernels at height 1; 3-D pooling
runs them twice, over height and width and then over depth (a box's
maximum, and its mean over the values inside the input, taken axis by
axis); adaptive pooling (1-D, 2-D and 3-D) to a fixed output size."""
import numpy as np

from .. import ops
from .base import ChannelsFirst, Layer, data_format_arg, shape_str
from .conv import _tuple


class _Pooling(ChannelsFirst, Layer):
    runs_on_gpu = True
    rank = 2
    kind = "max"
    # Keras's pooling layers check only the rank: one layer pools each
    # stage of an encoder (28x28, then 14x14, ...)
    fixed_input_axes = ()

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        self._set_data_format(data_format, label)
        self.pool_size = _tuple(pool_size, self.rank, "pool_size", label)
        self.strides = self.pool_size if strides is None else \
            _tuple(strides, self.rank, "strides", label)
        if min(self.pool_size + self.strides) < 1:
            raise ValueError(f"{label}: pool_size and strides must be >= 1, got "
                             f"{self.pool_size} and {self.strides}")
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"{label}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding

    def _window2d(self):
        if self.rank == 2:
            return self.pool_size, self.strides
        return (1,) + self.pool_size, (1,) + self.strides

    def _as2d(self, shape):
        return tuple(shape) if self.rank == 2 else (shape[0], 1) + tuple(shape[1:])

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected an input of rank "
                             f"{self.rank + 2}, got shape {shape_str(input_shape)}")
        self.built = True

    def compute_output_shape(self, input_shape):
        pool, strides = self._window2d()
        (oh, ow), _ = ops.pool_geometry(self._as2d(input_shape), pool, strides, self.padding,
                                        f"{type(self).__name__} {self.name!r}")
        out = (input_shape[0], oh, ow) if self.rank == 2 else (input_shape[0], ow)
        return out + (input_shape[-1],)

    def forward(self, ctx, x, training):
        x4 = x if self.rank == 2 else x[:, None]
        pool, strides = self._window2d()
        (oh, ow), _ = ops.pool_geometry(x4.shape, pool, strides, self.padding)
        out = ctx.buffer("y", (x4.shape[0], oh, ow, x4.shape[3]))
        if self.kind == "max":
            y = ops.max_pool2d(x4, pool, strides, self.padding, out=out)
        else:
            y = ops.avg_pool2d(x4, pool, strides, self.padding, out=out)
        if training:
            ctx.x, ctx.y = x4, y
        return y if self.rank == 2 else y[:, 0]

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        dy4 = dy if self.rank == 2 else dy[:, None]
        pool, strides = self._window2d()
        x = ctx.x
        dx = ctx.buffer("dx", x.shape)
        if self.kind == "max":
            ops.max_pool2d_grad(dy4, x, ctx.y, pool, strides, self.padding, out=dx)
        else:
            ops.avg_pool2d_grad(dy4, x.shape, pool, strides, self.padding, out=dx)
        return dx if self.rank == 2 else dx[:, 0]

    def _max_pool_window(self):
        """(pool_size, strides, padding) of a 2-D max pooling over
        channels-last data, whose backward pass the convolution before it
        may take in with its own (Program's conv -> pool pairs); None for
        any other pooling, or a subclass computing its own way."""
        if self.kind != "max" or self.rank != 2 or self._moves_channels or \
                type(self).backward is not _Pooling.backward or \
                type(self).forward is not _Pooling.forward:
            return None
        pool, strides = self._window2d()
        return pool, strides, self.padding

    def get_config(self):
        return {**super().get_config(), "pool_size": tuple(self.pool_size),
                "strides": tuple(self.strides), "padding": self.padding,
                "data_format": self.data_format}


class MaxPooling2D(_Pooling):
    """The maximum over each ``pool_size`` window (strides default to it)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """The mean over each ``pool_size`` window; with 'same' padding only the
    pixels inside the input count."""
    kind = "avg"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_Pooling):
    """1-D max pooling over (batch, steps, channels)."""
    rank = 1


class AveragePooling1D(_Pooling):
    """1-D average pooling over (batch, steps, channels)."""
    rank = 1
    kind = "avg"


class _Pooling3D(_Pooling):
    rank = 3
    runs_on_gpu = False

    def compute_output_shape(self, input_shape):
        label = f"{type(self).__name__} {self.name!r}"
        n, d, h, w, c = input_shape
        (oh, ow), _ = ops.pool_geometry((n, h, w, c), self.pool_size[1:], self.strides[1:],
                                        self.padding, label)
        (_, od), _ = ops.pool_geometry((n, 1, d, 1), (1, self.pool_size[0]),
                                       (1, self.strides[0]), self.padding, label)
        return (n, od, oh, ow, c)

    def _stages(self, shape):
        """The two 2-D poolings: over (height, width) of every plane, then
        over depth with a plane's values as channels."""
        n, d, h, w, c = shape
        (oh, ow), _ = ops.pool_geometry((n * d, h, w, c), self.pool_size[1:], self.strides[1:],
                                        self.padding)
        plane = (n * d, h, w, c), self.pool_size[1:], self.strides[1:]
        depth = (n, 1, d, oh * ow * c), (1, self.pool_size[0]), (1, self.strides[0])
        return plane, depth

    def _pool(self, x, window, strides, out):
        if self.kind == "max":
            return ops.max_pool2d(x, window, strides, self.padding, out=out)
        return ops.avg_pool2d(x, window, strides, self.padding, out=out)

    def forward(self, ctx, x, training):
        out_shape = self.compute_output_shape(x.shape)
        (s1, k1, st1), (s2, k2, st2) = self._stages(x.shape)
        x1 = x.reshape(s1)
        t = self._pool(x1, k1, st1, None)
        t2 = t.reshape(s2)
        y = self._pool(t2, k2, st2, ctx.buffer("y", (s2[0], 1, out_shape[1], s2[3])))
        if training:
            ctx.stages = ((x1, t, k1, st1), (t2, y, k2, st2))
            ctx.x_shape = x.shape
        return y.reshape(out_shape)

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        g = dy.reshape(ctx.stages[1][1].shape)
        for x, y, window, strides in reversed(ctx.stages):
            if self.kind == "max":
                g = ops.max_pool2d_grad(g.reshape(y.shape), x, y, window, strides, self.padding)
            else:
                g = ops.avg_pool2d_grad(g.reshape(y.shape), x.shape, window, strides,
                                        self.padding)
        return g.reshape(ctx.x_shape)


class MaxPooling3D(_Pooling3D):
    """The maximum over each ``pool_size`` box of (batch, depth, height,
    width, channels) volumes."""

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Pooling3D):
    """The mean over each ``pool_size`` box; with 'same' padding only the
    values inside the input count."""
    kind = "avg"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


MaxPool2D, AvgPool2D, MaxPool1D, AvgPool1D = (MaxPooling2D, AveragePooling2D, MaxPooling1D,
                                              AveragePooling1D)
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D


class _GlobalPooling(Layer):
    """Pooling over every spatial axis.  ``data_format='channels_first'``
    (channels on axis 1, as the keras.io time-series transformer pools its
    (batch, steps, features) tensor over the features) computes on the
    input with its channels moved last."""
    runs_on_gpu = True
    rank = 2
    kind = "max"
    fixed_input_axes = ()  # (the rank only, as Keras's)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        data_format = data_format_arg(data_format, f"{type(self).__name__} {self.name!r}")
        self.data_format = data_format
        self.keepdims = bool(keepdims)
        if data_format == "channels_first":
            self.runs_on_gpu = False

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected an input of rank "
                             f"{self.rank + 2}, got shape {shape_str(input_shape)}")
        self.built = True

    def compute_output_shape(self, input_shape):
        channels_first = self.data_format == "channels_first"
        c = input_shape[1] if channels_first else input_shape[-1]
        if self.keepdims:
            return (input_shape[0], c) + (1,) * self.rank if channels_first else \
                (input_shape[0],) + (1,) * self.rank + (c,)
        return (input_shape[0], c)

    def forward(self, ctx, x, training):
        if self.data_format == "channels_first":
            x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        y = self._pool(ctx, x, training)
        if self.keepdims and self.data_format == "channels_first":
            return y.reshape((y.shape[0], y.shape[-1]) + (1,) * self.rank)
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        dx = self._pool_grad(ctx, dy, need_input_grad)
        if dx is not None and self.data_format == "channels_first":
            return np.ascontiguousarray(np.moveaxis(dx, -1, 1))
        return dx

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}

    def _as4(self, x):
        if self.rank == 3:  # (n, d, h, w, c) as n images of d x (h * w) pixels
            return x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3], x.shape[-1])
        return x if self.rank == 2 else x[:, None]

    def _pool(self, ctx, x, training):
        x4 = self._as4(x)
        if x4.shape[1] * x4.shape[2] == 0:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the input of shape "
                             f"{shape_str((None,) + x.shape[1:])} has no positions to pool")
        out = ctx.buffer("y", (x4.shape[0], x4.shape[3]))
        if self.kind == "max":
            y = ops.global_max_pool2d(x4, out=out)
        else:
            y = ops.global_avg_pool2d(x4, out=out)
        if training:
            ctx.x, ctx.y, ctx.x_shape = x4, y, x.shape
        if self.keepdims:
            return y.reshape((y.shape[0],) + (1,) * self.rank + (y.shape[1],))
        return y

    def _pool_grad(self, ctx, dy, need_input_grad):
        if not need_input_grad:
            return None
        x = ctx.x
        dy = dy.reshape(ctx.y.shape)
        dx = ops.global_pool2d_grad(self.kind, dy, x, ctx.y, out=ctx.buffer("dx", x.shape))
        return dx.reshape(ctx.x_shape)


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over height and width of each channel."""


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over height and width of each channel."""
    kind = "avg"


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over the steps of each channel."""
    rank = 1


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps of each channel; with a mask (from
    ``Embedding(mask_zero=True)`` or ``Masking``), over the unmasked steps
    only, as Keras's.  The mask stops here."""
    rank = 1
    kind = "avg"
    supports_masking = True

    def _pool(self, ctx, x, training):
        mask = ctx.mask
        ctx.mask_weights = None
        if mask is None:
            return super()._pool(ctx, x, training)
        y, ctx.mask_weights = ops.masked_mean(
            x, mask, out=ctx.buffer("y", (x.shape[0], x.shape[2])),
            weights=ctx.buffer("mask_weights", (x.shape[0], 1, x.shape[1])))
        if self.keepdims:
            return y.reshape(y.shape[0], 1, y.shape[1])
        return y

    def _pool_grad(self, ctx, dy, need_input_grad):
        if ctx.mask_weights is None or not need_input_grad:
            return super()._pool_grad(ctx, dy, need_input_grad)
        w = ctx.mask_weights
        return ops.masked_mean_grad(dy.reshape(dy.shape[0], dy.shape[-1]), w,
                                    out=ctx.buffer("dx", (w.shape[0], w.shape[2],
                                                          dy.shape[-1])))

    def compute_mask(self, ctx, inputs, mask):
        return None

    def _output_has_mask(self, input_masks):
        return False


GlobalMaxPool2D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalAvgPool1D = (
    GlobalMaxPooling2D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalAveragePooling1D)


class GlobalMaxPooling3D(_GlobalPooling):
    """The maximum over depth, height and width of each channel."""
    rank = 3
    runs_on_gpu = False


class GlobalAveragePooling3D(_GlobalPooling):
    """The mean over depth, height and width of each channel."""
    rank = 3
    kind = "avg"
    runs_on_gpu = False


GlobalMaxPool3D, GlobalAvgPool3D = GlobalMaxPooling3D, GlobalAveragePooling3D


class _AdaptivePooling(Layer):
    """Pools each spatial axis into ``output_size`` windows whatever the
    input's size (Keras 3's adaptive pooling, as PyTorch's: window i of an
    axis of length L covers [floor(i * L / n), ceil((i + 1) * L / n))),
    computed by pynn.ops.adaptive_average_pool / adaptive_max_pool.  Both
    data formats are taken, as Keras does."""
    rank = 2
    kind = "average"
    fixed_input_axes = ()
    _AXES = {1: "(length,)", 2: "(height, width)", 3: "(depth, height, width)"}

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
            sizes = (int(output_size),) * self.rank
        elif isinstance(output_size, (tuple, list)):
            if len(output_size) != self.rank:
                raise ValueError(f"{who}: output_size must be an integer or a "
                                 f"{self._AXES[self.rank]} tuple, got {output_size!r}")
            sizes = tuple(output_size)
        else:
            raise TypeError(f"{who}: output_size must be an integer or a "
                            f"{self._AXES[self.rank]} tuple, got {output_size!r} of type "
                            f"{type(output_size).__name__}")
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                   for v in sizes):
            raise ValueError(f"{who}: output_size must hold positive integers, got "
                             f"{output_size!r}")
        self.output_size = tuple(int(v) for v in sizes)
        self.data_format = data_format_arg(data_format, who)

    def _check_rank(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected an input of rank "
                             f"{self.rank + 2} (batch, {self.rank} spatial axes, channels), "
                             f"got shape {shape_str(input_shape)}")

    def build(self, input_shape):
        self._check_rank(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0],) + self.output_size + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + self.output_size

    def call(self, inputs):
        pool = ops.adaptive_max_pool if self.kind == "max" else ops.adaptive_average_pool
        return pool(inputs, self.output_size, data_format=self.data_format)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size,
                "data_format": self.data_format}


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Averages (batch, steps, channels) data into ``output_size`` steps."""
    rank = 1


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Averages images into ``output_size`` (height, width) cells."""


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Averages volumes into ``output_size`` (depth, height, width) cells."""
    rank = 3


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """The maximum of (batch, steps, channels) data over ``output_size``
    windows of steps."""
    rank = 1
    kind = "max"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """The maximum of images over ``output_size`` (height, width) cells."""
    kind = "max"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """The maximum of volumes over ``output_size`` (depth, height, width)
    cells."""
    rank = 3
    kind = "max"
