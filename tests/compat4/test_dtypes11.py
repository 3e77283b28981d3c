"""TensorFlow's dtype rules for eager tensors: what tf.constant and
tf.convert_to_tensor make, the dtype of arithmetic with NumPy scalars and
arrays, the mixes TensorFlow refuses, TensorShape's truth value, and the
dtype functions (tf.cast, tf.saturate_cast, tf.bitcast, tf.as_dtype)."""
import io

import numpy as np
import pytest

import pynn as tf
from pynn import layers

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


# ------------------------------------------------ tf.constant's dtypes

@pytest.mark.parametrize("value, want", [
    (np.array([1.0, 2.0]), "float64"),       # a NumPy array keeps its dtype
    (np.array([1, 2]), "int64"),
    (np.array([1, 2], np.uint8), "uint8"),
    (np.float64(2.0), "float64"),            # so does a NumPy scalar
    (np.int64(3), "int64"),
    (np.array(2.0), "float64"),
    ([np.float64(1.0), 2.0], "float64"),     # arrays and NumPy scalars in a list decide
    ([1.0, 2.0], "float32"),                 # Python floats: float32
    (1.5, "float32"),
    ([1, 2.5], "float32"),
    (3, "int32"),                            # Python ints: int32 ...
    (2 ** 40, "int64"),                      # ... int64 where one does not fit
    ([1, 2 ** 40], "int64"),
    (True, "bool"),
    ([True, False], "bool"),
    (1j, "complex128"),
    ([], "float32"),
])
def test_constant_and_convert_to_tensor_give_tensorflows_dtype(value, want):
    for make in (tf.constant, tf.convert_to_tensor):
        t = make(value)
        assert isinstance(t, tf.Tensor) and t.dtype == want, (make.__name__, value, t.dtype)
    np.testing.assert_array_equal(tf.constant(value).numpy(), np.asarray(value, dtype=want))


def test_a_float64_constant_keeps_its_values_and_a_dtype_given_wins():
    x = np.array([0.1, 1e-300, 1 + 2 ** -40])
    np.testing.assert_array_equal(tf.constant(x).numpy(), x)   # not rounded through float32
    assert tf.constant(x, dtype=tf.float32).dtype == F32
    assert tf.convert_to_tensor(x, dtype=tf.float16).dtype == np.float16
    assert tf.constant(tf.constant(x)).dtype == F64
    assert tf.constant(["a", "b"]).numpy().tolist() == [b"a", b"b"]


def test_convert_to_tensors_dtype_hint_is_taken_for_python_numbers_that_fit():
    assert tf.convert_to_tensor(1, dtype_hint=tf.float32).dtype == F32
    assert tf.convert_to_tensor([1, 2], dtype_hint=tf.int64).dtype == np.int64
    # a float does not fit an integer hint; an array keeps its own dtype
    assert tf.convert_to_tensor(1.5, dtype_hint=tf.int32).dtype == F32
    assert tf.convert_to_tensor(np.array([1, 2]), dtype_hint=tf.float32).dtype == np.int64


# ---------------------------------- float64 tensors into models, losses, metrics

def _model():
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([layers.Input((3,)), layers.Dense(2)])


def test_models_and_layers_cast_float64_tensors_to_float32():
    x64 = np.random.default_rng(0).random((4, 3))
    x = tf.constant(x64)
    assert x.dtype == F64
    m = _model()
    want = m(x64.astype(np.float32)).numpy()
    for got in (m(x), m.predict(x, verbose=0), m.layers[0](x)):
        assert got.dtype == F32
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)

    class Sub(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(x) * 2.0
    assert Sub()(x).dtype == F32


def test_losses_and_metrics_take_float64_targets_as_keras_does():
    rng = np.random.default_rng(1)
    y64 = rng.random((4, 2))
    y_true = tf.constant(y64)
    y_pred = tf.constant(rng.random((4, 2)).astype(np.float32))
    mse = tf.keras.losses.MeanSquaredError()(y_true, y_pred)
    assert mse.dtype == F32
    np.testing.assert_allclose(float(mse), np.mean((y64 - np.float64(y_pred.numpy())) ** 2),
                               rtol=1e-5)
    bce = tf.keras.losses.BinaryCrossentropy()(y_true, y_pred)
    assert bce.dtype == F32 and np.isfinite(float(bce))
    metric = tf.keras.metrics.MeanSquaredError()
    metric.update_state(y_true, y_pred)
    assert metric.result().dtype == tf.float32 and metric.result().shape == ()
    np.testing.assert_allclose(float(metric.result()), float(mse), rtol=1e-5)
    m = _model()
    m.compile("sgd", "mse")
    history = m.fit(tf.constant(rng.random((8, 3))), tf.constant(rng.random((8, 2))),
                    epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ------------------------------------------------ arithmetic dtypes

def test_numpy_scalars_beside_a_tensor_take_its_dtype():
    x = tf.constant([1.0, 2.0])
    for got in (x + np.float64(1.5), np.float64(1.5) + x, x * np.sqrt(2.0), x / np.float64(3),
                x - np.array(0.5), np.pi * x, x ** np.float64(2)):
        assert isinstance(got, tf.Tensor) and got.dtype == F32, got
    np.testing.assert_allclose((x * np.sqrt(2.0)).numpy(), np.float32([1, 2]) * np.sqrt(2.0),
                               rtol=1e-7)
    i = tf.constant([1, 2])
    assert (i + np.int64(3)).dtype == np.int32 and (np.int64(3) * i).dtype == np.int32
    h = tf.constant([1.5, 2.0], tf.float16)
    assert (h * np.float64(2)).dtype == np.float16 and (h + 1.5).dtype == np.float16
    # a value the tensor's dtype cannot hold is not wrapped around
    assert (tf.constant([1], tf.uint8) + np.int64(-1)).numpy().tolist() == [0]


def test_a_variables_arithmetic_with_numpy_scalars_stays_float32():
    v = tf.Variable([1.0, 2.0])
    for got in (v * np.float64(2), np.float64(2) * v, v + np.float64(0.5), v / np.float32(2)):
        assert isinstance(got, tf.Tensor) and got.dtype == F32
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(np.float64(2.0) * v * v)
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [4.0, 8.0])


def test_tensors_of_mixed_dtypes_raise_as_tensorflow():
    with pytest.raises(tf.errors.InvalidArgumentError, match="AddV2.*float.*int32"):
        tf.constant(2.0) + tf.constant(40)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Sub.*int64.*float"):
        tf.constant(np.arange(3)) - tf.constant([1.0, 2.0, 3.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="Mul.*double.*int32"):
        tf.constant(np.array([1.0, 2.0])) * tf.constant([1, 2])
    # cast, they compute
    got = tf.constant(2.0) + tf.cast(tf.constant(40), tf.float32)
    assert got.dtype == F32 and float(got) == 42.0
    assert (tf.constant(2.0, tf.float64) + tf.constant(40.0, tf.float64)).dtype == F64


def test_a_float_variable_and_an_integer_tensor_raise_as_tensorflow():
    v = tf.Variable(2.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="AddV2"):
        v + tf.constant(40)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Mul"):
        tf.constant(40) * v
    assert float(v + tf.cast(tf.constant(40), tf.float32)) == 42.0
    i = tf.Variable(3)
    assert (i + tf.constant(2)).dtype == np.int32 and int(i * 2) == 6


def test_integer_division_gives_tensorflows_float():
    for dtype, want in ((tf.int8, F32), (tf.uint8, F32), (tf.int16, F32), (tf.int32, F64),
                        (tf.int64, F64)):
        a, b = tf.constant([3, 7], dtype), tf.constant([2, 4], dtype)
        assert (a / b).dtype == want and (a / 2).dtype == want, dtype
        np.testing.assert_array_equal((a / b).numpy(), [1.5, 1.75])


def test_string_tensors_add_to_a_tensor_and_print_as_text():
    assert isinstance(tf.constant("ab") + tf.constant("cd"), tf.Tensor)
    assert (tf.constant("ab") + tf.constant("cd")).numpy() == b"abcd"
    out = io.StringIO()
    tf.print(tf.constant("s"), tf.constant(["a", "b"]), tf.constant([1, 2]), output_stream=out)
    assert out.getvalue() == 's ["a" "b"] [1 2]\n'


# ------------------------------------------------ TensorShape's truth value

def test_a_scalars_shape_is_true_and_an_unknown_shape_false():
    assert bool(tf.TensorShape([])) and bool(tf.constant(1.0).shape)
    assert bool(tf.TensorShape([2, None]))
    assert not tf.TensorShape(None)


def test_shapes_taken_from_tensors_are_tested_by_their_rank():
    # to_categorical of a (n, 1) tensor drops the axis of one label
    y = tf.constant(np.array([[0], [2]]))
    assert tf.keras.utils.to_categorical(y, 3).shape == (2, 3)
    # a built model first in a Sequential gives it its input
    inner = tf.keras.Sequential([layers.Input((3,)), layers.Dense(2)])
    outer = tf.keras.Sequential([inner, layers.Dense(1)])
    assert outer(np.ones((2, 3), np.float32)).shape == (2, 1)
    # an InputSpec that allows a squeezed last axis, against a tensor's shape
    spec = layers.InputSpec(shape=(None, 4, 1), allow_last_axis_squeeze=True)

    class Checked(layers.Layer):
        def __init__(self):
            super().__init__()
            self.input_spec = spec

        def call(self, x):
            return x
    assert Checked()(tf.constant(np.zeros((2, 4), np.float32))).shape == (2, 4)
    with pytest.raises(ValueError):
        Checked()(tf.constant(np.zeros((2, 5), np.float32)))


# ------------------------------------------------ dtype functions

def test_as_dtype_reads_tensorflows_names_and_cast_follows_it():
    assert tf.as_dtype("float") == tf.float32 and tf.dtypes.as_dtype("double") == tf.float64
    assert tf.as_dtype("half") == tf.float16 and tf.as_dtype(float) == tf.float32
    x = tf.constant([1, 2])
    assert tf.cast(x, "float").dtype == F32 and tf.cast(x, float).dtype == F32
    assert tf.cast(x, "double").dtype == F64 and tf.cast(x, np.float16).dtype == np.float16
    np.testing.assert_array_equal(tf.cast(tf.constant([1.7, -1.7]), tf.int32).numpy(), [1, -1])


def test_dtype_properties():
    assert tf.float32.is_floating and not tf.float32.is_integer
    assert tf.uint8.is_integer and tf.uint8.is_unsigned and tf.bool.is_bool
    assert (tf.int8.min, tf.int8.max, tf.uint8.max) == (-128, 127, 255)
    assert tf.float32.max == np.finfo(np.float32).max and tf.float16.size == 2
    assert tf.complex64.real_dtype == tf.float32 and tf.complex128.real_dtype == tf.float64
    assert tf.float64.as_numpy_dtype is np.float64 and tf.string.size == 1
    assert repr(tf.as_dtype(np.float16)) == "tf.float16"


def test_saturate_cast_clips_to_the_range_the_input_dtype_can_hold():
    got = tf.saturate_cast(tf.constant([1e10, -1e10, 5.7]), tf.int32).numpy()
    # (float32's largest value below 2**31: float32(2**31 - 1) is 2**31)
    assert got.tolist() == [2147483520, -2147483648, 5]
    got = tf.dtypes.saturate_cast(tf.constant([1e30, -1e30, 3.0], tf.float64), tf.int64)
    assert got.numpy().tolist() == [9223372036854774784, -9223372036854775808, 3]
    assert tf.saturate_cast([-1.0, 300.0], tf.uint8).numpy().tolist() == [0, 255]
    assert tf.saturate_cast(tf.constant([1e-300, 2.0], tf.float64), tf.float64).numpy()[0] \
        == 1e-300


def test_bitcast_reads_the_same_bytes():
    one = tf.bitcast(tf.constant(1.0), tf.uint8)
    assert one.shape == (4,) and one.numpy().tolist() == list(np.float32(1).tobytes())
    assert tf.bitcast(tf.constant([1.0]), tf.int32).numpy().tolist() == [1065353216]
    back = tf.bitcast(tf.constant([[0, 0, 128, 63]], tf.uint8), tf.float32)
    assert back.shape == (1,) and back.numpy().tolist() == [1.0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="last axis must be 4"):
        tf.bitcast(tf.constant([1, 2], tf.uint8), tf.int32)


# ------------------------------------------------ string tensors as bytes

def test_text_line_dataset_gives_string_tensors_of_bytes(tmp_path):
    f = tmp_path / "lines.txt"
    f.write_bytes("caf\u00e9\nb\n".encode())
    lines = list(tf.data.TextLineDataset(tf.constant(str(f))))
    assert [t.numpy().decode("utf-8") for t in lines] == ["caf\u00e9", "b"]
    assert repr(lines[1]) == "<tf.Tensor: shape=(), dtype=string, numpy=b'b'>"
    got = tf.data.TextLineDataset(str(f)).map(lambda s: tf.strings.length(s))
    assert [int(n) for n in got] == [5, 1]


def test_lookups_take_their_vocabulary_and_file_as_string_tensors(tmp_path):
    sl = tf.keras.layers.StringLookup(vocabulary=tf.constant(["a", "b"]))
    assert sl.get_vocabulary() == ["[UNK]", "a", "b"]
    assert sl(tf.constant(["b", "z"])).numpy().tolist() == [2, 0]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("x\ny\n")
    init = tf.lookup.TextFileInitializer(tf.constant(str(vocab)), tf.string,
                                         tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
                                         tf.lookup.TextFileIndex.LINE_NUMBER)
    table = tf.lookup.StaticHashTable(init, -1)
    assert table.lookup(tf.constant(["y", "q"])).numpy().tolist() == [1, -1]


def test_functions_given_python_floats_compute_in_float32():
    for got in (tf.reshape([1.0, 2.0], [2, 1]), tf.expand_dims([1.0], 0), tf.tile([1.0], [2]),
                tf.gather([1.0, 2.0], [0]), tf.squeeze([[1.0]]), tf.transpose([[1.0, 2.0]]),
                tf.identity(1.0), tf.sign(-2.0), tf.round(2.5), tf.math.floordiv(7.0, 2.0),
                tf.math.floormod(5.0, 3.0), tf.boolean_mask([1.0, 2.0], [True, False]),
                tf.range(0.0, 1.0, 0.25), tf.linspace(0.0, 1.0, 3), tf.concat([[1.0, 2.0], [3.0]], 0)):
        assert got.dtype == F32, got
    assert tf.complex(1.0, 2.0).dtype == np.complex64
    # tf.cast converts a Python float to float32 first, as TensorFlow does
    assert tf.cast(0.1, tf.float64).numpy() == np.float64(np.float32(0.1))
    # what keeps NumPy's float64: K.constant given the dtype, tf.experimental.numpy
    assert tf.keras.backend.constant(0.1, "float64").numpy() == 0.1
    assert tf.experimental.numpy.asarray([1.5]).dtype == F64
    assert tf.math.truediv(1, 2).dtype == F64   # (int32 / int32, as TensorFlow)


def test_functions_given_python_ints_compute_in_int32():
    assert repr(tf.reduce_sum([1, 2, 3])) == "<tf.Tensor: shape=(), dtype=int32, numpy=6>"
    for got in (tf.stack([1, 2]), tf.reshape([1, 2, 3, 4], [2, 2]), tf.concat([[1], [2]], 0),
                tf.gather([1, 2, 3], [0]), tf.expand_dims([1, 2], 0), tf.reduce_max([1, 5])):
        assert got.dtype == np.int32, got
    assert tf.reduce_sum([2 ** 40, 1]).dtype == np.int64
    # a shape stays a shape
    assert tf.zeros([2, 3]).shape == (2, 3) and tf.fill([2], 3).numpy().tolist() == [3, 3]
    assert tf.keras.backend.random_normal((2,)).shape == (2,) and tf.eye(2).dtype == F32


def test_a_feature_columns_vocabulary_may_be_a_string_tensor():
    fc = tf.feature_column
    for vocabulary in (tf.constant(["a", "b"]), [b"a", b"b"], ["a", "b"]):
        col = fc.indicator_column(fc.categorical_column_with_vocabulary_list("k", vocabulary))
        got = tf.keras.layers.DenseFeatures([col])({"k": tf.constant([["b"], ["z"]])})
        assert got.numpy().tolist() == [[0.0, 1.0], [0.0, 0.0]]


def test_a_constant_is_a_copy_of_the_array_it_was_made_from():
    for x in (np.zeros(3), np.zeros(3, np.float32)):
        t = tf.constant(x)
        x[0] = 5
        assert t.numpy().tolist() == [0, 0, 0] and t.dtype == x.dtype


def test_losses_and_metrics_take_integer_target_tensors():
    # pynn's own arithmetic on a program's tensors of two kinds is not refused
    y_int = tf.constant([[1, 0], [0, 1]])
    y_pred = tf.constant([[0.9, 0.1], [0.2, 0.8]])
    want = np.mean((np.float32([[1, 0], [0, 1]]) - y_pred.numpy()) ** 2)
    np.testing.assert_allclose(float(tf.keras.losses.MeanSquaredError()(y_int, y_pred)), want,
                               rtol=1e-6)
    metric = tf.keras.metrics.SparseCategoricalAccuracy()
    metric.update_state(tf.constant([0, 1]), y_pred)
    assert float(metric.result()) == 1.0
    metric = tf.keras.metrics.MeanSquaredError()
    metric.update_state(y_int, y_pred)
    np.testing.assert_allclose(float(metric.result()), want, rtol=1e-6)
