"""Learning-rate schedules with Keras's names and formulas: an optimizer
given one as its ``learning_rate`` asks it for the rate of each step
(``schedule(step)``, the step counting updates from 0).  As TensorFlow's,
a schedule gives a float32 tensor and takes any number or array of steps
(``schedule(np.linspace(0, 1000))`` gives the rate at each, to plot it)."""
import numpy as np


class LearningRateSchedule:
    """Base of the schedules: ``__call__(step)`` gives the rate of that step;
    ``get_config`` holds the arguments that rebuild it."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _steps(step):
    """The step (a number, an array, a tensor, an optimizer's iterations)
    as a float64 array."""
    from ..autodiff import value_of
    return np.asarray(value_of(step), dtype=np.float64)


def _rate(value):
    """The rate(s) as TensorFlow gives them: a float32 tensor."""
    from ..tensor import eager
    return eager(np.asarray(value, dtype=np.float32))


def _positive(value, what, where):
    value = float(value)
    if not value > 0:
        raise ValueError(f"{where}: {what} must be > 0, got {value!r}")
    return value


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the
    exponent floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps", "ExponentialDecay")
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _steps(step) / self.decay_steps
        if self.staircase:
            p = np.floor(p)
        return _rate(self.initial_learning_rate * self.decay_rate ** p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps", "InverseTimeDecay")
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _steps(step) / self.decay_steps
        if self.staircase:
            p = np.floor(p)
        return _rate(self.initial_learning_rate / (1 + self.decay_rate * p))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to ``boundaries[0]`` (inclusive), ``values[1]`` up to
    ``boundaries[1]``, ..., ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: values must have one more entry than "
                             f"boundaries, got {len(values)} values for {len(boundaries)} "
                             f"boundaries")
        if any(b > a for a, b in zip(boundaries[1:], boundaries)):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got "
                             f"{list(boundaries)}")
        self.boundaries = list(boundaries)
        self.values = [float(v) for v in values]
        self.name = name

    def __call__(self, step):
        at = np.searchsorted(np.asarray(self.boundaries, np.float64), _steps(step), side="left")
        return _rate(np.asarray(self.values)[at])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` along
    ``(1 - step / decay_steps) ** power`` (restarting each ``decay_steps``
    with ``cycle``)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps", "PolynomialDecay")
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step = _steps(step)
        steps = self.decay_steps
        if self.cycle:
            steps = steps * np.maximum(np.ceil(step / steps), 1)
        else:
            step = np.minimum(step, steps)
        return _rate((self.initial_learning_rate - self.end_learning_rate) *
                     (1 - step / steps) ** self.power + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """A linear warm-up to ``warmup_target`` over ``warmup_steps`` (when
    given), then a cosine from there down to ``alpha`` times it over
    ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps", "CosineDecay")
        self.alpha = float(alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = _steps(step)
        top = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        warmup = self.warmup_steps if self.warmup_target is not None else 0
        done = np.minimum(step - warmup, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + np.cos(np.pi * done))
        decayed = top * ((1 - self.alpha) * cosine + self.alpha)
        if warmup:
            warming = self.initial_learning_rate + (top - self.initial_learning_rate) * \
                step / warmup
            decayed = np.where(step < warmup, warming, decayed)
        return _rate(decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay restarted after ``first_decay_steps``, each period
    ``t_mul`` times longer and starting ``m_mul`` times lower (SGDR)."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.first_decay_steps = _positive(first_decay_steps, "first_decay_steps",
                                           "CosineDecayRestarts")
        self.t_mul, self.m_mul, self.alpha = float(t_mul), float(m_mul), float(alpha)
        self.name = name

    def __call__(self, step):
        done = _steps(step) / self.first_decay_steps
        if self.t_mul == 1.0:
            i = np.floor(done)
            done = done - i
        else:
            i = np.floor(np.log(1 - done * (1 - self.t_mul)) / np.log(self.t_mul))
            sum_r = (1 - self.t_mul ** i) / (1 - self.t_mul)
            done = (done - sum_r) / self.t_mul ** i
        m = self.m_mul ** i
        cosine = 0.5 * m * (1 + np.cos(np.pi * done))
        return _rate(self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_BY_NAME = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                    PolynomialDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule):
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A schedule from ``serialize``'s dict (Keras's form)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = _BY_NAME.get(name) or (custom_objects or {}).get(name)
    if cls is None:
        from ..utils.custom_objects import lookup
        cls = lookup(name) if name else None
    if cls is None:
        raise ValueError(f"Unknown learning-rate schedule {name!r}; expected one of "
                         f"{sorted(_BY_NAME)} or a registered custom schedule")
    return cls.from_config(config.get("config", {}))


__all__ = ["LearningRateSchedule", "serialize", "deserialize", *_BY_NAME]
