"""Activation functions by Keras name.

Each public function applies the activation to an array (through pynn.ops).
Layers keep the name and let the kernels fuse it with their output pass.
"""
from . import ops

_ALIASES = {None: "linear", "linear": "linear", "relu": "relu", "relu6": "relu6",
            "leaky_relu": "leaky_relu", "elu": "elu", "sigmoid": "sigmoid",
            "hard_sigmoid": "hard_sigmoid", "tanh": "tanh", "softmax": "softmax",
            "softplus": "softplus", "swish": "swish", "silu": "swish",
            "hard_swish": "hard_swish", "hard_silu": "hard_swish"}


def get(identifier):
    """The canonical activation name for a name or one of this module's
    functions; raises ValueError naming the unknown activation."""
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        return identifier.__name__
    if isinstance(identifier, str) or identifier is None:
        key = identifier.lower() if isinstance(identifier, str) else None
        if key in _ALIASES:
            return _ALIASES[key]
    raise ValueError(f"Unknown activation {identifier!r}; expected one of "
                     f"{sorted(k for k in _ALIASES if k)}")


def linear(x):
    return ops.activation(x, "linear")


def relu(x):
    return ops.activation(x, "relu")


def relu6(x):
    return ops.activation(x, "relu6")


def leaky_relu(x, negative_slope=0.2):
    return ops.activation(x, "leaky_relu", alpha=negative_slope)


def elu(x, alpha=1.0):
    return ops.activation(x, "elu", alpha=alpha)


def sigmoid(x):
    return ops.activation(x, "sigmoid")


def hard_sigmoid(x):
    return ops.activation(x, "hard_sigmoid")


def tanh(x):
    return ops.activation(x, "tanh")


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def softplus(x):
    return ops.activation(x, "softplus")


def swish(x):
    return ops.activation(x, "swish")


silu = swish


def hard_swish(x):
    return ops.activation(x, "hard_swish")


hard_silu = hard_swish
