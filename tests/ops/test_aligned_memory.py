"""Weights, fit's flat parameters and large products start on a cache line
(64 bytes): a row read by the kernels then never straddles two lines."""
import numpy as np

import pynn
from pynn import layers, ops
from pynn.backend import aligned_empty


def _line(a):
    return np.asarray(a).ctypes.data % 64


def _mlp():
    return pynn.Sequential([layers.Input((784,)), layers.Dense(128, activation="relu"),
                            layers.Dense(128, activation="relu"), layers.Dense(10)])


def test_aligned_empty_shapes_and_dtypes():
    for shape in [(), (1,), (3, 5), (7, 11, 13)]:
        for dtype in (np.float32, np.float64, np.int32, np.uint8, np.bool_):
            a = aligned_empty(shape, dtype)
            assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
            assert _line(a) == 0
    assert aligned_empty(5).shape == (5,)


def test_new_weights_are_aligned():
    model = _mlp()
    assert [_line(w.value) for w in model.weights] == [0] * 6


def test_fit_flat_parameters_start_aligned_and_train_the_same():
    x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    y = np.random.default_rng(1).random((64, 10), dtype=np.float32)
    pynn.utils.set_random_seed(3)
    model = _mlp()
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    # the weights are views of one flat array: its start, and each weight
    # whose predecessors hold whole cache lines, are aligned
    assert [_line(w.value) for w in model.weights] == [0] * 6
    # a second fit binds the same views: the training is unchanged by it
    pynn.utils.set_random_seed(3)
    again = _mlp()
    again.compile("adam", "mse")
    again.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_apply_gradients_flat_copy_is_aligned():
    w1 = pynn.Variable(np.ones((3, 5), np.float32))
    w2 = pynn.Variable(np.ones((16,), np.float32))
    opt = pynn.optimizers.SGD(0.5)
    opt.apply_gradients([(np.ones((3, 5), np.float32), w1), (np.ones(16, np.float32), w2)])
    np.testing.assert_allclose(np.asarray(w1), 0.5)
    np.testing.assert_allclose(np.asarray(w2), 0.5)
    assert _line(w1.value) == 0


def test_large_matmul_output_is_aligned_and_right():
    rng = np.random.default_rng(0)
    a = rng.random((300, 200), dtype=np.float32)
    b = rng.random((200, 260), dtype=np.float32)
    y = ops.matmul(a, b)
    assert _line(y) == 0 and y.flags.c_contiguous and y.shape == (300, 260)
    np.testing.assert_allclose(y, a.astype(np.float64) @ b, rtol=1e-5)
    y[...] = 0  # its own memory
    assert ops.matmul(a, b).sum() > 0


def test_eager_layer_outputs_stay_the_callers():
    layer = layers.Dense(8)
    x = np.ones((4, 3), np.float32)
    y1 = np.asarray(layer(x))
    y1_copy = y1.copy()
    y2 = np.asarray(layer(2 * x))
    np.testing.assert_array_equal(y1, y1_copy)  # the second call did not overwrite it
    assert not np.shares_memory(y1, y2)
