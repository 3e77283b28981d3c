"""NumPy-style functional kernels, computed in C.

Every function takes NumPy arrays and returns NumPy arrays.  float32 input is
used as it is (transposed views included, for ``matmul``); anything else is
converted to float32 once.  Functions that take ``out=`` write there and
return it, so a caller that keeps its buffers allocates nothing.

This module is the seam between the layers and the kernels: layers, losses and
optimizers compute only through it.  A function whose first array is a
``pynn.cuda.DeviceArray`` runs on the GPU instead (pynn._cuda_ops: the same
arguments, device arrays out); host and device arrays in one call are a
TypeError.  Functions without a GPU kernel (the recurrent cells, the
embedding, ``affine_warp``) take NumPy arrays only.
"""
import collections
import functools

import numpy as np

from . import _cuda_ops
from . import _kernels as _k
from .cuda import DeviceArray as _Device

__all__ = [
    "matmul", "dense", "dense_grad", "bias_add", "activation", "activation_grad", "bias_grad",
    "linear", "relu", "relu6", "leaky_relu", "elu", "sigmoid", "hard_sigmoid",
    "hard_swish", "tanh", "softplus", "swish", "softmax",
    "loss", "sparse_loss", "LOSS_KINDS",
    "sgd_update", "rmsprop_update", "adam_update", "weight_penalty",
    "dropout", "dropout_grad", "gather_rows", "all_finite", "accuracy_count",
    "conv2d", "conv2d_grad", "depthwise_conv2d", "depthwise_conv2d_grad", "conv1d",
    "conv_geometry", "conv_output_length", "pool_geometry", "padding_1d",
    "max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad",
    "global_avg_pool2d", "global_max_pool2d", "global_pool2d_grad",
    "moments", "channel_affine", "batch_norm_grad", "batch_norm_affine", "moving_average", "fold_affine",
    "batch_norm_sums", "batch_norm_grad_from_sums",
    "add", "subtract", "multiply", "maximum", "minimum", "axpby", "extremum_grad",
    "reduce_to_shape", "concatenate", "concatenate_grad", "batch_matmul", "l2_normalize",
    "l2_normalize_grad",
    "embedding", "embedding_grad",
    "lstm", "lstm_grad", "gru", "gru_grad", "simple_rnn", "simple_rnn_grad",
    "RecurrentTrace", "RecurrentGrads", "RECURRENT_ACTIVATIONS",
    "affine_warp", "INTERPOLATIONS", "FILL_MODES",
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
    if type(x) is _Device:
        _mixed(name)
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: cannot convert {type(x).__name__} to float32: {e}") from None


def _mixed(name):
    raise TypeError(f"{name}: got a pynn.cuda.DeviceArray where a NumPy array is needed: the "
                    f"other arrays of this call are on the host (host and device arrays do not "
                    f"mix), or this function has no GPU kernel; copy it with .to_numpy()")


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
    if type(a) is _Device:
        return _cuda_ops.matmul(a, b, out, alpha=alpha, beta=beta)
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
    call: writes ``kernel_grad`` and ``bias_grad`` when given (None skips
    them) and returns the input gradient (None when ``input_grad`` is
    False).  ``y`` is the
    forward output; ``pre`` the pre-activation, needed only by the
    activations in NEEDS_INPUT."""
    if type(x) is _Device:
        return _cuda_ops.dense_grad(x, kernel, dy, activation, y, pre, alpha, kernel_grad, bias_grad, input_grad, work)
    code = _act_code(activation)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(activation, 0.0)
    if activation in NEEDS_INPUT and pre is None:
        raise ValueError(f"Dense: the gradient of {activation} needs the pre-activation")
    x, kernel, dy = _c32(x, "x"), _c32(kernel, "kernel"), _c32(dy, "dy")
    if kernel_grad is not None:
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
    if type(x) is _Device:
        return _cuda_ops.dense(x, kernel, bias, activation, alpha, out)
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
    if type(x) is _Device:
        return _cuda_ops.activation(x, name, bias, alpha, out)
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
    if type(y) is _Device:
        return _cuda_ops.activation_grad(name, x, y, dy, alpha, out)
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
    if type(dy) is _Device:
        return _cuda_ops.bias_grad(dy, out)
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
    if type(x) is _Device:
        return _cuda_ops.softmax(x, axis, out)
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
    if type(y_pred) is _Device:
        return _cuda_ops.loss(kind, y_true, y_pred, sample_weight, scale, grad, out)
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
    if type(y_pred) is _Device:
        return _cuda_ops.sparse_loss(labels, y_pred, from_logits, sample_weight, scale, grad, out)
    y_pred = _c32(y_pred, "y_pred")
    if type(labels) is _Device:
        _mixed("sparse_categorical_crossentropy: labels")
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
    if type(w) is _Device:
        return _cuda_ops.sgd_update(w, g, v, lr, momentum, nesterov)
    _k.sgd_update(w, g, v, lr, momentum, nesterov)


def rmsprop_update(w, g, s, lr=0.001, rho=0.9, epsilon=1e-7):
    """In place: Keras's RMSprop step (``s`` is the mean square)."""
    if type(w) is _Device:
        return _cuda_ops.rmsprop_update(w, g, s, lr, rho, epsilon)
    _k.rmsprop_update(w, g, s, lr, rho, epsilon)


def weight_penalty(w, l1=0.0, l2=0.0, grad=None):
    """``sum(l1 * |w| + l2 * w**2)`` (L1/L2 regularization), adding its
    gradient ``l1 * sign(w) + 2 * l2 * w`` into ``grad`` when given."""
    if type(w) is _Device:
        return _cuda_ops.weight_penalty(w, l1, l2, grad)
    w = _c32(w, "weight_penalty: w")
    if grad is not None:
        grad = _out(grad, w.shape, "weight_penalty: grad")
    return float(_k.weight_penalty(w, grad, float(l1), float(l2)))


def adam_update(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """In place: Keras's Adam step number ``t`` (1-based)."""
    if type(w) is _Device:
        return _cuda_ops.adam_update(w, g, m, v, t, lr, beta_1, beta_2, epsilon)
    _k.adam_update(w, g, m, v, lr, beta_1, beta_2, epsilon, t)


# ------------------------------------------------------------ elementwise

def dropout(x, rate, seed, out=None, mask=None, offset=0):
    """Inverted dropout: zero each element with probability ``rate`` and
    scale the rest by ``1 / (1 - rate)``.  Returns ``(y, mask)``.  Element
    i draws from ``(seed, offset + i)``: a shard of a batch passes its
    first element's index in the batch to draw the batch's own mask."""
    if type(x) is _Device:
        return _cuda_ops.dropout(x, rate, seed, out, mask, offset)
    x = _c32(x)
    out = _out(out, x.shape, "Dropout")
    if mask is None:
        mask = np.empty(x.shape, np.uint8)
    _k.dropout_forward(x, out, mask, rate, seed, int(offset))
    return out, mask


def dropout_grad(dy, mask, rate, out=None):
    if type(dy) is _Device:
        return _cuda_ops.dropout_grad(dy, mask, rate, out)
    dy = _c32(dy, "dy")
    out = _out(out, dy.shape, "Dropout")
    return _k.dropout_backward(dy, mask, out, rate)


def gather_rows(src, index, out=None):
    """``src[index]`` along the first axis, written into ``out``."""
    if type(src) is _Device:
        return _cuda_ops.gather_rows(src, index, out)
    if type(index) is _Device or type(out) is _Device:
        _mixed("gather: index and out")
    index = np.asarray(index, dtype=np.int64)
    if out is None:
        out = np.empty((index.size,) + src.shape[1:], src.dtype)
    return _k.gather_rows(np.ascontiguousarray(src), np.ascontiguousarray(index), out)


ACCURACY_KINDS = {"categorical": 0, "sparse": 1, "binary": 2}


def accuracy_count(kind, y_true, y_pred, sample_weight=None, threshold=0.5):
    """Weighted number of correct predictions: ``kind`` 'categorical'
    (argmax of both), 'sparse' (argmax against int32 labels) or 'binary'
    (``y_pred > threshold`` against ``y_true > 0.5``, averaged per sample)."""
    if type(y_pred) is _Device:
        return _cuda_ops.accuracy_count(kind, y_true, y_pred, sample_weight, threshold)
    y_pred = _c32(y_pred, "y_pred")
    if kind == "sparse":
        if type(y_true) is _Device:
            _mixed("accuracy: y_true")
        y_true = np.ascontiguousarray(y_true, dtype=np.int32)
    else:
        y_true = _c32(y_true, "y_true")
    if sample_weight is not None:
        sample_weight = _c32(sample_weight, "sample_weight")
    return _k.accuracy(ACCURACY_KINDS[kind], y_pred, y_true, sample_weight, threshold)


def all_finite(x):
    """True when no element of the float array is NaN or infinite."""
    if type(x) is _Device:
        return _cuda_ops.all_finite(x)
    return _k.all_finite(_c32(x))


# ----------------------------------------------------------- convolution

def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"{name}: expected an int or a pair of ints, got {v!r}")
    return v


def conv_output_length(size, kernel, stride, dilation, padding):
    """Output length and padding before, along one axis, under TensorFlow's
    rules: 'valid' uses only whole windows; 'same' gives ceil(size / stride)
    outputs and pads the total shortfall, the extra one after.  ``padding``
    may also be an explicit (before, after) pair.  None sizes give None."""
    span = (kernel - 1) * dilation + 1
    if isinstance(padding, tuple):
        before, after = padding
        if size is None:
            return None, before
        return (size + before + after - span) // stride + 1, before
    if size is None:
        return None, 0
    if padding == "valid":
        return (size - span) // stride + 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2


def _padding(padding, name):
    if isinstance(padding, str):
        p = padding.lower()
        if p not in ("valid", "same"):
            raise ValueError(f"{name}: padding must be 'valid' or 'same', got {padding!r}")
        return p, p
    try:
        (t, b), (l, r) = padding
        pads = ((int(t), int(b)), (int(l), int(r)))
    except (TypeError, ValueError):
        raise ValueError(f"{name}: padding must be 'valid', 'same' or "
                         f"((top, bottom), (left, right)), got {padding!r}") from None
    if min(pads[0] + pads[1]) < 0:
        raise ValueError(f"{name}: padding must not be negative, got {padding!r}")
    return pads


def conv_geometry(in_shape, kernel_hw, strides, padding, dilation_rate, name="conv2d"):
    """Output (height, width) and the kernels' geometry tuple (sh, sw, dh,
    dw, pad_top, pad_left) for an NHWC input shape."""
    try:
        return _conv_geometry(tuple(in_shape), tuple(kernel_hw), strides, padding,
                              dilation_rate, name)
    except TypeError:  # unhashable arguments (lists): compute without the cache
        return _conv_geometry.__wrapped__(tuple(in_shape), tuple(kernel_hw), strides, padding,
                                          dilation_rate, name)


# A layer asks for the same few geometries on every step: computing them
# once keeps a small image's predict in microseconds.
@functools.lru_cache(maxsize=256)
def _conv_geometry(in_shape, kernel_hw, strides, padding, dilation_rate, name):
    sh, sw = _pair(strides, f"{name}: strides")
    dh, dw = _pair(dilation_rate, f"{name}: dilation_rate")
    if min(sh, sw, dh, dw) < 1:
        raise ValueError(f"{name}: strides and dilation_rate must be >= 1, got "
                         f"{(sh, sw)} and {(dh, dw)}")
    if (sh > 1 or sw > 1) and (dh > 1 or dw > 1):
        raise ValueError(f"{name}: strides > 1 cannot be combined with dilation_rate > 1")
    ph, pw = _padding(padding, name)
    kh, kw = kernel_hw
    oh, top = conv_output_length(in_shape[1], kh, sh, dh, ph)
    ow, left = conv_output_length(in_shape[2], kw, sw, dw, pw)
    if (oh is not None and oh < 1) or (ow is not None and ow < 1):
        raise ValueError(f"{name}: a {kh}x{kw} kernel (dilation {(dh, dw)}) does not fit an "
                         f"input of shape {tuple(in_shape)} with padding {padding!r}")
    return (oh, ow), (sh, sw, dh, dw, top, left)


def _conv_args(x, kernel, name, depthwise=False):
    x = _c32(x, f"{name}: input")
    kernel = _c32(kernel, f"{name}: kernel")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected an NHWC input of rank 4, got shape {x.shape}")
    if kernel.ndim != 4:
        raise ValueError(f"{name}: expected a kernel of rank 4 "
                         f"(height, width, in, {'multiplier' if depthwise else 'out'}), "
                         f"got shape {kernel.shape}")
    if kernel.shape[2] != x.shape[3]:
        raise ValueError(f"{name}: the kernel of shape {kernel.shape} expects "
                         f"{kernel.shape[2]} input channels, the input of shape {x.shape} "
                         f"has {x.shape[3]}")
    return x, kernel


def _conv(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out,
          depthwise, name):
    code = _act_code(activation)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(activation, 0.0)
    if out is not None:
        # Fast path for the layers' own buffers (a small image's predict is
        # a few microseconds of arithmetic per layer): the bridge checks
        # dtypes, contiguity and sizes, the cached geometry gives the shape
        # out must have; anything else takes the path below, which converts
        # or explains.
        try:
            (oh, ow), geo = _conv_geometry(x.shape, kernel.shape[:2], strides, padding,
                                           dilation_rate, name)
            if out.shape[1] == oh and out.shape[2] == ow:
                return _k.conv2d_forward(x, kernel, bias, geo, code, alpha, out, depthwise)
        except (TypeError, ValueError, AttributeError, IndexError):
            pass
    x, kernel = _conv_args(x, kernel, name, depthwise)
    (oh, ow), geo = conv_geometry(x.shape, kernel.shape[:2], strides, padding, dilation_rate,
                                  name)
    channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    out = _out(out, (x.shape[0], oh, ow, channels), name)
    if bias is not None:
        bias = _c32(bias, f"{name}: bias")
        if bias.shape != (channels,):
            raise ValueError(f"{name}: bias must have shape ({channels},), got {bias.shape}")
    return _k.conv2d_forward(x, kernel, bias, geo, code, alpha, out, depthwise)


def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
           activation="linear", alpha=None, out=None):
    """2-D convolution of NHWC ``x`` with an HWIO ``kernel`` (cross-correlation,
    as in Keras and TensorFlow), plus ``bias`` and ``activation`` fused into
    the output pass.  ``padding`` is 'valid', 'same' (TensorFlow's rule) or
    ((top, bottom), (left, right))."""
    if type(x) is _Device:
        return _cuda_ops.conv2d(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out)
    return _conv(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out,
                 False, "conv2d")


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid",
                     dilation_rate=(1, 1), activation="linear", alpha=None, out=None):
    """Depthwise 2-D convolution: each input channel c is convolved with its
    own ``kernel[:, :, c, m]`` for m in the depth multiplier; output channel
    ``c * multiplier + m``."""
    if type(x) is _Device:
        return _cuda_ops.depthwise_conv2d(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out)
    return _conv(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out,
                 True, "depthwise_conv2d")


def _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
               input_grad, depthwise, name, activation="linear", y=None, pre=None,
               alpha=None):
    code = _act_code(activation)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(activation, 0.0)
    if code != 0:
        if y is None or (activation in NEEDS_INPUT and pre is None):
            raise ValueError(f"{name}: the gradient through {activation} needs the forward "
                             f"output y" + (" and the pre-activation" if activation in
                                            NEEDS_INPUT else ""))
        y = _c32(y, f"{name}: y")
        pre = None if pre is None else _c32(pre, f"{name}: pre")
    x, kernel = _conv_args(x, kernel, name, depthwise)
    dy = _c32(dy, f"{name}: dy")
    (oh, ow), geo = conv_geometry(x.shape, kernel.shape[:2], strides, padding, dilation_rate,
                                  name)
    channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    if dy.shape != (x.shape[0], oh, ow, channels):
        raise ValueError(f"{name}: dy must have the output's shape "
                         f"{(x.shape[0], oh, ow, channels)}, got {dy.shape}")
    if kernel_grad is not None:
        kernel_grad = _out(kernel_grad, kernel.shape, f"{name}: kernel gradient")
    if bias_grad is not None:
        bias_grad = _out(bias_grad, (channels,), f"{name}: bias gradient")
    dx = None
    if input_grad is True:
        dx = np.empty(x.shape, np.float32)
    elif input_grad is not False and input_grad is not None:
        dx = _out(input_grad, x.shape, f"{name}: input gradient")
    _k.conv2d_backward(x, kernel, dy, kernel_grad, bias_grad, dx, geo, depthwise, code, alpha,
                       pre, y)
    return dx


def conv2d_grad(x, kernel, dy, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                kernel_grad=None, bias_grad=None, input_grad=True, activation="linear",
                y=None, pre=None, alpha=None):
    """Gradients of ``y = activation(conv2d(x, kernel) + bias)`` from ``dy``,
    the gradient of ``y``: writes ``kernel_grad`` and ``bias_grad`` when
    given and returns the input gradient (None when ``input_grad`` is False;
    an array to write it into otherwise).  The activation's derivative is
    applied inside the kernel; it needs the forward output ``y``, and
    ``pre`` (the pre-activation) for the activations in NEEDS_INPUT."""
    if type(x) is _Device:
        return _cuda_ops.conv2d_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad, input_grad, activation, y, pre, alpha)
    return _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
                      input_grad, False, "conv2d", activation, y, pre, alpha)


def depthwise_conv2d_grad(x, kernel, dy, strides=(1, 1), padding="valid",
                          dilation_rate=(1, 1), kernel_grad=None, bias_grad=None,
                          input_grad=True):
    """Gradients of ``depthwise_conv2d``, as ``conv2d_grad``."""
    if type(x) is _Device:
        return _cuda_ops.depthwise_conv2d_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad, input_grad)
    return _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
                      input_grad, True, "depthwise_conv2d")


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
           activation="linear", alpha=None, out=None):
    """1-D convolution of (batch, steps, channels) ``x`` with a (width, in,
    out) ``kernel``: the 2-D kernels at height 1.  ``padding`` may also be
    'causal' (all the padding before the first step)."""
    if type(x) is _Device:
        return _cuda_ops.conv1d(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out)
    x, kernel = _c32(x, "conv1d: input"), _c32(kernel, "conv1d: kernel")
    if x.ndim != 3 or kernel.ndim != 3:
        raise ValueError(f"conv1d: expected a rank-3 input and kernel, got shapes {x.shape} "
                         f"and {kernel.shape}")
    pad = padding_1d(padding, kernel.shape[0], dilation_rate, "conv1d")
    y = conv2d(x[:, None], kernel[None], bias, (1, strides), pad, (1, dilation_rate),
               activation, alpha, None if out is None else out[:, None])
    return y[:, 0]


def padding_1d(padding, width, dilation, name="conv1d"):
    """A 1-D convolution's padding in conv2d's terms (height 1): 'causal'
    puts all of it before the first step."""
    if padding == "causal":
        return ((0, 0), ((width - 1) * int(dilation), 0))
    if isinstance(padding, str):
        return padding
    raise ValueError(f"{name}: padding must be 'valid', 'same' or 'causal', got {padding!r}")


# --------------------------------------------------------------- pooling

def pool_geometry(in_shape, pool_size, strides, padding, name="pool2d"):
    """Output (height, width) and the kernels' window tuple (ph, pw, sh, sw,
    pad_top, pad_left); ``strides`` default to the pool size, as in Keras."""
    try:
        return _pool_geometry(tuple(in_shape), pool_size, strides, padding, name)
    except TypeError:  # unhashable arguments (lists): compute without the cache
        return _pool_geometry.__wrapped__(tuple(in_shape), pool_size, strides, padding, name)


@functools.lru_cache(maxsize=256)
def _pool_geometry(in_shape, pool_size, strides, padding, name):
    ph, pw = _pair(pool_size, f"{name}: pool_size")
    sh, sw = _pair(strides if strides is not None else (ph, pw), f"{name}: strides")
    if min(ph, pw, sh, sw) < 1:
        raise ValueError(f"{name}: pool_size and strides must be >= 1, got "
                         f"{(ph, pw)} and {(sh, sw)}")
    p, _ = _padding(padding, name)
    if isinstance(p, tuple):
        raise ValueError(f"{name}: padding must be 'valid' or 'same', got {padding!r}")
    oh, top = conv_output_length(in_shape[1], ph, sh, 1, p)
    ow, left = conv_output_length(in_shape[2], pw, sw, 1, p)
    if (oh is not None and oh < 1) or (ow is not None and ow < 1):
        raise ValueError(f"{name}: a {ph}x{pw} window does not fit an input of shape "
                         f"{tuple(in_shape)} with padding {padding!r}")
    return (oh, ow), (ph, pw, sh, sw, top, left)


def _pool_input(x, name):
    x = _c32(x, f"{name}: input")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected an NHWC input of rank 4, got shape {x.shape}")
    return x


def _pool(forward, name, x, pool_size, strides, padding, out):
    """A pooling kernel over NHWC x.  With ``out`` given (the layers' own
    buffers) the bridge checks the arrays and the cached geometry the
    output's shape, as in _conv; anything it rejects takes the full checks
    and their messages."""
    if out is not None:
        try:
            (oh, ow), win = _pool_geometry(x.shape, pool_size, strides, padding, name)
            if out.shape[1] == oh and out.shape[2] == ow:
                return forward(x, win, out)
        except (TypeError, ValueError, AttributeError, IndexError):
            pass
    x = _pool_input(x, name)
    (oh, ow), win = pool_geometry(x.shape, pool_size, strides, padding, name)
    out = _out(out, (x.shape[0], oh, ow, x.shape[3]), name)
    return forward(x, win, out)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid", out=None):
    """Max pooling over NHWC ``x`` (on ties, the first maximum in scan
    order is the one whose input gets the gradient)."""
    if type(x) is _Device:
        return _cuda_ops.max_pool2d(x, pool_size, strides, padding, out)
    return _pool(_k.max_pool2d_forward, "max_pool2d", x, pool_size, strides, padding, out)


def max_pool2d_grad(dy, x, y, pool_size=(2, 2), strides=None, padding="valid", out=None):
    """The input gradient of ``y = max_pool2d(x, ...)``: dy routed to each
    window's maximum, found again from ``x`` and ``y``."""
    if type(dy) is _Device:
        return _cuda_ops.max_pool2d_grad(dy, x, y, pool_size, strides, padding, out)
    x = _pool_input(x, "max_pool2d backward")
    dy, y = _c32(dy, "max_pool2d backward: dy"), _c32(y, "max_pool2d backward: y")
    (oh, ow), win = pool_geometry(x.shape, pool_size, strides, padding, "max_pool2d")
    want = (x.shape[0], oh, ow, x.shape[3])
    if dy.shape != want or y.shape != want:
        raise ValueError(f"max_pool2d backward: dy and y must have the output's shape {want}, "
                         f"got {dy.shape} and {y.shape}")
    out = _out(out, x.shape, "max_pool2d backward")
    return _k.max_pool2d_backward(x, y, dy, win, out)


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid", out=None):
    """Average pooling over NHWC ``x``; with 'same' padding a window's mean
    counts only the pixels inside the input, as TensorFlow does."""
    if type(x) is _Device:
        return _cuda_ops.avg_pool2d(x, pool_size, strides, padding, out)
    return _pool(_k.avg_pool2d_forward, "avg_pool2d", x, pool_size, strides, padding, out)


def avg_pool2d_grad(dy, input_shape, pool_size=(2, 2), strides=None, padding="valid",
                    out=None):
    """The input gradient of ``avg_pool2d``."""
    if type(dy) is _Device:
        return _cuda_ops.avg_pool2d_grad(dy, input_shape, pool_size, strides, padding, out)
    dy = _c32(dy, "avg_pool2d backward: dy")
    input_shape = tuple(input_shape)
    _, win = pool_geometry(input_shape, pool_size, strides, padding, "avg_pool2d")
    out = _out(out, input_shape, "avg_pool2d backward")
    return _k.avg_pool2d_backward(dy, win, out)


def _global_pool(forward, name, x, out):
    """A pooling kernel with the whole image as its one window."""
    x = _pool_input(x, name)
    y = _out(out, (x.shape[0], x.shape[3]), name)
    forward(x, (x.shape[1], x.shape[2], 1, 1, 0, 0), y.reshape(x.shape[0], 1, 1, x.shape[3]))
    return y


def global_avg_pool2d(x, out=None):
    """Mean over height and width: (batch, h, w, c) -> (batch, c)."""
    if type(x) is _Device:
        return _cuda_ops.global_avg_pool2d(x, out)
    return _global_pool(_k.avg_pool2d_forward, "global_avg_pool2d", x, out)


def global_max_pool2d(x, out=None):
    """Maximum over height and width: (batch, h, w, c) -> (batch, c)."""
    if type(x) is _Device:
        return _cuda_ops.global_max_pool2d(x, out)
    return _global_pool(_k.max_pool2d_forward, "global_max_pool2d", x, out)


def global_pool2d_grad(kind, dy, x, y=None, out=None):
    """The input gradient of ``global_avg_pool2d`` (kind 'avg') or of
    ``y = global_max_pool2d(x)`` (kind 'max', which needs y)."""
    if type(dy) is _Device:
        return _cuda_ops.global_pool2d_grad(kind, dy, x, y, out)
    x = _pool_input(x, f"global_{kind}_pool2d backward")
    n, h, w, c = x.shape
    shape4 = (n, 1, 1, c)
    dy4 = _c32(dy, f"global_{kind}_pool2d backward: dy").reshape(shape4)
    out = _out(out, x.shape, f"global_{kind}_pool2d backward")
    win = (h, w, 1, 1, 0, 0)
    if kind == "max":
        if y is None:
            raise ValueError("global_max_pool2d backward: the forward output y is required")
        return _k.max_pool2d_backward(x, _c32(y, "y").reshape(shape4), dy4, win, out)
    return _k.avg_pool2d_backward(dy4, win, out)


# --------------------------------------------------------- normalization

def moments(x, mean=None, var=None):
    """Mean and (biased) variance of ``x`` over every axis but the last."""
    if type(x) is _Device:
        return _cuda_ops.moments(x, mean, var)
    x = _c32(x, "moments: x")
    c = x.shape[-1] if x.ndim else 1
    mean = _out(mean, (c,), "moments: mean")
    var = _out(var, (c,), "moments: variance")
    return _k.moments(x, mean, var)


def channel_affine(x, scale, shift, out=None):
    """``x * scale + shift`` over the last axis (batch normalization once its
    statistics are known)."""
    if type(x) is _Device:
        return _cuda_ops.channel_affine(x, scale, shift, out)
    x = _c32(x, "channel_affine: x")
    out = _out(out, x.shape, "channel_affine")
    return _k.channel_affine(x, _c32(scale, "scale"), _c32(shift, "shift"), out)


def batch_norm_grad(x, dy, mean, inv_std, gamma=None, gamma_grad=None, beta_grad=None,
                    input_grad=True):
    """Gradients of training-mode batch normalization
    ``y = gamma * (x - mean) * inv_std + beta`` (mean and inv_std from the
    batch itself): writes ``gamma_grad`` and ``beta_grad`` when given and
    returns the input gradient (None when ``input_grad`` is False)."""
    if type(x) is _Device:
        return _cuda_ops.batch_norm_grad(x, dy, mean, inv_std, gamma, gamma_grad, beta_grad, input_grad)
    x, dy = _c32(x, "BatchNormalization: x"), _c32(dy, "BatchNormalization: dy")
    if x.shape != dy.shape:
        raise ValueError(f"BatchNormalization: dy of shape {dy.shape} does not match "
                         f"x of shape {x.shape}")
    dx = None
    if input_grad is True:
        dx = np.empty(x.shape, np.float32)
    elif input_grad is not False and input_grad is not None:
        dx = _out(input_grad, x.shape, "BatchNormalization: input gradient")
    _k.batchnorm_backward(x, dy, mean, inv_std, gamma, dx, gamma_grad, beta_grad)
    return dx


def batch_norm_sums(x, dy, mean, inv_std):
    """Per channel, ``sum(dy)`` and ``sum(dy * xhat)`` over the rows of
    ``x`` and ``dy`` (float64): what a batch normalization's backward pass
    over a batch split across processes sums across them."""
    x, dy = _c32(x, "batch_norm_sums: x"), _c32(dy, "batch_norm_sums: dy")
    xhat = (x.astype(np.float64) - mean) * inv_std
    return dy.sum(axis=0, dtype=np.float64), (dy * xhat).sum(axis=0)


def batch_norm_grad_from_sums(x, dy, mean, inv_std, gamma, sum_dy, sum_dy_xhat, count,
                              out=None):
    """The input gradient of training-mode batch normalization from the
    per-channel sums of the whole batch (``count`` rows, perhaps on several
    processes): ``gamma * inv_std * (dy - sum_dy / count - xhat *
    sum_dy_xhat / count)``."""
    x, dy = _c32(x, "BatchNormalization: x"), _c32(dy, "BatchNormalization: dy")
    xhat = (x.astype(np.float64) - mean) * inv_std
    g = (inv_std if gamma is None else np.asarray(gamma, np.float64) * inv_std)
    dx = g * (dy - sum_dy / count - xhat * (sum_dy_xhat / count))
    out = _out(out, x.shape, "BatchNormalization: input gradient")
    out[...] = dx
    return out


def batch_norm_affine(mean, var, gamma=None, beta=None, epsilon=1e-3):
    """The per-channel (scale, shift, inv_std) with which batch normalization
    is ``x * scale + shift``: inv_std = 1 / sqrt(var + epsilon), scale =
    gamma * inv_std, shift = beta - mean * scale."""
    if type(mean) is _Device:
        return _cuda_ops.batch_norm_affine(mean, var, gamma, beta, epsilon)
    inv_std = (1.0 / np.sqrt(np.asarray(var, np.float64) + epsilon)).astype(np.float32)
    scale = inv_std if gamma is None else (inv_std * gamma).astype(np.float32)
    shift = -np.asarray(mean, np.float32) * scale
    if beta is not None:
        shift += beta
    return scale, shift.astype(np.float32), inv_std


def moving_average(variable, value, momentum):
    """``variable = variable * momentum + value * (1 - momentum)``, in place."""
    if type(variable) is _Device:
        return _cuda_ops.moving_average(variable, value, momentum)
    variable *= np.float32(momentum)
    variable += np.float32(1.0 - momentum) * value
    return variable


def fold_affine(kernel, bias, scale, shift, channel_shape=None):
    """The kernel and bias of a linear layer followed by ``y * scale +
    shift`` per output channel: ``kernel * scale`` over its output axes and
    ``bias * scale + shift``.  ``channel_shape`` is how the output channels
    lie over the kernel's last axes ((in, multiplier) for a depthwise
    kernel); by default the last axis."""
    if type(kernel) is _Device:
        return _cuda_ops.fold_affine(kernel, bias, scale, shift, channel_shape)
    kernel = _f32(kernel, "fold_affine: kernel")
    scale = _f32(scale, "fold_affine: scale")
    shape = channel_shape or (scale.size,)
    folded = (kernel * scale.reshape(shape)).astype(np.float32)
    b = scale * 0 if bias is None else _f32(bias, "fold_affine: bias")
    return np.ascontiguousarray(folded), (b * scale + shift).astype(np.float32)


# ---------------------------------------------------------------- merging

_BINARY = {"add": 0, "subtract": 1, "multiply": 2, "maximum": 3, "minimum": 4}


def _binary(name, a, b, out):
    a, b = _c32(a, f"{name}: a"), _c32(b, f"{name}: b")
    if a.shape != b.shape:
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be "
                             f"broadcast together") from None
        a = np.ascontiguousarray(np.broadcast_to(a, shape))
        b = np.ascontiguousarray(np.broadcast_to(b, shape))
    out = _out(out, a.shape, name)
    return _k.binary(_BINARY[name], a, b, out)


def add(a, b, out=None):
    """``a + b`` elementwise (NumPy broadcasting); ``out`` may be ``a`` or
    ``b``."""
    if type(a) is _Device:
        return _cuda_ops.add(a, b, out)
    return _binary("add", a, b, out)


def subtract(a, b, out=None):
    """``a - b`` elementwise (NumPy broadcasting)."""
    if type(a) is _Device:
        return _cuda_ops.subtract(a, b, out)
    return _binary("subtract", a, b, out)


def multiply(a, b, out=None):
    """``a * b`` elementwise (NumPy broadcasting)."""
    if type(a) is _Device:
        return _cuda_ops.multiply(a, b, out)
    return _binary("multiply", a, b, out)


def maximum(a, b, out=None):
    """The elementwise maximum (NaN if either is NaN, as NumPy)."""
    if type(a) is _Device:
        return _cuda_ops.maximum(a, b, out)
    return _binary("maximum", a, b, out)


def minimum(a, b, out=None):
    """The elementwise minimum (NaN if either is NaN, as NumPy)."""
    if type(a) is _Device:
        return _cuda_ops.minimum(a, b, out)
    return _binary("minimum", a, b, out)


def axpby(alpha, a, beta=0.0, b=None, out=None):
    """``alpha * a + beta * b`` (``alpha * a`` without ``b``) for arrays of
    one shape; ``out`` may be ``a`` or ``b``."""
    if type(a) is _Device:
        return _cuda_ops.axpby(alpha, a, beta, b, out)
    a = _c32(a, "axpby: a")
    if b is not None:
        b = _c32(b, "axpby: b")
        if b.shape != a.shape:
            raise ValueError(f"axpby: shapes {a.shape} and {b.shape} differ")
    out = _out(out, a.shape, "axpby")
    return _k.axpby(float(alpha), a, float(beta), b, out)


def extremum_grad(xs, y, dy, outs=None):
    """The gradients of ``y``, the elementwise maximum (or minimum) of the
    arrays ``xs``: each element of ``dy`` goes to the first input equal to
    ``y`` there (TensorFlow's rule for ties).  ``outs`` (a list, entries may
    be None to skip an input) receives them; returns the list."""
    if type(y) is _Device:
        return _cuda_ops.extremum_grad(xs, y, dy, outs)
    xs = [_c32(x, "extremum_grad: input") for x in xs]
    y, dy = _c32(y, "extremum_grad: y"), _c32(dy, "extremum_grad: dy")
    for x in xs + [dy]:
        if x.shape != y.shape:
            raise ValueError(f"extremum_grad: shapes {x.shape} and {y.shape} differ")
    if outs is None:
        outs = [np.empty(y.shape, np.float32) for _ in xs]
    outs = [None if o is None else _out(o, y.shape, "extremum_grad") for o in outs]
    return _k.extremum_backward(xs, y, dy, outs)


def reduce_to_shape(g, shape):
    """``g`` summed over the axes along which an input of ``shape`` was
    broadcast to ``g``'s shape: the gradient of that input."""
    if type(g) is _Device:
        return _cuda_ops.reduce_to_shape(g, shape)
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    return np.ascontiguousarray(g.sum(axis=axes, dtype=np.float32).reshape(shape))


def _axis(axis, ndim, name):
    try:
        axis = int(axis)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: axis must be an integer, got {axis!r}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for arrays of rank {ndim}")
    return axis % ndim


def concatenate(xs, axis=-1, out=None):
    """The arrays ``xs`` joined along ``axis`` (their other dimensions
    equal), copied in C block by block."""
    if isinstance(xs, (list, tuple)) and xs and type(xs[0]) is _Device:
        return _cuda_ops.concatenate(xs, axis, out)
    xs = [_c32(x, "concatenate: input") for x in xs]
    if not xs:
        raise ValueError("concatenate: expected at least one array")
    ndim = xs[0].ndim
    axis = _axis(axis, ndim, "concatenate")
    for x in xs:
        if x.ndim != ndim or x.shape[:axis] != xs[0].shape[:axis] or \
                x.shape[axis + 1:] != xs[0].shape[axis + 1:]:
            raise ValueError(f"concatenate: shapes {[t.shape for t in xs]} differ off axis "
                             f"{axis}")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = _out(out, tuple(shape), "concatenate")
    rows = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    ldd, offset = shape[axis] * inner, 0
    for x in xs:
        cols = x.shape[axis] * inner
        _k.copy_block(x, 0, max(cols, 1), out, offset, max(ldd, 1), rows, cols)
        offset += cols
    return out


def concatenate_grad(dy, sizes, axis=-1, outs=None):
    """The gradients of ``concatenate`` for inputs of ``sizes`` along
    ``axis``: the slices of ``dy``.  ``outs`` entries may be None to skip
    an input; returns the list."""
    if type(dy) is _Device:
        return _cuda_ops.concatenate_grad(dy, sizes, axis, outs)
    dy = _c32(dy, "concatenate backward: dy")
    axis = _axis(axis, dy.ndim, "concatenate backward")
    if sum(sizes) != dy.shape[axis]:
        raise ValueError(f"concatenate backward: sizes {list(sizes)} do not add up to "
                         f"{dy.shape[axis]}")
    rows = int(np.prod(dy.shape[:axis], dtype=np.int64))
    inner = int(np.prod(dy.shape[axis + 1:], dtype=np.int64))
    lds, offset = dy.shape[axis] * inner, 0
    outs = list(outs) if outs is not None else [True] * len(sizes)
    for i, size in enumerate(sizes):
        cols = size * inner
        if outs[i] is not None:
            shape = dy.shape[:axis] + (size,) + dy.shape[axis + 1:]
            o = np.empty(shape, np.float32) if outs[i] is True else \
                _out(outs[i], shape, "concatenate backward")
            _k.copy_block(dy, offset, max(lds, 1), o, 0, max(cols, 1), rows, cols)
            outs[i] = o
        offset += cols
    return outs


def batch_matmul(a, b, transpose_a=False, transpose_b=False, out=None):
    """``a[i] @ b[i]`` for each i of two 3-D arrays, optionally transposing
    the last two axes of either."""
    if type(a) is _Device:
        return _cuda_ops.batch_matmul(a, b, transpose_a, transpose_b, out)
    a, b = _c32(a, "batch_matmul: a"), _c32(b, "batch_matmul: b")
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"batch_matmul: expected two 3-D arrays with the same first "
                         f"dimension, got shapes {a.shape} and {b.shape}")
    m, k = (a.shape[2], a.shape[1]) if transpose_a else a.shape[1:]
    kb, n = (b.shape[2], b.shape[1]) if transpose_b else b.shape[1:]
    if k != kb:
        raise ValueError(f"batch_matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({k} != {kb})")
    out = _out(out, (a.shape[0], m, n), "batch_matmul")
    return _k.sgemm_batched(a, b, out, bool(transpose_a), bool(transpose_b))


def l2_normalize(x, axis=-1, epsilon=1e-12, out=None, norms=None):
    """``x / sqrt(max(sum(x**2, axis), epsilon))`` (Keras's l2_normalize).
    ``norms``, when given, receives the reciprocal norms the gradient
    needs (one per vector)."""
    if type(x) is _Device:
        return _cuda_ops.l2_normalize(x, axis, epsilon, out, norms)
    x = _c32(x, "l2_normalize: x")
    axis = _axis(axis, x.ndim, "l2_normalize")
    moved = axis != x.ndim - 1
    xm = np.ascontiguousarray(np.moveaxis(x, axis, -1)) if moved else x
    rows = xm.size // xm.shape[-1] if xm.shape[-1] else 0
    norms = _out(norms, (rows,), "l2_normalize: norms")
    y = np.empty(xm.shape, np.float32) if (moved or out is None) else \
        _out(out, x.shape, "l2_normalize")
    _k.l2_normalize_rows(xm, y, norms, float(epsilon))
    if moved:
        y = np.ascontiguousarray(np.moveaxis(y, -1, axis))
        if out is not None:
            out[...] = y
            return out
    return y


def l2_normalize_grad(x, y, norms, dy, axis=-1, epsilon=1e-12, out=None):
    """The input gradient of ``y = l2_normalize(x, axis)`` from ``dy``."""
    if type(x) is _Device:
        return _cuda_ops.l2_normalize_grad(x, y, norms, dy, axis, epsilon, out)
    x, y, dy = _c32(x, "l2_normalize backward: x"), _c32(y), _c32(dy)
    axis = _axis(axis, x.ndim, "l2_normalize backward")
    if axis != x.ndim - 1:
        mv = [np.ascontiguousarray(np.moveaxis(t, axis, -1)) for t in (x, y, dy)]
        dx = np.empty(mv[0].shape, np.float32)
        _k.l2_normalize_backward_rows(mv[0], mv[1], norms, mv[2], dx, float(epsilon))
        return np.ascontiguousarray(np.moveaxis(dx, -1, axis))
    out = _out(out, x.shape, "l2_normalize backward")
    return _k.l2_normalize_backward_rows(x, y, norms, dy, out, float(epsilon))
# ------------------------------------------------------------- embedding

def _ids(ids, name):
    """Integer ids as int32 or int64 (the kernels' two widths), C-contiguous."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name}: ids must be integers, got {ids.dtype}")
    if ids.dtype in (np.int32, np.int64):
        # (np.ascontiguousarray would turn a single id into a 1-element array)
        return ids if ids.flags.c_contiguous else ids.copy()
    if ids.dtype == np.uint64 and ids.size and ids.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: id {ids.max()} is outside any vocabulary")
    return ids.astype(np.int64)


def embedding(table, ids, out=None):
    """Rows of ``table`` (vocab, dim) by integer ``ids`` of any shape:
    returns ``ids.shape + (dim,)``.  Ids outside ``[0, vocab)`` raise
    ValueError naming the smallest and largest of them; float ids raise
    TypeError."""
    table = _c32(table, "embedding: table")
    if table.ndim != 2:
        raise ValueError(f"embedding: the table must be (vocab, dim), got shape {table.shape}")
    ids = _ids(ids, "embedding")
    out = _out(out, ids.shape + (table.shape[1],), "embedding")
    return _k.embedding_gather(table, ids, out)


def embedding_grad(ids, dy, grad, previous_ids=None):
    """The gradient of :func:`embedding` into ``grad`` (vocab, dim), which is
    written in place and returned (a view of a model's flat gradient
    buffer, say).  Only the rows that occur are touched: the rows named by
    ``ids`` are set to the sum of their ``dy`` rows (``dy`` has shape
    ``ids.shape + (dim,)``), and the rows named by ``previous_ids`` (the
    previous batch's ids) and not by ``ids`` are zeroed, so a buffer that
    only ever receives this gradient never needs zeroing whole."""
    if not isinstance(grad, np.ndarray) or grad.dtype != np.float32 or grad.ndim != 2 \
            or not grad.flags.c_contiguous or not grad.flags.writeable:
        got = f"{grad.dtype} array of shape {grad.shape}" if isinstance(grad, np.ndarray) \
            else type(grad).__name__
        raise ValueError(f"embedding gradient: grad must be a writable C-contiguous float32 "
                         f"(vocab, dim) array, got {got}")
    ids = _ids(ids, "embedding gradient")
    dy = _c32(dy, "embedding gradient: dy")
    if dy.shape != ids.shape + (grad.shape[1],):
        raise ValueError(f"embedding gradient: dy must have shape "
                         f"{ids.shape + (grad.shape[1],)} for ids of shape {ids.shape}, "
                         f"got {dy.shape}")
    if previous_ids is not None:
        previous_ids = _ids(previous_ids, "embedding gradient: previous_ids")
    return _k.embedding_scatter_add(ids, dy, grad, previous_ids)


# ------------------------------------------------------------- recurrent

# The activations a recurrent kernel applies (either role): those whose
# derivative the backward pass can take from the saved output.
RECURRENT_ACTIVATIONS = ("linear", "relu", "sigmoid", "hard_sigmoid", "tanh")
# name: (the kernels' cell code, gates)
_RNN_CELLS = {"simple_rnn": (0, 1), "lstm": (1, 4), "gru": (2, 3)}


class RecurrentTrace:
    """What a forward pass of :func:`lstm`, :func:`gru` or :func:`simple_rnn`
    keeps: its work buffer (every step's gates and states when training)
    and the weights and masks it read.

    A training pass's trace goes once to the matching ``*_grad`` function,
    which uses the buffer as its scratch.  Passed as ``work=`` to a later
    forward call, the trace lends its buffer when it is large enough (and
    is spent), so a layer that keeps it allocates nothing per batch."""

    __slots__ = ("name", "desc", "buffer", "kernel", "recurrent_kernel", "has_bias", "mask",
                 "dropout_mask", "recurrent_dropout_mask", "spent")

    def __init__(self, name, desc, buffer, kernel, recurrent_kernel, has_bias, mask,
                 dropout_mask, recurrent_dropout_mask):
        self.name, self.desc, self.buffer = name, desc, buffer
        self.kernel, self.recurrent_kernel, self.has_bias = kernel, recurrent_kernel, has_bias
        self.mask, self.dropout_mask = mask, dropout_mask
        self.recurrent_dropout_mask = recurrent_dropout_mask
        self.spent = False

    @property
    def training(self):
        return bool(self.desc[-1])  # the description ends with the training flag


RecurrentGrads = collections.namedtuple(
    "RecurrentGrads", "input h0 c0 kernel recurrent_kernel bias")
RecurrentGrads.__doc__ = """Gradients of a recurrent layer: of its input, its
initial states (c0 is LSTM's only; None where not asked for), its kernel,
recurrent kernel and bias (None without one)."""


def _act_index(name, activation, role):
    if activation is None:  # Keras's spelling of linear
        activation = "linear"
    if activation not in RECURRENT_ACTIVATIONS:
        raise ValueError(f"{name}: {role} must be one of {list(RECURRENT_ACTIVATIONS)}, got "
                         f"{activation!r}")
    return ACTIVATIONS[activation]


def _step_array(a, shape, name, what):
    """None, or a float32 array of the given shape (converted once)."""
    if a is None:
        return None
    a = _c32(a, f"{name}: {what}")
    if a.shape != shape:
        raise ValueError(f"{name}: {what} must have shape {shape}, got {a.shape}")
    return a


def _time_mask(mask, batch, steps, name):
    """A (batch, timesteps) mask as uint8 or bool, without a copy when it is
    one already."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != (batch, steps):
        raise ValueError(f"{name}: mask must have shape {(batch, steps)} (batch, timesteps), "
                         f"got {mask.shape}")
    if mask.dtype in (np.bool_, np.uint8):
        return np.ascontiguousarray(mask)
    if mask.dtype.kind not in "iu":
        raise TypeError(f"{name}: mask must be bool or integer, got {mask.dtype}")
    return np.ascontiguousarray(mask != 0)


def _recurrent(name, x, kernel, recurrent_kernel, bias, initial_state, mask, dropout_mask,
               recurrent_dropout_mask, activation, recurrent_activation, go_backwards,
               return_sequences, zero_output_for_mask, reset_after, training, work, out,
               state_out):
    cell, gates = _RNN_CELLS[name]
    x = _c32(x, f"{name}: inputs")
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"{name}: inputs must be (batch, timesteps, features) with at least "
                         f"one step and one feature, got shape {x.shape}")
    batch, steps, features = x.shape
    recurrent_kernel = _c32(recurrent_kernel, f"{name}: recurrent_kernel")
    rk = recurrent_kernel.shape
    if len(rk) != 2 or rk[0] < 1 or rk[1] != gates * rk[0]:
        raise ValueError(f"{name}: recurrent_kernel must have shape (units, {gates} * units), "
                         f"got {rk}")
    units = rk[0]
    kernel = _c32(kernel, f"{name}: kernel")
    if kernel.shape != (features, gates * units):
        raise ValueError(f"{name}: kernel must have shape {(features, gates * units)} for "
                         f"{features} input features and {units} units, got {kernel.shape}")
    if bias is not None:
        want = (2, 3 * units) if name == "gru" and reset_after else (gates * units,)
        bias = _step_array(bias, want, name, "bias")
    act = _act_index(name, activation, "activation")
    rec_act = _act_index(name, recurrent_activation, "recurrent_activation")
    mask = _time_mask(mask, batch, steps, name)
    dropout_mask = _step_array(dropout_mask, (batch, features), name, "dropout_mask")
    recurrent_dropout_mask = _step_array(recurrent_dropout_mask, (batch, units), name,
                                         "recurrent_dropout_mask")
    count = 2 if name == "lstm" else 1
    if initial_state is None:
        initial_state = (None,) * count
    elif isinstance(initial_state, np.ndarray) and count == 1:
        initial_state = (initial_state,)
    if not isinstance(initial_state, (list, tuple)) or len(initial_state) != count:
        raise ValueError(f"{name}: initial_state must be {count} array(s) of shape "
                         f"{(batch, units)}, got {type(initial_state).__name__}")
    initial_state = [_step_array(s, (batch, units), name, "initial_state")
                     for s in initial_state]
    desc = (cell, batch, steps, features, units, act, rec_act, int(bool(reset_after)),
            int(bool(go_backwards)), int(bool(return_sequences)),
            int(bool(zero_output_for_mask)), int(bool(training)))
    size = _k.rnn_work_size(desc)
    if work is not None and not isinstance(work, RecurrentTrace):
        raise TypeError(f"{name}: work must be a RecurrentTrace from an earlier call, got "
                        f"{type(work).__name__}")
    buffer = work.buffer if work is not None and work.buffer.size >= size else \
        np.empty(size, np.float32)
    if work is not None:
        work.spent = True
    shape = (batch, steps, units) if return_sequences else (batch, units)
    out = _out(out, shape, f"{name}: out")
    if state_out is None:
        state_out = (None,) * count
    if len(state_out) != count:
        raise ValueError(f"{name}: state_out must hold {count} array(s)")
    states = [_out(s, (batch, units), f"{name}: state_out") for s in state_out]
    _k.rnn_forward(name, desc, x, kernel, recurrent_kernel, bias, mask, dropout_mask,
                   recurrent_dropout_mask, initial_state[0], initial_state[-1], out,
                   states[0], states[-1], buffer)
    trace = RecurrentTrace(name, desc, buffer, kernel, recurrent_kernel, bias is not None,
                           mask, dropout_mask, recurrent_dropout_mask)
    return (out, *states, trace)


def _recurrent_grad(name, trace, dy, dh, dc, input_grad, state_grads, kernel_grad,
                    recurrent_kernel_grad, bias_grad):
    fn = f"{name}_grad"
    if not isinstance(trace, RecurrentTrace):
        raise TypeError(f"{fn}: expected the RecurrentTrace of a forward pass, got "
                        f"{type(trace).__name__}")
    if trace.name != name:
        raise ValueError(f"{fn}: the trace comes from {trace.name}, not {name}")
    if not trace.training:
        raise ValueError(f"{fn}: the forward pass ran with training=False and kept nothing "
                         f"for the backward pass")
    if trace.spent:
        raise ValueError(f"{fn}: the trace was already used by a backward pass or lent to "
                         f"another forward pass; run the forward pass again")
    (_, batch, steps, features, units, _, _, reset_after, _, return_sequences, _, _) = \
        trace.desc
    count = 2 if name == "lstm" else 1
    out_shape = (batch, steps, units) if return_sequences else (batch, units)
    dy = _step_array(dy, out_shape, fn, "dy")
    dh = _step_array(dh, (batch, units), fn, "dh")
    dc = _step_array(dc, (batch, units), fn, "dc")
    if input_grad is True:
        dx = np.empty((batch, steps, features), np.float32)
    elif input_grad is False or input_grad is None:
        dx = None
    else:
        dx = _out(input_grad, (batch, steps, features), f"{fn}: input_grad")
    if state_grads is True:
        state_grads = [np.empty((batch, units), np.float32) for _ in range(count)]
    elif state_grads is False or state_grads is None:
        state_grads = [None] * count
    elif len(state_grads) != count:
        raise ValueError(f"{fn}: state_grads must hold {count} array(s)")
    else:
        state_grads = [_out(g, (batch, units), f"{fn}: state_grads") for g in state_grads]
    kernel_grad = _out(kernel_grad, trace.kernel.shape, f"{fn}: kernel_grad")
    recurrent_kernel_grad = _out(recurrent_kernel_grad, trace.recurrent_kernel.shape,
                                 f"{fn}: recurrent_kernel_grad")
    if trace.has_bias:
        gates = _RNN_CELLS[name][1]
        shape = (2, 3 * units) if name == "gru" and reset_after else (gates * units,)
        bias_grad = _out(bias_grad, shape, f"{fn}: bias_grad")
    elif bias_grad is not None:
        raise ValueError(f"{fn}: the forward pass had no bias, so there is no bias gradient")
    _k.rnn_backward(name, trace.desc, trace.kernel, trace.recurrent_kernel, trace.mask,
                    trace.dropout_mask, trace.recurrent_dropout_mask, dy, dh, dc, trace.buffer,
                    dx, state_grads[0], state_grads[-1], kernel_grad, recurrent_kernel_grad,
                    bias_grad)
    trace.spent = True
    return RecurrentGrads(dx, state_grads[0], state_grads[1] if count == 2 else None,
                          kernel_grad, recurrent_kernel_grad, bias_grad)


_RECURRENT_ARGS = """
    ``x`` is (batch, timesteps, features); ``kernel`` (features, G*units) and
    ``recurrent_kernel`` (units, G*units) are Keras's weights as they are.
    ``mask`` (batch, timesteps; bool or uint8): at a masked step the states
    are carried over unchanged and the step outputs the carried ``h`` (zeros
    with ``zero_output_for_mask``, as Bidirectional asks for sequences).
    ``dropout_mask`` (batch, features) multiplies every step's input and
    ``recurrent_dropout_mask`` (batch, units) the state before the recurrent
    product, as Keras 3 applies dropout (draw them and scale them by
    ``1 / (1 - rate)``: that is the layer's part).  ``go_backwards``
    processes the steps last to first, and the sequence comes back in
    processing order, as Keras returns it.  The output is every step's
    (batch, timesteps, units) with ``return_sequences``, else the last
    (batch, units).

    With ``training`` the forward pass keeps what the backward pass needs in
    the returned trace.  ``work`` (an earlier call's trace), ``out`` and
    ``state_out`` let a layer reuse its buffers from call to call."""


def lstm(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None,
         dropout_mask=None, recurrent_dropout_mask=None, activation="tanh",
         recurrent_activation="sigmoid", go_backwards=False, return_sequences=False,
         zero_output_for_mask=False, training=False, work=None, out=None, state_out=None):
    """Keras 3's LSTM through time: gates i, f, c, o (G = 4) with
    ``z = x_t @ kernel + h @ recurrent_kernel + bias``; i, f, o =
    recurrent_activation(z_i, z_f, z_o); c = f * c + i * activation(z_c);
    h = o * activation(c).  ``initial_state`` is (h0, c0) (zeros by
    default).  Returns ``(output, h, c, trace)``: the final states and the
    RecurrentTrace for :func:`lstm_grad`.
    """
    return _recurrent("lstm", x, kernel, recurrent_kernel, bias, initial_state, mask,
                      dropout_mask, recurrent_dropout_mask, activation, recurrent_activation,
                      go_backwards, return_sequences, zero_output_for_mask, False, training,
                      work, out, state_out)


def gru(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None,
        dropout_mask=None, recurrent_dropout_mask=None, activation="tanh",
        recurrent_activation="sigmoid", reset_after=True, go_backwards=False,
        return_sequences=False, zero_output_for_mask=False, training=False, work=None,
        out=None, state_out=None):
    """Keras 3's GRU through time: gates z, r, h (G = 3).  With
    ``reset_after`` (Keras 3's default) ``bias`` is (2, 3*units), input bias
    then recurrent bias, and the candidate is activation(x_h + r * (h @ R_h
    + b_rh)); without it ``bias`` is (3*units,) and the candidate is
    activation(x_h + (r * h) @ R_h).  h = z * h + (1 - z) * candidate (this
    h without the recurrent dropout mask).
    ``initial_state`` is h0 (zeros by default).  Returns ``(output, h,
    trace)``.
    """
    return _recurrent("gru", x, kernel, recurrent_kernel, bias, initial_state, mask,
                      dropout_mask, recurrent_dropout_mask, activation, recurrent_activation,
                      go_backwards, return_sequences, zero_output_for_mask, reset_after,
                      training, work, out, state_out)


def simple_rnn(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None,
               dropout_mask=None, recurrent_dropout_mask=None, activation="tanh",
               go_backwards=False, return_sequences=False, zero_output_for_mask=False,
               training=False, work=None, out=None, state_out=None):
    """Keras 3's SimpleRNN through time (G = 1): h = activation(x_t @ kernel
    + h @ recurrent_kernel + bias).  ``initial_state`` is h0 (zeros by
    default).  Returns ``(output, h, trace)``.
    """
    return _recurrent("simple_rnn", x, kernel, recurrent_kernel, bias, initial_state, mask,
                      dropout_mask, recurrent_dropout_mask, activation, "linear",
                      go_backwards, return_sequences, zero_output_for_mask, False, training,
                      work, out, state_out)


for _f in (lstm, gru, simple_rnn):
    _f.__doc__ += _RECURRENT_ARGS


_RECURRENT_GRAD_ARGS = """
    ``dy`` is the gradient of the output (shaped as it), ``dh`` (and ``dc``)
    of the final states; any may be None.  Returns RecurrentGrads: the input
    gradient (``input_grad``: True to allocate it, False to skip it, or an
    array to write it into), the initial states' (``state_grads``: likewise,
    or a list of arrays), and the weight gradients, which overwrite
    ``kernel_grad``, ``recurrent_kernel_grad`` and ``bias_grad`` when given
    (a view of a flat gradient buffer, say) and are allocated otherwise.
    The trace is spent: its buffer served as the backward pass's scratch."""


def lstm_grad(trace, dy=None, dh=None, dc=None, input_grad=True, state_grads=True,
              kernel_grad=None, recurrent_kernel_grad=None, bias_grad=None):
    """Backward through time of :func:`lstm` from its training trace.
    """
    return _recurrent_grad("lstm", trace, dy, dh, dc, input_grad, state_grads, kernel_grad,
                           recurrent_kernel_grad, bias_grad)


def gru_grad(trace, dy=None, dh=None, input_grad=True, state_grads=True, kernel_grad=None,
             recurrent_kernel_grad=None, bias_grad=None):
    """Backward through time of :func:`gru` from its training trace.
    """
    return _recurrent_grad("gru", trace, dy, dh, None, input_grad, state_grads, kernel_grad,
                           recurrent_kernel_grad, bias_grad)


def simple_rnn_grad(trace, dy=None, dh=None, input_grad=True, state_grads=True,
                    kernel_grad=None, recurrent_kernel_grad=None, bias_grad=None):
    """Backward through time of :func:`simple_rnn` from its training trace.
    """
    return _recurrent_grad("simple_rnn", trace, dy, dh, None, input_grad, state_grads,
                           kernel_grad, recurrent_kernel_grad, bias_grad)


for _f in (lstm_grad, gru_grad, simple_rnn_grad):
    _f.__doc__ += _RECURRENT_GRAD_ARGS
del _f
# ----------------------------------------------------------------- images

INTERPOLATIONS = {"nearest": 0, "bilinear": 1}
FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2, "wrap": 3}


def affine_warp(images, matrices, output_shape=None, interpolation="bilinear",
                fill_mode="nearest", cval=0.0, channel_shift=None, brightness=None,
                scale=None, offset=None, index=None, out=None):
    """Resample a batch of NHWC images, each through its own affine map.

    ``matrices`` holds one map per image, ``(n, 2, 3)`` or ``(n, 3, 3)`` (a
    single ``(2, 3)`` or ``(3, 3)`` map serves every image): output pixel
    ``(r, c)`` reads the input at ``M @ (r, c, 1)`` (row, column), which is
    ``scipy.ndimage.affine_transform(channel, M)`` with ``order=0``
    (``interpolation='nearest'``) or ``order=1`` (``'bilinear'``) and
    ``mode=fill_mode`` (``'constant'`` with ``cval``, ``'nearest'``,
    ``'reflect'``, ``'wrap'``, as scipy defines them) on every channel.
    ``output_shape`` is ``(height, width)``, by default the input's.

    Then, for augmentation, in one pass while each image is in cache:
    ``channel_shift`` (one value per image) adds the value and clips to the
    image's own range, as Keras's ``apply_channel_shift``;
    ``brightness`` (one factor per image) scales the image and clips to
    [0, 255] as Keras's ``apply_brightness_shift`` does (an image outside
    [0, 255] is scaled within its own range; values are not rounded to 8
    bits; the alpha of 4-channel images is kept); ``scale`` and ``offset``
    (one value per channel) map ``y * scale + offset`` last.

    ``index`` picks the image each output image reads (output ``b`` reads
    ``images[index[b]]``), so a batch is warped straight from a data set
    without gathering it first.
    """
    x = _c32(images, "affine_warp: images")
    if x.ndim != 4:
        raise ValueError(f"affine_warp: images must be 4-D (batch, height, width, channels), "
                         f"got shape {x.shape}")
    n = x.shape[0]
    if index is not None:
        index = np.ascontiguousarray(index, dtype=np.int64).reshape(-1)
        n = index.size
    m = np.asarray(matrices, dtype=np.float64)
    if m.ndim == 2:
        m = np.broadcast_to(m, (n,) + m.shape)
    if m.ndim != 3 or m.shape[0] != n or m.shape[1:] not in ((2, 3), (3, 3)):
        raise ValueError(f"affine_warp: matrices must have shape ({n}, 2, 3) or ({n}, 3, 3) "
                         f"for {n} images, got {np.shape(matrices)}")
    if m.shape[1] == 3 and not np.all(m[:, 2] == (0.0, 0.0, 1.0)):
        raise ValueError("affine_warp: the last row of a 3x3 matrix must be (0, 0, 1)")
    m = np.ascontiguousarray(m[:, :2])
    if output_shape is None:
        output_shape = x.shape[1:3]
    try:
        oh, ow = (int(v) for v in output_shape)
    except (TypeError, ValueError):
        raise ValueError(f"affine_warp: output_shape must be (height, width), "
                         f"got {output_shape!r}") from None
    if oh < 0 or ow < 0:
        raise ValueError(f"affine_warp: output_shape must not be negative, got {output_shape}")
    try:
        interp = INTERPOLATIONS[interpolation]
    except (KeyError, TypeError):
        raise ValueError(f"affine_warp: interpolation must be one of {sorted(INTERPOLATIONS)}, "
                         f"got {interpolation!r}") from None
    try:
        mode = FILL_MODES[fill_mode]
    except (KeyError, TypeError):
        raise ValueError(f"affine_warp: fill_mode must be one of {sorted(FILL_MODES)}, "
                         f"got {fill_mode!r}") from None
    if channel_shift is not None:
        channel_shift = _c32(channel_shift, "affine_warp: channel_shift").reshape(-1)
    if brightness is not None:
        brightness = _c32(brightness, "affine_warp: brightness").reshape(-1)
    if (scale is None) != (offset is None):
        raise ValueError("affine_warp: scale and offset go together")
    if scale is not None:
        c = x.shape[3]
        scale = np.ascontiguousarray(np.broadcast_to(_f32(scale, "affine_warp: scale"), (c,)))
        offset = np.ascontiguousarray(np.broadcast_to(_f32(offset, "affine_warp: offset"), (c,)))
    out = _out(out, (n, oh, ow, x.shape[3]), "affine_warp")
    return _k.affine_warp(x, index, m, out, interp, mode, float(cval), channel_shift,
                          brightness, scale, offset)
