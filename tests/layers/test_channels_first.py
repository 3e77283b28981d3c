"""data_format='channels_first' (and BatchNormalization(axis=1)): the same
outputs as Keras 3 for the same weights, the same training as the
channels_last model on transposed data, configs and Keras files that carry
it, the global default."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import layers

CF = {"data_format": "channels_first"}

# (name, constructor arguments, input shape without the batch)
CASES = [
    ("Conv2D", (4, 3), dict(strides=2, padding="same"), (3, 9, 7)),
    ("Conv2D", (4, (2, 3)), dict(dilation_rate=2, activation="relu"), (3, 9, 8)),
    ("Conv1D", (4, 3), dict(padding="causal"), (3, 9)),
    ("Conv3D", (4, 3), {}, (3, 5, 6, 7)),
    ("DepthwiseConv2D", (3,), dict(depth_multiplier=2), (3, 9, 7)),
    ("DepthwiseConv1D", (3,), {}, (3, 9)),
    ("SeparableConv2D", (5, 3), dict(padding="same"), (3, 9, 7)),
    ("SeparableConv1D", (5, 3), {}, (3, 9)),
    ("Conv2DTranspose", (4, 3), dict(strides=2), (3, 5, 4)),
    ("Conv1DTranspose", (4, 3), dict(strides=2, padding="same"), (3, 5)),
    ("Conv3DTranspose", (4, 3), dict(strides=2), (3, 3, 4, 5)),
    ("MaxPooling2D", (2,), dict(padding="same"), (3, 9, 7)),
    ("AveragePooling2D", (3,), dict(strides=2), (3, 9, 7)),
    ("MaxPooling1D", (3,), dict(strides=2), (3, 9)),
    ("AveragePooling1D", (2,), {}, (3, 9)),
    ("MaxPooling3D", (2,), {}, (3, 4, 6, 5)),
    ("AveragePooling3D", (2,), {}, (3, 4, 6, 5)),
    ("GlobalMaxPooling2D", (), {}, (3, 4, 5)),
    ("GlobalAveragePooling3D", (), dict(keepdims=True), (3, 2, 4, 5)),
    ("UpSampling2D", ((2, 3),), {}, (3, 4, 5)),
    ("UpSampling2D", ((2, 3),), dict(interpolation="bilinear"), (3, 4, 5)),
    ("UpSampling3D", (2,), {}, (3, 2, 3, 4)),
    ("ZeroPadding1D", (2,), {}, (3, 4)),
    ("ZeroPadding2D", (((1, 2), (0, 3)),), {}, (3, 4, 5)),
    ("ZeroPadding3D", (1,), {}, (3, 4, 5, 2)),
    ("Cropping2D", (((1, 0), (1, 2)),), {}, (3, 4, 5)),
    ("Cropping3D", (1,), {}, (3, 4, 5, 4)),
    ("Flatten", (), {}, (3, 4, 5)),
    ("Flatten", (), {}, (3, 4)),
    ("SpatialDropout2D", (0.5,), {}, (3, 4, 5)),
    ("ConvLSTM2D", (2, 3), dict(return_sequences=True), (3, 3, 5, 6)),
    ("ConvLSTM1D", (2, 3), {}, (3, 3, 5)),
    ("Resizing", (5, 6), {}, (3, 8, 10)),
    ("Resizing", (5, 6), dict(pad_to_aspect_ratio=True), (3, 8, 10)),
    ("CenterCrop", (5, 6), {}, (3, 8, 10)),
    ("RandomFlip", (), {}, (3, 8, 10)),
    ("RandomZoom", (0.2,), {}, (3, 8, 10)),
]


def _model(lib, layer, shape):
    x = lib.Input(shape)
    return lib.Model(x, layer(x))


@pytest.mark.parametrize("name,args,kwargs,shape", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_outputs_and_configs_match_keras(keras, name, args, kwargs, shape):
    theirs = _model(keras, getattr(keras.layers, name)(*args, **CF, **kwargs), shape)
    layer = getattr(layers, name)(*args, **CF, **kwargs)
    ours = _model(pynn, layer, shape)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).standard_normal((2,) + shape).astype(np.float32)
    want = theirs.predict(x, verbose=0)
    assert ours.output_shape == theirs.output_shape
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), want, rtol=1e-5, atol=2e-5)
    config = layer.get_config()
    assert config["data_format"] == "channels_first"
    again = type(layer).from_config(config)
    assert again.data_format == "channels_first"


def test_flatten_of_channels_first_data_is_in_channels_last_order():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    y = np.asarray(layers.Flatten(data_format="channels_first")(x))
    np.testing.assert_array_equal(y[0], np.moveaxis(x, 1, -1).ravel())
    # a Flatten on 2-D data moves nothing
    np.testing.assert_array_equal(
        np.asarray(layers.Flatten(data_format="channels_first")(x[:, :, 0, 0])), x[:, :, 0, 0])


def test_image_layers_take_one_channels_first_image(keras):
    x = np.random.default_rng(2).random((3, 8, 10)).astype(np.float32)
    for name, args in [("Resizing", (4, 6)), ("CenterCrop", (5, 6))]:
        want = np.asarray(getattr(keras.layers, name)(*args, **CF)(x))
        got = np.asarray(getattr(layers, name)(*args, **CF)(x))
        assert got.shape == want.shape == (3,) + args
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_augmentation_moves_whole_channels_first_images():
    x = np.random.default_rng(3).random((4, 3, 6, 7)).astype(np.float32)
    y = np.asarray(layers.RandomFlip("horizontal", seed=1, **CF)(x, training=True))
    for a, b in zip(x, y):
        assert np.array_equal(b, a) or np.array_equal(b, a[:, :, ::-1])
    assert any(not np.array_equal(a, b) for a, b in zip(x, y))
    gray = np.asarray(layers.RandomGrayscale(1.0, **CF)(x, training=True))
    assert gray.shape == x.shape and np.allclose(gray[:, 0], gray[:, 1])
    crop = layers.RandomCrop(4, 5, seed=0, **CF)
    assert np.asarray(crop(x, training=True)).shape == (4, 3, 4, 5)


def _pair(first):
    """A small convolutional classifier, channels_first or channels_last."""
    fmt = "channels_first" if first else "channels_last"
    axis = 1 if first else -1
    x = pynn.Input((3, 8, 8) if first else (8, 8, 3))
    y = layers.Conv2D(4, 3, padding="same", data_format=fmt)(x)
    y = layers.BatchNormalization(axis=axis)(y)
    y = layers.Activation("relu")(y)
    y = layers.MaxPooling2D(2, data_format=fmt)(y)
    y = layers.DepthwiseConv2D(3, padding="same", data_format=fmt, activation="relu")(y)
    y = layers.UpSampling2D(2, data_format=fmt)(y)
    y = layers.Conv2DTranspose(2, 3, strides=2, data_format=fmt)(y)
    y = layers.Flatten(data_format=fmt)(y)
    return pynn.Model(x, layers.Dense(3, activation="softmax")(y))


def test_training_matches_the_channels_last_model_on_transposed_data():
    pynn.utils.set_random_seed(5)
    last = _pair(False)
    first = _pair(True)
    first.set_weights(last.get_weights())
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 8, 8, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    for m in (last, first):
        m.compile(pynn.optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy")
    h_last = last.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h_first = first.fit(np.moveaxis(x, -1, 1), y, batch_size=8, epochs=2, shuffle=False,
                        verbose=0)
    np.testing.assert_allclose(h_first.history["loss"], h_last.history["loss"], rtol=1e-4)
    for a, b in zip(first.get_weights(), last.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.predict(np.moveaxis(x, -1, 1), verbose=0),
                               last.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_batch_norm_on_axis_1_folded_after_a_convolution_matches_keras(keras):
    def build(lib):
        x = lib.Input((3, 7, 7))
        y = lib.layers.Conv2D(4, 3, data_format="channels_first")(x)
        y = lib.layers.BatchNormalization(axis=1)(y)
        return lib.Model(x, lib.layers.ReLU()(y))
    theirs, ours = build(keras), build(pynn)
    rng = np.random.default_rng(6)
    weights = [w if i < 2 else rng.random(w.shape).astype(np.float32) + 0.5
               for i, w in enumerate(theirs.get_weights())]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.standard_normal((3, 3, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    # training=True normalizes by the batch's own statistics over axis 1
    bn = layers.BatchNormalization(axis=1, center=False, scale=False, epsilon=1e-6)
    y = np.asarray(bn(x, training=True))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_files_keras_writes_load_and_give_its_outputs(tmp_path, keras, suffix):
    L = keras.layers
    theirs = keras.Sequential([
        keras.Input((3, 12, 12)),
        L.Conv2D(4, 3, activation="relu", **CF),
        L.BatchNormalization(axis=1),
        L.MaxPooling2D(2, **CF),
        L.ZeroPadding2D(1, **CF),
        L.SeparableConv2D(5, 3, **CF),
        L.UpSampling2D(2, **CF),
        L.SpatialDropout2D(0.2, **CF),
        L.Flatten(**CF),
        L.Dense(3)])
    rng = np.random.default_rng(7)
    bn = theirs.layers[1]
    bn.moving_mean.assign(rng.random(4))
    bn.moving_variance.assign(rng.random(4) + 0.5)
    theirs.save(tmp_path / f"m.{suffix}")
    ours = pynn.models.load_model(tmp_path / f"m.{suffix}")
    x = rng.random((4, 3, 12, 12)).astype(np.float32)
    want = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras")
    assert back.layers[0].data_format == "channels_first"
    np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.fixture
def channels_first_default():
    pynn.backend.set_image_data_format("channels_first")
    try:
        yield
    finally:
        pynn.backend.set_image_data_format("channels_last")


def test_the_global_default_applies_at_construction(channels_first_default):
    assert pynn.config.image_data_format() == "channels_first"
    assert pynn.backend.image_dim_ordering() == "th"
    made = [layers.Conv2D(2, 3), layers.MaxPooling2D(), layers.Flatten(),
            layers.GlobalAveragePooling2D(), layers.UpSampling2D(), layers.Resizing(2, 2),
            layers.SpatialDropout2D(0.1), layers.ZeroPadding1D()]
    assert all(layer.data_format == "channels_first" for layer in made)
    # the layers Keras gives no data_format stay channels last
    assert layers.Cropping1D().data_format == "channels_last"
    assert layers.UpSampling1D().data_format == "channels_last"
    assert layers.SpatialDropout1D(0.1).data_format == "channels_last"
    model = pynn.Sequential([pynn.Input((3, 8, 8)), layers.Conv2D(2, 3), layers.Flatten()])
    assert model.output_shape == (None, 2 * 6 * 6)
    pynn.backend.set_image_data_format("channels_last")
    # a layer keeps the format it was made with
    assert made[0].data_format == "channels_first"
    assert layers.Conv2D(2, 3).data_format == "channels_last"
    with pytest.raises(ValueError, match="channels_last' or 'channels_first"):
        pynn.config.set_image_data_format("channels_middle")


def test_keras_json_sets_the_default(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"image_data_format": "channels_first"}))
    env = {**os.environ, "KERAS_HOME": str(tmp_path)}
    code = ("import pynn; print(pynn.config.image_data_format(), "
            "pynn.layers.Conv2D(2, 3).data_format)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(pynn.__file__)))
    assert out.stdout.split() == ["channels_first", "channels_first"]


def test_wrong_inputs_are_refused_naming_the_layer_and_shape():
    with pytest.raises(ValueError, match=r"Conv2D 'cf2d'.*rank 4.*\(None, 3, 8\)"):
        pynn.Sequential([pynn.Input((3, 8)), layers.Conv2D(2, 3, name="cf2d", **CF)])
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last' or"):
        layers.MaxPooling2D(data_format="NCHW")
    model = pynn.Sequential([pynn.Input((3, 8, 8)), layers.Conv2D(2, 3, **CF)])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 3, 8, 8\), found shape="
                                         r"\(None, 8, 8, 3\)"):
        model.predict(np.zeros((1, 8, 8, 3), np.float32), verbose=0)


def test_keras_ops_and_backend_functions_follow_the_global_default(keras, channels_first_default):
    rng = np.random.default_rng(8)
    x = rng.random((2, 3, 8, 8)).astype(np.float32)
    kernel = rng.random((3, 3, 3, 4)).astype(np.float32)
    want = keras.ops.conv(x, kernel, data_format="channels_first")
    np.testing.assert_allclose(np.asarray(pynn.ops.conv(x, kernel)), want, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(
        np.asarray(pynn.ops.max_pool(x, 2)),
        np.moveaxis(np.asarray(pynn.ops.max_pool(np.moveaxis(x, 1, -1), 2,
                                                 data_format="channels_last")), -1, 1))
    K = pynn.backend
    bias = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(K.bias_add(x, bias)), x + bias[:, None, None])
    np.testing.assert_array_equal(
        np.asarray(K.spatial_2d_padding(x, ((1, 0), (2, 1)))),
        np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 1))))
    # an explicit channels_last still means it
    np.testing.assert_array_equal(
        np.asarray(K.bias_add(x, np.ones(8, np.float32), data_format="channels_last")), x + 1)


def test_keras_1_dim_ordering_is_refused_naming_the_data_format_to_write():
    with pytest.raises(TypeError, match="dim_ordering='th' is data_format='channels_first'"):
        layers.Conv2D(4, (3, 3), dim_ordering="th")


def test_a_channels_first_model_stays_on_the_host():
    model = pynn.Sequential([pynn.Input((3, 8, 8)), layers.Conv2D(2, 3, **CF, name="cf")])
    with pytest.raises(ValueError, match=r"layer 'cf' \(Conv2D\) moves its channels around "
                                         r"the kernels on the host and cannot run on the GPU"):
        with pynn.device("gpu:0"):
            model.predict(np.zeros((1, 3, 8, 8), np.float32), verbose=0)
    assert model.predict(np.zeros((1, 3, 8, 8), np.float32), verbose=0).shape == (1, 2, 6, 6)
