"""keras.io's example programs, third sweep (structured data, time series,
vision, text, reinforcement learning), run with only their imports
changed: the patterns that broke, reproduced in a few lines, against
Keras 3 where it runs the same thing, else a property that could fail."""
import re
import string

import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- text_classification_from_scratch.py: the texts of a folder, as bytes

def test_texts_from_a_folder_are_bytes_as_tensorflow_gives(tmp_path):
    for cls, words in (("neg", "awful dull"), ("pos", "great fun")):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "a.txt").write_text(f"A <br />{words}, café!", encoding="utf-8")
    ds = pynn.utils.text_dataset_from_directory(tmp_path, batch_size=2, shuffle=False)
    texts, labels = next(iter(ds))
    first = texts.numpy()[0]
    assert isinstance(first, bytes)
    assert first.decode("utf-8") == "A <br />awful dull, café!"
    assert texts[1].numpy().decode("utf-8") == "A <br />great fun, café!"

    # and they go through the example's standardization and vectorizer
    def custom_standardization(input_data):
        lowercase = pynn.strings.lower(input_data)
        stripped_html = pynn.strings.regex_replace(lowercase, "<br />", " ")
        return pynn.strings.regex_replace(stripped_html,
                                          f"[{re.escape(string.punctuation)}]", "")

    vectorize = pynn.layers.TextVectorization(standardize=custom_standardization,
                                              output_sequence_length=4)
    vectorize.adapt(ds.map(lambda x, y: x))
    assert sorted(vectorize.get_vocabulary()[2:]) == ["a", "awful", "café", "dull", "fun",
                                                      "great"]
    ids = np.asarray(vectorize(pynn.expand_dims(texts, -1)))
    vocab = vectorize.get_vocabulary()
    assert [vocab[i] for i in ids[0]] == ["a", "awful", "dull", "café"]
    # one text at a time (batch_size=None): a 0-d string tensor
    one = next(iter(pynn.utils.text_dataset_from_directory(tmp_path, batch_size=None,
                                                           shuffle=False, labels=None)))
    assert one.numpy().decode("utf-8").startswith("A <br />awful")


# ---------- super_resolution_sub_pixel.py: the Y channel of tf.image's YUV

@pytest.mark.parametrize("forward, back, first_row", [
    ("rgb_to_yuv", "yuv_to_rgb", [0.299, -0.14714119, 0.61497538]),
    ("rgb_to_yiq", "yiq_to_rgb", [0.299, 0.59590059, 0.2115]),
])
def test_yuv_and_yiq_are_tensorflows_matrices(forward, back, first_row):
    tf = pynn
    rgb = np.random.default_rng(1).uniform(size=(2, 5, 4, 3)).astype(np.float32)
    out = getattr(tf.image, forward)(rgb)
    assert out.shape == rgb.shape and np.asarray(out).dtype == np.float32
    # pure red gives the matrix's first row; luma is TensorFlow's weights
    np.testing.assert_allclose(np.asarray(getattr(tf.image, forward)(np.array([1., 0, 0],
                                                                             np.float32))),
                               first_row, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out)[..., 0], rgb @ np.array([0.299, 0.587, 0.114]),
                               rtol=1e-5, atol=1e-6)
    # back again (TensorFlow's YIQ matrices are each other's inverse to ~1e-4)
    np.testing.assert_allclose(np.asarray(getattr(tf.image, back)(out)), rgb, atol=2e-4)
    # the example splits the channels and keeps Y, in a data pipeline
    y, u, v = tf.split(out, 3, axis=3)
    assert y.shape == (2, 5, 4, 1)
    with pytest.raises(ValueError, match="rgb_to_yuv.*3 channels"):
        tf.image.rgb_to_yuv(np.zeros((4, 4, 4), np.float32))


def test_rgb_to_yuv_keeps_the_gradient_on_a_tape():
    x = pynn.Variable(np.random.default_rng(2).uniform(size=(1, 2, 2, 3)).astype(np.float32))
    with pynn.GradientTape() as tape:
        y = pynn.reduce_sum(pynn.image.rgb_to_yuv(x)[..., 0])
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x))[0, 0, 0], [0.299, 0.587, 0.114],
                               rtol=1e-6)


# -------- metric_learning.py: a Sequence that keeps self.num_batches = n

def test_a_sequence_may_store_its_own_num_batches():
    seen = []

    class Pairs(pynn.utils.Sequence):
        def __init__(self, num_batches):
            super().__init__()
            self.num_batches = num_batches

        def __len__(self):
            return self.num_batches

        def __getitem__(self, idx):
            seen.append(idx)
            return rand(4, 3, seed=idx), rand(4, 1, seed=idx + 50)

    pairs = Pairs(3)
    assert len(pairs) == 3 and pairs.num_batches == 3
    assert len(list(pairs)) == 3
    model = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(pairs, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert sorted(set(seen)) == [0, 1, 2]

    # with no assignment the count is still __len__'s
    class Plain(pynn.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, idx):
            return rand(2, 3), rand(2, 1)

    assert Plain().num_batches == 5


# ------------- swin_transformers.py: call(x, mask=None) given numbers

def scaled(lib):
    class Scaled(lib.layers.Layer):
        """Its mask is a multiplier per feature (and may be negative)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(3)

        def call(self, x, mask=None):
            y = self.dense(x)
            return y if mask is None else y * mask

    return Scaled


MULT = np.array([-2.0, 0.5, 3.0], np.float32)


def test_a_mask_of_numbers_reaches_a_custom_call_as_given(keras):
    ours, ref = scaled(pynn)(), scaled(keras)()
    x = rand(4, 5)
    ours(x), ref(x)
    ref.set_weights(ours.get_weights())
    want = np.asarray(ref(x, mask=MULT))
    np.testing.assert_allclose(np.asarray(ours(x, mask=MULT)), want, rtol=1e-5, atol=1e-6)
    # on a GradientTape: the same values, and the mask's factor in the gradient
    with pynn.GradientTape() as tape:
        y = ours(x, mask=MULT)
        loss = pynn.reduce_sum(y)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-6)
    grad = tape.gradient(loss, ours.dense.kernel)
    np.testing.assert_allclose(np.asarray(grad), np.outer(x.sum(0), MULT), rtol=1e-5)


def test_a_layer_inside_a_model_gets_its_numeric_mask_in_fit_too():
    Scaled = scaled(pynn)

    class Outer(pynn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Scaled()

        def call(self, x):
            return self.inner(x, mask=MULT)

    inp = pynn.Input((5,))
    model = pynn.Model(inp, Outer()(inp))
    x = rand(6, 5)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), (x @ kernel + bias) * MULT,
                               rtol=1e-5, atol=1e-5)
    # one SGD step on sum(y): each kernel column moves by lr * sum(x) * its factor
    model.compile(pynn.optimizers.SGD(0.1), loss=lambda y_true, y_pred: pynn.ops.sum(y_pred))
    model.fit(x, np.zeros((6, 3), np.float32), batch_size=6, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0], kernel - 0.1 * np.outer(x.sum(0), MULT),
                               rtol=1e-4, atol=1e-5)


# ---- timeseries_classification_transformer.py: the Dropouts named after it

def test_attention_layers_take_the_automatic_names_keras_gives_their_parts(keras):
    def names(lib):
        inp = lib.Input((5, 4))
        x = lib.layers.MultiHeadAttention(key_dim=2, num_heads=2, dropout=0.1)(inp, inp)
        x = lib.layers.Dropout(0.1)(x)
        x = lib.layers.GroupQueryAttention(2, 2, 1)(x, x)
        x = lib.layers.Dropout(0.1)(x)
        x = lib.layers.Softmax()(x)
        return [layer.name for layer in lib.Model(inp, x).layers]

    pynn.backend.clear_session()
    keras.backend.clear_session()
    assert names(pynn) == names(keras)
