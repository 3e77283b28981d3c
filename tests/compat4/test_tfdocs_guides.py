"""Patterns from tensorflow.org's guides and tutorials run with ``import
pynn as tf``: powers of a watched constant, dtypes read by name, a cell's
zero initial states, string tensors in tf.data pipelines, checkpointed
dataset iterators and random generators, tf.keras 2's loss-scaling loop,
input signatures and concrete functions, tensor_scatter_nd_min/max, ragged
and sparse operations, tf.io.decode_raw, tf.lite.Interpreter."""
import numpy as np
import pytest
from keras_reference import needs_keras

import pynn as tf


@pytest.mark.parametrize("exponent", [2, 0.5, -1, 1, 3, 2.5])
def test_power_of_a_watched_constant_is_differentiated(exponent):
    # (NumPy computes x ** 2 as np.square, x ** 0.5 as np.sqrt: the tape
    # must still record them)
    x = tf.constant([1.5, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x ** exponent
    g = tape.gradient(y, x)
    want = exponent * np.array([1.5, 3.0]) ** (exponent - 1)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(y), np.array([1.5, 3.0]) ** exponent, rtol=1e-6)


def test_scalar_base_to_a_watched_power():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = 3.0 ** x
    np.testing.assert_allclose(float(tape.gradient(y, x)), 9 * np.log(3), rtol=1e-5)


def test_dtype_names_of_symbolic_tensors_and_weights():
    inputs = tf.keras.Input(shape=(4,))
    dense = tf.keras.layers.Dense(3)
    x = dense(inputs)
    assert x.dtype.name == "float32" and x.dtype == "float32"
    assert x.dtype.is_floating
    assert dense.kernel.dtype.name == "float32"
    assert tf.keras.Input(shape=(2,), dtype="int32").dtype.name == "int32"
    v = tf.Variable([1, 2], dtype=tf.int64)
    assert v.dtype.name == "int64" and v.dtype == tf.int64


@pytest.mark.parametrize("cell, count", [(tf.keras.layers.LSTMCell, 2),
                                         (tf.keras.layers.GRUCell, 1),
                                         (tf.keras.layers.SimpleRNNCell, 1)])
def test_cell_initial_state(cell, count):
    c = cell(5)
    for states in (c.get_initial_state(batch_size=tf.constant(3), dtype=tf.float32),
                   c.get_initial_state(3),
                   c.get_initial_state(inputs=np.ones((3, 2), np.float32))):
        assert len(states) == count
        for s in states:
            np.testing.assert_array_equal(np.asarray(s), np.zeros((3, 5), np.float32))
    # a step from them matches the cell run by its layer
    x = np.random.default_rng(0).normal(size=(3, 1, 2)).astype(np.float32)
    out, _ = c(x[:, 0], c.get_initial_state(batch_size=3))
    layer = tf.keras.layers.RNN(c)
    np.testing.assert_allclose(np.asarray(out), np.asarray(layer(x)), rtol=1e-5, atol=1e-6)


def test_string_tensors_concat_and_zeros():
    acc = tf.zeros([0, 1], dtype=tf.string)
    assert acc.shape == (0, 1) and acc.dtype == object
    acc = tf.concat((acc, tf.constant([["open"]])), axis=0)
    acc = tf.concat((acc, [["read"]]), axis=0)  # (a Python str becomes bytes)
    assert acc.numpy().tolist() == [[b"open"], [b"read"]]
    np.testing.assert_array_equal(tf.zeros_like(acc).numpy(),
                                  np.array([[b""], [b""]], dtype=object))
    np.testing.assert_array_equal(np.asarray(tf.zeros_like([1.0, 2.0])), [0.0, 0.0])


def test_py_function_without_results():
    seen = []
    assert tf.py_function(lambda: seen.append(1), [], ()) == []
    assert seen == [1]
    with pytest.raises(ValueError, match="Tout names 2 results"):
        tf.py_function(lambda: None, [], (tf.float32, tf.float32))


def test_from_generator_string_output_types():
    def gen():
        for i in range(2):
            yield [("step",)], [(float(i), 1.0)]
    ds = tf.data.Dataset.from_generator(gen, output_types=(tf.string, tf.float32),
                                        output_shapes=((1, 1), (1, 2)))
    got = list(ds)
    assert got[1][0].numpy().tolist() == [[b"step"]]
    assert got[1][1].dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got[1][1]), [[1.0, 1.0]])


def test_checkpoint_saves_a_dataset_iterators_position(tmp_path):
    ds = tf.data.Dataset.range(10).map(lambda x: x * 2).batch(2)
    it = iter(ds)
    step = tf.Variable(0)
    ckpt = tf.train.Checkpoint(step=step, iterator=it)
    next(it), it.get_next()
    path = ckpt.save(str(tmp_path / "ckpt"))
    after = next(it).numpy().tolist()
    assert after == [8, 10]
    next(it)
    status = ckpt.restore(path)
    status.assert_consumed()
    assert next(it).numpy().tolist() == after
    # a fresh iterator restored from the file goes on from there as well
    fresh = iter(ds)
    tf.train.Checkpoint(step=tf.Variable(0), iterator=fresh).restore(path).assert_consumed()
    assert [b.numpy().tolist() for b in fresh] == [[8, 10], [12, 14], [16, 18]]
    with pytest.raises(ValueError, match="iterator"):
        tf.train.Checkpoint(it=iter([1, 2]))


def test_dataset_iterator_is_one_pass():
    ds = tf.data.Dataset.from_tensor_slices(np.arange(3))
    it = iter(ds)
    assert iter(it) is it
    assert [int(x) for x in it] == [0, 1, 2]
    with pytest.raises(StopIteration):
        next(it)
    assert [int(x) for x in ds] == [0, 1, 2]  # (the dataset itself is re-iterable)


def _sgd_step(flow):
    tf.keras.utils.set_random_seed(3)
    layer = tf.keras.layers.Dense(2)
    layer.build((None, 3))
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    inner = tf.keras.optimizers.SGD(0.1)
    opt = inner if flow == "plain" else \
        tf.keras.mixed_precision.LossScaleOptimizer(inner, initial_scale=1024.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(layer(x) ** 2)
        if flow == "keras2":
            scaled = opt.get_scaled_loss(loss)
            np.testing.assert_allclose(float(scaled), 1024.0 * float(loss), rtol=1e-6)
        elif flow == "keras3":
            scaled = opt.scale_loss(loss)
    grads = tape.gradient(loss if flow == "plain" else scaled, layer.trainable_variables)
    if flow == "keras2":
        grads = opt.get_unscaled_gradients(grads)
    opt.apply_gradients(zip(grads, layer.trainable_variables))
    return [np.asarray(w) for w in layer.get_weights()]


@pytest.mark.parametrize("flow", ["keras2", "keras3"])
def test_loss_scale_optimizer_custom_loop_matches_plain_step(flow):
    # tf.keras 2's get_scaled_loss / get_unscaled_gradients, then
    # apply_gradients of unscaled gradients; Keras 3's scale_loss, then
    # apply_gradients of scaled ones: both one plain SGD step
    for got, want in zip(_sgd_step(flow), _sgd_step("plain")):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_loss_scale_optimizer_unscaled_gradients():
    opt = tf.keras.mixed_precision.LossScaleOptimizer(tf.keras.optimizers.SGD(),
                                                      initial_scale=8.0)
    assert float(opt.loss_scale) == 8.0
    g = opt.get_unscaled_gradients([np.full(3, 4.0, np.float32), None])
    np.testing.assert_array_equal(np.asarray(g[0]), [0.5, 0.5, 0.5])
    assert g[1] is None
    assert float(opt.get_scaled_loss(lambda: 2.0)()) == 16.0


@pytest.mark.parametrize("which", ["min", "max"])
@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_tensor_scatter_nd_min_max_match_numpy(which, dtype):
    rng = np.random.default_rng(4)
    t = rng.integers(-9, 9, (3, 4, 2)).astype(dtype)
    idx = np.array([[0, 1], [2, 3], [0, 1], [1, 0]])  # (a repeated index)
    upd = rng.integers(-9, 9, (4, 2)).astype(dtype)
    fn = getattr(tf, f"tensor_scatter_nd_{which}")
    got = fn(tf.constant(t), idx, tf.constant(upd))
    want = t.copy()
    getattr(np, "minimum" if which == "min" else "maximum").at(want, (idx[:, 0], idx[:, 1]), upd)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got), want)


def test_tensor_scatter_nd_max_gradient_goes_to_the_larger():
    t = tf.constant([1.0, 5.0, 3.0])
    u = tf.constant([4.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([t, u])
        y = tf.reduce_sum(tf.tensor_scatter_nd_max(t, [[0], [1]], u) * [1.0, 2.0, 3.0])
    np.testing.assert_allclose(np.asarray(tape.gradient(y, t)), [0.0, 2.0, 3.0])
    np.testing.assert_allclose(np.asarray(tape.gradient(y, u)), [1.0, 0.0])


def test_version_is_keras_function_and_tf_module():
    assert tf.version() == tf.__version__  # keras.version()
    assert tf.version.VERSION == tf.__version__  # tf.version.VERSION
    assert isinstance(tf.version.GIT_VERSION, str)


def test_input_signature_mismatch_is_a_type_error():
    @tf.function(input_signature=(tf.TensorSpec(shape=[None], dtype=tf.int32),))
    def halve(x):
        return x // 2
    np.testing.assert_array_equal(np.asarray(halve(tf.constant([4, 6]))), [2, 3])
    for bad in (tf.constant([[1, 2], [3, 4]]), tf.constant([1.0, 2.0])):
        with pytest.raises(TypeError, match="input_signature"):
            halve(bad)
        with pytest.raises(ValueError):  # (as TensorFlow before 2.13)
            halve(bad)


def test_concrete_function_binds_python_arguments():
    @tf.function
    def power(a, b):
        return a ** b
    square = power.get_concrete_function(a=tf.TensorSpec(None, tf.float32), b=2)
    assert float(square(tf.constant(10.0))) == 100.0
    assert float(square(a=tf.constant(3.0))) == 9.0
    with pytest.raises(TypeError):
        square(tf.constant(10.0), b=3)

    class Affine:
        weight, bias = 2.0, 1.0

    def evaluate(model, x, shift):
        return model.weight * x + model.bias + shift
    fn = tf.function(evaluate).get_concrete_function(Affine(), tf.constant(10.0), 0.5)
    assert float(fn(tf.constant(4.0))) == 9.5


def test_dataset_cardinality_is_a_tensor():
    ds = tf.data.Dataset.range(7).batch(2)
    n = tf.data.experimental.cardinality(ds)
    assert n.numpy() == 4 and n.dtype == np.int64
    assert ds.cardinality() == 4 and len(range(ds.cardinality())) == 4
    assert ds.repeat().cardinality().numpy() == tf.data.INFINITE_CARDINALITY


def test_lite_interpreter_runs_what_the_converter_wrote(tmp_path):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tflite")
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((6,)), tf.keras.layers.Dense(4, activation="relu"),
                                 tf.keras.layers.Dense(3)])
    path = tmp_path / "model.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    x = np.random.default_rng(0).normal(size=(1, 6)).astype(np.float32)
    interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner("serving_default")
    (name,) = interpreter.get_signature_list()["serving_default"]["inputs"]
    (out,) = runner(**{name: x}).values()
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    interpreter = tf.lite.Interpreter(model_content=path.read_bytes())
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_as_numpy_iterator_next():
    ds = tf.data.Dataset.from_tensor_slices((np.arange(4.0), np.arange(4))).batch(3)
    it = ds.as_numpy_iterator()
    x, y = it.next()
    assert type(x) is np.ndarray and x.tolist() == [0.0, 1.0, 2.0] and y.tolist() == [0, 1, 2]
    x, y = next(it)
    assert x.tolist() == [3.0]
    assert [b.tolist() for b in tf.data.Dataset.range(3).as_numpy_iterator()] == [0, 1, 2]


@needs_keras
def test_variable_of_python_booleans_is_bool_as_keras():
    import keras
    for value in ([False, False, True], True, [[True], [False]]):
        v = tf.Variable(value)
        assert v.dtype == keras.Variable(value).dtype == "bool"
        assert not v.trainable
        np.testing.assert_array_equal(v.numpy(), np.array(value))
    assert tf.Variable([1.0, 2.0]).dtype == "float32"


def _rows(rt):
    return [np.asarray(r).tolist() for r in rt]


def test_ragged_elementwise_arithmetic():
    rt = tf.ragged.constant([[3, 1, 4, 1], [], [5, 9, 2], [6], []])
    assert _rows(rt + 3) == [[6, 4, 7, 4], [], [8, 12, 5], [9], []]
    assert (rt + 3).dtype == "int32"
    other = tf.ragged.constant([[1, 2, 3, 4], [], [5, 6, 7], [8], []])
    assert _rows(rt * other) == [[3, 2, 12, 4], [], [25, 54, 14], [48], []]
    assert _rows(10 - rt) == [[7, 9, 6, 9], [], [5, 1, 8], [4], []]
    assert _rows(-rt) == [[-3, -1, -4, -1], [], [-5, -9, -2], [-6], []]
    x = tf.ragged.constant([[1, 2], [3, 4, 5, 6], [7]])
    assert _rows(x + tf.constant([[10], [20], [30]])) == [[11, 12], [23, 24, 25, 26], [37]]
    np.testing.assert_allclose(np.concatenate([np.asarray(r) for r in x / 2]),
                               np.array([1, 2, 3, 4, 5, 6, 7]) / 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="row lengths"):
        tf.ragged.constant([[1, 2, 3], [4], [5, 6]]) + tf.ragged.constant([[1, 2], [3, 4], [5]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="broadcast"):
        x + tf.constant(np.ones((3, 4), np.int32))


def test_ragged_map_flat_values_and_constructors():
    rt = tf.ragged.constant([[3, 1, 4, 1], [], [5, 9, 2], [6], []])
    out = tf.ragged.map_flat_values(lambda v: v * 2 + 1, rt)
    assert _rows(out) == [[7, 3, 9, 3], [], [11, 19, 5], [13], []]
    with pytest.raises(ValueError, match="one value per flat value"):
        tf.ragged.map_flat_values(lambda v: v[:2], rt)
    by_ids = tf.RaggedTensor.from_value_rowids(values=[3, 1, 4, 1, 5, 9, 2],
                                               value_rowids=[0, 0, 0, 0, 2, 2, 3], nrows=5)
    assert _rows(by_ids) == [[3, 1, 4, 1], [], [5, 9], [2], []]
    assert np.asarray(by_ids.value_rowids()).tolist() == [0, 0, 0, 0, 2, 2, 3]
    assert np.asarray(rt.bounding_shape()).tolist() == [5, 4]
    assert int(rt.bounding_shape(axis=1)) == 4


@pytest.mark.parametrize("inner", [(), (2,)])
def test_ragged_to_sparse_densifies_as_to_tensor(inner):
    values = np.arange(1, 1 + 6 * int(np.prod(inner)), dtype=np.int32).reshape((6,) + inner)
    rt = tf.RaggedTensor.from_row_lengths(values, [3, 0, 2, 1])
    sp = rt.to_sparse()
    assert np.asarray(sp.dense_shape).tolist() == [4, 3] + list(inner)
    np.testing.assert_array_equal(np.asarray(tf.sparse.to_dense(sp)), np.asarray(rt.to_tensor()))


def test_sparse_concat_slice_transpose_against_dense():
    rng = np.random.default_rng(5)
    dense = [rng.integers(-3, 4, (4, n)) * (rng.random((4, n)) < 0.5) for n in (2, 5, 3)]
    sps = [tf.sparse.from_dense(d.astype(np.int32)) for d in dense]
    joined = tf.sparse.concat(axis=1, sp_inputs=sps)
    np.testing.assert_array_equal(np.asarray(tf.sparse.to_dense(joined)), np.concatenate(dense, 1))
    cut = tf.sparse.slice(joined, start=[1, 3], size=[2, 20])
    np.testing.assert_array_equal(np.asarray(tf.sparse.to_dense(cut)),
                                  np.concatenate(dense, 1)[1:3, 3:])
    flipped = tf.sparse.transpose(joined)
    np.testing.assert_array_equal(np.asarray(tf.sparse.to_dense(flipped)),
                                  np.concatenate(dense, 1).T)
    plus = tf.sparse.map_values(tf.add, sps[0], 5)
    np.testing.assert_array_equal(np.asarray(plus.values), np.asarray(sps[0].values) + 5)
    with pytest.raises(ValueError, match="differ outside axis"):
        tf.sparse.concat(0, sps)


def test_sparse_reduce_max_leaves_out_implicit_zeros():
    # the examples of TensorFlow's documentation
    x = tf.sparse.SparseTensor([[0, 0], [0, 2], [1, 1]], [1, 2, 3], [2, 3])
    assert int(tf.sparse.reduce_max(x)) == 3
    assert np.asarray(tf.sparse.reduce_max(x, 0)).tolist() == [1, 3, 2]
    assert np.asarray(tf.sparse.reduce_max(x, 1, keepdims=True)).tolist() == [[2], [3]]
    y = tf.sparse.SparseTensor([[0, 0], [1, 0], [1, 1]], [-7, 4, 3], [3, 2])
    assert np.asarray(tf.sparse.reduce_max(y, 1)).tolist() == [-7, 4, 0]
    assert int(tf.sparse.reduce_max(tf.sparse.from_dense([-5, 0, -3]))) == -3


def test_checkpoint_restores_a_random_generators_stream(tmp_path):
    g = tf.random.Generator.from_seed(1)
    ckpt = tf.train.Checkpoint(generator=g)
    g.normal([])
    path = ckpt.write(str(tmp_path / "rng"))
    after = [np.asarray(g.normal([3])), np.asarray(g.uniform([2], maxval=10, dtype=tf.int32))]
    g.normal([5])
    ckpt.restore(path).assert_consumed()
    again = [np.asarray(g.normal([3])), np.asarray(g.uniform([2], maxval=10, dtype=tf.int32))]
    for a, b in zip(after, again):
        np.testing.assert_array_equal(a, b)
    assert np.asarray(g.state).dtype == np.int64


def test_decode_raw_matches_numpy():
    np.testing.assert_array_equal(np.asarray(tf.io.decode_raw(tf.constant("Duck"), tf.uint8)),
                                  np.frombuffer(b"Duck", np.uint8))
    words = np.array([np.array([1, -2, 3], "<i4").tobytes(), np.array([4, 5, 6], "<i4").tobytes()],
                     object)
    got = tf.io.decode_raw(words, tf.int32)
    assert got.shape == (2, 3) and got.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(got), [[1, -2, 3], [4, 5, 6]])
    big = np.array([np.array([1.5, -2.0], ">f4").tobytes()], object)
    np.testing.assert_array_equal(
        np.asarray(tf.io.decode_raw(big, tf.float32, little_endian=False)), [[1.5, -2.0]])
    np.testing.assert_array_equal(
        np.asarray(tf.io.decode_raw(tf.constant(["abc", "d"]), tf.uint8, fixed_length=2)),
        [[97, 98], [100, 0]])
    with pytest.raises(ValueError, match="differ in length"):
        tf.io.decode_raw(tf.constant(["abc", "d"]), tf.uint8)


def test_init_scope_in_a_function_runs_once_guarded():
    class Counter(tf.Module):
        def __init__(self):
            self.v = tf.Variable(0)
            self.counter = 0

        @tf.function
        def __call__(self):
            if self.counter == 0:
                with tf.init_scope():
                    self.counter += 1
                    self.v.assign_add(1)
            return self.v
    m = Counter()
    assert [int(m().numpy()) for _ in range(3)] == [1, 1, 1]
