"""Weight regularizers with Keras's names: ``kernel_regularizer=
regularizers.l2(0.001)`` adds ``0.001 * sum(kernel ** 2)`` to the loss
(and its gradient to the kernel's), computed in one C pass per step.

A custom regularizer is a function of the weight array
(``kernel_regularizer=my_l1``) or a :class:`Regularizer` subclass that
defines ``__call__`` (and ``get_config`` to be saved), written with
pynn.ops, pynn.backend or NumPy operators.  Its penalty joins the loss and
its gradient, found by differentiating the call (pynn.autodiff), joins the
weight's.  Saved configs name it; reading them back finds it among the
custom objects (``custom_objects=``, ``register_keras_serializable``), as
custom layers and functions are found.
"""
import numpy as np

from . import ops
from .utils.custom_objects import get_object, serialize_object


class Regularizer:
    """Base class: ``regularizer(x)`` is the penalty of the array ``x``.
    Subclasses either set ``l1``/``l2`` (computed by the C kernel) or
    define ``__call__`` (differentiated by pynn.autodiff)."""
    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        if not ops._is_traced(x):
            x = np.asarray(x, np.float32)
        return ops.weight_penalty(x, self.l1, self.l2)

    def penalty(self, x, grad=None, scale=1.0):
        """``scale * self(x)`` as a float; adds its gradient with respect
        to ``x`` into ``grad`` (an array of x's shape) when given."""
        if type(self).__call__ is Regularizer.__call__:
            return ops.weight_penalty(x, self.l1 * scale, self.l2 * scale, grad=grad)
        return _traced_penalty(self, x, grad, scale, _describe(self))

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _describe(reg):
    fn = getattr(reg, "function", reg)
    return f"regularizer {getattr(fn, '__name__', type(fn).__name__)!r}"


def _traced_penalty(fn, x, grad, scale, who):
    """A Python regularizer's penalty of ``x`` (summed when it returns an
    array) times ``scale``, and its gradient added into ``grad``."""
    from . import autodiff
    host = x if isinstance(x, np.ndarray) else np.asarray(x)
    if grad is None:
        with autodiff.untraced():
            value = autodiff.value_of(fn(host))
        return scale * float(np.sum(np.asarray(value, np.float64)))
    tape = autodiff.Tape(who)
    leaf = tape.input(np.ascontiguousarray(host, np.float32))
    with tape.recording():
        out = autodiff.resolve(fn(leaf))
    value = np.asarray(autodiff.value_of(out))
    if value.dtype.kind not in "fiu":
        raise TypeError(f"{who} returned {value.dtype} values; a regularizer returns a number")
    g = tape.backward([(out, np.float32(scale))]).get(id(leaf))
    if g is not None:
        if isinstance(grad, np.ndarray):
            grad += g
        else:  # a weight kept on a GPU
            grad[...] = grad.to_numpy() + g
    return scale * float(np.sum(value, dtype=np.float64))


class _FunctionRegularizer(Regularizer):
    """A plain function used as a regularizer (``kernel_regularizer=my_l1``)."""

    def __init__(self, function):
        self.function = function

    def __call__(self, x):
        return self.function(x)


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


class OrthogonalRegularizer(Regularizer):
    """``factor`` times the mean absolute cosine between distinct rows
    (``mode='rows'``) or columns (``'columns'``) of a 2-D weight, halved:
    0 when they are orthogonal."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "OrthogonalRegularizer: factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got "
                             f"{mode!r}")
        self.mode = mode

    def __call__(self, x):
        if ops.ndim(x) != 2:
            raise ValueError(f"OrthogonalRegularizer: the weights must have rank 2, got shape "
                             f"{ops.shape(x)}")
        if self.mode == "rows":
            unit = ops.normalize(x, axis=1)
            product = ops.matmul(unit, ops.transpose(unit))
        else:
            unit = ops.normalize(x, axis=0)
            product = ops.matmul(ops.transpose(unit), unit)
        size = ops.shape(product)[0]
        off_diagonal = ops.multiply(product, 1.0 - np.eye(size, dtype=np.float32))
        pairs = size * (size - 1.0) / 2.0
        return ops.divide(ops.multiply(ops.sum(ops.abs(off_diagonal)), self.factor * 0.5),
                          pairs)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


orthogonal_regularizer = OrthogonalRegularizer

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, "L1": L1, "L2": L2,
            "L1L2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer,
            "OrthogonalRegularizer": OrthogonalRegularizer}


def get(identifier):
    """A Regularizer from None, a name ('l1', 'l2', 'l1_l2', or a custom
    object's), a config dict, an instance or a Regularizer subclass; a
    function of the weights is returned as it is, as Keras's.  ``l1``,
    ``l2`` and ``l1_l2`` given uncalled (``kernel_regularizer=
    regularizers.l1``) are their default regularizers, as Keras, where
    they are the classes."""
    if identifier is l1 or identifier is l2 or identifier is l1_l2:
        return identifier()
    return get_object(identifier, "regularizer", Regularizer, _BY_NAME, lambda fn: fn,
                      "'l1', 'l2', 'l1_l2', a pynn.regularizers object or a function of "
                      "the weights", _from_name)


def to_regularizer(identifier):
    """What ``get`` gives, a function wrapped as a Regularizer (what a
    weight's penalty is computed with)."""
    found = get(identifier)
    return found if found is None or isinstance(found, Regularizer) else \
        _FunctionRegularizer(found)


def _from_name(name):
    # 'l1_l2' by name is Keras's L1L2(0.01, 0.01), not its constructor's zeros
    cls = _BY_NAME[name]
    return cls(0.01, 0.01) if cls is L1L2 else cls()


def deserialize(config, custom_objects=None):
    """A regularizer from its config or name, as Keras's
    ``regularizers.deserialize``."""
    if custom_objects:
        key = config if isinstance(config, str) else \
            config.get("class_name") if isinstance(config, dict) else None
        found = custom_objects.get(key) if isinstance(key, str) else None
        if isinstance(found, type) and isinstance(config, dict):
            return found.from_config(config.get("config") or {})
        if found is not None:
            return get(found)
    return get(config)


def serialize(regularizer):
    """The config entry of a regularizer: class name and config; a custom
    class also carries its registered name, a function its description."""
    return serialize_object(regularizer, _FunctionRegularizer, _BY_NAME)
