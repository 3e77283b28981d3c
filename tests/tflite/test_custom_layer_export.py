"""Custom layers computing through call() in TFLite: the call traced into
the layers and operations it uses (its weights as constants), equal to
predict (1e-5, with and without the XNNPACK delegate) for keras.io's text
transformer (TokenAndPositionEmbedding, TransformerBlock) and a layer of
its own weights; a call using what has no TFLite form raises naming the
layer."""
import numpy as np
import pytest

import pynn
from litehelp import convert, op_names, run_all
from pynn import layers, ops
from pynn.utils import set_random_seed


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = pynn.Sequential([layers.Dense(ff_dim, activation="relu"),
                                    layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=False):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


class ScaledTanh(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="random_normal")
        self.shift = self.add_weight(shape=(input_shape[-1],), initializer="random_normal")

    def call(self, x):
        return ops.tanh(x) * self.scale + ops.matmul(x, ops.ones((x.shape[-1], x.shape[-1]))) \
            * 0.1 + self.shift


def _check(model, xs):
    data = convert(model)
    want = model.predict(xs[0], verbose=0)
    for reference in (False, True):
        np.testing.assert_allclose(run_all(data, xs, reference=reference)[0], want,
                                   rtol=1e-5, atol=2e-5)
    return data


def test_text_transformer_exports_after_training():
    """keras.io's text classification with a transformer, trained a step."""
    set_random_seed(1)
    maxlen, vocab = 12, 50
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    x = TokenAndPositionEmbedding(maxlen, vocab, 8)(inputs)
    x = TransformerBlock(8, 2, 16)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(6, activation="relu")(x)
    model = pynn.Model(inputs, layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    ids = rng.integers(0, vocab, (16, maxlen)).astype(np.int32)
    model.fit(ids, rng.integers(0, 2, 16), epochs=1, verbose=0)
    names = op_names(_check(model, [ids[:3]]))
    assert "BATCH_MATMUL" in names and "GATHER" in names


def test_a_layer_of_its_own_weights_exports():
    set_random_seed(3)
    inp = pynn.Input((5, 4))
    model = pynn.Model(inp, layers.Dense(3)(ScaledTanh()(layers.Dense(4)(inp))))
    x = np.random.default_rng(4).normal(size=(2, 5, 4)).astype(np.float32)
    _check(model, [x])


def test_a_call_without_a_form_raises_naming_the_layer():
    class Erf(layers.Layer):
        def call(self, x):
            return ops.erf(x)
    inp = pynn.Input((4,))
    model = pynn.Model(inp, Erf(name="erfy")(inp))
    with pytest.raises(pynn.lite.ConversionError, match="'erfy'.*erf"):
        convert(model)
