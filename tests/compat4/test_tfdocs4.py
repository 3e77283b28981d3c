"""tensorflow.org's guides and tutorials run with ``import pynn as tf`` (tiny
sizes, synthetic data): the ragged tensor guide's operations dispatched to
RaggedTensors (elementwise math, reductions over each axis, tf.tile,
tf.reverse, tf.map_fn, tf.nn.embedding_lookup, tf.strings.join,
tf.RaggedTensorSpec, tf.ragged.range), integer math keeping its dtype as
the tensor guide shows."""
import math

import numpy as np
import pytest

import pynn as tf
from keras_reference import keras as real_keras, needs_keras


def _rows(rt):
    return [np.asarray(r).tolist() for r in rt]


# ------------------------------------------------------------ guide/ragged_tensor

def test_ragged_guide_operations_dispatch_to_ragged_tensors():
    digits = tf.ragged.constant([[3, 1, 4, 1], [], [5, 9, 2], [6], []])
    words = tf.ragged.constant([["So", "long"], ["thanks", "for", "all", "the", "fish"]])
    added = tf.add(digits, 3)
    assert isinstance(added, tf.RaggedTensor)
    assert added.to_list() == [[6, 4, 7, 4], [], [8, 12, 5], [9], []]
    assert added.dtype == tf.int32
    mean = tf.reduce_mean(digits, axis=1)
    # (TensorFlow divides the integer sums by the counts: float64, NaN for an empty row)
    assert mean.dtype == np.float64
    np.testing.assert_allclose(np.asarray(mean), [2.25, np.nan, 16 / 3, 6.0, np.nan])
    assert tf.concat([digits, [[5, 3]]], axis=0).to_list() == \
        [[3, 1, 4, 1], [], [5, 9, 2], [6], [], [5, 3]]
    assert tf.tile(digits, [1, 2]).to_list() == \
        [[3, 1, 4, 1, 3, 1, 4, 1], [], [5, 9, 2, 5, 9, 2], [6, 6], []]
    assert tf.strings.substr(words, 0, 2).to_list() == \
        [[b"So", b"lo"], [b"th", b"fo", b"al", b"th", b"fi"]]
    squared = tf.map_fn(tf.math.square, digits)
    assert isinstance(squared, tf.RaggedTensor) and squared.dtype == tf.int32
    assert squared.to_list() == [[9, 1, 16, 1], [], [25, 81, 4], [36], []]
    # the elementwise functions of one and of two tensors
    assert tf.math.negative(digits).to_list() == [[-3, -1, -4, -1], [], [-5, -9, -2], [-6], []]
    assert tf.maximum(digits, 4).to_list() == [[4, 4, 4, 4], [], [5, 9, 4], [6], []]
    assert tf.multiply(2, digits).to_list() == [[6, 2, 8, 2], [], [10, 18, 4], [12], []]
    assert tf.equal(digits, digits * 1).to_list() == [[True] * 4, [], [True] * 3, [True], []]
    assert tf.cast(digits, tf.float32).dtype == tf.float32
    with pytest.raises(tf.errors.InvalidArgumentError, match="row lengths"):
        tf.add(digits, tf.ragged.constant([[1], [], [2, 3, 4], [5], []]))


def test_ragged_reductions_over_each_axis_match_numpy():
    rows = [[3., 1., 4., 1.], [], [5., 9., 2.], [6.], []]
    rt = tf.ragged.constant(rows)
    for fn, np_fn, empty in ((tf.reduce_sum, np.sum, 0.0), (tf.reduce_max, np.max, -np.inf),
                             (tf.reduce_min, np.min, np.inf), (tf.reduce_prod, np.prod, 1.0),
                             (tf.reduce_mean, np.mean, np.nan)):
        within = fn(rt, axis=1)
        assert within.dtype == np.float32
        np.testing.assert_allclose(np.asarray(within),
                                   [np_fn(r) if r else empty for r in rows], rtol=1e-6)
        # axis 0: each position over the rows that reach it
        columns = [[r[j] for r in rows if len(r) > j] for j in range(4)]
        np.testing.assert_allclose(np.asarray(fn(rt, axis=0)), [np_fn(c) for c in columns],
                                   rtol=1e-6)
        flat = [v for r in rows for v in r]
        np.testing.assert_allclose(float(fn(rt)), np_fn(flat), rtol=1e-6)
        np.testing.assert_allclose(float(fn(rt, axis=[0, 1])), np_fn(flat), rtol=1e-6)
    assert np.asarray(tf.reduce_sum(rt, axis=1, keepdims=True)).shape == (5, 1)
    assert np.asarray(tf.reduce_sum(rt, axis=0, keepdims=True)).shape == (1, 4)
    # an empty integer row's maximum is the dtype's lowest (TensorFlow's segment max)
    ints = tf.ragged.constant([[3, 1], []])
    assert np.asarray(tf.reduce_max(ints, axis=1)).tolist() == [3, np.iinfo(np.int32).min]
    assert tf.reduce_any(tf.ragged.constant([[True, False], [], [False]]), axis=1).tolist() == \
        [True, False, False]
    assert tf.reduce_all(tf.ragged.constant([[True, False], [], [True]]), axis=1).tolist() == \
        [False, True, True]
    # the values' own axis: a RaggedTensor of the same rows
    vectors = tf.RaggedTensor.from_row_lengths(np.arange(12, dtype=np.float32).reshape(6, 2),
                                               [1, 0, 2, 3])
    inner = tf.reduce_sum(vectors, axis=-1)
    assert isinstance(inner, tf.RaggedTensor)
    assert inner.to_list() == [[1.0], [], [5.0, 9.0], [13.0, 17.0, 21.0]]
    np.testing.assert_allclose(np.asarray(tf.reduce_mean(vectors, axis=1))[[0, 2, 3]],
                               [[0, 1], [3, 4], [8, 9]])
    with pytest.raises(ValueError, match="out of range"):
        tf.reduce_sum(rt, axis=2)


def _bucket(word, n):
    # (to_hash_bucket_fast of one string, checked against TensorFlow's
    # Fingerprint64 in test_tfdocs3)
    return int(np.asarray(tf.strings.to_hash_bucket_fast(tf.constant([word]), n))[0])


def test_ragged_guide_word_and_bigram_embeddings():
    queries = tf.ragged.constant([['Who', 'is', 'Dan', 'Smith'],
                                  ['Pause'],
                                  ['Will', 'it', 'rain', 'later', 'today']])
    num_buckets = 1024
    embedding_size = 4
    tf.random.set_seed(3)
    embedding_table = tf.Variable(
        tf.random.truncated_normal([num_buckets, embedding_size],
                                   stddev=1.0 / math.sqrt(embedding_size)))
    word_buckets = tf.strings.to_hash_bucket_fast(queries, num_buckets)
    word_embeddings = tf.nn.embedding_lookup(embedding_table, word_buckets)
    assert isinstance(word_embeddings, tf.RaggedTensor)
    assert tuple(word_embeddings.shape) == (3, None, 4)
    marker = tf.fill([queries.nrows(), 1], '#')
    assert np.asarray(marker).tolist() == [[b'#']] * 3
    padded = tf.concat([marker, queries, marker], axis=1)
    bigrams = tf.strings.join([padded[:, :-1], padded[:, 1:]], separator='+')
    assert bigrams.to_list()[1] == [b'#+Pause', b'Pause+#']
    bigram_buckets = tf.strings.to_hash_bucket_fast(bigrams, num_buckets)
    bigram_embeddings = tf.nn.embedding_lookup(embedding_table, bigram_buckets)
    all_embeddings = tf.concat([word_embeddings, bigram_embeddings], axis=1)
    avg_embedding = tf.reduce_mean(all_embeddings, axis=1)
    assert avg_embedding.shape == (3, 4) and avg_embedding.dtype == np.float32
    # the same average computed row by row from the table
    table = np.asarray(embedding_table.numpy(), np.float64)
    for i, row in enumerate(queries.to_list()):
        words = [w.decode() for w in row]
        padded_row = ['#'] + words + ['#']
        grams = [a + '+' + b for a, b in zip(padded_row[:-1], padded_row[1:])]
        ids = [_bucket(w, num_buckets) for w in words + grams]
        np.testing.assert_allclose(np.asarray(avg_embedding[i]), table[ids].mean(0),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same row lengths"):
        tf.strings.join([queries, tf.constant([["a"], ["b"], ["c"]])])


def test_ragged_tensor_spec_in_a_signature_and_ragged_map_fn():
    @tf.function(input_signature=[tf.RaggedTensorSpec(shape=[None, None], dtype=tf.int32)])
    def max_and_min(rt):
        return (tf.math.reduce_max(rt, axis=-1), tf.math.reduce_min(rt, axis=-1))

    mx, mn = max_and_min(tf.ragged.constant([[1, 2], [3], [4, 5, 6]]))
    assert np.asarray(mx).tolist() == [2, 3, 6] and np.asarray(mn).tolist() == [1, 3, 4]
    with pytest.raises(TypeError, match="input_signature"):
        max_and_min(tf.ragged.constant([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="input_signature"):
        max_and_min(tf.constant([[1, 2]]))
    spec = tf.RaggedTensorSpec(shape=[None, None], dtype=tf.int32)
    assert spec.value_type is tf.RaggedTensor and spec.ragged_rank == 1
    assert spec.is_compatible_with(tf.ragged.constant([[1], [2, 3]]))
    with pytest.raises(ValueError, match="one ragged dimension"):
        tf.RaggedTensorSpec(shape=[None, None, None], ragged_rank=2)

    @tf.function
    def make_palindrome(x, axis):
        return tf.concat([x, tf.reverse(x, [axis])], axis)

    assert np.asarray(make_palindrome(tf.constant([[1, 2], [3, 4], [5, 6]]), axis=1)).tolist() \
        == [[1, 2, 2, 1], [3, 4, 4, 3], [5, 6, 6, 5]]
    assert make_palindrome(tf.ragged.constant([[1, 2], [3], [4, 5, 6]]), axis=1).to_list() == \
        [[1, 2, 2, 1], [3, 3], [4, 5, 6, 6, 5, 4]]
    assert tf.reverse(tf.ragged.constant([[1, 2], [3]]), [0]).to_list() == [[3], [1, 2]]

    digits = tf.ragged.constant([[3, 1, 4, 1], [], [5, 9, 2], [6], []])
    # a dense result of one value per row, asked for by the signature
    sums = tf.map_fn(tf.reduce_sum, digits, fn_output_signature=tf.int32)
    assert np.asarray(sums).tolist() == [9, 0, 16, 6, 0] and sums.dtype == np.int32
    doubled = tf.map_fn(lambda r: tf.concat([r, r], 0), digits,
                        fn_output_signature=tf.RaggedTensorSpec([None, None], tf.int32))
    assert doubled.to_list() == [[3, 1, 4, 1, 3, 1, 4, 1], [], [5, 9, 2, 5, 9, 2], [6, 6], []]
    with pytest.raises(ValueError, match="fn_output_signature"):
        tf.map_fn(tf.reduce_sum, digits)


def test_ragged_range():
    assert tf.ragged.range([3, 5, 2]).to_list() == [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1]]
    assert tf.ragged.range([0, 5], [3, 6]).to_list() == [[0, 1, 2], [5]]
    r = tf.ragged.range([1, 0], 7, [3, 2])
    assert r.to_list() == [[1, 4], [0, 2, 4, 6]] and r.dtype == tf.int32
    assert tf.ragged.range([2.0], dtype=tf.float32).to_list() == [[0.0, 1.0]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="deltas"):
        tf.ragged.range([3], deltas=0)


# ------------------------------------------------------------ guide/tensor

def test_integer_math_keeps_its_dtype():
    x = tf.constant([3, -2])
    for fn, want in ((tf.math.square, [9, 4]), (tf.abs, [3, 2]), (tf.negative, [-3, 2]),
                     (tf.math.cumsum, [3, 1]), (tf.math.cumprod, [3, -6])):
        out = fn(x)
        assert out.dtype == np.int32, fn
        assert np.asarray(out).tolist() == want
    total = tf.reduce_sum(tf.constant([[1, 2], [3, 4]]), axis=[0, 1])
    assert total.dtype == np.int32 and int(total) == 10
    assert tf.reduce_sum(tf.constant([[1, 2], [3, 4]]), axis=1).tolist() == [3, 7]
    assert tf.reduce_prod(tf.constant([2, 3])).dtype == np.int32
    # NumPy int64 stays int64, floats stay float32
    assert tf.reduce_sum(np.array([1, 2])).dtype == np.int64
    assert tf.math.square(tf.constant([3.0])).dtype == np.float32


# ------------------------------------------------------------ guide/checkpoint

def test_checkpoint_restores_variables_added_to_lists_and_dicts_later(tmp_path):
    save = tf.train.Checkpoint()
    save.listed = [tf.Variable(1.)]
    save.listed.append(tf.Variable(2.))
    save.mapped = {'one': save.listed[0]}
    save.mapped['two'] = save.listed[1]
    save_path = save.save(str(tmp_path / 'tf_list_example'))

    restore = tf.train.Checkpoint()
    v2 = tf.Variable(0.)
    assert 0. == v2.numpy()
    restore.mapped = {'two': v2}
    restore.restore(save_path)
    assert 2. == v2.numpy()
    restore.listed = []
    assert repr(restore.listed) == "ListWrapper([])"
    v1 = tf.Variable(0.)
    restore.listed.append(v1)  # restored from the restore() before
    assert 1. == v1.numpy()
    later = tf.Variable(0.)
    restore.listed.append(later)
    assert float(later) == 2.0
    v3 = tf.Variable(0.)
    restore.mapped['one'] = v3
    assert float(v3) == 1.0
    # an index the file does not hold is left as it is
    extra = tf.Variable(7.)
    restore.listed.append(extra)
    assert float(extra) == 7.0
    with pytest.raises(ValueError, match="must be a model"):
        restore.listed.append("not a variable")
    # before any restore the wrappers only hold what is put in them
    fresh = tf.train.Checkpoint()
    fresh.listed = []
    fresh.listed.append(tf.Variable(5.))
    assert float(fresh.listed[0]) == 5.0


# ------------------------------------------------------------ guide/variable

def test_variable_repr_is_tensorflows():
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]], name="v")
    assert repr(v) == ("<tf.Variable 'v' shape=(2, 2) dtype=float32, numpy=\narray([[1., 2.],\n"
                       "       [3., 4.]], dtype=float32)>")
    assert repr(tf.Variable(3, name="n")) == "<tf.Variable 'n' shape=() dtype=int32, numpy=3>"


# ------------------------------------------------ tutorials/interpretability

def test_integrated_gradients_tutorial_attributions_add_up():
    tf.random.set_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Conv2D(4, 3, activation='relu'),
                                 tf.keras.layers.GlobalAveragePooling2D(),
                                 tf.keras.layers.Dense(10)])
    model.build([None, 16, 16, 3])
    rng = np.random.default_rng(0)
    raw = tf.constant(rng.integers(0, 256, (20, 24, 3)).astype(np.uint8))
    image = tf.image.convert_image_dtype(raw, tf.float32)
    image = tf.image.resize_with_pad(image, target_height=16, target_width=16)
    assert image.shape == (16, 16, 3)
    labels = np.array([f'class{i}' for i in range(10)])

    def top_k_predictions(img, k=3):
        image_batch = tf.expand_dims(img, 0)
        predictions = model(image_batch)
        probs = tf.nn.softmax(predictions, axis=-1)
        top_probs, top_idxs = tf.math.top_k(input=probs, k=k)
        top_labels = labels[tuple(top_idxs)]
        return top_labels, top_probs[0]

    pred_label, pred_prob = top_k_predictions(image)
    probs = np.asarray(tf.nn.softmax(model(image[None]), axis=-1))[0]
    assert pred_label.tolist() == [f'class{i}' for i in np.argsort(-probs)[:3]]
    assert [f'{p:0.1%}' for p in pred_prob] == [f'{p:0.1%}' for p in np.sort(probs)[::-1][:3]]

    def f(x):
        return tf.where(x < 0.8, x, 0.8)
    np.testing.assert_allclose(np.asarray(f(tf.linspace(start=0.0, stop=1.0, num=6))),
                               [0, .2, .4, .6, .8, .8], atol=1e-7)

    baseline = tf.zeros(shape=(16, 16, 3))

    def interpolate_images(baseline, image, alphas):
        alphas_x = alphas[:, tf.newaxis, tf.newaxis, tf.newaxis]
        baseline_x = tf.expand_dims(baseline, axis=0)
        input_x = tf.expand_dims(image, axis=0)
        delta = input_x - baseline_x
        images = baseline_x + alphas_x * delta
        return images

    def compute_gradients(images, target_class_idx):
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = model(images)
            probs = tf.nn.softmax(logits, axis=-1)[:, target_class_idx]
        return tape.gradient(probs, images)

    def integral_approximation(gradients):
        grads = (gradients[:-1] + gradients[1:]) / tf.constant(2.0)
        return tf.math.reduce_mean(grads, axis=0)

    @tf.function
    def one_batch(baseline, image, alpha_batch, target_class_idx):
        interpolated_path_input_batch = interpolate_images(baseline=baseline, image=image,
                                                           alphas=alpha_batch)
        return compute_gradients(images=interpolated_path_input_batch,
                                 target_class_idx=target_class_idx)

    def integrated_gradients(baseline, image, target_class_idx, m_steps=50, batch_size=32):
        alphas = tf.linspace(start=0.0, stop=1.0, num=m_steps + 1)
        gradient_batches = []
        for alpha in tf.range(0, len(alphas), batch_size):
            from_ = alpha
            to = tf.minimum(from_ + batch_size, len(alphas))
            alpha_batch = alphas[from_:to]
            gradient_batches.append(one_batch(baseline, image, alpha_batch, target_class_idx))
        total_gradients = tf.concat(gradient_batches, axis=0)
        assert total_gradients.shape == (m_steps + 1, 16, 16, 3)
        avg_gradients = integral_approximation(gradients=total_gradients)
        return (image - baseline) * avg_gradients

    path = interpolate_images(baseline, image, tf.linspace(start=0.0, stop=1.0, num=11))
    path_gradients = compute_gradients(images=path, target_class_idx=5)
    assert path_gradients.shape == (11, 16, 16, 3)
    # the tape's gradient against a central difference of one pixel
    probe = np.zeros((1, 16, 16, 3), np.float32)
    probe[0, 7, 8, 1] = 1e-2
    def p(x):
        return np.asarray(tf.nn.softmax(model(x), axis=-1))[:, 5].astype(np.float64)
    x5 = np.asarray(path[5:6])
    numeric = (p(x5 + probe) - p(x5 - probe)) / 2e-2
    np.testing.assert_allclose(np.asarray(path_gradients)[5, 7, 8, 1], numeric[0],
                               rtol=2e-2, atol=1e-6)
    ig_attributions = integrated_gradients(baseline=baseline, image=image, target_class_idx=5,
                                           m_steps=40, batch_size=16)
    assert ig_attributions.shape == (16, 16, 3)
    # completeness: the attributions add up to p(image) - p(baseline)
    gap = p(np.asarray(image)[None])[0] - p(np.asarray(baseline)[None])[0]
    np.testing.assert_allclose(float(tf.reduce_sum(ig_attributions)), gap, rtol=2e-2, atol=1e-5)
    attribution_mask = tf.reduce_sum(tf.math.abs(ig_attributions), axis=-1)
    assert attribution_mask.shape == (16, 16)


# ------------------------------------------- guide/extension_type, tf1_vs_tf2

def test_tensor_shape_compatibility_methods():
    s = tf.TensorShape([None, 3])
    assert s.is_compatible_with([5, 3]) and s.is_compatible_with(tf.TensorShape([None, None]))
    assert not s.is_compatible_with([5, 4]) and not s.is_compatible_with([5, 3, 1])
    s.assert_is_compatible_with((2, 3))
    with pytest.raises(ValueError, match="incompatible"):
        s.assert_is_compatible_with([2, 4])
    assert s.merge_with([7, None]) == [7, 3]
    with pytest.raises(ValueError, match="not compatible"):
        s.merge_with([7, 4])
    assert tf.TensorShape([2, 3]).most_specific_compatible_shape([2, 4]) == [2, None]
    assert s.with_rank(2) is s and s.with_rank_at_least(1) is s and s.with_rank_at_most(2) is s
    with pytest.raises(ValueError, match="must have rank 3"):
        s.assert_has_rank(3)
    with pytest.raises(ValueError, match="at least 3"):
        s.with_rank_at_least(3)
    with pytest.raises(ValueError, match="same rank"):
        s.assert_same_rank([1])
    with pytest.raises(ValueError, match="not fully defined"):
        s.assert_is_fully_defined()
    # a tensor's own shape has them too (the extension type guide's MaskedTensor)
    values = tf.constant([[1, 2], [3, 4]])
    values.shape.assert_is_compatible_with(tf.constant([[True, False], [False, True]]).shape)


# ------------------------------------------------------ tutorials/generative/cvae

def test_cvae_tutorial_trains_its_elbo_up():
    rng = np.random.default_rng(0)
    # images of two fixed patterns, so that the model has something to learn
    patterns = (rng.random((2, 28, 28, 1)) > .5).astype('float32')
    train_images = patterns[rng.integers(0, 2, 32)]
    tf.random.set_seed(1)
    train_dataset = tf.data.Dataset.from_tensor_slices(train_images).shuffle(32).batch(16)

    class CVAE(tf.keras.Model):
        def __init__(self, latent_dim):
            super(CVAE, self).__init__()
            self.latent_dim = latent_dim
            self.encoder = tf.keras.Sequential([
                tf.keras.layers.InputLayer(input_shape=(28, 28, 1)),
                tf.keras.layers.Conv2D(filters=4, kernel_size=3, strides=(2, 2),
                                       activation='relu'),
                tf.keras.layers.Conv2D(filters=4, kernel_size=3, strides=(2, 2),
                                       activation='relu'),
                tf.keras.layers.Flatten(),
                tf.keras.layers.Dense(latent_dim + latent_dim)])
            self.decoder = tf.keras.Sequential([
                tf.keras.layers.InputLayer(input_shape=(latent_dim,)),
                tf.keras.layers.Dense(units=7 * 7 * 4, activation=tf.nn.relu),
                tf.keras.layers.Reshape(target_shape=(7, 7, 4)),
                tf.keras.layers.Conv2DTranspose(filters=4, kernel_size=3, strides=2,
                                                padding='same', activation='relu'),
                tf.keras.layers.Conv2DTranspose(filters=4, kernel_size=3, strides=2,
                                                padding='same', activation='relu'),
                tf.keras.layers.Conv2DTranspose(filters=1, kernel_size=3, strides=1,
                                                padding='same')])

        @tf.function
        def sample(self, eps=None):
            if eps is None:
                eps = tf.random.normal(shape=(100, self.latent_dim))
            return self.decode(eps, apply_sigmoid=True)

        def encode(self, x):
            mean, logvar = tf.split(self.encoder(x), num_or_size_splits=2, axis=1)
            return mean, logvar

        def reparameterize(self, mean, logvar):
            eps = tf.random.normal(shape=mean.shape)
            return eps * tf.exp(logvar * .5) + mean

        def decode(self, z, apply_sigmoid=False):
            logits = self.decoder(z)
            if apply_sigmoid:
                return tf.sigmoid(logits)
            return logits

    optimizer = tf.keras.optimizers.Adam(1e-2)

    def log_normal_pdf(sample, mean, logvar, raxis=1):
        log2pi = tf.math.log(2. * np.pi)
        return tf.reduce_sum(
            -.5 * ((sample - mean) ** 2. * tf.exp(-logvar) + logvar + log2pi), axis=raxis)

    def compute_loss(model, x):
        mean, logvar = model.encode(x)
        z = model.reparameterize(mean, logvar)
        x_logit = model.decode(z)
        cross_ent = tf.nn.sigmoid_cross_entropy_with_logits(logits=x_logit, labels=x)
        logpx_z = -tf.reduce_sum(cross_ent, axis=[1, 2, 3])
        logpz = log_normal_pdf(z, 0., 0.)
        logqz_x = log_normal_pdf(z, mean, logvar)
        return -tf.reduce_mean(logpx_z + logpz - logqz_x)

    @tf.function
    def train_step(model, x, optimizer):
        with tf.GradientTape() as tape:
            loss = compute_loss(model, x)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    # the log density against the normal distribution's formula
    s, m, lv = np.array([[0.3, -1.0]]), np.array([[0.1, 0.5]]), np.array([[0.2, -0.4]])
    want = (-0.5 * ((s - m) ** 2 * np.exp(-lv) + lv + np.log(2 * np.pi))).sum(1)
    np.testing.assert_allclose(np.asarray(log_normal_pdf(tf.constant(s, tf.float32),
                                                         tf.constant(m, tf.float32),
                                                         tf.constant(lv, tf.float32))),
                               want, rtol=1e-5)
    model = CVAE(2)

    def elbo():
        loss = tf.keras.metrics.Mean()
        for _ in range(4):
            loss(compute_loss(model, train_images))
        return float(-loss.result())
    before = elbo()
    for epoch in range(40):
        for train_x in train_dataset:
            train_step(model, train_x, optimizer)
    after = elbo()
    assert np.isfinite(after) and after > before + 50, (before, after)
    assert model.sample(np.array([[0.1, -0.2]])).shape == (1, 28, 28, 1)
    probs = model.sample()
    assert probs.shape == (100, 28, 28, 1)
    assert 0 <= float(tf.reduce_min(probs)) and float(tf.reduce_max(probs)) <= 1


# ------------------------------------ guide/ragged_tensor: tf.Example and tf.data

def _example(colors, lengths):
    return tf.train.Example(features=tf.train.Features(feature={
        'colors': tf.train.Feature(bytes_list=tf.train.BytesList(value=colors)),
        'lengths': tf.train.Feature(int64_list=tf.train.Int64List(value=lengths)),
    })).SerializeToString()


def test_ragged_features_parsed_and_batched_in_datasets():
    example_batch = [_example([b"red", b"blue"], [7]), _example([b"orange"], []),
                     _example([b"black", b"yellow"], [1, 3]),
                     _example([b"green"], [3, 5, 2])]
    feature_specification = {
        'colors': tf.io.RaggedFeature(tf.string),
        'lengths': tf.io.RaggedFeature(tf.int64),
    }
    feature_tensors = tf.io.parse_example(example_batch, feature_specification)
    assert feature_tensors['colors'].to_list() == \
        [[b'red', b'blue'], [b'orange'], [b'black', b'yellow'], [b'green']]
    assert feature_tensors['lengths'].to_list() == [[7], [], [1, 3], [3, 5, 2]]
    assert feature_tensors['lengths'].dtype == tf.int64
    single = tf.io.parse_single_example(example_batch[3], feature_specification)
    assert np.asarray(single['lengths']).tolist() == [3, 5, 2]
    by_key = tf.io.parse_example(example_batch, {'n': tf.io.RaggedFeature(tf.int64,
                                                                         value_key='lengths')})
    assert by_key['n'].to_list() == [[7], [], [1, 3], [3, 5, 2]]
    with pytest.raises(ValueError, match="partitions"):
        tf.io.RaggedFeature(tf.int64, partitions=['x'])

    dataset = tf.data.Dataset.from_tensor_slices(feature_tensors)
    assert repr(dataset.element_spec['lengths']) == \
        "RaggedTensorSpec(TensorShape([None]), tf.int64, 0, tf.int64)"
    assert repr(dataset.batch(2).element_spec['colors']) == \
        "RaggedTensorSpec(TensorShape([None, None]), tf.string, 1, tf.int64)"
    assert dataset.element_spec['lengths'].is_compatible_with(tf.constant([1, 2], tf.int64))
    elements = list(dataset)
    assert [np.asarray(e['lengths']).tolist() for e in elements] == [[7], [], [1, 3], [3, 5, 2]]
    assert repr(elements[0]['lengths']).startswith('<tf.Tensor: shape=(1,), dtype=int64')
    # batches of ragged rows are RaggedTensors, and unbatch gives the rows back
    batched_dataset = dataset.batch(2)
    batches = list(batched_dataset)
    assert isinstance(batches[0]['colors'], tf.RaggedTensor)
    assert batches[0]['colors'].to_list() == [[b'red', b'blue'], [b'orange']]
    assert batches[1]['lengths'].to_list() == [[1, 3], [3, 5, 2]]
    unbatched = list(batched_dataset.unbatch())
    assert [np.asarray(e['lengths']).tolist() for e in unbatched] == \
        [[7], [], [1, 3], [3, 5, 2]]
    rebatched = list(batched_dataset.unbatch().shuffle(4, seed=1).batch(4))
    assert sorted(map(len, rebatched[0]['lengths'].to_list())) == [0, 1, 2, 3]
    # what a map computes from a row is a plain tensor again
    assert not isinstance(list(dataset.map(lambda f: f['lengths'] * 2))[0], tf.RaggedTensor)

    non_ragged_dataset = tf.data.Dataset.from_tensor_slices([1, 5, 3, 2, 8])
    non_ragged_dataset = non_ragged_dataset.map(tf.range)
    batched_non_ragged_dataset = non_ragged_dataset.apply(
        tf.data.experimental.dense_to_ragged_batch(2))
    assert [b.to_list() for b in batched_non_ragged_dataset] == \
        [[[0], [0, 1, 2, 3, 4]], [[0, 1, 2], [0, 1]], [list(range(8))]]

    def transform_lengths(features):
        return {
            'mean_length': tf.math.reduce_mean(features['lengths']),
            'length_ranges': tf.ragged.range(features['lengths'])}
    transformed = list(dataset.map(transform_lengths))
    assert [int(e['mean_length']) for e in transformed] == [7, 0, 2, 3]
    assert transformed[3]['length_ranges'].to_list() == [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1]]


def test_integer_reduce_mean_divides_toward_zero():
    assert int(tf.reduce_mean(tf.constant([1, 0, 1, 0]))) == 0
    assert int(tf.reduce_mean(tf.constant([-3, -4]))) == -3
    m = tf.reduce_mean(tf.constant([[1, 2], [3, 5]]), axis=0, keepdims=True)
    assert m.dtype == np.int32 and m.tolist() == [[2, 3]]
    assert int(tf.reduce_mean(np.zeros(0, np.int64))) == 0


def test_a_dtype_is_never_equal_to_none():
    # (as_dtype(None) is NumPy's float64: tf.float64 == None was True, and
    # tf.Variable(1.0, dtype=tf.float64) silently held float32)
    assert tf.float64 != None  # noqa: E711
    assert not (tf.float64 == None)  # noqa: E711
    assert None not in (tf.float64, tf.int32)
    with pytest.raises(ValueError, match="float32, or holds integers"):
        tf.Variable(1.0, dtype=tf.float64)
    assert tf.Variable(1, dtype=tf.int64).dtype == tf.int64


# ------------------------------------------------------ guide/core/quickstart_core

def test_core_quickstart_linear_regression_reaches_least_squares():
    tf.random.set_seed(22)
    rng = np.random.default_rng(0)
    n = 180
    features = np.column_stack([rng.integers(3, 9, n), rng.normal(200, 50, n),
                                rng.normal(100, 30, n), rng.normal(3000, 500, n),
                                rng.normal(15, 2, n), rng.integers(70, 83, n),
                                rng.integers(1, 4, n)]).astype(np.float64)
    mpg = 40 - 0.005 * features[:, 3] + 0.3 * (features[:, 5] - 70) + \
        2.0 * (features[:, 6] == 3) + rng.normal(0, 1, n)
    dataset = np.column_stack([mpg, features])  # (the notebook's DataFrame's values)
    dataset_tf = tf.convert_to_tensor(dataset, dtype=tf.float32)
    dataset_shuffled = tf.random.shuffle(dataset_tf, seed=22)
    assert sorted(np.asarray(dataset_shuffled)[:, 0].tolist()) == \
        sorted(np.asarray(dataset_tf)[:, 0].tolist())
    train_data, test_data = dataset_shuffled[60:], dataset_shuffled[:60]
    x_train, y_train = train_data[:, 1:], train_data[:, 0]
    x_test, y_test = test_data[:, 1:], test_data[:, 0]

    def onehot_origin(x):
        origin = tf.cast(x[:, -1], tf.int32)
        origin_oh = tf.one_hot(origin - 1, 3)
        return tf.concat([x[:, :-1], origin_oh], axis=1)

    x_train_ohe, x_test_ohe = onehot_origin(x_train), onehot_origin(x_test)
    assert x_train_ohe.shape == (120, 9)
    np.testing.assert_array_equal(np.asarray(x_train_ohe)[:, 6:].sum(1), 1)

    class Normalize(tf.Module):
        def __init__(self, x):
            self.mean = tf.math.reduce_mean(x, axis=0)
            self.std = tf.math.reduce_std(x, axis=0)

        def norm(self, x):
            return (x - self.mean) / self.std

        def unnorm(self, x):
            return (x * self.std) + self.mean

    norm_x = Normalize(x_train_ohe)
    norm_y = Normalize(y_train)
    x_train_norm, y_train_norm = norm_x.norm(x_train_ohe), norm_y.norm(y_train)
    x_test_norm = norm_x.norm(x_test_ohe)

    class LinearRegression(tf.Module):
        def __init__(self):
            self.built = False

        @tf.function
        def __call__(self, x):
            if not self.built:
                rand_w = tf.random.uniform(shape=[x.shape[-1], 1])
                rand_b = tf.random.uniform(shape=[])
                self.w = tf.Variable(rand_w)
                self.b = tf.Variable(rand_b)
                self.built = True
            y = tf.add(tf.matmul(x, self.w), self.b)
            return tf.squeeze(y, axis=1)

    lin_reg = LinearRegression()
    assert lin_reg(x_train_norm[:1]).shape == (1,)
    assert len(lin_reg.variables) == 2

    def mse_loss(y_pred, y):
        return tf.reduce_mean(tf.square(y_pred - y))

    train_dataset = tf.data.Dataset.from_tensor_slices((x_train_norm, y_train_norm))
    train_dataset = train_dataset.shuffle(buffer_size=x_train.shape[0]).batch(64)
    learning_rate = 0.05
    for epoch in range(150):
        batch_losses_train = []
        for x_batch, y_batch in train_dataset:
            with tf.GradientTape() as tape:
                batch_loss = mse_loss(lin_reg(x_batch), y_batch)
            grads = tape.gradient(batch_loss, lin_reg.variables)
            for g, v in zip(grads, lin_reg.variables):
                v.assign_sub(learning_rate * g)
            batch_losses_train.append(batch_loss)
        train_loss = tf.reduce_mean(batch_losses_train)
    assert f"{train_loss:0.3f}"
    # the least-squares fit of the same normalized data (the one-hot columns
    # are collinear with the bias: compare the predictions, not the weights)
    xn = np.asarray(x_train_norm, np.float64)
    design = np.column_stack([xn, np.ones(len(xn))])
    coef = np.linalg.lstsq(design, np.asarray(y_train_norm, np.float64), rcond=None)[0]
    best = np.mean((design @ coef - np.asarray(y_train_norm)) ** 2)
    assert float(mse_loss(lin_reg(x_train_norm), y_train_norm)) < best + 0.02

    class ExportModule(tf.Module):
        def __init__(self, model, extract_features, norm_x, norm_y):
            self.model = model
            self.extract_features = extract_features
            self.norm_x = norm_x
            self.norm_y = norm_y

        @tf.function(input_signature=[tf.TensorSpec(shape=[None, None], dtype=tf.float32)])
        def __call__(self, x):
            x = self.extract_features(x)
            x = self.norm_x.norm(x)
            y = self.model(x)
            return self.norm_y.unnorm(y)

    lin_reg_export = ExportModule(model=lin_reg, extract_features=onehot_origin,
                                  norm_x=norm_x, norm_y=norm_y)
    test_preds = lin_reg_export(x_test)
    np.testing.assert_allclose(np.asarray(test_preds),
                               np.asarray(norm_y.unnorm(lin_reg(x_test_norm))), rtol=1e-5)
    assert float(np.mean(np.abs(np.asarray(test_preds) - np.asarray(y_test)))) < 2.0


# ------------------------------------------- tutorials/structured_data/time_series

class _Frame:
    """The parts of a DataFrame the time series tutorial reads."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values, np.float32), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def test_time_series_tutorial_windows_baseline_and_autoregressive_lstm():
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    t = np.arange(300)
    data = np.column_stack([np.sin(t / 8) + 0.1 * rng.normal(size=300), np.cos(t / 8),
                            0.5 * np.sin(t / 16)])
    columns = ['T (degC)', 'p (mbar)', 'rh (%)']
    train_df, val_df, test_df = (_Frame(data[:200], columns), _Frame(data[200:250], columns),
                                 _Frame(data[250:], columns))
    column_indices = {name: i for i, name in enumerate(columns)}
    num_features = 3

    class WindowGenerator():
        def __init__(self, input_width, label_width, shift, train_df=train_df, val_df=val_df,
                     test_df=test_df, label_columns=None):
            self.train_df, self.val_df, self.test_df = train_df, val_df, test_df
            self.label_columns = label_columns
            self.column_indices = {name: i for i, name in enumerate(train_df.columns)}
            self.input_width, self.label_width, self.shift = input_width, label_width, shift
            self.total_window_size = input_width + shift
            self.input_slice = slice(0, input_width)
            self.label_start = self.total_window_size - self.label_width
            self.labels_slice = slice(self.label_start, None)

        def split_window(self, features):
            inputs = features[:, self.input_slice, :]
            labels = features[:, self.labels_slice, :]
            if self.label_columns is not None:
                labels = tf.stack(
                    [labels[:, :, self.column_indices[name]] for name in self.label_columns],
                    axis=-1)
            inputs.set_shape([None, self.input_width, None])
            labels.set_shape([None, self.label_width, None])
            return inputs, labels

        def make_dataset(self, data):
            data = np.array(data, dtype=np.float32)
            ds = tf.keras.utils.timeseries_dataset_from_array(
                data=data, targets=None, sequence_length=self.total_window_size,
                sequence_stride=1, shuffle=True, batch_size=32)
            return ds.map(self.split_window)

        @property
        def train(self):
            return self.make_dataset(self.train_df)

        @property
        def val(self):
            return self.make_dataset(self.val_df)

        @property
        def test(self):
            return self.make_dataset(self.test_df)

        @property
        def example(self):
            result = getattr(self, '_example', None)
            if result is None:
                result = next(iter(self.train))
                self._example = result
            return result

    w2 = WindowGenerator(input_width=6, label_width=1, shift=1, label_columns=['T (degC)'])
    example_window = tf.stack([train_df.values[:7], train_df.values[100:107],
                               train_df.values[150:157]])
    example_inputs, example_labels = w2.split_window(example_window)
    assert example_inputs.shape == (3, 6, 3) and example_labels.shape == (3, 1, 1)
    np.testing.assert_array_equal(np.asarray(example_labels)[:, 0, 0],
                                  np.asarray(example_window)[:, 6, 0])
    inputs_spec, labels_spec = w2.train.element_spec
    assert tuple(inputs_spec.shape) == (None, 6, 3) and tuple(labels_spec.shape) == (None, 1, 1)

    class Baseline(tf.keras.Model):
        def __init__(self, label_index=None):
            super().__init__()
            self.label_index = label_index

        def call(self, inputs):
            if self.label_index is None:
                return inputs
            result = inputs[:, :, self.label_index]
            return result[:, :, tf.newaxis]

    single_step_window = WindowGenerator(input_width=1, label_width=1, shift=1,
                                         label_columns=['T (degC)'])
    baseline = Baseline(label_index=column_indices['T (degC)'])
    baseline.compile(loss=tf.keras.losses.MeanSquaredError(),
                     metrics=[tf.keras.metrics.MeanAbsoluteError()])
    got = baseline.evaluate(single_step_window.val, return_dict=True, verbose=0)
    step = np.diff(val_df.values[:, 0].astype(np.float64))
    np.testing.assert_allclose(got['loss'], np.mean(step ** 2), rtol=1e-4)
    np.testing.assert_allclose(got['mean_absolute_error'], np.mean(np.abs(step)), rtol=1e-4)

    def compile_and_fit(model, window, epochs, patience=2):
        early_stopping = tf.keras.callbacks.EarlyStopping(monitor='val_loss',
                                                          patience=patience, mode='min')
        model.compile(loss=tf.keras.losses.MeanSquaredError(),
                      optimizer=tf.keras.optimizers.Adam(learning_rate=0.01),
                      metrics=[tf.keras.metrics.MeanAbsoluteError()])
        return model.fit(window.train, epochs=epochs, validation_data=window.val,
                         callbacks=[early_stopping], verbose=0)

    class ResidualWrapper(tf.keras.Model):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def call(self, inputs, *args, **kwargs):
            delta = self.model(inputs, *args, **kwargs)
            return inputs + delta

    residual_lstm = ResidualWrapper(tf.keras.Sequential([
        tf.keras.layers.LSTM(8, return_sequences=True),
        tf.keras.layers.Dense(num_features, kernel_initializer=tf.initializers.zeros())]))
    wide_window = WindowGenerator(input_width=24, label_width=24, shift=1)
    # (zero-initialized: before training it is the last-value baseline)
    x0, y0 = wide_window.example
    np.testing.assert_allclose(np.asarray(residual_lstm(x0)), np.asarray(x0), atol=1e-6)
    history = compile_and_fit(residual_lstm, wide_window, epochs=2)
    assert sorted(history.history) == ['loss', 'mean_absolute_error', 'val_loss',
                                       'val_mean_absolute_error']

    OUT_STEPS = 5
    multi_window = WindowGenerator(input_width=12, label_width=OUT_STEPS, shift=OUT_STEPS)

    class FeedBack(tf.keras.Model):
        def __init__(self, units, out_steps):
            super().__init__()
            self.out_steps = out_steps
            self.units = units
            self.lstm_cell = tf.keras.layers.LSTMCell(units)
            self.lstm_rnn = tf.keras.layers.RNN(self.lstm_cell, return_state=True)
            self.dense = tf.keras.layers.Dense(num_features)

        def warmup(self, inputs):
            x, *state = self.lstm_rnn(inputs)
            prediction = self.dense(x)
            return prediction, state

        def call(self, inputs, training=None):
            predictions = []
            prediction, state = self.warmup(inputs)
            predictions.append(prediction)
            for n in range(1, self.out_steps):
                x = prediction
                x, state = self.lstm_cell(x, states=state, training=training)
                prediction = self.dense(x)
                predictions.append(prediction)
            predictions = tf.stack(predictions)
            return tf.transpose(predictions, [1, 0, 2])

    feedback_model = FeedBack(units=8, out_steps=OUT_STEPS)
    prediction, state = feedback_model.warmup(multi_window.example[0])
    assert prediction.shape == (32, 3) and len(state) == 2
    assert feedback_model(multi_window.example[0]).shape == (32, OUT_STEPS, 3)
    history = compile_and_fit(feedback_model, multi_window, epochs=4)
    losses = history.history['loss']
    assert losses[-1] < losses[0], losses
    # the cell's steps are the layer's: the warmup's last state continues the sequence
    xs = multi_window.example[0][:2]
    full, h, c = feedback_model.lstm_rnn(xs)
    step, (h2, c2) = feedback_model.lstm_cell(xs[:, -1], states=list(
        feedback_model.lstm_rnn(xs[:, :-1])[1:]))
    np.testing.assert_allclose(np.asarray(step), np.asarray(full), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(c2), np.asarray(c), rtol=1e-5, atol=1e-6)


@needs_keras
def test_rnn_of_a_cell_takes_sequences_of_another_length_as_keras():
    rng = np.random.default_rng(0)
    first = rng.normal(size=(2, 12, 3)).astype(np.float32)
    shorter = rng.normal(size=(2, 5, 3)).astype(np.float32)
    ours = tf.keras.layers.RNN(tf.keras.layers.LSTMCell(4), return_state=True)
    theirs = real_keras.layers.RNN(real_keras.layers.LSTMCell(4), return_state=True)
    ours(first)
    theirs(first)
    theirs.set_weights(ours.get_weights())
    for got, want in zip(ours(shorter), theirs(shorter)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected steps of shape"):
        ours(rng.normal(size=(2, 5, 4)).astype(np.float32))


# ------------------------------------ tutorials/reinforcement_learning/actor_critic

class _CartPole:
    """CartPole-v1's dynamics (gym's classic control), in NumPy."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.s = self.rng.uniform(-0.05, 0.05, 4)
        return self.s.astype(np.float32), {}

    def step(self, action):
        x, x_dot, th, th_dot = self.s
        force = 10.0 if action == 1 else -10.0
        g, mc, mp, half, tau = 9.8, 1.0, 0.1, 0.5, 0.02
        total = mc + mp
        cos, sin = np.cos(th), np.sin(th)
        temp = (force + mp * half * th_dot ** 2 * sin) / total
        th_acc = (g * sin - cos * temp) / (half * (4.0 / 3.0 - mp * cos ** 2 / total))
        x_acc = temp - mp * half * th_acc * cos / total
        x, x_dot = x + tau * x_dot, x_dot + tau * x_acc
        th, th_dot = th + tau * th_dot, th_dot + tau * th_acc
        self.s = np.array([x, x_dot, th, th_dot])
        done = bool(abs(x) > 2.4 or abs(th) > 12 * 2 * np.pi / 360)
        return self.s, 1.0, done, False, {}


def test_actor_critic_tutorial_episode_returns_and_gradients():
    env = _CartPole()
    tf.random.set_seed(42)
    eps = np.finfo(np.float32).eps.item()

    class ActorCritic(tf.keras.Model):
        def __init__(self, num_actions, num_hidden_units):
            super().__init__()
            self.common = tf.keras.layers.Dense(num_hidden_units, activation="relu")
            self.actor = tf.keras.layers.Dense(num_actions)
            self.critic = tf.keras.layers.Dense(1)

        def call(self, inputs):
            x = self.common(inputs)
            return self.actor(x), self.critic(x)

    model = ActorCritic(2, 16)

    @tf.numpy_function(Tout=[tf.float32, tf.int32, tf.int32])
    def env_step(action):
        state, reward, done, truncated, info = env.step(action)
        return (state.astype(np.float32), np.array(reward, np.int32), np.array(done, np.int32))

    def run_episode(initial_state, model, max_steps):
        action_probs = tf.TensorArray(dtype=tf.float32, size=0, dynamic_size=True)
        values = tf.TensorArray(dtype=tf.float32, size=0, dynamic_size=True)
        rewards = tf.TensorArray(dtype=tf.int32, size=0, dynamic_size=True)
        initial_state_shape = initial_state.shape
        state = initial_state
        for t in tf.range(max_steps):
            state = tf.expand_dims(state, 0)
            action_logits_t, value = model(state)
            action = tf.random.categorical(action_logits_t, 1)[0, 0]
            action_probs_t = tf.nn.softmax(action_logits_t)
            values = values.write(t, tf.squeeze(value))
            action_probs = action_probs.write(t, action_probs_t[0, action])
            state, reward, done = env_step(action)
            state.set_shape(initial_state_shape)
            rewards = rewards.write(t, reward)
            if tf.cast(done, tf.bool):
                break
        return action_probs.stack(), values.stack(), rewards.stack()

    def get_expected_return(rewards, gamma, standardize=True):
        n = tf.shape(rewards)[0]
        returns = tf.TensorArray(dtype=tf.float32, size=n)
        rewards = tf.cast(rewards[::-1], dtype=tf.float32)
        discounted_sum = tf.constant(0.0)
        discounted_sum_shape = discounted_sum.shape
        for i in tf.range(n):
            reward = rewards[i]
            discounted_sum = reward + gamma * discounted_sum
            discounted_sum.set_shape(discounted_sum_shape)
            returns = returns.write(i, discounted_sum)
        returns = returns.stack()[::-1]
        if standardize:
            returns = ((returns - tf.math.reduce_mean(returns)) /
                       (tf.math.reduce_std(returns) + eps))
        return returns

    np.testing.assert_allclose(np.asarray(get_expected_return(tf.constant([1, 1, 1]), 0.5,
                                                              False)), [1.75, 1.5, 1.0])
    r = np.array([1.0, 0.0, 2.0, 1.0])
    disc = np.array([sum(0.9 ** k * r[i + k] for k in range(len(r) - i)) for i in range(4)])
    np.testing.assert_allclose(np.asarray(get_expected_return(tf.constant([1, 0, 2, 1]), 0.9)),
                               (disc - disc.mean()) / (disc.std() + eps), rtol=1e-5)

    huber_loss = tf.keras.losses.Huber(reduction=tf.keras.losses.Reduction.SUM)

    def compute_loss(action_probs, values, returns):
        advantage = returns - values
        action_log_probs = tf.math.log(action_probs)
        actor_loss = -tf.math.reduce_sum(action_log_probs * advantage)
        critic_loss = huber_loss(values, returns)
        return actor_loss + critic_loss

    optimizer = tf.keras.optimizers.Adam(learning_rate=0.01)
    seen = {}

    @tf.function
    def train_step(initial_state, model, optimizer, gamma, max_steps_per_episode):
        with tf.GradientTape() as tape:
            action_probs, values, rewards = run_episode(initial_state, model,
                                                        max_steps_per_episode)
            returns = get_expected_return(rewards, gamma)
            action_probs, values, returns = [
                tf.expand_dims(x, 1) for x in [action_probs, values, returns]]
            loss = compute_loss(action_probs, values, returns)
        grads = tape.gradient(loss, model.trainable_variables)
        seen.update(probs=np.asarray(action_probs, np.float64),
                    values=np.asarray(values, np.float64),
                    returns=np.asarray(returns, np.float64),
                    grads={id(v): np.asarray(g) for v, g in
                           zip(model.trainable_variables, grads)})
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return tf.math.reduce_sum(rewards)

    for episode in range(3):
        initial_state, info = env.reset()
        initial_state = tf.constant(initial_state, dtype=tf.float32)
        episode_reward = int(train_step(initial_state, model, optimizer, 0.99, 60))
        assert 1 <= episode_reward <= 60
        assert seen['probs'].shape == (episode_reward, 1)
        assert all(np.all(np.isfinite(g)) and np.any(g) for g in seen['grads'].values())
        # through the TensorArrays: d loss / d critic bias = sum_t (log p_t + clip(v_t - R_t))
        want = np.sum(np.log(seen['probs']) + np.clip(seen['values'] - seen['returns'], -1, 1))
        np.testing.assert_allclose(seen['grads'][id(model.critic.bias)], [want], rtol=1e-4,
                                   atol=1e-5)
