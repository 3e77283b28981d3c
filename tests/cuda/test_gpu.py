"""The CUDA kernels against the CPU kernels (themselves checked against
float64 references in tests/ops), over the same cases: every pynn.ops
function with a GPU kernel gets device arrays and must agree with its CPU
result to 1e-5 relative (1e-3 with TF32).  Then models placed on the GPU:
their gradients, a few training steps and predictions against the same
model on the CPU, saving, and the MNIST accuracy bars.

Runs where pynn.cuda finds a GPU; tests/cuda/test_emulated.py also runs it
on the CPU emulator of the CUDA runtime (where the long trainings are
skipped).
"""
import itertools

import numpy as np
import pytest

import pynn
from pynn import cuda, layers, ops

if not cuda.is_available():
    pytest.skip(f"no CUDA device ({cuda.unavailable_reason()})", allow_module_level=True)

EMULATED = cuda.device_name(0).startswith("CUDA emulator")


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def dev(a):
    return cuda.to_device(a)


def host(a):
    return a.to_numpy() if isinstance(a, cuda.DeviceArray) else np.asarray(a)


def close(got, want, rtol=1e-5):
    """Agreement relative to the reference's magnitude (sums of many terms
    differ by their rounding, not by their size)."""
    got, want = host(got), host(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.size == 0:
        return
    err = np.abs(got.astype(np.float64) - want).max()
    assert err <= rtol * max(np.abs(want).max(), 1.0), f"max error {err}"


ACTIVATIONS = sorted(ops.ACTIVATIONS)


# ------------------------------------------------------------ device arrays

def test_device_array_round_trip_views_and_assignment():
    a = rand(4, 6)
    d = cuda.DeviceArray.from_numpy(a)
    assert (d.shape, d.dtype, d.size, d.ndim, d.nbytes) == ((4, 6), np.float32, 24, 2, 96)
    np.testing.assert_array_equal(np.asarray(d), a)
    np.testing.assert_array_equal(d.reshape(2, -1).to_numpy(), a.reshape(2, 12))
    np.testing.assert_array_equal(d[1:3].to_numpy(), a[1:3])
    np.testing.assert_array_equal(d[2].to_numpy(), a[2])
    np.testing.assert_array_equal(d[:, None].to_numpy(), a[:, None])
    np.testing.assert_array_equal(d[:, None][:, 0].to_numpy(), a)
    with pytest.raises(IndexError, match="first axis"):
        d[:, 1:3]
    d[1:3] = np.ones((2, 6), np.float32)
    d[0] = 5.0
    want = a.copy()
    want[1:3], want[0] = 1.0, 5.0
    np.testing.assert_array_equal(d.to_numpy(), want)
    e = d.copy()
    d[...] = 0.0
    np.testing.assert_array_equal(e.to_numpy(), want)
    assert not d.to_numpy().any()
    ids = cuda.to_device(np.arange(5, dtype=np.int64))
    np.testing.assert_array_equal(ids.to_numpy(), np.arange(5))
    assert cuda.to_device(np.ones(3)).dtype == np.float32  # float64 becomes float32
    with pytest.raises(TypeError, match="float32, int32, int64, uint8 or float64"):
        cuda.to_device(np.ones(3, np.complex64))


def test_mixing_host_and_device_arrays_is_a_type_error():
    a, b = rand(3, 4), rand(4, 2)
    with pytest.raises(TypeError, match="do not mix"):
        ops.matmul(dev(a), b)
    with pytest.raises(TypeError, match="do not mix"):
        ops.matmul(a, dev(b))
    with pytest.raises(TypeError, match="do not mix"):
        ops.conv2d(dev(rand(1, 5, 5, 2)), rand(3, 3, 2, 4))
    with pytest.raises(TypeError, match="do not mix"):
        ops.sparse_loss(dev(np.zeros(3, np.int32)), rand(3, 4))
    with pytest.raises(TypeError, match="DeviceArray"):
        ops.embedding(dev(rand(10, 3)), np.zeros(2, np.int64))  # no GPU kernel


# ------------------------------------------------------------------ matmul

@pytest.mark.parametrize("m", [1, 7, 33, 257])
@pytest.mark.parametrize("n", [1, 7, 33])
@pytest.mark.parametrize("k", [1, 33, 257])
def test_matmul(m, n, k):
    a, b = rand(m, k, seed=m), rand(k, n, seed=n + 1)
    got = ops.matmul(dev(a), dev(b))
    assert isinstance(got, cuda.DeviceArray)
    close(got, ops.matmul(a, b))


def test_matmul_accumulates_and_splits_long_products():
    a, b, c = rand(7, 33), rand(33, 5, seed=1), rand(7, 5, seed=2)
    out = dev(c)
    ops.matmul(dev(a), dev(b), out=out, alpha=2.0, beta=0.5)
    close(out, ops.matmul(a, b, out=c.copy(), alpha=2.0, beta=0.5))
    nan = dev(np.full((7, 5), np.nan, np.float32))
    assert np.isfinite(ops.matmul(dev(a), dev(b), out=nan).to_numpy()).all()
    # few output tiles and a long K: the product is split along K
    a, b = rand(40, 3000, seed=3), rand(3000, 20, seed=4)
    close(ops.matmul(dev(a), dev(b)), ops.matmul(a, b))


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", [(4, 4, 4), (132, 260, 36), (260, 12, 1032)])
def test_products_of_rows_read_four_floats_at_a_time(ta, tb, m, n, k):
    """Sizes that are multiples of 4 (rows on 16-byte boundaries) take the
    float4 kernel: partial tiles at every edge, each transposition, a batch,
    and a long K split over blocks."""
    a = rand(3, k, m) if ta else rand(3, m, k)
    b = rand(3, n, k, seed=1) if tb else rand(3, k, n, seed=1)
    close(ops.batch_matmul(dev(a), dev(b), ta, tb), ops.batch_matmul(a, b, ta, tb))
    a2, b2 = rand(m, k, seed=2), rand(k, n, seed=3)
    close(ops.matmul(dev(a2), dev(b2)), ops.matmul(a2, b2))
    a, b = rand(8, 4096, seed=4), rand(4096, 4, seed=5)  # split along K
    close(ops.matmul(dev(a), dev(b)), ops.matmul(a, b))


@pytest.mark.skipif(EMULATED, reason="TF32 needs tensor cores (not emulated)")
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_matmul_tf32(ta, tb):
    """Rows on 16-byte boundaries run on the tensor cores (the product is
    then not float32's, bit for bit); others keep the float32 kernels."""
    a = rand(2, 300, 260) if ta else rand(2, 260, 300)
    b = rand(2, 132, 300, seed=1) if tb else rand(2, 300, 132, seed=1)
    a2, b2 = rand(257, 300, seed=2), rand(300, 129, seed=3)
    fp32 = ops.batch_matmul(dev(a), dev(b), ta, tb).to_numpy()
    cuda.matmul.allow_tf32 = True
    try:
        got = ops.batch_matmul(dev(a), dev(b), ta, tb)
        unaligned = ops.matmul(dev(a2), dev(b2))
    finally:
        cuda.matmul.allow_tf32 = False
    close(got, ops.batch_matmul(a, b, ta, tb), rtol=1e-3)
    assert not np.array_equal(got.to_numpy(), fp32)
    close(unaligned, ops.matmul(a2, b2))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 33, 10), (65, 257, 130)])
def test_dense_and_its_gradient(activation, m, k, n):
    x, w, b = rand(m, k), rand(k, n, seed=1, scale=0.2), rand(n, seed=2)
    y = ops.dense(dev(x), dev(w), dev(b), activation)
    want = ops.dense(x, w, b, activation)
    close(y, want)
    pre = ops.dense(x, w, b)
    dy = rand(m, n, seed=3)
    dw, db = np.empty_like(w), np.empty_like(b)
    want_dx = ops.dense_grad(x, w, dy, activation, y=want, pre=pre, kernel_grad=dw,
                             bias_grad=db)
    gdw, gdb = cuda.empty(w.shape), cuda.empty(b.shape)
    dx = ops.dense_grad(dev(x), dev(w), dev(dy), activation, y=dev(want), pre=dev(pre),
                        kernel_grad=gdw, bias_grad=gdb)
    close(dx, want_dx)
    close(gdw, dw)
    close(gdb, db)


# ------------------------------------------------------------- activations

@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (33, 257), (3, 1000), (2, 3, 5)])
def test_activation_and_its_gradient(activation, shape):
    x = rand(*shape, scale=3.0)
    b = rand(shape[-1], seed=1)
    y = ops.activation(x, activation, bias=b)
    close(ops.activation(dev(x), activation, bias=dev(b)), y)
    pre = x + b
    dy = rand(*shape, seed=2)
    close(ops.activation_grad(activation, dev(pre), dev(y), dev(dy)),
          ops.activation_grad(activation, pre, y, dy))
    out = dev(x)
    ops.activation(out, activation, out=out)  # in place
    close(out, ops.activation(x, activation))


@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (257, 3), (4, 5, 6), (50001, 40)])
def test_bias_grad_and_softmax(shape):
    dy = rand(*shape)
    close(ops.bias_grad(dev(dy)), ops.bias_grad(dy))
    close(ops.softmax(dev(dy * 30)), ops.softmax(dy * 30))


# ------------------------------------------------------------------ losses

@pytest.mark.parametrize("kind", sorted(ops.LOSS_KINDS))
@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 10), (128, 33)])
@pytest.mark.parametrize("weighted", [False, True])
def test_losses(kind, rows, cols, weighted):
    logits = rand(rows, cols, scale=2.0)
    probs = ops.softmax(logits) if "categorical" in kind else ops.sigmoid(logits)
    pred = logits if kind in ("softmax_crossentropy", "sigmoid_crossentropy", "mean_squared_error",
                              "mean_absolute_error") else probs
    target = ops.softmax(rand(rows, cols, seed=1)) if "categorical" in kind or \
        "softmax" in kind else (rand(rows, cols, seed=1) > 0).astype(np.float32)
    w = np.abs(rand(rows, seed=2)) if weighted else None
    grad = np.empty_like(pred)
    want = ops.loss(kind, target, pred, w, 50.0, grad)
    dgrad = cuda.empty(pred.shape)
    got = ops.loss(kind, dev(target), dev(pred), None if w is None else dev(w), 50.0, dgrad)
    close(got, want)
    close(dgrad, grad)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 10), (128, 33)])
def test_sparse_loss_and_accuracy(from_logits, rows, cols):
    logits = rand(rows, cols, scale=2.0)
    pred = logits if from_logits else ops.softmax(logits)
    labels = np.random.default_rng(1).integers(0, cols, rows).astype(np.int32)
    w = np.abs(rand(rows, seed=2))
    grad = np.empty_like(pred)
    want = ops.sparse_loss(labels, pred, from_logits, w, None, grad)
    dgrad = cuda.empty(pred.shape)
    close(ops.sparse_loss(dev(labels), dev(pred), from_logits, dev(w), None, dgrad), want)
    close(dgrad, grad)
    for kind, target in (("sparse", labels), ("categorical", np.eye(cols, dtype=np.float32)[labels]),
                         ("binary", (rand(rows, cols, seed=3) > 0).astype(np.float32))):
        assert ops.accuracy_count(kind, dev(target), dev(pred), dev(w)) == \
            pytest.approx(ops.accuracy_count(kind, target, pred, w), rel=1e-6)
    bad = labels.copy()
    bad[0] = cols
    with pytest.raises(ValueError, match="outside"):
        ops.sparse_loss(dev(bad), dev(pred), from_logits)


# -------------------------------------------------------------- optimizers

@pytest.mark.parametrize("n", [1, 7, 4097, 100003])
def test_optimizer_updates_and_penalties(n):
    w0, g = rand(n), rand(n, seed=1)
    for name, slots, step in (
            ("sgd", 0, lambda w, g, s, t: ops.sgd_update(w, g, None, 0.1)),
            ("momentum", 1, lambda w, g, s, t: ops.sgd_update(w, g, s[0], 0.1, 0.9)),
            ("nesterov", 1, lambda w, g, s, t: ops.sgd_update(w, g, s[0], 0.1, 0.9, True)),
            ("rmsprop", 1, lambda w, g, s, t: ops.rmsprop_update(w, g, s[0], 0.01)),
            ("rmsprop_momentum_centered", 3,
             lambda w, g, s, t: ops.rmsprop_update(w, g, s[0], 0.01, momentum=0.9, m=s[1],
                                                   mg=s[2])),
            ("adam", 2, lambda w, g, s, t: ops.adam_update(w, g, s[0], s[1], t, 0.01))):
        w, hs = w0.copy(), [np.zeros(n, np.float32) for _ in range(slots)]
        dw, ds = dev(w0), [cuda.zeros((n,)) for _ in range(slots)]
        for t in range(1, 4):
            step(w, g, hs, t)
            step(dw, dev(g), ds, t)
        close(dw, w)
        for a, b in zip(ds, hs):
            close(a, b)
    grad, dgrad = g.copy(), dev(g)
    want = ops.weight_penalty(w0, 0.01, 0.02, grad=grad)
    assert ops.weight_penalty(dev(w0), 0.01, 0.02, grad=dgrad) == pytest.approx(want, rel=1e-5)
    close(dgrad, grad)


# ------------------------------------------------------------- elementwise

@pytest.mark.parametrize("n", [1, 7, 33, 100003])
@pytest.mark.parametrize("offset", [0, 5, (1 << 32) - 3])
def test_dropout_draws_the_cpu_mask(n, offset):
    x = rand(n)
    y, mask = ops.dropout(x, 0.3, 1234, offset=offset)
    dy_, dmask = ops.dropout(dev(x), 0.3, 1234, offset=offset)
    np.testing.assert_array_equal(dmask.to_numpy(), mask)
    close(dy_, y)
    g = rand(n, seed=1)
    close(ops.dropout_grad(dev(g), dmask, 0.3), ops.dropout_grad(g, mask, 0.3))


def test_gather_finite_and_merges():
    src = rand(50, 3, 4)
    idx = np.random.default_rng(0).integers(0, 50, 17)
    close(ops.gather_rows(dev(src), idx), ops.gather_rows(src, idx))
    labels = np.arange(50, dtype=np.int32)
    np.testing.assert_array_equal(ops.gather_rows(dev(labels), idx).to_numpy(), labels[idx])
    with pytest.raises(IndexError, match="out of range"):
        ops.gather_rows(dev(src), [50])
    assert ops.all_finite(dev(src))
    bad = src.copy()
    bad[3, 1, 2] = np.inf
    assert not ops.all_finite(dev(bad))
    a, b = rand(7, 33), rand(7, 33, seed=1)
    b[0, 0] = np.nan
    for name in ("add", "subtract", "multiply", "maximum", "minimum"):
        np.testing.assert_allclose(getattr(ops, name)(dev(a), dev(b)).to_numpy(),
                                   getattr(ops, name)(a, b), rtol=1e-6, equal_nan=True)
    close(ops.axpby(2.0, dev(a), -0.5, dev(a)), ops.axpby(2.0, a, -0.5, a))
    c = rand(7, 33, seed=2)
    y = ops.maximum(ops.maximum(a, c), a)
    dy = rand(7, 33, seed=3)
    got = ops.extremum_grad([dev(a), dev(c), dev(a)], dev(y), dev(dy))
    for g, w in zip(got, ops.extremum_grad([a, c, a], y, dy)):
        np.testing.assert_array_equal(g.to_numpy(), w)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_its_gradient(axis):
    xs = [rand(3, 4, 5, seed=i) for i in range(3)]
    xs[1] = rand(*[2 if i == axis % 3 else d for i, d in enumerate((3, 4, 5))], seed=1)
    y = ops.concatenate(xs, axis)
    close(ops.concatenate([dev(x) for x in xs], axis), y)
    dy = rand(*y.shape, seed=9)
    sizes = [x.shape[axis] for x in xs]
    for g, w in zip(ops.concatenate_grad(dev(dy), sizes, axis), ops.concatenate_grad(dy, sizes, axis)):
        close(g, w)


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_batch_matmul_and_l2_normalize(ta, tb):
    a = rand(4, 9, 7) if ta else rand(4, 7, 9)
    b = rand(4, 5, 9, seed=1) if tb else rand(4, 9, 5, seed=1)
    close(ops.batch_matmul(dev(a), dev(b), ta, tb), ops.batch_matmul(a, b, ta, tb))
    x = rand(6, 33)
    x[2] = 0.0
    n_host, n_dev = np.empty(6, np.float32), cuda.empty((6,))
    y = ops.l2_normalize(x, norms=n_host)
    close(ops.l2_normalize(dev(x), norms=n_dev), y)
    close(n_dev, n_host)
    dy = rand(6, 33, seed=2)
    close(ops.l2_normalize_grad(dev(x), dev(y), n_dev, dev(dy)),
          ops.l2_normalize_grad(x, y, n_host, dy))


# ----------------------------------------------------------- convolution

SIZES = [(1, 1), (7, 9), (28, 28)]
COMBOS = [c for c in itertools.product(SIZES, [1, 3, 32], [1, 3, 5], [1, 2], [1, 2],
                                       ["valid", "same"])
          if not (c[3] > 1 and c[4] > 1)
          and (c[5] == "same" or min(c[0]) >= (c[2] - 1) * c[4] + 1)]
if EMULATED:  # every fifth case: the emulator runs each GPU thread on the CPU
    COMBOS = COMBOS[::5]


@pytest.mark.parametrize("size,cin,ksize,stride,dilation,padding", COMBOS)
def test_conv2d_and_its_gradients(size, cin, ksize, stride, dilation, padding):
    x = rand(2, *size, cin, seed=cin)
    k = rand(ksize, ksize, cin, 4, seed=ksize)
    bias = rand(4, seed=7)
    s, d = (stride, stride), (dilation, dilation)
    y = ops.conv2d(x, k, bias, s, padding, d)
    close(ops.conv2d(dev(x), dev(k), dev(bias), s, padding, d), y)
    dy = rand(*y.shape, seed=11)
    dk, db = np.empty_like(k), np.empty_like(bias)
    dx = ops.conv2d_grad(x, k, dy, s, padding, d, kernel_grad=dk, bias_grad=db)
    gdk, gdb = cuda.empty(k.shape), cuda.empty(bias.shape)
    gdx = ops.conv2d_grad(dev(x), dev(k), dev(dy), s, padding, d, kernel_grad=gdk,
                          bias_grad=gdb)
    close(gdx, dx)
    close(gdk, dk)
    close(gdb, db)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "sigmoid", "softmax", "swish"])
def test_conv2d_fused_activation_and_its_gradient(activation):
    x, k, b = rand(3, 9, 8, 5), rand(3, 3, 5, 6, seed=1, scale=0.3), rand(6, seed=2)
    y = ops.conv2d(x, k, b, 2, "same", activation=activation)
    close(ops.conv2d(dev(x), dev(k), dev(b), 2, "same", activation=activation), y)
    pre = ops.conv2d(x, k, b, 2, "same")
    dy = rand(*y.shape, seed=3)
    dk = np.empty_like(k)
    dx = ops.conv2d_grad(x, k, dy, 2, "same", kernel_grad=dk, activation=activation, y=y,
                         pre=pre)
    gdk = cuda.empty(k.shape)
    gdx = ops.conv2d_grad(dev(x), dev(k), dev(dy), 2, "same", kernel_grad=gdk,
                          activation=activation, y=dev(y), pre=dev(pre))
    close(gdx, dx)
    close(gdk, dk)


def test_conv1d_causal():
    x, k = rand(3, 10, 4), rand(3, 4, 5, seed=1)
    close(ops.conv1d(dev(x), dev(k), padding="causal", dilation_rate=2),
          ops.conv1d(x, k, padding="causal", dilation_rate=2))


@pytest.mark.parametrize("mult,stride,dilation,padding", [
    (1, 1, 1, "valid"), (1, 2, 1, "same"), (2, 1, 2, "same"), (3, 2, 1, "valid"),
    (1, 1, 2, "valid")])
@pytest.mark.parametrize("cin", [1, 3, 32])
def test_depthwise_conv2d_and_its_gradients(mult, stride, dilation, padding, cin):
    x, k, b = rand(3, 9, 8, cin), rand(3, 3, cin, mult, seed=1), rand(cin * mult, seed=2)
    s, d = (stride, stride), (dilation, dilation)
    y = ops.depthwise_conv2d(x, k, b, s, padding, d)
    close(ops.depthwise_conv2d(dev(x), dev(k), dev(b), s, padding, d), y)
    dy = rand(*y.shape, seed=5)
    dk, db = np.empty_like(k), np.empty_like(b)
    dx = ops.depthwise_conv2d_grad(x, k, dy, s, padding, d, kernel_grad=dk, bias_grad=db)
    gdk, gdb = cuda.empty(k.shape), cuda.empty(b.shape)
    close(ops.depthwise_conv2d_grad(dev(x), dev(k), dev(dy), s, padding, d, kernel_grad=gdk,
                                    bias_grad=gdb), dx)
    close(gdk, dk)
    close(gdb, db)


# --------------------------------------------------------------- pooling

POOLS = [((2, 2), None, "valid"), ((2, 2), None, "same"), ((3, 3), (2, 2), "valid"),
         ((3, 3), (2, 2), "same"), ((3, 2), (1, 2), "same"), ((2, 2), (1, 1), "valid")]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool,strides,padding", POOLS)
@pytest.mark.parametrize("shape", [(2, 7, 9, 3), (3, 28, 28, 32), (1, 5, 5, 1)])
def test_pooling_and_its_gradient(kind, pool, strides, padding, shape):
    x = rand(*shape)
    x[0, 0, :2, 0] = 7.0  # a tie: the first maximum takes the gradient
    forward = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    y = forward(x, pool, strides, padding)
    gy = forward(dev(x), pool, strides, padding)
    close(gy, y)
    dy = rand(*y.shape, seed=1)
    if kind == "max":
        want = ops.max_pool2d_grad(dy, x, y, pool, strides, padding)
        got = ops.max_pool2d_grad(dev(dy), dev(x), gy, pool, strides, padding)
    else:
        want = ops.avg_pool2d_grad(dy, x.shape, pool, strides, padding)
        got = ops.avg_pool2d_grad(dev(dy), x.shape, pool, strides, padding)
    close(got, want)


def test_global_pools_and_their_gradients():
    x = rand(3, 5, 7, 4)
    dy = rand(3, 4, seed=1)
    for kind, forward in (("avg", ops.global_avg_pool2d), ("max", ops.global_max_pool2d)):
        y = forward(x)
        gy = forward(dev(x))
        close(gy, y)
        close(ops.global_pool2d_grad(kind, dev(dy), dev(x), gy),
              ops.global_pool2d_grad(kind, dy, x, y))


# --------------------------------------------------------- normalization

@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 33), (1000, 3), (64, 100)])
def test_batch_normalization_kernels(rows, cols):
    x = rand(rows, cols, scale=3.0) + 5.0
    mean, var = ops.moments(x)
    gmean, gvar = ops.moments(dev(x))
    close(gmean, mean)
    close(gvar, var)
    gamma, beta = rand(cols, seed=1), rand(cols, seed=2)
    scale, shift, inv_std = ops.batch_norm_affine(mean, var, gamma, beta, 1e-3)
    for g, w in zip(ops.batch_norm_affine(dev(mean), dev(var), dev(gamma), dev(beta), 1e-3),
                    (scale, shift, inv_std)):
        close(g, w)
    close(ops.channel_affine(dev(x), dev(scale), dev(shift)), ops.channel_affine(x, scale, shift))
    dy = rand(rows, cols, seed=3)
    dg, db = np.empty(cols, np.float32), np.empty(cols, np.float32)
    dx = ops.batch_norm_grad(x, dy, mean, inv_std, gamma, dg, db)
    gdg, gdb = cuda.empty((cols,)), cuda.empty((cols,))
    close(ops.batch_norm_grad(dev(x), dev(dy), dev(mean), dev(inv_std), dev(gamma), gdg, gdb),
          dx)
    close(gdg, dg)
    close(gdb, db)
    moving = dev(mean)
    ops.moving_average(moving, dev(var), 0.99)
    close(moving, ops.moving_average(mean.copy(), var, 0.99))
    k, b = rand(3, 3, 2, cols, seed=4), rand(cols, seed=5)
    for g, w in zip(ops.fold_affine(dev(k), dev(b), dev(scale), dev(shift)),
                    ops.fold_affine(k, b, scale, shift)):
        close(g, w)


# ------------------------------------------------------------------ models

def mlp(seed=0):
    pynn.utils.set_random_seed(seed)
    model = pynn.Sequential([pynn.Input((20,)), layers.Dense(32, activation="relu"),
                             layers.Dropout(0.2), layers.Dense(16, activation="tanh"),
                             layers.Dense(5, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def convnet(seed=0):
    pynn.utils.set_random_seed(seed)
    model = pynn.Sequential([
        pynn.Input((12, 12, 3)), layers.Conv2D(8, 3, activation="relu", padding="same"),
        layers.BatchNormalization(), layers.MaxPooling2D(),
        layers.DepthwiseConv2D(3, padding="same"), layers.Conv2D(6, 3, strides=2),
        layers.AveragePooling2D(1), layers.Flatten(), layers.Dropout(0.3),
        layers.Dense(4, activation="softmax")])
    model.compile(optimizer=pynn.optimizers.SGD(0.05, momentum=0.9),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def data(model, n=64, seed=0):
    shape = model.input_shape[1:]
    x = rand(n, *shape, seed=seed)
    classes = model.output_shape[-1]
    labels = np.random.default_rng(seed).integers(0, classes, n)
    y = labels if model.loss.sparse else np.eye(classes, dtype=np.float32)[labels]
    return x, y


@pytest.mark.parametrize("make", [
    lambda: pynn.optimizers.Adafactor(0.05), lambda: pynn.optimizers.Lamb(0.01),
    lambda: pynn.optimizers.LossScaleOptimizer(pynn.optimizers.Adam(0.01),
                                               dynamic_growth_steps=3),
    lambda: pynn.optimizers.LossScaleOptimizer(pynn.optimizers.Lamb(0.01),
                                               initial_scale=2.0 ** 127)])
def test_per_variable_and_loss_scaling_optimizers_on_the_gpu(make):
    """Adafactor and Lamb step on the host; LossScaleOptimizer checks the
    scaled gradients there: the GPU model trains as the CPU one."""
    cpu, gpu = mlp(), mlp()
    for m in (cpu, gpu):
        m.compile(optimizer=make(), loss="categorical_crossentropy")
    x, y = data(cpu)
    with pynn.device("cpu"):
        pynn.utils.set_random_seed(5)  # the same dropout masks
        cpu.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    with pynn.device("gpu:0"):
        pynn.utils.set_random_seed(5)
        gpu.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for wc, wg in zip(cpu.get_weights(), gpu.get_weights()):
        close(wg, wc, rtol=1e-4)
    assert gpu.optimizer.iterations == cpu.optimizer.iterations
    assert getattr(gpu.optimizer, "dynamic_scale", None) == \
        getattr(cpu.optimizer, "dynamic_scale", None)


@pytest.mark.parametrize("build", [mlp, convnet])
def test_training_on_the_gpu_follows_the_cpu(build, tmp_path):
    cpu, gpu = build(), build()
    x, y = data(cpu)
    with pynn.device("cpu"):
        pynn.utils.set_random_seed(5)  # the same dropout masks
        hist_cpu = cpu.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    with pynn.device("gpu:0"):
        pynn.utils.set_random_seed(5)
        hist_gpu = gpu.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        assert isinstance(gpu.layers[0].weights[0].value, cuda.DeviceArray)
    for wc, wg in zip(cpu.get_weights(), gpu.get_weights()):
        assert isinstance(wg, np.ndarray)
        close(wg, wc, rtol=1e-4)
    np.testing.assert_allclose(hist_gpu.history["loss"], hist_cpu.history["loss"], rtol=1e-4)
    # outside the scope the model stays where it last ran
    close(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), rtol=1e-4)
    assert gpu.evaluate(x, y, verbose=0) == pytest.approx(cpu.evaluate(x, y, verbose=0),
                                                          rel=1e-4)
    # saving reads the weights (and the optimizer's state) back from the GPU
    gpu.save(tmp_path / "m.pynn")
    again = pynn.models.load_model(tmp_path / "m.pynn")
    with pynn.device("cpu"):
        close(again.predict(x, verbose=0), cpu.predict(x, verbose=0), rtol=1e-4)
    # and the model moves back to the CPU when asked
    with pynn.device("cpu"):
        gpu.fit(x, y, epochs=1, verbose=0)
    assert isinstance(gpu.layers[0].weights[0].value, np.ndarray)


def test_export_of_a_model_trained_on_the_gpu(tmp_path):
    pytest.importorskip("tflite")
    model = mlp()
    x, y = data(model)
    with pynn.device("gpu:0"):
        model.fit(x, y, epochs=1, verbose=0)
    model.export_tflite(tmp_path / "m.tflite")
    model.export_tflite(tmp_path / "q.tflite", quantize="int8",
                        representative_dataset=lambda: ([x[i:i + 1]] for i in range(16)))
    assert (tmp_path / "q.tflite").stat().st_size > 0
    # calibration ran on the host; the model is back on the GPU
    assert isinstance(model.layers[0].kernel.value, cuda.DeviceArray)
    with pynn.device("cpu"):
        want = model.predict(x, verbose=0)
    with pynn.device("gpu:0"):
        close(model.predict(x, verbose=0), want, rtol=1e-4)


def test_gpu_gradients_match_the_cpu_gradients():
    """tests/layers check the CPU gradients against finite differences."""
    import gradcheck
    for build in (mlp, convnet):
        cpu, gpu = build(1), build(1)
        x, y = data(cpu, 8, seed=3)
        with pynn.device("cpu"):
            cpu._place()
            pynn.utils.set_random_seed(5)  # the same dropout masks
            _, g_cpu = gradcheck.analytic(cpu, x, y)
        with pynn.device("gpu:0"):
            gpu._place()
            pynn.utils.set_random_seed(5)
            xs, ys = gradcheck._lists(gpu, x, y)
            params, grads = gpu._flat_parameters()
            state = gpu._training_state()
            outs = gpu._program.forward(gpu._inputs_to(0, xs, "x"), True, state)
            out_grads = []
            for spec, out, t in zip(gpu._compiled_outputs, outs, gpu._inputs_to(0, ys, "y")):
                g = cuda.empty(out.shape)
                spec.loss.compute(t, out, None, xs[0].shape[0], g, spec.fused)
                out_grads.append(g)
            gpu._program.backward(state, out_grads, object())
        close(grads, g_cpu, rtol=1e-4)


def test_show_config_names_the_gpu(capsys):
    pynn.show_config()
    out = capsys.readouterr().out
    assert cuda.device_name(0).split(" (")[0] in out


@pytest.mark.slow
@pytest.mark.skipif(EMULATED, reason="minutes of training: not under the emulator")
@pytest.mark.parametrize("example,bar", [("mnist_mlp", 0.83), ("mnist_cnn", 0.945)])
def test_mnist_examples_reach_their_accuracy_on_the_gpu(example, bar):
    """The CPU's bars (tests/models/test_examples.py) with the models on the
    GPU."""
    import os
    import re
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYNN_DEVICE="gpu:0", PYNN_OFFLINE="1")
    out = subprocess.run([sys.executable, os.path.join(root, "examples", f"{example}.py")],
                         capture_output=True, text=True, env=env, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    accuracy = float(re.search(r"Test accuracy: ([0-9.]+)", out.stdout).group(1))
    assert accuracy >= bar, out.stdout[-2000:]
