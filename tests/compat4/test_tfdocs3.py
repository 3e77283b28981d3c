"""Patterns from tensorflow.org's guides and tutorials run with ``import
pynn as tf``: tf.experimental.numpy arrays watched by a GradientTape and
used with operators, tf.vectorized_map of per-example gradients,
get_next_as_optional, tf.train.Example records in TFRecord files (against
protobuf's own encoder and TensorBoard's record writer) and their
parsing."""
import numpy as np
import pytest

import pynn as tf
import pynn.experimental.numpy as tnp


def test_watched_plain_arrays_are_leaves_in_operators_too():
    # a watched NumPy array (a tnp result) met first by an operator of a
    # traced value, not by a pynn function, still gets its gradient
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch((w, b))
        h = tnp.matmul(x, w) + b
        loss = tnp.sum(tnp.square(tnp.maximum(h, 0)) * 0.5 - b)
    gw, gb = tape.gradient(loss, (w, b))
    hv = x.astype(np.float64) @ w + b
    g = np.maximum(hv, 0)
    np.testing.assert_allclose(np.asarray(gw), x.T.astype(np.float64) @ g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gb), g.sum(0) - 5, rtol=1e-5, atol=1e-5)


def test_vectorized_map_of_per_example_gradients():
    rng = np.random.default_rng(1)
    w = tf.Variable(rng.standard_normal((3, 2)).astype(np.float32))
    xs = rng.standard_normal((6, 3)).astype(np.float32)
    ys = rng.standard_normal((6, 2)).astype(np.float32)

    def one(pair):
        x, y = pair
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(tf.matmul(x[None], w) - y[None]))
        return tape.gradient(loss, w), loss

    grads, losses = tf.function(lambda a, b: tf.vectorized_map(one, (a, b)))(xs, ys)
    assert grads.shape == (6, 3, 2) and losses.shape == (6,)
    wv = np.asarray(w, np.float64)
    r = xs @ wv - ys
    np.testing.assert_allclose(np.asarray(grads), 2 * xs[:, :, None] * r[:, None, :],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(losses), (r ** 2).sum(1), rtol=1e-5)


def test_get_next_as_optional_ends_a_loop_without_stop_iteration():
    it = iter(tf.data.Dataset.range(7).batch(3))
    seen = []
    while True:
        opt = it.get_next_as_optional()
        if not opt.has_value():
            break
        seen.append(opt.get_value().numpy().tolist())
        assert opt.element_spec.dtype == tf.int64
    assert seen == [[0, 1, 2], [3, 4, 5], [6]]
    assert opt.has_value().dtype == bool and not bool(opt.has_value())
    with pytest.raises(tf.errors.InvalidArgumentError):
        opt.get_value()


def test_optional_from_value_converts_as_constant():
    opt = tf.experimental.Optional.from_value((2.5, [1, 2]))
    a, b = opt.get_value()
    assert a.dtype == np.float32 and b.dtype == np.int32
    assert [s.dtype for s in opt.element_spec] == [tf.float32, tf.int32]
    assert opt.element_spec[1].shape == (2,)
    empty = tf.experimental.Optional.empty(opt.element_spec)
    assert not empty.has_value() and empty.element_spec == opt.element_spec


# ------------------------------------------- tf.train.Example and TFRecord

def _reference_example_classes():
    """tf.train.Example's messages built by protobuf itself from their
    definition (example.proto, feature.proto), as the reference."""
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="example_ref.proto", package="ref",
                                            syntax="proto3")

    def message(name, fields, oneof=None):
        m = fd.message_type.add(name=name)
        if oneof:
            m.oneof_decl.add(name=oneof)
        for fname, number, typ, label, tname in fields:
            f = m.field.add(name=fname, number=number, type=typ, label=label)
            if tname:
                f.type_name = tname
            if oneof:
                f.oneof_index = 0
        return m
    R, O = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, F.TYPE_BYTES, R, None)])
    message("FloatList", [("value", 1, F.TYPE_FLOAT, R, None)])
    message("Int64List", [("value", 1, F.TYPE_INT64, R, None)])
    message("Feature", [("bytes_list", 1, F.TYPE_MESSAGE, O, ".ref.BytesList"),
                        ("float_list", 2, F.TYPE_MESSAGE, O, ".ref.FloatList"),
                        ("int64_list", 3, F.TYPE_MESSAGE, O, ".ref.Int64List")], oneof="kind")
    m = message("Features", [("feature", 1, F.TYPE_MESSAGE, R, ".ref.Features.FeatureEntry")])
    entry = m.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=O)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=O,
                    type_name=".ref.Feature")
    message("Example", [("features", 1, F.TYPE_MESSAGE, O, ".ref.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    import types
    return types.SimpleNamespace(**{
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName("ref." + n))
        for n in ("BytesList", "FloatList", "Int64List", "Feature", "Features", "Example")})


def _an_example(mod):
    return mod.Example(features=mod.Features(feature={
        "ids": mod.Feature(int64_list=mod.Int64List(value=[0, -3, 1 << 40, 1])),
        "x": mod.Feature(float_list=mod.FloatList(value=[np.exp(1), 1.0, 1e20, -0.1])),
        "name": mod.Feature(bytes_list=mod.BytesList(value=[b"cat", b"a\x00\n\"\xff'\\"])),
        "empty": mod.Feature(float_list=mod.FloatList(value=[]))}))


def test_example_bytes_and_text_match_protobuf():
    from google.protobuf import text_format
    ref_mod = _reference_example_classes()
    ref, got = _an_example(ref_mod), _an_example(tf.train)
    assert got.SerializeToString() == ref.SerializeToString(deterministic=True)
    # the text format reads back as the same message
    assert text_format.Parse(str(got), ref_mod.Example()) == ref
    back = tf.train.Example.FromString(ref.SerializeToString())
    assert back == got
    feature = back.features.feature["x"]
    assert feature.WhichOneof("kind") == "float_list"
    np.testing.assert_array_equal(np.float32(feature.float_list.value),
                                  np.float32([np.exp(1), 1.0, 1e20, -0.1]))
    assert back.features.feature["ids"].int64_list.value == [0, -3, 1 << 40, 1]
    assert back.features.feature["empty"].WhichOneof("kind") == "float_list"
    with pytest.raises(TypeError):
        tf.train.BytesList(value=["a str, not bytes"])
    # (a bool is an int64 1 or 0, as the tf.train.Example tutorial writes them)
    assert tf.train.Int64List(value=[True, np.bool_(False)]).value == [1, 0]
    # a message filled in place, as protobuf's maps and repeated fields allow
    e = tf.train.Example()
    e.features.feature["k"].int64_list.value.extend([5, 6])
    r = ref_mod.Example()
    r.features.feature["k"].int64_list.value.extend([5, 6])
    assert e.SerializeToString() == r.SerializeToString()


def test_tfrecord_file_matches_tensorboards_record_writer(tmp_path):
    pytest.importorskip("tensorboard")
    import io
    from tensorboard.summary.writer.record_writer import RecordWriter
    records = [b"", b"one", bytes(range(256)) * 3]
    buf = io.BytesIO()
    ref = RecordWriter(buf)
    for r in records:
        ref.write(r)
    path = tmp_path / "r.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        for r in records:
            w.write(r)
    assert path.read_bytes() == buf.getvalue()
    got = [r.numpy() for r in tf.data.TFRecordDataset([str(path)])]
    assert got == records


def test_tfrecord_compression_and_damage(tmp_path):
    for kind in ("GZIP", "ZLIB"):
        path = str(tmp_path / f"c.{kind}")
        with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type=kind)) as w:
            for i in range(5):
                w.write(b"rec%d" % i)
        got = list(tf.data.TFRecordDataset(path, compression_type=kind).as_numpy_iterator())
        assert got == [b"rec%d" % i for i in range(5)]
    path = tmp_path / "d.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        w.write(b"payload")
    data = bytearray(path.read_bytes())
    data[14] ^= 1  # a byte of the record
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.DataLossError, match="checksum"):
        list(tf.data.TFRecordDataset(str(path)))
    path.write_bytes(bytes(data[:-6]))
    with pytest.raises(tf.errors.DataLossError, match="truncated"):
        list(tf.data.TFRecordDataset(str(path)))


def _record(ids, x, name=None):
    f = {"ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids)),
         "x": tf.train.Feature(float_list=tf.train.FloatList(value=x))}
    if name is not None:
        f["name"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[name]))
    return tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString()


def test_parse_examples_fixed_and_var_len():
    spec = {"x": tf.io.FixedLenFeature([2], tf.float32),
            "name": tf.io.FixedLenFeature([], tf.string, default_value="none"),
            "ids": tf.io.VarLenFeature(tf.int64)}
    one = tf.io.parse_single_example(_record([4, 5, 6], [1.5, -2.0], b"a"), spec)
    np.testing.assert_array_equal(one["x"].numpy(), np.float32([1.5, -2.0]))
    assert one["name"].numpy() == b"a"
    np.testing.assert_array_equal(one["ids"].indices, [[0], [1], [2]])
    np.testing.assert_array_equal(one["ids"].values, [4, 5, 6])
    np.testing.assert_array_equal(one["ids"].dense_shape, [3])
    batch = tf.io.parse_example(tf.constant([_record([7], [1, 2], b"b"),
                                             _record([8, 9], [3, 4])]), spec)
    np.testing.assert_array_equal(batch["x"].numpy(), np.float32([[1, 2], [3, 4]]))
    assert list(batch["name"].numpy()) == [b"b", b"none"]
    np.testing.assert_array_equal(tf.sparse.to_dense(batch["ids"]).numpy(), [[7, 0], [8, 9]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="required"):
        tf.io.parse_single_example(_record([1], [1, 2]), {"name": tf.io.FixedLenFeature(
            [], tf.string)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="don't match"):
        tf.io.parse_single_example(_record([1], [1, 2]), {"x": tf.io.FixedLenFeature(
            [2], tf.int64)})


def test_examples_written_from_a_dataset_and_parsed_in_batches(tmp_path):
    xs = np.arange(10, dtype=np.float32)

    def serialize(i, x):
        return tf.py_function(lambda i, x: _record([int(i)], [float(x), 2 * float(x)]),
                              (i, x), tf.string)
    ds = tf.data.Dataset.from_tensor_slices((np.arange(10), xs)).map(serialize)
    path = str(tmp_path / "ds.tfrecord")
    tf.data.experimental.TFRecordWriter(path).write(ds)
    spec = {"ids": tf.io.FixedLenFeature([1], tf.int64),
            "x": tf.io.FixedLenFeature([2], tf.float32)}
    parsed = tf.data.TFRecordDataset(path).batch(4).map(lambda r: tf.io.parse_example(r, spec))
    batches = list(parsed)
    assert [b["x"].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate([b["x"].numpy() for b in batches]),
                                  np.stack([xs, 2 * xs], 1))
    np.testing.assert_array_equal(np.concatenate([b["ids"].numpy() for b in batches])[:, 0],
                                  np.arange(10))


def test_tensor_spec_value_type_is_the_tensor_class():
    spec = tf.data.Dataset.from_tensor_slices(np.zeros((3, 2), np.float32)).element_spec
    assert spec.value_type is tf.Tensor
    assert isinstance(tf.constant([1.0]), spec.value_type)


def test_string_constants_keep_every_byte():
    # (serialized records end in NUL bytes often: a varint 0)
    c = tf.constant(b"ab\x00")
    assert c.numpy() == b"ab\x00" and c.dtype == tf.string
    assert int(tf.strings.length(c)) == 3
    v = tf.constant([b"a\x00", "b\x00"])
    assert list(v.numpy()) == [b"a\x00", b"b\x00"] and v.dtype == tf.string
    assert tf.constant([["x"], ["yz"]]).numpy().tolist() == [[b"x"], [b"yz"]]


def test_get_logger_quiets_pynns_messages(caplog):
    import logging
    logger = tf.get_logger()
    assert logger is tf.get_logger() and isinstance(logger, logging.Logger)
    tf.keras.utils.disable_interactive_logging()
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            tf.keras.utils.io_utils.print_msg("a message")
        assert "a message" in caplog.text
        caplog.clear()
        old = logger.level
        logger.setLevel(logging.ERROR)
        try:
            tf.keras.utils.io_utils.print_msg("another")
        finally:
            logger.setLevel(old)
        assert "another" not in caplog.text
    finally:
        tf.keras.utils.enable_interactive_logging()


def test_concat_of_one_tensor_is_that_tensor():
    # (tf.concat(model.predict(ds), axis=0): a single tensor, not a list)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for axis in (0, 1, -1):
        np.testing.assert_array_equal(tf.concat(x, axis=axis).numpy(), x)
    with pytest.raises(ValueError, match="axis"):
        tf.concat(x, axis=2)


# ---------------------------- checkpoints restored by attribute paths

class _Net(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.l1 = tf.keras.layers.Dense(3)
        self.blocks = [tf.keras.layers.Dense(2)]

    def call(self, x):
        return self.blocks[0](self.l1(x))


def test_checkpoint_restores_other_objects_by_attribute_path(tmp_path):
    net = _Net()
    net(np.ones((1, 4), np.float32))
    mod = tf.Module()
    mod.scale = tf.Variable([2.0, 3.0])
    path = tf.train.Checkpoint(net=net, mod=mod).save(str(tmp_path / "ck"))

    bias = tf.Variable(tf.zeros([3]))
    layer = tf.train.Checkpoint(bias=bias)
    scale = tf.Variable(tf.zeros([2]))
    status = tf.train.Checkpoint(net=tf.train.Checkpoint(l1=layer),
                                 mod=tf.train.Checkpoint(scale=scale)).restore(path)
    status.assert_existing_objects_matched()
    np.testing.assert_array_equal(bias.numpy(), np.asarray(net.l1.bias))
    np.testing.assert_array_equal(scale.numpy(), [2.0, 3.0])
    # a variable attached after the restore takes its value then
    kernel = tf.Variable(tf.zeros([4, 3]))
    layer.kernel = kernel
    np.testing.assert_array_equal(kernel.numpy(), np.asarray(net.l1.kernel))
    inner = tf.Variable(tf.zeros([2]))
    tf.train.Checkpoint(net=tf.train.Checkpoint(
        blocks=[tf.train.Checkpoint(bias=inner)])).restore(path).expect_partial()
    np.testing.assert_array_equal(inner.numpy(), np.asarray(net.blocks[0].bias))
    # the reader names the values as TensorFlow's checkpoints do
    shapes = dict(tf.train.list_variables(path))
    assert shapes["net/l1/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == [4, 3]
    assert shapes["net/variables/0"] == [4, 3]
    reader = tf.train.load_checkpoint(path)
    np.testing.assert_array_equal(reader.get_tensor("net/blocks/0/kernel/.ATTRIBUTES/"
                                                    "VARIABLE_VALUE"),
                                  np.asarray(net.blocks[0].kernel))
    assert reader.get_variable_to_dtype_map()["mod/scale/.ATTRIBUTES/VARIABLE_VALUE"] == \
        tf.float32


def test_a_sparse_input_takes_sparse_tensors_as_their_dense_values():
    tf.keras.utils.set_random_seed(0)
    x = tf.keras.Input(shape=(4,), sparse=True)
    model = tf.keras.Model(x, tf.keras.layers.Dense(3)(x))
    sp = tf.sparse.SparseTensor(indices=[[0, 0], [0, 2], [3, 3], [5, 1]],
                                values=[1.0, 2.0, -1.0, 0.5], dense_shape=[6, 4])
    dense = tf.sparse.to_dense(sp).numpy()
    want = dense @ np.asarray(model.layers[1].kernel) + np.asarray(model.layers[1].bias)
    np.testing.assert_allclose(model(sp).numpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict(sp, verbose=0), want, rtol=1e-6, atol=1e-6)
    model.compile("sgd", "mse")
    assert np.isfinite(model.fit(sp, np.ones((6, 3), np.float32), verbose=0).history["loss"][0])
    assert model.get_config()["layers"][0]["config"]["sparse"] is True
    assert tf.keras.Model.from_config(model.get_config()).layers[0].sparse


def test_datasets_of_sparse_tensors_slice_batch_unbatch_and_map():
    dense = np.array([[1, 0, 2], [0, 0, 0], [0, 3, 0], [4, 0, 5], [0, 0, 6]], np.float32)
    ds = tf.data.Dataset.from_tensor_slices(tf.sparse.from_dense(dense))
    rows = list(ds)
    assert len(rows) == 5 and all(isinstance(r, tf.SparseTensor) for r in rows)
    for r, want in zip(rows, dense):
        assert r.dense_shape.numpy().tolist() == [3]
        np.testing.assert_array_equal(tf.sparse.to_dense(r).numpy(), want)
    batches = list(ds.batch(2))
    assert [b.dense_shape.numpy().tolist() for b in batches] == [[2, 3], [2, 3], [1, 3]]
    np.testing.assert_array_equal(
        np.concatenate([tf.sparse.to_dense(b).numpy() for b in batches]), dense)
    again = [tf.sparse.to_dense(r).numpy() for r in ds.batch(2).unbatch()]
    np.testing.assert_array_equal(np.stack(again), dense)
    doubled = [tf.sparse.to_dense(r).numpy() for r in ds.map(lambda x: x * 2)]
    np.testing.assert_array_equal(np.stack(doubled), dense * 2)


def test_sparse_tensor_times_and_over_dense_keep_the_positions():
    sp = tf.sparse.SparseTensor([[0, 1], [2, 0]], [2.0, 4.0], [3, 2])
    d = np.arange(6, dtype=np.float32).reshape(3, 2) + 1
    for got, want in ((sp * 3, [6.0, 12.0]), (3 * sp, [6.0, 12.0]), (sp / 2, [1.0, 2.0]),
                      (sp * d, [4.0, 20.0]), (sp * d[:, :1], [2.0, 20.0])):
        assert isinstance(got, tf.SparseTensor)
        np.testing.assert_array_equal(got.indices.numpy(), [[0, 1], [2, 0]])
        np.testing.assert_allclose(got.values.numpy(), want)
    with pytest.raises(TypeError):
        sp * sp


def test_a_concrete_function_given_another_dtype_raises_invalid_argument():
    double = tf.function(lambda a: a + a)
    strings = double.get_concrete_function(tf.TensorSpec(shape=[], dtype=tf.string))
    assert strings(tf.constant("ab")).numpy() == b"abab"
    for error in (tf.errors.InvalidArgumentError, TypeError, ValueError):
        with pytest.raises(error, match="does not fit"):
            strings(tf.constant(1))


def test_to_hash_bucket_fast_and_strong_as_tensorflow_documents():
    # (the values TensorFlow's API pages give)
    fast = tf.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3)
    assert fast.dtype == np.int64 and fast.numpy().tolist() == [0, 2, 2]
    assert tf.strings.to_hash_bucket_strong(["Hello", "TF"], 3, [1, 2]).numpy().tolist() == \
        [2, 0]
    rt = tf.ragged.constant([["Hello", "TensorFlow"], ["2.x"]])
    assert tf.strings.to_hash_bucket_fast(rt, 3).to_list() == [[0, 2], [2]]


# ------------------------------------------------------ ragged tensors

def test_ragged_from_tensor_sparse_uniform_and_element_indexing():
    x = np.array([[1, 3, -1, -1], [2, -1, -1, -1], [4, 5, 8, 9], [-1, -1, -1, -1]])
    assert tf.RaggedTensor.from_tensor(x, padding=-1).to_list() == [[1, 3], [2], [4, 5, 8, 9],
                                                                    []]
    assert tf.RaggedTensor.from_tensor(x, lengths=[2, 0, 3, 1]).to_list() == \
        [[1, 3], [], [4, 5, 8], [-1]]
    assert tf.RaggedTensor.from_tensor(x).to_list() == x.tolist()
    # a padding element of inner axes is padding only where all of it is
    cube = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 2]]])
    assert tf.RaggedTensor.from_tensor(cube, padding=0).to_list() == [[[1, 0]],
                                                                      [[0, 0], [0, 2]]]
    st = tf.SparseTensor(indices=[[0, 0], [2, 0], [2, 1]], values=["a", "b", "c"],
                         dense_shape=[3, 3])
    assert tf.RaggedTensor.from_sparse(st).to_list() == [[b"a"], [], [b"b", b"c"]]
    with pytest.raises(ValueError, match="ragged-right"):
        tf.RaggedTensor.from_sparse(tf.SparseTensor([[0, 1]], [1], [1, 2]))
    assert tf.RaggedTensor.from_uniform_row_length(np.arange(6), 3).to_list() == \
        [[0, 1, 2], [3, 4, 5]]
    rt = tf.ragged.constant([[10, 11, 12], [13]])
    assert int(rt[0, 2]) == 12 and int(rt[1, -1]) == 13
    assert rt[0, 1:].numpy().tolist() == [11, 12]


def test_ragged_batch_of_elements_of_different_lengths():
    ds = tf.data.Dataset.from_tensor_slices([1, 5, 3, 2, 8]).map(tf.range)
    got = [b.to_list() for b in ds.apply(tf.data.experimental.dense_to_ragged_batch(2))]
    assert got == [[[0], [0, 1, 2, 3, 4]], [[0, 1, 2], [0, 1]], [list(range(8))]]
    pairs = list(ds.map(lambda v: (v, tf.size(v))).ragged_batch(3, drop_remainder=True))
    assert len(pairs) == 1
    rows, sizes = pairs[0]
    assert rows.to_list() == [[0], [0, 1, 2, 3, 4], [0, 1, 2]]
    assert sizes.numpy().tolist() == [1, 5, 3]


def test_tensorflow_functions_as_activations_save_and_load_by_name(tmp_path):
    from keras_reference import keras
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.Input((3,)), tf.keras.layers.Dense(4), tf.keras.layers.Activation(tf.nn.relu),
        tf.keras.layers.Dense(3, activation=tf.nn.softmax),
        tf.keras.layers.Dense(2, activation=tf.math.sigmoid)])
    assert [layer.get_config()["activation"] for layer in model.layers[1:]] == \
        ["relu", "softmax", "sigmoid"]
    path = str(tmp_path / "m.keras")
    model.save(path)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(tf.keras.models.load_model(path).predict(x, verbose=0), want,
                               rtol=1e-6)
    if keras is not None:
        np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), want,
                                   rtol=1e-5, atol=1e-6)
