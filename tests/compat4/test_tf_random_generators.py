"""TensorFlow's tf.random.Generator, stateless draws and seed splitting
(tensorflow.org's data augmentation tutorial): the same seed gives the
same draws, the draws have the asked distribution."""
import numpy as np
import pytest

import pynn as tf


def test_generator_from_seed_repeats_and_draws_as_asked():
    a, b = tf.random.Generator.from_seed(123, alg="philox"), tf.random.Generator.from_seed(123)
    np.testing.assert_array_equal(a.normal([4, 5]), b.normal([4, 5]))
    z = np.asarray(tf.random.Generator.from_seed(1).normal([20000], mean=2.0, stddev=3.0))
    assert z.dtype == np.float32 and abs(z.mean() - 2.0) < 0.1 and abs(z.std() - 3.0) < 0.1
    u = np.asarray(tf.random.Generator.from_seed(2).uniform([20000], minval=-1, maxval=3))
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1.0) < 0.05
    k = np.asarray(tf.random.Generator.from_seed(3).uniform([1000], 0, 5, dtype=tf.int32))
    assert k.dtype == np.int32 and set(np.unique(k)) == {0, 1, 2, 3, 4}
    t = np.asarray(tf.random.Generator.from_seed(4).truncated_normal([5000]))
    assert np.abs(t).max() <= 2
    assert np.asarray(a.uniform_full_int([3])).dtype == np.int64


def test_make_seeds_and_stateless_ops():
    rng = tf.random.Generator.from_seed(123)
    seeds = rng.make_seeds(2)
    assert seeds.shape == (2, 2) and seeds.dtype == np.int64
    seed = seeds[:, 0]
    img = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    one = tf.image.stateless_random_brightness(img, 0.3, seed=seed)
    np.testing.assert_array_equal(one, tf.image.stateless_random_brightness(img, 0.3, seed=seed))
    delta = np.asarray(one) - img
    assert np.allclose(delta, delta.flat[0], atol=1e-6) and abs(delta.flat[0]) <= 0.3
    new = tf.random.experimental.stateless_split(seed, num=1)[0, :]
    assert new.shape == (2,) and not np.array_equal(new, seed)
    assert tf.random.split(seed, 3).shape == (3, 2)
    np.testing.assert_array_equal(tf.random.fold_in(seed, 5), tf.random.fold_in(seed, 5))
    assert not np.array_equal(tf.random.fold_in(seed, 5), tf.random.fold_in(seed, 6))
    for fn in (tf.random.stateless_uniform, tf.random.stateless_normal,
               tf.random.stateless_truncated_normal):
        np.testing.assert_array_equal(fn([6], seed=[1, 2]), fn([6], seed=[1, 2]))
        assert not np.array_equal(fn([6], seed=[1, 2]), fn([6], seed=[1, 3]))
    with pytest.raises(ValueError, match="pair"):
        tf.random.stateless_uniform([2], seed=[1, 2, 3])


def test_split_generators_and_the_global_one():
    parts = tf.random.Generator.from_seed(9).split(3)
    draws = [np.asarray(g.normal([4])) for g in parts]
    assert not np.array_equal(draws[0], draws[1])
    g = tf.random.get_global_generator()
    assert isinstance(g, tf.random.Generator)
    mine = tf.random.Generator.from_seed(7)
    tf.random.set_global_generator(mine)
    assert tf.random.get_global_generator() is mine
    copy = tf.random.Generator(copy_from=mine)
    np.testing.assert_array_equal(copy.normal([3]), mine.normal([3]))
