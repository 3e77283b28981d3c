"""Programs written as Keras books and tutorials write them, run with only
their imports changed; Keras 3 on its NumPy backend (test-only) is the
reference where a value is deterministic."""

import pytest


@pytest.fixture(scope="module")
def keras_ref(keras):
    return keras
