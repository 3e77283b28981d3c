"""The Keras callbacks behave as Keras documents them."""
import csv
import os

import numpy as np
import pytest

import pynn
from pynn import callbacks, layers
from pynn.models import Sequential, load_model
from pynn.utils import set_random_seed


def data(n=64, seed=0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5], np.float32))[:, None]
    return x, y


def model(lr=0.01, optimizer=None):
    set_random_seed(0)
    m = Sequential([layers.Dense(8, activation="tanh", input_shape=(4,)), layers.Dense(1)])
    m.compile(optimizer=optimizer or pynn.optimizers.SGD(lr), loss="mse", metrics=["mae"])
    return m


class Scripted(callbacks.Callback):
    """Replaces the monitored value with a scripted sequence, so the
    callbacks under test see known values."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightsAt(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


# ---------------------------------------------------------- EarlyStopping

def test_early_stopping_stops_after_patience_and_restores_best():
    x, y = data()
    m = model()
    losses = [5, 4, 3, 3.5, 3.2, 3.1, 2.0, 1.0]
    seen = WeightsAt()
    es = callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    h = m.fit(x, y, epochs=8, verbose=0, validation_data=(x, y),
              callbacks=[Scripted("val_loss", losses), seen, es])
    assert h.epoch == [0, 1, 2, 3, 4, 5]  # best at epoch 2, three epochs without improvement
    assert es.stopped_epoch == 5 and es.best == 3 and es.best_epoch == 2
    for a, b in zip(m.get_weights(), seen.weights[2]):
        assert np.array_equal(a, b)


def test_early_stopping_min_delta_mode_baseline_start_from_epoch():
    x, y = data()
    es = callbacks.EarlyStopping(monitor="acc", min_delta=0.1, patience=1, mode="max")
    h = model().fit(x, y, epochs=6, verbose=0,
                    callbacks=[Scripted("acc", [0.5, 0.55, 0.58, 0.9, 0.9, 0.9]), es])
    assert len(h.epoch) == 2  # +0.05 is not an improvement of at least 0.1

    # auto mode maximizes accuracy-like names
    es = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    h = model().fit(x, y, epochs=5, verbose=0,
                    callbacks=[Scripted("val_accuracy", [0.1, 0.2, 0.3, 0.2, 0.1]), es])
    assert len(h.epoch) == 4

    # improvements that do not beat the baseline do not reset the patience
    losses = [3, 2.5, 2.6, 2.7, 2.8, 2.9]
    es = callbacks.EarlyStopping(monitor="loss", baseline=0.5, patience=2)
    h = model().fit(x, y, epochs=6, verbose=0, callbacks=[Scripted("loss", losses), es])
    assert len(h.epoch) == 3
    es = callbacks.EarlyStopping(monitor="loss", patience=2)
    h = model().fit(x, y, epochs=6, verbose=0, callbacks=[Scripted("loss", losses), es])
    assert len(h.epoch) == 4

    # nothing counts before start_from_epoch
    es = callbacks.EarlyStopping(monitor="loss", patience=1, start_from_epoch=3)
    h = model().fit(x, y, epochs=6, verbose=0,
                    callbacks=[Scripted("loss", [1, 2, 3, 4, 5, 6]), es])
    assert len(h.epoch) == 5


def test_early_stopping_warns_on_missing_metric():
    x, y = data()
    with pytest.warns(UserWarning, match="val_loss.*not available"):
        h = model().fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.EarlyStopping()])
    assert len(h.epoch) == 2


# --------------------------------------------------------- ModelCheckpoint

def test_checkpoint_saves_only_on_improvement(tmp_path):
    x, y = data()
    losses = [3.0, 2.0, 2.5, 1.0, 1.5]
    template = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.pynn")
    cp = callbacks.ModelCheckpoint(template, monitor="val_loss", save_best_only=True)
    m = model()
    m.fit(x, y, epochs=5, verbose=0, validation_data=(x, y),
          callbacks=[Scripted("val_loss", losses), cp])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-3.00.pynn", "ckpt-02-2.00.pynn",
                                            "ckpt-04-1.00.pynn"]
    assert load_model(tmp_path / "ckpt-04-1.00.pynn").compiled


def test_checkpoint_best_only_to_one_file_holds_the_best_weights(tmp_path):
    x, y = data()
    path = tmp_path / "best.weights.pynn"
    seen = WeightsAt()
    cp = callbacks.ModelCheckpoint(str(path), monitor="loss", save_best_only=True,
                                   save_weights_only=True)
    m = model()
    m.fit(x, y, epochs=4, verbose=0,
          callbacks=[Scripted("loss", [3, 1, 2, 4]), seen, cp])
    other = model()
    other.load_weights(path)
    for a, b in zip(other.get_weights(), seen.weights[1]):
        assert np.array_equal(a, b)


def test_checkpoint_every_epoch_and_every_n_batches(tmp_path):
    x, y = data()
    cp = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.pynn"))
    model().fit(x, y, epochs=3, verbose=0, callbacks=[cp])
    assert sorted(os.listdir(tmp_path)) == ["e1.pynn", "e2.pynn", "e3.pynn"]
    sub = tmp_path / "b"
    cp = callbacks.ModelCheckpoint(str(sub / "e{epoch}-b{batch}.weights.pynn"),
                                   save_weights_only=True, save_freq=3)
    model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cp])  # 8 batches
    assert sorted(os.listdir(sub)) == ["e1-b3.weights.pynn", "e2-b2.weights.pynn"]


def test_checkpoint_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="TensorFlow Lite"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.tflite"))
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.pynn"), save_freq="batch")
    x, y = data()
    cp = callbacks.ModelCheckpoint(str(tmp_path / "m-{val_acc}.pynn"))
    with pytest.raises(KeyError, match="val_acc"):
        model().fit(x, y, epochs=1, verbose=0, callbacks=[cp])


# ------------------------------------------------- learning rate callbacks

class LrSeen(callbacks.Callback):
    """The learning rate in effect during each epoch's updates."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.rates.append(self.model.optimizer.learning_rate)


def test_scheduler_changes_the_rate_the_optimizer_uses():
    x, y = data()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    seen = LrSeen()
    m = model(lr=0.08)
    h = m.fit(x, y, epochs=4, verbose=0, callbacks=[sched, seen])
    assert seen.rates == pytest.approx([0.08, 0.04, 0.02, 0.01])
    assert h.history["learning_rate"] == pytest.approx([0.08, 0.04, 0.02, 0.01])
    # one-argument schedules work too (Keras's old form)
    m = model()
    h = m.fit(x, y, epochs=3, verbose=0,
              callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_a_zero_rate_from_the_schedule_freezes_the_weights():
    """Proof that the optimizer really uses the scheduled rate."""
    x, y = data()
    m = model(lr=0.1)
    before = m.get_weights()
    m.fit(x, y, epochs=2, verbose=0,
          callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: 0.0)])
    for a, b in zip(before, m.get_weights()):
        assert np.array_equal(a, b)
    m.fit(x, y, epochs=1, verbose=0,
          callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: 0.05)])
    assert not np.array_equal(before[0], m.get_weights()[0])


def test_scheduler_rejects_non_numbers():
    x, y = data()
    with pytest.raises(ValueError, match="should be a float"):
        model().fit(x, y, epochs=1, verbose=0,
                    callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "fast")])


def test_reduce_lr_on_plateau():
    x, y = data()
    seen = LrSeen()
    losses = [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1]
    rl = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1,
                                     min_lr=0.02)
    m = model(lr=0.1)
    h = m.fit(x, y, epochs=8, verbose=0, callbacks=[seen, Scripted("loss", losses), rl])
    # no improvement after epoch 1: reduced at the end of epoch 3; epoch 4 is the
    # cooldown (its counter runs out in that epoch, as in Keras), so the wait
    # restarts there and reaches the patience again at the end of epoch 5
    assert seen.rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    assert h.history["learning_rate"] == pytest.approx(seen.rates)
    assert m.optimizer.learning_rate == pytest.approx(0.025)
    rl = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_lr=0.05)
    m = model(lr=0.1)
    m.fit(x, y, epochs=4, verbose=0, callbacks=[Scripted("loss", [1, 1, 1, 1]), rl])
    assert m.optimizer.learning_rate == pytest.approx(0.05)
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.5)


# -------------------------------------------------------------- CSVLogger

def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_one_row_per_epoch_and_append(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    m = model()
    m.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
          callbacks=[callbacks.CSVLogger(str(path))])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert float(rows[-1][1]) == pytest.approx(m.history.history["loss"][-1])
    m.fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
          callbacks=[callbacks.CSVLogger(str(path), append=True)])
    rows = read_csv(path)
    assert len(rows) == 1 + 3 + 2 and rows.count(rows[0]) == 1
    # without append the file starts over
    m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(str(path), separator=";")])
    rows = read_csv(path, ";")
    assert rows == [rows[0], rows[1]] and rows[0] == ["epoch", "loss", "mae"]


def test_csv_logger_with_validation_every_other_epoch(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model().fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=2,
                callbacks=[callbacks.CSVLogger(str(path))])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[3] == "NA" for r in rows[1:]] == [True, False, True, False]


def test_csv_logger_logs_learning_rate(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model(lr=0.1).fit(x, y, epochs=2, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda e, lr: lr / 2),
        callbacks.CSVLogger(str(path))])
    rows = read_csv(path)
    assert "learning_rate" in rows[0]
    col = rows[0].index("learning_rate")
    assert [float(r[col]) for r in rows[1:]] == pytest.approx([0.05, 0.025])


# ---------------------------------------------------------- TerminateOnNaN

def test_terminate_on_nan_stops_a_diverging_run():
    x, y = data(256)
    y = y * 1e3
    m = model(lr=1e4)
    h = m.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(h.epoch) == 1
    assert not np.isfinite(h.history["loss"][0])
    assert m.optimizer.iterations < 32  # stopped within the first epoch


# ---------------------------------------------------------- LambdaCallback

def test_lambda_callback():
    x, y = data()
    events = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, "loss" in logs)),
        on_batch_end=lambda batch, logs: events.append("batch"),
        on_train_end=lambda logs: events.append("end"))
    assert isinstance(cb, callbacks.LambdaCallback)
    model().fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    assert events == ["begin", "batch", "batch", ("epoch", 0, True), "batch", "batch",
                      ("epoch", 1, True), "end"]
    with pytest.raises(TypeError, match="unknown hook"):
        callbacks.LambdaCallback(on_nothing=print)
    tests = []
    m = model()
    m.evaluate(x, y, verbose=0, callbacks=[callbacks.LambdaCallback(
        on_test_end=lambda logs: tests.append(sorted(logs)))])
    assert tests == [["loss", "mae"]]


def test_callbacks_are_exported():
    for name in ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
                 "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback"]:
        assert hasattr(pynn.callbacks, name)
