"""Export of channels_first models: each layer that computes with the
channels last runs between TRANSPOSEs (what TensorFlow's converter writes),
checked in LiteRT against predict, in float and int8."""
import numpy as np
import pytest

from litehelp import MODES, check_export, sweep_model
from pynn import layers

CF = {"data_format": "channels_first"}


def _images(*shape):
    return lambda: [np.random.default_rng(0).random((8,) + shape).astype(np.float32)]


def _cnn(x):
    y = layers.Conv2D(4, 3, padding="same", **CF)(x)
    y = layers.BatchNormalization(axis=1)(y)
    y = layers.ReLU()(y)
    y = layers.MaxPooling2D(2, **CF)(y)
    y = layers.SeparableConv2D(6, 3, activation="relu", **CF)(y)
    y = layers.ZeroPadding2D(1, **CF)(y)
    y = layers.DepthwiseConv2D(3, **CF)(y)
    y = layers.Flatten(**CF)(y)
    return layers.Dense(3)(y)


def _decoder(x):
    y = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu", **CF)(x)
    y = layers.UpSampling2D(2, **CF)(y)
    y = layers.Cropping2D(((1, 0), (0, 1)), **CF)(y)
    y = layers.AveragePooling2D(2, **CF)(y)
    return layers.GlobalAveragePooling2D(**CF)(y)


def _sequence(x):
    y = layers.Conv1D(4, 3, padding="causal", activation="relu", **CF)(x)
    y = layers.MaxPooling1D(2, **CF)(y)
    y = layers.ZeroPadding1D(1, **CF)(y)
    return layers.Flatten(**CF)(y)


def _volume(x):
    y = layers.Conv3D(3, 2, activation="relu", **CF)(x)
    y = layers.MaxPooling3D(2, **CF)(y)
    return layers.Flatten(**CF)(y)


def _preprocess(x):
    y = layers.Resizing(6, 8, **CF)(x)
    y = layers.CenterCrop(5, 6, **CF)(y)
    y = layers.BatchNormalization(axis=1, beta_initializer="ones")(y)
    y = layers.Conv2D(2, 3, **CF)(y)
    return layers.GlobalMaxPooling2D(**CF)(y)


CASES = {
    "preprocess": sweep_model([(3, 9, 12)], _preprocess, _images(3, 9, 12)),
    "cnn": sweep_model([(3, 10, 10)], _cnn, _images(3, 10, 10)),
    "decoder": sweep_model([(2, 5, 6)], _decoder, _images(2, 5, 6)),
    "sequence": sweep_model([(3, 12)], _sequence, _images(3, 12)),
    "volume": sweep_model([(2, 5, 6, 7)], _volume, _images(2, 5, 6, 7)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_channels_first_models_export(name, mode):
    if name == "volume" and mode == "int8":
        pytest.skip("CONV_3D has no int8 kernel in TensorFlow Lite, in either data format")
    names = check_export(CASES[name], mode)
    assert "TRANSPOSE" in names


def test_the_transposes_surround_the_convolution():
    names = check_export(CASES["sequence"], None)
    first = names.index("TRANSPOSE")
    assert names[first + 1] in ("CONV_2D", "RESHAPE", "PAD") and names.count("TRANSPOSE") >= 4
