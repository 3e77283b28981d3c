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
