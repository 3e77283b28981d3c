"""The sequence layers against Keras 3 itself (its NumPy backend, a test-only
reference): Keras's weights, set into the pynn layers as they are, give
Keras's outputs, masked losses and metrics to 1e-5."""

import numpy as np
import pytest

import pynn
from pynn import layers

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = [needs_keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

STEPS, VOCAB = 7, 20


def ids(seed=0, empty_row=True):
    """Token ids with padding (0) at the start, in the middle, throughout
    (``empty_row``) and at the end of rows."""
    g = np.random.default_rng(seed)
    x = g.integers(1, VOCAB, (6, STEPS))
    x[0, 4:] = 0
    x[1, :2] = 0
    x[2, :-1 if not empty_row else None] = 0
    x[3, 1::3] = 0
    return x


def twin(make):
    """The same graph in Keras and in pynn (``make(L, inp)`` builds its
    outputs from layer module L); the pynn model takes Keras's weights.
    Both start their automatic names afresh (other tests create layers in
    one library and not the other), so the names can be compared."""
    keras.backend.clear_session()
    pynn.backend.clear_session(free_memory=False)
    k_in = keras.Input((STEPS,), dtype="int32")
    km = keras.Model(k_in, make(keras.layers, k_in))
    p_in = pynn.Input((STEPS,), dtype="int32")
    pm = pynn.Model(p_in, make(layers, p_in))
    assert pm.count_params() == km.count_params()
    pm.set_weights(km.get_weights())
    return km, pm


def assert_same_outputs(km, pm, x):
    kout, pout = km.predict(x, verbose=0), pm.predict(x, verbose=0)
    kout = list(kout) if isinstance(kout, (list, tuple)) else [kout]
    pout = list(pout) if isinstance(pout, (list, tuple)) else [pout]
    assert len(kout) == len(pout)
    for a, b in zip(kout, pout):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


CELLS = [("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False}), ("SimpleRNN", {})]
CELL_IDS = ["LSTM", "GRU", "GRU_reset_before", "SimpleRNN"]


@pytest.mark.parametrize("kind, extra", CELLS, ids=CELL_IDS)
def test_recurrent_layers_match_keras(kind, extra):
    """Every combination of return_sequences, return_state, go_backwards and
    masking, as branches of one model."""
    def make(L, inp):
        plain = L.Embedding(VOCAB, 5)(inp)
        masked = L.Embedding(VOCAB, 5, mask_zero=True)(inp)
        outs = []
        for seq in (plain, masked):
            for rs in (False, True):
                for st in (False, True):
                    for gb in (False, True):
                        y = getattr(L, kind)(4, return_sequences=rs, return_state=st,
                                             go_backwards=gb, **extra)(seq)
                        outs += list(y) if st else [y]
        return outs
    km, pm = twin(make)
    assert_same_outputs(km, pm, ids(1))


@pytest.mark.parametrize("kind, extra", CELLS, ids=CELL_IDS)
def test_bidirectional_matches_keras(kind, extra):
    def make(L, inp):
        masked = L.Embedding(VOCAB, 5, mask_zero=True)(inp)
        outs = []
        for mode in ("concat", "sum", "mul", "ave", None):
            for rs in (False, True):
                for st in (False, True):
                    y = L.Bidirectional(getattr(L, kind)(3, return_sequences=rs,
                                                         return_state=st, **extra),
                                        merge_mode=mode)(masked)
                    outs += list(y) if isinstance(y, (list, tuple)) else [y]
        return outs
    km, pm = twin(make)
    assert_same_outputs(km, pm, ids(2))
    kb = [l for l in km.layers if type(l).__name__ == "Bidirectional"][0]
    pb = [l for l in pm.layers if type(l).__name__ == "Bidirectional"][0]
    assert [w.name for w in kb.weights] == [w.name.split("/")[-1] for w in pb.weights]
    assert kb.forward_layer.name == pb.forward_layer.name
    assert kb.backward_layer.name == pb.backward_layer.name


def test_stacks_with_dense_pooling_and_time_distributed_match_keras():
    def make(L, inp):
        e = L.Embedding(VOCAB, 6, mask_zero=True)(inp)
        d = L.Dense(5, activation="relu")(e)          # passes the mask on
        s = L.LSTM(4, return_sequences=True, activation="relu",
                   recurrent_activation="hard_sigmoid")(d)
        t = L.TimeDistributed(L.Dense(3))(s)
        return [L.GlobalAveragePooling1D()(t), L.GRU(2)(t), L.SimpleRNN(3)(e)]
    km, pm = twin(make)
    # (Keras's masked mean of a row with no step left is NaN; pynn's is 0)
    assert_same_outputs(km, pm, ids(3, empty_row=False))


def test_masking_layer_matches_keras():
    g = np.random.default_rng(4)
    x = g.standard_normal((5, STEPS, 3)).astype(np.float32)
    x[0, 3:] = 0.0
    x[2, :2] = 0.0

    def make(L, inp):
        m = L.Masking()(inp)
        return [m, L.LSTM(4, return_sequences=True)(m), L.GRU(3, go_backwards=True)(m)]
    k_in, p_in = keras.Input((STEPS, 3)), pynn.Input((STEPS, 3))
    km, pm = keras.Model(k_in, make(keras.layers, k_in)), pynn.Model(p_in, make(layers, p_in))
    pm.set_weights(km.get_weights())
    assert_same_outputs(km, pm, x)


@pytest.mark.parametrize("loss, act, units", [
    ("sparse_categorical_crossentropy", "softmax", 3), ("binary_crossentropy", "sigmoid", 1),
    ("mse", "linear", 1)])
def test_masked_sequence_losses_and_metrics_match_keras(loss, act, units):
    """Keras weighs a sequence output's loss and metrics by its mask: the
    means are over the unmasked steps."""
    def make(L, inp):
        e = L.Embedding(VOCAB, 5, mask_zero=True)(inp)
        return L.Dense(units, activation=act)(L.GRU(4, return_sequences=True)(e))
    km, pm = twin(make)
    metrics = ["accuracy"] if units > 1 else ["accuracy", "mae"]
    for m in (km, pm):
        m.compile(optimizer="sgd", loss=loss, metrics=metrics)
    g = np.random.default_rng(5)
    y = g.integers(0, 3, (6, STEPS)) if units > 1 else \
        g.integers(0, 2, (6, STEPS, 1)).astype(np.float32)
    x = ids(6)
    np.testing.assert_allclose(pm.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0),
                               rtol=1e-5)
