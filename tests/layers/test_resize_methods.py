"""Resizing with Keras 3's kernels: 'bicubic', 'lanczos3' and 'lanczos5',
and antialiasing when an image shrinks, in ops.image.resize, the Resizing
and UpSampling2D layers and tf.image.resize, equal to Keras 3's NumPy
backend; their gradients are the adjoint of the resize (checked by the
dot-product identity and by finite differences on a tape).  (The
exporter's refusals: tests/tflite/test_resize_export.py.)"""
import numpy as np
import pytest

import pynn
from pynn import layers, ops

METHODS = ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"]


def images(shape=(2, 9, 7, 3), seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32) * 255.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", [(4, 3), (13, 16), (9, 4)])
def test_ops_image_resize_matches_keras(keras, method, antialias, size):
    x = images()
    ours = ops.image.resize(x, size, interpolation=method, antialias=antialias)
    theirs = keras.ops.image.resize(x, size, interpolation=method, antialias=antialias)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=2e-3)
    # one image, and cropped to the target's aspect ratio first
    one = ops.image.resize(x[0], size, interpolation=method, antialias=antialias,
                           crop_to_aspect_ratio=True)
    ref = keras.ops.image.resize(x[0], size, interpolation=method, antialias=antialias,
                                 crop_to_aspect_ratio=True)
    np.testing.assert_allclose(np.asarray(one), np.asarray(ref), rtol=1e-5, atol=2e-3)


@pytest.mark.parametrize("method", ["bicubic", "lanczos5"])
def test_resizing_and_upsampling_layers_match_keras(keras, method):
    x = images((2, 6, 8, 2), seed=1)
    ours = layers.Resizing(4, 5, interpolation=method, antialias=True)
    theirs = keras.layers.Resizing(4, 5, interpolation=method, antialias=True)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-5,
                               atol=2e-3)
    config = ours.get_config()
    assert config["interpolation"] == method and config["antialias"] is True
    again = layers.Resizing.from_config(config)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(ours(x)))
    up = layers.UpSampling2D((2, 3), interpolation=method)
    ref = keras.layers.UpSampling2D((2, 3), interpolation=method)
    np.testing.assert_allclose(np.asarray(up(x)), np.asarray(ref(x)), rtol=1e-5, atol=2e-3)


@pytest.mark.parametrize("method,antialias", [("bicubic", False), ("lanczos3", True),
                                              ("bilinear", True)])
def test_resize_gradient_is_the_adjoint(method, antialias):
    x = images((2, 7, 6, 3), seed=2)
    window = (1, 0, 5, 6)
    y = ops.resize(x, (3, 4), method, window, antialias=antialias)
    g = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    dx = ops.resize_grad(g, x.shape, method, window, antialias=antialias)
    assert not dx[:, 0].any() and not dx[:, 6].any()  # outside the window
    np.testing.assert_allclose(np.vdot(y.astype(np.float64), g),
                               np.vdot(x.astype(np.float64), dx), rtol=1e-5)


def test_resize_trains_through_a_tape_by_finite_differences():
    x = images((1, 5, 6, 1), seed=4) / 255.0
    w = np.random.default_rng(5).standard_normal((1, 8, 3, 1))

    def loss(v):
        return float(np.sum(ops.image.resize(v.astype(np.float32), (8, 3),
                                             interpolation="bicubic", antialias=True) * w))

    xt = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        out = pynn.reduce_sum(ops.image.resize(xt, (8, 3), interpolation="bicubic",
                                               antialias=True) * w.astype(np.float32))
    grad = np.asarray(tape.gradient(out, xt))
    num = np.zeros_like(x, dtype=np.float64)
    eps = 1e-2
    for idx in np.ndindex(x.shape):
        up, down = x.astype(np.float64).copy(), x.astype(np.float64).copy()
        up[idx] += eps
        down[idx] -= eps
        num[idx] = (loss(up) - loss(down)) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=2e-3, atol=2e-3)


def test_tf_image_resize_takes_the_kernels():
    x = images((9, 7, 3), seed=6)
    got = pynn.image.resize(x, [4, 5], method=pynn.image.ResizeMethod.LANCZOS3,
                            antialias=True)
    want = ops.image.resize(x, (4, 5), interpolation="lanczos3", antialias=True)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(ValueError, match="hamming"):
        pynn.image.resize(x, [4, 5], method="hamming")
