"""The preprocessing layers of Deep Learning with Python 11 and Géron 13:
TextVectorization (int, multi_hot, count, tf_idf, ngrams), StringLookup,
IntegerLookup, CategoryEncoding, Discretization; vocabularies ordered as
Keras orders them, and the outputs Keras documents (CategoryEncoding
against Keras 3 itself; Discretization's quantile boundaries against
Keras's own summary functions)."""
import os

import numpy as np
import pytest

import pynn as keras
from pynn import layers

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras as real_keras
    from keras.src.layers.preprocessing import discretization as keras_discretization
except Exception:  # missing, or a backend that cannot load here
    real_keras = None

TEXTS = np.array(["The cat sat on the mat.", "The dog ate my homework!",
                  "A cat, a dog; a bird?", "dog dog dog"])


def test_text_vectorization_int_mode():
    tv = layers.TextVectorization(max_tokens=10, output_mode="int", output_sequence_length=6)
    tv.adapt(TEXTS)
    # counts: dog 5, the 3, a 3 (a tie: the later token first), cat 2, then the ones
    assert tv.get_vocabulary() == ["", "[UNK]", "dog", "the", "a", "cat", "sat", "on", "my",
                                   "mat"]
    assert tv.vocabulary_size() == 10
    np.testing.assert_array_equal(tv(TEXTS), [[3, 5, 6, 7, 3, 9], [3, 2, 1, 8, 1, 0],
                                              [4, 5, 4, 2, 4, 1], [2, 2, 2, 0, 0, 0]])
    # without a length, the batch is padded to its longest text
    assert layers.TextVectorization(vocabulary=["cat", "dog"])(
        np.array(["cat dog cat", "dog"])).tolist() == [[2, 3, 2], [3, 0, 0]]


def test_text_vectorization_vector_modes_with_bigrams():
    docs = np.array(["a b", "a c", "a b b"])
    tv = layers.TextVectorization(output_mode="multi_hot", ngrams=2)
    tv.adapt(docs)
    vocab = tv.get_vocabulary()
    assert vocab[:3] == ["[UNK]", "b", "a"] and set(vocab[3:]) == {"a b", "c", "b b", "a c"}
    out = tv(np.array(["a b z"]))
    want = np.zeros(len(vocab), np.float32)
    for token in ("[UNK]", "a", "b", "a b"):  # "z" and "b z" are unknown
        want[vocab.index(token)] = 1
    np.testing.assert_array_equal(out[0], want)
    counts = layers.TextVectorization(output_mode="count", vocabulary=["a", "b"])
    np.testing.assert_array_equal(counts(np.array(["a b b q"])), [[1, 1, 2]])
    tfidf = layers.TextVectorization(output_mode="tf_idf")
    tfidf.adapt(docs)
    # idf = log(1 + documents / (1 + documents holding the token)); [UNK] gets their mean
    idf = {"a": np.log(1 + 3 / 4), "b": np.log(1 + 3 / 3), "c": np.log(1 + 3 / 2)}
    vocab = tfidf.get_vocabulary()
    out = tfidf(np.array(["b b c"]))[0]
    np.testing.assert_allclose(out[vocab.index("b")], 2 * idf["b"], rtol=1e-6)
    np.testing.assert_allclose(out[vocab.index("c")], idf["c"], rtol=1e-6)
    assert out[vocab.index("a")] == 0


def test_text_vectorization_in_a_model_on_strings():
    keras.utils.set_random_seed(1)
    tv = layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
    tv.adapt(TEXTS)
    text = keras.Input(shape=(1,), dtype="string")
    out = layers.Dense(1, activation="sigmoid")(tv(text))
    model = keras.Model(text, out)
    model.compile("rmsprop", "binary_crossentropy")
    y = np.array([0, 1, 0, 1], np.float32)
    model.fit(TEXTS[:, None], y, epochs=2, batch_size=2, verbose=0)
    np.testing.assert_allclose(model.predict(TEXTS[:, None], verbose=0),
                               model.layers[-1](tv(TEXTS)), rtol=1e-6)


def test_string_and_integer_lookup():
    sl = layers.StringLookup()
    sl.adapt(np.array(["a", "b", "b", "c", "c", "c"]))
    assert sl.get_vocabulary() == ["[UNK]", "c", "b", "a"]
    np.testing.assert_array_equal(sl(np.array(["c", "z", "a"])), [1, 0, 3])
    inverse = layers.StringLookup(vocabulary=["c", "b", "a"], invert=True)
    # (tokens as bytes, as Keras's layer gives them from TensorFlow's string tensors)
    assert inverse(np.array([1, 2, 3, 0])).tolist() == [b"c", b"b", b"a", b"[UNK]"]
    one_hot = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(np.array(["a", "b", "z"])),
                                  [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    il = layers.IntegerLookup()
    il.adapt(np.array([7, 7, 3, 3, 3, 9]))
    assert il.get_vocabulary() == [-1, 3, 7, 9]
    np.testing.assert_array_equal(il(np.array([3, 9, 100])), [1, 3, 0])
    masked = layers.StringLookup(vocabulary=["a"], mask_token="")
    np.testing.assert_array_equal(masked(np.array(["", "a", "q"])), [0, 2, 1])
    with pytest.raises(ValueError, match="no vocabulary"):
        layers.StringLookup()(np.array(["a"]))
    # a lookup feeding an Embedding: Géron's categories
    codes = keras.Input(shape=(), dtype="string")
    ids = layers.StringLookup(vocabulary=["<1H OCEAN", "INLAND", "NEAR BAY"])(codes)
    model = keras.Model(codes, layers.Embedding(4, 2)(ids))
    assert model.predict(np.array(["INLAND", "?"]), verbose=0).shape == (2, 2)


def test_oov_buckets_are_keras_hash_and_floormod():
    # Keras hashes an unknown string into its OOV buckets with
    # to_hash_bucket_fast (Fingerprint64, TensorFlow's published values for
    # 'a'..'d'), and takes an unknown integer modulo their number.
    fingerprints = [12917804110809363939, 11795596070477164822, 11430444447143000872,
                    4470636696479570465]
    sl = layers.StringLookup(vocabulary=["x", "y"], num_oov_indices=3, mask_token="")
    np.testing.assert_array_equal(sl(np.array(["a", "b", "c", "d", "y", ""])),
                                  [1 + f % 3 for f in fingerprints] + [5, 0])
    il = layers.IntegerLookup(vocabulary=[10, 20], num_oov_indices=4)
    np.testing.assert_array_equal(il(np.array([7, -3, 10, 9])), [3, 1, 4, 1])


@pytest.mark.skipif(real_keras is None, reason="Keras 3 is not available")
@pytest.mark.parametrize("mode, ids", [("one_hot", [3, 2, 0, 1]),
                                       ("one_hot", [[3], [1]]),
                                       ("multi_hot", [[0, 1], [0, 0], [1, 2], [3, 1]]),
                                       ("count", [[0, 1], [0, 0], [1, 2], [3, 1]])])
def test_category_encoding_matches_keras(mode, ids):
    ids = np.array(ids)
    want = real_keras.layers.CategoryEncoding(num_tokens=4, output_mode=mode)(ids)
    np.testing.assert_array_equal(layers.CategoryEncoding(num_tokens=4, output_mode=mode)(ids),
                                  np.asarray(want))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        layers.CategoryEncoding(num_tokens=4)(np.array([[4]]))


@pytest.mark.skipif(real_keras is None, reason="Keras 3 is not available")
def test_discretization_learns_keras_boundaries():
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(50, 1)).astype("float32") for _ in range(3)]
    layer = layers.Discretization(num_bins=4)
    layer.adapt(iter(batches))
    summary = np.array([[], []], dtype="float32")
    for batch in batches:
        summary = keras_discretization.merge_summaries(
            keras_discretization.summarize(batch, 0.01), summary, 0.01)
    want = keras_discretization.get_bin_boundaries(summary, 4)
    np.testing.assert_allclose(layer.bin_boundaries, want, rtol=1e-6)
    fixed = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    np.testing.assert_array_equal(fixed(np.array([[-1.0, 0.0, 0.5, 2.5]])), [[0, 1, 1, 3]])
    np.testing.assert_array_equal(
        layers.Discretization(bin_boundaries=[0.0], output_mode="one_hot")(np.array([-1.0, 1])),
        [[1, 0], [0, 1]])


def test_gather_rows_copies_python_objects_safely():
    texts = np.array(["a", "bb", "ccc"], dtype=object)
    out = keras.ops.gather_rows(texts, np.array([2, 0, 2]))
    assert out.tolist() == ["ccc", "a", "ccc"]


def test_lookups_and_encodings_take_an_empty_batch():
    """A batch of no examples gives no rows of the encoded width (a
    reshape to (0, -1) cannot work the width out)."""
    lookup = layers.StringLookup(vocabulary=["a", "b", "c"], output_mode="multi_hot")
    assert np.asarray(lookup(np.zeros((0, 2), dtype=str))).shape == (0, 4)
    counts = layers.CategoryEncoding(num_tokens=4, output_mode="count")
    assert np.asarray(counts(np.zeros((0, 3), np.int64))).shape == (0, 4)
    vectorize = layers.TextVectorization(output_mode="multi_hot", max_tokens=5)
    vectorize.adapt(["a b", "b c"])
    width = np.asarray(vectorize(np.array(["a"]))).shape[1]
    assert np.asarray(vectorize(np.zeros((0,), dtype=str))).shape == (0, width)
