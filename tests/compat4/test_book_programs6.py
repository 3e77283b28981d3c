"""Patterns from more Keras/TF2 textbooks' programs (run with only their
imports changed) that broke in pynn, reproduced in a few lines each, against
Keras 3 on its NumPy backend where it runs the same thing."""
import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras as real_keras, needs_keras


# ------------------------------------------------------ time series

@needs_keras
def test_metric_functions_on_a_whole_series_give_one_number():
    """A naive forecast scored with ``keras.metrics.mean_absolute_error(
    x_valid, forecast).numpy()``: two 1-D series are one sample, so the
    metric function's result is a scalar, as the loss function's is."""
    rng = np.random.default_rng(0)
    series, forecast = rng.normal(size=50), rng.normal(size=50)
    for name, short in (("mean_absolute_error", "mae"), ("mean_squared_error", "mse")):
        want = getattr(real_keras.metrics, name)(series, forecast)
        for got in (getattr(pynn.metrics, name)(series, forecast),
                    getattr(pynn.metrics, short)(series, forecast)):  # (tf.keras's aliases)
            assert np.shape(got) == () and got.numpy() == pytest.approx(float(want), rel=1e-5)
    # a batch of rows still gives one value per row
    rows = pynn.metrics.mse(np.ones((3, 4)), np.zeros((3, 4)))
    np.testing.assert_allclose(rows.numpy(), [1.0, 1.0, 1.0])
    hits = pynn.metrics.binary_accuracy(np.array([0.0, 1.0]), np.array([0.2, 0.3]))
    np.testing.assert_array_equal(hits.numpy(), [1.0, 0.0])


@needs_keras
@pytest.mark.parametrize("steps", [None, 12])
def test_one_target_per_window_against_a_sequence_output(steps):
    """A forecaster whose Conv1D and Dense layers keep the time axis,
    trained on windows whose target is the next value (one per window):
    Keras broadcasts the target over the output's steps, so the loss is
    the mean over every step of the error against it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 12, 1)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)
    weights = [w.astype(np.float32) for w in [rng.normal(size=(3, 1, 4)) * 0.5, np.zeros(4),
                                              rng.normal(size=(4, 1)), np.zeros(1)]]
    results = []
    for lib in (pynn, real_keras):
        model = lib.Sequential([lib.Input((steps, 1)),
                                lib.layers.Conv1D(4, 3, padding="causal", activation="relu"),
                                lib.layers.Dense(1)])
        model.compile(loss="mse", optimizer="sgd", metrics=["mae"])
        model.set_weights(weights)
        pred = model.predict(x, verbose=0)[..., 0]
        loss, mae = model.evaluate(x, y, verbose=0)
        assert loss == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5)
        assert mae == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-5)
        results.append(loss)
    assert results[0] == pytest.approx(results[1], rel=1e-5)
    model = pynn.Sequential([pynn.Input((steps, 1)), layers.Conv1D(4, 3, padding="causal"),
                             layers.Dense(1)])
    model.compile(loss="mse", optimizer=pynn.optimizers.SGD(0.05))
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


# ------------------------------------------------------ text

@needs_keras
def test_embedding_made_with_pretrained_weights_builds_once():
    """``Embedding(vocab, dim, weights=[glove_matrix], trainable=False)``
    at the head of a Sequential: built on the first data, it holds the
    matrix (building used to recurse through set_weights)."""
    table = np.arange(20, dtype=np.float32).reshape(10, 2)
    ids = np.array([[1, 2, 0], [9, 3, 3]])
    outs = []
    for lib in (pynn, real_keras):
        model = lib.Sequential([lib.layers.Embedding(10, 2, weights=[table], trainable=False),
                                lib.layers.GlobalAveragePooling1D()])
        outs.append(np.asarray(model.predict(ids, verbose=0)))
        np.testing.assert_array_equal(model.layers[0].get_weights()[0], table)
        assert not model.trainable_weights
    np.testing.assert_allclose(outs[0], outs[1])
    np.testing.assert_allclose(outs[0][1], table[[9, 3, 3]].mean(axis=0))


# ------------------------------------------------------ Keras 2 era

def test_lowercase_optimizer_aliases_of_keras_2():
    """``keras.optimizers.rmsprop(lr=0.0003, decay=1e-6)``: Keras 2.0-2.2's
    lowercase names are the classes, with Keras 2's arguments."""
    opt = pynn.optimizers.rmsprop(lr=0.0003, decay=1e-6)
    assert isinstance(opt, pynn.optimizers.RMSprop)
    assert float(opt.learning_rate) == pytest.approx(0.0003)
    for alias, cls in (("sgd", "SGD"), ("adagrad", "Adagrad"), ("adadelta", "Adadelta"),
                       ("adam", "Adam"), ("adamax", "Adamax"), ("nadam", "Nadam")):
        assert getattr(pynn.optimizers, alias) is getattr(pynn.optimizers, cls)
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
    model.compile(optimizer=pynn.optimizers.adam(lr=0.05), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    history = model.fit(x, x.sum(axis=1), epochs=10, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
