"""keras.saving's registration and object serialization: register_keras_serializable's
'package>name' keys, get_registered_name / get_registered_object, and
serialize_keras_object / deserialize_keras_object, against Keras 3 (NumPy
backend): the same configs, read by both."""
import numpy as np
import pytest

import pynn
from pynn import layers, saving

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def registry():
    """The registered objects, restored after the test."""
    table = saving.get_custom_objects()
    saved = dict(table)
    yield table
    table.clear()
    table.update(saved)


def define(api, package, name=None):
    @api.saving.register_keras_serializable(package, name)
    class Scale(api.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    @api.saving.register_keras_serializable(package)
    def double(x):
        return x * 2

    return Scale, double


@pytest.mark.parametrize("name", [None, "Scaler"])
def test_registration_keys_match_keras(keras, registry, name):
    ours, our_fn = define(pynn, "pkg_ours", name)
    theirs, their_fn = define(keras, "pkg_theirs", name)
    want = keras.saving.get_registered_name(theirs).replace("pkg_theirs", "pkg_ours")
    assert saving.get_registered_name(ours) == want == f"pkg_ours>{name or 'Scale'}"
    assert saving.get_registered_name(our_fn) == "pkg_ours>double"
    assert saving.get_registered_object(want) is ours
    assert saving.get_registered_object("pkg_ours>double") is our_fn
    assert want in registry and "Scale" not in registry  # only 'package>name', as Keras
    assert (want.replace("pkg_ours", "pkg_theirs") in keras.saving.get_custom_objects())
    # unregistered: the object's own name; unknown names: None
    assert saving.get_registered_name(layers.Dense) == "Dense"
    assert saving.get_registered_object("nope>Nothing") is None
    assert saving.get_registered_object("x", custom_objects={"x": ours}) is ours
    assert saving.get_registered_object("x", module_objects={"x": our_fn}) is our_fn
    assert pynn.utils.get_registered_name is saving.get_registered_name


def test_registration_refuses_what_keras_refuses(keras, registry):
    class NoConfig:
        pass
    for api in (pynn, keras):
        with pytest.raises(ValueError, match="get_config"):
            api.saving.register_keras_serializable("p")(NoConfig)
    with pytest.raises(ValueError, match="package must be a non-empty string without '>'"):
        saving.register_keras_serializable("a>b")
    with pytest.raises(ValueError, match="name must be"):
        saving.register_keras_serializable("p", name=3)


def test_a_registered_layer_round_trips_and_keras_reads_it(keras, registry):
    ours, our_fn = define(pynn, "pkg_rt", "Scaler")
    theirs, _ = define(keras, "pkg_rt", "Scaler")
    config = saving.serialize_keras_object(ours(factor=3.0, name="s"))
    assert config["registered_name"] == "pkg_rt>Scaler"
    assert config["class_name"] == "Scale" and config["config"]["factor"] == 3.0
    back = saving.deserialize_keras_object(config)
    assert type(back) is ours and back.factor == 3.0 and back.name == "s"
    assert type(keras.saving.deserialize_keras_object(config)) is theirs
    fn = saving.serialize_keras_object(our_fn)
    assert fn["class_name"] == "function" and fn["registered_name"] == "pkg_rt>double"
    assert saving.deserialize_keras_object(fn) is our_fn
    # a model holding the custom layer, through a file and back
    model = pynn.Sequential([pynn.Input(shape=(2,)), ours(factor=5.0)])
    again = saving.deserialize_keras_object(saving.serialize_keras_object(model))
    x = np.ones((1, 2), np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), x * 5.0)


OBJECTS = {
    "Dense": lambda k: k.layers.Dense(3, activation="relu", name="d"),
    "Conv2D": lambda k: k.layers.Conv2D(4, 3, padding="same", name="c"),
    "MeanSquaredError": lambda k: k.losses.MeanSquaredError(),
    "CategoricalCrossentropy": lambda k: k.losses.CategoricalCrossentropy(from_logits=True),
    "Huber": lambda k: k.losses.Huber(delta=2.0),
    "Adam": lambda k: k.optimizers.Adam(learning_rate=0.5),
    "SGD": lambda k: k.optimizers.SGD(learning_rate=0.5, momentum=0.9),
    "GlorotUniform": lambda k: k.initializers.GlorotUniform(seed=1),
    "L2": lambda k: k.regularizers.L2(0.1),
    "MaxNorm": lambda k: k.constraints.MaxNorm(2.0),
    "CategoricalAccuracy": lambda k: k.metrics.CategoricalAccuracy(),
    "ExponentialDecay": lambda k: k.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9),
}


@pytest.mark.parametrize("get", [lambda k: k.activations.relu, lambda k: k.activations.gelu,
                                 lambda k: k.losses.mean_squared_error,
                                 lambda k: k.losses.categorical_crossentropy])
def test_public_functions_match_keras_and_read_both_ways(keras, get):
    ours = saving.serialize_keras_object(get(pynn))
    assert ours == keras.saving.serialize_keras_object(get(keras))
    assert saving.deserialize_keras_object(ours) is get(pynn)
    assert keras.saving.deserialize_keras_object(ours) is get(keras)


@pytest.mark.parametrize("name", list(OBJECTS))
def test_builtin_objects_match_keras_and_read_both_ways(keras, name):
    ours = saving.serialize_keras_object(OBJECTS[name](pynn))
    theirs = keras.saving.serialize_keras_object(OBJECTS[name](keras))
    for key in ("module", "class_name", "registered_name"):
        assert ours[key] == theirs[key]
    # pynn's config holds Keras's settings pynn has, with Keras's values
    for key, value in ours["config"].items():
        # (Keras numbers the names of objects made twice: 'adam_1')
        if key in theirs["config"] and key != "name" and not isinstance(value, dict):
            assert value == pytest.approx(theirs["config"][key]), key
    for config in (ours, theirs):
        back = saving.deserialize_keras_object(config)
        assert type(back).__name__ == name
        assert type(keras.saving.deserialize_keras_object(config)).__name__ == name
    assert saving.serialize_keras_object(saving.deserialize_keras_object(ours)) == ours


def test_plain_values_match_keras(keras):
    value = {"a": (1, 2.5, "s"), "b": [b"bytes", None, True], "d": {"e": [3]}}
    ours = saving.serialize_keras_object(value)
    assert ours == keras.saving.serialize_keras_object(value)
    assert saving.deserialize_keras_object(ours) == value
    # NumPy scalars become numbers, as Keras writes them on its other
    # backends (on the NumPy backend they are tensors)
    assert saving.serialize_keras_object([np.float32(1.5), np.int64(3)]) == [1.5, 3]
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    config = saving.serialize_keras_object(array)
    assert config["config"] == {"value": [[0, 1, 2], [3, 4, 5]], "dtype": "int32"}
    for c in (config, keras.saving.serialize_keras_object(array)):
        back = saving.deserialize_keras_object(c)
        assert back.dtype == np.int32 and np.array_equal(back, array)


def test_what_cannot_be_read_is_refused():
    with pytest.raises(ValueError, match="unknown class 'Mystery'"):
        saving.deserialize_keras_object({"module": "mine", "class_name": "Mystery",
                                         "config": {}, "registered_name": "mine>Mystery"})
    with pytest.raises(ValueError, match="Safe mode does not import"):
        saving.deserialize_keras_object({"module": "os", "class_name": "function",
                                         "config": "system", "registered_name": "system"})
    with pytest.raises(TypeError, match="cannot serialize object objects"):
        saving.serialize_keras_object(object())
    with pytest.raises(TypeError, match="cannot read a config of type set"):
        saving.deserialize_keras_object({1, 2})
    found = saving.deserialize_keras_object(
        {"module": "mine", "class_name": "Mystery", "config": {"units": 2},
         "registered_name": None}, custom_objects={"Mystery": layers.Dense})
    assert isinstance(found, layers.Dense) and found.units == 2
