"""Activation functions by Keras name.

Each public function applies the activation to an array (through pynn.ops),
NumPy or traced alike, and ``get`` returns one of them for a name, as Keras's
does.  Layers keep the name (``canonical``) and let the kernels fuse it with
their output pass.

Any other Python function of an array (``activation=my_fn``, written with
pynn.ops, pynn.backend or NumPy operators) is kept as the function: the
layer applies it after its kernel and trains through it by
differentiating it (pynn.autodiff).  A custom object registered under a
name (``get_custom_objects()['my_fn'] = my_fn``, or an Activation layer
there, as Keras 2 scripts do) is found by that name.
"""

import numpy as np

from . import ops
from .backend import is_keras_tensor
from .utils.custom_objects import deserialize_function, is_function_description, lookup, \
    serialize_function

_ALIASES = {None: "linear", "linear": "linear", "relu": "relu", "relu6": "relu6",
            "leaky_relu": "leaky_relu", "elu": "elu", "sigmoid": "sigmoid",
            "hard_sigmoid": "hard_sigmoid", "tanh": "tanh", "softmax": "softmax",
            "softplus": "softplus", "swish": "swish", "silu": "swish",
            "hard_swish": "hard_swish", "hard_silu": "hard_swish"}


def get(identifier):
    """The activation function for a name (None: ``linear``), one of this
    module's functions, a custom function, a registered custom object's name
    or a config's description of a function, as Keras's ``activations.get``.
    Raises ValueError naming an unknown activation."""
    found = canonical(identifier)
    return globals()[found] if isinstance(found, str) else found


def _tf_alias(fn):
    """The activation name of one of pynn's TensorFlow-named functions that
    computes it with its defaults (``tf.nn.relu``, ``tf.math.sigmoid``,
    ``tf.nn.swish``), so a layer given it runs and saves the named
    activation, as Keras writes TensorFlow's functions by name; else None."""
    from . import math as tf_math
    from . import nn
    same = {nn.relu: "relu", nn.relu6: "relu6", nn.elu: "elu", nn.swish: "swish",
            nn.leaky_relu: "leaky_relu",
            nn.silu: "swish", tf_math.sigmoid: "sigmoid", tf_math.tanh: "tanh",
            tf_math.softmax: "softmax", tf_math.softplus: "softplus"}
    try:
        return same.get(fn)
    except TypeError:  # (an unhashable callable)
        return None


def canonical(identifier):
    """What a layer keeps: the canonical name of an activation with a kernel
    (for a name or one of this module's functions); any other function (or a
    registered custom object's name, or a config's description of one) as
    the function itself.  Raises ValueError naming an unknown activation."""
    if callable(identifier) and identifier in _COMPOSED.values():
        return identifier
    if _is_kernel_function(identifier):
        return _ALIASES[identifier.__name__]
    if callable(identifier) and _tf_alias(identifier) is not None:
        return _tf_alias(identifier)
    if isinstance(identifier, str) or identifier is None:
        key = identifier.lower() if isinstance(identifier, str) else None
        if key in _ALIASES:
            return _ALIASES[key]
        if key in _COMPOSED:
            return _COMPOSED[key]
        custom = lookup(identifier) if identifier is not None else None
        if custom is not None:
            # Keras 2 scripts register Activation(fn) layers under a name.
            return canonical(getattr(custom, "activation", custom))
    elif is_function_description(identifier):
        return canonical(deserialize_function(identifier, "activation"))
    elif callable(identifier):
        return identifier
    raise ValueError(f"Unknown activation {identifier!r}; expected one of "
                     f"{sorted([k for k in _ALIASES if k] + list(_COMPOSED))}, or a function")


def _is_kernel_function(fn):
    """Whether fn is one of this module's activations with a kernel."""
    return callable(fn) and getattr(fn, "__module__", None) == __name__ and \
        getattr(fn, "__name__", None) in _ALIASES


def serialize(activation):
    """The config entry of an activation: its name, or a description of a
    custom function."""
    if isinstance(activation, str):
        return activation
    if activation in _COMPOSED.values():
        return activation.__name__
    if _is_kernel_function(activation):
        return _ALIASES[activation.__name__]
    return serialize_function(activation)


def name_of(activation):
    """A printable name: the activation's, or the custom function's."""
    return activation if isinstance(activation, str) else \
        getattr(activation, "__name__", type(activation).__name__)


def linear(x):
    return x if is_keras_tensor(x) else ops.activation(x, "linear")


# These call pynn.ops's functions of the same names, which also take a
# symbolic tensor (``keras.activations.swish(x)`` on a functional model's
# tensor records the operation, as in Keras 3).

def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's relu: ``x`` above ``threshold`` (capped at ``max_value``),
    ``negative_slope * (x - threshold)`` at or below it."""
    if is_keras_tensor(x):
        # (pynn.ops's relu node would not keep the arguments in a saved graph)
        through_layer = (negative_slope, max_value, threshold) != (0.0, None, 0.0)
    else:
        # (a traced value has the general form's gradient only through the layer)
        through_layer = ops.relu_form(negative_slope, max_value, threshold)[0] is None and \
            not (isinstance(x, (np.ndarray, list, tuple)) or np.isscalar(x))
    if not through_layer:
        return ops.relu(x, negative_slope=negative_slope, max_value=max_value,
                        threshold=threshold)
    # A traced value or a symbolic tensor with arguments: through the layer,
    # which has the gradient and whose config keeps the arguments.
    from .layers.activation import ReLU
    return ReLU(max_value=max_value, negative_slope=negative_slope, threshold=threshold)(x)


def relu6(x):
    return ops.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha=alpha)


def sigmoid(x):
    return ops.sigmoid(x)


def hard_sigmoid(x):
    return ops.hard_sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def softplus(x):
    return ops.softplus(x)


def swish(x):
    return ops.swish(x)


silu = swish


def hard_swish(x):
    return ops.hard_swish(x)


hard_silu = hard_swish


# Activations with no kernel of their own: composed of pynn.ops functions, so
# a layer applies them after its kernel and trains through them by
# differentiating them, as it does a custom function.

def selu(x):
    """Scaled ELU (Klambauer et al.), with Keras's constants."""
    return ops.selu(x)


def gelu(x, approximate=False):
    """Gaussian error linear unit: ``x * Phi(x)``, or its tanh approximation."""
    return ops.gelu(x, approximate)


def exponential(x):
    return ops.exp(x)


def mish(x):
    """``x * tanh(softplus(x))`` (Misra)."""
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


def celu(x, alpha=1.0):
    """``max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)`` (Barron)."""
    return ops.celu(x, alpha)


def glu(x, axis=-1):
    """The first half of x along ``axis`` times the sigmoid of the second."""
    return ops.glu(x, axis)


def hard_shrink(x, threshold=0.5):
    """x where ``|x| > threshold``, else 0."""
    return ops.hard_shrink(x, threshold)


def hard_tanh(x):
    """x clipped to [-1, 1]."""
    return ops.hard_tanh(x)


def log_sigmoid(x):
    """``log(sigmoid(x))``, computed as ``-softplus(-x)``."""
    return ops.log_sigmoid(x)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``."""
    return ops.log_softmax(x, axis=axis)


def soft_shrink(x, threshold=0.5):
    """x moved towards 0 by ``threshold``, 0 within it."""
    return ops.soft_shrink(x, threshold)


def softsign(x):
    """``x / (|x| + 1)``."""
    return ops.softsign(x)


def sparse_plus(x):
    """0 below -1, x above 1, ``(x + 1)**2 / 4`` between."""
    return ops.sparse_plus(x)


def sparse_sigmoid(x):
    """0 up to -1, 1 from 1, ``(x + 1) / 2`` between (Blondel et al.)."""
    if is_keras_tensor(x):
        return ops.sparse_sigmoid(x)
    v = np.asarray(ops._plain(x))
    return ops.where(v <= -1, np.float32(0), ops.where(
        v >= 1, np.float32(1), ops.multiply(ops.add(x, 1.0), 0.5)))


def sparsemax(x, axis=-1):
    """Sparse probabilities along ``axis``, by Keras 3's formula (see
    ``ops.sparsemax``: its rows need not add up to 1 once more than one
    value survives, as in Keras)."""
    return ops.sparsemax(x, axis=axis)


def squareplus(x, b=4):
    """``(x + sqrt(x**2 + b)) / 2``, a smooth ReLU."""
    return ops.squareplus(x, b)


def tanh_shrink(x):
    """``x - tanh(x)``."""
    return ops.tanh_shrink(x)


def threshold(x, threshold, default_value):
    """x where ``x > threshold``, else ``default_value``."""
    return ops.threshold(x, threshold, default_value)


_COMPOSED = {"selu": selu, "gelu": gelu, "exponential": exponential, "mish": mish,
             "celu": celu, "glu": glu, "hard_shrink": hard_shrink, "hard_tanh": hard_tanh,
             "log_sigmoid": log_sigmoid, "log_softmax": log_softmax,
             "soft_shrink": soft_shrink, "softsign": softsign, "sparse_plus": sparse_plus,
             "sparse_sigmoid": sparse_sigmoid, "sparsemax": sparsemax,
             "squareplus": squareplus, "tanh_shrink": tanh_shrink, "threshold": threshold}


def deserialize(config, custom_objects=None):
    """The activation function a config entry names (a name, or Keras's
    description of a function), as Keras's ``activations.deserialize``."""
    if isinstance(config, str) and custom_objects and config in custom_objects:
        return custom_objects[config]
    if isinstance(config, dict) and config.get("class_name") == "function" and \
            isinstance(config.get("config"), str):
        config = config["config"]
    return get(config)
