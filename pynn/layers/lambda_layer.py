"""Lambda: a Python function of the input(s) as a layer (Keras's)."""
import contextlib
import inspect
import threading

import numpy as np

from ..utils.custom_objects import deserialize_function, is_function_description, \
    serialize_function
from .base import Layer, _snake, unique_name


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


# ------------------------------------------------------ symbolic operations

# The operators of a symbolic tensor beside ops.SYMBOLIC_OPS: a saved
# TensorOperation names one of these and nothing else.
OPERATORS = {"getitem": lambda x, key: x[key], "floor_divide": lambda a, b: a // b,
             "mod": lambda a, b: a % b,
             # keras.random.dropout, tf.nn.dropout
             "dropout": lambda x, rate, noise_shape=None, seed=None: _random().dropout(
                 x, rate, noise_shape, seed),
             # Keras 2's K.shape of a symbolic tensor
             "shape_tensor": lambda x: np.asarray(np.shape(x), np.int32),
             # ops.ones([ops.shape(x)[0], ...]) in a traced call (see record_filled)
             "filled_to_batch": lambda x, shape, fill_value, dtype: np.full(
                 (x.shape[0],) + tuple(shape[1:]), fill_value, dtype),
             # ops.tile(w, (ops.shape(x)[0], 1, 1)) in a traced call (see
             # record_to_batch)
             "tile_to_batch": lambda source, x, repeats: _ops().tile(
                 x, [source.shape[0] if r is None else r for r in repeats])}
# TensorFlow's special functions applied to symbolic tensors (Keras 2
# recorded them as layers; Keras 3 has no ops of them)
for _name in ("lgamma", "digamma", "igamma", "igammac", "betainc", "zeta", "bessel_i0",
              "bessel_i0e", "bessel_i1", "bessel_i1e", "bessel_j0", "bessel_j1", "bessel_y0",
              "bessel_y1", "bessel_k0", "bessel_k1", "bessel_k0e", "bessel_k1e", "dawsn",
              "expint", "fresnel_cos", "fresnel_sin", "spence"):
    OPERATORS[_name] = (lambda name: lambda *args: _tf_special(name)(*args))(_name)
del _name


def _tf_special(name):
    from .. import math
    return math.SPECIAL.get(name) or getattr(math, name)


def _ops():
    from .. import ops
    return ops


def _random():
    from .. import random
    return random

# The operations whose result is boolean, as Keras's are: their symbolic
# output has dtype bool (and their value is a boolean array).
BOOLEAN_OPS = frozenset("""
equal not_equal greater greater_equal less less_equal logical_and logical_or logical_not
logical_xor isnan isinf isfinite isneginf isposinf isclose allclose isin signbit all any
in_top_k isreal
""".split())
# Operations whose result is int32 indices, as Keras's.
INDEX_OPS = frozenset("""
nanargmax nanargmin argpartition argmax argmin argsort count_nonzero searchsorted digitize
shape_tensor
""".split())
# Operations that only move, pick or repeat elements: a boolean mask or
# integer ids come out with their own dtype, as in Keras.
STRUCTURAL_OPS = frozenset("""
getitem expand_dims reshape squeeze transpose tile repeat broadcast_to flip roll moveaxis
swapaxes
""".split())
# Integer operations whose result keeps the (first) input's dtype.
SAME_DTYPE_OPS = frozenset("""
gcd lcm bitwise_and bitwise_or bitwise_xor bitwise_invert bitwise_not bitwise_left_shift
bitwise_right_shift left_shift right_shift
""".split())


_constants = threading.local()
_batch_source = threading.local()


@contextlib.contextmanager
def batch_source(tensor):
    """While a subclassed model's call is traced into a graph, ``tensor``
    (its input) gives the batch size of the arrays its call makes with
    ``ops.ones([ops.shape(x)[0], ...])``: a leading None there, as Keras
    runs such a call on the real batch."""
    saved = getattr(_batch_source, "tensor", None), getattr(_batch_source, "constants", None)
    _batch_source.tensor, _batch_source.constants = tensor, []
    try:
        yield _batch_source.constants
    finally:
        _batch_source.tensor, _batch_source.constants = saved


class WeightRead(Layer):
    """In the graph traced from a subclassed model's call: the value of one
    of the model's own weights (add_weight), where the call computes with
    it (``ops.softmax(self.pi)``, ``x @ self.w``).  Its node reads the
    model's input only to sit in the graph; training differentiates it, so
    the weight gets its gradient, as Keras's call on the real batch gives."""

    def __init__(self, weight, **kwargs):
        kwargs.setdefault("name", unique_name("weight_read"))
        super().__init__(**kwargs)
        self.__dict__["_read"] = weight

    # the weight it reads, so that the graph's backward visits its node
    # while the weight trains (the model lists the weight as its own)
    @property
    def weights(self):
        return [self.__dict__["_read"]]

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]

    def call(self, x):
        from .. import autodiff
        tape = autodiff.active_tape()
        weight = self.__dict__["_read"]
        return tape.watch(weight) if tape is not None else np.array(weight.value)


class ConstantRead(Layer):
    """In the graph traced from a subclassed model's call: an array the
    call gives to a layer (a graph's node features, positions), which Keras
    would compute on at every step.  Its node reads the model's input only
    to sit in the graph, so the layers called on the array are nodes too and
    their weights train."""

    def __init__(self, value, **kwargs):
        kwargs.setdefault("name", unique_name("constant_read"))
        super().__init__(**kwargs)
        if isinstance(value, dict):  # from a model file's config
            from ..saving.serialization import deserialize_keras_object
            value = deserialize_keras_object(value)
        self.__dict__["_value"] = np.asarray(value)

    def call(self, x):
        return self.__dict__["_value"]

    def get_config(self):
        # the array itself, as Keras keeps a constant argument of a node
        # (a transformer decoder's causal mask): the model file rebuilds it
        from ..saving.serialization import serialize_keras_object
        return {**super().get_config(), "value": serialize_keras_object(self.__dict__["_value"])}

    def compute_output_shape(self, input_shape):
        return self.__dict__["_value"].shape

    def _output_dtypes(self, n):
        return [str(self.__dict__["_value"].dtype)] * n


def constants_in_graph(inputs, source=None):
    """``inputs`` (a layer's, in a subclassed model's call being traced, or
    beside symbolic tensors in a graph: ``source`` one of them) with each
    array among them read through a ConstantRead node, or None where no
    trace gives a source for the nodes or an input is no array."""
    from ..models.node import KerasTensor
    source = source if source is not None else getattr(_batch_source, "tensor", None)
    if source is None:
        return None

    def one(v):
        if isinstance(v, KerasTensor):
            return v
        if isinstance(v, (list, tuple)):
            parts = [one(t) for t in v]
            return None if any(p is None for p in parts) else type(v)(parts)
        value = np.asarray(getattr(v, "value", v))
        if value.dtype.kind not in "biuf" or value.ndim == 0:
            return None
        value = value.astype(np.float32) if value.dtype.kind == "f" else value
        read = getattr(_batch_source, "constants", None)
        if read is not None:
            read.append(v)
        return ConstantRead(value)(source)
    return one(inputs)


@contextlib.contextmanager
def weights_in_graph(weights, source):
    """While a subclassed model's call is traced on ``source`` (its first
    input), its own ``weights`` are read in the graph through a WeightRead
    node each (made at the first use, one per weight: a weight's gradient
    is written by the one node that reads it)."""
    from .. import ops
    key = threading.get_ident()
    saved = ops._WEIGHT_STAND_INS.get(key)
    made = {}

    def stand_in(weight):
        def get():
            if id(weight) not in made:
                made[id(weight)] = WeightRead(weight)(source)
            return made[id(weight)]
        return get
    if weights or saved is not None:  # (an inner model's trace hides the outer's)
        ops._WEIGHT_STAND_INS[key] = {id(w): stand_in(w) for w in weights}
    try:
        yield
    finally:
        if saved is None:
            ops._WEIGHT_STAND_INS.pop(key, None)
        else:
            ops._WEIGHT_STAND_INS[key] = saved


def record_filled(who, shape, fill_value, dtype):
    """ops.ones/zeros/full/empty of ``shape`` with None entries in a traced
    call: a TensorOperation that makes the array for the batch of the
    traced model's input."""
    source = getattr(_batch_source, "tensor", None)
    if source is None or shape[0] is not None or any(d is None for d in shape[1:]):
        raise ValueError(f"ops.{who}: the shape {shape} has an unknown size (None); only a "
                         f"subclassed model's call, traced on symbolic inputs, may give the "
                         f"batch size ops.shape(x)[0] as the first size")
    shape = [None] + [int(d) for d in shape[1:]]
    return record_operation("filled_to_batch", (source, shape, fill_value),
                            {"dtype": str(np.dtype(dtype or "float32"))})


def record_to_batch(who, args):
    """``ops.<who>(*args)`` whose sizes hold None (``ops.shape(x)[0]``) in a
    traced call: a TensorOperation that gives each None the batch size of
    the traced model's input where the graph runs."""
    source = getattr(_batch_source, "tensor", None)
    if source is None:
        raise ValueError(f"ops.{who}: the sizes {args[1:]} hold an unknown size (None); only "
                         f"a subclassed model's call, traced on symbolic inputs, may give "
                         f"the batch size ops.shape(x)[0] there")
    return record_operation(f"{who}_to_batch", (source,) + tuple(args), {})


@contextlib.contextmanager
def weights_as_constants():
    """While a layer's call is traced into a graph for export (pynn.lite),
    a weight among an operation's arguments is recorded as its current
    value; elsewhere a graph cannot hold one (it would not train)."""
    saved = getattr(_constants, "on", False)
    _constants.on = True
    try:
        yield
    finally:
        _constants.on = saved


def _encode(value, tensors, live=None):
    """``value`` (an argument of an operation) as JSON, its symbolic
    tensors replaced by their index in ``tensors`` (appended); with
    ``live`` (a list), K.variable's arrays by their index there
    (appended: read when the graph runs)."""
    from ..backend import VariableArray
    from ..models.node import KerasTensor
    from .base import Weight
    if isinstance(value, Weight) and getattr(_constants, "on", False):
        value = np.array(value.value)
    if isinstance(value, KerasTensor):
        tensors.append(value)
        return {"__tensor__": len(tensors) - 1}
    if isinstance(value, VariableArray) and live is not None:
        live.append(value)
        return {"__live__": len(live) - 1}
    if isinstance(value, slice):
        return {"__slice__": [_encode(v, tensors, live) for v in (value.start, value.stop,
                                                                 value.step)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, live) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors, live) for v in value]
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a symbolic operation cannot record an argument of type "
                    f"{type(value).__name__}: {value!r}")


def _decode(value, tensors, live=()):
    if isinstance(value, list):
        return [_decode(v, tensors, live) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__live__" in value:  # (its value now)
            return live[value["__live__"]].view(np.ndarray)
        if "__slice__" in value:
            return slice(*(_decode(v, tensors, live) for v in value["__slice__"]))
        if "__ellipsis__" in value:
            return Ellipsis
        if "__tuple__" in value:
            return tuple(_decode(v, tensors, live) for v in value["__tuple__"])
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value.get("dtype"))
        return {k: _decode(v, tensors, live) for k, v in value.items()}
    return value


def _frozen(value, live):
    """An encoded argument with K.variable's arrays as their current
    values (a config, an export, hold what the graph computes now)."""
    if isinstance(value, list):
        return [_frozen(v, live) for v in value]
    if isinstance(value, dict):
        if "__live__" in value:
            return _encode(np.array(live[value["__live__"]]), [])
        return {k: _frozen(v, live) for k, v in value.items()}
    return value


class TensorOperation(Layer):
    """A pynn.ops function (or an operator: ``+``, ``*``, ``x[1:]``, ...)
    applied to symbolic tensors, as a layer of the graph: what Keras 3
    records when ``keras.ops.exp(x)`` or ``x * 2.0`` meets a KerasTensor.
    ``op`` names the function; ``args`` and ``kwargs`` are its arguments,
    each symbolic tensor replaced by ``{"__tensor__": i}``, the layer's
    i-th input.  It computes through its call, so gradients flow through
    it as through a custom layer's."""

    def __init__(self, op, args=(), kwargs=None, live=(), **layer_kwargs):
        from .. import ops
        if op not in ops.SYMBOLIC_OPS and op not in OPERATORS:
            raise ValueError(f"TensorOperation: unknown operation {op!r}")
        if "name" not in layer_kwargs:
            # Keras names an operation after its class (x[:, 0] is a
            # GetItem, "get_item"; ops.abs an Absolute, "absolute")
            from ..saving.keras_ops import GETITEM, KERAS_OPS
            row = GETITEM if op == "getitem" else KERAS_OPS.get(op)
            layer_kwargs["name"] = unique_name(_snake(row[1]) if row is not None else op)
        super().__init__(**layer_kwargs)
        self.op = op
        # K.variable's arrays among the arguments ({"__live__": i}), read
        # when the graph runs; ``args`` and ``kwargs`` give their values now.
        self._live = list(live)
        self._args = list(args)
        self._kwargs = dict(kwargs or {})

    @property
    def args(self):
        return _frozen(self._args, self._live) if self._live else self._args

    @property
    def kwargs(self):
        return _frozen(self._kwargs, self._live) if self._live else self._kwargs

    def _function(self):
        if self.op in OPERATORS:
            return OPERATORS[self.op]
        from .. import ops
        return getattr(ops, self.op)

    def arguments(self, tensors):
        """The operation's positional and keyword arguments, the layer's
        inputs ``tensors`` in their places."""
        return (_decode(self._args, tensors, self._live),
                _decode(self._kwargs, tensors, self._live))

    def call(self, inputs):
        args, kwargs = self.arguments(inputs if isinstance(inputs, (list, tuple)) else [inputs])
        out = self._function()(*args, **kwargs)
        return list(out) if isinstance(out, tuple) else out

    def compute_output_shape(self, input_shape):
        return self._output_shape_from_call(input_shape)

    def _output_dtypes(self, n):
        if self.op in INDEX_OPS:
            return ["int32"] * n
        if self.op in SAME_DTYPE_OPS:
            return [str(np.dtype(self.__dict__.get("_call_input_dtype") or "int32"))] * n
        if self.op in ("saturate_cast", "cast", "filled_to_batch"):
            dtype = self.kwargs.get("dtype", self.args[1] if len(self.args) > 1 else None)
            return [str(np.dtype(dtype))] * n
        if self.op == "top_k":  # (values, indices)
            return ["float32", "int32"][:n]
        if self.op in STRUCTURAL_OPS and \
                self.__dict__.get("_call_input_dtype") in ("bool", "int32", "int64"):
            return [self.__dict__["_call_input_dtype"]] * n
        if self.op not in BOOLEAN_OPS and self.__dict__.get("_call_input_dtype") == "string":
            return ["string"] * n  # raw text reshaped (expand_dims, reshape) is text
        return ["bool" if self.op in BOOLEAN_OPS else "float32"] * n

    def get_config(self):
        return {**super().get_config(), "op": self.op, "args": self.args,
                "kwargs": self.kwargs}


def record_operation(op, args, kwargs):
    """The output(s) of ``op(*args, **kwargs)`` with symbolic tensors among
    the arguments: a TensorOperation called on them; computed now where
    they all have values in the layer call being run (see
    pynn.models.node.bound_value)."""
    from ..models.node import any_bound
    if any_bound():
        values = _with_bound_values(args, kwargs)
        if values is not None:
            from .. import ops
            args, kwargs = values
            return (OPERATORS.get(op) or getattr(ops, op))(*args, **kwargs)
    if op == "tile" and not kwargs and len(args) == 2 and np.ndim(args[1]) and \
            any(r is None for r in args[1]):
        return record_to_batch(op, (args[0], list(args[1])))
    args, kwargs = _live_weights(args, kwargs)
    tensors, live = [], []
    enc_args = [_encode(a, tensors, live) for a in args]
    enc_kwargs = {k: _encode(v, tensors, live) for k, v in kwargs.items()}
    layer = TensorOperation(op, enc_args, enc_kwargs, live)
    return layer(tensors if len(tensors) > 1 else tensors[0])



def _with_bound_values(args, kwargs):
    """``args`` and ``kwargs`` with each symbolic tensor as its value in the
    call being run, or None where one has none."""
    from ..models.node import KerasTensor, bound_value
    missing = []

    def one(v):
        if type(v) in (list, tuple):
            return type(v)(one(t) for t in v)
        if isinstance(v, KerasTensor):
            value = bound_value(v)
            if value is None:
                missing.append(v)
            return value
        return v
    args, kwargs = tuple(one(a) for a in args), {k: one(v) for k, v in kwargs.items()}
    return None if missing else (args, kwargs)


def _live_weights(args, kwargs):
    """A weight among an operation's arguments (``K.dot(x, kernel)``,
    ``kernel - lr * grads`` in Keras 2's updates) is read when the graph
    runs, by a WeightRead node on the operation's first symbolic input,
    and has its gradient there; for export it is its current value."""
    from .. import ops
    from ..models.node import KerasTensor
    from .base import Weight
    if getattr(_constants, "on", False):
        return args, kwargs
    if ops._WEIGHT_STAND_INS:
        args, kwargs = ops._with_stand_ins(args, kwargs)
    flat = []

    def walk(v):
        if type(v) in (list, tuple):
            for t in v:
                walk(t)
        else:
            flat.append(v)
    walk(list(args) + list(kwargs.values()))
    if not any(isinstance(v, Weight) for v in flat):
        return args, kwargs
    source = next(v for v in flat if isinstance(v, KerasTensor))
    made = {}

    def one(v):
        if type(v) in (list, tuple):
            return type(v)(one(t) for t in v)
        if isinstance(v, Weight):
            if id(v) not in made:
                made[id(v)] = WeightRead(v)(source)
            return made[id(v)]
        return v
    return tuple(one(v) for v in args), {k: one(v) for k, v in kwargs.items()}


def _register():
    from .. import ops
    from ..models.node import KerasTensor
    ops._SYMBOLIC[:] = [KerasTensor, record_operation, record_filled, record_to_batch]


_register()
