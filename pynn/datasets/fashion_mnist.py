"""Fashion-MNIST (Zalando's 28x28 clothing images), as Keras's
``fashion_mnist.load_data()`` returns it."""
import gzip
import math
import os
import struct

import numpy as np

from ._files import fetch_or_raise

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FOLDER = "fashion-mnist"  # in the cache, as Keras keeps them

# Keras publishes no digest for these files.  These are the SHA-256 that
# TensorFlow Datasets records for the same four files on Fashion-MNIST's own
# host (tensorflow_datasets/url_checksums/fashion_mnist.txt); Keras's copies
# have the same sizes (26421880, 29515, 4422102 and 5148 bytes).  Each file
# is also checked to be an IDX file of the expected shape before use.
HASHES = {
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
}

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")


def _read_idx(fname, dims):
    """The uint8 array of an IDX file (big-endian magic 0x0000080N with N
    dimensions, then N sizes, then the bytes)."""
    path = fetch_or_raise(os.path.join(FOLDER, fname), BASE_URL + fname, HASHES[fname],
                          "fashion_mnist.load_data")
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"fashion_mnist.load_data: {path} is not a gzip file: {e}") from None
    head = 4 + 4 * len(dims)
    if len(data) < head or struct.unpack(">I", data[:4])[0] != 0x800 + len(dims):
        raise ValueError(f"fashion_mnist.load_data: {path} is not an IDX file of "
                         f"{len(dims)} dimension(s)")
    shape = struct.unpack(f">{len(dims)}I", data[4:head])
    if any(want is not None and got != want for got, want in zip(shape, dims)) \
            or len(data) != head + math.prod(shape):
        raise ValueError(f"fashion_mnist.load_data: {path} holds shape {shape} in "
                         f"{len(data) - head} bytes, not the expected {dims}")
    return np.frombuffer(data, np.uint8, offset=head).reshape(shape).copy()


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes
    (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); labels 0-9 name
    ``CLASS_NAMES``.  The four files are looked up in the cache
    ($PYNN_HOME/datasets/fashion-mnist, default ~/.pynn/datasets/fashion-mnist),
    and downloaded and checked when missing."""
    y_train = _read_idx("train-labels-idx1-ubyte.gz", (None,))
    x_train = _read_idx("train-images-idx3-ubyte.gz", (len(y_train), 28, 28))
    y_test = _read_idx("t10k-labels-idx1-ubyte.gz", (None,))
    x_test = _read_idx("t10k-images-idx3-ubyte.gz", (len(y_test), 28, 28))
    return (x_train, y_train), (x_test, y_test)
