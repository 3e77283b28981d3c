"""Gradients of Keras 3's ops added to pynn.ops (sort, diag, outer, mod,
average, the stacking and slicing functions, gelu, the cross-entropies,
conv and pooling): values on NumPy and traced arrays against NumPy float64
references, gradients against central differences of those references."""
import numpy as np
import pytest
from test_autodiff_ops import check, data, positive

from pynn import ops
from pynn.autodiff import Tape


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def erf(x):
    from math import erf as scalar_erf
    return np.vectorize(scalar_erf)(x)


@pytest.mark.parametrize("name, fn, ref, inputs", [
    ("sort", lambda x: ops.sort(x, axis=0), lambda x: np.sort(x, axis=0), [data((7, 3))]),
    ("sort-last", ops.sort, np.sort, [data((2, 33))]),
    ("sort-flat", lambda x: ops.sort(x, axis=None), lambda x: np.sort(x, axis=None),
     [data((3, 4))]),
    ("diag-vector", ops.diag, np.diag, [data((5,))]),
    ("diag-vector-k", lambda x: ops.diag(x, -2), lambda x: np.diag(x, -2), [data((3,))]),
    ("diag-matrix", lambda x: ops.diag(x, 1), lambda x: np.diag(x, 1), [data((4, 6))]),
    ("outer", ops.outer, np.outer, [data((7,)), data((2, 3), seed=1)]),
    ("mod", ops.mod, np.mod, [data((4, 5), -5, 5), positive((5,), seed=1)]),
    ("rsqrt", ops.rsqrt, lambda x: 1 / np.sqrt(x), [positive((7, 3))]),
    ("average", lambda x: ops.average(x, axis=1), lambda x: np.average(x, axis=1),
     [data((3, 5))]),
    ("average-weights", lambda x, w: ops.average(x, axis=0, weights=w),
     lambda x, w: np.average(x, axis=0, weights=w), [data((4, 3)), positive((4,), seed=1)]),
    ("average-full-weights", lambda x, w: ops.average(x, weights=w),
     lambda x, w: np.average(x, weights=w), [data((4, 3)), positive((4, 3), seed=1)]),
    ("vstack", lambda a, b: ops.vstack([a, b]), lambda a, b: np.vstack([a, b]),
     [data((3,)), data((2, 3), seed=1)]),
    ("hstack", lambda a, b: ops.hstack([a, b]), lambda a, b: np.hstack([a, b]),
     [data((2, 1)), data((2, 3), seed=1)]),
    ("hstack-vectors", lambda a, b: ops.hstack([a, b]), lambda a, b: np.hstack([a, b]),
     [data((2,)), data((5,), seed=1)]),
    ("unstack", lambda x: ops.stack(ops.unstack(x, axis=1)[::-1]),
     lambda x: np.stack([x[:, i] for i in range(x.shape[1])][::-1]), [data((2, 3, 4))]),
    ("slice", lambda x: ops.slice(x, [1, 0, 2], [2, 3, 1]), lambda x: x[1:3, 0:3, 2:3],
     [data((4, 3, 5))]),
    ("slice_update", lambda x, u: ops.slice_update(x, (1, 2), u),
     lambda x, u: np.concatenate([x[:1], np.concatenate(
         [x[1:3, :2], u, x[1:3, 4:]], axis=1), x[3:]], axis=0),
     [data((5, 7)), data((2, 2), seed=1)]),
    ("gelu", ops.gelu, lambda x: 0.5 * x * (1 + np.tanh(
        np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), [data((7, 5), -3, 3)]),
    ("gelu-exact", lambda x: ops.gelu(x, approximate=False),
     lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))), [data((7, 5), -3, 3)]),
    ("fori_loop", lambda x: ops.fori_loop(0, 3, lambda i, v: v * x + i, x),
     lambda x: ((x * x + 0) * x + 1) * x + 2, [data((4,))]),
    ("while_loop", lambda x: ops.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * x),
                                            (0, x))[1], lambda x: x ** 4, [data((4,))]),
    ("vectorized_map", lambda x: ops.vectorized_map(lambda r: ops.sum(r * r), x),
     lambda x: (x * x).sum(axis=1), [data((5, 3))]),
    ("vectorized_map-list", lambda a, b: ops.vectorized_map(lambda p: p[0] * p[1], [a, b]),
     lambda a, b: a * b, [data((4, 3)), data((4, 3), seed=1)]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_gradients(name, fn, ref, inputs):
    check(fn, ref, inputs)


def log_softmax(x, axis=-1):
    return np.log(softmax(x, axis))


@pytest.mark.parametrize("from_logits", [False, True])
def test_crossentropy_gradients(from_logits):
    target = softmax(data((5, 7), seed=3) * 3)
    onehot = np.eye(7, dtype=np.float32)[[0, 3, 6, 2, 2]]
    logits = data((5, 7), -2, 2, seed=4)
    probs = softmax(logits).astype(np.float32)
    out = logits if from_logits else probs

    def probabilities(o, axis=-1):
        if from_logits:
            return log_softmax(o, axis)
        return np.log(np.clip(o / o.sum(axis=axis, keepdims=True), 1e-7, 1 - 1e-7))

    check(lambda t, o: ops.categorical_crossentropy(t, o, from_logits=from_logits),
          lambda t, o: -(t * probabilities(o)).sum(-1), [target, out])
    check(lambda o: ops.categorical_crossentropy(onehot.T, o, from_logits=from_logits, axis=0),
          lambda o: -(onehot.T * probabilities(o, 0)).sum(0), [out.T.copy()])
    ids = np.array([0, 3, 6, 2, 2])
    check(lambda o: ops.sparse_categorical_crossentropy(ids, o, from_logits=from_logits),
          lambda o: -probabilities(o)[np.arange(5), ids], [out])
    sig = 1 / (1 + np.exp(-logits))
    bce_out = logits if from_logits else sig.astype(np.float32)
    labels = (data((5, 7), seed=5) > 0).astype(np.float32)

    def bce(t, o):
        p = np.clip(1 / (1 + np.exp(-o)) if from_logits else o, 1e-7, 1 - 1e-7)
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))
    check(lambda t, o: ops.binary_crossentropy(t, o, from_logits=from_logits), bce,
          [labels, bce_out], traced=[1])


# ------------------------------------------------------------ conv, pool

def conv_ref(x, k, strides, padding, dilation=(1, 1), depthwise=False):
    """NHWC cross-correlation in float64, TensorFlow's 'same' rule."""
    n, h, w, c = x.shape
    kh, kw = k.shape[:2]
    eh, ew = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    if padding == "same":
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        ph = builtins_max(0, (oh - 1) * strides[0] + eh - h)
        pw = builtins_max(0, (ow - 1) * strides[1] + ew - w)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - eh) // strides[0] + 1, (w - ew) // strides[1] + 1
    out = []
    for i in range(oh):
        row = []
        for j in range(ow):
            win = x[:, i * strides[0]:i * strides[0] + eh:dilation[0],
                    j * strides[1]:j * strides[1] + ew:dilation[1], :]
            if depthwise:
                row.append(np.einsum("nhwc,hwcm->ncm", win, k).reshape(n, -1))
            else:
                row.append(np.einsum("nhwc,hwco->no", win, k))
        out.append(np.stack(row, 1))
    return np.stack(out, 1)


builtins_max = max


@pytest.mark.parametrize("strides, padding, dilation", [
    ((1, 1), "valid", (1, 1)), ((2, 1), "same", (1, 1)), ((1, 1), "same", (2, 1)),
    ((2, 2), "valid", (1, 1))])
@pytest.mark.parametrize("depthwise", [False, True])
def test_conv_gradients(strides, padding, dilation, depthwise):
    x = data((2, 5, 6, 3))
    k = data((2, 3, 3, 2), seed=1)
    fn = ops.depthwise_conv if depthwise else ops.conv
    check(lambda x, k: fn(x, k, strides=strides, padding=padding, dilation_rate=dilation),
          lambda x, k: conv_ref(x, k, strides, padding, dilation, depthwise), [x, k])


def test_conv1d_and_channels_first_gradients():
    x = data((2, 7, 3))
    k = data((3, 3, 4), seed=1)
    check(lambda x, k: ops.conv(x, k, strides=2, padding="same"),
          lambda x, k: conv_ref(x[:, None], k[None], (1, 2), "same")[:, 0], [x, k])
    xf = data((2, 3, 5, 4))
    k2 = data((2, 2, 3, 2), seed=2)
    check(lambda x, k: ops.conv(x, k, data_format="channels_first"),
          lambda x, k: np.moveaxis(conv_ref(np.moveaxis(x, 1, -1), k, (1, 1), "valid"), -1, 1),
          [xf, k2])


def pool_ref(x, size, strides, padding, kind):
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        ph = builtins_max(0, (oh - 1) * strides[0] + size[0] - h)
        pw = builtins_max(0, (ow - 1) * strides[1] + size[1] - w)
        top, left = ph // 2, pw // 2
    else:
        oh, ow = (h - size[0]) // strides[0] + 1, (w - size[1]) // strides[1] + 1
        top = left = 0
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            win = x[:, builtins_max(r0, 0):r0 + size[0], builtins_max(c0, 0):c0 + size[1]]
            out[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("size, strides, padding", [
    ((2, 2), None, "valid"), ((3, 2), (2, 1), "same"), ((2, 3), (1, 2), "valid")])
@pytest.mark.parametrize("kind", ["max", "average"])
def test_pool_gradients(size, strides, padding, kind):
    x = data((2, 5, 7, 3))
    fn = ops.max_pool if kind == "max" else ops.average_pool
    check(lambda x: fn(x, size, strides, padding),
          lambda x: pool_ref(x, size, strides or size, padding, kind), [x])


def test_pool1d_gradient():
    x = data((2, 9, 3))
    check(lambda x: ops.max_pool(x, 3, 2, "same"),
          lambda x: pool_ref(x[:, None], (1, 3), (1, 2), "same", "max")[:, 0], [x])


def test_constants_refuse_traced_arguments():
    tape = Tape("the test")
    t = tape.input(data((3,)))
    with tape.recording():
        for call in (lambda: ops.full((2,), t), lambda: ops.linspace(t, 1.0, 3),
                     lambda: ops.sparse_categorical_crossentropy(t, data((3, 2)))):
            with pytest.raises(TypeError, match="traced array"):
                call()
        # tests and comparisons are constants computed on the values
        assert ops.isnan(t).dtype == bool and not ops.isfinite(t / 0.0).all()


def inside(shape, seed=0):
    return data(shape, -0.8, 0.8, seed)


def elu_ref(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(x))


def attention_ref(q, k, v, keep=None, scale=None):
    logits = np.einsum("btnh,bsnh->bnts", q, k) * (scale or 1 / np.sqrt(k.shape[-1]))
    if keep is not None:
        logits = np.where(keep, logits, -1e30)
    return np.einsum("bnts,bsnh->btnh", softmax(logits), v)


@pytest.mark.parametrize("name, fn, ref, inputs", [
    ("tan", ops.tan, np.tan, [inside((4, 5))]),
    ("arcsin", ops.arcsin, np.arcsin, [inside((4, 5))]),
    ("arccos", ops.arccos, np.arccos, [inside((4, 5))]),
    ("arctan", ops.arctan, np.arctan, [data((4, 5), -3, 3)]),
    ("sinh", ops.sinh, np.sinh, [data((4, 5))]),
    ("cosh", ops.cosh, np.cosh, [data((4, 5))]),
    ("arcsinh", ops.arcsinh, np.arcsinh, [data((4, 5), -3, 3)]),
    ("arccosh", ops.arccosh, np.arccosh, [data((4, 5), 1.2, 3)]),
    ("arctanh", ops.arctanh, np.arctanh, [inside((4, 5))]),
    ("arctan2", ops.arctan2, np.arctan2, [data((4, 5)), positive((5,), seed=1)]),
    ("numpy-ufuncs", lambda x: np.tan(x) + np.arctan2(x, 2.0) + np.sinh(x),
     lambda x: np.tan(x) + np.arctan2(x, 2.0) + np.sinh(x), [inside((3, 4))]),
    ("log2", ops.log2, np.log2, [positive((4, 5))]),
    ("log10", ops.log10, np.log10, [positive((4, 5))]),
    ("exp2", ops.exp2, np.exp2, [data((4, 5))]),
    ("logaddexp", ops.logaddexp, np.logaddexp, [data((4, 5), -3, 3), data((5,), seed=1)]),
    ("ravel", ops.ravel, np.ravel, [data((2, 3, 4))]),
    ("roll", lambda x: ops.roll(x, 2, axis=1), lambda x: np.roll(x, 2, axis=1),
     [data((3, 7))]),
    ("roll-flat", lambda x: ops.roll(x, -4), lambda x: np.roll(x, -4), [data((3, 5))]),
    ("roll-axes", lambda x: ops.roll(x, (1, -1), axis=(0, 2)),
     lambda x: np.roll(x, (1, -1), axis=(0, 2)), [data((2, 3, 4))]),
    ("diagonal", lambda x: ops.diagonal(x, 1, 1, 2), lambda x: np.diagonal(x, 1, 1, 2),
     [data((2, 4, 5))]),
    ("trace", ops.trace, np.trace, [data((5, 4))]),
    ("append", ops.append, np.append, [data((2, 3)), data((4,), seed=1)]),
    ("select", lambda a, b: ops.select([a > 0.5, a < -0.5], [a * 2, b], 0.5),
     lambda a, b: np.select([a > 0.5, a < -0.5], [a * 2, np.broadcast_to(b, a.shape)], 0.5),
     [data((4, 5)), data((5,), seed=1)]),
    ("scatter", lambda v: ops.scatter(np.array([[0, 1], [2, 0], [0, 1]]), v, (3, 2)),
     lambda v: np.array([[0, v[0] + v[2]], [0, 0], [v[1], 0]]), [data((3,))]),
    ("scatter_update", lambda x, u: ops.scatter_update(x, np.array([[2], [0]]), u),
     lambda x, u: np.stack([u[1], x[1], u[0], x[3]]), [data((4, 3)), data((2, 3), seed=1)]),
    ("scatter_update-add", lambda x, u: ops.scatter_update(x, np.array([[1], [1]]), u,
                                                           reduction="add"),
     lambda x, u: np.stack([x[0], x[1] + u[0] + u[1], x[2]]),
     [data((3, 2)), data((2, 2), seed=1)]),
    ("selu", ops.selu, lambda x: ops.SELU_SCALE * elu_ref(x, ops.SELU_ALPHA), [data((4, 5))]),
    ("log_sigmoid", ops.log_sigmoid, lambda x: -np.log1p(np.exp(-x)), [data((4, 5), -3, 3)]),
    ("hard_tanh", ops.hard_tanh, lambda x: np.clip(x, -1, 1), [data((4, 5), -2, 2)]),
    ("celu", lambda x: ops.celu(x, 0.7), lambda x: np.maximum(x, 0) + np.minimum(
        0.7 * np.expm1(x / 0.7), 0), [data((4, 5))]),
    ("glu", ops.glu, lambda x: x[:, :3] / (1 + np.exp(-x[:, 3:])), [data((4, 6))]),
    ("moments", lambda x: ops.stack(ops.moments(x, axes=[0, 2])),
     lambda x: np.stack([x.mean((0, 2)), x.var((0, 2))]), [data((3, 4, 5))]),
    ("batch_normalization", lambda x, m, v, o, s: ops.batch_normalization(
        x, m, v, axis=1, offset=o, scale=s, epsilon=0.1),
     lambda x, m, v, o, s: (x - m[:, None]) / np.sqrt(v[:, None] + 0.1) * s[:, None]
     + o[:, None], [data((3, 4, 5)), data((4,), seed=1), positive((4,), seed=2),
                    data((4,), seed=3), data((4,), seed=4)]),
    ("separable_conv", lambda x, d, p: ops.separable_conv(x, d, p, padding="same"),
     lambda x, d, p: conv_ref(conv_ref(x, d, (1, 1), "same", depthwise=True), p, (1, 1),
                              "valid"),
     [data((1, 4, 5, 2)), data((3, 2, 2, 2), seed=1), data((1, 1, 4, 3), seed=2)]),
    ("dot_product_attention", ops.dot_product_attention, attention_ref,
     [data((2, 3, 2, 4)), data((2, 5, 2, 4), seed=1), data((2, 5, 2, 3), seed=2)]),
    ("dot_product_attention-causal", lambda q, k, v: ops.dot_product_attention(
        q, k, v, is_causal=True, scale=0.5),
     lambda q, k, v: attention_ref(q, k, v, np.tril(np.ones((4, 4), bool)), 0.5),
     [data((1, 4, 2, 3)), data((1, 4, 2, 3), seed=1), data((1, 4, 2, 3), seed=2)]),
    ("map", lambda x: ops.map(lambda r: r * r, x), lambda x: x * x, [data((3, 4))]),
    ("scan", lambda x: ops.scan(lambda c, r: (c * r, c + r), ops.ones((4,)), x)[1],
     lambda x: np.stack([np.prod(x[:i], axis=0) + x[i] for i in range(3)]), [data((3, 4))]),
    ("switch", lambda x: ops.switch(1, [ops.exp, ops.sin], x), np.sin, [data((3, 4))]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_more_gradients(name, fn, ref, inputs):
    check(fn, ref, inputs)


def test_divide_no_nan_has_no_nan_gradient():
    check(lambda a, b: ops.divide_no_nan(a, b), lambda a, b: np.where(
        b == 0, 0, a / np.where(b == 0, 1, b)), [data((3, 4)), np.array(
            [0.0, 0.5, -2.0, 0.0], np.float32)], traced=[0])


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_cumprod_gradients(axis):
    check(lambda x: ops.cumprod(x, axis=axis), lambda x: np.cumprod(x, axis=axis),
          [data((3, 5))])


def test_cumprod_gradient_where_values_are_zero():
    # no division by the values: the products of the others, exactly
    x = np.array([[2.0, 0.0, 3.0, 0.0, 5.0], [0.0, 1.5, -2.0, 4.0, 0.5]], np.float32)
    check(lambda x: ops.cumprod(x, axis=1), lambda x: np.cumprod(x, axis=1), [x])
    tape = Tape("the test")
    leaf = tape.input(x)
    with tape.recording():
        out = ops.cumprod(leaf, axis=1)
    got = tape.backward([(out, np.ones_like(x))])[id(leaf)]
    assert np.isfinite(got).all() and got[0, 1] == 2.0 + 2 * 3  # d(y1 + y2)/dx1; y3, y4 stay 0


# ------------------------------------------- in a custom layer, on a tape

def test_a_custom_layer_of_keras_ops_trains():
    import pynn as keras

    class ConvBlock(keras.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], 4),
                                          initializer="glorot_uniform")

        def call(self, x):
            y = keras.ops.conv(x, self.kernel, padding="same")
            y = keras.ops.max_pool(keras.ops.gelu(y), 2, strides=2)
            return keras.ops.average_pool(y, 2, strides=2, padding="same")

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8, 8, 2)), ConvBlock(),
                              keras.layers.Flatten(), keras.layers.Dense(3)])

    def loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=True))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=loss)
    x = data((48, 8, 8, 2), seed=5)
    y = (x[:, :4].sum(axis=(1, 2, 3)) > x[:, 4:].sum(axis=(1, 2, 3))).astype(np.int64)
    y += (x[..., 0].sum(axis=(1, 2)) > 0).astype(np.int64)
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0]


def test_a_gradient_tape_through_keras_ops():
    import pynn as keras
    images = data((2, 6, 6, 3), seed=6)
    kernel = keras.Variable(data((3, 3, 3, 2), seed=7))
    target = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)

    def compute(k):
        y = keras.ops.depthwise_conv(images, k[..., :1], padding="same")
        y = keras.ops.conv(y, keras.ops.ones((1, 1, 3, 2)) * 0.5)
        pooled = keras.ops.mean(keras.ops.max_pool(y, (2, 2), strides=2), axis=(1, 2))
        return keras.ops.sum(keras.ops.categorical_crossentropy(target, pooled,
                                                                from_logits=True))

    with keras.GradientTape() as tape:
        loss = compute(kernel)
    grad = tape.gradient(loss, kernel)
    value = np.asarray(kernel.numpy(), np.float64)
    for index in [(0, 0, 0, 0), (1, 2, 1, 0), (2, 1, 2, 0), (1, 1, 0, 1)]:
        up, down = value.copy(), value.copy()
        up[index] += 1e-3
        down[index] -= 1e-3
        numeric = (float(compute(up.astype(np.float32))) -
                   float(compute(down.astype(np.float32)))) / 2e-3
        np.testing.assert_allclose(grad[index], numeric, rtol=2e-2, atol=2e-3)


def layer_norm_ref(x, g, b, axes, eps):
    m = x.mean(axis=axes, keepdims=True)
    v = x.var(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def s2d_first(x, b):
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 1, 3, 5, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


@pytest.mark.parametrize("name, fn, ref, inputs", [
    ("hypot", ops.hypot, np.hypot, [data((3, 4)), data((4,), seed=1)]),
    ("cbrt", ops.cbrt, np.cbrt, [data((3, 4), 0.3, 2) * np.array([1, -1, 1, -1],
                                                                np.float32)]),
    ("deg2rad", ops.deg2rad, np.deg2rad, [data((3, 4))]),
    ("logaddexp2", ops.logaddexp2, np.logaddexp2, [data((3, 4), -3, 3), data((4,), seed=1)]),
    ("fmod", ops.fmod, np.fmod, [data((3, 4), -5, 5), positive((4,), seed=1)]),
    ("inner", ops.inner, np.inner, [data((3, 4)), data((2, 4), seed=1)]),
    ("vdot", ops.vdot, np.vdot, [data((3, 4)), data((3, 4), seed=1)]),
    ("rot90", lambda x: ops.rot90(x, 3, (1, 2)), lambda x: np.rot90(x, 3, (1, 2)),
     [data((2, 3, 4))]),
    ("diff", lambda x: ops.diff(x, 2, axis=0), lambda x: np.diff(x, 2, axis=0),
     [data((5, 3))]),
    ("diagflat", lambda x: ops.diagflat(x, 1), lambda x: np.diagflat(x, 1), [data((2, 2))]),
    ("array_split", lambda x: ops.concatenate(ops.array_split(x, 3, axis=1)[::-1], axis=1),
     lambda x: np.concatenate(np.array_split(x, 3, axis=1)[::-1], axis=1), [data((2, 7))]),
    ("column_stack", lambda a, b: ops.column_stack([a, b]), lambda a, b: np.column_stack(
        [a, b]), [data((4,)), data((4, 2), seed=1)]),
    ("dstack", lambda a, b: ops.dstack([a, b]), lambda a, b: np.dstack([a, b]),
     [data((2, 3)), data((2, 3), seed=1)]),
    ("ptp", lambda x: ops.ptp(x, axis=1), lambda x: np.ptp(x, axis=1), [data((3, 5))]),
    ("quantile", lambda x: ops.quantile(x, np.array([0.2, 0.5, 0.9]), axis=1),
     lambda x: np.quantile(x, [0.2, 0.5, 0.9], axis=1), [data((3, 6))]),
    ("quantile-keepdims", lambda x: ops.quantile(x, 0.3, axis=(0, 2), keepdims=True),
     lambda x: np.quantile(x, 0.3, axis=(0, 2), keepdims=True), [data((2, 3, 4))]),
    ("median", ops.median, np.median, [data((3, 4))]),
    ("percentile-midpoint", lambda x: ops.percentile(x, 35, axis=0, method="midpoint"),
     lambda x: np.percentile(x, 35, axis=0, method="midpoint"), [data((6, 3))]),
    ("sinc", ops.sinc, np.sinc, [data((3, 4), -2, 2)]),
    ("sparse_plus", ops.sparse_plus, lambda x: np.where(x <= -1, 0, np.where(
        x < 1, (x + 1) ** 2 / 4, x)), [data((4, 5), -2.5, 2.5)]),
    ("squareplus", ops.squareplus, lambda x: (x + np.sqrt(x * x + 4)) / 2, [data((3, 4))]),
    ("soft_shrink", ops.soft_shrink, lambda x: np.where(x > 0.5, x - 0.5, np.where(
        x < -0.5, x + 0.5, 0)), [data((4, 5), -2, 2)]),
    ("hard_shrink", ops.hard_shrink, lambda x: np.where(np.abs(x) > 0.5, x, 0),
     [data((4, 5), -2, 2)]),
    ("tanh_shrink", ops.tanh_shrink, lambda x: x - np.tanh(x), [data((3, 4))]),
    ("threshold", lambda x: ops.threshold(x, 0.1, -2.0), lambda x: np.where(x > 0.1, x, -2.0),
     [data((3, 4))]),
    ("layer_normalization", lambda x, g, b: ops.layer_normalization(x, g, b, epsilon=0.01),
     lambda x, g, b: layer_norm_ref(x, g, b, -1, 0.01),
     [data((3, 5)), data((5,), seed=1), data((5,), seed=2)]),
    ("layer_normalization-axes", lambda x, g: ops.layer_normalization(x, g, axis=(1, 2)),
     lambda x, g: layer_norm_ref(x, g, 0, (1, 2), 1e-7), [data((2, 3, 4)),
                                                           data((3, 4), seed=1)]),
    ("layer_normalization-rms", lambda x, g: ops.layer_normalization(x, g, rms_scaling=True),
     lambda x, g: x / np.sqrt(x.var(-1, keepdims=True) + 1e-7) * g,
     [data((3, 5)), data((5,), seed=1)]),
    ("rms_normalization", lambda x, s: ops.rms_normalization(x, s, epsilon=0.1),
     lambda x, s: x / np.sqrt((x * x).mean(-1, keepdims=True) + 0.1) * s,
     [data((3, 5)), data((5,), seed=1)]),
    ("psnr", lambda a, b: ops.psnr(a, b, 2.0), lambda a, b: 20 * np.log10(2.0) - 10 * np.log10(
        ((a - b) ** 2).mean()), [data((3, 4)), data((3, 4), seed=1)]),
    ("space_to_depth", lambda x: ops.space_to_depth(x, 2), lambda x: x.reshape(
        1, 2, 2, 3, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(1, 2, 3, 12), [data((1, 4, 6, 3))]),
    ("space_to_depth-first", lambda x: ops.space_to_depth(x, 2, "channels_first"),
     lambda x: s2d_first(x, 2), [data((1, 3, 4, 2))]),
    ("depth_to_space-first", lambda x: ops.depth_to_space(x, 2, "channels_first"),
     lambda x: x.reshape(1, 2, 2, 2, 2, 3).transpose(0, 1, 4, 2, 5, 3).reshape(1, 2, 4, 6),
     [data((1, 8, 2, 3))]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_batch3_gradients(name, fn, ref, inputs):
    check(fn, ref, inputs)


def test_nan_to_num_gives_replaced_values_no_gradient():
    tape = Tape("the test")
    x = tape.input(np.array([1.0, np.inf, np.nan, -np.inf, 2.0], np.float32))
    with tape.recording():
        y = ops.nan_to_num(x, posinf=5.0)
        out = ops.sum(ops.multiply(y, np.arange(1.0, 6.0, dtype=np.float32)))
    np.testing.assert_array_equal(y.value, [1.0, 5.0, 0.0, np.finfo(np.float32).min, 2.0])
    np.testing.assert_array_equal(tape.backward([(out, 1.0)])[id(x)], [1, 0, 0, 0, 5])


def well_conditioned(shape, seed=0):
    return data(shape, seed=seed) + 2 * np.eye(shape[-1], dtype=np.float32)


def conv_transpose_ref(x, k, stride):
    """The transposed convolution as the sum of the kernel placed at each
    input pixel ('valid' geometry)."""
    n, h, w, _ = x.shape
    kh, kw, out, _ = k.shape
    y = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, out), x.dtype)
    for i in range(h):
        for j in range(w):
            y[:, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "nc,hwoc->nhwo", x[:, i, j], k)
    return y


@pytest.mark.parametrize("name, fn, ref, inputs", [
    ("inv", ops.inv, np.linalg.inv, [well_conditioned((2, 3, 3))]),
    ("det", ops.det, np.linalg.det, [well_conditioned((2, 3, 3))]),
    ("logdet", ops.logdet, lambda a: np.linalg.slogdet(a)[1], [well_conditioned((3, 3))]),
    ("solve", ops.solve, np.linalg.solve, [well_conditioned((2, 3, 3)),
                                           data((2, 3, 2), seed=1)]),
    ("solve-vector", ops.solve, np.linalg.solve, [well_conditioned((3, 3)), data((3,), seed=1)]),
    ("solve_triangular", lambda a, b: ops.solve_triangular(a, b, lower=True),
     lambda a, b: np.linalg.solve(np.tril(a), b), [well_conditioned((3, 3)),
                                                    data((3, 2), seed=1)]),
    ("matrix_power", lambda a: ops.matrix_power(a, 3), lambda a: a @ a @ a, [data((3, 3))]),
    ("conv_transpose", lambda x, k: ops.conv_transpose(x, k, strides=2),
     lambda x, k: conv_transpose_ref(x, k, 2), [data((1, 3, 2, 2)), data((3, 2, 3, 2), seed=1)]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_linalg_gradients(name, fn, ref, inputs):
    check(fn, ref, inputs)


def test_factorizations_refuse_traced_arrays():
    tape = Tape("the test")
    with tape.recording():
        for fn in (ops.cholesky, ops.svd, ops.qr, ops.eigh, ops.pinv):
            with pytest.raises(TypeError, match="traced arrays are not supported"):
                fn(tape.input(well_conditioned((3, 3))))
