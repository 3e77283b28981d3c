"""IMDB movie-review sentiment, as Keras's ``imdb.load_data()`` and
``imdb.get_word_index()`` return it."""
import numpy as np

from ._files import fetch_or_raise
from ._safe_pickle import load_npz
from ..utils.arguments import check_int
from ._sequences import (check_arrays, drop_long, limit_words, load_word_index,
                         object_array, shift)

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# The digests Keras checks (keras/src/datasets/imdb.py).  Keras gives the
# word index only as an MD5; that is what is checked, and the file is then
# read as JSON and checked to be a dict of words to integers.
HASHES = {
    "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "imdb_word_index.json": "bfafd718b763782e994055a2d397834f",
}


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """``(x_train, y_train), (x_test, y_test)``: 25,000 reviews each, every
    review a list of word indices (words ranked by frequency), every label
    0 (negative) or 1 (positive).

    The x arrays are 1-D object arrays of lists of ints, as Keras returns
    them.  As in Keras: each set is shuffled with ``np.random.RandomState(seed)``;
    every review starts with ``start_char`` and its words are raised by
    ``index_from`` (0 pads, 1 starts, 2 is out-of-vocabulary); reviews of
    ``maxlen`` words or more are dropped; words ranked below ``skip_top`` or
    at or above ``num_words`` become ``oov_char`` (or are removed when it is
    None).

    ``path`` is the file's name in the cache ($PYNN_HOME/datasets, default
    ~/.pynn/datasets); a missing file is downloaded and its SHA-256 checked.
    """
    if "nb_words" in kwargs:  # Keras 1's name of num_words
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError(f"imdb.load_data: unexpected argument(s) {', '.join(sorted(kwargs))}")
    who = "imdb.load_data"
    for name, value in (("num_words", num_words), ("maxlen", maxlen), ("start_char", start_char),
                        ("oov_char", oov_char)):
        check_int(value, name, who, allow_none=True)
    for name, value in (("skip_top", skip_top), ("index_from", index_from)):
        check_int(value, name, who)

    full = fetch_or_raise(path, BASE_URL + "imdb.npz", HASHES["imdb.npz"], who)
    f = load_npz(full)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        if key not in f:
            raise ValueError(f"{who}: {full} has no array {key!r}")
    x_train, labels_train = f["x_train"], f["y_train"]
    x_test, labels_test = f["x_test"], f["y_test"]
    check_arrays(x_train, labels_train, f"{who}: {full} (train)")
    check_arrays(x_test, labels_test, f"{who}: {full} (test)")

    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, labels_train = x_train[order], labels_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, labels_test = x_test[order], labels_test[order]

    x_train = shift(x_train, start_char, index_from)
    x_test = shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, "
                             f"no sequence was kept. Increase maxlen.")

    xs = limit_words(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    cut = len(x_train)
    return (object_array(xs[:cut]), labels[:cut]), (object_array(xs[cut:]), labels[cut:])


def get_word_index(path="imdb_word_index.json"):
    """The dict of words to their rank (1 = most frequent) in the IMDB data.
    In ``load_data``'s sequences a word of rank r is ``r + index_from``."""
    return load_word_index(path, BASE_URL + "imdb_word_index.json",
                           HASHES["imdb_word_index.json"], "imdb.get_word_index")
