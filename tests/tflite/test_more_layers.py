"""The reshaping, activation, noise, normalization, preprocessing and
transposed-convolution layers in TFLite: the builtin ops each becomes, the
float32 model equal to predict (1e-5, batch sizes 1 and 5, with and without
the XNNPACK delegate), float16, dynamic-range and full-integer models close
to it, and ConversionError for the forms TFLite has no op for."""
import numpy as np
import pytest

import pynn
from litehelp import convert, op_names, run
from pynn import layers
from pynn.utils import set_random_seed

TRANSPOSE_CONV_OPS = ["SHAPE", "STRIDED_SLICE", "CONCATENATION", "TRANSPOSE_CONV"]

# id: (input shape, layers after a first Conv2D/Dense, the ops of those
# layers, int8 tolerance as a fraction of the output's span)
CASES = {
    "zero_padding2d": ((7, 6, 3), lambda: [layers.ZeroPadding2D(((1, 2), (0, 1)))], ["PAD"],
                       0.06),
    "zero_padding1d": ((8, 3), lambda: [layers.ZeroPadding1D((2, 1))], ["PAD"], 0.06),
    "cropping2d": ((7, 6, 3), lambda: [layers.Cropping2D(((1, 0), (2, 1)))], ["SLICE"], 0.06),
    "cropping1d": ((8, 3), lambda: [layers.Cropping1D((2, 1))], ["SLICE"], 0.06),
    "up_sampling2d": ((7, 6, 3), lambda: [layers.UpSampling2D((2, 3))],
                      ["RESIZE_NEAREST_NEIGHBOR"], 0.06),
    "up_sampling2d_bilinear": ((7, 6, 3), lambda: [layers.UpSampling2D(
        (3, 2), interpolation="bilinear")], ["RESIZE_BILINEAR"], 0.06),
    "up_sampling1d": ((8, 3), lambda: [layers.UpSampling1D(3)],
                      ["RESHAPE", "RESIZE_NEAREST_NEIGHBOR", "RESHAPE"], 0.06),
    "repeat_vector": ((5,), lambda: [layers.RepeatVector(3)], ["RESHAPE", "TILE"], 0.06),
    "permute": ((7, 6, 3), lambda: [layers.Permute((2, 3, 1))], ["TRANSPOSE"], 0.06),
    "conv2d_transpose_same": ((7, 6, 3), lambda: [layers.Conv2DTranspose(
        4, 3, strides=2, padding="same", activation="relu")], TRANSPOSE_CONV_OPS, 0.06),
    "conv2d_transpose_valid": ((7, 6, 3), lambda: [layers.Conv2DTranspose(
        4, (2, 3), strides=(2, 1), activation="tanh")], TRANSPOSE_CONV_OPS + ["TANH"], 0.06),
    "conv2d_transpose_realigned": ((7, 6, 3), lambda: [layers.Conv2DTranspose(
        4, 4, strides=2, padding="same", output_padding=0)], TRANSPOSE_CONV_OPS + ["SLICE"],
        0.06),
    "conv1d_transpose": ((8, 3), lambda: [layers.Conv1DTranspose(
        4, 3, strides=2, padding="same", activation="relu")],
        ["RESHAPE"] + TRANSPOSE_CONV_OPS + ["RESHAPE", "RELU"], 0.06),
    "relu6": ((7, 6, 3), lambda: [layers.MaxPooling2D(), layers.ReLU(6.0)],
              ["MAX_POOL_2D", "RELU6"], 0.06),
    "relu_capped_leaky": ((7, 6, 3), lambda: [layers.ReLU(max_value=0.5, negative_slope=0.1)],
                          ["LEAKY_RELU", "MINIMUM"], 0.06),
    "leaky_relu": ((7, 6, 3), lambda: [layers.LeakyReLU(0.1)], ["LEAKY_RELU"], 0.06),
    "elu": ((7, 6, 3), lambda: [layers.ELU()], ["ELU"], 0.06),
    "elu_alpha": ((7, 6, 3), lambda: [layers.ELU(0.5)], ["ELU", "MINIMUM", "MUL", "RELU", "ADD"],
                  0.06),
    "softmax": ((7, 6, 3), lambda: [layers.Softmax()], ["SOFTMAX"], 0.06),
    "softmax_axis": ((7, 6, 3), lambda: [layers.Softmax(axis=1)],
                     ["TRANSPOSE", "SOFTMAX", "TRANSPOSE"], 0.06),
    "prelu_shared": ((7, 6, 3), lambda: [layers.PReLU(shared_axes=[1, 2],
                                                      alpha_initializer="random_uniform")],
                     ["PRELU"], 0.06),
    "prelu": ((7, 6, 3), lambda: [layers.PReLU(alpha_initializer="random_uniform")],
              ["PRELU"], 0.06),
    "layer_normalization": ((5, 4, 16), lambda: [layers.LayerNormalization(
        beta_initializer="random_normal")],
        ["MEAN", "SQUARED_DIFFERENCE", "MEAN", "ADD", "RSQRT", "SUB", "MUL", "MUL", "ADD"],
        0.08),
    "layer_normalization_all": ((5, 4, 6), lambda: [layers.LayerNormalization(
        axis=[1, 2, 3], center=False)],
        ["MEAN", "SQUARED_DIFFERENCE", "MEAN", "ADD", "RSQRT", "SUB", "MUL", "MUL"], 0.06),
    "group_normalization": ((5, 4, 8), lambda: [layers.GroupNormalization(2)],
                            ["RESHAPE", "MEAN", "SQUARED_DIFFERENCE", "MEAN", "ADD", "RSQRT",
                             "SUB", "MUL", "RESHAPE", "MUL", "ADD"], 0.06),
    "unit_normalization": ((7, 6, 8), lambda: [layers.UnitNormalization()],
                           ["L2_NORMALIZATION"], 0.06),
    "rescaling": ((7, 6, 3), lambda: [layers.Rescaling(2.0, -0.5)], ["MUL", "ADD"], 0.06),
    "normalization": ((7, 6, 3), lambda: [layers.Normalization(mean=[0.1, -0.2, 0.3],
                                                               variance=[0.5, 2.0, 1.0])],
                      ["SUB", "MUL"], 0.06),
    "normalization_inverse": ((7, 6, 3), lambda: [layers.Normalization(
        mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.0], invert=True)], ["MUL", "ADD"], 0.06),
    "resizing": ((7, 6, 3), lambda: [layers.Resizing(5, 4)], ["RESIZE_BILINEAR"], 0.06),
    "resizing_nearest_crop": ((7, 6, 3), lambda: [layers.Resizing(
        12, 4, interpolation="nearest", crop_to_aspect_ratio=True)],
        ["SLICE", "RESIZE_NEAREST_NEIGHBOR"], 0.06),
    "resizing_pad": ((7, 6, 3), lambda: [layers.Resizing(5, 3, pad_to_aspect_ratio=True,
                                                         fill_value=0.25)],
                     ["PADV2", "RESIZE_BILINEAR"], 0.06),
    "center_crop": ((7, 6, 3), lambda: [layers.CenterCrop(3, 5)], ["SLICE"], 0.06),
    "center_crop_resize": ((7, 6, 3), lambda: [layers.CenterCrop(9, 4)],
                           ["SLICE", "RESIZE_BILINEAR"], 0.06),
    "noise_left_out": ((7, 6, 3), lambda: [layers.GaussianNoise(0.1), layers.SpatialDropout2D(
        0.2), layers.AlphaDropout(0.1), layers.GaussianDropout(0.1),
        layers.ActivityRegularization(0.01)], [], 0.06),
}


def model_of(shape, stack):
    set_random_seed(7)
    first = layers.Conv2D(shape[-1], 1) if len(shape) == 3 else layers.Dense(shape[-1])
    return pynn.Sequential([pynn.Input(shape=shape), first, *stack])


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_in_every_mode(case):
    shape, stack, ops, int8_tol = CASES[case]
    model = model_of(shape, stack())
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (5,) + shape).astype(np.float32)
    want = model.predict(x, verbose=0)
    data = convert(model)
    first = "CONV_2D" if len(shape) == 3 else "FULLY_CONNECTED"
    assert op_names(data) == [first] + ops
    for reference in (False, True):
        np.testing.assert_allclose(run(data, x[:1], reference), want[:1], atol=1e-5)
        np.testing.assert_allclose(run(data, x, reference), want, atol=1e-5)
    span = float(want.max() - want.min()) or 1.0
    calib = np.concatenate([x, rng.uniform(-1, 1, (64,) + shape).astype(np.float32)])
    q = convert(model, "int8", calib)
    dyn = convert(model, "dynamic")
    half = convert(model, "float16")
    for reference in (False, True):
        np.testing.assert_allclose(run(q, x, reference), want, atol=int8_tol * span)
        np.testing.assert_allclose(run(dyn, x, reference), want, atol=1e-5 * span + 1e-6)
        np.testing.assert_allclose(run(half, x, reference), want, atol=1e-2 * span + 1e-3)


def test_int8_interface_types_with_transposed_convolution():
    model = model_of((6, 6, 2), [layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
                                 layers.ReLU(), layers.UpSampling2D(),
                                 layers.LayerNormalization(), layers.Flatten(),
                                 layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(2).uniform(-1, 1, (64, 6, 6, 2)).astype(np.float32)
    want = model.predict(x, verbose=0)
    for io in (np.int8, np.uint8):
        q = convert(model, "int8", x, io, io)
        assert np.mean(np.argmax(run(q, x), -1) == np.argmax(want, -1)) >= 0.9
        np.testing.assert_allclose(run(q, x), want, atol=0.1)


@pytest.mark.parametrize("layer,words", [
    (lambda: layers.Conv2DTranspose(2, 3, activation="celu"), "celu"),
    (lambda: layers.UnitNormalization(axis=1), "last axis"),
], ids=["transpose_celu", "unit_norm_axis"])
def test_forms_without_a_tflite_op_raise_naming_the_layer(layer, words):
    layer = layer()
    model = model_of((6, 5, 2), [layer])
    with pytest.raises(pynn.lite.ConversionError, match=words) as info:
        convert(model)
    assert layer.name in str(info.value)
