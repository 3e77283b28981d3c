"""The sequence layers (Embedding, Masking, SimpleRNN, LSTM, GRU,
Bidirectional, TimeDistributed) against float64 NumPy references of Keras
3's equations, for every combination of return_sequences, return_state,
go_backwards, masks and merge modes; their gradients through time against
central differences; stateful layers, initial states, the embedding's
sparse gradient, errors, and .pynn round trips."""
import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models.node import CallContext
from gradcheck import analytic, check_model_gradients

CELLS = ["SimpleRNN", "LSTM", "GRU"]
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}
T, F, U = 6, 3, 4


def sig(v):
    return 1 / (1 + np.exp(-v))


def reference(layer, x, mask=None, initial=None, zero_output_for_mask=None,
              go_backwards=None):
    """Keras 3's step equations of ``layer`` (its own weights and options)
    in float64: (outputs in processing order (batch, steps, units), final
    states).  A masked step carries the states over and outputs the carried
    h (zeros with zero_output_for_mask)."""
    kind = type(layer).__name__
    k = layer.kernel.value.astype(np.float64)
    r = layer.recurrent_kernel.value.astype(np.float64)
    b = None if layer.bias is None else layer.bias.value.astype(np.float64)
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    u = layer.units
    act = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0), "linear": lambda v: v,
           "sigmoid": sig, "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1)}
    f = act[layer.activation]
    g = act[layer.recurrent_activation] if kind != "SimpleRNN" else None
    h = np.zeros((batch, u)) if initial is None else np.asarray(initial[0], np.float64)
    c = np.zeros((batch, u)) if initial is None or kind != "LSTM" else \
        np.asarray(initial[1], np.float64)
    zero = layer.zero_output_for_mask if zero_output_for_mask is None else zero_output_for_mask
    back = layer.go_backwards if go_backwards is None else go_backwards
    outs = []
    for t in (range(steps - 1, -1, -1) if back else range(steps)):
        xt = x[:, t]
        cn = c
        if kind == "SimpleRNN":
            hn = f(xt @ k + h @ r + (0 if b is None else b))
        elif kind == "LSTM":
            z = xt @ k + h @ r + (0 if b is None else b)
            i, fg, o = g(z[:, :u]), g(z[:, u:2 * u]), g(z[:, 3 * u:])
            cn = fg * c + i * f(z[:, 2 * u:3 * u])
            hn = o * f(cn)
        elif layer.reset_after:
            bx, br = (0, 0) if b is None else (b[0], b[1])
            mx, mh = xt @ k + bx, h @ r + br
            z, rr = g(mx[:, :u] + mh[:, :u]), g(mx[:, u:2 * u] + mh[:, u:2 * u])
            hn = z * h + (1 - z) * f(mx[:, 2 * u:] + rr * mh[:, 2 * u:])
        else:
            mx = xt @ k + (0 if b is None else b)
            mh = h @ r[:, :2 * u]
            z, rr = g(mx[:, :u] + mh[:, :u]), g(mx[:, u:2 * u] + mh[:, u:])
            hn = z * h + (1 - z) * f(mx[:, 2 * u:] + (rr * h) @ r[:, 2 * u:])
        if mask is None:
            out, h, c = hn, hn, cn
        else:
            m = np.asarray(mask, bool)[:, t][:, None]
            out = np.where(m, hn, 0.0 if zero else h)
            h, c = np.where(m, hn, h), np.where(m, cn, c)
        outs.append(out)
    return np.stack(outs, 1), ([h, c] if kind == "LSTM" else [h])


def expected(layer, x, mask=None, initial=None):
    """What the layer returns, from the reference."""
    seq, states = reference(layer, x, mask, initial)
    out = seq if layer.return_sequences else seq[:, -1]
    return [out] + states if layer.return_state else [out]


def sequences(batch=5, steps=T, features=F, seed=0):
    """Inputs with a masked leading run, a masked tail, a row masked
    throughout and scattered masked steps (all-zero steps, for Masking)."""
    g = np.random.default_rng(seed)
    x = g.standard_normal((batch, steps, features)).astype(np.float32)
    mask = np.ones((batch, steps), bool)
    for row, steps_masked in enumerate([slice(0, 2), slice(-3, None), slice(None),
                                        slice(None, None, 2)][:batch]):
        mask[row, steps_masked] = False
    x[~mask] = 0.0
    return x, mask


def build(make, masked, features=F, steps=T):
    """A model reading (batch, steps, features) sequences through
    ``make(tensor)``, after a Masking layer when ``masked``."""
    inp = pynn.Input((steps, features))
    x = layers.Masking()(inp) if masked else inp
    return pynn.Model(inp, make(x))


def outputs_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def randomize(model, seed=1, scale=0.6):
    g = np.random.default_rng(seed)
    model.set_weights([(g.standard_normal(w.shape) * scale).astype(np.float32)
                       for w in model.get_weights()])


# ------------------------------------------------------------ forward

@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("return_state", [False, True], ids=["output", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("kind", CELLS)
def test_layer_matches_float64_reference(kind, return_sequences, return_state, go_backwards,
                                         masked):
    layer = getattr(layers, kind)(U, return_sequences=return_sequences,
                                  return_state=return_state, go_backwards=go_backwards)
    model = build(layer, masked)
    randomize(model)
    x, mask = sequences()
    got = outputs_list(model.predict(x, verbose=0))
    want = expected(layer, x, mask if masked else None)
    assert len(got) == len(want) == (1 + STATES[kind] if return_state else 1)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # the training forward pass computes the same
    train = outputs_list(model(x, training=True))
    for g, w in zip(train, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", [
    dict(activation="relu", recurrent_activation="hard_sigmoid"),
    dict(activation="linear", use_bias=False),
    dict(activation="sigmoid", recurrent_activation="tanh"),
], ids=["relu_hard_sigmoid", "linear_no_bias", "sigmoid_tanh"])
@pytest.mark.parametrize("kind", CELLS + ["GRU_reset_before"])
def test_activations_and_bias_options(kind, options):
    options = dict(options)
    if kind == "SimpleRNN":
        options.pop("recurrent_activation", None)
    if kind == "GRU_reset_before":
        kind, options["reset_after"] = "GRU", False
    layer = getattr(layers, kind)(U, return_sequences=True, **options)
    model = build(layer, True)
    randomize(model, scale=0.4)
    x, mask = sequences(seed=2)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected(layer, x, mask)[0],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
@pytest.mark.parametrize("return_state", [False, True], ids=["output", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("kind", CELLS)
def test_bidirectional_matches_float64_reference(kind, merge_mode, return_sequences,
                                                 return_state, masked):
    bi = layers.Bidirectional(getattr(layers, kind)(U, return_sequences=return_sequences,
                                                    return_state=return_state),
                              merge_mode=merge_mode)
    model = build(bi, masked)
    randomize(model, seed=3)
    x, mask = sequences(seed=4)
    m = mask if masked else None
    fseq, fst = reference(bi.forward_layer, x, m)
    bseq, bst = reference(bi.backward_layer, x, m)
    assert bi.forward_layer.zero_output_for_mask == return_sequences
    if return_sequences:
        f, b = fseq, bseq[:, ::-1]          # the backward sequence back in time order
    else:
        f, b = fseq[:, -1], bseq[:, -1]
    merged = {"concat": lambda: [np.concatenate([f, b], -1)], "sum": lambda: [f + b],
              "mul": lambda: [f * b], "ave": lambda: [(f + b) / 2],
              None: lambda: [f, b]}[merge_mode]()
    want = merged + (fst + bst if return_state else [])
    got = outputs_list(model.predict(x, verbose=0))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    assert [w.name for w in bi.weights] == ["kernel", "recurrent_kernel", "bias"] * 2
    # Keras 3's paths: under the wrapper, each direction's layer, its cell
    cell = bi.forward_layer.cell.name
    assert ["/".join(w.path.split("/")[-4:]) for w in bi.weights] == [
        f"{bi.name}/forward_{bi.forward_layer.name[8:]}/{cell}/{n}" for n in
        ("kernel", "recurrent_kernel", "bias")] + [
        f"{bi.name}/backward_{bi.backward_layer.name[9:]}/{cell}/{n}" for n in
        ("kernel", "recurrent_kernel", "bias")]


@pytest.mark.parametrize("kind", CELLS)
def test_initial_state_from_other_tensors(kind):
    """An encoder's final states start a decoder (Keras's seq2seq wiring)."""
    enc_in, dec_in = pynn.Input((T, F)), pynn.Input((T - 2, F))
    encoder = getattr(layers, kind)(U, return_state=True)
    outs = encoder(enc_in)
    decoder = getattr(layers, kind)(U, return_sequences=True)
    y = decoder(dec_in, initial_state=outs[1:])
    model = pynn.Model([enc_in, dec_in], y)
    randomize(model, seed=5)
    x1, _ = sequences(seed=6)
    x2 = x1[:, :T - 2] * 0.5
    states = expected(encoder, x1)[1:]
    np.testing.assert_allclose(model.predict([x1, x2], verbose=0),
                               expected(decoder, x2, initial=states)[0], rtol=1e-5, atol=1e-5)
    # the same through the eager call with arrays
    states32 = [s.astype(np.float32) for s in states]
    np.testing.assert_allclose(decoder(x2, initial_state=states32),
                               expected(decoder, x2, initial=states)[0], rtol=1e-5, atol=1e-5)


def test_embedding_lookup_and_mask_zero():
    emb = layers.Embedding(10, 3, mask_zero=True)
    ids = np.array([[1, 2, 0], [0, 9, 9]])
    y = emb(ids)
    table = emb.embeddings.value
    np.testing.assert_array_equal(y, table[ids])
    assert (emb.weights[0].name, emb.weights[0].path) == ("embeddings",
                                                          f"{emb.name}/embeddings")
    ctx = CallContext()
    emb.forward(ctx, ids.astype(np.int32), False)
    np.testing.assert_array_equal(emb.compute_mask(ctx, ids, None), ids != 0)
    # a float Input feeding an Embedding reads integer ids, as Keras allows
    inp = pynn.Input((3,))
    model = pynn.Model(inp, layers.Embedding(10, 3)(inp))
    np.testing.assert_array_equal(model.predict(ids.astype(np.float64), verbose=0),
                                  model.layers[1].embeddings.value[ids])


def test_masking_masks_and_zeroes_steps():
    x, mask = sequences()
    x[4, 1] = 0.5  # a step of one repeated value other than the mask value
    layer = layers.Masking(mask_value=0.5)
    ctx = CallContext()
    y = layer.forward(ctx, x, False)
    keep = np.any(x != 0.5, axis=-1)
    np.testing.assert_array_equal(layer.compute_mask(ctx, x, None), keep)
    np.testing.assert_array_equal(y, x * keep[..., None])


def test_mask_reaches_through_dense_and_is_consumed_by_pooling():
    """Dense passes a mask on (Keras 3); GlobalAveragePooling1D averages the
    unmasked steps only and ends the mask."""
    inp = pynn.Input((T,), dtype="int32")
    e = layers.Embedding(12, 4, mask_zero=True)(inp)
    d = layers.Dense(5, activation="relu")(e)
    assert d._has_mask
    pooled = layers.GlobalAveragePooling1D()(d)
    assert not pooled._has_mask
    model = pynn.Model(inp, pooled)
    ids = np.array([[3, 4, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 7]])
    dense = model.predict(ids, verbose=0)
    feats = pynn.Model(inp, d).predict(ids, verbose=0)
    m = (ids != 0)[..., None]
    np.testing.assert_allclose(dense, (feats * m).sum(1) / m.sum(1), rtol=1e-6, atol=1e-6)


def test_time_distributed_dense():
    inp = pynn.Input((T, F))
    td = layers.TimeDistributed(layers.Dense(7, activation="tanh"))
    model = pynn.Model(inp, td(inp))
    x, _ = sequences()
    k, b = td.layer.kernel.value, td.layer.bias.value
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x @ k + b), rtol=1e-5,
                               atol=1e-6)
    assert td.count_params() == F * 7 + 7 and len(model.trainable_weights) == 2


# ----------------------------------------------------------- gradients

def _compiled(model, loss="mse"):
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.mark.parametrize("options", [
    dict(return_sequences=True),
    dict(go_backwards=True),
    dict(return_sequences=True, go_backwards=True, masked=True),
    dict(masked=True, use_bias=False),
], ids=["seq", "backwards", "seq_backwards_masked", "masked_no_bias"])
@pytest.mark.parametrize("kind", CELLS + ["GRU_reset_before"])
def test_gradients_through_time(kind, options):
    pynn.utils.set_random_seed(11)
    options = dict(options)
    masked = options.pop("masked", False)
    if kind == "GRU_reset_before":
        kind, options["reset_after"] = "GRU", False
    layer = getattr(layers, kind)(3, **options)

    def make(x):
        return layers.Dense(2)(layer(layers.Dense(3, activation="tanh")(x)))
    model = _compiled(build(make, masked, steps=5))
    x, _ = sequences(batch=4, steps=5, seed=12)
    out_shape = model.output_shape
    y = np.random.default_rng(13).standard_normal((4,) + out_shape[1:]).astype(np.float32)
    check_model_gradients(model, x, y)


def _evaluated_loss(model, x, y):
    """The model's loss as evaluate computes it (weight penalties included)."""
    return float(model.evaluate(x, y, batch_size=len(x), verbose=0))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_gradients(merge_mode):
    pynn.utils.set_random_seed(14)

    def make(x):
        outs = layers.Bidirectional(layers.LSTM(3, return_sequences=True, return_state=True),
                                    merge_mode=merge_mode)(x)
        n = 2 if merge_mode is None else 1
        seq = layers.concatenate(outs[:n]) if n == 2 else outs[0]
        pooled = layers.GRU(2)(seq)
        return layers.concatenate([pooled, outs[n], outs[n + 3]])  # and two final states
    model = _compiled(build(make, True, steps=4))
    x, _ = sequences(batch=4, steps=4, seed=15)
    y = np.random.default_rng(16).standard_normal((4, 8)).astype(np.float32)
    check_model_gradients(model, x, y)


def test_shared_lstm_and_embedding_in_a_two_input_graph():
    """One Embedding and one LSTM read two inputs (Keras's shared-layer
    example): their gradients are the sums over both calls, masks included."""
    pynn.utils.set_random_seed(17)
    a, b = pynn.Input((5,), dtype="int32"), pynn.Input((5,), dtype="int32")
    emb = layers.Embedding(9, 3, mask_zero=True)
    lstm = layers.LSTM(4)
    merged = layers.concatenate([lstm(emb(a)), lstm(emb(b))])
    model = _compiled(pynn.Model([a, b], layers.Dense(1)(merged)))
    g = np.random.default_rng(18)
    xa, xb = g.integers(0, 9, (4, 5)), g.integers(0, 9, (4, 5))
    xa[0, 3:] = 0
    xb[1, :2] = 0
    y = g.standard_normal((4, 1)).astype(np.float32)
    check_model_gradients(model, [xa, xb], y)


def test_initial_state_gradients_reach_the_encoder():
    pynn.utils.set_random_seed(19)
    enc_in, dec_in = pynn.Input((4, F)), pynn.Input((3, F))
    _, h, c = layers.LSTM(3, return_state=True)(enc_in)
    h0 = layers.Dense(3, activation="tanh")(h)
    y = layers.LSTM(3, return_sequences=True)(dec_in, initial_state=[h0, c])
    model = _compiled(pynn.Model([enc_in, dec_in], layers.TimeDistributed(layers.Dense(2))(y)))
    x1, _ = sequences(batch=4, steps=4, seed=20)
    x2, _ = sequences(batch=4, steps=3, seed=21)
    target = np.random.default_rng(22).standard_normal((4, 3, 2)).astype(np.float32)
    check_model_gradients(model, [x1, x2], target)


def test_embedding_masking_and_pooling_gradients():
    pynn.utils.set_random_seed(23)
    inp = pynn.Input((6,), dtype="int32")
    e = layers.Embedding(8, 3, mask_zero=True)(inp)
    pooled = layers.GlobalAveragePooling1D()(layers.Dense(4, activation="tanh")(e))
    model = _compiled(pynn.Model(inp, layers.Dense(2)(pooled)))
    ids = np.random.default_rng(24).integers(0, 8, (5, 6))
    ids[0, 2:] = 0
    y = np.random.default_rng(25).standard_normal((5, 2)).astype(np.float32)
    check_model_gradients(model, ids, y)
    inp = pynn.Input((T, F))
    model = _compiled(pynn.Model(inp, layers.GRU(2)(layers.Masking()(inp))))
    x, _ = sequences(seed=26)
    check_model_gradients(model, x, np.ones((5, 2), np.float32))


def _embedding_grad(model, ids, y):
    analytic(model, ids, y)
    emb = next(layer for layer in model.layers if isinstance(layer, layers.Embedding))
    return emb.embeddings.grad.copy()


@pytest.mark.parametrize("shared", [False, True], ids=["one_call", "shared"])
def test_embedding_gradient_leaves_no_stale_rows(shared):
    """Step after step, the sparse gradient (previous rows cleared) equals
    the gradient a fresh model computes from scratch."""
    pynn.utils.set_random_seed(27)
    a, b = pynn.Input((4,), dtype="int32"), pynn.Input((4,), dtype="int32")
    emb = layers.Embedding(30, 2)
    x = layers.GlobalAveragePooling1D()(emb(a))
    if shared:
        x = layers.add([x, layers.GlobalAveragePooling1D()(emb(b))])
    model = _compiled(pynn.Model([a, b] if shared else a, layers.Dense(1)(x)))
    g = np.random.default_rng(28)
    y = np.ones((3, 1), np.float32)
    for _ in range(4):
        ids = [g.integers(0, 30, (3, 4)) for _ in range(2 if shared else 1)]
        got = _embedding_grad(model, ids if shared else ids[0], y)
        fresh = pynn.models.clone_model(model)
        fresh.set_weights(model.get_weights())
        fresh.compile(optimizer="sgd", loss="mse")
        want = _embedding_grad(fresh, ids if shared else ids[0], y)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        used = np.unique(np.concatenate([i.ravel() for i in ids]))
        rows = got.reshape(30, 2)
        assert not np.any(np.delete(rows, used, axis=0))


def test_embedding_regularizer_gradient_is_dense():
    pynn.utils.set_random_seed(29)
    inp = pynn.Input((4,), dtype="int32")
    x = layers.Embedding(6, 2, embeddings_regularizer=pynn.regularizers.l2(0.1))(inp)
    model = _compiled(pynn.Model(inp, layers.Dense(1)(layers.Flatten()(x))))
    ids = np.array([[1, 2, 1, 0], [3, 3, 2, 1]])
    for _ in range(2):
        check_model_gradients(model, ids, np.ones((2, 1), np.float32),
                              loss_fn=_evaluated_loss)


def test_dropout_draws_masks_while_training_only():
    pynn.utils.set_random_seed(30)
    layer = layers.LSTM(8, dropout=0.5, recurrent_dropout=0.3, return_sequences=True)
    x, _ = sequences(batch=16, steps=5, features=6, seed=31)
    inference = layer(x)
    np.testing.assert_allclose(inference, layer(x), rtol=0, atol=0)
    np.testing.assert_allclose(inference, expected(layer, x)[0], rtol=1e-5, atol=1e-5)
    t1, t2 = layer(x, training=True), layer(x, training=True)
    assert not np.allclose(t1, inference) and not np.allclose(t1, t2)
    model = _compiled(build(layers.GRU(4, dropout=0.2, recurrent_dropout=0.2), False,
                            features=6, steps=5))
    model.fit(x, np.zeros((16, 4), np.float32), epochs=2, batch_size=4, verbose=0)


# ------------------------------------------------------------ states

@pytest.mark.parametrize("kind", CELLS)
def test_stateful_layer_carries_states_across_batches(kind):
    layer = getattr(layers, kind)(U, stateful=True, return_sequences=True)
    inp = pynn.Input(batch_shape=(2, 3, F))
    model = pynn.Model(inp, layer(inp))
    randomize(model, seed=32)
    x, _ = sequences(batch=2, steps=9, seed=33)
    chunks = [model.predict(x[:, i:i + 3], verbose=0) for i in range(0, 9, 3)]
    np.testing.assert_allclose(np.concatenate(chunks, 1), expected(layer, x)[0],
                               rtol=1e-5, atol=1e-5)
    layer.reset_states()
    np.testing.assert_allclose(model.predict(x[:, :3], verbose=0), chunks[0], rtol=1e-6)
    h = np.full((2, U), 0.3, np.float32)
    layer.reset_states([h] * STATES[kind])
    np.testing.assert_allclose(layer.states[0], h)
    with pytest.raises(ValueError, match="batch size of 2"):
        model.predict(x[:1, :3], verbose=0)
    with pytest.raises(ValueError, match="fixed batch size"):
        getattr(layers, kind)(U, stateful=True)(pynn.Input((3, F)))
    with pytest.raises(AttributeError, match="stateful"):
        getattr(layers, kind)(U).reset_states()


def test_stateful_training_keeps_states_and_runs():
    layer = layers.LSTM(4, stateful=True)
    inp = pynn.Input(batch_shape=(4, 5, F))
    model = _compiled(pynn.Model(inp, layers.Dense(1)(layer(inp))))
    x, _ = sequences(batch=8, steps=5, seed=34)
    model.fit(x, np.ones((8, 1), np.float32), batch_size=4, epochs=1, shuffle=False,
              verbose=0)
    assert np.any(layer.states[0] != 0)


# ------------------------------------------------------------ errors

def test_bad_inputs_give_clear_errors():
    emb = layers.Embedding(10, 3)
    with pytest.raises(ValueError, match=r"Embedding 'embedding.*' \(input_dim=10\).*"
                                         r"outside \[0, 10\).*largest 12"):
        emb(np.array([[1, 12]]))
    with pytest.raises(ValueError, match="outside"):
        emb(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="token ids must be integers"):
        emb(np.array([[1.5, 2.0]]))
    model = pynn.Sequential([layers.Embedding(10, 3), layers.GlobalAveragePooling1D()])
    with pytest.raises(ValueError, match="integer ids"):
        model.predict(np.array([[1.5, 2.0]]), verbose=0)
    with pytest.raises(ValueError, match="outside"):
        model.predict(np.array([[1, 10]]), verbose=0)
    with pytest.raises(ValueError, match="must fit in int32"):
        model.predict(np.array([[1, 2 ** 40]]), verbose=0)
    # As Keras 3's, input_length is ignored (with a warning): the model is
    # built on the first data, whatever its length, and so is the layer.
    with pytest.warns(UserWarning, match="input_length"):
        model = pynn.Sequential([layers.Embedding(10, 3, input_length=4), layers.Flatten(),
                                 layers.Dense(1)])
    assert model.predict(np.ones((1, 5), int), verbose=0).shape == (1, 1)
    with pytest.warns(UserWarning, match="input_length"):
        emb = layers.Embedding(10, 3, input_length=4)
    assert emb(np.ones((1, 5), int)).shape == (1, 5, 3)
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        layers.Embedding(0, 3)
    with pytest.raises(ValueError, match=r"sequence of shape \(batch, timesteps"):
        layers.LSTM(3)(pynn.Input((5,)))
    with pytest.raises(ValueError, match="activation must be one of"):
        layers.GRU(3, activation="softmax")
    with pytest.raises(ValueError, match="dropout must be a number in"):
        layers.LSTM(3, dropout=1.5)
    with pytest.raises(ValueError, match="must be a recurrent layer"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="different go_backwards"):
        layers.Bidirectional(layers.LSTM(3, go_backwards=True))
    with pytest.raises(ValueError, match="initial_state must hold 2"):
        layers.LSTM(3)(pynn.Input((5, 2)), initial_state=[pynn.Input((3,))])
    with pytest.raises(ValueError, match=r"each initial state must have shape \(batch, 3\)"):
        layers.GRU(3)(np.ones((2, 5, 2), np.float32),
                      initial_state=[np.ones((2, 4), np.float32)])


class _BadMask(layers.Layer):
    """Passes its input on with a mask of the wrong shape."""

    def compute_mask(self, ctx, inputs, mask):
        return np.ones((inputs.shape[0], inputs.shape[1] + 1), bool)

    def _output_has_mask(self, input_masks):
        return True


def test_mask_of_the_wrong_shape_is_refused():
    inp = pynn.Input((T, F))
    model = pynn.Model(inp, layers.LSTM(2)(_BadMask()(inp)))
    x, _ = sequences()
    with pytest.raises(ValueError, match=r"LSTM 'lstm.*': the mask must have shape \(5, 6\)"):
        model.predict(x, verbose=0)
    with pytest.raises(ValueError, match="mask must have shape"):
        pynn.ops.gru(x, np.ones((F, 6), np.float32), np.ones((2, 6), np.float32),
                     mask=np.ones((5, 7), bool))


def test_pad_sequences_refuses_ragged_nesting():
    with pytest.raises(ValueError):
        pynn.utils.pad_sequences([[1, 2], [3, [4, 5]]])
    with pytest.raises((ValueError, TypeError)):
        pynn.utils.pad_sequences([[1.5, "a"]])


# ------------------------------------------------------------- files

def test_pynn_file_round_trip(tmp_path):
    pynn.utils.set_random_seed(35)
    inp = pynn.Input((T,), dtype="int32")
    e = layers.Embedding(20, 4, mask_zero=True)(inp)
    s = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="ave")(e)
    s = layers.GRU(5, return_sequences=True, reset_after=False, go_backwards=True)(s)
    s = layers.TimeDistributed(layers.Dense(2))(s)
    out = layers.SimpleRNN(3, activation="relu")(s)
    model = pynn.Model(inp, layers.Dense(1, activation="sigmoid")(out))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    ids = np.random.default_rng(36).integers(0, 20, (8, T))
    ids[:, :2] = 0
    y = np.random.default_rng(37).integers(0, 2, (8, 1))
    model.fit(ids, y, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "seq.pynn"
    model.save(path)
    loaded = pynn.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0),
                               rtol=1e-6)
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    assert loaded.evaluate(ids, y, verbose=0) == pytest.approx(model.evaluate(ids, y, verbose=0))
    loaded.fit(ids, y, epochs=1, batch_size=4, verbose=0)  # the optimizer state came along
    model.save_weights(tmp_path / "w.weights.pynn")
    again = pynn.Model.from_config(model.get_config())
    again.load_weights(tmp_path / "w.weights.pynn")
    np.testing.assert_allclose(again.predict(ids, verbose=0), model.predict(ids, verbose=0),
                               rtol=1e-6)


# ------------------------------------------------------------- memory

def memory_task(n, steps, seed):
    """The label is the first token (1 or 2) of a sequence of `steps`; the
    other of the two appears once later, so every sequence holds the same
    bag of words whatever its label: only a model that remembers what came
    first, steps - 1 steps before the end, can tell."""
    g = np.random.default_rng(seed)
    x = g.integers(3, 10, (n, steps))
    label = g.integers(0, 2, n)
    x[:, 0] = 1 + label
    x[np.arange(n), g.integers(1, steps, n)] = 2 - label
    return x, label


@pytest.mark.parametrize("reader", ["LSTM", "GRU", "bag_of_words"])
def test_memory_task_needs_the_recurrence(reader):
    x, y = memory_task(1024, 20, 0)
    xt, yt = memory_task(512, 20, 1)
    pynn.utils.set_random_seed(0)
    if reader == "bag_of_words":
        body = [layers.GlobalAveragePooling1D(), layers.Dense(16, activation="relu")]
    else:
        body = [getattr(layers, reader)(16)]
    model = pynn.Sequential([layers.Embedding(10, 8)] + body +
                            [layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pynn.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    accuracy = model.evaluate(xt, yt, verbose=0)[1]
    if reader == "bag_of_words":
        assert accuracy < 0.6  # chance: the bags are the same for both labels
    else:
        assert accuracy > 0.95


def test_weights_by_name_reach_wrapped_layers(tmp_path):
    def build():
        inp = pynn.Input((T, F))
        y = layers.Bidirectional(layers.GRU(3, name="gru"), name="bi")(inp)
        return pynn.Model(inp, layers.Dense(2, name="out")(y))
    pynn.utils.set_random_seed(38)
    model = build()
    model.save_weights(tmp_path / "w.weights.pynn")
    other = build()
    other.load_weights(tmp_path / "w.weights.pynn", by_name=True)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
