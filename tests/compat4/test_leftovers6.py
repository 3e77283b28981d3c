"""Keras 3 behaviours: a functional model's ``operations``, frozen
recurrent layers' cells, Embedding's ignored ``input_length``."""
import re

import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras as real_keras, needs_keras


def _graph(k):
    inp = k.Input((4,), name="x")
    a = k.layers.Dense(3, name="d1")(inp)
    b = k.layers.Dense(3, name="d2")(inp)
    c = k.ops.relu(a + b)
    i2 = k.Input((2,), name="unused")
    sh = k.layers.Dense(3, name="sh")
    z = k.layers.Concatenate(name="cat")([sh(c), sh(c) * 2.0])
    return k.Model([inp, i2], [k.layers.Dense(1, name="o")(z), k.ops.mean(c, axis=-1)])


@needs_keras
def test_functional_operations_as_keras():
    ours, theirs = _graph(pynn), _graph(real_keras)

    def names(model):  # (the operations' counters depend on what ran before)
        return [re.sub(r"_\d+$", "", op.name) for op in model.operations]
    assert names(ours) == names(theirs)
    # the layers are the operations that are layers, as in Keras
    assert [lay.name for lay in ours.layers] == [lay.name for lay in theirs.layers]
    assert ours.operations is not ours.operations  # a copy each time
    ours.operations.clear()
    assert len(ours.operations) == len(theirs.operations)


@needs_keras
def test_sequential_and_subclassed_have_no_operations():
    for k in (pynn, real_keras):
        seq = k.Sequential([k.Input((3,)), k.layers.Dense(2)])

        class Sub(k.Model):
            def __init__(self):
                super().__init__()
                self.d = k.layers.Dense(2)

            def call(self, x):
                return self.d(x)
        sub = Sub()
        sub(np.ones((1, 3), "float32"))
        assert not hasattr(seq, "operations")
        assert not hasattr(sub, "operations")


def _rnn_counts(k, kind):
    rnn = getattr(k.layers, kind)(4)
    cell = rnn.cell
    model = k.Sequential([k.Input((5, 3)), rnn, k.layers.Dense(1)])
    seen = []
    rnn.trainable = False
    seen.append((cell.trainable, len(rnn.trainable_weights), len(rnn.non_trainable_weights),
                 len(model.trainable_weights)))
    rnn.trainable = True
    seen.append((cell.trainable, len(rnn.trainable_weights)))
    cell.trainable = False  # the cell alone: its weights freeze, the layer's flag stays
    seen.append((rnn.trainable, len(rnn.trainable_weights), len(rnn.non_trainable_weights),
                 len(model.trainable_weights)))
    return seen


@needs_keras
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_frozen_recurrent_layer_freezes_its_cell(kind):
    assert _rnn_counts(pynn, kind) == _rnn_counts(real_keras, kind)


def test_fit_leaves_a_frozen_cells_weights():
    for freeze in ("layer", "cell"):
        rnn = layers.LSTM(4)
        cell = rnn.cell
        model = pynn.Sequential([pynn.Input((5, 3)), rnn, layers.Dense(1)])
        (rnn if freeze == "layer" else cell).trainable = False
        model.compile("adam", "mse")
        before = [w.copy() for w in rnn.get_weights()]
        dense = model.layers[-1].get_weights()[0].copy()
        x = np.random.default_rng(0).normal(size=(8, 5, 3)).astype("float32")
        model.fit(x, np.ones((8, 1), "float32"), epochs=2, verbose=0)
        for a, b in zip(before, rnn.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(dense, model.layers[-1].get_weights()[0])


@needs_keras
def test_embedding_input_length_is_ignored_as_keras_3():
    """A skip-gram model's ``Embedding(5000, 8, input_length=1)`` fed one-hot
    rows of 5000: Keras 3 builds on the data, so it runs; unbuilt before."""
    def run(k):
        with pytest.warns(UserWarning, match="input_length"):
            model = k.Sequential([k.layers.Embedding(5000, 8, input_length=1),
                                  k.layers.Flatten(), k.layers.Dense(1)])
        built = model.built
        out = model.predict(np.zeros((3, 5000), "int32"), verbose=0)
        return (built, out.shape, model.layers[-1].kernel.shape,
                "input_length" in model.layers[0].get_config())
    assert run(pynn) == run(real_keras)


def test_embedding_takes_a_pretrained_table_before_the_first_call():
    # Keras 2's GloVe programs: set_weights on the unbuilt first layer,
    # freeze it, then fit (the model is built on the data).
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pynn.Sequential([layers.Embedding(20, 4, input_length=6), layers.Flatten(),
                                 layers.Dense(1)])
    table = np.arange(80, dtype="float32").reshape(20, 4)
    model.layers[0].set_weights([table])
    model.layers[0].trainable = False
    model.compile("adam", "mse")
    model.fit(np.ones((4, 6), int), np.zeros((4, 1)), epochs=1, verbose=0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], table)
    assert model.layers[-1].kernel.shape == (24, 1)
    with pytest.raises(ValueError, match="shape"):
        layers.Embedding(20, 4).set_weights([table[:5]])


def _summaries(k):
    layers_ = k.layers
    seq = k.Sequential([k.Input((4,)), layers_.Dense(3, name="d"), layers_.Dense(1, name="e")],
                       name="seq")
    a, b = k.Input((4,), name="a"), k.Input((4,), name="b")
    out = layers_.Dense(1, name="o")(layers_.Concatenate(name="a_long_concatenation_name")(
        [layers_.Dense(3, name="d")(a), b]))
    fun = k.Model([a, b], out, name="fun")
    unbuilt = k.Sequential([layers_.Flatten(name="f"), layers_.MaxPooling1D(name="p"),
                            layers_.Dropout(0.1, name="r"), layers_.Dense(2, name="q")],
                           name="unbuilt")
    inner = k.Sequential([k.Input((4,)), layers_.Dense(3, name="inner_dense")], name="inner")
    i = k.Input((4,), name="i")
    nested = k.Model(i, layers_.Dense(1, name="top")(inner(i)), name="nested")
    inner.trainable = False
    texts = []
    for model, options in ((seq, {}), (fun, {}), (unbuilt, {}),
                           (nested, {"expand_nested": True, "show_trainable": True})):
        for width in (None, 60):
            got = []
            model.summary(print_fn=lambda text, *a, **kw: got.append(text), line_length=width,
                          **options)
            texts.append(got)
    return texts


@needs_keras
def test_summary_text_is_keras_own(monkeypatch):
    # where the output is no terminal, Keras's table fits 80 columns
    monkeypatch.setenv("COLUMNS", "80")
    assert _summaries(pynn) == _summaries(real_keras)
    monkeypatch.setenv("COLUMNS", "200")
    assert _summaries(pynn) == _summaries(real_keras)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tflite_signature_names_as_tensorflow_gives_keras_models():
    """``interpreter.get_signature_runner()(**{input_name: x})`` and
    ``["output_0"]``, as for a Keras 3 model converted by TensorFlow; a dict
    of outputs keeps its keys."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    pytest.importorskip("tflite")

    def runner(model):
        data = pynn.lite.TFLiteConverter.from_keras_model(model).convert()
        return litert.Interpreter(model_content=data).get_signature_runner()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3)).astype("float32")
    single = pynn.Sequential([pynn.Input((3,), name="features"), layers.Dense(2)])
    got = runner(single)(features=x)
    assert list(got) == ["output_0"]
    np.testing.assert_allclose(got["output_0"], single.predict(x, verbose=0), atol=1e-5)

    a, b = pynn.Input((3,), name="a"), pynn.Input((2,), name="b")
    ya, yb = layers.Dense(1, name="ya")(a), layers.Dense(4, name="yb")(b)
    z = rng.normal(size=(2, 2)).astype("float32")
    listed = pynn.Model([a, b], [ya, yb])
    got = runner(listed)(a=x, b=z)
    want = listed.predict([x, z], verbose=0)
    assert sorted(got) == ["output_0", "output_1"]
    np.testing.assert_allclose(got["output_0"], want[0], atol=1e-5)
    np.testing.assert_allclose(got["output_1"], want[1], atol=1e-5)
    keyed = pynn.Model([a, b], {"first": ya, "second": yb})
    got = runner(keyed)(a=x, b=z)
    assert sorted(got) == ["first", "second"] and got["second"].shape == (2, 4)


@needs_keras
def test_keras_files_operators_load_into_merge_layers(tmp_path):
    """``x + y``, ``x * y``, ``x - y`` between tensors of one rank in a
    Keras 3 file (its Add/Multiply/Subtract operations) run through pynn's
    merge layers, as when a program builds them; ranks that differ, or a
    number, stay operations.  Results, layers and the file written again
    are Keras's."""
    k = real_keras
    inp = k.Input((4,), name="x")
    a, b = k.layers.Dense(3, name="d1")(inp), k.layers.Dense(3, name="d2")(inp)
    c = k.ops.relu((a + b) * a - b)
    d = k.layers.Reshape((3, 1), name="r")(c) + c[:, None, :]  # (3, 1) + (1, 3): broadcast
    e = k.layers.Flatten(name="f")(d) - k.ops.mean(c)  # ranks differ
    out = k.layers.Dense(1, name="o")(e * 2.0)
    theirs = k.Model(inp, out)
    rng = np.random.default_rng(0)
    for w in theirs.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    theirs.save(str(tmp_path / "k.keras"))
    ours = pynn.models.load_model(str(tmp_path / "k.keras"))
    from pynn.layers import merging
    merged = []
    for mine, keras_op in zip(ours.operations, theirs.operations):
        if isinstance(mine, (merging.Add, merging.Multiply, merging.Subtract)):
            assert type(mine).__name__ == type(keras_op).__name__
            merged.append(type(mine).__name__)
    # (the ranks that differ and the number stay operations)
    assert merged == ["Add", "Multiply", "Subtract", "Add"]
    assert [op.name for op in ours.operations] == [op.name for op in theirs.operations]
    assert [lay.name for lay in ours.layers] == [lay.name for lay in theirs.layers]
    x = rng.normal(size=(5, 4)).astype("float32")
    want = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    ours.save(str(tmp_path / "again.keras"))
    again = k.models.load_model(str(tmp_path / "again.keras"))
    assert [type(op).__name__ for op in again.operations] == \
        [type(op).__name__ for op in theirs.operations]
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def _mha_masks_model(k):
    q, v = k.Input((5, 8), name="q"), k.Input((6, 8), name="v")
    qm, vm = k.Input((5,), dtype="bool", name="qm"), k.Input((6,), dtype="bool", name="vm")
    query = k.layers.Masking(0.0, name="mq")(q)  # the query's own mask, which Keras reads
    out = k.layers.MultiHeadAttention(2, 4, name="mha")(query, v, query_mask=qm,
                                                        value_mask=vm)
    return k.Model([q, v, qm, vm], out)


@needs_keras
def test_an_input_given_only_as_query_mask_is_connected(tmp_path, recwarn):
    ours, theirs = _mha_masks_model(pynn), _mha_masks_model(real_keras)
    assert not [w for w in recwarn if "not connected" in str(w.message)]
    assert [op.name for op in ours.operations] == [op.name for op in theirs.operations]
    rng = np.random.default_rng(0)
    for w in theirs.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    ours.set_weights(theirs.get_weights())
    q = rng.normal(size=(3, 5, 8)).astype("float32")
    q[:, 3:] = 0.0  # masked query steps
    xs = [q, rng.normal(size=(3, 6, 8)).astype("float32"),
          rng.random((3, 5)) > 0.5, rng.random((3, 6)) > 0.3]
    xs[3][:, 0] = True
    want = theirs.predict(xs, verbose=0)
    np.testing.assert_allclose(ours.predict(xs, verbose=0), want, rtol=1e-4, atol=1e-5)
    # query_mask is not read: another one gives the same
    xs[2] = ~xs[2]
    np.testing.assert_allclose(ours.predict(xs, verbose=0), want, rtol=1e-4, atol=1e-5)
    # the files each writes, the clone: the same graph, no warning
    ours.save(str(tmp_path / "ours.keras"))
    theirs.save(str(tmp_path / "theirs.keras"))
    for model in (pynn.models.load_model(str(tmp_path / "ours.keras")),
                  pynn.models.load_model(str(tmp_path / "theirs.keras")),
                  pynn.models.clone_model(ours)):
        model.set_weights(theirs.get_weights())
        assert [op.name for op in model.operations] == [op.name for op in theirs.operations]
        np.testing.assert_allclose(model.predict(xs, verbose=0), want, rtol=1e-4, atol=1e-5)
    again = real_keras.models.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(again.predict(xs, verbose=0), want, rtol=1e-4, atol=1e-5)
    assert not [w for w in recwarn if "not connected" in str(w.message)]
