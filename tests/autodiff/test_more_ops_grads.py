"""Gradients of the Keras 3 ops of pynn/_more_ops.py: values on NumPy and
traced arrays against NumPy float64 references, gradients against central
differences of those references; custom_gradient in a tape, a custom layer
and a GradientTape."""
import numpy as np
import pytest
from test_autodiff_ops import check, data, positive

import pynn
from pynn import ops
from pynn.autodiff import Tape

NAN_AT = (np.arange(20).reshape(4, 5) % 7 == 3)


def with_nans(shape=(4, 5), seed=0):
    x = data(shape, seed=seed)
    x[NAN_AT] = np.nan
    return x


def erfc_ref(x):
    from math import erfc
    return np.vectorize(erfc)(x)


def erfinv_ref(x):
    # (Newton on erf from a good start: float64 to 1e-12)
    from math import erf, exp, pi, sqrt
    def one(v):
        y = 0.0
        for _ in range(60):
            y -= (erf(y) - v) / (2 / sqrt(pi) * exp(-y * y))
        return y
    return np.vectorize(one)(x)


def sparsemax_ref(x, axis=-1):
    """Keras 3's sparsemax formula in float64."""
    s = -np.sort(-x, axis=axis)
    c = np.cumsum(s, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    r = np.arange(1, x.shape[axis] + 1).reshape(shape)
    support = s - (c - 1) / r > 0
    k = support.sum(axis=axis, keepdims=True)
    tau = (np.where(support, c, 0).sum(axis=axis, keepdims=True) - 1) / k
    return np.maximum(x - tau, 0)


def unfold_ref(x, k, s, p):
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    n, c, h, w = x.shape
    bh, bw = (h - k) // s + 1, (w - k) // s + 1
    out = np.zeros((n, c, k, k, bh, bw), x.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i, j] = x[:, :, i:i + s * bh:s, j:j + s * bw:s]
    return out.reshape(n, c * k * k, bh * bw)


def fold_ref(cols, size, k, s, p):
    n, ckk, _ = cols.shape
    c = ckk // (k * k)
    h, w = size[0] + 2 * p, size[1] + 2 * p
    bh, bw = (h - k) // s + 1, (w - k) // s + 1
    blocks = cols.reshape(n, c, k, k, bh, bw)
    out = np.zeros((n, c, h, w), cols.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + s * bh:s, j:j + s * bw:s] += blocks[:, :, i, j]
    return out[:, :, p:p + size[0], p:p + size[1]]


def trapezoid_ref(y, x=None, axis=-1):
    return np.trapezoid(y, x, axis=axis)


@pytest.mark.parametrize("name, fn, ref, inputs", [
    ("nansum", lambda x: ops.nansum(x, axis=1), lambda x: np.nansum(x, axis=1), [with_nans()]),
    ("nanmean", lambda x: ops.nanmean(x, axis=0), lambda x: np.nanmean(x, axis=0),
     [with_nans()]),
    ("nanvar", lambda x: ops.nanvar(x, axis=1), lambda x: np.nanvar(x, axis=1),
     [with_nans()]),
    ("nanstd", lambda x: ops.nanstd(x, axis=1, keepdims=True),
     lambda x: np.nanstd(x, axis=1, keepdims=True), [with_nans()]),
    ("nanprod", lambda x: ops.nanprod(x, axis=1), lambda x: np.nanprod(x, axis=1),
     [with_nans()]),
    ("nanmax", lambda x: ops.nanmax(x, axis=1), lambda x: np.nanmax(x, axis=1),
     [with_nans()]),
    ("nanmin", ops.nanmin, np.nanmin, [with_nans()]),
    ("nancumsum", lambda x: ops.nancumsum(x, axis=1), lambda x: np.nancumsum(x, axis=1),
     [with_nans()]),
    ("nanquantile-no-nan", lambda x: ops.nanquantile(x, 0.3, axis=1),
     lambda x: np.nanquantile(x, 0.3, axis=1), [data((3, 6))]),
    ("kron", ops.kron, np.kron, [data((2, 3)), data((3, 2), seed=1)]),
    ("kron-ranks", ops.kron, np.kron, [data((3,)), data((2, 2), seed=1)]),
    ("cross", ops.cross, np.cross, [data((4, 3)), data((4, 3), seed=1)]),
    ("cross-axis", lambda a, b: ops.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0),
     [data((3, 2)), data((3, 2), seed=1)]),
    ("correlate", ops.correlate, np.correlate, [data((7,)), data((3,), seed=1)]),
    ("correlate-same", lambda a, v: ops.correlate(a, v, "same"),
     lambda a, v: np.correlate(a, v, "same"), [data((6,)), data((4,), seed=1)]),
    ("correlate-full-swapped", lambda a, v: ops.correlate(a, v, "full"),
     lambda a, v: np.correlate(a, v, "full"), [data((3,)), data((5,), seed=1)]),
    ("trapezoid", ops.trapezoid, trapezoid_ref, [data((3, 6))]),
    ("trapezoid-x", lambda y, x: ops.trapezoid(y, x, axis=0),
     lambda y, x: np.trapezoid(y, x, axis=0), [data((5, 2)), positive((5,), seed=1)]),
    ("vander", lambda x: ops.vander(x, 4), lambda x: np.vander(x, 4), [data((5,))]),
    ("fabs", ops.fabs, np.fabs, [data((3, 4))]),
    ("fmax", ops.fmax, np.fmax, [with_nans(), data((4, 5), seed=1)]),
    ("fmin", ops.fmin, np.fmin, [data((4, 5), seed=1), with_nans()]),
    ("ldexp", lambda x: ops.ldexp(x, np.array([1, -2, 3])),
     lambda x: np.ldexp(x, np.array([1, -2, 3])), [data((2, 3))]),
    ("erfc", ops.erfc, erfc_ref, [data((3, 5), -2, 2)]),
    ("erfinv", ops.erfinv, erfinv_ref, [data((3, 5), -0.9, 0.9)]),
    ("sparse_sigmoid", ops.sparse_sigmoid,
     lambda x: np.clip((x + 1) / 2, 0, 1), [data((3, 5), -2, 2)]),
    ("sparsemax", ops.sparsemax, sparsemax_ref, [data((4, 6), -2, 2)]),
    ("sparsemax-axis0", lambda x: ops.sparsemax(x, axis=0),
     lambda x: sparsemax_ref(x, axis=0), [data((5, 3), -2, 2)]),
    ("cdist", ops.cdist,
     lambda x, y: np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1)),
     [data((3, 4)), data((5, 4), seed=1)]),
    ("extract_sequences", lambda x: ops.extract_sequences(x, 4, 3),
     lambda x: np.stack([x[..., i:i + 4] for i in range(0, 8, 3)], axis=-2),
     [data((2, 11))]),
    ("unfold", lambda x: ops.unfold(x, 2, padding=1, stride=2),
     lambda x: unfold_ref(x, 2, 2, 1), [data((2, 2, 5, 4))]),
    ("fold", lambda x: ops.fold(x, (5, 4), 2, padding=1, stride=1),
     lambda x: fold_ref(x, (5, 4), 2, 1, 1), [data((1, 8, 30))]),
    ("cholesky_inverse", ops.cholesky_inverse,
     lambda f: np.linalg.inv(np.tril(f) @ np.tril(f).T),  # (its upper half unread)
     [np.tril(data((3, 3))) + 2 * np.eye(3, dtype=np.float32)]),
    ("rearrange", lambda x: ops.rearrange(x, "b (h p) c -> b h (p c)", p=2),
     lambda x: x.reshape(2, 3, 2, 4).reshape(2, 3, 8), [data((2, 6, 4))]),
    ("associative_scan", lambda x: ops.associative_scan(lambda a, b: a * b, x, axis=1),
     lambda x: np.cumprod(x, axis=1), [data((2, 7))]),
    ("associative_scan-reverse",
     lambda x: ops.associative_scan(lambda a, b: a + b, x, reverse=True),
     lambda x: np.cumsum(x[::-1], axis=0)[::-1], [data((5, 2))]),
])
def test_gradients(name, fn, ref, inputs):
    check(fn, ref, inputs)


def blur_ref(x, kernel):
    """Valid depthwise correlation of NHWC x with a 2-D kernel, float64."""
    kh, kw = kernel.shape
    n, h, w, c = x.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, c))
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * x[:, i:i + h - kh + 1, j:j + w - kw + 1]
    return out


def gauss(size, sigma):
    g = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
    return g / g.sum()


def gaussian_blur_ref(x, size, sigma):
    k = np.outer(gauss(size, sigma), gauss(size, sigma))
    p = (size - 1) // 2
    return blur_ref(np.pad(x, ((0, 0), (p, size - 1 - p), (p, size - 1 - p), (0, 0))), k)


def ssim_ref(a, b, size=3, sigma=1.5, c1=1e-4, c2=9e-4):
    k = np.outer(gauss(size, sigma), gauss(size, sigma))
    mu1, mu2 = blur_ref(a, k), blur_ref(b, k)
    s11 = blur_ref(a * a, k) - mu1 ** 2
    s22 = blur_ref(b * b, k) - mu2 ** 2
    s12 = blur_ref(a * b, k) - mu1 * mu2
    m = (2 * mu1 * mu2 + c1) * (2 * s12 + c2) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    return m.mean(axis=(1, 2, 3))


def hsv_to_rgb_ref(x):
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    dh = np.mod(h, 1.0) * 6
    ds = [np.clip(np.abs(dh - 3) - 1, 0, 1), np.clip(2 - np.abs(dh - 2), 0, 1),
          np.clip(2 - np.abs(dh - 4), 0, 1)]
    return np.stack([v * (1 - s + s * d) for d in ds], axis=-1)


IMAGE_GRADS = [
    ("rgb_to_grayscale", ops.image.rgb_to_grayscale,
     lambda x: x @ np.array([[0.2989], [0.5870], [0.1140]]), [data((2, 3, 4, 3))]),
    ("crop_images", lambda x: ops.image.crop_images(x, 1, 0, 0, 2),
     lambda x: x[:, 1:, :-2], [data((2, 4, 5, 2))]),
    ("pad_images", lambda x: ops.image.pad_images(x, 1, 0, target_height=6, target_width=6),
     lambda x: np.pad(x, ((0, 0), (1, 1), (0, 1), (0, 0))), [data((1, 4, 5, 2))]),
    ("gaussian_blur", lambda x: ops.image.gaussian_blur(x, 3, 0.8),
     lambda x: gaussian_blur_ref(x, 3, 0.8), [data((1, 5, 4, 2))]),
    ("ssim", lambda a, b: ops.image.ssim(a, b, filter_size=3),
     ssim_ref, [positive((2, 4, 5, 2)), positive((2, 4, 5, 2), seed=1)]),
    ("hsv_to_rgb", ops.image.hsv_to_rgb, hsv_to_rgb_ref,
     [np.stack([data((2, 3), 0.02, 0.98), data((2, 3), 0.1, 0.9, 1),
                data((2, 3), 0.1, 0.9, 2)], axis=-1)]),
]


@pytest.mark.parametrize("name, fn, ref, inputs", IMAGE_GRADS)
def test_image_gradients(name, fn, ref, inputs):
    check(fn, ref, inputs)


def test_nan_reductions_leave_nan_rows_nan_with_zero_gradient():
    x = with_nans()
    x[1] = np.nan
    tape = Tape("the test")
    t = tape.input(x)
    with tape.recording():
        y = ops.nanmax(t, axis=1)
    assert np.isnan(y.value[1]) and np.isfinite(y.value[0])
    g = tape.backward([(y, np.ones(4, np.float32))])[id(t)]
    assert not np.any(g[1]) and np.all(g[NAN_AT] == 0)


def test_constants_refuse_traced_arrays():
    tape = Tape("the test")
    t = tape.input(data((3, 4)))
    # (ops.stft records its gradient: tests/compat4/test_keras3_names2.py)
    for call in (lambda: ops.unique(t), lambda: ops.histogram(t[0]),
                 lambda: ops.i0(t), lambda: ops.corrcoef(t), lambda: ops.nancumprod(t),
                 lambda: ops.eig(t[:, :3][:3])):
        with tape.recording(), pytest.raises(TypeError, match="traced array"):
            call()


@ops.custom_gradient
def clipped_identity(x):
    def grad(upstream):
        return ops.clip(upstream, -0.1, 0.1)
    return x * 1.0, grad


@ops.custom_gradient
def log1pexp(x):
    e = ops.exp(x)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))
    return ops.log(1 + e), grad


@ops.custom_gradient
def scaled_pair(a, b):
    def grad(*args, upstream):
        return upstream * 2.0, upstream * 3.0
    return a + b, grad


def test_custom_gradient_on_a_tape():
    x = data((3, 4), -3, 3)
    np.testing.assert_allclose(log1pexp(x), np.log1p(np.exp(x)), rtol=1e-6)
    tape = Tape("the test")
    t = tape.input(x)
    with tape.recording():
        y = clipped_identity(t)
        z = log1pexp(t)
    cot = data((3, 4), seed=5)
    g = tape.backward([(y, cot)])[id(t)]
    np.testing.assert_allclose(g, np.clip(cot, -0.1, 0.1))
    g = tape.backward([(z, cot)])[id(t)]
    np.testing.assert_allclose(g, cot / (1 + np.exp(-x)), rtol=1e-5)


def test_custom_gradient_in_a_gradient_tape_with_keyword_upstream_and_broadcasting():
    a = pynn.Variable(data((2, 3)))
    b = pynn.Variable(data((3,), seed=1))
    with pynn.GradientTape() as tape:
        loss = ops.sum(ops.square(scaled_pair(a, b)))
    ga, gb = tape.gradient(loss, [a, b])
    s = 2 * (a.numpy() + b.numpy())
    np.testing.assert_allclose(ga, s * 2, rtol=1e-6)
    np.testing.assert_allclose(gb, (s * 3).sum(0), rtol=1e-6)


def test_custom_gradient_trains_in_a_custom_layer():
    class Soft(pynn.layers.Layer):
        def call(self, x):
            return clipped_identity(x) * 3.0

    inp = pynn.Input((4,))
    out = pynn.layers.Dense(1)(Soft()(pynn.layers.Dense(4)(inp)))
    model = pynn.Model(inp, out)
    model.compile("sgd", "mse")
    hist = model.fit(data((16, 4)), data((16, 1), seed=2), epochs=2, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))


def test_custom_gradient_errors():
    @ops.custom_gradient
    def wrong_count(a, b):
        return a * b, lambda g: g

    @ops.custom_gradient
    def no_grad(a):
        return a

    tape = Tape("the test")
    t, u = tape.input(data((2,))), tape.input(data((2,), seed=1))
    with tape.recording():
        y = wrong_count(t, u)
    with pytest.raises(ValueError, match="returned 1 gradients for 2 arguments"):
        tape.backward([(y, np.ones(2, np.float32))])
    with pytest.raises(TypeError, match=r"must return \(output, grad_fn\)"):
        no_grad(data((2,)))


def both(pair):
    return ops.concatenate(list(pair), axis=-1)


@pytest.mark.parametrize("name, fn, ref, inputs", [
    ("fft", lambda a, b: both(ops.fft((a, b))),
     lambda a, b: (lambda c: np.concatenate([c.real, c.imag], -1))(np.fft.fft(a + 1j * b)),
     [data((2, 5)), data((2, 5), seed=1)]),
    ("fft2", lambda a, b: both(ops.fft2((a, b))),
     lambda a, b: (lambda c: np.concatenate([c.real, c.imag], -1))(np.fft.fft2(a + 1j * b)),
     [data((3, 4)), data((3, 4), seed=1)]),
    ("ifft2", lambda a, b: both(ops.ifft2((a, b))),
     lambda a, b: (lambda c: np.concatenate([c.real, c.imag], -1))(np.fft.ifft2(a + 1j * b)),
     [data((2, 3, 4)), data((2, 3, 4), seed=1)]),
    ("rfft", lambda x: both(ops.rfft(x)),
     lambda x: (lambda c: np.concatenate([c.real, c.imag], -1))(np.fft.rfft(x)),
     [data((2, 7))]),
    ("rfft-padded", lambda x: both(ops.rfft(x, 10)),
     lambda x: (lambda c: np.concatenate([c.real, c.imag], -1))(np.fft.rfft(x, 10)),
     [data((2, 7))]),
    ("rfft-cut", lambda x: both(ops.rfft(x, 4)),
     lambda x: (lambda c: np.concatenate([c.real, c.imag], -1))(np.fft.rfft(x, 4)),
     [data((7,))]),
    ("irfft", lambda a, b: ops.irfft((a, b)), lambda a, b: np.fft.irfft(a + 1j * b),
     [data((2, 5)), data((2, 5), seed=1)]),
    ("irfft-odd", lambda a, b: ops.irfft((a, b), 7), lambda a, b: np.fft.irfft(a + 1j * b, 7),
     [data((2, 5)), data((2, 5), seed=1)]),
    ("irfft-short", lambda a, b: ops.irfft((a, b), 4), lambda a, b: np.fft.irfft(a + 1j * b, 4),
     [data((6,)), data((6,), seed=1)]),
    ("irfft-long", lambda a, b: ops.irfft((a, b), 12),
     lambda a, b: np.fft.irfft(a + 1j * b, 12), [data((4,)), data((4,), seed=1)]),
])
def test_fourier_gradients(name, fn, ref, inputs):
    check(fn, ref, inputs)
