"""NumPy-style functional kernels, computed in C.

Every function takes NumPy arrays and returns NumPy arrays.  float32 input is
used as it is (transposed views included, for ``matmul``); anything else is
converted to float32 once.  Functions that take ``out=`` write there and
return it, so a caller that keeps its buffers allocates nothing.

This module is the seam between the layers and the kernels: layers, losses and
optimizers compute only through it.
"""
import functools

import numpy as np

from . import _kernels as _k

__all__ = [
    "matmul", "dense", "dense_grad", "bias_add", "activation", "activation_grad", "bias_grad",
    "linear", "relu", "relu_grad", "relu_form", "relu6", "leaky_relu", "elu", "sigmoid",
    "hard_sigmoid", "hard_swish", "tanh", "softplus", "swish", "softmax", "softmax_grad",
    "prelu", "prelu_grad",
    "loss", "sparse_loss", "LOSS_KINDS",
    "sgd_update", "rmsprop_update", "adam_update",
    "dropout", "dropout_grad", "alpha_dropout", "alpha_dropout_grad", "random_normal",
    "scale_channels", "l1l2_penalty", "l1l2_grad", "gather_rows", "all_finite",
    "accuracy_count",
    "conv2d", "conv2d_grad", "depthwise_conv2d", "depthwise_conv2d_grad", "conv1d",
    "conv2d_transpose", "conv2d_transpose_grad", "conv_transpose_geometry",
    "conv_geometry", "conv_output_length", "pool_geometry", "padding_1d",
    "max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad",
    "global_avg_pool2d", "global_max_pool2d", "global_pool2d_grad",
    "moments", "channel_affine", "batch_norm_grad", "batch_norm_affine", "moving_average", "fold_affine",
    "group_norm", "group_norm_grad", "layer_norm", "layer_norm_grad", "combine_moments",
    "standardize_affine",
    "add", "subtract", "multiply", "maximum", "minimum", "axpby", "extremum_grad",
    "reduce_to_shape", "concatenate", "concatenate_grad", "batch_matmul", "l2_normalize",
    "l2_normalize_grad",
    "transpose", "pad", "crop", "resize", "resize_grad", "resize_geometry", "repeat",
    "repeat_grad",
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
    call: writes ``kernel_grad`` and ``bias_grad`` when given (None skips
    them) and returns the input gradient (None when ``input_grad`` is
    False).  ``y`` is the
    forward output; ``pre`` the pre-activation, needed only by the
    activations in NEEDS_INPUT."""
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


def relu(x, out=None, *, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ``relu(x, negative_slope, max_value, threshold)``: ``x`` above
    ``threshold`` (capped at ``max_value``), ``negative_slope * (x -
    threshold)`` below.  The plain forms run the fused activation kernels
    (relu, relu6, leaky_relu); the others a kernel of their own."""
    code, alpha = relu_form(negative_slope, max_value, threshold)
    if code is not None:
        return activation(x, code, alpha=alpha, out=out)
    x = _c32(x, "relu: x")
    out = _out(out, x.shape, "relu")
    return _k.relu_general(x, out, negative_slope, _relu_cap(max_value), threshold)


def relu_form(negative_slope, max_value, threshold):
    """The fused activation (and its alpha) that computes Keras's relu with
    these arguments: ('relu', None), ('relu6', None), ('leaky_relu', slope),
    or (None, None) for the general form."""
    if threshold == 0.0:
        if negative_slope == 0.0 and max_value is None:
            return "relu", None
        if negative_slope == 0.0 and max_value == 6.0:
            return "relu6", None
        if max_value is None:
            return "leaky_relu", float(negative_slope)
    return None, None


def _relu_cap(max_value):
    return np.inf if max_value is None else float(max_value)


def relu_grad(x, y, dy, negative_slope=0.0, max_value=None, threshold=0.0, out=None):
    """The input gradient of ``y = relu(x, negative_slope=..., max_value=...,
    threshold=...)`` from ``dy``."""
    code, alpha = relu_form(negative_slope, max_value, threshold)
    if code is not None:
        return activation_grad(code, x, y, dy, alpha=alpha, out=out)
    x, dy = _c32(x, "relu backward: x"), _c32(dy, "relu backward: dy")
    if x.shape != dy.shape:
        raise ValueError(f"relu backward: dy of shape {dy.shape} does not match x of shape "
                         f"{x.shape}")
    out = _out(out, x.shape, "relu backward")
    return _k.relu_general_backward(x, dy, out, negative_slope, _relu_cap(max_value), threshold)


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
    """Softmax over ``axis``; another axis than the last is moved last (a
    transposition in C) and back."""
    x = _c32(x)
    axis = _axis(axis, x.ndim, "softmax") if x.ndim else -1
    if x.ndim and axis != x.ndim - 1:
        perm = _move_last(x.ndim, axis)
        y = activation(transpose(x, perm), "softmax")
        return transpose(y, _inverse(perm), out=out)
    return activation(x, "softmax", out=out)


def softmax_grad(y, dy, axis=-1, out=None):
    """The input gradient of ``y = softmax(x, axis)`` from ``dy``."""
    y, dy = _c32(y, "softmax backward: y"), _c32(dy, "softmax backward: dy")
    axis = _axis(axis, y.ndim, "softmax backward")
    if axis != y.ndim - 1:
        perm = _move_last(y.ndim, axis)
        g = activation_grad("softmax", None, transpose(y, perm), transpose(dy, perm))
        return transpose(g, _inverse(perm), out=out)
    return activation_grad("softmax", None, y, dy, out=out)


def _move_last(ndim, axis):
    return tuple(a for a in range(ndim) if a != axis) + (axis,)


def _inverse(perm):
    return tuple(int(i) for i in np.argsort(perm))


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
    return _conv(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out,
                 False, "conv2d")


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid",
                     dilation_rate=(1, 1), activation="linear", alpha=None, out=None):
    """Depthwise 2-D convolution: each input channel c is convolved with its
    own ``kernel[:, :, c, m]`` for m in the depth multiplier; output channel
    ``c * multiplier + m``."""
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
    return _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
                      input_grad, False, "conv2d", activation, y, pre, alpha)


def depthwise_conv2d_grad(x, kernel, dy, strides=(1, 1), padding="valid",
                          dilation_rate=(1, 1), kernel_grad=None, bias_grad=None,
                          input_grad=True):
    """Gradients of ``depthwise_conv2d``, as ``conv2d_grad``."""
    return _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
                      input_grad, True, "depthwise_conv2d")


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
           activation="linear", alpha=None, out=None):
    """1-D convolution of (batch, steps, channels) ``x`` with a (width, in,
    out) ``kernel``: the 2-D kernels at height 1.  ``padding`` may also be
    'causal' (all the padding before the first step)."""
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
    return _pool(_k.max_pool2d_forward, "max_pool2d", x, pool_size, strides, padding, out)


def max_pool2d_grad(dy, x, y, pool_size=(2, 2), strides=None, padding="valid", out=None):
    """The input gradient of ``y = max_pool2d(x, ...)``: dy routed to each
    window's maximum, found again from ``x`` and ``y``."""
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
    return _pool(_k.avg_pool2d_forward, "avg_pool2d", x, pool_size, strides, padding, out)


def avg_pool2d_grad(dy, input_shape, pool_size=(2, 2), strides=None, padding="valid",
                    out=None):
    """The input gradient of ``avg_pool2d``."""
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
    return _global_pool(_k.avg_pool2d_forward, "global_avg_pool2d", x, out)


def global_max_pool2d(x, out=None):
    """Maximum over height and width: (batch, h, w, c) -> (batch, c)."""
    return _global_pool(_k.max_pool2d_forward, "global_max_pool2d", x, out)


def global_pool2d_grad(kind, dy, x, y=None, out=None):
    """The input gradient of ``global_avg_pool2d`` (kind 'avg') or of
    ``y = global_max_pool2d(x)`` (kind 'max', which needs y)."""
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
    x = _c32(x, "moments: x")
    c = x.shape[-1] if x.ndim else 1
    mean = _out(mean, (c,), "moments: mean")
    var = _out(var, (c,), "moments: variance")
    return _k.moments(x, mean, var)


def channel_affine(x, scale, shift, out=None):
    """``x * scale + shift`` over the last axis (batch normalization once its
    statistics are known)."""
    x = _c32(x, "channel_affine: x")
    out = _out(out, x.shape, "channel_affine")
    return _k.channel_affine(x, _c32(scale, "scale"), _c32(shift, "shift"), out)


def batch_norm_grad(x, dy, mean, inv_std, gamma=None, gamma_grad=None, beta_grad=None,
                    input_grad=True):
    """Gradients of training-mode batch normalization
    ``y = gamma * (x - mean) * inv_std + beta`` (mean and inv_std from the
    batch itself): writes ``gamma_grad`` and ``beta_grad`` when given and
    returns the input gradient (None when ``input_grad`` is False)."""
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


def batch_norm_affine(mean, var, gamma=None, beta=None, epsilon=1e-3):
    """The per-channel (scale, shift, inv_std) with which batch normalization
    is ``x * scale + shift``: inv_std = 1 / sqrt(var + epsilon), scale =
    gamma * inv_std, shift = beta - mean * scale."""
    inv_std = (1.0 / np.sqrt(np.asarray(var, np.float64) + epsilon)).astype(np.float32)
    scale = inv_std if gamma is None else (inv_std * gamma).astype(np.float32)
    shift = -np.asarray(mean, np.float32) * scale
    if beta is not None:
        shift += beta
    return scale, shift.astype(np.float32), inv_std


def moving_average(variable, value, momentum):
    """``variable = variable * momentum + value * (1 - momentum)``, in place."""
    variable *= np.float32(momentum)
    variable += np.float32(1.0 - momentum) * value
    return variable


def fold_affine(kernel, bias, scale, shift, channel_shape=None):
    """The kernel and bias of a linear layer followed by ``y * scale +
    shift`` per output channel: ``kernel * scale`` over its output axes and
    ``bias * scale + shift``.  ``channel_shape`` is how the output channels
    lie over the kernel's last axes ((in, multiplier) for a depthwise
    kernel); by default the last axis."""
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
    return _binary("add", a, b, out)


def subtract(a, b, out=None):
    """``a - b`` elementwise (NumPy broadcasting)."""
    return _binary("subtract", a, b, out)


def multiply(a, b, out=None):
    """``a * b`` elementwise (NumPy broadcasting)."""
    return _binary("multiply", a, b, out)


def maximum(a, b, out=None):
    """The elementwise maximum (NaN if either is NaN, as NumPy)."""
    return _binary("maximum", a, b, out)


def minimum(a, b, out=None):
    """The elementwise minimum (NaN if either is NaN, as NumPy)."""
    return _binary("minimum", a, b, out)


def axpby(alpha, a, beta=0.0, b=None, out=None):
    """``alpha * a + beta * b`` (``alpha * a`` without ``b``) for arrays of
    one shape; ``out`` may be ``a`` or ``b``."""
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
    x, y, dy = _c32(x, "l2_normalize backward: x"), _c32(y), _c32(dy)
    axis = _axis(axis, x.ndim, "l2_normalize backward")
    if axis != x.ndim - 1:
        mv = [np.ascontiguousarray(np.moveaxis(t, axis, -1)) for t in (x, y, dy)]
        dx = np.empty(mv[0].shape, np.float32)
        _k.l2_normalize_backward_rows(mv[0], mv[1], norms, mv[2], dx, float(epsilon))
        return np.ascontiguousarray(np.moveaxis(dx, -1, axis))
    out = _out(out, x.shape, "l2_normalize backward")
    return _k.l2_normalize_backward_rows(x, y, norms, dy, out, float(epsilon))


# ------------------------------------------------------ transposed convolution

def conv_transpose_geometry(in_shape, kernel_hw, strides, padding, output_padding=None,
                            dilation_rate=(1, 1), name="conv2d_transpose"):
    """Output (height, width) of a transposed convolution of an NHWC input
    and the geometry tuple (sh, sw, dh, dw, pad_top, pad_left) of the
    convolution whose input gradient it is, as Keras 3 computes them:
    'valid' gives ``(size - 1) * stride + span + output_padding`` (the
    padding defaults to ``max(span, stride) - span``), 'same' gives
    ``size * stride``, or ``(size - 1) * stride + span % 2 +
    output_padding`` when output_padding is given; ``span`` is the dilated
    kernel's extent.  None sizes give None."""
    sh, sw = _pair(strides, f"{name}: strides")
    dh, dw = _pair(dilation_rate, f"{name}: dilation_rate")
    if min(sh, sw, dh, dw) < 1:
        raise ValueError(f"{name}: strides and dilation_rate must be >= 1, got {(sh, sw)} and "
                         f"{(dh, dw)}")
    if (sh > 1 or sw > 1) and (dh > 1 or dw > 1):
        raise ValueError(f"{name}: strides > 1 cannot be combined with dilation_rate > 1")
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"{name}: padding must be 'valid' or 'same', got {padding!r}")
    ops_ = _optional_pair(output_padding, f"{name}: output_padding")
    sizes, pads = [], []
    for size, k, s, d, op in zip(in_shape[1:3], kernel_hw, (sh, sw), (dh, dw), ops_):
        if op is not None and not 0 <= op < s:
            raise ValueError(f"{name}: output_padding must be >= 0 and less than the stride; "
                             f"got {output_padding!r} for strides {(sh, sw)}")
        span = (int(k) - 1) * d + 1
        if padding == "valid":
            extra = max(span, s) - span if op is None else op
            left = span - 1
            out = None if size is None else (size - 1) * s + span + extra
        else:
            total = s + span - 2 if op is None else span + span % 2 - 2 + op
            left = min(total // 2 + total % 2, span - 1)
            out = None if size is None else (size * s if op is None
                                             else (size - 1) * s + span % 2 + op)
        if out is not None and out < 1:
            raise ValueError(f"{name}: a {tuple(kernel_hw)} kernel with strides {(sh, sw)}, "
                             f"padding {padding!r} and output_padding {output_padding!r} "
                             f"gives an empty output for an input of shape {tuple(in_shape)}")
        sizes.append(out)
        pads.append(span - 1 - left)
    return tuple(sizes), (sh, sw, dh, dw, pads[0], pads[1])


def _optional_pair(v, name):
    """None, an int or a pair of ints or Nones, as a pair of ints or Nones."""
    if v is None:
        return None, None
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    try:
        pair = tuple(None if a is None else int(a) for a in v)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"{name}: expected None, an int or a pair, got {v!r}")
    return pair


def conv2d_transpose(x, kernel, bias=None, strides=(1, 1), padding="valid", output_padding=None,
                     dilation_rate=(1, 1), activation="linear", alpha=None, out=None):
    """Transposed 2-D convolution (Keras's ``conv_transpose``) of NHWC ``x``
    with a ``(kh, kw, filters, in_channels)`` kernel, as Keras stores it,
    plus ``bias`` and ``activation``: the input gradient of the convolution
    from a ``filters``-channel image to ``x``, computed by the convolution
    kernels' backward pass."""
    name = "conv2d_transpose"
    code = _act_code(activation)
    if alpha is None:
        alpha = DEFAULT_ALPHA.get(activation, 0.0)
    x, kernel = _c32(x, f"{name}: input"), _c32(kernel, f"{name}: kernel")
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(f"{name}: expected an NHWC input and a (height, width, filters, in) "
                         f"kernel, got shapes {x.shape} and {kernel.shape}")
    if kernel.shape[3] != x.shape[3]:
        raise ValueError(f"{name}: the kernel of shape {kernel.shape} expects "
                         f"{kernel.shape[3]} input channels, the input of shape {x.shape} "
                         f"has {x.shape[3]}")
    (oh, ow), geo = conv_transpose_geometry(x.shape, kernel.shape[:2], strides, padding,
                                            output_padding, dilation_rate, name)
    filters = kernel.shape[2]
    out = _out(out, (x.shape[0], oh, ow, filters), name)
    if bias is not None:
        bias = _c32(bias, f"{name}: bias")
        if bias.shape != (filters,):
            raise ValueError(f"{name}: bias must have shape ({filters},), got {bias.shape}")
    if out.size == 0:
        return out
    if x.size == 0:
        out[...] = 0.0
    else:
        # The output stands in for the convolution's input: only its shape is
        # read, as no kernel gradient is asked for.
        _k.conv2d_backward(out, kernel, x, None, None, out, geo)
    if bias is not None or code != 0:
        _k.bias_activation(code, alpha, out, bias, out)
    return out


def conv2d_transpose_grad(x, kernel, dy, strides=(1, 1), padding="valid", output_padding=None,
                          dilation_rate=(1, 1), kernel_grad=None, bias_grad=None,
                          input_grad=True):
    """Gradients of ``conv2d_transpose`` (without its activation) from
    ``dy``: the input gradient is the convolution of ``dy`` with the kernel,
    the kernel gradient that convolution's kernel gradient.  Writes
    ``kernel_grad`` and ``bias_grad`` when given and returns the input
    gradient (None when ``input_grad`` is False)."""
    name = "conv2d_transpose backward"
    x, kernel, dy = _c32(x, f"{name}: x"), _c32(kernel, f"{name}: kernel"), _c32(dy,
                                                                                 f"{name}: dy")
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[3] != x.shape[3]:
        raise ValueError(f"{name}: input of shape {x.shape} does not fit a kernel of shape "
                         f"{kernel.shape}")
    (oh, ow), geo = conv_transpose_geometry(x.shape, kernel.shape[:2], strides, padding,
                                            output_padding, dilation_rate, name)
    want = (x.shape[0], oh, ow, kernel.shape[2])
    if dy.shape != want:
        raise ValueError(f"{name}: dy must have the output's shape {want}, got {dy.shape}")
    if kernel_grad is not None:
        kernel_grad = _out(kernel_grad, kernel.shape, f"{name}: kernel gradient")
        if x.size == 0 or dy.size == 0:
            kernel_grad[...] = 0.0
        else:
            _k.conv2d_backward(dy, kernel, x, kernel_grad, None, None, geo)
    if bias_grad is not None:
        _k.bias_grad(dy, _out(bias_grad, (kernel.shape[2],), f"{name}: bias gradient"))
    if input_grad is False or input_grad is None:
        return None
    dx = np.empty(x.shape, np.float32) if input_grad is True else \
        _out(input_grad, x.shape, f"{name}: input gradient")
    if dx.size:
        _k.conv2d_forward(dy, kernel, None, geo, 0, 0.0, dx)
    return dx


# -------------------------------------------------------------- reshaping

def transpose(x, axes=None, out=None):
    """``x.transpose(axes)`` (all axes reversed by default) as a new
    C-contiguous array, copied in C; at most 8 axes."""
    x = _c32(x, "transpose: x")
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    try:
        axes = tuple(_axis(a, x.ndim, "transpose") for a in axes)
    except TypeError:
        raise ValueError(f"transpose: axes must be a sequence of ints, got {axes!r}") from None
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                         f"of an array of shape {x.shape}")
    if x.ndim > 8:
        raise ValueError(f"transpose: at most 8 axes, got an array of shape {x.shape}")
    out = _out(out, tuple(x.shape[a] for a in axes), "transpose")
    if x.ndim == 0:
        out[...] = x
        return out
    return _k.transpose(x, axes, out)


def _spatial_pairs(x, pairs, name):
    """``pairs`` as one (before, after) pair of ints per spatial axis of
    ``x`` (batch, spatial..., channels), 1 to 3 of them."""
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"{name}: expected an input of rank 3, 4 or 5 (batch, 1 to 3 spatial "
                         f"axes, channels), got shape {x.shape}")
    try:
        pairs = tuple((int(a), int(b)) for a, b in pairs)
    except (TypeError, ValueError):
        pairs = None
    if pairs is None or len(pairs) != x.ndim - 2:
        raise ValueError(f"{name}: expected {x.ndim - 2} (before, after) pairs for an input of "
                         f"shape {x.shape}, got {pairs!r}")
    if min(v for p in pairs for v in p) < 0:
        raise ValueError(f"{name}: sizes must be >= 0, got {pairs}")
    return pairs


def _shift(x, y, offsets, fill):
    """The C window shift between x and y (1 to 3 spatial axes), the
    missing leading spatial axes taken as size 1."""
    lead = (1,) * (5 - x.ndim)
    _k.pad_crop(x, y, lead + x.shape[1:-1], lead + y.shape[1:-1],
                (0,) * (5 - x.ndim) + tuple(offsets), float(fill))
    return y


def pad(x, padding, value=0.0, out=None):
    """``x`` (batch, 1 to 3 spatial axes, channels) with ``padding[i] =
    (before, after)`` values equal to ``value`` added along spatial axis
    i (the zero padding layers; the gradient of ``crop``)."""
    x = _c32(x, "pad: x")
    pairs = _spatial_pairs(x, padding, "pad")
    shape = (x.shape[0],) + tuple(d + a + b for d, (a, b) in zip(x.shape[1:-1], pairs)) + \
        (x.shape[-1],)
    out = _out(out, shape, "pad")
    return _shift(x, out, [a for a, _ in pairs], value)


def crop(x, cropping, out=None):
    """``x`` (batch, 1 to 3 spatial axes, channels) without ``cropping[i] =
    (before, after)`` values at the ends of spatial axis i (the cropping
    layers; the gradient of ``pad``)."""
    x = _c32(x, "crop: x")
    pairs = _spatial_pairs(x, cropping, "crop")
    sizes = tuple(d - a - b for d, (a, b) in zip(x.shape[1:-1], pairs))
    if min(sizes) < 0:
        raise ValueError(f"crop: cropping {pairs} is more than the input of shape {x.shape} "
                         f"holds")
    out = _out(out, (x.shape[0],) + sizes + (x.shape[-1],), "crop")
    return _shift(x, out, [-a for a, _ in pairs], 0.0)


RESIZE_MODES = {"nearest": 0, "bilinear": 1}


def resize_geometry(height, width, size, crop_to_aspect_ratio=False):
    """The window (top, left, height, width) of a ``height`` x ``width``
    image that ``resize`` to ``size`` reads: the whole image, or with
    ``crop_to_aspect_ratio`` the centred window of the target's aspect
    ratio, computed as Keras 3 computes it."""
    if not crop_to_aspect_ratio:
        return 0, 0, height, width
    th, tw = size
    ch = max(min(height, int(float(width * th) / tw)), 1)
    cw = max(min(width, int(float(height * tw) / th)), 1)
    return int(float(height - ch) / 2), int(float(width - cw) / 2), ch, cw


def _resize_args(shape, size, interpolation, window, name):
    try:
        mode = RESIZE_MODES[str(interpolation).lower()]
    except KeyError:
        raise ValueError(f"{name}: interpolation must be one of {sorted(RESIZE_MODES)}, got "
                         f"{interpolation!r}") from None
    if len(shape) != 4:
        raise ValueError(f"{name}: expected an NHWC input of rank 4, got shape {tuple(shape)}")
    oh, ow = _pair(size, f"{name}: size")
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: size must be positive, got {(oh, ow)}")
    window = (0, 0, shape[1], shape[2]) if window is None else tuple(int(v) for v in window)
    top, left, wh, ww = window
    if top < 0 or left < 0 or wh < 1 or ww < 1 or top + wh > shape[1] or \
            left + ww > shape[2]:
        raise ValueError(f"{name}: the window {window} does not fit an input of shape "
                         f"{tuple(shape)}")
    return mode, (oh, ow), window


def resize(x, size, interpolation="bilinear", window=None, out=None):
    """NHWC images resized to ``size`` (height, width) with half-pixel
    centres, as Keras 3's ``image.resize`` without antialiasing:
    'nearest' or 'bilinear'.  ``window`` (top, left, height, width) resizes
    that part of each image (see ``resize_geometry``)."""
    x = _c32(x, "resize: images")
    mode, (oh, ow), window = _resize_args(x.shape, size, interpolation, window, "resize")
    out = _out(out, (x.shape[0], oh, ow, x.shape[3]), "resize")
    return _k.resize_forward(x, out, window, mode)


def resize_grad(dy, input_shape, interpolation="bilinear", window=None, out=None):
    """The input gradient of ``resize`` for an input of ``input_shape``."""
    dy = _c32(dy, "resize backward: dy")
    input_shape = tuple(input_shape)
    mode, size, window = _resize_args(input_shape, dy.shape[1:3] if dy.ndim == 4 else (0, 0),
                                      interpolation, window, "resize backward")
    if dy.shape != (input_shape[0],) + size + (input_shape[3],):
        raise ValueError(f"resize backward: dy of shape {dy.shape} does not fit an input of "
                         f"shape {input_shape}")
    out = _out(out, input_shape, "resize backward")
    return _k.resize_backward(dy, out, window, mode)


def _repeat_sizes(shape, repeats, axis, name):
    try:
        ok = int(repeats) == repeats and int(repeats) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name}: repeats must be a positive integer, got {repeats!r}")
    axis = _axis(axis, len(shape), name)
    outer = int(np.prod(shape[:axis + 1], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return int(repeats), axis, outer, inner


def repeat(x, repeats, axis, out=None):
    """``np.repeat(x, repeats, axis)`` for a positive integer ``repeats``:
    each slice along ``axis`` repeated in place (UpSampling1D,
    RepeatVector)."""
    x = _c32(x, "repeat: x")
    repeats, axis, outer, inner = _repeat_sizes(x.shape, repeats, axis, "repeat")
    shape = x.shape[:axis] + (x.shape[axis] * repeats,) + x.shape[axis + 1:]
    out = _out(out, shape, "repeat")
    return _k.repeat(x, out, outer, repeats, inner)


def repeat_grad(dy, repeats, axis, out=None):
    """The input gradient of ``repeat``: the repeated slices summed."""
    dy = _c32(dy, "repeat backward: dy")
    axis_ = _axis(axis, dy.ndim, "repeat backward")
    if not isinstance(repeats, (int, np.integer)) or repeats < 1 or dy.shape[axis_] % repeats:
        raise ValueError(f"repeat backward: axis {axis} of dy (shape {dy.shape}) is not a "
                         f"multiple of repeats={repeats!r}")
    shape = dy.shape[:axis_] + (dy.shape[axis_] // repeats,) + dy.shape[axis_ + 1:]
    repeats, axis_, outer, inner = _repeat_sizes(shape, repeats, axis_, "repeat backward")
    out = _out(out, shape, "repeat backward")
    return _k.repeat_backward(dy, out, outer, repeats, inner)


# ---------------------------------------------------------------- PReLU

def _prelu_alpha(sample_shape, alpha, name):
    """(cols, alpha as a vector, aligned shape, full) for PReLU over samples
    of ``sample_shape``: alpha covers the trailing ``cols`` values of a
    sample when its other axes are 1; otherwise (``full``) it is broadcast
    over the whole sample (``cols`` its size)."""
    sample_shape = tuple(sample_shape)
    if alpha.ndim > len(sample_shape):
        aligned = None
    else:
        aligned = (1,) * (len(sample_shape) - alpha.ndim) + alpha.shape
        if any(d not in (1, s) for d, s in zip(aligned, sample_shape)):
            aligned = None
    if aligned is None:
        raise ValueError(f"{name}: alpha of shape {alpha.shape} does not broadcast against "
                         f"samples of shape {sample_shape}")
    k = len(sample_shape)
    while k > 0 and aligned[k - 1] == sample_shape[k - 1]:
        k -= 1
    if all(d == 1 for d in aligned[:k]):
        return alpha.size, alpha.reshape(-1), aligned, False
    full = np.ascontiguousarray(np.broadcast_to(alpha.reshape(aligned), sample_shape))
    return full.size, full.reshape(-1), aligned, True


def prelu(x, alpha, out=None):
    """``max(x, 0) + alpha * min(x, 0)`` with ``alpha`` broadcast against
    each sample (``x.shape[1:]``), as Keras's PReLU."""
    x, alpha = _c32(x, "prelu: x"), _c32(alpha, "prelu: alpha")
    if x.ndim < 1:
        raise ValueError("prelu: expected an input with a batch axis")
    cols, a, _, _ = _prelu_alpha(x.shape[1:], alpha, "prelu")
    out = _out(out, x.shape, "prelu")
    if x.size == 0:
        return out
    return _k.prelu(x, a, out, cols)


def prelu_grad(x, alpha, dy, alpha_grad=None, input_grad=True):
    """Gradients of ``prelu`` from ``dy``: writes ``alpha_grad`` (alpha's
    shape) when given and returns the input gradient (None when
    ``input_grad`` is False)."""
    x, alpha = _c32(x, "prelu backward: x"), _c32(alpha, "prelu backward: alpha")
    dy = _c32(dy, "prelu backward: dy")
    if dy.shape != x.shape or x.ndim < 1:
        raise ValueError(f"prelu backward: dy of shape {dy.shape} does not match x of shape "
                         f"{x.shape}")
    cols, a, aligned, full = _prelu_alpha(x.shape[1:], alpha, "prelu backward")
    dx = None
    if input_grad is True:
        dx = np.empty(x.shape, np.float32)
    elif input_grad is not False and input_grad is not None:
        dx = _out(input_grad, x.shape, "prelu backward: input gradient")
    da = None
    if alpha_grad is not None:
        alpha_grad = _out(alpha_grad, alpha.shape, "prelu backward: alpha gradient")
        da = np.empty(cols, np.float32) if full else alpha_grad.reshape(-1)
    if x.size == 0:
        if alpha_grad is not None:
            alpha_grad[...] = 0.0
        return dx
    _k.prelu_backward(x, a, dy, dx, da, cols)
    if full and alpha_grad is not None:
        per_sample = reduce_to_shape(da.reshape(x.shape[1:]), aligned)
        alpha_grad[...] = per_sample.reshape(alpha.shape)
    return dx


# ------------------------------------------------------------ noise layers

def random_normal(shape, mean=0.0, stddev=1.0, seed=0, out=None):
    """Draws from N(mean, stddev^2), a function of ``seed`` and each
    value's index alone (the same for any thread count)."""
    out = _out(out, tuple(shape), "random_normal")
    return _k.random_normal(out, float(mean), float(stddev), int(seed) & 0xFFFFFFFFFFFFFFFF)


# Keras's SELU constants, which AlphaDropout keeps the statistics of.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _alpha_dropout_affine(rate):
    """AlphaDropout's (a, b, alpha'): kept values become a * x + b, dropped
    ones a * alpha' + b (Keras 3's formula)."""
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * alpha_p ** 2)) ** -0.5
    return a, -a * alpha_p * rate, alpha_p


def alpha_dropout(x, rate, seed, out=None, mask=None):
    """Keras's alpha dropout: each value dropped with probability ``rate``
    is set to SELU's negative saturation value, then all are scaled and
    shifted so the mean and variance stay those of the input.  Returns
    ``(y, mask)``; the draws are dropout's for the same seed."""
    x = _c32(x, "AlphaDropout: x")
    out = _out(out, x.shape, "AlphaDropout")
    _, mask = dropout(x, rate, seed, out=out, mask=mask)
    a, b, alpha_p = _alpha_dropout_affine(float(rate))
    _k.masked_affine(x, mask, out, a, b, a * alpha_p + b)
    return out, mask


def alpha_dropout_grad(dy, mask, rate, out=None):
    """The input gradient of ``alpha_dropout``: ``a * dy`` where kept."""
    dy = _c32(dy, "AlphaDropout backward: dy")
    out = _out(out, dy.shape, "AlphaDropout backward")
    return _k.masked_affine(dy, mask, out, _alpha_dropout_affine(float(rate))[0], 0.0, 0.0)


def scale_channels(x, scale, out=None):
    """``x[b, ..., c] * scale[b, c]``: one factor per sample and channel
    (spatial dropout); ``out`` may be ``x``."""
    x, scale = _c32(x, "scale_channels: x"), _c32(scale, "scale_channels: scale")
    if x.ndim < 2 or scale.shape != (x.shape[0], x.shape[-1]):
        raise ValueError(f"scale_channels: scale must have shape (batch, channels) = "
                         f"{(x.shape[0], x.shape[-1]) if x.ndim >= 2 else '?'}, got "
                         f"{scale.shape} for x of shape {x.shape}")
    out = _out(out, x.shape, "scale_channels")
    n, c = x.shape[0], x.shape[-1]
    s = x.size // (n * c) if n * c else 0
    return _k.sample_channel_scale(x, scale, out, n, s, c)


def l1l2_penalty(x, l1=0.0, l2=0.0):
    """``l1 * sum(|x|) + l2 * sum(x**2)``, summed in double."""
    return _k.l1l2_penalty(_c32(x, "l1l2_penalty: x"), float(l1), float(l2))


def l1l2_grad(x, dy, l1=0.0, l2=0.0, scale=1.0, out=None):
    """``dy + scale * (l1 * sign(x) + 2 * l2 * x)``: a gradient with that of
    ``scale * l1l2_penalty(x)`` added; ``out`` may be ``dy``."""
    x, dy = _c32(x, "l1l2_grad: x"), _c32(dy, "l1l2_grad: dy")
    if x.shape != dy.shape:
        raise ValueError(f"l1l2_grad: dy of shape {dy.shape} does not match x of shape "
                         f"{x.shape}")
    out = _out(out, x.shape, "l1l2_grad")
    return _k.l1l2_backward(x, dy, out, float(l1), float(l2), float(scale))


# ------------------------------------------------- layer and group norms

def _norm_sizes(x, groups, name):
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an input of rank >= 2, got shape {x.shape}")
    n, c = x.shape[0], x.shape[-1]
    if groups < 1 or c % groups:
        raise ValueError(f"{name}: {c} channels cannot be split into {groups} groups")
    s = x.size // (n * c) if n * c else 0
    return n, s, c


def group_norm(x, groups, gamma=None, beta=None, epsilon=1e-3, out=None, mean=None,
               inv_std=None):
    """Group normalization of ``x`` (batch, ..., channels): the channels cut
    into ``groups`` groups of consecutive channels, each (sample, group)
    normalized over its values, then per channel ``* gamma + beta``.
    Returns ``(y, mean, inv_std)``, the statistics one per (sample,
    group)."""
    x = _c32(x, "group_norm: x")
    n, s, c = _norm_sizes(x, int(groups), "group_norm")
    out = _out(out, x.shape, "group_norm")
    mean = _out(mean, (n * groups,), "group_norm: mean")
    inv_std = _out(inv_std, (n * groups,), "group_norm: inv_std")
    gamma = None if gamma is None else _c32(gamma, "group_norm: gamma")
    beta = None if beta is None else _c32(beta, "group_norm: beta")
    _k.group_norm_forward(x, n, s, groups, c // groups, float(epsilon), gamma, beta, out, mean,
                          inv_std)
    return out, mean, inv_std


def group_norm_grad(x, dy, mean, inv_std, groups, gamma=None, gamma_grad=None, beta_grad=None,
                    input_grad=True):
    """Gradients of ``group_norm`` from ``dy``: writes ``gamma_grad`` and
    ``beta_grad`` when given and returns the input gradient (None when
    ``input_grad`` is False)."""
    x, dy = _c32(x, "group_norm backward: x"), _c32(dy, "group_norm backward: dy")
    if x.shape != dy.shape:
        raise ValueError(f"group_norm backward: dy of shape {dy.shape} does not match x of "
                         f"shape {x.shape}")
    n, s, c = _norm_sizes(x, int(groups), "group_norm backward")
    dx = None
    if input_grad is True:
        dx = np.empty(x.shape, np.float32)
    elif input_grad is not False and input_grad is not None:
        dx = _out(input_grad, x.shape, "group_norm backward: input gradient")
    gamma = None if gamma is None else _c32(gamma, "group_norm backward: gamma")
    _k.group_norm_backward(x, dy, n, s, groups, c // groups, mean, inv_std, gamma, dx,
                           gamma_grad, beta_grad)
    return dx


def layer_norm(x, gamma=None, beta=None, epsilon=1e-3, out=None, mean=None, inv_std=None):
    """Layer normalization over the last axis of ``x``: each row normalized
    by its own mean and variance, then ``* gamma + beta``.  Returns ``(y,
    mean, inv_std)``, the statistics one per row."""
    x = _c32(x, "layer_norm: x")
    x2 = x.reshape(-1, x.shape[-1] if x.ndim else 1)
    y, mean, inv_std = group_norm(x2, 1, gamma, beta, epsilon,
                                  None if out is None else out.reshape(x2.shape), mean, inv_std)
    return y.reshape(x.shape), mean, inv_std


def layer_norm_grad(x, dy, mean, inv_std, gamma=None, gamma_grad=None, beta_grad=None,
                    input_grad=True):
    """Gradients of ``layer_norm``, as ``group_norm_grad``."""
    x, dy = _c32(x, "layer_norm backward: x"), _c32(dy, "layer_norm backward: dy")
    cols = x.shape[-1] if x.ndim else 1
    ig = input_grad.reshape(-1, cols) if isinstance(input_grad, np.ndarray) else input_grad
    dx = group_norm_grad(x.reshape(-1, cols), dy.reshape(-1, cols), mean, inv_std, 1, gamma,
                         gamma_grad, beta_grad, ig)
    return None if dx is None else dx.reshape(x.shape)


def combine_moments(mean_a, var_a, count_a, mean_b, var_b, count_b):
    """The mean and (biased) variance of two sets of values together, from
    each set's mean, variance and count (Chan et al.'s pairwise formula, in
    float64).  Returns ``(mean, var, count)``."""
    count = count_a + count_b
    if count == 0:
        return np.asarray(mean_a, np.float64), np.asarray(var_a, np.float64), 0
    wa, wb = count_a / count, count_b / count
    mean_a, var_a = np.asarray(mean_a, np.float64), np.asarray(var_a, np.float64)
    mean_b, var_b = np.asarray(mean_b, np.float64), np.asarray(var_b, np.float64)
    mean = mean_a * wa + mean_b * wb
    var = (var_a + (mean_a - mean) ** 2) * wa + (var_b + (mean_b - mean) ** 2) * wb
    return mean, var, count


def standardize_affine(mean, variance, invert=False, epsilon=1e-7):
    """The (scale, shift) with which Keras's Normalization layer is ``x *
    scale + shift``: ``(x - mean) / max(sqrt(variance), epsilon)``, or its
    inverse ``mean + x * max(sqrt(variance), epsilon)``."""
    std = np.maximum(np.sqrt(np.asarray(variance, np.float64)), epsilon)
    mean = np.asarray(mean, np.float64)
    if invert:
        return std.astype(np.float32), mean.astype(np.float32)
    return (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)
