"""Preprocessing layers that Keras 3 tutorials put inside models: Rescaling,
Normalization (with ``adapt``), Resizing and CenterCrop (Keras's
arguments and defaults; images channels-last).

They compute through pynn.ops like every layer, and have backward passes,
so layers before them can still be trained.
"""
import numpy as np

from .. import ops
from .base import ChannelsFirst, Layer, shape_str


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _as_config(value):
    """A scalar or array argument as JSON: a float or nested lists."""
    arr = np.asarray(value, np.float64)
    return float(value) if arr.ndim == 0 else arr.tolist()


class Rescaling(Layer):
    """``x * scale + offset``: ``scale`` and ``offset`` are numbers, or one
    value per channel (the last axis)."""
    supports_masking = True
    fixed_input_axes = ()
    # (one image or a batch of them, as Keras's: built on either, called on
    # the other)
    fixed_input_rank = False

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self._scale = np.asarray(scale, np.float32)
            self._offset = np.asarray(offset, np.float32)
            ok = np.all(np.isfinite(self._scale)) and np.all(np.isfinite(self._offset)) and \
                all(v.ndim <= 1 or v.size == v.shape[-1] for v in (self._scale, self._offset))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{_label(self)}: scale and offset must be finite numbers or one "
                             f"value per channel, got scale={scale!r}, offset={offset!r}")
        # As given, for the config (a float stays the float Keras writes).
        self.scale, self.offset = _as_config(scale), _as_config(offset)

    def _affine(self, channels):
        try:
            return (np.ascontiguousarray(np.broadcast_to(self._scale.reshape(-1), (channels,))),
                    np.ascontiguousarray(np.broadcast_to(self._offset.reshape(-1),
                                                         (channels,))))
        except ValueError:
            raise ValueError(f"{_label(self)}: scale of shape {self._scale.shape} and offset "
                             f"of shape {self._offset.shape} do not fit {channels} channels") \
                from None

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None and \
                max(self._scale.size, self._offset.size) > 1:
            raise ValueError(f"{_label(self)}: per-channel scale or offset needs known channels; "
                             f"got an input of shape {shape_str(input_shape)}")
        if input_shape[-1] is not None:
            self._affine(input_shape[-1])
        return tuple(input_shape)

    def forward(self, ctx, x, training):
        scale, offset = self._affine(x.shape[-1])
        x2 = x.reshape(-1, x.shape[-1])
        return ops.channel_affine(x2, scale, offset,
                                  out=ctx.buffer("y", x2.shape)).reshape(x.shape)

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        scale, _ = self._affine(dy.shape[-1])
        zero = ctx.buffer("zero", scale.shape)
        zero[...] = 0.0
        dy2 = dy.reshape(-1, dy.shape[-1])
        return ops.channel_affine(dy2, scale, zero,
                                  out=ctx.buffer("dx", dy2.shape)).reshape(dy.shape)

    def _eager_call(self, inputs, training):
        return super()._eager_call(image_batch(inputs), training)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


# Keras's backend.epsilon(): the smallest standard deviation Normalization
# divides by.
_EPSILON = 1e-7


class Normalization(Layer):
    """Standardizes its input: ``(x - mean) / sqrt(variance)`` with one mean
    and variance per position of the kept ``axis`` (the last by default;
    None: one for everything), given as arguments or learned from data by
    ``adapt``; ``invert=True`` undoes it."""
    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int) and not isinstance(axis, bool):
            axis = (axis,)
        try:
            self.axis = tuple(int(a) for a in axis)
        except (TypeError, ValueError):
            raise ValueError(f"{_label(self)}: axis must be an int, a tuple of ints or None, "
                             f"got {axis!r}") from None
        if (mean is None) != (variance is None):
            raise ValueError(f"{_label(self)}: when setting values directly, both mean and "
                             f"variance must be set; got mean={mean!r} and "
                             f"variance={variance!r}")
        self.input_mean = None if mean is None else np.asarray(mean, np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, np.float64)
        if mean is not None:
            if self.input_mean.shape != self.input_variance.shape:
                raise ValueError(f"{_label(self)}: mean and variance must have the same shape; "
                                 f"got {self.input_mean.shape} and "
                                 f"{self.input_variance.shape}")
            if self.input_mean.ndim > len(self.axis):
                raise ValueError(f"{_label(self)}: the rank of mean ({self.input_mean.ndim}) "
                                 f"must be at most the number of axes ({len(self.axis)})")
            if np.any(self.input_variance < 0) or not np.all(np.isfinite(self.input_mean)):
                raise ValueError(f"{_label(self)}: variance must be >= 0 and mean finite")
        self.invert = bool(invert)

    def __call__(self, inputs=None, *args, **kwargs):
        return super().__call__(self._with_batch_axes(inputs), *args, **kwargs)

    def _with_batch_axes(self, inputs):
        """One element of the data adapt() saw (``dataset.map(norm)`` on
        unbatched examples): its shape lacks the leading axes, so it gets
        them with size 1, as Keras 3's statistics broadcast to it ((3,) in,
        (1, 3) out)."""
        shape = self.__dict__.get("_build_input_shape")
        if not self.built or shape is None or not isinstance(
                inputs, (np.ndarray, list, float, int, np.generic)):
            return inputs
        x = np.asarray(inputs)
        missing = len(shape) - x.ndim
        if missing <= 0 or x.dtype.kind not in "biuf":
            return inputs
        full = (1,) * missing + x.shape
        if any(full[a] != shape[a] for a in self._keep):
            return inputs   # (not an element of that data: the usual error follows)
        return x.reshape(full)

    @property
    def fixed_input_axes(self):
        return getattr(self, "_keep", None) or ()

    @property
    def fixed_input_rank(self):
        # With axis=None (one mean and variance for everything) any input
        # fits, whatever the rank adapt() saw: a 1-D column adapted, then
        # called as (batch, 1) in a model, as Keras allows.
        return getattr(self, "_keep", None) != ()

    def _keep_axes(self, rank):
        keep = []
        for a in self.axis:
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f"{_label(self)}: axis {self.axis} must name axes of the input "
                                 f"other than the batch axis; the input has rank {rank}")
            keep.append(a % rank)
        return tuple(sorted(set(keep)))

    def compute_output_shape(self, input_shape):
        for a in self._keep_axes(len(input_shape)):
            if input_shape[a] is None:
                raise ValueError(f"{_label(self)}: the kept axis {a} of the input of shape "
                                 f"{shape_str(input_shape)} must have a known size")
        return tuple(input_shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        rank = len(input_shape)
        self._keep = self._keep_axes(rank)
        self._keep_shape = tuple(int(input_shape[a]) for a in self._keep)
        # The statistics are applied over the trailing block of axes from
        # the first kept one (the whole last axis when nothing is kept).
        first = self._keep[0] if self._keep else rank - 1
        self._block = tuple(range(first, rank))
        if self.input_mean is None:
            self.mean = self.add_weight("mean", self._keep_shape, "zeros", trainable=False)
            self.variance = self.add_weight("variance", self._keep_shape, "ones",
                                            trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False)
        else:
            self.mean = self.variance = self.count = None
            try:
                self._given = [self._to_keep_shape(v) for v in (self.input_mean,
                                                                self.input_variance)]
            except ValueError:
                raise ValueError(f"{_label(self)}: mean of shape {self.input_mean.shape} does "
                                 f"not fit the kept axes {self._keep} of an input of shape "
                                 f"{shape_str(input_shape)}") from None
        self.built = True

    def _to_keep_shape(self, v):
        aligned = (1,) * (len(self._keep_shape) - v.ndim) + v.shape
        return np.broadcast_to(v.reshape(aligned), self._keep_shape)

    def _statistics(self):
        if self.mean is not None:
            return self.mean.value, self.variance.value
        return self._given

    def _affine(self, x_shape):
        """Scale and shift over the block's values, as flat vectors."""
        mean, var = self._statistics()
        scale, shift = ops.standardize_affine(mean, var, self.invert, _EPSILON)
        # (nothing kept: the statistics are scalars, over an input of any rank)
        block = self._block if self._keep else (len(x_shape) - 1,)
        block_shape = tuple(x_shape[a] for a in block)
        stat_shape = tuple(x_shape[a] if a in self._keep else 1 for a in block)
        flat = [np.ascontiguousarray(np.broadcast_to(v.reshape(stat_shape),
                                                     block_shape)).reshape(-1)
                for v in (scale, shift)]
        return flat[0], flat[1]

    def forward(self, ctx, x, training):
        scale, shift = self._affine(x.shape)
        x2 = x.reshape(-1, scale.size)
        return ops.channel_affine(x2, scale, shift,
                                  out=ctx.buffer("y", x2.shape)).reshape(x.shape)

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        scale, _ = self._affine(dy.shape)
        zero = ctx.buffer("zero", scale.shape)
        zero[...] = 0.0
        dy2 = dy.reshape(-1, scale.size)
        return ops.channel_affine(dy2, scale, zero,
                                  out=ctx.buffer("dx", dy2.shape)).reshape(dy.shape)

    def adapt(self, data):
        """Sets the mean and variance from ``data``: an array, or an iterable
        of batches (arrays, or tuples whose first item is the array), as
        Keras's adapt."""
        if self.input_mean is not None:
            raise ValueError(f"{_label(self)}: mean and variance were given; adapt() would "
                             f"replace them")
        from ..utils.dataset import Dataset
        if isinstance(data, Dataset):
            spec = data.element_spec
            spec = spec[0] if isinstance(spec, tuple) else spec
            if len(getattr(spec, "shape", ()) or ()) == 1:
                # a dataset of single rows (from_tensor_slices of a table,
                # not batched) is read in batches of 128, as Keras 3 does
                data = data.batch(128)
        batches = [data] if isinstance(data, np.ndarray) else data
        try:
            iterator = iter(batches)
        except TypeError:
            raise TypeError(f"{_label(self)}: adapt() takes an array or an iterable of "
                            f"batches, got {type(data).__name__}") from None
        mean = var = None
        count = 0
        for batch in iterator:
            if isinstance(batch, (tuple, list)) and batch and not np.isscalar(batch[0]):
                batch = batch[0]
            x = np.ascontiguousarray(batch, np.float32)
            if x.ndim < 1:
                raise ValueError(f"{_label(self)}: adapt() needs batches of arrays, got a "
                                 f"scalar")
            if not self.built:
                self.build_for((None,) + x.shape[1:])
            elif x.ndim != len(self._build_input_shape) or any(
                    x.shape[a] != self._build_input_shape[a] for a in self._keep):
                raise ValueError(f"{_label(self)}: adapt() got a batch of shape {x.shape}; the "
                                 f"layer was built for {shape_str(self._build_input_shape)}")
            if not ops.all_finite(x):
                raise ValueError(f"{_label(self)}: adapt() data contains NaN or infinite values")
            b_mean, b_var, b_count = self._moments(x)
            if b_count == 0:
                continue
            if mean is None:
                mean, var, count = b_mean, b_var, b_count
            else:
                mean, var, count = ops.combine_moments(mean, var, count, b_mean, b_var, b_count)
        if mean is None:
            raise ValueError(f"{_label(self)}: adapt() received no data")
        self.mean.assign(np.asarray(mean).reshape(self._keep_shape))
        self.variance.assign(np.asarray(var).reshape(self._keep_shape))

    def _moments(self, x):
        """Mean and variance per kept position (kept axes moved last, in C),
        and how many values each summarizes."""
        keep = self._keep
        size = int(np.prod(self._keep_shape, dtype=np.int64)) if keep else 1
        if keep and keep != tuple(range(x.ndim - len(keep), x.ndim)):
            x = ops.transpose(x, tuple(a for a in range(x.ndim) if a not in keep) + keep)
        x2 = x.reshape(-1, size)
        mean, var = ops.moments(x2)
        return mean.astype(np.float64), var.astype(np.float64), x2.shape[0]

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": None if self.input_mean is None else self.input_mean.tolist(),
                "variance": None if self.input_variance is None else
                self.input_variance.tolist()}


def _dimension(value, what, layer):
    try:
        ok = int(value) == value and int(value) > 0 and not isinstance(value, bool)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{_label(layer)}: {what} must be a positive integer, got {value!r}")
    return int(value)


def image_batch(inputs):
    """A list of equally shaped images (scikit-learn's
    ``load_sample_images()["images"]``) as one batch, as tf.keras 2
    converts it for an image layer; anything else as it is."""
    if isinstance(inputs, (list, tuple)) and inputs and \
            all(isinstance(v, np.ndarray) for v in inputs) and \
            len({v.shape for v in inputs}) == 1:
        return np.stack(inputs)
    return inputs


class ImagesAndBoxes:
    """Keras 3's image preprocessing layers called on a dict:
    ``{"images": ..., "bounding_boxes": {"boxes": ..., "labels": ...},
    "labels": ...}`` (one image or a batch; the boxes (N, 4) or (batch, N,
    4) in the layer's ``bounding_box_format``).  The images are transformed
    as the layer transforms them and each box follows its image: its
    corners go where the transformation moves those points of the image,
    the box becomes the smallest one holding them, clipped to the output
    image, and a box left with no area gets the label -1.  Image-level
    ``labels`` pass through.  A layer gives ``_box_maps(ctx, x, y)``: one
    2x3 affine map of box coordinates per image (pixel i covering [i,
    i + 1)), or None where the boxes stay as they are."""

    def _images_and_boxes(self, inputs, training):
        from ..models.node import KerasTensor
        from ..models.node import CallContext
        from ..utils import bounding_boxes as bb
        label = _label(self)
        unknown = sorted(set(inputs) - {"images", "bounding_boxes", "labels"})
        if "images" not in inputs or unknown:
            raise ValueError(f"{label}: a dict input takes the keys 'images', 'bounding_boxes' "
                             f"and 'labels', with 'images'; got keys {sorted(inputs)}")
        if any(isinstance(v, KerasTensor) for v in (inputs["images"],)):
            raise TypeError(f"{label}: a dict of images and bounding boxes is transformed on "
                            f"data (a dataset's map step), not in a graph")
        images = np.asarray(inputs["images"], np.float32)
        if images.ndim not in (3, 4):
            raise ValueError(f"{label}: expected an image (height, width, channels) or a batch "
                             f"of them, got shape {shape_str(images.shape)}")
        single = images.ndim == 3
        x = np.ascontiguousarray(images[None] if single else images)
        self.build_for((None,) + x.shape[1:])
        if training is None:
            training = getattr(self, "_training_default", False)
        ctx = CallContext()
        y = np.array(self.forward(ctx, x, bool(training)))
        out = dict(inputs)
        out["images"] = y[0] if single else y
        if "bounding_boxes" not in inputs:
            return out
        fmt = getattr(self, "bounding_box_format", None)
        if not fmt:
            raise ValueError(f"You passed an input with a 'bounding_boxes' key, but you didn't "
                             f"specify a bounding box format. Pass a `bounding_box_format` "
                             f"argument to your {type(self).__name__} layer, e.g. "
                             f"`bounding_box_format='xyxy'`.")
        given = inputs["bounding_boxes"]
        if not isinstance(given, dict) or "boxes" not in given:
            raise ValueError(f"{label}: 'bounding_boxes' must be a dict with 'boxes' (and "
                             f"'labels'), got {type(given).__name__}")
        boxes = np.asarray(given["boxes"], np.float32)
        labels = given.get("labels")
        if single:
            boxes = boxes[None]
            labels = None if labels is None else np.asarray(labels)[None]
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or boxes.shape[0] != x.shape[0]:
            raise ValueError(f"{label}: boxes must be of shape (N, 4) for one image or "
                             f"(batch, N, 4) for a batch of {x.shape[0]}, got "
                             f"{np.shape(given['boxes'])}")
        if labels is not None and np.shape(labels) != boxes.shape[:2]:
            raise ValueError(f"{label}: box labels of shape {np.shape(given['labels'])} do not "
                             f"match boxes of shape {np.shape(given['boxes'])}")
        if self.data_format == "channels_first":  # (the maps read channels-last images)
            x, y = np.moveaxis(x, 1, -1), np.moveaxis(y, 1, -1)
        maps = self._box_maps(ctx, x, y) if training or not self._box_maps_need_training \
            else None
        moved = dict(given)
        if maps is not None:
            (h, w), (oh, ow) = x.shape[1:3], y.shape[1:3]
            corners = bb.transform_corners(bb.convert_format(boxes, fmt, "xyxy", h, w), maps)
            clipped = bb.clip_to_image_size({"boxes": corners, "labels": labels}, oh, ow)
            boxes = bb.convert_format(clipped["boxes"], "xyxy", fmt, oh, ow)
            labels = clipped.get("labels")
        moved["boxes"] = boxes[0] if single else boxes
        if labels is not None:
            moved["labels"] = labels[0] if single else labels
        out["bounding_boxes"] = moved
        return out

    # a random layer moves boxes only while it transforms (training)
    _box_maps_need_training = False

    def _box_maps(self, ctx, x, y):
        raise ValueError(f"{_label(self)}: bounding boxes are not transformed by this layer")


def window_maps(n, window, size):
    """The box maps of a resize of each image's ``window`` (top, left,
    height, width) to ``size``: a shift to the window, then a scale."""
    top, left, wh, ww = window
    sy, sx = size[0] / wh, size[1] / ww
    return np.broadcast_to(np.array([[sx, 0.0, -left * sx], [0.0, sy, -top * sy]]), (n, 2, 3))


class _Image(ChannelsFirst, ImagesAndBoxes, Layer):
    """A layer over NHWC images of any size (or NCHW ones, by data_format)."""
    rank = 2  # (the images' spatial axes, for ChannelsFirst)
    fixed_input_axes = ()
    # (one image or a batch of them, as Keras's: built on either, called on
    # the other)
    fixed_input_rank = False

    def __init__(self, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        self.bounding_box_format = bounding_box_format

    def get_config(self):
        config = super().get_config()
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config

    def _check_images(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{_label(self)}: expected a batch of images (batch, height, "
                             f"width, channels), got shape {shape_str(input_shape)}")

    def compute_output_shape(self, input_shape):
        self._check_images(input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def _eager_call(self, inputs, training):
        if isinstance(inputs, dict):
            return self._images_and_boxes(inputs, training)
        inputs = image_batch(inputs)
        # As Keras's: a single image (height, width, channels) too, as a
        # tf.data map gives them.
        if np.ndim(inputs) == 3:
            return super()._eager_call(np.asarray(inputs)[None], training)[0]
        return super()._eager_call(inputs, training)


class Resizing(_Image):
    """Resizes images to ``height`` x ``width`` ('bilinear', 'nearest',
    'bicubic', 'lanczos3' or 'lanczos5', with half-pixel centres and
    optional antialiasing, as Keras 3's ops.image.resize; or TensorFlow's
    'area', 'gaussian' and 'mitchellcubic'), optionally
    cropping or padding them to the target's aspect ratio first."""
    INTERPOLATIONS = ops.RESIZE_INTERPOLATIONS

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        label = _label(self)
        self.height = _dimension(height, "height", self)
        self.width = _dimension(width, "width", self)
        interpolation = str(interpolation).lower()
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(f"{label}: interpolation must be one of {self.INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError(f"{label}: only one of crop_to_aspect_ratio and "
                             f"pad_to_aspect_ratio can be True")
        if fill_mode != "constant":
            raise ValueError(f"{label}: fill_mode must be 'constant', got {fill_mode!r}")
        self.fill_mode = fill_mode
        try:
            self.fill_value = float(fill_value)
        except (TypeError, ValueError):
            raise ValueError(f"{label}: fill_value must be a number, got {fill_value!r}") \
                from None
        self.antialias = bool(antialias)
        self._set_data_format(data_format, label)

    def _padding(self, h, w):
        """((top, bottom), (left, right)) for pad_to_aspect_ratio, as Keras
        3 pads: the same on both sides of one axis."""
        if not self.pad_to_aspect_ratio:
            return None
        ph = max(h, int(float(w * self.height) / self.width))
        pw = max(w, int(float(h * self.width) / self.height))
        top, left = int(float(ph - h) / 2), int(float(pw - w) / 2)
        if top > 0:
            return ((top, top), (0, 0))
        if left > 0:
            return ((0, 0), (left, left))
        return None

    def forward(self, ctx, x, training):
        n, h, w, c = x.shape
        pads = self._padding(h, w)
        src = x
        if pads is not None:
            (t, _), (l, _) = pads
            src = ops.spatial_pad(x, pads, self.fill_value,
                          out=ctx.buffer("padded", (n, h + 2 * t, w + 2 * l, c)))
        window = ops.resize_geometry(src.shape[1], src.shape[2], (self.height, self.width),
                                     self.crop_to_aspect_ratio)
        if training:
            ctx.src_shape, ctx.window, ctx.pads = src.shape, window, pads
        return ops.resize(src, (self.height, self.width), self.interpolation, window,
                          out=ctx.buffer("y", (n, self.height, self.width, c)),
                          antialias=self.antialias)

    def _box_maps(self, ctx, x, y):
        n, h, w, _ = x.shape
        pads = self._padding(h, w)
        (top, _), (left, _) = pads or ((0, 0), (0, 0))
        window = ops.resize_geometry(h + 2 * top, w + 2 * left, (self.height, self.width),
                                     self.crop_to_aspect_ratio)
        maps = np.array(window_maps(n, window, (self.height, self.width)))
        maps[:, :, 2] += maps[:, :, :2] @ np.array([left, top], np.float64)  # padded first
        return maps

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        dsrc = ops.resize_grad(dy, ctx.src_shape, self.interpolation, ctx.window,
                               out=ctx.buffer("dsrc", ctx.src_shape), antialias=self.antialias)
        if ctx.pads is None:
            return dsrc
        n, h, w, c = ctx.src_shape
        (t, _), (l, _) = ctx.pads
        return ops.spatial_crop(dsrc, ctx.pads, out=ctx.buffer("dx", (n, h - 2 * t, w - 2 * l, c)))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias,
                "data_format": self.data_format}


class CenterCrop(_Image):
    """The central ``height`` x ``width`` part of each image; an image
    smaller than that is first cropped to the target's aspect ratio and
    resized (bilinear), as Keras 3's CenterCrop does."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = _dimension(height, "height", self)
        self.width = _dimension(width, "width", self)
        self._set_data_format(data_format, _label(self))

    def _crop(self, h, w):
        """((top, bottom), (left, right)) to crop, or None to resize."""
        if h < self.height or w < self.width:
            return None
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return ((top, h - self.height - top), (left, w - self.width - left))

    def forward(self, ctx, x, training):
        n, h, w, c = x.shape
        out = ctx.buffer("y", (n, self.height, self.width, c))
        cropping = self._crop(h, w)
        if training:
            ctx.x_shape = x.shape
        if cropping is not None:
            return ops.spatial_crop(x, cropping, out=out)
        window = ops.resize_geometry(h, w, (self.height, self.width), True)
        return ops.resize(x, (self.height, self.width), "bilinear", window, out=out)

    def _box_maps(self, ctx, x, y):
        n, h, w, _ = x.shape
        cropping = self._crop(h, w)
        window = (cropping[0][0], cropping[1][0], self.height, self.width) if cropping \
            else ops.resize_geometry(h, w, (self.height, self.width), True)
        return window_maps(n, window, (self.height, self.width))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        n, h, w, c = ctx.x_shape
        dx = ctx.buffer("dx", ctx.x_shape)
        cropping = self._crop(h, w)
        if cropping is not None:
            return ops.spatial_pad(dy, cropping, out=dx)
        window = ops.resize_geometry(h, w, (self.height, self.width), True)
        return ops.resize_grad(dy, ctx.x_shape, "bilinear", window, out=dx)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "data_format": self.data_format}
