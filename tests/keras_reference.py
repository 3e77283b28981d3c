"""Keras 3 on its NumPy backend, the test-only reference, for the test
modules that compare with it at module level: ``keras`` (None where it
cannot be imported) and ``needs_keras`` (a skip mark saying why).  Tests
that take it as a fixture use ``keras`` from conftest.py instead."""
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras
except Exception as e:  # missing, or a backend that cannot load here
    keras, reason = None, f"Keras 3 is not available ({type(e).__name__}: {e})"
else:
    reason = ""

needs_keras = pytest.mark.skipif(keras is None, reason=reason)
