"""Post-training quantization, as TensorFlow's converter does it.

Each mode rewrites the float graph built by pynn.lite.converter:

float16
    every float32 constant is stored as float16 and a DEQUANTIZE op turns
    it back into float32 at run time; the arithmetic stays float32.
dynamic range
    the weights of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D ops with
    at least 1024 values are stored as symmetric int8 (per output channel,
    zero point 0); the interpreter's hybrid kernels quantize activations on
    the fly (asymmetrically, ``asymmetric_quantize_inputs``) and the model
    keeps float inputs, outputs and activations.  Smaller weights stay
    float, as TensorFlow leaves them.  The weights of
    UNIDIRECTIONAL_SEQUENCE_LSTM / _RNN ops are int8 together (one scale
    each), and an embedding table is gathered as int8 rows and
    dequantized.
full integer
    activations are int8, asymmetric, with ranges calibrated by running
    the model over the representative dataset; weights int8 symmetric per
    output channel, biases int32 with scale ``input_scale * weight_scale``.  SOFTMAX and LOGISTIC
    outputs use the fixed scale 1/256 and zero point -128, TANH 1/128 and
    0, and ops that only move values (RESHAPE, pooling, REDUCE_MAX, PAD,
    MEAN, SLICE, TRANSPOSE, TILE, the resizes, UNPACK, SPLIT, REVERSE_V2)
    keep their input's quantization, as GATHER keeps its int8 table's; NEG
    becomes MUL by -1 (its int8 kernel ignores the zero point); shapes
    computed at run time (SHAPE and what follows it), token ids and
    boolean masks stay as they are, and a mask CAST to numbers is int8 0
    and 1 at scale 1.  Recurrent layers are unrolled (the graph is built
    with ``int8=True``), each step's tensors calibrated on their own;
    an attention mask's fill (and a constant fill of 1e9 subtracted in a
    traced call) is set below the scores' calibrated range.  A TANH whose
    calibrated input stays within +-0.5 becomes its series in MUL and ADD
    (its int8 output step of 1/128 is too coarse for small values), and
    SQUARE becomes MUL (no int8 kernel).
    The model's input and output are float32 with QUANTIZE and DEQUANTIZE
    ops at the ends, or int8 / uint8 when asked.
"""
import numpy as np

from .graph import Quant, Tensor

# Weights smaller than this stay float in dynamic-range models; quantizing
# them saves little and costs accuracy (TensorFlow's default threshold).
DYNAMIC_MIN_ELEMENTS = 1024

# Ops whose output keeps its input's quantization (they move or pick
# values without computing new ones).
SAME_SCALE_OPS = {"RESHAPE", "MAX_POOL_2D", "AVERAGE_POOL_2D", "REDUCE_MAX", "PAD", "PADV2",
                  "MEAN", "SLICE", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "TRANSPOSE",
                  "TILE", "UNPACK", "SPLIT", "REVERSE_V2", "MIRROR_PAD"}
# The input holding the values, where it is not the first (SPLIT's first
# is the axis); all the outputs of these ops take its quantization.
_VALUES_INPUT = {"SPLIT": 1}
FIXED_OUTPUT = {"SOFTMAX": (1.0 / 256.0, -128), "LOGISTIC": (1.0 / 256.0, -128),
                "TANH": (1.0 / 128.0, 0), "L2_NORMALIZATION": (1.0 / 128.0, 0)}
# Ops whose int8 kernels need every input quantized as the output is
# (they compare or copy quantized values): inputs with other parameters
# are requantized by a QUANTIZE op in front.
SHARED_SCALE_OPS = {"CONCATENATION", "MAXIMUM", "MINIMUM", "PACK"}
# Builtin ops that have int8 kernels in the interpreter.
INT8_OPS = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D",
            "AVERAGE_POOL_2D", "MEAN", "REDUCE_MAX", "RESHAPE", "PAD", "PADV2", "SOFTMAX",
            "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "ELU", "HARD_SWISH", "MUL", "ADD",
            "SUB", "CONCATENATION", "MAXIMUM", "MINIMUM", "BATCH_MATMUL", "L2_NORMALIZATION",
            "QUANTIZE", "DEQUANTIZE", "SLICE", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR",
            "TRANSPOSE", "TILE", "PRELU", "SQUARED_DIFFERENCE", "RSQRT", "TRANSPOSE_CONV",
            "SHAPE", "STRIDED_SLICE", "GELU", "GATHER", "ABS", "EXP", "LOG", "NOT_EQUAL",
            "EQUAL", "GREATER", "FILL", "UNPACK", "SPLIT", "PACK", "REVERSE_V2", "SUM",
            "MIRROR_PAD"}
# The weight input of each weighted op and the axis of its output channels.
WEIGHT_AXIS = {"FULLY_CONNECTED": 0, "CONV_2D": 0, "DEPTHWISE_CONV_2D": 3}
# Full integer: each weighted op's (activation, weight, bias) inputs and
# the axis of the weight's output channels.
WEIGHTED = {"FULLY_CONNECTED": (0, 1, 2, 0), "CONV_2D": (0, 1, 2, 0),
            "DEPTHWISE_CONV_2D": (0, 1, 2, 3), "TRANSPOSE_CONV": (2, 1, 3, 0)}
# Ops whose constant inputs (a scale, a shift, a slope) are quantized with
# parameters of their own.
CONSTANT_OPERAND_OPS = {"MUL", "ADD", "SUB", "PRELU"}


def _error(message):
    from .converter import ConversionError
    return ConversionError(message)


# --------------------------------------------------------------- float16

def float16(graph):
    """Store every float32 constant as float16 behind a DEQUANTIZE; one
    with values beyond float16's range (a mask's 1e9) stays float32, as
    infinities would turn its products with 0 into NaN."""
    from .graph import Op
    dequant = []
    limit = np.finfo(np.float16).max
    for t in graph.tensors():
        if not t.is_constant or t.dtype != np.float32 or np.abs(t.data).max(initial=0) > limit:
            continue
        half = Tensor(t.name + "/fp16", t.shape, np.float16,
                      data=t.data.astype(np.float16), role=t.role)
        f32 = Tensor(t.name, t.shape, np.float32)  # computed once, at the start
        graph.replace_input(t, f32)
        dequant.append(Op("DEQUANTIZE", [half], [f32]))
    graph.ops[:0] = dequant


# --------------------------------------------------------- weight helpers

def symmetric_int8(w, axis=None):
    """Symmetric int8 of ``w`` in [-127, 127], zero point 0: one scale, or
    one per slice along ``axis``."""
    w = np.asarray(w, np.float32)
    if axis is None:
        amax = np.array([np.max(np.abs(w))]) if w.size else np.zeros(1)
    else:
        amax = np.max(np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)), axis=1)
    scale = (amax.astype(np.float64) / 127.0)
    scale[scale == 0] = 1.0  # an all-zero channel: any scale gives zeros
    s = scale if axis is None else scale.reshape(
        [-1 if i == axis else 1 for i in range(w.ndim)])
    q = np.clip(np.round(w / s), -127, 127).astype(np.int8)
    quant = Quant(scale.astype(np.float32), np.zeros(scale.size, np.int64),
                  axis=0 if axis is None else axis)
    return q, quant


def asymmetric_params(lo, hi, qmin=-128, qmax=127):
    """Scale and zero point mapping [lo, hi] (widened to hold 0) onto
    [qmin, qmax], with 0 exactly representable."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-30:
        # Always zero: any scale holds it; a moderate one keeps the
        # rescaling factors of the ops around it in the kernels' ranges.
        # (A range that is small but not zero keeps its own scale: an
        # untrained deep network's signal shrinks by orders of magnitude
        # from layer to layer, and each tensor still needs its 256 steps.)
        hi = lo + 1.0
    scale = (hi - lo) / (qmax - qmin)
    zp = int(np.clip(np.round(qmin - lo / scale), qmin, qmax))
    return np.float32(scale), zp


def _quantize_values(x, quant, dtype=np.int8):
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float64) / float(quant.scale[0])) + int(quant.zero_point[0])
    return np.clip(q, info.min, info.max).astype(dtype)


# --------------------------------------------------------- dynamic range

# The weight inputs of the recurrent ops, quantized together (their hybrid
# kernels take int8 weights with one scale per tensor, all or none).
SEQUENCE_WEIGHTS = {"UNIDIRECTIONAL_SEQUENCE_LSTM": range(1, 9),
                    "UNIDIRECTIONAL_SEQUENCE_RNN": range(1, 3)}


def _hybrid_sequence_op(op):
    """Int8 weights for an LSTM or RNN op whose weights hold at least
    DYNAMIC_MIN_ELEMENTS values together."""
    ws = [op.inputs[i] for i in SEQUENCE_WEIGHTS[op.code]]
    if not all(w is not None and w.is_constant and w.dtype == np.float32 for w in ws) or \
            sum(w.data.size for w in ws) < DYNAMIC_MIN_ELEMENTS:
        return
    for i in SEQUENCE_WEIGHTS[op.code]:
        w = op.inputs[i]
        q, quant = symmetric_int8(w.data)
        op.inputs[i] = Tensor(w.name, w.shape, np.int8, data=q, quant=quant, role=w.role)
    table, fields = op.options
    op.options = (table, {**fields, "AsymmetricQuantizeInputs": True})


def _int8_table(graph, op):
    """An embedding table stored as int8 (one scale): GATHER picks int8 rows
    and a DEQUANTIZE after it turns them back into float32."""
    from .graph import Op
    table = op.inputs[0]
    if not table.is_constant or table.dtype != np.float32 or \
            table.data.size < DYNAMIC_MIN_ELEMENTS:
        return
    q, quant = symmetric_int8(table.data)
    op.inputs[0] = Tensor(table.name, table.shape, np.int8, data=q, quant=quant,
                          role=table.role)
    out = op.outputs[0]
    rows = Tensor(out.name + "/int8", out.shape, np.int8, quant=quant,
                  dynamic_batch=out.dynamic_batch)
    op.outputs[0] = rows
    graph.ops.insert(graph.ops.index(op) + 1,
                     Op("DEQUANTIZE", [rows], [out], ("DequantizeOptions", {}), op.layer))


def dynamic_range(graph, per_channel_dense=True):
    """Hybrid ops: int8 weights, float everything else."""
    done = {}  # a weight read by several ops (an unrolled recurrence) is stored once
    for op in list(graph.ops):
        if op.code in SEQUENCE_WEIGHTS:
            _hybrid_sequence_op(op)
            continue
        if op.code == "GATHER":
            _int8_table(graph, op)
            continue
        axis = WEIGHT_AXIS.get(op.code)
        if axis is None:
            continue
        w = op.inputs[1]
        if id(w) in done:
            op.inputs[1] = done[id(w)]
        else:
            if not w.is_constant or w.dtype != np.float32 or \
                    w.data.size < DYNAMIC_MIN_ELEMENTS or w.role == "param":
                continue  # (small, or a fixed transform rather than learned weights)
            per_channel = op.code != "FULLY_CONNECTED" or per_channel_dense
            q, quant = symmetric_int8(w.data, axis if per_channel else None)
            op.inputs[1] = done[id(w)] = Tensor(w.name, w.shape, np.int8, data=q, quant=quant,
                                                role=w.role)
        if op.code == "FULLY_CONNECTED":
            table, fields = op.options
            op.options = (table, {**fields, "AsymmetricQuantizeInputs": True})


# ------------------------------------------------------------ calibration

def representative_batches(dataset, inputs, chunk=256):
    """The samples of a tf.lite-style representative dataset (a callable
    returning an iterable of lists of input arrays, one per model input,
    or of dicts by input name) as batches of at most ``chunk`` rows: a list
    of [array per input]."""
    gen = dataset() if callable(dataset) else dataset
    if gen is None:
        raise _error("representative_dataset returned None; it must return an iterable of "
                     "lists of input arrays, e.g. `yield [x[i:i+1]]`")
    wants = [tuple(t.shape[1:]) for t in inputs]
    names = [t.name for t in inputs]
    samples = [[] for _ in inputs]
    try:
        iterator = iter(gen)
    except TypeError:
        raise _error(f"representative_dataset must return an iterable of lists of input "
                     f"arrays, got {type(gen).__name__}") from None
    count = 0
    for i, item in enumerate(iterator):
        if isinstance(item, dict):
            missing = [n for n in names if n not in item]
            if missing and len(item) == len(names):
                item = list(item.values())
            elif missing:
                raise _error(f"representative_dataset sample {i} lacks the inputs {missing}")
            else:
                item = [item[n] for n in names]
        if not isinstance(item, (list, tuple)):
            item = [item]
        if len(item) != len(wants):
            raise _error(f"representative_dataset sample {i} has {len(item)} inputs; the model "
                         f"has {len(wants)}")
        rows = None
        for j, (a, want) in enumerate(zip(item, wants)):
            x = np.asarray(a)
            if x.dtype.kind not in "iub":  # (integer ids and codes as they are: float32
                x = x.astype(np.float32)  # rounds those beyond 2**24)
            if x.shape == want:
                x = x[None]
            if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
                raise _error(f"representative_dataset sample {i} has shape {x.shape} for input "
                             f"{names[j]!r}; the model input is "
                             f"(None, {', '.join(map(str, want))})")
            if not np.all(np.isfinite(x)):
                raise _error(f"representative_dataset sample {i} contains NaN or infinite "
                             f"values")
            if rows is not None and x.shape[0] != rows:
                raise _error(f"representative_dataset sample {i}: the inputs have different "
                             f"numbers of rows")
            rows = x.shape[0]
            samples[j].append(x)
        count += 1
    if not count:
        raise _error("representative_dataset yielded no samples; calibration needs at least one")
    data = [np.concatenate(s, axis=0) for s in samples]
    return [[d[i:i + chunk] for d in data] for i in range(0, data[0].shape[0], chunk)]


def _preactivation(step, x):
    """A dense or convolution step's output before its activation."""
    from ..models.node import CallContext
    layer = step.layer
    fold = step.fold.inference_affine() if step.fold is not None else None
    return layer.infer(CallContext(), x, fold=fold, activation="linear")


def calibrate(model, graph, batches):
    """Min and max of every tensor with a ``stat`` over ``batches``, by
    running the model's inference program step by step (on the host: a
    model placed on a GPU returns there afterwards)."""
    with model._on_host():
        return _calibrate(model, graph, batches)


def wanted_stats(tensors):
    """The tensors with a calibration statistic, by the step (or "input")
    it is taken at."""
    wanted = {}
    for t in tensors:
        if t.stat is not None and not t.is_constant:
            wanted.setdefault(t.stat[0], []).append(t)
    return wanted


def run_recording(program, state, wanted, xs, record, masks=None):
    """Run an inference ``program`` on the inputs ``xs`` (carrying
    ``masks``, one per input, or None), giving ``record(tensor, value)`` the
    value of each tensor of ``wanted`` (see wanted_stats) as its statistic
    says."""
    from ..models.functional import run_masked
    index = {id(step): k for k, step in enumerate(program.steps)}

    def compute(step, ctx, x):
        k = index[id(step)]
        for t in wanted.get(k, []):  # before the step's own call reuses its buffers
            kind = t.stat[1]
            if kind == "pre":
                record(t, _preactivation(step, x))
            elif isinstance(kind, tuple) and kind[0] == "pre":  # f(pre-activation)
                record(t, kind[1](_preactivation(step, x)))
            elif isinstance(kind, tuple) and kind[0] == "masked":  # f(inputs, their masks)
                record(t, kind[1](x, ctx.mask))
            elif callable(kind):
                record(t, kind(x))
        y = step.run(ctx, x)
        for t in wanted.get(k, []):
            if t.stat[1] == "out":  # (the first output of several)
                record(t, y if step.single_out else y[0])
        return np.array(y) if step.single_out else [np.array(v) for v in y]

    for t in wanted.get("input", []):
        record(t, xs[t.stat[1]])
    vals = [None] * len(program.shapes)
    mask_of = [None] * len(program.shapes)
    masks = list(masks or []) + [None] * (len(xs) - len(masks or []))
    for s, x, m in zip(program.input_slots, xs, masks):
        vals[s], mask_of[s] = x, m
    # (the masks the inputs carry reach the steps that use them, as in
    # predict)
    run_masked(program.steps, state, vals, mask_of, compute)


def _calibrate(model, graph, batches):
    from ..models.passes import inference_program
    program = inference_program(model)
    wanted = wanted_stats(graph.tensors())
    ranges = {}

    def record(t, v):
        v = np.asarray(v)
        lo, hi = float(v.min()), float(v.max())
        old = ranges.get(id(t))
        ranges[id(t)] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))

    state = program.new_state()
    dtypes = [np.dtype(d) for d in model._input_dtypes(len(program.input_slots))]
    for batch in batches:
        run_recording(program, state, wanted,
                      [np.ascontiguousarray(b, d) for b, d in zip(batch, dtypes)], record)
    return ranges


# ------------------------------------------------------------ full integer

def full_integer(graph, ranges, input_type=np.int8, output_type=np.int8, int8_only=False):
    """Rewrite ``graph`` to int8 activations and weights (see the module
    docstring).  ``input_type`` / ``output_type`` are the model's interface
    types: float32 (QUANTIZE / DEQUANTIZE at the ends), int8 or uint8."""
    ids = _float_ids(graph)
    for op in graph.ops:
        real = op.inputs[0] is not None and op.inputs[0].dtype == np.float32
        if op.code == "NEG" and real:  # (integers, ids or codes, stay as they are)
            # NEG's kernel negates the stored integers, which is -x only
            # for a zero point of 0: MUL by -1 rescales as it should.
            minus_one = Tensor(f"{op.outputs[0].name}/minus_one", (1,),
                               data=np.array([-1.0], np.float32), role="param")
            op.code, op.inputs = "MUL", [op.inputs[0], minus_one]
            op.options = ("MulOptions", {"FusedActivationFunction": 0})
        elif op.code == "SQUARE" and real:
            # (SQUARE has no int8 kernel; MUL of the input by itself has)
            op.code, op.inputs = "MUL", [op.inputs[0], op.inputs[0]]
            op.options = ("MulOptions", {"FusedActivationFunction": 0})
        floats = [t for t in op.inputs + op.outputs if t is not None and
                  t.dtype == np.float32 and id(t) not in ids]
        if op.code not in INT8_OPS and floats and not _mask_cast(op):
            raise _error(f"Layer {op.layer!r}: the op {op.code} has no int8 kernel, so the "
                         f"model cannot be fully integer"
                         + (" with supported_ops=[TFLITE_BUILTINS_INT8]" if int8_only else ""))
    _known_ranges(graph, ranges)
    _constant_fills(graph, ranges)
    _small_tanh(graph, ranges)
    # In execution order, so that each op sees its input's parameters.
    for t in graph.inputs:
        if t.dtype == np.float32 and id(t) not in ids:  # (token ids stay as they are)
            _set_from_range(t, ranges, f"the model input {t.name!r}")
    for op in list(graph.ops):
        out = op.outputs[0]
        if op.code in ("NOT_EQUAL", "EQUAL", "GREATER"):
            # (a mask's comparison with a constant, in the other input's
            # parameters)
            for i, c in enumerate(op.inputs):
                if c.is_constant and c.dtype == np.float32:
                    op.inputs[i] = _int8_constant(c, op.inputs[1 - i].quant)
        if out.dtype != np.float32:
            continue  # a shape computed at run time (int32), a mask, stay as they are
        if op.code == "GATHER":
            # rows of the int8 table keep its parameters
            table = op.inputs[0]
            op.inputs[0] = _int8_constant(table, Quant(*asymmetric_params(
                table.data.min(), table.data.max())))
            q = op.inputs[0].quant
            out.quant = Quant(q.scale.copy(), q.zero_point.copy())
        elif _mask_cast(op):
            # a 0/1 mask: bool to the integers 0 and 1, which are the values
            # themselves at scale 1
            from .writer import _tflite
            table, fields = op.options
            op.options = (table, {**fields, "OutDataType": _tflite()[1].TensorType.INT8})
            out.quant = Quant(np.float32(1.0), 0)
        elif op.code in SAME_SCALE_OPS:
            q = op.inputs[_VALUES_INPUT.get(op.code, 0)].quant
            for o in op.outputs:
                o.quant = Quant(q.scale.copy(), q.zero_point.copy())
        elif op.code in FIXED_OUTPUT:
            scale, zp = FIXED_OUTPUT[op.code]
            out.quant = Quant(np.float32(scale), zp)
        else:
            _set_from_range(out, ranges, f"the output of {op.code} in layer {op.layer!r}")
        if op.code in SHARED_SCALE_OPS:
            _share_output_scale(graph, op)
        if op.code in WEIGHTED:
            _quantize_weighted(op)
        elif op.code in CONSTANT_OPERAND_OPS:
            for i, c in enumerate(op.inputs):
                if c is not None and c.is_constant and c.dtype == np.float32:
                    scale, zp = asymmetric_params(c.data.min(), c.data.max())
                    op.inputs[i] = _int8_constant(c, Quant(scale, zp))
        elif op.code == "FILL":
            # (the value, in the output's parameters)
            op.inputs[1] = _int8_constant(op.inputs[1], out.quant)
        elif op.code == "PADV2":
            # the padding value, in the output's (the input's) parameters
            op.inputs[2] = _int8_constant(op.inputs[2], out.quant)
        if op.code in ("ADD", "SUB"):
            # The int8 kernels rescale each input to the output: ADD's by a
            # factor below 2**19 (the interpreter aborts otherwise), XNNPACK's
            # below 256 (outputs of branches that nearly cancel).
            _widen(out, max(float(x.quant.scale[0]) for x in op.inputs) / MAX_RESCALE)
        _uncap(op)
    for t in graph.tensors():
        if not t.is_constant and t.dtype == np.float32 and id(t) not in ids:
            t.dtype = np.dtype(np.int8)
    _interface(graph, input_type, output_type)


def _float_ids(graph):
    """The ids of the float32 model inputs that only CASTs to integers read
    (token ids given as floats, for an Embedding): they stay float32, as
    quantizing them would change the ids."""
    readers = {}
    for op in graph.ops:
        for t in op.inputs:
            if t is not None:
                readers.setdefault(id(t), []).append(op)
    return {id(t) for t in graph.inputs
            if t.dtype == np.float32 and readers.get(id(t)) and
            all(op.code == "CAST" and op.outputs[0].dtype.kind in "iu"
                for op in readers[id(t)])}


def _mask_cast(op):
    """A CAST of booleans to a float32 0/1 mask (Embedding(mask_zero=True),
    Masking, attention masks given as inputs)."""
    return op.code == "CAST" and op.inputs[0].dtype == np.bool_ and \
        op.outputs[0].dtype == np.float32


def _known_ranges(graph, ranges):
    """Ranges known without calibration: ``("range", lo, hi)`` (a 0/1
    mask), and those of an attention mask's fill (see
    converter._mask_scores): the fill constant becomes MASK_MARGIN more than
    the scores reach below 0, so that a masked score, -fill, is that far
    below any row's smallest."""
    from .converter import MASK_MARGIN
    for t in graph.tensors():
        if t.stat is None or t.stat[0] not in ("range", "mask"):
            continue
        if t.stat[0] == "range":
            ranges[id(t)] = t.stat[1:]
            continue
        scores, what = t.stat[1:]
        r = ranges.get(id(scores))
        if r is None:
            continue  # (refused where the scores are quantized)
        lo, hi = min(r[0], 0.0), max(r[1], 0.0)
        fill = MASK_MARGIN - lo
        if what == "fill":
            t.data = np.array([fill], np.float32)
        else:
            ranges[id(t)] = {"bias": (-fill, 0.0), "kept": (lo, hi),
                             "masked": (-fill, hi)}[what]


# A constant added or subtracted with magnitude at least this is a mask's
# fill (Keras's attention layers subtract 1e9 from masked scores).
FILL_MAGNITUDE = 1e8


def _constant_fills(graph, ranges):
    """ADD / SUB of a constant holding a mask's fill (1e9 where a step is
    masked, 0 elsewhere, as a traced ``scores - 1e9 * masked`` writes it):
    the fill becomes MASK_MARGIN more than the other operand's calibrated
    span, and the output's range goes down to that, so that a masked value
    still lies MASK_MARGIN below every kept one while the int8 scale
    resolves the kept values (at 1e9 every score would round to one
    step)."""
    from .converter import MASK_MARGIN
    for op in graph.ops:
        if op.code not in ("ADD", "SUB") or len(op.inputs) != 2:
            continue
        for i, c in enumerate(op.inputs):
            x = op.inputs[1 - i]
            if c is None or not c.is_constant or c.dtype != np.float32 or x.is_constant or \
                    np.abs(c.data).max(initial=0) < FILL_MAGNITUDE or id(x) not in ranges:
                continue
            lo, hi = ranges[id(x)]
            fill = MASK_MARGIN + (max(hi, 0.0) - min(lo, 0.0))
            big = np.abs(c.data) >= FILL_MAGNITUDE
            op.inputs[i] = Tensor(c.name, c.shape, np.float32, role=c.role,
                                  data=np.where(big, np.sign(c.data) * fill, c.data)
                                  .astype(np.float32))
            sign = -1.0 if op.code == "SUB" and i == 1 else 1.0
            shift = sign * op.inputs[i].data
            ranges[id(op.outputs[0])] = (lo + min(float(shift.min()), 0.0),
                                         hi + max(float(shift.max()), 0.0))


# The widest calibrated input range (largest magnitude) of a TANH written
# as a polynomial in full integer models (see _small_tanh): there the
# series' error, 17 x**7 / 315 < 4e-4, is under a tenth of the int8 TANH's
# step.
SMALL_TANH = 0.5


def _small_tanh(graph, ranges):
    """TANH ops whose calibrated inputs stay within +-SMALL_TANH, written as
    x + x * s * (2/15 * s - 1/3), s = x * x (tanh's series to x**5) in
    MUL and ADD ops with calibrated scales of their own.  The int8 TANH
    kernel's output scale is fixed at 1/128: a recurrent state or a tanh
    output that stays under 0.1 would keep a dozen int8 steps and lose
    10 % and more; the polynomial's output spans its own range."""
    from .graph import Op
    for op in list(graph.ops):
        if op.code != "TANH" or id(op.inputs[0]) not in ranges:
            continue
        x, y = op.inputs[0], op.outputs[0]
        lo, hi = ranges[id(x)]
        if max(abs(lo), abs(hi)) > SMALL_TANH:
            continue
        grid = np.linspace(lo, hi, 4097)

        def tensor(label, v):
            t = Tensor(f"{y.name}/{label}", y.shape, np.float32, dynamic_batch=y.dynamic_batch)
            ranges[id(t)] = (float(v.min()), float(v.max()))
            return t

        def const(label, c):
            return Tensor(f"{y.name}/{label}", (1,), data=np.array([c], np.float32),
                          role="param")
        sq = grid * grid
        s = tensor("square", sq)
        a = tensor("scaled", sq * (2 / 15))
        b = tensor("shifted", sq * (2 / 15) - 1 / 3)
        d = tensor("series", sq * (sq * (2 / 15) - 1 / 3))
        f = tensor("correction", grid * sq * (sq * (2 / 15) - 1 / 3))
        mul, add = ("MulOptions", {"FusedActivationFunction": 0}), \
            ("AddOptions", {"FusedActivationFunction": 0})
        chain = [Op("MUL", [x, x], [s], mul, op.layer),
                 Op("MUL", [s, const("two_fifteenths", 2 / 15)], [a], mul, op.layer),
                 Op("ADD", [a, const("minus_third", -1 / 3)], [b], add, op.layer),
                 Op("MUL", [s, b], [d], mul, op.layer),
                 Op("MUL", [x, d], [f], mul, op.layer),
                 Op("ADD", [x, f], [y], add, op.layer)]
        at = graph.ops.index(op)
        graph.ops[at:at + 1] = chain
        ranges[id(y)] = (float(np.tanh(lo)), float(np.tanh(hi)))


def _int8_constant(c, quant):
    """The float constant ``c`` as int8 in ``quant``'s parameters."""
    q = Quant(quant.scale.copy(), quant.zero_point.copy())
    return Tensor(c.name, c.shape, np.int8, data=_quantize_values(c.data, q), quant=q,
                  role=c.role)


def _share_output_scale(graph, op):
    """Make every input of ``op`` carry the output's quantization, putting
    a QUANTIZE (int8 to int8 requantization) in front of those that do not.
    The output's calibrated range covers what its inputs bring to it."""
    from .graph import Op
    out_q = op.outputs[0].quant
    for i, x in enumerate(op.inputs):
        if x.is_constant and x.dtype == np.float32:
            op.inputs[i] = _int8_constant(x, out_q)
            continue
        q = x.quant
        if q is not None and float(q.scale[0]) == float(out_q.scale[0]) and \
                int(q.zero_point[0]) == int(out_q.zero_point[0]):
            continue
        y = Tensor(f"{x.name}/requantized", x.shape, np.float32,
                   quant=Quant(out_q.scale.copy(), out_q.zero_point.copy()),
                   dynamic_batch=x.dynamic_batch)
        requant = Op("QUANTIZE", [x], [y], ("QuantizeOptions", {}), op.layer)
        graph.ops.insert(graph.ops.index(op), requant)
        op.inputs[i] = y


# The largest ``input_scale * weight_scale / output_scale`` given to a
# weighted op, and ``input_scale / output_scale`` to ADD and SUB: XNNPACK,
# the interpreter's default CPU delegate, refuses 256 and above.
MAX_RESCALE = 255.0


def _quantize_weighted(op):
    """int8 weights per output channel, int32 bias with scale
    input_scale * weight_scale."""
    x_at, w_at, b_at, axis = WEIGHTED[op.code]
    w = op.inputs[w_at]
    q, wq = symmetric_int8(w.data, axis)
    op.inputs[w_at] = Tensor(w.name, w.shape, np.int8, data=q, quant=wq, role=w.role)
    in_scale = float(op.inputs[x_at].quant.scale[0])
    out = op.outputs[0]
    _widen(out, in_scale * float(wq.scale.max()) / MAX_RESCALE)
    b = op.inputs[b_at] if len(op.inputs) > b_at else None
    if b is not None:
        bscale = in_scale * wq.scale.astype(np.float64)
        qb = np.clip(np.round(b.data.astype(np.float64) / bscale),
                     -(2 ** 31 - 1), 2 ** 31 - 1).astype(np.int32)
        op.inputs[b_at] = Tensor(b.name, b.shape, np.int32, data=qb,
                              quant=Quant(bscale.astype(np.float32),
                                          np.zeros(bscale.size, np.int64)),
                              role=b.role)


# The fused activations with a cap (RELU6, RELU_N1_TO_1): the kernels
# quantize the cap in the output's parameters, into an int32.
_CAPS = {3: (6.0, 1), 2: (1.0, 0)}  # ActivationFunctionType -> (cap, the code without it)


def _uncap(op):
    """A fused RELU6 or RELU_N1_TO_1 on an output whose scale is so small
    that the cap does not fit an int32 (the interpreter's builtin kernels
    refuse the op) is written without the cap: the int8 range, under
    128 * scale, never reaches it."""
    fields = op.options[1] if op.options else {}
    cap = _CAPS.get(fields.get("FusedActivationFunction"))
    if cap is not None and cap[0] / float(op.outputs[0].quant.scale[0]) >= 2.0 ** 31:
        op.options = (op.options[0], {**fields, "FusedActivationFunction": cap[1]})


def _widen(out, floor):
    """An output range far narrower than the inputs can resolve (values
    that vanish or cancel): widen it to scale ``floor`` (keeping its low
    end) so the kernels accept it."""
    if float(out.quant.scale[0]) < floor:
        lo = float(out.quant.scale[0]) * (-128 - int(out.quant.zero_point[0]))
        zp = int(np.clip(np.round(-128 - lo / floor), -128, 127))
        out.quant = Quant(np.float32(floor), zp)


def _set_from_range(t, ranges, what):
    r = ranges.get(id(t))
    if r is None:
        raise _error(f"calibration found no values for {what}: that layer in this form "
                     f"exports as float32, float16 or dynamic range, not fully integer")
    scale, zp = asymmetric_params(*r)
    t.quant = Quant(scale, zp)


def _interface(graph, input_type, output_type):
    """The model's input and output tensors in the asked types: QUANTIZE
    in front of each float32 or uint8 input, DEQUANTIZE (or QUANTIZE, for
    uint8) after each output."""
    from .graph import Op
    input_type, output_type = np.dtype(input_type), np.dtype(output_type)
    if input_type != np.int8:
        for x in [x for x in graph.inputs if x.quant is not None]:
            inner = Tensor(x.name + "_int8", x.shape, np.int8, quant=x.quant,
                           dynamic_batch=x.dynamic_batch)
            graph.replace_input(x, inner)
            x.dtype = input_type
            x.quant = _shifted(inner.quant, input_type)
            graph.ops.insert(0, Op("QUANTIZE", [x], [inner], ("QuantizeOptions", {})))
    if output_type != np.int8:
        for y in [y for y in graph.outputs if y.quant is not None]:  # (ids stay integers)
            inner = Tensor(y.name + "_int8", y.shape, np.int8, quant=y.quant,
                           dynamic_batch=y.dynamic_batch)
            for op in graph.ops:
                op.outputs = [inner if t is y else t for t in op.outputs]
            graph.replace_input(y, inner)
            y.dtype = output_type
            y.quant = _shifted(inner.quant, output_type)
            code = "DEQUANTIZE" if output_type == np.float32 else "QUANTIZE"
            graph.ops.append(Op(code, [inner], [y],
                                ("DequantizeOptions", {}) if code == "DEQUANTIZE"
                                else ("QuantizeOptions", {})))


def _shifted(quant, dtype):
    """The interface tensor's quantization: none for float32, the int8
    parameters with zero point + 128 for uint8."""
    if dtype == np.float32:
        return None
    if dtype == np.uint8:
        return Quant(quant.scale.copy(), quant.zero_point + 128)
    return quant
