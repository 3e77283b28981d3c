"""Random draws with Keras 3's ``keras.random`` names.

Draws come from pynn's seeded generator (``pynn.utils.set_random_seed``),
from a :class:`SeedGenerator`'s own stream, or, for an integer ``seed``,
from a generator seeded with it (the same draws every call, as in Keras).
They are float32 NumPy arrays: constants in a traced computation.
"""
import numpy as np

from . import ops
from .utils import seeding


class SeedGenerator:
    """A stream of draws of its own (Keras 3's ``keras.random.SeedGenerator``),
    seeded with ``seed``, or from pynn's generator when None."""

    def __init__(self, seed=None, **kwargs):
        self.generator = np.random.default_rng(seeding.next_seed() if seed is None
                                               else int(seed))


def _generator(seed):
    if seed is None:
        return seeding.rng()
    if isinstance(seed, SeedGenerator):
        return seed.generator
    return np.random.default_rng(int(seed))


def _shape(shape):
    try:
        return tuple(int(d) for d in ((shape,) if np.ndim(shape) == 0 else shape))
    except (TypeError, ValueError):
        raise ValueError(f"random: shape must be integers, got {shape!r}") from None


def _dtype(dtype):
    return np.float32 if dtype is None else np.dtype(dtype)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from N(mean, stddev**2)."""
    z = _generator(seed).standard_normal(_shape(shape), dtype=np.float32)
    return (z * np.float32(stddev) + np.float32(mean)).astype(_dtype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Draws from U[minval, maxval)."""
    u = _generator(seed).random(_shape(shape), dtype=np.float32)
    return (u * np.float32(maxval - minval) + np.float32(minval)).astype(_dtype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from N(mean, stddev**2), redrawn beyond two standard deviations."""
    gen = _generator(seed)
    z = gen.standard_normal(_shape(shape), dtype=np.float32)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = gen.standard_normal(int(bad.sum()), dtype=np.float32)
        bad = np.abs(z) > 2
    return (z * np.float32(stddev) + np.float32(mean)).astype(_dtype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    return _generator(seed).binomial(counts, probabilities, _shape(shape)).astype(
        _dtype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return _generator(seed).integers(minval, maxval, _shape(shape)).astype(dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``inputs`` with a fraction ``rate`` zeroed and the rest scaled by
    ``1 / (1 - rate)``; the mask is a constant."""
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    shape = ops.shape(inputs) if noise_shape is None else tuple(
        d if n is None else n for d, n in zip(ops.shape(inputs), noise_shape))
    keep = _generator(seed).random(_shape(shape), dtype=np.float32) >= np.float32(rate)
    return ops.multiply(inputs, keep.astype(np.float32) / np.float32(1.0 - float(rate)))


def shuffle(x, axis=0, seed=None):
    """x with its entries along ``axis`` in a random order (a constant
    permutation; on traced arrays the gradient follows it)."""
    order = _generator(seed).permutation(ops.shape(x)[axis])
    return ops.take(x, order, axis=axis)
