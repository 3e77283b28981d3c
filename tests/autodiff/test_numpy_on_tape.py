"""NumPy functions given a GradientTape's values act as on TensorFlow's eager
tensors: they compute plain constant arrays (no error, no gradient through
them), while pynn's own functions and the operators keep recording."""
import numpy as np
import pytest

import pynn as keras
import pynn as tf
from pynn import layers, ops


def test_numpy_functions_of_traced_values_give_plain_constants():
    v = tf.Variable(np.array([[0.5, -1.0, 2.0]], np.float32))
    with tf.GradientTape(persistent=True) as tape:
        y = ops.softmax(v * 2.0)
        squeezed = np.squeeze(y)
        total = np.sum(y)
        best = np.argmax(y)
        as_array = np.asarray(y)
        first = float(y[0, 0])
        logs = np.log(y)  # a ufunc called by the program: a constant too
        of_variable = np.sum(v)
    want = ops.convert_to_numpy(ops.softmax(v.numpy() * 2.0))
    for got in (squeezed, as_array, logs):
        assert type(got) is np.ndarray and got.dtype == np.float32
    np.testing.assert_allclose(squeezed, want[0], rtol=1e-6)
    np.testing.assert_allclose(logs, np.log(want), rtol=1e-5)
    assert isinstance(total, np.floating) and total.dtype == np.float32
    assert int(best) == 2 and isinstance(best, np.integer)
    assert first == pytest.approx(float(want[0, 0]))
    assert float(of_variable) == pytest.approx(1.5)
    # no gradient reaches the variable through NumPy's functions
    for target in (total, as_array, logs, of_variable, total * 2.0 + np.max(y)):
        assert tape.gradient(target, v) is None


def test_a_watched_tensor_through_numpy_is_a_constant():
    x = tf.constant(np.array([1.0, 2.0, 3.0], np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x + np.sum(x) + np.mean(x) * x
    # d/dx (x^2 + c + m x) with c, m constants = 2x + m
    np.testing.assert_allclose(tape.gradient(y, x), 2 * x.numpy() + 2.0, rtol=1e-6)


def test_pynn_functions_and_operators_keep_recording():
    v = tf.Variable(np.array([1.0, 2.0, 4.0], np.float32))
    scale = np.array([1.0, 10.0, 100.0], np.float32)
    with tf.GradientTape() as tape:
        y = v * v
        # an array on the left (np.multiply under the operator), a NumPy
        # scalar, pynn functions, indexing and @
        z = (scale * y + np.float32(3.0) * tf.math.log(v) + ops.sum(y) + y[1] +
             ops.reshape(y, (1, 3)) @ np.ones((3, 1), np.float32))
    w = v.numpy()
    want = 2 * w * scale + 3.0 / w + 3 * (2 * w) + 3 * np.array([0.0, 4.0, 0.0]) + 3 * (2 * w)
    np.testing.assert_allclose(tape.gradient(z, v), want, rtol=1e-5)


def test_actor_critic_step_samples_with_numpy_and_learns():
    # one-step episodes with a fixed state: action 0 pays 1, the others 0
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    num_actions = 3
    inputs = layers.Input(shape=(4,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    action = layers.Dense(num_actions, activation="softmax")(hidden)
    critic = layers.Dense(1)(hidden)
    model = keras.Model(inputs=inputs, outputs=[action, critic])
    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    huber = keras.losses.Huber()
    state = tf.expand_dims(tf.convert_to_tensor(np.ones(4, np.float32)), 0)

    def expected_loss():
        probs, value = model(state)
        probs, value = ops.convert_to_numpy(probs), ops.convert_to_numpy(value)
        return (1.0 - probs[0, 0]) + (1.0 * probs[0, 0] - value[0, 0]) ** 2

    before = expected_loss()
    for _ in range(40):
        with tf.GradientTape() as tape:
            action_probs, critic_value = model(state)
            p = np.squeeze(action_probs)
            assert p.dtype == np.float32  # np.random's tolerance on sum(p) is float32's
            chosen = rng.choice(num_actions, p=p)
            log_prob = tf.math.log(action_probs[0, chosen])
            ret = 1.0 if chosen == 0 else 0.0
            diff = ret - critic_value[0, 0]
            loss = -log_prob * diff + huber(tf.expand_dims(critic_value[0, 0], 0),
                                                    tf.expand_dims(ret, 0))
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(g is not None for g in grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    assert expected_loss() < 0.5 * before


def test_numpy_in_a_layer_call_records_under_a_tape_as_in_fit():
    # a custom layer's call() may compute with NumPy's functions (they are
    # recorded in fit); under a GradientTape they record the same way
    class Softplus(layers.Layer):
        def call(self, x):
            return np.log1p(np.exp(x)) + np.sum(x, axis=-1, keepdims=True)

    x = tf.constant(np.array([[0.5, -1.0, 2.0]], np.float32))
    layer = Softplus()
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    xv = x.numpy()
    want = 1.0 / (1.0 + np.exp(-xv)) + 3.0
    np.testing.assert_allclose(tape.gradient(y, x), want, rtol=1e-5)
