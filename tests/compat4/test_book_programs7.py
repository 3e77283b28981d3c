"""Patterns from more textbooks' Keras / tf.keras 2 programs (run with only
their imports changed) that broke in pynn, reproduced in a few lines each,
against Keras 3 on its NumPy backend where it runs the same thing and
against TensorFlow's documented results otherwise."""
import numpy as np
import pytest

import pynn
import pynn as tf
from pynn import layers
from keras_reference import keras as real_keras, needs_keras


# ------------------------------------------------- tf.Variable and friends

def test_variable_comparisons_give_boolean_tensors():
    """``tf.where(z > 30., z, ...)`` on a Variable: its ordering operators
    compare its value (== stays identity, a variable is a dict key)."""
    v = tf.Variable([1000.0, 3.0])
    np.testing.assert_array_equal(np.asarray(v > 30.0), [True, False])
    np.testing.assert_array_equal(np.asarray(v <= 3.0), [False, True])
    np.testing.assert_array_equal(np.asarray(30.0 < v), [True, False])
    np.testing.assert_array_equal(np.asarray(v >= tf.constant([1000.0, 4.0])), [True, False])
    x = tf.Variable([1000.0])
    with tf.GradientTape() as tape:
        z = tf.where(x > 30.0, x, tf.math.log(tf.exp(x) + 1.0))
    assert float(z[0]) == 1000.0
    # (TensorFlow's result too: the branch not taken overflows, 0 * inf)
    assert np.isnan(np.asarray(tape.gradient(z, [x])[0])).all()
    assert {v: 1}[v] == 1


def test_assigning_into_a_slice_of_a_variable():
    """``v[0, 1].assign(42)`` and ``v[:, 2].assign([0., 1.])`` write into
    the variable, as a sliced tf.Variable does; a slice read is a copy."""
    v = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert v[0, 1].assign(42) is v
    v[:, 2].assign([0.0, 1.0])
    np.testing.assert_array_equal(v.numpy(), [[1, 42, 0], [4, 5, 1]])
    row = v[0]
    v.assign(tf.zeros((2, 3)))
    np.testing.assert_array_equal(np.asarray(row), [1, 42, 0])
    with pytest.raises(ValueError):
        v[0].assign([1.0, 2.0])  # (three values are needed)


def test_scatter_updates_of_a_variable():
    v = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    v.scatter_nd_update(indices=[[0, 0], [1, 2]], updates=[100.0, 200.0])
    np.testing.assert_array_equal(v.numpy(), [[100, 2, 3], [4, 5, 200]])
    out = v.scatter_update(tf.IndexedSlices(values=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
                                            indices=[1, 0]))
    assert out is v
    np.testing.assert_array_equal(v.numpy(), [[4, 5, 6], [1, 2, 3]])
    with pytest.raises(ValueError, match="IndexedSlices"):
        tf.IndexedSlices(values=[[1.0, 2.0]], indices=[0, 1])


# ------------------------------------------- sparse, ragged, sets

def test_sparse_tensor_scaled_by_a_number_or_a_dense_tensor():
    s = tf.SparseTensor(indices=[[0, 1], [1, 0], [2, 3]], values=[1.0, 2.0, 3.0],
                        dense_shape=[3, 4])
    for got in (s * 2.0, 2.0 * s):
        assert isinstance(got, tf.SparseTensor)
        np.testing.assert_array_equal(np.asarray(got.values), [2, 4, 6])
        np.testing.assert_array_equal(np.asarray(got.indices), np.asarray(s.indices))
    dense = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    np.testing.assert_allclose(np.asarray(tf.sparse.to_dense(s / dense)),
                               np.asarray(tf.sparse.to_dense(s)) / dense)
    np.testing.assert_array_equal(np.asarray((-s).values), [-1, -2, -3])
    with pytest.raises(TypeError):
        s + 1.0  # (TensorFlow has no such operator either)


def test_concat_of_ragged_tensors():
    r = tf.ragged.constant([[67, 97], [67, 111, 102], [99]])
    r2 = tf.ragged.constant([[65, 66], []])
    assert tf.concat([r, r2], axis=0).to_list() == [[67, 97], [67, 111, 102], [99],
                                                     [65, 66], []]
    r3 = tf.ragged.constant([[68, 69, 70], [71], []])
    assert tf.concat([r, r3], axis=1).to_list() == [[67, 97, 68, 69, 70],
                                                     [67, 111, 102, 71], [99]]
    with pytest.raises(ValueError, match="same number of rows"):
        tf.concat([r, r2], axis=1)


def test_set_operations_on_rows():
    """tf.sets: each row a set; sparse results in ascending order
    (TensorFlow's own examples' values)."""
    a = tf.constant([[2, 3, 5, 7], [7, 9, 0, 0]])
    b = tf.constant([[4, 5, 6], [9, 10, 0]])
    np.testing.assert_array_equal(np.asarray(tf.sparse.to_dense(tf.sets.union(a, b))),
                                  [[2, 3, 4, 5, 6, 7], [0, 7, 9, 10, 0, 0]])
    np.testing.assert_array_equal(np.asarray(tf.sparse.to_dense(tf.sets.difference(a, b))),
                                  [[2, 3, 7], [7, 0, 0]])
    np.testing.assert_array_equal(
        np.asarray(tf.sparse.to_dense(tf.sets.difference(a, b, aminusb=False))),
        [[4, 6], [10, 0]])
    np.testing.assert_array_equal(np.asarray(tf.sparse.to_dense(tf.sets.intersection(a, b))),
                                  [[5, 0], [0, 9]])
    np.testing.assert_array_equal(np.asarray(tf.sets.size(a)), [4, 3])
    with pytest.raises(ValueError, match="leading shapes"):
        tf.sets.union(a, tf.constant([[1, 2]]))


# ------------------------------------------------ tf.keras 2 layers and models

def test_custom_layer_shapes_have_tensorshape_methods():
    """tf.keras 2 gives a custom layer's build and compute_output_shape a
    TensorShape: ``batch_input_shape.as_list()[:-1] + [units]``."""
    seen = {}

    class MyDense(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, batch_input_shape):
            seen["build"] = batch_input_shape.as_list()
            self.kernel = self.add_weight(name="kernel", shape=[batch_input_shape[-1],
                                                                 self.units])
            super().build(batch_input_shape)

        def call(self, x):
            return x @ self.kernel

        def compute_output_shape(self, batch_input_shape):
            return tf.TensorShape(batch_input_shape.as_list()[:-1] + [self.units])

    model = pynn.Sequential([MyDense(3, input_shape=[5]), MyDense(1)])
    assert seen["build"] == [None, 3]
    assert model.output_shape == (None, 1)
    assert model.predict(np.ones((2, 5), np.float32), verbose=0).shape == (2, 1)


def test_dynamic_argument_of_tf_keras_2():
    """``MyModel(dynamic=True)`` (run eagerly, never traced): pynn's calls
    always run so; the flag is kept as tf.keras's ``layer.dynamic``."""
    class MyModel(pynn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(x)

    model = MyModel(dynamic=True)
    assert model.dynamic and not layers.Dense(2).dynamic
    model.compile(loss="mse", optimizer="sgd")
    model.fit(np.ones((8, 3), np.float32), np.ones((8, 1), np.float32), verbose=0)


def test_add_metric_of_a_metric_result_reports_the_metric():
    """tf.keras 2's ``self.add_metric(self.mean(loss))`` inside call():
    logged under the metric's name, as the metric's result over the epoch
    (the mean of every batch's value), the metric reset each epoch."""
    class Reconstructing(pynn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(1)
            self.reconstruct = layers.Dense(4)
            self.recon_mean = pynn.metrics.Mean(name="reconstruction_error")
            self.batch_values = []

        def call(self, x, training=None):
            z = self.hidden(x)
            recon = tf.reduce_mean(tf.square(self.reconstruct(z) - x))
            self.add_loss(0.05 * recon)
            if training:
                self.batch_values.append(float(pynn.ops.convert_to_numpy(recon)))
                self.add_metric(self.recon_mean(recon))
            return self.out(z)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    model = Reconstructing()
    model.compile(loss="mse", optimizer="sgd")
    history = model.fit(x, x.sum(1, keepdims=True), epochs=2, batch_size=16, verbose=0)
    got = history.history["reconstruction_error"]
    assert len(got) == 2
    for epoch in range(2):
        want = np.mean(model.batch_values[4 * epoch:4 * epoch + 4])
        assert got[epoch] == pytest.approx(want, rel=1e-5)


def test_history_reads_keras_2_names_of_its_keys():
    """Keras 2 programs plot ``history.history["lr"]`` after a schedule
    callback and, Keras 2.0's, ``history.history["acc"]`` for
    metrics=["accuracy"]; Keras 3 logs "learning_rate" and "accuracy" (the
    keys listed)."""
    model = pynn.Sequential([pynn.Input((2,)), layers.Dense(1)])
    model.compile(loss="mse", optimizer=pynn.optimizers.SGD(0.1))
    history = model.fit(np.ones((8, 2), np.float32), np.ones((8, 1), np.float32), epochs=3,
                        verbose=0, callbacks=[pynn.callbacks.LearningRateScheduler(
                            lambda epoch: 0.1 * 0.5 ** epoch)])
    assert "lr" not in history.history
    np.testing.assert_allclose(history.history["lr"], [0.1, 0.05, 0.025], rtol=1e-6)
    assert history.history["lr"] == history.history["learning_rate"]
    with pytest.raises(KeyError):
        history.history["val_lr"]
    model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
    x, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
    history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y))
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["acc"] == history.history["accuracy"]
    assert history.history["val_acc"] == history.history["val_accuracy"]
    with pytest.raises(KeyError):
        history.history["lr"]  # (no schedule: no learning rates logged)
    model.compile(loss="mse", optimizer="sgd", metrics=["mae"])
    history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y))
    assert history.history["val_mean_absolute_error"] == history.history["val_mae"]
    assert history.history["mean_absolute_error"] == history.history["mae"]
    with pytest.raises(KeyError):
        history.history["mean_squared_error"]  # (the loss is "loss")


@needs_keras
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_keras_2_backend_pool2d(mode, padding):
    """``K.pool2d(x, (n, n), strides=(1, 1), padding="same", pool_mode="avg")``
    in a local response normalization layer: Keras 2's backend pooling."""
    x = np.random.default_rng(0).normal(size=(2, 6, 5, 3)).astype(np.float32)
    want = (real_keras.ops.max_pool if mode == "max" else real_keras.ops.average_pool)(
        x, (2, 2), (1, 1), padding)
    got = pynn.backend.pool2d(x, (2, 2), strides=(1, 1), padding=padding, pool_mode=mode)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="pool_mode"):
        pynn.backend.pool2d(x, (2, 2), pool_mode="sum")


@needs_keras
def test_custom_cell_layer_keeps_its_states_a_list():
    """A custom layer called as ``cell(x, [h])`` (a layer-normalized RNN
    cell looped over the steps by a custom RNN layer): the list of states
    stays a list of (batch, units) arrays going in and coming out, as in
    Keras, not one (1, batch, units) array stacked from it."""
    def cell_class(lib):
        class LNCell(lib.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.state_size = units
                self.rnn = lib.layers.SimpleRNNCell(units, activation=None)
                self.norm = lib.layers.LayerNormalization()

            def call(self, inputs, states):
                out, _ = self.rnn(inputs, states)
                out = lib.ops.tanh(self.norm(out))
                return out, [out]
        return LNCell

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 2)).astype(np.float32)
    weights = [rng.normal(size=s).astype(np.float32) * 0.5
               for s in [(2, 5), (5, 5), (5,), (5,), (5,)]]
    results = []
    for lib in (pynn, real_keras):
        cell = cell_class(lib)(5)
        states = [np.zeros((3, 5), np.float32)]
        outs = []
        for step in range(4):
            out, states = cell(x[:, step], states)
            if not outs:
                cell.set_weights(weights)
                out, states = cell(x[:, step], [np.zeros((3, 5), np.float32)])
            assert isinstance(states, list) and len(states) == 1
            assert tuple(states[0].shape) == (3, 5) and tuple(out.shape) == (3, 5)
            outs.append(np.asarray(out))
        results.append(np.stack(outs, 1))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)

    # looped in a custom RNN layer inside a model: its output shape keeps the
    # unknown number of steps, and it trains
    LNCell = cell_class(pynn)

    class LoopRNN(layers.Layer):
        def __init__(self, cell, **kwargs):
            super().__init__(**kwargs)
            self.cell = cell

        def call(self, inputs):
            states = [tf.zeros([tf.shape(inputs)[0], self.cell.state_size])]
            outputs = []
            for step in range(inputs.shape[1]):
                out, states = self.cell(inputs[:, step], states)
                outputs.append(out)
            return tf.stack(outputs, axis=1)

    model = pynn.Sequential([LoopRNN(LNCell(6), input_shape=[None, 2]), layers.Dense(1)])
    assert model.output_shape == (None, None, 1)
    model.compile(loss="mse", optimizer=pynn.optimizers.Adam(0.01))
    y = np.cumsum(x[..., :1], axis=1)
    history = model.fit(x, y, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@needs_keras
def test_attention_made_causal_at_construction():
    """tf.keras 2's ``Attention(use_scale=True, causal=True)`` in a decoder:
    each call masks the future, as Keras 3's ``use_causal_mask=True``."""
    rng = np.random.default_rng(0)
    q, v = (rng.normal(size=(2, 4, 3)).astype(np.float32) for _ in range(2))
    want = real_keras.layers.Attention()([q, v], use_causal_mask=True)
    layer = layers.Attention(causal=True)
    np.testing.assert_allclose(np.asarray(layer([q, v])), np.asarray(want), rtol=1e-5,
                               atol=1e-6)
    # the call's own argument still decides where given
    np.testing.assert_allclose(np.asarray(layer([q, v], use_causal_mask=False)),
                               np.asarray(real_keras.layers.Attention()([q, v])),
                               rtol=1e-5, atol=1e-6)
    assert layer.get_config()["causal"] is True
    assert "causal" not in layers.Attention().get_config()
    assert layers.Attention.from_config(layer.get_config()).causal
    x = pynn.Input((None, 3))
    model = pynn.Model(x, layers.Attention(causal=True)([x, x]))
    np.testing.assert_allclose(model.predict(q, verbose=0),
                               np.asarray(real_keras.layers.Attention()([q, q],
                                                                         use_causal_mask=True)),
                               rtol=1e-5, atol=1e-6)
