"""Generative Deep Learning (2nd edition)'s programs with only their imports
changed: the patterns that broke in pynn, against Keras 3 on its NumPy
backend where it runs the same thing."""
import os

import numpy as np
import pytest

import pynn

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
