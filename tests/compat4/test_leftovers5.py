"""Keras 3 surface details: a recurrent layer's ``cell``, the names of
operators on symbolic tensors, clone_model's clone_function."""
import os
import re

import numpy as np
import pytest

import pynn as keras
from pynn import layers

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras as real_keras
except Exception:  # missing, or a backend that cannot load here
    real_keras = None

needs_keras = pytest.mark.skipif(real_keras is None, reason="Keras 3 is not installed")


def _act_name(fn):
    return fn if isinstance(fn, str) else fn.__name__


@needs_keras
@pytest.mark.parametrize("kind, kwargs", [
    ("SimpleRNN", {"activation": "relu"}),
    ("LSTM", {"recurrent_activation": "hard_sigmoid", "unit_forget_bias": False}),
    ("GRU", {"reset_after": False}),
    ("GRU", {}),
])
def test_recurrent_cell_is_the_cell_object(kind, kwargs):
    ours = getattr(layers, kind)(4, name="rec", **kwargs)
    theirs = getattr(real_keras.layers, kind)(4, name="rec", **kwargs)
    assert type(ours.cell).__name__ == type(theirs.cell).__name__
    assert ours.cell is ours.cell
    assert ours.cell.units == theirs.cell.units == 4
    assert ours.cell.state_size == theirs.cell.state_size
    assert ours.cell.name == theirs.cell.name
    assert _act_name(ours.cell.activation) == _act_name(theirs.cell.activation)
    if kind != "SimpleRNN":
        assert _act_name(ours.cell.recurrent_activation) == \
            _act_name(theirs.cell.recurrent_activation)
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)
    ours(x)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    for attr in ("kernel", "recurrent_kernel", "bias"):
        ours_w, theirs_w = getattr(ours.cell, attr), getattr(theirs.cell, attr)
        assert ours_w is getattr(ours, attr)  # the layer's own weight
        np.testing.assert_array_equal(np.asarray(ours_w), np.asarray(theirs_w))
        assert ours_w.path == theirs_w.path
    assert [w.name for w in ours.cell.weights] == [w.name for w in theirs.cell.weights]
    # the cell steps as the layer does
    h = np.zeros((2, 4), np.float32)
    states = [h, h] if kind == "LSTM" else [h]
    out, _ = ours.cell(x[:, 0], states)
    want, _ = theirs.cell(x[:, 0], states)
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-5, atol=1e-6)


def test_recurrent_cell_follows_set_weights_and_saving(tmp_path):
    model = keras.Sequential([keras.Input((3, 2)), layers.LSTM(3, name="enc")])
    cell = model.layers[0].cell
    weights = [np.full(w.shape, 0.5, np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    np.testing.assert_array_equal(np.asarray(cell.kernel), 0.5)
    x = np.ones((1, 3, 2), np.float32)
    for ext in ("keras", "h5"):
        path = str(tmp_path / f"m.{ext}")
        model.save(path)
        back = keras.models.load_model(path)
        np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0))
        np.testing.assert_array_equal(np.asarray(back.layers[0].cell.recurrent_kernel), 0.5)
    assert len(model.weights) == 3


@needs_keras
def test_conv_lstm_cell():
    ours = layers.ConvLSTM2D(3, 2, padding="same", name="clstm")
    theirs = real_keras.layers.ConvLSTM2D(3, 2, padding="same", name="clstm")
    x = np.random.default_rng(1).normal(size=(2, 4, 5, 5, 2)).astype(np.float32)
    ours(x)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    assert ours.cell.name == theirs.cell.name
    for attr in ("filters", "kernel_size", "strides", "padding", "state_size", "rank"):
        assert getattr(ours.cell, attr) == getattr(theirs.cell, attr)
    for attr in ("kernel", "recurrent_kernel", "bias"):
        assert getattr(ours.cell, attr) is getattr(ours, attr)
        assert getattr(ours.cell, attr).path == getattr(theirs.cell, attr).path
    h = np.random.default_rng(2).normal(size=(2, 5, 5, 3)).astype(np.float32)
    out, (h2, c2) = ours.cell(x[:, 0], [h, h])
    want, (wh, wc) = theirs.cell(x[:, 0], [h, h])
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(c2), np.asarray(wc), rtol=1e-4, atol=1e-5)


_OPERATORS = {
    "t / 2": lambda t: t / 2, "2 / t": lambda t: 2 / t, "-t": lambda t: -t,
    "t ** 2": lambda t: t ** 2, "2 ** t": lambda t: 2 ** t, "t // 2": lambda t: t // 2,
    "7 // t": lambda t: 7 // t, "t % 2": lambda t: t % 2, "7 % t": lambda t: 7 % t,
    "abs(t)": abs, "t < 2": lambda t: t < 2, "t <= 2": lambda t: t <= 2,
    "t > 2": lambda t: t > 2, "t >= 2": lambda t: t >= 2, "t != 2": lambda t: t != 2,
    "t - 2": lambda t: t - 2, "t * 2": lambda t: t * 2, "t[:, 0]": lambda t: t[:, 0],
}


def _unnumbered(name):
    return re.sub(r"_\d+$", "", name)


@needs_keras
@pytest.mark.parametrize("expr", list(_OPERATORS))
def test_operator_names_are_keras_3s(expr):
    f = _OPERATORS[expr]
    ours, theirs = f(keras.Input((3,))), f(real_keras.Input((3,)))
    # (the names' numbers count what was built before)
    assert _unnumbered(ours._keras_history.operation.name) == \
        _unnumbered(theirs._keras_history.operation.name)
    x = np.array([[1.5, -2.0, 3.0]], np.float32)
    inp = keras.Input((3,))
    got = keras.Model(inp, f(inp)).predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(got, np.float64),
                               np.asarray(f(x), np.float64), rtol=1e-6)


@needs_keras
def test_clone_function_sees_what_keras_3_passes_it():
    """Keras 3's clone_model calls clone_function on each operation of the
    graph, the operations on tensors (t / 2, ops.abs) as well as layers;
    a clone_function that rebuilds each from its config clones them all."""
    def build(k):
        i = k.Input((3,))
        h = k.layers.Dense(3, name="d0")(i)
        return k.Model(i, k.layers.Dense(2, name="d1")(k.ops.abs(h / 2 + 1) - h))

    def passed(k, model):
        seen = []

        def clone(layer):
            seen.append(_unnumbered(layer.name))
            return layer.__class__.from_config(layer.get_config())
        return seen, k.models.clone_model(model, clone_function=clone)

    ours, theirs = build(keras), build(real_keras)
    seen, clone = passed(keras, ours)
    want, _ = passed(real_keras, theirs)
    assert seen == want
    clone.set_weights(ours.get_weights())
    x = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(clone.predict(x, verbose=0), ours.predict(x, verbose=0),
                               rtol=1e-6)
