"""The one source of randomness: weight initialization, dropout and shuffling
all draw from here, so ``set_random_seed(s)`` makes training repeatable."""
import contextlib
import random as _pyrandom

import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed):
    """Seed pynn (and Python's and NumPy's global generators, as Keras does)."""
    global _rng
    seed = int(seed)
    _rng = np.random.default_rng(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed % (2 ** 32))


def rng():
    """The current generator."""
    return _rng


def next_seed():
    """A 64-bit seed for a C kernel's counter-based generator."""
    return int(_rng.integers(0, 2 ** 63, dtype=np.int64))


def set_rng_state(state):
    """Restore a state of the generator taken from
    ``rng().bit_generator.state`` (resuming an interrupted run, or giving
    every process of a distributed job the same draws)."""
    _rng.bit_generator.state = state


@contextlib.contextmanager
def isolated(seed=0):
    """Draws inside the with-block come from a generator of their own
    (seeded with ``seed``); pynn's stream is left as it was, so building or
    probing a model does not change what a seeded run does next."""
    global _rng
    saved = _rng
    _rng = np.random.default_rng(seed)
    try:
        yield
    finally:
        _rng = saved
