"""Layers that only define call() (and Lambda layers, custom activations,
custom losses and metrics) train: their gradients, found by differentiating
the call, match central differences of the model's loss, and training with
them matches training with pynn's own layers."""
import re

import numpy as np
import pytest
from gradcheck import check_model_gradients, model_loss

import pynn
from pynn import backend as K
from pynn import layers, ops


def rand(*shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


class SimpleDense(layers.Layer):
    """The book's custom layer: add_weight in build, ops in call."""

    def __init__(self, units=32, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = pynn.activations.get(activation)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        y = ops.matmul(inputs, self.w) + self.b
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": pynn.activations.serialize(self.activation)}


def loss_with_added_losses(seed=None):
    """The model's loss in a training-mode forward pass, with what layers
    gave to add_loss; ``seed`` fixes the random draws of each pass."""
    def loss(model, x, y):
        if seed is not None:
            pynn.utils.set_random_seed(seed)
        xs = model._prepare_inputs(x)
        state = model._program.new_state()
        outs = model._program.forward(xs, True, state)
        total = model._program.activity_penalty(state, 1.0 / xs[0].shape[0])
        ys = model._prepare_targets(y, xs)
        for spec, out, t in zip(model._compiled_outputs, outs, ys):
            if spec.loss is not None:
                per = spec.loss.compute(t, out, None, None, None, False)
                total += spec.weight * float(per.sum()) / xs[0].shape[0]
        return total
    return loss


def test_simple_dense_gradients_and_training():
    pynn.utils.set_random_seed(1)
    inp = pynn.Input(shape=(5,))
    h = SimpleDense(7, activation="tanh")(inp)
    assert h.shape == (None, 7)  # found by running the call
    model = pynn.Model(inp, layers.Dense(3)(SimpleDense(4)(h)))
    model.compile(optimizer=pynn.optimizers.Adam(0.02), loss="mse")
    x, y = rand(9, 5), rand(9, 3, seed=1)
    check_model_gradients(model, x, y)
    assert model.count_params() == 5 * 7 + 7 + 7 * 4 + 4 + 4 * 3 + 3
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=40, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.7 * first


def test_custom_layer_trains_like_dense():
    """SimpleDense and Dense from the same weights take the same steps."""
    x, y = rand(40, 6, seed=2), rand(40, 2, seed=3)
    histories = []
    for layer_class in (SimpleDense, layers.Dense):
        pynn.utils.set_random_seed(2)
        model = pynn.Sequential([pynn.Input(shape=(6,)), layer_class(8, activation="relu"),
                                 layers.Dense(2)])
        model.layers[0].set_weights([rand(6, 8, seed=4), rand(8, seed=5)])
        model.compile(optimizer=pynn.optimizers.Adam(0.01), loss="mse")
        histories.append(model.fit(x, y, epochs=4, batch_size=8, shuffle=False,
                                   verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)


def test_keras3_add_weight_forms():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight((input_shape[-1],))   # Keras 3: the shape first
            self.offset = self.add_weight(shape=(1,), initializer="ones", name="offset")

        def call(self, x, training=None):
            return x * self.scale + self.offset

    layer = Scale()
    layer(np.zeros((1, 4), np.float32))
    assert layer.scale.shape == (4,) and np.any(layer.scale.numpy() != 0)  # glorot
    assert layer.offset.name.endswith("offset")
    model = pynn.Sequential([pynn.Input(shape=(4,)), layer, layers.Dense(2)])
    model.compile("sgd", "mse")
    check_model_gradients(model, rand(6, 4), rand(6, 2, seed=1))


def euclidean_distance(vects):
    x, y = vects
    return K.sqrt(K.maximum(K.sum(K.square(x - y), axis=1, keepdims=True), K.epsilon()))


def contrastive_loss(y_true, y_pred):
    margin = 1.0
    square_pred = K.square(y_pred)
    margin_square = K.square(K.maximum(margin - y_pred, 0))
    return K.mean(y_true * square_pred + (1 - y_true) * margin_square)


def siamese(seed=3):
    pynn.utils.set_random_seed(seed)
    base = pynn.Sequential([pynn.Input(shape=(8,)), layers.Dense(6, activation="tanh"),
                            layers.Dense(4)], name="tower")
    a, b = pynn.Input(shape=(8,)), pynn.Input(shape=(8,))
    distance = layers.Lambda(euclidean_distance, name="distance")([base(a), base(b)])
    return pynn.Model([a, b], distance)


def test_siamese_lambda_distance_with_contrastive_loss():
    model = siamese()
    assert model.output_shape == (None, 1)
    model.compile(optimizer="rmsprop", loss=contrastive_loss)
    xa, xb = rand(12, 8, seed=1), rand(12, 8, seed=2)
    y = (rand(12, seed=3) > 0).astype(np.float32)
    check_model_gradients(model, [xa, xb], y)
    want = np.sqrt(((model.layers[2].predict(xa, verbose=0) -
                     model.layers[2].predict(xb, verbose=0)) ** 2).sum(1, keepdims=True))
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), want, rtol=1e-5)
    before = model.evaluate([xa, xb], y, verbose=0)
    model.fit([xa, xb], y, epochs=15, batch_size=4, verbose=0)
    assert model.evaluate([xa, xb], y, verbose=0) < before


def test_siamese_with_binary_crossentropy_head():
    pynn.utils.set_random_seed(4)
    a, b = pynn.Input(shape=(5,)), pynn.Input(shape=(5,))
    tower = layers.Dense(4, activation="tanh")
    d = layers.Lambda(lambda v: K.square(v[0] - v[1]))([tower(a), tower(b)])
    model = pynn.Model([a, b], layers.Dense(1, activation="sigmoid")(d))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    check_model_gradients(model, [rand(8, 5), rand(8, 5, seed=1)],
                          (rand(8, 1, seed=2) > 0).astype(np.float32))


class Sampling(layers.Layer):
    """The VAE's reparameterization, with its KL term added as a loss."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * K.mean(K.sum(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=1))
        self.add_loss(kl)
        epsilon = K.random_normal(shape=(K.shape(z_mean)[0], K.int_shape(z_mean)[1]))
        return z_mean + K.exp(0.5 * z_log_var) * epsilon


def vae(seed=5):
    pynn.utils.set_random_seed(seed)
    inp = pynn.Input(shape=(6,))
    h = layers.Dense(5, activation="relu")(inp)
    z_mean, z_log_var = layers.Dense(2)(h), layers.Dense(2)(h)
    z = Sampling(name="z")([z_mean, z_log_var])
    out = layers.Dense(6, activation="sigmoid")(layers.Dense(5, activation="relu")(z))
    return pynn.Model(inp, out)


def test_vae_sampling_and_kl_add_loss():
    model = vae()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = rand(10, 6, low=0.0)
    pynn.utils.set_random_seed(11)  # every pass below draws the same noise
    check_model_gradients(model, x, x, loss_fn=loss_with_added_losses(seed=11))
    # the KL term is in the training and evaluation losses
    state = model._program.new_state()
    model._program.forward([x], True, state)
    assert model._program.activity_penalty(state, 1.0 / len(x)) > 0
    first = model.fit(x, x, epochs=1, verbose=0).history["loss"][0]
    model.fit(x, x, epochs=30, verbose=0)
    assert model.evaluate(x, x, verbose=0) < first


def test_keras3_sampling_with_seed_generator():
    class Sampling3(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = pynn.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = ops.shape(z_mean)
            eps = pynn.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * eps

    pynn.utils.set_random_seed(6)
    inp = pynn.Input(shape=(4,))
    z = Sampling3()([layers.Dense(3)(inp), layers.Dense(3)(inp)])
    model = pynn.Model(inp, layers.Dense(4)(z))
    model.compile("adam", "mse")
    h = model.fit(rand(16, 4), rand(16, 4, seed=1), epochs=3, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))


def attention(qkv):
    q, k, v = qkv
    scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / np.sqrt(q.shape[-1])
    return ops.matmul(ops.softmax(scores, axis=-1), v)


def test_attention_lambda_with_matmul_and_softmax():
    pynn.utils.set_random_seed(7)
    seq = pynn.Input(shape=(5, 4))
    q, k, v = layers.Dense(3)(seq), layers.Dense(3)(seq), layers.Dense(3)(seq)
    att = layers.Lambda(attention)([q, k, v])
    assert att.shape == (None, 5, 3)
    pooled = layers.Lambda(lambda t: K.mean(t, axis=1))(att)
    model = pynn.Model(seq, layers.Dense(2, activation="softmax")(pooled))
    model.compile("adam", "categorical_crossentropy")
    x = rand(6, 5, 4)
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1, 0]]
    check_model_gradients(model, x, y)


def swish_fn(x):
    return x * K.sigmoid(x)


def scaled_tanh(x):
    return 1.7159 * ops.tanh(2.0 / 3.0 * x)


@pytest.mark.parametrize("where", ["dense", "activation_layer", "conv2d", "conv1d",
                                   "separable", "depthwise", "conv2d_transpose",
                                   "conv1d_transpose"])
def test_custom_activation_functions(where):
    pynn.utils.set_random_seed(8)
    if where in ("dense", "activation_layer"):
        body = [layers.Dense(5, activation=swish_fn)] if where == "dense" else \
            [layers.Dense(5), layers.Activation(scaled_tanh)]
        model = pynn.Sequential([pynn.Input(shape=(4,))] + body + [layers.Dense(2)])
        x = rand(7, 4)
    else:
        conv = {"conv2d": layers.Conv2D(3, 3, activation=swish_fn),
                "separable": layers.SeparableConv2D(3, 3, activation=scaled_tanh),
                "depthwise": layers.DepthwiseConv2D(3, activation=swish_fn),
                "conv1d": layers.Conv1D(3, 3, activation=scaled_tanh),
                "conv2d_transpose": layers.Conv2DTranspose(2, 3, strides=2,
                                                           activation=scaled_tanh),
                "conv1d_transpose": layers.Conv1DTranspose(2, 3, activation=swish_fn)}[where]
        shape = (6, 2) if where.startswith("conv1d") else (5, 5, 2)
        model = pynn.Sequential([pynn.Input(shape=shape), conv, layers.Flatten(),
                                 layers.Dense(2)])
        x = rand(7, *shape)
    model.compile("sgd", "mse")
    y = rand(7, 2, seed=1)
    check_model_gradients(model, x, y)
    # inference (with the folding and fusing passes) gives the training value
    outs = model._program.forward(model._prepare_inputs(x), False,
                                  model._program.new_state())
    np.testing.assert_allclose(model.predict(x, verbose=0), outs[0], rtol=1e-5, atol=1e-6)


def test_activation_layer_after_dense_is_fused_at_inference():
    pynn.utils.set_random_seed(9)
    model = pynn.Sequential([pynn.Input(shape=(3,)), layers.Dense(4),
                             layers.Activation(swish_fn)])
    x = rand(5, 3)
    kernel, bias = model.layers[0].get_weights()
    pre = x @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), pre / (1 + np.exp(-pre)),
                               rtol=1e-5)


def test_custom_objects_name_an_activation():
    custom = pynn.utils.get_custom_objects()
    custom["swish_fn"] = layers.Activation(swish_fn)   # the Keras 2 idiom
    try:
        assert layers.Dense(2, activation="swish_fn").activation is swish_fn
    finally:
        del custom["swish_fn"]
    with pytest.raises(ValueError, match="Unknown activation 'swish_fn'"):
        layers.Dense(2, activation="swish_fn")


class Residual(layers.Layer):
    """A custom layer built from pynn layers (sublayers) and weights of its
    own, calling another custom layer."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(units, activation="tanh")
        self.blocks = [SimpleDense(units), layers.Dropout(0.0)]

    def build(self, input_shape):
        self.gate = self.add_weight("gate", (1,), initializer="ones")

    def call(self, x, training=None):
        h = self.blocks[0](self.inner(x))
        return x + self.gate * self.blocks[1](h, training=training)


def test_layer_with_sublayers_trains_their_weights():
    pynn.utils.set_random_seed(10)
    inp = pynn.Input(shape=(4,))
    res = Residual(4)
    model = pynn.Model(inp, layers.Dense(2)(res(res(inp))))   # called twice: shared
    names = [w.name for w in res.weights]
    # (unnamed weights: 'variable', 'variable_1', ... numbered in the session, as Keras's)
    assert names[:3] == ["gate", "kernel", "bias"] and len(set(names[3:])) == 2
    assert all(re.fullmatch(r"variable(_\d+)?", n) for n in names[3:])
    assert model.count_params() == 1 + 4 * 4 + 4 + 4 * 4 + 4 + 4 * 2 + 2
    model.compile("sgd", "mse")
    check_model_gradients(model, rand(6, 4), rand(6, 2, seed=1))
    res.trainable = False
    assert res.inner.trainable is False and res.trainable_weights == []
    model.compile("sgd", "mse")
    assert len(model.trainable_weights) == 2


def test_subclass_of_a_pynn_layer_calling_super():
    class ShiftedDense(layers.Dense):
        def call(self, x, training=False):
            return super().call(x, training) + 1.0

    pynn.utils.set_random_seed(11)
    model = pynn.Sequential([pynn.Input(shape=(3,)), ShiftedDense(4, activation="tanh"),
                             layers.Dense(2)])
    model.compile("sgd", "mse")
    check_model_gradients(model, rand(5, 3), rand(5, 2, seed=1))


def test_layer_with_several_outputs():
    class Split(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 4))

        def call(self, x):
            h = x @ self.w
            return [ops.tanh(h[:, :2]), K.square(h[:, 2:])]

    pynn.utils.set_random_seed(12)
    inp = pynn.Input(shape=(3,))
    a, b = Split()(inp)
    assert a.shape == (None, 2) and b.shape == (None, 2)
    model = pynn.Model(inp, [layers.Dense(1)(a), b])
    model.compile("sgd", ["mse", "mse"], loss_weights=[1.0, 0.5])
    check_model_gradients(model, rand(6, 3), [rand(6, 1, seed=1), rand(6, 2, seed=2)])


def test_add_loss_on_a_branch_without_a_loss():
    """A layer whose output meets no loss still sends its added loss's
    gradient back."""
    class ActivityPenalty(layers.Layer):
        def call(self, x):
            self.add_loss(0.1 * K.sum(K.square(x)))
            return x

    pynn.utils.set_random_seed(13)
    inp = pynn.Input(shape=(3,))
    h = layers.Dense(4)(inp)
    model = pynn.Model(inp, [layers.Dense(1, name="out")(h),
                             ActivityPenalty(name="pen")(layers.Dense(2)(h))])
    model.compile("sgd", {"out": "mse"})
    x, y = rand(5, 3), rand(5, 1, seed=1)
    check_model_gradients(model, x, [y, None], loss_fn=loss_with_added_losses())


def test_evaluate_counts_added_losses():
    class ConstantLoss(layers.Layer):
        def call(self, x):
            self.add_loss(2.5)
            return x

    model = pynn.Sequential([pynn.Input(shape=(2,)), layers.Dense(1), ConstantLoss()])
    model.compile("sgd", "mse")
    x, y = rand(8, 2), rand(8, 1, seed=1)
    mse = float(((model.predict(x, verbose=0) - y) ** 2).mean())
    assert model.evaluate(x, y, verbose=0) == pytest.approx(mse + 2.5, rel=1e-5)


def test_unreached_input_and_unused_weight():
    class Odd(layers.Layer):
        def build(self, input_shape):
            self.used = self.add_weight(shape=(input_shape[0][-1], 2))
            self.unused = self.add_weight(shape=(3,))

        def call(self, inputs):
            return inputs[0] @ self.used   # the second input is ignored

    pynn.utils.set_random_seed(14)
    a, b = pynn.Input(shape=(3,)), pynn.Input(shape=(2,))
    odd = Odd()
    model = pynn.Model([a, b], odd([layers.Dense(3)(a), layers.Dense(2)(b)]))
    model.compile("sgd", "mse")
    check_model_gradients(model, [rand(4, 3), rand(4, 2, seed=1)], rand(4, 2, seed=2))
    model.fit([rand(4, 3), rand(4, 2, seed=1)], rand(4, 2, seed=2), verbose=0)
    assert np.all(odd.unused.grad == 0)


def test_custom_loss_and_metric_functions():
    def scaled_mse(y_true, y_pred):
        return 3.0 * ops.mean(ops.square(y_pred - y_true), axis=-1)

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    pynn.utils.set_random_seed(15)
    model = pynn.Sequential([pynn.Input(shape=(4,)), layers.Dense(3, activation="tanh"),
                             layers.Dense(2)])
    model.compile("sgd", loss=scaled_mse, metrics=[mean_pred, "mae"])
    x, y = rand(10, 4), rand(10, 2, seed=1)
    check_model_gradients(model, x, y)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert logs["loss"] == pytest.approx(3 * ((pred - y) ** 2).mean(), rel=1e-5)
    assert logs["mean_pred"] == pytest.approx(pred.mean(), rel=1e-5)
    h = model.fit(x, y, epochs=2, verbose=0, sample_weight=np.arange(10.0))
    assert set(h.history) == {"loss", "mean_pred", "mae"}


def test_custom_loss_with_sample_weights_matches_builtin():
    def my_mse(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true), axis=-1)

    x, y, w = rand(12, 3), rand(12, 2, seed=1), np.linspace(0, 2, 12)
    results = []
    for loss in (my_mse, "mse"):
        pynn.utils.set_random_seed(16)
        model = pynn.Sequential([pynn.Input(shape=(3,)), layers.Dense(2)])
        model.compile("sgd", loss)
        results.append(model.fit(x, y, sample_weight=w, epochs=3, shuffle=False,
                                 verbose=0).history["loss"])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)


def test_lambda_output_shapes():
    inp = pynn.Input(shape=(None, 6))   # a free axis stays free
    assert layers.Lambda(lambda t: t[:, :, :2] * 2)(inp).shape == (None, None, 2)
    assert layers.Lambda(lambda t: K.sum(t, axis=1))(inp).shape == (None, 6)
    assert layers.Lambda(lambda t: t, output_shape=(7, 6))(inp).shape == (None, 7, 6)
    assert layers.Lambda(lambda t: t, output_shape=lambda s: (s[0], 3))(inp).shape == \
        (None, 3)
    two = layers.Lambda(lambda t: [t, t[:, :1]])(inp)
    assert [t.shape for t in two] == [(None, None, 6), (None, 1, 6)]
    norm = layers.Lambda(K.l2_normalize, arguments={"axis": -1})
    np.testing.assert_allclose(norm(np.ones((2, 4), np.float32)), np.full((2, 4), 0.5))


def test_lambda_random_draws_do_not_move_the_seeded_stream():
    pynn.utils.set_random_seed(17)
    expected = pynn.utils.seeding.rng().random(3)
    pynn.utils.set_random_seed(17)
    layers.Lambda(lambda t: t + K.random_normal(K.shape(t)))(pynn.Input(shape=(4,)))
    np.testing.assert_array_equal(pynn.utils.seeding.rng().random(3), expected)


def test_lambda_in_sequential_scales_inputs():
    model = pynn.Sequential([pynn.Input(shape=(4,)), layers.Lambda(lambda t: t / 255.0),
                             layers.Dense(2)])
    model.compile("sgd", "mse")
    x = rand(6, 4, low=0, high=255)
    check_model_gradients(model, x, rand(6, 2, seed=1), h=1e-2)
    kernel, bias = model.layers[1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x / 255 @ kernel + bias,
                               rtol=1e-5)


def test_model_loss_helper_sees_custom_losses():
    model = siamese()
    model.compile("sgd", loss=contrastive_loss)
    xa, xb = rand(4, 8), rand(4, 8, seed=1)
    y = np.array([1, 0, 1, 0], np.float32)
    d = model.predict([xa, xb], verbose=0)[:, 0]
    want = np.mean(y * d ** 2 + (1 - y) * np.maximum(1 - d, 0) ** 2)
    assert model_loss(model, [xa, xb], y) == pytest.approx(want, rel=1e-5)
