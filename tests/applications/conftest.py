"""Keras 3 on its NumPy backend is the reference for the applications'
architectures (a test-only dependency).  No test reaches the network: the
caches pynn and Keras read are empty temporary folders, and PYNN_OFFLINE=1
(tests/conftest.py) forbids downloads."""
import os

import pytest

os.environ["KERAS_BACKEND"] = "numpy"


@pytest.fixture(scope="session")
def keras():
    return pytest.importorskip("keras", reason="Keras 3 (the reference for the applications' "
                                               "architectures) is not installed")


@pytest.fixture(autouse=True)
def empty_caches(tmp_path, monkeypatch):
    """$PYNN_HOME and $KERAS_HOME point at empty folders, and the class
    index read by decode_predictions is forgotten."""
    from pynn.applications import imagenet_utils
    monkeypatch.setenv("PYNN_HOME", str(tmp_path / "pynn_home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("PYNN_OFFLINE", "1")
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    return tmp_path
