"""Generative Deep Learning (2nd edition)'s programs with only their imports
changed: the patterns that broke in pynn, against Keras 3 on its NumPy
backend where it runs the same thing."""
import os

import numpy as np
import pytest

import pynn
from pynn import layers

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras as real_keras
except Exception:  # missing, or a backend that cannot load here
    real_keras = None

needs_keras = pytest.mark.skipif(real_keras is None, reason="Keras 3 is not installed")


# ------------------------------------------------------------ VAE (ch. 3)

@needs_keras
@pytest.mark.parametrize("axis", [(1, 2, 3), 1, (1, 3), -2, [2]])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_binary_crossentropy_averaged_over_the_given_axes(axis, smoothing):
    """A VAE's reconstruction term, ``binary_crossentropy(x, x_hat,
    axis=(1, 2, 3))``: one value per image, the mean over its pixels."""
    rng = np.random.default_rng(0)
    y = rng.uniform(size=(4, 5, 6, 2)).astype(np.float32)
    p = rng.uniform(0.05, 0.95, size=(4, 5, 6, 2)).astype(np.float32)
    ref = np.asarray(real_keras.losses.binary_crossentropy(y, p, axis=axis,
                                                           label_smoothing=smoothing))
    got = np.asarray(pynn.losses.binary_crossentropy(y, p, axis=axis, label_smoothing=smoothing))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    ref = float(real_keras.losses.BinaryCrossentropy(axis=axis, reduction="sum")(y, p))
    got = float(pynn.losses.BinaryCrossentropy(axis=axis, reduction="sum")(y, p))
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_binary_crossentropy_over_axes_differentiates_through_a_tape():
    """The VAE's train_step: the loss over (1, 2, 3) recorded by a tape, its
    gradient the derivative of the mean of each image's pixels' losses."""
    rng = np.random.default_rng(1)
    y = rng.uniform(size=(3, 4, 4, 1)).astype(np.float32)
    logits = pynn.Variable(rng.normal(size=(3, 4, 4, 1)).astype(np.float32))
    with pynn.GradientTape() as tape:
        p = pynn.ops.sigmoid(logits)
        loss = pynn.reduce_mean(500 * pynn.losses.binary_crossentropy(y, p, axis=(1, 2, 3)))
    grad = np.asarray(tape.gradient(loss, logits))
    # d/dlogit of the mean bce is (sigmoid - y) / count, scaled by 500
    expected = 500 * (1 / (1 + np.exp(-np.asarray(logits)))) - 500 * y
    np.testing.assert_allclose(grad, expected / y.size, rtol=1e-4, atol=1e-6)


def test_binary_crossentropy_axis_errors_name_the_loss():
    with pytest.raises(ValueError, match="BinaryCrossentropy: axis must be"):
        pynn.losses.BinaryCrossentropy(axis=(1.5,))
    with pytest.raises(ValueError, match="axis=.*out of range"):
        pynn.losses.binary_crossentropy(np.zeros((2, 3)), np.full((2, 3), 0.5), axis=(1, 2))
    with pytest.raises(ValueError, match="CategoricalCrossentropy: pynn takes the classes"):
        pynn.losses.CategoricalCrossentropy(axis=1)


def test_image_folder_with_explicit_int_labels_keeps_them(tmp_path):
    """Faces with a CelebA attribute as labels (-1 or 1, from a CSV): with
    label_mode="int" the labels come out as given, as in Keras."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray((rng.random((10, 8, 3)) * 255).astype("uint8")).save(
            tmp_path / f"{i:03d}.png")
    labels = [-1, 1, 1, -1, -1, 1]
    ds = pynn.utils.image_dataset_from_directory(
        tmp_path, labels=labels, image_size=(8, 8), batch_size=6, shuffle=False, verbose=False)
    images, got = next(iter(ds))
    assert images.shape == (6, 8, 8, 3)
    assert list(np.asarray(got)) == labels
    assert ds.class_names == ["-1", "1"]
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        pynn.utils.image_dataset_from_directory(
            tmp_path, labels=labels, label_mode="categorical", image_size=(8, 8),
            verbose=False)


# ------------------------------------------------------------ GANs (ch. 4)

def test_tf_repeat_of_one_hot_labels_into_an_image_and_through_a_tape():
    """A conditional GAN's labels broadcast to the image with
    ``tf.repeat(labels[:, None, None, :], repeats=size, axis=1)``."""
    labels = np.eye(2, dtype=np.float32)[[0, 1, 1]]
    img = pynn.repeat(pynn.repeat(labels[:, None, None, :], repeats=4, axis=1), 4, axis=2)
    assert img.shape == (3, 4, 4, 2)
    np.testing.assert_array_equal(np.asarray(img), np.tile(labels[:, None, None, :],
                                                           (1, 4, 4, 1)))
    assert img.numpy().shape == (3, 4, 4, 2)
    np.testing.assert_array_equal(np.asarray(pynn.repeat([[1, 2], [3, 4]], [1, 2], axis=0)),
                                  [[1, 2], [3, 4], [3, 4]])
    np.testing.assert_array_equal(np.asarray(pynn.repeat([[1, 2], [3, 4]], 2)),
                                  [1, 1, 2, 2, 3, 3, 4, 4])
    v = pynn.Variable(np.array([1.0, 2.0], np.float32))
    with pynn.GradientTape() as tape:
        y = pynn.reduce_sum(pynn.repeat(v, [3, 1], axis=0) * np.arange(1, 5, dtype=np.float32))
    np.testing.assert_allclose(np.asarray(tape.gradient(y, v)), [6.0, 4.0])


# -------------------------------------------------- PixelCNN (ch. 5)

def test_masked_convolution_reads_its_kernels_tf_shape():
    """A PixelCNN's masked Conv2D builds its mask from
    ``self.conv.kernel.get_shape()``."""
    conv = layers.Conv2D(4, 5)
    conv.build((None, 8, 8, 3))
    shape = conv.kernel.get_shape()
    assert shape == (5, 5, 3, 4) and shape.as_list() == [5, 5, 3, 4]


# -------------------------------------------------- LSTM text (ch. 5)

def test_text_vectorization_on_a_string_gives_an_eager_tensor():
    vectorize = layers.TextVectorization(output_sequence_length=5)
    vectorize.adapt(["mix the flour", "bake the cake"])
    ids = vectorize("mix the cake")
    assert ids.numpy().tolist() == np.asarray(ids).tolist()
    assert ids.numpy().shape == (5,) and ids.numpy()[0] > 1


# ------------------------------------------ energy-based model (ch. 7)

def test_langevin_step_in_place_on_a_watched_tensor():
    """Langevin sampling: ``x += step * grads`` on the tensor a tape
    watched, after tape.gradient, adds in place (it recursed forever); the
    same ``+=`` while a tape records gives a new recorded tensor."""
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
    x = pynn.random.uniform((2, 3))
    with pynn.GradientTape() as tape:
        tape.watch(x)
        score = model(x)
    grads = tape.gradient(score, x)
    before = np.array(x)
    x += 0.5 * grads
    np.testing.assert_allclose(np.asarray(x), before + 0.5 * np.asarray(grads), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grads), np.tile(model.get_weights()[0].T, (2, 1)),
                               rtol=1e-6)
    with pynn.GradientTape() as tape:
        tape.watch(x)
        y = x * 3.0
        y += x
        total = pynn.reduce_sum(y)
    np.testing.assert_allclose(np.asarray(tape.gradient(total, x)), np.full((2, 3), 4.0))


# ---------------------------------------------------- diffusion (ch. 8)

@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_math_cumprod_as_tensorflows(exclusive, reverse):
    """A linear diffusion schedule's ``alpha_bars = tf.math.cumprod(1 -
    betas)``, with TensorFlow's exclusive and reverse."""
    x = np.array([[0.9, 0.8, 0.5, 2.0], [2.0, 3.0, 0.5, 1.5]], np.float32)
    got = np.asarray(pynn.math.cumprod(x, axis=1, exclusive=exclusive, reverse=reverse))
    y = x[:, ::-1] if reverse else x
    ref = np.cumprod(y, axis=1)
    if exclusive:
        ref = np.concatenate([np.ones((2, 1), np.float32), ref[:, :-1]], axis=1)
    np.testing.assert_allclose(got, ref[:, ::-1] if reverse else ref, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(pynn.math.cumprod(x)), np.cumprod(x, axis=0))


def test_tensorflows_top_level_math_names():
    """``tf.acos`` (an offset cosine schedule), ``tf.broadcast_to`` (a
    positional encoding spread over the batch) and the other tf.math
    functions TensorFlow has at the top level."""
    x = np.array([0.1, 0.5, 0.9], np.float32)
    for name, ref in [("acos", np.arccos), ("asin", np.arcsin), ("atan", np.arctan),
                      ("tan", np.tan), ("sinh", np.sinh), ("cosh", np.cosh),
                      ("asinh", np.arcsinh), ("atanh", np.arctanh), ("negative", np.negative)]:
        np.testing.assert_allclose(getattr(pynn, name)(x).numpy(), ref(x), rtol=1e-5,
                                   err_msg=name)
    np.testing.assert_allclose(pynn.acosh(x + 1).numpy(), np.arccosh(x + 1), rtol=1e-5)
    for name, ref in [("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
                      ("divide", np.divide), ("truediv", np.divide), ("atan2", np.arctan2)]:
        np.testing.assert_allclose(np.asarray(getattr(pynn, name)(x, x[::-1])), ref(x, x[::-1]),
                                   rtol=1e-5, err_msg=name)
    enc = np.arange(6, dtype=np.float32).reshape(3, 2)
    spread = pynn.broadcast_to(enc, pynn.shape(np.zeros((4, 3, 2))))
    assert spread.numpy().shape == (4, 3, 2)
    np.testing.assert_array_equal(spread.numpy()[2], enc)
    v = pynn.Variable(enc)
    with pynn.GradientTape() as tape:
        y = pynn.reduce_sum(pynn.broadcast_to(v, [4, 3, 2]))
    np.testing.assert_allclose(np.asarray(tape.gradient(y, v)), np.full((3, 2), 4.0))


def test_optimizers_experimental_are_the_same_optimizers():
    """tf.keras 2.9-2.15's ``optimizers.experimental.AdamW(learning_rate=...,
    weight_decay=...)`` is pynn's AdamW and steps as it."""
    exp = pynn.optimizers.experimental
    assert exp.AdamW is pynn.optimizers.AdamW and exp.Adam is pynn.optimizers.Adam
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(2)])
    before = [np.array(w) for w in model.get_weights()]
    model.compile(exp.AdamW(learning_rate=1e-2, weight_decay=1e-4), "mse")
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    assert not np.allclose(model.get_weights()[0], before[0])
