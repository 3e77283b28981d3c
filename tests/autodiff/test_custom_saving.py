"""Lambda layers, custom activations, losses, metrics and layers in configs
and model files: functions are named, never stored as code; loading finds
them in custom_objects and, in safe mode, imports nothing a file names."""
import json

import numpy as np
import pytest

import pynn
from pynn import backend as K
from pynn import layers, ops
from pynn.models import clone_model, load_model, model_from_json
from pynn.saving import ModelFileError


def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def cube(x):
    return x * x * x


def halved_mse(y_true, y_pred):
    return 0.5 * K.mean(K.square(y_pred - y_true), axis=-1)


def mean_abs_pred(y_true, y_pred):
    return K.mean(K.abs(y_pred))


def lambda_model(fn=cube, **kwargs):
    pynn.utils.set_random_seed(1)
    inp = pynn.Input(shape=(3,))
    out = layers.Dense(2)(layers.Lambda(fn, name="cubed", **kwargs)(layers.Dense(4)(inp)))
    return pynn.Model(inp, out)


def test_named_function_round_trip_with_custom_objects(tmp_path):
    model = lambda_model()
    model.compile("adam", loss=halved_mse, metrics=[mean_abs_pred])
    x, y = rand(8, 3), rand(8, 2, seed=1)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.pynn")
    config = json.loads(model.to_json())
    fn = config["config"]["layers"][2]["config"]["function"]
    assert fn == {"module": __name__, "class_name": "function", "config": "cube",
                  "registered_name": "cube"}
    loaded = load_model(tmp_path / "m.pynn", custom_objects={
        "cube": cube, "halved_mse": halved_mse, "mean_abs_pred": mean_abs_pred})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
    loaded.fit(x, y, epochs=1, verbose=0)   # and it trains on


def test_safe_mode_refuses_what_a_file_names(tmp_path):
    lambda_model().save(tmp_path / "m.pynn")
    with pytest.raises(ModelFileError, match=r"Lambda 'cubed'.*'cube' of module"
                                             r".*custom_objects.*safe_mode=False"):
        load_model(tmp_path / "m.pynn")
    # outside safe mode the module is imported (this test module)
    loaded = load_model(tmp_path / "m.pynn", safe_mode=False)
    assert loaded.get_layer("cubed").function is cube
    with pytest.raises(ValueError, match="Lambda 'cubed'.*Safe mode"):
        model_from_json(lambda_model().to_json())
    assert model_from_json(lambda_model().to_json(), custom_objects={"cube": cube})


def test_pynn_functions_load_in_safe_mode(tmp_path):
    model = lambda_model(K.l2_normalize, arguments={"axis": -1})
    model.save(tmp_path / "m.pynn")
    loaded = load_model(tmp_path / "m.pynn")
    assert loaded.get_layer("cubed").function is K.l2_normalize
    x = rand(3, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("description", [
    {"module": "os", "class_name": "function", "config": "system"},
    {"module": "pynn.backend", "class_name": "function", "config": "sys.exit"},
    {"module": "pynn.saving", "class_name": "function", "config": "save_model"},
    {"module": "pynn.backend", "class_name": "function", "config": "np"},
])
def test_safe_mode_never_imports_or_reaches_beyond_pynn_array_functions(description):
    config = json.loads(lambda_model().to_json())
    config["config"]["layers"][2]["config"]["function"] = description
    with pytest.raises(ValueError, match="Safe mode does not import"):
        model_from_json(json.dumps(config))


def test_anonymous_functions_train_and_clone_but_are_not_saved(tmp_path):
    model = lambda_model(lambda t: t * 2.0)
    model.compile("sgd", "mse")
    x = rand(4, 3)
    model.fit(x, rand(4, 2), verbose=0)
    clone = clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"layer 'cubed' \(Lambda\) uses the anonymous "
                                         r"function '.*<lambda>'.*never holds code"):
        model.save(tmp_path / "m.pynn")
    assert not (tmp_path / "m.pynn").exists()
    model.save_weights(tmp_path / "m.weights.pynn")
    other = lambda_model(lambda t: t * 2.0)
    other.load_weights(tmp_path / "m.weights.pynn")
    np.testing.assert_allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
    config = json.loads(model.to_json())
    with pytest.raises(ValueError, match="anonymous function.*never stores code"):
        model_from_json(json.dumps(config))


def test_anonymous_loss_is_not_saved(tmp_path):
    model = lambda_model()
    model.compile("sgd", loss=lambda t, p: K.mean(K.square(p - t)))
    with pytest.raises(ValueError, match="compile settings.*anonymous function"):
        model.save(tmp_path / "m.pynn")


def test_custom_activation_round_trip(tmp_path):
    pynn.utils.set_random_seed(2)
    model = pynn.Sequential([pynn.Input(shape=(3,)), layers.Dense(4, activation=cube),
                             layers.Activation(cube), layers.Dense(2)])
    model.save(tmp_path / "m.pynn")
    with pytest.raises(ModelFileError, match="cube"):
        load_model(tmp_path / "m.pynn")
    with pynn.utils.custom_object_scope({"cube": cube}):
        loaded = load_model(tmp_path / "m.pynn")
    x = rand(5, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].activation is cube


def test_custom_layer_round_trip_and_registration(tmp_path):
    @pynn.utils.register_keras_serializable(package="Tests")
    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    try:
        pynn.utils.set_random_seed(3)
        model = pynn.Sequential([pynn.Input(shape=(3,)), Scale(3.0), layers.Dense(2)])
        model.compile("sgd", "mse")
        x = rand(4, 3)
        model.fit(x, rand(4, 2), epochs=2, verbose=0)
        model.save(tmp_path / "m.pynn")
        loaded = load_model(tmp_path / "m.pynn")
        assert isinstance(loaded.layers[0], Scale) and loaded.layers[0].factor == 3.0
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    finally:
        registered = pynn.utils.get_custom_objects()
        registered.pop("Tests>Scale", None)
        registered.pop("Scale", None)


def test_lambda_exports_to_tflite_through_its_function():
    """A Lambda's function is traced into the operations it uses (erf has
    no TFLite form: refused naming the layer); one of operations with a
    form exports equal to predict."""
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter
    with pytest.raises(pynn.lite.ConversionError, match="cubed"):
        pynn.lite.TFLiteConverter.from_keras_model(
            lambda_model(lambda x: ops.erf(x))).convert()
    model = lambda_model()
    data = pynn.lite.TFLiteConverter.from_keras_model(model).convert()
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    x = rand(1, 3)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_lambda_config_keeps_arguments_and_output_shape():
    layer = layers.Lambda(ops.sum, output_shape=(1,), arguments={"axis": 1, "keepdims": True})
    config = layer.get_config()
    assert config["output_shape"] == [1] and config["arguments"] == {"axis": 1,
                                                                    "keepdims": True}
    rebuilt = layers.Lambda.from_config(json.loads(json.dumps(config)))
    assert rebuilt.function is ops.sum
    np.testing.assert_allclose(rebuilt(np.ones((2, 3), np.float32)), [[3.0], [3.0]])


def test_enable_unsafe_deserialization_turns_safe_mode_off(tmp_path, monkeypatch):
    """keras.config.enable_unsafe_deserialization(): every later load may
    import what the file names, whatever safe_mode it is given."""
    from pynn.utils import custom_objects
    lambda_model().save(tmp_path / "m.pynn")
    monkeypatch.setattr(custom_objects, "_unsafe_everywhere", False)
    with pytest.raises(ModelFileError, match="safe_mode=False"):
        load_model(tmp_path / "m.pynn")
    pynn.config.enable_unsafe_deserialization()
    assert load_model(tmp_path / "m.pynn").get_layer("cubed").function is cube
