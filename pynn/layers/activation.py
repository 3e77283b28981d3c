"""Activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax (Keras's
arguments and defaults).

The plain forms run the fused activation kernels of csrc/activation.c
(ReLU() is relu, ReLU(6.) relu6, LeakyReLU leaky_relu, ELU elu), and those
forms can be fused into the dense or convolution layer before them at
inference; Keras's general ReLU (a threshold, a cap and a slope together)
and PReLU's learned slopes have kernels of their own.
"""
import math

import numpy as np

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


class ThresholdedReLU(ReLU):
    """Keras 2's ThresholdedReLU: ``x`` above ``theta``, 0 at or below it
    (ReLU with that threshold)."""

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(threshold=theta, **kwargs)
        self.theta = self.threshold

    def get_config(self):
        return {**_Elementwise.get_config(self), "theta": self.theta}


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
    Dense layer's softmax is.  A mask (broadcast to the input from its last
    axes, as Keras's) leaves its positions out: they weigh nothing in the
    softmax and come out as 0."""
    _mask_broadcasts = True

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

    def _kept(self, x, mask):
        """The mask as booleans broadcast to ``x`` (True: the value counts)."""
        mask = np.asarray(mask)
        if mask.ndim > x.ndim or any(m != 1 and m != i for m, i in
                                     zip(mask.shape[::-1], x.shape[::-1])):
            raise ValueError(f"{_label(self)}: the mask must be broadcastable to the inputs "
                             f"from their last axes; inputs {shape_str(x.shape)}, mask "
                             f"{shape_str(mask.shape)}")
        kept = mask if mask.dtype == bool else mask > 0.5
        return np.broadcast_to(kept, x.shape)

    def forward(self, ctx, x, training):
        kept = None if ctx.mask is None else self._kept(x, ctx.mask)
        if kept is not None:
            x = ops.where(kept, x, np.full(x.shape, -1e9, np.float32))
        if ctx.emit_logits:
            return x
        y = ops.softmax(x, self.axis, out=ctx.buffer("y", x.shape))
        if training:
            ctx.y, ctx.kept = y, kept
        if kept is not None:
            y = ops.where(kept, y, np.zeros(x.shape, np.float32))
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        if ctx.emit_logits:
            return dy
        kept = getattr(ctx, "kept", None)
        if kept is None:
            return ops.softmax_grad(ctx.y, dy, self.axis, out=ctx.buffer("dx", dy.shape))
        zeros = np.zeros(dy.shape, np.float32)
        dx = ops.softmax_grad(ctx.y, ops.where(kept, dy, zeros), self.axis)
        return ops.where(kept, dx, zeros)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
