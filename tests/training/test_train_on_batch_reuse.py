"""train_on_batch keeps its metric objects and its check of the flat weight
buffers between calls: each call still reports its own batch, a compile
(new metrics, a frozen layer) takes effect at once, a change of the
targets' shapes picks the accuracy again, and a model sharing layers with
another one trains as if nothing were kept."""
import numpy as np

import pynn
from pynn import layers, ops

G = np.random.default_rng(3)
X = G.random((32, 5), dtype=np.float32)
ONE_HOT = np.eye(3, dtype=np.float32)[G.integers(0, 3, 32)]


def mlp(seed=1):
    pynn.utils.set_random_seed(seed)
    return pynn.Sequential([pynn.Input(shape=(5,)), layers.Dense(4, activation="relu"),
                            layers.Dense(3, activation="softmax")])


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == np.argmax(y, -1)))


def test_each_call_reports_its_own_batch():
    model = mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    for rows in (slice(0, 16), slice(16, 32), slice(0, 7)):
        want = accuracy(model, X[rows], ONE_HOT[rows])  # before the step, as the step sees it
        loss, acc = model.train_on_batch(X[rows], ONE_HOT[rows])
        assert np.isclose(acc, want)


def test_compile_again_changes_metrics_and_trained_weights():
    model = mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    assert set(model.train_on_batch(X, ONE_HOT, return_dict=True)) == {"loss", "accuracy"}
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["mae"])
    logs = model.train_on_batch(X, ONE_HOT, return_dict=True)
    assert set(logs) == {"loss", "mae"}
    first, last = model.layers[0], model.layers[1]
    first.trainable = False
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    frozen, moving = first.get_weights(), last.get_weights()
    model.train_on_batch(X, ONE_HOT)
    for a, b in zip(frozen, first.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(moving, last.get_weights()))
    first.trainable = True
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.train_on_batch(X, ONE_HOT)
    assert any(not np.array_equal(a, b) for a, b in zip(frozen, first.get_weights()))


def test_the_accuracy_follows_the_targets_shape():
    model = mlp()
    # a loss that ignores the targets, so one-hot and sparse ones both fit
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: ops.mean(ops.square(y_pred)),
                  metrics=["accuracy"])
    labels = np.argmax(ONE_HOT, -1).astype(np.int32)
    for y in (ONE_HOT, labels, ONE_HOT):
        want = accuracy(model, X, ONE_HOT)
        _, acc = model.train_on_batch(X, y)
        assert np.isclose(acc, want)


def test_models_sharing_a_layer_train_as_without_the_kept_check():
    def run(forget):
        pynn.utils.set_random_seed(4)
        shared = layers.Dense(4, activation="tanh")
        a = pynn.Sequential([pynn.Input(shape=(5,)), shared, layers.Dense(3)])
        b = pynn.Sequential([pynn.Input(shape=(5,)), shared, layers.Dense(2)])
        a.compile(optimizer="sgd", loss="mse")
        b.compile(optimizer="sgd", loss="mse")
        frozen_b = pynn.Sequential([pynn.Input(shape=(5,)), shared, layers.Dense(2)])
        shared.trainable = False
        frozen_b.compile(optimizer="sgd", loss="mse")  # trains its head only
        shared.trainable = True
        for i in range(6):
            for m, width in ((a, 3), (b, 2), (frozen_b, 2), (a, 3)):
                if forget:
                    m._flat_checked = None  # the full check of every binding
                m.train_on_batch(X[i:i + 8], ONE_HOT[i:i + 8, :width])
        return [w.numpy() for m in (a, b, frozen_b) for w in m.weights]

    for kept, checked in zip(run(False), run(True)):
        np.testing.assert_array_equal(kept, checked)
