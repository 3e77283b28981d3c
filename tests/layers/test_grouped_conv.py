"""Conv2D and Conv1D with groups: one group per input channel (``groups``
equal to the input channels, as ConvNeXt's 7x7 convolutions, kernel
(kh, kw, 1, filters)) or any number dividing the input channels and the
filters (kernel (kh, kw, in / groups, filters)): Keras's outputs,
gradients by finite differences, the batch normalization folded into it at
inference, its config; group counts that do not divide are refused naming
the layer."""
import os

import numpy as np
import pytest

import pynn
from gradcheck import check_model_gradients
from pynn import layers

os.environ.setdefault("KERAS_BACKEND", "numpy")


@pytest.mark.parametrize("layer, shape", [
    (dict(filters=6, kernel_size=3, groups=3, padding="same"), (2, 7, 5, 3)),
    (dict(filters=4, kernel_size=(2, 3), strides=2, groups=4, activation="relu"), (1, 9, 8, 4)),
    (dict(filters=3, kernel_size=7, groups=3, padding="same", use_bias=False), (2, 8, 8, 3)),
    (dict(filters=2, kernel_size=3, groups=1, dilation_rate=2), (1, 7, 7, 2)),
    (dict(filters=6, kernel_size=3, groups=2, padding="same", activation="relu"), (2, 7, 5, 4)),
    (dict(filters=4, kernel_size=(3, 2), strides=2, groups=2, dilation_rate=1), (1, 9, 8, 6)),
])
def test_conv2d_groups_match_keras(layer, shape):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    mine, theirs = layers.Conv2D(**layer), keras.layers.Conv2D(**layer)
    mine.build(shape)
    theirs.build(shape)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in theirs.get_weights()]
    assert [w.shape for w in mine.get_weights()] == [w.shape for w in weights]
    mine.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(mine(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)
    config = mine.get_config()
    assert config["groups"] == layer["groups"]
    again = layers.Conv2D.from_config(config)
    again.build(shape)
    again.set_weights(weights)
    np.testing.assert_allclose(again(x), mine(x), rtol=0, atol=0)


def test_conv1d_groups_match_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 4)).astype(np.float32)
    for groups in (4, 2):
        mine = layers.Conv1D(8, 3, groups=groups, padding="causal")
        theirs = keras.layers.Conv1D(8, 3, groups=groups, padding="causal")
        mine.build(x.shape)
        theirs.build(x.shape)
        weights = [rng.standard_normal(w.shape).astype(np.float32)
                   for w in theirs.get_weights()]
        mine.set_weights(weights)
        theirs.set_weights(weights)
        np.testing.assert_allclose(mine(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(activation="tanh"), dict(strides=2, use_bias=False)])
@pytest.mark.parametrize("channels", [2, 4])
def test_grouped_conv_gradients(kw, channels):
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input(shape=(5, 4, 2)), layers.Conv2D(channels, 1),
                             layers.Conv2D(4, 3, groups=2, padding="same", **kw),
                             layers.Flatten(), layers.Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(2)
    check_model_gradients(model, rng.standard_normal((3, 5, 4, 2)).astype(np.float32),
                          rng.standard_normal((3, 3)).astype(np.float32))


def test_batch_norm_folds_into_grouped_conv():
    """predict folds the BatchNormalization into the grouped kernel; the
    result is the layer-by-layer one."""
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input(shape=(6, 6, 3)),
                             layers.Conv2D(6, 3, groups=3, padding="same"),
                             layers.BatchNormalization(), layers.Activation("relu")])
    rng = np.random.default_rng(3)
    bn = model.layers[1]
    bn.set_weights([rng.uniform(0.5, 2, 6), rng.normal(0, 1, 6), rng.normal(0, 1, 6),
                    rng.uniform(0.5, 2, 6)])
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    want = x
    for layer in model.layers:
        want = np.asarray(layer(want))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make, shape, match", [
    (lambda: layers.Conv2D(4, 3, groups=2), (None, 8, 8, 3),
     r"input channels \(3\) must be divisible by groups \(2\)"),
    (lambda: layers.Conv2D(5, 3, groups=2), None, r"filters \(5\) must be divisible by groups"),
    (lambda: layers.Conv2D(4, 3, groups=0), None, "groups must be a positive integer"),
    (lambda: layers.Conv3D(4, 3, groups=4), None, "only groups=1 is supported"),
])
def test_bad_groups(make, shape, match):
    with pytest.raises(ValueError, match=match):
        layer = make()
        layer.build(shape)


def test_grouped_conv_export_names_the_layer():
    from pynn.lite import ConversionError, TFLiteConverter
    model = pynn.Sequential([pynn.Input(shape=(6, 6, 3)),
                             layers.Conv2D(3, 3, groups=3, name="grouped")])
    with pytest.raises(ConversionError, match="grouped.*groups=3"):
        TFLiteConverter.from_keras_model(model).convert()


def test_grouped_conv_keras_file_round_trip(tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input(shape=(6, 6, 4)),
                             layers.Conv2D(8, 3, groups=4, name="grouped")])
    path = str(tmp_path / "grouped.keras")
    model.save(path)
    x = np.random.default_rng(4).standard_normal((2, 6, 6, 4)).astype(np.float32)
    theirs = keras.saving.load_model(path)
    assert theirs.get_layer("grouped").groups == 4
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    again = pynn.models.load_model(path)
    assert again.get_layer("grouped").groups == 4
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
