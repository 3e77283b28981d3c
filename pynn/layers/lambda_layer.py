"""Lambda: a Python function of the input(s) as a layer (Keras's)."""
import inspect

import numpy as np

from ..utils.custom_objects import deserialize_function, is_function_description, \
    serialize_function
from .base import Layer


class Lambda(Layer):
    """``function(inputs, **arguments)`` as a layer.

    The function computes with pynn.ops, pynn.backend (Keras 2's ``K``) and
    NumPy's operators.  In training it runs on traced arrays and is
    differentiated (pynn.autodiff), so gradients flow through it to the
    layers before it; at inference it runs on NumPy arrays.

    ``output_shape``: the output shape without the batch axis (a tuple, or
    a list of them for several outputs), or a function of the input shape
    (batch included); when not given it is found by running the function
    on zeros.  ``mask``: None, a function ``mask(inputs, mask)``, or a
    constant mask.  ``arguments``: keyword arguments for the function.

    A config names the function and never holds its code: a model with an
    anonymous function (a lambda) trains, predicts, clones and exports, but
    cannot be saved; loading a file with a Lambda finds the function in
    ``custom_objects`` (or, with ``safe_mode=False``, by importing the
    module it was defined in).
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        who = f"Lambda {self.name!r}"
        if not callable(function):
            function = deserialize_function(function, who)
        self.function = function
        self.arguments = dict(arguments or {})
        self.output_shape_arg = _check_output_shape(output_shape, who)
        self.mask = mask
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._function_takes = frozenset(k for k in ("mask", "training") if k in params)

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if "mask" in self._function_takes:
            kwargs["mask"] = mask
        if "training" in self._function_takes:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        spec = self.output_shape_arg
        if spec is None:
            return self._output_shape_from_call(input_shape)
        if callable(spec):
            shape = spec(input_shape)
            return [tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape)
        batch = (input_shape[0] if isinstance(input_shape, list) else input_shape)[0]
        if isinstance(spec, list):
            return [(batch,) + s for s in spec]
        return (batch,) + spec

    def _output_has_mask(self, input_masks):
        return self.mask is not None

    def compute_mask(self, ctx, inputs, mask):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self):
        config = {**super().get_config(), "function": serialize_function(self.function),
                  "arguments": self.arguments}
        spec = self.output_shape_arg
        if spec is not None:
            config["output_shape"] = serialize_function(spec) if callable(spec) else (
                [list(s) for s in spec] if isinstance(spec, list) else list(spec))
        if self.mask is not None:
            config["mask"] = serialize_function(self.mask) if callable(self.mask) else \
                np.asarray(self.mask).tolist()
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        who = f"Lambda {config.get('name', 'lambda')!r}"
        for key in ("output_shape", "mask"):
            if is_function_description(config.get(key)):
                config[key] = deserialize_function(config[key], f"{who} ({key})")
        return super().from_config(config)


def _check_output_shape(spec, who):
    """output_shape as None, a function, a tuple, or a list of tuples."""
    if spec is None or callable(spec):
        return spec
    if is_function_description(spec):
        return deserialize_function(spec, f"{who} (output_shape)")

    def one(s):
        try:
            return tuple(None if d is None else int(d) for d in s)
        except (TypeError, ValueError):
            raise ValueError(f"{who}: output_shape must be a tuple of ints (without the batch "
                             f"axis), a list of them, or a function; got {spec!r}") from None
    if isinstance(spec, list) and spec and all(isinstance(s, (list, tuple)) for s in spec):
        return [one(s) for s in spec]
    return one(spec)
