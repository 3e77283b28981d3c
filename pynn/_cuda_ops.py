"""pynn.ops on device arrays: the same functions, arguments and results as
pynn.ops, computed by the CUDA kernels (pynn._cuda).

pynn.ops sends a call here when its first array argument is a
pynn.cuda.DeviceArray.  Every array argument must then be a device array on
the same GPU (a NumPy array among them is a TypeError: host and device
arrays are not mixed silently), outputs are device arrays, and results that
are numbers (a penalty, a count) are copied back, which waits for the GPU.
Shapes are checked here with pynn.ops's messages; the kernels check sizes
again.
"""
import numpy as np

from . import cuda as _cu
from . import ops
from .cuda import DeviceArray

F32 = np.dtype(np.float32)
I32 = np.dtype(np.int32)
I64 = np.dtype(np.int64)
U8 = np.dtype(np.uint8)


def _rt():
    return _cu.runtime()


def _tf32():
    return bool(_cu.matmul.allow_tf32)


def _dev(a, name, what, device, dtype=F32):
    """``a`` as a device array of ``dtype`` on ``device``, or a TypeError
    that says what was mixed."""
    if type(a) is not DeviceArray:
        raise TypeError(f"{name}: {what} is a {type(a).__name__}, but the other arrays of this "
                        f"call are on the GPU (pynn.cuda.DeviceArray); host and device arrays "
                        f"do not mix: move it with pynn.cuda.to_device() or the others with "
                        f".to_numpy()")
    if a.dtype != dtype:
        raise TypeError(f"{name}: {what} must be a {dtype} device array, got {a.dtype}")
    if a.device != device:
        raise ValueError(f"{name}: {what} is on gpu:{a.device}, the other arrays on gpu:{device}")
    return a


def _opt(a, name, what, device, dtype=F32):
    return None if a is None else _dev(a, name, what, device, dtype)


def _p(a):
    return 0 if a is None else a.ptr


def _out(out, shape, name, device, dtype=F32):
    shape = tuple(shape)
    if out is None:
        return _cu.empty(shape, dtype, device)
    if type(out) is not DeviceArray or out.dtype != dtype or out.shape != shape:
        got = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"{name}: out must be a {dtype} device array of shape {shape}, got "
                         f"{got}" + ("" if type(out) is DeviceArray else " (not on the GPU)"))
    if out.device != device:
        raise ValueError(f"{name}: out is on gpu:{out.device}, the inputs on gpu:{device}")
    return out


def _exact(a, shape, name, what):
    if a.shape != tuple(shape):
        raise ValueError(f"{name}: {what} must have shape {tuple(shape)}, got {a.shape}")


def _rows_cols(shape):
    cols = shape[-1] if shape else 1
    n = 1
    for d in shape:
        n *= d
    return (n // cols if cols else 0), cols


def _scalar(dtype, device, zero=0):
    """A one-element device array set to ``zero`` (a result the kernels add
    into)."""
    a = _cu.empty((1,), dtype, device)
    a[...] = zero
    return a


def _act(name, alpha):
    code = ops._act_code(name)
    return code, (ops.DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha)


# ---------------------------------------------------------------- matmul

def matmul(a, b, out=None, *, alpha=1.0, beta=0.0):
    d = a.device
    a = _dev(a, "matmul", "a", d)
    b = _dev(b, "matmul", "b", d)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"matmul: expected 2-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({a.shape[1]} != {b.shape[0]})")
    if out is None and beta != 0.0:
        raise ValueError("matmul: beta != 0 needs out")
    m, k = a.shape
    n = b.shape[1]
    out = _out(out, (m, n), "matmul", d)
    _rt().sgemm(0, 0, m, n, k, float(alpha), a.ptr, k, b.ptr, n, float(beta), out.ptr, n,
                _tf32(), d)
    return out


def dense(x, kernel, bias=None, activation="linear", alpha=None, out=None):
    d = x.device
    x = _dev(x, "Dense", "input", d)
    kernel = _dev(kernel, "Dense", "kernel", d)
    if x.ndim != 2 or kernel.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"Dense: input of shape {x.shape} does not fit a kernel of "
                         f"shape {kernel.shape}")
    code, alpha = _act(activation, alpha)
    m, k = x.shape
    n = kernel.shape[1]
    bias = _opt(bias, "Dense", "bias", d)
    if bias is not None:
        _exact(bias, (n,), "Dense", "bias")
    out = _out(out, (m, n), "Dense", d)
    _rt().dense_forward(m, n, k, x.ptr, kernel.ptr, _p(bias), code, float(alpha), out.ptr,
                        _tf32(), d)
    return out


def dense_grad(x, kernel, dy, activation="linear", y=None, pre=None, alpha=None,
               kernel_grad=None, bias_grad=None, input_grad=True, work=None):
    d = x.device
    x = _dev(x, "Dense backward", "x", d)
    kernel = _dev(kernel, "Dense backward", "kernel", d)
    dy = _dev(dy, "Dense backward", "dy", d)
    code, alpha = _act(activation, alpha)
    if activation in ops.NEEDS_INPUT and pre is None:
        raise ValueError(f"Dense: the gradient of {activation} needs the pre-activation")
    if x.ndim != 2 or kernel.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"Dense backward: shapes do not fit: x {x.shape}, kernel "
                         f"{kernel.shape}")
    m, k = x.shape
    n = kernel.shape[1]
    _exact(dy, (m, n), "Dense backward", "dy")
    rt = _rt()
    g = dy
    if code != 0:
        y = _dev(y, "Dense backward", "y", d)
        pre = _opt(pre, "Dense backward", "pre-activation", d)
        work = _out(work, (m, n), "Dense backward: work", d)
        rt.activation_backward(code, float(alpha), _p(pre), y.ptr, dy.ptr, work.ptr, m, n, d)
        g = work
    if kernel_grad is not None:
        kernel_grad = _out(kernel_grad, kernel.shape, "Dense: kernel gradient", d)
        rt.sgemm(1, 0, k, n, m, 1.0, x.ptr, k, g.ptr, n, 0.0, kernel_grad.ptr, n, _tf32(), d)
    if bias_grad is not None:
        bias_grad = _out(bias_grad, (n,), "Dense backward: bias gradient", d)
        rt.bias_grad(g.ptr, bias_grad.ptr, m, n, d)
    if input_grad is False or input_grad is None:
        return None
    dx = _out(None if input_grad is True else input_grad, x.shape, "Dense backward: dx", d)
    rt.sgemm(0, 1, m, k, n, 1.0, g.ptr, n, kernel.ptr, n, 0.0, dx.ptr, k, _tf32(), d)
    return dx


# ----------------------------------------------------------- activations

def activation(x, name, bias=None, alpha=None, out=None):
    d = x.device
    x = _dev(x, name, "x", d)
    code, alpha = _act(name, alpha)
    rows, cols = _rows_cols(x.shape)
    if bias is not None:
        bias = _dev(bias, name, "bias", d)
        if bias.shape != (cols,):
            raise ValueError(f"bias: expected shape ({cols},), got {bias.shape}")
    out = _out(out, x.shape, name, d)
    _rt().bias_activation(code, float(alpha), x.ptr, _p(bias), out.ptr, rows, cols, d)
    return out


def activation_grad(name, x, y, dy, alpha=None, out=None):
    d = y.device
    code, alpha = _act(name, alpha)
    y = _dev(y, name, "y", d)
    dy = _dev(dy, name, "dy", d)
    if name in ops.NEEDS_INPUT:
        if x is None:
            raise ValueError(f"{name}: the gradient needs the forward input")
        x = _dev(x, name, "x", d)
        _exact(x, y.shape, name, "x")
    else:
        x = None
    if dy.shape != y.shape:
        raise ValueError(f"{name}: gradient shape {dy.shape} != output shape {y.shape}")
    rows, cols = _rows_cols(y.shape)
    out = _out(out, y.shape, name, d)
    _rt().activation_backward(code, float(alpha), _p(x), y.ptr, dy.ptr, out.ptr, rows, cols, d)
    return out


def bias_grad(dy, out=None):
    d = dy.device
    dy = _dev(dy, "bias_grad", "dy", d)
    rows, cols = _rows_cols(dy.shape)
    out = _out(out, (cols,), "bias_grad", d)
    _rt().bias_grad(dy.ptr, out.ptr, rows, cols, d)
    return out


def softmax(x, axis=-1, out=None):
    if axis not in (-1, x.ndim - 1):
        raise ValueError(f"softmax: on the GPU only the last axis is supported, got axis={axis}")
    return activation(x, "softmax", out=out)


# ----------------------------------------------------------------- losses

def loss(kind, y_true, y_pred, sample_weight=None, scale=None, grad=None, out=None):
    try:
        code = ops.LOSS_KINDS[kind]
    except KeyError:
        raise ValueError(f"Unknown loss {kind!r}; expected one of "
                         f"{sorted(ops.LOSS_KINDS)}") from None
    d = y_pred.device
    y_pred = _dev(y_pred, kind, "y_pred", d)
    y_true = _dev(y_true, kind, "y_true", d)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{kind}: y_true has shape {y_true.shape}, y_pred {y_pred.shape}")
    rows, cols = _rows_cols(y_pred.shape) if y_pred.ndim > 1 else (1, y_pred.size)
    out = _out(out, (rows,), kind, d)
    sample_weight = _opt(sample_weight, kind, "sample_weight", d)
    if sample_weight is not None and sample_weight.size != rows:
        raise ValueError(f"{kind}: sample_weight must hold {rows} values")
    if grad is not None:
        grad = _out(grad, y_pred.shape, f"{kind}: grad", d)
    _rt().loss(code, y_pred.ptr, y_true.ptr, _p(sample_weight),
               float(rows if scale is None else scale), out.ptr, _p(grad), rows, cols, d)
    return out


def sparse_loss(labels, y_pred, from_logits=False, sample_weight=None, scale=None,
                grad=None, out=None):
    name = "sparse_categorical_crossentropy"
    d = y_pred.device
    y_pred = _dev(y_pred, name, "y_pred", d)
    labels = _dev(labels, name, "labels", d, I32)
    classes = y_pred.shape[-1]
    rows = y_pred.size // classes if classes else 0
    if labels.size != rows:
        raise ValueError(f"loss: {labels.size} labels for {rows} predictions")
    out = _out(out, (rows,), name, d)
    sample_weight = _opt(sample_weight, name, "sample_weight", d)
    if sample_weight is not None and sample_weight.size != rows:
        raise ValueError(f"{name}: sample_weight must hold {rows} values")
    if grad is not None:
        grad = _out(grad, y_pred.shape, f"{name}: grad", d)
    bad = _scalar(I64, d)
    _rt().sparse_loss(bool(from_logits), y_pred.ptr, labels.ptr, _p(sample_weight),
                      float(rows if scale is None else scale), out.ptr, _p(grad), rows, classes,
                      bad.ptr, d)
    count = int(bad.to_numpy()[0])
    if count:
        raise ValueError(f"sparse_categorical_crossentropy: {count} label(s) outside "
                         f"[0, {classes}) for an output of {classes} classes")
    return out


def accuracy_count(kind, y_true, y_pred, sample_weight=None, threshold=0.5):
    d = y_pred.device
    y_pred = _dev(y_pred, "accuracy", "y_pred", d)
    rows, cols = _rows_cols(y_pred.shape)
    if kind == "sparse":
        y_true = _dev(y_true, "accuracy", "labels", d, I32)
        if y_true.size != rows:
            raise ValueError(f"accuracy: {y_true.size} labels for {rows} predictions")
    else:
        y_true = _dev(y_true, "accuracy", "y_true", d)
        if y_true.size != y_pred.size:
            raise ValueError("accuracy: y_true and y_pred differ in size")
    sample_weight = _opt(sample_weight, "accuracy", "sample_weight", d)
    total = _scalar(np.float64, d)
    _rt().accuracy(ops.ACCURACY_KINDS[kind], y_pred.ptr, y_true.ptr, _p(sample_weight), rows,
                   cols, float(threshold), total.ptr, d)
    return float(total.to_numpy()[0])


# ------------------------------------------------------------- optimizers

def _update_args(name, w, g, *slots):
    d = w.device
    w = _dev(w, name, "variable", d)
    g = _dev(g, name, "gradient", d)
    if g.size != w.size:
        raise ValueError(f"{name}: variable and gradient differ in size")
    out = []
    for s in slots:
        s = _dev(s, name, "state", d)
        if s.size != w.size:
            raise ValueError(f"{name}: variable and state differ in size")
        out.append(s)
    return d, w, g, out


def sgd_update(w, g, v=None, lr=0.01, momentum=0.0, nesterov=False):
    d, w, g, slots = _update_args("SGD", w, g, *([v] if v is not None else []))
    v = slots[0] if slots else None
    if v is None and momentum != 0.0:
        raise ValueError("SGD: momentum needs its buffer v")
    _rt().sgd_update(w.ptr, g.ptr, _p(v), w.size, lr, momentum, nesterov, d)


def rmsprop_update(w, g, s, lr=0.001, rho=0.9, epsilon=1e-7, momentum=0.0, m=None, mg=None):
    extra = [a for a in (m, mg) if a is not None]
    d, w, g, (s, *extra) = _update_args("RMSprop", w, g, s, *extra)
    m = extra.pop(0) if m is not None else None
    mg = extra.pop(0) if mg is not None else None
    _rt().rmsprop_update(w.ptr, g.ptr, s.ptr, _p(m), _p(mg), w.size, lr, rho, momentum, epsilon,
                         d)


def adam_update(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    d, w, g, (m, v) = _update_args("Adam", w, g, m, v)
    _rt().adam_update(w.ptr, g.ptr, m.ptr, v.ptr, w.size, lr, beta_1, beta_2, epsilon, int(t),
                      d)


def weight_penalty(w, l1=0.0, l2=0.0, grad=None):
    d = w.device
    w = _dev(w, "weight_penalty", "w", d)
    if grad is not None:
        grad = _out(grad, w.shape, "weight_penalty: grad", d)
    total = _scalar(np.float64, d)
    _rt().weight_penalty(w.ptr, _p(grad), w.size, float(l1), float(l2), total.ptr, d)
    return float(total.to_numpy()[0])


# ------------------------------------------------------------ elementwise

def dropout(x, rate, seed, out=None, mask=None, offset=0):
    d = x.device
    x = _dev(x, "Dropout", "x", d)
    out = _out(out, x.shape, "Dropout", d)
    mask = _out(mask, x.shape, "Dropout: mask", d, U8)
    _rt().dropout_forward(x.ptr, out.ptr, mask.ptr, x.size, float(rate),
                          int(seed) & 0xFFFFFFFFFFFFFFFF, int(offset), d)
    return out, mask


def dropout_grad(dy, mask, rate, out=None):
    d = dy.device
    dy = _dev(dy, "Dropout", "dy", d)
    mask = _dev(mask, "Dropout", "mask", d, U8)
    if mask.size != dy.size:
        raise ValueError("Dropout: the mask and dy differ in size")
    out = _out(out, dy.shape, "Dropout", d)
    _rt().dropout_backward(dy.ptr, mask.ptr, out.ptr, dy.size, float(rate), d)
    return out


def gather_rows(src, index, out=None):
    d = src.device
    if type(src) is not DeviceArray or src.ndim < 1:
        raise TypeError("gather: src must be a device array with rows")
    if type(index) is not DeviceArray:
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= src.shape[0]):
            bad = index[(index < 0) | (index >= src.shape[0])][0]
            raise IndexError(f"gather: index {bad} out of range for {src.shape[0]} rows")
        index = _cu.to_device(index, d)
    index = _dev(index, "gather", "index", d, I64)
    count = index.size
    out = _out(out, (count,) + src.shape[1:], "gather", d, src.dtype)
    row_bytes = src.nbytes // src.shape[0] if src.shape[0] else 0
    _rt().gather_rows(src.ptr, index.ptr, out.ptr, count, row_bytes, d)
    return out


def all_finite(x):
    d = x.device
    x = _dev(x, "all_finite", "x", d)
    flag = _scalar(I32, d, 1)
    _rt().check_finite(x.ptr, x.size, flag.ptr, d)
    return bool(flag.to_numpy()[0])


# ----------------------------------------------------------- convolution

def _conv_shape(x, kernel, geo, oh, ow):
    sh, sw, dh, dw, top, left = geo
    n, h, w, cin = x.shape
    kh, kw, _, cout = kernel.shape
    return (n, h, w, cin, kh, kw, cout, sh, sw, dh, dw, top, left, oh, ow)


def _conv_args(x, kernel, name, depthwise, d):
    x = _dev(x, name, "input", d)
    kernel = _dev(kernel, name, "kernel", d)
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
    d = x.device
    x, kernel = _conv_args(x, kernel, name, depthwise, d)
    code, alpha = _act(activation, alpha)
    (oh, ow), geo = ops.conv_geometry(x.shape, kernel.shape[:2], strides, padding,
                                      dilation_rate, name)
    channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    out = _out(out, (x.shape[0], oh, ow, channels), name, d)
    if bias is not None:
        bias = _dev(bias, name, "bias", d)
        if bias.shape != (channels,):
            raise ValueError(f"{name}: bias must have shape ({channels},), got {bias.shape}")
    _rt().conv2d_forward(_conv_shape(x, kernel, geo, oh, ow), x.ptr, kernel.ptr, _p(bias), code,
                         float(alpha), out.ptr, bool(depthwise), d)
    return out


def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
           activation="linear", alpha=None, out=None):
    return _conv(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out,
                 False, "conv2d")


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid",
                     dilation_rate=(1, 1), activation="linear", alpha=None, out=None):
    return _conv(x, kernel, bias, strides, padding, dilation_rate, activation, alpha, out,
                 True, "depthwise_conv2d")


def _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
               input_grad, depthwise, name, activation="linear", y=None, pre=None,
               alpha=None):
    d = x.device
    code, alpha = _act(activation, alpha)
    x, kernel = _conv_args(x, kernel, name, depthwise, d)
    dy = _dev(dy, name, "dy", d)
    (oh, ow), geo = ops.conv_geometry(x.shape, kernel.shape[:2], strides, padding,
                                      dilation_rate, name)
    channels = kernel.shape[2] * kernel.shape[3] if depthwise else kernel.shape[3]
    out_shape = (x.shape[0], oh, ow, channels)
    if dy.shape != out_shape:
        raise ValueError(f"{name}: dy must have the output's shape {out_shape}, got {dy.shape}")
    work = None
    if code != 0:
        if y is None or (activation in ops.NEEDS_INPUT and pre is None):
            raise ValueError(f"{name}: the gradient through {activation} needs the forward "
                             f"output y" + (" and the pre-activation" if activation in
                                            ops.NEEDS_INPUT else ""))
        y = _dev(y, name, "y", d)
        _exact(y, out_shape, name, "y")
        pre = _opt(pre, name, "pre", d)
        work = _cu.empty(out_shape, F32, d)
    if kernel_grad is not None:
        kernel_grad = _out(kernel_grad, kernel.shape, f"{name}: kernel gradient", d)
    if bias_grad is not None:
        bias_grad = _out(bias_grad, (channels,), f"{name}: bias gradient", d)
    dx = None
    if input_grad is True:
        dx = _cu.empty(x.shape, F32, d)
    elif input_grad is not False and input_grad is not None:
        dx = _out(input_grad, x.shape, f"{name}: input gradient", d)
    _rt().conv2d_backward(_conv_shape(x, kernel, geo, oh, ow), x.ptr, kernel.ptr, code,
                          float(alpha), _p(pre), _p(y), dy.ptr, _p(work), _p(kernel_grad),
                          _p(bias_grad), _p(dx), bool(depthwise), d)
    return dx


def conv2d_grad(x, kernel, dy, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                kernel_grad=None, bias_grad=None, input_grad=True, activation="linear",
                y=None, pre=None, alpha=None):
    return _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
                      input_grad, False, "conv2d", activation, y, pre, alpha)


def depthwise_conv2d_grad(x, kernel, dy, strides=(1, 1), padding="valid",
                          dilation_rate=(1, 1), kernel_grad=None, bias_grad=None,
                          input_grad=True):
    return _conv_grad(x, kernel, dy, strides, padding, dilation_rate, kernel_grad, bias_grad,
                      input_grad, True, "depthwise_conv2d")


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
           activation="linear", alpha=None, out=None):
    d = x.device
    x = _dev(x, "conv1d", "input", d)
    kernel = _dev(kernel, "conv1d", "kernel", d)
    if x.ndim != 3 or kernel.ndim != 3:
        raise ValueError(f"conv1d: expected a rank-3 input and kernel, got shapes {x.shape} "
                         f"and {kernel.shape}")
    pad = ops.padding_1d(padding, kernel.shape[0], dilation_rate, "conv1d")
    y = conv2d(x[:, None], kernel[None], bias, (1, strides), pad, (1, dilation_rate),
               activation, alpha, None if out is None else out[:, None])
    return y[:, 0]


# --------------------------------------------------------------- pooling

def _pool_input(x, name, d):
    x = _dev(x, name, "input", d)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected an NHWC input of rank 4, got shape {x.shape}")
    return x


def _pool_shape(shape, win, oh, ow):
    n, h, w, c = shape
    return (n, h, w, c) + tuple(win) + (oh, ow)


def _pool(kind, name, x, pool_size, strides, padding, out):
    d = x.device
    x = _pool_input(x, name, d)
    (oh, ow), win = ops.pool_geometry(x.shape, pool_size, strides, padding, name)
    out = _out(out, (x.shape[0], oh, ow, x.shape[3]), name, d)
    forward = _rt().max_pool2d_forward if kind == "max" else _rt().avg_pool2d_forward
    forward(_pool_shape(x.shape, win, oh, ow), x.ptr, out.ptr, d)
    return out


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid", out=None):
    return _pool("max", "max_pool2d", x, pool_size, strides, padding, out)


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid", out=None):
    return _pool("avg", "avg_pool2d", x, pool_size, strides, padding, out)


def max_pool2d_grad(dy, x, y, pool_size=(2, 2), strides=None, padding="valid", out=None):
    name = "max_pool2d backward"
    d = dy.device
    x = _pool_input(x, name, d)
    dy, y = _dev(dy, name, "dy", d), _dev(y, name, "y", d)
    (oh, ow), win = ops.pool_geometry(x.shape, pool_size, strides, padding, "max_pool2d")
    want = (x.shape[0], oh, ow, x.shape[3])
    if dy.shape != want or y.shape != want:
        raise ValueError(f"{name}: dy and y must have the output's shape {want}, got "
                         f"{dy.shape} and {y.shape}")
    out = _out(out, x.shape, name, d)
    _rt().max_pool2d_backward(_pool_shape(x.shape, win, oh, ow), x.ptr, y.ptr, dy.ptr, out.ptr,
                              d)
    return out


def avg_pool2d_grad(dy, input_shape, pool_size=(2, 2), strides=None, padding="valid",
                    out=None):
    name = "avg_pool2d backward"
    d = dy.device
    dy = _dev(dy, name, "dy", d)
    input_shape = tuple(input_shape)
    (oh, ow), win = ops.pool_geometry(input_shape, pool_size, strides, padding, "avg_pool2d")
    _exact(dy, (input_shape[0], oh, ow, input_shape[3]), name, "dy")
    out = _out(out, input_shape, name, d)
    _rt().avg_pool2d_backward(_pool_shape(input_shape, win, oh, ow), dy.ptr, out.ptr, d)
    return out


def _global_pool(kind, name, x, out):
    d = x.device
    x = _pool_input(x, name, d)
    n, h, w, c = x.shape
    y = _out(out, (n, c), name, d)
    forward = _rt().max_pool2d_forward if kind == "max" else _rt().avg_pool2d_forward
    forward((n, h, w, c, h, w, 1, 1, 0, 0, 1, 1), x.ptr, y.ptr, d)
    return y


def global_avg_pool2d(x, out=None):
    return _global_pool("avg", "global_avg_pool2d", x, out)


def global_max_pool2d(x, out=None):
    return _global_pool("max", "global_max_pool2d", x, out)


def global_pool2d_grad(kind, dy, x, y=None, out=None):
    name = f"global_{kind}_pool2d backward"
    d = dy.device
    x = _pool_input(x, name, d)
    n, h, w, c = x.shape
    dy = _dev(dy, name, "dy", d)
    if dy.size != n * c:
        raise ValueError(f"{name}: dy must hold {n} x {c} values, got shape {dy.shape}")
    out = _out(out, x.shape, name, d)
    shape = (n, h, w, c, h, w, 1, 1, 0, 0, 1, 1)
    if kind == "max":
        if y is None:
            raise ValueError("global_max_pool2d backward: the forward output y is required")
        y = _dev(y, name, "y", d)
        _rt().max_pool2d_backward(shape, x.ptr, y.ptr, dy.ptr, out.ptr, d)
    else:
        _rt().avg_pool2d_backward(shape, dy.ptr, out.ptr, d)
    return out


# --------------------------------------------------------- normalization

def moments(x, mean=None, var=None):
    d = x.device
    x = _dev(x, "moments", "x", d)
    rows, cols = _rows_cols(x.shape)
    mean = _out(mean, (cols,), "moments: mean", d)
    var = _out(var, (cols,), "moments: variance", d)
    _rt().moments(x.ptr, rows, cols, mean.ptr, var.ptr, d)
    return mean, var


def channel_affine(x, scale, shift, out=None):
    d = x.device
    x = _dev(x, "channel_affine", "x", d)
    rows, cols = _rows_cols(x.shape)
    scale = _dev(scale, "channel_affine", "scale", d)
    shift = _dev(shift, "channel_affine", "shift", d)
    if scale.size != cols or shift.size != cols:
        raise ValueError(f"channel_affine: scale and shift must hold {cols} values, got "
                         f"{scale.size} and {shift.size}")
    out = _out(out, x.shape, "channel_affine", d)
    _rt().channel_affine(x.ptr, scale.ptr, shift.ptr, out.ptr, rows, cols, d)
    return out


def batch_norm_grad(x, dy, mean, inv_std, gamma=None, gamma_grad=None, beta_grad=None,
                    input_grad=True):
    name = "BatchNormalization"
    d = x.device
    x, dy = _dev(x, name, "x", d), _dev(dy, name, "dy", d)
    if x.shape != dy.shape:
        raise ValueError(f"BatchNormalization: dy of shape {dy.shape} does not match "
                         f"x of shape {x.shape}")
    rows, cols = _rows_cols(x.shape)
    mean, inv_std = _dev(mean, name, "mean", d), _dev(inv_std, name, "inv_std", d)
    gamma = _opt(gamma, name, "gamma", d)
    for a, what in ((mean, "mean"), (inv_std, "inv_std"), (gamma, "gamma")):
        if a is not None and a.size != cols:
            raise ValueError(f"{name}: {what} must hold {cols} values")
    if gamma_grad is not None:
        gamma_grad = _out(gamma_grad, (cols,), f"{name}: gamma gradient", d)
    if beta_grad is not None:
        beta_grad = _out(beta_grad, (cols,), f"{name}: beta gradient", d)
    dx = None
    if input_grad is True:
        dx = _cu.empty(x.shape, F32, d)
    elif input_grad is not False and input_grad is not None:
        dx = _out(input_grad, x.shape, f"{name}: input gradient", d)
    _rt().batchnorm_backward(x.ptr, dy.ptr, mean.ptr, inv_std.ptr, _p(gamma), _p(dx),
                             _p(gamma_grad), _p(beta_grad), rows, cols, d)
    return dx


def batch_norm_affine(mean, var, gamma=None, beta=None, epsilon=1e-3):
    name = "batch_norm_affine"
    d = mean.device
    mean, var = _dev(mean, name, "mean", d), _dev(var, name, "var", d)
    gamma, beta = _opt(gamma, name, "gamma", d), _opt(beta, name, "beta", d)
    cols = mean.size
    for a, what in ((var, "var"), (gamma, "gamma"), (beta, "beta")):
        if a is not None and a.size != cols:
            raise ValueError(f"{name}: {what} must hold {cols} values")
    scale, shift, inv_std = (_cu.empty((cols,), F32, d) for _ in range(3))
    _rt().batchnorm_affine(mean.ptr, var.ptr, _p(gamma), _p(beta), float(epsilon), scale.ptr,
                           shift.ptr, inv_std.ptr, cols, d)
    return scale, shift, inv_std


def moving_average(variable, value, momentum):
    d = variable.device
    variable = _dev(variable, "moving_average", "variable", d)
    value = _dev(value, "moving_average", "value", d)
    if value.size != variable.size:
        raise ValueError("moving_average: variable and value differ in size")
    m = float(np.float32(momentum))
    _rt().axpby(m, variable.ptr, float(np.float32(1.0 - momentum)), value.ptr, variable.ptr,
                variable.size, d)
    return variable


def fold_affine(kernel, bias, scale, shift, channel_shape=None):
    name = "fold_affine"
    d = kernel.device
    kernel = _dev(kernel, name, "kernel", d)
    scale, shift = _dev(scale, name, "scale", d), _dev(shift, name, "shift", d)
    c = scale.size
    if kernel.size % max(c, 1) or shift.size != c:
        raise ValueError(f"{name}: a kernel of shape {kernel.shape} has no {c} output "
                         f"channels")
    zero = _cu.zeros((c,), F32, d)
    folded = channel_affine(kernel.reshape(-1, c), scale, zero).reshape(kernel.shape)
    if bias is None:
        return folded, shift.copy()
    bias = _dev(bias, name, "bias", d)
    return folded, channel_affine(bias.reshape(1, c), scale, shift).reshape((c,))


# ---------------------------------------------------------------- merging

def _binary(name, a, b, out):
    d = a.device
    a, b = _dev(a, name, "a", d), _dev(b, name, "b", d)
    if a.shape != b.shape:
        raise ValueError(f"{name}: on the GPU both arrays must have one shape (no "
                         f"broadcasting), got {a.shape} and {b.shape}")
    out = _out(out, a.shape, name, d)
    _rt().binary(ops._BINARY[name], a.ptr, b.ptr, out.ptr, a.size, d)
    return out


def add(a, b, out=None):
    return _binary("add", a, b, out)


def subtract(a, b, out=None):
    return _binary("subtract", a, b, out)


def multiply(a, b, out=None):
    return _binary("multiply", a, b, out)


def maximum(a, b, out=None):
    return _binary("maximum", a, b, out)


def minimum(a, b, out=None):
    return _binary("minimum", a, b, out)


def axpby(alpha, a, beta=0.0, b=None, out=None):
    d = a.device
    a = _dev(a, "axpby", "a", d)
    if b is not None:
        b = _dev(b, "axpby", "b", d)
        if b.shape != a.shape:
            raise ValueError(f"axpby: shapes {a.shape} and {b.shape} differ")
    out = _out(out, a.shape, "axpby", d)
    _rt().axpby(float(alpha), a.ptr, float(beta), _p(b), out.ptr, a.size, d)
    return out


def extremum_grad(xs, y, dy, outs=None):
    d = y.device
    xs = [_dev(x, "extremum_grad", "input", d) for x in xs]
    y, dy = _dev(y, "extremum_grad", "y", d), _dev(dy, "extremum_grad", "dy", d)
    for x in xs + [dy]:
        if x.shape != y.shape:
            raise ValueError(f"extremum_grad: shapes {x.shape} and {y.shape} differ")
    if outs is None:
        outs = [_cu.empty(y.shape, F32, d) for _ in xs]
    outs = [None if o is None else _out(o, y.shape, "extremum_grad", d) for o in outs]
    _rt().extremum_backward([x.ptr for x in xs], y.ptr, dy.ptr, [_p(o) for o in outs], y.size,
                            d)
    return outs


def reduce_to_shape(g, shape):
    if g.shape == tuple(shape):
        return g
    raise ValueError(f"reduce_to_shape: broadcast inputs are not supported on the GPU "
                     f"(a gradient of shape {g.shape} for an input of shape {tuple(shape)})")


def concatenate(xs, axis=-1, out=None):
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate: expected at least one array")
    d = xs[0].device
    xs = [_dev(x, "concatenate", "input", d) for x in xs]
    ndim = xs[0].ndim
    axis = ops._axis(axis, ndim, "concatenate")
    for x in xs:
        if x.ndim != ndim or x.shape[:axis] != xs[0].shape[:axis] or \
                x.shape[axis + 1:] != xs[0].shape[axis + 1:]:
            raise ValueError(f"concatenate: shapes {[t.shape for t in xs]} differ off axis "
                             f"{axis}")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = _out(out, tuple(shape), "concatenate", d)
    rows = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    ldd, offset = shape[axis] * inner, 0
    for x in xs:
        cols = x.shape[axis] * inner
        _rt().copy_block(x.ptr, max(cols, 1), out.ptr + 4 * offset, max(ldd, 1), rows, cols, d)
        offset += cols
    return out


def concatenate_grad(dy, sizes, axis=-1, outs=None):
    d = dy.device
    dy = _dev(dy, "concatenate backward", "dy", d)
    axis = ops._axis(axis, dy.ndim, "concatenate backward")
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
            o = _out(None if outs[i] is True else outs[i], shape, "concatenate backward", d)
            _rt().copy_block(dy.ptr + 4 * offset, max(lds, 1), o.ptr, max(cols, 1), rows, cols,
                             d)
            outs[i] = o
        offset += cols
    return outs


def batch_matmul(a, b, transpose_a=False, transpose_b=False, out=None):
    d = a.device
    a, b = _dev(a, "batch_matmul", "a", d), _dev(b, "batch_matmul", "b", d)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"batch_matmul: expected two 3-D arrays with the same first "
                         f"dimension, got shapes {a.shape} and {b.shape}")
    m, k = (a.shape[2], a.shape[1]) if transpose_a else a.shape[1:]
    kb, n = (b.shape[2], b.shape[1]) if transpose_b else b.shape[1:]
    if k != kb:
        raise ValueError(f"batch_matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({k} != {kb})")
    count = a.shape[0]
    out = _out(out, (count, m, n), "batch_matmul", d)
    _rt().sgemm_batched(count, int(bool(transpose_a)), int(bool(transpose_b)), m, n, k, 1.0,
                        a.ptr, a.shape[2], a.shape[1] * a.shape[2], b.ptr, b.shape[2],
                        b.shape[1] * b.shape[2], 0.0, out.ptr, n, m * n, _tf32(), d)
    return out


def l2_normalize(x, axis=-1, epsilon=1e-12, out=None, norms=None):
    d = x.device
    x = _dev(x, "l2_normalize", "x", d)
    axis = ops._axis(axis, x.ndim, "l2_normalize")
    if axis != x.ndim - 1:
        raise ValueError(f"l2_normalize: on the GPU only the last axis is supported, got "
                         f"axis={axis} for rank {x.ndim}")
    rows, cols = _rows_cols(x.shape)
    norms = _out(norms, (rows,), "l2_normalize: norms", d)
    out = _out(out, x.shape, "l2_normalize", d)
    _rt().l2_normalize_rows(x.ptr, out.ptr, norms.ptr, rows, cols, float(epsilon), d)
    return out


def l2_normalize_grad(x, y, norms, dy, axis=-1, epsilon=1e-12, out=None):
    name = "l2_normalize backward"
    d = x.device
    x, y, dy = _dev(x, name, "x", d), _dev(y, name, "y", d), _dev(dy, name, "dy", d)
    norms = _dev(norms, name, "norms", d)
    axis = ops._axis(axis, x.ndim, name)
    if axis != x.ndim - 1:
        raise ValueError(f"{name}: on the GPU only the last axis is supported")
    rows, cols = _rows_cols(x.shape)
    out = _out(out, x.shape, name, d)
    _rt().l2_normalize_backward_rows(x.ptr, y.ptr, norms.ptr, dy.ptr, out.ptr, rows, cols,
                                     float(epsilon), d)
    return out
