"""Layers to TFLite builtin operators.

:func:`build_graph` walks a built model's inference program (the graph
passes of pynn.models.passes: nested models inlined, Dropout dropped,
BatchNormalization folded, Activation layers fused where they can be) and
writes each step as the builtin ops TensorFlow's converter would give it,
in float32, with every model input and output:

- Dense -> FULLY_CONNECTED (kernel transposed to [units, in]);
  Conv2D -> CONV_2D (HWIO -> OHWI); DepthwiseConv2D -> DEPTHWISE_CONV_2D
  ([1, kh, kw, cin * multiplier]); SeparableConv2D -> DEPTHWISE_CONV_2D and
  a 1x1 CONV_2D; Conv1D, DepthwiseConv1D and SeparableConv1D -> RESHAPE to
  height 1, the 2-D layer's ops, RESHAPE back (with a PAD first for causal
  padding).
- EinsumDense contracting input axes with kernel axes -> TRANSPOSE,
  RESHAPE, FULLY_CONNECTED, RESHAPE, TRANSPOSE (bias folded or ADD).
  Conv3D -> CONV_3D (float kernels only in TFLite).
- pooling -> MAX_POOL_2D / AVERAGE_POOL_2D (1-D ones at height 1, 3-D
  ones as two 2-D ones); global pooling -> MEAN / REDUCE_MAX; adaptive
  pooling -> per axis an averaging FULLY_CONNECTED, or REDUCE_MAX of
  SLICEs and CONCATENATION; Flatten and Reshape -> one RESHAPE.
- activations -> their builtin ops; ReLU and ReLU6 following a dense or
  convolution layer, as its ``activation=`` or as the next layer, become
  the op's fused activation, as in TensorFlow.  Tanh stays a TANH op: the
  interpreter's FULLY_CONNECTED rejects a fused tanh and its convolutions
  and int8 kernels would ignore it.
- inference-mode BatchNormalization is folded into the weights of the
  dense or convolution layer before it, or else written as MUL and ADD.
- merge layers -> CONCATENATION, ADD, SUB, MUL, MAXIMUM, MINIMUM (chained
  for more than two inputs), Average -> ADD and MUL by 1/n, Dot ->
  BATCH_MATMUL (after L2_NORMALIZATION for ``normalize=True``).
- ZeroPadding -> PAD; Cropping -> SLICE; UpSampling2D ->
  RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR with half-pixel centres
  (UpSampling1D between RESHAPEs); RepeatVector -> RESHAPE and TILE;
  Permute -> TRANSPOSE.
- UpSampling3D -> RESIZE_NEAREST_NEIGHBOR twice between RESHAPEs.
- Conv2DTranspose -> TRANSPOSE_CONV (its output shape computed from the
  batch at run time by SHAPE, STRIDED_SLICE and CONCATENATION; a SLICE
  after it where TFLite's padding rule does not give Keras's alignment);
  Conv1DTranspose the same at height 1; Conv3DTranspose ->
  CONV_3D_TRANSPOSE (float kernels only in TFLite) the same way.  A
  dilated kernel is written with its holes as zeros.
- ReLU -> RELU, RELU6 or LEAKY_RELU (then MINIMUM for a cap; with a
  threshold, GREATER, CAST and MUL, then MINIMUM, ADD, MUL for a cap and a
  slope); LeakyReLU ->
  LEAKY_RELU; ELU -> ELU (alpha other than 1 written out with MINIMUM, MUL,
  RELU and ADD); Softmax -> SOFTMAX (between TRANSPOSEs for another axis
  than the last); PReLU -> PRELU.
- LayerNormalization and GroupNormalization -> MEAN, SQUARED_DIFFERENCE,
  MEAN, ADD, RSQRT, SUB, MUL (then MUL and ADD for gamma and beta), as
  TensorFlow's converter writes them; UnitNormalization ->
  L2_NORMALIZATION.
- Rescaling -> MUL and ADD; Normalization -> SUB and MUL; Resizing and
  CenterCrop -> SLICE and RESIZE_* (PAD or PADV2 first for
  pad_to_aspect_ratio); CategoryEncoding -> EQUAL, CAST, REDUCE_MAX or
  SUM; Discretization -> BUCKETIZE (float kernels only); IntegerLookup ->
  EQUAL to its vocabulary, SUM, REDUCE_ANY and SELECT_V2 in int64 (GATHER
  for invert=True); a Pipeline -> its layers' ops; SpectralNormalization
  -> its layer's.
- STFTSpectrogram -> its kernels as CONV_2D over the signals at height 1,
  then MUL, ADD, MAXIMUM, SQRT, LOG or ATAN2 per mode; MelSpectrogram ->
  MIRROR_PAD, the windowed DFT as CONV_2D, the mel filters as
  FULLY_CONNECTED, decibels by LOG and REDUCE_MAX over the batch.
- MultiHeadAttention and GroupQueryAttention -> FULLY_CONNECTED,
  BATCH_MATMUL, SOFTMAX (see _multi_head_attention).
- the noise layers (GaussianNoise, GaussianDropout, AlphaDropout,
  SpatialDropout, ActivityRegularization) are identities at inference and
  are left out, as Dropout is; so are the image augmentation layers but
  RandomCrop, which resizes its central window at inference (SLICE and
  RESIZE_BILINEAR).
- Embedding, ReversibleEmbedding, SimpleRNN, LSTM, GRU, RNN(cell),
  Bidirectional, TimeDistributed: see pynn.lite.sequence (GATHER,
  UNIDIRECTIONAL_SEQUENCE_LSTM / _RNN, GRU
  unrolled into builtin ops).

A layer without a TFLite form raises :class:`ConversionError` naming it.
"""
import math
import warnings

import numpy as np

from .. import ops
from .graph import Graph
from .writer import fused_activation_code, padding_code


class ConversionError(ValueError):
    """The model cannot be written as a TFLite model; the message names the
    layer and why."""


# Activation name -> builtin op.
ACTIVATION_OPS = {"relu": "RELU", "relu6": "RELU6", "tanh": "TANH", "sigmoid": "LOGISTIC",
                  "softmax": "SOFTMAX", "leaky_relu": "LEAKY_RELU", "elu": "ELU",
                  "hard_swish": "HARD_SWISH", "gelu": "GELU", "log_softmax": "LOG_SOFTMAX",
                  "exponential": "EXP"}
_ACTIVATION_OPTIONS = {"SOFTMAX": ("SoftmaxOptions", {"Beta": 1.0}),
                       "GELU": ("GeluOptions", {"Approximate": False}),
                       "LOG_SOFTMAX": ("LogSoftmaxOptions", {})}
# Activations written as a few builtin ops (Ctx._composite_activation):
# those with no builtin of their own.
COMPOSITE_ACTIVATIONS = frozenset({"swish", "hard_sigmoid", "softplus", "softsign", "selu",
                                   "mish"})
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _activation_name(act):
    """The name of an activation given as one of pynn.activations'
    functions (Dense(activation="gelu") keeps the function), else ``act``."""
    if callable(act):
        from .. import activations
        name = getattr(act, "__name__", None)
        if name and getattr(activations, name, None) is act:
            return name
    return act


def _softplus(v):
    v = np.asarray(v, np.float64)
    return np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v)))


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _layer_kind(layer):
    """The pynn layer class this layer converts as, or None."""
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("pynn.layers") and cls.__name__ in _HANDLERS:
            if cls is not type(layer) and (type(layer).forward is not cls.forward or
                                           getattr(type(layer), "rank", None) !=
                                           getattr(cls, "rank", None)):
                # a subclass that computes something else, or over other
                # axes (Conv3DTranspose on Conv2DTranspose's code)
                return None
            return cls.__name__
    return None


class _Context:
    def __init__(self, model, graph, fusable, program):
        self.model = model
        self.g = graph
        self.fusable = fusable
        self.program = program
        # Masks (Embedding(mask_zero=True), Masking): slot -> a float32 0/1
        # tensor of the masked axes (batch, steps), or _UNKNOWN_MASK where
        # pynn carries a mask the exporter cannot write; the current
        # step's input masks, and the output masks its handler made.
        self.masks = {}
        # (masks given to calls as graph tensors, as float32 0/1 tensors, by
        # the tensor's id)
        self.given = {}
        # (written for full integer: only ops with int8 kernels)
        self.int8 = False
        # (the batch a traced call's program was traced with, when not None)
        self.traced_batch = None
        self.in_masks = []
        self.out_masks = None

    def error(self, layer, message):
        return ConversionError(f"Layer {layer.name!r} ({type(layer).__name__}): {message}")

    def value(self, layer, weight, what):
        v = np.asarray(weight.value, np.float32)
        if not np.all(np.isfinite(v)):
            raise self.error(layer, f"its {what} (shape {v.shape}) holds NaN or infinite "
                                    f"values; a model with such weights cannot be exported")
        return v.copy()

    def out_tensor(self, layer, name, shape, stat, dtype=np.float32):
        if any(d is None for d in shape[1:]):
            raise self.error(layer, f"its output shape {_fmt(shape)} has an unknown "
                                    f"dimension other than the batch; TFLite needs them known")
        return self.g.activation(name, shape, stat=stat, dtype=dtype)

    def int32(self, name, values):
        return self.g.constant(name, np.asarray(values, np.int32), role="shape")

    def reshape(self, layer, x, shape, name, stat=None):
        """One RESHAPE to ``shape`` (batch first, written as -1)."""
        new_shape = [-1] + [int(d) for d in shape[1:]]
        y = self.out_tensor(layer, name, shape, stat, dtype=x.dtype)
        self.g.add("RESHAPE", [x, self.int32(f"{name}/shape", new_shape)], [y],
                   ("ReshapeOptions", {"NewShape": new_shape}), layer.name)
        return y

    def activation(self, layer, x, act, index, name=None):
        """The op for activation ``act`` applied to ``x``; ``x`` itself for
        'linear'."""
        act = _activation_name(act)
        if act in (None, "linear"):
            return x
        if act in COMPOSITE_ACTIVATIONS:
            return self._composite_activation(layer, x, act, index, name)
        code = ACTIVATION_OPS.get(act)
        if code is None:
            raise self.error(layer, f"the activation {act!r} has no TensorFlow Lite form; use "
                                    f"one of {sorted(ACTIVATION_OPS) + sorted(COMPOSITE_ACTIVATIONS)} "
                                    f"or 'linear'")
        y = self.out_tensor(layer, name or f"{layer.name}/{act}", (None,) + x.shape[1:],
                            (index, "out"))
        options = _ACTIVATION_OPTIONS.get(code)
        if code == "LEAKY_RELU":
            options = ("LeakyReluOptions", {"Alpha": float(ops.DEFAULT_ALPHA["leaky_relu"])})
        self.g.add(code, [x], [y], options, layer.name)
        return y

    def unary(self, layer, code, x, name, stat, options=None):
        """One builtin op of one input, ``x``'s shape."""
        y = self.out_tensor(layer, name, (None,) + tuple(x.shape[1:]), stat)
        self.g.add(code, [x], [y], options, layer.name)
        return y

    def with_constant(self, layer, code, x, value, name, stat):
        """``code``(x, value) for a number ``value`` (ADD, MUL, SUB, DIV,
        MAXIMUM, MINIMUM)."""
        c = self.g.constant(f"{name}/operand", np.array([value], np.float32), role="param")
        return self.binary(layer, code, x, c, name, stat)

    def binary(self, layer, code, a, b, name, stat):
        """``code``(a, b) (ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM), ``a``'s shape;
        the arithmetic ones with no fused activation."""
        table = _BINARY_OPTIONS.get(code)
        options = (table, {"FusedActivationFunction": fused_activation_code("linear")}) \
            if table else None
        y = self.out_tensor(layer, name, (None,) + tuple(a.shape[1:]), stat)
        self.g.add(code, [a, b], [y], options, layer.name)
        return y

    def fully_connected(self, layer, x, kernel, bias, prefix, name, shape, stat,
                        act="linear"):
        """FULLY_CONNECTED of ``x`` by ``kernel`` (in, out) and ``bias`` (or
        None), written as constants ``prefix/kernel`` and ``prefix/bias``,
        over the last axis (inputs of rank > 2 keep their axes)."""
        g = self.g
        weights = g.constant(f"{prefix}/kernel", np.ascontiguousarray(kernel.T), role="weight")
        bias = g.constant(f"{prefix}/bias", bias, role="bias") if bias is not None else None
        y = self.out_tensor(layer, name, shape, stat)
        opts = {"FusedActivationFunction": fused_activation_code(act)}
        if len(x.shape) > 2:
            opts["KeepNumDims"] = True  # Keras applies Dense to the last axis only
        g.add("FULLY_CONNECTED", [x, weights, bias], [y], ("FullyConnectedOptions", opts),
              layer.name)
        return y

    def _composite_activation(self, layer, x, act, index, name):
        """swish as x * LOGISTIC(x); hard_sigmoid as RELU6(x + 3) / 6, as
        TensorFlow's converter writes them; softplus as the stable
        ``RELU(x) + LOG(1 + EXP(-ABS(x)))``; softsign as ``x / (1 + ABS(x))``;
        selu as ``scale * alpha * ELU(x) + scale * (1 - alpha) * RELU(x)``;
        mish as ``x * TANH(softplus(x))``."""
        base = name or f"{layer.name}/{act}"

        def stat(f):
            return derived_stat(x, index, f)
        if act == "swish":
            s = self.unary(layer, "LOGISTIC", x, f"{base}/sigmoid", stat(ops_sigmoid))
            return self.binary(layer, "MUL", x, s, base, (index, "out"))
        if act == "hard_sigmoid":
            t = self.with_constant(layer, "ADD", x, 3.0, f"{base}/add", stat(lambda v: v + 3.0))
            r = self.unary(layer, "RELU6", t, f"{base}/relu6",
                           stat(lambda v: np.clip(v + 3.0, 0.0, 6.0)))
            return self.with_constant(layer, "MUL", r, 1.0 / 6.0, base, (index, "out"))
        if act == "softsign":
            a = self.unary(layer, "ABS", x, f"{base}/abs", stat(np.abs))
            d = self.with_constant(layer, "ADD", a, 1.0, f"{base}/add",
                                   stat(lambda v: np.abs(v) + 1.0))
            return self.binary(layer, "DIV", x, d, base, (index, "out"))
        if act == "selu":
            e = self.unary(layer, "ELU", x, f"{base}/elu",
                           stat(lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0)))))
            r = self.unary(layer, "RELU", x, f"{base}/relu", stat(lambda v: np.maximum(v, 0)))
            e = self.with_constant(layer, "MUL", e, _SELU_SCALE * _SELU_ALPHA, f"{base}/neg",
                                   stat(lambda v: _SELU_SCALE * _SELU_ALPHA * np.where(
                                       v > 0, v, np.expm1(np.minimum(v, 0)))))
            r = self.with_constant(layer, "MUL", r, _SELU_SCALE * (1.0 - _SELU_ALPHA),
                                   f"{base}/pos", stat(lambda v: _SELU_SCALE * (
                                       1.0 - _SELU_ALPHA) * np.maximum(v, 0)))
            return self.binary(layer, "ADD", e, r, base, (index, "out"))
        # softplus, and mish around it
        sp_name = base if act == "softplus" else f"{base}/softplus"
        a = self.unary(layer, "ABS", x, f"{sp_name}/abs", stat(np.abs))
        n = self.unary(layer, "NEG", a, f"{sp_name}/neg", stat(lambda v: -np.abs(v)))
        e = self.unary(layer, "EXP", n, f"{sp_name}/exp", stat(lambda v: np.exp(-np.abs(v))))
        p = self.with_constant(layer, "ADD", e, 1.0, f"{sp_name}/add",
                               stat(lambda v: 1.0 + np.exp(-np.abs(v))))
        lg = self.unary(layer, "LOG", p, f"{sp_name}/log",
                        stat(lambda v: np.log1p(np.exp(-np.abs(v)))))
        r = self.unary(layer, "RELU", x, f"{sp_name}/relu", stat(lambda v: np.maximum(v, 0)))
        sp = self.binary(layer, "ADD", r, lg, sp_name,
                         (index, "out") if act == "softplus" else stat(_softplus))
        if act == "softplus":
            return sp
        t = self.unary(layer, "TANH", sp, f"{base}/tanh", stat(lambda v: np.tanh(_softplus(v))))
        return self.binary(layer, "MUL", x, t, base, (index, "out"))


def ops_sigmoid(v):
    return 1.0 / (1.0 + np.exp(-np.asarray(v, np.float64)))


def derived_stat(x, index, f):
    """Calibration of ``f(x)`` for a tensor ``x`` made inside step
    ``index`` (its pre-activation, or a value a function of the step's
    input gives) or the step's own input."""
    kind = x.stat[1] if x.stat is not None and x.stat[0] == index else None
    if kind == "pre":
        return (index, ("pre", f))
    if callable(kind):
        return (index, lambda inp, _g=kind: f(_g(inp)))
    return (index, f)


# --------------------------------------------------- fusion

def _bn_scale_shift(ctx, bn):
    """Inference-mode BatchNormalization as ``x * scale + shift``."""
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


def _emit_main(ctx, step, k, emit):
    """Shared tail of the dense/convolution handlers.  ``emit(fused, bn,
    out_stat, name)`` writes the op(s) with the activation ``fused`` fused
    and returns the output tensor."""
    layer = step.layer
    act = step.act or layer.activation
    if act in ctx.fusable or act == "linear":
        return emit(act, step.fold, (k, "out"), step.name)
    # An activation with no fused form: the op, then the activation's op
    # (named after the Activation layer that brought it, if one did).
    owner = step.nodes[-1].operation if step.act else layer
    y = emit("linear", step.fold, (k, "pre"), f"{layer.name}/BiasAdd")
    return ctx.activation(owner, y, act, k, name=step.name)


def _fold(w, b, bn_ss, out_axis_shape=None):
    """Fold ``x * scale + shift`` after ``x @ w + b`` into w and b (scale
    over w's last axis, or over ``out_axis_shape`` trailing axes)."""
    if bn_ss is None:
        return w, b
    return ops.fold_affine(w, b, *bn_ss, channel_shape=out_axis_shape)


def _out_shape(ctx, step, i=0):
    return ctx.program.shapes[step.outs[i]]


# ------------------------------------------------------------- handlers

def _dense(ctx, step, k, xs):
    layer, x = step.layer, xs[0]
    w = ctx.value(layer, layer.kernel, "kernel")
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None

    def emit(act, bn, stat, name):
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss)
        return ctx.fully_connected(layer, x, kw, kb, layer.name, name, _out_shape(ctx, step),
                                   stat, act)

    return _emit_main(ctx, step, k, emit)


def _einsum_dense(ctx, step, k, xs):
    """EinsumDense whose equation contracts axes of the input with axes of
    the kernel (Dense over several axes, MultiHeadAttention's projections):
    TRANSPOSE the contracted axes of the input last, RESHAPE them into one,
    FULLY_CONNECTED by the kernel laid out as (contracted, free), RESHAPE
    to the free axes, TRANSPOSE to the output's order, the bias folded in
    or added (ADD), then the activation."""
    layer, x = step.layer, xs[0]
    in_shape = ctx.program.shapes[step.ins[0]]
    out_shape = _out_shape(ctx, step)
    xl, wl, yl = layer._letters(len(in_shape))
    contracted = [c for c in wl if c in xl and c not in yl]
    free_x = [c for c in xl if c in yl]
    free_w = [c for c in wl if c in yl and c not in xl]
    if xl[0] != yl[0] or xl[0] in wl or any(c in wl for c in free_x) or \
            any(c not in wl and c not in yl for c in xl):
        raise ctx.error(layer, f"the equation {layer.equation!r} does not contract the input "
                               f"with the kernel as a dense layer does (the batch first in "
                               f"the input and the output, every other input axis either "
                               f"contracted with the kernel or kept); it has no TensorFlow "
                               f"Lite form in pynn.lite")
    size = {**dict(zip(xl, in_shape)), **dict(zip(yl, out_shape))}
    w = ctx.value(layer, layer.kernel, "kernel")
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    kdim = int(np.prod([size[c] for c in contracted], dtype=np.int64))
    kernel = np.transpose(w, [wl.index(c) for c in contracted + free_w]).reshape(kdim, -1)
    x_perm = [xl.index(c) for c in free_x + contracted]
    middle = [size[c] for c in free_x[1:]]
    grouped = free_x + free_w                       # the FULLY_CONNECTED's output's order
    y_perm = [grouped.index(c) for c in yl]
    # a bias along the trailing free axes of the kernel, in the output's
    # order, goes into the FULLY_CONNECTED
    fold = b is not None and y_perm == list(range(len(yl))) and \
        b.size == int(np.prod([size[c] for c in free_w])) and b.ndim <= len(free_w)
    act = step.act or layer.activation

    def values(v, upto):
        """The float value of the step's tensor ``upto`` for its input."""
        v = np.transpose(np.asarray(v, np.float64), x_perm)
        v = v.reshape(len(v), -1, kdim) @ kernel
        if fold:
            v = v + b.reshape(-1)
        v = v.reshape([len(v)] + middle + [size[c] for c in free_w])
        if upto == "fc":
            return v
        v = np.transpose(v, y_perm)
        return v + b if b is not None and not fold else v

    t = x
    if x_perm != list(range(len(xl))):
        t = _transpose_op(ctx, layer, t, x_perm, (None,) + tuple(size[c] for c in free_x[1:] +
                                                                 contracted),
                          f"{layer.name}/contracted_last")
    rows = int(np.prod(middle, dtype=np.int64))
    flat = (None, kdim) if not middle else (None, rows, kdim)
    if tuple(t.shape[1:]) != flat[1:]:
        t = ctx.reshape(layer, t, flat, f"{layer.name}/flattened")
    fc_shape = flat[:-1] + (kernel.shape[1],)
    grouped_shape = (None,) + tuple(middle) + tuple(size[c] for c in free_w)
    linear = act in ("linear", None)
    # (the FULLY_CONNECTED's output is the layer's)
    last = fc_shape == grouped_shape and y_perm == list(range(len(yl))) and \
        (b is None or fold) and linear
    y = ctx.fully_connected(layer, t, kernel, b.reshape(-1) if fold else None, layer.name,
                            step.name if last else f"{layer.name}/MatMul", fc_shape,
                            (k, "out") if last else (k, lambda v: values(v, "fc").reshape(
                                (len(v),) + fc_shape[1:])))
    if last:
        return y
    named = b is None and linear  # (the last RESHAPE or TRANSPOSE is the output)
    if y_perm != list(range(len(yl))):
        if fc_shape != grouped_shape:
            y = ctx.reshape(layer, y, grouped_shape, f"{layer.name}/unflattened")
        y = _transpose_op(ctx, layer, y, y_perm, out_shape,
                          step.name if named else f"{layer.name}/output_order")
    elif fc_shape != grouped_shape or named:
        y = ctx.reshape(layer, y, out_shape,
                        step.name if named else f"{layer.name}/unflattened")
    if b is not None and not fold:
        bias = ctx.g.constant(f"{layer.name}/bias", b, role="bias")
        y = ctx.binary(layer, "ADD", y, bias, step.name if linear else f"{layer.name}/BiasAdd",
                       (k, "out") if linear else (k, lambda v: values(v, "out")))
    if linear:
        return y
    owner = step.nodes[-1].operation if step.act else layer
    return ctx.activation(owner, y, act, k, name=step.name)


def _conv_options(layer, act, strides, dilation, padding, depth_multiplier=None):
    opts = {"Padding": padding_code(padding), "StrideW": int(strides[1]),
            "StrideH": int(strides[0]), "FusedActivationFunction": fused_activation_code(act),
            "DilationWFactor": int(dilation[1]), "DilationHFactor": int(dilation[0])}
    if depth_multiplier is not None:
        opts["DepthMultiplier"] = int(depth_multiplier)
    return opts


def _conv2d(ctx, step, k, xs):
    layer, x = step.layer, xs[0]
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
        y = ctx.out_tensor(layer, name, _out_shape(ctx, step), stat)
        g.add("CONV_2D", [x, filt, bias], [y],
              ("Conv2DOptions", _conv_options(layer, act, layer.strides, layer.dilation_rate,
                                              layer.padding)), layer.name)
        return y

    return _emit_main(ctx, step, k, emit)


def _conv3d(ctx, step, k, xs):
    """Conv3D -> CONV_3D (its filter is Keras's (kd, kh, kw, in, out);
    float kernels only in TFLite)."""
    layer, x = step.layer, xs[0]
    if getattr(layer, "groups", 1) != 1:
        raise ctx.error(layer, f"grouped convolution (groups={layer.groups}) is not exported")
    w = ctx.value(layer, layer.kernel, "kernel")
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None

    def emit(act, bn, stat, name):
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss)
        g = ctx.g
        inputs = [x, g.constant(f"{layer.name}/kernel", kw, role="weight")]
        if kb is not None:
            inputs.append(g.constant(f"{layer.name}/bias", kb, role="bias"))
        y = ctx.out_tensor(layer, name, _out_shape(ctx, step), stat)
        (sd, sh, sw), (dd, dh, dw) = layer.strides, layer.dilation_rate
        g.add("CONV_3D", inputs, [y], ("Conv3DOptions", {
            "Padding": padding_code(layer.padding), "StrideD": int(sd), "StrideH": int(sh),
            "StrideW": int(sw), "FusedActivationFunction": fused_activation_code(act),
            "DilationDFactor": int(dd), "DilationHFactor": int(dh),
            "DilationWFactor": int(dw)}), layer.name)
        return y

    return _emit_main(ctx, step, k, emit)


def _depthwise_filter(w):
    """(kh, kw, cin, mult), or a 1-D layer's (kw, cin, mult), -> TFLite's
    [1, kh, kw, cin * mult]; output channel c * mult + m in both."""
    *spatial, cin, mult = w.shape
    kh, kw = ([1] + spatial)[-2:]
    return w.reshape(1, kh, kw, cin * mult)


def _height1(ctx, layer, x):
    """A 1-D layer's input (batch, steps, channels) as the height-1 image
    the 2-D ops take, padded in front for 'causal' padding; with the 2-D
    op's strides, dilation and padding."""
    _, width, cin = x.shape
    h = ctx.reshape(layer, x, (None, 1, width, cin), f"{layer.name}/expand")
    (ksize,), (stride,), (dilation,) = layer.kernel_size, layer.strides, layer.dilation_rate
    padding = layer.padding
    if padding == "causal":
        left = (ksize - 1) * dilation
        padded = ctx.out_tensor(layer, f"{layer.name}/causal_pad", (None, 1, width + left, cin),
                                None)
        ctx.g.add("PAD", [h, ctx.int32(f"{layer.name}/paddings",
                                       [[0, 0], [0, 0], [left, 0], [0, 0]])], [padded],
                  ("PadOptions", {}), layer.name)
        h, padding = padded, "valid"
    return h, (1, stride), (1, dilation), padding


def _spatial(ctx, layer, x):
    """The input, strides, dilation and padding of a 2-D op for ``layer``
    (a 1-D layer at height 1)."""
    if layer.rank == 1:
        return _height1(ctx, layer, x)
    return x, layer.strides, layer.dilation_rate, layer.padding


def _shape2d(layer, shape):
    return (shape[0], 1) + tuple(shape[1:]) if layer.rank == 1 else shape


def _back_to_1d(ctx, layer, y, shape, name):
    """A 1-D layer's height-1 output back to (batch, steps, channels)."""
    return ctx.reshape(layer, y, shape, name) if layer.rank == 1 else y


def _depthwise2d(ctx, step, k, xs):
    """DepthwiseConv2D, and DepthwiseConv1D at height 1."""
    layer = step.layer
    w = ctx.value(layer, layer.depthwise_kernel, "depthwise_kernel")
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    cin, mult = w.shape[-2:]
    out_shape = _out_shape(ctx, step)

    def emit(act, bn, stat, name):
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss, out_axis_shape=(cin, mult))
        if kb is None:
            kb = np.zeros(cin * mult, np.float32)
        g = ctx.g
        x, strides, dilation, padding = _spatial(ctx, layer, xs[0])
        filt = g.constant(f"{layer.name}/depthwise_kernel", _depthwise_filter(kw),
                          role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias")
        y = ctx.out_tensor(layer, f"{name}/conv" if layer.rank == 1 else name,
                           _shape2d(layer, out_shape), stat)
        g.add("DEPTHWISE_CONV_2D", [x, filt, bias], [y],
              ("DepthwiseConv2DOptions", _conv_options(
                  layer, act, strides, dilation, padding, layer.depth_multiplier)), layer.name)
        return _back_to_1d(ctx, layer, y, out_shape, name)

    return _emit_main(ctx, step, k, emit)


def _separable2d(ctx, step, k, xs):
    """SeparableConv2D, and SeparableConv1D at height 1."""
    layer = step.layer
    dw = ctx.value(layer, layer.depthwise_kernel, "depthwise_kernel")
    pw = ctx.value(layer, layer.pointwise_kernel, "pointwise_kernel")  # (1, [1,] cin*m, f)
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    cin, mult = dw.shape[-2:]
    out_shape = _out_shape(ctx, step)
    mid_shape = _shape2d(layer, tuple(out_shape[:-1]) + (cin * mult,))

    def emit(act, bn, stat, name):
        g = ctx.g
        x, strides, dilation, padding = _spatial(ctx, layer, xs[0])
        filt = g.constant(f"{layer.name}/depthwise_kernel", _depthwise_filter(dw),
                          role="weight")
        zero = g.constant(f"{layer.name}/depthwise_bias", np.zeros(cin * mult, np.float32),
                          role="bias")
        mid = ctx.out_tensor(layer, f"{layer.name}/depthwise", mid_shape,
                             (k, _separable_depthwise_fn(layer, ctx.program.shapes[step.ins[0]])))
        g.add("DEPTHWISE_CONV_2D", [x, filt, zero], [mid],
              ("DepthwiseConv2DOptions", _conv_options(
                  layer, "linear", strides, dilation, padding, mult)),
              layer.name)
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(pw, b, bn_ss)
        if kb is None:
            kb = np.zeros(kw.shape[-1], np.float32)
        pfilt = g.constant(f"{layer.name}/pointwise_kernel",
                           kw.reshape(1, 1, *kw.shape[-2:]).transpose(3, 0, 1, 2), role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias")
        y = ctx.out_tensor(layer, f"{name}/conv" if layer.rank == 1 else name,
                           _shape2d(layer, out_shape), stat)
        g.add("CONV_2D", [mid, pfilt, bias], [y],
              ("Conv2DOptions", _conv_options(layer, act, (1, 1), (1, 1), "valid")),
              layer.name)
        return _back_to_1d(ctx, layer, y, out_shape, name)

    return _emit_main(ctx, step, k, emit)


def _separable_depthwise_fn(layer, input_shape):
    """Calibration: the depthwise half of a SeparableConv2D (or 1D),
    computed by a DepthwiseConv2D (or 1D) layer holding the same kernel."""
    cache = {}

    def fn(x):
        dw = cache.get("layer")
        if dw is None:
            from ..layers import DepthwiseConv1D, DepthwiseConv2D
            kind = DepthwiseConv1D if layer.rank == 1 else DepthwiseConv2D
            dw = kind(kernel_size=layer.kernel_size, strides=layer.strides,
                      padding=layer.padding, depth_multiplier=layer.depth_multiplier,
                      dilation_rate=layer.dilation_rate, use_bias=False)
            dw.build_for(input_shape)
            dw.depthwise_kernel.assign(layer.depthwise_kernel.value)
            cache["layer"] = dw
        return dw.call(x, training=False)
    return fn


def _conv1d(ctx, step, k, xs):
    layer = step.layer
    if getattr(layer, "groups", 1) != 1:
        raise ctx.error(layer, f"grouped convolution (groups={layer.groups}) is not exported")
    w = ctx.value(layer, layer.kernel, "kernel")  # (k, cin, f)
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    filters = w.shape[2]

    def emit(act, bn, stat, name):
        g = ctx.g
        h, strides, dilation, padding = _height1(ctx, layer, xs[0])
        bn_ss = _bn_scale_shift(ctx, bn) if bn is not None else None
        kw, kb = _fold(w, b, bn_ss)
        if kb is None:
            kb = np.zeros(filters, np.float32)
        filt = g.constant(f"{layer.name}/kernel", kw.transpose(2, 0, 1)[:, None, :, :],
                          role="weight")
        bias = g.constant(f"{layer.name}/bias", kb, role="bias")
        out_w = _out_shape(ctx, step)[1]
        y4 = ctx.out_tensor(layer, f"{name}/conv", (None, 1, out_w, filters), stat)
        g.add("CONV_2D", [h, filt, bias], [y4],
              ("Conv2DOptions", _conv_options(layer, act, strides, dilation, padding)),
              layer.name)
        return ctx.reshape(layer, y4, (None, out_w, filters), name)

    return _emit_main(ctx, step, k, emit)


def _pool2d(code):
    def handler(ctx, step, k, xs):
        layer = step.layer
        y = ctx.out_tensor(layer, step.name, _out_shape(ctx, step), None)
        ctx.g.add(code, [xs[0]], [y], ("Pool2DOptions", {
            "Padding": padding_code(layer.padding), "StrideW": int(layer.strides[1]),
            "StrideH": int(layer.strides[0]), "FilterWidth": int(layer.pool_size[1]),
            "FilterHeight": int(layer.pool_size[0])}), layer.name)
        return y
    return handler


def _pool3d(code):
    """3-D pooling as two 2-D ones (a box's max, or its mean over the
    positions inside the input, is that over depth of that over height and
    width): the depths RESHAPEd into the batch for the height and width,
    then height and width as one axis for the depth."""
    def handler(ctx, step, k, xs):
        layer, x = step.layer, xs[0]
        _, d, h, w, ch = x.shape
        _, od, oh, ow, _ = _out_shape(ctx, step)
        (kd, kh, kw), (sd, sh, sw) = layer.pool_size, layer.strides

        def pool(t, shape, fh, fw, st_h, st_w, name):
            y = ctx.out_tensor(layer, name, shape, None)
            ctx.g.add(code, [t], [y], ("Pool2DOptions", {
                "Padding": padding_code(layer.padding), "StrideW": int(st_w),
                "StrideH": int(st_h), "FilterWidth": int(fw), "FilterHeight": int(fh)}),
                layer.name)
            return y
        planes = ctx.reshape(layer, x, (None, h, w, ch), f"{layer.name}/planes")
        planes = pool(planes, (None, oh, ow, ch), kh, kw, sh, sw, f"{layer.name}/height_width")
        depth = ctx.reshape(layer, planes, (None, d, oh * ow, ch), f"{layer.name}/depth_rows")
        depth = pool(depth, (None, od, oh * ow, ch), kd, 1, sd, 1, f"{layer.name}/depth")
        return ctx.reshape(layer, depth, _out_shape(ctx, step), step.name)
    return handler


def _pool1d(code):
    def handler(ctx, step, k, xs):
        layer, x = step.layer, xs[0]
        _, width, ch = x.shape
        out_w = _out_shape(ctx, step)[1]
        h = ctx.reshape(layer, x, (None, 1, width, ch), f"{layer.name}/expand")
        y4 = ctx.out_tensor(layer, f"{layer.name}/pool", (None, 1, out_w, ch), None)
        ctx.g.add(code, [h], [y4], ("Pool2DOptions", {
            "Padding": padding_code(layer.padding), "StrideW": int(layer.strides[0]),
            "StrideH": 1, "FilterWidth": int(layer.pool_size[0]), "FilterHeight": 1}),
            layer.name)
        return ctx.reshape(layer, y4, (None, out_w, ch), step.name)
    return handler


def _global_pool(code, axes):
    def handler(ctx, step, k, xs):
        layer = step.layer
        if ctx.in_masks and ctx.in_masks[0] is not None:
            return _masked_average_1d(ctx, step, k, xs[0], ctx.in_masks[0])
        y = ctx.out_tensor(layer, step.name, _out_shape(ctx, step), None)
        keep = bool(getattr(layer, "keepdims", False))
        # (channels first: the axes after the channels')
        over = [a + 1 for a in axes] if layer.data_format == "channels_first" else axes
        ctx.g.add(code, [xs[0], ctx.int32(f"{layer.name}/axes", over)], [y],
                  ("ReducerOptions", {"KeepDims": keep}), layer.name)
        return y
    return handler


def _adaptive_windows(length, n):
    """Window i of an axis of ``length`` pooled into ``n``: [floor(i * length
    / n), ceil((i + 1) * length / n)), as Keras 3 and pynn divide it."""
    i = np.arange(n)
    return i * length // n, -(-(i + 1) * length // n)


def _adaptive_values(v, axes, sizes, kind):
    """The adaptive pooling of ``v`` over ``axes`` into ``sizes`` in NumPy
    (calibration of the exported ops' tensors)."""
    v = np.asarray(v, np.float64)
    reduce = np.max if kind == "max" else np.mean
    for axis, n in zip(axes, sizes):
        starts, ends = _adaptive_windows(v.shape[axis], n)
        v = np.concatenate([reduce(np.take(v, np.arange(a, b), axis=axis), axis=axis,
                                   keepdims=True) for a, b in zip(starts, ends)], axis=axis)
    return v


def _adaptive_pool(ctx, step, k, xs):
    """Adaptive pooling, one spatial axis at a time: the average as a
    FULLY_CONNECTED by the windows' averaging matrix over that axis (moved
    last by TRANSPOSEs where it is not); the max as REDUCE_MAX of each
    window's SLICE, CONCATENATION of them."""
    layer, y = step.layer, xs[0]
    shape = list(ctx.program.shapes[step.ins[0]])
    first = 2 if layer.data_format == "channels_first" else 1
    axes = list(range(first, first + layer.rank))
    rank = len(shape)
    g = ctx.g
    for j, (axis, n) in enumerate(zip(axes, layer.output_size)):
        length = shape[axis]
        if n == length:
            continue
        starts, ends = _adaptive_windows(length, n)
        shape[axis] = n
        name = f"{layer.name}/axis_{axis}"

        def stat(v, done=j + 1):
            return _adaptive_values(v, axes[:done], layer.output_size[:done], layer.kind)
        if layer.kind == "max":
            pieces = []
            for i, (a, b) in enumerate(zip(starts, ends)):
                size = (None,) + tuple(b - a if d == axis else shape[d] for d in range(1, rank))
                begin = [int(a) if d == axis else 0 for d in range(1, rank)]
                window = _slice_op(ctx, layer, y, begin, size, f"{name}/window_{i}")
                m = ctx.out_tensor(layer, f"{name}/max_{i}",
                                   size[:axis] + (1,) + size[axis + 1:], None)
                g.add("REDUCE_MAX", [window, ctx.int32(f"{name}/axis", [axis])], [m],
                      ("ReducerOptions", {"KeepDims": True}), layer.name)
                pieces.append(m)
            y = ctx.out_tensor(layer, name, tuple(shape), (k, stat))
            g.add("CONCATENATION", pieces, [y], ("ConcatenationOptions", {
                "Axis": axis, "FusedActivationFunction": 0}), layer.name)
            continue
        averaging = np.zeros((n, length), np.float32)
        for i, (a, b) in enumerate(zip(starts, ends)):
            averaging[i, a:b] = 1.0 / (b - a)
        perm = [d for d in range(rank) if d != axis] + [axis]
        moved = tuple(shape[d] for d in perm[:-1])
        if axis != rank - 1:
            y = _transpose_op(ctx, layer, y, perm, moved + (length,), f"{name}/last")
        y = ctx.fully_connected(layer, y, averaging.T, None, name, f"{name}/mean",
                                moved + (n,), (k, lambda v, f=stat, p=perm:
                                               np.transpose(f(v), p)))
        if axis != rank - 1:
            y = _transpose_op(ctx, layer, y, list(np.argsort(perm)), tuple(shape),
                              f"{name}/back")
    return ctx.reshape(layer, y, _out_shape(ctx, step), step.name, (k, "out"))


# Full integer: the masked mean's weights are SOFTMAX((mask - 1) * this),
# 1 / count on the kept steps and exp(-20) / count, 0 in int8, on the others.
MASKED_MEAN_LOGIT = 20.0


def _masked_average_1d(ctx, step, k, x, mask):
    """GlobalAveragePooling1D over the unmasked steps, as pynn's and
    Keras's: the mask divided by its count (at least 1: a row with every
    step masked gives zeros) weighs the steps, SUM adds them up.  In full
    integer (no int8 DIV) the weights are a SOFTMAX of the mask, and the
    steps are masked first (a row with every step masked: zeros)."""
    layer, g = step.layer, ctx.g
    _, steps, ch = x.shape
    if ctx.int8:
        logits = ctx.with_constant(layer, "MUL", ctx.with_constant(
            layer, "SUB", mask, 1.0, f"{layer.name}/mask_off", ("range", -1.0, 0.0)),
            MASKED_MEAN_LOGIT, f"{layer.name}/mask_logits", ("range", -MASKED_MEAN_LOGIT, 0.0))
        weights = ctx.unary(layer, "SOFTMAX", logits, f"{layer.name}/mask_weights", None,
                            _ACTIVATION_OPTIONS["SOFTMAX"])
        column = ctx.reshape(layer, mask, (None, steps, 1), f"{layer.name}/mask_column")
        kept = ctx.binary(layer, "MUL", x, column, f"{layer.name}/kept", (k, (
            "masked", lambda inp, m: np.asarray(inp) * np.asarray(m, np.float32)[..., None])))
        weights = ctx.reshape(layer, weights, (None, steps, 1),
                              f"{layer.name}/mask_weights_column")
        weighted = ctx.binary(layer, "MUL", kept, weights, f"{layer.name}/weighted", (k, (
            "masked", lambda inp, m: np.asarray(inp) * (np.asarray(m, np.float32) / np.maximum(
                np.sum(m, axis=1, keepdims=True), 1))[..., None])))
        y = ctx.out_tensor(layer, step.name, _out_shape(ctx, step), (k, "out"))
        g.add("SUM", [weighted, ctx.int32(f"{layer.name}/axes", [1])], [y],
              ("ReducerOptions", {"KeepDims": bool(getattr(layer, "keepdims", False))}),
              layer.name)
        return y
    count = ctx.out_tensor(layer, f"{layer.name}/mask_count", (None, 1), None)
    g.add("SUM", [mask, ctx.int32(f"{layer.name}/steps_axis", [1])], [count],
          ("ReducerOptions", {"KeepDims": True}), layer.name)
    count = ctx.with_constant(layer, "MAXIMUM", count, 1.0, f"{layer.name}/mask_count_1", None)
    weights = ctx.out_tensor(layer, f"{layer.name}/mask_weights", (None, steps), None)
    g.add("DIV", [mask, count], [weights],
          ("DivOptions", {"FusedActivationFunction": fused_activation_code("linear")}),
          layer.name)
    weights = ctx.reshape(layer, weights, (None, steps, 1), f"{layer.name}/mask_weights_column")
    weighted = ctx.binary(layer, "MUL", x, weights, f"{layer.name}/weighted", None)
    y = ctx.out_tensor(layer, step.name, _out_shape(ctx, step), None)
    g.add("SUM", [weighted, ctx.int32(f"{layer.name}/axes", [1])], [y],
          ("ReducerOptions", {"KeepDims": bool(getattr(layer, "keepdims", False))}),
          layer.name)
    return y


def _reshape(ctx, step, k, xs):
    return ctx.reshape(step.layer, xs[0], _out_shape(ctx, step), step.name)


def _activation(ctx, step, k, xs):
    return ctx.activation(step.layer, xs[0], step.layer.activation, k, name=step.name)


def _batchnorm(ctx, step, k, xs):
    """A BatchNormalization with no dense or convolution layer before it
    to fold into: MUL by scale, ADD shift."""
    layer = step.layer
    scale, shift = _bn_scale_shift(ctx, layer)
    g = ctx.g
    s = g.constant(f"{layer.name}/scale", scale, role="param")
    t = g.constant(f"{layer.name}/shift", shift, role="param")
    shape = _out_shape(ctx, step)
    mid = ctx.out_tensor(layer, f"{layer.name}/mul", shape,
                         (k, lambda inp, _s=scale: np.asarray(inp) * _s))
    none = {"FusedActivationFunction": fused_activation_code("linear")}
    g.add("MUL", [xs[0], s], [mid], ("MulOptions", dict(none)), layer.name)
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
    g.add("ADD", [mid, t], [y], ("AddOptions", dict(none)), layer.name)
    return y


_BINARY_OPS = {"Add": ("ADD", "AddOptions"), "Subtract": ("SUB", "SubOptions"),
               "Multiply": ("MUL", "MulOptions"), "Maximum": ("MAXIMUM", None),
               "Minimum": ("MINIMUM", None), "Average": ("ADD", "AddOptions")}


def _elementwise(ctx, step, k, xs):
    """A merge layer as a chain of binary ops (ADD, SUB, MUL, MAXIMUM,
    MINIMUM); Average adds, then multiplies by 1/n."""
    layer = step.layer
    kind = _layer_kind(layer)
    code, table = _BINARY_OPS[kind]
    shape = _out_shape(ctx, step)
    g = ctx.g
    none = {"FusedActivationFunction": fused_activation_code("linear")}
    opts = (table, dict(none)) if table else None
    acc = xs[0]
    last = len(xs) - 1
    average = kind == "Average"
    for i, x in enumerate(xs[1:], 1):
        final = i == last and not average
        name = step.name if final else f"{layer.name}/{code.lower()}_{i}"
        stat = (k, "out") if final else (k, _partial_fn(layer, i))
        y = ctx.out_tensor(layer, name, shape, stat)
        g.add(code, [acc, x], [y], opts, layer.name)
        acc = y
    if average:
        inv = g.constant(f"{layer.name}/inv_count", np.full((1,), 1.0 / len(xs), np.float32),
                         role="param")
        y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
        g.add("MUL", [acc, inv], [y], ("MulOptions", dict(none)), layer.name)
        acc = y
    return acc


# Operations on symbolic tensors (TensorOperation layers) with a builtin
# form: the binary ones broadcast as TFLite's kernels do, a number or an
# array among their operands becomes a constant; the unary ones are one op
# each, or an activation's ops.
_TENSOR_BINARY_OPS = {"add": ("ADD", "AddOptions"), "subtract": ("SUB", "SubOptions"),
                      "multiply": ("MUL", "MulOptions"), "divide": ("DIV", "DivOptions"),
                      "true_divide": ("DIV", "DivOptions"), "maximum": ("MAXIMUM", None),
                      "minimum": ("MINIMUM", None), "power": ("POW", None)}
# The options table of each arithmetic op (none for MAXIMUM, MINIMUM, POW).
_BINARY_OPTIONS = {code: table for code, table in _TENSOR_BINARY_OPS.values() if table}
_TENSOR_UNARY_OPS = {"negative": "NEG", "exp": "EXP", "log": "LOG", "sqrt": "SQRT",
                     "rsqrt": "RSQRT", "abs": "ABS", "square": "SQUARE", "tanh": "TANH",
                     "sigmoid": "LOGISTIC", "relu": "RELU", "relu6": "RELU6",
                     "hard_swish": "HARD_SWISH", "sin": "SIN", "cos": "COS", "floor": "FLOOR",
                     "ceil": "CEIL", "sign": "SIGN"}
_TENSOR_ACTIVATIONS = {"swish": "swish", "silu": "swish", "hard_sigmoid": "hard_sigmoid",
                       "softplus": "softplus", "softsign": "softsign", "selu": "selu",
                       "mish": "mish"}
# Operations with arguments of their own (_tensor_operation_with_arguments).
_TENSOR_ARGUMENT_OPS = {"clip": ("x_min", "x_max"), "cumsum": ("axis", "dtype"),
                        "softmax": ("axis",), "log_softmax": ("axis",),
                        "gelu": ("approximate",), "getitem": ("key",),
                        "conv": ("kernel", "strides", "padding", "data_format",
                                 "dilation_rate"),
                        "cast": ("dtype",)}
# Reductions over axes other than the batch's, and the shape operations.
_TENSOR_REDUCTIONS = {"mean": "MEAN", "sum": "SUM", "max": "REDUCE_MAX", "min": "REDUCE_MIN"}
_TENSOR_SHAPE_OPS = ("reshape", "transpose", "expand_dims", "swapaxes", "moveaxis")
# Comparisons, giving bool tensors (a padding mask: ops.not_equal(ids, 0)).
_TENSOR_COMPARISONS = {"equal": "EQUAL", "not_equal": "NOT_EQUAL", "greater": "GREATER",
                       "greater_equal": "GREATER_EQUAL", "less": "LESS",
                       "less_equal": "LESS_EQUAL"}
# The keyword arguments each operation may be recorded with.
_TENSOR_KWARGS = {**{op: ("axis", "keepdims") for op in _TENSOR_REDUCTIONS},
                  "reshape": ("newshape",), "transpose": ("axes",), "expand_dims": ("axis",),
                  "swapaxes": ("axis1", "axis2"), "moveaxis": ("source", "destination"),
                  **_TENSOR_ARGUMENT_OPS}


def _tensor_operation(ctx, step, k, xs):
    layer = step.layer
    op, args = layer.op, layer.args
    exportable = sorted(set(_TENSOR_BINARY_OPS) | set(_TENSOR_UNARY_OPS) |
                        set(_TENSOR_ACTIVATIONS) | set(_TENSOR_REDUCTIONS) |
                        set(_TENSOR_SHAPE_OPS) | set(_TENSOR_ARGUMENT_OPS) |
                        set(_TENSOR_COMPARISONS) | {"matmul"})
    if op not in exportable:
        raise ctx.error(layer, f"the operation {op!r} has no TensorFlow Lite form in pynn.lite; "
                               f"exportable operations: {', '.join(exportable)}")
    unknown = sorted(set(layer.kwargs) - set(_TENSOR_KWARGS.get(op, ())))
    if unknown:
        raise ctx.error(layer, f"the operation {op!r} with keyword arguments {unknown} has no "
                               f"TensorFlow Lite form in pynn.lite")
    shape = _out_shape(ctx, step)
    if op in _TENSOR_REDUCTIONS or op in _TENSOR_SHAPE_OPS:
        return _tensor_shape_operation(ctx, step, k, xs, shape)
    if op in _TENSOR_ARGUMENT_OPS:
        return _tensor_operation_with_arguments(ctx, step, k, xs, shape)
    if op == "matmul":
        return _tensor_matmul(ctx, step, k, xs, shape)
    if op in _TENSOR_UNARY_OPS or op in _TENSOR_ACTIVATIONS:
        if len(args) != 1 or args[0] != {"__tensor__": 0}:
            raise ctx.error(layer, f"the operation {op!r} takes one tensor here")
        if op in _TENSOR_ACTIVATIONS:
            return ctx.activation(layer, xs[0], _TENSOR_ACTIVATIONS[op], k, name=step.name)
        y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
        ctx.g.add(_TENSOR_UNARY_OPS[op], [xs[0]], [y], None, layer.name)
        return y
    if len(args) != 2:
        raise ctx.error(layer, f"the operation {op!r} takes two operands here")
    if op in _TENSOR_COMPARISONS:
        return _tensor_comparison(ctx, step, xs, shape)
    code, table = _TENSOR_BINARY_OPS[op]
    operands = []
    args = layer.arguments(xs)[0]
    # (integers stay integers: a mask cast to int32 and combined by
    # ops.minimum with another, as DLwP's decoder does)
    dtype = next((a.dtype for a in args if any(a is x for x in xs)), np.dtype(np.float32))
    if dtype.kind == "b" or (dtype.kind in "iu" and code in ("DIV", "POW")):
        raise ctx.error(layer, f"the operation {op!r} on {dtype} tensors has no TensorFlow "
                               f"Lite form in pynn.lite")
    for i, arg in enumerate(args):
        if any(arg is x for x in xs):
            operands.append(arg)
            continue
        value = np.asarray(arg)
        if value.dtype.kind not in "biuf" or (dtype.kind in "iu" and value.dtype.kind == "f"
                                              and not np.all(value == np.round(value))):
            raise ctx.error(layer, f"the operand {arg!r} of {op!r} is not numbers of the "
                                   f"tensor's type ({dtype})")
        value = value.astype(np.int32 if dtype.kind in "iu" else np.float32)
        if ctx.traced_batch and value.ndim == len(shape) and value.shape[0] > 1:
            # (a constant made from the batch size a call was traced with:
            # one row, where the rows agree)
            if value.shape[0] != ctx.traced_batch or np.any(value != value[:1]):
                raise ctx.error(layer, f"the operand of {op!r} of shape {value.shape} depends "
                                       f"on the batch size; it cannot be exported")
            value = value[:1]
        if code == "DIV" and i == 1 and np.all(value != 0) and dtype.kind == "f":
            # x / c as x * (1 / c), as TensorFlow's converter writes it (within
            # a unit in the last place; MUL has int8 kernels, DIV has not)
            code, table, value = "MUL", "MulOptions", (1.0 / value).astype(np.float32)
        operands.append(ctx.g.constant(f"{layer.name}/operand_{i}",
                                       value.reshape(value.shape if value.ndim else (1,)),
                                       role="param"))
    none = {"FusedActivationFunction": fused_activation_code("linear")}
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"),
                       dtype=np.int32 if dtype.kind in "iu" else np.float32)
    ctx.g.add(code, operands, [y], (table, dict(none)) if table else None, layer.name)
    return y


def _tensor_comparison(ctx, step, xs, shape):
    """ops.equal, not_equal, greater, ... -> EQUAL, NOT_EQUAL, GREATER, ...
    (a bool tensor), a number operand a constant of the tensor's type."""
    layer = step.layer
    tensors = [x for x in layer.arguments(xs)[0] if any(x is t for t in xs)]
    dtype = tensors[0].dtype
    if any(t.dtype != dtype for t in tensors):
        raise ctx.error(layer, f"the operands of {layer.op!r} must have one type here")
    operands = []
    for i, arg in enumerate(layer.arguments(xs)[0]):
        if any(arg is x for x in xs):
            operands.append(arg)
            continue
        value = np.asarray(arg)
        if value.dtype.kind not in "biuf" or (dtype == np.int32 and
                                              np.any(value != np.round(value))):
            raise ctx.error(layer, f"the operand {arg!r} of {layer.op!r} is not a number of "
                                   f"the tensor's type")
        value = value.astype(dtype)
        operands.append(ctx.g.constant(f"{layer.name}/operand_{i}",
                                       value.reshape(value.shape if value.ndim else (1,)),
                                       role="shape"))
    y = ctx.out_tensor(layer, step.name, shape, None, dtype=np.bool_)
    ctx.g.add(_TENSOR_COMPARISONS[layer.op], operands, [y], None, layer.name)
    return y


def _tensor_shape_operation(ctx, step, k, xs, shape):
    """ops.mean/sum/max/min over axes other than the batch's (MEAN, SUM,
    REDUCE_MAX, REDUCE_MIN), ops.reshape and ops.expand_dims (RESHAPE),
    and ops.transpose, ops.swapaxes and ops.moveaxis keeping the batch axis
    first (TRANSPOSE)."""
    layer, op = step.layer, step.layer.op
    names = ("x",) + _TENSOR_KWARGS[op]
    if len(layer.args) > len(names) or layer.args[:1] != [{"__tensor__": 0}]:
        raise ctx.error(layer, f"the operation {op!r} takes one tensor first here")
    args, kwargs = layer.arguments(xs)
    given = {**dict(zip(names, args)), **kwargs}
    rank = len(xs[0].shape)
    if op == "expand_dims" and shape[0] is not None:
        raise ctx.error(layer, "expand_dims before the batch axis has no TensorFlow Lite form "
                               "in pynn.lite")
    if op in ("reshape", "expand_dims"):
        return ctx.reshape(layer, xs[0], shape, step.name)
    if op in ("transpose", "swapaxes", "moveaxis"):
        axes = given.get("axes")
        perm = list(range(rank))[::-1] if axes is None else \
            [int(a) % rank for a in (axes if isinstance(axes, (list, tuple)) else [axes])]
        if op == "swapaxes":
            a, b = int(given["axis1"]) % rank, int(given["axis2"]) % rank
            perm = list(range(rank))
            perm[a], perm[b] = b, a
            axes = (given["axis1"], given["axis2"])
        elif op == "moveaxis":
            # (NumPy's rule: the other axes keep their order, the moved ones
            # are put in at their destinations)
            src, dst = given["source"], given["destination"]
            src = [int(a) % rank for a in (src if isinstance(src, (list, tuple)) else [src])]
            dst = [int(a) % rank for a in (dst if isinstance(dst, (list, tuple)) else [dst])]
            perm = [a for a in range(rank) if a not in src]
            for d, a in sorted(zip(dst, src)):
                perm.insert(d, a)
            axes = (given["source"], given["destination"])
        if perm[0] != 0:
            raise ctx.error(layer, f"a transpose that moves the batch axis (axes {axes}) has no "
                                   f"TensorFlow Lite form in pynn.lite")
        return _transpose_op(ctx, layer, xs[0], perm, shape, step.name, (k, "out"))
    axis = given.get("axis")
    axes = list(range(rank)) if axis is None else \
        [int(a) % rank for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    if 0 in axes:
        raise ctx.error(layer, f"a reduction over the batch axis (axis {axis}) has no "
                               f"TensorFlow Lite form in pynn.lite")
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
    ctx.g.add(_TENSOR_REDUCTIONS[op], [xs[0], ctx.int32(f"{layer.name}/axes", sorted(axes))], [y],
              ("ReducerOptions", {"KeepDims": bool(given.get("keepdims", False))}), layer.name)
    return y


def _tensor_operation_with_arguments(ctx, step, k, xs, shape):
    """ops.clip (MAXIMUM, MINIMUM), ops.cumsum (CUMSUM), ops.softmax and
    ops.log_softmax (SOFTMAX, LOG_SOFTMAX; over another axis than the last
    between two TRANSPOSEs), ops.gelu (GELU) and ``x[...]`` (STRIDED_SLICE,
    then a RESHAPE where the key adds axes)."""
    layer, op = step.layer, step.layer.op
    names = ("x",) + _TENSOR_ARGUMENT_OPS[op]
    if len(layer.args) > len(names) or layer.args[:1] != [{"__tensor__": 0}] or len(xs) != 1:
        raise ctx.error(layer, f"the operation {op!r} takes one tensor first here")
    args, kwargs = layer.arguments(xs)
    given = {**dict(zip(names, args)), **kwargs}
    x, rank, out = xs[0], len(xs[0].shape), (k, "out")
    if op == "clip":
        lo, hi = given.get("x_min"), given.get("x_max")
        if any(isinstance(v, (list, tuple, np.ndarray)) or not isinstance(
                v, (int, float, np.number)) for v in (lo, hi)):
            raise ctx.error(layer, f"ops.clip exports with numbers for x_min and x_max, got "
                                   f"{lo!r} and {hi!r}")
        m = ctx.with_constant(layer, "MAXIMUM", x, float(lo), f"{step.name}/max",
                              derived_stat(x, k, lambda v: np.maximum(v, lo)))
        return ctx.with_constant(layer, "MINIMUM", m, float(hi), step.name, out)
    if op == "gelu":
        y = ctx.out_tensor(layer, step.name, shape, out)
        ctx.g.add("GELU", [x], [y], ("GeluOptions", {"Approximate": bool(
            given.get("approximate", True))}), layer.name)
        return y
    if op == "getitem":
        return _strided_slice(ctx, layer, x, given["key"], shape, step.name, out)
    if op == "conv":
        return _tensor_conv(ctx, layer, x, given, shape, step.name, out)
    if op == "cast":
        return _tensor_cast(ctx, layer, x, given.get("dtype"), shape, step.name, out)
    axis = given.get("axis", -1 if op != "cumsum" else None)
    if axis is None or isinstance(axis, (list, tuple)) or int(axis) % rank == 0:
        raise ctx.error(layer, f"ops.{op} over axis {axis!r} has no TensorFlow Lite form in "
                               f"pynn.lite: it exports over one axis other than the batch's")
    axis = int(axis) % rank
    if op == "cumsum":
        if given.get("dtype") not in (None, "float32"):
            raise ctx.error(layer, "ops.cumsum exports in float32 only")
        y = ctx.out_tensor(layer, step.name, shape, out)
        ctx.g.add("CUMSUM", [x, ctx.g.constant(f"{layer.name}/axis", np.array(axis, np.int32),
                                                role="shape")], [y],
                  ("CumsumOptions", {"Exclusive": False, "Reverse": False}), layer.name)
        return y
    code = {"softmax": "SOFTMAX", "log_softmax": "LOG_SOFTMAX"}[op]
    if axis == rank - 1:
        return ctx.unary(layer, code, x, step.name, out, _ACTIVATION_OPTIONS[code])
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = tuple(shape[i] for i in perm)
    t = _transpose_op(ctx, layer, x, perm, moved, f"{step.name}/to_last")
    y = ctx.unary(layer, code, t, f"{step.name}/{code.lower()}", None, _ACTIVATION_OPTIONS[code])
    return _transpose_op(ctx, layer, y, perm, shape, step.name, out)


# ops.cast's dtypes with a TFLite form (int64 computed as int32, as the
# exporter's ids are).
_CAST_TYPES = {"bool": np.bool_, "int32": np.int32, "int64": np.int32, "float32": np.float32}


def _tensor_cast(ctx, layer, x, dtype, shape, name, stat):
    """ops.cast -> CAST (a mask's booleans as numbers: DLwP's decoder casts
    its padding mask to int32)."""
    from .writer import _tflite
    want = _CAST_TYPES.get(str(np.dtype(dtype)) if dtype is not None else None)
    if want is None:
        raise ctx.error(layer, f"ops.cast to {dtype!r} has no TensorFlow Lite form in "
                               f"pynn.lite; it exports to {', '.join(_CAST_TYPES)}")
    if np.dtype(want) == x.dtype:
        return ctx.reshape(layer, x, shape, name, stat)
    tfl = _tflite()[1]
    code = {np.dtype(np.bool_): tfl.TensorType.BOOL, np.dtype(np.int32): tfl.TensorType.INT32,
            np.dtype(np.int64): tfl.TensorType.INT64,
            np.dtype(np.float32): tfl.TensorType.FLOAT32}
    y = ctx.out_tensor(layer, name, shape, stat, dtype=want)
    ctx.g.add("CAST", [x], [y], ("CastOptions", {"InDataType": code[x.dtype],
                                                 "OutDataType": code[np.dtype(want)]}),
              layer.name)
    return y


def _tensor_conv(ctx, layer, x, given, shape, name, stat):
    """ops.conv of a channels-last batch of images by a constant kernel
    (HWIO) -> CONV_2D with a zero bias (keras.io's patch extraction:
    ops.image.extract_patches convolves by an identity kernel)."""
    w = np.asarray(given.get("kernel"), np.float32) if given.get("kernel") is not None \
        else None
    if w is None or w.ndim != 4 or len(x.shape) != 4 or \
            given.get("data_format") not in (None, "channels_last"):
        raise ctx.error(layer, "ops.conv exports for a channels-last batch of images (rank 4) "
                               "and a constant kernel (height, width, in, out)")
    strides, dilation = given.get("strides", 1), given.get("dilation_rate", 1)
    pair = (lambda v: (int(v), int(v)) if np.ndim(v) == 0 else tuple(int(i) for i in v))
    padding = str(given.get("padding", "valid")).lower()
    if padding not in ("valid", "same") or not np.all(np.isfinite(w)):
        raise ctx.error(layer, f"ops.conv with padding={padding!r} or a kernel that is not "
                               f"finite has no TensorFlow Lite form in pynn.lite")
    g = ctx.g
    filt = g.constant(f"{layer.name}/kernel", w.transpose(3, 0, 1, 2), role="weight")
    bias = g.constant(f"{layer.name}/bias", np.zeros(w.shape[-1], np.float32), role="bias")
    y = ctx.out_tensor(layer, name, shape, stat)
    g.add("CONV_2D", [x, filt, bias], [y],
          ("Conv2DOptions", _conv_options(layer, "linear", pair(strides), pair(dilation),
                                          padding)), layer.name)
    return y


def _tensor_matmul(ctx, step, k, xs, shape):
    """ops.matmul of a tensor by a constant matrix (FULLY_CONNECTED over
    the last axis), or of two tensors (BATCH_MATMUL)."""
    layer = step.layer
    if len(layer.args) != 2 or layer.kwargs:
        raise ctx.error(layer, "ops.matmul takes two operands here")
    a, b = layer.arguments(xs)[0]
    if not any(a is x for x in xs):
        raise ctx.error(layer, "ops.matmul of a constant by a tensor has no TensorFlow Lite "
                               "form in pynn.lite (a tensor by a constant has)")
    if any(b is x for x in xs):
        y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
        ctx.g.add("BATCH_MATMUL", [a, b], [y], ("BatchMatMulOptions", {"AdjX": False,
                                                                       "AdjY": False}),
                  layer.name)
        return y
    w = np.asarray(b, np.float32)
    if w.ndim != 2 or not np.all(np.isfinite(w)):
        raise ctx.error(layer, f"ops.matmul by a constant exports for a finite matrix, got "
                               f"shape {w.shape}")
    return ctx.fully_connected(layer, a, w, None, layer.name, step.name, shape, (k, "out"))


def _strided_slice(ctx, layer, x, key, shape, name, stat):
    """``x[key]`` for a key of slices, integers, an Ellipsis and None that
    keeps the batch axis whole: one STRIDED_SLICE (integers shrink their
    axis), then a RESHAPE to the output's shape where None adds axes."""
    rank = len(x.shape)
    key = list(key) if isinstance(key, tuple) else [key]
    if sum(k is Ellipsis for k in key) > 1:
        raise ctx.error(layer, "an index with more than one Ellipsis")
    given = [k for k in key if k is not None and k is not Ellipsis]
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + [slice(None)] * (rank - len(given)) + key[at + 1:]
    key = [k for k in key if k is not None]
    key += [slice(None)] * (rank - len(key))
    if len(key) != rank:
        raise ctx.error(layer, f"an index of {len(key)} axes for a tensor of rank {rank}")
    if key[0] != slice(None):
        raise ctx.error(layer, f"an index that slices the batch axis ({key[0]!r}) has no "
                               f"TensorFlow Lite form in pynn.lite")
    begin, end, strides, begin_mask, end_mask, shrink = [], [], [], 0, 0, 0
    for axis, k in enumerate(key):
        if isinstance(k, slice):
            if any(v is not None and not isinstance(v, (int, np.integer))
                   for v in (k.start, k.stop, k.step)):
                raise ctx.error(layer, f"an index of axis {axis} made of tensors ({k!r}) has no "
                                       f"TensorFlow Lite form in pynn.lite")
            step = 1 if k.step is None else int(k.step)
            begin.append(0 if k.start is None else int(k.start))
            end.append(0 if k.stop is None else int(k.stop))
            strides.append(step)
            begin_mask |= (k.start is None) << axis
            end_mask |= (k.stop is None) << axis
        elif isinstance(k, (int, np.integer)):
            begin.append(int(k))
            end.append(int(k) + 1 if int(k) != -1 else 0)
            strides.append(1)
            end_mask |= (int(k) == -1) << axis
            shrink |= 1 << axis
        else:
            raise ctx.error(layer, f"an index of axis {axis} of type {type(k).__name__} has no "
                                   f"TensorFlow Lite form in pynn.lite")
    sliced = tuple(None if i == 0 else _sliced_length(x.shape[i], k)
                   for i, k in enumerate(key) if not isinstance(k, (int, np.integer)))
    y = ctx.out_tensor(layer, name if sliced == tuple(shape) else f"{name}/slice", sliced,
                       stat if sliced == tuple(shape) else None, dtype=x.dtype)
    ctx.g.add("STRIDED_SLICE", [x, ctx.int32(f"{layer.name}/begin", begin),
                                ctx.int32(f"{layer.name}/end", end),
                                ctx.int32(f"{layer.name}/strides", strides)], [y],
              ("StridedSliceOptions", {"BeginMask": begin_mask, "EndMask": end_mask,
                                       "EllipsisMask": 0, "NewAxisMask": 0,
                                       "ShrinkAxisMask": shrink}), layer.name)
    if sliced == tuple(shape):
        return y
    return ctx.reshape(layer, y, shape, name, stat)


def _sliced_length(n, k):
    """The length of axis ``n`` sliced by ``k``."""
    return len(range(n)[k])


def _partial_fn(layer, i):
    """Calibration: the running result of a merge over its first i + 1
    inputs."""
    op = {"Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply,
          "Maximum": np.maximum, "Minimum": np.minimum, "Average": np.add}[_layer_kind(layer)]

    def fn(xs):
        acc = np.asarray(xs[0])
        for x in xs[1:i + 1]:
            acc = op(acc, x)
        return acc
    return fn


def _concatenate(ctx, step, k, xs):
    layer = step.layer
    shape = _out_shape(ctx, step)
    axis = layer.axis % len(shape)
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
    ctx.g.add("CONCATENATION", list(xs), [y],
              ("ConcatenationOptions", {"Axis": int(axis),
                                        "FusedActivationFunction":
                                            fused_activation_code("linear")}), layer.name)
    return y


def _dot(ctx, step, k, xs):
    """Dot as BATCH_MATMUL over 3-D operands (2-D inputs reshaped to a
    row and a column), with L2_NORMALIZATION first when normalizing."""
    layer = step.layer
    shapes = [ctx.program.shapes[s] for s in step.ins]
    axes = layer._plan(shapes)
    g = ctx.g
    ops_in, adj = [], []
    for i, (x, shp, axis) in enumerate(zip(xs, shapes, axes)):
        if layer.normalize:
            if axis != len(shp) - 1:
                raise ctx.error(layer, "normalize=True exports only when the dot product runs "
                                       "over the last axis of each input")
            n = ctx.out_tensor(layer, f"{layer.name}/l2_normalize_{i}", shp,
                               (k, _normalized_fn(i, axis)))
            g.add("L2_NORMALIZATION", [x], [n],
                  ("L2NormOptions", {"FusedActivationFunction":
                                     fused_activation_code("linear")}), layer.name)
            x = n
        if len(shp) == 2:
            x = ctx.reshape(layer, x, (None, 1, shp[1]) if i == 0 else (None, shp[1], 1),
                            f"{layer.name}/operand_{i}")
            adj.append(False)
        else:
            adj.append((axis == 1) if i == 0 else (axis == 2))
        ops_in.append(x)
    a, b = [ctx.program.shapes[s] for s in step.ins]
    m = 1 if len(a) == 2 else (a[2] if adj[0] else a[1])
    n = 1 if len(b) == 2 else (b[1] if adj[1] else b[2])
    out_shape = _out_shape(ctx, step)
    prod_shape = (None, m, n)
    if tuple(prod_shape[1:]) == tuple(out_shape[1:]):
        y = ctx.out_tensor(layer, step.name, out_shape, (k, "out"))
        g.add("BATCH_MATMUL", ops_in, [y], ("BatchMatMulOptions", {"AdjX": adj[0],
                                                                   "AdjY": adj[1]}),
              layer.name)
        return y
    prod = ctx.out_tensor(layer, f"{layer.name}/matmul", prod_shape, (k, "out"))
    g.add("BATCH_MATMUL", ops_in, [prod], ("BatchMatMulOptions", {"AdjX": adj[0],
                                                                  "AdjY": adj[1]}),
          layer.name)
    return ctx.reshape(layer, prod, out_shape, step.name)


def _multi_head_attention(ctx, step, k, xs):
    """MultiHeadAttention as TensorFlow's converter writes it: the query,
    key and value projections as FULLY_CONNECTED over the last axis (the
    query's scaled by 1/sqrt(key_dim) in its weights), RESHAPE and
    TRANSPOSE to (batch, heads, steps, depth), BATCH_MATMUL of the queries
    with the keys, the mask (see :func:`_mask_scores`), SOFTMAX,
    BATCH_MATMUL with the values, TRANSPOSE and RESHAPE back, and the output
    FULLY_CONNECTED; the attention scores as a second output where the
    layer returns them.  Full integer calibrates the inner tensors from the
    layer's weights.

    GroupQueryAttention the same, each key and value head's projection
    written once for each query head it serves (as Keras's layer repeats
    its heads); its sliding window is a constant mask, and its gate a
    FULLY_CONNECTED of the query, LOGISTIC and MUL of the merged heads."""
    from ..layers.attention import GroupQueryAttention, MultiHeadAttention
    layer, g = step.layer, ctx.g
    options = layer._graph_options or {}
    grouped = isinstance(layer, GroupQueryAttention)
    if type(layer).call is not (GroupQueryAttention if grouped else MultiHeadAttention).call:
        raise ctx.error(layer, "computes through its own call() and cannot be exported as "
                               f"{'GroupQueryAttention' if grouped else 'MultiHeadAttention'}")
    key_dim = layer.head_dim if grouped else layer.key_dim
    value_dim = layer.head_dim if grouped else layer.value_dim
    repeats = layer.num_repeats if grouped else 1
    if "masks" in options:
        raise ctx.error(layer, "masks given as arrays to a call on graph tensors have no "
                               "TensorFlow Lite form in pynn.lite; give them as model inputs")
    if getattr(layer, "attention_axes", None) not in (None, 1, (1,), [1], -2, (-2,), [-2]):
        raise ctx.error(layer, f"attention_axes={layer.attention_axes!r} has no TensorFlow "
                               f"Lite form in pynn.lite")
    query, value, key = xs[:3]
    rank = len(query.shape)
    if rank > 3:
        # (attention over all the middle axes: over them flattened into one)
        if options.get("scores"):
            raise ctx.error(layer, f"the attention scores of inputs of rank {rank} have no "
                                   f"TensorFlow Lite form in pynn.lite")
        query, value, key = (ctx.reshape(layer, x, (None, int(np.prod(x.shape[1:-1])),
                                                    x.shape[-1]), f"{layer.name}/{what}_flat")
                             for x, what in ((query, "query"), (value, "value"), (key, "key")))
    heads, t, s = layer.num_heads, query.shape[1], value.shape[1]
    constant = _constant_keep(ctx, layer, options, xs, t, s)
    if grouped and layer.sliding_window is not None:
        band = (np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) <
                layer.sliding_window).astype(np.float32)
        constant = band if constant is None else constant * band
    tensor_masks = any(m is not None for m in ctx.in_masks[:3]) or options.get("mask_input")
    weights_of = {}  # what -> (kernel, bias) as written, for calibration

    def values(inp, masks):
        """The float values of the layer's inner tensors for the step's
        inputs ``inp`` and their masks (calibration of a full-integer
        model)."""
        x = {what: np.asarray(a, np.float64).reshape(len(a), -1, a.shape[-1])
             for what, a in zip(("query", "value", "key"), inp[:3])}
        x["gate"] = x["query"]
        out = {}
        for what in ("query", "value", "key"):
            w, b = weights_of[what]
            y = x[what] @ w + (b if b is not None else 0.0)
            out[what] = y
            x[what] = y.reshape(len(y), y.shape[1], heads, -1).transpose(0, 2, 1, 3)
        sc = x["query"] @ x["key"].transpose(0, 1, 3, 2)
        out["scores"] = sc
        keep = constant if constant is not None else np.ones((t, s))
        if tensor_masks:
            keep = keep * _keep_values(inp, masks, t, s)
        e = np.exp(np.where(keep != 0, sc, -1e9) - np.where(keep != 0, sc, -1e9).max(
            -1, keepdims=True))
        out["context"] = (e / e.sum(-1, keepdims=True)) @ x["value"]
        merged = out["context"].transpose(0, 2, 1, 3).reshape(len(sc), t, -1)
        if "gate" in weights_of:
            w, b = weights_of["gate"]
            out["gate"] = x["gate"] @ w + (b if b is not None else 0.0)
            out["gated"] = merged = merged / (1.0 + np.exp(-out["gate"]))
        w_out, b_out = weights_of["output"]
        out["output"] = merged @ w_out + (b_out if b_out is not None else 0.0)
        return out

    def stat(what):
        return (k, ("masked", lambda inp, masks: values(inp, masks)[what]))

    def project(x, kernel, bias, depth, what, scale=1.0, repeats=1):
        w = np.repeat(ctx.value(layer, kernel, f"{what} kernel"), repeats, axis=1)
        w = w.reshape(w.shape[0], heads * depth) * np.float32(scale)
        b = np.repeat(ctx.value(layer, bias, f"{what} bias"), repeats, axis=0).reshape(-1) * \
            np.float32(scale) if bias is not None else None
        weights_of[what] = (w, b)
        steps = x.shape[1]
        prefix = f"{layer.name}/{what}"
        y = ctx.fully_connected(layer, x, w, b, prefix, prefix, (None, steps, heads * depth),
                                stat(what))
        y = ctx.reshape(layer, y, (None, steps, heads, depth), f"{layer.name}/{what}/heads")
        return _transpose_op(ctx, layer, y, (0, 2, 1, 3), (None, heads, steps, depth),
                             f"{layer.name}/{what}/split")

    q = project(query, layer.query_kernel, layer.query_bias, key_dim, "query",
                1.0 / np.sqrt(key_dim))
    kk = project(key, layer.key_kernel, layer.key_bias, key_dim, "key", repeats=repeats)
    v = project(value, layer.value_kernel, layer.value_bias, value_dim, "value",
                repeats=repeats)
    scores = ctx.out_tensor(layer, f"{layer.name}/scores", (None, heads, t, s), stat("scores"))
    g.add("BATCH_MATMUL", [q, kk], [scores], ("BatchMatMulOptions", {"AdjX": False,
                                                                     "AdjY": True}), layer.name)
    keep = None
    if tensor_masks:
        keep = _attention_keep(ctx, layer, xs, t, s, constant)
    elif constant is not None:
        keep = g.constant(f"{layer.name}/mask", constant[None, None].astype(np.float32),
                          role="param")
    if keep is not None:
        scores = _mask_scores(ctx, layer, scores, keep)
    weights = ctx.unary(layer, "SOFTMAX", scores, f"{layer.name}/attention_scores", None,
                        _ACTIVATION_OPTIONS["SOFTMAX"])
    if keep is not None and (layer.dropout > 0 or options.get("scores")):
        # (as pynn's layer: the masked weights zeroed, as Keras's Softmax layer)
        weights = ctx.binary(layer, "MUL", weights, keep, f"{layer.name}/attention_weights",
                             ("range", 0.0, 1.0))
    query_mask = ctx.in_masks[0]
    if query_mask is not None:
        ctx.out_masks = [query_mask, None]
    context = ctx.out_tensor(layer, f"{layer.name}/context", (None, heads, t, value_dim),
                             stat("context"))
    g.add("BATCH_MATMUL", [weights, v], [context], ("BatchMatMulOptions", {"AdjX": False,
                                                                           "AdjY": False}),
          layer.name)
    context = _transpose_op(ctx, layer, context, (0, 2, 1, 3),
                            (None, t, heads, value_dim), f"{layer.name}/merge")
    context = ctx.reshape(layer, context, (None, t, heads * value_dim),
                          f"{layer.name}/merged")
    if grouped and layer.use_gate:
        w = ctx.value(layer, layer.gate_kernel, "gate kernel").reshape(-1, heads * value_dim)
        b = ctx.value(layer, layer.gate_bias, "gate bias").reshape(-1) \
            if layer.gate_bias is not None else None
        weights_of["gate"] = (w, b)
        prefix = f"{layer.name}/gate"
        gate = ctx.fully_connected(layer, query, w, b, prefix, prefix,
                                   (None, t, heads * value_dim), stat("gate"))
        gate = ctx.unary(layer, "LOGISTIC", gate, f"{prefix}/sigmoid", None)
        context = ctx.binary(layer, "MUL", context, gate, f"{layer.name}/gated", stat("gated"))
    w = ctx.value(layer, layer.output_kernel, "output kernel")
    w = w.reshape(heads * value_dim, w.shape[-1])
    b = ctx.value(layer, layer.output_bias, "output bias") \
        if layer.output_bias is not None else None
    weights_of["output"] = (w, b)
    out_shape = _out_shape(ctx, step)
    out = ctx.fully_connected(layer, context, w, b, f"{layer.name}/attention_output",
                              step.name if rank == 3 else f"{layer.name}/output_flat",
                              (None, t, out_shape[-1]), (k, "out") if rank == 3 else
                              stat("output"))
    if rank > 3:
        return ctx.reshape(layer, out, out_shape, step.name, (k, "out"))
    return [out, weights] if options.get("scores") else out


def _constant_keep(ctx, layer, options, xs, t, s):
    """The part of the attention mask known when exporting, as a (T, S)
    0/1 array: the causal mask times a constant ``attention_mask`` given
    to the call (the same for every row of the batch); None when there is
    neither."""
    keep = np.tril(np.ones((t, s), np.float32)) if options.get("causal") else None
    given = options.get("attention_mask")
    if given is None:
        return keep
    steps = tuple(xs[0].shape[1:-1]) + tuple(xs[1].shape[1:-1])
    m = np.asarray(given) != 0
    if m.ndim == len(steps) + 1:
        if m.shape[0] != 1 and not np.all(m == m[:1]):
            raise ctx.error(layer, f"its constant attention_mask of shape {m.shape} differs "
                                   f"between the rows of the batch, which a TFLite model of "
                                   f"any batch size cannot hold; give it as a model input")
        m = m[0]
    try:
        m = np.broadcast_to(m, steps).reshape(t, s).astype(np.float32)
    except ValueError:
        raise ctx.error(layer, f"its constant attention_mask of shape "
                               f"{np.shape(given)} does not fit the attention's "
                               f"(batch, {', '.join(map(str, steps))})") from None
    return m if keep is None else keep * m


def _keep_values(inp, masks, t, s):
    """The 0/1 mask (batch, 1 or heads, T, S) of the masks the step's inputs
    ``inp`` carry (``masks``: one per input, or None) and a given
    attention_mask input (calibration)."""
    keep = np.ones((len(inp[0]), t, s))
    q_mask, v_mask, k_mask = (masks or [None] * 3)[:3]
    if q_mask is not None:
        keep = keep * np.reshape(q_mask, (-1, t, 1))
    for m in (v_mask, k_mask):
        if m is not None:
            keep = keep * np.reshape(m, (-1, 1, s))
    if len(inp) > 3:
        given = np.asarray(inp[3])
        if given.ndim == 4 and np.ndim(inp[0]) == 3:  # (batch, heads or 1, T, S)
            return keep[:, None] * (given != 0)
        keep = keep * ((given if given.ndim == 3 else given.reshape(-1, t, s)) != 0)
    return keep[:, None]


# Full integer: how far below the smallest calibrated score a masked one is
# put (its softmax weight below exp(-12) of the row's largest); TFLite's
# int8 range cannot hold Keras's -1e9.
MASK_MARGIN = 12.0


def _mask_scores(ctx, layer, scores, keep):
    """Keras's where(keep, scores, -1e9) as ``scores * keep + (keep - 1) *
    fill``, exact for a 0/1 ``keep`` (a tensor, or a constant (1, 1, T, S)),
    with fill 1e9.  Full integer sets fill from the scores' calibrated
    range (``MASK_MARGIN`` below their minimum) and the ranges of the
    tensors after it (the ``("mask", scores, what)`` statistics)."""
    g = ctx.g
    fill = g.constant(f"{layer.name}/mask_fill", np.array([1e9], np.float32),
                      role="mask_fill")
    fill.stat = ("mask", scores, "fill")
    off = ctx.with_constant(layer, "SUB", keep, 1.0, f"{layer.name}/mask_off",
                            ("range", -1.0, 0.0)) if not keep.is_constant else \
        g.constant(f"{layer.name}/mask_off", keep.data - 1.0, role="param")
    bias = ctx.binary(layer, "MUL", off, fill, f"{layer.name}/mask_bias",
                      ("mask", scores, "bias"))
    kept = ctx.binary(layer, "MUL", scores, keep, f"{layer.name}/masked_scores",
                      ("mask", scores, "kept"))
    return ctx.binary(layer, "ADD", kept, bias, f"{layer.name}/masked",
                      ("mask", scores, "masked"))


def _attention_keep(ctx, layer, xs, t, s, constant):
    """Keras's attention mask as a float32 0/1 tensor (batch, 1, T, S): the
    product of the query's mask (batch, T, 1), the value's and the key's
    (batch, 1, S), the constant part (causal, a constant attention_mask)
    and a given attention_mask (nonzero kept: NOT_EQUAL 0, CAST; one of
    rank 4 over inputs of rank 3 is per head, (batch, heads or 1, T, S),
    and so is the result); masks over several steps axes (inputs of rank 4
    and more) flattened."""
    from .sequence import _float_mask
    g = ctx.g
    base = constant if constant is not None else np.ones((t, s), np.float32)
    keep = g.constant(f"{layer.name}/mask_base", base[None], role="param")
    query_mask, value_mask, key_mask = ctx.in_masks[:3]
    parts, per_head = [], None
    if query_mask is not None:
        parts.append(ctx.reshape(layer, query_mask, (None, t, 1), f"{layer.name}/query_mask",
                                 ("range", 0.0, 1.0)))
    for m, what in ((value_mask, "value"), (key_mask, "key")):
        if m is not None and not (what == "key" and m is value_mask):
            parts.append(ctx.reshape(layer, m, (None, 1, s), f"{layer.name}/{what}_mask",
                                     ("range", 0.0, 1.0)))
    if len(xs) > 3:
        present = xs[3]
        if present.dtype != np.bool_:
            zero = g.scalar(f"{layer.name}/mask_zero", 0, present.dtype)
            present = g.activation(f"{layer.name}/attention_mask_bool",
                                   (None,) + tuple(xs[3].shape[1:]), dtype=np.bool_)
            g.add("NOT_EQUAL", [xs[3], zero], [present], None, layer.name)
        given = _float_mask(ctx, layer, present, f"{layer.name}/attention_mask")
        if len(given.shape) == 4 and len(xs[0].shape) == 3:
            per_head = given  # (batch, heads or 1, T, S)
        elif len(given.shape) > 3:  # (over several steps axes)
            parts.append(ctx.reshape(layer, given, (None, t, s),
                                     f"{layer.name}/attention_mask_flat", ("range", 0.0, 1.0)))
        else:
            parts.append(given)
    for i, m in enumerate(parts):
        keep = ctx.binary(layer, "MUL", keep, m, f"{layer.name}/mask_{i}", ("range", 0.0, 1.0))
    keep = ctx.reshape(layer, keep, (None, 1, t, s), f"{layer.name}/mask", ("range", 0.0, 1.0))
    if per_head is not None:
        keep = ctx.binary(layer, "MUL", per_head, keep, f"{layer.name}/mask_per_head",
                          ("range", 0.0, 1.0))
    return keep


def _normalized_fn(i, axis):
    def fn(xs):
        return ops.l2_normalize(np.asarray(xs[i], np.float32), axis)
    return fn



# ------------------------------------------------------ reshaping layers

def _none():
    return {"FusedActivationFunction": fused_activation_code("linear")}


def _pad_op(ctx, layer, x, pairs, shape, name, value=0.0):
    """PAD (PADV2 for a value other than zero) of the spatial axes by
    ``pairs`` of (before, after)."""
    paddings = [[0, 0]] + [list(p) for p in pairs] + [[0, 0]]
    y = ctx.out_tensor(layer, name, shape, None)
    inputs = [x, ctx.int32(f"{layer.name}/paddings", paddings)]
    if value == 0.0:
        ctx.g.add("PAD", inputs, [y], ("PadOptions", {}), layer.name)
    else:
        inputs.append(ctx.g.constant(f"{layer.name}/pad_value",
                                     np.array([value], np.float32), role="param"))
        ctx.g.add("PADV2", inputs, [y], ("PadV2Options", {}), layer.name)
    return y


def _slice_op(ctx, layer, x, begin, shape, name, stat=None):
    """SLICE of ``shape`` (batch None: all of it) from ``begin``."""
    y = ctx.out_tensor(layer, name, shape, stat)
    ctx.g.add("SLICE", [x, ctx.int32(f"{layer.name}/begin", [0] + list(begin)),
                        ctx.int32(f"{layer.name}/size", [-1] + [int(d) for d in shape[1:]])],
              [y], ("SliceOptions", {}), layer.name)
    return y


def _resize_op(ctx, layer, x, shape, interpolation, name, stat=None):
    """RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR to ``shape``'s height and
    width, with half-pixel centres as Keras 3 and TensorFlow 2 resize."""
    operators = {"nearest": ("RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions"),
            "bilinear": ("RESIZE_BILINEAR", "ResizeBilinearOptions")}
    if interpolation not in operators:
        raise ctx.error(layer, f"interpolation={interpolation!r} has no TFLite operator (TFLite "
                           f"resizes 'bilinear' and 'nearest' only)")
    code, table = operators[interpolation]
    y = ctx.out_tensor(layer, name, shape, stat)
    ctx.g.add(code, [x, ctx.int32(f"{layer.name}/size", [int(shape[1]), int(shape[2])])], [y],
              (table, {"AlignCorners": False, "HalfPixelCenters": True}), layer.name)
    return y


def _zero_padding(ctx, step, k, xs):
    layer = step.layer
    return _pad_op(ctx, layer, xs[0], layer.padding, _out_shape(ctx, step), step.name)


def _cropping(ctx, step, k, xs):
    layer = step.layer
    return _slice_op(ctx, layer, xs[0], [a for a, _ in layer.cropping] + [0],
                     _out_shape(ctx, step), step.name)


def _upsampling2d(ctx, step, k, xs):
    layer = step.layer
    return _resize_op(ctx, layer, xs[0], _out_shape(ctx, step), layer.interpolation, step.name)


def _upsampling1d(ctx, step, k, xs):
    """Steps as image rows: RESHAPE to height 1, RESIZE_NEAREST_NEIGHBOR,
    RESHAPE back."""
    layer, x = step.layer, xs[0]
    _, steps, ch = x.shape
    out_steps = _out_shape(ctx, step)[1]
    h = ctx.reshape(layer, x, (None, steps, 1, ch), f"{layer.name}/expand")
    r = _resize_op(ctx, layer, h, (None, out_steps, 1, ch), "nearest", f"{layer.name}/resize")
    return ctx.reshape(layer, r, (None, out_steps, ch), step.name)


def _upsampling3d(ctx, step, k, xs):
    """Nearest up-sampling of depth, height and width by two
    RESIZE_NEAREST_NEIGHBOR between RESHAPEs: depth as the rows of
    (depth, height * width) images, then height and width of
    (depth * height, width) ones (each row copied whole keeps the depth
    and height order)."""
    layer, x = step.layer, xs[0]
    _, d, h, w, ch = x.shape
    a, b, c = (int(v) for v in layer.size)
    rows = ctx.reshape(layer, x, (None, d, h * w, ch), f"{layer.name}/depth_rows")
    deep = _resize_op(ctx, layer, rows, (None, d * a, h * w, ch), "nearest",
                      f"{layer.name}/depth")
    planes = ctx.reshape(layer, deep, (None, d * a * h, w, ch), f"{layer.name}/height_rows")
    wide = _resize_op(ctx, layer, planes, (None, d * a * h * b, w * c, ch), "nearest",
                      f"{layer.name}/height_width")
    return ctx.reshape(layer, wide, _out_shape(ctx, step), step.name)


def _repeat_vector(ctx, step, k, xs):
    """RESHAPE to (batch, 1, features), then TILE along the new axis."""
    layer, x = step.layer, xs[0]
    features = x.shape[1]
    h = ctx.reshape(layer, x, (None, 1, features), f"{layer.name}/expand")
    y = ctx.out_tensor(layer, step.name, _out_shape(ctx, step), None)
    ctx.g.add("TILE", [h, ctx.int32(f"{layer.name}/multiples", [1, layer.n, 1])], [y],
              ("TileOptions", {}), layer.name)
    return y


def _transpose_op(ctx, layer, x, perm, shape, name, stat=None):
    y = ctx.out_tensor(layer, name, shape, stat)
    ctx.g.add("TRANSPOSE", [x, ctx.int32(f"{layer.name}/perm", list(perm))], [y],
              ("TransposeOptions", {}), layer.name)
    return y


def _permute(ctx, step, k, xs):
    layer = step.layer
    return _transpose_op(ctx, layer, xs[0], layer.perm, _out_shape(ctx, step), step.name)


# ---------------------------------------------------- transposed convolution

def _dilated_kernel(w, dilation):
    """The kernel ``w`` (spatial axes first) with ``dilation - 1`` zeros
    between its taps along each spatial axis."""
    dilation = tuple(int(d) for d in dilation)
    if max(dilation) == 1:
        return w
    spans = tuple((k - 1) * d + 1 for k, d in zip(w.shape, dilation))
    out = np.zeros(spans + w.shape[len(dilation):], w.dtype)
    out[tuple(slice(None, None, d) for d in dilation)] = w
    return out


def _transpose_conv_plan(in_sizes, out_sizes, pads, kernel_hw, strides):
    """TFLite's padding for TRANSPOSE_CONV and the output size to ask of
    it.  The op checks that its output size gives back the input size
    (ceil(out / stride) for SAME, (out - kernel) // stride + 1 for VALID)
    and aligns SAME padding as TensorFlow does; where neither gives Keras's
    output, the op computes a VALID output holding Keras's window
    [pad, pad + size), which a SLICE then cuts out."""
    def same_pad(out, k, s):
        conv_out = -(-out // s)
        return max((conv_out - 1) * s + k - out, 0) // 2

    axes = list(zip(in_sizes, out_sizes, pads, kernel_hw, strides))
    if all(-(-o // s) == n and p == same_pad(o, k, s) for n, o, p, k, s in axes):
        return "same", tuple(out_sizes)
    if all(p == 0 and (o - k) // s + 1 == n for n, o, p, k, s in axes):
        return "valid", tuple(out_sizes)
    return "valid", tuple(max((n - 1) * s + k, p + o) for n, o, p, k, s in axes)


def _conv_transpose(ctx, step, k, xs):
    """TRANSPOSE_CONV (the kernel as [filters, kh, kw, in]), its output shape
    taken from the input's batch at run time (SHAPE, STRIDED_SLICE,
    CONCATENATION).  Where TFLite's SAME or VALID padding does not give
    Keras's alignment, a larger VALID output is cut to size by a SLICE.
    A 1-D layer runs at height 1 between RESHAPEs.  ReLU and ReLU6 are
    fused when the op's output is the layer's."""
    layer, x = step.layer, xs[0]
    act = _activation_name(layer.activation)
    if act not in ACTIVATION_OPS and act != "linear":
        raise ctx.error(layer, f"the activation {act!r} has no TensorFlow Lite builtin op; use "
                               f"one of {sorted(ACTIVATION_OPS)} or 'linear'")
    w = ctx.value(layer, layer.kernel, "kernel")
    b = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else \
        np.zeros(layer.filters, np.float32)
    w4 = w if layer.rank == 2 else w[None]
    # TRANSPOSE_CONV has no dilation: the kernel with the holes written in
    # as zeros is the same operation, and its span gives the same sizes.
    w4 = _dilated_kernel(w4, layer._geo2d[3])
    _, strides, output_padding, _ = layer._geo2d
    kernel_hw, dilation = w4.shape[:2], (1, 1)
    in4 = ctx.program.shapes[step.ins[0]]
    g = ctx.g
    if layer.rank == 1:
        in4 = (None, 1) + tuple(in4[1:])
        x = ctx.reshape(layer, x, in4, f"{layer.name}/expand")
    (oh, ow), geo = ops.conv_transpose_geometry(in4, kernel_hw, strides, layer.padding,
                                                output_padding, dilation)
    pads = geo[4:]
    padding, full = _transpose_conv_plan(in4[1:3], (oh, ow), pads, kernel_hw, strides)
    cut = padding == "valid" and (full != (oh, ow) or pads != (0, 0))
    direct = not cut and layer.rank == 2
    fused = act if direct and act in ctx.fusable else "linear"
    last_is_op = direct and (act == "linear" or fused != "linear")

    out_size = _batch_and(ctx, layer, x, [full[0], full[1], layer.filters])
    filt = g.constant(f"{layer.name}/kernel", w4.transpose(2, 0, 1, 3), role="weight")
    bias = g.constant(f"{layer.name}/bias", b, role="bias")
    y = ctx.out_tensor(layer, step.name if last_is_op else f"{layer.name}/transpose_conv",
                       (None,) + tuple(full) + (layer.filters,),
                       (k, "out") if last_is_op else
                       (k, _conv_transpose_fn(layer, full if cut else None)))
    g.add("TRANSPOSE_CONV", [out_size, filt, x, bias], [y],
          ("TransposeConvOptions", {"Padding": padding_code(padding),
                                    "StrideW": int(strides[1]), "StrideH": int(strides[0]),
                                    "FusedActivationFunction": fused_activation_code(fused)}),
          layer.name)
    linear_last = act == "linear"
    if cut:
        y = _slice_op(ctx, layer, y, [pads[0], pads[1], 0], (None, oh, ow, layer.filters),
                      step.name if linear_last and layer.rank == 2 else f"{layer.name}/crop")
    if layer.rank == 1:
        y = ctx.reshape(layer, y, _out_shape(ctx, step),
                        step.name if linear_last else f"{layer.name}/squeeze")
    if not linear_last and fused == "linear":
        y = ctx.activation(layer, y, act, k, name=step.name)
    return y


def _batch_and(ctx, layer, x, sizes):
    """The int32 shape (batch of ``x`` at run time, *sizes): SHAPE,
    STRIDED_SLICE, CONCATENATION."""
    g = ctx.g
    shape = g.tensor(f"{layer.name}/input_shape", (len(x.shape),), np.int32)
    g.add("SHAPE", [x], [shape], ("ShapeOptions", {"OutType": 2}), layer.name)  # INT32
    batch = g.tensor(f"{layer.name}/batch", (1,), np.int32)
    g.add("STRIDED_SLICE", [shape, ctx.int32(f"{layer.name}/begin", [0]),
                            ctx.int32(f"{layer.name}/end", [1]),
                            ctx.int32(f"{layer.name}/strides", [1])], [batch],
          ("StridedSliceOptions", {}), layer.name)
    out_size = g.tensor(f"{layer.name}/output_shape", (1 + len(sizes),), np.int32)
    g.add("CONCATENATION", [batch, ctx.int32(f"{layer.name}/size", [int(d) for d in sizes])],
          [out_size], ("ConcatenationOptions", {"Axis": 0, **_none()}), layer.name)
    return out_size


def _conv3d_transpose(ctx, step, k, xs):
    """Conv3DTranspose -> CONV_3D_TRANSPOSE (its filter is Keras's (kd, kh,
    kw, filters, in); float kernels only in TFLite), its output shape taken
    from the input's batch at run time.  Dilation is written into the
    kernel, and where SAME or VALID padding does not give Keras's alignment
    a larger VALID output is cut to size by a SLICE, as for Conv2DTranspose."""
    layer, x = step.layer, xs[0]
    act = _activation_name(layer.activation)
    if act not in ACTIVATION_OPS and act != "linear":
        raise ctx.error(layer, f"the activation {act!r} has no TensorFlow Lite builtin op; use "
                               f"one of {sorted(ACTIVATION_OPS)} or 'linear'")
    w = _dilated_kernel(ctx.value(layer, layer.kernel, "kernel"), layer.dilation_rate)
    in_sizes = ctx.program.shapes[step.ins[0]][1:4]
    out_sizes = tuple(_out_shape(ctx, step)[1:4])
    given = layer.output_padding or (None, None, None)
    # (the geometry of each axis is that of a transposed 2-D convolution's)
    pads = [ops.conv_transpose_geometry((1, 1, n, 1), (1, w.shape[i]), (1, layer.strides[i]),
                                        layer.padding, (None, given[i]))[1][5]
            for i, n in enumerate(in_sizes)]
    padding, full = _transpose_conv_plan(in_sizes, out_sizes, pads, w.shape[:3], layer.strides)
    cut = padding == "valid" and (full != out_sizes or any(pads))
    fused = act if not cut and act in ctx.fusable else "linear"
    last_is_op = not cut and (act == "linear" or fused != "linear")
    g = ctx.g
    inputs = [_batch_and(ctx, layer, x, list(full) + [layer.filters]),
              g.constant(f"{layer.name}/kernel", w, role="weight"), x]
    if layer.bias is not None:
        inputs.append(g.constant(f"{layer.name}/bias", ctx.value(layer, layer.bias, "bias"),
                                 role="bias"))
    y = ctx.out_tensor(layer, step.name if last_is_op else f"{layer.name}/transpose_conv",
                       (None,) + tuple(full) + (layer.filters,),
                       (k, "out") if last_is_op else None)
    sd, sh, sw = (int(v) for v in layer.strides)
    g.add("CONV_3D_TRANSPOSE", inputs, [y], ("Conv3DOptions", {
        "Padding": padding_code(padding), "StrideD": sd, "StrideH": sh, "StrideW": sw,
        "FusedActivationFunction": fused_activation_code(fused),
        "DilationDFactor": 1, "DilationHFactor": 1, "DilationWFactor": 1}), layer.name)
    if cut:
        y = _slice_op(ctx, layer, y, pads + [0], (None,) + out_sizes + (layer.filters,),
                      step.name if act == "linear" else f"{layer.name}/crop")
    if act != "linear" and fused == "linear":
        y = ctx.activation(layer, y, act, k, name=step.name)
    return y


def _conv_transpose_fn(layer, full):
    """Calibration: the transposed convolution without its activation; with
    ``full`` given, in the output of that size TFLite computes before a
    SLICE cuts it to Keras's alignment."""
    def fn(x):
        x4 = np.asarray(x, np.float32)
        x4 = x4 if layer.rank == 2 else x4[:, None]
        w = layer.kernel.value if layer.rank == 2 else layer.kernel.value[None]
        _, strides, output_padding, dilation = layer._geo2d
        y = ops.conv2d_transpose(x4, w, layer.bias.value if layer.bias is not None else None,
                                 strides, layer.padding, output_padding, dilation)
        (oh, ow), geo = ops.conv_transpose_geometry(x4.shape, w.shape[:2], strides,
                                                    layer.padding, output_padding, dilation)
        pads = geo[4:]
        if full is None:
            return y
        # The values outside Keras's window are cut away: zeros stand in.
        return ops.spatial_pad(y, ((pads[0], full[0] - oh - pads[0]), (pads[1], full[1] - ow - pads[1])))
    return fn


# ------------------------------------------------------ activation layers

def _relu_layer(ctx, step, k, xs):
    layer, x = step.layer, xs[0]
    if layer.threshold != 0.0:
        return _thresholded_relu(ctx, step, k, x)
    form, _ = ops.relu_form(layer.negative_slope, layer.max_value, 0.0)
    shape = _out_shape(ctx, step)
    if form in ("relu", "relu6"):
        return ctx.activation(layer, x, form, k, name=step.name)
    capped = layer.max_value is not None
    if layer.negative_slope == 0.0:
        y = ctx.activation(layer, x, "relu", k,
                           name=f"{layer.name}/relu" if capped else step.name)
    else:
        y = _leaky_op(ctx, layer, x, layer.negative_slope, shape,
                      f"{layer.name}/leaky_relu" if capped else step.name,
                      (k, _leaky_fn(layer.negative_slope)) if capped else (k, "out"))
    if capped:
        cap = ctx.g.constant(f"{layer.name}/max_value",
                             np.array([layer.max_value], np.float32), role="param")
        out = ctx.out_tensor(layer, step.name, shape, (k, "out"))
        ctx.g.add("MINIMUM", [y, cap], [out], None, layer.name)
        y = out
    return y


def _thresholded_relu(ctx, step, k, x):
    """ReLU(threshold=t): x where x > t (MINIMUM with max_value), plus
    negative_slope * MINIMUM(x - t, 0): GREATER, CAST, MUL, and ADD, MUL
    and ADD for a slope."""
    layer, g = step.layer, ctx.g
    t, slope = float(layer.threshold), float(layer.negative_slope)
    cap = np.inf if layer.max_value is None else float(layer.max_value)
    name = f"{layer.name}/relu"
    above = g.activation(f"{name}/above_threshold", (None,) + x.shape[1:], dtype=np.bool_)
    g.add("GREATER", [x, g.constant(f"{name}/threshold", np.array([t], np.float32))], [above],
          None, layer.name)
    from .sequence import _float_mask
    keep = _float_mask(ctx, layer, above, f"{name}/kept")

    def kept(v):
        v = np.asarray(v)
        return np.where(v > t, v, 0.0)
    last = slope == 0.0 and cap == np.inf
    y = ctx.binary(layer, "MUL", x, keep, step.name if last else f"{name}/kept_values",
                   (k, "out") if last else (k, kept))
    if cap != np.inf:
        last = slope == 0.0
        y = ctx.with_constant(layer, "MINIMUM", y, cap, step.name if last else f"{name}/capped",
                              (k, "out") if last else (k, lambda v: np.minimum(kept(v), cap)))
    if slope == 0.0:
        return y
    below = ctx.with_constant(layer, "ADD", x, -t, f"{name}/shifted",
                              (k, lambda v: np.asarray(v) - t))
    below = ctx.with_constant(layer, "MINIMUM", below, 0.0, f"{name}/below",
                              (k, lambda v: np.minimum(np.asarray(v) - t, 0.0)))
    below = ctx.with_constant(layer, "MUL", below, slope, f"{name}/sloped",
                              (k, lambda v: slope * np.minimum(np.asarray(v) - t, 0.0)))
    return ctx.binary(layer, "ADD", y, below, step.name, (k, "out"))


def _leaky_fn(slope):
    def fn(x):
        x = np.asarray(x)
        return np.where(x > 0, x, slope * x)
    return fn


def _leaky_op(ctx, layer, x, slope, shape, name, stat):
    y = ctx.out_tensor(layer, name, shape, stat)
    ctx.g.add("LEAKY_RELU", [x], [y], ("LeakyReluOptions", {"Alpha": float(slope)}),
              layer.name)
    return y


def _leaky_relu_layer(ctx, step, k, xs):
    layer = step.layer
    return _leaky_op(ctx, layer, xs[0], layer.negative_slope, _out_shape(ctx, step), step.name,
                     (k, "out"))


def _elu_layer(ctx, step, k, xs):
    """ELU; for alpha other than 1, relu(x) + alpha * min(elu(x), 0)."""
    layer, x = step.layer, xs[0]
    if layer.alpha == 1.0:
        return ctx.activation(layer, x, "elu", k, name=step.name)
    shape = _out_shape(ctx, step)
    g = ctx.g
    e = ctx.out_tensor(layer, f"{layer.name}/elu", shape,
                       (k, lambda v: np.where(np.asarray(v) > 0, v, np.expm1(v))))
    g.add("ELU", [x], [e], None, layer.name)
    zero = g.constant(f"{layer.name}/zero", np.zeros(1, np.float32), role="param")
    neg = ctx.out_tensor(layer, f"{layer.name}/negative", shape,
                         (k, lambda v: np.minimum(np.expm1(np.minimum(v, 0)), 0)))
    g.add("MINIMUM", [e, zero], [neg], None, layer.name)
    alpha = g.constant(f"{layer.name}/alpha", np.array([layer.alpha], np.float32),
                       role="param")
    scaled = ctx.out_tensor(layer, f"{layer.name}/scaled", shape,
                            (k, lambda v: layer.alpha * np.expm1(np.minimum(v, 0))))
    g.add("MUL", [neg, alpha], [scaled], ("MulOptions", _none()), layer.name)
    pos = ctx.out_tensor(layer, f"{layer.name}/relu", shape, (k, lambda v: np.maximum(v, 0)))
    g.add("RELU", [x], [pos], None, layer.name)
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
    g.add("ADD", [pos, scaled], [y], ("AddOptions", _none()), layer.name)
    return y


def _softmax_layer(ctx, step, k, xs):
    """SOFTMAX over the last axis; another axis is moved last by TRANSPOSE
    and back."""
    layer, x = step.layer, xs[0]
    shape = _out_shape(ctx, step)
    axis = layer.axis % len(shape)
    if axis == len(shape) - 1:
        return ctx.activation(layer, x, "softmax", k, name=step.name)
    perm = [a for a in range(len(shape)) if a != axis] + [axis]
    inverse = [perm.index(a) for a in range(len(shape))]
    moved = tuple(shape[a] for a in perm)
    t = _transpose_op(ctx, layer, x, perm, moved, f"{layer.name}/to_last")
    s = ctx.activation(layer, t, "softmax", k, name=f"{layer.name}/softmax")
    return _transpose_op(ctx, layer, s, inverse, shape, step.name)


def _prelu_layer(ctx, step, k, xs):
    layer = step.layer
    alpha = ctx.value(layer, layer.alpha, "alpha")
    y = ctx.out_tensor(layer, step.name, _out_shape(ctx, step), (k, "out"))
    ctx.g.add("PRELU", [xs[0], ctx.g.constant(f"{layer.name}/alpha", alpha, role="param")],
              [y], None, layer.name)
    return y


# --------------------------------------------------- normalization layers

def _normalize_ops(ctx, layer, k, x, shape, axes, epsilon, name_prefix, final, fn_in):
    """x - mean over ``axes``, times 1 / sqrt(variance + epsilon): MEAN,
    SQUARED_DIFFERENCE, MEAN, ADD, RSQRT, SUB, MUL, as TensorFlow's
    converter writes a normalization.  ``final`` is (name, stat) of the
    result; ``fn_in(x)`` gives the calibration input in these axes'
    layout."""
    g = ctx.g
    stat_shape = tuple(1 if a in axes else d for a, d in enumerate(shape))

    def stats(v):
        v = np.asarray(fn_in(v), np.float64)
        return v, v.mean(axis=tuple(axes), keepdims=True), v.var(axis=tuple(axes),
                                                                 keepdims=True)

    axes_t = ctx.int32(f"{layer.name}/axes", list(axes))
    mean = ctx.out_tensor(layer, f"{name_prefix}/mean", stat_shape, (k, lambda v: stats(v)[1]))
    g.add("MEAN", [x, axes_t], [mean], ("ReducerOptions", {"KeepDims": True}), layer.name)
    sq = ctx.out_tensor(layer, f"{name_prefix}/squared_difference", shape,
                        (k, lambda v: (stats(v)[0] - stats(v)[1]) ** 2))
    g.add("SQUARED_DIFFERENCE", [x, mean], [sq], None, layer.name)
    var = ctx.out_tensor(layer, f"{name_prefix}/variance", stat_shape,
                         (k, lambda v: stats(v)[2]))
    g.add("MEAN", [sq, axes_t], [var], ("ReducerOptions", {"KeepDims": True}), layer.name)
    eps = g.constant(f"{layer.name}/epsilon", np.array([epsilon], np.float32), role="param")
    ve = ctx.out_tensor(layer, f"{name_prefix}/variance_epsilon", stat_shape,
                        (k, lambda v: stats(v)[2] + epsilon))
    g.add("ADD", [var, eps], [ve], ("AddOptions", _none()), layer.name)
    inv = ctx.out_tensor(layer, f"{name_prefix}/rsqrt", stat_shape,
                         (k, lambda v: 1.0 / np.sqrt(stats(v)[2] + epsilon)))
    g.add("RSQRT", [ve], [inv], None, layer.name)
    centred = ctx.out_tensor(layer, f"{name_prefix}/centred", shape,
                             (k, lambda v: stats(v)[0] - stats(v)[1]))
    g.add("SUB", [x, mean], [centred], ("SubOptions", _none()), layer.name)
    y = ctx.out_tensor(layer, final[0], shape, final[1])
    g.add("MUL", [centred, inv], [y], ("MulOptions", _none()), layer.name)
    return y


def _scale_shift(ctx, layer, k, x, shape, scale, shift, name, stat, first_fn):
    """MUL by ``scale`` then ADD ``shift`` (either may be None, when it is
    1 or 0); the MUL's output calibrates with ``first_fn``."""
    g = ctx.g
    y = x
    if scale is not None:
        s = g.constant(f"{layer.name}/scale", scale, role="param")
        last = shift is None
        y = ctx.out_tensor(layer, name if last else f"{layer.name}/scaled", shape,
                           stat if last else (k, first_fn))
        g.add("MUL", [x, s], [y], ("MulOptions", _none()), layer.name)
    if shift is not None:
        t = g.constant(f"{layer.name}/shift", shift, role="param")
        out = ctx.out_tensor(layer, name, shape, stat)
        g.add("ADD", [y, t], [out], ("AddOptions", _none()), layer.name)
        y = out
    return y


def _layer_norm(ctx, step, k, xs):
    layer, x = step.layer, xs[0]
    shape = _out_shape(ctx, step)
    axes = list(layer._axes_)
    param_shape = tuple(d if a in axes else 1 for a, d in enumerate(shape))[1:]
    gamma = ctx.value(layer, layer.gamma, "gamma").reshape(param_shape) \
        if layer.gamma is not None else None
    beta = ctx.value(layer, layer.beta, "beta").reshape(param_shape) \
        if layer.beta is not None else None
    plain = gamma is None and beta is None
    y = _normalize_ops(ctx, layer, k, x, shape, axes, layer.epsilon, layer.name,
                       (step.name, (k, "out")) if plain else
                       (f"{layer.name}/normalized", (k, _layer_norm_fn(layer))),
                       lambda v: v)
    if plain:
        return y
    return _scale_shift(ctx, layer, k, y, shape, gamma, beta, step.name, (k, "out"),
                        lambda v: _layer_norm_fn(layer)(v) * gamma)


def _layer_norm_fn(layer):
    def fn(v):
        v = np.asarray(v, np.float64)
        axes = tuple(layer._axes_)
        return (v - v.mean(axis=axes, keepdims=True)) / np.sqrt(
            v.var(axis=axes, keepdims=True) + layer.epsilon)
    return fn


def _group_norm(ctx, step, k, xs):
    """RESHAPE to (batch, positions, groups, channels per group), normalize
    over axes 1 and 3, RESHAPE back, then the per-channel scale and
    shift."""
    layer, x = step.layer, xs[0]
    shape = _out_shape(ctx, step)
    c = shape[-1]
    positions = int(np.prod(shape[1:-1], dtype=np.int64))
    groups = layer._groups_for(c)
    grouped = (None, positions, groups, c // groups)
    h = ctx.reshape(layer, x, grouped, f"{layer.name}/grouped")

    def to_groups(v):
        v = np.asarray(v, np.float64)
        return v.reshape(v.shape[0], positions, groups, c // groups)

    def normalized(v):
        v = to_groups(v)
        return ((v - v.mean(axis=(1, 3), keepdims=True)) /
                np.sqrt(v.var(axis=(1, 3), keepdims=True) + layer.epsilon))

    n = _normalize_ops(ctx, layer, k, h, grouped, [1, 3], layer.epsilon, layer.name,
                       (f"{layer.name}/normalized", (k, normalized)), to_groups)
    gamma = ctx.value(layer, layer.gamma, "gamma") if layer.gamma is not None else None
    beta = ctx.value(layer, layer.beta, "beta") if layer.beta is not None else None
    if gamma is None and beta is None:
        return ctx.reshape(layer, n, shape, step.name)
    back = ctx.reshape(layer, n, shape, f"{layer.name}/ungrouped")
    return _scale_shift(ctx, layer, k, back, shape, gamma, beta, step.name, (k, "out"),
                        lambda v: normalized(v).reshape(np.shape(v)) * gamma)


def _unit_norm(ctx, step, k, xs):
    layer = step.layer
    shape = _out_shape(ctx, step)
    if tuple(layer._axes_) != (len(shape) - 1,):
        raise ctx.error(layer, f"axis={layer.axis}: TFLite's L2_NORMALIZATION runs over the "
                               f"last axis only")
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
    ctx.g.add("L2_NORMALIZATION", [xs[0]], [y], ("L2NormOptions", _none()), layer.name)
    return y


# --------------------------------------------------- preprocessing layers

def _rescaling(ctx, step, k, xs):
    layer = step.layer
    shape = _out_shape(ctx, step)
    scale, offset = layer._affine(shape[-1])
    return _scale_shift(ctx, layer, k, xs[0], shape,
                        None if np.all(scale == 1) else scale,
                        None if np.all(offset == 0) else offset, step.name, (k, "out"),
                        lambda v: np.asarray(v) * scale)


def _normalization(ctx, step, k, xs):
    """SUB mean and MUL by 1 / std (``invert``: MUL by std, ADD mean), the
    constants shaped to broadcast over a sample."""
    layer = step.layer
    shape = _out_shape(ctx, step)
    mean, var = layer._statistics()
    scale, _ = ops.standardize_affine(mean, var, layer.invert)
    param_shape = tuple(d if a in layer._keep else 1 for a, d in enumerate(shape))[1:]
    mean = np.asarray(mean, np.float32).reshape(param_shape)
    scale = np.asarray(scale, np.float32).reshape(param_shape)
    if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(scale)):
        raise ctx.error(layer, "its mean or variance holds NaN or infinite values")
    g = ctx.g
    m = g.constant(f"{layer.name}/mean", mean, role="param")
    s = g.constant(f"{layer.name}/scale", scale, role="param")
    first = "MUL" if layer.invert else "SUB"
    mid = ctx.out_tensor(layer, f"{layer.name}/{first.lower()}", shape,
                         (k, (lambda v: np.asarray(v) * scale) if layer.invert
                          else (lambda v: np.asarray(v) - mean)))
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
    if layer.invert:
        g.add("MUL", [xs[0], s], [mid], ("MulOptions", _none()), layer.name)
        g.add("ADD", [mid, m], [y], ("AddOptions", _none()), layer.name)
    else:
        g.add("SUB", [xs[0], m], [mid], ("SubOptions", _none()), layer.name)
        g.add("MUL", [mid, s], [y], ("MulOptions", _none()), layer.name)
    return y


def _resize_window(ctx, layer, x, window, in_shape, name):
    """SLICE of the window (top, left, height, width) when it is not the
    whole image."""
    top, left, h, w = window
    if (top, left, h, w) == (0, 0, in_shape[1], in_shape[2]):
        return x
    return _slice_op(ctx, layer, x, [top, left, 0], (None, h, w, in_shape[3]), name)


def _resizing(ctx, step, k, xs):
    layer, x = step.layer, xs[0]
    in_shape = ctx.program.shapes[step.ins[0]]
    shape = _out_shape(ctx, step)
    pads = layer._padding(in_shape[1], in_shape[2])
    if pads is not None:
        (t, _), (l, _) = pads
        in_shape = (None, in_shape[1] + 2 * t, in_shape[2] + 2 * l, in_shape[3])
        x = _pad_op(ctx, layer, x, pads, in_shape, f"{layer.name}/pad", layer.fill_value)
    window = ops.resize_geometry(in_shape[1], in_shape[2], (layer.height, layer.width),
                                 layer.crop_to_aspect_ratio)
    if layer.antialias and layer.interpolation == "bilinear" and \
            (shape[1] < window[2] or shape[2] < window[3]):
        raise ctx.error(layer, "antialias=True when shrinking has no TFLite operator "
                               "(RESIZE_BILINEAR samples without it)")
    x = _resize_window(ctx, layer, x, window, in_shape, f"{layer.name}/crop")
    return _resize_op(ctx, layer, x, shape, layer.interpolation, step.name)


def _center_crop(ctx, step, k, xs):
    layer, x = step.layer, xs[0]
    in_shape = ctx.program.shapes[step.ins[0]]
    shape = _out_shape(ctx, step)
    cropping = layer._crop(in_shape[1], in_shape[2])
    if cropping is not None:
        return _slice_op(ctx, layer, x, [cropping[0][0], cropping[1][0], 0], shape, step.name)
    window = ops.resize_geometry(in_shape[1], in_shape[2], (layer.height, layer.width), True)
    x = _resize_window(ctx, layer, x, window, in_shape, f"{layer.name}/crop")
    return _resize_op(ctx, layer, x, shape, "bilinear", step.name)


def _int_ids(ctx, layer, x):
    """Token ids as int32: CAST from float32 or int64."""
    return _cast(ctx, layer, x, np.int32, f"{layer.name}/ids")


_TYPE_NAMES = {np.dtype(np.float32): "FLOAT32", np.dtype(np.int64): "INT64",
               np.dtype(np.int32): "INT32", np.dtype(np.bool_): "BOOL"}


def _encode_ids(ctx, layer, ids, num_tokens, mode, shape, name, k, stat=None):
    """CategoryEncoding of int32 ``ids`` into ``shape``: EQUAL to each
    token (the ids with a last axis of 1 against 0..num_tokens-1), CAST to
    0/1, then REDUCE_MAX (multi_hot) or SUM (count) over the ids of a
    row; one_hot keeps them."""
    from .sequence import _float_mask
    g = ctx.g
    rank, out_rank = len(ids.shape), len(shape)
    if mode not in ("one_hot", "multi_hot", "count"):
        raise ctx.error(layer, f"output_mode={mode!r} has no TensorFlow Lite form in "
                               f"pynn.lite (one_hot, multi_hot and count export)")
    grouped = mode != "one_hot" or out_rank == rank + 1
    if grouped and rank == 1:
        ids = ctx.reshape(layer, ids, (None, 1), f"{name}/ids_column")
    if grouped:
        ids = ctx.reshape(layer, ids, (None,) + tuple(ids.shape[1:]) + (1,), f"{name}/ids_last")
    elif ids.shape[-1] != 1:
        raise ctx.error(layer, f"one_hot of ids of shape {_fmt((None,) + ids.shape[1:])} into "
                               f"{_fmt(shape)} has no TensorFlow Lite form in pynn.lite")
    hit = g.activation(f"{name}/hit", (None,) + ids.shape[1:-1] + (num_tokens,),
                       dtype=np.bool_)
    g.add("EQUAL", [ids, ctx.int32(f"{name}/tokens", np.arange(num_tokens))], [hit], None,
          layer.name)
    hot = _float_mask(ctx, layer, hit, name if mode == "one_hot" and not grouped or
                      out_rank == rank + 1 else f"{name}/one_hot")
    if mode == "one_hot":
        return hot
    code = "REDUCE_MAX" if mode == "multi_hot" else "SUM"
    y = ctx.out_tensor(layer, name, shape, stat or (k, "out"))
    g.add(code, [hot, ctx.int32(f"{name}/ids_axis", [len(hot.shape) - 2])], [y],
          ("ReducerOptions", {"KeepDims": False}), layer.name)
    return y


def _category_encoding(ctx, step, k, xs):
    layer = step.layer
    if len(xs) > 1:
        raise ctx.error(layer, "count_weights have no TensorFlow Lite form in pynn.lite")
    ids = _int_ids(ctx, layer, xs[0])
    return _encode_ids(ctx, layer, ids, layer.num_tokens, layer.output_mode,
                       _out_shape(ctx, step), step.name, k)


def _cast(ctx, layer, x, dtype, name):
    """``x`` as ``dtype`` (a CAST where it is another type)."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    from .sequence import _op
    from .writer import _tflite
    tfl = _tflite()[1]
    return _op(ctx, layer, "CAST", [x], (None,) + x.shape[1:], name,
               ("CastOptions", {"InDataType": getattr(tfl.TensorType, _TYPE_NAMES[x.dtype]),
                                "OutDataType": getattr(tfl.TensorType, _TYPE_NAMES[dtype])}),
               dtype=dtype)


def _integer_lookup(ctx, step, k, xs):
    """IntegerLookup -> in int64, EQUAL of each code to the vocabulary
    (the codes with a last axis of 1), the index of the hit as the SUM of
    the 0/1 hits (CAST) times the indices (MUL), REDUCE_ANY for whether one
    hit, SELECT_V2 of the OOV index where none did (FLOOR_MOD and ADD for
    several OOV indices) and of 0 for the mask token; the other output
    modes encode those ids as CategoryEncoding does (tf_idf: MUL by the
    weights).  invert=True -> GATHER from the vocabulary."""
    from .sequence import _op
    layer, x = step.layer, xs[0]
    if layer._vocab is None:
        raise ctx.error(layer, "it has no vocabulary (adapt() it or pass vocabulary=)")
    g, name = ctx.g, layer.name
    shape = _out_shape(ctx, step)
    if layer.invert:
        table = g.constant(f"{name}/vocabulary", np.array(layer._vocab, np.int64))
        return _op(ctx, layer, "GATHER", [table, _cast(ctx, layer, x, np.int32, f"{name}/ids")],
                   shape, step.name, ("GatherOptions", {"Axis": 0}), dtype=np.int64)
    if layer.num_oov_indices == 0:
        raise ctx.error(layer, "num_oov_indices=0 has no TensorFlow Lite form: the interpreter "
                               "cannot raise on a code out of the vocabulary as predict does")
    mode = layer.output_mode
    codes = _cast(ctx, layer, x, np.int64, f"{name}/codes")
    in_shape = (None,) + codes.shape[1:]
    vocab = np.array(layer._vocab[layer._token_start():], np.int64)
    if not len(vocab):
        raise ctx.error(layer, "its vocabulary is empty (every code out of it)")
    column = ctx.reshape(layer, codes, in_shape + (1,), f"{name}/codes_last")
    hits_shape = in_shape + (len(vocab),)
    hit = _op(ctx, layer, "EQUAL", [column, g.constant(f"{name}/tokens", vocab)],
              hits_shape, f"{name}/hit", dtype=np.bool_)
    ones = _cast(ctx, layer, hit, np.int64, f"{name}/hit_int")
    indices = g.constant(f"{name}/indices", layer._token_start() +
                         np.arange(hits_shape[-1], dtype=np.int64))
    axis = ctx.int32(f"{name}/vocabulary_axis", [len(hits_shape) - 1])
    weighted = _op(ctx, layer, "MUL", [ones, indices], hits_shape, f"{name}/hit_index",
                   ("MulOptions", _none()), dtype=np.int64)
    found_index = _op(ctx, layer, "SUM", [weighted, axis], in_shape, f"{name}/index",
                      ("ReducerOptions", {"KeepDims": False}), dtype=np.int64)
    found = _op(ctx, layer, "REDUCE_ANY", [hit, axis], in_shape, f"{name}/found",
                ("ReducerOptions", {"KeepDims": False}), dtype=np.bool_)
    oov = g.constant(f"{name}/oov", np.array([layer._oov_start()], np.int64))
    if layer.num_oov_indices > 1:
        # (Keras's bucket of an integer among the OOV indices: code mod n)
        bucket = _op(ctx, layer, "FLOOR_MOD", [codes, g.constant(
            f"{name}/num_oov", np.array([layer.num_oov_indices], np.int64))], in_shape,
            f"{name}/oov_bucket", dtype=np.int64)
        oov = _op(ctx, layer, "ADD", [bucket, oov], in_shape, f"{name}/oov_index",
                  ("AddOptions", _none()), dtype=np.int64)
    masked = layer.mask_token is not None
    last = mode == "int" and not masked
    ids = _op(ctx, layer, "SELECT_V2", [found, found_index, oov], in_shape,
              step.name if last else f"{name}/ids", dtype=np.int64)
    if masked:
        is_mask = _op(ctx, layer, "EQUAL", [codes, g.constant(
            f"{name}/mask_token", np.array([int(layer.mask_token)], np.int64))], in_shape,
            f"{name}/is_mask", dtype=np.bool_)
        ids = _op(ctx, layer, "SELECT_V2", [is_mask, g.constant(
            f"{name}/zero", np.zeros(1, np.int64)), ids], in_shape,
            step.name if mode == "int" else f"{name}/ids_masked", dtype=np.int64)
    if mode == "int":
        return ids
    ids = _cast(ctx, layer, ids, np.int32, f"{name}/ids32")
    depth = layer._output_size()
    if mode != "tf_idf":
        return _encode_ids(ctx, layer, ids, depth, mode, shape, step.name, k)
    idf = np.zeros(depth, np.float32)
    idf[:layer.idf_weights.size] = layer.idf_weights[:depth]
    # (calibration: the counts are the layer's output over the weights)
    counts = _encode_ids(ctx, layer, ids, depth, "count", shape, f"{name}/count", k,
                         (k, lambda v: layer.compute(v) / np.where(idf == 0, 1, idf)))
    y = ctx.out_tensor(layer, step.name, shape, (k, "out"))
    g.add("MUL", [counts, g.constant(f"{name}/idf", idf)], [y], ("MulOptions", _none()), name)
    return y


def _framed_conv(ctx, layer, x, kernel, stride, padding, name, stat, role="weight"):
    """Frames of the signals ``x`` (batch, 1, time, 1) times ``kernel``
    (frame_length, bins): one CONV_2D at height 1, (batch, 1, frames,
    bins).  ``role`` 'param' for a fixed transform (dynamic range keeps it
    float)."""
    g = ctx.g
    length, bins = kernel.shape
    n = ops.conv_output_length(x.shape[2], length, stride, 1, padding)[0]
    y = ctx.out_tensor(layer, name, (None, 1, n, bins), stat)
    g.add("CONV_2D", [x, g.constant(f"{name}/kernel", kernel.T.reshape(bins, 1, length, 1),
                                    role=role),
                      g.constant(f"{name}/bias", np.zeros(bins, np.float32), role="bias")],
          [y], ("Conv2DOptions", _conv_options(layer, "linear", (1, stride), (1, 1), padding)),
          layer.name)
    return y


def _stft_spectrogram(ctx, step, k, xs):
    """STFTSpectrogram: its real and imaginary kernels as CONV_2D over the
    signals at height 1 (each channel a row of the batch: TRANSPOSE and
    RESHAPE first), then per mode MUL and ADD for the power, MUL by the
    one-sided weights for psd, MAXIMUM and SQRT for the magnitude, half
    the LOG of the power for log, ATAN2 for the angle, CONCATENATION for
    stft; TRANSPOSE and RESHAPE into the layer's layout."""
    layer, x, g = step.layer, xs[0], ctx.g
    name, mode = layer.name, layer.mode
    if mode == "log" and ctx.int8:
        raise ctx.error(layer, "mode='log' has no full-integer form: int8 steps of the "
                               "largest power floor the small ones to 0 before the LOG; "
                               "export it in float32, float16 or dynamic range")
    last = layer.data_format == "channels_last"
    in_shape = ctx.program.shapes[step.ins[0]]
    channels, time = (in_shape[2], in_shape[1]) if last else (in_shape[1], in_shape[2])
    if last:
        x = _transpose_op(ctx, layer, x, (0, 2, 1), (None, channels, time), f"{name}/channels")
    x = ctx.reshape(layer, x, (None, 1, time, 1), f"{name}/signals")
    eps = np.float32(1e-7)

    def values(v, what):
        """The layer's values for calibration, (batch, channels, bins, frames)."""
        v = np.asarray(v, np.float32)
        re = layer._apply_conv(v, layer.real_kernel.value) if mode != "imag" else None
        im = layer._apply_conv(v, layer.imag_kernel.value) if mode != "real" else None
        return {"real": lambda: re, "imag": lambda: im,
                "power": lambda: re * re + im * im,
                "floor": lambda: np.maximum(re * re + im * im, eps),
                "magnitude": lambda: np.sqrt(np.maximum(re * re + im * im, eps)),
                "log_power": lambda: np.log(np.maximum(re * re + im * im, eps)),
                "angle": lambda: np.arctan2(im, re),
                "stft": lambda: np.concatenate([re, im], axis=2)}[what]()

    def stat(what):
        return (k, lambda v: values(v, what))

    def conv(which):
        w = ctx.value(layer, getattr(layer, f"{which}_kernel"), f"{which} kernel")[:, 0, :]
        return _framed_conv(ctx, layer, x, w, layer._frame_step, layer.padding,
                            f"{name}/{which}", stat(which))

    def square_sum(re, im):
        return ctx.binary(layer, "ADD", ctx.binary(layer, "MUL", re, re, f"{name}/real_squared",
                                                   (k, lambda v: values(v, "real") ** 2)),
                          ctx.binary(layer, "MUL", im, im, f"{name}/imag_squared",
                                     (k, lambda v: values(v, "imag") ** 2)),
                          f"{name}/power", (k, lambda v: values(v, "power")))

    log = mode == "log"  # (its last op follows the rearrangement)
    if mode in ("real", "imag"):
        y = conv(mode)
    elif mode == "stft":
        re, im = conv("real"), conv("imag")
        y = ctx.out_tensor(layer, f"{name}/stft", (None,) + re.shape[1:3] + (2 * re.shape[3],),
                           stat("stft"))
        g.add("CONCATENATION", [re, im], [y], ("ConcatenationOptions", {"Axis": 3, **_none()}),
              name)
    elif mode == "angle":
        re, im = conv("real"), conv("imag")
        y = ctx.out_tensor(layer, f"{name}/angle", (None,) + re.shape[1:], stat("angle"))
        g.add("ATAN2", [im, re], [y], None, name)
    else:
        power = square_sum(conv("real"), conv("imag"))
        bins = power.shape[-1]
        if mode == "psd":
            # (the one-sided density: every bin but the first and last twice)
            weights = np.full(bins, 2.0, np.float32)
            weights[0] = weights[-1] = 1.0
            y = ctx.binary(layer, "MUL", power, g.constant(f"{name}/one_sided", weights),
                           f"{name}/psd", (k, lambda v: values(v, "power") * weights[:, None]))
        else:
            y = ctx.with_constant(layer, "MAXIMUM", power, eps, f"{name}/floor", stat("floor"))
            if mode == "magnitude":
                y = ctx.unary(layer, "SQRT", y, f"{name}/magnitude", stat("magnitude"))
    frames, bins = y.shape[2], y.shape[3]
    y = ctx.reshape(layer, y, (None, channels, frames, bins), f"{name}/per_channel")
    shape = _out_shape(ctx, step)
    out_name = f"{name}/arranged" if log else step.name
    if last and layer.expand_dims:
        y = _transpose_op(ctx, layer, y, (0, 2, 3, 1), shape, out_name)
    elif last:
        y = _transpose_op(ctx, layer, y, (0, 2, 1, 3), (None, frames, channels, bins),
                          f"{name}/frames_first")
        y = ctx.reshape(layer, y, shape, out_name)
    elif not layer.expand_dims:
        y = _transpose_op(ctx, layer, y, (0, 1, 3, 2), (None, channels, bins, frames),
                          f"{name}/bins_first")
        y = ctx.reshape(layer, y, shape, out_name)
    elif not log:
        y = ctx.reshape(layer, y, shape, out_name)
    if log:
        # log(max(sqrt(max(p, eps)), eps)) is half log(max(p, eps)): sqrt(eps) > eps
        y = ctx.unary(layer, "LOG", y, f"{name}/log_power", stat("log_power"))
        y = ctx.with_constant(layer, "MUL", y, 0.5, step.name, (k, "out"))
    else:
        y.stat = (k, "out")
    return y


def _mel_spectrogram(ctx, step, k, xs):
    """MelSpectrogram: MIRROR_PAD (the centred frames' reflection), the
    real and imaginary parts of the windowed DFT as CONV_2D at height 1,
    MUL and ADD for the power (SQRT, POW for another ``mag_exp``), the mel
    filters as FULLY_CONNECTED, and for decibels MAXIMUM, LOG, MUL, ADD,
    REDUCE_MAX over the whole batch (as the layer's floor ``top_db`` under
    the batch's largest value), SUB and MAXIMUM; TRANSPOSE to (batch,
    mel bins, frames)."""
    from ..layers.audio import linear_to_mel_weight_matrix
    layer, x, g = step.layer, xs[0], ctx.g
    name = layer.name
    if len(x.shape) != 2:
        raise ctx.error(layer, f"only (batch, samples) inputs are exported, got "
                               f"{_fmt((None,) + x.shape[1:])}")
    if ctx.int8 and (layer.power_to_db or layer.mag_exp != 2):
        raise ctx.error(layer, "power_to_db=True (or a mag_exp other than 2) has no "
                               "full-integer form: int8 steps of the largest power floor the "
                               "small ones to 0 before the LOG (SQRT and POW have no int8 "
                               "kernels); export it in float32, float16 or dynamic range")
    nfft, stride, samples = int(layer.fft_length), int(layer.sequence_stride), x.shape[1]
    half = nfft // 2
    if half >= samples:
        raise ctx.error(layer, f"signals of {samples} samples are shorter than the reflection "
                               f"of {half} samples its centred frames need")
    real, imag = ops.stft(np.eye(nfft, dtype=np.float32), layer.sequence_length, stride, nfft,
                          window=layer.window, center=False)
    real, imag = np.asarray(real, np.float32)[:, 0], np.asarray(imag, np.float32)[:, 0]
    bins = real.shape[1]
    mel = linear_to_mel_weight_matrix(layer.num_mel_bins, bins, layer.sampling_rate,
                                      layer.min_freq, layer.max_freq)
    db_shift = 10.0 * math.log10(max(abs(layer.ref_power), layer.min_power))

    def values(v, what):
        """The layer's values for calibration."""
        v = np.asarray(v, np.float64)
        padded = np.pad(v, [(0, 0), (half, half)], mode="reflect")
        frames = padded[:, np.arange(0, padded.shape[1] - nfft + 1, stride)[:, None] +
                        np.arange(nfft)]
        re, im = frames @ real, frames @ imag
        out = {"real": re, "imag": im, "power": re * re + im * im}
        out["spec"] = np.sqrt(out["power"]) ** layer.mag_exp
        out["mel"] = out["spec"] @ mel
        out["db"] = 10.0 * np.log10(np.maximum(out["mel"], layer.min_power)) - db_shift
        return out[what]

    def stat(what):
        return (k, lambda v: values(v, what))

    padded = ctx.out_tensor(layer, f"{name}/centred", (None, samples + 2 * half), None)
    g.add("MIRROR_PAD", [x, ctx.int32(f"{name}/reflection", [[0, 0], [half, half]])],
          [padded], ("MirrorPadOptions", {"Mode": 0}), name)  # REFLECT
    signals = ctx.reshape(layer, padded, (None, 1, samples + 2 * half, 1), f"{name}/signals")
    # (the DFT: a fixed transform, float in dynamic range as TensorFlow's RFFT2D)
    re = _framed_conv(ctx, layer, signals, real, stride, "valid", f"{name}/real", stat("real"),
                      "param")
    im = _framed_conv(ctx, layer, signals, imag, stride, "valid", f"{name}/imag", stat("imag"),
                      "param")
    frames = re.shape[2]
    spec = ctx.binary(layer, "ADD", ctx.binary(layer, "MUL", re, re, f"{name}/real_squared",
                                               (k, lambda v: values(v, "real") ** 2)),
                      ctx.binary(layer, "MUL", im, im, f"{name}/imag_squared",
                                 (k, lambda v: values(v, "imag") ** 2)),
                      f"{name}/power", stat("power"))
    if layer.mag_exp != 2:
        spec = ctx.unary(layer, "SQRT", spec, f"{name}/magnitude", None)
        if layer.mag_exp != 1:
            spec = ctx.binary(layer, "POW", spec, g.constant(
                f"{name}/mag_exp", np.array([layer.mag_exp], np.float32)), f"{name}/spec", None)
    spec = ctx.reshape(layer, spec, (None, frames, bins), f"{name}/frames")
    y = ctx.fully_connected(layer, spec, mel, None, f"{name}/mel", f"{name}/mel",
                            (None, frames, layer.num_mel_bins), stat("mel"))
    if layer.power_to_db:
        y = ctx.with_constant(layer, "MAXIMUM", y, layer.min_power, f"{name}/floored", None)
        y = ctx.unary(layer, "LOG", y, f"{name}/log", None)
        y = ctx.with_constant(layer, "MUL", y, 10.0 / math.log(10.0), f"{name}/db", None)
        if db_shift:
            y = ctx.with_constant(layer, "SUB", y, db_shift, f"{name}/relative_db", None)
        top = g.tensor(f"{name}/top", (1, 1, 1))
        g.add("REDUCE_MAX", [y, ctx.int32(f"{name}/all_axes", [0, 1, 2])], [top],
              ("ReducerOptions", {"KeepDims": True}), name)
        low = g.tensor(f"{name}/lowest", (1, 1, 1))
        g.add("SUB", [top, g.constant(f"{name}/top_db", np.array([layer.top_db], np.float32))],
              [low], ("SubOptions", _none()), name)
        y = ctx.binary(layer, "MAXIMUM", y, low, f"{name}/clipped", None)
    return _transpose_op(ctx, layer, y, (0, 2, 1), _out_shape(ctx, step), step.name, (k, "out"))


def _discretization(ctx, step, k, xs):
    """Discretization -> BUCKETIZE (the bucket of x: the boundaries at or
    below it), CAST to int64 for output_mode='int', else the buckets'
    CategoryEncoding.  Float kernels only in TFLite."""
    layer, x = step.layer, xs[0]
    bounds = getattr(layer, "bin_boundaries", None)
    if bounds is None:
        raise ctx.error(layer, "it has no bin_boundaries (adapt() it first)")
    from .sequence import _op
    from .writer import _tflite
    tfl = _tflite()[1]
    shape = _out_shape(ctx, step)
    mode = layer.output_mode
    buckets = _op(ctx, layer, "BUCKETIZE", [x], (None,) + x.shape[1:], f"{layer.name}/buckets",
                  ("BucketizeOptions", {"Boundaries": [float(b) for b in bounds]}),
                  dtype=np.int32)
    if mode != "int":
        return _encode_ids(ctx, layer, buckets, len(bounds) + 1, mode, shape, step.name, k)
    out_type = np.dtype(step.nodes[-1].output_tensors[0].dtype)
    if out_type == np.int32:
        return buckets
    return _op(ctx, layer, "CAST", [buckets], shape, step.name,
               ("CastOptions", {"InDataType": tfl.TensorType.INT32,
                                "OutDataType": getattr(tfl.TensorType, _TYPE_NAMES[out_type])}),
               dtype=out_type)


def _restat(ops, k, inner, before, after=None):
    """Calibration of the ops a layer ``inner`` wrapped in step ``k`` wrote
    (TimeDistributed's, SpectralNormalization's, a Pipeline's layers):
    their statistics, which the handler took from the step's input as if
    it were the inner layer's, are computed from ``before(x)`` of it; the
    inner layer's output ('out') is ``after(x)`` where it is not the
    step's."""
    from ..models.node import CallContext

    def pre(v):
        return inner.infer(CallContext(), np.ascontiguousarray(before(v), np.float32),
                           fold=None, activation="linear")
    for op in ops:
        for t in op.outputs:
            if t.stat is None or t.stat[0] != k:
                continue
            what = t.stat[1]
            if what == "out":
                if after is not None:
                    t.stat = (k, after)
            elif what == "pre":
                t.stat = (k, pre)
            elif isinstance(what, tuple) and what[0] == "pre":
                t.stat = (k, lambda v, f=what[1]: f(pre(v)))
            elif callable(what):
                t.stat = (k, lambda v, f=what: f(before(v)))


def _wrapped_step(ctx, step, k, inner, x, in_shape, out_shape, name):
    """The ops of ``inner`` (a layer wrapped in step ``k``) on ``x``, by
    its own handler, its input and output shapes given as slots of the
    program while it writes them."""
    from types import SimpleNamespace
    kind = _layer_kind(inner)
    if kind is None or _HANDLERS.get(kind) is None or kind in _SEQUENCE_HANDLERS or \
            kind in ("MultiHeadAttention", "GroupQueryAttention"):
        raise ctx.error(step.layer, f"{type(step.layer).__name__}({type(inner).__name__}) is "
                                    f"not exported: pynn.lite writes it over layers with a "
                                    f"TensorFlow Lite form of their own that are not "
                                    f"recurrent, embedding or attention layers")
    shapes = ctx.program.shapes
    at = len(shapes)
    shapes.extend([tuple(in_shape), tuple(out_shape)])
    try:
        proxy = SimpleNamespace(layer=inner, ins=[at], outs=[at + 1], act=None, fold=None,
                                nodes=step.nodes, node=step.node, mask_ins=[], name=name)
        return _HANDLERS[kind](ctx, proxy, k, [x])
    finally:
        del shapes[at:]


def _spectral_normalization(ctx, step, k, xs):
    """SpectralNormalization: at inference the layer it wraps, with the
    kernel as it stands (normalized by the last training call)."""
    shapes = ctx.program.shapes
    start = len(ctx.g.ops)
    y = _wrapped_step(ctx, step, k, step.layer.layer, xs[0], shapes[step.ins[0]],
                      shapes[step.outs[0]], step.name)
    _restat(ctx.g.ops[start:], k, step.layer.layer, lambda v: v)
    return y


def _pipeline(ctx, step, k, xs):
    """Pipeline: its layers in turn (those that are the identity at
    inference left out)."""
    import functools
    layer, y = step.layer, xs[0]
    subs = [s for s in layer.layers if not s.inference_identity]
    shape = ctx.program.shapes[step.ins[0]]

    def upto(j):
        return lambda v: functools.reduce(
            lambda a, s: np.asarray(s(np.asarray(a, np.float32), training=False)), subs[:j], v)
    for j, sub in enumerate(subs):
        last = j == len(subs) - 1
        out_shape = ctx.program.shapes[step.outs[0]] if last else \
            (None,) + tuple(sub.compute_output_shape(tuple(shape))[1:])
        start = len(ctx.g.ops)
        y = _wrapped_step(ctx, step, k, sub, y, shape, out_shape,
                          step.name if last else f"{layer.name}/{sub.name}")
        _restat(ctx.g.ops[start:], k, sub, upto(j), None if last else upto(j + 1))
        shape = out_shape
    return y


def _random_crop(ctx, step, k, xs):
    """RandomCrop at inference: the central window of the target's aspect
    ratio, resized (bilinear)."""
    layer, x = step.layer, xs[0]
    in_shape = ctx.program.shapes[step.ins[0]]
    window = ops.resize_geometry(in_shape[1], in_shape[2], (layer.height, layer.width), True)
    x = _resize_window(ctx, layer, x, window, in_shape, f"{layer.name}/crop")
    return _resize_op(ctx, layer, x, _out_shape(ctx, step), "bilinear", step.name)


from .sequence import HANDLERS as _SEQUENCE_HANDLERS  # noqa: E402  (uses the helpers above)
from .hashing import HANDLERS as _HASHING_HANDLERS  # noqa: E402

_HANDLERS = {
    **_SEQUENCE_HANDLERS,
    **_HASHING_HANDLERS,
    "Dense": _dense,
    "EinsumDense": _einsum_dense,
    "MultiHeadAttention": _multi_head_attention,
    "GroupQueryAttention": _multi_head_attention,
    "Conv2D": _conv2d,
    "Conv3D": _conv3d,
    "DepthwiseConv2D": _depthwise2d,
    "SeparableConv2D": _separable2d,
    "DepthwiseConv1D": _depthwise2d,
    "SeparableConv1D": _separable2d,
    "Conv1D": _conv1d,
    "MaxPooling2D": _pool2d("MAX_POOL_2D"),
    "AveragePooling2D": _pool2d("AVERAGE_POOL_2D"),
    "MaxPooling1D": _pool1d("MAX_POOL_2D"),
    "MaxPooling3D": _pool3d("MAX_POOL_2D"),
    "AveragePooling3D": _pool3d("AVERAGE_POOL_2D"),
    "AveragePooling1D": _pool1d("AVERAGE_POOL_2D"),
    "GlobalAveragePooling2D": _global_pool("MEAN", [1, 2]),
    "GlobalMaxPooling2D": _global_pool("REDUCE_MAX", [1, 2]),
    "GlobalAveragePooling1D": _global_pool("MEAN", [1]),
    "GlobalMaxPooling1D": _global_pool("REDUCE_MAX", [1]),
    "GlobalAveragePooling3D": _global_pool("MEAN", [1, 2, 3]),
    **{f"Adaptive{kind}Pooling{d}D": _adaptive_pool for kind in ("Average", "Max")
       for d in (1, 2, 3)},
    "GlobalMaxPooling3D": _global_pool("REDUCE_MAX", [1, 2, 3]),
    "Flatten": _reshape,
    "Reshape": _reshape,
    "Activation": _activation,
    "BatchNormalization": _batchnorm,
    "Add": _elementwise,
    "Subtract": _elementwise,
    "Multiply": _elementwise,
    "Average": _elementwise,
    "Maximum": _elementwise,
    "Minimum": _elementwise,
    "Concatenate": _concatenate,
    "Dot": _dot,
    "TensorOperation": _tensor_operation,
    "ZeroPadding1D": _zero_padding,
    "ZeroPadding2D": _zero_padding,
    "ZeroPadding3D": _zero_padding,
    "Cropping1D": _cropping,
    "Cropping2D": _cropping,
    "Cropping3D": _cropping,
    "UpSampling1D": _upsampling1d,
    "UpSampling2D": _upsampling2d,
    "UpSampling3D": _upsampling3d,
    "RepeatVector": _repeat_vector,
    "Permute": _permute,
    "Conv2DTranspose": _conv_transpose,
    "Conv1DTranspose": _conv_transpose,
    "Conv3DTranspose": _conv3d_transpose,
    "ReLU": _relu_layer,
    "LeakyReLU": _leaky_relu_layer,
    "ELU": _elu_layer,
    "Softmax": _softmax_layer,
    "PReLU": _prelu_layer,
    "LayerNormalization": _layer_norm,
    "GroupNormalization": _group_norm,
    "UnitNormalization": _unit_norm,
    "Rescaling": _rescaling,
    "Normalization": _normalization,
    "Resizing": _resizing,
    "CenterCrop": _center_crop,
    "RandomCrop": _random_crop,
    "CategoryEncoding": _category_encoding,
    "SpectralNormalization": _spectral_normalization,
    "Pipeline": _pipeline,
    "Discretization": _discretization,
    "IntegerLookup": _integer_lookup,
    "STFTSpectrogram": _stft_spectrogram,
    "MelSpectrogram": _mel_spectrogram,
    # The identity at inference: the graph passes drop them.
    "Dropout": None,
    "SpatialDropout1D": None,
    "SpatialDropout2D": None,
    "GaussianNoise": None,
    "GaussianDropout": None,
    "AlphaDropout": None,
    "ActivityRegularization": None,
    "RandomFlip": None,
    "RandomRotation": None,
    "RandomZoom": None,
    "RandomTranslation": None,
    "RandomContrast": None,
    "RandomBrightness": None,
}


# Layers that read int64 inputs as they are (codes, hashed values).
_INT64_READERS = frozenset({"IntegerLookup", "HashedCrossing", "Hashing"})

# Activations the dense and convolution ops apply themselves.
FUSABLE = frozenset({"relu", "relu6"})


def _check_exportable(program):
    """Raise ConversionError naming the first layer of ``program`` that has
    no TFLite form: not one of the handled layers, nor a layer computing
    through its own call() (traced into the ops and layers it calls)."""
    for step in program.steps:
        layer = step.layer
        if getattr(layer, "quantization_mode", None) is not None:
            raise ConversionError(
                f"Layer {layer.name!r} ({type(layer).__name__}) was quantized by "
                f"model.quantize({layer.quantization_mode!r}); export the float model and let "
                f"the converter quantize it (quantize='dynamic' or 'int8')")
        kind = _layer_kind(layer)
        if kind is None and getattr(layer, "_traces_call", False):
            continue
        if kind is None and type(layer).__name__ not in _HANDLERS:
            raise ConversionError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has no TensorFlow Lite form in "
                f"pynn.lite; exportable layers: "
                f"{', '.join(sorted(k for k, v in _HANDLERS.items() if v))}")
        if kind is None:
            raise ConversionError(f"Layer {layer.name!r} ({type(layer).__name__}) computes "
                                  f"through its own call() or forward() and cannot be exported "
                                  f"as the layer it extends")


# Layers whose values depend on the mask their input carries (the others
# pass it on untouched), and those of them the exporter writes with it.
_MASK_USERS = frozenset({"SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "GlobalAveragePooling1D",
                         "MultiHeadAttention", "GroupQueryAttention", "Softmax"})
_MASKED_HANDLERS = frozenset({"SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional",
                              "GlobalAveragePooling1D", "MultiHeadAttention",
                              "GroupQueryAttention"})
_UNKNOWN_MASK = object()
# (a handler's word that an output carries no mask, whatever pynn's graph
# expects)
_NO_MASK = object()


def _check_masks(ctx, step, kind):
    """A step whose values depend on a mask its input carries is exported
    with that mask, or refused: never written as if there were none."""
    layer = step.layer
    if step.mask_ins and kind not in _MASKED_HANDLERS:
        raise ctx.error(layer, "it is given a mask as a tensor of the graph (mask=, "
                               "query_mask=, ...), which pynn.lite does not write for this "
                               "layer; exported with such masks: "
                               f"{', '.join(sorted(_MASKED_HANDLERS))}")
    carried = [t._has_mask for t in step.nodes[0].input_tensors]
    if not any(carried):
        return
    if kind not in _MASK_USERS:
        return
    if kind not in _MASKED_HANDLERS:
        raise ctx.error(layer, "its input carries a mask (Embedding(mask_zero=True) or "
                               "Masking), which this layer uses; it has no TensorFlow Lite "
                               "form with a mask in pynn.lite")
    if any(m is _UNKNOWN_MASK for m in ctx.in_masks):
        raise ctx.error(layer, "the mask its input carries was combined by a layer before it "
                               "in a way pynn.lite does not write; it cannot be exported")


def _given_masks(ctx, step, xs, given):
    """Masks given to the call as graph tensors (``gru(x, mask=m)``,
    ``mha(q, v, query_mask=m)``) in place of the ones its inputs carry, as
    float32 0/1 tensors (batch, steps): booleans CAST, numbers NOT_EQUAL 0
    first, as pynn reads them."""
    from ..layers.attention import MultiHeadAttention
    layer = step.layer
    layout = step.node.mask_layout
    flags = [True] + [False] * (len(xs) - 1) if layout == "single" else list(layout)
    given = iter(given)
    for i, flag in enumerate(flags):
        if not flag:
            continue
        m = next(given)
        if i in layer._carried_mask_inputs or i == 0 and isinstance(ctx, _TracedContext) and \
                isinstance(layer, MultiHeadAttention):
            # (the layer reads the query's mask from the query, whatever
            # query_mask says, as Keras's does)
            continue
        want = tuple(xs[i].shape[:2])
        if len(m.shape) != 2 or tuple(m.shape[1:]) != want[1:]:
            raise ctx.error(layer, f"the mask given for its input {i} has shape "
                                   f"{_fmt(m.shape)}; pynn.lite writes masks of shape "
                                   f"{_fmt((None,) + want[1:])} (batch, steps)")
        ctx.in_masks[i] = _mask_of(ctx, layer, m)


def _bool_mask(ctx, layer, mask):
    """The booleans a float32 0/1 mask was CAST from, or NOT_EQUAL 0 of it
    (the int8 comparison kernels take no 0/1 mask at scale 1)."""
    for op in ctx.g.ops:
        if op.code == "CAST" and op.outputs[0] is mask and op.inputs[0].dtype == np.bool_:
            return op.inputs[0]
    present = ctx.g.activation(f"{layer.name}/mask_bool", mask.shape, dtype=np.bool_)
    ctx.g.add("NOT_EQUAL", [mask, ctx.g.scalar(f"{layer.name}/mask_zero", 0.0, np.float32)],
              [present], None, layer.name)
    return present


def _mask_of(ctx, layer, m):
    """The graph tensor ``m`` read as a mask (nonzero kept), as the float32
    0/1 tensor the masked handlers take: booleans CAST, numbers NOT_EQUAL
    0 first (once per tensor)."""
    from .sequence import _float_mask
    done = ctx.given.get(id(m))
    if done is None:
        g, present = ctx.g, m
        if m.dtype != np.bool_:
            present = g.activation(f"{m.name}/mask_bool", (None,) + m.shape[1:],
                                   dtype=np.bool_)
            g.add("NOT_EQUAL", [m, g.scalar(f"{m.name}/mask_zero", 0, m.dtype)],
                  [present], None, layer.name)
        done = ctx.given[id(m)] = _float_mask(ctx, layer, present, f"{m.name}/mask")
    return done


def _carry_masks(ctx, step, ys):
    """The masks of a step's outputs: the ones its handler made, else its
    first masked input's, where pynn's graph says the output has one.  In
    a traced call, which pynn runs eagerly, operations on tensors
    (``x + y``) carry no mask, as there."""
    if isinstance(ctx, _TracedContext) and (
            type(step.layer).__name__ == "TensorOperation" or
            getattr(step.layer, "_from_operator", False)):
        return
    made = ctx.out_masks or [None] * len(ys)
    given = [m for m in ctx.in_masks if m is not None]
    for s, t, out, m in zip(step.outs, ys, step.nodes[-1].output_tensors, made):
        if not out._has_mask or m is _NO_MASK:
            continue
        if m is None and given and given[0] is not _UNKNOWN_MASK and \
                all(g is given[0] for g in given) and \
                tuple(t.shape[1:len(given[0].shape)]) == tuple(given[0].shape[1:]):
            m = given[0]
        if m is None and not given and isinstance(ctx, _TracedContext):
            continue  # (run eagerly, a layer given no mask passes none on)
        ctx.masks[s] = _UNKNOWN_MASK if m is None else m


def _emit_steps(ctx, program, tensors):
    """Write the ops of each step of ``program``; ``tensors`` maps its
    slots to graph tensors (the inputs' given, the steps' filled in)."""
    for k, step in enumerate(program.steps):
        xs = [tensors[s] for s in step.ins]
        kind = _layer_kind(step.layer)
        handler = _HANDLERS[kind] if kind is not None else _traced_call
        ctx.in_masks = [ctx.masks.get(s) for s in step.ins]
        ctx.out_masks = None
        _check_masks(ctx, step, kind)
        if step.mask_ins:
            _given_masks(ctx, step, xs, [tensors[s] for s in step.mask_ins])
        moved = _moved_channels(step, kind, ctx.program.shapes)
        y = handler(ctx, step, k, xs) if moved is None else \
            _on_channels_last(ctx, step, k, xs[0], handler, *moved)
        ys = y if isinstance(y, list) else [y]
        for s, t in zip(step.outs, ys):
            tensors[s] = t
        _carry_masks(ctx, step, ys)


def _moved_channels(step, kind, shapes):
    """For a step whose layer computes with the channels on another axis
    than the last (data_format='channels_first', BatchNormalization(axis=1)):
    that axis (negative: the same for its input and output) and whether its
    output has them there too (Flatten's has not); else None."""
    layer = step.layer
    if len(step.ins) != 1 or not step.single_out:
        return None
    ndim = len(shapes[step.ins[0]])
    if kind == "Flatten":
        return (1 - ndim, False) if layer.data_format == "channels_first" and ndim > 2 \
            else None
    if not getattr(layer, "_moves_channels", False):
        return None
    axis = layer._channels_axis(ndim)
    if axis is None:
        return None
    return (axis - ndim if axis >= 0 else axis), True


def _last_perm(ndim, axis):
    axis %= ndim
    return [i for i in range(ndim) if i != axis] + [axis]


def _on_channels_last(ctx, step, k, x, handler, axis, back):
    """The step's ops, written by its handler as for channels-last data,
    between TRANSPOSEs that move the channel axis last and back (what
    TensorFlow's converter writes for such a layer).  The statistics the
    handler took of the step's input or pre-activation are taken of them
    with the channels moved last."""
    from types import SimpleNamespace
    layer, g, shapes = step.layer, ctx.g, ctx.program.shapes
    in_shape, out_shape = tuple(shapes[step.ins[0]]), tuple(shapes[step.outs[0]])

    def moved(shape):
        perm = _last_perm(len(shape), axis)
        return tuple(shape[i] for i in perm)

    def to_last(v):
        return np.moveaxis(np.asarray(v), axis, -1)
    perm = _last_perm(len(in_shape), axis)
    x = _transpose_op(ctx, layer, x, perm, moved(in_shape), f"{step.name}/channels_last",
                      stat=(k, to_last))
    at, start = len(shapes), len(g.ops)
    inner_out = moved(out_shape) if back else out_shape
    shapes.extend([moved(in_shape), inner_out])
    try:
        proxy = SimpleNamespace(layer=layer, ins=[at], outs=[at + 1], act=step.act,
                                fold=step.fold, nodes=step.nodes, node=step.node,
                                mask_ins=step.mask_ins, single_in=True, single_out=True,
                                name=f"{step.name}/on_channels_last" if back else step.name)
        y = handler(ctx, proxy, k, [x])
    finally:
        del shapes[at:]
    for op in g.ops[start:]:
        for t in op.outputs:
            if t.stat is None or t.stat[0] != k:
                continue
            what = t.stat[1]
            if isinstance(what, tuple) and what[0] == "pre":
                t.stat = (k, ("pre", lambda v, f=what[1]: f(to_last(v))))
            elif callable(what):
                t.stat = (k, lambda v, f=what: f(to_last(v)))
    if not back:
        return y
    back_perm = list(np.argsort(_last_perm(len(out_shape), axis)))
    return _transpose_op(ctx, layer, y, back_perm, out_shape, step.name, stat=(k, "out"))


class _TracedContext(_Context):
    """The context of the steps of a custom layer's traced call: tensors
    named under the layer; their calibration statistics index the traced
    program's steps (:func:`_traced_stats` makes them the layer's)."""

    def __init__(self, outer, program, prefix):
        super().__init__(outer.model, outer.g, outer.fusable, program)
        self.prefix = prefix
        self.int8 = outer.int8

    def out_tensor(self, layer, name, shape, stat, dtype=np.float32):
        return super().out_tensor(layer, f"{self.prefix}/{name}", shape, stat, dtype)


def _traced_stats(ctx, k, program, ops, dtypes, given, batch=None):
    """Calibration of the tensors a traced call's ``ops`` write: the traced
    program run on the values of step ``k``'s inputs and the masks they
    carry (``given``: the inputs whose masks are also inputs of the
    program, after the step's), once per batch; for a program traced with
    a fixed ``batch``, ``batch`` rows at a time, the last rows repeated to
    fill the last run.  Each tensor is recorded as its statistic in that
    program says."""
    from types import SimpleNamespace
    from .quantize import run_recording, wanted_stats
    # (those with a statistic known without calibration, a mask's, keep it)
    tensors = [t for op in ops for t in op.outputs
               if t.stat is not None and isinstance(t.stat[0], int)]
    # (the statistics as the traced program takes them, apart from the
    # tensors, whose statistics become the layer's)
    wanted = wanted_stats([SimpleNamespace(stat=t.stat, is_constant=False, target=id(t))
                           for t in tensors])
    state, last = [], {}

    def values(inp, masks):
        if last.get("inp") is not inp:
            if not state:
                state.append(program.new_state())
            got = {}
            xs = list(inp) if isinstance(inp, list) else [inp]
            n = len(xs)
            carried = masks if isinstance(masks, list) else [masks] + [None] * (n - 1)
            xs = [np.ascontiguousarray(v, d)
                  for v, d in zip(xs + [carried[i] for i in given], dtypes)]
            carried = [None if m is None else np.asarray(m) for m in carried]
            rows = len(xs[0])
            step = batch or rows
            for at in range(0, rows, step):
                pick = np.minimum(np.arange(at, at + step), rows - 1)
                run_recording(program, state[0], wanted, [x[pick] for x in xs],
                              lambda t, v: got.setdefault(t.target, []).append(np.array(v)),
                              [None if m is None else m[pick] for m in carried])
            got = {t: np.concatenate(v) for t, v in got.items()}
            last["inp"], last["values"] = inp, got
        return last["values"]
    for t in tensors:
        t.stat = (k, ("masked", lambda inp, masks, t=t: values(inp, masks)[id(t)]))


# The batch a call that cannot be traced with an unknown one is traced with.
_TRACE_BATCH = 2


def _trace_call(layer, ctx, step, xs, carried, batch):
    """The layer's call run on symbolic inputs of the step's shapes (the
    batch ``batch``), its weights as constants: (the traced model, whether
    its last output is the mask compute_mask made, its inference program,
    the inputs whose masks are its inputs after the step's).  ``carried``:
    the masks the inputs carry (None where none), carried by the traced
    inputs and given to a call taking ``mask`` as pynn's run gives them
    (booleans (batch, steps): the first input's to a call of several
    positional tensors, one per input to a call of a list)."""
    from ..layers.lambda_layer import weights_as_constants
    from ..layers.base import Input
    from ..backend import is_keras_tensor
    from ..models import Model
    from ..models.passes import inference_program
    inputs = [Input(batch_shape=(batch,) + tuple(ctx.program.shapes[s][1:]),
                    dtype="int32" if x.dtype == np.int32 else "float32")
              for s, x in zip(step.ins, xs)]
    for t, m in zip(inputs, carried):
        t._has_mask = m is not None
    kwargs = {"training": False} if "training" in layer._call_takes else {}
    arg = inputs if len(inputs) > 1 else inputs[0]
    # (as the layer's own run calls it: several positional tensors spread,
    # a dict's tensors under their keys)
    spread = getattr(layer, "_call_tensors", 1) > 1 and len(inputs) == layer._call_tensors
    keys = layer.__dict__.get("_input_keys")
    if keys is not None and len(inputs) == len(keys) and not spread:
        arg = dict(zip(keys, inputs))
    masks = [None if m is None else Input(batch_shape=(batch,) + tuple(m.shape[1:]),
                                          dtype="bool") for m in carried]
    given = []
    if "mask" in layer._call_takes and any(m is not None for m in masks):
        if spread or len(inputs) == 1:
            given = [0] if masks[0] is not None else []
            if given:
                kwargs["mask"] = masks[0]
        else:
            given = [i for i, m in enumerate(masks) if m is not None]
            kwargs["mask"] = masks
    with weights_as_constants():
        out = layer.call(*inputs, **kwargs) if spread else layer.call(arg, **kwargs)
        # the mask of its output, where Keras's compute_mask(inputs, mask)
        # gives one from the inputs (a padding mask of the ids)
        made = layer._keras_compute_mask(arg, kwargs.get("mask")) \
            if hasattr(layer, "_keras_compute_mask") else None
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    made = made if is_keras_tensor(made) and not isinstance(out, (list, tuple)) else None
    with warnings.catch_warnings():
        # (a mask given to a call that does not read it)
        warnings.filterwarnings("ignore", message=".*not connected to any output")
        traced = Model(inputs + [masks[i] for i in given],
                       outs + ([made] if made is not None else []))
    return traced, made is not None, inference_program(traced), given


def _traced_call(ctx, step, k, xs):
    """A layer computing through its own call() (a transformer block, a
    token-and-position embedding): its call run on symbolic tensors of the
    step's inputs, its weights read as constants, gives a graph of the
    layers and operations it calls, whose steps are written in place of
    the layer's.  The masks its inputs carry reach the layers it calls, as
    at run time."""
    layer = step.layer
    carried = list(ctx.in_masks) + [None] * (len(xs) - len(ctx.in_masks))
    if any(m is _UNKNOWN_MASK for m in carried):
        raise ctx.error(layer, "its inputs carry masks combined by a layer before it in a way "
                               "pynn.lite does not write; it cannot be exported")
    batch = None
    try:
        traced, made, program, given = _trace_call(layer, ctx, step, xs, carried, None)
    except Exception as e:
        try:
            # A call reading the batch size from its input's shape (keras.io's
            # causal_attention_mask tiles its mask by it): traced with a batch
            # of 2, whose program must keep the batch first on every tensor.
            traced, made, program, given = _trace_call(layer, ctx, step, xs, carried,
                                                       _TRACE_BATCH)
        except Exception:
            program = None
        # (a nested model's tensors keep their unknown batch)
        if program is None or any(sh[0] not in (None, _TRACE_BATCH) for sh in program.shapes):
            raise ctx.error(layer, f"its call() could not be traced into TensorFlow Lite ops "
                                   f"({type(e).__name__}: {e})") from None
        program.shapes = [(None,) + tuple(sh[1:]) for sh in program.shapes]
        batch = _TRACE_BATCH
    values = list(xs) + [_bool_mask(ctx, layer, carried[i]) for i in given]
    try:
        _check_exportable(program)
    except ConversionError as e:
        raise ctx.error(layer, f"its call() uses what has no TensorFlow Lite form: {e}") \
            from None
    inner = _TracedContext(ctx, program, layer.name)
    inner.traced_batch = batch
    for slot, m in zip(program.input_slots, carried):
        if m is not None:
            inner.masks[slot] = m
    tensors = dict(zip(program.input_slots, values))
    start = len(ctx.g.ops)
    try:
        _emit_steps(inner, program, tensors)
    except ConversionError as e:
        raise ctx.error(layer, f"its call() uses what has no TensorFlow Lite form: {e}") \
            from None
    _traced_stats(ctx, k, program, ctx.g.ops[start:],
                  [np.dtype(t.dtype) for t in traced.inputs], given, batch)
    outs = [tensors[s] for s in program.output_slots]
    if made:
        ctx.out_masks = [_mask_of(ctx, layer, outs.pop())]
    elif hasattr(layer, "_keras_compute_mask"):
        # (its compute_mask gave no mask: the outputs carry none)
        ctx.out_masks = [_NO_MASK] * len(outs)
    for i, t in enumerate(outs):  # (an output the call passed through unchanged)
        if t in xs:
            outs[i] = ctx.reshape(layer, t, program.shapes[program.output_slots[i]],
                                  f"{layer.name}/identity_{i}")
    return outs if len(outs) > 1 else outs[0]


def build_graph(model, int8=False):
    """The float32 TFLite graph of a built pynn model (any number of inputs
    and outputs).  ``int8``: written for full integer, in ops that have
    int8 kernels (recurrent layers unrolled, not UNIDIRECTIONAL_SEQUENCE_LSTM
    / _RNN; a masked mean weighted by a SOFTMAX, not divided)."""
    from ..models import Model
    from ..models.passes import inference_program
    if not isinstance(model, Model):
        raise ConversionError(f"TFLiteConverter: expected a pynn model, got "
                              f"{type(model).__name__}")
    if not model.layers:
        raise ConversionError(f"Model {model.name!r} has no layers; there is nothing to export")
    if not model.built or model._program is None:
        raise ConversionError(f"Model {model.name!r} has not been built, so its input shape and "
                              f"weights are unknown; give the first layer input_shape=..., start "
                              f"with pynn.Input(shape=...), or call the model on data first")
    for t in model._inputs:
        if any(d is None for d in t.shape[1:]):
            raise ConversionError(f"Model {model.name!r}: the input {t.name!r} has shape "
                                  f"{_fmt(t.shape)} with an unknown dimension other than the "
                                  f"batch; TFLite needs them known")
        if t.dtype not in ("float32", "int32", "int64", "bool"):
            raise ConversionError(f"Model {model.name!r}: the input {t.name!r} is {t.dtype}; "
                                  f"pynn.lite exports float32, int32, int64 and bool (mask) "
                                  f"inputs")
    program = inference_program(model)
    _check_exportable(program)

    g = Graph()
    tensors = {}
    single = len(program.input_slots) == 1
    for i, (slot, t) in enumerate(zip(program.input_slots, model._inputs)):
        tensors[slot] = g.activation("input" if single else t.name, program.shapes[slot],
                                     stat=("input", i), dtype=np.dtype(t.dtype))
    g.inputs = [tensors[s] for s in program.input_slots]
    ctx = _Context(model, g, FUSABLE, program)
    for slot, t in zip(program.input_slots, g.inputs):
        readers = {_layer_kind(st.layer) for st in program.steps if slot in st.ins}
        if t.dtype == np.int64 and not readers <= _INT64_READERS:
            # (token ids declared int64, as DLwP's models do: the model
            # takes them so, and its ops read them as int32; the layers
            # that read all 64 bits take them as they are)
            from .sequence import _op
            from .writer import _tflite
            tfl = _tflite()[1]
            tensors[slot] = _op(ctx, model.layers[0], "CAST", [t], (None,) + t.shape[1:],
                                f"{t.name}/int32", ("CastOptions", {
                                    "InDataType": tfl.TensorType.INT64,
                                    "OutDataType": tfl.TensorType.INT32}), dtype=np.int32)
    ctx.int8 = int8
    _emit_steps(ctx, program, tensors)
    outputs = []
    names = model.output_names
    for i, slot in enumerate(program.output_slots):
        t = tensors[slot]
        if t in g.inputs or t in outputs:
            # An output that is an input, or the same tensor twice: a
            # reshape to the same shape gives it a tensor of its own.
            last = model.layers[-1]
            t = ctx.reshape(last, t, program.shapes[slot], f"{names[i]}/identity",
                            stat=None)
        outputs.append(t)
    used = set()
    for i, t in enumerate(outputs):
        name = "output" if len(outputs) == 1 else names[i]
        if name in used:
            name = f"{name}_{i}"
        used.add(name)
        t.name = name
    g.outputs = outputs
    # The serving signature names them as TensorFlow's converter does a
    # Keras 3 model's (runner(**{input_name: x})["output_0"]): the inputs
    # by their Input's name, the outputs output_0, output_1, ... or by the
    # keys of a dict of outputs.
    struct = model._outputs_struct
    keys = {id(v): k for k, v in struct.items()} if isinstance(struct, dict) else {}
    g.signature_names = ([t.name for t in model._inputs],
                         [str(keys.get(id(t), f"output_{i}"))
                          for i, t in enumerate(model._outputs)])
    return g
