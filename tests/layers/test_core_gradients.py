"""Layer and whole-model gradients against central finite differences (in
float64 through the model's own forward pass on float64-rounded weights)."""
import numpy as np
import pytest

import pynn
from pynn import layers
from gradcheck import check_model_gradients


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
    check_model_gradients(model, x, y)


def test_dropout_backward_uses_forward_mask():
    from pynn.models.node import CallContext
    layer = layers.Dropout(0.5)
    layer.build_for((None, 100))
    x = np.ones((4, 100), np.float32)
    ctx = CallContext()
    y = layer.forward(ctx, x, True)
    dx = layer.backward(ctx, np.ones_like(y))
    np.testing.assert_array_equal(dx, y)
    assert layer.forward(CallContext(), x, False) is x
