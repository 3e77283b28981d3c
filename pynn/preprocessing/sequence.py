"""Sequence preprocessing, as ``keras.preprocessing.sequence``."""
import random

import numpy as np

from ..utils.py_dataset import PyDataset
from ..utils.sequence_utils import pad_sequences

__all__ = ["TimeseriesGenerator", "make_sampling_table", "pad_sequences", "skipgrams"]


class TimeseriesGenerator(PyDataset):
    """Batches of windows of a time series (Keras 2's, kept in Keras 3's
    legacy module): sample i is ``data[row - length:row:sampling_rate]`` and
    its target ``targets[row]``, for rows from ``start_index + length`` to
    ``end_index`` (the last by default) every ``stride`` steps;
    ``shuffle`` draws ``batch_size`` rows at random for each batch (from
    NumPy's global generator, as Keras's), ``reverse`` turns each window
    back to front."""

    def __init__(self, data, targets, length, sampling_rate=1, stride=1, start_index=0,
                 end_index=None, shuffle=False, reverse=False, batch_size=128, **kwargs):
        super().__init__(**kwargs)
        if len(data) != len(targets):
            raise ValueError(f"TimeseriesGenerator: data and targets need the same length, "
                             f"got {len(data)} and {len(targets)}")
        self.data, self.targets = data, targets
        self.length, self.sampling_rate, self.stride = length, sampling_rate, stride
        self.start_index = start_index + length
        self.end_index = len(data) - 1 if end_index is None else end_index
        self.shuffle, self.reverse, self.batch_size = shuffle, reverse, batch_size
        if self.start_index > self.end_index:
            raise ValueError(f"TimeseriesGenerator: start_index + length = {self.start_index} "
                             f"is after end_index = {self.end_index}: no step is left to "
                             f"be a target")

    def __len__(self):
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def __getitem__(self, index):
        if self.shuffle:
            rows = np.random.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        else:
            first = self.start_index + self.batch_size * self.stride * index
            rows = np.arange(first, min(first + self.batch_size * self.stride,
                                        self.end_index + 1), self.stride)
        samples = np.array([self.data[r - self.length:r:self.sampling_rate] for r in rows])
        targets = np.array([self.targets[r] for r in rows])
        return (samples[:, ::-1, ...] if self.reverse else samples), targets


def make_sampling_table(size, sampling_factor=1e-5):
    """The probability of keeping each of ``size`` words ranked by
    frequency (word2vec's subsampling), their frequencies taken to follow
    Zipf's law; rank 0 counts as rank 1."""
    rank = np.maximum(np.arange(int(size)), 1).astype(np.float64)
    euler_gamma = 0.577
    inv_frequency = rank * (np.log(rank) + euler_gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_frequency
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(sequence, vocabulary_size, window_size=4, negative_samples=1.0, shuffle=True,
              categorical=False, sampling_table=None, seed=None):
    """Skip-gram pairs of a sequence of word ids: ``[word, neighbour]``
    within ``window_size`` on each side, label 1, then ``negative_samples``
    times as many ``[word, random id in [1, vocabulary_size)]``, label 0
    (``[0, 1]`` and ``[1, 0]`` when ``categorical``).  Id 0 is no word and
    is skipped; with a ``sampling_table`` a word is kept with the
    probability of its rank.  Draws from Python's ``random`` (seeded by
    ``set_random_seed``), in Keras's order, so a seed gives Keras's pairs."""
    pairs, labels = [], []
    positive, negative = ([0, 1], [1, 0]) if categorical else (1, 0)
    n = len(sequence)
    for i, word in enumerate(sequence):
        if not word:
            continue
        if sampling_table is not None and sampling_table[word] < random.random():
            continue
        for j in range(max(0, i - window_size), min(n, i + window_size + 1)):
            if j != i and sequence[j]:
                pairs.append([word, sequence[j]])
                labels.append(positive)
    if negative_samples > 0:
        count = int(len(labels) * negative_samples)
        words = [p[0] for p in pairs]
        random.shuffle(words)
        pairs += [[words[k % len(words)], random.randint(1, vocabulary_size - 1)]
                  for k in range(count)]
        labels += [negative] * count
    if shuffle:
        # the same permutation for both lists
        seed = random.randint(0, 10_000_000) if seed is None else seed
        random.seed(seed)
        random.shuffle(pairs)
        random.seed(seed)
        random.shuffle(labels)
    return pairs, labels
