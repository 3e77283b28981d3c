"""keras.io's example programs (vision, structured data, time series,
text, generative), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import math

import numpy as np
import pytest

import pynn
from pynn import layers, ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ------------------------- MultiHeadAttention with its attention overridden

def lsa_class(lib, keras_signature):
    """vit_small_ds.py's locality self-attention: a learned temperature in
    place of sqrt(key_dim), through Keras's protected attributes."""

    class LSA(lib.layers.MultiHeadAttention):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tau = lib.Variable(math.sqrt(float(self._key_dim)) * 2.0, trainable=True)

        def attend(self, query, key, value, attention_mask, training):
            query = lib.ops.multiply(query, 1.0 / self.tau)
            scores = lib.ops.einsum(self._dot_product_equation, key, query)
            scores = self._masked_softmax(scores, attention_mask)
            dropped = self._dropout_layer(scores, training=training)
            return lib.ops.einsum(self._combine_equation, dropped, value), scores

    if keras_signature:
        class Override(LSA):
            def _compute_attention(self, query, key, value, attention_mask=None,
                                   training=None, return_attention_scores=False):
                return self.attend(query, key, value, attention_mask, training)
    else:  # the signature the program was written with
        class Override(LSA):
            def _compute_attention(self, query, key, value, attention_mask=None,
                                   training=None):
                return self.attend(query, key, value, attention_mask, training)
    return Override


def test_multi_head_attention_subclass_overriding_compute_attention(keras):
    x = rand(2, 5, 6)
    mask = (1 - np.eye(5, dtype="int8"))[None]
    theirs = lsa_class(keras, True)(num_heads=2, key_dim=3, dropout=0.1)
    want, want_scores = theirs(x, x, attention_mask=mask, return_attention_scores=True)
    ours = lsa_class(pynn, False)(num_heads=2, key_dim=3, dropout=0.1)
    ours(x, x, attention_mask=mask)
    ours.set_weights(theirs.get_weights())
    got, scores = ours(x, x, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)
    # the diagonal is masked: every query attends only to the other steps
    np.testing.assert_array_equal(np.asarray(scores)[:, :, np.arange(5), np.arange(5)], 0)


def test_overridden_attention_trains_its_own_variable():
    lsa = lsa_class(pynn, False)
    inputs = layers.Input((4, 6))
    mask = (1 - ops.eye(4))[None]
    x = lsa(num_heads=2, key_dim=3)(inputs, inputs, attention_mask=ops.cast(mask, "int8"))
    model = pynn.Model(inputs, layers.Dense(1)(layers.Flatten()(x)))
    layer = model.layers[1]
    assert any(w is layer.tau for w in layer.trainable_weights)
    model.compile("adam", "mse")
    before = float(ops.convert_to_numpy(layer.tau))
    model.fit(rand(16, 4, 6), rand(16, 1), epochs=2, verbose=0)
    assert float(ops.convert_to_numpy(layer.tau)) != before


# ------------------- deit.py: tokens, two heads in training, a distiller

class TwoHeads(pynn.Model):
    """A class token tiled to the batch (``tf.tile(self.cls, (n, 1, 1))``,
    n = ``tf.shape(x)[0]``), a learned position table added to the tokens,
    and two heads: both returned in training, their mean at inference (the
    call's default is training=True)."""

    def __init__(self):
        super().__init__()
        self.proj = layers.Dense(4)
        self.cls = pynn.Variable(pynn.zeros((1, 1, 4)), name="cls")
        self.pos = pynn.Variable(pynn.zeros((1, 4, 4)), name="pos")
        self.head = layers.Dense(2)
        self.head_dist = layers.Dense(2)

    def call(self, x, training=True):
        n = pynn.shape(x)[0]
        tokens = pynn.concat([pynn.tile(self.cls, (n, 1, 1)), self.proj(x)], axis=1)
        tokens = self.pos + tokens
        a, b = self.head(tokens[:, 0]), self.head_dist(tokens[:, 1])
        if not training:
            return (a + b) / 2
        return a, b


def test_a_token_tiled_to_the_batch_and_the_inference_branch_of_a_call():
    model = TwoHeads()
    x = rand(5, 3, 6)
    out = model(x, training=False)  # the first call: the graph is traced in training
    assert tuple(out.shape) == (5, 2)
    a, b = model(x, training=True)
    np.testing.assert_allclose(out, (np.asarray(a) + np.asarray(b)) / 2, rtol=1e-5, atol=1e-6)
    # every row's class token is the one tiled weight: head(cls + pos[0])
    cls = np.asarray(model.cls) + np.asarray(model.pos)[:, 0]
    want = cls[0] @ np.asarray(model.head.kernel) + np.asarray(model.head.bias)
    np.testing.assert_allclose(np.asarray(a), np.tile(want, (5, 1)), rtol=1e-5, atol=1e-6)


def test_a_student_first_called_inside_a_gradient_tape_trains_its_tokens():
    """deit.py's distiller: the student is first called (and so traced)
    inside train_step's GradientTape; its own variables are added to and
    tiled in that call."""
    student = TwoHeads()
    opt = pynn.optimizers.Adam(0.1)
    x, y = rand(8, 3, 6), rand(8, 2, seed=1)
    with pynn.GradientTape() as tape:
        a, b = student(x, training=True)
        loss = ops.mean((a - y) ** 2) + ops.mean((b - y) ** 2)
    grads = tape.gradient(loss, student.trainable_variables)
    named = {v.name: g for v, g in zip(student.trainable_variables, grads)}
    assert np.abs(np.asarray(named["cls"])).sum() > 0
    assert np.abs(np.asarray(named["pos"])).sum() > 0
    opt.apply_gradients(zip(grads, student.trainable_variables))
    assert np.abs(np.asarray(student.cls)).sum() > 0


def test_tile_by_an_unknown_batch_size_outside_a_traced_call_is_refused():
    with pytest.raises(ValueError, match="unknown size"):
        ops.tile(np.zeros((1, 2), "float32"), (None, 1))


def test_tf_keras_names_after_import_pynn_as_tf():
    import pynn as tf
    assert tf.keras.layers.Dense is layers.Dense
    assert tf.keras.utils.set_random_seed is pynn.utils.set_random_seed


# ------------- pretrained_word_embeddings.py: vectorized text to NumPy

def test_data_layers_called_on_arrays_give_tensors_with_numpy():
    """``x_train = vectorizer(np.array([[s] for s in texts])).numpy()``."""
    vectorizer = layers.TextVectorization(output_sequence_length=4)
    vectorizer.adapt(["graphics card", "space orbit orbit"])
    ids = vectorizer(np.array([["orbit graphics"], ["card"]])).numpy()
    assert type(ids) is np.ndarray and ids.dtype == np.int64
    vocab = vectorizer.get_vocabulary()
    np.testing.assert_array_equal(ids, [[vocab.index("orbit"), vocab.index("graphics"), 0, 0],
                                        [vocab.index("card"), 0, 0, 0]])
    lookup = layers.StringLookup(vocabulary=["a", "b"])
    np.testing.assert_array_equal(lookup(np.array(["b", "z"])).numpy(), [2, 0])
    np.testing.assert_array_equal(
        layers.CategoryEncoding(3, output_mode="one_hot")(np.array([2, 0])).numpy(),
        [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(
        layers.Discretization(bin_boundaries=[0.0, 1.0])(np.array([-1.0, 0.5, 2.0])).numpy(),
        [0, 1, 2])
    crossed = layers.HashedCrossing(num_bins=5)((np.array([1, 2]), np.array(["x", "y"])))
    assert crossed.numpy().shape == (2,)


# ------------------ deep_dream.py: loss = tf.zeros(shape=()); loss += ...

def test_in_place_add_of_a_traced_term_to_tf_zeros():
    import pynn as tf
    x = rand(2, 3)
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(4)])

    def gradient(in_place):
        with tf.GradientTape() as tape:
            tape.watch(x)
            activation = model(x)
            scaling = tf.reduce_prod(tf.cast(tf.shape(activation), "float32"))
            loss = tf.zeros(shape=())
            term = 1.5 * tf.reduce_sum(tf.square(activation)) / scaling
            if in_place:
                loss += term
            else:
                loss = loss + term
        return tape.gradient(loss, x)
    want = gradient(in_place=False)
    assert np.abs(np.asarray(want)).max() > 0
    np.testing.assert_allclose(gradient(in_place=True), want, rtol=1e-6)


# --------- perceiver_image_classification.py: one latent array, a batch

def cross_attention(lib):
    latent = lib.layers.Input(shape=(4, 6), name="latent_array")
    data = lib.layers.Input(shape=(5, 6), name="data_array")
    query = lib.layers.Dense(6)(latent)
    key, value = lib.layers.Dense(6)(data), lib.layers.Dense(6)(data)
    out = lib.layers.Attention(use_scale=True)([query, key, value])
    out = lib.layers.Add()([out, latent])
    return lib.Model({"latent_array": latent, "data_array": data}, out)


def test_a_graph_called_on_one_latent_array_and_a_batch_matches_keras(keras, tmp_path):
    """Perceiver's cross-attention module is called on
    ``{"latent_array": expand_dims(weight, 0), "data_array": batch}``."""
    ours = cross_attention(pynn)
    ours.save(tmp_path / "cross.keras")
    theirs = keras.models.load_model(tmp_path / "cross.keras")
    inputs = {"latent_array": rand(1, 4, 6, seed=1), "data_array": rand(3, 5, 6, seed=2)}
    want = np.asarray(theirs(inputs))
    got = ours(inputs)
    assert got.shape == want.shape == (3, 4, 6)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="different numbers of samples"):
        ours({"latent_array": rand(2, 4, 6), "data_array": rand(3, 5, 6)})
    with pytest.raises(ValueError, match="different numbers of samples"):
        ours.predict(inputs, verbose=0)


def test_extract_patches_takes_the_first_keras_3_name_of_its_images(keras):
    images = rand(2, 8, 8, 3)
    want = keras.ops.image.extract_patches(images, 4)
    np.testing.assert_allclose(ops.image.extract_patches(image=images, size=(4, 4)), want)
    np.testing.assert_allclose(ops.image.extract_patches(images=images, size=4), want)


# ------- memory_efficient_embeddings.py: quotient-remainder embeddings

def test_tf_math_floordiv_and_floormod_split_ids_into_quotient_and_remainder():
    import pynn as tf
    ids = np.array([0, 7, 9, 23, -7], dtype=np.int64)
    q, r = tf.math.floordiv(ids, 8), tf.math.floormod(ids, 8)
    assert np.asarray(q).dtype == np.int64 and np.asarray(r).dtype == np.int64
    np.testing.assert_array_equal(q, [0, 0, 1, 2, -1])
    np.testing.assert_array_equal(r, [0, 7, 1, 7, 1])
    np.testing.assert_array_equal(np.asarray(q) * 8 + np.asarray(r), ids)
    np.testing.assert_allclose(tf.math.floormod(np.float32(-7.5), 2.0), 0.5)
    np.testing.assert_array_equal(tf.math.mod(ids, 8), r)


# -------------- masked_image_modeling.py: a trained mask token repeated

def test_tf_repeat_of_a_trained_token_and_of_integer_indices():
    import pynn as tf

    class Tokens(layers.Layer):
        def __init__(self):
            super().__init__()
            self.mask_token = tf.Variable(tf.random.normal([1, 3]), trainable=True)

        def call(self, x):
            tokens = tf.repeat(self.mask_token, repeats=2, axis=0)
            tokens = tf.repeat(tokens[tf.newaxis, ...], repeats=tf.shape(x)[0], axis=0)
            return x + tokens

    layer = Tokens()
    x = rand(4, 2, 3)
    out = layer(x)
    np.testing.assert_allclose(out, x + np.asarray(layer.mask_token)[None], rtol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    grad = tape.gradient(loss, layer.mask_token)
    np.testing.assert_allclose(grad, np.full((1, 3), 8.0))     # 4 samples x 2 copies
    ids = np.array([[3, 1]], dtype=np.int32)
    rep = tf.repeat(ids, repeats=[2, 1], axis=1)
    assert np.asarray(rep).dtype == np.int32
    np.testing.assert_array_equal(rep, [[3, 3, 1]])
    np.testing.assert_array_equal(tf.repeat(ids, 2), [3, 3, 1, 1])


# ------------- gnn_citations.py: a model computing on its graph's arrays

def test_layers_called_on_arrays_in_a_subclassed_call_train():
    """A position table looked up by ops.arange inside a subclassed
    model's call trains, as Keras's call at every step trains it."""
    class Positions(pynn.Model):
        def __init__(self):
            super().__init__()
            self.pos = layers.Embedding(4, 3)
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(layers.Flatten()(x + self.pos(ops.arange(4))))

    model = Positions()
    x, y = rand(16, 4, 3), rand(16, 1, seed=1)
    model(x)
    table = np.array(model.pos.embeddings)
    kernel = np.array(model.out.kernel)
    # the loss's gradient with respect to the table: 2/n (pred - y) times
    # the kernel, each position's rows summed over the batch
    err = np.asarray(model(x)) - y
    want = (2.0 / 16 * err * kernel[:, 0].reshape(1, 12)).sum(0).reshape(4, 3)
    with pynn.GradientTape() as tape:        # a custom train_step's tape
        loss = ops.mean((model(x) - y) ** 2)
    np.testing.assert_allclose(tape.gradient(loss, model.pos.embeddings), want,
                               rtol=1e-4, atol=1e-6)
    model.compile(pynn.optimizers.SGD(learning_rate=0.1), "mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(np.array(model.pos.embeddings), table - 0.1 * want,
                               rtol=1e-4, atol=1e-6)


def unsorted(fn, data, ids, n):
    out = []
    for s in range(n):
        rows = data[ids == s]
        out.append(fn(rows) if len(rows) else None)
    return out


def test_unsorted_segment_reductions_and_their_gradients():
    import pynn as tf
    data = rand(7, 3)
    data[4] = data[1]                                    # a tie in segment 2
    ids = np.array([2, 2, 0, 3, 2, 0, 3])
    s = tf.math.unsorted_segment_sum(data, ids, num_segments=5)
    m = tf.math.unsorted_segment_mean(data, ids, num_segments=5)
    mx = tf.math.unsorted_segment_max(data, ids, num_segments=5)
    for seg, (a, b, c) in enumerate(zip(unsorted(lambda r: r.sum(0), data, ids, 5),
                                        unsorted(lambda r: r.mean(0), data, ids, 5),
                                        unsorted(lambda r: r.max(0), data, ids, 5))):
        if a is None:                                    # segment 1 and 4: no rows
            np.testing.assert_array_equal(s[seg], 0)
            np.testing.assert_array_equal(m[seg], 0)
            np.testing.assert_array_equal(mx[seg], np.finfo(np.float32).min)
        else:
            np.testing.assert_allclose(s[seg], a, rtol=1e-6)
            np.testing.assert_allclose(m[seg], b, rtol=1e-6)
            np.testing.assert_allclose(mx[seg], c, rtol=1e-6)
    x = tf.Variable(data)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.math.unsorted_segment_max(x, ids, num_segments=5)[:4]) + \
            tf.reduce_sum(tf.math.unsorted_segment_mean(x, ids, num_segments=5))
    grad = np.asarray(tape.gradient(loss, x))
    counts = np.bincount(ids, minlength=5)
    want = 1.0 / counts[ids][:, None] * np.ones((7, 3))
    for seg in (0, 2, 3):
        rows = np.where(ids == seg)[0]
        top = data[rows].max(0)
        for j in range(3):
            hits = rows[data[rows, j] == top[j]]
            want[hits, j] += 1.0 / len(hits)             # ties share the gradient
    np.testing.assert_allclose(grad, want, rtol=1e-6)


class MeanOfNeighbours(layers.Layer):
    def call(self, inputs):
        import pynn as tf
        x, edges = inputs
        messages = tf.gather(x, edges[1])
        return x + tf.math.unsorted_segment_mean(messages, edges[0], num_segments=x.shape[0])


class NodeClassifier(pynn.Model):
    """gnn_citations.py's pattern: node features and edges held by the
    model, blocks over all nodes in its call (a layer given the features
    and the integer edges), the rows of the input's node ids gathered at
    the end."""

    def __init__(self, features, edges):
        super().__init__()
        self.node_features, self.edges = features, edges
        self.prepare = pynn.Sequential([layers.Dense(4, activation="relu")])
        self.conv = MeanOfNeighbours()
        self.logits = layers.Dense(2)

    def call(self, node_ids):
        import pynn as tf
        x = self.conv((self.prepare(self.node_features), self.edges))
        return self.logits(tf.gather(x, node_ids))


def reference(model, node_ids):
    x = np.maximum(model.node_features @ np.array(model.prepare.layers[0].kernel)
                   + np.array(model.prepare.layers[0].bias), 0)
    agg = np.zeros_like(x)
    for s in range(len(x)):
        rows = x[model.edges[1][model.edges[0] == s]]
        if len(rows):
            agg[s] = rows.mean(0)
    x = x + agg
    return x[node_ids] @ np.array(model.logits.kernel) + np.array(model.logits.bias)


def test_a_model_over_its_graphs_nodes_trains_and_follows_new_nodes():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(10, 3)).astype(np.float32)
    edges = rng.integers(0, 10, (2, 25))
    model = NodeClassifier(features, edges)
    out = model([1, 4, 9])                       # Python ints: integer node ids
    assert [type(layer).__name__ for layer in model.layers] == \
        ["Sequential", "MeanOfNeighbours", "Dense"]
    np.testing.assert_allclose(out, reference(model, [1, 4, 9]), rtol=1e-5, atol=1e-6)
    kernel = np.array(model.prepare.layers[0].kernel)
    model.compile("adam", pynn.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.arange(10), rng.integers(0, 2, 10), epochs=2, batch_size=5, verbose=0)
    assert np.abs(np.array(model.prepare.layers[0].kernel) - kernel).max() > 0
    # new nodes and edges: the call runs on them, as Keras's does
    model.node_features = np.concatenate([features, rng.normal(size=(2, 3)).astype(np.float32)])
    model.edges = np.concatenate([edges, [[10, 11, 10], [0, 1, 11]]], axis=1)
    got = model.predict(np.array([10, 11, 3]), verbose=0)
    np.testing.assert_allclose(got, reference(model, [10, 11, 3]), rtol=1e-5, atol=1e-6)


def test_a_class_token_tiled_to_the_batch_in_a_traced_call_trains():
    """ViT's class token: ``tf.tile(self.cls, (tf.shape(x)[0], 1, 1))`` in a
    call traced into a graph (the batch size unknown there)."""
    import pynn as tf

    class Tokens(pynn.Model):
        def __init__(self):
            super().__init__()
            self.proj = layers.Dense(4)
            self.cls = tf.Variable(tf.zeros((1, 1, 4)), name="cls")
            self.head = layers.Dense(2)

        def call(self, x):
            n = tf.shape(x)[0]
            tokens = tf.concat([tf.tile(self.cls, (n, 1, 1)), self.proj(x)], axis=1)
            return self.head(tokens[:, 0])

    model = Tokens()
    x = rand(5, 3, 6)
    out = model(x)
    assert model._traced_call
    want = np.asarray(model.cls)[0] @ np.asarray(model.head.kernel) + np.asarray(model.head.bias)
    np.testing.assert_allclose(out, np.tile(want, (5, 1)), rtol=1e-6, atol=1e-6)
    model.compile("adam", "mse")
    model.fit(x, np.ones((5, 2), np.float32), epochs=2, verbose=0)
    assert np.abs(np.asarray(model.cls)).max() > 0
    assert model.predict(rand(7, 3, 6), verbose=0).shape == (7, 2)
