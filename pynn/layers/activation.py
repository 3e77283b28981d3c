"""Activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax (Keras's
arguments and defaults).

The plain forms run the fused activation kernels of csrc/activation.c
(ReLU() is relu, ReLU(6.) relu6, LeakyReLU leaky_relu, ELU elu), and those
forms can be fused into the dense or convolution layer before them at
inference; Keras's general ReLU (a threshold, a cap and a slope together)
and PReLU's learned slopes have kernels of their own.
"""
import math

from .. import constraints, initializers, ops, regularizers
from .base import Layer, shape_str


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _number(value, what, layer, low=0.0, allow_none=False):
    """``value`` as a float >= ``low`` (or None where allowed), else a
    ValueError naming the layer and the argument."""
    if value is None and allow_none:
        return None
    try:
        v = float(value)
        ok = not isinstance(value, bool) and math.isfinite(v) and v >= low
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{_label(layer)}: {what} must be a finite number >= {low:g}"
                         f"{' or None' if allow_none else ''}, got {value!r}")
    return v


class _Elementwise(Layer):
    """An activation applied to each value: any input shape."""
    supports_masking = True
    fixed_input_axes = ()

    def fused_activation(self):
        """The activation name under which a dense or convolution layer
        before this one can apply it itself (see models/passes.py), or
        None."""
        return None


class ReLU(_Elementwise):
    """Keras's ReLU layer: ``x`` above ``threshold`` (capped at
    ``max_value``), ``negative_slope * (x - threshold)`` at or below it.
    ``ReLU(6.)`` is MobileNet's relu6."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _number(max_value, "max_value", self, allow_none=True)
        self.negative_slope = _number(negative_slope, "negative_slope", self)
        self.threshold = _number(threshold, "threshold", self)

    def _args(self):
        return {"negative_slope": self.negative_slope, "max_value": self.max_value,
                "threshold": self.threshold}

    def fused_activation(self):
        form, _ = ops.relu_form(**self._args())
        return form if form in ("relu", "relu6") else None

    def forward(self, ctx, x, training):
        y = ops.relu(x, out=ctx.buffer("y", x.shape), **self._args())
        if training:
            ctx.x, ctx.y = x, y
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        return ops.relu_grad(ctx.x, ctx.y, dy, out=ctx.buffer("dx", dy.shape), **self._args())

    def get_config(self):
        return {**super().get_config(), **self._args()}


class LeakyReLU(_Elementwise):
    """``x`` for positive x, ``negative_slope * x`` otherwise (Keras 3's
    argument name; Keras 2's ``alpha=`` is taken too)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _number(negative_slope, "negative_slope", self)

    def forward(self, ctx, x, training):
        y = ops.activation(x, "leaky_relu", alpha=self.negative_slope,
                           out=ctx.buffer("y", x.shape))
        if training:
            ctx.x, ctx.y = x, y
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        return ops.activation_grad("leaky_relu", ctx.x, ctx.y, dy, alpha=self.negative_slope,
                                   out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """``x`` for positive x, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.alpha = float(alpha)
            ok = math.isfinite(self.alpha) and not isinstance(alpha, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{_label(self)}: alpha must be a finite number, got {alpha!r}")

    def fused_activation(self):
        return "elu" if self.alpha == ops.DEFAULT_ALPHA["elu"] else None

    def forward(self, ctx, x, training):
        y = ops.activation(x, "elu", alpha=self.alpha, out=ctx.buffer("y", x.shape))
        if training:
            ctx.x, ctx.y = x, y
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        return ops.activation_grad("elu", ctx.x, ctx.y, dy, alpha=self.alpha,
                                   out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """ReLU with a learned slope for negative inputs: ``max(x, 0) + alpha *
    min(x, 0)``, one ``alpha`` per value of a sample, or shared along
    ``shared_axes`` (axes counted with the batch as 0: ``shared_axes=[1,
    2]`` gives one slope per channel of an image)."""
    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = shared_axes if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            try:
                self.shared_axes = [int(a) for a in axes]
            except (TypeError, ValueError):
                self.shared_axes = [0]
            if any(a < 1 for a in self.shared_axes):
                raise ValueError(f"{_label(self)}: shared_axes must be axes after the batch "
                                 f"(>= 1), got {shared_axes!r}")

    @property
    def fixed_input_axes(self):
        return tuple(a for a in range(1, len(self._build_input_shape or ()))
                     if a not in (self.shared_axes or ()))

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if a > len(shape):
                raise ValueError(f"{_label(self)}: shared axis {a} is out of range for an input "
                                 f"of shape {shape_str(input_shape)}")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"{_label(self)}: the input of shape {shape_str(input_shape)} has "
                             f"unknown dimensions that are not shared; give them a size or "
                             f"list them in shared_axes")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.built = True

    def forward(self, ctx, x, training):
        y = ops.prelu(x, self.alpha.value, out=ctx.buffer("y", x.shape))
        if training:
            ctx.x = x
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        return ops.prelu_grad(ctx.x, self.alpha.value, dy, alpha_grad=self.alpha.grad,
                              input_grad=ctx.buffer("dx", dy.shape) if need_input_grad
                              else False)

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


class Softmax(_Elementwise):
    """Softmax over ``axis`` (the last by default).  As the last layer of a
    model trained with a cross-entropy, it is fused into the loss as a
    Dense layer's softmax is.  Masks are not supported."""
    supports_masking = False

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"{_label(self)}: axis must be an int, got {axis!r}")
        self.axis = axis

    @property
    def activation(self):
        """'softmax' when it runs over the last axis (what a fused loss
        assumes), else None."""
        return "softmax" if self.axis == -1 else None

    def _act(self, ctx):
        return "linear" if ctx.emit_logits else "softmax"

    def fused_activation(self):
        return self.activation

    def compute_output_shape(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape) or \
                self.axis % len(input_shape) == 0:
            raise ValueError(f"{_label(self)}: axis {self.axis} is out of range or the batch "
                             f"axis for an input of shape {shape_str(input_shape)}")
        return tuple(input_shape)

    def forward(self, ctx, x, training):
        if ctx.mask is not None:
            raise ValueError(f"{_label(self)}: a mask reaches this layer; masked softmax is "
                             f"not supported")
        if ctx.emit_logits:
            return x
        y = ops.softmax(x, self.axis, out=ctx.buffer("y", x.shape))
        if training:
            ctx.y = y
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        if ctx.emit_logits:
            return dy
        return ops.softmax_grad(ctx.y, dy, self.axis, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
