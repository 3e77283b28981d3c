"""Weights: a file given by path (Keras 3's .weights.h5 and the legacy
HDF5 layout of the published ImageNet files) loads into the application;
weights='imagenet' reads Keras's published file from pynn's cache or
Keras's, checks its digest, and says where to put it when it has none."""
import hashlib
import os

import numpy as np
import pytest

from appstats import legacy_file
from pynn import applications
from pynn.applications import vgg16

KW = dict(alpha=0.35, input_shape=(96, 96, 3), include_top=False, pooling="avg")
NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"


@pytest.fixture(scope="module")
def reference(keras):
    """A Keras-built MobileNetV2 with random weights and batch-norm
    statistics, an input and its predictions."""
    rng = np.random.default_rng(5)
    model = keras.applications.MobileNetV2(weights=None, **KW)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n),
                               rng.normal(0, 0.2, n), rng.uniform(0.5, 2, n)])
    x = rng.uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32)
    want = np.asarray(model.predict(x, verbose=0))
    assert np.all(np.isfinite(want)) and np.abs(want).max() > 1e-3
    return model, x, want


def _check(model, reference):
    _, x, want = reference
    assert np.all(np.isfinite(model.predict(x, verbose=0)))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=0,
                               atol=1e-4 * np.abs(want).max())


def test_weights_path_keras3_file(reference, tmp_path):
    path = str(tmp_path / "mnv2.weights.h5")
    reference[0].save_weights(path)
    _check(applications.MobileNetV2(weights=path, **KW), reference)


def test_weights_path_legacy_file(keras, reference, tmp_path):
    path = legacy_file(reference[0], str(tmp_path / "mnv2.h5"))
    _check(applications.MobileNetV2(weights=path, **KW), reference)


def test_imagenet_from_pynn_cache(keras, reference, tmp_path):
    folder = tmp_path / "pynn_home" / "models"
    folder.mkdir(parents=True)
    legacy_file(reference[0], str(folder / NAME))
    _check(applications.MobileNetV2(weights="imagenet", **KW), reference)


def test_imagenet_from_keras_cache(keras, reference, tmp_path):
    folder = tmp_path / "keras_home" / "models"
    folder.mkdir(parents=True)
    legacy_file(reference[0], str(folder / NAME))
    _check(applications.MobileNetV2(weights="imagenet", **KW), reference)
    assert not (tmp_path / "pynn_home" / "models" / NAME).exists()


def test_imagenet_offline_without_file(tmp_path):
    target = os.path.join(str(tmp_path / "pynn_home"), "models", NAME)
    with pytest.raises(RuntimeError) as e:
        applications.MobileNetV2(weights="imagenet", **KW)
    message = str(e.value)
    assert "MobileNetV2(weights='imagenet')" in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + NAME \
        in message
    assert f"put it at {target}" in message and "PYNN_OFFLINE=1" in message


def test_imagenet_digest_is_checked(tmp_path, monkeypatch):
    """A cached VGG16 file is used only if its MD5 is the one Keras
    publishes; Keras's cache is skipped when it differs."""
    name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    model = applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    for home in ("pynn_home", "keras_home"):
        (tmp_path / home / "models").mkdir(parents=True)
    path = str(tmp_path / "pynn_home" / "models" / name)
    model.save_weights(path)
    with open(str(tmp_path / "keras_home" / "models" / name), "wb") as f:
        f.write(b"not the weights")
    with pytest.raises(RuntimeError, match="has MD5 [0-9a-f]{32}, not "
                                           "6d6bbae143d832006294945121d1f1fc"):
        applications.VGG16(weights="imagenet", include_top=False)
    with open(path, "rb") as f:
        digest = hashlib.md5(f.read()).hexdigest()
    monkeypatch.setattr(vgg16, "WEIGHTS_MD5", (vgg16.WEIGHTS_MD5[0], digest))
    loaded = applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_wrong_file_for_the_model(keras, reference, tmp_path):
    path = legacy_file(reference[0], str(tmp_path / "mnv2.h5"))
    with pytest.raises(ValueError):
        applications.MobileNetV2(weights=path, alpha=0.5, include_top=False,
                                 input_shape=(96, 96, 3))


# One configuration per newer family, small enough to predict quickly.
FAMILIES = {
    "InceptionV3": dict(include_top=False, input_shape=(75, 75, 3), pooling="avg"),
    "DenseNet121": dict(include_top=False, input_shape=(32, 32, 3), pooling="max"),
    "ResNet50V2": dict(input_shape=(32, 32, 3), classes=10, classifier_activation=None),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_reference(keras, request):
    """A Keras-built model of the family with random batch-norm statistics,
    an input and its predictions."""
    name = request.param
    rng = np.random.default_rng(7)
    model = getattr(keras.applications, name)(weights=None, **FAMILIES[name])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            # gamma (absent with scale=False, as in InceptionV3), beta,
            # moving mean, moving variance
            gamma = [rng.uniform(0.5, 1.5, n)] if layer.scale else []
            layer.set_weights(gamma + [rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                                       rng.uniform(0.5, 2, n)])
    x = rng.uniform(-1, 1, (2,) + FAMILIES[name]["input_shape"]).astype(np.float32)
    want = np.asarray(model.predict(x, verbose=0))
    assert np.all(np.isfinite(want)) and np.abs(want).max() > 1e-3
    return name, model, x, want


def test_family_weights_files(keras, family_reference, tmp_path):
    """Keras's model's weights, saved as Keras 3's .weights.h5 and in the
    legacy layout of the published files, load by path (the unnamed
    layers of InceptionV3 and DenseNet included)."""
    name, model, x, want = family_reference
    keras3 = str(tmp_path / "w.weights.h5")
    model.save_weights(keras3)
    legacy = legacy_file(model, str(tmp_path / "w.h5"))
    for path in (keras3, legacy):
        mine = getattr(applications, name)(weights=path, **FAMILIES[name])
        np.testing.assert_allclose(mine.predict(x, verbose=0), want, rtol=0,
                                   atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("name, include_top, fname", [
    ("InceptionV3", False, "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("DenseNet121", False, "densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("DenseNet169", False, "densenet/densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("DenseNet201", True, "densenet/densenet201_weights_tf_dim_ordering_tf_kernels.h5"),
    ("ResNet50V2", False, "resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("ResNet101V2", False, "resnet/resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("ResNet152V2", True, "resnet/resnet152v2_weights_tf_dim_ordering_tf_kernels.h5"),
])
def test_family_imagenet_file_names(tmp_path, name, include_top, fname):
    """weights='imagenet' asks for Keras's published file (its URL and
    name), and says where to put it offline."""
    kw = {} if include_top else dict(include_top=False, input_shape=(75, 75, 3))
    with pytest.raises(RuntimeError) as e:
        getattr(applications, name)(weights="imagenet", **kw)
    message = str(e.value)
    base = os.path.basename(fname)
    assert f"{name}(weights='imagenet')" in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/" + fname in message
    target = os.path.join(str(tmp_path / "pynn_home"), "models", base)
    assert f"put it at {target}" in message


def test_family_imagenet_from_keras_cache(keras, tmp_path, monkeypatch):
    """Keras's cached InceptionV3 file is used when its MD5 is the one the
    module publishes."""
    from pynn.applications import inception_v3
    kw = FAMILIES["InceptionV3"]
    rng = np.random.default_rng(2)
    theirs = keras.applications.InceptionV3(weights=None, **kw)
    theirs.set_weights([rng.normal(0, 0.05, w.shape) for w in theirs.get_weights()])
    folder = tmp_path / "keras_home" / "models"
    folder.mkdir(parents=True)
    path = legacy_file(theirs,
                       str(folder / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"))
    with open(path, "rb") as f:
        digest = hashlib.md5(f.read()).hexdigest()
    monkeypatch.setattr(inception_v3, "WEIGHTS_MD5", (inception_v3.WEIGHTS_MD5[0], digest))
    mine = applications.InceptionV3(weights="imagenet", **kw)
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b))
