"""fit's class_weight, sample_weight, validation_freq, steps_per_epoch and
evaluate's sample_weight/return_dict/callbacks behave as Keras documents:
sample weights scale each sample's loss, the loss is reduced as
sum(w * loss) / number of samples ('sum_over_batch_size'), class_weight is
a per-class sample weight, and metrics passed as ``metrics=`` ignore
weights."""
import numpy as np
import pytest

import pynn
from pynn import callbacks, layers
from pynn.models import Sequential
from pynn.utils import set_random_seed


def regression():
    x = np.array([[1, 0], [0, 1], [1, 1], [2, 0]], np.float32)
    y = np.array([[1], [2], [0], [4]], np.float32)
    return x, y


def zero_model(loss="mse", metrics=("mae",), units=1, activation=None, lr=0.1):
    m = Sequential([layers.Dense(units, input_shape=(2,), kernel_initializer="zeros",
                                 activation=activation)])
    m.compile(optimizer=pynn.optimizers.SGD(lr), loss=loss, metrics=list(metrics))
    return m


def test_evaluate_sample_weight_reduces_as_keras():
    x, y = regression()
    w = np.array([1, 0, 2, 0.5], np.float32)
    m = zero_model()
    logs = m.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    per = y[:, 0] ** 2
    assert logs["loss"] == pytest.approx(float((w * per).sum() / 4))
    assert logs["mae"] == pytest.approx(float(np.abs(y).mean()))  # not weighted
    # the same across batch sizes
    logs2 = m.evaluate(x, y, sample_weight=w, batch_size=3, verbose=0, return_dict=True)
    assert logs2["loss"] == pytest.approx(logs["loss"])
    # return_dict=False: [loss, metrics...]; a single value for loss alone
    assert m.evaluate(x, y, verbose=0) == pytest.approx([float(per.mean()),
                                                          float(np.abs(y).mean())])
    only = zero_model(metrics=())
    assert isinstance(only.evaluate(x, y, verbose=0), float)
    assert only.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss"}


def test_evaluate_calls_test_hooks():
    x, y = regression()
    seen = []
    cb = callbacks.LambdaCallback(on_test_begin=lambda logs: seen.append("begin"),
                                  on_test_batch_end=lambda b, logs: seen.append(b),
                                  on_test_end=lambda logs: seen.append(sorted(logs)))
    zero_model().evaluate(x, y, batch_size=2, verbose=0, callbacks=[cb])
    assert seen == ["begin", 0, 1, ["loss", "mae"]]


def test_sample_weight_scales_the_gradient():
    x, y = regression()
    a, b = zero_model(lr=0.1), zero_model(lr=0.2)
    a.fit(x, y, sample_weight=np.full(4, 2.0, np.float32), batch_size=4, shuffle=False,
          verbose=0)
    b.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6)
    # zero weight: that sample does not count at all
    c, d = zero_model(), zero_model()
    c.fit(x, y, sample_weight=np.array([1, 1, 1, 0], np.float32), batch_size=4,
          shuffle=False, verbose=0)
    d.fit(x[:3], y[:3], batch_size=4, shuffle=False, verbose=0)
    # same weighted sum, but Keras divides by the 4 samples of the batch, not 3
    np.testing.assert_allclose(c.get_weights()[0] * 4, d.get_weights()[0] * 3, rtol=1e-6)


def test_training_loss_with_sample_weight_is_the_weighted_sum_over_samples():
    x, y = regression()
    w = np.array([1, 0, 2, 0.5], np.float32)
    m = zero_model(lr=0.0)
    h = m.fit(x, y, sample_weight=w, batch_size=4, verbose=0)
    assert h.history["loss"][0] == pytest.approx(float((w * y[:, 0] ** 2).sum() / 4))
    assert h.history["mae"][0] == pytest.approx(float(np.abs(y).mean()))


def test_class_weight_is_a_per_class_sample_weight():
    g = np.random.default_rng(0)
    x = g.normal(size=(40, 2)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 1).astype(np.int32)
    table = {0: 1.0, 1: 3.0, 2: 0.5}

    def run(**kw):
        set_random_seed(7)
        m = zero_model("sparse_categorical_crossentropy", ("accuracy",), units=3,
                       activation="softmax")
        h = m.fit(x, labels, epochs=2, batch_size=8, verbose=0, **kw)
        return m.get_weights(), h.history

    wc, hc = run(class_weight=table)
    ws, hs = run(sample_weight=np.array([table[int(c)] for c in labels], np.float32))
    wn, _ = run()
    for a, b in zip(wc, ws):
        assert np.array_equal(a, b)
    assert hc == hs
    assert not np.array_equal(wc[0], wn[0])
    # one-hot targets and a binary output take class weights too
    onehot = pynn.utils.to_categorical(labels, 3)
    set_random_seed(7)
    m = zero_model("categorical_crossentropy", ("accuracy",), units=3, activation="softmax")
    m.fit(x, onehot, epochs=2, batch_size=8, verbose=0, class_weight=table)
    for a, b in zip(m.get_weights(), wc):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_validation_freq():
    x, y = regression()
    h = zero_model().fit(x, y, epochs=5, validation_data=(x, y), validation_freq=2, verbose=0)
    assert len(h.history["loss"]) == 5 and len(h.history["val_loss"]) == 2
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append("val_loss" in logs))
    zero_model().fit(x, y, epochs=5, validation_data=(x, y), validation_freq=[1, 4],
                     verbose=0, callbacks=[cb])
    assert seen == [True, False, False, True, False]
    zero_model().fit(x, y, epochs=4, validation_split=0.5, validation_freq=3, verbose=0,
                     callbacks=[cb])
    assert seen[5:] == [False, False, True, False]


def test_steps_per_epoch():
    g = np.random.default_rng(0)
    x = g.normal(size=(50, 2)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    m = zero_model()
    batches = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    h = m.fit(x, y, epochs=3, batch_size=10, steps_per_epoch=2, verbose=0, callbacks=[cb])
    assert m.optimizer.iterations == 6
    assert batches == [0, 1] * 3
    assert len(h.history["loss"]) == 3
