"""Layer: the base of every layer (and of models), and Input.

A layer owns its weights and its config, nothing else.  Called on symbolic
tensors (from :func:`Input`) it records a node of a graph; called on arrays
it computes at once.  Subclasses implement

``build(input_shape)``
    create the weights (``add_weight``) once the input shape is known;
``compute_output_shape(input_shape)``
    the output shape, batch included as None; raises ValueError naming the
    layer and the shapes when the input does not fit;
``forward(ctx, inputs, training)``
    the output for ``inputs`` (an array, or a list of arrays for a layer
    taking several), computed only through pynn.ops;
``backward(ctx, dy, need_input_grad)``
    from ``dy``, the gradient of the output, write the weights' gradients
    into ``weight.grad`` (skipping weights whose ``grad`` is None: they are
    not being trained) and return the input gradient (a list for several
    inputs; None where ``need_input_grad`` is false).  ``backward`` never
    writes into ``dy``.

``ctx`` is the :class:`~pynn.models.node.CallContext` of this call: what
backward needs is kept there (``ctx.x = x``) with the work buffers
(``ctx.buffer(key, shape)``), never on the layer, so one layer can serve
several nodes of a graph and several threads at once.

A Keras-style layer that only overrides ``call(inputs)`` (and ``build``
with ``add_weight``) computes through its call.  In training, the call runs
on traced arrays (:mod:`pynn.autodiff`): what it computes with pynn.ops,
pynn.backend and NumPy operators is recorded and differentiated, so the
layer trains with no backward of its own; ``self.add_loss(value)`` inside
the call adds to the training loss.  Layers it holds as attributes are its
sublayers: their weights are its weights.  Its output shape, unless it
defines compute_output_shape, is found by running the call on zeros.

Shapes in the API include the batch dimension as ``None``, as Keras's do.
"""
import functools
import inspect
import re
import threading
from collections import defaultdict

import numpy as np

from .. import autodiff, backend, distribute, dtypes, ops
from ..models.node import CallContext, KerasTensor, Node, bound_tensors, recording_reads
from ..ops import MAX_ARRAY_SIZE, check_size  # noqa: F401 (re-exported to the layers)
from ..module import Module
from ..tensor import Tensor, TensorShape, eager, one_element

_name_counts = defaultdict(int)
# How many callables add_loss has kept (see Layer.add_loss): while none,
# a training step need not look for them.
_callable_losses_added = 0


def callable_losses(layers):
    """The values of the callables ``layers`` were given by add_loss
    outside a call, each computed now (traced while a GradientTape
    records)."""
    if not _callable_losses_added:
        return []
    return [f() for layer in layers for f in layer.__dict__.get("_callable_losses", ())]


def _snake(name):
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base):
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def _text_as_tensors(x):
    """Text arrays (in a list, tuple or dict) as Tensors for a call(): their
    ``==`` compares bytes and str as TensorFlow's strings do."""
    t = type(x)
    if t is np.ndarray:
        return x.view(Tensor) if x.dtype.kind in "OSU" else x
    if t is dict:
        return {k: _text_as_tensors(v) for k, v in x.items()}
    if t is list or t is tuple:
        return t(_text_as_tensors(v) for v in x)
    return x


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def data_format_arg(data_format, label):
    """A layer's ``data_format`` argument: None is the global
    ``image_data_format()`` at construction, as in Keras."""
    if data_format is None:
        return backend.image_data_format()
    value = str(data_format).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"{label}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return value


def _moved_axis(x, source, destination):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return type(x)(_moved_axis(v, source, destination) for v in x)
    return np.ascontiguousarray(np.moveaxis(x, source, destination))


def _moved_shape(shape, source, destination):
    if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple, TensorShape)):
        return [_moved_shape(s, source, destination) for s in shape]
    dims = list(shape)
    dims.insert(destination % len(dims), dims.pop(source % len(dims)))
    return tuple(dims)


_channels_moved = threading.local()


def _on_channels_last(method, name):
    """``method`` of a ChannelsFirst class, run on data whose channel axis
    (``_channels_axis``) is moved last, its output's moved back."""
    shapes = name in ("build", "compute_output_shape")

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if not self._moves_channels:  # (channels last: the method itself, at once)
            return method(self, *args, **kwargs)
        inside = _channels_moved.__dict__.setdefault("layers", set())
        if id(self) in inside:
            return method(self, *args, **kwargs)
        given = args[0] if shapes else args[1]
        first = given[0] if isinstance(given, list) and given and \
            isinstance(given[0], (list, tuple, TensorShape, np.ndarray)) else given
        axis = self._channels_axis(len(first) if shapes else np.ndim(first))
        if axis is None:
            return method(self, *args, **kwargs)
        inside.add(id(self))
        try:
            if shapes:
                out = method(self, _moved_shape(given, axis, -1), *args[1:], **kwargs)
                return _moved_shape(out, -1, axis) if name == "compute_output_shape" else out
            out = method(self, args[0], _moved_axis(given, axis, -1), *args[2:], **kwargs)
            return _moved_axis(out, -1, axis)
        finally:
            inside.discard(id(self))

    return run


class ChannelsFirst:
    """What a layer whose kernels compute on channels-last data needs to
    take its channels on another axis: Keras's ``data_format=
    'channels_first'`` (the channels right before the ``rank`` spatial
    axes), or BatchNormalization's ``axis=1``.  Such an instance runs the
    same kernels on its inputs with the channel axis moved last, and moves
    its outputs' back, in forward, infer and backward; build and
    compute_output_shape see the shapes moved the same way.  The methods a
    class defines are wrapped once, when the class is made; one reached
    from a wrapped one (through super(), or compute_output_shape inside
    forward) runs on the moved data as it is.  Other instances run the
    methods themselves, and the weights keep Keras's layout, which is the
    same whatever the axis."""
    data_format = "channels_last"
    _moves_channels = False
    # inputs of fewer axes (a 3-D tensor into Conv2D) reach the layer's own
    # checks unmoved, so that its message shows the shape as given
    channels_first_min_rank = None
    _on_channels_last = ("build", "compute_output_shape", "forward", "infer", "backward")

    def __init_subclass__(cls, **kwargs):
        for name in ChannelsFirst._on_channels_last:
            if name in vars(cls):
                setattr(cls, name, _on_channels_last(vars(cls)[name], name))
        super().__init_subclass__(**kwargs)

    def _set_data_format(self, data_format, label):
        self.data_format = data_format_arg(data_format, label)
        if self.data_format == "channels_first":
            self._moves_channels = True
            self.runs_on_gpu = False  # (the moves run on the host)
            axis = -self.rank - 1
            self.fixed_input_axes = tuple(axis if a == -1 else a
                                          for a in type(self).fixed_input_axes or ())
            if self.channels_first_min_rank is None:
                self.channels_first_min_rank = self.rank + 2

    def _channels_axis(self, ndim):
        """The axis of an input of ``ndim`` axes that holds the channels,
        when it is not the last one."""
        return -self.rank - 1 if ndim >= self.channels_first_min_rank else None


def shapes_str(shapes):
    """A shape, or a list of shapes, for messages."""
    if isinstance(shapes, list):
        return "[" + ", ".join(shape_str(s) for s in shapes) + "]"
    return shape_str(shapes)


def flatten(structure):
    """The leaves of a nested list/tuple/dict structure, in order (dicts by
    insertion order)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def _template(structure):
    """``structure`` (nested dicts, lists and tuples) with its leaves as
    None: what _pack_like fills again."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(_template(v) for v in structure)
    if isinstance(structure, dict):
        return {k: _template(v) for k, v in structure.items()}
    return None


def _pack_like(template, leaves):
    """The structure of ``template`` (nested lists, tuples and dicts) with
    ``leaves`` in flatten's order."""
    it = iter(leaves)

    def fill(t):
        if isinstance(t, (list, tuple)):
            return type(t)(fill(v) for v in t)
        if isinstance(t, dict):
            return {k: fill(v) for k, v in t.items()}
        return next(it)
    return fill(template)


def _numbers(value):
    """Whether a call's inputs are a (nested) list of Python numbers."""
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_numbers(v) for v in value)
    return isinstance(value, (int, float, np.number, np.bool_))


def check_numeric(arr, label):
    """TypeError naming ``label`` for an array of text, complex numbers or
    dates, which NumPy's float conversion would parse ("1.5"), cut to the
    real part or count in ticks: a layer computing on numbers refuses them,
    as Keras does."""
    if arr.dtype.kind in "cUSVMm" or arr.dtype.kind == "O" and any(
            isinstance(v, (str, bytes, complex, np.complexfloating)) for v in arr.flat):
        raise TypeError(f"{label}: expected numeric data of shape {shape_str(arr.shape)}, "
                        f"got dtype {arr.dtype}")


def _is_tensor(value):
    """Whether a call argument is a tensor: symbolic, an array or traced."""
    return isinstance(value, (KerasTensor, np.ndarray, autodiff.Traced))


_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "string": object}


_WIDENED = {"uint8": "int32", "int8": "int32", "uint16": "int32", "int16": "int32",
            "bool": "int32", "float16": "float32", "float64": "float32"}


def standardize_dtype(dtype, who):
    """'float32', 'int32' or 'int64' from a name or NumPy dtype (None:
    float32); other dtypes are refused by name."""
    if dtype is None:
        return "float32"
    if dtype in ("string", str, "str"):
        return "string"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    # Keras's narrower and wider dtypes (an Input(dtype="uint8") of pixels
    # that a Rescaling layer converts) hold the same values as these.
    name = _WIDENED.get(name, name)
    if name not in _DTYPES:
        raise ValueError(f"{who}: dtype must be float32, int32, int64 or string, got "
                         f"{dtype!r}")
    return name


class _ShapesByName(dict):
    """build()'s arguments by name: Keras 3's build(self, x_shape, y_shape)
    for call(self, x, y), each the shape of the tensor of that name."""


def _shape_for_user(method, shape):
    """The shape a custom layer's build or compute_output_shape gets: a
    TensorShape (a tuple, as Keras 3 gives, with tf.keras 2's ``as_list()``
    for ``batch_input_shape.as_list()[:-1]``); pynn's own layers take the
    tuples as they are."""
    if getattr(inspect.unwrap(method), "__module__", "").startswith("pynn."):
        return shape
    if isinstance(shape, tuple) and not isinstance(shape, TensorShape):
        return TensorShape(shape)
    if isinstance(shape, list) and all(type(s) is tuple for s in shape):
        return [TensorShape(s) for s in shape]
    return shape


class Weight(autodiff.ForwardingOperators):
    """A layer's variable: its value and, while a model trains it, its
    gradient.

    Arithmetic on a weight (``x @ self.w + self.b``, ``ops.exp(self.w)``)
    computes with its value, or, while a layer's call is being traced for
    training, with its traced leaf, so the gradient reaches ``grad``.

    ``value`` may be rebound to a view of a model-wide flat buffer (so the
    optimizer updates every parameter in one pass) and ``grad`` to a view of
    the matching gradient buffer; code reads both through the attribute
    every time instead of keeping the arrays.  ``grad`` is None while the
    weight is not being trained, and backward passes skip it.
    """
    __slots__ = ("name", "value", "grad", "trainable", "regularizer", "constraint", "_scope")

    def __init__(self, name, value, trainable=True, regularizer=None, constraint=None):
        self.name = name
        self._scope = backend.current_name_scope_path()  # pynn.name_scope's, for path
        self.value = np.asarray(value, dtype=np.float32, order="C")
        self.value = distribute._sync_initial_value(self.value)
        self.grad = None
        self.trainable = trainable
        # Training adds the regularizer's penalty to the loss, and applies
        # the constraint after each optimizer step.
        self.regularizer = regularizer
        self.constraint = constraint

    @property
    def shape(self):
        return self.value.shape

    def get_shape(self):
        """TensorFlow's name for the shape (a masked convolution's
        ``self.conv.kernel.get_shape()``)."""
        return TensorShape(self.value.shape)

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def dtype(self):
        return dtypes.float32

    @property
    def path(self):
        """The name under the name scopes open when the weight was made (a
        layer's: under the layer's name), unique in a model where the name
        is not."""
        scope = getattr(self, "_scope", "")
        return f"{scope}/{self.name}" if scope else self.name

    def numpy(self):
        """A host copy of the value (also of a value on the GPU)."""
        return np.array(self.value, dtype=np.float32)

    def assign(self, value):
        # an assignment is not differentiated (as in Keras): a value computed
        # on a tape (a masked kernel, an average of weights) is stored as is
        value = np.asarray(autodiff.value_of(value), dtype=np.float32)
        if value.shape != self.value.shape:
            raise ValueError(f"Weight {self.path!r}: expected shape {self.value.shape}, "
                             f"got {value.shape}")
        scope = backend.get_stateless_scope()
        if scope is not None:
            scope.add_update((self, value))  # (put back when the scope ends)
            return
        self.value[...] = value

    def assign_add(self, value):
        self.assign(self.value + np.asarray(value, dtype=np.float32))

    def assign_sub(self, value):
        self.assign(self.value - np.asarray(value, dtype=np.float32))

    def __getitem__(self, key):
        # a slice of a weight is an eager tensor, as TensorFlow's
        # (``layer.kernel[:, 0].numpy()``); while a tape records, the traced slice
        return eager(self._operand()[key])

    def _operand(self):
        if ops._WEIGHT_STAND_INS:
            # a subclassed model's own weight in the call being traced (on
            # symbolic inputs, even where a GradientTape records: the first
            # call of a model inside a train_step traces it)
            get = ops._WEIGHT_STAND_INS.get(threading.get_ident(), {}).get(id(self))
            if get is not None:
                return get()
        tape = autodiff.active_tape()
        return self.value if tape is None else tape.watch(self)

    def __array__(self, dtype=None, copy=None):
        tape = autodiff.active_tape()
        if tape is not None and self.grad is not None:
            raise autodiff.unsupported(f"Converting the weight {self.path!r} to a NumPy array",
                                       tape)
        value = self.value if isinstance(self.value, np.ndarray) else np.asarray(self.value)
        if copy:  # np.array(weight) (NumPy 2 asks for the copy here): a snapshot
            return value.astype(dtype or value.dtype, copy=True)
        return value if dtype is None else value.astype(dtype)

    def __repr__(self):
        return f"<Weight {self.name} shape={self.value.shape}>"

    # A scalar variable (a Keras-style metric's result) as a number:
    # float(m.result()), "%.3f" % m.result(), f"{m.result():.3f}"; one of
    # any rank too, as TensorFlow's
    def __float__(self):
        return float(one_element(self.value, "float"))

    def __int__(self):
        return int(one_element(self.value, "int"))

    def __format__(self, spec):
        return format(self.value, spec) if spec else str(self)


# Calls given a weight send it to the tape while one records.
ops._TRACED.add(Weight)



def _own(ctx, y):
    """An eager call's output as an array of the caller's own: a buffer
    of the call's context, or a view of one, is (the context ends with the
    call; copying a batch of convolution outputs cost a third of the
    convolution); anything else may be a view of the input or an array
    the layer keeps (a state, a weight), and is copied."""
    if isinstance(y, (list, tuple)) and y and all(_is_tensor(v) for v in y):
        return type(y)(_own(ctx, v) for v in y)  # (a cell's new states, [h])
    if type(y) is np.ndarray:
        root = y if y.base is None else y.base
        for slot in ctx._buffers.values():
            for buf in slot.values():
                # (a buffer is a view of the block aligned_empty took)
                if buf is root or buf.base is root:
                    return y
    return np.array(y)


class reading:
    """While a model is rebuilt from its config, a layer whose call reads
    tensors of the graph besides its inputs (see Layer._symbolic_call)
    reads ``tensors`` (the rebuilt graph's, in the order its call reads
    them) in their place; ``tensors`` None: nothing changes."""

    def __init__(self, layer, tensors):
        self.layer, self.tensors = layer, tensors

    def __enter__(self):
        if self.tensors is not None:
            self.layer.__dict__["_reads_given"] = list(self.tensors)

    def __exit__(self, *exc):
        self.layer.__dict__.pop("_reads_given", None)


def _keras_masks(inputs):
    """The ``_keras_mask`` of eager inputs (a list for a list of inputs),
    None where none carries one."""
    if isinstance(inputs, (list, tuple)):
        masks = [getattr(x, "_keras_mask", None) if type(x) is Tensor else None
                 for x in inputs]
        return masks if any(m is not None for m in masks) else None
    return getattr(inputs, "_keras_mask", None) if type(inputs) is Tensor else None


def _keras_callable_mask(compute_mask):
    """A layer's compute_mask(ctx, inputs, mask), also callable as Keras's
    ``compute_mask(inputs, mask=None)`` (a program asking an Embedding for
    the mask its ids make); graph runs always give all three."""
    def either(self, *args, **kwargs):
        if len(args) + len(kwargs) < 3 and "ctx" not in kwargs:
            inputs = args[0] if args else kwargs["inputs"]
            mask = args[1] if len(args) > 1 else kwargs.get("mask")
            return compute_mask(self, CallContext(), np.asarray(autodiff.value_of(inputs)),
                                mask)
        return compute_mask(self, *args, **kwargs)
    either.__name__ = compute_mask.__name__
    either.__qualname__ = compute_mask.__qualname__
    either.__doc__ = compute_mask.__doc__
    either.__wrapped__ = compute_mask
    return either


def _marks_built(build):
    """A user's build() that leaves the layer built, as Keras's does, also
    when the program calls it itself (with arguments of its own); the shape
    it was given is then its build config's, as Keras records it."""
    def build_and_mark(self, *args, **kwargs):
        build(self, *args, **kwargs)
        self.built = True
        shape = args[0] if args else kwargs.get("input_shape")
        if self.__dict__.get("_build_input_shape") is None and \
                isinstance(shape, (tuple, list)) and \
                all(d is None or isinstance(d, (int, np.integer)) for d in shape):
            self._build_input_shape = tuple(shape)
    build_and_mark.__name__ = build.__name__
    build_and_mark.__qualname__ = build.__qualname__
    build_and_mark.__doc__ = build.__doc__
    build_and_mark.__wrapped__ = build
    return build_and_mark


_carried = threading.local()
_constants = threading.local()


class _CallConstants:
    """While a layer is called with arguments of its own call() that are
    not tensors (``embedding(x, reverse=True)``): the arguments, for its
    eager computation, its shape inference and the node a symbolic call
    records (which keeps them for the graph's runs, as Node.call_args)."""

    def __init__(self, layer, kwargs):
        self.entry = (id(layer), kwargs)

    def __enter__(self):
        _constants.__dict__.setdefault("stack", []).append(self.entry)

    def __exit__(self, *exc):
        _constants.stack.pop()


def _call_constants(layer):
    """The constant call arguments of the call of ``layer`` being made on
    this thread, or None."""
    stack = getattr(_constants, "stack", None)
    if stack and stack[-1][0] == id(layer):
        return stack[-1][1]
    return None


class _CarriedMasks:
    """While a layer's call() runs, the arrays it was given carry the masks
    that came with them, as Keras's tensors carry ``_keras_mask``: a layer
    called inside (MultiHeadAttention in a custom encoder) finds them."""

    def __init__(self, inputs, mask):
        if isinstance(inputs, (list, tuple)) and isinstance(mask, (list, tuple)):
            pairs = zip(inputs, mask)
        else:
            pairs = [(inputs, mask)]
        # (the array is kept with its mask, so its id stays its own; a mask
        # of numbers given to call(), an attention bias, is no sequence mask
        # and stays with the call, as Keras attaches none to the inputs)
        self.entries = {id(x): (x, m) for x, m in pairs
                        if m is not None and np.dtype(getattr(m, "dtype", bool)) == bool}

    def __enter__(self):
        _carried.__dict__.setdefault("frames", []).append(self.entries)

    def __exit__(self, *exc):
        _carried.frames.pop()


def carried_mask(x):
    """The mask ``x`` carries (Keras's ``_keras_mask``): the one that came
    with it into the call of the layer that is running, or None."""
    for entries in reversed(getattr(_carried, "frames", ())):
        entry = entries.get(id(x))
        if entry is not None and entry[0] is x:
            return entry[1]
    return None


# Keras 1's argument names, which Keras 2 renamed (its legacy interfaces
# converted them with a warning, values and all: border_mode, subsample,
# dim_ordering "th"): pynn's layers given one refuse it and name its Keras
# 2 spelling, unless the layer has an argument of that name itself.
_KERAS1_ARGUMENTS = {
    "output_dim": "units", "nb_filter": "filters", "filter_length": "kernel_size",
    "nb_row": "kernel_size", "nb_col": "kernel_size", "init": "kernel_initializer",
    "inner_init": "recurrent_initializer", "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer", "U_regularizer": "recurrent_regularizer",
    "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
    "U_constraint": "recurrent_constraint", "bias": "use_bias", "border_mode": "padding",
    "subsample": "strides", "subsample_length": "strides", "pool_length": "pool_size",
    "stride": "strides", "dim_ordering": "data_format", "p": "rate", "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout", "inner_activation": "recurrent_activation",
    "consume_less": "implementation", "forget_bias_init": "unit_forget_bias",
    "atrous_rate": "dilation_rate", "sigma": "stddev", "beta_init": "beta_initializer",
    "gamma_init": "gamma_initializer",
    "mode": None}  # BatchNormalization's, which Keras 2 removed
_own_arguments = {}


def _check_keras1_arguments(cls, kwargs):
    names = _own_arguments.get(cls)
    if names is None:
        names = _own_arguments[cls] = frozenset(
            p for c in cls.__mro__ if "__init__" in vars(c)
            for p in inspect.signature(vars(c)["__init__"]).parameters)
    old = sorted(k for k in kwargs if k in _KERAS1_ARGUMENTS and k not in names)
    if old:
        hints = [f"{k}= is Keras 1's name for {_KERAS1_ARGUMENTS[k]}=" if _KERAS1_ARGUMENTS[k]
                 else f"{k}= is Keras 1's, and Keras 2 removed it"
                 for k in old]
        if "dim_ordering" in old:
            hints.append("dim_ordering='th' is data_format='channels_first', 'tf' is "
                         "'channels_last'")
        raise TypeError(f"{cls.__name__}: {'; '.join(hints)}")


def _auto_config(cls, args, kwargs):
    """Keras 3's automatic config of a program's layer: the arguments of
    its constructor by name, defaults included, where all are plain values
    (str, int, float, bool, None, in lists, tuples and dicts); else None.
    None too where the constructor is pynn's own (a layer that only
    overrides call): its config is the base one, as Keras's, whose base
    constructor takes fewer arguments."""
    if cls.__init__.__module__.startswith("pynn."):
        return None
    signature = inspect.signature(cls.__init__)
    params = list(signature.parameters.values())[1:]
    if any(p.kind is p.POSITIONAL_ONLY for p in params):
        return None
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    config = {}
    for p in params:
        value = bound.arguments.get(p.name)
        if p.kind is p.VAR_POSITIONAL:
            if value:
                return None
        elif p.kind is p.VAR_KEYWORD:
            config.update(value or {})
        else:
            config[p.name] = value
    config.pop("name", None)  # (the config's own)

    def plain(v):
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        return v is None or isinstance(v, (str, int, float, bool))
    return config if plain(config) else None


class Layer(Module):
    """Base class of all layers (Keras's ``keras.layers.Layer``)."""

    def __new__(cls, *args, **kwargs):
        # (pynn's own layers: a program's layer may take such a name itself)
        if kwargs and cls.__module__.startswith("pynn."):
            _check_keras1_arguments(cls, kwargs)
        if vars(cls).get("call") is not vars(cls).get("_call_set_up"):
            cls._setup_call()  # (a call() set on the class after it was made)
        instance = super().__new__(cls)
        if not cls.__module__.startswith("pynn."):
            instance._auto_config = _auto_config(cls, args, kwargs)
        return instance

    supports_masking = False
    # Which axes of the input must keep the size the layer was built for
    # (None: every axis but the batch).  A convolution fixes only its
    # channels, so it can run on images of another size.
    fixed_input_axes = None
    # False for a layer that computes element by element whatever the rank
    # (Dropout): one instance may then be called on inputs of other ranks.
    fixed_input_rank = True
    # The dtype the layer reads (an Embedding reads integer ids).
    input_dtype = "float32"
    # True for layers that are the identity at inference (Dropout): graph
    # passes drop them from the inference program.
    inference_identity = False
    # True for a class that computes through its call() and is trained by
    # differentiating it (see pynn.autodiff).
    _traces_call = False
    # Whether the layer computes only through pynn.ops functions that have
    # GPU kernels, so it runs on a GPU with its weights there; the layers
    # that do say so (a Keras-style call() in NumPy, the recurrent layers,
    # the embedding and the preprocessing layers do not).
    runs_on_gpu = False
    # The ``training`` a call without one gets when no enclosing model call
    # gives one (Keras 3 takes it from the default of the layer's call():
    # True for the augmentation layers, which augment when called
    # directly, False or None, as at inference, for the others).
    _training_default = False
    # How many tensors call() takes as separate arguments.
    _call_tensors = 1
    # The parameters of a Keras-style call() after its inputs, in order
    # (None for the built-in layers, whose call is call(inputs, training)).
    _positional_names = None
    # What the layer's inputs must be (an InputSpec, or a list of them, one
    # per input): every call checks them, as Keras does (see input_spec.py).
    input_spec = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in vars(cls) and not cls.__module__.startswith("pynn."):
            cls.build = _marks_built(vars(cls)["build"])
        cls._setup_call()
        # Keras's compute_mask(inputs, mask=None) (pynn's also takes the
        # call's context first): the output of such a layer carries the
        # mask it returns.
        own_mask = vars(cls).get("compute_mask")
        if own_mask is not None and "ctx" not in inspect.signature(own_mask).parameters:
            cls._keras_compute_mask = own_mask
            cls.compute_mask = Layer._compute_mask_keras_style
            cls._output_has_mask = Layer._has_keras_style_mask
        if "compute_mask" in vars(cls):
            cls.compute_mask = _keras_callable_mask(vars(cls)["compute_mask"])

    @classmethod
    def _setup_call(cls):
        """A Keras-style subclass that overrides call() (and not forward)
        computes through its call(); the forward it inherited stays
        reachable as the super().call() its call() may make.  Run when the
        class is made, and again at an instance's creation where call() was
        set on the class afterwards (``setattr(cls, "call", fun)``)."""
        call = vars(cls).get("call")
        if call is None:
            return
        cls._call_set_up = call
        if vars(cls).get("forward", Layer._forward_through_call) is not \
                Layer._forward_through_call or getattr(cls, "_graph_model", False):
            return
        parent = cls.__mro__[1]
        cls._inherited_forward = parent.forward
        cls._inherited_backward = parent.backward
        cls.forward = Layer._forward_through_call
        params = inspect.signature(cls.call).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        cls._call_takes = frozenset(k for k in ("training", "mask")
                                    if k in params or takes_any)
        if "training" in params:
            cls._training_default = params["training"].default is True
        cls._positional_names = tuple(
            name for name, p in list(params.items())[2:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        # call(self, a, b) takes the tensors of layer(a, b) one by one
        cls._call_tensors = sum(
            1 for name, p in list(params.items())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and
            p.default is p.empty and name not in ("training", "mask"))
        # and call(self, logits, targets=None, sample_weight=None) those
        # of layer(logits, targets, sample_weight=w), by name too (a
        # ``mask`` given by position is such a tensor: SPADE's call(x, mask))
        cls._call_tensor_names = tuple(
            name for name, p in list(params.items())[1:]
            if p.kind is p.POSITIONAL_OR_KEYWORD and name != "training")
        cls.runs_on_gpu = False
        if "backward" not in vars(cls):
            cls.backward = Layer._backward_through_call
        cls._traces_call = cls.backward is Layer._backward_through_call
        if cls.compute_output_shape is Layer.compute_output_shape:
            cls.compute_output_shape = Layer._output_shape_from_call

    def __init__(self, name=None, trainable=True, input_shape=None, batch_input_shape=None,
                 input_dim=None, batch_size=None, dtype=None, activity_regularizer=None,
                 weights=None, autocast=True, dynamic=False, **kwargs):
        # (tf.keras 2's dynamic=True asks for a call run eagerly, never
        # traced into a graph: pynn's calls always run so)
        self.dynamic = bool(dynamic)
        # (Keras 3 writes autocast in every custom layer's config; it casts
        # float inputs to a mixed policy's compute dtype, which pynn's
        # float32 computing never needs)
        self.autocast = bool(autocast)
        if weights is not None:
            # Keras 2's initial weights (Conv2D(..., weights=[kernel, bias])),
            # set once the layer is built
            self._initial_weights = list(weights)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        from .. import dtype_policies
        # A first layer's dtype that is no float policy (Flatten(input_shape=
        # [28, 28], dtype="uint8") in front of a Rescaling) is the dtype of
        # the Input a model makes for it, as in Keras; the layer itself
        # computes in the global policy.  Otherwise a name, a policy, or
        # Keras 3's serialized one.
        self._input_dtype_arg = None
        if isinstance(dtype, (str, type, np.dtype)) and (
                input_shape is not None or batch_input_shape is not None
                or input_dim is not None):
            try:
                kind = np.dtype(dtype).kind
            except TypeError:  # a policy's name ("mixed_float16")
                kind = None
            if kind in ("i", "u", "b"):
                self._input_dtype_arg = standardize_dtype(dtype, type(self).__name__)
                dtype = None
        self._dtype_policy = dtype_policies.get(dtype, type(self).__name__)
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string without "
                             f"'/', got {name!r}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._weights = []
        self._inbound_nodes = []
        self._build_input_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self._batch_input_shape = tuple(batch_input_shape) if batch_input_shape else None
        from .. import regularizers
        # A penalty on the layer's output, added to the loss while training.
        self.activity_regularizer = regularizers.to_regularizer(activity_regularizer)

    # -------------------------------------------------------------- dtype

    @property
    def dtype_policy(self):
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value):
        from .. import dtype_policies
        self._dtype_policy = dtype_policies.get(value, f"{type(self).__name__} {self.name!r}")

    @property
    def dtype(self):
        """The dtype of the layer's variables (Keras's ``layer.dtype``)."""
        return self.__dict__.get("_dtype") or self._dtype_policy.variable_dtype

    @dtype.setter
    def dtype(self, value):
        self.__dict__["_dtype"] = value

    @property
    def variable_dtype(self):
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self):
        """The dtype the policy names for computing (pynn computes in
        float32 under a mixed policy: see pynn.dtype_policies)."""
        return self._dtype_policy.compute_dtype

    @property
    def quantization_mode(self):
        """'int8' once ``quantize("int8")`` quantized the layer, else None."""
        return self._dtype_policy.quantization_mode

    def quantize(self, mode=None, type_check=True, config=None):
        """Keras's: quantize the layer's weights (Dense and Embedding
        quantize to int8; see pynn.quantizers)."""
        raise NotImplementedError(f"Layer {type(self).__name__} does not have a `quantize()` "
                                  f"method implemented.")

    def _quantize_int8(self, attr, axis, mode, type_check, config, base):
        """What Dense's and Embedding's quantize share: check the call as
        Keras does, replace the weight ``attr`` by its int8 values with a
        scale per unit along ``axis`` (``attr + '_scale'``), and take the
        quantized policy."""
        from .. import quantizers
        from ..dtype_policies import QuantizedDTypePolicy
        label = f"{type(self).__name__} {self.name!r}"
        if type_check and type(self) is not base:
            # (a subclass may compute with the weight in its own way)
            raise NotImplementedError(f"Layer {type(self).__name__} does not have a "
                                      f"`quantize()` method implemented.")
        if mode != "int8":
            raise ValueError(f"{label}: pynn quantizes to 'int8' only, got mode {mode!r}")
        if config is not None:
            raise ValueError(f"{label}: pynn quantizes with Keras's default int8 "
                             f"configuration (abs-max, per unit); a config is not supported")
        if not self.built:
            raise ValueError(f"{label}: build the layer before quantizing it")
        if self.quantization_mode is not None:
            raise ValueError(f"{label} is already quantized ({self.quantization_mode})")
        values, scale = quantizers.abs_max_quantize(getattr(self, attr).value, axis=axis,
                                                   dtype="float32")
        self._dtype_policy = QuantizedDTypePolicy("int8", self._dtype_policy.name)
        self._int8_weights(attr, getattr(self, attr).shape, axis)
        getattr(self, attr).assign(values)
        getattr(self, f"{attr}_scale").assign(self._stored_scale(scale))

    def _stored_scale(self, scale):
        """The scales ``abs_max_quantize`` gave (an axis of size 1 where it
        reduced) as Keras keeps them: one per unit."""
        return scale.reshape(-1)

    def _int8_weights(self, attr, shape, axis, scale_shape=None):
        """The weights of a quantized layer, in place of the float
        ``attr``: its int8 values and their scales (not trainable, as in
        Keras; one per unit unless ``scale_shape`` is given).  The int8
        values are computed with on the host only."""
        old = getattr(self, attr, None)
        self._weights = [w for w in self._weights if w is not old]
        setattr(self, attr, self.add_weight(attr, shape, "zeros", trainable=False))
        scale_shape = scale_shape or (shape[1 if axis == 0 else 0],)
        setattr(self, f"{attr}_scale", self.add_weight(f"{attr}_scale", scale_shape, "ones",
                                                       trainable=False))
        self.runs_on_gpu = False

    # ---------------------------------------------------------- trainable

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """As in Keras, setting ``trainable`` on a layer that holds other
        layers (a model) sets it on each of them.  A change takes effect on
        training at the model's next ``compile``."""
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    def __setattr__(self, name, value):
        # As Keras: a Variable (pynn.Variable, a Weight subclass) set as an
        # attribute of a layer is one of the layer's weights.
        if isinstance(value, Weight) and type(value) is not Weight and "_weights" in vars(self) \
                and not any(w is value for w in self._weights):
            self._weights.append(value)
        elif type(value) is autodiff.Traced:
            # (a value computed on a tape, a hypernetwork's kernel: a
            # GradientTape looks for these only in layers that were given one)
            self.__dict__["_given_traced"] = True
        super().__setattr__(name, value)

    def _sublayers(self):
        """The layers this one holds (a Keras-style layer's attributes, and
        the layers in its lists, tuples and dicts)."""
        if not self._traces_call:
            return []
        found, seen = [], {id(self)}
        for value in vars(self).values():
            items = value.values() if isinstance(value, dict) else \
                value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, Layer) and id(item) not in seen:
                    seen.add(id(item))
                    found.append(item)
        return found

    def _with_sublayers(self, own, attr):
        """``own`` weights followed by the sublayers' ``attr`` weights, each
        once."""
        out, seen = list(own), {id(w) for w in own}
        for layer in self._sublayers():
            for w in getattr(layer, attr):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    # ------------------------------------------------------------ weights

    def add_weight(self, name=None, shape=None, initializer=None, trainable=True,
                   dtype=None, regularizer=None, constraint=None, **kwargs):
        """A new weight of ``shape``; ``initializer`` defaults to
        glorot_uniform as in Keras.  Keras 3's order (the shape first) is
        accepted too."""
        from .. import constraints, initializers, regularizers
        unknown = set(kwargs) - {"autocast", "aggregation", "synchronization", "use_resource",
                                 "caching_device", "partitioner", "overwrite_with_gradient"}
        if unknown:
            raise TypeError(f"{type(self).__name__} {self.name!r}: add_weight got unexpected "
                            f"argument(s) {', '.join(sorted(unknown))}")
        if shape is None and isinstance(name, (tuple, list)):
            name, shape = None, name
        if initializer is None:
            initializer = "glorot_uniform"
        if shape is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: add_weight needs a shape")
        if name is None:  # Keras's: 'variable', then 'variable_1', ... (clear_session restarts)
            name = unique_name("variable")
        if isinstance(shape, (int, np.integer)):  # tf.keras took a size for a vector
            shape = (shape,)
        shape = tuple(int(d) for d in shape)
        check_size(shape, f"{type(self).__name__} {self.name!r}: weight {name!r}")
        value = backend.aligned_empty(shape)
        value[...] = initializers.get(initializer)(shape)
        w = Weight(name, value, trainable=trainable, regularizer=regularizers.to_regularizer(regularizer),
                   constraint=constraints.to_constraint(constraint))
        # Keras 3's: the name alone (``kernel``), the path under the layer
        # (``sequential/dense/kernel``; the layer's own scope, open while
        # its call builds it, is not repeated)
        scope = backend.current_name_scope_path(owner=self)
        w._scope = f"{scope}/{self.name}" if scope else self.name
        self._weights.append(w)
        return w

    def add_variable(self, *args, **kwargs):
        """Keras 3's ``add_variable(shape, initializer, dtype, trainable,
        autocast, regularizer, constraint, name)``; tf.keras's older alias of
        ``add_weight``, whose first argument is the name, is told apart by
        that name being a string."""
        if args and isinstance(args[0], str):
            return self.add_weight(*args, **kwargs)
        order = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer",
                 "constraint", "name")
        if len(args) > len(order):
            raise TypeError(f"{type(self).__name__} {self.name!r}: add_variable takes at most "
                            f"{len(order)} positional arguments, got {len(args)}")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"{type(self).__name__} {self.name!r}: add_variable got "
                                f"{key!r} twice")
            kwargs[key] = value
        return self.add_weight(**kwargs)

    @property
    def weights(self):
        # As Keras: the weights created trainable, then those created not
        # trainable (each in creation order), then the sublayers'.
        own = [w for w in self._weights if w.trainable] + \
            [w for w in self._weights if not w.trainable]
        if self._traces_call:
            return self._with_sublayers(own, "weights")
        return own

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable]
        return self._with_sublayers(own, "trainable_weights") if self._traces_call else own

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        own = [w for w in self._weights if not w.trainable]
        return self._with_sublayers(own, "non_trainable_weights") if self._traces_call \
            else own

    def add_loss(self, loss, inputs=None):
        """Inside ``call()``: adds ``loss`` (a scalar, or an array that is
        summed) to the training loss, as Keras's add_loss; a traced value
        (computed from the inputs or weights) also adds its gradient.
        Inside a StatelessScope made with ``collect_losses`` the scope
        collects it too.  Outside a call, a callable of no arguments
        (tf.keras 2's ``model.add_loss(lambda: tf.reduce_mean(d.kernel))``)
        is kept, and computed anew each time ``losses`` is read and at each
        training step, its gradient added to the weights'."""
        if callable(loss) and not autodiff.adds_losses():
            global _callable_losses_added
            self.__dict__.setdefault("_callable_losses", []).append(loss)
            _callable_losses_added += 1
            return
        scope = backend.get_stateless_scope()
        if scope is not None and scope.collect_losses:
            scope.add_loss(loss)
        autodiff.add_loss(self, loss)

    def add_metric(self, value, name=None, aggregation=None):
        """Keras 2's: inside ``call()``, ``value`` (a scalar, or an array of
        per-sample values) is reported in fit's and evaluate's logs as
        ``name``, its mean over the epoch (over every value given)."""
        if aggregation not in (None, "mean"):
            raise ValueError(f"Layer {self.name!r}: add_metric's aggregation must be 'mean' "
                             f"(or None), got {aggregation!r}")
        metric = getattr(value, "_metric_obj", None)
        if metric is not None:
            # a metric's result (``self.add_metric(self.mean(loss))``):
            # the logs show that metric's result under the metric's own
            # name (a name given is ignored, as Keras 2 ignores it: keras.io's
            # LogisticEndpoint logs "binary_accuracy", once), and fit and
            # evaluate reset it as they reset the compiled metrics
            known = self.__dict__.setdefault("_added_metric_objects", [])
            if not any(m is metric for m in known):
                known.append(metric)
            autodiff.add_metric(self, metric, metric.name)
            return
        if not isinstance(name, str) or not name:
            raise ValueError(f"Layer {self.name!r}: add_metric needs a name (the key of the "
                             f"logs), got {name!r}")
        autodiff.add_metric(self, value, name)

    @property
    def losses(self):
        """Keras's ``layer.losses``: what the layer's last call gave to
        add_loss (its activity penalty too), then the penalty of each
        regularized weight, then the values of the callables given to
        add_loss outside a call (the sublayers' too)."""
        from ..tape import weight_penalties
        return list(self.__dict__.get("_call_losses", [])) + weight_penalties(self.weights) + \
            callable_losses(self._self_and_sublayers())

    def _self_and_sublayers(self):
        """This layer and the layers it holds, theirs too, each once."""
        out, seen, i = [self], {id(self)}, 0
        while i < len(out):
            for layer in out[i]._sublayers():
                if id(layer) not in seen:
                    seen.add(id(layer))
                    out.append(layer)
            i += 1
        return out

    def save_own_variables(self, store):
        """What model.save writes of this layer: its variables into
        ``store`` (a dict) under '0', '1', ... in Keras's order.  A layer
        may override it, with load_own_variables, to keep more state."""
        from ..saving.keras_config import weight_groups
        for i, w in enumerate(weight_groups(self)[0][1]):
            store[str(i)] = w.numpy()

    def load_own_variables(self, store):
        """What load_model gives this layer: the ``store`` that
        save_own_variables filled, read back from the file."""
        from ..saving.keras_config import weight_groups
        mine = weight_groups(self)[0][1]
        if sorted(store, key=lambda k: (len(k), k)) != [str(i) for i in range(len(mine))]:
            raise ValueError(f"Layer {self.name!r}: load_own_variables expects the variables "
                             f"'0' to '{len(mine) - 1}', got {sorted(store)}")
        for i, w in enumerate(mine):
            w.assign(store[str(i)])

    def stateless_call(self, trainable_variables, non_trainable_variables, *args,
                       return_losses=False, **kwargs):
        """Keras's: the call computed with the given values of the layer's
        trainable and non-trainable variables (in the order of
        trainable_variables and non_trainable_variables), leaving its own
        as they were.  Returns (outputs, the non-trainable values after the
        call), and the call's add_loss values with ``return_losses``."""
        trainable, frozen = self.trainable_variables, self.non_trainable_variables
        given = [list(trainable_variables), list(non_trainable_variables)]
        for what, mine, values in (("trainable", trainable, given[0]),
                                   ("non-trainable", frozen, given[1])):
            if len(values) != len(mine):
                raise ValueError(f"Layer {self.name!r}: stateless_call expects "
                                 f"{len(mine)} {what} variable values, got {len(values)}")
        variables = trainable + frozen
        saved = [w.numpy() for w in variables]
        # Values a GradientTape records (weights adapted by a gradient, as
        # MAML's) stand for the weights on it: the call is differentiated
        # through them.
        tape = autodiff.active_tape()
        stand_ins = getattr(tape, "substituted", None)
        replaced = {}
        try:
            for w, value in zip(variables, given[0] + given[1]):
                value = autodiff.resolve(value)
                if stand_ins is not None and type(value) is autodiff.Traced and \
                        value.tape is tape:
                    replaced[id(w)] = stand_ins.get(id(w))
                    stand_ins[id(w)] = value
                w.assign(autodiff.value_of(value))
            outputs = self(*args, **kwargs)
            new_frozen = [w.numpy() for w in frozen]
            losses = self.losses
        finally:
            for key, before in replaced.items():
                if before is None:
                    del stand_ins[key]
                else:
                    stand_ins[key] = before
            for w, value in zip(variables, saved):
                w.assign(value)
        if return_losses:
            return outputs, new_frozen, losses
        return outputs, new_frozen

    def get_build_config(self):
        """What model.save keeps of how the layer was built (Keras's
        ``{'input_shape': ...}``), None while it is not built.  A layer
        whose build takes more than the shape overrides it with
        build_from_config."""
        shape = self._build_input_shape
        if not self.built or shape is None:
            return None
        return {"input_shape": [list(s) for s in shape] if isinstance(shape, list)
                else list(shape)}

    def build_from_config(self, config):
        """What load_model does with get_build_config's dict: builds the
        layer for its input shape."""
        if config and config.get("input_shape") is not None:
            shape = config["input_shape"]
            self.build_for([tuple(s) for s in shape] if shape and isinstance(shape[0], list)
                           else tuple(shape))

    def save_assets(self, dir_path):
        """What model.save writes of this layer besides its variables: a
        layer may override it to write files into ``dir_path`` (kept in
        the .keras archive), and load_assets to read them back."""

    def load_assets(self, dir_path):
        """What load_model gives this layer: ``dir_path`` holds the files
        its save_assets wrote."""

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer {self.name!r} expects {len(mine)} weight arrays, "
                             f"got {len(weights)}")
        for w, v in zip(mine, weights):
            if np.shape(v) != w.shape:
                raise ValueError(f"Layer {self.name!r}: weight {w.path!r} has shape {w.shape}, "
                                 f"the value given has shape {np.shape(v)}")
        for w, v in zip(mine, weights):
            w.assign(v)

    def count_params(self):
        return int(sum(w.value.size for w in self.weights))

    # ------------------------------------------------------------- shapes

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) if not isinstance(input_shape, list) else input_shape

    def build_for(self, input_shape, need_shape=True):
        """Build (once) for ``input_shape`` (or check it against the shape
        the layer was built for) and return the output shape; without
        ``need_shape`` (a call on arrays, which gives its output), a layer
        that finds its shape by running its call is not run for it (GauGAN's
        sampler draws noise of a fixed batch size)."""
        fresh = not self.built
        shape = self._build_once(input_shape)
        if not need_shape and type(self).compute_output_shape is Layer._output_shape_from_call:
            return None
        try:
            return self.compute_output_shape(_shape_for_user(type(self).compute_output_shape,
                                                             shape))
        except ValueError:
            if fresh and not self._weights:
                # a shape the layer cannot take does not stay its build
                # shape (its next call, on another shape, builds it anew)
                self.built = False
                self.__dict__.pop("_build_input_shape", None)
            raise

    def _build_for_arrays(self, input_shape):
        """Build (once) for a call on arrays of ``input_shape``.  A layer
        that computes through its call needs no output shape here (the call
        gives it), and finding one would run the call on zeros of another
        batch size, which a call that indexes its first axis (a graph
        layer's nodes) cannot take; nor, once built, are its calls held to
        the first one's shape (Keras builds such a layer once, and checks
        only its input_spec, as __call__ does here).  (Models build as their
        build_for says.)"""
        if self._traces_call and type(self).build_for is Layer.build_for:
            if not self.built:
                self._build_once(input_shape)
        else:
            self.build_for(input_shape, need_shape=False)

    def _build_once(self, input_shape):
        """Build (once) for ``input_shape`` or check it against the shape
        the layer was built for; returns the shape as tuples."""
        if isinstance(input_shape, list):
            input_shape = [tuple(s) for s in input_shape]
        else:
            input_shape = tuple(input_shape)
        if not self.built:
            argument = self._build_argument(input_shape)
            # (as Keras's build: the layers a wrapper builds get paths under
            # its name, bidirectional/forward_lstm/...)
            with backend.name_scope(self.name, caller=self):
                if isinstance(argument, _ShapesByName):
                    self.build(**{k: _shape_for_user(type(self).build, v)
                                  for k, v in argument.items()})
                elif inspect.signature(self.build).parameters:
                    self.build(_shape_for_user(type(self).build, argument))
                else:  # a build() of no arguments, as Keras calls it
                    self.build()
            self.built = True
            self._build_input_shape = input_shape
            initial = self.__dict__.get("_initial_weights")
            if initial is not None:
                self._initial_weights = None
                self.set_weights(initial)
            restore = self.__dict__.pop("_restore_on_build", None)
            if restore is not None:  # (a checkpoint restored before the build)
                restore()
            if self.input_spec:  # build may have set it: check again, as Keras does
                from .input_spec import assert_input_compatibility, shapes_as_inputs
                assert_input_compatibility(self.input_spec, shapes_as_inputs(input_shape),
                                           self.name)
        else:
            self._check_input(input_shape)
        return input_shape

    def _build_argument(self, input_shape):
        """What build() gets: as in Keras, a layer whose call() takes its
        tensors as separate arguments (call(x, mask)) and whose build takes
        one is built with the first one's shape; one whose build names
        them, Keras 3's build(self, x_shape, mask_shape), gets each by name
        (a _ShapesByName)."""
        spreads = isinstance(input_shape, list) and len(input_shape) > 1 and \
            self._traces_call and (self._call_tensors > 1 or "_call_binding" in vars(self))
        if not spreads:
            return input_shape
        params = [p.name for p in inspect.signature(self.build).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if len(params) == 1:
            return input_shape[0]
        if len(params) > 1 and all(n.endswith("_shape") for n in params):
            names = self.__dict__.get("_call_binding") or self._call_tensor_names
            shapes = dict(zip(names, input_shape))
            unknown = [n for n in params if n[:-len("_shape")] not in self._call_tensor_names]
            if unknown:
                raise ValueError(f"Layer {self.name!r} ({type(self).__name__}): a build() of "
                                 f"several arguments names the shapes of call()'s tensors "
                                 f"(build(self, foo_shape, bar_shape) for call(self, foo, "
                                 f"bar)); {unknown} match no argument of call() "
                                 f"{list(self._call_tensor_names)}")
            return _ShapesByName((n, shapes[n[:-len("_shape")]]) for n in params
                                 if n[:-len("_shape")] in shapes)
        return input_shape

    def _check_input(self, shape):
        """Raise ValueError if ``shape`` (batch included) does not fit the
        shape the layer was built for."""
        want = self._build_input_shape
        if want is None or self._traces_call:
            # (a layer computing through its call() checks what its call
            # checks, as Keras's: sequences of another length, say)
            return
        pairs = list(zip(shape, want)) if isinstance(shape, list) and isinstance(want, list) \
            else [(shape, want)]
        if isinstance(shape, list) != isinstance(want, list) or len(pairs) != (
                len(want) if isinstance(want, list) else 1):
            raise ValueError(f"Layer {self.name!r} was built for inputs {shapes_str(want)}, "
                             f"called on {shapes_str(shape)}")
        for i, (got, exp) in enumerate(pairs):
            axes = range(1, len(exp)) if self.fixed_input_axes is None else self.fixed_input_axes
            if len(got) != len(exp):
                # another rank where the layer takes any: the axes it fixes
                # from the end (a Dense's features) still must fit
                ok = not self.fixed_input_rank and all(
                    got[a] is None or exp[a] is None or got[a] == exp[a]
                    for a in self.fixed_input_axes or () if a < 0)
            else:
                ok = all(got[a] is None or exp[a] is None or got[a] == exp[a] for a in axes)
            if not ok:
                raise ValueError(f"Input {i} of layer {self.name!r} is incompatible with the "
                                 f"layer: expected shape={shape_str(exp)}, found "
                                 f"shape={shape_str(got)}")

    @property
    def input(self):
        """The input tensor(s) of the layer's first call (Keras's
        ``layer.input``)."""
        return self._node_attribute("input_tensors", "input")

    @property
    def output(self):
        """The output tensor(s) of the layer's first call; ``Model(model.input,
        [l.output for l in model.layers])`` extracts intermediate features."""
        return self._node_attribute("output_tensors", "output")

    def _node_attribute(self, attr, what, node_index=0):
        if not self._inbound_nodes:
            raise AttributeError(f"The layer {self.name!r} has never been called and thus has "
                                 f"no defined {what}.")
        if isinstance(node_index, bool) or not isinstance(node_index, (int, np.integer)) or \
                not 0 <= node_index < len(self._inbound_nodes):
            raise ValueError(f"Asked to get {what} at node {node_index!r}, but the layer "
                             f"{self.name!r} has only {len(self._inbound_nodes)} inbound "
                             f"node(s).")
        values = getattr(self._inbound_nodes[node_index], attr)
        return values[0] if len(values) == 1 else list(values)

    # tf.keras 2's access to the calls of a shared layer (a Siamese branch's
    # encoder called on each input): the tensors and shapes of call
    # ``node_index``, in the order of the calls

    def get_input_at(self, node_index):
        return self._node_attribute("input_tensors", "input", node_index)

    def get_output_at(self, node_index):
        return self._node_attribute("output_tensors", "output", node_index)

    def get_input_shape_at(self, node_index):
        tensors = self.get_input_at(node_index)
        return [t.shape for t in tensors] if isinstance(tensors, list) else tensors.shape

    def get_output_shape_at(self, node_index):
        tensors = self.get_output_at(node_index)
        return [t.shape for t in tensors] if isinstance(tensors, list) else tensors.shape

    @property
    def input_shape(self):
        if self._inbound_nodes and self._inbound_nodes[0].input_tensors:
            shapes = [t.shape for t in self._inbound_nodes[0].input_tensors]
            return shapes[0] if len(shapes) == 1 else shapes
        if self._build_input_shape is None:
            raise AttributeError(f"Layer {self.name!r} has not been built: it has no input shape")
        return self._build_input_shape

    @property
    def output_shape(self):
        if self._inbound_nodes:
            shapes = [t.shape for t in self._inbound_nodes[0].output_tensors]
            return shapes[0] if len(shapes) == 1 else shapes
        if self._build_input_shape is None:
            raise AttributeError(f"Layer {self.name!r} has not been built: it has no output "
                                 f"shape")
        return self.compute_output_shape(self._build_input_shape)

    # ---------------------------------------------------------- computing

    def __call__(self, inputs=None, *args, training=None, mask=None, **kwargs):
        if self._traces_call and not self.built:
            # The weights of the sublayers its first call builds get paths
            # under its name (Keras's custom_layer/dense/kernel).
            with backend.name_scope(self.name, caller=self):
                out = self._call(inputs, *args, training=training, mask=mask, **kwargs)
        else:
            out = self._call(inputs, *args, training=training, mask=mask, **kwargs)
        if self.activity_regularizer is not None:
            self._add_activity_loss(out)
        return out

    def _add_activity_loss(self, outputs):
        """Keras's activity penalty of a call on values (a graph's nodes
        add theirs in the model's pass): each output's, over the batch
        size, in ``losses`` and, inside another layer's call or on a
        GradientTape, given to add_loss there."""
        from ..tape import _activity_penalty
        outs = [o for o in flatten(outputs) if not isinstance(o, (KerasTensor, Weight))]
        if not outs:
            return
        reg = self.activity_regularizer
        penalties = [_activity_penalty(reg, autodiff.resolve(o)) for o in outs]
        if autodiff.adds_losses():
            for p in penalties:
                autodiff.add_loss(self, p)
        # (a call through call() listed what it gave to add_loss already)
        before = self.__dict__.get("_call_losses", []) if self._traces_call else []
        self.__dict__["_call_losses"] = list(before) + penalties

    def _call(self, inputs=None, *args, training=None, mask=None, **kwargs):
        if args and training is None:
            args, training = self._positional_training(args)
        if args and self._positional_names:
            args, kwargs = self._positional_numbers(args, kwargs)
        if training is None:
            training = autodiff.outer_training()
        elif training is autodiff.RUN_TRAINING:
            training = None  # (in a model's traced call: each run's)
        if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
            mask = None
        given_mask = None
        if isinstance(mask, KerasTensor) or isinstance(mask, (list, tuple)) and any(
                isinstance(m, KerasTensor) for m in mask):
            if autodiff.model_being_traced() is not None:
                raise autodiff.UntraceableCall()  # (the model's call runs on data instead)
            # A mask given as a symbolic tensor (an Input, ops.not_equal(ids,
            # 0)) becomes an input of the call's node (see Node.mask_layout).
            given_mask, mask = mask, None
        if mask is not None:
            # a mask the program gives (lstm(x, mask=m)) reaches the call
            with autodiff.given_mask(mask):
                return Layer.__call__(self, inputs, *args, training=training, **kwargs)
        if args and not kwargs and len(args) + 1 == self._call_tensors:
            inputs, args = [inputs, *args], ()
        elif (args or kwargs) and self._traces_call:
            inputs, args, kwargs = self._bind_call_tensors(inputs, args, kwargs)
        if kwargs and not args and self._traces_call and self._takes_constants(kwargs):
            with _CallConstants(self, kwargs):
                return Layer.__call__(self, inputs, training=training)
        if args or kwargs:
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}): unexpected call "
                            f"argument(s) {', '.join(sorted(kwargs)) or repr(args)}")
        if _numbers(inputs):
            # Python numbers, nested lists of them too, are one tensor, as
            # tf.keras 2 converts them (``Lambda(tf.exp)([-1., 0., 1.])``)
            inputs = np.asarray(inputs)
        if self.input_spec:
            from .input_spec import assert_input_compatibility
            assert_input_compatibility(self.input_spec, inputs, self.name)
        tape = autodiff.active_tape()
        if tape is not None:
            inputs = autodiff.inputs_on_tape(tape, inputs)
        leaves = flatten(inputs)
        if autodiff.any_traced(leaves):
            return autodiff.call_layer(self, inputs, training)
        symbolic = [isinstance(t, KerasTensor) for t in leaves]
        if not all(symbolic) and (any(symbolic) or self.weights or not self.built) and \
                autodiff.model_being_traced() is not None:
            # In a subclassed model's call being traced into its graph, the
            # arrays a layer is called on (alone: node features through a
            # trained block; or beside symbolic tensors) are read by nodes,
            # so the layer is a node and trains, as Keras's call each step.
            from .lambda_layer import constants_in_graph
            read = constants_in_graph(inputs)
            if read is not None:
                inputs, leaves = read, flatten(read)
                symbolic = [True] * len(leaves)
        elif any(symbolic) and not all(symbolic) and self._traces_call:
            # A graph's layer given a constant beside its symbolic inputs
            # (a causal mask, ``layer(x, enc, mask)``): the constant is read
            # by a node in the graph, as Keras keeps it in the call's node.
            from .lambda_layer import constants_in_graph
            read = constants_in_graph(inputs, source=leaves[symbolic.index(True)])
            if read is not None:
                inputs, leaves = read, flatten(read)
                symbolic = [True] * len(leaves)
        if tape is not None and not any(symbolic) and self.weights:
            # Inside traced code, a layer called on constants (positions,
            # noise) still gets the gradients of its weights.
            return autodiff.call_layer(self, inputs, training)
        if any(symbolic):
            if not all(symbolic):
                raise TypeError(f"Layer {self.name!r} was called on a mix of symbolic tensors "
                                f"and arrays; in a graph, every input must come from "
                                f"pynn.Input or another layer")
            return self._symbolic_call(inputs, leaves, training, given_mask)
        if given_mask is not None:
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}): mask= was given a "
                            f"symbolic tensor but the inputs are arrays; give the mask as an "
                            f"array, or call the layer on symbolic tensors")
        if autodiff.recording_calls():
            return autodiff.call_layer(self, inputs, training)
        return self._eager_call(inputs, training)

    _call_tensor_names = ()

    def _takes_constants(self, kwargs):
        """Whether ``kwargs`` are arguments of this layer's call() that are
        not tensors (flags, sizes, strings), as Keras hands them over."""
        params = inspect.signature(type(self).call).parameters
        named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                             p.KEYWORD_ONLY)}
        any_name = any(p.kind is p.VAR_KEYWORD for p in params.values())
        return all((k in named or any_name) and k not in ("training", "mask") and
                   not _is_tensor(v) and not isinstance(v, (list, tuple, dict))
                   for k, v in kwargs.items())

    def _positional_numbers(self, args, kwargs):
        """``block(x, height, width)``: numbers (0-d values) given by position
        after the tensors go to call() by name, as its constant arguments
        (Keras 2's layers took any value by position)."""
        def number(v):
            if isinstance(v, (bool, np.bool_, KerasTensor, Weight, autodiff.Traced)):
                return False
            return isinstance(v, (int, float, np.number)) or \
                isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf"
        flags = [number(v) for v in args]
        names = self._positional_names
        if not any(flags) or len(args) > len(names) or flags != sorted(flags):
            return args, kwargs
        at = flags.index(True)
        given = {names[i]: v.item() if isinstance(v, (np.ndarray, np.number)) else v
                 for i, v in enumerate(args) if i >= at}
        if any(k in kwargs for k in given):
            return args, kwargs
        return args[:at], {**kwargs, **given}

    def _positional_training(self, args):
        """``layer(x, training)``: Keras binds the arguments after the inputs
        by call()'s signature, so a Dropout given ``(x, True)`` and a
        call(self, x, training) given ``(x, False)`` take it as ``training``."""
        names = self._positional_names
        if names is None and getattr(self, "_graph_model", False):
            # a model: its call()'s, call(self, inputs, training=False, mask=None)
            # for a functional one
            params = list(inspect.signature(type(self).call).parameters.values())[2:]
            names = tuple(p.name for p in params
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        if names is None:
            if len(args) == 1 and isinstance(args[0], (bool, np.bool_)):
                return (), bool(args[0])
            return args, None
        if "training" not in names or len(args) <= names.index("training"):
            return args, None
        at = names.index("training")
        training = args[at]
        if np.ndim(getattr(training, "value", training)) > 0:
            # an array where the flag goes (keras.io's masking guide calls
            # model(x, y)): Keras hands it down, and layers that never read
            # their training flag compute as without one; so here
            training = None
        return args[:at] + args[at + 1:], training

    def _bind_call_tensors(self, inputs, args, kwargs):
        """The tensors of ``layer(a, b, name=c)`` for a call(self, a, b=None,
        name=None): a list in call()'s order, the parameters they go to kept
        on the layer (a None argument is left to its default).  What binds
        to no parameter, or is not a tensor, comes back unbound."""
        names = self._call_tensor_names
        positional = [inputs, *args] if inputs is not None or args else []
        if len(positional) > len(names) or not all(_is_tensor(v) or v is None
                                                   for v in positional):
            return inputs, args, kwargs
        given = dict(zip(names, positional))
        rest = {}
        for key, value in kwargs.items():
            if key in names and key not in given and (_is_tensor(value) or value is None):
                given[key] = value
            else:
                rest[key] = value
        bound = tuple(n for n in names if given.get(n) is not None)
        # (the rest may be flags of call(), decoder(ctx, x, state=s,
        # return_state=True): they go to call() as its constants)
        if not bound or bound[0] != names[0] or rest and not self._takes_constants(rest):
            return inputs, args, kwargs
        if len(bound) == 1:
            self.__dict__.pop("_call_binding", None)
            return given[bound[0]], (), rest
        self.__dict__["_call_binding"] = bound
        return [given[n] for n in bound], (), rest

    def _symbolic_call(self, inputs, leaves, training, given_mask=None):
        single = not isinstance(inputs, (list, tuple, dict))
        masked = [t._has_mask for t in leaves]
        layout = None
        given = []
        if given_mask is not None:
            layout, masked, given = self._mask_layout(given_mask, leaves)
        if isinstance(inputs, dict) and not self._accepts_dict():
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}) takes a tensor or a "
                            f"list of tensors, not a dict")
        if isinstance(inputs, dict) and self._traces_call:
            # its call gets the dict back, the graph's tensors in these places
            self._keep_input_structure(inputs)
        shapes = leaves[0].shape if single else [t.shape for t in leaves]
        reads = None
        if self._traces_call:
            # The shape of a call is found by running it on zeros of the
            # input's dtype (integer ids stay integers).
            self.__dict__["_call_input_dtype"] = leaves[0].dtype
            # (each input's own where they differ: node features and edge ids)
            dtypes = [t.dtype for t in leaves]
            self.__dict__["_call_input_dtypes"] = None if single or len(set(dtypes)) == 1 \
                else dtypes
            # (a call of several positional tensors gets the first one's
            # mask, as when it runs: see _run_call)
            self.__dict__["_call_input_masked"] = bool(masked and masked[0]) and (
                single or self._call_tensors > 1 and len(leaves) == self._call_tensors)
            # Keras 2's graph code: symbolic tensors of the model that the
            # call reads besides its inputs (a loss built from z_mean and
            # z_log_var) are found while the output shape is, and become
            # inputs of its node, so they have their values (and their
            # gradients) when it runs.
            reads = recording_reads()
            with reads:
                try:
                    out_shapes = self.build_for(shapes)
                except ValueError as e:
                    out_shapes = self._shapes_from_graph_samples(inputs, leaves, e)
            if autodiff.model_being_traced() is not None and \
                    self.__dict__.get("_returns_sizes"):
                # it returns numbers (the sizes of a feature map, for the
                # next layer's reshape): a graph would hold them as tensors
                # without their values, so the model runs its call at every
                # call, where they are numbers
                raise autodiff.UntraceableCall()
            if self.__dict__.get("_stashes_values") and \
                    autodiff.model_being_traced() is not None:
                # its call keeps values on the layer (self.aux_loss = ...)
                # that the program reads after the model's call: the model
                # runs its call at every call, so they are this call's
                raise autodiff.UntraceableCall()
            reads = reads.found or self.__dict__.get("_reads")
            file_reads = self.__dict__.pop("_reads_given", None)
            if file_reads is not None and len(file_reads) != len(reads or ()):
                raise ValueError(f"Layer {self.name!r} ({type(self).__name__}): the saved "
                                 f"model's call of it read {len(file_reads)} tensor(s) of the "
                                 f"graph besides its inputs; its call() now reads "
                                 f"{len(reads or ())}")
            if reads:
                if isinstance(inputs, dict):
                    raise TypeError(f"Layer {self.name!r}: its call reads symbolic tensors "
                                    f"besides its inputs, which a dict of inputs cannot "
                                    f"carry; pass them as inputs")
                self.__dict__["_reads"] = reads
                self.__dict__["_reads_after"] = (len(leaves), single)
                # (a model rebuilt from a file: the tensors its call reads
                # are those the file names, in the order read)
                reads = file_reads or reads
        else:
            out_shapes = self.build_for(shapes)
        multi_out = isinstance(out_shapes, list)
        out_list = out_shapes if multi_out else [out_shapes]
        has_mask = self._output_has_mask(masked)
        masks = has_mask if isinstance(has_mask, list) else [has_mask] * len(out_list)
        out_dtypes = self._output_dtypes(len(out_list))
        outputs = [KerasTensor(s, dtype=d, name=self.name if len(out_list) == 1
                               else f"{self.name}_{i}", has_mask=m)
                   for i, (s, m, d) in enumerate(zip(out_list, masks, out_dtypes))]
        if reads:
            leaves, single = list(leaves) + list(reads), False
        Node(self, list(leaves) + given, outputs, single_input=single,
             single_output=not multi_out, training=training,
             input_structure=list(inputs.keys()) if isinstance(inputs, dict) else None,
             call_args=self._node_call_args(), mask_layout=layout)
        named = self.__dict__.get("_output_namedtuple")
        if multi_out and named is not None and len(named._fields) == len(outputs):
            return named(*outputs)
        return outputs if multi_out else outputs[0]

    def _shapes_from_graph_samples(self, inputs, leaves, error):
        """The output shape(s) of a call that zeros of its input shapes
        cannot run, because sizes unknown in the graph must agree between
        its inputs (retinanet.py's decoding layer: the anchors it counts
        from the image's size, the predictions the model made for them):
        the graph before the call is run from its Inputs, on zeros with
        sample sizes for the unknown axes, and the call on what it gives,
        for two sizes; an axis whose size differs between them is unknown,
        as Keras's symbolic shapes have it.  ``error`` (the zeros' failure)
        is raised when this cannot run either."""
        from ..models.functional import Program, map_graph
        if "cannot infer the output shape" not in str(error) or \
                isinstance(inputs, dict) or self.__dict__.get("_reads"):
            raise error
        graph_inputs, seen, todo = [], set(), list(leaves)
        while todo:
            t = todo.pop()
            if id(t) in seen:
                continue
            seen.add(id(t))
            h = getattr(t, "_keras_history", None)
            if h is None:
                raise error
            node = h.operation._inbound_nodes[h.node_index]
            if node.is_input:
                graph_inputs.append(t)
            else:
                todo += list(node.input_tensors)
        try:
            nodes, _ = map_graph(graph_inputs, list(leaves))
            program = Program(graph_inputs, list(leaves), [n for n in nodes if not n.is_input])
        except Exception:
            raise error from None

        def run(size):
            xs = [np.full(tuple(size if d is None else d for d in t.shape), "", object)
                  if t.dtype == "string" else
                  np.zeros(tuple(size if d is None else d for d in t.shape), t.dtype)
                  for t in graph_inputs]
            vals = program.forward(xs, False, program.new_state(inference_behaviour=True))
            vals = list(vals) if isinstance(vals, (list, tuple)) else [vals]
            out = self._run_call(vals[0] if len(leaves) == 1 and
                                 not isinstance(inputs, (list, tuple)) else vals, False)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            if hasattr(type(out), "_fields"):
                self.__dict__["_output_namedtuple"] = type(out)
            shapes = [np.shape(autodiff.value_of(o)) for o in outs]
            return shapes, isinstance(out, (list, tuple))
        for sizes in ((2, 3), (12, 24), (32, 64), (60, 120)):
            try:
                with autodiff.untraced(), np.errstate(all="ignore"):
                    (first, multi), (second, _) = run(sizes[0]), run(sizes[1])
                break
            except Exception:
                continue
        else:
            raise error
        found = [(None,) * len(a) if len(a) != len(b) else
                 tuple(None if p != q else int(p) for p, q in zip(a, b))
                 for a, b in zip(first, second)]
        return found if multi else found[0]

    def _keep_input_structure(self, inputs):
        """For a call of this layer on a dict: its keys, and its nesting
        where a value is itself a dict or list (``{'foo': x, 'bar':
        {'baz': y}}``), so each run's call gets the same structure back."""
        self.__dict__["_input_keys"] = list(inputs.keys())
        nested = any(isinstance(v, (dict, list, tuple)) for v in inputs.values())
        self.__dict__["_input_structure"] = _template(inputs) if nested else None

    # The inputs whose mask given to a call in a graph the call does not
    # read (it reads the mask the input carries): the given tensor is still
    # an input of the node, so the graph connects it, as Keras's does.
    _carried_mask_inputs = ()
    _mask_broadcasts = False

    def _mask_layout(self, mask, leaves):
        """(Node.mask_layout, whether each input is masked, the mask
        tensors) of a call given ``mask`` (a symbolic tensor, or one per
        input with None where the input's own is kept)."""
        def check(m, x):
            if not isinstance(m, KerasTensor):
                raise TypeError(f"Layer {self.name!r} ({type(self).__name__}): mask= mixes "
                                f"symbolic tensors and {type(m).__name__}; give symbolic "
                                f"tensors (or None) only")
            # (a layer broadcasting its mask, Softmax's, matches it from the
            # last axes, where 1 stretches; others from the batch axis on)
            pairs = zip(m.shape[::-1], x.shape[::-1]) if self._mask_broadcasts else \
                zip(m.shape, x.shape)
            if len(m.shape) > len(x.shape) or any(
                    a is not None and b is not None and a != b and
                    not (self._mask_broadcasts and a == 1) for a, b in pairs):
                raise ValueError(f"Layer {self.name!r} ({type(self).__name__}): the mask's "
                                 f"shape {shape_str(m.shape)} does not match the input's "
                                 f"{shape_str(x.shape)}")
            return m
        if isinstance(mask, KerasTensor):
            return "single", [True] * len(leaves), [check(mask, leaves[0])]
        if len(mask) != len(leaves):
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}): mask= gives "
                             f"{len(mask)} masks for {len(leaves)} inputs")
        given = [check(m, x) for m, x in zip(mask, leaves) if m is not None]
        layout = tuple(m is not None for m in mask)
        # (an input given no mask keeps the one it carries, and so does one
        # whose given mask the call does not read)
        keep = self._carried_mask_inputs
        return layout, [(p and i not in keep) or x._has_mask
                        for i, (p, x) in enumerate(zip(layout, leaves))], given

    def _accepts_dict(self):
        # A layer computing through its call takes a dict of tensors, as
        # Keras's call(inputs) takes any structure.
        return self._traces_call

    # The names of the call arguments a layer records in its graph nodes
    # (Node.call_args), which saved configs write in the node's kwargs.
    node_call_arguments = ()

    def _node_call_args(self):
        """The call arguments of the symbolic call being made that its node
        keeps (see Node.call_args): a custom layer's constant arguments of
        its call(), none for most layers."""
        return _call_constants(self)

    def node_input_dtype(self, node):
        """The dtype ``node`` (a call of this layer in a graph) reads: the
        layer's input_dtype, for all its nodes but where call arguments
        change it."""
        return self.input_dtype

    def _output_dtypes(self, n):
        return ["float32"] * n

    def _output_has_mask(self, input_masks):
        """Whether the output carries a mask, from whether the inputs do:
        a layer that supports masking passes it on."""
        return self.supports_masking and any(input_masks)

    def _eager_call(self, inputs, training):
        if isinstance(inputs, dict) and self._traces_call:
            # a call on a dict of arrays (nested too) gets it back, as Keras's
            self._keep_input_structure(inputs)
            inputs = flatten(inputs)
        if isinstance(inputs, (list, tuple)):
            # (an argument that is itself a list, a cell's states in
            # ``cell(x, [h])``, stays a list of arrays, as Keras keeps the
            # structure, never one array stacked from them)
            xs = [[self._as_input(v) for v in a] if isinstance(a, (list, tuple)) and a and
                  all(_is_tensor(v) for v in a) else self._as_input(a) for a in inputs]
            shapes = [[(None,) + v.shape[1:] for v in a] if isinstance(a, list) else
                      (None,) + a.shape[1:] for a in xs]
        else:
            xs = self._as_input(inputs)
            shapes = (None,) + xs.shape[1:]
        first = xs[0] if isinstance(xs, list) else xs
        if self._traces_call and first.dtype.name in _DTYPES and not self.built:
            # the output shape is found by running the call on zeros of the
            # input's dtype (integer ids stay integers), as in a graph
            self.__dict__["_call_input_dtype"] = first.dtype.name
        self._build_for_arrays(shapes)
        if training is None:
            training = self._training_default
        ctx = CallContext()
        ctx.mask = autodiff.take_given_mask(as_given=self._traces_call)
        if ctx.mask is None:  # the mask an earlier eager call left on its output
            ctx.mask = _keras_masks(inputs)
        y = self.forward(ctx, xs, bool(training))
        # What this call gave to add_loss, for ``layer.losses`` (each call
        # replaces the last one's, as Keras resets them per call)
        self.__dict__["_call_losses"] = list(ctx.added_losses)
        if isinstance(y, Weight):  # a call returning its state gives the variable, as Keras
            return y
        several = isinstance(y, (list, tuple))
        outs = [eager(_own(ctx, v)) for v in y] if several else [eager(_own(ctx, y))]
        given = ctx.mask if isinstance(ctx.mask, list) else [ctx.mask]
        if self._output_has_mask([m is not None for m in given]) is True:
            mask = self.compute_mask(ctx, xs, ctx.mask)
            # Keras's eager tensors carry it too; a layer of several outputs
            # gives each its own mask (TemporalSplit's halves) or one for all
            masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(outs)
            for out, m in zip(outs, masks):
                if m is not None:
                    out._keras_mask = eager(np.array(m, dtype=bool))
        if several and hasattr(type(y), "_fields"):
            # a namedtuple (tf.image.combined_non_max_suppression's) stays one,
            # its fields by name, as Keras gives a call's structure back
            return type(y)(*outs)
        return outs if several else outs[0]

    def _as_input(self, a):
        dtype = _DTYPES[self.input_dtype]
        arr = np.asarray(a)
        # A layer computing through its call(), and a model (whose own
        # layers check), get integer ids and strings (str or bytes: for a
        # StringLookup inside) as they are.
        keeps_ids = self._traces_call or getattr(self, "_graph_model", False)
        if not (keeps_ids and arr.dtype.kind in "iuOUS"):
            if dtype is not object:
                check_numeric(arr, f"Layer {self.name!r} ({type(self).__name__})")
            arr = arr.astype(dtype, copy=False)
        if arr.ndim == 0:  # (np.ascontiguousarray would make it shape (1,))
            raise ValueError(f"Layer {self.name!r}: expected an array with a batch "
                             f"dimension, got a scalar")
        return np.ascontiguousarray(arr)

    def call(self, inputs, training=False):
        """The layer's output for ``inputs`` (arrays), computed at once
        (from a subclass's call(), ``super().call(x)`` computes what the
        parent layer does)."""
        cls = type(self)
        forward = getattr(cls, "_inherited_forward", None) or cls.forward
        if autodiff.any_traced(flatten(inputs)):
            backward = getattr(cls, "_inherited_backward", None) or cls.backward
            return autodiff.record_layer(self, forward, backward, inputs, training)
        return forward(self, CallContext(), inputs, bool(training))

    def forward(self, ctx, inputs, training):
        """Subclasses compute here; the base layer is the identity."""
        return inputs

    def backward(self, ctx, dy, need_input_grad=True):
        return dy if need_input_grad else None

    def _run_call(self, inputs, training, mask=None, constants=None):
        """call(inputs), with ``training`` and ``mask`` where it takes them
        and the call's constant arguments (a graph node's, or those of the
        call being made); during the call the inputs carry their masks (see
        carried_mask)."""
        reads = self.__dict__.get("_reads")
        if reads:
            count, single = self.__dict__["_reads_after"]
            if isinstance(inputs, (list, tuple)) and len(inputs) == count + len(reads):
                # a node's inputs: the call's, then the tensors it reads
                own, values = list(inputs[:count]), list(inputs[count:])
                if isinstance(mask, (list, tuple)):
                    mask = mask[0] if single else list(mask[:count])
                with bound_tensors(reads, values):
                    return self._run_call(own[0] if single else own, training, mask,
                                          constants)
        takes = self._call_takes
        kwargs = dict(constants or _call_constants(self) or {})
        if "training" in takes:
            kwargs["training"] = training
        binding = self.__dict__.get("_call_binding")
        if binding and isinstance(inputs, (list, tuple)) and len(inputs) == len(binding):
            # tensors given by parameter name (layer(logits, targets, ...))
            kwargs.update(zip(binding[1:], inputs[1:]))
            inputs = inputs[0]
            if isinstance(mask, (list, tuple)):
                mask = mask[0]
        spread = self._call_tensors > 1 and isinstance(inputs, (list, tuple)) and \
            len(inputs) == self._call_tensors
        # A call of several positional tensors gets the first one's mask, as
        # Keras's call(inputs, encoder_outputs, mask=None) does.
        call_mask = mask[0] if spread and isinstance(mask, (list, tuple)) else mask
        if "mask" in takes and call_mask is not None:
            kwargs["mask"] = call_mask
        arg = inputs
        keys = self.__dict__.get("_input_keys")
        structure = self.__dict__.get("_input_structure")
        if structure is not None and isinstance(inputs, (list, tuple)) and \
                len(inputs) == len(flatten(structure)):
            arg = _pack_like(structure, inputs)  # called on a nested dict
        elif keys is not None and isinstance(inputs, (list, tuple)) and len(inputs) == len(keys):
            arg = dict(zip(keys, inputs))  # called on a dict in the graph
        if spread:
            inputs = _text_as_tensors(inputs)
        else:
            arg = _text_as_tensors(arg)
        if mask is None:
            return self.call(*inputs, **kwargs) if spread else self.call(arg, **kwargs)
        # one mask given to a call of several tensors (layer(x, enc,
        # mask=m)) is the first one's: x carries it inside, as it carries its
        # own in Keras
        carried = (inputs[0], mask) if spread and not isinstance(mask, (list, tuple)) \
            else (inputs, mask)
        with _CarriedMasks(*carried):
            return self.call(*inputs, **kwargs) if spread else self.call(arg, **kwargs)

    def _forward_through_call(self, ctx, inputs, training):
        def run(xs):
            return self._run_call(xs, training and not ctx.inference_behaviour, ctx.mask,
                                  ctx.call_args)
        # (raw text, reshaped on its way to a lookup layer, has no gradient;
        # a layer with weights that reads text is traced for theirs)
        if training and self._traces_call and (
                self.__dict__.get("_call_input_dtype") != "string" or self.trainable_weights):
            return autodiff.traced_forward(self, ctx, inputs, run)
        return autodiff.untraced_forward(ctx, run, inputs)

    def _backward_through_call(self, ctx, dy, need_input_grad=True):
        return autodiff.traced_backward(self, ctx, dy, need_input_grad)

    def _output_shape_from_call(self, input_shape):
        """The output shape of a layer that computes through its call,
        found by running the call on zeros (once per input shape)."""
        key = tuple(map(tuple, input_shape)) if isinstance(input_shape, list) \
            else tuple(input_shape)
        constants = _call_constants(self)
        if constants:
            key = (key, repr(sorted(constants.items())))
        cache = self.__dict__.setdefault("_output_shapes", {})
        shape = cache.get(key)
        if shape is None:
            def run(xs):
                before = dict(self.__dict__)
                out = self._run_call(xs, False, self._sample_mask(xs))
                # values the call keeps on the layer for the program to read
                # (self.gates = ...; pynn's own are private)
                if any(not k.startswith("_") and before.get(k) is not v and
                       isinstance(v, (np.ndarray, autodiff.Traced))
                       for k, v in self.__dict__.items()):
                    self.__dict__["_stashes_values"] = True
                # integers among the outputs: sizes (tf.shape(x)[1])
                if any(isinstance(v, (int, np.integer)) and not isinstance(v, bool) or
                       isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu"
                       for v in (out if isinstance(out, (list, tuple)) else [out])):
                    self.__dict__["_returns_sizes"] = True
                # a namedtuple (combined_non_max_suppression's detections):
                # the symbolic outputs come in it too
                if hasattr(type(out), "_fields"):
                    self.__dict__["_output_namedtuple"] = type(out)
                return out
            shape = cache[key] = autodiff.infer_output_shape(
                autodiff.describe(self), input_shape,
                self.__dict__.get("_call_input_dtypes") or
                self.__dict__.get("_call_input_dtype", self.input_dtype), run)
        return shape

    def _sample_mask(self, xs):
        """For the sample run that finds the output shape: an all-True mask
        (batch and time axes) where the graph gives the call a mask, as
        Keras's symbolic call passes one; else None."""
        if "mask" not in self._call_takes or not self.__dict__.get("_call_input_masked"):
            return None
        if isinstance(xs, (list, tuple)) and xs and len(xs) == self._call_tensors:
            xs = xs[0]   # several positional tensors: the first one's mask
        if not isinstance(xs, np.ndarray) or xs.ndim < 2:
            return None
        return np.ones(xs.shape[:2], bool)

    def compute_mask(self, ctx, inputs, mask):
        """The output mask at run time from the input ``mask`` (None when no
        mask reaches the layer).  A layer of several inputs passes on the
        first input's mask, as Keras pairs the masks with the outputs."""
        if not self.supports_masking:
            return None
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def _compute_mask_keras_style(self, ctx, inputs, mask):
        out = self._keras_compute_mask(inputs, mask)
        if isinstance(out, (list, tuple)):  # one mask per output, not one stacked array
            return [None if m is None else np.asarray(autodiff.value_of(m), dtype=bool)
                    for m in out]
        return None if out is None else np.asarray(autodiff.value_of(out), dtype=bool)

    def _has_keras_style_mask(self, input_masks):
        return True

    # ------------------------------------------------------------- config

    def get_config(self):
        from .. import regularizers
        from .. import dtype_policies
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": dtype_policies.serialize(self._dtype_policy)}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        auto = getattr(self, "_auto_config", None)
        if auto is not None and type(self).get_config is Layer.get_config:
            # Keras 3: a program's layer without get_config() is configured
            # by the arguments it was made with (its name left out where
            # its __init__ cannot take one).
            params = inspect.signature(type(self).__init__).parameters
            if "name" not in params and not any(p.kind is p.VAR_KEYWORD
                                                for p in params.values()):
                del config["name"]
            config.update(auto)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_input_shape" in config and config["batch_input_shape"] is not None:
            config["batch_input_shape"] = tuple(config["batch_input_shape"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


Layer.compute_mask = _keras_callable_mask(Layer.compute_mask)


class InputLayer(Layer):
    """The layer behind a model input; ``Input(...)`` returns its output
    tensor."""
    runs_on_gpu = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 name=None, input_tensor=None, optional=False, input_shape=None,
                 batch_input_shape=None, **kwargs):
        if kwargs.pop("ragged", None):
            raise ValueError("Input: ragged tensors are not supported")
        if shape is None and input_shape is not None:
            shape = input_shape
        if batch_shape is None:
            batch_shape = batch_input_shape
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("Input: a shape is required, e.g. Input(shape=(784,))")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        try:
            shape = tuple(None if d is None else int(d) for d in shape)
        except (TypeError, ValueError):
            raise ValueError(f"Input: shape must hold integers or None, got {shape!r}") from None
        if any(d is not None and d < 0 for d in shape):
            raise ValueError(f"Input: dimensions must be >= 0, got shape {shape}")
        check_size([d or 1 for d in shape], "Input")
        super().__init__(name=name or unique_name("input_layer"),
                         batch_input_shape=(batch_size,) + shape, **kwargs)
        self.dtype = standardize_dtype(dtype, f"Input {self.name!r}")
        # (a model densifies the SparseTensors it is given for this input)
        self.sparse = bool(sparse)
        self.built = True
        out = KerasTensor(self._batch_input_shape, dtype=self.dtype, name=self.name)
        Node(self, [], [out])

    @property
    def shape(self):
        return self._batch_input_shape

    @property
    def input(self):
        """The model input this layer stands for, as tf.keras 2 gives it
        (``Model(model.get_layer("image").input, ...)`` cuts a prediction
        model out of a trained one, ``K.function([model.layers[0].input],
        ...)`` reads a functional model's activations); Keras 3 gives an
        empty list, which no program can use."""
        return self.output

    @property
    def batch_shape(self):
        return self._batch_input_shape

    def compute_output_shape(self, input_shape):
        return self._batch_input_shape

    def get_config(self):
        return {"name": self.name, "batch_shape": list(self._batch_input_shape),
                "dtype": self.dtype, "sparse": self.sparse}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("batch_input_shape") is not None:
            config["batch_shape"] = config.pop("batch_input_shape")
        config.pop("ragged", None)
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """Keras's ``Input``: a symbolic tensor of the given shape (without the
    batch dimension) to build a graph from."""
    if tensor is not None:
        raise ValueError("Input: tensor= is not supported; pass shape=")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name)
    return layer.output
