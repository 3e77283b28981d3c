"""fit's loop around the step: an epoch over shuffled, gathered batches
trains exactly as train_on_batch on the same batches (the same weights,
bit for bit, and the same running loss and accuracy), and each metric is
handed the outputs in the form its update_state asks for, on every step."""
import numpy as np
import pytest

import pynn
from pynn import layers, optimizers
from pynn.utils.seeding import rng


def _model(opt):
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input((12,)), layers.Dense(16, activation="relu"),
                             layers.Dense(8, activation="tanh"),
                             layers.Dense(4, activation="softmax")])
    model.compile(optimizer=opt(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data(n=103):
    g = np.random.default_rng(1)
    return (g.random((n, 12), dtype=np.float32), g.integers(0, 4, n),
            g.random(n).astype(np.float32) + 0.5)


@pytest.mark.parametrize("opt", [lambda: optimizers.SGD(0.05, momentum=0.9),
                                 lambda: optimizers.RMSprop(0.01)])
@pytest.mark.parametrize("weighted", [False, True])
def test_an_epoch_equals_train_on_batch_over_its_batches(opt, weighted):
    x, y, w = _data()
    batch = 16
    fitted, stepped = _model(opt), _model(opt)
    np.testing.assert_array_equal(fitted.get_weights()[0], stepped.get_weights()[0])
    pynn.utils.set_random_seed(5)
    history = fitted.fit(x, y, sample_weight=w if weighted else None, batch_size=batch,
                         epochs=2, verbose=0).history
    pynn.utils.set_random_seed(5)
    for epoch in range(2):
        order = rng().permutation(len(x))  # the shuffle fit draws for the epoch
        loss_sum = correct = 0.0
        for s in range(0, len(x), batch):
            idx = order[s:s + batch]
            loss, acc = stepped.train_on_batch(x[idx], y[idx],
                                               sample_weight=w[idx] if weighted else None)
            loss_sum += loss * len(idx)
            correct += acc * len(idx)  # (metrics, as against weighted_metrics, are unweighted)
        np.testing.assert_allclose(history["loss"][epoch], loss_sum / len(x), rtol=1e-6)
        np.testing.assert_allclose(history["accuracy"][epoch], correct / len(x), rtol=1e-6)
    for a, b in zip(fitted.get_weights(), stepped.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert fitted.optimizer.iterations == stepped.optimizer.iterations == 14


class _RowSums(pynn.metrics.Metric):
    """Records what each step hands it, the outputs' row sums, in a list of
    its class (fit updates copies of the metric objects)."""
    seen = None

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def result(self):
        return 0.0


class Probabilities(_RowSums):
    def update_state(self, y_true, y_pred, sample_weight=None):
        type(self).seen.append((np.asarray(y_pred).sum(axis=1), None))


class Logits(_RowSums):
    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        type(self).seen.append((np.asarray(y_pred).sum(axis=1), logits_of))


def test_each_metric_gets_the_form_its_update_state_takes_on_every_step():
    x, y, _ = _data(40)
    model = _model(lambda: optimizers.SGD(0.05))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=[Probabilities(name="p"), Logits(name="l")])
    Probabilities.seen, Logits.seen = [], []
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(Probabilities.seen) == len(Logits.seen) == 10
    for sums, form in Probabilities.seen:
        assert form is None
        np.testing.assert_allclose(sums, 1.0, rtol=1e-5)
    for sums, form in Logits.seen:
        assert form == "softmax"
        assert not np.allclose(sums, 1.0, rtol=1e-3)


def test_train_on_batch_refuses_an_empty_batch_and_leaves_the_weights():
    x, y, _ = _data(8)
    model = _model(lambda: optimizers.SGD(0.05))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"train_on_batch: the batch is empty \(x has shape \(0,"):
        model.train_on_batch(x[:0], y[:0])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.train_on_batch(x, y)  # the model still trains afterwards
