"""Image augmentation with Keras's legacy generator API: ImageDataGenerator,
its iterators over arrays (flow) and folders of class folders
(flow_from_directory), and the image file helpers.

Keras transforms image by image with scipy.  Here the random parameters of
a whole batch are drawn in Python in Keras's order, from the same kind of
generator (so a seeded flow gives Keras's own transforms), turned into one
small matrix per image, and the batch is warped, shifted, brightened and
rescaled by one call to the C kernel (pynn.ops.affine_warp).  The fill
modes and interpolation are scipy.ndimage's, as Keras uses them; the one
difference is that brightness is not rounded to 8 bits (see
ops.affine_warp).  Only channels_last (NHWC) data is supported.
"""
import math
import os
import threading
import warnings

import numpy as np

from .. import ops
from ..utils import seeding
from ..utils.arguments import check_int
from ..utils.image_dataset import decode_pool, image_dataset_from_directory, list_files
from ..utils.image_utils import (array_to_img, check_color_mode, check_interpolation,
                                 check_size, img_to_array, load_img, save_img, smart_resize)
from ..utils.io import atomic_write
from ..utils.py_dataset import PyDataset

__all__ = ["ImageDataGenerator", "Iterator", "NumpyArrayIterator", "DirectoryIterator",
           "DataFrameIterator",
           "load_img", "img_to_array", "array_to_img", "save_img", "smart_resize",
           "image_dataset_from_directory", "apply_affine_transform", "random_rotation",
           "random_shift", "random_shear", "random_zoom", "apply_channel_shift",
           "random_channel_shift"]

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
PARAMETER_NAMES = ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal",
                   "flip_vertical", "channel_shift_intensity", "brightness")


def _data_format(data_format, where):
    if data_format is None:
        # the global setting, as Keras's default (a program that set
        # channels_first is told, not given its images' axes mixed up)
        from ..backend import image_data_format
        data_format = image_data_format()
    if data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError(f"{where}: the image iterators work in channels_last (batch, height, "
                         "width, channels); data_format='channels_first' (given, or set by "
                         "set_image_data_format) is not supported here: transpose the images "
                         "to NHWC and pass data_format='channels_last'")
    raise ValueError(f"{where}: data_format must be 'channels_last', got {data_format!r}")


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"ImageDataGenerator: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"ImageDataGenerator: {name} must be finite, got {value!r}")
    return value


def _draws_by_choice(shift_range):
    """True when Keras draws this shift range with np.random.choice (an int
    or a list of values), False when it falls back to a uniform draw (a
    float), exactly as its try/except decides."""
    try:
        np.random.RandomState(0).choice(shift_range)
        return True
    except ValueError:
        return False


def _homogeneous(rows):
    """(n, 3, 3) matrices from the six arrays (or scalars) of their top rows."""
    n = max(np.size(v) for v in rows)
    m = np.zeros((n, 3, 3))
    for k, v in enumerate(rows):
        m[:, k // 3, k % 3] = v
    m[:, 2, 2] = 1.0
    return m


def transform_matrices(params, height, width):
    """The (n, 2, 3) maps, output (row, col) -> input (row, col), that Keras's
    apply_affine_transform builds from the parameters and then follows with
    its flips: rotation @ shift @ shear @ zoom about Keras's centre offset,
    with its swap of x and y for channels_last."""
    theta = np.deg2rad(np.asarray(params["theta"], np.float64))
    shear = np.deg2rad(np.asarray(params["shear"], np.float64))
    zero, one = 0.0, 1.0
    cos, sin = np.cos(theta), np.sin(theta)
    m = _homogeneous([cos, -sin, zero, sin, cos, zero])
    m = m @ _homogeneous([one, zero, params["tx"], zero, one, params["ty"]])
    m = m @ _homogeneous([one, -np.sin(shear), zero, zero, np.cos(shear), zero])
    m = m @ _homogeneous([params["zx"], zero, zero, zero, params["zy"], zero])
    # transform_matrix_offset_center(matrix, h, w): Keras centres its first
    # axis on h and its second on w, before swapping them
    o_x, o_y = height / 2 - 0.5, width / 2 - 0.5
    m = _homogeneous([one, zero, o_x, zero, one, o_y]) @ m @ \
        _homogeneous([one, zero, -o_x, zero, one, -o_y])
    m = m[:, [1, 0, 2]][:, :, [1, 0, 2]]
    # the flips come after the warp in Keras: on the output coordinates
    fh = np.asarray(params["flip_horizontal"], bool)
    fv = np.asarray(params["flip_vertical"], bool)
    flips = _homogeneous([np.where(fv, -1.0, 1.0), zero, np.where(fv, height - 1.0, 0.0),
                          zero, np.where(fh, -1.0, 1.0), np.where(fh, width - 1.0, 0.0)])
    return np.ascontiguousarray((m @ flips)[:, :2])


class ImageDataGenerator:
    """Real-time augmentation and standardization of image batches, with
    Keras's arguments and defaults (keras.preprocessing.image).

    The random transform of an image is Keras's: a rotation of up to
    ``rotation_range`` degrees, shifts (``width_shift_range``,
    ``height_shift_range``: a fraction of the size when below 1, pixels
    otherwise; an int or a list draws from those values), a shear angle of
    up to ``shear_range`` degrees, a zoom factor from ``zoom_range``
    ([1 - z, 1 + z] for a number), a ``channel_shift_range`` intensity
    shift, a ``brightness_range`` factor and random flips; pixels from
    outside the image come from ``fill_mode`` ('nearest', 'constant' with
    ``cval``, 'reflect', 'wrap').  Standardization, in Keras's order:
    ``preprocessing_function`` (per image), ``rescale``, sample-wise then
    feature-wise centring and scaling (the feature-wise statistics from
    ``fit``), ZCA whitening.  ``interpolation_order`` is 1 (bilinear) or 0
    (nearest).

    Keras's geometry is kept to the pixel, quirks included: its shift drawn
    from ``width_shift_range`` (scaled by the width) moves the image up and
    down, the one from ``height_shift_range`` left and right, and rotation,
    shear and zoom hold the point (row w/2 - 0.5, column h/2 - 0.5) in
    place, the centre of square images only.  With equal ranges and square
    images, as in the tutorials, none of this shows.
    """

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None,
                 shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest",
                 cval=0.0, horizontal_flip=False, vertical_flip=False, rescale=None,
                 preprocessing_function=None, data_format=None, validation_split=0.0,
                 interpolation_order=1, dtype=None):
        where = "ImageDataGenerator"
        self.featurewise_center = bool(featurewise_center)
        self.samplewise_center = bool(samplewise_center)
        self.featurewise_std_normalization = bool(featurewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.zca_whitening = bool(zca_whitening)
        self.zca_epsilon = _number(zca_epsilon, "zca_epsilon")
        self.rotation_range = _number(rotation_range, "rotation_range")
        self.width_shift_range = self._shift_range(width_shift_range, "width_shift_range")
        self.height_shift_range = self._shift_range(height_shift_range, "height_shift_range")
        self.shear_range = _number(shear_range, "shear_range")
        self.channel_shift_range = _number(channel_shift_range, "channel_shift_range")
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{where}: fill_mode must be one of {list(FILL_MODES)}, "
                             f"got {fill_mode!r}")
        self.fill_mode = fill_mode
        self.cval = _number(cval, "cval")
        self.horizontal_flip = bool(horizontal_flip)
        self.vertical_flip = bool(vertical_flip)
        self.rescale = None if rescale is None else _number(rescale, "rescale")
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise TypeError(f"{where}: preprocessing_function must be callable, "
                            f"got {preprocessing_function!r}")
        self.preprocessing_function = preprocessing_function
        self.data_format = _data_format(data_format, where)
        self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        self.dtype = np.dtype(dtype or "float32").name
        if np.dtype(self.dtype).kind != "f":
            raise ValueError(f"{where}: dtype must be a floating type, got {dtype!r}")
        if interpolation_order not in (0, 1):
            raise ValueError(f"{where}: interpolation_order must be 0 (nearest) or 1 "
                             f"(bilinear), got {interpolation_order!r}")
        self.interpolation_order = interpolation_order
        _number(validation_split, "validation_split")
        if validation_split and not 0 < validation_split < 1:
            raise ValueError("`validation_split` must be strictly between 0 and 1. "
                             f" Received: {validation_split}")
        self._validation_split = validation_split
        self.mean = None
        self.std = None
        self.zca_whitening_matrix = None

        if isinstance(zoom_range, (float, int, np.floating, np.integer)) and \
                not isinstance(zoom_range, bool):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif isinstance(zoom_range, (list, tuple, np.ndarray)) and len(zoom_range) == 2 and \
                all(isinstance(v, (float, int, np.floating, np.integer)) for v in zoom_range):
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError("`zoom_range` should be a float or a tuple or list of two floats. "
                             f"Received: {zoom_range}")
        if zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, which "
                              "overrides setting of `featurewise_center`.")
            if featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn("This ImageDataGenerator specifies `zca_whitening` which "
                              "overrides setting of `featurewise_std_normalization`.")
        if featurewise_std_normalization and not self.featurewise_center:
            self.featurewise_center = True
            warnings.warn("This ImageDataGenerator specifies `featurewise_std_normalization`, "
                          "which overrides setting of `featurewise_center`.")
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn("This ImageDataGenerator specifies `samplewise_std_normalization`, "
                          "which overrides setting of `samplewise_center`.")
        if brightness_range is not None:
            if not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2:
                raise ValueError("`brightness_range should be tuple or list of two floats. "
                                 f"Received: {brightness_range}")
            for v in brightness_range:
                _number(v, "brightness_range")
        self.brightness_range = brightness_range
        self._by_choice = (_draws_by_choice(self.width_shift_range) or
                           _draws_by_choice(self.height_shift_range))
        self._random = None

    @staticmethod
    def _shift_range(value, name):
        if isinstance(value, (list, tuple, np.ndarray)):
            values = np.asarray(value)
            if values.ndim != 1 or values.dtype.kind not in "iuf" or \
                    not np.all(np.isfinite(values)):
                raise ValueError(f"ImageDataGenerator: {name} must be a number or a list of "
                                 f"numbers, got {value!r}")
            # drawn from with np.random.choice, as Keras does
            return list(value) if isinstance(value, np.ndarray) else value
        _number(value, name)
        if value < 0:
            raise ValueError(f"ImageDataGenerator: {name} must not be negative, got {value!r}")
        return value

    # ------------------------------------------------------------- drawing

    def _generator_random(self):
        """The generator's own random state, for unseeded public calls."""
        if self._random is None:
            self._random = np.random.RandomState(seeding.next_seed() % 2**32)
        return self._random

    def _draw(self, rs, n, img_shape):
        """The random transforms of n images, in the order and with the
        draws that Keras's get_random_transform makes image after image
        from np.random; one array (or None) per parameter."""
        h, w = img_shape[0], img_shape[1]
        if self._by_choice:
            return self._draw_one_by_one(rs, n, h, w)
        zoom = not (self.zoom_range[0] == 1 and self.zoom_range[1] == 1)
        r, hs, ws = self.rotation_range, self.height_shift_range, self.width_shift_range
        cs, sh = self.channel_shift_range, self.shear_range
        # Keras's draws in its order, each a uniform(low, high): one double
        # of the generator's stream per image and parameter drawn
        ranges = {"theta": (-r, r) if r else None, "tx": (-hs, hs) if hs else None,
                  "ty": (-ws, ws) if ws else None, "shear": (-sh, sh) if sh else None,
                  "zx": self.zoom_range if zoom else None,
                  "zy": self.zoom_range if zoom else None,
                  "flip_horizontal": (0, 1), "flip_vertical": (0, 1),
                  "channel_shift_intensity": (-cs, cs) if cs != 0 else None,
                  "brightness": self.brightness_range}
        drawn = [name for name, bounds in ranges.items() if bounds is not None]
        u = rs.random_sample((n, len(drawn)))
        p = {"theta": np.zeros(n), "tx": np.zeros(n), "ty": np.zeros(n),
             "shear": np.zeros(n), "zx": np.ones(n), "zy": np.ones(n),
             "channel_shift_intensity": None, "brightness": None}
        for k, name in enumerate(drawn):
            # np.random.uniform(low, high) is low + (high - low) * random()
            low, high = (float(v) for v in ranges[name])
            p[name] = low + (high - low) * u[:, k]
        p["flip_horizontal"] = (p["flip_horizontal"] < 0.5) & self.horizontal_flip
        p["flip_vertical"] = (p["flip_vertical"] < 0.5) & self.vertical_flip
        if hs and np.max(hs) < 1:
            p["tx"] = p["tx"] * h
        if ws and np.max(ws) < 1:
            p["ty"] = p["ty"] * w
        return p

    def _draw_one_by_one(self, rs, n, h, w):
        """Keras's get_random_transform, image by image: the path for shift
        ranges drawn with np.random.choice, whose draws do not come in whole
        doubles."""
        drawn = [self._draw_single(rs, h, w) for _ in range(n)]
        p = {name: np.array([d[name] for d in drawn], dtype=np.float64)
             for name in PARAMETER_NAMES[:6]}
        for name in ("flip_horizontal", "flip_vertical"):
            p[name] = np.array([d[name] for d in drawn], dtype=bool)
        for name in ("channel_shift_intensity", "brightness"):
            p[name] = None if drawn[0][name] is None else \
                np.array([d[name] for d in drawn], dtype=np.float64)
        return p

    def _draw_single(self, rs, h, w):
        theta = rs.uniform(-self.rotation_range, self.rotation_range) \
            if self.rotation_range else 0

        def shift(shift_range, size):
            if not shift_range:
                return 0
            try:
                t = rs.choice(shift_range)
                t *= rs.choice([-1, 1])
            except ValueError:
                t = rs.uniform(-shift_range, shift_range)
            if np.max(shift_range) < 1:
                t *= size
            return t

        tx = shift(self.height_shift_range, h)
        ty = shift(self.width_shift_range, w)
        shear = rs.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = rs.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (rs.random() < 0.5) * self.horizontal_flip
        flip_vertical = (rs.random() < 0.5) * self.vertical_flip
        channel_shift = None
        if self.channel_shift_range != 0:
            channel_shift = rs.uniform(-self.channel_shift_range, self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = rs.uniform(self.brightness_range[0], self.brightness_range[1])
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift, "brightness": brightness}

    # ---------------------------------------------------------- applying

    def _folded_standardization(self, channels):
        """(scale, offset, featurewise_folded): the part of standardize that
        is one multiply-add per channel (rescale, and feature-wise centring
        and scaling when no sample-wise step comes between), for the
        kernel's last pass."""
        if self.preprocessing_function is not None:
            return None, None, False
        scale = np.full(channels, float(self.rescale) if self.rescale else 1.0)
        offset = np.zeros(channels)
        folded = not (self.samplewise_center or self.samplewise_std_normalization)
        if folded:
            if self.featurewise_center and self.mean is not None:
                offset = offset - np.asarray(self.mean, np.float64).reshape(-1)
            if self.featurewise_std_normalization and self.std is not None:
                d = np.asarray(self.std, np.float64).reshape(-1) + 1e-6
                scale, offset = scale / d, offset / d
        if np.all(scale == 1.0) and np.all(offset == 0.0):
            return None, None, folded
        return scale.astype(np.float32), offset.astype(np.float32), folded

    def _transform_batch(self, x, params, standardize=True, index=None):
        """The batch x (n, h, w, c) (or x[index]) transformed by params (from
        _draw) and, with ``standardize``, standardized: one kernel call,
        then the steps that cannot join it."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"ImageDataGenerator: expected a batch of images of rank 4, got "
                             f"shape {x.shape}")
        _, h, w, c = x.shape
        n = len(x) if index is None else len(index)
        scale = offset = None
        folded = False
        if standardize:
            scale, offset, folded = self._folded_standardization(c)

        def per_image(name):
            v = params.get(name)
            return None if v is None else np.asarray(v, np.float32).reshape(n)

        y = ops.affine_warp(x, transform_matrices(params, h, w),
                            interpolation="bilinear" if self.interpolation_order else "nearest",
                            fill_mode=self.fill_mode, cval=self.cval,
                            channel_shift=per_image("channel_shift_intensity"),
                            brightness=per_image("brightness"), scale=scale, offset=offset,
                            index=index)
        if standardize:
            y = self._standardize_rest(y, folded)
        return y if y.dtype == self.dtype else y.astype(self.dtype)

    def _standardize_rest(self, y, featurewise_folded):
        """The standardization steps the kernel did not take, per image."""
        if self.preprocessing_function is not None:
            for i in range(len(y)):
                y[i] = self.preprocessing_function(y[i])
            if self.rescale:
                y *= np.float32(self.rescale)
        if self.samplewise_center:
            y -= y.mean(axis=(1, 2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
        if self.samplewise_std_normalization:
            y /= (y.std(axis=(1, 2, 3), keepdims=True, dtype=np.float64) +
                  1e-6).astype(np.float32)
        if self.featurewise_center:
            if self.mean is None:
                self._warn_not_fit("featurewise_center")
            elif not featurewise_folded:
                y -= self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                self._warn_not_fit("featurewise_std_normalization")
            elif not featurewise_folded:
                y /= self.std + np.float32(1e-6)
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                self._warn_not_fit("zca_whitening")
            else:
                flat = y.reshape(len(y), -1)
                y = ops.matmul(flat, self.zca_whitening_matrix).reshape(y.shape)
        return y

    @staticmethod
    def _warn_not_fit(name):
        warnings.warn(f"This ImageDataGenerator specifies `{name}`, but it hasn't been fit on "
                      "any training data. Fit it first by calling `.fit(numpy_data)`.")

    # ------------------------------------------------------ Keras's API

    def get_random_transform(self, img_shape, seed=None):
        """Random parameters for the transform of one image of ``img_shape``
        (height, width, channels): a dict with Keras's keys."""
        rs = np.random.RandomState(seed) if seed is not None else self._generator_random()
        p = self._draw(rs, 1, img_shape)
        out = {}
        for name in PARAMETER_NAMES:
            v = p[name]
            if v is None:
                out[name] = None
            elif name.startswith("flip"):
                out[name] = bool(v[0])
            else:
                out[name] = float(v[0])
        return out

    def apply_transform(self, x, transform_parameters):
        """One image (height, width, channels) transformed by the parameters
        (Keras's keys; missing ones mean no change); a new float array."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"apply_transform: expected one image of rank 3, got shape "
                             f"{x.shape}")
        unknown = set(transform_parameters) - set(PARAMETER_NAMES)
        if unknown:
            raise ValueError(f"apply_transform: unknown parameters {sorted(unknown)}; "
                             f"expected some of {list(PARAMETER_NAMES)}")
        defaults = {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1,
                    "flip_horizontal": False, "flip_vertical": False,
                    "channel_shift_intensity": None, "brightness": None}
        params = {}
        for name, default in defaults.items():
            v = transform_parameters.get(name, default)
            params[name] = None if v is None else np.asarray([v])
        return self._transform_batch(x[None], params, standardize=False)[0]

    def random_transform(self, x, seed=None):
        """One image with a random transform applied."""
        params = self.get_random_transform(np.shape(x), seed)
        return self.apply_transform(x, params)

    def standardize(self, x):
        """The normalization configuration applied to ``x`` in place, as
        Keras's standardize does (on a batch, the sample-wise statistics are
        those of the whole batch, as in Keras); returns ``x``."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is not None:
                x -= self.mean
            else:
                self._warn_not_fit("featurewise_center")
        if self.featurewise_std_normalization:
            if self.std is not None:
                x /= self.std + 1e-6
            else:
                self._warn_not_fit("featurewise_std_normalization")
        if self.zca_whitening:
            if self.zca_whitening_matrix is not None:
                flat = x.reshape(-1, math.prod(x.shape[-3:]))
                x = np.reshape(flat @ self.zca_whitening_matrix, x.shape)
            else:
                self._warn_not_fit("zca_whitening")
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Compute the feature-wise statistics (``featurewise_center``,
        ``featurewise_std_normalization``, ``zca_whitening``) from sample
        images x (n, height, width, channels), after ``rescale`` and, with
        ``augment``, over ``rounds`` randomly transformed copies."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError(f"Input to `.fit()` should have rank 4. Got array with shape: "
                             f"{x.shape}")
        if x.shape[3] not in (1, 3, 4):
            warnings.warn("Expected input to be images (as Numpy array) following the data "
                          "format convention channels_last (channels on axis 3), i.e. "
                          "expected either 1, 3 or 4 channels on axis 3. However, it was "
                          f"passed an array with shape {x.shape} ({x.shape[3]} channels).")
        check_int(rounds, "rounds", "ImageDataGenerator.fit", minimum=1)
        if not (self.featurewise_center or self.featurewise_std_normalization or
                self.zca_whitening):
            return
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.rescale:
            x = x * np.float32(self.rescale)
        if augment:
            rs = np.random.RandomState(seed) if seed is not None else self._generator_random()
            params = self._draw(rs, rounds * len(x), x.shape[1:])
            parts = []
            for r in range(rounds):
                chunk = {k: None if v is None else v[r * len(x):(r + 1) * len(x)]
                         for k, v in params.items()}
                parts.append(self._transform_batch(x, chunk, standardize=False)
                             .astype(np.float32, copy=False))
            x = np.concatenate(parts)
        mean, var = ops.moments(x)
        c = x.shape[3]
        if self.featurewise_center:
            self.mean = mean.reshape(1, 1, c).astype(self.dtype)
        if self.featurewise_std_normalization:
            self.std = np.sqrt(var).reshape(1, 1, c).astype(self.dtype)
        if self.zca_whitening:
            self.zca_whitening_matrix = self._zca_matrix(x, mean.astype(np.float64))

    def _zca_matrix(self, x, mean):
        """Keras's ZCA matrix u diag(sqrt(n) / (s + eps)) u.T, where u, s are
        the singular vectors and values of the centred data (n, features)
        transposed; from the eigendecomposition of its Gram matrix when
        there are more samples than features."""
        n = len(x)
        flat = x.reshape(n, -1).astype(np.float64) - np.tile(mean, x.shape[1] * x.shape[2])
        if n >= flat.shape[1]:
            eigvals, u = np.linalg.eigh(flat.T @ flat)
            s = np.sqrt(np.maximum(eigvals, 0.0))
        else:
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
        s_inv = np.sqrt(n) / (s + self.zca_epsilon)
        return np.ascontiguousarray(((u * s_inv) @ u.T).astype(np.float32))

    # ----------------------------------------------------------- flows

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             save_to_dir=None, save_prefix="", save_format="png", ignore_class_split=False,
             subset=None):
        """An iterator of augmented batches from arrays: x (n, height, width,
        channels), labels y and sample weights optional."""
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                                  sample_weight=sample_weight, seed=seed,
                                  data_format=self.data_format, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format,
                                  ignore_class_split=ignore_class_split, subset=subset,
                                  dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32,
                            shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False):
        """An iterator of augmented batches read from ``directory``, which
        holds one folder of images per class."""
        return DirectoryIterator(directory, self, target_size=target_size,
                                 color_mode=color_mode, keep_aspect_ratio=keep_aspect_ratio,
                                 classes=classes, class_mode=class_mode,
                                 data_format=self.data_format, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, save_to_dir=save_to_dir,
                                 save_prefix=save_prefix, save_format=save_format,
                                 follow_links=follow_links, subset=subset,
                                 interpolation=interpolation, dtype=self.dtype)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class",
                            weight_col=None, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32, shuffle=True,
                            seed=None, save_to_dir=None, save_prefix="", save_format="png",
                            subset=None, interpolation="nearest", validate_filenames=True,
                            **kwargs):
        """An iterator of augmented batches of the images named in a column
        of ``dataframe`` (see DataFrameIterator)."""
        for name, why in (("has_ext", "filenames in the dataframe have to match the exact "
                                      "filenames on disk"),
                          ("sort", "batches follow the order of the filenames when shuffle "
                                   "is False"),
                          ("drop_duplicates", "drop duplicates with the data frame's "
                                              "drop_duplicates method")):
            if kwargs.pop(name, None) is not None:
                warnings.warn(f"flow_from_dataframe: {name} is deprecated: {why}.",
                              DeprecationWarning)
        if kwargs:
            raise TypeError(f"flow_from_dataframe: unexpected arguments {sorted(kwargs)}")
        if class_mode == "other":
            warnings.warn('flow_from_dataframe: class_mode="other" is deprecated, use '
                          'class_mode="raw".', DeprecationWarning)
            class_mode = "raw"
        return DataFrameIterator(dataframe, directory, self, x_col=x_col, y_col=y_col,
                                 weight_col=weight_col, target_size=target_size,
                                 color_mode=color_mode, classes=classes, class_mode=class_mode,
                                 data_format=self.data_format, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, save_to_dir=save_to_dir,
                                 save_prefix=save_prefix, save_format=save_format,
                                 subset=subset, interpolation=interpolation,
                                 validate_filenames=validate_filenames, dtype=self.dtype)


class Iterator(PyDataset):
    """Base class of the image iterators (Keras's legacy Iterator): batches
    by ``__getitem__`` (a PyDataset) or endlessly by ``next()``.

    A seeded iterator reseeds its random state with ``seed +
    total_batches_seen`` before every batch, as Keras reseeds NumPy's, so
    the same seed gives the same batches on every run and any thread count.
    The state is the iterator's own: NumPy's global one is left alone.
    """

    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, n, batch_size, shuffle, seed, **kwargs):
        super().__init__(**kwargs)
        check_int(batch_size, "batch_size", type(self).__name__, minimum=1)
        if seed is not None and (isinstance(seed, bool) or
                                 not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be a non-negative integer, "
                             f"got {seed!r}")
        self.n = n
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array = None
        self._random = np.random.RandomState(
            seed % 2**32 if seed is not None else seeding.next_seed() % 2**32)
        self.index_generator = self._flow_index()

    def _reseed(self):
        if self.seed is not None:
            self._random.seed((self.seed + self.total_batches_seen) % 2**32)

    def _set_index_array(self):
        self.index_array = np.arange(self.n)
        if self.shuffle:
            self.index_array = self._random.permutation(self.n)

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)) and idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence has length "
                             f"{len(self)}")
        with self.lock:
            self._reseed()
            self.total_batches_seen += 1
            if self.index_array is None:
                self._set_index_array()
            index_array = self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)]
            params = self._draw_batch(index_array)
        return self._batch(index_array, params)

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def on_epoch_end(self):
        self._set_index_array()

    def reset(self):
        self.batch_index = 0

    def _flow_index(self):
        self.reset()
        while True:
            self._reseed()
            if self.batch_index == 0:
                self._set_index_array()
            current = (self.batch_index * self.batch_size) % self.n if self.n else 0
            if self.n > current + self.batch_size:
                self.batch_index += 1
            else:
                self.batch_index = 0
            self.total_batches_seen += 1
            yield self.index_array[current:current + self.batch_size]

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            index_array = next(self.index_generator)
            params = self._draw_batch(index_array)
        return self._batch(index_array, params)

    def next(self):
        """The next batch (Keras 2's name for ``next(iterator)``)."""
        return self.__next__()

    def _get_batches_of_transformed_samples(self, index_array):
        """The batch of the samples at ``index_array`` (Keras's name)."""
        with self.lock:
            params = self._draw_batch(index_array)
        return self._batch(index_array, params)

    def _draw_batch(self, index_array):
        """The random parameters of a batch, drawn under the lock."""
        generator = self.image_data_generator
        if generator is None or len(index_array) == 0:
            return None
        return generator._draw(self._random, len(index_array), self.image_shape)

    def _save(self, batch_x, index_array, hash_limit):
        for i, j in enumerate(index_array):
            img = array_to_img(batch_x[i], scale=True)
            fmt = "jpeg" if self.save_format.lower() == "jpg" else self.save_format
            fname = (f"{self.save_prefix}_{j}_{self._random.randint(hash_limit)}."
                     f"{self.save_format}")
            with atomic_write(os.path.join(self.save_to_dir, fname), "wb") as f:
                img.save(f, format=fmt)

    def _transform(self, images, params, index=None):
        """The batch (images, or images[index]) through the generator."""
        generator = self.image_data_generator
        if generator is None or params is None:
            batch = images if index is None else images[index]
            return batch.astype(self.dtype, copy=False)
        return generator._transform_batch(images, params, index=index)


class NumpyArrayIterator(Iterator):
    """Batches of augmented images from arrays (ImageDataGenerator.flow)."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False,
                 sample_weight=None, seed=None, data_format=None, save_to_dir=None,
                 save_prefix="", save_format="png", subset=None, ignore_class_split=False,
                 dtype=None, **kwargs):
        _data_format(data_format, "NumpyArrayIterator")
        self.dtype = np.dtype(dtype or "float32").name
        if isinstance(x, (tuple, list)):
            x_misc = [np.asarray(x[1])] if not isinstance(x[1], list) else \
                [np.asarray(xx) for xx in x[1]]
            x = x[0]
            for xx in x_misc:
                if len(x) != len(xx):
                    raise ValueError("All of the arrays in `x` should have the same length. "
                                     f"Found a pair with: len(x[0]) = {len(x)}, "
                                     f"len(x[?]) = {len(xx)}")
        else:
            x_misc = []
        if y is not None and len(x) != len(y):
            raise ValueError("`x` (images tensor) and `y` (labels) should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, "
                             f"y.shape = {np.asarray(y).shape}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError("`x` (images tensor) and `sample_weight` should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, "
                             f"sample_weight.shape = {np.asarray(sample_weight).shape}")
        if subset is not None:
            if subset not in {"training", "validation"}:
                raise ValueError(f"Invalid subset name: {subset}; expected \"training\" or "
                                 "\"validation\".")
            split_idx = int(len(x) * image_data_generator._validation_split)
            if y is not None and not ignore_class_split and not np.array_equal(
                    np.unique(y[:split_idx]), np.unique(y[split_idx:])):
                raise ValueError("Training and validation subsets have different number of "
                                 "classes after the split. If your numpy arrays are sorted by "
                                 "the label, you might want to shuffle them.")
            part = slice(None, split_idx) if subset == "validation" else slice(split_idx, None)
            x = x[part]
            x_misc = [np.asarray(xx[part]) for xx in x_misc]
            if y is not None:
                y = y[part]
            if sample_weight is not None:
                sample_weight = sample_weight[part]
        self.x = np.asarray(x, dtype=self.dtype)
        self.x_misc = x_misc
        if self.x.ndim != 4:
            raise ValueError("Input data in `NumpyArrayIterator` should have rank 4. You "
                             f"passed an array with shape {self.x.shape}")
        if self.x.shape[3] not in {1, 3, 4}:
            warnings.warn("NumpyArrayIterator is set to use the data format convention "
                          "\"channels_last\" (channels on axis 3), i.e. expected either 1, 3, "
                          "or 4 channels on axis 3. However, it was passed an array with "
                          f"shape {self.x.shape} ({self.x.shape[3]} channels).")
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        self.data_format = "channels_last"
        self.image_shape = self.x.shape[1:]
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        super().__init__(self.x.shape[0], batch_size, shuffle, seed, **kwargs)

    def _batch(self, index_array, params):
        if self.x.dtype == np.float32 and self.x.flags.c_contiguous:
            # the kernel reads the batch's images where they are
            batch_x = self._transform(self.x, params, index=index_array)
        else:
            batch_x = self._transform(self.x[index_array], params)
        if self.save_to_dir:
            self._save(batch_x, index_array, 10**4)
        batch_x_miscs = [xx[index_array] for xx in self.x_misc]
        output = (batch_x if not batch_x_miscs else [batch_x] + batch_x_miscs,)
        if self.y is None:
            return output[0]
        output += (self.y[index_array],)
        if self.sample_weight is not None:
            output += (self.sample_weight[index_array],)
        return output


class _FilesIterator(Iterator):
    """What the iterators over image files share: the reading and resizing,
    the training/validation subset of the generator's validation_split, and
    the labels of each ``class_mode``."""

    def _set_processing(self, where, image_data_generator, target_size, color_mode,
                        class_mode, data_format, save_to_dir, save_prefix, save_format,
                        subset, interpolation, keep_aspect_ratio, dtype):
        _data_format(data_format, where)
        self.data_format = "channels_last"
        self.dtype = np.dtype(dtype or "float32").name
        self.image_data_generator = image_data_generator
        self.target_size = check_size(target_size, where, "target_size")
        self.keep_aspect_ratio = keep_aspect_ratio
        if color_mode not in {"rgb", "rgba", "grayscale"}:
            raise ValueError(f"Invalid color mode: {color_mode!r}; expected \"rgb\", \"rgba\", "
                             "or \"grayscale\".")
        self.color_mode = color_mode
        self.image_shape = self.target_size + (check_color_mode(color_mode, where),)
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {class_mode!r}; expected one of: "
                             f"{sorted(self.allowed_class_modes, key=str)}")
        self.class_mode = class_mode
        self.interpolation = check_interpolation(interpolation, where)
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        if subset is not None:
            split = image_data_generator._validation_split if image_data_generator else 0
            if subset == "validation":
                self.split = (0, split)
            elif subset == "training":
                self.split = (split, 1)
            else:
                raise ValueError(f"Invalid subset name: {subset}; expected \"training\" or "
                                 "\"validation\"")
        else:
            self.split = None
        self.subset = subset

    @property
    def filepaths(self):
        """The path of every image, in the order of ``filenames``."""
        return self._filepaths

    def _read(self, path, out):
        img = load_img(path, color_mode=self.color_mode, target_size=self.target_size,
                       interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio)
        x = np.asarray(img)
        img.close()
        out[...] = x.reshape(out.shape)

    def _batch(self, index_array, params):
        batch = np.empty((len(index_array),) + self.image_shape, np.float32)
        paths = self._filepaths
        list(decode_pool().map(lambda i: self._read(paths[index_array[i]], batch[i]),
                               range(len(index_array))))
        batch_x = self._transform(batch, params)
        if self.save_to_dir:
            self._save(batch_x, index_array, 10**7)
        if self.class_mode == "input":
            batch_y = batch_x.copy()
        elif self.class_mode in {"binary", "sparse"}:
            batch_y = np.asarray(self.classes)[index_array].astype(self.dtype)
        elif self.class_mode == "categorical":
            batch_y = np.zeros((len(batch_x), len(self.class_indices)), dtype=self.dtype)
            for row, i in enumerate(index_array):
                # (a list of classes, from a data frame, is a multi-hot row)
                batch_y[row, self.classes[i]] = 1.0
        elif self.class_mode == "multi_output":
            batch_y = [target[index_array] for target in self.labels]
        elif self.class_mode == "raw":
            batch_y = self.labels[index_array]
        else:
            return batch_x
        if self.sample_weight is None:
            return batch_x, batch_y
        return batch_x, batch_y, self.sample_weight[index_array]


class DirectoryIterator(_FilesIterator):
    """Batches of augmented images read from a folder holding one folder of
    images per class (ImageDataGenerator.flow_from_directory).

    Files with other extensions than Keras's image formats are skipped.
    Labels follow ``class_mode``: 'categorical' (one-hot), 'binary' and
    'sparse' (the class index), in the generator's float dtype; 'input'
    (the images themselves); None (images only).
    """

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(self, directory, image_data_generator, target_size=(256, 256),
                 color_mode="rgb", classes=None, class_mode="categorical", batch_size=32,
                 shuffle=True, seed=None, data_format=None, save_to_dir=None, save_prefix="",
                 save_format="png", follow_links=False, subset=None, interpolation="nearest",
                 keep_aspect_ratio=False, dtype=None, **kwargs):
        where = "flow_from_directory"
        self._set_processing(where, image_data_generator, target_size, color_mode, class_mode,
                             data_format, save_to_dir, save_prefix, save_format, subset,
                             interpolation, keep_aspect_ratio, dtype)
        self.directory = directory
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"{where}: no folder {directory!r}")
        if not classes:
            classes = [d for d in sorted(os.listdir(directory))
                       if os.path.isdir(os.path.join(directory, d))]
        else:
            missing = [c for c in classes if not os.path.isdir(os.path.join(directory, c))]
            if missing:
                raise FileNotFoundError(f"{where}: no folder for the classes {missing} in "
                                        f"{directory!r}")
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))
        formats = tuple("." + f for f in self.white_list_formats)
        self.filenames = []
        labels = []
        for name in classes:
            folder = os.path.join(directory, name)
            found = list_files(folder, formats, follow_links)
            if self.split:
                found = found[int(self.split[0] * len(found)):int(self.split[1] * len(found))]
            for root, fname in found:
                self.filenames.append(os.path.join(name, os.path.relpath(
                    os.path.join(root, fname), folder)))
                labels.append(self.class_indices[name])
        self.samples = len(self.filenames)
        self.classes = np.array(labels, dtype="int32")
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        if self.samples == 0:
            which = f" for the {subset} subset" if subset else ""
            raise ValueError(f"{where}: no images{which} in {directory!r}: expected one folder "
                             f"per class holding {', '.join(formats)} files")
        self._filepaths = [os.path.join(directory, fname) for fname in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed, **kwargs)

    @property
    def labels(self):
        return self.classes

    @property
    def sample_weight(self):
        return None


class DataFrameIterator(_FilesIterator):
    """Batches of augmented images whose file names and labels are columns
    of a table (ImageDataGenerator.flow_from_dataframe): a pandas DataFrame,
    or anything that gives a column by ``table[name]`` and its length by
    ``len``.  Rows keep the table's order.

    ``x_col`` holds the file names (joined to ``directory`` when it is
    given).  Labels follow ``class_mode``: 'categorical' (one-hot; a list
    of class names is a multi-hot row), 'binary' (exactly two classes) and
    'sparse' (the class index), their classes being the sorted class names
    of ``y_col`` unless ``classes`` names them (rows of other classes are
    dropped); 'raw' (the values of the column, or of the list of columns
    ``y_col``, as they are); 'multi_output' (one target per column of the
    list ``y_col``); 'input' (the images); None (images only).  A
    ``weight_col`` adds each row's sample weight to its batch.  With
    ``validate_filenames``, rows naming no image file are dropped with a
    warning.
    """

    allowed_class_modes = {"binary", "categorical", "input", "multi_output", "raw", "sparse",
                           None}

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename",
                 y_col="class", weight_col=None, target_size=(256, 256), color_mode="rgb",
                 classes=None, class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png",
                 subset=None, interpolation="nearest", keep_aspect_ratio=False, dtype=None,
                 validate_filenames=True, **kwargs):
        where = "flow_from_dataframe"
        self._set_processing(where, image_data_generator, target_size, color_mode, class_mode,
                             data_format, save_to_dir, save_prefix, save_format, subset,
                             interpolation, keep_aspect_ratio, dtype)
        self.directory = directory or ""

        def column(name):
            try:
                return list(dataframe[name])
            except (KeyError, IndexError, TypeError):
                raise KeyError(f"{where}: the data frame has no column {name!r}") from None

        labelled = class_mode in {"binary", "categorical", "sparse"}
        if class_mode == "multi_output" and not isinstance(y_col, list):
            raise TypeError(f"{where}: with class_mode=\"multi_output\", y_col must be a list "
                            f"of columns, got {type(y_col).__name__}")
        names = column(x_col)
        bad = [v for v in names if not isinstance(v, str)]
        if bad:
            raise TypeError(f"{where}: all values of the column x_col={x_col!r} must be "
                            f"strings (file names), got {bad[0]!r}")
        rows = list(range(len(names)))
        if labelled:
            labels = column(y_col)
            kinds = (str,) if class_mode in {"binary", "sparse"} else (str, list, tuple)
            bad = [v for v in labels if not isinstance(v, kinds)]
            if bad:
                what = "strings" if len(kinds) == 1 else "strings, lists or tuples"
                raise TypeError(f"{where}: with class_mode={class_mode!r}, the values of the "
                                f"column y_col={y_col!r} must be {what} (class names), got "
                                f"{bad[0]!r}")
            found = sorted({c for v in labels for c in ([v] if isinstance(v, str) else v)})
            if class_mode == "binary" and len(set(classes) if classes else found) != 2:
                n = len(set(classes)) if classes else len(found)
                raise ValueError(f"{where}: with class_mode=\"binary\" there must be 2 "
                                 f"classes, {'given' if classes else 'found'} {n}")
        elif classes:
            warnings.warn(f"{where}: classes are ignored with class_mode={class_mode!r}")
        weights = None
        if weight_col:
            weights = np.asarray(column(weight_col))
            if weights.dtype.kind not in "biuf":
                raise TypeError(f"{where}: the column weight_col={weight_col!r} must be "
                                f"numeric, got values of dtype {weights.dtype}")
        if validate_filenames:
            formats = tuple("." + f for f in self.white_list_formats)
            valid = [os.path.isfile(os.path.join(self.directory, names[i])) and
                     names[i].lower().endswith(formats) for i in rows]
            if not all(valid):
                warnings.warn(f"Found {valid.count(False)} invalid image filename(s) in "
                              f"x_col=\"{x_col}\". These filename(s) will be ignored.")
                rows = [i for i in rows if valid[i]]
        if labelled:
            # named classes keep their order (duplicates dropped); a row
            # of none of them is dropped, a list keeps those named
            classes = list(dict.fromkeys(classes)) if classes else found
            self.class_indices = dict(zip(classes, range(len(classes))))
            kept = []
            for i in rows:
                label = labels[i]
                if isinstance(label, str):
                    index = self.class_indices.get(label)
                else:
                    index = [self.class_indices[c] for c in label if c in self.class_indices]
                if index is not None and index != []:
                    kept.append((i, index))
            rows = [i for i, _ in kept]
            indices = [index for _, index in kept]
            self.num_classes = len(classes)
        if self.split:
            start, stop = int(self.split[0] * len(rows)), int(self.split[1] * len(rows))
            rows = rows[start:stop]
            if labelled:
                indices = indices[start:stop]
        if labelled:
            # (a list, as Keras gives it: a multi-label row is a list)
            self.classes = indices
        self.filenames = [names[i] for i in rows]
        self._sample_weight = weights[rows] if weights is not None else None
        if class_mode == "multi_output":
            self._targets = [np.array(column(c))[rows] for c in y_col]
        elif class_mode == "raw":
            if isinstance(y_col, (list, tuple)):
                self._targets = np.stack([np.asarray(column(c))[rows] for c in y_col], axis=1)
            else:
                self._targets = np.asarray(column(y_col))[rows]
        self.samples = len(self.filenames)
        checked = "validated" if validate_filenames else "non-validated"
        of = f" belonging to {self.num_classes} classes" if labelled else ""
        print(f"Found {self.samples} {checked} image filenames{of}.")
        self._filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed, **kwargs)

    @property
    def labels(self):
        if self.class_mode in {"multi_output", "raw"}:
            return self._targets
        return self.classes

    @property
    def sample_weight(self):
        return self._sample_weight



# ------------------------------------------------- Keras 2's single-image transforms
#
# keras.preprocessing.image.random_rotation & co.: one image (rank 3), its
# row, column and channel axes given (channels first by default, as Keras 2
# has them), the geometry ImageDataGenerator's (transform_matrices), drawn
# from NumPy's global generator as Keras draws them.

def _image_axes(x, row_axis, col_axis, channel_axis, who):
    x = np.asarray(x)
    axes = (row_axis, col_axis, channel_axis)
    if len(set(axes)) != 3:
        raise ValueError(f"{who}: 'row_axis', 'col_axis', and 'channel_axis' must be distinct, "
                         f"got {axes}")
    if set(axes) != {0, 1, 2}:
        raise ValueError(f"{who}: invalid axis indices {sorted(set(axes) - {0, 1, 2})}: "
                         f"the axes of one image are 0, 1 and 2")
    if x.ndim != 3:
        raise ValueError(f"{who}: expected one multi-channel 2-D image (rank 3), got shape "
                         f"{x.shape}")
    if channel_axis not in (0, 2):
        raise ValueError(f"{who}: the channels must be the first or the last axis, got "
                         f"channel_axis={channel_axis}")
    return x


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2,
                           channel_axis=0, fill_mode="nearest", cval=0.0, order=1):
    """One image rotated by ``theta`` degrees, shifted by ``tx`` (along the
    rows) and ``ty`` (along the columns) pixels, sheared by ``shear``
    degrees and zoomed by ``zx``, ``zy`` about its centre, as Keras 2's
    apply_affine_transform; pixels from outside come from ``fill_mode``
    ('nearest', 'constant' with ``cval``, 'reflect', 'wrap'); ``order`` 1
    (bilinear) or 0 (nearest)."""
    who = "apply_affine_transform"
    x = _image_axes(x, row_axis, col_axis, channel_axis, who)
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{who}: fill_mode must be one of {list(FILL_MODES)}, got "
                         f"{fill_mode!r}")
    if order not in (0, 1):
        raise ValueError(f"{who}: order must be 0 (nearest) or 1 (bilinear), got {order!r}")
    if theta == 0 and tx == 0 and ty == 0 and shear == 0 and zx == 1 and zy == 1:
        return x
    image = np.ascontiguousarray(np.transpose(x, (row_axis, col_axis, channel_axis)),
                                 dtype=np.float32)
    h, w = image.shape[:2]
    params = {"theta": [theta], "tx": [tx], "ty": [ty], "shear": [shear], "zx": [zx],
              "zy": [zy], "flip_horizontal": [False], "flip_vertical": [False]}
    y = ops.affine_warp(image[None], transform_matrices(params, h, w),
                        interpolation="bilinear" if order else "nearest", fill_mode=fill_mode,
                        cval=cval)[0]
    y = np.transpose(y, np.argsort((row_axis, col_axis, channel_axis)))
    if x.dtype.kind == "f":
        return y.astype(x.dtype)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(x.dtype)
    return y


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                    cval=0.0, interpolation_order=1):
    """One image rotated by an angle drawn from [-rg, rg] degrees."""
    theta = np.random.uniform(-rg, rg)
    return apply_affine_transform(x, theta=theta, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """One image shifted by fractions drawn from [-hrg, hrg] of its height
    and [-wrg, wrg] of its width (Keras 2's draws, in its order)."""
    h, w = np.shape(x)[row_axis], np.shape(x)[col_axis]
    tx = np.random.uniform(-hrg, hrg) * h
    ty = np.random.uniform(-wrg, wrg) * w
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """One image sheared by an angle drawn from [-intensity, intensity]
    degrees."""
    shear = np.random.uniform(-intensity, intensity)
    return apply_affine_transform(x, shear=shear, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                cval=0.0, interpolation_order=1):
    """One image zoomed by factors zx, zy drawn from ``zoom_range`` (a pair
    of floats; (1, 1) draws nothing)."""
    if len(zoom_range) != 2:
        raise ValueError(f"random_zoom: zoom_range should be a tuple or list of two floats, "
                         f"got {zoom_range!r}")
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = np.random.uniform(zoom_range[0], zoom_range[1], 2)
    return apply_affine_transform(x, zx=zx, zy=zy, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def apply_channel_shift(x, intensity, channel_axis=0):
    """``intensity`` added to every channel of one image, clipped to the
    image's own minimum and maximum."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"apply_channel_shift: expected one image of rank 3, got shape "
                         f"{x.shape}")
    return np.clip(x + intensity, np.min(x), np.max(x))


def random_channel_shift(x, intensity_range, channel_axis=0):
    """apply_channel_shift with an intensity drawn from [-intensity_range,
    intensity_range]."""
    intensity = np.random.uniform(-intensity_range, intensity_range)
    return apply_channel_shift(x, intensity, channel_axis=channel_axis)
