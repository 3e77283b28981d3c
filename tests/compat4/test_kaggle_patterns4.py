"""Stack Overflow answers, Kaggle notebooks, blog tutorials and university
assignments written for tf.keras (custom losses and metrics, layer surgery,
feature extractors, recurrent state, Siamese and triplet models, schedules,
clipping, data pipelines, hand-written scikit-learn wrappers, seq2seq,
attention and VAEs), run with only their imports changed.  Each program
checks what the original prints or asserts, against NumPy float64 or
Keras 3 on its NumPy backend where they give the same numbers."""
import numpy as np
import pytest

import pynn as tf
import pynn.keras.backend as K
from keras_reference import keras as real_keras, needs_keras
from pynn import keras
from pynn.keras import layers
from pynn.keras.layers import Dense, Input
from pynn.keras.models import Model, Sequential


@pytest.fixture
def rng():
    keras.utils.set_random_seed(0)
    return np.random.default_rng(0)


# ------------------------------------------------- losses and their shapes

def test_custom_loss_sees_y_true_as_n_by_1_like_y_pred(rng):
    """"Why does my custom RMSE loss give a different number than
    evaluate's mse?"  The answer: with targets of shape (n,) Keras makes
    y_true (None, 1) like y_pred before the loss sees it, so
    ``y_true - y_pred`` does not broadcast to (None, None)."""
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5])).astype("float32")
    seen = {}

    def rmse(y_true, y_pred):
        seen["shapes"] = (tuple(y_true.shape), tuple(y_pred.shape))
        return K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))

    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss=rmse, metrics=["mse"])
    loss, mse = model.evaluate(x, y, batch_size=32, verbose=0)
    assert seen["shapes"][0][-1] == 1 and seen["shapes"][1][-1] == 1
    pred = model.predict(x, verbose=0)[:, 0].astype("float64")
    np.testing.assert_allclose(loss, np.mean(np.abs(pred - y)), rtol=1e-5)
    np.testing.assert_allclose(mse, np.mean((pred - y) ** 2), rtol=1e-5)


@needs_keras
def test_loss_functions_of_a_column_and_a_flat_vector(rng):
    """``tf.keras.losses.mse(y_true, y_pred)`` called by hand on targets of
    shape (n, 1) and predictions of shape (n,) (a model output squeezed
    for plotting): one loss per sample, as Keras 3 gives (it gives the
    flat one the column's axis); it was one number for the whole batch.
    Two flat vectors are still one sample (Keras 2's VAE)."""
    col = rng.normal(size=(6, 1)).astype("float32")
    flat = rng.normal(size=(6,)).astype("float32")
    for name in ("mean_squared_error", "mean_absolute_error", "huber", "log_cosh"):
        ours = getattr(keras.losses, name)
        theirs = getattr(real_keras.losses, name)
        for a, b in ((col, flat), (flat[:, None], col[:, 0]), (col[:, 0], col)):
            got = np.asarray(ours(a, b))
            want = np.asarray(theirs(a, b))
            assert got.shape == want.shape == (6,), (name, a.shape, b.shape)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(keras.losses.mse(col[:, 0], flat)),
                               np.mean((col[:, 0] - flat) ** 2), rtol=1e-5)
    pearson = keras.metrics.PearsonCorrelation()
    pearson.update_state(col[:, 0], flat)
    ref = real_keras.metrics.PearsonCorrelation()
    ref.update_state(col[:, 0], flat)
    np.testing.assert_allclose(float(pearson.result()), float(ref.result()), rtol=1e-5)
    np.testing.assert_allclose(float(pearson.result()), np.corrcoef(col[:, 0], flat)[0, 1],
                               rtol=1e-5)


def test_sparse_versus_categorical_crossentropy_confusion(rng):
    """"ValueError: Shapes (None, 1) and (None, 10) are incompatible": integer
    labels with categorical_crossentropy.  The fixes: to_categorical, or the
    sparse loss; both give the same loss and accuracy."""
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 4, size=40)

    def build():
        keras.utils.set_random_seed(1)
        m = Sequential([Dense(8, activation="relu", input_shape=(6,)),
                        Dense(4, activation="softmax")])
        return m

    wrong = build()
    wrong.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"(?i)shape"):
        wrong.fit(x, y, epochs=1, verbose=0)

    a = build()
    a.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    b = build()
    b.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    ra = a.evaluate(x, y, verbose=0)
    rb = b.evaluate(x, keras.utils.to_categorical(y, 4), verbose=0)
    np.testing.assert_allclose(ra, rb, rtol=1e-6)
    p = a.predict(x, verbose=0).astype("float64")
    np.testing.assert_allclose(ra[0], -np.mean(np.log(p[np.arange(40), y])), rtol=1e-5)
    np.testing.assert_allclose(ra[1], np.mean(p.argmax(1) == y), rtol=1e-6)
    ha = a.fit(x, y, epochs=2, shuffle=False, verbose=0).history
    hb = b.fit(x, keras.utils.to_categorical(y, 4), epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-5)
    assert set(ha) == {"loss", "accuracy"}


def test_multi_label_sigmoid_with_binary_accuracy_thresholds(rng):
    """Multi-label tagging: sigmoid outputs, binary_crossentropy, and
    BinaryAccuracy at two thresholds plus Precision/Recall at 0.3."""
    x = rng.normal(size=(30, 5)).astype("float32")
    y = (rng.random((30, 3)) > 0.5).astype("float32")
    model = Sequential([Input((5,)), Dense(3, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[
        keras.metrics.BinaryAccuracy(name="acc50"),
        keras.metrics.BinaryAccuracy(threshold=0.3, name="acc30"),
        keras.metrics.Precision(thresholds=0.3, name="p30"),
        keras.metrics.Recall(thresholds=0.3, name="r30")])
    res = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(res["acc50"], np.mean((p > 0.5) == y), rtol=1e-6)
    np.testing.assert_allclose(res["acc30"], np.mean((p > 0.3) == y), rtol=1e-6)
    tp = np.sum((p > 0.3) & (y == 1))
    np.testing.assert_allclose(res["p30"], tp / np.sum(p > 0.3), rtol=1e-6)
    np.testing.assert_allclose(res["r30"], tp / np.sum(y == 1), rtol=1e-6)
    bce = -np.mean(y * np.log(np.clip(p, 1e-7, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-7, 1)))
    np.testing.assert_allclose(res["loss"], bce, rtol=1e-4)
    tags = (p > 0.5).astype(int)
    assert tags.shape == (30, 3)


# -------------------------------------------------- summary and plotting

def test_model_summary_text_and_print_fn(rng):
    """"How do I save model.summary() to a string?": print_fn collecting
    lines; the totals match count_params and the per-layer counts."""
    model = Sequential([Input((28, 28, 1)),
                        layers.Conv2D(4, 3, activation="relu", name="conv"),
                        layers.MaxPooling2D(name="pool"),
                        layers.Flatten(name="flat"),
                        layers.Dense(10, activation="softmax", name="out")], name="cnn")
    lines = []
    model.summary(print_fn=lambda s, **kw: lines.append(s))
    text = "\n".join(lines)
    assert "cnn" in text
    for name in ("conv", "pool", "flat", "out"):
        assert name in text
    assert "(None, 26, 26, 4)" in text and "(None, 13, 13, 4)" in text
    assert "(None, 676)" in text
    total = 3 * 3 * 1 * 4 + 4 + 676 * 10 + 10
    assert model.count_params() == total
    assert f"{total:,}" in text
    assert [layer.count_params() for layer in model.layers] == [40, 0, 0, 6770]
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary()
    assert f"{total:,}" in buf.getvalue()


def test_plot_model_writes_a_file_or_says_what_is_missing(rng, tmp_path):
    """``keras.utils.plot_model(model, "model.png", show_shapes=True)``: with
    pydot and graphviz it writes the picture; without them Keras says how
    to install them."""
    inp = Input((4,), name="features")
    h = Dense(3, name="hidden")(inp)
    model = Model(inp, [Dense(1, name="a")(h), Dense(2, name="b")(h)])
    path = str(tmp_path / "model.png")
    try:
        out = keras.utils.plot_model(model, to_file=path, show_shapes=True)
    except ImportError as e:
        assert "pydot" in str(e) or "graphviz" in str(e)
    else:
        import os
        assert os.path.exists(path) and os.path.getsize(path) > 0
        del out
    dot = None
    try:
        dot = keras.utils.model_to_dot(model, show_shapes=True)
    except ImportError as e:
        assert "pydot" in str(e) or "graphviz" in str(e)
    if dot is not None:
        text = dot.to_string()
        for name in ("features", "hidden", "a", "b"):
            assert name in text


# ---------------------------------------------------- weights and layers

def test_get_set_weights_surgery_between_models(rng):
    """Copying weights layer by layer into a wider model, and zeroing a
    Dense layer's bias with set_weights."""
    x = rng.normal(size=(8, 4)).astype("float32")
    small = Sequential([Input((4,)), Dense(5, activation="relu", name="d1"),
                        Dense(3, name="d2")])
    big = Sequential([Input((4,)), Dense(5, activation="relu", name="d1"),
                      Dense(3, name="d2"), Dense(2, name="extra")])
    for layer in small.layers:
        big.get_layer(layer.name).set_weights(layer.get_weights())
    trunk = Model(big.inputs, big.get_layer("d2").output)
    np.testing.assert_allclose(trunk.predict(x, verbose=0), small.predict(x, verbose=0),
                               rtol=1e-6)
    w, b = small.layers[1].get_weights()
    assert w.shape == (5, 3) and b.shape == (3,)
    small.layers[1].set_weights([w, np.zeros_like(b)])
    h = np.maximum(x @ small.layers[0].get_weights()[0] + small.layers[0].get_weights()[1], 0)
    np.testing.assert_allclose(small.predict(x, verbose=0), h @ w, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="d2|shape"):
        small.layers[1].set_weights([w.T, b])
    with pytest.raises(ValueError):
        small.layers[1].set_weights([w])
    all_w = small.get_weights()
    assert [a.shape for a in all_w] == [(4, 5), (5,), (5, 3), (3,)]
    small.set_weights([np.ones_like(a) for a in all_w])
    np.testing.assert_allclose(small.predict(x[:1], verbose=0),
                               np.full((1, 3), 5 * max(0.0, 1 + x[0].sum()) + 1), rtol=1e-5)


def test_freezing_layers_then_recompiling(rng):
    """Fine-tuning: freeze the first layers, recompile, train, check the
    frozen weights did not move; unfreeze, recompile, they move again.
    trainable_weights/non_trainable_weights counts as Keras prints them."""
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    model = Sequential([Input((6,)), Dense(8, activation="relu"),
                        layers.BatchNormalization(), Dense(1)])
    model.compile("adam", "mse")
    for layer in model.layers[:2]:
        layer.trainable = False
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 6
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = model.get_weights()
    for i in range(6):
        np.testing.assert_array_equal(before[i], after[i])
    assert not np.allclose(before[6], after[6])
    for layer in model.layers:
        layer.trainable = True
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    assert len(model.trainable_weights) == 6
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(after[0], model.get_weights()[0])


def test_feature_extractor_from_layer_outputs_and_k_function(rng):
    """"How do I get the output of each layer?": a Model from
    ``[layer.output for layer in model.layers]``, and the Keras 2 answer
    ``K.function([model.input], [model.layers[1].output])``."""
    x = rng.normal(size=(5, 8, 8, 1)).astype("float32")
    model = Sequential([Input((8, 8, 1)), layers.Conv2D(2, 3, activation="relu", name="c"),
                        layers.Flatten(), Dense(3, activation="softmax")])
    extractor = Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    outs = extractor.predict(x, verbose=0)
    assert [o.shape for o in outs] == [(5, 6, 6, 2), (5, 72), (5, 3)]
    np.testing.assert_allclose(outs[-1], model.predict(x, verbose=0), rtol=1e-6)
    get_flat = K.function([model.input], [model.layers[1].output])
    np.testing.assert_allclose(get_flat([x])[0], outs[1], rtol=1e-6)
    one = Model(model.input, model.get_layer("c").output)
    np.testing.assert_allclose(one(x).numpy(), outs[0], rtol=1e-6)
    assert model.layers[0].output.shape == (None, 6, 6, 2)


# ------------------------------------------------------------ Lambda layers

def scale_by(t, k):
    return t * k


def test_lambda_with_arguments_and_output_shape(rng, tmp_path):
    """``Lambda(scale_by, arguments={"k": 3.0})``, a Lambda slicing
    channels, one wrapping ``tf.split`` and ``K.l2_normalize``; the model
    predicts the NumPy numbers.  A model file holds no code: saving the
    anonymous functions is refused naming the layer, and so is writing a
    Lambda into a Keras file (it would need code); a model of named
    functions saves as .pynn and loads with custom_objects, arguments
    kept."""
    x = rng.normal(size=(4, 6)).astype("float32")
    inp = Input((6,))
    scaled = layers.Lambda(scale_by, arguments={"k": 3.0}, name="scale")(inp)
    first = layers.Lambda(lambda t: t[:, :2], output_shape=(2,))(scaled)
    halves = layers.Lambda(lambda t: tf.split(t, 2, axis=-1))(inp)
    normed = layers.Lambda(lambda t: K.l2_normalize(t, axis=1))(halves[1])
    model = Model(inp, [first, normed])
    assert model.output_shape == [(None, 2), (None, 3)]
    a, b = model.predict(x, verbose=0)
    np.testing.assert_allclose(a, 3 * x[:, :2], rtol=1e-6)
    np.testing.assert_allclose(b, x[:, 3:] / np.linalg.norm(x[:, 3:], axis=1, keepdims=True),
                               rtol=1e-5)
    assert model.get_layer("scale").get_config()["arguments"] == {"k": 3.0}
    path = str(tmp_path / "lam.keras")
    with pytest.raises(ValueError, match="lambda"):
        model.save(path)
    named = Model(inp, scaled)
    with pytest.raises(ValueError, match="'scale' is a Lambda"):
        named.save(path)
    path = str(tmp_path / "lam.pynn")
    named.save(path)
    back = keras.models.load_model(path, custom_objects={"scale_by": scale_by})
    np.testing.assert_allclose(back.predict(x, verbose=0), 3 * x, rtol=1e-6)
    assert back.get_layer("scale").arguments == {"k": 3.0}


# ---------------------------------------------------------- recurrent

def test_time_distributed_conv2d_then_lstm_video_classifier(rng):
    """Video/frame classifier from a blog: TimeDistributed(Conv2D),
    TimeDistributed(MaxPooling2D), TimeDistributed(Flatten), LSTM.  Each
    frame goes through the same convolution (checked against calling the
    Conv2D on one frame)."""
    x = rng.normal(size=(6, 3, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 2, size=6)
    conv = layers.Conv2D(2, 3, activation="relu")
    model = Sequential([
        Input((3, 8, 8, 1)),
        layers.TimeDistributed(conv),
        layers.TimeDistributed(layers.MaxPooling2D((2, 2))),
        layers.TimeDistributed(layers.Flatten()),
        layers.LSTM(4),
        Dense(1, activation="sigmoid")])
    assert model.layers[0].output.shape == (None, 3, 6, 6, 2)
    assert model.layers[2].output.shape == (None, 3, 18)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    per_frame = Model(model.inputs, model.layers[0].output).predict(x, verbose=0)
    np.testing.assert_allclose(per_frame[:, 1], conv(x[:, 1]).numpy(), rtol=1e-5, atol=1e-6)
    assert len(model.layers[0].get_weights()) == 2
    assert model.layers[0].count_params() == 3 * 3 * 2 + 2


def test_masking_lstm_ignores_padded_steps(rng):
    """Masking(mask_value=0.) before an LSTM: a padded sequence gives the
    same output as the unpadded one, and the mask is what compute_mask
    says."""
    seqs = [rng.normal(size=(n, 3)).astype("float32") for n in (2, 5, 3)]
    padded = keras.preprocessing.sequence.pad_sequences(seqs, maxlen=5, dtype="float32",
                                                        padding="post", value=0.0)
    masking = layers.Masking(mask_value=0.0)
    lstm = layers.LSTM(4)
    model = Sequential([Input((5, 3)), masking, lstm])
    out = model.predict(padded, verbose=0)
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(out[i], lstm(s[None]).numpy()[0], rtol=1e-5, atol=1e-6)
    mask = masking.compute_mask(padded)
    np.testing.assert_array_equal(np.asarray(mask), [[1, 1, 0, 0, 0], [1] * 5, [1, 1, 1, 0, 0]])
    pre = keras.preprocessing.sequence.pad_sequences(seqs, maxlen=5, dtype="float32")
    np.testing.assert_allclose(model.predict(pre, verbose=0), out, rtol=1e-5, atol=1e-6)


def test_lstm_return_state_feeds_a_decoder(rng):
    """``encoder_outputs, state_h, state_c = LSTM(n, return_state=True)``;
    the states seed a decoder LSTM; with return_sequences the last step of
    the sequence equals state_h; GRU returns one state."""
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    inp = Input((None, 2))
    seq, h, c = layers.LSTM(5, return_sequences=True, return_state=True)(inp)
    model = Model(inp, [seq, h, c])
    s, hv, cv = model.predict(x, verbose=0)
    assert s.shape == (3, 4, 5) and hv.shape == (3, 5) and cv.shape == (3, 5)
    np.testing.assert_allclose(s[:, -1], hv, rtol=1e-6)

    enc_in = Input((None, 2))
    _, eh, ec = layers.LSTM(5, return_state=True)(enc_in)
    dec_in = Input((None, 3))
    dec_seq = layers.LSTM(5, return_sequences=True)(dec_in, initial_state=[eh, ec])
    gru_out, gh = layers.GRU(5, return_state=True)(dec_seq)
    seq2seq = Model([enc_in, dec_in], [Dense(3, activation="softmax")(dec_seq), gh])
    probs, ghv = seq2seq.predict([x, rng.normal(size=(3, 6, 3)).astype("float32")], verbose=0)
    assert probs.shape == (3, 6, 3) and ghv.shape == (3, 5)
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)


def test_stateful_lstm_carries_state_until_reset_states(rng):
    """A stateful LSTM fed one chunk at a time equals the stateless LSTM on
    the whole sequence; ``model.reset_states()`` (and the layer's
    ``reset_states``) start over."""
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    stateful = Sequential([Input(batch_shape=(2, 2, 3)),
                           layers.LSTM(4, stateful=True, return_sequences=True)])
    full = Sequential([Input((6, 3)), layers.LSTM(4, return_sequences=True)])
    full.set_weights(stateful.get_weights())
    want = full.predict(x, verbose=0)
    got = np.concatenate([stateful.predict(x[:, i:i + 2], batch_size=2, verbose=0)
                          for i in range(0, 6, 2)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    stateful.reset_states()
    np.testing.assert_allclose(stateful.predict(x[:, :2], batch_size=2, verbose=0),
                               want[:, :2], rtol=1e-5, atol=1e-6)
    stateful.layers[0].reset_states()
    np.testing.assert_allclose(stateful.predict(x[:, :2], batch_size=2, verbose=0),
                               want[:, :2], rtol=1e-5, atol=1e-6)
    # the classic training loop: one epoch at a time, shuffle off, reset after each
    y = rng.normal(size=(2, 2, 4)).astype("float32")
    stateful.compile("adam", "mse")
    for _ in range(2):
        stateful.fit(x[:, :2], y, epochs=1, batch_size=2, shuffle=False, verbose=0)
        stateful.reset_states()


# ------------------------------------------------------- metric learning

def test_triplet_loss_with_a_shared_embedding_network(rng):
    """Face-recognition style triplet network: one embedding model called on
    anchor, positive and negative; the loss is a layer that concatenates
    the three embeddings and a custom loss ignores y_true.  The shared
    network's weights exist once, and the gradient moves the loss down."""
    emb = Sequential([Input((6,)), Dense(8, activation="relu"), Dense(4),
                      layers.Lambda(lambda t: tf.math.l2_normalize(t, axis=1))],
                     name="embedding")
    a, p, n = Input((6,), name="anchor"), Input((6,), name="pos"), Input((6,), name="neg")
    merged = layers.Concatenate(axis=-1)([emb(a), emb(p), emb(n)])
    model = Model([a, p, n], merged)

    def triplet_loss(y_true, y_pred, alpha=0.2):
        anchor, positive, negative = y_pred[:, :4], y_pred[:, 4:8], y_pred[:, 8:]
        pos_dist = tf.reduce_sum(tf.square(anchor - positive), axis=-1)
        neg_dist = tf.reduce_sum(tf.square(anchor - negative), axis=-1)
        return tf.maximum(pos_dist - neg_dist + alpha, 0.0)

    assert len(model.trainable_weights) == 4
    xa = rng.normal(size=(24, 6)).astype("float32")
    xp = (xa + 0.1 * rng.normal(size=xa.shape)).astype("float32")
    xn = rng.normal(size=(24, 6)).astype("float32")
    model.compile(keras.optimizers.Adam(0.01), loss=triplet_loss)
    dummy = np.zeros((24, 1), "float32")
    e = model.predict([xa, xp, xn], verbose=0).astype("float64")
    want = np.maximum(((e[:, :4] - e[:, 4:8]) ** 2).sum(1) - ((e[:, :4] - e[:, 8:]) ** 2).sum(1)
                      + 0.2, 0).mean()
    np.testing.assert_allclose(model.evaluate([xa, xp, xn], dummy, verbose=0), want, rtol=1e-5)
    hist = model.fit([xa, xp, xn], dummy, epochs=8, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    np.testing.assert_allclose(np.linalg.norm(emb.predict(xa, verbose=0), axis=1), 1, rtol=1e-5)


def test_siamese_euclidean_distance_lambda_and_contrastive_accuracy(rng):
    """Keras's mnist_siamese example: euclidean_distance in a Lambda with
    ``K.maximum(sum_square, K.epsilon())``, contrastive_loss written with
    K functions, and its own accuracy metric ``K.mean(K.equal(y_true,
    K.cast(y_pred < 0.5, y_true.dtype)))``."""
    def euclidean_distance(vects):
        x, y = vects
        sum_square = K.sum(K.square(x - y), axis=1, keepdims=True)
        return K.sqrt(K.maximum(sum_square, K.epsilon()))

    def contrastive_loss(y_true, y_pred):
        margin = 1
        square_pred = K.square(y_pred)
        margin_square = K.square(K.maximum(margin - y_pred, 0))
        return K.mean(y_true * square_pred + (1 - y_true) * margin_square)

    def accuracy(y_true, y_pred):
        return K.mean(K.equal(y_true, K.cast(y_pred < 0.5, y_true.dtype)))

    base = Sequential([Input((5,)), Dense(6, activation="relu"), Dense(3)])
    ia, ib = Input((5,)), Input((5,))
    distance = layers.Lambda(euclidean_distance)([base(ia), base(ib)])
    model = Model([ia, ib], distance)
    model.compile(loss=contrastive_loss, optimizer=keras.optimizers.RMSprop(),
                  metrics=[accuracy])
    xa = rng.normal(size=(20, 5)).astype("float32")
    xb = rng.normal(size=(20, 5)).astype("float32")
    y = rng.integers(0, 2, size=20).astype("float32")
    loss, acc = model.evaluate([xa, xb], y, verbose=0)
    d = model.predict([xa, xb], verbose=0)[:, 0].astype("float64")
    np.testing.assert_allclose(loss, np.mean(y * d ** 2 + (1 - y) * np.maximum(1 - d, 0) ** 2),
                               rtol=1e-5)
    np.testing.assert_allclose(acc, np.mean(y == (d < 0.5)), rtol=1e-6)
    model.fit([xa, xb], y, batch_size=10, epochs=1, verbose=0)


# ------------------------------------------------------------- metrics

class F1Score(keras.metrics.Metric):
    """The Medium "custom F1 metric the right way" class: state variables
    added with add_weight, updated per batch, cleared in reset_state."""

    def __init__(self, name="f1", threshold=0.5, **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.tp = self.add_weight(name="tp", initializer="zeros")
        self.fp = self.add_weight(name="fp", initializer="zeros")
        self.fn = self.add_weight(name="fn", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = tf.cast(y_pred > self.threshold, tf.float32)
        y_true = tf.cast(y_true, tf.float32)
        self.tp.assign_add(tf.reduce_sum(y_true * y_pred))
        self.fp.assign_add(tf.reduce_sum((1 - y_true) * y_pred))
        self.fn.assign_add(tf.reduce_sum(y_true * (1 - y_pred)))

    def result(self):
        precision = self.tp / (self.tp + self.fp + K.epsilon())
        recall = self.tp / (self.tp + self.fn + K.epsilon())
        return 2 * precision * recall / (precision + recall + K.epsilon())

    def reset_state(self):
        for v in (self.tp, self.fp, self.fn):
            v.assign(0.0)


def test_custom_metric_class_accumulates_over_batches_and_resets(rng):
    """The metric's result over a whole evaluate is F1 over all samples
    (not the mean of per-batch F1s); it starts again each epoch and each
    evaluate; used standalone, reset_state clears it."""
    x = rng.normal(size=(50, 4)).astype("float32")
    y = (x[:, 0] + 0.3 * rng.normal(size=50) > 0).astype("float32")
    model = Sequential([Input((4,)), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[F1Score()])
    res = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)[:, 0] > 0.5
    tp, fp, fn = np.sum(pred & (y == 1)), np.sum(pred & (y == 0)), np.sum(~pred & (y == 1))
    np.testing.assert_allclose(res["f1"], 2 * tp / (2 * tp + fp + fn), rtol=1e-5)
    res2 = model.evaluate(x, y, batch_size=50, verbose=0, return_dict=True)
    np.testing.assert_allclose(res2["f1"], res["f1"], rtol=1e-5)
    hist = model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_data=(x, y))
    assert set(hist.history) == {"loss", "f1", "val_loss", "val_f1"}
    assert 0 <= hist.history["f1"][1] <= 1
    m = F1Score()
    m.update_state(tf.constant([1, 0, 1]), tf.constant([0.9, 0.8, 0.2]))
    np.testing.assert_allclose(float(m.result()), 0.5, rtol=1e-5)
    m.reset_state()
    assert float(m.result()) == 0.0
    m.update_state(np.array([1, 1]), np.array([0.9, 0.9]))
    np.testing.assert_allclose(m.result().numpy(), 1.0, rtol=1e-5)
    assert [v.name for v in m.variables] == ["tp", "fp", "fn"]


# ------------------------------------------------- optimizers and schedules

class WarmUpCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then cosine decay: the schedule of BERT fine-tuning
    notebooks, written as a LearningRateSchedule subclass."""

    def __init__(self, base_lr, warmup_steps, total_steps):
        super().__init__()
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.base_lr * step / self.warmup_steps
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        cosine = 0.5 * self.base_lr * (1 + tf.cos(np.pi * tf.minimum(progress, 1.0)))
        return tf.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"base_lr": self.base_lr, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}


def test_warmup_schedule_subclass_drives_sgd_step_by_step(rng):
    """SGD with the schedule: each step's update is lr(step) * gradient with
    the step counted from 0, checked on a linear model by hand."""
    sched = WarmUpCosine(0.1, warmup_steps=3, total_steps=8)
    np.testing.assert_allclose([float(sched(s)) for s in range(0, 9, 2)],
                               [0.0, 0.1 * 2 / 3, 0.5 * 0.1 * (1 + np.cos(np.pi * 0.2)),
                                0.5 * 0.1 * (1 + np.cos(np.pi * 0.6)), 0.0], atol=1e-7)
    x = rng.normal(size=(4, 2)).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    model = Sequential([Input((2,)), Dense(1, use_bias=False, kernel_initializer="zeros")])
    opt = keras.optimizers.SGD(learning_rate=sched)
    model.compile(opt, "mse")
    w = np.zeros((2, 1))
    for step in range(5):
        model.train_on_batch(x, y)
        grad = 2 * x.T.astype("float64") @ (x @ w - y) / 4
        w = w - float(sched(step)) * grad
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-7)
    assert int(opt.iterations) == 5
    np.testing.assert_allclose(float(opt.learning_rate), float(sched(5)), rtol=1e-6)
    cfg = keras.optimizers.serialize(opt)
    assert cfg["config"]["learning_rate"]["config"] == sched.get_config()


@pytest.mark.parametrize("kw", [{"clipnorm": 0.5}, {"clipvalue": 0.05}, {"global_clipnorm": 0.5}])
def test_gradient_clipping_options_of_sgd(rng, kw):
    """clipnorm clips each variable's gradient to its own norm,
    global_clipnorm all of them together, clipvalue each element; one SGD
    step checked against NumPy."""
    x = rng.normal(size=(8, 3)).astype("float32") * 4
    y = rng.normal(size=(8, 1)).astype("float32") * 4
    model = Sequential([Input((3,)), Dense(1)])
    w0, b0 = [a.astype("float64") for a in model.get_weights()]
    model.compile(keras.optimizers.SGD(0.1, **kw), "mse")
    model.train_on_batch(x, y)
    err = x @ w0 + b0 - y
    gw, gb = 2 * x.T @ err / 8, 2 * err.sum(0) / 8
    if "clipnorm" in kw:
        gw = gw * min(1, 0.5 / np.linalg.norm(gw))
        gb = gb * min(1, 0.5 / np.linalg.norm(gb))
    elif "global_clipnorm" in kw:
        g = np.sqrt(np.sum(gw ** 2) + np.sum(gb ** 2))
        gw, gb = gw * min(1, 0.5 / g), gb * min(1, 0.5 / g)
    else:
        gw, gb = np.clip(gw, -0.05, 0.05), np.clip(gb, -0.05, 0.05)
    w1, b1 = model.get_weights()
    np.testing.assert_allclose(w1, w0 - 0.1 * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b0 - 0.1 * gb, rtol=1e-5, atol=1e-6)
    assert model.optimizer.get_config()[next(iter(kw))] == next(iter(kw.values()))


def test_mixed_precision_policy_with_float32_softmax_output(rng):
    """The mixed-precision guide: set_global_policy("mixed_float16"), the
    last Activation with dtype="float32"; layers report float16 computation
    with float32 variables (pynn itself computes in float32), the output is
    float32; LossScaleOptimizer wraps the optimizer."""
    from pynn.keras import mixed_precision
    try:
        mixed_precision.set_global_policy("mixed_float16")
        assert mixed_precision.global_policy().name == "mixed_float16"
        inp = Input((6,))
        h = Dense(8, activation="relu", name="dense_1")(inp)
        logits = Dense(3, name="dense_logits")(h)
        out = layers.Activation("softmax", dtype="float32", name="predictions")(logits)
        model = Model(inp, out)
        d = model.get_layer("dense_1")
        assert d.compute_dtype == "float16" and d.variable_dtype == "float32"
        assert d.kernel.dtype == "float32"
        assert out.dtype == "float32"  # pynn computes in float32 under any policy
        opt = mixed_precision.LossScaleOptimizer(keras.optimizers.RMSprop())
        model.compile(loss="sparse_categorical_crossentropy", optimizer=opt,
                      metrics=["accuracy"])
        x = rng.normal(size=(16, 6)).astype("float32")
        y = rng.integers(0, 3, size=16)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        p = model.predict(x, verbose=0)
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.sum(1), 1, rtol=1e-3)
    finally:
        mixed_precision.set_global_policy("float32")
    assert Dense(2).compute_dtype == "float32"


# ------------------------------------------------------------- data input

def test_from_generator_with_output_signature_into_fit(rng):
    """``tf.data.Dataset.from_generator(gen, output_signature=(
    tf.TensorSpec(shape=(None, 4), dtype=tf.float32), tf.TensorSpec(shape=(),
    dtype=tf.int32)))`` of variable-length rows, padded_batch, then a model
    with GlobalAveragePooling1D; the generator is called again each epoch.
    An element that does not fit the signature's shape was passed on as it
    was; tf.data refuses it, naming both shapes."""
    calls = []
    lengths = [3, 5, 2, 4, 6, 1, 3, 2]
    data = [(rng.normal(size=(n, 4)).astype("float32"), i % 2) for i, n in enumerate(lengths)]

    def gen():
        calls.append(1)
        for row, label in data:
            yield row, label

    ds = tf.data.Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec(shape=(None, 4), dtype=tf.float32),
        tf.TensorSpec(shape=(), dtype=tf.int32)))
    assert ds.element_spec[0].shape.as_list() == [None, 4]
    batched = ds.padded_batch(4)
    first_x, first_y = next(iter(batched))
    assert first_x.shape == (4, 5, 4) and first_y.dtype == tf.int32
    np.testing.assert_array_equal(first_x.numpy()[2, 2:], 0)
    model = Sequential([Input((None, 4)), layers.GlobalAveragePooling1D(),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    n_before = len(calls)
    model.fit(batched, epochs=2, verbose=0)
    assert len(calls) - n_before == 2
    assert model.predict(batched, verbose=0).shape == (8, 1)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) where an element of shape \(None, 4\)"):
        bad = tf.data.Dataset.from_generator(lambda: iter([(np.zeros((2, 3)), 0)]),
                                             output_signature=(tf.TensorSpec((None, 4)),
                                                               tf.TensorSpec((), tf.int32)))
        list(bad)


def test_tfrecord_write_then_parse_into_a_training_pipeline(rng, tmp_path):
    """The TFRecord tutorial: serialize each row as a tf.train.Example with a
    float feature list and an int64 label, write with TFRecordWriter, read
    back with TFRecordDataset + parse_single_example in a map, batch, fit."""
    x = rng.normal(size=(12, 3)).astype("float32")
    y = rng.integers(0, 2, size=12)
    path = str(tmp_path / "data.tfrecord")

    def _float_feature(value):
        return tf.train.Feature(float_list=tf.train.FloatList(value=value))

    def _int64_feature(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    with tf.io.TFRecordWriter(path) as writer:
        for row, label in zip(x, y):
            example = tf.train.Example(features=tf.train.Features(feature={
                "features": _float_feature(row), "label": _int64_feature(int(label))}))
            writer.write(example.SerializeToString())

    feature_description = {"features": tf.io.FixedLenFeature([3], tf.float32),
                           "label": tf.io.FixedLenFeature([], tf.int64, default_value=0)}

    def _parse(proto):
        parsed = tf.io.parse_single_example(proto, feature_description)
        return parsed["features"], parsed["label"]

    ds = tf.data.TFRecordDataset([path]).map(_parse, num_parallel_calls=tf.data.AUTOTUNE)
    rows = list(ds.as_numpy_iterator())
    np.testing.assert_allclose(np.stack([r[0] for r in rows]), x)
    np.testing.assert_array_equal([r[1] for r in rows], y)
    raw = next(iter(tf.data.TFRecordDataset(path)))
    ex = tf.train.Example.FromString(raw.numpy())
    np.testing.assert_allclose(ex.features.feature["features"].float_list.value, x[0], rtol=1e-6)
    model = Sequential([Input((3,)), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(ds.shuffle(12).batch(4).prefetch(1), epochs=1, verbose=0)
    batch = next(iter(tf.data.TFRecordDataset(path).batch(5).map(
        lambda p: tf.io.parse_example(p, feature_description))))
    assert batch["features"].shape == (5, 3) and batch["label"].shape == (5,)


class ImageSequence(keras.utils.Sequence):
    """The Stack Overflow "custom data generator" class with
    ``__len__``/``__getitem__``/``on_epoch_end`` shuffling its indices,
    passed to fit with workers and use_multiprocessing."""

    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.indexes = np.arange(len(x))
        self.epochs_ended = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, idx):
        ids = self.indexes[idx * self.batch_size:(idx + 1) * self.batch_size]
        return self.x[ids], self.y[ids]

    def on_epoch_end(self):
        self.epochs_ended += 1
        np.random.shuffle(self.indexes)


def test_sequence_with_workers_and_on_epoch_end(rng):
    x = rng.normal(size=(22, 4)).astype("float32")
    y = rng.integers(0, 3, size=22)
    seq = ImageSequence(x, y, batch_size=5, workers=2, use_multiprocessing=False)
    assert len(seq) == 5 and seq[4][0].shape == (2, 4)
    model = Sequential([Input((4,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(seq, epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 3
    assert seq.epochs_ended >= 2
    model.fit(ImageSequence(x, y, 5), epochs=1, workers=2, use_multiprocessing=False,
              max_queue_size=4, verbose=0)
    res = model.evaluate(ImageSequence(x, y, 5), verbose=0)
    np.testing.assert_allclose(res, model.evaluate(x, y, verbose=0), rtol=1e-5)
    assert model.predict(ImageSequence(x, y, 5), verbose=0).shape == (22, 3)


def test_class_imbalance_with_sample_weight_from_compute_class_weight(rng):
    """sklearn's compute_class_weight("balanced") turned into per-sample
    weights; the weighted loss is sum(w * l) / n as Keras reduces it, and
    the weighted metrics see the weights too."""
    sklearn_utils = pytest.importorskip("sklearn.utils.class_weight")
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (rng.random(40) < 0.2).astype("int64")
    cw = sklearn_utils.compute_class_weight("balanced", classes=np.unique(y), y=y)
    sw = cw[y].astype("float32")
    model = Sequential([Input((3,)), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", weighted_metrics=["accuracy"],
                  metrics=["accuracy"])
    res = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0].astype("float64")
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    per = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    np.testing.assert_allclose(res["loss"], np.sum(sw * per) / 40, rtol=1e-5)
    hit = (p > 0.5) == y
    np.testing.assert_allclose(res["weighted_accuracy"], np.sum(sw * hit) / np.sum(sw),
                               rtol=1e-5)
    np.testing.assert_allclose(res["accuracy"], hit.mean(), rtol=1e-6)
    hist = model.fit(x, y, sample_weight=sw, epochs=1, batch_size=8, verbose=0,
                     validation_data=(x, y, sw))
    assert "val_weighted_accuracy" in hist.history
    ds = tf.data.Dataset.from_tensor_slices((x, y, sw)).batch(8)
    np.testing.assert_allclose(model.evaluate(ds, verbose=0)[0],
                               model.evaluate(x, y, sample_weight=sw, verbose=0)[0], rtol=1e-5)


# --------------------------------------------- scikit-learn style workflows

def test_hand_written_sklearn_wrapper_in_cross_val_score_and_grid_search(rng):
    ms = pytest.importorskip("sklearn.model_selection")
    from sklearn.base import BaseEstimator, ClassifierMixin

    class HandWrittenKerasClassifier(ClassifierMixin, BaseEstimator):
        """The "KerasClassifier is gone, write your own" answer: a class with
        fit/predict/predict_proba on scikit-learn's BaseEstimator that builds a
        fresh model in fit, so sklearn's clone and cross_val_score work."""

        def __init__(self, hidden=8, epochs=3, lr=0.01):
            self.hidden, self.epochs, self.lr = hidden, epochs, lr

        def fit(self, X, y):
            keras.backend.clear_session()
            self.classes_ = np.unique(y)
            self.model_ = Sequential([Input((X.shape[1],)),
                                      Dense(self.hidden, activation="relu"),
                                      Dense(len(self.classes_), activation="softmax")])
            self.model_.compile(keras.optimizers.Adam(self.lr), "sparse_categorical_crossentropy",
                                metrics=["accuracy"])
            self.model_.fit(X, np.searchsorted(self.classes_, y), epochs=self.epochs,
                            batch_size=16, verbose=0)
            return self

        def predict_proba(self, X):
            return self.model_.predict(X, verbose=0)

        def predict(self, X):
            return self.classes_[np.argmax(self.predict_proba(X), axis=-1)]

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x = rng.normal(size=(60, 4)).astype("float32")
    y = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    pipe = make_pipeline(StandardScaler(), HandWrittenKerasClassifier(epochs=2))
    scores = ms.cross_val_score(pipe, x, y, cv=ms.StratifiedKFold(3, shuffle=True,
                                                                   random_state=0))
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    grid = ms.GridSearchCV(HandWrittenKerasClassifier(epochs=1), {"hidden": [2, 4]}, cv=2)
    grid.fit(x, y)
    assert grid.best_params_["hidden"] in (2, 4)
    assert set(grid.predict(x[:5])) <= {"yes", "no"}
    assert grid.predict_proba(x[:5]).shape == (5, 2)
    # the model built by fit is an ordinary Keras model
    clf = HandWrittenKerasClassifier(epochs=1).fit(x, y)
    np.testing.assert_allclose(clf.predict_proba(x).sum(1), 1, rtol=1e-5)


def test_manual_tuner_loop_with_clear_session_and_best_model_restore(rng):
    """A Keras-Tuner-like random search written by hand: for each trial,
    clear_session, build, fit with EarlyStopping(restore_best_weights),
    keep min(val_loss); then rebuild the best and load its saved weights
    with get_weights/set_weights."""
    x = rng.normal(size=(48, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1))).astype("float32")
    space = {"units": [4, 8], "lr": [1e-2, 3e-3], "act": ["relu", "tanh"]}
    trial_rng = np.random.default_rng(1)
    trials = []

    def build(hp):
        model = Sequential([Input((5,)), Dense(hp["units"], activation=hp["act"]), Dense(1)])
        model.compile(keras.optimizers.Adam(hp["lr"]), "mse", metrics=["mae"])
        return model

    for _ in range(3):
        K.clear_session()
        hp = {k: v[trial_rng.integers(len(v))] for k, v in space.items()}
        hp = {k: (v.item() if hasattr(v, "item") else v) for k, v in hp.items()}
        model = build(hp)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1,
                                             restore_best_weights=True)
        hist = model.fit(x, y, validation_split=0.25, epochs=4, batch_size=12,
                         callbacks=[stop], verbose=0)
        best = min(hist.history["val_loss"])
        np.testing.assert_allclose(model.evaluate(x[36:], y[36:], verbose=0)[0], best,
                                   rtol=1e-5)
        trials.append((best, hp, model.get_weights()))
    best_loss, best_hp, best_w = min(trials, key=lambda t: t[0])
    final = build(best_hp)
    final.set_weights(best_w)
    np.testing.assert_allclose(final.evaluate(x[36:], y[36:], verbose=0)[0], best_loss,
                               rtol=1e-5)
    assert final.layers[0].units == best_hp["units"]
    assert final.layers[0].get_config()["activation"] == best_hp["act"]


# ------------------------------------------------- university assignments

def _cnn(lib, dropout=0.25):
    L = lib.layers
    stack = [L.Input((10, 10, 1)),
             L.Conv2D(4, (3, 3), padding="same", use_bias=False),
             L.BatchNormalization(), L.Activation("relu"),
             L.MaxPooling2D((2, 2))]
    if dropout:
        stack.append(L.Dropout(dropout))
    stack += [L.Conv2D(6, 3, activation="relu"), L.BatchNormalization(momentum=0.9),
              L.GlobalAveragePooling2D(), L.Dense(5, activation="softmax")]
    return lib.Sequential(stack)


@needs_keras
def test_cifar_style_cnn_with_batchnorm_matches_keras(rng):
    """The course's CNN (Conv-BN-ReLU-Pool-Dropout blocks): with the same
    weights pynn and Keras 3 predict the same; called with training=True
    (batch statistics) they give the same output and move the moving
    statistics the same way."""
    x = rng.normal(size=(8, 10, 10, 1)).astype("float32")
    y = rng.integers(0, 5, size=8)
    ours, theirs = _cnn(keras), _cnn(real_keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-6)
    assert ours.count_params() == theirs.count_params()
    assert len(ours.non_trainable_weights) == len(theirs.non_trainable_weights) == 4
    ours, theirs = _cnn(keras, dropout=0), _cnn(real_keras, dropout=0)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x, training=True).numpy(),
                               np.asarray(theirs(x, training=True)), rtol=1e-4, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    moving = ours.layers[1].moving_mean.numpy()
    assert not np.allclose(moving, 0)
    ours.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    ours.train_on_batch(x, y)
    assert not np.allclose(ours.layers[1].moving_mean.numpy(), moving)


def test_mnist_dense_autoencoder_encoder_decoder_split(rng):
    """The course autoencoder: 784-32-784, encoder and decoder as their own
    models sharing the layers of the autoencoder; decoder(encoder(x)) is
    the autoencoder's output; encoded images plotted from the encoder."""
    x = rng.random((32, 784)).astype("float32")
    input_img = Input(shape=(784,))
    encoded = Dense(32, activation="relu")(input_img)
    decoded = Dense(784, activation="sigmoid")(encoded)
    autoencoder = Model(input_img, decoded)
    encoder = Model(input_img, encoded)
    encoded_input = Input(shape=(32,))
    decoder_layer = autoencoder.layers[-1]
    decoder = Model(encoded_input, decoder_layer(encoded_input))
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    hist = autoencoder.fit(x, x, epochs=2, batch_size=16, shuffle=True,
                           validation_data=(x, x), verbose=0)
    assert len(hist.history["val_loss"]) == 2
    encoded_imgs = encoder.predict(x, verbose=0)
    decoded_imgs = decoder.predict(encoded_imgs, verbose=0)
    assert encoded_imgs.shape == (32, 32)
    np.testing.assert_allclose(decoded_imgs, autoencoder.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(decoder.layers[-1].get_weights()[0],
                                  autoencoder.layers[-1].get_weights()[0])
    assert [type(layer).__name__ for layer in autoencoder.layers] == [
        "InputLayer", "Dense", "Dense"]


def test_word_embeddings_read_with_get_weights_and_reduced_with_pca(rng, tmp_path):
    """The word-embedding assignment: Embedding + GlobalAveragePooling1D
    trained on a toy corpus, ``weights = model.get_layer('embedding')
    .get_weights()[0]``, the vectors.tsv/metadata.tsv files for the
    projector, cosine neighbours and a 2-D PCA by SVD."""
    words = ["good", "great", "fine", "bad", "awful", "poor"]
    vocab = ["", "[UNK]"] + words
    index = {w: i for i, w in enumerate(vocab)}
    sents = [[w1, w2] for w1 in words for w2 in words]
    x = np.array([[index[w] for w in s] for s in sents])
    y = np.array([float(s[0] in words[:3]) + float(s[1] in words[:3]) >= 1 for s in sents],
                 "float32")
    model = Sequential([Input((2,), dtype="int32"),
                        layers.Embedding(len(vocab), 4, name="embedding"),
                        layers.GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, verbose=0)
    weights = model.get_layer("embedding").get_weights()[0]
    assert weights.shape == (8, 4)
    with open(tmp_path / "vectors.tsv", "w") as out_v, \
            open(tmp_path / "metadata.tsv", "w") as out_m:
        for i, word in enumerate(vocab):
            if i == 0:
                continue
            out_v.write("\t".join(str(v) for v in weights[i]) + "\n")
            out_m.write(word + "\n")
    assert len(open(tmp_path / "vectors.tsv").read().splitlines()) == 7
    emb = model.layers[0]
    np.testing.assert_allclose(emb(np.array([[2, 3]])).numpy()[0], weights[[2, 3]])
    unit = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    sims = unit @ unit[index["good"]]
    assert np.argsort(-sims)[0] == index["good"]
    centered = weights[2:] - weights[2:].mean(0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    assert (centered @ vt[:2].T).shape == (6, 2)


def test_seq2seq_addition_with_repeat_vector(rng):
    """Keras's addition_rnn example: "12+345" as one-hot characters, an LSTM
    encoder, RepeatVector(DIGITS + 1), an LSTM decoder with
    return_sequences, a TimeDistributed (or plain) Dense softmax; decode by
    argmax per step."""
    chars = "0123456789+ "
    ctable = {c: i for i, c in enumerate(chars)}
    maxlen, digits = 5, 2

    def encode(s, n):
        x = np.zeros((n, len(chars)), "float32")
        for i, c in enumerate(s):
            x[i, ctable[c]] = 1
        return x

    pairs = rng.integers(0, 100, size=(64, 2))
    qs = [f"{a}+{b}".ljust(maxlen) for a, b in pairs]
    ans = [str(a + b).ljust(digits + 1) for a, b in pairs]
    x = np.stack([encode(q, maxlen) for q in qs])
    y = np.stack([encode(a, digits + 1) for a in ans])
    model = Sequential()
    model.add(layers.Input((maxlen, len(chars))))
    model.add(layers.LSTM(16))
    model.add(layers.RepeatVector(digits + 1))
    model.add(layers.LSTM(16, return_sequences=True))
    model.add(layers.TimeDistributed(Dense(len(chars), activation="softmax")))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    assert model.output_shape == (None, 3, 12)
    hist = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x[:8], y[:8]),
                     verbose=0)
    assert len(hist.history["val_accuracy"]) == 2
    preds = np.argmax(model.predict(x[:4], verbose=0), axis=-1)
    guess = ["".join(chars[i] for i in row) for row in preds]
    assert all(len(g) == 3 for g in guess)
    p = model.predict(x, verbose=0)
    res = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(res[1], np.mean(p.argmax(-1) == y.argmax(-1)), rtol=1e-6)
    np.testing.assert_allclose(
        res[0], -np.mean(np.sum(y * np.log(np.clip(p, 1e-7, 1)), axis=-1)), rtol=1e-4)


class BahdanauAttention(layers.Layer):
    """The TensorFlow NMT tutorial's attention layer: W1, W2, V Dense layers
    as attributes, score = V(tanh(W1(query_with_time_axis) + W2(values)))."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.W1 = Dense(units)
        self.W2 = Dense(units)
        self.V = Dense(1)

    def call(self, query, values):
        query_with_time_axis = tf.expand_dims(query, 1)
        score = self.V(tf.nn.tanh(self.W1(query_with_time_axis) + self.W2(values)))
        attention_weights = tf.nn.softmax(score, axis=1)
        context_vector = attention_weights * values
        context_vector = tf.reduce_sum(context_vector, axis=1)
        return context_vector, attention_weights


def test_bahdanau_attention_date_translation(rng):
    """Date translation ("3 may 1979" -> "1979-05-03") with a Bi-LSTM
    encoder and the attention layer from scratch used in a functional
    model; the weights over the input steps sum to 1 and match NumPy."""
    tx, ty, vin, vout = 7, 4, 10, 6
    x = rng.integers(0, vin, size=(20, tx))
    y = rng.integers(0, vout, size=(20, ty))
    enc_in = Input((tx,))
    enc = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(
        layers.Embedding(vin, 5)(enc_in))
    att = BahdanauAttention(8)
    s = layers.Lambda(lambda t: t[:, -1])(enc)
    context, weights = att(s, enc)
    out = Dense(ty * vout)(layers.Concatenate()([context, s]))
    out = layers.Softmax()(layers.Reshape((ty, vout))(out))
    model = Model(enc_in, [out, weights])
    assert weights.shape == (None, tx, 1) and context.shape == (None, 12)
    assert len(att.trainable_weights) == 6
    probs, w = model.predict(x, verbose=0)
    np.testing.assert_allclose(w.sum(1), 1, rtol=1e-5)
    encv = Model(enc_in, enc).predict(x, verbose=0).astype("float64")
    W1, b1 = att.W1.get_weights()
    W2, b2 = att.W2.get_weights()
    V, bv = att.V.get_weights()
    q = encv[:, -1]
    score = np.tanh((q @ W1 + b1)[:, None] + encv @ W2 + b2) @ V + bv
    want = np.exp(score - score.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(w, want, rtol=1e-4, atol=1e-6)
    trainer = Model(enc_in, out)
    trainer.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = trainer.fit(x, y, epochs=3, batch_size=10, verbose=0).history
    assert hist["loss"][-1] < hist["loss"][0]


def test_flask_style_predict_function_and_run_eagerly_debugging(rng, tmp_path):
    """Serving answers call ``model.make_predict_function()`` right after
    loading (so threads do not race to build it), and debugging answers
    set ``model.run_eagerly = True`` or ``compile(run_eagerly=True)``; a
    tf.keras 2 loop drives ``make_train_function()`` over an iterator.
    None of these existed; pynn's steps run eagerly anyway."""
    import threading
    x = rng.normal(size=(20, 4)).astype("float32")
    y = rng.integers(0, 3, size=20)
    model = Sequential([Input((4,)), Dense(5, activation="relu"),
                        Dense(3, activation="softmax")])
    assert model.run_eagerly is False and model.predict_function is None
    with pytest.raises(RuntimeError, match="compile"):
        model.make_train_function()
    predict = model.make_predict_function()
    assert model.make_predict_function() is predict is model.predict_function
    np.testing.assert_allclose(predict(iter([x])), model.predict(x, verbose=0), rtol=1e-6)
    import copy
    # a deep copy of a model that has predicted (K-fold answers copy one
    # model per fold) failed on the compiled inference plan; its function
    # runs the copy, not the original
    twin = copy.deepcopy(model)
    twin.set_weights([np.zeros_like(w) for w in twin.get_weights()])
    np.testing.assert_allclose(twin.predict_function(iter([x])), 1 / 3, rtol=1e-6)
    import pickle  # (joblib hands a fitted estimator's model to its workers so)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(model)).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    results = [None] * 4

    def serve(i):
        results[i] = model.predict(x[i * 5:(i + 1) * 5], verbose=0)

    threads = [threading.Thread(target=serve, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(np.concatenate(results), model.predict(x, verbose=0), rtol=1e-6)

    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=True)
    assert model.run_eagerly is True and model.predict_function is None
    path = str(tmp_path / "debug.keras")
    model.save(path)  # (the compile config keeps it, as Keras's does)
    assert keras.models.load_model(path).run_eagerly is True
    model.run_eagerly = False
    assert model.run_eagerly is False
    train = model.make_train_function()
    it = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(10))
    before = model.get_weights()[0].copy()
    logs = train(it)
    assert set(logs) == {"loss", "accuracy"}
    assert not np.allclose(model.get_weights()[0], before)
    model.reset_metrics()
    logs = model.make_test_function()((x, y))
    res = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(float(logs["loss"]), res["loss"], rtol=1e-5)
    np.testing.assert_allclose(float(logs["accuracy"]), res["accuracy"], rtol=1e-6)


@needs_keras
@pytest.mark.parametrize("from_logits", [False, True])
def test_segmentation_with_a_void_label_and_ignore_class(rng, from_logits):
    """Segmentation notebooks (Pascal VOC's 255 border, Cityscapes' -1)
    train with ``SparseCategoricalCrossentropy(ignore_class=...)``: the
    void pixels have no loss and no gradient and the mean runs over the
    others.  The argument was refused.  Checked against Keras 3 (loss
    called directly with each reduction, evaluate over batches, the
    metrics beside it) and one SGD step against the tape's gradient."""
    x = rng.normal(size=(4, 5, 5, 2)).astype("float32")
    y = rng.integers(0, 3, size=(4, 5, 5))
    y[:, :2, :2] = 255
    y[0] = 255

    def build(lib):
        L = lib.layers
        stack = [L.Input((5, 5, 2)), L.Conv2D(3, 1)] + ([] if from_logits else [L.Softmax()])
        model = lib.Sequential(stack)
        model.compile(optimizer=lib.optimizers.SGD(0.1),
                      loss=lib.losses.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                                     ignore_class=255),
                      metrics=["accuracy", lib.metrics.MeanIoU(3, ignore_class=255,
                                                               sparse_y_pred=False)])
        return model

    ours, theirs = build(keras), build(real_keras)
    theirs.set_weights(ours.get_weights())
    for bs in (None, 3):
        np.testing.assert_allclose(ours.evaluate(x, y, batch_size=bs, verbose=0),
                                   theirs.evaluate(x, y, batch_size=bs, verbose=0), rtol=1e-5)
    p = ours.predict(x, verbose=0)
    sw = rng.random((4, 5, 5)).astype("float32")
    for reduction in ("sum_over_batch_size", "sum", "none"):
        a = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=255,
                                                       reduction=reduction)
        b = real_keras.losses.SparseCategoricalCrossentropy(
            from_logits=from_logits, ignore_class=255, reduction=None if reduction == "none"
            else reduction)
        np.testing.assert_allclose(np.asarray(a(y, p)), np.asarray(b(y, p)), rtol=1e-5,
                                   atol=1e-7)
        np.testing.assert_allclose(np.asarray(a(y, p, sample_weight=sw)),
                                   np.asarray(b(y, p, sample_weight=sw)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        np.asarray(keras.losses.sparse_categorical_crossentropy(
            y, p, from_logits=from_logits, ignore_class=255)),
        np.asarray(real_keras.losses.sparse_categorical_crossentropy(
            y, p, from_logits=from_logits, ignore_class=255)), rtol=1e-5, atol=1e-7)
    with tf.GradientTape() as tape:
        loss = ours.loss(y, ours(x, training=True))
    grads = tape.gradient(loss, ours.trainable_weights)
    before = ours.get_weights()
    ours.train_on_batch(x, y)
    for w0, w1, g in zip(before, ours.get_weights(), grads):
        np.testing.assert_allclose(w0 - w1, 0.1 * np.asarray(g), rtol=1e-3, atol=1e-6)
    # a void pixel's prediction does not move the loss
    moved = p.copy()
    moved[0] = np.roll(moved[0], 1, axis=-1)
    np.testing.assert_allclose(float(ours.loss(y, moved)), float(ours.loss(y, p)), rtol=1e-6)
    assert ours.loss.get_config()["ignore_class"] == 255
    with pytest.raises(ValueError, match=r"\[0, 3\) \(besides ignore_class=255\)"):
        ours.fit(x, np.where(y == 255, 7, y), epochs=1, verbose=0)


def test_keras3_sklearn_classifier_in_cross_validation(rng):
    """Keras 3's scikit-learn wrapper as its docstring shows it: the model
    function receives X and the one-hot y and sizes the output from
    ``y.shape[1]``; cross_val_score and predict give the original labels."""
    ms = pytest.importorskip("sklearn.model_selection")
    x = rng.normal(size=(45, 4)).astype("float32")
    y = np.array(["cat", "dog", "bird"])[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)]

    def dynamic_model(X, y, loss, layers=[10]):
        inp = keras.Input(shape=X.shape[1:])
        h = inp
        for units in layers:
            h = keras.layers.Dense(units, activation="relu")(h)
        out = keras.layers.Dense(y.shape[1], activation="softmax")(h)
        model = keras.Model(inp, out)
        model.compile(loss=loss, optimizer="adam", metrics=["accuracy"])
        return model

    clf = keras.wrappers.SKLearnClassifier(
        model=dynamic_model, model_kwargs={"loss": "categorical_crossentropy", "layers": [6]},
        fit_kwargs={"epochs": 2, "verbose": 0})
    scores = ms.cross_val_score(clf, x, y, cv=ms.KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    clf.fit(x, y)
    assert set(clf.predict(x)) <= {"cat", "dog", "bird"}
    assert clf.model_.output_shape == (None, 3)
    assert clf.model_.layers[1].units == 6


def test_custom_training_loop_equals_fit_step_for_step(rng):
    """The "writing a training loop from scratch" guide: ``@tf.function``
    train_step with a GradientTape, the metric updated per batch and
    ``reset_states()`` each epoch, a validation loop.  With the same
    batches (no shuffling) it lands where fit lands, and the metric's
    per-epoch result is the accuracy over the epoch."""
    x = rng.normal(size=(40, 5)).astype("float32")
    y = rng.integers(0, 3, size=40)

    def build():
        keras.utils.set_random_seed(3)
        return Sequential([Input((5,)), Dense(8, activation="relu"), Dense(3)])

    model = build()
    optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    val_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    train_dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            loss_value = loss_fn(yb, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        train_acc_metric.update_state(yb, logits)
        return loss_value

    @tf.function
    def test_step(xb, yb):
        val_acc_metric.update_state(yb, model(xb, training=False))

    epoch_accs = []
    for epoch in range(2):
        hits = 0
        for step, (xb, yb) in enumerate(train_dataset):
            before = model(xb, training=False).numpy().argmax(-1)
            train_step(xb, yb)
            hits += int(np.sum(before == yb.numpy()))
        epoch_accs.append(float(train_acc_metric.result()))
        np.testing.assert_allclose(epoch_accs[-1], hits / 40, rtol=1e-6)
        train_acc_metric.reset_states()
        for xb, yb in train_dataset:
            test_step(xb, yb)
        val = float(val_acc_metric.result())
        val_acc_metric.reset_state()
    assert int(optimizer.iterations) == 6
    np.testing.assert_allclose(val, np.mean(model.predict(x, verbose=0).argmax(-1) == y),
                               rtol=1e-6)

    reference = build()
    reference.compile(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    hist = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hist.history["accuracy"], epoch_accs, rtol=1e-6)


@needs_keras
def test_ner_tagger_with_mask_zero_and_temporal_weights_matches_keras(rng):
    """A named-entity tagger from a Kaggle notebook: Embedding(mask_zero=
    True), Bidirectional(LSTM(return_sequences=True)), TimeDistributed
    Dense softmax; padded steps do not count in the loss or the accuracy,
    and per-token sample weights down-weight the "O" tag.  With Keras 3's
    weights pynn predicts and evaluates the same numbers."""
    x = rng.integers(1, 12, size=(6, 7))
    for i, n in enumerate((3, 7, 1, 5, 6, 2)):
        x[i, n:] = 0
    y = rng.integers(0, 4, size=(6, 7))
    tag_w = np.where(y == 0, 0.2, 1.0).astype("float32")

    def build(lib):
        L = lib.layers
        inp = L.Input((7,))
        h = L.Embedding(12, 5, mask_zero=True)(inp)
        h = L.Bidirectional(L.LSTM(4, return_sequences=True))(h)
        out = L.TimeDistributed(L.Dense(4, activation="softmax"))(h)
        model = lib.Model(inp, out)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    ours, theirs = build(keras), build(real_keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0),
                               theirs.evaluate(x, y, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, sample_weight=tag_w, verbose=0),
                               theirs.evaluate(x, y, sample_weight=tag_w, verbose=0), rtol=1e-5)
    p = ours.predict(x, verbose=0)
    real = x != 0
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0)[1],
                               np.mean(p.argmax(-1)[real] == y[real]), rtol=1e-5)
    ours.fit(x, y, sample_weight=tag_w, epochs=1, batch_size=3, verbose=0)


@needs_keras
def test_one_dense_on_a_state_and_a_sequence_luong_attention(rng):
    """Luong-style attention written with one ``Dense`` applied both to the
    decoder state (batch, units) and to the encoder outputs (batch, steps,
    units), and one Embedding on ids of two ranks, as Keras allows (Dense
    takes any rank >= 2 with the features it was built for).  pynn refused
    the second call ("expected shape=(None, 4), found shape=(None, 5,
    4)").  The numbers match Keras 3's; features of another size are still
    refused."""
    def build(lib):
        L = lib.layers
        w = L.Dense(6, use_bias=False, name="w")
        emb = L.Embedding(10, 4, name="emb")
        state, ids, tags = L.Input((4,)), L.Input((5,)), L.Input((5, 2))
        seq = emb(ids)
        scores = L.Dot(axes=(1, 2))([w(state), w(seq)])
        weights = L.Softmax()(scores)
        context = L.Dot(axes=(1, 1))([weights, seq])
        tag_vec = L.GlobalAveragePooling1D()(L.Reshape((10, 4))(emb(tags)))
        out = L.Dense(1)(L.Concatenate()([context, state, tag_vec]))
        model = lib.Model([state, ids, tags], out)
        model.compile("sgd", "mse")
        return model, w

    (ours, w), (theirs, _) = build(keras), build(real_keras)
    theirs.set_weights(ours.get_weights())
    data = [rng.normal(size=(3, 4)).astype("float32"), rng.integers(0, 10, size=(3, 5)),
            rng.integers(0, 10, size=(3, 5, 2))]
    y = rng.normal(size=(3, 1)).astype("float32")
    np.testing.assert_allclose(ours.predict(data, verbose=0), theirs.predict(data, verbose=0),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.evaluate(data, y, verbose=0),
                               theirs.evaluate(data, y, verbose=0), rtol=1e-5)
    ours.fit(data, y, epochs=1, verbose=0)
    assert w.get_output_shape_at(0) == (None, 6) and w.get_output_shape_at(1) == (None, 5, 6)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(None, 5, 3\)"):
        w(Input((5, 3)))


def test_shared_encoder_outputs_by_node_index(rng):
    """tf.keras 2's answer to "Layer has multiple inbound nodes": the shared
    encoder's ``get_output_at(1)`` (the second call's tensor) in a feature
    model; ``layer.output`` is the first call's, as Keras 3 gives it."""
    encoder = Dense(3, activation="relu", name="encoder")
    left, right = Input((4,), name="left"), Input((4,), name="right")
    el, er = encoder(left), encoder(right)
    siamese = Model([left, right], layers.Subtract()([el, er]))
    assert encoder.get_output_at(0) is el and encoder.get_output_at(1) is er
    assert encoder.get_input_at(1) is right and encoder.output is el
    assert encoder.get_input_shape_at(1) == (None, 4)
    with pytest.raises(ValueError, match="only 2 inbound node"):
        encoder.get_output_at(2)
    right_features = Model(siamese.inputs, encoder.get_output_at(1))
    a, b = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(right_features.predict([a, b], verbose=0),
                               encoder(b).numpy(), rtol=1e-6)
    np.testing.assert_allclose(siamese.predict([a, b], verbose=0),
                               encoder(a).numpy() - encoder(b).numpy(), rtol=1e-5, atol=1e-6)


def test_kaggle_tfrecord_images_with_variable_length_features(rng, tmp_path):
    """A Kaggle competition's TFRecord reader: GZIP-compressed records of
    PNG bytes, a serialized float tensor, a variable number of int64 tags
    read three ways (VarLenFeature + tf.sparse.to_dense, RaggedFeature,
    and ``FixedLenSequenceFeature([], tf.int64, allow_missing=True)``, which
    was refused for an Example), and a variable-length float list read as
    steps of two values, padded per batch as TensorFlow pads them."""
    path = str(tmp_path / "train.tfrec")
    images = (rng.random((4, 6, 6, 3)) * 255).astype("uint8")
    points = [rng.normal(size=(n, 2)).astype("float32") for n in (1, 3, 0, 2)]

    def _bytes_feature(value):
        if hasattr(value, "numpy"):
            value = value.numpy()
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(path, options=options) as writer:
        for i, img in enumerate(images):
            feature = {
                "image": _bytes_feature(tf.io.encode_png(img)),
                "tensor": _bytes_feature(tf.io.serialize_tensor(
                    tf.constant(img / 255.0, dtype=tf.float64))),
                "tags": tf.train.Feature(int64_list=tf.train.Int64List(value=list(range(i)))),
                "points": tf.train.Feature(float_list=tf.train.FloatList(
                    value=points[i].reshape(-1).tolist())),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2]))}
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())

    desc = {"image": tf.io.FixedLenFeature([], tf.string),
            "tensor": tf.io.FixedLenFeature([], tf.string),
            "tags": tf.io.VarLenFeature(tf.int64),
            "points": tf.io.FixedLenSequenceFeature([2], tf.float32, allow_missing=True),
            "label": tf.io.FixedLenFeature([], tf.int64)}

    def decode(proto):
        ex = tf.io.parse_single_example(proto, desc)
        image = tf.image.convert_image_dtype(tf.io.decode_png(ex["image"], channels=3),
                                             tf.float32)
        tensor = tf.io.parse_tensor(ex["tensor"], out_type=tf.float64)
        return image, tensor, tf.sparse.to_dense(ex["tags"]), ex["points"], ex["label"]

    ds = tf.data.TFRecordDataset([path], compression_type="GZIP")
    rows = list(ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE))
    for i, (image, tensor, tags, pts, label) in enumerate(rows):
        np.testing.assert_allclose(image.numpy(), images[i] / 255.0, atol=1e-6)
        np.testing.assert_allclose(tensor.numpy(), images[i] / 255.0)
        assert tags.numpy().tolist() == list(range(i)) and int(label) == i % 2
        np.testing.assert_allclose(pts.numpy().reshape(-1, 2), points[i])
    batch = tf.io.parse_example(next(iter(ds.batch(4))), {
        "tags": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True,
                                              default_value=-1),
        "points": tf.io.FixedLenSequenceFeature([2], tf.float32, allow_missing=True),
        "ragged": tf.io.RaggedFeature(tf.int64, value_key="tags")})
    assert batch["tags"].numpy().tolist() == [[-1, -1, -1], [0, -1, -1], [0, 1, -1],
                                              [0, 1, 2]]
    assert batch["points"].shape == (4, 3, 2)
    np.testing.assert_allclose(batch["points"].numpy()[1], points[1])
    np.testing.assert_array_equal(batch["points"].numpy()[2], 0)
    assert batch["ragged"].row_lengths().numpy().tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="allow_missing"):
        tf.io.parse_single_example(next(iter(ds)), {
            "tags": tf.io.FixedLenSequenceFeature([], tf.int64)})
    train = ds.map(decode).map(lambda im, t, tg, p, lb: (im, lb)).batch(2)
    model = Sequential([Input((6, 6, 3)), layers.Conv2D(2, 3, activation="relu"),
                        layers.GlobalMaxPooling2D(), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    assert len(model.fit(train, epochs=1, verbose=0).history["loss"]) == 1


def test_model_add_loss_and_add_metric_of_symbolic_tensors(rng, tmp_path):
    """tf.keras 2's "Training and evaluation" guide: ``model.add_loss(
    tf.reduce_sum(x1) * 0.1)`` and ``model.add_metric(keras.backend.std(x1),
    name="std_of_activation", aggregation="mean")`` on a functional model.
    The metric was silently dropped; now fit and evaluate report it (the
    std of the hidden activations, checked with NumPy), next to the loss
    that includes the added term, and the model saves and loads with it."""
    x = rng.normal(size=(32, 8)).astype("float32")
    y = rng.integers(0, 3, size=32)
    inputs = keras.Input(shape=(8,), name="digits")
    x1 = layers.Dense(6, activation="relu", name="dense_1")(inputs)
    outputs = layers.Dense(3, name="predictions")(x1)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.add_loss(tf.reduce_sum(x1) * 0.1)
    model.add_metric(K.std(x1), name="std_of_activation", aggregation="mean")
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert [layer.name for layer in model.layers] == ["digits", "dense_1", "predictions"]
    hist = model.fit(x, y, batch_size=32, epochs=1, verbose=0, validation_data=(x, y))
    assert set(hist.history) == {"loss", "std_of_activation", "val_loss",
                                 "val_std_of_activation"}
    hidden = keras.Model(inputs, x1).predict(x, verbose=0).astype("float64")
    logits = model.predict(x, verbose=0).astype("float64")
    res = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(res["std_of_activation"], hidden.std(), rtol=1e-5)
    np.testing.assert_allclose(hist.history["val_std_of_activation"][0], hidden.std(), rtol=1e-5)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(res["loss"], -log_p[np.arange(32), y].mean() + 0.1 * hidden.sum(),
                               rtol=1e-4)
    path = str(tmp_path / "guide.pynn")
    model.save(path)
    back = keras.models.load_model(path)
    np.testing.assert_allclose(back.evaluate(x, y, verbose=0, return_dict=True)["std_of_activation"],
                               res["std_of_activation"], rtol=1e-6)
    with pytest.raises(ValueError, match="needs a name"):
        model.add_metric(K.mean(x1))


class LogisticEndpoint(keras.layers.Layer):
    """The "endpoint layer" of tf.keras 2's training guide: it computes the
    loss and the accuracy itself, from the targets given as an input."""

    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = keras.metrics.BinaryAccuracy()

    def call(self, targets, logits, sample_weights=None):
        loss = self.loss_fn(targets, logits, sample_weights)
        self.add_loss(loss)
        acc = self.accuracy_fn(targets, logits, sample_weights)
        self.add_metric(acc, name="accuracy")
        return tf.nn.softmax(logits)


def test_endpoint_layer_of_the_training_guide(rng):
    """fit on a dict of inputs with no targets: the loss is the layer's
    add_loss; the accuracy is logged once, as "binary_accuracy" (the name
    given to add_metric is the metric's own in tf.keras 2; it was logged
    twice, under both names), and is 0 for the guide's random float
    targets (Keras compares y_true == (y_pred > 0.5); pynn read y_true >
    0.5).  Hard targets are counted as before."""
    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    sample_weights = keras.Input(shape=(1,), name="sample_weights")
    preds = LogisticEndpoint(name="predictions")(targets, logits, sample_weights)
    model = keras.Model(inputs=[inputs, targets, sample_weights], outputs=preds)
    model.compile(optimizer="adam")
    data = {"inputs": rng.random((3, 3)), "targets": rng.random((3, 10)),
            "sample_weights": rng.random((3, 1))}
    hist = model.fit(data, epochs=2, verbose=0).history
    assert set(hist) == {"loss", "binary_accuracy"}
    assert hist["binary_accuracy"] == [0.0, 0.0]
    z = keras.Model(inputs, logits).predict(data["inputs"], verbose=0).astype("float64")
    t, w = data["targets"], data["sample_weights"]
    bce = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))), axis=-1)
    res = model.evaluate(data, verbose=0, return_dict=True)
    np.testing.assert_allclose(res["loss"], np.mean(bce * w[:, 0]), rtol=1e-5)
    hard = dict(data, targets=(rng.random((3, 10)) > 0.5).astype("float64"))
    res = model.evaluate(hard, verbose=0, return_dict=True)
    want = np.sum(np.mean((z > 0.5) == hard["targets"], axis=1) * w[:, 0]) / w.sum()
    np.testing.assert_allclose(res["binary_accuracy"], want, rtol=1e-5)
    noisy = np.array([[0.9], [0.1], [1.0]])
    assert np.asarray(keras.metrics.binary_accuracy(noisy, np.array([[0.8], [0.2], [0.7]]))
                      ).tolist() == [0.0, 0.0, 1.0]


class Sampling(layers.Layer):
    """z = mean + exp(0.5 * log_var) * epsilon, the reparameterization."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = tf.shape(z_mean)[0]
        dim = tf.shape(z_mean)[1]
        epsilon = tf.random.normal(shape=(batch, dim))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


class ConvVAE(keras.Model):
    """The course's convolutional VAE: its own train_step and test_step,
    loss trackers listed in ``metrics``, and a call() that reconstructs."""

    def __init__(self, latent_dim=2, **kwargs):
        super().__init__(**kwargs)
        enc_in = keras.Input((8, 8, 1))
        h = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(enc_in)
        h = layers.Flatten()(h)
        z_mean = Dense(latent_dim, name="z_mean")(h)
        z_log_var = Dense(latent_dim, name="z_log_var")(h)
        self.encoder = keras.Model(enc_in, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])],
                                   name="encoder")
        dec_in = keras.Input((latent_dim,))
        h = Dense(4 * 4 * 4, activation="relu")(dec_in)
        h = layers.Reshape((4, 4, 4))(h)
        h = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(h)
        out = layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(h)
        self.decoder = keras.Model(dec_in, out, name="decoder")
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                self.kl_loss_tracker]

    def losses_of(self, data, z_mean, z_log_var, reconstruction):
        reconstruction_loss = tf.reduce_mean(tf.reduce_sum(
            keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
        kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
        return reconstruction_loss, kl_loss

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss, kl_loss = self.losses_of(data, z_mean, z_log_var,
                                                          reconstruction)
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z_mean)
        reconstruction_loss, kl_loss = self.losses_of(data, z_mean, z_log_var, reconstruction)
        self.total_loss_tracker.update_state(reconstruction_loss + kl_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

    def call(self, inputs):
        return self.decoder(self.encoder(inputs)[0])


def test_conv_vae_with_train_step_test_step_and_loss_trackers(rng):
    """fit logs the three trackers (reset each epoch), evaluate runs the
    deterministic test_step, whose numbers are checked against NumPy from
    the encoder's and decoder's predictions; the decoder samples images
    from the latent grid as the assignment plots them."""
    x = rng.random((12, 8, 8, 1)).astype("float32")
    vae = ConvVAE()
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    hist = vae.fit(x, epochs=2, batch_size=4, verbose=0).history
    assert set(hist) == {"total_loss", "reconstruction_loss", "kl_loss"}
    np.testing.assert_allclose(np.array(hist["total_loss"]),
                               np.array(hist["reconstruction_loss"]) + np.array(hist["kl_loss"]),
                               rtol=1e-5)
    res = vae.evaluate(x, batch_size=12, verbose=0, return_dict=True)
    z_mean, z_log_var, _ = [a.astype("float64") for a in vae.encoder.predict(x, verbose=0)]
    recon = vae.decoder.predict(z_mean, verbose=0).astype("float64")
    p = np.clip(recon, 1e-7, 1 - 1e-7)
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).mean(axis=-1)
    want_recon = bce.sum(axis=(1, 2)).mean()
    want_kl = (-0.5 * (1 + z_log_var - z_mean ** 2 - np.exp(z_log_var))).sum(1).mean()
    np.testing.assert_allclose(res["reconstruction_loss"], want_recon, rtol=1e-4)
    np.testing.assert_allclose(res["kl_loss"], want_kl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(vae.predict(x, verbose=0), recon, rtol=1e-5, atol=1e-6)
    grid = np.array([[xi, yi] for yi in np.linspace(-1, 1, 3) for xi in np.linspace(-1, 1, 3)])
    digits = vae.decoder.predict(grid, verbose=0)
    assert digits.shape == (9, 8, 8, 1) and np.all((digits > 0) & (digits < 1))


def test_bucketed_text_pipeline_with_assert_cardinality(rng):
    """A Kaggle NLP pipeline: token ids from a generator, told their number
    with ``apply(tf.data.experimental.assert_cardinality(n))`` (so fit
    knows its steps), bucketed with the Dataset method
    ``bucket_by_sequence_length`` (TF 2.6+) to pad little, then trained.
    ``group_by_window`` and ``scan`` as the tf.data guide uses them.  None
    of these four existed."""
    lengths = rng.integers(2, 12, size=30)
    seqs = [rng.integers(1, 50, size=n) for n in lengths]
    labels = rng.integers(0, 2, size=30)

    def gen():
        for s, label in zip(seqs, labels):
            yield s, label

    ds = tf.data.Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32)))
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(seqs)))
    assert len(ds) == 30 and int(ds.cardinality()) == 30
    buckets = ds.bucket_by_sequence_length(element_length_func=lambda x, y: tf.shape(x)[0],
                                           bucket_boundaries=[5, 9],
                                           bucket_batch_sizes=[4, 4, 4])
    seen = 0
    for x, y in buckets:
        n = x.shape[1]
        bucket_lengths = {int(np.sum(row != 0)) for row in x.numpy()}
        assert all((m < 5) == (n < 5) for m in bucket_lengths)
        seen += x.shape[0]
    assert seen == 30
    model = Sequential([Input((None,), dtype="int32"), layers.Embedding(50, 4, mask_zero=True),
                        layers.GRU(3), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    assert len(model.fit(buckets, epochs=1, verbose=0).history["loss"]) == 1
    with pytest.raises(tf.errors.FailedPreconditionError, match="only 30 elements"):
        list(tf.data.Dataset.from_generator(gen, output_signature=(
            tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32))).apply(
            tf.data.experimental.assert_cardinality(31)))

    windows = tf.data.Dataset.range(10).group_by_window(
        key_func=lambda x: x % 2, reduce_func=lambda key, w: w.batch(5), window_size=5)
    assert [w.numpy().tolist() for w in windows] == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]
    running = tf.data.Dataset.range(5).scan(
        initial_state=tf.constant(0, dtype=tf.int64),
        scan_func=lambda state, i: (state + i, state + i))
    assert [int(v) for v in running] == [0, 1, 3, 6, 10]
    assert [int(v) for v in tf.data.Dataset.range(4).apply(tf.data.experimental.scan(
        np.int64(1), lambda s, i: (s * 2, s + i)))] == [1, 3, 6, 11]
