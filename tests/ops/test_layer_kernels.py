"""The kernels behind the reshaping, activation, noise and normalization
layers and the transposed convolution, against float64 NumPy references on
odd sizes: values, and gradients (directly, or through the adjoint identity
<dy, f(x)> = <f^T(dy), x> for the linear ones)."""
import itertools

import numpy as np
import pytest

import pynn
from pynn import ops


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def f64(a):
    return np.asarray(a, np.float64)


# ------------------------------------------------------------ pad, crop

@pytest.mark.parametrize("shape,pairs", [
    ((3, 7, 2), ((2, 1),)),
    ((1, 1, 1), ((0, 3),)),
    ((2, 7, 5, 3), ((1, 2), (0, 3))),
    ((1, 33, 1, 1), ((4, 0), (2, 2))),
    ((2, 3, 4, 5, 2), ((1, 0), (0, 2), (3, 1))),
])
def test_pad_and_crop_against_numpy(shape, pairs):
    x = rand(*shape)
    full = ((0, 0),) + pairs + ((0, 0),)
    np.testing.assert_array_equal(ops.spatial_pad(x, pairs), np.pad(x, full))
    np.testing.assert_array_equal(ops.spatial_pad(x, pairs, 1.5), np.pad(x, full, constant_values=1.5))
    padded = np.pad(x, full, constant_values=7.0)
    # crop is pad's inverse and its gradient
    np.testing.assert_array_equal(ops.spatial_crop(padded, pairs), x)


def test_crop_of_more_than_the_input_is_refused():
    with pytest.raises(ValueError, match="crop"):
        ops.spatial_crop(rand(1, 4, 3), ((3, 2),))
    with pytest.raises(ValueError, match="pairs"):
        ops.spatial_pad(rand(1, 4, 3), ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match=">= 0"):
        ops.spatial_pad(rand(1, 4, 3), ((-1, 1),))


# --------------------------------------------------------------- resize

def interpolation_matrix(size, out, mode, start=0, length=None, total=None):
    """(out x total) float64 matrix of the half-pixel resize of the window
    [start, start + length) of an axis of ``total`` values, written from
    TensorFlow's definition."""
    length = size if length is None else length
    total = size if total is None else total
    m = np.zeros((out, total))
    for o in range(out):
        if mode == "nearest":
            i = min(int(np.floor((o + 0.5) * length / out)), length - 1)
            m[o, start + i] = 1.0
            continue
        f = (o + 0.5) * length / out - 0.5
        lo = int(np.floor(f))
        t = f - lo
        if lo < 0:
            lo, t = 0, 0.0
        if lo >= length - 1:
            lo, t = length - 1, 0.0
        hi = min(lo + 1, length - 1)
        m[o, start + lo] += 1.0 - t
        m[o, start + hi] += t
    return m


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("h,w,oh,ow", [(7, 5, 14, 10), (7, 9, 3, 4), (1, 1, 3, 2),
                                       (33, 7, 5, 21), (6, 6, 6, 6), (4, 3, 9, 7)])
def test_resize_and_its_gradient_against_interpolation_matrices(mode, h, w, oh, ow):
    x = rand(2, h, w, 3, seed=h + w)
    my, mx = interpolation_matrix(h, oh, mode), interpolation_matrix(w, ow, mode)
    want = np.einsum("ah,nhwc,bw->nabc", my, f64(x), mx)
    np.testing.assert_allclose(ops.resize(x, (oh, ow), mode), want, rtol=1e-5, atol=1e-5)
    dy = rand(2, oh, ow, 3, seed=1)
    want_dx = np.einsum("ah,nabc,bw->nhwc", my, f64(dy), mx)
    np.testing.assert_allclose(ops.resize_grad(dy, x.shape, mode), want_dx, rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_resize_of_a_window(mode):
    x = rand(3, 9, 8, 2, seed=4)
    window = (2, 1, 5, 6)
    my = interpolation_matrix(9, 4, mode, 2, 5, 9)
    mx = interpolation_matrix(8, 7, mode, 1, 6, 8)
    np.testing.assert_allclose(ops.resize(x, (4, 7), mode, window),
                               np.einsum("ah,nhwc,bw->nabc", my, f64(x), mx), atol=1e-5)
    dy = rand(3, 4, 7, 2, seed=5)
    dx = ops.resize_grad(dy, x.shape, mode, window)
    np.testing.assert_allclose(dx, np.einsum("ah,nabc,bw->nhwc", my, f64(dy), mx), atol=1e-5)
    assert not dx[:, :2].any() and not dx[:, 7:].any()  # outside the window


def test_resize_geometry_follows_keras_crop_to_aspect_ratio():
    assert ops.resize_geometry(7, 9, (3, 3)) == (0, 0, 7, 9)
    assert ops.resize_geometry(7, 9, (3, 3), True) == (0, 1, 7, 7)
    assert ops.resize_geometry(10, 4, (2, 3), True) == (4, 0, 2, 4)
    with pytest.raises(ValueError, match="window"):
        ops.resize(rand(1, 4, 4, 1), (2, 2), window=(1, 1, 4, 4))
    with pytest.raises(ValueError, match="interpolation"):
        ops.resize(rand(1, 4, 4, 1), (2, 2), "hamming")


# ------------------------------------------------------ repeat, transpose

@pytest.mark.parametrize("shape,repeats,axis", [((3, 7, 2), 3, 1), ((1, 1), 5, 1),
                                                ((2, 33), 2, 0), ((2, 3, 4, 5), 7, 2)])
def test_repeat_and_its_gradient(shape, repeats, axis):
    x = rand(*shape)
    np.testing.assert_array_equal(ops.repeat(x, repeats, axis), np.repeat(x, repeats, axis))
    dy_shape = list(shape)
    dy_shape[axis] *= repeats
    dy = rand(*dy_shape, seed=2)
    split = dy_shape[:axis] + [shape[axis], repeats] + dy_shape[axis + 1:]
    want = f64(dy).reshape(split).sum(axis=axis + 1)
    np.testing.assert_allclose(ops.repeat_grad(dy, repeats, axis), want, atol=1e-5)


@pytest.mark.parametrize("shape", [(7,), (3, 33), (2, 7, 5), (1, 3, 1, 4), (2, 3, 2, 3, 2),
                                   (2, 1, 3, 1, 2, 1, 3, 2)])
def test_transpose_every_permutation_against_numpy(shape):
    x = rand(*shape)
    perms = list(itertools.permutations(range(len(shape))))
    if len(perms) > 30:
        perms = [perms[i] for i in np.random.default_rng(0).choice(len(perms), 30)]
    for perm in perms:
        np.testing.assert_array_equal(ops.transpose(x, perm), x.transpose(perm))


def test_transpose_refuses_bad_axes():
    with pytest.raises(ValueError, match="permutation"):
        ops.transpose(rand(2, 3), (0, 0))
    with pytest.raises(ValueError, match="out of range"):
        ops.transpose(rand(2, 3), (0, 2))


# ----------------------------------------------------- ReLU and PReLU

RELU_FORMS = [(0.0, None, 0.0), (0.0, 6.0, 0.0), (0.3, None, 0.0), (0.1, 2.5, 0.0),
              (0.0, None, 0.5), (0.2, 1.5, 0.4), (0.0, 0.7, 1.0)]


@pytest.mark.parametrize("slope,cap,threshold", RELU_FORMS)
def test_keras_relu_and_its_gradient(slope, cap, threshold):
    x = rand(7, 33, seed=3) * 3
    # Keras 3's ReLU, written out: x above the threshold (capped), the
    # slope times (x - threshold) below.
    xd = f64(x)
    top = xd if cap is None else np.minimum(xd, cap)
    want = np.where(xd > threshold, top, slope * (xd - threshold))
    y = ops.relu(x, negative_slope=slope, max_value=cap, threshold=threshold)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    dy = rand(7, 33, seed=4)
    d = np.where(xd > threshold, 1.0 if cap is None else (xd < cap).astype(float), slope)
    np.testing.assert_allclose(ops.relu_grad(x, y, dy, slope, cap, threshold), dy * d,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("alpha_shape", [(5, 4, 3), (1, 1, 3), (5, 1, 3), (1, 4, 1), (3,),
                                         (4, 3), (1,)])
def test_prelu_and_its_gradients(alpha_shape):
    x = rand(7, 5, 4, 3, seed=5)
    alpha = rand(*alpha_shape, seed=6)
    xd, ad = f64(x), f64(alpha)
    want = np.maximum(xd, 0) + ad * np.minimum(xd, 0)
    np.testing.assert_allclose(ops.prelu(x, alpha), want, atol=1e-6)
    dy = rand(7, 5, 4, 3, seed=7)
    da = np.empty_like(alpha)
    dx = ops.prelu_grad(x, alpha, dy, alpha_grad=da)
    np.testing.assert_allclose(dx, f64(dy) * np.where(xd > 0, 1.0, ad), atol=1e-6)
    full = f64(dy) * np.minimum(xd, 0)
    lead = full.ndim - len(alpha_shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(alpha_shape) if d == 1)
    np.testing.assert_allclose(da, full.sum(axis=axes).reshape(alpha_shape), rtol=1e-5,
                               atol=1e-5)


def test_prelu_refuses_an_alpha_that_does_not_broadcast():
    with pytest.raises(ValueError, match="broadcast"):
        ops.prelu(rand(2, 4, 3), rand(2, 3))


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_softmax_over_any_axis_and_its_gradient(axis):
    x = rand(3, 7, 5, seed=8)
    e = np.exp(f64(x) - f64(x).max(axis=axis, keepdims=True))
    want = e / e.sum(axis=axis, keepdims=True)
    y = ops.softmax(x, axis)
    np.testing.assert_allclose(y, want, atol=1e-6)
    dy = rand(3, 7, 5, seed=9)
    want_dx = want * (f64(dy) - (f64(dy) * want).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(ops.softmax_grad(y, dy, axis), want_dx, atol=1e-6)


# ------------------------------------------------------ normalization

def ref_group_norm(x, groups, gamma, beta, eps):
    x = f64(x)
    n, c = x.shape[0], x.shape[-1]
    g = x.reshape(n, -1, groups, c // groups)
    mean = g.mean(axis=(1, 3), keepdims=True)
    var = g.var(axis=(1, 3), keepdims=True)
    xhat = ((g - mean) / np.sqrt(var + eps)).reshape(x.shape)
    return xhat * f64(gamma) + f64(beta), xhat


def ref_group_norm_grads(x, dy, groups, gamma, eps):
    """(dx, dgamma, dbeta) in float64 from the closed form."""
    _, xhat = ref_group_norm(x, groups, np.ones(x.shape[-1]), np.zeros(x.shape[-1]), eps)
    dy = f64(dy)
    n, c = x.shape[0], x.shape[-1]
    g = f64(x).reshape(n, -1, groups, c // groups)
    inv = 1.0 / np.sqrt(g.var(axis=(1, 3), keepdims=True) + eps)
    gg = (dy * f64(gamma)).reshape(g.shape)
    xh = xhat.reshape(g.shape)
    dx = inv * (gg - gg.mean(axis=(1, 3), keepdims=True)
                - xh * (gg * xh).mean(axis=(1, 3), keepdims=True))
    sum_axes = tuple(range(x.ndim - 1))
    return dx.reshape(x.shape), (dy * xhat).sum(axis=sum_axes), dy.sum(axis=sum_axes)


@pytest.mark.parametrize("shape,groups", [((7, 33), 1), ((3, 5, 4, 6), 3), ((2, 7, 8), 8),
                                          ((1, 1, 1, 2), 2), ((5, 3, 3, 33), 1)])
def test_group_norm_and_its_gradients(shape, groups):
    x = rand(*shape, seed=10) * 2 + 3
    c = shape[-1]
    gamma, beta = rand(c, seed=11), rand(c, seed=12)
    want, _ = ref_group_norm(x, groups, gamma, beta, 1e-3)
    y, mean, inv_std = ops.group_norm(x, groups, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    dy = rand(*shape, seed=13)
    dg, db = np.empty(c, np.float32), np.empty(c, np.float32)
    dx = ops.group_norm_grad(x, dy, mean, inv_std, groups, gamma, dg, db)
    want_dx, want_dg, want_db = ref_group_norm_grads(x, dy, groups, gamma, 1e-3)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dg, want_dg, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, want_db, rtol=1e-5, atol=1e-5)


def test_layer_norm_over_rows_is_group_norm_of_one_group():
    x = rand(5, 7, 33, seed=14)
    gamma, beta = rand(33, seed=15), rand(33, seed=16)
    y, mean, inv_std = ops.layer_norm(x, gamma, beta, 1e-3)
    want, _ = ref_group_norm(x.reshape(35, 33), 1, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, want.reshape(x.shape), rtol=1e-5, atol=1e-5)
    assert mean.shape == inv_std.shape == (35,)
    dy = rand(5, 7, 33, seed=17)
    dx = ops.layer_norm_grad(x, dy, mean, inv_std, gamma)
    want_dx, _, _ = ref_group_norm_grads(x.reshape(35, 33), dy.reshape(35, 33), 1, gamma, 1e-3)
    np.testing.assert_allclose(dx, want_dx.reshape(x.shape), rtol=1e-4, atol=1e-4)


def test_group_norm_refuses_channels_that_do_not_split():
    with pytest.raises(ValueError, match="groups"):
        ops.group_norm(rand(2, 5, 6), 4)


def test_combine_moments_equals_the_moments_of_the_whole():
    a, b = rand(7, 3, seed=18) + 2, rand(33, 3, seed=19) * 3
    mean, var, count = ops.combine_moments(a.mean(0), a.var(0), 7, b.mean(0), b.var(0), 33)
    whole = np.concatenate([f64(a), f64(b)])
    np.testing.assert_allclose(mean, whole.mean(0), rtol=1e-6)
    np.testing.assert_allclose(var, whole.var(0), rtol=1e-6)
    assert count == 40


# ---------------------------------------------------------------- noise

def test_random_normal_statistics_seed_and_threads():
    a = ops.random_normal((200_001,), 1.5, 2.0, seed=3)
    assert abs(a.mean() - 1.5) < 0.02 and abs(a.std() - 2.0) < 0.02
    # standard normal tails: about 0.27% beyond 3 sigma
    assert 0.0015 < np.mean(np.abs(a - 1.5) > 6.0) < 0.004
    np.testing.assert_array_equal(a, ops.random_normal((200_001,), 1.5, 2.0, seed=3))
    assert not np.array_equal(a, ops.random_normal((200_001,), 1.5, 2.0, seed=4))
    threads = pynn.get_num_threads()
    try:
        pynn.set_num_threads(1)
        np.testing.assert_array_equal(a, ops.random_normal((200_001,), 1.5, 2.0, seed=3))
    finally:
        pynn.set_num_threads(threads)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_alpha_dropout_against_keras_formula(rate):
    x = rand(257, 33, seed=20)
    y, mask = ops.alpha_dropout(x, rate, seed=5)
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    kept = mask.astype(bool)
    assert abs(kept.mean() - (1 - rate)) < 0.02
    np.testing.assert_allclose(y[kept], a * f64(x)[kept] + b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y[~kept], a * alpha_p + b, rtol=1e-6)
    # the draws are dropout's for the same seed
    _, drop_mask = ops.dropout(x, rate, 5)
    np.testing.assert_array_equal(mask, drop_mask)
    # mean and variance of a standard normal input are kept
    big = rand(400_000, seed=21)
    z, _ = ops.alpha_dropout(big, rate, seed=6)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    dy = rand(257, 33, seed=22)
    np.testing.assert_allclose(ops.alpha_dropout_grad(dy, mask, rate), dy * kept * a,
                               rtol=1e-6)


def test_scale_channels_and_weight_penalty():
    x = rand(3, 7, 5, 4, seed=23)
    s = rand(3, 4, seed=24)
    np.testing.assert_allclose(ops.scale_channels(x, s), x * s[:, None, None, :], rtol=1e-6)
    with pytest.raises(ValueError, match="scale"):
        ops.scale_channels(x, rand(3, 5))
    big = rand(100_003, seed=25)
    want = 0.3 * np.abs(f64(big)).sum() + 0.02 * (f64(big) ** 2).sum()
    dy = rand(100_003, seed=26)
    grad = dy.copy()
    assert ops.weight_penalty(big, 0.3, 0.02, grad=grad) == pytest.approx(want, rel=1e-6)
    want_dx = f64(dy) + 0.3 * np.sign(f64(big)) + 2 * 0.02 * f64(big)
    np.testing.assert_allclose(grad, want_dx, rtol=1e-6, atol=1e-6)


# ------------------------------------------------ transposed convolution

def keras_transpose_geometry(size, k, s, d, padding, op):
    """Output size and padding before, written out from Keras 3's
    _get_output_shape_given_tf_padding and its JAX padding arguments."""
    span = (k - 1) * d + 1
    if padding == "valid":
        extra = max(span, s) - span if op is None else op
        return (size - 1) * s + span + extra, 0
    total = s + span - 2 if op is None else span + span % 2 - 2 + op
    left = min(total // 2 + total % 2, span - 1)
    out = size * s if op is None else (size - 1) * s + span % 2 + op
    return out, span - 1 - left


def ref_conv_transpose(x, k, s, d, padding, op):
    """float64: each input pixel times each kernel tap, added where the tap
    lands (o = i * stride + tap * dilation - pad), the kernel
    (kh, kw, filters, in)."""
    x, k = f64(x), f64(k)
    n, h, w, _ = x.shape
    kh, kw, f, _ = k.shape
    (oh, top), (ow, left) = (keras_transpose_geometry(h, kh, s[0], d[0], padding, op[0]),
                             keras_transpose_geometry(w, kw, s[1], d[1], padding, op[1]))
    span_h, span_w = (h - 1) * s[0] + (kh - 1) * d[0] + 1, (w - 1) * s[1] + (kw - 1) * d[1] + 1
    full = np.zeros((n, max(span_h, top + oh), max(span_w, left + ow), f))
    for i in range(kh):
        for j in range(kw):
            full[:, i * d[0]:i * d[0] + (h - 1) * s[0] + 1:s[0],
                 j * d[1]:j * d[1] + (w - 1) * s[1] + 1:s[1]] += x @ k[i, j].T
    return full[:, top:top + oh, left:left + ow]


TRANSPOSE_CASES = [
    # kernel, strides, dilation, padding, output_padding
    ((3, 3), (2, 2), (1, 1), "same", (None, None)),
    ((3, 3), (2, 2), (1, 1), "valid", (None, None)),
    ((4, 4), (2, 2), (1, 1), "same", (0, 1)),
    ((1, 1), (3, 3), (1, 1), "valid", (None, None)),
    ((2, 5), (1, 3), (1, 1), "same", (0, 2)),
    ((3, 2), (1, 1), (2, 3), "valid", (None, None)),
    ((3, 3), (1, 1), (2, 2), "same", (0, 0)),
    ((5, 4), (3, 2), (1, 1), "valid", (2, 1)),
]


@pytest.mark.parametrize("kernel,strides,dilation,padding,op", TRANSPOSE_CASES)
def test_conv2d_transpose_and_its_gradients(kernel, strides, dilation, padding, op):
    x = rand(2, 7, 5, 3, seed=27)
    k = rand(*kernel, 4, 3, seed=28)
    bias = rand(4, seed=29)
    output_padding = None if op == (None, None) else op
    want = ref_conv_transpose(x, k, strides, dilation, padding, op) + f64(bias)
    y = ops.conv2d_transpose(x, k, bias, strides, padding, output_padding, dilation)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        ops.conv2d_transpose(x, k, bias, strides, padding, output_padding, dilation, "relu"),
        np.maximum(want, 0), rtol=1e-4, atol=1e-4)
    # <dy, T(x, k)> is bilinear: its gradients are the adjoints
    dy = rand(*y.shape, seed=30)
    dk, db = np.empty_like(k), np.empty(4, np.float32)
    dx = ops.conv2d_transpose_grad(x, k, dy, strides, padding, output_padding, dilation, dk, db)
    eye_x = np.eye(x.size).reshape((x.size,) + x.shape)
    want_dx = np.array([(f64(dy) * ref_conv_transpose(e, k, strides, dilation, padding,
                                                      op)).sum() for e in eye_x])
    np.testing.assert_allclose(dx.ravel(), want_dx, rtol=1e-4, atol=1e-4)
    eye_k = np.eye(k.size).reshape((k.size,) + k.shape)
    want_dk = np.array([(f64(dy) * ref_conv_transpose(x, e, strides, dilation, padding,
                                                      op)).sum() for e in eye_k])
    np.testing.assert_allclose(dk.ravel(), want_dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, f64(dy).sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)


def test_conv2d_transpose_refuses_bad_geometry():
    x, k = rand(1, 4, 4, 2), rand(3, 3, 5, 2)
    with pytest.raises(ValueError, match="output_padding"):
        ops.conv2d_transpose(x, k, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="dilation"):
        ops.conv2d_transpose(x, k, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="input channels"):
        ops.conv2d_transpose(rand(1, 4, 4, 3), k)
    with pytest.raises(ValueError, match="empty output"):
        ops.conv2d_transpose(rand(1, 1, 1, 2), rand(2, 2, 5, 2), padding="same",
                             output_padding=0)


def test_threaded_paths_on_large_inputs():
    """Sizes past the threshold where the kernels split work across
    threads, against the references (and one thread against several)."""
    threads = pynn.get_num_threads()
    x = rand(8, 32, 32, 64, seed=31)
    dy = rand(8, 32, 32, 64, seed=32)
    gamma, beta = rand(64, seed=33), rand(64, seed=34)
    results = []
    try:
        for n in (1, max(threads, 2)):
            pynn.set_num_threads(n)
            y, mean, inv = ops.group_norm(x, 8, gamma, beta, 1e-3)
            dg, db = np.empty(64, np.float32), np.empty(64, np.float32)
            dx = ops.group_norm_grad(x, dy, mean, inv, 8, gamma, dg, db)
            up = ops.resize(x[:, :16, :16, :8].copy(), (40, 24), "bilinear")
            dup = ops.resize_grad(dy[:, :20, :12, :8].copy() * 1, (8, 10, 6, 8), "bilinear")
            pr = rand(128, 1024, seed=35)
            alpha = rand(1024, seed=36)
            da = np.empty(1024, np.float32)
            prx = ops.prelu_grad(pr, alpha, pr, alpha_grad=da)
            results.append([y, dx, dg, db, up, dup, prx, da,
                            ops.spatial_pad(x, ((3, 1), (0, 2))), ops.transpose(x, (0, 3, 1, 2)),
                            ops.repeat(x, 3, 2), ops.repeat_grad(dy, 2, 3),
                            ops.relu(x, negative_slope=0.1, max_value=1.0, threshold=0.2),
                            ops.scale_channels(x, rand(8, 64, seed=37))])
    finally:
        pynn.set_num_threads(threads)
    want_y, _ = ref_group_norm(x, 8, gamma, beta, 1e-3)
    want_dx, want_dg, want_db = ref_group_norm_grads(x, dy, 8, gamma, 1e-3)
    one, many = results
    for got in (one, many):
        np.testing.assert_allclose(got[0], want_y, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got[1], want_dx, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(got[2], want_dg, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(got[3], want_db, rtol=1e-4, atol=1e-3)
    for a, b in zip(one[4:], many[4:]):  # the same loops on any thread count
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(many[8], np.pad(x, ((0, 0), (3, 1), (0, 2), (0, 0))))
    np.testing.assert_array_equal(many[9], x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(many[10], np.repeat(x, 3, 2))
