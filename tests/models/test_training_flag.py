"""A node called with training=False computes as at inference while the
model trains, and gradients still flow through it: Keras's fine-tuning
recipe (``x = base(inputs, training=False)``, then unfreeze the base)."""
import numpy as np

import pynn
from pynn import layers
from tests.gradcheck import check_model_gradients


def frozen_base_model(seed=3):
    pynn.utils.set_random_seed(seed)
    base = pynn.Sequential([
        pynn.Input(shape=(6, 6, 2)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.Dropout(0.5),
        layers.GaussianNoise(0.3),
        layers.Flatten(),
        layers.Dense(5, activation="tanh"),
    ], name="base")
    inputs = pynn.Input(shape=(6, 6, 2))
    x = base(inputs, training=False)
    outputs = layers.Dense(3, activation="softmax")(x)
    return pynn.Model(inputs, outputs), base


def data(n=12):
    g = np.random.default_rng(0)
    x = g.normal(size=(n, 6, 6, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[g.integers(0, 3, n)]
    return x, y


def test_fine_tuning_through_a_base_called_with_training_false():
    model, base = frozen_base_model()
    x, y = data()
    base.trainable = True  # fine-tuning: the base's weights train
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    bn = base.layers[1]
    moving = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]
    kernel = base.layers[0].kernel.numpy().copy()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    # the base computed as at inference: moving statistics untouched ...
    np.testing.assert_array_equal(bn.moving_mean.numpy(), moving[0])
    np.testing.assert_array_equal(bn.moving_variance.numpy(), moving[1])
    # ... and its weights trained
    assert not np.allclose(base.layers[0].kernel.numpy(), kernel)


def test_training_forward_equals_inference_and_gradients_are_exact():
    model, base = frozen_base_model(seed=5)
    x, y = data(6)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    # no dropout, no noise, moving statistics: the training pass is the
    # deterministic inference function, so finite differences apply
    state = model._program.new_state()
    train_out = model._program.forward([x], True, state)[0]
    np.testing.assert_allclose(train_out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    check_model_gradients(model, x, y)
