"""Weight constraints with Keras's names, applied to a weight after each
optimizer step: ``kernel_constraint=constraints.max_norm(3)``."""
import numpy as np

from . import ops
from .utils.custom_objects import get_object, serialize_object


class Constraint:
    """Base class: ``constraint(w)`` returns the constrained weights;
    ``apply(w)`` constrains the array in place."""

    def __call__(self, w):
        return np.asarray(w, np.float32)

    def apply(self, w):
        w[...] = self(w)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _FunctionConstraint(Constraint):
    """A plain function of the weights used as a constraint
    (``kernel_constraint=my_positive_weights``), as Keras accepts any
    callable."""

    def __init__(self, function):
        self.function = function

    def __call__(self, w):
        return np.asarray(ops._plain(self.function(w)), np.float32)


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w, dtype=np.float32), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescales each slice along ``axis`` (the input axis of a kernel) whose
    L2 norm exceeds ``max_value`` to that norm."""

    def __init__(self, max_value=2.0, axis=0):
        self.max_value = float(max_value)
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w, np.float32)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (1e-7 + norms))).astype(np.float32)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Keeps each slice's L2 norm within [min_value, max_value], moving it
    there by the fraction ``rate``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value = float(min_value), float(max_value)
        self.rate, self.axis = float(rate), axis

    def __call__(self, w):
        w = np.asarray(w, np.float32)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + \
            (1 - self.rate) * norms
        return (w * (desired / (1e-7 + norms))).astype(np.float32)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w):
        return np.maximum(np.asarray(w, np.float32), 0)


class UnitNorm(Constraint):
    """Scales each slice along ``axis`` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w, np.float32)
        return (w / (1e-7 + _norms(w, self.axis))).astype(np.float32)

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
# Keras 2's legacy aliases (``from keras.constraints import maxnorm``).
maxnorm, nonneg, unitnorm = MaxNorm, NonNeg, UnitNorm
_BY_NAME = {"MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
            "UnitNorm": UnitNorm, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
            "non_neg": NonNeg, "unit_norm": UnitNorm, "maxnorm": MaxNorm,
            "nonneg": NonNeg, "unitnorm": UnitNorm}


def get(identifier):
    """A Constraint from None, a name, a config dict, an instance or a
    Constraint subclass; a function of the weights is returned as it is,
    as Keras's."""
    return get_object(identifier, "constraint", Constraint, _BY_NAME, lambda fn: fn,
                      f"one of {sorted(k for k in _BY_NAME if k[0].isupper())}, a "
                      f"pynn.constraints object or a function of the weights")


def to_constraint(identifier):
    """What ``get`` gives, a function wrapped as a Constraint (what a
    weight is constrained with after each update)."""
    found = get(identifier)
    return found if found is None or isinstance(found, Constraint) else \
        _FunctionConstraint(found)


def deserialize(config, custom_objects=None):
    """A constraint from its config or name, as Keras's
    ``constraints.deserialize``."""
    if custom_objects:
        key = config if isinstance(config, str) else \
            config.get("class_name") if isinstance(config, dict) else None
        found = custom_objects.get(key) if isinstance(key, str) else None
        if isinstance(found, type) and isinstance(config, dict):
            return found.from_config(config.get("config") or {})
        if found is not None:
            return found() if isinstance(found, type) else found
    return get(config)


def serialize(constraint):
    """The config entry of a constraint: class name and config; a custom
    class also carries its registered name, a function its description."""
    return serialize_object(constraint, _FunctionConstraint, _BY_NAME)
