"""MobileNetV3 beyond the architecture comparisons of test_architectures:
weight files load by path and from the caches (Keras's file names and
digests) and predict what Keras predicts; bad arguments fail as Keras's;
the hard-sigmoid gates are the operations Keras records; the built-in
rescaling, dropout and training through the gates."""
import hashlib
import os

import numpy as np
import pytest

import pynn
from appstats import calibrate_batch_norm, close_to_keras, legacy_file
from pynn import applications, layers
from pynn.applications import mobilenet_v3

KW = dict(include_top=False, input_shape=(40, 40, 3), pooling="avg")
NOTOP = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"


@pytest.fixture(scope="module")
def reference(keras):
    """A Keras-built MobileNetV3Small without the top, with batch-norm
    statistics measured on 16 images in [0, 255] (see appstats); the
    images."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 255, (16, 40, 40, 3)).astype(np.float32)
    mine = applications.MobileNetV3Small(weights=None, **KW)
    calibrate_batch_norm(mine, x, rng)
    model = keras.applications.MobileNetV3Small(weights=None, **KW)
    model.set_weights(mine.get_weights())
    return model, x


def test_weights_by_path(keras, reference, tmp_path):
    """Keras 3's .weights.h5, the published files' legacy layout, and
    pynn's own save_weights all load and predict what Keras predicts."""
    model, x = reference
    x = x[:2]
    want = np.asarray(model.predict(x, verbose=0))
    model.save_weights(str(tmp_path / "small.weights.h5"))
    legacy_file(model, str(tmp_path / "small.h5"))
    for name in ("small.weights.h5", "small.h5"):
        mine = applications.MobileNetV3Small(weights=str(tmp_path / name), **KW)
        close_to_keras(mine.predict(x, verbose=0), want)
    mine.save_weights(str(tmp_path / "mine.weights.h5"))
    again = applications.MobileNetV3Small(weights=str(tmp_path / "mine.weights.h5"), **KW)
    for a, b in zip(again.get_weights(), mine.get_weights()):
        np.testing.assert_array_equal(a, b)
    close_to_keras(again.predict(x, verbose=0), want)
    with pytest.raises(ValueError):
        applications.MobileNetV3Large(weights=str(tmp_path / "small.h5"), **KW)
    with pytest.raises(ValueError):
        applications.MobileNetV3Small(weights=str(tmp_path / "small.h5"), minimalistic=True,
                                      **KW)


def _publish(path, monkeypatch, key="small_224_1.0_float"):
    """The file's MD5 stands in for the published file's."""
    monkeypatch.setitem(mobilenet_v3.WEIGHTS_HASHES, key, (
        mobilenet_v3.WEIGHTS_HASHES[key][0], hashlib.md5(path.read_bytes()).hexdigest()))


def test_imagenet_from_pynn_cache_matches_keras(keras, reference, tmp_path, monkeypatch):
    """weights='imagenet' reads Keras's file name from pynn's cache (with
    Keras's warning for inputs other than 224x224); Keras's model loads
    the same file, and the two predict the same."""
    model, x = reference
    path = tmp_path / "pynn_home" / "models" / NOTOP
    path.parent.mkdir(parents=True)
    legacy_file(model, str(path))
    _publish(path, monkeypatch)
    with pytest.warns(UserWarning, match="224x224"):
        loaded = applications.MobileNetV3Small(weights="imagenet", **KW)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b, a.dtype))

    from keras.src.applications import mobilenet_v3 as keras_mobilenet_v3
    monkeypatch.setattr(keras_mobilenet_v3.file_utils, "get_file",
                        lambda fname, *args, **kwargs: str(path) if fname == NOTOP else None)
    with pytest.warns(UserWarning):
        theirs = keras.applications.MobileNetV3Small(weights="imagenet", **KW)
    close_to_keras(loaded.predict(x[:2], verbose=0), np.asarray(theirs.predict(x[:2], verbose=0)))


def test_imagenet_from_keras_cache(keras, reference, tmp_path, monkeypatch):
    """A verified file in Keras's cache is used where it is; one whose
    digest differs is not."""
    path = tmp_path / "keras_home" / "models" / NOTOP
    path.parent.mkdir(parents=True)
    legacy_file(reference[0], str(path))
    with pytest.raises(RuntimeError, match="weights='imagenet'"):
        applications.MobileNetV3Small(weights="imagenet", include_top=False)
    _publish(path, monkeypatch)
    loaded = applications.MobileNetV3Small(weights="imagenet", include_top=False)
    for a, b in zip(loaded.get_weights(), reference[0].get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b, a.dtype))
    assert not (tmp_path / "pynn_home" / "models" / NOTOP).exists()


@pytest.mark.parametrize("function, kw, fname", [
    ("MobileNetV3Large", dict(minimalistic=True),
     "weights_mobilenet_v3_large_minimalistic_224_1.0_float.h5"),
    ("MobileNetV3Small", dict(alpha=0.75, include_top=False),
     "weights_mobilenet_v3_small_224_0.75_float_no_top_v2.h5"),
    ("MobileNetV3Large", dict(alpha=1, input_shape=(224, 224, 3)),
     "weights_mobilenet_v3_large_224_1.0_float.h5"),
])
def test_imagenet_offline_without_file(tmp_path, function, kw, fname):
    target = os.path.join(str(tmp_path / "pynn_home"), "models", fname)
    with pytest.raises(RuntimeError) as e:
        getattr(applications, function)(weights="imagenet", name="my_net", **kw)
    message = str(e.value)
    assert f"{function}(weights='imagenet')" in message
    assert mobilenet_v3.BASE_WEIGHT_PATH + fname in message
    assert f"put it at {target}" in message


@pytest.mark.parametrize("call, match", [
    (lambda: applications.MobileNetV3Small(weights=None, input_shape=(31, 64, 3)),
     "at least 32x32"),
    (lambda: applications.MobileNetV3Large(weights=None, include_top=False,
                                           input_shape=(64, 20, 3)), "at least 32x32"),
    (lambda: applications.MobileNetV3Small(weights="imagenet", alpha=0.5), "alpha 0.75 or 1.0"),
    (lambda: applications.MobileNetV3Large(weights="imagenet", alpha=0.75, minimalistic=True),
     "minimalistic: 1.0 only"),
    (lambda: applications.MobileNetV3Small(weights="imagenet", classes=10),
     "classes must be 1000"),
    (lambda: applications.MobileNetV3Small(weights="imagenet", include_top=False,
                                           input_shape=(64, 64, 1)), "must have 3 channels"),
    (lambda: applications.MobileNetV3Large(weights="no/such/file.h5"), "existing weights file"),
    (lambda: applications.MobileNetV3Small(weights=None, include_top=False, pooling="mean"),
     "pooling must be None, 'avg' or 'max'"),
    (lambda: applications.MobileNetV3Large(weights="imagenet", classifier_activation="relu"),
     "classifier_activation"),
    (lambda: applications.MobileNetV3Small(weights=None, classes=0),
     "classes must be a positive"),
    (lambda: applications.MobileNetV3Small(weights=None, alpha=0), "alpha must be a positive"),
    (lambda: applications.MobileNetV3Small(weights=None, dropout_rate=1.0), "dropout_rate"),
    (lambda: applications.MobileNetV3Large(weights=None, input_shape=(32, 32)),
     "three integers"),
    (lambda: applications.MobileNetV3Small(weights=None, input_tensor=pynn.Input((40, 40, 3)),
                                           input_shape=(48, 48, 3)), "differs from the shape"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_input_tensor_and_names():
    inputs = pynn.Input(shape=(40, 40, 3))
    scaled = layers.Rescaling(2.0)(inputs)
    model = applications.MobileNetV3Large(weights=None, include_top=False, input_tensor=scaled,
                                          pooling="max", name="features")
    assert model.inputs[0] is inputs and model.name == "features"
    assert model.output_shape == (None, 960)
    assert model.get_layer("max_pool") is model.layers[-1]
    assert applications.MobileNetV3Small(weights=None).name == "MobileNetV3Small"
    with pytest.raises(TypeError, match="input_tensor must be a symbolic tensor"):
        applications.MobileNetV3Small(weights=None, input_tensor=np.zeros((1, 32, 32, 3)))


def test_hard_sigmoid_gates_are_recorded_operations():
    """Each squeeze-and-excitation gate is ReLU(6)(x + 3) * (1 / 6), as
    Keras writes it: two operations of the graph around a ReLU (not
    layers: ``model.layers`` leaves them out, as Keras 3's does); the
    minimalistic model has no gates."""
    model = applications.MobileNetV3Small(weights=None, include_top=False)
    graph = model._operations
    names = [l.name for l in graph]
    ops = [l for l in graph if isinstance(l, layers.TensorOperation)]
    assert len(ops) == 2 * 9  # the 9 blocks with squeeze-and-excitation
    assert len(model.layers) == len(graph) - len(ops)
    for add, mul in zip(ops[::2], ops[1::2]):
        relu = graph[names.index(add.name) + 1]
        assert (add.op, add.args[1], mul.op, mul.args[1]) == ("add", 3.0, "multiply", 1 / 6)
        assert isinstance(relu, layers.ReLU) and relu.max_value == 6.0
        assert names.index(mul.name) == names.index(add.name) + 2
    x = np.linspace(-5, 5, 11, dtype=np.float32).reshape(1, 11)
    gate = pynn.Model(*_gate_graph()).predict(x, verbose=0)
    np.testing.assert_allclose(gate, np.clip(x + 3, 0, 6) / 6, rtol=1e-6)
    minimal = applications.MobileNetV3Small(weights=None, minimalistic=True, include_top=False)
    assert not any(isinstance(l, layers.TensorOperation) for l in minimal._operations)
    assert not any(isinstance(l, layers.Activation) for l in minimal.layers)


def _gate_graph():
    inputs = pynn.Input(shape=(11,))
    return inputs, mobilenet_v3._hard_sigmoid(inputs)


def test_built_in_rescaling_and_dropout():
    """include_preprocessing=False takes inputs in [-1, 1] and predicts
    what the default model predicts from pixels; dropout_rate=0 drops the
    Dropout layer."""
    kw = dict(weights=None, alpha=0.75, input_shape=(32, 32, 3), classes=7)
    pynn.utils.set_random_seed(1)
    model = applications.MobileNetV3Small(**kw)
    plain = applications.MobileNetV3Small(include_preprocessing=False, dropout_rate=0, **kw)
    assert isinstance(model.layers[1], layers.Rescaling)
    assert not any(isinstance(l, layers.Rescaling) for l in plain.layers)
    assert [l.rate for l in model.layers if isinstance(l, layers.Dropout)] == [0.2]
    assert not any(isinstance(l, layers.Dropout) for l in plain.layers)
    plain.set_weights(model.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(plain.predict(x / 127.5 - 1, verbose=0), want, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(want.sum(-1), 1, rtol=1e-5)


def test_training_through_the_gates(tmp_path):
    """A fit step runs through the recorded gates: the weights before them
    change and stay finite; the trained model saves in pynn's format and
    predicts the same after loading."""
    pynn.utils.set_random_seed(0)
    model = applications.MobileNetV3Small(weights=None, alpha=0.75, input_shape=(32, 32, 3),
                                          classes=3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 3, 4)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    stem = model.get_layer("conv").get_weights()[0].copy()
    gate = model.get_layer("expanded_conv_3_squeeze_excite_conv_1").get_weights()[0].copy()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert not np.array_equal(model.get_layer("conv").get_weights()[0], stem)
    assert not np.array_equal(
        model.get_layer("expanded_conv_3_squeeze_excite_conv_1").get_weights()[0], gate)
    model.save(str(tmp_path / "small.pynn"))
    loaded = pynn.models.load_model(str(tmp_path / "small.pynn"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_preprocess_input_is_a_pass_through():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    assert mobilenet_v3.preprocess_input(x) is x
    assert mobilenet_v3.preprocess_input(x, data_format="channels_last") is x
    assert mobilenet_v3.decode_predictions.__doc__


def test_whole_model_in_keras_file_both_ways(keras, tmp_path):
    """The gates are written as Keras's own operations: Keras loads pynn's
    .keras file of the whole model, and pynn Keras's, predicting the same."""
    pynn.utils.set_random_seed(1)
    model = applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=4)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    model.save(str(tmp_path / "ours.keras"))
    theirs = keras.saving.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(theirs.predict(x, verbose=0), want, rtol=1e-4, atol=1e-6)
    theirs.save(str(tmp_path / "theirs.keras"))
    again = pynn.models.load_model(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-4, atol=1e-6)
