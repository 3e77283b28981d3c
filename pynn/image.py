"""TensorFlow's ``tf.image`` for programs ported with ``import pynn as tf``.

Each function takes one image (height, width, channels) or a batch
(batch, height, width, channels), TensorFlow's argument names and
defaults, and computes what TensorFlow documents through pynn.ops (the
resize kernel of the Resizing layer, flips, crops and pads, the HSV
conversions of the colour augmentation layers), so that values a
GradientTape traces keep recording.  Results are eager tensors.

``random_*`` draw from pynn's seeded generator (or from one seeded with
an integer ``seed``); ``stateless_random_*`` from a generator seeded with
the pair ``seed``: the same pair gives the same result.  Decoding and
encoding files need Pillow (the ``image`` extra).
"""
import collections
import io as _io

import numpy as np

from . import ops
from . import random as _random
from .backend import _eager_results
from .dtypes import as_dtype
from .tensor import Tensor
from .utils.image_resize import pad_box


class ResizeMethod:
    """TensorFlow's method names for :func:`resize`."""
    BILINEAR = "bilinear"
    NEAREST_NEIGHBOR = "nearest"
    BICUBIC = "bicubic"
    AREA = "area"
    LANCZOS3 = "lanczos3"
    LANCZOS5 = "lanczos5"
    GAUSSIAN = "gaussian"
    MITCHELLCUBIC = "mitchellcubic"


_METHODS = ops.RESIZE_INTERPOLATIONS
CombinedNonMaxSuppression = collections.namedtuple(
    "CombinedNonMaxSuppression", ["nmsed_boxes", "nmsed_scores", "nmsed_classes",
                                  "valid_detections"])


def _batch(name, images):
    """(the images as a batch, a function giving a result the input's rank)."""
    rank = ops.ndim(images)
    if rank not in (3, 4):
        raise ValueError(f"tf.image.{name}: expected one image (height, width, channels) or a "
                         f"batch (batch, height, width, channels), got shape "
                         f"{tuple(ops.shape(images))}")
    if rank == 4:
        return images, lambda y: y
    return ops.expand_dims(images, 0), lambda y: ops.squeeze(y, 0)


def _dtype(x):
    return np.asarray(ops._plain(x)).dtype


def _float(x):
    """Floating images as they are, others as float32 (their values kept)."""
    return x if _dtype(x).kind == "f" else ops.cast(x, "float32")


def _like(y, dtype):
    """``y`` back in an integer images' dtype (rounded and clipped to its
    range, as TensorFlow's saturating casts); float results stay."""
    if np.dtype(dtype).kind == "f":
        return y
    info = np.iinfo(dtype)
    return ops.cast(ops.clip(ops.round(y), info.min, info.max), np.dtype(dtype).name)


# ---------------------------------------------------------------- sizes

def _size(size, name):
    try:
        h, w = (int(v) for v in np.asarray(ops.convert_to_numpy(size)).ravel())
    except (TypeError, ValueError):
        raise ValueError(f"tf.image.{name}: size must be two integers (height, width), got "
                         f"{size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"tf.image.{name}: size must be positive, got {(h, w)}")
    return h, w


def resize(images, size, method="bilinear", preserve_aspect_ratio=False, antialias=False,
           name=None):
    """Images resized to ``size`` (height, width) with half-pixel centres,
    'bilinear', 'bicubic', 'lanczos3', 'lanczos5' (float32 results) or
    'nearest' (the input's dtype), through the Resizing layer's kernels.
    ``preserve_aspect_ratio``: the largest size within ``size`` of the
    input's aspect ratio.  ``antialias``: a shrinking kernel widens to
    cover every input pixel.  Near the edges the kernel's taps past the
    image are left out and the rest renormalized, as Keras 3 and JAX
    resample (TensorFlow's bicubic without antialias repeats the edge
    pixel instead; the two differ in the outer two rows and columns).
    'area' averages the input cells each output pixel covers (antialias
    changes nothing); 'gaussian' and 'mitchellcubic' are TensorFlow's
    kernels, resampled as its scale_and_translate."""
    method = str(method).lower()
    if method not in _METHODS:
        raise ValueError(f"tf.image.resize: method {method!r} is not supported; use one of "
                         f"{list(_METHODS)}")
    x, back = _batch("resize", images)
    h, w = ops.shape(x)[1:3]
    th, tw = _size(size, "resize")
    if preserve_aspect_ratio:
        scale = min(th / h, tw / w)
        th, tw = max(int(round(h * scale)), 1), max(int(round(w * scale)), 1)
    dtype = _dtype(x)
    out = x if (th, tw) == (h, w) and method == "nearest" else \
        ops.resize(_float(x), (th, tw), interpolation=method, antialias=antialias)
    if method == "nearest" and dtype != np.float32:
        out = ops.cast(out, dtype.name)  # (values copied, exact)
    return back(out)


def resize_with_pad(image, target_height, target_width, method="bilinear", antialias=False):
    """The image resized to fit (height, width) without distortion and
    centred in zeros of that size."""
    x, back = _batch("resize_with_pad", image)
    h, w = ops.shape(x)[1:3]
    top, left, rh, rw = pad_box(h, w, (int(target_height), int(target_width)))
    y = resize(x, (rh, rw), method=method, antialias=antialias)
    return back(ops.image.pad_images(y, top_padding=top, left_padding=left,
                               target_height=int(target_height),
                               target_width=int(target_width)))


def crop_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """The window of ``target_height`` x ``target_width`` at (offset_height,
    offset_width)."""
    x, back = _batch("crop_to_bounding_box", image)
    h, w = ops.shape(x)[1:3]
    top, left, th, tw = (int(v) for v in (offset_height, offset_width, target_height,
                                          target_width))
    if min(top, left) < 0 or min(th, tw) < 1 or top + th > h or left + tw > w:
        raise ValueError(f"tf.image.crop_to_bounding_box: a {th}x{tw} window at "
                         f"({top}, {left}) does not fit images of {h}x{w}")
    return back(x[:, top:top + th, left:left + tw, :])


def pad_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """The image placed at (offset_height, offset_width) in zeros of
    ``target_height`` x ``target_width``."""
    x, back = _batch("pad_to_bounding_box", image)
    h, w = ops.shape(x)[1:3]
    top, left, th, tw = (int(v) for v in (offset_height, offset_width, target_height,
                                          target_width))
    if min(top, left) < 0 or top + h > th or left + w > tw:
        raise ValueError(f"tf.image.pad_to_bounding_box: images of {h}x{w} at ({top}, {left}) "
                         f"do not fit {th}x{tw}")
    return back(ops.pad(x, [(0, 0), (top, th - top - h), (left, tw - left - w), (0, 0)]))


def resize_with_crop_or_pad(image, target_height, target_width):
    """The image centred in ``target_height`` x ``target_width``: cropped
    where larger, padded with zeros where smaller (the offsets of an odd
    difference rounded down, as TensorFlow's)."""
    x, back = _batch("resize_with_crop_or_pad", image)
    h, w = ops.shape(x)[1:3]
    th, tw = int(target_height), int(target_width)
    ch, cw = min(h, th), min(w, tw)
    x = crop_to_bounding_box(x, max((h - th) // 2, 0), max((w - tw) // 2, 0), ch, cw)
    top, left = max((th - h) // 2, 0), max((tw - w) // 2, 0)
    return back(ops.pad(x, [(0, 0), (top, th - top - ch), (left, tw - left - cw), (0, 0)]))


def central_crop(image, central_fraction):
    """The central ``central_fraction`` (0 < f <= 1) of each side."""
    f = float(central_fraction)
    if not 0.0 < f <= 1.0:
        raise ValueError(f"tf.image.central_crop: central_fraction must be in (0, 1], got {f}")
    x, back = _batch("central_crop", image)
    h, w = ops.shape(x)[1:3]
    top, left = int((h - h * f) / 2), int((w - w * f) / 2)
    return back(x[:, top:h - top, left:w - left, :])


# ---------------------------------------------------------- orientation

def flip_left_right(image):
    return ops.flip(image, axis=-2)


def flip_up_down(image):
    return ops.flip(image, axis=-3)


def rot90(image, k=1, name=None):
    """The image rotated ``k`` quarter turns counter-clockwise."""
    x, back = _batch("rot90", image)
    return back(ops.rot90(x, k=int(k), axes=(1, 2)))


def transpose(image, name=None):
    """Height and width swapped."""
    x, back = _batch("transpose", image)
    return back(ops.transpose(x, (0, 2, 1, 3)))


# --------------------------------------------------------------- colour

def convert_image_dtype(image, dtype, saturate=False, name=None):
    """Images in another dtype with their values rescaled as TensorFlow's:
    integers as fractions of their dtype's maximum in floats, floats in
    [0, 1) scaled by (max + 0.5) in integers, and integers shifted between
    integer dtypes; floats to floats keep their values."""
    src, dst = _dtype(image), np.dtype(as_dtype(dtype).as_numpy_dtype)
    if src == dst:
        return image
    if src.kind == "f" and dst.kind == "f":
        return ops.cast(image, dst.name)
    if src.kind in "iu" and dst.kind == "f":
        return ops.multiply(ops.cast(image, dst.name), 1.0 / np.iinfo(src).max)
    a = np.asarray(ops.convert_to_numpy(image))
    if src.kind == "f":
        scaled = a.astype(np.float64) * (np.iinfo(dst).max + 0.5)
        if saturate:
            scaled = np.clip(scaled, np.iinfo(dst).min, np.iinfo(dst).max)
        return scaled.astype(dst)
    if src.kind in "iu" and dst.kind in "iu":  # by bit shifts of the magnitude
        shift = 8 * (src.itemsize - dst.itemsize) - (src.kind == "i") + (dst.kind == "i")
        v = a.astype(np.int64)
        v = v >> shift if shift > 0 else v << -shift
        return v.astype(dst)
    raise TypeError(f"tf.image.convert_image_dtype: cannot convert {src} to {dst}")


def rgb_to_grayscale(images, name=None):
    """The luma (0.2989 R + 0.5870 G + 0.1140 B), one channel."""
    return ops.image.rgb_to_grayscale(images)


def grayscale_to_rgb(images, name=None):
    """The one channel repeated as R, G and B."""
    if ops.shape(images)[-1] != 1:
        raise ValueError(f"tf.image.grayscale_to_rgb: expected one channel, got shape "
                         f"{tuple(ops.shape(images))}")
    return ops.concatenate([images] * 3, axis=-1)


def rgb_to_hsv(images, name=None):
    return ops.image.rgb_to_hsv(images)


def hsv_to_rgb(images, name=None):
    return ops.image.hsv_to_rgb(images)


# TensorFlow's matrices (RGB in [0, 1] to YUV or YIQ and back): the
# conversions are one product over the channel axis.
_RGB_TO_YUV = [[0.299, -0.14714119, 0.61497538],
               [0.587, -0.28886916, -0.51496512],
               [0.114, 0.43601035, -0.10001026]]
_YUV_TO_RGB = [[1, 1, 1], [0, -0.394642334, 2.03206185], [1.13988303, -0.58062185, 0]]
_RGB_TO_YIQ = [[0.299, 0.59590059, 0.2115],
               [0.587, -0.27455667, -0.52273617],
               [0.114, -0.32134392, 0.31119955]]
_YIQ_TO_RGB = [[1, 1, 1], [0.95598634, -0.27201283, -1.10674021],
               [0.6208248, -0.64720424, 1.70423049]]


def _colour_product(name, images, matrix):
    shape = tuple(ops.shape(images))
    if len(shape) < 1 or shape[-1] != 3:
        raise ValueError(f"tf.image.{name}: expected images whose last axis holds 3 channels, "
                         f"got shape {shape}")
    images = _float(images)
    kernel = np.asarray(matrix, dtype=_dtype(images))
    return ops.tensordot(images, kernel, axes=[[len(shape) - 1], [0]])


def rgb_to_yuv(images, name=None):
    return _colour_product("rgb_to_yuv", images, _RGB_TO_YUV)


def yuv_to_rgb(images, name=None):
    return _colour_product("yuv_to_rgb", images, _YUV_TO_RGB)


def rgb_to_yiq(images, name=None):
    return _colour_product("rgb_to_yiq", images, _RGB_TO_YIQ)


def yiq_to_rgb(images, name=None):
    return _colour_product("yiq_to_rgb", images, _YIQ_TO_RGB)


def adjust_brightness(image, delta):
    """image + delta (integer images: in [0, 1] floats, back in their dtype)."""
    dtype = _dtype(image)
    if dtype.kind == "f":
        return ops.add(image, float(delta))
    return convert_image_dtype(ops.add(convert_image_dtype(image, "float32"), float(delta)),
                               dtype, saturate=True)


def adjust_contrast(images, contrast_factor):
    """(x - mean) * contrast_factor + mean, the mean of each channel of each
    image over its height and width."""
    dtype = _dtype(images)
    x = _float(images)
    mean = ops.mean(x, axis=(-3, -2), keepdims=True)
    y = ops.add(ops.multiply(ops.subtract(x, mean), float(contrast_factor)), mean)
    return _like(y, dtype)


def _hsv_adjusted(name, image, adjust):
    dtype = _dtype(image)
    x = image if dtype.kind == "f" else convert_image_dtype(image, "float32")
    h, s, v = ops.unstack(ops.image.rgb_to_hsv(x), axis=-1)
    y = ops.image.hsv_to_rgb(ops.stack(adjust(h, s, v), axis=-1))
    return y if dtype.kind == "f" else convert_image_dtype(y, dtype, saturate=True)


def adjust_saturation(image, saturation_factor, name=None):
    """RGB images with their HSV saturation scaled (and clipped to [0, 1])."""
    f = float(saturation_factor)
    return _hsv_adjusted("adjust_saturation", image,
                         lambda h, s, v: [h, ops.clip(ops.multiply(s, f), 0.0, 1.0), v])


def adjust_hue(image, delta, name=None):
    """RGB images with their hue turned by ``delta`` (in [-1, 1]) of a full turn."""
    d = float(delta)
    if not -1.0 <= d <= 1.0:
        raise ValueError(f"tf.image.adjust_hue: delta must be in [-1, 1], got {d}")
    return _hsv_adjusted("adjust_hue", image, lambda h, s, v: [ops.mod(ops.add(h, d), 1.0), s, v])


def adjust_gamma(image, gamma=1, gain=1):
    """gain * image ** gamma (integer images as fractions of their range)."""
    if float(gamma) < 0:
        raise ValueError(f"tf.image.adjust_gamma: gamma must be >= 0, got {gamma}")
    dtype = _dtype(image)
    if dtype.kind == "f":
        return ops.multiply(ops.power(image, float(gamma)), float(gain))
    x = convert_image_dtype(image, "float32")
    return convert_image_dtype(ops.multiply(ops.power(x, float(gamma)), float(gain)), dtype,
                               saturate=True)


def per_image_standardization(image):
    """Each image scaled to mean 0 and variance 1: (x - mean) /
    max(stddev, 1 / sqrt(number of values)), float32."""
    x, back = _batch("per_image_standardization", image)
    x = ops.cast(x, "float32") if _dtype(x) != np.float32 else x
    n = int(np.prod(ops.shape(x)[1:]))
    mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    std = ops.std(x, axis=(1, 2, 3), keepdims=True)
    return back(ops.divide(ops.subtract(x, mean), ops.maximum(std, 1.0 / np.sqrt(n))))


def total_variation(images, name=None):
    """The sum of the absolute differences of neighbouring pixel values
    (down and across, all channels) of each image: a scalar for one image,
    one value per image for a batch, as TensorFlow's."""
    x, back = _batch("total_variation", images)
    x = _float(x)
    down = ops.abs(ops.subtract(x[:, 1:, :, :], x[:, :-1, :, :]))
    across = ops.abs(ops.subtract(x[:, :, 1:, :], x[:, :, :-1, :]))
    total = ops.add(ops.sum(down, axis=(1, 2, 3)), ops.sum(across, axis=(1, 2, 3)))
    return total if ops.ndim(images) == 4 else ops.squeeze(total, 0)


# ----------------------------------------------------------- random ones

def _flip_some(image, axis, gen, name):
    x, back = _batch(name, image)
    flip = gen.random(ops.shape(x)[0]) < 0.5
    mask = flip.reshape(-1, 1, 1, 1)
    return back(ops.where(mask, ops.flip(x, axis=axis), x))


def _stateless(seed, name):
    return _random.pair_generator(seed, f"tf.image.{name}")


def random_flip_left_right(image, seed=None):
    """Each image flipped left to right with probability 1/2."""
    return _flip_some(image, 2, _random._generator(seed), "random_flip_left_right")


def random_flip_up_down(image, seed=None):
    """Each image flipped upside down with probability 1/2."""
    return _flip_some(image, 1, _random._generator(seed), "random_flip_up_down")


def _check_range(name, lower, upper, low=0.0):
    if not low <= float(lower) < float(upper):
        raise ValueError(f"tf.image.{name}: need {low} <= lower < upper, got lower={lower}, "
                         f"upper={upper}")


def random_brightness(image, max_delta, seed=None):
    """adjust_brightness by one delta drawn from [-max_delta, max_delta)."""
    if float(max_delta) < 0:
        raise ValueError(f"tf.image.random_brightness: max_delta must be >= 0, got {max_delta}")
    return adjust_brightness(image, _random._generator(seed).uniform(-max_delta, max_delta))


def random_contrast(image, lower, upper, seed=None):
    """adjust_contrast by one factor drawn from [lower, upper)."""
    _check_range("random_contrast", lower, upper)
    return adjust_contrast(image, _random._generator(seed).uniform(lower, upper))


def random_saturation(image, lower, upper, seed=None):
    """adjust_saturation by one factor drawn from [lower, upper)."""
    _check_range("random_saturation", lower, upper)
    return adjust_saturation(image, _random._generator(seed).uniform(lower, upper))


def random_hue(image, max_delta, seed=None):
    """adjust_hue by one delta drawn from [-max_delta, max_delta], max_delta <= 0.5."""
    if not 0.0 <= float(max_delta) <= 0.5:
        raise ValueError(f"tf.image.random_hue: max_delta must be in [0, 0.5], got {max_delta}")
    return adjust_hue(image, _random._generator(seed).uniform(-max_delta, max_delta))


def _crop(value, size, gen, name):
    shape = tuple(ops.shape(value))
    size = tuple(int(v) for v in np.asarray(ops.convert_to_numpy(size)).ravel())
    if len(size) != len(shape) or any(s < 0 or s > d for s, d in zip(size, shape)):
        raise ValueError(f"tf.image.{name}: size {size} must have one entry per axis of the "
                         f"value's shape {shape}, each at most that axis's size")
    starts = [int(gen.integers(0, d - s + 1)) for s, d in zip(size, shape)]
    return value[tuple(slice(a, a + s) for a, s in zip(starts, size))]


def sample_distorted_bounding_box(image_size, bounding_boxes, seed=None,
                                  min_object_covered=0.1, aspect_ratio_range=None,
                                  area_range=None, max_attempts=None,
                                  use_image_if_no_bounding_boxes=None, name=None):
    """TensorFlow's random crop window for an image of ``image_size``
    (height, width, channels): ``(begin, size, bboxes)`` for tf.slice, the
    window's aspect ratio within ``aspect_ratio_range``, its area a
    fraction ``area_range`` of the image's, covering at least
    ``min_object_covered`` of one of ``bounding_boxes`` ((1, n, 4),
    [y_min, x_min, y_max, x_max] in [0, 1]; none: the whole image, with
    ``use_image_if_no_bounding_boxes``).  After ``max_attempts`` draws
    that fail, the whole image."""
    h, w = (int(v) for v in np.ravel(np.asarray(image_size))[:2])
    boxes = np.asarray(bounding_boxes, np.float64).reshape(-1, 4)
    if boxes.size == 0:
        if not use_image_if_no_bounding_boxes:
            raise ValueError("tf.image.sample_distorted_bounding_box: no bounding boxes; give "
                             "some or use_image_if_no_bounding_boxes=True")
        boxes = np.array([[0.0, 0.0, 1.0, 1.0]])
    lo_ar, hi_ar = aspect_ratio_range or (0.75, 1.33)
    lo_area, hi_area = area_range or (0.05, 1.0)
    rng = _random._generator(seed)
    pixels = boxes * [h, w, h, w]
    for _ in range(int(max_attempts or 100)):
        ratio = rng.uniform(lo_ar, hi_ar)
        area = rng.uniform(lo_area, hi_area) * h * w
        ch, cw = int(round(np.sqrt(area / ratio))), int(round(np.sqrt(area * ratio)))
        if not (0 < ch <= h and 0 < cw <= w):
            continue
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        inter_h = np.clip(np.minimum(pixels[:, 2], y + ch) - np.maximum(pixels[:, 0], y), 0, None)
        inter_w = np.clip(np.minimum(pixels[:, 3], x + cw) - np.maximum(pixels[:, 1], x), 0, None)
        box_area = np.maximum((pixels[:, 2] - pixels[:, 0]) * (pixels[:, 3] - pixels[:, 1]), 1e-12)
        if (inter_h * inter_w / box_area >= min_object_covered).any():
            break
    else:
        y, x, ch, cw = 0, 0, h, w
    begin = np.array([y, x, 0], np.int32)
    size = np.array([ch, cw, -1], np.int32)
    bbox = np.array([[[y / h, x / w, (y + ch) / h, (x + cw) / w]]], np.float32)
    return begin, size, bbox


def random_crop(value, size, seed=None, name=None):
    """A window of ``size`` (one entry per axis) at a random place."""
    return _crop(value, size, _random._generator(seed), "random_crop")


def stateless_random_flip_left_right(image, seed):
    return _flip_some(image, 2, _stateless(seed, "stateless_random_flip_left_right"),
                      "stateless_random_flip_left_right")


def stateless_random_flip_up_down(image, seed):
    return _flip_some(image, 1, _stateless(seed, "stateless_random_flip_up_down"),
                      "stateless_random_flip_up_down")


def stateless_random_brightness(image, max_delta, seed):
    gen = _stateless(seed, "stateless_random_brightness")
    return adjust_brightness(image, gen.uniform(-max_delta, max_delta))


def stateless_random_contrast(image, lower, upper, seed):
    _check_range("stateless_random_contrast", lower, upper)
    return adjust_contrast(image, _stateless(seed, "stateless_random_contrast").uniform(
        lower, upper))


def stateless_random_saturation(image, lower, upper, seed):
    _check_range("stateless_random_saturation", lower, upper)
    return adjust_saturation(image, _stateless(seed, "stateless_random_saturation").uniform(
        lower, upper))


def stateless_random_hue(image, max_delta, seed):
    if not 0.0 <= float(max_delta) <= 0.5:
        raise ValueError(f"tf.image.stateless_random_hue: max_delta must be in [0, 0.5], got "
                         f"{max_delta}")
    return adjust_hue(image, _stateless(seed, "stateless_random_hue").uniform(-max_delta,
                                                                               max_delta))


def stateless_random_crop(value, size, seed, name=None):
    return _crop(value, size, _stateless(seed, "stateless_random_crop"), "stateless_random_crop")


# -------------------------------------------------- boxes: crops, NMS, drawing

def _invalid(text):
    from .debugging import InvalidArgumentError
    return InvalidArgumentError(None, None, text)


def _boxes(name, boxes, rank=2):
    b = np.asarray(ops.convert_to_numpy(boxes), np.float64)
    if b.ndim != rank or b.shape[-1] != 4:
        raise ValueError(f"tf.image.{name}: boxes must have shape "
                         f"{'[num_boxes, 4]' if rank == 2 else '[batch, num_boxes, 4]'} "
                         f"([y1, x1, y2, x2] each), got {b.shape}")
    return b


def crop_and_resize(image, boxes, box_indices, crop_size, method="bilinear",
                    extrapolation_value=0.0, name=None):
    """One crop of ``crop_size`` per box ([y1, x1, y2, x2], normalized: 0
    and 1 are the first and last pixel centres) of image ``box_indices[i]``
    of the NHWC batch, sampled bilinearly (or at the nearest pixel);
    samples outside the image are ``extrapolation_value``.  float32; the
    gradient flows back to the image (the boxes are taken as constants)."""
    if ops.ndim(image) != 4:
        raise ValueError(f"tf.image.crop_and_resize: expected a batch (batch, height, width, "
                         f"channels), got shape {tuple(ops.shape(image))}")
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"tf.image.crop_and_resize: method must be 'bilinear' or 'nearest', "
                         f"got {method!r}")
    n, h, w, c = ops.shape(image)
    b = _boxes("crop_and_resize", boxes)
    which = np.asarray(ops.convert_to_numpy(box_indices)).astype(np.int64)
    if which.shape != b.shape[:1]:
        raise ValueError(f"tf.image.crop_and_resize: box_indices must be one image index per "
                         f"box ({b.shape[0]}), got shape {which.shape}")
    if which.size and (which.min() < 0 or which.max() >= n):
        raise _invalid(f"tf.image.crop_and_resize: box_indices {which.tolist()} must be in "
                       f"[0, {n})")
    ch, cw = _size(crop_size, "crop_and_resize")

    def coordinates(lo, hi, size, count):
        # (the sample positions in pixels, one row per box)
        if count > 1:
            step = (hi - lo) * (size - 1) / (count - 1)
            return lo[:, None] * (size - 1) + np.arange(count) * step[:, None]
        return (0.5 * (lo + hi) * (size - 1))[:, None]
    ys = coordinates(b[:, 0], b[:, 2], h, ch)
    xs = coordinates(b[:, 1], b[:, 3], w, cw)
    inside = (((ys >= 0) & (ys <= h - 1))[:, :, None] &
              ((xs >= 0) & (xs <= w - 1))[:, None, :])[..., None]
    flat = ops.reshape(_float(image), (n * h * w, c))
    base = (which * h * w)[:, None, None]

    def pixels(rows, cols):
        rows = np.clip(rows, 0, h - 1).astype(np.int64)
        cols = np.clip(cols, 0, w - 1).astype(np.int64)
        return ops.take(flat, base + rows[:, :, None] * w + cols[:, None, :], axis=0)
    if method == "nearest":
        # (TensorFlow rounds halves away from zero; inside samples are >= 0)
        out = pixels(np.floor(ys + 0.5), np.floor(xs + 0.5))
    else:
        top, left = np.floor(ys), np.floor(xs)
        dy = (ys - top)[:, :, None, None].astype(np.float32)
        dx = (xs - left)[:, None, :, None].astype(np.float32)
        upper = ops.add(pixels(top, left), ops.multiply(
            ops.subtract(pixels(top, np.ceil(xs)), pixels(top, left)), dx))
        lower = ops.add(pixels(np.ceil(ys), left), ops.multiply(
            ops.subtract(pixels(np.ceil(ys), np.ceil(xs)), pixels(np.ceil(ys), left)), dx))
        out = ops.add(upper, ops.multiply(ops.subtract(lower, upper), dy))
    return ops.where(inside, ops.cast(out, "float32"), np.float32(extrapolation_value))


def _iou(b):
    """The intersection over union of every pair of boxes (corners in any
    order); 0 where either box has no area, as TensorFlow's."""
    lo = np.minimum(b[:, :2], b[:, 2:])
    hi = np.maximum(b[:, :2], b[:, 2:])
    area = np.prod(hi - lo, axis=1)
    inter = np.prod(np.clip(np.minimum(hi[:, None], hi[None]) -
                            np.maximum(lo[:, None], lo[None]), 0, None), axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area[:, None] + area[None] - inter)
    return np.where((area[:, None] > 0) & (area[None] > 0), iou, 0.0)


def _nms(name, boxes, scores, max_output_size, iou_threshold, score_threshold,
         soft_nms_sigma=0.0):
    """TensorFlow's greedy selection: (indices, their scores).  Candidates
    are taken by score (the lower index first among equal scores); one is
    dropped when its IoU with a selected box exceeds iou_threshold, and with
    soft_nms_sigma > 0 its score is scaled by exp(-iou^2 / (2 sigma)) per
    selected box instead, and it goes back among the candidates while the
    score stays above score_threshold."""
    import heapq
    b = _boxes(name, boxes)
    s = np.asarray(ops.convert_to_numpy(scores), np.float64).reshape(-1)
    if s.shape[0] != b.shape[0]:
        raise ValueError(f"tf.image.{name}: scores must be one per box ({b.shape[0]}), got "
                         f"{s.shape[0]}")
    limit = int(ops.convert_to_numpy(max_output_size))
    iou_threshold = float(ops.convert_to_numpy(iou_threshold))
    score_threshold = float(ops.convert_to_numpy(score_threshold))
    sigma = float(ops.convert_to_numpy(soft_nms_sigma))
    if limit < 0 or not 0 <= iou_threshold <= 1 or sigma < 0:
        raise _invalid(f"tf.image.{name}: max_output_size must be non-negative, iou_threshold "
                       f"in [0, 1] and soft_nms_sigma non-negative, got {limit}, "
                       f"{iou_threshold} and {sigma}")
    scale = -0.5 / sigma if sigma > 0 else 0.0
    iou = _iou(b)
    heap = [(-v, i, 0) for i, v in enumerate(s) if v > score_threshold]
    heapq.heapify(heap)
    selected, kept = [], []
    while len(selected) < limit and heap:
        neg, i, begin = heapq.heappop(heap)
        score = original = -neg
        hard = False
        for j in range(len(selected) - 1, begin - 1, -1):
            sim = iou[i, selected[j]]
            if sigma > 0:
                score *= np.exp(scale * sim * sim)
            elif sim > iou_threshold:
                hard = True
                break
            if score <= score_threshold:
                break
        if hard:
            continue
        if score == original:
            selected.append(i)
            kept.append(score)
        elif score > score_threshold:
            heapq.heappush(heap, (-score, i, len(selected)))
    return np.asarray(selected, np.int32), np.asarray(kept, np.float32)


def non_max_suppression(boxes, scores, max_output_size, iou_threshold=0.5,
                        score_threshold=float("-inf"), name=None):
    """The indices (int32, best first) of at most ``max_output_size`` boxes
    chosen greedily by score, each overlapping no chosen box by more than
    ``iou_threshold`` and scoring above ``score_threshold``."""
    return _nms("non_max_suppression", boxes, scores, max_output_size, iou_threshold,
                score_threshold)[0]


def non_max_suppression_with_scores(boxes, scores, max_output_size, iou_threshold=0.5,
                                    score_threshold=float("-inf"), soft_nms_sigma=0.0,
                                    name=None):
    """(the chosen indices, their scores): non_max_suppression, or Soft-NMS
    (scores decayed by overlap) when ``soft_nms_sigma`` > 0."""
    return _nms("non_max_suppression_with_scores", boxes, scores, max_output_size,
                iou_threshold, score_threshold, soft_nms_sigma)


def combined_non_max_suppression(boxes, scores, max_output_size_per_class, max_total_size,
                                 iou_threshold=0.5, score_threshold=float("-inf"),
                                 pad_per_class=False, clip_boxes=True, name=None):
    """Per image and class, non_max_suppression of that class's scores;
    then each image's choices best first, at most ``max_total_size``:
    (boxes [batch, n, 4], scores [batch, n], classes [batch, n] as floats,
    valid_detections [batch] int32), zeros after the valid ones.  Boxes
    are [batch, num_boxes, q, 4] with q 1 (shared by the classes) or the
    number of classes; with ``clip_boxes`` the boxes are clipped to [0, 1]."""
    b = np.asarray(ops.convert_to_numpy(boxes), np.float64)
    sc = np.asarray(ops.convert_to_numpy(scores), np.float64)
    if b.ndim != 4 or b.shape[-1] != 4 or sc.ndim != 3 or sc.shape[:2] != b.shape[:2] or \
            b.shape[2] not in (1, sc.shape[2]):
        raise ValueError(f"tf.image.combined_non_max_suppression: boxes must be [batch, "
                         f"num_boxes, q, 4] (q 1 or the number of classes) and scores [batch, "
                         f"num_boxes, classes], got {b.shape} and {sc.shape}")
    batch, num, q, _ = b.shape
    classes = sc.shape[2]
    per_class = min(int(max_output_size_per_class), num)
    total = int(max_total_size)
    size = min(total, int(max_output_size_per_class) * classes) if pad_per_class else total
    out_boxes = np.zeros((batch, size, 4), np.float32)
    out_scores = np.zeros((batch, size), np.float32)
    out_classes = np.zeros((batch, size), np.float32)
    valid = np.zeros(batch, np.int32)
    for i in range(batch):
        found = []  # (score, class, box)
        for k in range(classes):
            kb = b[i, :, k if q > 1 else 0]
            chosen, kept = _nms("combined_non_max_suppression", kb, sc[i, :, k], per_class,
                                iou_threshold, score_threshold)
            found += [(v, k, kb[j]) for j, v in zip(chosen, kept)]
        found.sort(key=lambda f: -f[0])  # (stable: classes in order among equal scores)
        found = found[:size]
        valid[i] = len(found)
        for r, (v, k, box) in enumerate(found):
            out_boxes[i, r] = np.clip(box, 0.0, 1.0) if clip_boxes else box
            out_scores[i, r], out_classes[i, r] = v, k
    return CombinedNonMaxSuppression(*(a.view(Tensor) for a in (out_boxes, out_scores,
                                                                out_classes, valid)))


def draw_bounding_boxes(images, boxes, colors, name=None):
    """The images with each box's 1-pixel outline drawn ([y1, x1, y2, x2]
    normalized, the corners at pixel floor(y1 (height - 1)), ...), box j
    in colour ``colors[j % len(colors)]`` (its first channels; white on
    one-channel images).  Edges outside the image are not drawn."""
    img = np.array(ops.convert_to_numpy(images))
    if img.ndim != 4:
        raise ValueError(f"tf.image.draw_bounding_boxes: expected a batch (batch, height, "
                         f"width, depth), got shape {img.shape}")
    n, h, w, depth = img.shape
    b = _boxes("draw_bounding_boxes", boxes, rank=3)
    if b.shape[0] != n:
        raise ValueError(f"tf.image.draw_bounding_boxes: boxes must be one list per image "
                         f"({n}), got {b.shape[0]}")
    table = np.array(ops.convert_to_numpy(colors), np.float64)
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] < depth:
        raise ValueError(f"tf.image.draw_bounding_boxes: colors must be [num_colors, >= "
                         f"{depth}] (one colour of at least the depth per row), got "
                         f"{table.shape}")
    if depth == 1:
        table[:, 0] = 1
    # TensorFlow truncates the scaled corners toward zero
    rows = np.trunc(b[..., 0::2] * (h - 1)).astype(np.int64)
    cols = np.trunc(b[..., 1::2] * (w - 1)).astype(np.int64)
    for i in range(n):
        for j in range(b.shape[1]):
            (r0, r1), (c0, c1) = rows[i, j], cols[i, j]
            if r0 > r1 or c0 > c1 or r0 >= h or r1 < 0 or c0 >= w or c1 < 0:
                continue
            color = table[j % len(table), :depth].astype(img.dtype)
            rr, cc = slice(max(r0, 0), min(r1, h - 1) + 1), slice(max(c0, 0), min(c1, w - 1) + 1)
            if r0 >= 0:
                img[i, r0, cc] = color
            if r1 < h:
                img[i, r1, cc] = color
            if c0 >= 0:
                img[i, rr, c0] = color
            if c1 < w:
                img[i, rr, c1] = color
    return img


# ------------------------------------------------------ patches, quality

def extract_patches(images, sizes, strides, rates, padding, name=None):
    """The patches of a batch, each flattened (rows, columns, channels)
    into the last axis; ``sizes``, ``strides`` and ``rates`` as
    TensorFlow's [1, h, w, 1]."""
    def pair(v, what):
        v = [int(t) for t in v]
        if len(v) != 4 or v[0] != 1 or v[3] != 1:
            raise ValueError(f"tf.image.extract_patches: {what} must be [1, rows, cols, 1], "
                             f"got {v}")
        return v[1], v[2]
    if ops.ndim(images) != 4:
        raise ValueError(f"tf.image.extract_patches: expected a batch of rank 4, got shape "
                         f"{tuple(ops.shape(images))}")
    return ops.image.extract_patches(images, pair(sizes, "sizes"), strides=pair(strides, "strides"),
                               dilation_rate=pair(rates, "rates"), padding=str(padding).lower())


def psnr(a, b, max_val, name=None):
    """The peak signal-to-noise ratio per image, in decibels:
    20 log10(max_val) - 10 log10(mean squared error over the image)."""
    if tuple(ops.shape(a)) != tuple(ops.shape(b)):
        raise ValueError(f"tf.image.psnr: a and b need the same shape, got "
                         f"{tuple(ops.shape(a))} and {tuple(ops.shape(b))}")
    mse = ops.mean(ops.square(ops.subtract(_float(a), _float(b))), axis=(-3, -2, -1))
    return ops.subtract(20.0 * float(np.log10(max_val)), ops.multiply(ops.log10(mse), 10.0))


def ssim(img1, img2, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         return_index_map=False):
    """The structural similarity of each image pair (Gaussian window, no
    padding), averaged over the image and its channels."""
    if return_index_map:
        raise ValueError("tf.image.ssim: return_index_map=True is not supported")
    return ops.image.ssim(_float(img1), _float(img2), max_val=float(max_val),
                    filter_size=int(filter_size), filter_sigma=float(filter_sigma),
                    k1=float(k1), k2=float(k2))



_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _ssim_and_cs(x, y, max_val, size, sigma, k1, k2, name):
    """TensorFlow's per-channel SSIM and contrast-structure terms of two
    NHWC batches (a Gaussian window, no padding), each (batch, channels)."""
    h, w = ops.shape(x)[1:3]
    if size > min(h, w):
        raise ValueError(f"tf.image.{name}: the images at this scale ({h}x{w}) are smaller "
                         f"than filter_size {size}")
    g = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-g ** 2 / (2.0 * sigma ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    channels = ops.shape(x)[-1]
    kernel = np.broadcast_to(window[:, :, None, None].astype(np.float32),
                             (size, size, channels, 1)).copy()

    def blur(v):
        return ops.depthwise_conv(v, kernel)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mean_x, mean_y = blur(x), blur(y)
    num0 = ops.multiply(ops.multiply(mean_x, mean_y), 2.0)
    den0 = ops.add(ops.square(mean_x), ops.square(mean_y))
    luminance = ops.divide(ops.add(num0, c1), ops.add(den0, c1))
    num1 = ops.multiply(blur(ops.multiply(x, y)), 2.0)
    den1 = blur(ops.add(ops.square(x), ops.square(y)))
    cs = ops.divide(ops.add(ops.subtract(num1, num0), c2), ops.add(ops.subtract(den1, den0), c2))
    return (ops.mean(ops.multiply(luminance, cs), axis=(1, 2)), ops.mean(cs, axis=(1, 2)))


def ssim_multiscale(img1, img2, max_val, power_factors=_MSSSIM_WEIGHTS, filter_size=11,
                    filter_sigma=1.5, k1=0.01, k2=0.03):
    """The multi-scale structural similarity of each image pair (Wang et
    al. 2003), as TensorFlow computes it: at each of ``len(power_factors)``
    scales (each half the last, an odd size padded by its last row or
    column, 2x2 averages) the contrast-structure term, at the last the
    SSIM, each clipped at 0, raised to its power factor, multiplied, and
    averaged over the channels.  The images must be at least
    ``filter_size`` at the smallest scale (176 pixels for the defaults)."""
    shape = tuple(ops.shape(img1))
    if shape != tuple(ops.shape(img2)):
        raise ValueError(f"tf.image.ssim_multiscale: img1 and img2 need the same shape, got "
                         f"{shape} and {tuple(ops.shape(img2))}")
    if len(shape) < 3:
        raise ValueError(f"tf.image.ssim_multiscale: expected images (..., height, width, "
                         f"channels), got shape {shape}")
    weights = [float(v) for v in np.ravel(power_factors)]
    if not weights:
        raise ValueError("tf.image.ssim_multiscale: power_factors must not be empty")
    imgs = [ops.reshape(_float(v), (-1,) + shape[-3:]) for v in (img1, img2)]
    size = int(filter_size)
    scores = []
    for k in range(len(weights)):
        if k > 0:
            h, w = ops.shape(imgs[0])[1:3]
            if h % 2:
                imgs = [ops.concatenate([v, v[:, -1:]], axis=1) for v in imgs]
            if w % 2:
                imgs = [ops.concatenate([v, v[:, :, -1:]], axis=2) for v in imgs]
            imgs = [ops.average_pool(v, 2, 2, "valid") for v in imgs]
        ssim_per_channel, cs = _ssim_and_cs(imgs[0], imgs[1], float(max_val), size,
                                            float(filter_sigma), float(k1), float(k2),
                                            "ssim_multiscale")
        scores.append(ops.relu(cs))
    scores[-1] = ops.relu(ssim_per_channel)
    terms = [ops.power(v, w) for v, w in zip(scores, weights)]
    product = terms[0]
    for t in terms[1:]:
        product = ops.multiply(product, t)
    return ops.reshape(ops.mean(product, axis=-1), shape[:-3])


def image_gradients(image):
    """(dy, dx) of a (batch, h, w, c) batch, each the image's shape: the
    difference to the next pixel down (right), zero in the last row
    (column), as TensorFlow's."""
    if ops.ndim(image) != 4:
        raise ValueError(f"tf.image.image_gradients: expected a batch (batch, height, width, "
                         f"channels), got shape {tuple(ops.shape(image))}")
    dy = ops.subtract(image[:, 1:], image[:, :-1])
    dx = ops.subtract(image[:, :, 1:], image[:, :, :-1])
    return (ops.pad(dy, [[0, 0], [0, 1], [0, 0], [0, 0]]),
            ops.pad(dx, [[0, 0], [0, 0], [0, 1], [0, 0]]))


def sobel_edges(image):
    """The Sobel responses of a (batch, h, w, c) batch, (batch, h, w, c, 2):
    [..., 0] the vertical gradient (dy), [..., 1] the horizontal (dx), the
    image padded by reflection, as TensorFlow's."""
    if ops.ndim(image) != 4:
        raise ValueError(f"tf.image.sobel_edges: expected a batch (batch, height, width, "
                         f"channels), got shape {tuple(ops.shape(image))}")
    x = ops.pad(_float(image), [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    h, w = ops.shape(image)[1], ops.shape(image)[2]

    def at(i, j):  # the padded image shifted by (i, j): the pixel at offset (i - 1, j - 1)
        return x[:, i:i + h, j:j + w]
    dy = ops.add(ops.add(ops.subtract(at(2, 0), at(0, 0)),
                         ops.multiply(ops.subtract(at(2, 1), at(0, 1)), 2.0)),
                 ops.subtract(at(2, 2), at(0, 2)))
    dx = ops.add(ops.add(ops.subtract(at(0, 2), at(0, 0)),
                         ops.multiply(ops.subtract(at(1, 2), at(1, 0)), 2.0)),
                 ops.subtract(at(2, 2), at(2, 0)))
    return ops.stack([dy, dx], axis=-1)

# ---------------------------------------------------------------- files

def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("tf.image's decode and encode functions need Pillow: "
                          "pip install 'pynn[image]'") from None
    return Image


def _bytes(contents, name):
    v = ops.convert_to_numpy(contents) if not isinstance(contents, (bytes, str)) else contents
    if isinstance(v, np.ndarray):
        v = v.item() if v.ndim == 0 else v
    if isinstance(v, str):
        v = v.encode("latin-1")
    if not isinstance(v, bytes):
        raise TypeError(f"tf.image.{name}: expected the file's bytes (tf.io.read_file), got "
                        f"{type(contents).__name__}")
    return v


def decode_image(contents, channels=None, dtype="uint8", name=None, expand_animations=True):
    """The pixels of a PNG, JPEG, GIF or BMP file's bytes as (height, width,
    channels) in ``dtype`` (uint8 values, or fractions of 255 for floats);
    ``channels`` 1, 3 or 4 converts, 0 or None keeps the file's."""
    image = _pil().open(_io.BytesIO(_bytes(contents, "decode_image")))
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if channels:
        if int(channels) not in modes:
            raise ValueError(f"tf.image.decode_image: channels must be 0, 1, 3 or 4, got "
                             f"{channels}")
        image = image.convert(modes[int(channels)])
    elif image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    a = np.asarray(image, dtype=np.uint8)
    a = a[..., None] if a.ndim == 2 else a
    return convert_image_dtype(a, dtype)


def decode_png(contents, channels=0, dtype="uint8", name=None):
    return decode_image(contents, channels, dtype)


def decode_jpeg(contents, channels=0, ratio=1, fancy_upscaling=True, try_recover_truncated=False,
                acceptable_fraction=1, dct_method="", name=None):
    if int(ratio) != 1:
        raise ValueError(f"tf.image.decode_jpeg: ratio={ratio} is not supported; use 1")
    return decode_image(contents, channels)


def decode_bmp(contents, channels=0, name=None):
    return decode_image(contents, channels)


def decode_gif(contents, name=None):
    """The first frame, as a batch of one (frames, height, width, 3)."""
    return np.asarray(decode_image(contents, 3))[None]


def _encode(image, format, name, **options):
    a = np.asarray(ops.convert_to_numpy(image))
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"tf.image.{name}: expected (height, width, 1, 3 or 4 channels), got "
                         f"shape {a.shape}")
    if a.dtype != np.uint8:
        raise ValueError(f"tf.image.{name}: expected uint8 pixels, got {a.dtype} (use "
                         f"tf.image.convert_image_dtype(image, tf.uint8))")
    buf = _io.BytesIO()
    _pil().fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(buf, format=format, **options)
    return np.asarray(buf.getvalue(), dtype=object)


def encode_png(image, compression=-1, name=None):
    """The PNG file's bytes (a 0-d object tensor, as tf.io.write_file takes)."""
    return _encode(image, "PNG", "encode_png",
                   **({} if compression is None or compression < 0 else
                      {"compress_level": int(compression)}))


def encode_jpeg(image, format="", quality=95, name=None, **options):
    """The JPEG file's bytes (a 0-d object tensor)."""
    return _encode(image, "JPEG", "encode_jpeg", quality=int(quality))


def _jpeg_quality(image, quality, name):
    """``image`` (height, width, 1 or 3 channels) through JPEG at
    ``quality`` and back, in its own dtype, as TensorFlow's adjust_jpeg_quality:
    a float image saturated to uint8 first."""
    shape = tuple(ops.shape(image))
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise ValueError(f"tf.image.{name}: expected one image of shape (height, width, 1 or "
                         f"3), got shape {shape}")
    if not 0 <= quality <= 100:
        raise ValueError(f"tf.image.{name}: jpeg_quality must be in [0, 100], got {quality}")
    dtype = _dtype(image)
    pixels = convert_image_dtype(image, "uint8", saturate=True)
    decoded = decode_image(_encode(pixels, "JPEG", name, quality=int(quality)), int(shape[-1]))
    return convert_image_dtype(decoded, dtype.name, saturate=True)


def adjust_jpeg_quality(image, jpeg_quality, dct_method="", name=None):
    """The image encoded as a JPEG of quality ``jpeg_quality`` (0 to 100) and
    decoded again: the compression's artefacts, in the image's dtype.
    Pillow's libjpeg codes it (4:2:0 chroma, as TensorFlow's encoder) and
    decodes it with the accurate integer DCT, TensorFlow's INTEGER_ACCURATE;
    TensorFlow's default fast DCT may put a pixel a level or two off that."""
    if dct_method not in ("", "INTEGER_FAST", "INTEGER_ACCURATE"):
        raise ValueError(f"tf.image.adjust_jpeg_quality: dct_method must be '', "
                         f"'INTEGER_FAST' or 'INTEGER_ACCURATE', got {dct_method!r}")
    quality = np.asarray(ops.convert_to_numpy(jpeg_quality))
    if quality.ndim != 0 or quality.dtype.kind not in "iu":
        raise ValueError(f"tf.image.adjust_jpeg_quality: jpeg_quality must be an integer, got "
                         f"{jpeg_quality!r}")
    return _jpeg_quality(image, int(quality), "adjust_jpeg_quality")


def _quality_range(name, low, high):
    if not (0 <= low <= 100 and 0 <= high <= 100):
        raise ValueError(f"tf.image.{name}: jpeg encoding range must be between 0 and 100, got "
                         f"[{low}, {high})")
    if low >= high:
        raise ValueError(f"tf.image.{name}: min_jpeg_quality must be less than "
                         f"max_jpeg_quality, got {low} and {high}")


def random_jpeg_quality(image, min_jpeg_quality, max_jpeg_quality, seed=None):
    """adjust_jpeg_quality at one quality drawn from [min_jpeg_quality,
    max_jpeg_quality)."""
    _quality_range("random_jpeg_quality", min_jpeg_quality, max_jpeg_quality)
    quality = int(_random._generator(seed).integers(min_jpeg_quality, max_jpeg_quality))
    return _jpeg_quality(image, quality, "random_jpeg_quality")


def stateless_random_jpeg_quality(image, min_jpeg_quality, max_jpeg_quality, seed):
    """random_jpeg_quality whose quality the seed pair decides."""
    _quality_range("stateless_random_jpeg_quality", min_jpeg_quality, max_jpeg_quality)
    gen = _stateless(seed, "stateless_random_jpeg_quality")
    return _jpeg_quality(image, int(gen.integers(min_jpeg_quality, max_jpeg_quality)),
                         "stateless_random_jpeg_quality")


_FUNCTIONS = ["resize", "resize_with_pad", "crop_to_bounding_box", "pad_to_bounding_box",
              "resize_with_crop_or_pad", "central_crop", "flip_left_right", "flip_up_down",
              "rot90", "transpose", "convert_image_dtype", "rgb_to_grayscale",
              "grayscale_to_rgb", "rgb_to_hsv", "hsv_to_rgb", "rgb_to_yuv", "yuv_to_rgb",
              "rgb_to_yiq", "yiq_to_rgb", "adjust_brightness",
              "adjust_contrast", "adjust_saturation", "adjust_hue", "adjust_gamma",
              "per_image_standardization", "total_variation", "random_flip_left_right", "random_flip_up_down",
              "random_brightness", "random_contrast", "random_saturation", "random_hue",
              "random_crop", "sample_distorted_bounding_box", "stateless_random_flip_left_right",
              "stateless_random_flip_up_down", "stateless_random_brightness",
              "stateless_random_contrast", "stateless_random_saturation",
              "stateless_random_hue", "stateless_random_crop", "extract_patches", "psnr",
              "ssim", "image_gradients", "total_variation", "sobel_edges", "decode_image", "decode_png", "decode_jpeg", "decode_bmp", "decode_gif",
              "encode_png", "encode_jpeg", "crop_and_resize", "non_max_suppression",
              "non_max_suppression_with_scores", "draw_bounding_boxes", "adjust_jpeg_quality",
              "random_jpeg_quality", "stateless_random_jpeg_quality", "ssim_multiscale"]
for _name in _FUNCTIONS:
    globals()[_name] = _eager_results(globals()[_name])
del _name
__all__ = _FUNCTIONS + ["ResizeMethod", "combined_non_max_suppression",
                        "CombinedNonMaxSuppression"]
