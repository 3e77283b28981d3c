"""An unbuilt Sequential called on what its first axis cannot be the
batch of (one unbatched image through a preprocessing stack) runs its
layers one after another, as Keras's; a call that cannot build it leaves
it as it was."""
import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras, needs_keras


def _image():
    return np.random.default_rng(0).random((40, 50, 3), dtype=np.float32) * 255


@needs_keras
def test_preprocessing_stack_on_one_unbatched_image_as_keras():
    img = _image()
    mine = pynn.Sequential([layers.Resizing(20, 20), layers.Rescaling(1 / 255)])
    theirs = keras.Sequential([keras.layers.Resizing(20, 20), keras.layers.Rescaling(1 / 255)])
    got, want = np.asarray(mine(img)), np.asarray(theirs(img))
    assert got.shape == want.shape == (20, 20, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # then on a batch: built for it, the same images
    batch = np.asarray(mine(img[None]))
    assert batch.shape == (1, 20, 20, 3)
    np.testing.assert_allclose(batch[0], got, rtol=1e-6)
    assert len(mine.layers) == 2


def test_augmentation_stack_on_one_image_then_a_batch():
    img = _image()
    aug = pynn.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    assert np.asarray(aug(img, training=False)).shape == img.shape
    out = np.asarray(aug(np.stack([img, img]), training=False))
    np.testing.assert_array_equal(out[0], img)


def test_a_call_that_cannot_build_keeps_every_layer():
    model = pynn.Sequential([layers.Dense(4), layers.Dense(2)])
    with pytest.raises(ValueError, match="dense"):
        model(np.zeros((3,), np.float32))
    assert len(model.layers) == 2 and not model.built
    x = np.ones((5, 3), np.float32)
    y = np.asarray(model(x))
    assert y.shape == (5, 2)
    assert len(model.layers) == 2 and model.built
    first = model.layers[0]
    np.testing.assert_allclose(
        y, (x @ first.kernel.numpy() + first.bias.numpy()) @ model.layers[1].kernel.numpy()
        + model.layers[1].bias.numpy(), rtol=1e-5)


def test_add_still_refuses_a_layer_that_does_not_fit():
    model = pynn.Sequential([pynn.Input((4,)), layers.Dense(3)])
    with pytest.raises(ValueError):
        model.add(layers.Conv2D(2, 3))
    assert len(model.layers) == 1
    assert np.asarray(model(np.ones((2, 4), np.float32))).shape == (2, 3)


def test_first_call_with_training_false_builds():
    # (the inference fast path read the program before there was one)
    model = pynn.Sequential([layers.Dense(2)])
    x = np.ones((1, 3), np.float32)
    y = np.asarray(model(x, training=False))
    assert y.shape == (1, 2) and model.built
    np.testing.assert_allclose(y, x @ model.layers[0].kernel.numpy(), rtol=1e-6)


def test_built_preprocessing_stack_on_one_unbatched_image():
    # built by a batch, then mapped over single images (a tf.data map)
    img = _image()
    stack = pynn.Sequential([layers.Resizing(20, 20), layers.Rescaling(1 / 255)])
    batch = np.asarray(stack(img[None]))
    one = np.asarray(stack(img[:30, :30]))
    assert one.shape == (20, 20, 3) and batch.shape == (1, 20, 20, 3)
    # a layer that cannot take it still gives the model's error
    dense = pynn.Sequential([layers.Dense(2)])
    dense(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError):
        dense(np.ones((4, 5), np.float32))
