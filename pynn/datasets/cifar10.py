"""CIFAR-10 (32x32 colour images, 10 classes), as Keras's
``cifar10.load_data()`` returns it."""
import numpy as np

from ._cifar import channels_last, read_batches

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
# The digest Keras checks (keras/src/datasets/cifar10.py).
HASHES = {"cifar-10-python.tar.gz":
          "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"}

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck")

_TRAIN = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
_TEST = "cifar-10-batches-py/test_batch"


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
    (50000, 32, 32, 3) and (10000, 32, 32, 3), uint8 labels 0-9 of shape
    (n, 1).  The archive is looked up in the cache ($PYNN_HOME/datasets,
    default ~/.pynn/datasets), downloaded and checked when missing, and read
    in place: its pickled batches go through a restricted unpickler that
    builds arrays and nothing else."""
    fname = "cifar-10-python.tar.gz"
    batches = read_batches(fname, URL, HASHES[fname], _TRAIN + [_TEST], "labels", 10,
                           "cifar10.load_data")
    x_train = np.concatenate([batches[m][0] for m in _TRAIN])
    y_train = np.concatenate([np.asarray(batches[m][1], np.uint8) for m in _TRAIN])
    x_test, y_test = batches[_TEST][0], np.asarray(batches[_TEST][1], np.uint8)
    return (channels_last(x_train), y_train.reshape(-1, 1)), \
        (channels_last(x_test), y_test.reshape(-1, 1))
