"""InceptionResNetV2, EfficientNetV2, NASNet and ConvNeXt beyond the
architecture comparisons of test_architectures: weight files in the
published layout load by path and predict what Keras predicts; with no
network weights='imagenet' says which file to put where (Keras's file
names); bad arguments fail as Keras's; training runs through the new
layers."""
import os

import numpy as np
import pytest

import pynn
from appstats import calibrate_batch_norm, close_to_keras, legacy_file
from pynn import applications
from pynn.applications import convnext, efficientnet_v2, nasnet


def _keras_twin(keras, name, kw, x, rng):
    """pynn's and Keras's model ``name`` with the same weights: batch-norm
    statistics measured on ``x`` (see appstats), ConvNeXt's LayerScale
    factors drawn around 1 so that every block counts."""
    mine = getattr(applications, name)(weights=None, **kw)
    calibrate_batch_norm(mine, x, rng)
    for layer in mine.layers:
        if isinstance(layer, convnext.LayerScale):
            layer.set_weights([rng.uniform(0.5, 1.5, layer.projection_dim)])
    theirs = getattr(keras.applications, name)(weights=None, **kw)
    theirs.set_weights(mine.get_weights())
    return mine, theirs


WEIGHT_FILE_CASES = [
    # (64x64: at 32x32 the last stage's batch statistics come from one
    # pixel per image, and rounding differences grow through them)
    pytest.param("EfficientNetV2B0", dict(include_top=False, input_shape=(64, 64, 3),
                                          pooling="avg"), id="EfficientNetV2B0",
                 marks=pytest.mark.slow),
    pytest.param("NASNetMobile", dict(include_top=False, input_shape=(32, 32, 3),
                                      pooling="max"), id="NASNetMobile", marks=pytest.mark.slow),
    pytest.param("ConvNeXtTiny", dict(input_shape=(32, 32, 3), classes=10,
                                      classifier_activation=None),
                 id="ConvNeXtTiny", marks=pytest.mark.slow),
    pytest.param("InceptionResNetV2", dict(include_top=False, input_shape=(75, 75, 3),
                                           pooling="avg"),
                 id="InceptionResNetV2", marks=pytest.mark.slow),
]
PREPROCESS = {"NASNetMobile": nasnet.preprocess_input,
              "InceptionResNetV2": applications.inception_resnet_v2.preprocess_input}


@pytest.mark.parametrize("name, kw", WEIGHT_FILE_CASES)
def test_weights_by_path_predict_as_keras(keras, tmp_path, name, kw):
    """The file in the layout of Keras's published files (and Keras 3's
    .weights.h5) loads by name and position into pynn's model, which then
    predicts what Keras's predicts with them."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16,) + kw["input_shape"]).astype(np.float32)
    x = PREPROCESS.get(name, lambda v: v)(x)
    mine, theirs = _keras_twin(keras, name, kw, x, rng)
    want = np.asarray(theirs.predict(x[:2], verbose=0))
    close_to_keras(mine.predict(x[:2], verbose=0), want)
    for path in (legacy_file(theirs, str(tmp_path / "published.h5")),
                 str(tmp_path / "model.weights.h5")):
        if path.endswith(".weights.h5"):
            theirs.save_weights(path)
        loaded = getattr(applications, name)(weights=path, **kw)
        for a, b in zip(loaded.get_weights(), mine.get_weights()):
            np.testing.assert_array_equal(a, b)
        close_to_keras(loaded.predict(x[:2], verbose=0), want)


@pytest.mark.parametrize("call, fname, url", [
    (lambda: applications.EfficientNetV2B0(weights="imagenet", include_top=False,
                                           input_shape=(32, 32, 3), name="mine"),
     "efficientnetv2-b0_notop.h5",
     "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
     "efficientnetv2-b0_notop.h5"),
    pytest.param(lambda: applications.NASNetMobile(weights="imagenet", include_top=False,
                                                   input_shape=(32, 32, 3)),
                 "nasnet_mobile_no_top.h5",
                 "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
                 "NASNet-mobile-no-top.h5", marks=pytest.mark.slow),
])
def test_imagenet_offline_names_the_file(tmp_path, call, fname, url):
    target = os.path.join(str(tmp_path / "pynn_home"), "models", fname)
    with pytest.raises(RuntimeError) as e:
        call()
    message = str(e.value)
    assert url in message and f"put it at {target}" in message


def test_published_file_names():
    """Keras's file names and digests, for the files not fetched above."""
    assert efficientnet_v2.WEIGHTS_HASHES["s"][1] == "af0682fb74e8c54910f2d4393339c070"
    assert nasnet.WEIGHTS_FILES[331][0][:2] == (
        "nasnet_large.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/NASNet-large.h5")
    assert applications.inception_resnet_v2.WEIGHTS_MD5 == (
        "e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4")
    assert sorted(convnext.WEIGHTS_HASHES) == [f"convnext_{v}" for v in
                                               ("base", "large", "small", "tiny", "xlarge")]


@pytest.mark.parametrize("call, match", [
    (lambda: applications.InceptionResNetV2(weights=None, include_top=False,
                                            input_shape=(74, 80, 3)), "at least 75x75"),
    (lambda: applications.InceptionResNetV2(weights="imagenet", input_shape=(224, 224, 3)),
     r"InceptionResNetV2: .*input_shape must be \(299, 299, 3\)"),
    (lambda: applications.InceptionResNetV2(weights="imagenet", classes=10),
     "classes must be 1000"),
    (lambda: applications.EfficientNetV2S(weights="imagenet", input_shape=(224, 224, 3)),
     r"EfficientNetV2S: .*input_shape must be \(384, 384, 3\)"),
    (lambda: applications.EfficientNetV2B1(weights=None, include_top=False, pooling="sum"),
     "pooling must be None, 'avg' or 'max'"),
    (lambda: applications.EfficientNetV2B0(weights="imagenet", classifier_activation="relu"),
     "classifier_activation"),
    (lambda: applications.NASNetLarge(weights="imagenet", include_top=False,
                                      input_shape=(None, None, 3)), "must be static"),
    (lambda: applications.NASNetMobile(weights="imagenet", input_shape=(331, 331, 3)),
     r"NASNetMobile: .*input_shape must be \(224, 224, 3\)"),
    (lambda: applications.NASNetMobile(weights="no/such/file.h5"), "existing weights file"),
    (lambda: applications.ConvNeXtTiny(weights="imagenet", name="my_net"),
     "name must contain 'convnext_tiny'"),
    (lambda: applications.ConvNeXtBase(weights=None, include_top=False,
                                       input_shape=(31, 64, 3)), "at least 32x32"),
    (lambda: applications.ConvNeXtXLarge(weights="imagenet", classes=3), "classes must be 1000"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_defaults_and_preprocessing():
    """Keras's default shapes; EfficientNetV2's and ConvNeXt's own
    preprocessing layers (none with include_preprocessing=False)."""
    b0 = applications.EfficientNetV2B0(weights=None, include_top=False,
                                       input_shape=(32, 32, 3))
    assert [type(l).__name__ for l in b0.layers[1:3]] == ["Rescaling", "Normalization"]
    np.testing.assert_allclose(b0.layers[1].scale, 1 / 255)
    # S, M and L (and the B variants on other than 3 channels) rescale to
    # [-1, 1]
    gray = applications.EfficientNetV2B0(weights=None, include_top=False,
                                         input_shape=(32, 32, 1), name="gray")
    assert gray.name == "gray" and type(gray.layers[2]).__name__ == "Conv2D"
    assert (gray.layers[1].scale, gray.layers[1].offset) == (1 / 128, -1)
    plain = applications.EfficientNetV2B0(weights=None, include_top=False,
                                          include_preprocessing=False, input_shape=(32, 32, 3))
    assert type(plain.layers[1]).__name__ == "Conv2D"
    x = np.full((1, 4, 4, 3), 7.0, np.float32)
    assert efficientnet_v2.preprocess_input(x) is x and convnext.preprocess_input(x) is x
    np.testing.assert_allclose(nasnet.preprocess_input(np.full((1, 2, 2, 3), 255.0)), 1.0)


@pytest.mark.slow
def test_convnext_structure_and_training():
    """ConvNeXt's stem and downsampling steps are Sequential models inside
    it; a fit step runs through the grouped convolutions, the layer norms
    and LayerScale, and changes their weights."""
    pynn.utils.set_random_seed(0)
    model = applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3), classes=3)
    stem = model.get_layer("convnext_tiny_stem")
    assert isinstance(stem, pynn.Sequential)
    assert [l.name for l in stem.layers] == ["convnext_tiny_stem_conv",
                                             "convnext_tiny_stem_layernorm"]
    assert model.get_layer("convnext_tiny_stage_0_block_0_depthwise_conv").groups == 96
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    names = ["convnext_tiny_stage_3_block_2_depthwise_conv",
             "convnext_tiny_stage_3_block_2_layer_scale"]
    before = [model.get_layer(n).get_weights()[0].copy() for n in names]
    history = model.fit(x, np.array([0, 2]), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for n, w in zip(names, before):
        assert not np.array_equal(model.get_layer(n).get_weights()[0], w), n


def test_efficientnet_v2_stochastic_depth_rates_match_keras(keras):
    """The residual branches' Dropout layers: Keras's rates, one draw per
    sample (the model is small at 32x32 without its top)."""
    kw = dict(weights=None, include_top=False, input_shape=(32, 32, 3))
    mine = applications.EfficientNetV2B0(**kw)
    theirs = keras.applications.EfficientNetV2B0(**kw)
    ours = [(l.name, l.rate, l.noise_shape) for l in mine.layers
            if isinstance(l, pynn.layers.Dropout)]
    want = [(l.name, l.rate, l.noise_shape) for l in theirs.layers
            if isinstance(l, keras.layers.Dropout)]
    assert ours == [(n, pytest.approx(r), s) for n, r, s in want] and len(ours) == 15
