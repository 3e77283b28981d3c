"""timeseries_dataset_from_array: windows over a series as a Dataset of
batches, with Keras 3's arguments and windows (the temperature-forecasting
chapters and tutorials)."""
import threading

import numpy as np

from . import seeding
from .arguments import check_int
from .dataset import Dataset


def _count(value, name, minimum):
    return check_int(value, name, "timeseries_dataset_from_array", minimum)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Batches of windows ``data[s + start_index + i * sampling_rate]`` for
    ``i < sequence_length``, the window starts ``s`` stepping by
    ``sequence_stride``; with ``targets``, (windows, targets[start_index +
    s]) pairs.  ``shuffle`` draws the windows in a new seeded order on
    every pass; ``batch_size=None`` gives single windows."""
    data = np.asarray(data)
    sequence_length = _count(sequence_length, "sequence_length", 1)
    sequence_stride = _count(sequence_stride, "sequence_stride", 1)
    sampling_rate = _count(sampling_rate, "sampling_rate", 1)
    if batch_size is not None:
        batch_size = _count(batch_size, "batch_size", 1)
    start_index = 0 if start_index is None else _count(start_index, "start_index", 0)
    end_index = len(data) if end_index is None else _count(end_index, "end_index", 0)
    if start_index >= len(data) and len(data):
        raise ValueError(f"timeseries_dataset_from_array: start_index={start_index} is past "
                         f"the end of the data ({len(data)} rows)")
    end_index = min(end_index, len(data))
    if end_index <= start_index:
        raise ValueError(f"timeseries_dataset_from_array: end_index={end_index} must be "
                         f"greater than start_index={start_index}")
    window = np.arange(0, sequence_length * sampling_rate, sampling_rate)
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num_seqs = min(num_seqs, len(targets) - start_index)
    starts = np.arange(0, max(num_seqs, 0), sequence_stride)
    if shuffle:
        if seed is None:
            seed = seeding.next_seed() % 2 ** 32
        np.random.RandomState(seed).shuffle(starts)
    series = data[start_index:end_index]
    labels = None if targets is None else targets[start_index:]
    passes = [0]
    lock = threading.Lock()

    def make():
        order = starts
        if shuffle:
            with lock:
                n = passes[0]
                passes[0] += 1
            if n:  # the first pass in the seeded order, later ones reshuffled
                order = np.random.default_rng([int(seed), n]).permutation(starts)
        step = batch_size or 1
        for lo in range(0, len(order), step):
            chosen = order[lo:lo + step]
            x = series[chosen[:, None] + window]
            element = x if labels is None else (x, labels[chosen])
            if batch_size is None:
                element = element[0] if labels is None else (element[0][0], element[1][0])
            yield element

    count = len(starts) if batch_size is None else -(-len(starts) // batch_size)
    return Dataset(make, count, batched=batch_size is not None)
