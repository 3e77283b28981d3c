"""Masked sequence models in TFLite: Embedding(mask_zero=True) and Masking
feeding recurrent layers, Bidirectional and GlobalAveragePooling1D, run in
the LiteRT interpreter on padded sequences of different lengths and
compared with predict; what the exporter cannot write with its mask is
refused, never exported as if unmasked."""
import numpy as np
import pytest

import pynn
from litehelp import convert, op_names, run_all
from pynn import layers
from pynn.utils import set_random_seed

STEPS, VOCAB = 7, 30
TOLERANCE = {None: 1e-4, "float16": 5e-3, "dynamic": 5e-2}


def padded_ids():
    """Sequences of lengths 3, 7, 2 (in the middle), 0 and 5, padded with 0
    after (and, for one, before) their ids."""
    rng = np.random.default_rng(3)
    x = rng.integers(1, VOCAB, (5, STEPS)).astype(np.int32)
    x[0, 3:] = 0
    x[2, :2] = 0
    x[2, 4:] = 0
    x[3] = 0
    x[4, :2] = 0
    return x


def padded_features():
    x = np.random.default_rng(4).normal(size=(5, STEPS, 3)).astype(np.float32)
    mask = padded_ids() != 0
    return x * mask[..., None]


def check(model, xs, mode=None):
    xs = xs if isinstance(xs, list) else [xs]
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    flat = convert(model, mode)
    got = run_all(flat, xs)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=TOLERANCE[mode], atol=TOLERANCE[mode])
    return flat


def ids_model(*body):
    set_random_seed(5)
    return pynn.Sequential([pynn.Input((STEPS,), dtype="int32"),
                            layers.Embedding(VOCAB, 4, mask_zero=True), *body])


def test_padding_changes_the_answer():
    # the checks below would pass without masks if padding changed nothing
    model = ids_model(layers.LSTM(5))
    unmasked = ids_model(layers.LSTM(5))
    unmasked.layers[0].mask_zero = False
    x = padded_ids()
    assert np.abs(model.predict(x, verbose=0) - unmasked.predict(x, verbose=0)).max() > 1e-3


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_masked_recurrent_layers(kind, return_sequences, go_backwards):
    model = ids_model(getattr(layers, kind)(5, return_sequences=return_sequences,
                                            go_backwards=go_backwards))
    flat = check(model, padded_ids())
    ops = op_names(flat)
    assert "NOT_EQUAL" in ops and "UNIDIRECTIONAL_SEQUENCE_LSTM" not in ops


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_masked_bidirectional(kind, merge_mode):
    model = ids_model(layers.Bidirectional(getattr(layers, kind)(5, return_sequences=True),
                                           merge_mode=merge_mode),
                      layers.Bidirectional(layers.SimpleRNN(3)), layers.Dense(2))
    check(model, padded_ids())


def test_zero_output_for_mask_and_initial_states():
    set_random_seed(6)
    enc, dec = pynn.Input((STEPS,), dtype="int32"), pynn.Input((STEPS,), dtype="int32")
    _, h, c = layers.LSTM(5, return_state=True)(layers.Embedding(VOCAB, 4, mask_zero=True)(enc))
    d = layers.LSTM(5, return_sequences=True)(layers.Embedding(VOCAB, 4, mask_zero=True)(dec),
                                              initial_state=[h, c])
    z = layers.GRU(5, return_sequences=True, zero_output_for_mask=True)(
        layers.Embedding(VOCAB, 4, mask_zero=True)(dec))
    model = pynn.Model([enc, dec], [layers.Dense(3)(d), z])
    x = padded_ids()
    check(model, [x, x[::-1].copy()])


def test_masking_layer_before_lstm():
    set_random_seed(7)
    model = pynn.Sequential([pynn.Input((STEPS, 3)), layers.Masking(0.0),
                             layers.LSTM(5, return_sequences=True), layers.LSTM(4)])
    flat = check(model, padded_features())
    assert "REDUCE_ANY" in op_names(flat)
    set_random_seed(7)
    shifted = pynn.Sequential([pynn.Input((STEPS, 3)), layers.Masking(-1.0),
                               layers.GRU(4, return_sequences=True)])
    x = padded_features()
    x[x == 0] = -1.0
    check(shifted, x)


def test_masked_global_average_pooling():
    # Keras averages over the unmasked steps only; a row with none gives zeros
    model = ids_model(layers.Dense(6, activation="relu"), layers.GlobalAveragePooling1D(),
                      layers.Dense(2))
    check(model, padded_ids())


@pytest.mark.parametrize("mode", ["float16", "dynamic"])
def test_masked_models_quantized(mode):
    model = ids_model(layers.Bidirectional(layers.LSTM(16, return_sequences=True)),
                      layers.GlobalAveragePooling1D(), layers.Dense(2))
    flat = check(model, padded_ids(), mode)
    if mode == "dynamic":
        assert "DEQUANTIZE" in op_names(flat) or "FULLY_CONNECTED" in op_names(flat)


def test_a_layer_using_a_mask_it_cannot_write_is_refused():
    set_random_seed(8)
    inp = pynn.Input((STEPS,), dtype="int32")
    e = layers.Embedding(VOCAB, 4, mask_zero=True)(inp)
    merged = layers.Add()([e, layers.Masking(0.5)(layers.Dense(4)(e))])
    model = pynn.Model(inp, layers.LSTM(3)(merged))
    with pytest.raises(pynn.lite.ConversionError, match="lstm.*mask"):
        convert(model, None)


@pytest.mark.parametrize("scores", [False, True], ids=["output", "scores"])
@pytest.mark.parametrize("causal", [False, True], ids=["padding", "causal"])
def test_attention_with_carried_padding_masks(causal, scores):
    # Keras 3: the query's mask (B, T, 1) and the value's and key's (B, 1, S)
    set_random_seed(9)
    inp = pynn.Input((STEPS,), dtype="int32")
    e = layers.Embedding(VOCAB, 8, mask_zero=True)(inp)
    r = layers.MultiHeadAttention(2, 4)(e, e, use_causal_mask=causal,
                                        return_attention_scores=scores)
    a = r[0] if scores else r
    x = layers.LayerNormalization()(layers.Add()([e, a]))
    y = layers.Dense(2)(layers.GlobalAveragePooling1D()(x))
    flat = check(pynn.Model(inp, [y, r[1]] if scores else y), padded_ids())
    assert "NOT_EQUAL" in op_names(flat)


@pytest.mark.parametrize("mode", [None, "float16", "dynamic"])
def test_cross_attention_with_two_masks(mode):
    set_random_seed(10)
    q, v = pynn.Input((STEPS,), dtype="int32"), pynn.Input((STEPS,), dtype="int32")
    eq = layers.Embedding(VOCAB, 8, mask_zero=True)(q)
    ev = layers.Embedding(VOCAB, 8, mask_zero=True)(v)
    a = layers.MultiHeadAttention(2, 4, dropout=0.1)(eq, ev)
    # the attention output carries the query's mask on to the LSTM
    model = pynn.Model([q, v], layers.LSTM(3)(a))
    x = padded_ids()
    check(model, [x, x[::-1].copy()], mode)


def test_attention_mask_given_as_an_input():
    set_random_seed(11)
    inp, given = pynn.Input((STEPS, 8)), pynn.Input((STEPS, STEPS))
    out = layers.MultiHeadAttention(2, 4)(inp, inp, attention_mask=given)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, STEPS, 8)).astype(np.float32)
    mask = (rng.random((4, STEPS, STEPS)) > 0.4).astype(np.float32)
    mask[0] = 0  # a query row with every key masked attends to all of them
    check(pynn.Model([inp, given], out), [x, mask])


@pytest.mark.parametrize("mode", [None, "float16"])
def test_padding_mask_from_ops_not_equal(mode):
    # the keras.io pattern: mask = ops.expand_dims(ops.not_equal(ids, 0), 1)
    set_random_seed(13)
    inp = pynn.Input((STEPS,), dtype="int32")
    e = layers.Embedding(VOCAB, 8)(inp)
    mask = pynn.ops.expand_dims(pynn.ops.not_equal(inp, 0), 1)
    a = layers.MultiHeadAttention(2, 4)(e, e, attention_mask=mask)
    check(pynn.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling1D()(a))), padded_ids(),
          mode)
