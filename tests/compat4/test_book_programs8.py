"""Programs of Hands-On Machine Learning, 3rd edition (Geron, tf.keras on
TensorFlow 2), run with only their imports changed (``import pynn as tf``),
at tiny sizes on synthetic data where the book downloads some: what broke
in pynn, and whole programs that must keep working.  Expected values are
the book's printed outputs, Keras 3 on its NumPy backend, or NumPy."""
import numpy as np
import pytest

import pynn as tf
from keras_reference import keras as real_keras, needs_keras


# ------------------------------------------------ ch. 18: policy gradients

def test_policy_gradient_step_turns_a_one_element_action_into_an_int():
    """``env.step(int(action))`` with ``action`` a (1, 1) boolean tensor:
    TensorFlow converts a tensor of one element whatever its rank."""
    tf.random.set_seed(42)
    model = tf.keras.Sequential([tf.keras.layers.Dense(5, activation="relu"),
                                 tf.keras.layers.Dense(1, activation="sigmoid")])
    loss_fn = tf.keras.losses.binary_crossentropy
    obs = np.array([0.01, -0.02, 0.03, 0.04], dtype=np.float32)
    with tf.GradientTape() as tape:
        left_proba = model(obs[np.newaxis])
        action = (tf.random.uniform([1, 1]) > left_proba)
        y_target = tf.constant([[1.]]) - tf.cast(action, tf.float32)
        loss = tf.reduce_mean(loss_fn(y_target, left_proba))
    grads = tape.gradient(loss, model.trainable_variables)
    assert int(action) in (0, 1) and isinstance(int(action), int)
    assert int(action) == int(np.asarray(action).item())
    assert float(left_proba) == pytest.approx(float(np.asarray(left_proba).item()))
    assert [g.shape for g in grads] == [v.shape for v in model.trainable_variables]
    # the book's update: rewards times gradients, averaged over the steps
    all_grads, all_final_rewards = [[grads, grads]], [np.array([1.0, 0.5])]
    all_mean_grads = []
    for var_index in range(len(model.trainable_variables)):
        mean_grads = tf.reduce_mean(
            [final_reward * all_grads[episode_index][step][var_index]
             for episode_index, final_rewards in enumerate(all_final_rewards)
             for step, final_reward in enumerate(final_rewards)], axis=0)
        all_mean_grads.append(mean_grads)
    before = [v.numpy().copy() for v in model.trainable_variables]
    tf.keras.optimizers.Nadam(learning_rate=0.01).apply_gradients(
        zip(all_mean_grads, model.trainable_variables))
    assert any(not np.array_equal(b, v.numpy())
               for b, v in zip(before, model.trainable_variables))


def test_one_element_conversions_of_variables_and_their_limits():
    v = tf.Variable([[3.0]])
    assert int(v) == 3 and float(v) == 3.0
    assert float(tf.constant([[[2.5]]])) == 2.5
    with pytest.raises(TypeError, match=r"shape \(2,\)"):
        int(tf.constant([1, 2]))
    with pytest.raises(TypeError, match=r"shape \(0,\)"):
        float(tf.Variable(np.zeros(0, np.float32)))
    # ch. 19: where a variable lives, as an eager tensor says it
    with tf.device("/cpu:0"):
        c = tf.Variable([1., 2., 3.])
    assert c.device == tf.constant(1.0).device
    assert c.device.endswith("CPU:0")


# --------------------------------------------- ch. 12: a layer as a function

def test_lambda_layer_called_on_a_list_of_numbers():
    """``exponential_layer([-1., 0., 1.])``: Python numbers are one tensor,
    as tf.keras 2 converts them."""
    exponential_layer = tf.keras.layers.Lambda(lambda x: tf.exp(x))
    out = exponential_layer([-1., 0., 1.])
    np.testing.assert_allclose(np.asarray(out), np.exp([-1., 0., 1.]), rtol=1e-6)
    dense = tf.keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
    np.testing.assert_array_equal(np.asarray(dense([[1., 2.]])), [[3., 3.]])
    embed = tf.keras.layers.Embedding(5, 2)
    np.testing.assert_array_equal(np.asarray(embed([2, 4, 2])),
                                  embed.get_weights()[0][[2, 4, 2]])


# ---------------------------------------- ch. 14: images straight from a list

def _sample_images():
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_sample_images()["images"]


def test_image_layers_take_the_list_of_sample_images():
    """The chapter's first cell: scikit-learn's two sample images (a list
    of arrays) cropped, rescaled and convolved as one batch."""
    images = _sample_images()
    cropped = tf.keras.layers.CenterCrop(height=70, width=120)(images)
    assert cropped.shape == (2, 70, 120, 3)
    h, w = images[0].shape[:2]
    top, left = (h - 70) // 2, (w - 120) // 2
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(cropped[i]),
                                      images[i][top:top + 70, left:left + 120])
    scaled = tf.keras.layers.Rescaling(scale=1 / 255)(images)
    np.testing.assert_allclose(np.asarray(scaled), np.stack(images) / 255, rtol=1e-6)
    assert tf.keras.layers.Resizing(20, 30)(images).shape == (2, 20, 30, 3)
    assert tf.keras.layers.RandomFlip(seed=1)(images).shape == (2, h, w, 3)
    images = tf.keras.layers.Rescaling(scale=1 / 255)(cropped)
    fmaps = tf.keras.layers.Conv2D(filters=32, kernel_size=7)(images)
    assert fmaps.shape == (2, 64, 114, 32)


@needs_keras
def test_rescaling_a_list_of_images_as_keras():
    images = [np.full((4, 5, 3), 10, np.uint8), np.full((4, 5, 3), 200, np.uint8)]
    ours = tf.keras.layers.Rescaling(1 / 255, offset=-1)(images)
    theirs = real_keras.layers.Rescaling(1 / 255, offset=-1)(images)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-6)


def test_depthwise_max_pooling_with_tf_nn_max_pool():
    """``tf.nn.max_pool(fmaps, ksize=(1, 1, 1, 3), strides=(1, 1, 1, 3),
    padding="VALID")``: the maximum of each group of 3 channels."""
    np.random.seed(42)
    fmaps = np.random.rand(2, 7, 12, 60).astype(np.float32)
    depth_output = tf.nn.max_pool(fmaps, ksize=(1, 1, 1, 3), strides=(1, 1, 1, 3),
                                  padding="VALID")
    assert depth_output.shape == (2, 7, 12, 20)
    np.testing.assert_array_equal(np.asarray(depth_output),
                                  fmaps.reshape(2, 7, 12, 20, 3).max(axis=-1))

    class DepthPool(tf.keras.layers.Layer):  # the book's own layer, the same result
        def __init__(self, pool_size=2, **kwargs):
            super().__init__(**kwargs)
            self.pool_size = pool_size

        def call(self, inputs):
            shape = tf.shape(inputs)
            groups = shape[-1] // self.pool_size
            new_shape = tf.concat([shape[:-1], [groups, self.pool_size]], axis=0)
            return tf.reduce_max(tf.reshape(inputs, new_shape), axis=-1)

    np.testing.assert_array_equal(np.asarray(DepthPool(pool_size=3)(fmaps)),
                                  np.asarray(depth_output))
    # the gradient goes to each group's maximum
    v = tf.Variable(fmaps[:1, :2, :2, :6])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.nn.max_pool(v, ksize=[1, 1, 1, 3], strides=[1, 1, 1, 3],
                                         padding="VALID"))
    g = np.asarray(tape.gradient(y, v)).reshape(-1, 3)
    x = fmaps[:1, :2, :2, :6].reshape(-1, 3)
    np.testing.assert_array_equal(g, (x == x.max(axis=1, keepdims=True)).astype(np.float32))
    with pytest.raises(ValueError, match="multiple of the depth window 7"):
        tf.nn.max_pool(fmaps, ksize=(1, 1, 1, 7), strides=(1, 1, 1, 7), padding="VALID")
    with pytest.raises(ValueError, match="ksize = strides"):
        tf.nn.max_pool(fmaps, ksize=(1, 2, 2, 3), strides=(1, 2, 2, 3), padding="VALID")


# ------------------------------------------ ch. 13: tensors as TensorProtos

def test_serialize_tensor_writes_the_books_bytes_and_parses_them_back():
    t = tf.constant([[0., 1.], [2., 3.], [4., 5.]])
    serialized = tf.io.serialize_tensor(t)
    # the bytes the book prints for TensorFlow's serialize_tensor
    assert serialized.numpy() == (b'\x08\x01\x12\x08\x12\x02\x08\x03\x12\x02\x08\x02"\x18'
                                  b'\x00\x00\x00\x00\x00\x00\x80?\x00\x00\x00@\x00\x00@@'
                                  b'\x00\x00\x80@\x00\x00\xa0@')
    back = tf.io.parse_tensor(serialized, out_type=tf.float32)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(back), np.asarray(t))
    with pytest.raises(tf.errors.InvalidArgumentError, match="type mismatch"):
        tf.io.parse_tensor(serialized, out_type=tf.float64)
    for value, dtype in [(np.int32(7), tf.int32), (np.array([True, False]), tf.bool),
                         (np.array([b"a", b"bc"], dtype=object), tf.string),
                         (np.array(["caf\u00e9"]), tf.string),
                         (np.zeros((0, 3), np.int64), tf.int64),
                         (np.arange(6, dtype=np.uint8).reshape(2, 3), tf.uint8),
                         (np.array([1.5, -2.0], np.float16), tf.float16)]:
        back = np.asarray(tf.io.parse_tensor(tf.io.serialize_tensor(value), dtype))
        want = np.asarray(value)
        if want.dtype.kind == "U":
            want = np.char.encode(want, "utf-8").astype(object)
        assert back.shape == want.shape
        np.testing.assert_array_equal(back, want)
    # the tensors serialized in a dataset of records, as the chapter stores them
    ds = tf.data.Dataset.from_tensor_slices([tf.io.serialize_tensor(t).numpy()] * 2)
    parsed = [tf.io.parse_tensor(s, out_type=tf.float32) for s in ds]
    np.testing.assert_array_equal(np.asarray(parsed[1]), np.asarray(t))


def test_parse_tensor_reads_tensorflows_value_fields():
    """A TensorProto made with its repeated value fields (as
    tf.make_tensor_proto writes small tensors): the last value fills the
    rest, as TensorFlow reads it (the proto classes TensorBoard ships)."""
    tensor_pb2 = pytest.importorskip("tensorboard.compat.proto.tensor_pb2")
    shape_pb2 = pytest.importorskip("tensorboard.compat.proto.tensor_shape_pb2")

    def proto(dtype, dims, **values):
        p = tensor_pb2.TensorProto(dtype=dtype, **values)
        p.tensor_shape.CopyFrom(shape_pb2.TensorShapeProto(
            dim=[shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]))
        return p.SerializeToString()

    np.testing.assert_array_equal(
        np.asarray(tf.io.parse_tensor(proto(1, [2, 2], float_val=[7.0]), tf.float32)),
        np.full((2, 2), 7.0, np.float32))
    np.testing.assert_array_equal(
        np.asarray(tf.io.parse_tensor(proto(9, [3], int64_val=[1, -2]), tf.int64)),
        [1, -2, -2])
    np.testing.assert_array_equal(
        np.asarray(tf.io.parse_tensor(proto(3, [2], int_val=[-5, 6]), tf.int32)), [-5, 6])
    np.testing.assert_array_equal(
        np.asarray(tf.io.parse_tensor(proto(7, [2], string_val=[b"x", b"yz"]), tf.string)),
        np.array([b"x", b"yz"], dtype=object))
    assert np.asarray(tf.io.parse_tensor(proto(2, [], double_val=[0.25]),
                                         tf.float64)).shape == ()
    # and what pynn writes is what TensorFlow's own message reads
    p = tensor_pb2.TensorProto.FromString(
        tf.io.serialize_tensor(np.arange(6, dtype=np.int32).reshape(3, 2)).numpy())
    assert p.dtype == 3 and [d.size for d in p.tensor_shape.dim] == [3, 2]
    np.testing.assert_array_equal(np.frombuffer(p.tensor_content, "<i4"), np.arange(6))
    with pytest.raises(tf.errors.InvalidArgumentError, match="do not hold"):
        tf.io.parse_tensor(proto(1, [3], tensor_content=b"\0" * 8), tf.float32)


def _reference_sequence_example_classes():
    """tf.train's messages (feature.proto, example.proto) built by protobuf
    itself from their definitions, SequenceExample and its lists included."""
    pytest.importorskip("google.protobuf")
    import types
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    R, O = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    fd = descriptor_pb2.FileDescriptorProto(name="sequence_example_ref.proto",
                                            package="seqref", syntax="proto3")

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

    def map_of(name, field, value_type):
        m = message(name, [(field, 1, F.TYPE_MESSAGE, R, f".seqref.{name}.Entry")])
        entry = m.nested_type.add(name="Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=O)
        entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=O,
                        type_name=value_type)

    message("BytesList", [("value", 1, F.TYPE_BYTES, R, None)])
    message("FloatList", [("value", 1, F.TYPE_FLOAT, R, None)])
    message("Int64List", [("value", 1, F.TYPE_INT64, R, None)])
    message("Feature", [("bytes_list", 1, F.TYPE_MESSAGE, O, ".seqref.BytesList"),
                        ("float_list", 2, F.TYPE_MESSAGE, O, ".seqref.FloatList"),
                        ("int64_list", 3, F.TYPE_MESSAGE, O, ".seqref.Int64List")],
            oneof="kind")
    map_of("Features", "feature", ".seqref.Feature")
    message("FeatureList", [("feature", 1, F.TYPE_MESSAGE, R, ".seqref.Feature")])
    map_of("FeatureLists", "feature_list", ".seqref.FeatureList")
    message("SequenceExample", [("context", 1, F.TYPE_MESSAGE, O, ".seqref.Features"),
                                ("feature_lists", 2, F.TYPE_MESSAGE, O,
                                 ".seqref.FeatureLists")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    names = ("BytesList", "FloatList", "Int64List", "Feature", "Features", "FeatureList",
             "FeatureLists", "SequenceExample")
    return types.SimpleNamespace(**{
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName("seqref." + n))
        for n in names})


def _books_sequence_example(mod):
    """The chapter's SequenceExample of a document, with ``mod`` standing
    for tf.train."""
    context = mod.Features(feature={
        "author_id": mod.Feature(int64_list=mod.Int64List(value=[123])),
        "title": mod.Feature(bytes_list=mod.BytesList(value=[b"A", b"desert", b"place", b"."])),
        "pub_date": mod.Feature(int64_list=mod.Int64List(value=[1623, 12, 25]))})
    content = [["When", "shall", "we", "three", "meet", "again", "?"],
               ["In", "thunder", ",", "lightning", ",", "or", "in", "rain", "?"]]
    comments = [["When", "the", "hurlyburly", "'s", "done", "."],
                ["When", "the", "battle", "'s", "lost", "and", "won", "."]]

    def words_to_feature(words):
        return mod.Feature(bytes_list=mod.BytesList(value=[word.encode("utf-8")
                                                           for word in words]))

    content_features = [words_to_feature(sentence) for sentence in content]
    comments_features = [words_to_feature(comment) for comment in comments]
    return mod.SequenceExample(
        context=context,
        feature_lists=mod.FeatureLists(feature_list={
            "content": mod.FeatureList(feature=content_features),
            "comments": mod.FeatureList(feature=comments_features)}))


def test_sequence_example_written_and_parsed_as_in_the_book():
    sequence_example = _books_sequence_example(tf.train)
    serialized_sequence_example = sequence_example.SerializeToString()
    context_feature_descriptions = {
        "author_id": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "title": tf.io.VarLenFeature(tf.string),
        "pub_date": tf.io.FixedLenFeature([3], tf.int64, default_value=[0, 0, 0]),
    }
    sequence_feature_descriptions = {
        "content": tf.io.VarLenFeature(tf.string),
        "comments": tf.io.VarLenFeature(tf.string),
    }
    parsed_context, parsed_feature_lists = tf.io.parse_single_sequence_example(
        serialized_sequence_example, context_feature_descriptions,
        sequence_feature_descriptions)
    parsed_content = tf.RaggedTensor.from_sparse(parsed_feature_lists["content"])
    assert int(parsed_context["author_id"]) == 123
    np.testing.assert_array_equal(np.asarray(parsed_context["pub_date"]), [1623, 12, 25])
    assert list(parsed_context["title"].values) == [b"A", b"desert", b"place", b"."]
    assert parsed_content.to_list() == [
        [b"When", b"shall", b"we", b"three", b"meet", b"again", b"?"],
        [b"In", b"thunder", b",", b"lightning", b",", b"or", b"in", b"rain", b"?"]]
    comments = parsed_feature_lists["comments"]
    assert list(np.asarray(comments.dense_shape)) == [2, 8]
    assert np.asarray(comments.indices)[-1].tolist() == [1, 7]
    # a fixed-length sequence feature: one row per step
    seq = tf.train.SequenceExample()
    for step in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0]):
        seq.feature_lists.feature_list["xy"].feature.add().float_list.value.extend(step)
    _, lists = tf.io.parse_single_sequence_example(
        seq.SerializeToString(),
        sequence_features={"xy": tf.io.FixedLenSequenceFeature([2], tf.float32),
                           "gone": tf.io.FixedLenSequenceFeature([], tf.int64,
                                                                 allow_missing=True)})
    np.testing.assert_array_equal(np.asarray(lists["xy"]), [[1, 2], [3, 4], [5, 6]])
    assert np.asarray(lists["gone"]).shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="'gone' is required"):
        tf.io.parse_single_sequence_example(
            seq.SerializeToString(),
            sequence_features={"gone": tf.io.FixedLenSequenceFeature([], tf.int64)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="Number of values"):
        tf.io.parse_single_sequence_example(
            seq.SerializeToString(),
            sequence_features={"xy": tf.io.FixedLenSequenceFeature([3], tf.float32)})
    with pytest.raises(TypeError, match="expected a Feature"):
        seq.feature_lists.feature_list["xy"].feature.append(tf.train.Int64List(value=[1]))


def test_sequence_example_bytes_and_text_match_protobuf():
    from google.protobuf import text_format
    ref_mod = _reference_sequence_example_classes()
    ref, got = _books_sequence_example(ref_mod), _books_sequence_example(tf.train)
    assert got.SerializeToString() == ref.SerializeToString(deterministic=True)
    assert text_format.Parse(str(got), ref_mod.SequenceExample()) == ref
    back = tf.train.SequenceExample.FromString(ref.SerializeToString())
    assert back == got
    assert [f.bytes_list.value[0] for f in
            back.feature_lists.feature_list["comments"].feature] == [b"When", b"When"]


# ------------------------------------------------------ ch. 12: queues

def test_fifo_queue_as_in_the_book():
    q = tf.queue.FIFOQueue(3, [tf.int32, tf.string], shapes=[(), ()])
    q.enqueue([10, b"windy"])
    q.enqueue([15, b"sunny"])
    assert int(q.size()) == 2 and q.size().dtype == np.int32
    num, word = q.dequeue()
    assert int(num) == 10 and num.dtype == np.int32 and word.numpy() == b"windy"
    q.enqueue_many([[13, 16], [b"cloudy", b"rainy"]])
    nums, words = q.dequeue_many(3)
    np.testing.assert_array_equal(np.asarray(nums), [15, 13, 16])
    assert list(np.asarray(words)) == [b"sunny", b"cloudy", b"rainy"]
    assert int(q.size()) == 0
    assert q.dtypes == [tf.int32, tf.string] and q.shapes == [[], []]
    with pytest.raises(ValueError, match="component 0 .* has shape \\[\\]"):
        q.enqueue([[1, 2], b"x"])
    with pytest.raises(ValueError, match="2 components, got 3"):
        q.enqueue([1, b"x", 2])
    # one component: the tensor itself; names: dicts
    one = tf.queue.FIFOQueue(5, tf.float32)
    one.enqueue(1.5)
    assert float(one.dequeue()) == 1.5
    with pytest.raises(tf.errors.InvalidArgumentError, match="specified shapes"):
        one.dequeue_many(1)
    named = tf.queue.FIFOQueue(5, [tf.int64, tf.float32], shapes=[[], [2]], names=["id", "x"])
    named.enqueue({"id": 7, "x": [0.5, 1.0]})
    out = named.dequeue()
    assert int(out["id"]) == 7 and out["x"].shape == (2,)


def test_queues_close_and_cross_threads():
    import threading
    q = tf.queue.FIFOQueue(2, [tf.int32], shapes=[()])
    got = []

    def consumer():
        while True:
            try:
                got.append(int(q.dequeue()))
            except tf.errors.OutOfRangeError:
                return

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(10):  # (the queue holds 2: each enqueue waits for the consumer)
        q.enqueue(i)
    q.close()
    t.join(timeout=30)
    assert not t.is_alive() and got == list(range(10))
    assert bool(q.is_closed())
    with pytest.raises(tf.errors.CancelledError):
        q.enqueue(1)
    # a closed queue gives what it has left to dequeue_up_to, not to dequeue_many
    q = tf.queue.FIFOQueue(10, [tf.int32], shapes=[()])
    q.enqueue_many([[1, 2, 3]])
    q.close()
    with pytest.raises(tf.errors.OutOfRangeError, match="requested 4, current size 3"):
        q.dequeue_many(4)
    np.testing.assert_array_equal(np.asarray(q.dequeue_up_to(4)), [1, 2, 3])


def test_padding_shuffle_and_priority_queues():
    q = tf.queue.PaddingFIFOQueue(50, [tf.string, tf.int32], shapes=[(), [None]])
    q.enqueue([b"a", [1, 2]])
    q.enqueue([b"b", [4, 5, 6]])
    q.enqueue([b"c", [7]])
    names, seqs = q.dequeue_many(3)
    assert list(np.asarray(names)) == [b"a", b"b", b"c"]
    np.testing.assert_array_equal(np.asarray(seqs), [[1, 2, 0], [4, 5, 6], [7, 0, 0]])
    q = tf.queue.RandomShuffleQueue(50, min_after_dequeue=3, dtypes=[tf.int32], shapes=[()],
                                    seed=42)
    q.enqueue_many([list(range(20))])
    first = np.asarray(q.dequeue_many(17))
    assert int(q.size()) == 3
    q.close()  # (the last 3 come out only once the queue is closed)
    rest = np.asarray(q.dequeue_many(3))
    assert sorted(np.concatenate([first, rest]).tolist()) == list(range(20))
    assert first.tolist() != list(range(17))
    q = tf.queue.PriorityQueue(50, [tf.string], shapes=[()])
    q.enqueue_many([[3, 1, 2], [b"c", b"a", b"b"]])
    q.enqueue([0, b"z"])
    priorities, values = q.dequeue_many(4)
    np.testing.assert_array_equal(np.asarray(priorities), [0, 1, 2, 3])
    assert priorities.dtype == np.int64
    assert list(np.asarray(values)) == [b"z", b"a", b"b", b"c"]


# ------------------------------------------- whole programs, tiny sizes

def test_ch17_diffusion_model_trains_and_generates():
    """The chapter's DDPM: a time encoding gathered by step, added to every
    pixel (``time[:, tf.newaxis, tf.newaxis, :] + Z``) of a small U-Net
    fed by a tf.data pipeline of dicts, Huber loss, then the reverse
    process."""
    tf.random.set_seed(42)
    T = 20

    def variance_schedule(T, s=0.008, max_beta=0.999):
        t = np.arange(T + 1)
        f = np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
        alpha = np.clip(f[1:] / f[:-1], 1 - max_beta, 1)
        alpha = np.append(1, alpha).astype(np.float32)
        beta = 1 - alpha
        alpha_cumprod = np.cumprod(alpha)
        return alpha, alpha_cumprod, beta

    alpha, alpha_cumprod, beta = variance_schedule(T)

    def prepare_batch(X):
        X = tf.cast(X[..., tf.newaxis], tf.float32) * 2 - 1
        X_shape = tf.shape(X)
        t = tf.random.uniform([X_shape[0]], minval=1, maxval=T + 1, dtype=tf.int32)
        alpha_cm = tf.gather(alpha_cumprod, t)
        alpha_cm = tf.reshape(alpha_cm, [X_shape[0]] + [1] * (len(X_shape) - 1))
        noise = tf.random.normal(X_shape)
        return {"X_noisy": alpha_cm ** 0.5 * X + (1 - alpha_cm) ** 0.5 * noise, "time": t}, noise

    def prepare_dataset(X, batch_size=32, shuffle=False):
        ds = tf.data.Dataset.from_tensor_slices(X)
        if shuffle:
            ds = ds.shuffle(10_000)
        return ds.batch(batch_size).map(prepare_batch).prefetch(1)

    X_train = np.random.default_rng(0).random((16, 28, 28)).astype(np.float32)
    train_set = prepare_dataset(X_train, batch_size=8, shuffle=True)
    (inputs, noise), = train_set.take(1)
    assert inputs["X_noisy"].shape == (8, 28, 28, 1) and inputs["time"].dtype == np.int32

    class TimeEncoding(tf.keras.layers.Layer):
        def __init__(self, T, embed_size, dtype=tf.float32, **kwargs):
            super().__init__(dtype=dtype, **kwargs)
            assert embed_size % 2 == 0, "embed_size must be even"
            p, i = np.meshgrid(np.arange(T + 1), 2 * np.arange(embed_size // 2))
            t_emb = np.empty((T + 1, embed_size))
            t_emb[:, ::2] = np.sin(p / 10_000 ** (i / embed_size)).T
            t_emb[:, 1::2] = np.cos(p / 10_000 ** (i / embed_size)).T
            self.time_encodings = tf.constant(t_emb.astype(self.dtype))

        def call(self, inputs):
            return tf.gather(self.time_encodings, inputs)

    def build_diffusion_model():
        X_noisy = tf.keras.layers.Input(shape=[28, 28, 1], name="X_noisy")
        time_input = tf.keras.layers.Input(shape=[], dtype=tf.int32, name="time")
        time_enc = TimeEncoding(T, 16)(time_input)
        dim = 4
        Z = tf.keras.layers.ZeroPadding2D((3, 3))(X_noisy)
        Z = tf.keras.layers.Conv2D(dim, 3)(Z)
        Z = tf.keras.layers.BatchNormalization()(Z)
        Z = tf.keras.layers.Activation("relu")(Z)
        time = tf.keras.layers.Dense(dim)(time_enc)
        Z = time[:, tf.newaxis, tf.newaxis, :] + Z
        skip = Z
        cross_skips = []
        for dim in (4, 8):
            Z = tf.keras.layers.Activation("relu")(Z)
            Z = tf.keras.layers.SeparableConv2D(dim, 3, padding="same")(Z)
            Z = tf.keras.layers.BatchNormalization()(Z)
            cross_skips.append(Z)
            Z = tf.keras.layers.MaxPooling2D(3, strides=2, padding="same")(Z)
            skip_link = tf.keras.layers.Conv2D(dim, 1, strides=2, padding="same")(skip)
            Z = tf.keras.layers.add([Z, skip_link])
            time = tf.keras.layers.Dense(dim)(time_enc)
            Z = time[:, tf.newaxis, tf.newaxis, :] + Z
            skip = Z
        for dim in (8, 4):
            Z = tf.keras.layers.Activation("relu")(Z)
            Z = tf.keras.layers.Conv2DTranspose(dim, 3, padding="same")(Z)
            Z = tf.keras.layers.BatchNormalization()(Z)
            Z = tf.keras.layers.UpSampling2D(2)(Z)
            skip_link = tf.keras.layers.UpSampling2D(2)(skip)
            skip_link = tf.keras.layers.Conv2D(dim, 1, padding="same")(skip_link)
            Z = tf.keras.layers.add([Z, skip_link])
            time = tf.keras.layers.Dense(dim)(time_enc)
            Z = time[:, tf.newaxis, tf.newaxis, :] + Z
            Z = tf.keras.layers.concatenate([Z, cross_skips.pop()], axis=-1)
            skip = Z
        outputs = tf.keras.layers.Conv2D(1, 3, padding="same")(Z)[:, 2:-2, 2:-2]
        return tf.keras.Model(inputs=[X_noisy, time_input], outputs=[outputs])

    model = build_diffusion_model()
    assert model.output_shape == (None, 28, 28, 1)
    model.compile(loss=tf.keras.losses.Huber(), optimizer="nadam")
    history = model.fit(train_set, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))

    def generate(model, batch_size=32):
        X = tf.random.normal([batch_size, 28, 28, 1])
        for t in range(T - 1, 0, -1):
            noise = (tf.random.normal if t > 1 else tf.zeros)(tf.shape(X))
            X_noise = model({"X_noisy": X, "time": tf.constant([t] * batch_size)})
            X = (1 / alpha[t] ** 0.5 * (X - beta[t] / (1 - alpha_cumprod[t]) ** 0.5 * X_noise)
                 + (1 - alpha[t]) ** 0.5 * noise)
        return X

    X_gen = generate(model, batch_size=2)
    assert X_gen.shape == (2, 28, 28, 1) and np.isfinite(np.asarray(X_gen)).all()


def test_ch18_double_dueling_dqn_training_steps():
    """The chapter's dueling DQN (a graph with ``raw_advantages -
    tf.reduce_max(...)``), its target clone and double-DQN steps from a
    replay buffer; the step's loss equals the same loss in NumPy."""
    from collections import deque
    tf.random.set_seed(42)
    n_outputs = 2
    input_states = tf.keras.layers.Input(shape=[4])
    hidden1 = tf.keras.layers.Dense(32, activation="elu")(input_states)
    hidden2 = tf.keras.layers.Dense(32, activation="elu")(hidden1)
    state_values = tf.keras.layers.Dense(1)(hidden2)
    raw_advantages = tf.keras.layers.Dense(n_outputs)(hidden2)
    advantages = raw_advantages - tf.reduce_max(raw_advantages, axis=1, keepdims=True)
    Q_values = state_values + advantages
    model = tf.keras.Model(inputs=[input_states], outputs=[Q_values])
    target = tf.keras.models.clone_model(model)
    target.set_weights(model.get_weights())

    rng = np.random.default_rng(0)
    replay_buffer = deque(maxlen=2000)
    for i in range(64):
        replay_buffer.append((rng.normal(size=4), int(rng.integers(2)), 1.0,
                              rng.normal(size=4), i % 10 == 9, False))

    def sample_experiences(batch_size):
        indices = rng.integers(len(replay_buffer), size=batch_size)
        batch = [replay_buffer[index] for index in indices]
        return [np.array([experience[field_index] for experience in batch])
                for field_index in range(6)]

    batch_size, discount_factor = 32, 0.95
    optimizer = tf.keras.optimizers.Nadam(learning_rate=5e-3)
    loss_fn = tf.keras.losses.mean_squared_error

    def training_step(batch_size):
        experiences = sample_experiences(batch_size)
        states, actions, rewards, next_states, dones, truncateds = experiences
        next_Q_values = model.predict(next_states, verbose=0)
        best_next_actions = next_Q_values.argmax(axis=1)
        next_mask = tf.one_hot(best_next_actions, n_outputs).numpy()
        max_next_Q_values = (target.predict(next_states, verbose=0) * next_mask).sum(axis=1)
        runs = 1.0 - (dones | truncateds)
        target_Q_values = rewards + runs * discount_factor * max_next_Q_values
        target_Q_values = target_Q_values.reshape(-1, 1)
        mask = tf.one_hot(actions, n_outputs)
        with tf.GradientTape() as tape:
            all_Q_values = model(states)
            Q_values = tf.reduce_sum(all_Q_values * mask, axis=1, keepdims=True)
            loss = tf.reduce_mean(loss_fn(target_Q_values, Q_values))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        q = np.asarray(all_Q_values)[np.arange(batch_size), actions]
        np.testing.assert_allclose(float(loss), np.mean((target_Q_values[:, 0] - q) ** 2),
                                   rtol=1e-5)
        return float(loss)

    losses = [training_step(batch_size) for _ in range(8)]
    assert np.isfinite(losses).all()
    # (the target network did not move; the online one did)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(),
                                                        target.get_weights()))
    # dueling: the best action's Q-value is the state's value
    states = rng.normal(size=(5, 4))
    q = model.predict(states, verbose=0)
    v = tf.keras.Model(input_states, state_values).predict(states, verbose=0)
    np.testing.assert_allclose(q.max(axis=1), v[:, 0], rtol=1e-5, atol=1e-6)


def test_ch11_learning_rate_finder_and_one_cycle_callbacks():
    """The chapter's callbacks that never call Callback.__init__ and set
    ``self.model.optimizer.learning_rate`` each batch."""
    import math
    K = tf.keras.backend

    class ExponentialLearningRate(tf.keras.callbacks.Callback):
        def __init__(self, factor):
            self.factor = factor
            self.rates = []
            self.losses = []

        def on_epoch_begin(self, epoch, logs=None):
            self.sum_of_epoch_losses = 0

        def on_batch_end(self, batch, logs=None):
            mean_epoch_loss = logs["loss"]
            new_sum_of_epoch_losses = mean_epoch_loss * (batch + 1)
            batch_loss = new_sum_of_epoch_losses - self.sum_of_epoch_losses
            self.sum_of_epoch_losses = new_sum_of_epoch_losses
            lr = self.model.optimizer.learning_rate.numpy()
            self.rates.append(lr)
            self.losses.append(batch_loss)
            self.model.optimizer.learning_rate = lr * self.factor

    def find_learning_rate(model, X, y, epochs=1, batch_size=32, min_rate=1e-4, max_rate=1):
        init_weights = model.get_weights()
        iterations = math.ceil(len(X) / batch_size) * epochs
        factor = (max_rate / min_rate) ** (1 / iterations)
        init_lr = K.get_value(model.optimizer.learning_rate)
        model.optimizer.learning_rate = min_rate
        exp_lr = ExponentialLearningRate(factor)
        model.fit(X, y, epochs=epochs, batch_size=batch_size, callbacks=[exp_lr], verbose=0)
        model.optimizer.learning_rate = init_lr
        model.set_weights(init_weights)
        return exp_lr.rates, exp_lr.losses

    rng = np.random.default_rng(0)
    X, y = rng.random((64, 28, 28)).astype(np.float32), rng.integers(0, 10, 64)
    tf.keras.backend.clear_session()
    tf.random.set_seed(42)
    model = tf.keras.Sequential([
        tf.keras.layers.InputLayer(input_shape=[28, 28]),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(30, activation="selu", kernel_initializer="lecun_normal"),
        tf.keras.layers.AlphaDropout(rate=0.1),
        tf.keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=tf.keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
    before = model.get_weights()
    rates, losses = find_learning_rate(model, X, y, epochs=1, batch_size=16)
    np.testing.assert_allclose(rates, [1e-4, 1e-3, 1e-2, 1e-1], rtol=1e-5)
    assert len(losses) == 4 and np.isfinite(losses).all()
    assert float(K.get_value(model.optimizer.learning_rate)) == pytest.approx(0.001)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))

    class OneCycleScheduler(tf.keras.callbacks.Callback):
        def __init__(self, iterations, max_lr=1e-3, start_lr=None, last_iterations=None,
                     last_lr=None):
            self.iterations = iterations
            self.max_lr = max_lr
            self.start_lr = start_lr or max_lr / 10
            self.last_iterations = last_iterations or iterations // 10 + 1
            self.half_iteration = (iterations - self.last_iterations) // 2
            self.last_lr = last_lr or self.start_lr / 1000
            self.iteration = 0
            self.seen = []

        def _interpolate(self, iter1, iter2, lr1, lr2):
            return (lr2 - lr1) * (self.iteration - iter1) / (iter2 - iter1) + lr1

        def on_batch_begin(self, batch, logs):
            if self.iteration < self.half_iteration:
                lr = self._interpolate(0, self.half_iteration, self.start_lr, self.max_lr)
            elif self.iteration < 2 * self.half_iteration:
                lr = self._interpolate(self.half_iteration, 2 * self.half_iteration,
                                       self.max_lr, self.start_lr)
            else:
                lr = self._interpolate(2 * self.half_iteration, self.iterations,
                                       self.start_lr, self.last_lr)
            self.iteration += 1
            self.model.optimizer.learning_rate = lr
            self.seen.append(lr)

    onecycle = OneCycleScheduler(math.ceil(len(X) / 16) * 2, max_lr=0.1)
    model.fit(X, y, epochs=2, batch_size=16, callbacks=[onecycle], verbose=0)
    assert len(onecycle.seen) == 8 and max(onecycle.seen) == pytest.approx(0.1)
    assert float(model.optimizer.learning_rate) == pytest.approx(onecycle.seen[-1])


# --------------- Advanced Deep Learning with Keras (Atienza), ch. 11: SSD losses

def test_a_loss_masking_its_targets_in_place_leaves_the_data_alone():
    """The SSD chapter's offset losses mask slices of ``y_true`` and
    ``y_pred`` in place (``offset *= mask``): TensorFlow's tensors make new
    ones, so the ground truth given to fit and evaluate never changes and
    evaluating twice gives the same loss."""
    from pynn.keras import backend as K
    from pynn.keras.losses import Huber

    def mask_offset(y_true, y_pred):
        offset = y_true[..., 0:4]
        mask = y_true[..., 4:8]
        pred = y_pred[..., 0:4]
        offset *= mask
        pred *= mask
        return offset, pred

    def l1_loss(y_true, y_pred):
        offset, pred = mask_offset(y_true, y_pred)
        return K.mean(K.abs(pred - offset), axis=-1)

    def smooth_l1_loss(y_true, y_pred):
        offset, pred = mask_offset(y_true, y_pred)
        return Huber()(offset, pred)

    def masked_mae(y_true, y_pred):  # (the same, as a metric)
        offset, pred = mask_offset(y_true, y_pred)
        return K.mean(K.abs(pred - offset), axis=-1)

    rng = np.random.default_rng(0)
    X = rng.random((8, 5)).astype(np.float32)
    Y = np.concatenate([rng.random((8, 3, 4)), rng.random((8, 3, 4)) > 0.5],
                       axis=-1).astype(np.float32)
    Y0 = Y.copy()
    inputs = tf.keras.Input((5,))
    outputs = tf.keras.layers.Reshape((3, 8))(tf.keras.layers.Dense(24)(inputs))
    model = tf.keras.Model(inputs, outputs)
    for loss in (l1_loss, smooth_l1_loss):
        model.compile(loss=loss, optimizer="sgd", metrics=[masked_mae])
        model.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
        first = model.evaluate(X, Y, verbose=0)
        assert model.evaluate(X, Y, verbose=0) == first
        np.testing.assert_array_equal(Y, Y0)
        p = model.predict(X, verbose=0)
        mask = Y0[..., 4:8]
        mae = np.mean(np.abs(p[..., :4] * mask - Y0[..., :4] * mask))
        assert first[1] == pytest.approx(mae, rel=1e-5)
        if loss is l1_loss:
            assert first[0] == pytest.approx(mae, rel=1e-5)
    # and on tensors in eager code, under a tape too
    y_true, y_pred = tf.constant(Y0), tf.Variable(rng.random((8, 3, 8)).astype(np.float32))
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(l1_loss(y_true, y_pred))
    grad = np.asarray(tape.gradient(value, y_pred))
    np.testing.assert_array_equal(np.asarray(y_true), Y0)
    assert (grad[..., 4:] == 0).all() and (grad[..., :4][mask == 0] == 0).all()


def test_augmented_assignment_makes_a_new_tensor_as_tensorflow():
    a = np.array([1.0, 2.0], np.float32)
    t = tf.constant(a)
    u = t
    u += 1
    t *= 2
    np.testing.assert_array_equal(a, [1, 2])
    np.testing.assert_array_equal(np.asarray(u), [2, 3])
    np.testing.assert_array_equal(np.asarray(t), [2, 4])
    assert isinstance(t, tf.Tensor) and isinstance(u, tf.Tensor)
    x = tf.ones((2, 3))
    row = x[0]
    row -= 1
    np.testing.assert_array_equal(np.asarray(x), np.ones((2, 3)))
    m = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    n = m
    n @= m
    np.testing.assert_array_equal(np.asarray(n), [[7, 10], [15, 22]])
    np.testing.assert_array_equal(np.asarray(m), [[1, 2], [3, 4]])
    i = tf.constant([6, 7])
    i //= 2
    i %= 2
    i <<= 1
    np.testing.assert_array_equal(np.asarray(i), [2, 2])


# ---------------- Deep Learning with TensorFlow 2 and Keras (Gulli), ch. 9

def _kept_losses_memory(steps, persistent=False):
    """Bytes still allocated after a custom loop that keeps each step's
    loss (``model.loss.append(epoch_loss)``), as tracemalloc counts them."""
    import gc
    import tracemalloc
    model = tf.keras.Sequential([tf.keras.layers.Dense(512, activation="relu"),
                                 tf.keras.layers.Dense(1)])
    x = np.random.default_rng(0).random((128, 512)).astype(np.float32)
    opt = tf.keras.optimizers.SGD(1e-3)
    kept = []

    def step():
        with tf.GradientTape(persistent=persistent) as tape:
            loss = tf.reduce_mean(tf.square(model(x)))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    kept.append(step())  # (builds the model and the optimizer's slots)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            kept.append(step())
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(np.isfinite(float(v)) for v in kept)
    return grown


@pytest.mark.parametrize("persistent", [False, True])
def test_losses_kept_from_a_custom_loop_do_not_hold_the_steps_activations(persistent):
    """Gulli's autoencoder loop keeps every epoch's loss; a loss kept from
    a GradientTape's block (a non-persistent tape after its gradient, a
    persistent one once deleted) holds its value, not the step's
    activations (each step here computes 0.25 MB of them)."""
    assert _kept_losses_memory(12, persistent) < 1_000_000


def test_gullis_subclassed_autoencoder_loop():
    """``self.loss = []`` in a Model subclass, ``tf.nn.relu`` as the
    activation, and ``epoch_loss += loss_values`` over a tf.data loop."""
    import pynn.keras as K

    class Encoder(K.layers.Layer):
        def __init__(self, hidden_dim):
            super(Encoder, self).__init__()
            self.hidden_layer = K.layers.Dense(units=hidden_dim, activation=tf.nn.relu)

        def call(self, input_features):
            return self.hidden_layer(input_features)

    class Decoder(K.layers.Layer):
        def __init__(self, hidden_dim, original_dim):
            super(Decoder, self).__init__()
            self.output_layer = K.layers.Dense(units=original_dim, activation=tf.nn.relu)

        def call(self, encoded):
            return self.output_layer(encoded)

    class Autoencoder(K.Model):
        def __init__(self, hidden_dim, original_dim):
            super(Autoencoder, self).__init__()
            self.loss = []
            self.encoder = Encoder(hidden_dim=hidden_dim)
            self.decoder = Decoder(hidden_dim=hidden_dim, original_dim=original_dim)

        def call(self, input_features):
            encoded = self.encoder(input_features)
            return self.decoder(encoded)

    tf.random.set_seed(42)
    x_train = np.random.default_rng(0).random((64, 784)).astype(np.float32)
    training_dataset = tf.data.Dataset.from_tensor_slices(x_train).batch(16)
    autoencoder = Autoencoder(hidden_dim=32, original_dim=784)
    opt = tf.keras.optimizers.Adam(learning_rate=1e-2)

    def loss(preds, real):
        return tf.reduce_mean(tf.square(tf.subtract(preds, real)))

    def train(loss, model, opt, original):
        with tf.GradientTape() as tape:
            preds = model(original)
            reconstruction_error = loss(preds, original)
        gradients = tape.gradient(reconstruction_error, model.trainable_variables)
        gradient_variables = zip(gradients, model.trainable_variables)
        opt.apply_gradients(gradient_variables)
        return reconstruction_error

    def train_loop(model, opt, loss, dataset, epochs=20):
        for epoch in range(epochs):
            epoch_loss = 0
            for step, batch_features in enumerate(dataset):
                loss_values = train(loss, model, opt, batch_features)
                epoch_loss += loss_values
            model.loss.append(epoch_loss)

    train_loop(autoencoder, opt, loss, training_dataset, epochs=4)
    losses = [float(v.numpy()) for v in autoencoder.loss]
    assert len(losses) == 4 and losses[-1] < losses[0]
    recon = autoencoder(x_train[:2])
    assert recon.shape == (2, 784) and (np.asarray(recon) >= 0).all()


def test_a_variable_prints_as_tensorflows():
    """``counter = tf.Variable(0)`` then ``counter`` printed (ch. 12): the
    value as TensorFlow shows it, no class of pynn's own in it."""
    counter = tf.Variable(0)
    counter.assign_add(2)
    assert repr(counter).endswith("shape=() dtype=int32, numpy=2>")
    v = tf.Variable([[1., 2., 3.], [4., 5., 6.]])
    assert repr(v).endswith("shape=(2, 3) dtype=float32, numpy=\n"
                            "array([[1., 2., 3.],\n       [4., 5., 6.]], dtype=float32)>")
    assert "_ValueArray" not in repr(tf.Variable(5.0)) and "numpy=5.0>" in repr(tf.Variable(5.0))


# ----------------------------- ch. 13, exercise 10: IMDB reviews, mean embedding

def test_count_nonzero_as_tensorflow():
    x = np.array([[[1., 2., 3.], [4., 5., 0.], [0., 0., 0.]],
                  [[6., 0., 0.], [0., 0., 0.], [0., 0., 0.]]], np.float32)
    out = tf.math.count_nonzero(x)
    assert int(out) == 6 and out.dtype == np.int64
    np.testing.assert_array_equal(np.asarray(tf.math.count_nonzero(x, axis=-1)),
                                  np.count_nonzero(x, axis=-1))
    got = tf.math.count_nonzero(x, axis=[0, 2], keepdims=True, dtype=tf.float32)
    assert got.shape == (1, 3, 1) and got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got)[0, :, 0], [4, 2, 0])
    assert tf.math.count_nonzero(x, keepdims=True).shape == (1, 1, 1)
    assert int(tf.math.count_nonzero(tf.constant([b"a", b"", b"b"]))) == 2


def test_imdb_mean_embedding_model_of_the_exercise(tmp_path):
    rng = np.random.default_rng(0)
    words = "good bad movie film great awful plot actor boring fun".split()
    for label in ("pos", "neg"):
        (tmp_path / "train" / label).mkdir(parents=True)
        for k in range(6):
            (tmp_path / "train" / label / f"{k}_{label}.txt").write_text(
                " ".join(rng.choice(words, 12)))

    def review_paths(dirpath):
        return [str(path) for path in dirpath.glob("*.txt")]

    train_pos = review_paths(tmp_path / "train" / "pos")
    train_neg = review_paths(tmp_path / "train" / "neg")

    def imdb_dataset(filepaths_positive, filepaths_negative, n_read_threads=5):
        dataset_neg = tf.data.TextLineDataset(filepaths_negative,
                                              num_parallel_reads=n_read_threads)
        dataset_neg = dataset_neg.map(lambda review: (review, 0))
        dataset_pos = tf.data.TextLineDataset(filepaths_positive,
                                              num_parallel_reads=n_read_threads)
        dataset_pos = dataset_pos.map(lambda review: (review, 1))
        return tf.data.Dataset.concatenate(dataset_pos, dataset_neg)

    labels = [int(y) for _, y in imdb_dataset(train_pos, train_neg)]
    assert labels == [1] * 6 + [0] * 6
    train_set = imdb_dataset(train_pos, train_neg).shuffle(25000, seed=42).batch(4).prefetch(1)
    sample_reviews = train_set.map(lambda review, label: review)

    def compute_mean_embedding(inputs):
        not_pad = tf.math.count_nonzero(inputs, axis=-1)
        n_words = tf.math.count_nonzero(not_pad, axis=-1, keepdims=True)
        sqrt_n_words = tf.math.sqrt(tf.cast(n_words, tf.float32))
        return tf.reduce_sum(inputs, axis=1) / sqrt_n_words

    another_example = tf.constant([[[1., 2., 3.], [4., 5., 0.], [0., 0., 0.]],
                                   [[6., 0., 0.], [0., 0., 0.], [0., 0., 0.]]])
    # the book's printed result
    np.testing.assert_allclose(np.asarray(compute_mean_embedding(another_example)),
                               [[3.535534, 4.9497476, 2.1213205], [6., 0., 0.]], rtol=1e-6)
    max_tokens, embedding_size = 20, 8
    text_vectorization = tf.keras.layers.TextVectorization(max_tokens=max_tokens,
                                                           output_mode="int")
    text_vectorization.adapt(sample_reviews)
    tf.random.set_seed(42)
    model = tf.keras.Sequential([
        text_vectorization,
        tf.keras.layers.Embedding(input_dim=max_tokens, output_dim=embedding_size,
                                  mask_zero=True),
        tf.keras.layers.Lambda(compute_mean_embedding),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="nadam", metrics=["accuracy"])
    history = model.fit(train_set, epochs=2, validation_data=train_set, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    proba = model.predict(tf.constant(["good fun movie", "boring awful"]), verbose=0)
    assert proba.shape == (2, 1) and ((proba > 0) & (proba < 1)).all()


def test_tensordot_ensure_shape_and_small_math_functions():
    """``tf.tensordot(inputs, W, axes=1)`` (attention layers of the TF 2
    books), ``tf.ensure_shape`` in a tf.data map, and tf.math's softsign,
    logical_xor, xlogy and scalar_mul, against NumPy."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 4)).astype(np.float32)
    w = rng.random((4, 5)).astype(np.float32) + 0.1
    np.testing.assert_allclose(np.asarray(tf.tensordot(x, w, axes=1)),
                               np.tensordot(x, w, axes=1), rtol=1e-5)
    v = tf.Variable(w)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.tensordot(x, v, axes=[[2], [0]]) ** 2) + \
            tf.reduce_sum(tf.math.xlogy(v, v))
    ref = 2 * np.einsum("abk,abn->kn", x, np.tensordot(x, w, 1)) + np.log(w) + 1
    np.testing.assert_allclose(np.asarray(tape.gradient(y, v)), ref, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(tf.math.xlogy([0., 2.], [0., 3.])),
                               [0., 2 * np.log(3.)], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(tf.math.logical_xor([True, False, False],
                                                                 [True, True, False])),
                                  [False, True, False])
    np.testing.assert_allclose(np.asarray(tf.math.softsign([1., -3.])), [0.5, -0.75])
    np.testing.assert_allclose(np.asarray(tf.scalar_mul(2., tf.constant([1., 2.]))), [2., 4.])
    with pytest.raises(ValueError, match="scalar_mul"):
        tf.scalar_mul([1., 2.], tf.constant([1., 2.]))
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 5, 5, 3), np.float32))
    ds = ds.map(lambda image: tf.ensure_shape(image, [5, 5, 3])).batch(2)
    assert [b.shape for b in ds] == [(2, 5, 5, 3)] * 2
    assert tf.ensure_shape(tf.zeros((2, 3)), [None, 3]).shape == (2, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[2, 3\] is not compatible"):
        tf.ensure_shape(tf.zeros((2, 3)), [None, 4])
    inputs = tf.keras.Input((3,))
    assert tf.ensure_shape(inputs, [None, 3]) is inputs


# ------------------------------------------------ ch. 19: strategies on one machine

def test_central_storage_strategy_trains_as_the_chapter_shows():
    strategy = tf.distribute.experimental.CentralStorageStrategy()
    with strategy.scope():
        model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=[28, 28]),
                                     tf.keras.layers.Dense(10, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd",
                      metrics=["accuracy"])
    assert strategy.num_replicas_in_sync == 1
    rng = np.random.default_rng(0)
    history = model.fit(rng.random((32, 28, 28)), rng.integers(0, 10, 32), batch_size=8,
                        epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match="CentralStorageStrategy: pynn runs one replica"):
        tf.distribute.experimental.CentralStorageStrategy(compute_devices=["/gpu:0", "/gpu:1"])


def test_concrete_functions_are_cached_by_signature():
    """Ch. 12: ``concrete_function is tf_cube.get_concrete_function(
    tf.constant(2.0))`` is True."""
    @tf.function
    def tf_cube(x):
        return x ** 3

    concrete_function = tf_cube.get_concrete_function(tf.constant(2.0))
    assert concrete_function is tf_cube.get_concrete_function(tf.constant(2.0))
    assert concrete_function is not tf_cube.get_concrete_function(tf.constant([2.0]))
    assert float(concrete_function(tf.constant(3.0))) == 27.0


def test_serialize_sparse_as_the_chapter_prints_it():
    """``tf.io.serialize_sparse(parsed_example["emails"])``: the indices,
    values and dense shape as three TensorProtos, each with its values in
    tensor_content (strings as their varint lengths, then their bytes)."""
    sp = tf.SparseTensor(indices=[[0], [1]], values=[b"a@b.com", b"c@d.com"], dense_shape=[2])
    serialized = tf.io.serialize_sparse(sp)
    assert serialized.shape == (3,)
    assert list(serialized.numpy()) == [
        b'\x08\t\x12\x08\x12\x02\x08\x02\x12\x02\x08\x01"\x10'
        b'\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00',
        b'\x08\x07\x12\x04\x12\x02\x08\x02"\x10\x07\x07a@b.comc@d.com',
        b'\x08\t\x12\x04\x12\x02\x08\x01"\x08\x02\x00\x00\x00\x00\x00\x00\x00']
    np.testing.assert_array_equal(np.asarray(tf.io.parse_tensor(serialized[0], tf.int64)),
                                  [[0], [1]])
    assert list(np.asarray(tf.io.parse_tensor(serialized[1], tf.string))) == \
        [b"a@b.com", b"c@d.com"]
    np.testing.assert_array_equal(np.asarray(tf.io.parse_tensor(serialized[2], tf.int64)), [2])
    tensor_pb2 = pytest.importorskip("tensorboard.compat.proto.tensor_pb2")
    p = tensor_pb2.TensorProto.FromString(serialized.numpy()[1])
    assert p.dtype == 7 and [d.size for d in p.tensor_shape.dim] == [2]
    assert p.tensor_content == b"\x07\x07a@b.comc@d.com"
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not hold 3 strings"):
        bad = tensor_pb2.TensorProto(dtype=7, tensor_content=b"\x07\x07a@b.comc@d.com")
        bad.tensor_shape.dim.add(size=3)
        tf.io.parse_tensor(bad.SerializeToString(), tf.string)
