"""Resizing image batches as tf.image.resize does (half-pixel centres, no
antialiasing), through the affine warp kernel: output pixel (r, c) reads
the input at ((r + 0.5) * h_in / h_out - 0.5, (c + 0.5) * w_in / w_out -
0.5), bilinear, or the pixel floor((r + 0.5) * h_in / h_out) for 'nearest';
taps past an edge repeat it.  Also the crop and pad boxes of Keras's
crop_to_aspect_ratio and pad_to_aspect_ratio."""
import math

import numpy as np

from .. import ops

RESIZE_INTERPOLATIONS = ("bilinear", "nearest")


def resize_images(images, size, interpolation="bilinear"):
    """A batch (n, h, w, c) resized to ``size`` (height, width), float32."""
    if interpolation not in RESIZE_INTERPOLATIONS:
        raise ValueError(f"resize: interpolation must be one of {list(RESIZE_INTERPOLATIONS)}, "
                         f"got {interpolation!r}")
    images = np.ascontiguousarray(images, dtype=np.float32)
    n, h, w = images.shape[:3]
    if (h, w) == tuple(size):
        return images
    sh, sw = h / size[0], w / size[1]
    m = np.array([[sh, 0.0, 0.5 * sh - 0.5], [0.0, sw, 0.5 * sw - 0.5]])
    return ops.affine_warp(images, m, output_shape=size, interpolation=interpolation,
                           fill_mode="nearest")


def crop_box(height, width, size):
    """(top, left, crop_height, crop_width): the largest centred window of
    the target's aspect ratio, as Keras's smart_resize takes it."""
    th, tw = size
    crop_h = max(min(height, int(float(width * th) / tw)), 1)
    crop_w = max(min(width, int(float(height * tw) / th)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def pad_box(height, width, size):
    """(top, left, resized_height, resized_width) of an image resized to fit
    ``size`` without distortion and padded around with zeros, as
    tf.image.resize_with_pad places it."""
    th, tw = size
    ratio = max(width / tw, height / th)
    rh, rw = height / ratio, width / ratio
    return (max(0, math.floor((th - rh) / 2)), max(0, math.floor((tw - rw) / 2)),
            max(1, math.floor(rh)), max(1, math.floor(rw)))
