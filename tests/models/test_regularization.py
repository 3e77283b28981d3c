"""Weight and activity regularizers add Keras's penalties to the loss and
their gradients to the weights'; constraints hold after every step."""
import numpy as np
import pytest

import pynn
from pynn import constraints, layers, regularizers
from gradcheck import check_model_gradients, model_loss


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def penalty(model):
    total = 0.0
    for w in model.weights:
        r = w.regularizer
        if r is not None:
            v = w.value.astype(np.float64)
            total += r.l1 * np.abs(v).sum() + r.l2 * (v * v).sum()
    return total


def regularized_model():
    pynn.utils.set_random_seed(1)
    inp = pynn.Input(shape=(5,))
    x = layers.Dense(6, activation="tanh", kernel_regularizer=regularizers.l2(0.01),
                     bias_regularizer=regularizers.l1(0.02))(inp)
    x = layers.Conv1D(2, 2, kernel_regularizer="l1_l2")(layers.Reshape((3, 2))(x))
    out = layers.Dense(2, kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.03))(
        layers.Flatten()(x))
    model = pynn.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_weight_penalties_in_loss_and_gradients():
    model = regularized_model()
    x, y = rand(4, 5), rand(4, 2, seed=1)
    check_model_gradients(model, x, y, loss_fn=lambda m, a, b: model_loss(m, a, b) + penalty(m),
                          atol=3e-3)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(model_loss(model, x, y) + penalty(model), rel=1e-5)
    assert regularizers.l2(0.5)(np.array([1.0, -2.0])) == pytest.approx(2.5)


def test_activity_regularizer():
    pynn.utils.set_random_seed(2)
    inp = pynn.Input(shape=(4,))
    h = layers.Dense(3, activation="relu", activity_regularizer=regularizers.l2(0.1))(inp)
    model = pynn.Model(inp, layers.Dense(1)(h))
    model.compile(optimizer="sgd", loss="mse")
    x, y = rand(6, 4), rand(6, 1, seed=1)
    feats = pynn.Model(inp, h)

    def loss(m, a, b):
        # Keras 3 divides an activity penalty by the batch size
        act = feats.predict(a, verbose=0).astype(np.float64)
        return model_loss(m, a, b) + 0.1 * (act * act).sum() / len(a)

    check_model_gradients(model, x, y, loss_fn=loss)
    # the step reports the loss of its forward pass, penalty included
    expected = loss(model, x, y)
    assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-4)


def test_constraints_hold_after_each_step():
    pynn.utils.set_random_seed(3)
    model = pynn.Sequential([
        pynn.Input(shape=(8,)),
        layers.Dense(16, kernel_constraint=constraints.max_norm(0.5),
                     bias_constraint=constraints.NonNeg()),
        layers.Dense(1, kernel_constraint="unit_norm")])
    model.compile(optimizer=pynn.optimizers.SGD(0.5), loss="mse")
    model.fit(rand(64, 8), rand(64, 1, seed=1) * 10, epochs=2, verbose=0)
    k0, b0 = model.layers[0].kernel.value, model.layers[0].bias.value
    assert np.linalg.norm(k0, axis=0).max() <= 0.5 + 1e-5
    assert b0.min() >= 0
    np.testing.assert_allclose(np.linalg.norm(model.layers[1].kernel.value, axis=0), 1,
                               rtol=1e-5)


def test_configs_round_trip(tmp_path):
    model = regularized_model()
    path = tmp_path / "r.pynn"
    model.save(path)
    again = pynn.models.load_model(path)
    assert again.get_config() == model.get_config()
    assert again.layers[1].kernel.regularizer.l2 == pytest.approx(0.01)
    with pytest.raises(ValueError, match="regularizer"):
        layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="l2 must be a finite number"):
        regularizers.l2(-1)
