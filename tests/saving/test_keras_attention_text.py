"""The attention, text and category layers in Keras's files: each small
model is built on one side with random weights, saved (.keras and legacy
.h5), loaded on the other side and predicts the same; MultiHeadAttention's
variables sit where Keras 3 keeps them (its EinsumDense sublayers), and a
layer of the user's own class holding such layers (the transformer
encoder of Chollet's book) crosses both ways with custom_objects.

Keras 3's lookup layers (StringLookup, IntegerLookup, TextVectorization)
need TensorFlow, which the tests never use: their files are checked
against the layout Keras's saving code writes (the vocabulary in the
config, or in the archive's assets when Keras adapted the layer)."""
import json
import zipfile

import numpy as np
import pytest

import pynn
from pynn.saving import ModelFileError

from test_keras_layers import FORMATS, close, randomize

pytestmark = pytest.mark.usefixtures("h5py")

RNG = np.random.default_rng(11)
Q, V, K = (RNG.normal(size=(2,) + s).astype(np.float32) for s in ((4, 6), (5, 6), (5, 3)))


def mha_self(k):
    q = k.Input(shape=(4, 6))
    return k.Model(q, k.layers.MultiHeadAttention(num_heads=2, key_dim=3)(q, q)), Q


def mha_full(k):
    """Another value_dim, output_shape, no biases, a separate key, causal."""
    q, v, key = k.Input(shape=(4, 6)), k.Input(shape=(5, 6)), k.Input(shape=(5, 3))
    out = k.layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, output_shape=5,
                                      use_bias=False)(q, v, key=key, use_causal_mask=True)
    return k.Model([q, v, key], out), [Q, V, K]


def mha_scores(k):
    q, v = k.Input(shape=(4, 6)), k.Input(shape=(5, 6))
    out, scores = k.layers.MultiHeadAttention(num_heads=2, key_dim=2)(
        q, v, return_attention_scores=True)
    return k.Model([q, v], [out, scores]), [Q, V]


def dot_attention(k):
    q, v = k.Input(shape=(4, 6)), k.Input(shape=(5, 6))
    return k.Model([q, v], k.layers.Attention(use_scale=True)([q, v])), [Q, V]


def concat_attention(k):
    q, v = k.Input(shape=(4, 6)), k.Input(shape=(5, 6))
    out = k.layers.Attention(use_scale=True, score_mode="concat")([q, v], use_causal_mask=True)
    return k.Model([q, v], out), [Q, V]


def additive_attention(k):
    q, v, key = k.Input(shape=(4, 6)), k.Input(shape=(5, 6)), k.Input(shape=(5, 6))
    out = k.layers.AdditiveAttention()([q, v, key])
    return k.Model([q, v, key], out), [Q, V, V[:, ::-1]]


def category_encoding(k):
    return k.Sequential([k.Input(shape=(3,), dtype="int32"),
                         k.layers.CategoryEncoding(6, output_mode="count"),
                         k.layers.Dense(2)]), np.array([[1, 2, 2], [0, 5, 5]], np.int32)


def discretization(k):
    return k.Sequential([k.Input(shape=(4,)),
                         k.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5],
                                                 output_mode="one_hot")]), Q[:, 0, :4]


BUILDERS = [mha_self, mha_full, mha_scores, dot_attention, concat_attention,
            additive_attention, category_encoding, discretization]


def predictions(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        close(x, y)


# Keras 3.15's legacy .h5 reader turns the string 'dot' into its ops.dot
# function, and fails on its own files of Attention(score_mode='dot').
KERAS_CANNOT_READ_H5 = {dot_attention}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_pynn_to_keras(tmp_path, keras, build, fmt):
    if fmt == "h5" and build in KERAS_CANNOT_READ_H5:
        pytest.skip(f"Keras 3 fails to read its own legacy .h5 of {build.__name__}")
    ours, x = build(pynn)
    randomize(ours, 1)
    expected = predictions(ours, x)
    ours.save(tmp_path / f"p.{fmt}")
    theirs = keras.saving.load_model(tmp_path / f"p.{fmt}")
    same(predictions(theirs, x), expected)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_keras_to_pynn(tmp_path, keras, build, fmt):
    theirs, x = build(keras)
    randomize(theirs, 2)
    theirs.save(tmp_path / f"k.{fmt}")
    ours = pynn.models.load_model(tmp_path / f"k.{fmt}")
    same(predictions(ours, x), predictions(theirs, x))
    # and the config survives pynn's own round trip
    ours.save(tmp_path / f"p.{fmt}")
    again = pynn.models.load_model(tmp_path / f"p.{fmt}")
    assert again.get_config() == ours.get_config()
    same(predictions(again, x), predictions(theirs, x))


def weights_layout(path, h5py, tmp_path):
    """{dataset path: shape} of a .keras file's weights."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        zf.extract("model.weights.h5", tmp_path / path.stem)
    with h5py.File(tmp_path / path.stem / "model.weights.h5", "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, tuple(obj.shape))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def test_multi_head_attention_variables_where_keras_keeps_them(tmp_path, keras, h5py):
    ours, _ = mha_full(pynn)
    ours.save(tmp_path / "p.keras")
    keras.saving.load_model(tmp_path / "p.keras").save(tmp_path / "k.keras")
    mine = weights_layout(tmp_path / "p.keras", h5py, tmp_path)
    assert mine == weights_layout(tmp_path / "k.keras", h5py, tmp_path)
    assert mine == {"layers/multi_head_attention/query_dense/vars/0": (6, 3, 2),
                    "layers/multi_head_attention/key_dense/vars/0": (3, 3, 2),
                    "layers/multi_head_attention/value_dense/vars/0": (6, 3, 4),
                    "layers/multi_head_attention/output_dense/vars/0": (3, 4, 5)}


# ------------------------------------------------- the user's own layer

def transformer_encoder_class(k):
    """Chollet's TransformerEncoder (Deep Learning with Python, ch. 11),
    written against the API ``k``."""

    class TransformerEncoder(k.layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim, self.dense_dim, self.num_heads = embed_dim, dense_dim, num_heads
            self.attention = k.layers.MultiHeadAttention(num_heads=num_heads,
                                                         key_dim=embed_dim)
            self.dense_proj = k.Sequential([k.layers.Dense(dense_dim, activation="relu"),
                                            k.layers.Dense(embed_dim)])
            self.layernorm_1 = k.layers.LayerNormalization()
            self.layernorm_2 = k.layers.LayerNormalization()

        def call(self, inputs):
            attention_output = self.attention(inputs, inputs)
            proj_input = self.layernorm_1(inputs + attention_output)
            return self.layernorm_2(proj_input + self.dense_proj(proj_input))

        def get_config(self):
            config = super().get_config()
            config.update(embed_dim=self.embed_dim, num_heads=self.num_heads,
                          dense_dim=self.dense_dim)
            return config

    return TransformerEncoder


def encoder_model(k, cls):
    i = k.Input(shape=(4, 6))
    x = cls(6, 5, 2)(i)
    return k.Model(i, k.layers.Dense(1)(k.layers.GlobalMaxPooling1D()(x)))


@pytest.fixture(scope="module")
def encoders(keras):
    return transformer_encoder_class(pynn), transformer_encoder_class(keras)


def test_transformer_encoder_round_trip_in_pynn(tmp_path, encoders):
    """The book's checkpoint: ModelCheckpoint writes the .keras file while
    training, load_model with custom_objects gives the same model back."""
    mine, _ = encoders
    model = encoder_model(pynn, mine)
    randomize(model, 3)
    model.compile(optimizer="rmsprop", loss="mse")
    checkpoint = pynn.callbacks.ModelCheckpoint(str(tmp_path / "transformer_encoder.keras"),
                                                monitor="loss", save_best_only=True)
    model.fit(Q, np.ones((2, 1), np.float32), epochs=1, verbose=0, callbacks=[checkpoint])
    loaded = pynn.models.load_model(tmp_path / "transformer_encoder.keras",
                                    custom_objects={"TransformerEncoder": mine})
    assert isinstance(loaded.layers[1], mine)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    close(loaded.predict(Q, verbose=0), model.predict(Q, verbose=0))


def test_transformer_encoder_both_ways_with_keras(tmp_path, keras, h5py, encoders):
    mine, theirs_cls = encoders
    ours = encoder_model(pynn, mine)
    randomize(ours, 4)
    expected = ours.predict(Q, verbose=0)
    ours.save(tmp_path / "p.keras")
    theirs = keras.saving.load_model(tmp_path / "p.keras",
                                     custom_objects={"TransformerEncoder": theirs_cls})
    close(theirs.predict(Q, verbose=0), expected)
    theirs.save(tmp_path / "k.keras")
    assert weights_layout(tmp_path / "p.keras", h5py, tmp_path) == \
        weights_layout(tmp_path / "k.keras", h5py, tmp_path)

    theirs = encoder_model(keras, theirs_cls)
    randomize(theirs, 5)
    theirs.save(tmp_path / "k2.keras")
    ours = pynn.models.load_model(tmp_path / "k2.keras",
                                  custom_objects={"TransformerEncoder": mine})
    close(ours.predict(Q, verbose=0), theirs.predict(Q, verbose=0))


# --------------------------------------------------------- lookup layers

TEXTS = np.array([["the cat sat"], ["the dog ran fast"], ["a cat ran"]])


def lookup_models():
    """(name, model, input) with each lookup layer, adapted or given its
    vocabulary, in several output modes."""
    L = pynn.layers
    vectorize = L.TextVectorization(output_sequence_length=5)
    vectorize.adapt(TEXTS)
    yield "text_int", pynn.Sequential([pynn.Input(shape=(1,), dtype="string"), vectorize,
                                       L.Embedding(20, 3), L.GlobalAveragePooling1D()]), TEXTS
    bag = L.TextVectorization(max_tokens=6, output_mode="multi_hot", ngrams=2)
    bag.adapt(TEXTS)
    yield "text_multi_hot", pynn.Sequential([pynn.Input(shape=(1,), dtype="string"), bag,
                                             L.Dense(2)]), TEXTS
    words = L.StringLookup(output_mode="one_hot")
    words.adapt(["a", "b", "b", "c"])
    yield "strings", pynn.Sequential([pynn.Input(shape=(1,), dtype="string"), words]), \
        np.array([["b"], ["z"], ["a"]])
    ids = L.IntegerLookup(vocabulary=[7, 3, 5], mask_token=0)
    yield "integers", pynn.Sequential([pynn.Input(shape=(3,), dtype="int64"), ids]), \
        np.array([[3, 0, 9], [5, 7, 7]])


@pytest.mark.parametrize("fmt", FORMATS)
def test_lookup_layers_round_trip(tmp_path, fmt):
    for name, model, x in lookup_models():
        if any(w.ndim > 1 for w in model.get_weights()):
            randomize(model, 6)
        model.save(tmp_path / f"{name}.{fmt}")
        loaded = pynn.models.load_model(tmp_path / f"{name}.{fmt}")
        for a, b in zip(model.layers, loaded.layers):
            if hasattr(a, "get_vocabulary"):
                assert b.get_vocabulary() == a.get_vocabulary(), name
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def keras_adapted_archive(tmp_path, name, entry, vocabulary, dtype="string"):
    """A .keras file laid out as Keras 3 saves a Sequential holding one
    adapted lookup layer: vocabulary null in the config, the layer's
    vocabulary (special tokens first) in assets/layers/<layer>/."""
    import h5py
    layer_path = f"layers/{entry['class_name'].lower().replace('lookup', '_lookup')}"
    if entry["class_name"] == "TextVectorization":
        layer_path = "layers/text_vectorization"
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "sequential", "trainable": True, "dtype": "float32",
                         "layers": [{"module": "keras.layers", "class_name": "InputLayer",
                                     "registered_name": None,
                                     "config": {"batch_shape": [None, 1], "dtype": dtype,
                                                "sparse": False, "ragged": False,
                                                "name": "input_layer"}},
                                    entry]},
              "build_config": {"input_shape": [None, 1]}}
    path = tmp_path / f"{name}.keras"
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.create_group(f"{layer_path}/vars")
        f.create_group("vars")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", (tmp_path / "w.h5").read_bytes())
        zf.writestr(f"assets/{layer_path}/vocabulary.txt", "\n".join(vocabulary))
    return path


def test_vocabularies_keras_keeps_in_the_assets(tmp_path):
    common = {"name": "lookup", "trainable": True, "dtype": "float32", "invert": False,
              "max_tokens": None, "num_oov_indices": 1, "oov_token": "[UNK]",
              "mask_token": None, "sparse": False, "pad_to_max_tokens": False,
              "idf_weights": None, "vocabulary": None, "vocabulary_size": 4,
              "oov_method": "floormod", "salt": None}
    strings = {"module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
               "config": {**common, "output_mode": "multi_hot", "encoding": "utf-8"}}
    model = pynn.models.load_model(keras_adapted_archive(tmp_path, "s", strings,
                                                         ["[UNK]", "b", "c", "a"]))
    assert model.layers[0].get_vocabulary() == ["[UNK]", "b", "c", "a"]
    np.testing.assert_array_equal(model.predict(np.array([["c"], ["q"]]), verbose=0),
                                  [[0, 0, 1, 0], [1, 0, 0, 0]])

    integers = {"module": "keras.layers", "class_name": "IntegerLookup",
                "registered_name": None,
                "config": {**common, "oov_token": -1, "vocabulary_dtype": "int64",
                           "output_mode": "int"}}
    model = pynn.models.load_model(keras_adapted_archive(tmp_path, "i", integers,
                                                         ["-1", "42", "7", ""], "int64"))
    np.testing.assert_array_equal(model.predict(np.array([[7], [8]]), verbose=0), [[2], [0]])

    text = {"module": "keras.layers", "class_name": "TextVectorization", "registered_name": None,
            "config": {"name": "text_vectorization", "trainable": True, "dtype": "float32",
                       "max_tokens": None, "standardize": "lower_and_strip_punctuation",
                       "split": "whitespace", "ngrams": None, "output_mode": "int",
                       "output_sequence_length": 4, "pad_to_max_tokens": False,
                       "sparse": False, "ragged": False, "vocabulary": None,
                       "idf_weights": None, "encoding": "utf-8", "vocabulary_size": 5}}
    model = pynn.models.load_model(keras_adapted_archive(tmp_path, "t", text,
                                                         ["", "[UNK]", "the", "cat", "sat"]))
    np.testing.assert_array_equal(model.predict(np.array([["The cat, sat!"]]), verbose=0),
                                  [[2, 3, 4, 0]])

    bad = {**integers, "config": {**integers["config"], "name": "bad"}}
    with pytest.raises(ModelFileError, match=r"IntegerLookup layer 'bad'.*not an integer"):
        pynn.models.load_model(keras_adapted_archive(tmp_path, "b", bad, ["-1", "x"], "int64"))


def test_tf_idf_is_refused_in_keras_files(tmp_path):
    layer = pynn.layers.StringLookup(output_mode="tf_idf", name="tfidf")
    layer.adapt(["a", "b", "b"])
    model = pynn.Sequential([pynn.Input(shape=(1,), dtype="string"), layer])
    for fmt in FORMATS:
        with pytest.raises(ValueError, match=r"layer 'tfidf' is a StringLookup with "
                                             r"output_mode='tf_idf'.*\.pynn"):
            model.save(tmp_path / f"m.{fmt}")
        assert not (tmp_path / f"m.{fmt}").exists()


def test_a_layer_without_a_row_is_refused_before_writing(tmp_path, monkeypatch):
    from pynn.saving.keras_config import LAYERS
    monkeypatch.delitem(LAYERS, "CategoryEncoding")
    model = pynn.Sequential([pynn.Input(shape=(3,)),
                             pynn.layers.CategoryEncoding(5, name="encode")])
    for fmt in FORMATS:
        with pytest.raises(ValueError, match=r"layer 'encode' is a CategoryEncoding, which pynn "
                                             r"cannot write in Keras's file formats.*\.pynn"):
            model.save(tmp_path / f"m.{fmt}")
        assert not (tmp_path / f"m.{fmt}").exists()
    model.save(tmp_path / "m.pynn")
