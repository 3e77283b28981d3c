"""Names that Keras programs reach for: the activations with no kernel of
their own, lowercase initializer aliases, keras.config, the top-level base
classes, keras.models.save_model, keras.ops additions, utils.Progbar."""
import io
import math

import numpy as np
import pytest

import pynn as keras
from pynn import layers
from gradcheck import check_model_gradients

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("name", ["selu", "gelu", "exponential", "mish"])
def test_composed_activations_match_keras(keras_ref, name):
    x = np.random.default_rng(0).normal(size=(5, 7)).astype("float32") * 3
    ours = getattr(keras.activations, name)(x)
    theirs = np.asarray(getattr(keras_ref.activations, name)(x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=3e-7)


def test_gelu_approximate_matches_keras(keras_ref):
    x = np.linspace(-5, 5, 41, dtype=np.float32)
    np.testing.assert_allclose(keras.activations.gelu(x, approximate=True),
                               np.asarray(keras_ref.activations.gelu(x, approximate=True)),
                               rtol=1e-5, atol=3e-7)


def test_erf_values():
    x = np.linspace(-4, 4, 33)
    np.testing.assert_allclose(keras.ops.erf(x), [math.erf(v) for v in x], atol=2e-7)


@pytest.mark.parametrize("name", ["selu", "gelu", "exponential", "mish"])
def test_composed_activation_gradients(name):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation=name),
                              layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    x = np.random.default_rng(2).normal(size=(5, 3)).astype("float32")
    check_model_gradients(model, x, x[:, :1])


def test_selu_network_trains_saves_and_loads_by_name(tmp_path):
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([
        keras.Input((4,)),
        layers.Dense(16, activation="selu", kernel_initializer="lecun_normal"),
        layers.Dense(16, activation=keras.activations.gelu),
        layers.Dense(1)])
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.01))
    losses = model.fit(x, y, epochs=20, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    assert model.layers[0].get_config()["activation"] == "selu"
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))


def test_lowercase_initializer_aliases():
    a = keras.initializers.he_normal(seed=3)((50, 40))
    b = keras.initializers.HeNormal(seed=3)((50, 40))
    np.testing.assert_array_equal(a, b)
    assert isinstance(keras.initializers.glorot_uniform(), keras.initializers.GlorotUniform)


def test_config_and_top_level_names(tmp_path):
    assert keras.config.floatx() == "float32"
    assert keras.config.image_data_format() == "channels_last"
    assert keras.config.backend() == "numpy"
    assert keras.version() == keras.__version__
    assert keras.Layer is layers.Layer and keras.Loss is keras.losses.Loss
    assert keras.Metric is keras.metrics.Metric and keras.Optimizer is keras.optimizers.Optimizer
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    keras.models.save_model(model, tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "m.keras").get_weights()[0],
                                  model.get_weights()[0])


def test_ops_additions():
    ops = keras.ops
    assert ops.arange(5).dtype == np.int32 and ops.arange(0.0, 1.0, 0.25).dtype == np.float32
    assert bool(ops.any(np.array([0, 0, 1]))) and not bool(ops.all(np.array([0, 1])))
    np.testing.assert_array_equal(ops.all(np.array([[1, 0], [1, 1]]), axis=1), [False, True])
    assert isinstance(ops.convert_to_numpy([1.0, 2.0]), np.ndarray)


def test_progbar_averages_values_as_keras_does():
    out = io.StringIO()
    bar = keras.utils.Progbar(4, verbose=1, stateful_metrics=["acc"], stream=out)
    bar.update(1, values=[("loss", 1.0), ("acc", 0.5)])
    bar.update(3, values=[("loss", 3.0), ("acc", 0.75)])  # covers steps 2 and 3
    bar.add(1, values=[("loss", 5.0), ("acc", 1.0)])
    last = out.getvalue().strip().splitlines()[-1]
    # loss: (1*1 + 3*2 + 5*1) / 4 = 3; acc as given
    assert "4/4" in last and "loss: 3.0000" in last and "acc: 1.0000" in last
