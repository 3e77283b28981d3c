"""Keras 3's further image augmentation layers: the colour layers
(RandomGrayscale, RandomHue, RandomSaturation, RandomColorJitter,
RandomColorDegeneration, RandomSharpness, RandomPosterization,
RandomInvert, Solarization, AutoContrast, Equalization,
RandomGaussianBlur), RandomErasing, the warps RandomShear,
RandomPerspective and RandomElasticTransform, the batch mixers MixUp and
CutMix, RandAugment, AugMix, and Pipeline, with Keras's arguments,
defaults and configs (NHWC images).

As Keras 3 splits them, each draws a transformation for the batch
(``get_random_transformation(images)``: a dict of per-image arrays under
Keras's keys) and applies it (``transform_images(images,
transformation)``), so a transformation Keras drew gives Keras's pixels.
Like the layers of pynn.layers.augmentation they transform while
training and when called without ``training``, and are the identity at
inference (AutoContrast, which Keras applies always, excepted).  Called
directly on a dict of ``images`` and ``labels`` (a ``dataset.map``
step), MixUp and CutMix mix the labels with the images.

Their arithmetic is Keras's own, vectorised over the batch in NumPy and
pynn.ops (blurs and sharpening are depthwise convolutions; the affine
shear goes through ops.affine_warp, the projective and elastic warps
sample the batch at once as Keras's map_coordinates does), as Keras's
NumPy backend computes it, Keras's quirks included (RandomInvert
subtracts from the range's upper end, Solarization scales only the upper
bound of its factors by 255, Equalization pools each channel's histogram
over the whole batch, RandomGaussianBlur's kernel_size and sigma are (x,
y)).  RandomElasticTransform's transformation holds its displacement
field (``dx``, ``dy``) where Keras's holds the seed that draws it.  Their randomness is pynn's (the layer's ``seed``
or pynn.utils.set_random_seed), so a draw is Keras's in distribution, not
in value.  No gradient is sent back through them: put them right after
the model's input, as tutorials do.
"""
import math

import numpy as np

from .. import ops
from ..models.node import CallContext
from .augmentation import (RandomBrightness, channels_first_images, RandomContrast, RandomRotation, RandomTranslation,
                           _Augmentation, _bounded_pair, _label, _number,
                           _value_range, _Warp)
from .base import ChannelsFirst, Layer, _moved_shape, shape_str

# tf.image.rgb_to_grayscale's weights, as Keras's rgb_to_grayscale.
_GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], np.float32)


def rgb_to_grayscale(images):
    """Keras 3's ``ops.image.rgb_to_grayscale`` of NHWC images: one channel
    of luminance (a one-channel image as it is)."""
    images = np.asarray(images, np.float32)
    if images.shape[-1] == 1:
        return images.copy()
    return np.tensordot(images, _GRAY_WEIGHTS, axes=(-1, -1))[..., None].astype(np.float32)


def rgb_to_hsv(images):
    """Keras 3's ``ops.image.rgb_to_hsv`` (NHWC, float32): hue, saturation
    and value, hue in [0, 1)."""
    images = np.asarray(images, np.float32)
    eps = np.finfo(np.float32).eps
    images = np.where(np.abs(images) < eps, np.float32(0), images)
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    range_ = value - np.minimum(np.minimum(r, g), b)
    safe_value = np.where(value > 0, value, np.float32(1))
    safe_range = np.where(range_ > 0, range_, np.float32(1))
    saturation = np.where(value > 0, range_ / safe_value, np.float32(0))
    norm = np.float32(1) / (np.float32(6) * safe_range)
    hue = np.where(value == g, norm * (b - r) + np.float32(2 / 6), norm * (r - g) + np.float32(4 / 6))
    hue = np.where(value == r, norm * (g - b), hue)
    hue = np.where(range_ > 0, hue, np.float32(0)) + (hue < 0).astype(np.float32)
    return np.stack([hue, saturation, value], axis=-1).astype(np.float32)


def hsv_to_rgb(images):
    """Keras 3's ``ops.image.hsv_to_rgb`` (NHWC, float32)."""
    images = np.asarray(images, np.float32)
    hue, saturation, value = images[..., 0], images[..., 1], images[..., 2]
    dh = np.mod(hue, np.float32(1)) * np.float32(6)
    one, two = np.float32(1), np.float32(2)
    dr = np.clip(np.abs(dh - np.float32(3)) - one, 0, 1)
    dg = np.clip(two - np.abs(dh - two), 0, 1)
    db = np.clip(two - np.abs(dh - np.float32(4)), 0, 1)
    keep = one - saturation
    return np.stack([value * (keep + saturation * d) for d in (dr, dg, db)],
                    axis=-1).astype(np.float32)


def _rescale(images, source, target):
    """Keras's _transform_value_range: values from ``source`` to
    ``target`` (the identity when they are the same range)."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    lo, hi = np.float32(source[0]), np.float32(source[1])
    unit = (images.astype(np.float32) - lo) / (hi - lo)
    return unit * (np.float32(target[1]) - np.float32(target[0])) + np.float32(target[0])


def _check_rgb(layer, images):
    if images.shape[-1] != 3:
        raise ValueError(f"{_label(layer)}: expects RGB images (3 channels), got shape "
                         f"{shape_str(images.shape)}")


def _rows(transformation, skip):
    """A transformation drawn for a whole batch, cut to the rows from
    ``skip`` on (the rows of a batch split across processes)."""
    if skip == 0:
        return transformation
    return {k: v[skip:] if isinstance(v, np.ndarray) and v.ndim else v
            for k, v in transformation.items()}


def _factor_config(factor):
    return list(factor) if isinstance(factor, tuple) else factor


class _Transforming(_Augmentation):
    """An augmentation in Keras 3's two steps: ``_random_transformation(rng,
    shape)`` (a dict of arrays, one row per image, for a batch of
    ``shape``) and ``_transform(images, transformation)`` (NHWC float32).
    Draws per image: a batch split across processes takes its rows' draws
    (the mixers, whose draw couples the batch's images, set
    ``_per_image = False``)."""
    _per_image = True
    # whether bounding boxes stay where they are (the layer moves no pixel)
    _keeps_boxes = False

    def get_random_transformation(self, images, training=True, seed=None):
        """Keras's draw for ``images`` (a batch or one image), from
        ``seed`` or the layer's generator; None when not training."""
        if not training:
            return None
        shape = np.shape(images)
        if len(shape) == 3:
            shape = (1,) + tuple(shape)
        if self.data_format == "channels_first":
            shape = _moved_shape(shape, -3, -1)
        rng = np.random.default_rng(self._seed() if seed is None else seed)
        return self._random_transformation(rng, tuple(shape))

    def transform_images(self, images, transformation, training=True):
        """``images`` (a batch or one image) transformed by
        ``transformation`` (Keras's keys; a Keras layer's draw works too)."""
        x = np.asarray(images, np.float32)
        if not training or transformation is None:
            return x
        def run(v):
            if v.ndim == 3:
                return self._transform(v[None], transformation)[0]
            return self._transform(v, transformation)
        return channels_first_images(x, run) if self.data_format == "channels_first" else run(x)

    def transform_labels(self, labels, transformation, training=True):
        return labels

    def _augment(self, ctx, x):
        n = x.shape[0]
        skip = ctx.row_offset if self._per_image else 0
        t = self._random_transformation(np.random.default_rng(self._seed()),
                                        (skip + n,) + x.shape[1:])
        return np.ascontiguousarray(self._transform(x, _rows(t, skip)), np.float32)

    def _augment_backward(self, ctx, dy):
        raise NotImplementedError(
            f"{_label(self)}: no gradient is sent back through this augmentation; put the "
            f"augmentation layers before any trainable layer (right after the input), as Keras "
            f"tutorials do")

    def _eager_call(self, inputs, training):
        # Keras's layers take a dict of images and labels (a dataset.map
        # step): the labels follow the images' transformation.
        if not isinstance(inputs, dict):
            return super()._eager_call(inputs, training)
        if "images" not in inputs:
            raise ValueError(f"{_label(self)}: a dict input needs an 'images' entry, got keys "
                             f"{sorted(inputs)}")
        if "bounding_boxes" in inputs:
            if not self._keeps_boxes:
                raise ValueError(f"{_label(self)}: bounding boxes are not transformed by this "
                                 f"layer")
            if not self.bounding_box_format:
                raise ValueError(f"You passed an input with a 'bounding_boxes' key, but you "
                                 f"didn't specify a bounding box format. Pass a "
                                 f"`bounding_box_format` argument to your "
                                 f"{type(self).__name__} layer, e.g. "
                                 f"`bounding_box_format='xyxy'`.")
        training = self._training_default if training is None else bool(training)
        images = np.asarray(inputs["images"], np.float32)
        if images.ndim not in (3, 4):
            raise ValueError(f"{_label(self)}: expected an image (height, width, channels) or "
                             f"a batch of them, got shape {shape_str(images.shape)}")
        self.build_for((None,) + (images.shape if images.ndim == 3 else images.shape[1:]))
        labels = inputs.get("labels")
        if labels is not None:
            labels = np.asarray(labels, np.float32)
        out = dict(inputs)
        out["images"], labels = self._images_and_labels(images, labels, training)
        if labels is not None:
            out["labels"] = labels
        return out

    def _images_and_labels(self, images, labels, training):
        t = self.get_random_transformation(images, training)
        if labels is not None:
            labels = self.transform_labels(labels, t, training) if images.ndim == 4 \
                else self.transform_labels(labels[None], t, training)[0]
        return self.transform_images(images, t, training), labels


class _ValueRange(_Transforming):
    def __init__(self, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, self)

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range)}


class RandomGrayscale(_Transforming):
    """Turns each image to grayscale (its luminance in every channel) with
    probability ``factor``."""
    _keeps_boxes = True

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not (_number(factor) and 0 <= factor <= 1):
            raise ValueError(f"{_label(self)}: factor must be a number in [0, 1], got "
                             f"{factor!r}")
        self.factor = factor

    def _random_transformation(self, rng, shape):
        return {"should_apply": (rng.uniform(0, 1, shape[0]) < self.factor)[:, None, None, None]}

    def _transform(self, x, t):
        if x.shape[-1] not in (1, 3):
            raise ValueError(f"{_label(self)}: expects RGB (3 channels) or grayscale (1 "
                             f"channel) images, got shape {shape_str(x.shape)}")
        apply = t["should_apply"] if isinstance(t, dict) else t
        return np.where(np.reshape(apply, (-1, 1, 1, 1)), rgb_to_grayscale(x), x)

    def get_config(self):
        # Keras 3's RandomGrayscale writes no seed (Keras could not read one
        # back into the config it compares)
        config = {**super().get_config(), "factor": self.factor}
        config.pop("seed", None)
        return config


class RandomHue(_ValueRange):
    """Turns each image's hue by a random fraction of half a turn, in
    ``factor`` (a number f: [0, f]; a pair: the bounds), either way."""
    _keeps_boxes = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)

    def _random_transformation(self, rng, shape):
        n = shape[0]
        invert = np.where(rng.uniform(0, 1, n) > 0.5, -1.0, 1.0)
        return {"factor": (invert * rng.uniform(*self.factor, n) * 0.5).astype(np.float32)}

    def _transform(self, x, t):
        _check_rgb(self, x)
        hsv = rgb_to_hsv(_rescale(x, self.value_range, (0, 1)))
        hue = hsv[..., 0] + np.asarray(t["factor"], np.float32).reshape(-1, 1, 1)
        hue = np.where(hue > 1, hue - np.float32(1), hue)
        hue = np.where(hue < 0, hue + np.float32(1), hue)
        rgb = np.clip(hsv_to_rgb(np.stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1)), 0, 1)
        return _rescale(rgb, (0, 1), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomSaturation(_ValueRange):
    """Scales each image's saturation by ``u / (1 - u)``, u drawn in
    ``factor`` (0.5: unchanged, 0: gray; a number f gives Keras's [-f, f],
    a pair the bounds)."""
    _keeps_boxes = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (-1, 1), "factor", self)

    def _random_transformation(self, rng, shape):
        u = rng.uniform(*self.factor, shape[0]).astype(np.float32)
        return {"factor": u / (np.float32(1) - u + np.float32(1e-7))}

    def _transform(self, x, t):
        _check_rgb(self, x)
        hsv = rgb_to_hsv(x)
        s = np.clip(hsv[..., 1] * np.asarray(t["factor"], np.float32).reshape(-1, 1, 1),
                    *self.value_range)
        return hsv_to_rgb(np.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomColorDegeneration(_ValueRange):
    """Moves each image toward its grayscale by a random fraction in
    ``factor`` (a number f: [-f, f]; a pair: the bounds)."""
    _keeps_boxes = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (-1, 1), "factor", self)

    def _random_transformation(self, rng, shape):
        f = rng.uniform(*self.factor, shape[0]).astype(np.float32)
        return {"factor": f[:, None, None, None]}

    def _transform(self, x, t):
        _check_rgb(self, x)
        f = np.asarray(t["factor"], np.float32).reshape(-1, 1, 1, 1)
        return np.clip(x + f * (rgb_to_grayscale(x) - x), *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


# Keras's (PIL's) smoothing kernel of RandomSharpness.
_SMOOTH = np.full((3, 3), 1 / 13, np.float32)
_SMOOTH[1, 1] = 5 / 13


class RandomSharpness(_ValueRange):
    """Sharpens (or blurs) each image: ``x + (1 - 2 f) (smooth(x) - x)``, f
    drawn in ``factor`` (a number f: [0, f]; a pair: the bounds)."""
    _keeps_boxes = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)

    def _random_transformation(self, rng, shape):
        return {"factor": rng.uniform(*self.factor, shape[0]).astype(np.float32)}

    def _transform(self, x, t):
        sharpness = (np.asarray(t["factor"], np.float32) * 2).reshape(-1, 1, 1, 1)
        kernel = np.ascontiguousarray(np.repeat(_SMOOTH[:, :, None, None], x.shape[-1], 2))
        smoothed = ops.depthwise_conv2d(np.ascontiguousarray(x), kernel, padding="same")
        return np.clip(x + (np.float32(1) - sharpness) * (smoothed - x), *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomPosterization(_ValueRange):
    """Keeps only the top b bits of each 8-bit value, b drawn per image from
    ``factor`` (an integer k in [1, 8]: b in [1, k), as Keras draws it; a
    pair: the bounds; equal bounds: that b)."""
    _keeps_boxes = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)

        def bits(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 1 <= v <= 8
        if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(map(bits, factor)):
            self.factor = tuple(sorted(int(v) for v in factor))
        elif bits(factor):
            self.factor = (1, int(factor))
        else:
            raise ValueError(f"{_label(self)}: factor must be an integer or a pair of integers "
                             f"in [1, 8], got {factor!r}")

    def _random_transformation(self, rng, shape):
        lo, hi = self.factor
        bits = rng.integers(lo, hi, shape[0]) if lo != hi else np.full(shape[0], lo)
        return {"shift_factor": (8 - bits).astype(np.uint8)}

    def _transform(self, x, t):
        shift = np.asarray(t["shift_factor"], np.uint8).reshape(-1, 1, 1, 1)
        v = _rescale(x, self.value_range, (0, 255)).astype(np.uint8)
        v = np.left_shift(np.right_shift(v, shift), shift)
        return _rescale(v.astype(np.float32), (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomInvert(_ValueRange):
    """Replaces an image by ``value_range[1] - image`` with a probability
    drawn per image in ``factor`` (a number f: [0, f]; a pair: the
    bounds)."""
    _keeps_boxes = True

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)

    def _random_transformation(self, rng, shape):
        n = shape[0]
        probability = rng.uniform(*self.factor, n)
        return {"apply_inversion": rng.uniform(0, 1, n) < probability}

    def _transform(self, x, t):
        apply = np.asarray(t["apply_inversion"], bool).reshape(-1, 1, 1, 1)
        return np.where(apply, np.float32(self.value_range[1]) - x, x)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


def _unit_pair(factor, what, layer):
    """Solarization's and RandomShear's factors, checked: a number in [0, 1]
    (as a float) or a pair of them (sorted)."""
    def inside(v):
        return _number(v) and 0 <= v <= 1
    if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(map(inside, factor)):
        return tuple(sorted(float(v) for v in factor))
    if inside(factor):
        return float(factor)
    raise ValueError(f"{_label(layer)}: {what} must be a number or a pair of numbers in "
                     f"[0, 1], got {factor!r}")


class Solarization(_ValueRange):
    """Adds a value drawn per image (up to ``addition_factor`` x 255), then
    inverts (``255 - v``, on the 0-255 scale) every value at or above a
    threshold drawn per image (up to ``threshold_factor`` x 255).  As in
    Keras, only the upper bound of each factor is scaled by 255."""
    _keeps_boxes = True

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, **kwargs):
        super().__init__(value_range, seed=seed, **kwargs)
        self.addition_factor = self._pair(addition_factor, "addition_factor")
        self.threshold_factor = self._pair(threshold_factor, "threshold_factor")

    def _pair(self, factor, what):
        f = _unit_pair(factor, what, self)
        return f if isinstance(f, tuple) else (0.0, f)

    def _random_transformation(self, rng, shape):
        n = shape[0]
        (a0, a1), (t0, t1) = self.addition_factor, self.threshold_factor
        additions = rng.uniform(a0, a1 * 255, n).astype(np.float32)
        thresholds = rng.uniform(t0, t1 * 255, n).astype(np.float32)
        return {"additions": additions.reshape(n, 1, 1, 1),
                "thresholds": thresholds.reshape(n, 1, 1, 1)}

    def _transform(self, x, t):
        v = _rescale(x, self.value_range, (0, 255))
        add = np.asarray(t["additions"], np.float32).reshape(-1, 1, 1, 1)
        threshold = np.asarray(t["thresholds"], np.float32).reshape(-1, 1, 1, 1)
        v = np.clip(v + add, 0, 255)
        v = np.where(v < threshold, v, np.float32(255) - v)
        return _rescale(v, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "addition_factor": list(self.addition_factor),
                "threshold_factor": list(self.threshold_factor)}


class RandomShear(_Warp):
    """Shears each image by a random amount along x (``x_factor``) and y
    (``y_factor``): a number f in [0, 1] gives [-f, f], a pair the bounds;
    both signs flipped together with probability 1/2, as Keras does."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        # As given, for the config: Keras writes the pair it made of a
        # number, (-f, f), which its own constructor then refuses.
        self.x_factor, self.y_factor = _factor_config(x_factor), _factor_config(y_factor)
        self.x_range = self._pair(x_factor, "x_factor")
        self.y_range = self._pair(y_factor, "y_factor")

    def _pair(self, factor, what):
        if isinstance(factor, (tuple, list)) and len(factor) == 2 and \
                all(_number(v) and -1 <= v <= 1 for v in factor):
            return tuple(sorted(float(v) for v in factor))
        f = _unit_pair(factor, what, self)
        return f if isinstance(f, tuple) else (-f, f)

    get_random_transformation = _Transforming.get_random_transformation

    def _random_transformation(self, rng, shape):
        n = shape[0]
        invert = np.where(rng.uniform(0, 1, (n, 1)) > 0.5, -1.0, 1.0)
        shear_y = rng.uniform(*self.y_range, (n, 1))
        shear_x = rng.uniform(*self.x_range, (n, 1))
        factor = (np.concatenate([shear_x, shear_y], axis=1) * invert).astype(np.float32)
        return {"shear_factor": factor, "input_shape": shape}

    def _transforms(self, ctx, n, h, w):
        skip = ctx.row_offset
        t = self._random_transformation(np.random.default_rng(self._seed()), (skip + n, h, w))
        return self._shear_transforms(t["shear_factor"][skip:])

    @staticmethod
    def _shear_transforms(shear):
        shear = np.asarray(shear, np.float64).reshape(-1, 2)
        one, zero = np.ones(len(shear)), np.zeros(len(shear))
        return np.stack([one, shear[:, 0], zero, shear[:, 1], one, zero], axis=1)

    def transform_images(self, images, transformation, training=True):
        x = np.asarray(images, np.float32)
        if not training or transformation is None:
            return x
        single = x.ndim == 3
        y = self.warp(np.ascontiguousarray(x[None] if single else x),
                      self._shear_transforms(transformation["shear_factor"]))
        return y[0] if single else y

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


def _boxes(rng, n, h, w, ratio_x, ratio_y):
    """Keras's random boxes: per image, a box of ``ratio`` times each side,
    its corner uniform where it fits; the mask of pixels inside (n, h, w,
    1), and the box's sides."""
    def bounds(length, ratio):
        size = (ratio * length).astype(np.float32)
        start = rng.uniform(0, 1, n).astype(np.float32) * (np.float32(length) - size)
        return start, start + size
    x0, x1 = bounds(w, ratio_x)
    y0, y1 = bounds(h, ratio_y)
    gx = np.arange(w, dtype=np.float32)[None, None, :]
    gy = np.arange(h, dtype=np.float32)[None, :, None]
    inside = ((gx >= x0[:, None, None]) & (gx < x1[:, None, None]) &
              (gy >= y0[:, None, None]) & (gy < y1[:, None, None]))
    return inside[..., None], (x1 - x0) * (y1 - y0)


class RandomErasing(_ValueRange):
    """Erases a random box in each image (with a probability drawn per
    image in ``factor``), its sides the square roots of fractions drawn in
    ``scale`` of the image's, filled with ``fill_value`` (a number or one per
    channel) or, by default, Gaussian noise times ``value_range[1]``;
    the fill clipped to ``value_range``."""
    _keeps_boxes = True

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)
        self.scale = _bounded_pair(scale, (0, 1), "scale", self)
        ok = fill_value is None or _number(fill_value) or (
            isinstance(fill_value, (tuple, list)) and len(fill_value) == 3 and
            all(map(_number, fill_value)))
        if not ok:
            raise ValueError(f"{_label(self)}: fill_value must be None, a number or a list of "
                             f"three numbers, got {fill_value!r}")
        self.fill_value = list(fill_value) if isinstance(fill_value, (tuple, list)) \
            else fill_value

    def _random_transformation(self, rng, shape):
        n, h, w, c = shape
        ratio = np.sqrt(rng.uniform(*self.scale, (n, 2)).astype(np.float32))
        masks, _ = _boxes(rng, n, h, w, ratio[:, 0], ratio[:, 1])
        probability = rng.uniform(*self.factor, n)
        apply = rng.uniform(0, 1, n) < probability
        if self.fill_value is None:
            fill = rng.standard_normal(shape).astype(np.float32) * np.float32(self.value_range[1])
        else:
            fill = np.broadcast_to(np.asarray(self.fill_value, np.float32), shape)
        return {"apply_erasing": apply, "batch_masks": masks,
                "fill_value": np.clip(fill, *self.value_range).astype(np.float32)}

    def _transform(self, x, t):
        erase = np.asarray(t["batch_masks"], bool) & \
            np.asarray(t["apply_erasing"], bool).reshape(-1, 1, 1, 1)
        return np.where(erase, np.asarray(t["fill_value"], np.float32), x)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "scale": list(self.scale),
                "fill_value": self.fill_value}


class _Mixing(_Transforming):
    """Mixes each image with another of the batch (a random permutation),
    and, given labels (a dict input), the labels by the same weights."""
    _per_image = False

    def transform_labels(self, labels, transformation, training=True):
        if not training or transformation is None:
            return labels
        y = np.asarray(labels, np.float32)
        w = np.asarray(transformation["mix_weight"], np.float32).reshape(
            (-1,) + (1,) * (y.ndim - 1))
        return w * y + (np.float32(1) - w) * y[np.asarray(transformation["permutation_order"])]


class MixUp(_Mixing):
    """Each image becomes ``w x + (1 - w) x[p]``: p a random permutation of
    the batch, w drawn per image from Beta(``alpha``, ``alpha``)."""

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not (_number(alpha) and alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"{_label(self)}: alpha must be a positive number, got {alpha!r}")
        self.alpha = alpha

    def _random_transformation(self, rng, shape):
        n = shape[0]
        return {"permutation_order": rng.permutation(n),
                "mix_weight": rng.beta(self.alpha, self.alpha, n).astype(np.float32)}

    def _transform(self, x, t):
        w = np.asarray(t["mix_weight"], np.float32).reshape(-1, 1, 1, 1)
        return w * x + (np.float32(1) - w) * x[np.asarray(t["permutation_order"])]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_Mixing):
    """Pastes into each image a box of another image of the batch (a random
    permutation): the box covers a fraction ``1 - w`` of the image, w drawn
    from Beta(a, a), a drawn once per batch in ``factor``; the labels mix by
    the fraction each image keeps.  A single image is left as it is."""

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)

    def get_random_transformation(self, images, training=True, seed=None):
        if np.ndim(images) == 3:
            return None
        return super().get_random_transformation(images, training, seed)

    def _random_transformation(self, rng, shape):
        n, h, w, _ = shape
        alpha = np.float32(rng.uniform(*self.factor)) + np.float32(1e-6)
        ratio = np.sqrt(np.float32(1) - rng.beta(alpha, alpha, n).astype(np.float32))
        masks, area = _boxes(rng, n, h, w, ratio, ratio)
        return {"permutation_order": rng.permutation(n), "batch_masks": masks,
                "mix_weight": (np.float32(1) - area / np.float32(w * h)).astype(np.float32)}

    def _transform(self, x, t):
        return np.where(np.asarray(t["batch_masks"], bool),
                        x[np.asarray(t["permutation_order"])], x)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


def _sub_seed(seed, i):
    """The seed of a layer's ``i``-th inner layer: distinct, so that their
    draws are independent."""
    return None if seed is None else seed + 7919 * (i + 1)


def _sub_augment(ctx, layer, x):
    """``layer``'s augmentation of ``x`` in a context of its own (its
    buffers must not be the caller's), drawing the caller's rows."""
    sub = CallContext()
    sub.row_offset = ctx.row_offset
    return layer._augment(sub, np.ascontiguousarray(x, np.float32))


class _Composite(_ValueRange):
    """A layer made of augmentation layers, each drawing its own
    transformation: it is called as a whole."""

    def get_random_transformation(self, images, training=True, seed=None):
        raise NotImplementedError(f"{_label(self)}: its layers draw their own transformations; "
                                  f"call the layer on the images")

    transform_images = get_random_transformation

    def _images_and_labels(self, images, labels, training):
        return _Augmentation._eager_call(self, images, training), labels


class RandomColorJitter(_Composite):
    """RandomBrightness, RandomContrast, RandomSaturation and RandomHue, in
    that order, each where its factor is given."""
    _keeps_boxes = True

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None,
                 **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        vr = self.value_range
        made = [(f, cls) for f, cls in ((brightness_factor, RandomBrightness),
                                        (contrast_factor, RandomContrast),
                                        (saturation_factor, RandomSaturation),
                                        (hue_factor, RandomHue)) if f is not None]
        self._steps = [cls(f, value_range=vr, seed=_sub_seed(seed, i),
                           name=f"{self.name}_{cls.__name__}") for i, (f, cls) in enumerate(made)]

    def _augment(self, ctx, x):
        for step in self._steps:
            x = _sub_augment(ctx, step, x)
        return x

    def get_config(self):
        return {**super().get_config(), "brightness_factor": _factor_config(
            self.brightness_factor), "contrast_factor": _factor_config(self.contrast_factor),
            "saturation_factor": _factor_config(self.saturation_factor),
            "hue_factor": _factor_config(self.hue_factor)}


def _gaussian_kernel(size, sigma):
    """Keras's gaussian_blur kernel: ``size`` (x, y) taps, ``sigma`` (x,
    y), normalised per axis; (rows, columns) = (y, x)."""
    def taps(k, s):
        t = np.arange(k, dtype=np.float32) - np.float32((k - 1) / 2)
        g = np.exp(np.float32(-0.5) * (t / np.float32(s)) ** 2)
        return g / np.sum(g)
    return np.outer(taps(size[1], sigma[1]), taps(size[0], sigma[0])).astype(np.float32)


def _blur(x, size, sigma):
    """Each channel of NHWC ``x`` convolved with the Gaussian kernel, zero
    padded to keep its size."""
    kernel = np.repeat(_gaussian_kernel(size, sigma)[:, :, None, None], x.shape[-1], 2)
    return ops.depthwise_conv2d(np.ascontiguousarray(x, np.float32),
                                np.ascontiguousarray(kernel), padding="same")


def _fixed_index(i, size, fill_mode):
    """Integer positions ``i`` mapped into [0, size) as Keras 3's
    map_coordinates pads for ``fill_mode``; with whether each was inside
    (for 'constant')."""
    inside = (i >= 0) & (i < size)
    if fill_mode in ("constant", "nearest"):
        return np.clip(i, 0, size - 1), inside
    if fill_mode == "wrap":
        return np.mod(i, size), inside
    if fill_mode == "mirror":  # ... 2 1 | 0 1 2 | 1 0 ...
        period = max(2 * size - 2, 1)
        j = np.mod(i, period)
        return np.where(j >= size, period - j, j), inside
    j = np.mod(i, 2 * size)  # 'reflect': ... 1 0 | 0 1 2 | 2 1 ...
    return np.where(j >= size, 2 * size - 1 - j, j), inside


def _sample(images, rows, cols, interpolation, fill_mode, fill_value):
    """``images`` (n, h, w, c) read at (``rows``, ``cols``) (n, H, W), as
    Keras 3's map_coordinates on its NumPy backend (scipy's order 0 or 1
    after padding by ``fill_mode``); float32 (n, H, W, c)."""
    n, h, w, _ = images.shape
    batch = np.arange(n)[:, None, None]
    rows, cols = np.asarray(rows, np.float64), np.asarray(cols, np.float64)

    def read(r, c):
        ri, r_in = _fixed_index(r, h, fill_mode)
        ci, c_in = _fixed_index(c, w, fill_mode)
        v = images[batch, ri, ci].astype(np.float64)
        if fill_mode == "constant":
            v = np.where((r_in & c_in)[..., None], v, fill_value)
        return v
    if interpolation == "nearest":
        out = read(np.floor(rows + 0.5).astype(np.int64), np.floor(cols + 0.5).astype(np.int64))
        return out.astype(np.float32)
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
    out = (read(r0, c0) * (1 - fr) * (1 - fc) + read(r0, c0 + 1) * (1 - fr) * fc +
           read(r0 + 1, c0) * fr * (1 - fc) + read(r0 + 1, c0 + 1) * fr * fc)
    return out.astype(np.float32)


def _odd_sizes(kernel_size, layer):
    def odd(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 and v % 2
    if isinstance(kernel_size, (tuple, list)) and len(kernel_size) == 2 and \
            all(map(odd, kernel_size)):
        return tuple(int(v) for v in kernel_size)
    if odd(kernel_size):
        return (int(kernel_size),) * 2
    raise ValueError(f"{_label(layer)}: kernel_size must be an odd positive integer or a pair "
                     f"of them, got {kernel_size!r}")


class RandomGaussianBlur(_ValueRange):
    """Blurs each image, with a probability drawn per image in ``factor``,
    by a Gaussian of ``kernel_size`` taps (x, y) and standard deviations
    (x, y) drawn once per batch in ``sigma`` (a number s: [0, s]); clipped
    to ``value_range``."""
    _keeps_boxes = True

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)
        self.kernel_size = _odd_sizes(kernel_size, self)
        self.sigma = _bounded_pair(sigma, (0, 1), "sigma", self)

    def _random_transformation(self, rng, shape):
        n = shape[0]
        probability = rng.uniform(*self.factor, n)
        apply = rng.uniform(0, 1, n) < probability
        sigma = rng.uniform(*self.sigma, 2).astype(np.float32) + np.float32(1e-6)
        return {"should_apply_blur": apply, "blur_factor": sigma}

    def _transform(self, x, t):
        blurred = _blur(x, self.kernel_size, np.asarray(t["blur_factor"], np.float32))
        apply = np.asarray(t["should_apply_blur"], bool).reshape(-1, 1, 1, 1)
        return np.clip(np.where(apply, blurred, x), *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "kernel_size": list(self.kernel_size), "sigma": list(self.sigma)}


def _interpolation(value, layer):
    if value not in _Warp.INTERPOLATIONS:
        raise ValueError(f"{_label(layer)}: interpolation must be one of "
                         f"{_Warp.INTERPOLATIONS}, got {value!r}")
    return value


def _homographies(start, end):
    """Keras's compute_homography_matrix: per image the 8 coefficients of
    the projective map taking ``end`` corners (n, 4, 2; x, y) to
    ``start``'s."""
    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    ex, ey, sx, sy = end[..., 0], end[..., 1], start[..., 0], start[..., 1]
    one, zero = np.ones_like(ex), np.zeros_like(ex)
    rows_x = np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1)
    rows_y = np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1)
    a = np.stack([rows_x, rows_y], axis=2).reshape(-1, 8, 8)
    b = np.stack([sx, sy], axis=2).reshape(-1, 8, 1)
    return np.linalg.solve(a, b).reshape(-1, 8).astype(np.float32)


class RandomPerspective(_Transforming):
    """Moves each corner of an image (with a probability drawn per image in
    ``factor``) by up to ``scale / 2`` of its coordinates and warps the
    image to match (outside: ``fill_value``)."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)
        if not (_number(scale) and 0 <= scale <= 1):
            raise ValueError(f"{_label(self)}: scale must be a number in [0, 1], got {scale!r}")
        if not (_number(fill_value) and math.isfinite(fill_value)):
            raise ValueError(f"{_label(self)}: fill_value must be a finite number, got "
                             f"{fill_value!r}")
        self.scale, self.fill_value = scale, fill_value
        self.interpolation = _interpolation(interpolation, self)

    def _random_transformation(self, rng, shape):
        n, h, w = shape[:3]
        probability = rng.uniform(*self.factor, n)
        apply = rng.uniform(0, 1, n) < probability
        moves = rng.uniform(-0.5 * self.scale, 0.5 * self.scale, (n, 4, 2)).astype(np.float32)
        start = np.repeat(np.array([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]],
                                   np.float32), n, axis=0)
        return {"apply_perspective": apply, "start_points": start,
                "end_points": start + start * moves, "input_shape": shape}

    def _transform(self, x, t):
        n, h, w, _ = x.shape
        a = _homographies(t["start_points"], t["end_points"])[:, :, None, None]
        gx = np.arange(w, dtype=np.float32)[None, :]
        gy = np.arange(h, dtype=np.float32)[:, None]
        denom = a[:, 6] * gx + a[:, 7] * gy + np.float32(1)
        cols = (a[:, 0] * gx + a[:, 1] * gy + a[:, 2]) / denom
        rows = (a[:, 3] * gx + a[:, 4] * gy + a[:, 5]) / denom
        warped = _sample(x, rows, cols, self.interpolation, "constant", self.fill_value)
        apply = np.asarray(t["apply_perspective"], bool).reshape(-1, 1, 1, 1)
        return np.where(apply, warped, x)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomElasticTransform(_ValueRange):
    """Displaces each pixel of an image (with a probability drawn per image
    in ``factor``) by a smooth random field: Gaussian noise blurred with
    sigma = min(h, w) s / 20 and scaled by alpha = max(h, w) s / 10, s drawn
    once per batch in ``scale``; clipped to ``value_range``."""
    FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)
        self.scale = _bounded_pair(scale, (0, 1), "scale", self)
        self.interpolation = _interpolation(interpolation, self)
        if fill_mode not in self.FILL_MODES:
            raise ValueError(f"{_label(self)}: fill_mode must be one of {self.FILL_MODES}, "
                             f"got {fill_mode!r}")
        if not (_number(fill_value) and math.isfinite(fill_value)):
            raise ValueError(f"{_label(self)}: fill_value must be a finite number, got "
                             f"{fill_value!r}")
        self.fill_mode, self.fill_value = fill_mode, fill_value

    def _random_transformation(self, rng, shape):
        n, h, w = shape[:3]
        if self.scale[1] == 0 or self.factor[1] == 0:
            return None
        probability = rng.uniform(*self.factor, n)
        apply = rng.uniform(0, 1, n) < probability
        s = np.float32(rng.uniform(*self.scale))
        alpha, sigma = np.float32(max(h, w) * 0.1 * s), np.float32(min(h, w) * 0.05 * s)
        field = rng.standard_normal((2, n, h, w, 1)).astype(np.float32) * sigma
        size = (int(6 * sigma) | 1,) * 2
        dx, dy = (alpha * _blur(f, size, (sigma, sigma))[..., 0] for f in field)
        return {"apply_transform": apply, "dx": dx, "dy": dy}

    def _augment(self, ctx, x):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return x
        return super()._augment(ctx, x)

    def _transform(self, x, t):
        if t is None:
            return x
        n, h, w, _ = x.shape
        cols = np.arange(w, dtype=np.float32)[None, None, :] + np.asarray(t["dx"], np.float32)
        rows = np.arange(h, dtype=np.float32)[None, :, None] + np.asarray(t["dy"], np.float32)
        warped = _sample(x, rows, cols, self.interpolation, self.fill_mode, self.fill_value)
        apply = np.asarray(t["apply_transform"], bool).reshape(-1, 1, 1, 1)
        return np.clip(np.where(apply, warped, x), *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "scale": list(self.scale),
                "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value}


class _Deterministic(ChannelsFirst, Layer):
    """A fixed image transformation (no draw, no weights), Keras's
    ``transform_images(images, transformation=None)``."""
    fixed_input_axes = ()
    rank = 2  # (the images' spatial axes, for ChannelsFirst)

    def __init__(self, value_range=(0, 255), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._set_data_format(data_format, _label(self))
        self.value_range = _value_range(value_range, self)

    compute_output_shape = _Augmentation.compute_output_shape

    def _eager_call(self, inputs, training):
        if np.ndim(inputs) == 3:  # a single image, as Keras takes it
            return super()._eager_call(np.asarray(inputs)[None], training)[0]
        return super()._eager_call(inputs, training)

    def transform_images(self, images, transformation=None, training=True):
        x = np.asarray(images, np.float32)
        if not training:
            return x
        def run(v):
            return self._transform(v[None])[0] if v.ndim == 3 else self._transform(v)
        return channels_first_images(x, run) if self.data_format == "channels_first" else run(x)

    def backward(self, ctx, dy, need_input_grad=True):
        if need_input_grad and ctx.transformed:
            raise NotImplementedError(f"{_label(self)}: no gradient is sent back through "
                                      f"this layer; put it right after the model's input")
        return dy if need_input_grad else None

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range),
                "data_format": self.data_format}


class AutoContrast(_Deterministic):
    """Stretches each channel of each image to fill ``value_range`` (a
    constant channel is left as it is).  Applied at inference too, as
    Keras does."""

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(value_range, **kwargs)

    def _transform(self, x):
        v = _rescale(x, self.value_range, (0, 255)).astype(np.float32)
        low = v.min(axis=(1, 2), keepdims=True)
        high = v.max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.float32(255) / (high - low)
            v = np.clip(v * scale + (-low * scale), 0, 255)
            out = _rescale(v, (0, 255), self.value_range)
        return np.where(np.isnan(out), x, out).astype(np.float32)

    def forward(self, ctx, x, training):
        ctx.transformed = True
        return np.ascontiguousarray(self._transform(x), np.float32)


class Equalization(_Deterministic):
    """Equalizes the histogram (``bins`` bins) of each channel, the
    histogram taken over the whole batch as Keras does.  The identity at
    inference."""
    inference_identity = True
    _training_default = True

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(value_range, data_format=data_format, **kwargs)
        if not (isinstance(bins, (int, np.integer)) and not isinstance(bins, bool) and
                bins >= 2):
            raise ValueError(f"{_label(self)}: bins must be an integer >= 2, got {bins!r}")
        self.bins = int(bins)

    def _transform(self, x):
        bins, (lo, hi) = self.bins, self.value_range
        c = x.shape[-1]
        # Keras compares its sorted list with a tuple, so it always scales.
        to_255 = 255.0 / (hi - lo)
        v = x * to_255 + (0 - lo * to_255)
        v = v.astype(np.float32)
        channels = np.moveaxis(v, -1, 0).reshape(c, -1)
        index = np.clip((channels * np.float32(bins - 1) / np.float32(255)).astype(np.int32),
                        0, bins - 1)
        hist = np.bincount((index + np.arange(c)[:, None] * bins).ravel(),
                           minlength=c * bins).reshape(c, bins)
        cdf = np.cumsum(hist, axis=1)
        cdf_min = np.take_along_axis(cdf, np.argmax(cdf > 0, axis=1)[:, None], axis=1)
        denominator = cdf[:, -1:] - cdf_min
        denominator = np.where(denominator == 0, 1, denominator)
        table = np.clip(np.round((cdf - cdf_min) * 255 / denominator), 0, 255)
        look = np.clip((channels / np.float32(255)) * np.float32(bins - 1), 0,
                       bins - 1).astype(np.int32)
        equalized = np.take_along_axis(table, look, axis=1)
        equalized = np.where((np.count_nonzero(hist, axis=1) <= 1)[:, None], channels,
                             equalized)
        equalized = np.moveaxis(equalized.reshape((c,) + v.shape[:-1]), 0, -1)
        back = (hi - lo) / 255.0
        return (equalized * back + (lo - 0 * back)).astype(np.float32)

    def forward(self, ctx, x, training):
        ctx.transformed = bool(training) and not ctx.inference_behaviour
        if not ctx.transformed:
            return x
        return np.ascontiguousarray(self._transform(x), np.float32)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}


def _operations(factor, value_range, interpolation, seed):
    """The operations RandAugment and AugMix pick from, as Keras makes
    them from their ``factor`` (a pair) and settings, by Keras's names."""
    def warp(i):
        return {"interpolation": interpolation, "seed": _sub_seed(seed, i)}

    def color(i):
        return {"value_range": value_range, "seed": _sub_seed(seed, i)}
    return {"random_shear": RandomShear(factor, factor, **warp(0)),
            "random_translation": RandomTranslation(factor, factor, **warp(1)),
            "random_rotation": RandomRotation(factor, **warp(2)),
            "random_brightness": RandomBrightness(factor, **color(3)),
            "random_color_degeneration": RandomColorDegeneration(factor, **color(4)),
            "random_contrast": RandomContrast(factor, **color(5)),
            "random_sharpness": RandomSharpness(factor, **color(6)),
            "random_posterization": RandomPosterization(max(1, int(8 * factor[1])), **color(7)),
            "solarization": Solarization(factor, factor, **color(8)),
            "auto_contrast": AutoContrast(value_range),
            "equalization": Equalization(value_range)}


def _apply(ctx, op, x):
    """One operation of RandAugment or AugMix on the batch ``x``."""
    return _sub_augment(ctx, op, x) if isinstance(op, _Augmentation) else op._transform(x)


class RandAugment(_Composite):
    """Applies ``num_ops`` operations, each picked at random per batch from
    Keras's eleven (shear, translation, rotation, brightness, colour
    degeneration, contrast, sharpness, posterization, solarization,
    auto-contrast, equalization), each with its strength drawn in
    ``factor`` (a number f: [0, f]; a pair: the bounds)."""

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        if not (isinstance(num_ops, (int, np.integer)) and not isinstance(num_ops, bool) and
                num_ops >= 0):
            raise ValueError(f"{_label(self)}: num_ops must be a non-negative integer, got "
                             f"{num_ops!r}")
        self.num_ops = int(num_ops)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)
        self.interpolation = _interpolation(interpolation, self)
        self._ops = list(_operations(self.factor, self.value_range, interpolation,
                                     seed).values())

    def _augment(self, ctx, x):
        picks = np.random.default_rng(self._seed()).integers(0, len(self._ops), self.num_ops)
        for i in picks:
            x = _apply(ctx, self._ops[i], x)
        return np.ascontiguousarray(x, np.float32)

    def get_config(self):
        return {**super().get_config(), "num_ops": self.num_ops, "factor": list(self.factor),
                "interpolation": self.interpolation}


class Pipeline(Layer):
    """Keras 3's Pipeline: ``layers`` (preprocessing layers, without
    weights) applied in turn, each with the call's ``training``; the
    identity at inference when each of them is."""
    _training_default = True
    fixed_input_axes = ()

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not (isinstance(layers, (list, tuple)) and all(isinstance(l, Layer) for l in layers)):
            raise ValueError(f"{_label(self)}: layers must be a list of layers, got {layers!r}")
        for layer in layers:
            if layer.weights:
                raise ValueError(f"{_label(self)}: holds preprocessing layers without weights; "
                                 f"{_label(layer)} has weights (use a Sequential model)")
        self._pipeline_layers = list(layers)

    @property
    def inference_identity(self):
        # (the graph passes drop a pipeline of layers that all are)
        return all(l.inference_identity for l in self._pipeline_layers)

    @property
    def layers(self):
        return self._pipeline_layers

    def compute_output_shape(self, input_shape):
        for layer in self._pipeline_layers:
            input_shape = layer.build_for(input_shape)
        return input_shape

    def _eager_call(self, inputs, training):
        if isinstance(inputs, dict):  # images and labels
            training = self._training_default if training is None else training
            for layer in self._pipeline_layers:
                if isinstance(layer, _Transforming):  # (its labels follow its images)
                    inputs = layer(inputs, training=training)
                else:
                    inputs = {**inputs, "images": layer(inputs["images"], training=training)}
            return inputs
        if np.ndim(inputs) == 3:
            return super()._eager_call(np.asarray(inputs)[None], training)[0]
        return super()._eager_call(inputs, training)

    def forward(self, ctx, x, training):
        ctx.steps = []
        for layer in self._pipeline_layers:
            sub = CallContext()
            sub.row_offset, sub.device = ctx.row_offset, ctx.device
            sub.inference_behaviour = ctx.inference_behaviour
            x = layer.forward(sub, x, training)
            ctx.steps.append(sub)
        return x

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        for layer, sub in zip(reversed(self._pipeline_layers), reversed(ctx.steps)):
            dy = layer.backward(sub, dy, True)
        return dy

    def get_config(self):
        from ..saving.config import serialize_layer
        return {"name": self.name, "layers": [serialize_layer(l) for l in self.layers]}

    @classmethod
    def from_config(cls, config):
        from ..saving.config import deserialize_layer
        config = dict(config)
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"Pipeline: the config must hold a list of layers under 'layers', "
                             f"got {layers!r}")
        config["layers"] = [l if isinstance(l, Layer) else deserialize_layer(l) for l in layers]
        return cls(**config)


class AugMix(_Composite):
    """Mixes each batch with ``num_chains`` augmented copies of it: each
    copy through up to ``chain_depth`` operations picked at random
    (Keras's eleven with ``all_ops``, else its seven that leave colours be
    but posterization, solarization, auto-contrast and equalization), the
    copies weighted by Dirichlet(``alpha``) weights, then mixed with the
    batch by a Beta(``alpha``, ``alpha``) weight; clipped to
    ``value_range``."""
    _MIXING_OPS = ("random_shear", "random_translation", "random_rotation",
                   "random_posterization", "solarization", "auto_contrast", "equalization")

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3,
                 alpha=1.0, all_ops=True, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(value_range, seed=seed, data_format=data_format, **kwargs)
        for what, v in (("num_chains", num_chains), ("chain_depth", chain_depth)):
            if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"{_label(self)}: {what} must be a positive integer, got {v!r}")
        if not (_number(alpha) and alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"{_label(self)}: alpha must be a positive number, got {alpha!r}")
        self.num_chains, self.chain_depth = int(num_chains), int(chain_depth)
        self.factor = _bounded_pair(factor, (0, 1), "factor", self)
        self.alpha, self.all_ops = alpha, bool(all_ops)
        self.interpolation = _interpolation(interpolation, self)
        ops_by_name = _operations(self.factor, self.value_range, interpolation, seed)
        self._ops = list(ops_by_name.values()) if self.all_ops else \
            [ops_by_name[k] for k in self._MIXING_OPS]

    def _augment(self, ctx, x):
        rng = np.random.default_rng(self._seed())
        weights = rng.dirichlet([self.alpha] * self.num_chains).astype(np.float32)
        keep = np.float32(rng.beta(self.alpha, self.alpha))
        mixed = np.zeros_like(x)
        for weight in weights:
            chain = x
            for pick in rng.integers(0, len(self._ops) + 1, self.chain_depth):
                if pick < len(self._ops):  # (the last pick is Keras's None: no operation)
                    chain = _apply(ctx, self._ops[pick], chain)
            mixed += chain * weight
        out = np.clip(keep * x + (np.float32(1) - keep) * mixed, *self.value_range)
        return np.ascontiguousarray(out, np.float32)

    def get_config(self):
        return {**super().get_config(), "num_chains": self.num_chains,
                "chain_depth": self.chain_depth, "factor": list(self.factor),
                "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation}
