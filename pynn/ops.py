"""NumPy-style functional kernels, computed in C.

Every function takes NumPy arrays and returns NumPy arrays.  float32 input is
used as it is (transposed views included, for ``matmul``); anything else is
converted to float32 once.  Functions that take ``out=`` write there and
return it, so a caller that keeps its buffers allocates nothing.

This module is the seam between the layers and the kernels: layers, losses and
optimizers compute only through it.
"""
import numpy as np

from . import _kernels as _k

__all__ = [
    "matmul", "dense", "dense_grad", "bias_add", "activation", "activation_grad", "bias_grad",
    "linear", "relu", "relu6", "leaky_relu", "elu", "sigmoid", "hard_sigmoid",
    "hard_swish", "tanh", "softplus", "swish", "softmax",
    "loss", "sparse_loss", "LOSS_KINDS",
    "sgd_update", "rmsprop_update", "adam_update",
    "dropout", "dropout_grad", "gather_rows", "all_finite", "accuracy_count",
]

ACTIVATIONS = {
    "linear": 0, "relu": 1, "leaky_relu": 2, "elu": 3, "sigmoid": 4,
    "hard_sigmoid": 5, "tanh": 6, "softplus": 7, "swish": 8, "softmax": 9,
    "relu6": 10, "hard_swish": 11,
}
# Activations whose derivative needs the input as well as the output.
NEEDS_INPUT = frozenset({"leaky_relu", "elu", "softplus", "swish", "hard_swish"})
DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}

LOSS_KINDS = {
    "mean_squared_error": 0, "mean_absolute_error": 1,
    "binary_crossentropy": 2, "categorical_crossentropy": 3,
    "softmax_crossentropy": 4, "sigmoid_crossentropy": 5,
}


def _f32(x, name="x"):
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        return x
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: cannot convert {type(x).__name__} to float32: {e}") from None


def _c32(x, name="x"):
    x = _f32(x, name)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def _out(out, shape, name):
    if out is None:
        return np.empty(shape, np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != tuple(shape):
        got = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"{name}: out must be float32 of shape {tuple(shape)}, got {got}")
    return out


# ---------------------------------------------------------------- matmul

def matmul(a, b, out=None, *, alpha=1.0, beta=0.0):
    """``alpha * a @ b + beta * out`` for 2-D float32 arrays.

    ``a`` and ``b`` may be transposed views (``w.T``): they are read in place,
    never copied.  With ``beta != 0`` the product is accumulated into ``out``.
    """
    a = _f32(a, "matmul: a")
    b = _f32(b, "matmul: b")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"matmul: expected 2-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({a.shape[1]} != {b.shape[0]})")
    if out is None:
        if beta != 0.0:
            raise ValueError("matmul: beta != 0 needs out")
        out = np.empty((a.shape[0], b.shape[1]), np.float32)
    return _k.sgemm(a, b, out, alpha, beta)


def dense_grad(x, kernel, dy, activation="linear", y=None, pre=None, alpha=None,
               kernel_grad=None, bias_grad=None, input_grad=True, work=None):
    """Gradients of ``y = activation(x @ kernel + bias)`` for 2-D ``x`` in one
    call: writes ``kernel_grad`` (and ``bias_grad`` when given) and returns
    the input gradient (None when ``input_grad`` is False).  ``y`` is the
    forward output; ``pre`` the pre-activation, needed only by the
    activations in NEEDS_INPUT."""
    code = _act_code(activation)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(activation, 0.0)
    if activation in NEEDS_INPUT and pre is None:
        raise ValueError(f"Dense: the gradient of {activation} needs the pre-activation")
    x, kernel, dy = _c32(x, "x"), _c32(kernel, "kernel"), _c32(dy, "dy")
    kernel_grad = _out(kernel_grad, kernel.shape, "Dense: kernel gradient")
    dx = None
    if input_grad is True:
        dx = np.empty(x.shape, np.float32)
    elif input_grad is not False:
        dx = input_grad
    if code != 0 and work is None:
        work = np.empty(dy.shape, np.float32)
    _k.dense_backward(x, kernel, pre, y, dy, code, alpha, kernel_grad, bias_grad, dx, work)
    return dx


def dense(x, kernel, bias=None, activation="linear", alpha=None, out=None):
    """``activation(x @ kernel + bias)`` for 2-D ``x``: one GEMM and one fused
    pass over its output, in a single call."""
    code = _act_code(activation)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(activation, 0.0)
    if out is not None:
        # Fast path for the layers' own buffers: the bridge checks dtype,
        # contiguity and sizes; anything it rejects takes the path below,
        # which converts or explains.
        try:
            return _k.dense_forward(x, kernel, bias, code, alpha, out)
        except (TypeError, ValueError):
            pass
    x = _c32(x, "Dense: input")
    kernel = _c32(kernel, "Dense: kernel")
    if x.ndim != 2 or kernel.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"Dense: input of shape {x.shape} does not fit a kernel of "
                         f"shape {kernel.shape}")
    out = _out(out, (x.shape[0], kernel.shape[1]), "Dense")
    return _k.dense_forward(x, kernel, bias, code, alpha, out)


# ----------------------------------------------------------- activations

def _act_code(name):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"Unknown activation {name!r}; expected one of "
                         f"{sorted(ACTIVATIONS)}") from None


def activation(x, name, bias=None, alpha=None, out=None):
    """``name(x + bias)``, the bias broadcast over the last axis, in one pass.

    Softmax is taken over the last axis.  ``out`` may be ``x``.
    """
    code = _act_code(name)
    x = _c32(x)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(name, 0.0)
    if bias is not None:
        bias = _c32(bias, "bias")
        if bias.shape != (x.shape[-1] if x.ndim else 1,):
            raise ValueError(f"bias: expected shape ({x.shape[-1]},), got {bias.shape}")
    out = _out(out, x.shape, name)
    return _k.bias_activation(code, alpha, x, bias, out)


def activation_grad(name, x, y, dy, alpha=None, out=None):
    """Gradient through activation ``name``: ``dy * name'(x)`` where ``y`` is
    the forward output.  ``x`` may be None unless ``name`` is in NEEDS_INPUT.
    ``out`` may be ``dy``."""
    code = _act_code(name)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(name, 0.0)
    if name in NEEDS_INPUT:
        if x is None:
            raise ValueError(f"{name}: the gradient needs the forward input")
        x = _c32(x)
    else:
        x = None
    y = _c32(y, "y")
    dy = _c32(dy, "dy")
    if dy.shape != y.shape:
        raise ValueError(f"{name}: gradient shape {dy.shape} != output shape {y.shape}")
    out = _out(out, y.shape, name)
    return _k.activation_backward(code, alpha, x, y, dy, out)


def bias_add(x, bias, out=None):
    return activation(x, "linear", bias=bias, out=out)


def bias_grad(dy, out=None):
    """The bias gradient: ``dy`` summed over every axis but the last."""
    dy = _c32(dy, "dy")
    out = _out(out, (dy.shape[-1],), "bias_grad")
    return _k.bias_grad(dy, out)


def linear(x):
    return activation(x, "linear")


def relu(x, out=None):
    return activation(x, "relu", out=out)


def relu6(x, out=None):
    return activation(x, "relu6", out=out)


def leaky_relu(x, alpha=0.2, out=None):
    return activation(x, "leaky_relu", alpha=alpha, out=out)


def elu(x, alpha=1.0, out=None):
    return activation(x, "elu", alpha=alpha, out=out)


def sigmoid(x, out=None):
    return activation(x, "sigmoid", out=out)


def hard_sigmoid(x, out=None):
    return activation(x, "hard_sigmoid", out=out)


def hard_swish(x, out=None):
    return activation(x, "hard_swish", out=out)


def tanh(x, out=None):
    return activation(x, "tanh", out=out)


def softplus(x, out=None):
    return activation(x, "softplus", out=out)


def swish(x, out=None):
    return activation(x, "swish", out=out)


def softmax(x, axis=-1, out=None):
    x = _f32(x)
    if axis not in (-1, x.ndim - 1):
        moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
        return np.moveaxis(activation(moved, "softmax"), -1, axis)
    return activation(x, "softmax", out=out)


# ----------------------------------------------------------------- losses

def loss(kind, y_true, y_pred, sample_weight=None, scale=None, grad=None, out=None):
    """Per-sample losses of ``y_pred`` against ``y_true`` (same shape), means
    over the last axis as Keras takes them.

    ``kind`` is a key of LOSS_KINDS.  When ``grad`` is an array, it receives
    the gradient of ``sum(sample_weight * losses) / scale`` with respect to
    ``y_pred`` (``scale`` defaults to the number of samples).
    """
    try:
        code = LOSS_KINDS[kind]
    except KeyError:
        raise ValueError(f"Unknown loss {kind!r}; expected one of {sorted(LOSS_KINDS)}") from None
    y_pred = _c32(y_pred, "y_pred")
    y_true = _c32(y_true, "y_true")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{kind}: y_true has shape {y_true.shape}, y_pred {y_pred.shape}")
    rows = y_pred.shape[0] if y_pred.ndim > 1 else 1
    if y_pred.ndim > 1:
        rows = y_pred.size // y_pred.shape[-1] if y_pred.shape[-1] else 0
    out = _out(out, (rows,), kind)
    if sample_weight is not None:
        sample_weight = _c32(sample_weight, "sample_weight")
    return _k.loss(code, y_pred, y_true, sample_weight,
                   float(rows if scale is None else scale), out, grad)


def sparse_loss(labels, y_pred, from_logits=False, sample_weight=None, scale=None,
                grad=None, out=None):
    """Sparse categorical cross-entropy of ``y_pred`` (rows x classes) against
    integer ``labels`` (rows), with its gradient as in :func:`loss`."""
    y_pred = _c32(y_pred, "y_pred")
    labels = np.asarray(labels)
    if labels.dtype != np.int32:
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise ValueError("sparse_categorical_crossentropy: labels contain NaN or inf")
        labels = labels.astype(np.int32)
    labels = np.ascontiguousarray(labels.reshape(-1))
    classes = y_pred.shape[-1]
    rows = y_pred.size // classes if classes else 0
    out = _out(out, (rows,), "sparse_categorical_crossentropy")
    if sample_weight is not None:
        sample_weight = _c32(sample_weight, "sample_weight")
    return _k.sparse_loss(from_logits, y_pred, labels, sample_weight,
                          float(rows if scale is None else scale), out, grad)


# ------------------------------------------------------------- optimizers

def sgd_update(w, g, v=None, lr=0.01, momentum=0.0, nesterov=False):
    """In place: Keras's SGD step (``v`` is the momentum buffer)."""
    _k.sgd_update(w, g, v, lr, momentum, nesterov)


def rmsprop_update(w, g, s, lr=0.001, rho=0.9, epsilon=1e-7):
    """In place: Keras's RMSprop step (``s`` is the mean square)."""
    _k.rmsprop_update(w, g, s, lr, rho, epsilon)


def adam_update(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """In place: Keras's Adam step number ``t`` (1-based)."""
    _k.adam_update(w, g, m, v, lr, beta_1, beta_2, epsilon, t)


# ------------------------------------------------------------ elementwise

def dropout(x, rate, seed, out=None, mask=None):
    """Inverted dropout: zero each element with probability ``rate`` and
    scale the rest by ``1 / (1 - rate)``.  Returns ``(y, mask)``."""
    x = _c32(x)
    out = _out(out, x.shape, "Dropout")
    if mask is None:
        mask = np.empty(x.shape, np.uint8)
    _k.dropout_forward(x, out, mask, rate, seed)
    return out, mask


def dropout_grad(dy, mask, rate, out=None):
    dy = _c32(dy, "dy")
    out = _out(out, dy.shape, "Dropout")
    return _k.dropout_backward(dy, mask, out, rate)


def gather_rows(src, index, out=None):
    """``src[index]`` along the first axis, written into ``out``."""
    index = np.asarray(index, dtype=np.int64)
    if out is None:
        out = np.empty((index.size,) + src.shape[1:], src.dtype)
    return _k.gather_rows(np.ascontiguousarray(src), np.ascontiguousarray(index), out)


ACCURACY_KINDS = {"categorical": 0, "sparse": 1, "binary": 2}


def accuracy_count(kind, y_true, y_pred, sample_weight=None, threshold=0.5):
    """Weighted number of correct predictions: ``kind`` 'categorical'
    (argmax of both), 'sparse' (argmax against int32 labels) or 'binary'
    (``y_pred > threshold`` against ``y_true > 0.5``, averaged per sample)."""
    y_pred = _c32(y_pred, "y_pred")
    if kind == "sparse":
        y_true = np.ascontiguousarray(y_true, dtype=np.int32)
    else:
        y_true = _c32(y_true, "y_true")
    if sample_weight is not None:
        sample_weight = _c32(sample_weight, "sample_weight")
    return _k.accuracy(ACCURACY_KINDS[kind], y_pred, y_true, sample_weight, threshold)


def all_finite(x):
    """True when no element of the float array is NaN or infinite."""
    return _k.all_finite(_c32(x))
