"""Sequence layers to TFLite builtin operators.

- Embedding -> GATHER (after a CAST when the ids arrive as float32);
  ReversibleEmbedding the same, and FULLY_CONNECTED by its table (MUL,
  TANH, MUL for a soft cap) when called with ``reverse=True``.
- LSTM -> UNIDIRECTIONAL_SEQUENCE_LSTM and SimpleRNN ->
  UNIDIRECTIONAL_SEQUENCE_RNN (weights split per gate and transposed to
  [units, in]), with STRIDED_SLICE taking the last step when the layer
  returns only it and REVERSE_V2 in front for ``go_backwards``.  The ops
  keep their states in variable tensors; pynn refills them with zeros by a
  FILL, sized from the input's batch, at the start of every invocation, so
  the model is stateless and its batch size stays free (TensorFlow's
  converter leaves the state of the last invocation there, to be cleared
  with ``reset_all_variables``).
- GRU (TFLite has no fused GRU), and an LSTM or SimpleRNN the fused ops
  cannot express (initial states as inputs, ``return_state``, activations
  other than the fused ones) or written for full integer (the fused ops
  take no int8 activations): unrolled over the known number of steps,
  one FULLY_CONNECTED for the input projection of all steps, UNPACK, then
  per step a FULLY_CONNECTED of the state, SPLIT into gates, LOGISTIC,
  TANH, MUL, ADD and SUB, and PACK of the outputs (for full integer, one
  FULLY_CONNECTED per gate in place of each, so that every gate's values
  get an int8 scale of their own).  Full integer
  calibrates these ops' tensors by running them on NumPy
  (graph.evaluate) from the layer's calibration inputs.
- RNN(cell) over SimpleRNNCell, LSTMCell, GRUCell: as the layer of that
  cell; over StackedRNNCells of them: those layers in turn, each
  returning its whole sequence to the next.
- Bidirectional -> both directions (the backward one between REVERSE_V2
  ops) and CONCATENATION, ADD, MUL or ADD and MUL by 0.5.
- TimeDistributed(Dense) -> FULLY_CONNECTED over the last axis; over other
  layers, their ops between RESHAPEs of the steps into the batch and back.
- ConvLSTM1D/2D/3D: unrolled as the GRU, with CONV_2D (CONV_3D for the
  3-D layer, float kernels only) for the input and recurrent
  transformations.

- Masks: Embedding(mask_zero=True) -> NOT_EQUAL of the ids and 0, CAST
  to a float32 0/1 mask (a mask given to the call as a graph tensor, the
  same: converter._given_masks); Masking -> NOT_EQUAL, REDUCE_ANY over the
  features, CAST, and MUL of the input by the mask.  A masked recurrent
  layer is unrolled, each step's new states blended with the old ones by
  the step's mask (MUL, ADD), as Keras skips the masked steps.

Stateful layers are not exported.
"""
import numpy as np

# Cell activations UNIDIRECTIONAL_SEQUENCE_LSTM / _RNN apply themselves.
_FUSED_CELL = {"tanh": "TANH", "relu": "RELU", "linear": "NONE"}
_NO_ACT = {"FusedActivationFunction": 0}


def _op(ctx, layer, code, inputs, shape, name, options=None, dtype=np.float32):
    """One op with one output of ``shape`` (batch first); returns the output."""
    y = ctx.g.activation(name, shape, dtype=dtype)
    ctx.g.add(code, inputs, [y], options, layer.name)
    return y


def _binary(ctx, layer, code, a, b, name):
    table = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[code]
    return _op(ctx, layer, code, [a, b], (None,) + a.shape[1:], name, (table, dict(_NO_ACT)))


def _activation(ctx, layer, x, act, name):
    """``act`` applied to ``x`` as builtin ops (hard_sigmoid as Keras 3's
    relu6(x + 3) / 6)."""
    shape = (None,) + x.shape[1:]
    if act == "linear":
        return x
    if act == "hard_sigmoid":
        g = ctx.g
        shifted = _binary(ctx, layer, "ADD", x, g.constant(f"{layer.name}/three",
                                                           np.full((1,), 3.0, np.float32)),
                          f"{name}/add")
        clipped = _op(ctx, layer, "RELU6", [shifted], shape, f"{name}/relu6")
        return _binary(ctx, layer, "MUL", clipped,
                       g.constant(f"{layer.name}/sixth", np.full((1,), 1 / 6, np.float32)),
                       name)
    code = {"tanh": "TANH", "sigmoid": "LOGISTIC", "relu": "RELU"}[act]
    return _op(ctx, layer, code, [x], shape, name)


def _check(ctx, step, layer):
    """What no sequence handler exports: carried states."""
    if getattr(layer, "stateful", False):
        raise ctx.error(layer, "stateful=True layers are not exported; export a copy "
                                 "built with stateful=False")


def _float_mask(ctx, layer, present, name):
    """A bool tensor as the float32 0/1 mask the masked handlers use."""
    from .writer import _tflite
    _, tfl = _tflite()
    return _op(ctx, layer, "CAST", [present], (None,) + present.shape[1:], name,
               ("CastOptions", {"InDataType": tfl.TensorType.BOOL,
                                "OutDataType": tfl.TensorType.FLOAT32}))


# ------------------------------------------------------------- embedding

def embedding(ctx, step, k, xs):
    layer = step.layer
    _check(ctx, step, layer)
    ids = xs[0]
    g = ctx.g
    if ids.dtype != np.int32:
        from .writer import _tflite
        _, tfl = _tflite()
        ids = _op(ctx, layer, "CAST", [ids], (None,) + ids.shape[1:], f"{layer.name}/ids",
                  ("CastOptions", {"InDataType": tfl.TensorType.FLOAT32,
                                   "OutDataType": tfl.TensorType.INT32}), dtype=np.int32)
    table = g.constant(f"{layer.name}/embeddings",
                       ctx.value(layer, layer.embeddings, "embeddings"), role="table")
    shape = ctx.program.shapes[step.outs[0]]
    y = ctx.out_tensor(layer, step.name, shape, None)
    g.add("GATHER", [table, ids], [y], ("GatherOptions", {"Axis": 0, "BatchDims": 0}),
          layer.name)
    if layer.mask_zero:
        # (Keras's mask: the ids other than 0)
        present = _op(ctx, layer, "NOT_EQUAL", [ids, g.scalar(f"{layer.name}/pad_id", 0,
                                                              np.int32)],
                      (None,) + ids.shape[1:], f"{layer.name}/mask_bool", dtype=np.bool_)
        ctx.out_masks = [_float_mask(ctx, layer, present, f"{layer.name}/mask")]
    return y


def reversible_embedding(ctx, step, k, xs):
    """ReversibleEmbedding: GATHER as Embedding; called with
    ``reverse=True``, FULLY_CONNECTED by the embeddings (tied: the table
    is the [vocabulary, features] weight as it stands) or by
    reverse_embeddings, then MUL, TANH, MUL for ``logit_soft_cap``."""
    layer = step.layer
    if not step.nodes[0].call_args.get("reverse"):
        return embedding(ctx, step, k, xs)
    kernel = ctx.value(layer, layer.embeddings, "embeddings").T if layer.tie_weights else \
        ctx.value(layer, layer.reverse_embeddings, "reverse_embeddings")
    shape = ctx.program.shapes[step.outs[0]]
    cap = layer.logit_soft_cap
    logits = ctx.fully_connected(layer, xs[0], kernel, None, layer.name,
                                 step.name if cap is None else f"{layer.name}/logits", shape,
                                 (k, "out") if cap is None else
                                 (k, lambda v: np.asarray(v, np.float64) @ kernel))
    if cap is None:
        return logits
    scaled = ctx.with_constant(layer, "MUL", logits, 1.0 / cap, f"{layer.name}/scaled",
                               (k, lambda v: np.asarray(v, np.float64) @ kernel / cap))
    capped = ctx.unary(layer, "TANH", scaled, f"{layer.name}/tanh",
                       (k, lambda v: np.tanh(np.asarray(v, np.float64) @ kernel / cap)))
    return ctx.with_constant(layer, "MUL", capped, cap, step.name, (k, "out"))


def masking(ctx, step, k, xs):
    """Masking: a step is kept where any feature differs from mask_value
    (NOT_EQUAL, REDUCE_ANY over the features), the others zeroed (MUL by
    the mask)."""
    layer, x, g = step.layer, xs[0], ctx.g
    if len(x.shape) != 3:
        raise ctx.error(layer, f"only (batch, steps, features) inputs are exported, got "
                               f"{x.shape}")
    _, steps, _ = x.shape
    differs = _op(ctx, layer, "NOT_EQUAL",
                  [x, g.scalar(f"{layer.name}/mask_value", layer.mask_value, np.float32)],
                  (None,) + x.shape[1:], f"{layer.name}/differs", dtype=np.bool_)
    present = _op(ctx, layer, "REDUCE_ANY", [differs, ctx.int32(f"{layer.name}/features", [2])],
                  (None, steps), f"{layer.name}/mask_bool", ("ReducerOptions",
                                                             {"KeepDims": False}),
                  dtype=np.bool_)
    mask = _float_mask(ctx, layer, present, f"{layer.name}/mask")
    ctx.out_masks = [mask]
    column = ctx.reshape(layer, mask, (None, steps, 1), f"{layer.name}/mask_column")
    y = ctx.out_tensor(layer, step.name, ctx.program.shapes[step.outs[0]], (k, "out"))
    g.add("MUL", [x, column], [y], ("MulOptions", dict(_NO_ACT)), layer.name)
    return y


# ------------------------------------------------------------- recurrent

def _weights(ctx, layer):
    kernel = ctx.value(layer, layer.kernel, "kernel")
    rec = ctx.value(layer, layer.recurrent_kernel, "recurrent_kernel")
    bias = ctx.value(layer, layer.bias, "bias") if layer.bias is not None else None
    return kernel, rec, bias


def _batch_dims(ctx, layer, x, units, name):
    """[batch, units] as an int32 vector, the batch read from ``x``."""
    g = ctx.g
    shape = g.tensor(f"{name}/input_shape", (len(x.shape),), np.int32)
    g.add("SHAPE", [x], [shape], ("ShapeOptions", {"OutType": 2}), layer.name)  # INT32
    batch = g.tensor(f"{name}/batch", (1,), np.int32)
    g.add("STRIDED_SLICE", [shape, ctx.int32(f"{name}/begin", [0]),
                            ctx.int32(f"{name}/end", [1]), ctx.int32(f"{name}/strides", [1])],
          [batch], ("StridedSliceOptions", {}), layer.name)
    dims = g.tensor(f"{name}/dims", (2,), np.int32)
    g.add("CONCATENATION", [batch, ctx.int32(f"{name}/units", [units])], [dims],
          ("ConcatenationOptions", {"Axis": 0, **_NO_ACT}), layer.name)
    return dims


def _zeros(ctx, layer, dims, units, name, variable=False):
    """A (batch, units) tensor of zeros, filled at every invocation."""
    g = ctx.g
    z = g.activation(name, (None, units))
    z.is_variable = variable
    g.add("FILL", [dims, g.scalar(f"{name}/zero", 0.0, np.float32)], [z], None, layer.name)
    return z


def _reverse(ctx, layer, x, name):
    return _op(ctx, layer, "REVERSE_V2", [x, ctx.int32(f"{name}/axis", [1])],
               (None,) + x.shape[1:], name, ("ReverseV2Options", {}))


def _last_step(ctx, layer, seq, name):
    """seq[:, -1] of a (batch, steps, units) sequence."""
    _, steps, units = seq.shape
    return _op(ctx, layer, "STRIDED_SLICE",
               [seq, ctx.int32(f"{name}/begin", [0, steps - 1, 0]),
                ctx.int32(f"{name}/end", [0, steps, 0]),
                ctx.int32(f"{name}/strides", [1, 1, 1])],
               (None, units), name,
               ("StridedSliceOptions", {"BeginMask": 5, "EndMask": 5, "ShrinkAxisMask": 2}))


def _fusable(layer, initial):
    if initial or layer.return_state or layer.activation not in _FUSED_CELL:
        return False
    return layer._cell_op == "simple_rnn" or (layer._cell_op == "lstm" and
                                          layer.recurrent_activation == "sigmoid")


def _fused(ctx, layer, x, name):
    """The whole sequence (batch, steps, units), in processing order, from
    UNIDIRECTIONAL_SEQUENCE_LSTM or _RNN."""
    g = ctx.g
    units = layer.units
    gates = layer.gates
    kernel, rec, bias = _weights(ctx, layer)
    if bias is None:
        bias = np.zeros(gates * units, np.float32)
    dims = _batch_dims(ctx, layer, x, units, f"{name}/state")
    parts = [slice(i * units, (i + 1) * units) for i in range(gates)]
    gate = ["input", "forget", "cell", "output"] if gates == 4 else [""]
    kw = [g.constant(f"{layer.name}/kernel_{n}".rstrip("_"), kernel[:, p].T, role="weight")
          for n, p in zip(gate, parts)]
    rw = [g.constant(f"{layer.name}/recurrent_kernel_{n}".rstrip("_"), rec[:, p].T,
                     role="weight") for n, p in zip(gate, parts)]
    bs = [g.constant(f"{layer.name}/bias_{n}".rstrip("_"), bias[p], role="bias")
          for n, p in zip(gate, parts)]
    seq_shape = (None, x.shape[1], units)
    from .writer import _tflite
    _, tfl = _tflite()
    act = getattr(tfl.ActivationFunctionType, _FUSED_CELL[layer.activation])
    if layer._cell_op == "lstm":
        h = _zeros(ctx, layer, dims, units, f"{name}/output_state", variable=True)
        c = _zeros(ctx, layer, dims, units, f"{name}/cell_state", variable=True)
        inputs = [x] + kw + rw + [None] * 3 + bs + [None] * 2 + [h, c] + [None] * 4
        return _op(ctx, layer, "UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, seq_shape,
                   f"{name}/sequence",
                   ("UnidirectionalSequenceLSTMOptions",
                    {"FusedActivationFunction": act, "CellClip": 0.0, "ProjClip": 0.0,
                     "TimeMajor": False}))
    h = _zeros(ctx, layer, dims, units, f"{name}/hidden_state", variable=True)
    return _op(ctx, layer, "UNIDIRECTIONAL_SEQUENCE_RNN", [x, kw[0], rw[0], bs[0], h],
               seq_shape, f"{name}/sequence",
               ("SequenceRNNOptions", {"FusedActivationFunction": act, "TimeMajor": False}))


def _split(ctx, layer, x, n, name):
    units = x.shape[-1] // n
    outs = [ctx.g.activation(f"{name}_{i}", (None, units)) for i in range(n)]
    ctx.g.add("SPLIT", [ctx.g.scalar(f"{name}/axis", 1, np.int32), x], outs,
              ("SplitOptions", {"NumSplits": n}), layer.name)
    return outs


def _dense(ctx, layer, x, w, b, name):
    """x @ W + b over the last axis, W a constant tensor in TFLite's
    [units, in] layout (b a constant or None)."""
    opts = dict(_NO_ACT)
    if len(x.shape) > 2:
        opts["KeepNumDims"] = True
    return _op(ctx, layer, "FULLY_CONNECTED", [x, w, b], (None,) + x.shape[1:-1] + w.shape[:1],
               name, ("FullyConnectedOptions", opts))


def _step_masks(ctx, layer, mask, name):
    """A (batch, steps) 0/1 mask as per-step (batch, 1) columns: the mask
    and one minus it."""
    g = ctx.g
    steps = mask.shape[1]
    kept = ctx.reshape(layer, mask, (None, steps, 1), f"{name}/mask_steps")
    dropped = _op(ctx, layer, "SUB", [g.constant(f"{name}/one", np.ones((1,), np.float32)),
                                      kept], kept.shape, f"{name}/mask_complement",
                  ("SubOptions", dict(_NO_ACT)))
    cols = []
    for src, what in ((kept, "mask"), (dropped, "mask_complement")):
        outs = [g.activation(f"{name}/{what}_{t}", (None, 1)) for t in range(steps)]
        g.add("UNPACK", [src], outs, ("UnpackOptions", {"Num": steps, "Axis": 1}), layer.name)
        cols.append(outs)
    return cols


def _unrolled(ctx, layer, x, initial, name, mask=None):
    """The cell written out step by step: (outputs in processing order,
    final states).  With a mask, a masked step keeps the states (new * m +
    old * (1 - m)) and outputs the carried state, or zeros with
    ``zero_output_for_mask``, as pynn's layers."""
    g = ctx.g
    units, gates, cell = layer.units, layer.gates, layer._cell_op
    steps = x.shape[1]
    kernel, rec, bias = _weights(ctx, layer)
    reset_after = cell == "gru" and layer.reset_after
    in_bias = bias[0] if reset_after and bias is not None else bias
    rec_bias = bias[1] if reset_after and bias is not None else None

    def weight(label, w):
        return g.constant(f"{layer.name}/{label}", w.T, role="weight")

    def vector(label, b):
        return None if b is None else g.constant(f"{layer.name}/{label}", b, role="bias")

    # Full integer: one projection per gate, each with its own int8 scale
    # (together, the forget gate's bias of 1 would set the step of gates
    # whose values stay within +-0.05); float: one for all gates, SPLIT.
    per_gate = ctx.int8 and gates > 1

    def cols(w, i):
        return None if w is None else w[..., i * units:(i + 1) * units]

    def projection(label, w, b, n):
        """(batch, steps, n * units) x w + b, as the n gates' per-step
        (batch, units) tensors (per gate) or their (batch, n * units)
        concatenation."""
        parts = range(n) if per_gate else [None]
        out = []
        for i in parts:
            suffix = "" if i is None else f"_{i}"
            wi, bi = (w, b) if i is None else (cols(w, i), cols(b, i))
            proj = _dense(ctx, layer, x, weight(f"{label}{suffix}", wi),
                          vector(f"bias{suffix}", bi), f"{name}/input_projection{suffix}")
            ts = [g.activation(f"{name}/input_projection{suffix}_{t}",
                               (None, proj.shape[-1])) for t in range(steps)]
            g.add("UNPACK", [proj], ts, ("UnpackOptions", {"Num": steps, "Axis": 1}),
                  layer.name)
            out.append(ts)
        return [[o[t] for o in out] if per_gate else out[0][t] for t in range(steps)]

    xs = projection("kernel", kernel, in_bias, gates)
    n_rec = gates if reset_after or cell != "gru" else 2
    rec_w = rec if reset_after or cell != "gru" else rec[:, :2 * units]
    if per_gate:
        rws = [weight(f"recurrent_kernel_{i}", cols(rec_w, i)) for i in range(n_rec)]
        rbs = [vector(f"recurrent_bias_{i}", cols(rec_bias, i)) for i in range(n_rec)]
    else:
        rw = weight("recurrent_kernel" if n_rec == gates else "recurrent_kernel_zr", rec_w)
        rb = vector("recurrent_bias", rec_bias)
    if cell == "gru" and not reset_after:
        rw_h = weight("recurrent_kernel_h", rec[:, 2 * units:])

    def recurrent(h, p):
        """h x the recurrent kernel (+ its bias): per gate, or (float) all
        of them, split for a GRU."""
        if per_gate:
            return [_dense(ctx, layer, h, w, b, f"{p}/recurrent_{i}")
                    for i, (w, b) in enumerate(zip(rws, rbs))]
        hr = _dense(ctx, layer, h, rw, rb, f"{p}/recurrent")
        # (a GRU's gates are split from it; an LSTM's from its sum with xt)
        return _split(ctx, layer, hr, n_rec, f"{p}/recurrent_gate") if cell == "gru" else hr

    def sums(xt, hr, p):
        """The gates' pre-activations xt + hr."""
        if per_gate:
            return [_binary(ctx, layer, "ADD", a, b, f"{p}/z_{i}")
                    for i, (a, b) in enumerate(zip(xt, hr))]
        return _split(ctx, layer, _binary(ctx, layer, "ADD", xt, hr, f"{p}/z"), gates,
                      f"{p}/gate")
    if initial:
        states = list(initial)
    else:
        dims = _batch_dims(ctx, layer, x, units, f"{name}/state")
        states = [_zeros(ctx, layer, dims, units, f"{name}/initial_state_{i}")
                  for i in range(layer.state_count)]
    h, c = states[0], states[-1]
    act, rec_act = layer.activation, layer.recurrent_activation
    outputs = []
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    if mask is not None:
        kept, dropped = _step_masks(ctx, layer, mask, name)

        def keep(new, old, t, label):
            return _binary(ctx, layer, "ADD",
                           _binary(ctx, layer, "MUL", new, kept[t], f"{label}_new"),
                           _binary(ctx, layer, "MUL", old, dropped[t], f"{label}_old"), label)
    for t in order:
        p = f"{name}/step_{t}"
        xt = xs[t]
        h_old, c_old = h, c
        hr = recurrent(h, p)
        if cell == "simple_rnn":
            h = _activation(ctx, layer, _binary(ctx, layer, "ADD", xt, hr, f"{p}/sum"), act,
                            f"{p}/h")
        elif cell == "lstm":
            zi, zf, zc, zo = sums(xt, hr, p)
            i = _activation(ctx, layer, zi, rec_act, f"{p}/i")
            f = _activation(ctx, layer, zf, rec_act, f"{p}/f")
            o = _activation(ctx, layer, zo, rec_act, f"{p}/o")
            cand = _activation(ctx, layer, zc, act, f"{p}/candidate")
            c = _binary(ctx, layer, "ADD", _binary(ctx, layer, "MUL", f, c, f"{p}/keep"),
                        _binary(ctx, layer, "MUL", i, cand, f"{p}/write"), f"{p}/c")
            h = _binary(ctx, layer, "MUL", o, _activation(ctx, layer, c, act, f"{p}/c_act"),
                        f"{p}/h")
        else:
            xz, xr, xh = xt if per_gate else _split(ctx, layer, xt, 3, f"{p}/input_gate")
            if reset_after:
                hz, hr_, hh = hr
            else:
                hz, hr_ = hr
            z = _activation(ctx, layer, _binary(ctx, layer, "ADD", xz, hz, f"{p}/z_sum"),
                            rec_act, f"{p}/z")
            r = _activation(ctx, layer, _binary(ctx, layer, "ADD", xr, hr_, f"{p}/r_sum"),
                            rec_act, f"{p}/r")
            if reset_after:
                gated = _binary(ctx, layer, "MUL", r, hh, f"{p}/reset")
            else:
                gated = _dense(ctx, layer, _binary(ctx, layer, "MUL", r, h, f"{p}/reset"),
                               rw_h, None, f"{p}/reset_recurrent")
            cand = _activation(ctx, layer, _binary(ctx, layer, "ADD", xh, gated,
                                                   f"{p}/candidate_sum"), act,
                               f"{p}/candidate")
            # h = z * h + (1 - z) * candidate = candidate + z * (h - candidate)
            h = _binary(ctx, layer, "ADD", cand,
                        _binary(ctx, layer, "MUL", z,
                                _binary(ctx, layer, "SUB", h, cand, f"{p}/delta"),
                                f"{p}/update"), f"{p}/h")
        if mask is None:
            outputs.append(h)
            continue
        new_h = h
        h = keep(new_h, h_old, t, f"{p}/h_masked")
        if cell == "lstm":
            c = keep(c, c_old, t, f"{p}/c_masked")
        outputs.append(_binary(ctx, layer, "MUL", new_h, kept[t], f"{p}/output")
                       if layer.zero_output_for_mask else h)
    return outputs, [h, c][:layer.state_count]


def _direction(ctx, layer, x, initial, name, time_order, mask=None):
    """One recurrent layer's outputs: [output] (+ final states with
    ``return_state``).  ``time_order``: a returned sequence is put back in
    time order (Bidirectional's backward layer).  A masked sequence is
    unrolled (the fused ops take no mask)."""
    fused = mask is None and not ctx.int8 and _fusable(layer, initial)
    if layer.go_backwards and fused:
        x = _reverse(ctx, layer, x, f"{name}/reversed_input")
    if fused:
        seq = _fused(ctx, layer, x, name)
        states = []
        last = None
    else:
        outs, states = _unrolled(ctx, layer, x, initial, name, mask)
        last = outs[-1]
        seq = None
        if layer.return_sequences:
            seq = _op(ctx, layer, "PACK", outs, (None, len(outs), layer.units),
                      f"{name}/sequence", ("PackOptions", {"ValuesCount": len(outs),
                                                           "Axis": 1}))
    if layer.return_sequences:
        out = _reverse(ctx, layer, seq, f"{name}/time_order") if time_order else seq
    else:
        out = last if last is not None else _last_step(ctx, layer, seq, f"{name}/last")
    return [out] + (list(states) if layer.return_state else [])


def _calibrated(ctx, k, start, xs, mask):
    """Calibration of the tensors written by the ops of step ``k`` from
    ``start`` on (an unrolled recurrence): those ops run in float on
    NumPy from the step's inputs ``xs`` and its input mask."""
    from .graph import evaluate
    ops = ctx.g.ops[start:]
    last = {}

    def values(inp, masks):
        if last.get("inp") is not inp:  # (once per batch, for all the tensors)
            given = {id(t): np.asarray(v, np.float64)
                     for t, v in zip(xs, inp if isinstance(inp, list) else [inp])}
            if mask is not None:
                m = masks[0] if isinstance(masks, list) else masks
                given[id(mask)] = np.asarray(m, np.float64)
            last["inp"], last["values"] = inp, evaluate(ops, given)
        return last["values"]
    for op in ops:
        for t in op.outputs:
            if t.stat is None and t.dtype == np.float32:
                t.stat = (k, ("masked", lambda inp, masks, t=t: values(inp, masks)[id(t)]))


def recurrent(ctx, step, k, xs):
    layer = step.layer
    _check(ctx, step, layer)
    start = len(ctx.g.ops)
    ys = _direction(ctx, layer, xs[0], xs[1:], layer.name, False, ctx.in_masks[0])
    _calibrated(ctx, k, start, xs, ctx.in_masks[0])
    for t, name in zip(ys, _output_names(step, len(ys))):
        t.name = ctx.g._unique(name)
    return ys if len(ys) > 1 else ys[0]


def _cell_layers(ctx, layer):
    """The recurrent layers RNN(cell) computes as: the one pynn runs it
    with, for a built-in cell; one per cell of a StackedRNNCells of
    built-in cells, each returning its sequence to the next (the first
    reading the input backwards for ``go_backwards``)."""
    from ..layers.rnn import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
    if layer._fast is not None:
        return [layer._fast]
    cells = layer.cell.cells if isinstance(layer.cell, StackedRNNCells) else [layer.cell]
    for c in cells:
        if type(c) not in (SimpleRNNCell, LSTMCell, GRUCell):
            raise ctx.error(layer, f"RNN over a {type(c).__name__} has no TensorFlow Lite form "
                                   f"in pynn.lite; RNN exports over SimpleRNNCell, LSTMCell, "
                                   f"GRUCell and StackedRNNCells of them")
    if layer.go_backwards and ctx.in_masks and ctx.in_masks[0] is not None:
        raise ctx.error(layer, "a masked RNN over stacked cells with go_backwards=True has no "
                               "TensorFlow Lite form in pynn.lite")
    layers = []
    for i, c in enumerate(cells):
        last = i == len(cells) - 1
        fast = c.layer_class(**c._layer_kwargs(), name=c.name,
                             return_sequences=layer.return_sequences or not last,
                             return_state=layer.return_state,
                             go_backwards=layer.go_backwards and i == 0,
                             zero_output_for_mask=layer.zero_output_for_mask)
        fast.kernel, fast.recurrent_kernel, fast.bias = c.kernel, c.recurrent_kernel, c.bias
        layers.append(fast)
    return layers


def rnn(ctx, step, k, xs):
    """RNN(cell): the recurrent layers of its cells in turn."""
    layer = step.layer
    start = len(ctx.g.ops)
    x, initial = xs[0], list(xs[1:])
    mask = ctx.in_masks[0] if ctx.in_masks else None
    states = []
    for fast in _cell_layers(ctx, layer):
        n = fast.state_count
        ys = _direction(ctx, fast, x, initial[:n], f"{layer.name}/{fast.name}", False, mask)
        initial = initial[n:]
        x = ys[0]
        states += ys[1:]
    _calibrated(ctx, k, start, xs, mask)
    ys = [x] + states
    for t, name in zip(ys, _output_names(step, len(ys))):
        t.name = ctx.g._unique(name)
    return ys if len(ys) > 1 else ys[0]


def _output_names(step, n):
    return [step.name] if n == 1 else [f"{step.name}_{i}" for i in range(n)]


def bidirectional(ctx, step, k, xs):
    layer = step.layer
    _check(ctx, step, layer)
    fwd, bwd = layer.forward_layer, layer.backward_layer
    states = xs[1:]
    half = len(states) // 2
    mask = ctx.in_masks[0]
    start = len(ctx.g.ops)
    fy = _direction(ctx, fwd, xs[0], states[:half], fwd.name, False, mask)
    by = _direction(ctx, bwd, xs[0], states[half:], bwd.name, True, mask)
    f, b = fy[0], by[0]
    mode = layer.merge_mode
    shape = (None,) + f.shape[1:]
    if mode is None:
        outs = [f, b]
    elif mode == "concat":
        outs = [_op(ctx, layer, "CONCATENATION", [f, b],
                    shape[:-1] + (2 * shape[-1],), f"{layer.name}/concat",
                    ("ConcatenationOptions", {"Axis": len(shape) - 1, **_NO_ACT}))]
    elif mode == "mul":
        outs = [_binary(ctx, layer, "MUL", f, b, f"{layer.name}/mul")]
    else:
        y = _binary(ctx, layer, "ADD", f, b, f"{layer.name}/add")
        if mode == "ave":
            y = _binary(ctx, layer, "MUL", y,
                        ctx.g.constant(f"{layer.name}/half", np.full((1,), 0.5, np.float32)),
                        f"{layer.name}/ave")
        outs = [y]
    outs += fy[1:] + by[1:]
    _calibrated(ctx, k, start, xs, mask)
    for t, name in zip(outs, _output_names(step, len(outs))):
        t.name = ctx.g._unique(name)
    return outs if len(outs) > 1 else outs[0]


def time_distributed(ctx, step, k, xs):
    """TimeDistributed(Dense): the dense layer over the last axis; over
    another layer: the steps RESHAPEd into the batch, the layer's ops, and
    a RESHAPE back."""
    from types import SimpleNamespace
    from .converter import _layer_kind, _restat, _wrapped_step, _dense as dense_handler
    layer = step.layer
    inner = layer.layer
    kind = _layer_kind(inner)
    shapes = ctx.program.shapes
    in_shape, out_shape = shapes[step.ins[0]], shapes[step.outs[0]]
    inner_in, inner_out = (None,) + tuple(in_shape[2:]), (None,) + tuple(out_shape[2:])
    start = len(ctx.g.ops)

    def merged(v):  # (the steps in the batch: the inner layer's input)
        return np.asarray(v).reshape((-1,) + tuple(inner_in[1:]))
    if kind == "Dense":
        proxy = SimpleNamespace(layer=inner, act=None, fold=None, nodes=step.nodes,
                                outs=step.outs, name=step.name)
        y = dense_handler(ctx, proxy, k, xs)
        _restat(ctx.g.ops[start:], k, inner, merged)
        return y
    flat = ctx.reshape(layer, xs[0], inner_in, f"{layer.name}/steps_in_batch")
    y = _wrapped_step(ctx, step, k, inner, flat, inner_in, inner_out,
                      f"{layer.name}/{inner.name}")
    _restat(ctx.g.ops[start:], k, inner, merged)
    return ctx.reshape(layer, y, out_shape, step.name)


def conv_lstm(ctx, step, k, xs):
    """ConvLSTM1D/2D/3D unrolled over its known number of steps, as
    TensorFlow's converter lowers the layer's loop: the input convolution of
    all the steps at once (the steps folded into the batch by RESHAPE;
    CONV_2D, at height 1 for the 1-D layer, or CONV_3D), RESHAPE and UNPACK
    into steps, then per step CONV_2D / CONV_3D of the hidden state ('same',
    no bias; none on the first step from zero states), ADD, SPLIT into the
    gates, their activations, MUL and ADD for the cell and hidden states;
    PACK of the outputs for return_sequences.  Full integer calibrates the
    tensors by running the ops on NumPy, as the unrolled LSTM."""
    layer, g = step.layer, ctx.g
    _check(ctx, step, layer)
    for act in (layer.activation, layer.recurrent_activation):
        if act not in ("linear", "tanh", "sigmoid", "relu", "hard_sigmoid"):
            raise ctx.error(layer, f"the activation {act!r} has no TensorFlow Lite form in "
                                   f"pynn.lite's ConvLSTM; use tanh, sigmoid, hard_sigmoid, "
                                   f"relu or linear")
    start = len(g.ops)
    name, x, f, r = layer.name, xs[0], layer.filters, layer.rank
    steps, frame = x.shape[1], tuple(x.shape[2:])
    state = tuple(layer._state_shape((None,) + tuple(x.shape[1:]))[1:])
    # the 1-D layer at height 1: frames, states and kernels get an axis of 1
    lift = (lambda shape: (1,) + tuple(shape)) if r == 1 else tuple
    frame4, state4 = lift(frame[:-1]) + frame[-1:], lift(state[:-1]) + state[-1:]
    code = "CONV_3D" if r == 3 else "CONV_2D"

    def conv(inp, kernel, bias, strides, padding, dilation, shape, what):
        w = ctx.value(layer, kernel, what)
        w = w[None] if r == 1 else w
        strides, dilation = lift(strides), lift(dilation)
        inputs = [inp, g.constant(f"{name}/{what}", w if r == 3 else w.transpose(3, 0, 1, 2),
                                  role="weight")]
        if bias is not None:
            inputs.append(g.constant(f"{name}/bias", ctx.value(layer, bias, "bias"), role="bias"))
        elif r != 3:
            inputs.append(g.constant(f"{name}/{what}_bias", np.zeros(4 * f, np.float32),
                                     role="bias"))
        from .writer import padding_code
        fields = {"Padding": padding_code(padding), "FusedActivationFunction": 0,
                  "StrideH": int(strides[-2]), "StrideW": int(strides[-1]),
                  "DilationHFactor": int(dilation[-2]), "DilationWFactor": int(dilation[-1])}
        if r == 3:
            fields.update(StrideD=int(strides[0]), DilationDFactor=int(dilation[0]))
        return _op(ctx, layer, code, inputs, shape, f"{name}/{what}_conv",
                   ("Conv3DOptions" if r == 3 else "Conv2DOptions", fields))

    frames = ctx.reshape(layer, x, (None,) + frame4, f"{name}/frames")
    zx = conv(frames, layer.kernel, layer.bias, layer.strides, layer.padding,
              layer.dilation_rate, (None,) + state4[:-1] + (4 * f,), "kernel")
    zx = ctx.reshape(layer, zx, (None, steps) + state4[:-1] + (4 * f,), f"{name}/steps")
    gates_shape = (None,) + state4[:-1] + (4 * f,)
    zxs = [g.activation(f"{name}/step_{t}", gates_shape) for t in range(steps)]
    g.add("UNPACK", [zx], zxs, ("UnpackOptions", {"Num": steps, "Axis": 1}), name)
    h, c = ([ctx.reshape(layer, s, (None,) + state4, f"{name}/initial_{i}") if r == 1 else s
             for i, s in enumerate(xs[1:3])] if len(xs) > 1 else (None, None))
    shape = (None,) + state4
    outs = []
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    for s, t in enumerate(order):
        p = f"{name}/t{s}"
        z = zxs[t]
        if h is not None:
            zh = conv(h, layer.recurrent_kernel, None, (1,) * r, "same", (1,) * r, gates_shape,
                      "recurrent_kernel")
            z = _binary(ctx, layer, "ADD", z, zh, f"{p}/z")
        parts = [g.activation(f"{p}/gate_{i}", shape) for i in range(4)]
        g.add("SPLIT", [g.scalar(f"{p}/axis", len(shape) - 1, np.int32), z], parts,
              ("SplitOptions", {"NumSplits": 4}), name)
        ra, a = layer.recurrent_activation, layer.activation
        i = _activation(ctx, layer, parts[0], ra, f"{p}/i")
        fg = _activation(ctx, layer, parts[1], ra, f"{p}/f")
        cand = _activation(ctx, layer, parts[2], a, f"{p}/g")
        o = _activation(ctx, layer, parts[3], ra, f"{p}/o")
        c_new = _binary(ctx, layer, "MUL", i, cand, f"{p}/ig")
        if c is not None:
            c_new = _binary(ctx, layer, "ADD", c_new, _binary(ctx, layer, "MUL", fg, c,
                                                              f"{p}/fc"), f"{p}/c")
        c = c_new
        h = _binary(ctx, layer, "MUL", o, _activation(ctx, layer, c, a, f"{p}/tc"), f"{p}/h")
        outs.append(h)
    if layer.return_sequences:
        y = _op(ctx, layer, "PACK", outs, (None, steps) + state4, f"{name}/sequence",
                ("PackOptions", {"ValuesCount": steps, "Axis": 1}))
    else:
        y = h
    ys = [y] + ([h, c] if layer.return_state else [])
    if r == 1:
        ys = [ctx.reshape(layer, t, (None,) + tuple(t.shape[1:-3]) + tuple(t.shape[-2:]),
                          f"{name}/output_{i}") for i, t in enumerate(ys)]
    if r != 3:  # (CONV_3D has no int8 kernel: full integer refuses the model by its name)
        _calibrated(ctx, k, start, xs, None)
    for t, out_name in zip(ys, _output_names(step, len(ys))):
        t.name = g._unique(out_name)
    return ys if len(ys) > 1 else ys[0]


HANDLERS = {
    "Embedding": embedding,
    "ReversibleEmbedding": reversible_embedding,
    "Masking": masking,
    "SimpleRNN": recurrent,
    "LSTM": recurrent,
    "GRU": recurrent,
    "RNN": rnn,
    "Bidirectional": bidirectional,
    "TimeDistributed": time_distributed,
    "ConvLSTM1D": conv_lstm,
    "ConvLSTM2D": conv_lstm,
    "ConvLSTM3D": conv_lstm,
}
