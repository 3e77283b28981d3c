"""``tf.audio`` for programs ported with ``import pynn as tf``: WAV bytes
(``tf.io.read_file``'s) to float samples and back, as TensorFlow's
decode_wav and encode_wav."""
import io
import wave

import numpy as np

from . import ops
from .backend import _eager_results
from .utils.audio_dataset import read_wav


def _bytes(contents, who):
    v = contents.numpy() if hasattr(contents, "numpy") else contents
    v = v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v
    if not isinstance(v, (bytes, bytearray)):
        raise TypeError(f"tf.audio.{who}: expected the file's bytes (tf.io.read_file), got "
                        f"{type(v).__name__}")
    return bytes(v)


def decode_wav(contents, desired_channels=-1, desired_samples=-1, name=None):
    """(audio, sample_rate) of a PCM WAV file's bytes: float32 samples in
    [-1, 1) of shape (samples, channels) and the rate as an int32 scalar.
    ``desired_channels`` keeps the first channels or repeats the last one;
    ``desired_samples`` cuts the audio or pads it with zeros."""
    audio, rate = read_wav(io.BytesIO(_bytes(contents, "decode_wav")), "tf.audio.decode_wav")
    channels = int(desired_channels)
    if channels > 0:
        take = np.minimum(np.arange(channels), audio.shape[1] - 1)
        audio = audio[:, take]
    samples = int(desired_samples)
    if samples >= 0:
        audio = audio[:samples]
        if audio.shape[0] < samples:
            audio = np.pad(audio, [(0, samples - audio.shape[0]), (0, 0)])
    return np.ascontiguousarray(audio, np.float32), np.int32(rate)


def encode_wav(audio, sample_rate, name=None):
    """The 16-bit PCM WAV file (a 0-d object tensor of its bytes) of
    (samples, channels) float audio in [-1, 1], clipped to it."""
    x = np.asarray(ops._plain(audio), np.float64)
    if x.ndim != 2:
        raise ValueError(f"tf.audio.encode_wav: audio must be (samples, channels), got shape "
                         f"{x.shape}")
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(x.shape[1])
        f.setsampwidth(2)
        f.setframerate(int(np.asarray(ops._plain(sample_rate))))
        f.writeframes(pcm.tobytes())
    return np.asarray(buffer.getvalue(), dtype=object)


decode_wav = _eager_results(decode_wav)
encode_wav = _eager_results(encode_wav)
__all__ = ["decode_wav", "encode_wav"]
