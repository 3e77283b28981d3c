"""Layer and whole-model gradients against central finite differences (in
float64 through the model's own forward pass on float64-rounded weights)."""
import numpy as np
import pytest

import pynn
from pynn import layers


def model_loss(model, x, y):
    out = model._forward(x, False)
    return float(model.loss.compute(y, out, None, x.shape[0], None, False).sum()) / x.shape[0]


def analytic(model, x, y):
    params, grads = model._flat_parameters()
    fused, act = model._fusion()
    model._set_emit_logits(act is not None)
    out = model._forward(x, True)
    g = np.empty(out.shape, np.float32)
    model.loss.compute(y, out, None, x.shape[0], g, fused)
    model._backward(g)
    model._set_emit_logits(False)
    return params, grads.copy()


@pytest.mark.parametrize("activation", ["linear", "relu", "elu", "sigmoid", "tanh", "softplus",
                                        "swish", "leaky_relu", "hard_swish"])
@pytest.mark.parametrize("loss", ["mse", "categorical_crossentropy"])
def test_dense_stack_gradients(activation, loss):
    pynn.utils.set_random_seed(3)
    g = np.random.default_rng(3)
    x = g.standard_normal((5, 6)).astype(np.float32)
    last = "softmax" if loss == "categorical_crossentropy" else "linear"
    y = np.eye(4, dtype=np.float32)[g.integers(0, 4, 5)] if last == "softmax" else \
        g.standard_normal((5, 4)).astype(np.float32)
    model = pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(7, activation=activation),
                             layers.Reshape((7, 1)), layers.Flatten(),
                             layers.Activation(activation), layers.Dense(4, activation=last)])
    model.compile(optimizer="sgd", loss=loss)
    params, grads = analytic(model, x, y)
    h = 1e-3
    want = np.empty(params.size)
    for i in range(params.size):
        old = params[i]
        params[i] = old + h
        up = model_loss(model, x, y)
        params[i] = old - h
        down = model_loss(model, x, y)
        params[i] = old
        want[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grads, want, rtol=5e-2, atol=2e-3)


def test_dropout_backward_uses_forward_mask():
    layer = layers.Dropout(0.5)
    layer.build_for((None, 100))
    x = np.ones((4, 100), np.float32)
    y = layer.call(x, training=True)
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx, y)
    assert layer.call(x, training=False) is x
