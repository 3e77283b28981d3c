"""Keras 3 names pynn lacked: the audio layers (MelSpectrogram,
STFTSpectrogram) and audio_dataset_from_directory; values, configs and
files against Keras 3 on its NumPy backend, properties where Keras needs
TensorFlow."""
import os
import wave

import numpy as np
import pytest

import pynn
from keras_reference import keras as keras_ref, needs_keras

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")
RNG = np.random.default_rng(11)


# ------------------------------------------------------------ audio layers

MEL_CASES = [
    dict(num_mel_bins=64, sampling_rate=8000, sequence_stride=256, fft_length=512),
    dict(num_mel_bins=20, sampling_rate=8000, sequence_stride=100, fft_length=256,
         sequence_length=200, window="hamming", power_to_db=False, mag_exp=1.0),
    dict(fft_length=256, sequence_stride=128, window=None, ref_power=3.0, top_db=20.0,
         min_freq=100.0, max_freq=3000.0),
]


@needs_keras
@pytest.mark.parametrize("kwargs", MEL_CASES)
def test_mel_spectrogram_matches_keras(kwargs):
    x = RNG.normal(size=(2, 3000)).astype("float32")
    ours = pynn.layers.MelSpectrogram(name="mel", **kwargs)
    theirs = keras_ref.layers.MelSpectrogram(name="mel", **kwargs)
    for signal in (x, x[0]):   # batched and a single signal
        want = np.asarray(theirs(signal))
        got = np.asarray(ours(signal))
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert ours.get_config() == theirs.get_config()
    assert tuple(ours.compute_output_shape((2, 3000))) == \
        tuple(theirs.compute_output_shape((2, 3000)))[:2] + (got.shape[-1],)
    np.testing.assert_allclose(
        ours.linear_to_mel_weight_matrix(16, 129, 8000, 125.0, 3800.0),
        np.asarray(theirs.linear_to_mel_weight_matrix(16, 129, 8000, 125.0, 3800.0)),
        atol=1e-6)


STFT_CASES = [dict(mode=m, frame_length=64, frame_step=16)
              for m in ("log", "magnitude", "psd", "real", "imag", "angle", "stft")] + [
    dict(frame_length=50, fft_length=64, padding="same", expand_dims=True, periodic=True,
         scaling="spectrum"),
    dict(frame_length=32, data_format="channels_first"),
    dict(frame_length=32, data_format="channels_first", expand_dims=True, window=None,
         mode="stft")]


@needs_keras
@pytest.mark.parametrize("kwargs", STFT_CASES)
def test_stft_spectrogram_matches_keras(kwargs):
    x = RNG.normal(size=(2, 300, 3)).astype("float32")
    if kwargs.get("data_format") == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    ours = pynn.layers.STFTSpectrogram(name="spec", **kwargs)
    theirs = keras_ref.layers.STFTSpectrogram(name="spec", **kwargs)
    got, want = np.asarray(ours(x)), np.asarray(theirs(x))
    assert got.shape == want.shape == tuple(ours.compute_output_shape(x.shape))
    if kwargs.get("mode") == "angle":
        # (the first and last bins' imaginary part is a signed zero: compare angles on the circle)
        got, want = np.exp(1j * got.astype(np.float64)), np.exp(1j * want.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert ours.get_config() == theirs.get_config()
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]


def test_audio_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="fft_length must be greater than or equal to"):
        pynn.layers.MelSpectrogram(fft_length=128, sequence_length=256)
    with pytest.raises(ValueError, match="mode must be one of"):
        pynn.layers.STFTSpectrogram(mode="power")
    with pytest.raises(ValueError, match="frame_step should be a positive integer"):
        pynn.layers.STFTSpectrogram(frame_length=16, frame_step=32)
    with pytest.raises(ValueError, match=r"STFTSpectrogram 'spec'.*rank 3.*\(None, 100\)"):
        pynn.Sequential([pynn.Input((100,)), pynn.layers.STFTSpectrogram(name="spec")])
    with pytest.raises(ValueError, match=r"MelSpectrogram 'mel'.*\(samples,\) or \(batch"):
        pynn.layers.MelSpectrogram(name="mel")(np.zeros((2, 3, 400), "float32"))


def test_stft_gradient_through_the_signal():
    """ops.stft is linear in the signal: the tape's gradient of a weighted
    sum of both parts equals central differences."""
    x = RNG.normal(size=(2, 40)).astype("float64")
    wr, wi = RNG.normal(size=(2, 6, 9)), RNG.normal(size=(2, 6, 9))

    def f(v):
        re, im = pynn.ops.stft(v, 12, 8, 16)
        return pynn.ops.add(pynn.ops.sum(pynn.ops.multiply(re, wr)),
                            pynn.ops.sum(pynn.ops.multiply(im, wi)))
    xt = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        loss = f(xt)
    grad = np.asarray(tape.gradient(loss, xt))
    h, want = 0.5, np.zeros_like(x)   # (linear: any step is exact but for rounding)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        want[idx] = (float(f(x + e)) - float(f(x - e))) / (2 * h)
    np.testing.assert_allclose(grad, want, rtol=2e-3, atol=2e-3)


@needs_keras
def test_audio_models_train_and_save_both_ways(tmp_path):
    pynn.utils.set_random_seed(0)
    x = RNG.normal(size=(16, 300, 2)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32")
    model = pynn.Sequential([pynn.Input((300, 2)),
                             pynn.layers.STFTSpectrogram(frame_length=32, frame_step=16),
                             pynn.layers.GlobalAveragePooling1D(), pynn.layers.Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    kernel = model.layers[0].get_weights()[0].copy()
    losses = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    assert not np.allclose(model.layers[0].get_weights()[0], kernel)  # the kernels train
    model.save(tmp_path / "stft.keras")
    theirs = keras_ref.models.load_model(tmp_path / "stft.keras")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)),
                               model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)

    audio = RNG.normal(size=(8, 2000)).astype("float32")
    kmodel = keras_ref.Sequential([
        keras_ref.Input((2000,)),
        keras_ref.layers.MelSpectrogram(num_mel_bins=16, sampling_rate=8000,
                                        sequence_stride=256, fft_length=256),
        keras_ref.layers.Flatten(), keras_ref.layers.Dense(2)])
    kmodel.save(tmp_path / "mel.keras")
    ours = pynn.models.load_model(tmp_path / "mel.keras")
    np.testing.assert_allclose(ours.predict(audio, verbose=0),
                               np.asarray(kmodel.predict(audio, verbose=0)), rtol=1e-4,
                               atol=1e-3)
    # a model reading the spectrogram of its input trains (no gradient is needed
    # through the signal, but the traced input must pass)
    ours.compile(loss="mse", optimizer="sgd")
    ours.fit(audio, RNG.normal(size=(8, 2)), epochs=1, verbose=0)


# ------------------------------------------------ audio_dataset_from_directory

def _write_wav(path, samples, rate=8000, width=2):
    """samples: floats in [-1, 1) of shape (frames, channels)."""
    if width == 1:
        data = np.round(samples * 128 + 128).clip(0, 255).astype("u1")
    else:
        data = np.round(samples * 2 ** (8 * width - 1)).astype(f"<i{width}" if width != 3
                                                                else "<i4")
        if width == 3:
            data = data.view("u1").reshape(-1, 4)[:, :3]
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(np.ascontiguousarray(data).tobytes())


@pytest.fixture
def audio_dir(tmp_path):
    clips = {}
    for c, name in enumerate(["down", "up"]):
        os.makedirs(tmp_path / name)
        for i in range(3):
            frames = 100 + 50 * i + 7 * c
            samples = (RNG.integers(-32768, 32767, size=(frames, 1)) / 32768).astype("float32")
            _write_wav(tmp_path / name / f"{i}.wav", samples)
            clips[os.path.join(str(tmp_path), name, f"{i}.wav")] = (samples, c)
    (tmp_path / "up" / "notes.txt").write_text("not audio")
    return tmp_path, clips


def test_audio_dataset_labels_order_and_padding(audio_dir):
    root, clips = audio_dir
    ds = pynn.utils.audio_dataset_from_directory(root, batch_size=4, shuffle=False,
                                                 verbose=False)
    assert ds.class_names == ["down", "up"]
    assert ds.file_paths == sorted(clips)   # sorted folders, then files
    batches = [(np.asarray(a), np.asarray(y)) for a, y in ds]
    assert [a.shape for a, _ in batches] == [(4, 200, 1), (2, 207, 1)]  # padded per batch
    assert batches[0][1].dtype == np.int32
    for i, path in enumerate(ds.file_paths):
        a, y = batches[i // 4]
        samples, label = clips[path]
        np.testing.assert_array_equal(a[i % 4, :len(samples)], samples)
        assert not a[i % 4, len(samples):].any() and y[i % 4] == label


def test_audio_dataset_modes_lengths_and_splits(audio_dir):
    root, clips = audio_dir
    ds = pynn.utils.audio_dataset_from_directory(root, batch_size=None, shuffle=True, seed=5,
                                                 label_mode="categorical",
                                                 output_sequence_length=120, verbose=False)
    want = {}
    for samples, label in clips.values():   # each file cut or zero-padded to 120
        clip = np.zeros((120, 1), "float32")
        clip[:min(120, len(samples))] = samples[:120]
        want[clip.tobytes()] = label
    got = {}
    for a, y in ds:
        a, y = np.asarray(a), np.asarray(y)
        assert a.shape == (120, 1) and y.shape == (2,)
        got[a.tobytes()] = int(np.argmax(y))
    assert got == want
    train, val = pynn.utils.audio_dataset_from_directory(
        root, batch_size=2, validation_split=0.34, subset="both", seed=3, ragged=True,
        label_mode="binary", verbose=False)
    assert len(train.file_paths) == 4 and len(val.file_paths) == 2
    assert not set(train.file_paths) & set(val.file_paths)
    audio, labels = next(iter(val))
    assert [np.asarray(a).shape[0] for a in audio] == [len(clips[p][0]) for p in val.file_paths]
    assert np.asarray(labels).shape == (2, 1)
    only = pynn.utils.audio_dataset_from_directory(root, labels=None, batch_size=6,
                                                   output_sequence_length=50, verbose=False)
    assert np.asarray(next(iter(only))).shape == (6, 50, 1)
    with pytest.raises(ValueError, match="Cannot set both `ragged` and"):
        pynn.utils.audio_dataset_from_directory(root, ragged=True, output_sequence_length=9)
    with pytest.raises(ValueError, match="`sampling_rate` should have an integer value"):
        pynn.utils.audio_dataset_from_directory(root, sampling_rate=8000.0)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_wav_sample_widths_and_resampling(tmp_path, width):
    t = np.arange(800) / 8000
    tone = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), -0.25 * np.cos(2 * np.pi * 300 * t)],
                    axis=1)
    _write_wav(tmp_path / "a.wav", tone, width=width)
    got, rate = pynn.utils.audio_dataset.read_wav(tmp_path / "a.wav")
    assert rate == 8000 and got.shape == (800, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, tone, atol=1.0 / 2 ** (8 * width - 2))
    # resampled to twice the rate: the same tones at the new sample times
    up = pynn.utils.audio_dataset.resample(got, 8000, 16000)
    t2 = np.arange(1600) / 16000
    want = np.stack([0.5 * np.sin(2 * np.pi * 440 * t2), -0.25 * np.cos(2 * np.pi * 300 * t2)],
                    axis=1)
    np.testing.assert_allclose(up[100:-100], want[100:-100], atol=0.02)
