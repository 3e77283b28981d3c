"""Custom regularizers (Hands-On ML ch. 12): a function of the weights and a
Regularizer subclass with __call__ and get_config.  Their penalty joins the
loss, its gradient (through pynn.autodiff) the weight's, checked against
finite differences; models holding them save and load by registered name."""
import os

import numpy as np
import pytest
from gradcheck import check_model_gradients, model_loss

import pynn
from pynn import backend as K
from pynn import layers, ops, regularizers
from pynn.utils import custom_object_scope, get_custom_objects


def my_l1(weights):
    return ops.sum(ops.abs(0.01 * weights))


def numpy_l2(weights):
    return 0.005 * np.sum(np.square(weights))


class MyL1Regularizer(regularizers.Regularizer):
    def __init__(self, factor):
        self.factor = factor

    def __call__(self, weights):
        return K.sum(K.abs(self.factor * weights))

    def get_config(self):
        return {"factor": self.factor}


class SmoothPenalty(regularizers.Regularizer):
    """A penalty whose gradient is not a sign or a multiple of w."""

    def __init__(self, factor=0.1):
        self.factor = factor

    def __call__(self, w):
        return self.factor * ops.sum(ops.log(1.0 + w * w))

    def get_config(self):
        return {"factor": self.factor}


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def model_with(kernel_reg, bias_reg=None, activity_reg=None):
    pynn.utils.set_random_seed(3)
    inp = pynn.Input((4,))
    h = layers.Dense(5, activation="tanh", kernel_regularizer=kernel_reg,
                     bias_regularizer=bias_reg, activity_regularizer=activity_reg)(inp)
    out = layers.Dense(2, kernel_regularizer=kernel_reg)(h)
    model = pynn.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    return model


def penalties(model):
    return sum(float(np.sum(w.regularizer(w.value.astype(np.float64)))) for w in model.weights
               if w.regularizer is not None)


@pytest.mark.parametrize("reg", [my_l1, numpy_l2, MyL1Regularizer(0.02), SmoothPenalty()],
                         ids=["function", "numpy_function", "subclass", "smooth"])
def test_custom_weight_penalty_loss_and_gradient(reg):
    model = model_with(reg, bias_reg=reg)
    x, y = rand(6, 4), rand(6, 2, seed=1)
    check_model_gradients(model, x, y,
                          loss_fn=lambda m, a, b: model_loss(m, a, b) + penalties(m),
                          atol=3e-3)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(model_loss(model, x, y) + penalties(model), rel=1e-5)


def test_function_penalty_value_and_gradient_exactly():
    w = rand(3, 4)
    assert regularizers.get(my_l1) is my_l1                 # as Keras's get
    reg = regularizers.to_regularizer(my_l1)                # what a weight computes with
    grad = np.zeros_like(w)
    value = reg.penalty(w, grad=grad)
    assert value == pytest.approx(0.01 * np.abs(w.astype(np.float64)).sum(), rel=1e-6)
    np.testing.assert_allclose(grad, 0.01 * np.sign(w), rtol=1e-6)
    # a scale (activity penalties are divided by the batch) scales both
    grad2 = np.ones_like(w)
    assert reg.penalty(w, grad=grad2, scale=0.5) == pytest.approx(value / 2, rel=1e-6)
    np.testing.assert_allclose(grad2, 1 + 0.005 * np.sign(w), rtol=1e-6)


def test_custom_activity_regularizer_gradient():
    model = model_with(None, activity_reg=SmoothPenalty(0.3))
    inp = model.inputs[0]
    feats = pynn.Model(inp, model.layers[1].output)
    x, y = rand(5, 4), rand(5, 2, seed=1)

    def loss(m, a, b):
        act = feats.predict(a, verbose=0).astype(np.float64)
        return model_loss(m, a, b) + 0.3 * np.log1p(act * act).sum() / len(a)
    check_model_gradients(model, x, y, loss_fn=loss, atol=3e-3)


def test_training_shrinks_weights_under_the_penalty():
    x, y = rand(32, 4), np.zeros((32, 2), np.float32)
    model = model_with(MyL1Regularizer(0.05))
    before = np.abs(model.layers[1].kernel.value).sum()
    model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert np.abs(model.layers[1].kernel.value).sum() < before


def test_save_and_load_by_registered_name(tmp_path):
    model = model_with(MyL1Regularizer(0.02), bias_reg=my_l1)
    spec = regularizers.serialize(model.layers[1].kernel_regularizer)
    assert spec["class_name"] == "MyL1Regularizer" and spec["config"] == {"factor": 0.02}
    assert regularizers.serialize(model.layers[1].bias_regularizer)["config"] == "my_l1"
    path = tmp_path / "m.pynn"
    model.save(path)
    with pytest.raises(ValueError, match="MyL1Regularizer"):
        pynn.models.load_model(path)
    loaded = pynn.models.load_model(path, custom_objects={"MyL1Regularizer": MyL1Regularizer,
                                                           "my_l1": my_l1})
    reg = loaded.layers[1].kernel_regularizer
    assert isinstance(reg, MyL1Regularizer) and reg.factor == 0.02
    assert loaded.layers[1].bias_regularizer is my_l1   # the function, as Keras
    x, y = rand(3, 4), rand(3, 2, seed=1)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0),
                                                             rel=1e-6)
    with custom_object_scope({"MyL1Regularizer": MyL1Regularizer, "my_l1": my_l1}):
        again = pynn.models.load_model(path)
    assert isinstance(again.layers[1].kernel_regularizer, MyL1Regularizer)


def test_get_by_registered_name():
    get_custom_objects()["my_l1_for_test"] = my_l1
    try:
        assert regularizers.get("my_l1_for_test") is my_l1
    finally:
        del get_custom_objects()["my_l1_for_test"]


def test_bad_regularizers():
    with pytest.raises(ValueError, match="Unknown regularizer"):
        regularizers.get(42)
    with pytest.raises(ValueError, match="Unknown regularizer 'Nope'"):
        regularizers.get({"class_name": "Nope", "config": {}})

    def text(w):
        return "big"
    with pytest.raises(TypeError):
        regularizers.to_regularizer(text).penalty(rand(2, 2),
                                                  grad=np.zeros((2, 2), np.float32))


def test_keras_file_round_trip_and_keras_reads_it(tmp_path):
    model = model_with(MyL1Regularizer(0.02), bias_reg=my_l1)
    path = tmp_path / "m.keras"
    model.save(path)
    custom = {"MyL1Regularizer": MyL1Regularizer, "my_l1": my_l1}
    loaded = pynn.models.load_model(path, custom_objects=custom)
    assert loaded.layers[1].kernel_regularizer.factor == 0.02
    assert loaded.layers[1].bias_regularizer is my_l1   # the function, as Keras
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    keras = pytest.importorskip("keras")

    class KerasL1(keras.regularizers.Regularizer):
        def __init__(self, factor):
            self.factor = factor

        def __call__(self, w):
            return keras.ops.sum(keras.ops.abs(self.factor * w))

        def get_config(self):
            return {"factor": self.factor}

    def keras_l1(w):
        return keras.ops.sum(keras.ops.abs(0.01 * w))
    theirs = keras.models.load_model(path, custom_objects={"MyL1Regularizer": KerasL1,
                                                           "my_l1": keras_l1})
    dense = [layer for layer in theirs.layers if hasattr(layer, "kernel_regularizer")][0]
    assert isinstance(dense.kernel_regularizer, KerasL1)
    assert dense.kernel_regularizer.factor == 0.02
    assert dense.bias_regularizer is keras_l1
