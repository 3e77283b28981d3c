"""Compiled inference plans: an inference program's whole forward pass on
the host as one call into C.

For a program whose every step is of a kind listed in ``_LOWER`` or
``_LOWER_MERGE`` (dense, convolution, pooling, activation, PReLU, batch
normalization, rescaling and normalization, zero padding and cropping,
elementwise merges (broadcasting over whole rows), concatenation, and the
reshapes that are no-ops on contiguous buffers), :func:`build_plan`
turns the steps, for one set of input shapes, into the kernel calls the
layers' own forward passes make (the same entry points with the same
arguments, so the outputs are the same bit for bit) with every
intermediate tensor placed once in a work arena (reused as tensors die).
The plan keeps each weight's array and checks on every run that the
weight still holds it (training and ``_place`` may rebind values): a plan
that no longer fits is rebuilt.  Weights updated in place need nothing:
the kernels read them at run time, and a folded batch normalization is
refolded on every run, as the Python path does.

Layer classes are matched exactly (a subclass may compute something else
in its forward), and the layer's settings (activation, strides, ...) are
read when the plan is built.
"""
import numpy as np

from .. import ops
from ..layers import activation as act_layers
from ..layers import conv, core, lambda_layer, merging, normalization, pooling, preprocessing, \
    reshaping

# Offsets are kept to whole cache lines.
_ALIGN = 16

# The step kinds of csrc/pynn.h (enum pynn_plan_kind).
(DENSE, CONV2D, DEPTHWISE, MAX_POOL, AVG_POOL, ACTIVATION, RELU_GENERAL, BINARY, SCALE, COPY,
 BATCH_NORM, FOLD, COPY_BLOCK, PAD_CROP, BINARY_ROWS, AFFINE, STANDARDIZE, PRELU) = range(18)


class _Unsupported(Exception):
    """A step the plan cannot run: the program keeps the Python path."""


class _Ref:
    """An operand before placement: ``off`` floats into root ``index``
    (kind 'r': a tensor's or scratch storage), output buffer ``index``
    (kind 'o') or weight ``index`` (kind 'w')."""
    __slots__ = ("kind", "index", "off")

    def __init__(self, kind, index, off=0):
        self.kind, self.index, self.off = kind, index, off


class _Builder:
    """The steps of a plan over symbolic storage, then placed in buffers.

    A tensor's storage is a "root": the slots that Flatten or Reshape make
    share their input's root."""

    def __init__(self, prog, batch, shapes):
        self.prog = prog
        self.batch = batch
        self.shapes = shapes  # per slot, the batch axis aside
        self.ops = []
        self.root_of = {}     # slot -> root
        self.root_size = []   # floats per root
        self.weights = []     # (owner, attribute name)
        self.weight_index = {}

    # ------------------------------------------------------------ storage

    def shape(self, slot):
        tail = self.shapes[slot][1:]
        if any(d is None for d in tail):
            raise _Unsupported("a tensor with unknown dimensions")
        return (self.batch,) + tuple(int(d) for d in tail)

    def new_root(self, size):
        self.root_size.append(int(size))
        return len(self.root_size) - 1

    def tensor(self, slot):
        """The operand of a slot's tensor (a new root for a step's output)."""
        root = self.root_of.get(slot)
        if root is None:
            root = self.root_of[slot] = self.new_root(_size(self.shape(slot)))
        return _Ref("r", root)

    def alias(self, out_slot, in_slot):
        if _size(self.shape(out_slot)) != _size(self.shape(in_slot)):
            raise _Unsupported("a reshape that changes the size")
        self.root_of[out_slot] = self.tensor(in_slot).index

    def scratch(self, size):
        return _Ref("r", self.new_root(size))

    def weight(self, owner, name):
        w = getattr(owner, name)
        if w is None:
            return None
        if not isinstance(w.value, np.ndarray) or w.value.dtype != np.float32 or \
                not w.value.flags.c_contiguous:
            raise _Unsupported("a weight that is not a float32 host array")
        key = (id(owner), name)
        i = self.weight_index.get(key)
        if i is None:
            i = self.weight_index[key] = len(self.weights)
            self.weights.append((owner, name))
        return _Ref("w", i)

    def constant(self, array):
        """An operand holding a copy of ``array`` (a layer setting the plan
        keeps, as the layer keeps it)."""
        self.weights.append(np.ascontiguousarray(array, np.float32).copy())
        return _Ref("w", len(self.weights) - 1)

    def op(self, **fields):
        self.ops.append(fields)

    # ---------------------------------------------------------- placement

    def finish(self):
        prog = self.prog
        n_in, n_out = len(prog.input_slots), len(prog.output_slots)
        place = {}  # root -> (buffer, offset)
        for i, s in enumerate(prog.input_slots):
            place[self.tensor(s).index] = (1 + i, 0)
        copies = []
        for j, s in enumerate(prog.output_slots):
            root = self.tensor(s).index
            if root in place:  # an input, or another output's storage
                copies.append((root, j))
            else:
                place[root] = (1 + n_in + j, 0)
        for root, j in copies:
            self.op(kind=COPY, rows=1, cols=self.root_size[root], x=_Ref("r", root),
                    y=_Ref("o", j))
        # Each root lives in the arena from the first step that touches it
        # to the last; a step's output never shares memory with its inputs
        # (roots are freed after the step that last reads them).
        last = {}
        for i, o in enumerate(self.ops):
            for ref in _refs(o):
                if ref.kind == "r":
                    last[ref.index] = i
        arena = _Arena()
        for i, o in enumerate(self.ops):
            for ref in _refs(o):
                if ref.kind == "r" and ref.index not in place:
                    place[ref.index] = (0, arena.take(self.root_size[ref.index]))
            for ref in _refs(o):
                if ref.kind == "r" and last.get(ref.index) == i and place[ref.index][0] == 0:
                    arena.give(place[ref.index][1], self.root_size[ref.index])
                    del last[ref.index]
        first_w = 1 + n_in + n_out

        def resolve(ref):
            if ref.kind == "r":
                buf, off = place[ref.index]
                return (buf, off + ref.off)
            return (1 + n_in + ref.index if ref.kind == "o" else first_w + ref.index, 0)
        steps = [{k: resolve(v) if isinstance(v, _Ref) else v for k, v in o.items()}
                 for o in self.ops]
        in_shapes = [self.shape(s) for s in prog.input_slots]
        out_shapes = [self.shape(s) for s in prog.output_slots]
        return ops.inference_plan(steps, in_shapes, out_shapes, arena.size, self.weights)


def _refs(o):
    return [v for v in o.values() if isinstance(v, _Ref)]


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class _Arena:
    """First-fit placement of tensors in one block of floats."""

    def __init__(self):
        self.free = []  # (offset, size), sorted by offset
        self.top = 0    # the end of the block in use
        self.size = 0   # the most it ever used

    def take(self, n):
        n = -(-max(n, 1) // _ALIGN) * _ALIGN
        for i, (off, size) in enumerate(self.free):
            if size >= n:
                if size == n:
                    del self.free[i]
                else:
                    self.free[i] = (off + n, size - n)
                return off
        off = self.top
        self.top += n
        self.size = max(self.size, self.top)
        return off

    def give(self, off, n):
        n = -(-max(n, 1) // _ALIGN) * _ALIGN
        self.free.append((off, n))
        self.free.sort()
        merged = []
        for o, s in self.free:
            if merged and merged[-1][0] + merged[-1][1] == o:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((o, s))
        if merged and merged[-1][0] + merged[-1][1] == self.top:
            self.top = merged.pop()[0]
        self.free = merged


# ------------------------------------------------------------------ lowering

def _activation_code(name):
    if not isinstance(name, str) or name not in ops.ACTIVATIONS:
        raise _Unsupported(f"activation {name!r}")
    return ops.ACTIVATIONS[name]


def _kernel_fold(b, step, kernel, bias, rows, cols):
    """The kernel and bias operands a step computes with: its own, or the
    batch normalization folded into them (a FOLD op into scratch)."""
    if step.fold is None:
        return kernel, bias
    bn = step.fold
    scratch = b.scratch(rows * cols + 3 * cols)
    b.op(kind=FOLD, rows=rows, cols=cols, x=kernel, b=bias, y=scratch, eps=float(bn.epsilon),
         mean=b.weight(bn, "moving_mean"), var=b.weight(bn, "moving_variance"),
         gamma=b.weight(bn, "gamma"), beta=b.weight(bn, "beta"))
    return scratch, _Ref("r", scratch.index, rows * cols)


def _lower_dense(b, step, x_slot, y_slot):
    layer = step.layer
    if layer.quantization_mode is not None:
        # (its int8 kernel computes over its scale: the layer's own path)
        raise _Unsupported(f"a {layer.quantization_mode}-quantized Dense")
    shape = b.shape(x_slot)
    act = step.act or layer.activation
    code = _activation_code(act)
    k = shape[-1]
    rows = _size(shape[:-1])
    kernel, bias = b.weight(layer, "kernel"), b.weight(layer, "bias")
    kernel, bias = _kernel_fold(b, step, kernel, bias, k, layer.units)
    b.op(kind=DENSE, act=code, alpha=ops.DEFAULT_ALPHA.get(act, 0.0), rows=rows, inner=k,
         cols=layer.units, x=b.tensor(x_slot), w=kernel, b=bias, y=b.tensor(y_slot))


def _conv_op(b, kind, x, shape4, ksize, strides, padding, dilation, cout, kernel, bias, act,
             y):
    (oh, ow), (sh, sw, dh, dw, top, left) = ops.conv_geometry(shape4, ksize, strides, padding,
                                                              dilation)
    n, h, w, cin = shape4
    b.op(kind=kind, act=_activation_code(act), alpha=ops.DEFAULT_ALPHA.get(act, 0.0),
         conv=(n, h, w, cin, ksize[0], ksize[1], cout, sh, sw, dh, dw, top, left, oh, ow),
         x=x, w=kernel, b=bias, y=y)
    return oh, ow


def _as4(layer, shape):
    return shape if layer.rank == 2 else (shape[0], 1) + tuple(shape[1:])


def _lower_conv(b, step, x_slot, y_slot):
    layer = step.layer
    if layer.groups != 1:
        raise _Unsupported("a grouped convolution")
    shape4 = _as4(layer, b.shape(x_slot))
    act = step.act or layer.activation
    ksize, strides, padding, dilation = layer._geo2d
    cin = shape4[3]
    kernel, bias = b.weight(layer, "kernel"), b.weight(layer, "bias")
    kernel, bias = _kernel_fold(b, step, kernel, bias, ksize[0] * ksize[1] * cin,
                                layer.filters)
    _conv_op(b, CONV2D, b.tensor(x_slot), shape4, ksize, strides, padding, dilation,
             layer.filters, kernel, bias, act, b.tensor(y_slot))


def _lower_depthwise(b, step, x_slot, y_slot):
    layer = step.layer
    shape4 = b.shape(x_slot)
    act = step.act or layer.activation
    ksize, strides, padding, dilation = layer._geo2d
    m = layer.depth_multiplier
    kernel, bias = b.weight(layer, "depthwise_kernel"), b.weight(layer, "bias")
    kernel, bias = _kernel_fold(b, step, kernel, bias, ksize[0] * ksize[1],
                                shape4[3] * m)
    _conv_op(b, DEPTHWISE, b.tensor(x_slot), shape4, ksize, strides, padding, dilation, m,
             kernel, bias, act, b.tensor(y_slot))


def _lower_separable(b, step, x_slot, y_slot):
    layer = step.layer
    shape4 = b.shape(x_slot)
    act = step.act or layer.activation
    ksize, strides, padding, dilation = layer._geo2d
    m = layer.depth_multiplier
    (oh, ow), _ = ops.conv_geometry(shape4, ksize, strides, padding, dilation)
    mid_c = shape4[3] * m
    mid = b.scratch(shape4[0] * oh * ow * mid_c)
    _conv_op(b, DEPTHWISE, b.tensor(x_slot), shape4, ksize, strides, padding, dilation, m,
             b.weight(layer, "depthwise_kernel"), None, "linear", mid)
    pointwise, bias = b.weight(layer, "pointwise_kernel"), b.weight(layer, "bias")
    pointwise, bias = _kernel_fold(b, step, pointwise, bias, mid_c, layer.filters)
    _conv_op(b, CONV2D, mid, (shape4[0], oh, ow, mid_c), (1, 1), 1, "valid", 1, layer.filters,
             pointwise, bias, act, b.tensor(y_slot))


def _no_fold(step):
    if step.fold is not None or step.act is not None:
        raise _Unsupported("a fold into a layer without a kernel")


def _lower_pool(b, step, x_slot, y_slot):
    _no_fold(step)
    layer = step.layer
    shape4 = _as4(layer, b.shape(x_slot))
    pool, strides = layer._window2d()
    (oh, ow), (ph, pw, sh, sw, top, left) = ops.pool_geometry(shape4, pool, strides,
                                                              layer.padding)
    n, h, w, c = shape4
    b.op(kind=MAX_POOL if layer.kind == "max" else AVG_POOL,
         pool=(n, h, w, c, ph, pw, sh, sw, top, left, oh, ow),
         x=b.tensor(x_slot), y=b.tensor(y_slot))


def _lower_global_pool(b, step, x_slot, y_slot):
    _no_fold(step)
    layer = step.layer
    if layer.data_format == "channels_first":
        raise _Unsupported("global pooling over the last axes (channels first)")
    n, h, w, c = _as4(layer, b.shape(x_slot))
    if h == 0 or w == 0:
        raise _Unsupported("global pooling over no pixels (the Python path explains)")
    b.op(kind=MAX_POOL if layer.kind == "max" else AVG_POOL,
         pool=(n, h, w, c, h, w, 1, 1, 0, 0, 1, 1), x=b.tensor(x_slot), y=b.tensor(y_slot))


def _elementwise(b, x_slot, y_slot, name, alpha=None):
    """ops.activation(x, name, alpha=alpha) over the last axis."""
    if name == "linear":
        b.alias(y_slot, x_slot)
        return
    shape = b.shape(x_slot)
    cols = shape[-1]
    b.op(kind=ACTIVATION, act=_activation_code(name),
         alpha=ops.DEFAULT_ALPHA.get(name, 0.0) if alpha is None else float(alpha),
         rows=_size(shape) // cols if cols else 0, cols=cols,
         x=b.tensor(x_slot), y=b.tensor(y_slot))


def _lower_activation(b, step, x_slot, y_slot):
    _no_fold(step)
    _elementwise(b, x_slot, y_slot, step.layer.activation)


def _lower_relu(b, step, x_slot, y_slot):
    _no_fold(step)
    layer = step.layer
    name, alpha = ops.relu_form(layer.negative_slope, layer.max_value, layer.threshold)
    if name is not None:
        _elementwise(b, x_slot, y_slot, name, alpha)
        return
    size = _size(b.shape(x_slot))
    b.op(kind=RELU_GENERAL, rows=1, cols=size, x=b.tensor(x_slot), y=b.tensor(y_slot),
         p=(layer.negative_slope, np.inf if layer.max_value is None else layer.max_value,
            layer.threshold))


def _lower_leaky_relu(b, step, x_slot, y_slot):
    _no_fold(step)
    _elementwise(b, x_slot, y_slot, "leaky_relu", step.layer.negative_slope)


def _lower_elu(b, step, x_slot, y_slot):
    _no_fold(step)
    _elementwise(b, x_slot, y_slot, "elu", step.layer.alpha)


def _lower_softmax(b, step, x_slot, y_slot):
    _no_fold(step)
    rank = len(b.shape(x_slot))
    if step.layer.axis not in (-1, rank - 1):
        raise _Unsupported("softmax over an axis other than the last")
    _elementwise(b, x_slot, y_slot, "softmax")


def _lower_batch_norm(b, step, x_slot, y_slot):
    _no_fold(step)
    layer = step.layer
    shape = b.shape(x_slot)
    if layer.axis not in (-1, len(shape) - 1):
        raise _Unsupported("batch normalization over another axis")
    c = shape[-1]
    b.op(kind=BATCH_NORM, rows=_size(shape) // c if c else 0, cols=c, eps=float(layer.epsilon),
         x=b.tensor(x_slot), y=b.tensor(y_slot), w=b.scratch(2 * c),
         mean=b.weight(layer, "moving_mean"), var=b.weight(layer, "moving_variance"),
         gamma=b.weight(layer, "gamma"), beta=b.weight(layer, "beta"))


def _lower_prelu(b, step, x_slot, y_slot):
    _no_fold(step)
    layer = step.layer
    shape = b.shape(x_slot)
    cols, _, _, full = ops._prelu_alpha(shape[1:], layer.alpha.value, "prelu")
    if full:
        raise _Unsupported("a PReLU whose alpha is spread over the sample on every call")
    b.op(kind=PRELU, rows=_size(shape) // cols if cols else 0, cols=cols, x=b.tensor(x_slot),
         w=b.weight(layer, "alpha"), y=b.tensor(y_slot))


def _lower_rescaling(b, step, x_slot, y_slot):
    _no_fold(step)
    shape = b.shape(x_slot)
    c = shape[-1]
    scale, offset = step.layer._affine(c)
    b.op(kind=AFFINE, rows=_size(shape) // c if c else 0, cols=c, x=b.tensor(x_slot),
         w=b.constant(scale), b=b.constant(offset), y=b.tensor(y_slot))


def _lower_normalization(b, step, x_slot, y_slot):
    _no_fold(step)
    layer = step.layer
    shape = b.shape(x_slot)
    rank = len(shape)
    if layer.mean is None:  # statistics given as arguments: fixed
        scale, shift = layer._affine(shape)
        cols = scale.size
        b.op(kind=AFFINE, rows=_size(shape) // cols if cols else 0, cols=cols,
             x=b.tensor(x_slot), w=b.constant(scale), b=b.constant(shift), y=b.tensor(y_slot))
        return
    if layer._keep != (rank - 1,) or layer._block != (rank - 1,):
        raise _Unsupported("a normalization over axes other than the last")
    c = shape[-1]
    b.op(kind=STANDARDIZE, act=int(layer.invert), eps=preprocessing._EPSILON,
         rows=_size(shape) // c if c else 0, cols=c, x=b.tensor(x_slot), y=b.tensor(y_slot),
         w=b.scratch(2 * c), mean=b.weight(layer, "mean"), var=b.weight(layer, "variance"))


def _lower_shift(b, step, x_slot, y_slot):
    """Zero padding and cropping: one window shift (ops.spatial_pad and
    spatial_crop)."""
    _no_fold(step)
    layer = step.layer
    x_shape, y_shape = b.shape(x_slot), b.shape(y_slot)
    pad = isinstance(layer, reshaping._ZeroPadding)
    pairs = layer.padding if pad else layer.cropping
    lead = (1,) * (5 - len(x_shape))
    offsets = (0,) * (5 - len(x_shape)) + tuple(a if pad else -a for a, _ in pairs)
    b.op(kind=PAD_CROP, alpha=0.0,
         shift=(x_shape[0],) + lead + tuple(x_shape[1:-1]) + (x_shape[-1],) + lead +
         tuple(y_shape[1:-1]) + offsets, x=b.tensor(x_slot), y=b.tensor(y_slot))


def _lower_flatten(b, step, x_slot, y_slot):
    _no_fold(step)
    b.alias(y_slot, x_slot)


# The merges' operations (enum pynn_binary_op); Average adds, then scales.
_BINARY = {merging.Add: 0, merging.Subtract: 1, merging.Multiply: 2, merging.Maximum: 3,
           merging.Minimum: 4, merging.Average: 0}


def _row_group(shape, out_shape):
    """For an input of ``shape`` broadcast to ``out_shape``: how many
    consecutive rows (the last axis being a row) of the output each of its
    rows serves, or None when it broadcasts in another way."""
    aligned = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    if len(aligned) != len(out_shape) or aligned[-1] != out_shape[-1]:
        return None
    p = 0
    while p < len(out_shape) - 1 and aligned[p] == out_shape[p]:
        p += 1
    if any(d != 1 for d in aligned[p:-1]):
        return None
    return max(_size(out_shape[p:-1]), 1)


def _lower_merge(b, step, x_slots, y_slot):
    _no_fold(step)
    layer = step.layer
    shape = b.shape(y_slot)
    if any(b.shape(s) != shape for s in x_slots):
        groups = [_row_group(b.shape(s), shape) for s in x_slots]
        if len(x_slots) != 2 or None in groups:
            raise _Unsupported("a merge that broadcasts other than over whole rows")
        cols = shape[-1]
        rows = _size(shape) // cols if cols else 0
        y = b.tensor(y_slot)
        b.op(kind=BINARY_ROWS, act=_BINARY[type(layer)], rows=rows, cols=cols,
             group_x=groups[0], group_x2=groups[1], x=b.tensor(x_slots[0]),
             x2=b.tensor(x_slots[1]), y=y)
        if type(layer) is merging.Average:
            b.op(kind=SCALE, alpha=0.5, rows=1, cols=_size(shape), x=y, y=y)
        return
    size = _size(shape)
    y = b.tensor(y_slot)
    xs = [b.tensor(s) for s in x_slots]
    if len(xs) == 1:
        b.op(kind=COPY, rows=1, cols=size, x=xs[0], y=y)
    else:
        op = _BINARY[type(layer)]
        b.op(kind=BINARY, act=op, rows=1, cols=size, x=xs[0], x2=xs[1], y=y)
        for x in xs[2:]:
            b.op(kind=BINARY, act=op, rows=1, cols=size, x=y, x2=x, y=y)
    if type(layer) is merging.Average:
        b.op(kind=SCALE, alpha=1.0 / len(xs), rows=1, cols=size, x=y, y=y)


# The operations on symbolic tensors a plan runs: ops.add(x, 3.0), x / 255.0,
# 2.0 * x, h * g, ... (pynn_binary, as ops computes them), and -x.
_TENSOR_BINARY = {"add": 0, "subtract": 1, "multiply": 2, "maximum": 3, "minimum": 4,
                  "divide": 5, "true_divide": 5}


def _lower_tensor_operation(b, step, x_slots, y_slot):
    _no_fold(step)
    layer = step.layer
    x_slots = x_slots if isinstance(x_slots, (list, tuple)) else [x_slots]
    shape = b.shape(y_slot)
    if layer.kwargs:
        raise _Unsupported("an operation with keyword arguments")
    if layer.op == "negative" and len(layer.args) == 1 and layer.args[0] == {"__tensor__": 0}:
        b.op(kind=SCALE, alpha=-1.0, rows=1, cols=_size(shape), x=b.tensor(x_slots[0]),
             y=b.tensor(y_slot))
        return
    if layer.op not in _TENSOR_BINARY or len(layer.args) != 2:
        raise _Unsupported(f"operation {layer.op!r}")
    cols = shape[-1] if shape else 1
    rows = _size(shape) // cols if cols else 0
    operands = []
    for arg in layer.args:
        if isinstance(arg, dict) and "__tensor__" in arg:
            slot = x_slots[arg["__tensor__"]]
            group = _row_group(b.shape(slot), shape) if shape else 1
            operands.append((b.tensor(slot), group))
            continue
        value = np.asarray(arg["__array__"] if isinstance(arg, dict) and "__array__" in arg
                           else arg)
        if value.dtype.kind not in "biuf" or value.ndim > len(shape):
            raise _Unsupported("a constant operand that is not numbers")
        # The constant as one output row (each row reads it), or as rows
        # of its own where it varies along more axes.
        value = value.astype(np.float32)
        if value.size == 1:
            operands.append((b.constant(np.full(max(cols, 1), value.reshape(-1)[0],
                                                np.float32)), max(rows, 1)))
            continue
        group = _row_group(value.shape, shape)
        if group is None:
            raise _Unsupported("a constant that broadcasts other than over whole rows")
        operands.append((b.constant(value), group))
    if any(g is None for _, g in operands):
        raise _Unsupported("an operand that broadcasts other than over whole rows")
    (x, gx), (x2, gx2) = operands
    b.op(kind=BINARY_ROWS, act=_TENSOR_BINARY[layer.op], rows=rows, cols=cols, group_x=gx,
         group_x2=gx2, x=x, x2=x2, y=b.tensor(y_slot))


def _lower_concatenate(b, step, x_slots, y_slot):
    """ops.concatenate: each input copied as a block of rows into its
    columns of the output."""
    _no_fold(step)
    shape = b.shape(y_slot)
    axis = step.layer._axis(len(shape))
    if axis == 0:
        # (joining along the batch axis, of inputs of shape (batch,): the
        # output's rows are not the batch the plan's shapes assume)
        raise _Unsupported
    rows, inner = _size(shape[:axis]), _size(shape[axis + 1:])
    ldy = shape[axis] * inner
    y = b.tensor(y_slot)
    offset = 0
    for s in x_slots:
        cols = b.shape(s)[axis] * inner
        # (An empty output still gets its storage from these steps.)
        b.op(kind=COPY_BLOCK, rows=rows, cols=cols, ldx=cols, ldy=ldy, x=b.tensor(s),
             y=_Ref("r", y.index, offset if rows else 0))
        offset += cols


_LOWER = {
    core.Dense: _lower_dense,
    conv.Conv2D: _lower_conv,
    conv.Conv1D: _lower_conv,
    conv.DepthwiseConv2D: _lower_depthwise,
    conv.SeparableConv2D: _lower_separable,
    pooling.MaxPooling2D: _lower_pool,
    pooling.AveragePooling2D: _lower_pool,
    pooling.MaxPooling1D: _lower_pool,
    pooling.AveragePooling1D: _lower_pool,
    pooling.GlobalMaxPooling2D: _lower_global_pool,
    pooling.GlobalAveragePooling2D: _lower_global_pool,
    pooling.GlobalMaxPooling1D: _lower_global_pool,
    pooling.GlobalAveragePooling1D: _lower_global_pool,
    core.Activation: _lower_activation,
    act_layers.ReLU: _lower_relu,
    act_layers.LeakyReLU: _lower_leaky_relu,
    act_layers.ELU: _lower_elu,
    act_layers.Softmax: _lower_softmax,
    normalization.BatchNormalization: _lower_batch_norm,
    core.Flatten: _lower_flatten,
    core.Reshape: _lower_flatten,
    act_layers.PReLU: _lower_prelu,
    preprocessing.Rescaling: _lower_rescaling,
    preprocessing.Normalization: _lower_normalization,
    reshaping.ZeroPadding1D: _lower_shift,
    reshaping.ZeroPadding2D: _lower_shift,
    reshaping.ZeroPadding3D: _lower_shift,
    reshaping.Cropping1D: _lower_shift,
    reshaping.Cropping2D: _lower_shift,
    reshaping.Cropping3D: _lower_shift,
    lambda_layer.TensorOperation: _lower_tensor_operation,
}
# Steps of several inputs: the elementwise merges and concatenation.
_LOWER_MERGE = {**{kind: _lower_merge for kind in _BINARY},
                merging.Concatenate: _lower_concatenate,
                lambda_layer.TensorOperation: _lower_tensor_operation}
_MERGES = frozenset(_LOWER_MERGE)


def plannable(prog):
    """Whether every step of the program is of a kind a plan runs (the
    shapes decide the rest, in build_plan)."""
    if prog.has_masks or any(d != "float32" for d in (prog.dtypes[s]
                                                       for s in prog.input_slots)):
        return False
    # A plan computes float32 arithmetic only: a step with a boolean (or
    # other) result (ops.greater, ops.logical_and, ...) stays in Python.
    if any(prog.dtypes[s] != "float32" for step in prog.steps for s in step.outs):
        return False
    for step in prog.steps:
        kind = type(step.layer)
        # (a channels_first layer moves its data around the kernels: the
        # Python path runs it)
        if getattr(step.layer, "data_format", None) == "channels_first":
            return False
        if not step.single_out or not (kind in _LOWER and step.single_in or
                                       kind in _MERGES and not step.single_in):
            return False
    return True


def _shapes_for(prog, input_shapes):
    """Every slot's shape for inputs of ``input_shapes``: the program's,
    or, where it left sizes unknown (a model built for any image size),
    each step's output shape from the sizes of its inputs."""
    if all(d is not None for shape in prog.shapes for d in shape[1:]):
        return prog.shapes
    shapes = list(prog.shapes)
    for s, shape in zip(prog.input_slots, input_shapes):
        known = prog.shapes[s]
        if len(shape) != len(known) or any(k is not None and k != d
                                           for k, d in zip(known[1:], shape[1:])):
            raise _Unsupported("inputs of other shapes (the Python path explains)")
        shapes[s] = (None,) + tuple(shape[1:])
    for step in prog.steps:
        ins = shapes[step.ins[0]] if step.single_in else [shapes[i] for i in step.ins]
        try:
            out = step.layer.compute_output_shape(ins)
        except (TypeError, ValueError):
            raise _Unsupported("a step whose output shape its inputs do not give") from None
        for slot, shape in zip(step.outs, [out] if step.single_out else out):
            shapes[slot] = (None,) + tuple(shape[1:])
    return shapes


def build_plan(prog, input_shapes):
    """The plan of ``prog`` for inputs of ``input_shapes`` (the batch
    included), or None when one of its steps cannot be planned for them."""
    batch = input_shapes[0][0] if input_shapes else 0
    try:
        b = _Builder(prog, batch, _shapes_for(prog, input_shapes))
    except _Unsupported:
        return None
    try:
        for s, shape in zip(prog.input_slots, input_shapes):
            if tuple(shape) != b.shape(s):
                return None
        for step in prog.steps:
            kind = type(step.layer)
            if kind in _MERGES:
                _LOWER_MERGE[kind](b, step, step.ins, step.outs[0])
            else:
                _LOWER[kind](b, step, step.ins[0], step.outs[0])
        return b.finish()
    except _Unsupported:
        return None
