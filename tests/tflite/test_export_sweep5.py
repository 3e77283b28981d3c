"""The layers exported with builtin ops as TensorFlow's converter lowers
them (Conv3DTranspose, dilated transposed convolutions, ConvLSTM,
GroupQueryAttention, Hashing, IntegerLookup, HashedCrossing, the
spectrograms), run in the LiteRT interpreter against predict; and
keras.applications models with random weights, fully integer end to end."""
import numpy as np
import pytest

import pynn
from litehelp import MODES, TOLERANCE, check_export, convert, run_all, sweep_model
from pynn import layers as L
from pynn.utils import set_random_seed

INT8_TOLERANCE = TOLERANCE["int8"]


def uniform(shape, n=8, lo=0.0, hi=1.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, (n,) + shape).astype(np.float32)


def normal(shape, n=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype(np.float32)


def ids(shape, low, high, n=8, seed=0):
    return np.random.default_rng(seed).integers(low, high, (n,) + shape).astype(np.int32)


def seq(shape, make, data, dtype="float32"):
    """A case: Sequential([Input(shape), make()]) and its data."""
    def build():
        set_random_seed(3)
        return pynn.Sequential([pynn.Input(shape, dtype=dtype), make()]), [data()]
    return build


VOLUME = (3, 5, 4, 2)
VOCABULARY = [3, 5, 7, 9, 12]
HASHED = np.concatenate([np.array([0, 1, -1, 9, 10, -99, 100, 12345, -123456, 1234567,
                                   12345678, -12345678, 123456789, 1234567890, -1234567890,
                                   2 ** 31 - 1, -2 ** 31, -2 ** 31 + 1], np.int32),
                         np.random.default_rng(0).integers(-2 ** 31, 2 ** 31, 14, np.int32)
                         ]).reshape(-1, 1)

# Exported in every mode.
EXPORTS = {
    "Conv2DTranspose_dilated": seq((8, 8, 3), lambda: L.Conv2DTranspose(4, 3, dilation_rate=2),
                                   lambda: uniform((8, 8, 3))),
    "Conv2DTranspose_dilated_same_relu": seq((7, 8, 3), lambda: L.Conv2DTranspose(
        4, 3, dilation_rate=(2, 3), padding="same", activation="relu"), lambda: uniform((7, 8, 3))),
    # (an activation kept as its function by the layer, as gelu is)
    "Conv2DTranspose_strided_gelu": seq((5, 5, 2), lambda: L.Conv2DTranspose(
        3, 3, strides=2, activation="gelu"), lambda: normal((5, 5, 2))),
    "Conv1DTranspose_dilated_same": seq((9, 3), lambda: L.Conv1DTranspose(
        4, 3, dilation_rate=2, padding="same"), lambda: normal((9, 3))),
    # codes in and out of the vocabulary, negative ones, the mask token
    "IntegerLookup": seq((3,), lambda: L.IntegerLookup(vocabulary=VOCABULARY),
                         lambda: ids((3,), -3, 14), "int32"),
    "IntegerLookup_int64_codes": seq((3,), lambda: L.IntegerLookup(vocabulary=VOCABULARY),
                                     lambda: ids((3,), -3, 14).astype(np.int64), "int64"),
    "IntegerLookup_mask_three_oov": seq((5,), lambda: L.IntegerLookup(
        vocabulary=VOCABULARY, mask_token=0, num_oov_indices=3), lambda: ids((5,), -4, 14),
        "int32"),
    "IntegerLookup_one_hot": seq((1,), lambda: L.IntegerLookup(
        vocabulary=VOCABULARY, output_mode="one_hot"), lambda: ids((1,), 0, 14), "int32"),
    "IntegerLookup_multi_hot": seq((4,), lambda: L.IntegerLookup(
        vocabulary=VOCABULARY, output_mode="multi_hot"), lambda: ids((4,), 0, 14), "int32"),
    "IntegerLookup_count_two_oov": seq((4,), lambda: L.IntegerLookup(
        vocabulary=VOCABULARY, output_mode="count", num_oov_indices=2),
        lambda: ids((4,), 0, 14), "int32"),
    "IntegerLookup_tf_idf": seq((4,), lambda: L.IntegerLookup(
        vocabulary=VOCABULARY, output_mode="tf_idf", idf_weights=[0.5, 1.0, 1.5, 2.0, 2.5]),
        lambda: ids((4,), 0, 14), "int32"),
    # codes beyond 32 bits, declared int64
    "IntegerLookup_int64_beyond_32_bits": seq((3,), lambda: L.IntegerLookup(
        vocabulary=[2 ** 40 + 3, -(2 ** 35), 7, 2 ** 62]), lambda: np.array(
            [2 ** 40 + 3, 3, -(2 ** 35), 7, 2 ** 62, 2 ** 32 + 7] * 4, np.int64).reshape(8, 3),
        "int64"),
    "IntegerLookup_invert": seq((3,), lambda: L.IntegerLookup(vocabulary=VOCABULARY, invert=True),
                                lambda: ids((3,), 0, 6), "int32"),
    "GroupQueryAttention": sweep_model([(5, 6)], lambda a: L.GroupQueryAttention(4, 4, 2)(a, a),
                                      lambda: [normal((5, 6))]),
    "GroupQueryAttention_key_no_bias": sweep_model(
        [(5, 6), (7, 6), (7, 4)], lambda q, v, k: L.GroupQueryAttention(3, 6, 3, use_bias=False)(
            q, v, k), lambda: [normal((5, 6)), normal((7, 6), seed=1), normal((7, 4), seed=2)]),
    "GroupQueryAttention_causal_window_gate": sweep_model(
        [(5, 6)], lambda a: L.GroupQueryAttention(4, 4, 1, sliding_window=2, use_gate=True)(
            a, a, use_causal_mask=True), lambda: [normal((5, 6))]),
    "GroupQueryAttention_scores": sweep_model(
        [(5, 6)], lambda a: L.GroupQueryAttention(4, 4, 2)(a, a, return_attention_scores=True),
        lambda: [normal((5, 6))]),
    "GroupQueryAttention_mask_input": sweep_model(
        [(5, 6), (5, 5)], lambda a, m: L.GroupQueryAttention(4, 2, 2)(a, a, attention_mask=m),
        lambda: [normal((5, 6)), np.arange(200).reshape(8, 5, 5) % 3 != 1], ["float32", "bool"]),
    "GroupQueryAttention_padded_tokens": sweep_model(
        [(6,)], lambda t: (lambda e: L.GroupQueryAttention(4, 4, 2)(e, e))(
            L.Embedding(20, 6, mask_zero=True)(t)),
        lambda: [np.where(np.arange(6) < np.arange(8)[:, None] % 6 + 1,
                          ids((6,), 1, 20), 0).astype(np.int32)], ["int32"]),
    "ConvLSTM1D": seq((3, 8, 2), lambda: L.ConvLSTM1D(3, 3), lambda: normal((3, 8, 2))),
    "ConvLSTM1D_same_sequences": seq((4, 8, 2), lambda: L.ConvLSTM1D(
        3, 3, padding="same", return_sequences=True), lambda: normal((4, 8, 2))),
    "ConvLSTM2D_same": seq((3, 6, 6, 2), lambda: L.ConvLSTM2D(3, 3, padding="same"),
                           lambda: normal((3, 6, 6, 2))),
    "ConvLSTM2D_strided_backwards_sequences": seq((3, 7, 6, 2), lambda: L.ConvLSTM2D(
        2, 3, strides=2, return_sequences=True, go_backwards=True), lambda: normal((3, 7, 6, 2))),
    "ConvLSTM2D_dilated_hard_sigmoid_no_bias": seq((2, 6, 6, 2), lambda: L.ConvLSTM2D(
        2, 2, dilation_rate=2, recurrent_activation="hard_sigmoid", use_bias=False),
        lambda: normal((2, 6, 6, 2))),
    # (kernels of over 1,024 weights: int8 in dynamic range)
    "ConvLSTM2D_initial_and_returned_states": sweep_model(
        [(3, 6, 6, 8), (6, 6, 16), (6, 6, 16)],
        lambda x, h, c: L.ConvLSTM2D(16, 3, padding="same", return_state=True)(
            x, initial_state=[h, c]),
        lambda: [normal((3, 6, 6, 8)), 0.5 * normal((6, 6, 16), seed=1),
                 normal((6, 6, 16), seed=2)]),
    # (all 64 bits of int64 columns; int32 ones sign-extended)
    "HashedCrossing": sweep_model([(1,), (1,)], lambda a, b: L.HashedCrossing(7)([a, b]),
                                 lambda: [ids((1,), -2 ** 31, 2 ** 31),
                                          ids((1,), -2 ** 31, 2 ** 31, seed=1)],
                                 ["int32", "int32"]),
    "HashedCrossing_three_int64_columns_many_bins": sweep_model(
        [(1,), (1,), (1,)], lambda a, b, c: L.HashedCrossing(1000003)([a, b, c]),
        lambda: [np.random.default_rng(s).integers(-2 ** 62, 2 ** 62, (8, 1)) for s in range(3)],
        ["int64", "int64", "int64"]),
    "HashedCrossing_flat_int32_bins": sweep_model(
        [(), ()], lambda a, b: L.HashedCrossing(16, dtype="int32")([a, b]),
        lambda: [ids((), 0, 1000), ids((), -50, 50, seed=1)], ["int32", "int32"]),
    "HashedCrossing_one_hot": sweep_model(
        [(1,), (1,)], lambda a, b: L.HashedCrossing(5, output_mode="one_hot")([a, b]),
        lambda: [ids((1,), 0, 100), ids((1,), 0, 100, seed=1)], ["int32", "int32"]),
    # (texts of 1 to 11 bytes: every length, signs, the int32 extremes)
    "Hashing": seq((1,), lambda: L.Hashing(7), lambda: HASHED, "int32"),
    "Hashing_many_bins": seq((1,), lambda: L.Hashing(1000003), lambda: HASHED, "int32"),
    "Hashing_mask_value_int32_bins": seq((1,), lambda: L.Hashing(5, mask_value=0,
                                                                 dtype="int32"),
                                         lambda: HASHED, "int32"),
    "Hashing_multi_hot": seq((2,), lambda: L.Hashing(6, output_mode="multi_hot"),
                             lambda: HASHED.reshape(-1, 2), "int32"),
    "Hashing_one_hot": seq((1,), lambda: L.Hashing(6, output_mode="one_hot"),
                           lambda: HASHED, "int32"),
}

# Exported in float32, float16 and dynamic range; refused for full integer
# (the op has no int8 kernel in TFLite), with this in the message.
FLOAT_ONLY = {
    "Conv3DTranspose": (seq((4, 6, 6, 2), lambda: L.Conv3DTranspose(3, 2, strides=2),
                            lambda: uniform((4, 6, 6, 2))), "CONV_3D_TRANSPOSE has no int8"),
    "Conv3DTranspose_same_strided": (seq(VOLUME, lambda: L.Conv3DTranspose(
        3, 3, strides=2, padding="same"), lambda: uniform(VOLUME)), "CONV_3D_TRANSPOSE has no"),
    "Conv3DTranspose_same_relu": (seq(VOLUME, lambda: L.Conv3DTranspose(
        3, 2, padding="same", activation="relu"), lambda: normal(VOLUME)), "CONV_3D_TRANSPOSE"),
    "Conv3DTranspose_output_padding_tanh": (seq(VOLUME, lambda: L.Conv3DTranspose(
        2, 3, strides=(1, 2, 2), padding="same", output_padding=(0, 1, 0), activation="tanh"),
        lambda: normal(VOLUME)), "CONV_3D_TRANSPOSE"),
    "Conv3DTranspose_dilated_no_bias": (seq(VOLUME, lambda: L.Conv3DTranspose(
        2, 2, dilation_rate=2, use_bias=False), lambda: normal(VOLUME)), "CONV_3D_TRANSPOSE"),
    "Conv3DTranspose_gelu": (seq(VOLUME, lambda: L.Conv3DTranspose(2, 2, activation="gelu"),
                                 lambda: normal(VOLUME)), "CONV_3D_TRANSPOSE"),
    "ConvLSTM3D": (seq((2, 4, 4, 4, 1), lambda: L.ConvLSTM3D(2, 2),
                       lambda: normal((2, 4, 4, 4, 1))), "CONV_3D has no int8"),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_exports_in_every_mode(name):
    for mode in MODES:
        check_export(EXPORTS[name], mode)


@pytest.mark.parametrize("name", sorted(FLOAT_ONLY))
def test_exports_in_float_and_refuses_full_integer_by_name(name):
    build, message = FLOAT_ONLY[name]
    for mode in MODES[:3]:
        check_export(build, mode)
    model, xs = build()
    with pytest.raises(pynn.lite.ConversionError, match=message) as e:
        convert(model, "int8", xs)
    assert repr(model.layers[-1].name) in str(e.value)


def test_dilated_transposed_convolution_is_one_transpose_conv():
    """The holes of the dilated kernel are zeros in TRANSPOSE_CONV's filter,
    as TensorFlow's converter writes it: no second op."""
    assert check_export(EXPORTS["Conv2DTranspose_dilated"], None).count("TRANSPOSE_CONV") == 1


@pytest.mark.parametrize("name", ["MobileNetV2", "EfficientNetB0", "ResNet50"])
def test_applications_full_integer_end_to_end(name):
    """The whole network, not only its first blocks: within the int8
    tolerance of predict on the default kernels and on the builtin ones
    alone, the same class wherever predict's top two classes are further
    apart than that tolerance, and on three inputs in four overall
    (untrained, the top two are often within a percent of the span).
    (Untrained, MobileNetV2's signal shrinks to about 1e-10 at its output:
    each tensor keeps its own small scale, and a fused RELU6 whose cap no
    int32 holds at that scale loses the cap it never reaches.)"""
    set_random_seed(0)
    model = getattr(pynn.applications, name)(input_shape=(32, 32, 3), weights=None,
                                             classes=10, classifier_activation=None)
    x = uniform((32, 32, 3), hi=255.0)
    want = model.predict(x, verbose=0)
    span = float(want.max() - want.min())
    model_bytes = convert(model, "int8", [x])
    top2 = np.sort(want, axis=-1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > INT8_TOLERANCE * span
    assert clear.sum() >= 2
    for reference in (False, True):
        got = run_all(model_bytes, [x], reference=reference)[0]
        np.testing.assert_allclose(got, want, rtol=0, atol=INT8_TOLERANCE * span)
        np.testing.assert_array_equal(got.argmax(-1)[clear], want.argmax(-1)[clear])
        assert np.mean(got.argmax(-1) == want.argmax(-1)) >= 0.75


def test_integer_lookup_one_hot_of_one_code_per_row_is_one_vector_per_row():
    """A (batch, 1) input gives (batch, depth) as Keras's layer and its own
    output shape say, not (batch, 1, depth)."""
    layer = L.IntegerLookup(vocabulary=VOCABULARY, output_mode="one_hot")
    y = np.asarray(layer(np.array([[3], [12], [4]])))
    np.testing.assert_array_equal(y, np.eye(6, dtype=np.float32)[[1, 5, 0]])
    assert layer.compute_output_shape((None, 1)) == (None, 6)


def test_integer_lookup_without_oov_indices_is_refused_by_name():
    model, xs = seq((3,), lambda: L.IntegerLookup(vocabulary=VOCABULARY, num_oov_indices=0),
                    lambda: ids((3,), 3, 4), "int32")()
    with pytest.raises(pynn.lite.ConversionError, match="num_oov_indices=0") as e:
        convert(model)
    assert repr(model.layers[-1].name) in str(e.value)


def test_group_query_attention_is_multi_head_attention_ops():
    """The ops TensorFlow's converter writes for attention: no op of its
    own for the shared key and value heads."""
    names = check_export(EXPORTS["GroupQueryAttention"], None)
    assert names.count("BATCH_MATMUL") == 2 and names.count("FULLY_CONNECTED") == 4
    assert "SOFTMAX" in names


def test_conv_lstm_is_unrolled_into_convolutions():
    """One input convolution for all the steps, one recurrent one per step
    after the first (from zero states), no op of its own."""
    names = check_export(EXPORTS["ConvLSTM2D_same"], None)
    assert names.count("CONV_2D") == 1 + 2 and names.count("SPLIT") == 3


FRAMES = dict(frame_length=32, frame_step=16, fft_length=32)
MEL = dict(fft_length=64, sequence_stride=32, num_mel_bins=8, sampling_rate=8000)
# Spectrograms: the layer, its input shape, the modes it exports in (the
# others refused with the message given), and what is compared: the values,
# or for log spectra the magnitudes (float16 weights move the log of a
# near-zero bin far), for angles the unit phasors (-pi and pi are one angle).
AUDIO = {
    "STFTSpectrogram": (lambda: L.STFTSpectrogram(**FRAMES), (256, 1), MODES[:3],
                        "mode='log' has no full-integer form", np.exp),
    "STFTSpectrogram_log_two_channels": (lambda: L.STFTSpectrogram(**FRAMES), (256, 2),
                                         MODES[:3], "mode='log'", np.exp),
    "STFTSpectrogram_magnitude_same": (lambda: L.STFTSpectrogram(
        mode="magnitude", padding="same", **FRAMES), (250, 2), MODES[:3], "SQRT has no int8",
        None),
    "STFTSpectrogram_psd_expand_dims": (lambda: L.STFTSpectrogram(
        mode="psd", expand_dims=True, **FRAMES), (256, 2), MODES, None, None),
    "STFTSpectrogram_real_hamming": (lambda: L.STFTSpectrogram(
        mode="real", frame_length=24, frame_step=8, fft_length=32, window="hamming"), (256, 1),
        MODES, None, None),
    "STFTSpectrogram_imag_channels_first": (lambda: L.STFTSpectrogram(
        mode="imag", data_format="channels_first", **FRAMES), (2, 256), MODES, None, None),
    "STFTSpectrogram_angle": (lambda: L.STFTSpectrogram(mode="angle", **FRAMES), (256, 1),
                              MODES[:3], "ATAN2 has no int8", lambda a: np.exp(1j * a)),
    "STFTSpectrogram_stft_channels_first_expand_dims": (lambda: L.STFTSpectrogram(
        mode="stft", data_format="channels_first", expand_dims=True, **FRAMES), (2, 200), MODES,
        None, None),
    "MelSpectrogram": (lambda: L.MelSpectrogram(**MEL), (256,), MODES[:3], "power_to_db=True",
                       None),
    "MelSpectrogram_window_ref_power_top_db": (lambda: L.MelSpectrogram(
        fft_length=64, sequence_stride=24, sequence_length=48, num_mel_bins=10,
        sampling_rate=16000, ref_power=2.0, top_db=40.0, window="hamming"), (300,), MODES[:3],
        "power_to_db=True", None),
    "MelSpectrogram_power": (lambda: L.MelSpectrogram(power_to_db=False, **MEL), (256,), MODES,
                             None, None),
    "MelSpectrogram_magnitude_cubed": (lambda: L.MelSpectrogram(mag_exp=3.0, **MEL), (256,),
                                       MODES[:3], "SQRT and POW have no int8", None),
}
# of the compared values' span: float32 and dynamic range (the DFT's kernels
# stay float), float16 weights, int8
AUDIO_TOLERANCE = {None: 1e-5, "dynamic": 1e-5, "float16": 5e-3, "int8": TOLERANCE["int8"]}


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_spectrograms(name):
    make, shape, modes, refusal, compared = AUDIO[name]
    model, xs = seq(shape, make, lambda: normal(shape))()
    want = model.predict(xs[0], verbose=0)
    for mode in modes:
        got = run_all(convert(model, mode, xs), xs)[0]
        assert got.shape == want.shape
        g, w = (got, want) if compared is None or mode in (None, "dynamic") else \
            (compared(got), compared(want))
        span = float(np.ptp(w.real if np.iscomplexobj(w) else w))
        np.testing.assert_allclose(g, w, rtol=0, atol=AUDIO_TOLERANCE[mode] * span + 1e-5)
    if refusal is not None:
        with pytest.raises(pynn.lite.ConversionError, match=refusal) as e:
            convert(model, "int8", xs)
        assert repr(model.layers[-1].name) in str(e.value)


@pytest.mark.parametrize("layer, dtype, message", [
    (lambda: L.Hashing(5, salt=3), "int32", "salt"),
    (lambda: L.Hashing(5), "int64", "int32 values"),
])
def test_hashing_refuses_what_it_does_not_write_by_name(layer, dtype, message):
    model = pynn.Sequential([pynn.Input((1,), dtype=dtype), layer()])
    with pytest.raises(pynn.lite.ConversionError, match=message) as e:
        convert(model)
    assert repr(model.layers[-1].name) in str(e.value)
