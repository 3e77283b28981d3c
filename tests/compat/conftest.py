"""Programs written as Keras books and tutorials write them, run with only
their imports changed; Keras 3 on its NumPy backend (test-only) is the
reference where a value is deterministic."""
import os
import warnings

import pytest


@pytest.fixture(scope="module")
def keras_ref():
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import keras
    except Exception as e:  # keras, or jax/scipy under it, missing
        pytest.skip(f"Keras (with its NumPy backend) is not importable: {e}")
    if keras.backend.backend() != "numpy":
        pytest.skip(f"Keras runs on {keras.backend.backend()}, not numpy")
    return keras


@pytest.fixture(autouse=True)
def _keep_layer_name_counters():
    """These programs create layers with automatic names; other tests
    compare automatic names with Keras's, so the counters are put back."""
    from pynn.layers.base import _name_counts
    saved = dict(_name_counts)
    yield
    _name_counts.clear()
    _name_counts.update(saved)
