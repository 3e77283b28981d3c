"""Gradients of gradients through nested GradientTapes: the guide's second
derivatives, the gradient of a gradient penalty with respect to the
weights of Dense and Conv2D models against finite differences, the
WGAN-GP discriminator step against finite differences and against Keras 3
on JAX, and the clear error where a second derivative has no rule."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn as keras
import pynn as tf
from pynn import layers


def _penalty_first_order(model, x):
    """mean((|dD/dx| - 1)^2) with a single tape (float64 after the
    gradient): what the finite differences difference."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        pred = model(x, training=True)
    g = np.asarray(tape.gradient(pred, x), np.float64)
    norm = np.sqrt((g ** 2).reshape(len(g), -1).sum(axis=1))
    return ((norm - 1) ** 2).mean()


def _penalty_gradient(model, x):
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            pred = model(x, training=True)
        g = inner.gradient(pred, x)
        axes = list(range(1, len(x.shape)))
        gp = tf.reduce_mean(tf.square(tf.sqrt(tf.reduce_sum(tf.square(g), axis=axes)) - 1.0))
    return float(gp), outer.gradient(gp, model.trainable_weights)


def _finite_differences(f, weights, eps=1e-3):
    """d f / d w for each weight by central differences in float64, each
    with a mask of where it is reliable: a step that crosses a kink of
    LeakyReLU (where a gradient penalty jumps) gives differences that
    disagree with those of a step half as long."""
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
        out.append((grads[1], np.abs(grads[0] - grads[1]) <= 1e-3 * scale))
    return out


def _assert_close(got, want, tol=2e-3):
    checked = total = 0
    for g, (w, reliable) in zip(got, want):
        g = np.zeros_like(w) if g is None else np.asarray(g, np.float64)
        assert g.shape == w.shape
        # (the floor: the penalty is computed in float32, so a difference
        # over a step of 5e-4 carries about 1e-4 of the penalty's size,
        # 2.5e-5 here, whatever the weight's own gradient)
        scale = max(np.abs(w).max(), 5e-2)
        assert np.abs(g - w)[reliable].max(initial=0) <= tol * scale, (g, w)
        checked += reliable.sum()
        total += reliable.size
    assert checked >= 0.8 * total


# ------------------------------------------------------ the guide's examples

def test_second_derivative_of_the_guides_function():
    rng = np.random.default_rng(1)
    a0 = rng.normal(size=(2, 2)).astype(np.float32)
    b0 = rng.normal(size=(2, 2)).astype(np.float32)
    a, b = tf.Variable(a0), tf.constant(b0)
    with tf.GradientTape() as outer_tape:
        with tf.GradientTape() as tape:
            c = tf.sqrt(tf.square(a) + tf.square(b))
            dc_da = tape.gradient(c, a)
        d2c_da2 = outer_tape.gradient(dc_da, a)
    r = np.sqrt(a0.astype(np.float64) ** 2 + b0 ** 2)
    np.testing.assert_allclose(np.asarray(dc_da), a0 / r, rtol=1e-5)
    np.testing.assert_allclose(d2c_da2, b0 ** 2 / r ** 3, rtol=1e-4)


def test_second_derivative_of_a_cube_variable_and_watched_constant():
    x = tf.Variable(1.5)
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            y = x * x * x
        dy_dx = t1.gradient(y, x)
    d2y_dx2 = t2.gradient(dy_dx, x)
    assert float(dy_dx) == pytest.approx(3 * 1.5 ** 2, rel=1e-6)
    assert float(d2y_dx2) == pytest.approx(6 * 1.5, rel=1e-6)

    v = tf.constant(np.array([0.5, -2.0, 3.0], np.float32))
    with tf.GradientTape() as t2:
        t2.watch(v)
        with tf.GradientTape() as t1:
            t1.watch(v)
            y = tf.reduce_sum(v ** 3 + keras.ops.exp(v) * keras.ops.sin(v))
        dy = t1.gradient(y, v)
    d2 = t2.gradient(dy, v)
    w = np.array([0.5, -2.0, 3.0])
    # d2/dv2 (v^3 + e^v sin v) = 6v + 2 e^v cos v
    np.testing.assert_allclose(d2, 6 * w + 2 * np.exp(w) * np.cos(w), rtol=1e-5)


def test_a_hessian_vector_product_of_a_dense_model_is_symmetric():
    rng = np.random.default_rng(2)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="tanh"),
                              layers.Dense(1, activation="sigmoid")])
    x0 = rng.normal(size=(1, 3)).astype(np.float32)
    hessian = []
    for i in range(3):
        x = tf.constant(x0)
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = model(x)
            g = inner.gradient(y, x)
            gi = tf.reduce_sum(g[:, i])
        hessian.append(np.asarray(outer.gradient(gi, x))[0])
    hessian = np.array(hessian)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-6)
    # and a row against differences of the first derivative
    eps = 1e-3

    def first(xv):
        x = tf.constant(xv)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)
        return np.asarray(tape.gradient(y, x), np.float64)[0]
    step = np.zeros_like(x0)
    step[0, 1] = eps
    np.testing.assert_allclose(hessian[1], (first(x0 + step) - first(x0 - step)) / (2 * eps),
                               atol=2e-3)


# ------------------------------------------- gradient penalties of models

def test_gradient_penalty_of_a_dense_model_matches_finite_differences():
    rng = np.random.default_rng(3)
    model = keras.Sequential([keras.Input((5,)), layers.Dense(7), layers.LeakyReLU(0.2),
                              layers.Dense(4, activation="tanh"),
                              layers.LayerNormalization(),
                              layers.Dense(3, activation="softplus"), layers.Dense(1)])
    x = tf.constant(rng.normal(size=(3, 5)).astype(np.float32))
    value, grads = _penalty_gradient(model, x)
    assert value == pytest.approx(_penalty_first_order(model, x), rel=1e-5)
    # the last bias does not move dD/dx: no gradient, as TensorFlow says
    assert grads[-1] is None
    want = _finite_differences(lambda: _penalty_first_order(model, x),
                               model.trainable_weights)
    _assert_close(grads, want)


def test_gradient_penalty_of_a_conv_model_matches_finite_differences():
    rng = np.random.default_rng(4)
    model = keras.Sequential([
        keras.Input((6, 6, 2)), layers.ZeroPadding2D(1),
        layers.Conv2D(3, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(2, 3, padding="valid", activation="tanh"),
        layers.Flatten(), layers.Dense(1)])
    x = tf.constant(rng.normal(size=(2, 6, 6, 2)).astype(np.float32))
    value, grads = _penalty_gradient(model, x)
    assert value == pytest.approx(_penalty_first_order(model, x), rel=1e-5)
    want = _finite_differences(lambda: _penalty_first_order(model, x),
                               model.trainable_weights)
    _assert_close(grads, want)


# ------------------------------------------------------------- WGAN-GP

def _critic(dropout_seed=None):
    return keras.Sequential([
        keras.Input((8, 8, 1)), layers.ZeroPadding2D((1, 1)),
        layers.Conv2D(4, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(6, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
        *([layers.Dropout(0.3, seed=dropout_seed)] if dropout_seed is not None else []),
        layers.Flatten(), layers.Dense(1)])


def _generator():
    return keras.Sequential([
        keras.Input((4,)), layers.Dense(4 * 4 * 2), layers.BatchNormalization(),
        layers.LeakyReLU(0.2), layers.Reshape((4, 4, 2)), layers.UpSampling2D(),
        layers.Conv2D(1, 3, padding="same", activation="tanh")])


def _critic_loss(critic, generator, real, noise, alpha, gp_weight=10.0):
    """The WGAN-GP critic step's loss: the critic's cost plus the gradient
    penalty on images between real and generated ones (its gradient taken
    with a tape nested in the one that differentiates the loss)."""
    with tf.GradientTape() as tape:
        fake = generator(noise, training=True)
        fake_logits = critic(fake, training=True)
        real_logits = critic(real, training=True)
        d_cost = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
        interpolated = real + alpha * (fake - real)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        gp = tf.reduce_mean((norm - 1.0) ** 2)
        d_loss = d_cost + gp * gp_weight
    return float(d_loss), tape.gradient(d_loss, critic.trainable_variables), fake


def _critic_loss_first_order(critic, fake, real, alpha, gp_weight=10.0):
    d_cost = np.mean(np.asarray(critic(fake, training=True), np.float64)) - \
        np.mean(np.asarray(critic(real, training=True), np.float64))
    interpolated = tf.constant(real + alpha * (fake - real))
    return d_cost + gp_weight * _penalty_first_order(critic, interpolated)


def _wgan_data(seed):
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, size=(2, 8, 8, 1)).astype(np.float32)
    noise = rng.normal(size=(2, 4)).astype(np.float32)
    alpha = rng.uniform(size=(2, 1, 1, 1)).astype(np.float32)
    return real, noise, alpha


@pytest.mark.parametrize("dropout", [False, True])
def test_wgan_gp_critic_step_matches_finite_differences(dropout):
    keras.utils.set_random_seed(5)
    critic, generator = _critic(7 if dropout else None), _generator()
    real, noise, alpha = _wgan_data(6)
    dropouts = [la for la in critic.layers if isinstance(la, layers.Dropout)]

    def same_masks():
        # each evaluation draws the same dropout masks, call by call
        for la in dropouts:
            la._draws = 0
    same_masks()
    value, grads, fake = _critic_loss(critic, generator, real, noise, alpha)
    fake = np.asarray(fake)

    def loss():
        same_masks()
        return _critic_loss_first_order(critic, fake, real, alpha)
    assert value == pytest.approx(loss(), rel=1e-4)
    want = _finite_differences(loss, critic.trainable_variables)
    _assert_close(grads, want, tol=3e-3)
    # the penalty's second-order part is there: without it the gradient differs
    cost_only = _finite_differences(
        lambda: (same_masks(), _critic_loss_first_order(critic, fake, real, alpha, 0.0))[1],
        critic.trainable_variables)
    assert max(np.abs(np.asarray(g) - c).max() for g, (c, _) in zip(grads, cost_only)) > 1e-2


_KERAS_JAX_CRITIC = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
import numpy as np
import jax, jax.numpy as jnp, keras
data = np.load(sys.argv[1])
layers = keras.layers
critic = keras.Sequential([
    keras.Input((8, 8, 1)), layers.ZeroPadding2D((1, 1)),
    layers.Conv2D(4, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
    layers.Conv2D(6, 3, strides=2, padding="same"), layers.LeakyReLU(0.2),
    layers.Flatten(), layers.Dense(1)])
n = len(critic.trainable_variables)
critic.set_weights([data[f"w{i}"] for i in range(n)])
params = [v.value for v in critic.trainable_variables]

def D(params, x):
    return critic.stateless_call(params, [], x, training=True)[0]

def loss(params, real, fake, alpha):
    d_cost = jnp.mean(D(params, fake)) - jnp.mean(D(params, real))
    inter = real + alpha * (fake - real)
    g = jax.grad(lambda x: jnp.sum(D(params, x)))(inter)
    norm = jnp.sqrt(jnp.sum(g ** 2, axis=(1, 2, 3)))
    return d_cost + 10.0 * jnp.mean((norm - 1.0) ** 2)

value, grads = jax.value_and_grad(loss)(params, data["real"], data["fake"], data["alpha"])
np.savez(sys.argv[2], value=np.asarray(value), *[np.asarray(g) for g in grads])
"""


def test_wgan_gp_critic_step_matches_keras_on_jax(tmp_path):
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None:
        pytest.skip("Keras 3 and JAX are not installed")
    keras.utils.set_random_seed(8)
    critic, generator = _critic(), _generator()
    real, noise, alpha = _wgan_data(9)
    value, grads, fake = _critic_loss(critic, generator, real, noise, alpha)
    weights = {f"w{i}": w.value for i, w in enumerate(critic.trainable_variables)}
    np.savez(tmp_path / "in.npz", real=real, fake=np.asarray(fake), alpha=alpha, **weights)
    script = tmp_path / "critic.py"
    script.write_text(_KERAS_JAX_CRITIC)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"Keras on JAX did not run here: {done.stderr[-500:]}")
    theirs = np.load(tmp_path / "out.npz")
    assert value == pytest.approx(float(theirs["value"]), rel=1e-4)
    for i, g in enumerate(grads):
        want = theirs[f"arr_{i}"]
        np.testing.assert_allclose(g, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())


# --------------------------------------------------------------- refusals

def _inner_gradient_penalty(model, x):
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            pred = model(x, training=True)
        g = inner.gradient(pred, x)
        gp = tf.reduce_mean(tf.square(g))
    return outer.gradient(gp, model.trainable_weights)


def test_a_layer_without_a_second_derivative_raises_naming_it():
    x = tf.constant(np.random.default_rng(10).normal(size=(2, 3, 4, 4, 1)).astype(np.float32))
    model = keras.Sequential([keras.Input((3, 4, 4, 1)), layers.ConvLSTM2D(2, 2, name="clstm"),
                              layers.Flatten(), layers.Dense(1)])
    with pytest.raises(NotImplementedError,
                       match=r"second derivative of layer 'clstm' \(ConvLSTM2D\) is not "
                             r"supported"):
        _inner_gradient_penalty(model, x)


def test_a_model_recorded_as_one_call_raises_naming_it():
    # (masks are not carried layer by layer)
    x = tf.constant(np.random.default_rng(11).normal(size=(4, 3, 2)).astype(np.float32))
    model = keras.Sequential([keras.Input((3, 2)), layers.Masking(), layers.LSTM(2),
                              layers.Dense(1)], name="masked")
    with pytest.raises(NotImplementedError, match="model 'masked'"):
        _inner_gradient_penalty(model, x)


def test_an_operation_without_a_second_derivative_raises_naming_it():
    v = tf.Variable(np.array([0.3, 0.7, 1.2], np.float32))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = keras.ops.prod(v)
        g = inner.gradient(y, v)
        target = tf.reduce_sum(tf.square(g))
    with pytest.raises(NotImplementedError, match="second derivative of pynn.ops.prod"):
        outer.gradient(target, v)


def test_a_first_order_step_on_nested_tapes_is_unchanged():
    keras.utils.set_random_seed(12)
    critic, generator = _critic(), _generator()
    real, noise, alpha = _wgan_data(13)
    _, grads, fake = _critic_loss(critic, generator, real, noise, alpha, gp_weight=0.0)
    with tf.GradientTape() as tape:
        d_cost = tf.reduce_mean(critic(np.asarray(fake), training=True)) - \
            tf.reduce_mean(critic(real, training=True))
    for g, w in zip(grads, tape.gradient(d_cost, critic.trainable_variables)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


def test_gradient_penalty_through_a_graph_with_merges_and_a_subclassed_model():
    rng = np.random.default_rng(14)
    inp = keras.Input((4,))
    a = layers.Dense(3, activation="tanh")(inp)
    b = layers.Dense(3, activation="sigmoid")(inp)
    merged = layers.Concatenate()([layers.Add()([a, b]), layers.Multiply()([a, b]),
                                   layers.Subtract()([a, b]), layers.Average()([a, b])])
    graph = keras.Model(inp, layers.Dense(1)(merged))

    class Critic(keras.Model):
        def __init__(self):
            super().__init__()
            self.graph = graph
            self.scale = layers.Dense(1, activation="softplus")

        def call(self, x):
            return self.graph(x) * self.scale(x)
    model = Critic()
    x = tf.constant(rng.normal(size=(3, 4)).astype(np.float32))
    model(x)
    _, grads = _penalty_gradient(model, x)
    want = _finite_differences(lambda: _penalty_first_order(model, x),
                               model.trainable_weights)
    _assert_close(grads, want)


def test_fit_of_a_train_step_minimising_a_gradient_penalty_reduces_it():
    # a custom train_step (keras.io's WGAN-GP shape) whose loss is the
    # penalty alone: with its second-order gradient, Adam drives it down
    keras.utils.set_random_seed(15)

    class PenaltyOnly(keras.Model):
        def __init__(self, critic):
            super().__init__()
            self.critic = critic

        def train_step(self, images):
            with tf.GradientTape() as tape:
                with tf.GradientTape() as gp_tape:
                    gp_tape.watch(images)
                    pred = self.critic(images, training=True)
                grads = gp_tape.gradient(pred, [images])[0]
                norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
                gp = tf.reduce_mean((norm - 1.0) ** 2)
            weights = self.critic.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(gp, weights), weights))
            return {"gp": gp}

    model = PenaltyOnly(_critic())
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    images = np.random.default_rng(16).uniform(-1, 1, (8, 8, 8, 1)).astype(np.float32)
    history = model.fit(images, batch_size=8, epochs=30, verbose=0).history["gp"]
    assert history[-1] < 0.2 * history[0]


@pytest.mark.parametrize("loss_fn", [
    keras.losses.MeanSquaredError(), keras.losses.MeanAbsoluteError(),
    keras.losses.CategoricalCrossentropy(from_logits=True),
    keras.losses.BinaryCrossentropy(from_logits=True)], ids=lambda f: type(f).__name__)
def test_gradient_of_the_weight_gradients_norm_matches_finite_differences(loss_fn):
    # a penalty on the gradient with respect to the weights themselves
    rng = np.random.default_rng(17)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh"),
                              layers.Dense(2)])
    x = tf.constant(rng.normal(size=(6, 4)).astype(np.float32))
    y = rng.uniform(size=(6, 2)).astype(np.float32)
    y /= y.sum(axis=1, keepdims=True)

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
    assert float(penalty) == pytest.approx(first_order(), rel=1e-5)
    _assert_close(got, _finite_differences(first_order, model.trainable_weights))


def test_what_was_recorded_before_the_tapes_nested_raises():
    # the function computed under the outer tape alone: its operations
    # have no recorded gradient, so the inner gradient refuses to be
    # differentiated rather than passing as a constant
    v = tf.Variable(np.array([0.3, 0.7], np.float32))
    with tf.GradientTape() as outer:
        y = tf.reduce_sum(v * v * v)
        with tf.GradientTape() as inner:
            inner.watch(v)
            z = y * 1.0
        g = inner.gradient(z, v)
        target = tf.reduce_sum(g)
    with pytest.raises(NotImplementedError, match="while the tapes were not nested"):
        outer.gradient(target, v)
