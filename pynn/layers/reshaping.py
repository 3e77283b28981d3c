"""Reshaping layers: ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D,
RepeatVector and Permute (Keras's arguments and defaults).

They move values without computing new ones; the moves (and their
gradients, which are the reverse moves) are C kernels behind pynn.ops.
Data is channels-last.
"""
import numpy as np

from .. import ops
from .base import ChannelsFirst, Layer, shape_str
from .conv import _tuple
from .core import _positive_int


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _pairs(value, n, what, layer):
    """Keras's padding/cropping argument for ``n`` spatial axes as n (before,
    after) pairs: an int (the same on every side), n ints (symmetric per
    axis; for one axis, the (before, after) pair itself) or n pairs."""
    label = _label(layer)
    if isinstance(value, int) and not isinstance(value, bool):
        pairs = ((value, value),) * n
    else:
        try:
            items = list(value)
        except TypeError:
            items = None
        pairs = None
        if items is not None and n == 1 and len(items) == 2 and \
                all(isinstance(v, int) for v in items):
            pairs = ((items[0], items[1]),)
        elif items is not None and len(items) == n:
            try:
                pairs = tuple((v, v) if isinstance(v, int) else tuple(int(e) for e in v)
                              for v in items)
            except (TypeError, ValueError):
                pairs = None
        if pairs is None or any(len(p) != 2 for p in pairs) or \
                any(isinstance(e, bool) for p in pairs for e in p):
            form = "an int or a tuple of 2 ints (before, after)" if n == 1 else \
                f"an int, a tuple of {n} ints or a tuple of {n} (before, after) tuples"
            raise ValueError(f"{label}: {what} must be {form}, got {value!r}")
    if min(v for p in pairs for v in p) < 0:
        raise ValueError(f"{label}: {what} must not be negative, got {value!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


class _Spatial(ChannelsFirst, Layer):
    """A layer over (batch, ``rank`` spatial axes, channels) data, of any
    spatial size."""
    rank = 2
    fixed_input_axes = ()

    def _check_rank(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{_label(self)}: expected an input of rank {self.rank + 2} "
                             f"(batch, {self.rank} spatial axes, channels), got shape "
                             f"{shape_str(input_shape)}")

    def build(self, input_shape):
        self._check_rank(input_shape)
        self.compute_output_shape(input_shape)
        self.built = True


class _ZeroPadding(_Spatial):

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._set_data_format(data_format, _label(self))
        self.padding = _pairs(padding, self.rank, "padding", self)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        spatial = tuple(None if d is None else d + a + b
                        for d, (a, b) in zip(input_shape[1:-1], self.padding))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def forward(self, ctx, x, training):
        shape = (x.shape[0],) + tuple(d + a + b for d, (a, b) in
                                      zip(x.shape[1:-1], self.padding)) + (x.shape[-1],)
        return ops.spatial_pad(x, self.padding, out=ctx.buffer("y", shape))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        shape = (dy.shape[0],) + tuple(d - a - b for d, (a, b) in
                                       zip(dy.shape[1:-1], self.padding)) + (dy.shape[-1],)
        return ops.spatial_crop(dy, self.padding, out=ctx.buffer("dx", shape))

    def get_config(self):
        padding = self.padding[0] if self.rank == 1 else self.padding
        return {**super().get_config(), "padding": _as_lists(padding),
                "data_format": self.data_format}


def _as_lists(value):
    return [_as_lists(v) for v in value] if isinstance(value, tuple) else value


class ZeroPadding1D(_ZeroPadding):
    """Zeros added at the start and end of the steps of (batch, steps,
    channels) data: ``padding`` is an int or (before, after)."""
    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Rows and columns of zeros around NHWC images: ``padding`` is an int,
    (rows, columns) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around (batch, depth, height, width, channels) volumes:
    ``padding`` is an int, three ints or three (before, after) pairs."""
    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if self.rank > 1:  # (Keras's Cropping1D takes no data_format: channels last)
            self._set_data_format(data_format, _label(self))
        self.cropping = _pairs(cropping, self.rank, "cropping", self)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        spatial = []
        for d, (a, b) in zip(input_shape[1:-1], self.cropping):
            if d is not None and a + b >= d:
                raise ValueError(f"{_label(self)}: cropping {self.cropping} leaves nothing of "
                                 f"an input of shape {shape_str(input_shape)}; each axis must "
                                 f"keep at least one value")
            spatial.append(None if d is None else d - a - b)
        return (input_shape[0],) + tuple(spatial) + (input_shape[-1],)

    def forward(self, ctx, x, training):
        shape = self.compute_output_shape((None,) + x.shape[1:])
        return ops.spatial_crop(x, self.cropping, out=ctx.buffer("y", (x.shape[0],) + shape[1:]))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        shape = (dy.shape[0],) + tuple(d + a + b for d, (a, b) in
                                       zip(dy.shape[1:-1], self.cropping)) + (dy.shape[-1],)
        return ops.spatial_pad(dy, self.cropping, out=ctx.buffer("dx", shape))

    def get_config(self):
        cropping = self.cropping[0] if self.rank == 1 else self.cropping
        config = {**super().get_config(), "cropping": _as_lists(cropping)}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


class Cropping1D(_Cropping):
    """Drops values at the start and end of the steps of (batch, steps,
    channels) data: ``cropping`` is an int or (before, after)."""
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    """Drops rows and columns at the borders of NHWC images: ``cropping`` is
    an int, (rows, columns) or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Drops values at the borders of (batch, depth, height, width,
    channels) volumes."""
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class UpSampling1D(_Spatial):
    """Repeats each step of (batch, steps, channels) data ``size`` times."""
    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _positive_int(size, "size", self)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps * self.size, input_shape[2])

    def forward(self, ctx, x, training):
        shape = (x.shape[0], x.shape[1] * self.size, x.shape[2])
        return ops.repeat(x, self.size, 1, out=ctx.buffer("y", shape))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        shape = (dy.shape[0], dy.shape[1] // self.size, dy.shape[2])
        return ops.repeat_grad(dy, self.size, 1, out=ctx.buffer("dx", shape))

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling3D(_Spatial):
    """Repeats each value of (batch, depth, height, width, channels) volumes
    ``size`` times along each spatial axis (Keras's ``UpSampling3D``)."""
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        label = _label(self)
        self._set_data_format(data_format, label)
        self.size = _tuple(size, 3, "size", label)
        if min(self.size) < 1:
            raise ValueError(f"{label}: size must be positive, got {size!r}")

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return (input_shape[0],) + tuple(None if d is None else d * f for d, f in
                                         zip(input_shape[1:4], self.size)) + (input_shape[4],)

    def forward(self, ctx, x, training):
        y = x
        for axis, times in enumerate(self.size, start=1):
            if times > 1:
                y = ops.repeat(y, times, axis=axis)
        return np.ascontiguousarray(y)

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        n, d, h, w, c = dy.shape
        (sd, sh, sw) = self.size
        # Each input value's gradient is the sum over the block it became.
        return np.ascontiguousarray(
            dy.reshape(n, d // sd, sd, h // sh, sh, w // sw, sw, c).sum(axis=(2, 4, 6),
                                                                     dtype=np.float32))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size),
                "data_format": self.data_format}


class UpSampling2D(_Spatial):
    """Scales NHWC images up by ``size`` (rows, columns): 'nearest' repeats
    each pixel, 'bilinear', 'bicubic', 'lanczos3' and 'lanczos5'
    interpolate with half-pixel centres, as Keras 3 (its image.resize)."""
    INTERPOLATIONS = ops.RESIZE_INTERPOLATIONS

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        label = _label(self)
        self._set_data_format(data_format, label)
        self.size = _tuple(size, 2, "size", label)
        if min(self.size) < 1:
            raise ValueError(f"{label}: size must be positive, got {size!r}")
        interpolation = str(interpolation).lower()
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(f"{label}: interpolation must be one of {self.INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        h, w = input_shape[1:3]
        return (input_shape[0], None if h is None else h * self.size[0],
                None if w is None else w * self.size[1], input_shape[3])

    def forward(self, ctx, x, training):
        size = (x.shape[1] * self.size[0], x.shape[2] * self.size[1])
        if training:
            ctx.x_shape = x.shape
        return ops.resize(x, size, self.interpolation,
                          out=ctx.buffer("y", (x.shape[0],) + size + (x.shape[3],)))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        return ops.resize_grad(dy, ctx.x_shape, self.interpolation,
                               out=ctx.buffer("dx", ctx.x_shape))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size),
                "data_format": self.data_format, "interpolation": self.interpolation}


class RepeatVector(Layer):
    """Repeats a (batch, features) input ``n`` times: (batch, n,
    features)."""
    fixed_input_axes = ()

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_int(n, "n", self)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{_label(self)}: expected an input of rank 2 (batch, features), "
                             f"got shape {shape_str(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, ctx, x, training):
        x3 = x.reshape(x.shape[0], 1, x.shape[1])
        return ops.repeat(x3, self.n, 1, out=ctx.buffer("y", (x.shape[0], self.n, x.shape[1])))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        dx = ops.repeat_grad(dy, self.n, 1, out=ctx.buffer("dx", (dy.shape[0], 1, dy.shape[2])))
        return dx.reshape(dy.shape[0], dy.shape[2])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the axes after the batch: ``dims`` lists them, from 1, in
    their new order (``Permute((2, 1))`` swaps the two axes of each
    sample)."""
    fixed_input_axes = ()

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            self.dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            self.dims = None
        if self.dims is None or sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"{_label(self)}: dims must be a permutation of 1, ..., n (the "
                             f"axes after the batch, counted from 1), got {dims!r}")
        self.perm = (0,) + self.dims
        self.inverse = tuple(self.perm.index(a) for a in range(len(self.perm)))

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"{_label(self)}: dims {self.dims} permute {len(self.dims)} axes; "
                             f"the input of shape {shape_str(input_shape)} has "
                             f"{len(input_shape) - 1}")
        return tuple(input_shape[a] for a in self.perm)

    def forward(self, ctx, x, training):
        return ops.transpose(x, self.perm,
                             out=ctx.buffer("y", tuple(x.shape[a] for a in self.perm)))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        return ops.transpose(dy, self.inverse,
                             out=ctx.buffer("dx", tuple(dy.shape[a] for a in self.inverse)))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
