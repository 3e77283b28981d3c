"""CIFAR-100 (32x32 colour images, 100 classes in 20 superclasses), as
Keras's ``cifar100.load_data()`` returns it."""
import numpy as np

from ._cifar import channels_last, read_batches

URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
# The digest Keras checks (keras/src/datasets/cifar100.py).
HASHES = {"cifar-100-python.tar.gz":
          "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"}


def load_data(label_mode="fine"):
    """``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
    (50000, 32, 32, 3) and (10000, 32, 32, 3) and labels of shape (n, 1):
    the 100 classes with ``label_mode='fine'``, the 20 superclasses with
    'coarse'.  The labels are int64, as Keras returns them for CIFAR-100.
    The archive is looked up in the cache ($PYNN_HOME/datasets, default
    ~/.pynn/datasets), downloaded and checked when missing, and read in place
    through a restricted unpickler that builds arrays and nothing else."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. '
                         f"Received: label_mode={label_mode}.")
    fname = "cifar-100-python.tar.gz"
    train, test = "cifar-100-python/train", "cifar-100-python/test"
    batches = read_batches(fname, URL, HASHES[fname], [train, test], f"{label_mode}_labels",
                           100 if label_mode == "fine" else 20, "cifar100.load_data")
    (x_train, y_train), (x_test, y_test) = batches[train], batches[test]
    return (channels_last(x_train), np.array(y_train, np.int64).reshape(-1, 1)), \
        (channels_last(x_test), np.array(y_test, np.int64).reshape(-1, 1))
