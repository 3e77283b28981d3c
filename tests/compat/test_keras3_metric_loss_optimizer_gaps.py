"""Keras 3's confusion-count metrics (TruePositives & co., several
thresholds, the rate-at-rate metrics), Accuracy, Sum, R2Score and the loss
metrics; CategoricalHinge, CosineSimilarity and the focal losses; the Lion
and Ftrl optimizers: values, configs and string aliases against Keras 3 on
its NumPy backend, gradients by finite differences, and the credit-card
fraud example's compile/fit/evaluate/save flow."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers
from gradcheck import check_model_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")

NEW_METRICS = ["Accuracy", "Sum", "R2Score", "TruePositives", "FalsePositives",
               "TrueNegatives", "FalseNegatives", "PrecisionAtRecall", "RecallAtPrecision",
               "SensitivityAtSpecificity", "SpecificityAtSensitivity", "BinaryCrossentropy",
               "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence",
               "CosineSimilarity", "LogCoshError"]
NEW_LOSSES = ["CategoricalHinge", "CosineSimilarity", "BinaryFocalCrossentropy",
              "CategoricalFocalCrossentropy", "categorical_hinge", "cosine_similarity",
              "binary_focal_crossentropy", "categorical_focal_crossentropy"]


def test_the_names_exist():
    for name in NEW_METRICS:
        assert hasattr(keras.metrics, name), name
    for name in NEW_LOSSES:
        assert hasattr(keras.losses, name), name
    assert hasattr(keras.optimizers, "Lion") and hasattr(keras.optimizers, "Ftrl")


def _binary(seed=0, n=23, cols=1):
    rng = np.random.default_rng(seed)
    y_true = (rng.uniform(size=(n, cols)) > 0.6).astype("float32")
    # predictions on the thresholds themselves, and outside [0, 1]
    y_pred = rng.uniform(size=(n, cols)).astype("float32")
    y_pred.reshape(-1)[:4] = [0.5, 0.0, 1.0, 1.2]
    return y_true, y_pred, rng.uniform(0, 2, size=n).astype("float32")


def _both(keras_ref, class_name, *args, **kwargs):
    return getattr(keras.metrics, class_name)(*args, **kwargs), \
        getattr(keras_ref.metrics, class_name)(*args, **kwargs)


def _update_both(ours, theirs, y_true, y_pred, w=None, parts=2):
    for s in np.array_split(np.arange(len(y_pred)), parts):
        ours.update_state(y_true[s], y_pred[s], sample_weight=None if w is None else w[s])
        theirs.update_state(y_true[s], y_pred[s], sample_weight=None if w is None else w[s])


@pytest.mark.parametrize("name", ["TruePositives", "FalsePositives", "TrueNegatives",
                                  "FalseNegatives", "Precision", "Recall"])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.1, 0.5, 0.9], [0.0, 0.5, 1.0]])
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_counts_match_keras(keras_ref, name, thresholds, weighted):
    y_true, y_pred, w = _binary()
    ours, theirs = _both(keras_ref, name, thresholds=thresholds)
    _update_both(ours, theirs, y_true, y_pred, w if weighted else None)
    np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-6)
    assert np.shape(ours.result()) == np.shape(theirs.result())
    ours.reset_state()
    assert np.all(np.asarray(ours.result()) == 0)


@pytest.mark.parametrize("kwargs", [{"top_k": 2}, {"class_id": 1}, {"top_k": 1, "class_id": 2},
                                    {"thresholds": [0.2, 0.7], "class_id": 0}])
def test_precision_recall_top_k_and_class_id_match_keras(keras_ref, kwargs):
    y_true, y_pred, w = _binary(1, n=17, cols=4)
    for name in ("Precision", "Recall"):
        ours, theirs = _both(keras_ref, name, **kwargs)
        _update_both(ours, theirs, y_true, y_pred, w)
        np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-6)


@pytest.mark.parametrize("name,value", [("PrecisionAtRecall", 0.6), ("RecallAtPrecision", 0.5),
                                        ("SensitivityAtSpecificity", 0.7),
                                        ("SpecificityAtSensitivity", 0.8)])
@pytest.mark.parametrize("kwargs", [{}, {"num_thresholds": 1}, {"num_thresholds": 7},
                                    {"class_id": 1}])
def test_rate_at_rate_metrics_match_keras(keras_ref, name, value, kwargs):
    cols = 3 if "class_id" in kwargs else 1
    y_true, y_pred, w = _binary(2, n=40, cols=cols)
    for weights in (None, w):
        ours, theirs = _both(keras_ref, name, value, **kwargs)
        _update_both(ours, theirs, y_true, y_pred, weights)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6, abs=1e-7)


def _regression(seed=3, n=15, cols=3):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(size=(n, cols)).astype("float32")
    y_pred = (y_true + rng.normal(scale=0.7, size=(n, cols))).astype("float32")
    return y_true, y_pred, rng.uniform(0, 2, size=n).astype("float32")


@pytest.mark.parametrize("kwargs", [{}, {"class_aggregation": "variance_weighted_average"},
                                    {"class_aggregation": None}, {"num_regressors": 2}])
def test_r2_score_matches_keras(keras_ref, kwargs):
    y_true, y_pred, w = _regression()
    for weights in (None, w):
        ours, theirs = _both(keras_ref, "R2Score", **kwargs)
        _update_both(ours, theirs, y_true, y_pred, weights)
        np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-5)


def _probabilities(seed=4, n=12, cols=4):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 1, size=(n, cols)).astype("float32")
    p /= p.sum(axis=1, keepdims=True)
    labels = rng.integers(0, cols, n)
    return labels, np.eye(cols, dtype="float32")[labels], p, \
        rng.uniform(0, 2, size=n).astype("float32")


@pytest.mark.parametrize("name,kwargs,target", [
    ("BinaryCrossentropy", {}, "binary"), ("BinaryCrossentropy", {"label_smoothing": 0.2},
                                           "binary"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1, "from_logits": True}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
    ("KLDivergence", {}, "onehot"), ("CosineSimilarity", {}, "regression"),
    ("LogCoshError", {}, "regression"), ("Accuracy", {}, "rounded")])
def test_value_metrics_match_keras(keras_ref, name, kwargs, target):
    labels, onehot, p, w = _probabilities()
    y_true = {"binary": (p > 0.25).astype("float32"), "onehot": onehot, "sparse": labels,
              "regression": _regression(n=12, cols=4)[0], "rounded": np.round(p * 2) / 2}[target]
    y_pred = p
    if target == "rounded":  # a third of the predictions equal their targets
        y_pred = np.where(np.arange(p.size).reshape(p.shape) % 3 == 0, y_true, p)
    for weights in (None, w):
        ours, theirs = _both(keras_ref, name, **kwargs)
        _update_both(ours, theirs, y_true, y_pred, weights)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)


def test_sum_matches_keras(keras_ref):
    rng = np.random.default_rng(5)
    values = rng.normal(size=(6, 3)).astype("float32")
    w = rng.uniform(size=6).astype("float32")
    for args in ((values,), (values, w), (values[:, 0], w), (values, w[:, None] * np.ones(3))):
        ours, theirs = keras.metrics.Sum(), keras_ref.metrics.Sum()
        ours.update_state(*args)
        theirs.update_state(*args)
        ours.update_state(values[0])
        theirs.update_state(values[0])
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)


def _without_dtype_and_axis(config, name):
    """A config less its dtype, and less CosineSimilarity's axis, which
    Keras leaves out of its config (pynn keeps it, so it survives saving;
    Keras's from_config takes it)."""
    return {k: v for k, v in config.items()
            if k != "dtype" and not (name == "CosineSimilarity" and k == "axis")}


METRIC_ARGS = {"PrecisionAtRecall": (0.5,), "RecallAtPrecision": (0.5,),
               "SensitivityAtSpecificity": (0.5,), "SpecificityAtSensitivity": (0.5,)}
METRIC_KWARGS = {"TruePositives": {"thresholds": [0.2, 0.6]}, "R2Score": {"num_regressors": 1},
                 "PrecisionAtRecall": {"num_thresholds": 50, "class_id": 1},
                 "BinaryCrossentropy": {"label_smoothing": 0.1, "from_logits": True},
                 "SparseCategoricalCrossentropy": {"ignore_class": 2}}


@pytest.mark.parametrize("name", NEW_METRICS + ["Precision", "Recall"])
def test_metric_configs_match_keras_and_round_trip(keras_ref, name):
    args, kwargs = METRIC_ARGS.get(name, ()), dict(METRIC_KWARGS.get(name, {}), name="m")
    ours, theirs = _both(keras_ref, name, *args, **kwargs)
    config = ours.get_config()
    want = theirs.get_config()
    assert _without_dtype_and_axis(config, name) == _without_dtype_and_axis(want, name)
    again = type(ours).from_config(config)
    assert again.get_config() == config
    # and Keras rebuilds it from ours
    assert type(theirs).from_config(config).get_config() == want


@pytest.mark.parametrize("alias,cls", [
    ("AUC", "AUC"), ("auc", "AUC"), ("r2_score", "R2Score"), ("R2Score", "R2Score"),
    ("true_positives", "TruePositives"), ("FalseNegatives", "FalseNegatives"),
    ("false_positives", "FalsePositives"), ("true_negatives", "TrueNegatives"),
    ("kl_divergence", "KLDivergence"), ("log_cosh_error", "LogCoshError"),
    ("cosine_similarity", "CosineSimilarity"), ("bce", "BinaryCrossentropy"),
    ("BinaryCrossentropy", "BinaryCrossentropy")])
def test_metric_strings_as_keras_takes_them(keras_ref, alias, cls):
    assert type(keras.metrics.get(alias)).__name__ == cls
    assert type(keras_ref.metrics.get(alias)).__name__ == cls


def _fraud_data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = ((x[:, 0] + 0.5 * x[:, 1]) > 1.3).astype("float32")  # rare positives
    return x, y


FRAUD_METRICS = ["fn", "fp", "tn", "tp", "precision", "recall"]


def _fraud_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(16, activation="relu"),
                              layers.Dropout(0.2), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy",
                  metrics=[keras.metrics.FalseNegatives(name="fn"),
                           keras.metrics.FalsePositives(name="fp"),
                           keras.metrics.TrueNegatives(name="tn"),
                           keras.metrics.TruePositives(name="tp"),
                           keras.metrics.Precision(name="precision"),
                           keras.metrics.Recall(name="recall")])
    return model


def test_credit_card_fraud_flow(tmp_path, keras_ref):
    x, y = _fraud_data()
    counts = np.bincount(y.astype(int), minlength=2)
    class_weight = {0: 1.0 / counts[0], 1: 1.0 / counts[1]}
    model = _fraud_model()
    history = model.fit(x[:200], y[:200], batch_size=32, epochs=3, verbose=0,
                        class_weight=class_weight, validation_data=(x[200:], y[200:]))
    h = history.history
    for key in FRAUD_METRICS:
        assert len(h[key]) == 3 and len(h[f"val_{key}"]) == 3
    # unweighted counts (class_weight weighs the loss, not the metrics): every
    # training sample lands in exactly one cell in each epoch
    for epoch in range(3):
        assert h["tp"][epoch] + h["fp"][epoch] + h["tn"][epoch] + h["fn"][epoch] == 200
        assert h["val_tp"][epoch] + h["val_fn"][epoch] == y[200:].sum()
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    predicted = model.predict(x, verbose=0)[:, 0] > 0.5
    actual = y > 0.5
    tp, fp = float(np.sum(predicted & actual)), float(np.sum(predicted & ~actual))
    fn, tn = float(np.sum(~predicted & actual)), float(np.sum(~predicted & ~actual))
    assert (logs["tp"], logs["fp"], logs["fn"], logs["tn"]) == (tp, fp, fn, tn)
    assert logs["precision"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
    assert logs["recall"] == pytest.approx(tp / (tp + fn))
    for suffix in (".keras", ".pynn", ".h5"):
        model.save(tmp_path / f"fraud{suffix}")
        again = keras.models.load_model(tmp_path / f"fraud{suffix}")
        assert again.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(logs)
    theirs = keras_ref.models.load_model(tmp_path / "fraud.keras")
    their_logs = theirs.evaluate(x, y, verbose=0, return_dict=True)
    for key in FRAUD_METRICS:
        assert their_logs[key] == pytest.approx(logs[key], rel=1e-6)


def test_configured_metrics_survive_saving(tmp_path, keras_ref):
    x, y = _fraud_data(80)
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[keras.metrics.TruePositives(thresholds=[0.3, 0.7], name="tps"),
                           keras.metrics.SensitivityAtSpecificity(0.6, num_thresholds=11),
                           keras.metrics.BinaryCrossentropy(label_smoothing=0.1),
                           "AUC", "r2_score"])
    logs = model.evaluate(x, y[:, None], verbose=0, return_dict=True)
    assert np.shape(logs["tps"]) == (2,)
    for suffix in (".keras", ".pynn"):
        model.save(tmp_path / f"m{suffix}")
        again = keras.models.load_model(tmp_path / f"m{suffix}")
        got = again.evaluate(x, y[:, None], verbose=0, return_dict=True)
        assert set(got) == set(logs)
        for key in logs:
            np.testing.assert_allclose(got[key], logs[key], rtol=1e-6)
    theirs = keras_ref.models.load_model(tmp_path / "m.keras")
    their_logs = theirs.evaluate(x, y[:, None], verbose=0, return_dict=True)
    # (a metric given by its class name is logged under that name, 'AUC')
    assert set(their_logs) == set(logs)
    for key in logs:
        np.testing.assert_allclose(their_logs[key], logs[key], rtol=1e-5)


def test_new_metrics_reported_by_fit():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = np.stack([x[:, 0] - x[:, 1], x[:, 2]], axis=1).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse",
                  metrics=["r2_score", keras.metrics.LogCoshError(),
                           keras.metrics.CosineSimilarity(), "Accuracy"])
    h = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history
    assert set(h) >= {"loss", "r2_score", "logcosh", "cosine_similarity", "Accuracy"}
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    r2 = 1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    assert logs["r2_score"] == pytest.approx(float(r2.mean()), rel=1e-4)


@pytest.mark.parametrize("sparse", [False, True])
def test_crossentropy_metrics_on_fused_logits(sparse):
    labels, onehot, _, _ = _probabilities(n=48)
    rng = np.random.default_rng(8)
    x = (onehot + rng.normal(scale=0.5, size=onehot.shape)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(4, activation="softmax")])
    # the model trains on logits (softmax fused into the loss); the metrics
    # see its probabilities, as Keras's do
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy" if sparse else
                  "categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalCrossentropy(name="ce") if sparse
                           else keras.metrics.CategoricalCrossentropy(name="ce")] +
                  ([] if sparse else [keras.metrics.KLDivergence()]))
    logs = model.evaluate(x, labels if sparse else onehot, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    expected = float(-np.log(p[np.arange(48), labels]).mean())
    assert logs["ce"] == pytest.approx(logs["loss"], rel=1e-4)
    assert logs["ce"] == pytest.approx(expected, rel=1e-4)
    if not sparse:
        assert logs["kl_divergence"] == pytest.approx(expected, rel=1e-4)


class _SummingComm:
    """Two processes that saw the same batches: every sum doubles."""

    def sum_values(self, values, what=""):
        return [2 * v for v in values]


def test_distributed_reduce_sums_confusion_counts():
    x, y = _fraud_data(64)
    model = _fraud_model()
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[keras.metrics.TruePositives(thresholds=[0.3, 0.6]),
                           keras.metrics.Precision(), "AUC", "r2_score",
                           keras.metrics.SpecificityAtSensitivity(0.5), "mae"])
    from pynn.training import _Metrics
    ys = [y[:, None]]
    metrics = _Metrics(model, ys)
    out = model.predict(x, verbose=0)
    metrics.update([out], ys, [None], False, 1.0, [1.0], 64)
    before = metrics.logs()
    metrics.reduce(_SummingComm())
    after = metrics.logs()
    np.testing.assert_allclose(after["true_positives"], 2 * np.asarray(before["true_positives"]))
    for key in ("precision", "AUC", "r2_score", "specificity_at_sensitivity", "mae", "loss"):
        assert after[key] == pytest.approx(before[key], rel=1e-6), key


def test_confusion_metrics_refuse_bad_arguments():
    with pytest.raises(ValueError, match="thresholds"):
        keras.metrics.TruePositives(thresholds=[0.2, 1.5])
    with pytest.raises(ValueError, match="recall"):
        keras.metrics.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="num_thresholds"):
        keras.metrics.RecallAtPrecision(0.5, num_thresholds=0)
    with pytest.raises(ValueError, match="class_aggregation"):
        keras.metrics.R2Score(class_aggregation="median")
    with pytest.raises(ValueError, match="R2Score"):
        keras.metrics.R2Score().update_state(np.zeros(3), np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="TruePositives"):
        keras.metrics.TruePositives().update_state(np.zeros(3), np.zeros(4))


# ------------------------------------------------------------------ losses

LOSS_CASES = [("CategoricalHinge", {}, "onehot"), ("CosineSimilarity", {}, "regression"),
              ("BinaryFocalCrossentropy", {}, "binary"),
              ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4,
                                           "gamma": 1.5, "label_smoothing": 0.1}, "binary"),
              ("BinaryFocalCrossentropy", {"from_logits": True, "gamma": 3.0}, "binary"),
              ("CategoricalFocalCrossentropy", {}, "onehot"),
              ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 1.0, "from_logits": True,
                                                "label_smoothing": 0.2}, "onehot")]


def _loss_data(target):
    labels, onehot, p, w = _probabilities(9, n=10, cols=3)
    y_true = {"onehot": onehot, "binary": (p > 0.3).astype("float32"),
              "regression": _regression(n=10, cols=3)[0]}[target]
    return y_true, p, w


@pytest.mark.parametrize("name,kwargs,target", LOSS_CASES)
def test_losses_match_keras(keras_ref, name, kwargs, target):
    y_true, y_pred, w = _loss_data(target)
    for reduction in ("sum_over_batch_size", "sum", "none"):
        ours = getattr(keras.losses, name)(reduction=reduction, **kwargs)
        theirs = getattr(keras_ref.losses, name)(reduction=reduction, **kwargs)
        for weights in (None, w):
            np.testing.assert_allclose(ours(y_true, y_pred, sample_weight=weights),
                                       np.asarray(theirs(y_true, y_pred, sample_weight=weights)),
                                       rtol=2e-5, atol=1e-7)
    fn_name = keras.losses._CLASS_TO_NAME[getattr(keras.losses, name)]
    fn_kwargs = {k: v for k, v in kwargs.items()}
    np.testing.assert_allclose(getattr(keras.losses, fn_name)(y_true, y_pred, **fn_kwargs),
                               np.asarray(getattr(keras_ref.losses, fn_name)(y_true, y_pred,
                                                                             **fn_kwargs)),
                               rtol=2e-5, atol=1e-7)
    assert keras.losses.get(fn_name) is getattr(keras.losses, fn_name)   # as Keras
    config = getattr(keras.losses, name)(**kwargs).get_config()
    want = getattr(keras_ref.losses, name)(**kwargs).get_config()
    assert _without_dtype_and_axis(config, name) == _without_dtype_and_axis(want, name)
    assert getattr(keras.losses, name).from_config(config).get_config() == config
    assert type(keras.losses.get(name)).__name__ == name


@pytest.mark.parametrize("name,kwargs,target", LOSS_CASES)
def test_loss_gradients(name, kwargs, target):
    keras.utils.set_random_seed(3)
    logits = kwargs.get("from_logits")
    act = None if logits or target == "regression" else \
        "sigmoid" if target == "binary" else "softmax"
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation=act)])
    model.compile(loss=getattr(keras.losses, name)(**kwargs), optimizer="sgd")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4)).astype("float32")
    y_true = _loss_data(target)[0][:5]
    check_model_gradients(model, x, y_true)


def test_focal_losses_train_compile_by_name_and_save(tmp_path, keras_ref):
    x, y = _fraud_data(96)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True,
                                                            gamma=2.0),
                  metrics=["AUC"])
    h = model.fit(x, y, epochs=5, verbose=0).history
    assert h["loss"][-1] < h["loss"][0]
    for suffix in (".keras", ".pynn"):
        model.save(tmp_path / f"f{suffix}")
        again = keras.models.load_model(tmp_path / f"f{suffix}")
        assert again.loss.get_config() == model.loss.get_config()
    theirs = keras_ref.models.load_model(tmp_path / "f.keras")
    assert theirs.loss.get_config()["apply_class_balancing"] is True
    model.compile(optimizer="sgd", loss="categorical_hinge")
    assert type(model.loss).__name__ == "CategoricalHinge"


def test_focal_losses_refuse_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        keras.losses.BinaryFocalCrossentropy(gamma=-1.0)
    with pytest.raises(ValueError, match="axis"):
        keras.losses.CategoricalFocalCrossentropy(axis=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        keras.losses.CategoricalFocalCrossentropy(label_smoothing=2.0)


# -------------------------------------------------------------- optimizers

OPTIMIZER_CASES = [("Lion", {}), ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9}),
                   ("Lion", {"weight_decay": 0.1, "clipnorm": 1.0}),
                   ("Ftrl", {}), ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.05,
                                           "l2_regularization_strength": 0.1}),
                   ("Ftrl", {"learning_rate": 0.05, "learning_rate_power": -0.3,
                             "initial_accumulator_value": 0.5, "beta": 0.2,
                             "l2_shrinkage_regularization_strength": 0.1})]


def _steps(make, backend, steps=6):
    rng = np.random.default_rng(0)
    w0 = [rng.normal(size=(7,)).astype("float32"), rng.normal(size=(3, 2)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") * 3 for w in w0] for _ in range(steps)]
    if backend is not keras:
        vs = [backend.Variable(w.copy()) for w in w0]
        opt = make(backend)
        out = []
        for g in grads:
            opt.apply(g, vs)
            out.append([np.asarray(v).copy() for v in vs])
        return out
    opt = make(keras)
    flat = np.concatenate([w.reshape(-1) for w in w0])
    out = []
    for g in grads:
        opt.apply(flat, np.concatenate([x.reshape(-1) for x in g]), sizes=[7, 6])
        out.append([flat[:7].copy(), flat[7:].reshape(3, 2).copy()])
    return out


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES)
def test_optimizer_steps_match_keras(keras_ref, name, kwargs):
    def make(k):
        return getattr(k.optimizers, name)(**kwargs)
    for step, (ours, theirs) in enumerate(zip(_steps(make, keras), _steps(make, keras_ref))):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"step {step}")


def _lion_reference(w, grads, lr, beta_1, beta_2):
    """Chen et al.'s Algorithm 2 in float64."""
    w, m = w.astype(np.float64), np.zeros(w.shape)
    for g in grads:
        w = w - lr * np.sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g
    return w


def _ftrl_reference(w, grads, lr, power, acc0, l1, l2):
    """McMahan et al.'s per-coordinate FTRL-Proximal in float64."""
    n, z = np.full(w.shape, acc0), np.zeros(w.shape)
    w = w.astype(np.float64)
    for g in grads:
        sigma = ((n + g * g) ** -power - n ** -power) / lr
        z = z + g - sigma * w
        n = n + g * g
        w = np.where(np.abs(z) <= l1, 0.0, -(z - np.sign(z) * l1) / (n ** -power / lr + 2 * l2))
    return w


def test_optimizers_follow_the_published_rules():
    rng = np.random.default_rng(4)
    w0 = rng.normal(size=33).astype("float32")
    grads = [rng.normal(size=33).astype("float32") for _ in range(5)]
    w = w0.copy()
    opt = keras.optimizers.Lion(learning_rate=0.01, beta_1=0.8, beta_2=0.95)
    for g in grads:
        opt.apply(w, g.copy())
    np.testing.assert_allclose(w, _lion_reference(w0, grads, 0.01, 0.8, 0.95), atol=1e-6)
    w = w0.copy()
    opt = keras.optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=1.5,
                                l2_regularization_strength=0.05)
    for g in grads:
        opt.apply(w, g.copy())
    np.testing.assert_allclose(w, _ftrl_reference(w0, grads, 0.1, -0.5, 0.1, 1.5, 0.05),
                               rtol=1e-5, atol=1e-6)
    assert np.any(w == 0)  # l1 zeroes some weights exactly


@pytest.mark.parametrize("name", ["lion", "ftrl"])
def test_optimizers_train_save_and_reload(tmp_path, keras_ref, name):
    x, y = _fraud_data(64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(4, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    opt = keras.optimizers.get(name)
    opt.learning_rate = 0.01 if name == "lion" else 0.5
    model.compile(optimizer=opt, loss="binary_crossentropy")
    h = model.fit(x, y, epochs=6, batch_size=16, verbose=0).history["loss"]
    assert h[-1] < h[0]
    for suffix in (".keras", ".pynn", ".h5"):
        model.save(tmp_path / f"o{suffix}")
        again = keras.models.load_model(tmp_path / f"o{suffix}")
        assert type(again.optimizer) is type(opt)
        assert again.optimizer.get_config() == opt.get_config()
        assert again.optimizer.iterations == opt.iterations
        for a, b in zip(again.optimizer.variables, opt.variables, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy())
    theirs = keras_ref.models.load_model(tmp_path / "o.keras")
    assert type(theirs.optimizer).__name__ == type(opt).__name__
    assert int(theirs.optimizer.iterations) == opt.iterations


def test_optimizers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="beta_1"):
        keras.optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="learning_rate_power"):
        keras.optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="l1_regularization_strength"):
        keras.optimizers.Ftrl(l1_regularization_strength=-1.0)
