"""Convolution, pooling and normalization layers, alone and in stacks,
with both paddings, strides and batch sizes 1 and 5; and the Keras CNN
tutorial in every mode on the MNIST sample."""
import numpy as np
import pytest

import pynn
from litehelp import agreement, convert, op_names, parse, run
from pynn import layers
from pynn.utils import set_random_seed

CNN_FLOAT_BYTES = 143_336


def model_of(shape, *body):
    set_random_seed(7)
    model = pynn.Sequential([pynn.Input(shape=shape), *body])
    # Non-trivial normalization statistics, so folding is really tested.
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, c))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c))
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0, 0.3, c))
    return model


def check(model, shape, ops=None, int8_atol=None):
    """Float output equals predict for batch 1 and 5; dynamic-range and
    int8 outputs are close to it."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (5,) + shape).astype(np.float32)
    want = model.predict(x, verbose=0)
    data = convert(model)
    if ops is not None:
        assert op_names(data) == ops
    np.testing.assert_allclose(run(data, x[:1]), want[:1], atol=1e-5)
    np.testing.assert_allclose(run(data, x), want, atol=1e-5)
    span = float(want.max() - want.min()) or 1.0
    calib = rng.uniform(-1, 1, (64,) + shape).astype(np.float32)
    np.testing.assert_allclose(run(data, x, reference=True), want, atol=1e-5)
    q = convert(model, "int8", np.concatenate([x, calib]))
    tol = int8_atol if int8_atol is not None else 0.06 * span
    dyn = convert(model, "dynamic")
    half = convert(model, "float16")
    for reference in (False, True):
        np.testing.assert_allclose(run(q, x, reference), want, atol=tol)
        np.testing.assert_allclose(run(dyn, x, reference), want, atol=tol)
        np.testing.assert_allclose(run(half, x, reference), want, atol=1e-2 * span + 1e-3)
    return data


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
def test_conv2d(padding, strides):
    model = model_of((9, 8, 3), layers.Conv2D(4, 3, strides=strides, padding=padding,
                                              activation="relu"))
    check(model, (9, 8, 3), ["CONV_2D"])


def test_conv2d_dilated_no_bias_rectangular_kernel():
    model = model_of((10, 9, 2), layers.Conv2D(5, (3, 2), dilation_rate=(2, 1),
                                               use_bias=False, padding="same"))
    check(model, (10, 9, 2), ["CONV_2D"])


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
def test_depthwise(padding, strides):
    model = model_of((9, 9, 3), layers.DepthwiseConv2D(3, strides=strides, padding=padding,
                                                       depth_multiplier=2, activation="relu6"))
    check(model, (9, 9, 3), ["DEPTHWISE_CONV_2D"])


def test_depthwise_dilated():
    model = model_of((11, 11, 4), layers.DepthwiseConv2D(3, dilation_rate=2, padding="same"))
    check(model, (11, 11, 4), ["DEPTHWISE_CONV_2D"])


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
def test_separable(padding, strides):
    model = model_of((9, 9, 3), layers.SeparableConv2D(5, 3, strides=strides, padding=padding,
                                                       depth_multiplier=2, activation="relu"))
    check(model, (9, 9, 3), ["DEPTHWISE_CONV_2D", "CONV_2D"])


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool,strides", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_pooling2d(kind, padding, pool, strides):
    model = model_of((7, 8, 3), getattr(layers, kind)(pool, strides=strides, padding=padding))
    check(model, (7, 8, 3), ["MAX_POOL_2D" if kind.startswith("Max") else "AVERAGE_POOL_2D"])


@pytest.mark.parametrize("kind,op", [("GlobalAveragePooling2D", "MEAN"),
                                     ("GlobalMaxPooling2D", "REDUCE_MAX")])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling2d(kind, op, keepdims):
    model = model_of((5, 6, 4), getattr(layers, kind)(keepdims=keepdims))
    data = check(model, (5, 6, 4), [op])
    sg = parse(data).Subgraphs(0)
    assert len(sg.Tensors(sg.Outputs(0)).ShapeAsNumpy()) == (4 if keepdims else 2)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2)])
def test_conv1d(padding, strides, dilation):
    model = model_of((12, 3), layers.Conv1D(4, 3, strides=strides, padding=padding,
                                            dilation_rate=dilation, activation="relu"))
    ops = ["RESHAPE"] + (["PAD"] if padding == "causal" else []) + ["CONV_2D", "RESHAPE"]
    check(model, (12, 3), ops)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2)])
def test_depthwise1d(padding, strides, dilation):
    model = model_of((13, 3), layers.DepthwiseConv1D(3, strides=strides, padding=padding,
                                                     dilation_rate=dilation, depth_multiplier=2,
                                                     activation="relu"))
    ops = ["RESHAPE"] + (["PAD"] if padding == "causal" else []) + ["DEPTHWISE_CONV_2D",
                                                                     "RESHAPE"]
    check(model, (13, 3), ops)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2)])
def test_separable1d(padding, strides, dilation):
    model = model_of((13, 3), layers.SeparableConv1D(5, 3, strides=strides, padding=padding,
                                                     dilation_rate=dilation, depth_multiplier=2,
                                                     activation="tanh"))
    ops = ["RESHAPE"] + (["PAD"] if padding == "causal" else []) + [
        "DEPTHWISE_CONV_2D", "CONV_2D", "RESHAPE", "TANH"]
    check(model, (13, 3), ops)


def test_1d_depthwise_and_separable_stack_with_batch_normalization():
    model = model_of((16, 2),
                     layers.DepthwiseConv1D(3, padding="causal", depth_multiplier=3),
                     layers.BatchNormalization(), layers.Activation("relu"),
                     layers.SeparableConv1D(4, 3, padding="same", use_bias=False),
                     layers.BatchNormalization(),
                     layers.GlobalAveragePooling1D(), layers.Dense(3, activation="sigmoid"))
    data = check(model, (16, 2))
    assert "MUL" not in op_names(data)  # both normalizations folded


@pytest.mark.parametrize("kind", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling1d(kind, padding):
    model = model_of((11, 3), getattr(layers, kind)(3, strides=2, padding=padding))
    check(model, (11, 3))


@pytest.mark.parametrize("kind,op", [("GlobalMaxPooling1D", "REDUCE_MAX"),
                                     ("GlobalAveragePooling1D", "MEAN")])
def test_global_pooling1d(kind, op):
    check(model_of((9, 4), getattr(layers, kind)()), (9, 4), [op])


def test_batchnorm_folded_into_conv_and_dense():
    model = model_of((8, 8, 2),
                     layers.Conv2D(4, 3, use_bias=False), layers.BatchNormalization(),
                     layers.Activation("relu"),
                     layers.DepthwiseConv2D(3, padding="same"), layers.BatchNormalization(),
                     layers.SeparableConv2D(3, 3), layers.BatchNormalization(),
                     layers.Flatten(), layers.Dense(6), layers.BatchNormalization(center=False),
                     layers.Activation("relu6"), layers.Dense(3, activation="softmax"))
    check(model, (8, 8, 2), ["CONV_2D", "DEPTHWISE_CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D",
                             "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"])


def test_batchnorm_with_nothing_to_fold_into():
    model = model_of((6, 6, 3), layers.Conv2D(4, 3, activation="relu"),
                     layers.BatchNormalization(scale=False), layers.MaxPooling2D(),
                     layers.BatchNormalization())
    check(model, (6, 6, 3), ["CONV_2D", "MUL", "ADD", "MAX_POOL_2D", "MUL", "ADD"])
    first = model_of((5,), layers.BatchNormalization(), layers.Dense(2))
    check(first, (5,), ["MUL", "ADD", "FULLY_CONNECTED"])


def test_conv1d_stack():
    model = model_of((16, 2),
                     layers.Conv1D(6, 3, padding="causal", dilation_rate=2),
                     layers.BatchNormalization(), layers.Activation("relu"),
                     layers.MaxPooling1D(2), layers.Conv1D(4, 3, activation="tanh"),
                     layers.GlobalMaxPooling1D(), layers.Dense(3, activation="sigmoid"))
    data = check(model, (16, 2))
    assert "RELU" not in op_names(data)


@pytest.mark.parametrize("layer", [
    lambda: layers.Conv2D(16, 3, padding="same"),
    lambda: layers.DepthwiseConv2D(3, padding="same"),
    lambda: layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2),
    lambda: layers.SeparableConv2D(32, 3),
    lambda: layers.Conv1D(16, 3),
], ids=["conv2d", "depthwise", "depthwise_mult2", "separable", "conv1d"])
def test_hybrid_kernels_for_large_weights(layer):
    """Weights of 1024 values or more are int8 in dynamic-range models, per
    output channel, and run in the interpreter's hybrid kernels."""
    shape = (6, 128) if layer().__class__.__name__ == "Conv1D" else (6, 6, 128)
    model = model_of(shape, layer())
    data = convert(model, "dynamic")
    m = parse(data)
    sg = m.Subgraphs(0)
    weights = [sg.Tensors(sg.Operators(i).Inputs(1)) for i in range(sg.OperatorsLength())
               if op_names(data)[i] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert weights and all(w.Type() == 9 for w in weights)  # INT8
    assert all(w.Quantization().ScaleLength() > 1 for w in weights)
    x = np.random.default_rng(5).uniform(-1, 1, (5,) + shape).astype(np.float32)
    want = model.predict(x, verbose=0)
    for reference in (False, True):
        np.testing.assert_allclose(run(data, x, reference), want,
                                   atol=0.03 * float(np.abs(want).max()))


# --------------------------------------------------------- the Keras CNN

@pytest.fixture(scope="module")
def cnn(mnist):
    """The Keras MNIST convnet tutorial, trained briefly."""
    x, y = mnist
    set_random_seed(3)
    model = pynn.Sequential([
        pynn.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    model.fit(x[:2500, ..., None], y[:2500], batch_size=64, epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def images(mnist):
    return mnist[0][..., None]


@pytest.fixture(scope="module")
def cnn_want(cnn, images):
    return cnn.predict(images, verbose=0)


def test_cnn_float32(cnn, images, cnn_want):
    data = convert(cnn)
    assert len(data) <= CNN_FLOAT_BYTES
    assert op_names(data) == ["CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "RESHAPE",
                              "FULLY_CONNECTED", "SOFTMAX"]
    want = cnn_want
    np.testing.assert_allclose(run(data, images[:1]), want[:1], atol=1e-5)
    np.testing.assert_allclose(run(data, images[:5]), want[:5], atol=1e-5)
    np.testing.assert_allclose(run(data, images), want, atol=1e-5)


def test_cnn_quantized(cnn, images, cnn_want):
    base = len(convert(cnn))
    want = cnn_want
    half = convert(cnn, "float16")
    assert len(half) <= 0.55 * base
    np.testing.assert_allclose(run(half, images), want, atol=1e-2)
    dyn = convert(cnn, "dynamic")
    assert len(dyn) <= 0.3 * base
    assert agreement(run(dyn, images), want) >= 0.98
    for io in (np.float32, np.int8, np.uint8):
        q = convert(cnn, "int8", images[:300], io, io)
        assert len(q) <= 0.3 * base
        assert agreement(run(q, images), want) >= 0.97
    names = op_names(q)
    assert "RELU" not in names and "DROPOUT" not in names
