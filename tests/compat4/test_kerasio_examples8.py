"""keras.io's example programs, eighth sweep (vision, recipes, generative,
structured data), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- zero_dce.py: a subclassed model passes tf.keras's save_weights and
# load_weights arguments (save_format, options, by_name) to its inner model

def small_net():
    inp = pynn.Input((None, None, 3))
    return pynn.Model(inp, pynn.layers.Conv2D(4, 3, padding="same", activation="tanh")(inp))


class Wrapper(pynn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = small_net()

    def call(self, x):
        return self.inner(x)

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        self.inner.save_weights(filepath, overwrite=overwrite, save_format=save_format,
                                options=options)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, options=None):
        self.inner.load_weights(filepath=filepath, by_name=by_name,
                                skip_mismatch=skip_mismatch, options=options)


@pytest.mark.parametrize("name, save_format", [("w.h5", None), ("w.h5", "h5"),
                                               ("w", "h5"), ("w", "tf"), ("w", None)])
def test_save_weights_takes_tf_keras_save_format_and_options(tmp_path, name, save_format):
    x = rand(2, 6, 5, 3)
    saved = Wrapper()
    want = np.asarray(saved(x))
    path = str(tmp_path / name)
    saved.save_weights(path, save_format=save_format)
    if save_format == "h5":  # HDF5 whatever the name, as tf.keras writes it
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89HDF\r\n\x1a\n"
    loaded = Wrapper()
    loaded(x)
    loaded.load_weights(path)
    np.testing.assert_allclose(np.asarray(loaded(x)), want, rtol=1e-6)


def test_save_weights_refuses_a_format_its_name_contradicts(tmp_path):
    model = small_net()
    with pytest.raises(ValueError, match="checkpoint"):
        model.save_weights(str(tmp_path / "w.h5"), save_format="tf")
    with pytest.raises(ValueError, match="unknown save_format"):
        model.save_weights(str(tmp_path / "w.h5"), save_format="onnx")
    with pytest.raises(ValueError, match="pynn file"):
        model.save_weights(str(tmp_path / "w.weights.pynn"), save_format="h5")


# ---- pointnet.py: tf.tensordot in an activity regularizer of a T-net

def tnet_model(lib, tensordot, eye):
    class OrthogonalRegularizer(lib.regularizers.Regularizer):
        def __init__(self, num_features, l2reg=0.001):
            self.num_features = num_features
            self.l2reg = l2reg
            self.eye = eye(num_features)

        def __call__(self, x):
            x = lib.ops.reshape(x, (-1, self.num_features, self.num_features))
            xxt = tensordot(x, x, axes=(2, 2))
            xxt = lib.ops.reshape(xxt, (-1, self.num_features, self.num_features))
            return lib.ops.sum(self.l2reg * lib.ops.square(xxt - self.eye))

    inp = lib.Input((5, 3))
    x = lib.layers.GlobalMaxPooling1D()(inp)
    x = lib.layers.Dense(9, activity_regularizer=OrthogonalRegularizer(3))(x)
    feat_t = lib.layers.Reshape((3, 3))(x)
    return lib.Model(inp, lib.layers.Dot(axes=(2, 1))([inp, feat_t]))


def test_tf_tensordot_in_an_activity_regularizer_as_keras(keras):
    tf = pynn
    ours = tnet_model(pynn, tf.tensordot, tf.eye)
    ref = tnet_model(keras, keras.ops.tensordot, keras.ops.eye)
    ref.set_weights(ours.get_weights())
    x = rand(4, 5, 3)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(ref(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(ours.losses[0]), float(ref.losses[0]), rtol=1e-5)
    # the same sums as tf.linalg.tensordot, with TensorFlow's name argument
    a, b = rand(2, 3, 4), rand(4, 3, seed=1)
    np.testing.assert_allclose(np.asarray(tf.tensordot(a, b, axes=1, name="td")),
                               np.tensordot(a, b, axes=1), rtol=1e-5)
    # and the regularizer trains the T-net's layer (its gradient reaches it)
    ours.compile("adam", "mse")
    h = ours.fit(x, rand(4, 5, 3, seed=2), epochs=4, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


# ---- captcha_ocr.py (Keras 3 edition): its own ctc_batch_cost through
# tf.compat.v1.scan, boolean_mask, gather_nd, a SparseTensor cast by
# ops.cast and tf.compat.v1.nn.ctc_loss, in a layer of a functional model

def ctc_label_dense_to_sparse(labels, label_lengths):
    tf, ops = pynn, pynn.ops
    label_shape = ops.shape(labels)
    num_batches_tns = ops.stack([label_shape[0]])
    max_num_labels_tns = ops.stack([label_shape[1]])

    def range_less_than(old_input, current_input):
        return ops.expand_dims(ops.arange(ops.shape(old_input)[1]), 0) < tf.fill(
            max_num_labels_tns, current_input)

    init = ops.cast(tf.fill([1, label_shape[1]], 0), dtype="bool")
    dense_mask = tf.compat.v1.scan(range_less_than, label_lengths, initializer=init,
                                   parallel_iterations=1)
    dense_mask = dense_mask[:, 0, :]
    label_array = ops.reshape(ops.tile(ops.arange(0, label_shape[1]), num_batches_tns),
                              label_shape)
    label_ind = tf.compat.v1.boolean_mask(label_array, dense_mask)
    batch_array = ops.transpose(ops.reshape(
        ops.tile(ops.arange(0, label_shape[0]), max_num_labels_tns),
        tf.reverse(label_shape, [0])))
    batch_ind = tf.compat.v1.boolean_mask(batch_array, dense_mask)
    indices = ops.transpose(ops.reshape(ops.concatenate([batch_ind, label_ind], axis=0), [2, -1]))
    vals_sparse = tf.compat.v1.gather_nd(labels, indices)
    return tf.SparseTensor(ops.cast(indices, dtype="int64"), vals_sparse,
                           ops.cast(label_shape, dtype="int64"))


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    tf, ops = pynn, pynn.ops
    label_length = ops.cast(ops.squeeze(label_length, axis=-1), dtype="int32")
    input_length = ops.cast(ops.squeeze(input_length, axis=-1), dtype="int32")
    sparse_labels = ops.cast(ctc_label_dense_to_sparse(y_true, label_length), dtype="int32")
    y_pred = ops.log(ops.transpose(y_pred, axes=[1, 0, 2]) + pynn.backend.epsilon())
    return ops.expand_dims(tf.compat.v1.nn.ctc_loss(inputs=y_pred, labels=sparse_labels,
                                                    sequence_length=input_length), 1)


def test_captcha_ocr_ctc_batch_cost_of_tf1_functions():
    labels = np.array([[1, 2, 3, 1], [2, 2, 4, 0], [3, 0, 0, 0]], "float32")
    sparse = ctc_label_dense_to_sparse(labels, np.array([4, 3, 1], "int32"))
    np.testing.assert_array_equal(np.asarray(sparse.indices),
                                  [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [2, 0]])
    np.testing.assert_array_equal(np.asarray(sparse.values), [1, 2, 3, 1, 2, 2, 4, 3])
    cast = pynn.ops.cast(sparse, "int32")
    assert isinstance(cast, pynn.SparseTensor) and np.asarray(cast.values).dtype == np.int32
    probs = np.asarray(pynn.nn.softmax(rand(3, 9, 6)))
    lengths = np.array([[4], [3], [1]])
    ours = np.asarray(ctc_batch_cost(labels, probs, np.full((3, 1), 9), lengths))
    want = np.asarray(pynn.backend.ctc_batch_cost(labels, probs, np.full((3, 1), 9), lengths))
    assert ours.shape == (3, 1)
    np.testing.assert_allclose(ours, want, rtol=1e-5)


def test_captcha_ocr_ctc_layer_trains_in_a_functional_model():
    layers, ops = pynn.layers, pynn.ops

    class CTCLayer(layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = ctc_batch_cost

        def call(self, y_true, y_pred):
            batch_len = ops.cast(ops.shape(y_true)[0], dtype="int64")
            input_length = ops.cast(ops.shape(y_pred)[1], dtype="int64")
            label_length = ops.cast(ops.shape(y_true)[1], dtype="int64")
            input_length = input_length * ops.ones(shape=(batch_len, 1), dtype="int64")
            label_length = label_length * ops.ones(shape=(batch_len, 1), dtype="int64")
            self.add_loss(self.loss_fn(y_true, y_pred, input_length, label_length))
            return y_pred

    pynn.utils.set_random_seed(0)
    image = layers.Input(shape=(16, 4, 1), name="image")
    labels = layers.Input(name="label", shape=(None,), dtype="float32")
    x = layers.Reshape((16, 16))(layers.Conv2D(4, 3, padding="same")(image))
    x = layers.Dense(5, activation="softmax", name="dense2")(x)
    model = pynn.Model([image, labels], CTCLayer(name="ctc_loss")(labels, x))
    model.compile(optimizer=pynn.optimizers.Adam(0.05))
    rng = np.random.default_rng(1)
    data = {"image": rand(8, 16, 4, 1), "label": rng.integers(0, 4, (8, 3)).astype("float32")}
    h = model.fit(data, epochs=6, batch_size=4, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    assert h.history["loss"][-1] < h.history["loss"][0]
    prediction_model = pynn.Model(model.input[0], model.get_layer(name="dense2").output)
    assert prediction_model.predict(data["image"], verbose=0).shape == (8, 16, 5)


def brute_force_ctc(logits, label, blank):
    """-log of the summed probability of every alignment of ``label``."""
    import itertools
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    total = 0.0
    for path in itertools.product(range(p.shape[1]), repeat=p.shape[0]):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == list(label):
            total += np.prod([p[t, c] for t, c in enumerate(path)])
    return -np.log(total)


def test_tf1_ctc_loss_is_the_ctc_of_time_major_logits_with_a_last_blank():
    tf = pynn
    logits = rand(4, 2, 3, seed=3)                          # (time, batch, classes)
    labels = tf.SparseTensor([[0, 0], [0, 1], [1, 0]], np.array([0, 1, 1], np.int32), [2, 2])
    loss = tf.compat.v1.nn.ctc_loss(labels, logits, [4, 3])
    assert loss.shape == (2,)
    np.testing.assert_allclose(np.asarray(loss), [
        brute_force_ctc(logits[:, 0].astype(np.float64), [0, 1], blank=2),
        brute_force_ctc(logits[:3, 1].astype(np.float64), [1], blank=2)], rtol=1e-5)
    # batch-major, collapsed repeats, and the too-short sample ignored or refused
    repeated = tf.SparseTensor([[0, 0], [0, 1], [1, 0], [1, 1], [1, 2]],
                               np.array([1, 1, 0, 0, 0], np.int32), [2, 3])
    batch_major = np.ascontiguousarray(logits.transpose(1, 0, 2))
    collapsed = tf.compat.v1.nn.ctc_loss(repeated, batch_major, [4, 2], time_major=False,
                                         preprocess_collapse_repeated=True)
    np.testing.assert_allclose(np.asarray(collapsed), [
        brute_force_ctc(logits[:, 0].astype(np.float64), [1], blank=2),
        brute_force_ctc(logits[:2, 1].astype(np.float64), [0], blank=2)], rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="required: 5, available: 2"):
        tf.compat.v1.nn.ctc_loss(repeated, logits, [4, 2])
    ignored = tf.compat.v1.nn.ctc_loss(repeated, logits, [4, 2],
                                       ignore_longer_outputs_than_inputs=True)
    assert float(np.asarray(ignored)[1]) == 0.0
    with pytest.raises(ValueError, match="ctc_merge_repeated=False"):
        tf.compat.v1.nn.ctc_loss(labels, logits, [4, 3], ctc_merge_repeated=False)


def test_tf_nn_ctc_loss_and_its_gradient_as_keras(keras):
    tf = pynn
    logits = rand(5, 3, 4, seed=4)
    labels = np.array([[1, 2, 0], [3, 3, 0], [2, 0, 0]], np.int32)
    label_length, logit_length = np.array([2, 2, 1]), np.array([5, 4, 3])
    want = np.asarray(keras.ops.ctc_loss(labels, logits.transpose(1, 0, 2), label_length,
                                         logit_length, mask_index=0))
    np.testing.assert_allclose(np.asarray(tf.nn.ctc_loss(labels, logits, label_length,
                                                         logit_length)), want, rtol=1e-5)
    # the blank last, batch-major, and SparseTensor labels
    last = np.asarray(keras.ops.ctc_loss(labels - 1 + 1, logits.transpose(1, 0, 2),
                                         label_length, logit_length, mask_index=3))
    got = tf.nn.ctc_loss(labels, np.ascontiguousarray(logits.transpose(1, 0, 2)), label_length,
                         logit_length, logits_time_major=False, blank_index=-1)
    np.testing.assert_allclose(np.asarray(got), last, rtol=1e-5)
    sparse = tf.sparse.from_dense(np.array([[1, 2], [3, 3], [2, 0]], np.int32))
    np.testing.assert_allclose(np.asarray(tf.nn.ctc_loss(sparse, logits, None, logit_length,
                                                         blank_index=0)), want, rtol=1e-5)
    with pytest.raises(ValueError, match="blank_index must be given"):
        tf.nn.ctc_loss(sparse, logits, None, logit_length)
    # the gradient reaches the logits on a tape
    w = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.ctc_loss(labels, w * 1.0, label_length, logit_length))
    g = np.asarray(tape.gradient(loss, w))
    eps, probe = 1e-2, (2, 1, 3)
    bumped = logits.astype(np.float64).copy()
    bumped[probe] += eps
    up = np.asarray(tf.nn.ctc_loss(labels, bumped.astype(np.float32), label_length,
                                   logit_length)).mean()
    bumped[probe] -= 2 * eps
    down = np.asarray(tf.nn.ctc_loss(labels, bumped.astype(np.float32), label_length,
                                     logit_length)).mean()
    np.testing.assert_allclose(g[probe], (up - down) / (2 * eps), rtol=2e-2, atol=1e-4)


def test_ctc_decoders_give_sparse_labelings_as_keras(keras):
    tf = pynn
    logits = rand(6, 2, 4, seed=5)                          # (time, batch, classes)
    lengths = np.array([6, 4])
    (decoded,), neg_sum = tf.nn.ctc_greedy_decoder(logits, lengths)
    paths, scores = keras.ops.ctc_decode(logits.transpose(1, 0, 2), lengths, strategy="greedy",
                                         mask_index=3)
    dense = tf.sparse.to_dense(decoded, default_value=-1).numpy()
    want = np.asarray(paths)[0][:, :dense.shape[1]]
    np.testing.assert_array_equal(dense, want)
    assert np.asarray(decoded.values).dtype == np.int64
    np.testing.assert_allclose(np.asarray(neg_sum), np.asarray(scores), rtol=1e-5)
    beams, log_probs = tf.nn.ctc_beam_search_decoder(logits, lengths, beam_width=5, top_paths=2)
    paths, scores = keras.ops.ctc_decode(logits.transpose(1, 0, 2), lengths,
                                         strategy="beam_search", beam_width=5, top_paths=2,
                                         mask_index=3)
    assert len(beams) == 2
    for beam, path in zip(beams, np.asarray(paths)):
        got = tf.sparse.to_dense(beam, default_value=-1).numpy()
        np.testing.assert_array_equal(got, path[:, :got.shape[1]])
    np.testing.assert_allclose(np.asarray(log_probs), np.asarray(scores), rtol=1e-5)
    # TensorFlow 1's beam search merges each labeling's runs of one label
    (merged,), _ = tf.compat.v1.nn.ctc_beam_search_decoder(logits, lengths, beam_width=5)
    for row in tf.sparse.to_dense(merged, default_value=-1).numpy():
        kept = row[row >= 0]
        assert (kept[1:] != kept[:-1]).all()


def test_tf_scan_foldl_and_foldr_as_tensorflow_documents_them():
    tf = pynn
    elems = np.array([1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(tf.scan(lambda a, x: a + x, elems).numpy(), [1, 3, 6, 10, 15, 21])
    np.testing.assert_array_equal(tf.scan(lambda a, x: a + x, elems, reverse=True).numpy(),
                                  [21, 20, 18, 15, 11, 6])
    # a structure of accumulators (Fibonacci) and one of elements
    fib = tf.scan(lambda a, _: (a[1], a[0] + a[1]), elems, initializer=(np.int64(0), np.int64(1)))
    np.testing.assert_array_equal(fib[0].numpy(), [1, 1, 2, 3, 5, 8])
    np.testing.assert_array_equal(fib[1].numpy(), [1, 2, 3, 5, 8, 13])
    both = tf.scan(lambda a, x: a + x[0] * x[1], (elems, -elems), initializer=np.int64(0))
    np.testing.assert_array_equal(both.numpy(), -np.cumsum(elems ** 2))
    assert int(tf.foldl(lambda a, x: a - x, elems)) == 1 - 2 - 3 - 4 - 5 - 6
    assert int(tf.foldr(lambda a, x: a - x, elems)) == 6 - 5 - 4 - 3 - 2 - 1
    assert int(tf.foldl(lambda a, x: a + x, elems, initializer=np.int64(100))) == 121
    # and it differentiates: the gradient of a running product
    w = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(tf.scan(lambda a, x: a * x, w))
    np.testing.assert_allclose(tape.gradient(total, w).numpy(), [1 + 2 + 6, 1 + 3, 2], rtol=1e-6)


def test_inverted_lookups_give_the_oov_token_for_unknown_ids():
    # (captcha_ocr.py decodes with -1 for "no label" and turns ids to text)
    chars = pynn.layers.StringLookup(vocabulary=["a", "b"], mask_token=None, invert=True)
    out = chars(np.array([[0, 1, 2, -1, 7]]))
    assert out.numpy().tolist() == [[b"[UNK]", b"a", b"b", b"[UNK]", b"[UNK]"]]
    assert pynn.strings.reduce_join(chars(np.array([1, -1, 2]))).numpy() == b"a[UNK]b"
    ints = pynn.layers.IntegerLookup(vocabulary=[5, 6], invert=True)
    np.testing.assert_array_equal(np.asarray(ints(np.array([1, 2, 3, -1]))), [5, 6, -1, -1])


# ---- retinanet.py: label encoding that fails on a batch with no boxes,
# dropped by apply(tf.data.experimental.ignore_errors()); ModelCheckpoint's
# weights found again by tf.train.latest_checkpoint; the detections
# namedtuple of a decoding layer

def encode_batch(batch_images, gt_boxes, cls_ids):
    tf = pynn
    batch_size = tf.shape(batch_images)[0]
    labels = tf.TensorArray(dtype=tf.float32, size=batch_size, dynamic_size=True)
    for i in range(batch_size):
        areas = tf.reduce_prod(gt_boxes[i][:, 2:] - gt_boxes[i][:, :2], axis=1)
        best = tf.argmax(areas)                     # fails for a sample with no box
        labels = labels.write(i, tf.cast(tf.gather(cls_ids[i], best), tf.float32))
    return batch_images, labels.stack()


def test_ignore_errors_drops_the_batches_a_map_fails_on():
    tf = pynn
    boxes = [[[0, 0, 2, 3]], [[0, 0, 1, 1], [0, 0, 3, 3]], [], [], [[1, 1, 2, 5]], [[0, 0, 3, 1]]]
    boxes = [np.array(b, np.float32).reshape(-1, 4) for b in boxes]
    classes = [np.arange(len(b), dtype=np.int32) + 1 for b in boxes]

    def gen():
        for b, c in zip(boxes, classes):
            yield np.zeros((4, 4, 3), np.float32), b, c
    ds = tf.data.Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec((4, 4, 3), tf.float32), tf.TensorSpec((None, 4), tf.float32),
        tf.TensorSpec((None,), tf.int32)))
    ds = ds.padded_batch(batch_size=2, padding_values=(0.0, 1e-8, -1), drop_remainder=True)
    ds = ds.map(encode_batch, num_parallel_calls=tf.data.AUTOTUNE)
    with pytest.raises(ValueError):
        list(ds)                     # the second batch has no boxes at all
    kept = ds.apply(tf.data.experimental.ignore_errors()).prefetch(tf.data.AUTOTUNE)
    labels = [y.numpy().tolist() for _, y in kept]
    assert labels == [[1.0, 2.0], [1.0, 1.0]]
    assert [y.numpy().tolist() for _, y in ds.ignore_errors(log_warning=True)] == labels
    # a failing filter predicate drops its element too; the others stay

    def predicate(x):
        if int(x) % 3 == 0:
            raise ValueError("no multiples of 3")
        return True
    assert [int(v) for v in tf.data.Dataset.range(6).filter(predicate).ignore_errors()] == \
        [1, 2, 4, 5]


def test_weights_a_checkpoint_callback_saves_are_found_by_latest_checkpoint(tmp_path):
    tf = pynn
    inp = tf.keras.Input((3,))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2)(inp))
    model.compile(loss="mse", optimizer=tf.optimizers.SGD(learning_rate=0.1, momentum=0.9))
    folder = str(tmp_path / "retinanet")
    callback = tf.keras.callbacks.ModelCheckpoint(
        filepath=folder + "/weights_epoch_{epoch}", monitor="loss", save_best_only=False,
        save_weights_only=True, verbose=0)
    model.fit(rand(8, 3), rand(8, 2, seed=1), epochs=2, callbacks=[callback], verbose=0)
    latest = tf.train.latest_checkpoint(folder)
    assert latest is not None and latest.endswith("weights_epoch_2")
    want = [w.copy() for w in model.get_weights()]
    model.set_weights([np.zeros_like(w) for w in want])
    model.load_weights(latest)
    for got, w in zip(model.get_weights(), want):
        np.testing.assert_array_equal(got, w)


def test_a_layer_returning_detections_gives_the_namedtuple():
    tf = pynn

    class DecodePredictions(tf.keras.layers.Layer):
        def call(self, boxes, scores):
            return tf.image.combined_non_max_suppression(
                tf.expand_dims(boxes, axis=2), scores, 3, 4, 0.5, 0.05, clip_boxes=False)

    corners = np.random.default_rng(0).random((2, 6, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + 0.3], axis=-1)
    detections = DecodePredictions()(boxes, np.random.default_rng(1).random((2, 6, 3))
                                     .astype(np.float32))
    assert type(detections).__name__ == "CombinedNonMaxSuppression"
    assert detections.nmsed_boxes.shape == (2, 4, 4)
    assert detections.nmsed_classes.shape == (2, 4)
    num = int(detections.valid_detections[0])
    assert 0 < num <= 4 and detections.nmsed_scores[0][:num].shape == (num,)
    # and in a graph: the inference model's outputs are the namedtuple, and
    # so is what its predict gives (detections.valid_detections[0])
    boxes_in = tf.keras.Input((6, 4))
    scores_in = tf.keras.Input((6, 3))
    symbolic = DecodePredictions()(boxes_in, scores_in)
    assert type(symbolic).__name__ == "CombinedNonMaxSuppression"
    assert tuple(symbolic.nmsed_boxes.shape) == (None, 4, 4)
    inference_model = tf.keras.Model(inputs=[boxes_in, scores_in], outputs=symbolic)
    scores = np.random.default_rng(1).random((2, 6, 3)).astype(np.float32)
    predicted = inference_model.predict([boxes, scores], verbose=0)
    assert type(predicted).__name__ == "CombinedNonMaxSuppression"
    np.testing.assert_allclose(predicted.nmsed_scores, np.asarray(detections.nmsed_scores),
                               rtol=1e-6)
    assert predicted.valid_detections[0] == num


def test_reshape_to_float_sizes_is_refused_with_the_sizes():
    tf = pynn
    with pytest.raises(TypeError, match=r"shape must be integers, got \[3.0, 2\]"):
        tf.reshape(np.zeros(6), [tf.math.ceil(np.float32(2.5)), 2])


# ---- endpoint_layer_pattern.py: a layer adds its loss and updates its own
# accuracy metric from the targets and sample weights it is called on

class LogisticEndpoint(pynn.layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = pynn.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_metric = pynn.metrics.BinaryAccuracy(name="accuracy")

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            loss = self.loss_fn(targets, logits, sample_weight)
            self.add_loss(loss)
            self.accuracy_metric.update_state(targets, logits, sample_weight)
        return pynn.ops.softmax(logits)


def test_an_endpoint_layer_logs_the_accuracy_it_keeps():
    keras = pynn
    pynn.utils.set_random_seed(0)
    inputs = keras.Input((7,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    targets = keras.Input((1,), name="targets")
    sample_weight = keras.Input((1,), name="sample_weight")
    preds = LogisticEndpoint()(logits, targets, sample_weight)
    model = keras.Model([inputs, targets, sample_weight], preds)
    rng = np.random.default_rng(0)
    x = rng.random((32, 7)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 3.5).astype("float32")
    w = rng.random((32, 1)).astype("float32")
    data = {"inputs": x, "targets": y, "sample_weight": w}
    model.compile(keras.optimizers.Adam(1e-2))
    assert [m.name for m in model.metrics] == ["loss", "accuracy"]
    h = model.fit(data, epochs=2, batch_size=32, verbose=0)
    assert sorted(h.history) == ["accuracy", "loss"]
    # each epoch's accuracy is that epoch's alone: the weighted share of
    # logits on the right side of 0.5, before the epoch's step
    kernel, bias = (np.asarray(v) for v in model.layers[1].weights)
    model.fit(data, epochs=1, batch_size=32, verbose=0)
    right = ((x @ kernel + bias > 0.5) == (y > 0.5)).astype("float32")
    np.testing.assert_allclose(model.history.history["accuracy"][0],
                               float((right * w).sum() / w.sum()), rtol=1e-5)
    logs = model.evaluate(data, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    # the inference model: the same layers without targets
    inputs = keras.Input((7,), name="inputs")
    preds = LogisticEndpoint()(keras.layers.Dense(1)(inputs), targets=None, sample_weight=None)
    inference_model = keras.Model(inputs, preds)
    inference_model.set_weights(model.get_weights()[:2])
    assert inference_model.predict(x, verbose=0).shape == (32, 1)


# ---- zero_dce.py and others print their datasets: TensorFlow's form, the
# element_spec with the batch size unknown (audio batches too)

def test_a_dataset_prints_its_element_spec(tmp_path):
    tf = pynn
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((5, 3), np.float32), np.arange(5)))
    assert repr(ds.batch(2)) == (
        "<Dataset element_spec=(TensorSpec(shape=(None, 3), dtype=tf.float32, name=None), "
        "TensorSpec(shape=(None,), dtype=tf.int64, name=None))>")
    assert str(tf.data.Dataset.range(0)) == "<Dataset>"        # nothing to find it from
    import wave
    for label in ("no", "yes"):
        (tmp_path / label).mkdir()
        for i in range(2):
            with wave.open(str(tmp_path / label / f"{i}.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(8000)
                f.writeframes(np.zeros(400 + 50 * i, np.int16).tobytes())
    audio = tf.keras.utils.audio_dataset_from_directory(str(tmp_path), batch_size=2,
                                                        output_sequence_length=500,
                                                        verbose=False)
    assert tuple(audio.element_spec[0].shape) == (None, 500, 1)
    assert tuple(audio.element_spec[1].shape) == (None,)


def test_a_layer_whose_inputs_sizes_must_agree_gets_its_shape_from_the_graph():
    # (retinanet.py's DecodePredictions(image, model(image)): the anchors it
    # counts from the image's size match the predictions only for one image)
    tf = pynn

    class PerCell(tf.keras.layers.Layer):
        def call(self, images, predictions):
            cells = (images.shape[1] // 4) * (images.shape[2] // 4)
            anchors = tf.tile(tf.ones((1, cells, 2)) * 2.0, [tf.shape(predictions)[0], 1, 1])
            return tf.concat([predictions[:, :, :2], anchors], axis=-1)

    image = tf.keras.Input(shape=[None, None, 1], name="image")
    conv = tf.keras.layers.Conv2D(3, 4, strides=4)
    predictions = tf.keras.layers.Reshape((-1, 3))(conv(image))
    out = PerCell()(image, predictions)
    assert tuple(out.shape) == (None, None, 4)
    model = tf.keras.Model(image, out)
    x = rand(2, 16, 16, 1)
    got = model.predict(x, verbose=0)
    assert got.shape == (2, 16, 4)
    want = np.asarray(conv(x)).reshape(2, -1, 3)[:, :, :2]
    np.testing.assert_allclose(got[:, :, :2], want, rtol=1e-5, atol=1e-6)
    assert (got[:, :, 2:] == 2.0).all()
