"""Convolution, pooling and batch-normalization kernels against float64
NumPy references: forward values and both gradients (the gradients through
the adjoint identity <dy, conv(x, k)> = <dx, x> = <dk, k>, computed exactly
in float64)."""
import itertools

import numpy as np
import pytest

from pynn import backend, ops


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def same_pads(size, k, s, d):
    span = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + span - size, 0)
    return total // 2, total - total // 2


def ref_pads(shape, kh, kw, s, d, padding):
    if padding == "valid":
        return (0, 0), (0, 0)
    return same_pads(shape[1], kh, s[0], d[0]), same_pads(shape[2], kw, s[1], d[1])


def taps(xp, kh, kw, s, d, oh, ow):
    """For each kernel tap (i, j): the input pixels it meets, (n, oh, ow, c)."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0],
                           j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1], :]


def ref_conv(x, k, s, d, padding, depthwise=False):
    x, k = x.astype(np.float64), k.astype(np.float64)
    kh, kw = k.shape[:2]
    (t, b), (l, r) = ref_pads(x.shape, kh, kw, s, d, padding)
    xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    oh = (xp.shape[1] - (kh - 1) * d[0] - 1) // s[0] + 1
    ow = (xp.shape[2] - (kw - 1) * d[1] - 1) // s[1] + 1
    if depthwise:
        y = np.zeros((x.shape[0], oh, ow, k.shape[2], k.shape[3]))
        for i, j, patch in taps(xp, kh, kw, s, d, oh, ow):
            y += patch[..., None] * k[i, j]
        return y.reshape(x.shape[0], oh, ow, -1)
    y = np.zeros((x.shape[0], oh, ow, k.shape[3]))
    for i, j, patch in taps(xp, kh, kw, s, d, oh, ow):
        y += patch @ k[i, j]
    return y


def ref_conv_grads(x, k, dy, s, d, padding, depthwise=False):
    """(dx, dk) of sum(dy * conv(x, k)) in float64."""
    x, k, dy = x.astype(np.float64), k.astype(np.float64), dy.astype(np.float64)
    kh, kw = k.shape[:2]
    (t, b), (l, r) = ref_pads(x.shape, kh, kw, s, d, padding)
    xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(k)
    oh, ow = dy.shape[1:3]
    if depthwise:
        dy = dy.reshape(dy.shape[:3] + k.shape[2:])
    for i, j, patch in taps(xp, kh, kw, s, d, oh, ow):
        view = dxp[:, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0],
                   j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1], :]
        if depthwise:
            dk[i, j] = np.einsum("nhwc,nhwcm->cm", patch, dy)
            view += np.einsum("nhwcm,cm->nhwc", dy, k[i, j])
        else:
            dk[i, j] = np.einsum("nhwc,nhwo->co", patch, dy)
            view += dy @ k[i, j].T
    return dxp[:, t:t + x.shape[1], l:l + x.shape[2]], dk


def close(got, want, rtol=1e-5):
    """Relative agreement, scaled by the reference's magnitude."""
    err = np.abs(got - want).max() if want.size else 0.0
    scale = np.abs(want).max() if want.size else 0.0
    assert err <= rtol * max(scale, 1.0), f"max error {err}"


SIZES = [(1, 1), (7, 9), (28, 28)]
COMBOS = [c for c in itertools.product(SIZES, [1, 3, 32], [1, 3, 5], [1, 2], [1, 2],
                                       ["valid", "same"])
          if not (c[3] > 1 and c[4] > 1)
          and (c[5] == "same" or min(c[0]) >= (c[2] - 1) * c[4] + 1)]


@pytest.mark.parametrize("size,cin,ksize,stride,dilation,padding", COMBOS)
def test_conv2d_matches_float64(size, cin, ksize, stride, dilation, padding):
    x = rand(2, *size, cin, seed=cin)
    k = rand(ksize, ksize, cin, 4, seed=ksize)
    bias = rand(4, seed=7)
    s, d = (stride, stride), (dilation, dilation)
    y = ops.conv2d(x, k, bias, s, padding, d)
    want = ref_conv(x, k, s, d, padding) + bias
    assert y.shape == want.shape
    close(y, want)
    dy = rand(*y.shape, seed=11)
    dk, db = np.empty_like(k), np.empty_like(bias)
    dx = ops.conv2d_grad(x, k, dy, s, padding, d, kernel_grad=dk, bias_grad=db)
    want_dx, want_dk = ref_conv_grads(x, k, dy, s, d, padding)
    close(dx, want_dx)
    close(dk, want_dk)
    close(db, dy.astype(np.float64).sum((0, 1, 2)))


@pytest.mark.parametrize("stride,padding", [((1, 2), "same"), ((2, 1), "valid")])
def test_conv2d_unequal_strides_and_batches_split_across_threads(stride, padding):
    x = rand(9, 13, 11, 5)
    k = rand(3, 2, 5, 7)
    y = ops.conv2d(x, k, None, stride, padding)
    close(y, ref_conv(x, k, stride, (1, 1), padding))
    dy = rand(*y.shape, seed=3)
    dk = np.empty_like(k)
    dx = ops.conv2d_grad(x, k, dy, stride, padding, kernel_grad=dk)
    want_dx, want_dk = ref_conv_grads(x, k, dy, stride, (1, 1), padding)
    close(dx, want_dx)
    close(dk, want_dk)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "sigmoid", "softmax"])
def test_conv2d_fused_activation_and_its_gradient(activation):
    x, k, b = rand(3, 8, 8, 3), rand(3, 3, 3, 6, seed=1), rand(6, seed=2)
    pre = ops.conv2d(x, k, b, padding="same")
    y = ops.conv2d(x, k, b, padding="same", activation=activation)
    np.testing.assert_allclose(y, ops.activation(pre, activation), rtol=1e-5, atol=1e-6)
    dy = rand(*y.shape, seed=4)
    g = ops.activation_grad(activation, pre, y, dy)
    dk, db, dk2, db2 = (np.empty_like(k), np.empty_like(b), np.empty_like(k),
                        np.empty_like(b))
    dx = ops.conv2d_grad(x, k, dy, padding="same", kernel_grad=dk, bias_grad=db,
                         activation=activation, y=y, pre=pre)
    dx2 = ops.conv2d_grad(x, k, g, padding="same", kernel_grad=dk2, bias_grad=db2)
    np.testing.assert_allclose(dx, dx2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dk, dk2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, db2, rtol=1e-5, atol=1e-5)


def test_conv2d_explicit_padding_and_1d():
    x, k = rand(2, 5, 6, 3), rand(2, 3, 3, 4)
    y = ops.conv2d(x, k, padding=((1, 0), (2, 1)))
    xp = np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0)))
    close(y, ref_conv(xp, k, (1, 1), (1, 1), "valid"))
    x1, k1 = rand(3, 10, 4), rand(3, 4, 5)
    y1 = ops.conv1d(x1, k1, padding="causal", dilation_rate=2)
    xp1 = np.pad(x1, ((0, 0), (4, 0), (0, 0)))
    close(y1, ref_conv(xp1[:, None], k1[None], (1, 1), (1, 2), "valid")[:, 0])
    assert y1.shape == (3, 10, 5)


@pytest.mark.parametrize("mult,stride,dilation,padding", [
    (1, 1, 1, "valid"), (1, 2, 1, "same"), (2, 1, 2, "same"), (3, 2, 1, "valid"),
    (1, 1, 2, "valid")])
@pytest.mark.parametrize("cin", [1, 3, 32])
def test_depthwise_conv2d_matches_float64(mult, stride, dilation, padding, cin):
    x = rand(3, 9, 8, cin)
    k = rand(3, 3, cin, mult, seed=1)
    b = rand(cin * mult, seed=2)
    s, d = (stride, stride), (dilation, dilation)
    y = ops.depthwise_conv2d(x, k, b, s, padding, d)
    want = ref_conv(x, k, s, d, padding, depthwise=True) + b
    close(y, want)
    dy = rand(*y.shape, seed=5)
    dk, db = np.empty_like(k), np.empty_like(b)
    dx = ops.depthwise_conv2d_grad(x, k, dy, s, padding, d, kernel_grad=dk, bias_grad=db)
    want_dx, want_dk = ref_conv_grads(x, k, dy, s, d, padding, depthwise=True)
    close(dx, want_dx)
    close(dk, want_dk)
    close(db, dy.astype(np.float64).sum((0, 1, 2)))


def ref_pool(x, pool, strides, padding, kind):
    """Pooling in float64 with TensorFlow's rules: SAME pads with values that
    never win (max) or do not count (average)."""
    ph, pw = pool
    sh, sw = strides or pool
    n, h, w, c = x.shape
    if padding == "valid":
        oh, ow, top, left = (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
    else:
        oh, ow = -(-h // sh), -(-w // sw)
        top = max((oh - 1) * sh + ph - h, 0) // 2
        left = max((ow - 1) * sw + pw - w, 0) // 2
    y = np.empty((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            y0, x0 = i * sh - top, j * sw - left
            win = x[:, max(y0, 0):y0 + ph, max(x0, 0):x0 + pw].astype(np.float64)
            y[:, i, j] = win.max((1, 2)) if kind == "max" else win.mean((1, 2))
    return y


POOLS = [((2, 2), None, "valid"), ((2, 2), None, "same"), ((3, 3), (2, 2), "valid"),
         ((3, 3), (2, 2), "same"), ((3, 2), (1, 2), "same"), ((2, 2), (1, 1), "valid"),
         ((2, 2), (3, 3), "valid"), ((3, 2), None, "valid")]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool,strides,padding", POOLS)
@pytest.mark.parametrize("shape", [(2, 7, 9, 3), (3, 28, 28, 32), (1, 5, 5, 1)])
def test_pooling_matches_float64(kind, pool, strides, padding, shape):
    x = rand(*shape)
    f = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    y = f(x, pool, strides, padding)
    want = ref_pool(x, pool, strides, padding, kind)
    close(y, want)
    # The gradient, against finite differences of the float64 reference
    # (exact for pooling away from ties, which random data has not).
    dy = rand(*y.shape, seed=9)
    if kind == "max":
        dx = ops.max_pool2d_grad(dy, x, y, pool, strides, padding)
    else:
        dx = ops.avg_pool2d_grad(dy, shape, pool, strides, padding)
    rng = np.random.default_rng(0)
    for _ in range(5):
        idx = tuple(rng.integers(0, m) for m in shape)
        xp, xm = x.astype(np.float64), x.astype(np.float64)
        xp[idx] += 1e-4
        xm[idx] -= 1e-4
        fd = ((ref_pool(xp, pool, strides, padding, kind) -
               ref_pool(xm, pool, strides, padding, kind)) * dy).sum() / 2e-4
        assert abs(fd - dx[idx]) < 1e-3 * max(1.0, abs(fd))


def test_global_pools():
    x = rand(4, 5, 7, 6)
    close(ops.global_avg_pool2d(x), x.astype(np.float64).mean((1, 2)))
    y = ops.global_max_pool2d(x)
    close(y, x.max((1, 2)))
    dy = rand(4, 6, seed=1)
    dx = ops.global_pool2d_grad("max", dy, x, y)
    want = (x == x.max((1, 2), keepdims=True)) * dy[:, None, None, :]
    close(dx, want)
    dx = ops.global_pool2d_grad("avg", dy, x)
    close(dx, np.broadcast_to(dy[:, None, None, :] / 35.0, x.shape))


def test_max_pool_gradient_goes_to_one_pixel_per_window_on_ties_infs_and_nans():
    x = np.full((1, 4, 4, 3), -np.inf, np.float32)
    x[0, :, :, 1] = np.nan
    x[0, :, :, 2] = 0.0  # ties everywhere, as after a ReLU
    for strides in (2, 1):
        y = ops.max_pool2d(x, 2, strides)
        assert np.all(y[..., 0] == -np.inf) and np.all(y[..., 2] == 0)
        dx = ops.max_pool2d_grad(np.ones_like(y), x, y, 2, strides)
        # one pixel per window and channel: the window's first one
        want = np.zeros_like(x)
        for i in range(y.shape[1]):
            for j in range(y.shape[2]):
                want[0, i * strides, j * strides] += 1
        np.testing.assert_array_equal(dx, want)


def test_conv_and_pool_bad_input_names_shapes():
    x = rand(2, 5, 5, 3)
    with pytest.raises(ValueError, match="expects 4 input channels"):
        ops.conv2d(x, rand(3, 3, 4, 2))
    with pytest.raises(ValueError, match="does not fit"):
        ops.conv2d(x, rand(7, 7, 3, 2))
    with pytest.raises(ValueError, match="rank 4"):
        ops.conv2d(x[0], rand(3, 3, 3, 2))
    with pytest.raises(ValueError, match="padding"):
        ops.conv2d(x, rand(3, 3, 3, 2), padding="full")
    with pytest.raises(ValueError, match="dilation"):
        ops.conv2d(x, rand(3, 3, 3, 2), strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="window"):
        ops.max_pool2d(x, 6)
    with pytest.raises(ValueError, match="out must be float32"):
        ops.conv2d(x, rand(3, 3, 3, 2), out=np.empty((2, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match="output's shape"):
        ops.max_pool2d_grad(rand(2, 3, 3, 3), x, rand(2, 2, 2, 3), 2)


def test_moments_and_batch_norm_gradient():
    x = rand(6, 4, 3, 5) * 3 + 100  # a large mean: the two-pass variance holds
    mean, var = ops.moments(x)
    close(mean, x.astype(np.float64).mean((0, 1, 2)))
    np.testing.assert_allclose(var, x.astype(np.float64).var((0, 1, 2)), rtol=1e-4)
    gamma, beta = rand(5, seed=1), rand(5, seed=2)
    scale, shift, inv_std = ops.batch_norm_affine(mean, var, gamma, beta, 1e-3)
    y = ops.channel_affine(x, scale, shift)
    x64 = x.astype(np.float64)
    m, v = x64.mean((0, 1, 2)), x64.var((0, 1, 2))
    close(y, gamma * (x64 - m) / np.sqrt(v + 1e-3) + beta, 1e-4)

    dy = rand(*x.shape, seed=3)
    dg, db = np.empty(5, np.float32), np.empty(5, np.float32)
    dx = ops.batch_norm_grad(x.reshape(-1, 5), dy.reshape(-1, 5), mean, inv_std, gamma, dg, db)

    def f(x64, g64, b64):
        m, v = x64.mean((0, 1, 2)), x64.var((0, 1, 2))
        return ((g64 * (x64 - m) / np.sqrt(v + 1e-3) + b64) * dy).sum()

    h = 1e-4
    rng = np.random.default_rng(1)
    for _ in range(6):
        idx = tuple(rng.integers(0, s) for s in x.shape)
        up, down = x64.copy(), x64.copy()
        up[idx] += h
        down[idx] -= h
        fd = (f(up, gamma, beta) - f(down, gamma, beta)) / (2 * h)
        assert abs(fd - dx.reshape(x.shape)[idx]) < 2e-3 * max(1, abs(fd))
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        close(np.float64(dg[j]), (f(x64, gamma + e, beta) - f(x64, gamma - e, beta)) / (2 * h),
              1e-3)
        close(np.float64(db[j]), dy[..., j].astype(np.float64).sum(), 1e-4)


@pytest.mark.parametrize("cin,ksize,cout", [(1, 3, 32), (1, 3, 64), (1, 2, 32), (3, 2, 32),
                                            (1, 3, 8), (2, 2, 24), (1, 1, 16), (3, 2, 20)])
@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "same"), (1, "same")])
@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("n", [1, 5])
def test_conv2d_weight_gradient_of_small_patches(cin, ksize, cout, stride, padding,
                                                 activation, n):
    # A first layer's patch (at most 12 values) takes the register-summed
    # weight gradient: with 32k output channels on AVX-512 machines, 8k on
    # AVX2 ones (20 channels take the GEMM).
    x = rand(n, 11, 10, cin)
    k = rand(ksize, ksize, cin, cout, seed=1)
    b = rand(cout, seed=2)
    s = (stride, stride)
    y = ops.conv2d(x, k, b, s, padding, activation=activation)
    dy = rand(*y.shape, seed=3)
    g = dy * (y > 0) if activation == "relu" else dy
    dk, db = np.empty_like(k), np.empty_like(b)
    dx = ops.conv2d_grad(x, k, dy, s, padding, kernel_grad=dk, bias_grad=db,
                         activation=activation, y=y)
    want_dx, want_dk = ref_conv_grads(x, k, g, s, (1, 1), padding)
    close(dk, want_dk)
    close(db, g.astype(np.float64).sum((0, 1, 2)))
    close(dx, want_dx)


# Geometries of the direct forward pass (patches of at most 512 values,
# kernels other than 1x1): single- and few-channel first layers, output
# channel counts that leave a partial block of 16 (and of 8), padding,
# strides, dilations, batches of 0, 1 and 7, windows larger than the input,
# and 3x3x56 (504 values, direct) beside 3x3x57 (513, im2col + GEMM).
DIRECT = [  # n, h, w, cin, (kh, kw), cout, strides, dilation, padding
    (1, 28, 28, 1, (3, 3), 32, (1, 1), (1, 1), "valid"),
    (7, 9, 11, 2, (3, 3), 13, (1, 1), (1, 1), "same"),
    (1, 10, 7, 3, (5, 5), 33, (2, 2), (1, 1), "same"),
    (2, 13, 13, 4, (7, 7), 5, (2, 1), (1, 1), "same"),
    (3, 12, 11, 3, (3, 3), 16, (1, 1), (2, 2), "same"),
    (2, 15, 9, 1, (3, 2), 7, (1, 1), (3, 1), "valid"),
    (1, 13, 13, 32, (3, 3), 64, (1, 1), (1, 1), "valid"),
    (2, 6, 5, 56, (3, 3), 20, (1, 1), (1, 1), "same"),
    (2, 6, 5, 57, (3, 3), 20, (1, 1), (1, 1), "same"),
    (0, 8, 8, 1, (3, 3), 8, (1, 1), (1, 1), "same"),
    (1, 1, 1, 3, (3, 3), 9, (1, 1), (1, 1), "same"),
    (1, 2, 3, 2, (5, 5), 24, (3, 2), (1, 1), "same"),
    (7, 8, 8, 3, (2, 2), 40, (2, 2), (1, 1), "valid"),
]


@pytest.mark.parametrize("n,h,w,cin,ksize,cout,strides,dilation,padding", DIRECT)
def test_conv2d_direct_geometries_match_float64(n, h, w, cin, ksize, cout, strides, dilation,
                                                padding):
    x = rand(n, h, w, cin, seed=cin)
    k = rand(*ksize, cin, cout, seed=cout)
    b = rand(cout, seed=3)
    y = ops.conv2d(x, k, b, strides, padding, dilation)
    want = ref_conv(x, k, strides, dilation, padding) + b
    assert y.shape == want.shape
    close(y, want)
    close(ops.conv2d(x, k, None, strides, padding, dilation),
          ref_conv(x, k, strides, dilation, padding))
    # explicit, uneven padding reaches the windows through the same copy
    y = ops.conv2d(x, k, b, strides, ((2, 2), (1, 3)), dilation)
    xp = np.pad(x, ((0, 0), (2, 2), (1, 3), (0, 0)))
    close(y, ref_conv(xp, k, strides, dilation, "valid") + b)


@pytest.mark.parametrize("activation", sorted(ops.ACTIVATIONS))
@pytest.mark.parametrize("cout", [16, 21])
def test_conv2d_direct_every_activation(activation, cout):
    # fused in registers (linear, relu, relu6) or applied to each tile
    # after it is stored (the others)
    x = rand(3, 9, 10, 3) * 4
    k = rand(3, 3, 3, cout, seed=1)
    b = rand(cout, seed=2)
    y = ops.conv2d(x, k, b, (1, 1), "same", activation=activation)
    pre = (ref_conv(x, k, (1, 1), (1, 1), "same") + b).astype(np.float32)
    want = ops.activation(pre, activation)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_conv2d_direct_keeps_nan_through_relu():
    # ReLU of a NaN is NaN, as NumPy's maximum gives, in the fused forms too
    x = rand(2, 8, 8, 1)
    x[0, 3, 4, 0] = np.nan
    k = rand(3, 3, 1, 24, seed=1)
    for activation in ("relu", "relu6"):
        y = ops.conv2d(x, k, None, padding="same", activation=activation)
        bad = np.isnan(y)
        assert bad[0, 2:5, 3:6].all() and bad.sum() == 9 * 24, activation


@pytest.mark.parametrize("c", [1, 7, 8, 33, 40, 64])
@pytest.mark.parametrize("pool,strides,padding", [((2, 2), None, "valid"),
                                                  ((2, 2), None, "same"),
                                                  ((3, 3), (2, 2), "same")])
def test_max_pool_channel_blocks_and_nans(c, pool, strides, padding):
    # the channels in blocks of 32 and 8 and a partial block; 2x2 windows
    # unrolled, clipped ones (odd sizes with 'same') and larger ones looped
    x = rand(3, 7, 9, c)
    x[1, 2, 3, :] = np.nan
    x[2, 5, 8, c // 2] = np.nan
    x[0, :, :, 0] = 0.0  # ties
    y = ops.max_pool2d(x, pool, strides, padding)
    want = ref_pool(x, pool, strides, padding, "max")
    assert y.shape == want.shape
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    np.testing.assert_array_equal(np.nan_to_num(y), np.nan_to_num(want.astype(np.float32)))


@pytest.mark.parametrize("n,h,w,cin,ksize,cout,stride,padding", [
    (5, 28, 28, 1, 3, 32, 1, "valid"), (3, 11, 13, 1, 3, 64, 1, "same"),
    (4, 9, 9, 3, 2, 32, 2, "same"), (2, 12, 12, 1, 2, 8, 1, "valid")])
@pytest.mark.parametrize("pool,pool_strides", [((2, 2), None), ((3, 2), None), ((2, 2), (3, 3))])
@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_conv2d_gradient_through_max_pool_is_the_two_passes(n, h, w, cin, ksize, cout, stride,
                                                            padding, pool, pool_strides,
                                                            activation):
    # A first layer's weight gradient taken with its max pooling's backward
    # pass gives the bits of max_pool2d_grad then conv2d_grad, wherever the
    # fused kernel takes the shapes (x86 with AVX2 and a small patch; 8
    # channels only on AVX2); elsewhere it writes nothing.
    x = rand(n, h, w, cin)
    x[0, :4, :4] = 0.0  # ties in the windows, zeros through the ReLU
    k = rand(ksize, ksize, cin, cout, seed=1)
    y = ops.conv2d(x, k, rand(cout, seed=2), stride, padding, activation=activation)
    py = ops.max_pool2d(y, pool, pool_strides)
    pdy = rand(*py.shape, seed=3)
    dx = ops.max_pool2d_grad(pdy, y, py, pool, pool_strides)
    got_dk, got_db = np.full_like(k, 7.0), np.full(cout, 7.0, np.float32)
    # (the bits follow the pieces the samples are cut into, which follow
    # the threads the team has at the moment: compare on one thread)
    threads = backend.get_num_threads()
    backend.set_num_threads(1)
    try:
        dk, db = np.zeros_like(k), np.zeros(cout, np.float32)
        ops.conv2d_grad(x, k, dx, stride, padding, kernel_grad=dk, bias_grad=db,
                        input_grad=False, activation=activation, y=y)
        done = ops.conv2d_max_pool2d_grad(x, k, y, py, pdy, stride, padding, 1, pool,
                                          pool_strides, kernel_grad=got_dk, bias_grad=got_db,
                                          activation=activation)
    finally:
        backend.set_num_threads(threads)
    if done:
        np.testing.assert_array_equal(got_dk, dk)
        np.testing.assert_array_equal(got_db, db)
    else:
        assert done is False
        assert np.all(got_dk == 7.0) and np.all(got_db == 7.0)
    # the MNIST convnet's first layer is taken wherever there is AVX2
    if (cin, ksize, cout) == (1, 3, 32) and backend.simd_level() != "generic":
        assert done is True
    # against float64: the routed gradient through the convolution's
    want_dx, want_dk = ref_conv_grads(x, k, dx * (y > 0) if activation == "relu" else dx,
                                      (stride, stride), (1, 1), padding)
    close(dk, want_dk)


def test_conv2d_gradient_through_max_pool_refuses_what_it_cannot_take():
    x, k = rand(2, 10, 10, 1), rand(3, 3, 1, 32, seed=1)
    y = ops.conv2d(x, k, None, activation="relu")
    py = ops.max_pool2d(y, 2)
    # overlapping windows, an activation other than ReLU, a large patch
    assert ops.conv2d_max_pool2d_grad(x, k, y, ops.max_pool2d(y, 2, 1), np.ones((2, 7, 7, 32),
                                      np.float32), pool_strides=1, activation="relu") is False
    assert ops.conv2d_max_pool2d_grad(x, k, y, py, py, activation="elu") is False
    big = rand(3, 3, 8, 32, seed=4)
    x8 = rand(2, 10, 10, 8)
    y8 = ops.conv2d(x8, big, None)
    assert ops.conv2d_max_pool2d_grad(x8, big, y8, ops.max_pool2d(y8, 2),
                                      ops.max_pool2d(y8, 2)) is False
    with pytest.raises(ValueError, match="pooled y and dy must have the pooling's output"):
        ops.conv2d_max_pool2d_grad(x, k, y, py, py[:, :3])
    with pytest.raises(ValueError, match="y must have the convolution's output shape"):
        ops.conv2d_max_pool2d_grad(x, k, y[:, 1:], py, py)


# 3x3 stride-1 convolutions between 16k channels take Winograd's F(2x2, 3x3)
# on x86 with AVX2 (the forward pass, the input and kernel gradients): odd
# outputs (tiles cut at the edge), channel counts of 16 to 80 (64 at a time
# and a rest), and one image (which a team splits by output channels).
WINOGRAD = [(8, 13, 13, 32, 64, "valid"), (12, 12, 11, 16, 48, "same"),
            (6, 9, 10, 64, 80, ((2, 2), (1, 3))), (40, 5, 5, 16, 16, "valid"),
            (3, 17, 15, 48, 32, ((0, 1), (2, 0))), (1, 13, 13, 32, 64, "valid"),
            (1, 7, 9, 80, 48, "same")]


@pytest.mark.parametrize("n,h,w,cin,cout,padding", WINOGRAD)
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_winograd_convolution_matches_float64(n, h, w, cin, cout, padding, activation):
    x = rand(n, h, w, cin)
    k = rand(3, 3, cin, cout, seed=1)
    b = rand(cout, seed=2)
    if isinstance(padding, str):
        want = ref_conv(x, k, (1, 1), (1, 1), padding)
    else:
        want = ref_conv(np.pad(x, ((0, 0),) + padding + ((0, 0),)), k, (1, 1), (1, 1), "valid")
    y = ops.conv2d(x, k, b, (1, 1), padding, activation=activation)
    pre = want + b
    close(y, np.maximum(pre, 0.0) if activation == "relu" else pre)
    if activation == "relu":
        assert np.all(np.asarray(y)[pre < -1e-3] == 0.0)
    close(ops.conv2d(x, k, None, (1, 1), padding), want)


@pytest.mark.parametrize("n,h,w,cin,cout,padding", WINOGRAD + [
    (2, 7, 7, 16, 16, ((3, 3), (3, 3))), (1, 4, 4, 32, 16, "same")])
def test_winograd_input_gradient_matches_float64(n, h, w, cin, cout, padding):
    # (a padding past 2 has no Winograd form and keeps the product)
    x = rand(n, h, w, cin)
    k = rand(3, 3, cin, cout, seed=1)
    y = ops.conv2d(x, k, None, (1, 1), padding, activation="relu")
    dy = rand(*y.shape, seed=3)
    dk, db = np.zeros_like(k), np.zeros(cout, np.float32)
    dx = ops.conv2d_grad(x, k, dy, (1, 1), padding, kernel_grad=dk, bias_grad=db,
                         activation="relu", y=y)
    g = dy * (np.asarray(y) > 0)
    if isinstance(padding, str):
        want_dx, want_dk = ref_conv_grads(x, k, g, (1, 1), (1, 1), padding)
    else:
        xp = np.pad(x, ((0, 0),) + padding + ((0, 0),))
        want_dx, want_dk = ref_conv_grads(xp, k, g, (1, 1), (1, 1), "valid")
        (t, _), (left, _) = padding
        want_dx = want_dx[:, t:t + h, left:left + w]
    close(dx, want_dx)
    close(dk, want_dk)
    close(db, g.astype(np.float64).sum((0, 1, 2)))


def test_winograd_relu_keeps_nan():
    # ReLU of a NaN is NaN in the transform's output pass too; the NaN
    # reaches at least every output whose window holds it (Winograd takes it
    # to the rest of those outputs' tiles), and the other tiles stay finite
    x = rand(8, 13, 13, 32)
    x[2, 6, 6, 5] = np.nan
    k = rand(3, 3, 32, 64, seed=1)
    y = np.asarray(ops.conv2d(x, k, None, (1, 1), "valid", activation="relu"))
    assert np.isnan(y[2, 4:7, 4:7]).all()
    assert not np.isnan(np.delete(y, 2, axis=0)).any()
    assert not np.isnan(y[2, :2]).any() and not np.isnan(y[2, 8:]).any()
