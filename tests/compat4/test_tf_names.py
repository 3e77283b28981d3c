"""TensorFlow's math names (tf.*, tf.math.*, tf.nn.*) as custom training
code ported with ``import pynn as tf`` calls them: each against a NumPy
float64 formula of TensorFlow's documented semantics (Keras 3 on its NumPy
backend where it is the same function), with TensorFlow's defaults and
dtypes; gradients through a GradientTape against finite differences."""
import math

import numpy as np
import pytest

import pynn as tf
from keras_reference import keras, needs_keras
from pynn.tensor import Tensor

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 4)).astype(np.float32)
POS = RNG.uniform(0.5, 2.0, size=(3, 4)).astype(np.float32)
x64 = X.astype(np.float64)
p64 = POS.astype(np.float64)


def close(got, want, tol=1e-5):
    assert isinstance(got, Tensor), type(got)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


ELEMENTWISE = [
    (lambda: tf.abs(X), np.abs(x64)),
    (lambda: tf.log(POS), np.log(p64)),
    (lambda: tf.math.log1p(POS), np.log1p(p64)),
    (lambda: tf.math.rsqrt(POS), 1 / np.sqrt(p64)),
    (lambda: tf.sqrt(POS), np.sqrt(p64)),
    (lambda: tf.pow(POS, 1.5), p64 ** 1.5),
    (lambda: tf.sin(X) + tf.cos(X), np.sin(x64) + np.cos(x64)),
    (lambda: tf.tanh(X), np.tanh(x64)),
    (lambda: tf.sigmoid(X), 1 / (1 + np.exp(-x64))),
    (lambda: tf.math.softplus(X), np.log1p(np.exp(x64))),
    (lambda: tf.math.erf(X), np.vectorize(math.erf)(x64)),
    (lambda: tf.minimum(X, 0.1), np.minimum(x64, np.float32(0.1))),
    (lambda: tf.maximum(X, POS), np.maximum(x64, p64)),
    (lambda: tf.math.squared_difference(X, POS), (x64 - p64) ** 2),
    (lambda: tf.math.divide_no_nan(X, np.where(X > 0, POS, 0)),
     np.where(X > 0, x64 / p64, 0)),
    (lambda: tf.sign(X), np.sign(x64)),
    (lambda: tf.floor(X * 3) + tf.ceil(X * 3), np.floor(x64 * 3) + np.ceil(x64 * 3)),
    (lambda: tf.clip_by_value(X, -0.5, 0.5), np.clip(x64, -0.5, 0.5)),
    (lambda: tf.add_n([X, POS, X]), 2 * x64 + p64),
    (lambda: tf.reduce_prod(POS, axis=1), np.prod(p64, axis=1)),
    (lambda: tf.reduce_logsumexp(X, axis=0, keepdims=True),
     np.log(np.exp(x64).sum(0, keepdims=True))),
    (lambda: tf.math.reduce_std(X, 1), x64.std(1)),
    (lambda: tf.math.reduce_variance(X), x64.var()),
    (lambda: tf.math.reduce_euclidean_norm(X, 0), np.sqrt((x64 ** 2).sum(0))),
    (lambda: tf.norm(X), np.sqrt((x64 ** 2).sum())),
    (lambda: tf.norm(X, ord=1, axis=1), np.abs(x64).sum(1)),
    (lambda: tf.norm(X, ord=np.inf, axis=[0, 1]), np.abs(x64).sum(1).max()),
    (lambda: tf.norm(X, ord=3, axis=0, keepdims=True),
     (np.abs(x64) ** 3).sum(0, keepdims=True) ** (1 / 3)),
    (lambda: tf.math.l2_normalize(X, axis=1),
     x64 / np.sqrt((x64 ** 2).sum(1, keepdims=True))),
    (lambda: tf.nn.l2_normalize(np.zeros(3, np.float32)), np.zeros(3)),
]


@pytest.mark.parametrize("i", range(len(ELEMENTWISE)))
def test_math_functions_compute_tensorflows_formula(i):
    got, want = ELEMENTWISE[i]
    close(got(), want)


def test_tensorflow_defaults_and_dtypes():
    m = np.array([[1, 5, 2], [7, 0, 3]])
    # argmax/argmin: axis 0 by default, int64
    got = tf.argmax(m)
    assert got.dtype == np.int64 and got.tolist() == [1, 0, 1]
    assert tf.argmin(m, axis=1, output_type=tf.int32).dtype == np.int32
    assert tf.argmin(m, 1).tolist() == [0, 1]
    # the mean of integers is an integer
    got = tf.reduce_mean(tf.constant([1, 0, 1, 0]))
    assert got.dtype == np.int32 and int(got) == 0
    assert tf.reduce_mean(np.array([1.0, 0.0], np.float32)).dtype == np.float32
    # range: int32 for ints, float32 once a float is given
    assert tf.range(5).dtype == np.int32 and tf.range(5).tolist() == [0, 1, 2, 3, 4]
    got = tf.range(1.0, 2.0, 0.25)
    assert got.dtype == np.float32 and got.tolist() == [1.0, 1.25, 1.5, 1.75]
    assert tf.range(2, 9, 3, dtype=tf.float32).tolist() == [2.0, 5.0, 8.0]
    assert tf.fill([2, 3], 7).dtype == np.int32 and tf.fill([2], 0.5).tolist() == [0.5, 0.5]
    got = tf.eye(2, 3, batch_shape=[4])
    assert got.shape == (4, 2, 3) and got.dtype == np.float32 and got[3, 1, 1] == 1
    close(tf.linspace(0.0, 1.0, 5), np.linspace(0, 1, 5))
    assert tf.size(X).dtype == np.int32 and int(tf.size(X)) == 12 and int(tf.rank(X)) == 2
    assert tf.round(np.array([0.5, 1.5, 2.5, -0.5], np.float32)).tolist() == [0, 2, 2, -0]
    assert tf.reduce_any(np.array([0, 0, 1])) and not tf.reduce_all([[True, False]])
    assert tf.reduce_all([[True, False]], axis=0).tolist() == [True, False]
    assert tf.math.is_nan(np.array([np.nan, 1.0])).tolist() == [True, False]
    assert tf.math.is_finite(np.array([np.inf, 1.0])).tolist() == [False, True]
    assert tf.logical_and([True, False], [True, True]).tolist() == [True, False]
    assert tf.logical_or([True, False], [False, False]).tolist() == [True, False]
    assert tf.logical_not([True]).tolist() == [False]
    got = [tf.equal(m, 5), tf.not_equal(m, 5), tf.less(m, 2), tf.greater(m, 2)]
    want = [m == 5, m != 5, m < 2, m > 2]
    for g, w in zip(got, want):
        assert g.tolist() == w.tolist()


def test_one_hot_as_tensorflow():
    got = tf.one_hot([0, 2, -1, 3], 3)
    assert got.dtype == np.float32
    assert got.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    got = tf.one_hot([1, 0], 2, on_value=5, off_value=-1)
    assert got.dtype == np.int32 and got.tolist() == [[-1, 5], [5, -1]]
    got = tf.one_hot([[0, 1]], 3, axis=0)
    assert got.shape == (3, 1, 2) and got[:, 0, 1].tolist() == [0, 1, 0]


def test_tensor_functions_as_tensorflow():
    a = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    assert tf.tile(a, [1, 2, 1]).tolist() == np.tile(a, (1, 2, 1)).tolist()
    assert tf.expand_dims(X, 1).shape == (3, 1, 4)
    assert tf.squeeze(np.zeros((1, 3, 1))).shape == (3,)
    assert tf.squeeze(np.zeros((1, 3, 1)), axis=[2]).shape == (1, 3)
    got = tf.transpose(a, perm=[2, 0, 1])
    assert got.dtype == np.int64 and got.tolist() == a.transpose(2, 0, 1).tolist()
    assert tf.transpose(X).tolist() == X.T.tolist()
    assert tf.gather(a, [2, 0], axis=1).tolist() == a[:, [2, 0]].tolist()
    assert tf.gather(X, [[2], [0]]).shape == (2, 1, 4)
    # batch_dims: each row of indices picks from its own row of params
    ids = np.array([[3, 0, 1], [2, 2, 0]])
    got = tf.gather(a, ids, axis=2, batch_dims=1)
    want = np.stack([a[b][:, ids[b]] for b in range(2)])
    assert got.shape == want.shape and got.tolist() == want.tolist()
    ids = np.array([[2, 0], [1, 1]])
    got = tf.gather(a, ids, batch_dims=1)
    assert got.tolist() == np.stack([a[b][ids[b]] for b in range(2)]).tolist()
    # where with one argument: coordinates of the true entries, int64
    got = tf.where([[True, False], [False, True]])
    assert got.dtype == np.int64 and got.tolist() == [[0, 0], [1, 1]]
    close(tf.where(X > 0, X, 0.0), np.where(x64 > 0, x64, 0))
    pieces = tf.split(X, [1, -1], axis=1)
    assert [p.shape for p in pieces] == [(3, 1), (3, 3)]
    assert [p.shape for p in tf.split(X, 2, axis=1)] == [(3, 2), (3, 2)]
    rows = tf.unstack(X)
    assert len(rows) == 3 and rows[2].tolist() == X[2].tolist()
    close(tf.identity(X), x64)
    close(tf.stop_gradient(X), x64)
    v = np.array([3.0, 1.0, 2.0, 1.0], np.float32)
    assert tf.sort(v, direction="DESCENDING").tolist() == [3, 2, 1, 1]
    got = tf.argsort(v, direction="DESCENDING", stable=True)
    assert got.dtype == np.int32 and got.tolist() == [0, 2, 1, 3]
    assert tf.argsort(v).tolist() == [1, 3, 2, 0]
    c = np.array([1.0, 2.0, 3.0], np.float32)
    assert tf.cumsum(c).tolist() == [1, 3, 6]
    assert tf.cumsum(c, exclusive=True).tolist() == [0, 1, 3]
    assert tf.cumsum(c, reverse=True).tolist() == [6, 5, 3]
    assert tf.cumsum(c, exclusive=True, reverse=True).tolist() == [5, 3, 0]
    values, indices = tf.math.top_k(v, k=2)
    assert values.tolist() == [3, 2] and indices.dtype == np.int32
    assert tf.math.top_k(v).indices.tolist() == [0]
    got = tf.math.segment_sum(np.arange(8.0).reshape(4, 2), [0, 0, 2, 2])
    assert got.tolist() == [[2, 4], [0, 0], [10, 12]]


def test_clip_by_norm_as_tensorflow():
    t = np.array([[3.0, 4.0], [0.3, 0.4]], np.float32)
    close(tf.clip_by_norm(t, 2.0), t * 2.0 / np.linalg.norm(t))
    close(tf.clip_by_norm(t, 2.0, axes=[1]), [[1.2, 1.6], [0.3, 0.4]])
    close(tf.clip_by_norm(np.zeros(3, np.float32), 1.0), np.zeros(3))


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="split"):
        tf.split(X, [1, 1], axis=1)
    with pytest.raises(ValueError, match="add_n"):
        tf.add_n([X, X[:1]])
    with pytest.raises(ValueError, match="sort"):
        tf.sort(X, direction="UP")
    with pytest.raises(ValueError, match="conv2d"):
        tf.nn.conv2d(np.zeros((1, 4, 4, 1), np.float32), np.zeros((2, 2, 1, 1), np.float32),
                     [2, 2, 2], "SAME")
    with pytest.raises(ValueError, match="sparse_softmax"):
        tf.nn.sparse_softmax_cross_entropy_with_logits([0, 4], X[:2])


# ------------------------------------------------------------------ tf.nn

def _softmax64(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def test_nn_activations_as_tensorflow():
    close(tf.nn.relu(X), np.maximum(x64, 0))
    close(tf.nn.relu6(X * 10), np.clip(x64 * 10, 0, 6), 1e-4)
    close(tf.nn.elu(X), np.where(x64 > 0, x64, np.expm1(x64)))
    close(tf.nn.selu(X), 1.0507009873554805 * np.where(x64 > 0, x64,
                                                       1.6732632423543772 * np.expm1(x64)))
    # exact GELU by default, TensorFlow's leaky slope 0.2
    close(tf.nn.gelu(X), 0.5 * x64 * (1 + np.vectorize(math.erf)(x64 / math.sqrt(2))))
    close(tf.nn.gelu(X, approximate=True),
          0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3))))
    close(tf.nn.leaky_relu(X), np.where(x64 > 0, x64, 0.2 * x64))
    close(tf.nn.silu(X), x64 / (1 + np.exp(-x64)))
    close(tf.nn.swish(X, beta=2.0), x64 / (1 + np.exp(-2 * x64)))
    close(tf.nn.softmax(X), _softmax64(x64))
    close(tf.nn.softmax(X, axis=0), _softmax64(x64, 0))
    close(tf.nn.log_softmax(X), np.log(_softmax64(x64)))
    close(tf.nn.sigmoid(X) + tf.nn.tanh(X) + tf.nn.softplus(X),
          1 / (1 + np.exp(-x64)) + np.tanh(x64) + np.log1p(np.exp(x64)))


def test_nn_cross_entropies_moments_dropout():
    labels = _softmax64(RNG.normal(size=(3, 4)))
    close(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=X),
          -(labels * np.log(_softmax64(x64))).sum(-1))
    ids = np.array([3, 0, 1])
    close(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=X),
          -np.log(_softmax64(x64))[np.arange(3), ids])
    z = (RNG.uniform(size=(3, 4)) > 0.5).astype(np.float32)
    sig = 1 / (1 + np.exp(-x64 * 20))
    close(tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=X * 20),
          -(z * np.log(sig) + (1 - z) * np.log(1 - sig)), 1e-4)
    mean, var = tf.nn.moments(X, axes=[0])
    close(mean, x64.mean(0))
    close(var, x64.var(0))
    mean, var = tf.nn.moments(X, axes=[0, 1], keepdims=True)
    assert mean.shape == (1, 1)
    ones = np.ones((200, 50), np.float32)
    got = np.asarray(tf.nn.dropout(ones, rate=0.25, seed=1))
    assert set(np.unique(got).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (got == 0).mean() < 0.3
    close(tf.nn.bias_add(X, np.arange(4, dtype=np.float32)), x64 + np.arange(4))
    table = RNG.normal(size=(5, 3)).astype(np.float32) * 3
    close(tf.nn.embedding_lookup(table, [[4, 0]]), table[[[4, 0]]].astype(np.float64))
    got = tf.nn.embedding_lookup(table, [1, 2], max_norm=1.0)
    want = table[[1, 2]] / np.maximum(np.linalg.norm(table[[1, 2]], axis=1, keepdims=True), 1)
    close(got, want)


def _same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2


def _windows(x, k, s, padding, fill):
    """(n, oh, ow, k*k, c) windows of NHWC x, TensorFlow's SAME or VALID."""
    n, h, w, c = x.shape
    if padding == "SAME":
        (oh, top), (ow, left) = _same_pads(h, k[0], s[0]), _same_pads(w, k[1], s[1])
    else:
        oh, top, ow, left = (h - k[0]) // s[0] + 1, 0, (w - k[1]) // s[1] + 1, 0
    big = np.full((n, h + 2 * k[0], w + 2 * k[1], c), fill)
    big[:, top:top + h, left:left + w] = x
    out = np.empty((n, oh, ow, k[0] * k[1], c))
    for i in range(oh):
        for j in range(ow):
            patch = big[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            out[:, i, j] = patch.reshape(n, -1, c)
    return out


@pytest.mark.parametrize("strides,padding", [(1, "SAME"), ([2, 2], "SAME"),
                                             ([1, 2, 1, 1], "VALID"), (2, "VALID")])
def test_conv2d_and_pools_in_tensorflows_forms(strides, padding):
    x = RNG.normal(size=(2, 7, 6, 3))
    w = RNG.normal(size=(3, 2, 3, 4))
    s = [strides] * 2 if np.ndim(strides) == 0 else \
        (list(strides) if len(strides) == 2 else list(strides[1:3]))
    win = _windows(x, (3, 2), s, padding, 0.0)
    want = np.einsum("nhwkc,kco->nhwo", win.reshape(win.shape[:3] + (6, 3)),
                     w.reshape(6, 3, 4))
    got = tf.nn.conv2d(x.astype(np.float32), w.astype(np.float32), strides, padding)
    close(got, want, 1e-4)
    want = _windows(x, (3, 2), s, padding, -np.inf).max(3)
    close(tf.nn.max_pool2d(x.astype(np.float32), [3, 2], strides, padding), want, 1e-5)
    win, inside = _windows(x, (3, 2), s, padding, 0.0), _windows(np.ones_like(x), (3, 2), s,
                                                                padding, 0.0)
    close(tf.nn.avg_pool2d(x.astype(np.float32), [1, 3, 2, 1], strides, padding),
          win.sum(3) / inside.sum(3), 1e-5)


def test_conv2d_explicit_padding_and_dilations():
    x = RNG.normal(size=(1, 5, 5, 2))
    w = RNG.normal(size=(2, 2, 2, 3))
    padded = np.pad(x, [(0, 0), (1, 2), (0, 1), (0, 0)])
    got = tf.nn.conv2d(x.astype(np.float32), w.astype(np.float32), 1,
                       [[0, 0], [1, 2], [0, 1], [0, 0]], dilations=2)
    dil = np.zeros((3, 3, 2, 3))
    dil[::2, ::2] = w
    win = _windows(padded, (3, 3), (1, 1), "VALID", 0.0)
    want = np.einsum("nhwkc,kco->nhwo", win.reshape(win.shape[:3] + (9, 2)),
                     dil.reshape(9, 2, 3))
    close(got, want, 1e-4)


@needs_keras
def test_same_functions_as_keras_ops():
    close(tf.reduce_logsumexp(X, axis=1), np.asarray(keras.ops.logsumexp(x64, axis=1)))
    close(tf.nn.gelu(X), np.asarray(keras.ops.gelu(x64, approximate=False)))
    close(tf.nn.log_softmax(X, axis=0), np.asarray(keras.ops.log_softmax(x64, axis=0)))
    close(tf.math.top_k(X, 2).values, np.asarray(keras.ops.top_k(x64, 2)[0]))


# ----------------------------------------------------------- gradients

def _check_gradient(f, x, tol=2e-2):
    """f's gradient at x on a GradientTape (x a watched tf.constant)
    against central differences of f on float64 copies."""
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = tf.reduce_sum(f(t))
    got = tape.gradient(y, t)
    assert got is not None
    want = np.zeros(x.shape)
    eps = 1e-3
    for i in np.ndindex(x.shape):
        hi, lo = x.astype(np.float64), x.astype(np.float64)
        hi[i] += eps
        lo[i] -= eps
        want[i] = (float(np.sum(f(hi.astype(np.float32)))) -
                   float(np.sum(f(lo.astype(np.float32))))) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


GRADIENTS = [
    lambda t: tf.clip_by_norm(t, 1.0, axes=[1]),
    lambda t: tf.reduce_logsumexp(t, axis=0),
    lambda t: tf.reduce_prod(t, axis=1) * 3.0,
    lambda t: tf.gather(t, np.array([[2, 0], [1, 1], [3, 3]]), axis=1, batch_dims=1) *
    np.arange(6, dtype=np.float32).reshape(3, 2),
    lambda t: tf.cumsum(t, axis=1, exclusive=True, reverse=True) * t,
    lambda t: tf.nn.sparse_softmax_cross_entropy_with_logits(np.array([3, 0, 1]), t),
    lambda t: tf.nn.softmax_cross_entropy_with_logits(np.eye(4)[[1, 2, 3]], t),
    lambda t: tf.nn.sigmoid_cross_entropy_with_logits(labels=np.eye(3, 4), logits=t),
    lambda t: tf.expand_dims(tf.norm(t, axis=1), 1) * tf.math.l2_normalize(t, axis=0),
    lambda t: tf.where(X > 0, t * t, tf.sin(t)),
    lambda t: tf.split(t, [1, -1], axis=1)[1] * tf.unstack(t, axis=1)[0][:, None],
    lambda t: tf.sort(t, axis=1, direction="DESCENDING") * np.arange(4, dtype=np.float32),
    lambda t: tf.nn.swish(t, beta=1.5) + tf.nn.gelu(t) + tf.nn.elu(t),
    lambda t: tf.math.squared_difference(t, 0.3) + tf.math.divide_no_nan(t, POS),
    lambda t: tf.add_n([t, tf.transpose(tf.tile(tf.expand_dims(t, 0), [2, 1, 1]),
                                        [0, 1, 2])[1]]) * t,
    lambda t: tf.nn.moments(t, axes=[0])[1],
]


@pytest.mark.parametrize("i", range(len(GRADIENTS)))
def test_gradients_flow_through_a_gradient_tape(i):
    _check_gradient(GRADIENTS[i], X)


def test_gradients_through_conv_and_pools():
    x = RNG.normal(size=(1, 5, 4, 2)).astype(np.float32)
    w = RNG.normal(size=(2, 2, 2, 2)).astype(np.float32)
    _check_gradient(lambda t: tf.nn.conv2d(t, w, 2, "SAME") ** 2, x)
    _check_gradient(lambda t: tf.nn.avg_pool2d(t, 2, 2, "SAME") * 3.0, x)
    _check_gradient(lambda t: tf.nn.max_pool2d(t, 3, 1, "VALID") * 2.0, x)


def test_a_custom_training_step_with_these_names():
    """A TensorFlow-era custom loop: logits from a variable, a clipped
    gradient step on sparse softmax cross-entropy; the loss falls."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 5)).astype(np.float32)
    labels = tf.argmax(features[:, :3], axis=1)
    w = tf.Variable(tf.zeros([5, 3]))
    losses = []
    for _ in range(30):
        with tf.GradientTape() as tape:
            logits = tf.matmul(features, w)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        grad = tf.clip_by_norm(tape.gradient(loss, w), 1.0)
        w.assign_sub(0.5 * grad)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def test_star_import_keeps_pythons_builtins():
    scope = {}
    exec("from pynn import *", scope)
    for name in ("range", "abs", "round", "pow", "math"):
        assert name not in scope
    assert callable(scope["add_n"]) and scope["nn"] is tf.nn


def test_a_watched_tensor_is_read_by_value_functions():
    """top_k, size and shapes read a watched tensor's own values, during
    and after its tape."""
    t = tf.constant([1.0, 3.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(t)
        best = tf.math.top_k(t, 2).values
        assert int(tf.size(t)) == 3
        y = tf.reduce_sum(best * best)
    np.testing.assert_allclose(tape.gradient(y, t), [0.0, 6.0, 4.0])
    assert tf.math.top_k(t, 1).indices.tolist() == [1]
