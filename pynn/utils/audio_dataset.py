"""audio_dataset_from_directory: a Dataset of (audio, labels) batches read
from class folders of ``.wav`` files, with Keras 3's arguments.

Files are listed, labelled, shuffled and split exactly as
image_dataset_from_directory does (Keras shares that code).  A file is
read with the standard library's ``wave`` module and decoded as
``tf.audio.decode_wav`` decodes it: float32 samples in [-1, 1) of shape
(samples, channels), cut or zero-padded to ``output_sequence_length``.
"""
import wave

import numpy as np

from . import seeding
from .arguments import check_int
from .dataset import Dataset, _background
from .image_dataset import _check_arguments, _labels_batch, check_labels, index_directory, \
    pass_orders, training_or_validation_split

_WHO = "audio_dataset_from_directory"
ALLOWED_FORMATS = (".wav",)


def read_wav(path, who=_WHO):
    """(samples as float32 of shape (frames, channels), frame rate) of a PCM
    WAV file (a path, or a binary file object): 8-bit unsigned, 16-, 24- or
    32-bit signed integers, scaled to [-1, 1) as TensorFlow's decode_wav
    scales them.  ``who`` names the caller in errors."""
    try:
        with wave.open(path if hasattr(path, "read") else str(path), "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            data = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{who}: {path} is not a PCM WAV file that can be read ({e})") \
            from None
    raw = np.frombuffer(data, np.uint8)
    if width == 1:
        values = (raw.astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        values = np.frombuffer(data, f"<i{width}").astype(np.float64) / 2.0 ** (8 * width - 1)
    elif width == 3:
        # little-endian 24-bit two's complement
        b = raw.reshape(-1, 3).astype(np.int64)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        values = np.where(v >= 1 << 23, v - (1 << 24), v) / 2.0 ** 23
    else:
        raise ValueError(f"{who}: {path} has {8 * width}-bit samples; expected 8, 16, 24 or "
                         f"32-bit PCM")
    return values.astype(np.float32).reshape(-1, channels), rate


def resample(audio, rate_in, rate_out):
    """``audio`` (frames, channels) at ``rate_out`` samples per second: the
    band-limited (Fourier) interpolation of the signal."""
    n = audio.shape[0]
    m = int(round(n * rate_out / rate_in))
    if m == n or n == 0:
        return audio
    spectrum = np.fft.rfft(audio.astype(np.float64), axis=0)
    out = np.zeros((m // 2 + 1, audio.shape[1]), np.complex128)
    keep = min(spectrum.shape[0], out.shape[0])
    out[:keep] = spectrum[:keep]
    if m < n and m % 2 == 0:  # the new Nyquist bin holds the real part of both halves
        out[-1] = out[-1].real
    return (np.fft.irfft(out, n=m, axis=0) * (m / n)).astype(np.float32)


def _decode(path, sampling_rate, length):
    audio, rate = read_wav(path)
    if sampling_rate is not None:
        audio = resample(audio, rate, sampling_rate)
    if length is not None:
        audio = audio[:length]
        if audio.shape[0] < length:
            audio = np.pad(audio, [(0, length - audio.shape[0]), (0, 0)])
    return audio


def _pad_batch(clips):
    """Clips of different lengths zero-padded to the longest (Keras's
    padded_batch)."""
    longest = max(c.shape[0] for c in clips)
    channels = {c.shape[1] for c in clips}
    if len(channels) > 1:
        raise ValueError(f"{_WHO}: the files of one batch have different numbers of channels "
                         f"{sorted(channels)}")
    out = np.zeros((len(clips), longest, channels.pop()), np.float32)
    for i, c in enumerate(clips):
        out[i, :c.shape[0]] = c
    return out


def _audio_to_dataset(paths, labels, label_mode, num_classes, sampling_rate, length, ragged,
                      batch_size, shuffle, seed):
    n = len(paths)
    labels = None if label_mode is None else np.asarray(labels)
    check_labels(_WHO, labels, label_mode, num_classes)
    pass_order = pass_orders(n, shuffle, seed)
    step = batch_size or 1

    def batches():
        order = pass_order()
        for start in range(0, n, step):
            chosen = order[start:start + step]
            clips = [_decode(paths[i], sampling_rate, length) for i in chosen]
            y = None if labels is None else _labels_batch(labels[chosen], label_mode,
                                                          num_classes)
            if batch_size is None:
                audio, y = clips[0], None if y is None else y[0]
            elif ragged:  # one (samples, channels) array per file
                audio = clips
            else:
                audio = _pad_batch(clips)
            yield audio if y is None else (audio, y)

    # (batched: element_spec gives the batch size as None, as TensorFlow's)
    return Dataset(lambda: _background(batches, 2), -(-n // step),
                   batched=batch_size is not None and not ragged)


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False, verbose=True):
    """A Dataset of audio batches from a folder of class folders (Keras 3's
    ``audio_dataset_from_directory``): each ``.wav`` file is one sample,
    its label the index of its folder among the sorted ``class_names``.

    Yields ``(audio, labels)``: audio float32 of shape (batch, samples,
    channels), each file cut or zero-padded to ``output_sequence_length``
    (None: padded to the longest file of its batch; ``ragged=True``: a list
    of one array per file); labels as ``label_mode`` says ('int',
    'categorical', 'binary', or None for audio only).  ``sampling_rate``
    resamples every file to that rate.  The dataset has ``class_names``
    and ``file_paths``; with ``subset='both'`` the call returns
    [training, validation].
    """
    _check_arguments(labels, label_mode, class_names, validation_split, subset, shuffle, seed,
                     None, False, False, batch_size, _WHO)
    if ragged and output_sequence_length is not None:
        raise ValueError("Cannot set both `ragged` and `output_sequence_length`")
    check_int(output_sequence_length, "output_sequence_length", _WHO, minimum=1,
              allow_none=True)
    if sampling_rate is not None:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int):
            raise ValueError("`sampling_rate` should have an integer value. "
                             f"Received: sampling_rate={sampling_rate}")
        if sampling_rate <= 0:
            raise ValueError("`sampling_rate` should be higher than 0. "
                             f"Received: sampling_rate={sampling_rate}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if seed is None:
        seed = int(seeding.rng().integers(1_000_000))
    paths, labels, class_names = index_directory(
        directory, labels, ALLOWED_FORMATS, class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose, who=_WHO)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    num_classes = len(class_names) if class_names else 0

    def build(subset_name, shuffle_passes):
        subset_paths, subset_labels = training_or_validation_split(paths, labels,
                                                                   validation_split,
                                                                   subset_name)
        if not subset_paths:
            which = f"{subset_name} " if subset_name else ""
            raise ValueError(f"No {which}audio files found in directory {directory}. "
                             f"Allowed format(s): {ALLOWED_FORMATS}")
        ds = _audio_to_dataset(subset_paths, subset_labels, label_mode, num_classes,
                               sampling_rate, output_sequence_length, ragged, batch_size,
                               shuffle_passes, seed)
        ds.class_names = class_names
        ds.file_paths = subset_paths
        return ds

    if subset == "both":
        return [build("training", shuffle), build("validation", False)]
    return build(subset, shuffle)
