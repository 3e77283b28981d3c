"""Second derivatives through BatchNormalization, pooling, the convolution
variants, the recurrent layers, Embedding, the softmax activation, the
probability cross-entropies and the trigonometric functions: gradient
penalties and gradients of weight-gradient norms against finite
differences of the first-order gradient, and against Keras 3 on JAX."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn as keras
import pynn as tf
from pynn import layers


def _finite_differences(f, weights, eps=1e-3):
    """d f / d w by central differences (f in float64), with a mask of
    where they are reliable: a step across a kink (max pooling's choice,
    ReLU) makes them disagree with those of a step half as long."""
    out = []
    for w in weights:
        v = w.value
        grads = np.zeros((2,) + v.shape, np.float64)
        for i in np.ndindex(v.shape):
            old = v[i]
            for k, step in enumerate((eps, eps / 2)):
                v[i] = old + step
                up = f()
                v[i] = old - step
                down = f()
                grads[(k,) + i] = (up - down) / (2 * step)
            v[i] = old
        scale = max(np.abs(grads[0]).max(), 1e-2)
        out.append((grads[1], np.abs(grads[0] - grads[1]) <= 2e-3 * scale))
    return out


def _assert_close(got, want, tol=3e-3):
    checked = total = 0
    for g, (w, reliable) in zip(got, want):
        g = np.zeros_like(w) if g is None else np.asarray(g, np.float64)
        assert g.shape == w.shape
        scale = max(np.abs(w).max(), 1e-2)
        assert np.abs(g - w)[reliable].max(initial=0) <= tol * scale, (g, w)
        checked += reliable.sum()
        total += reliable.size
    assert checked >= 0.8 * total


def _penalty_first_order(model, x, training):
    """sum(dy/dx ^ 2) with a single tape, summed in float64."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        pred = model(x, training=training)
    g = np.asarray(tape.gradient(pred, x), np.float64)
    return (g ** 2).sum()


def _penalty_gradient(model, x, training):
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            pred = model(x, training=training)
        g = inner.gradient(pred, x)
        gp = tf.reduce_sum(tf.square(g))
    return float(gp), outer.gradient(gp, model.trainable_weights)


def _check_penalty(model, x, training=True):
    x = tf.constant(x)
    noisy = [la for la in model.layers if hasattr(la, "_draws")]

    def same_draws():
        # each call draws the same noise (seeded layers, their count reset)
        for la in noisy:
            la._draws = 0
    same_draws()
    value, got = _penalty_gradient(model, x, training)

    def first_order():
        same_draws()
        return _penalty_first_order(model, x, training)
    assert value == pytest.approx(first_order(), rel=1e-4)
    _assert_close(got, _finite_differences(first_order, model.trainable_weights))


def _model(shape, *stack):
    return keras.Sequential([keras.Input(shape), *stack])


def _data(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ------------------------------------------------ normalization and pooling

@pytest.mark.parametrize("training", [True, False])
def test_gradient_penalty_through_batch_normalization(training):
    keras.utils.set_random_seed(1)
    bn = layers.BatchNormalization(momentum=0.5)
    model = _model((4, 4, 2), layers.Conv2D(3, 2, activation="tanh"), bn, layers.Flatten(),
                   layers.Dense(1))
    if not training:  # moving statistics of their own
        bn.moving_mean.value[...] = [0.2, -0.1, 0.3]
        bn.moving_variance.value[...] = [0.5, 2.0, 1.5]
    _check_penalty(model, _data(2, (4, 4, 4, 2)), training)


def test_batch_normalization_on_nested_tapes_updates_its_moving_statistics_as_one_call():
    keras.utils.set_random_seed(3)
    model = _model((3,), layers.Dense(4), layers.BatchNormalization(momentum=0.8))
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    x = _data(4, (6, 3))
    _penalty_gradient(model, tf.constant(x), True)
    with tf.GradientTape():
        twin(x, training=True)
    for a, b in zip(model.non_trainable_weights, twin.non_trainable_weights):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-5, atol=1e-7)
    assert np.abs(model.non_trainable_weights[0].value).max() > 1e-3  # they moved


@pytest.mark.parametrize("pool", [
    lambda: layers.MaxPooling2D(), lambda: layers.AveragePooling2D(),
    lambda: layers.MaxPooling2D(3, strides=2, padding="same"),
    lambda: layers.AveragePooling2D(3, strides=2, padding="same"),
    lambda: layers.GlobalMaxPooling2D(), lambda: layers.GlobalAveragePooling2D(keepdims=True)],
    ids=["max", "avg", "max-same", "avg-same", "global-max", "global-avg"])
def test_gradient_penalty_through_2d_pooling(pool):
    keras.utils.set_random_seed(5)
    model = _model((6, 6, 2), layers.Conv2D(3, 2, activation="tanh"), pool(),
                   layers.Flatten(), layers.Dense(1, activation="tanh"))
    _check_penalty(model, _data(6, (2, 6, 6, 2)))


@pytest.mark.parametrize("pool", [
    lambda: layers.MaxPooling1D(2), lambda: layers.AveragePooling1D(3, strides=2),
    lambda: layers.GlobalMaxPooling1D(), lambda: layers.GlobalAveragePooling1D()],
    ids=["max", "avg", "global-max", "global-avg"])
def test_gradient_penalty_through_1d_convolution_and_pooling(pool):
    keras.utils.set_random_seed(7)
    model = _model((9, 2), layers.Conv1D(3, 3, padding="causal", activation="tanh"), pool(),
                   layers.Flatten(), layers.Dense(1))
    _check_penalty(model, _data(8, (2, 9, 2)))


@pytest.mark.parametrize("pool", [lambda: layers.MaxPooling3D(2),
                                  lambda: layers.AveragePooling3D(2, padding="same"),
                                  lambda: layers.GlobalAveragePooling3D()],
                         ids=["max", "avg", "global-avg"])
def test_gradient_penalty_through_conv3d_and_3d_pooling(pool):
    keras.utils.set_random_seed(9)
    model = _model((5, 4, 4, 1), layers.Conv3D(2, (2, 2, 2), activation="tanh"), pool(),
                   layers.Flatten(), layers.Dense(1))
    _check_penalty(model, _data(10, (2, 5, 4, 4, 1)))


def test_gradient_penalty_through_conv3d_transpose():
    keras.utils.set_random_seed(52)
    model = _model((2, 3, 3, 2), layers.Conv3DTranspose(2, 2, strides=(2, 1, 1),
                                                        activation="tanh"),
                   layers.Flatten(), layers.Dense(1))
    _check_penalty(model, _data(53, (2, 2, 3, 3, 2)))


# ------------------------------------------------------ convolution variants

@pytest.mark.parametrize("conv", [
    lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same"),
    lambda: layers.Conv2DTranspose(2, 2, strides=2, output_padding=1),
    lambda: layers.SeparableConv2D(3, 2, depth_multiplier=2),
    lambda: layers.DepthwiseConv2D(2, padding="same"),
    lambda: layers.Conv2D(3, 3, dilation_rate=2),
    lambda: layers.Conv2D(4, 2, groups=2, padding="same")],
    ids=["transpose-same", "transpose-output-padding", "separable", "depthwise", "dilated",
         "grouped"])
def test_gradient_penalty_through_convolution_variants(conv):
    keras.utils.set_random_seed(11)
    model = _model((5, 5, 2), conv(), layers.Activation("tanh"), layers.Flatten(),
                   layers.Dense(1))
    _check_penalty(model, _data(12, (2, 5, 5, 2)))


def test_gradient_penalty_through_1d_transposed_depthwise_and_separable_convolutions():
    keras.utils.set_random_seed(13)
    model = _model((6, 2), layers.Conv1DTranspose(2, 3, strides=2, activation="tanh"),
                   layers.DepthwiseConv1D(2), layers.SeparableConv1D(2, 2, activation="tanh"),
                   layers.Flatten(), layers.Dense(1))
    _check_penalty(model, _data(14, (2, 6, 2)))


@pytest.mark.parametrize("stack", [
    lambda: [layers.Softmax(axis=1)], lambda: [layers.ELU(0.7)],
    lambda: [layers.PReLU(shared_axes=[1])],
    lambda: [layers.ReLU(max_value=1.0, negative_slope=0.2, threshold=0.1)],
    lambda: [layers.UpSampling2D()], lambda: [layers.UpSampling2D(interpolation="bilinear")],
    lambda: [layers.Cropping2D(((1, 0), (0, 1)))], lambda: [layers.Permute((2, 1, 3))],
    lambda: [layers.GroupNormalization(groups=2)], lambda: [layers.UnitNormalization()],
    lambda: [layers.GaussianNoise(0.5, seed=3)], lambda: [layers.GaussianDropout(0.3, seed=4)],
    lambda: [layers.AlphaDropout(0.3, seed=5)], lambda: [layers.SpatialDropout2D(0.5, seed=6)],
    lambda: [layers.Rescaling(0.5, offset=0.2)],
    lambda: [layers.Reshape((4, 16)), layers.TimeDistributed(layers.Dense(2, activation="tanh"))],
    lambda: [layers.Reshape((4, 16)), layers.ZeroPadding1D((1, 2))],
    lambda: [layers.Flatten(), layers.Dense(3), layers.RepeatVector(2)]],
    ids=["softmax", "elu", "prelu", "relu", "upsampling", "upsampling-bilinear", "cropping",
         "permute", "group-norm", "unit-norm", "gaussian-noise", "gaussian-dropout",
         "alpha-dropout", "spatial-dropout", "rescaling", "time-distributed", "zero-padding",
         "repeat-vector"])
def test_gradient_penalty_through_activation_reshaping_noise_and_normalization_layers(stack):
    keras.utils.set_random_seed(35)
    model = _model((4, 4, 2), layers.Conv2D(4, 2, padding="same", activation="tanh"),
                   *stack(), layers.Flatten(), layers.Dense(1, activation="tanh"))
    _check_penalty(model, _data(36, (2, 4, 4, 2)))


def test_gradient_penalty_through_einsum_dense_normalization_and_identity_layers():
    keras.utils.set_random_seed(44)
    norm = layers.Normalization()
    norm.adapt(_data(45, (20, 3)) * 2 + 1)
    model = _model((3,), norm, layers.Identity(),
                   layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c",
                                      activation="tanh"), layers.Dense(1, activation="tanh"))
    _check_penalty(model, _data(46, (4, 3)))


class _Squares(layers.Layer):
    """A layer computing through call() that adds a loss of its output."""

    def call(self, x):
        y = keras.ops.square(x)
        self.add_loss(0.1 * keras.ops.sum(keras.ops.sin(y)))
        return y


def test_gradient_penalty_through_layers_computing_through_call_and_model_losses():
    # activity regularizers and add_loss values reach model.losses as
    # recorded values: the penalty of d(output + losses)/dx differentiates them
    keras.utils.set_random_seed(47)
    inputs = keras.Input((3, 4))
    h = layers.Dense(4, activation="tanh",
                     activity_regularizer=keras.regularizers.L1L2(0.05, 0.1))(inputs)
    h = layers.MultiHeadAttention(2, 2)(h, h)
    h = _Squares()(h)
    h = layers.ActivityRegularization(l2=0.2)(h)
    h = layers.Lambda(lambda t: keras.ops.tanh(t))(layers.Flatten()(h))
    model = keras.Model(inputs, layers.Dense(1)(h))
    x = tf.constant(_data(48, (2, 3, 4)))

    def first_order():
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(model(x, training=True)) + sum(model.losses)
        g = np.asarray(tape.gradient(total, x), np.float64)
        return (g ** 2).sum()
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            total = tf.reduce_sum(model(x, training=True)) + sum(model.losses)
        assert len(model.losses) == 3
        g = inner.gradient(total, x)
        gp = tf.reduce_sum(tf.square(g))
    got = outer.gradient(gp, model.trainable_weights)
    assert float(gp) == pytest.approx(first_order(), rel=1e-4)
    _assert_close(got, _finite_differences(first_order, model.trainable_weights))


# ----------------------------------------------------------- recurrent layers

@pytest.mark.parametrize("rnn", [
    lambda: layers.SimpleRNN(3),
    lambda: layers.SimpleRNN(3, return_sequences=True, go_backwards=True),
    lambda: layers.LSTM(3), lambda: layers.LSTM(2, return_sequences=True),
    lambda: layers.GRU(3), lambda: layers.GRU(3, reset_after=False, go_backwards=True),
    lambda: layers.SimpleRNN(3, dropout=0.3, recurrent_dropout=0.4, seed=1),
    lambda: layers.LSTM(3, dropout=0.3, recurrent_dropout=0.4, seed=2),
    lambda: layers.GRU(3, dropout=0.3, recurrent_dropout=0.4, seed=3),
    lambda: layers.GRU(3, reset_after=False, recurrent_dropout=0.4, seed=4)],
    ids=["simple", "simple-seq-back", "lstm", "lstm-seq", "gru", "gru-v1-back",
         "simple-dropout", "lstm-dropout", "gru-dropout", "gru-v1-dropout"])
def test_gradient_penalty_through_recurrent_layers(rnn):
    keras.utils.set_random_seed(15)
    model = _model((4, 2), rnn(), layers.Flatten(), layers.Dense(1))
    _check_penalty(model, _data(16, (2, 4, 2)))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", None])
def test_gradient_penalty_through_a_bidirectional_layer(merge_mode):
    keras.utils.set_random_seed(37)
    inputs = keras.Input((3, 2))
    out = layers.Bidirectional(layers.GRU(2, return_sequences=True),
                               merge_mode=merge_mode)(inputs)
    if merge_mode is None:
        out = layers.Concatenate()(out)
    model = keras.Model(inputs, layers.Dense(1)(layers.Flatten()(out)))
    _check_penalty(model, _data(38, (2, 3, 2)))


def test_hessian_vector_product_of_an_lstm_with_states_matches_finite_differences():
    # the states it returns and initial states given to a second one
    keras.utils.set_random_seed(17)
    inputs = keras.Input((3, 2))
    seq, h, c = layers.LSTM(3, return_sequences=True, return_state=True)(inputs)
    out = layers.LSTM(3)(seq, initial_state=[h, c])
    model = keras.Model(inputs, layers.Dense(1)(out))
    x = tf.constant(_data(18, (2, 3, 2)))
    y = _data(19, (2, 1))
    vector = [_data(20 + i, w.shape) for i, w in enumerate(model.trainable_weights)]

    def directional():
        # the gradient of the loss along ``vector``: its derivative is H v
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_weights)
        return sum(float(np.sum(np.asarray(g, np.float64) * v)) for g, v in zip(grads, vector))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = inner.gradient(loss, model.trainable_weights)
        along = sum(tf.reduce_sum(g * v) for g, v in zip(grads, vector))
    hv = outer.gradient(along, model.trainable_weights)
    assert float(along) == pytest.approx(directional(), rel=1e-4)
    _assert_close(hv, _finite_differences(directional, model.trainable_weights))


# -------------------------------------------- embeddings, losses, activations

def _weight_gradient_norm_check(model, loss_fn, x, y):
    def squared_norm(grads):
        return sum(np.sum(np.asarray(g, np.float64) ** 2) for g in grads)

    def first_order():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return squared_norm(tape.gradient(loss, model.trainable_weights))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = loss_fn(y, model(x, training=True))
        grads = inner.gradient(loss, model.trainable_weights)
        penalty = sum(tf.reduce_sum(tf.square(g)) for g in grads)
    got = outer.gradient(penalty, model.trainable_weights)
    assert float(penalty) == pytest.approx(first_order(), rel=1e-4)
    _assert_close(got, _finite_differences(first_order, model.trainable_weights))


@pytest.mark.parametrize("loss_fn,softmax", [
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), False),
    (keras.losses.SparseCategoricalCrossentropy(), True),
    (keras.losses.CategoricalCrossentropy(), True),
    (keras.losses.BinaryCrossentropy(), False)],
    ids=["sparse-logits", "sparse-probabilities", "categorical-probabilities", "binary"])
def test_gradient_of_the_weight_gradients_norm_through_crossentropies(loss_fn, softmax):
    keras.utils.set_random_seed(21)
    rng = np.random.default_rng(22)
    last = "softmax" if softmax else "sigmoid" if "Binary" in type(loss_fn).__name__ \
        else None
    model = _model((4,), layers.Dense(5, activation="tanh"), layers.Dense(3, activation=last))
    x = tf.constant(rng.normal(size=(6, 4)).astype(np.float32))
    if "Sparse" in type(loss_fn).__name__:
        y = rng.integers(0, 3, size=(6,))
    elif "Binary" in type(loss_fn).__name__:
        y = rng.integers(0, 2, size=(6, 3)).astype(np.float32)
    else:
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=6)]
    _weight_gradient_norm_check(model, loss_fn, x, y)


def test_gradient_of_the_weight_gradients_norm_through_an_embedding():
    keras.utils.set_random_seed(23)
    model = _model((3,), layers.Embedding(5, 2), layers.Flatten(),
                   layers.Dense(2, activation="tanh"), layers.Dense(1))
    ids = np.array([[0, 1, 1], [4, 2, 0], [3, 3, 1]])
    y = _data(24, (3, 1))
    _weight_gradient_norm_check(model, keras.losses.MeanSquaredError(), ids, y)


def _second_derivative(f, x0):
    v = tf.Variable(np.asarray(x0, np.float32))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = tf.reduce_sum(f(v))
        g = inner.gradient(y, v)
    return np.asarray(outer.gradient(g, v), np.float64)


@pytest.mark.parametrize("name,x0", [
    ("tan", [0.3, -0.7]), ("arcsin", [0.2, -0.5]), ("arccos", [0.2, 0.6]),
    ("arctan", [0.4, -1.5]), ("sinh", [0.3, -1.0]), ("cosh", [0.3, -1.0]),
    ("arcsinh", [0.5, -2.0]), ("arccosh", [1.5, 3.0]), ("arctanh", [0.2, -0.4])])
def test_second_derivatives_of_the_trigonometric_functions(name, x0):
    fn = getattr(keras.ops, name)
    got = _second_derivative(fn, x0)
    x = np.asarray(x0, np.float64)
    ref = getattr(np, name)
    eps = 1e-4
    want = (ref(x + eps) - 2 * ref(x) + ref(x - eps)) / eps ** 2
    np.testing.assert_allclose(got, want, rtol=2e-3)


def test_second_derivatives_of_power_with_a_traced_exponent():
    a = tf.Variable(np.array([1.5, 0.7], np.float32))
    b = tf.Variable(np.array([2.5, -1.3], np.float32))
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            y = tf.reduce_sum(tf.pow(a, b))
        ga, gb = inner.gradient(y, [a, b])
    haa, hab = outer.gradient(ga, [a, b])
    hba, hbb = outer.gradient(gb, [a, b])
    av, bv = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
    np.testing.assert_allclose(haa, bv * (bv - 1) * av ** (bv - 2), rtol=1e-5)
    np.testing.assert_allclose(hbb, av ** bv * np.log(av) ** 2, rtol=1e-5)
    cross = av ** (bv - 1) * (1 + bv * np.log(av))
    np.testing.assert_allclose(hab, cross, rtol=1e-5)
    np.testing.assert_allclose(hba, cross, rtol=1e-5)


def test_hessian_of_a_softmax_activation_is_symmetric():
    keras.utils.set_random_seed(25)
    model = _model((3,), layers.Dense(4, activation="softmax"), layers.Dense(1))
    x = tf.constant(_data(26, (2, 3)))
    kernel = model.trainable_weights[0]
    rows = []
    for i in range(kernel.value.size):
        e = np.zeros(kernel.value.size, np.float32)
        e[i] = 1
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = tf.reduce_sum(tf.square(model(x)))
            g = inner.gradient(loss, kernel)
            along = tf.reduce_sum(g * e.reshape(kernel.value.shape))
        rows.append(np.asarray(outer.gradient(along, kernel)).reshape(-1))
    hessian = np.array(rows)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-5 * np.abs(hessian).max())
    assert np.abs(hessian).max() > 0


# --------------------------------------------------------- Keras 3 on JAX

_KERAS_JAX_PENALTY = """
import sys
import numpy as np
import jax
import jax.numpy as jnp
import keras
from keras import layers

data = np.load(sys.argv[1])
if sys.argv[3] == "cnn":
    model = keras.Sequential([
        keras.Input((6, 6, 2)), layers.Conv2D(3, 2, activation="tanh"),
        layers.BatchNormalization(), layers.MaxPooling2D(), layers.SeparableConv2D(2, 2),
        layers.GlobalAveragePooling2D(), layers.Dense(1)])
else:
    model = keras.Sequential([keras.Input((4, 2)), layers.LSTM(3, return_sequences=True),
                              layers.GRU(2), layers.Dense(1)])
model.set_weights([data[f"w{i}"] for i in range(len(model.weights))])
trainable = [v.value for v in model.trainable_variables]
fixed = [v.value for v in model.non_trainable_variables]

def penalty(trainable, x):
    def total(x):
        return jnp.sum(model.stateless_call(trainable, fixed, x, training=True)[0])
    return jnp.sum(jax.grad(total)(x) ** 2)

value, grads = jax.value_and_grad(penalty)(trainable, data["x"])
np.savez(sys.argv[2], value=np.asarray(value), *[np.asarray(g) for g in grads])
"""


@pytest.mark.parametrize("kind", ["cnn", "rnn"])
def test_gradient_penalty_matches_keras_on_jax(kind, tmp_path):
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None:
        pytest.skip("Keras 3 and JAX are not installed")
    keras.utils.set_random_seed(27)
    if kind == "cnn":
        model = _model((6, 6, 2), layers.Conv2D(3, 2, activation="tanh"),
                       layers.BatchNormalization(), layers.MaxPooling2D(),
                       layers.SeparableConv2D(2, 2), layers.GlobalAveragePooling2D(),
                       layers.Dense(1))
        x = _data(28, (4, 6, 6, 2))
    else:
        model = _model((4, 2), layers.LSTM(3, return_sequences=True), layers.GRU(2),
                       layers.Dense(1))
        x = _data(29, (3, 4, 2))
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(tmp_path / "in.npz", x=x, **weights)
    value, grads = _penalty_gradient(model, tf.constant(x), True)
    script = tmp_path / "penalty.py"
    script.write_text(_KERAS_JAX_PENALTY)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz"), kind], env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"Keras on JAX did not run here: {done.stderr[-500:]}")
    theirs = np.load(tmp_path / "out.npz")
    assert value == pytest.approx(float(theirs["value"]), rel=1e-4)
    for i, g in enumerate(grads):
        want = theirs[f"arr_{i}"]
        if g is None:  # (a bias the input gradient does not depend on)
            assert not want.any()
            continue
        np.testing.assert_allclose(g, want, rtol=2e-3, atol=2e-4 * np.abs(want).max())


# ------------------------------------- a gradient inside a persistent tape

def _pinn_residual(weights, x, tape):
    """A physics-informed residual on u_x, u a small network of weights."""
    w1, b1, w2 = weights
    u = tf.matmul(tf.tanh(tf.matmul(x, w1) + b1), w2)
    u_x = tape.gradient(u, x)
    return tf.reduce_mean(tf.square(u_x - tf.math.tan(x * 0.3)))


def test_a_gradient_taken_inside_a_persistent_tape_is_differentiated_by_it():
    # all on one persistent tape, as TensorFlow records it: the same as
    # with nested tapes
    rng = np.random.default_rng(30)
    weights = [tf.Variable(rng.normal(size=s).astype(np.float32) * 0.5)
               for s in ((2, 4), (4,), (4, 1))]
    x = tf.constant(_data(31, (5, 2)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        residual = _pinn_residual(weights, x, tape)
    got = tape.gradient(residual, weights)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            w1, b1, w2 = weights
            u = tf.matmul(tf.tanh(tf.matmul(x, w1) + b1), w2)
        u_x = inner.gradient(u, x)
        value = tf.reduce_mean(tf.square(u_x - tf.math.tan(x * 0.3)))
    want = outer.gradient(value, weights)
    assert float(residual) == pytest.approx(float(value), rel=1e-6)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
        assert np.abs(g).max() > 0


def test_a_model_under_one_persistent_tape_refuses_a_second_derivative_naming_it():
    # a model call there stays one record (its operations are recorded
    # only under nested tapes): differentiating its in-block gradient raises
    keras.utils.set_random_seed(32)
    model = keras.Sequential([keras.Input((2,)), layers.Dense(3, activation="tanh"),
                              layers.Dense(1)], name="pinn")
    x = tf.constant(_data(33, (4, 2)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        u_x = tape.gradient(model(x), x)
        residual = tf.reduce_mean(tf.square(u_x))
    np.testing.assert_allclose(float(residual), _penalty_first_order(model, x, None) / 8,
                               rtol=1e-5)
    with pytest.raises(NotImplementedError, match="model 'pinn'.*GradientTape\\(\\) as outer"):
        tape.gradient(residual, model.trainable_weights)


def test_an_optimizer_step_inside_a_persistent_tapes_block_takes_the_gradients_values():
    keras.utils.set_random_seed(32)
    model = _model((3,), layers.Dense(4, activation="relu"), layers.BatchNormalization(),
                   layers.Dense(1))
    before = [w.numpy().copy() for w in model.trainable_weights]
    x = _data(33, (5, 3))
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_weights)
        keras.optimizers.SGD(0.5).apply_gradients(zip(grads, model.trainable_weights))
    for b, g, w in zip(before, grads, model.trainable_weights):
        np.testing.assert_allclose(w.numpy(), b - 0.5 * g.numpy(), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------ more operations

def _directional_second_derivative(f, x0, v):
    """d/dx sum(grad f(x) * v) with nested tapes (a Hessian-vector product)."""
    x = tf.Variable(np.asarray(x0, np.float32))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = tf.reduce_sum(f(x))
        g = inner.gradient(y, x)
        along = tf.reduce_sum(g * v)
    return np.asarray(outer.gradient(along, x), np.float64)


def _hvp_by_differences(f, x0, v, eps=1e-3):
    def first(xv):
        x = tf.Variable(xv.astype(np.float32))
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(f(x))
        return float(np.sum(np.asarray(tape.gradient(y, x), np.float64) * v))
    x0 = np.asarray(x0, np.float64)
    out = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        up, down = x0.copy(), x0.copy()
        up[i] += eps
        down[i] -= eps
        out[i] = (first(up) - first(down)) / (2 * eps)
    return out


_W = np.random.default_rng(40).normal(size=(3, 3)).astype(np.float32)
_SPD = _W @ _W.T + 3 * np.eye(3, dtype=np.float32)
_OPS = {
    "cumsum": (lambda x: keras.ops.sin(keras.ops.cumsum(x, axis=1)), (2, 3)),
    "cumsum-flat": (lambda x: keras.ops.sin(keras.ops.cumsum(x)), (2, 3)),
    "l2_normalize": (lambda x: keras.ops.sin(3 * tf.math.l2_normalize(x, axis=0)), (2, 3)),
    "einsum": (lambda x: keras.ops.square(keras.ops.einsum("bi,ij,bj->b", x, _W, x)), (2, 3)),
    "segment_sum": (lambda x: keras.ops.sin(tf.math.segment_sum(x * x, np.array([0, 0, 1]))),
                    (3, 2)),
    "pad-reflect": (lambda x: keras.ops.sin(keras.ops.pad(x * x, ((1, 1), (2, 0)),
                                                          mode="reflect")), (3, 3)),
    "resize": (lambda x: keras.ops.sin(keras.ops.image.resize(x * x, (5, 5))), (1, 3, 3, 1)),
    "inv": (lambda x: keras.ops.inv(x + _SPD), (3, 3)),
    "det": (lambda x: keras.ops.det(x + _SPD), (3, 3)),
    "slogdet": (lambda x: keras.ops.slogdet(x + _SPD)[1], (3, 3)),
    "solve": (lambda x: keras.ops.solve(x + _SPD, keras.ops.sin(x)), (3, 3)),
    "max_pool": (lambda x: keras.ops.sin(keras.ops.max_pool(x * x, 2, 1, "valid")),
                 (1, 4, 4, 1)),
    "conv_transpose": (lambda x: keras.ops.sin(keras.ops.conv_transpose(
        x * x, _W[:2, :2].reshape(2, 2, 1, 1), 2)), (1, 3, 3, 1)),
}


@pytest.mark.parametrize("name", sorted(_OPS))
def test_hessian_vector_products_of_operations_match_finite_differences(name):
    f, shape = _OPS[name]
    rng = np.random.default_rng(41)
    x0 = (rng.normal(size=shape) * 0.5).astype(np.float32)
    v = rng.normal(size=shape).astype(np.float32)
    got = _directional_second_derivative(f, x0, v)
    want = _hvp_by_differences(f, x0, v)
    assert np.abs(got - want).max() <= 2e-3 * max(np.abs(want).max(), 1e-2)
    assert np.abs(want).max() > 1e-3


def test_a_third_derivative_through_pooling_and_a_convolution():
    # the recorded gradients' own gradients are recorded too
    kernel = (np.random.default_rng(42).normal(size=(2, 2, 1, 2)) * 0.5).astype(np.float32)

    def f(x):
        return keras.ops.sin(keras.ops.conv(keras.ops.average_pool(x * x, 2, 1, "same"),
                                            kernel, 1, "same"))
    rng = np.random.default_rng(43)
    x0 = rng.normal(size=(1, 3, 3, 1)).astype(np.float32)
    u, v = (rng.normal(size=x0.shape).astype(np.float32) for _ in range(2))
    x = tf.Variable(x0)
    with tf.GradientTape() as third:
        with tf.GradientTape() as second:
            with tf.GradientTape() as first:
                y = tf.reduce_sum(f(x))
            g = first.gradient(y, x)
            along_v = tf.reduce_sum(g * v)
        h = second.gradient(along_v, x)
        along_u = tf.reduce_sum(h * u)
    got = np.asarray(third.gradient(along_u, x), np.float64)
    eps = 1e-2
    want = np.zeros_like(got)
    for i in np.ndindex(x0.shape):
        up, down = x0.astype(np.float64), x0.astype(np.float64)
        up[i] += eps
        down[i] -= eps
        want[i] = (np.sum(_directional_second_derivative(f, up, v) * u) -
                   np.sum(_directional_second_derivative(f, down, v) * u)) / (2 * eps)
    assert np.abs(got - want).max() <= 2e-3 * np.abs(want).max()


def test_gradient_penalty_through_layer_normalization_over_a_middle_axis():
    keras.utils.set_random_seed(50)
    model = _model((3, 4), layers.Dense(4, activation="tanh"),
                   layers.LayerNormalization(axis=1), layers.Flatten(), layers.Dense(1))
    _check_penalty(model, _data(51, (2, 3, 4)))


def test_max_pooling_recorded_gradient_routes_ties_as_the_kernel():
    # zeros from a ReLU tie inside windows: the recorded gradient sends each
    # output's gradient to the same input as the first-order kernel
    rng = np.random.default_rng(54)
    x = tf.constant(np.maximum(rng.normal(size=(2, 5, 5, 3)), 0).astype(np.float32))
    w = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)

    def pooled_sum(v):
        return tf.reduce_sum(keras.ops.max_pool(keras.ops.square(v) + v, 3, 2, "same") * w)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = pooled_sum(x)
    want = tape.gradient(y, x)
    with tf.GradientTape():  # (nested: the inner gradient is recorded)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = pooled_sum(x)
        got = inner.gradient(y, x)
        assert type(got).__name__ == "Traced"
        got = got.value
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------- MAML

@pytest.mark.parametrize("persistent", [False, True])
def test_maml_meta_gradient_of_a_small_convnet_through_stateless_call(persistent):
    # weights adapted by one inner step, the query loss computed with them
    # by stateless_call: the meta-gradient goes through the adaptation
    keras.utils.set_random_seed(55)
    rng = np.random.default_rng(56)
    model = _model((6, 6, 1), layers.Conv2D(2, 3, activation="tanh"),
                   layers.AveragePooling2D(), layers.Flatten(), layers.Dense(3))
    support, query = (rng.normal(size=(4, 6, 6, 1)).astype(np.float32) for _ in range(2))
    y_support, y_query = rng.integers(0, 3, 4), rng.integers(0, 3, 4)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def meta_loss_first_order():
        with tf.GradientTape() as tape:
            loss = loss_fn(y_support, model(support, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        fast = [w.numpy() - 0.5 * np.asarray(g) for w, g in zip(model.trainable_weights, grads)]
        out, _ = model.stateless_call(fast, [], query, training=True)
        return float(np.asarray(loss_fn(y_query, out), np.float64))
    with tf.GradientTape(persistent=persistent) as outer:
        with tf.GradientTape() as inner:
            loss = loss_fn(y_support, model(support, training=True))
        grads = inner.gradient(loss, model.trainable_weights)
        fast = [w - 0.5 * g for w, g in zip(model.trainable_weights, grads)]
        out, _ = model.stateless_call(fast, [], query, training=True)
        meta = loss_fn(y_query, out)
    got = outer.gradient(meta, model.trainable_weights)
    assert float(meta) == pytest.approx(meta_loss_first_order(), rel=1e-5)
    _assert_close(got, _finite_differences(meta_loss_first_order, model.trainable_weights))
    # (without the second-order part, the first-order approximation differs)
    fomaml = _finite_differences(lambda: float(np.asarray(loss_fn(y_query, model(
        query, training=True)), np.float64)), model.trainable_weights)
    assert max(np.abs(np.asarray(g) - f).max() for g, (f, _) in zip(got, fomaml)) > 1e-2


def test_stateless_call_with_recorded_values_differentiates_through_them():
    keras.utils.set_random_seed(57)
    model = _model((3,), layers.Dense(2, activation="tanh"), layers.Dense(1))
    x = _data(58, (4, 3))
    scale = tf.Variable(np.float32(1.5))
    with tf.GradientTape() as tape:
        scaled = [w * scale for w in model.trainable_weights]
        out, _ = model.stateless_call(scaled, [], x)
        total = tf.reduce_sum(out)
    got = float(tape.gradient(total, scale))
    kept = [w.numpy().copy() for w in model.trainable_weights]

    def total_at(s):
        out, _ = model.stateless_call([k * s for k in kept], [], x)
        return float(np.sum(np.asarray(out, np.float64)))
    assert got == pytest.approx((total_at(1.5 + 1e-3) - total_at(1.5 - 1e-3)) / 2e-3, rel=2e-3)
    for w, k in zip(model.trainable_weights, kept):
        np.testing.assert_array_equal(w.numpy(), k)
