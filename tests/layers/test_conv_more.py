"""DepthwiseConv1D, SeparableConv1D and Conv3DTranspose: against Keras 3
(NumPy backend) with the same weights at odd sizes over padding, strides,
dilation and output_padding ('causal' padding, which Keras 3 has only for
Conv1D, against Keras's 'valid' on the input padded in front, as tf.keras 2
computed it), gradients against finite differences, training, configs,
and TFLite's refusal of Conv3DTranspose (the 1-D layers' export is in
tests/tflite/test_conv.py)."""
import warnings

import numpy as np
import pytest
from gradcheck import check_model_gradients

import pynn
from pynn import layers

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ONE_D = [
    ("DepthwiseConv1D", dict(kernel_size=1)),
    ("DepthwiseConv1D", dict(kernel_size=5, depth_multiplier=3, activation="tanh")),
    ("DepthwiseConv1D", dict(kernel_size=3, strides=3, padding="same")),
    ("DepthwiseConv1D", dict(kernel_size=4, dilation_rate=2, padding="same", use_bias=False)),
    ("DepthwiseConv1D", dict(kernel_size=2, strides=2, activation="swish")),
    ("SeparableConv1D", dict(filters=1, kernel_size=1)),
    ("SeparableConv1D", dict(filters=7, kernel_size=4, depth_multiplier=2, padding="same",
                             activation="relu")),
    ("SeparableConv1D", dict(filters=3, kernel_size=3, strides=2)),
    ("SeparableConv1D", dict(filters=5, kernel_size=3, dilation_rate=3, padding="same",
                             use_bias=False)),
]

THREE_D = [
    dict(filters=1, kernel_size=1),
    dict(filters=3, kernel_size=3),
    dict(filters=2, kernel_size=(3, 1, 2), strides=(2, 3, 1), padding="same"),
    dict(filters=3, kernel_size=(2, 3, 3), strides=(3, 2, 2), output_padding=(2, 1, 0)),
    dict(filters=2, kernel_size=(3, 4, 1), strides=(2, 3, 2), padding="same",
         output_padding=(0, 2, 1), activation="sigmoid"),
    dict(filters=2, kernel_size=(2, 3, 2), dilation_rate=(3, 1, 2), activation="relu"),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", use_bias=False),
    dict(filters=2, kernel_size=(1, 2, 3), strides=(1, 2, 3), padding="same"),
]


def _random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _compare(keras, name, kw, x, keras_kw=None, keras_x=None):
    ours = pynn.Sequential([pynn.Input(x.shape[1:]), getattr(layers, name)(**kw)])
    values = [_random(w.shape, 10 + i) for i, w in enumerate(ours.get_weights())]
    ours.set_weights(values)
    keras_x = x if keras_x is None else keras_x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.Sequential([keras.Input(keras_x.shape[1:]),
                                   getattr(keras.layers, name)(**(keras_kw or kw))])
    theirs.set_weights(values)
    want = np.asarray(theirs(keras_x))
    got = ours.predict(x, verbose=0)
    assert got.shape == want.shape
    assert tuple(ours.output_shape[1:]) == want.shape[1:]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("steps", [1, 7, 33])
@pytest.mark.parametrize("name, kw", ONE_D, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ONE_D)])
def test_1d_matches_keras(keras, name, kw, steps):
    span = (kw["kernel_size"] - 1) * kw.get("dilation_rate", 1) + 1
    if kw.get("padding", "valid") == "valid" and steps < span:
        pytest.skip("an empty output")
    _compare(keras, name, kw, _random((2, steps, 3), steps))


@pytest.mark.parametrize("name", ["DepthwiseConv1D", "SeparableConv1D"])
@pytest.mark.parametrize("kernel, dilation", [(1, 1), (3, 1), (3, 2), (4, 3)])
def test_1d_causal_is_valid_after_padding_in_front(keras, name, kernel, dilation):
    kw = dict(kernel_size=kernel, dilation_rate=dilation, depth_multiplier=2)
    if name == "SeparableConv1D":
        kw["filters"] = 5
    x = _random((3, 7, 3), 3)
    front = (kernel - 1) * dilation
    _compare(keras, name, {**kw, "padding": "causal"}, x, keras_kw=kw,
             keras_x=np.pad(x, ((0, 0), (front, 0), (0, 0))))


@pytest.mark.parametrize("shape", [(2, 1, 1, 1, 3), (2, 3, 5, 7, 2), (1, 5, 4, 3, 1)])
@pytest.mark.parametrize("kw", THREE_D, ids=[str(i) for i in range(len(THREE_D))])
def test_conv3d_transpose_matches_keras(keras, kw, shape):
    _compare(keras, "Conv3DTranspose", kw, _random(shape, sum(shape)))


def test_conv3d_transpose_is_the_input_gradient_of_conv3d():
    """Transposed convolution is the adjoint of the convolution: <conv(u),
    v> = <u, conv_transpose(v)> with the same kernel."""
    conv = layers.Conv3D(2, (3, 2, 3), strides=(2, 1, 2), use_bias=False)
    up = layers.Conv3DTranspose(3, (3, 2, 3), strides=(2, 1, 2), use_bias=False,
                                output_padding=(0, 0, 1))
    u = _random((2, 7, 4, 8, 3), 1)
    pynn.Sequential([pynn.Input(u.shape[1:]), conv])
    v = conv(u)
    pynn.Sequential([pynn.Input(v.shape[1:]), up])
    up.set_weights(conv.get_weights())
    assert up(v).shape == u.shape
    lhs = float(np.vdot(np.asarray(conv(u), np.float64), v))
    rhs = float(np.vdot(u.astype(np.float64), np.asarray(up(v), np.float64)))
    assert lhs == pytest.approx(rhs, rel=1e-4)


def _check(input_shape, body):
    pynn.utils.set_random_seed(2)
    model = pynn.Sequential([pynn.Input(input_shape), *body, layers.Flatten(),
                             layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = _random((3,) + input_shape, 4)
    check_model_gradients(model, x, np.array([0, 2, 1]))


GRADIENT_STACKS = {
    "depthwise1d": ((7, 2), lambda: [layers.DepthwiseConv1D(3, strides=2, padding="same",
                                                            depth_multiplier=2,
                                                            activation="tanh"),
                                     layers.DepthwiseConv1D(2, dilation_rate=2)]),
    "depthwise1d_causal": ((7, 2), lambda: [layers.Conv1D(2, 1),
                                            layers.DepthwiseConv1D(3, padding="causal",
                                                                   dilation_rate=2,
                                                                   activation="swish")]),
    "separable1d": ((9, 2), lambda: [layers.SeparableConv1D(3, 3, strides=2, padding="same",
                                                            depth_multiplier=2,
                                                            activation="elu"),
                                     layers.SeparableConv1D(2, 2, use_bias=False)]),
    "separable1d_causal": ((7, 2), lambda: [layers.Conv1D(2, 1),
                                            layers.SeparableConv1D(2, 3, padding="causal",
                                                                   dilation_rate=2)]),
    "conv3d_transpose": ((2, 3, 2, 2), lambda: [
        layers.Conv3DTranspose(2, (3, 2, 2), strides=(2, 1, 2), padding="same",
                               output_padding=(1, 0, 0), activation="tanh"),
        layers.Conv3DTranspose(2, 2, dilation_rate=(1, 2, 1), use_bias=False)]),
    "conv3d_transpose_valid": ((2, 2, 3, 1), lambda: [
        layers.Conv3D(2, 1),
        layers.Conv3DTranspose(2, (2, 3, 1), strides=(3, 1, 2), output_padding=(2, 0, 1),
                               activation="swish")]),
}


@pytest.mark.parametrize("stack", sorted(GRADIENT_STACKS))
def test_gradients(stack):
    shape, body = GRADIENT_STACKS[stack]
    _check(shape, body())


def test_custom_activation_gradient():
    def scaled_tanh(x):
        return pynn.ops.tanh(x) * 2.0
    _check((2, 3, 2, 2), [layers.Conv3DTranspose(2, 2, strides=2, activation=scaled_tanh)])
    _check((7, 2), [layers.SeparableConv1D(2, 3, activation=scaled_tanh),
                    layers.DepthwiseConv1D(2, activation=scaled_tanh)])


def test_a_model_of_them_trains_and_round_trips(tmp_path):
    pynn.utils.set_random_seed(7)
    model = pynn.Sequential([
        pynn.Input((12, 2)), layers.SeparableConv1D(4, 3, padding="causal", activation="relu"),
        layers.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2),
        layers.Reshape((6, 8, 1, 1)),
        layers.Conv3DTranspose(2, (1, 2, 1), strides=(1, 2, 1), activation="relu"),
        layers.GlobalAveragePooling3D(), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    g = np.random.default_rng(8)
    y = g.integers(0, 2, 64)
    x = (g.standard_normal((64, 12, 2)) + y[:, None, None]).astype(np.float32)
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "m.pynn"
    model.save(path)
    np.testing.assert_allclose(pynn.models.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer", [
    layers.DepthwiseConv1D(3, strides=2, padding="causal", depth_multiplier=2,
                           activation="relu", use_bias=False),
    layers.SeparableConv1D(4, 3, dilation_rate=2, depth_multiplier=3,
                           pointwise_initializer="he_normal"),
    layers.Conv3DTranspose(3, (1, 2, 3), strides=(2, 1, 3), padding="same",
                           output_padding=(1, 0, 2), activation="tanh"),
], ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config


def test_bad_arguments():
    with pytest.raises(ValueError, match="DepthwiseConv1D.*rank 3"):
        pynn.Sequential([pynn.Input((4, 4, 3)), layers.DepthwiseConv1D(2)])
    with pytest.raises(ValueError, match="SeparableConv1D.*kernel_size"):
        layers.SeparableConv1D(2, (3, 3))
    with pytest.raises(ValueError, match="SeparableConv2D.*padding"):
        layers.SeparableConv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="Conv3DTranspose.*rank 5"):
        pynn.Sequential([pynn.Input((4, 4, 3)), layers.Conv3DTranspose(2, 3)])
    with pytest.raises(ValueError, match="Conv3DTranspose.*output_padding"):
        layers.Conv3DTranspose(2, 3, strides=(2, 2, 1), output_padding=(1, 1, 1))
    with pytest.raises(ValueError, match="Conv3DTranspose.*padding"):
        layers.Conv3DTranspose(2, 3, padding="causal")
    with pytest.raises(ValueError, match="strides > 1 cannot be combined with dilation"):
        layers.Conv3DTranspose(2, 3, strides=2, dilation_rate=2)


def test_tflite_refuses_conv3d_transpose_activation_without_an_op_by_name():
    # (the others export: tests/tflite/test_export_sweep5.py)
    model = pynn.Sequential([pynn.Input((2, 3, 3, 1)),
                             layers.Conv3DTranspose(2, 2, activation="celu", name="up")])
    with pytest.raises(pynn.lite.ConversionError, match="'up'.*Conv3DTranspose.*'celu'"):
        pynn.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.mark.parametrize("first", [
    lambda: layers.DepthwiseConv1D(3, padding="causal", depth_multiplier=2),
    lambda: layers.SeparableConv1D(4, 3, strides=2, padding="same"),
], ids=["DepthwiseConv1D", "SeparableConv1D"])
def test_batch_normalization_folded_at_inference(first):
    """predict folds a following BatchNormalization into the kernel and
    bias (over the depthwise kernel's (channels, multiplier) axes for
    DepthwiseConv1D): the same as running the two layers one after the
    other."""
    pynn.utils.set_random_seed(9)
    conv, bn = first(), layers.BatchNormalization()
    model = pynn.Sequential([pynn.Input((9, 3)), conv, bn])
    g = np.random.default_rng(10)
    bn.set_weights([g.uniform(0.5, 2.0, w.shape).astype(np.float32) for w in bn.get_weights()])
    x = _random((4, 9, 3), 11)
    want = np.asarray(bn(conv(x), training=False))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
