"""Keras 3's names pynn lacked in losses (Dice, Tversky, Circle,
CategoricalGeneralizedCrossEntropy), metrics (hinge, Poisson, percentage
and logarithmic errors, correlations, one-hot IoUs, the function forms),
activations, initializers (TruncatedNormal, Identity, STFT), regularizers
(OrthogonalRegularizer) and each module's deserialize: values against
Keras 3 on its NumPy backend, gradients by finite differences, configs,
string names and saving."""
import re

import numpy as np
import pytest

import pynn as keras
from pynn import layers
from gradcheck import analytic, check_model_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")

NAMES = {
    "losses": ["CTC", "ctc", "Dice", "dice", "Tversky", "tversky", "Circle", "circle",
               "CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy",
               "deserialize"],
    "metrics": ["Hinge", "SquaredHinge", "CategoricalHinge", "Poisson",
                "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
                "PearsonCorrelation", "ConcordanceCorrelation", "OneHotIoU", "OneHotMeanIoU",
                "binary_crossentropy", "categorical_crossentropy",
                "sparse_categorical_crossentropy", "binary_focal_crossentropy",
                "categorical_focal_crossentropy", "hinge", "squared_hinge",
                "categorical_hinge", "huber", "kl_divergence", "log_cosh", "poisson",
                "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
                "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
                "pearson_correlation", "concordance_correlation", "deserialize"],
    "activations": ["celu", "glu", "hard_shrink", "hard_tanh", "log_sigmoid", "log_softmax",
                    "soft_shrink", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
                    "squareplus", "tanh_shrink", "threshold", "deserialize"],
    "initializers": ["TruncatedNormal", "truncated_normal", "Identity", "IdentityInitializer",
                     "identity", "OrthogonalInitializer", "STFT", "STFTInitializer",
                     "deserialize"],
    "regularizers": ["OrthogonalRegularizer", "orthogonal_regularizer", "deserialize"],
    "constraints": ["deserialize"],
}


def test_the_names_exist_in_keras_and_pynn(keras_ref):
    for module, names in NAMES.items():
        for name in names:
            assert hasattr(getattr(keras_ref, module), name), (module, name)
            assert hasattr(getattr(keras, module), name), (module, name)


# ------------------------------------------------------------------ losses

def _segmentation(seed=0):
    rng = np.random.default_rng(seed)
    y_true = (rng.uniform(size=(4, 3, 3, 2)) > 0.5).astype("float32")
    y_pred = rng.uniform(size=(4, 3, 3, 2)).astype("float32")
    return y_true, y_pred, rng.uniform(0, 2, size=4).astype("float32")


def _embeddings(seed=0, n=8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array([0, 1, 0, 2, 1, 3, 0, 1])[:n]   # 2 and 3 have no positive pair
    return labels, x, rng.uniform(0, 2, size=n).astype("float32")


def _probabilities(seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 1, size=(6, 4)).astype("float32")
    return rng.integers(0, 4, size=6), p / p.sum(axis=1, keepdims=True), \
        rng.uniform(0, 2, size=6).astype("float32")


LOSS_CASES = [
    ("Dice", {}, _segmentation), ("Dice", {"axis": (1, 2, 3)}, _segmentation),
    ("Tversky", {}, _segmentation),
    ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": (1, 2, 3)}, _segmentation),
    ("Circle", {}, _embeddings), ("Circle", {"gamma": 10.0, "margin": 0.25}, _embeddings),
    ("Circle", {"remove_diagonal": False}, _embeddings),
    ("CategoricalGeneralizedCrossEntropy", {}, _probabilities),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.8}, _probabilities),
]
FUNCTIONS = {"Dice": "dice", "Tversky": "tversky", "Circle": "circle",
             "CategoricalGeneralizedCrossEntropy": "categorical_generalized_cross_entropy"}


@pytest.mark.parametrize("name,kwargs,data", LOSS_CASES)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", None])
def test_losses_match_keras(keras_ref, name, kwargs, data, reduction):
    y_true, y_pred, w = data()
    ours = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras_ref.losses, name)(reduction=reduction, **kwargs)
    for weights in (None, w):
        got = ours(y_true, y_pred, sample_weight=weights)
        want = np.asarray(theirs(y_true, y_pred, sample_weight=weights))
        np.testing.assert_allclose(np.broadcast_to(got, want.shape), want, rtol=1e-5,
                                   atol=1e-6)
    config = ours.get_config()
    assert config == theirs.get_config()
    assert getattr(keras.losses, name).from_config(config).get_config() == config
    fn_kwargs = {"q": 0.5} if name == "CategoricalGeneralizedCrossEntropy" else {}
    fn_kwargs.update({k: v for k, v in kwargs.items()})
    np.testing.assert_allclose(
        getattr(keras.losses, FUNCTIONS[name])(y_true, y_pred, **fn_kwargs),
        np.asarray(getattr(keras_ref.losses, FUNCTIONS[name])(y_true, y_pred, **fn_kwargs)),
        rtol=1e-5, atol=1e-6)


def test_loss_arguments_are_checked():
    with pytest.raises(ValueError, match=r"q must be in the interval \(0, 1\)"):
        keras.losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(ValueError, match=r"circle: y_pred must be embeddings of shape"):
        keras.losses.circle(np.arange(3), np.zeros((4, 2), "float32"))


@pytest.mark.parametrize("name,kwargs,target", [
    ("Dice", {}, "binary"), ("Tversky", {"alpha": 0.2, "beta": 0.8}, "binary"),
    ("Circle", {"gamma": 4.0}, "embedding"), ("CategoricalGeneralizedCrossEntropy", {},
                                              "sparse")])
def test_loss_gradients(name, kwargs, target):
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4)).astype("float32")
    if target == "embedding":
        y = np.array([0, 1, 0, 1, 2, 2])
        model = keras.Sequential([keras.Input((4,)), layers.Dense(3),
                                  layers.UnitNormalization()])
    else:
        act = "softmax" if target == "sparse" else "sigmoid"
        y = rng.integers(0, 3, size=6) if target == "sparse" else \
            (rng.uniform(size=(6, 3)) > 0.5).astype("float32")
        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation=act)])
    model.compile(loss=getattr(keras.losses, name)(**kwargs), optimizer="sgd")
    check_model_gradients(model, x, y)


def test_new_losses_compile_by_name_train_and_save(tmp_path, keras_ref):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, :2] > 0).astype("float32")
    for loss in ("dice", "tversky", "Dice", keras.losses.Tversky(alpha=0.3, beta=0.7)):
        model = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="sigmoid")])
        model.compile(loss=loss, optimizer="adam", metrics=["hinge", "pearson_correlation"])
        history = model.fit(x, y, epochs=5, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]
        assert set(history.history) == {"loss", "hinge", "pearson_correlation"}
    path = tmp_path / "tversky.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored.loss).__name__ == "Tversky" and restored.loss.alpha == 0.3
    np.testing.assert_allclose(restored.evaluate(x, y, verbose=0), model.evaluate(x, y,
                                                                                   verbose=0),
                               rtol=1e-6)
    theirs = keras_ref.models.load_model(path)
    assert type(theirs.loss).__name__ == "Tversky"


def test_losses_deserialize(keras_ref):
    for config in ("Dice", {"class_name": "Tversky", "config": {"alpha": 0.1, "beta": 0.9,
                                                               "axis": None, "name": "t",
                                                               "reduction": "sum"}},
                   keras.losses.serialize(keras.losses.Circle(gamma=3.0))):
        ours = keras.losses.deserialize(config)
        theirs = keras_ref.losses.deserialize(config)
        assert type(ours).__name__ == type(theirs).__name__ == \
            (config if isinstance(config, str) else config["class_name"])
        assert ours.get_config() == theirs.get_config()
    assert keras.losses.deserialize("dice") is keras.losses.dice
    with pytest.raises(ValueError, match="Unknown loss"):
        keras.losses.deserialize("no_such_loss")


# ----------------------------------------------------------------- metrics

def _regression(seed=0, n=9, cols=3):
    rng = np.random.default_rng(seed)
    y_true = rng.uniform(0.1, 3, size=(n, cols)).astype("float32")
    y_pred = (y_true + rng.normal(0, 0.5, size=(n, cols))).astype("float32")
    return y_true, np.abs(y_pred), rng.uniform(0, 2, size=n).astype("float32")


def _hinge(seed=0, n=9, cols=3):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, size=(n, cols)).astype("float32")
    return y_true, rng.normal(size=(n, cols)).astype("float32"), \
        rng.uniform(0, 2, size=n).astype("float32")


def _one_hot(seed=0, n=9, cols=3):
    rng = np.random.default_rng(seed)
    y_true = np.eye(cols, dtype="float32")[rng.integers(0, cols, size=n)]
    return y_true, rng.normal(size=(n, cols)).astype("float32"), \
        rng.uniform(0, 2, size=n).astype("float32")


METRIC_CASES = [
    ("Hinge", {}, _hinge), ("SquaredHinge", {}, _hinge), ("CategoricalHinge", {}, _one_hot),
    ("Poisson", {}, _regression), ("MeanAbsolutePercentageError", {}, _regression),
    ("MeanSquaredLogarithmicError", {}, _regression), ("PearsonCorrelation", {}, _regression),
    ("ConcordanceCorrelation", {}, _regression),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [0, 2]}, _one_hot),
    ("OneHotMeanIoU", {"num_classes": 3}, _one_hot),
    ("OneHotMeanIoU", {"num_classes": 3, "ignore_class": 1}, _one_hot),
]


@pytest.mark.parametrize("name,kwargs,data", METRIC_CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_metrics_match_keras(keras_ref, name, kwargs, data, weighted):
    y_true, y_pred, w = data()
    ours = getattr(keras.metrics, name)(**kwargs)
    theirs = getattr(keras_ref.metrics, name)(**kwargs)
    for part in np.array_split(np.arange(len(y_true)), 2):
        sw = w[part] if weighted else None
        ours.update_state(y_true[part], y_pred[part], sample_weight=sw)
        theirs.update_state(y_true[part], y_pred[part], sample_weight=sw)
    np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-5,
                               atol=1e-6)
    assert ours.name == re.sub(r"_\d+$", "", theirs.name)   # Keras numbers its IoUs
    config, want = ours.get_config(), theirs.get_config()
    assert {k: v for k, v in config.items() if k not in ("dtype", "name")} == \
        {k: v for k, v in want.items() if k not in ("dtype", "name")}
    assert getattr(keras.metrics, name).from_config(config).get_config() == config
    ours.reset_state()
    assert ours.result() == 0


METRIC_FUNCTIONS = [
    ("hinge", {}, _hinge), ("squared_hinge", {}, _hinge), ("categorical_hinge", {}, _one_hot),
    ("poisson", {}, _regression), ("mean_absolute_percentage_error", {}, _regression),
    ("mean_squared_logarithmic_error", {}, _regression), ("huber", {"delta": 0.5},
                                                          _regression),
    ("kl_divergence", {}, _regression), ("log_cosh", {}, _regression),
    ("binary_crossentropy", {}, lambda: _hinge()[:1] + (np.full((9, 3), 0.3, "float32"),)),
    ("categorical_crossentropy", {}, lambda: _one_hot()[:1] + (
        np.full((9, 3), 1 / 3, "float32"),)),
    ("sparse_categorical_crossentropy", {}, lambda: (np.arange(9) % 3, np.full(
        (9, 3), 1 / 3, "float32"))),
    ("binary_focal_crossentropy", {}, lambda: _hinge()[:1] + (
        np.full((9, 3), 0.3, "float32"),)),
    ("categorical_focal_crossentropy", {}, lambda: _one_hot()[:1] + (
        np.full((9, 3), 0.25, "float32"),)),
    ("top_k_categorical_accuracy", {"k": 2}, _one_hot),
    ("sparse_top_k_categorical_accuracy", {"k": 2}, lambda: (np.arange(9) % 3,
                                                             _one_hot()[1])),
    ("sparse_top_k_categorical_accuracy", {"k": 2, "from_sorted_ids": True},
     lambda: (np.arange(9) % 3, np.argsort(-_one_hot()[1], axis=1).astype("float32"))),
    ("pearson_correlation", {}, _regression), ("concordance_correlation", {}, _regression),
    ("pearson_correlation", {"axis": 0}, _regression),
]


@pytest.mark.parametrize("name,kwargs,data", METRIC_FUNCTIONS)
def test_metric_functions_match_keras(keras_ref, name, kwargs, data):
    y_true, y_pred = data()[:2]
    got = getattr(keras.metrics, name)(y_true, y_pred, **kwargs)
    want = np.asarray(getattr(keras_ref.metrics, name)(y_true, y_pred, **kwargs))
    assert np.shape(got) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alias", ["hinge", "squared_hinge", "categorical_hinge", "poisson",
                                   "mape", "MAPE", "msle", "mean_absolute_percentage_error",
                                   "MeanSquaredLogarithmicError", "pearson_correlation",
                                   "ConcordanceCorrelation"])
def test_metric_names_compile_as_keras(keras_ref, alias):
    ours = keras.metrics.get(alias)
    theirs = keras_ref.metrics.get(alias)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.name == theirs.name
    assert type(keras.metrics.deserialize(alias)).__name__ == type(theirs).__name__


def test_metrics_deserialize_and_save(tmp_path, keras_ref):
    for metric in (keras.metrics.OneHotIoU(3, [1], name="iou1"),
                   keras.metrics.PearsonCorrelation(axis=0), keras.metrics.Poisson()):
        config = keras.metrics.serialize(metric)
        ours = keras.metrics.deserialize(config)
        theirs = keras_ref.metrics.deserialize(config)
        assert type(ours) is type(metric) and type(theirs).__name__ == type(metric).__name__
        assert ours.get_config() == metric.get_config()
    with pytest.raises(ValueError, match="unknown metric 'nothing'"):
        keras.metrics.deserialize("nothing")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="sgd",
                  metrics=[keras.metrics.OneHotMeanIoU(3), "categorical_hinge",
                           keras.metrics.ConcordanceCorrelation()])
    y_true, x, _ = _one_hot()
    before = model.evaluate(x, y_true, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored.evaluate(x, y_true, verbose=0), before, rtol=1e-6)
    keras_model = keras_ref.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras_model.evaluate(x, y_true, verbose=0), before, rtol=1e-4)


# ------------------------------------------------------------- activations

ACTIVATIONS = [("celu", {}), ("celu", {"alpha": 0.5}), ("glu", {}), ("hard_shrink", {}),
               ("hard_shrink", {"threshold": 1.0}), ("hard_tanh", {}), ("log_sigmoid", {}),
               ("log_softmax", {}), ("soft_shrink", {}), ("softsign", {}),
               ("sparse_plus", {}), ("sparse_sigmoid", {}), ("squareplus", {}),
               ("squareplus", {"b": 1}), ("tanh_shrink", {}),
               ("threshold", {"threshold": 0.2, "default_value": -1.0})]


@pytest.mark.parametrize("name,kwargs", ACTIVATIONS)
def test_activations_match_keras(keras_ref, name, kwargs):
    x = np.linspace(-3, 3, 24, dtype="float32").reshape(3, 8)
    x[0, :3] = [-1.0, 1.0, 0.5]   # the pieces' edges
    np.testing.assert_allclose(getattr(keras.activations, name)(x, **kwargs),
                               np.asarray(getattr(keras_ref.activations, name)(x, **kwargs)),
                               rtol=1e-5, atol=1e-6)


def test_sparsemax_is_keras_s_in_activations_and_ops(keras_ref):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 6)).astype("float32")
    want = np.asarray(keras_ref.activations.sparsemax(z))
    np.testing.assert_allclose(keras.activations.sparsemax(z), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.sparsemax(z), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.activations.sparsemax(z.T, axis=0), want.T, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("name", ["celu", "hard_shrink", "hard_tanh", "log_sigmoid",
                                  "log_softmax", "soft_shrink", "softsign", "sparse_plus",
                                  "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink"])
def test_activation_strings_train_with_gradients(name):
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3)).astype("float32")
    y = rng.normal(size=(5, 2)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation=name),
                              layers.Dense(2)])
    model.compile(loss="mse", optimizer="sgd")
    # finite differences step over the pieces' kinks only rarely: keep
    # the check away from them by the weights the seed draws
    check_model_gradients(model, x, y)
    assert model.layers[0].get_config()["activation"] == name


def test_tflite_refuses_them_naming_the_layer():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="celu",
                                                              name="celu_dense"),
                              layers.Activation("sparsemax")])
    converter = keras.lite.TFLiteConverter.from_keras_model(model)
    with pytest.raises(keras.lite.ConversionError, match=r"Layer 'celu_dense' .*celu"):
        converter.convert()


def test_activations_deserialize(keras_ref):
    for name in ("celu", "sparsemax", "relu"):
        assert keras.activations.deserialize(name) is getattr(keras.activations, name)
        assert keras_ref.activations.deserialize(name).__name__ == name
    config = {"module": "builtins", "class_name": "function", "config": "log_softmax",
              "registered_name": "function"}
    assert keras.activations.deserialize(config) is keras.activations.log_softmax
    with pytest.raises(ValueError, match="Unknown activation"):
        keras.activations.deserialize("no_such")


# -------------------------------------------- initializers and regularizers

def test_truncated_normal():
    init = keras.initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=3)
    values = init((200, 50))
    assert values.dtype == np.float32
    assert np.all(np.abs(values - 1.0) <= 1.0 + 1e-6)
    assert abs(values.mean() - 1.0) < 0.01 and 0.4 < values.std() < 0.46
    np.testing.assert_array_equal(values, keras.initializers.TruncatedNormal(
        mean=1.0, stddev=0.5, seed=3)((200, 50)))
    assert init.get_config() == {"mean": 1.0, "stddev": 0.5, "seed": 3}
    assert type(keras.initializers.get("truncated_normal")).__name__ == "TruncatedNormal"
    assert keras.initializers.truncated_normal is keras.initializers.TruncatedNormal


def test_identity_and_orthogonal_aliases(keras_ref):
    for shape in ((3, 3), (2, 5), (4, 2)):
        np.testing.assert_array_equal(
            keras.initializers.Identity(gain=2.0)(shape),
            np.asarray(keras_ref.initializers.Identity(gain=2.0)(shape)))
    assert keras.initializers.IdentityInitializer is keras.initializers.Identity
    assert keras.initializers.identity is keras.initializers.Identity
    assert keras.initializers.OrthogonalInitializer is keras.initializers.Orthogonal
    with pytest.raises(ValueError, match=r"Identity: .* 2-D shape, got \(2, 2, 2\)"):
        keras.initializers.Identity()((2, 2, 2))
    layer = layers.Dense(3, kernel_initializer="identity")
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.kernel.value, np.eye(3))


@pytest.mark.parametrize("kwargs", [{}, {"side": "imag"}, {"window": "hamming",
                                                           "scaling": "spectrum"},
                                    {"window": "hann", "periodic": True},
                                    {"window": None}, {"window": "blackman",
                                                       "scaling": None}])
def test_stft_matches_keras(keras_ref, kwargs):
    ours = keras.initializers.STFT(**kwargs)
    theirs = keras_ref.initializers.STFT(**kwargs)
    # Keras computes the angles in float32
    np.testing.assert_allclose(ours((16, 1, 9)), np.asarray(theirs((16, 1, 9))), rtol=1e-5,
                               atol=1e-5)
    assert ours.get_config() == theirs.get_config()
    assert keras.initializers.STFTInitializer is keras.initializers.STFT
    with pytest.raises(ValueError, match="STFT: unknown window 'kaiser7'"):
        keras.initializers.STFT(window="kaiser7")


def test_initializers_deserialize(keras_ref):
    for config in ("truncated_normal", {"class_name": "Identity", "config": {"gain": 3.0}},
                   {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 1.0,
                                                                "seed": 2}}):
        ours = keras.initializers.deserialize(config)
        theirs = keras_ref.initializers.deserialize(config)
        assert type(ours).__name__ == type(theirs).__name__
    with pytest.raises(ValueError, match="Unknown initializer 'Nothing'"):
        keras.initializers.deserialize({"class_name": "Nothing", "config": {}})


def _orthogonal_penalty(w, factor, mode):
    """The documented formula in float64."""
    w = np.asarray(w, np.float64)
    w = w if mode == "rows" else w.T
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)
    cos = unit @ unit.T
    n = len(cos)
    return factor * 0.5 * np.abs(cos - np.diag(np.diag(cos))).sum() / (n * (n - 1) / 2)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer_values_and_gradients(keras_ref, mode):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype("float32")
    ours = keras.regularizers.OrthogonalRegularizer(factor=0.1, mode=mode)
    np.testing.assert_allclose(float(ours(w)), _orthogonal_penalty(w, 0.1, mode), rtol=1e-5)
    if mode == "rows":
        # (Keras's NumPy backend normalizes columns along the wrong axis)
        theirs = keras_ref.regularizers.OrthogonalRegularizer(factor=0.1, mode=mode)
        np.testing.assert_allclose(float(ours(w)), float(theirs(w)), rtol=1e-5)
        assert ours.get_config() == pytest.approx(theirs.get_config())
    grad = np.zeros_like(w)
    value = ours.penalty(w, grad)
    np.testing.assert_allclose(value, _orthogonal_penalty(w, 0.1, mode), rtol=1e-5)
    want = np.zeros(w.shape)
    for index in np.ndindex(w.shape):
        up, down = w.astype(np.float64), w.astype(np.float64)
        up[index] += 1e-4
        down[index] -= 1e-4
        want[index] = (_orthogonal_penalty(up, 0.1, mode) -
                       _orthogonal_penalty(down, 0.1, mode)) / 2e-4
    np.testing.assert_allclose(grad, want, rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="mode must be 'rows' or 'columns'"):
        keras.regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match="must have rank 2"):
        ours(np.zeros((2, 2, 2), "float32"))


def test_orthogonal_regularizer_in_a_model_and_deserialize(tmp_path, keras_ref):
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    grads = []
    for reg in (None, "orthogonal_regularizer"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), layers.Dense(
            3, kernel_regularizer=reg,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.5, seed=1))])
        model.compile(loss="mse", optimizer="sgd")
        params, g = analytic(model, x, np.zeros((8, 3), "float32"))
        grads.append(g.copy())
    # the kernel's gradient gains the penalty's (checked above by finite
    # differences), the bias's does not
    kernel = params[:12].reshape(4, 3).copy()
    want = np.zeros((4, 3), "float32")
    keras.regularizers.OrthogonalRegularizer().penalty(kernel, want)
    np.testing.assert_allclose((grads[1] - grads[0])[:12].reshape(4, 3), want, atol=1e-6)
    np.testing.assert_array_equal(grads[1][12:], grads[0][12:])
    model.save(tmp_path / "o.keras")
    theirs = keras_ref.models.load_model(tmp_path / "o.keras")
    assert type(theirs.layers[0].kernel_regularizer).__name__ == "OrthogonalRegularizer"
    restored = keras.models.load_model(tmp_path / "o.keras")
    assert isinstance(restored.layers[0].kernel_regularizer,
                      keras.regularizers.OrthogonalRegularizer)
    config = {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.2,
                                                                "mode": "columns"}}
    assert keras.regularizers.deserialize(config).get_config() == \
        pytest.approx(keras_ref.regularizers.deserialize(config).get_config())
    assert isinstance(keras.regularizers.deserialize("l2"), keras.regularizers.L2)
    assert keras.constraints.deserialize("max_norm").get_config() == \
        keras_ref.constraints.deserialize("max_norm").get_config()
    assert isinstance(keras.constraints.deserialize(
        {"class_name": "NonNeg", "config": {}}), keras.constraints.NonNeg)
