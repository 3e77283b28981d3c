"""Image augmentation layers, Keras 3's: RandomFlip, RandomRotation,
RandomZoom, RandomTranslation, RandomContrast, RandomBrightness and
RandomCrop (Keras's arguments, defaults and configs; NHWC images).

They transform while training (inside fit, or called with
``training=True``) and, as Keras 3's layers, when called without
``training``: the layer itself, or a model holding them (``model(x)``,
``data_augmentation(images)``).  In predict, evaluate and calls with
``training=False`` they are the identity (``inference_identity``: the
inference program and the TFLite export leave them out), except
RandomCrop, which then resizes to its size as Keras does.

Every image gets its own draw, from pynn's generator
(pynn.utils.set_random_seed) or from the layer's own ``seed``.  Rotation,
zoom and translation build one matrix per image as Keras 3 does and warp
the batch in one call to ops.affine_warp; Keras 3's 'constant' and 'wrap'
fill modes are scipy's grid modes there.

Right after the model's input (where tutorials put them) they cost
nothing in backward: nothing before them needs a gradient.  Elsewhere
they send the gradient back: the warps through the transpose of each
image's warp (ops.affine_warp_grad).
"""
import math

import numpy as np

from .. import ops
from .base import ChannelsFirst, Layer, shape_str
from .core import Dropout
from .preprocessing import ImagesAndBoxes, image_batch, window_maps


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, bool)


def _bounded_pair(factor, bounds, what, layer, lower_open=False):
    """Keras 3's (lower, upper) from a number f (``(-f, f)``, the lower
    bound cut to ``bounds[0]``, as its base layer's _set_factor) or a pair
    (sorted), every value within ``bounds``."""
    lo, hi = bounds

    def inside(v):
        return _number(v) and (lo < v if lower_open else lo <= v) and v <= hi
    if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(map(inside, factor)):
        return tuple(sorted(float(v) for v in factor))
    if inside(factor):
        f = abs(float(factor))
        return (max(-f, float(lo)), f)
    interval = f"({lo}, {hi}]" if lower_open else f"[{lo}, {hi}]"
    raise ValueError(f"{_label(layer)}: {what} must be a number or a pair of numbers in "
                     f"{interval}, got {factor!r}")


def channels_first_images(x, transform):
    """``transform`` (of channels-last images) of channels_first images
    ``x`` (one or a batch), given back channels first."""
    y = transform(np.ascontiguousarray(np.moveaxis(x, -3, -1)))
    return np.ascontiguousarray(np.moveaxis(y, -1, -3))


class _Augmentation(ChannelsFirst, ImagesAndBoxes, Layer):
    """Draws per image while training, the identity otherwise.  Subclasses
    give ``_augment(ctx, x, rng)`` (and ``_augment_backward(ctx, dy)``).
    Called on a dict of images and bounding boxes, the boxes follow the
    images (see ImagesAndBoxes)."""
    inference_identity = True
    rank = 2  # (the images' spatial axes, for ChannelsFirst)
    # Keras 3's call(..., training=True): called without ``training``,
    # directly or in a model called without it, they augment.
    _training_default = True
    fixed_input_axes = ()
    # (one image or a batch of them, as Keras's: built on either, called on
    # the other)
    fixed_input_rank = False
    _seed = Dropout._seed
    _draws = 0
    _box_maps_need_training = True

    def __init__(self, seed=None, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        self.bounding_box_format = bounding_box_format
        self._set_data_format(data_format, _label(self))
        if seed is not None and not (isinstance(seed, (int, np.integer)) and
                                     not isinstance(seed, bool)):
            raise ValueError(f"{_label(self)}: seed must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{_label(self)}: expected a batch of images (batch, height, "
                             f"width, channels), got shape {shape_str(input_shape)}")
        return tuple(input_shape)

    def _eager_call(self, inputs, training):
        if isinstance(inputs, dict):
            return self._images_and_boxes(inputs, training)
        inputs = image_batch(inputs)
        # Keras's augmentation layers also take a single image (height,
        # width, channels).
        if np.ndim(inputs) == 3:
            return super()._eager_call(np.asarray(inputs)[None], training)[0]
        return super()._eager_call(inputs, training)

    def _draw(self, ctx, n, draw):
        """``draw(rng, count)`` for this batch's ``n`` images, from a
        generator of this step's seed; a process holding rows [row_offset,
        row_offset + n) of a batch split across processes takes those
        rows' draws."""
        skip = ctx.row_offset
        return draw(np.random.default_rng(self._seed()), skip + n)[skip:]

    def forward(self, ctx, x, training):
        ctx.augmented = False
        if not training or ctx.inference_behaviour:
            return x
        ctx.augmented = True
        return self._augment(ctx, x)

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        if not ctx.augmented:
            return dy
        return self._augment_backward(ctx, dy)

    def get_config(self):
        config = {**super().get_config(), "seed": self.seed, "data_format": self.data_format}
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config


class RandomFlip(_Augmentation):
    """Flips each image with probability 1/2: left-right ('horizontal'),
    top-bottom ('vertical'), or both at once ('horizontal_and_vertical',
    one draw for the two, as Keras 3)."""
    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"{_label(self)}: mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode

    def _flip(self, x, flips):
        axes = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (1, 2)}
        return ops.where(flips[:, None, None, None], ops.flip(x, axes[self.mode]), x)

    def _augment(self, ctx, x):
        ctx.flips = self._draw(ctx, x.shape[0], lambda g, n: g.random(n) <= 0.5)
        return np.ascontiguousarray(self._flip(x, ctx.flips), np.float32)

    def _augment_backward(self, ctx, dy):
        return np.ascontiguousarray(self._flip(dy, ctx.flips), np.float32)

    def _box_maps(self, ctx, x, y):
        n, h, w, _ = x.shape
        maps = np.broadcast_to(np.eye(2, 3), (n, 2, 3)).copy()
        if not ctx.augmented:
            return maps
        flipped = np.asarray(ctx.flips, bool)
        if self.mode != "vertical":     # x -> width - x
            maps[flipped, 0] = (-1.0, 0.0, w)
        if self.mode != "horizontal":   # y -> height - y
            maps[flipped, 1] = (0.0, -1.0, h)
        return maps

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _Warp(_Augmentation):
    """An affine warp per image (Keras 3's transform, output (x, y) reading
    the input at (a0 x + a1 y + a2, b0 x + b1 y + b2)), through
    ops.affine_warp."""
    FILL_MODES = ("reflect", "wrap", "constant", "nearest")
    INTERPOLATIONS = ("nearest", "bilinear")
    # Keras 3's fill modes in scipy's (and ops.affine_warp's) terms.
    _SCIPY_MODE = {"reflect": "reflect", "wrap": "grid-wrap", "constant": "grid-constant",
                   "nearest": "nearest"}

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in self.FILL_MODES:
            raise ValueError(f"{_label(self)}: fill_mode must be one of {self.FILL_MODES}, got "
                             f"{fill_mode!r}")
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(f"{_label(self)}: interpolation must be one of "
                             f"{self.INTERPOLATIONS}, got {interpolation!r}")
        if not _number(fill_value) or not math.isfinite(fill_value):
            raise ValueError(f"{_label(self)}: fill_value must be a finite number, got "
                             f"{fill_value!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    @staticmethod
    def _matrices(transforms):
        # ops.affine_warp reads (row, column) = M @ (r, c, 1).
        t = np.asarray(transforms, np.float64).reshape(-1, 6)
        return np.stack([t[:, [4, 3, 5]], t[:, [1, 0, 2]]], axis=1)

    def warp(self, x, transforms, out=None):
        """``x`` warped by Keras-style transforms, (n, 6): a0 a1 a2 b0 b1 b2
        per image."""
        return ops.affine_warp(x, self._matrices(transforms), interpolation=self.interpolation,
                               fill_mode=self._SCIPY_MODE[self.fill_mode],
                               cval=self.fill_value, out=out)

    def _augment(self, ctx, x):
        n, h, w, _ = x.shape
        ctx.transforms = self._transforms(ctx, n, h, w)
        return self.warp(x, ctx.transforms, out=ctx.buffer("y", x.shape))

    def _box_maps(self, ctx, x, y):
        """The inverse of each image's warp: the warp reads output pixel
        p at input point A p + c (pixel centres), so a point q of the
        input goes to A^-1 (q - c), half a pixel off in box coordinates."""
        if not ctx.augmented:
            return np.broadcast_to(np.eye(2, 3), (x.shape[0], 2, 3))
        t = np.asarray(ctx.transforms, np.float64).reshape(-1, 6)
        inverse = np.linalg.inv(t[:, [0, 1, 3, 4]].reshape(-1, 2, 2))
        shift = -inverse @ (t[:, [2, 5]] + 0.5)[..., None] + 0.5
        return np.concatenate([inverse, shift], axis=2)

    def _augment_backward(self, ctx, dy):
        # the warp is linear in the image: its transpose (a GAN's generated
        # images are augmented before the discriminator, StyleGAN2-ADA)
        return ops.affine_warp_grad(dy, self._matrices(ctx.transforms), dy.shape,
                                    self.interpolation, self._SCIPY_MODE[self.fill_mode])

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def rotation_transforms(degrees, h, w):
    """Keras 3's rotation about the image centre ((w - 1) / 2, (h - 1) / 2)
    by ``degrees`` (counter-clockwise), one transform row per angle."""
    a = np.radians(np.asarray(degrees, np.float64))
    cos, sin = np.cos(a), np.sin(a)
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    return np.stack([cos, -sin, cx - cx * cos + cy * sin,
                     sin, cos, cy - cx * sin - cy * cos], axis=1)


class RandomRotation(_Warp):
    """Rotates each image by a random angle in ``factor`` (a fraction of a
    full turn: 0.1 is up to 36 degrees either way; a pair gives the
    bounds; positive is counter-clockwise)."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _bounded_pair(factor, (-1, 1), "factor", self)

    def _transforms(self, ctx, n, h, w):
        lo, hi = self.factor
        degrees = self._draw(ctx, n, lambda g, k: g.uniform(lo * 360.0, hi * 360.0, k))
        return rotation_transforms(degrees, h, w)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


def zoom_transforms(height_zoom, width_zoom, h, w):
    """Keras 3's zoom about the centre: output (x, y) reads the input at
    the point scaled by the zoom (below 1: zoomed in)."""
    zh, zw = np.asarray(height_zoom, np.float64), np.asarray(width_zoom, np.float64)
    zero = np.zeros_like(zh)
    return np.stack([zw, zero, (w - 1) / 2.0 * (1.0 - zw),
                     zero, zh, (h - 1) / 2.0 * (1.0 - zh)], axis=1)


class RandomZoom(_Warp):
    """Zooms each image by a random amount: ``height_factor`` (a fraction
    of the height; negative zooms in, positive out; a pair gives the
    bounds), and ``width_factor`` likewise (None: the height's zoom, keeping
    the aspect ratio)."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = height_factor
        self.height_range = _bounded_pair(height_factor, (-1, 1), "height_factor", self,
                                          lower_open=True)
        self.width_factor = width_factor
        self.width_range = None if width_factor is None else \
            _bounded_pair(width_factor, (-1, 1), "width_factor", self, lower_open=True)

    def _transforms(self, ctx, n, h, w):
        (hl, hh), wr = self.height_range, self.width_range

        def draw(g, k):
            zh = g.uniform(1.0 + hl, 1.0 + hh, k)
            zw = zh if wr is None else g.uniform(1.0 + wr[0], 1.0 + wr[1], k)
            return np.stack([zh, zw], axis=1)
        z = self._draw(ctx, n, draw)
        return zoom_transforms(z[:, 0], z[:, 1], h, w)

    def get_config(self):
        factor = (lambda f: list(f) if isinstance(f, tuple) else f)
        return {**super().get_config(), "height_factor": factor(self.height_factor),
                "width_factor": factor(self.width_factor)}


def translation_transforms(dy, dx):
    """Keras 3's shift by (dy, dx) pixels (down and right)."""
    dy, dx = np.asarray(dy, np.float64), np.asarray(dx, np.float64)
    one, zero = np.ones_like(dy), np.zeros_like(dy)
    return np.stack([one, zero, -dx, zero, one, -dy], axis=1)


class RandomTranslation(_Warp):
    """Shifts each image by a random fraction of its height
    (``height_factor``; negative is up) and width (``width_factor``;
    negative is left); a number f gives [-f, f], a pair the bounds."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _bounded_pair(height_factor, (-1, 1), "height_factor", self)
        self.width_range = _bounded_pair(width_factor, (-1, 1), "width_factor", self)

    def _transforms(self, ctx, n, h, w):
        (hl, hh), (wl, wh) = self.height_range, self.width_range
        d = self._draw(ctx, n, lambda g, k: np.stack([g.uniform(hl, hh, k),
                                                      g.uniform(wl, wh, k)], axis=1))
        return translation_transforms(d[:, 0] * h, d[:, 1] * w)

    def get_config(self):
        factor = (lambda f: list(f) if isinstance(f, tuple) else f)
        return {**super().get_config(), "height_factor": factor(self.height_factor),
                "width_factor": factor(self.width_factor)}


def _value_range(value_range, layer):
    if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2 and
            all(_number(v) and math.isfinite(v) for v in value_range)):
        raise ValueError(f"{_label(layer)}: value_range must be a pair of finite numbers, got "
                         f"{value_range!r}")
    return tuple(sorted(float(v) for v in value_range))


class _Color(_Augmentation):
    """A per-image change of values, clipped to ``value_range`` (bounding
    boxes stay as they are)."""

    def _box_maps(self, ctx, x, y):
        return None

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _bounded_pair(factor, self._FACTOR_BOUNDS, "factor", self)
        self.value_range = _value_range(value_range, self)

    def _clip(self, ctx, pre):
        lo, hi = self.value_range
        ctx.inside = (pre >= lo) & (pre <= hi)
        return np.ascontiguousarray(ops.clip(pre, lo, hi), np.float32)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range)}


class RandomContrast(_Color):
    """Scales each image's deviation from its mean (per channel) by a random
    factor in ``[1 - lower, 1 + upper]``, as Keras 3 computes it from
    ``factor``: a number f gives (0, f) (its lower bound is cut to 0),
    so [1, 1 + f]; a pair gives the bounds.  Clipped to ``value_range``."""
    _FACTOR_BOUNDS = (0, 1)

    def _augment(self, ctx, x):
        lo, hi = self.factor
        f = self._draw(ctx, x.shape[0], lambda g, k: g.uniform(1.0 - lo, 1.0 + hi, k))
        ctx.contrast = f.astype(np.float32)[:, None, None, None]
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        return self._clip(ctx, (x - mean) * ctx.contrast + mean)

    def _augment_backward(self, ctx, dy):
        g = ops.where(ctx.inside, dy, np.float32(0))
        f = ctx.contrast
        dx = g * f + ops.mean(g, axis=(1, 2), keepdims=True) * (1.0 - f)
        return np.ascontiguousarray(dx, np.float32)


class RandomBrightness(_Color):
    """Adds to each image a random fraction of ``value_range``'s width, in
    ``factor`` (a number f: [-f, f]; a pair: the bounds; within [-1, 1]),
    clipped to ``value_range``."""
    _FACTOR_BOUNDS = (-1, 1)

    def _augment(self, ctx, x):
        lo, hi = self.factor
        span = self.value_range[1] - self.value_range[0]
        delta = self._draw(ctx, x.shape[0], lambda g, k: g.uniform(lo, hi, k)) * span
        return self._clip(ctx, x + delta.astype(np.float32)[:, None, None, None])

    def _augment_backward(self, ctx, dy):
        return np.ascontiguousarray(ops.where(ctx.inside, dy, np.float32(0)), np.float32)


class _RandomSize(_Augmentation):
    """tf.keras 2's RandomHeight / RandomWidth: while training, the batch
    resized along one axis by a factor drawn once per batch from
    [1 + lower, 1 + upper] (the new size truncated to an integer, as
    TensorFlow's cast); the identity otherwise."""
    axis = 1

    def __init__(self, factor, interpolation="bilinear", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if interpolation not in ops.RESIZE_INTERPOLATIONS:
            raise ValueError(f"{_label(self)}: interpolation must be one of "
                             f"{ops.RESIZE_INTERPOLATIONS}, got {interpolation!r}")
        self.factor = list(factor) if isinstance(factor, (list, tuple)) else factor
        self.interpolation = interpolation
        self.lower, self.upper = _bounded_pair(factor, (-1.0, math.inf), "factor", self,
                                               lower_open=True)

    def compute_output_shape(self, input_shape):
        shape = list(super().compute_output_shape(input_shape))
        shape[self.axis] = None   # (drawn per batch)
        return tuple(shape)

    def _augment(self, ctx, x):
        n, h, w, c = x.shape
        scale = np.random.default_rng(self._seed()).uniform(1 + self.lower, 1 + self.upper)
        size = [h, w]
        size[self.axis - 1] = max(1, int(size[self.axis - 1] * scale))
        ctx.x_shape, ctx.window = x.shape, ops.resize_geometry(h, w, tuple(size))
        return ops.resize(x, tuple(size), self.interpolation, ctx.window,
                          out=ctx.buffer("y", (n, size[0], size[1], c)))

    def _augment_backward(self, ctx, dy):
        return ops.resize_grad(dy, ctx.x_shape, self.interpolation, ctx.window,
                               out=ctx.buffer("dx", ctx.x_shape))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "interpolation": self.interpolation}


class RandomHeight(_RandomSize):
    __doc__ = _RandomSize.__doc__
    axis = 1


class RandomWidth(_RandomSize):
    __doc__ = _RandomSize.__doc__
    axis = 2


class RandomCrop(_Augmentation):
    """A random ``height`` x ``width`` window of each image while training;
    otherwise (and for an image not larger than that in both sizes) the
    largest central window of the target's aspect ratio, resized to it
    (bilinear), as Keras 3."""
    inference_identity = False

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        for what, v in (("height", height), ("width", width)):
            if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"{_label(self)}: {what} must be a positive integer, got "
                                 f"{v!r}")
        self.height, self.width = int(height), int(width)

    def compute_output_shape(self, input_shape):
        super().compute_output_shape(input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, ctx, x, training):
        n, h, w, c = x.shape
        ctx.x_shape, ctx.starts = x.shape, None
        out = ctx.buffer("y", (n, self.height, self.width, c))
        if training and not ctx.inference_behaviour and h > self.height and w > self.width:
            starts = self._draw(ctx, n, lambda g, k: np.stack(
                [g.integers(0, h - self.height + 1, k), g.integers(0, w - self.width + 1, k)],
                axis=1))
            ctx.starts = starts
            # whole-pixel shifts: the warp reads the pixels exactly
            t = translation_transforms(-starts[:, 0], -starts[:, 1])
            m = np.stack([t[:, [4, 3, 5]], t[:, [1, 0, 2]]], axis=1)
            return ops.affine_warp(x, m, output_shape=(self.height, self.width),
                                   interpolation="nearest", out=out)
        window = ops.resize_geometry(h, w, (self.height, self.width), True)
        return ops.resize(x, (self.height, self.width), "bilinear", window, out=out)

    # (its inference resize moves boxes too)
    _box_maps_need_training = False

    def _box_maps(self, ctx, x, y):
        n, h, w, _ = x.shape
        if ctx.starts is None:
            window = ops.resize_geometry(h, w, (self.height, self.width), True)
            return window_maps(n, window, (self.height, self.width))
        maps = np.broadcast_to(np.eye(2, 3), (n, 2, 3)).copy()
        maps[:, 0, 2], maps[:, 1, 2] = -ctx.starts[:, 1], -ctx.starts[:, 0]
        return maps

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        n, h, w, c = ctx.x_shape
        if ctx.starts is None:
            window = ops.resize_geometry(h, w, (self.height, self.width), True)
            return ops.resize_grad(dy, ctx.x_shape, "bilinear", window,
                                   out=ctx.buffer("dx", ctx.x_shape))
        dx = ctx.buffer("dx", ctx.x_shape)
        for b, (top, left) in enumerate(ctx.starts):
            cropping = ((top, h - self.height - top), (left, w - self.width - left))
            ops.spatial_pad(dy[b:b + 1], cropping, out=dx[b:b + 1])
        return dx

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}

