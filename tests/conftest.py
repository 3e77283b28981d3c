import os
import warnings

import pytest

# Tests never reach for the network: MNIST comes from the offline sample.
os.environ.setdefault("PYNN_OFFLINE", "1")

# The property tests run in child processes started by tests/test_fuzz.py
# (a crash there fails one test instead of the run), never in this one.
collect_ignore = [] if os.environ.get("PYNN_FUZZ_CHILD") else ["fuzz"]

# Models stay on the CPU unless a test places them (tests/cuda places them
# on the GPU explicitly), so the suite means the same on a GPU machine.
os.environ.setdefault("PYNN_DEVICE", "cpu")

# PYNN_TEST_CUDA_MODULE names a build of pynn._cuda to test instead of the
# installed one (tests/cuda/emulated_build.py makes one that runs the CUDA
# kernels on the CPU): it is loaded before pynn is imported.
if os.environ.get("PYNN_TEST_CUDA_MODULE"):
    import importlib.util
    import sys

    _spec = importlib.util.spec_from_file_location("pynn._cuda",
                                                   os.environ["PYNN_TEST_CUDA_MODULE"])
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["pynn._cuda"] = _module
    _spec.loader.exec_module(_module)


def pytest_report_header(config):
    import pynn
    if pynn.cuda.is_available():
        return f"pynn.cuda: the CUDA tests run on {pynn.cuda.device_name(0)}"
    return (f"pynn.cuda: the CUDA tests (tests/cuda/test_gpu.py) are skipped: no CUDA device "
            f"({pynn.cuda.unavailable_reason()})")


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on its NumPy backend, the test-only reference, or a skip."""
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
def _keep_layer_name_counters(request):
    """The programs under tests/compat* create layers with automatic names;
    other tests compare automatic names with Keras's, so the counters are
    put back after each of them."""
    if not request.node.path.parent.name.startswith("compat"):
        yield
        return
    from pynn.layers.base import _name_counts
    saved = dict(_name_counts)
    yield
    _name_counts.clear()
    _name_counts.update(saved)
