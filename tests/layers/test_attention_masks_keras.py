"""MultiHeadAttention's masks against Keras 3 itself (NumPy backend, the
test-only reference): the same model built in pynn and in Keras (weights
copied) on padded integer sequences (Embedding(mask_zero=True)), compared
at every position, the padded ones included; and Deep Learning with
Python's Transformer encoder for text classification end to end."""
import warnings

import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

VOCAB, EMBED, T, S = 20, 8, 5, 6


def _padded(rng, steps, lengths):
    """Integer sequences of ``lengths`` (0: all padding), padded with 0."""
    x = rng.integers(1, VOCAB, (len(lengths), steps))
    for row, n in zip(x, lengths):
        row[n:] = 0
    return x.astype(np.int32)


def _inputs():
    rng = np.random.default_rng(0)
    query = _padded(rng, T, [5, 3, 1, 0])
    value = _padded(rng, S, [6, 2, 4, 0])
    key = _padded(rng, S, [4, 6, 1, 3])
    allowed = (rng.random((4, T, S)) > 0.3).astype(np.float32)
    return [query, value, key, allowed]


def _model(lib, call, mha_kwargs):
    """Three padded sequences embedded with mask_zero=True, an attention
    mask of 0/1 numbers, and ``call(mha, query, value, key, allowed)``."""
    ins = [lib.Input(shape=(None,), dtype="int32") for _ in range(3)] + \
        [lib.Input(shape=(T, S))]
    embedded = [lib.layers.Embedding(VOCAB, EMBED, mask_zero=True)(x) for x in ins[:3]]
    mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3, **mha_kwargs)
    with warnings.catch_warnings():  # (the inputs a case does not use)
        warnings.simplefilter("ignore")
        return lib.Model(ins, call(mha, *embedded, ins[3]))


def _copy_weights(ours, theirs):
    """Random weights for our model's layers, and the same in Keras's."""
    rng = np.random.default_rng(1)
    mine = [layer for layer in ours.layers if layer.weights]
    others = [layer for layer in theirs.layers if layer.weights]
    assert len(mine) == len(others)
    for a, b in zip(mine, others):
        values = [rng.standard_normal(w.shape).astype(np.float32) for w in a.get_weights()]
        a.set_weights(values)
        b.set_weights(values)


CALLS = {
    "self": lambda mha, q, v, k, m: mha(q, q),
    "cross": lambda mha, q, v, k, m: mha(q, v),
    "key": lambda mha, q, v, k, m: mha(q, v, k),
    "causal": lambda mha, q, v, k, m: mha(q, q, use_causal_mask=True),
    "causal_cross": lambda mha, q, v, k, m: mha(q, v, use_causal_mask=True),
    "attention_mask": lambda mha, q, v, k, m: mha(q, v, attention_mask=m),
    "all": lambda mha, q, v, k, m: mha(q, v, k, attention_mask=m, use_causal_mask=True),
    "scores": lambda mha, q, v, k, m: list(mha(q, v, attention_mask=m,
                                               return_attention_scores=True)),
}


@pytest.mark.parametrize("dropout", [0.0, 0.25])
@pytest.mark.parametrize("case", sorted(CALLS))
def test_masked_attention_matches_keras_everywhere(keras, case, dropout):
    """Every position, the padded ones too: with no dropout Keras's fused
    attention gives a fully masked query step equal weights over all key
    steps; with dropout (at inference) or with scores returned, its
    Softmax gives them weights 0."""
    ours = _model(pynn, CALLS[case], {"dropout": dropout})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _model(keras, CALLS[case], {"dropout": dropout})
    _copy_weights(ours, theirs)
    xs = _inputs()
    got = ours.predict(xs, verbose=0)
    want = theirs(xs, training=False)
    got = got if isinstance(got, list) else [got]
    want = list(want) if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-5)


def test_output_carries_the_query_mask(keras):
    ours = _model(pynn, CALLS["cross"], {})
    pooled = pynn.layers.GlobalAveragePooling1D()(ours.outputs[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pynn.Model(ours.inputs, pooled)
        theirs = _model(keras, CALLS["cross"], {})
        kmodel = keras.Model(theirs.inputs,
                             keras.layers.GlobalAveragePooling1D()(theirs.outputs[0]))
    _copy_weights(ours, theirs)
    xs = _inputs()
    xs[0][3, 0] = 1  # a query of one step: the average is over it alone
    np.testing.assert_allclose(model.predict(xs, verbose=0), np.asarray(kmodel(xs)),
                               rtol=1e-5, atol=1e-5)


def _book_layers(lib):
    """Deep Learning with Python's PositionalEmbedding and
    TransformerEncoder (chapter 11), written against ``lib``."""

    class PositionalEmbedding(lib.layers.Layer):
        def __init__(self, sequence_length, input_dim, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_embeddings = lib.layers.Embedding(input_dim=input_dim,
                                                         output_dim=output_dim)
            self.position_embeddings = lib.layers.Embedding(input_dim=sequence_length,
                                                            output_dim=output_dim)

        def call(self, inputs):
            length = lib.ops.shape(inputs)[-1]
            positions = np.arange(0, length, 1)
            return self.token_embeddings(inputs) + self.position_embeddings(positions)

        def compute_mask(self, inputs, mask=None):
            return lib.ops.not_equal(inputs, 0)

        # (not in the book: Keras's NumPy backend would find the shape by
        # running the call on an uninitialised array of ids)
        def compute_output_shape(self, input_shape):
            return tuple(input_shape) + (self.token_embeddings.output_dim,)

    class TransformerEncoder(lib.layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.attention = lib.layers.MultiHeadAttention(num_heads=num_heads,
                                                           key_dim=embed_dim)
            self.dense_proj = lib.Sequential([lib.layers.Dense(dense_dim, activation="relu"),
                                              lib.layers.Dense(embed_dim)])
            self.layernorm_1 = lib.layers.LayerNormalization()
            self.layernorm_2 = lib.layers.LayerNormalization()

        def call(self, inputs, mask=None):
            if mask is not None:
                mask = mask[:, np.newaxis, :]
            attention_output = self.attention(inputs, inputs, attention_mask=mask)
            proj_input = self.layernorm_1(inputs + attention_output)
            proj_output = self.dense_proj(proj_input)
            return self.layernorm_2(proj_input + proj_output)

    return PositionalEmbedding, TransformerEncoder


def _book_model(lib, length):
    PositionalEmbedding, TransformerEncoder = _book_layers(lib)
    # (the book's shape=(None,): Keras's NumPy backend needs the length)
    inputs = lib.Input(shape=(length,), dtype="int64")
    x = PositionalEmbedding(length, VOCAB, EMBED)(inputs)
    encoded = TransformerEncoder(EMBED, 16, 2)(x)
    x = lib.layers.GlobalMaxPooling1D()(encoded)
    outputs = lib.layers.Dense(1, activation="sigmoid")(x)
    return lib.Model(inputs, [encoded, outputs])


def test_book_transformer_encoder_matches_keras(keras):
    length = 7
    ours = _book_model(pynn, length)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _book_model(keras, length)
    rng = np.random.default_rng(2)
    x = _padded(rng, length, [7, 4, 1, 0, 2])
    ours.predict(x, verbose=0)  # builds the sublayers
    theirs(x)
    pairs = [(ours.layers[1].token_embeddings, theirs.layers[1].token_embeddings),
             (ours.layers[1].position_embeddings, theirs.layers[1].position_embeddings)]
    pairs += [(getattr(ours.layers[2], name), getattr(theirs.layers[2], name))
              for name in ("attention", "dense_proj", "layernorm_1", "layernorm_2")]
    pairs.append((ours.layers[-1], theirs.layers[-1]))
    for a, b in pairs:
        values = [rng.standard_normal(w.shape).astype(np.float32) * 0.5
                  for w in a.get_weights()]
        a.set_weights(values)
        b.set_weights(values)
    got = ours.predict(x, verbose=0)
    want = [np.asarray(w) for w in theirs(x, training=False)]
    # every position of the encoder's output, the padded ones included
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)


def _randomize(model):
    """Weights large enough that every entry moves the loss."""
    rng = np.random.default_rng(6)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])


def _finite_difference_check(model, x, weight, index, eps=1e-2):
    """The gradient of one weight entry from a GradientTape against central
    differences of the same loss; the traced call computes what predict
    does (the masks reach it)."""
    shape = model.predict(x, verbose=0).shape
    target = np.linspace(-1, 1, np.prod(shape), dtype=np.float32).reshape(shape)

    def loss_value():
        return float(np.mean(np.square(model.predict(x, verbose=0) - target)))
    with pynn.GradientTape() as tape:
        loss = pynn.ops.mean(pynn.ops.square(model(x) - target))
    np.testing.assert_allclose(float(np.asarray(loss)), loss_value(), rtol=1e-5)
    grad = np.asarray(tape.gradient(loss, weight))
    saved = weight.numpy()
    bumped = saved.copy()
    bumped[index] += eps
    weight.assign(bumped)
    up = loss_value()
    bumped[index] -= 2 * eps
    weight.assign(bumped)
    down = loss_value()
    weight.assign(saved)
    assert abs(grad[index]) > 1e-4  # the entry matters to the loss
    np.testing.assert_allclose(grad[index], (up - down) / (2 * eps), rtol=2e-2, atol=1e-4)


@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_masked_attention_gradients(dropout):
    """Through fully masked query steps too (equal weights, or none)."""
    pynn.utils.set_random_seed(3)
    model = _model(pynn, CALLS["all"], {"dropout": dropout})
    _randomize(model)
    mha = model.layers[-1]
    xs = _inputs()
    for index in [(0, 1, 2), (5, 0, 1)]:
        _finite_difference_check(model, xs, mha.value_kernel, index)
        _finite_difference_check(model, xs, mha.query_kernel, index)


def test_book_transformer_encoder_gradients():
    """The encoder's attention, given the mask by the custom layer's call
    and by the input it carries, differentiates as it computes."""
    pynn.utils.set_random_seed(4)
    length = 7
    full = _book_model(pynn, length)
    model = pynn.Model(full.inputs, full.outputs[0])
    x = _padded(np.random.default_rng(5), length, [7, 4, 1, 0, 2])
    model.predict(x, verbose=0)
    _randomize(model)
    attention = model.layers[2].attention
    _finite_difference_check(model, x, attention.value_kernel, (1, 0, 2))
    _finite_difference_check(model, x, attention.key_kernel, (3, 1, 4))


def _encoder_with(lib, attention):
    """A custom layer calling ``attention`` on its input, which carries the
    mask of Embedding(mask_zero=True)."""

    class Block(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.attention = attention(lib)

        def call(self, inputs, mask=None):
            return self.attention([inputs, inputs])

        def compute_output_shape(self, input_shape):
            return input_shape

    tokens = lib.Input(shape=(T,), dtype="int32")
    x = lib.layers.Embedding(VOCAB, EMBED, mask_zero=True)(tokens)
    return lib.Model(tokens, Block()(x))


@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_dense_attention_in_a_custom_layer_reads_carried_masks(keras, name):
    ours = _encoder_with(pynn, lambda lib: getattr(lib.layers, name)())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _encoder_with(keras, lambda lib: getattr(lib.layers, name)())
    x = _inputs()[0]
    ours.predict(x, verbose=0)
    theirs(x)
    rng = np.random.default_rng(7)
    for a, b in [(ours.layers[1], theirs.layers[1]),
                 (ours.layers[2].attention, theirs.layers[2].attention)]:
        values = [rng.standard_normal(w.shape).astype(np.float32) for w in a.get_weights()]
        a.set_weights(values)
        b.set_weights(values)
    got = ours.predict(x, verbose=0)
    want = np.asarray(theirs(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.any(got[3])  # padded queries: zero rows, as Keras's
