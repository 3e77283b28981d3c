"""Patterns from tensorflow.org's tutorials run with ``import pynn as tf``:
a slice of a layer's weight as an eager tensor, word2vec's skip-gram
pairs, sampling table and log-uniform negative sampling (against Keras 3's
legacy helpers and TensorFlow's documented distribution), ..."""
import numpy as np
import pytest
from keras_reference import needs_keras

import pynn as tf


def test_slice_of_a_layer_weight_is_an_eager_tensor():
    layer = tf.keras.layers.Dense(3)
    layer.build((None, 4))
    col = layer.kernel[:, 0]
    np.testing.assert_array_equal(col.numpy(), np.asarray(layer.kernel)[:, 0])
    assert type(col.numpy()) is np.ndarray
    # inside a tape the slice is still differentiated
    x = np.ones((2, 4), np.float32)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.matmul(x, layer.kernel)[:, 0] * layer.kernel[0, 0])
    g = tape.gradient(y, layer.kernel)
    k = np.asarray(layer.kernel, np.float64)
    want = np.zeros((4, 3))
    want[:, 0] = 2 * k[0, 0]
    want[0, 0] += 2 * k[:, 0].sum()
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-5, atol=1e-6)


@needs_keras
def test_make_sampling_table_matches_keras():
    from keras.src.legacy.preprocessing import sequence as ref
    for size in (1, 7, 4096):
        np.testing.assert_allclose(tf.keras.preprocessing.sequence.make_sampling_table(size),
                                   ref.make_sampling_table(size), rtol=1e-12)
    np.testing.assert_allclose(
        tf.keras.preprocessing.sequence.make_sampling_table(50, sampling_factor=1e-3),
        ref.make_sampling_table(50, sampling_factor=1e-3), rtol=1e-12)


@needs_keras
@pytest.mark.parametrize("window", [1, 2, 4])
def test_skipgrams_positive_pairs_match_keras(window):
    from keras.src.legacy.preprocessing import sequence as ref
    seq = [3, 0, 5, 1, 5, 2, 0, 0, 7, 4]
    got = tf.keras.preprocessing.sequence.skipgrams(
        seq, vocabulary_size=8, window_size=window, negative_samples=0, shuffle=False)
    want = ref.skipgrams(seq, vocabulary_size=8, window_size=window, negative_samples=0,
                         shuffle=False)
    assert got == want
    got = tf.keras.preprocessing.sequence.skipgrams(
        seq, 8, window_size=window, negative_samples=0, shuffle=False, categorical=True)
    want = ref.skipgrams(seq, 8, window_size=window, negative_samples=0, shuffle=False,
                         categorical=True)
    assert got == want


def test_skipgrams_negatives_and_shuffle():
    seq = list(range(1, 20))
    couples, labels = tf.keras.preprocessing.sequence.skipgrams(
        seq, vocabulary_size=20, window_size=2, negative_samples=2.0, seed=5)
    positives = [c for c, lab in zip(couples, labels) if lab == 1]
    negatives = [c for c, lab in zip(couples, labels) if lab == 0]
    want = sorted([seq[i], seq[j]] for i in range(19) for j in range(max(0, i - 2), min(19, i + 3))
                  if i != j)
    assert sorted(positives) == want  # shuffled, but every pair kept with its label
    assert len(negatives) == 2 * len(positives)
    assert all(1 <= c <= 19 and w in seq for w, c in negatives)
    # (as Keras's, seed orders the pairs; the negatives are drawn afresh)
    again = tf.keras.preprocessing.sequence.skipgrams(
        seq, vocabulary_size=20, window_size=2, negative_samples=0, seed=5)
    assert again == tf.keras.preprocessing.sequence.skipgrams(
        seq, vocabulary_size=20, window_size=2, negative_samples=0, seed=5)
    # a sampling table of zeros keeps no word
    assert tf.keras.preprocessing.sequence.skipgrams(
        seq, 20, sampling_table=np.zeros(20)) == ([], [])


def test_log_uniform_candidate_sampler_unique():
    true = tf.constant([[3]], dtype="int64")
    sampled, true_expected, sampled_expected = tf.random.log_uniform_candidate_sampler(
        true_classes=true, num_true=1, num_sampled=6, unique=True, range_max=10, seed=2)
    s = sampled.numpy()
    assert s.dtype == np.int64 and s.shape == (6,) and len(set(s.tolist())) == 6
    assert s.min() >= 0 and s.max() < 10
    assert true_expected.shape == (1, 1) and sampled_expected.shape == (6,)
    p = lambda c: np.log((c + 2.0) / (c + 1.0)) / np.log(11.0)  # noqa: E731
    # 1 - (1 - p)^tries for some number of tries >= 6: the same for every id
    tries = np.log1p(-sampled_expected.numpy().astype(np.float64)) / np.log1p(-p(s))
    assert tries.min() >= 6 - 1e-3
    np.testing.assert_allclose(tries, tries[0], rtol=1e-4)
    np.testing.assert_allclose(true_expected.numpy()[0, 0], -np.expm1(tries[0] * np.log1p(-p(3))),
                               rtol=1e-4)
    with pytest.raises(ValueError, match="range_max"):
        tf.random.log_uniform_candidate_sampler(true, 1, 11, True, 10)


def test_log_uniform_candidate_sampler_distribution():
    true = np.array([[0, 1], [2, 5]], np.int64)
    sampled, true_expected, sampled_expected = tf.random.log_uniform_candidate_sampler(
        true, num_true=2, num_sampled=200000, unique=False, range_max=6, seed=0)
    p = np.log((np.arange(6) + 2.0) / (np.arange(6) + 1.0)) / np.log(7.0)
    freq = np.bincount(sampled.numpy(), minlength=6) / 200000
    np.testing.assert_allclose(freq, p, atol=5e-3)
    np.testing.assert_allclose(true_expected.numpy(), p[true] * 200000, rtol=1e-5)
    np.testing.assert_allclose(sampled_expected.numpy(), p[sampled.numpy()] * 200000, rtol=1e-5)
    with pytest.raises(ValueError, match="num_true"):
        tf.random.log_uniform_candidate_sampler(true, 1, 3, False, 6)


@needs_keras
def test_merge_layers_take_sequences_of_another_length_eagerly():
    from keras_reference import keras
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(2, 5, 4)).astype(np.float32) for _ in range(2))
    for ours, theirs in ((tf.keras.layers.Add(), keras.layers.Add()),
                         (tf.keras.layers.Concatenate(), keras.layers.Concatenate())):
        for t in (5, 3):
            got = ours([a[:, :t], b[:, :t]])
            want = theirs([a[:, :t], b[:, :t]])
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
        with pytest.raises(ValueError, match="shapes"):
            ours([a[:, :3], b[:, :2]])


def test_function_input_signature_converts_python_values():
    @tf.function(input_signature=[tf.TensorSpec(shape=[], dtype=tf.string)])
    def first_word(sentence):
        assert isinstance(sentence, tf.Tensor)
        return tf.strings.split(sentence)[0]
    assert first_word("este é um").numpy() == b"este"

    double = tf.function(lambda x: x * 2, input_signature=[tf.TensorSpec([None], tf.float32)])
    out = double([1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), [2.0, 4.0])
    with pytest.raises(ValueError, match="input_signature"):
        double(np.ones((2, 2), np.float32))


def test_text_vectorization_ragged_ids():
    tv = tf.keras.layers.TextVectorization(ragged=True)
    tv.adapt(["a b c", "a b", "a"])
    out = tv(["a b c zz", "b", ""])
    assert isinstance(out, tf.RaggedTensor)
    assert out.to_list() == [[2, 3, 4, 1], [3], []]
    np.testing.assert_array_equal(out[:, :-1].to_tensor().numpy(), [[2, 3, 4], [0, 0, 0],
                                                                     [0, 0, 0]])
    cut = tf.keras.layers.TextVectorization(ragged=True, output_sequence_length=2,
                                            vocabulary=["a", "b"])
    assert cut(["a b a", "b"]).to_list() == [[2, 3], [3]]  # cut, never padded
    assert tv.get_config()["ragged"] is True
    with pytest.raises(ValueError, match="ragged"):
        tf.keras.layers.TextVectorization(ragged=True, output_mode="multi_hot")


def test_regex_replace_matches_characters_and_rewrites_whole_match():
    text = tf.constant(["¿Todavía está en casa?"])
    out = tf.strings.regex_replace(text, "[.?!,¿]", r" \0 ")
    assert out[0].numpy().decode() == " ¿ Todavía está en casa ? "
    assert tf.strings.regex_replace("ab12", r"([a-z])(\d)", r"<\2\1>").numpy() == b"a<1b>2"
    assert tf.strings.regex_replace("a.b", r"\.", r"\\").numpy() == b"a\\b"
    np.testing.assert_array_equal(tf.strings.regex_full_match(["é", "ab"], ".").numpy(),
                                  [True, False])
    with pytest.raises(ValueError, match="rewrite"):
        tf.strings.regex_replace("a", "a", r"\n")


def test_call_added_to_a_layer_class_later_and_flag_arguments():
    class Step(tf.keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = tf.keras.layers.Dense(3)

    def call(self, context, x, state=None, return_state=False):
        y = self.dense(x) + context
        if state is not None:
            y = y + state
        return (y, 2 * y) if return_state else y
    Step.call = call
    layer = Step()
    rng = np.random.default_rng(1)
    ctx, x, s = (rng.normal(size=(2, 3)).astype(np.float32) for _ in range(3))
    plain = np.asarray(layer(ctx, x))
    k, b = (np.asarray(w, np.float64) for w in layer.dense.weights)
    np.testing.assert_allclose(plain, x @ k + b + ctx, rtol=1e-5, atol=1e-6)
    y, twice = layer(ctx, x, state=s, return_state=True)
    np.testing.assert_allclose(np.asarray(y), plain + s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(twice), 2 * np.asarray(y), rtol=1e-6)


def test_executing_eagerly_is_false_in_fit_steps():
    seen = []

    class Probe(tf.keras.layers.Layer):
        def call(self, x):
            seen.append(tf.executing_eagerly())
            return x

    model = tf.keras.Sequential([tf.keras.Input((2,)), Probe(), tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    assert tf.executing_eagerly()
    seen.clear()
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert seen and not any(seen)
    seen.clear()
    model(x)
    assert seen == [True]


def test_dataset_list_files(tmp_path):
    for n in ("b.jpg", "a.jpg", "c.png"):
        (tmp_path / n).write_bytes(b"x")
    pattern = str(tmp_path / "*.jpg")
    ordered = [x.numpy() for x in tf.data.Dataset.list_files(pattern, shuffle=False)]
    assert ordered == [str(tmp_path / "a.jpg").encode(), str(tmp_path / "b.jpg").encode()]
    shuffled = tf.data.Dataset.list_files([pattern, str(tmp_path / "*.png")], seed=1)
    assert sorted(x.numpy() for x in shuffled) == sorted(
        str(tmp_path / n).encode() for n in ("a.jpg", "b.jpg", "c.png"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="no files matched"):
        tf.data.Dataset.list_files(str(tmp_path / "*.gif"))


def _instance_norm_net():
    class InstanceNorm(tf.keras.layers.Layer):
        def build(self, shape):
            self.scale = self.add_weight(name="scale", shape=shape[-1:],
                                         initializer=tf.random_normal_initializer(1.0, 0.2))

        def call(self, x):
            mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
            return self.scale * (x - mean) * tf.math.rsqrt(var + 1e-5)
    block = tf.keras.Sequential()
    block.add(tf.keras.layers.Conv2D(4, 3, padding="same"))
    block.add(InstanceNorm())
    block.add(tf.keras.layers.LeakyReLU())
    inp = tf.keras.Input(shape=[None, None, 3])
    return tf.keras.Model(inp, tf.keras.layers.Conv2D(3, 1)(block(inp)))


def test_persistent_tape_gradients_through_a_custom_layer_twice():
    tf.keras.utils.set_random_seed(4)
    net = _instance_norm_net()
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 3)).astype(np.float32)

    def losses():
        a = net(x, training=True)
        b = net(a, training=True)  # the same layers called twice, as a cycle
        return tf.reduce_mean(a * a), tf.reduce_mean(b * b)
    with tf.GradientTape(persistent=True) as tape:
        la, lb = losses()
        total = la + lb
    first = tape.gradient(total, net.trainable_variables)
    second = tape.gradient(lb, net.trainable_variables)
    again = tape.gradient(total, net.trainable_variables)
    for want_loss, got in ((lambda: sum(losses()), first), (lambda: losses()[1], second),
                           (lambda: sum(losses()), again)):
        with tf.GradientTape() as fresh:
            loss = want_loss()
        for g, w in zip(got, fresh.gradient(loss, net.trainable_variables)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


def test_reduce_sum_of_a_list_of_taped_losses_and_their_printing():
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        losses = [tf.reduce_mean(x[0] * x[0]), tf.reduce_mean(x[1])]
        total = tf.reduce_sum(losses)
    want = np.zeros((2, 3))
    want[0] = 2 * np.arange(3) / 3
    want[1] = 1 / 3
    np.testing.assert_allclose(np.asarray(tape.gradient(total, x)), want, rtol=1e-6)
    assert float(total) == pytest.approx(5 / 3 + 4)
    assert "{}".format(total) == str(np.float32(5 / 3 + 4)) and str(total) == "{}".format(total)


def test_function_input_signature_binds_defaults_by_parameter():
    class Tiles(tf.Module):
        @tf.function(input_signature=(tf.TensorSpec([None], tf.float32),
                                      tf.TensorSpec([], tf.int32)))
        def __call__(self, x, tile=2):
            assert isinstance(tile, tf.Tensor) and tile.dtype == np.int32
            return x[:int(tile)]
    np.testing.assert_array_equal(Tiles()([1.0, 2.0, 3.0]).numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(Tiles()([1.0, 2.0, 3.0], tile=1).numpy(), [1.0])


def test_confusion_matrix_as_tensorflow_documents():
    got = tf.math.confusion_matrix([1, 2, 4], [2, 2, 4])
    want = np.zeros((5, 5), np.int32)
    want[1, 2] = want[2, 2] = want[4, 4] = 1
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.numpy(), want)
    weighted = tf.math.confusion_matrix(tf.constant([0, 1, 1]), np.array([1, 1, 1]),
                                        num_classes=3, weights=[0.5, 2.0, 1.0],
                                        dtype=tf.float32)
    np.testing.assert_allclose(weighted.numpy(), [[0, 0.5, 0], [0, 3.0, 0], [0, 0, 0]])
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.math.confusion_matrix([0, 3], [0, 1], num_classes=3)


def test_fit_takes_one_callback_not_in_a_list():
    seen = []
    cb = tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    model.fit(x, y, epochs=2, verbose=0, callbacks=cb)
    assert seen == [0, 1]
    model.fit(x, y, epochs=1, verbose=0, callbacks=[[cb], cb])
    assert seen == [0, 1, 0, 0]
    model.evaluate(x, y, verbose=0, callbacks=cb)


def test_decode_csv_types_defaults_and_required_fields():
    lines = tf.constant(["1,male,22.5,x", "0,,3,y", '1,"a,b",,z'])
    survived, sex, age, tag = tf.io.decode_csv(
        lines, record_defaults=[int(), "unknown", float(), str()])
    assert survived.dtype == np.int32 and age.dtype == np.float32
    np.testing.assert_array_equal(survived.numpy(), [1, 0, 1])
    assert list(sex.numpy()) == [b"male", b"unknown", b"a,b"]
    np.testing.assert_allclose(age.numpy(), [22.5, 3.0, 0.0])
    assert list(tag.numpy()) == [b"x", b"y", b"z"]
    picked = tf.io.decode_csv(tf.constant([["5,6,7"]]), [[0], [0.0]], select_cols=[0, 2])
    assert picked[0].shape == (1, 1) and picked[1].numpy()[0, 0] == 7.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="required"):
        tf.io.decode_csv(["1,"], record_defaults=[[0], tf.constant([], tf.int64)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="fields"):
        tf.io.decode_csv(["1,2,3"], record_defaults=[0, 0])


def test_csv_dataset_reads_files_with_header(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("name,n,x\nfoo,1,0.5\nbar,2,1.5\n")
    b.write_text("name,n,x\nbaz,3,2.5\n")
    ds = tf.data.experimental.CsvDataset([str(a), str(b)], [str(), int(), float()], header=True)
    rows = [(n.numpy(), int(k), float(x)) for n, k, x in ds]
    assert rows == [(b"foo", 1, 0.5), (b"bar", 2, 1.5), (b"baz", 3, 2.5)]
    only = tf.data.Dataset.list_files(str(tmp_path / "*.csv"), shuffle=False).interleave(
        lambda path: tf.data.experimental.CsvDataset(path, [0.0], header=True,
                                                     select_cols=[2]), cycle_length=2)
    assert sorted(float(x[0]) for x in only) == [0.5, 1.5, 2.5]


def test_numpy_function_and_py_function_as_decorators():
    @tf.numpy_function(Tout=[tf.float32, tf.int32])
    def step(action):
        # (a 0-d input arrives as NumPy's scalar, as TensorFlow's PyArray_Return
        # hands it over)
        assert type(action) is np.int32
        return np.full(2, action, np.float64), np.array(action * 2)
    state, reward = step(tf.constant(3))
    assert state.dtype == np.float32 and reward.dtype == np.int32
    np.testing.assert_array_equal(state.numpy(), [3.0, 3.0])
    assert int(reward) == 6

    @tf.py_function(Tout=tf.float32)
    def double(x):
        return x * 2
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(double(x))
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), [2.0, 2.0])
    with pytest.raises(TypeError, match="Tout"):
        tf.numpy_function()


def test_sample_from_datasets_weights_and_exhaustion():
    pos = tf.data.Dataset.from_tensor_slices(np.ones(4000, np.int64)).repeat()
    neg = tf.data.Dataset.from_tensor_slices(np.zeros(4000, np.int64)).repeat()
    mixed = tf.data.Dataset.sample_from_datasets([pos, neg], weights=[0.25, 0.75], seed=3)
    batch = next(iter(mixed.batch(4000))).numpy()
    assert abs(batch.mean() - 0.25) < 0.03
    assert np.array_equal(next(iter(mixed.batch(50))).numpy(), batch[:50])  # seeded
    a = tf.data.Dataset.range(3)
    b = tf.data.Dataset.range(10, 15)
    every = sorted(int(x) for x in tf.data.Dataset.sample_from_datasets([a, b], seed=0))
    assert every == [0, 1, 2, 10, 11, 12, 13, 14]  # both drained
    # (b without end: only stopping at a's end ends the result)
    stopped = [int(x) for x in tf.data.Dataset.sample_from_datasets(
        [a, b.repeat()], seed=0, stop_on_empty_dataset=True)]
    assert sorted(x for x in stopped if x < 10) == [0, 1, 2]
    chosen = tf.data.Dataset.choose_from_datasets(
        [a, b], tf.data.Dataset.from_tensor_slices(np.array([1, 0, 1, 1], np.int64)))
    assert [int(x) for x in chosen] == [10, 0, 11, 12]
    with pytest.raises(ValueError, match="weights"):
        tf.data.Dataset.sample_from_datasets([a, b], weights=[0.0, 0.0])


def test_initializer_none_takes_add_weight_default():
    from keras_reference import keras
    assert tf.keras.initializers.get(None) is None
    layer = tf.keras.layers.Dense(3, bias_initializer=None)
    layer.build((None, 4))
    bias = np.asarray(layer.bias)
    assert np.all(bias != 0) and np.all(np.abs(bias) <= np.sqrt(6 / 4))  # glorot_uniform (1, 3)
    assert layer.get_config()["bias_initializer"] is None
    if keras is not None:
        ref = keras.layers.Dense(3, bias_initializer=None)
        ref.build((None, 4))
        assert np.all(np.asarray(ref.bias) != 0)


def test_lookup_one_hot_encodes_a_last_axis_of_one_in_place():
    ints = tf.keras.layers.IntegerLookup(vocabulary=[0, 1, 2, 3], output_mode="one_hot")
    strs = tf.keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    np.testing.assert_array_equal(ints(np.array([[1], [3]])).numpy(),
                                  np.eye(5, dtype=np.float32)[[2, 4]])
    assert ints(np.array([1, 2])).shape == (2, 5)
    assert ints(np.array([[1, 2]])).shape == (1, 2, 5)
    assert strs(np.array([["a"], ["zz"]])).shape == (2, 3)
    # a model of one-hot columns from (batch, 1) inputs, as the graph's shapes say
    inputs = {n: tf.keras.Input(shape=(1,), name=n, dtype="int64") for n in "ab"}
    onehot = [tf.keras.layers.IntegerLookup(vocabulary=v, output_mode="one_hot")(inputs[n])
              for n, v in (("a", [0, 1, 2, 3]), ("b", [5, 6]))]
    model = tf.keras.Model(inputs, tf.keras.layers.Concatenate(axis=1)(onehot))
    assert model.output_shape == (None, 8)
    out = model({"a": np.array([[2]]), "b": np.array([[6]])})
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 0, 1, 0, 0, 0, 1]])


def test_dataset_map_returning_a_list_gives_tuple_elements():
    class Flip(tf.keras.layers.Layer):
        def call(self, images, labels):
            return images[:, ::-1], labels

    images = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(3))).batch(3)
    mapped = ds.map(Flip()).map(lambda x, y: [x * 2, y, y + 1])
    x, y, z = next(iter(mapped))
    np.testing.assert_array_equal(x.numpy(), images[:, ::-1] * 2)
    np.testing.assert_array_equal(z.numpy(), [1, 2, 3])
    weighted = mapped.map(lambda x, y, z: (x, y, tf.cast(z, tf.float32)))
    assert len(next(iter(weighted))) == 3


def test_counter_zipped_in_a_nested_structure():
    images = tf.data.Dataset.from_tensor_slices(np.arange(3, dtype=np.float32))
    counter = tf.data.experimental.Counter()
    zipped = tf.data.Dataset.zip((images, (counter, counter)))
    got = [(float(x), int(a), int(b)) for x, (a, b) in zipped]
    assert got == [(0.0, 0, 0), (1.0, 1, 1), (2.0, 2, 2)]
    assert zipped.cardinality() == 3
    steps = tf.data.experimental.Counter(start=5, step=-2, dtype=tf.int32).take(3)
    assert [x.numpy().item() for x in steps] == [5, 3, 1]
    assert next(iter(steps)).dtype == np.int32
    pairs = tf.data.Dataset.zip([tf.data.Dataset.range(2), tf.data.Dataset.range(2)])
    assert isinstance(next(iter(pairs)), tuple)
