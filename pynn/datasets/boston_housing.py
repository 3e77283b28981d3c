"""Boston housing prices, as Keras's ``boston_housing.load_data()``."""
import numpy as np

from ._files import fetch, mlxtend_file, warn_once

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: 13 features per house, the
    median price in $1000s.  The same 506 houses come from the cache, a
    download, or offline from the copy mlxtend ships; Keras's shuffle (by
    ``seed``) and split are applied to them."""
    if not 0 <= test_split < 1:
        raise ValueError(f"boston_housing: test_split must be in [0, 1), got {test_split}")
    full = fetch(path, URL, SHA256)
    if full is not None:
        with np.load(full, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    else:
        sample = mlxtend_file("boston_housing.csv")
        if sample is None:
            raise RuntimeError(
                "Boston housing is not available: it is not in the cache, it could not be "
                f"downloaded from {URL}, and the offline copy (the mlxtend package's "
                "boston_housing.csv) is not installed. Connect to the network, or "
                "`pip install mlxtend`.")
        warn_once("boston", "Boston housing could not be downloaded; using the copy that "
                  "mlxtend ships (the same 506 houses).")
        data = np.loadtxt(sample, delimiter=",")
        x, y = data[:, :13], data[:, 13]
    order = np.random.RandomState(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
