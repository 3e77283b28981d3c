"""Kaggle notebooks and blog tutorials written for tf.keras (tabular,
image folders, transfer learning, text, time series, autoencoders,
callbacks, saving, K-fold and hyperparameter loops, tf.keras 2 idioms),
run with only their imports changed: each program checks what the
original prints or plots, against NumPy, scikit-learn or Keras 3 where
they give the same numbers."""
import os

import numpy as np
import pytest

import pynn as tf
import pynn.keras.backend as K
from pynn import keras
from pynn.keras import layers
from pynn.keras.layers import Dense, Dropout, Input
from pynn.keras.models import Model, Sequential, load_model

sklearn = pytest.importorskip("sklearn")


@pytest.fixture
def rng():
    keras.utils.set_random_seed(0)
    return np.random.default_rng(0)


def _png_folder(root, classes, n, size=(20, 20), seed=0):
    """A folder per class of ``n`` random PNG images each."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c in classes:
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, size + (3,)).astype(np.uint8)).save(
                os.path.join(root, c, f"{c}{i}.png"))
    return str(root)


# ------------------------------------------------------------------ text

def test_text_vectorization_mapped_then_exported_and_in_a_string_input(rng, tmp_path):
    """TensorFlow's text classification tutorial: the layer adapted on the
    raw texts, applied in ``ds.map`` to ``tf.expand_dims(text, -1)``, then
    put in an export model called on a plain list of strings; a later cell
    calls it on ``Input(shape=(1,), dtype="string")``.  The layer was held
    to the rank it was first built for: "expected shape=(None,), found
    shape=(None, 1)".  Keras's lookup layers take any rank."""
    texts = np.array(["the movie was great", "terrible film, awful", "great acting",
                      "awful awful plot"] * 4)
    y = np.array([1, 0, 1, 0] * 4)
    raw = tf.data.Dataset.from_tensor_slices((texts, y)).batch(4)
    vectorize = layers.TextVectorization(max_tokens=30, output_sequence_length=5)
    vectorize.adapt(raw.map(lambda x, y: x))

    def vectorize_text(text, label):
        return vectorize(tf.expand_dims(text, -1)), label

    train = raw.map(vectorize_text).cache().prefetch(tf.data.AUTOTUNE)
    model = Sequential([layers.Embedding(31, 4), layers.GlobalAveragePooling1D(),
                        layers.Dense(1)])
    model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True), optimizer="adam",
                  metrics=tf.metrics.BinaryAccuracy(threshold=0.0))
    model.fit(train, epochs=1, verbose=0)
    export = Sequential([vectorize, model, layers.Activation("sigmoid")])
    export.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    probs = export.predict(np.array(["great great movie", "awful"]), verbose=0)
    want = 1 / (1 + np.exp(-model.predict(vectorize(np.array(["great great movie", "awful"])),
                                          verbose=0)))
    np.testing.assert_allclose(probs, want, rtol=1e-5)

    inp = keras.Input(shape=(1,), dtype="string")
    out = layers.Dense(1, activation="sigmoid")(layers.Bidirectional(layers.LSTM(3))(
        layers.Embedding(31, 4)(vectorize(inp))))
    strings_in = keras.Model(inp, out)
    strings_in.compile("adam", "binary_crossentropy")
    strings_in.fit(texts[:, None], y, epochs=1, verbose=0)
    path = str(tmp_path / "text.keras")
    strings_in.save(path)
    np.testing.assert_allclose(load_model(path).predict(texts[:4, None], verbose=0),
                               strings_in.predict(texts[:4, None], verbose=0), rtol=1e-6)
    lookup = layers.StringLookup(vocabulary=["a", "b"])
    assert Sequential([lookup]).predict(np.array(["a", "b"]), verbose=0).tolist() == [1, 2]
    column = keras.Input((1,), dtype="string")
    assert keras.Model(column, lookup(column)).predict(
        np.array([["b"], ["z"]]), verbose=0).tolist() == [[2], [0]]


# ---------------------------------------------------------------- saving

def test_checkpoint_prefix_is_found_by_latest_checkpoint(rng, tmp_path):
    """TensorFlow's "Save and load models" tutorial:
    ``ModelCheckpoint("training_2/cp-{epoch:04d}.ckpt", save_weights_only=
    True)``, then ``tf.train.latest_checkpoint(checkpoint_dir)`` and
    ``model.load_weights(latest)``.  save_weights wrote the checkpoint but
    not the folder's ``checkpoint`` file, so latest_checkpoint gave None.
    tf.keras records each one written there."""
    x = rng.normal(size=(20, 4)).astype("float32")

    def create_model():
        model = Sequential([Dense(4, activation="relu", input_shape=(4,)), Dense(1)])
        model.compile("adam", "mse")
        return model

    checkpoint_path = str(tmp_path / "training_2" / "cp-{epoch:04d}.ckpt")
    checkpoint_dir = os.path.dirname(checkpoint_path)
    model = create_model()
    model.save_weights(checkpoint_path.format(epoch=0))
    assert tf.train.latest_checkpoint(checkpoint_dir) == checkpoint_path.format(epoch=0)
    cp_callback = keras.callbacks.ModelCheckpoint(filepath=checkpoint_path, verbose=0,
                                                  save_weights_only=True)
    model.fit(x, x[:, :1], epochs=3, callbacks=[cp_callback], verbose=0)
    assert sorted(os.listdir(checkpoint_dir)) == ["checkpoint"] + [
        f"cp-{e:04d}.ckpt.index" for e in range(4)]
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    assert latest == checkpoint_path.format(epoch=3)
    fresh = create_model()
    fresh.load_weights(latest)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


class _DropoutInTraining(keras.Model):
    """The subclassing tutorials' model: its Dropout runs under
    ``if training:`` only."""

    def __init__(self, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dense_1 = layers.Dense(8, activation="relu")
        self.dropout = layers.Dropout(0.2)
        self.dense_2 = layers.Dense(num_classes, activation="softmax")

    def call(self, inputs, training=None):
        x = self.dense_1(inputs)
        if training:
            x = self.dropout(x, training=training)
        return self.dense_2(x)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class _OwnStep(keras.Model):
    """A model trained by its own train_step (apply_gradients)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(3, activation="softmax")

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": loss}


@pytest.mark.parametrize("cls", [_DropoutInTraining, _OwnStep])
@pytest.mark.parametrize("suffix", [".keras", ".pynn"])
def test_subclassed_model_saves_and_resumes_with_its_optimizer(rng, tmp_path, cls, suffix):
    """``model.save("model.keras")`` after fit, then load_model and go on
    training.  A subclassed model whose call branches on ``training`` could
    not be saved at all (AttributeError: no attribute 'output_names'); one
    trained by its own train_step (or a GradientTape loop) was saved with
    its Adam moments as zeros and resumed from them.  Keras saves the
    optimizer's state: training goes on as it would have."""
    x = rng.random((20, 5)).astype("float32")
    y = np.arange(20) % 3
    model = cls()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=5, verbose=0)
    path = str(tmp_path / f"sub{suffix}")
    model.save(path)
    loaded = load_model(path, custom_objects={cls.__name__: cls})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    want = [np.asarray(v) for v in model.optimizer.variables]
    got = [np.asarray(v) for v in loaded.optimizer.variables]
    assert len(got) == len(want) and np.abs(want[2]).sum() > 0
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for m in (model, loaded):
        keras.utils.set_random_seed(1)
        m.fit(x, y, epochs=1, batch_size=5, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_gradient_tape_loop_state_saved_in_a_keras_file(rng, tmp_path):
    """A custom loop (``opt.apply_gradients`` on a compiled functional
    model), then ``model.save``: the file held zeros for the moments."""
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    inp = Input((3,))
    model = Model(inp, Dense(1)(Dense(4, activation="tanh")(inp)))
    opt = keras.optimizers.Adam(0.01)
    model.compile(optimizer=opt, loss="mse")
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_weights),
                                model.trainable_weights))
    path = str(tmp_path / "loop.keras")
    model.save(path)
    loaded = load_model(path)
    for a, b in zip(loaded.optimizer.variables, opt.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    assert int(loaded.optimizer.iterations) == 3
