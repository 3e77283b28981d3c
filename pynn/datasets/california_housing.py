"""California housing prices, as Keras's ``california_housing.load_data()``:
20,640 census block groups of 1990, 8 features each (median income, house
age, average rooms and bedrooms, population, average occupancy, latitude,
longitude), the median house value in dollars.  Downloaded once into the
cache and checked against Keras's digest; no copy ships for offline use."""
import numpy as np

from ._files import fetch_or_raise

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/california_housing.npz"
HASHES = {"california_housing.npz":
          "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"}


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: version ``"large"`` (all
    20,640 rows) or ``"small"`` (the first 600, Keras's stand-in for Boston
    housing), shuffled by ``seed`` and split as Keras does."""
    if not 0 <= test_split < 1:
        raise ValueError(f"california_housing: test_split must be in [0, 1), got {test_split}")
    if version not in ("small", "large"):
        raise ValueError(f"california_housing: version must be 'small' or 'large', got "
                         f"{version!r}")
    full = fetch_or_raise(path, URL, HASHES["california_housing.npz"],
                          "california_housing.load_data")
    with np.load(full, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
