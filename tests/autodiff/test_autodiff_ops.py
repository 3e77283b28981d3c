"""Every function of pynn.ops / pynn.backend / the operators that traced
arrays support: the value on NumPy arrays and on traced arrays against a
NumPy float64 reference, and the tape's gradient against central
differences of that reference (float64, so the check is tight)."""
import numpy as np
import pytest

import pynn
from pynn import backend as K
from pynn import ops
from pynn.autodiff import Tape, Traced


def data(shape, low=-1.0, high=1.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def positive(shape, seed=0):
    return data(shape, 0.2, 2.0, seed)


def numeric_grad(ref, inputs, i, cot, h=1e-6):
    xs = [np.array(x, np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x
          for x in inputs]
    x = xs[i]
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        up = np.sum(cot * ref(*xs))
        x[idx] = old - h
        down = np.sum(cot * ref(*xs))
        x[idx] = old
        g[idx] = (up - down) / (2 * h)
    return g


def check(fn, ref, inputs, traced=None, rtol=1e-4, atol=2e-5, grad_rtol=2e-3, grad_atol=2e-4):
    traced = range(len(inputs)) if traced is None else traced
    inputs64 = [np.asarray(x, np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == "f"
                else x for x in inputs]
    want = np.asarray(ref(*inputs64), np.float64)
    plain = fn(*inputs)
    assert not isinstance(plain, Traced)
    np.testing.assert_allclose(np.asarray(plain, np.float64), want, rtol=rtol, atol=atol)
    tape = Tape("the test")
    args = [tape.input(x) if i in traced else x for i, x in enumerate(inputs)]
    with tape.recording():
        out = fn(*args)
    assert isinstance(out, Traced), type(out)
    assert out.value.dtype == np.float32
    np.testing.assert_allclose(out.value, want, rtol=rtol, atol=atol)
    cot = data(want.shape, seed=99)
    grads = tape.backward([(out, cot)])
    for i in traced:
        got = grads.get(id(args[i]))
        got = np.zeros(inputs[i].shape) if got is None else got
        assert got.shape == inputs[i].shape
        np.testing.assert_allclose(got, numeric_grad(ref, inputs, i, cot), rtol=grad_rtol,
                                   atol=grad_atol, err_msg=f"gradient of input {i}")


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softplus(x):
    return np.log1p(np.exp(x))


# ------------------------------------------------------------ elementwise

BROADCAST = [((7, 33), (7, 33)), ((7, 33), (33,)), ((7, 1), (1, 33)), ((3, 1, 5), (4, 5)),
             ((1,), (257,)), ((2, 7), ())]


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("name, fn, ref", [
    ("add", ops.add, np.add),
    ("subtract", ops.subtract, np.subtract),
    ("multiply", ops.multiply, np.multiply),
    ("divide", ops.divide, np.divide),
    ("maximum", ops.maximum, np.maximum),
    ("minimum", ops.minimum, np.minimum),
    ("K.maximum", K.maximum, np.maximum),
    ("operators", lambda a, b: (a + 1) * b - a / (b + 3) ** 2,
     lambda a, b: (a + 1) * b - a / (b + 3) ** 2),
])
def test_binary_broadcasting(name, fn, ref, shapes):
    a, b = data(shapes[0], seed=1), data(shapes[1], seed=2)
    if name == "divide":
        b = positive(shapes[1], seed=2)
    check(fn, ref, [a, b])


def test_power_both_operands():
    check(ops.power, np.power, [positive((7, 5), 1), data((5,), seed=2)])
    check(lambda a: a ** 3, lambda a: a ** 3, [data((4, 7), seed=3)])
    check(lambda a: 2.0 ** a, lambda a: 2.0 ** a, [data((4, 7), seed=3)])
    check(K.pow, np.power, [positive((3, 7), 1), 1.5], traced=[0])


@pytest.mark.parametrize("name, fn, ref, make", [
    ("negative", ops.negative, np.negative, data),
    ("abs", ops.abs, np.abs, data),
    ("exp", ops.exp, np.exp, data),
    ("log", ops.log, np.log, positive),
    ("log1p", ops.log1p, np.log1p, positive),
    ("expm1", ops.expm1, np.expm1, data),
    ("sqrt", ops.sqrt, np.sqrt, positive),
    ("square", ops.square, np.square, data),
    ("sin", ops.sin, np.sin, data),
    ("cos", ops.cos, np.cos, data),
    ("reciprocal", ops.reciprocal, np.reciprocal, positive),
    ("relu", ops.relu, lambda x: np.maximum(x, 0), data),
    ("relu6", ops.relu6, lambda x: np.clip(x, 0, 6), lambda s, seed=0: data(s, -9, 9, seed)),
    ("sigmoid", ops.sigmoid, sigmoid, data),
    ("tanh", ops.tanh, np.tanh, data),
    ("softplus", ops.softplus, softplus, data),
    ("elu", ops.elu, lambda x: np.where(x > 0, x, np.expm1(x)), data),
    ("swish", ops.swish, lambda x: x * sigmoid(x), data),
    ("leaky_relu", ops.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), data),
    ("hard_sigmoid", ops.hard_sigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
     lambda s, seed=0: data(s, -4, 4, seed)),
    ("softsign", ops.softsign, lambda x: x / (1 + np.abs(x)), data),
    ("K.sigmoid", K.sigmoid, sigmoid, data),
    ("K.softplus", K.softplus, softplus, data),
    ("K.sqrt", K.sqrt, np.sqrt, positive),
    ("activations.swish", pynn.activations.swish, lambda x: x * sigmoid(x), data),
    ("np.exp ufunc", np.exp, np.exp, data),
    ("np.tanh ufunc", np.tanh, np.tanh, data),
    ("abs()", abs, np.abs, data),
    ("neg operator", lambda x: -x, np.negative, data),
])
@pytest.mark.parametrize("shape", [(1,), (7, 33), (2, 3, 5)], ids=str)
def test_unary(name, fn, ref, make, shape):
    check(fn, ref, [make(shape, seed=4)])


def test_keras2_sqrt_takes_negatives_as_zero():
    x = np.array([-1.0, 0.0, 4.0], np.float32)
    np.testing.assert_array_equal(K.sqrt(x), [0, 0, 2])


@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.1}, {"max_value": 0.5},
                                    {"alpha": 0.1, "max_value": 0.5, "threshold": 0.2},
                                    {"max_value": 6}])
def test_keras2_relu(kwargs):
    alpha, mx, th = kwargs.get("alpha", 0.0), kwargs.get("max_value"), \
        kwargs.get("threshold", 0.0)

    def ref(x):
        y = np.where(x > th, x, 0.0)
        if mx is not None:
            y = np.clip(y, 0, mx)
        return y - alpha * np.maximum(th - x, 0)
    check(lambda x: K.relu(x, **kwargs), ref, [data((7, 9), -8 if mx == 6 else -1,
                                                    8 if mx == 6 else 1, seed=5)])


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_family(axis):
    x = data((4, 7), -3, 3, seed=6)
    check(lambda v: ops.softmax(v, axis=axis), lambda v: softmax(v, axis), [x])
    check(lambda v: K.softmax(v, axis=axis), lambda v: softmax(v, axis), [x])
    check(lambda v: ops.log_softmax(v, axis=axis), lambda v: np.log(softmax(v, axis)), [x])
    check(lambda v: ops.logsumexp(v, axis=axis, keepdims=True),
          lambda v: np.log(np.exp(v).sum(axis=axis, keepdims=True)), [x])


@pytest.mark.parametrize("axis", [-1, 0])
def test_l2_normalize(axis):
    x = data((5, 7), seed=7)
    ref = lambda v: v / np.sqrt(np.maximum((v * v).sum(axis=axis, keepdims=True), 1e-12))  # noqa
    check(lambda v: ops.l2_normalize(v, axis=axis), ref, [x])
    check(lambda v: K.l2_normalize(v, axis=axis), ref, [x])
    check(K.l2_normalize, lambda v: v / np.sqrt((v * v).sum()), [x])
    check(lambda v: ops.normalize(v, axis=axis), ref, [x])


def test_clip_and_where():
    x = data((6, 9), seed=8)
    check(lambda v: ops.clip(v, -0.5, 0.5), lambda v: np.clip(v, -0.5, 0.5), [x])
    check(lambda v: K.clip(v, -0.3, None), lambda v: np.maximum(v, -0.3), [x])
    cond = data((6, 9), seed=9) > 0
    check(lambda a, b: ops.where(cond, a, b), lambda a, b: np.where(cond, a, b),
          [x, data((9,), seed=10)])
    check(lambda a, b: K.switch(cond[:, 0], a, b), lambda a, b: np.where(cond[:, :1], a, b),
          [x, data((6, 9), seed=10)])


def test_remainder_and_floor_division():
    x = data((4, 5), 0.1, 3, seed=11)
    check(lambda v: v % 0.7, lambda v: np.mod(v, 0.7), [x])
    tape = Tape("the test")
    t = tape.input(x)
    assert isinstance(t // 0.7, np.ndarray)  # zero gradient: a constant


# ------------------------------------------------------------- reductions

@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (-1, True),
                                            ((0, 2), False), ([1], True)])
@pytest.mark.parametrize("name, fn, ref", [
    ("sum", ops.sum, np.sum), ("mean", ops.mean, np.mean), ("max", ops.max, np.max),
    ("min", ops.min, np.min), ("prod", ops.prod, np.prod), ("var", ops.var, np.var),
    ("std", ops.std, np.std), ("K.sum", K.sum, np.sum), ("K.mean", K.mean, np.mean),
    ("K.max", K.max, np.max), ("K.var", K.var, np.var), ("K.std", K.std, np.std),
    ("np.sum", np.sum, np.sum), ("np.mean", np.mean, np.mean), ("np.max", np.max, np.max),
    ("method sum", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims), np.sum),
])
def test_reductions(name, fn, ref, axis, keepdims):
    if isinstance(axis, list) and not name.startswith(("K.", "sum", "mean", "max", "min",
                                                        "prod", "var", "std")):
        pytest.skip("NumPy takes no list of axes")
    x = data((3, 7, 5), 0.5, 1.5, seed=12)
    ax = tuple(axis) if isinstance(axis, list) else axis
    check(lambda v: fn(v, axis=axis, keepdims=keepdims),
          lambda v: ref(v, axis=ax, keepdims=keepdims), [x])


def test_max_ties_share_the_gradient():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], np.float32)
    tape = Tape("the test")
    t = tape.input(x)
    with tape.recording():
        y = ops.max(t, axis=1)
    g = tape.backward([(y, np.ones(2, np.float32))])[id(t)]
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5], [1, 0, 0]])


def test_prod_gradient_with_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]], np.float32)
    check(lambda v: ops.prod(v, axis=1), lambda v: np.prod(v, axis=1), [x])


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_cumsum(axis):
    check(lambda v: ops.cumsum(v, axis=axis), lambda v: np.cumsum(v, axis=axis),
          [data((4, 6), seed=13)])


@pytest.mark.parametrize("ord, axis", [(None, -1), (None, None), (1, 0), (np.inf, -1),
                                       (3, 1), ("fro", (0, 1))])
def test_norm(ord, axis):
    x = data((5, 6), seed=14)
    check(lambda v: ops.norm(v, ord=ord, axis=axis),
          lambda v: np.linalg.norm(v, ord=ord, axis=axis), [x])
    check(lambda v: np.linalg.norm(v, ord=ord, axis=axis),
          lambda v: np.linalg.norm(v, ord=ord, axis=axis), [x])


# ----------------------------------------------------------------- shapes

@pytest.mark.parametrize("name, fn, ref", [
    ("reshape", lambda x: ops.reshape(x, (5, -1)), lambda x: x.reshape(5, -1)),
    ("K.reshape", lambda x: K.reshape(x, (5, 3, 7)), lambda x: x.reshape(5, 3, 7)),
    ("method reshape", lambda x: x.reshape(7, 15), lambda x: x.reshape(7, 15)),
    ("transpose", lambda x: ops.transpose(x, (2, 0, 1)), lambda x: x.transpose(2, 0, 1)),
    ("K.permute_dimensions", lambda x: K.permute_dimensions(x, (1, 2, 0)),
     lambda x: x.transpose(1, 2, 0)),
    ("K.transpose", K.transpose, lambda x: x.transpose()),
    (".T", lambda x: x.T, lambda x: x.T),
    ("expand_dims", lambda x: ops.expand_dims(x, 1), lambda x: np.expand_dims(x, 1)),
    ("K.expand_dims", K.expand_dims, lambda x: np.expand_dims(x, -1)),
    ("squeeze", lambda x: ops.squeeze(ops.expand_dims(x, 0), 0), lambda x: x),
    ("stack", lambda x: ops.stack([x, 2 * x], axis=1), lambda x: np.stack([x, 2 * x], 1)),
    ("K.stack", lambda x: K.stack([x, x * x]), lambda x: np.stack([x, x * x])),
    ("concatenate", lambda x: ops.concatenate([x, x[:, :2]], axis=1),
     lambda x: np.concatenate([x, x[:, :2]], 1)),
    ("K.concatenate", lambda x: K.concatenate([x, x]), lambda x: np.concatenate([x, x], -1)),
    ("np.concatenate", lambda x: np.concatenate([x, x], axis=0),
     lambda x: np.concatenate([x, x], 0)),
    ("split", lambda x: ops.concatenate(ops.split(x, 3, axis=1)[::-1], axis=1),
     lambda x: np.concatenate(np.split(x, 3, axis=1)[::-1], 1)),
    ("tile", lambda x: ops.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3))),
    ("K.tile", lambda x: K.tile(x, 2), lambda x: np.tile(x, 2)),
    ("repeat", lambda x: ops.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1)),
    ("repeat flat", lambda x: ops.repeat(x, 3), lambda x: np.repeat(x, 3)),
    ("K.repeat_elements", lambda x: K.repeat_elements(x, 3, 2),
     lambda x: np.repeat(x, 3, axis=2)),
    ("take", lambda x: ops.take(x, [2, 0, 2], axis=1), lambda x: np.take(x, [2, 0, 2], 1)),
    ("K.gather", lambda x: K.gather(x, [4, 4, 1]), lambda x: x[[4, 4, 1]]),
    ("flip", lambda x: ops.flip(x, 1), lambda x: np.flip(x, 1)),
    ("K.reverse", lambda x: K.reverse(x, (0, 2)), lambda x: np.flip(x, (0, 2))),
    ("moveaxis", lambda x: ops.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1)),
    ("swapaxes", lambda x: ops.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2)),
    ("broadcast_to", lambda x: ops.broadcast_to(x[:, :1, :1], (5, 4, 3)),
     lambda x: np.broadcast_to(x[:, :1, :1], (5, 4, 3))),
    ("pad", lambda x: ops.pad(x, ((1, 0), (0, 2), (1, 1))),
     lambda x: np.pad(x, ((1, 0), (0, 2), (1, 1)))),
    ("K.temporal_padding", K.temporal_padding, lambda x: np.pad(x, ((0, 0), (1, 1), (0, 0)))),
    ("K.flatten", K.flatten, lambda x: x.reshape(-1)),
    ("K.batch_flatten", K.batch_flatten, lambda x: x.reshape(5, -1)),
    ("K.repeat", lambda x: K.repeat(x[:, 0], 4), lambda x: np.repeat(x[:, None, 0], 4, 1)),
    ("basic index", lambda x: x[1:4, ::2, -1], lambda x: x[1:4, ::2, -1]),
    ("int index", lambda x: x[3], lambda x: x[3]),
    ("new axis", lambda x: x[..., None], lambda x: x[..., None]),
    ("fancy index", lambda x: x[[0, 2, 2, 4]], lambda x: x[[0, 2, 2, 4]]),
    ("mask index", lambda x: x[x.numpy() > 0] if isinstance(x, Traced) else x[x > 0],
     lambda x: x[x > 0]),
    ("iteration", lambda x: ops.stack(list(x)[::-1]), lambda x: x[::-1]),
])
def test_shape_functions(name, fn, ref):
    check(fn, ref, [data((5, 3, 7), seed=15)])


# --------------------------------------------------------- linear algebra

@pytest.mark.parametrize("sa, sb", [((7, 33), (33, 5)), ((1, 257), (257, 1)),
                                    ((3, 7, 4), (4, 5)), ((3, 7, 4), (3, 4, 2)),
                                    ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)), ((3, 4), (4,)),
                                    ((4, 3), (2, 3, 5))], ids=str)
def test_matmul(sa, sb):
    a, b = data(sa, seed=16), data(sb, seed=17)
    check(ops.matmul, np.matmul, [a, b])
    check(lambda x, y: x @ y, np.matmul, [a, b])
    check(ops.matmul, np.matmul, [a, b], traced=[1])


@pytest.mark.parametrize("sa, sb", [((7, 5), (5, 3)), ((2, 3, 4), (4, 5)),
                                    ((3, 4), (2, 4, 5)), ((4,), (4,)), ((3,), ())], ids=str)
def test_dot(sa, sb):
    check(ops.dot, np.dot, [data(sa, seed=18), data(sb, seed=19)])
    check(K.dot, np.dot, [data(sa, seed=18), data(sb, seed=19)])


def test_tensordot():
    a, b = data((3, 4, 5), seed=20), data((4, 5, 2), seed=21)
    check(lambda x, y: ops.tensordot(x, y, axes=([1, 2], [0, 1])),
          lambda x, y: np.tensordot(x, y, axes=([1, 2], [0, 1])), [a, b])
    check(lambda x, y: ops.tensordot(x, y, axes=1),
          lambda x, y: np.tensordot(x, y, axes=1), [data((3, 4), seed=2), b])


@pytest.mark.parametrize("sa, sb, axes, ref", [
    ((5, 3, 4), (5, 4, 6), None, "bij,bjk->bik"),
    ((5, 4), (5, 4), None, "bi,bi->b"),
    ((5, 3, 4), (5, 4), (2, 1), "bij,bj->bi"),
    ((5, 4, 3), (5, 4, 6), (1, 1), "bji,bjk->bik"),
])
def test_batch_dot(sa, sb, axes, ref):
    def expect(x, y):
        out = np.einsum(ref, x, y)
        return out[:, None] if out.ndim == 1 else out
    check(lambda x, y: K.batch_dot(x, y, axes), expect, [data(sa, seed=22), data(sb, seed=23)])


@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True)])
def test_batch_matmul(ta, tb):
    a = data((3, 4, 5) if ta else (3, 5, 4), seed=24)
    b = data((3, 6, 4) if tb else (3, 4, 6), seed=25)

    def ref(x, y):
        return np.matmul(np.swapaxes(x, 1, 2) if ta else x, np.swapaxes(y, 1, 2) if tb else y)
    check(lambda x, y: ops.batch_matmul(x, y, ta, tb), ref, [a, b])


def test_dense_with_weights_and_activation():
    x, k, b = data((6, 5), seed=26), data((5, 4), seed=27), data((4,), seed=28)
    check(lambda x, k, b: ops.dense(x, k, b, "tanh"), lambda x, k, b: np.tanh(x @ k + b),
          [x, k, b])
    check(lambda x, b: ops.activation(x, "sigmoid", bias=b), lambda x, b: sigmoid(x + b),
          [x, data((5,), seed=29)])


# ------------------------------------------------------------------ losses

def _bce(t, p):
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


@pytest.mark.parametrize("kind, ref", [
    ("mean_squared_error", lambda t, p: ((p - t) ** 2).mean(-1)),
    ("mean_absolute_error", lambda t, p: np.abs(p - t).mean(-1)),
    ("binary_crossentropy", lambda t, p: _bce(t, p).mean(-1)),
    # Keras scales the predictions to sum to 1 first, which shapes the gradient
    ("categorical_crossentropy",
     lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1)),
    ("softmax_crossentropy", lambda t, x: -(t * np.log(softmax(x))).sum(-1)),
    ("sigmoid_crossentropy", lambda t, x: _bce(t, sigmoid(x)).mean(-1)),
])
def test_loss_kernels_on_traced_predictions(kind, ref):
    t = (data((6, 4), seed=30) > 0).astype(np.float32)
    if kind == "categorical_crossentropy":
        t = np.eye(4, dtype=np.float32)[[0, 3, 1, 1, 2, 0]]
        p = softmax(data((6, 4), seed=31)).astype(np.float32)
    else:
        p = data((6, 4), 0.1, 0.9, seed=31)
    check(lambda t, p: ops.loss(kind, t, p), ref, [t, p], traced=[1])


def test_sparse_loss_and_loss_functions_on_traced_predictions():
    labels = np.array([0, 3, 1, 2, 2], np.int32)
    logits = data((5, 4), -2, 2, seed=32)
    onehot = np.eye(4)[labels]
    check(lambda t, x: ops.sparse_loss(t, x, from_logits=True),
          lambda t, x: -(onehot * np.log(softmax(x))).sum(-1), [labels, logits], traced=[1])
    p = data((5, 4), 0.1, 0.9, seed=33)
    t = (data((5, 4), seed=34) > 0).astype(np.float32)
    check(pynn.losses.binary_crossentropy, lambda t, p: _bce(t, p).mean(-1), [t, p],
          traced=[1])
    check(lambda t, p: pynn.losses.BinaryCrossentropy()(t, p), lambda t, p: _bce(t, p).mean(),
          [t, p], traced=[1])
    check(pynn.losses.mse, lambda t, p: ((p - t) ** 2).mean(-1), [t, p], traced=[1])


@pytest.mark.parametrize("from_logits", [False, True])
def test_keras2_crossentropies(from_logits):
    t = (data((5, 4), seed=35) > 0).astype(np.float32)
    x = data((5, 4), -2, 2, seed=36) if from_logits else data((5, 4), 0.1, 0.9, seed=36)
    check(lambda t, o: K.binary_crossentropy(t, o, from_logits=from_logits),
          lambda t, o: _bce(t, sigmoid(o) if from_logits else o), [t, x], traced=[1])
    onehot = np.eye(4, dtype=np.float32)[[0, 2, 3, 1, 1]]

    def cce(t, o):
        p = softmax(o) if from_logits else o / o.sum(-1, keepdims=True)
        return -(t * np.log(p)).sum(-1)
    check(lambda t, o: K.categorical_crossentropy(t, o, from_logits=from_logits), cce,
          [onehot, x], traced=[1])
    labels = np.array([0, 2, 3, 1, 1])
    check(lambda t, o: K.sparse_categorical_crossentropy(t, o, from_logits=from_logits),
          lambda t, o: cce(onehot, o), [labels, x], traced=[1])


# --------------------------------------------------------------- constants

def test_comparisons_and_integer_results_are_constants():
    x = data((4, 5), seed=37)
    tape = Tape("the test")
    t = tape.input(x)
    for value in (t > 0, t <= 0.2, t == t, ops.greater(t, 0), K.equal(t, 0),
                  ops.argmax(t, axis=1), K.argmax(t), ops.sign(t), ops.round(t), ops.floor(t),
                  K.cast(t > 0, "int32"), ops.one_hot(ops.argmax(t, 1), 5), np.isfinite(t),
                  ops.zeros_like(t), K.ones_like(t), ops.stop_gradient(t), t.numpy()):
        assert isinstance(value, np.ndarray), type(value)
    np.testing.assert_array_equal(t > 0, x > 0)
    assert isinstance(K.cast(t, "float32"), Traced)
    assert ops.shape(t) == K.int_shape(t) == (4, 5) and K.ndim(t) == 2 and len(t) == 4


def test_stop_gradient_blocks_the_gradient():
    x = data((3, 4), seed=38)
    tape = Tape("the test")
    t = tape.input(x)
    with tape.recording():
        y = t * ops.stop_gradient(t)
    g = tape.backward([(y, np.ones((3, 4), np.float32))])[id(t)]
    np.testing.assert_allclose(g, x)


def test_random_draws_are_seeded_constants():
    pynn.utils.set_random_seed(5)
    a = K.random_normal((3, 4))
    pynn.utils.set_random_seed(5)
    b = K.random_normal(shape=(3, 4))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and isinstance(a, np.ndarray)
    u = K.random_uniform((2000,), 2.0, 3.0)
    assert 2.0 <= u.min() and u.max() < 3.0
    gen = pynn.random.SeedGenerator(1337)
    c = pynn.random.normal((2, 2), seed=gen)
    d = pynn.random.normal((2, 2), seed=pynn.random.SeedGenerator(1337))
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(pynn.random.normal((2, 2), seed=gen), c)
    np.testing.assert_array_equal(pynn.random.uniform((3,), seed=7),
                                  pynn.random.uniform((3,), seed=7))
    assert abs(float(pynn.random.truncated_normal((4000,)).std()) - 0.88) < 0.05
    assert set(np.unique(K.random_binomial((50,), 0.5))) <= {0.0, 1.0}


def test_broadcast_gradients_take_each_operands_shape():
    tape = Tape("the test")
    a, b = tape.input(data((3, 1, 5), seed=39)), tape.input(data((4, 1), seed=40))
    c = tape.input(np.float32(2.0) * np.ones((), np.float32))
    with tape.recording():
        y = a * b + c
    grads = tape.backward([(y, np.ones((3, 4, 5), np.float32))])
    assert grads[id(a)].shape == (3, 1, 5) and grads[id(b)].shape == (4, 1)
    assert grads[id(c)].shape == () and float(grads[id(c)]) == 60.0
    np.testing.assert_allclose(grads[id(a)], np.broadcast_to(b.value.sum(), (3, 1, 5)),
                               rtol=1e-6)


def test_plain_arrays_keep_numpy_semantics():
    ints = np.arange(6).reshape(2, 3)
    assert ops.sum(ints).dtype.kind == "i" and ops.sum(ints) == 15
    assert ops.max(ints, axis=0).tolist() == [3, 4, 5]
    assert ops.reshape(ints, (3, 2)).dtype == ints.dtype
    assert ops.mean(ints).dtype == np.float32
    assert ops.exp(np.zeros(2)).dtype == np.float32
    assert ops.shape([[1, 2, 3]]) == (1, 3)
    np.testing.assert_array_equal(ops.where(ints > 2), np.nonzero(ints > 2))


# ------------------------------------------- Keras 3 ops the books use

@pytest.mark.parametrize("k", [-1, 0, 2])
def test_tril_and_triu(k):
    x = data((2, 5, 7), seed=40)
    check(lambda v: ops.tril(v, k), lambda v: np.tril(v, k), [x])
    check(lambda v: ops.triu(v, k), lambda v: np.triu(v, k), [x])


@pytest.mark.parametrize("subscripts, shapes", [
    ("ij,jk->ik", [(7, 33), (33, 5)]),
    ("bij,bjk->bik", [(3, 4, 5), (3, 5, 2)]),
    ("ij->", [(4, 6)]),
    ("ij->j", [(4, 6)]),
    ("ij,j->j", [(4, 6), (6,)]),
    ("i,j->ij", [(3,), (5,)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (3, 5, 2)]),
    ("...ij,jk", [(2, 1, 4, 5), (5, 2)]),
    ("abc,cde->abde", [(2, 3, 4), (4, 5, 6)]),
    ("bqhd,bkhd->bhqk", [(2, 3, 2, 4), (2, 5, 2, 4)]),
    ("ij,ij->ij", [(1, 6), (4, 6)]),
], ids=str)
def test_einsum(subscripts, shapes):
    inputs = [data(s, seed=41 + i) for i, s in enumerate(shapes)]
    check(lambda *v: ops.einsum(subscripts, *v), lambda *v: np.einsum(subscripts, *v), inputs)
    check(lambda *v: np.einsum(subscripts, *v), lambda *v: np.einsum(subscripts, *v), inputs)


def test_einsum_with_a_diagonal_is_refused_on_traced_arrays():
    x = data((3, 3), seed=44)
    np.testing.assert_allclose(ops.einsum("ii->i", x), np.diag(x))
    tape = Tape("the test")
    t = tape.input(x)
    with tape.recording():
        y = ops.einsum("ii->i", t)
    with pytest.raises(TypeError, match="repeated index"):
        tape.backward([(y, np.ones(3, np.float32))])


def test_top_k_and_take_along_axis():
    x = np.array([[3.0, 1.0, 3.0, 2.0], [0.0, 5.0, -1.0, 5.0]], np.float32)
    values, indices = ops.top_k(x, 3)
    np.testing.assert_array_equal(indices, [[0, 2, 3], [1, 3, 0]])
    np.testing.assert_array_equal(values, [[3, 3, 2], [5, 5, 0]])
    assert indices.dtype == np.int32
    x = data((4, 9), seed=45)
    idx = np.argsort(-x, axis=-1, kind="stable")[:, :4]
    check(lambda v: ops.top_k(v, 4)[0], lambda v: np.take_along_axis(v, idx, -1), [x])
    rep = np.array([[0, 0, 8], [1, 2, 1], [3, 3, 3], [8, 7, 0]])
    for axis in (1, -1):
        check(lambda v: ops.take_along_axis(v, rep, axis=axis),
              lambda v: np.take_along_axis(v, rep, axis=axis), [x])
    check(lambda v: ops.take_along_axis(v, np.array([[3], [0], [3]]), axis=0),
          lambda v: np.take_along_axis(v, np.array([[3], [0], [3]]), axis=0), [x])
    check(lambda v: ops.take_along_axis(v, np.array([5, 0, 5, -1]), axis=None),
          lambda v: np.take_along_axis(v, np.array([5, 0, 5, -1]), axis=None), [x])
    np.testing.assert_array_equal(ops.argsort(x), np.argsort(x, kind="stable"))
    with pytest.raises(ValueError, match="top_k: k=10"):
        ops.top_k(x, 10)


def test_segment_sum():
    x = data((6, 3), seed=46)
    ids = np.array([0, 2, 2, -1, 0, 3])
    want = lambda v: np.stack([v[ids == s].sum(axis=0) for s in range(5)])  # noqa: E731
    check(lambda v: ops.segment_sum(v, ids, num_segments=5), want, [x])
    assert ops.segment_sum(x, ids).shape == (4, 3)
    with pytest.raises(ValueError, match="segment id 3 is out of range for 2"):
        ops.segment_sum(x, ids, num_segments=2)
    with pytest.raises(ValueError, match="5 segment ids for 6 rows"):
        ops.segment_sum(x, ids[:5])


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_image_resize_on_traced_images(interpolation):
    x = data((2, 5, 7, 3), seed=47)
    want = ops.resize(x, (4, 9), interpolation)

    def ref(v):  # resize is linear in the images: its matrix, applied in float64
        basis = np.eye(5 * 7, dtype=np.float32).reshape(35, 5, 7, 1)
        m = ops.resize(basis, (4, 9), interpolation).reshape(35, 36).astype(np.float64)
        return np.einsum("nhwc,hwo->noc", v, m.reshape(5, 7, 36)).reshape(2, 4, 9, 3)
    np.testing.assert_allclose(ref(x.astype(np.float64)), want, atol=1e-5)
    check(lambda v: ops.image.resize(v, (4, 9), interpolation=interpolation), ref, [x])
    assert ops.image.resize(x[0], (4, 9), interpolation=interpolation).shape == (4, 9, 3)


def test_cond_runs_one_branch():
    x = data((3,), seed=48)
    check(lambda v: ops.cond(ops.sum(v) < 100, lambda: v * 2, lambda: v), lambda v: v * 2, [x])
    assert ops.cond(np.array(False), lambda: 1, lambda: 2) == 2
