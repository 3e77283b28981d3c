"""Masks given to layers as symbolic tensors in a functional graph
(``gru(x, mask=m)``, Keras's "passing mask tensors directly to layers"),
against Keras 3 on its NumPy backend."""
import numpy as np
import pytest

import pynn
from pynn import layers
from gradcheck import check_model_gradients
from keras_reference import keras as real_keras, needs_keras

RNG = np.random.default_rng(7)
X = RNG.normal(size=(4, 5, 3)).astype("float32")
MASK = np.ones((4, 5), bool)
MASK[0, 3:] = False
MASK[2, 1:] = False
TOKENS = np.array([[1, 2, 3, 0, 0], [4, 1, 1, 2, 5], [3, 0, 0, 0, 0], [2, 2, 4, 1, 0]])


def _mask_input_model(K, make):
    x, m = K.Input((5, 3)), K.Input((5,), dtype="bool")
    return K.Model([x, m], make(K)(x, mask=m))


LAYERS = {
    "gru": lambda K: K.layers.GRU(4),
    "lstm": lambda K: K.layers.LSTM(4, return_sequences=True),
    "simple_rnn": lambda K: K.layers.SimpleRNN(4),
    "bidirectional": lambda K: K.layers.Bidirectional(K.layers.LSTM(3)),
    "global_average_pooling": lambda K: K.layers.GlobalAveragePooling1D(),
    "time_distributed": lambda K: K.layers.TimeDistributed(K.layers.Dense(2)),
}


@needs_keras
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_mask_input_given_to_a_layer_predicts_as_keras(name):
    theirs = _mask_input_model(real_keras, LAYERS[name])
    ours = _mask_input_model(pynn, LAYERS[name])
    ours.set_weights(theirs.get_weights())
    want = theirs.predict([X, MASK], verbose=0)
    np.testing.assert_allclose(ours.predict([X, MASK], verbose=0), want, atol=1e-5)
    # the mask decides: other values under the masked steps change nothing
    # (before, the call was refused)
    noisy = X.copy()
    noisy[~MASK] = 100.0
    if name != "time_distributed":  # (its masked steps are computed, then carried)
        np.testing.assert_allclose(ours.predict([noisy, MASK], verbose=0), want, atol=1e-5)


def _nested_model(K):
    x = K.Input((5, 3))
    inner = K.Model(x, K.layers.GRU(2)(x))
    outer_x, mask = K.Input((5, 3)), K.Input((5,), dtype="bool")
    return K.Model([outer_x, mask], inner(outer_x, mask=mask))


@needs_keras
def test_mask_given_to_a_nested_model_as_keras(tmp_path):
    theirs, ours = _nested_model(real_keras), _nested_model(pynn)
    ours.set_weights(theirs.get_weights())
    want = theirs.predict([X, MASK], verbose=0)
    np.testing.assert_allclose(ours.predict([X, MASK], verbose=0), want, atol=1e-5)
    path = str(tmp_path / "nested.keras")
    ours.save(path)
    np.testing.assert_allclose(pynn.models.load_model(path).predict([X, MASK], verbose=0),
                               want, atol=1e-5)


def _token_model(K):
    t = K.Input((5,), dtype="int32")
    mask = K.ops.not_equal(t, 0)
    e = K.layers.Embedding(6, 4)(t)
    a = K.layers.Attention()([e, e], mask=[mask, mask])
    h = K.layers.MultiHeadAttention(2, 2)(a, e, query_mask=mask, value_mask=mask)
    return K.Model(t, K.layers.Dense(1)(K.layers.GRU(3)(h, mask=mask)))


@needs_keras
def test_computed_mask_trains_and_saves_as_keras(tmp_path):
    theirs, ours = _token_model(real_keras), _token_model(pynn)
    ours.set_weights(theirs.get_weights())
    want = theirs.predict(TOKENS, verbose=0)
    np.testing.assert_allclose(ours.predict(TOKENS, verbose=0), want, atol=1e-5)
    # the gradients flow through the masked layers (Keras's NumPy backend
    # cannot fit: against central differences)
    ours.compile(pynn.optimizers.SGD(0.1), "mse")
    y = np.arange(4, dtype="float32")[:, None]
    check_model_gradients(ours, TOKENS, y)
    ours.fit(TOKENS, y, batch_size=4, epochs=1, verbose=0)
    theirs.set_weights(ours.get_weights())
    want = theirs.predict(TOKENS, verbose=0)
    for ext in ("keras", "pynn"):
        path = str(tmp_path / f"m.{ext}")
        ours.save(path)
        np.testing.assert_allclose(pynn.models.load_model(path).predict(TOKENS, verbose=0),
                                   want, atol=1e-5)
    # Keras reads pynn's file, and pynn Keras's: the mask is the node's kwarg
    np.testing.assert_allclose(
        real_keras.models.load_model(str(tmp_path / "m.keras")).predict(TOKENS, verbose=0),
        want, atol=1e-5)
    theirs.save(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(pynn.models.load_model(str(tmp_path / "k.keras")).predict(
        TOKENS, verbose=0), want, atol=1e-5)


def test_mask_input_saves_to_h5_clones_and_summarizes(tmp_path, capsys):
    model = _mask_input_model(pynn, LAYERS["gru"])
    want = model.predict([X, MASK], verbose=0)
    path = str(tmp_path / "m.h5")
    model.save(path)
    np.testing.assert_allclose(pynn.models.load_model(path).predict([X, MASK], verbose=0),
                               want, atol=1e-6)
    clone = pynn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([X, MASK], verbose=0), want, atol=1e-6)
    model.summary(line_length=150)  # (wide enough for the inputs' names)
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if "(GRU)" in line)
    row = "".join(lines[start:start + 3])  # (the connections may wrap)
    # connected to the frames and to the mask, as Keras's summary
    assert all(f"{t.name}[0][0]" in row for t in model.inputs)
    assert len(model.layers) == 3  # the mask is an edge, not a layer


def test_given_mask_overrides_the_carried_one():
    t = pynn.Input((5,), dtype="int32")
    m = pynn.Input((5,), dtype="bool")
    e = layers.Embedding(6, 3, mask_zero=True)(t)
    model = pynn.Model([t, m], layers.GlobalAveragePooling1D()(e, mask=m))
    emb = next(l for l in model.layers if isinstance(l, layers.Embedding)).get_weights()[0]
    keep = np.zeros((4, 5), bool)
    keep[:, :2] = True
    want = emb[TOKENS[:, :2]].mean(axis=1)
    np.testing.assert_allclose(model.predict([TOKENS, keep], verbose=0), want, atol=1e-6)


def test_mask_of_the_wrong_shape_is_refused_by_name():
    x, m = pynn.Input((5, 3)), pynn.Input((4,), dtype="bool")
    with pytest.raises(ValueError, match="'gru_bad'.*mask's shape"):
        layers.GRU(2, name="gru_bad")(x, mask=m)


def test_tflite_export_of_a_given_mask(tmp_path):
    # (the exporter's tests: tests/tflite/test_export_more.py)
    model = _mask_input_model(pynn, LAYERS["gru"])
    data = model.export_tflite(str(tmp_path / "m.tflite"))
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    it = litert.Interpreter(model_content=data)
    for d, v in zip(it.get_input_details(), [X, MASK]):
        it.resize_tensor_input(d["index"], v.shape)
    it.allocate_tensors()
    for d, v in zip(it.get_input_details(), [X, MASK]):
        it.set_tensor(d["index"], v.astype(d["dtype"]))
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model.predict([X, MASK], verbose=0), atol=1e-5)


# K.variable read live by graph arithmetic (Keras 2's tf.Variable in a
# TF-op layer): KL annealing driven by a callback.

def _annealed_model(beta):
    x = pynn.Input((3,))
    h = layers.Dense(2, kernel_initializer="ones", name="h")(x)
    y = layers.Dense(1, kernel_initializer="ones", name="y")(h)
    model = pynn.Model(x, y)
    kl = pynn.ops.mean(pynn.ops.square(h))
    model.add_loss(beta * kl)
    model.compile("sgd", "mse")
    return model


def test_set_value_on_a_variable_changes_the_graph_loss(tmp_path):
    from pynn import backend as K
    beta = K.variable(0.0)
    model = _annealed_model(beta)
    x = np.arange(12, dtype="float32").reshape(4, 3) / 10
    y = np.ones((4, 1), "float32")
    h = x.sum(axis=1, keepdims=True) * np.ones((1, 2))
    mse = float(np.mean((h.sum(axis=1, keepdims=True) - y) ** 2))
    kl = float(np.mean(h ** 2))
    assert model.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(mse, rel=1e-5)
    K.set_value(beta, 0.25)
    assert model.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(mse + 0.25 * kl,
                                                                       rel=1e-5)
    # not a weight of the model (as Keras 2, which does not track it)
    assert len(model.weights) == 4
    # a file holds the value it has when saved
    path = str(tmp_path / "m.pynn")
    model.save(path)
    assert pynn.models.load_model(path).predict(x, verbose=0) == pytest.approx(
        model.predict(x, verbose=0))


def test_callback_anneals_the_loss_during_fit():
    from pynn import backend as K
    beta = K.variable(0.0)
    model = _annealed_model(beta)
    model.get_layer("h").trainable = False
    model.get_layer("y").trainable = False
    model.compile("sgd", "mse")
    x = np.ones((4, 3), "float32")
    y = np.zeros((4, 1), "float32")

    class Anneal(pynn.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            K.set_value(beta, float(epoch))

    history = model.fit(x, y, epochs=3, batch_size=4, callbacks=[Anneal()], verbose=0)
    # h = 3 on both units: mse 36, kl 9 -> 36 + epoch * 9
    np.testing.assert_allclose(history.history["loss"], [36.0, 45.0, 54.0], rtol=1e-5)
    assert K.get_value(beta) == 2.0 and not isinstance(beta * 2, K.VariableArray)


class _Endpoint(layers.Layer):
    """keras.io's endpoint layer pattern: the loss and a metric computed in
    the layer's call (Keras 2's add_metric)."""

    def call(self, targets, logits):
        probs = pynn.ops.sigmoid(logits)
        self.add_loss(pynn.ops.mean(pynn.ops.square(probs - targets)))
        self.add_metric(pynn.ops.mean(probs), name="mean_prob")
        return probs


def test_add_metric_reports_its_epoch_mean_in_fit_and_evaluate():
    x = pynn.Input((2,))
    t = pynn.Input((1,))
    logits = layers.Dense(1, kernel_initializer="ones", trainable=False)(x)
    model = pynn.Model([x, t], _Endpoint()(t, logits))
    model.compile("sgd")
    data = np.array([[0, 0], [1, 1], [2, 0], [-1, -1], [0, 3], [1, -2]], "float32")
    targets = np.ones((6, 1), "float32")
    probs = 1 / (1 + np.exp(-data.sum(axis=1)))
    # batches of 4 and 2: the mean of each batch's value (Keras 2's Mean)
    want = (probs[:4].mean() + probs[4:].mean()) / 2
    history = model.fit([data, targets], epochs=1, batch_size=4, shuffle=False, verbose=0,
                        validation_data=([data, targets], None))
    assert history.history["mean_prob"][0] == pytest.approx(want, rel=1e-5)
    assert history.history["val_mean_prob"][0] == pytest.approx(want, rel=1e-5)
    logs = model.evaluate([data, targets], batch_size=4, verbose=0, return_dict=True)
    assert logs["mean_prob"] == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="needs a name"):
        _Endpoint().add_metric(1.0)


# A layer whose call reads tensors of the graph besides its inputs (Deep
# Learning with Python's first-edition VAE: the loss layer reads z_mean and
# z_log_var) saves and reloads.

def _vae_with_a_loss_layer():
    from pynn import backend as K
    x = pynn.Input((6,))
    h = layers.Dense(4, activation="relu")(x)
    z_mean, z_log_var = layers.Dense(2)(h), layers.Dense(2)(h)
    decoded = layers.Dense(6, activation="sigmoid")(layers.Add()([z_mean, z_log_var]))

    class VaeLoss(layers.Layer):
        def call(self, inputs):
            target, out = inputs
            xent = K.mean(K.binary_crossentropy(target, out), axis=-1)
            kl = -5e-4 * K.mean(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=-1)
            self.add_loss(K.mean(xent + kl))
            return out

    model = pynn.Model(x, VaeLoss(name="vae_loss")([x, decoded]))
    return model, VaeLoss


@pytest.mark.parametrize("ext", ["keras", "h5", "pynn"])
def test_a_layer_reading_graph_tensors_saves_and_reloads(tmp_path, ext):
    model, cls = _vae_with_a_loss_layer()
    model.compile("rmsprop", loss=None)
    x = np.random.default_rng(3).random((8, 6)).astype("float32")
    model.fit(x, None, epochs=1, batch_size=4, verbose=0)
    path = str(tmp_path / f"vae.{ext}")
    model.save(path)
    loaded = pynn.models.load_model(path, custom_objects={"VaeLoss": cls})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    # the reloaded loss reads the reloaded graph's z_mean and z_log_var
    assert loaded.get_layer("vae_loss")._inbound_nodes[0].input_tensors[2:] != \
        model.get_layer("vae_loss")._inbound_nodes[0].input_tensors[2:]
    loaded.compile("rmsprop", loss=None)
    assert loaded.evaluate(x, None, verbose=0) == pytest.approx(
        model.evaluate(x, None, verbose=0), rel=1e-5)


def test_keras2_config_naming_a_mask_tensor_rebuilds_it_as_an_edge():
    # Keras 2's node: [[layer, node, tensor, kwargs]], a tensor in the
    # kwargs named by [layer, node, tensor]
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5, 3], "dtype": "float32", "name": "x"}},
        {"class_name": "InputLayer", "name": "m", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5], "dtype": "bool", "name": "m"}},
        {"class_name": "GRU", "name": "gru", "config": {"name": "gru", "units": 2},
         "inbound_nodes": [[["x", 0, 0, {"mask": ["m", 0, 0]}]]]}],
        "input_layers": [["x", 0, 0], ["m", 0, 0]], "output_layers": [["gru", 0, 0]]}}
    model = pynn.models.model_from_config(config)
    want = model.predict([X, MASK], verbose=0)
    noisy = X.copy()
    noisy[~MASK] = 100.0
    np.testing.assert_allclose(model.predict([noisy, MASK], verbose=0), want, atol=1e-6)
