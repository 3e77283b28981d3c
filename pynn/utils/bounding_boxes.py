"""Keras 3's ``keras.utils.bounding_boxes``: boxes (an array whose last
axis holds 4 numbers, ``(N, 4)`` or ``(batch, N, 4)``) converted between
formats, clipped, cropped, padded and moved by an affine map; IoU and
CIoU; anchor deltas.  Formats (case-insensitive):

- ``xyxy`` [left, top, right, bottom], ``yxyx`` [top, left, bottom, right]
- ``xywh`` [left, top, width, height]
- ``center_xywh`` [centre x, centre y, width, height],
  ``center_yxhw`` [centre y, centre x, height, width]
- ``rel_xyxy``, ``rel_yxyx``, ``rel_xywh``, ``rel_center_xywh``: the same
  as fractions of the image's width and height.

A bounding-box dict is ``{"boxes": ..., "labels": ...}``; clipping gives a
box left with no area the label -1, as Keras does.  Pixel i covers
[i, i + 1): the box ``[0, 0, width, height]`` is the whole image.
"""
import math

import numpy as np

SUPPORTED_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy",
                     "rel_yxyx", "rel_xywh", "rel_center_xywh")
_EPSILON = 1e-7  # Keras's backend epsilon


def _array(boxes, dtype="float32", what="boxes"):
    a = np.asarray(boxes, dtype=dtype)
    if a.ndim < 1 or a.shape[-1] != 4:
        raise ValueError(f"`{what}` must be a tensor with the last dimension of 4. "
                         f"Received: {what}.shape={a.shape}")
    return a


def _to_xyxy(b, fmt, height, width):
    rel = fmt.startswith("rel_")
    fmt = fmt[4:] if rel else fmt
    p, q, r, s = (b[..., i] for i in range(4))
    if fmt == "xyxy":
        x1, y1, x2, y2 = p, q, r, s
    elif fmt == "yxyx":
        x1, y1, x2, y2 = q, p, s, r
    elif fmt == "xywh":
        x1, y1, x2, y2 = p, q, p + r, q + s
    elif fmt == "center_xywh":
        x1, y1, x2, y2 = p - r / 2, q - s / 2, p + r / 2, q + s / 2
    else:  # center_yxhw
        x1, y1, x2, y2 = q - s / 2, p - r / 2, q + s / 2, p + r / 2
    out = np.stack([x1, y1, x2, y2], axis=-1)
    if rel:
        out = out * np.asarray([width, height, width, height], out.dtype)
    return out


def _from_xyxy(b, fmt, height, width):
    rel = fmt.startswith("rel_")
    fmt = fmt[4:] if rel else fmt
    if rel:
        b = b / np.asarray([width, height, width, height], b.dtype)
    x1, y1, x2, y2 = (b[..., i] for i in range(4))
    w, h = x2 - x1, y2 - y1
    parts = {"xyxy": (x1, y1, x2, y2), "yxyx": (y1, x1, y2, x2), "xywh": (x1, y1, w, h),
             "center_xywh": (x1 + w / 2, y1 + h / 2, w, h),
             "center_yxhw": (y1 + h / 2, x1 + w / 2, h, w)}[fmt]
    return np.stack(parts, axis=-1)


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """``boxes`` (or a bounding-box dict's ``boxes``) from format
    ``source`` to ``target``; a relative format on either side needs the
    image's ``height`` and ``width``."""
    if isinstance(boxes, dict):
        out = dict(boxes)
        out["boxes"] = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return out
    b = _array(boxes, dtype)
    source, target = str(source).lower(), str(target).lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ValueError(f"Invalid source or target format. Supported formats: "
                         f"{SUPPORTED_FORMATS}")
    if (source.startswith("rel_") or target.startswith("rel_")) and \
            (width is None or height is None):
        raise ValueError(f"convert_format() must receive `height` and `width` transforming "
                         f"between relative and absolute formats. convert_format() received "
                         f"source=`{source}`, target=`{target}, but height={height} and "
                         f"width={width}.")
    if source == target:
        return b
    if source.startswith("rel_") and target.startswith("rel_"):
        # (relative to relative: no image size needed)
        source, target, height, width = source[4:], target[4:], None, None
    return _from_xyxy(_to_xyxy(b, source, height, width), target, height, width).astype(dtype)


def _labels_kept(boxes, labels):
    """-1 for the boxes (xyxy) left with no area, as Keras's clipping."""
    if labels is None:
        return None
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    labels = np.asarray(labels)
    return np.where(area > 0, labels, np.asarray(-1, labels.dtype))


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """A bounding-box dict with its boxes clipped to the image (``xyxy``:
    to [0, width] x [0, height]; ``rel_xyxy``: to [0, 1]); a box left with
    no area gets the label -1."""
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError(f"clip_to_image_size: bounding_box_format must be 'xyxy' or "
                                  f"'rel_xyxy' (convert_format first), got "
                                  f"{bounding_box_format!r}")
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("`height` and `width` must be set if `format='xyxy'`.")
    boxes = np.asarray(bounding_boxes["boxes"])
    if boxes.dtype.kind != "f":
        boxes = boxes.astype("float32")
    hi = np.asarray([width, height, width, height], boxes.dtype) \
        if bounding_box_format == "xyxy" else np.ones(4, boxes.dtype)
    boxes = np.clip(boxes, 0, hi).astype(boxes.dtype)
    out = dict(bounding_boxes)
    out["boxes"] = boxes
    if bounding_boxes.get("labels") is not None:
        out["labels"] = _labels_kept(boxes, bounding_boxes["labels"])
    return out


def _inverse_affine(center_x, center_y, angle, translate_x, translate_y, scale, shear_x,
                    shear_y, height, width):
    """(batch, 2, 3): the map of a point of the image to where the affine
    transform (rotation by ``angle`` degrees, shear, scale about the
    centre, then a translation by fractions of the size) puts it: TensorFlow's
    inverse affine matrix of the opposite angles and shears, as Keras
    builds it."""
    angle = np.asarray(angle, np.float32).reshape(-1)
    f32 = (lambda v: np.broadcast_to(np.asarray(v, np.float32).reshape(-1), angle.shape))
    rot = np.float32(math.pi / 180) * -angle
    sx, sy = np.float32(math.pi / 180) * -f32(shear_x), np.float32(math.pi / 180) * -f32(shear_y)
    cx = f32(center_x) * (width - 1)
    cy = f32(center_y) * (height - 1)
    tx, ty = -f32(translate_x) * (width - 1), -f32(translate_y) * (height - 1)
    scale = f32(scale)
    a = np.cos(rot - sy) / np.cos(sy)
    b = a * np.tan(sx) + np.sin(rot)
    c = -np.sin(rot - sy) / np.cos(sy)
    d = np.cos(rot) - c * np.tan(sx)
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    return np.stack([np.stack([a0, a1, a2], -1), np.stack([b0, b1, b2], -1)], axis=1)


def transform_corners(boxes, matrices):
    """xyxy ``boxes`` (batch, N, 4) moved by one 2x3 affine map per image
    (batch, 2, 3): the smallest box holding each box's four moved
    corners."""
    x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
    xs = np.stack([x1, x2, x2, x1], axis=-1)
    ys = np.stack([y1, y1, y2, y2], axis=-1)
    m = np.asarray(matrices, boxes.dtype)[:, None, None]   # (batch, 1, 1, 2, 3)
    px = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    py = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    return np.stack([px.min(-1), py.min(-1), px.max(-1), py.max(-1)], axis=-1)


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                     width, center_x=None, center_y=None, bounding_box_format="xyxy"):
    """``boxes`` (batch, N, 4), xyxy, through one affine transform per
    image: a rotation by ``angle`` degrees, shears ``shear_x`` /
    ``shear_y`` (degrees) and ``scale`` about the centre (``center_x``,
    ``center_y``: fractions, 0.5 by default), then a shift by
    ``translate_x`` / ``translate_y`` (fractions of the size); each box
    becomes the smallest box holding its moved corners (not clipped)."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError(f"affine_transform: bounding_box_format must be 'xyxy', got "
                                  f"{bounding_box_format!r}")
    b = np.asarray(boxes, np.float32)
    if b.ndim != 3 or b.shape[-1] != 4:
        raise ValueError(f"affine_transform: boxes must be of shape (batch, N, 4), got "
                         f"{b.shape}")
    m = _inverse_affine(0.5 if center_x is None else center_x,
                        0.5 if center_y is None else center_y, angle, translate_x, translate_y,
                        scale, shear_x, shear_y, height, width)
    if m.shape[0] != b.shape[0]:
        raise ValueError(f"affine_transform: {m.shape[0]} transforms for a batch of "
                         f"{b.shape[0]} images")
    return transform_corners(b, m)


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """xyxy ``boxes`` in the window of ``height`` x ``width`` at (``top``,
    ``left``): shifted by it and clipped to it."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError(f"crop: bounding_box_format must be 'xyxy', got "
                                  f"{bounding_box_format!r}")
    b = _array(boxes, np.asarray(boxes).dtype if np.asarray(boxes).dtype.kind == "f"
               else "float32")
    shifted = b - np.asarray([left, top, left, top], b.dtype)
    return np.clip(shifted, 0, np.asarray([width, height, width, height], b.dtype))


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """xyxy ``boxes`` of an image padded by ``top`` rows and ``left``
    columns: shifted by them."""
    if bounding_box_format != "xyxy":
        raise NotImplementedError(f"pad: bounding_box_format must be 'xyxy', got "
                                  f"{bounding_box_format!r}")
    b = _array(boxes, np.asarray(boxes).dtype if np.asarray(boxes).dtype.kind == "f"
               else "float32")
    return b + np.asarray([left, top, left, top], b.dtype)


def _image_size(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


def _variance(variance):
    if variance is None:
        return None
    v = np.asarray(variance, np.float32)
    if v.shape[-1:] != (4,):
        raise ValueError(f"`variance` must be length 4, got {variance}")
    return v


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format,
                         encoding_format="center_yxhw", variance=None, image_shape=None):
    """The deltas that move each anchor onto its box, in
    ``encoding_format`` ('center_yxhw' or 'center_xywh'): the centre's
    offset over the anchor's size, then the log of the sizes' ratio;
    divided by ``variance`` when given."""
    variance = _variance(variance)
    if encoding_format not in ("center_xywh", "center_yxhw"):
        raise ValueError(f"`encoding_format` should be one of 'center_xywh' or 'center_yxhw', "
                         f"got {encoding_format}")
    height, width = _image_size(image_shape)
    a = convert_format(anchors, anchor_format, encoding_format, height, width)
    b = convert_format(boxes, box_format, encoding_format, height, width)
    a_size = np.maximum(a[..., 2:], np.float32(_EPSILON))
    b_size = np.maximum(b[..., 2:], np.float32(_EPSILON))
    deltas = np.concatenate([(b[..., :2] - a[..., :2]) / a_size, np.log(b_size / a_size)],
                            axis=-1)
    return deltas / variance if variance is not None else deltas


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None, image_shape=None):
    """The boxes (in ``box_format``) that ``encode_box_to_deltas`` encoded
    as ``boxes_delta`` against ``anchors``; dicts of levels give a dict."""
    variance = _variance(variance)
    if encoded_format not in ("center_xywh", "center_yxhw"):
        raise ValueError(f"`encoded_format` should be 'center_xywh' or 'center_yxhw', but got "
                         f"'{encoded_format}'.")
    height, width = _image_size(image_shape)

    def level(anchor, delta):
        a = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = np.asarray(delta, np.float32)
        if variance is not None:
            delta = delta * variance
        box = np.concatenate([delta[..., :2] * a[..., 2:] + a[..., :2],
                              np.exp(delta[..., 2:]) * a[..., 2:]], axis=-1)
        return convert_format(box, encoded_format, box_format, height, width)
    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {key: level(anchor, boxes_delta[key]) for key, anchor in anchors.items()}
    return level(anchors, boxes_delta)


def _relative_size(bounding_box_format, image_shape):
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError(f"When using relative bounding box formats (e.g. `rel_yxyx`) the "
                         f"`image_shape` argument must be provided.Received `image_shape`: "
                         f"{image_shape}")
    return _image_size(image_shape)


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1,
                image_shape=None):
    """The IoU of every box of ``boxes1`` with every box of ``boxes2``:
    (M, N) for (M, 4) and (N, 4) boxes, (batch, M, N) when either is
    batched.  ``use_masking``: ``mask_val`` where either box is padding
    (all its numbers below 0)."""
    b1, b2 = np.asarray(boxes1, np.float32), np.asarray(boxes2, np.float32)
    for name, b in (("boxes1", b1), ("boxes2", b2)):
        if b.ndim not in (2, 3):
            raise ValueError(f"compute_iou() expects {name} to be batched, or to be unbatched. "
                             f"Received len(boxes1.shape)={b1.ndim}, "
                             f"len(boxes2.shape)={b2.ndim}. Expected either "
                             f"len({name}.shape)=2 AND or len({name}.shape)=3.")
    height, width = _relative_size(bounding_box_format, image_shape)
    b1 = convert_format(b1, bounding_box_format, "xyxy", height, width)
    b2 = convert_format(b2, bounding_box_format, "xyxy", height, width)
    p = b1[..., :, None, :]                  # (..., M, 1, 4)
    q = b2[..., None, :, :]                  # (..., 1, N, 4)
    iw = np.maximum(np.minimum(p[..., 2], q[..., 2]) - np.maximum(p[..., 0], q[..., 0]), 0)
    ih = np.maximum(np.minimum(p[..., 3], q[..., 3]) - np.maximum(p[..., 1], q[..., 1]), 0)
    inter = iw * ih
    area1 = (p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1])
    area2 = (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])
    iou = inter / (area1 + area2 - inter + np.float32(_EPSILON))
    if not use_masking:
        return iou
    padding = (b1.max(-1) < 0)[..., :, None] | (b2.max(-1) < 0)[..., None, :]
    return np.where(padding, np.asarray(mask_val, iou.dtype), iou)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """The complete IoU of each box of ``boxes1`` with the box of
    ``boxes2`` at the same place (the two broadcast): the IoU less the
    squared distance of the centres over the squared diagonal of the box
    holding both, less the aspect ratios' term."""
    height, width = _relative_size(bounding_box_format, image_shape)
    b1 = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    b2 = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    eps = np.float32(_EPSILON)
    x1a, y1a, x2a, y2a = (b1[..., i] for i in range(4))
    x1b, y1b, x2b, y2b = (b2[..., i] for i in range(4))
    w1, h1 = x2a - x1a, y2a - y1a + eps
    w2, h2 = x2b - x1b, y2b - y1b + eps
    inter = np.maximum(np.minimum(x2a, x2b) - np.maximum(x1a, x1b), 0) * \
        np.maximum(np.minimum(y2a, y2b) - np.maximum(y1a, y1b), 0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / (union + eps)
    diagonal = (np.maximum(x2a, x2b) - np.minimum(x1a, x1b)) ** 2 + \
        (np.maximum(y2a, y2b) - np.minimum(y1a, y1b)) ** 2 + eps
    centres = ((x1a + x2a) / 2 - (x1b + x2b) / 2) ** 2 + ((y1a + y2a) / 2 - (y1b + y2b) / 2) ** 2
    v = np.float32(4 / math.pi ** 2) * (np.arctan(w2 / h2) - np.arctan(w1 / h1)) ** 2
    alpha = v / (v - iou + (1 + eps))
    return iou - (centres / diagonal + v * alpha)
