"""What the training step of a small model skips without changing what it
computes: a Concatenate hands the next layer its buffer (a plain array,
not an eager tensor whose shape is a Python property), the gradient of a
concatenation takes NumPy's integer sizes as Python's, and fit's optimizer
keeps its host state between steps."""
import numpy as np
import pytest

import pynn
from pynn import layers, ops

from keras_reference import keras, needs_keras  # noqa: E402


def _two_inputs(lib):
    a, b = lib.Input(shape=(5,)), lib.Input(shape=(3,))
    h = lib.layers.concatenate([lib.layers.Dense(4, activation="relu", name="da")(a),
                                lib.layers.Dense(2, activation="tanh", name="db")(b)])
    return lib.Model([a, b], lib.layers.Dense(1, activation="sigmoid", name="out")(h))


def test_concatenate_forward_gives_its_buffer_as_a_plain_array():
    layer = layers.Concatenate()
    from pynn.models.node import CallContext
    ctx = CallContext()
    xs = [np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32)]
    y = layer.forward(ctx, xs, False)
    assert type(y) is np.ndarray
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=-1))
    again = layer.forward(ctx, [2 * x for x in xs], False)
    assert again is y  # (the call's buffer, reused)
    np.testing.assert_array_equal(again, 2 * np.concatenate(xs, axis=-1))


def test_concatenate_grad_sizes():
    dy = np.arange(12, dtype=np.float32).reshape(2, 6)
    for sizes in ([2, 4], [np.int64(2), np.int32(4)]):
        a, b = ops.concatenate_grad(dy, sizes, -1)
        np.testing.assert_array_equal(a, dy[:, :2])
        np.testing.assert_array_equal(b, dy[:, 2:])
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        ops.concatenate_grad(dy, [-1, 7], -1)
    with pytest.raises(TypeError, match="sizes must be an integer"):
        ops.concatenate_grad(dy, [2.0, 4], -1)
    with pytest.raises(TypeError, match="sizes must be an integer"):
        ops.concatenate_grad(dy, [True, 5], -1)


@needs_keras
def test_two_input_model_predicts_as_keras_and_fits_as_a_tape_loop():
    g = np.random.default_rng(0)
    xa, xb = g.random((64, 5), dtype=np.float32), g.random((64, 3), dtype=np.float32)
    y = g.integers(0, 2, (64, 1)).astype(np.float32)
    pynn.utils.set_random_seed(2)
    ours, theirs, loop = _two_inputs(pynn), _two_inputs(keras), _two_inputs(pynn)
    theirs.set_weights(ours.get_weights())
    loop.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict([xa, xb], verbose=0),
                               theirs.predict([xa, xb], verbose=0), rtol=1e-5, atol=1e-6)
    ours.compile(optimizer=pynn.optimizers.Adam(0.01), loss="binary_crossentropy",
                 metrics=["accuracy"])
    ours.fit([xa, xb], y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    opt, loss_fn = pynn.optimizers.Adam(0.01), pynn.losses.BinaryCrossentropy()
    for _ in range(3):
        for i in range(0, 64, 16):
            with pynn.GradientTape() as tape:
                loss = loss_fn(y[i:i + 16], loop([xa[i:i + 16], xb[i:i + 16]], training=True))
            grads = tape.gradient(loss, loop.trainable_weights)
            opt.apply_gradients(zip(grads, loop.trainable_weights))
    assert int(ours.optimizer.iterations) == int(opt.iterations) == 12
    for a, b in zip(ours.get_weights(), loop.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _mlp():
    pynn.utils.set_random_seed(4)
    model = pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(5, activation="relu"),
                             layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_evaluate_logs_each_batch_only_for_those_who_read_them():
    g = np.random.default_rng(1)
    x, y = g.random((50, 6), dtype=np.float32), g.integers(0, 3, 50)
    model = _mlp()
    seen = []

    class Batches(pynn.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            seen.append(dict(logs))

    quiet = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    told = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True,
                          callbacks=[Batches()])
    assert quiet == told
    assert len(seen) == 4 and seen[-1] == told
    # the running mean after the first batch: that batch's loss and accuracy
    first = model.evaluate(x[:16], y[:16], batch_size=16, verbose=0, return_dict=True)
    assert seen[0] == pytest.approx(first)
    bad = x.copy()
    bad[20, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.evaluate(bad, y, batch_size=16, verbose=0)
    # inputs of another dtype are converted once, with the same results
    again = model.evaluate(x.astype(np.float64), y, batch_size=16, verbose=0,
                           return_dict=True)
    assert again == pytest.approx(quiet)


def test_predict_records_its_plan_once_and_calls_still_follow_changes():
    g = np.random.default_rng(2)
    x = g.random((40, 6), dtype=np.float32)
    model = _mlp()
    first = model.predict(x, batch_size=8, verbose=0)
    rec = model._planned
    assert rec is not None and rec[0] is model._infer
    again = model.predict(x, batch_size=8, verbose=0)
    assert model._planned is rec  # (the same record: not made again batch by batch)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.asarray(model(x[:1])), first[:1], rtol=1e-6)
    model.layers[-1].activation = pynn.activations.get("linear")  # a new program
    logits = model.predict(x, batch_size=8, verbose=0)
    assert model._planned is not rec and model._planned[0] is model._infer
    np.testing.assert_allclose(np.asarray(model(x[:1])), logits[:1], rtol=1e-6)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, first, rtol=1e-5, atol=1e-6)
