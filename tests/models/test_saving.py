"""The .pynn file: round trips, exact resumption, no pickle, config, clone."""
import json
import pickle
import zipfile

import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models import Sequential, clone_model, load_model
from pynn.saving import ModelFileError
from pynn.utils import set_random_seed


def make_data(n=96, seed=0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int32) + (x[:, 3] > 1).astype(np.int32)
    return x, y


def make_model(optimizer="adam"):
    m = Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                    layers.Dropout(0.25),
                    layers.Dense(8, activation="tanh"),
                    layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    return m


def no_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used while loading")
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


@pytest.mark.parametrize("optimizer", [
    "adam", "rmsprop", {"class_name": "SGD", "config": {"learning_rate": 0.05,
                                                        "momentum": 0.9, "nesterov": True}},
    {"class_name": "SGD", "config": {"learning_rate": 0.05}}])
def test_save_load_predicts_identically_and_resumes_exactly(tmp_path, monkeypatch, optimizer):
    x, y = make_data()
    set_random_seed(3)
    model = make_model(pynn.optimizers.get(optimizer))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.pynn"
    model.save(path)

    with monkeypatch.context() as mp:
        no_pickle(mp)
        loaded = load_model(path)
    assert loaded.compiled
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        assert np.array_equal(a.numpy(), b.numpy())

    # one more epoch, same seed for both: the same weights, bit for bit
    set_random_seed(11)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    set_random_seed(11)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)
    assert loaded.optimizer.iterations == model.optimizer.iterations


def test_loading_does_not_disturb_the_random_stream(tmp_path):
    model = make_model()
    model.save(tmp_path / "m.pynn")
    set_random_seed(5)
    first = pynn.utils.seeding.rng().integers(0, 1 << 30, 4)
    set_random_seed(5)
    load_model(tmp_path / "m.pynn")
    assert np.array_equal(pynn.utils.seeding.rng().integers(0, 1 << 30, 4), first)


def test_file_layout_is_json_plus_npy(tmp_path):
    model = make_model()
    x, y = make_data()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.pynn")
    with zipfile.ZipFile(tmp_path / "m.pynn") as zf:
        names = zf.namelist()
        doc = json.loads(zf.read("model.json"))
    assert names[0] == "model.json"
    assert all(n.endswith(".npy") for n in names[1:])
    assert doc["format"] == "pynn.model" and doc["format_version"] == 1
    assert doc["pynn_version"] == pynn.__version__
    assert doc["compile"]["loss"]["class_name"] == "SparseCategoricalCrossentropy"
    assert doc["compile"]["optimizer"]["class_name"] == "Adam"
    assert doc["compile"]["metrics"] == ["accuracy"]
    assert doc["optimizer_state"]["iterations"] == model.optimizer.iterations
    assert [e["shape"] for e in doc["weights"]] == [list(w.shape) for w in model.weights]


def test_uncompiled_and_unbuilt_models(tmp_path):
    m = Sequential([layers.Dense(3, input_shape=(2,))])
    m.save(tmp_path / "a.pynn")
    loaded = load_model(tmp_path / "a.pynn")
    assert not loaded.compiled
    assert np.array_equal(loaded.get_weights()[0], m.get_weights()[0])

    unbuilt = Sequential([layers.Dense(3), layers.Dense(1)])
    unbuilt.save(tmp_path / "b.pynn")
    again = load_model(tmp_path / "b.pynn")
    assert not again.built and [l.units for l in again.layers] == [3, 1]


def test_load_without_compile(tmp_path):
    model = make_model()
    model.save(tmp_path / "m.pynn")
    loaded = load_model(tmp_path / "m.pynn", compile=False)
    assert not loaded.compiled


def test_weights_round_trip(tmp_path):
    x, _ = make_data()
    model = make_model()
    path = tmp_path / "w.weights.pynn"
    model.save_weights(path)
    other = make_model()
    assert not np.array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.load_weights(path)
    assert np.array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    # a whole-model file also provides weights
    model.save(tmp_path / "full.pynn")
    third = make_model()
    third.load_weights(tmp_path / "full.pynn")
    assert np.array_equal(third.predict(x, verbose=0), model.predict(x, verbose=0))
    # an unbuilt model of the same layers is built from the file
    fresh = Sequential([layers.Dense(16, activation="relu"), layers.Dropout(0.25),
                        layers.Dense(8, activation="tanh"), layers.Dense(3, activation="softmax")])
    fresh.load_weights(path)
    assert np.array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_weights_into_other_architecture_fail_clearly(tmp_path):
    make_model().save_weights(tmp_path / "w.weights.pynn")
    other = Sequential([layers.Dense(5, input_shape=(6,)), layers.Dense(3)])
    before = other.get_weights()
    with pytest.raises(ValueError, match="weight"):
        other.load_weights(tmp_path / "w.weights.pynn")
    for a, b in zip(before, other.get_weights()):  # nothing half-assigned
        assert np.array_equal(a, b)
    wide = Sequential([layers.Dense(17, activation="relu", input_shape=(6,)),
                       layers.Dropout(0.25), layers.Dense(8), layers.Dense(3)])
    with pytest.raises(ValueError, match=r"shape \(6, 17\)"):
        wide.load_weights(tmp_path / "w.weights.pynn")


def test_weights_file_is_not_a_model(tmp_path):
    make_model().save_weights(tmp_path / "w.weights.pynn")
    with pytest.raises(ModelFileError, match="weights-only"):
        load_model(tmp_path / "w.weights.pynn")


@pytest.mark.parametrize("name,word", [("m.tflite", "pynn.lite"), ("m.onnx", "ONNX")])
def test_foreign_formats_are_refused(tmp_path, name, word):
    model = make_model()
    with pytest.raises(ValueError, match=word) as e:
        model.save(tmp_path / name)
    assert ".pynn" in str(e.value)
    with pytest.raises(ValueError, match=word):
        model.save_weights(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_a_name_of_no_format_is_a_saved_model_folder_or_a_checkpoint(tmp_path):
    """As TensorFlow's Keras: a whole model saved under a name of none of
    the formats ('m.bin', DL4CV's 'alexnet.model') is a SavedModel folder,
    weights under such a name a checkpoint."""
    model = make_model()
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    model.save(tmp_path / "m.bin")
    assert (tmp_path / "m.bin").is_dir()
    np.testing.assert_allclose(load_model(tmp_path / "m.bin").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    model.save_weights(tmp_path / "w.bin")
    assert (tmp_path / "w.bin.index").is_file()


def test_overwrite_false(tmp_path):
    model = make_model()
    model.save(tmp_path / "m.pynn")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.pynn", overwrite=False)


def test_get_config_from_config_and_clone():
    model = make_model()
    config = model.get_config()
    json.dumps(config)  # plain JSON
    # Keras 3's Sequential config: the InputLayer first, then the layers.
    assert [l["class_name"] for l in config["layers"]] == ["InputLayer", "Dense", "Dropout",
                                                           "Dense", "Dense"]
    rebuilt = Sequential.from_config(config)
    assert rebuilt.get_config() == config
    clone = clone_model(model)
    assert clone.get_config() == config
    assert not clone.compiled
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    # fresh weights, not shared
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    assert clone.weights[0].value is not model.weights[0].value
    custom = clone_model(model, clone_function=lambda l: l.__class__.from_config(l.get_config()))
    assert custom.get_config() == config


def test_layer_registry_finds_new_layer_classes(tmp_path):
    from pynn.saving import layer_classes

    class Doubler(layers.Layer):
        def call(self, x, training=False):
            return x * 2

        def backward(self, dy, need_input_grad=True):
            return dy * 2

    assert layer_classes()["Doubler"] is Doubler
    model = Sequential([layers.Dense(2, input_shape=(3,)), Doubler()])
    model.save(tmp_path / "d.pynn")
    loaded = load_model(tmp_path / "d.pynn")
    x = np.ones((2, 3), np.float32)
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert {"Dense", "Dropout", "Flatten", "Reshape", "Activation"} <= set(layer_classes())


def test_optimizer_state_and_learning_rate_survive(tmp_path):
    x, y = make_data()
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    model.optimizer.learning_rate = 0.0123
    model.save(tmp_path / "m.pynn")
    loaded = load_model(tmp_path / "m.pynn")
    assert loaded.optimizer.learning_rate == pytest.approx(0.0123)


def test_no_pickle_anywhere_in_the_saving_code():
    import inspect

    import pkgutil

    import pynn.saving
    import pynn.utils.io
    modules = [pynn.utils.io, pynn.saving] + [
        __import__(f"pynn.saving.{m.name}", fromlist=["_"])
        for m in pkgutil.iter_modules(pynn.saving.__path__)]
    assert len(modules) > 5
    for mod in modules:
        src = inspect.getsource(mod)
        assert "import pickle" not in src and "allow_pickle=True" not in src
