"""Patterns from tensorflow.org's guides and tutorials run with ``import
pynn as tf``: tf.experimental.numpy arrays watched by a GradientTape and
used with operators, tf.vectorized_map of per-example gradients, ..."""
import numpy as np
import pytest

import pynn as tf
import pynn.experimental.numpy as tnp


def test_watched_plain_arrays_are_leaves_in_operators_too():
    # a watched NumPy array (a tnp result) met first by an operator of a
    # traced value, not by a pynn function, still gets its gradient
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch((w, b))
        h = tnp.matmul(x, w) + b
        loss = tnp.sum(tnp.square(tnp.maximum(h, 0)) * 0.5 - b)
    gw, gb = tape.gradient(loss, (w, b))
    hv = x.astype(np.float64) @ w + b
    g = np.maximum(hv, 0)
    np.testing.assert_allclose(np.asarray(gw), x.T.astype(np.float64) @ g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gb), g.sum(0) - 5, rtol=1e-5, atol=1e-5)


def test_vectorized_map_of_per_example_gradients():
    rng = np.random.default_rng(1)
    w = tf.Variable(rng.standard_normal((3, 2)).astype(np.float32))
    xs = rng.standard_normal((6, 3)).astype(np.float32)
    ys = rng.standard_normal((6, 2)).astype(np.float32)

    def one(pair):
        x, y = pair
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(tf.matmul(x[None], w) - y[None]))
        return tape.gradient(loss, w), loss

    grads, losses = tf.function(lambda a, b: tf.vectorized_map(one, (a, b)))(xs, ys)
    assert grads.shape == (6, 3, 2) and losses.shape == (6,)
    wv = np.asarray(w, np.float64)
    r = xs @ wv - ys
    np.testing.assert_allclose(np.asarray(grads), 2 * xs[:, :, None] * r[:, None, :],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(losses), (r ** 2).sum(1), rtol=1e-5)


def test_get_next_as_optional_ends_a_loop_without_stop_iteration():
    it = iter(tf.data.Dataset.range(7).batch(3))
    seen = []
    while True:
        opt = it.get_next_as_optional()
        if not opt.has_value():
            break
        seen.append(opt.get_value().numpy().tolist())
        assert opt.element_spec.dtype == tf.int64
    assert seen == [[0, 1, 2], [3, 4, 5], [6]]
    assert opt.has_value().dtype == bool and not bool(opt.has_value())
    with pytest.raises(tf.errors.InvalidArgumentError):
        opt.get_value()


def test_optional_from_value_converts_as_constant():
    opt = tf.experimental.Optional.from_value((2.5, [1, 2]))
    a, b = opt.get_value()
    assert a.dtype == np.float32 and b.dtype == np.int32
    assert [s.dtype for s in opt.element_spec] == [tf.float32, tf.int32]
    assert opt.element_spec[1].shape == (2,)
    empty = tf.experimental.Optional.empty(opt.element_spec)
    assert not empty.has_value() and empty.element_spec == opt.element_spec
