"""The exporter's in-memory form of a TFLite subgraph.

The converter turns layers into a :class:`Graph` of float32 tensors and
builtin operators; the quantization passes (pynn.lite.quantize) rewrite that
graph in place; the writer (pynn.lite.writer) serializes it.  Keeping the
three apart means each quantization mode is a rewrite of one float graph
rather than a second copy of every layer's conversion.
"""
import numpy as np


class Quant:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``,
    per tensor (one scale) or per channel along ``axis``."""
    __slots__ = ("scale", "zero_point", "axis")

    def __init__(self, scale, zero_point, axis=0):
        self.scale = np.atleast_1d(np.asarray(scale, np.float32))
        self.zero_point = np.atleast_1d(np.asarray(zero_point, np.int64))
        self.axis = int(axis)

    @property
    def per_channel(self):
        return self.scale.size > 1

    def __repr__(self):
        return f"<Quant scale={self.scale} zero_point={self.zero_point} axis={self.axis}>"


class Tensor:
    """A tensor of the graph.  ``data`` is None for activations (computed at
    run time) and the array for constants.  ``shape`` has 1 for the batch
    dimension when ``dynamic_batch`` is set; the file then records -1 there
    in ``shape_signature`` so the interpreter can resize it.

    ``stat`` says where calibration finds this tensor's float values:
    ``(layer_index, kind)`` with kind 'out' (the layer's output), 'pre' (its
    output before its activation) or a callable ``f(x_in) -> array``; None
    for tensors whose quantization follows from their producer's input.
    """
    __slots__ = ("name", "shape", "dtype", "data", "quant", "dynamic_batch", "stat", "role",
                 "is_variable")

    def __init__(self, name, shape, dtype=np.float32, data=None, quant=None,
                 dynamic_batch=False, stat=None, role=None, is_variable=False):
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.data = data
        self.quant = quant
        self.dynamic_batch = dynamic_batch
        self.stat = stat
        self.role = role  # for constants: 'weight', 'bias', 'shape', 'param'
        # A state the interpreter keeps between invocations (a recurrent
        # op's), zero when tensors are allocated.
        self.is_variable = is_variable

    @property
    def is_constant(self):
        return self.data is not None

    def __repr__(self):
        return f"<Tensor {self.name} {self.shape} {self.dtype}>"


class Op:
    """A builtin operator: its TFLite name (``'CONV_2D'``), input tensors
    (None for an omitted optional input), output tensors, and its options
    as ``(options_table_name, {field: value})`` or None."""
    __slots__ = ("code", "inputs", "outputs", "options", "layer")

    def __init__(self, code, inputs, outputs, options=None, layer=None):
        self.code = code
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.options = options
        self.layer = layer  # the layer's name, for error messages

    def __repr__(self):
        return f"<Op {self.code} {[t and t.name for t in self.inputs]} -> " \
               f"{[t.name for t in self.outputs]}>"


class Graph:
    """One subgraph: operators in execution order, its tensors, one input
    and one output."""

    def __init__(self):
        self.ops = []
        self.inputs = []
        self.outputs = []
        # The serving signature's names of the inputs and the outputs (by
        # default the tensors' names)
        self.signature_names = None
        self._names = {"output"}  # given to the final tensor by the converter

    def _unique(self, name):
        base, n = name, 1
        while name in self._names:
            name = f"{base}_{n}"
            n += 1
        self._names.add(name)
        return name

    def activation(self, name, shape, stat=None, dtype=np.float32):
        """A run-time tensor whose first dimension is the batch."""
        return Tensor(self._unique(name), (1,) + tuple(shape[1:]), dtype,
                      dynamic_batch=True, stat=stat)

    def tensor(self, name, shape, dtype=np.float32, is_variable=False):
        """A run-time tensor of a fixed shape (a shape vector, a scalar)."""
        return Tensor(self._unique(name), shape, dtype, is_variable=is_variable)

    def scalar(self, name, value, dtype):
        """A 0-d constant (``constant`` keeps at least one dimension)."""
        return Tensor(self._unique(name), (), dtype, data=np.asarray(value, dtype).reshape(()),
                      role="param")

    def constant(self, name, value, dtype=None, role="param"):
        value = np.ascontiguousarray(value, dtype=dtype or np.asarray(value).dtype)
        return Tensor(self._unique(name), value.shape, value.dtype, data=value, role=role)

    def add(self, code, inputs, outputs, options=None, layer=None):
        op = Op(code, inputs, outputs, options, layer)
        self.ops.append(op)
        return op

    def tensors(self):
        """Every tensor, in first-use order (inputs first)."""
        seen, out = set(), []
        for t in self.inputs:
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
        for op in self.ops:
            for t in op.inputs + op.outputs:
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    out.append(t)
        return out

    def replace_input(self, old, new):
        """Make every op that reads ``old`` read ``new`` instead."""
        for op in self.ops:
            op.inputs = [new if t is old else t for t in op.inputs]


def _strided_slice(x, begin, end, strides, fields):
    index = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        if fields.get("ShrinkAxisMask", 0) >> i & 1:
            index.append(int(b))
            continue
        index.append(slice(None if fields.get("BeginMask", 0) >> i & 1 else int(b),
                           None if fields.get("EndMask", 0) >> i & 1 else int(e), int(s)))
    return x[tuple(index)]


def _binary(f):
    return lambda xs, fields: [f(xs[0], xs[1])]


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _conv2d(xs, fields):
    """CONV_2D of NHWC values by an OHWI filter (pynn's kernel, in float32)."""
    from .. import ops
    x, w, b = xs
    y = ops.conv2d(np.asarray(x, np.float32), np.asarray(w, np.float32).transpose(1, 2, 3, 0),
                   None if b is None else np.asarray(b, np.float32),
                   (fields["StrideH"], fields["StrideW"]),
                   "same" if fields["Padding"] == 0 else "valid",
                   (fields.get("DilationHFactor", 1), fields.get("DilationWFactor", 1)))
    return [y.astype(np.float64)]


# The float semantics of the builtin ops the recurrent layers are written
# with: (input values, options' fields) -> output values.
_EVALUATE = {
    "ADD": _binary(np.add), "SUB": _binary(np.subtract), "MUL": _binary(np.multiply),
    "LOGISTIC": lambda xs, f: [_sigmoid(xs[0])],
    "TANH": lambda xs, f: [np.tanh(xs[0])],
    "RELU": lambda xs, f: [np.maximum(xs[0], 0.0)],
    "RELU6": lambda xs, f: [np.clip(xs[0], 0.0, 6.0)],
    "FULLY_CONNECTED": lambda xs, f: [xs[0] @ xs[1].T + (0.0 if xs[2] is None else xs[2])],
    "UNPACK": lambda xs, f: list(np.moveaxis(xs[0], f["Axis"], 0)),
    "PACK": lambda xs, f: [np.stack(xs, axis=f["Axis"])],
    "SPLIT": lambda xs, f: np.split(xs[1], f["NumSplits"], axis=int(xs[0])),
    "CONCATENATION": lambda xs, f: [np.concatenate(xs, axis=f["Axis"])],
    "RESHAPE": lambda xs, f: [np.reshape(xs[0], [int(d) for d in xs[1]])],
    "REVERSE_V2": lambda xs, f: [np.flip(xs[0], axis=tuple(int(a) for a in xs[1]))],
    "SHAPE": lambda xs, f: [np.array(np.shape(xs[0]), np.int32)],
    "FILL": lambda xs, f: [np.full([int(d) for d in xs[0]], xs[1])],
    "STRIDED_SLICE": lambda xs, f: [_strided_slice(*xs, f)],
    "CONV_2D": _conv2d,
}


def evaluate(ops, values):
    """Run ``ops`` (without fused activations) in float64 on NumPy:
    ``values`` maps the id of each tensor they read that no op of them
    writes (but constants) to its value; returns it with every output
    added.  Calibration of the tensors of an unrolled recurrence."""
    values = dict(values)
    for op in ops:
        fields = op.options[1] if op.options else {}
        fn = _EVALUATE.get(op.code)
        if fn is None or fields.get("FusedActivationFunction", 0):
            raise ValueError(f"evaluate: {op.code} (with its options {fields}) has no NumPy "
                             f"form here")
        xs = [None if t is None else t.data.astype(np.float64) if t.is_constant and
              t.data.dtype.kind == "f" else t.data if t.is_constant else values[id(t)]
              for t in op.inputs]
        for t, v in zip(op.outputs, fn(xs, fields)):
            values[id(t)] = v
    return values
