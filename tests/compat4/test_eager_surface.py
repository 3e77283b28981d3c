"""Eager values as TensorFlow-era Keras programs use them: ``.numpy()`` and
``.shape.as_list()`` on what models, layers, TF-style helpers and dataset
batches give, ``_keras_mask`` on a masking layer's eager output, TF's
dtypes for ``constant``, the tf.data methods, GradientTape on watched
values — against Keras 3 on its NumPy backend where it runs the same
thing, otherwise against the rule itself."""
import os

import numpy as np
import pytest

import pynn as tf
import pynn as keras
from pynn import layers

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras as real_keras
except Exception:  # missing, or a backend that cannot load here
    real_keras = None

needs_keras = pytest.mark.skipif(real_keras is None, reason="Keras 3 is not installed")

Dataset = tf.data.Dataset


def _rows(ds):
    def plain(e):
        if isinstance(e, (tuple, list)):
            return [plain(v) for v in e]
        return np.asarray(e).tolist()
    return [plain(e) for e in ds.as_numpy_iterator()]


# ------------------------------------------------------------ eager values

def test_model_and_layer_calls_give_numpy_and_as_list():
    x = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    y = model(x)
    assert type(y.numpy()) is np.ndarray
    np.testing.assert_array_equal(y.numpy(), model.predict(x, verbose=0))
    assert y.shape.as_list() == [4, 2] and y.shape == (4, 2) and y.dtype == np.float32
    dense = layers.Dense(5)
    assert dense(x).numpy().shape == (4, 5)
    # predict keeps returning plain arrays
    assert type(model.predict(x, verbose=0)) is np.ndarray


def test_eager_outputs_feed_numpy_and_the_kernels():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    dense = layers.Dense(3, kernel_initializer="ones")
    y = dense(x)
    # NumPy functions, arithmetic and the C kernels (through another layer) take it
    np.testing.assert_allclose(np.sum(y * 2), 2 * x.sum() * 3)
    z = layers.Dense(2, kernel_initializer="ones")(y)
    np.testing.assert_allclose(z.numpy(), np.repeat(x.sum(1, keepdims=True) * 3, 2, axis=1))
    assert tf.ops.relu(y).shape == (4, 3)
    # and a model trains on it
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(y, np.zeros((4, 1)), epochs=1, verbose=0)
    assert float(tf.reduce_sum(y).numpy()) == pytest.approx(float(x.sum() * 3))


@needs_keras
def test_keras_mask_of_eager_masking_layers_matches_keras():
    ids = np.array([[711, 632, 71, 0, 0, 0], [73, 8, 3215, 55, 927, 0]])
    got = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(ids)._keras_mask
    ref = real_keras.layers.Embedding(input_dim=5000, output_dim=16,
                                      mask_zero=True).compute_mask(ids)
    np.testing.assert_array_equal(got.numpy(), np.asarray(ref))
    x = np.random.default_rng(1).random((2, 6, 4)).astype(np.float32)
    x[0, 3:] = 0.0
    got = layers.Masking()(x)._keras_mask
    ref = real_keras.layers.Masking().compute_mask(x)
    np.testing.assert_array_equal(got.numpy(), np.asarray(ref))


def test_an_eager_mask_reaches_the_next_layer():
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    emb = layers.Embedding(10, 4, mask_zero=True)
    pool = layers.GlobalAveragePooling1D()
    e = emb(ids)
    got = pool(e).numpy()
    keep = (ids != 0)[..., None]
    np.testing.assert_allclose(got, (e.numpy() * keep).sum(1) / keep.sum(1), rtol=1e-6)


# ------------------------------------------------------------ dtypes

@needs_keras
@pytest.mark.parametrize("value", [3, [1, 2], 2.5, [1.0, 2], True, [1, 2.5],
                                   np.zeros(2), np.zeros(2, np.int64)])
def test_constant_and_convert_to_tensor_dtypes_match_keras(value):
    want = real_keras.ops.convert_to_tensor(value).dtype
    assert keras.ops.convert_to_tensor(value).dtype == want
    # tf.constant and tf.convert_to_tensor keep an array's own dtype (float64,
    # int64), as TensorFlow's; Python values get Keras's (and TensorFlow's)
    if isinstance(value, np.ndarray):
        want = value.dtype
    assert tf.constant(value).dtype == want
    assert tf.convert_to_tensor(value).dtype == want


def test_constant_int_is_int32_and_numpy_gives_a_scalar():
    assert tf.constant([[5, 2], [1, 3]]).numpy().dtype == np.int32
    s = tf.constant(3.0).numpy()
    assert isinstance(s, np.float32) and s == 3.0
    assert tf.constant(0, shape=(2, 3)).shape.as_list() == [2, 3]
    assert tf.reduce_mean(tf.constant([1.0, 2.0])).numpy() == 1.5


# ------------------------------------------------------------ tf.data

def test_dataset_batches_are_tensors():
    ds = Dataset.from_tensor_slices((np.ones((5, 2), np.float32), np.arange(5))).batch(2)
    seen = []
    for x, y in ds:
        seen.append((x.numpy().shape, y.numpy().tolist(), x.shape.as_list()))
    assert seen == [((2, 2), [0, 1], [2, 2]), ((2, 2), [2, 3], [2, 2]),
                    ((1, 2), [4], [1, 2])]
    assert all(type(x) is np.ndarray for x, _ in ds.as_numpy_iterator())


def test_dataset_zip_and_padded_batch():
    a = Dataset.from_tensor_slices(np.arange(4))
    b = Dataset.from_tensor_slices(np.arange(4) * 10)
    assert _rows(Dataset.zip(a, b)) == _rows(Dataset.zip((a, b))) == \
        [[0, 0], [1, 10], [2, 20], [3, 30]]
    assert Dataset.zip(a, b.take(2)).cardinality() == 2
    seqs = Dataset.from_generator(lambda: iter([[1], [2, 3], [4, 5, 6]]), output_types="int32")
    assert _rows(seqs.padded_batch(2)) == [[[1, 0], [2, 3]], [[4, 5, 6]]]
    paired = Dataset.zip(seqs, Dataset.range(3)).padded_batch(
        3, padded_shapes=([4], []), padding_values=(-1, 0))
    assert _rows(paired) == [[[[1, -1, -1, -1], [2, 3, -1, -1], [4, 5, 6, -1]], [0, 1, 2]]]
    with pytest.raises(ValueError, match="larger than the padded shape"):
        list(seqs.padded_batch(3, padded_shapes=[2]))


def test_dataset_methods_follow_tf_data():
    a = Dataset.from_tensor_slices(np.arange(4))
    assert _rows(a.filter(lambda x: x % 2 == 0)) == [0, 2]
    assert _rows(a.enumerate(start=1)) == [[1, 0], [2, 1], [3, 2], [4, 3]]
    both = a.concatenate(a.map(lambda x: x * 10))
    assert _rows(both) == [0, 1, 2, 3, 0, 10, 20, 30] and both.cardinality() == 8
    assert _rows(a.batch(3).rebatch(2)) == [[0, 1], [2, 3]]
    assert _rows(a.shard(2, 1)) == [1, 3] and a.shard(2, 1).cardinality() == 2
    # tf.data's documented orders for window and interleave
    assert _rows(Dataset.range(7).window(3, shift=2).flat_map(lambda w: w.batch(3))) == \
        [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6]]
    assert _rows(Dataset.range(7).window(3, shift=2, drop_remainder=True)
                 .flat_map(lambda w: w.batch(3))) == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert _rows(Dataset.range(3).interleave(lambda x: Dataset.from_tensors(x).repeat(2),
                                             cycle_length=2)) == [0, 1, 0, 1, 2, 2]
    assert int(Dataset.range(1, 5).reduce(0, lambda s, x: s + x)) == 10
    assert Dataset.range(5).cardinality() == 5
    assert tf.data.AUTOTUNE == tf.data.experimental.AUTOTUNE == -1


def test_fit_on_a_dataset_of_tensors():
    rng = np.random.default_rng(2)
    x = rng.random((32, 4), dtype=np.float32)
    y = x.sum(1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    model.compile("adam", "mse")
    ds = Dataset.from_tensor_slices((x, y)).shuffle(32, seed=1).batch(8).prefetch(
        tf.data.AUTOTUNE)
    hist = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert type(model.predict(ds, verbose=0)) is np.ndarray


# ------------------------------------------------------------ GradientTape

def test_watched_array_through_tf_functions():
    a = tf.random.normal(shape=(2, 2), seed=3)
    b = tf.random.normal(shape=(2, 2), seed=4)
    plain_a = np.array(a.numpy())
    with tf.GradientTape() as tape:
        tape.watch(plain_a)  # a plain ndarray: the pynn functions see its leaf
        c = tf.sqrt(tf.square(plain_a) + tf.square(b))
    ref = plain_a / np.sqrt(plain_a ** 2 + b.numpy() ** 2)
    np.testing.assert_allclose(tape.gradient(c, plain_a), ref, rtol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(a)  # a tensor: its own arithmetic is recorded as well
        c = a * a + a[0, 1] + np.sum(a)  # (NumPy's sum: a constant, as in TensorFlow)
    want = 2 * a.numpy()
    want[0, 1] += 4
    np.testing.assert_allclose(tape.gradient(c, a), want, rtol=1e-6)


def test_numpy_arithmetic_on_a_watched_plain_array_raises():
    x = np.ones((2, 2), np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    with pytest.raises(ValueError, match="never used by a recorded operation"):
        tape.gradient(y, x)


def test_nested_tapes_give_a_second_derivative():
    a = tf.Variable(np.ones((2, 2), np.float32))
    b = tf.constant(np.ones((2, 2), np.float32))
    with tf.GradientTape() as outer_tape:
        with tf.GradientTape() as tape:
            c = tf.sqrt(tf.square(a) + tf.square(b))
            dc_da = tape.gradient(c, a)
        d2c_da2 = outer_tape.gradient(dc_da, a)
    np.testing.assert_allclose(dc_da, np.full((2, 2), 1 / np.sqrt(2)), rtol=1e-6)
    # d/da (a / sqrt(a^2 + b^2)) = b^2 / (a^2 + b^2)^(3/2)
    np.testing.assert_allclose(d2c_da2, np.full((2, 2), 2 ** -1.5), rtol=1e-5)


def test_a_gradient_taken_inside_a_persistent_tapes_block_is_differentiated_by_it():
    # as TensorFlow's: the persistent tape records the gradient's computation
    a = tf.Variable(np.full((2, 2), 3.0, np.float32))
    with tf.GradientTape(persistent=True) as tape:
        c = tf.square(a)
        dc_da = tape.gradient(c, a)
    np.testing.assert_allclose(tape.gradient(dc_da, a), np.full((2, 2), 2.0))


# ------------------------------------------------------------ RNN cells

class _PairCell(layers.Layer):
    """A cell of two states; ``state_size`` as the nested-input guide
    writes it when ``shaped`` (a state of shape (2, 3))."""

    def __init__(self, shaped=False, **kwargs):
        super().__init__(**kwargs)
        self.state_size = [4, [2, 3]] if shaped else [4, 6]
        self.output_size = 4

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 4), initializer="ones")

    def call(self, inputs, states):
        out = tf.matmul(inputs, self.kernel) + states[0]
        return out, [out, states[1]]


def test_rnn_over_nested_inputs_names_the_nested_inputs():
    rnn = layers.RNN(_PairCell())
    a, b = keras.Input((None, 3)), keras.Input((None, 5, 2))
    with pytest.raises(ValueError, match="nested inputs") as err:
        rnn((a, b))
    assert "initial_state must" not in str(err.value)
    # the sequence with proper initial states still runs
    x = np.ones((2, 3, 3), np.float32)
    out = layers.RNN(_PairCell())(x, initial_state=[np.zeros((2, 4), np.float32),
                                                    np.zeros((2, 6), np.float32)])
    np.testing.assert_allclose(out.numpy(), np.full((2, 4), 9.0))


def test_rnn_cell_with_a_shaped_state_runs_as_tf_keras():
    # tf.keras's state_size [4, [2, 3]]: a vector state and a (2, 3) one
    rnn = layers.RNN(_PairCell(shaped=True), return_state=True)
    out, h, kept = rnn(np.ones((2, 3, 3), np.float32))
    np.testing.assert_allclose(out.numpy(), np.full((2, 4), 9.0))
    assert tuple(kept.shape) == (2, 2, 3) and not kept.numpy().any()
