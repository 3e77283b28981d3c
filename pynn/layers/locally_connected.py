"""tf.keras 2's LocallyConnected1D and LocallyConnected2D (Keras 3 dropped
them): a convolution whose filters are not shared, each output position
with its own kernel, as TensorFlow's ``implementation=1`` holds them: a
kernel of shape (output positions, kernel taps * input channels, filters)
and a bias per output position and filter.  Only 'valid' padding, as
``implementation=1`` has it."""
from .. import activations, constraints, initializers, ops, regularizers
from .base import Layer, data_format_arg, shape_str
from .core import _positive_int, weight_options


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


class _LocallyConnected(Layer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 implementation=1, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = _positive_int(filters, "filters", self)
        self.kernel_size = self._tuple(kernel_size, "kernel_size")
        self.strides = self._tuple(strides, "strides")
        self.padding = str(padding).lower()
        if self.padding != "valid":
            raise ValueError(f"{_label(self)}: only padding='valid' is supported (TensorFlow's "
                             f"implementation=1), got {padding!r}")
        if implementation != 1:
            raise ValueError(f"{_label(self)}: implementation={implementation!r} keeps the "
                             f"kernel in another layout; only implementation=1 is supported")
        self.implementation = 1
        self.data_format = data_format_arg(data_format, _label(self))
        self.activation = activations.canonical(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _tuple(self, value, what):
        values = (value,) * self.rank if isinstance(value, int) else tuple(value)
        if len(values) != self.rank:
            raise ValueError(f"{_label(self)}: {what} must be an int or {self.rank} ints, got "
                             f"{value!r}")
        return tuple(_positive_int(v, what, self) for v in values)

    def _spatial(self, input_shape):
        """(spatial sizes, channels) of an input shape, checked."""
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{_label(self)}: expected an input of rank {self.rank + 2}, got "
                             f"shape {shape_str(input_shape)}")
        if self.data_format == "channels_first":
            sizes, channels = tuple(input_shape[2:]), input_shape[1]
        else:
            sizes, channels = tuple(input_shape[1:-1]), input_shape[-1]
        if channels is None or any(s is None for s in sizes):
            raise ValueError(f"{_label(self)}: the input's sizes and channels must be known, "
                             f"got shape {shape_str(input_shape)}")
        out = tuple((s - k) // st + 1 for s, k, st in zip(sizes, self.kernel_size, self.strides))
        if any(s < k for s, k in zip(sizes, self.kernel_size)):
            raise ValueError(f"{_label(self)}: a kernel of size {self.kernel_size} does not fit "
                             f"an input of shape {shape_str(input_shape)}")
        return sizes, int(channels), out

    def build(self, input_shape):
        _, channels, out = self._spatial(input_shape)
        positions, taps = 1, 1
        for o, k in zip(out, self.kernel_size):
            positions, taps = positions * o, taps * k
        self.kernel = self.add_weight("kernel", (positions, taps * channels, self.filters),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", out + (self.filters,), self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        _, _, out = self._spatial(input_shape)
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters) + out
        return (input_shape[0],) + out + (self.filters,)

    def call(self, inputs):
        first = self.data_format == "channels_first"
        x = ops.transpose(inputs, (0,) + tuple(range(2, self.rank + 2)) + (1,)) if first \
            else inputs
        _, channels, out = self._spatial(tuple(ops.shape(inputs)))
        positions = 1
        for o in out:
            positions *= o
        # The kernel's rows are the patch's values, taps in row-major order
        # then channels (TensorFlow's layout): each tap's input values at
        # every output position, (batch, positions, 1, channels), times its
        # rows of that position's kernel (a product per position, batched
        # over the samples), summed over the taps.
        y = None
        for i, tap in enumerate(_taps(self.kernel_size)):
            index = (slice(None),) + tuple(
                slice(t, t + s * (o - 1) + 1, s) for t, s, o in zip(tap, self.strides, out))
            values = ops.reshape(x[index], (-1, positions, 1, channels))
            part = ops.matmul(values, self.kernel[:, i * channels:(i + 1) * channels, :])
            y = part if y is None else ops.add(y, part)
        y = ops.reshape(y, (-1,) + out + (self.filters,))
        if self.bias is not None:
            y = ops.add(y, self.bias)
        y = activations.get(self.activation)(y)
        if first:
            y = ops.transpose(y, (0, self.rank + 1) + tuple(range(1, self.rank + 1)))
        return y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "implementation": self.implementation,
                **weight_options(self, "kernel", "bias")}


def _taps(kernel_size):
    """Every offset in a kernel, in row-major order."""
    taps = [()]
    for k in kernel_size:
        taps = [t + (i,) for t in taps for i in range(k)]
    return taps


class LocallyConnected1D(_LocallyConnected):
    """tf.keras 2's LocallyConnected1D: over (batch, steps, channels), each
    output step with its own ``kernel_size``-step kernel."""
    rank = 1


class LocallyConnected2D(_LocallyConnected):
    """tf.keras 2's LocallyConnected2D: over images, each output pixel with
    its own kernel."""
    rank = 2


__all__ = ["LocallyConnected1D", "LocallyConnected2D"]
