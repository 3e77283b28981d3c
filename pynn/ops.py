"""NumPy-style functional kernels, computed in C.

Every function takes NumPy arrays and returns NumPy arrays.  float32 input is
used as it is (transposed views included, for ``matmul``); anything else is
converted to float32 once.  Functions that take ``out=`` write there and
return it, so a caller that keeps its buffers allocates nothing.

This module is the seam between the layers and the kernels: layers, losses and
optimizers compute only through it.

It also has the NumPy-style functions of Keras 3's ``keras.ops`` (``sum``,
``mean``, ``exp``, ``reshape``, ``stack``, ``norm``...), so code written
for Keras runs on it.  Every function here also accepts the traced arrays
of :mod:`pynn.autodiff` (what a layer's ``call()`` computes on while it
trains): one type test at the top sends those to their recorded form, so a
call on NumPy arrays pays nothing for it.  A function whose first array is a
``pynn.cuda.DeviceArray`` runs on the GPU instead (pynn._cuda_ops: the same
arguments, device arrays out); host and device arrays in one call are a
TypeError.  Functions without a GPU kernel (the recurrent cells, the
embedding, ``affine_warp``, the NumPy-style functions) take NumPy arrays
only.
"""
import builtins
import collections
import functools
import math
import numbers
import threading
import types

import numpy as np

from . import _cuda_ops
from . import _kernels as _k
from .cuda import DeviceArray as _Device
from .tensor import Tensor as _eager_type
from .tensor import eager as _eager
from .tensor import text_operands

# Keras 3's keras.ops names for NumPy's functions (and a few of its own:
# top_k, segment_sum, cond, the image namespace): on arrays they are
# NumPy's (with NumPy's argument checks), on traced arrays recorded.
NUMPY_STYLE = (
    "divide", "true_divide", "power", "negative", "abs", "absolute", "exp", "log", "log1p",
    "expm1", "sqrt", "square", "sin", "cos", "reciprocal", "sign", "floor", "ceil", "round",
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
    "logical_or", "logical_not", "clip", "where", "cast", "convert_to_tensor",
    "stop_gradient", "shape", "ndim", "zeros", "ones", "zeros_like", "ones_like", "one_hot",
    "argmax", "argmin", "sum", "max", "min", "prod", "mean", "var", "std", "cumsum",
    "logsumexp", "log_softmax", "softsign", "silu", "norm", "normalize", "reshape",
    "expand_dims", "squeeze", "stack", "split", "take", "tile", "flip",
    "moveaxis", "swapaxes", "broadcast_to", "tensordot", "dot", "erf", "convert_to_numpy",
    "arange", "any", "all", "size", "tril", "triu", "einsum", "top_k", "segment_sum",
    "argsort", "take_along_axis", "cond", "image",
    "array", "full", "full_like", "eye", "identity", "linspace", "isnan", "isinf", "isfinite",
    "diag", "mod", "outer", "rsqrt", "sort", "unstack", "vstack", "hstack", "average", "gelu",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "fori_loop", "while_loop", "slice", "slice_update", "vectorized_map", "conv",
    "depthwise_conv", "max_pool", "average_pool",
    "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "arcsinh", "arccosh",
    "arctanh", "log2", "log10", "exp2", "logaddexp", "divide_no_nan", "floor_divide",
    "logical_xor", "trunc", "isclose", "allclose", "nonzero", "count_nonzero", "cumprod",
    "meshgrid", "ravel", "amax", "amin", "roll", "diagonal", "trace", "copy", "empty", "dtype",
    "is_tensor", "append", "select", "scatter", "scatter_update", "in_top_k", "segment_max",
    "selu", "log_sigmoid", "hard_silu", "hard_tanh", "celu", "glu", "multi_hot",
    "batch_normalization", "separable_conv", "dot_product_attention", "map", "scan", "switch",
    "hypot", "cbrt", "deg2rad", "rad2deg", "logaddexp2", "fmod", "inner", "vdot", "flipud",
    "fliplr", "rot90", "diff", "empty_like", "tri", "diagflat", "array_split", "hsplit",
    "vsplit", "dsplit", "column_stack", "dstack", "nan_to_num", "ptp", "quantile",
    "percentile", "median", "signbit", "heaviside", "sinc", "isin", "isposinf", "isneginf",
    "searchsorted", "bincount", "digitize", "sparse_plus", "squareplus", "soft_shrink",
    "hard_shrink", "tanh_shrink", "threshold", "layer_normalization", "rms_normalization",
    "psnr", "space_to_depth", "depth_to_space", "conv_transpose", "inv", "det", "slogdet",
    "logdet", "solve", "matrix_power", "cholesky", "svd", "qr", "eigh", "pinv", "lstsq",
    "matrix_rank", "solve_triangular",
)

__all__ = [
    "matmul", "dense", "dense_grad", "bias_add", "activation", "activation_grad", "bias_grad",
    "linear", "relu", "relu_grad", "relu_form", "relu6", "leaky_relu", "elu", "sigmoid",
    "hard_sigmoid", "hard_swish", "tanh", "softplus", "swish", "softmax", "softmax_grad",
    "prelu", "prelu_grad",
    "loss", "sparse_loss", "LOSS_KINDS",
    "sgd_update", "rmsprop_update", "adam_update", "weight_penalty",
    "dropout", "dropout_grad", "alpha_dropout", "alpha_dropout_grad", "random_normal",
    "scale_channels", "gather_rows", "all_finite", "accuracy_count", "hash_buckets",
    "conv2d", "conv2d_grad", "depthwise_conv2d", "depthwise_conv2d_grad", "conv1d",
    "conv2d_transpose", "conv2d_transpose_grad", "conv_transpose_geometry",
    "conv_geometry", "conv_output_length", "pool_geometry", "padding_1d",
    "max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad",
    "global_avg_pool2d", "global_max_pool2d", "global_pool2d_grad",
    "moments", "channel_affine", "batch_norm_grad", "batch_norm_affine", "moving_average",
    "fold_affine",
    "batch_norm_sums", "batch_norm_grad_from_sums",
    "add", "subtract", "multiply", "maximum", "minimum", "axpby", "extremum_grad",
    "reduce_to_shape", "concatenate", "concatenate_grad", "batch_matmul", "l2_normalize",
    "l2_normalize_grad",
    "embedding", "embedding_grad",
    "lstm", "lstm_grad", "gru", "gru_grad", "simple_rnn", "simple_rnn_grad",
    "RecurrentTrace", "RecurrentGrads", "RECURRENT_ACTIVATIONS",
    "affine_warp", "INTERPOLATIONS", "FILL_MODES",
    "group_norm", "group_norm_grad", "layer_norm", "layer_norm_grad", "combine_moments",
    "standardize_affine",
    "transpose", "spatial_pad", "spatial_crop", "resize", "resize_grad", "resize_geometry",
    "repeat", "repeat_grad",
    "reverse", "time_mask", "time_mask_grad", "masked_mean", "masked_mean_grad",
] + list(NUMPY_STYLE)

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


# An array of more than this many values is refused before anything is
# allocated (16 GiB of float32): a layer of 10**12 units, a padding of
# 10**9 or a file declaring either is a mistake, not a request for memory.
# MemoryError is left for plausible sizes the machine cannot hold.
MAX_ARRAY_SIZE = 1 << 32


def check_size(shape, what):
    """Refuse shapes that are negative or absurdly large before anything is
    allocated, naming them."""
    size = 1
    for d in shape:
        if d < 0:
            raise ValueError(f"{what}: negative dimension in shape {tuple(shape)}")
        size *= d
    if size > MAX_ARRAY_SIZE:
        raise ValueError(f"{what}: shape {tuple(shape)} holds {size:,} values, more than the "
                         f"{MAX_ARRAY_SIZE:,} a pynn array may hold")


# Filled by pynn.autodiff (and the layers' Weight): the types whose
# presence sends a call to the tape, and the recorded form of each function.
_TRACED = set()
# autodiff.TracedComplex (a complex tensor with traced parts), set by autodiff
_TracedComplex = None
_TAPE_OPS = {}
# A NumPy array, the usual operand, is told apart by one identity test, and
# so is its dtype when float32 (NumPy's dtype of a native float32 array is
# this one object).
_ndarray = np.ndarray
_F32 = np.dtype(np.float32)
# The arrays an eager call gets: NumPy's and the eager tensors ops return;
# and the operands that, outside a trace and a watching tape, are never
# more than what they are (a public entry passes them straight on).
_ARRAYS = frozenset((np.ndarray, _eager_type))
_PLAIN = _ARRAYS | {int, float, bool, str, type(None)}


def _traced(name, *args, **kwargs):
    return _TAPE_OPS[name](*args, **kwargs)


def _f32(x, name="x"):
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        return x
    if type(x) is _Device:
        _mixed(name)
    if x is None:  # (NumPy would make it NaN; NumPy's own operators refuse it)
        raise TypeError(f"{name}: got None where an array is needed")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: cannot make an array of {type(x).__name__}: {e}") from None
    if arr.dtype.kind not in "biuf" and not (arr.dtype.kind == "O" and arr.size == 0):
        if arr.dtype.kind == "O" and not builtins.any(isinstance(v, (str, bytes))
                                                      for v in arr.flat):
            # lists of numbers with None, nested ragged lists (text is refused,
            # not parsed: "1.5" is no number)
            try:
                return arr.astype(np.float32)
            except (TypeError, ValueError, OverflowError):
                pass
        raise TypeError(f"{name}: expected real numbers (float, int or bool), got dtype "
                        f"{arr.dtype}")
    return arr.astype(np.float32, copy=False)


def _mixed(name):
    raise TypeError(f"{name}: got a pynn.cuda.DeviceArray where a NumPy array is needed: the "
                    f"other arrays of this call are on the host (host and device arrays do not "
                    f"mix), or this function has no GPU kernel; copy it with .to_numpy()")


def _c32(x, name="x"):
    x = _f32(x, name)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def _out(out, shape, name):
    if out is None:
        check_size(shape, name)
        return np.empty(shape, np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != tuple(shape):
        got = f"{out.dtype} of shape {out.shape}" if isinstance(out, np.ndarray) else \
            type(out).__name__
        raise ValueError(f"{name}: out must be float32 of shape {tuple(shape)}, got {got}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name}: out must be a writable C-contiguous array")
    return out


def _number(value, name, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a float, or a TypeError/ValueError naming the argument:
    a real number (NaN refused), within [low, high] (bounds left open when
    asked)."""
    if type(value) is float or type(value) is int:
        # (the common case, without the abstract-class checks below; a
        # bool's type is bool)
        v = float(value)
    elif isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (numbers.Real, np.number)) or isinstance(value, np.complexfloating):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    else:
        v = float(value)
    if v != v:
        raise ValueError(f"{name} must be a number, got NaN")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return v


def _alpha(alpha, name):
    """An activation's alpha (leaky_relu's slope, elu's scale): a finite
    number, or the activation's default when None."""
    if alpha is None:
        return DEFAULT_ALPHA.get(name, 0.0)
    a = _number(alpha, f"{name}: alpha")
    if builtins.abs(a) == float("inf"):
        raise ValueError(f"{name}: alpha must be finite, got {alpha!r}")
    return a


def _integer(value, name, low=None, high=None):
    """``value`` as an int (a bool, a float or anything else refused), within
    [low, high]."""
    if type(value) is _eager_type and value.ndim == 0:
        value = value[()]  # a 0-d eager tensor (ops.clip of a scalar, tf.shape(x)[0])
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,
                                                                      np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]" if low is not None \
            else f"<= {high}"
        raise ValueError(f"{name} must be {bounds}, got {v}")
    return v


def _at_least_1d(x, name):
    if x.ndim == 0:
        raise ValueError(f"{name}: expected an array of rank >= 1, got a scalar")
    return x


# ---------------------------------------------------------------- matmul

_FLOAT32 = np.dtype(np.float32)  # (the dtype of a list given to matmul, as it is taken)


def _misaligned(text):
    """The error of operands whose shapes do not fit: TensorFlow's
    InvalidArgumentError, which is a ValueError."""
    from .debugging import InvalidArgumentError
    return InvalidArgumentError(None, None, text)


def matmul(a, b, out=None, *, alpha=1.0, beta=0.0, transpose_a=False, transpose_b=False):
    """``alpha * a @ b + beta * out`` for 2-D float32 arrays.

    ``a`` and ``b`` may be transposed views (``w.T``): they are read in place,
    never copied.  With ``beta != 0`` the product is accumulated into ``out``.
    Other ranks follow NumPy's matmul (a vector is promoted, batch axes
    broadcast): one GEMM when only ``a`` has batch axes, a batched GEMM
    otherwise.  ``transpose_a``/``transpose_b`` swap the last two axes of
    an operand first (TensorFlow's ``tf.matmul`` arguments, which code
    ported with ``import pynn as tf`` passes: a tied decoder's
    ``matmul(x, kernel, transpose_b=True)``).
    """
    if transpose_a or transpose_b:
        a = _swap_last_axes(a) if transpose_a else a
        b = _swap_last_axes(b) if transpose_b else b
        return matmul(a, b, out, alpha=alpha, beta=beta)
    if type(a) is _Device:
        return _cuda_ops.matmul(a, b, out, alpha=alpha, beta=beta)
    if type(a) is _ndarray and type(b) is _ndarray and type(alpha) is float \
            and type(beta) is float and alpha == alpha and beta == beta:
        # Fast path (the checks below cost more than a small product): the
        # bridge checks dtype, rank and shapes; anything it rejects takes
        # the path below, which converts or explains.
        try:
            return _k.sgemm(a, b, out, alpha, beta)
        except (TypeError, ValueError, OverflowError):
            pass
    if (type(a) is not _ndarray and type(a) in _TRACED
            or type(b) is not _ndarray and type(b) in _TRACED):
        return _traced("matmul", a, b, out=out, alpha=alpha, beta=beta)
    if out is None and alpha == 1.0 and beta == 0.0 and \
            getattr(a, "dtype", _FLOAT32).kind in "iu" and \
            getattr(b, "dtype", _FLOAT32).kind in "iu":
        # as Keras: integers multiply in their common dtype, and a quantized
        # kernel's int8 by int8 accumulates in int32
        dtype = np.int32 if a.dtype == b.dtype == np.int8 else np.result_type(a, b)
        return np.matmul(a, b, dtype=dtype)
    a = _f32(a, "matmul: a")
    b = _f32(b, "matmul: b")
    alpha, beta = _number(alpha, "matmul: alpha"), _number(beta, "matmul: beta")
    if a.ndim != 2 or b.ndim != 2:
        if out is not None or beta != 0.0 or a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: out= and beta need 2-D arrays, and scalars have no "
                             f"product; got shapes {a.shape} and {b.shape}")
        y = _matmul_any_rank(a, b)
        return y if alpha == 1.0 else axpby(alpha, y)
    if a.shape[1] != b.shape[0]:
        raise _misaligned(f"matmul: shapes {a.shape} and {b.shape} do not align "
                          f"({a.shape[1]} != {b.shape[0]})")
    if out is None and beta != 0.0:
        raise ValueError("matmul: beta != 0 needs out")
    out = _out(out, (a.shape[0], b.shape[1]), "matmul")
    return _k.sgemm(a, b, out, alpha, beta)


def _swap_last_axes(x):
    rank = len(shape(x))
    if rank < 2:
        raise ValueError(f"matmul: transpose_a/transpose_b need operands of rank >= 2, got "
                         f"shape {tuple(shape(x))}")
    axes = list(range(rank))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return transpose(x, axes)


def _matmul_any_rank(a, b):
    """NumPy's matmul for arrays of any rank >= 1, through the GEMM kernels."""
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    y = gemm_nd(a2, b2)
    if a.ndim == 1:
        y = y.reshape(y.shape[:-2] + y.shape[-1:])
    if b.ndim == 1:
        y = y.reshape(y.shape[:-1])
    return y


def gemm_nd(a, b, transpose_a=False, transpose_b=False):
    """``a @ b`` for float32 arrays of rank >= 2 (the last two axes of
    either swapped when asked): one GEMM when only ``a`` has batch axes, a
    batched GEMM otherwise, batch axes broadcast."""
    sa = a.shape[:-2] + ((a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:])
    sb = b.shape[:-2] + ((b.shape[-1], b.shape[-2]) if transpose_b else b.shape[-2:])
    if sa[-1] != sb[-2]:
        raise _misaligned(f"matmul: shapes {sa} and {sb} do not align ({sa[-1]} != {sb[-2]})")
    if a.ndim == 2 and b.ndim == 2:
        return matmul(a.T if transpose_a else a, b.T if transpose_b else b)
    if b.ndim == 2 and not transpose_a:
        y = matmul(np.reshape(a, (-1, a.shape[-1])), b.T if transpose_b else b)
        return y.reshape(sa[:-1] + (sb[-1],))
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: the batch axes of shapes {a.shape} and {b.shape} cannot "
                         f"be broadcast together") from None
    a3 = np.ascontiguousarray(np.broadcast_to(a, batch + a.shape[-2:]),
                              dtype=np.float32).reshape((-1,) + a.shape[-2:])
    b3 = np.ascontiguousarray(np.broadcast_to(b, batch + b.shape[-2:]),
                              dtype=np.float32).reshape((-1,) + b.shape[-2:])
    y = batch_matmul(a3, b3, transpose_a, transpose_b)
    return y.reshape(batch + y.shape[-2:])


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
    # Fast path for the layers' own buffers, all given with their exact
    # shapes: the bridge checks dtype, contiguity and sizes; anything it
    # rejects takes the path below, which converts or explains.
    code = ACTIVATIONS.get(activation) if type(activation) is str else None
    if code is not None and alpha is None and type(x) is _ndarray and \
            type(kernel) is _ndarray and type(dy) is _ndarray and x.ndim == 2 and \
            kernel.ndim == 2:
        m, n = x.shape[0], kernel.shape[1]
        if x.shape[1] == kernel.shape[0] and dy.shape == (m, n) and \
                (input_grad is False or type(input_grad) is _ndarray and
                 input_grad.shape == x.shape) and \
                (type(pre) is _ndarray and pre.shape == (m, n) if activation in NEEDS_INPUT
                 else pre is None) and \
                (kernel_grad is None or type(kernel_grad) is _ndarray and
                 kernel_grad.shape == kernel.shape) and \
                (bias_grad is None or type(bias_grad) is _ndarray and
                 bias_grad.shape == (n,)) and \
                (code == 0 or type(y) is _ndarray and y.shape == (m, n) and
                 type(work) is _ndarray and work.shape == (m, n)):
            try:
                return _k.dense_backward(x, kernel, pre, y, dy, code,
                                         DEFAULT_ALPHA.get(activation, 0.0), kernel_grad,
                                         bias_grad, None if input_grad is False else input_grad,
                                         work)
            except (TypeError, ValueError, OverflowError):
                pass
    code = _act_code(activation)
    alpha = _alpha(alpha, activation)
    if activation in NEEDS_INPUT and pre is None:
        raise ValueError(f"Dense: the gradient of {activation} needs the pre-activation")
    x = _c32(x, "Dense backward: x")
    kernel = _c32(kernel, "Dense backward: kernel")
    dy = _c32(dy, "Dense backward: dy")
    if x.ndim != 2 or kernel.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"Dense backward: input of shape {x.shape} does not fit a kernel of "
                         f"shape {kernel.shape}")
    out_shape = (x.shape[0], kernel.shape[1])
    if dy.shape != out_shape:
        raise ValueError(f"Dense backward: dy must have the output's shape {out_shape}, got "
                         f"{dy.shape}")
    if code != 0:
        if y is None:
            raise ValueError(f"Dense backward: the gradient through {activation} needs the "
                             f"forward output y")
        y = _c32(y, "Dense backward: y")
        pre = None if pre is None else _c32(pre, "Dense backward: pre")
        for arr, what in ((y, "y"), (pre, "pre")):
            if arr is not None and arr.shape != out_shape:
                raise ValueError(f"Dense backward: {what} must have the output's shape "
                                 f"{out_shape}, got {arr.shape}")
    if kernel_grad is not None:
        kernel_grad = _out(kernel_grad, kernel.shape, "Dense: kernel gradient")
    if bias_grad is not None:
        bias_grad = _out(bias_grad, (kernel.shape[1],), "Dense: bias gradient")
    dx = None
    if input_grad is True:
        dx = np.empty(x.shape, np.float32)
    elif input_grad is not False and input_grad is not None:
        dx = _out(input_grad, x.shape, "Dense: input gradient")
    if code != 0:
        work = _out(work, dy.shape, "Dense backward: work")
    _k.dense_backward(x, kernel, pre, y, dy, code, alpha, kernel_grad, bias_grad, dx, work)
    return dx


def dense(x, kernel, bias=None, activation="linear", alpha=None, out=None):
    """``activation(x @ kernel + bias)`` for 2-D ``x``: one GEMM and one fused
    pass over its output, in a single call."""
    if type(x) is _Device:
        return _cuda_ops.dense(x, kernel, bias, activation, alpha, out)
    if (type(x) is not _ndarray and type(x) in _TRACED
            or type(kernel) is not _ndarray and type(kernel) in _TRACED
            or bias is not None and type(bias) in _TRACED):
        return _traced("dense", x, kernel, bias, activation, alpha=alpha, out=out)
    code = _act_code(activation)
    alpha = _alpha(alpha, activation)
    if out is not None:
        # Fast path for the layers' own buffers: the bridge checks dtype,
        # contiguity and sizes; anything it rejects takes the path below,
        # which converts or explains.
        try:
            return _k.dense_forward(x, kernel, bias, code, alpha, out)
        except (TypeError, ValueError, OverflowError):
            pass
    x = _c32(x, "Dense: input")
    kernel = _c32(kernel, "Dense: kernel")
    if x.ndim != 2 or kernel.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"Dense: input of shape {x.shape} does not fit a kernel of "
                         f"shape {kernel.shape}")
    if bias is not None:
        bias = _c32(bias, "Dense: bias")
        if bias.shape != (kernel.shape[1],):
            raise ValueError(f"Dense: bias must have shape ({kernel.shape[1]},), got "
                             f"{bias.shape}")
    out = _out(out, (x.shape[0], kernel.shape[1]), "Dense")
    return _k.dense_forward(x, kernel, bias, code, alpha, out)


# ----------------------------------------------------------- activations

def _act_code(name):
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown activation {name!r}; expected one of "
                         f"{sorted(ACTIVATIONS)}") from None


def activation(x, name, bias=None, alpha=None, out=None):
    """``name(x + bias)``, the bias broadcast over the last axis, in one pass.

    Softmax is taken over the last axis.  ``out`` may be ``x``.
    """
    if type(x) in _ARRAYS and x.dtype is _F32 and bias is None and alpha is None \
            and out is None and type(name) is str and name in ACTIVATIONS:
        # a float32 array through a named activation with its defaults
        # (ops.relu(x) in a custom layer): the bridge refuses only a
        # non-contiguous one, which the general path copies
        try:
            return _k.bias_activation(ACTIVATIONS[name], DEFAULT_ALPHA.get(name, 0.0), x, None,
                                      np.empty(x.shape, np.float32))
        except ValueError:
            pass
    if type(x) is _Device:
        return _cuda_ops.activation(x, name, bias, alpha, out)
    if (type(x) is not _ndarray and type(x) in _TRACED
            or bias is not None and type(bias) in _TRACED):
        return _traced("activation", x, name, bias=bias, alpha=alpha, out=out)
    code = _act_code(name)
    x = _c32(x, f"{name}: x")
    alpha = _alpha(alpha, name)
    if bias is not None:
        bias = _c32(bias, f"{name}: bias")
        want = (x.shape[-1] if x.ndim else 1,)
        if bias.shape != want:
            raise ValueError(f"{name}: bias must have shape {want}, got {bias.shape}")
    out = _out(out, x.shape, name)
    return _k.bias_activation(code, alpha, x, bias, out)


def activation_grad(name, x, y, dy, alpha=None, out=None):
    """Gradient through activation ``name``: ``dy * name'(x)`` where ``y`` is
    the forward output.  ``x`` may be None unless ``name`` is in NEEDS_INPUT.
    ``out`` may be ``dy``."""
    if type(y) is _Device:
        return _cuda_ops.activation_grad(name, x, y, dy, alpha, out)
    code = _act_code(name)
    alpha = _alpha(alpha, name)
    y = _c32(y, f"{name} backward: y")
    dy = _c32(dy, f"{name} backward: dy")
    if name in NEEDS_INPUT:
        if x is None:
            raise ValueError(f"{name}: the gradient needs the forward input")
        x = _c32(x, f"{name} backward: x")
        if x.shape != y.shape:
            raise ValueError(f"{name}: input shape {x.shape} != output shape {y.shape}")
    else:
        x = None
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
    dy = _at_least_1d(_c32(dy, "bias_grad: dy"), "bias_grad: dy")
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


def leaky_relu(x, alpha=0.2, out=None, *, negative_slope=None):
    """``x`` where positive, else ``alpha * x`` (Keras 3 calls the slope
    ``negative_slope``)."""
    return activation(x, "leaky_relu", alpha=alpha if negative_slope is None else
                      negative_slope, out=out)


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
    """Softmax over ``axis`` (the last by default); another axis is moved
    last (a transposition in C) and back."""
    if type(x) is _Device:
        return _cuda_ops.softmax(x, axis, out)
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("softmax", x, axis=axis, out=out)
    x = _f32(x, "softmax: x")
    if x.ndim == 0:
        _integer(axis, "softmax: axis")
        return activation(x, "softmax", out=out)
    axis = _axis(axis, x.ndim, "softmax")
    if axis != x.ndim - 1:
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
    if type(y_pred) is _Device:
        return _cuda_ops.loss(kind, y_true, y_pred, sample_weight, scale, grad, out)
    if (type(y_pred) is not _ndarray and type(y_pred) in _TRACED
            or type(y_true) is not _ndarray and type(y_true) in _TRACED):
        return _traced("loss", kind, y_true, y_pred, sample_weight, scale, grad, out)
    try:
        code = LOSS_KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown loss {kind!r}; expected one of {sorted(LOSS_KINDS)}") from None
    y_pred = _c32(y_pred, f"{kind}: y_pred")
    y_true = _c32(y_true, f"{kind}: y_true")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{kind}: y_true has shape {y_true.shape}, y_pred {y_pred.shape}")
    rows = _rows(y_pred)
    out = _out(out, (rows,), kind)
    sample_weight, scale = _loss_weights(kind, sample_weight, scale, rows)
    if grad is not None:
        grad = _out(grad, y_pred.shape, f"{kind}: grad")
    return _k.loss(code, y_pred, y_true, sample_weight, scale, out, grad)


def _rows(y_pred):
    """The number of samples of a prediction array: one per row of its last
    axis (a 1-D or 0-d array is one sample)."""
    if y_pred.ndim <= 1:
        return 1
    return y_pred.size // y_pred.shape[-1] if y_pred.shape[-1] else 0


def _loss_weights(kind, sample_weight, scale, rows):
    """The checked sample weights (one per sample) and scale (> 0, the
    number of samples by default) of a loss."""
    if sample_weight is not None:
        sample_weight = _c32(sample_weight, f"{kind}: sample_weight")
        if sample_weight.size != rows:
            raise ValueError(f"{kind}: sample_weight has {sample_weight.size} values for "
                             f"{rows} samples")
    if scale is None:
        scale = float(builtins.max(rows, 1))
    else:
        scale = _number(scale, f"{kind}: scale", low=0.0, low_open=True)
        if scale == float("inf"):
            raise ValueError(f"{kind}: scale must be finite, got {scale!r}")
    return sample_weight, scale


def sparse_loss(labels, y_pred, from_logits=False, sample_weight=None, scale=None,
                grad=None, out=None):
    """Sparse categorical cross-entropy of ``y_pred`` (rows x classes) against
    integer ``labels`` (rows), with its gradient as in :func:`loss`."""
    if type(y_pred) is _Device:
        return _cuda_ops.sparse_loss(labels, y_pred, from_logits, sample_weight, scale, grad, out)
    if type(labels) is _Device:
        _mixed("sparse_categorical_crossentropy: labels")
    if (type(y_pred) is not _ndarray and type(y_pred) in _TRACED
            or type(labels) is not _ndarray and type(labels) in _TRACED):
        return _traced("sparse_loss", labels, y_pred, from_logits, sample_weight, scale, grad,
                       out)
    name = "sparse_categorical_crossentropy"
    y_pred = _at_least_1d(_c32(y_pred, f"{name}: y_pred"), f"{name}: y_pred")
    classes = y_pred.shape[-1]
    if classes == 0:
        raise ValueError(f"{name}: y_pred of shape {y_pred.shape} has no classes")
    rows = _rows(y_pred)
    labels = class_labels(labels, classes, name)
    if labels.size != rows:
        raise ValueError(f"{name}: {labels.size} labels for {rows} predictions "
                         f"(y_pred of shape {y_pred.shape})")
    out = _out(out, (rows,), name)
    sample_weight, scale = _loss_weights(name, sample_weight, scale, rows)
    if grad is not None:
        grad = _out(grad, y_pred.shape, f"{name}: grad")
    return _k.sparse_loss(bool(from_logits), y_pred, labels, sample_weight, scale, out, grad)


def class_labels(labels, classes, name, out_of_range="raise"):
    """Integer class labels as a flat C-contiguous int32 array, checked to be
    whole numbers in [0, classes) before the conversion (so 2**32 + 1 does
    not wrap to 1).  With ``out_of_range='miss'`` labels outside the range,
    and fractional ones, become -1 (a class no prediction can hit) instead
    of raising, as Keras's accuracy compares them with the predicted class."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    flat = labels.reshape(-1)
    if labels.dtype != np.int32 and flat.size:
        fractional = np.zeros(flat.shape, bool)
        if flat.dtype.kind == "f":
            if not np.all(np.isfinite(flat)):
                raise ValueError(f"{name}: labels contain NaN or inf")
            fractional = flat != np.floor(flat)
            if np.any(fractional) and out_of_range != "miss":
                raise ValueError(f"{name}: labels must be whole numbers, got "
                                 f"{flat[fractional][0].item()!r}")
        bad = (flat < 0) | (flat >= classes) | fractional
        if np.any(bad):
            if out_of_range != "miss":
                raise ValueError(f"{name}: label {flat[bad][0].item()!r} is outside [0, {classes}) "
                                 f"for an output of {classes} classes")
            flat = np.where(bad, -1, flat)
    return np.ascontiguousarray(flat, dtype=np.int32)


# ------------------------------------------------------------- optimizers

def _finite(value, name, **bounds):
    v = _number(value, name, **bounds)
    if builtins.abs(v) == float("inf"):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def sgd_update(w, g, v=None, lr=0.01, momentum=0.0, nesterov=False):
    """In place: Keras's SGD step (``v`` is the momentum buffer).  The
    arrays are float32, C-contiguous, of one size; ``w`` and ``v`` writable."""
    if type(w) is _Device:
        return _cuda_ops.sgd_update(w, g, v, lr, momentum, nesterov)
    lr = _finite(lr, "SGD: learning_rate")
    momentum = _finite(momentum, "SGD: momentum", low=0.0)
    _k.sgd_update(w, g, v, lr, momentum, bool(nesterov))


def rmsprop_update(w, g, s, lr=0.001, rho=0.9, epsilon=1e-7, momentum=0.0, m=None, mg=None):
    """In place: Keras 3's RMSprop step, ``lr * g / sqrt(s + epsilon)`` (``s``
    is the mean square).  With ``momentum`` > 0 the step accumulates in the
    buffer ``m``; centered RMSprop passes ``mg``, the running mean gradient,
    and divides by ``sqrt(s - mg**2 + epsilon)``."""
    momentum = _finite(momentum, "RMSprop: momentum", low=0.0, high=1.0)
    if momentum > 0 and m is None:
        raise ValueError("RMSprop: momentum > 0 needs its buffer m")
    if momentum == 0:
        m = None
    if type(w) is _Device:
        return _cuda_ops.rmsprop_update(w, g, s, lr, rho, epsilon, momentum, m, mg)
    _k.rmsprop_update(w, g, s, m, mg, _finite(lr, "RMSprop: learning_rate"),
                      _finite(rho, "RMSprop: rho", low=0.0, high=1.0), momentum,
                      _finite(epsilon, "RMSprop: epsilon", low=0.0))


def weight_penalty(w, l1=0.0, l2=0.0, grad=None):
    """``sum(l1 * |w| + l2 * w**2)`` (L1/L2 regularization), adding its
    gradient ``l1 * sign(w) + 2 * l2 * w`` into ``grad`` when given."""
    if type(w) is _Device:
        return _cuda_ops.weight_penalty(w, l1, l2, grad)
    if _is_traced(w):
        # (a regularizer called on a watched weight: the penalty recorded)
        if grad is not None:
            raise ValueError("weight_penalty: grad= is not available on traced arrays (the "
                             "tape gives the gradient)")
        l1, l2 = float(l1), float(l2)
        terms = ([multiply(np.float32(l1), sum(abs(w)))] if l1 else []) + \
            ([multiply(np.float32(l2), sum(square(w)))] if l2 else [])
        if not terms:
            return 0.0
        return terms[0] if len(terms) == 1 else add(terms[0], terms[1])
    w = _c32(w, "weight_penalty: w")
    if grad is not None:
        grad = _out(grad, w.shape, "weight_penalty: grad")
    return float(_k.weight_penalty(w, grad, float(l1), float(l2)))


def adam_update(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """In place: Keras's Adam step number ``t`` (1-based)."""
    if type(w) is _Device:
        return _cuda_ops.adam_update(w, g, m, v, t, lr, beta_1, beta_2, epsilon)
    _k.adam_update(w, g, m, v, _finite(lr, "Adam: learning_rate"),
                   _finite(beta_1, "Adam: beta_1", low=0.0, high=1.0, high_open=True),
                   _finite(beta_2, "Adam: beta_2", low=0.0, high=1.0, high_open=True),
                   _finite(epsilon, "Adam: epsilon", low=0.0),
                   _integer(t, "Adam: step t", low=1, high=(1 << 63) - 1))


# ------------------------------------------------------------ elementwise

def dropout(x, rate, seed, out=None, mask=None, offset=0):
    """Inverted dropout: zero each element with probability ``rate`` and
    scale the rest by ``1 / (1 - rate)``.  Returns ``(y, mask)``.  Element
    i draws from ``(seed, offset + i)``: a shard of a batch passes its
    first element's index in the batch to draw the batch's own mask."""
    if type(x) is _Device:
        return _cuda_ops.dropout(x, rate, seed, out, mask, offset)
    x = _c32(x, "Dropout: x")
    rate = _number(rate, "Dropout: rate", low=0.0, high=1.0, high_open=True)
    seed = _integer(seed, "Dropout: seed") & ((1 << 64) - 1)
    offset = _integer(offset, "Dropout: offset", low=0, high=(1 << 63) - 1)
    out = _out(out, x.shape, "Dropout")
    mask = _mask(mask, x.shape, "Dropout")
    _k.dropout_forward(x, out, mask, rate, seed, offset)
    return out, mask


def _mask(mask, shape, name):
    if mask is None:
        return np.empty(shape, np.uint8)
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.shape != shape \
            or not mask.flags.c_contiguous:
        got = f"{mask.dtype} of shape {mask.shape}" if isinstance(mask, np.ndarray) else \
            type(mask).__name__
        raise ValueError(f"{name}: mask must be a C-contiguous uint8 array of shape {shape}, "
                         f"got {got}")
    return mask


def dropout_grad(dy, mask, rate, out=None):
    """The input gradient of ``dropout``: ``dy`` where the mask kept the
    value, scaled by ``1 / (1 - rate)``."""
    if type(dy) is _Device:
        return _cuda_ops.dropout_grad(dy, mask, rate, out)
    dy = _c32(dy, "Dropout backward: dy")
    rate = _number(rate, "Dropout: rate", low=0.0, high=1.0, high_open=True)
    if mask is None:
        raise ValueError("Dropout backward: the forward pass's mask is required")
    mask = _mask(mask, dy.shape, "Dropout backward")
    out = _out(out, dy.shape, "Dropout backward")
    return _k.dropout_backward(dy, mask, out, rate)


def _flat_index(index, n, name, what, negative=False):
    """``index`` as a flat int64 array of positions among ``n`` ``what``
    (negative ones counting from the end when ``negative``); an index out
    of range is an IndexError, as in NumPy's indexing."""
    try:
        index = np.asarray(index)
    except (OverflowError, ValueError):
        raise ValueError(f"{name}: index must be integers, got {index!r}") from None
    if index.dtype.kind not in "iu" and not (index.size == 0 and index.dtype.kind in "fO"):
        raise TypeError(f"{name}: index must hold integers, got dtype {index.dtype}")
    index = index.reshape(-1)
    if index.size:
        low, high, first = int(index.min()), int(index.max()), -n if negative else 0
        if low < first or high >= n:
            bad = low if low < first else high
            raise IndexError(f"{name}: index {bad} is out of range for {n} {what}")
        if low < 0:
            index = np.where(index < 0, index + n, index)
    return np.ascontiguousarray(index, dtype=np.int64)


def gather_rows(src, index, out=None):
    """``src[index]`` along the first axis, written into ``out`` (of any
    dtype; negative indices count from the end, as NumPy's)."""
    if type(src) is _Device:
        return _cuda_ops.gather_rows(src, index, out)
    if type(index) is _Device or type(out) is _Device:
        _mixed("gather: index and out")
    if type(src) is _ndarray and type(index) is _ndarray and type(out) is _ndarray and \
            index.ndim == 1 and out.ndim and out.shape[0] == index.shape[0] and \
            out.shape[1:] == src.shape[1:] and not src.dtype.hasobject:
        # Fast path for training's batches: the bridge checks dtypes,
        # layouts and that every index is in [0, rows) before it copies
        # anything; what it refuses (negative indices, other index types,
        # ...) takes the path below, which converts or explains.
        try:
            return _k.gather_rows(src, index, out)
        except (TypeError, ValueError, IndexError):
            pass
    src = np.asarray(src)
    if src.ndim == 0:
        raise ValueError("gather_rows: src must have rows (rank >= 1), got a scalar")
    index = _flat_index(index, src.shape[0], "gather_rows", "rows", negative=True)
    src = np.ascontiguousarray(src)
    shape = (index.size,) + src.shape[1:]
    if out is None:
        check_size(shape, "gather_rows")
        out = np.empty(shape, src.dtype)
    elif not isinstance(out, np.ndarray) or out.dtype != src.dtype or out.shape != shape \
            or not out.flags.c_contiguous or not out.flags.writeable:
        got = f"{out.dtype} of shape {out.shape}" if isinstance(out, np.ndarray) else \
            type(out).__name__
        raise ValueError(f"gather_rows: out must be a writable C-contiguous {src.dtype} array "
                         f"of shape {shape}, got {got}")
    if src.dtype.hasobject:
        # Python objects (strings for a text layer) are references: a byte
        # copy would skip their reference counts.
        return np.take(src, index, axis=0, out=out)
    return _k.gather_rows(src, index, out)


ACCURACY_KINDS = {"categorical": 0, "sparse": 1, "binary": 2}


def accuracy_count(kind, y_true, y_pred, sample_weight=None, threshold=0.5):
    """Weighted number of correct predictions: ``kind`` 'categorical'
    (argmax of both), 'sparse' (argmax against int32 labels) or 'binary'
    (``y_pred > threshold`` against ``y_true > 0.5``, averaged per sample)."""
    if type(y_pred) is _Device:
        return _cuda_ops.accuracy_count(kind, y_true, y_pred, sample_weight, threshold)
    if type(y_true) is _Device:
        _mixed("accuracy: y_true")
    if kind not in ACCURACY_KINDS:
        raise ValueError(f"accuracy: kind must be one of {sorted(ACCURACY_KINDS)}, got {kind!r}")
    name = f"{kind} accuracy"
    y_pred = _at_least_1d(_c32(y_pred, f"{name}: y_pred"), f"{name}: y_pred")
    rows, classes = _rows(y_pred), y_pred.shape[-1]
    if kind != "binary" and classes == 0:
        raise ValueError(f"{name}: y_pred of shape {y_pred.shape} has no classes")
    if kind == "sparse":
        y_true = class_labels(y_true, classes, name, out_of_range="miss")
        if y_true.size != rows:
            raise ValueError(f"{name}: {y_true.size} labels for {rows} predictions")
    else:
        y_true = _c32(y_true, f"{name}: y_true")
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{name}: y_true has shape {y_true.shape}, y_pred "
                             f"{y_pred.shape}")
    if sample_weight is not None:
        sample_weight = _c32(sample_weight, f"{name}: sample_weight")
        if sample_weight.size != rows:
            raise ValueError(f"{name}: sample_weight has {sample_weight.size} values for "
                             f"{rows} samples")
    threshold = _number(threshold, f"{name}: threshold")
    return _k.accuracy(ACCURACY_KINDS[kind], y_pred, y_true, sample_weight, threshold)


def _packed_strings(values, name):
    """The values as one buffer of bytes and each one's length: strings
    as UTF-8, bytes as they are, integers as their decimal text and
    booleans as 'true'/'false' (TensorFlow's as_string)."""
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind == "U" and arr.size and arr.dtype.itemsize:
        codes = np.ascontiguousarray(arr).reshape(-1).view(np.uint32)
        if codes.max() < 128:  # ASCII: its UTF-8 bytes are its code points
            text = codes.astype(np.uint8).view(f"S{arr.dtype.itemsize // 4}")
            return _packed_bytes(text)
    if kind in "OU":
        parts = []
        for v in arr.ravel().tolist():
            if isinstance(v, str):
                parts.append(v.encode("utf-8"))
            elif isinstance(v, bytes):
                parts.append(v)
            elif isinstance(v, (bool, np.bool_)):
                parts.append(b"true" if v else b"false")
            elif isinstance(v, (int, np.integer)):
                parts.append(str(int(v)).encode("ascii"))
            else:
                raise TypeError(f"{name}: values must be strings, bytes or integers, got "
                                f"{type(v).__name__}")
        return b"".join(parts), np.fromiter(builtins.map(len, parts), np.int64, len(parts))
    if kind in "iu":
        text = arr.astype("S")
    elif kind == "b":
        text = np.where(arr, b"true", b"false")
    elif kind == "S":
        text = arr
    else:
        raise TypeError(f"{name}: values must be strings, bytes or integers, got dtype "
                        f"{arr.dtype}")
    return _packed_bytes(text)


def _packed_bytes(text):
    """The bytes of an array of them (NumPy's 'S' dtype) end to end, and
    each one's length."""
    flat = np.ascontiguousarray(text).reshape(-1)
    lengths = np.char.str_len(flat).astype(np.int64) if flat.size else np.zeros(0, np.int64)
    width = flat.dtype.itemsize
    if not flat.size or not width:
        return b"", lengths
    rows = flat.view(np.uint8).reshape(flat.size, width)
    return rows[np.arange(width) < lengths[:, None]].tobytes(), lengths


def hash_buckets(values, num_buckets, key=None):
    """TensorFlow's ``tf.strings.to_hash_bucket_fast`` (``key=None``:
    FarmHash's Fingerprint64) and ``to_hash_bucket_strong`` (``key``: two
    unsigned 64-bit integers, SipHash-2-4 keyed by them): each value's hash
    modulo ``num_buckets``, an int64 array of the values' shape.  Strings
    hash as their UTF-8 bytes, integers as their decimal text (as
    ``tf.as_string`` writes them)."""
    name = "hash_buckets"
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)) \
            or not 1 <= num_buckets < 2 ** 63:
        raise ValueError(f"{name}: num_buckets must be a positive integer below 2**63, got "
                         f"{num_buckets!r}")
    if key is not None:
        if not isinstance(key, (tuple, list)) or len(key) != 2 or not builtins.all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool) and
                -2 ** 63 <= k < 2 ** 64 for k in key):
            raise ValueError(f"{name}: key must be two integers that fit 64 bits, got "
                             f"{key!r}")
        key = tuple(int(k) & (2 ** 64 - 1) for k in key)
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and (arr.dtype.itemsize < 8 or arr.dtype.kind == "i" or
                                   not arr.size or arr.max() < 2 ** 63):
        # integers are formatted in C, without a string per value
        ints = np.ascontiguousarray(arr, np.int64)
        out = np.empty(ints.shape, np.int64)
        _k.hash_int64_buckets(ints, int(num_buckets), key, out)
        return out
    shape = arr.shape
    data, lengths = _packed_strings(arr, name)
    offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    out = np.empty(lengths.size, np.int64)
    _k.hash_buckets(data, offsets, int(num_buckets), key, out)
    return out.reshape(shape)


def all_finite(x):
    """True when no element of the float array is NaN or infinite."""
    if type(x) is _Device:
        return _cuda_ops.all_finite(x)
    if type(x) is _ndarray:
        # (predict's check of every input: the bridge takes a C-contiguous
        # float32 array as it is and refuses anything else, which is
        # converted below)
        try:
            return _k.all_finite(x)
        except (TypeError, ValueError):
            pass
    return _k.all_finite(_c32(x, "all_finite: x"))


# ----------------------------------------------------------- convolution

# Strides, dilations, windows and paddings beyond this are refused: no
# array pynn may hold is that large, and the kernels take them as C sizes.
_MAX_GEOMETRY = MAX_ARRAY_SIZE


def _geometry_int(v, name, low):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
        raise ValueError(f"{name}: expected integers, got {v!r}")
    v = int(v)
    if v < low or v > _MAX_GEOMETRY:
        raise ValueError(f"{name}: expected integers in [{low}, {_MAX_GEOMETRY}], got {v}")
    return v


def _pair(v, name, low=1):
    """An int or a pair of ints (each in [low, _MAX_GEOMETRY]) as a pair."""
    if isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_)):
        v = _geometry_int(v, name, low)
        return (v, v)
    try:
        items = tuple(v)
    except TypeError:
        raise ValueError(f"{name}: expected an int or a pair of ints, got {v!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name}: expected an int or a pair of ints, got {v!r}")
    return tuple(_geometry_int(a, name, low) for a in items)


def conv_output_length(size, kernel, stride, dilation, padding):
    """Output length and padding before, along one axis, under TensorFlow's
    rules: 'valid' uses only whole windows; 'same' gives ceil(size / stride)
    outputs and pads the total shortfall, the extra one after.  ``padding``
    may also be an explicit (before, after) pair.  None sizes give None."""
    kernel = _geometry_int(kernel, "conv_output_length: kernel", 1)
    stride = _geometry_int(stride, "conv_output_length: stride", 1)
    dilation = _geometry_int(dilation, "conv_output_length: dilation", 1)
    if size is not None:
        size = _integer(size, "conv_output_length: size", low=0)
    if isinstance(padding, tuple):
        try:
            before, after = padding
        except ValueError:
            raise ValueError(f"conv_output_length: padding must be 'valid', 'same' or a "
                             f"(before, after) pair, got {padding!r}") from None
        padding = (_geometry_int(before, "conv_output_length: padding", 0),
                   _geometry_int(after, "conv_output_length: padding", 0))
    elif padding not in ("valid", "same"):
        raise ValueError(f"conv_output_length: padding must be 'valid', 'same' or a "
                         f"(before, after) pair, got {padding!r}")
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
    total = builtins.max((out - 1) * stride + span - size, 0)
    return out, total // 2


def _padding(padding, name):
    if isinstance(padding, str):
        p = padding.lower()
        if p not in ("valid", "same"):
            raise ValueError(f"{name}: padding must be 'valid' or 'same', got {padding!r}")
        return p, p
    try:
        (t, b), (l, r) = padding
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: padding must be 'valid', 'same' or "
                         f"((top, bottom), (left, right)), got {padding!r}") from None
    return (_pair((t, b), f"{name}: padding", low=0), _pair((l, r), f"{name}: padding", low=0))


def conv_geometry(in_shape, kernel_hw, strides, padding, dilation_rate, name="conv2d"):
    """Output (height, width) and the kernels' geometry tuple (sh, sw, dh,
    dw, pad_top, pad_left) for an NHWC input shape."""
    in_shape, kernel_hw = _shape4(in_shape, name), tuple(kernel_hw)
    if len(kernel_hw) != 2:
        raise ValueError(f"{name}: expected a (height, width) kernel size, got {kernel_hw}")
    try:
        return _conv_geometry(in_shape, kernel_hw, strides, padding, dilation_rate, name)
    except TypeError:  # unhashable arguments (lists): compute without the cache
        return _conv_geometry.__wrapped__(in_shape, kernel_hw, strides, padding, dilation_rate,
                                          name)


def _shape4(shape, name):
    """An NHWC shape (None allowed for the sizes) as a tuple, checked."""
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{name}: expected an NHWC shape, got {shape!r}") from None
    # (type(d) is int first: the ABC check costs a microsecond a size)
    if len(shape) != 4 or not builtins.all(
            d is None or ((type(d) is int or isinstance(d, (numbers.Integral, np.integer)))
                          and d >= 0) for d in shape):
        raise ValueError(f"{name}: expected an NHWC shape of 4 sizes, got {shape}")
    return shape


# A layer asks for the same few geometries on every step: computing them
# once keeps a small image's predict in microseconds.
@functools.lru_cache(maxsize=256)
def _conv_geometry(in_shape, kernel_hw, strides, padding, dilation_rate, name):
    sh, sw = _pair(strides, f"{name}: strides")
    dh, dw = _pair(dilation_rate, f"{name}: dilation_rate")
    if builtins.min(sh, sw, dh, dw) < 1:
        raise ValueError(f"{name}: strides and dilation_rate must be >= 1, got "
                         f"{(sh, sw)} and {(dh, dw)}")
    if (sh > 1 or sw > 1) and (dh > 1 or dw > 1):
        raise ValueError(f"{name}: strides > 1 cannot be combined with dilation_rate > 1")
    ph, pw = _padding(padding, name)
    kh, kw = _pair(kernel_hw, f"{name}: kernel size")
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
    if out is not None and alpha is None:
        # Fast path for the layers' own buffers (a small image's predict is
        # a few microseconds of arithmetic per layer): the bridge checks
        # dtypes, contiguity and sizes, the cached geometry gives the shape
        # out must have; anything else takes the path below, which converts
        # or explains.
        try:
            (oh, ow), geo = _conv_geometry(x.shape, kernel.shape[:2], strides, padding,
                                           dilation_rate, name)
            if out.shape[1] == oh and out.shape[2] == ow:
                return _k.conv2d_forward(x, kernel, bias, geo, code,
                                         DEFAULT_ALPHA.get(activation, 0.0), out, depthwise)
        except (TypeError, ValueError, AttributeError, IndexError):
            pass
    if builtins.any(_is_traced(v) for v in (x, kernel, bias)):
        _no_out_traced(name, out)
        # (the plain call checks the shapes and the geometry first)
        conv_geometry(tuple(shape(x)), tuple(shape(kernel))[:2], strides, padding,
                      dilation_rate, name)
        y = _traced("conv", x, kernel, strides, padding, dilation_rate, depthwise)
        if bias is None and activation in (None, "linear") and alpha is None:
            return y
        # (the argument ``activation`` hides the function of that name)
        return globals()["activation"](y, activation or "linear", bias=bias, alpha=alpha)
    x, kernel = _conv_args(x, kernel, name, depthwise)
    (oh, ow), geo = conv_geometry(x.shape, kernel.shape[:2], strides, padding, dilation_rate,
                                  name)
    channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    out = _out(out, (x.shape[0], oh, ow, channels), f"{name}: output")
    alpha = _alpha(alpha, activation)
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
    alpha = _alpha(alpha, activation)
    if code != 0 and (y is None or (activation in NEEDS_INPUT and pre is None)):
        raise ValueError(f"{name}: the gradient through {activation} needs the forward "
                         f"output y" + (" and the pre-activation" if activation in
                                        NEEDS_INPUT else ""))
    y = None if y is None else _c32(y, f"{name}: y")
    pre = None if pre is None else _c32(pre, f"{name}: pre")
    x, kernel = _conv_args(x, kernel, name, depthwise)
    dy = _c32(dy, f"{name}: dy")
    (oh, ow), geo = conv_geometry(x.shape, kernel.shape[:2], strides, padding, dilation_rate,
                                  name)
    channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    if dy.shape != (x.shape[0], oh, ow, channels):
        raise ValueError(f"{name}: dy must have the output's shape "
                         f"{(x.shape[0], oh, ow, channels)}, got {dy.shape}")
    for arr, what in ((y, "y"), (pre, "pre")):
        if arr is not None and arr.shape != dy.shape:
            raise ValueError(f"{name}: {what} must have the output's shape {dy.shape}, got "
                             f"{arr.shape}")
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
    strides = _geometry_int(strides, "conv1d: strides", 1)
    dilation_rate = _geometry_int(dilation_rate, "conv1d: dilation_rate", 1)
    pad = padding_1d(padding, kernel.shape[0], dilation_rate, "conv1d")
    if out is not None:
        if not isinstance(out, np.ndarray) or out.ndim != 3:
            raise ValueError(f"conv1d: out must be a float32 array of rank 3, got "
                             f"{getattr(out, 'shape', type(out).__name__)}")
        out = out[:, None]
    y = conv2d(x[:, None], kernel[None], bias, (1, strides), pad, (1, dilation_rate),
               activation, alpha, out)
    return y[:, 0]


def padding_1d(padding, width, dilation, name="conv1d"):
    """A 1-D convolution's padding in conv2d's terms (height 1): 'causal'
    puts all of it before the first step."""
    if padding == "causal":
        width = _geometry_int(width, f"{name}: kernel width", 1)
        dilation = _geometry_int(dilation, f"{name}: dilation_rate", 1)
        return ((0, 0), ((width - 1) * dilation, 0))
    if isinstance(padding, str):
        return padding
    raise ValueError(f"{name}: padding must be 'valid', 'same' or 'causal', got {padding!r}")


# --------------------------------------------------------------- pooling

def pool_geometry(in_shape, pool_size, strides, padding, name="pool2d"):
    """Output (height, width) and the kernels' window tuple (ph, pw, sh, sw,
    pad_top, pad_left); ``strides`` default to the pool size, as in Keras."""
    in_shape = _shape4(in_shape, name)
    try:
        return _pool_geometry(in_shape, pool_size, strides, padding, name)
    except TypeError:  # unhashable arguments (lists): compute without the cache
        return _pool_geometry.__wrapped__(in_shape, pool_size, strides, padding, name)


@functools.lru_cache(maxsize=256)
def _pool_geometry(in_shape, pool_size, strides, padding, name):
    ph, pw = _pair(pool_size, f"{name}: pool_size")
    sh, sw = _pair(strides if strides is not None else (ph, pw), f"{name}: strides")
    if builtins.min(ph, pw, sh, sw) < 1:
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
    if _is_traced(x):
        _no_out_traced(name, out)
        if len(shape(x)) != 4:
            raise ValueError(f"{name}: expected an NHWC input of rank 4, got shape "
                             f"{tuple(shape(x))}")
        size = _spatial_tuple(pool_size, 2, f"{name}: pool_size")
        strides = size if strides is None else _spatial_tuple(strides, 2, f"{name}: strides")
        kind = "max" if forward is _k.max_pool2d_forward else "average"
        return _traced("pool", kind, x, size, strides, _padding_mode(name, padding))
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


def conv2d_max_pool2d_grad(x, kernel, y, pool_y, pool_dy, strides=(1, 1), padding="valid",
                           dilation_rate=(1, 1), pool_size=(2, 2), pool_strides=None,
                           pool_padding="valid", kernel_grad=None, bias_grad=None,
                           activation="linear"):
    """The kernel and bias gradients of ``y = activation(conv2d(x, kernel)
    + bias)`` when only ``pool_y = max_pool2d(y, pool_size, pool_strides,
    pool_padding)`` reads y, from ``pool_dy``, the gradient of pool_y: the
    values of ``max_pool2d_grad`` then ``conv2d_grad``, without the pooling's
    input gradient (as large as y, three quarters zeros) written out.
    Returns True, or False with nothing written where the fused kernel does
    not take these shapes (a first layer's small patch, ReLU or linear,
    windows that do not overlap, an x86 CPU): then run the two."""
    if type(x) is _Device or activation not in ("linear", "relu"):
        return False
    name = "conv2d backward through max_pool2d"
    x, kernel = _conv_args(x, kernel, name, False)
    y, pool_y = _c32(y, f"{name}: y"), _c32(pool_y, f"{name}: pooled y")
    pool_dy = _c32(pool_dy, f"{name}: pooled dy")
    (oh, ow), geo = conv_geometry(x.shape, kernel.shape[:2], strides, padding, dilation_rate,
                                  name)
    if y.shape != (x.shape[0], oh, ow, kernel.shape[3]):
        raise ValueError(f"{name}: y must have the convolution's output shape "
                         f"{(x.shape[0], oh, ow, kernel.shape[3])}, got {y.shape}")
    (ph, pw), win = pool_geometry(y.shape, pool_size, pool_strides, pool_padding, name)
    want = (y.shape[0], ph, pw, y.shape[3])
    if pool_y.shape != want or pool_dy.shape != want:
        raise ValueError(f"{name}: the pooled y and dy must have the pooling's output shape "
                         f"{want}, got {pool_y.shape} and {pool_dy.shape}")
    if kernel_grad is not None:
        kernel_grad = _out(kernel_grad, kernel.shape, f"{name}: kernel gradient")
    if bias_grad is not None:
        bias_grad = _out(bias_grad, (kernel.shape[3],), f"{name}: bias gradient")
    return _k.conv2d_pooled_backward(x, kernel, y, pool_y, pool_dy, kernel_grad, bias_grad,
                                     geo, win, _act_code(activation))


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
    input_shape = _shape4(input_shape, "avg_pool2d backward: input_shape")
    if None in input_shape:
        raise ValueError(f"avg_pool2d backward: input_shape must be known, got {input_shape}")
    (oh, ow), win = pool_geometry(input_shape, pool_size, strides, padding, "avg_pool2d")
    want = (input_shape[0], oh, ow, input_shape[3])
    if dy.shape != want:
        raise ValueError(f"avg_pool2d backward: dy must have the output's shape {want}, got "
                         f"{dy.shape}")
    out = _out(out, input_shape, "avg_pool2d backward")
    return _k.avg_pool2d_backward(dy, win, out)


def _global_pool(forward, name, x, out):
    """A pooling kernel with the whole image as its one window."""
    x = _pool_input(x, name)
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"{name}: the input of shape {x.shape} has no pixels to pool")
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
    if kind not in ("avg", "max"):
        raise ValueError(f"global_pool2d_grad: kind must be 'avg' or 'max', got {kind!r}")
    name = f"global_{kind}_pool2d backward"
    x = _pool_input(x, name)
    n, h, w, c = x.shape
    if h == 0 or w == 0:
        raise ValueError(f"{name}: the input of shape {x.shape} has no pixels")
    shape4 = (n, 1, 1, c)
    dy = _c32(dy, f"{name}: dy")
    if dy.shape != (n, c):
        raise ValueError(f"{name}: dy must have the output's shape {(n, c)}, got {dy.shape}")
    out = _out(out, x.shape, name)
    win = (h, w, 1, 1, 0, 0)
    if kind == "max":
        if y is None:
            raise ValueError("global_max_pool2d backward: the forward output y is required")
        y = _c32(y, f"{name}: y")
        if y.shape != (n, c):
            raise ValueError(f"{name}: y must have the output's shape {(n, c)}, got {y.shape}")
        return _k.max_pool2d_backward(x, y.reshape(shape4), dy.reshape(shape4), win, out)
    return _k.avg_pool2d_backward(dy.reshape(shape4), win, out)


# --------------------------------------------------------- normalization

def moments(x, mean=None, var=None, *, axes=None, keepdims=False, synchronized=False):
    """Mean and (biased) variance of ``x`` over every axis but the last,
    into ``mean`` and ``var`` when given.

    Keras 3's form, ``moments(x, axes, keepdims=False)`` (axes an int, a
    list or a tuple, by position or keyword), gives them over ``axes``, on
    traced arrays too."""
    if axes is not None or (isinstance(mean, (int, np.integer, list, tuple))
                            and not isinstance(mean, bool)):
        axes = mean if axes is None else axes
        keepdims = var if isinstance(var, bool) else keepdims
        if synchronized:
            raise ValueError("moments: synchronized=True is not supported (one process "
                             "holds the whole batch)")
        axes = _axis_arg(axes)
        dims = shape(x)
        count = float(np.prod([dims[a] for a in ((axes,) if np.ndim(axes) == 0 else axes)]))
        # (the argument ``mean`` hides the function: the means as sums)
        m = divide(sum(x, axis=axes, keepdims=True), count)
        v = divide(sum(square(subtract(x, m)), axis=axes, keepdims=True), count)
        if not keepdims:
            m, v = squeeze(m, axes), squeeze(v, axes)
        return m, v
    if type(x) is _Device:
        return _cuda_ops.moments(x, mean, var)
    if _is_traced(x):
        _no_out_traced("moments", mean, var)
        return moments(x, axes=tuple(range(x.ndim - 1)) if x.ndim else ())
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
    if builtins.any(_is_traced(v) for v in (x, scale, shift)):
        _no_out_traced("channel_affine", out)
        c = shape(x)[-1] if len(shape(x)) else 1
        for v, what in ((scale, "scale"), (shift, "shift")):
            if tuple(shape(v)) != (c,):
                raise ValueError(f"channel_affine: {what}: expected shape ({c},), got "
                                 f"{tuple(shape(v))}")
        return add(multiply(x, scale), shift)
    x = _c32(x, "channel_affine: x")
    c = x.shape[-1] if x.ndim else 1
    scale, shift = _channels(scale, c, "channel_affine: scale"), \
        _channels(shift, c, "channel_affine: shift")
    out = _out(out, x.shape, "channel_affine")
    return _k.channel_affine(x, scale, shift, out)


def _no_out_traced(name, *outs):
    """Refuses output buffers for a call on traced arrays (its results are
    new traced arrays)."""
    if builtins.any(o is not None for o in outs):
        raise ValueError(f"{name}: out=, mean=, var=, inv_std=, mask= and weights= buffers are "
                         f"not available on traced arrays")


def _channels(v, c, name):
    """A per-channel float32 vector of ``c`` values."""
    v = _c32(v, name)
    if v.shape != (c,):
        raise ValueError(f"{name}: expected shape ({c},), got {v.shape}")
    return v


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
    c = x.shape[-1] if x.ndim else 1
    mean = _channels(mean, c, "BatchNormalization backward: mean")
    inv_std = _channels(inv_std, c, "BatchNormalization backward: inv_std")
    if gamma is not None:
        gamma = _channels(gamma, c, "BatchNormalization backward: gamma")
    if gamma_grad is not None:
        gamma_grad = _out(gamma_grad, (c,), "BatchNormalization backward: gamma gradient")
    if beta_grad is not None:
        beta_grad = _out(beta_grad, (c,), "BatchNormalization backward: beta gradient")
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
    var = _f32(var, "batch_norm_affine: var")
    c = var.shape
    mean = _f32(mean, "batch_norm_affine: mean")
    epsilon = _finite(epsilon, "batch_norm_affine: epsilon", low=0.0)
    for v, what in ((mean, "mean"), (gamma, "gamma"), (beta, "beta")):
        if v is not None and np.shape(v) != c:
            raise ValueError(f"batch_norm_affine: {what} has shape {np.shape(v)}, var {c}")
    inv_std = (1.0 / np.sqrt(var.astype(np.float64) + epsilon)).astype(np.float32)
    scale = inv_std if gamma is None else \
        (inv_std * _f32(gamma, "batch_norm_affine: gamma")).astype(np.float32)
    shift = -mean * scale
    if beta is not None:
        shift += _f32(beta, "batch_norm_affine: beta")
    return scale, shift.astype(np.float32), inv_std


def moving_average(variable, value, momentum):
    """``variable = variable * momentum + value * (1 - momentum)``, in place."""
    if type(variable) is _Device:
        return _cuda_ops.moving_average(variable, value, momentum)
    if not isinstance(variable, np.ndarray) or variable.dtype != np.float32 or \
            not variable.flags.writeable:
        raise TypeError("moving_average: variable must be a writable float32 array")
    value = _f32(value, "moving_average: value")
    if value.shape != variable.shape:
        raise ValueError(f"moving_average: value has shape {value.shape}, the variable "
                         f"{variable.shape}")
    momentum = _finite(momentum, "moving_average: momentum")
    variable *= np.float32(momentum)
    variable += np.float32(1.0 - momentum) * value
    return variable


def inference_plan(steps, input_shapes, output_shapes, arena_size, weights):
    """A compiled inference pass (csrc/plan.c): ``steps`` are the kernel
    calls as dicts of pynn_plan_step's fields (operands as (buffer, offset)
    pairs over the arena of ``arena_size`` floats, the inputs, the outputs,
    then the weights, named by (owner, attribute) pairs in ``weights``).
    The bridge checks every operand against its buffer before accepting
    the plan.  Its ``run(xs)`` returns new output arrays, or None when the
    inputs or the weights' arrays are not those it was built for."""
    return _k.InferencePlan(list(steps), list(input_shapes), list(output_shapes),
                            int(arena_size), list(weights))


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
    shift = _f32(shift, "fold_affine: shift")
    shape = tuple(channel_shape or (scale.size,))
    if scale.ndim != 1 or shift.shape != scale.shape or \
            int(np.prod(shape, dtype=np.int64)) != scale.size or \
            kernel.shape[kernel.ndim - len(shape):] != shape:
        raise ValueError(f"fold_affine: scale {scale.shape} and shift {shift.shape} do not "
                         f"fit the output channels {shape} of a kernel of shape "
                         f"{kernel.shape}")
    folded = (kernel * scale.reshape(shape)).astype(np.float32)
    b = scale * 0 if bias is None else _f32(bias, "fold_affine: bias")
    if b.shape != scale.shape:
        raise ValueError(f"fold_affine: bias has shape {b.shape}, expected {scale.shape}")
    return np.ascontiguousarray(folded), (b * scale + shift).astype(np.float32)


# ---------------------------------------------------------------- merging

_BINARY = {"add": 0, "subtract": 1, "multiply": 2, "maximum": 3, "minimum": 4, "divide": 5}


def _integer_result(a, b):
    """The integer dtype Keras gives a binary operation of ``a`` and ``b``
    when both are integers (a Python int is weak: it takes the other's
    dtype; a list of them is int32), else None."""
    typed = []
    for x in (a, b):
        if type(x) is int:
            continue
        if type(x) in (list, tuple):
            # (a list of Python ints is an int32 tensor, as tf.constant
            # and Keras's convert_to_tensor read it)
            if np.asarray(x).dtype.kind not in "iu":
                return None
            typed.append(np.dtype(np.int32))
            continue
        kind = getattr(getattr(x, "dtype", None), "kind", None)
        if kind is None or kind not in "iu" or not isinstance(x, (np.ndarray, np.generic)):
            return None
        typed.append(x.dtype)
    return np.result_type(*typed) if typed else np.dtype(np.int32)


def _binary(name, a, b, out):
    if type(a) in _ARRAYS and type(b) in _ARRAYS and a.dtype is _F32 and b.dtype is _F32 \
            and a.shape == b.shape:
        # the usual operands, float32 arrays of one shape, straight to the
        # bridge (which checks contiguity and out); anything it refuses takes
        # the general path below, which converts or explains
        try:
            return _k.binary(_BINARY[name], a, b,
                             np.empty(a.shape, np.float32) if out is None else _out(out, a.shape, name))
        except (TypeError, ValueError):
            pass
    if (type(a) is not _ndarray and type(a) in _TRACED
            or type(b) is not _ndarray and type(b) in _TRACED):
        return _traced(name, a, b, out=out)
    if out is None and name != "divide":
        dtype = _integer_result(a, b)
        if dtype is not None:
            # as Keras: integers stay integers (a count of windows, a
            # position), in the typed operand's dtype (Python ints: int32)
            return getattr(np, name)(np.asarray(a, dtype), np.asarray(b, dtype))
    a, b = _c32(a, f"{name}: a"), _c32(b, f"{name}: b")
    if a.shape != b.shape:
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be "
                             f"broadcast together") from None
        check_size(shape, name)
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
    if (type(a) is not _ndarray and type(a) in _TRACED
            or type(b) is not _ndarray and type(b) in _TRACED):
        return _traced("axpby", alpha, a, beta, b, out=out)
    a = _c32(a, "axpby: a")
    if b is not None:
        b = _c32(b, "axpby: b")
        if b.shape != a.shape:
            raise ValueError(f"axpby: shapes {a.shape} and {b.shape} differ")
    alpha, beta = _number(alpha, "axpby: alpha"), _number(beta, "axpby: beta")
    out = _out(out, a.shape, "axpby")
    return _k.axpby(alpha, a, beta, b, out)


def extremum_grad(xs, y, dy, outs=None):
    """The gradients of ``y``, the elementwise maximum (or minimum) of the
    arrays ``xs``: each element of ``dy`` goes to the first input equal to
    ``y`` there (TensorFlow's rule for ties).  ``outs`` (a list, entries may
    be None to skip an input) receives them; returns the list."""
    if type(y) is _Device:
        return _cuda_ops.extremum_grad(xs, y, dy, outs)
    xs = [_c32(x, "extremum_grad: input") for x in xs]
    if not xs:
        raise ValueError("extremum_grad: expected at least one input")
    if outs is not None and len(outs) != len(xs):
        raise ValueError(f"extremum_grad: {len(outs)} gradient arrays for {len(xs)} inputs")
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
    g = _f32(g, "reduce_to_shape: g")
    shape = tuple(shape)
    try:
        fits = np.broadcast_shapes(shape, g.shape) == g.shape
    except (ValueError, TypeError):
        fits = False
    if not fits:
        raise ValueError(f"reduce_to_shape: an input of shape {shape} does not broadcast to "
                         f"the gradient's shape {g.shape}")
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    # (np.ascontiguousarray would make a 0-d result 1-d)
    out = np.asarray(g.sum(axis=axes, dtype=np.float32)).reshape(shape)
    return out if out.flags.c_contiguous else np.ascontiguousarray(out)


def _all_f32(xs):
    """Whether ``xs`` holds only float32 arrays (NumPy's or eager tensors)."""
    for x in xs:
        if type(x) not in _ARRAYS or x.dtype is not _F32:
            return False
    return True


def _axis(axis, ndim, name):
    if type(axis) is int and -ndim <= axis < ndim:  # the usual axis, at once
        return axis % ndim
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (numbers.Integral,
                                                                    np.integer)):
        raise ValueError(f"{name}: axis must be an integer, got {axis!r}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for arrays of rank {ndim}")
    return axis % ndim


def concatenate(xs, axis=0, out=None):
    """The arrays ``xs`` joined along ``axis`` (their other dimensions
    equal), copied in C block by block.  ``axis`` defaults to 0, as in
    ``keras.ops.concatenate`` and NumPy (the Concatenate layer's is -1)."""
    if type(xs) is list and type(axis) is int and out is None and _all_f32(xs):
        # float32 arrays: NumPy's one copy is this one; it refuses what the
        # checks below explain (shapes, axis, 0-d arrays)
        try:
            return np.concatenate(xs, axis=axis)
        except ValueError:
            pass
    if isinstance(xs, (list, tuple)) and xs and type(xs[0]) is _Device:
        return _cuda_ops.concatenate(xs, axis, out)
    if isinstance(xs, np.ndarray) or not isinstance(xs, (list, tuple)):
        raise TypeError(f"concatenate: expected a list of arrays, got {type(xs).__name__}")
    xs = list(xs)
    if builtins.any(type(x) is not _ndarray and type(x) in _TRACED for x in xs):
        return _traced("concatenate", xs, axis=axis, out=out)
    # Integer, boolean and text arrays (a tile's repeats, positions, a
    # batch of reviews) keep their dtype, as in Keras and TensorFlow; the C
    # copy is for float32 data.
    ints = [np.asarray(x) for x in xs]
    text = [a.dtype.kind in "OSU" for a in ints]
    if out is None and builtins.any(text):
        # strings (tf.string tensors of UTF-8 bytes): joined as objects, a
        # Python str as its bytes, as tf.concat converts it
        if not builtins.all(text):
            raise TypeError(f"concatenate: text and numbers cannot be joined (dtypes "
                            f"{[str(a.dtype) for a in ints]})")
        ints = [_text_objects(a) for a in ints]
    elif out is not None or not ints or builtins.any(a.dtype.kind not in "biu" for a in ints):
        ints = None
    xs = ints if ints is not None else [_c32(x, "concatenate: input") for x in xs]
    if not xs:
        raise ValueError("concatenate: expected at least one array")
    ndim = xs[0].ndim
    axis = _axis(axis, ndim, "concatenate")
    for x in xs:
        if x.ndim != ndim or x.shape[:axis] != xs[0].shape[:axis] or \
                x.shape[axis + 1:] != xs[0].shape[axis + 1:]:
            raise ValueError(f"concatenate: shapes {[t.shape for t in xs]} differ off axis "
                             f"{axis}")
    if ints is not None:
        return np.concatenate(ints, axis=axis)
    shape = list(xs[0].shape)
    shape[axis] = builtins.sum(x.shape[axis] for x in xs)
    out = _out(out, tuple(shape), "concatenate")
    rows = math.prod(shape[:axis])  # (sizes _out checked)
    inner = math.prod(shape[axis + 1:])
    ldd, offset = shape[axis] * inner, 0
    for x in xs:
        cols = x.shape[axis] * inner
        _k.copy_block(x, 0, builtins.max(cols, 1), out, offset, builtins.max(ldd, 1), rows,
                      cols)
        offset += cols
    return out


def _text_objects(a):
    """``a`` as an object array of bytes (a str encoded as UTF-8)."""
    if a.dtype.kind == "U" or a.dtype.kind == "O" and builtins.any(
            isinstance(v, str) for v in a.flat):
        a = np.frompyfunc(lambda v: v.encode() if isinstance(v, str) else v, 1, 1)(a)
    return np.asarray(a, dtype=object)


def concatenate_grad(dy, sizes, axis=-1, outs=None):
    """The gradients of ``concatenate`` for inputs of ``sizes`` along
    ``axis``: the slices of ``dy``.  ``outs`` entries may be None to skip
    an input; returns the list."""
    if type(dy) is _Device:
        return _cuda_ops.concatenate_grad(dy, sizes, axis, outs)
    dy = _c32(dy, "concatenate backward: dy")
    axis = _axis(axis, dy.ndim, "concatenate backward")
    sizes = [n if type(n) is int and n >= 0 else _integer(n, "concatenate backward: sizes", low=0)
             for n in sizes]
    if outs is not None and len(outs) != len(sizes):
        raise ValueError(f"concatenate backward: {len(outs)} gradient arrays for "
                         f"{len(sizes)} inputs")
    if builtins.sum(sizes) != dy.shape[axis]:
        raise ValueError(f"concatenate backward: sizes {list(sizes)} do not add up to "
                         f"{dy.shape[axis]}")
    rows = math.prod(dy.shape[:axis])
    inner = math.prod(dy.shape[axis + 1:])
    lds, offset = dy.shape[axis] * inner, 0
    outs = list(outs) if outs is not None else [True] * len(sizes)
    for i, size in enumerate(sizes):
        cols = size * inner
        if outs[i] is not None:
            shape = dy.shape[:axis] + (size,) + dy.shape[axis + 1:]
            o = np.empty(shape, np.float32) if outs[i] is True else \
                _out(outs[i], shape, "concatenate backward")
            _k.copy_block(dy, offset, builtins.max(lds, 1), o, 0, builtins.max(cols, 1), rows,
                          cols)
            outs[i] = o
        offset += cols
    return outs


def batch_matmul(a, b, transpose_a=False, transpose_b=False, out=None):
    """``a[i] @ b[i]`` for each i of two 3-D arrays, optionally transposing
    the last two axes of either."""
    if type(a) is _Device:
        return _cuda_ops.batch_matmul(a, b, transpose_a, transpose_b, out)
    if (type(a) is not _ndarray and type(a) in _TRACED
            or type(b) is not _ndarray and type(b) in _TRACED):
        return _traced("batch_matmul", a, b, transpose_a, transpose_b, out=out)
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
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("l2_normalize", x, axis=axis, epsilon=epsilon, out=out, norms=norms)
    x = _c32(x, "l2_normalize: x")
    axis = _axis(axis, x.ndim, "l2_normalize")
    epsilon = _finite(epsilon, "l2_normalize: epsilon", low=0.0)
    moved = axis != x.ndim - 1
    xm = np.ascontiguousarray(np.moveaxis(x, axis, -1)) if moved else x
    rows = int(np.prod(xm.shape[:-1], dtype=np.int64))  # (vectors of length 0 too)
    norms = _out(norms, (rows,), "l2_normalize: norms")
    if out is not None:
        out = _out(out, x.shape, "l2_normalize")
    y = np.empty(xm.shape, np.float32) if (moved or out is None) else out
    if xm.shape[-1] == 0:  # empty vectors: the kernel's clamped norm, nothing to scale
        with np.errstate(divide="ignore"):
            norms[...] = np.float32(1.0) / np.sqrt(np.float32(epsilon))
    else:
        _k.l2_normalize_rows(xm, y, norms, epsilon)
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
    name = "l2_normalize backward"
    x, y, dy = _c32(x, f"{name}: x"), _c32(y, f"{name}: y"), _c32(dy, f"{name}: dy")
    axis = _axis(axis, x.ndim, name)
    epsilon = _finite(epsilon, f"{name}: epsilon", low=0.0)
    if y.shape != x.shape or dy.shape != x.shape:
        raise ValueError(f"{name}: x, y and dy must share a shape, got {x.shape}, {y.shape} "
                         f"and {dy.shape}")
    rows = int(np.prod(x.shape[:axis] + x.shape[axis + 1:], dtype=np.int64))
    norms = _c32(norms, f"{name}: norms")
    if norms.size != rows:
        raise ValueError(f"{name}: norms must hold {rows} values, got {norms.size}")
    out = _out(out, x.shape, name)
    if x.size == 0:
        return out
    if axis != x.ndim - 1:
        mv = [np.ascontiguousarray(np.moveaxis(t, axis, -1)) for t in (x, y, dy)]
        dx = np.empty(mv[0].shape, np.float32)
        _k.l2_normalize_backward_rows(mv[0], mv[1], norms, mv[2], dx, epsilon)
        out[...] = np.moveaxis(dx, -1, axis)
        return out
    return _k.l2_normalize_backward_rows(x, y, norms, dy, out, epsilon)
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
FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2, "wrap": 3, "grid-constant": 4,
              "grid-wrap": 5}


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
    ``'reflect'``, ``'wrap'``, ``'grid-constant'``, ``'grid-wrap'``, as scipy
    defines them; Keras 3's layers mean the grid modes by ``'constant'`` and
    ``'wrap'``) on every channel.  ``output_shape`` is ``(height, width)``, by default the input's.

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
        index = _flat_index(index, n, "affine_warp", "images")
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
    except (TypeError, ValueError, OverflowError):
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


def _warp_map_coordinate(x, n, mode):
    """scipy's map_coordinate for coordinates outside [0, n - 1] (the C
    kernel's, csrc/image.c): 'constant' gives -1 there."""
    x = np.array(x, np.float64)
    lo, hi = x < 0, x > n - 1
    if n <= 1 and mode in ("mirror", "reflect", "wrap"):
        x[lo | hi] = 0.0
        return x
    if mode == "mirror":
        s = 2 * n - 2
        v = x[lo]
        v = s * np.trunc(-v / s) + v
        x[lo] = np.where(v <= 1 - n, v + s, -v)
        v = x[hi]
        v = v - s * np.trunc(v / s)
        x[hi] = np.where(v >= n, s - v, v)
    elif mode == "reflect":
        s = 2 * n
        v = x[lo]
        v = np.where(v < -s, s * np.trunc(-v / s) + v, v)
        x[lo] = np.where(v < -n, v + s, np.where(v > -1e-15, 1e-15, -v) - 1)
        v = x[hi]
        v = v - s * np.trunc(v / s)
        x[hi] = np.where(v >= n, s - v - 1, v)
    elif mode == "wrap":
        s = n - 1
        x[lo] = x[lo] + s * (np.trunc(-x[lo] / s) + 1)
        x[hi] = x[hi] - s * np.trunc(x[hi] / s)
    elif mode == "nearest":
        x[lo], x[hi] = 0.0, n - 1
    else:
        x[lo | hi] = -1.0
    return x


def _warp_taps(cc, n, order, mode):
    """The input taps (order + 1 of them, -1 where the pixel reads cval)
    and their weights along one axis, for coordinates ``cc``: scipy's
    spline of order 0 or 1 as the C kernel computes it."""
    cc = np.clip(np.nan_to_num(cc, nan=-1e9), -1e9, 1e9)
    grid = mode in ("grid-constant", "grid-wrap")
    ok = np.ones(cc.shape, bool)
    if not grid and mode != "nearest":
        cc = _warp_map_coordinate(cc, n, mode)
        if mode == "constant":
            ok = cc > -1.0
    start = np.floor(cc) if order else np.floor(cc + 0.5)
    frac = cc - np.floor(cc)
    # (scipy interpolates the taps of the constant and wrap modes as mirror)
    tap_mode = "mirror" if mode in ("constant", "wrap") else mode
    taps, weights = [], [np.ones_like(cc)] if order == 0 else [1.0 - frac, frac]
    for k in range(order + 1):
        t = start + k
        if mode == "grid-wrap":
            t = np.mod(t, n)
        elif mode == "grid-constant":
            t = np.where((t >= 0) & (t <= n - 1), t, -1.0)
        else:
            t = np.where(ok, _warp_map_coordinate(t, n, tap_mode), -1.0)
        taps.append(t.astype(np.int64))
    return taps, weights


def affine_warp_grad(dy, matrices, input_shape, interpolation="bilinear", fill_mode="nearest"):
    """The gradient of :func:`affine_warp` (no ``index``, no shifts) with
    respect to its images: each output pixel's gradient goes back to the
    input pixels it read, with the weights it read them with (the
    transpose of the warp; pixels that took ``cval`` send nothing).
    ``input_shape`` is the images' (n, h, w, c)."""
    dy = _c32(dy, "affine_warp_grad: dy")
    n, h, w, ch = (int(d) for d in input_shape)
    if dy.ndim != 4 or dy.shape[0] != n or dy.shape[3] != ch:
        raise ValueError(f"affine_warp_grad: dy must be ({n}, height, width, {ch}), got "
                         f"shape {dy.shape}")
    order = INTERPOLATIONS[interpolation]
    if fill_mode not in FILL_MODES:
        raise ValueError(f"affine_warp_grad: fill_mode must be one of {sorted(FILL_MODES)}, "
                         f"got {fill_mode!r}")
    m = np.asarray(matrices, np.float64)
    m = np.broadcast_to(m, (n,) + m.shape[-2:])[:, :2].reshape(n, 6)
    oh, ow = dy.shape[1:3]
    i = np.arange(oh, dtype=np.float64)[None, :, None]
    j = np.arange(ow, dtype=np.float64)[None, None, :]
    # (as the kernel: the row's base, then the step along it)
    r = (m[:, 2, None, None] + i * m[:, 0, None, None]) + m[:, 1, None, None] * j
    c = (m[:, 5, None, None] + i * m[:, 3, None, None]) + m[:, 4, None, None] * j
    tr, wr = _warp_taps(r, h, order, fill_mode)
    tc, wc = _warp_taps(c, w, order, fill_mode)
    base = (np.arange(n) * (h * w))[:, None, None]
    flat = dy.reshape(-1, ch).astype(np.float64)
    dx = np.zeros((n * h * w, ch), np.float64)
    for ra, wa in zip(tr, wr):
        for cb, wb in zip(tc, wc):
            weight = (wa * wb).reshape(-1)
            valid = ((ra >= 0) & (cb >= 0)).reshape(-1) & (weight != 0)
            at = (base + ra * w + cb).reshape(-1)[valid]
            for k in range(ch):
                dx[:, k] += np.bincount(at, weights=flat[valid, k] * weight[valid],
                                        minlength=n * h * w)
    return dx.reshape(n, h, w, ch).astype(np.float32)


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
    if isinstance(in_shape, (str, bytes)) or not isinstance(in_shape, (tuple, list)) or \
            len(in_shape) != 4:
        raise ValueError(f"{name}: the input shape must be (batch, height, width, channels), "
                         f"got {in_shape!r}")
    in_shape = (in_shape[0],) + tuple(None if d is None else _geometry_int(d, f"{name}: input "
                                      f"shape", 0) for d in in_shape[1:3]) + (in_shape[3],)
    kernel_hw = _pair(kernel_hw, f"{name}: kernel size")
    sh, sw = _pair(strides, f"{name}: strides")
    dh, dw = _pair(dilation_rate, f"{name}: dilation_rate")
    if builtins.min(sh, sw, dh, dw) < 1:
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
            extra = builtins.max(span, s) - span if op is None else op
            left = span - 1
            out = None if size is None else (size - 1) * s + span + extra
        else:
            total = s + span - 2 if op is None else span + span % 2 - 2 + op
            left = builtins.min(total // 2 + total % 2, span - 1)
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
    except (TypeError, ValueError, OverflowError):
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
    if type(x) in _ARRAYS and x.dtype is _F32 and out is None and 0 < x.ndim <= 8 and (
            axes is None or type(axes) is tuple and builtins.all(type(a) is int for a in axes)):
        # a float32 array: the bridge checks contiguity and the permutation
        # (non-negative axes); what it refuses takes the checks below
        perm = tuple(range(x.ndim - 1, -1, -1)) if axes is None else axes
        try:
            return _k.transpose(x, perm, np.empty([x.shape[a] for a in perm], np.float32))
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    if type(x) is not _ndarray and type(x) in _TRACED:
        if out is not None:
            raise ValueError("transpose: out= is not available on traced arrays")
        return _traced("transpose", x, axes)
    # integers and booleans (ids, masks) keep their dtype, as in Keras;
    # anything else is float32, moved by the kernel
    keep = isinstance(x, np.ndarray) and x.dtype.kind in "iub" and out is None
    x = x if keep else _c32(x, "transpose: x")
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    try:
        axes = tuple(_axis(a, x.ndim, "transpose") for a in axes)
    except TypeError:
        raise ValueError(f"transpose: axes must be a sequence of ints, got {axes!r}") from None
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                         f"of an array of shape {x.shape}")
    if keep:
        return np.ascontiguousarray(x.transpose(axes))
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
    except (TypeError, ValueError, OverflowError):
        pairs = None
    if pairs is None or len(pairs) != x.ndim - 2:
        raise ValueError(f"{name}: expected {x.ndim - 2} (before, after) pairs for an input of "
                         f"shape {x.shape}, got {pairs!r}")
    if builtins.min(v for p in pairs for v in p) < 0:
        raise ValueError(f"{name}: sizes must be >= 0, got {pairs}")
    return pairs


def _shift(x, y, offsets, fill):
    """The C window shift between x and y (1 to 3 spatial axes), the
    missing leading spatial axes taken as size 1."""
    lead = (1,) * (5 - x.ndim)
    _k.pad_crop(x, y, lead + x.shape[1:-1], lead + y.shape[1:-1],
                (0,) * (5 - x.ndim) + tuple(offsets), float(fill))
    return y


def spatial_pad(x, padding, value=0.0, out=None):
    """``x`` (batch, 1 to 3 spatial axes, channels) with ``padding[i] =
    (before, after)`` values equal to ``value`` added along spatial axis
    i (the zero padding layers; the gradient of ``crop``)."""
    if _is_traced(x):
        _no_out_traced("spatial_pad", out)
        pairs = _spatial_pairs(x, padding, "spatial_pad")
        value = _number(value, "spatial_pad: value")
        return pad(x, [(0, 0)] + list(pairs) + [(0, 0)], constant_values=value)
    x = _c32(x, "spatial_pad: x")
    pairs = _spatial_pairs(x, padding, "spatial_pad")
    shape = (x.shape[0],) + tuple(d + a + b for d, (a, b) in zip(x.shape[1:-1], pairs)) + \
        (x.shape[-1],)
    out = _out(out, shape, "spatial_pad")
    return _shift(x, out, [a for a, _ in pairs], value)


def spatial_crop(x, cropping, out=None):
    """``x`` (batch, 1 to 3 spatial axes, channels) without ``cropping[i] =
    (before, after)`` values at the ends of spatial axis i (the cropping
    layers; the gradient of ``pad``)."""
    if _is_traced(x):
        _no_out_traced("spatial_crop", out)
        pairs = _spatial_pairs(x, cropping, "spatial_crop")
        if builtins.any(d - a - b < 0 for d, (a, b) in zip(x.shape[1:-1], pairs)):
            raise ValueError(f"spatial_crop: cropping {pairs} is more than the input of shape "
                             f"{tuple(x.shape)} holds")
        return x[(builtins.slice(None),) + tuple(builtins.slice(a, d - b) for d, (a, b) in
                                                 zip(x.shape[1:-1], pairs))]
    x = _c32(x, "spatial_crop: x")
    pairs = _spatial_pairs(x, cropping, "spatial_crop")
    sizes = tuple(d - a - b for d, (a, b) in zip(x.shape[1:-1], pairs))
    if builtins.min(sizes) < 0:
        raise ValueError(f"spatial_crop: cropping {pairs} is more than the input of shape {x.shape} "
                         f"holds")
    out = _out(out, (x.shape[0],) + sizes + (x.shape[-1],), "spatial_crop")
    return _shift(x, out, [-a for a, _ in pairs], 0.0)


RESIZE_MODES = {"nearest": 0, "bilinear": 1}


def resize_geometry(height, width, size, crop_to_aspect_ratio=False):
    """The window (top, left, height, width) of a ``height`` x ``width``
    image that ``resize`` to ``size`` reads: the whole image, or with
    ``crop_to_aspect_ratio`` the centred window of the target's aspect
    ratio, computed as Keras 3 computes it."""
    height = _integer(height, "resize_geometry: height", low=0)
    width = _integer(width, "resize_geometry: width", low=0)
    if not crop_to_aspect_ratio:
        return 0, 0, height, width
    th, tw = _pair(size, "resize_geometry: size")
    if th < 1 or tw < 1:
        raise ValueError(f"resize_geometry: size must be positive, got {(th, tw)}")
    ch = builtins.max(builtins.min(height, int(float(width * th) / tw)), 1)
    cw = builtins.max(builtins.min(width, int(float(height * tw) / th)), 1)
    return int(float(height - ch) / 2), int(float(width - cw) / 2), ch, cw


# Interpolations computed from separable weight matrices (Keras 3's
# scale-and-translate kernels, pynn._more_ops): these, and 'bilinear' with
# antialias when it shrinks, run in NumPy; the rest is the C kernel's.
# TensorFlow's 'area', 'gaussian' and 'mitchellcubic' (tf.image.resize, and
# ops.image.resize on Keras's TensorFlow backend) too.
RESIZE_RESAMPLED = ("bicubic", "lanczos3", "lanczos5", "area", "gaussian", "mitchellcubic")
RESIZE_INTERPOLATIONS = tuple(RESIZE_MODES) + RESIZE_RESAMPLED


def _resize_args(shape, size, interpolation, window, name):
    interpolation = str(interpolation).lower()
    if interpolation in RESIZE_MODES:
        mode = RESIZE_MODES[interpolation]
    elif interpolation in RESIZE_RESAMPLED:
        mode = interpolation
    else:
        raise ValueError(f"{name}: interpolation must be one of {list(RESIZE_INTERPOLATIONS)}, "
                         f"got {interpolation!r}") from None
    if len(shape) != 4:
        raise ValueError(f"{name}: expected an NHWC input of rank 4, got shape {tuple(shape)}")
    oh, ow = _pair(size, f"{name}: size")
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: size must be positive, got {(oh, ow)}")
    try:
        window = (0, 0, shape[1], shape[2]) if window is None else \
            tuple(_integer(v, f"{name}: window") for v in window)
        top, left, wh, ww = window
    except TypeError:
        raise TypeError(f"{name}: window must be four integers (top, left, height, width), "
                        f"got {window!r}") from None
    except ValueError:
        raise ValueError(f"{name}: window must be four integers (top, left, height, width), "
                         f"got {window!r}") from None
    if top < 0 or left < 0 or wh < 1 or ww < 1 or top + wh > shape[1] or \
            left + ww > shape[2]:
        raise ValueError(f"{name}: the window {window} does not fit an input of shape "
                         f"{tuple(shape)}")
    return mode, (oh, ow), window


def _resample_matrices(mode, window, size, antialias):
    """[(axis, (in, out) weights)] of a resampled resize: Keras 3's
    kernel for ``mode`` ('bilinear': its triangle) along each axis whose
    size changes, in float32 as Keras's resize applies them."""
    from ._more_ops import _SCALE_KERNELS, _TF_RESIZE_KERNELS, _area_weights, _resample_weights
    kernel = _TF_RESIZE_KERNELS.get(mode) or _SCALE_KERNELS.get("bilinear" if mode == 1 else mode)
    out = []
    for axis, n, m in ((1, window[2], size[0]), (2, window[3], size[1])):
        if mode == "area":  # (always averaging: antialias changes nothing, as TensorFlow)
            w = _area_weights(n, m) if n != m else None
        elif n != m or mode in _TF_RESIZE_KERNELS:
            # (the Gaussian and Mitchell kernels are not zero at whole
            # offsets: they smooth an axis even where its size stays)
            w = _resample_weights(n, m, m / n, 0.0, kernel, antialias)
        else:
            w = None
        if w is not None:
            out.append((axis, w.astype(np.float32)))
    return out


def _resampled(mode, window, size, antialias):
    """Whether a resize runs from weight matrices (see RESIZE_RESAMPLED)."""
    return type(mode) is str or (antialias and mode == 1 and
                                 (size[0] < window[2] or size[1] < window[3]))


def resize(x, size, interpolation="bilinear", window=None, out=None, antialias=False):
    """NHWC images resized to ``size`` (height, width) with half-pixel
    centres, as Keras 3's ``image.resize``: 'nearest', 'bilinear',
    'bicubic' (Keys' cubic), 'lanczos3' or 'lanczos5', or TensorFlow's
    'area', 'gaussian' and 'mitchellcubic'; with ``antialias``
    a shrinking kernel widens to cover every input pixel ('nearest'
    ignores it, as Keras).  ``window`` (top, left, height, width) resizes
    that part of each image (see ``resize_geometry``)."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("resize", x, size, interpolation=interpolation, window=window, out=out,
                       antialias=antialias)
    x = _c32(x, "resize: images")
    mode, (oh, ow), window = _resize_args(x.shape, size, interpolation, window, "resize")
    out = _out(out, (x.shape[0], oh, ow, x.shape[3]), "resize")
    if not _resampled(mode, window, (oh, ow), antialias):
        return _k.resize_forward(x, out, window, mode)
    top, left, wh, ww = window
    y = x[:, top:top + wh, left:left + ww]
    for axis, w in _resample_matrices(mode, window, (oh, ow), antialias):
        y = np.moveaxis(np.tensordot(y, w, axes=(axis, 0)), -1, axis)
    out[...] = y
    return out


def resize_grad(dy, input_shape, interpolation="bilinear", window=None, out=None,
                antialias=False):
    """The input gradient of ``resize`` for an input of ``input_shape``."""
    dy = _c32(dy, "resize backward: dy")
    input_shape = tuple(input_shape)
    mode, size, window = _resize_args(input_shape, dy.shape[1:3] if dy.ndim == 4 else (0, 0),
                                      interpolation, window, "resize backward")
    if dy.shape != (input_shape[0],) + size + (input_shape[3],):
        raise ValueError(f"resize backward: dy of shape {dy.shape} does not fit an input of "
                         f"shape {input_shape}")
    out = _out(out, input_shape, "resize backward")
    if not _resampled(mode, window, size, antialias):
        return _k.resize_backward(dy, out, window, mode)
    g = dy
    for axis, w in reversed(_resample_matrices(mode, window, size, antialias)):
        g = np.moveaxis(np.tensordot(g, w, axes=(axis, 1)), -1, axis)
    top, left, wh, ww = window
    out[...] = 0.0
    out[:, top:top + wh, left:left + ww] = g
    return out


def _repeat_sizes(shape, repeats, axis, name):
    try:
        ok = int(repeats) == repeats and int(repeats) >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name}: repeats must be a positive integer, got {repeats!r}")
    axis = _axis(axis, len(shape), name)
    outer = int(np.prod(shape[:axis + 1], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return int(repeats), axis, outer, inner


def repeat(x, repeats, axis=None, out=None):
    """``np.repeat(x, repeats, axis)``: each slice along ``axis`` (of the
    flattened array when None) repeated; a positive integer ``repeats``
    along an axis is copied in C (UpSampling1D, RepeatVector)."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        if out is not None:
            raise ValueError("repeat: out= is not available on traced arrays")
        if axis is None:
            x, axis = reshape(x, (-1,)), 0
        return take(x, np.repeat(np.arange(x.shape[axis]), repeats), axis=axis)
    if axis is None or not isinstance(repeats, (int, np.integer)):
        try:
            y = np.repeat(_f32(x, "repeat: x"), repeats, axis=axis)
        except OverflowError:
            raise ValueError(f"repeat: repeats={repeats!r} is out of range") from None
        if out is None:
            return np.ascontiguousarray(y)
        out = _out(out, y.shape, "repeat")
        np.copyto(out, y)
        return out
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
        if builtins.any(d not in (1, s) for d, s in zip(aligned, sample_shape)):
            aligned = None
    if aligned is None:
        raise ValueError(f"{name}: alpha of shape {alpha.shape} does not broadcast against "
                         f"samples of shape {sample_shape}")
    k = len(sample_shape)
    while k > 0 and aligned[k - 1] == sample_shape[k - 1]:
        k -= 1
    if builtins.all(d == 1 for d in aligned[:k]):
        return alpha.size, alpha.reshape(-1), aligned, False
    full = np.ascontiguousarray(np.broadcast_to(alpha.reshape(aligned), sample_shape))
    return full.size, full.reshape(-1), aligned, True


def prelu(x, alpha, out=None):
    """``max(x, 0) + alpha * min(x, 0)`` with ``alpha`` broadcast against
    each sample (``x.shape[1:]``), as Keras's PReLU."""
    if _is_traced(x) or _is_traced(alpha):
        _no_out_traced("prelu", out)
        dims = tuple(shape(x))
        if len(dims) < 1:
            raise ValueError("prelu: expected an input with a batch axis")
        _, _, aligned, _ = _prelu_alpha(dims[1:], np.empty(shape(alpha), np.float32), "prelu")
        zero = np.float32(0)
        return add(maximum(x, zero), multiply(reshape(alpha, aligned), minimum(x, zero)))
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
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"random_normal: shape must be a sequence of sizes, got {shape!r}") \
            from None
    out = _out(out, shape, "random_normal")
    return _k.random_normal(out, _finite(mean, "random_normal: mean"),
                            _finite(stddev, "random_normal: stddev", low=0.0),
                            _integer(seed, "random_normal: seed") & 0xFFFFFFFFFFFFFFFF)


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
    # (dropout's output is scratch here: not in ``out`` when that is ``x``,
    # which the affine step below still reads)
    _, mask = dropout(x, rate, seed, out=None if np.may_share_memory(out, x) else out,
                      mask=mask)
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
    if _is_traced(x) or _is_traced(scale):
        _no_out_traced("scale_channels", out)
        xs, ss = shape(x), shape(scale)
        if len(xs) < 2 or tuple(ss) != (xs[0], xs[-1]):
            raise ValueError(f"scale_channels: scale must have shape (batch, channels) = "
                             f"{(xs[0], xs[-1]) if len(xs) >= 2 else '?'}, got {tuple(ss)} "
                             f"for x of shape {tuple(xs)}")
        return multiply(x, reshape(scale, (xs[0],) + (1,) * (len(xs) - 2) + (xs[-1],)))
    x, scale = _c32(x, "scale_channels: x"), _c32(scale, "scale_channels: scale")
    if x.ndim < 2 or scale.shape != (x.shape[0], x.shape[-1]):
        raise ValueError(f"scale_channels: scale must have shape (batch, channels) = "
                         f"{(x.shape[0], x.shape[-1]) if x.ndim >= 2 else '?'}, got "
                         f"{scale.shape} for x of shape {x.shape}")
    out = _out(out, x.shape, "scale_channels")
    n, c = x.shape[0], x.shape[-1]
    s = x.size // (n * c) if n * c else 0
    return _k.sample_channel_scale(x, scale, out, n, s, c)


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
    if builtins.any(_is_traced(v) for v in (x, gamma, beta)):
        _no_out_traced("group_norm", out, mean, inv_std)
        return _traced_group_norm(x, _integer(groups, "group_norm: groups", low=1), gamma, beta,
                                  epsilon, "group_norm")
    x = _c32(x, "group_norm: x")
    n, s, c = _norm_sizes(x, _integer(groups, "group_norm: groups", low=1), "group_norm")
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
    n, s, c = _norm_sizes(x, _integer(groups, "group_norm backward: groups", low=1),
                          "group_norm backward")
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
    if builtins.any(_is_traced(v) for v in (x, gamma, beta)):
        _no_out_traced("layer_norm", out, mean, inv_std)
        dims = tuple(shape(x))
        if not dims:
            raise ValueError("layer_norm: expected an input of rank >= 1, got a scalar")
        rows = int(np.prod(dims[:-1], dtype=np.int64))
        y, m, inv = _traced_group_norm(reshape(x, (rows, dims[-1])), 1, gamma, beta, epsilon,
                                       "layer_norm")
        return reshape(y, dims), m, inv
    x = _c32(x, "layer_norm: x")
    cols = x.shape[-1] if x.ndim else 1
    x2 = x.reshape(int(np.prod(x.shape[:-1], dtype=np.int64)), cols)  # (cols may be 0)
    if out is not None:
        out = _out(out, x.shape, "layer_norm").reshape(x2.shape)
    y, mean, inv_std = group_norm(x2, 1, gamma, beta, epsilon, out, mean, inv_std)
    return y.reshape(x.shape), mean, inv_std


def _traced_group_norm(x, groups, gamma, beta, epsilon, name):
    """``group_norm`` composed of recorded ops (x, gamma or beta traced):
    ``(y, mean, inv_std)``, the statistics one per (sample, group)."""
    dims = tuple(shape(x))
    if len(dims) < 2:
        raise ValueError(f"{name}: expected an input of rank >= 2, got shape {dims}")
    n, c = dims[0], dims[-1]
    if c % groups:
        raise ValueError(f"{name}: {c} channels cannot be split into {groups} groups")
    for v, what in ((gamma, "gamma"), (beta, "beta")):
        if v is not None and tuple(shape(v)) != (c,):
            raise ValueError(f"{name}: {what} must have shape ({c},), got "
                             f"{tuple(shape(v))} for x of shape {dims}")
    epsilon = _finite(epsilon, f"{name}: epsilon", low=0.0)
    xg = reshape(x, (n, -1, groups, c // groups))
    m = mean(xg, axis=(1, 3), keepdims=True)
    d = subtract(xg, m)
    inv = rsqrt(add(mean(square(d), axis=(1, 3), keepdims=True), np.float32(epsilon)))
    y = reshape(multiply(d, inv), dims)
    if gamma is not None:
        y = multiply(y, gamma)
    if beta is not None:
        y = add(y, beta)
    return y, reshape(m, (n * groups,)), reshape(inv, (n * groups,))


def layer_norm_grad(x, dy, mean, inv_std, gamma=None, gamma_grad=None, beta_grad=None,
                    input_grad=True):
    """Gradients of ``layer_norm``, as ``group_norm_grad``."""
    x, dy = _c32(x, "layer_norm backward: x"), _c32(dy, "layer_norm backward: dy")
    cols = x.shape[-1] if x.ndim else 1
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))  # (cols may be 0)
    ig = input_grad.reshape(rows, cols) if isinstance(input_grad, np.ndarray) else input_grad
    dx = group_norm_grad(x.reshape(rows, cols), dy.reshape(rows, cols), mean, inv_std, 1,
                         gamma, gamma_grad, beta_grad, ig)
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


# ------------------------------------------------------------- sequences

def _describe_array(a):
    return f"{a.dtype} of shape {a.shape}" if isinstance(a, np.ndarray) else repr(a)


def _step_mask(mask, shape, name):
    """A mask over the steps of a sequence, as a bool array of ``shape``."""
    if mask is None or isinstance(mask, (str, bytes)):
        raise TypeError(f"{name}: mask must be a bool array of shape {shape}, got {mask!r}")
    try:
        mask = np.asarray(mask)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name}: mask must be a bool array of shape {shape}") from None
    if mask.dtype != np.bool_ and mask.dtype.kind not in "iuf":
        raise TypeError(f"{name}: mask must be a bool array, got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{name}: the mask has shape {mask.shape}, expected {tuple(shape)}")
    return mask.astype(np.bool_, copy=False)


def reverse(x, axis=1, out=None):
    """``x`` reversed along ``axis`` (the steps of a (batch, steps, ...)
    sequence by default), copied into ``out``."""
    if _is_traced(x):
        _no_out_traced("reverse", out)
        return flip(x, _axis(axis, len(shape(x)), "reverse"))
    x = _c32(x, "reverse: x")
    axis = _axis(axis, x.ndim, "reverse")
    out = _out(out, x.shape, "reverse")
    np.copyto(out, np.flip(x, axis))
    return out


def time_mask(x, mask_value=0.0, out=None, mask=None):
    """Keras's Masking: ``mask`` (``x.shape[:-1]``, bool) is True where any
    feature of a step differs from ``mask_value``; ``out`` is ``x`` with the
    masked steps zeroed.  Returns ``(out, mask)``."""
    if _is_traced(x):
        _no_out_traced("time_mask", out, mask)
        value = _c32(_plain(x), "time_mask: x")
        if value.ndim < 2:
            raise ValueError(f"time_mask: expected an input of rank >= 2, got shape "
                             f"{value.shape}")
        mask_value = _number(mask_value, "time_mask: mask_value")
        mask = np.any(np.not_equal(value, np.float32(mask_value)), axis=-1)
        return multiply(x, mask[..., None].astype(np.float32)), mask
    x = _c32(x, "time_mask: x")
    if x.ndim < 2:
        raise ValueError(f"time_mask: expected an input of rank >= 2, got shape {x.shape}")
    mask_value = _number(mask_value, "time_mask: mask_value")
    out = _out(out, x.shape, "time_mask")
    if mask is None:
        mask = np.empty(x.shape[:-1], np.bool_)
    elif not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and
              mask.shape == x.shape[:-1] and mask.flags.writeable):
        raise TypeError(f"time_mask: mask must be a writable bool array of shape "
                        f"{x.shape[:-1]}, got {_describe_array(mask)}")
    np.any(np.not_equal(x, np.float32(mask_value)), axis=-1, out=mask)
    np.multiply(x, mask[..., None], out=out)
    return out, mask


def time_mask_grad(dy, mask, out=None):
    """The input gradient of :func:`time_mask`: ``dy`` with the masked steps
    zeroed."""
    dy = _c32(dy, "time_mask backward: dy")
    mask = _step_mask(mask, dy.shape[:-1], "time_mask backward")
    out = _out(out, dy.shape, "time_mask backward")
    np.multiply(dy, mask[..., None], out=out)
    return out


def masked_mean(x, mask, out=None, weights=None):
    """The mean of ``x`` (batch, steps, channels) over the steps where
    ``mask`` (batch, steps) is true (Keras's masked GlobalAveragePooling1D;
    zeros for a row with no step left).  ``weights`` (batch, 1, steps)
    receives each step's share, which :func:`masked_mean_grad` needs.
    Returns ``(out, weights)``, ``out`` of shape (batch, channels)."""
    if _is_traced(x):
        _no_out_traced("masked_mean", out, weights)
        dims = tuple(shape(x))
        if len(dims) != 3:
            raise ValueError(f"masked_mean: expected x of shape (batch, steps, channels), got "
                             f"{dims}")
        mask = _step_mask(mask, dims[:2], "masked_mean")
        counts = np.count_nonzero(mask, axis=1).astype(np.float32)
        weights = (mask / np.maximum(counts, 1.0)[:, None]).astype(np.float32)[:, None, :]
        return reshape(batch_matmul(weights, x), (dims[0], dims[2])), weights
    x = _c32(x, "masked_mean: x")
    if x.ndim != 3:
        raise ValueError(f"masked_mean: expected x of shape (batch, steps, channels), got "
                         f"{x.shape}")
    mask = _step_mask(mask, x.shape[:2], "masked_mean")
    batch, steps, channels = x.shape
    weights = _out(weights, (batch, 1, steps), "masked_mean: weights")
    counts = np.count_nonzero(mask, axis=1).astype(np.float32)
    np.divide(mask, np.maximum(counts, 1.0)[:, None], out=weights[:, 0, :])
    out = _out(out, (batch, channels), "masked_mean")
    batch_matmul(weights, x, out=out.reshape(batch, 1, channels))
    return out, weights


def masked_mean_grad(dy, weights, out=None):
    """The input gradient of :func:`masked_mean` from ``dy`` (batch,
    channels) and its ``weights``."""
    dy = _c32(dy, "masked_mean backward: dy")
    weights = _c32(weights, "masked_mean backward: weights")
    if weights.ndim != 3 or weights.shape[1] != 1 or dy.shape != (weights.shape[0],) + \
            dy.shape[1:] or dy.ndim != 2:
        raise ValueError(f"masked_mean backward: expected dy of shape (batch, channels) and "
                         f"weights of shape (batch, 1, steps), got {dy.shape} and "
                         f"{weights.shape}")
    batch, _, steps = weights.shape
    out = _out(out, (batch, steps, dy.shape[-1]), "masked_mean backward")
    return batch_matmul(weights, dy.reshape(batch, 1, -1), transpose_a=True, out=out)




# ------------------------------------------ NumPy-style (Keras 3's ops)
#
# Keras 3's keras.ops names, on NumPy arrays and on traced arrays alike.
# Math without a C kernel is NumPy's, vectorized; products go through the
# GEMM kernels.  Floating point results are float32; integer and boolean
# arrays keep their dtype where NumPy keeps it (sum, max, reshape...).

def _array(x):
    """x as an array: floating point data as float32, other dtypes kept."""
    a = x if type(x) is np.ndarray else np.asarray(x)
    return a.astype(np.float32) if a.dtype.kind == "f" and a.dtype != np.float32 else a


def _axis_arg(axis):
    """An axis argument as NumPy takes it: a list, or an array of axes
    (``ops.arange(1, ndim)``, as TensorFlow takes a tensor), as a tuple."""
    if isinstance(axis, list):
        return tuple(axis)
    if isinstance(axis, (np.ndarray, np.generic)):
        return tuple(int(a) for a in axis) if axis.ndim else int(axis)
    return axis


def _plain(x):
    """The value of a traced array or weight (no gradient), else x."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        # (a watched Tensor is an array holding its own value)
        return x.view(_ndarray) if isinstance(x, _ndarray) else x.value
    return x


def divide(x1, x2):
    """``x1 / x2`` elementwise (NumPy broadcasting)."""
    if (type(x1) is not _ndarray and type(x1) in _TRACED
            or type(x2) is not _ndarray and type(x2) in _TRACED):
        return _traced("divide", x1, x2)
    return _binary("divide", x1, x2, None)


true_divide = divide


def power(x1, x2):
    """``x1 ** x2`` elementwise."""
    if (type(x1) is not _ndarray and type(x1) in _TRACED
            or type(x2) is not _ndarray and type(x2) in _TRACED):
        return _traced("power", x1, x2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.power(_f32(x1, "power: x1"), _f32(x2, "power: x2"))


def negative(x):
    if type(x) in _ARRAYS and x.dtype is _F32:
        return np.negative(x)
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("negative", x)
    return np.negative(_f32(x))


try:
    # NumPy 2 keeps the floating-point error state in this context variable;
    # np.errstate builds that state anew on every entry (over a microsecond,
    # more than exp of a small array), so the quiet state made from each
    # state the caller runs under is kept
    from numpy._core._ufunc_config import _extobj_contextvar as _FP_STATE
    from numpy._core._ufunc_config import _make_extobj
except ImportError:  # NumPy 1.x
    _FP_STATE = None
_QUIET_STATES = {}


def _quiet_state():
    """The error state the caller runs under with divide, invalid and
    overflow ignored (NumPy 2)."""
    state = _FP_STATE.get()
    quiet = _QUIET_STATES.get(state)
    if quiet is None:
        if len(_QUIET_STATES) > 16:  # (states of errstate blocks long gone)
            _QUIET_STATES.clear()
        quiet = _QUIET_STATES[state] = _make_extobj(divide="ignore", invalid="ignore",
                                                    over="ignore")
    return quiet


def _quietly(fn, x):
    """``fn(x)`` with NumPy's divide, invalid and overflow warnings off (as
    inside ``np.errstate(divide="ignore", invalid="ignore",
    over="ignore")``), the caller's other settings kept."""
    if _FP_STATE is None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(x)
    token = _FP_STATE.set(_quiet_state())
    try:
        return fn(x)
    finally:
        _FP_STATE.reset(token)


class _quiet_errors:
    """``with _quiet_errors():`` is ``with np.errstate(divide="ignore",
    invalid="ignore", over="ignore"):`` at a fraction of its cost."""
    __slots__ = ("token",)

    def __new__(cls):
        if _FP_STATE is None:
            return np.errstate(divide="ignore", invalid="ignore", over="ignore")
        return super().__new__(cls)

    def __enter__(self):
        self.token = _FP_STATE.set(_quiet_state())

    def __exit__(self, *exc):
        _FP_STATE.reset(self.token)


def _unary_math(name, fn, warns=True):
    def op(x):
        if type(x) in _ARRAYS and x.dtype is _F32:
            return _quietly(fn, x) if warns else fn(x)
        if type(x) is not _ndarray and type(x) in _TRACED:
            return _traced(name, x)
        return _quietly(fn, _f32(x, f"{name}: x"))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (float32)."
    return op


abs = _unary_math("abs", np.abs, warns=False)
absolute = abs
exp = _unary_math("exp", np.exp)
log = _unary_math("log", np.log)
log1p = _unary_math("log1p", np.log1p)
expm1 = _unary_math("expm1", np.expm1)
sqrt = _unary_math("sqrt", np.sqrt)
sin = _unary_math("sin", np.sin)
cos = _unary_math("cos", np.cos)


def _erf_values(x):
    """erf by Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7,
    float32's resolution near 1): NumPy has no erf of its own."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


erf = _unary_math("erf", lambda x: _erf_values(x.astype(np.float64)).astype(np.float32))


def square(x):
    """``x * x`` elementwise."""
    if type(x) in _ARRAYS and x.dtype is _F32:
        try:  # (the bridge refuses a non-contiguous x, which multiply copies)
            return _k.binary(_BINARY["multiply"], x, x, np.empty(x.shape, np.float32))
        except ValueError:
            pass
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("square", x)
    x = _f32(x, "square: x")
    return multiply(x, x)


def reciprocal(x):
    return divide(1.0, x)


def _constant_math(name, fn):
    def op(x):
        return fn(_plain(x))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"Elementwise {name}: a constant (its gradient is zero wherever it "
                  f"exists), also on traced arrays.")
    return op


sign = _constant_math("sign", np.sign)
floor = _constant_math("floor", np.floor)
ceil = _constant_math("ceil", np.ceil)


def round(x, decimals=0):
    """Elementwise rounding: a constant, also on traced arrays."""
    return np.round(_plain(x), decimals)


def _compare(name, fn):
    def op(x1, x2):
        return fn(_plain(x1), _plain(x2))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (a boolean array: a constant)."
    return op


def equal(x1, x2):
    """Elementwise equal (a boolean array: a constant); text compares as
    TensorFlow's strings do, bytes equal to the str of the same text."""
    return np.equal(*text_operands(_plain(x1), _plain(x2)))


def not_equal(x1, x2):
    """Elementwise not_equal (a boolean array: a constant); text as in equal."""
    return np.not_equal(*text_operands(_plain(x1), _plain(x2)))


greater = _compare("greater", np.greater)
greater_equal = _compare("greater_equal", np.greater_equal)
less = _compare("less", np.less)
less_equal = _compare("less_equal", np.less_equal)
logical_and = _compare("logical_and", np.logical_and)
logical_or = _compare("logical_or", np.logical_or)


def logical_not(x):
    return np.logical_not(_plain(x))


# bounds of clip that keep a float32 x float32 (and are never traced)
_BOUNDS = frozenset((float, int, type(None)))


def clip(x, x_min, x_max):
    """x limited to [x_min, x_max] (either may be None); the gradient
    passes where x is inside, as TensorFlow's clip_by_value."""
    if type(x) in _ARRAYS and x.dtype is _F32 and type(x_min) in _BOUNDS \
            and type(x_max) in _BOUNDS:
        return np.clip(x, x_min, x_max)
    if (type(x) is not _ndarray and type(x) in _TRACED
            or type(x_min) is not _ndarray and type(x_min) in _TRACED
            or type(x_max) is not _ndarray and type(x_max) in _TRACED):
        if x_min is not None:
            x = maximum(x, x_min)
        return x if x_max is None else minimum(x, x_max)
    if isinstance(x, (bool, int)) or isinstance(x, (np.ndarray, np.generic)) and \
            x.dtype.kind in "biu":
        # as Keras: an integer x keeps its dtype (a Python int or a boolean:
        # int32), so clipped pixel offsets stay integers
        dtype = np.int32 if isinstance(x, (bool, int)) or x.dtype.kind == "b" else x.dtype
        return np.clip(np.asarray(x, dtype), x_min, x_max).astype(dtype)
    return np.clip(_f32(x, "clip: x"), x_min, x_max).astype(np.float32, copy=False)


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, else ``x2`` (with only the
    condition: the indices where it holds)."""
    if x1 is None and x2 is None:
        return np.nonzero(_plain(condition))
    if x1 is None or x2 is None:
        raise ValueError("where: give both x1 and x2, or neither")
    if type(x1) in _ARRAYS and x1.dtype is _F32 and type(x2) in _ARRAYS and \
            x2.dtype is _F32 and type(condition) in _ARRAYS:
        return np.where(condition, x1, x2)
    if (type(x1) is not _ndarray and type(x1) in _TRACED
            or type(x2) is not _ndarray and type(x2) in _TRACED):
        return _traced("where", condition, x1, x2)
    return np.where(_plain(condition), _array(x1), _array(x2))


def cast(x, dtype):
    """x as ``dtype`` (a cast to an integer or boolean type is a constant);
    a SparseTensor's values, as TensorFlow casts them."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("cast", x, dtype)
    if type(x) is _TracedComplex:
        return x.cast(dtype)
    if type(x) is not _ndarray and hasattr(x, "dense_shape"):
        from .sparse import SparseTensor
        if isinstance(x, SparseTensor):
            return SparseTensor(x.indices, cast(x.values, dtype), x.dense_shape)
    return np.asarray(x).astype(dtype)


def convert_to_tensor(x, dtype=None, sparse=None):
    """x as an eager tensor (traced arrays as they are), with Keras's
    dtypes: Python ints int32, floats float32, int64 arrays int32."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        from .autodiff import resolve
        read = resolve(x)
        if type(read) is _ndarray or type(read) not in _TRACED:
            # a variable outside a GradientTape: a tensor of its value now
            # (tf.convert_to_tensor(v)), which a later assign leaves alone
            read = _eager(np.array(read))
            return read if dtype is None else _eager(read.astype(dtype, copy=False))
        return read if dtype is None else cast(read, dtype)
    if dtype is None:
        dtype = _python_dtype(x)
    if dtype is None:
        return _eager(_array(x))
    # (a dtype asked for is reached directly: float64 values are not
    # rounded through float32 on their way)
    a = x if type(x) is np.ndarray else np.asarray(_plain(x))
    return _eager(a.astype(dtype, copy=False))


def convert_to_numpy(x):
    """x as a NumPy array (a traced array's value; a device array copied
    back)."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        x = x.value
    return np.asarray(x)


def size(x):
    """The number of values in x."""
    return int(np.size(_plain(x)))


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values, as np.arange (int32 for integer bounds, else
    float32, as Keras gives)."""
    values = np.arange(start, stop, step)
    if dtype is None:
        dtype = np.int32 if values.dtype.kind in "iu" else np.float32
    return values.astype(dtype)


def stop_gradient(variable):
    """The value, as a constant: no gradient flows back through it."""
    if type(variable) is not _ndarray and type(variable) in _TRACED:
        return _traced("stop_gradient", variable)
    return variable


def shape(x):
    """The shape as a tuple (of a NumPy, traced or symbolic array)."""
    s = getattr(x, "shape", None)
    return tuple(s) if s is not None else np.shape(x)


def ndim(x):
    return len(shape(x))


def zeros(shape, dtype=None):
    return _filled("zeros", shape, 0, dtype)


def ones(shape, dtype=None):
    return _filled("ones", shape, 1, dtype)


def _filled(who, shape, fill_value, dtype):
    """An array of ``shape`` filled with ``fill_value``.  A leading None in
    ``shape`` is the batch size of a symbolic tensor (``ops.shape(x)[0]``
    in a subclassed model's call while it is traced into a graph): the
    graph then makes the array for the batch it runs on."""
    if not np.isscalar(shape) and builtins.any(d is None for d in shape):
        if not _SYMBOLIC:
            raise ValueError(f"ops.{who}: the shape {tuple(shape)} has an unknown size (None)")
        return _SYMBOLIC[2](who, tuple(shape), fill_value, dtype)
    return np.full(shape, fill_value, dtype or np.float32)


def zeros_like(x, dtype=None):
    v = _plain(x)
    return np.zeros(np.shape(v), dtype or getattr(v, "dtype", np.float32))


def ones_like(x, dtype=None):
    v = _plain(x)
    return np.ones(np.shape(v), dtype or getattr(v, "dtype", np.float32))


def one_hot(x, num_classes, axis=-1, dtype=None):
    """Integer ids as one-hot rows (a constant)."""
    ids = np.asarray(_plain(x)).astype(np.int64)
    out = (ids[..., None] == np.arange(int(num_classes))).astype(dtype or np.float32)
    return out if axis in (-1, out.ndim - 1) else np.moveaxis(out, -1, axis)


def argmax(x, axis=None, keepdims=False):
    if type(x) in _ARRAYS:  # (what np.argmax calls, without its wrappers' 1-3 us)
        return x.argmax(axis=axis, keepdims=keepdims)
    return np.argmax(_plain(x), axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims=False):
    if type(x) in _ARRAYS:
        return x.argmin(axis=axis, keepdims=keepdims)
    return np.argmin(_plain(x), axis=axis, keepdims=keepdims)


# ------------------------------------------------------------ reductions

def _stacked(x):
    """A list or tuple of arrays holding traced ones as one traced array
    (``reduce_mean([loss(a, b) for ...])``, as Keras converts a list to a
    tensor), else x."""
    if type(x) in (list, tuple) and builtins.any(_is_traced(v) for v in x):
        return stack(list(x))
    return x


def _reduction(name, fn):
    def op(x, axis=None, keepdims=False):
        x, axis = _stacked(x), _axis_arg(axis)
        if type(x) is not _ndarray and type(x) in _TRACED:
            return _traced(name, x, axis=axis, keepdims=keepdims)
        return fn(_array(x), axis=axis, keepdims=keepdims)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"The {name} over ``axis`` (all axes when None)."
    return op


# (the ufuncs' own reduce: what np.sum and the others call after two
# Python frames of argument handling, the same results and dtypes)
sum = _reduction("sum", np.add.reduce)
max = _reduction("max", np.maximum.reduce)
min = _reduction("min", np.minimum.reduce)
prod = _reduction("prod", np.multiply.reduce)


def any(x, axis=None, keepdims=False):
    """Whether any value along ``axis`` is nonzero (a constant)."""
    return np.any(_plain(x), axis=_axis_arg(axis), keepdims=keepdims)


def all(x, axis=None, keepdims=False):
    """Whether every value along ``axis`` is nonzero (a constant)."""
    return np.all(_plain(x), axis=_axis_arg(axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """The mean over ``axis`` (all axes when None), float32."""
    x = _stacked(x)
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("mean", x, axis=axis, keepdims=keepdims)
    x, axis = _f32(x, "mean: x"), _axis_arg(axis)
    if not x.size:  # NumPy's warning and NaN
        return np.mean(x, axis=axis, keepdims=keepdims, dtype=np.float32)
    # np.mean's own steps (its float32 sum, divided by the count as an intp)
    # without its Python wrappers, which cost more than a small mean
    total = np.add.reduce(x, axis=axis, dtype=np.float32, keepdims=keepdims)
    count = np.intp(x.size // total.size)
    if isinstance(total, np.ndarray):
        return np.true_divide(total, count, out=total, casting="unsafe", subok=False)
    return total.dtype.type(total / count)


def var(x, axis=None, keepdims=False):
    """The variance over ``axis`` (the mean squared deviation)."""
    x = _stacked(x)
    if type(x) is not _ndarray and type(x) in _TRACED:
        centered = subtract(x, mean(x, axis=axis, keepdims=True))
        return mean(square(centered), axis=axis, keepdims=keepdims)
    return np.var(_f32(x, "var: x"), axis=_axis_arg(axis), keepdims=keepdims,
                  dtype=np.float32)


def std(x, axis=None, keepdims=False):
    x = _stacked(x)
    if type(x) is not _ndarray and type(x) in _TRACED:
        return sqrt(var(x, axis=axis, keepdims=keepdims))
    return np.std(_f32(x, "std: x"), axis=_axis_arg(axis), keepdims=keepdims,
                  dtype=np.float32)


def cumsum(x, axis=None, dtype=None):
    """Cumulative sums along ``axis`` (over the flattened array when None)."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("cumsum", x, axis=axis)
    return np.cumsum(_array(x), axis=axis, dtype=dtype)


def _logsumexp_values(x, axis):
    """logsumexp's steps on a float32 array, kept dims, straight in NumPy:
    the public ops it is written with cost 40 times more on a small array
    (the same operations, the same values)."""
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    with _quiet_errors():
        total = np.add.reduce(m, axis=None)
        if total - total != 0:  # an infinite or NaN maximum (or a sum past float32's range)
            m[~np.isfinite(m)] = 0  # (np.where costs 5 us)
        return np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True)) + m


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed stably."""
    if type(x) in _ARRAYS and x.dtype is _F32 and x.ndim:
        out = _logsumexp_values(x, _axis_arg(axis))
        return out if keepdims else np.squeeze(out, _axis_arg(axis))
    m = stop_gradient(max(x, axis=axis, keepdims=True))
    m = np.where(np.isfinite(m), m, np.float32(0))
    out = add(log(sum(exp(subtract(x, m)), axis=axis, keepdims=True)), m)
    return out if keepdims else squeeze(out, axis)


def log_softmax(x, axis=-1):
    if type(x) in _ARRAYS and x.dtype is _F32 and x.ndim:
        lse = _logsumexp_values(x, _axis_arg(axis))
        with _quiet_errors():  # (inf - inf, quiet as subtract is)
            return x - lse
    return subtract(x, logsumexp(x, axis=axis, keepdims=True))


def softsign(x):
    return divide(x, add(abs(x), 1.0))


silu = swish


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms (ord None/2, 1, inf, -inf, 0, any p) over ``axis``, and
    the Frobenius norm of matrices, as NumPy's linalg.norm."""
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.asarray(np.linalg.norm(_f32(x, "norm: x"), ord=ord, axis=_axis_arg(axis),
                                         keepdims=keepdims), np.float32)
    over = tuple(range(x.ndim)) if axis is None else _axis_arg(axis)
    if ord in (None, 2, "fro") and (ord != 2 or np.ndim(over) == 0 or len(over) == 1
                                     or axis is None and x.ndim == 1):
        return sqrt(sum(square(x), axis=over, keepdims=keepdims))
    if np.ndim(over) != 0 and len(over) > 1 and ord not in (None, "fro"):
        raise ValueError(f"norm: the matrix norm ord={ord!r} has no gradient rule here; "
                         f"use ord=None ('fro') or a vector norm")
    if ord == 1:
        return sum(abs(x), axis=over, keepdims=keepdims)
    if ord == np.inf:
        return max(abs(x), axis=over, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs(x), axis=over, keepdims=keepdims)
    if ord == 0:
        return np.sum(_plain(x) != 0, axis=over, keepdims=keepdims).astype(np.float32)
    p = float(ord)
    return power(sum(power(abs(x), p), axis=over, keepdims=keepdims), 1.0 / p)


def normalize(x, axis=-1, order=2, epsilon=None):
    """x divided by its norm along ``axis`` (Keras 3's ops.normalize)."""
    if order == 2:
        return l2_normalize(x, axis=axis, epsilon=1e-12 if epsilon is None else epsilon)
    n = norm(x, ord=order, axis=axis, keepdims=True)
    return divide(x, maximum(n, 1e-12 if epsilon is None else epsilon))


# ----------------------------------------------------------------- shapes

def reshape(x, newshape):
    """x with the shape ``newshape`` (one entry may be -1).  A None entry
    is a size that was unknown when a graph was built (``ops.shape`` of a
    symbolic tensor, recorded into the graph): first, the batch of ``x``;
    elsewhere, what is left (as -1)."""
    if type(x) in _ARRAYS and type(newshape) is tuple and None not in newshape:
        try:  # the usual call: an array and a tuple of sizes
            return x.reshape(newshape)
        except (ValueError, TypeError):
            pass  # explained or resolved below
    if not np.isscalar(newshape) and builtins.any(d is None for d in newshape):
        newshape = _known_shape(x, newshape)
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("reshape", x, tuple(newshape) if isinstance(newshape, list)
                       else newshape)
    try:
        return np.reshape(x, newshape)
    except TypeError:
        sizes = [newshape] if np.ndim(newshape) == 0 else list(newshape)
        if builtins.any(np.asarray(_plain(d)).dtype.kind not in "iub" for d in sizes):
            raise TypeError(f"reshape: the shape must be integers, got "
                            f"{[np.asarray(_plain(d)).tolist() for d in sizes]} (as "
                            f"TensorFlow, a float size is not cast)") from None
        raise
    except ValueError:
        from . import autodiff
        if autodiff.sizes_unknown() and np.ndim(newshape) == 1 and \
                builtins.all(d is not None and d >= 0 for d in newshape):
            # As Keras's symbolic reshape of a tensor whose batch size is
            # unknown: the output has the sizes asked for, whatever the
            # sample batch its shape is found on (a layer reshaping to the
            # tokens of the fixed batch it trains on).
            return np.zeros(tuple(int(d) for d in newshape), np.asarray(x).dtype)
        raise




def _known_shape(x, newshape):
    shape = [int(np.shape(x)[0]) if i == 0 and d is None else d
             for i, d in enumerate(newshape)]
    unknown = [i for i, d in enumerate(shape) if d is None or d == -1]
    if len(unknown) > 1:
        raise ValueError(f"reshape: the shape {tuple(newshape)} leaves more than one size "
                         f"unknown (None or -1) for an array of shape {np.shape(x)}")
    return tuple(-1 if d is None else d for d in shape)


def expand_dims(x, axis):
    """x with a new axis of size 1 at ``axis`` (or at each of several)."""
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.expand_dims(x, _axis_arg(axis))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = list(x.shape)
    rank = len(out) + len(axes)
    for a in sorted(int(a) % rank for a in axes):
        out.insert(a, 1)
    return reshape(x, tuple(out))


def squeeze(x, axis=None):
    """x without its axes of size 1 (or only those in ``axis``)."""
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.squeeze(x, _axis_arg(axis))
    s = x.shape
    if axis is None:
        drop = {i for i, d in enumerate(s) if d == 1}
    else:
        drop = {int(a) % len(s) for a in ((axis,) if np.ndim(axis) == 0 else axis)}
        bad = [a for a in drop if s[a] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad[0]} of shape {s} is not 1")
    return reshape(x, tuple(d for i, d in enumerate(s) if i not in drop))


def stack(x, axis=0):
    """The arrays ``x`` (one shape) joined along a new axis."""
    xs = list(x)
    if _all_f32(xs):
        return np.stack(xs, axis=axis)
    if not builtins.any(type(v) is not _ndarray and type(v) in _TRACED for v in xs):
        return np.stack([_array(v) for v in xs], axis=axis)
    return concatenate([expand_dims(v, axis) for v in xs], axis=axis)


def split(x, indices_or_sections, axis=0):
    """Pieces of x along ``axis``: ``n`` equal ones, or cut at indices."""
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.split(x, indices_or_sections, axis=axis)
    size = x.shape[axis]
    if np.ndim(indices_or_sections) == 0:
        n = int(indices_or_sections)
        if n <= 0 or size % n:
            raise ValueError(f"split: an axis of {size} does not split into {n} equal parts")
        cuts = list(range(size // n, size, size // n))
    else:
        cuts = [int(i) for i in indices_or_sections]
    bounds = [0] + cuts + [size]
    lead = (builtins.slice(None),) * (axis % x.ndim)
    return [x[lead + (builtins.slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:])]


def take(x, indices, axis=None):
    """The elements at ``indices`` along ``axis`` (the flattened array when
    None); on traced arrays the gradient adds up repeated indices."""
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.take(x, _plain(indices), axis=axis)
    if axis is None:
        return reshape(x, (-1,))[np.asarray(_plain(indices))]
    return x[(builtins.slice(None),) * (axis % x.ndim) + (np.asarray(_plain(indices)),)]


def tile(x, repeats):
    """x repeated ``repeats`` times along each axis, as NumPy's tile.  A
    None among the repeats is the batch size of a symbolic tensor
    (``ops.tile(self.token, (ops.shape(x)[0], 1, 1))`` in a subclassed
    model's call while it is traced into a graph): the graph repeats for
    the batch it runs on."""
    if np.ndim(repeats) and builtins.any(r is None for r in repeats):
        if not _SYMBOLIC:
            raise ValueError(f"ops.tile: the repeats {tuple(repeats)} have an unknown size "
                             f"(None)")
        return _SYMBOLIC[3]("tile", (x, list(repeats)))
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.tile(x, repeats)
    reps = (int(repeats),) if np.ndim(repeats) == 0 else tuple(int(r) for r in repeats)
    if len(reps) > x.ndim:
        x = reshape(x, (1,) * (len(reps) - x.ndim) + x.shape)
    reps = (1,) * (x.ndim - len(reps)) + reps
    for axis, r in enumerate(reps):
        if r != 1:
            x = take(x, np.tile(np.arange(x.shape[axis]), r), axis=axis)
    return x




def flip(x, axis=None):
    """x reversed along ``axis`` (every axis when None)."""
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.flip(x, axis)
    axes = range(x.ndim) if axis is None else \
        [int(a) % x.ndim for a in ((axis,) if np.ndim(axis) == 0 else axis)]
    return x[tuple(builtins.slice(None, None, -1) if i in axes else builtins.slice(None)
                   for i in range(x.ndim))]


def moveaxis(x, source, destination):
    """x with the axes ``source`` moved to ``destination``."""
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.moveaxis(x, source, destination)
    src = [int(a) % x.ndim for a in ((source,) if np.ndim(source) == 0 else source)]
    dst = [int(a) % x.ndim for a in ((destination,) if np.ndim(destination) == 0
                                     else destination)]
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def swapaxes(x, axis1, axis2):
    if (type(x) is _ndarray or type(x) not in _TRACED):
        return np.swapaxes(x, axis1, axis2)
    order = list(range(x.ndim))
    a, b = int(axis1) % x.ndim, int(axis2) % x.ndim
    order[a], order[b] = order[b], order[a]
    return transpose(x, order)


def broadcast_to(x, shape):
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("broadcast_to", x, tuple(shape))
    return np.broadcast_to(x, shape)


# Pad modes that copy input values outward: each padded value's gradient
# goes back to the element it copies (pynn.autodiff's pad).
COPYING_PAD_MODES = ("reflect", "symmetric", "edge", "wrap")


def pad(x, pad_width, mode="constant", constant_values=None):
    """x padded by ``pad_width`` (NumPy's forms); traced arrays take the
    constant mode."""
    value = 0 if constant_values is None else constant_values
    if type(x) is not _ndarray and type(x) in _TRACED:
        mode = str(mode).lower()
        if mode == "constant":
            return _traced("pad", x, pad_width, value)
        if mode in COPYING_PAD_MODES:
            return _traced("pad", x, pad_width, mode=mode)
        raise ValueError(f"pad: mode {mode!r} has no gradient rule here; use one of "
                         f"{('constant',) + COPYING_PAD_MODES}")
    if mode == "constant":
        return np.pad(_array(x), pad_width, mode=mode, constant_values=value)
    return np.pad(_array(x), pad_width, mode=mode)


# ---------------------------------------------------------- products

def tensordot(x1, x2, axes=2):
    """Sums of products over the given axes (NumPy's tensordot), as one
    GEMM after moving the summed axes together."""
    if np.ndim(axes) == 0:
        n = int(axes)
        ax1, ax2 = list(range(ndim(x1) - n, ndim(x1))), list(range(n))
    else:
        ax1, ax2 = ([axes[0]] if np.ndim(axes[0]) == 0 else list(axes[0]),
                    [axes[1]] if np.ndim(axes[1]) == 0 else list(axes[1]))
    s1, s2 = shape(x1), shape(x2)
    ax1 = [int(a) % len(s1) for a in ax1]
    ax2 = [int(a) % len(s2) for a in ax2]
    if [s1[a] for a in ax1] != [s2[a] for a in ax2]:
        raise ValueError(f"tensordot: the summed axes of shapes {s1} and {s2} differ")
    keep1 = [a for a in range(len(s1)) if a not in ax1]
    keep2 = [a for a in range(len(s2)) if a not in ax2]
    k = int(np.prod([s1[a] for a in ax1], dtype=np.int64))
    a = reshape(transpose(x1, keep1 + ax1), (-1, k))
    b = reshape(transpose(x2, ax2 + keep2), (k, -1))
    return reshape(matmul(a, b), tuple(s1[i] for i in keep1) + tuple(s2[i] for i in keep2))


def dot(x1, x2):
    """NumPy's dot: the product of scalars, the inner product of vectors,
    and otherwise the sum over the last axis of x1 and the second-to-last of
    x2 (the last, for a vector)."""
    n1, n2 = ndim(x1), ndim(x2)
    if n1 == 0 or n2 == 0:
        return multiply(x1, x2)
    if n1 <= 2 and n2 <= 2:
        return matmul(x1, x2)
    return tensordot(x1, x2, axes=([n1 - 1], [builtins.max(n2 - 2, 0)]))


def _is_traced(x):
    return type(x) is not _ndarray and type(x) in _TRACED


def _triangle(name, keep):
    def op(x, k=0):
        mask = keep(np.ones(shape(x)[-2:], bool), int(k))
        if _is_traced(x):
            return where(mask, x, np.float32(0))
        return np.where(mask, _array(x), np.zeros((), _array(x).dtype))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"x with the values {'above' if name == 'tril' else 'below'} the k-th "
                  f"diagonal of its last two axes set to zero, as NumPy's {name}.")
    return op


tril = _triangle("tril", np.tril)
triu = _triangle("triu", np.triu)


def einsum(subscripts, *operands):
    """Einstein summation, as NumPy's einsum (explicit and implicit output,
    ellipses); on traced arrays each operand's gradient is another einsum."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got "
                        f"{type(subscripts).__name__}")
    if builtins.any(_is_traced(x) for x in operands):
        return _traced("einsum", subscripts, *operands)
    return np.asarray(np.einsum(subscripts, *(_array(x) for x in operands), optimize=True))


def top_k(x, k, sorted=True):
    """The ``k`` largest values along the last axis and their indices
    (int32), largest first; equal values keep their order, as TensorFlow's
    top_k."""
    values = _plain(x)
    n = np.shape(values)[-1] if np.ndim(values) else 0
    k = _integer(k, "top_k: k", low=0)
    if k > n:
        raise ValueError(f"top_k: k={k} is more than the {n} values of the last axis")
    indices = np.argsort(-np.asarray(values), axis=-1, kind="stable")[..., :k]
    indices = indices.astype(np.int32)
    return take_along_axis(x, indices, axis=-1), indices


def argsort(x, axis=-1):
    """The indices that sort x along ``axis`` (stable; a constant)."""
    return np.argsort(_plain(x), axis=axis, kind="stable").astype(np.int32)


def _along_axis_key(shape, indices, axis):
    """The fancy index that reads ``indices`` along ``axis`` (the other axes
    broadcast), as take_along_axis reads them."""
    rank = len(shape)
    if indices.ndim != rank:
        raise ValueError(f"take_along_axis: indices of rank {indices.ndim} for an array of "
                         f"rank {rank}; they need the same rank")
    axis = int(axis) % rank
    key = []
    for a in range(rank):
        if a == axis:
            key.append(np.where(indices < 0, indices + shape[a], indices))
        else:
            line = [1] * rank
            line[a] = shape[a]
            key.append(np.arange(shape[a]).reshape(line))
    return tuple(key)


def take_along_axis(x, indices, axis=None):
    """The values of x at ``indices`` along ``axis`` (the flattened array
    when None), as NumPy's take_along_axis; on traced arrays the gradient
    adds up repeated indices."""
    indices = np.asarray(_plain(indices))
    if indices.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got dtype {indices.dtype}")
    if not _is_traced(x):
        return np.take_along_axis(_array(x), indices, axis=axis)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return x[_along_axis_key(x.shape, indices, axis)]


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    """The rows of ``data`` summed by segment: row i is added to row
    ``segment_ids[i]`` of the result (``num_segments`` rows, by default the
    largest id + 1); rows of a negative id are dropped, as Keras's."""
    ids = np.asarray(_plain(segment_ids))
    if ids.dtype.kind not in "iu" or ids.ndim != 1:
        raise TypeError(f"segment_sum: segment_ids must be a 1-D integer array, got dtype "
                        f"{ids.dtype} and shape {ids.shape}")
    rows = shape(data)[0] if ndim(data) else 0
    if ids.shape[0] != rows:
        raise ValueError(f"segment_sum: {ids.shape[0]} segment ids for {rows} rows of data")
    n = (int(ids.max()) + 1 if ids.size else 0) if num_segments is None else \
        _integer(num_segments, "segment_sum: num_segments", low=0)
    if ids.size and ids.max() >= n:
        raise ValueError(f"segment_sum: segment id {int(ids.max())} is out of range for "
                         f"{n} segments")
    if _is_traced(data):
        return _traced("segment_sum", data, ids, builtins.max(n, 0))
    values = _array(data)
    out = np.zeros((builtins.max(n, 0),) + values.shape[1:], values.dtype)
    keep = ids >= 0
    np.add.at(out, ids[keep], values[keep])
    return out


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` holds, else ``false_fn()`` (a Python
    branch: the predicate is a value, never traced)."""
    return true_fn() if bool(np.asarray(_plain(pred))) else false_fn()


def _image_resize(images, size, interpolation="bilinear", antialias=False,
                  crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, fill_mode="constant",
                  fill_value=0.0, data_format=None):
    """Keras 3's ``ops.image.resize`` for channels-last images (one HWC image
    or an NHWC batch): 'nearest', 'bilinear', 'bicubic', 'lanczos3',
    'lanczos5' (or TensorFlow's 'area', 'gaussian', 'mitchellcubic') with
    half-pixel centres (see ``resize``), optionally cropped
    to the target's aspect ratio first."""
    if pad_to_aspect_ratio:
        raise ValueError("image.resize: pad_to_aspect_ratio=True is not supported; use "
                         "crop_to_aspect_ratio or resize to the full size")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"image.resize: data_format must be 'channels_last', got "
                         f"{data_format!r}")
    rank = ndim(images)
    if rank not in (3, 4):
        raise ValueError(f"image.resize: expected an HWC image or an NHWC batch, got shape "
                         f"{shape(images)}")
    batch = images if rank == 4 else expand_dims(images, 0)
    h, w = shape(batch)[1:3]
    window = resize_geometry(h, w, size, True) if crop_to_aspect_ratio else None
    out = resize(batch, size, interpolation, window, antialias=antialias)
    return out if rank == 4 else squeeze(out, 0)


# Keras 3's keras.ops.image namespace.
image = types.SimpleNamespace(resize=_image_resize)


# -------------------------------------- more of Keras 3's ops namespace
#
# Constructors, tests, sorting, stacking, slicing, loops, the nn
# functions (gelu, the cross-entropies, conv and pooling of any 1-D or
# 2-D layout) under Keras 3's names and signatures.  Differentiable ones
# are written with the recorded functions above, or recorded themselves
# (conv, pooling), so they train inside a custom layer or a GradientTape.

def _constant_input(name, **values):
    """Refuse traced arguments of a function whose result is a constant
    built from them, rather than silently dropping their gradient."""
    for arg, v in values.items():
        if _is_traced(v):
            raise TypeError(f"{name}: {arg} is a traced array; {name} builds a constant and "
                            f"has no gradient for it. Pass a plain number or array "
                            f"(ops.stop_gradient(x) or x.numpy())")


def _python_dtype(x):
    """Keras 3's dtype for data given as Python numbers or lists: int32 for
    integers, float32 for floats, bool for booleans; arrays keep theirs
    (floating point as float32, int64 as int32, as Keras's type rules)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.int32 if x.dtype == np.int64 else None
    a = np.asarray(x)
    return {"b": np.bool_, "i": np.int32, "u": np.int32, "f": np.float32}.get(a.dtype.kind)


def _is_python_number(x):
    return type(x) in (int, float)


def array(x, dtype=None):
    """x as an array (Keras 3's ops.array): Python ints become int32,
    floating point data float32, unless ``dtype`` says otherwise."""
    if _is_traced(x):
        return convert_to_tensor(x, dtype)
    if dtype is None:
        dtype = _python_dtype(x)
    a = _array(x)
    return a if dtype is None else a.astype(dtype)


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value`` (float32 unless
    ``dtype`` says)."""
    _constant_input("full", fill_value=fill_value)
    return _filled("full", shape, fill_value, dtype)


def full_like(x, fill_value, dtype=None):
    """An array of x's shape (and dtype, unless given) filled with
    ``fill_value``."""
    _constant_input("full_like", fill_value=fill_value)
    v = _array(_plain(x))
    return np.full(v.shape, fill_value, dtype or v.dtype)


def eye(N, M=None, k=0, dtype=None):
    """A matrix of N rows and M columns (N when None) with ones on the k-th
    diagonal."""
    return np.eye(_integer(N, "eye: N", low=0), None if M is None else
                  _integer(M, "eye: M", low=0), _integer(k, "eye: k"), dtype=dtype or np.float32)


def identity(n, dtype=None):
    """The n x n identity matrix."""
    return np.identity(_integer(n, "identity: n", low=0), dtype=dtype or np.float32)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (float32
    unless ``dtype`` says), as NumPy's linspace."""
    _constant_input("linspace", start=start, stop=stop)
    num = _integer(num, "linspace: num", low=0)
    return np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep,
                       dtype=dtype or np.float32, axis=axis)


def _elementwise_test(name, fn):
    def op(x):
        return fn(_array(_plain(x)))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (a boolean array: a constant)."
    return op


isnan = _elementwise_test("isnan", np.isnan)
isinf = _elementwise_test("isinf", np.isinf)
isfinite = _elementwise_test("isfinite", np.isfinite)


def diag(x, k=0):
    """A vector's k-th diagonal matrix, or a matrix's k-th diagonal, as
    NumPy's diag; on traced arrays the gradient goes to the diagonal."""
    k = _integer(k, "diag: k")
    rank = ndim(x)
    if rank not in (1, 2):
        raise ValueError(f"diag: expected a vector or a matrix, got shape {shape(x)}")
    if not _is_traced(x):
        return np.diag(_array(x), k)
    if rank == 2:
        rows, cols = np.nonzero(np.eye(*x.shape, k=k, dtype=bool))
        return x[rows, cols]
    n = x.shape[0]
    size = n + builtins.abs(k)
    # Each entry of the matrix reads x[i] on the diagonal, else the zero
    # appended at index n.
    index = np.full((size, size), n, np.int64)
    i = np.arange(n)
    index[i + builtins.max(-k, 0), i + builtins.max(k, 0)] = i
    return take(concatenate([x, np.zeros(1, np.float32)], axis=0), index.ravel(), axis=0) \
        .reshape((size, size))


def mod(x1, x2):
    """The remainder of ``x1 / x2`` with the sign of ``x2``, as NumPy's
    mod; on traced arrays the gradient is 1 for x1 and -floor(x1 / x2) for
    x2."""
    if _is_traced(x1) or _is_traced(x2):
        return _traced("mod", x1, x2)
    # (a Python number takes the array's dtype, as in Keras's type rules)
    a = x1 if _is_python_number(x1) else _array(x1)
    b = x2 if _is_python_number(x2) else _array(x2)
    if np.result_type(a, b) == np.bool_:
        a, b = np.asarray(a, np.int32), np.asarray(b, np.int32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.mod(a, b))


def outer(x1, x2):
    """The outer product of x1 and x2 (each flattened)."""
    if _is_traced(x1) or _is_traced(x2):
        return multiply(reshape(x1, (-1, 1)), reshape(x2, (1, -1)))
    return np.outer(_array(x1), _array(x2))


def rsqrt(x):
    """``1 / sqrt(x)`` elementwise (float32)."""
    return divide(1.0, sqrt(x))


def sort(x, axis=-1):
    """x sorted along ``axis`` (the flattened array when None); on traced
    arrays each value's gradient follows it to its place."""
    if not _is_traced(x):
        return np.sort(_array(x), axis=axis)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return take_along_axis(x, argsort(x, axis=axis), axis=axis)


def unstack(x, num=None, axis=0):
    """The slices of x along ``axis``, as a list."""
    rank = ndim(x)
    if rank == 0:
        raise ValueError("unstack: expected an array of rank >= 1, got a scalar")
    axis = _integer(axis, "unstack: axis", low=-rank, high=rank - 1) % rank
    n = shape(x)[axis]
    if num is not None and _integer(num, "unstack: num", low=0) != n:
        raise ValueError(f"unstack: num={num} but axis {axis} of shape {shape(x)} has {n} "
                         f"entries")
    lead = (builtins.slice(None),) * axis
    if _is_traced(x):
        return [x[lead + (i,)] for i in range(n)]
    a = _array(x)
    return [a[lead + (i,)] for i in range(n)]


def vstack(xs):
    """The arrays joined along their first axis (vectors as rows), as
    NumPy's vstack."""
    xs = list(xs)
    if not builtins.any(_is_traced(v) for v in xs):
        return np.vstack([_array(v) for v in xs])
    return concatenate([reshape(v, (1, -1)) if ndim(v) < 2 else v for v in xs], axis=0)


def hstack(xs):
    """The arrays joined along their second axis (vectors end to end), as
    NumPy's hstack."""
    xs = list(xs)
    if not builtins.any(_is_traced(v) for v in xs):
        return np.hstack([_array(v) for v in xs])
    xs = [reshape(v, (1,)) if ndim(v) == 0 else v for v in xs]
    return concatenate(xs, axis=0 if ndim(xs[0]) == 1 else 1)


def average(x, axis=None, weights=None):
    """The mean over ``axis``, weighted by ``weights`` (x's shape, or a
    vector along ``axis``) when given, as NumPy's average."""
    if weights is None:
        return mean(x, axis=axis)
    wshape, xshape = shape(weights), shape(x)
    if wshape != xshape:
        if axis is None or np.ndim(axis) != 0 or len(wshape) != 1 \
                or wshape[0] != xshape[axis]:
            raise ValueError(f"average: weights of shape {wshape} for x of shape {xshape} "
                             f"and axis={axis}; they need x's shape, or be a vector as long "
                             f"as that axis")
        line = [1] * len(xshape)
        line[axis] = wshape[0]
        weights = reshape(weights, tuple(line))
    if not (_is_traced(x) or _is_traced(weights)):
        x, weights = _f32(x, "average: x"), _f32(weights, "average: weights")
        return np.asarray(np.average(x, axis=_axis_arg(axis), weights=np.broadcast_to(
            weights, x.shape)), np.float32)
    total = sum(multiply(x, weights), axis=axis)
    return divide(total, sum(broadcast_to(weights, xshape), axis=axis))


def gelu(x, approximate=True):
    """Gaussian error linear unit ``x * Phi(x)``; with ``approximate`` (the
    default, as Keras 3's ops.gelu) its tanh approximation."""
    if approximate:
        inner = multiply(add(x, multiply(power(x, 3), 0.044715)), float(np.sqrt(2 / np.pi)))
        return multiply(multiply(x, 0.5), add(tanh(inner), 1.0))
    return multiply(multiply(x, 0.5), add(erf(multiply(x, float(1 / np.sqrt(2)))), 1.0))


# Keras's backend.epsilon(): probabilities are clipped to [eps, 1 - eps].
_EPSILON = 1e-7


def _log_probabilities(output, from_logits, axis):
    if from_logits:
        return log_softmax(output, axis=axis)
    output = divide(output, sum(output, axis=axis, keepdims=True))
    return log(clip(output, _EPSILON, 1.0 - _EPSILON))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """The cross-entropy of each row of one-hot (or soft) ``target`` and
    ``output`` along ``axis``, not averaged (Keras 3's ops form)."""
    ts, os_ = shape(target), shape(output)
    if ts != os_:
        raise ValueError(f"categorical_crossentropy: target and output need the same shape, "
                         f"got {ts} and {os_}")
    if len(ts) < 1:
        raise ValueError("categorical_crossentropy: target and output must be at least "
                         "rank 1, got scalars")
    return negative(sum(multiply(target, _log_probabilities(output, from_logits, axis)),
                        axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """The cross-entropy of integer class ids ``target`` and each row of
    ``output`` along ``axis``, not averaged (Keras 3's ops form)."""
    _constant_input("sparse_categorical_crossentropy", target=target)
    ids = np.asarray(target)
    if ids.dtype.kind not in "iuf" or (ids.dtype.kind == "f" and ids.size and
                                       not np.all(ids == np.round(ids))):
        raise TypeError(f"sparse_categorical_crossentropy: target must hold integer class "
                        f"ids, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    os_ = shape(output)
    if ids.ndim == len(os_) and ids.ndim and ids.shape[-1] == 1:
        ids = ids[..., 0]
    if len(os_) < 1:
        raise ValueError("sparse_categorical_crossentropy: output must be at least rank 1, "
                         "got a scalar")
    if ids.shape != tuple(os_[:-1]):
        raise ValueError(f"sparse_categorical_crossentropy: target of shape {ids.shape} for "
                         f"output of shape {tuple(os_)}; target needs output's shape without "
                         f"its last axis")
    classes = os_[axis]
    if ids.size and (ids.min() < 0 or ids.max() >= classes):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"sparse_categorical_crossentropy: class id {int(bad)} is outside "
                         f"[0, {classes})")
    return negative(sum(multiply(one_hot(ids, classes, axis=axis),
                                 _log_probabilities(output, from_logits, axis)), axis=axis))


def binary_crossentropy(target, output, from_logits=False):
    """The elementwise binary cross-entropy of ``target`` and ``output``
    (probabilities, or logits with ``from_logits``), not averaged."""
    ts, os_ = shape(target), shape(output)
    if ts != os_:
        raise ValueError(f"binary_crossentropy: target and output need the same shape, got "
                         f"{ts} and {os_}")
    if from_logits:
        output = sigmoid(output)
    output = clip(output, _EPSILON, 1.0 - _EPSILON)
    return negative(add(multiply(target, log(output)),
                        multiply(subtract(1.0, target), log(subtract(1.0, output)))))


# ------------------------------------------------------- loops, slices

def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for i in [lower, upper), from
    ``init_val`` (a Python loop: it records like straight-line code)."""
    val = init_val
    for i in range(_integer(lower, "fori_loop: lower"), _integer(upper, "fori_loop: upper")):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` holds, at
    most ``maximum_iterations`` times; one value or a tuple/list of them,
    returned in the same form."""
    several = isinstance(loop_vars, (tuple, list))
    values = tuple(array(v) for v in (loop_vars if several else (loop_vars,)))
    limit = None if maximum_iterations is None else \
        _integer(maximum_iterations, "while_loop: maximum_iterations", low=0)
    done = 0
    while (limit is None or done < limit) and bool(np.asarray(_plain(cond(*values)))):
        values = body(*values)
        values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
        done += 1
    return values if several else values[0]


def _start_indices(name, start_indices, rank):
    starts = np.asarray(_plain(start_indices))
    if starts.dtype.kind not in "iu" or starts.shape != (rank,):
        raise ValueError(f"{name}: start_indices must be {rank} integers (one per axis), got "
                         f"{start_indices!r}")
    return [int(s) for s in starts]


def slice(inputs, start_indices, shape):
    """The block of ``inputs`` that starts at ``start_indices`` and has
    ``shape``."""
    in_shape = np.shape(_plain(inputs))
    starts = _start_indices("slice", start_indices, len(in_shape))
    sizes = np.asarray(_plain(shape))
    if sizes.dtype.kind not in "iu" or sizes.shape != (len(in_shape),):
        raise ValueError(f"slice: shape must be {len(in_shape)} integers, got {shape!r}")
    for axis, (s, n, d) in enumerate(zip(starts, sizes, in_shape)):
        if s < 0 or n < 0 or s + n > d:
            raise ValueError(f"slice: a block of {int(n)} from {s} does not fit axis {axis} of "
                             f"shape {in_shape}")
    key = tuple(builtins.slice(s, s + int(n)) for s, n in zip(starts, sizes))
    return inputs[key] if _is_traced(inputs) else _array(inputs)[key]


def slice_update(inputs, start_indices, updates):
    """A copy of ``inputs`` with the block at ``start_indices`` replaced by
    ``updates``; on traced arrays the gradient goes to ``updates`` inside the
    block and to ``inputs`` outside it."""
    in_shape, up_shape = shape(inputs), shape(updates)
    starts = _start_indices("slice_update", start_indices, len(in_shape))
    if len(up_shape) != len(in_shape):
        raise ValueError(f"slice_update: updates of shape {up_shape} for inputs of shape "
                         f"{in_shape}; they need the same rank")
    for axis, (s, n, d) in enumerate(zip(starts, up_shape, in_shape)):
        if s < 0 or s + n > d:
            raise ValueError(f"slice_update: updates of shape {up_shape} at {starts} do not "
                             f"fit inputs of shape {in_shape} (axis {axis})")
    key = tuple(builtins.slice(s, s + n) for s, n in zip(starts, up_shape))
    if not (_is_traced(inputs) or _is_traced(updates)):
        out = _array(inputs).copy()
        out[key] = _array(updates)
        return out
    inside = np.zeros(in_shape, bool)
    inside[key] = True
    widths = [(s, d - s - n) for s, n, d in zip(starts, up_shape, in_shape)]
    return where(inside, pad(updates, widths), inputs)


def vectorized_map(function, elements):
    """``function`` applied to each entry of ``elements`` along its first
    axis (``elements`` a tensor or a nested structure of them, each entry
    of that structure), the results stacked: a function returning several
    tensors (a tuple, a dict) gets each of them stacked on its own, as
    TensorFlow's and JAX's vectorized maps give them."""
    from . import tree
    parts = tree.flatten(elements)
    if not parts:
        raise ValueError("vectorized_map: elements is an empty structure")
    if builtins.any(ndim(p) == 0 for p in parts):
        raise ValueError(f"vectorized_map: elements must have a first axis to map over, got "
                         f"shapes {[shape(p) for p in parts]}")
    n = shape(parts[0])[0]
    if builtins.any(shape(p)[0] != n for p in parts):
        raise ValueError(f"vectorized_map: the arrays of elements have different first "
                         f"axes: {[shape(p) for p in parts]}")
    if n == 0:
        raise ValueError(f"vectorized_map: elements have no entries to map over (shapes "
                         f"{[shape(p) for p in parts]})")
    results = [function(tree.pack_sequence_as(elements, [p[i] for p in parts]))
               for i in range(n)]
    flat = [tree.flatten(r) for r in results]
    return tree.pack_sequence_as(results[0], [stack(list(v)) for v in zip(*flat)])


# --------------------------------------------- conv and pooling (Keras 3)

def _spatial_tuple(value, rank, name, low=1):
    """An int or a tuple of ``rank`` ints, as a 2-tuple for the 2-D kernels
    (a 1-D axis becomes the second, under a height of 1)."""
    items = (value,) * rank if np.ndim(value) == 0 else tuple(value)
    if len(items) != rank:
        raise ValueError(f"{name} must be an int or {rank} ints, got {value!r}")
    items = tuple(_integer(v, name, low=low) for v in items)
    return items if rank == 2 else (1,) + items


def _channels_first(data_format):
    """Whether a Keras op's ``data_format`` is channels_first: None is the
    global image_data_format(), as in Keras."""
    if data_format is None:
        from .backend import image_data_format
        data_format = image_data_format()
    return data_format == "channels_first"


def _spatial_layout(name, inputs, data_format):
    """inputs in NHWC (a 1-D input under a height of 1) and the way back to
    the caller's layout."""
    rank = ndim(inputs)
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{name}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    if rank not in (3, 4):
        raise ValueError(f"{name}: expected inputs of rank 3 (batch, steps, channels) or 4 "
                         f"(batch, height, width, channels), got shape {shape(inputs)}; "
                         f"3-D {name} is not supported")
    first = _channels_first(data_format)
    if first:
        inputs = moveaxis(inputs, 1, -1)
    if rank == 3:
        inputs = expand_dims(inputs, 1)

    def back(y):
        if rank == 3:
            y = squeeze(y, 1)
        return moveaxis(y, -1, 1) if first else y
    return inputs, rank - 2, back


def _padding_mode(name, padding):
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"{name}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def _keras_conv(name, inputs, kernel, strides, padding, data_format, dilation_rate,
                depthwise):
    if ndim(inputs) == 5 and not depthwise:
        return _conv3d(name, inputs, kernel, strides, padding, data_format, dilation_rate)
    x, rank, back = _spatial_layout(name, inputs, data_format)
    ks = shape(kernel)
    if len(ks) != rank + 2:
        raise ValueError(f"{name}: a {rank}-D input needs a kernel of rank {rank + 2}, got "
                         f"shape {ks}")
    groups = 1
    if ks[-2] != shape(x)[-1]:
        cin = shape(x)[-1]
        if depthwise or not ks[-2] or cin % ks[-2] or ks[-1] % (cin // ks[-2]):
            raise ValueError(f"{name}: the kernel of shape {ks} expects {ks[-2]} input "
                             f"channels, the inputs have {cin}: the input channels must be "
                             f"a multiple of the kernel's, and the filters of the number of "
                             f"groups")
        # a grouped convolution (Keras 3's, TensorFlow's feature groups):
        # group i's input channels convolved with the i-th block of filters
        groups = cin // ks[-2]
    strides = _spatial_tuple(strides, rank, f"{name}: strides")
    dilation = _spatial_tuple(dilation_rate, rank, f"{name}: dilation_rate")
    if builtins.max(strides) > 1 and builtins.max(dilation) > 1:
        raise ValueError(f"{name}: strides {strides[-rank:]} and dilation_rate "
                         f"{dilation[-rank:]} cannot both be above 1")
    padding = _padding_mode(name, padding)
    if rank == 1:
        kernel = expand_dims(kernel, 0)

    def one(x, kernel):
        if _is_traced(x) or _is_traced(kernel):
            return _traced("conv", x, kernel, strides, padding, dilation, depthwise)
        fn = depthwise_conv2d if depthwise else conv2d
        return fn(x, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    if groups == 1:
        return back(one(x, kernel))
    per_in, per_out = ks[-2], ks[-1] // groups
    return back(concatenate([one(x[..., i * per_in:(i + 1) * per_in],
                                 kernel[..., i * per_out:(i + 1) * per_out])
                             for i in builtins.range(groups)], axis=-1))


def _conv3d(name, inputs, kernel, strides, padding, data_format, dilation_rate):
    """3-D convolution of (batch, depth, height, width, channels) inputs
    with a (kd, kh, kw, in, out) kernel: for each depth tap of the kernel,
    the 2-D convolution of the input planes it reads, summed (the planes
    'same' padding adds in depth are zeros, as TensorFlow pads)."""
    if _channels_first(data_format):
        return moveaxis(_conv3d(name, moveaxis(inputs, 1, -1), kernel, strides, padding,
                                "channels_last", dilation_rate), -1, 1)
    ks = shape(kernel)
    if len(ks) != 5:
        raise ValueError(f"{name}: a 3-D input needs a kernel of rank 5, got shape {ks}")
    sd, sh, sw = _spatial_tuple(strides, 3, f"{name}: strides")[1:]
    dd, dh, dw = _spatial_tuple(dilation_rate, 3, f"{name}: dilation_rate")[1:]
    mode = _padding_mode(name, padding)
    n, depth, h, w, c = shape(inputs)
    kd, span = ks[0], (ks[0] - 1) * dd + 1
    if mode == "same":
        out_d = -(-depth // sd)
        total = builtins.max((out_d - 1) * sd + span - depth, 0)
        x = pad(inputs, [(0, 0), (total // 2, total - total // 2), (0, 0), (0, 0), (0, 0)]) \
            if total else inputs
    else:
        out_d = (depth - span) // sd + 1
        if out_d < 1:
            raise ValueError(f"{name}: a kernel spanning {span} steps in depth does not fit "
                             f"inputs of shape {shape(inputs)} with 'valid' padding")
        x = inputs
    out = None
    for t in builtins.range(kd):
        planes = x[:, t * dd:t * dd + (out_d - 1) * sd + 1:sd]
        y = _keras_conv(name, reshape(planes, (n * out_d, h, w, c)), kernel[t], (sh, sw), mode,
                        "channels_last", (dh, dw), False)
        y = reshape(y, (n, out_d) + tuple(shape(y)[1:]))
        out = y if out is None else add(out, y)
    return out


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """1-D, 2-D or 3-D convolution (cross-correlation) of channels-last
    ``inputs`` (or channels-first, by ``data_format``) with a kernel of
    shape (spatial..., in, out), as Keras 3's ops.conv; a kernel whose
    input channels divide the inputs' convolves groups of them."""
    return _keras_conv("conv", inputs, kernel, strides, padding, data_format, dilation_rate,
                       False)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """1-D or 2-D depthwise convolution: input channel c convolved with
    ``kernel[..., c, m]`` gives output channel ``c * multiplier + m``, as
    Keras 3's ops.depthwise_conv."""
    return _keras_conv("depthwise_conv", inputs, kernel, strides, padding, data_format,
                       dilation_rate, True)


def _keras_pool(name, kind, inputs, pool_size, strides, padding, data_format):
    x, rank, back = _spatial_layout(name, inputs, data_format)
    size = _spatial_tuple(pool_size, rank, f"{name}: pool_size")
    strides = size if strides is None else _spatial_tuple(strides, rank, f"{name}: strides")
    padding = _padding_mode(name, padding)
    if _is_traced(x):
        y = _traced("pool", kind, x, size, strides, padding)
    else:
        y = (max_pool2d if kind == "max" else avg_pool2d)(x, size, strides, padding)
    return back(y)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """1-D or 2-D max pooling, as Keras 3's ops.max_pool (``strides``
    default to ``pool_size``)."""
    return _keras_pool("max_pool", "max", inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """1-D or 2-D average pooling, as Keras 3's ops.average_pool; with
    'same' padding a window's mean counts only the values inside."""
    return _keras_pool("average_pool", "average", inputs, pool_size, strides, padding,
                       data_format)


# ------------------------- adaptive pooling, crossed hashing (Keras 3's)

def _adaptive_pool(name, inputs, output_size, data_format, kind):
    """Pools each spatial axis of ``inputs`` (1 to 3 of them) into
    ``output_size`` windows: window i of an axis of length L covers
    [floor(i * L / n), ceil((i + 1) * L / n)), as Keras 3 and PyTorch
    divide it.  The windows are gathered (the shorter ones padded, the
    padding left out of the mean or max), one axis at a time, so traced
    inputs get the gradient of the gather and the reduction."""
    rank = ndim(inputs) - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"{name}: expected inputs of rank 3, 4 or 5 (batch, 1 to 3 spatial "
                         f"axes, channels), got shape {shape(inputs)}")
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{name}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    items = (output_size,) * rank if np.ndim(output_size) == 0 else tuple(output_size)
    if len(items) != rank:
        raise ValueError(f"{name}: output_size must be an int or {rank} ints for inputs of "
                         f"shape {shape(inputs)}, got {output_size!r}")
    sizes = tuple(_integer(v, f"{name}: output_size", low=1) for v in items)
    first_axis = 2 if _channels_first(data_format) else 1
    x = inputs
    for axis, n in zip(range(first_axis, first_axis + rank), sizes):
        length = shape(x)[axis]
        if length == 0:
            raise ValueError(f"{name}: cannot pool an empty axis {axis} of shape {shape(x)}")
        i = np.arange(n, dtype=np.int64)
        starts = i * length // n
        ends = -(-(i + 1) * length // n)
        width = int((ends - starts).max())
        index = starts[:, None] + np.arange(width, dtype=np.int64)[None, :]
        inside = index < ends[:, None]
        gathered = take(x, np.minimum(index, length - 1).reshape(-1), axis=axis)
        windows = reshape(gathered, shape(x)[:axis] + (n, width) + shape(x)[axis + 1:])
        inside = inside.reshape((n, width) + (1,) * (ndim(x) - axis - 1))
        if kind == "max":
            x = max(where(inside, windows, np.float32(-np.inf)), axis=axis + 1)
        else:
            counts = (ends - starts).astype(np.float32).reshape((n,) + (1,) * (ndim(x) - axis - 1))
            x = divide(sum(where(inside, windows, np.float32(0.0)), axis=axis + 1), counts)
    return x


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average pooling to a fixed ``output_size`` (an int, or one per
    spatial axis) whatever the input's size, as Keras 3's
    ops.adaptive_average_pool, over 1-D, 2-D or 3-D inputs."""
    return _adaptive_pool("adaptive_average_pool", inputs, output_size, data_format,
                          "average")


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max pooling to a fixed ``output_size`` (an int, or one per spatial
    axis), as Keras 3's ops.adaptive_max_pool, over 1-D, 2-D or 3-D
    inputs."""
    return _adaptive_pool("adaptive_max_pool", inputs, output_size, data_format, "max")


_CROSS_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash key
_CROSS_MUL = np.uint64(0xC6A4A7935BD1E995)


def _shift_mix(v):
    return v ^ (v >> np.uint64(47))


def hash_cross(columns, num_buckets, hash_key=None):
    """TensorFlow's ``tf.sparse.cross_hashed`` of dense columns of one value
    per row (what Keras's HashedCrossing computes): for each row the
    values of the columns, integers as they are and strings by FarmHash's
    Fingerprint64 of their UTF-8 bytes, combined in order with
    FingerprintCat64 from ``hash_key`` (None or 0: 0xDECAFCAFFE, as
    TensorFlow's), modulo ``num_buckets``.
    ``columns``: equal-shaped integer or string arrays; an int64 array of
    that shape comes back."""
    name = "hash_cross"
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)) \
            or not 1 <= num_buckets < 2 ** 63:
        raise ValueError(f"{name}: num_buckets must be a positive integer below 2**63, got "
                         f"{num_buckets!r}")
    arrays = [np.asarray(c) for c in columns]
    if len(arrays) < 2:
        raise ValueError(f"{name}: expected at least two columns, got {len(arrays)}")
    if builtins.any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"{name}: the columns must have equal shapes, got "
                         f"{[a.shape for a in arrays]}")
    if hash_key is not None and (isinstance(hash_key, bool) or not isinstance(
            hash_key, (int, np.integer)) or not 0 <= hash_key < 2 ** 64):
        raise ValueError(f"{name}: hash_key must be an unsigned 64-bit integer, got "
                         f"{hash_key!r}")
    acc = np.full(arrays[0].shape, int(hash_key or _CROSS_KEY), np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            if a.dtype.kind in "iu":
                h = a.astype(np.int64).view(np.uint64)
            elif a.dtype.kind in "OUS":
                data, lengths = _packed_strings(a, name)
                offsets = np.zeros(lengths.size + 1, np.int64)
                np.cumsum(lengths, out=offsets[1:])
                h = np.empty(lengths.size, np.int64)
                _k.fingerprint64(data, offsets, h)
                h = h.view(np.uint64).reshape(a.shape)
            else:
                raise TypeError(f"{name}: columns must hold integers or strings, got {a.dtype}")
            acc = acc ^ _CROSS_MUL
            acc ^= _shift_mix(h * _CROSS_MUL) * _CROSS_MUL
            acc *= _CROSS_MUL
            acc = _shift_mix(_shift_mix(acc) * _CROSS_MUL)
    return (acc % np.uint64(num_buckets)).astype(np.int64)


# ------------------------------ Keras 3's other common ops (math, arrays)

tan = _unary_math("tan", np.tan)
arcsin = _unary_math("arcsin", np.arcsin)
arccos = _unary_math("arccos", np.arccos)
arctan = _unary_math("arctan", np.arctan)
sinh = _unary_math("sinh", np.sinh)
cosh = _unary_math("cosh", np.cosh)
arcsinh = _unary_math("arcsinh", np.arcsinh)
arccosh = _unary_math("arccosh", np.arccosh)
arctanh = _unary_math("arctanh", np.arctanh)


def arctan2(x1, x2):
    """The angle of the point (x2, x1), elementwise, in [-pi, pi]."""
    if _is_traced(x1) or _is_traced(x2):
        return _traced("arctan2", x1, x2)
    return np.arctan2(_f32(x1, "arctan2: x1"), _f32(x2, "arctan2: x2"))


def log2(x):
    return divide(log(x), float(np.log(2.0)))


def log10(x):
    return divide(log(x), float(np.log(10.0)))


def exp2(x):
    return power(2.0, x)


def logaddexp(x1, x2):
    """``log(exp(x1) + exp(x2))``, computed stably."""
    high = maximum(x1, x2)
    return add(high, log1p(exp(negative(abs(subtract(x1, x2))))))


def divide_no_nan(x1, x2):
    """``x1 / x2``, 0 where ``x2`` is 0 (with a zero gradient there)."""
    zero = equal(_plain(x2), 0)
    return where(zero, np.float32(0), divide(x1, where(zero, np.float32(1), x2)))


def _dtype_preserving_constant(name, fn):
    def op(x1, x2):
        a = x1 if _is_python_number(_plain(x1)) else _array(_plain(x1))
        b = x2 if _is_python_number(_plain(x2)) else _array(_plain(x2))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(fn(a, b))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (a constant: its gradient is zero wherever it exists)."
    return op


floor_divide = _dtype_preserving_constant("floor_divide", np.floor_divide)
logical_xor = _compare("logical_xor", np.logical_xor)


def trunc(x):
    """x rounded toward zero (integers kept as they are); a constant."""
    v = _array(_plain(x))
    return v if v.dtype.kind in "biu" else np.trunc(v)


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return np.isclose(_plain(x1), _plain(x2), rtol, atol, equal_nan)


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return np.asarray(np.allclose(_plain(x1), _plain(x2), rtol, atol, equal_nan))


def nonzero(x):
    """The indices of the nonzero values, one int32 array per axis."""
    return tuple(i.astype(np.int32) for i in np.nonzero(_plain(x)))


def count_nonzero(x, axis=None):
    return np.asarray(np.count_nonzero(_plain(x), axis=_axis_arg(axis))).astype(np.int32)


def cumprod(x, axis=None, dtype=None):
    """Cumulative products along ``axis`` (over the flattened array when
    None)."""
    if type(x) is not _ndarray and type(x) in _TRACED:
        return _traced("cumprod", x, axis=axis)
    v = _array(x)
    if dtype is None:  # x's own (NumPy would widen small integers)
        dtype = np.int32 if v.dtype == np.bool_ else v.dtype
    return np.cumprod(v, axis=axis, dtype=dtype)


def meshgrid(*x, indexing="xy"):
    """Coordinate arrays from coordinate vectors, as NumPy's meshgrid."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    _constant_input("meshgrid", **{f"x{i}": v for i, v in enumerate(x)})
    return np.meshgrid(*(_array(v) for v in x), indexing=indexing)


def ravel(x):
    return reshape(x, (-1,))


amax = max
amin = min


def roll(x, shift, axis=None):
    """x with its values shifted by ``shift`` along ``axis`` (the flattened
    array when None), those leaving one end coming in at the other."""
    if not _is_traced(x):
        return np.roll(_array(x), shift, axis=axis)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.shape)
    shifts = (shift,) if np.ndim(shift) == 0 else tuple(shift)
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    for s, a in zip(shifts, axes):
        n = x.shape[a]
        x = take(x, (np.arange(n) - int(s)) % n if n else np.arange(0), axis=a)
    return x


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The ``offset`` diagonal of the matrices on axes ``axis1``, ``axis2``
    (moved to the last axis), as NumPy's diagonal."""
    if not _is_traced(x):
        return np.diagonal(_array(x), offset, axis1, axis2)
    rank = x.ndim
    if rank < 2:
        raise ValueError(f"diagonal: expected an array of rank >= 2, got shape {x.shape}")
    a1, a2 = int(axis1) % rank, int(axis2) % rank
    moved = moveaxis(x, (a1, a2), (-2, -1))
    rows, cols = np.nonzero(np.eye(*moved.shape[-2:], k=int(offset), dtype=bool))
    return moved[(Ellipsis, rows, cols)]


def trace(x, offset=0, axis1=0, axis2=1):
    """The sum of the ``offset`` diagonal (small integer types summed as
    int32, as Keras does)."""
    d = diagonal(x, offset, axis1, axis2)
    if _is_traced(d):
        return sum(d, axis=-1)
    if d.dtype in (np.bool_, np.int8, np.int16):
        d = d.astype(np.int32)
    elif d.dtype in (np.uint8, np.uint16):
        d = d.astype(np.uint32)
    return np.sum(d, axis=-1, dtype=d.dtype)


def copy(x):
    """A copy of x (a traced array as it is: its values never change)."""
    return x if _is_traced(x) else np.array(_array(x), copy=True)


def empty(shape, dtype=None):
    """A new array of ``shape`` (zeros, so nothing is left undefined)."""
    return _filled("empty", shape, 0, dtype)


def dtype(x):
    """x's dtype, as a name ('float32', 'int32', ...)."""
    return np.dtype(getattr(x, "dtype", None) or _array(x).dtype).name


def is_tensor(x):
    """Whether x is an array of this backend (a NumPy array, a traced array
    or weight)."""
    return isinstance(x, (np.ndarray, np.generic)) or _is_traced(x)


def append(x1, x2, axis=None):
    """x2's values after x1's, along ``axis`` (both flattened when None)."""
    if axis is None:
        return concatenate([reshape(x1, (-1,)), reshape(x2, (-1,))], axis=0)
    return concatenate([x1, x2], axis=axis)


def select(condlist, choicelist, default=0):
    """Per element, the value of the first choice whose condition holds,
    else ``default``, as NumPy's select."""
    conds, choices = list(condlist), list(choicelist)
    if len(conds) != len(choices):
        raise ValueError(f"select: {len(conds)} conditions for {len(choices)} choices")
    if not builtins.any(_is_traced(c) for c in choices + [default]):
        return np.select([np.asarray(_plain(c), bool) for c in conds],
                         [_array(c) for c in choices], _array(default))
    out = default
    for cond_, choice in reversed(list(zip(conds, choices))):
        out = where(np.asarray(_plain(cond_), bool), choice, out)
    return out


def _scatter_ids(indices, shape, name):
    """The flat row ids of ``indices`` (..., k) into the first k axes of
    ``shape``, checked."""
    idx = np.asarray(_plain(indices))
    if idx.dtype.kind not in "iu" or idx.ndim < 1 or idx.shape[-1] > len(shape):
        raise ValueError(f"{name}: indices must be integers of shape (..., k) with k <= "
                         f"{len(shape)}, got dtype {idx.dtype} and shape {idx.shape}")
    k = idx.shape[-1]
    lead = tuple(shape[:k])
    flat = idx.reshape(-1, k)
    if flat.size and ((flat < 0).any() or (flat >= np.asarray(lead)).any()):
        raise ValueError(f"{name}: an index is out of range for the axes {lead}")
    return np.ravel_multi_index(tuple(flat.T), lead) if k else np.zeros(len(flat), np.int64), \
        k, idx.shape[:-1]


def scatter(indices, values, shape):
    """An array of ``shape``, zero but for ``values`` added at ``indices``
    (repeated indices add up); on traced values each gets its entry's
    gradient."""
    shape = tuple(int(d) for d in shape)
    ids, k, batch = _scatter_ids(indices, shape, "scatter")
    rows = int(np.prod(shape[:k], dtype=np.int64))
    values = reshape(values, (len(ids),) + shape[k:])
    return reshape(segment_sum(values, ids, num_segments=rows), shape)


def scatter_update(inputs, indices, updates, reduction=None):
    """A copy of ``inputs`` with ``updates`` written at ``indices`` (or
    combined with ``reduction``: 'add', 'max', 'min', 'mul').  Traced
    arrays take reduction None (distinct indices) or 'add'."""
    if reduction not in (None, "add", "max", "min", "mul"):
        raise ValueError(f"scatter_update: reduction must be None, 'add', 'max', 'min' or "
                         f"'mul', got {reduction!r}")
    in_shape = tuple(shape(inputs))
    ids, k, _ = _scatter_ids(indices, in_shape, "scatter_update")
    if not (_is_traced(inputs) or _is_traced(updates)):
        out = _array(inputs).copy()
        flat = out.reshape((-1,) + in_shape[k:])
        ups = _array(updates).reshape((len(ids),) + in_shape[k:])
        if reduction is None:
            flat[ids] = ups
        else:
            {"add": np.add, "max": np.maximum, "min": np.minimum,
             "mul": np.multiply}[reduction].at(flat, ids, ups)
        return out
    if reduction not in (None, "add"):
        raise TypeError(f"scatter_update: reduction={reduction!r} is not supported on traced "
                        f"arrays; use None or 'add'")
    added = scatter(np.asarray(_plain(indices)), updates, in_shape)
    if reduction == "add":
        return add(inputs, added)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("scatter_update: repeated indices on traced arrays (which write "
                         "wins has no gradient rule); give distinct indices")
    written = np.zeros(int(np.prod(in_shape[:k], dtype=np.int64)), bool)
    written[ids] = True
    mask = written.reshape(in_shape[:k] + (1,) * (len(in_shape) - k))
    return where(mask, added, inputs)


def in_top_k(targets, predictions, k):
    """Whether each row's target class is among its ``k`` largest
    predictions (ties counted in, as Keras's)."""
    preds = np.asarray(_plain(predictions))
    t = np.asarray(_plain(targets)).astype(np.int64)
    k = _integer(k, "in_top_k: k", low=1)
    if preds.ndim != 2 or t.shape != preds.shape[:1]:
        raise ValueError(f"in_top_k: expected predictions (batch, classes) and targets "
                         f"(batch,), got {preds.shape} and {t.shape}")
    kth = -np.sort(-preds, axis=-1)[:, builtins.min(k, preds.shape[1]) - 1]
    return np.take_along_axis(preds, t[:, None], axis=-1)[:, 0] >= kth


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    """The rows of ``data`` reduced by maximum per segment (-inf for empty
    segments; negative ids dropped), as Keras's.  The gradient goes to the
    rows that reach their segment's maximum, shared equally among ties, as
    TensorFlow's."""
    values = _array(_plain(data))
    ids = np.asarray(_plain(segment_ids))
    if ids.dtype.kind not in "iu" or ids.shape != values.shape[:1]:
        raise ValueError(f"segment_max: segment_ids must be integers, one per row of data, "
                         f"got dtype {ids.dtype} and shape {ids.shape} for data of shape "
                         f"{values.shape}")
    n = (int(ids.max()) + 1 if ids.size else 0) if num_segments is None else \
        _integer(num_segments, "segment_max: num_segments", low=0)
    out = np.full((n,) + values.shape[1:], -np.inf, values.dtype)
    keep = (ids >= 0) & (ids < n)
    np.maximum.at(out, ids[keep], values[keep])
    if not _is_traced(data):
        return out
    # the mean of the rows reaching the maximum: its gradient is theirs
    kept = np.where(keep, ids, -1)
    hit = (keep.reshape((-1,) + (1,) * (values.ndim - 1)) &
           (values == out[np.where(keep, ids, 0)])).astype(np.float32)
    ties = segment_sum(hit, kept, num_segments=n)
    total = segment_sum(multiply(data, hit), kept, num_segments=n)
    return where(ties > 0, divide(total, np.maximum(ties, np.float32(1))), np.float32(-np.inf))


# --------------------------------------------- activations and nn (Keras)

def selu(x):
    return multiply(elu(x, alpha=SELU_ALPHA), SELU_SCALE)


def log_sigmoid(x):
    return negative(softplus(negative(x)))


hard_silu = hard_swish


def hard_tanh(x):
    return clip(x, -1.0, 1.0)


def celu(x, alpha=1.0):
    """``max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)``."""
    alpha = _number(alpha, "celu: alpha", low=0, low_open=True)
    return add(relu(x), minimum(multiply(expm1(divide(x, alpha)), alpha), 0.0))


def glu(x, axis=-1):
    """The first half of x along ``axis`` times the sigmoid of the second."""
    n = shape(x)[axis]
    if n % 2:
        raise ValueError(f"glu: axis {axis} of shape {shape(x)} must have an even size")
    a, b = split(x, 2, axis=axis)
    return multiply(a, sigmoid(b))


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """Rows of class ids as multi-hot vectors of ``num_classes``."""
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if kwargs:
        raise TypeError(f"multi_hot: unexpected arguments {sorted(kwargs)}")
    if sparse:
        raise ValueError("multi_hot: sparse=True is not supported")
    ids = np.asarray(_plain(inputs)).astype(np.int64)
    n = _integer(num_classes, "multi_hot: num_classes", low=1)
    hot = one_hot(ids, n, axis=axis, dtype=dtype)
    return np.max(hot, axis=1 if ids.ndim > 1 else 0)


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``, the
    statistics given per entry of ``axis``."""
    rank = ndim(x)
    axis = _integer(axis, "batch_normalization: axis", low=-rank, high=rank - 1) % rank
    line = tuple(shape(x)[axis] if i == axis else 1 for i in range(rank))

    def along(v):
        return v if v is None or ndim(v) != 1 else reshape(v, line)
    inv = rsqrt(add(along(variance), float(epsilon)))
    if scale is not None:
        inv = multiply(inv, along(scale))
    out = multiply(subtract(x, along(mean)), inv)
    return out if offset is None else add(out, along(offset))


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    """A depthwise convolution followed by a 1x1 (pointwise) one, as Keras
    3's ops.separable_conv."""
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, 1)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None,
                          is_causal=False, flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention of (batch, steps, heads, depth) query,
    key and value, as Keras 3's ops.dot_product_attention."""
    if flash_attention:
        raise ValueError("dot_product_attention: flash_attention is not supported")
    if attn_logits_soft_cap is not None:
        raise ValueError("dot_product_attention: attn_logits_soft_cap is not supported")
    if ndim(query) != 4 or ndim(key) != 4 or ndim(value) != 4:
        raise ValueError(f"dot_product_attention: query, key and value must be of rank 4 "
                         f"(batch, steps, heads, depth), got {shape(query)}, {shape(key)} and "
                         f"{shape(value)}")
    depth = shape(key)[-1]
    scale = 1.0 / float(np.sqrt(depth)) if scale is None else float(scale)
    logits = multiply(einsum("BTNH,BSNH->BNTS", query, key), scale)
    if bias is not None:
        logits = add(logits, bias)
    keep = None
    if mask is not None:
        keep = np.broadcast_to(np.asarray(_plain(mask), bool), shape(logits))
    if is_causal:
        t, s = shape(logits)[2:]
        causal = np.tril(np.ones((t, s), bool))
        keep = causal if keep is None else keep & causal
    if keep is not None:
        logits = where(keep, logits, np.float32(-0.7 * 3.38953e38))
    return einsum("BNTS,BSNH->BTNH", softmax(logits, axis=-1), value)


# ------------------------------------------------------------------- CTC
#
# Keras 3's ctc_loss is the recursion of optax's ctc_loss_with_forward_probs:
# forward log-probabilities of being on a blank ("phi", one per label
# position and one before the first) or on a label ("emit"), where a
# forbidden transition is not left out but costs _CTC_LOG_EPSILON.  It is
# computed here the same way (in float64), so impossible alignments (labels
# longer than the sequence) give Keras's large finite losses, and its
# gradient is that recursion's reverse pass.

_CTC_LOG_EPSILON = -1e5


def _ctc_arguments(name, target, output, target_length, output_length, mask_index):
    if type(output) is _Device:
        _mixed(f"{name}: output")
    out = np.asarray(_plain(output))
    if out.ndim != 3:
        raise ValueError(f"{name}: output must be of shape (batch, steps, classes), got shape "
                         f"{out.shape}")
    batch, steps, classes = out.shape
    labels = np.asarray(_plain(target))
    if labels.ndim != 2 or labels.shape[0] != batch:
        raise ValueError(f"{name}: target must be of shape ({batch}, max_label_length) for an "
                         f"output of shape {out.shape}, got shape {labels.shape}")
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError(f"{name}: target holds non-integer labels")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{name}: target labels must be in [0, {classes}) for {classes} "
                         f"classes, got values from {labels.min()} to {labels.max()}")
    mask_index = _integer(mask_index, f"{name}: mask_index", 0, classes - 1)

    def lengths(value, what, longest):
        v = np.asarray(_plain(value))
        if v.shape == (batch, 1):
            v = v.reshape(batch)
        if v.shape != (batch,) or v.dtype.kind not in "biuf":
            raise ValueError(f"{name}: {what} must hold one length per sample, shape "
                             f"({batch},), got {v.dtype} of shape {v.shape}")
        v = v.astype(np.int64)
        if v.size and (v.min() < 0 or v.max() > longest):
            raise ValueError(f"{name}: {what} must be in [0, {longest}], got values from "
                             f"{v.min()} to {v.max()}")
        return v
    return (labels, out, lengths(target_length, "target_length", labels.shape[1]),
            lengths(output_length, "output_length", steps), mask_index)


def _log_add(a, b):
    """log(exp(a) + exp(b)) and the share of the first term, exp(a - y)."""
    y = np.logaddexp(a, b)
    return y, np.exp(a - y)


def _ctc_forward(logprobs, labels, target_length, output_length, mask_index):
    """The losses, and what the reverse pass needs."""
    batch, steps, _ = logprobs.shape
    n = labels.shape[1]
    eps = _CTC_LOG_EPSILON
    repeat = np.zeros((batch, n))
    repeat[:, :-1] = labels[:, :-1] == labels[:, 1:]
    emit_logp = np.take_along_axis(logprobs, labels[:, None, :], axis=2)     # (B, T, N)
    phi_logp = logprobs[:, :, mask_index:mask_index + 1]                      # (B, T, 1)
    pad = (np.arange(steps)[None, :] >= output_length[:, None]).astype(np.float64)[..., None]
    phi = np.full((batch, n + 1), eps)
    phi[:, 0] = 0.0
    emit = np.full((batch, n), eps)
    phis, emits = [phi], [emit]
    for t in range(steps):
        le, lp, p = emit_logp[:, t], phi_logp[:, t], pad[:, t]
        before = np.concatenate([phi[:, :1], np.logaddexp(phi[:, 1:], emit + eps * repeat)], 1)
        new_emit = np.logaddexp(before[:, :-1] + le, emit + le)
        stay = before + lp
        new_phi = np.concatenate([stay[:, :1], np.logaddexp(
            stay[:, 1:], emit + lp + eps * (1.0 - repeat))], 1)
        emit = p * emit + (1.0 - p) * new_emit
        phi = p * phi + (1.0 - p) * new_phi
        phis.append(phi)
        emits.append(emit)
    final = np.concatenate([phi[:, :1], np.logaddexp(phi[:, 1:], emit)], 1)
    losses = -final[np.arange(batch), target_length]
    return losses, (phis, emits, emit_logp, phi_logp, pad, repeat)


def _ctc_reverse(g, logprobs, labels, target_length, mask_index, saved):
    """The gradient of sum(g * losses) w.r.t. the logits."""
    phis, emits, emit_logp, phi_logp, pad, repeat = saved
    batch, steps, _ = logprobs.shape
    eps = _CTC_LOG_EPSILON
    phi, emit = phis[-1], emits[-1]
    _, share = _log_add(phi[:, 1:], emit)
    g_final = np.zeros((batch, phi.shape[1]))
    g_final[np.arange(batch), target_length] = -g
    g_phi = np.concatenate([g_final[:, :1], g_final[:, 1:] * share], 1)
    g_emit = g_final[:, 1:] * (1.0 - share)
    g_emit_logp = np.zeros(emit_logp.shape)
    g_phi_logp = np.zeros(phi_logp.shape)
    for t in range(steps - 1, -1, -1):
        phi, emit = phis[t], emits[t]
        le, lp, p = emit_logp[:, t], phi_logp[:, t], pad[:, t]
        # the forward step again, keeping each log-sum's shares
        tail, share_before = _log_add(phi[:, 1:], emit + eps * repeat)
        before = np.concatenate([phi[:, :1], tail], 1)
        _, share_emit = _log_add(before[:, :-1] + le, emit + le)
        stay = before + lp
        _, share_stay = _log_add(stay[:, 1:], emit + lp + eps * (1.0 - repeat))
        # through the blend with the padded steps' unchanged state
        g_new_phi, g_new_emit = (1.0 - p) * g_phi, (1.0 - p) * g_emit
        g_phi, g_emit = p * g_phi, p * g_emit
        # new_phi = [stay_0, logaddexp(stay_1:, emit + lp + ...)]
        g_stay = np.concatenate([g_new_phi[:, :1], g_new_phi[:, 1:] * share_stay], 1)
        g_other = g_new_phi[:, 1:] * (1.0 - share_stay)
        g_emit += g_other
        g_phi_logp[:, t] = g_other.sum(axis=1, keepdims=True) + g_stay.sum(axis=1,
                                                                            keepdims=True)
        # new_emit = logaddexp(before_:-1 + le, emit + le)
        g_before = g_stay.copy()
        g_before[:, :-1] += g_new_emit * share_emit
        g_emit += g_new_emit * (1.0 - share_emit)
        g_emit_logp[:, t] = g_new_emit
        # before = [phi_0, logaddexp(phi_1:, emit + ...)]
        g_phi[:, :1] += g_before[:, :1]
        g_phi[:, 1:] += g_before[:, 1:] * share_before
        g_emit += g_before[:, 1:] * (1.0 - share_before)
    g_logprobs = np.zeros(logprobs.shape)
    rows = np.arange(batch)[:, None, None]
    times = np.arange(steps)[None, :, None]
    np.add.at(g_logprobs, (rows, times, labels[:, None, :]), g_emit_logp)
    g_logprobs[:, :, mask_index] += g_phi_logp[:, :, 0]
    # through log_softmax
    return g_logprobs - np.exp(logprobs) * g_logprobs.sum(axis=-1, keepdims=True)


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Connectionist temporal classification loss per sample, as Keras 3's
    ``ops.ctc_loss``: ``output`` holds logits (batch, steps, classes),
    ``target`` integer labels (batch, max_label_length) of which the first
    ``target_length`` count, ``output_length`` the steps of each sample
    that count, ``mask_index`` the blank class.  Differentiable w.r.t.
    ``output``."""
    labels, out, target_length, output_length, mask_index = _ctc_arguments(
        "ctc_loss", target, output, target_length, output_length, mask_index)
    logits = out.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logprobs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    losses, saved = _ctc_forward(logprobs, labels, target_length, output_length, mask_index)
    losses = losses.astype(np.float32)
    if type(output) is np.ndarray or type(output) not in _TRACED:
        return losses
    from . import autodiff
    traced = autodiff.resolve(output)
    if type(traced) is not autodiff.Traced:
        return losses

    def vjp(g):
        return (_ctc_reverse(np.asarray(g, np.float64), logprobs, labels, target_length,
                             mask_index, saved).astype(np.float32),)
    return traced.tape.record(losses, (traced,), vjp)


def _ctc_greedy_decode(inputs, lengths, merge_repeated, mask_index):
    batch, steps, classes = inputs.shape
    if mask_index is None:
        mask_index = classes - 1
    best = np.argmax(inputs, axis=-1).astype(np.int32)
    scores = np.max(inputs, axis=-1)
    beyond = np.arange(steps)[None, :] >= lengths[:, None]
    best = np.where(beyond, mask_index, best)
    scores = np.where(beyond, np.float32(0), scores)
    if merge_repeated:
        again = np.zeros(best.shape, bool)
        again[:, 1:] = best[:, 1:] == best[:, :-1]
        best = np.where(again, mask_index, best)
    blank = best == mask_index
    # the labels kept first, in order, then -1 for the blanks
    order = np.argsort(np.where(blank, steps, np.arange(steps)[None, :]), axis=-1,
                       kind="stable")
    decoded = np.take_along_axis(np.where(blank, -1, best), order, axis=-1)
    return decoded[None], -np.sum(scores, axis=1, dtype=np.float32)[:, None]


def _merge_log_scores(groups, scores):
    """The log of the summed probabilities of the scores of each group."""
    top = np.max(scores)
    summed = np.zeros_like(scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.add.at(summed, groups, np.exp(scores - top))
        return np.log(summed) + top


def _ctc_beam_search_one(logprobs, beyond, beam_width, top_paths, blank):
    """Beam search over one sample's (steps, classes) log-probabilities,
    the classes reversed (Keras breaks ties that way): Keras 3's NumPy
    backend's prefix search, the same beams in the same order."""
    steps, classes = logprobs.shape
    width = 2 * beam_width
    paths = np.full((width, steps), -1, np.int32)
    first = builtins.min(classes, beam_width)
    best = np.argsort(logprobs[0], axis=0)[-first:]
    paths[:first, 0] = np.where(best == blank, -1, best)
    scores = np.full(width, -np.inf, logprobs.dtype)
    scores[:first] = logprobs[0][best]
    masked = paths[:, 0] == -1
    rows = np.arange(width * classes)
    step_classes = np.arange(classes)
    step_classes[blank] = -1

    def unique_paths(paths):
        paths, groups = np.unique(paths, return_inverse=True, axis=0)
        keep = width * classes
        if len(paths) < keep:
            paths = np.pad(paths, [[0, keep - len(paths)], [0, 0]], constant_values=-1)
        return paths[:keep], groups.reshape(-1)

    for t in range(1, steps):
        if beyond[t]:
            continue
        paths = np.repeat(paths, classes, axis=0)
        scores = np.repeat(scores, classes) + np.tile(logprobs[t], width)
        was_masked = np.repeat(masked, classes)
        tail_at = np.argmax(paths == -1, axis=1)
        tails = np.where(tail_at == 0, -1, paths[rows, tail_at - 1])
        extension = np.tile(step_classes, width)
        masked = extension == -1
        extension = np.where(~was_masked & (tails == extension), -1, extension)
        paths[rows, tail_at] = extension
        paths, groups = unique_paths(paths)
        emit_scores = _merge_log_scores(groups, np.where(masked, -np.inf, scores))
        blank_scores = _merge_log_scores(groups, np.where(masked, scores, -np.inf))
        total = np.logaddexp(emit_scores, blank_scores)
        top = np.argsort(total, kind="stable")[-beam_width:]
        paths = np.tile(paths[top], (2, 1))
        scores = np.concatenate([emit_scores[top], blank_scores[top]])
        masked = np.concatenate([np.zeros(beam_width, bool), np.ones(beam_width, bool)])
    paths, groups = unique_paths(paths)
    scores = _merge_log_scores(groups, scores)
    top = np.argsort(scores)[-top_paths:][::-1]
    return paths[top], scores[top]


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """Decodes (batch, steps, classes) CTC outputs as Keras 3's
    ``ops.ctc_decode``: ``(paths, scores)``, paths of shape (top_paths,
    batch, steps) holding the labels then -1.  ``'greedy'`` takes the best
    class per step (scores: minus the sum of the best values);
    ``'beam_search'`` keeps ``beam_width`` prefixes (scores: their log
    probabilities, of the log-softmax of ``inputs``)."""
    if type(inputs) is _Device:
        _mixed("ctc_decode: inputs")
    x = np.asarray(_plain(inputs))
    if x.ndim != 3 or x.dtype.kind not in "biuf":
        raise ValueError(f"ctc_decode: inputs must be numbers of shape (batch, steps, classes), "
                         f"got {x.dtype} of shape {x.shape}")
    x = x.astype(np.float32)
    batch, steps, classes = x.shape
    lengths = np.asarray(_plain(sequence_lengths))
    if lengths.shape != (batch,) or lengths.dtype.kind not in "biuf":
        raise ValueError(f"ctc_decode: sequence_lengths must hold one length per sample, shape "
                         f"({batch},), got shape {lengths.shape}")
    lengths = lengths.astype(np.int64)
    if mask_index is not None:
        mask_index = _integer(mask_index, "ctc_decode: mask_index", 0, classes - 1)
    if strategy == "greedy":
        return _ctc_greedy_decode(x, lengths, bool(merge_repeated), mask_index)
    if strategy != "beam_search":
        raise ValueError(f"ctc_decode: strategy must be 'greedy' or 'beam_search', got "
                         f"{strategy!r}")
    beam_width = _integer(beam_width, "ctc_decode: beam_width", 1)
    top_paths = _integer(top_paths, "ctc_decode: top_paths", 1, beam_width)
    if steps == 0:
        raise ValueError("ctc_decode: beam search needs at least one step")
    shifted = x - x.max(axis=-1, keepdims=True)
    logprobs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    blank = classes - 1 - (classes - 1 if mask_index is None else mask_index)
    beyond = np.arange(steps)[None, :] >= lengths[:, None]
    found = [_ctc_beam_search_one(logprobs[b, :, ::-1], beyond[b], beam_width, top_paths,
                                  blank) for b in range(batch)]
    paths = np.stack([p for p, _ in found])
    paths = np.where(paths == -1, -1, classes - 1 - paths).astype(np.int32)
    return paths.transpose(1, 0, 2), np.stack([s for _, s in found]).astype(np.float32)


# -------------------------------------------------- control flow (Keras)

def map(f, xs):
    """``f`` applied to each entry of ``xs`` along its first axis, the
    results stacked (several, when ``f`` returns a tuple or list)."""
    results = [f(x) for x in (unstack(xs) if ndim(xs) else [])]
    if results and isinstance(results[0], (tuple, list)):
        return type(results[0])(stack(list(r)) for r in zip(*results))
    return stack(results)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y = f(carry, x)`` over the entries of ``xs`` (or ``length``
    steps with x None), from ``init``; returns the last carry and the ys
    stacked, as Keras 3's ops.scan."""
    if xs is None:
        if length is None:
            raise ValueError("scan: give xs or length")
        steps = [None] * _integer(length, "scan: length", low=0)
    else:
        steps = unstack(xs)
        if length is not None and _integer(length, "scan: length", low=0) != len(steps):
            raise ValueError(f"scan: length={length} but xs has {len(steps)} entries")
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    carry, ys = init, [None] * len(steps)
    for i in order:
        carry, ys[i] = f(carry, steps[i])
    if not ys or ys[0] is None:
        return carry, None
    return carry, stack(ys)


def switch(index, branches, *operands):
    """``branches[index](*operands)``, the index clipped to the branches."""
    if not branches:
        raise ValueError("switch: branches is empty")
    i = int(np.clip(np.asarray(_plain(index)), 0, len(branches) - 1))
    return branches[i](*operands)


# ------------------------------------- Keras 3's less common ops (batch)

def hypot(x1, x2):
    return sqrt(add(square(x1), square(x2)))


def cbrt(x):
    """The real cube root, elementwise."""
    if not _is_traced(x):
        return np.cbrt(_f32(x, "cbrt: x"))
    return multiply(sign(x), power(abs(x), 1.0 / 3.0))


def deg2rad(x):
    return multiply(x, float(np.pi / 180))


def rad2deg(x):
    return multiply(x, float(180 / np.pi))


def logaddexp2(x1, x2):
    """``log2(2**x1 + 2**x2)``, computed stably."""
    ln2 = float(np.log(2.0))
    return divide(logaddexp(multiply(x1, ln2), multiply(x2, ln2)), ln2)


def fmod(x1, x2):
    """The remainder of ``x1 / x2`` with the sign of ``x1``, as C's fmod."""
    if not (_is_traced(x1) or _is_traced(x2)):
        a = x1 if _is_python_number(x1) else _array(x1)
        b = x2 if _is_python_number(x2) else _array(x2)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.fmod(a, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = np.trunc(np.asarray(_plain(x1), np.float32) / np.asarray(_plain(x2),
                                                                            np.float32))
    return subtract(x1, multiply(quotient, x2))


def inner(x1, x2):
    """The sum of products over the last axes (of scalars: the product)."""
    if ndim(x1) == 0 or ndim(x2) == 0:
        return multiply(x1, x2)
    return tensordot(x1, x2, axes=([-1], [-1]))


def vdot(x1, x2):
    """The dot product of the two arrays flattened."""
    return sum(multiply(reshape(x1, (-1,)), reshape(x2, (-1,))))


def flipud(x):
    return flip(x, 0)


def fliplr(x):
    return flip(x, 1)


def rot90(array, k=1, axes=(0, 1)):
    """The array rotated by ``k`` quarter turns in the plane of ``axes``."""
    if not _is_traced(array):
        return np.rot90(_array(array), k, axes)
    k = _integer(k, "rot90: k") % 4
    a, b = (int(v) % array.ndim for v in axes)
    for _ in range(k):
        array = swapaxes(flip(array, b), a, b)
    return array


def diff(a, n=1, axis=-1):
    """The ``n``-th differences along ``axis``."""
    n = _integer(n, "diff: n", low=0)
    for _ in range(n):
        size = shape(a)[axis]
        a = subtract(take(a, np.arange(1, size), axis=axis),
                     take(a, np.arange(0, builtins.max(size - 1, 0)), axis=axis))
    return a


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


def tri(N, M=None, k=0, dtype=None):
    """Ones at and below the k-th diagonal of an N x M matrix."""
    return np.tri(_integer(N, "tri: N", low=0), None if M is None else
                  _integer(M, "tri: M", low=0), _integer(k, "tri: k"),
                  dtype=dtype or np.float32)


def diagflat(x, k=0):
    return diag(reshape(x, (-1,)), k)


def array_split(x, indices_or_sections, axis=0):
    """Pieces of x along ``axis``: n nearly equal ones (the first longer),
    or cut at indices."""
    if not _is_traced(x):
        return np.array_split(_array(x), indices_or_sections, axis=axis)
    size = x.shape[axis]
    if np.ndim(indices_or_sections) == 0:
        n = _integer(indices_or_sections, "array_split: indices_or_sections", low=1)
        base, extra = divmod(size, n)
        cuts = np.cumsum([base + 1] * extra + [base] * (n - extra))[:-1].tolist()
    else:
        cuts = [int(i) for i in indices_or_sections]
    return split(x, cuts, axis=axis)


def hsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=1 if ndim(x) > 1 else 0)


def vsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=2)


def column_stack(xs):
    """1-D arrays as columns (2-D ones as they are), joined along axis 1."""
    return concatenate([reshape(v, (-1, 1)) if ndim(v) == 1 else v for v in xs], axis=1)


def dstack(xs):
    """The arrays, made at least 3-D, joined along axis 2."""
    def at_least_3d(v):
        s = tuple(shape(v))
        return reshape(v, (1,) * (2 - len(s)) + s + (1,) if len(s) < 2 else
                       s + (1,) if len(s) == 2 else s)
    return concatenate([at_least_3d(v) for v in xs], axis=2)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """x with NaN, +inf and -inf replaced (by 0, the largest and the
    smallest float32 unless given); a replaced value has no gradient."""
    if not _is_traced(x):
        return np.nan_to_num(_array(x), nan=nan, posinf=posinf, neginf=neginf)
    v = x.value
    big = float(np.finfo(np.float32).max)
    fill = np.where(np.isnan(v), np.float32(nan), np.where(
        v > 0, np.float32(big if posinf is None else posinf),
        np.float32(-big if neginf is None else neginf))).astype(np.float32)
    return where(np.isfinite(v), x, fill)


def ptp(x, axis=None, keepdims=False):
    """The range (maximum - minimum) along ``axis``."""
    return subtract(max(x, axis=axis, keepdims=keepdims), min(x, axis=axis, keepdims=keepdims))


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th quantiles (q in [0, 1]) along ``axis``, as NumPy's
    quantile; on traced arrays the gradient goes to the values interpolated."""
    qs = np.asarray(_plain(q), np.float64)
    if qs.size and (qs.min() < 0 or qs.max() > 1):
        raise ValueError(f"quantile: q must be in [0, 1], got {q!r}")
    methods = ("linear", "lower", "higher", "midpoint", "nearest")
    if method not in methods:
        raise ValueError(f"quantile: method must be one of {methods}, got {method!r}")
    if not _is_traced(x):
        return np.asarray(np.quantile(_f32(x, "quantile: x"), qs, axis=_axis_arg(axis),
                                      method=method, keepdims=keepdims), np.float32)
    axes = tuple(range(x.ndim)) if axis is None else \
        tuple(sorted(int(a) % x.ndim for a in ((axis,) if np.ndim(axis) == 0 else axis)))
    rest = [a for a in range(x.ndim) if a not in axes]
    flat = reshape(transpose(x, rest + list(axes)), tuple(x.shape[a] for a in rest) + (-1,))
    ordered = sort(flat, axis=-1)
    n = shape(ordered)[-1]
    pos = qs * (n - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.ceil(pos).astype(np.int64)
    frac = (pos - low).astype(np.float32)
    if method == "lower":
        frac = np.zeros_like(frac)
    elif method == "higher":
        low = high
    elif method == "midpoint":
        frac = np.where(high > low, 0.5, 0.0).astype(np.float32)
    elif method == "nearest":
        low = np.where(frac > 0.5, high, low)
        low = np.where(frac == 0.5, 2 * np.round(pos / 2).astype(np.int64), low)
        frac = np.zeros_like(frac)
    a, b = take(ordered, low.ravel(), axis=-1), take(ordered, high.ravel(), axis=-1)
    out = add(a, multiply(subtract(b, a), frac.ravel()))
    out = moveaxis(reshape(out, tuple(shape(out)[:-1]) + qs.shape), tuple(
        range(len(rest), len(rest) + qs.ndim)), tuple(range(qs.ndim))) if qs.ndim else \
        reshape(out, tuple(shape(out)[:-1]))
    if keepdims:
        out = reshape(out, qs.shape + tuple(1 if i in axes else d
                                            for i, d in enumerate(x.shape)))
    return out


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """The ``q``-th percentiles (q in [0, 100]) along ``axis``."""
    return quantile(x, np.asarray(_plain(q), np.float64) / 100.0, axis, method, keepdims)


def median(x, axis=None, keepdims=False):
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


def signbit(x):
    return np.signbit(_array(_plain(x)))


def heaviside(x1, x2):
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0 (a constant)."""
    return np.asarray(np.heaviside(_f32(_plain(x1), "heaviside: x1"),
                                   _f32(_plain(x2), "heaviside: x2")))


def sinc(x):
    """``sin(pi x) / (pi x)``, 1 at 0."""
    if not _is_traced(x):
        return np.sinc(_f32(x, "sinc: x"))
    zero = equal(x.value, 0)
    safe = where(zero, np.float32(1), multiply(x, float(np.pi)))
    return where(zero, np.float32(1), divide(sin(safe), safe))


def isin(x1, x2, assume_unique=False, invert=False):
    return np.isin(_plain(x1), _plain(x2), assume_unique=assume_unique, invert=invert)


def isposinf(x):
    return np.isposinf(_array(_plain(x)))


def isneginf(x):
    return np.isneginf(_array(_plain(x)))


def searchsorted(sorted_sequence, values, side="left"):
    """Where ``values`` would be inserted in the 1-D ``sorted_sequence`` to
    keep it sorted (int32)."""
    seq = np.asarray(_plain(sorted_sequence))
    if seq.ndim != 1:
        raise ValueError(f"searchsorted: sorted_sequence must be 1-D, got shape {seq.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    return np.searchsorted(seq, _plain(values), side=side).astype(np.int32)


def bincount(x, weights=None, minlength=0, sparse=False):
    """How often each non-negative integer occurs in x (weighted sums with
    ``weights``); rows counted separately for a 2-D x, as Keras's."""
    if sparse:
        raise ValueError("bincount: sparse=True is not supported")
    ids = np.asarray(_plain(x))
    if ids.dtype.kind not in "iu" or ids.ndim not in (1, 2) or (ids.size and ids.min() < 0):
        raise ValueError(f"bincount: x must hold non-negative integers, 1-D or 2-D, got "
                         f"dtype {ids.dtype} and shape {ids.shape}")
    w = None if weights is None else np.asarray(_plain(weights))
    length = builtins.max(int(ids.max()) + 1 if ids.size else 0,
                          _integer(minlength, "bincount: minlength", low=0))
    if ids.ndim == 1:
        out = np.bincount(ids, w, length)
    else:
        out = np.stack([np.bincount(r, None if w is None else wr, length)
                        for r, wr in zip(ids, ids if w is None else w)]) if len(ids) else \
            np.zeros((0, length))
    if w is None:
        return out.astype(np.int32)
    return out.astype(np.float32 if w.dtype.kind == "f" else np.int32)


def digitize(x, bins):
    """The index of the bin each value of x falls in (int32)."""
    return np.digitize(_plain(x), np.asarray(_plain(bins))).astype(np.int32)


def sparse_plus(x):
    """0 below -1, x above 1, ``(x + 1)**2 / 4`` between."""
    quad = multiply(square(add(x, 1.0)), 0.25)
    v = np.asarray(_plain(x))
    return where(v <= -1, np.float32(0), where(v < 1, quad, x))


def squareplus(x, b=4):
    return multiply(add(x, sqrt(add(square(x), float(b)))), 0.5)


def soft_shrink(x, threshold=0.5):
    t = _number(threshold, "soft_shrink: threshold")
    v = np.asarray(_plain(x))
    return where(v > t, subtract(x, t), where(v < -t, add(x, t), np.float32(0)))


def hard_shrink(x, threshold=0.5):
    t = _number(threshold, "hard_shrink: threshold")
    return where(np.abs(np.asarray(_plain(x))) > t, x, np.float32(0))


def tanh_shrink(x):
    return subtract(x, tanh(x))


def threshold(x, threshold, default_value):
    """x where x > ``threshold``, else ``default_value``."""
    t = _number(threshold, "threshold: threshold")
    return where(np.asarray(_plain(x)) > t, x, np.float32(default_value))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` with the moments
    over ``axis`` (one or several); ``rms_scaling=True`` divides by the
    root of the variance only, as Keras 3's ops.layer_normalization."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization: unexpected arguments {sorted(kwargs)}")
    epsilon = _EPSILON if epsilon is None else _number(epsilon, "layer_normalization: "
                                                                "epsilon", low=0)
    rank = ndim(x)
    axes = sorted(int(a) % rank for a in ((axis,) if np.ndim(axis) == 0 else axis))
    line = tuple(shape(x)[i] if i in axes else 1 for i in range(rank))

    def along(v):
        return v if v is None or ndim(v) == rank or axes == [rank - 1] else reshape(v, line)
    mean_x, variance = moments(x, axes=axes, keepdims=True)
    inv = rsqrt(add(variance, epsilon))
    if rms_scaling:
        out = multiply(x, inv)
        return out if gamma is None else multiply(out, along(gamma))
    if gamma is not None:
        inv = multiply(inv, along(gamma))
    out = multiply(subtract(x, mean_x), inv)
    return out if beta is None else add(out, along(beta))


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """``x / sqrt(mean(x**2) + epsilon) * scale`` over ``axis``."""
    epsilon = _EPSILON if epsilon is None else _number(epsilon, "rms_normalization: epsilon",
                                                       low=0)
    axis = _axis_arg(axis)
    out = multiply(x, rsqrt(add(mean(square(x), axis=axis, keepdims=True), epsilon)))
    return out if scale is None else multiply(out, scale)


def psnr(x1, x2, max_val):
    """The peak signal-to-noise ratio of x1 against x2, in decibels."""
    if shape(x1) != shape(x2):
        raise ValueError(f"psnr: x1 and x2 need the same shape, got {shape(x1)} and "
                         f"{shape(x2)}")
    error = mean(square(subtract(x1, x2)))
    return subtract(20.0 * float(np.log10(max_val)), multiply(log10(error), 10.0))


def space_to_depth(x, block_size, data_format="channels_last"):
    """Each ``block_size`` x ``block_size`` block of the images moved into
    the channels (channels_first: channel-major, as pixel unshuffle), as
    Keras 3's."""
    b = _integer(block_size, "space_to_depth: block_size", low=1)
    first = _image_layout("space_to_depth", x, data_format)
    n, c, h, w = shape(x) if first else (shape(x)[0], shape(x)[3]) + tuple(shape(x)[1:3])
    if h % b or w % b:
        raise ValueError(f"space_to_depth: height and width {h}, {w} must be multiples of "
                         f"block_size {b}")
    if first:
        y = transpose(reshape(x, (n, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
        return reshape(y, (n, c * b * b, h // b, w // b))
    y = transpose(reshape(x, (n, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
    return reshape(y, (n, h // b, w // b, b * b * c))


def depth_to_space(x, block_size, data_format="channels_last"):
    """The channels spread into ``block_size`` x ``block_size`` blocks of
    the images (the inverse of space_to_depth), as Keras 3's."""
    b = _integer(block_size, "depth_to_space: block_size", low=1)
    first = _image_layout("depth_to_space", x, data_format)
    n, c, h, w = shape(x) if first else (shape(x)[0], shape(x)[3]) + tuple(shape(x)[1:3])
    if c % (b * b):
        raise ValueError(f"depth_to_space: {c} channels are not a multiple of block_size**2 "
                         f"= {b * b}")
    k = c // (b * b)
    if first:
        y = transpose(reshape(x, (n, k, b, b, h, w)), (0, 1, 4, 2, 5, 3))
        return reshape(y, (n, k, h * b, w * b))
    y = transpose(reshape(x, (n, h, w, b, b, k)), (0, 1, 3, 2, 4, 5))
    return reshape(y, (n, h * b, w * b, k))


def _image_layout(name, x, data_format):
    """Whether a rank-4 batch of images is channels_first."""
    if ndim(x) != 4:
        raise ValueError(f"{name}: expected a batch of images of rank 4, got shape {shape(x)}")
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{name}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return _channels_first(data_format)


# ----------------------------------------- transposed conv, linear algebra

def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """1-D or 2-D transposed convolution with a kernel of shape (spatial...,
    out, in), as Keras 3's ops.conv_transpose."""
    name = "conv_transpose"
    x, rank, back = _spatial_layout(name, inputs, data_format)
    ks = shape(kernel)
    if len(ks) != rank + 2:
        raise ValueError(f"{name}: a {rank}-D input needs a kernel of rank {rank + 2}, got "
                         f"shape {ks}")
    if ks[-1] != shape(x)[-1]:
        raise ValueError(f"{name}: the kernel of shape {ks} expects {ks[-1]} input channels, "
                         f"the inputs have {shape(x)[-1]}")
    strides = _spatial_tuple(strides, rank, f"{name}: strides")
    dilation = _spatial_tuple(dilation_rate, rank, f"{name}: dilation_rate")
    if output_padding is not None:
        # (an entry None leaves that axis at its size without output_padding)
        given = (output_padding,) * rank if np.ndim(output_padding) == 0 else \
            tuple(output_padding)
        if len(given) != rank:
            raise ValueError(f"{name}: output_padding must be an int or {rank} ints, got "
                             f"{output_padding!r}")
        output_padding = tuple(None if p is None else
                               _integer(p, f"{name}: output_padding", low=0) for p in given)
        output_padding = (0,) + output_padding if rank == 1 else output_padding
    padding = _padding_mode(name, padding)
    if rank == 1:
        kernel = expand_dims(kernel, 0)
    if _is_traced(x) or _is_traced(kernel):
        y = _traced("conv_transpose", x, kernel, strides, padding, output_padding, dilation)
    else:
        y = conv2d_transpose(x, kernel, strides=strides, padding=padding,
                             output_padding=output_padding, dilation_rate=dilation)
    return back(y)


def _square_matrices(name, a):
    s = shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"{name}: expected square matrices (..., n, n), got shape {s}")


def _linalg_constant(name, *values):
    for v in values:
        if _is_traced(v):
            raise TypeError(f"{name}: traced arrays are not supported (no gradient rule "
                            f"here); compute it on x.numpy() or ops.stop_gradient(x)")


def inv(a):
    """The inverse of square matrices (float32, computed in float64)."""
    _square_matrices("inv", a)
    if _is_traced(a):
        return _traced("inv", a)
    return np.linalg.inv(np.asarray(a, np.float64)).astype(np.float32)


def det(a):
    """The determinant of square matrices."""
    _square_matrices("det", a)
    if _is_traced(a):
        return _traced("det", a)
    return np.asarray(np.linalg.det(np.asarray(a, np.float64)), np.float32)


def slogdet(x):
    """The sign and the log of the absolute value of the determinant."""
    _square_matrices("slogdet", x)
    sign_ = np.linalg.slogdet(np.asarray(_plain(x), np.float64))[0].astype(np.float32)
    if _is_traced(x):
        return sign_, _traced("logabsdet", x)
    return sign_, np.asarray(np.linalg.slogdet(np.asarray(x, np.float64))[1], np.float32)


def logdet(x):
    """``log |det x|`` (the log-determinant of positive definite matrices)."""
    return slogdet(x)[1]


def solve(a, b):
    """``x`` with ``a @ x = b``, for square ``a`` and ``b`` a matrix (or a
    vector) per matrix of ``a``."""
    _square_matrices("solve", a)
    if ndim(b) == ndim(a) - 1:
        return squeeze(solve(a, expand_dims(b, -1)), -1)
    if ndim(b) != ndim(a) or shape(b)[-2] != shape(a)[-1]:
        raise ValueError(f"solve: b of shape {shape(b)} does not fit a of shape {shape(a)}")
    if _is_traced(a) or _is_traced(b):
        return _traced("solve", a, b)
    return np.linalg.solve(np.asarray(a, np.float64), np.asarray(b, np.float64)) \
        .astype(np.float32)


def matrix_power(a, n):
    """``a`` multiplied by itself ``n`` times (the inverse's powers for
    negative n)."""
    _square_matrices("matrix_power", a)
    n = _integer(n, "matrix_power: n")
    if n < 0:
        a, n = inv(a), -n
    result = None
    for _ in range(n):
        result = a if result is None else matmul(result, a)
    if result is None:
        return np.broadcast_to(np.eye(shape(a)[-1], dtype=np.float32), shape(a)).copy()
    return result


def cholesky(a, upper=False):
    _square_matrices("cholesky", a)
    _linalg_constant("cholesky", a)
    return np.linalg.cholesky(np.asarray(a, np.float64), upper=upper).astype(np.float32)


def _float32(result):
    if isinstance(result, tuple):
        return tuple(np.asarray(r).astype(np.float32 if np.asarray(r).dtype.kind == "f" else
                                          np.asarray(r).dtype) for r in result)
    return np.asarray(result, np.float32)


def svd(x, full_matrices=True, compute_uv=True):
    _linalg_constant("svd", x)
    return _float32(tuple(np.linalg.svd(np.asarray(x, np.float64), full_matrices,
                                        compute_uv)) if compute_uv else
                    np.linalg.svd(np.asarray(x, np.float64), full_matrices, compute_uv))


def qr(x, mode="reduced"):
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}")
    _linalg_constant("qr", x)
    return _float32(tuple(np.linalg.qr(np.asarray(x, np.float64), mode=mode)))


def eigh(x):
    _square_matrices("eigh", x)
    _linalg_constant("eigh", x)
    return _float32(tuple(np.linalg.eigh(np.asarray(x, np.float64))))


def pinv(x, rcond=None):
    _linalg_constant("pinv", x)
    kwargs = {} if rcond is None else {"rcond": rcond}
    return np.linalg.pinv(np.asarray(x, np.float64), **kwargs).astype(np.float32)


def lstsq(a, b, rcond=None):
    _linalg_constant("lstsq", a, b)
    return np.linalg.lstsq(np.asarray(a, np.float64), np.asarray(b, np.float64),
                           rcond=rcond)[0].astype(np.float32)


def matrix_rank(x, tol=None):
    _linalg_constant("matrix_rank", x)
    if ndim(x) < 2:
        raise ValueError(f"matrix_rank: expected an array of rank >= 2, got shape {shape(x)}")
    # (in x's own precision, which sets the default tolerance)
    return np.asarray(np.linalg.matrix_rank(_array(x), tol=tol)).astype(np.int32)


def solve_triangular(a, b, lower=False):
    """``x`` with ``a @ x = b`` for triangular ``a`` (its other half
    ignored)."""
    _square_matrices("solve_triangular", a)
    tri_a = (tril if lower else triu)(a)
    return solve(tri_a, b)


# ------------------------------------------------------ symbolic tensors

# Keras 3's keras.ops functions that pynn has: given a symbolic tensor (a
# KerasTensor of a graph being built), each records a
# pynn.layers.TensorOperation instead of computing, as Keras's ops do.
SYMBOLIC_OPS = frozenset("""
abs absolute add all allclose amax amin any append arccos arccosh arcsin arcsinh arctan
arctan2 arctanh argmax argmin argsort array array_split average_pool binary_crossentropy
bincount broadcast_to cast categorical_crossentropy cbrt ceil celu clip concatenate conv
conv_transpose copy cos cosh count_nonzero cumprod cumsum deg2rad depth_to_space
depthwise_conv diag diagflat diagonal digitize divide divide_no_nan dot dsplit dstack eigh
einsum elu empty_like equal erf exp exp2 expand_dims expm1 flip fliplr flipud floor fmod
full_like gelu glu greater greater_equal hard_shrink hard_sigmoid hard_silu hard_swish
hard_tanh heaviside hsplit hstack hypot in_top_k inner isclose isfinite isin isinf isnan
isneginf isposinf leaky_relu less less_equal log log10 log1p log2 log_sigmoid log_softmax
logaddexp logaddexp2 logdet logical_and logical_not logical_or logical_xor logsumexp lstsq
map matmul matrix_rank max max_pool maximum mean median min minimum moments moveaxis
multiply nan_to_num ndim negative nonzero norm normalize not_equal one_hot ones_like outer
pad percentile pinv power prod psnr ptp qr quantile rad2deg ravel reciprocal relu relu6
repeat reshape roll rot90 round rsqrt scan scatter scatter_update searchsorted segment_max
segment_sum select selu separable_conv sigmoid sign signbit silu sin sinc sinh size slice
slice_update slogdet soft_shrink softmax softplus softsign solve solve_triangular sort
space_to_depth sparse_categorical_crossentropy sparse_plus split sqrt square squareplus
squeeze stack std stop_gradient subtract sum svd swapaxes swish take take_along_axis tan
tanh tanh_shrink tensordot threshold tile top_k trace transpose tril triu true_divide trunc
unstack var vdot vsplit vstack where zeros_like
""".split())
# [the KerasTensor class, the recorder, the recorder of an array the size
# of the traced batch (see _filled)], set when pynn.layers loads.
_SYMBOLIC = []
# While a GradientTape that watches arrays records: the function giving the
# arrays the recording tape watches ({id: (array, traced leaf)} or None),
# once per such tape (pynn.tape adds it at the tape's first watch of an
# array and takes it off when the tape's block ends).  Empty otherwise, so
# an op tests one list, not the tape, on every eager call.
_WATCHED = []


def _watched_operands(args, kwargs, watched):
    """``args`` and ``kwargs`` with the arrays a GradientTape watches as
    their traced leaves (``tape.watch(x); tf.square(x)``)."""
    def sub(v):
        if type(v) is _ndarray:
            hit = watched.get(id(v))
            return v if hit is None else hit[1]
        if type(v) in (list, tuple):
            return type(v)(sub(t) for t in v)
        return v
    return tuple(sub(v) for v in args), {k: sub(v) for k, v in kwargs.items()}


def _has_symbolic(args, kwargs, cls):
    for v in args:
        t = type(v)
        if t is _ndarray:  # the usual operand, first (this runs on every call)
            continue
        if t is cls or (t is list or t is tuple) and builtins.any(type(u) is cls for u in v):
            return True
    if kwargs:
        for v in kwargs.values():
            if type(v) is cls:
                return True
    return False


# While a subclassed model's call is traced into a graph, the thread
# tracing it maps the model's own weights (add_weight), by id, to the
# function giving the symbolic tensor that stands for each in the graph
# (so that ops.softmax(self.pi) is a graph operation, not a constant).
_WEIGHT_STAND_INS = {}


def _with_stand_ins(args, kwargs):
    stand_ins = _WEIGHT_STAND_INS.get(threading.get_ident())
    if not stand_ins:
        return args, kwargs

    def one(v):
        if type(v) in (list, tuple):
            return type(v)(one(t) for t in v)
        get = stand_ins.get(id(v))
        return v if get is None else get()
    return tuple(one(v) for v in args), {k: one(v) for k, v in kwargs.items()}


def _plain_list(v, watched):
    """Whether ``v`` (a list or tuple) holds only plain operands (see
    _PLAIN), none of them an array ``watched`` (a watching tape's) holds."""
    for u in v:
        if type(u) not in _PLAIN or watched and id(u) in watched:
            return False
    return True


def _symbolic_entry(fn, name):
    @functools.wraps(fn)
    def entry(*args, **kwargs):
        # NumPy arrays, lists of them (and keywords that are no symbolic
        # tensors) outside a trace, none of them watched by a recording
        # tape: the usual eager call on every op of a custom layer or loop,
        # where none of the checks below can apply
        if not _WEIGHT_STAND_INS:
            watched = _WATCHED[0]() if _WATCHED else None
            for v in args:
                t = type(v)
                if t not in _PLAIN:
                    if not (t is list or t is tuple) or not _plain_list(v, watched):
                        break
                elif watched and id(v) in watched:
                    break
            else:
                if not (kwargs and (watched or _SYMBOLIC and _has_symbolic(
                        (), kwargs, _SYMBOLIC[0]))):
                    out = fn(*args, **kwargs)
                    return out.view(_eager_type) if type(out) is _ndarray else _eager(out)
        if _WEIGHT_STAND_INS:
            args, kwargs = _with_stand_ins(args, kwargs)
        if _SYMBOLIC and _has_symbolic(args, kwargs, _SYMBOLIC[0]):
            return _SYMBOLIC[1](name, args, kwargs)
        if _WATCHED:
            watched = _WATCHED[0]()
            if watched:
                args, kwargs = _watched_operands(args, kwargs, watched)
        # an eager result as an eager tensor (``ops.relu(x).numpy()``, as
        # Keras's tensors); traced results stay as they are.  fit and
        # predict call the functions below these public entries.
        out = fn(*args, **kwargs)
        return out.view(_eager_type) if type(out) is _ndarray else _eager(out)
    return entry


def _eager_entry(fn):
    @functools.wraps(fn)
    def entry(*args, **kwargs):
        out = fn(*args, **kwargs)
        return out.view(_eager_type) if type(out) is _ndarray else _eager(out)
    return entry


for _name in SYMBOLIC_OPS:
    globals()[_name] = _symbolic_entry(globals()[_name], _name)
del _name


def _matmul_entry(entry):
    """matmul's public entry: two arrays (as NumPy-style code and the
    benchmarks call it) go straight to the bridge, everything else through
    the symbolic entry.  The entry's generic checks cost 0.7 us, a tenth
    of a 64x64 product."""
    sgemm = _k.sgemm

    @functools.wraps(entry)
    def matmul(a, b, *args, **kwargs):
        # (anything but two arrays and an optional out array goes on as the
        # caller wrote it: a traced call records only the arguments given)
        if type(a) is _ndarray and type(b) is _ndarray and len(args) <= 1 and not kwargs \
                and not (_WEIGHT_STAND_INS or _WATCHED):
            try:
                if args or a.ndim == 2:
                    return sgemm(a, b, args[0] if args else None, 1.0, 0.0).view(_eager_type)
                if b.ndim == 2 and a.ndim > 2 and a.shape[-1] == b.shape[0]:
                    # a batch of matrices by one (x @ kernel): one GEMM over
                    # all their rows, as the general path does after its checks
                    y = sgemm(a.reshape(-1, b.shape[0]), b, None, 1.0, 0.0)
                    return y.reshape(a.shape[:-1] + y.shape[1:]).view(_eager_type)
            except (TypeError, ValueError, OverflowError):
                pass  # the general path converts or explains
        return entry(a, b, *args, **kwargs)
    return matmul


matmul = _matmul_entry(matmul)


# ------------------------------------------- more of Keras 3's ops names
#
# Written in pynn/_more_ops.py (same conventions: NumPy and traced arrays,
# Keras 3's signatures and result dtypes); here they join the namespace,
# the symbolic entry points and Keras's ops submodules.

from . import _more_ops  # noqa: E402

MORE_OPS = (
    "nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanargmax",
    "nanargmin", "nancumsum", "nancumprod", "nanquantile", "nanpercentile", "nanmedian",
    "unique", "unravel_index", "argpartition", "histogram", "kron", "cross", "correlate",
    "corrcoef", "trapezoid", "vander", "logspace", "geomspace", "get_item", "view", "fabs",
    "fmax", "fmin", "ldexp", "nextafter", "gcd", "lcm", "erfc", "erfinv", "i0", "real",
    "imag", "conj", "conjugate", "angle", "isreal", "polar", "view_as_real", "view_as_complex",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert", "bitwise_not",
    "bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift",
    "saturate_cast", "bartlett", "blackman", "hamming", "hanning", "kaiser", "fft", "fft2",
    "ifft2", "rfft", "irfft", "extract_sequences", "stft", "istft", "sparse_sigmoid",
    "sparsemax", "cdist", "segment_min", "segment_prod", "unfold", "fold",
    "cholesky_inverse", "eig", "lu_factor", "vectorize", "associative_scan",
    "custom_gradient", "rearrange", "jvp",
)
# Those that may take a symbolic tensor in a functional model.
MORE_SYMBOLIC_OPS = frozenset("""
nansum nanprod nanmean nanvar nanstd nanmax nanmin nanargmax nanargmin nancumsum nancumprod
nanquantile nanpercentile nanmedian argpartition kron cross correlate trapezoid vander
fabs fmax fmin ldexp nextafter gcd lcm erfc erfinv i0 real imag conj conjugate
angle isreal bitwise_and bitwise_or bitwise_xor bitwise_invert bitwise_not
bitwise_left_shift bitwise_right_shift left_shift right_shift saturate_cast
extract_sequences sparse_sigmoid sparsemax cdist segment_min segment_prod unfold fold
cholesky_inverse rearrange rfft irfft stft istft
""".split())
for _name in MORE_OPS:
    globals()[_name] = getattr(_more_ops, _name)
    if _name in MORE_SYMBOLIC_OPS:
        globals()[_name] = _symbolic_entry(globals()[_name], _name)
del _name
for _name in ("affine_transform", "crop_images", "pad_images", "extract_patches",
              "gaussian_blur", "rgb_to_grayscale", "rgb_to_hsv", "hsv_to_rgb", "sobel_edges",
              "map_coordinates", "perspective_transform", "ssim", "extract_patches_3d",
              "scale_and_translate", "elastic_transform"):
    setattr(image, _name, getattr(_more_ops, _name))
del _name
NUMPY_STYLE += MORE_OPS
# (the numpy namespace stays out of __all__: a star import must not hide
# the NumPy module)
__all__ += list(MORE_OPS) + ["nn", "linalg"]
# Keras 3's names that take no symbolic tensor: eager results as eager
# tensors too (pynn's own kernel API above them, dense, conv2d, max_pool2d,
# ..., keeps giving plain arrays).
for _name in """zeros ones arange full eye identity linspace mod average floor_divide meshgrid
empty multi_hot batch_normalization dot_product_attention diff tri column_stack
layer_normalization rms_normalization inv det matrix_power cholesky unique histogram corrcoef
logspace geomspace get_item polar view_as_real view_as_complex bartlett blackman hamming
hanning kaiser fft fft2 ifft2 eig lu_factor""".split():
    globals()[_name] = _eager_entry(globals()[_name])
del _name
SYMBOLIC_OPS = SYMBOLIC_OPS | MORE_SYMBOLIC_OPS


class _KerasSubmodule(types.SimpleNamespace):
    """One of Keras 3's ops submodules (``keras.ops.nn``, ``.numpy``,
    ``.linalg``): the pynn.ops functions of its names, looked up when read,
    so ``from pynn.ops import nn`` code written for Keras ports."""

    def __init__(self, name, names):
        super().__init__()
        object.__setattr__(self, "_module", name)
        object.__setattr__(self, "_names", frozenset(names))

    def __getattr__(self, name):
        if name in self._names and name in globals():
            return globals()[name]
        raise AttributeError(f"pynn.ops.{self._module} has no function {name!r}")

    def __dir__(self):
        return sorted(n for n in self._names if n in globals())

    def __repr__(self):
        return f"<pynn.ops.{self._module}: {len(self.__dir__())} functions>"


nn = _KerasSubmodule("nn", """
adaptive_average_pool adaptive_max_pool average_pool batch_normalization
binary_crossentropy categorical_crossentropy celu conv conv_transpose ctc_decode ctc_loss
depthwise_conv dot_product_attention elu fold gelu glu hard_shrink hard_sigmoid hard_silu
hard_swish hard_tanh layer_normalization leaky_relu log_sigmoid log_softmax max_pool
moments multi_hot normalize one_hot polar psnr relu relu6 rms_normalization selu
separable_conv sigmoid silu soft_shrink softmax softplus softsign sparse_categorical_crossentropy
sparse_plus sparse_sigmoid sparsemax squareplus swish tanh_shrink threshold unfold
depth_to_space space_to_depth
""".split())
linalg = _KerasSubmodule("linalg", """
cholesky cholesky_inverse det eig eigh inv lstsq lu_factor matrix_rank norm pinv qr solve
solve_triangular svd jvp
""".split())
numpy = _KerasSubmodule("numpy", """
abs absolute add all allclose amax amin angle any append arange arccos arccosh arcsin
arcsinh arctan arctan2 arctanh argmax argmin argpartition argsort array array_split average
bartlett bincount bitwise_and bitwise_invert bitwise_left_shift bitwise_not bitwise_or
bitwise_right_shift bitwise_xor blackman broadcast_to cbrt ceil clip concatenate conj
conjugate copy corrcoef correlate cos cosh count_nonzero cross cumprod cumsum deg2rad diag
diagflat diagonal diff digitize divide divide_no_nan dot dsplit dstack einsum empty
empty_like equal exp exp2 expand_dims expm1 eye fabs flip fliplr flipud floor floor_divide
fmax fmin fmod full full_like gcd geomspace get_item greater greater_equal hamming hanning
heaviside histogram hsplit hstack hypot i0 identity imag inner isclose isfinite isin isinf
isnan isneginf isposinf isreal kaiser kron lcm ldexp left_shift less less_equal linspace log
log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor
logspace matmul max maximum mean median meshgrid min minimum mod moveaxis multiply
nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian nanmin
nanpercentile nanprod nanquantile nanstd nansum nanvar ndim negative nextafter nonzero
not_equal ones ones_like outer pad percentile power prod ptp quantile rad2deg ravel real
reciprocal repeat reshape right_shift roll rot90 round searchsorted select sign signbit sin
sinc sinh size slogdet sort split sqrt square squeeze stack std subtract sum swapaxes take
take_along_axis tan tanh tensordot tile trace transpose trapezoid tri tril triu true_divide
trunc unique unravel_index vander var vdot vectorize view vsplit vstack where zeros
zeros_like
""".split())
