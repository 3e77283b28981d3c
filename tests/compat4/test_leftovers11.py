"""TensorFlow names that ported programs call: tf.unravel_index,
dynamic_partition / dynamic_stitch, no_op / group / control_dependencies,
tf.random.poisson, the tf.nn convolutions and poolings in TensorFlow's
argument forms (conv1d, depthwise / separable conv2d, lrn, 1-D and 3-D
pooling, pool, dilation2d / erosion2d), tf.linalg's expm, lstsq and
triangular solves, tf.signal's DCTs, overlap_and_add and inverse_stft, and
tf.data's save / load, random, counter, group_by_window, scan and unique:
values against NumPy float64 (or Keras 3 on its NumPy backend), gradients
against finite differences."""
import numpy as np
import pytest

import pynn as tf
from gradcheck import numeric_grad
from keras_reference import keras, needs_keras

RNG = np.random.default_rng(11)


@pytest.fixture(autouse=True)
def _fresh_rng():
    """Each test draws the same data however the tests are selected."""
    global RNG
    RNG = np.random.default_rng(11)


def _grad(fn, *xs):
    vs = [tf.Variable(np.asarray(x, np.float32)) for x in xs]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(*vs))
    gs = tape.gradient(loss, vs)
    return [np.asarray(g) for g in gs]


def _fd(fn, xs, i, eps=1e-3):
    xs = [np.asarray(x, np.float32) for x in xs]

    def f(v):
        args = list(xs)
        args[i] = v
        return float(np.sum(np.asarray(fn(*args), np.float64)))
    return numeric_grad(f, xs[i], eps)


def _check_grads(fn, xs, rtol=2e-2, atol=2e-3, eps=1e-3):
    got = _grad(fn, *xs)
    for i in range(len(xs)):
        np.testing.assert_allclose(got[i], _fd(fn, xs, i, eps), rtol=rtol, atol=atol)


# ------------------------------------------------------------ array functions

def test_unravel_index_as_numpy():
    got = tf.unravel_index([1, 5, 7], [3, 3])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [[0, 1, 2], [1, 2, 1]])
    np.testing.assert_array_equal(tf.unravel_index(np.int64(17), [2, 3, 4]),
                                  np.unravel_index(17, (2, 3, 4)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
        tf.unravel_index([9], [3, 3])


def test_dynamic_partition_and_stitch_round_trip():
    data = RNG.normal(size=(6, 2)).astype(np.float32)
    p = np.array([0, 2, 1, 0, 2, 2])
    parts = tf.dynamic_partition(data, p, 3)
    for i in range(3):
        np.testing.assert_array_equal(parts[i], data[p == i])
    ids = tf.dynamic_partition(np.arange(6), p, 3)
    np.testing.assert_array_equal(tf.dynamic_stitch(ids, parts), data)
    # a later pair wins; unnamed rows are zeros; integer data keeps its dtype
    got = tf.dynamic_stitch([[0, 2], [2, 4]], [tf.constant([1, 2]), tf.constant([3, 4])])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [1, 0, 3, 0, 4])
    # a 2-D partitions tensor takes its leading axes
    parts2 = tf.dynamic_partition(np.arange(12.0).reshape(2, 3, 2), [[0, 1, 0], [1, 1, 0]], 2)
    np.testing.assert_array_equal(parts2[0], [[0, 1], [4, 5], [10, 11]])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not in \[0, 3\)"):
        tf.dynamic_partition(data, [0, 1, 3, 0, 1, 1], 3)
    with pytest.raises(ValueError, match="prefix"):
        tf.dynamic_partition(data, [0, 1], 2)


def test_dynamic_partition_and_stitch_gradients():
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    p = [1, 0, 1, 1, 0]

    def fn(v):
        a, b = tf.dynamic_partition(v, p, 2)
        return tf.dynamic_stitch([[0, 1], [1, 3, 4]], [a[:2] * 3.0, b ** 2 + a[:1] * b])
    _check_grads(fn, [x])


def test_no_op_group_control_dependencies_run_eagerly():
    v = tf.Variable(1.0)
    calls = []
    assert tf.no_op() is None
    assert tf.group(v.assign_add(1.0), tf.no_op()) is None
    with tf.control_dependencies([v.assign_add(2.0), lambda: calls.append(1)]):
        y = v * 2.0
    assert calls == [1] and float(y) == 8.0

    @tf.function
    def step():
        with tf.control_dependencies([v.assign(0.5)]):
            return tf.identity(v)
    assert float(step()) == 0.5


def test_random_poisson_shapes_dtypes_and_means():
    draws = tf.random.poisson([4000], [0.5, 6.0], seed=3)
    assert draws.shape == (4000, 2) and draws.dtype == np.float32
    np.testing.assert_allclose(np.mean(draws, 0), [0.5, 6.0], rtol=0.08)
    ints = tf.random.poisson([3], 2.0, dtype=tf.int64, seed=1)
    assert ints.dtype == np.int64 and ints.shape == (3,)
    a = tf.random.stateless_poisson([5, 2], seed=[4, 2], lam=[1.0, 30.0])
    assert a.dtype == np.int32 and a.shape == (5, 2)
    np.testing.assert_array_equal(a, tf.random.stateless_poisson([5, 2], [4, 2], [1.0, 30.0]))
    assert not np.array_equal(a, tf.random.stateless_poisson([5, 2], [4, 3], [1.0, 30.0]))
    with pytest.raises(ValueError, match="lam"):
        tf.random.poisson([2], [-1.0])


# ------------------------------------------------------------ tf.nn

@needs_keras
@pytest.mark.parametrize("padding, stride, dil", [("SAME", 1, 2), ("VALID", 2, 1)])
def test_conv1d_depthwise_separable_as_keras(padding, stride, dil):
    ops = keras.ops
    x1 = RNG.normal(size=(2, 9, 3)).astype(np.float32)
    k1 = RNG.normal(size=(3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        tf.nn.conv1d(x1, k1, stride, padding, dilations=dil),
        ops.conv(x1, k1, stride, padding.lower(), dilation_rate=dil), rtol=1e-4, atol=1e-5)
    x = RNG.normal(size=(2, 7, 8, 3)).astype(np.float32)
    dw = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)
    pw = RNG.normal(size=(1, 1, 6, 5)).astype(np.float32)
    strides = [1, stride, stride, 1]
    np.testing.assert_allclose(
        tf.nn.depthwise_conv2d(x, dw, strides, padding, dilations=[dil, dil]),
        ops.depthwise_conv(x, dw, stride, padding.lower(), dilation_rate=dil),
        rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        tf.nn.separable_conv2d(x, dw, pw, strides, padding, dilations=[dil, dil]),
        ops.separable_conv(x, dw, pw, stride, padding.lower(), dilation_rate=dil),
        rtol=1e-4, atol=1e-5)
    k2 = RNG.normal(size=(2, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(tf.nn.atrous_conv2d(x, k2, dil, padding),
                               ops.conv(x, k2, 1, padding.lower(), dilation_rate=dil),
                               rtol=1e-4, atol=1e-5)


@needs_keras
@pytest.mark.parametrize("padding, s, d", [("SAME", 1, 1), ("VALID", 2, 1), ("SAME", 2, 1),
                                           ("VALID", 1, (2, 1, 2))])
def test_conv3d_as_keras(padding, s, d):
    x = RNG.normal(size=(2, 5, 6, 7, 3)).astype(np.float32)
    k = RNG.normal(size=(3, 2, 3, 3, 4)).astype(np.float32)
    got = tf.nn.conv3d(x, k, [1, s, s, s, 1], padding, dilations=d)
    np.testing.assert_allclose(got, keras.ops.conv(x, k, s, padding.lower(), dilation_rate=d),
                               rtol=1e-4, atol=2e-5)


@needs_keras
@pytest.mark.parametrize("padding, s, length", [("SAME", 2, 10), ("VALID", 2, 11),
                                                ("SAME", 1, 5)])
def test_conv1d_transpose_as_keras(padding, s, length):
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    k = RNG.normal(size=(3, 4, 3)).astype(np.float32)
    got = tf.nn.conv1d_transpose(x, k, [2, length, 4], s, padding)
    np.testing.assert_allclose(got, keras.ops.conv_transpose(x, k, s, padding.lower()),
                               rtol=1e-4, atol=2e-5)
    _check_grads(lambda a, b: tf.nn.conv1d_transpose(a, b, [1, length, 4], s, padding),
                 [x[:1], k])


def test_conv_gradients():
    x = RNG.normal(size=(1, 5, 4, 2)).astype(np.float32)
    dw = RNG.normal(size=(2, 2, 2, 2)).astype(np.float32)
    pw = RNG.normal(size=(1, 1, 4, 3)).astype(np.float32)
    _check_grads(lambda a, b, c: tf.nn.separable_conv2d(a, b, c, [1, 1, 1, 1], "SAME"),
                 [x, dw, pw])
    x1 = RNG.normal(size=(1, 6, 2)).astype(np.float32)
    k1 = RNG.normal(size=(2, 2, 3)).astype(np.float32)
    _check_grads(lambda a, b: tf.nn.conv1d(a, b, 2, "VALID"), [x1, k1])
    x3 = RNG.normal(size=(1, 3, 3, 2, 1)).astype(np.float32)
    k3 = RNG.normal(size=(2, 2, 1, 1, 2)).astype(np.float32)
    _check_grads(lambda a, b: tf.nn.conv3d(a, b, [1, 1, 1, 1, 1], "SAME"), [x3, k3])


def _lrn_reference(x, r, bias, alpha, beta):
    x = x.astype(np.float64)
    c = x.shape[-1]
    out = np.empty_like(x)
    for d in range(c):
        s = np.sum(x[..., max(0, d - r):d + r + 1] ** 2, axis=-1)
        out[..., d] = x[..., d] / (bias + alpha * s) ** beta
    return out


def test_local_response_normalization():
    x = RNG.normal(size=(2, 3, 3, 7)).astype(np.float32)
    np.testing.assert_allclose(tf.nn.local_response_normalization(x),
                               _lrn_reference(x, 5, 1.0, 1.0, 0.5), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tf.nn.lrn(x, depth_radius=2, bias=2.0, alpha=1e-2, beta=0.75),
                               _lrn_reference(x, 2, 2.0, 1e-2, 0.75), rtol=1e-5, atol=1e-6)
    _check_grads(lambda v: tf.nn.lrn(v, 1, 1.0, 0.5, 0.75), [x[:1, :2, :2, :4]])


def _pool3d_reference(x, k, s, kind, padding):
    x = x.astype(np.float64)
    n, d, h, w, c = x.shape
    if padding == "SAME":
        outs = [-(-v // st) for v, st in zip((d, h, w), s)]
        pads = [max((o - 1) * st + kk - v, 0) for o, st, kk, v in zip(outs, s, k, (d, h, w))]
    else:
        outs = [(v - kk) // st + 1 for v, kk, st in zip((d, h, w), k, s)]
        pads = [0, 0, 0]
    fill = -np.inf if kind == "max" else np.nan
    xp = np.pad(x, [(0, 0)] + [(p // 2, p - p // 2) for p in pads] + [(0, 0)],
                constant_values=fill)
    out = np.empty((n, *outs, c))
    for i, j, m in np.ndindex(*outs):
        box = xp[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1],
                 m * s[2]:m * s[2] + k[2]]
        out[:, i, j, m] = box.max(axis=(1, 2, 3)) if kind == "max" else \
            np.nanmean(box, axis=(1, 2, 3))
    return out


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_pool3d_and_pool(padding):
    x = RNG.normal(size=(2, 5, 4, 6, 3)).astype(np.float32)
    k, s = (2, 3, 2), (2, 1, 2)
    np.testing.assert_allclose(tf.nn.max_pool3d(x, [1, *k, 1], [1, *s, 1], padding),
                               _pool3d_reference(x, k, s, "max", padding), rtol=1e-6)
    np.testing.assert_allclose(tf.nn.avg_pool3d(x, k, s, padding),
                               _pool3d_reference(x, k, s, "avg", padding), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tf.nn.pool(x, k, "AVG", s, padding),
                               _pool3d_reference(x, k, s, "avg", padding), rtol=1e-5, atol=1e-6)
    x1 = x[:, :, 0, 0, :]
    np.testing.assert_allclose(tf.nn.max_pool1d(x1, 2, 2, padding),
                               _pool3d_reference(x1[:, :, None, None], (2, 1, 1), (2, 1, 1),
                                                 "max", padding)[:, :, 0, 0])
    np.testing.assert_allclose(tf.nn.pool(x[:, 0], [2, 2], "MAX", padding=padding),
                               tf.nn.max_pool2d(x[:, 0], 2, 1, padding))
    _check_grads(lambda v: tf.nn.avg_pool3d(v, 2, 2, padding), [x[:1, :3, :3, :3, :1]])
    with pytest.raises(ValueError, match="pooling_type"):
        tf.nn.pool(x, k, "MIN")


def _dilation_reference(x, f, s, r, padding):
    n, h, w, c = x.shape
    kh, kw, _ = f.shape
    eh, ew = (kh - 1) * r[0] + 1, (kw - 1) * r[1] + 1
    if padding == "SAME":
        oh, ow = -(-h // s[0]), -(-w // s[1])
        top = max((oh - 1) * s[0] + eh - h, 0) // 2
        left = max((ow - 1) * s[1] + ew - w, 0) // 2
    else:
        oh, ow, top, left = (h - eh) // s[0] + 1, (w - ew) // s[1] + 1, 0, 0
    out = np.full((n, oh, ow, c), -np.inf)
    for y, xx, dy, dx in np.ndindex(oh, ow, kh, kw):
        i, j = y * s[0] + dy * r[0] - top, xx * s[1] + dx * r[1] - left
        if 0 <= i < h and 0 <= j < w:
            out[:, y, xx] = np.maximum(out[:, y, xx], x[:, i, j] + f[dy, dx])
    return out


@pytest.mark.parametrize("padding, s, r", [("SAME", (1, 1), (1, 1)), ("VALID", (2, 1), (1, 2)),
                                           ("SAME", (2, 2), (2, 1))])
def test_dilation2d_and_erosion2d(padding, s, r):
    x = RNG.normal(size=(2, 6, 7, 2)).astype(np.float32)
    f = RNG.normal(size=(2, 3, 2)).astype(np.float32)
    got = tf.nn.dilation2d(x, f, [1, *s, 1], padding, "NHWC", [1, *r, 1])
    np.testing.assert_allclose(got, _dilation_reference(x, f, s, r, padding), rtol=1e-6)
    ero = tf.nn.erosion2d(x, f, [1, *s, 1], padding, "NHWC", [1, *r, 1])
    np.testing.assert_allclose(ero, -_dilation_reference(-x, f[::-1, ::-1], s, r, padding),
                               rtol=1e-6)
    _check_grads(lambda a, b: tf.nn.dilation2d(a, b, [1, *s, 1], padding, "NHWC", [1, *r, 1]),
                 [x[:1, :4, :5, :1], f[:, :, :1]])


# ------------------------------------------------------------ tf.linalg

sl = pytest.importorskip("scipy.linalg")


def test_expm_sqrtm_logm_against_scipy():
    a = RNG.normal(size=(2, 4, 4))
    np.testing.assert_allclose(tf.linalg.expm(a), [sl.expm(m) for m in a], rtol=1e-12,
                               atol=1e-12)
    big = RNG.normal(size=(3, 3)) * 6
    np.testing.assert_allclose(tf.linalg.expm(big), sl.expm(big), rtol=1e-10)
    assert tf.linalg.expm(a.astype(np.float32)).dtype == np.float32
    s = a @ np.swapaxes(a, -1, -2) + np.eye(4)
    np.testing.assert_allclose(tf.linalg.sqrtm(s), [sl.sqrtm(m) for m in s], rtol=1e-10)
    c = s.astype(np.complex128)
    np.testing.assert_allclose(tf.linalg.logm(c), [sl.logm(m) for m in c], rtol=1e-10,
                               atol=1e-12)
    with pytest.raises(TypeError, match="complex"):
        tf.linalg.logm(s)
    with pytest.raises(ValueError, match="square"):
        tf.linalg.expm(np.ones((2, 3)))


def test_expm_and_sqrtm_gradients():
    a = (RNG.normal(size=(3, 3)) * 0.5).astype(np.float32)
    _check_grads(tf.linalg.expm, [a])
    _check_grads(lambda v: tf.linalg.expm(v) * np.arange(9.0).reshape(3, 3), [a])
    s = (a @ a.T + np.eye(3)).astype(np.float32)
    _check_grads(lambda v: tf.linalg.sqrtm(v) * np.arange(9.0).reshape(3, 3), [s])


@pytest.mark.parametrize("lower, adjoint", [(True, False), (True, True), (False, False),
                                            (False, True)])
def test_triangular_and_banded_solves(lower, adjoint):
    m = RNG.normal(size=(2, 5, 5)) + 5 * np.eye(5)
    b = RNG.normal(size=(2, 5, 3))
    tri = np.tril(m) if lower else np.triu(m)
    want = [sl.solve_triangular(t, r, lower=lower, trans="T" if adjoint else "N")
            for t, r in zip(tri, b)]
    got = tf.linalg.triangular_solve(m, b, lower=lower, adjoint=adjoint)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # the same matrices as two bands (TensorFlow's LEFT_RIGHT alignment)
    banded = np.tril(np.triu(tri, -1), 1)
    if lower:
        bands = np.stack([np.diagonal(banded, 0, -2, -1),
                          np.pad(np.diagonal(banded, -1, -2, -1), [(0, 0), (1, 0)])], 1)
    else:
        bands = np.stack([np.pad(np.diagonal(banded, 1, -2, -1), [(0, 0), (0, 1)]),
                          np.diagonal(banded, 0, -2, -1)], 1)
    want = [sl.solve_triangular(t, r, lower=lower, trans="T" if adjoint else "N")
            for t, r in zip(banded, b)]
    np.testing.assert_allclose(tf.linalg.banded_triangular_solve(bands, b, lower, adjoint),
                               want, rtol=1e-12)
    _check_grads(lambda x, y: tf.linalg.triangular_solve(x, y, lower, adjoint),
                 [m[0].astype(np.float32), b[0].astype(np.float32)], rtol=3e-2)
    _check_grads(lambda x, y: tf.linalg.banded_triangular_solve(x, y, lower, adjoint),
                 [bands[0].astype(np.float32), b[0].astype(np.float32)], rtol=3e-2)


def test_tridiagonal_solve_and_matmul_formats():
    d = RNG.normal(size=(3, 6))
    d[1] += 5
    a = np.diag(d[1]) + np.diag(d[0, :-1], 1) + np.diag(d[2, 1:], -1)
    rhs = RNG.normal(size=(6, 2))
    want = np.linalg.solve(a, rhs)
    np.testing.assert_allclose(tf.linalg.tridiagonal_solve(d, rhs), want, rtol=1e-12)
    np.testing.assert_allclose(tf.linalg.tridiagonal_solve(list(d), rhs[:, 0], "sequence"),
                               want[:, 0], rtol=1e-12)
    np.testing.assert_allclose(tf.linalg.tridiagonal_solve(a, rhs.T, "matrix",
                                                           transpose_rhs=True), want, rtol=1e-12)
    np.testing.assert_allclose(tf.linalg.tridiagonal_matmul(d, rhs), a @ rhs, rtol=1e-12)
    _check_grads(lambda x, y: tf.linalg.tridiagonal_solve(x, y),
                 [d.astype(np.float32), rhs.astype(np.float32)], rtol=3e-2)
    with pytest.raises(ValueError, match="diagonals_format"):
        tf.linalg.tridiagonal_solve(d, rhs, "banded")


@pytest.mark.parametrize("shape", [(6, 3), (3, 5)])
def test_lstsq_fast_regularized_and_minimum_norm(shape):
    a = RNG.normal(size=shape)
    b = RNG.normal(size=(shape[0], 2))
    np.testing.assert_allclose(tf.linalg.lstsq(a, b), np.linalg.lstsq(a, b, rcond=None)[0],
                               rtol=1e-10, atol=1e-12)
    lam = 0.3
    n = shape[1]
    ridge = np.linalg.solve(a.T @ a + lam * np.eye(n), a.T @ b) if shape[0] >= n else \
        a.T @ np.linalg.solve(a @ a.T + lam * np.eye(shape[0]), b)
    np.testing.assert_allclose(tf.linalg.lstsq(a, b, l2_regularizer=lam), ridge, rtol=1e-10)
    deficient = np.concatenate([a, a[:, :1]], 1)             # rank-deficient columns
    np.testing.assert_allclose(tf.linalg.lstsq(deficient, b, fast=False),
                               np.linalg.pinv(deficient) @ b, rtol=1e-8, atol=1e-12)
    _check_grads(lambda x, y: tf.linalg.lstsq(x, y, l2_regularizer=0.1),
                 [a.astype(np.float32), b.astype(np.float32)], rtol=3e-2)


def test_matrix_rank():
    a = RNG.normal(size=(2, 5, 3)) @ RNG.normal(size=(3, 4))
    np.testing.assert_array_equal(tf.linalg.matrix_rank(a), [3, 3])
    assert tf.linalg.matrix_rank(np.diag(np.float32([1, 1, 1, 1e-9]))) == 3
    assert tf.linalg.matrix_rank(np.diag([1, 1, 1, 1e-9])) == 4          # (float64)
    assert tf.linalg.matrix_rank(np.ones((3, 3)), tol=10.0) == 0


# ------------------------------------------------------------ tf.data

def test_dataset_save_load_round_trip(tmp_path):
    images = RNG.normal(size=(5, 2, 3)).astype(np.float32)
    labels = np.arange(5)
    text = np.array(["a", "", "b\x00c", "dd", "é"])
    ds = tf.data.Dataset.from_tensor_slices(({"x": images, "t": text}, labels)).map(
        lambda f, y: (f, y * 2))
    ds.save(str(tmp_path / "saved"))
    back = tf.data.Dataset.load(str(tmp_path / "saved"))
    assert back.element_spec == ds.element_spec
    assert len(back) == 5 and int(back.cardinality()) == 5
    for (f1, y1), (f2, y2) in zip(ds.as_numpy_iterator(), back.as_numpy_iterator()):
        np.testing.assert_array_equal(f1["x"], f2["x"])
        assert f1["t"] == f2["t"] and y1 == y2
    # a batched, re-saved dataset keeps its None batch size; experimental names too
    tf.data.experimental.save(back.batch(2), str(tmp_path / "batched"))
    again = tf.data.experimental.load(str(tmp_path / "batched"))
    assert again.element_spec[1].shape.as_list() == [None]
    assert [len(y) for _, y in again.as_numpy_iterator()] == [2, 2, 1]
    # saving over a saved dataset replaces it whole
    tf.data.Dataset.range(3).save(str(tmp_path / "saved"))
    assert list(tf.data.Dataset.load(str(tmp_path / "saved")).as_numpy_iterator()) == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batched", "saved"]
    with pytest.raises(FileNotFoundError, match="no dataset"):
        tf.data.Dataset.load(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="infinite"):
        tf.data.Dataset.range(3).repeat().save(str(tmp_path / "endless"))


def test_dataset_random_and_counter():
    a = list(tf.data.Dataset.random(seed=4).take(5).as_numpy_iterator())
    assert a == list(tf.data.Dataset.random(seed=4).take(5).as_numpy_iterator())
    assert all(np.asarray(v).dtype == np.int64 and 0 <= v < 2 ** 32 for v in a)
    assert a != list(tf.data.Dataset.random(seed=5).take(5).as_numpy_iterator())
    ds = tf.data.Dataset.random(seed=1, rerandomize_each_iteration=True).take(3)
    assert list(ds.as_numpy_iterator()) != list(ds.as_numpy_iterator())
    assert tf.data.Dataset.random(seed=1).element_spec == tf.TensorSpec((), tf.int64)
    assert list(tf.data.Dataset.counter(2, 3).take(3).as_numpy_iterator()) == [2, 5, 8]
    assert list(tf.data.experimental.RandomDataset(seed=4).take(5).as_numpy_iterator()) == a


def test_dataset_scan_unique_group_by_window():
    ds = tf.data.Dataset.range(5)
    running = ds.scan(tf.constant(0, tf.int64), lambda s, x: (s + x, s))
    assert list(running.as_numpy_iterator()) == [0, 0, 1, 3, 6]
    pairs = tf.data.Dataset.from_tensor_slices(([1.0, 2.0], [3.0, 4.0])).apply(
        tf.data.experimental.scan(0.0, lambda s, e: (s + e[0], (s, e[1]))))
    assert [tuple(map(float, p)) for p in pairs.as_numpy_iterator()] == [(0, 3), (1, 4)]
    sums = tf.data.Dataset.from_tensor_slices(np.float32([1, 2, 3])).scan(
        (0.0, [0, 0]), lambda s, x: ((s[0] + x, s[1] + 1), s[0]))
    got = list(sums.as_numpy_iterator())
    assert got == [0.0, 1.0, 3.0] and all(v.dtype == np.float32 for v in got)
    assert list(tf.data.Dataset.from_tensor_slices([3, 1, 3, 2, 1]).unique()
                .as_numpy_iterator()) == [3, 1, 2]
    words = tf.data.Dataset.from_tensor_slices(["b", "a", "b"]).apply(tf.data.experimental.unique())
    assert list(words.as_numpy_iterator()) == [b"b", b"a"]
    with pytest.raises(TypeError, match="int32, int64 and string"):
        list(tf.data.Dataset.from_tensor_slices([1.5]).unique())
    grouped = tf.data.Dataset.range(10).group_by_window(
        key_func=lambda x: x % 2, reduce_func=lambda k, w: w.batch(3), window_size=3)
    assert [list(b) for b in grouped.as_numpy_iterator()] == \
        [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]
    sized = tf.data.Dataset.range(7).apply(tf.data.experimental.group_by_window(
        lambda x: tf.cast(x >= 3, tf.int64), lambda k, w: w.batch(4).map(lambda b: b * 10),
        window_size_func=lambda k: k + 1))
    assert [list(b) for b in sized.as_numpy_iterator()] == \
        [[0], [10], [20], [30, 40], [50, 60]]
    resampled = tf.data.Dataset.range(40).apply(tf.data.experimental.rejection_resample(
        lambda x: tf.cast(x < 30, tf.int32), [0.5, 0.5], seed=1))
    classes = [int(c) for c, _ in resampled.as_numpy_iterator()]
    assert set(classes) == {0, 1}


# ------------------------------------------------------------ tf.signal

fftpack = pytest.importorskip("scipy.fftpack")


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_dct_idct_as_scipy_fftpack(kind):
    x = RNG.normal(size=(3, 9))
    norms = [None] if kind == 1 else [None, "ortho"]
    for norm in norms:
        np.testing.assert_allclose(tf.signal.dct(x, type=kind, norm=norm),
                                   fftpack.dct(x, type=kind, norm=norm), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(tf.signal.idct(x, type=kind, norm=norm),
                                   fftpack.idct(x, type=kind, norm=norm), rtol=1e-12, atol=1e-12)
    for n in (5, 12):
        np.testing.assert_allclose(tf.signal.dct(x, type=kind, n=n),
                                   fftpack.dct(x, type=kind, n=n), rtol=1e-12, atol=1e-12)
    got = tf.signal.dct(x.astype(np.float32), type=kind)
    assert got.dtype == np.float32
    # (linear: a wide step has no truncation error and less rounding)
    _check_grads(lambda v: tf.signal.dct(v, type=kind) * np.arange(9.0),
                 [x[:2].astype(np.float32)], eps=0.1)
    if kind == 1:
        with pytest.raises(ValueError, match="not supported"):
            tf.signal.dct(x, type=1, norm="ortho")


def test_mfccs_from_log_mel_spectrograms():
    logmel = RNG.normal(size=(2, 7, 20)).astype(np.float32)
    want = fftpack.dct(logmel.astype(np.float64), type=2) / np.sqrt(40.0)
    np.testing.assert_allclose(tf.signal.mfccs_from_log_mel_spectrograms(logmel), want,
                               rtol=1e-5, atol=1e-5)
    _check_grads(lambda v: tf.signal.mfccs_from_log_mel_spectrograms(v)[..., :13] *
                 np.arange(13.0), [logmel[:1, :2]], eps=0.1)


def test_overlap_and_add_values_and_gradient():
    frames = RNG.normal(size=(2, 5, 8))
    for step in (3, 4, 8):
        want = np.zeros((2, 4 * step + 8))
        for i in range(5):
            want[:, i * step:i * step + 8] += frames[:, i]
        np.testing.assert_allclose(tf.signal.overlap_and_add(frames, step), want, rtol=1e-12)
    _check_grads(lambda v: tf.signal.overlap_and_add(v, 3) * np.arange(20.0),
                 [frames[0].astype(np.float32)], eps=0.1)


def test_inverse_stft_reconstructs_the_signal():
    sig = RNG.normal(size=(2, 1000)).astype(np.float32)
    spectra = tf.signal.stft(sig, 256, 64)
    rec = tf.signal.inverse_stft(spectra, 256, 64,
                                 window_fn=tf.signal.inverse_stft_window_fn(64))
    assert rec.dtype == np.float32 and rec.shape == (2, (spectra.shape[1] - 1) * 64 + 256)
    # (away from the ends, where the frames overlap fully)
    np.testing.assert_allclose(np.asarray(rec)[:, 192:760], sig[:, 192:760], atol=1e-5)
    # frame_length above fft_length pads each frame with zeros; the plain
    # window path matches a direct NumPy computation
    spectra = tf.signal.stft(sig[:1, :300], 100, 50, fft_length=64)
    frames = np.fft.irfft(np.asarray(spectra, np.complex128), 64, axis=-1)
    frames = np.pad(frames, [(0, 0), (0, 0), (0, 36)]) * np.asarray(tf.signal.hann_window(100))
    want = np.zeros((1, (frames.shape[1] - 1) * 50 + 100))
    for i in range(frames.shape[1]):
        want[:, i * 50:i * 50 + 100] += frames[:, i]
    np.testing.assert_allclose(tf.signal.inverse_stft(spectra, 100, 50, fft_length=64), want,
                               rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------ tf.math.special

sp = pytest.importorskip("scipy.special")

SPECIAL = [("bessel_j0", sp.j0), ("bessel_j1", sp.j1), ("bessel_y0", sp.y0),
           ("bessel_y1", sp.y1), ("bessel_k0", sp.k0), ("bessel_k1", sp.k1),
           ("bessel_k0e", sp.k0e), ("bessel_k1e", sp.k1e), ("dawsn", sp.dawsn),
           ("expint", sp.expi), ("fresnel_cos", lambda v: sp.fresnel(v)[1]),
           ("fresnel_sin", lambda v: sp.fresnel(v)[0]), ("spence", sp.spence)]
XS = np.concatenate([np.linspace(-45, 45, 901), RNG.uniform(0, 3, 50),
                     [0.0, 1e-300, 1e-7, 1.79, 1.81, 1.99, 2.01, 5.99, 6.01, 24.99, 25.01, 39.9,
                      40.1, 100.0, 700.0, 1e4, np.inf, -np.inf, np.nan]])


@pytest.mark.parametrize("name, ref", SPECIAL)
def test_special_values_float64_as_scipy(name, ref):
    with np.errstate(all="ignore"):
        want = ref(XS)
    got = np.asarray(getattr(tf.math.special, name)(tf.constant(XS, dtype="float64")))
    assert got.dtype == np.float64
    # (absolute near the zeros of the oscillating ones, relative elsewhere)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11, equal_nan=True)


@pytest.mark.parametrize("name, ref", SPECIAL)
def test_special_float32_and_gradients(name, ref):
    x = np.array([0.3, 0.8, 1.7, 2.6, 4.2, 7.5], np.float32)
    got = getattr(tf.math.special, name)(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=3e-6, atol=1e-6)
    fn = getattr(tf.math.special, name)
    np.testing.assert_allclose(_grad(fn, x)[0], _fd(fn, [x], 0, eps=1e-3), rtol=2e-2,
                               atol=2e-3)


def test_special_functions_on_symbolic_tensors_in_a_model(tmp_path):
    x = tf.keras.Input((3,))
    feats = tf.math.special.bessel_j0(x) + tf.math.lgamma(x + 2.0) + \
        tf.math.special.fresnel_sin(x) * tf.math.special.dawsn(x) + tf.math.bessel_i1e(x)
    out = tf.keras.layers.Dense(1)(feats)
    model = tf.keras.Model(x, [feats, out])
    v = RNG.uniform(0.1, 3.0, (4, 3)).astype(np.float32)
    w = v.astype(np.float64)
    want = sp.j0(w) + sp.gammaln(w + 2) + sp.fresnel(w)[0] * sp.dawsn(w) + sp.i1e(w)
    np.testing.assert_allclose(model.predict(v, verbose=0)[0], want, rtol=1e-5, atol=1e-6)
    head = tf.keras.Model(x, out)
    head.compile("sgd", "mse")
    assert np.isfinite(head.fit(v, np.ones((4, 1)), epochs=1, verbose=0).history["loss"][0])
    path = str(tmp_path / "special.pynn")
    model.save(path)
    again = tf.keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(v, verbose=0)[0], model.predict(v, verbose=0)[0])
    with pytest.raises(ValueError, match="bessel_j0"):
        model.save(str(tmp_path / "special.keras"))


# ------------------------------------------------------------ tf.strings, in pipelines

def test_strings_format():
    assert tf.strings.format("x={} y={}", [tf.constant([1, 2, 3]), tf.constant(0.5)]).numpy() \
        == b"x=[1 2 3] y=0.5"
    assert tf.strings.format("{}", tf.range(10)).numpy() == b"[0 1 2 ... 7 8 9]"
    assert tf.strings.format("{}", tf.range(10), summarize=-1).numpy() == \
        b"[0 1 2 3 4 5 6 7 8 9]"
    assert tf.strings.format("{}", tf.constant([[1.5, 2.0], [3.0, 4.0]])).numpy() == \
        b"[[1.5 2]\n [3 4]]"
    assert tf.strings.format("{} and <>", tf.constant(["a", "b"])).numpy() == \
        b'["a" "b"] and <>'
    assert tf.strings.format("<>!", tf.constant("hi"), placeholder="<>").numpy() == b"hi!"
    with pytest.raises(ValueError, match="placeholders"):
        tf.strings.format("{} {}", [1])


def test_unicode_with_offsets_and_transcode():
    codes, offsets = tf.strings.unicode_decode_with_offsets("héllo", "UTF-8")
    np.testing.assert_array_equal(codes, [104, 233, 108, 108, 111])
    np.testing.assert_array_equal(offsets, [0, 1, 3, 4, 5])
    chars, offsets = tf.strings.unicode_split_with_offsets([b"h\xc3\xa9", b"a\xffb"], "UTF-8")
    assert chars.to_list() == [[b"h", b"\xc3\xa9"], [b"a", "\ufffd".encode(), b"b"]]
    assert offsets.to_list() == [[0, 1], [0, 1, 2]]
    got = tf.strings.unicode_transcode([["héllo"], ["x"]], "UTF-8", "UTF-16-BE")
    assert got.shape == (2, 1) and got.numpy()[0, 0] == "héllo".encode("utf-16-be")
    assert tf.strings.unicode_transcode(b"a\xffb", "UTF-8", "UTF-8", errors="ignore").numpy() \
        == b"ab"
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.strings.unicode_decode_with_offsets(b"a\xff", "UTF-8", errors="strict")


def test_new_names_inside_tf_function_and_dataset_map():
    @tf.function
    def step(x):
        parts = tf.dynamic_partition(x, tf.cast(x > 0, tf.int32), 2)
        return tf.signal.dct(x) + tf.reduce_sum(parts[1]), tf.math.special.dawsn(x)
    x = np.array([-1.0, 2.0, 0.5], np.float32)
    a, b = step(x)
    np.testing.assert_allclose(a, fftpack.dct(x.astype(np.float64)) + 2.5, rtol=1e-5)
    np.testing.assert_allclose(b, sp.dawsn(x.astype(np.float64)), rtol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices(RNG.normal(size=(4, 3, 3)).astype(np.float32)).map(
        lambda m: tf.linalg.expm(m * 0.1)).batch(2)
    first = next(iter(ds))
    assert first.shape == (2, 3, 3)
    seqs = tf.data.Dataset.from_generator(lambda: (np.ones(n, np.int32) for n in [1, 3, 2, 5]),
                                          output_signature=tf.TensorSpec([None], tf.int32))
    batched = seqs.bucket_by_sequence_length(lambda s: tf.shape(s)[0], [3], [2, 2])
    assert sorted(b.shape for b in batched.as_numpy_iterator()) == [(2, 2), (2, 5)]


def test_kaiser_kbd_and_vorbis_windows():
    windows = pytest.importorskip("scipy.signal.windows")
    for n, beta in [(11, 5.0), (10, 40.0), (1, 12.0)]:
        np.testing.assert_allclose(tf.signal.kaiser_window(n, beta, dtype=tf.float64),
                                   windows.kaiser(n, beta), rtol=1e-12, atol=1e-15)
    assert tf.signal.kaiser_window(8).dtype == np.float32
    np.testing.assert_allclose(tf.signal.kaiser_bessel_derived_window(16, 4.0, tf.float64),
                               windows.kaiser_bessel_derived(16, 4.0), rtol=1e-12)
    v = np.asarray(tf.signal.vorbis_window(12, dtype=tf.float64))
    want = np.sin(np.pi / 2 * np.sin(np.pi * (np.arange(12) + 0.5) / 12) ** 2)
    np.testing.assert_allclose(v, want, rtol=1e-13)
    np.testing.assert_allclose(v[:6] ** 2 + v[6:] ** 2, 1.0, rtol=1e-12)


def test_signal_linear_maps_on_symbolic_tensors():
    x = tf.keras.Input((5, 8))
    model = tf.keras.Model(x, [tf.signal.dct(x, norm="ortho"), tf.signal.idct(x, type=4),
                               tf.signal.mfccs_from_log_mel_spectrograms(x),
                               tf.signal.overlap_and_add(x, 3)])
    v = RNG.normal(size=(2, 5, 8)).astype(np.float32)
    w = v.astype(np.float64)
    a, b, c, d = model.predict(v, verbose=0)
    np.testing.assert_allclose(a, fftpack.dct(w, norm="ortho"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, fftpack.idct(w, type=4), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, fftpack.dct(w) / 4.0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d, tf.signal.overlap_and_add(w, 3), rtol=1e-5, atol=1e-5)
