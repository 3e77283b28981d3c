"""TFLite export, checked in the LiteRT interpreter against predict:
attention masks in every mode (causal, constant, carried, given as inputs
or by ops.not_equal; float32, float16, dynamic range and full integer,
where Keras's -1e9 fill is set from the scores' calibrated range); masks
given to layers as graph tensors (``gru(x, mask=m)``); recurrent layers in
full integer (unrolled, each step's tensors calibrated); the tutorial
models phones run (keras.io's and Deep Learning with Python's
transformers, a ViT, an MLP-Mixer, a U-Net), their custom layers traced
with the masks they carry and calibrated."""
import numpy as np
import pytest

import pynn
from keras_reference import keras as real_keras, needs_keras
from litehelp import convert, op_names, run_all
from pynn import layers, ops
from pynn.utils import set_random_seed

STEPS, VOCAB = 7, 30
MODES = [None, "float16", "dynamic", "int8"]
# float32, float16, dynamic range: absolute; int8: a fraction of the
# output's span (the book models' tolerance, test_book_models_export)
TOLERANCE = {None: 1e-4, "float16": 5e-3, "dynamic": 5e-2, "int8": 0.06}


def check(model, xs, mode, int8_only=False, reference=False):
    """Export ``model`` in ``mode`` (int8 calibrated on ``xs``) and compare
    the interpreter's outputs on ``xs`` with predict's (``reference``: with
    the builtin kernels alone too, as where XNNPACK does not run)."""
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    flat = convert(model, mode, xs, supported_ops=[pynn.lite.OpsSet.TFLITE_BUILTINS_INT8]
                   if int8_only else None)
    for ref in (False, True) if reference else (False,):
        for got, w in zip(run_all(flat, xs, reference=ref), want):
            assert got.shape == w.shape
            tol = TOLERANCE[mode] * (float(w.max() - w.min()) if mode == "int8" else 1.0)
            np.testing.assert_allclose(got, w, rtol=0 if mode == "int8" else 1e-4, atol=tol)
    return flat


def padded_ids(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, (n, STEPS)).astype(np.int32)
    for row, length in zip(x, rng.integers(1, STEPS + 1, n)):
        row[length:] = 0
    return x


def features(n=32, seed=1, shape=(STEPS, 8)):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype(np.float32)


def gpt_block():
    """A decoder block of text generation (keras.io / DLwP): token and
    position embeddings, causal self-attention, the next token's logits."""
    set_random_seed(1)
    ids = pynn.Input((STEPS,), dtype="int32")
    x = layers.Embedding(VOCAB, 16)(ids) + \
        layers.Embedding(STEPS, 16)(ops.arange(0, STEPS))
    a = layers.MultiHeadAttention(2, 8)(x, x, use_causal_mask=True)
    x = layers.LayerNormalization(epsilon=1e-6)(x + a)
    f = layers.Dense(16)(layers.Dense(32, activation="relu")(x))
    x = layers.LayerNormalization(epsilon=1e-6)(x + f)
    return pynn.Model(ids, layers.Dense(VOCAB)(x))


@pytest.mark.parametrize("mode", MODES)
def test_causal_text_generation_block(mode):
    model = gpt_block()
    ids = padded_ids()
    # the causal mask matters: a later token changes no earlier logits
    changed = ids.copy()
    changed[:, -1] = (changed[:, -1] + 1) % VOCAB
    a, b = model.predict(ids, verbose=0), model.predict(changed, verbose=0)
    assert np.array_equal(a[:, :-1], b[:, :-1]) and not np.allclose(a[:, -1], b[:, -1])
    flat = check(model, [ids], mode)
    if mode == "int8":
        assert "DEQUANTIZE" in op_names(flat)  # only the float32 output's


def _constant_mask_model(mask, causal=False, shape=(STEPS, 8)):
    set_random_seed(2)
    inp = pynn.Input(shape)
    out = layers.MultiHeadAttention(2, 4)(inp, inp, attention_mask=mask,
                                          use_causal_mask=causal)
    return pynn.Model(inp, out)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ["tril", "batch_of_one_and_causal", "rank_4"])
def test_constant_attention_mask(case, mode):
    band = np.abs(np.arange(STEPS)[:, None] - np.arange(STEPS)[None]) < 3
    if case == "tril":
        model, x = _constant_mask_model(np.tril(np.ones((STEPS, STEPS)))), features()
    elif case == "batch_of_one_and_causal":
        model, x = _constant_mask_model(band[None], causal=True), features()
    else:
        # attention over both middle axes of (batch, 3, 4, 8): the mask
        # (3, 4, 3, 4), the same for every row
        mask = np.random.default_rng(3).random((3, 4, 3, 4)) > 0.3
        model, x = _constant_mask_model(mask, shape=(3, 4, 8)), features(shape=(3, 4, 8))
    unmasked = _constant_mask_model(None, shape=x.shape[1:])
    assert not np.allclose(model.predict(x, verbose=0), unmasked.predict(x, verbose=0))
    check(model, [x], mode)


def _carried_mask_model(causal):
    set_random_seed(3)
    inp = pynn.Input((STEPS,), dtype="int32")
    e = layers.Embedding(VOCAB, 8, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(2, 4)(e, e, use_causal_mask=causal)
    return pynn.Model(inp, layers.Dense(3)(layers.LayerNormalization()(e + a)))


@pytest.mark.parametrize("causal", [False, True], ids=["padding", "causal"])
def test_full_integer_carried_padding_mask(causal):
    model = _carried_mask_model(causal)
    check(model, [padded_ids()], "int8")
    flat = check(model, [padded_ids()], "int8", int8_only=True)
    assert {"NOT_EQUAL", "CAST", "SOFTMAX"} <= set(op_names(flat))


def test_full_integer_mask_input_and_not_equal_mask():
    set_random_seed(4)
    inp, given = pynn.Input((STEPS, 8)), pynn.Input((STEPS, STEPS))
    out = layers.MultiHeadAttention(2, 4)(inp, inp, attention_mask=given)
    mask = (np.random.default_rng(5).random((32, STEPS, STEPS)) > 0.4).astype(np.float32)
    check(pynn.Model([inp, given], out), [features(), mask], "int8")
    # the keras.io pattern: mask = ops.expand_dims(ops.not_equal(ids, 0), 1)
    ids = pynn.Input((STEPS,), dtype="int32")
    e = layers.Embedding(VOCAB, 8)(ids)
    m = ops.expand_dims(ops.not_equal(ids, 0), 1)
    a = layers.MultiHeadAttention(2, 4)(e, e, attention_mask=m)
    check(pynn.Model(ids, layers.Dense(2)(a)), [padded_ids()], "int8")


def test_full_integer_masked_weights_stay_zero_for_large_scores():
    # The int8 fill is set below the smallest calibrated score: the masked
    # weights stay zero however large the scores grow.
    set_random_seed(6)
    inp = pynn.Input((STEPS, 8))
    out, scores = layers.MultiHeadAttention(2, 4)(inp, inp, use_causal_mask=True,
                                                  return_attention_scores=True)
    model = pynn.Model(inp, [out, scores])
    check(model, [features()], "int8")
    x = features() * 4.0  # (beyond int8's accuracy there, but not beyond its masking)
    _, weights = run_all(convert(model, "int8", [x]), [x])
    above = np.triu(np.ones((STEPS, STEPS), bool), 1)
    assert np.abs(weights[..., above]).max() <= 1 / 256
    assert np.allclose(weights.sum(-1), 1.0, atol=0.05)


def _mask_changes(model, xs, i):
    """The model's answer depends on its mask input ``i``."""
    unmasked = list(xs)
    unmasked[i] = np.ones_like(xs[i])
    assert not np.allclose(model.predict(xs, verbose=0), model.predict(unmasked, verbose=0))


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "SimpleRNN"])
def test_mask_from_ops_not_equal_given_to_a_recurrent_layer(kind):
    set_random_seed(7)
    ids = pynn.Input((STEPS,), dtype="int32")
    e = layers.Embedding(VOCAB, 4)(ids)
    y = getattr(layers, kind)(5, return_sequences=True)(e, mask=ops.not_equal(ids, 0))
    # (the recurrent output carries the mask on to the pooling)
    model = pynn.Model(ids, layers.Dense(2)(layers.GlobalAveragePooling1D()(y)))
    x = padded_ids(8)
    unmasked = pynn.Model(ids, layers.Dense(2)(layers.GlobalAveragePooling1D()(
        model.layers[2](e))))
    assert not np.allclose(model.predict(x, verbose=0), unmasked.predict(x, verbose=0))
    for mode in (None, "float16", "dynamic"):
        flat = check(model, [x], mode)
    assert "NOT_EQUAL" in op_names(flat)


@pytest.mark.parametrize("dtype", ["bool", "float32", "int32"])
def test_mask_given_as_a_model_input(dtype):
    set_random_seed(8)
    x_in, m_in = pynn.Input((STEPS, 3)), pynn.Input((STEPS,), dtype=dtype)
    y = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x_in, mask=m_in)
    y = layers.GRU(3)(y)
    model = pynn.Model([x_in, m_in], y)
    xs = [features(8, shape=(STEPS, 3)), (padded_ids(8) != 0).astype(dtype)]
    _mask_changes(model, xs, 1)
    check(model, xs, None)


@pytest.mark.parametrize("mode", MODES)
def test_query_and_value_masks_given_to_attention(mode):
    set_random_seed(9)
    q, qm = pynn.Input((STEPS, 8)), pynn.Input((STEPS,))
    a = layers.MultiHeadAttention(2, 4)(q, q, query_mask=qm, value_mask=qm)
    model = pynn.Model([q, qm], a)
    xs = [features(), (padded_ids() != 0).astype(np.float32)]
    _mask_changes(model, xs, 1)
    check(model, xs, mode)


def test_mask_given_to_pooling_and_a_layer_without_a_form_refused_by_name():
    set_random_seed(10)
    x_in, m_in = pynn.Input((STEPS, 3)), pynn.Input((STEPS,))
    pooled = layers.GlobalAveragePooling1D(name="pool")(x_in, mask=m_in)
    model = pynn.Model([x_in, m_in], pooled)
    check(model, [features(4, shape=(STEPS, 3)), (padded_ids(4) != 0).astype(np.float32)],
          None)
    att = layers.Attention(name="dot")
    q_in = pynn.Input((STEPS, 3))
    model = pynn.Model([q_in, m_in], att([q_in, q_in], mask=[m_in, m_in]))
    with pytest.raises(pynn.lite.ConversionError, match="'dot'"):
        convert(model, None, None)


def _int8_ops_only(flat):
    """No float op but the float32 interface's QUANTIZE and DEQUANTIZE."""
    names = op_names(flat)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in names and \
        "UNIDIRECTIONAL_SEQUENCE_RNN" not in names
    assert names.count("DEQUANTIZE") <= 1


def sequences(n=48, seed=2, features=3):
    return np.random.default_rng(seed).normal(size=(n, STEPS, features)).astype(np.float32)


@pytest.mark.parametrize("options", [{}, {"return_sequences": True}, {"go_backwards": True}],
                         ids=["last", "sequence", "backwards"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "GRU_reset_before", "SimpleRNN"])
def test_full_integer_recurrent_layers(kind, options):
    set_random_seed(11)
    cell = layers.GRU(16, reset_after=False, **options) if kind == "GRU_reset_before" else \
        getattr(layers, kind)(16, **options)
    model = pynn.Sequential([pynn.Input((STEPS, 3)), cell, layers.Dense(2)])
    flat = check(model, [sequences()], "int8", reference=True)
    _int8_ops_only(flat)
    assert "UNPACK" in op_names(flat)


def test_full_integer_bidirectional_stack_int8_only():
    set_random_seed(12)
    model = pynn.Sequential([pynn.Input((STEPS, 3)),
                             layers.Bidirectional(layers.LSTM(8, return_sequences=True)),
                             layers.GRU(8), layers.Dense(2, activation="softmax")])
    flat = check(model, [sequences()], "int8", int8_only=True, reference=True)
    _int8_ops_only(flat)


def _text(kind, mask_zero):
    set_random_seed(13)
    # (embeddings of a trained model's size, as the states are)
    table = pynn.initializers.RandomUniform(-1.0, 1.0)
    return pynn.Sequential([pynn.Input((STEPS,), dtype="int32"),
                            layers.Embedding(VOCAB, 8, mask_zero=mask_zero,
                                             embeddings_initializer=table),
                            getattr(layers, kind)(8), layers.Dense(2)])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_full_integer_masked_recurrent_layers(kind):
    model = _text(kind, True)
    x = padded_ids(48)
    unmasked = _text(kind, False)
    assert not np.allclose(model.predict(x, verbose=0), unmasked.predict(x, verbose=0),
                           atol=0.05)
    flat = check(model, [x], "int8", reference=True)
    assert {"NOT_EQUAL", "CAST"} <= set(op_names(flat))


@pytest.mark.parametrize("recurrent", [False, True], ids=["embedding", "gru"])
def test_full_integer_masked_average(recurrent):
    # the mean over the kept steps: weights SOFTMAX((mask - 1) * 20), no DIV;
    # a row with every step masked gives zeros
    set_random_seed(19)
    inp = pynn.Input((STEPS,), dtype="int32")
    x = layers.Embedding(VOCAB, 8, mask_zero=True,
                         embeddings_initializer=pynn.initializers.RandomUniform(-1.0, 1.0))(inp)
    if recurrent:
        x = layers.GRU(8, return_sequences=True)(x)
    model = pynn.Model(inp, layers.Dense(2, bias_initializer="ones")(
        layers.GlobalAveragePooling1D()(x)))
    ids = padded_ids(48)
    ids[0] = 0
    flat = check(model, [ids], "int8", reference=True)
    assert "DIV" not in op_names(flat) and "SOFTMAX" in op_names(flat)
    assert "DIV" in op_names(convert(model, None, None))  # (float32 divides, exactly)


def test_full_integer_masking_layer_and_encoder_decoder():
    set_random_seed(14)
    x = sequences()
    x[padded_ids(48) == 0] = 0.0
    model = pynn.Sequential([pynn.Input((STEPS, 3)), layers.Masking(0.0),
                             layers.LSTM(8, return_sequences=True), layers.GRU(4)])
    check(model, [x], "int8", reference=True)
    # a seq2seq encoder's states starting the decoder (initial_state, return_state)
    enc, dec = pynn.Input((STEPS, 3)), pynn.Input((STEPS, 3))
    _, h, c = layers.LSTM(8, return_state=True)(enc)
    y = layers.LSTM(8, return_sequences=True)(dec, initial_state=[h, c])
    model = pynn.Model([enc, dec], layers.Dense(3, activation="softmax")(y))
    check(model, [x, sequences(seed=3)], "int8", reference=True)


# ------------------------------------------------------- tutorial models
# Small versions of the models of keras.io's examples and Deep Learning with
# Python that phones run, each exported in float32 and full integer.

class _TokenAndPosition(layers.Layer):
    """Token embeddings plus learned position embeddings (custom call)."""

    def __init__(self, steps, vocab, dim, padding_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.tokens = layers.Embedding(vocab, dim)
        self.positions = layers.Embedding(steps, dim)
        self.padding_mask = padding_mask

    def call(self, ids):
        return self.tokens(ids) + self.positions(ops.arange(0, ops.shape(ids)[-1], 1))

    def compute_mask(self, ids, mask=None):
        return ops.not_equal(ids, 0) if self.padding_mask else None


class _EncoderBlock(layers.Layer):
    """Self-attention and a feed-forward network, each with a residual and a
    LayerNormalization; the padding mask of its input, when it gets one,
    as the attention mask (DLwP's TransformerEncoder)."""

    def __init__(self, dim, hidden, heads, **kwargs):
        super().__init__(**kwargs)
        self.attention = layers.MultiHeadAttention(heads, dim)
        self.ffn = pynn.Sequential([layers.Dense(hidden, activation="relu"), layers.Dense(dim)])
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout = layers.Dropout(0.1)

    def call(self, x, mask=None):
        attention_mask = None if mask is None else mask[:, None, :]
        a = self.dropout(self.attention(x, x, attention_mask=attention_mask))
        x = self.norm1(x + a)
        return self.norm2(x + self.ffn(x))


def _text_classifier():
    # keras.io's text classification with a Transformer: float ids
    inp = pynn.Input((STEPS,))
    x = _EncoderBlock(8, 16, 2)(_TokenAndPosition(STEPS, VOCAB, 8)(inp))
    x = layers.Dense(8, activation="relu")(layers.GlobalAveragePooling1D()(x))
    return pynn.Model(inp, layers.Dense(2, activation="softmax")(x)), \
        [padded_ids().astype(np.float32)]


def _padded_transformer():
    # DLwP chapter 11: int64 ids, the padding mask from compute_mask given
    # to the encoder's call, max pooling, a sigmoid
    inp = pynn.Input((STEPS,), dtype="int64")
    x = _TokenAndPosition(STEPS, VOCAB, 8, padding_mask=True)(inp)
    x = layers.GlobalMaxPooling1D()(_EncoderBlock(8, 16, 2)(x))
    return pynn.Model(inp, layers.Dense(1, activation="sigmoid")(x)), [padded_ids()]


class _Patches(layers.Layer):
    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, images):
        patches = ops.image.extract_patches(images, size=self.size)
        rows, cols, features = ops.shape(patches)[1:]
        return ops.reshape(patches, (-1, rows * cols, features))


def _vision_transformer():
    inp = pynn.Input((16, 16, 3))
    patches = _Patches(4)(inp)
    x = layers.Dense(8)(patches) + layers.Embedding(16, 8)(ops.arange(0, 16, 1))
    for _ in range(2):
        y = layers.LayerNormalization(epsilon=1e-6)(x)
        x = x + layers.MultiHeadAttention(2, 8, dropout=0.1)(y, y)
        y = layers.Dense(16, activation="gelu")(layers.LayerNormalization(epsilon=1e-6)(x))
        x = x + layers.Dense(8, activation="gelu")(y)
    x = layers.Flatten()(layers.LayerNormalization(epsilon=1e-6)(x))
    return pynn.Model(inp, layers.Dense(5)(x)), [features(32, shape=(16, 16, 3))]


def _mlp_mixer():
    inp = pynn.Input((16, 16, 3))
    x = layers.Reshape((16, 8))(layers.Conv2D(8, 4, strides=4)(inp))
    for _ in range(2):
        y = layers.Permute((2, 1))(layers.LayerNormalization(epsilon=1e-6)(x))
        y = layers.Dense(16)(layers.Dense(16, activation="gelu")(y))
        x = layers.Add()([x, layers.Permute((2, 1))(y)])
        y = layers.Dense(16, activation="gelu")(layers.LayerNormalization(epsilon=1e-6)(x))
        x = layers.Add()([x, layers.Dense(8)(y)])
    x = layers.GlobalAveragePooling1D()(x)
    return pynn.Model(inp, layers.Dense(5)(x)), [features(32, shape=(16, 16, 3))]


def _segmentation_unet():
    # keras.io's image segmentation: separable convolutions, residuals by
    # strided 1x1 convolutions, Conv2DTranspose and UpSampling2D back up
    inp = pynn.Input((32, 32, 3))
    x = layers.Activation("relu")(layers.BatchNormalization()(
        layers.Conv2D(8, 3, strides=2, padding="same")(inp)))
    skip = x
    for filters in (16, 32):
        x = layers.SeparableConv2D(filters, 3, padding="same")(layers.Activation("relu")(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(layers.BatchNormalization()(x))
        x = layers.add([x, layers.Conv2D(filters, 1, strides=2, padding="same")(skip)])
        skip = x
    for filters in (32, 16, 8):
        x = layers.Conv2DTranspose(filters, 3, padding="same")(layers.Activation("relu")(x))
        x = layers.UpSampling2D(2)(layers.BatchNormalization()(x))
        x = layers.add([x, layers.Conv2D(filters, 1, padding="same")(
            layers.UpSampling2D(2)(skip))])
        skip = x
    out = layers.Conv2D(3, 3, activation="softmax", padding="same")(x)
    return pynn.Model(inp, out), [np.random.default_rng(4).random((16, 32, 32, 3),
                                                                  np.float32)]


TUTORIALS = {"text_classifier": _text_classifier, "padded_transformer": _padded_transformer,
             "vision_transformer": _vision_transformer, "mlp_mixer": _mlp_mixer,
             "segmentation_unet": _segmentation_unet}
# (MobileNetV2 and EfficientNetB0: test_book_models_export)


@pytest.mark.parametrize("mode", [None, "int8"])
@pytest.mark.parametrize("case", sorted(TUTORIALS))
def test_tutorial_models(case, mode):
    set_random_seed(15)
    model, xs = TUTORIALS[case]()
    flat = check(model, xs, mode)
    if mode == "int8":
        _int8_ops_only(flat)


def test_padding_mask_reaches_the_custom_encoder():
    # (the export above would pass without it if padding changed nothing)
    set_random_seed(15)
    model, (ids,) = _padded_transformer()
    changed = ids.copy()
    changed[ids == 0] = 3
    assert not np.allclose(model.predict(ids, verbose=0), model.predict(changed, verbose=0))


def test_patches_of_symbolic_images():
    x = pynn.Input((16, 16, 3))
    assert tuple(ops.image.extract_patches(x, size=4).shape) == (None, 4, 4, 48)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("heads", [1, 2], ids=["shared", "per_head"])
def test_attention_mask_of_rank_4(heads, mode):
    # (batch, heads or 1, T, S), as Keras's softmax takes a mask of the
    # scores' rank; with the query's padding mask carried too
    set_random_seed(16)
    ids, given = pynn.Input((STEPS,), dtype="int32"), pynn.Input((heads, STEPS, STEPS))
    e = layers.Embedding(VOCAB, 8, mask_zero=True)(ids)
    a = layers.MultiHeadAttention(2, 4)(e, e, attention_mask=given)
    model = pynn.Model([ids, given], layers.Dense(3)(a))
    mask = (np.random.default_rng(17).random((32, heads, STEPS, STEPS)) > 0.3)
    xs = [padded_ids(), mask.astype(np.float32)]
    _mask_changes(model, xs, 1)
    check(model, xs, mode)


@needs_keras
@pytest.mark.parametrize("heads", [1, 2])
def test_attention_mask_of_rank_4_matches_keras(heads):
    rng = np.random.default_rng(18)
    x = rng.normal(size=(4, STEPS, 8)).astype(np.float32)
    mask = rng.random((4, heads, STEPS, STEPS)) > 0.3
    inp, given = pynn.Input((STEPS, 8)), pynn.Input((heads, STEPS, STEPS))
    attention = layers.MultiHeadAttention(2, 4)
    model = pynn.Model([inp, given], attention(inp, inp, attention_mask=given))
    reference = real_keras.layers.MultiHeadAttention(2, 4)
    reference(x, x)
    reference.set_weights(attention.get_weights())
    want = np.asarray(reference(x, x, attention_mask=mask))
    np.testing.assert_allclose(model.predict([x, mask.astype(np.float32)], verbose=0), want,
                               atol=1e-5)
    np.testing.assert_allclose(attention(x, x, attention_mask=mask), want, atol=1e-5)


def _batch_tiled_causal_mask(inputs):
    """keras.io's miniature GPT: a causal mask built from the input's
    shape and tiled over its batch."""
    batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
    lower = ops.arange(steps)[:, None] >= ops.arange(steps)[None, :]
    mask = ops.reshape(ops.cast(lower, "bool"), (1, steps, steps))
    return ops.tile(mask, ops.concatenate([ops.expand_dims(batch, -1),
                                           ops.convert_to_tensor([1, 1])], 0))


class _GenerationBlock(layers.Layer):
    def __init__(self, dim, heads, **kwargs):
        super().__init__(**kwargs)
        self.attention = layers.MultiHeadAttention(heads, dim)
        self.norm = layers.LayerNormalization(epsilon=1e-6)
        self.ffn = layers.Dense(dim, activation="relu")

    def call(self, x):
        a = self.attention(x, x, attention_mask=_batch_tiled_causal_mask(x))
        x = self.norm(x + a)
        return x + self.ffn(x)


@pytest.mark.parametrize("mode", MODES)
def test_call_reading_the_batch_size(mode):
    # traced with a batch of 2 (an unknown one cannot tile), the mask a
    # constant shared by the rows; converting again traces again
    set_random_seed(20)
    ids = pynn.Input((STEPS,), dtype="int32")
    x = _GenerationBlock(8, 2)(_TokenAndPosition(STEPS, VOCAB, 8)(ids))
    model = pynn.Model(ids, layers.Dense(VOCAB)(x))
    x = padded_ids()
    changed = x.copy()
    changed[:, -1] = (changed[:, -1] + 1) % VOCAB
    a, b = model.predict(x, verbose=0), model.predict(changed, verbose=0)
    assert np.allclose(a[:, :-1], b[:, :-1], atol=1e-6) and not np.allclose(a[:, -1], b[:, -1])
    check(model, [x], mode)
    check(model, [x[:5]], mode)


class _MergesTheBatch(layers.Layer):
    def call(self, x):
        flat = ops.reshape(x, (ops.shape(x)[0] * STEPS, 8))
        return ops.reshape(flat * 2.0, (-1, STEPS, 8))


def test_call_that_mixes_the_batch_is_refused_naming_the_layer():
    inp = pynn.Input((STEPS, 8))
    model = pynn.Model(inp, _MergesTheBatch(name="merges")(inp))
    with pytest.raises(pynn.lite.ConversionError, match="'merges'.*traced"):
        convert(model, None, None)


class _Decoder(layers.Layer):
    """DLwP's TransformerDecoder: two positional inputs, the first one's
    mask given to the call, cast to int32 and combined by ops.minimum with
    a causal mask tiled over the batch; the second input's mask carried
    into the cross-attention."""

    def __init__(self, dim, heads, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = layers.MultiHeadAttention(heads, dim)
        self.cross_attention = layers.MultiHeadAttention(heads, dim)
        self.norm1 = layers.LayerNormalization()
        self.norm2 = layers.LayerNormalization()

    def call(self, inputs, encoder_outputs, mask=None):
        causal = ops.cast(_batch_tiled_causal_mask(inputs), "int32")
        padding = None if mask is None else ops.minimum(
            ops.cast(mask[:, None, :], dtype="int32"), causal)
        x = self.norm1(inputs + self.self_attention(inputs, inputs, attention_mask=causal))
        y = self.cross_attention(x, encoder_outputs, attention_mask=padding)
        return self.norm2(x + y)


class _Residual(layers.Layer):
    """Attention inside a call that does not take the mask: the mask its
    input carries still reaches the attention."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.attention = layers.MultiHeadAttention(2, 8)

    def call(self, x):
        return x + self.attention(x, x)


@pytest.mark.parametrize("mode", MODES)
def test_custom_layers_reading_carried_masks(mode):
    set_random_seed(21)
    ids = pynn.Input((STEPS,), dtype="int64")
    x = _TokenAndPosition(STEPS, VOCAB, 8, padding_mask=True)(ids)
    x = _Decoder(8, 2)(x, x)
    e = layers.Embedding(VOCAB, 8, mask_zero=True)(ids)
    model = pynn.Model(ids, [layers.Dense(3)(x), layers.Dense(3)(_Residual()(e))])
    xs = [padded_ids()]
    changed = padded_ids()
    changed[changed == 0] = 5
    for a, b in zip(model.predict(xs[0], verbose=0), model.predict(changed, verbose=0)):
        assert not np.allclose(a, b)  # (the padding matters to both outputs)
    check(model, xs, mode)


class _ListDecoder(layers.Layer):
    """keras.io's translation decoder: called on a list, given both masks;
    its query_mask and key_mask arguments (run eagerly, the attention reads
    the query's mask from the query, as Keras's does)."""

    def __init__(self, dim, heads, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = layers.MultiHeadAttention(heads, dim)
        self.cross_attention = layers.MultiHeadAttention(heads, dim)
        self.norm = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, mask=None):
        x, encoded = inputs
        x_mask, encoded_mask = (None, None) if mask is None else mask
        causal = ops.cast(_batch_tiled_causal_mask(x), "int32")
        a = self.self_attention(query=x, value=x, key=x, attention_mask=causal,
                                query_mask=x_mask)
        y = self.norm(x + a)
        return y + self.cross_attention(query=y, value=encoded, key=encoded,
                                        query_mask=x_mask, key_mask=encoded_mask)


@pytest.mark.parametrize("mode", MODES)
def test_translation_transformer(mode):
    set_random_seed(22)
    source, target = pynn.Input((STEPS,), dtype="int64"), pynn.Input((STEPS,), dtype="int64")
    encoded = _EncoderBlock(8, 16, 2)(_TokenAndPosition(STEPS, VOCAB, 8, padding_mask=True)(
        source))
    x = _TokenAndPosition(STEPS, VOCAB, 8, padding_mask=True)(target)
    x = _ListDecoder(8, 2)([x, encoded])
    model = pynn.Model([source, target], layers.Dense(VOCAB, activation="softmax")(x))
    check(model, [padded_ids(), padded_ids(seed=1)], mode)
