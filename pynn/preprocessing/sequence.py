"""Sequence preprocessing, as ``keras.preprocessing.sequence``."""
import random

import numpy as np

from ..utils.sequence_utils import pad_sequences

__all__ = ["make_sampling_table", "pad_sequences", "skipgrams"]


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
