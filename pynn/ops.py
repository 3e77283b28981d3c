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
    "linear", "relu", "relu6", "leaky_relu", "elu", "sigmoid", "hard_sigmoid",
    "hard_swish", "tanh", "softplus", "swish", "softmax",
    "loss", "sparse_loss", "LOSS_KINDS",
    "sgd_update", "rmsprop_update", "adam_update",
    "dropout", "dropout_grad", "gather_rows", "all_finite", "accuracy_count",
    "conv2d", "conv2d_grad", "depthwise_conv2d", "depthwise_conv2d_grad", "conv1d",
    "conv_geometry", "conv_output_length", "pool_geometry", "padding_1d",
    "max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad",
    "global_avg_pool2d", "global_max_pool2d", "global_pool2d_grad",
    "moments", "channel_affine", "batch_norm_grad", "batch_norm_affine", "moving_average", "fold_affine",
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
