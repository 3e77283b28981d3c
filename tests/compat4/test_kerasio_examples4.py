"""keras.io's example programs and recipes, fourth sweep (recipes, vision,
guides), run with only their imports changed: the patterns that broke,
reproduced in a few lines, against Keras 3 where it runs the same thing,
else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ------- approximating_non_function_mappings.py: tf.reshape(..., name=...)

def test_tensorflow_ops_take_their_name_argument():
    tf = pynn
    x = rand(4, 6)
    y = tf.reshape(x, [-1, 3], name="reshape_ypreds")
    assert y.shape == (8, 3)
    np.testing.assert_array_equal(np.asarray(y), x.reshape(8, 3))
    np.testing.assert_array_equal(np.asarray(tf.concat([x, x], axis=0, name="c")),
                                  np.concatenate([x, x], 0))
    assert tf.stack([x, x], axis=1, name="s").shape == (4, 2, 6)
    assert np.asarray(tf.cast(x > 0, "float32", name="c")).dtype == np.float32
    np.testing.assert_allclose(np.asarray(tf.matmul(x, x, transpose_b=True, name="m")),
                               x @ x.T, rtol=1e-5)
    assert tf.random.normal((2, 3), name="n").shape == (2, 3)
    assert tf.random.uniform((2, 3), 0, 1, name="u").shape == (2, 3)

    # and they differentiate as before inside a loss (the mixture density loss)
    w = tf.Variable(rand(6, 6, seed=1))
    with tf.GradientTape() as tape:
        out = tf.reshape(tf.matmul(x, w, name="m"), [-1, 3], name="r")
        loss = tf.reduce_sum(tf.square(out))
    g = tape.gradient(loss, w)
    np.testing.assert_allclose(np.asarray(g), 2 * x.T @ (x @ np.asarray(w)), rtol=1e-4)


# ---------------- debugging_tips.py: print(x.shape) inside a layer's call

def test_a_tensor_shape_prints_as_tensorflow_prints_it():
    tf = pynn
    x = tf.random.normal(shape=(2, 5))
    assert str(x.shape) == "(2, 5)" and f"{x.shape}" == "(2, 5)"
    assert repr(x.shape) == "TensorShape([2, 5])"
    assert str(tf.TensorShape([None, 3])) == "(None, 3)"
    assert str(tf.TensorShape([4])) == "(4,)" and str(tf.TensorShape([])) == "()"


# ------------------ cait.py: self.attn_drop(attn, training), by position

def test_training_given_by_position_reaches_the_call():
    x = np.ones((64, 8), np.float32)
    drop = pynn.layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(np.asarray(drop(x, False)), x)
    dropped = np.asarray(drop(x, True))
    assert set(np.unique(dropped)) == {0.0, 2.0}

    seen = []

    class Block(pynn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = pynn.layers.Dropout(0.5)

        def call(self, x, training):
            seen.append(training)
            return self.drop(x, training)

    block = Block()
    np.testing.assert_array_equal(np.asarray(block(x, False)), x)
    assert (np.asarray(block(x, True)) == 0).any()
    assert seen[:2] == [False, True]

    # inside a model, fit gives it training=True and predict False
    inp = pynn.Input((8,))
    model = pynn.Model(inp, pynn.layers.Dense(1)(Block()(inp)))
    model.compile("sgd", "mse")
    seen.clear()
    model.fit(x, np.ones((64, 1), np.float32), epochs=1, verbose=0)
    assert seen and all(t is True for t in seen)
    seen.clear()
    model.predict(x, verbose=0)
    assert seen and not any(seen)
