"""pynn.random's beta, gamma and categorical: Keras 3's signatures, shapes
and dtypes, seeded draws that repeat, and the distributions' moments."""
import inspect

import numpy as np
import pytest

import pynn
from pynn import random


def test_signatures_match_keras(keras):
    for name in ("beta", "categorical"):
        assert inspect.signature(getattr(random, name)) == inspect.signature(
            getattr(keras.random, name)), name
    # gamma also takes TensorFlow's beta, third; Keras's dtype there still
    # works (Keras's alpha is one number, its dtype third)
    ours = inspect.signature(random.gamma).parameters
    assert set(inspect.signature(keras.random.gamma).parameters) <= set(ours)
    assert random.gamma((2,), 1.0, "float64", 3).dtype == np.float64
    assert random.gamma((2,), 1.0, pynn.float16).dtype == np.float16


def test_shapes_dtypes_and_seeds():
    g = random.gamma((3, 4), 2.0, seed=5)
    assert g.shape == (3, 4) and g.dtype == np.float32
    np.testing.assert_array_equal(g, random.gamma((3, 4), 2.0, seed=5))
    b = random.beta((7,), 2.0, 3.0, dtype="float64", seed=1)
    assert b.dtype == np.float64 and np.all((b > 0) & (b < 1))
    c = random.categorical(np.zeros((2, 3), np.float32), 5, seed=3)
    assert c.shape == (2, 5) and c.dtype == np.int32
    np.testing.assert_array_equal(c, random.categorical(np.zeros((2, 3)), 5, seed=3))
    gen = random.SeedGenerator(4)
    assert not np.array_equal(random.gamma((9,), 1.0, seed=gen),
                              random.gamma((9,), 1.0, seed=gen))
    pynn.utils.set_random_seed(9)
    first = random.beta((4,), 1.0, 1.0)
    pynn.utils.set_random_seed(9)
    np.testing.assert_array_equal(first, random.beta((4,), 1.0, 1.0))


def test_moments():
    g = random.gamma((20000,), 3.0, seed=0)
    assert abs(g.mean() - 3.0) < 0.06 and abs(g.var() - 3.0) < 0.2
    b = random.beta((20000,), 2.0, 6.0, seed=0)
    assert abs(b.mean() - 0.25) < 0.01
    with np.errstate(divide="ignore"):
        logits = np.log(np.array([[0.1, 0.6, 0.3], [1.0, 0.0, 0.0]]))
    c = random.categorical(logits, 20000, seed=0)
    np.testing.assert_allclose(np.bincount(c[0], minlength=3) / 20000, [0.1, 0.6, 0.3],
                               atol=0.015)
    assert np.all(c[1] == 0)


@pytest.mark.parametrize("call, match", [
    (lambda: random.gamma((2,), 0.0), "gamma: alpha must be > 0"),
    (lambda: random.beta((2,), 1.0, -1.0), "beta: alpha and beta must be > 0"),
    (lambda: random.categorical(np.zeros(3), 2), "categorical: logits must be 2-D"),
    (lambda: random.categorical(np.zeros((1, 3)), -1), "num_samples must be"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
