"""Core layers: Dense, EinsumDense, Activation, Dropout, Flatten, Reshape, Identity."""
import math
import re
import string

import numpy as np

from .. import activations, autodiff, constraints, initializers, ops, regularizers
from ..utils.seeding import next_seed
from .base import Layer, check_size, data_format_arg, shape_str


# How many times a built layer's activation was set: a model's inference
# program fuses and plans the activations it finds, so it is rebuilt when
# this count has moved since.
_activation_changes = 0


def activation_changed():
    global _activation_changes
    _activation_changes += 1


def activation_changes():
    return _activation_changes


class ActivationMixin:
    """A layer whose output passes through an activation it applies itself.

    When the model fuses that activation into the loss (softmax or sigmoid
    before a cross-entropy), it sets ``ctx.emit_logits`` on the call's
    context: the layer then outputs the pre-activation and its backward
    skips the activation's derivative.

    A custom activation (a Python function) runs after the kernel, which
    computes the pre-activation; in training it is traced, and backward
    sends ``dy`` back through it before the kernel's gradient.
    """

    @property
    def activation(self):
        return self._activation

    @activation.setter
    def activation(self, value):
        # Keras scripts set it after building (``layer.activation = None``
        # to read logits, as Grad-CAM does): the same names as __init__.
        self._activation = activations.canonical(value)
        if getattr(self, "built", False):
            activation_changed()

    def _act(self, ctx):
        return "linear" if ctx.emit_logits else self._activation

    def _custom_activation(self, ctx, fn, pre, training):
        return autodiff.activation_forward(
            ctx, fn, pre, training,
            f"activation {activations.name_of(fn)!r} of layer {self.name!r}")

    def _activate_into(self, ctx, compute, out_shape, act, training):
        """Runs ``compute(activation, out)``, keeping what backward needs."""
        if callable(act):
            y = self._custom_activation(ctx, act, compute("linear", ctx.buffer("y", out_shape)),
                                        training)
            if training:
                ctx.pre, ctx.y = None, y
            return y
        if training and act in ops.NEEDS_INPUT:
            pre = compute("linear", ctx.buffer("pre", out_shape))
            y = ops.activation(pre, act, out=ctx.buffer("y", out_shape))
        else:
            pre = None
            y = compute(act, ctx.buffer("y", out_shape))
        if training:
            ctx.pre, ctx.y = pre, y
        return y

    def _activation_backward(self, ctx, dy):
        """dy through the activation of this call; ``ctx.pre`` is the
        pre-activation, kept only for the activations whose derivative
        needs it."""
        act = self._act(ctx)
        if act == "linear":
            return dy
        if callable(act):
            return autodiff.activation_backward(ctx, dy)
        return ops.activation_grad(act, ctx.pre, ctx.y, dy, out=ctx.buffer("dact", dy.shape))


def _grad(weight):
    """Where a weight's gradient goes, or None when it is not trained."""
    return None if weight is None else weight.grad


class Dense(ActivationMixin, Layer):
    """``activation(x @ kernel + bias)`` over the last axis of the input."""
    runs_on_gpu = True
    supports_masking = True  # a mask over the steps passes through, as in Keras
    fixed_input_axes = (-1,)
    # inputs of any rank with the features it was built for, as Keras's
    # (min_ndim=2): one Dense serves a state (batch, units) and a sequence
    # (batch, steps, units) alike
    fixed_input_rank = False
    can_fold_affine = True

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, (float, np.floating)) and math.isfinite(units) and units >= 1:
            # a fraction is cut to its whole part, as tf.keras 2's Dense did
            # (its tutorials write ``Dense(total_words / 2)``)
            units = int(units)
        self.units = _positive_int(units, "units", self)
        self.activation = activations.canonical(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense {self.name!r}: the last dimension of the input must be "
                             f"known, got shape {shape_str(input_shape)}")
        if self.quantization_mode == "int8":  # a quantized layer read from a file
            self._int8_weights("kernel", (input_shape[-1], self.units), axis=0)
        else:
            self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                          self.kernel_initializer,
                                          regularizer=self.kernel_regularizer,
                                          constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Dense {self.name!r}: expected an input of rank >= 2, got shape "
                             f"{shape_str(input_shape)}")
        return tuple(input_shape[:-1]) + (self.units,)

    def quantize(self, mode=None, type_check=True, config=None):
        """Keras's int8 quantization: the kernel becomes int8 values with a
        scale per unit (its largest magnitude over 127); each call
        quantizes its inputs per row the same way."""
        self._quantize_int8("kernel", 0, mode, type_check, config, Dense)

    def _kernel_and_input(self, x):
        """The kernel and input the layer multiplies: once quantized, the
        int8 values of both over their scales, which is Keras's int8
        product divided by the two scales."""
        if self._dtype_policy.quantization_mode != "int8":
            return self.kernel.value, x
        from ..quantizers import abs_max_quantize
        values, scale = abs_max_quantize(x, axis=-1, dtype="float32")
        return ops.divide(self.kernel.value, self.kernel_scale.value), ops.divide(values, scale)

    def forward(self, ctx, x, training):
        kernel, x = self._kernel_and_input(x)
        return self._dense(ctx, x, kernel,
                           self.bias.value if self.bias is not None else None,
                           self._act(ctx), training)

    def infer(self, ctx, x, fold=None, activation=None):
        """Inference with, optionally, a following per-unit affine map
        ``fold = (scale, shift)`` (an inference-mode BatchNormalization)
        folded into kernel and bias, and a following activation fused."""
        kernel, x = self._kernel_and_input(x)
        bias = self.bias.value if self.bias is not None else None
        if fold is not None:
            kernel, bias = ops.fold_affine(kernel, bias, *fold)
        return self._dense(ctx, x, kernel, bias, activation or self.activation, False)

    def _dense(self, ctx, x, kernel, bias, act, training):
        shape = x.shape
        x2 = x if len(shape) == 2 else x.reshape(-1, shape[-1])
        out_shape = (x2.shape[0], self.units)
        if training and act in ops.NEEDS_INPUT:
            pre = ops.dense(x2, kernel, bias, out=ctx.buffer("pre", out_shape))
            y = ops.activation(pre, act, out=ctx.buffer("y", out_shape))
        elif callable(act):
            pre = None
            y = self._custom_activation(
                ctx, act, ops.dense(x2, kernel, bias, out=ctx.buffer("y", out_shape)), training)
        else:
            pre = None
            y = ops.dense(x2, kernel, bias, act, out=ctx.buffer("y", out_shape))
        if training:
            ctx.x, ctx.pre, ctx.y, ctx.kernel = x2, pre, y, kernel
        return y if len(shape) == 2 else y.reshape(shape[:-1] + (self.units,))

    def backward(self, ctx, dy, need_input_grad=True):
        dy2 = dy.reshape(-1, self.units)
        x = ctx.x
        act = self._act(ctx)
        if callable(act):
            dy2, act = autodiff.activation_backward(ctx, dy2), "linear"
        # (a quantized kernel's gradient goes to the input through its
        # float values, as Keras's straight-through int8 gradient)
        dx = ops.dense_grad(
            x, ctx.kernel, dy2, act, y=ctx.y, pre=ctx.pre,
            kernel_grad=self.kernel.grad, bias_grad=_grad(self.bias),
            input_grad=ctx.buffer("dx", x.shape) if need_input_grad else False,
            work=ctx.buffer("dact", dy2.shape) if act != "linear" else None)
        if dx is None:
            return None
        return dx.reshape(dy.shape[:-1] + (x.shape[1],))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_options(self, "kernel", "bias")}


def _positive_int(value, what, layer):
    """``value`` as a positive int no larger than a pynn array may hold,
    or a ValueError naming the layer and the argument."""
    try:
        ok = not isinstance(value, (str, bytes, bool)) and float(value) == int(value) and \
            int(value) > 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: {what} must be a positive "
                         f"integer, got {value!r}")
    check_size((int(value),), f"{type(layer).__name__} {layer.name!r}: {what}")
    return int(value)


def weight_options(layer, *prefixes):
    """The config entries of the layer's regularizers and constraints
    (``kernel_regularizer``, ...), those that are set."""
    out = {}
    for p in prefixes:
        for kind, module in (("regularizer", regularizers), ("constraint", constraints)):
            value = getattr(layer, f"{p}_{kind}", None)
            if value is not None:
                out[f"{p}_{kind}"] = module.serialize(value)
    return out


class Activation(ActivationMixin, Layer):
    """Applies an activation function to its input."""
    runs_on_gpu = True
    supports_masking = True
    fixed_input_axes = ()  # any shape, as Keras's (which has no input_spec)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.canonical(activation)

    def forward(self, ctx, x, training):
        act = self._act(ctx)
        if act == "linear":
            y = x
        elif callable(act):
            y = self._custom_activation(ctx, act, x, training)
        else:
            y = ops.activation(x, act, out=ctx.buffer("y", x.shape))
        if training:
            ctx.pre, ctx.y = x, y
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        return self._activation_backward(ctx, dy) if need_input_grad else None

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of its input while training (scaling the
    rest by ``1 / (1 - rate)``); the identity at inference.

    ``noise_shape``: the shape of the drawn keep/drop mask, one entry per
    input axis (batch included), each 1 (one draw shared along that axis),
    None or the input's size (one draw per position): ``(None, 1, 1, 1)``
    drops whole samples of an image batch (EfficientNet's stochastic
    depth)."""
    runs_on_gpu = True
    supports_masking = True
    inference_identity = True
    # one Dropout may serve tensors of any shapes (Swin's attention weights
    # and its outputs), as Keras's (which has no input_spec)
    fixed_input_axes = ()
    fixed_input_rank = False

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        try:
            ok = 0.0 <= float(rate) < 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"Dropout {self.name!r}: rate must be a number in [0, 1), "
                             f"got {rate!r}")
        self.noise_shape = self._checked_noise_shape(noise_shape)
        if self.noise_shape is not None:
            self.runs_on_gpu = False  # the shared mask is broadcast on the host
        self.rate = float(rate)
        self.seed = seed
        self._draws = 0

    def _checked_noise_shape(self, noise_shape):
        if noise_shape is None:
            return None
        try:
            dims = tuple(noise_shape)
        except TypeError:
            dims = None
        if isinstance(noise_shape, str) or dims is None or any(
                d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))
                                   or d < 1) for d in dims):
            raise ValueError(f"Dropout {self.name!r}: noise_shape must be a tuple of positive "
                             f"integers or None, got {noise_shape!r}")
        return tuple(None if d is None else int(d) for d in dims)

    def _mask_shape(self, input_shape):
        """noise_shape with its None entries filled from the input's shape;
        each entry must be 1 or the input's size on that axis."""
        shape = self.noise_shape
        if len(shape) != len(input_shape) or any(
                n is not None and n != 1 and d is not None and n != d
                for n, d in zip(shape, input_shape)):
            raise ValueError(f"Dropout {self.name!r}: noise_shape {shape} does not fit an "
                             f"input of shape {shape_str(input_shape)}: it needs one entry "
                             f"per axis, each 1, None or the input's size")
        return tuple(d if n is None else n for n, d in zip(shape, input_shape))

    def compute_output_shape(self, input_shape):
        if self.noise_shape is not None:
            self._mask_shape(input_shape)
        return tuple(input_shape)

    def _seed(self):
        if self.seed is None:
            return next_seed()
        seed = hash((self.seed, self._draws)) & 0x7FFFFFFFFFFFFFFF
        self._draws += 1
        return seed

    def forward(self, ctx, x, training):
        ctx.scale = ctx.channel_scale = None
        if not training or ctx.inference_behaviour or self.rate == 0.0:
            ctx.mask_bits = None
            return x
        if self.noise_shape is not None:
            return self._forward_shared_mask(ctx, x)
        # ctx.row_offset: where this batch's rows start in the batch being
        # split across processes (0 otherwise), so every process draws its
        # part of the whole batch's mask.
        y, ctx.mask_bits = ops.dropout(x, self.rate, self._seed(),
                                       out=ctx.buffer("y", x.shape),
                                       mask=ctx.buffer("mask", x.shape, np.uint8),
                                       offset=ctx.row_offset * (x.size // max(x.shape[0], 1)))
        return y

    def _forward_shared_mask(self, ctx, x):
        """Dropout with a mask of shape noise_shape broadcast over the
        input: the mask's kept entries hold ``1 / (1 - rate)``."""
        ctx.mask_bits = None
        shape = self._mask_shape(x.shape)
        ones = ctx.buffer("ones", shape)
        ones[...] = 1.0
        # A batch split across processes draws its rows' part of the whole
        # batch's mask (when the mask has one row per sample).
        per_row = math.prod(shape[1:])
        offset = ctx.row_offset * per_row if shape[0] == x.shape[0] else 0
        scale, _ = ops.dropout(ones, self.rate, self._seed(), out=ctx.buffer("scale", shape),
                               mask=ctx.buffer("mask", shape, np.uint8), offset=offset)
        if all(d == 1 for d in shape[1:-1]):
            # One factor per (sample, channel) at most (per-sample stochastic
            # depth, spatial dropout): spread to (batch, channels) and applied
            # in place of a broadcast copy of the whole input's size.
            n, c = x.shape[0], x.shape[-1]
            ctx.channel_scale = ctx.buffer("channel_scale", (n, c))
            np.copyto(ctx.channel_scale, scale.reshape(shape[0], shape[-1]))
            ctx.scale = None
            return ops.scale_channels(x, ctx.channel_scale, out=ctx.buffer("y", x.shape))
        ctx.channel_scale, ctx.scale = None, scale
        return ops.multiply(x, scale, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        if ctx.channel_scale is not None:
            return ops.scale_channels(dy, ctx.channel_scale, out=ctx.buffer("dx", dy.shape))
        if ctx.scale is not None:
            return ops.multiply(dy, ctx.scale, out=ctx.buffer("dx", dy.shape))
        if ctx.mask_bits is None:
            return dy
        return ops.dropout_grad(dy, ctx.mask_bits, self.rate, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}


class Flatten(Layer):
    """Flattens every dimension but the batch; channels_first data
    (batch, channels, ...) is flattened in channels-last order, as Keras
    does, so that the Dense after it sees the same features in both
    formats."""
    runs_on_gpu = True
    # inputs of any shape, as Keras's: the layer after it checks the size
    fixed_input_axes = ()
    fixed_input_rank = False

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg(data_format, f"Flatten {self.name!r}")
        if self.data_format == "channels_first":
            self.runs_on_gpu = False

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], n)

    def forward(self, ctx, x, training):
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        ctx.shape = x.shape
        # (the size spelled out: -1 is ambiguous for a batch of no samples)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        dx = dy.reshape(ctx.shape)
        if self.data_format == "channels_first" and dx.ndim > 2:
            dx = np.ascontiguousarray(np.moveaxis(dx, -1, 1))
        return dx

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes every dimension but the batch to ``target_shape`` (one entry
    may be -1)."""
    runs_on_gpu = True
    # inputs of any shape whose size fits the target (compute_output_shape
    # says which do not), as Keras's
    fixed_input_axes = ()
    fixed_input_rank = False

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            self.target_shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(f"Reshape {self.name!r}: target_shape must be a tuple of ints, "
                             f"got {target_shape!r}") from None
        if sum(d == -1 for d in self.target_shape) > 1 or any(
                d < -1 for d in self.target_shape):
            raise ValueError(f"Reshape {self.name!r}: dimensions must be >= 0, with at most "
                             f"one -1, got {self.target_shape}")

    def compute_output_shape(self, input_shape):
        target = list(self.target_shape)
        if any(d is None for d in input_shape[1:]):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in target)
        size = int(np.prod(input_shape[1:], dtype=np.int64))
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        if -1 in target:
            if known == 0 or size % known:
                raise ValueError(f"Reshape {self.name!r}: cannot reshape input of shape "
                                 f"{shape_str(input_shape)} to {self.target_shape}")
            target[target.index(-1)] = size // known
        elif known != size:
            raise ValueError(f"Reshape {self.name!r}: cannot reshape input of shape "
                             f"{shape_str(input_shape)} ({size} values) to "
                             f"{self.target_shape} ({known} values)")
        return (input_shape[0],) + tuple(target)

    def forward(self, ctx, x, training):
        ctx.shape = x.shape
        # The -1 resolved from the sample's size: NumPy cannot infer it for
        # a batch of no samples.
        return x.reshape((x.shape[0],) + self.compute_output_shape(x.shape)[1:])

    def backward(self, ctx, dy, need_input_grad=True):
        return dy.reshape(ctx.shape) if need_input_grad else None

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


_EINSUM_FORMS = (  # Keras's three forms: no ellipsis, one on the left, one on the right
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), None),
    (re.compile(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)"), "left"),
    (re.compile(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\."), "right"),
)


class EinsumDense(ActivationMixin, Layer):
    """``activation(einsum(equation, x, kernel) + bias)`` (Keras's
    ``EinsumDense``): a dense layer over any axes, named by an einsum
    equation of the input, the kernel and the output
    (``'abc,cd->abd'``, ``'...b,bc->...c'``, ``'ab...,bc->ac...'``).
    ``output_shape`` gives the output's sizes past the batch (None for
    those the input fixes); ``bias_axes`` names the output letters the
    bias runs along (broadcast over the rest)."""

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = f"EinsumDense {self.name!r}"
        if not isinstance(equation, str):
            raise TypeError(f"{label}: equation must be a string such as 'ab,bc->ac', got "
                            f"{type(equation).__name__}")
        equation = equation.replace(" ", "")
        for pattern, elided in _EINSUM_FORMS:
            match = pattern.fullmatch(equation)
            if match:
                break
        else:
            raise ValueError(f"{label}: equation must have the form X,Y->Z, ...X,Y->...Z or "
                             f"X...,Y->Z... (letters a-z, A-Z), got {equation!r}")
        self.equation = equation
        self._specs, self._elided = match.groups(), elided
        x_spec, w_spec, y_spec = self._specs
        for spec in self._specs:
            if len(set(spec)) != len(spec):
                raise ValueError(f"{label}: each letter may appear once per term; "
                                 f"{spec!r} of {equation!r} repeats one")
        for c in w_spec:
            if c not in x_spec and c not in y_spec:
                raise ValueError(f"{label}: the kernel's letter {c!r} of {equation!r} is in "
                                 f"neither the input nor the output")
        for c in y_spec:
            if c not in x_spec and c not in w_spec:
                raise ValueError(f"{label}: the output's letter {c!r} of {equation!r} is in "
                                 f"neither the input nor the kernel")
        shape = (output_shape,) if isinstance(output_shape, (int, np.integer)) else output_shape
        try:
            shape = tuple(None if d is None else int(d) for d in shape)
        except (TypeError, ValueError):
            shape = ()
        if not shape or any(d is not None and d < 1 for d in shape):
            raise ValueError(f"{label}: output_shape must be a positive int or a tuple of "
                             f"positive ints and Nones, got {output_shape!r}")
        self.partial_output_shape = shape
        if bias_axes is not None:
            if not isinstance(bias_axes, str) or not bias_axes or \
                    any(c not in y_spec for c in bias_axes):
                raise ValueError(f"{label}: bias_axes must be letters of the output "
                                 f"{y_spec!r}, got {bias_axes!r}")
        self.bias_axes = bias_axes
        self.activation = activations.canonical(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _letters(self, rank):
        """The input's, kernel's and output's letters for an input of
        ``rank``, the ellipsis spelled out with letters of its own."""
        x_spec, w_spec, y_spec = self._specs
        extra = rank - len(x_spec)
        if extra < 0 or (extra and self._elided is None):
            raise ValueError(f"EinsumDense {self.name!r}: the equation {self.equation!r} "
                             f"takes an input of rank {len(x_spec)}"
                             f"{' or more' if self._elided else ''}, got rank {rank}")
        spare = "".join(c for c in string.ascii_letters if c not in self.equation)[:extra]
        if self._elided == "left":
            return spare + x_spec, w_spec, spare + y_spec
        return x_spec + spare, w_spec, y_spec + spare

    def _shapes(self, input_shape):
        """(output shape, kernel shape, bias shape or None), as Keras's
        _analyze_einsum_string gives them."""
        label = f"EinsumDense {self.name!r}"
        xs, ws, ys = self._letters(len(input_shape))
        spare = len(xs) - len(self._specs[0])
        given = list(self.partial_output_shape)
        # The batch and the elided axes come from the input (a left
        # ellipsis holds the batch).
        if self._elided == "left":
            out = [input_shape[0]] + list(input_shape[1:spare]) + given
        else:
            out = [input_shape[0]] + given + list(input_shape[len(input_shape) - spare:])
        if len(out) != len(ys):
            raise ValueError(f"{label}: output_shape {self.partial_output_shape} has "
                             f"{len(given)} sizes; the output {ys!r} of {self.equation!r} for "
                             f"an input of rank {len(input_shape)} needs "
                             f"{len(given) + len(ys) - len(out)}")
        size = dict(zip(xs, input_shape))
        for i, c in enumerate(ys):
            if c in size:
                if out[i] is not None and size[c] is not None and out[i] != size[c]:
                    raise ValueError(f"{label}: output_shape gives {out[i]} for the axis "
                                     f"{c!r} that the input of shape "
                                     f"{shape_str(input_shape)} has as {size[c]}")
                out[i] = size[c]
        out_size = dict(zip(ys, out))
        kernel = tuple(out_size[c] if c in ys else size[c] for c in ws)
        if any(d is None for d in kernel):
            raise ValueError(f"{label}: the kernel's sizes {ws!r} must all be known, got "
                             f"{kernel} from output_shape {self.partial_output_shape} and the "
                             f"input shape {shape_str(input_shape)}")
        bias = None
        if self.bias_axes is not None:
            first = min(ys.index(c) for c in self.bias_axes)
            bias = tuple(out_size[c] if c in self.bias_axes else 1 for c in ys[first:])
            if any(d is None for d in bias):
                raise ValueError(f"{label}: bias_axes {self.bias_axes!r} run along an axis "
                                 f"of unknown size in the output {tuple(out)}")
        return tuple(out), kernel, bias

    def build(self, input_shape):
        _, kernel, bias = self._shapes(tuple(input_shape))
        self._input_rank = len(input_shape)
        if self.quantization_mode == "int8":  # a quantized layer read from a file
            self._int8_weights("kernel", kernel, self._int8_axes()[0],
                               self._int8_axes(kernel)[2])
        else:
            self.kernel = self.add_weight("kernel", kernel, self.kernel_initializer,
                                          regularizer=self.kernel_regularizer,
                                          constraint=self.kernel_constraint)
        self.bias = None if bias is None else self.add_weight(
            "bias", bias, self.bias_initializer, regularizer=self.bias_regularizer,
            constraint=self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self._shapes(tuple(input_shape))[0]

    # ------------------------------------------------ int8 quantization

    def _int8_axes(self, kernel_shape=None):
        """(the kernel's axes the einsum sums over, the input's, and the
        shape Keras keeps the kernel's scales in: the output's axes, of
        size 1 where the kernel has no letter)."""
        xs, ws, ys = self._letters(self._input_rank)
        kernel_axes = tuple(i for i, c in enumerate(ws) if c not in ys)
        input_axes = tuple(i for i, c in enumerate(xs) if c not in ys)
        if kernel_shape is None:
            return kernel_axes, input_axes, None
        size = dict(zip(ws, kernel_shape))
        return kernel_axes, input_axes, tuple(size[c] if c in ws else 1 for c in ys)

    def quantize(self, mode=None, type_check=True, config=None):
        """Keras's int8 quantization: the kernel becomes int8 values with a
        scale per output unit (its largest magnitude over the summed axes,
        over 127); each call quantizes its inputs the same way over the
        axes the einsum sums."""
        if self.built:
            axes = self._int8_axes()[0]
        else:
            axes = 0  # (_quantize_int8 says the layer must be built)
        self._quantize_int8("kernel", axes, mode, type_check, config, EinsumDense)

    def _int8_weights(self, attr, shape, axis, scale_shape=None):
        super()._int8_weights(attr, shape, axis, scale_shape or self._int8_axes(shape)[2])

    def _kept_letters(self):
        # the kernel's letters that reach the output: in the kernel's order
        # and in the output's
        _, ws, ys = self._letters(self._input_rank)
        return [c for c in ws if c in ys], [c for c in ys if c in ws], ws

    def _stored_scale(self, scale):
        in_kernel, in_output, ws = self._kept_letters()
        kept = np.reshape(scale, [self.kernel.shape[ws.index(c)] for c in in_kernel])
        kept = np.transpose(kept, [in_kernel.index(c) for c in in_output])
        return kept.reshape(self.kernel_scale.shape)

    def _kernel_scale_for_kernel(self):
        """The stored scales laid out along the kernel's axes (size 1 on
        those the einsum sums), to divide the int8 kernel by."""
        in_kernel, in_output, ws = self._kept_letters()
        kept = self.kernel_scale.value.reshape([self.kernel.shape[ws.index(c)]
                                                for c in in_output])
        kept = np.transpose(kept, [in_output.index(c) for c in in_kernel])
        return kept.reshape([self.kernel.shape[i] if c in in_kernel else 1
                             for i, c in enumerate(ws)])

    def _kernel_and_input(self, x):
        """The kernel and input the einsum takes: once quantized, the int8
        values of both over their scales, which is Keras's int8 einsum
        divided by the two scales."""
        if self._dtype_policy.quantization_mode != "int8":
            return self.kernel.value, x
        from ..quantizers import abs_max_quantize
        values, scale = abs_max_quantize(x, axis=self._int8_axes()[1], dtype="float32")
        return self._float_kernel(), ops.divide(values, scale)

    def _float_kernel(self):
        if self.quantization_mode != "int8":
            return self.kernel.value
        return ops.divide(self.kernel.value, self._kernel_scale_for_kernel())

    def forward(self, ctx, x, training):
        xs, ws, ys = self._letters(x.ndim)
        kernel, x_in = self._kernel_and_input(x)
        pre = ops.einsum(f"{xs},{ws}->{ys}", x_in, kernel)
        if self.bias is not None:
            pre = ops.add(pre, self.bias.value)
        act = self._act(ctx)
        if callable(act):
            y = self._custom_activation(ctx, act, pre, training)
        else:
            y = ops.activation(pre, act)
        if training:
            ctx.x, ctx.pre, ctx.y = x, pre, y
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        g = self._activation_backward(ctx, dy)
        x = ctx.x
        xs, ws, ys = self._letters(x.ndim)
        if self.kernel.grad is not None:
            self.kernel.grad[...] = ops.einsum(f"{ys},{xs}->{ws}", g, x)
        if self.bias is not None and self.bias.grad is not None:
            self.bias.grad[...] = ops.reduce_to_shape(g, self.bias.shape)
        if not need_input_grad:
            return None
        # (quantized: through the dequantized kernel, the inputs' rounding
        # passed straight through, as Keras's gradient)
        kernel = self._float_kernel()
        # An input letter in neither the output nor the kernel was summed
        # away: its gradient is the same along it (ones carry it in).
        lost = "".join(c for c in xs if c not in ys and c not in ws)
        if not lost:
            return ops.einsum(f"{ys},{ws}->{xs}", g, kernel)
        ones = ops.ones(tuple(x.shape[xs.index(c)] for c in lost))
        return ops.einsum(f"{ys},{ws},{lost}->{xs}", g, kernel, ones)

    def get_config(self):
        return {**super().get_config(), "output_shape": list(self.partial_output_shape),
                "equation": self.equation, "activation": activations.serialize(self.activation),
                "bias_axes": self.bias_axes,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_options(self, "kernel", "bias")}


class Identity(Layer):
    """Keras's Identity: returns its input (or list of inputs) as it is,
    with its mask; a placeholder where a model needs a layer that does
    nothing.  Graph passes leave it out of predict and the TFLite export."""
    supports_masking = True
    inference_identity = True
    runs_on_gpu = True
    fixed_input_axes = ()


class RandomFourierFeatures(Layer):
    """Keras 2's (``layers.experimental.RandomFourierFeatures``): maps
    (batch, d) inputs to ``cos(x @ (kernel / kernel_scale) + bias)``, random
    features whose dot products approximate a Gaussian or Laplacian kernel
    (a quasi-SVM when a linear layer follows).  The kernel, drawn N(0, 1)
    ('gaussian') or Cauchy ('laplacian') or by a given initializer, and the
    bias, uniform in [0, 2 pi), never train; ``kernel_scale`` (``scale``,
    default sqrt(d / 2) for 'gaussian', else 1) trains when the layer is
    made with trainable=True."""
    KERNELS = ("gaussian", "laplacian")

    def __init__(self, output_dim, kernel_initializer="gaussian", scale=None, trainable=False,
                 name=None, **kwargs):
        if isinstance(output_dim, bool) or not isinstance(output_dim, (int, np.integer)) \
                or output_dim <= 0:
            raise ValueError(f"RandomFourierFeatures: output_dim must be a positive integer, "
                             f"got {output_dim!r}")
        if isinstance(kernel_initializer, str) and kernel_initializer.lower() not in self.KERNELS:
            raise ValueError(f"RandomFourierFeatures: unsupported kernel_initializer "
                             f"{kernel_initializer!r}; the kernels are {list(self.KERNELS)}")
        if scale is not None and not scale > 0.0:
            raise ValueError(f"RandomFourierFeatures: scale must be a positive float, got "
                             f"{scale!r}")
        super().__init__(trainable=trainable, name=name, **kwargs)
        self.output_dim = int(output_dim)
        self.kernel_initializer = kernel_initializer
        self.scale = scale

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"RandomFourierFeatures {self.name!r}: expects inputs of shape "
                             f"(batch, d) with d known, got {shape_str(input_shape)}")
        d = int(input_shape[-1])
        kind = self.kernel_initializer.lower() if isinstance(self.kernel_initializer, str) \
            else None
        if kind == "gaussian":
            init = initializers.RandomNormal(stddev=1.0)
        elif kind == "laplacian":
            u = np.random.default_rng(next_seed()).uniform(size=(d, self.output_dim))
            init = initializers.Constant(np.tan(np.pi * (u - 0.5)).astype(np.float32))
        else:
            init = self.kernel_initializer
        self.unscaled_kernel = self.add_weight("unscaled_kernel", (d, self.output_dim), init,
                                               trainable=False)
        self.bias = self.add_weight("bias", (self.output_dim,),
                                    initializers.RandomUniform(0.0, 2 * np.pi), trainable=False)
        if self.scale is None:
            self.scale = float(np.sqrt(d / 2.0)) if kind == "gaussian" else 1.0
        self.kernel_scale = self.add_weight("kernel_scale", (1,),
                                            initializers.Constant(self.scale),
                                            constraint="non_neg")

    def call(self, inputs):
        kernel = self.unscaled_kernel * (1.0 / self.kernel_scale)
        return ops.cos(ops.matmul(ops.cast(inputs, "float32"), kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        init = self.kernel_initializer
        return {**super().get_config(), "output_dim": self.output_dim,
                "kernel_initializer": init if isinstance(init, str) else
                initializers.serialize(init), "scale": self.scale}


# Keras 2's keras.layers.core also held these (``from keras.layers.core
# import Lambda, Permute``); they live in their own families here, which
# import this one.
_KERAS2_CORE = frozenset({"Permute", "RepeatVector", "Lambda", "ActivityRegularization",
                          "Masking", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"})


def __getattr__(name):
    if name in _KERAS2_CORE:
        from .. import layers
        return getattr(layers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
