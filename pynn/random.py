"""Random draws with Keras 3's ``keras.random`` names.

Draws come from pynn's seeded generator (``pynn.utils.set_random_seed``),
from a :class:`SeedGenerator`'s own stream, or, for an integer ``seed``,
from a generator seeded with it (the same draws every call, as in Keras).
They are float32 NumPy arrays: constants in a traced computation.  A
subclassed model whose call() draws runs that call at every call (as Keras
runs it eagerly), so each call draws afresh.
"""
import types

import numpy as np

from . import autodiff, ops
from .dtypes import DType
from .tensor import eager, eager_results
from .utils import seeding


_WORD = (1 << 64) - 1


class SeedGenerator:
    """A stream of draws of its own (Keras 3's ``keras.random.SeedGenerator``),
    seeded with ``seed``, or from pynn's generator when None."""

    def __init__(self, seed=None, **kwargs):
        self.generator = np.random.default_rng(seeding.next_seed() if seed is None
                                               else int(seed))


def _generator(seed):
    if autodiff.model_being_traced() is not None:
        # A draw in a subclassed model's call: traced once into a graph it
        # would be the same constant at every step, so the model runs its
        # call eagerly instead (see Model._trace).
        raise autodiff.UntraceableCall()
    if seed is None:
        return seeding.rng()
    if isinstance(seed, (SeedGenerator, _Stream)):
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
    """Draws from U[minval, maxval); for an integer dtype (TensorFlow's
    ``tf.random.uniform(..., dtype=tf.int32)``), integers in [minval, maxval)."""
    if dtype is not None and np.dtype(dtype).kind in "iu":
        if maxval is None:
            raise ValueError("uniform: an integer dtype needs maxval")
        return randint(shape, minval, maxval, dtype=np.dtype(dtype).name, seed=seed)
    maxval = 1.0 if maxval is None else maxval
    u = _generator(seed).random(_shape(shape), dtype=np.float32)
    return (u * np.float32(maxval - minval) + np.float32(minval)).astype(_dtype(dtype))


def set_seed(seed):
    """TensorFlow's ``tf.random.set_seed``: seed pynn's generator (as
    ``pynn.utils.set_random_seed``), so the draws that follow repeat."""
    seeding.set_random_seed(seed)


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
    if ops._SYMBOLIC and ops._has_symbolic((inputs,), {}, ops._SYMBOLIC[0]):
        # a graph being built (tf.nn.dropout in a functional model): an
        # operation that draws a new mask each run, in training or not, as
        # TensorFlow's op does
        return ops._SYMBOLIC[1]("dropout", (inputs, float(rate)),
                                {"noise_shape": noise_shape, "seed": seed})
    shape = ops.shape(inputs) if noise_shape is None else tuple(
        d if n is None else n for d, n in zip(ops.shape(inputs), noise_shape))
    keep = _generator(seed).random(_shape(shape), dtype=np.float32) >= np.float32(rate)
    return ops.multiply(inputs, keep.astype(np.float32) / np.float32(1.0 - float(rate)))


def shuffle(x, axis=0, seed=None):
    """x with its entries along ``axis`` in a random order (a constant
    permutation; on traced arrays the gradient follows it)."""
    order = _generator(seed).permutation(ops.shape(x)[axis])
    return ops.take(x, order, axis=axis)


def gamma(shape, alpha, dtype=None, seed=None, beta=None):
    """Draws from the Gamma distribution of shape ``alpha`` (scale 1), as
    Keras 3's ``gamma(shape, alpha, dtype, seed)``; or TensorFlow's
    ``tf.random.gamma(shape, alpha, beta, dtype, seed)``: ``beta`` the
    rate, and an array of ``alpha`` (or ``beta``) one distribution per
    entry, its shape appended to ``shape`` (Keras's alpha is a single
    number, so an array is TensorFlow's)."""
    if dtype is not None and not _is_dtype(dtype):
        # TensorFlow's order: the rate third, then the dtype
        if beta is not None:
            raise TypeError("gamma: beta given twice (third and by name)")
        beta, dtype, seed = dtype, (seed if _is_dtype(seed) else None), \
            (None if _is_dtype(seed) else seed)
    a = np.asarray(ops.convert_to_numpy(alpha), np.float64)
    b = np.asarray(1.0 if beta is None else ops.convert_to_numpy(beta), np.float64)
    if np.any(~(a > 0)):
        raise ValueError(f"gamma: alpha must be > 0, got {alpha!r}")
    if np.any(~(b > 0)):
        raise ValueError(f"gamma: beta must be > 0, got {beta!r}")
    try:
        out_shape = _shape(shape) + np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"gamma: alpha of shape {a.shape} and beta of shape {b.shape} do not "
                         f"broadcast together") from None
    draws = _generator(seed).standard_gamma(np.broadcast_to(a, out_shape), out_shape)
    return (draws / b).astype(_dtype(dtype))


def poisson(shape, lam, dtype="float32", seed=None, name=None):
    """TensorFlow's ``tf.random.poisson``: draws from Poisson(lam), of
    shape ``shape`` + lam's shape (one distribution per entry of lam)."""
    lam_ = np.asarray(ops.convert_to_numpy(lam), np.float64)
    return _poisson_draws("poisson", _generator(seed), _shape(shape) + lam_.shape, lam_, dtype)


def _poisson_draws(who, rng, shape, lam, dtype):
    dt = np.dtype(dtype)
    if dt.kind not in "fi":
        raise TypeError(f"tf.random.{who}: dtype must be a float or integer type, got {dt}")
    if np.any(lam < 0) or np.any(np.isnan(lam)):
        raise ValueError(f"tf.random.{who}: lam must be >= 0, got {lam.tolist()}")
    try:
        lam = np.broadcast_to(lam, shape)
    except ValueError:
        raise ValueError(f"tf.random.{who}: lam of shape {lam.shape} does not fit the shape "
                         f"{shape}") from None
    return rng.poisson(lam, shape).astype(dt)


def stateless_poisson(shape, seed, lam, dtype="int32", name=None):
    """``tf.random.stateless_poisson``: draws of shape ``shape`` from
    Poisson(lam) (lam broadcast to shape), the same for the same seed pair."""
    lam_ = np.asarray(ops.convert_to_numpy(lam), np.float64)
    return _poisson_draws("stateless_poisson", pair_generator(seed, "stateless_poisson"),
                          _shape(shape), lam_, dtype)


def _is_dtype(value):
    return isinstance(value, (str, np.dtype, DType)) or (
        isinstance(value, type) and issubclass(value, np.generic))


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Draws from the Beta(alpha, beta) distribution."""
    a = np.asarray(ops.convert_to_numpy(alpha), np.float64)
    b = np.asarray(ops.convert_to_numpy(beta), np.float64)
    if np.any(~(a > 0)) or np.any(~(b > 0)):
        raise ValueError(f"beta: alpha and beta must be > 0, got {alpha!r} and {beta!r}")
    return _generator(seed).beta(a, b, _shape(shape)).astype(_dtype(dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class ids per row of the 2-D ``logits`` (batch,
    classes), each drawn with probability ``softmax(logits)``."""
    z = np.asarray(ops.convert_to_numpy(logits), np.float64)
    if z.ndim != 2:
        raise ValueError(f"categorical: logits must be 2-D (batch_size, num_classes), got "
                         f"shape {z.shape}")
    n = int(num_samples)
    if n < 0 or n != num_samples:
        raise ValueError(f"categorical: num_samples must be a non-negative integer, got "
                         f"{num_samples!r}")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = _generator(seed).random((z.shape[0], n))
    ids = np.minimum((u[:, :, None] >= cdf[:, None, :]).sum(axis=2), z.shape[1] - 1)
    return ids.astype(dtype)


def _candidates(who, true_classes, num_true, num_sampled, unique, range_max, seed, draw,
                probability):
    """TensorFlow's candidate samplers: ``num_sampled`` ids in [0,
    range_max) drawn by ``draw(generator, n)`` (distinct ones when
    ``unique``: draws are repeated until that many are found), with the
    expected number of times each true class and each sampled id would be
    drawn in those tries, ``probability(ids) * num_sampled`` or, when the
    distinct ids took more tries, ``1 - (1 - p)**tries``."""
    true = np.asarray(ops.convert_to_numpy(true_classes))
    if true.ndim != 2 or true.shape[1] != num_true or true.dtype.kind not in "iu":
        raise ValueError(f"{who}: true_classes must be an int64 matrix of shape "
                         f"(batch_size, num_true={num_true}), got {true.dtype} of shape "
                         f"{true.shape}")
    num_sampled, range_max = int(num_sampled), int(range_max)
    if num_sampled < 1 or range_max < 1:
        raise ValueError(f"{who}: num_sampled and range_max must be positive, got "
                         f"{num_sampled} and {range_max}")
    if unique and num_sampled > range_max:
        raise ValueError(f"{who}: num_sampled ({num_sampled}) must be less than or equal to "
                         f"range_max ({range_max}) when unique is True")
    gen = _generator(seed)
    if unique:
        found, tries = [], 0
        seen = set()
        while len(found) < num_sampled:
            for c in draw(gen, num_sampled - len(found)):
                tries += 1
                if int(c) not in seen:
                    seen.add(int(c))
                    found.append(int(c))
                    if len(found) == num_sampled:
                        break
        sampled = np.array(found, np.int64)
    else:
        sampled, tries = draw(gen, num_sampled).astype(np.int64), num_sampled

    def expected(ids):
        p = probability(ids.astype(np.float64))
        if tries == num_sampled:
            return (p * num_sampled).astype(np.float32)
        return (-np.expm1(tries * np.log1p(-p))).astype(np.float32)
    return sampled, expected(true), expected(sampled)


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """TensorFlow's ``tf.random.log_uniform_candidate_sampler``: ids drawn
    with the Zipfian probability ``log((id + 2) / (id + 1)) / log(range_max + 1)``
    (small ids, a vocabulary's frequent words, most often), as
    ``(sampled_candidates, true_expected_count, sampled_expected_count)``."""
    log_range = np.log1p(float(range_max))

    def draw(gen, n):
        return np.minimum(np.exp(gen.random(n) * log_range).astype(np.int64) - 1,
                          int(range_max) - 1)
    return _candidates("log_uniform_candidate_sampler", true_classes, num_true, num_sampled,
                       unique, range_max, seed, draw,
                       lambda ids: np.log((ids + 2.0) / (ids + 1.0)) / log_range)


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """TensorFlow's ``tf.random.uniform_candidate_sampler``: ids drawn
    uniformly from [0, range_max), as ``(sampled_candidates,
    true_expected_count, sampled_expected_count)``."""
    return _candidates("uniform_candidate_sampler", true_classes, num_true, num_sampled,
                       unique, range_max, seed,
                       lambda gen, n: gen.integers(0, int(range_max), n),
                       lambda ids: np.full(ids.shape, 1.0 / int(range_max)))


# ------------------------------------------------- TensorFlow's tf.random

def pair_generator(seed, name):
    """A NumPy generator for one of TensorFlow's stateless seeds (a pair
    of integers): the same pair, the same draws."""
    try:
        pair = [int(v) for v in np.asarray(ops.convert_to_numpy(seed)).ravel()]
    except (TypeError, ValueError):
        pair = []
    if len(pair) != 2:
        raise ValueError(f"{name}: seed must be a pair of integers, got {seed!r}")
    return np.random.default_rng([v & 0xFFFFFFFFFFFFFFFF for v in pair])


class _Stream:
    """A generator passed where a draw takes ``seed=`` (see _generator)."""

    def __init__(self, generator):
        self.generator = generator


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=None, name=None, alg=None):
    """``tf.random.stateless_normal``: the same draws for the same seed pair."""
    return normal(shape, mean, stddev, dtype,
                  seed=_Stream(pair_generator(seed, "stateless_normal")))


def stateless_categorical(logits, num_samples, seed, dtype="int64", name=None):
    """``tf.random.stateless_categorical``: categorical's draws for a seed
    pair, the same pair the same draws."""
    return categorical(logits, num_samples, dtype,
                       seed=_Stream(pair_generator(seed, "stateless_categorical")))


def stateless_uniform(shape, seed, minval=0.0, maxval=None, dtype=None, name=None, alg=None):
    """``tf.random.stateless_uniform`` (integers in [minval, maxval) for an
    integer dtype)."""
    return uniform(shape, minval, maxval, dtype,
                   seed=_Stream(pair_generator(seed, "stateless_uniform")))


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=None, name=None,
                               alg=None):
    return truncated_normal(shape, mean, stddev, dtype,
                            seed=_Stream(pair_generator(seed, "stateless_truncated_normal")))


def split(seed, num=2, alg=None):
    """``tf.random.split`` / ``experimental.stateless_split``: ``num`` new
    seed pairs, shape (num, 2) int64, drawn from ``seed``."""
    return pair_generator(seed, "split").integers(0, 2 ** 63 - 1, (int(num), 2),
                                                  dtype=np.int64)


def fold_in(seed, data, alg=None):
    """``tf.random.fold_in``: a new seed pair from ``seed`` and an integer."""
    pair = pair_generator(seed, "fold_in").integers(0, 2 ** 63 - 1, 2, dtype=np.int64)
    return np.random.default_rng([int(v) for v in pair] + [int(data) & 0xFFFFFFFFFFFFFFFF]) \
        .integers(0, 2 ** 63 - 1, 2, dtype=np.int64)


class Generator(SeedGenerator):
    """``tf.random.Generator``: a stream of draws of its own, made with
    ``Generator.from_seed(seed)`` or ``from_non_deterministic_state()``.
    The algorithm is NumPy's (its draws are not TensorFlow's Philox
    draws); the same seed gives the same draws."""

    def __init__(self, copy_from=None, state=None, alg=None, seed=None):
        if copy_from is not None:
            self.generator = np.random.default_rng()
            self.generator.bit_generator.state = copy_from.generator.bit_generator.state
        else:
            super().__init__(seed)

    @classmethod
    def from_seed(cls, seed, alg=None):
        gen = cls.__new__(cls)
        if np.ndim(seed):
            gen.generator = pair_generator(seed, "Generator.from_seed")
        else:
            gen.generator = np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF)
        return gen

    @classmethod
    def from_non_deterministic_state(cls, alg=None):
        gen = cls.__new__(cls)
        gen.generator = np.random.default_rng()
        return gen

    @property
    def algorithm(self):
        return "numpy_pcg64"

    @property
    def state(self):
        """Where the stream stands, as int64 words (TensorFlow keeps its
        generator's state in an int64 tensor): PCG64's 128-bit state and
        increment, high words first, then its buffered 32-bit draw."""
        s = self.generator.bit_generator.state
        words = []
        for w in (s["state"]["state"], s["state"]["inc"]):
            words += [w >> 64, w & _WORD]
        words += [s["has_uint32"], s["uinteger"]]
        return eager(np.array(words, dtype=np.uint64).view(np.int64))

    def _set_state(self, words):
        w = [int(v) for v in np.asarray(words, dtype=np.int64).view(np.uint64)]
        if len(w) != 6:
            raise ValueError(f"Generator: a state has 6 words, got {len(w)}")
        self.generator = np.random.Generator(np.random.PCG64())
        self.generator.bit_generator.state = {
            "bit_generator": "PCG64", "has_uint32": w[4], "uinteger": w[5],
            "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]}}

    # (tf.train.Checkpoint saves and restores the stream's position)
    def _checkpoint_state(self):
        return {"state": np.asarray(self.state)}

    def _restore_checkpoint_state(self, arrays):
        self._set_state(arrays["state"])

    def reset_from_seed(self, seed):
        self.generator = Generator.from_seed(seed).generator

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=None, name=None):
        return normal(shape, mean, stddev, dtype, seed=self)

    def uniform(self, shape, minval=0, maxval=None, dtype=None, name=None):
        return uniform(shape, minval, maxval, dtype, seed=self)

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=None, name=None):
        return truncated_normal(shape, mean, stddev, dtype, seed=self)

    def binomial(self, shape, counts, probs, dtype="int32", name=None):
        return binomial(shape, counts, probs, dtype, seed=self)

    def uniform_full_int(self, shape, dtype="int64", name=None):
        info = np.iinfo(np.dtype(dtype))
        return self.generator.integers(info.min, info.max, _shape(shape), dtype=dtype,
                                       endpoint=True)

    def make_seeds(self, count=1):
        """``count`` seed pairs for the stateless ops, as columns: shape
        (2, count) int64 (``seed = g.make_seeds(2)[0]``)."""
        return self.generator.integers(0, 2 ** 63 - 1, (2, int(count)), dtype=np.int64)

    def split(self, count=1):
        """``count`` new generators, each its own stream."""
        return [Generator.from_seed(int(s)) for s in
                self.generator.integers(0, 2 ** 63 - 1, int(count), dtype=np.int64)]


_global_generator = [None]


def get_global_generator():
    """The generator ``tf.random.get_global_generator()`` gives: one per
    process, seeded from pynn's generator when first asked for."""
    if _global_generator[0] is None:
        _global_generator[0] = Generator.from_seed(seeding.next_seed())
    return _global_generator[0]


def set_global_generator(generator):
    if not isinstance(generator, Generator):
        raise TypeError(f"set_global_generator: expected a Generator, got "
                        f"{type(generator).__name__}")
    _global_generator[0] = generator


# tf.random.experimental's names
experimental = types.SimpleNamespace(
    Generator=Generator, get_global_generator=get_global_generator,
    set_global_generator=set_global_generator, stateless_split=split,
    stateless_fold_in=fold_in)


# Draws are eager tensors (tf.random.normal(...) then tape.watch, .numpy()).
for _name in ("normal", "uniform", "truncated_normal", "binomial", "randint", "gamma", "beta",
              "categorical", "log_uniform_candidate_sampler", "uniform_candidate_sampler", "poisson",
              "stateless_poisson", "stateless_categorical"):
    globals()[_name] = eager_results(globals()[_name])
del _name
