"""Core layers: Dense, Activation, Dropout, Flatten, Reshape."""
import numpy as np

from .. import activations, initializers, ops
from ..utils.seeding import next_seed
from .base import Layer, shape_str


class ActivationMixin:
    """A layer whose output passes through an activation it applies itself.

    When the model fuses that activation into the loss (softmax or sigmoid
    before a cross-entropy), it sets ``emit_logits`` for training steps: the
    layer then outputs the pre-activation and its backward skips the
    activation's derivative.
    """
    emit_logits = False

    def _act(self):
        return "linear" if self.emit_logits else self.activation

    def _activation_backward(self, pre, y, dy):
        """dy through the activation; ``pre`` is the pre-activation, kept only
        for the activations whose derivative needs it."""
        act = self._act()
        if act == "linear":
            return dy
        return ops.activation_grad(act, pre, y, dy, out=self._buffer("dact", dy.shape))


class Dense(ActivationMixin, Layer):
    """``activation(x @ kernel + bias)`` over the last axis of the input."""

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"Dense {self.name!r}: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense {self.name!r}: the last dimension of the input must be "
                             f"known, got shape {shape_str(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer) \
            if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    can_fold_affine = True

    def call(self, x, training=False):
        return self._dense(x, self.kernel.value,
                           self.bias.value if self.bias is not None else None, training)

    def call_folded(self, x, scale, shift):
        """Inference with a following per-unit affine map (an inference-mode
        BatchNormalization) folded into kernel and bias."""
        kernel, bias = ops.fold_affine(self.kernel.value,
                                       self.bias.value if self.bias is not None else None,
                                       scale, shift)
        return self._dense(x, kernel, bias, False)

    def _dense(self, x, kernel, bias, training):
        shape = x.shape
        x2 = x if len(shape) == 2 else x.reshape(-1, shape[-1])
        act = "linear" if self.emit_logits else self.activation
        out_shape = (x2.shape[0], self.units)
        if training and act in ops.NEEDS_INPUT:
            pre = ops.dense(x2, kernel, bias, out=self._buffer("pre", out_shape))
            y = ops.activation(pre, act, out=self._buffer("y", out_shape))
        else:
            pre = None
            y = ops.dense(x2, kernel, bias, act, out=self._buffer("y", out_shape))
        if training:
            self._x, self._pre, self._y = x2, pre, y
        return y if len(shape) == 2 else y.reshape(shape[:-1] + (self.units,))

    def backward(self, dy, need_input_grad=True):
        dy2 = dy.reshape(-1, self.units)
        x = self._x
        act = self._act()
        dx = ops.dense_grad(
            x, self.kernel.value, dy2, act, y=self._y, pre=self._pre,
            kernel_grad=self.kernel.grad,
            bias_grad=self.bias.grad if self.bias is not None else None,
            input_grad=self._buffer("dx", x.shape) if need_input_grad else False,
            work=self._buffer("dact", dy2.shape) if act != "linear" else None)
        if dx is None:
            return None
        return dx.reshape(dy.shape[:-1] + (x.shape[1],))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Activation(ActivationMixin, Layer):
    """Applies an activation function to its input."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x, training=False):
        act = self._act()
        if act == "linear":
            y = x
        else:
            y = ops.activation(x, act, out=self._buffer("y", x.shape))
        if training:
            self._x, self._y = x, y
        return y

    def backward(self, dy, need_input_grad=True):
        return self._activation_backward(self._x, self._y, dy)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of its input while training (scaling the
    rest by ``1 / (1 - rate)``); the identity at inference."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout {self.name!r}: rate must be in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError(f"Dropout {self.name!r}: noise_shape is not supported")
        self.rate = float(rate)
        self.seed = seed
        self._draws = 0

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        if self.seed is not None:
            seed = hash((self.seed, self._draws)) & 0x7FFFFFFFFFFFFFFF
            self._draws += 1
        else:
            seed = next_seed()
        y, self._mask = ops.dropout(x, self.rate, seed, out=self._buffer("y", x.shape),
                                    mask=self._buffer("mask", x.shape, np.uint8))
        return y

    def backward(self, dy, need_input_grad=True):
        if self._mask is None:
            return dy
        return ops.dropout_grad(dy, self._mask, self.rate, out=self._buffer("dx", dy.shape))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Flatten(Layer):
    """Flattens every dimension but the batch."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten {self.name!r}: only channels_last data is supported")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], n)

    def call(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_input_grad=True):
        return dy.reshape(self._shape)


class Reshape(Layer):
    """Reshapes every dimension but the batch to ``target_shape`` (one entry
    may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(f"Reshape {self.name!r}: at most one dimension may be -1, "
                             f"got {self.target_shape}")

    def compute_output_shape(self, input_shape):
        size = int(np.prod(input_shape[1:], dtype=np.int64))
        target = list(self.target_shape)
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

    def call(self, x, training=False):
        self._shape = x.shape
        return x.reshape((x.shape[0],) + self._output_shape[1:])

    def backward(self, dy, need_input_grad=True):
        return dy.reshape(self._shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
