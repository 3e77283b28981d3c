"""Weight initializers with Keras's names and defaults."""
import functools
import inspect
import math

import numpy as np

from .utils.seeding import rng


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    # convolution kernels: (*spatial, in, out)
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape):
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        # Keras's initializers take ``dtype`` too (``init(shape, dtype=...)``,
        # as programs call them to make a Variable's initial value).
        super().__init_subclass__(**kwargs)
        call = vars(cls).get("__call__")
        if call is not None and "dtype" not in inspect.signature(call).parameters:
            @functools.wraps(call)
            def with_dtype(self, shape, dtype=None):
                values = call(self, shape)
                return values if dtype is None else np.asarray(values).astype(dtype)
            cls.__call__ = with_dtype

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape):
        return np.zeros(shape, np.float32)


class Ones(Initializer):
    def __call__(self, shape):
        return np.ones(shape, np.float32)


class Constant(Initializer):
    """``value`` everywhere; an array value (PointNet's identity-matrix
    bias) is broadcast to the weight's shape, as in Keras 3."""

    def __init__(self, value=0.0):
        try:
            array = np.asarray(value, np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"Constant: value must be a number or an array of numbers, got "
                            f"{value!r}") from None
        self.value = float(array) if array.ndim == 0 else array

    def __call__(self, shape):
        value = np.asarray(self.value, np.float32)
        try:
            return np.array(np.broadcast_to(value, shape), np.float32)
        except ValueError:
            raise ValueError(f"Constant: a value of shape {value.shape} cannot fill a weight of "
                             f"shape {tuple(shape)}") from None

    def get_config(self):
        return {"value": self.value if np.ndim(self.value) == 0 else self.value.tolist()}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        return g.uniform(self.minval, self.maxval, shape).astype(np.float32)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        return g.normal(self.mean, self.stddev, shape).astype(np.float32)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _truncated_unit_normal(g, shape):
    """Unit normal draws, those beyond 2 redrawn until none is."""
    x = g.normal(0.0, 1.0, shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = g.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(x) > 2
    return x


class TruncatedNormal(Initializer):
    """Normal draws of ``mean`` and ``stddev``, those more than two standard
    deviations from the mean drawn again."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        return (self.mean + self.stddev * _truncated_unit_normal(g, shape)).astype(np.float32)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: unknown mode {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "normal", "uniform"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape):
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            lim = math.sqrt(3.0 * var)
            return g.uniform(-lim, lim, shape).astype(np.float32)
        if self.distribution == "truncated_normal":
            # std of a unit normal truncated to [-2, 2]
            std = math.sqrt(var) / 0.87962566103423978
            return (_truncated_unit_normal(g, shape) * std).astype(np.float32)
        return g.normal(0.0, math.sqrt(var), shape).astype(np.float32)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix, as Keras's: the Q of the QR decomposition
    of a normal matrix (signs fixed by R's diagonal), times ``gain``;
    shapes of rank > 2 are flattened to (prod(shape[:-1]), shape[-1])."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = float(gain), seed

    def __call__(self, shape):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have rank >= 2, got {shape}")
        g = np.random.default_rng(self.seed) if self.seed is not None else rng()
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = g.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(np.float32)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (of a 2-D shape)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape):
        shape = tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: the identity matrix initializer needs a 2-D shape, got "
                             f"{shape} of rank {len(shape)}")
        return (self.gain * np.eye(*shape)).astype(np.float32)

    def get_config(self):
        return {"gain": self.gain}


# NumPy's windows, by the names scipy.signal.get_window gives them.
_WINDOWS = {"hann": np.hanning, "hanning": np.hanning, "hamming": np.hamming,
            "blackman": np.blackman, "bartlett": np.bartlett, "boxcar": np.ones}


class STFT(Initializer):
    """The kernel of a short-time Fourier transform as a convolution, shape
    ``(frame_length, 1, fft_length // 2 + 1)``: the cosines (``side='real'``)
    or sines (``'imag'``) of each frequency, times a ``window`` (a name, an
    array of ``frame_length`` values, or None) scaled to unit L2
    (``'density'``) or L1 (``'spectrum'``) norm."""

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"STFT: side must be 'real' or 'imag', got {side!r}")
        if isinstance(window, str) and window not in _WINDOWS:
            raise ValueError(f"STFT: unknown window {window!r}; expected one of "
                             f"{sorted(_WINDOWS)}, an array of values or None")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"STFT: scaling must be None, 'density' or 'spectrum', got "
                             f"{scaling!r}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape):
        shape = tuple(shape)
        if len(shape) != 3:
            raise ValueError(f"STFT: the shape must be (frame_length, input_channels, "
                             f"fft_length // 2 + 1), got {shape}")
        frame_length, _, bins = shape
        time = np.arange(frame_length, dtype=np.float64).reshape(-1, 1, 1)
        freq = np.arange(bins, dtype=np.float64).reshape(1, 1, -1) / ((bins - 1) * 2)
        args = -2.0 * time * freq * np.pi
        kernel = np.cos(args) if self.side == "real" else np.sin(args)
        if self.window is not None:
            if isinstance(self.window, str):
                # scipy's periodic windows: one point longer, the last dropped
                fn = _WINDOWS[self.window]
                win = fn(frame_length + 1)[:-1] if self.periodic else fn(frame_length)
            else:
                win = np.asarray(self.window, np.float64)
            if win.shape != (frame_length,):
                raise ValueError(f"STFT: the window must hold frame_length={frame_length} "
                                 f"values, got shape {win.shape}")
            scale = 1.0
            if self.scaling == "density":
                scale = np.sqrt(np.sum(np.square(win)))
            elif self.scaling == "spectrum":
                scale = np.sum(np.abs(win))
            kernel = kernel * win.reshape(-1, 1, 1) / scale
        return kernel.astype(np.float32)

    def get_config(self):
        window = self.window.tolist() if isinstance(self.window, np.ndarray) else self.window
        return {"side": self.side, "window": window, "periodic": self.periodic,
                "scaling": self.scaling}


IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal
STFTInitializer = STFT

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "random_normal": RandomNormal,
    "uniform": RandomUniform, "normal": RandomNormal, "orthogonal": Orthogonal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "truncated_normal": TruncatedNormal, "identity": Identity, "stft": STFT,
}
_CLASS_NAMES = {cls.__name__: name for name, cls in reversed(_BY_NAME.items())}
# Keras 3's lowercase aliases of the classes (keras.initializers.he_normal(seed=1)).
globals().update(_BY_NAME)
# Names get() also takes, as Keras 3's get does (kernel_initializer='zero').
_SPELLINGS = {"zero": "zeros", "one": "ones"}


def get(identifier):
    """An Initializer from a name ('glorot_uniform', 'GlorotUniform', or a
    custom object's), a config dict ``{'class_name': ..., 'config': ...}``,
    an instance, or a function ``fn(shape, dtype=None)`` (kept as it is,
    as Keras keeps it).  None stays None, as in Keras: a layer given
    ``bias_initializer=None`` makes its weight with add_weight's default."""
    from .utils.custom_objects import deserialize_function, is_function_description, lookup
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if is_function_description(identifier):
        return deserialize_function(identifier, "initializer")
    if isinstance(identifier, dict):
        name = _CLASS_NAMES.get(identifier.get("class_name"), identifier.get("class_name"))
        if name not in _BY_NAME:
            for key in (identifier.get("registered_name"), identifier.get("class_name")):
                custom = lookup(key) if isinstance(key, str) else None
                if isinstance(custom, type) and issubclass(custom, Initializer):
                    return custom.from_config(identifier.get("config") or {})
            raise ValueError(f"Unknown initializer {identifier.get('class_name')!r}; expected "
                             f"one of {sorted(_CLASS_NAMES)}, or a custom initializer in "
                             f"custom_objects")
        return _BY_NAME[name].from_config(identifier.get("config") or {})
    if isinstance(identifier, str):
        key = _CLASS_NAMES.get(identifier, identifier.lower())
        key = _SPELLINGS.get(key, key)
        if key in _BY_NAME:
            return _BY_NAME[key]()
        custom = lookup(identifier)
        if custom is not None:
            return custom() if isinstance(custom, type) else custom
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Unknown initializer {identifier!r}; expected one of {sorted(_BY_NAME)}")


def deserialize(config, custom_objects=None):
    """An initializer from its config or name, as Keras's
    ``initializers.deserialize``."""
    if isinstance(config, str) and custom_objects and config in custom_objects:
        found = custom_objects[config]
        return found() if isinstance(found, type) else found
    if isinstance(config, dict) and custom_objects and config.get("class_name") in \
            custom_objects:
        return custom_objects[config["class_name"]].from_config(config.get("config") or {})
    return get(config)


def serialize(init):
    """The config entry of an initializer: class name and config; a custom
    class also carries its registered name, a function its description."""
    from .utils.custom_objects import serialize_function
    if init is None:
        return None
    if isinstance(init, Initializer):
        cls = type(init)
        if _BY_NAME.get(_CLASS_NAMES.get(cls.__name__)) is cls:
            return {"class_name": cls.__name__, "config": init.get_config()}
        return {"module": cls.__module__, "class_name": cls.__name__,
                "config": init.get_config(), "registered_name": cls.__name__}
    if callable(init) and not isinstance(init, type):
        return serialize_function(init)
    raise ValueError(f"Cannot serialize initializer {init!r}")
