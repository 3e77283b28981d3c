"""The new layers as the classic architectures use them, trained end to
end: a convolutional autoencoder on MNIST (Rescaling, strided Conv2D,
Conv2DTranspose), MobileNet's padded depthwise block with ReLU(6.), a
pre-norm residual block with LayerNormalization and Permute, each exported
to TFLite and run in the interpreter."""
import sys
from pathlib import Path

import numpy as np
import pytest

import pynn
from pynn import layers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tflite"))
from litehelp import convert, op_names, run  # noqa: E402


@pytest.mark.slow
def test_convolutional_autoencoder_learns_mnist():
    (x, _), _ = pynn.datasets.mnist.load_data()
    x = x[:256, ..., None]
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([
        pynn.Input(shape=(28, 28, 1)),
        layers.Rescaling(1 / 255.0),
        layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
    ])
    model.compile(optimizer=pynn.optimizers.Adam(learning_rate=3e-3),
                  loss="binary_crossentropy")
    target = x.astype(np.float32) / 255.0
    model.fit(x, target, epochs=4, batch_size=16, verbose=0)
    # Reconstructions beat the best image that ignores its input (the mean
    # image) by a wide margin: the codes carry the digits.
    mean = np.clip(np.broadcast_to(target.mean(0), target.shape), 1e-7, 1 - 1e-7)
    mean_loss = -(target * np.log(mean) + (1 - target) * np.log(1 - mean)).mean()
    recon = np.clip(model.predict(x, verbose=0), 1e-7, 1 - 1e-7)
    loss = -(target * np.log(recon) + (1 - target) * np.log(1 - recon)).mean()
    assert loss < 0.75 * mean_loss
    got = run(convert(model), x[:8].astype(np.float32))
    np.testing.assert_allclose(got, model.predict(x[:8], verbose=0), atol=1e-5)


def test_mobilenet_block_exports_with_fused_relu6():
    pynn.utils.set_random_seed(1)
    model = pynn.Sequential([
        pynn.Input(shape=(15, 15, 3)),
        layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.ReLU(6.0),
        layers.ZeroPadding2D(((0, 1), (0, 1))),
        layers.DepthwiseConv2D(3, strides=2, use_bias=False),
        layers.BatchNormalization(), layers.ReLU(6.0),
        layers.Conv2D(16, 1, use_bias=False), layers.BatchNormalization(), layers.ReLU(6.0),
        layers.GlobalAveragePooling2D(), layers.Dropout(0.2),
        layers.Dense(5, activation="softmax"),
    ])
    x = np.random.default_rng(2).uniform(-1, 1, (32, 15, 15, 3)).astype(np.float32)
    y = np.random.default_rng(3).integers(0, 5, 32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    data = convert(model)
    # BatchNormalization folded, ReLU6 fused, Dropout left out, as TF does
    assert op_names(data) == ["CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN",
                              "FULLY_CONNECTED", "SOFTMAX"]
    np.testing.assert_allclose(run(data, x), model.predict(x, verbose=0), atol=1e-5)


def test_pre_norm_residual_block_trains_and_exports():
    pynn.utils.set_random_seed(4)
    inp = pynn.Input(shape=(6, 16))
    h = layers.LayerNormalization(epsilon=1e-6)(inp)
    h = layers.Dense(32)(h)
    h = layers.ReLU()(h)
    h = layers.Dense(16)(h)
    h = layers.Add()([inp, h])  # pre-norm residual: the input passes through
    h = layers.Permute((2, 1))(h)  # (features, steps): mix the steps
    h = layers.Dense(1)(h)
    out = layers.Dense(1)(layers.Flatten()(h))
    model = pynn.Model(inp, out)
    g = np.random.default_rng(5)
    x = g.standard_normal((128, 6, 16)).astype(np.float32)
    y = x[:, :, 0].sum(axis=1, keepdims=True)
    model.compile(optimizer=pynn.optimizers.Adam(learning_rate=1e-2), loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.1 * first
    np.testing.assert_allclose(run(convert(model), x[:4]), model.predict(x[:4], verbose=0),
                               atol=1e-5)
