"""image_dataset_from_directory: a Dataset of (images, labels) batches read
from class folders, with Keras 3's arguments.

Files are listed, labelled and (with ``shuffle``) put in a seeded random
order once, as Keras does; each pass over the dataset then reads them in a
new seeded order.  Images are decoded by a pool of threads (Pillow releases
the GIL while decoding), a batch at a time, on a background thread that
keeps two batches ready ahead of the caller.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import seeding
from .arguments import check_int
from .dataset import Dataset, _background
from .image_resize import RESIZE_INTERPOLATIONS, crop_box, pad_box, resize_images
from .image_utils import check_color_mode, pil_image

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# Interpolations decoded through Pillow's own resampling (with its
# antialiasing) rather than tf.image.resize's.
PIL_RESIZE = {"bicubic": "BICUBIC", "area": "BOX", "lanczos3": "LANCZOS"}

_pool = None


def decode_pool():
    """The threads that decode images (one per core), shared and made once."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                   thread_name_prefix="pynn-decode")
    return _pool


def list_files(directory, formats, follow_links):
    """(root, name) of every file under ``directory`` whose name ends with one
    of ``formats`` (any case), folders and names in sorted order."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda entry: entry[0]):
        found.extend((root, name) for name in sorted(files) if name.lower().endswith(formats))
    return found


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True, who="image_dataset_from_directory"):
    """(file_paths, labels, class_names) as Keras's dataset_utils lists them."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{who}: no folder {directory!r}")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError("The `class_names` passed did not match the names of the "
                                 "subdirectories of the target directory. Expected: "
                                 f"{subdirs} (or a subset of it), but received: "
                                 f"class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
    class_indices = {name: i for i, name in enumerate(subdirs)}
    filenames, file_labels = [], []
    for subdir in subdirs:
        folder = os.path.join(directory, subdir)
        for root, name in list_files(folder, formats, follow_links):
            filenames.append(os.path.join(subdir, os.path.relpath(os.path.join(root, name),
                                                                  folder)))
            file_labels.append(class_indices[subdir])
    if labels == "inferred":
        labels = np.array(file_labels, dtype="int32")
        class_names = subdirs
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError("Expected the lengths of `labels` to match the number of files in "
                             f"the target directory. len(labels) is {len(labels)} while we "
                             f"found {len(filenames)} files in directory {directory}.")
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        # the same seeded shuffle of paths and labels, as Keras does
        if seed is None:
            seed = int(seeding.rng().integers(1_000_000))
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def training_or_validation_split(samples, labels, validation_split, subset):
    """Keras's split: the last ``validation_split`` of the files validate."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    num_train = len(samples) - num_val
    if subset == "training":
        print(f"Using {num_train} files for training.")
        return samples[:num_train], None if labels is None else labels[:num_train]
    if subset == "validation":
        print(f"Using {num_val} files for validation.")
        return samples[num_train:], None if labels is None else labels[num_train:]
    raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')


def _check_arguments(labels, label_mode, class_names, validation_split, subset, shuffle, seed,
                     data_format, crop_to_aspect_ratio, pad_to_aspect_ratio, batch_size,
                     who="image_dataset_from_directory"):
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of "
                             "the same size as the number of image files in the target "
                             "directory. If you wish to infer the labels from the "
                             'subdirectory names in the target directory, pass '
                             '`labels="inferred"`. If you wish to get a dataset that only '
                             "contains images (no labels), pass `labels=None`. Received: "
                             f"labels={labels}")
        if class_names:
            raise ValueError('You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode}')
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError('`subset` must be either "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must "
                         "provide a `seed` argument, to make sure that there is no overlap "
                         "between the training and validation subset.")
    if data_format not in (None, "channels_last"):
        raise ValueError("image_dataset_from_directory: pynn works in channels_last "
                         f"(NHWC); data_format={data_format!r} is not supported")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2**32):
        raise ValueError(f"{who}: seed must be an integer in "
                         f"[0, 2**32), got {seed!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be "
                         "set to `True`.")
    check_int(batch_size, "batch_size", who, minimum=1, allow_none=True)


class _ImageReader:
    """Reads one file into a float32 (height, width, channels) image of the
    requested size, as Keras's image_dataset_from_directory loads it."""

    def __init__(self, image_size, channels, interpolation, crop, pad):
        self.size, self.channels = image_size, channels
        self.interpolation, self.crop, self.pad = interpolation, crop, pad

    def __call__(self, path, out):
        image = pil_image()
        try:
            with open(path, "rb") as f:
                img = image.open(f)
                img.load()
        except (OSError, ValueError, SyntaxError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise ValueError(f"image_dataset_from_directory: cannot read {path!r} as an "
                             f"image: {e}") from e
        if self.channels == 1:
            if img.mode not in ("L", "I;16", "I"):
                img = img.convert("L")
        elif self.channels == 4:
            if img.mode != "RGBA":
                img = img.convert("RGBA")
        elif img.mode != "RGB":
            img = img.convert("RGB")
        if self.interpolation in PIL_RESIZE:
            self._pil_resize(img, out)
            return
        x = np.asarray(img, dtype=np.float32)
        x = x.reshape(x.shape[:2] + (self.channels,))[None]
        h, w = x.shape[1:3]
        if self.crop:
            top, left, ch, cw = crop_box(h, w, self.size)
            out[...] = resize_images(x[:, top:top + ch, left:left + cw], self.size,
                                     self.interpolation)[0]
        elif self.pad:
            top, left, rh, rw = pad_box(h, w, self.size)
            out[...] = 0
            out[top:top + rh, left:left + rw] = resize_images(x, (rh, rw),
                                                              self.interpolation)[0]
        else:
            out[...] = resize_images(x, self.size, self.interpolation)[0]

    def _pil_resize(self, img, out):
        resampling = getattr(pil_image(), "Resampling", pil_image())
        method = getattr(resampling, PIL_RESIZE[self.interpolation])
        th, tw = self.size
        w, h = img.size
        if self.crop:
            top, left, ch, cw = crop_box(h, w, self.size)
            img = img.resize((tw, th), method, box=(left, top, left + cw, top + ch))
            out[...] = np.asarray(img, np.float32).reshape(out.shape)
        elif self.pad:
            top, left, rh, rw = pad_box(h, w, self.size)
            out[...] = 0
            img = img.resize((rw, rh), method)
            out[top:top + rh, left:left + rw] = np.asarray(img, np.float32).reshape(
                (rh, rw, self.channels))
        else:
            out[...] = np.asarray(img.resize((tw, th), method), np.float32).reshape(out.shape)


def _labels_batch(labels, label_mode, num_classes):
    if label_mode == "int":
        return labels.astype("int32")
    if label_mode == "binary":
        return labels.astype("float32").reshape(-1, 1)
    out = np.zeros((len(labels), num_classes), dtype="float32")
    out[np.arange(len(labels)), labels] = 1
    return out


def check_labels(who, labels, label_mode, num_classes, check_int=True):
    """Refuses labels outside [0, num_classes) (with ``check_int``, "int"
    labels below 0 too)."""
    if label_mode is None or not len(labels) or (label_mode == "int" and not check_int):
        return
    if labels.min() < 0 or (label_mode != "int" and labels.max() >= num_classes):
        raise ValueError(f"{who}: labels must lie in [0, {num_classes}), got "
                         f"{labels.min()}..{labels.max()}")


def pass_orders(n, shuffle, seed):
    """A function giving each pass over ``n`` files its order: as listed,
    or with ``shuffle`` a permutation seeded by (seed, the pass's number),
    so passes differ and a rerun repeats them (passes begun by several
    threads take distinct numbers)."""
    passes = [0]
    lock = threading.Lock()

    def order():
        with lock:
            this_pass = passes[0]
            passes[0] += 1
        if shuffle:
            return np.random.default_rng([seed, this_pass]).permutation(n)
        return np.arange(n)
    return order


def _paths_to_dataset(paths, labels, label_mode, num_classes, reader, batch_size, shuffle,
                      seed):
    n = len(paths)
    labels = None if label_mode is None else np.asarray(labels)
    # "int" labels are passed through as given (CelebA's attributes are -1
    # and 1); the other modes index the classes with them.
    check_labels("image_dataset_from_directory", labels, label_mode, num_classes,
                 check_int=False)
    pass_order = pass_orders(n, shuffle, seed)
    step = batch_size or 1

    def batches():
        order = pass_order()
        pool = decode_pool()
        for start in range(0, n, step):
            chosen = order[start:start + step]
            images = np.empty((len(chosen),) + reader.size + (reader.channels,), np.float32)
            list(pool.map(lambda i: reader(paths[chosen[i]], images[i]), range(len(chosen))))
            if batch_size is None:
                images = images[0]
                element = images if labels is None else (
                    images, _labels_batch(labels[chosen], label_mode, num_classes)[0])
            else:
                element = images if labels is None else (
                    images, _labels_batch(labels[chosen], label_mode, num_classes))
            yield element

    return Dataset(lambda: _background(batches, 2), -(-n // step),
                   batched=batch_size is not None)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True,
                                 smart_resize=False):
    """A Dataset of image batches from a folder of class folders (Keras 3's
    ``image_dataset_from_directory``; ``smart_resize`` is TensorFlow 2.5's
    name for ``crop_to_aspect_ratio``).

    Yields ``(images, labels)``: float32 images of shape (batch, height,
    width, channels) resized to ``image_size`` as tf.image.resize does, and
    labels as ``label_mode`` says: 'int' (int32, (batch,)), 'categorical'
    (float32 one-hot), 'binary' (float32, (batch, 1)), or None (images
    only).  The dataset has ``class_names`` and ``file_paths``; with
    ``subset='both'`` the call returns [training, validation].
    ``interpolation`` is 'bilinear' or 'nearest' (or 'bicubic', 'area',
    'lanczos3' through Pillow's resampling).
    """
    crop_to_aspect_ratio = bool(crop_to_aspect_ratio or smart_resize)
    _check_arguments(labels, label_mode, class_names, validation_split, subset, shuffle, seed,
                     data_format, crop_to_aspect_ratio, pad_to_aspect_ratio, batch_size)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    channels = check_color_mode(color_mode, "image_dataset_from_directory")
    if isinstance(image_size, (int, np.integer)):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2 or \
            any(not isinstance(v, (int, np.integer)) or v < 1 for v in image_size):
        raise ValueError("Invalid `image_size` value. Expected a tuple of 2 integers. "
                         f"Received: image_size={image_size}")
    image_size = (int(image_size[0]), int(image_size[1]))
    interpolation = str(interpolation).lower()
    supported = RESIZE_INTERPOLATIONS + tuple(PIL_RESIZE)
    if interpolation not in supported:
        raise ValueError(f"Argument `interpolation` should be one of {supported}. "
                         f"Received: interpolation={interpolation}")
    pil_image()  # fail here, not on the first batch, when Pillow is missing
    if seed is None:
        seed = int(seeding.rng().integers(1_000_000))
    paths, labels, class_names = index_directory(
        directory, labels, ALLOWLIST_FORMATS, class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    reader = _ImageReader(image_size, channels, interpolation, crop_to_aspect_ratio,
                          pad_to_aspect_ratio)
    num_classes = len(class_names) if class_names else 0

    def build(subset_name, shuffle_passes):
        subset_paths, subset_labels = training_or_validation_split(paths, labels,
                                                                   validation_split,
                                                                   subset_name)
        if not subset_paths:
            which = f"{subset_name} " if subset_name else ""
            raise ValueError(f"No {which}images found in directory {directory}. "
                             f"Allowed formats: {ALLOWLIST_FORMATS}")
        ds = _paths_to_dataset(subset_paths, subset_labels, label_mode, num_classes, reader,
                               batch_size, shuffle_passes, seed)
        ds.class_names = class_names
        ds.file_paths = subset_paths
        return ds

    if subset == "both":
        return [build("training", shuffle), build("validation", False)]
    return build(subset, shuffle)
