"""EfficientNet beyond the architecture comparisons of test_architectures:
the layout built for the ImageNet weights (an extra Rescaling after the
Normalization) predicts what Keras's does from the same file; weight
files load by path and from the caches; bad arguments fail as Keras's;
the residual branches drop whole samples while training."""
import hashlib
import os

import numpy as np
import pytest

import pynn
from appstats import calibrate_batch_norm, close_to_keras, legacy_file
from pynn import applications, layers
from pynn.applications import efficientnet

KW = dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")
NOTOP = "efficientnetb0_notop.h5"


@pytest.fixture(scope="module")
def reference(keras):
    """A Keras-built EfficientNetB0 without the top, with ImageNet's input
    statistics in its Normalization and batch-norm statistics measured on
    16 images in [0, 255] (see appstats); the images."""
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 255, (16, 32, 32, 3)).astype(np.float32)
    mine = applications.EfficientNetB0(weights=None, **KW)
    mine.layers[2].set_weights([np.array([0.485, 0.456, 0.406]),
                                np.array([0.229, 0.224, 0.225]) ** 2, np.array(0)])
    calibrate_batch_norm(mine, x, rng)
    model = keras.applications.EfficientNetB0(weights=None, **KW)
    model.set_weights(mine.get_weights())
    model.layers[2].finalize_state()
    return model, x


def test_weights_by_path(keras, reference, tmp_path):
    """Keras 3's .weights.h5, the published files' legacy layout, and
    pynn's own save_weights all load and predict what Keras predicts."""
    model, x = reference
    x = x[:2]
    want = np.asarray(model.predict(x, verbose=0))
    model.save_weights(str(tmp_path / "b0.weights.h5"))
    legacy_file(model, str(tmp_path / "b0.h5"))
    for name in ("b0.weights.h5", "b0.h5"):
        mine = applications.EfficientNetB0(weights=str(tmp_path / name), **KW)
        close_to_keras(mine.predict(x, verbose=0), want)
    mine.save_weights(str(tmp_path / "mine.weights.h5"))
    again = applications.EfficientNetB0(weights=str(tmp_path / "mine.weights.h5"), **KW)
    for a, b in zip(again.get_weights(), mine.get_weights()):
        np.testing.assert_array_equal(a, b)
    close_to_keras(again.predict(x, verbose=0), want)
    with pytest.raises(ValueError):
        applications.EfficientNetB1(weights=str(tmp_path / "b0.h5"), **KW)


def _publish(path, monkeypatch):
    """The file's MD5 stands in for the published file's."""
    monkeypatch.setitem(efficientnet.WEIGHTS_HASHES, "b0", (
        efficientnet.WEIGHTS_HASHES["b0"][0], hashlib.md5(path.read_bytes()).hexdigest()))


def test_imagenet_layout_matches_keras(keras, reference, tmp_path, monkeypatch):
    """weights='imagenet' adds Keras's Rescaling by 1/sqrt(stddev) after the
    Normalization.  A file for that layout in pynn's cache loads into
    pynn's model and into Keras's ImageNet model, and they predict the
    same."""
    model, x = reference
    path = tmp_path / "pynn_home" / "models" / NOTOP
    path.parent.mkdir(parents=True)

    def publish():
        _publish(path, monkeypatch)

    legacy_file(model, str(path))
    publish()
    mine = applications.EfficientNetB0(weights="imagenet", **KW)
    assert [type(a).__name__ for a in mine.layers[1:5]] == ["Rescaling", "Normalization",
                                                             "Rescaling", "ZeroPadding2D"]
    np.testing.assert_allclose(mine.layers[3].scale, 1 / np.sqrt([0.229, 0.224, 0.225]))
    # statistics that fit the layout's larger inputs, written as the file
    calibrate_batch_norm(mine, x, np.random.default_rng(1))
    mine.save_weights(str(path))
    publish()
    loaded = applications.EfficientNetB0(weights="imagenet", **KW)
    for a, b in zip(loaded.get_weights(), mine.get_weights()):
        np.testing.assert_array_equal(a, b)

    from keras.src.applications import efficientnet as keras_efficientnet
    monkeypatch.setattr(keras_efficientnet.file_utils, "get_file",
                        lambda fname, *args, **kwargs: str(path) if fname == NOTOP else None)
    theirs = keras.applications.EfficientNetB0(weights="imagenet", **KW)
    assert [type(a).__name__ for a in loaded.layers] == [type(b).__name__ for b in theirs.layers]
    close_to_keras(loaded.predict(x[:2], verbose=0), np.asarray(theirs.predict(x[:2], verbose=0)))


def test_imagenet_from_keras_cache(keras, reference, tmp_path, monkeypatch):
    """A verified file in Keras's cache is used where it is."""
    path = tmp_path / "keras_home" / "models" / NOTOP
    path.parent.mkdir(parents=True)
    legacy_file(reference[0], str(path))
    _publish(path, monkeypatch)
    loaded = applications.EfficientNetB0(weights="imagenet", **KW)
    for a, b in zip(loaded.get_weights(), reference[0].get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b, a.dtype))
    assert not (tmp_path / "pynn_home" / "models" / NOTOP).exists()


def test_imagenet_offline_without_file(tmp_path):
    target = os.path.join(str(tmp_path / "pynn_home"), "models", "efficientnetb3.h5")
    with pytest.raises(RuntimeError) as e:
        applications.EfficientNetB3(weights="imagenet", name="my_net")
    message = str(e.value)
    assert "EfficientNetB3(weights='imagenet')" in message
    assert "https://storage.googleapis.com/keras-applications/efficientnetb3.h5" in message
    assert f"put it at {target}" in message


@pytest.mark.parametrize("call, match", [
    (lambda: applications.EfficientNetB0(weights=None, include_top=False,
                                         input_shape=(31, 64, 3)), "at least 32x32"),
    (lambda: applications.EfficientNetB2(weights="imagenet", input_shape=(224, 224, 3)),
     r"input_shape must be \(260, 260, 3\)"),
    (lambda: applications.EfficientNetB0(weights="imagenet", classes=10),
     "classes must be 1000"),
    (lambda: applications.EfficientNetB0(weights="imagenet", include_top=False,
                                         input_shape=(64, 64, 1)), "must have 3 channels"),
    (lambda: applications.EfficientNetB0(weights="no/such/file.h5"), "existing weights file"),
    (lambda: applications.EfficientNetB0(weights=None, include_top=False, pooling="mean"),
     "pooling must be None, 'avg' or 'max'"),
    (lambda: applications.EfficientNetB0(weights=None, input_shape=(None, None, 3)),
     "must be static"),
    (lambda: applications.EfficientNetB0(weights="imagenet", classifier_activation="relu"),
     "classifier_activation"),
    (lambda: applications.EfficientNetB0(weights=None, classes=0), "classes must be a positive"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_input_tensor_and_names():
    inputs = pynn.Input(shape=(40, 40, 3))
    scaled = layers.Rescaling(2.0)(inputs)
    model = applications.EfficientNetB0(weights=None, include_top=False, input_tensor=scaled,
                                        pooling="max", name="features")
    assert model.inputs[0] is inputs and model.name == "features"
    assert model.output_shape == (None, 1280)
    assert model.get_layer("max_pool") is model.layers[-1]
    assert applications.EfficientNetB4(weights=None, include_top=False).name == "efficientnetb4"


def test_stochastic_depth_rates_match_keras(keras):
    """The residual branches' Dropout layers: Keras's rates (growing with
    the block's index), one draw per sample."""
    mine = applications.EfficientNetB0(weights=None)
    theirs = keras.applications.EfficientNetB0(weights=None)
    ours = [(l.name, l.rate, l.noise_shape) for l in mine.layers
            if isinstance(l, layers.Dropout)]
    want = [(l.name, l.rate, l.noise_shape) for l in theirs.layers
            if isinstance(l, keras.layers.Dropout)]
    assert ours == [(n, pytest.approx(r), s) for n, r, s in want]
    assert ours[-1] == ("top_dropout", 0.2, None) and len(ours) == 10


def test_training_drops_whole_residual_branches():
    """Training runs through the squeeze-and-excitation gates and the
    per-sample drops: a fit step changes the weights and stays finite."""
    pynn.utils.set_random_seed(0)
    model = applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 3, 4)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    stem = model.get_layer("stem_conv").get_weights()[0].copy()
    gate = model.get_layer("block2a_se_reduce").get_weights()[0].copy()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert not np.array_equal(model.get_layer("stem_conv").get_weights()[0], stem)
    assert not np.array_equal(model.get_layer("block2a_se_reduce").get_weights()[0], gate)


def test_preprocess_input_is_a_pass_through():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    assert efficientnet.preprocess_input(x) is x
    assert efficientnet.preprocess_input(x, data_format="channels_last") is x
    assert efficientnet.decode_predictions.__doc__
