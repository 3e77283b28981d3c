"""Placement and dispatch without a GPU: pynn.device scopes, the default
device, pynn.ops sending device arrays to the CUDA path and refusing mixed
host and device arrays, and what a GPU request says on a machine without
one.  (tests/cuda/test_gpu.py runs the device side for real.)"""
import re
import threading

import numpy as np
import pytest

import pynn
from pynn import backend, cuda, layers, ops


@pytest.mark.parametrize("name,want", [("cpu", "cpu"), ("CPU:0", "cpu"), ("gpu", "gpu:0"),
                                       ("gpu:1", "gpu:1"), ("cuda:0", "gpu:0"),
                                       ("/device:GPU:2", "gpu:2")])
def test_device_names(name, want):
    assert backend.parse_device(name) == want


@pytest.mark.parametrize("name", ["tpu", "gpu:x", "", "gpu:-1"])
def test_bad_device_names(name):
    with pytest.raises(ValueError, match="unknown device"):
        pynn.device(name)
    with pytest.raises(TypeError):
        pynn.device(0)


def test_scopes_nest_and_belong_to_their_thread():
    assert backend.current_device() is None
    with pynn.device("gpu:1"):
        assert backend.current_device() == "gpu:1" and backend.current_gpu() == 1
        with pynn.device("cpu"):
            assert backend.current_device() == "cpu"
            seen = []
            t = threading.Thread(target=lambda: seen.append(backend.current_device()))
            t.start()
            t.join()
            assert seen == [None]
        assert backend.current_device() == "gpu:1"
    assert backend.current_device() is None


def test_default_device(monkeypatch):
    monkeypatch.setenv("PYNN_DEVICE", "gpu:3")
    assert backend.default_device() == "gpu:3"
    monkeypatch.delenv("PYNN_DEVICE")
    assert backend.default_device() == ("gpu:0" if cuda.is_available() else "cpu")


def test_config_says_where_the_gpu_is_or_why_there_is_none(capsys):
    status = backend.config()["cuda"]
    if cuda.is_available():
        assert cuda.device_name(0).split(" (")[0] in status
    else:
        assert status.startswith("unavailable: ") and cuda.unavailable_reason() in status
    pynn.show_config()
    out = capsys.readouterr().out
    assert "cuda:" in out and "device:" in out


class FakeBuffer:
    """Stands in for device memory: the dispatch and its checks run before
    any kernel is called."""
    ptr, device = 0, 0


def fake(shape, dtype=np.float32):
    return cuda.DeviceArray._view(FakeBuffer(), 0, tuple(shape), np.dtype(dtype))


def test_device_arrays_go_to_the_cuda_path_and_mixing_is_refused():
    a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    for call in (lambda: ops.matmul(a, fake((3, 4))),       # host first: the CPU path refuses
                 lambda: ops.matmul(fake((2, 3)), b),       # device first: the GPU path refuses
                 lambda: ops.dense(fake((2, 3)), b),
                 lambda: ops.add(a, fake((2, 3))),
                 lambda: ops.conv2d(fake((1, 4, 4, 2)), np.ones((3, 3, 2, 1), np.float32)),
                 lambda: ops.sparse_loss(fake((2,), np.int32), a),
                 lambda: ops.accuracy_count("sparse", fake((2,), np.int32), a),
                 lambda: ops.gather_rows(a, fake((1,), np.int64)),
                 lambda: ops.loss("mean_squared_error", a, fake((2, 3))),
                 lambda: ops.concatenate([fake((2, 3)), a])):
        with pytest.raises(TypeError, match="DeviceArray|do not mix"):
            call()


def test_the_cuda_path_checks_shapes_before_touching_the_gpu():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align"):
        ops.matmul(fake((2, 3)), fake((4, 5)))
    with pytest.raises(ValueError, match="kernel of shape"):
        ops.conv2d(fake((1, 5, 5, 2)), fake((3, 3, 4, 8)))
    with pytest.raises(ValueError, match="no broadcasting"):
        ops.add(fake((2, 3)), fake((1, 3)))
    with pytest.raises(TypeError, match="int32"):
        ops.sparse_loss(fake((2,), np.int64), fake((2, 3)))


def test_device_array_views_are_checked_without_a_gpu():
    d = fake((4, 6))
    assert d.reshape(-1, 3).shape == (8, 3)
    assert d[1:3].shape == (2, 6) and d[1:3].ptr == 6 * 4
    assert d[:, None].shape == (4, 1, 6) and d[:, None][:, 0].shape == (4, 6)
    assert d[3].shape == (6,) and d[3].ptr == 3 * 6 * 4
    with pytest.raises(ValueError, match="cannot reshape"):
        d.reshape(5, 5)
    with pytest.raises(IndexError, match="first axis"):
        d[:, 2]
    with pytest.raises(IndexError, match="out of bounds"):
        d[4]
    with pytest.raises(TypeError, match="to_device"):
        cuda.DeviceArray((2, 3))


@pytest.mark.skipif(cuda.is_available(), reason="a GPU is present")
def test_asking_for_a_gpu_without_one_says_why():
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(cuda.CudaError, match="pynn.cuda: "):
        with pynn.device("gpu:0"):
            model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    with pytest.raises(cuda.CudaError, match=re.escape(cuda.unavailable_reason())):
        cuda.to_device(np.ones(3))
    assert isinstance(model.layers[0].kernel.value, np.ndarray)  # nothing moved
    with pynn.device("cpu"):
        model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)


def test_layers_that_compute_in_numpy_stay_on_the_cpu(monkeypatch):
    class Doubling(layers.Layer):
        def call(self, x):
            return x * 2

    assert not Doubling.runs_on_gpu and layers.Dense.runs_on_gpu
    monkeypatch.setattr(backend, "default_device", lambda: "gpu:0")
    import pynn.training
    monkeypatch.setattr(pynn.training, "default_device", lambda: "gpu:0")
    inp = pynn.Input((3,))
    model = pynn.Model(inp, Doubling()(layers.Dense(2)(inp)))
    assert model._default_placement() == "cpu"  # the default would be the GPU
    with pytest.raises(ValueError, match="cannot run on the GPU"):
        with pynn.device("gpu:0"):
            model.predict(np.ones((1, 3), np.float32), verbose=0)
