"""keras.io's example programs, ninth sweep (vision, recipes, generative,
text, time series), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn
from pynn import ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- forwardforward.py: ops.vectorized_map of a function returning a
# (sample, label) pair stacks each of the two, as TensorFlow and JAX do;
# XLA's dynamic_update_slice writes the label's pixel

def test_vectorized_map_stacks_each_output_of_a_tuple():
    x, y = rand(5, 4), np.arange(5)
    xs, ys = ops.vectorized_map(lambda d: (d[0] * 2.0, d[1] + 1), (x, y))
    np.testing.assert_allclose(np.asarray(xs), x * 2.0)
    np.testing.assert_array_equal(np.asarray(ys), y + 1)
    d = ops.vectorized_map(lambda r: {"s": ops.sum(r["a"]), "m": r["a"] * r["b"]},
                           {"a": x, "b": x})
    np.testing.assert_allclose(np.asarray(d["s"]), x.sum(1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d["m"]), x * x, rtol=1e-6)
    # one tensor in, one out: as before
    np.testing.assert_allclose(np.asarray(ops.vectorized_map(lambda r: r[::-1], x)),
                               x[:, ::-1])
    with pytest.raises(ValueError, match="different first axes"):
        ops.vectorized_map(lambda d: d[0], (x, np.arange(3)))


def test_vectorized_map_of_a_tuple_is_differentiated_on_a_tape():
    w = pynn.Variable(rand(4, 3))
    x = rand(6, 4)
    with pynn.GradientTape() as tape:
        a, b = ops.vectorized_map(lambda r: (ops.matmul(r[None], w)[0], ops.sum(r)), x)
        loss = ops.sum(a * a) + ops.sum(b)
    g = np.asarray(tape.gradient(loss, w))
    np.testing.assert_allclose(g, 2 * x.T @ (x @ np.asarray(w)), rtol=1e-4, atol=1e-5)


def test_xla_dynamic_update_slice_and_dynamic_slice_clamp_as_xla():
    from pynn.compiler.tf2xla.python import xla
    zeros = ops.zeros([10], dtype="float64")
    out = xla.dynamic_update_slice(zeros, ops.convert_to_tensor([0.5], "float64"),
                                   [np.int64(3)])
    expect = np.zeros(10)
    expect[3] = 0.5
    np.testing.assert_array_equal(np.asarray(out), expect)
    # a start past the end is clamped so that the block fits (XLA's rule)
    out = xla.dynamic_update_slice(np.zeros((3, 4), np.float32), np.ones((2, 2), np.float32),
                                   [5, -1])
    expect = np.zeros((3, 4), np.float32)
    expect[1:3, 0:2] = 1
    np.testing.assert_array_equal(np.asarray(out), expect)
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(xla.dynamic_slice(x, [2, 3], [2, 2])),
                                  x[1:3, 2:4])
    with pytest.raises(ValueError, match="same rank"):
        xla.dynamic_update_slice(np.zeros((3, 4)), np.ones(2), [0, 0])
    with pytest.raises(ValueError, match="does not fit"):
        xla.dynamic_slice(x, [0, 0], [4, 1])


class FFDense(pynn.layers.Layer):
    def __init__(self, units, loss_metric, num_epochs=3, **kwargs):
        super().__init__(**kwargs)
        self.dense = pynn.layers.Dense(units)
        self.relu = pynn.layers.ReLU()
        self.optimizer = pynn.optimizers.Adam(learning_rate=0.03)
        self.loss_metric = loss_metric
        self.threshold = 1.5
        self.num_epochs = num_epochs

    def call(self, x):
        x_norm = ops.norm(x, ord=2, axis=1, keepdims=True) + 1e-4
        return self.relu(self.dense(x / x_norm))

    def forward_forward(self, x_pos, x_neg):
        for _ in range(self.num_epochs):
            with pynn.GradientTape() as tape:
                g_pos = ops.mean(ops.power(self.call(x_pos), 2), 1)
                g_neg = ops.mean(ops.power(self.call(x_neg), 2), 1)
                loss = ops.log(1 + ops.exp(ops.concatenate(
                    [-g_pos + self.threshold, g_neg - self.threshold], 0)))
                mean_loss = ops.cast(ops.mean(loss), dtype="float32")
                self.loss_metric.update_state([mean_loss])
            gradients = tape.gradient(mean_loss, self.dense.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.dense.trainable_weights))
        return (ops.stop_gradient(self.call(x_pos)), ops.stop_gradient(self.call(x_neg)),
                self.loss_metric.result())


class FFNetwork(pynn.Model):
    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.loss_var = pynn.Variable(0.0, trainable=False, dtype="float32")
        self.loss_count = pynn.Variable(0.0, trainable=False, dtype="float32")
        self.layer_list = [pynn.Input(shape=(dims[0],))]
        for d in range(len(dims) - 1):
            self.layer_list += [FFDense(dims[d + 1], loss_metric=pynn.metrics.Mean())]

    @pynn.function(reduce_retracing=True)
    def overlay_y_on_x(self, data):
        from pynn.compiler.tf2xla.python import xla
        X_sample, y_sample = data
        max_sample = ops.cast(ops.amax(X_sample, axis=0, keepdims=True), dtype="float64")
        X_update = xla.dynamic_update_slice(ops.zeros([10], dtype="float64"), max_sample,
                                            [y_sample])
        return xla.dynamic_update_slice(X_sample, X_update, [0]), y_sample

    def train_step(self, data):
        x, y = data
        x = ops.reshape(x, [-1, ops.shape(x)[1] * ops.shape(x)[2]])
        x_pos, y = ops.vectorized_map(self.overlay_y_on_x, (x, y))
        x_neg, y = pynn.map_fn(self.overlay_y_on_x, (x, pynn.random.shuffle(y)))
        h_pos, h_neg = x_pos, x_neg
        for layer in self.layers:
            if isinstance(layer, FFDense):
                h_pos, h_neg, loss = layer.forward_forward(h_pos, h_neg)
                self.loss_var.assign_add(loss)
                self.loss_count.assign_add(1.0)
        return {"FinalLoss": ops.divide(self.loss_var, self.loss_count)}


def test_forward_forward_trains_and_logs_only_what_its_step_returns():
    pynn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((32, 6, 6))
    y = rng.integers(0, 10, 32)
    ds = pynn.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model = FFNetwork(dims=[36, 8, 8])
    model.compile(optimizer=pynn.optimizers.Adam(learning_rate=0.03), loss="mse")
    history = model.fit(ds, epochs=3, verbose=0)
    # the layers' Mean metrics are not logged: Keras logs what train_step returns
    assert set(history.history) == {"FinalLoss"}
    losses = history.history["FinalLoss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # the positive samples carry their label's pixel at the label's index
    xs, ys = model.overlay_y_on_x((x[0].reshape(-1), y[0]))
    row = np.asarray(xs)[:10]
    assert row.argmax() == y[0] and np.isclose(row.max(), x[0].max())
