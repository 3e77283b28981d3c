"""Every C kernel against a NumPy float64 reference, on odd sizes."""
import os

import numpy as np
import pytest

import pynn
from pynn import ops

SIZES = [1, 7, 33, 257]
rng = np.random.default_rng(0)


def rand(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ------------------------------------------------------------------ matmul

@pytest.mark.parametrize("m", SIZES)
@pytest.mark.parametrize("n", [1, 7, 33])
@pytest.mark.parametrize("k", [1, 33, 257])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_matches_float64(m, n, k, ta, tb):
    a = rand(k, m).T if ta else rand(m, k)
    b = rand(n, k).T if tb else rand(k, n)
    got = ops.matmul(a, b)
    want = a.astype(np.float64) @ b.astype(np.float64)
    bound = 1e-5 * np.sqrt(k) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert got.shape == (m, n)
    assert np.all(np.abs(got - want) <= bound + 1e-30)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 8, 10, 23, 24, 31, 32, 40, 47, 48, 49, 63, 64, 65, 106, 128,
                               200])
@pytest.mark.parametrize("k", [1, 3, 257])
def test_matmul_few_rows_every_column_block(m, n, k):
    # A few rows take the direct kernel: one row in blocks of 64 and 32
    # columns, then masked 8-column tails with k split over several sums;
    # 2 to 4 rows together in blocks of 48, 32 or 24 columns and a masked
    # rest; beta reads C.
    a, b, c = rand(m, k), rand(k, n), rand(m, n)
    want = 1.5 * (a.astype(np.float64) @ b.astype(np.float64)) + 0.5 * c
    bound = 1e-5 * np.sqrt(k) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    out = c.copy()
    ops.matmul(a, b, out=out, alpha=1.5, beta=0.5)
    assert np.all(np.abs(out - want) <= 1.5 * bound + 1e-6)
    out = np.full((m, n), np.nan, np.float32)
    ops.matmul(a, b, out=out)
    assert np.all(np.abs(out - (want - 0.5 * c) / 1.5) <= bound + 1e-30)


@pytest.mark.parametrize("m", [7, 8, 9, 10, 11, 12, 125])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_last_tile_of_every_height(m, tb):
    # Rows past the last multiple of the tile height (1 to 5 of them) take
    # a tile of their own height; beta reads C, columns end mid-tile.
    k, n = 300, 37
    a, c = rand(m, k), rand(m, n)
    b = rand(n, k).T if tb else rand(k, n)
    want = 1.5 * (a.astype(np.float64) @ b.astype(np.float64)) + 0.5 * c
    bound = 1e-5 * np.sqrt(k) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    out = c.copy()
    ops.matmul(a, b, out=out, alpha=1.5, beta=0.5)
    assert np.all(np.abs(out - want) <= 1.5 * bound + 1e-6)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("k, n", [(1031, 1027), (517, 2053), (2048, 520), (263, 4100)])
def test_matmul_few_rows_stream_a_large_b(m, k, n):
    # More than 1 MiB of B streams row after row through sums kept in L1
    # (chunks of 4096 / m columns, 8, 4 or 2 rows of B at a time and the
    # rows left one by one), 5 to 8 rows of A four at a time (on the AVX2
    # set; the others pack them); beta reads C.  An inf in B's last row gives
    # inf or NaN exactly where float64 does (no row is read twice).
    a, b, c = rand(m, k), rand(k, n), rand(m, n)
    want = 1.5 * (a.astype(np.float64) @ b.astype(np.float64)) + 0.5 * c
    bound = 1e-5 * np.sqrt(k) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    out = c.copy()
    ops.matmul(a, b, out=out, alpha=1.5, beta=0.5)
    assert np.all(np.abs(out - want) <= 1.5 * bound + 1e-6)
    b[k - 1, 5] = np.inf
    a[:, k - 1] = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
    got = np.asarray(ops.matmul(a, b))
    with np.errstate(all="ignore"):
        want = a.astype(np.float64) @ b.astype(np.float64)
    assert np.array_equal(np.isinf(got), np.isinf(want))
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(np.sign(got[np.isinf(got)]), np.sign(want[np.isinf(want)]))


@pytest.mark.parametrize("m, n, k", [(4, 1000, 600), (1, 4100, 530)])
def test_matmul_few_rows_split_over_threads(m, n, k):
    # Past a million multiply-adds per thread, threads take column ranges.
    a, b = rand(m, k), rand(k, n)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(ops.matmul(a, b), want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("k", [1, 77, 700])
@pytest.mark.parametrize("n", [10, 16, 130])
def test_matmul_rows_read_in_place_match_packed_rows(k, n):
    # Up to 256 rows A is read in place, from 257 rows it is packed; up to
    # 96 rows B's whole panels are read in place too (its last partial
    # panel packed).  All sum in the same order, so a row's result is the
    # same bit for bit.  A's and B's rows are strided (slices of wider
    # arrays) and beta reads C.
    wide, wide_b, c = rand(257, k + 5), rand(k, n + 3), rand(257, n)
    a, b = wide[:, 2:k + 2], wide_b[:, 1:n + 1]
    packed = c.copy()
    ops.matmul(a, b, out=packed, alpha=1.5, beta=0.5)
    want = 1.5 * (a.astype(np.float64) @ b.astype(np.float64)) + 0.5 * c
    bound = 1e-5 * np.sqrt(k) * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert np.all(np.abs(packed - want) <= 1.5 * bound + 1e-6)
    for m in (5, 6, 7, 8, 11, 14, 32, 33, 96, 97, 128, 256):
        in_place = c[:m].copy()
        ops.matmul(a[:m], b, out=in_place, alpha=1.5, beta=0.5)
        assert np.array_equal(in_place.view(np.uint32), packed[:m].view(np.uint32)), m


def test_matmul_accumulates_and_ignores_nan_in_out_when_beta_zero():
    a, b = rand(7, 33), rand(33, 5)
    out = np.full((7, 5), np.nan, np.float32)
    ops.matmul(a, b, out=out)
    assert np.all(np.isfinite(out))
    c = rand(7, 5)
    acc = c.copy()
    ops.matmul(a, b, out=acc, alpha=2.0, beta=0.5)
    np.testing.assert_allclose(acc, 2 * (a.astype(np.float64) @ b) + 0.5 * c, rtol=1e-5, atol=1e-5)


def test_matmul_strided_and_converted_inputs():
    wide = rand(9, 40)
    a = wide[:, 3:20]            # row stride wider than the row
    b = rand(17, 6).astype(np.float64)
    np.testing.assert_allclose(ops.matmul(a, b), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
    c = rand(10, 12)[::2, ::3]  # neither layout: copied
    np.testing.assert_allclose(ops.matmul(c, rand(4, 3)).shape, (5, 3))


@pytest.mark.parametrize("a, b, exc", [
    (np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32), ValueError),
    (np.zeros((2, 4, 3), np.float32), np.zeros((4, 2), np.float32), ValueError),
    (np.zeros((2, 4, 3), np.float32), np.zeros((3, 3, 2), np.float32), ValueError),
    (np.zeros(3, np.float32), np.zeros((3, 2), np.float32) + 1, None),
    (np.array([["a"]]), np.zeros((1, 1), np.float32), TypeError),
])
def test_matmul_bad_input(a, b, exc):
    if exc is None:  # a vector is promoted, as in NumPy and Keras 3
        np.testing.assert_allclose(ops.matmul(a, b), a @ b)
        return
    with pytest.raises(exc, match="matmul"):
        ops.matmul(a, b)


@pytest.mark.parametrize("out, kwargs, exc, message", [
    (np.zeros((2, 4), np.float64), {}, ValueError, "out must be float32 of shape"),
    (np.zeros((4, 2), np.float32), {}, ValueError, "out must be float32 of shape"),
    (np.zeros((4, 2), np.float32).T, {}, ValueError, "writable C-contiguous"),
    (None, {"alpha": float("nan")}, ValueError, "alpha must be a number"),
    (None, {"beta": 0.5}, ValueError, "beta != 0 needs out"),
])
def test_matmul_bad_out_or_scalars_on_float32_arrays(out, kwargs, exc, message):
    # float32 arrays take the fast path through the bridge; what it refuses
    # must still get the full explanation.
    a, b = rand(2, 3), rand(3, 4)
    with pytest.raises(exc, match=message):
        ops.matmul(a, b, out, **kwargs)


def test_matmul_read_only_out_is_refused():
    out = np.zeros((2, 4), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        ops.matmul(rand(2, 3), rand(3, 4), out)
    assert not out.any()


# ------------------------------------------------------------- activations

def sig(x):
    return 1 / (1 + np.exp(-x))


REF = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "sigmoid": sig,
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hard_swish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(0, x),
    "swish": lambda x: x * sig(x),
    "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True)) /
    np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


@pytest.mark.parametrize("name", sorted(REF))
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 33), (5, 257)])
def test_activation_forward(name, shape):
    x = rand(*shape, scale=4.0)
    b = rand(shape[-1])
    got = ops.activation(x, name, bias=b)
    want = REF[name]((x + b).astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(REF))
def test_activation_extreme_inputs_stay_finite(name):
    x = np.array([[-1e4, -100, 0, 100, 1e4]], np.float32)
    y = ops.activation(x, name)
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("name", sorted(REF))
def test_activation_gradient_finite_differences(name):
    x = rand(4, 7, scale=2.0).astype(np.float32)
    x[np.abs(x) < 0.05] = 0.3   # keep away from kinks
    x[np.abs(np.abs(x) - 3) < 0.05] = 1.0
    x[np.abs(x - 6) < 0.05] = 1.0
    dy = rand(4, 7)
    y = ops.activation(x, name)
    got = ops.activation_grad(name, x, y, dy)
    f = REF[name]
    h = 1e-6
    x64 = x.astype(np.float64)
    want = np.zeros_like(x64)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x64)
        e[idx] = h
        want[idx] = np.sum(dy * (f(x64 + e) - f(x64 - e))) / (2 * h)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_bias_grad_and_dense():
    x, w, b = rand(33, 7), rand(7, 5), rand(5)
    np.testing.assert_allclose(ops.bias_grad(x), x.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.dense(x, w, b, "tanh"),
                               np.tanh(x.astype(np.float64) @ w + b), rtol=1e-5, atol=1e-6)


def test_unknown_activation():
    with pytest.raises(ValueError, match="Unknown activation 'relux'"):
        ops.activation(rand(3), "relux")


# ------------------------------------------------------------------ losses

def ref_loss(kind, t, p):
    eps = 1e-7
    pc = np.clip(p, eps, 1 - eps)
    if kind == "mean_squared_error":
        return ((p - t) ** 2).mean(-1)
    if kind == "mean_absolute_error":
        return np.abs(p - t).mean(-1)
    if kind == "binary_crossentropy":
        return -(t * np.log(pc) + (1 - t) * np.log(1 - pc)).mean(-1)
    if kind == "categorical_crossentropy":  # Keras first divides p by its sum
        return -(t * np.log(np.clip(p / p.sum(-1, keepdims=True), eps, 1 - eps))).sum(-1)
    if kind == "softmax_crossentropy":
        m = p.max(-1, keepdims=True)
        lse = m[..., 0] + np.log(np.exp(p - m).sum(-1))
        return (t.sum(-1) * lse - (t * p).sum(-1))
    if kind == "sigmoid_crossentropy":
        return (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(-1)
    raise KeyError(kind)


LOSSES = ["mean_squared_error", "mean_absolute_error", "binary_crossentropy",
          "categorical_crossentropy", "softmax_crossentropy", "sigmoid_crossentropy"]


def loss_inputs(kind, rows=7, cols=5):
    if kind in ("binary_crossentropy", "categorical_crossentropy"):
        p = rng.uniform(0.05, 0.95, (rows, cols)).astype(np.float32)
    else:
        p = rand(rows, cols, scale=3.0)
    if kind in ("categorical_crossentropy", "softmax_crossentropy"):
        t = np.eye(cols, dtype=np.float32)[rng.integers(0, cols, rows)]
    else:
        t = rng.uniform(0, 1, (rows, cols)).astype(np.float32)
    return t, p


@pytest.mark.parametrize("kind", LOSSES)
def test_loss_values_and_gradient(kind):
    t, p = loss_inputs(kind)
    w = rng.uniform(0.5, 2, t.shape[0]).astype(np.float32)
    grad = np.empty_like(p)
    per = ops.loss(kind, t, p, sample_weight=w, scale=7.0, grad=grad)
    np.testing.assert_allclose(per, ref_loss(kind, t.astype(np.float64), p.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)
    h = 1e-6
    p64 = p.astype(np.float64)
    want = np.zeros_like(p64)
    for idx in np.ndindex(p.shape):
        e = np.zeros_like(p64)
        e[idx] = h
        want[idx] = (np.dot(w, ref_loss(kind, t, p64 + e)) -
                     np.dot(w, ref_loss(kind, t, p64 - e))) / (2 * h) / 7.0
    np.testing.assert_allclose(grad, want, rtol=1e-3, atol=1e-5)


def test_fused_losses_stable_for_huge_logits():
    p = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], np.float32)
    t = np.eye(3, dtype=np.float32)[[0, 2]]
    g = np.empty_like(p)
    per = ops.loss("softmax_crossentropy", t, p, grad=g)
    assert np.all(np.isfinite(per)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(per, [0.0, 1e4 - 3.0], rtol=1e-6)
    per = ops.sparse_loss(np.array([0, 2]), p, from_logits=True, grad=g)
    np.testing.assert_allclose(per, [0.0, 1e4 - 3.0], rtol=1e-6)


def test_sparse_loss_matches_categorical():
    t, p = loss_inputs("softmax_crossentropy")
    labels = t.argmax(-1)
    for fused, kind in ((True, "softmax_crossentropy"), (False, "categorical_crossentropy")):
        q = p if fused else ops.softmax(p)
        g1, g2 = np.empty_like(q), np.empty_like(q)
        a = ops.sparse_loss(labels, q, from_logits=fused, grad=g1)
        b = ops.loss(kind, t, q, grad=g2)
        np.testing.assert_allclose(a, b, rtol=1e-5)
        np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-6)


def test_sparse_loss_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        ops.sparse_loss(np.array([0, 5]), rand(2, 5))


# -------------------------------------------------------------- optimizers

def test_sgd_momentum_nesterov_rules():
    for momentum, nesterov in ((0.0, False), (0.9, False), (0.9, True)):
        w, v = rand(33), np.zeros(33, np.float32)
        w64, v64 = w.astype(np.float64), np.zeros(33)
        for _ in range(3):
            g = rand(33)
            ops.sgd_update(w, g, v, lr=0.1, momentum=momentum, nesterov=nesterov)
            v64 = momentum * v64 - 0.1 * g
            w64 = w64 + (momentum * v64 - 0.1 * g if nesterov else v64)
        np.testing.assert_allclose(w, w64, rtol=1e-5, atol=1e-6)


def _numpy_keras():
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "numpy":
        pytest.skip("Keras runs on another backend in this process")
    return keras


@pytest.mark.parametrize("n", [1, 7, 257])
@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.9, False), (0.0, True),
                                               (0.5, True)])
def test_rmsprop_rule(n, momentum, centered):
    """Keras 3's rule: lr * g / sqrt(s + eps) (eps under the root); with
    momentum the step accumulates; centered subtracts the mean gradient's
    square."""
    eps = 1e-2  # large enough that its place (under the root or not) shows
    w, s = rand(n), np.zeros(n, np.float32)
    m = np.zeros(n, np.float32) if momentum else None
    mg = np.zeros(n, np.float32) if centered else None
    w64, s64, m64, mg64 = w.astype(np.float64), np.zeros(n), np.zeros(n), np.zeros(n)
    for step in range(4):
        g = rand(n)
        g64 = g.astype(np.float64)
        ops.rmsprop_update(w, g, s, lr=0.01, rho=0.9, epsilon=eps, momentum=momentum, m=m,
                           mg=mg)
        s64 = 0.9 * s64 + 0.1 * g64 ** 2
        denom = s64 + eps
        if centered:
            mg64 = 0.9 * mg64 + 0.1 * g64
            denom = denom - mg64 ** 2
        inc = 0.01 * g64 / np.sqrt(denom)
        if momentum:
            m64 = momentum * m64 + inc
            inc = m64
        w64 -= inc
    np.testing.assert_allclose(w, w64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s, s64, rtol=1e-5, atol=1e-7)
    if momentum:
        np.testing.assert_allclose(m, m64, rtol=1e-5, atol=1e-7)
    if centered:
        np.testing.assert_allclose(mg, mg64, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.9, False), (0.0, True),
                                               (0.5, True)])
def test_rmsprop_matches_keras(momentum, centered):
    keras = _numpy_keras()
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=33).astype(np.float32)
    grads = [rng.normal(size=33).astype(np.float32) * 1e-2 for _ in range(5)]
    var = keras.Variable(w0.copy())
    opt = keras.optimizers.RMSprop(learning_rate=0.01, rho=0.8, epsilon=1e-3,
                                   momentum=momentum, centered=centered)
    w, s = w0.copy(), np.zeros(33, np.float32)
    m = np.zeros(33, np.float32) if momentum else None
    mg = np.zeros(33, np.float32) if centered else None
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        ops.rmsprop_update(w, g, s, lr=0.01, rho=0.8, epsilon=1e-3, momentum=momentum, m=m,
                           mg=mg)
    np.testing.assert_allclose(w, keras.ops.convert_to_numpy(var), rtol=1e-5, atol=1e-6)


def test_rmsprop_class_matches_keras():
    keras = _numpy_keras()
    rng = np.random.default_rng(4)
    w0 = rng.normal(size=7).astype(np.float32)
    var = keras.Variable(w0.copy())
    theirs = keras.optimizers.RMSprop(learning_rate=0.05)
    ours, w = pynn.optimizers.RMSprop(learning_rate=0.05), w0.copy()
    for _ in range(3):
        g = rng.normal(size=7).astype(np.float32) * 1e-4  # small: epsilon's place matters
        theirs.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        ours.apply(w, g)
    np.testing.assert_allclose(w, keras.ops.convert_to_numpy(var), rtol=1e-5, atol=1e-6)


def test_rmsprop_momentum_needs_its_buffer():
    w, s = np.zeros(3, np.float32), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="RMSprop: momentum > 0 needs its buffer m"):
        ops.rmsprop_update(w, w.copy(), s, momentum=0.9)
    with pytest.raises(ValueError, match="RMSprop: variable and momentum"):
        ops.rmsprop_update(w, w.copy(), s, momentum=0.9, m=np.zeros(4, np.float32))


def test_adam_rule():
    w, m, v = rand(257), np.zeros(257, np.float32), np.zeros(257, np.float32)
    w64, m64, v64 = w.astype(np.float64), np.zeros(257), np.zeros(257)
    for t in range(1, 5):
        g = rand(257)
        ops.adam_update(w, g, m, v, t, lr=0.01)
        m64 += (g - m64) * 0.1
        v64 += (g.astype(np.float64) ** 2 - v64) * 0.001
        w64 -= 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m64 / (np.sqrt(v64) + 1e-7)
    np.testing.assert_allclose(w, w64, rtol=1e-5, atol=1e-6)


def test_optimizer_classes_and_lr_alias():
    opt = pynn.optimizers.RMSprop(lr=0.01)
    assert opt.learning_rate == pytest.approx(0.01)
    opt.learning_rate = 0.5
    assert opt.lr == pytest.approx(0.5)
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    pynn.optimizers.get("sgd").apply(p, g)
    np.testing.assert_allclose(p, 0.99)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        pynn.optimizers.get("adamw2")


# ------------------------------------------------------------- elementwise

def test_dropout_rate_scale_mask_and_thread_independence():
    x = np.ones(100_000, np.float32)
    y, mask = ops.dropout(x, 0.3, seed=42)
    assert abs(mask.mean() - 0.7) < 0.01
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    dx = ops.dropout_grad(np.ones_like(x), mask, 0.3)
    np.testing.assert_array_equal(dx, y)
    pynn.set_num_threads(1)
    try:
        y1, _ = ops.dropout(x, 0.3, seed=42)
    finally:
        pynn.set_num_threads(2)
    np.testing.assert_array_equal(y, y1)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8])
def test_gather_rows(dtype):
    src = (rng.random((50, 3, 4)) * 100).astype(dtype)
    idx = rng.permutation(50)[:17]
    np.testing.assert_array_equal(ops.gather_rows(src, idx), src[idx])
    with pytest.raises(IndexError):
        ops.gather_rows(src, [50])


def test_gather_rows_into_out_checks_as_without():
    """With ``out`` (training's batches), an int64 index goes straight to
    the bridge; negative indices, other index types and a wrong ``out``
    still get the checks and messages of the general path."""
    src = rng.random((50, 3, 4)).astype(np.float32)
    idx = rng.permutation(50)[:17]
    out = np.empty((17, 3, 4), np.float32)
    assert ops.gather_rows(src, idx, out) is out
    np.testing.assert_array_equal(out, src[idx])
    neg = idx - 50
    np.testing.assert_array_equal(ops.gather_rows(src, neg, np.empty_like(out)), src[idx])
    np.testing.assert_array_equal(ops.gather_rows(src, idx.astype(np.int32),
                                                  np.empty_like(out)), src[idx])
    for bad in (50, -51):
        dst = np.zeros((2, 3, 4), np.float32)
        with pytest.raises(IndexError, match=f"gather_rows: index {bad} is out of range"):
            ops.gather_rows(src, np.array([0, bad]), dst)
        assert not dst.any()  # nothing copied before the refusal
    for wrong in (np.empty((17, 12), np.float32), np.empty((17, 3, 4), np.float64),
                  np.empty((18, 3, 4), np.float32), np.empty((17, 3, 4), np.float32)[:, ::-1]):
        with pytest.raises(ValueError, match="gather_rows: out must be"):
            ops.gather_rows(src, idx, wrong)
    frozen = np.empty_like(out)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="gather_rows: out must be"):
        ops.gather_rows(src, idx, frozen)


def test_all_finite():
    x = rand(257)
    assert ops.all_finite(x)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[123] = bad
        assert not ops.all_finite(y)


def test_kernels_flush_denormals_but_leave_the_callers_state_alone():
    tiny = np.float32(1e-39)  # a denormal float32
    a = np.full((64, 64), tiny, np.float32)
    # Inside the kernels denormals are flushed to zero (they would cost
    # ~100 cycles per operation), ...
    assert np.all(ops.matmul(a, np.ones((64, 64), np.float32)) == 0)
    # ... and the caller's floating-point state is as it was.
    assert np.float32(tiny * np.float32(2)) > 0
    threads = pynn.get_num_threads()
    pynn.set_num_threads(1)
    try:
        ops.relu(a)
        assert np.float32(tiny * np.float32(2)) > 0
    finally:
        pynn.set_num_threads(threads)


@pytest.mark.parametrize("m, n, k", [(33, 129, 257), (100, 65, 1000), (7, 401, 513)])
@pytest.mark.parametrize("tb", [True, False])
def test_matmul_repeated_on_both_cores_with_unequal_k_slices(m, n, k, tb):
    # Few rows: each thread packs and uses its own panels of B (or reads
    # the whole ones in place, B row-major), slice after slice with no
    # barrier; slices of different depth must not make one thread's
    # packing overrun a panel another thread still reads.  (Every shape
    # here is past the million multiply-adds that take a second thread.)
    for _ in range(20):
        a, b = rand(m, k), (rand(n, k).T if tb else rand(k, n))
        want = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(ops.matmul(a, b), want, rtol=1e-4, atol=1e-3)
