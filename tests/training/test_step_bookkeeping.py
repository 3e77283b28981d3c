"""The bookkeeping of each training step: the optimizer's step count, the
metrics' logits check (cached per update_state function), and a layer
shared by two calls summing its gradients."""
import gc

import numpy as np

import pynn
from pynn import layers, metrics

G = np.random.default_rng(3)
X = G.random((40, 5), dtype=np.float32)
Y = np.eye(3, dtype=np.float32)[G.integers(0, 3, 40)]


def _model():
    pynn.utils.set_random_seed(2)
    inp = pynn.Input(shape=(5,))
    return pynn.Model(inp, layers.Dense(3, activation="softmax")(
        layers.Dense(4, activation="relu")(inp)))


def test_the_optimizer_counts_fit_and_train_on_batch_steps():
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert model.optimizer.iterations == 10
    model.train_on_batch(X[:8], Y[:8])
    assert model.optimizer.iterations.numpy() == 11
    model.optimizer.iterations.assign(3)
    model.train_on_batch(X[:8], Y[:8])
    assert int(model.optimizer.iterations) == 4


def test_logits_check_follows_each_update_state_function():
    # classes made and dropped one after another: a function's id may be
    # reused, its answer must not be
    for k in range(6):
        if k % 2:
            def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
                pass
        else:
            def update_state(self, y_true, y_pred, sample_weight=None):
                pass
        cls = type(f"M{k}", (metrics.Metric,), {"update_state": update_state})
        assert metrics._takes_logits(cls.update_state) is bool(k % 2)
        assert metrics._takes_logits(cls.update_state) is bool(k % 2)
        del cls, update_state
        gc.collect()
    # a callable that takes no weak reference is answered each time
    assert metrics._takes_logits(print) is False


def test_a_custom_metric_sees_probabilities_in_fit():
    seen = []

    class MaxProb(metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            seen.append(float(np.max(np.asarray(y_pred))))

        def result(self):
            return 0.0

    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[MaxProb()])
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert len(seen) == 5 and all(0.0 < p <= 1.0 for p in seen)


def test_a_layer_called_twice_sums_its_gradients():
    pynn.utils.set_random_seed(4)
    inp = pynn.Input(shape=(5,))
    shared = layers.Dense(5, use_bias=False)
    model = pynn.Model(inp, shared(shared(inp)))
    model.compile(optimizer=pynn.optimizers.SGD(0.1), loss="mse")
    w = np.array(shared.kernel.value)
    x, y = X[:8], np.zeros((8, 5), np.float32)
    model.train_on_batch(x, y)
    # loss = mean((x W W)^2): dL/dW = x^T g W^T + (x W)^T g, g = 2 x W W / n
    h = x @ w
    g = 2 * (h @ w) / (8 * 5)
    want = w - 0.1 * (x.T @ g @ w.T + h.T @ g)
    np.testing.assert_allclose(shared.kernel.value, want, rtol=1e-5, atol=1e-6)
