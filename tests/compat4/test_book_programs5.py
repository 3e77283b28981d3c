"""Patterns from more Keras/TF2 textbooks' programs (run with only their
imports changed) that broke in pynn, reproduced in a few lines each, against
Keras 3 on its NumPy backend where it runs the same thing."""
import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras as real_keras, needs_keras  # noqa: F401


# ------------------------------------------------------ autoencoders

def test_symbolic_shape_as_list_sizes_a_decoder():
    """tf.keras's ``shape = x.shape.as_list()`` on an encoder's last feature
    map, read back to size the decoder's Dense and Reshape."""
    inputs = pynn.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    shape = x.shape.as_list()
    assert shape == [None, 4, 4, 4] and x.get_shape() == (None, 4, 4, 4)
    assert x.shape == (None, 4, 4, 4) and isinstance(x.shape, tuple)
    latent = layers.Dense(2)(layers.Flatten()(x))
    y = layers.Dense(shape[1] * shape[2] * shape[3])(latent)
    y = layers.Reshape((shape[1], shape[2], shape[3]))(y)
    out = layers.Conv2DTranspose(1, 3, strides=2, padding="same")(y)
    model = pynn.Model(inputs, out)
    assert model.predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0).shape == (2, 8, 8, 1)


# ------------------------------------------------------ GANs

def test_two_outputs_of_a_nested_model_each_log_their_loss():
    """An ACGAN's adversarial model ends in the discriminator, a model with
    two outputs: both outputs carry its name, and train_on_batch still gives
    the total, one loss per output and one accuracy per output."""
    pynn.utils.set_random_seed(0)
    i = pynn.Input((4,))
    h = layers.Dense(8)(i)
    src = layers.Dense(1, activation="sigmoid")(h)
    label = layers.Dense(3, activation="softmax")(h)
    disc = pynn.Model(i, [src, label], name="disc")
    z = pynn.Input((2,))
    gen = pynn.Model(z, layers.Dense(4)(z), name="gen")
    disc.trainable = False
    adversarial = pynn.Model(z, disc(gen(z)))
    adversarial.compile(loss=["binary_crossentropy", "categorical_crossentropy"],
                        optimizer="rmsprop", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((16, 2)).astype(np.float32)
    y1, y2 = rng.integers(0, 2, (16, 1)), np.eye(3)[rng.integers(0, 3, 16)]
    logs = adversarial.train_on_batch(x, [y1, y2], return_dict=True)
    assert sorted(logs) == ["disc_accuracy", "disc_accuracy_1", "disc_loss", "disc_loss_1",
                            "loss"]
    assert logs["loss"] == pytest.approx(logs["disc_loss"] + logs["disc_loss_1"], rel=1e-5)
    # each is its own output's loss: binary, then categorical cross-entropy
    p_src, p_label = adversarial.predict(x, verbose=0)
    bce = np.mean(pynn.losses.binary_crossentropy(y1.astype(np.float32), p_src))
    cce = np.mean(pynn.losses.categorical_crossentropy(y2.astype(np.float32), p_label))
    logs = adversarial.evaluate(x, [y1, y2], return_dict=True, verbose=0)
    assert logs["disc_loss"] == pytest.approx(bce, rel=1e-4)
    assert logs["disc_loss_1"] == pytest.approx(cce, rel=1e-4)
    assert len(adversarial.train_on_batch(x, [y1, y2])) == 5


# ------------------------------------------------------ policy gradient

@needs_keras
@pytest.mark.parametrize("name, value", [("zero", 0.0), ("one", 1.0)])
def test_initializer_spelled_in_the_singular(name, value):
    """``Dense(1, kernel_initializer='zero')``: Keras 3's get takes 'zero'
    and 'one' beside 'zeros' and 'ones'."""
    assert type(real_keras.initializers.get(name)).__name__ == \
        type(pynn.initializers.get(name)).__name__
    dense = layers.Dense(2, kernel_initializer=name, bias_initializer=name)
    dense.build((None, 3))
    np.testing.assert_array_equal(np.asarray(dense.kernel), np.full((3, 2), value))
    np.testing.assert_array_equal(np.asarray(dense.bias), np.full((2,), value))
