"""pynn.GradientTape: gradients of models, layers, variables and inputs
against central finite differences, and the tape's rules (persistent,
watch, stop_recording, None for unconnected sources)."""
import numpy as np
import pytest

import pynn
from pynn import layers, losses, ops


def _fd_check(f, arrays, rng, count=6, eps=3e-3, rtol=3e-2, atol=1e-3, grads=None):
    """``grads[i]`` (the tape's) against central differences of ``f()``
    over ``count`` random entries of each array in ``arrays`` (changed in
    place and restored)."""
    for a, g in zip(arrays, grads):
        assert g is not None and g.shape == a.shape
        flat, gflat = a.reshape(-1), g.reshape(-1)
        for i in rng.choice(flat.size, min(count, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            up = f()
            flat[i] = old - eps
            down = f()
            flat[i] = old
            num = (up - down) / (2 * eps)
            assert abs(num - gflat[i]) <= atol + rtol * abs(num), (i, num, gflat[i])


def _conv_graph():
    x = layers.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, padding="same", activation="swish")(x)
    a = layers.BatchNormalization()(a)
    b = layers.DepthwiseConv2D(3, padding="same")(x)
    b = layers.SeparableConv2D(4, 3, padding="same", activation="tanh")(b)
    m = layers.Add()([a, b])
    p = layers.MaxPooling2D()(m)
    q = layers.AveragePooling2D()(m)
    c = layers.Concatenate()([p, q])
    g = layers.GlobalAveragePooling2D()(c)
    f = layers.Flatten()(layers.Conv2D(2, 1)(c))
    h = layers.Dense(5, activation="sigmoid")(layers.Concatenate()([g, f]))
    h = layers.Dropout(0.3)(h)
    out = layers.Dense(3, activation="softmax")(layers.Reshape((5,))(h))
    return pynn.Model(x, out), np.random.default_rng(0).normal(size=(4, 8, 8, 3))


def _sequence_graph():
    x = layers.Input((6, 3))
    # Named: the recurrent layers' automatic names stay in step with
    # Keras's, which tests/layers compares.
    a = layers.LSTM(4, return_sequences=True, name="tape_lstm")(x)
    b = layers.GRU(4, return_sequences=True, name="tape_gru")(x)
    c = layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True, name="tape_rnn"),
                             name="tape_bidirectional")(x)
    s = layers.Concatenate()([a, b, c])
    s = layers.Conv1D(4, 3, padding="same", activation="elu")(s)
    s = layers.TimeDistributed(layers.Dense(3))(s)
    s = layers.LayerNormalization()(s) if hasattr(layers, "LayerNormalization") else s
    s = layers.AveragePooling1D()(s)
    out = layers.Dense(2)(layers.GlobalAveragePooling1D()(s))
    return pynn.Model(x, out), np.random.default_rng(1).normal(size=(3, 6, 3))


@pytest.mark.parametrize("build", [_conv_graph, _sequence_graph])
@pytest.mark.parametrize("training", [False, True])
def test_model_gradients_match_finite_differences(build, training):
    pynn.utils.set_random_seed(3)
    model, x = build()
    x = x.astype(np.float32)
    rng = np.random.default_rng(5)
    w_out = rng.normal(size=model.output_shape[1:]).astype(np.float32)
    dropout = [l for l in model.layers if isinstance(l, layers.Dropout)]
    for l in dropout:  # a fixed function for the differences
        l.rate = 0.0

    def loss_of(tape_x):
        y = model(tape_x, training=training)
        return ops.sum(ops.multiply(y, w_out))

    with pynn.GradientTape() as tape:
        tape.watch(x)
        loss = loss_of(x)
    weights = model.trainable_weights
    grads = tape.gradient(loss, weights + [x])

    def f():
        with pynn.GradientTape():
            return float(loss_of(x))
    _fd_check(f, [w.value for w in weights] + [x], rng, grads=grads)


def test_variables_linear_model():
    """Deep Learning with Python ch. 2: a linear model on tf.Variables."""
    tf = pynn
    x = tf.Variable(0.0)
    with tf.GradientTape() as tape:
        y = 2 * x + 3
    assert float(tape.gradient(y, x)) == 2.0

    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(16, 2)).astype(np.float32)
    targets = rng.normal(size=(16, 1)).astype(np.float32)
    W = tf.Variable(tf.random.uniform(shape=(2, 1)))
    b = tf.Variable(np.zeros(1))
    w0, b0 = W.numpy(), b.numpy()
    with tf.GradientTape() as tape:
        predictions = tf.matmul(inputs, W) + b
        loss = tf.reduce_mean(tf.square(targets - predictions))
    gw, gb = tape.gradient(loss, [W, b])
    r = inputs @ w0 + b0 - targets
    np.testing.assert_allclose(gw, 2 * inputs.T @ r / 16, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gb, 2 * r.sum(0) / 16, rtol=1e-5, atol=1e-6)
    W.assign_sub(gw * 0.1)
    np.testing.assert_allclose(W.numpy(), w0 - 0.1 * gw)


def test_shared_model_called_twice_sums_both_calls():
    pynn.utils.set_random_seed(1)
    inner = pynn.Sequential([layers.Input((3,)), layers.Dense(4, activation="tanh"),
                             layers.Dense(2)])
    rng = np.random.default_rng(2)
    a, b = (rng.normal(size=(5, 3)).astype(np.float32) for _ in range(2))
    with pynn.GradientTape(persistent=True) as tape:
        ya, yb = inner(a, training=True), inner(b, training=True)
        both = ops.sum(ops.square(ya)) + ops.sum(yb)
        only_a = ops.sum(ops.square(ya))
        only_b = ops.sum(yb)
    weights = inner.trainable_weights
    g_both = tape.gradient(both, weights)
    g_a, g_b = tape.gradient(only_a, weights), tape.gradient(only_b, weights)
    for gb_, ga, gbb in zip(g_both, g_a, g_b):
        np.testing.assert_allclose(gb_, ga + gbb, rtol=1e-5, atol=1e-6)

    def f():
        with pynn.GradientTape():
            return float(ops.sum(ops.square(inner(a))) + ops.sum(inner(b)))
    _fd_check(f, [w.value for w in weights], rng, grads=g_both)


def test_generator_then_discriminator():
    """A GAN's generator step: the loss through the discriminator, the
    gradient for the generator only (the discriminator's untouched)."""
    pynn.utils.set_random_seed(2)
    gen = pynn.Sequential([layers.Input((3,)), layers.Dense(6, activation="relu"),
                           layers.Dense(4)])
    disc = pynn.Sequential([layers.Input((4,)), layers.Dense(5, activation="relu"),
                            layers.Dense(1)])
    z = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    bce = losses.BinaryCrossentropy(from_logits=True)
    ones = np.ones((8, 1), np.float32)
    with pynn.GradientTape() as g_tape, pynn.GradientTape() as d_tape:
        fake = gen(z, training=True)
        g_loss = bce(ones, disc(fake, training=True))
        d_loss = bce(np.zeros((8, 1), np.float32), disc(fake, training=True))
    grads = g_tape.gradient(g_loss, gen.trainable_weights)
    d_grads = d_tape.gradient(d_loss, disc.trainable_weights)
    assert all(g is not None for g in grads + d_grads)

    def f():
        with pynn.GradientTape():
            return float(bce(ones, disc(gen(z))))
    _fd_check(f, [w.value for w in gen.trainable_weights], np.random.default_rng(1),
              grads=grads)


def test_gradient_wrt_intermediate_activation_grad_cam():
    pynn.utils.set_random_seed(4)
    x = layers.Input((6, 6, 2))
    conv = layers.Conv2D(3, 3, activation="relu", name="last_conv")(x)
    head_in = layers.Input((4, 4, 3))
    head = pynn.Model(head_in, layers.Dense(2, activation="softmax")(
        layers.GlobalAveragePooling2D()(head_in)))
    model = pynn.Model(x, head(conv))
    grad_model = pynn.Model(model.inputs, [model.get_layer("last_conv").output,
                                           model.output])
    img = np.random.default_rng(0).normal(size=(1, 6, 6, 2)).astype(np.float32)
    with pynn.GradientTape() as tape:
        conv_out, preds = grad_model(img)
        channel = preds[:, 1]
    grads = tape.gradient(channel, conv_out)
    feature = conv_out.numpy()
    with pynn.GradientTape() as tape:
        tape.watch(feature)
        ref = head(feature)[:, 1]
    np.testing.assert_allclose(grads, tape.gradient(ref, feature), rtol=1e-5, atol=1e-7)
    heatmap = pynn.reduce_mean(grads, axis=(0, 1, 2))
    assert heatmap.shape == (3,)


def test_saliency_gradient_wrt_watched_input():
    pynn.utils.set_random_seed(5)
    model = pynn.Sequential([layers.Input((4,)), layers.Dense(3, activation="tanh"),
                             layers.Dense(1)])
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    with pynn.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
    g = tape.gradient(y, x)
    w1, b1, w2, _ = model.get_weights()
    ref = ((1 - np.tanh(x @ w1 + b1) ** 2) * w2[:, 0]) @ w1.T
    np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-6)
    # an unwatched array has no gradient
    with pynn.GradientTape() as tape:
        y = model(x)
    assert tape.gradient(y, x) is None


def test_tape_rules():
    v, u = pynn.Variable([1.0, 2.0]), pynn.Variable(3.0)
    with pynn.GradientTape() as tape:
        y = ops.sum(v * v)
    assert tape.gradient(y, [v, u]) [1] is None
    with pytest.raises(RuntimeError, match="only be called once"):
        tape.gradient(y, v)
    with pynn.GradientTape() as tape:
        y = ops.sum(v * v)
    assert tape.gradient(y, {"v": v, "u": u}, unconnected_gradients="zero")["u"] == 0.0
    with pynn.GradientTape(persistent=True) as tape:
        y = ops.sum(v * v)
        with tape.stop_recording():
            z = ops.sum(v * v)
        y2 = y * y
    np.testing.assert_allclose(tape.gradient(y, v), [2.0, 4.0])
    np.testing.assert_allclose(tape.gradient(y2, v), 2 * 5.0 * np.array([2.0, 4.0]))
    assert tape.gradient(z, v) is None
    frozen = pynn.Variable(2.0, trainable=False)
    with pynn.GradientTape() as tape:
        y = frozen * 3.0
    assert tape.gradient(y, frozen) is None
    with pynn.GradientTape() as tape:
        tape.watch(frozen)
        y = frozen * 3.0
    assert float(tape.gradient(y, frozen)) == 3.0
    # outside the with-block a traced value converts to a constant array
    assert np.asarray(y).shape == ()
    with pynn.GradientTape() as tape:
        y = v * 2.0
        # inside it too, as TensorFlow's eager tensors: a constant
        assert type(np.asarray(y)) is np.ndarray
        z = y + np.sum(np.asarray(y))
    np.testing.assert_array_equal(tape.gradient(z, v), [2.0, 2.0])


def test_model_losses_join_the_gradient_only_when_added():
    pynn.utils.set_random_seed(6)

    class AddsLoss(layers.Layer):
        def call(self, x):
            self.add_loss(0.5 * ops.sum(ops.square(x)))
            return x

    x_in = layers.Input((3,))
    h = layers.Dense(4, kernel_regularizer=pynn.regularizers.l2(0.1),
                     activity_regularizer=pynn.regularizers.l1(0.05))(x_in)
    out = layers.Dense(1)(AddsLoss()(h))
    model = pynn.Model(x_in, out)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    weights = model.trainable_weights

    def run(with_losses):
        with pynn.GradientTape() as tape:
            loss = ops.mean(model(x, training=True))
            if with_losses:
                loss = loss + sum(model.losses)
        return float(loss), tape.gradient(loss, weights)

    plain, g_plain = run(False)
    total, g_total = run(True)
    assert len(model.losses) == 2 and total > plain
    assert not np.allclose(g_plain[0], g_total[0])

    def f():
        with pynn.GradientTape():
            return float(ops.mean(model(x, training=True)) + sum(model.losses))
    _fd_check(f, [w.value for w in weights], np.random.default_rng(1), grads=g_total)

    def f_plain():
        with pynn.GradientTape():
            return float(ops.mean(model(x, training=True)))
    _fd_check(f_plain, [w.value for w in weights], np.random.default_rng(2), grads=g_plain)


def test_custom_layer_and_lambda_inside_a_model_on_the_tape():
    pynn.utils.set_random_seed(7)

    class Scale(layers.Layer):
        def build(self, input_shape):
            self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return ops.exp(x * self.s)

    x_in = layers.Input((3,))
    h = Scale()(layers.Dense(3)(x_in))
    out = layers.Lambda(lambda t: ops.sum(ops.square(t), axis=1, keepdims=True))(h)
    model = pynn.Model(x_in, out)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    with pynn.GradientTape() as tape:
        loss = ops.mean(model(x))
    grads = tape.gradient(loss, model.trainable_weights)

    def f():
        with pynn.GradientTape():
            return float(ops.mean(model(x)))
    _fd_check(f, [w.value for w in model.trainable_weights], np.random.default_rng(3),
              grads=grads)


def test_bad_sources_and_gradient_outside():
    v = pynn.Variable(1.0)
    with pynn.GradientTape() as tape:
        y = v * 2.0
    with pytest.raises(TypeError, match="source must be"):
        tape.gradient(y, "v")
    with pytest.raises(RuntimeError, match="inside"):
        pynn.GradientTape().gradient(y, v)
