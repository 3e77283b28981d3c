"""Keras 3 behaviours seen to differ after the common paths: which nodes of
a functional graph are ``model.layers``, the losses fit, evaluate and
predict leave in ``model.losses``; against Keras 3 on its NumPy backend
where it runs the same program."""
import io
import re
import warnings

import numpy as np
import pytest

import pynn


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ------------------------------------------- operations are not model.layers

def _ops_graph(k):
    """Operations on symbolic tensors between layers (keras.io's DeepLabV3+
    and CCT write them so), and a layer of the same class as one of them."""
    L, ops = k.layers, k.ops
    a, b = k.Input((4,), name="a"), k.Input((4,), name="b")
    h = ops.add(a, b) * 2.0
    h = L.Dense(6, name="dense")(h)
    h = ops.reshape(h, (-1, 3, 2))
    h = L.Add(name="sum")([h, h[:, ::-1]])
    out = L.Dense(1, name="head")(ops.mean(h, axis=1))
    return k.Model([a, b], out)


def test_model_layers_leave_out_operations_as_keras(keras):
    ours, theirs = _ops_graph(pynn), _ops_graph(keras)
    names = [layer.name for layer in theirs.layers]
    assert names == ["a", "b", "dense", "sum", "head"]
    assert [layer.name for layer in ours.layers] == names
    assert [type(layer).__name__ for layer in ours.layers] == \
        [type(layer).__name__ for layer in theirs.layers]
    assert ours.get_layer(index=-2).name == "sum" and ours.layers[-3].name == "dense"
    with pytest.raises(ValueError, match="No such layer"):
        ours.get_layer("reshape")
    # freezing by a loop over the layers reaches every weight
    for layer in ours.layers:
        layer.trainable = False
    assert ours.trainable_weights == [] and len(ours.weights) == 4
    # the summary still lists every node of the graph, as Keras's does,
    # with Keras's class names for the operations
    rows = []
    for model, rows_of in ((ours, rows), (theirs, [])):
        text = io.StringIO()
        model.summary(print_fn=lambda line, *a, **kw: text.write(line + "\n"))
        # the classes of the rows, in order (the names' counters differ,
        # and Keras wraps long names)
        rows_of += re.findall(r"\((\w+)\)", " ".join(
            line.split("│")[1] for line in text.getvalue().splitlines()
            if line.startswith("│")))
        if model is theirs:
            assert rows == rows_of
    assert rows == ["InputLayer", "InputLayer", "Add", "Multiply", "Dense", "Reshape",
                    "GetItem", "Add", "Mean", "Dense"]


def test_graphs_with_operations_still_save_clone_and_cut(keras, tmp_path):
    model = _ops_graph(pynn)
    xs = [_x((5, 4), 1), _x((5, 4), 2)]
    want = model.predict(xs, verbose=0)
    names = [layer.name for layer in model.layers]
    for suffix in (".pynn", ".keras"):
        path = str(tmp_path / f"m{suffix}")
        model.save(path)
        again = pynn.models.load_model(path)
        assert [layer.name for layer in again.layers] == names
        np.testing.assert_allclose(again.predict(xs, verbose=0), want, rtol=1e-6)
    theirs = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert [layer.name for layer in theirs.layers] == names
    np.testing.assert_allclose(theirs.predict(xs, verbose=0), want, rtol=1e-5, atol=1e-6)
    # weights by layer order (Keras's legacy HDF5 weights file)
    h5 = str(tmp_path / "w.weights.h5")
    model.save_weights(h5)
    other = _ops_graph(pynn)
    other.load_weights(h5)
    np.testing.assert_array_equal(other.predict(xs, verbose=0), want)
    clone = pynn.models.clone_model(model)
    assert [type(layer).__name__ for layer in clone.layers] == \
        [type(layer).__name__ for layer in model.layers]
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(xs, verbose=0), want)
    features = pynn.Model(model.inputs, model.get_layer("sum").output)
    assert [layer.name for layer in features.layers] == ["a", "b", "dense", "sum"]
    s = features.predict(xs, verbose=0)
    d = (xs[0] + xs[1]) * 2.0 @ model.get_layer("dense").get_weights()[0] + \
        model.get_layer("dense").get_weights()[1]
    d = d.reshape(-1, 3, 2)
    np.testing.assert_allclose(s, d + d[:, ::-1], rtol=1e-5, atol=1e-6)


# ------------------------------------- losses after fit, evaluate, predict

class _Adds(pynn.layers.Layer):
    """Adds a loss that depends on the batch it is called on."""

    def call(self, t):
        self.add_loss(pynn.ops.sum(t[:1]) * 0.5)
        return t


def _penalized():
    pynn.utils.set_random_seed(3)
    inp = pynn.Input((3,))
    h = pynn.layers.Dense(2, activity_regularizer="l2", name="dense")(inp)
    model = pynn.Model(inp, _Adds(name="adds")(h))
    # (no step changes the weights, so each value can be checked by a call)
    model.compile(pynn.optimizers.SGD(learning_rate=0.0), "mse")
    return model


def _losses(where):
    return [float(np.asarray(v)) for v in where.losses]


@pytest.mark.parametrize("run", ["fit", "train_on_batch", "evaluate", "test_on_batch",
                                 "predict", "predict_on_batch"])
def test_losses_are_those_of_the_last_batch_run(run):
    """Keras 3 resets the losses at every call of the model, and its fit,
    evaluate and predict steps call it: afterwards ``model.losses`` (and
    each layer's) are the last batch's."""
    model = _penalized()
    x, y = _x((7, 3), 4), _x((7, 2), 5)
    model(x[:2])
    stale = _losses(model)
    last = x[6:] if run in ("fit", "evaluate", "predict") else x
    if run == "fit":
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    elif run == "train_on_batch":
        model.train_on_batch(x, y)
    elif run == "evaluate":
        model.evaluate(x, y, batch_size=3, verbose=0)
    elif run == "test_on_batch":
        model.test_on_batch(x, y)
    elif run == "predict":
        model.predict(x, batch_size=3, verbose=0)
    else:
        model.predict_on_batch(x)
    got = _losses(model)
    parts = [_losses(model.get_layer("dense")), _losses(model.get_layer("adds"))]
    model(last, training=run in ("fit", "train_on_batch"))
    want = _losses(model)
    assert got != stale and len(got) == 2
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(parts[0] + parts[1], want, rtol=1e-6)


# ------------------------------------------- masks: graph and eager agree

def test_operators_on_masked_tensors_drop_the_mask_as_keras(keras, tmp_path):
    """``x + y`` on symbolic tensors is an operation in Keras 3: its output
    carries no mask, so the pooling after it averages every step, in a
    graph as when run eagerly; and it is no layer of the model."""
    for k in (keras, pynn):
        t = k.Input((5,), dtype="int32")
        e = k.layers.Embedding(10, 3, mask_zero=True)(t)
        assert getattr(e, "_keras_mask", None) is not None
        assert getattr(e + e * e - e, "_keras_mask", None) is None
        # (the layer keeps it)
        assert getattr(k.layers.Add()([e, e]), "_keras_mask", None) is not None
    pynn.utils.set_random_seed(0)
    t = pynn.Input((5,), dtype="int32")
    emb = pynn.layers.Embedding(10, 3, mask_zero=True)
    pool = pynn.layers.GlobalAveragePooling1D()
    e = emb(t)
    model = pynn.Model(t, pool(e + e * e))
    assert [type(layer).__name__ for layer in model.layers] == \
        ["InputLayer", "Embedding", "GlobalAveragePooling1D"]
    x = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0]])
    w = emb.get_weights()[0][x]
    want = (w + w * w).mean(axis=1)  # every step, the padding's too
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    eager = emb(x)
    np.testing.assert_allclose(np.asarray(pool(eager + eager * eager)), want, rtol=1e-5,
                               atol=1e-7)
    for suffix in (".pynn", ".keras"):
        model.save(str(tmp_path / f"m{suffix}"))
        again = pynn.models.load_model(str(tmp_path / f"m{suffix}"))
        assert len(again.layers) == 3
        np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-5, atol=1e-7)
    theirs = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert [type(layer).__name__ for layer in theirs.layers] == \
        ["InputLayer", "Embedding", "GlobalAveragePooling1D"]
    # Keras's legacy .h5 format holds layers only: the merge layers that
    # compute the operators are written as layers, marked as operators
    model.save(str(tmp_path / "m.h5"))
    again = pynn.models.load_model(str(tmp_path / "m.h5"))
    assert len(again.layers) == 3
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-5, atol=1e-7)


def test_attention_reads_the_query_mask_the_query_carries():
    """Keras 3's MultiHeadAttention replaces query_mask by the mask the
    query carries, in a graph as when run: a query_mask given beside an
    unmasked query changes nothing either way; value_mask is read."""
    pynn.utils.set_random_seed(0)
    mha = pynn.layers.MultiHeadAttention(2, 2)
    q, v = pynn.Input((5, 4)), pynn.Input((5, 4))
    qm, vm = pynn.Input((5,), dtype="bool"), pynn.Input((5,), dtype="bool")
    # (the query_mask input is connected, as in Keras's graph, though not read)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = pynn.Model([q, v, qm, vm], mha(q, v, query_mask=qm, value_mask=vm))
    xq, xv = _x((2, 5, 4), 1), _x((2, 5, 4), 2)
    mq = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], bool)
    mv = np.array([[1, 0, 1, 0, 1], [1, 1, 1, 1, 0]], bool)
    got = model.predict([xq, xv, mq, mv], verbose=0)
    want = np.asarray(mha(xq, xv, value_mask=mv))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(mha(xq, xv, query_mask=mq, value_mask=mv)), want,
                               rtol=1e-6, atol=1e-7)
    assert np.abs(np.asarray(mha(xq, xv)) - want).max() > 1e-3  # the value mask counts


# ------------------------------------------ weight and optimizer paths

def _recurrent_stack(k):
    L = k.layers
    return k.Sequential([k.Input((4, 3)), L.TimeDistributed(L.Dense(2, name="d"), name="td"),
                         L.Bidirectional(L.SimpleRNN(2, return_sequences=True, name="rnn"),
                                         name="bi"),
                         L.LSTM(2, return_sequences=True, name="lstm"), L.GRU(2, name="gru"),
                         L.Dense(1, name="out")], name="stack")


def test_weight_and_optimizer_variable_paths_as_keras(keras, tmp_path):
    """Keras 3's paths: a recurrent layer's weights under its cell
    (lstm/lstm_cell/kernel), a wrapper's layer under the wrapper
    (bidirectional/forward_simple_rnn/...), the optimizer's variables
    under its name (adam/iteration, adam/<weight path>_momentum)."""
    ours, theirs = _recurrent_stack(pynn), _recurrent_stack(keras)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert "stack/lstm/lstm_cell/kernel" in [w.path for w in ours.weights]
    paths = []
    for k in (pynn, keras):
        conv = k.layers.ConvLSTM2D(2, 3, name="conv_lstm")
        conv.build((None, 2, 5, 5, 1))
        paths.append([w.path for w in conv.weights])
    assert paths[0] == paths[1]
    # (named: both libraries number unnamed optimizers by a global count)
    for make in (lambda k: k.optimizers.Adam(name="adam"),
                 lambda k: k.optimizers.SGD(momentum=0.9, name="sgd")):
        mine, ref = make(pynn), make(keras)
        mine.build(ours.trainable_variables)
        ref.build(theirs.trainable_variables)
        assert [(v.path, v.name) for v in mine.variables] == \
            [(v.path, v.name) for v in ref.variables]
    # the files still load both ways
    ours.set_weights(theirs.get_weights())
    x = _x((2, 4, 3), 6)
    want = theirs.predict(x, verbose=0)
    for suffix in (".keras", ".h5", ".pynn"):
        path = str(tmp_path / f"m{suffix}")
        ours.save(path)
        np.testing.assert_allclose(pynn.models.load_model(path).predict(x, verbose=0), want,
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.saving.load_model(str(tmp_path / "m.keras")).predict(
        x, verbose=0), want, rtol=1e-5, atol=1e-6)
    theirs.save(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(pynn.models.load_model(str(tmp_path / "theirs.keras")).predict(
        x, verbose=0), want, rtol=1e-5, atol=1e-6)
