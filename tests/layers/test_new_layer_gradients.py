"""Finite-difference gradient checks of the reshaping, activation, noise,
normalization, preprocessing and transposed-convolution layers, each in a
small model whose trainable layers sit before it (so its input gradient is
checked too) and after it."""
import numpy as np
import pytest

import pynn
from pynn import layers
from gradcheck import check_model_gradients


def fixed_draws(layer, seed=1234):
    """The layer's random draws, the same in every forward pass (so the
    finite differences see one function)."""
    layer._seed = lambda: seed
    return layer


def training_loss(model, x, y):
    """The loss of a training-mode forward pass, per sample, plus the
    activity penalties (ActivityRegularization's), which Keras 3 divides
    by the batch size."""
    state = model._program.new_state()
    out = model._program.forward([x], True, state)[0]
    per = model.loss.compute(y, out, None, x.shape[0], None, False)
    penalty = model._program.activity_penalty(state, 1.0 / x.shape[0]) \
        if model._program.has_activity else 0.0
    return float(per.sum()) / x.shape[0] + penalty


def check(input_shape, *stack, seed=0):
    pynn.utils.set_random_seed(1)
    model = pynn.Sequential([pynn.Input(shape=input_shape), *stack, layers.Flatten(),
                             layers.Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    g = np.random.default_rng(seed)
    x = g.standard_normal((3,) + input_shape).astype(np.float32)
    y = g.standard_normal((3, 3)).astype(np.float32)
    check_model_gradients(model, x, y, loss_fn=training_loss)


IMAGE = (7, 6, 2)
IMAGE_STACKS = {
    "zero_padding2d": lambda: [layers.ZeroPadding2D(((1, 2), (0, 1)))],
    "cropping2d": lambda: [layers.Cropping2D(((1, 0), (2, 1)))],
    "up_sampling2d": lambda: [layers.UpSampling2D((2, 1))],
    "up_sampling2d_bilinear": lambda: [layers.UpSampling2D((2, 3), interpolation="bilinear")],
    "conv2d_transpose_same_elu": lambda: [layers.Conv2DTranspose(3, 3, strides=2,
                                                                 padding="same",
                                                                 activation="elu")],
    "conv2d_transpose_output_padding": lambda: [
        # a bias away from relu's kink: the padded rows hold the bias alone
        layers.Conv2DTranspose(2, (2, 3), strides=(2, 1), output_padding=(1, 0),
                               activation="relu", bias_initializer="ones")],
    "conv2d_transpose_dilated": lambda: [layers.Conv2DTranspose(2, 3, dilation_rate=(2, 1),
                                                                use_bias=False)],
    "relu_general": lambda: [layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2)],
    "relu6": lambda: [layers.ReLU(6.0)],
    "leaky_relu": lambda: [layers.LeakyReLU(0.1)],
    "elu": lambda: [layers.ELU(0.5)],
    "prelu_shared": lambda: [layers.PReLU(shared_axes=[1, 2],
                                          alpha_initializer="random_uniform")],
    "prelu": lambda: [layers.PReLU(alpha_initializer="random_uniform")],
    "softmax_axis1": lambda: [layers.Softmax(axis=1)],
    "layer_normalization": lambda: [layers.LayerNormalization(gamma_initializer="random_normal")],
    "layer_normalization_spatial": lambda: [layers.LayerNormalization(axis=[1, 2])],
    "group_normalization": lambda: [layers.Conv2D(4, 1),
                                    layers.GroupNormalization(2,
                                                              gamma_initializer="random_normal")],
    "unit_normalization": lambda: [layers.UnitNormalization(axis=[1, 2])],
    "rescaling": lambda: [layers.Rescaling([0.5, 2.0], offset=1.0)],
    "normalization": lambda: [layers.Normalization(mean=[0.5, -1.0], variance=[4.0, 0.25])],
    "resizing": lambda: [layers.Resizing(5, 4)],
    "resizing_crop": lambda: [layers.Resizing(4, 4, crop_to_aspect_ratio=True)],
    "resizing_pad": lambda: [layers.Resizing(6, 3, interpolation="nearest",
                                             pad_to_aspect_ratio=True, fill_value=0.5)],
    "center_crop": lambda: [layers.CenterCrop(3, 3)],
    "center_crop_resize": lambda: [layers.CenterCrop(9, 4)],
    "spatial_dropout2d": lambda: [fixed_draws(layers.SpatialDropout2D(0.5))],
    # (seed 3 drops the first of the three samples and keeps the others)
    "dropout_per_sample": lambda: [fixed_draws(layers.Dropout(0.5, noise_shape=(None, 1, 1, 1)),
                                               seed=3)],
    "dropout_noise_shape": lambda: [fixed_draws(layers.Dropout(0.4,
                                                               noise_shape=(None, 7, 1, None)))],
    "gaussian_noise": lambda: [fixed_draws(layers.GaussianNoise(0.5))],
    "gaussian_dropout": lambda: [fixed_draws(layers.GaussianDropout(0.4))],
    "alpha_dropout": lambda: [fixed_draws(layers.AlphaDropout(0.3))],
    "activity_regularization": lambda: [layers.ActivityRegularization(l1=0.05, l2=0.1)],
}


@pytest.mark.parametrize("name", sorted(IMAGE_STACKS))
def test_image_layer_gradients(name):
    check(IMAGE, layers.Conv2D(2, 1, activation="tanh"), *IMAGE_STACKS[name]())


SEQUENCE = (9, 3)
SEQUENCE_STACKS = {
    "zero_padding1d": lambda: [layers.ZeroPadding1D((2, 1))],
    "cropping1d": lambda: [layers.Cropping1D((1, 2))],
    "up_sampling1d": lambda: [layers.UpSampling1D(2)],
    "conv1d_transpose": lambda: [layers.Conv1DTranspose(3, 3, strides=2, padding="same",
                                                        activation="sigmoid")],
    "conv1d_transpose_valid": lambda: [layers.Conv1DTranspose(2, 4, strides=3,
                                                              output_padding=2)],
    "permute": lambda: [layers.Permute((2, 1))],
    "spatial_dropout1d": lambda: [fixed_draws(layers.SpatialDropout1D(0.5))],
    "group_normalization_steps": lambda: [layers.Conv1D(4, 1), layers.GroupNormalization(4)],
}


@pytest.mark.parametrize("name", sorted(SEQUENCE_STACKS))
def test_sequence_layer_gradients(name):
    check(SEQUENCE, layers.Conv1D(2, 1), *SEQUENCE_STACKS[name]())


def test_vector_and_volume_layer_gradients():
    check((5,), layers.Dense(4), layers.RepeatVector(3), layers.LayerNormalization())
    check((3, 4, 5, 2), layers.Dense(2), layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1))),
          layers.Cropping3D(((0, 1), (1, 1), (2, 0))))


def test_frozen_layers_pass_gradients_through():
    """A frozen LayerNormalization or PReLU trains nothing but still hands
    the layers before it their gradients."""
    for frozen in (layers.LayerNormalization(gamma_initializer="random_normal"),
                   layers.PReLU(alpha_initializer="random_uniform"),
                   layers.Conv2DTranspose(2, 3, strides=2)):
        frozen.trainable = False
        check(IMAGE, layers.Conv2D(2, 1), frozen)


def test_squeeze_excitation_block_gradients():
    """EfficientNet's block: expand, strided 5x5 depthwise convolution,
    swish, squeeze-and-excitation (pooled gates broadcast over the map by
    Multiply), projection, per-sample dropout of the branch, residual."""
    pynn.utils.set_random_seed(2)
    inputs = pynn.Input(shape=(8, 8, 4))
    x = layers.Conv2D(8, 1, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("swish")(x)
    x = layers.ZeroPadding2D(((1, 2), (1, 2)))(x)
    x = layers.DepthwiseConv2D(5, strides=2, use_bias=False,
                               depthwise_initializer="random_normal")(x)
    x = layers.Activation("swish")(x)
    se = layers.GlobalAveragePooling2D()(x)
    se = layers.Reshape((1, 1, 8))(se)
    se = layers.Conv2D(2, 1, activation="swish")(se)
    se = layers.Conv2D(8, 1, activation="sigmoid")(se)
    x = layers.multiply([x, se])
    x = layers.Conv2D(4, 1, use_bias=False)(x)
    x = fixed_draws(layers.Dropout(0.5, noise_shape=(None, 1, 1, 1)), seed=3)(x)
    shortcut = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = layers.add([x, shortcut])
    outputs = layers.Dense(3)(layers.Flatten()(x))
    model = pynn.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    g = np.random.default_rng(4)
    x = g.standard_normal((3, 8, 8, 4)).astype(np.float32)
    y = g.standard_normal((3, 3)).astype(np.float32)
    check_model_gradients(model, x, y, loss_fn=training_loss)
