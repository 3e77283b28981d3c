"""Every pynn.ops function against a float64 NumPy reference on shapes with
0, 1, odd and prime sizes, inputs of every dtype and memory layout, NaN and
inf; and, with garbage in any argument, only ValueError or TypeError."""
import inspect

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fuzzhelp import (ALLOWED, array_spec, build, close, f32, garbage, positive_side,
                      shape, side, small_side)
from pynn import ops

FLOATS = [np.float32, np.float64, np.float16]


# ------------------------------------------------------------ activations

def act_ref(name, x, alpha):
    a = ops.DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    with np.errstate(all="ignore"):
        sig = 1 / (1 + np.exp(-x))
        return {
            "linear": lambda: x, "relu": lambda: np.maximum(x, 0),
            "relu6": lambda: np.minimum(np.maximum(x, 0), 6),
            "leaky_relu": lambda: np.where(x > 0, x, a * x),
            "elu": lambda: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
            "sigmoid": lambda: sig, "hard_sigmoid": lambda: np.clip(x / 6 + 0.5, 0, 1),
            "hard_swish": lambda: x * np.clip(x / 6 + 0.5, 0, 1), "tanh": lambda: np.tanh(x),
            "softplus": lambda: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
            "swish": lambda: x * sig,
        }[name]()


def softmax_ref(x, axis=-1):
    if x.size == 0:
        return x
    with np.errstate(all="ignore"):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


@given(name=st.sampled_from(sorted(ops.ACTIVATIONS)), shp=shape(1, 4), spec=array_spec(),
       with_bias=st.booleans(), alpha=st.none() | st.floats(-2, 2, width=32))
def test_activation(name, shp, spec, with_bias, alpha):
    x, ref = build(spec, shp)
    bias = None
    if with_bias:
        bias = np.random.default_rng(1).uniform(-1, 1, shp[-1])
        ref = ref + f32(bias)
    pre = f32(ref)
    got = ops.activation(x, name, bias=bias, alpha=alpha)
    want = softmax_ref(pre) if name == "softmax" else act_ref(name, pre, alpha)
    # where the input is infinite, limits may differ (swish(-inf) is 0 or
    # NaN); a NaN input must give NaN
    keep = np.isfinite(pre)
    if name == "softmax":
        keep = np.broadcast_to(np.all(keep, axis=-1, keepdims=True), pre.shape)
    assert got.shape == pre.shape and got.dtype == np.float32
    assert np.all(np.isnan(got[np.isnan(pre)]))
    close(got[keep], want[keep], rtol=1e-5, atol=2e-6)


def act_grad_ref(name, x, y, alpha):
    a = ops.DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    with np.errstate(all="ignore"):
        sig = 1 / (1 + np.exp(-x))
        return {
            "linear": np.ones_like(x), "relu": (y > 0) * 1.0,
            "relu6": ((y > 0) & (y < 6)) * 1.0, "leaky_relu": np.where(x > 0, 1.0, a),
            "elu": np.where(x > 0, 1.0, y + a), "sigmoid": y * (1 - y),
            "hard_sigmoid": ((y > 0) & (y < 1)) / 6.0,
            "hard_swish": np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, (2 * x + 3) / 6)),
            "tanh": 1 - y * y, "softplus": sig, "swish": sig * (1 + x * (1 - sig)),
        }[name]


@given(name=st.sampled_from(sorted(set(ops.ACTIVATIONS) - {"softmax"})), shp=shape(1, 3),
       spec=array_spec(specials=False), alpha=st.none() | st.floats(-2, 2, width=32))
def test_activation_grad(name, shp, spec, alpha):
    x, ref = build(spec, shp)
    y = ops.activation(x, name, alpha=alpha)
    dy = np.random.default_rng(2).uniform(-1, 1, shp).astype(np.float32)
    got = ops.activation_grad(name, x if name in ops.NEEDS_INPUT else None, y, dy, alpha=alpha)
    want = act_grad_ref(name, f32(ref), y.astype(np.float64), alpha) * dy
    close(got, want, rtol=1e-4, atol=1e-5)


@given(shp=shape(1, 4, small_side), spec=array_spec(), data=st.data())
def test_softmax_any_axis(shp, spec, data):
    axis = data.draw(st.integers(-len(shp), len(shp) - 1))
    x, ref = build(spec, shp)
    got = ops.softmax(x, axis=axis)
    want = softmax_ref(f32(ref), axis)
    keep = np.broadcast_to(np.all(np.isfinite(f32(ref)), axis=axis, keepdims=True), want.shape)
    close(got[keep], want[keep], rtol=1e-5, atol=1e-6)


@given(shp=shape(1, 4), spec=array_spec(specials=False))
def test_bias_grad(shp, spec):
    dy, ref = build(spec, shp)
    rows = int(np.prod(shp[:-1]))
    close(ops.bias_grad(dy), f32(ref).reshape(rows, shp[-1]).sum(0), atol=1e-4,
          scale=max(1, np.prod(shp[:-1])))


# ------------------------------------------------------------------ dense

@given(m=side, k=side, n=side, sa=array_spec(specials=False), sb=array_spec(specials=False),
       layout=st.sampled_from(["C", "T", "strided"]), alpha=st.floats(-2, 2, width=32),
       beta=st.sampled_from([0.0, 1.0, -0.5]))
def test_matmul(m, k, n, sa, sb, layout, alpha, beta):
    a, ra = build(sa, (m, k))
    if layout == "T":  # a transposed view, read in place
        a, ra = np.ascontiguousarray(np.asarray(a, np.float32).T).T, ra
    b, rb = build(sb, (k, n))
    out = np.full((m, n), 0.25, np.float32)
    got = ops.matmul(a, b, out=out, alpha=alpha, beta=beta)
    want = alpha * f32(ra) @ f32(rb) + beta * 0.25
    close(got, want, rtol=1e-4, atol=1e-5, scale=max(k, 1))


@given(m=side, k=side, n=side, sx=array_spec(specials=False), sb=array_spec(specials=False),
       act=st.sampled_from(sorted(set(ops.ACTIVATIONS) - {"softmax"})), use_bias=st.booleans())
def test_dense_and_its_gradient(m, k, n, sx, sb, act, use_bias):
    x, rx = build(sx, (m, k))
    kernel = np.random.default_rng(3).uniform(-1, 1, (k, n)).astype(np.float32)
    bias, rb = build(sb, (n,)) if use_bias else (None, np.zeros(n))
    pre = f32(rx) @ kernel.astype(np.float64) + f32(rb)
    y = ops.dense(x, kernel, bias, act)
    close(y, act_ref(act, pre, None), rtol=1e-4, atol=1e-5, scale=max(k, 1))
    dy = np.random.default_rng(4).uniform(-1, 1, (m, n)).astype(np.float32)
    kg, bg = np.empty((k, n), np.float32), np.empty(n, np.float32)
    pre32 = ops.dense(x, kernel, bias) if act in ops.NEEDS_INPUT else None
    dx = ops.dense_grad(x, kernel, dy, act, y=y, pre=pre32, kernel_grad=kg, bias_grad=bg)
    g = dy * act_grad_ref(act, pre if pre32 is None else pre32.astype(np.float64),
                          y.astype(np.float64), None)
    # where the activation's derivative jumps (relu at 0) the float32
    # forward may sit on the other side: compare away from the kinks
    assume(not np.any(np.abs(pre) < 1e-4))
    close(dx, g @ kernel.T.astype(np.float64), rtol=1e-3, atol=1e-4, scale=max(n, 1))
    close(kg, f32(rx).T @ g, rtol=1e-3, atol=1e-4, scale=max(m, 1))
    close(bg, g.sum(0), rtol=1e-3, atol=1e-4, scale=max(m, 1))


# ----------------------------------------------------------------- losses

def loss_ref(kind, t, p):
    eps = 1e-7
    with np.errstate(all="ignore"):
        if kind == "mean_squared_error":
            return ((p - t) ** 2).mean(-1)
        if kind == "mean_absolute_error":
            return np.abs(p - t).mean(-1)
        if kind == "binary_crossentropy":
            pc = np.clip(p, eps, 1 - eps)
            return -(t * np.log(pc) + (1 - t) * np.log(1 - pc)).mean(-1)
        if kind == "categorical_crossentropy":
            q = np.clip(p / p.sum(-1, keepdims=True), eps, 1 - eps)
            return -(t * np.log(q)).sum(-1)
        if kind == "softmax_crossentropy":
            m = p.max(-1, keepdims=True)
            return t.sum(-1) * (m[..., 0] + np.log(np.exp(p - m).sum(-1))) - (t * p).sum(-1)
        return (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(-1)


@given(kind=st.sampled_from(sorted(ops.LOSS_KINDS)), rows=side, cols=positive_side,
       st_=array_spec(FLOATS, specials=False), sp=array_spec(FLOATS, specials=False),
       weighted=st.booleans(), scale=st.none() | st.floats(0.5, 64))
def test_loss_and_its_gradient(kind, rows, cols, st_, sp, weighted, scale):
    probs = kind in ("binary_crossentropy", "categorical_crossentropy")
    t, rt = build(st_, (rows, cols), 0.0, 1.0)
    p, rp = build(sp, (rows, cols), 0.05 if probs else -3, 0.95 if probs else 3)
    rt, rp = f32(rt), f32(rp)
    w = np.random.default_rng(5).uniform(0.5, 2, rows).astype(np.float32) if weighted else None
    grad = np.empty((rows, cols), np.float32)
    per = ops.loss(kind, t, p, sample_weight=w, scale=scale, grad=grad)
    close(per, loss_ref(kind, rt, rp), rtol=2e-4, atol=1e-5, scale=cols)
    # the gradient along a random direction, by central differences
    d = np.random.default_rng(6).uniform(-1, 1, (rows, cols))
    wt = np.ones(rows) if w is None else w.astype(np.float64)
    s = max(rows, 1) if scale is None else scale
    h = 1e-6

    def total(q):
        return float(np.dot(wt, loss_ref(kind, rt, q))) / s

    # away from the clipping edges, where the derivative jumps
    if probs:
        q = rp / rp.sum(-1, keepdims=True) if kind == "categorical_crossentropy" else rp
        assume(np.all((q > 1e-6) & (q < 1 - 1e-6)))
    num = (total(rp + h * d) - total(rp - h * d)) / (2 * h)
    assert abs(float(np.sum(grad * d)) - num) <= 1e-3 * (1 + abs(num))


@given(rows=side, cols=positive_side, sp=array_spec(FLOATS, specials=False),
       from_logits=st.booleans(), dtype=st.sampled_from([np.int32, np.int64, np.uint8,
                                                          np.float64, np.float32]))
def test_sparse_loss_matches_one_hot(rows, cols, sp, from_logits, dtype):
    p, rp = build(sp, (rows, cols), -3 if from_logits else 0.05, 3 if from_logits else 0.95)
    labels = np.random.default_rng(7).integers(0, cols, rows)
    onehot = np.eye(cols)[labels]
    kind = "softmax_crossentropy" if from_logits else "categorical_crossentropy"
    got = ops.sparse_loss(labels.astype(dtype), p, from_logits=from_logits)
    close(got, loss_ref(kind, onehot, f32(rp)), rtol=2e-4, atol=1e-5, scale=cols)


@given(cols=positive_side, bad=st.sampled_from([-1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 62,
                                                 1.5, np.nan, np.inf]),
       dtype=st.sampled_from([np.int64, np.float64, np.uint64]))
def test_sparse_labels_out_of_range_are_refused_not_wrapped(cols, bad, dtype):
    try:
        with np.errstate(invalid="ignore"):
            labels = np.array([0, bad]).astype(dtype)
    except (OverflowError, ValueError):
        return
    if dtype is not np.float64 and labels[1] != bad:  # the cast itself changed the value
        return
    p = np.full((2, cols), 1.0 / cols, np.float32)
    with pytest.raises(ValueError, match="label"):
        ops.sparse_loss(labels, p)


# ------------------------------------------------------------- optimizers

@given(n=side, seed=st.integers(0, 2 ** 16), momentum=st.sampled_from([0.0, 0.5, 0.9]),
       nesterov=st.booleans(), t=st.integers(1, 10 ** 6))
def test_optimizer_updates(n, seed, momentum, nesterov, t):
    g_ = np.random.default_rng(seed)
    w, g, a, b = (g_.uniform(-1, 1, n).astype(np.float32) for _ in range(4))
    b = np.abs(b)
    lr = 0.01
    w1, v1 = w.copy(), a.copy()
    ops.sgd_update(w1, g, v1, lr, momentum, nesterov)
    v = momentum * a.astype(np.float64) - lr * g
    want = w + (momentum * v - lr * g if nesterov else v) if momentum else w - lr * g
    close(w1, want, rtol=1e-5, atol=1e-6)
    w2, s2 = w.copy(), b.copy()
    ops.rmsprop_update(w2, g, s2, lr, 0.9, 1e-7)
    s = 0.9 * b.astype(np.float64) + 0.1 * g.astype(np.float64) ** 2
    close(w2, w - lr * g / np.sqrt(s + 1e-7), rtol=1e-4, atol=1e-5)
    w3, m3, v3 = w.copy(), a.copy(), b.copy()
    ops.adam_update(w3, g, m3, v3, t, lr, 0.9, 0.999, 1e-7)
    m = a + 0.1 * (g.astype(np.float64) - a)
    v = b + 0.001 * (g.astype(np.float64) ** 2 - b)
    step = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    close(w3, w - step * m / (np.sqrt(v) + 1e-7), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------ elementwise

@given(shp=shape(0, 4), spec=array_spec(), rate=st.floats(0, 0.99), seed=st.integers(-2 ** 70,
                                                                                       2 ** 70))
def test_dropout(shp, spec, rate, seed):
    x, ref = build(spec, shp)
    y, mask = ops.dropout(x, rate, seed)
    assert y.shape == ref.shape and mask.shape == ref.shape and set(np.unique(mask)) <= {0, 1}
    with np.errstate(all="ignore"):
        want = np.where(mask == 1, f32(ref) * np.float32(1 / (1 - np.float32(rate))), 0.0)
        want = np.where(mask == 1, want, f32(ref) * 0.0)
    close(y, want, rtol=1e-6, atol=0)
    dy = np.ones(ref.shape, np.float32)
    close(ops.dropout_grad(dy, mask, rate), mask / np.float32(1 - np.float32(rate)), rtol=1e-6)


@given(rows=side, cols=small_side, spec=array_spec(), data=st.data(),
       dtype=st.sampled_from([np.float32, np.int64, np.uint8, np.float64]))
def test_gather_rows(rows, cols, spec, data, dtype):
    src, _ = build(spec, (rows, cols))
    src = np.asarray(src).astype(dtype)
    idx = data.draw(st.lists(st.integers(-rows, rows - 1), max_size=9)) if rows else []
    got = ops.gather_rows(src, idx)
    np.testing.assert_array_equal(got, src[np.asarray(idx, np.int64)])
    if rows:
        with pytest.raises(IndexError):
            ops.gather_rows(src, [rows])


@given(kind=st.sampled_from(["categorical", "sparse", "binary"]), rows=side, cols=positive_side,
       seed=st.integers(0, 2 ** 16), weighted=st.booleans())
def test_accuracy_count(kind, rows, cols, seed, weighted):
    g = np.random.default_rng(seed)
    p = g.uniform(0, 1, (rows, cols)).astype(np.float32)
    w = g.uniform(0, 2, rows).astype(np.float32) if weighted else np.ones(rows, np.float32)
    labels = g.integers(0, cols, rows)
    if kind == "sparse":
        t, hit = labels, p.argmax(-1) == labels
    elif kind == "categorical":
        t = np.eye(cols, dtype=np.float32)[labels]
        hit = p.argmax(-1) == labels
    else:
        t = (g.uniform(0, 1, (rows, cols)) > 0.5).astype(np.float32)
        hit = ((p > 0.5) == (t > 0.5)).mean(-1)
    got = ops.accuracy_count(kind, t, p, sample_weight=w if weighted else None)
    assert abs(got - float(np.dot(hit, w.astype(np.float64)))) <= 1e-4 * (1 + rows)


@given(shp=shape(0, 4), spec=array_spec())
def test_all_finite(shp, spec):
    x, ref = build(spec, shp)
    assert ops.all_finite(x) == bool(np.all(np.isfinite(f32(ref))))


BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
          "maximum": np.maximum, "minimum": np.minimum}


@given(name=st.sampled_from(sorted(BINARY)), shp=shape(0, 4, small_side), data=st.data(),
       sa=array_spec(), sb=array_spec())
def test_binary_ops_broadcast_as_numpy(name, shp, data, sa, sb):
    # b's shape: a suffix of a's with some sizes set to 1
    cut = data.draw(st.integers(0, len(shp)))
    bshape = tuple(1 if data.draw(st.booleans()) else d for d in shp[cut:])
    a, ra = build(sa, shp)
    b, rb = build(sb, bshape)
    with np.errstate(all="ignore"):
        want = BINARY[name](f32(ra), f32(rb)).astype(np.float32).astype(np.float64)
    close(getattr(ops, name)(a, b), want, rtol=1e-6, atol=0)


@given(shp=shape(0, 3), sa=array_spec(), sb=array_spec(), alpha=st.floats(-3, 3, width=32),
       beta=st.floats(-3, 3, width=32), with_b=st.booleans())
def test_axpby(shp, sa, sb, alpha, beta, with_b):
    a, ra = build(sa, shp)
    b, rb = build(sb, shp)
    # The kernels run with denormals as zero (FTZ/DAZ), scalars included.
    alpha, beta = (0.0 if abs(v) < np.finfo(np.float32).tiny else v for v in (alpha, beta))
    with np.errstate(all="ignore"):
        want = alpha * f32(ra) + (beta * f32(rb) if with_b else 0)
    close(ops.axpby(alpha, a, beta, b if with_b else None), want, rtol=1e-5, atol=1e-6)


@given(k=st.integers(1, 4), shp=shape(0, 3, small_side), seed=st.integers(0, 2 ** 16),
       op=st.sampled_from(["maximum", "minimum"]))
def test_extremum_grad_routes_to_the_first_winner(k, shp, seed, op):
    g = np.random.default_rng(seed)
    xs = [np.round(g.uniform(-2, 2, shp)).astype(np.float32) for _ in range(k)]  # ties
    y = xs[0]
    for x in xs[1:]:
        y = getattr(ops, op)(y, x)
    dy = g.uniform(-1, 1, shp).astype(np.float32)
    outs = ops.extremum_grad(xs, y, dy)
    winner = np.argmax(np.stack([x == y for x in xs]), axis=0) if shp else \
        np.argmax([x == y for x in xs])
    for j, o in enumerate(outs):
        np.testing.assert_array_equal(o, np.where(winner == j, dy, 0))


@given(shp=shape(1, 4, small_side), data=st.data(), seed=st.integers(0, 2 ** 16))
def test_reduce_to_shape(shp, data, seed):
    target = tuple(1 if data.draw(st.booleans()) else d for d in
                   shp[data.draw(st.integers(0, len(shp))):])
    g = np.random.default_rng(seed).uniform(-1, 1, shp).astype(np.float32)
    got = ops.reduce_to_shape(g, target)
    lead = len(shp) - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target)
                                      if d == 1 and shp[lead + i] != 1)
    want = g.astype(np.float64).sum(axis=axes).reshape(target)
    close(got, want, rtol=1e-5, atol=1e-5, scale=max(1, g.size))


@given(shp=shape(1, 4, small_side), data=st.data(), specs=st.lists(array_spec(), min_size=1,
                                                                  max_size=4))
def test_concatenate_and_its_gradient(shp, data, specs):
    axis = data.draw(st.integers(-len(shp), len(shp) - 1))
    sizes = [data.draw(small_side) for _ in specs]
    arrays, refs = [], []
    for spec, n in zip(specs, sizes):
        s = list(shp)
        s[axis] = n
        a, r = build(spec, tuple(s))
        arrays.append(a)
        refs.append(f32(r))
    got = ops.concatenate(arrays, axis=axis)
    want = np.concatenate(refs, axis=axis)
    close(got, want, rtol=0, atol=0)
    parts = ops.concatenate_grad(got, sizes, axis=axis)
    for p, r in zip(parts, refs):
        close(p, r, rtol=0, atol=0)


@given(count=small_side, m=small_side, k=small_side, n=small_side, ta=st.booleans(),
       tb=st.booleans(), sa=array_spec(specials=False), sb=array_spec(specials=False))
def test_batch_matmul(count, m, k, n, ta, tb, sa, sb):
    a, ra = build(sa, (count, k, m) if ta else (count, m, k))
    b, rb = build(sb, (count, n, k) if tb else (count, k, n))
    ra, rb = f32(ra), f32(rb)
    want = (ra.transpose(0, 2, 1) if ta else ra) @ (rb.transpose(0, 2, 1) if tb else rb)
    close(ops.batch_matmul(a, b, ta, tb), want, rtol=1e-5, atol=1e-5, scale=max(k, 1))


@given(shp=shape(1, 3, small_side), spec=array_spec(specials=False), data=st.data())
def test_l2_normalize_and_its_gradient(shp, spec, data):
    axis = data.draw(st.integers(-len(shp), len(shp) - 1))
    x, rx = build(spec, shp)
    rx = f32(rx)
    eps = 1e-12

    def ref(v):
        return v / np.sqrt(np.maximum((v * v).sum(axis, keepdims=True), eps))

    # one norm per vector, empty vectors too (a (2, 0) input holds two)
    norms = np.empty(int(np.prod(np.delete(shp, axis))), np.float32)
    y = ops.l2_normalize(x, axis=axis, norms=norms)
    close(y, ref(rx), rtol=1e-5, atol=1e-6)
    d = np.random.default_rng(8).uniform(-1, 1, shp)
    dy = np.random.default_rng(9).uniform(-1, 1, shp).astype(np.float32)
    dx = ops.l2_normalize_grad(x, y, norms, dy, axis=axis)
    h = 1e-6
    assume(np.all((rx * rx).sum(axis) > 1e-4))
    num = ((ref(rx + h * d) - ref(rx - h * d)) / (2 * h) * dy).sum()
    assert abs(float((dx * d).sum()) - num) <= 1e-3 * (1 + abs(num))


# ---------------------------------------------------------- normalization

@given(shp=shape(1, 4), spec=array_spec(FLOATS, specials=False))
def test_moments_and_channel_affine(shp, spec):
    x, rx = build(spec, shp)
    rows = int(np.prod(shp[:-1]))
    rx = f32(rx).reshape(rows, shp[-1])
    mean, var = ops.moments(x)
    with np.errstate(all="ignore"):
        want_mean = rx.mean(0) if rx.shape[0] else np.zeros(shp[-1])
        want_var = rx.var(0) if rx.shape[0] else np.zeros(shp[-1])
    close(mean, want_mean, rtol=1e-5, atol=1e-5)
    close(var, want_var, rtol=1e-4, atol=1e-5)
    scale = np.linspace(-1, 1, shp[-1])
    shift = np.linspace(2, 3, shp[-1])
    close(ops.channel_affine(x, scale, shift).reshape(rows, shp[-1]), rx * scale + shift,
          rtol=1e-5, atol=1e-5)


@given(rows=side, cols=positive_side, seed=st.integers(0, 2 ** 16), with_gamma=st.booleans())
def test_batch_norm_grad(rows, cols, seed, with_gamma):
    assume(rows > 1)
    g = np.random.default_rng(seed)
    x = g.uniform(-2, 2, (rows, cols)).astype(np.float32)
    dy = g.uniform(-1, 1, (rows, cols)).astype(np.float32)
    gamma = g.uniform(0.5, 2, cols).astype(np.float32) if with_gamma else None
    mean, var = ops.moments(x)
    scale, shift, inv_std = ops.batch_norm_affine(mean, var, gamma, None, 1e-3)
    gg, bg = np.empty(cols, np.float32), np.empty(cols, np.float32)
    dx = ops.batch_norm_grad(x, dy, mean, inv_std, gamma, gg, bg)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    xhat = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-3)
    gam = 1.0 if gamma is None else gamma.astype(np.float64)
    want = gam / np.sqrt(x64.var(0) + 1e-3) * (dy64 - dy64.mean(0) - xhat * (dy64 * xhat).mean(0))
    close(dx, want, rtol=1e-3, atol=1e-4)
    close(gg, (dy64 * xhat).sum(0), rtol=1e-3, atol=1e-4, scale=rows)
    close(bg, dy64.sum(0), rtol=1e-4, atol=1e-4, scale=rows)


# ------------------------------------------------------ convolution, pooling

def conv_ref(x, k, strides, pads, dilation, depthwise=False):
    """Direct float64 convolution with explicit (top, bottom), (left, right)
    padding."""
    n, h, w, c = x.shape
    kh, kw, _, m = k.shape
    (t, b), (l, r) = pads
    xp = np.zeros((n, h + t + b, w + l + r, c))
    xp[:, t:t + h, l:l + w] = x
    span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    oh = (h + t + b - span_h) // strides[0] + 1
    ow = (w + l + r - span_w) // strides[1] + 1
    out = np.zeros((n, oh, ow, c * m if depthwise else m))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dilation[0]:i * dilation[0] + (oh - 1) * strides[0] + 1:strides[0],
                       j * dilation[1]:j * dilation[1] + (ow - 1) * strides[1] + 1:strides[1]]
            if depthwise:
                out += (patch[..., :, None] * k[i, j]).reshape(n, oh, ow, c * m)
            else:
                out += patch @ k[i, j]
    return out


def explicit_pads(h, w, kh, kw, strides, dilation, padding):
    if isinstance(padding, tuple):
        return padding
    if padding == "valid":
        return ((0, 0), (0, 0))
    pads = []
    for size, kk, s, d in ((h, kh, strides[0], dilation[0]), (w, kw, strides[1], dilation[1])):
        out = -(-size // s)
        total = max((out - 1) * s + (kk - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


conv_padding = st.sampled_from(["valid", "same"]) | st.tuples(
    st.tuples(small_side, small_side), st.tuples(small_side, small_side))


@given(n=small_side, h=small_side, w=small_side, c=small_side, m=small_side,
       kh=st.integers(1, 3), kw=st.integers(1, 3), s=st.integers(1, 3), d=st.integers(1, 2),
       padding=conv_padding, sx=array_spec(), depthwise=st.booleans(),
       act=st.sampled_from(["linear", "relu", "tanh"]), use_bias=st.booleans())
def test_conv2d_forward_and_gradients(n, h, w, c, m, kh, kw, s, d, padding, sx, depthwise, act,
                                      use_bias):
    if d > 1:
        s = 1
    pads = explicit_pads(h, w, kh, kw, (s, s), (d, d), padding)
    oh = (h + sum(pads[0]) - (kh - 1) * d - 1) // s + 1
    ow = (w + sum(pads[1]) - (kw - 1) * d - 1) // s + 1
    x, rx = build(sx, (n, h, w, c))
    kernel = np.random.default_rng(10).uniform(-1, 1, (kh, kw, c, m)).astype(np.float32)
    channels = c * m if depthwise else m
    bias = np.linspace(-1, 1, channels).astype(np.float32) if use_bias else None
    fn = ops.depthwise_conv2d if depthwise else ops.conv2d
    if depthwise:
        act = "linear"
    if oh < 1 or ow < 1:
        with pytest.raises(ValueError, match="does not fit"):
            fn(x, kernel, bias, (s, s), padding, (d, d), act)
        return
    y = fn(x, kernel, bias, (s, s), padding, (d, d), act)
    with np.errstate(all="ignore"):
        pre = conv_ref(f32(rx), kernel.astype(np.float64), (s, s), pads, (d, d), depthwise)
        pre = pre + (0 if bias is None else bias)
    close(y, act_ref(act, pre, None), rtol=1e-4, atol=1e-5, scale=max(1, kh * kw * c))
    if not np.all(np.isfinite(f32(rx))):
        return
    # the adjoint identities: <dy, conv(x)> = <dx, x> = <dk, k> (linear part)
    dy = np.random.default_rng(11).uniform(-1, 1, y.shape).astype(np.float32)
    dk, db = np.empty_like(kernel), np.empty(channels, np.float32)
    grad = ops.depthwise_conv2d_grad if depthwise else ops.conv2d_grad
    kwargs = {} if depthwise else {"activation": act, "y": y}
    dx = grad(x, kernel, dy, (s, s), padding, (d, d), kernel_grad=dk, bias_grad=db, **kwargs)
    g = dy.astype(np.float64) * act_grad_ref(act, pre, y.astype(np.float64), None)
    lin = pre - (0 if bias is None else bias)
    tol = 1e-3 * (1 + np.abs(g).sum() * (1 + np.abs(lin).max(initial=0)))
    assert abs((g * lin).sum() - (dx.astype(np.float64) * f32(rx)).sum()) <= tol
    assert abs((g * lin).sum() - (dk.astype(np.float64) * kernel).sum()) <= tol
    pixels = n * oh * ow
    close(db, g.reshape(pixels, channels).sum(0), rtol=1e-3, atol=1e-4, scale=max(1, pixels))


@given(n=small_side, steps=small_side, c=small_side, m=small_side, kw=st.integers(1, 3),
       s=st.integers(1, 2), d=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same", "causal"]), sx=array_spec())
def test_conv1d(n, steps, c, m, kw, s, d, padding, sx):
    if d > 1:
        s = 1
    x, rx = build(sx, (n, steps, c))
    kernel = np.random.default_rng(12).uniform(-1, 1, (kw, c, m)).astype(np.float32)
    if padding == "causal":
        pads = ((0, 0), ((kw - 1) * d, 0))
    else:
        pads = explicit_pads(1, steps, 1, kw, (1, s), (1, d), padding)
    ow = (steps + sum(pads[1]) - (kw - 1) * d - 1) // s + 1
    if ow < 1:
        with pytest.raises(ValueError):
            ops.conv1d(x, kernel, strides=s, padding=padding, dilation_rate=d)
        return
    got = ops.conv1d(x, kernel, strides=s, padding=padding, dilation_rate=d)
    with np.errstate(all="ignore"):
        want = conv_ref(f32(rx)[:, None], kernel[None].astype(np.float64), (1, s), pads,
                        (1, d))[:, 0]
    close(got, want, rtol=1e-4, atol=1e-5, scale=max(1, kw * c))


def pool_ref(x, p, s, padding, kind):
    n, h, w, c = x.shape
    if padding == "valid":
        oh, ow, top, left = (h - p[0]) // s[0] + 1, (w - p[1]) // s[1] + 1, 0, 0
    else:
        oh, ow = -(-h // s[0]), -(-w // s[1])
        top = max((oh - 1) * s[0] + p[0] - h, 0) // 2
        left = max((ow - 1) * s[1] + p[1] - w, 0) // 2
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            y0, x0 = max(i * s[0] - top, 0), max(j * s[1] - left, 0)
            y1, x1 = min(i * s[0] - top + p[0], h), min(j * s[1] - left + p[1], w)
            win = x[:, y0:y1, x0:x1].reshape(n, (y1 - y0) * (x1 - x0), c)
            with np.errstate(all="ignore"):
                out[:, i, j] = win.max(1) if kind == "max" else win.mean(1)
    return out


@given(n=small_side, h=small_side, w=small_side, c=small_side, p=st.tuples(
    st.integers(1, 3), st.integers(1, 3)), s=st.none() | st.tuples(st.integers(1, 3),
                                                                    st.integers(1, 3)),
       padding=st.sampled_from(["valid", "same"]), sx=array_spec(),
       kind=st.sampled_from(["max", "avg"]))
def test_pooling_and_its_gradient(n, h, w, c, p, s, padding, sx, kind):
    x, rx = build(sx, (n, h, w, c))
    stride = s or p
    fn = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    fits = h > 0 and w > 0 and (padding == "same" or (h >= p[0] and w >= p[1]))
    if not fits:
        with pytest.raises(ValueError):
            fn(x, p, s, padding)
        return
    y = fn(x, p, s, padding)
    close(y, pool_ref(f32(rx), p, stride, padding, kind), rtol=1e-5, atol=1e-6)
    if not np.all(np.isfinite(f32(rx))):
        return
    dy = np.random.default_rng(13).uniform(-1, 1, y.shape).astype(np.float32)
    if kind == "max":
        dx = ops.max_pool2d_grad(dy, x, y, p, s, padding)
    else:
        dx = ops.avg_pool2d_grad(dy, (n, h, w, c), p, s, padding)
    assert dx.shape == (n, h, w, c)
    # each output's gradient reaches its window: the totals agree
    if kind == "avg":
        close(dx.sum(), float(dy.astype(np.float64).sum()), rtol=1e-4, atol=1e-4,
              scale=max(1, dy.size))
    else:
        close(dx.sum(), float(dy.astype(np.float64).sum()), rtol=1e-4, atol=1e-4,
              scale=max(1, dy.size))


@given(n=small_side, h=small_side, w=small_side, c=small_side, sx=array_spec(),
       kind=st.sampled_from(["max", "avg"]))
def test_global_pooling(n, h, w, c, sx, kind):
    x, rx = build(sx, (n, h, w, c))
    fn = ops.global_max_pool2d if kind == "max" else ops.global_avg_pool2d
    if h == 0 or w == 0:
        with pytest.raises(ValueError):
            fn(x)
        return
    y = fn(x)
    with np.errstate(all="ignore"):
        r = f32(rx).reshape(n, h * w, c)
        close(y, r.max(1) if kind == "max" else r.mean(1), rtol=1e-5, atol=1e-6)
    if np.all(np.isfinite(f32(rx))):
        dy = np.ones((n, c), np.float32)
        dx = ops.global_pool2d_grad(kind, dy, x, y)
        close(dx.sum(), float(n * c), rtol=1e-4, atol=1e-4)


@given(size=st.none() | st.integers(0, 50), kernel=st.integers(1, 9), stride=st.integers(1, 5),
       dilation=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]) | st.tuples(
           st.integers(0, 4), st.integers(0, 4)))
def test_conv_output_length(size, kernel, stride, dilation, padding):
    out, before = ops.conv_output_length(size, kernel, stride, dilation, padding)
    if size is None:
        assert out is None
        return
    if isinstance(padding, tuple):
        pads = padding
    else:
        pads = explicit_pads(size, 1, kernel, 1, (stride, 1), (dilation, 1), padding)[0]
    assert out == (size + sum(pads) - (kernel - 1) * dilation - 1) // stride + 1
    assert before == pads[0]


# ------------------------------------------------------ garbage arguments

def _valid_calls():
    """For each public function, arguments that work (so garbage in one of
    them is the only thing wrong)."""
    x4 = np.ones((2, 5, 5, 3), np.float32)
    k4 = np.ones((3, 3, 3, 4), np.float32)
    y4 = ops.conv2d(x4, k4)
    p4 = ops.max_pool2d(x4)
    m = np.ones((4, 3), np.float32)
    v = np.ones(3, np.float32)
    y, mask = ops.dropout(m, 0.5, 1)
    norms = np.ones(4, np.float32)
    seq = np.ones((2, 4, 3), np.float32)
    table, ids = np.ones((10, 3), np.float32), np.array([1, 2])

    def cell(fn, gates, **kwargs):
        """Arguments of a recurrent op, and a training trace for its grad."""
        args = (seq, np.ones((3, gates * 5), np.float32), np.ones((5, gates * 5), np.float32))
        return args, fn(*args, training=True, **kwargs)[-1]

    lstm_args, lstm_trace = cell(ops.lstm, 4)
    mask2 = np.ones((2, 4), bool)
    kt = np.ones((3, 3, 4, 3), np.float32)  # (height, width, filters, input channels)
    ln_mean, ln_inv = np.empty(4, np.float32), np.empty(4, np.float32)
    ops.layer_norm(m, mean=ln_mean, inv_std=ln_inv)
    gn_mean, gn_inv = np.empty(6, np.float32), np.empty(6, np.float32)
    ops.group_norm(x4, 3, mean=gn_mean, inv_std=gn_inv)
    gru_args, gru_trace = cell(ops.gru, 3, reset_after=False)
    rnn_args, rnn_trace = cell(ops.simple_rnn, 1)
    return {
        "matmul": (m, m.T), "dense": (m, m.T, np.ones(4)), "dense_grad": (m, m.T, np.ones((4, 4))),
        "bias_add": (m, v), "activation": (m, "elu"),
        "activation_grad": ("elu", m, m, m), "bias_grad": (m,), "linear": (m,), "relu": (m,),
        "relu6": (m,), "leaky_relu": (m, 0.2), "elu": (m, 1.0), "sigmoid": (m,),
        "hard_sigmoid": (m,), "hard_swish": (m,), "tanh": (m,), "softplus": (m,),
        "swish": (m,), "softmax": (m, -1), "loss": ("mean_squared_error", m, m),
        "sparse_loss": (np.zeros(4, int), m), "sgd_update": (v.copy(), v, v.copy(), 0.1, 0.9),
        "rmsprop_update": (v.copy(), v, v.copy()), "adam_update": (v.copy(), v, v.copy(),
                                                                   v.copy(), 1),
        "dropout": (m, 0.5, 1), "dropout_grad": (m, mask, 0.5), "gather_rows": (m, [0, 1]),
        "all_finite": (m,), "accuracy_count": ("categorical", m, m),
        "conv2d": (x4, k4), "conv2d_grad": (x4, k4, y4),
        "depthwise_conv2d": (x4, k4), "depthwise_conv2d_grad": (
            x4, k4, ops.depthwise_conv2d(x4, k4)),
        "conv1d": (x4[:, 0], k4[0]), "conv_geometry": (x4.shape, (3, 3), 1, "valid", 1),
        "conv_output_length": (5, 3, 1, 1, "valid"),
        "pool_geometry": (x4.shape, 2, None, "valid"), "padding_1d": ("causal", 3, 1),
        "max_pool2d": (x4,), "max_pool2d_grad": (p4, x4, p4), "avg_pool2d": (x4,),
        "avg_pool2d_grad": (p4, x4.shape), "global_avg_pool2d": (x4,),
        "global_max_pool2d": (x4,), "global_pool2d_grad": ("avg", np.ones((2, 3)), x4),
        "moments": (m,), "channel_affine": (m, v, v), "batch_norm_grad": (m, m, v, v),
        "batch_norm_affine": (v, v), "moving_average": (v.copy(), v, 0.9),
        "fold_affine": (m, v, v, v), "add": (m, v), "subtract": (m, v), "multiply": (m, v),
        "maximum": (m, v), "minimum": (m, v), "axpby": (2.0, m, 1.0, m),
        "extremum_grad": ([m, m], m, m), "reduce_to_shape": (m, (3,)),
        "concatenate": ([m, m],), "concatenate_grad": (np.ones((4, 6), np.float32), [3, 3]),
        "batch_matmul": (np.ones((2, 3, 4)), np.ones((2, 4, 5))),
        "l2_normalize": (m,), "l2_normalize_grad": (m, m, norms, m),
        "weight_penalty": (v, 0.1, 0.2), "batch_norm_sums": (m, m, v, v),
        "batch_norm_grad_from_sums": (m, m, v, v, v, v, v, 4),
        "embedding": (table, ids), "embedding_grad": (ids, np.ones((2, 3), np.float32),
                                                     table.copy()),
        "lstm": lstm_args, "lstm_grad": (lstm_trace,), "gru": gru_args, "gru_grad": (gru_trace,),
        "simple_rnn": rnn_args, "simple_rnn_grad": (rnn_trace,),
        "affine_warp": (x4, np.eye(3, dtype=np.float32)[:2]),
        "alpha_dropout": (m, 0.5, 1), "alpha_dropout_grad": (m, ops.alpha_dropout(m, 0.5, 1)[1],
                                                              0.5),
        "combine_moments": (v, v, 4, v, v, 4),
        "conv2d_transpose": (x4, kt), "conv2d_transpose_grad": (x4, kt, ops.conv2d_transpose(
            x4, kt)),
        "conv_transpose_geometry": (x4.shape, (3, 3), (1, 1), "valid"),
        "spatial_crop": (x4, ((1, 1), (1, 1))), "spatial_pad": (x4, ((1, 1), (1, 1))),
        "group_norm": (x4, 3), "group_norm_grad": (x4, x4, gn_mean, gn_inv, 3),
        "layer_norm": (m,), "layer_norm_grad": (m, m, ln_mean, ln_inv),
        "masked_mean": (seq, mask2), "masked_mean_grad": (
            np.ones((2, 3), np.float32), ops.masked_mean(seq, mask2)[1]),
        "prelu": (m, v), "prelu_grad": (m, v, m), "random_normal": ((2, 3),),
        "relu_form": (0.0, None, 0.0), "relu_grad": (m, m, m),
        "repeat": (m, 2, 1), "repeat_grad": (np.ones((4, 6), np.float32), 2, 1),
        "resize": (x4, (3, 3)), "resize_geometry": (5, 5, (3, 3)),
        "resize_grad": (np.ones((2, 3, 3, 3), np.float32), x4.shape),
        "reverse": (seq,), "scale_channels": (x4, np.ones((2, 3), np.float32)),
        "softmax_grad": (m, m), "standardize_affine": (v, v),
        "time_mask": (seq,), "time_mask_grad": (seq, mask2), "transpose": (m,),
        "hash_buckets": (np.array(["a", "bb"]), 7),
    }


VALID = _valid_calls()


def test_every_public_function_has_valid_arguments_here():
    # NUMPY_STYLE functions are NumPy's on arrays, checked against it in
    # tests/autodiff.
    functions = {n for n in ops.__all__ if callable(getattr(ops, n))
                 and not isinstance(getattr(ops, n), type) and n not in ops.NUMPY_STYLE}
    assert sorted(functions) == sorted(VALID)
    for name, args in VALID.items():
        getattr(ops, name)(*args)


@given(name=st.sampled_from(sorted(VALID)), data=st.data())
def test_garbage_arguments_raise_value_or_type_errors(name, data):
    fn = getattr(ops, name)
    args = list(VALID[name])
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)]
    kwargs = {}
    for _ in range(data.draw(st.integers(1, 2))):
        i = data.draw(st.integers(0, len(params) - 1))
        if i < len(args):
            args[i] = data.draw(garbage)
        else:
            kwargs[params[i].name] = data.draw(garbage)
    try:
        fn(*args, **kwargs)
    except ALLOWED:
        pass
    except IndexError:  # an index out of range, as NumPy's indexing says it
        assert name in ("gather_rows", "affine_warp")
