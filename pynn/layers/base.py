"""Layer: the base of every layer, and Input.

A layer computes forward with ``call(x, training)`` and backward with
``backward(dy, need_input_grad)``, which writes its weights' gradients into
``weight.grad`` and returns the gradient with respect to its input.  Both
compute only through pynn.ops and keep their work buffers between steps
(``self._buffer``), reallocating only when the batch shape changes.

Shapes in the API include the batch dimension as ``None``, as Keras's do.
"""
import re
from collections import defaultdict

import numpy as np

_name_counts = defaultdict(int)


def _snake(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base):
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


class Weight:
    """A layer's variable: its value and, for trainable ones, its gradient.

    ``value`` may be rebound to a view of a model-wide flat buffer (so the
    optimizer updates every parameter in one pass); code reads it through
    the attribute every time instead of keeping the array.
    """
    __slots__ = ("name", "value", "grad", "trainable")

    def __init__(self, name, value, trainable=True):
        self.name = name
        self.value = np.ascontiguousarray(value, dtype=np.float32)
        self.grad = np.zeros_like(self.value) if trainable else None
        self.trainable = trainable

    @property
    def shape(self):
        return self.value.shape

    def numpy(self):
        return self.value.copy()

    def assign(self, value):
        value = np.asarray(value, dtype=np.float32)
        if value.shape != self.value.shape:
            raise ValueError(f"Weight {self.name!r}: expected shape {self.value.shape}, "
                             f"got {value.shape}")
        self.value[...] = value

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Weight {self.name} shape={self.value.shape}>"


class Layer:
    """Base class of all layers (Keras's ``keras.layers.Layer``)."""

    def __init__(self, name=None, trainable=True, input_shape=None, batch_input_shape=None,
                 input_dim=None, batch_size=None, dtype=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only float32 is supported, got {dtype!r}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self.trainable = trainable
        self.built = False
        self._weights = []
        self._buffers = {}
        self._input_shape = None
        self._output_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self._batch_input_shape = tuple(batch_input_shape) if batch_input_shape else None

    # ------------------------------------------------------------ weights

    def add_weight(self, name, shape, initializer="zeros", trainable=True):
        from .. import initializers
        value = initializers.get(initializer)(tuple(int(d) for d in shape))
        w = Weight(f"{self.name}/{name}", value, trainable=trainable)
        self._weights.append(w)
        return w

    @property
    def weights(self):
        return list(self._weights)

    @property
    def trainable_weights(self):
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    def get_weights(self):
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(f"Layer {self.name!r} expects {len(self._weights)} weight arrays, "
                             f"got {len(weights)}")
        for w, v in zip(self._weights, weights):
            w.assign(v)

    def count_params(self):
        return int(sum(w.value.size for w in self._weights))

    # ------------------------------------------------------------- shapes

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def build_for(self, input_shape):
        """Build (once) for ``input_shape`` and record the input and output
        shapes; returns the output shape."""
        input_shape = tuple(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
        elif self._input_shape is not None:
            self._check_input(input_shape)
        out = tuple(self.compute_output_shape(input_shape))
        self._input_shape, self._output_shape = input_shape, out
        return out

    def _check_input(self, shape):
        """Raise ValueError if ``shape`` (batch included) differs from the
        shape the layer was built for, in any dimension but the batch."""
        want = self._input_shape
        if want is None:
            return
        if len(shape) != len(want) or any(
                a is not None and b is not None and a != b for a, b in zip(shape[1:], want[1:])):
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: "
                             f"expected shape={shape_str(want)}, found shape={shape_str(shape)}")

    @property
    def input_shape(self):
        if self._input_shape is None:
            raise AttributeError(f"Layer {self.name!r} has not been built: it has no input shape")
        return self._input_shape

    @property
    def output_shape(self):
        if self._output_shape is None:
            raise AttributeError(f"Layer {self.name!r} has not been built: it has no output shape")
        return self._output_shape

    # ---------------------------------------------------------- computing

    def call(self, x, training=False):
        return x

    def backward(self, dy, need_input_grad=True):
        return dy

    def __call__(self, x, training=False):
        """Apply the layer eagerly to an array (building it on first use)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.build_for((None,) + x.shape[1:])
        return np.array(self.call(x, training=training))

    def _buffer(self, key, shape, dtype=np.float32):
        """A work array kept between steps.  The last two shapes seen under a
        key are kept, so an epoch's smaller last batch does not make the
        full-size buffers be reallocated every epoch."""
        slot = self._buffers.get(key)
        if slot is None:
            slot = self._buffers[key] = {}
        buf = slot.get(shape)
        if buf is None or buf.dtype != dtype:
            shape = tuple(shape)
            if len(slot) >= 2:
                del slot[next(iter(slot))]
            buf = slot[shape] = np.empty(shape, dtype)
        return buf

    # ------------------------------------------------------------- config

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_input_shape" in config and config["batch_input_shape"] is not None:
            config["batch_input_shape"] = tuple(config["batch_input_shape"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class InputLayer(Layer):
    """The model's input: shape without the batch dimension."""

    def __init__(self, shape=None, batch_size=None, name=None, input_shape=None,
                 batch_input_shape=None, **kwargs):
        if shape is None and input_shape is not None:
            shape = input_shape
        if batch_input_shape is not None:
            batch_size, shape = batch_input_shape[0], batch_input_shape[1:]
        if shape is None:
            raise ValueError("Input: a shape is required, e.g. Input(shape=(784,))")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        super().__init__(name=name or unique_name("input_layer"),
                         batch_input_shape=(batch_size,) + shape, **kwargs)

    @property
    def shape(self):
        return self._batch_input_shape

    def get_config(self):
        return {"name": self.name, "batch_input_shape": list(self._batch_input_shape)}


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None):
    """Keras's ``Input``: declares the model's input shape (without batch)."""
    if dtype not in (None, "float32", np.float32):
        raise ValueError(f"Input: only float32 is supported, got {dtype!r}")
    if batch_shape is not None:
        return InputLayer(batch_input_shape=tuple(batch_shape), name=name)
    return InputLayer(shape=shape, batch_size=batch_size, name=name)
