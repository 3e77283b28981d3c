"""keras.io's text, structured-data and time-series programs, run with only
their imports changed: the behaviours they rely on (float ids into an
Embedding inside a custom layer, integer concatenation for a tile's
repeats, Keras's older output-mode names, ragged label lists for a
StringLookup), against Keras 3 on its NumPy backend where it runs the
same thing."""
import os

import numpy as np
import pytest

import pynn as keras
from pynn import layers, ops

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras as real_keras
except Exception:  # missing, or a backend that cannot load here
    real_keras = None

needs_keras = pytest.mark.skipif(real_keras is None, reason="Keras 3 is not installed")


class TokenAndPositionEmbedding(layers.Layer):
    """text_classification_with_transformer.py's layer, fed by a float32
    ``Input(shape=(maxlen,))``."""

    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        return self.token_emb(x) + self.pos_emb(positions)


def test_float_input_feeds_an_embedding_inside_a_custom_layer():
    maxlen, vocab = 7, 33
    inputs = layers.Input(shape=(maxlen,))  # float32, as in the program
    emb = TokenAndPositionEmbedding(maxlen, vocab, 4)
    x = layers.GlobalAveragePooling1D()(emb(inputs))
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    ids = np.random.default_rng(0).integers(0, vocab, (9, maxlen))
    before = emb.token_emb.embeddings.numpy().copy()
    model.fit(ids, ids[:, 0] % 2, batch_size=4, epochs=1, verbose=0)
    assert not np.allclose(before, emb.token_emb.embeddings.numpy())
    table, positions = emb.token_emb.embeddings.numpy(), emb.pos_emb.embeddings.numpy()
    np.testing.assert_allclose(emb(ids.astype(np.float32)), table[ids] + positions, rtol=1e-6)


def test_embedding_takes_whole_floats_and_refuses_fractions():
    emb = layers.Embedding(10, 3)
    np.testing.assert_array_equal(emb(np.array([[1.0, 9.0]], np.float32)),
                                  emb(np.array([[1, 9]])))
    for bad in ([[1.5, 2.0]], [[np.nan, 1.0]], [[2.0 ** 40, 1.0]]):
        with pytest.raises(TypeError, match="token ids must be integers"):
            emb(np.array(bad, np.float32))


@needs_keras
def test_concatenate_keeps_integer_dtypes_for_a_tile():
    """neural_machine_translation_with_transformer.py's causal mask: the
    repeats of the tile are a concatenation of integers."""
    def causal_mask(k, x):
        shape = k.ops.shape(x)
        i = k.ops.arange(shape[1])[:, None]
        mask = k.ops.cast(i >= k.ops.arange(shape[1]), dtype="int32")
        mask = k.ops.reshape(mask, (1, shape[1], shape[1]))
        mult = k.ops.concatenate([k.ops.expand_dims(shape[0], -1),
                                  k.ops.convert_to_tensor([1, 1])], axis=0)
        return k.ops.tile(mask, mult)

    x = np.zeros((3, 5, 2), np.float32)
    got, want = causal_mask(keras, x), np.asarray(causal_mask(real_keras, x))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
    a, b = np.array([1, 2], np.int32), np.array([3], np.int32)
    assert ops.concatenate([a, b]).dtype == real_keras.ops.concatenate([a, b]).dtype
    mixed = ops.concatenate([a, np.array([0.5], np.float32)])
    assert mixed.dtype == np.float32 and mixed.tolist() == [1, 2, 0.5]
    with pytest.raises(ValueError, match="concatenate: shapes"):
        ops.concatenate([np.zeros((2, 2), int), np.zeros((3, 3), int)])


@pytest.mark.parametrize("name", ["StringLookup", "IntegerLookup"])
def test_lookup_binary_output_mode_is_multi_hot(name):
    """structured_data_classification_from_scratch.py's lookups use Keras's
    older name output_mode='binary' (Keras's lookups need TensorFlow, so
    the expected vectors are written out)."""
    vocab = ["a", "b", "c"] if name == "StringLookup" else [3, 6, 7]
    data = np.array([[vocab[2]], [vocab[0]]])
    lookup = getattr(layers, name)(vocabulary=vocab, mask_token=None, num_oov_indices=0,
                                   output_mode="binary")
    assert lookup.output_mode == "multi_hot"
    np.testing.assert_array_equal(lookup(data), [[0, 0, 1], [1, 0, 0]])
    assert getattr(layers, name)(vocabulary=vocab, output_mode="tf-idf",
                                 idf_weights=[1.0, 1.0, 1.0]).output_mode == "tf_idf"


@needs_keras
def test_category_encoding_binary_output_mode():
    ids = np.array([[0, 2], [1, 1]])
    np.testing.assert_array_equal(
        layers.CategoryEncoding(4, output_mode="binary")(ids),
        np.asarray(real_keras.layers.CategoryEncoding(4, output_mode="binary")(ids)))


def test_string_lookup_adapts_and_encodes_ragged_label_lists():
    """multi_label_classification.py's terms: lists of different lengths
    (tf.ragged.constant in the program) to multi_hot vectors."""
    terms = [["cs.LG"], ["cs.CV", "cs.LG"], ["stat.ML", "cs.LG", "cs.CV"]]
    lookup = layers.StringLookup(output_mode="multi_hot")
    lookup.adapt(terms)
    assert lookup.get_vocabulary() == ["[UNK]", "cs.LG", "cs.CV", "stat.ML"]
    np.testing.assert_array_equal(lookup(terms + [["new"], []]),
                                  [[0, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 1], [1, 0, 0, 0],
                                   [0, 0, 0, 0]])
    counts = layers.IntegerLookup(vocabulary=[5, 6], output_mode="count")
    np.testing.assert_array_equal(counts([[5, 5, 6], [7]]), [[0, 2, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="ragged batch.*output_mode='int'"):
        layers.StringLookup(vocabulary=["a"])([["a"], ["a", "a"]])


@needs_keras
def test_adam_amsgrad_steps_match_keras():
    """eeg_signal_classification.py compiles with Adam(amsgrad=True)."""
    rng = np.random.default_rng(1)
    start = rng.normal(size=(7, 3)).astype(np.float32)
    # large gradients first, then small ones: the kept maximum matters
    grads = [(rng.normal(size=start.shape) * (10.0 if step < 2 else 0.1)).astype(np.float32)
             for step in range(6)]

    def train(optimizer, variable):
        for g in grads:
            optimizer.apply_gradients([(g, variable)])
        return np.asarray(variable)

    ours = train(keras.optimizers.Adam(learning_rate=0.01, amsgrad=True),
                 keras.Variable(start.copy()))
    theirs = train(real_keras.optimizers.Adam(learning_rate=0.01, amsgrad=True),
                   real_keras.Variable(start.copy()))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    plain = train(keras.optimizers.Adam(learning_rate=0.01), keras.Variable(start.copy()))
    assert not np.allclose(plain, ours)
    config = keras.optimizers.AdamW(amsgrad=True).get_config()
    assert config["amsgrad"] is True
    assert keras.optimizers.AdamW.from_config(config).amsgrad


@needs_keras
def test_adam_amsgrad_state_is_saved_in_keras_order(tmp_path):
    """Keras keeps every weight's momentum and velocity, then every
    weight's velocity_hat: a .keras file round-trips through Keras."""
    pytest.importorskip("h5py")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2), layers.Dense(1)])
    model.compile(keras.optimizers.Adam(learning_rate=0.01, amsgrad=True), "mse")
    model.fit(x, 10 * x[:, :1], batch_size=16, epochs=1, verbose=0)
    for _ in range(2):  # no error, no gradient: the velocities shrink below their maxima
        model.fit(x, model.predict(x, verbose=0), batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    momentum, velocity, velocity_hat = model.optimizer._state_arrays()
    assert np.any(velocity_hat > velocity)
    theirs = real_keras.saving.load_model(path)
    by_slot = {}
    for v in theirs.optimizer.variables[2:]:
        by_slot.setdefault(v.name.split("_")[-1], []).append(np.asarray(v).reshape(-1))
    for name, ours in (("momentum", momentum), ("velocity", velocity),
                       ("hat", velocity_hat)):
        np.testing.assert_allclose(np.concatenate(by_slot[name]), ours, rtol=1e-6)
    again = keras.models.load_model(path)
    for a, b in zip(again.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_keras2_ctc_batch_cost_sums_the_alignments():
    """ctc_asr.py's loss: keras.backend.ctc_batch_cost on softmax outputs
    (last class the blank) is minus the log of the summed probability of
    every path that collapses to the label, counted here by brute force."""
    import itertools
    rng = np.random.default_rng(3)
    probs = rng.uniform(0.1, 1.0, size=(2, 4, 3)).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    labels = np.array([[0, 1, 0], [1, 1, 0]])
    label_length, input_length = np.array([[2], [1]]), np.array([[4], [3]])

    def collapse(path):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        return [c for c in merged if c != 2]

    want = []
    for b in range(2):
        steps, target = input_length[b, 0], list(labels[b, :label_length[b, 0]])
        total = sum(np.prod([probs[b, t, c] for t, c in enumerate(path)])
                    for path in itertools.product(range(3), repeat=steps)
                    if collapse(list(path)) == target)
        want.append([-np.log(total)])
    got = keras.backend.ctc_batch_cost(labels, probs, input_length, label_length)
    assert got.shape == (2, 1)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_keras2_ctc_decode_greedy_merges_repeats_and_drops_blanks():
    best = [0, 0, 2, 1, 1, 2]  # class 2 (the last) is the blank
    probs = np.full((1, 6, 3), 0.1, np.float32)
    probs[0, np.arange(6), best] = 0.8
    paths, scores = keras.backend.ctc_decode(probs, np.ones(1) * 6, greedy=True)
    assert len(paths) == 1
    np.testing.assert_array_equal(paths[0], [[0, 1, -1, -1, -1, -1]])
    np.testing.assert_allclose(scores, [[-6 * np.log(0.8 + 1e-7)]], rtol=1e-5)


def test_call_of_two_tensors_gets_the_first_ones_mask():
    """neural_machine_translation_with_transformer.py's decoder:
    call(inputs, encoder_outputs, mask=None) receives the mask of inputs."""
    seen = []

    class TwoInputs(layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True

        def call(self, inputs, encoder_outputs, mask=None):
            seen.append(None if mask is None else np.array(ops.convert_to_numpy(mask)))
            return inputs + ops.mean(encoder_outputs, axis=1, keepdims=True)

    ids = keras.Input(shape=(None,), dtype="int32")
    other = keras.Input(shape=(None, 4))
    x = layers.Embedding(9, 4, mask_zero=True)(ids)
    model = keras.Model([ids, other], TwoInputs()(x, other))
    tokens = np.array([[3, 1, 0], [2, 0, 0]])
    model.predict([tokens, np.ones((2, 5, 4), np.float32)], verbose=0)
    np.testing.assert_array_equal(seen[-1], tokens != 0)


@needs_keras
def test_unreduced_loss_of_sequences_keeps_the_steps_axis():
    """ner_transformers.py masks SparseCategoricalCrossentropy(reduction=None)
    of (batch, steps, classes) predictions with a (batch, steps) mask."""
    rng = np.random.default_rng(4)
    pred = rng.uniform(0.1, 1.0, (3, 5, 4)).astype(np.float32)
    pred /= pred.sum(-1, keepdims=True)
    labels = rng.integers(0, 4, (3, 5))
    ours = keras.losses.SparseCategoricalCrossentropy(reduction=None)(labels, pred)
    theirs = real_keras.losses.SparseCategoricalCrossentropy(reduction=None)(labels, pred)
    assert ours.shape == (3, 5)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5)


def test_string_input_reshaped_into_a_lookup_trains():
    """wide_deep_cross_networks.py: a string Input(shape=()) goes through
    ops.expand_dims into a StringLookup(output_mode='binary')."""
    vocab = ["area_1", "area_2", "area_3"]
    text = keras.Input(shape=(), dtype="string")
    number = keras.Input(shape=())
    lookup = layers.StringLookup(vocabulary=vocab, mask_token=None, num_oov_indices=0,
                                 output_mode="binary")
    features = layers.concatenate([lookup(ops.expand_dims(text, -1)),
                                   ops.expand_dims(number, -1)])
    model = keras.Model([text, number], layers.Dense(1)(features))
    model.compile("adam", "mse")
    words = np.array(["area_2", "area_3", "area_1", "area_2"])
    values = np.arange(4, dtype=np.float32)
    model.fit([words, values], values, batch_size=2, epochs=1, verbose=0)
    kernel, bias = model.layers[-1].get_weights()
    onehot = (words[:, None] == np.array(vocab)).astype(np.float32)
    want = np.concatenate([onehot, values[:, None]], axis=1) @ kernel + bias
    np.testing.assert_allclose(model.predict([words, values], verbose=0), want, rtol=1e-5)


class _Neighbours(layers.Layer):
    """timeseries_traffic_forecasting.py's GraphConv in short: its input's
    first axis is the graph's nodes, and it calls an Activation inside."""

    def __init__(self, edges):
        super().__init__()
        self.edges = edges
        self.activation = layers.Activation("relu")

    def call(self, features):
        gathered = ops.take(features, self.edges, axis=0)
        return self.activation(ops.segment_sum(gathered, np.arange(len(self.edges)) % 2,
                                               num_segments=2))


def test_custom_layer_indexing_its_first_axis_inside_another():
    class NodesFirst(layers.Layer):
        def __init__(self):
            super().__init__()
            self.graph = _Neighbours([1, 4, 2])

        def call(self, inputs):  # (batch, nodes, features) -> (nodes, batch, features)
            return ops.transpose(self.graph(ops.transpose(inputs, [1, 0, 2])), [1, 0, 2])

    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, NodesFirst()(inputs))
    x = np.random.default_rng(5).normal(size=(4, 5, 3)).astype(np.float32)
    nodes = x.transpose(1, 0, 2)
    want = np.maximum(np.stack([nodes[1] + nodes[2], nodes[4]]), 0).transpose(1, 0, 2)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), want[:1], rtol=1e-6)


def test_custom_layer_takes_a_dict_and_the_model_its_keys():
    """structured_data_classification_from_scratch.py: a custom layer called
    on a dict of tensors, and a model whose inputs dict maps feature names
    to tensors of other names (Keras matches the data by the dict's keys)."""
    seen = []

    class Classifier(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs):
            seen.append(sorted(inputs))
            return self.dense(layers.concatenate(list(inputs.values())))

        def build(self, input_shape):
            self.built = True

    age = keras.Input(shape=(1,), name="age")
    inputs = {"age": layers.Normalization(mean=2.0, variance=4.0)(age),
              "sex": keras.Input(shape=(2,), name="sex")}
    with pytest.warns(UserWarning, match="differs from the tensor's name"):
        model = keras.Model(inputs, Classifier()(inputs))
    assert model.input_names == ["age", "sex"]
    data = {"sex": np.array([[1.0, 0.0], [0.0, 1.0]], np.float32),
            "age": np.array([[1.0], [3.0]], np.float32)}
    kernel, bias = model.layers[-1].dense.get_weights()
    want = np.concatenate([data["age"], data["sex"]], axis=1) @ kernel + bias
    np.testing.assert_allclose(model.predict(data, verbose=0), want, rtol=1e-6)
    assert seen[-1] == ["age", "sex"]


def test_lookup_of_one_value_gives_one_vector():
    """The same program's lookups run on one sample's scalar feature."""
    lookup = layers.IntegerLookup(vocabulary=[0, 1], mask_token=None, num_oov_indices=0,
                                  output_mode="binary")
    np.testing.assert_array_equal(lookup(np.int64(1)), [0.0, 1.0])
    np.testing.assert_array_equal(lookup(np.array([1, 0])), [[0, 1], [1, 0]])
    names = layers.StringLookup(vocabulary=["fixed", "normal"], output_mode="count")
    np.testing.assert_array_equal(names("normal"), [0.0, 0.0, 1.0])


def test_build_of_no_arguments_is_called_without_one():
    """classification_with_grn_and_vsn.py's VariableSelection defines
    ``build(self)``, which Keras calls with no shape."""
    class Scale(layers.Layer):
        def build(self):
            self.scale = self.add_weight(shape=(), initializer="ones")

        def call(self, inputs):
            return inputs * self.scale

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Scale()(inputs))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), x)
    np.testing.assert_allclose(Scale()(x), x)


@needs_keras
def test_per_step_sample_weights_of_a_sequence_loss():
    """masked_language_modeling.py weights each token's loss (batch, steps)."""
    rng = np.random.default_rng(6)
    pred = rng.uniform(0.1, 1.0, (3, 5, 4)).astype(np.float32)
    pred /= pred.sum(-1, keepdims=True)
    labels = rng.integers(0, 4, (3, 5))
    weights = (rng.uniform(size=(3, 5)) < 0.5).astype(np.float32)
    for reduction in (None, "sum", "sum_over_batch_size"):
        ours = keras.losses.SparseCategoricalCrossentropy(reduction=reduction)
        theirs = real_keras.losses.SparseCategoricalCrossentropy(reduction=reduction)
        np.testing.assert_allclose(ours(labels, pred, weights),
                                   np.asarray(theirs(labels, pred, weights)), rtol=1e-5)
        # one weight per sample: each of its steps (Keras refuses this shape)
        np.testing.assert_allclose(ours(labels, pred, weights[:, 0]),
                                   ours(labels, pred, np.repeat(weights[:, :1], 5, axis=1)),
                                   rtol=1e-6)
    traced = keras.Variable(pred)
    with keras.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(labels, traced, weights)
    grad = np.asarray(tape.gradient(loss, traced))
    np.testing.assert_array_equal(grad[weights == 0], 0)  # masked tokens give nothing


def test_step_overrides_with_keras_signatures():
    """The same program overrides compute_loss(x, y, y_pred, sample_weight)
    and compute_metrics(x, y, y_pred, sample_weight), with a Mean tracker."""
    tracker = keras.metrics.Mean(name="loss")

    class Tracked(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            loss = keras.ops.mean(keras.ops.square(y_pred - y))
            tracker.update_state(loss)
            return loss

        def compute_metrics(self, x, y, y_pred, sample_weight):
            return {"loss": tracker.result()}

        @property
        def metrics(self):
            return [tracker]

    inputs = keras.Input((2,))
    model = Tracked(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="sgd")
    x = np.ones((4, 2), np.float32)
    history = model.fit(x, np.zeros((4, 1), np.float32), batch_size=2, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    kernel, bias = model.get_weights()
    want = float(np.mean((x @ kernel + bias) ** 2))
    assert model.evaluate(x, np.zeros((4, 1), np.float32), verbose=0) == pytest.approx(want,
                                                                                      rel=1e-5)


@needs_keras
def test_constant_initializer_of_a_table():
    """movielens_recommendations_transformers.py fills a frozen Embedding
    with Constant(genre_vectors)."""
    table = np.random.default_rng(7).uniform(size=(6, 4)).astype(np.float32)
    np.testing.assert_array_equal(keras.initializers.Constant(table)((6, 4)),
                                  np.asarray(real_keras.initializers.Constant(table)((6, 4))))
    emb = layers.Embedding(6, 4, embeddings_initializer=keras.initializers.Constant(table),
                           trainable=False)
    np.testing.assert_array_equal(emb(np.array([[5, 0]])), table[[[5, 0]]])
    assert keras.initializers.Constant(2)((2,)).tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match=r"Constant: a value of shape \(6, 4\) cannot fill"):
        keras.initializers.Constant(table)((3, 4))


def test_one_lookup_serves_inputs_of_several_shapes():
    """The same program's movie lookup reads the target (batch, 1) and the
    sequence (batch, 3)."""
    lookup = layers.StringLookup(vocabulary=["a", "b", "c"], mask_token=None, num_oov_indices=0)
    target = keras.Input(shape=(1,), dtype="string")
    sequence = keras.Input(shape=(3,), dtype="string")
    model = keras.Model([target, sequence], [lookup(target), lookup(sequence)])
    ids = model.predict([np.array([["c"], ["a"]]), np.array([["a", "b", "c"], ["c", "c", "b"]])],
                        verbose=0)
    np.testing.assert_array_equal(ids[0], [[2], [0]])
    np.testing.assert_array_equal(ids[1], [[0, 1, 2], [2, 2, 1]])


class _MaskedTokenLoss(keras.losses.Loss):
    """ner_transformers.py's loss: a scalar over the unpadded tokens."""

    def call(self, y_true, y_pred):
        loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)(y_true, y_pred)
        mask = ops.cast(y_true > 0, "float32")
        return ops.sum(loss * mask) / ops.sum(mask)


def test_scalar_loss_of_a_sequence_output_is_not_divided_by_the_steps():
    """Its value (evaluate) and its gradient (one SGD step, against finite
    differences) are the scalar's, as Keras's."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    y = rng.integers(0, 5, (4, 6))
    inputs = keras.Input((6, 3))
    model = keras.Model(inputs, layers.Dense(5, activation="softmax")(inputs))
    model.compile(keras.optimizers.SGD(learning_rate=0.1), loss=_MaskedTokenLoss())

    def loss_at(kernel):
        model.layers[-1].kernel.assign(kernel)
        return float(_MaskedTokenLoss()(y, model.predict(x, verbose=0)))

    kernel = model.layers[-1].kernel.numpy().copy()
    assert model.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(loss_at(kernel),
                                                                          rel=1e-5)
    eps, numeric = 1e-2, np.zeros_like(kernel)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            step = np.zeros_like(kernel)
            step[i, j] = eps
            numeric[i, j] = (loss_at(kernel + step) - loss_at(kernel - step)) / (2 * eps)
    model.layers[-1].kernel.assign(kernel)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose((kernel - model.layers[-1].kernel.numpy()) / 0.1, numeric,
                               rtol=2e-2, atol=1e-4)


def test_subclassed_model_predicts_sequences_of_another_length():
    """ner_transformers.py trains its subclassed NERModel on padded batches
    and tags one sentence of another length."""
    class Tagger(keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = layers.Embedding(20, 4)
            self.dropout = layers.Dropout(0.1)
            self.dense = layers.Dense(3, activation="softmax")

        def call(self, inputs, training=False):
            return self.dense(self.dropout(self.embedding(inputs), training=training))

    model = Tagger()
    model.compile("adam", "sparse_categorical_crossentropy")
    ids = np.random.default_rng(9).integers(1, 20, (8, 11))
    model.fit(ids, ids % 3, batch_size=4, epochs=1, verbose=0)
    short = ids[:1, :5]
    table = model.embedding.embeddings.numpy()
    kernel, bias = model.dense.get_weights()
    logits = table[short] @ kernel + bias
    want = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(short, verbose=0), want, rtol=1e-5)
