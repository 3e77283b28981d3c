"""Keras 3's keras.visualization for images, segmentation and detection:
a gallery of images with their labels (matplotlib, optional, imported
when used), segmentation masks painted over images, bounding boxes drawn
on them, and galleries of both."""
import math
import os

import numpy as np

from .utils.plotting import _matplotlib, _new_figure


def _to_range(images, value_range, target=(0, 255)):
    """Images of ``value_range`` mapped linearly onto ``target``."""
    images = np.asarray(images)
    if tuple(value_range) == tuple(target):
        return images
    low, high = value_range
    images = (images.astype(np.float32) - low) / (high - low)
    return images * (target[1] - target[0]) + target[0]


def plot_image_gallery(images, y_true=None, y_pred=None, label_map=None, rows=None, cols=None,
                       value_range=(0, 255), scale=2, path=None, show=None, transparent=True,
                       dpi=60, legend_handles=None, data_format=None):
    """A grid of ``rows`` x ``cols`` images of a batch (value_range mapped
    to 0-255), titled by ``label_map[y_true]`` and ``label_map[y_pred]``
    where given; saved to ``path`` or shown.  Returns the Figure."""
    Figure = _matplotlib("plot_image_gallery")
    if path is not None and show:
        raise ValueError("plot_gallery() expects either `path` to be set, or `show` to be "
                         "true.")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError("If `y_true` or `y_pred` are provided, a `label_map` must also be "
                         "provided.")
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`plot_images_gallery()` requires you to batch your `np.array` "
                         f"samples together; got images of shape {images.shape}")
    show = show if show is not None else path is None
    batch = images.shape[0]
    rows = rows or int(math.ceil(math.sqrt(batch)))
    cols = cols or int(math.ceil(batch // rows))
    if rows * cols > batch:
        raise ValueError(f"plot_image_gallery: a {rows} x {cols} grid needs {rows * cols} "
                         f"images, the batch has {batch}")
    images = images[:rows * cols]
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)
    images = _to_range(images, value_range)
    y_true = None if y_true is None else np.asarray(y_true)
    y_pred = None if y_pred is None else np.asarray(y_pred)
    fig = _new_figure(Figure, path, (cols * scale, rows * scale))
    axes = fig.subplots(rows, cols, squeeze=False, sharex="row", sharey="col")
    fig.subplots_adjust(wspace=0, hspace=0)
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")
    for index in range(rows * cols):
        ax = axes[index // cols, index % cols]
        picture = images[index]
        ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture.astype("uint8"),
                  **({"cmap": "gray", "vmin": 0, "vmax": 255} if picture.shape[-1] == 1
                     else {}))
        ax.margins(x=0, y=0)
        ax.axis("off")
        parts = []
        if y_true is not None and index < len(y_true):
            parts.append(f"Label: {label_map.get(y_true[index].item(), 'Unknown')}")
        if y_pred is not None and index < len(y_pred):
            parts.append(f"Pred: {label_map.get(y_pred[index].item(), 'Unknown')}")
        if parts:
            ax.set_title("  ".join(parts), fontsize=8)
    if path is not None:
        _save_tight(fig, path, dpi, transparent)
    elif show:
        import matplotlib.pyplot as plt
        plt.show()
    return fig


def _save_tight(fig, path, dpi, transparent):
    """Saved on the Agg canvas (never through pyplot), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from .utils.io import atomic_write
    FigureCanvasAgg(fig)
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi, pad_inches=0, bbox_inches="tight",
                    transparent=transparent)


def _palette(num_classes):
    spread = np.array([2 ** 25 - 1, 2 ** 15 - 1, 2 ** 21 - 1])
    return [((i * spread) % 255).tolist() for i in range(num_classes)]


def _image_batch(images, data_format):
    """A batch of images as a channels-last array, refused (as Keras
    refuses it) unless it is 4-D."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must be batched 4D tensor. Received: "
                         f"images.shape={images.shape}")
    return images.transpose(0, 2, 3, 1) if data_format == "channels_first" else images


def draw_segmentation_masks(images, segmentation_masks, num_classes=None, color_mapping=None,
                            alpha=0.8, blend=True, ignore_index=-1, data_format=None):
    """Images (a batch) with each class of ``segmentation_masks`` (integer
    class ids, shape (batch, h, w, 1)) painted in its color, blended with
    weight ``alpha`` as uint8 (``blend=False``: the painted float images);
    pixels of ``ignore_index`` are left as they were.  Classes
    ``0 .. num_classes - 1`` are painted (default: up to the largest id,
    that one excluded, as Keras counts)."""
    images = _image_batch(images, data_format)
    masks = np.asarray(segmentation_masks)
    if data_format == "channels_first":
        masks = masks.transpose(0, 2, 3, 1)
    if masks.dtype.kind not in "iu":
        raise TypeError(f"`segmentation_masks` must be in integer dtype. Received: "
                        f"segmentation_masks.dtype={masks.dtype}")
    images = images.astype(np.float32)
    if num_classes is None:
        num_classes = int(masks.max())
    colors = _palette(num_classes) if color_mapping is None else \
        [color_mapping[i] for i in range(num_classes)]
    ids = masks[..., 0]
    painted = images.copy()
    for c, color in enumerate(colors):
        painted[ids == c] = np.asarray(color, np.float32)
    if not blend:
        return painted
    out = images * (1 - alpha) + painted * alpha
    out = np.where((ids != ignore_index)[..., None], out, images)
    return out.astype("uint8")


def plot_segmentation_mask_gallery(images, num_classes, value_range=(0, 255), y_true=None,
                                   y_pred=None, color_mapping=None, blend=True, alpha=0.8,
                                   ignore_index=-1, data_format=None, **kwargs):
    """A gallery with one row per image: the image, then its true and
    predicted masks drawn over it (where given).  Other arguments go to
    :func:`plot_image_gallery`; returns its Figure."""
    images = _image_batch(images, data_format)

    def draw(masks):
        masks = np.asarray(masks)
        if data_format == "channels_first":
            masks = masks.transpose(0, 2, 3, 1)
        return draw_segmentation_masks(images, masks.astype("int32"), num_classes=num_classes,
                                       color_mapping=color_mapping, alpha=alpha,
                                       ignore_index=ignore_index, blend=blend)
    drawn = [draw(m) for m in (y_true, y_pred) if m is not None]
    gallery = [picture for i in range(images.shape[0])
               for picture in [images[i]] + [d[i] for d in drawn]]
    return plot_image_gallery(np.stack(gallery), value_range=value_range,
                              rows=images.shape[0], cols=1 + len(drawn), **kwargs)


def _text_image_module():
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise ImportError("draw_bounding_boxes writes class names with Pillow: install it "
                          "with pip install 'pynn[image]' (or pip install pillow)") from None
    return Image, ImageDraw


def _paint_rectangle(image, x1, y1, x2, y2, color, thickness):
    """The outline of the box (x1, y1)-(x2, y2), ``thickness`` pixels wide
    and centred on its edges, painted into ``image`` (h, w, c) in place."""
    h, w = image.shape[:2]
    before = thickness // 2
    after = thickness - before

    def band(a):
        return max(a - before, 0), max(a + after, 0)
    color = np.asarray(color, image.dtype)[:image.shape[2]]
    left, right = max(min(x1, x2) - before, 0), min(max(x1, x2) + after, w)
    top, bottom = max(min(y1, y2) - before, 0), min(max(y1, y2) + after, h)
    for y in (y1, y2):
        lo, hi = band(y)
        image[lo:min(hi, h), left:right] = color
    for x in (x1, x2):
        lo, hi = band(x)
        image[top:bottom, lo:min(hi, w)] = color


def draw_bounding_boxes(images, bounding_boxes, bounding_box_format, class_mapping=None,
                        color=(128, 128, 128), line_thickness=2, text_thickness=1,
                        font_scale=1.0, data_format=None):
    """Keras's: a batch of images (uint8: float images in [0, 1] scaled to
    255, others clipped to [0, 255]) with each box of ``bounding_boxes``
    (``boxes`` (batch, N, 4) in ``bounding_box_format``, ``labels``
    (batch, N), optional ``confidences``) outlined in ``color``, a box
    labelled -1 skipped; a label found in ``class_mapping`` is written
    above its box (with its confidence) in Pillow's default font (Keras
    writes with OpenCV, whose ``font_scale`` and ``text_thickness`` have no
    counterpart there)."""
    from .utils.bounding_boxes import convert_format
    images = _image_batch(images, data_format)
    if not isinstance(bounding_boxes, dict):
        raise TypeError(f"`bounding_boxes` should be a dict. Received: "
                        f"bounding_boxes={bounding_boxes} of type {type(bounding_boxes)}")
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ValueError(f"`bounding_boxes` should be a dict containing 'boxes' and 'labels' "
                         f"keys. Received: bounding_boxes={bounding_boxes}")
    first = data_format == "channels_first"
    height, width = images.shape[1:3]
    boxes = convert_format(np.asarray(bounding_boxes["boxes"]), bounding_box_format, "xyxy",
                           height, width)
    labels = np.asarray(bounding_boxes["labels"])
    confidences = bounding_boxes.get("confidences")
    if images.dtype.kind == "f" and images.size:
        images = np.clip(images, 0, 1) * 255 if images.max() <= 1.0 else \
            np.clip(images, 0, 255)
    out = np.array(images.astype("uint8"))
    class_mapping = class_mapping or {}
    for i in range(out.shape[0]):
        texts = []
        for j in range(boxes.shape[1]):
            c = int(labels[i][j])
            if c == -1:
                continue
            x1, y1, x2, y2 = (int(v) for v in boxes[i, j].astype("int32"))
            _paint_rectangle(out[i], x1, y1, x2, y2, color, int(line_thickness))
            if c in class_mapping:
                text = str(class_mapping[c])
                if confidences is not None:
                    text = f"{text} | {float(np.asarray(confidences)[i][j]):.2f}"
                texts.append((x1, y1, text))
        if texts:
            Image, ImageDraw = _text_image_module()
            picture = Image.fromarray(out[i][..., 0] if out.shape[3] == 1 else out[i])
            pen = ImageDraw.Draw(picture)
            for x1, y1, text in texts:
                # above the box where it fits, else just inside it
                y = y1 - 12 if y1 - 12 > 0 else y1 + int(line_thickness) + 3
                pen.text((x1, y), text, fill=tuple(int(v) for v in color)[:out.shape[3]]
                         if out.shape[3] > 1 else int(color[0]))
            painted = np.asarray(picture)
            out[i] = painted[..., None] if out.shape[3] == 1 else painted
    return out.transpose(0, 3, 1, 2) if first else out


def plot_bounding_box_gallery(images, bounding_box_format, y_true=None, y_pred=None,
                              value_range=(0, 255), true_color=(0, 188, 212),
                              pred_color=(255, 235, 59), line_thickness=2, font_scale=1.0,
                              text_thickness=None, class_mapping=None,
                              ground_truth_mapping=None, prediction_mapping=None, legend=False,
                              legend_handles=None, rows=None, cols=None, data_format=None,
                              **kwargs):
    """Keras's: :func:`plot_image_gallery` of the images with the boxes of
    ``y_true`` (in ``true_color``) and ``y_pred`` (in ``pred_color``)
    drawn on them; ``legend`` adds a legend of the two colours."""
    _matplotlib("plot_bounding_box_gallery")
    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    images = _image_batch(images, data_format)
    plotted = images
    for boxes, color, mapping in ((y_true, true_color, ground_truth_mapping),
                                  (y_pred, pred_color, prediction_mapping)):
        if boxes is not None:
            plotted = draw_bounding_boxes(plotted, boxes, bounding_box_format,
                                          class_mapping=mapping, color=color,
                                          line_thickness=line_thickness,
                                          text_thickness=text_thickness, font_scale=font_scale)
    if legend:
        if legend_handles:
            raise ValueError("Only pass `legend` OR `legend_handles` to "
                             "`keras.visualization.plot_bounding_box_gallery()`.")
        from matplotlib import patches
        legend_handles = [patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
                          patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction")]
    return plot_image_gallery(plotted, value_range=value_range, legend_handles=legend_handles,
                              rows=rows, cols=cols, **kwargs)


__all__ = ["plot_image_gallery", "draw_segmentation_masks", "plot_segmentation_mask_gallery",
           "draw_bounding_boxes", "plot_bounding_box_gallery"]
