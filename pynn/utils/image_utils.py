"""Reading and writing image files, with Keras's names and arguments:
``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``.

Pillow is an optional dependency (``pip install 'pynn[image]'``), imported
on first use.  Images are NumPy arrays of shape (height, width, channels)
(channels_last; ``data_format='channels_first'`` is accepted here, where it
costs only a transpose).
"""
import io
import os
import pathlib
import warnings

import numpy as np

from .io import atomic_write

COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
# Pillow's resampling filters by Keras's names.
PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def pil_image():
    """The PIL.Image module, or an ImportError that says how to get it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("Reading and writing images needs Pillow, which is not installed: "
                          "pip install 'pynn[image]' (or pip install pillow)") from None
    return Image


def check_interpolation(name, where):
    """A Pillow resampling filter's name, or a ValueError naming it."""
    if name not in PIL_INTERPOLATIONS:
        raise ValueError(f"{where}: interpolation must be one of {list(PIL_INTERPOLATIONS)}, "
                         f"got {name!r}")
    return name


def _resample(name, where):
    check_interpolation(name, where)
    image = pil_image()
    resampling = getattr(image, "Resampling", image)
    return getattr(resampling, name.upper())


def _data_format(data_format, where):
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return data_format


def check_color_mode(color_mode, where):
    """The channel count of a Keras color mode, or a ValueError naming it."""
    try:
        return COLOR_MODES[color_mode]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: color_mode must be 'grayscale', 'rgb' or 'rgba', "
                         f"got {color_mode!r}") from None


def check_size(size, where, name):
    """(height, width) from a pair of positive integers."""
    try:
        h, w = size
        h, w = int(h), int(w)
        if h != size[0] or w != size[1]:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} must be (height, width), two integers, "
                         f"got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{where}: {name} must be positive, got {size!r}")
    return h, w


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False, grayscale=False):
    """Load an image file into a PIL image (Keras's ``load_img``).

    ``color_mode`` is 'grayscale', 'rgb' or 'rgba'; ``target_size``
    (height, width) resizes with ``interpolation`` ('nearest', 'bilinear',
    'bicubic', 'hamming', 'box', 'lanczos'), after cropping the centre to the
    target's aspect ratio when ``keep_aspect_ratio``.  A file that is not a
    readable image raises a ValueError naming it.  ``grayscale=True``,
    tf.keras 2's older spelling, means ``color_mode="grayscale"`` (with its
    deprecation warning).
    """
    if grayscale:
        warnings.warn('grayscale is deprecated. Please use color_mode = "grayscale"',
                      stacklevel=2)
        color_mode = "grayscale"
    check_color_mode(color_mode, "load_img")
    if target_size is not None:
        target_size = check_size(target_size, "load_img", "target_size")
        resample = _resample(interpolation, "load_img")
    image = pil_image()
    if isinstance(path, io.BytesIO):
        name, data = "<BytesIO>", path
    elif isinstance(path, (str, bytes, os.PathLike)):
        name = os.fsdecode(path)
        with open(path, "rb") as f:
            data = io.BytesIO(f.read())
    else:
        raise TypeError(f"load_img: path should be path-like or io.BytesIO, "
                        f"not {type(path).__name__}")
    try:
        img = image.open(data)
        img.load()
    except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for bad or truncated files
        raise ValueError(f"load_img: cannot read {name!r} as an image: {e}") from e
    if color_mode == "grayscale":
        # 8-, 16- and 32-bit grayscale stay as they are, as in Keras
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            box = None
            if keep_aspect_ratio:
                width, height = img.size
                crop_height = min(height, (width * target_size[0]) // target_size[1])
                crop_width = min(width, (height * target_size[1]) // target_size[0])
                top, left = (height - crop_height) // 2, (width - crop_width) // 2
                box = (left, top, left + crop_width, top + crop_height)
            img = img.resize(width_height, resample, box=box)
    return img


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a 3-D NumPy array (Keras's ``img_to_array``)."""
    data_format = _data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x.reshape(x.shape + (1,))
    elif x.ndim != 3:
        raise ValueError(f"img_to_array: unsupported image shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(2, 0, 1)
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array as a PIL image (Keras's ``array_to_img``): with ``scale``
    the values are mapped onto [0, 255] first; 1, 3 or 4 channels."""
    data_format = _data_format(data_format, "array_to_img")
    image = pil_image()
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected one image of rank 3, got shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:  # 32-bit signed grayscale, PIL mode "I"
            return image.fromarray(x[:, :, 0].astype("int32"), "I")
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: unsupported channel number {channels} "
                     f"(1, 3 or 4 are images)")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save an array as an image file (Keras's ``save_img``).  The format
    comes from ``file_format`` or the file's extension; a path is written
    atomically (a crash never leaves half an image).  ``kwargs`` go to
    PIL's ``Image.save``."""
    if file_format is None and isinstance(path, (str, pathlib.PurePath)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("save_img: JPEG has no alpha channel; saving the image as RGB.")
        img = img.convert("RGB")
    if file_format is None and isinstance(path, (str, bytes, os.PathLike)):
        raise ValueError(f"save_img: cannot tell the format of {os.fsdecode(path)!r}: "
                         f"give it an extension or file_format=")
    if isinstance(path, (str, bytes, os.PathLike)):
        with atomic_write(path, "wb") as f:
            img.save(f, format=file_format, **kwargs)
    else:
        img.save(path, format=file_format, **kwargs)


def smart_resize(x, size, interpolation="bilinear"):
    """Resize an image (h, w, c) or a batch (n, h, w, c) to ``size`` without
    distorting it: the largest centred crop of the target's aspect ratio,
    resized (Keras's ``smart_resize``; 'bilinear' or 'nearest', computed as
    tf.image.resize does)."""
    from .image_resize import crop_box, resize_images
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"smart_resize: expected an image (height, width, channels) or a "
                         f"batch of them, got shape {x.shape}")
    size = check_size(size, "smart_resize", "size")
    batch = x if x.ndim == 4 else x[None]
    top, left, h, w = crop_box(batch.shape[1], batch.shape[2], size)
    out = resize_images(batch[:, top:top + h, left:left + w], size, interpolation)
    return out if x.ndim == 4 else out[0]
