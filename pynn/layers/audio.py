"""Audio layers of Keras 3: MelSpectrogram (raw signals to mel-scaled
power spectrograms, a preprocessing step) and STFTSpectrogram (a short-time
Fourier transform computed as a convolution with trainable kernels)."""
import math
import warnings

import numpy as np

from .. import initializers, ops
from .base import Layer, shape_str

# The HTK mel scale: mel(f) = 1127 * ln(1 + f / 700).
_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _hertz_to_mel(hertz):
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sampling_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0,
                                dtype="float32"):
    """The (num_spectrogram_bins, num_mel_bins) matrix of triangular mel
    filters (peaks of 1) over linear bins from 0 to sampling_rate / 2; the
    zero-frequency bin gets no weight (TensorFlow's and Keras's matrix)."""
    dtype = np.dtype(dtype)
    nyquist = dtype.type(sampling_rate) / dtype.type(2.0)
    linear = np.linspace(dtype.type(0), nyquist, int(num_spectrogram_bins), dtype=dtype)[1:]
    bins_mel = _hertz_to_mel(linear).astype(dtype)[:, None]
    edges = np.linspace(_hertz_to_mel(dtype.type(lower_edge_hertz)),
                        _hertz_to_mel(dtype.type(upper_edge_hertz)), int(num_mel_bins) + 2,
                        dtype=dtype)
    lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    lower_slopes = (bins_mel - lower) / (center - lower)
    upper_slopes = (upper - bins_mel) / (upper - center)
    weights = np.maximum(dtype.type(0), np.minimum(lower_slopes, upper_slopes))
    return np.pad(weights, [[1, 0], [0, 0]]).astype(dtype)


class MelSpectrogram(Layer):
    """Raw audio (samples,) or (batch, samples) to its mel spectrogram,
    (num_mel_bins, frames) or (batch, num_mel_bins, frames): the magnitude
    of a centered short-time Fourier transform raised to ``mag_exp``, mapped
    onto ``num_mel_bins`` mel bands between ``min_freq`` and ``max_freq``,
    in decibels relative to ``ref_power`` (floored ``top_db`` below the
    largest value of the batch) when ``power_to_db``."""

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10,
                 ref_power=1.0, **kwargs):
        super().__init__(**kwargs)
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ValueError(f"{_label(self)}: fft_length must be greater than or equal to "
                             f"sequence_length; got sequence_length={self.sequence_length}, "
                             f"fft_length={self.fft_length}")
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power

    def _as_input(self, a):
        # a single unbatched signal is a valid input, as in Keras
        arr = np.asarray(a)
        if arr.ndim not in (1, 2):
            raise ValueError(f"{_label(self)}: expected audio of shape (samples,) or (batch, "
                             f"samples), got shape {arr.shape}")
        return np.ascontiguousarray(arr, np.float32)

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(f"{_label(self)}: expected audio of shape (samples,) or (batch, "
                             f"samples), got shape {shape_str(input_shape)}")
        samples = input_shape[-1]
        frames = None if samples is None else 1 + samples // self.sequence_stride
        return tuple(input_shape[:-1]) + (self.num_mel_bins, frames)

    def linear_to_mel_weight_matrix(self, num_mel_bins=20, num_spectrogram_bins=129,
                                    sampling_rate=8000, lower_edge_hertz=125.0,
                                    upper_edge_hertz=3800.0, dtype="float32"):
        return linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate,
                                           lower_edge_hertz, upper_edge_hertz, dtype)

    def call(self, inputs):
        real, imag = ops.stft(ops.cast(inputs, "float32"), self.sequence_length,
                              self.sequence_stride, self.fft_length, window=self.window,
                              center=True)
        spec = ops.power(ops.sqrt(ops.add(ops.square(real), ops.square(imag))), self.mag_exp)
        matrix = linear_to_mel_weight_matrix(self.num_mel_bins, ops.shape(spec)[-1],
                                             self.sampling_rate, self.min_freq, self.max_freq)
        out = ops.tensordot(spec, matrix, axes=1)
        if self.power_to_db:
            out = ops.multiply(10.0, ops.log10(ops.maximum(out, self.min_power)))
            out = ops.subtract(out, 10.0 * math.log10(max(abs(self.ref_power),
                                                          self.min_power)))
            out = ops.maximum(out, ops.subtract(ops.max(out), self.top_db))
        return ops.swapaxes(out, -1, -2)

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length,
                "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db,
                "mag_exp": self.mag_exp, "min_power": self.min_power,
                "ref_power": self.ref_power}


_EPSILON = 1e-7  # Keras's backend.epsilon()
_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


class STFTSpectrogram(Layer):
    """(batch, time, channels) signals to spectrograms by a strided 1-D
    convolution with the real and imaginary STFT kernels (trainable weights
    initialized by ``initializers.STFT``). ``mode`` picks the output: the
    log or linear magnitude, the power spectral density, the real or
    imaginary part, the phase angle, or real and imaginary parts
    concatenated. Channels are stacked along the frequencies, or kept as
    an axis of their own with ``expand_dims``."""

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        who = f"STFTSpectrogram {kwargs.get('name')!r}"
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError(f"{who}: frame_step should be a positive integer not greater "
                             f"than frame_length; got frame_step={frame_step}, "
                             f"frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(f"{who}: fft_length should be not less than frame_length; got "
                             f"fft_length={fft_length}, frame_length={frame_length}")
        if fft_length is not None and (fft_length & -fft_length) != fft_length:
            warnings.warn(f"fft_length is recommended to be a power of two; got "
                          f"fft_length={fft_length}")
        if mode not in _MODES:
            raise ValueError(f"{who}: mode must be one of {', '.join(_MODES)}; got "
                             f"mode={mode!r}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"{who}: scaling must be None, 'density' or 'spectrum'; got "
                             f"scaling={scaling!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same'; got "
                             f"padding={padding!r}")
        if data_format is None:
            data_format = "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{who}: data_format must be 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
        # (checks a window name at once, as Keras does through scipy)
        initializers.STFT("real", window, scaling, periodic)
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = frame_step
        self._frame_step = frame_step or frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = window
        self.periodic = periodic
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = expand_dims
        self.data_format = data_format

    def _check_rank(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{_label(self)}: expected an input of rank 3 (batch, time, "
                             f"channels), got shape {shape_str(input_shape)}")

    def build(self, input_shape):
        self._check_rank(input_shape)
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                "real_kernel", shape,
                initializers.STFT("real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                "imag_kernel", shape,
                initializers.STFT("imag", self.window, self.scaling, self.periodic))
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        last = self.data_format == "channels_last"
        channels, time = (input_shape[2], input_shape[1]) if last else \
            (input_shape[1], input_shape[2])
        freq = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        if time is None:
            steps = None
        elif self.padding == "same":
            steps = -(-time // self._frame_step)
        else:
            steps = (time - self.frame_length) // self._frame_step + 1
        if self.expand_dims:
            return (input_shape[0], steps, freq, channels) if last else \
                (input_shape[0], channels, steps, freq)
        stacked = None if channels is None else freq * channels
        return (input_shape[0], steps, stacked) if last else (input_shape[0], stacked, steps)

    def _apply_conv(self, inputs, kernel):
        """Each channel convolved on its own: (batch, channels, freq, time)."""
        last = self.data_format == "channels_last"
        if last:
            time, channels = inputs.shape[1], inputs.shape[2]
            x = ops.reshape(ops.transpose(inputs, (0, 2, 1)), (-1, time, 1))
        else:
            channels, time = inputs.shape[1], inputs.shape[2]
            x = ops.reshape(inputs, (-1, time, 1))
        y = ops.conv(x, kernel, strides=self._frame_step, padding=self.padding)
        steps, freq = y.shape[1], y.shape[2]
        return ops.reshape(ops.transpose(y, (0, 2, 1)), (-1, channels, freq, steps))

    def _adjust_shapes(self, y):
        _, channels, freq, steps = y.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return ops.transpose(y, (0, 3, 2, 1))
            return ops.transpose(ops.reshape(y, (-1, channels * freq, steps)), (0, 2, 1))
        if self.expand_dims:
            return ops.transpose(y, (0, 1, 3, 2))
        return ops.reshape(y, (-1, channels * freq, steps))

    def call(self, inputs):
        real = imag = None
        if self.mode != "imag":
            real = self._apply_conv(inputs, self.real_kernel)
        if self.mode != "real":
            imag = self._apply_conv(inputs, self.imag_kernel)
        if self.mode == "real":
            return self._adjust_shapes(real)
        if self.mode == "imag":
            return self._adjust_shapes(imag)
        if self.mode == "angle":
            return self._adjust_shapes(ops.arctan2(imag, real))
        if self.mode == "stft":
            return self._adjust_shapes(ops.concatenate([real, imag], axis=2))
        power = ops.add(ops.square(real), ops.square(imag))
        if self.mode == "psd":
            # the one-sided density: every bin but the first and last counted twice
            inner = ops.pad(power[:, :, 1:-1, :], [[0, 0], [0, 0], [1, 1], [0, 0]])
            return self._adjust_shapes(ops.add(power, inner))
        linear = self._adjust_shapes(ops.sqrt(ops.maximum(power, _EPSILON)))
        if self.mode == "magnitude":
            return linear
        return ops.log(ops.maximum(linear, _EPSILON))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode,
                "frame_length": self.frame_length, "frame_step": self.frame_step,
                "fft_length": self.fft_length, "window": self.window,
                "periodic": self.periodic, "scaling": self.scaling,
                "padding": self.padding, "data_format": self.data_format,
                "expand_dims": self.expand_dims}
