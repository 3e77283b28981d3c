"""Sequence models in TFLite: Embedding (GATHER), LSTM
(UNIDIRECTIONAL_SEQUENCE_LSTM), SimpleRNN (UNIDIRECTIONAL_SEQUENCE_RNN),
GRU and the cases the fused ops cannot express (unrolled builtin ops),
Bidirectional and TimeDistributed, in float32, float16 and dynamic range,
checked in the LiteRT interpreter against predict."""
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import pynn
from litehelp import convert, op_names, run_all
from pynn import layers
from pynn.utils import set_random_seed

STEPS, VOCAB = 12, 300
FUSED = {"LSTM": "UNIDIRECTIONAL_SEQUENCE_LSTM", "SimpleRNN": "UNIDIRECTIONAL_SEQUENCE_RNN",
         "GRU": "UNPACK"}
# Largest differences from predict: float16 and int8 weights round them.
TOLERANCE = {None: 1e-5, "float16": 5e-3, "dynamic": 5e-2}


def tokens(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, (n, STEPS))


def text_model(make, units=32):
    """ids -> Embedding(VOCAB, 32) -> make(...) -> outputs."""
    set_random_seed(4)
    inp = pynn.Input((STEPS,), dtype="int32")
    e = layers.Embedding(VOCAB, 32)(inp)
    return pynn.Model(inp, make(e))


def check(model, mode, xs, op=None):
    want = model.predict(xs, verbose=0)
    want = list(want) if isinstance(want, list) else [want]
    flat = convert(model, mode)
    if op is not None:
        assert op in op_names(flat)
    got = run_all(flat, xs if isinstance(xs, list) else [xs])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=TOLERANCE[mode], atol=TOLERANCE[mode])
    return flat


@pytest.mark.parametrize("mode", [None, "float16", "dynamic"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_layers(kind, return_sequences, go_backwards, mode):
    model = text_model(lambda e: getattr(layers, kind)(
        32, return_sequences=return_sequences, go_backwards=go_backwards)(e))
    flat = check(model, mode, tokens(), FUSED[kind])
    ops = op_names(flat)
    assert "GATHER" in ops
    if mode == "dynamic":
        # the recurrent weights and the embedding table are stored as int8
        assert "DEQUANTIZE" in ops


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_bidirectional(kind, merge_mode):
    model = text_model(lambda e: layers.Bidirectional(
        getattr(layers, kind)(16, return_sequences=True), merge_mode=merge_mode)(e))
    flat = check(model, None, tokens(), FUSED[kind])
    assert "REVERSE_V2" in op_names(flat) or kind == "GRU"


def test_imdb_lstm_runs_any_batch_and_keeps_no_state():
    """The tutorial's model: the file takes any batch size, and an
    invocation does not start from the previous one's state (the states
    are refilled with zeros each time)."""
    set_random_seed(5)
    model = pynn.Sequential([layers.Embedding(VOCAB, 32), layers.LSTM(32),
                             layers.Dense(1, activation="sigmoid")])
    x = tokens(6, seed=1)
    want = model.predict(x, verbose=0)
    flat = convert(model, None)
    it = Interpreter(model_content=flat)
    for rows in (slice(0, 1), slice(0, 6), slice(2, 3), slice(2, 3)):
        got = run_all(flat, [x[rows]], interpreter=it)[0]
        np.testing.assert_allclose(got, want[rows], rtol=1e-5, atol=1e-6)
    assert it.get_input_details()[0]["dtype"] == np.int32


@pytest.mark.parametrize("case", ["return_state", "hard_sigmoid", "gru_reset_before",
                                  "relu_rnn", "no_bias"])
def test_cells_the_fused_ops_cannot_express(case):
    """Written out step by step in builtin ops."""
    if case == "return_state":
        def make(e):
            y, h, c = layers.LSTM(8, return_sequences=True, return_state=True)(e)
            return [y, h, c]
    else:
        cell = {"hard_sigmoid": lambda: layers.LSTM(8, recurrent_activation="hard_sigmoid"),
                "gru_reset_before": lambda: layers.GRU(8, reset_after=False),
                "relu_rnn": lambda: layers.SimpleRNN(8, activation="relu"),
                "no_bias": lambda: layers.GRU(8, use_bias=False, go_backwards=True)}[case]

        def make(e):
            return cell()(e)
    flat = check(text_model(make), None, tokens())
    if case != "relu_rnn":
        assert "UNPACK" in op_names(flat)


def test_encoder_decoder_with_initial_states():
    set_random_seed(6)
    enc_in = pynn.Input((STEPS,), dtype="int32")
    dec_in = pynn.Input((5, 3))
    _, h, c = layers.LSTM(8, return_state=True)(layers.Embedding(VOCAB, 8)(enc_in))
    seq = layers.LSTM(8, return_sequences=True)(dec_in, initial_state=[h, c])
    model = pynn.Model([enc_in, dec_in], layers.TimeDistributed(layers.Dense(4))(seq))
    dec = np.random.default_rng(7).standard_normal((5, 5, 3)).astype(np.float32)
    flat = check(model, None, [tokens(), dec])
    assert "FULLY_CONNECTED" in op_names(flat)


def test_float_input_ids_are_cast():
    set_random_seed(8)
    inp = pynn.Input((STEPS,))
    model = pynn.Model(inp, layers.GRU(4)(layers.Embedding(VOCAB, 6)(inp)))
    flat = check(model, None, tokens().astype(np.float32))
    assert op_names(flat)[0] == "CAST"


def test_what_is_not_exported_is_named():
    set_random_seed(9)
    stateful = pynn.Sequential([pynn.Input(batch_shape=(2, STEPS, 3)),
                                layers.SimpleRNN(4, stateful=True)])
    with pytest.raises(pynn.lite.ConversionError, match="stateful"):
        convert(stateful, None)
    td = pynn.Sequential([pynn.Input((STEPS, 3)), layers.TimeDistributed(layers.Dropout(0.1))])
    with pytest.raises(pynn.lite.ConversionError, match="TimeDistributed"):
        convert(td, None)
