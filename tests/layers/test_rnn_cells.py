"""keras.layers.RNN over cells: the built-in cells (run by the recurrent
kernels), StackedRNNCells and a custom cell (run step by step in Python),
against Keras 3 (its NumPy backend, a test-only reference) with Keras's
weights, and their gradients against finite differences."""

import numpy as np
import pytest
from gradcheck import check_model_gradients

import pynn
from pynn import layers, ops

from keras_reference import keras, needs_keras as needs_keras_mark, reason  # noqa: E402
needs_keras = [needs_keras_mark, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

STEPS, VOCAB = 6, 20


def ids(seed=0):
    g = np.random.default_rng(seed)
    x = g.integers(1, VOCAB, (5, STEPS))
    x[0, 3:] = 0
    x[1, :2] = 0
    x[3, 1::3] = 0
    return x


def seq(seed=0, shape=(4, STEPS, 3)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


class MinimalRNNCell(layers.Layer):
    """The cell of Keras's RNN guide."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                initializer="uniform", name="recurrent_kernel")
        self.built = True

    def call(self, inputs, states):
        prev_output = states[0]
        h = ops.matmul(inputs, self.kernel)
        output = h + ops.matmul(prev_output, self.recurrent_kernel)
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def keras_minimal_cell():
    class KerasMinimalRNNCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            output = keras.ops.matmul(inputs, self.kernel) + \
                keras.ops.matmul(states[0], self.recurrent_kernel)
            return output, [output]
    return KerasMinimalRNNCell


CELLS = [("LSTMCell", {}), ("GRUCell", {}), ("GRUCell", {"reset_after": False}),
         ("SimpleRNNCell", {})]
CELL_IDS = ["LSTM", "GRU", "GRU_reset_before", "SimpleRNN"]


def twin(make):
    k_in = keras.Input((STEPS,), dtype="int32")
    km = keras.Model(k_in, make(keras.layers, k_in))
    p_in = pynn.Input((STEPS,), dtype="int32")
    pm = pynn.Model(p_in, make(layers, p_in))
    assert pm.count_params() == km.count_params()
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    return km, pm


def flat(values):
    if isinstance(values, (list, tuple)):
        return [v for item in values for v in flat(item)]
    return [values]


def assert_same_outputs(km, pm, x):
    """(Keras returns a stack's states nested per cell; pynn returns them
    flat, in the same order.)"""
    kout, pout = flat(km.predict(x, verbose=0)), flat(pm.predict(x, verbose=0))
    assert len(kout) == len(pout)
    for a, b in zip(kout, pout):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, extra", CELLS, ids=CELL_IDS)
def test_rnn_over_builtin_cells_matches_keras(kind, extra):
    if keras is None:
        pytest.skip(reason)

    def make(L, inp):
        plain = L.Embedding(VOCAB, 3)(inp)
        masked = L.Embedding(VOCAB, 3, mask_zero=True)(inp)
        outs = []
        for x in (plain, masked):
            for rs in (False, True):
                for st in (False, True):
                    for gb in (False, True):
                        y = L.RNN(getattr(L, kind)(4, **extra), return_sequences=rs,
                                  return_state=st, go_backwards=gb)(x)
                        outs += list(y) if st else [y]
        return outs
    km, pm = twin(make)
    assert_same_outputs(km, pm, ids(1))


@pytest.mark.parametrize("stacked", [False, True], ids=["custom", "stacked"])
def test_rnn_step_by_step_matches_keras(stacked):
    """A custom cell, and StackedRNNCells (of built-in and custom cells), run
    in Python, masks included."""
    if keras is None:
        pytest.skip(reason)

    def make(L, inp):
        minimal = MinimalRNNCell if L is layers else keras_minimal_cell()
        outs = []
        for mask_zero in (False, True):
            x = L.Embedding(VOCAB, 3, mask_zero=mask_zero)(inp)
            for rs, st, gb in ((False, False, False), (True, True, True), (True, False, False)):
                cell = [L.LSTMCell(4), minimal(3), L.GRUCell(2)] if stacked else minimal(4)
                y = L.RNN(cell, return_sequences=rs, return_state=st, go_backwards=gb)(x)
                outs += flat(y) if st else [y]
        return outs
    km, pm = twin(make)
    assert_same_outputs(km, pm, ids(2))


@pytest.mark.parametrize("kind, extra", CELLS, ids=CELL_IDS)
def test_cell_step_matches_the_layer(kind, extra):
    """A cell called by itself computes one step of the layer it belongs to."""
    cell = getattr(layers, kind)(5, **extra)
    x = seq(3, (4, 1, 3))
    rnn = layers.RNN(cell, return_state=True)
    y, *states = rnn(x)
    zeros = [np.zeros((4, 5), np.float32) for _ in states]
    y1, states1 = cell(x[:, 0, :], zeros)
    np.testing.assert_allclose(y1, y, rtol=1e-5, atol=1e-6)
    for a, b in zip(states1, states):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_weights_names_and_config():
    rnn = layers.RNN(layers.LSTMCell(4, name="lstm_cell"), return_sequences=True, name="rnn")
    model = pynn.Sequential([pynn.Input((STEPS, 3)), rnn])
    assert [w.name for w in rnn.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.path.split("/", 1)[1] for w in rnn.weights] == ["rnn/lstm_cell/kernel",
                                              "rnn/lstm_cell/recurrent_kernel",
                                              "rnn/lstm_cell/bias"]
    assert [w.shape for w in rnn.weights] == [(3, 16), (4, 16), (16,)]
    # the forget gate's bias starts at 1 (unit_forget_bias)
    np.testing.assert_array_equal(rnn.cell.bias.value[4:8], 1.0)
    config = rnn.get_config()
    assert config["cell"]["class_name"] == "LSTMCell"
    assert config["cell"]["config"]["units"] == 4
    again = layers.RNN.from_config(config)
    clone = pynn.Sequential([pynn.Input((STEPS, 3)), again])
    clone.set_weights(model.get_weights())
    x = seq(4, (2, STEPS, 3))
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_save_and_load_with_a_custom_cell(tmp_path):
    model = pynn.Sequential([pynn.Input((STEPS, 3)),
                             layers.RNN([MinimalRNNCell(4), layers.GRUCell(2)]),
                             layers.Dense(1)])
    path = tmp_path / "m.pynn"
    model.save(path)
    loaded = pynn.models.load_model(path, custom_objects={"MinimalRNNCell": MinimalRNNCell})
    x = seq(5, (3, STEPS, 3))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


@pytest.mark.parametrize("make_cell", [
    lambda: layers.LSTMCell(3), lambda: layers.GRUCell(3), lambda: MinimalRNNCell(3),
    lambda: [layers.SimpleRNNCell(3), layers.LSTMCell(2)],
    lambda: [layers.GRUCell(2, reset_after=False), MinimalRNNCell(2)]],
    ids=["lstm", "gru", "custom", "stacked", "stacked_custom"])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_gradients(make_cell, masked):
    pynn.utils.set_random_seed(7)
    inp = pynn.Input((5,), dtype="int32")
    x = layers.Embedding(8, 3, mask_zero=masked)(inp)
    y = layers.RNN(make_cell(), return_sequences=True, go_backwards=True)(x)
    out = layers.Dense(1)(layers.Flatten()(y) if not masked else
                          layers.RNN(layers.SimpleRNNCell(2))(y))
    model = pynn.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    g = np.random.default_rng(0)
    xs = g.integers(1, 8, (3, 5))
    xs[0, 3:] = 0
    ys = g.normal(size=(3, 1)).astype(np.float32)
    check_model_gradients(model, xs, ys)


def test_rnn_trains():
    pynn.utils.set_random_seed(1)
    x = seq(6, (32, STEPS, 3))
    y = x.sum(axis=(1, 2))[:, None] * 0.1
    model = pynn.Sequential([pynn.Input((STEPS, 3)), layers.RNN(MinimalRNNCell(8)),
                             layers.Dense(1)])
    model.compile(optimizer=pynn.optimizers.Adam(0.01), loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * first


def test_bad_arguments():
    with pytest.raises(ValueError, match="stateful=True is not supported"):
        layers.RNN(layers.LSTMCell(2), stateful=True)
    with pytest.raises(ValueError, match="state_size"):
        layers.RNN(layers.Dense(2))
    rnn = layers.RNN(layers.LSTMCell(2))
    with pytest.raises(ValueError, match="initial_state must hold 2 state"):
        rnn(pynn.Input((STEPS, 3)), initial_state=[pynn.Input((2,))])
    stacked = layers.RNN([layers.LSTMCell(2, dropout=0.5), MinimalRNNCell(2)])
    with pytest.raises(ValueError, match="dropout"):
        stacked(seq(0), training=True)
