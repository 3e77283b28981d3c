"""keras.io's example programs, sixth sweep (vision, text, time series,
generative, recipes), run with only their imports changed: the patterns
that broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- temporal_latent_bottleneck.py: a tf.keras cell whose state is a matrix
# (state_size = tf.TensorShape([chunk, dims])) over (batch, chunks, chunk, dims)

class MatrixCell(pynn.layers.Layer):
    """The new state mixes the step's rows into the old state's rows."""

    def __init__(self, rows, dims, **kwargs):
        super().__init__(**kwargs)
        self.state_size = pynn.TensorShape([rows, dims])
        self.output_size = pynn.TensorShape([rows, dims])
        self.mix = pynn.layers.Dense(dims)

    def call(self, inputs, states):
        new = pynn.tanh(self.mix(inputs) + states[0])
        return new * 2.0, [new]


def matrix_cell_reference(cell, x, mask=None):
    kernel, bias = (np.asarray(w) for w in cell.mix.weights)
    state = np.zeros(x.shape[:1] + x.shape[2:], np.float32)
    out, outs = np.zeros_like(state), []
    for t in range(x.shape[1]):
        new = np.tanh(x[:, t] @ kernel + bias + state)
        y = new * 2.0
        if mask is not None:
            keep = mask[:, t].reshape(-1, 1, 1)
            new, y = np.where(keep, new, state), np.where(keep, y, out)
        state, out = new, y
        outs.append(out)
    return np.stack(outs, 1), out, state


def test_a_cell_with_a_matrix_state_runs_over_rank_4_sequences():
    x = rand(3, 5, 2, 4)
    cell = MatrixCell(2, 4)
    rnn = pynn.layers.RNN(cell, return_sequences=True, return_state=True)
    inp = pynn.Input((5, 2, 4))
    seq, state = rnn(inp)
    assert tuple(seq.shape) == (None, 5, 2, 4) and tuple(state.shape) == (None, 2, 4)
    model = pynn.Model(inp, [seq, state])
    got_seq, got_state = model.predict(x, verbose=0)
    want_seq, _, want_state = matrix_cell_reference(cell, x)
    np.testing.assert_allclose(got_seq, want_seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_state, want_state, rtol=1e-5, atol=1e-6)

    # masked steps keep the state and repeat the last output
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    got_seq, got_state = rnn(x, mask=mask)
    want_seq, _, want_state = matrix_cell_reference(cell, x, mask)
    np.testing.assert_allclose(np.asarray(got_seq), want_seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_state), want_state, rtol=1e-5, atol=1e-6)


def test_a_matrix_state_cell_trains_inside_a_subclassed_model():
    class Net(pynn.Model):
        def __init__(self):
            super().__init__()
            self.rnn = pynn.layers.RNN(MatrixCell(2, 4))
            self.gap = pynn.layers.GlobalAveragePooling1D()
            self.head = pynn.layers.Dense(1)

        def call(self, x):
            return self.head(self.gap(self.rnn(x)))

    x = rand(32, 3, 2, 4)
    y = x[:, -1].sum(axis=(1, 2))[:, None] * 0.5
    pynn.utils.set_random_seed(1)
    net = Net()
    net.compile(optimizer=pynn.optimizers.Adam(0.02), loss="mse")
    assert tuple(net(x[:2]).shape) == (2, 1)
    hist = net.fit(x, y, epochs=30, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < 0.3 * hist[0]

    # an initial state of the wrong shape is refused, naming both shapes
    with pytest.raises(ValueError, match=r"\(None, 2, 4\)"):
        pynn.layers.RNN(MatrixCell(2, 4))(pynn.Input((3, 2, 4)),
                                         initial_state=[pynn.Input((3, 4))])
