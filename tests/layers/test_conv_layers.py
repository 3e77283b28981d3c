"""Convolution, pooling and normalization layers: finite-difference
gradients through whole models, Keras's shapes and parameter counts, and
batch normalization's two modes."""
import numpy as np
import pytest

import pynn
from pynn import layers
from gradcheck import check_model_gradients


def data(shape, outputs=3, seed=0):
    g = np.random.default_rng(seed)
    x = g.standard_normal((4,) + shape).astype(np.float32)
    y = g.standard_normal((4, outputs)).astype(np.float32)
    return x, y


def build(input_shape, *stack, loss="mse", head="linear"):
    pynn.utils.set_random_seed(1)
    model = pynn.Sequential([pynn.Input(shape=input_shape), *stack, layers.Flatten(),
                             layers.Dense(3, activation=head)])
    model.compile(optimizer="sgd", loss=loss)
    return model


STACKS_2D = {
    "conv_same_stride": lambda: [layers.Conv2D(3, 3, strides=2, padding="same",
                                               activation="relu")],
    "conv_valid_dilated": lambda: [layers.Conv2D(2, (3, 2), dilation_rate=2,
                                                 activation="tanh")],
    "conv_elu_then_conv": lambda: [layers.Conv2D(2, 2, activation="elu"),
                                   layers.Conv2D(2, 1, activation="swish")],
    "depthwise": lambda: [layers.Conv2D(2, 1), layers.DepthwiseConv2D(3, depth_multiplier=2,
                                                                     padding="same",
                                                                     activation="sigmoid")],
    "depthwise_strided": lambda: [layers.DepthwiseConv2D(2, strides=2, use_bias=False)],
    "separable": lambda: [layers.Conv2D(2, 1), layers.SeparableConv2D(3, 3, padding="same",
                                                                     depth_multiplier=2,
                                                                     activation="relu")],
    "max_pool_same": lambda: [layers.Conv2D(2, 1), layers.MaxPooling2D(2, padding="same")],
    "max_pool_overlapping": lambda: [layers.Conv2D(2, 1), layers.MaxPooling2D(3, strides=1)],
    "avg_pool_same": lambda: [layers.Conv2D(2, 1),
                              layers.AveragePooling2D(3, strides=2, padding="same")],
    "global_avg": lambda: [layers.Conv2D(3, 2), layers.GlobalAveragePooling2D()],
    "global_max_keepdims": lambda: [layers.Conv2D(3, 2),
                                    layers.GlobalMaxPooling2D(keepdims=True)],
    "global_avg_channels_first": lambda: [layers.Conv2D(3, 2), layers.GlobalAveragePooling2D(
        data_format="channels_first", keepdims=True), layers.Flatten()],
    "batchnorm_after_conv": lambda: [layers.Conv2D(3, 2), layers.BatchNormalization(),
                                     layers.Activation("relu")],
    "batchnorm_unscaled": lambda: [layers.Conv2D(2, 2),
                                   layers.BatchNormalization(center=False, scale=False)],
}


def training_loss(model, x, y):
    """The loss with training-mode layers (batch statistics), no dropout."""
    out = model._program.forward([x], True, model._program.new_state())[0]
    return float(model.loss.compute(y, out, None, x.shape[0], None, False).sum()) / x.shape[0]


@pytest.mark.parametrize("name", sorted(STACKS_2D))
def test_2d_layer_gradients(name):
    x, y = data((7, 6, 2))
    model = build((7, 6, 2), *STACKS_2D[name]())
    check_model_gradients(model, x, y, loss_fn=training_loss)


STACKS_1D = {
    "conv1d_causal": lambda: [layers.Conv1D(3, 3, padding="causal", dilation_rate=2,
                                            activation="relu")],
    "conv1d_same_stride": lambda: [layers.Conv1D(2, 4, strides=2, padding="same")],
    "max_pool_1d": lambda: [layers.Conv1D(2, 1), layers.MaxPooling1D(2)],
    "avg_pool_1d": lambda: [layers.Conv1D(2, 1), layers.AveragePooling1D(3, 2, "same")],
    "global_max_1d": lambda: [layers.Conv1D(2, 2), layers.GlobalMaxPooling1D()],
    "global_avg_1d": lambda: [layers.Conv1D(2, 2), layers.GlobalAveragePooling1D()],
    "global_avg_1d_channels_first": lambda: [layers.Conv1D(2, 2), layers.GlobalAveragePooling1D(
        data_format="channels_first")],
    "global_max_1d_channels_first": lambda: [layers.Conv1D(2, 2), layers.GlobalMaxPooling1D(
        data_format="channels_first")],
}


@pytest.mark.parametrize("name,shape", [("GlobalAveragePooling1D", (3, 5, 4)),
                                        ("GlobalMaxPooling1D", (3, 5, 4)),
                                        ("GlobalAveragePooling2D", (2, 3, 4, 5)),
                                        ("GlobalMaxPooling3D", (2, 3, 4, 5, 2))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_channels_first_as_keras(keras, name, shape, keepdims):
    """Pooling over the axes after the channels' (the keras.io time-series
    transformer pools its features so), called directly, in predict's plan
    and through the config."""
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    want = np.asarray(getattr(keras.layers, name)(data_format="channels_first",
                                                   keepdims=keepdims)(x))
    layer = getattr(layers, name)(data_format="channels_first", keepdims=keepdims)
    np.testing.assert_allclose(layer(x), want, rtol=1e-6, atol=1e-6)
    model = pynn.Sequential([pynn.Input(shape[1:]), type(layer).from_config(layer.get_config())])
    assert model.output_shape == want.shape[:0] + (None,) + want.shape[1:]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(STACKS_1D))
def test_1d_layer_gradients(name):
    x, y = data((9, 3))
    model = build((9, 3), *STACKS_1D[name]())
    check_model_gradients(model, x, y, loss_fn=training_loss)


def test_cnn_with_softmax_cross_entropy_gradients():
    x, _ = data((6, 6, 1))
    y = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]
    model = build((6, 6, 1), layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(),
                  loss="categorical_crossentropy", head="softmax")
    check_model_gradients(model, x, y)


def test_keras_cnn_tutorial_shapes_and_parameter_counts():
    model = pynn.Sequential([
        pynn.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    shapes = [l.output_shape[1:] for l in model.layers]
    assert shapes == [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (1600,), (1600,),
                      (10,)]
    assert model.count_params() == 34826
    # Keras's default names: conv2d, max_pooling2d (then conv2d_1, ...).
    assert model.layers[0].name.split("_")[0] == "conv2d"
    assert model.layers[1].name.startswith("max_pooling2d")


@pytest.mark.parametrize("layer,input_shape,out_shape,params", [
    (lambda: layers.Conv2D(8, 5, strides=2, padding="same"), (28, 28, 3), (14, 14, 8), 608),
    (lambda: layers.Conv2D(4, 3, dilation_rate=2), (9, 9, 2), (5, 5, 4), 76),
    (lambda: layers.Conv2D(4, 3, use_bias=False), (5, 5, 2), (3, 3, 4), 72),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 3), (6, 6, 6), 60),
    (lambda: layers.SeparableConv2D(5, 3, padding="same"), (8, 8, 3), (8, 8, 5), 47),
    (lambda: layers.MaxPooling2D(3, 2, "same"), (7, 7, 2), (4, 4, 2), 0),
    (lambda: layers.AveragePooling2D(), (7, 9, 2), (3, 4, 2), 0),
    (lambda: layers.GlobalAveragePooling2D(), (7, 9, 2), (2,), 0),
    (lambda: layers.GlobalMaxPooling2D(keepdims=True), (7, 9, 2), (1, 1, 2), 0),
    (lambda: layers.Conv1D(6, 3, padding="causal"), (10, 4), (10, 6), 78),
    (lambda: layers.Conv1D(6, 3, strides=2), (10, 4), (4, 6), 78),
    (lambda: layers.MaxPooling1D(), (9, 4), (4, 4), 0),
    (lambda: layers.GlobalMaxPooling1D(), (9, 4), (4,), 0),
    (lambda: layers.BatchNormalization(), (5, 5, 7), (5, 5, 7), 28),
])
def test_output_shapes_and_parameter_counts_follow_keras(layer, input_shape, out_shape, params):
    layer = layer()
    model = pynn.Sequential([pynn.Input(shape=input_shape), layer])
    assert layer.output_shape == (None,) + out_shape
    assert layer.count_params() == params
    x = np.random.default_rng(0).standard_normal((2,) + input_shape).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (2,) + out_shape


def test_batch_normalization_modes_and_moving_statistics():
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = np.random.default_rng(0).normal(5.0, 2.0, (64, 3, 3, 4)).astype(np.float32)
    y = bn(x, training=True)
    flat = y.reshape(-1, 4)
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(flat.var(0), 1, atol=2e-3)
    m, v = x.reshape(-1, 4).mean(0), x.reshape(-1, 4).var(0)
    np.testing.assert_allclose(bn.moving_mean.value, 0.1 * m, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.value, 0.9 + 0.1 * v, rtol=1e-5)
    # Inference uses the moving statistics.
    yi = bn(x, training=False)
    want = (x - bn.moving_mean.value) / np.sqrt(bn.moving_variance.value + 1e-3)
    np.testing.assert_allclose(yi, want, rtol=1e-4, atol=1e-4)
    # A frozen layer runs in inference mode even while training.
    bn.trainable = False
    np.testing.assert_allclose(bn(x, training=True), yi, rtol=1e-6)
    assert [w.name.split("/")[-1] for w in bn.weights] == ["gamma", "beta", "moving_mean",
                                                           "moving_variance"]
    assert len(bn.trainable_weights) == 0


def test_cnn_trains_saves_and_reloads(tmp_path):
    x = np.random.default_rng(0).random((64, 8, 8, 1), np.float32)
    y = (x.mean((1, 2, 3)) > 0.5).astype(np.int32)
    model = pynn.Sequential([
        pynn.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.BatchNormalization(), layers.DepthwiseConv2D(3), layers.SeparableConv2D(4, 2),
        layers.MaxPooling2D(), layers.GlobalAveragePooling2D(), layers.Dense(2, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    path = tmp_path / "cnn.pynn"
    model.save(path)
    again = pynn.models.load_model(path)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(l).__name__ for l in again.layers] == [type(l).__name__ for l in model.layers]


def test_conv_layers_reject_bad_input_naming_the_layer():
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv2D(3, (3, 3, 3))
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2D(0, 3)
    model = pynn.Sequential([pynn.Input(shape=(8, 8, 3)), layers.Conv2D(2, 3, name="c")])
    with pytest.raises(ValueError, match="'c'|incompatible"):
        model.predict(np.zeros((1, 8, 8, 4), np.float32), verbose=0)
    with pytest.raises(ValueError, match="does not fit"):
        pynn.Sequential([pynn.Input(shape=(2, 2, 1)), layers.Conv2D(2, 3, name="small")])
    with pytest.raises(ValueError, match="rank 4"):
        pynn.Sequential([pynn.Input(shape=(8, 3)), layers.Conv2D(2, 3)])


@pytest.mark.parametrize("first", [
    lambda: layers.Conv2D(4, 3, padding="same", use_bias=False),
    lambda: layers.Conv2D(4, 3, strides=2),
    lambda: layers.DepthwiseConv2D(3, depth_multiplier=2),
    lambda: layers.SeparableConv2D(4, 3),
    lambda: layers.Dense(5),
])
def test_inference_folds_batch_normalization_exactly(first):
    g = np.random.default_rng(0)
    x = g.standard_normal((6, 7, 7, 3)).astype(np.float32)
    model = pynn.Sequential([pynn.Input(shape=(7, 7, 3)), first(), layers.BatchNormalization(),
                             layers.Activation("relu")])
    model.compile(optimizer="sgd", loss="mse")
    bn = model.layers[1]
    # Non-trivial statistics and affine parameters.
    for w in bn.weights:
        w.assign(g.uniform(0.5, 1.5, w.shape))
    h = x
    for layer in model.layers:  # one layer at a time: nothing folded
        h = layer(h, training=False)

    def not_called(*args, **kwargs):
        raise AssertionError("the BatchNormalization ran on its own")

    bn.forward = not_called
    np.testing.assert_allclose(model.predict(x, verbose=0), h, rtol=1e-5, atol=1e-5)
