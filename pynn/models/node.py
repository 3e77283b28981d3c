"""The pieces of a graph: symbolic tensors, the nodes that connect them, and
the per-call state a node keeps while it computes.

Calling a layer on :class:`KerasTensor` objects computes nothing: it
records a :class:`Node` (the layer, its input tensors, its output tensors)
and returns new symbolic tensors whose ``_keras_history`` names the layer,
the node and the output's position, as Keras does.  A model is the graph
between its input and output tensors.

Everything that belongs to one execution of a node (the inputs and
activations kept for backward, work buffers, masks) lives in a
:class:`CallContext`, never on the layer, so a layer can appear in many
nodes and any number of threads can run inference on one model at once.
"""
import threading
from collections import namedtuple

import numpy as np

from ..dtypes import as_dtype
from ..tensor import TensorShape


class KerasHistory(namedtuple("KerasHistory", ["operation", "node_index", "tensor_index"])):
    """Where a symbolic tensor comes from: the layer that made it, which of
    that layer's calls (node index) and which of that call's outputs."""
    __slots__ = ()

    @property
    def layer(self):
        return self.operation


def _shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


# NumPy's binary operators as the tensor's own: (operator with the tensor
# on the left, with the tensor on the right).
_ARRAY_OPERATORS = {
    "add": ("__add__", "__radd__"), "subtract": ("__sub__", "__rsub__"),
    "multiply": ("__mul__", "__rmul__"), "true_divide": ("__truediv__", "__rtruediv__"),
    "divide": ("__truediv__", "__rtruediv__"), "floor_divide": ("__floordiv__", "__rfloordiv__"),
    "remainder": ("__mod__", "__rmod__"), "power": ("__pow__", "__rpow__"),
    "matmul": ("__matmul__", "__rmatmul__"), "bitwise_and": ("__and__", "__rand__"),
    "bitwise_or": ("__or__", "__ror__"), "bitwise_xor": ("__xor__", "__rxor__"),
    "less": ("__lt__", "__gt__"), "less_equal": ("__le__", "__ge__"),
    "greater": ("__gt__", "__lt__"), "greater_equal": ("__ge__", "__le__")}


class _Bindings(threading.local):
    """This thread's values of symbolic tensors that a layer's call reads
    from outside its inputs (Keras 2's graph code: a custom layer's loss
    built from ``z_mean`` and ``z_log_var`` of the enclosing model)."""

    def __init__(self):
        self.values = {}        # id(tensor) -> its value in the call being run
        self.recording = None   # while a call's output shape is found: {id: tensor}
        self.sample_size = 2    # (the size of the unknown axes of that run)


_bindings = _Bindings()


def bound_value(tensor):
    """The value ``tensor`` (a KerasTensor a layer's call reads from
    outside its inputs) has in the call being run: its run's value, or
    while the call's output shape is found, zeros of its shape (the tensor
    is then recorded as an input of the call); None elsewhere."""
    value = _bindings.values.get(id(tensor))
    if value is not None:
        return value
    recording = _bindings.recording
    if recording is None:
        return None
    recording.setdefault(id(tensor), tensor)
    size = _bindings.sample_size
    return np.zeros(tuple(size if d is None else d for d in tensor.shape),
                    "float32" if tensor.dtype == "string" else tensor.dtype)


def any_bound():
    return bool(_bindings.values) or _bindings.recording is not None


def operator_merge(layer_name, a, b, name=None):
    """The merge layer (``layer_name``: Add, Subtract, Multiply) through
    which pynn computes ``a + b``, ``a - b`` or ``a * b`` on symbolic
    tensors, with its kernels; None where an operation computes it.  The
    operator is still Keras 3's operation (ops.add): no layer of the model
    (model.layers leaves it out), its output carries no mask (as when run
    eagerly), and Keras's files get the operation."""
    from .. import layers
    # (a scalar, such as a loss built with K.sum, has no batch axis for a
    # merge layer to run over: an operation adds it; nor do tensors of
    # different ranks go to one, which expands the lower rank after the
    # batch axis as Keras's merge layers do, where ``x + y`` broadcasts as
    # NumPy's, as Keras's ops.add)
    if not (isinstance(a, KerasTensor) and isinstance(b, KerasTensor) and a.ndim and
            a.ndim == b.ndim) or any_bound():
        return None
    merge = getattr(layers, layer_name)(**({"name": name} if name else {}))
    merge._from_operator = True
    return merge


class bound_tensors:
    """``with bound_tensors(tensors, values):`` inside, each of ``tensors``
    computes as its value (an array, or a traced value on a tape)."""

    def __init__(self, tensors, values):
        self.pairs = {id(t): v for t, v in zip(tensors, values)}

    def __enter__(self):
        self.saved = _bindings.values
        _bindings.values = {**self.saved, **self.pairs}
        return self

    def __exit__(self, *exc):
        _bindings.values = self.saved


class recording_reads:
    """``with recording_reads() as read:`` the symbolic tensors that code
    run on sample arrays reads (its own inputs aside) are collected in
    ``read``, in the order first read, and stand as zeros meanwhile."""

    def __enter__(self):
        self.saved = _bindings.recording, _bindings.values
        _bindings.recording, _bindings.values = {}, {}
        return self

    def __exit__(self, *exc):
        self.found = list(_bindings.recording.values())
        _bindings.recording, _bindings.values = self.saved


def set_sample_size(size):
    """Sets the size of the unknown axes of the sample run under way;
    returns the one before."""
    before, _bindings.sample_size = _bindings.sample_size, size
    return before


class KerasTensor:
    """A symbolic tensor: a shape (batch first, ``None`` where unknown), a
    dtype and a name, and no value.  Layers called on it record the graph.
    Inside the call of a layer that reads it from outside its inputs, it
    computes as its value there (see bound_value)."""

    def _operand(self):
        # (autodiff's operands: its value where it has one)
        if not any_bound():
            return self
        value = bound_value(self)
        return self if value is None else value

    def __init__(self, shape, dtype="float32", name=None, has_mask=False):
        # A tuple, as Keras 3's; tf.keras's TensorShape on top of it, for
        # programs that size a decoder by ``x.shape.as_list()``.
        self.shape = TensorShape(shape)
        # (a DType: a str equal to its name, as Keras 3's, with the ``name``
        # and ``is_floating`` that tf.keras programs read from it)
        self.dtype = as_dtype("string" if dtype == "string" else str(np.dtype(dtype)))
        self.name = name
        self._keras_history = None
        # Whether a mask travels with this tensor at run time (an Embedding
        # with mask_zero=True, a Masking layer, and the layers after them).
        self._has_mask = bool(has_mask)

    @property
    def ndim(self):
        return len(self.shape)

    def get_shape(self):
        """tf.keras's name for ``shape``."""
        return self.shape

    @property
    def _keras_mask(self):
        """Keras's: the symbolic mask that travels with this tensor (batch
        and time axes, bool), None when none does."""
        if not self._has_mask:
            return None
        return KerasTensor(self.shape[:2], dtype="bool", name=f"{self.name}_mask")

    @property
    def node(self):
        h = self._keras_history
        return None if h is None else h.operation._inbound_nodes[h.node_index]

    def __repr__(self):
        return (f"<KerasTensor shape={_shape_str(self.shape)}, dtype={self.dtype}, "
                f"name={self.name}>")

    def __array__(self, dtype=None, copy=None):
        value = bound_value(self) if any_bound() else None
        if value is not None:
            from ..autodiff import value_of
            value = np.asarray(value_of(value))
            return value if dtype is None else value.astype(dtype)
        from .. import autodiff
        if autodiff.model_being_traced() is not None:
            # A subclassed model's call that needs values (NumPy, a string
            # op): it runs on the data at every call instead, as Keras runs
            # such a call eagerly.
            raise autodiff.UntraceableCall()
        raise TypeError(f"{self!r} is symbolic: it has no value. Build a model from it "
                        f"(pynn.Model(inputs, outputs)) and call predict() on data.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # An array on the left of an operator (``rates * images``, the rates
        # computed with NumPy; ``causal_mask & padding_mask``): NumPy hands
        # the operation here, and it is recorded as the tensor's own
        # operator records it.  Any other NumPy function has no value to
        # work on, and says so.
        names = _ARRAY_OPERATORS.get(ufunc.__name__)
        out = kwargs.get("out")
        if out is not None and len(kwargs) == 1 and len(out) == 1 and \
                any(out[0] is v for v in inputs if not isinstance(v, KerasTensor)):
            # ``loss += coeff * K.sum(...)`` with ``loss = K.variable(0.)``:
            # the array cannot hold a symbolic result, and the name is
            # rebound to it, as Keras 2's tensor arithmetic did.
            kwargs = {}
        if method == "__call__" and not kwargs and len(inputs) == 2 and names is not None:
            a, b = inputs
            if a is self and not isinstance(b, KerasTensor):
                operator, other = getattr(self, names[0], None), b
            elif b is self and not isinstance(a, KerasTensor):
                operator, other = getattr(self, names[1], None), a
            else:
                operator = None
            if operator is not None:
                return operator(other)
        self.__array__()

    def __len__(self):
        raise TypeError(f"{self!r} is symbolic and has no length; use .shape")

    def __iter__(self):
        raise TypeError(f"{self!r} is symbolic and cannot be iterated; use .shape")

    # Arithmetic between symbolic tensors records the merge layer that
    # computes it; with a number or an array, or any other operator, a
    # TensorOperation, as Keras's operator overloads record an operation.
    def _merge(self, other, layer_name, op, reverse=False):
        pair = [other, self] if reverse else [self, other]
        merge = operator_merge(layer_name, *pair)
        if merge is not None:
            return merge(pair)
        return self._operation(op, other, reverse)

    def _operation(self, op, other, reverse=False):
        from ..layers.lambda_layer import record_operation
        return record_operation(op, (other, self) if reverse else (self, other), {})

    def __add__(self, other):
        return self._merge(other, "Add", "add")

    def __radd__(self, other):
        return self._merge(other, "Add", "add", reverse=True)

    def __sub__(self, other):
        return self._merge(other, "Subtract", "subtract")

    def __rsub__(self, other):
        return self._merge(other, "Subtract", "subtract", reverse=True)

    def __mul__(self, other):
        return self._merge(other, "Multiply", "multiply")

    def __rmul__(self, other):
        return self._merge(other, "Multiply", "multiply", reverse=True)

    # (Keras 3's operators record TrueDivide, FloorDivide, Mod: the
    # operations' names, "true_divide" for ``t / 2``, are theirs)
    def __truediv__(self, other):
        return self._operation("true_divide", other)

    def __rtruediv__(self, other):
        return self._operation("true_divide", other, reverse=True)

    def __floordiv__(self, other):
        return self._operation("floor_divide", other)

    def __rfloordiv__(self, other):
        return self._operation("floor_divide", other, reverse=True)

    def __mod__(self, other):
        return self._operation("mod", other)

    def __rmod__(self, other):
        return self._operation("mod", other, reverse=True)

    def __pow__(self, other):
        return self._operation("power", other)

    def __rpow__(self, other):
        return self._operation("power", other, reverse=True)

    def __matmul__(self, other):
        return self._operation("matmul", other)

    def __rmatmul__(self, other):
        return self._operation("matmul", other, reverse=True)

    def __lt__(self, other):
        return self._operation("less", other)

    def __le__(self, other):
        return self._operation("less_equal", other)

    def __gt__(self, other):
        return self._operation("greater", other)

    def __ge__(self, other):
        return self._operation("greater_equal", other)

    # No __eq__: ``==`` compares the tensors themselves, as in Keras (a
    # tensor stays usable as a dict key); ``!=`` and the logical operators
    # record Keras's operations.
    def __ne__(self, other):
        return self._operation("not_equal", other)

    def __and__(self, other):
        return self._operation("logical_and", other)

    def __rand__(self, other):
        return self._operation("logical_and", other, reverse=True)

    def __or__(self, other):
        return self._operation("logical_or", other)

    def __ror__(self, other):
        return self._operation("logical_or", other, reverse=True)

    def __xor__(self, other):
        return self._operation("logical_xor", other)

    def __rxor__(self, other):
        return self._operation("logical_xor", other, reverse=True)

    def __invert__(self):
        from ..layers.lambda_layer import record_operation
        return record_operation("logical_not", (self,), {})

    def __neg__(self):
        from ..layers.lambda_layer import record_operation
        return record_operation("negative", (self,), {})

    def __abs__(self):
        from ..layers.lambda_layer import record_operation
        return record_operation("abs", (self,), {})

    def __getitem__(self, key):
        from ..layers.lambda_layer import record_operation
        return record_operation("getitem", (self, key), {})


class Node:
    """One call of a layer in a graph: the layer, its input tensors, its
    output tensors, the ``training`` argument given at the call (None:
    follow the model's mode), and the layer's own call arguments that
    change what the call computes (``call_args``: ReversibleEmbedding's
    ``reverse``), handed to the call's context when the graph runs.

    A mask given to the call as a tensor (``gru(x, mask=m)``) is an input
    of the node too, after the others: ``mask_layout`` is None where no
    mask was given, "single" for one mask tensor, or a tuple saying, for
    each of the call's inputs, whether a mask tensor was given for it
    (``attention([q, v], mask=[qm, None])``)."""
    __slots__ = ("operation", "input_tensors", "output_tensors", "single_input",
                 "single_output", "training", "index", "input_structure", "call_args",
                 "mask_layout")

    def __init__(self, operation, input_tensors, output_tensors, single_input=True,
                 single_output=True, training=None, input_structure=None, call_args=None,
                 mask_layout=None):
        self.operation = operation
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.single_input = single_input
        self.single_output = single_output
        self.training = training
        # A dict of input names when the layer (a model) was called on a
        # dict; None otherwise.
        self.input_structure = input_structure
        self.call_args = dict(call_args) if call_args else {}
        self.mask_layout = mask_layout
        self.index = len(operation._inbound_nodes)
        operation._inbound_nodes.append(self)
        for i, t in enumerate(self.output_tensors):
            t._keras_history = KerasHistory(operation, self.index, i)

    @property
    def layer(self):
        return self.operation

    @property
    def mask_count(self):
        """How many of the last input tensors are the masks given to the call."""
        layout = self.mask_layout
        return 0 if layout is None else 1 if layout == "single" else sum(layout)

    @property
    def call_inputs(self):
        """The input tensors, less the given masks."""
        n = self.mask_count
        return self.input_tensors[:-n] if n else self.input_tensors

    @property
    def given_masks(self):
        """The mask tensors given to the call, in its structure (a tensor,
        or a list with None where no mask was given), or None."""
        layout = self.mask_layout
        if layout is None:
            return None
        tail = iter(self.input_tensors[-self.mask_count:])
        return next(tail) if layout == "single" else [next(tail) if p else None for p in layout]

    @property
    def is_input(self):
        return not self.input_tensors

    @property
    def outputs(self):
        return self.output_tensors

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors if t._keras_history is not None]

    def __repr__(self):
        return (f"<Node {self.operation.name}[{self.index}] "
                f"{[t.name for t in self.input_tensors]} -> "
                f"{[t.name for t in self.output_tensors]}>")


class CallContext:
    """The state of one execution of one node: layers keep here what their
    backward pass needs (``ctx.x = x``) and their work buffers
    (``ctx.buffer(key, shape)``).  A training run keeps one context per
    node across steps, so buffers are reused; each concurrent inference
    call gets contexts of its own."""
    # The model sets this on the context of an output layer whose softmax
    # or sigmoid it fuses into the loss: the layer then outputs logits and
    # its backward skips the activation's derivative.
    emit_logits = False
    # The input mask(s) of this call, when masks travel through the graph.
    mask = None
    # The layer's own arguments of the node this call runs (Node.call_args).
    call_args = {}
    # Where this call's batch starts in a batch split across processes
    # (data-parallel training), for layers whose randomness is per row.
    row_offset = 0
    # What a layer computing through call() gave to add_loss in this call
    # (summed, and one by one outside training), whether any of it has a gradient, and the tape of a traced
    # training call (see pynn.autodiff).
    added_loss = 0.0
    added_losses = ()
    adds_gradient = False
    tape = None
    # How much of those values the differentiated loss holds (a
    # GradientTape's target may leave model.losses out).
    loss_scale = 1.0
    # The GPU the call runs on (its buffers are device arrays there), or
    # None for the host.
    device = None
    # A node called with training=False (``base(x, training=False)``, or
    # inside such a node) computes as at inference (Dropout passes its
    # input, BatchNormalization uses its moving statistics) even while the
    # model trains; its backward pass still runs, for what it feeds.
    inference_behaviour = False

    def __init__(self):
        self._buffers = {}

    def buffer(self, key, shape, dtype=np.float32):
        """A work array kept between calls.  The last two shapes seen under
        a key are kept, so an epoch's smaller last batch does not make the
        full-size buffers be reallocated every epoch."""
        slot = self._buffers.get(key)
        if slot is None:
            slot = self._buffers[key] = {}
        buf = slot.get(shape)
        if buf is None or buf.dtype != dtype:
            shape = tuple(shape)
            if len(slot) >= 2:
                del slot[next(iter(slot))]
            if self.device is None:
                from ..backend import aligned_empty
                buf = slot[shape] = aligned_empty(shape, dtype)
            else:
                from .. import cuda
                buf = slot[shape] = cuda.empty(shape, dtype, self.device)
        return buf
