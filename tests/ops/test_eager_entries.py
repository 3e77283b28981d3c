"""The public ops' direct paths for plain arrays (the usual eager call)
give what the general path gave: the same values and dtypes, eager
tensors, the same errors; symbolic operands are still recorded and
watched arrays still taped."""
import itertools
import warnings

import numpy as np
import pytest

import pynn
from pynn import ops

G = np.random.default_rng(0)
A = G.standard_normal((3, 4)).astype(np.float32)
B = G.standard_normal((3, 4)).astype(np.float32)


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "minimum"])
def test_binary_on_arrays_and_eager_tensors(name):
    want = getattr(np, name)(A, B)
    got = getattr(ops, name)(A, B)
    assert isinstance(got, pynn.Tensor) and got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), want)
    # an op's result (an eager tensor) as an operand, and into out=
    again = getattr(ops, name)(got, ops.add(A, 0.0))
    np.testing.assert_array_equal(again.numpy(), getattr(np, name)(want, A))
    out = np.empty_like(A)
    assert getattr(ops, name)(A, B, out=out) is not None
    np.testing.assert_array_equal(out, want)


def test_binary_operands_off_the_direct_path():
    # not contiguous, float64, integers, broadcasting: converted as before
    np.testing.assert_array_equal(ops.add(A.T, B.T).numpy(), A.T + B.T)
    np.testing.assert_allclose(ops.add(A.astype(np.float64), B).numpy(), A + B, rtol=1e-6)
    i = ops.add(np.arange(4, dtype=np.int32), np.arange(4, dtype=np.int32))
    assert i.dtype == np.int32 and list(i.numpy()) == [0, 2, 4, 6]
    np.testing.assert_array_equal(ops.add(A, B[:1]).numpy(), A + B[:1])
    with pytest.raises(ValueError, match=r"add: out must be float32 of shape \(3, 4\)"):
        ops.add(A, B, out=np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="add: out must be a writable"):
        ops.add(A, B, out=np.empty((3, 8), np.float32)[:, ::2])
    with pytest.raises(ValueError, match=r"shapes \(3, 4\) and \(2, 4\) cannot be broadcast"):
        ops.add(A, B[:2])


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4), (1, 6, 1)])
def test_mean_is_numpys_bit_for_bit(shape):
    x = (G.standard_normal(shape) * 1e3).astype(np.float32)
    nd = len(shape)
    axes = [None] + list(range(-nd, nd)) + list(itertools.combinations(range(nd), 2))
    for axis, keepdims in itertools.product(axes, (False, True)):
        want = np.mean(x, axis=axis, keepdims=keepdims, dtype=np.float32)
        got = ops.mean(x, axis=axis, keepdims=keepdims)
        assert isinstance(got, pynn.Tensor) and got.dtype == np.float32
        assert got.shape == np.shape(want)
        np.testing.assert_array_equal(got.numpy(), want)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(ops.mean(np.zeros((0, 3), np.float32)).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.bool_])
@pytest.mark.parametrize("name", ["sum", "max", "min", "prod"])
def test_reductions_keep_numpys_values_and_dtypes(name, dtype):
    x = (G.standard_normal((3, 4)) * 3).astype(dtype)
    for axis, keepdims in itertools.product([None, 0, -1, (0, 1), [1]], (False, True)):
        np_axis = tuple(axis) if isinstance(axis, list) else axis
        want = getattr(np, name)(x, axis=np_axis, keepdims=keepdims)
        got = np.asarray(getattr(ops, name)(x, axis=axis, keepdims=keepdims))
        assert got.dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError):
        ops.max(np.zeros((0,), np.float32))


def test_reshape_and_concatenate():
    assert ops.reshape(A, (4, 3)).shape == (4, 3)
    assert ops.reshape(A, (-1,)).shape == (12,)
    assert ops.reshape(A, [2, -1]).shape == (2, 6)
    assert isinstance(ops.reshape(A, (12,)), pynn.Tensor)
    with pytest.raises(ValueError):
        ops.reshape(A, (5, -1))
    np.testing.assert_array_equal(ops.concatenate([A, B], axis=1).numpy(),
                                  np.concatenate([A, B], axis=1))
    np.testing.assert_array_equal(ops.concatenate([A, B], axis=-2).numpy(),
                                  np.concatenate([A, B], axis=0))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        ops.concatenate([A, B], axis=2)
    with pytest.raises(ValueError, match="axis must be an integer"):
        ops.concatenate([A, B], axis=True)


def test_symbolic_operands_are_still_recorded():
    x = pynn.Input(shape=(4,))
    y = ops.mean(ops.reshape(ops.add(x, x), (-1, 2, 2)), axis=1)
    model = pynn.Model(x, ops.sum(y, axis=-1, keepdims=True))
    got = model.predict(A, verbose=0)
    np.testing.assert_allclose(got, (2 * A).reshape(-1, 2, 2).mean(1).sum(-1, keepdims=True),
                               rtol=1e-6)


def test_watched_arrays_are_still_taped():
    x = A.copy()
    with pynn.GradientTape() as tape:
        tape.watch(x)
        loss = ops.sum(ops.mean(ops.multiply(ops.add(x, x), x), axis=0))
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)), 4 * A / 3, rtol=1e-6)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "elu", "leaky_relu",
                                  "softplus", "silu"])
def test_activations_direct_and_general_agree(name):
    fn = getattr(ops, name)
    direct = fn(A)
    general = fn(np.asfortranarray(A))  # not C-contiguous: copied on the general path
    assert isinstance(direct, pynn.Tensor) and direct.dtype == np.float32
    np.testing.assert_array_equal(direct.numpy(), general.numpy())
    want = {"relu": np.maximum(A, 0), "sigmoid": 1 / (1 + np.exp(-A)), "tanh": np.tanh(A),
            "softmax": np.exp(A) / np.exp(A).sum(-1, keepdims=True),
            "elu": np.where(A > 0, A, np.expm1(A)), "leaky_relu": np.where(A > 0, A, 0.2 * A),
            "softplus": np.log1p(np.exp(A)), "silu": A / (1 + np.exp(-A))}[name]
    np.testing.assert_allclose(direct.numpy(), want, rtol=1e-5, atol=1e-6)


POS = np.abs(A) + 0.5


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "negative", "square", "log1p",
                                  "expm1", "sin", "cos"])
def test_unary_math_on_arrays_is_numpys(name):
    want = getattr(np, name)(POS)
    for x in (POS, ops.add(POS, 0.0), np.asfortranarray(POS), POS.astype(np.float64)):
        got = getattr(ops, name)(x)
        assert isinstance(got, pynn.Tensor) and got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), want)


def test_unary_math_stays_quiet_and_keeps_the_callers_error_state():
    bad = np.array([0.0, -1.0, 100.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            assert np.isneginf(ops.log(bad).numpy()[0]) and np.isnan(ops.sqrt(bad).numpy()[1])
            assert np.isinf(ops.exp(bad).numpy()[2])
            assert np.geterr()["divide"] == "raise"  # restored after the call
            with pytest.raises(FloatingPointError):
                np.log(bad)
        assert np.geterr()["divide"] == "warn"
        with np.errstate(under="raise"):
            # an underflow is not one the ops hide: the caller's setting holds
            with pytest.raises(FloatingPointError):
                ops.exp(np.array([-104.0], np.float32))
        assert np.isneginf(ops.log(bad).numpy()[0])


def test_shape_ops_on_arrays_are_numpys():
    x3 = G.standard_normal((2, 3, 4)).astype(np.float32)
    for axes in (None, (1, 0, 2), (2, 0, 1), (-1, 0, 1), [2, 1, 0]):
        want = np.transpose(x3, axes)
        got = ops.transpose(x3, axes)
        assert isinstance(got, pynn.Tensor) and got.flags.c_contiguous
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(ops.transpose(x3.transpose(1, 0, 2)).numpy(),
                                  x3.transpose(1, 0, 2).T)
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0, 1\) are not a permutation"):
        ops.transpose(x3, (0, 0, 1))
    with pytest.raises(ValueError, match="transpose: axis 3 is out of range"):
        ops.transpose(x3, (3, 0, 1))
    with pytest.raises(ValueError, match="transpose: axis must be an integer"):
        ops.transpose(A, (True, False))
    for xs in ([A, B], (A, B), [A, ops.add(B, 0.0)], [A, B.astype(np.float64)]):
        got = ops.concatenate(xs, axis=1)
        assert isinstance(got, pynn.Tensor) and got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), np.concatenate([A, B], axis=1))
        np.testing.assert_array_equal(ops.stack(xs, axis=1).numpy(), np.stack([A, B], 1))
    with pytest.raises(ValueError, match=r"concatenate: shapes \[\(3, 4\), \(4, 3\)\] differ"):
        ops.concatenate([A, B.T], axis=1)
    with pytest.raises(ValueError, match="concatenate: axis must be an integer"):
        ops.concatenate([A, B], axis=None)
    assert ops.concatenate([np.arange(3, dtype=np.int32)] * 2).dtype == np.int32


def test_where_clip_and_broadcast_matmul_on_arrays():
    cond = A > 0
    np.testing.assert_array_equal(ops.where(cond, A, B).numpy(), np.where(cond, A, B))
    assert ops.where(cond, A.astype(np.float64), B).dtype == np.float32
    assert ops.where(cond, np.ones(4, np.int32), np.zeros(4, np.int32)).dtype == np.int32
    for lo, hi in ((-0.5, 0.5), (None, 0), (0, None), (np.float64(-0.2), 0.3)):
        got = ops.clip(A, lo, hi)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), np.clip(A, lo, hi).astype(np.float32))
    assert ops.clip(np.arange(5, dtype=np.int64), 1, 3).dtype == np.int64
    x3 = G.standard_normal((2, 3, 4)).astype(np.float32)
    got = ops.matmul(x3, B.T)
    assert isinstance(got, pynn.Tensor) and got.shape == (2, 3, 3)
    np.testing.assert_allclose(got.numpy(), x3 @ B.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.matmul(x3.transpose(1, 0, 2), B.T).numpy(),
                               x3.transpose(1, 0, 2) @ B.T, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3, 4\) and \(3, 4\) do not "
                                         r"align"):
        ops.matmul(x3, B)


def test_a_watching_tape_takes_only_its_watched_arrays_and_only_while_it_records():
    from pynn import autodiff
    x, other = A.copy(), B.copy()
    with pynn.GradientTape() as tape:
        tape.watch(x)
        assert ops._WATCHED  # ops look for watched operands while it records
        # an array the tape does not watch gives a constant; a watched one,
        # in a list too, a recorded value
        assert type(ops.exp(other)) is pynn.Tensor
        assert type(ops.concatenate([other, other])) is pynn.Tensor
        assert type(ops.exp(x)) is autodiff.Traced
        y = ops.sum(ops.concatenate([ops.square(x), other], axis=0))
    assert not ops._WATCHED
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), 2 * A, rtol=1e-6)
    # a tape nested in the watching one keeps it listed until the outer ends
    with pynn.GradientTape() as outer:
        outer.watch(x)
        with pynn.GradientTape():
            pass
        assert ops._WATCHED
        z = ops.sum(ops.exp(x))
    assert not ops._WATCHED
    np.testing.assert_allclose(np.asarray(outer.gradient(z, x)), np.exp(A), rtol=1e-6)
    # an error inside the block still takes it off
    with pytest.raises(RuntimeError), pynn.GradientTape() as tape:
        tape.watch(x)
        raise RuntimeError("stop")
    assert not ops._WATCHED
    assert type(ops.exp(x)) is pynn.Tensor


def _rows_with_extremes():
    g = np.random.default_rng(5)
    x = (g.standard_normal((5, 6)) * 30).astype(np.float32)
    x[1, 2] = np.inf
    x[2, :] = -np.inf
    x[3, 4] = np.nan
    return x


@pytest.mark.parametrize("axis", [-1, 0, 1, (0, 1), [0, 1]])
def test_log_softmax_and_logsumexp_direct_path_gives_the_general_paths_bits(axis):
    x = _rows_with_extremes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both stay quiet on infinities and NaN
        for fn, kw in ((ops.log_softmax, {}), (ops.logsumexp, {"keepdims": False}),
                       (ops.logsumexp, {"keepdims": True})):
            direct = fn(x, axis=axis, **kw)
            general = fn(x.astype(np.float64), axis=axis, **kw)  # float64: op by op
            assert isinstance(direct, pynn.Tensor) and direct.dtype == np.float32
            assert direct.shape == general.shape
            np.testing.assert_array_equal(direct.numpy(), general.numpy())
            again = fn(ops.add(x, 0.0), axis=axis, **kw)  # an eager tensor
            np.testing.assert_array_equal(again.numpy(), direct.numpy())
    finite = x[[0, 4]]
    want = finite - np.log(np.exp(finite.astype(np.float64)).sum(-1, keepdims=True))
    np.testing.assert_allclose(ops.log_softmax(finite).numpy(), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        ops.log_softmax(finite, axis=2)


def test_log_softmax_still_taped_and_recorded():
    x = A.copy()
    with pynn.GradientTape() as tape:
        tape.watch(x)
        loss = ops.sum(ops.multiply(ops.log_softmax(x), B))
    sm = np.exp(A) / np.exp(A).sum(-1, keepdims=True)
    want = B - sm * B.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)), want, rtol=1e-5, atol=1e-6)
    inp = pynn.Input(shape=(4,))
    model = pynn.Model(inp, ops.log_softmax(inp))
    np.testing.assert_allclose(model.predict(A, verbose=0), ops.log_softmax(A).numpy(),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_are_numpys(name):
    x = _rows_with_extremes()
    for v in (x, ops.add(A, 0.0), np.arange(6, dtype=np.int32).reshape(2, 3)):
        for axis, keepdims in itertools.product((None, 0, -1), (False, True)):
            want = getattr(np, name)(np.asarray(v), axis=axis, keepdims=keepdims)
            got = getattr(ops, name)(v, axis=axis, keepdims=keepdims)
            assert isinstance(got, pynn.Tensor) and got.dtype == want.dtype
            np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(ValueError):
        getattr(ops, name)(x, axis=3)
    inp = pynn.Input(shape=(4,))
    model = pynn.Model(inp, getattr(ops, name)(inp, axis=-1))
    np.testing.assert_array_equal(model.predict(A, verbose=0), getattr(np, name)(A, axis=-1))
