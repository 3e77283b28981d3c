"""Reuters newswire topics, as Keras's ``reuters.load_data()``,
``reuters.get_word_index()`` and ``reuters.get_label_names()`` return them."""
import numpy as np

from ._files import fetch_or_raise
from ._safe_pickle import load_npz
from ..utils.arguments import check_int
from ._sequences import (check_arrays, drop_long, limit_words, load_word_index,
                         object_array, shift)

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# The digests Keras checks (keras/src/datasets/reuters.py).  Keras gives the
# word index only as an MD5; that is what is checked, and the file is then
# read as JSON and checked to be a dict of words to integers.
HASHES = {
    "reuters.npz": "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
    "reuters_word_index.json": "4d44cc38712099c9e383dc6e5f11a921",
}

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """``(x_train, y_train), (x_test, y_test)``: 11,228 newswires, each a
    list of word indices (words ranked by frequency), labelled with one of
    46 topics (see ``get_label_names``).

    The x arrays are 1-D object arrays of lists of ints, as Keras returns
    them.  As in Keras: the wires are shuffled with
    ``np.random.RandomState(seed)``; every wire starts with ``start_char``
    and its words are raised by ``index_from``; wires of ``maxlen`` words or
    more are dropped; words ranked below ``skip_top`` or at or above
    ``num_words`` become ``oov_char`` (or are removed when it is None); the
    last ``test_split`` of the wires are the test set.

    ``path`` is the file's name in the cache ($PYNN_HOME/datasets, default
    ~/.pynn/datasets); a missing file is downloaded and its SHA-256 checked.
    """
    who = "reuters.load_data"
    for name, value in (("num_words", num_words), ("maxlen", maxlen), ("start_char", start_char),
                        ("oov_char", oov_char)):
        check_int(value, name, who, allow_none=True)
    for name, value in (("skip_top", skip_top), ("index_from", index_from)):
        check_int(value, name, who)
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float)) \
            or not 0 <= test_split <= 1:
        raise ValueError(f"{who}: test_split must be a number in [0, 1], got {test_split!r}")

    full = fetch_or_raise(path, BASE_URL + "reuters.npz", HASHES["reuters.npz"], who)
    f = load_npz(full)
    for key in ("x", "y"):
        if key not in f:
            raise ValueError(f"{who}: {full} has no array {key!r}")
    xs, labels = f["x"], f["y"]
    check_arrays(xs, labels, f"{who}: {full}")

    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    xs, labels = xs[order], labels[order]

    xs = shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = drop_long(maxlen, xs, labels)
    xs = limit_words(xs, num_words, skip_top, oov_char)

    cut = int(len(xs) * (1 - test_split))
    return (object_array(xs[:cut]), np.array(labels[:cut])), \
        (object_array(xs[cut:]), np.array(labels[cut:]))


def get_word_index(path="reuters_word_index.json"):
    """The dict of words to their rank (1 = most frequent) in the Reuters
    data.  In ``load_data``'s sequences a word of rank r is ``r + index_from``."""
    return load_word_index(path, BASE_URL + "reuters_word_index.json",
                           HASHES["reuters_word_index.json"], "reuters.get_word_index")


def get_label_names():
    """The 46 topic names, indexed by label."""
    return LABEL_NAMES
