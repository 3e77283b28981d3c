"""Géron's chapter 10/12 losses and metrics: Keras's losses without a
kernel (Huber, MAPE, MSLE, hinge, KL divergence, Poisson, log-cosh), a
Loss subclass with call() and get_config(), a Metric subclass with
add_weight/assign_add, RootMeanSquaredError (also by its class name),
Precision, Recall and the top-k accuracies, against Keras 3."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers
from gradcheck import check_model_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LOSSES = {"Huber": "huber", "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
          "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error", "Hinge": "hinge",
          "SquaredHinge": "squared_hinge", "KLDivergence": "kl_divergence", "Poisson": "poisson",
          "LogCosh": "log_cosh"}


def _data():
    rng = np.random.default_rng(0)
    y_true = rng.uniform(0, 2, size=(6, 3)).astype("float32")
    y_pred = rng.uniform(0.01, 3, size=(6, 3)).astype("float32")
    labels = (rng.uniform(size=(6, 3)) > 0.5).astype("float32")
    return y_true, y_pred, labels


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_match_keras(keras_ref, name):
    y_true, y_pred, labels = _data()
    t = labels if "Hinge" in name else y_true
    ours = getattr(keras.losses, name)()
    theirs = getattr(keras_ref.losses, name)()
    assert float(ours(t, y_pred)) == pytest.approx(float(theirs(t, y_pred)), rel=1e-5)
    w = np.arange(6, dtype="float32")
    assert float(ours(t, y_pred, sample_weight=w)) == pytest.approx(
        float(theirs(t, y_pred, sample_weight=w)), rel=1e-5)
    assert type(keras.losses.get(name)) is type(ours)
    assert keras.losses.get(LOSSES[name]) is getattr(keras.losses, LOSSES[name])
    np.testing.assert_allclose(getattr(keras.losses, LOSSES[name])(t, y_pred),
                               np.asarray(getattr(keras_ref.losses, LOSSES[name])(t, y_pred)),
                               rtol=1e-5, atol=1e-7)


def test_huber_delta_and_function_form(keras_ref):
    y_true, y_pred, _ = _data()
    assert float(keras.losses.Huber(2.0)(y_true, 3 * y_pred)) == pytest.approx(
        float(keras_ref.losses.Huber(2.0)(y_true, 3 * y_pred)), rel=1e-6)
    np.testing.assert_allclose(keras.losses.huber(y_true, y_pred),
                               np.asarray(keras_ref.losses.huber(y_true, y_pred)), rtol=1e-6)


@pytest.mark.parametrize("loss", ["huber", "log_cosh", "msle", "poisson"])
def test_formula_loss_gradients(loss):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, activation="softplus")])
    model.compile(loss=loss, optimizer="sgd")
    x = np.random.default_rng(3).normal(size=(5, 3)).astype("float32")
    check_model_gradients(model, x, np.abs(x[:, :2]) + 0.5)


class HuberLoss(keras.losses.Loss):
    def __init__(self, threshold=1.0, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def call(self, y_true, y_pred):
        error = y_true - y_pred
        is_small_error = keras.ops.abs(error) < self.threshold
        squared_loss = keras.ops.square(error) / 2
        linear_loss = self.threshold * keras.ops.abs(error) - self.threshold ** 2 / 2
        return keras.ops.where(is_small_error, squared_loss, linear_loss)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def create_huber(threshold=1.0):
    def huber_fn(y_true, y_pred):
        error = y_true - y_pred
        is_small_error = keras.ops.abs(error) < threshold
        squared_loss = keras.ops.square(error) / 2
        linear_loss = threshold * keras.ops.abs(error) - threshold ** 2 / 2
        return keras.ops.where(is_small_error, squared_loss, linear_loss)
    return huber_fn


class HuberMetric(keras.metrics.Metric):
    def __init__(self, threshold=1.0, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold
        self.huber_fn = create_huber(threshold)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        sample_metrics = self.huber_fn(y_true, y_pred)
        self.total.assign_add(keras.ops.sum(sample_metrics))
        self.count.assign_add(keras.ops.cast(keras.ops.size(y_true), "float32"))

    def result(self):
        return self.total / self.count

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def _regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    return x, 2 * x[:, :1] + 0.1


def test_geron_custom_loss_and_metric_classes_train():
    x, y = _regression()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), layers.Dense(8, activation="relu"),
                              layers.Dense(1)])
    model.compile(loss=HuberLoss(2.0), optimizer="nadam", metrics=[HuberMetric(2.0)])
    assert model.loss.name == "huber_loss"
    h = model.fit(x, y, epochs=3, verbose=0).history
    # the metric sees every value of the epoch: equal to the loss before the update
    assert h["huber_metric"][0] == pytest.approx(h["loss"][0], rel=0.05)
    assert h["loss"][-1] < h["loss"][0]
    # Keras's formula: the class equals the same function used as a loss
    expected = float(keras.losses.Huber(2.0)(y, model.predict(x, verbose=0)))
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(expected, rel=1e-5)
    metric = HuberMetric(2.0)
    metric.update_state(y, y + 3.0)
    assert float(metric.result()) == pytest.approx(2.0 * 3.0 - 2.0)
    metric.reset_state()
    assert float(metric.total.numpy()) == 0.0 and metric.get_config()["threshold"] == 2.0
    config = HuberLoss(3.0).get_config()
    assert HuberLoss.from_config(config).threshold == 3.0


@pytest.mark.parametrize("metric", ["RootMeanSquaredError", "root_mean_squared_error"])
def test_root_mean_squared_error_by_name(metric):
    x, y = _regression()
    model = keras.Sequential([keras.Input((8,)), layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", metrics=[metric])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    # (logged under the string given, as Keras 3 logs it)
    assert logs[metric] == pytest.approx(np.sqrt(logs["loss"]), rel=1e-5)


@pytest.mark.parametrize("name", ["Precision", "Recall", "RootMeanSquaredError"])
def test_confusion_and_error_metrics_match_keras(keras_ref, name):
    rng = np.random.default_rng(5)
    y_true = (rng.uniform(size=(9, 3)) > 0.5).astype("float32")
    y_pred = rng.uniform(size=(9, 3)).astype("float32")
    w = np.arange(9.0)
    ours, theirs = getattr(keras.metrics, name)(), getattr(keras_ref.metrics, name)()
    for s in (slice(0, 4), slice(4, 9)):
        ours.update_state(y_true[s], y_pred[s], sample_weight=w[s])
        theirs.update_state(y_true[s], y_pred[s], sample_weight=w[s])
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6)


def test_top_k_accuracies_match_keras(keras_ref):
    rng = np.random.default_rng(6)
    y_pred = rng.uniform(size=(20, 6)).astype("float32")
    labels = rng.integers(0, 6, 20)
    for k in (1, 2, 3):
        ours = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
        theirs = keras_ref.metrics.SparseTopKCategoricalAccuracy(k=k)
        ours.update_state(labels, y_pred)
        theirs.update_state(labels, y_pred)
        assert ours.result() == pytest.approx(float(theirs.result()))
        ours = keras.metrics.TopKCategoricalAccuracy(k=k)
        theirs = keras_ref.metrics.TopKCategoricalAccuracy(k=k)
        ours.update_state(np.eye(6)[labels], y_pred)
        theirs.update_state(np.eye(6)[labels], y_pred)
        assert ours.result() == pytest.approx(float(theirs.result()))


def test_precision_recall_in_fit_with_logits_fused():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(0.5),
                  metrics=[keras.metrics.Precision(), keras.metrics.Recall(name="rec")])
    model.fit(x, y, epochs=20, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0] > 0.5
    tp = float(np.sum(p & (y > 0.5)))
    assert logs["precision"] == pytest.approx(tp / p.sum())
    assert logs["rec"] == pytest.approx(tp / (y > 0.5).sum())
