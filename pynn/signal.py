"""``tf.signal`` for programs ported with ``import pynn as tf``: framing,
windows, the short-time Fourier transform, FFTs and the mel filterbank,
as TensorFlow defines them (an audio model's input pipeline: a
spectrogram as ``tf.abs(tf.signal.stft(...))``).

These run on the values given (NumPy's FFT), for preparing a model's
inputs: a GradientTape records nothing through them.  Spectra are complex
arrays (complex64 from float32), which ``tf.abs`` and ``tf.math.real`` /
``imag`` turn into real ones."""
import builtins

import numpy as np

from . import ops
from .backend import _eager_results
from .dtypes import as_dtype


def _value(x):
    return np.asarray(ops._plain(x))


def _real(x, who):
    v = _value(x)
    if v.dtype.kind not in "fiub":
        raise TypeError(f"tf.signal.{who}: expected real signals, got dtype {v.dtype}")
    return v if v.dtype.kind == "f" else v.astype(np.float32)


def _count(value, who, what, low=1):
    v = _value(value)
    if v.ndim or v.dtype.kind not in "iu" and not float(v).is_integer() or int(v) < low:
        raise ValueError(f"tf.signal.{who}: {what} must be an integer >= {low}, got {value!r}")
    return int(v)


def _complex_of(dtype):
    return np.complex128 if np.dtype(dtype) == np.float64 else np.complex64


def frame(signal, frame_length, frame_step, pad_end=False, pad_value=0, axis=-1, name=None):
    """The frames of ``frame_length`` samples every ``frame_step`` along
    ``axis``: that axis becomes (frames, frame_length).  Without
    ``pad_end`` a frame that would run past the end is dropped; with it the
    end is padded with ``pad_value`` to ceil(length / frame_step) frames,
    as TensorFlow's."""
    traced = ops._is_traced(signal)
    x = signal if traced else _value(signal)
    length = _count(frame_length, "frame", "frame_length")
    step = _count(frame_step, "frame", "frame_step")
    rank = ops.ndim(x)
    if rank == 0:
        raise ValueError("tf.signal.frame: signal must have at least one axis")
    axis = axis % rank
    n = ops.shape(x)[axis]
    if pad_end:
        frames = -(-n // step)
        need = max((frames - 1) * step + length - n, 0)
        pads = [(0, 0)] * rank
        pads[axis] = (0, need)
        x = ops.pad(x, pads, constant_values=pad_value) if traced else \
            np.pad(x, pads, constant_values=pad_value)
    else:
        frames = max(0, 1 + (n - length) // step) if n >= length else 0
    starts = np.arange(frames) * step
    index = starts[:, None] + np.arange(length)[None, :]
    # (a traced signal, a generated waveform's spectral loss, keeps its gradient)
    return ops.take(x, index, axis=axis) if traced else np.take(x, index, axis=axis)


def _raised_cosine(window_length, periodic, dtype, a, b, who):
    n = _count(window_length, who, "window_length", low=0)
    dtype = np.dtype(as_dtype(dtype))
    if n == 1:
        return np.ones(1, dtype)
    # (TensorFlow's periodic window extends only an even length by one)
    denom = n + (1 if periodic and n % 2 == 0 else 0) - 1
    count = np.arange(n, dtype=np.float64)
    return (a - b * np.cos(2.0 * np.pi * count / max(denom, 1))).astype(dtype)


def hann_window(window_length, periodic=True, dtype="float32", name=None):
    """0.5 - 0.5 cos(2 pi n / N): N the length, plus one for a periodic
    window of even length, minus one."""
    return _raised_cosine(window_length, periodic, dtype, 0.5, 0.5, "hann_window")


def hamming_window(window_length, periodic=True, dtype="float32", name=None):
    """0.54 - 0.46 cos(2 pi n / N), N as hann_window's."""
    return _raised_cosine(window_length, periodic, dtype, 0.54, 0.46, "hamming_window")


def kaiser_window(window_length, beta=12.0, dtype="float32", name=None):
    """The (symmetric) Kaiser window I0(beta sqrt(1 - (2n / (N - 1) - 1)^2))
    / I0(beta), computed with the scaled I0 so a large beta does not
    overflow."""
    from . import _special
    n = _count(window_length, "kaiser_window", "window_length", low=0)
    dtype = np.dtype(as_dtype(dtype))
    if n == 1:
        return np.ones(1, dtype)
    half = (n - 1) / 2.0
    t = (np.arange(n, dtype=np.float64) - half) / half
    arg = float(beta) * np.sqrt(np.maximum(1.0 - t * t, 0.0))
    b = float(beta)
    return (_special.bessel_i0e(arg) / _special.bessel_i0e(b) *
            np.exp(np.abs(arg) - abs(b))).astype(dtype)


def kaiser_bessel_derived_window(window_length, beta=12.0, dtype="float32", name=None):
    """The Kaiser-Bessel-derived window (MDCT's): the square roots of the
    cumulative sums of a Kaiser window of length N // 2 + 1, mirrored."""
    n = _count(window_length, "kaiser_bessel_derived_window", "window_length", low=0)
    dtype = np.dtype(as_dtype(dtype))
    half = n // 2
    k = np.asarray(kaiser_window(half + 1, beta, "float64"), np.float64)
    csum = np.cumsum(k)
    halfw = np.sqrt(csum[:-1] / csum[-1])
    return np.concatenate([halfw, halfw[::-1]]).astype(dtype)


def vorbis_window(window_length, dtype="float32", name=None):
    """The Vorbis power-complementary window sin(pi / 2 sin^2(pi (n + 1/2)
    / N))."""
    n = _count(window_length, "vorbis_window", "window_length", low=0)
    arg = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    return np.sin(np.pi / 2.0 * np.sin(np.pi * arg) ** 2).astype(np.dtype(as_dtype(dtype)))


def _fft_length(frame_length):
    return 1 << max(int(frame_length) - 1, 0).bit_length()


def rfft(input_tensor, fft_length=None, name=None):
    """The FFT of the real signals over the last axis, cropped or zero-padded
    to ``fft_length`` first: fft_length // 2 + 1 complex bins."""
    if ops._is_traced(input_tensor):
        n = ops.shape(input_tensor)[-1] if fft_length is None else \
            _count(np.ravel(_value(fft_length))[0], "rfft", "fft_length")
        return ops._TracedComplex(*ops.rfft(input_tensor, n), "complex64")
    x = _real(input_tensor, "rfft")
    n = x.shape[-1] if fft_length is None else _count(np.ravel(_value(fft_length))[0], "rfft",
                                                      "fft_length")
    return np.fft.rfft(x, n=n, axis=-1).astype(_complex_of(x.dtype))


def irfft(input_tensor, fft_length=None, name=None):
    """The real signals of the one-sided spectra over the last axis."""
    if ops._is_traced(input_tensor):   # (a real spectrum: its imaginary part zero)
        input_tensor = ops._TracedComplex(input_tensor, np.zeros(
            tuple(ops.shape(input_tensor)), np.float32), "complex64")
    if type(input_tensor) is ops._TracedComplex:
        n = 2 * (input_tensor.shape[-1] - 1) if fft_length is None else \
            _count(np.ravel(_value(fft_length))[0], "irfft", "fft_length")
        imag = input_tensor.imag
        return ops.irfft((input_tensor.real, imag if type(imag) is not np.ndarray else
                          imag.astype(np.float32)), n)
    x = _value(input_tensor)
    n = 2 * (x.shape[-1] - 1) if fft_length is None else \
        _count(np.ravel(_value(fft_length))[0], "irfft", "fft_length")
    real = np.float64 if x.dtype == np.complex128 else np.float32
    return np.fft.irfft(x, n=n, axis=-1).astype(real)


def _complex_transform(who, input, rank, transform, pair_transform):
    """``transform`` (NumPy's, over the last ``rank`` axes) of complex
    ``input``; of a complex tensor with traced parts (tf.cast of a traced
    tensor to complex64) ``pair_transform`` of its (real, imaginary)
    parts, which keeps their gradients."""
    if type(input) is ops._TracedComplex:
        if input.ndim < rank:
            raise ValueError(f"tf.signal.{who}: expected a tensor of rank >= {rank}, got "
                             f"shape {tuple(input.shape)}")
        return input.transformed(pair_transform)
    x = _value(input)
    if x.dtype.kind != "c":
        raise TypeError(f"tf.signal.{who}: expected complex input (tf.cast(x, "
                        f"tf.complex64)), got dtype {x.dtype}")
    if x.ndim < rank:
        raise ValueError(f"tf.signal.{who}: expected a tensor of rank >= {rank}, got shape "
                         f"{x.shape}")
    return transform(x, axes=tuple(range(-rank, 0))).astype(x.dtype)


def _shift(who, x, axes, sign):
    if type(x) is ops._TracedComplex:
        return ops._TracedComplex(_shift(who, x.real, axes, sign),
                                  _shift(who, x.imag, axes, sign), x.dtype)
    rank = ops.ndim(x)
    axes = tuple(range(rank)) if axes is None else tuple(int(a) for a in np.ravel(axes))
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(f"tf.signal.{who}: axes {axes} out of range for a tensor of rank "
                         f"{rank}")
    shape = ops.shape(x)
    return ops.roll(x, [sign * (shape[a] // 2) for a in axes], axis=list(axes))


def fftshift(x, axes=None, name=None):
    """The zero-frequency bin moved to the centre of ``axes`` (all by
    default), as numpy.fft.fftshift."""
    return _shift("fftshift", x, axes, 1)


def ifftshift(x, axes=None, name=None):
    """fftshift's inverse."""
    return _shift("ifftshift", x, axes, -1)


def fft(input, name=None):
    """The complex FFT over the last axis."""
    return _complex_transform("fft", input, 1, np.fft.fftn, ops.fft)


def ifft(input, name=None):
    """The inverse complex FFT over the last axis."""
    from ._more_ops import _dft
    return _complex_transform("ifft", input, 1, np.fft.ifftn, lambda pair: _dft(
        "tf.signal.ifft", pair, 1, np.fft.ifft, lambda g, n: np.fft.fft(g) / n))


def fft2d(input, name=None):
    """The complex 2-D FFT over the last two axes (FNet's token mixing)."""
    return _complex_transform("fft2d", input, 2, np.fft.fftn, ops.fft2)


def ifft2d(input, name=None):
    """The inverse complex 2-D FFT over the last two axes."""
    return _complex_transform("ifft2d", input, 2, np.fft.ifftn, ops.ifft2)


def stft(signals, frame_length, frame_step, fft_length=None, window_fn=hann_window,
         pad_end=False, name=None):
    """The short-time Fourier transform over the last axis: (..., frames,
    fft_length // 2 + 1) complex bins of each windowed frame, fft_length
    by default the smallest power of two >= frame_length."""
    length = _count(frame_length, "stft", "frame_length")
    n = _fft_length(length) if fft_length is None else _count(fft_length, "stft", "fft_length")
    if ops._is_traced(signals):
        frames = frame(signals, length, frame_step, pad_end=pad_end)
        if window_fn is not None:
            frames = ops.multiply(frames, _value(window_fn(length, dtype="float32")))
        return ops._TracedComplex(*ops.rfft(frames, n), "complex64")
    x = _real(signals, "stft")
    frames = frame(x, length, frame_step, pad_end=pad_end)
    if window_fn is not None:
        frames = frames * _value(window_fn(length, dtype=frames.dtype.name))
    return np.fft.rfft(frames, n=n, axis=-1).astype(_complex_of(x.dtype))


def _hertz_to_mel(hertz):
    return 1127.0 * np.log(1.0 + hertz / 700.0)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sample_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0,
                                dtype="float32", name=None):
    """The (num_spectrogram_bins, num_mel_bins) matrix of triangular mel
    filters (HTK's mel scale) that a magnitude spectrogram is multiplied by;
    the DC bin gets no weight, as TensorFlow's."""
    bins = _count(num_spectrogram_bins, "linear_to_mel_weight_matrix",
                  "num_spectrogram_bins")
    mels = _count(num_mel_bins, "linear_to_mel_weight_matrix", "num_mel_bins")
    rate = float(_value(sample_rate))
    low, high = float(lower_edge_hertz), float(upper_edge_hertz)
    if not 0.0 <= low < high <= rate / 2.0:
        raise ValueError(f"tf.signal.linear_to_mel_weight_matrix: need 0 <= lower_edge_hertz "
                         f"< upper_edge_hertz <= sample_rate / 2, got {low}, {high} and "
                         f"sample_rate {rate}")
    spectrum_mel = _hertz_to_mel(np.linspace(0.0, rate / 2.0, bins)[1:])[:, None]
    edges = np.linspace(_hertz_to_mel(low), _hertz_to_mel(high), mels + 2)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rising = (spectrum_mel - lower) / (center - lower)
    falling = (upper - spectrum_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, [(1, 0), (0, 0)]).astype(np.dtype(as_dtype(dtype)))


def _dct_matrix(kind, n_in, n, norm):
    """The (n_in, n) matrix M with dct(x) = x[..., :n] (zero-padded) @ M
    of TensorFlow's (SciPy's) DCT of ``kind`` 1 to 4, float64."""
    j = np.arange(n, dtype=np.float64)[:, None]      # (input sample)
    k = np.arange(n, dtype=np.float64)[None, :]      # (output bin)
    if kind == 1:
        m = 2.0 * np.cos(np.pi * j * k / (n - 1))
        m[0, :] = 1.0
        m[-1, :] = (-1.0) ** np.arange(n)
    elif kind == 2:
        m = 2.0 * np.cos(np.pi * k * (2 * j + 1) / (2 * n))
        if norm == "ortho":
            m[:, 0] *= np.sqrt(1.0 / (4 * n))
            m[:, 1:] *= np.sqrt(1.0 / (2 * n))
    elif kind == 3:
        m = 2.0 * np.cos(np.pi * j * (2 * k + 1) / (2 * n))
        m[0, :] = 1.0
        if norm == "ortho":
            m[0, :] *= np.sqrt(1.0 / n)
            m[1:, :] *= np.sqrt(1.0 / (2 * n))
    else:
        m = 2.0 * np.cos(np.pi * (2 * j + 1) * (2 * k + 1) / (4 * n))
        if norm == "ortho":
            m *= np.sqrt(1.0 / (2 * n))
    if n_in < n:
        m = m[:n_in]                                   # (the zero padding)
    elif n_in > n:
        m = np.concatenate([m, np.zeros((n_in - n, n))])   # (the truncation)
    return m


def dct(input, type=2, n=None, axis=-1, norm=None, name=None):
    """The discrete cosine transform of ``type`` 1, 2, 3 or 4 over the last
    axis, as TensorFlow's (SciPy's unnormalized one, or ``norm='ortho'``),
    of the input truncated or zero-padded to ``n``.  A linear map: the
    gradient flows through it (float32 then)."""
    if type not in (1, 2, 3, 4):
        raise ValueError(f"tf.signal.dct: type must be 1, 2, 3 or 4, got {type!r}")
    if axis not in (-1, None) and axis != len(ops.shape(input)) - 1:
        raise NotImplementedError(f"tf.signal.dct: axis must be -1, got {axis!r} (as "
                                  f"TensorFlow's)")
    if norm not in (None, "ortho"):
        raise ValueError(f"tf.signal.dct: norm must be None or 'ortho', got {norm!r}")
    if norm == "ortho" and type == 1:
        raise ValueError("tf.signal.dct: normalization is not supported for the type-I DCT")
    shape = tuple(ops.shape(input))
    if not shape:
        raise ValueError("tf.signal.dct: input must have at least one axis")
    size = shape[-1]
    length = size if n is None else _count(n, "dct", "n")
    if type == 1 and length < 2:
        raise ValueError(f"tf.signal.dct: the type-I DCT needs at least 2 samples, got "
                         f"{length}")
    m = _dct_matrix(type, size, length, norm)
    if _traced(input):
        return ops.matmul(input, m.astype(np.float32))
    x = _real(input, "dct")
    return np.matmul(x.astype(np.float64), m).astype(x.dtype)


def _traced(x):
    """Whether a GradientTape records ``x`` or ``x`` is a functional
    model's symbolic tensor (then the linear maps here go through
    pynn.ops, and record)."""
    from . import autodiff
    return builtins.type(autodiff.resolve(x)) is autodiff.Traced or \
        bool(ops._SYMBOLIC) and builtins.type(x) is ops._SYMBOLIC[0]


def idct(input, type=2, n=None, axis=-1, norm=None, name=None):
    """The inverse DCT as TensorFlow's: the DCT of the inverse type (3 for
    2, 2 for 3, 1 and 4 their own), unscaled (idct(dct(x)) is 2N x, or
    2(N - 1) x for type 1) unless ``norm='ortho'``."""
    if type not in (1, 2, 3, 4):
        raise ValueError(f"tf.signal.idct: type must be 1, 2, 3 or 4, got {type!r}")
    return dct(input, type={1: 1, 2: 3, 3: 2, 4: 4}[type], n=n, axis=axis, norm=norm)


def mfccs_from_log_mel_spectrograms(log_mel_spectrograms, name=None):
    """Mel-frequency cepstral coefficients of log-magnitude mel spectrograms
    (..., num_mel_bins): their type-II DCT scaled by 1 / sqrt(2
    num_mel_bins), as TensorFlow's (take the first 13 or so)."""
    shape = tuple(ops.shape(log_mel_spectrograms))
    if not shape or not shape[-1]:
        raise ValueError(f"tf.signal.mfccs_from_log_mel_spectrograms: num_mel_bins (the last "
                         f"axis) must be positive, got shape {shape}")
    out = dct(log_mel_spectrograms, type=2)
    scale = 1.0 / np.sqrt(2.0 * shape[-1])
    if _traced(out):
        return ops.multiply(out, np.float32(scale))
    return (out * scale).astype(out.dtype)


def overlap_and_add(signal, frame_step, name=None):
    """The frames (..., frames, frame_length) added up, frame i starting at
    i * frame_step: (..., (frames - 1) * frame_step + frame_length)
    samples.  Recorded on a GradientTape (a sum of shifted copies)."""
    shape = tuple(ops.shape(signal))
    if len(shape) < 2:
        raise ValueError(f"tf.signal.overlap_and_add: signal must have shape (..., frames, "
                         f"frame_length), got {shape}")
    step = _count(frame_step, "overlap_and_add", "frame_step")
    frames, length = shape[-2:]
    if step > length:
        raise ValueError(f"tf.signal.overlap_and_add: frame_step {step} must be at most the "
                         f"frame length {length}")
    outer = shape[:-2]
    size = (frames - 1) * step + length if frames else 0
    segments = -(-length // step)
    plain = not _traced(signal)
    xp = np if plain else ops
    x = _value(signal) if plain else signal
    if not frames:
        return np.zeros(outer + (0,), _value(signal).dtype if plain else np.float32)
    pad_tail = [[0, 0]] * (len(outer) + 1) + [[0, segments * step - length]]
    x = xp.reshape(xp.pad(x, pad_tail), outer + (frames, segments, step))
    total = None
    for s_ in range(segments):
        part = x[..., s_, :] if plain else ops.take(x, s_, axis=-2)
        shifted = xp.pad(part, [[0, 0]] * len(outer) + [[s_, segments - 1 - s_], [0, 0]])
        total = shifted if total is None else xp.add(total, shifted)
    flat = xp.reshape(total, outer + ((frames + segments - 1) * step,))
    return flat[..., :size] if plain else ops.take(flat, np.arange(size), axis=-1)


def inverse_stft_window_fn(frame_step, forward_window_fn=hann_window, name=None):
    """The window for inverse_stft that undoes ``forward_window_fn``'s
    weighting with this ``frame_step``: the forward window divided by the
    sum of the squares of its overlapping copies, as TensorFlow's."""
    step = _count(frame_step, "inverse_stft_window_fn", "frame_step")

    def window(frame_length, dtype="float32"):
        length = _count(frame_length, "inverse_stft_window_fn", "frame_length")
        forward = np.asarray(_value(forward_window_fn(length, dtype=dtype)), np.float64)
        overlaps = -(-length // step)
        denom = np.pad(forward ** 2, (0, overlaps * step - length)).reshape(overlaps, step)
        denom = np.tile(denom.sum(0, keepdims=True), (overlaps, 1)).reshape(-1)
        return (forward / denom[:length]).astype(np.dtype(as_dtype(dtype)))
    return window


def inverse_stft(stfts, frame_length, frame_step, fft_length=None, window_fn=hann_window,
                 name=None):
    """The signals whose stft gave ``stfts`` (..., frames, fft_length // 2 +
    1): each frame's inverse real FFT, cut or zero-padded to frame_length,
    times ``window_fn(frame_length)``, overlapped and added; with
    ``window_fn=inverse_stft_window_fn(frame_step)`` it undoes stft's
    hann window where the frames overlap fully."""
    if type(stfts) is ops._TracedComplex:
        # (a traced spectrum: the same steps through pynn.ops, which record)
        length = _count(frame_length, "inverse_stft", "frame_length")
        n = _fft_length(length) if fft_length is None else \
            _count(fft_length, "inverse_stft", "fft_length")
        frames = irfft(stfts, n)[..., :length]
        if n < length:
            frames = ops.pad(frames, [(0, 0)] * (ops.ndim(frames) - 1) + [(0, length - n)])
        if window_fn is not None:
            frames = ops.multiply(frames, _value(window_fn(length, dtype="float32")))
        return overlap_and_add(frames, frame_step)
    x = _value(stfts)
    if x.dtype.kind != "c":
        raise TypeError(f"tf.signal.inverse_stft: stfts must be complex, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"tf.signal.inverse_stft: stfts must have shape (..., frames, bins), "
                         f"got {x.shape}")
    length = _count(frame_length, "inverse_stft", "frame_length")
    n = _fft_length(length) if fft_length is None else \
        _count(fft_length, "inverse_stft", "fft_length")
    real = np.float64 if x.dtype == np.complex128 else np.float32
    frames = np.fft.irfft(x, n=n, axis=-1)
    if n > length:
        frames = frames[..., :length]
    elif n < length:
        frames = np.pad(frames, [(0, 0)] * (frames.ndim - 1) + [(0, length - n)])
    if window_fn is not None:
        frames = frames * np.asarray(_value(window_fn(length, dtype=np.dtype(real).name)),
                                     np.float64)
    return np.asarray(overlap_and_add(frames, frame_step)).astype(real)


_FUNCTIONS = ["frame", "hann_window", "hamming_window", "rfft", "irfft", "fft", "ifft", "stft",
              "linear_to_mel_weight_matrix", "dct", "idct", "mfccs_from_log_mel_spectrograms",
              "overlap_and_add", "inverse_stft", "inverse_stft_window_fn", "kaiser_window",
              "kaiser_bessel_derived_window", "vorbis_window", "fft2d", "ifft2d", "fftshift",
              "ifftshift"]
for _name in _FUNCTIONS:
    globals()[_name] = _eager_results(globals()[_name])
del _name
__all__ = list(_FUNCTIONS)
