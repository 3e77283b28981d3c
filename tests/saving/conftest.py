"""Keras 3 on its NumPy backend is the reference reader and writer of the
Keras formats (a test-only dependency, never TensorFlow)."""
import os

import pytest

os.environ["KERAS_BACKEND"] = "numpy"


@pytest.fixture(scope="session")
def h5py():
    return pytest.importorskip("h5py", reason="h5py (pip install 'pynn[keras]') is not "
                                              "installed")


@pytest.fixture(scope="session")
def mnist():
    """The MNIST sample (offline fallback), scaled to [0, 1], with labels."""
    import numpy as np

    import pynn
    (x_train, y_train), _ = pynn.datasets.mnist.load_data()
    return x_train.astype(np.float32) / 255.0, y_train
