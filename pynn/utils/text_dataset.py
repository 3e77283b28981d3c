"""text_dataset_from_directory: a Dataset of (texts, labels) batches read
from class folders of ``.txt`` files, with Keras 3's arguments.

Files are listed, labelled, shuffled and split exactly as
image_dataset_from_directory does (Keras shares that code between the
two).  A text is the file's bytes (cut to ``max_length`` bytes, as
``tf.strings.substr`` cuts them), as TensorFlow's string tensors hold
them: a batch of texts is an array of ``bytes`` objects, dtype object
(``.numpy()[0].decode("utf-8")`` gives the text), as tf.constant and
from_tensor_slices make them and the text layers and tf.strings read them.
"""

import numpy as np

from . import seeding
from .arguments import check_int
from .dataset import Dataset, _background
from .image_dataset import _check_arguments, _labels_batch, check_labels, index_directory, \
    pass_orders, training_or_validation_split

_WHO = "text_dataset_from_directory"


def _read_text(path, max_length):
    with open(path, "rb") as f:
        return f.read() if max_length is None else f.read(max_length)


def _texts_to_dataset(paths, labels, label_mode, num_classes, max_length, batch_size, shuffle,
                      seed):
    n = len(paths)
    labels = None if label_mode is None else np.asarray(labels)
    check_labels(_WHO, labels, label_mode, num_classes)
    pass_order = pass_orders(n, shuffle, seed)
    step = batch_size or 1

    def batches():
        order = pass_order()
        for start in range(0, n, step):
            chosen = order[start:start + step]
            texts = np.empty(len(chosen), dtype=object)
            texts[:] = [_read_text(paths[i], max_length) for i in chosen]
            y = None if labels is None else _labels_batch(labels[chosen], label_mode,
                                                          num_classes)
            if batch_size is None:  # one text: a 0-d string tensor
                texts, y = np.asarray(texts[0], dtype=object), None if y is None else y[0]
            yield texts if y is None else (texts, y)

    return Dataset(lambda: _background(batches, 2), -(-n // step),
                   batched=batch_size is not None)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None,
                                shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """A Dataset of text batches from a folder of class folders (Keras 3's
    ``text_dataset_from_directory``): each ``.txt`` file is one sample,
    its label the index of its folder among the sorted ``class_names``.

    Yields ``(texts, labels)``: texts a string tensor (the files' bytes,
    dtype object) of shape (batch,), labels as ``label_mode`` says: 'int' (int32, (batch,)),
    'categorical' (float32 one-hot), 'binary' (float32, (batch, 1)), or
    None (texts only).  ``max_length`` cuts each file to that many bytes.
    The dataset has ``class_names`` and ``file_paths``; with
    ``subset='both'`` the call returns [training, validation].  Each pass
    over a shuffled dataset reads the files in a new seeded order.
    """
    _check_arguments(labels, label_mode, class_names, validation_split, subset, shuffle, seed,
                     None, False, False, batch_size, _WHO)
    check_int(max_length, "max_length", _WHO, minimum=1, allow_none=True)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if seed is None:
        seed = int(seeding.rng().integers(1_000_000))
    paths, labels, class_names = index_directory(
        directory, labels, (".txt",), class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose, who=_WHO)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    num_classes = len(class_names) if class_names else 0

    def build(subset_name, shuffle_passes):
        subset_paths, subset_labels = training_or_validation_split(paths, labels,
                                                                   validation_split,
                                                                   subset_name)
        if not subset_paths:
            which = f"{subset_name} " if subset_name else ""
            raise ValueError(f"No {which}text files found in directory {directory}. "
                             f"Allowed format: .txt")
        ds = _texts_to_dataset(subset_paths, subset_labels, label_mode, num_classes,
                               max_length, batch_size, shuffle_passes, seed)
        ds.class_names = class_names
        ds.file_paths = subset_paths
        return ds

    if subset == "both":
        return [build("training", shuffle), build("validation", False)]
    return build(subset, shuffle)
