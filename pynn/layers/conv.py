"""Convolution layers: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv1D,
DepthwiseConv1D, SeparableConv1D, Conv3D, Conv2DTranspose, Conv1DTranspose,
Conv3DTranspose.

The kernels compute on channels-last (NHWC) data, and weights are HWIO, as
Keras stores them, so Keras weights load unchanged; a layer made with
data_format='channels_first' runs them on its data with the channels moved
last (base.ChannelsFirst).  The 1-D layers run the 2-D kernels at height
1; the 3-D layers run them once per depth tap of the kernel.
"""
import numbers
import warnings

import numpy as np

from .. import activations, constraints, initializers, ops, regularizers
from .base import ChannelsFirst, Layer, shape_str
from .core import ActivationMixin, _grad, _positive_int, weight_options


def _tuple(value, n, what, layer):
    """An int or a tuple of ``n`` ints (whole numbers no larger than a pynn
    array may be long; 2.5 is refused, not truncated) as a tuple."""
    def whole(v):
        return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) \
            and abs(int(v)) <= ops.MAX_ARRAY_SIZE
    if whole(value):
        return (int(value),) * n
    try:
        t = tuple(value)
    except TypeError:
        t = ()
    if len(t) != n or not all(whole(v) for v in t):
        raise ValueError(f"{layer}: {what} must be an int or a tuple of {n} ints (at most "
                         f"{ops.MAX_ARRAY_SIZE:,}), got {value!r}")
    return tuple(int(v) for v in t)


def _window_padding(kernel_size, strides, dilation_rate, padding, layer):
    """Checks a convolution window's kernel_size, strides and dilation_rate
    (tuples) and its padding ('valid' or 'same', in any case); returns the
    padding in lower case."""
    if min(kernel_size + strides + dilation_rate) < 1:
        raise ValueError(f"{layer}: kernel_size, strides and dilation_rate must be >= 1, "
                         f"got {kernel_size}, {strides}, {dilation_rate}")
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{layer}: strides > 1 cannot be combined with dilation_rate > 1; "
                         f"got strides={strides}, dilation_rate={dilation_rate}")
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}")
    return padding


class _Conv(ChannelsFirst, ActivationMixin, Layer):
    """What the convolution layers share: arguments, shapes, the activation
    around the kernel and its gradient."""
    runs_on_gpu = True
    rank = 2
    depthwise = False
    fixed_input_axes = (-1,)
    can_fold_affine = True

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        label = f"{type(self).__name__} {self.name!r}"
        self._set_data_format(data_format, label)
        n = self.rank
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", label)
        self.strides = _tuple(strides, n, "strides", label)
        self.dilation_rate = _tuple(dilation_rate, n, "dilation_rate", label)
        if min(self.kernel_size + self.strides + self.dilation_rate) < 1:
            raise ValueError(f"{label}: kernel_size, strides and dilation_rate must be "
                             f">= 1, got {self.kernel_size}, {self.strides}, "
                             f"{self.dilation_rate}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{label}: strides > 1 cannot be combined with "
                             f"dilation_rate > 1")
        padding = str(padding).lower()
        allowed = ("valid", "same", "causal") if n == 1 else ("valid", "same")
        if padding not in allowed:
            raise ValueError(f"{label}: padding must be one of {allowed}, got {padding!r}")
        self.padding = padding
        self.activation = activations.canonical(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._geo2d = self._make_geometry2d()

    # The geometry in 2-D terms: Conv1D is height 1.
    def _make_geometry2d(self):
        if self.rank == 2:
            return self.kernel_size, self.strides, self.padding, self.dilation_rate
        (k,), (s,), (d,) = self.kernel_size, self.strides, self.dilation_rate
        return (1, k), (1, s), ops.padding_1d(self.padding, k, d, self.name), (1, d)

    def _input_channels(self, input_shape):
        if len(input_shape) != self.rank + 2 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected an input of "
                             f"rank {self.rank + 2} with known channels, got shape "
                             f"{shape_str(input_shape)}")
        return int(input_shape[-1])

    def _out_channels(self, input_shape):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        shape4 = self._as2d(tuple(input_shape))
        k, s, p, d = self._geo2d
        (oh, ow), _ = ops.conv_geometry(shape4, k, s, p, d,
                                        f"{type(self).__name__} {self.name!r}")
        out = (input_shape[0], oh, ow) if self.rank == 2 else (input_shape[0], ow)
        return out + (self._out_channels(input_shape),)

    def _as2d(self, shape):
        return shape if self.rank == 2 else (shape[0], 1) + tuple(shape[1:])

    def _kernel4(self, value):
        """A 1-D layer's kernel (or its gradient) as the 2-D kernels'
        height-1 kernel."""
        return value if self.rank == 2 or value is None else value[None]

    def forward(self, ctx, x, training):
        return self._conv(ctx, x, self._main_kernel().value,
                          self.bias.value if self.bias is not None else None,
                          self._act(ctx), training)

    def infer(self, ctx, x, fold=None, activation=None):
        """Inference with, optionally, a following per-channel affine map
        ``fold = (scale, shift)`` (an inference-mode BatchNormalization)
        folded into the kernel and bias, and a following activation fused."""
        kernel = self._main_kernel().value
        bias = self.bias.value if self.bias is not None else None
        if fold is not None:
            kernel, bias = ops.fold_affine(kernel, bias, *fold,
                                           channel_shape=self._fold_channel_shape())
        return self._conv(ctx, x, kernel, bias, activation or self.activation, False)

    def _fold_channel_shape(self):
        return None

    def _bias_weight(self, channels):
        if not self.use_bias:
            return None
        return self.add_weight("bias", (channels,), self.bias_initializer,
                               regularizer=self.bias_regularizer,
                               constraint=self.bias_constraint)

    def _kernel_config(self):
        return {**Layer.get_config(self), "kernel_size": tuple(self.kernel_size),
                "strides": tuple(self.strides), "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": tuple(self.dilation_rate),
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_options(self, "bias")}


class _ConvolutionOp:
    """Keras's ``Conv.convolution_op`` hook, shared by the convolutions
    with a kernel of that name."""
    def __init_subclass__(cls, **kwargs):
        # A subclass that overrides convolution_op (Keras's hook for a custom
        # convolution, e.g. a standardized kernel) and not call computes
        # through Keras's call, so that its convolution_op is the one used.
        if "convolution_op" in vars(cls) and "call" not in vars(cls):
            cls.call = _ConvolutionOp._call_through_convolution_op
        super().__init_subclass__(**kwargs)

    def convolution_op(self, inputs, kernel):
        """The convolution of ``inputs`` with ``kernel`` alone (no bias, no
        activation), with the layer's strides, padding and dilation, as
        Keras's ``Conv.convolution_op``."""
        return ops.conv(inputs, kernel, strides=self.strides, padding=self.padding,
                        data_format=self.data_format, dilation_rate=self.dilation_rate)

    def _call_through_convolution_op(self, inputs):
        outputs = self.convolution_op(inputs, self.kernel)
        if self.use_bias:
            bias = self.bias
            if self.data_format == "channels_first":
                bias = ops.reshape(bias, (-1,) + (1,) * self.rank)
            outputs = ops.add(outputs, bias)
        return activations.get(self.activation)(outputs)


class _FilterConv(_ConvolutionOp, _Conv):
    """What Conv2D (so Conv1D) and Conv3D share: ``filters`` output channels
    from one kernel of shape ``kernel_size + (in_channels, filters)``."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, kernel_initializer, bias_initializer, **kwargs)
        self.filters = _positive_int(filters, "filters", self)
        self.groups = _positive_int(groups, "groups", self)
        if self.groups != 1 and self.rank == 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: only groups=1 is supported")
        if self.filters % self.groups:
            raise ValueError(f"{type(self).__name__} {self.name!r}: filters ({self.filters}) "
                             f"must be divisible by groups ({self.groups})")

    def _out_channels(self, input_shape):
        return self.filters

    def build(self, input_shape):
        cin = self._input_channels(input_shape)
        # One group per input channel (ConvNeXt's) runs as a depthwise
        # convolution, filters // groups outputs per channel; other groups
        # as one convolution per group (Conv2D._conv).
        if cin % self.groups:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the input channels "
                             f"({cin}) must be divisible by groups ({self.groups})")
        self.kernel = self.add_weight("kernel", self.kernel_size + (cin // self.groups,
                                                                    self.filters),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self._bias_weight(self.filters)
        self.built = True

    def _main_kernel(self):
        return self.kernel

    def get_config(self):
        return {**self._kernel_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                **weight_options(self, "kernel")}


class Conv2D(_FilterConv):
    """2-D convolution: ``activation(conv(x, kernel) + bias)`` over NHWC input
    with an HWIO kernel (Keras's ``Conv2D``)."""

    def __init__(self, filters, kernel_size, *args, **kwargs):
        if self.rank == 2 and args and isinstance(kernel_size, numbers.Integral) and \
                isinstance(args[0], numbers.Integral) and not isinstance(args[0], bool) and \
                args[0] == kernel_size > 1:
            # Keras 1's Conv2D(32, 3, 3) meant a 3x3 kernel; since Keras 2
            # the third argument is the strides, and so it is here.  Only
            # the square case warns: Keras 1 programs wrote (32, 3, 3) and
            # (64, 5, 5), Keras 2 and 3 programs write Conv2D(16, 3, 1) and
            # Conv2D(64, 3, 2) for their strides.
            warnings.warn(f"Conv2D({filters}, {kernel_size}, {args[0]}): the third positional "
                          f"argument is strides (Keras 2's API), so this is a "
                          f"{kernel_size}x{kernel_size} kernel with strides {args[0]}. Keras 1 "
                          f"read it as a {kernel_size}x{args[0]} kernel: for that write "
                          f"Conv2D({filters}, ({kernel_size}, {args[0]})); write "
                          f"strides={args[0]} to keep the strides without this warning.",
                          stacklevel=2)
        super().__init__(filters, kernel_size, *args, **kwargs)

    def _conv(self, ctx, x, kernel, bias, act, training):
        x4 = x if self.rank == 2 else x[:, None]
        k, s, p, d = self._geo2d
        (oh, ow), _ = ops.conv_geometry(x4.shape, k, s, p, d)
        out_shape = (x4.shape[0], oh, ow, self.filters)
        kernel = self._kernel4(kernel)
        if self.groups == 1:
            def compute(a, out):
                return ops.conv2d(x4, kernel, bias, s, p, d, a, out=out)
        elif self.groups == x4.shape[3]:
            kernel = self._depthwise(kernel)

            def compute(a, out):
                return ops.depthwise_conv2d(x4, kernel, bias, s, p, d, a, out=out)
        else:
            def compute(a, out):
                for xs, ks, ys in self._group_slices(x4.shape[3]):
                    out[..., ys] = ops.conv2d(np.ascontiguousarray(x4[..., xs]),
                                              np.ascontiguousarray(kernel[..., ks]), None,
                                              s, p, d)
                return ops.activation(out, a, bias=bias, out=out)
        y = self._activate_into(ctx, compute, out_shape, act, training)
        if training:
            ctx.x = x4
        return y if self.rank == 2 else y[:, 0]

    def _group_slices(self, cin):
        """(input channels, kernel filters, output channels) of each group
        of a grouped convolution: group i reads its block of cin // groups
        input channels with the i-th block of filters // groups filters."""
        per_in, per_out = cin // self.groups, self.filters // self.groups
        return [(slice(i * per_in, (i + 1) * per_in), slice(i * per_out, (i + 1) * per_out),
                 slice(i * per_out, (i + 1) * per_out)) for i in range(self.groups)]

    def _depthwise(self, kernel):
        """The kernel (kh, kw, 1, filters) of a convolution with one group
        per input channel as the depthwise kernel (kh, kw, groups, filters
        // groups): output channel ``c * m + j`` is group c's j-th."""
        return kernel.reshape(kernel.shape[:2] + (self.groups, self.filters // self.groups))

    def backward(self, ctx, dy, need_input_grad=True):
        dy4 = dy if self.rank == 2 else dy[:, None]
        k, s, p, d = self._geo2d
        x = ctx.x
        if self.groups != 1 and self.groups != x.shape[3]:
            return self._grouped_backward(ctx, x, dy4, s, p, d, need_input_grad)
        if self.groups != 1:
            kernel_grad = self._kernel4(self.kernel.grad)
            dx = ops.depthwise_conv2d_grad(
                x, self._depthwise(self._kernel4(self.kernel.value)),
                self._activation_backward(ctx, dy4), s, p, d,
                kernel_grad=None if kernel_grad is None else self._depthwise(kernel_grad),
                bias_grad=_grad(self.bias),
                input_grad=ctx.buffer("dx", x.shape) if need_input_grad else False)
            if dx is None:
                return None
            return dx if self.rank == 2 else dx[:, 0]
        act = self._act(ctx)
        if callable(act):
            dy4, act = self._activation_backward(ctx, dy4), "linear"
        dx = ops.conv2d_grad(
            x, self._kernel4(self.kernel.value), dy4, s, p, d,
            kernel_grad=self._kernel4(self.kernel.grad), bias_grad=_grad(self.bias),
            input_grad=ctx.buffer("dx", x.shape) if need_input_grad else False,
            activation=act, y=ctx.y, pre=ctx.pre)
        if dx is None:
            return None
        return dx if self.rank == 2 else dx[:, 0]

    def _grouped_backward(self, ctx, x, dy4, s, p, d, need_input_grad):
        """backward of a convolution of 1 < groups < input channels: each
        group's conv2d_grad on its channels, its kernel gradient written
        into its block of filters."""
        g = np.ascontiguousarray(self._activation_backward(ctx, dy4))
        kernel = self._kernel4(self.kernel.value)
        kernel_grad = self._kernel4(self.kernel.grad)
        if self.bias is not None and self.bias.grad is not None:
            np.sum(g.reshape(-1, self.filters), axis=0, dtype=np.float32, out=self.bias.grad)
        dx = ctx.buffer("dx", x.shape) if need_input_grad else None
        for xs, ks, ys in self._group_slices(x.shape[3]):
            kg = None if kernel_grad is None else np.zeros(kernel[..., ks].shape, np.float32)
            part = ops.conv2d_grad(np.ascontiguousarray(x[..., xs]),
                                   np.ascontiguousarray(kernel[..., ks]),
                                   np.ascontiguousarray(g[..., ys]), s, p, d, kernel_grad=kg,
                                   input_grad=need_input_grad)
            if kg is not None:
                kernel_grad[..., ks] = kg
            if need_input_grad:
                dx[..., xs] = part
        if dx is None:
            return None
        return dx if self.rank == 2 else dx[:, 0]

    def _backward_through_max_pool(self, ctx, pool_ctx, window, dy):
        """This call's weight gradients from ``dy``, the gradient of a max
        pooling's output (``window``: its pool_size, strides and padding)
        when that pooling alone reads this call's output and no input
        gradient is wanted: the pooling's backward pass taken in with this
        one (ops.conv2d_max_pool2d_grad).  False, with nothing done, where
        that does not apply; the two then run as usual."""
        if self.rank != 2 or self.groups != 1 or self._moves_channels or \
                type(self).backward is not Conv2D.backward:
            return False
        act = self._act(ctx)
        if callable(act):
            return False
        k, s, p, d = self._geo2d
        return ops.conv2d_max_pool2d_grad(
            ctx.x, self.kernel.value, ctx.y, pool_ctx.y, dy, s, p, d, *window,
            kernel_grad=self.kernel.grad, bias_grad=_grad(self.bias), activation=act)


Convolution2D = Conv2D


class Conv1D(Conv2D):
    """1-D convolution over (batch, steps, channels) with a (width, in, out)
    kernel; ``padding`` may be 'causal'."""
    rank = 1


Convolution1D = Conv1D


class DepthwiseConv2D(_Conv):
    """Depthwise 2-D convolution: each input channel convolved with its own
    ``depth_multiplier`` filters (kernel ``(kh, kw, channels, multiplier)``)."""
    depthwise = True

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, depthwise_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, **kwargs)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", self)

    def _out_channels(self, input_shape):
        return int(input_shape[-1]) * self.depth_multiplier

    def build(self, input_shape):
        cin = self._input_channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (cin, self.depth_multiplier),
            self.kernel_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.bias = self._bias_weight(cin * self.depth_multiplier)
        self.built = True

    @property
    def kernel(self):
        return self.depthwise_kernel

    def _main_kernel(self):
        return self.depthwise_kernel

    def _fold_channel_shape(self):
        return self.depthwise_kernel.shape[-2:]

    def _conv(self, ctx, x, kernel, bias, act, training):
        x4 = x if self.rank == 2 else x[:, None]
        k, s, p, d = self._geo2d
        (oh, ow), _ = ops.conv_geometry(x4.shape, k, s, p, d)
        out_shape = (x4.shape[0], oh, ow, x4.shape[3] * self.depth_multiplier)
        kernel = self._kernel4(kernel)
        y = self._activate_into(
            ctx, lambda a, out: ops.depthwise_conv2d(x4, kernel, bias, s, p, d, a, out=out),
            out_shape, act, training)
        if training:
            ctx.x = x4
        return y if self.rank == 2 else y[:, 0]

    def backward(self, ctx, dy, need_input_grad=True):
        g = self._activation_backward(ctx, dy if self.rank == 2 else dy[:, None])
        k, s, p, d = self._geo2d
        x = ctx.x
        dx = ops.depthwise_conv2d_grad(
            x, self._kernel4(self.depthwise_kernel.value), g, s, p, d,
            kernel_grad=self._kernel4(self.depthwise_kernel.grad), bias_grad=_grad(self.bias),
            input_grad=ctx.buffer("dx", x.shape) if need_input_grad else False)
        if dx is None:
            return None
        return dx if self.rank == 2 else dx[:, 0]

    def get_config(self):
        return {**self._kernel_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.kernel_initializer),
                **weight_options(self, "depthwise")}


class SeparableConv2D(_ConvolutionOp, _Conv):
    """A depthwise convolution followed by a 1x1 convolution to ``filters``
    channels, with the bias and activation after the second."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, **kwargs)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        self.filters = _positive_int(filters, "filters", self)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", self)
        self.pointwise_initializer = initializers.get(pointwise_initializer)

    def _out_channels(self, input_shape):
        return self.filters

    def build(self, input_shape):
        cin = self._input_channels(input_shape)
        mid = cin * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (cin, self.depth_multiplier),
            self.kernel_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight("pointwise_kernel",
                                                (1,) * self.rank + (mid, self.filters),
                                                self.pointwise_initializer,
                                                regularizer=self.pointwise_regularizer,
                                                constraint=self.pointwise_constraint)
        self.bias = self._bias_weight(self.filters)
        self.built = True

    def _main_kernel(self):
        return self.pointwise_kernel

    def _conv(self, ctx, x, pointwise, bias, act, training):
        x4 = x if self.rank == 2 else x[:, None]
        k, s, p, d = self._geo2d
        (oh, ow), _ = ops.conv_geometry(x4.shape, k, s, p, d)
        mid = ops.depthwise_conv2d(
            x4, self._kernel4(self.depthwise_kernel.value), None, s, p, d,
            out=ctx.buffer("mid", (x4.shape[0], oh, ow, x4.shape[3] * self.depth_multiplier)))
        pointwise = self._kernel4(pointwise)
        y = self._activate_into(
            ctx, lambda a, out: ops.conv2d(mid, pointwise, bias, 1, "valid", 1, a, out=out),
            (x4.shape[0], oh, ow, self.filters), act, training)
        if training:
            ctx.x, ctx.mid = x4, mid
        return y if self.rank == 2 else y[:, 0]

    def backward(self, ctx, dy, need_input_grad=True):
        dy4 = dy if self.rank == 2 else dy[:, None]
        k, s, p, d = self._geo2d
        x, mid = ctx.x, ctx.mid
        act = self._act(ctx)
        if callable(act):
            dy4, act = self._activation_backward(ctx, dy4), "linear"
        dmid = ops.conv2d_grad(mid, self._kernel4(self.pointwise_kernel.value), dy4, 1, "valid",
                               1, kernel_grad=self._kernel4(self.pointwise_kernel.grad),
                               bias_grad=_grad(self.bias),
                               input_grad=ctx.buffer("dmid", mid.shape),
                               activation=act, y=ctx.y, pre=ctx.pre)
        dx = ops.depthwise_conv2d_grad(
            x, self._kernel4(self.depthwise_kernel.value), dmid, s, p, d,
            kernel_grad=self._kernel4(self.depthwise_kernel.grad),
            input_grad=ctx.buffer("dx", x.shape) if need_input_grad else False)
        if dx is None:
            return None
        return dx if self.rank == 2 else dx[:, 0]

    def get_config(self):
        return {**self._kernel_config(), "filters": self.filters,
                "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.kernel_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                **weight_options(self, "depthwise", "pointwise")}


SeparableConvolution2D = SeparableConv2D


class DepthwiseConv1D(DepthwiseConv2D):
    """Depthwise 1-D convolution over (batch, steps, channels) with a
    ``(width, channels, multiplier)`` kernel: the 2-D layer at height 1;
    ``padding`` may be 'causal'."""
    rank = 1

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, **kwargs)


class SeparableConv1D(SeparableConv2D):
    """A depthwise 1-D convolution followed by a width-1 convolution to
    ``filters`` channels (kernels ``(width, in, multiplier)`` and ``(1,
    in * multiplier, filters)``): the 2-D layer at height 1; ``padding``
    may be 'causal'."""
    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         depth_multiplier, activation, use_bias, depthwise_initializer,
                         pointwise_initializer, bias_initializer, **kwargs)


SeparableConvolution1D = SeparableConv1D


def depth_taps(d, kernel, stride, padding, dilation, label):
    """(output depth, [(tap, input planes, output planes)]) of a 3-D
    convolution over an input of depth d: the planes each depth tap of the
    kernel joins."""
    (_, od), (_, s, _, dil, _, front) = ops.conv_geometry(
        (1, 1, d, 1), (1, kernel), (1, stride), padding, (1, dilation), label)
    taps = []
    for t in range(kernel):
        z = np.arange(od)
        i = z * s + t * dil - front
        ok = (i >= 0) & (i < d)
        if ok.any():
            taps.append((t, i[ok], z[ok]))
    return od, taps


class Conv3D(_FilterConv):
    """3-D convolution over (batch, depth, height, width, channels) with a
    (kd, kh, kw, in, out) kernel (Keras's ``Conv3D``): for each depth tap
    of the kernel, one 2-D convolution (pynn's kernels) over the input
    planes that tap reads, summed into the output planes."""
    rank = 3
    runs_on_gpu = False

    def _make_geometry2d(self):
        # The height and width taps; the depth taps are _depth's.
        return self.kernel_size[1:], self.strides[1:], self.padding, self.dilation_rate[1:]

    def _depth(self, d):
        return depth_taps(d, self.kernel_size[0], self.strides[0], self.padding,
                          self.dilation_rate[0], f"Conv3D {self.name!r}")

    def compute_output_shape(self, input_shape):
        self._input_channels(input_shape)
        k, s, p, d = self._geo2d
        (oh, ow), _ = ops.conv_geometry((1,) + tuple(input_shape[2:]), k, s, p, d,
                                        f"{type(self).__name__} {self.name!r}")
        od = None if input_shape[1] is None else self._depth(input_shape[1])[0]
        return (input_shape[0], od, oh, ow, self.filters)

    def _conv(self, ctx, x, kernel, bias, act, training):
        n, d, h, w, c = x.shape
        k, s, p, dil = self._geo2d
        (oh, ow), _ = ops.conv_geometry((n, h, w, c), k, s, p, dil)
        od, taps = self._depth(d)
        out_shape = (n, od, oh, ow, self.filters)

        def compute(a, out):
            out[...] = 0.0
            for t, iz, oz in taps:
                planes = np.ascontiguousarray(x[:, iz]).reshape(-1, h, w, c)
                part = ops.conv2d(planes, np.ascontiguousarray(kernel[t]), None, s, p, dil)
                out[:, oz] += part.reshape(n, len(oz), oh, ow, self.filters)
            return ops.activation(out, a, bias=bias, out=out)
        y = self._activate_into(ctx, compute, out_shape, act, training)
        if training:
            ctx.x, ctx.taps = x, taps
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        k, s, p, dil = self._geo2d
        return _depth_taps_backward(
            self, ctx, dy, need_input_grad,
            lambda planes, kernel, g, kernel_grad: ops.conv2d_grad(
                planes, kernel, g, s, p, dil, kernel_grad=kernel_grad,
                input_grad=need_input_grad))


def _depth_taps_backward(layer, ctx, dy, need_input_grad, grad2d):
    """The backward pass of a 3-D convolution computed as one 2-D one per
    depth tap of the kernel (Conv3D, Conv3DTranspose): ``ctx.taps`` holds
    (tap, input planes, output planes); ``grad2d(planes, kernel, g,
    kernel_grad)`` is the 2-D layer's gradient, adding into ``kernel_grad``
    and returning the planes' input gradient."""
    g = layer._activation_backward(ctx, dy)
    x = ctx.x
    n, d, h, w, c = x.shape
    if layer.bias is not None and layer.bias.grad is not None:
        np.sum(g.reshape(-1, layer.filters), axis=0, dtype=np.float32, out=layer.bias.grad)
    kgrad = layer.kernel.grad
    if kgrad is not None:
        kgrad[...] = 0.0
    dx = None
    if need_input_grad:
        dx = ctx.buffer("dx", x.shape)
        dx[...] = 0.0
    for t, iz, oz in ctx.taps:
        planes = np.ascontiguousarray(x[:, iz]).reshape(-1, h, w, c)
        gt = np.ascontiguousarray(g[:, oz]).reshape((-1,) + g.shape[2:])
        dplanes = grad2d(planes, np.ascontiguousarray(layer.kernel.value[t]), gt,
                         kgrad[t] if kgrad is not None else None)
        if need_input_grad:
            dx[:, iz] += dplanes.reshape(n, len(iz), h, w, c)
    return dx


Convolution3D = Conv3D


class Conv2DTranspose(ChannelsFirst, ActivationMixin, Layer):
    """Transposed 2-D convolution (Keras's ``Conv2DTranspose``): the input
    gradient of a convolution, which scales images up by ``strides``.  The
    kernel is ``(kh, kw, filters, in_channels)``, as Keras stores it; the
    output size follows Keras 3 ('valid': ``(size - 1) * stride + kernel +
    output_padding``, 'same': ``size * stride``, see
    ops.conv_transpose_geometry)."""
    rank = 2
    fixed_input_axes = (-1,)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        self._set_data_format(data_format, label)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        n = self.rank
        self.filters = _positive_int(filters, "filters", self)
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", label)
        self.strides = _tuple(strides, n, "strides", label)
        self.dilation_rate = _tuple(dilation_rate, n, "dilation_rate", label)
        self.padding = _window_padding(self.kernel_size, self.strides, self.dilation_rate,
                                       padding, label)
        self.output_padding = None if output_padding is None else \
            _tuple(output_padding, n, "output_padding", label)
        if self.output_padding is not None and any(
                not 0 <= p < s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{label}: each output_padding must be >= 0 and less than its "
                             f"stride; got output_padding={self.output_padding}, "
                             f"strides={self.strides}")
        self.activation = activations.canonical(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._geo2d = self._make_geometry2d()

    def _make_geometry2d(self):
        """(kernel, strides, output_padding, dilation) in 2-D terms: the 1-D
        layer is height 1."""
        if self.rank == 2:
            return self.kernel_size, self.strides, self.output_padding, self.dilation_rate
        op = None if self.output_padding is None else self.output_padding[0]
        return ((1,) + self.kernel_size, (1,) + self.strides, (0, op),
                (1,) + self.dilation_rate)

    def _as2d(self, shape):
        return tuple(shape) if self.rank == 2 else (shape[0], 1) + tuple(shape[1:])

    def _kernel4(self, value):
        return value if self.rank == 2 or value is None else value[None]

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected an input of rank "
                             f"{self.rank + 2} with known channels, got shape "
                             f"{shape_str(input_shape)}")
        self.compute_output_shape(input_shape)
        cin = int(input_shape[-1])
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, cin),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected an input of rank "
                             f"{self.rank + 2}, got shape {shape_str(input_shape)}")
        k, s, op, d = self._geo2d
        (oh, ow), _ = ops.conv_transpose_geometry(self._as2d(input_shape), k, s, self.padding,
                                                  op, d, f"{type(self).__name__} {self.name!r}")
        out = (input_shape[0], oh, ow) if self.rank == 2 else (input_shape[0], ow)
        return out + (self.filters,)

    def forward(self, ctx, x, training):
        x4 = x if self.rank == 2 else x[:, None]
        k, s, op, d = self._geo2d
        (oh, ow), _ = ops.conv_transpose_geometry(x4.shape, k, s, self.padding, op, d)
        out_shape = (x4.shape[0], oh, ow, self.filters)
        kernel = self._kernel4(self.kernel.value)
        bias = self.bias.value if self.bias is not None else None
        y = self._activate_into(
            ctx, lambda a, out: ops.conv2d_transpose(x4, kernel, bias, s, self.padding, op, d, a,
                                                     out=out),
            out_shape, self._act(ctx), training)
        if training:
            ctx.x = x4
        return y if self.rank == 2 else y[:, 0]

    def backward(self, ctx, dy, need_input_grad=True):
        dy4 = dy if self.rank == 2 else dy[:, None]
        g = self._activation_backward(ctx, dy4)
        k, s, op, d = self._geo2d
        x = ctx.x
        dx = ops.conv2d_transpose_grad(
            x, self._kernel4(self.kernel.value), g, s, self.padding, op, d,
            kernel_grad=self._kernel4(self.kernel.grad), bias_grad=_grad(self.bias),
            input_grad=ctx.buffer("dx", x.shape) if need_input_grad else False)
        if dx is None:
            return None
        return dx if self.rank == 2 else dx[:, 0]

    def get_config(self):
        return {**Layer.get_config(self), "filters": self.filters,
                "kernel_size": tuple(self.kernel_size), "strides": tuple(self.strides),
                "padding": self.padding,
                "output_padding": None if self.output_padding is None
                else tuple(self.output_padding),
                "data_format": self.data_format, "dilation_rate": tuple(self.dilation_rate),
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_options(self, "kernel", "bias")}


Convolution2DTranspose = Conv2DTranspose


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution over (batch, steps, channels) with a
    ``(width, filters, in_channels)`` kernel: the 2-D layer at height 1."""
    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, **kwargs)


Convolution1DTranspose = Conv1DTranspose


class Conv3DTranspose(Conv2DTranspose):
    """Transposed 3-D convolution over (batch, depth, height, width,
    channels) with a ``(kd, kh, kw, filters, in_channels)`` kernel (Keras's
    ``Conv3DTranspose``): for each depth tap of the kernel, one 2-D
    transposed convolution of the input planes that tap reads, summed into
    the output planes it writes (Conv3D's scheme, run backwards).  Sizes
    follow Keras 3 per axis, as Conv2DTranspose's."""
    rank = 3
    runs_on_gpu = False

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, output_padding=None, dilation_rate=(1, 1, 1),
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, **kwargs)

    def _make_geometry2d(self):
        # The height and width taps; the depth taps are _depth's.
        op = None if self.output_padding is None else self.output_padding[1:]
        return self.kernel_size[1:], self.strides[1:], op, self.dilation_rate[1:]

    def _depth(self, d):
        """(output depth, [(tap, input planes, output planes)]) for an input
        of depth d: the planes each depth tap of the kernel joins."""
        op = None if self.output_padding is None else self.output_padding[0]
        (_, od), (_, s, _, dil, _, front) = ops.conv_transpose_geometry(
            (1, 1, d, 1), (1, self.kernel_size[0]), (1, self.strides[0]), self.padding,
            (None, op), (1, self.dilation_rate[0]), f"Conv3DTranspose {self.name!r}")
        taps = []
        for t in range(self.kernel_size[0]):
            z = np.arange(d)
            i = z * s + t * dil - front
            ok = (i >= 0) & (i < od)
            if ok.any():
                taps.append((t, z[ok], i[ok]))
        return od, taps

    def compute_output_shape(self, input_shape):
        label = f"Conv3DTranspose {self.name!r}"
        if len(input_shape) != 5:
            raise ValueError(f"{label}: expected an input of rank 5, got shape "
                             f"{shape_str(input_shape)}")
        k, s, op, d = self._geo2d
        (oh, ow), _ = ops.conv_transpose_geometry((1,) + tuple(input_shape[2:]), k, s,
                                                  self.padding, op, d, label)
        od = None if input_shape[1] is None else self._depth(input_shape[1])[0]
        return (input_shape[0], od, oh, ow, self.filters)

    def forward(self, ctx, x, training):
        n, d, h, w, c = x.shape
        k, s, op, dil = self._geo2d
        (oh, ow), _ = ops.conv_transpose_geometry((n, h, w, c), k, s, self.padding, op, dil)
        od, taps = self._depth(d)
        f = self.filters
        kernel = self.kernel.value
        bias = self.bias.value if self.bias is not None else None

        def compute(a, out):
            out[...] = 0.0
            for t, iz, oz in taps:
                planes = np.ascontiguousarray(x[:, iz]).reshape(-1, h, w, c)
                part = ops.conv2d_transpose(planes, np.ascontiguousarray(kernel[t]), None, s,
                                            self.padding, op, dil)
                out[:, oz] += part.reshape(n, len(oz), oh, ow, f)
            return ops.activation(out, a, bias=bias, out=out)
        y = self._activate_into(ctx, compute, (n, od, oh, ow, f), self._act(ctx), training)
        if training:
            ctx.x, ctx.taps = x, taps
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        k, s, op, dil = self._geo2d
        return _depth_taps_backward(
            self, ctx, dy, need_input_grad,
            lambda planes, kernel, g, kernel_grad: ops.conv2d_transpose_grad(
                planes, kernel, g, s, self.padding, op, dil, kernel_grad=kernel_grad,
                input_grad=need_input_grad))


Convolution3DTranspose = Conv3DTranspose
