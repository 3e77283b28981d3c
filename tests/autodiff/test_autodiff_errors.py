"""What the tape cannot differentiate is refused with an error naming the
operation and the layer, never trained with a wrong gradient."""
import numpy as np
import pytest

import pynn
from pynn import backend as K
from pynn import layers, ops
from pynn.autodiff import Tape


def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def fit_with_lambda(fn, name="odd"):
    model = pynn.Sequential([pynn.Input(shape=(4,)), layers.Dense(4),
                             layers.Lambda(fn, output_shape=(4,), name=name), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(rand(3, 4), rand(3, 1), verbose=0)


@pytest.mark.parametrize("fn, op", [
    (lambda x: np.fft.fft(x).real, "numpy.fft.fft"),
    (lambda x: np.asarray(x) * 2, "Converting a traced array to a NumPy array"),
    (lambda x: np.cbrt(x), "numpy.cbrt"),
    (lambda x: np.add.reduce(x, axis=0) + x, "numpy.add.reduce"),
    (lambda x: ops.conv1d(x[:, :, None], np.ones((1, 1, 1), np.float32))[:, :, 0],
     "pynn.ops.conv1d"),
    (lambda x: ops.add(x, x, out=np.empty((3, 4), np.float32)), r"pynn.ops.add\(out=...\)"),
    (lambda x: np.exp(x, out=np.empty((3, 4), np.float32)), r"numpy.exp\(out=...\)"),
    (lambda x: x + ops.norm(x, ord="nuc", axis=(0, 1)),
     "matrix norm"),
])
def test_unsupported_operations_name_the_op_and_the_layer(fn, op):
    with pytest.raises((TypeError, ValueError), match=op) as info:
        fit_with_lambda(fn)
    if "norm" not in op:
        assert "'odd' (Lambda)" in str(info.value)


def test_item_assignment_and_traced_indices_are_refused():
    tape = Tape("layer 'x' (Mine)")
    t = tape.input(rand(3, 4))
    with pytest.raises(TypeError, match="item assignment.*layer 'x' \\(Mine\\)"):
        t[0, 0] = 1.0
    with pytest.raises(TypeError, match="Indexing with a traced array"):
        t[tape.input(np.zeros(2, np.float32))]


def test_values_of_two_calls_do_not_mix():
    a, b = Tape("layer 'a' (A)"), Tape("layer 'b' (B)")
    with pytest.raises(ValueError, match="cannot be used in another"):
        a.input(rand(2)) + b.input(rand(2))


def test_weight_converted_to_numpy_inside_a_training_call():
    class Leaky(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2))

        def call(self, x):
            return x @ np.asarray(self.w)   # the weight's gradient would be lost

    model = pynn.Sequential([pynn.Input(shape=(3,)), Leaky(name="leaky"), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.predict(rand(2, 3), verbose=0)   # inference: a constant is fine
    with pytest.raises(TypeError, match=r"weight '(sequential\w*/)?leaky/variable(_\d+)?'"
                                        r".*'leaky' \(Leaky\)"):
        model.fit(rand(2, 3), rand(2, 1), verbose=0)


def test_add_loss_outside_a_call():
    layer = layers.Dense(2)
    with pytest.raises(ValueError, match="add_loss\\(\\) works inside the layer's call"):
        layer.add_loss(1.0)


def test_shape_inference_failure_names_the_layer():
    def needs_two_inputs(xs):
        a, b = xs
        return a + b

    with pytest.raises(ValueError, match=r"'pair' \(Lambda\): cannot infer the output shape"
                                         r".*output_shape="):
        layers.Lambda(needs_two_inputs, name="pair")(pynn.Input(shape=(3,)))


def test_bad_custom_activation_and_loss_results():
    model = pynn.Sequential([pynn.Input(shape=(3,)),
                             layers.Dense(4, activation=lambda x: K.sum(x, axis=1))])
    with pytest.raises(ValueError, match=r"returned shape \(2,\).*keeps the shape"):
        model.predict(rand(2, 3), verbose=0)

    def per_feature(y_true, y_pred):
        return K.mean(y_pred - y_true, axis=0)

    model = pynn.Sequential([pynn.Input(shape=(3,)), layers.Dense(4)])
    model.compile("sgd", per_feature)
    with pytest.raises(ValueError, match=r"loss 'per_feature' returned values of shape \(4,\)"):
        model.fit(rand(5, 3), rand(5, 4), verbose=0)


def test_unknown_loss_and_metric_names_still_fail():
    model = pynn.Sequential([pynn.Input(shape=(3,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="Unknown loss 'msee'"):
        model.compile("sgd", "msee")
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'"):
        model.compile("sgd", "mse", metrics=["acuracy"])


def test_layer_with_its_own_backward_is_not_traced():
    class Doubler(layers.Layer):
        def call(self, x):
            return x * 2

        def backward(self, ctx, dy, need_input_grad=True):
            return dy * 2

    assert not Doubler._traces_call
    model = pynn.Sequential([pynn.Input(shape=(2,)), layers.Dense(2), Doubler()])
    model.compile("sgd", "mse")
    model.fit(rand(3, 2), rand(3, 2), verbose=0)
