"""The one source of randomness: weight initialization, dropout and shuffling
all draw from here, so ``set_random_seed(s)`` makes training repeatable."""
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
