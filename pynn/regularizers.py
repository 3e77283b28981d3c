"""Weight regularizers with Keras's names: ``kernel_regularizer=
regularizers.l2(0.001)`` adds ``0.001 * sum(kernel ** 2)`` to the loss
(and its gradient to the kernel's), computed in one C pass per step."""
import numpy as np

from . import ops


class Regularizer:
    """Base class: ``regularizer(x)`` is the penalty of the array ``x``."""
    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        return ops.weight_penalty(np.asarray(x, np.float32), self.l1, self.l2)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _factor(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x ** 2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "L1L2: l1")
        self.l2 = _factor(l2, "L1L2: l2")

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x ** 2)``."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, "L1": L1, "L2": L2,
            "L1L2": L1L2}


def get(identifier):
    """A Regularizer from None, a name ('l1', 'l2', 'l1_l2'), a config dict
    or an instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        cls = _BY_NAME[identifier]
        return cls(0.01, 0.01) if cls is L1L2 else cls()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]].from_config(identifier.get("config") or {})
    raise ValueError(f"Unknown regularizer {identifier!r}; expected 'l1', 'l2', 'l1_l2' or a "
                     f"pynn.regularizers object")


def serialize(regularizer):
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
