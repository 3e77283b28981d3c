"""Softmax and the cross-entropy losses over long rows (a vocabulary's
logits), whose maximum and sums run over vector lanes: against NumPy in
float64, with NaN and infinite logits as NumPy gives them."""
import numpy as np
import pytest

import pynn
from pynn import ops


def _softmax64(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("cols", [1, 7, 16, 17, 1000, 10000])
def test_softmax_long_rows(cols):
    x = np.random.default_rng(cols).standard_normal((5, cols), dtype=np.float32) * 8
    np.testing.assert_allclose(ops.softmax(x), _softmax64(x), rtol=2e-5, atol=1e-7)
    y = x.copy()
    ops.softmax(y, out=y)  # in place
    np.testing.assert_allclose(y, _softmax64(x), rtol=2e-5, atol=1e-7)


def test_softmax_rows_with_nan_or_inf_are_nan_as_numpy():
    x = np.zeros((4, 40), np.float32)
    x[0, 17] = np.nan
    x[1, 3] = np.inf
    x[2, :] = -np.inf
    with np.errstate(invalid="ignore"):
        want = _softmax64(x)
    got = ops.softmax(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[3], want[3], rtol=1e-6)


def test_softmax_gradient_long_rows():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 3000), dtype=np.float32)
    dy = rng.standard_normal((3, 3000), dtype=np.float32)
    y = _softmax64(x)
    want = y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    got = ops.softmax_grad(ops.softmax(x), dy)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("cols", [10, 1000, 10000])
def test_crossentropy_from_logits_long_rows(cols):
    rng = np.random.default_rng(cols)
    logits = rng.standard_normal((8, cols), dtype=np.float32) * 4
    labels = rng.integers(0, cols, 8)
    p = _softmax64(logits)
    want = -np.log(p[np.arange(8), labels]).mean()
    sparse = pynn.losses.SparseCategoricalCrossentropy(from_logits=True)
    dense = pynn.losses.CategoricalCrossentropy(from_logits=True)
    onehot = np.eye(cols, dtype=np.float32)[labels]
    np.testing.assert_allclose(float(sparse(labels, logits)), want, rtol=1e-5)
    np.testing.assert_allclose(float(dense(onehot, logits)), want, rtol=1e-5)
    # the gradient: (softmax - onehot) / rows
    for fn, y in ((sparse, labels), (dense, onehot)):
        x = pynn.Variable(logits)
        with pynn.GradientTape() as tape:
            loss = fn(y, x)
        g = np.asarray(tape.gradient(loss, x))
        np.testing.assert_allclose(g, (p - np.eye(cols)[labels]) / 8, rtol=1e-4, atol=1e-9)
