"""What the new layers do beyond their values: bad arguments and inputs
fail naming the layer; the noise layers are identities at inference and
draw what Keras draws while training; ActivityRegularization's penalty is
part of the training loss; plain activation layers fuse into the layer
before them; Normalization.adapt; inputs of other sizes."""
import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models.passes import inference_program


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


BAD_ARGUMENTS = [
    (lambda: layers.ZeroPadding2D(((1, 2),)), "ZeroPadding2D"),
    (lambda: layers.ZeroPadding2D(-1), "ZeroPadding2D"),
    (lambda: layers.ZeroPadding1D((1, 2, 3)), "ZeroPadding1D"),
    (lambda: layers.Cropping2D("a"), "Cropping2D"),
    (lambda: layers.ZeroPadding2D(data_format="nhwc"), "ZeroPadding2D"),
    (lambda: layers.UpSampling2D(interpolation="hamming"), "UpSampling2D"),
    (lambda: layers.UpSampling2D(size=0), "UpSampling2D"),
    (lambda: layers.UpSampling1D(0), "UpSampling1D"),
    (lambda: layers.RepeatVector(0), "RepeatVector"),
    (lambda: layers.Permute((1, 3)), "Permute"),
    (lambda: layers.Conv2DTranspose(0, 3), "Conv2DTranspose"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "Conv2DTranspose"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, dilation_rate=2), "Conv2DTranspose"),
    (lambda: layers.Conv2DTranspose(4, 3, padding="causal"), "Conv2DTranspose"),
    (lambda: layers.Conv1DTranspose(4, (3, 3)), "Conv1DTranspose"),
    (lambda: layers.ReLU(max_value=-1), "ReLU"),
    (lambda: layers.ReLU(negative_slope=-0.1), "ReLU"),
    (lambda: layers.ReLU(threshold=-1), "ReLU"),
    (lambda: layers.LeakyReLU(-0.2), "LeakyReLU"),
    (lambda: layers.ELU("a"), "ELU"),
    (lambda: layers.PReLU(shared_axes=[0]), "PReLU"),
    (lambda: layers.Softmax(axis="a"), "Softmax"),
    (lambda: layers.GaussianNoise(2.0), "GaussianNoise"),
    (lambda: layers.GaussianDropout(1.0), "GaussianDropout"),
    (lambda: layers.AlphaDropout(-0.1), "AlphaDropout"),
    (lambda: layers.AlphaDropout(0.1, noise_shape=(1, 2)), "AlphaDropout"),
    (lambda: layers.SpatialDropout2D(1.5), "spatial_dropout2d"),
    (lambda: layers.Dropout(0.2, noise_shape="abc"), "Dropout"),
    (lambda: layers.Dropout(0.2, noise_shape=(None, 0, 1)), "Dropout"),
    (lambda: layers.Dropout(0.2, noise_shape=(None, 1.5)), "Dropout"),
    (lambda: layers.Dropout(0.2, noise_shape=3), "Dropout"),
    (lambda: layers.ActivityRegularization(l1=-1), "ActivityRegularization"),
    (lambda: layers.LayerNormalization(epsilon=0), "LayerNormalization"),
    (lambda: layers.LayerNormalization(rms_scaling=True), "LayerNormalization"),
    (lambda: layers.LayerNormalization(axis="a"), "LayerNormalization"),
    (lambda: layers.GroupNormalization(groups=0), "GroupNormalization"),
    (lambda: layers.GroupNormalization(axis=1), "GroupNormalization"),
    (lambda: layers.Rescaling("x"), "Rescaling"),
    (lambda: layers.Normalization(mean=[1.0]), "Normalization"),
    (lambda: layers.Normalization(mean=[1.0, 2.0], variance=[1.0]), "Normalization"),
    (lambda: layers.Normalization(mean=[1.0], variance=[-1.0]), "Normalization"),
    (lambda: layers.Resizing(0, 3), "Resizing"),
    (lambda: layers.Resizing(3, 3, interpolation="hamming"), "Resizing"),
    (lambda: layers.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
     "Resizing"),
    (lambda: layers.CenterCrop(-1, 3), "CenterCrop"),
]


@pytest.mark.parametrize("make,name", BAD_ARGUMENTS,
                         ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD_ARGUMENTS)])
def test_bad_arguments_name_the_layer(make, name):
    with pytest.raises(ValueError, match=name):
        make()


BAD_INPUTS = [
    ((5, 7, 2), lambda: layers.Cropping2D(((3, 2), (0, 0))), "leaves nothing"),
    ((7, 3), lambda: layers.Cropping1D((4, 3)), "leaves nothing"),
    ((5, 7, 6), lambda: layers.GroupNormalization(4), "multiple"),
    ((5, 7, 2), lambda: layers.GroupNormalization(4), "cannot be more"),
    ((5, 7, 6), lambda: layers.LayerNormalization(axis=0), "batch axis"),
    ((5, 7, 6), lambda: layers.LayerNormalization(axis=4), "axis"),
    ((5, 7, 6), lambda: layers.Permute((2, 1)), "permute 2 axes"),
    ((None, 3), lambda: layers.PReLU(), "unknown dimensions"),
    ((1, 1, 2), lambda: layers.Conv2DTranspose(3, 2, padding="same", output_padding=0),
     "empty output"),
    ((5, 4), lambda: layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 1.0, 1.0]),
     "does not fit"),
    ((5, 4), lambda: layers.Rescaling([1.0, 2.0, 3.0]), "do not fit"),
    ((5, 4), lambda: layers.Softmax(axis=3), "out of range"),
    ((5, 4), lambda: layers.Normalization(axis=0), "batch axis"),
    ((None, 4), lambda: layers.Normalization(axis=1), "known size"),
    ((5,), lambda: layers.Resizing(3, 3), "images"),
    ((5, 4), lambda: layers.Dropout(0.5, noise_shape=(None, 1)), "one entry per axis"),
    ((5, 4), lambda: layers.Dropout(0.5, noise_shape=(None, 2, 4)), "does not fit"),
]


@pytest.mark.parametrize("shape,make,words", BAD_INPUTS,
                         ids=[w for _, _, w in BAD_INPUTS])
def test_inputs_that_do_not_fit_name_the_layer_and_shape(shape, make, words):
    layer = make()
    with pytest.raises(ValueError, match=words) as info:
        pynn.Sequential([pynn.Input(shape=shape), layer])
    assert type(layer).__name__ in str(info.value)


# --------------------------------------------------------------- noise

NOISE = [lambda: layers.GaussianNoise(0.3), lambda: layers.GaussianDropout(0.3),
         lambda: layers.AlphaDropout(0.3), lambda: layers.SpatialDropout2D(0.3),
         lambda: layers.ActivityRegularization(0.1, 0.1), lambda: layers.Dropout(0.3)]


def test_noise_layers_are_left_out_of_inference():
    x = rand(4, 5, 6, 3)
    model = pynn.Sequential([pynn.Input(shape=(5, 6, 3))] + [make() for make in NOISE])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert inference_program(model).steps == []
    for make in NOISE:
        layer = make()
        np.testing.assert_array_equal(layer(x, training=False), x)
        assert not np.array_equal(layer(x, training=True), x) or \
            isinstance(layer, layers.ActivityRegularization)


def test_noise_draws_follow_keras():
    pynn.utils.set_random_seed(3)
    x = np.ones((400, 500), np.float32)
    noisy = layers.GaussianNoise(0.2)(x, training=True) - 1
    assert abs(noisy.mean()) < 0.005 and abs(noisy.std() - 0.2) < 0.005
    mult = layers.GaussianDropout(0.2)(x, training=True)
    assert abs(mult.mean() - 1) < 0.005 and abs(mult.std() - 0.5) < 0.005  # sqrt(.2 / .8)
    maps = rand(64, 5, 6, 40) + 3
    dropped = layers.SpatialDropout2D(0.25)(maps, training=True)
    ratio = dropped / maps
    per_channel = ratio.reshape(64, 30, 40)
    # one draw per (sample, channel): all of a feature map kept (scaled by
    # 1 / (1 - rate)) or all of it zero
    assert np.allclose(per_channel, per_channel[:, :1], atol=1e-6)
    assert {round(float(v), 5) for v in np.unique(per_channel)} == {0.0, round(1 / 0.75, 5)}
    assert abs((per_channel[:, 0] == 0).mean() - 0.25) < 0.04
    seq = layers.SpatialDropout1D(0.5)(rand(8, 9, 30) + 3, training=True)
    assert np.all((seq == 0).all(axis=1) | (seq != 0).all(axis=1))
    # noise_shape (None, 1, 1, 1): whole samples kept (scaled) or zeroed
    samples = layers.Dropout(0.3, noise_shape=(None, 1, 1, 1))(maps, training=True) / maps
    per_sample = samples.reshape(64, -1)
    assert np.allclose(per_sample, per_sample[:, :1], atol=1e-6)
    assert {round(float(v), 5) for v in np.unique(per_sample)} == {0.0, round(1 / 0.7, 5)}
    assert 0 < (per_sample[:, 0] == 0).sum() < 64
    # a 1 in the middle: one draw shared along that axis only
    rows = layers.Dropout(0.5, noise_shape=[None, 1, 6, None])(maps, training=True) / maps
    assert np.allclose(rows, rows[:, :1], atol=1e-6) and not np.allclose(rows, rows[:, :, :1])
    # a layer's own seed gives the same draws in two layers
    a = layers.GaussianNoise(0.5, seed=7)(x[:3], training=True)
    b = layers.GaussianNoise(0.5, seed=7)(x[:3], training=True)
    np.testing.assert_array_equal(a, b)


def test_activity_regularization_penalty_is_part_of_the_training_loss():
    x, y = rand(8, 5), rand(8, 2, seed=1)
    pynn.utils.set_random_seed(2)
    reg = layers.ActivityRegularization(l1=0.1, l2=0.05)
    model = pynn.Sequential([pynn.Input(shape=(5,)), layers.Dense(4), reg, layers.Dense(2)])
    model.compile(optimizer=pynn.optimizers.SGD(learning_rate=0.0), loss="mse")
    hidden = model.layers[0](x)
    penalty = 0.1 * np.abs(hidden.astype(np.float64)).sum() + \
        0.05 * (hidden.astype(np.float64) ** 2).sum()
    mse = float(((model.predict(x, verbose=0) - y) ** 2).mean())
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # Keras 3 adds the penalty divided by the batch size
    assert history.history["loss"][0] == pytest.approx(mse + penalty / 8, rel=1e-5)
    # it is nested-model aware
    outer = pynn.Sequential([pynn.Input(shape=(5,)), model])
    outer.compile(optimizer=pynn.optimizers.SGD(learning_rate=0.0), loss="mse")
    nested = outer.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert nested.history["loss"][0] == pytest.approx(mse + penalty / 8, rel=1e-5)


# ---------------------------------------------------------- activations

def test_plain_relu_layers_fuse_into_the_layer_before():
    pynn.utils.set_random_seed(4)
    model = pynn.Sequential([pynn.Input(shape=(6, 6, 3)),
                             layers.Conv2D(4, 3, padding="same"), layers.ReLU(6.0),
                             layers.Conv2D(4, 1), layers.ReLU(),
                             layers.Conv2D(4, 1), layers.ReLU(max_value=2.0),
                             layers.Conv2D(4, 1), layers.LeakyReLU(0.2)])
    steps = inference_program(model).steps
    assert [s.act for s in steps] == ["relu6", "relu", None, None, None, None]
    x = rand(3, 6, 6, 3) * 4
    state = model._program.new_state()
    unfused = model._program.forward([x], False, state)[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), unfused, rtol=1e-6, atol=1e-6)


def test_leaky_relu_takes_keras2_alpha():
    assert layers.LeakyReLU(alpha=0.1).negative_slope == 0.1
    assert layers.LeakyReLU().negative_slope == 0.3
    np.testing.assert_allclose(layers.LeakyReLU(alpha=0.1)(np.array([[-2.0, 3.0]])),
                               [[-0.2, 3.0]], rtol=1e-6)


def test_softmax_output_layer_trains_with_the_fused_loss():
    pynn.utils.set_random_seed(5)
    x = rand(64, 4)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    model = pynn.Sequential([pynn.Input(shape=(4,)), layers.Dense(3), layers.Softmax()])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    assert model._compiled_outputs[0].fused
    first = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < first
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, rtol=1e-5)


def test_softmax_refuses_a_mask():
    from pynn.models.node import CallContext
    layer = layers.Softmax()
    layer.build_for((None, 5))
    ctx = CallContext()
    ctx.mask = np.ones((2,), bool)
    with pytest.raises(ValueError, match="mask"):
        layer.forward(ctx, rand(2, 5), False)


# -------------------------------------------------------- normalization

def test_normalization_adapt_from_arrays_and_batches():
    g = np.random.default_rng(6)
    data = (g.standard_normal((300, 3)) * [1.0, 2.0, 0.5] + [1.0, -2.0, 3.0]).astype(np.float32)
    layer = layers.Normalization()
    layer.adapt(data)
    np.testing.assert_allclose(layer.mean.value, data.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.variance.value, data.var(0), rtol=1e-5)
    out = layer(data)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-4)
    # (x, y) batches from a generator, as Keras takes them
    batches = layers.Normalization()
    batches.adapt((data[i:i + 64], None) for i in range(0, 300, 64))
    np.testing.assert_allclose(batches.mean.value, data.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batches.variance.value, data.var(0), rtol=1e-5)
    inverse = layers.Normalization(invert=True)
    inverse.adapt(data)
    np.testing.assert_allclose(inverse(out), data, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="built for"):
        layer.adapt(data[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        layers.Normalization().adapt(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="no data"):
        layers.Normalization().adapt([])
    with pytest.raises(ValueError, match="given"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(data)


def test_layer_normalization_normalizes_each_sample():
    x = rand(4, 5, 8) * 3 + 2
    y = layers.LayerNormalization(epsilon=1e-6)(x)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 1, atol=1e-4)
    z = layers.LayerNormalization(axis=[1, 2], epsilon=1e-6)(x)
    np.testing.assert_allclose(z.reshape(4, -1).mean(-1), 0, atol=1e-5)
    u = layers.UnitNormalization()(x)
    np.testing.assert_allclose(np.linalg.norm(u, axis=-1), 1, rtol=1e-5)


# ------------------------------------------------------------- images

def test_image_layers_take_images_of_any_size():
    crop, resize = layers.CenterCrop(4, 4), layers.Resizing(3, 5)
    up, pad = layers.UpSampling2D(), layers.ZeroPadding2D(1)
    for shape in ((2, 6, 7, 3), (1, 9, 4, 3), (3, 2, 3, 3)):
        x = rand(*shape)
        assert crop(x).shape == (shape[0], 4, 4, 3)
        assert resize(x).shape == (shape[0], 3, 5, 3)
        assert up(x).shape == (shape[0], shape[1] * 2, shape[2] * 2, 3)
        assert pad(x).shape == (shape[0], shape[1] + 2, shape[2] + 2, 3)
    # CenterCrop of a large enough image is the central window
    x = rand(2, 7, 8, 3)
    np.testing.assert_array_equal(crop(x), x[:, 1:5, 2:6])


def test_conv_transpose_kernel_is_stored_as_keras_stores_it():
    layer = layers.Conv2DTranspose(5, (3, 2))
    pynn.Sequential([pynn.Input(shape=(4, 4, 7)), layer])
    assert layer.kernel.shape == (3, 2, 5, 7) and layer.bias.shape == (5,)
    one = layers.Conv1DTranspose(5, 3)
    pynn.Sequential([pynn.Input(shape=(4, 7)), one])
    assert one.kernel.shape == (3, 5, 7)
