"""Graph passes shared by inference and the TFLite exporter.

:func:`inference_program` turns a model's graph into the program that
``predict``, ``evaluate`` and ``pynn.lite`` run: nested models are inlined,
then

1. layers that are the identity at inference (Dropout) are dropped;
2. a BatchNormalization right after a dense or convolution layer with no
   activation of its own is folded into that layer's kernel and bias
   (exact: inference-mode batch normalization is a per-channel affine map);
3. an Activation layer (or an activation layer whose plain form is one of
   the fused activations: ReLU() is relu, ReLU(6.) relu6) right after
   such a layer becomes that layer's fused activation.

A fold or fusion happens only where the intermediate tensor is read by
nothing else and is not a model output.  Each step keeps the nodes it
came from, so the exporter can name tensors after the layers.
"""
import numpy as np

from ..backend import _kernels, open_device_scopes
from ..layers.core import Activation, activation_changes
from ..layers.normalization import BatchNormalization
from ..training import _placements
from .node import CallContext
from .plan import build_plan, plannable

# Plans kept per program, one per set of input shapes (a predict over many
# batches uses two: the full batches and the last).
_MAX_PLANS = 8


class InferStep:
    """One kernel call of inference: a layer, its input and output slots,
    and what was folded (a BatchNormalization) or fused (an activation
    name) into it."""
    __slots__ = ("layer", "ins", "outs", "single_in", "single_out", "fold", "act", "nodes",
                 "mask_ins")

    def __init__(self, layer, ins, outs, single_in, single_out, node, mask_ins=()):
        self.layer = layer
        self.ins = list(ins)
        # the slots of the masks given to the call as tensors (Node.mask_layout)
        self.mask_ins = list(mask_ins)
        self.outs = list(outs)
        self.single_in = single_in
        self.single_out = single_out
        self.fold = None
        self.act = None
        self.nodes = [node]

    @property
    def name(self):
        """The name of the last layer merged into this step."""
        return self.nodes[-1].operation.name

    @property
    def node(self):
        return self.nodes[0]

    def run(self, ctx, x):
        if self.fold is None and self.act is None:
            return self.layer.forward(ctx, x, False)
        fold = self.fold.inference_affine() if self.fold is not None else None
        return self.layer.infer(ctx, x, fold=fold, activation=self.act)

    def __repr__(self):
        extra = (f" +fold {self.fold.name}" if self.fold else "") + \
            (f" +{self.act}" if self.act else "")
        return f"<InferStep {self.layer.name}{extra} {self.ins} -> {self.outs}>"


class InferenceProgram:
    """The steps of inference over numbered slots (the model inputs first).
    ``shapes[slot]`` and ``dtypes[slot]`` describe each tensor."""

    def __init__(self, model):
        self.shapes, self.dtypes = [], []
        self.steps = []
        self.input_slots = [self._slot(t.shape, t.dtype) for t in model._inputs]
        self.output_slots = self._inline(model, self.input_slots)
        self.has_masks = model._program.has_masks
        _drop_identities(self)
        _fold_batch_norm(self)
        _fuse_activations(self)
        self.plannable = plannable(self)
        self._plans = {}
        self.activation_changes = activation_changes()

    def __getstate__(self):
        """What a deep copy or a pickle of its model keeps: all but the
        compiled plans, which point at the original's weights (the copy
        plans again on first use)."""
        return dict(self.__dict__, _plans={})

    def _slot(self, shape, dtype):
        self.shapes.append(tuple(shape))
        self.dtypes.append(dtype)
        return len(self.shapes) - 1

    def _inline(self, model, in_slots):
        prog = model._program
        where = dict(zip(prog.input_slots, in_slots))
        for st in prog.steps:
            ins = [where[i] for i in st.ins]
            if st.is_model and not st.mask_ins:
                outs = self._inline(st.layer, ins)
            else:  # (a model given masks runs whole: its inputs carry them)
                outs = [self._slot(prog.shapes[o], t.dtype)
                        for o, t in zip(st.outs, st.node.output_tensors)]
                self.steps.append(InferStep(st.layer, ins, outs, st.single_in, st.single_out,
                                            st.node, [where[i] for i in st.mask_ins]))
            for o, g in zip(st.outs, outs):
                where[o] = g
        return [where[o] for o in prog.output_slots]

    def consumers(self):
        """For each slot, the steps that read it."""
        readers = [[] for _ in self.shapes]
        for step in self.steps:
            for s in step.ins + step.mask_ins:
                readers[s].append(step)
        return readers

    def new_state(self, device=None):
        """A context per step, with buffers on ``device`` (a GPU number, or
        None for the host)."""
        ctxs = [CallContext() for _ in self.steps]
        for ctx, step in zip(ctxs, self.steps):
            ctx.device = device
            if step.nodes[0].call_args:
                ctx.call_args = step.nodes[0].call_args
        return ctxs

    def run_planned(self, xs):
        """The outputs (new arrays) for the host arrays ``xs`` from the
        program's compiled plan for their shapes (built on first use, and
        again when a weight has been given a new array), or None where
        the program cannot be planned for them."""
        key = (xs[0].shape,) if len(xs) == 1 else tuple([x.shape for x in xs])
        plan = self._plans.get(key)
        if plan is not None:
            outs = plan.run(xs)
            if outs is not None:
                return outs
        elif key in self._plans:
            return None  # these shapes are not planned
        plan = build_plan(self, key)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.pop(next(iter(self._plans)))
        self._plans[key] = plan
        return None if plan is None else plan.run(xs)

    def run(self, xs, state, masks_out=None):
        """The output values for input values ``xs`` (a list).  With
        ``masks_out`` (a list), the outputs' masks are appended to it."""
        vals = [None] * len(self.shapes)
        for s, x in zip(self.input_slots, xs):
            vals[s] = x
        if self.has_masks:
            return self._run_masked(vals, state, masks_out)
        for step, ctx in zip(self.steps, state):
            x = vals[step.ins[0]] if step.single_in else [vals[i] for i in step.ins]
            y = step.run(ctx, x)
            if step.single_out:
                vals[step.outs[0]] = y
            else:
                for o, v in zip(step.outs, y):
                    vals[o] = v
        return [vals[o] for o in self.output_slots]

    def _run_masked(self, vals, state, masks_out=None):
        # (imported here: functional imports this module for its calls)
        from .functional import run_masked
        masks = [None] * len(self.shapes)
        run_masked(self.steps, state, vals, masks, lambda step, ctx, x: step.run(ctx, x))
        if masks_out is not None:
            masks_out.extend(None if masks[o] is None else np.array(masks[o])
                             for o in self.output_slots)
        return [vals[o] for o in self.output_slots]


def _rename(program, old, new):
    for step in program.steps:
        step.ins = [new if s == old else s for s in step.ins]
        step.mask_ins = [new if s == old else s for s in step.mask_ins]
    program.output_slots = [new if s == old else s for s in program.output_slots]


def _drop_identities(program):
    kept = []
    for step in program.steps:
        if getattr(step.layer, "inference_identity", False) and step.single_in and \
                step.single_out and type(step.layer).forward is _identity_forward(step.layer):
            _rename(program, step.outs[0], step.ins[0])
        else:
            kept.append(step)
    program.steps = kept


def _identity_forward(layer):
    """The forward of the pynn class that declares ``inference_identity``
    (a subclass overriding forward computes something else)."""
    for cls in type(layer).__mro__:
        if "inference_identity" in vars(cls):
            return cls.forward
    return None


def _sole_reader(program, step, readers, accept):
    """The one step that reads ``step``'s output, when nothing else reads
    it, it is not a model output and ``accept(step)`` holds; else None."""
    if not step.single_out:
        return None
    out = step.outs[0]
    if out in program.output_slots or len(readers[out]) != 1:
        return None
    nxt = readers[out][0]
    if not accept(nxt) or not nxt.single_in or nxt.fold is not None or nxt.act is not None:
        return None
    return nxt


def _is_batch_norm(step):
    return isinstance(step.layer, BatchNormalization) and \
        type(step.layer).forward is BatchNormalization.forward


def _fused_activation(step):
    """The activation an activation layer's step computes, when a dense or
    convolution layer before it can apply it instead: an Activation layer's,
    or what the layer's ``fused_activation()`` names (ReLU() is 'relu');
    None otherwise, or when a subclass computes something else."""
    layer = step.layer
    if isinstance(layer, Activation):
        return layer.activation if type(layer).forward is Activation.forward else None
    owner = _defining_class(layer, "fused_activation")
    if owner is None or type(layer).forward is not owner.forward:
        return None
    return layer.fused_activation()


def _defining_class(layer, name):
    for cls in type(layer).__mro__:
        if name in vars(cls):
            return cls
    return None


def _foldable(step):
    """A dense or convolution step that can take a fold or fusion: its
    class computes through the forward of the class that defines infer()
    (a subclass with a call() of its own does not)."""
    layer = step.layer
    owner = _defining_class(layer, "infer")
    return getattr(layer, "can_fold_affine", False) and step.single_in and \
        step.act is None and getattr(layer, "activation", None) == "linear" and \
        owner is not None and type(layer).forward is owner.forward


def _merge(program, step, nxt):
    step.outs = nxt.outs
    step.nodes += nxt.nodes
    program.steps.remove(nxt)


def _fold_batch_norm(program):
    readers = program.consumers()
    for step in list(program.steps):
        if step not in program.steps or step.fold is not None or not _foldable(step):
            continue
        bn = _sole_reader(program, step, readers, _is_batch_norm)
        if bn is None:
            continue
        # the axis of the step's output that holds its channels
        rank = len(program.shapes[bn.ins[0]])
        channels = 1 if getattr(step.layer, "data_format", None) == "channels_first" \
            else rank - 1
        if bn.layer.axis % rank != channels:
            continue
        step.fold = bn.layer
        _merge(program, step, bn)
        readers = program.consumers()


def _fuse_activations(program):
    readers = program.consumers()
    for step in list(program.steps):
        if step not in program.steps or not _foldable(step):
            continue
        act = _sole_reader(program, step, readers, _fused_activation)
        if act is None:
            continue
        step.act = _fused_activation(act)
        _merge(program, step, act)
        readers = program.consumers()


def inference_program(model):
    """The model's inference program, built once per graph (and again
    after a built layer's activation was set)."""
    prog = model._infer
    if prog is None or prog.activation_changes != activation_changes():
        if prog is not None:
            model._infer_pool = []  # run states of the old program
        prog = model._infer = InferenceProgram(model)
    return prog


def planned_predict(model, x):
    """The outputs for one float32 array (checked finite) from the plan
    that run_inference last used for the model, found by the array's
    shape, or None: then the full path runs (its checks and conversions,
    a new plan).  One sample's predict of an MLP spent more time in the
    full path's Python (2.3 us) than in the arithmetic; this path checks
    only what can have changed since run_inference recorded the call: the
    program (a new graph, an activation set on a built layer), the
    placement, a device scope; the plan checks the array and the weights."""
    rec = model._planned
    if rec is None or open_device_scopes[0] or rec[0] is not model._infer or model._eager_call or \
            rec[1] != activation_changes() or model._placed_at != _placements[0] or \
            model._gpu is not None:
        return None
    plan = rec[0]._plans.get((x.shape,))
    if plan is None:
        return None
    outs = plan.run([x])
    if outs is None:
        return None
    if not _kernels.all_finite(x):
        raise ValueError("x contains NaN or infinite values")
    return outs[0] if rec[2] else model._pack_outputs(outs)


def run_inference(model, xs, with_masks=False):
    """Outputs for the input arrays ``xs`` with a run state of this call's
    own (taken from, and given back to, the model's pool), so concurrent
    calls do not share buffers.  Returns copies (on the host, from a model
    placed on a GPU: the inputs go there first); ``with_masks``: also the
    outputs' masks (None for an output without one, or for all when the
    model carries no masks), as ``(outputs, masks)``."""
    gpu = model._place()
    prog = inference_program(model)
    keeps_losses = model._program.has_activity
    if keeps_losses:  # (predict gives the last batch's losses: see Model.predict)
        model.__dict__["_predicted_from"] = xs
    if gpu is None and prog.plannable:
        outs = prog.run_planned(xs)
        if outs is not None:
            rec = model._planned
            if len(xs) == 1 and not open_device_scopes[0] and not keeps_losses and (
                    rec is None or rec[0] is not prog or rec[1] != prog.activation_changes):
                # (recorded once per program: predict's batches find it there)
                model._planned = (prog, prog.activation_changes,
                                  len(outs) == 1 and model._pack_outputs(outs) is outs[0])
            return (outs, None) if with_masks else outs
    pool = model._infer_pool
    try:
        state = pool.pop()
    except IndexError:
        state = prog.new_state(gpu)
    try:
        masks = [] if with_masks and prog.has_masks else None
        outs = [np.array(o) for o in prog.run(model._inputs_to(gpu, xs), state, masks)]
        return (outs, masks) if with_masks else outs
    finally:
        if model._infer is prog:
            pool.append(state)
