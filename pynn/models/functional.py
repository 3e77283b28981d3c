"""Model: a graph of layers between input and output tensors (Keras's
functional API), itself a layer.

``Model(inputs, outputs)`` walks back from the outputs to the inputs
through the nodes that layer calls recorded, checks the graph (every
output computable from the inputs, unique layer names), orders the layers
as Keras does, and compiles the nodes into a :class:`Program`: steps in
execution order reading and writing numbered slots.

A Program runs forward and backward over a run state (one
:class:`~pynn.models.node.CallContext` per step).  Training keeps one
state per model across steps; every inference call takes a state of its
own from a pool, so threads can share a model.  Backward walks the steps
in reverse: the gradient of a tensor read by several steps is the sum of
what each returns, and a layer called several times adds up its weight
gradients over its calls.
"""
import inspect
import itertools
import os
import warnings

import numpy as np

from .. import autodiff, backend, ops, tree
from ..layers.base import (InputLayer, Layer, flatten, shape_str, standardize_dtype,
                           unique_name)
from ..training import TrainingMixin
from ..tensor import eager
from .node import CallContext, KerasTensor, Node
from .passes import planned_predict, run_inference

# Bumped whenever a model binds its weights' gradients to a new flat
# buffer (compile, fit), so cached backward plans see which layers train.
_binding_version = itertools.count(1)
_current_binding = [0]


def new_binding():
    _current_binding[0] = next(_binding_version)


def enter_binding(owner, key):
    """Marks the gradients of ``owner``'s weights as bound anew for one
    backward pass, as ``key`` (the ids of those bound) says.  A GradientTape
    binds the same ones for a model's call on every step: when nothing was
    bound elsewhere since the last time, that time's version comes back, so
    the backward plans cached for it still hold.  Returns what
    leave_binding needs."""
    before = _current_binding[0]
    held = owner.__dict__.get("_tape_binding")
    if held is not None and held[0] == before and held[1] == key:
        _current_binding[0] = held[2]
    else:
        new_binding()
        owner.__dict__["_tape_binding"] = (before, key, _current_binding[0])
    return before, _current_binding[0]


def leave_binding(entered):
    """After enter_binding, the gradients bound back as they were before it:
    the version before it again, unless something else was bound meanwhile."""
    before, during = entered
    if _current_binding[0] == during:
        _current_binding[0] = before
    else:
        new_binding()


class _Step:
    __slots__ = ("layer", "node", "ins", "outs", "single_in", "single_out", "training",
                 "is_model", "mask_ins")

    def __init__(self, node, slot_of):
        self.layer = node.operation
        self.node = node
        # (the masks given to the call are read as its masks, not its
        # inputs: no gradient goes to them)
        self.ins = tuple(slot_of[id(t)] for t in node.call_inputs)
        self.mask_ins = tuple(slot_of[id(t)] for t in node.input_tensors[len(self.ins):])
        self.outs = tuple(slot_of[id(t)] for t in node.output_tensors)
        self.single_in = node.single_input
        self.single_out = node.single_output
        self.training = node.training
        self.is_model = isinstance(self.layer, Model)


class RunState:
    """One execution's state of a program: a context per step, and the
    buffers in which gradients read by several steps are summed."""
    __slots__ = ("ctxs", "sums", "masks", "row_offset", "_applied_offset")

    def __init__(self, steps, device=None, inference_behaviour=False):
        self.ctxs = [CallContext() for _ in steps]
        self.sums = CallContext()
        for ctx in self.ctxs + [self.sums]:
            ctx.device = device
        for ctx, st in zip(self.ctxs, steps):
            if inference_behaviour is None:
                # A call without ``training`` on a tape: each step as its
                # default says (augmentation augments; a nested model's
                # steps decide for themselves).
                ctx.inference_behaviour = None if st.is_model and st.training is None else \
                    not (st.training if st.training is not None else st.layer._training_default)
            elif inference_behaviour or st.training is False:
                ctx.inference_behaviour = True
            if st.node.call_args:
                ctx.call_args = st.node.call_args
        self.masks = None  # the output masks of the last masked forward pass
        # Where the batch starts in a batch split across processes: handed
        # to every context (Dropout draws its mask by global row).
        self.row_offset = 0
        self._applied_offset = 0


def _default_training(st):
    """A step's ``training`` in a run without one: the node's own, else a
    nested model's None (each of its layers resolves it), else the layer's
    default."""
    if st.training is not None:
        return bool(st.training)
    return None if st.is_model else st.layer._training_default


def _trains(layer):
    """Whether any of the layer's weights is being trained (bound to a
    gradient buffer)."""
    return any(w.grad is not None for w in layer.weights)


class Program:
    """A graph's nodes as steps over numbered tensor slots: the model's
    inputs first, then each step's outputs."""

    def __init__(self, inputs, outputs, nodes):
        slot_of = {}
        for t in inputs:
            slot_of.setdefault(id(t), len(slot_of))
        for node in nodes:
            for t in node.output_tensors:
                slot_of.setdefault(id(t), len(slot_of))
        self.n_slots = len(slot_of)
        self.input_slots = tuple(slot_of[id(t)] for t in inputs)
        self.output_slots = tuple(slot_of[id(t)] for t in outputs)
        self.steps = [_Step(node, slot_of) for node in nodes]
        shapes = [None] * self.n_slots
        masked = [False] * self.n_slots
        for t in inputs:
            shapes[slot_of[id(t)]] = t.shape
            masked[slot_of[id(t)]] = t._has_mask
        for node in nodes:
            for t in node.output_tensors:
                shapes[slot_of[id(t)]] = t.shape
                masked[slot_of[id(t)]] = t._has_mask
        self.shapes = shapes
        self.has_masks = any(masked) or any(st.mask_ins for st in self.steps)
        # Steps whose outputs carry an activity penalty, layers that may
        # add losses in their call, and nested models (whose own penalties
        # add to this program's).
        self._conv_pools = self._conv_pool_pairs()
        self.regularized = [i for i, st in enumerate(self.steps)
                            if st.layer.activity_regularizer is not None or st.is_model
                            or st.layer._traces_call]
        self._plans = {}
        # Whether any layer, here or in a nested model, has an activity
        # regularizer (its penalty joins the loss).
        self.has_activity = any(st.layer.activity_regularizer is not None or
                                st.layer._traces_call or
                                (st.is_model and st.layer._program.has_activity)
                                for st in self.steps)
        # Whether a call without ``training`` differs from one at inference:
        # some layer (here or in a nested model) that the graph calls
        # without ``training`` computes as in training by default (the
        # augmentation layers, as Keras 3's call(..., training=True)).
        self.has_training_defaults = any(
            st.training is None and (st.layer._training_default or (
                st.is_model and getattr(st.layer._program, "has_training_defaults", False)))
            for st in self.steps)

    def _conv_pool_pairs(self):
        """{pooling step: (convolution step, window)} for each 2-D max
        pooling that alone reads a convolution's output (not a model
        output), neither with an activity penalty: where the convolution
        needs no input gradient, its backward pass takes in the pooling's
        (Conv2D._backward_through_max_pool), so the pooling's input
        gradient, as large as the convolution's output, is never written
        out (the classic convnet's first layer)."""
        reads = [0] * self.n_slots
        for st in self.steps:
            for s in st.ins + st.mask_ins:
                reads[s] += 1
        for s in self.output_slots:
            reads[s] += 1
        made_by = {st.outs[0]: i for i, st in enumerate(self.steps) if st.single_out}
        pairs = {}
        for j, st in enumerate(self.steps):
            window_of = getattr(st.layer, "_max_pool_window", None)
            if not (st.single_in and st.single_out and window_of is not None):
                continue
            window = window_of()
            i = made_by.get(st.ins[0])
            if window is None or i is None or reads[st.ins[0]] != 1:
                continue
            conv = self.steps[i]
            if conv.single_in and not conv.is_model and \
                    hasattr(conv.layer, "_backward_through_max_pool") and \
                    conv.layer.activity_regularizer is None and \
                    st.layer.activity_regularizer is None:
                pairs[j] = (i, window)
        return pairs

    def activity_penalty(self, state, scale):
        """The penalties of the last forward pass over ``state``: the
        activity regularizers', each times ``scale`` (one over the batch
        size, as Keras 3 normalizes it; the backward pass applies the same
        scale to its gradient), and what the layers' calls gave to
        add_loss, as they gave it."""
        total = 0.0
        for i in self.regularized:
            st, ctx = self.steps[i], state.ctxs[i]
            if st.is_model:
                inner = getattr(ctx, "inner", None)
                if inner is not None and st.layer._program.has_activity:
                    total += st.layer._program.activity_penalty(inner, scale)
                continue
            total += getattr(ctx, "added_loss", 0.0)
            reg = st.layer.activity_regularizer
            if reg is not None:
                ctx.activity_scale = scale
                total += sum(reg.penalty(y, scale=scale) for y in ctx.activity_outputs)
        return total

    def call_losses(self, state, scale, found):
        """The losses of the last forward pass over ``state``, as Keras
        lists them after a call: each layer's activity penalties (times
        ``scale``) and add_loss values, in step order.  Fills ``found``
        (id of a layer -> (layer, its list)) for every layer the program
        ran, a nested model's list holding its layers'."""
        mine = []
        for st, ctx in zip(self.steps, state.ctxs):
            if st.is_model:
                inner = getattr(ctx, "inner", None)
                got = [] if inner is None else \
                    st.layer._program.call_losses(inner, scale, found)
            else:
                got = list(getattr(ctx, "added_losses", ()))
                reg = st.layer.activity_regularizer
                if reg is not None:
                    got += [np.float32(reg.penalty(y, scale=scale))
                            for y in getattr(ctx, "activity_outputs", ())]
            found.setdefault(id(st.layer), (st.layer, []))[1].extend(got)
            if isinstance(st.layer, _AddedLosses):
                mine[:0] = got  # the model's own add_loss values come first, as Keras lists them
            else:
                mine += got
        return mine

    def new_state(self, device=None, inference_behaviour=False):
        """A run state whose buffers live on ``device`` (a GPU number, or
        None for the host); ``inference_behaviour``: every step computes as
        at inference (the program of a model called with training=False),
        or, None, each as its default says (a call without ``training``)."""
        return RunState(self.steps, device, inference_behaviour)

    # ----------------------------------------------------------- forward

    def forward(self, xs, training, state, masks=None):
        """The output values for input values ``xs`` (a list).  ``training``
        None (a model called without it) lets each layer the graph calls
        without ``training`` compute as its own default says, as Keras 3
        resolves it: the augmentation layers augment, Dropout and
        BatchNormalization compute as at inference."""
        vals = [None] * self.n_slots
        for s, x in zip(self.input_slots, xs):
            vals[s] = x
        if state.row_offset != state._applied_offset:
            for ctx in state.ctxs:
                ctx.row_offset = state.row_offset
            state._applied_offset = state.row_offset
        if self.has_masks or masks is not None:
            outs = self._forward_masked(vals, training, state, masks)
        else:
            outs = self._forward_plain(vals, training, state)
        if self.has_activity:
            for i in self.regularized:
                st = self.steps[i]
                if st.layer.activity_regularizer is not None:
                    state.ctxs[i].activity_outputs = [vals[o] for o in st.outs]
        return outs

    def _forward_plain(self, vals, training, state):
        for st, ctx in zip(self.steps, state.ctxs):
            x = vals[st.ins[0]] if st.single_in else [vals[i] for i in st.ins]
            y = st.layer.forward(ctx, x, training or bool(st.training) if training is not None
                                 else _default_training(st))
            if st.single_out:
                vals[st.outs[0]] = y
            else:
                for o, v in zip(st.outs, y):
                    vals[o] = v
        return [vals[o] for o in self.output_slots]

    def _forward_masked(self, vals, training, state, masks):
        """forward, carrying each tensor's mask (None where it has none)."""
        mask_of = [None] * self.n_slots
        for s, m in zip(self.input_slots, masks or []):
            mask_of[s] = m
        run_masked(self.steps, state.ctxs, vals, mask_of, lambda st, ctx, x: st.layer.forward(
            ctx, x, training or bool(st.training) if training is not None
            else _default_training(st)))
        state.masks = [mask_of[o] for o in self.output_slots]
        return [vals[o] for o in self.output_slots]

    # ---------------------------------------------------------- backward

    def _plan(self, need_inputs, need_slots=()):
        """Which steps run backward (those with trained weights, or after
        a tensor that needs a gradient: an input flagged in
        ``need_inputs``, a slot in ``need_slots``), in reverse order, and
        which of each step's inputs need a gradient; cached per weight
        binding."""
        key = (need_inputs, need_slots, _current_binding[0])
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        needs = [False] * self.n_slots
        for s, n in zip(self.input_slots, need_inputs):
            needs[s] = needs[s] or bool(n)
        for s in need_slots:
            needs[s] = True
        run, need_in, trains = [], [], []
        for st in self.steps:
            own = _trains(st.layer)
            flags = [needs[s] for s in st.ins]
            active = own or any(flags)
            for o in st.outs:
                needs[o] = active or o in need_slots
            need_in.append(flags[0] if st.single_in else flags)
            trains.append(own and not st.is_model)
            run.append(active)
        order = [i for i in range(len(self.steps) - 1, -1, -1) if run[i]]
        # (a pair whose convolution trains and needs no input gradient,
        # and whose output's gradient is not asked for)
        pairs = {j: p for j, p in self._conv_pools.items()
                 if run[j] and trains[p[0]] and not need_in[p[0]] and
                 self.steps[j].ins[0] not in need_slots}
        plan = self._plans[key] = (order, need_in, trains, pairs)
        if len(self._plans) > 16:
            self._plans.pop(next(iter(self._plans)))
        return plan

    def backward(self, state, out_grads, token, need_inputs=(), after_step=None,
                 slot_grads=None):
        """Gradients from ``out_grads`` (one per output, None where no loss
        reaches it): writes the trained weights' gradients and returns the
        gradients of the inputs flagged in ``need_inputs``.  ``after_step(i)``,
        when given, runs after each step i that backward visits (in reverse
        order), whether or not a gradient reached it.  ``slot_grads``, a
        dict keyed by slot, receives those slots' whole gradients (an
        output that later steps also read: the activation Grad-CAM
        differentiates)."""
        need_inputs = tuple(need_inputs) + (False,) * (len(self.input_slots) - len(need_inputs))
        need_slots = tuple(sorted(slot_grads)) if slot_grads else ()
        order, need_in, trains, pairs = self._plan(need_inputs, need_slots)
        grads = [None] * self.n_slots
        sums = state.sums
        ctxs = state.ctxs
        steps = self.steps

        def accumulate(slot, g):
            cur = grads[slot]
            if cur is None:
                grads[slot] = g
                return
            buf = sums.buffer(slot, cur.shape)
            ops.add(cur, g, out=buf)
            grads[slot] = buf

        for s, g in zip(self.output_slots, out_grads):
            if g is not None:
                accumulate(s, g)
        for i in order:
            pair = pairs.get(i) if pairs else None
            if pair is None or not _pooled_backward(steps, ctxs, i, pair, grads, token):
                _backward_step(steps[i], ctxs[i], need_in[i], trains[i], i, grads, sums,
                               token, accumulate)
            if after_step is not None:
                after_step(i)
        for s in need_slots:
            slot_grads[s] = grads[s]
        return [grads[s] for s in self.input_slots]


def run_masked(steps, ctxs, vals, mask_of, compute):
    """Runs ``steps`` in order over the slot values ``vals``, carrying each
    tensor's mask in ``mask_of`` (None where it has none): each step's
    context gets its input mask(s) as ``ctx.mask`` before ``compute(step,
    ctx, x)``, and its layer's compute_mask gives the output's."""
    for st, ctx in zip(steps, ctxs):
        if st.single_in:
            x, m = vals[st.ins[0]], mask_of[st.ins[0]]
        else:
            x, m = [vals[i] for i in st.ins], [mask_of[i] for i in st.ins]
            if all(v is None for v in m):
                m = None
        if st.mask_ins:
            m = given_masks(st.node.mask_layout, st.mask_ins, vals, m,
                            st.layer._carried_mask_inputs)
        ctx.mask = m
        y = compute(st, ctx, x)
        out_mask = st.layer.compute_mask(ctx, x, m)
        if st.single_out:
            vals[st.outs[0]], mask_of[st.outs[0]] = y, out_mask
        else:
            oms = out_mask if isinstance(out_mask, (list, tuple)) else [out_mask] * len(y)
            for o, v, mm in zip(st.outs, y, oms):
                vals[o], mask_of[o] = v, mm


def given_masks(layout, slots, vals, carried=None, keep=()):
    """The masks given to a call as tensors (see Node.mask_layout), from
    the slot values ``vals``, as boolean arrays (a float 0/1 mask, too);
    an input given none keeps its own, from ``carried`` (the inputs'
    masks: a list, or None), and so do the inputs at the positions
    ``keep`` (Layer._carried_mask_inputs)."""
    def as_mask(v):
        v = np.asarray(autodiff.value_of(v))
        return v if v.dtype == np.bool_ else v != 0
    if layout == "single":
        return as_mask(vals[slots[0]])
    given = iter(slots)
    carried = carried or [None] * len(layout)
    out = [as_mask(vals[next(given)]) if p else c for p, c in zip(layout, carried)]
    return [carried[i] if i in keep else m for i, m in enumerate(out)]


def _backward_step(st, ctx, need, trains, i, grads, sums, token, accumulate):
    """One step of Program.backward: the step's output gradient through its
    layer, summed into its inputs' gradients."""
    # A layer whose call added a loss with a gradient runs backward even
    # when no gradient reaches its outputs.
    if st.single_out:
        dy = grads[st.outs[0]]
        if dy is None and not ctx.adds_gradient:
            return
    else:
        dy = [grads[o] for o in st.outs]
        if all(g is None for g in dy) and not ctx.adds_gradient:
            return
    ctx.grad_token = token
    layer = st.layer
    if layer.activity_regularizer is not None:
        dy = _with_activity_gradient(layer.activity_regularizer, ctx, dy, sums, i)
    if trains:
        if getattr(layer, "_grad_token", None) is token:
            dx = _backward_accumulating(layer, ctx, dy, need)
        else:
            # (past the layer's and model's __setattr__, which look for
            # variables and traced constants: this runs every step)
            object.__setattr__(layer, "_grad_token", token)
            dx = layer.backward(ctx, dy, need)
    else:
        dx = layer.backward(ctx, dy, need)
    if st.single_in:
        if need and dx is not None:
            accumulate(st.ins[0], dx)
    else:
        for s, g, n in zip(st.ins, dx, need):
            if n and g is not None:
                accumulate(s, g)


def _pooled_backward(steps, ctxs, j, pair, grads, token):
    """Step j, a max pooling, and the convolution before it (pair: its step
    and the pooling's window) differentiated together, where the
    convolution's layer takes it (see Program._conv_pool_pairs): the
    pooling's input gradient then stays None, and the convolution's own
    step finds nothing to do.  False where they must run one by one."""
    i, window = pair
    dy, conv, ctx = grads[steps[j].outs[0]], steps[i].layer, ctxs[i]
    if dy is None or ctx.adds_gradient or ctxs[j].adds_gradient or \
            getattr(conv, "_grad_token", None) is token:
        return False
    if not conv._backward_through_max_pool(ctx, ctxs[j], window, dy):
        return False
    object.__setattr__(conv, "_grad_token", token)
    return True


def _with_activity_gradient(reg, ctx, dy, sums, step):
    """dy plus the gradient of the layer's activity penalty at its outputs,
    scaled as activity_penalty scaled the penalty (into a buffer of the run
    state: dy itself is never written)."""
    single = not isinstance(dy, list)
    grads = [dy] if single else list(dy)
    out = []
    for j, (g, y) in enumerate(zip(grads, ctx.activity_outputs)):
        buf = sums.buffer(("activity", step, j), y.shape)
        if g is None:
            buf[...] = 0.0
        else:
            ops.axpby(1.0, g, out=buf)
        scale = ctx.activity_scale
        reg.penalty(y, grad=buf, scale=scale)
        out.append(buf)
    return out[0] if single else out


def _backward_accumulating(layer, ctx, dy, need):
    """Backward of a later call of a layer already differentiated in this
    pass: its weight gradients go to scratch buffers and are added to what
    the earlier calls wrote (the kernels overwrite their outputs)."""
    ws = [w for w in layer.weights if w.grad is not None]
    saved = [w.grad for w in ws]
    scratch = [ctx.buffer(("grad_sum", i), g.shape) for i, g in enumerate(saved)]
    for w, s in zip(ws, scratch):
        w.grad = s
    try:
        dx = layer.backward(ctx, dy, need)
    finally:
        for w, g in zip(ws, saved):
            w.grad = g
    for g, s in zip(saved, scratch):
        ops.add(g, s, out=g)
    return dx


# --------------------------------------------------------------- the graph

def map_graph(inputs, outputs):
    """The graph between ``inputs`` and ``outputs`` as Keras orders it:
    (nodes in execution order, layers by decreasing depth).  Raises
    ValueError for a disconnected graph, a cycle or duplicate names."""
    input_ids = {id(t) for t in inputs}
    finished, in_progress = set(), set()
    ordered, layer_index = [], {}

    # Depth-first from each output, post-order (a node after everything it
    # reads), iteratively so that deep graphs do not exhaust the stack.
    for out in outputs:
        stack = [(out, False)]
        while stack:
            tensor, expanded = stack.pop()
            h = tensor._keras_history
            if h is None:
                raise ValueError(f"{tensor!r} was not produced by a layer: graph inputs must "
                                 f"come from pynn.Input")
            layer = h.operation
            node = layer._inbound_nodes[h.node_index]
            if expanded:
                in_progress.discard(id(node))
                if id(node) not in finished:
                    finished.add(id(node))
                    ordered.append(node)
                continue
            if id(node) in finished:
                continue
            if id(tensor) in input_ids and not node.is_input:
                finished.add(id(node))
                continue
            if id(node) in in_progress:
                raise ValueError(f"Tensor {tensor!r} from layer {layer.name!r} is part of a "
                                 f"cycle")
            layer_index.setdefault(id(layer), (len(layer_index), layer))
            in_progress.add(id(node))
            stack.append((tensor, True))
            if not node.is_input:
                for t in reversed(node.input_tensors):
                    stack.append((t, False))

    in_graph = {id(n) for n in ordered}
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, layer_depth.get(id(node.operation), 0))
        layer_depth[id(node.operation)] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in inputs:
        node = t.node
        # an input no output reads is still one of the model's (Keras 3
        # takes it silently: its array is given and ignored)
        if node.is_input and id(node.operation) not in layer_depth:
            layer_depth[id(node.operation)] = 0
            layer_index[id(node.operation)] = (-1, node.operation)
            node_depth[id(node)] = 0
            ordered.insert(0, node)

    by_depth = {}
    for node in ordered:
        by_depth.setdefault(node_depth[id(node)], []).append(node)
    nodes = [n for d in sorted(by_depth, reverse=True) for n in by_depth[d]]

    layers_by_depth = {}
    for key, (index, layer) in layer_index.items():
        layers_by_depth.setdefault(layer_depth[key], []).append((index, layer))
    layers = [layer for d in sorted(layers_by_depth, reverse=True)
              for _, layer in sorted(layers_by_depth[d], key=lambda p: p[0])]

    computable = {id(t) for t in inputs}
    for node in nodes:
        if node.is_input and id(node.output_tensors[0]) not in computable:
            users = [n.operation.name for n in nodes if any(
                t is node.output_tensors[0] for t in n.input_tensors)]
            raise ValueError(
                f"Graph disconnected: the outputs depend on the input "
                f"{node.output_tensors[0].name!r} (read by layer(s) {users}), which is not among "
                f"the model's inputs {[x.name for x in inputs]}")
        for t in node.input_tensors:
            if id(t) not in computable:
                raise ValueError(
                    f"Graph disconnected: cannot obtain the value of tensor {t!r} at layer "
                    f"{node.operation.name!r}: it depends on an input that is not among the "
                    f"model's inputs {[x.name for x in inputs]}")
        for t in node.output_tensors:
            computable.add(id(t))
    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the '
                             f"model. All layer names should be unique.")
    return nodes, layers


# A model's own attributes that hold the traced graph's layers, not layers
# of the model's own.
_GRAPH_ATTRIBUTES = frozenset({"_operations", "_infer_pool"})



def _is_namedtuple(struct, n):
    """Whether a model's outputs were given as a namedtuple of ``n``
    tensors (a detection layer's), which its calls and predict give back."""
    return isinstance(struct, tuple) and hasattr(type(struct), "_fields") and \
        len(struct) == n

def _nested(struct):
    """Whether a list, tuple or dict of outputs holds containers."""
    values = struct.values() if isinstance(struct, dict) else struct
    return any(isinstance(v, (list, tuple, dict)) for v in values)


class _AddedLosses(Layer):
    """In the graph traced from a subclassed model's call(): passes its
    first input through and gives the others (what the call gave to
    add_loss: a KL term computed from the model's tensors) to add_loss, so
    every run of the graph adds them to the training loss."""

    def call(self, inputs):
        for loss in inputs[1:]:
            self.add_loss(loss)
        return inputs[0]


class _AddedMetrics(Layer):
    """A model's add_metric of its symbolic tensors (tf.keras 2's
    ``model.add_metric(K.std(x1), name="std_of_activation",
    aggregation="mean")``): passes its first input through and reports the
    mean of each other one, over the epoch, in fit's and evaluate's logs
    under its name."""

    def __init__(self, metric_names=(), **kwargs):
        super().__init__(**kwargs)
        self.metric_names = [str(n) for n in metric_names]

    def call(self, inputs):
        for value, name in zip(inputs[1:], self.metric_names):
            self.add_metric(value, name=name)
        return inputs[0]

    def get_config(self):
        return {**super().get_config(), "metric_names": list(self.metric_names)}


def is_layer(operation):
    """Whether a graph's operation is one of the model's layers, as Keras 3
    counts them: not an operation recorded on symbolic tensors, nor the
    nodes a traced call adds (weights and arrays it reads, its added
    losses)."""
    from ..layers.lambda_layer import ConstantRead, TensorOperation, WeightRead
    return not isinstance(operation, (TensorOperation, _AddedLosses, _AddedMetrics,
                                      WeightRead, ConstantRead)) and \
        not operation.__dict__.get("_from_operator")  # (x + y: see KerasTensor._merge)


def _with_added_losses(outputs, losses):
    """``outputs`` (a tensor, or a list or dict of them) with the first one
    passed through an _AddedLosses layer that adds ``losses``."""
    return _through_first(outputs, lambda t: _AddedLosses(name=unique_name("added_losses"))(
        [t, *losses]))


def _through_first(outputs, make):
    """``outputs`` (a tensor, or a list or dict of them) with the first one
    replaced by ``make(first)``."""
    if isinstance(outputs, dict):
        first = next(iter(outputs))
        return {**outputs, first: _through_first(outputs[first], make)}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)([_through_first(outputs[0], make), *outputs[1:]])
    return make(outputs)


class Model(TrainingMixin, Layer):
    """A graph of layers: ``Model(inputs, outputs)`` (the functional API),
    or a subclass that defines its layers in ``__init__`` and wires them in
    ``call(inputs)``, traced into a graph on first use."""
    # (its layers say whether they run there)
    runs_on_gpu = True
    _graph_model = True
    # Whether the call draws random values, so it runs at every call
    # instead of being traced into a graph (see _trace).
    _eager_call = False
    # Whether calls on arrays hold the inputs to the shapes of the model's
    # Inputs (a functional model's input spec, see _check_input_spec)
    _strict_input_spec = True

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None and outputs is None and "input" in kwargs and "output" in kwargs:
            # Keras 1's spelling, which Keras 2 still took with this warning
            warnings.warn("Update your `Model` call to the Keras 2 API: "
                          "`Model(inputs=..., outputs=...)`", stacklevel=2)
            inputs, outputs = kwargs.pop("input"), kwargs.pop("output")
        if inputs is self and outputs is None:
            # ``super().__init__(self)`` in a subclass (TensorFlow's text
            # generation tutorial): Keras 2 ignored a subclass's positional
            # arguments
            inputs = None
        if inputs is None and outputs is None and type(self) is Model:
            raise ValueError("Model: give inputs and outputs (Model(inputs, outputs)), or "
                             "subclass Model and define call()")
        default = "functional" if type(self) is Model else None
        Layer.__init__(self, name=name or (unique_name(default) if default else None),
                       trainable=trainable, **kwargs)
        self._init_training_state()
        self._inputs = self._outputs = None
        self._program = None
        self._infer = None
        self._infer_pool = []
        self._train_state = None
        self._traced_call = False
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model: both inputs and outputs are required")
            self._init_graph(inputs, outputs)

    # ----------------------------------------------------------- graph

    def _init_graph(self, inputs, outputs):
        for what, struct in (("inputs", inputs), ("outputs", outputs)):
            leaves = flatten(struct)
            if not leaves:
                raise ValueError(f"Model {self.name!r}: {what} must not be empty")
            for t in leaves:
                if not isinstance(t, KerasTensor):
                    raise ValueError(
                        f"Model {self.name!r}: all {what} must be symbolic tensors (from "
                        f"pynn.Input or a layer called on one); got {type(t).__name__}"
                        + (" (a layer: call it on a tensor first)" if isinstance(t, Layer)
                           else ""))
        if isinstance(inputs, dict):
            for k, v in inputs.items():
                if k != v.name:
                    warnings.warn(f"Model {self.name!r}: input key {k!r} differs from the "
                                  f"tensor's name {v.name!r}", stacklevel=3)
        flat_in, flat_out = flatten(inputs), flatten(outputs)
        if len({id(t) for t in flat_in}) != len(flat_in):
            raise ValueError(f"Model {self.name!r}: the same tensor is given twice as an input")
        nodes, operations = map_graph(flat_in, flat_out)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = flat_in
        self._outputs = flat_out
        self._nodes = [n for n in nodes if not n.is_input]
        self._node_ids = {id(n) for n in nodes}
        self._operations = operations
        self._program = Program(flat_in, flat_out, self._nodes)
        self._infer = None
        self._infer_pool = []
        self._train_state = None
        self._placed_at = -1  # new layers' weights are placed at the next use
        self.output_names = [t._keras_history.operation.name for t in flat_out]
        # Data given as a dict goes by the inputs dict's keys, as in Keras.
        self.input_names = list(inputs) if isinstance(inputs, dict) else [t.name for t in flat_in]
        self.built = True
        self._build_input_shape = [t.shape for t in flat_in] if len(flat_in) > 1 \
            else flat_in[0].shape

    def add_loss(self, loss, inputs=None):
        """A loss built from the graph's symbolic tensors (Keras 2's VAE:
        ``vae.add_loss(K.mean(reconstruction + kl))`` before compile) joins
        the graph, through an _AddedLosses node, and is added to the
        training loss at every step; anything else as Layer.add_loss."""
        if isinstance(loss, KerasTensor) and self._program is not None and \
                not self._traced_call:
            names = self.output_names
            self._init_graph(self._inputs_struct,
                             _with_added_losses(self._outputs_struct, [loss]))
            self.output_names = names
            return
        Layer.add_loss(self, loss, inputs)

    def add_metric(self, value, name=None, aggregation=None):
        """A metric of the graph's symbolic tensors (tf.keras 2's
        ``model.add_metric(K.std(x1), name=..., aggregation="mean")``) joins
        the graph, through an _AddedMetrics node: fit and evaluate report
        its mean under ``name``; anything else as Layer.add_metric."""
        if isinstance(value, KerasTensor) and self._program is not None and \
                not self._traced_call:
            if aggregation not in (None, "mean"):
                raise ValueError(f"Model {self.name!r}: add_metric's aggregation must be "
                                 f"'mean' (or None), got {aggregation!r}")
            if not isinstance(name, str) or not name:
                raise ValueError(f"Model {self.name!r}: add_metric of a symbolic tensor needs "
                                 f"a name (the key of the logs), got {name!r}")
            names = self.output_names
            self._init_graph(self._inputs_struct, _through_first(
                self._outputs_struct, lambda t: _AddedMetrics(
                    [name], name=unique_name("added_metrics"))([t, value])))
            self.output_names = names
            return
        Layer.add_metric(self, value, name, aggregation)

    def _require_graph(self, what):
        if self._program is None:
            raise ValueError(f"Model {self.name!r} has not been built yet, so it has no "
                             f"{what}: give it an input shape, or call it on data first")

    @property
    def layers(self):
        """Keras 3's ``model.layers``: the graph's layers, inputs included;
        the operations recorded on its symbolic tensors (``x * 2``,
        ``ops.reshape(x, ...)``) are nodes of the graph (summary and saving
        list them) but not layers, so indexing and counting the layers
        gives what Keras gives."""
        if self._program is None or self._traced_call:
            return self._attribute_layers()
        return [op for op in self._operations if is_layer(op)]

    @property
    def operations(self):
        """Keras 3's ``model.operations`` of a functional model: its layers
        and the operations recorded on its symbolic tensors (``x + y``,
        ``ops.relu(x)``), inputs first, in the graph's order.  Keras's
        Sequential and subclassed models are no Function and have none,
        so ``hasattr(model, "operations")`` says the same here."""
        if self._program is None or self._traced_call:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute "
                                 f"'operations' (only a functional model has them)")
        return list(self._operations)

    def _attribute_layers(self):
        """A subclassed model's layers, as Keras tracks them: the layers set
        as its attributes (or held in its lists, tuples and dicts), in the
        order they were assigned; after a call has been traced, also any
        other layer with a node in the graph (one built inside call), so that
        no weight is lost.  The traced operations (inputs, tensor
        operations, added losses) are not layers of the model."""
        found, seen = [], {id(self)}

        def take(item):
            if isinstance(item, Layer) and id(item) not in seen:
                seen.add(id(item))
                found.append(item)

        for name, value in vars(self).items():
            if name in _GRAPH_ATTRIBUTES:
                continue
            items = value.values() if isinstance(value, dict) else \
                value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                take(item)
        if self._traced_call:
            for op in self._operations:
                if is_layer(op) and not isinstance(op, InputLayer):
                    take(op)
        return found

    def _sublayers(self):
        return self.layers

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in ``model.layers``."""
        layers = self.layers
        if index is not None:
            if name is not None:
                raise ValueError("get_layer: give name or index, not both")
            if not -len(layers) <= int(index) < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range; the model has "
                                 f"{len(layers)} layers")
            return layers[int(index)]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: "
                         f"{[l.name for l in layers]}")

    @property
    def inputs(self):
        self._require_graph("inputs")
        return list(self._inputs)

    @property
    def outputs(self):
        self._require_graph("outputs")
        return list(self._outputs)

    @property
    def input(self):
        self._require_graph("input")
        return self._inputs_struct

    @property
    def output(self):
        self._require_graph("output")
        return self._outputs_struct

    @property
    def input_shape(self):
        self._require_graph("input shape")
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        self._require_graph("output shape")
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_dtypes(self):
        return [t.dtype for t in self._inputs]

    def build(self, input_shape=None):
        """Build a subclassed model by tracing ``call`` on inputs of
        ``input_shape``."""
        if self._program is not None or self._eager_call:
            return
        if input_shape is None:
            raise ValueError(f"Model {self.name!r}: build needs an input shape")
        try:
            self._trace(input_shape)
        except (TypeError, ValueError):
            # The graph is traced with the batch size open, so that it runs
            # on any batch; a layer whose build sizes a weight by the batch
            # size given here (model.build(R.shape) for a factorization of
            # R) fails on that, and gets it, as Keras gives it.
            batches = [s[0] if isinstance(s, (tuple, list)) and len(s) else None
                       for s in (input_shape if isinstance(input_shape, list)
                                 else [input_shape])]
            if self._program is not None or not batches or None in batches:
                raise
            self._trace(input_shape, keep_batch=True)
        if self._eager_call:
            self._build_by_calling(input_shape)
        self._restore_deferred()

    def _restore_deferred(self):
        """Set the values a checkpoint restored before the weights existed
        (load_weights of a checkpoint prefix, tf.train.Checkpoint.read: see
        there), once they do."""
        if not self.weights:
            return
        restore = self.__dict__.pop("_restore_on_build", None)
        if restore is not None:
            restore()

    def _build_by_calling(self, input_shape):
        """A model whose call runs at every call (see _trace_call) has no
        graph to build its layers' weights: its call runs once on zeros of
        ``input_shape`` (one sample), as Keras's build runs the call, so
        that load_weights and load_model find the weights.  Sizes left
        unknown besides the batch leave it to the first call."""
        multi = isinstance(input_shape, list)
        shapes = [tuple(s) for s in (input_shape if multi else [input_shape])]
        if any(d is None for s in shapes for d in s[1:]):
            return
        zeros = [np.zeros((1,) + s[1:], np.float32) for s in shapes]
        self._call_eagerly(zeros if multi else zeros[0], (), False, None, {})

    def _trace(self, input_shape, dtypes=None, keep_batch=False):
        # The weights of the layers its call builds get paths under its
        # name, as Keras's (my_model/dense/kernel).
        with backend.name_scope(self.name, caller=self):
            self._trace_call(input_shape, dtypes, keep_batch)
        if not self._eager_call:
            self._restore_deferred()

    def _trace_call(self, input_shape, dtypes, keep_batch=False):
        from ..layers.base import Input
        from ..layers.lambda_layer import batch_source, weights_in_graph
        if self._eager_call:
            return
        if type(self).build is not Model.build and not self.__dict__.get("_in_own_build"):
            # A subclass's own build (making layers that depend on the input
            # shape) runs first, as Keras runs it before the first call; if
            # it calls Model.build itself, that traced the model already.
            self.__dict__["_in_own_build"] = True
            try:
                self.build(input_shape)
            finally:
                del self.__dict__["_in_own_build"]
            if self._program is not None:
                return
        multi = isinstance(input_shape, list)
        shapes = input_shape if multi else [input_shape]
        dtypes = dtypes or ["float32"] * len(shapes)
        keys = self.__dict__.pop("_input_keys", None)
        if keys is not None and len(keys) != len(shapes):
            keys = None
        tensors = [Input(batch_shape=(tuple(s[:1]) if keep_batch else (None,)) + tuple(s[1:]),
                         dtype=d,
                         name=None if keys is None else keys[i])
                   for i, (s, d) in enumerate(zip(shapes, dtypes))]
        inputs = dict(zip(keys, tensors)) if keys is not None else \
            tensors if multi else tensors[0]
        try:
            with autodiff.collecting_graph_losses() as added_losses, \
                    autodiff.tracing_model(self), batch_source(tensors[0]) as constants, \
                    weights_in_graph(list(self._weights), tensors[0]):
                # (its layers' nodes then train or infer as each run does)
                outputs = self.call(inputs, training=autodiff.RUN_TRAINING) \
                    if self._call_takes_training() else self.call(inputs)
        except autodiff.UntraceableCall:
            # The call draws random values or branches on ``training``: a
            # graph traced once would freeze the draw or the branch, so the
            # call runs at every call, as Keras runs a model eagerly (fit,
            # evaluate and predict go through the steps).
            self._eager_call = True
            self._build_input_shape = input_shape
            self.built = True
            return
        # the arrays the graph holds as constants (see __setattr__)
        self.__dict__["_constant_reads"] = {id(v): v for v in constants}
        if added_losses:
            outputs = _with_added_losses(outputs, added_losses)
        self._init_graph(inputs, outputs)
        self._traced_call = True

    def __setattr__(self, name, value):
        reads = self.__dict__.get("_constant_reads")
        if reads and id(self.__dict__.get(name)) in reads and value is not self.__dict__[name]:
            # An array the traced call gave to a layer is replaced (a graph
            # with new nodes): the call is traced again at its next run, as
            # Keras runs it each time.  The layers and weights stay.
            self.__dict__["_constant_reads"] = None
            self._program = None
            self._traced_call = False
            self._infer = None
            self._infer_pool = []
            self._train_state = None
            self._planned = None
        super().__setattr__(name, value)

    # ------------------------------------------------------- as a layer

    def _symbolic_call(self, inputs, leaves, training, given_mask=None):
        if self._program is None:
            self._ensure_built([t.shape for t in leaves], [t.dtype for t in leaves])
        if self._eager_call:
            if autodiff.model_being_traced() is not None:
                raise autodiff.UntraceableCall()  # the model calling it runs eagerly too
            raise ValueError(f"Model {self.name!r} ({type(self).__name__}): its call() draws "
                             f"random values or branches on `training`, so it runs on data "
                             f"at every call and has no "
                             f"graph to call on symbolic tensors (pynn.Input); call it on "
                             f"arrays, or from the call() of a subclassed model")
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"Model {self.name!r}: the input dict lacks {missing}; it "
                                 f"needs keys {self.input_names}")
            leaves = [inputs[n] for n in self.input_names]
        if len(leaves) != len(self._inputs):
            raise ValueError(f"Model {self.name!r} takes {len(self._inputs)} input(s), "
                             f"called on {len(leaves)}")
        # As Keras's functional models (and this model's eager calls): a
        # tensor one axis short of an input whose last axis is 1 gets that
        # axis, one with an extra last axis of 1 loses it (a Flatten'd
        # (None, 28, 28) fed to a model built on (None, 28, 28, 1)).
        leaves = [ops.expand_dims(t, -1) if len(t.shape) == len(w.shape) - 1 and w.shape[-1] == 1
                  else ops.squeeze(t, -1) if len(t.shape) == len(w.shape) + 1 and t.shape[-1] == 1
                  else t for t, w in zip(leaves, self._inputs)]
        shapes = [t.shape for t in leaves]
        self._check_input_spec(shapes, strict=not self._traced_call)
        out_shapes = self._infer_shapes(shapes)
        multi = len(out_shapes) > 1
        outputs = [KerasTensor(s, dtype=t.dtype, name=f"{self.name}_{i}" if multi else self.name,
                               has_mask=t._has_mask)
                   for i, (s, t) in enumerate(zip(out_shapes, self._outputs))]
        layout, given = None, []
        if given_mask is not None:  # (its inputs' masks, see Node.mask_layout)
            layout, _, given = self._mask_layout(given_mask, leaves)
        Node(self, leaves + given, outputs, single_input=len(leaves) == 1,
             single_output=not multi, training=training, mask_layout=layout)
        if isinstance(self._outputs_struct, dict) and _nested(self._outputs_struct):
            from ..layers.base import _pack_like
            return _pack_like(self._outputs_struct, outputs)
        if multi and isinstance(self._outputs_struct, dict):
            return dict(zip(self._outputs_struct.keys(), outputs))
        if multi and _is_namedtuple(self._outputs_struct, len(outputs)):
            return type(self._outputs_struct)(*outputs)
        return outputs if multi else outputs[0]

    def _check_input_spec(self, shapes, strict):
        """Refuse input shapes (batch first, after _adjust_input_rank) as
        Keras 3 refuses them: the rank always; with ``strict`` (a graph
        model's input spec: a functional model, or any model called on
        symbolic tensors) every size the model's inputs fix, a last axis
        of 1 left out on either side -- so a model on (None, 1) takes
        (None, 5000).  Other sizes are the layers' to check (_infer_shapes),
        as a Sequential's eager calls leave them."""
        for i, (got, want) in enumerate(zip(shapes, self._inputs)):
            exp, bad = tuple(want.shape), len(got) != len(want.shape)
            if strict and not bad:
                g = got[:-1] if got and got[-1] == 1 else got
                e = exp[:-1] if exp and exp[-1] == 1 else exp
                bad = any(a is not None and b is not None and a != b
                          for a, b in zip(g[1:], e[1:]))
            if bad:
                raise ValueError(f"Input {i} of model {self.name!r} is incompatible with the "
                                 f"model: expected shape={shape_str(exp)}, found "
                                 f"shape={shape_str((None,) + tuple(got[1:]))}")

    def _infer_shapes(self, input_shapes):
        """The output shapes for inputs of ``input_shapes``, by walking the
        graph with each layer's compute_output_shape."""
        prog = self._program
        if all(tuple(a[1:]) == tuple(t.shape[1:]) for a, t in zip(input_shapes, self._inputs)):
            return [(input_shapes[0][0],) + tuple(prog.shapes[s][1:]) for s in prog.output_slots]
        shapes = [None] * prog.n_slots
        for s, shp in zip(prog.input_slots, input_shapes):
            shapes[s] = tuple(shp)
        for st in prog.steps:
            ins = shapes[st.ins[0]] if st.single_in else [shapes[i] for i in st.ins]
            if getattr(st.layer, "_graph_model", False):
                # a model called inside another holds its inputs to its
                # input spec, as in Keras (its own walk checks its layers)
                st.layer._check_input_spec([ins] if st.single_in else ins,
                                           strict=not st.layer._traced_call)
            elif isinstance(st.layer, Layer):
                # each layer refuses the axes its weights fix, naming itself
                # and the shapes
                st.layer._check_input(ins)
            out = st.layer.compute_output_shape(ins)
            for o, shp in zip(st.outs, [out] if st.single_out else out):
                shapes[o] = tuple(shp)
        return [shapes[s] for s in prog.output_slots]

    def compute_output_shape(self, input_shape):
        self._require_graph("output shape")
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        out = self._infer_shapes(shapes)
        return out if len(out) > 1 else out[0]

    def build_for(self, input_shape, need_shape=True):
        if self._program is None:
            self._trace(input_shape)
        return self.compute_output_shape(input_shape)

    def forward(self, ctx, inputs, training):
        state = getattr(ctx, "inner", None)
        if state is None:
            state = ctx.inner = self._program.new_state(ctx.device, ctx.inference_behaviour)
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        masks = ctx.mask
        if masks is not None and not isinstance(masks, list):
            masks = [masks]
        outs = self._program.forward(xs, training, state, masks)
        return outs[0] if len(outs) == 1 else outs

    def backward(self, ctx, dy, need_input_grad=True):
        single = len(self._inputs) == 1
        grads = [dy] if len(self._outputs) == 1 else list(dy)
        need = (need_input_grad,) if single else tuple(need_input_grad)
        dx = self._program.backward(ctx.inner, grads, ctx.grad_token, need)
        return dx[0] if single else dx

    def compute_mask(self, ctx, inputs, mask):
        state = getattr(ctx, "inner", None)
        masks = None if state is None else state.masks
        if masks is None:
            return None
        return masks[0] if len(masks) == 1 else masks

    def call(self, inputs, training=False, mask=None):
        """The outputs for ``inputs`` (arrays), computed at once."""
        if self._program is None:
            raise ValueError(f"Model {self.name!r}: call() of a subclassed model must be "
                             f"defined by the subclass")
        xs = self._standardize_inputs(inputs)
        gpu = self._place()
        outs = self._program.forward(self._inputs_to(gpu, xs), bool(training),
                                     self._program.new_state(gpu))
        return self._pack_outputs([np.array(o) for o in outs])

    def __call__(self, inputs, *args, training=None, mask=None, **kwargs):
        if args and training is None:
            args, training = self._positional_training(args)
        if training is None:
            training = autodiff.outer_training()
        elif training is autodiff.RUN_TRAINING:
            training = None  # (in a traced call: each run's)
        if self._program is None and not self._eager_call and self._subclassed and \
                not any(isinstance(t, KerasTensor) for t in flatten(inputs)):
            if isinstance(inputs, dict) and any(
                    isinstance(v, (list, tuple, dict)) or np.ndim(autodiff.value_of(v)) == 0
                    for v in inputs.values()):
                # A dict of options more than of inputs (a list of noise
                # arrays, a number: StyleGAN's call({"z": z, "noise": [...],
                # "alpha": convert_to_tensor(1.0)})) is no graph's inputs:
                # call() runs at every call, as Keras runs it.
                self._eager_call = True
                self.built = True
            else:
                # traced on the first values it is called on
                self._prepare_inputs(tree.map_structure(autodiff.value_of, inputs),
                                     convert=False, any_rows=True)
        if self._eager_call or (args or kwargs) and self._subclassed and \
                not any(isinstance(t, KerasTensor) for t in flatten(inputs)):
            # (arguments beyond the inputs, ``model(x, states=s,
            # return_state=True)``, are not in the traced graph: call() runs)
            return self._call_eagerly(inputs, args, training, mask, kwargs)
        if isinstance(inputs, (list, tuple)) and self._program is not None and \
                len(inputs) != len(self._inputs) > 1:
            # As Keras: a structure nested deeper than the model's inputs is
            # flattened (a train_step given ``(x,)``, x a list of arrays).
            flat = flatten(inputs)
            if len(flat) == len(self._inputs):
                inputs = flat
        traced = autodiff.model_being_traced()
        if traced is not None and traced is not self and not any(
                isinstance(t, KerasTensor) for t in flatten(inputs)):
            # called on arrays in a subclassed model's call being traced (a
            # block over a graph's node features): a node of that graph, so
            # its weights train (see Layer.__call__)
            from ..layers.lambda_layer import constants_in_graph
            read = constants_in_graph(inputs)
            if read is not None:
                inputs = read
        tape = autodiff.active_tape()
        if tape is not None:
            inputs = autodiff.inputs_on_tape(tape, inputs)
        elif type(inputs) is np.ndarray and not training and not args and not kwargs and \
                mask is None:
            # The common inference call, one array: the path below without
            # its walk over a structure of inputs.
            if self._program is not None and (
                    training is False or self._planned is not None and
                    not self._program.has_training_defaults) and not self._program.has_activity:
                out = planned_predict(self, inputs)
                if out is not None:
                    return eager(out)
            return eager(self._run_eager(self._prepare_inputs(inputs), training))
        leaves = flatten(inputs)
        if autodiff.any_traced(leaves):
            return autodiff.call_layer(self, inputs, training)
        if any(isinstance(t, KerasTensor) for t in leaves):
            return Layer.__call__(self, inputs, *args, training=training, mask=mask, **kwargs)
        if autodiff.recording_calls() or (tape is not None and self.weights):
            # A GradientTape records every call; other traced code (a
            # custom layer's call) records a model called on constants so
            # its weights still get their gradients.
            return autodiff.call_layer(self, inputs, training)
        if args or kwargs:
            raise TypeError(f"Model {self.name!r}: unexpected call argument(s) "
                            f"{', '.join(sorted(kwargs)) or repr(args)}")
        # As Keras's call, inputs of any rows: a latent array of one sample
        # beside a batch, a batch of graphs as its atoms and bonds.
        xs = self._prepare_inputs(inputs, any_rows=True)
        if len({a.shape[0] for a in xs if a.ndim} - {1}) < 2:
            return eager(self._run_eager(xs, training))
        try:
            return eager(self._run_eager(xs, training))
        except (ValueError, IndexError) as e:
            raise ValueError(f"Model {self.name!r}: the input arrays have different numbers "
                             f"of samples: {[a.shape[0] if a.ndim else None for a in xs]}, "
                             f"and its layers cannot take them together "
                             f"({type(e).__name__}: {e})") from e

    def _call_takes_training(self):
        params = inspect.signature(type(self).call).parameters
        return "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def _call_eagerly(self, inputs, args, training, mask, kwargs):
        """The call of a model whose call() draws random values, run now on
        ``inputs`` (float arrays as float32, as Keras converts them), so
        each call draws afresh; on a GradientTape its layers and
        operations are recorded one by one.  ``training`` and ``mask`` reach
        the call where it takes them."""
        params = inspect.signature(type(self).call).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        if training is not None and ("training" in params or takes_any):
            kwargs["training"] = training
        if mask is not None and ("mask" in params or takes_any):
            kwargs["mask"] = mask
        inputs = tree.map_structure(
            lambda a: a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
            and a.dtype != np.float32 else a, inputs)
        if autodiff.adds_losses():  # (inside a call, or on a tape: that collects add_loss)
            return self._call_with_training(inputs, args, kwargs, training)
        # A call of its own: what it gives to add_loss (its layers' activity
        # penalties too) is ``model.losses`` until the next call, as Keras's.
        found = []
        with autodiff._Recording(autodiff.active_tape(), found):
            out = self._call_with_training(inputs, args, kwargs, training)
        self.__dict__["_call_losses"] = [autodiff.value_of(v) for v in found]
        return out

    def _call_with_training(self, inputs, args, kwargs, training):
        if training is None:
            return self.call(inputs, *args, **kwargs)
        with autodiff.call_training(bool(training)):
            return self.call(inputs, *args, **kwargs)

    def _run_eager(self, xs, training):
        """The outputs for input arrays ``xs``: with ``training`` False (or
        None where it changes nothing: no layer trains by default),
        predict's program and its pooled buffers, not new ones per call;
        else the graph, in training or with each layer's default."""
        prog = self._program
        if prog.has_activity:
            return self._run_keeping_losses(xs, training)
        self.__dict__.pop("_call_losses", None)
        # (inputs of one sample beside a batch run through the graph itself,
        # each layer broadcasting: predict's program plans for one batch size)
        if len({a.shape[0] for a in xs}) == 1 and (training is False or (
                not training and not self._program.has_training_defaults)):
            return self._pack_outputs(run_inference(self, xs))
        gpu = self._place()
        outs = self._program.forward(self._inputs_to(gpu, xs),
                                     None if training is None else bool(training),
                                     self._program.new_state(gpu))
        return self._pack_outputs([np.array(o) for o in outs])

    def _run_keeping_losses(self, xs, training):
        """_run_eager's outputs of a graph whose layers give losses
        (activity regularizers, add_loss in a call): the graph runs whole,
        and what each layer gave is its ``losses`` until the next call,
        the model's holding them all, as Keras resets them at every call."""
        prog = self._program
        gpu = self._place()
        state = prog.new_state(gpu)
        outs = prog.forward(self._inputs_to(gpu, xs), None if training is None else
                            bool(training), state)
        rows = max(xs[0].shape[0], 1) if xs and xs[0].ndim else 1
        self._keep_call_losses(state, 1.0 / rows)
        return self._pack_outputs([np.array(o) for o in outs])

    def _keep_call_losses(self, state, scale):
        """What the graph's layers gave in the run over ``state`` (activity
        penalties times ``scale``, add_loss values) becomes each one's
        ``losses``, the model's holding them all, until the next run: as
        Keras resets them at every call, in fit's, evaluate's and
        predict's steps too."""
        found = {}
        self.__dict__["_call_losses"] = self._program.call_losses(state, scale, found)
        for layer, losses in found.values():
            layer.__dict__["_call_losses"] = losses

    def _pack_outputs(self, outs):
        """Outputs in the structure the model was built with."""
        struct = self._outputs_struct
        if isinstance(struct, dict) and not _nested(struct):
            return dict(zip(struct.keys(), outs))
        if isinstance(struct, (list, tuple, dict)) and _nested(struct):
            # nested outputs (a layer's list of outputs among them, as
            # ``layer.output`` of a two-output layer; a dict of dicts, as a
            # style-transfer model's {'content': {...}, 'style': {...}}):
            # the same nesting
            from ..layers.base import _pack_like
            packed = _pack_like(struct, outs)
            return packed[0] if isinstance(packed, (list, tuple)) and len(packed) == 1 \
                else packed
        if _is_namedtuple(struct, len(outs)):
            return type(struct)(*outs)
        # One output, given alone or as a one-element list, comes back
        # alone, as Keras unpacks a singleton.
        return outs[0] if len(outs) == 1 else outs

    # --------------------------------------------------------- weights

    def _collect(self, attr):
        """The model's own weights (a subclassed model's add_weight), then
        the layers' weights of one kind (``attr``), in layer order, each
        once, as Keras lists them."""
        own = [w for w in self._weights if w.trainable]
        if attr == "weights":
            own += [w for w in self._weights if not w.trainable]
        seen, out = {id(w) for w in own}, own
        for layer in self.layers:
            for w in getattr(layer, attr):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def weights(self):
        return self._collect("weights")

    @property
    def trainable_weights(self):
        return self._collect("trainable_weights") if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def count_params(self):
        if not self.built:
            raise ValueError(f"count_params: the model {self.name!r} has not been built; give "
                             f"it an input shape first")
        return int(sum(w.value.size for w in self.weights))

    # ----------------------------------------------------- quantization

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Keras's ``model.quantize("int8")``: quantize the weights of
        every Dense and Embedding layer (those ``filters`` selects: a
        regex or list of them on layer names, or a callable on layers);
        other layers are left as they are, with a warning from those that
        cannot be quantized."""
        import re
        kwargs.pop("type_check", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to "
                             f"{type(self).__name__}: {kwargs}")
        if mode != "int8":
            raise ValueError(f"Model {self.name!r}: pynn quantizes to 'int8' only, got mode "
                             f"{mode!r}")
        if config is not None:
            raise ValueError(f"Model {self.name!r}: pynn quantizes with Keras's default int8 "
                             f"configuration; a config is not supported")
        if not self.built:
            raise ValueError(f"Model {self.name!r}: build the model before quantizing it")
        if filters is not None and not isinstance(filters, (str, list, tuple)) and \
                not callable(filters):
            raise ValueError(f"The `filters` argument must be a regex string, a list of regex "
                             f"strings, or a callable. Received: {type(filters)}")

        def selected(layer):
            if filters is None:
                return True
            if callable(filters):
                return bool(filters(layer))
            patterns = [filters] if isinstance(filters, str) else filters
            return any(re.search(p, layer.name) for p in patterns)

        seen, models = set(), []

        def visit(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            inner = layer._sublayers()
            if isinstance(layer, Model):
                models.append(layer)
            if inner:
                for sub in inner:
                    visit(sub)
            elif selected(layer) and type(layer).quantize is not Layer.quantize:
                try:
                    layer.quantize(mode)
                except NotImplementedError as e:
                    warnings.warn(str(e), stacklevel=3)

        for layer in self.layers:
            visit(layer)
        # the compiled inference and training programs hold the old weights
        for model in [self, *models]:
            model._infer = None
            model._infer_pool = []
            model._train_state = None

    # --------------------------------------------------------- summary

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Keras's summary table: layers, output shapes, parameter counts
        (and, for a graph, what each layer is connected to)."""
        from .summary import print_summary
        print_summary(self, line_length, positions, print_fn, expand_nested, show_trainable,
                      layer_range)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    # ------------------------------------------------------------ config

    @property
    def _subclassed(self):
        """Whether this is a user's subclass computing in its own call()
        (not a graph built from inputs and outputs): Keras saves it as its
        class, its config and the input shape its call is traced on."""
        return self._traced_call or (self._program is None and type(self).call is not Model.call)

    def get_config(self):
        """The graph: each layer's config and the nodes it was called at
        (Keras 3's functional config); for a subclassed model, what its
        constructor takes (Keras's layer config: the graph its call traced
        is rebuilt by tracing the call again)."""
        if self._program is None or self._traced_call:
            config = Layer.get_config(self)
            auto = self.__dict__.get("_auto_config")
            if auto is not None and type(self).get_config is Model.get_config:
                # Keras 3: a subclassed model without get_config() is
                # configured by its constructor's arguments, the base keys
                # its __init__ cannot take (it has no **kwargs) left out
                params = inspect.signature(type(self).__init__).parameters
                if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                    config = {k: v for k, v in config.items() if k in params}
                config.update(auto)
            return config
        from ..saving import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if cls.call is not Model.call and "layers" not in config:
            # a subclass computing in its own call(), from its own config
            return cls(**config)
        from ..saving import model_from_config
        return model_from_config({"class_name": "Functional", "config": config},
                                 custom_objects)

    def build_from_config(self, config):
        """Builds a subclassed model from get_build_config's input shape
        (by tracing its call)."""
        shape = (config or {}).get("input_shape")
        if shape is not None and self._program is None and not self._eager_call:
            self.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list)
                       else tuple(shape))

    def reset_states(self):
        """Zero the state of every stateful layer, nested models' included
        (Keras 2's ``model.reset_states()``, which programs written for it
        call between epochs of a stateful RNN)."""
        for layer in self.layers:
            if isinstance(layer, Model):
                layer.reset_states()
            elif getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
                layer.reset_states()

    def to_json(self, **kwargs):
        import json
        from ..saving import serialize_layer
        return json.dumps(serialize_layer(self), **kwargs)

    def save(self, filepath, overwrite=True, **kwargs):
        """Write the whole model (config, weights, compile settings and
        optimizer state) to a ``.pynn``, ``.keras`` or ``.h5`` file, by its
        name; see pynn.saving (``include_optimizer`` and ``save_format`` as
        Keras 3 takes them)."""
        from .. import saving
        saving.save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        """Write the weights only, to ``*.weights.pynn``, ``*.weights.h5``
        (Keras 3), ``*.h5`` (legacy HDF5) or, for a name of no format, a
        checkpoint.  ``save_format`` ('tf' or 'h5') and ``options`` are
        tf.keras's; see pynn.saving.save_weights."""
        from .. import saving
        saving.save_weights(self, filepath, overwrite=overwrite, save_format=save_format)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, options=None):
        """Read weights saved by save_weights, or from a whole-model file
        (``.pynn``, ``.keras``, ``.h5``; published Keras weight files too).
        ``options`` is tf.keras's (checkpoint options), accepted."""
        from .. import saving
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """Keras 3's ``export``: with ``format="litert"``, the model as a
        TensorFlow Lite flatbuffer at ``filepath`` (which must end in
        '.tflite'), written atomically; ``kwargs`` set the converter's
        attributes as tf.lite.TFLiteConverter's (``optimizations``,
        ``representative_dataset``, ``target_spec={"supported_types":
        [...]}``, ``inference_input_type``, ...).  ``input_signature``, if
        given, must match the model's inputs (pynn exports them as they
        are).  The other formats need TensorFlow, ONNX, OpenVINO or
        PyTorch, which pynn does not use."""
        from .. import lite
        from ..utils.io import atomic_write
        if format != "litert":
            raise ValueError(f"Model {self.name!r}: export format {format!r} is not available "
                             f"in pynn; it exports format='litert' (TensorFlow Lite)")
        path = os.fspath(filepath)
        if not str(path).endswith(".tflite"):
            raise ValueError(f"The LiteRT export requires the filepath to end with '.tflite'. "
                             f"Got: {path}")
        if input_signature is not None:
            specs = input_signature if isinstance(input_signature, (list, tuple)) else \
                [input_signature]
            shapes = [tuple(getattr(s, "shape", s))[1:] for s in specs]
            if shapes != [tuple(t.shape[1:]) for t in self._inputs]:
                raise ValueError(f"Model {self.name!r}: input_signature of shapes "
                                 f"{[(None,) + s for s in shapes]} does not match the model's "
                                 f"inputs {[t.shape for t in self._inputs]}")
        converter = lite.TFLiteConverter.from_keras_model(self)
        for attr, value in kwargs.items():
            if attr == "target_spec" and isinstance(value, dict):
                for key, v in value.items():
                    if not hasattr(converter.target_spec, key):
                        raise ValueError(f"Unknown target_spec attribute '{key}'")
                    setattr(converter.target_spec, key, v)
            elif hasattr(converter, attr) and not attr.startswith("_"):
                setattr(converter, attr, value)
            else:
                raise ValueError(f"Unknown converter attribute '{attr}'")
        data = converter.convert()
        with atomic_write(path, "wb") as f:
            f.write(data)
        if verbose is None or verbose:
            print(f"Saved artifact at '{path}'.")

    def export_tflite(self, filepath, quantize=None, representative_dataset=None, **options):
        """Write the model as a TensorFlow Lite flatbuffer (atomically) and
        return its bytes.  ``quantize``: None (float32), 'float16',
        'dynamic' or 'int8' (with ``representative_dataset``, a callable
        yielding lists of input arrays, as tf.lite's); ``options`` are the
        converter's settings (``inference_input_type=np.int8``, ...).  See
        pynn.lite."""
        from .. import lite
        return lite.export_tflite(self, filepath, quantize=quantize,
                                  representative_dataset=representative_dataset, **options)


Functional = Model


def input_dtype_of(layer):
    """The dtype a model built in front of ``layer`` reads."""
    given = getattr(layer, "_input_dtype_arg", None)
    return given or standardize_dtype(getattr(layer, "input_dtype", "float32"), layer.name)


__all__ = ["Model", "Functional", "Program", "map_graph", "InputLayer"]
