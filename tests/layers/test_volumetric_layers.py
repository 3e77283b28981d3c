"""The 3-D layers (Conv3D, MaxPooling3D, AveragePooling3D, their global
forms and UpSampling3D) against Keras 3 on its NumPy backend with the same
weights, gradients against finite differences, and a small volumetric
classifier that trains (Keras's 3-D CT-scan example in miniature)."""
import importlib.util

import numpy as np
import pytest
from gradcheck import check_model_gradients

import pynn
from pynn import layers

CASES = [
    ("Conv3D", dict(filters=4, kernel_size=3)),
    ("Conv3D", dict(filters=4, kernel_size=(2, 3, 1), strides=(2, 1, 2), padding="same",
                    activation="relu")),
    ("Conv3D", dict(filters=2, kernel_size=3, dilation_rate=(2, 1, 2), padding="same",
                    use_bias=False, activation="tanh")),
    ("MaxPooling3D", dict()),
    ("MaxPooling3D", dict(pool_size=3, strides=2, padding="same")),
    ("AveragePooling3D", dict(pool_size=(2, 3, 2), padding="same")),
    ("AveragePooling3D", dict(pool_size=2, strides=1)),
    ("GlobalMaxPooling3D", dict()),
    ("GlobalAveragePooling3D", dict(keepdims=True)),
    ("UpSampling3D", dict(size=(2, 1, 3))),
]


def _volumes(shape=(2, 7, 8, 6, 3), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("name, kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_keras(keras, name, kw):
    x = _volumes()
    pynn.utils.set_random_seed(1)
    model = pynn.Sequential([pynn.Input(x.shape[1:]), getattr(layers, name)(**kw)])
    weights = model.get_weights()
    if len(weights) == 2:  # a bias away from zero
        weights[1] = np.random.default_rng(2).normal(size=weights[1].shape).astype(np.float32)
        model.set_weights(weights)
    ref = keras.Sequential([keras.Input(x.shape[1:]), getattr(keras.layers, name)(**kw)])
    ref.set_weights(model.get_weights())
    got, want = model.predict(x, verbose=0), ref.predict(x, verbose=0)
    assert got.shape == want.shape
    assert tuple(model.output_shape[1:]) == want.shape[1:]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("stack", ["conv", "pools", "upsampling"])
def test_gradients(stack):
    pynn.utils.set_random_seed(3)
    if stack == "conv":
        body = [layers.Conv3D(2, (2, 3, 2), strides=(2, 1, 1), padding="same",
                              activation="tanh"),
                layers.Conv3D(2, 2, dilation_rate=(1, 2, 1), activation="swish")]
    elif stack == "pools":
        body = [layers.Conv3D(2, 1), layers.MaxPooling3D(2, strides=1, padding="same"),
                layers.AveragePooling3D((2, 1, 2), padding="same")]
    else:
        body = [layers.Conv3D(2, 1), layers.UpSampling3D((1, 2, 1)),
                layers.Conv3D(2, (1, 2, 2))]
    head = [layers.GlobalAveragePooling3D(), layers.Dense(3, activation="softmax")]
    model = pynn.Sequential([pynn.Input((4, 3, 5, 2))] + body + head)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = _volumes((3, 4, 3, 5, 2), 4)
    check_model_gradients(model, x, np.array([0, 2, 1]))
    model2 = pynn.Sequential([pynn.Input((4, 3, 5, 2)), layers.Conv3D(2, 1),
                              layers.GlobalMaxPooling3D(),
                              layers.Dense(3, activation="softmax")])
    model2.compile("sgd", "sparse_categorical_crossentropy")
    check_model_gradients(model2, x, np.array([0, 2, 1]))


def test_a_volumetric_classifier_trains_and_saves(tmp_path):
    pynn.utils.set_random_seed(5)
    inputs = pynn.Input((8, 8, 8, 1))
    x = layers.Conv3D(4, 3, activation="relu")(inputs)
    x = layers.MaxPool3D(2)(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling3D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(layers.Dropout(0.3)(x))
    model = pynn.Model(inputs, outputs)
    model.compile("adam", "binary_crossentropy", metrics=["acc"])
    g = np.random.default_rng(6)
    y = g.integers(0, 2, 32)
    vols = g.normal(size=(32, 8, 8, 8, 1)).astype(np.float32) + y[:, None, None, None, None]
    history = model.fit(vols, y, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # Keras's format where h5py (the 'keras' extra) is installed
    for ext in ("pynn", "keras") if importlib.util.find_spec("h5py") else ("pynn",):
        path = str(tmp_path / f"ct.{ext}")
        model.save(path)
        np.testing.assert_allclose(pynn.models.load_model(path).predict(vols, verbose=0),
                                   model.predict(vols, verbose=0), rtol=1e-6, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Conv3D.*rank 5"):
        pynn.Sequential([pynn.Input((4, 4, 3)), layers.Conv3D(2, 3)])
    with pytest.raises(ValueError, match="strides > 1 cannot be combined with dilation"):
        layers.Conv3D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="size must be positive"):
        layers.UpSampling3D((0, 1, 1))
    with pytest.raises(ValueError, match="rank 5"):
        pynn.Sequential([pynn.Input((4, 4, 3)), layers.MaxPooling3D()])
