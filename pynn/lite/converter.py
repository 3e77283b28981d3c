"""Layers to TFLite builtin operators.

:func:`build_graph` walks a built Sequential model and writes each layer as
the builtin ops TensorFlow's converter would give it, in float32:

- Dense -> FULLY_CONNECTED (kernel transposed to [units, in]);
  Conv2D -> CONV_2D (HWIO -> OHWI); DepthwiseConv2D -> DEPTHWISE_CONV_2D
  ([1, kh, kw, cin * multiplier]); SeparableConv2D -> DEPTHWISE_CONV_2D and
  a 1x1 CONV_2D; Conv1D -> RESHAPE to height 1, CONV_2D, RESHAPE back (with
  a PAD first for causal padding).
- pooling -> MAX_POOL_2D / AVERAGE_POOL_2D (1-D ones at height 1); global
  pooling -> MEAN / REDUCE_MAX; Flatten and Reshape -> one RESHAPE.
- activations -> their builtin ops; ReLU and ReLU6 following a dense or
  convolution layer, as its ``activation=`` or as the next layer, become
  the op's fused activation, as in TensorFlow.  Tanh stays a TANH op: the
  interpreter's FULLY_CONNECTED rejects a fused tanh and its convolutions
  and int8 kernels would ignore it.
- inference-mode BatchNormalization is folded into the weights of the
  dense or convolution layer before it, or else written as MUL and ADD.
- Dropout is the identity at inference and is left out.

A layer without a TFLite form raises :class:`ConversionError` naming it.
"""
import numpy as np

from .. import ops
from .graph import Graph
from .writer import fused_activation_code, padding_code


class ConversionError(ValueError):
    """The model cannot be written as a TFLite model; the message names the
    layer and why."""


# Activation name -> builtin op.  softplus, swish and hard_sigmoid have no
# builtin and raise.
ACTIVATION_OPS = {"relu": "RELU", "relu6": "RELU6", "tanh": "TANH", "sigmoid": "LOGISTIC",
                  "softmax": "SOFTMAX", "leaky_relu": "LEAKY_RELU", "elu": "ELU",
                  "hard_swish": "HARD_SWISH"}


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _layer_kind(layer):
    """The pynn layer class this layer converts as, or None."""
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("pynn.layers") and cls.__name__ in _HANDLERS:
            if cls is not type(layer) and type(layer).call is not cls.call:
                return None  # a subclass that computes something else
            return cls.__name__
    return None


class _Context:
    def __init__(self, model, graph, fusable):
        self.model = model
        self.g = graph
        self.fusable = fusable

    def error(self, layer, message):
        return ConversionError(f"Layer {layer.name!r} ({type(layer).__name__}): {message}")

    def value(self, layer, weight, what):
        v = np.asarray(weight.value, np.float32)
        if not np.all(np.isfinite(v)):
            raise self.error(layer, f"its {what} (shape {v.shape}) holds NaN or infinite "
                                    f"values; a model with such weights cannot be exported")
        return v.copy()

    def out_tensor(self, layer, name, shape, stat):
        if any(d is None for d in shape[1:]):
            raise self.error(layer, f"its output shape {_fmt(shape)} has an unknown "
                                    f"dimension other than the batch; TFLite needs them known")
        return self.g.activation(name, shape, stat=stat)

    def int32(self, name, values):
        return self.g.constant(name, np.asarray(values, np.int32), role="shape")

    def reshape(self, layer, x, shape, name, stat=None):
        """One RESHAPE to ``shape`` (batch first, written as -1)."""
        new_shape = [-1] + [int(d) for d in shape[1:]]
        y = self.out_tensor(layer, name, shape, stat)
        self.g.add("RESHAPE", [x, self.int32(f"{name}/shape", new_shape)], [y],
                   ("ReshapeOptions", {"NewShape": new_shape}), layer.name)
        return y

    def activation(self, layer, x, act, index, name=None):
        """The op for activation ``act`` applied to ``x``; ``x`` itself for
        'linear'."""
        if act in (None, "linear"):
            return x
        code = ACTIVATION_OPS.get(act)
        if code is None:
            raise self.error(layer, f"the activation {act!r} has no TensorFlow Lite builtin "
                                    f"op; use one of {sorted(ACTIVATION_OPS)} or 'linear'")
        y = self.out_tensor(layer, name or f"{layer.name}/{act}", (None,) + x.shape[1:],
                            (index, "out"))
        options = None
        if code == "SOFTMAX":
            options = ("SoftmaxOptions", {"Beta": 1.0})
        elif code == "LEAKY_RELU":
            options = ("LeakyReluOptions", {"Alpha": float(ops.DEFAULT_ALPHA["leaky_relu"])})
        self.g.add(code, [x], [y], options, layer.name)
        return y


# --------------------------------------------------- fusion look-ahead

def _bn_scale_shift(ctx, bn):
    """Inference-mode BatchNormalization as ``x * scale + shift``."""
    rank = len(bn.input_shape)
    axis = bn.axis if not isinstance(bn.axis, (list, tuple)) else \
        (bn.axis[0] if len(bn.axis) == 1 else None)
    if axis is None or axis not in (-1, rank - 1):
        raise ctx.error(bn, f"only normalization over the last (channels) axis can be "
                            f"exported, got axis={bn.axis!r} for input shape "
                            f"{_fmt(bn.input_shape)}")
    mean = ctx.value(bn, bn.moving_mean, "moving_mean")
    var = ctx.value(bn, bn.moving_variance, "moving_variance")
    gamma = ctx.value(bn, bn.gamma, "gamma") if getattr(bn, "gamma", None) is not None \
        else None
    beta = ctx.value(bn, bn.beta, "beta") if getattr(bn, "beta", None) is not None else None
    if np.any(var + bn.epsilon <= 0):
        raise ctx.error(bn, "moving_variance + epsilon must be positive")
    # The same scale and shift pynn's own inference folds in.
    scale, shift, _ = ops.batch_norm_affine(mean, var, gamma, beta, bn.epsilon)
    return scale, shift


def _absorb(ctx, items, k):
    """What a dense or convolution layer at ``items[k]`` takes in with it:
    a BatchNormalization right after it (folded into its weights, only
    when its own activation is linear) and then an Activation layer whose
    function can be fused.  Returns (bn or None, activation name, index of
    the last layer taken, number of layers taken)."""
    idx, layer = items[k]
    act = layer.activation
    j = k + 1
    bn = None
    last = idx
    if act == "linear" and j < len(items) and _layer_kind(items[j][1]) == "BatchNormalization":
        bn = items[j][1]
        last = items[j][0]
        j += 1
    if act == "linear" and j < len(items) and _layer_kind(items[j][1]) == "Activation" \
            and items[j][1].activation in ctx.fusable:
        act = items[j][1].activation
        last = items[j][0]
        j += 1
    return bn, act, last, j - k


def _emit_main(ctx, layer, idx, items, k, emit):
    """Shared tail of the dense/convolution handlers.  ``emit(fused, bn,
    out_stat, name)`` writes the op(s) with the activation ``fused`` fused
    and returns the output tensor."""
    bn, act, last, taken = _absorb(ctx, items, k)
    if act in ctx.fusable or act == "linear":
        y = emit(act, bn, (last, "out"), items[k + taken - 1][1].name)
        return taken, y
    # An activation with no fused form: the op, then the activation's op.
    y = emit("linear", bn, (idx, "pre"), f"{layer.name}/BiasAdd")
    return taken, ctx.activation(layer, y, act, idx, name=layer.name)


def _fold(w, b, bn_ss, out_axis_shape=None):
    """Fold ``x * scale + shift`` after ``x @ w + b`` into w and b (scale
    over w's last axis, or over ``out_axis_shape`` trailing axes)."""
    if bn_ss is None:
        return w, b
    return ops.fold_affine(w, b, *bn_ss, channel_shape=out_axis_shape)


# ------------------------------------------------------------- handlers

def _dense(ctx, items, k, x):
    idx, layer = items[k]
    w = ctx.value(layer, layer.kernel, "kernel")
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None

    def emit(act, bn, stat, name):
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss)
        g = ctx.g
        weights = g.constant(f"{layer.name}/kernel", kw.T, role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias") if kb is not None else None
        y = ctx.out_tensor(layer, name, layer.output_shape, stat)
        opts = {"FusedActivationFunction": fused_activation_code(act)}
        if len(x.shape) > 2:
            opts["KeepNumDims"] = True  # Keras applies Dense to the last axis only
        g.add("FULLY_CONNECTED", [x, weights, bias], [y], ("FullyConnectedOptions", opts),
              layer.name)
        return y

    return _emit_main(ctx, layer, idx, items, k, emit)


def _conv_options(layer, act, strides, dilation, padding, depth_multiplier=None):
    opts = {"Padding": padding_code(padding), "StrideW": int(strides[1]),
            "StrideH": int(strides[0]), "FusedActivationFunction": fused_activation_code(act),
            "DilationWFactor": int(dilation[1]), "DilationHFactor": int(dilation[0])}
    if depth_multiplier is not None:
        opts["DepthMultiplier"] = int(depth_multiplier)
    return opts


def _conv2d(ctx, items, k, x):
    idx, layer = items[k]
    if getattr(layer, "groups", 1) != 1:
        raise ctx.error(layer, f"grouped convolution (groups={layer.groups}) is not exported")
    w = ctx.value(layer, layer.kernel, "kernel")  # HWIO
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None

    def emit(act, bn, stat, name):
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss)
        if kb is None:
            kb = np.zeros(kw.shape[-1], np.float32)
        g = ctx.g
        filt = g.constant(f"{layer.name}/kernel", kw.transpose(3, 0, 1, 2), role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias")
        y = ctx.out_tensor(layer, name, layer.output_shape, stat)
        g.add("CONV_2D", [x, filt, bias], [y],
              ("Conv2DOptions", _conv_options(layer, act, layer.strides, layer.dilation_rate,
                                              layer.padding)), layer.name)
        return y

    return _emit_main(ctx, layer, idx, items, k, emit)


def _depthwise_filter(w):
    """(kh, kw, cin, mult) -> TFLite's [1, kh, kw, cin * mult]; output
    channel c * mult + m in both."""
    kh, kw_, cin, mult = w.shape
    return w.reshape(1, kh, kw_, cin * mult)


def _depthwise2d(ctx, items, k, x):
    idx, layer = items[k]
    w = ctx.value(layer, layer.depthwise_kernel, "depthwise_kernel")
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    cin, mult = w.shape[2], w.shape[3]

    def emit(act, bn, stat, name):
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss, out_axis_shape=(cin, mult))
        if kb is None:
            kb = np.zeros(cin * mult, np.float32)
        g = ctx.g
        filt = g.constant(f"{layer.name}/depthwise_kernel", _depthwise_filter(kw),
                          role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias")
        y = ctx.out_tensor(layer, name, layer.output_shape, stat)
        g.add("DEPTHWISE_CONV_2D", [x, filt, bias], [y],
              ("DepthwiseConv2DOptions", _conv_options(
                  layer, act, layer.strides, layer.dilation_rate, layer.padding,
                  layer.depth_multiplier)), layer.name)
        return y

    return _emit_main(ctx, layer, idx, items, k, emit)


def _separable2d(ctx, items, k, x):
    idx, layer = items[k]
    dw = ctx.value(layer, layer.depthwise_kernel, "depthwise_kernel")
    pw = ctx.value(layer, layer.pointwise_kernel, "pointwise_kernel")  # (1, 1, cin*m, f)
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    cin, mult = dw.shape[2], dw.shape[3]
    out_shape = layer.output_shape
    mid_shape = tuple(out_shape[:-1]) + (cin * mult,)

    def emit(act, bn, stat, name):
        g = ctx.g
        filt = g.constant(f"{layer.name}/depthwise_kernel", _depthwise_filter(dw),
                          role="weight")
        zero = g.constant(f"{layer.name}/depthwise_bias", np.zeros(cin * mult, np.float32),
                          role="bias")
        mid = ctx.out_tensor(layer, f"{layer.name}/depthwise", mid_shape,
                             (idx, _separable_depthwise_fn(layer)))
        g.add("DEPTHWISE_CONV_2D", [x, filt, zero], [mid],
              ("DepthwiseConv2DOptions", _conv_options(
                  layer, "linear", layer.strides, layer.dilation_rate, layer.padding, mult)),
              layer.name)
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(pw, b, bn_ss)
        if kb is None:
            kb = np.zeros(kw.shape[-1], np.float32)
        pfilt = g.constant(f"{layer.name}/pointwise_kernel", kw.transpose(3, 0, 1, 2),
                           role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias")
        y = ctx.out_tensor(layer, name, out_shape, stat)
        g.add("CONV_2D", [mid, pfilt, bias], [y],
              ("Conv2DOptions", _conv_options(layer, act, (1, 1), (1, 1), "valid")),
              layer.name)
        return y

    return _emit_main(ctx, layer, idx, items, k, emit)


def _separable_depthwise_fn(layer):
    """Calibration: the depthwise half of a SeparableConv2D, computed by a
    DepthwiseConv2D layer holding the same kernel."""
    cache = {}

    def fn(x):
        dw = cache.get("layer")
        if dw is None:
            from ..layers import DepthwiseConv2D
            dw = DepthwiseConv2D(kernel_size=layer.kernel_size, strides=layer.strides,
                                 padding=layer.padding, depth_multiplier=layer.depth_multiplier,
                                 dilation_rate=layer.dilation_rate, use_bias=False)
            dw.build_for(layer.input_shape)
            dw.depthwise_kernel.assign(layer.depthwise_kernel.value)
            cache["layer"] = dw
        return dw.call(x, training=False)
    return fn


def _conv1d(ctx, items, k, x):
    idx, layer = items[k]
    if getattr(layer, "groups", 1) != 1:
        raise ctx.error(layer, f"grouped convolution (groups={layer.groups}) is not exported")
    w = ctx.value(layer, layer.kernel, "kernel")  # (k, cin, f)
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    ksize, cin, filters = w.shape
    (stride,), (dilation,) = tuple(layer.strides), tuple(layer.dilation_rate)
    n, width, _ = x.shape

    def emit(act, bn, stat, name):
        g = ctx.g
        h = ctx.reshape(layer, x, (None, 1, width, cin), f"{layer.name}/expand")
        padding = layer.padding
        if padding == "causal":
            left = (ksize - 1) * dilation
            padded = ctx.out_tensor(layer, f"{layer.name}/causal_pad",
                                    (None, 1, width + left, cin), None)
            g.add("PAD", [h, ctx.int32(f"{layer.name}/paddings",
                                       [[0, 0], [0, 0], [left, 0], [0, 0]])], [padded],
                  ("PadOptions", {}), layer.name)
            h, padding = padded, "valid"
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss)
        if kb is None:
            kb = np.zeros(filters, np.float32)
        filt = g.constant(f"{layer.name}/kernel", kw.transpose(2, 0, 1)[:, None, :, :],
                          role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias")
        out_w = layer.output_shape[1]
        y4 = ctx.out_tensor(layer, f"{name}/conv", (None, 1, out_w, filters), stat)
        g.add("CONV_2D", [h, filt, bias], [y4],
              ("Conv2DOptions", _conv_options(layer, act, (1, stride), (1, dilation),
                                              padding)), layer.name)
        return ctx.reshape(layer, y4, (None, out_w, filters), name)

    return _emit_main(ctx, layer, idx, items, k, emit)


def _pool2d(code):
    def handler(ctx, items, k, x):
        idx, layer = items[k]
        y = ctx.out_tensor(layer, layer.name, layer.output_shape, None)
        ctx.g.add(code, [x], [y], ("Pool2DOptions", {
            "Padding": padding_code(layer.padding), "StrideW": int(layer.strides[1]),
            "StrideH": int(layer.strides[0]), "FilterWidth": int(layer.pool_size[1]),
            "FilterHeight": int(layer.pool_size[0])}), layer.name)
        return 1, y
    return handler


def _pool1d(code):
    def handler(ctx, items, k, x):
        idx, layer = items[k]
        _, width, ch = x.shape
        out_w = layer.output_shape[1]
        h = ctx.reshape(layer, x, (None, 1, width, ch), f"{layer.name}/expand")
        y4 = ctx.out_tensor(layer, f"{layer.name}/pool", (None, 1, out_w, ch), None)
        ctx.g.add(code, [h], [y4], ("Pool2DOptions", {
            "Padding": padding_code(layer.padding), "StrideW": int(layer.strides[0]),
            "StrideH": 1, "FilterWidth": int(layer.pool_size[0]), "FilterHeight": 1}),
            layer.name)
        return 1, ctx.reshape(layer, y4, (None, out_w, ch), layer.name)
    return handler


def _global_pool(code, axes):
    def handler(ctx, items, k, x):
        idx, layer = items[k]
        y = ctx.out_tensor(layer, layer.name, layer.output_shape, None)
        keep = bool(getattr(layer, "keepdims", False))
        ctx.g.add(code, [x, ctx.int32(f"{layer.name}/axes", axes)], [y],
                  ("ReducerOptions", {"KeepDims": keep}), layer.name)
        return 1, y
    return handler


def _reshape(ctx, items, k, x):
    idx, layer = items[k]
    return 1, ctx.reshape(layer, x, layer.output_shape, layer.name)


def _activation(ctx, items, k, x):
    idx, layer = items[k]
    return 1, ctx.activation(layer, x, layer.activation, idx, name=layer.name)


def _batchnorm(ctx, items, k, x):
    """A BatchNormalization with no dense or convolution layer before it
    to fold into: MUL by scale, ADD shift."""
    idx, layer = items[k]
    scale, shift = _bn_scale_shift(ctx, layer)
    g = ctx.g
    s = g.constant(f"{layer.name}/scale", scale, role="param")
    t = g.constant(f"{layer.name}/shift", shift, role="param")
    mid = ctx.out_tensor(layer, f"{layer.name}/mul", layer.output_shape,
                         (idx, lambda inp, _s=scale: np.asarray(inp) * _s))
    none = {"FusedActivationFunction": fused_activation_code("linear")}
    g.add("MUL", [x, s], [mid], ("MulOptions", dict(none)), layer.name)
    y = ctx.out_tensor(layer, layer.name, layer.output_shape, (idx, "out"))
    g.add("ADD", [mid, t], [y], ("AddOptions", dict(none)), layer.name)
    return 1, y


_HANDLERS = {
    "Dense": _dense,
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise2d,
    "SeparableConv2D": _separable2d,
    "Conv1D": _conv1d,
    "MaxPooling2D": _pool2d("MAX_POOL_2D"),
    "AveragePooling2D": _pool2d("AVERAGE_POOL_2D"),
    "MaxPooling1D": _pool1d("MAX_POOL_2D"),
    "AveragePooling1D": _pool1d("AVERAGE_POOL_2D"),
    "GlobalAveragePooling2D": _global_pool("MEAN", [1, 2]),
    "GlobalMaxPooling2D": _global_pool("REDUCE_MAX", [1, 2]),
    "GlobalAveragePooling1D": _global_pool("MEAN", [1]),
    "GlobalMaxPooling1D": _global_pool("REDUCE_MAX", [1]),
    "Flatten": _reshape,
    "Reshape": _reshape,
    "Activation": _activation,
    "BatchNormalization": _batchnorm,
    "Dropout": None,  # the identity at inference
}


# Activations the dense and convolution ops apply themselves.
FUSABLE = frozenset({"relu", "relu6"})


def build_graph(model):
    """The float32 TFLite graph of a built Sequential ``model``."""
    from ..models import Sequential
    if not isinstance(model, Sequential):
        raise ConversionError(f"TFLiteConverter: expected a pynn Sequential model, got "
                              f"{type(model).__name__}")
    if not model.layers:
        raise ConversionError(f"Model {model.name!r} has no layers; there is nothing to export")
    if not model.built or model._input_shape is None:
        raise ConversionError(f"Model {model.name!r} has not been built, so its input shape and "
                              f"weights are unknown; give the first layer input_shape=..., start "
                              f"with pynn.Input(shape=...), or call the model on data first")
    in_shape = tuple(model.input_shape)
    if any(d is None for d in in_shape[1:]):
        raise ConversionError(f"Model {model.name!r}: the input shape {_fmt(in_shape)} has an "
                              f"unknown dimension other than the batch; TFLite needs them known")
    items = []
    for idx, layer in enumerate(model.layers):
        kind = _layer_kind(layer)
        if kind is None and type(layer).__name__ not in _HANDLERS:
            raise ConversionError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has no TensorFlow Lite form in "
                f"pynn.lite; exportable layers: {', '.join(sorted(_HANDLERS))}")
        if kind is None:
            raise ConversionError(f"Layer {layer.name!r} ({type(layer).__name__}) overrides "
                                  f"call() and cannot be exported as the layer it extends")
        if kind != "Dropout":
            items.append((idx, layer))

    g = Graph()
    x = g.activation("input", in_shape, stat=(-1, "out"))
    g.inputs = [x]
    ctx = _Context(model, g, FUSABLE)
    k = 0
    while k < len(items):
        idx, layer = items[k]
        handler = _HANDLERS[_layer_kind(layer)]
        taken, x = handler(ctx, items, k, x)
        k += taken
    if x is g.inputs[0]:
        # Nothing but identities: a reshape to the same shape keeps the
        # model a valid graph with distinct input and output tensors.
        last = model.layers[-1]
        x = ctx.reshape(last, x, in_shape, last.name, stat=None)
    x.name = "output"
    g.outputs = [x]
    return g
