"""What IMDB and Reuters share: their arguments' checks, Keras's encoding of
the word sequences, and the word-index files."""
import json

import numpy as np

from ._files import fetch_or_raise


def check_arrays(x, y, what):
    """The arrays as Keras's files hold them: a 1-D object array of lists of
    word indices and as many labels."""
    if not (isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype == object):
        raise ValueError(f"{what}: the sequences are not a 1-D object array")
    if not (isinstance(y, np.ndarray) and y.shape == x.shape and y.dtype.kind in "iu"):
        raise ValueError(f"{what}: the labels are not {len(x)} integers")
    for s in x:
        if type(s) is not list:
            raise ValueError(f"{what}: a sequence is a {type(s).__name__}, not a list")


def shift(xs, start_char, index_from):
    """Each sequence with its word indices raised by ``index_from`` and
    ``start_char`` put in front (when not None)."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    return [[w + index_from for w in x] for x in xs]


def drop_long(maxlen, xs, labels):
    """The sequences shorter than ``maxlen`` and their labels (Keras keeps
    only those strictly shorter)."""
    keep = np.array([len(x) < maxlen for x in xs], dtype=bool)
    return [x for x, k in zip(xs, keep) if k], labels[keep]


def limit_words(xs, num_words, skip_top, oov_char):
    """Words outside [skip_top, num_words) become ``oov_char``, or are
    dropped when it is None.  With no ``num_words`` the bound is the largest
    index present, which (as in Keras) itself falls outside."""
    if not num_words:
        num_words = max((max(x) for x in xs if x), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(seqs):
    """A 1-D object array of the lists (np.array would make a 2-D array when
    all lists happen to have the same length)."""
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def load_word_index(fname, url, digest, what):
    """The word -> index dict of a Keras word-index JSON file."""
    path = fetch_or_raise(fname, url, digest, what)
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what}: {path} is not a JSON file: {e}") from None
    if not isinstance(index, dict) or not all(
            isinstance(k, str) and type(v) is int for k, v in index.items()):
        raise ValueError(f"{what}: {path} is not a word index (a JSON object of words to "
                         f"integers)")
    return index
