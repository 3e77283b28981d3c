"""Optimizers with Keras's names, arguments and defaults.

A model hands its optimizer one flat float32 array holding every trainable
parameter and one holding their gradients; ``apply`` updates all of them in
a single pass of one C kernel.  ``lr`` is accepted as Keras 2's alias of
``learning_rate``.
"""
import inspect
import math
import re
from collections.abc import MutableMapping

import numpy as np

from .. import autodiff, backend, ops
from ..utils.arguments import check_int
from ..autodiff import value_of
from ..layers.base import Weight
from . import schedules


class StateVariable(Weight):
    """One of an optimizer's variables as Keras 3 lists them
    (``optimizer.variables``): a view of the optimizer's state (a state
    array's piece for one weight), or, for its step count and learning
    rate, their value, which ``assign`` sets."""
    __slots__ = ("_set",)

    def __init__(self, name, value, set_value=None, scope=None):
        super().__init__(name, value, trainable=False)
        if scope:  # Keras's path: under the optimizer's name, adam/iteration
            self._scope = scope
        value = np.asarray(value)
        if value.dtype.kind in "iu":
            self.value = value  # the step count stays an integer
        self._set = set_value

    @property
    def dtype(self):
        return self.value.dtype.name

    def assign(self, value):
        super().assign(value)
        if self._set is not None:
            self._set(self.value[()])


# The name of the InverseTimeDecay schedule that tf.keras 2's ``decay``
# argument is, in a saved optimizer's config
_TIME_DECAY_NAME = "decay"


class LearningRate(float):
    """What ``optimizer.learning_rate`` hands out: the rate as a float that
    also answers as Keras's learning-rate variable does (``numpy()``,
    ``assign(value)``, ``value``), since Keras programs read it with
    ``.numpy()`` and set it with ``assign`` or ``backend.set_value``."""

    def __new__(cls, value, optimizer=None):
        rate = super().__new__(cls, value)
        rate._optimizer = optimizer
        return rate

    def __reduce__(self):
        # a copy (copy.deepcopy of a config holding it) is the plain number
        return float, (float(self),)

    def numpy(self):
        return np.float32(self)

    @property
    def value(self):
        return np.float32(self)

    def assign(self, value):
        if self._optimizer is None:
            raise TypeError("this learning rate belongs to no optimizer: set "
                            "optimizer.learning_rate instead")
        self._optimizer.learning_rate = float(value)


class StepCount(int):
    """What ``optimizer.iterations`` hands out: the number of steps taken,
    an int that also answers as Keras's iterations variable does
    (``numpy()``, ``value``, ``assign(n)``), as custom training loops read
    it (``optimizer.iterations.numpy()``)."""

    def __new__(cls, value, optimizer=None):
        count = super().__new__(cls, value)
        count._optimizer = optimizer
        return count

    def __reduce__(self):
        return int, (int(self),)

    def numpy(self):
        return np.int64(self)

    @property
    def value(self):
        return np.int64(self)

    def assign(self, value):
        if self._optimizer is None:
            raise TypeError("this step count belongs to no optimizer: set "
                            "optimizer.iterations instead")
        self._optimizer.iterations = int(value)


def _cut(flats, sizes):
    """Each variable's consecutive piece of each of the ``flats`` arrays:
    [[piece of flats[0], piece of flats[1], ...] per size]."""
    out, off = [], 0
    for n in sizes:
        out.append([f[off:off + n] for f in flats])
        off += n
    return out


def _flat_run(arrays):
    """The one flat array whose consecutive pieces ``arrays`` are, in
    order (fit's flat parameters, a block of optimizer state), else None."""
    base = arrays[0].base
    if not isinstance(base, np.ndarray) or base.ndim != 1 or base.dtype != np.float32 or \
            not base.flags.c_contiguous:
        return None
    start = (arrays[0].__array_interface__["data"][0] -
             base.__array_interface__["data"][0]) // 4
    at = start
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or \
                a.__array_interface__["data"][0] - base.__array_interface__["data"][0] != 4 * at:
            return None
        at += a.size
    return base[start:at]


class _SteppedVariable(Weight):
    """A variable as a tf.keras 2 optimizer subclass sees it in
    ``_resource_apply_dense`` (a view of the flat parameters) or makes it
    with ``add_slot``."""
    __slots__ = ()
    device = "/job:localhost/replica:0/task:0/device:CPU:0"


class _FlatPlan:
    """What apply_gradients keeps between steps on the same variables in
    the same order: the variables' values and their state as pieces of
    one flat array each (rebinding, once, those that are not: a weight's
    ``value`` may be rebound, as fit does), a flat gradient buffer and its
    pieces.  It holds while the same variables come in the same order with
    the same value arrays; anything else (new variables, another order or
    subset, a value rebound by fit or by a move to a GPU) makes a new one."""

    def __init__(self, opt, pairs):
        weights = [w for _, w in pairs]
        if len({id(w) for w in weights}) != len(weights):
            raise ValueError(f"{type(opt).__name__}.apply_gradients: a variable is given "
                             f"more than once")
        state = opt._variable_state(weights, "apply_gradients")
        sizes = [w.value.size for w in weights]
        params = _flat_run([w.value for w in weights])
        if params is None:
            params = backend.aligned_empty(sum(sizes))
            np.concatenate([w.value.reshape(-1) for w in weights], out=params)
            for w, (piece,) in zip(weights, _cut([params], sizes)):
                w.value = piece.reshape(w.value.shape)
            from ..models.functional import new_binding
            new_binding()  # (a model's flat binding of these weights is gone)
        slots = []
        for k in range(len(opt.slot_names)):
            pieces = [state[id(w)][1][k] for w in weights]
            flat = _flat_run(pieces)
            if flat is None:  # state made at different times: one block now
                flat = np.concatenate(pieces)
                for w, (piece,) in zip(weights, _cut([flat], sizes)):
                    state[id(w)][1][k] = piece
            slots.append(flat)
        self.weights = weights
        self.values = [w.value for w in weights]
        self.params = params
        self.slots = slots or None
        self.grads = np.zeros(params.size, np.float32)
        self.grad_views = [piece.reshape(w.value.shape)
                           for w, (piece,) in zip(weights, _cut([self.grads], sizes))]
        self.shapes = [w.value.shape for w in weights]
        self.constrained = [w for w in weights if w.constraint is not None]

    def holds(self, pairs):
        if len(pairs) != len(self.weights):
            return False
        for (_, w), mine, value in zip(pairs, self.weights, self.values):
            if w is not mine or w.value is not value:
                return False
        return True


class Optimizer:
    slot_names = ()
    built = False
    # (for the optimizers made without the base __init__: no accumulation)
    gradient_accumulation_steps = None
    _accumulated = None
    host_only = False  # updated in NumPy: a GPU's arrays come to the host for it
    # How many of the last slots Keras's files hold after every weight's
    # other slots, rather than weight by weight with them (AMSGrad's
    # velocity_hat, made after the momenta and velocities).
    slots_after_weights = 0

    def __init__(self, learning_rate=0.001, name=None, lr=None, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, decay=None,
                 gradient_accumulation_steps=None, **kwargs):
        if self._writes_keras3_updates():
            self.host_only = True   # (the updates are the subclass's, in NumPy)
        if self._writes_v2_updates():
            # tf.keras 2's OptimizerV2 subclass: ``super().__init__(name,
            # **kwargs)``, the hyperparameters set by _set_hyper, ``decay``
            # read by _decayed_lr
            if isinstance(learning_rate, str):
                name, learning_rate = learning_rate, 0.001
            self._hyper = {}
            self._initial_decay = float(decay or 0.0)
            decay = None
            self.host_only = True   # (the updates are the subclass's, in NumPy)
            for unused in ("gradient_aggregator", "gradient_transformers"):
                kwargs.pop(unused, None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        self.name = name or type(self).__name__.lower()
        self._schedule = None
        self.learning_rate = learning_rate if lr is None else lr
        if decay:
            # Keras 2's time decay, lr / (1 + decay * iterations), the
            # schedule that computes it
            decay = float(decay)
            if not np.isfinite(decay) or decay < 0:
                raise ValueError(f"{type(self).__name__}: decay must be a finite number >= 0, "
                                 f"got {decay!r}")
            if self._schedule is not None:
                raise ValueError(f"{type(self).__name__}: give decay= or a learning rate "
                                 f"schedule, not both")
            # (named for it, so that a saved model's optimizer reads back as
            # one with decay, whose rate can be set)
            self._schedule = schedules.InverseTimeDecay(self._learning_rate, 1, decay,
                                                        name=_TIME_DECAY_NAME)
            self._time_decay = self._schedule
        self.iterations = 0
        self._slots = None
        self._shapes = None  # the variables' shapes, given with each step
        self._stepped = None  # and the variables, where the caller knows them
        given = [k for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"{type(self).__name__}: give at most one of clipnorm, clipvalue "
                             f"and global_clipnorm, got {', '.join(given)}")
        for key, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm),
                           ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None:
                value = float(value)
                if not np.isfinite(value) or value < 0:
                    raise ValueError(f"{type(self).__name__}: {key} must be a finite number "
                                     f">= 0, got {value!r}")
            setattr(self, key, value)
        # Keras's exponential moving average of the weights: kept after each
        # step, copied into them every ema_overwrite_frequency steps and at
        # the end of fit (finalize_variable_values).
        self.use_ema = bool(use_ema)
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if self.use_ema:
            if not 0.0 <= self.ema_momentum <= 1.0:
                raise ValueError(f"{type(self).__name__}: ema_momentum must be in [0, 1], got "
                                 f"{ema_momentum!r}")
            check_int(ema_overwrite_frequency, "ema_overwrite_frequency", type(self).__name__,
                      minimum=1, allow_none=True)
        self._ema = None
        # Keras 3's gradient accumulation: the weights move every
        # gradient_accumulation_steps steps, by the average of their
        # gradients (kept meanwhile in one flat array).
        self.gradient_accumulation_steps = check_int(
            gradient_accumulation_steps, "gradient_accumulation_steps", type(self).__name__,
            minimum=2, allow_none=True)
        self._accumulated = None

    @property
    def iterations(self):
        """The steps taken; with gradient accumulation, the updates (Keras
        3's: the steps counted, ``_iterations``, floor-divided by
        gradient_accumulation_steps).  Setting it sets the steps counted."""
        if self.gradient_accumulation_steps:
            return StepCount(self._iterations // self.gradient_accumulation_steps, self)
        return StepCount(self._iterations, self)

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    @property
    def learning_rate(self):
        """The rate of the next step (a schedule's value at it: at the steps
        counted, updates or not, as Keras's).  With tf.keras 2's ``decay``
        it is the base rate, as tf.keras 2's ``optimizer.lr`` was: steps
        take it divided by ``1 + decay * iterations``."""
        if self._schedule is not None and self._schedule is self.__dict__.get("_time_decay"):
            return LearningRate(self._schedule.initial_learning_rate, self)
        return LearningRate(self._step_rate(), self)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, schedules.LearningRateSchedule) or (
                callable(value) and not isinstance(value, (int, float, np.number))):
            self._schedule = value
            return
        time_decay = self._schedule is not None and \
            self._schedule is self.__dict__.get("_time_decay")
        if self._schedule is not None and not time_decay:
            raise TypeError(f"{type(self).__name__}: the learning rate comes from a "
                            f"schedule given at construction and cannot be set")
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a finite "
                             f"number >= 0, got {value!r}")
        if time_decay:
            # (K.set_value(model.optimizer.lr, ...) under tf.keras 2's decay
            # sets the base rate, which the decay keeps dividing)
            self._schedule.initial_learning_rate = value
            return
        self._learning_rate = value

    def _step_rate(self):
        """The rate the next step takes: a schedule's value at it."""
        if self._schedule is not None:
            return self._schedule(StepCount(self._iterations, self)) if isinstance(
                self._schedule, schedules.LearningRateSchedule) else self._schedule()
        return self._learning_rate

    lr = learning_rate

    def build(self, size, like=None):
        """Allocate the state for ``size`` parameters (kept if it fits),
        where the array ``like`` lives (a GPU's device array: the state goes
        there too, and comes back when the parameters do).  Given a list of
        variables (Keras 3's ``build(model.trainable_variables)``), make each
        one's state before the first step of :meth:`apply_gradients`."""
        if isinstance(size, (list, tuple)):
            if not self._writes_keras3_updates():   # (whose state is its own build's)
                self._variable_state(size, "build")
            self._trainable_variables = list(size)
            self._trainable_variables_indices = {id(v): i for i, v in enumerate(size)}
            self.built = True
        else:
            self._build(size, like)

    def _build(self, size, like):
        if not self.slot_names:
            return
        slots = self._slots
        if slots is not None and type(slots[0]) is np.ndarray and slots[0].size == size and \
                type(like) is np.ndarray:
            return  # every step of fit on the host
        if self._slots is None or self._slots[0].size != size:
            self._slots = [np.zeros(size, np.float32) for _ in self.slot_names]
        from ..cuda import DeviceArray, to_device
        if isinstance(like, DeviceArray):
            self._slots = [s if isinstance(s, DeviceArray) and s.device == like.device
                           else to_device(np.asarray(s), like.device) for s in self._slots]
        elif like is not None and isinstance(self._slots[0], DeviceArray):
            self._slots = [s.to_numpy() for s in self._slots]

    def apply(self, params, grads, sizes=None, shapes=None, variables=None):
        """One update of the flat ``params`` from the flat ``grads`` (the
        variables' ``shapes`` in order, or only their ``sizes``, for
        clipnorm's per-variable norms and the optimizers whose rule works
        on whole variables; the ``variables`` themselves, for those that
        pick a rule by a variable's path).  The step's learning rate is fixed first (a
        schedule's value at ``iterations``), then the gradients are clipped
        and the weights decayed, as Keras does.  Given lists (Keras 3's
        ``apply(grads, trainable_variables)``): :meth:`apply_gradients` of
        the pairs."""
        if isinstance(params, (list, tuple)):
            return self.apply_gradients(zip(params, grads))
        self._shapes = None if shapes is None else [tuple(s) for s in shapes]
        self._stepped = variables
        if self._schedule is not None:
            self._learning_rate = float(self._step_rate())
        device = None
        if self.host_only or self.clipnorm or self.clipvalue or self.global_clipnorm or \
                self.weight_decay or self.use_ema or self.gradient_accumulation_steps:
            from ..cuda import DeviceArray
            if isinstance(params, DeviceArray):
                device, params, grads = (params, grads), params.to_numpy(), grads.to_numpy()
        if self.gradient_accumulation_steps and not self._accumulate(grads):
            # (a step that only adds its gradients up, as Keras's: it counts)
            self._iterations += 1
            if self.use_ema:
                self._average(params)
            if device is not None:
                device[0][...] = params
            return
        self._clip(grads, sizes)
        if not self._writes_keras3_updates():   # (a Keras 3 subclass's build takes variables)
            self.build(params.size, None if self.host_only else params)
        self._decay(params)
        self._iterations += 1  # (the property hands out a new StepCount)
        self._update(params, grads)
        if self.use_ema:
            self._average(params)
        if device is not None:
            device[0][...] = params

    def _accumulate(self, grads):
        """Add this step's gradients to the ones kept: False on a step that
        only does that, True on the step that updates the weights
        (``grads`` then holds the average of the steps' gradients)."""
        steps = self.gradient_accumulation_steps
        if self._accumulated is None or self._accumulated.size != grads.size:
            self._accumulated = np.zeros(grads.size, np.float32)
        kept = self._accumulated
        if (self._iterations + 1) % steps:
            kept += grads.reshape(-1)
            return False
        flat = grads.reshape(-1)
        flat += kept
        flat *= np.float32(1.0 / steps)
        kept[...] = 0.0
        return True

    def _average(self, params):
        """Keras's moving average after a step (``iterations`` already
        counts it): the weights themselves after the first step."""
        step = self.iterations - 1
        if step == 0 or self._ema is None or self._ema.size != params.size:
            self._ema = np.array(params, np.float32)
        else:
            m = np.float32(self.ema_momentum)
            self._ema *= m
            self._ema += (np.float32(1.0) - m) * params
        if self.ema_overwrite_frequency and (step + 1) % self.ema_overwrite_frequency == 0:
            params[...] = self._ema

    def finalize_variable_values(self, var_list):
        """At the end of fit: with ``use_ema``, the weights take their moving
        average (``var_list``: the variables in the order they were
        stepped, or fit's flat array of them)."""
        if not self.use_ema or self._ema is None:
            return
        if not isinstance(var_list, (list, tuple)):  # fit's flat array (a GPU's too)
            if var_list.size == self._ema.size:
                var_list[...] = self._ema.reshape(var_list.shape)
            return
        values = [getattr(v, "value", v) for v in var_list]
        if sum(np.size(v) for v in values) != self._ema.size:
            raise ValueError(f"{type(self).__name__}.finalize_variable_values: the variables "
                             f"hold {sum(np.size(v) for v in values)} values, the moving "
                             f"average {self._ema.size}")
        off = 0
        for v in values:
            n = np.size(v)
            v[...] = self._ema[off:off + n].reshape(np.shape(v))
            off += n

    def _ema_exchange(self, var_list, keep_weights=False):
        """SwapEMAWeights's exchange of the variables' values (``var_list``,
        in the order they were stepped) with their moving averages; with
        ``keep_weights``, the averages take the variables' values instead.
        Before the first step the weights are their own average."""
        if not self.use_ema:
            raise ValueError(f"SwapEMAWeights must be used when `use_ema=True` is set on the "
                             f"optimizer. Received: use_ema={self.use_ema}")
        if self._ema is None:
            return
        values = [getattr(v, "value", v) for v in var_list]
        total = sum(np.size(v) for v in values)
        if total != self._ema.size:
            raise ValueError(f"{type(self).__name__}: the variables hold {total} values, the "
                             f"moving average {self._ema.size}")
        current = np.concatenate([np.asarray(v, np.float32).reshape(-1) for v in values])
        if not keep_weights:
            off = 0
            for v in values:
                n = np.size(v)
                v[...] = self._ema[off:off + n].reshape(np.shape(v))
                off += n
        self._ema[...] = current

    # ------------------------------------------- variables, one by one

    def apply_gradients(self, grads_and_vars):
        """One step on the ``(gradient, variable)`` pairs (weights or
        pynn.Variable objects); pairs whose gradient is None are skipped.
        The variables and their state (kept per variable) are one flat
        array each for one :meth:`apply`, fit's step, so the update, the
        clipping, the step count and the learning rate are fit's; variables'
        constraints apply after it.  Returns ``iterations``."""
        pairs = [(g, w) for g, w in grads_and_vars if g is not None]
        plan = self.__dict__.get("_flat_plan")
        if plan is None or not plan.holds(pairs):
            if not pairs:
                self._variable_state([], "apply_gradients")
                return self.iterations
            plan = self._flat_plan = _FlatPlan(self, pairs)
        for (g, w), buf in zip(pairs, plan.grad_views):
            # (a gradient a tape still records, taken inside a persistent
            # tape's block: the step uses its value)
            if type(g) is not np.ndarray:
                g = np.asarray(value_of(g), dtype=np.float32)
            if g.shape != buf.shape:
                raise ValueError(f"{type(self).__name__}.apply_gradients: the gradient of "
                                 f"{w.path!r} has shape {g.shape}, the variable {buf.shape}")
            buf[...] = g
        from ..distribute import _replica_world
        world = _replica_world()
        if world is not None:
            # in a multi-process strategy's run: the gradients of every
            # replica's share, summed (each scaled to the global batch)
            world.allreduce_(plan.grads, "the gradient sum of apply_gradients")
        flat_slots = self._slots
        self._slots = plan.slots
        try:
            self.apply(plan.params, plan.grads, shapes=plan.shapes, variables=plan.weights)
        finally:
            self._slots = flat_slots
        for w in plan.constrained:
            w.constraint.apply(w.value)
        return self.iterations

    def minimize(self, loss, var_list, tape=None):
        """tf.keras 2's: one step on the gradient of ``loss`` for
        ``var_list`` (a list of variables, or a callable giving it).
        ``loss`` is a callable of no arguments, run on a new GradientTape
        (or on ``tape``), or a value computed on ``tape``.  The gradient
        is of ``scale_loss(loss)``, as apply_gradients takes it (the same
        for all but LossScaleOptimizer).  Returns ``iterations``."""
        from ..tape import GradientTape
        if callable(loss):
            with tape if tape is not None else GradientTape() as tape:
                if not callable(var_list):
                    tape.watch(var_list)
                loss = self.scale_loss(loss())
                if callable(var_list):
                    var_list = var_list()
            grads = tape.gradient(loss, list(var_list))
        elif tape is None:
            raise ValueError(f"{type(self).__name__}.minimize: a loss value needs the "
                             f"GradientTape that computed it (tape=...); or pass the loss "
                             f"as a callable of no arguments")
        else:
            grads = [None if g is None else self.scale_loss(g)
                     for g in tape.gradient(loss, list(var_list))]
        return self.apply_gradients(zip(grads, var_list))

    def _variable_state(self, weights, caller):
        """{id: (variable, its state arrays)}, with state made for those of
        ``weights`` that have none yet (the new ones' arrays views of one
        block, in their order, so a step on them needs no gathering)."""
        from ..layers.base import Weight
        state = self.__dict__.setdefault("_variable_slots", {})
        new = []
        for w in weights:
            if not isinstance(w, Weight):
                raise TypeError(f"{type(self).__name__}.{caller}: expected weights or "
                                f"pynn.Variable objects, got {type(w).__name__}")
            if not isinstance(w.value, np.ndarray):
                raise ValueError(f"{type(self).__name__}.{caller}: variable {w.path!r} "
                                 f"is on a GPU; train it on the CPU")
            if (id(w) not in state or state[id(w)][0] is not w) and \
                    all(v is not w for v in new):
                new.append(w)
        if new:
            block = self._fresh_slots(sum(w.value.size for w in new))
            for w, views in zip(new, _cut(block, [w.value.size for w in new])):
                state[id(w)] = (w, views)
        return state

    def _fresh_slots(self, size):
        """New state for ``size`` parameters, as build makes it."""
        saved, self._slots = self._slots, None
        try:
            self.build(size)
            return [np.array(s) for s in self._slots or []]
        finally:
            self._slots = saved

    def _clip(self, grads, sizes):
        if self.clipvalue is not None:
            np.clip(grads, -self.clipvalue, self.clipvalue, out=grads)
        elif self.global_clipnorm is not None:
            norm = float(np.sqrt(np.dot(grads, grads)))
            if norm > self.global_clipnorm:
                grads *= np.float32(self.global_clipnorm / norm)
        elif self.clipnorm is not None:
            if sizes is None:  # (counted here only: most steps clip nothing per variable)
                sizes = [math.prod(s) for s in self._shapes] if self._shapes else [grads.size]
            off = 0
            for n in sizes:
                g = grads[off:off + n]
                norm = float(np.sqrt(np.dot(g, g)))
                if norm > self.clipnorm:
                    g *= np.float32(self.clipnorm / norm)
                off += n

    def _decay(self, params):
        """Decoupled weight decay, before the step (as Keras applies it)."""
        if self.weight_decay:
            params -= np.float32(self._learning_rate * self.weight_decay) * params

    def _update(self, params, grads):
        if self._writes_v2_updates():
            self._apply_v2_updates(params, grads)
        elif self._writes_keras3_updates():
            self._apply_keras3_updates(params, grads)
        else:
            raise NotImplementedError(f"{type(self).__name__}: an optimizer subclass writes "
                                      f"its update as Keras 3's update_step(gradient, "
                                      f"variable, learning_rate) (with build(var_list) making "
                                      f"its state) or tf.keras 2's _resource_apply_dense(grad, "
                                      f"var)")

    # ------------------- tf.keras 2's OptimizerV2 subclass API

    @classmethod
    def _writes_v2_updates(cls):
        """Whether the subclass updates variable by variable as tf.keras 2's
        optimizers were written (``_resource_apply_dense``)."""
        return hasattr(cls, "_resource_apply_dense")

    def __getattr__(self, name):
        # a hyperparameter set by _set_hyper reads as an attribute (opt.momentum)
        hyper = self.__dict__.get("_hyper")
        if hyper is not None and name in hyper:
            return self._get_hyper(name)
        # (the error of the lookup itself: a property's own message included)
        return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        hyper = self.__dict__.get("_hyper")
        if hyper is not None and name in hyper and name not in ("learning_rate", "lr"):
            hyper[name] = value
            return
        object.__setattr__(self, name, value)

    def _set_hyper(self, name, value):
        """Sets a hyperparameter (tf.keras 2's): ``learning_rate`` (or
        ``lr``) is the optimizer's learning rate, a schedule too."""
        if name in ("learning_rate", "lr"):
            self.learning_rate = value
            self._hyper["learning_rate"] = None   # (read from learning_rate)
            return
        self._hyper[name] = value

    def _get_hyper(self, name, dtype=None):
        """A hyperparameter's value (a callable one called; the learning rate
        schedule as it is), cast to ``dtype`` when given."""
        if name not in self._hyper:
            raise KeyError(f"{type(self).__name__}: no hyperparameter {name!r}; set it with "
                           f"_set_hyper (there are {sorted(self._hyper)})")
        if name == "learning_rate":
            if self._schedule is not None:
                return self._schedule
            value = self._learning_rate
        else:
            value = self._hyper[name]
            if isinstance(value, schedules.LearningRateSchedule):
                return value
            if callable(value):
                value = value()
        value = value_of(value)
        from ..tensor import eager
        return eager(np.asarray(value, dtype=None if dtype is None else
                                np.dtype(getattr(dtype, "as_numpy_dtype", dtype))))

    def _serialize_hyperparameter(self, name):
        value = self._get_hyper(name)
        if isinstance(value, schedules.LearningRateSchedule):
            return schedules.serialize(value)
        return float(np.asarray(value)) if np.ndim(value) == 0 else np.asarray(value).tolist()

    def _decayed_lr(self, var_dtype):
        """The learning rate of this step: a schedule's value at
        ``iterations``, divided by ``1 + decay * iterations`` with Keras 2's
        ``decay``."""
        lr = self._get_hyper("learning_rate", var_dtype)
        step = float(self._iterations)
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = np.asarray(value_of(lr(StepCount(self._iterations, self))), np.float32)
        if self._initial_decay > 0:
            decay = self._get_hyper("decay", var_dtype) if "decay" in self._hyper else \
                self._initial_decay
            lr = lr / (1.0 + np.float32(decay) * np.float32(step))
        from ..tensor import eager
        return eager(np.asarray(lr, np.float32))

    def add_slot(self, var, slot_name, initializer="zeros", shape=None):
        """The state ``slot_name`` of ``var`` (made on first call: filled by
        ``initializer``, a name, an initializer, a callable of shape and
        dtype or a value), as tf.keras 2's."""
        slots = self.__dict__.setdefault("_v2_slots", {})
        key = (id(var), slot_name)
        if key in slots and slots[key][0] is var:
            return slots[key][1]
        shape = tuple(var.shape) if shape is None else tuple(shape)
        if isinstance(initializer, str) or hasattr(initializer, "get_config"):
            from .. import initializers
            value = initializers.get(initializer)(shape, dtype="float32")
        elif callable(initializer):
            value = initializer(shape=shape, dtype="float32")
        else:
            value = np.broadcast_to(np.asarray(value_of(initializer), np.float32), shape)
        slot = _SteppedVariable(f"{getattr(var, 'name', 'variable')}/{slot_name}",
                                np.array(value_of(value), np.float32).reshape(shape))
        slots[key] = (var, slot)
        names = self.__dict__.setdefault("_v2_slot_names", [])
        if slot_name not in names:
            names.append(slot_name)
        return slot

    def get_slot(self, var, slot_name):
        held = self.__dict__.get("_v2_slots", {}).get((id(var), slot_name))
        if held is None or held[0] is not var:
            raise KeyError(f"{type(self).__name__}: no slot {slot_name!r} for variable "
                           f"{getattr(var, 'name', var)!r}; _create_slots makes them with "
                           f"add_slot (the slots are {self.get_slot_names()})")
        return held[1]

    def get_slot_names(self):
        return list(self.__dict__.get("_v2_slot_names", []))

    def _create_slots(self, var_list):
        """tf.keras 2's hook to make each variable's state with add_slot
        (none by default)."""

    def _prepare_local(self, var_device, var_dtype, apply_state):
        """tf.keras 2's hook filling ``apply_state[(var_device, var_dtype)]``
        once per step; by default with the step's learning rate, ``lr_t``."""
        if "learning_rate" in self._hyper:
            apply_state[(var_device, var_dtype)]["lr_t"] = self._decayed_lr(var_dtype)

    def _fallback_apply_state(self, var_device, var_dtype):
        apply_state = {(var_device, var_dtype): {}}
        self._prepare_local(var_device, var_dtype, apply_state)
        return apply_state[(var_device, var_dtype)]

    def _stepped_variables(self, params):
        """Each variable of this step as a subclass's update sees it (a view
        of the flat ``params``, kept from step to step while the layout
        holds), with its gradient's slice, and whether the subclass has
        made its state for them yet (a one-item list it sets)."""
        slices = list(self._variable_slices(params.size))
        layout = tuple((sl.start, sl.stop, tuple(shape)) for sl, shape in slices)
        held = self.__dict__.get("_v2_variables")
        if held is None or held[0] != layout:
            names = [getattr(w, "path", None) for w in (self._stepped or ())]
            if len(names) != len(slices):
                names = [f"variable_{i}" for i in range(len(slices))]
            held = self._v2_variables = (layout, [
                _SteppedVariable(n, np.zeros(shape, np.float32)) for n, (_, shape) in
                zip(names, slices)], [False])
        for w, (sl, shape) in zip(held[1], slices):
            w.value = params[sl].reshape(shape)   # (a view: the update writes params)
        return held[1], slices, held[2]

    def _apply_v2_updates(self, params, grads):
        """One step of a tf.keras 2 subclass: each variable (a view of the
        flat parameters) updated by ``_resource_apply_dense(grad, var)``,
        its slots made by ``_create_slots`` before the first; ``iterations``
        reads as the steps taken before this one, as in tf.keras 2."""
        from ..tensor import eager
        variables, slices, created = self._stepped_variables(params)
        if not variables:
            return
        self._iterations -= 1
        try:
            if not created[0]:
                self._create_slots(variables)
                created[0] = True
                self._restore_custom_state()
            key = (_SteppedVariable.device, variables[0].dtype.base_dtype)
            apply_state = {key: {}}
            self._prepare_local(key[0], key[1], apply_state)
            params_of = inspect.signature(self._resource_apply_dense).parameters
            with_state = "apply_state" in params_of or len(params_of) >= 3 or any(
                p.kind is p.VAR_KEYWORD for p in params_of.values())
            for w, (sl, shape) in zip(variables, slices):
                g = eager(grads[sl].reshape(shape))
                if with_state:
                    self._resource_apply_dense(g, w, apply_state=apply_state)
                else:
                    self._resource_apply_dense(g, w)
        finally:
            self._iterations += 1

    # ------------------- Keras 3's optimizer subclass API

    @classmethod
    def _writes_keras3_updates(cls):
        """Whether the subclass writes Keras 3's ``update_step(gradient,
        variable, learning_rate)`` (with its state made in ``build``)."""
        return getattr(cls, "update_step", None) is not None and \
            not cls._writes_v2_updates()

    def _apply_keras3_updates(self, params, grads):
        """One step of a Keras 3 subclass: ``build(variables)`` before the
        first, then ``update_step(gradient, variable, learning_rate)`` for
        each variable (a view of the flat parameters); ``iterations`` reads
        as the steps taken before this one, as in Keras."""
        from ..tensor import eager
        variables, slices, created = self._stepped_variables(params)
        if not variables:
            return
        self._iterations -= 1
        try:
            if not created[0]:
                self.built = False
                self._k3_state = []
                self.build(variables)
                created[0] = True
                self._restore_custom_state()
            rate = eager(np.float32(self._learning_rate))
            for w, (sl, shape) in zip(variables, slices):
                self.update_step(eager(grads[sl].reshape(shape)), w, rate)
        finally:
            self._iterations += 1

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="none",
                     layout=None, name=None):
        """A state variable of the optimizer (Keras 3's), filled by
        ``initializer``."""
        from .. import initializers
        shape = tuple(int(d) for d in shape)
        init = initializers.get(initializer) if isinstance(initializer, str) or \
            hasattr(initializer, "get_config") else initializer
        value = init(shape, dtype="float32") if callable(init) else \
            np.broadcast_to(np.asarray(value_of(init), np.float32), shape)
        made = _SteppedVariable(name or "variable",
                                np.array(value_of(value), np.float32).reshape(shape))
        self.__dict__.setdefault("_k3_state", []).append(made)
        return made

    # ------------------- a subclass's own state, saved with the model

    def custom_state(self):
        """[(name, array)]: the state a tf.keras 2 subclass made with
        ``add_slot`` (for the variables it steps now) or a Keras 3 subclass
        with ``add_variable`` in ``build``, in the order made; empty for
        pynn's own optimizers and before the first step."""
        if self._writes_v2_updates():
            held = self.__dict__.get("_v2_variables")
            live = {id(v) for v in held[1]} if held else set()
            return [(slot.name, slot.value) for var, slot in
                    self.__dict__.get("_v2_slots", {}).values() if id(var) in live]
        if self._writes_keras3_updates():
            return [(v.name, v.value) for v in self.__dict__.get("_k3_state", [])]
        return []

    def set_custom_state(self, arrays):
        """Give back what ``custom_state`` held (arrays in its order): now
        if the subclass's state exists, else when its first step makes it,
        so that training resumed from a file goes on as it would have."""
        self.__dict__["_pending_custom_state"] = [np.asarray(a, np.float32) for a in arrays]
        held = self.__dict__.get("_v2_variables")
        if held is not None and held[2][0]:
            self._restore_custom_state()

    def _restore_custom_state(self):
        pending = self.__dict__.pop("_pending_custom_state", None)
        if pending is None:
            return
        state = self.custom_state()
        if len(state) != len(pending) or any(
                tuple(v.shape) != a.shape for (_, v), a in zip(state, pending)):
            raise ValueError(f"{type(self).__name__}: the saved optimizer state (shapes "
                             f"{[a.shape for a in pending]}) does not fit the state this "
                             f"optimizer made (shapes {[tuple(v.shape) for _, v in state]})")
        for (_, v), a in zip(state, pending):
            v[...] = a

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """A state variable shaped as ``reference_variable`` (Keras 3's:
        momenta, velocities), named after it."""
        base = getattr(reference_variable, "path", None) or getattr(reference_variable, "name",
                                                                    "variable")
        return self.add_variable(tuple(reference_variable.shape), initializer,
                                 name=f"{str(base).replace('/', '_')}_{name or 'slot'}")

    def _get_variable_index(self, variable):
        """The position of ``variable`` among those ``build`` was given."""
        index = self.__dict__.get("_trainable_variables_indices", {}).get(id(variable))
        if index is None:
            raise KeyError(f"{type(self).__name__}: variable {getattr(variable, 'name', '')!r} "
                           f"was not given to build()")
        return index

    def assign(self, variable, value):
        variable.assign(value)

    def assign_add(self, variable, value):
        variable.assign_add(value)

    def assign_sub(self, variable, value):
        variable.assign_sub(value)

    def _variable_slices(self, size):
        """(slice, shape) of each variable in the flat arrays of ``size``
        parameters (one variable of their whole size when the caller gave
        no shapes)."""
        shapes = self._shapes or [(size,)]
        off = 0
        for shape in shapes:
            n = math.prod(shape)
            yield slice(off, off + n), shape
            off += n

    def scale_loss(self, loss):
        """The loss a training step differentiates (as it is, but for
        LossScaleOptimizer's scaling)."""
        return loss

    # ------------------------------------------------------- state, config

    def _state_arrays(self):
        """The flat state arrays of fit's steps (momenta, velocities), in
        a fixed order (host copies of state kept on a GPU)."""
        return [s if isinstance(s, np.ndarray) else np.asarray(s) for s in self._slots or []]

    def _use_state_of(self, weights):
        """Make the flat state fit's steps use that of ``weights`` (the set
        a model steps).  One optimizer compiled into two models (a GAN's
        discriminator and its combined model, sharing one Adam in tf.keras
        programs) keeps each set's momenta apart, as tf.keras keeps them per
        variable: the other set's state is put aside, not reset at every
        switch (nor, for sets of one size, mixed)."""
        key = tuple(map(id, weights))
        current = self.__dict__.get("_state_key")
        if current == key:
            return
        aside = self.__dict__.setdefault("_states_aside", {})
        if current is not None:
            aside[current] = (self._slots, self._ema, self.__dict__.get("_state_weights"))
        if current is not None or key in aside:
            # (the first set adopts the state there is: one restored from a file)
            self._slots, self._ema, kept = aside.pop(key, (None, None, None))
            self._state_weights = kept or list(weights)
        self.__dict__["_state_key"] = key

    def _track_weights(self, weights):
        """The trainable weights fit steps, in the order of its flat arrays:
        what cuts the flat state into each weight's variables."""
        self._state_weights = list(weights)

    def _state_of(self, weights):
        """[(weight, its state arrays)] for ``weights``: fit's flat state or
        the state apply_gradients keeps per variable (a model trained by
        its own train_step or a GradientTape loop); zeros for a weight with
        none yet."""
        kept = {id(w): (w, slots) for w, slots in self._state_layout()}
        out = []
        for w in weights:
            held, slots = kept.get(id(w), (None, None))
            if held is not w or len(slots) != len(self.slot_names):
                slots = [np.zeros(w.value.size, np.float32) for _ in self.slot_names]
            out.append((w, slots))
        return out

    def _share_flat_state(self, weights):
        """Make the flat state of ``weights`` (in the order of its arrays;
        one restored from a file) the state apply_gradients keeps for each
        of them too, as views of it: a model trained by its own train_step
        or a GradientTape loop resumes from it, as fit does."""
        if self._slots is None:
            return
        state = self.__dict__.setdefault("_variable_slots", {})
        for w, views in zip(weights, _cut(self._slots, [w.value.size for w in weights])):
            state[id(w)] = (w, views)

    def _state_layout(self):
        """[(weight, its state arrays, flat)] in the order of the weights:
        fit's flat state cut weight by weight, else the state
        apply_gradients keeps per variable; [] before either."""
        weights = self.__dict__.get("_state_weights")
        if weights:
            slots = self._state_arrays()
            total = sum(w.value.size for w in weights)
            if len(slots) == len(self.slot_names) and all(s.size == total for s in slots):
                out, off = [], 0
                for w in weights:
                    n = w.value.size
                    out.append((w, [s[off:off + n] for s in slots]))
                    off += n
                return out
        return list((self.__dict__.get("_variable_slots") or {}).values())

    def _flat_views(self, attr, layout):
        """Each weight's view of the flat float32 array held in ``attr``,
        made as zeros for the layout's weights when missing or of another
        size."""
        total = sum(w.value.size for w, _ in layout)
        flat = getattr(self, attr)
        if flat is None or flat.size != total:
            flat = np.zeros(total, np.float32)
            setattr(self, attr, flat)
        out, off = [], 0
        for w, _ in layout:
            n = w.value.size
            out.append(flat[off:off + n].reshape(w.value.shape))
            off += n
        return out

    def _accumulators(self, layout):
        """Each weight's gradient accumulator (gradient_accumulation_steps),
        a view of the flat one."""
        return self._flat_views("_accumulated", layout)

    def _averages(self, layout):
        """Each weight's moving average (use_ema), a view of the flat one
        (made, as zeros, before the first step: Keras's state once built)."""
        return self._flat_views("_ema", layout)

    def keras_state(self, layout=None, wrapped=False):
        """[(name, array)] of the optimizer's variables in Keras 3's order:
        the step count and learning rate (keras_head), with use_ema each
        weight's moving average, each weight's state arrays (grouped as
        Keras makes them), then extra_variables.  The arrays of the weights'
        state are views of the optimizer's own."""
        layout = self._state_layout() if layout is None else layout
        out = list(self.keras_head())
        if not layout:
            return out
        if self.use_ema:
            out += [(f"{w.path.replace('/', '_')}_average", a)
                    for (w, _), a in zip(layout, self._averages(layout))]
        if self.gradient_accumulation_steps:
            out += [(f"{w.path.replace('/', '_')}_gradient_accumulator", a)
                    for (w, _), a in zip(layout, self._accumulators(layout))]
        k = len(self.slot_names)
        late = self.slots_after_weights
        for group in (range(k - late), range(k - late, k)):
            for w, slots in layout:
                for j in group:
                    shape = self.slot_shape(j, w.shape, wrapped=wrapped, path=w.path)
                    if shape is not None:
                        out.append((f"{w.path.replace('/', '_')}_{self.slot_names[j]}",
                                    slots[j][:math.prod(shape)].reshape(shape)))
        return out + self.extra_variables()

    @property
    def variables(self):
        """Keras 3's list of the optimizer's variables: ``iteration``,
        ``learning_rate`` (not with a schedule), with use_ema each trained
        weight's moving average, with gradient_accumulation_steps each one's
        gradient accumulator, then each weight's state (Adam: its
        momentum and velocity) once built."""
        state = self.keras_state()
        setters = self._head_setters() + [None] * (len(state) - len(self.keras_head()))
        return [StateVariable(name, value, set_value, scope=self.name)
                for (name, value), set_value in zip(state, setters)]

    def _head_setters(self):
        """What ``assign`` on each of keras_head's variables sets."""
        out = [lambda v: setattr(self, "iterations", int(v))]
        if self._schedule is None:
            out.append(lambda v: setattr(self, "learning_rate", float(v)))
        return out

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """Keras 3's stateless step: the new values of ``trainable_variables``
        and of ``optimizer_variables`` (values for ``variables``, in order)
        after one step on ``grads``, leaving the optimizer, its state and
        the weights it was built with as they were."""
        layout = list((self.__dict__.get("_variable_slots") or {}).values())
        if not layout:
            raise ValueError(f"To call `stateless_apply`, {type(self).__name__} must be built "
                             f"(i.e. its variables must have been created). You can build it "
                             f"via `optimizer.build(trainable_variables)`.")
        variables = [StateVariable(name, value) for name, value in self.keras_state(layout)]
        if len(optimizer_variables) != len(variables):
            raise ValueError(f"Argument `optimizer_variables` must be a list of tensors "
                             f"corresponding 1:1 to {type(self).__name__}().variables. "
                             f"Received list with length {len(optimizer_variables)}, but "
                             f"expected {len(variables)} variables.")
        weights = [w for w, _ in layout]
        if len(trainable_variables) != len(weights) or len(grads) != len(weights):
            raise ValueError(f"{type(self).__name__}.stateless_apply: the optimizer was built "
                             f"with {len(weights)} variables; got {len(trainable_variables)} "
                             f"trainable variables and {len(grads)} gradients")
        saved_state = [v.numpy() if v.value.dtype == np.float32 else v.value.copy()
                       for v in variables]
        saved_weights = [w.numpy() for w in weights]
        saved = (self._iterations, self.__dict__.get("_learning_rate"))
        try:
            for v, value in zip(variables, optimizer_variables):
                v.value[...] = np.asarray(autodiff.value_of(value))
            self.iterations = int(variables[0].value)
            if self._schedule is None:
                self._learning_rate = float(variables[1].value)
            for w, value in zip(weights, trainable_variables):
                w.assign(autodiff.value_of(value))
            self.apply_gradients(zip(grads, weights))
            new_weights = [w.numpy() for w in weights]
            new_state = [np.array(value) for _, value in self.keras_state(layout)]
        finally:
            for v, value in zip(variables, saved_state):
                v.value[...] = value
            for w, value in zip(weights, saved_weights):
                w.value[...] = value
            self.iterations, self._learning_rate = saved
        return new_weights, new_state

    def slot_shape(self, index, shape, wrapped=False, path=None):
        """The shape Keras gives state array ``index`` of a variable of
        ``shape`` (its own shape but for Adafactor's factored moments; None
        where Keras keeps none, ``wrapped`` in a LossScaleOptimizer); it is
        the front of the variable's piece of the flat state array."""
        return tuple(shape)

    def keras_head(self):
        """[(name, value)] of the scalars Keras stores before the
        per-variable state: the step count and the learning rate (none
        for a schedule)."""
        out = [("iteration", np.asarray(self._iterations, np.int64))]
        if self._schedule is None:
            out.append(("learning_rate", np.asarray(self.learning_rate, np.float32)))
        return out

    def set_keras_head(self, values):
        """Restore from the values of :meth:`keras_head`'s scalars, read
        from a file."""
        self.iterations = int(values[0])

    def scalar_state(self):
        """{name: number} of the state kept beside the slot arrays and the
        step count (LossScaleOptimizer's scale), for pynn's own files."""
        return {}

    def set_scalar_state(self, values):
        if values:
            raise ValueError(f"{type(self).__name__} keeps no scalar state, the file holds "
                             f"{sorted(values)}")

    def extra_variables(self):
        """[(name, value)] of the scalars Keras keeps after the per-weight
        state (none here; Nadam's momentum product)."""
        return []

    def set_state(self, iterations, slots):
        slots = [np.ascontiguousarray(s, dtype=np.float32).reshape(-1) for s in slots]
        if len(slots) != len(self.slot_names):
            raise ValueError(f"{type(self).__name__}: expected {len(self.slot_names)} state "
                             f"arrays, got {len(slots)}")
        self._slots = slots if slots else None
        self.iterations = int(iterations)

    def get_config(self):
        config = {"name": self.name,
                  "learning_rate": schedules.serialize(self._schedule)
                  if isinstance(self._schedule, schedules.LearningRateSchedule)
                  else float(self.learning_rate)}
        for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        if self.use_ema:
            config.update(use_ema=True, ema_momentum=self.ema_momentum,
                          ema_overwrite_frequency=self.ema_overwrite_frequency)
        if self.gradient_accumulation_steps:
            config["gradient_accumulation_steps"] = self.gradient_accumulation_steps
        if getattr(self, "_initial_decay", 0):
            config["decay"] = self._initial_decay
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        rate = config.get("learning_rate")
        if isinstance(rate, dict):
            inner = rate.get("config") or {}
            if rate.get("class_name") == "InverseTimeDecay" and \
                    inner.get("name") == _TIME_DECAY_NAME and inner.get("decay_steps") == 1 \
                    and not inner.get("staircase") and not config.get("decay"):
                # what decay= wrote: read back as decay=
                config["learning_rate"] = inner["initial_learning_rate"]
                config["decay"] = inner["decay_rate"]
            else:
                config["learning_rate"] = schedules.deserialize(rate, custom_objects)
        return cls(**config)


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum > 0 else ()

    def _update(self, params, grads):
        v = self._slots[0] if self.slot_names else None
        ops.sgd_update(params, grads, v, self._learning_rate, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Divides the gradient by a running root mean square of its history;
    ``momentum`` accumulates the steps, ``centered`` divides by the
    variance (the mean square less the squared running mean gradient), as
    Keras's RMSprop."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"RMSprop: momentum must be in [0, 1], got {momentum!r}")
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        # (Keras's slots, in its order)
        self.slot_names = ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())

    def _update(self, params, grads):
        slots = dict(zip(self.slot_names, self._slots))
        ops.rmsprop_update(params, grads, slots["velocity"], self._learning_rate, self.rho,
                           self.epsilon, self.momentum, slots.get("momentum"),
                           slots.get("average_gradient"))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adaptive moment estimation (Kingma & Ba), with Keras's epsilon.
    ``amsgrad=True`` (Reddi et al.) divides by the largest velocity seen
    so far, kept in a third slot, as Keras's Adam does."""
    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        if self.amsgrad:  # (the C kernel has no third slot: this rule runs in NumPy)
            self.slot_names = ("momentum", "velocity", "velocity_hat")
            self.host_only = True
            self.slots_after_weights = 1

    def _update(self, params, grads):
        if not self.amsgrad:
            ops.adam_update(params, grads, self._slots[0], self._slots[1], self.iterations,
                            self._learning_rate, self.beta_1, self.beta_2, self.epsilon)
            return
        m, v, v_hat = self._slots
        t = self.iterations
        alpha = self._learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        m += (grads - m) * np.float32(1 - self.beta_1)
        v += (grads * grads - v) * np.float32(1 - self.beta_2)
        np.maximum(v_hat, v, out=v_hat)
        params -= np.float32(alpha) * m / (np.sqrt(v_hat) + np.float32(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): each step
    first shrinks the weights by ``learning_rate * weight_decay``."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name=None, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name,
                         weight_decay=weight_decay, **kwargs)


class Adagrad(Optimizer):
    """Rates scaled per parameter by the root of its summed squared
    gradients."""
    slot_names = ("accumulator",)
    host_only = True

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _build(self, size, like):
        fresh = self._slots is None or self._slots[0].size != size
        super()._build(size, like)
        if fresh:
            self._slots[0][...] = self.initial_accumulator_value

    def _update(self, params, grads):
        acc = self._slots[0]
        acc += grads * grads
        params -= np.float32(self._learning_rate) * grads / np.sqrt(acc + self.epsilon)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Steps scaled by the ratio of running RMS of past updates and of
    gradients (Zeiler)."""
    slot_names = ("accumulated_grad", "accumulated_delta_var")
    host_only = True

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, params, grads):
        acc_grad, acc_delta = self._slots
        rho = np.float32(self.rho)
        acc_grad *= rho
        acc_grad += (1 - rho) * grads * grads
        delta = -np.sqrt(acc_delta + self.epsilon) / np.sqrt(acc_grad + self.epsilon) * grads
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        params += np.float32(self._learning_rate) * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adam with the infinity norm in place of the second moment."""
    slot_names = ("m", "u")
    host_only = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, params, grads):
        m, u = self._slots
        m += (grads - m) * np.float32(1 - self.beta_1)
        np.maximum(np.float32(self.beta_2) * u, np.abs(grads), out=u)
        step = self._learning_rate / (1 - self.beta_1 ** self.iterations)
        params -= np.float32(step) * m / (u + np.float32(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat), with Keras's momentum schedule."""
    slot_names = ("momentum", "velocity")
    host_only = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _beta_1_at(self, step):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** step)

    def _u_product(self, t):
        return float(np.prod([self._beta_1_at(s) for s in range(1, t + 1)]))

    def extra_variables(self):
        # Keras keeps the product as a variable; here it follows from the step.
        return [("u_product", np.asarray(self._u_product(self.iterations), np.float32))]

    def _update(self, params, grads):
        m, v = self._slots
        t = self.iterations  # this step, counted from 1
        u_product = self._u_product(t)
        beta_1_t, beta_1_next = self._beta_1_at(t), self._beta_1_at(t + 1)
        u_product_next = u_product * beta_1_next
        m += (grads - m) * np.float32(1 - self.beta_1)
        v += (grads * grads - v) * np.float32(1 - self.beta_2)
        m_hat = np.float32(beta_1_next / (1 - u_product_next)) * m + \
            np.float32((1 - beta_1_t) / (1 - u_product)) * grads
        v_hat = v / np.float32(1 - self.beta_2 ** t)
        params -= np.float32(self._learning_rate) * m_hat / (np.sqrt(v_hat) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Lion(Optimizer):
    """Steps of a fixed size in the sign of an interpolated momentum
    (Chen et al., "Symbolic Discovery of Optimization Algorithms")."""
    slot_names = ("momentum",)
    host_only = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not 0.0 < float(beta_1) <= 1.0:
            raise ValueError(f"Lion: beta_1 must be in (0, 1] (at 0 it degenerates to "
                             f"SignSGD), got {beta_1!r}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def _update(self, params, grads):
        m = self._slots[0]
        beta_1, beta_2 = np.float32(self.beta_1), np.float32(self.beta_2)
        params -= np.float32(self._learning_rate) * np.sign(m * beta_1 + grads * (1 - beta_1))
        m *= beta_2
        m += grads * (1 - beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al., "Ad Click Prediction:
    a View from the Trenches"), with Keras's L2 shrinkage and ``beta``."""
    slot_names = ("accumulator", "linear")
    host_only = True

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        for key, value, ok, need in (
                ("initial_accumulator_value", initial_accumulator_value, lambda v: v >= 0,
                 ">= 0"),
                ("learning_rate_power", learning_rate_power, lambda v: v <= 0, "<= 0"),
                ("l1_regularization_strength", l1_regularization_strength, lambda v: v >= 0,
                 ">= 0"),
                ("l2_regularization_strength", l2_regularization_strength, lambda v: v >= 0,
                 ">= 0"),
                ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength,
                 lambda v: v >= 0, ">= 0"),
                ("beta", beta, lambda v: True, "a number")):
            value = float(value)
            if not np.isfinite(value) or not ok(value):
                raise ValueError(f"Ftrl: {key} must be a finite number {need}, got {value!r}")
            setattr(self, key, value)

    def _build(self, size, like):
        fresh = self._slots is None or self._slots[0].size != size
        super()._build(size, like)
        if fresh:
            self._slots[0][...] = self.initial_accumulator_value

    def _update(self, params, grads):
        accum, linear = self._slots
        lr = self._learning_rate
        if lr <= 0:
            raise ValueError("Ftrl: the learning rate must be > 0 for a step (it divides "
                             "the accumulated gradients)")
        power = np.float32(-self.learning_rate_power)
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        l1 = np.float32(self.l1_regularization_strength)
        grad_to_use = grads + np.float32(2 * self.l2_shrinkage_regularization_strength) * params
        new_accum = accum + grads * grads
        new_root = np.power(new_accum, power)
        linear += grad_to_use - (new_root - np.power(accum, power)) / np.float32(lr) * params
        quadratic = new_root / np.float32(lr) + np.float32(2 * l2)
        params[...] = (np.clip(linear, -l1, l1) - linear) / quadratic
        accum[...] = new_accum

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


# Adafactor and Lamb work on whole variables (an RMS, a norm, a factored
# second moment per variable), so their update is a short NumPy loop over
# the variables rather than one elementwise C kernel over the flat array:
# they are rarely used and their cost is a few passes over the parameters.

class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, "Adafactor: Adaptive Learning Rates with
    Sublinear Memory Cost"), as Keras 3 implements it: the second moment of
    a variable of rank >= 2 is kept as the running means of its rows and
    columns (the last two axes), the step is relative to the variable's RMS
    and clipped by the RMS of the update.

    State: the flat arrays every optimizer keeps ("r", "c", "velocity", each
    the size of the parameters), so fit, apply_gradients and the files
    handle it as they do the others; a variable's row and column means take
    the front of its piece of "r" and "c"."""
    slot_names = ("r", "c", "velocity")
    host_only = True

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
                 epsilon_2=1e-3, clip_threshold=1.0, relative_step=True, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1, self.epsilon_2 = float(epsilon_1), float(epsilon_2)
        self.clip_threshold = float(clip_threshold)
        if not self.clip_threshold > 0:
            raise ValueError(f"Adafactor: clip_threshold must be > 0, got {clip_threshold!r}")
        self.relative_step = bool(relative_step)

    def slot_shape(self, index, shape, wrapped=False, path=None):
        shape = tuple(shape)
        if index == 2:
            return shape
        if len(shape) < 2:
            # Keras keeps a scalar placeholder, untracked (so not saved) when
            # a LossScaleOptimizer builds it
            return None if wrapped else ()
        return shape[:-1] if index == 0 else shape[:-2] + shape[-1:]

    def _update(self, params, grads):
        f32 = np.float32
        r_all, c_all, v_all = self._slots
        t = f32(self.iterations)  # this step, counted from 1
        lr = f32(self._learning_rate)
        if self._schedule is None and self.relative_step:
            lr = min(lr, f32(1) / np.sqrt(t))
        rho = min(lr, f32(1) / np.sqrt(t))
        beta = f32(1) - np.power(t, f32(self.beta_2_decay))
        for where, shape in self._variable_slices(params.size):
            w = params[where].reshape(shape)
            g = grads[where].reshape(shape)
            v = v_all[where].reshape(shape)
            alpha = max(f32(self.epsilon_2), np.sqrt(np.mean(np.square(w)))) * rho
            g2 = np.square(g) + f32(self.epsilon_1)
            if len(shape) >= 2:
                r_shape, c_shape = self.slot_shape(0, shape), self.slot_shape(1, shape)
                r = r_all[where][:int(np.prod(r_shape))].reshape(r_shape)
                c = c_all[where][:int(np.prod(c_shape))].reshape(c_shape)
                r[...] = beta * r + (1 - beta) * np.mean(g2, axis=-1)
                c[...] = beta * c + (1 - beta) * np.mean(g2, axis=-2)
                v[...] = (r / np.mean(r, axis=-1, keepdims=True))[..., None] * c[..., None, :]
            else:
                v[...] = beta * v + (1 - beta) * g2
            u = g / np.sqrt(v)
            u /= max(f32(1), np.sqrt(np.mean(np.square(u))) / f32(self.clip_threshold))
            w -= alpha * u

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay,
                "epsilon_1": self.epsilon_1, "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold, "relative_step": self.relative_step}


class Lamb(Optimizer):
    """LAMB (You et al., "Large Batch Optimization for Deep Learning:
    Training BERT in 76 minutes"): Adam's step scaled per variable by the
    ratio of the variable's norm to the step's norm."""
    slot_names = ("momentum", "velocity")
    host_only = True

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, params, grads):
        f32 = np.float32
        m, v = self._slots
        t = self.iterations  # this step, counted from 1
        m += (grads - m) * f32(1 - self.beta_1)
        v += (grads * grads - v) * f32(1 - self.beta_2)
        update = (m / f32(1 - f32(self.beta_1) ** t)) / \
            (np.sqrt(v / f32(1 - f32(self.beta_2) ** t)) + f32(self.epsilon))
        lr = f32(self._learning_rate)
        for where, _ in self._variable_slices(params.size):
            w, u = params[where], update[where]
            w_norm, u_norm = np.sqrt(np.dot(w, w)), np.sqrt(np.dot(u, u))
            ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else f32(1)
            w -= f32(ratio * lr) * u

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Muon(Optimizer):
    """Muon (Jordan et al., 2024): the momentum of each 2-D weight,
    orthogonalized by five Newton-Schulz iterations, is the step; other
    weights (not 2-D, embeddings, paths matching ``exclude_layers``) take
    AdamW's step at ``learning_rate * adam_lr_ratio``.  Keras 3's rule,
    arguments and defaults."""
    slot_names = ("momentum", "velocity")
    host_only = True

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999,
                 adam_weight_decay=0.004, epsilon=1e-7, weight_decay=0.004, name=None,
                 exclude_layers=None, exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750,
                 muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True,
                 rms_rate=0.2, **kwargs):
        super().__init__(learning_rate, name=name, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1, self.adam_beta_2 = adam_beta_1, adam_beta_2
        self.epsilon = epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = exclude_layers or []
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate

    def _should_use_adamw(self, shape, path):
        if len(shape) != 2:
            return True
        path = path or ""
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def slot_shape(self, index, shape, wrapped=False, path=None):
        # Keras keeps a velocity for the AdamW-updated weights only
        if index == 1 and not self._should_use_adamw(tuple(shape), path):
            return None
        return tuple(shape)

    def _variables(self, size):
        # (the paths read here, not at every step: only Muon's rule uses them)
        paths = [v.path for v in self._stepped] if self._stepped else \
            [None] * len(self._shapes or [(size,)])
        return zip(self._variable_slices(size), paths)

    def _decay(self, params):
        lr = np.float32(self._learning_rate)
        for (where, shape), path in self._variables(params.size):
            decay = self.adam_weight_decay if self._should_use_adamw(shape, path) \
                else self.weight_decay
            if decay is not None:
                w = params[where]
                w -= w * np.float32(decay) * lr

    def _update(self, params, grads):
        f32 = np.float32
        m_all, v_all = self._slots
        t = f32(self.iterations)
        for (where, shape), path in self._variables(params.size):
            w, g, m = params[where], grads[where], m_all[where]
            if self._should_use_adamw(shape, path):
                v = v_all[where]
                lr = f32(self._learning_rate * self.adam_lr_ratio)
                alpha = lr * np.sqrt(f32(1) - f32(self.adam_beta_2) ** t) / \
                    (f32(1) - f32(self.adam_beta_1) ** t)
                m += (g - m) * f32(1 - self.adam_beta_1)
                v += (g * g - v) * f32(1 - self.adam_beta_2)
                w -= m * alpha / (np.sqrt(v) + f32(self.epsilon))
                continue
            m += g + m * f32(self.momentum - 1)
            direction = (g + f32(self.momentum) * m) if self.nesterov else m
            update = self._newton_schulz(direction.reshape(shape))
            step = f32(self._learning_rate) * update
            if self.rms_rate is not None:
                step = step * np.sqrt(f32(max(shape))) * f32(self.rms_rate)
            w -= step.reshape(-1)

    def _newton_schulz(self, x):
        """The orthogonal factor of ``x`` (U V^T of its SVD), approximately:
        Keras's quintic Newton-Schulz iteration on the wide orientation."""
        f32 = np.float32
        a, b, c = f32(self.muon_a), f32(self.muon_b), f32(self.muon_c)
        tall = x.shape[0] > x.shape[1]
        if tall:
            x = x.T
        x = x / (np.sqrt(np.sum(x * x)) + f32(1e-7))
        for _ in range(self.ns_steps):
            gram = x @ x.T
            x = a * x + (b * gram + c * gram @ gram) @ x
        return x.T if tall else x

    def get_config(self):
        config = super().get_config()
        config.update(weight_decay=self.weight_decay, adam_beta_1=self.adam_beta_1,
                      adam_beta_2=self.adam_beta_2, epsilon=self.epsilon,
                      exclude_layers=self.exclude_layers, muon_a=self.muon_a,
                      muon_b=self.muon_b, muon_c=self.muon_c,
                      adam_lr_ratio=self.adam_lr_ratio, momentum=self.momentum,
                      ns_steps=self.ns_steps, nesterov=self.nesterov,
                      exclude_embeddings=self.exclude_embeddings,
                      adam_weight_decay=self.adam_weight_decay, rms_rate=self.rms_rate)
        return config


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW (Defazio et al., "The Road Less Scheduled",
    2024): the weights are an interpolation (``beta_1``) between a fast
    Adam-scaled iterate z (the "momentum" slot, starting at the weights)
    and the running average x of the z's, so no learning-rate schedule is
    needed; ``warmup_steps`` ramps the rate up linearly.  Keras 3's rule."""
    slot_names = ("momentum", "velocity")
    host_only = True

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 warmup_steps=0, name=None, **kwargs):
        super().__init__(learning_rate, name=name or "schedule_free_adam_w", **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.warmup_steps = warmup_steps

    def _decay(self, params):
        if self.iterations == 0:  # the fast iterate starts at the weights (Keras's build)
            self._slots[0][...] = params
        super()._decay(params)

    def _update(self, params, grads):
        f32 = np.float32
        z, v = self._slots
        t = f32(self.iterations)
        beta_1, beta_2 = f32(self.beta_1), f32(self.beta_2)
        lr = f32(self._learning_rate)
        if self.warmup_steps > 0:
            lr = lr * min(t / f32(self.warmup_steps), f32(1))
        z_old = z.copy()
        v += (grads * grads - v) * (f32(1) - beta_2)
        denom = np.sqrt(v / (f32(1) - beta_2 ** t)) + f32(self.epsilon)
        z -= lr * grads / denom
        weight = f32(1) / t
        x_old = (params - (f32(1) - beta_1) * z_old) / beta_1
        x_new = (f32(1) - weight) * x_old + weight * z
        params[...] = (f32(1) - beta_1) * z + beta_1 * x_new

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "warmup_steps": self.warmup_steps}


_BASE_ARGUMENTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                   "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
                   "ema_overwrite_frequency": None, "loss_scale_factor": None,
                   "gradient_accumulation_steps": None}


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around another optimizer, as Keras 3's: a
    training step differentiates the loss times ``dynamic_scale``; the
    gradients are divided by it again before the inner optimizer's step.
    A step whose scaled gradients are not all finite is skipped and halves
    the scale; ``dynamic_growth_steps`` finite steps in a row double it.

    pynn computes in float32, where scaling by a power of two changes no
    value short of overflow: the wrapper keeps Keras's behaviour (the
    skipped steps, the scale's course, the saved state) for code and files
    written for it.  In ``fit`` the model's gradients are those of the
    unscaled loss; the wrapper scales them itself, which is the gradient
    of the scaled loss."""

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, "
                             "simply set `loss_scale_factor` directly on the "
                             "`inner_optimizer`.")
        for key, default in _BASE_ARGUMENTS.items():
            if key in kwargs and kwargs.pop(key) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{key}`. Instead, set "
                                 f"`{key}` on the `inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: "
                             f"`{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer) or \
                isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError(f"LossScaleOptimizer: inner_optimizer must be an optimizer "
                            f"instance (not itself a LossScaleOptimizer), got "
                            f"{type(inner_optimizer).__name__}")
        initial_scale = float(initial_scale)
        if not np.isfinite(initial_scale) or initial_scale <= 0:
            raise ValueError(f"LossScaleOptimizer: initial_scale must be a finite number > 0, "
                             f"got {initial_scale!r}")
        if int(dynamic_growth_steps) != dynamic_growth_steps or dynamic_growth_steps < 1:
            raise ValueError(f"LossScaleOptimizer: dynamic_growth_steps must be a whole "
                             f"number >= 1, got {dynamic_growth_steps!r}")
        # The base class's rate, clipping and decay belong to the inner optimizer.
        self.inner_optimizer = inner_optimizer
        self.name = name or "loss_scale_optimizer"
        self._schedule = None
        self.weight_decay = self.clipnorm = self.clipvalue = self.global_clipnorm = None
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.step_counter = 0
        self.dynamic_scale = initial_scale
        self._unscaled_by_program = False  # (see get_unscaled_gradients)

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    lr = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    @property
    def slot_names(self):
        return self.inner_optimizer.slot_names

    @property
    def host_only(self):
        return self.inner_optimizer.host_only

    def scale_loss(self, loss):
        """``loss`` times the current loss scale."""
        return loss * self.dynamic_scale

    # tf.keras 2's custom-loop API: the program scales the loss and
    # unscales the gradients itself, then apply_gradients takes gradients
    # of the unscaled loss (Keras 3's apply_gradients divides them itself).
    @property
    def loss_scale(self):
        """The current loss scale (tf.keras 2's name for dynamic_scale)."""
        return np.float32(self.dynamic_scale)

    def get_scaled_loss(self, loss):
        """``loss`` times the loss scale (a callable loss: a callable)."""
        if callable(loss):
            return lambda: self.scale_loss(loss())
        return self.scale_loss(loss)

    def get_unscaled_gradients(self, grads):
        """Each gradient divided by the loss scale (None kept); from now on
        apply_gradients takes such unscaled gradients."""
        self._unscaled_by_program = True
        scale = np.float32(self.dynamic_scale)
        return [None if g is None else g / scale for g in grads]

    def apply(self, params, grads, sizes=None, shapes=None, variables=None):
        """fit's step (flat arrays): the gradients of the unscaled loss are
        scaled first.  Lists: Keras 3's ``apply(grads, trainable_variables)``
        with gradients of the scaled loss."""
        if isinstance(params, (list, tuple)):
            return self.apply_gradients(zip(params, grads))
        from ..cuda import DeviceArray
        host = grads.to_numpy() if isinstance(grads, DeviceArray) else grads
        scale = np.float32(self.dynamic_scale)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is the point
            host *= scale
        if not self._finite([host]):
            return
        host /= scale
        if host is not grads:
            grads[...] = host
        self.inner_optimizer.apply(params, grads, sizes=sizes, shapes=shapes,
                                   variables=variables)
        self._count_finite_step()

    def apply_gradients(self, grads_and_vars):
        """One step on ``(gradient of the scaled loss, variable)`` pairs:
        skipped (the scale halved) unless every gradient is finite."""
        pairs = [(g, w) for g, w in grads_and_vars if g is not None]
        grads = [np.asarray(value_of(g), dtype=np.float32) for g, _ in pairs]
        if not self._finite(grads):
            return self.iterations
        scale = np.float32(1.0 if self._unscaled_by_program else self.dynamic_scale)
        self.inner_optimizer.apply_gradients([(g / scale, w) for g, (_, w) in
                                              zip(grads, pairs)])
        self._count_finite_step()
        return self.iterations

    def _finite(self, grads):
        if all(np.isfinite(g).all() for g in grads):
            return True
        self.step_counter = 0
        self.dynamic_scale *= 0.5
        return False

    def _count_finite_step(self):
        if self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter = 0
            self.dynamic_scale *= 2.0
        else:
            self.step_counter += 1

    def build(self, size, like=None):
        self.inner_optimizer.build(size, like)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def _ema_exchange(self, var_list, keep_weights=False):
        self.inner_optimizer._ema_exchange(var_list, keep_weights)

    @property
    def _slots(self):
        return self.inner_optimizer._slots

    @property
    def slots_after_weights(self):
        return self.inner_optimizer.slots_after_weights

    def _state_arrays(self):
        return self.inner_optimizer._state_arrays()

    @property
    def use_ema(self):
        return self.inner_optimizer.use_ema

    def _track_weights(self, weights):
        self.inner_optimizer._track_weights(weights)

    def _share_flat_state(self, weights):
        self.inner_optimizer._share_flat_state(weights)

    def _state_of(self, weights):
        return self.inner_optimizer._state_of(weights)

    def _use_state_of(self, weights):
        self.inner_optimizer._use_state_of(weights)

    def _state_layout(self):
        return self.inner_optimizer._state_layout()

    def _averages(self, layout):
        return self.inner_optimizer._averages(layout)

    @property
    def gradient_accumulation_steps(self):
        return self.inner_optimizer.gradient_accumulation_steps

    def _accumulators(self, layout):
        return self.inner_optimizer._accumulators(layout)

    def _head_setters(self):
        # the wrapper's own step count and rate are Keras's unused ones
        return [None, None, lambda v: self.set_scalar_state({"step_counter": int(v)}),
                lambda v: self.set_scalar_state({"step_counter": self.step_counter,
                                                 "dynamic_scale": float(v)})] + \
            self.inner_optimizer._head_setters()

    def set_state(self, iterations, slots):
        self.inner_optimizer.set_state(iterations, slots)

    def slot_shape(self, index, shape, wrapped=True, path=None):
        return self.inner_optimizer.slot_shape(index, shape, wrapped=True, path=path)

    def extra_variables(self):
        return self.inner_optimizer.extra_variables()

    def keras_head(self):
        # Keras keeps the wrapper's own (unused) step count and rate, its
        # step counter and scale, then the inner optimizer's variables.
        return [("iteration", np.asarray(0, np.int64)),
                ("learning_rate", np.asarray(0.0, np.float32)),
                ("step_counter", np.asarray(self.step_counter, np.int64)),
                ("dynamic_scale", np.asarray(self.dynamic_scale, np.float32))] + \
            self.inner_optimizer.keras_head()

    def set_keras_head(self, values):
        self.set_scalar_state({"step_counter": values[2], "dynamic_scale": values[3]})
        self.inner_optimizer.set_keras_head(values[4:])

    def scalar_state(self):
        return {"step_counter": self.step_counter, "dynamic_scale": self.dynamic_scale,
                **self.inner_optimizer.scalar_state()}

    def set_scalar_state(self, values):
        values = dict(values)
        counter, scale = values.pop("step_counter", 0), values.pop("dynamic_scale", None)
        if int(counter) != counter or counter < 0:
            raise ValueError(f"LossScaleOptimizer: step_counter must be a whole number >= 0, "
                             f"got {counter!r}")
        if scale is not None and (not np.isfinite(scale) or scale <= 0):
            raise ValueError(f"LossScaleOptimizer: dynamic_scale must be a finite number > 0, "
                             f"got {scale!r}")
        self.inner_optimizer.set_scalar_state(values)
        self.step_counter = int(counter)
        if scale is not None:
            self.dynamic_scale = float(scale)

    def get_config(self):
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = deserialize(config.pop("inner_optimizer"), custom_objects)
        return cls(inner, **config)


class OptimizerMap(MutableMapping):
    """Variable paths (or regular expressions matched in full against
    them) to optimizers, with ``default_optimizer`` for the rest: the map a
    MultiOptimizer reads (Keras 3's)."""

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"default_optimizer must be a Keras Optimizer instance. "
                            f"Received: {default_optimizer}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = optimizer_map or {}

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        """The optimizer of path ``key``: an exact key first, then the one
        key that matches it as a pattern, else the default."""
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        if matching:
            return self._optimizer_map[matching[0]]
        return self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"'{key}' already exists in the OptimizerMap with value "
                             f"{self._optimizer_map[key]}. Please make sure to not use "
                             f"duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a Keras Optimizer instance. "
                             f"Received: {optimizer}")
        if isinstance(optimizer, LossScaleOptimizer):
            raise ValueError("optimizer cannot be LossScaleOptimizer.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[variable.path]

    def get_config(self):
        return {"default_optimizer": serialize(self._default_optimizer),
                "optimizer_map": {k: serialize(v) for k, v in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        default = deserialize(config["default_optimizer"], custom_objects)
        mapping = {k: deserialize(v, custom_objects)
                   for k, v in (config.get("optimizer_map") or {}).items()}
        return cls(default, mapping)


class MultiOptimizer(Optimizer):
    """Each variable stepped by its own optimizer: ``optimizer_map`` is an
    OptimizerMap (paths to optimizers) or a function of the variable that
    returns its optimizer.  The choice is made once, at the first step;
    each inner optimizer then keeps the state, step count and rate of its
    own variables (Keras 3's MultiOptimizer)."""
    host_only = True

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        self.name = name or "multi_optimizer"
        self._schedule = None
        self.weight_decay = self.clipnorm = self.clipvalue = self.global_clipnorm = None
        self.use_ema = False
        self._ema = None
        self.iterations = 0
        self._slots = None
        self._shapes = self._stepped = None
        self._optimizer_map = optimizer_map
        self._inner_optimizers = []
        # the variables' paths, each one's optimizer index, their sizes
        self._groups = None
        if hasattr(optimizer_map, "values"):
            for opt in optimizer_map.values():
                if opt not in self._inner_optimizers:
                    self._inner_optimizers.append(opt)
        default = getattr(optimizer_map, "default_optimizer", None)
        if default is not None and default not in self._inner_optimizers:
            self._inner_optimizers.append(default)
        # (kept for the config: pynn's float32 steps need no loss scaling)
        self.loss_scale_factor = loss_scale_factor

    @property
    def optimizers(self):
        return self._inner_optimizers

    @property
    def learning_rate(self):
        raise AttributeError("Learning rate cannot be accessed on a MultiOptimizer. Access "
                             "the learning rate on the individual sub-optimizers instead.")

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError("Learning rate cannot be set on a MultiOptimizer. Set the "
                             "learning rate on the individual sub-optimizers instead.")

    lr = learning_rate

    def _assign(self, variables):
        """Each variable's inner optimizer index, chosen at the first step."""
        paths = [v.path for v in variables]
        if self._groups is not None:
            if self._groups[0] != paths:
                raise ValueError(f"MultiOptimizer {self.name!r} was built on the variables "
                                 f"{self._groups[0]}, and now steps {paths}")
            return self._groups[1]
        index = []
        for v in variables:
            opt = self._optimizer_map(v)
            if not isinstance(opt, Optimizer):
                raise ValueError(f"Optimizer for variable {v.path!r} is not an Optimizer "
                                 f"instance (got {type(opt).__name__})")
            if isinstance(opt, LossScaleOptimizer):
                raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
            if isinstance(opt, MultiOptimizer):
                raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
            if opt not in self._inner_optimizers:
                self._inner_optimizers.append(opt)
            index.append(self._inner_optimizers.index(opt))
        self._groups = (paths, index, [int(np.size(getattr(v, "value", v))) for v in variables])
        return index

    def build(self, size, like=None):
        if isinstance(size, (list, tuple)):
            self._assign(size)

    def apply(self, params, grads, sizes=None, shapes=None, variables=None):
        """One step: each inner optimizer updates its variables' pieces of
        the flat arrays (gathered, stepped, put back)."""
        if isinstance(params, (list, tuple)):
            return self.apply_gradients(zip(params, grads))
        if variables is None:
            raise ValueError(f"MultiOptimizer {self.name!r}: a step needs the variables, to "
                             f"pick each one's optimizer")
        from ..cuda import DeviceArray
        device = None
        if isinstance(params, DeviceArray):
            device, params, grads = params, params.to_numpy(), grads.to_numpy()
        index = self._assign(variables)
        starts = np.cumsum([0] + [v.value.size for v in variables])
        for k, opt in enumerate(self._inner_optimizers):
            mine = [i for i, j in enumerate(index) if j == k]
            if not mine:
                continue
            where = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in mine])
            sub_params, sub_grads = params[where], grads[where]
            opt.apply(sub_params, sub_grads, shapes=[variables[i].value.shape for i in mine],
                      variables=[variables[i] for i in mine])
            params[where] = sub_params
        self.iterations += 1
        if device is not None:
            device[...] = params

    def _inner_variables(self, var_list):
        """[(inner optimizer, its variables)] of ``var_list`` (variables,
        or fit's flat array of them: then views of its pieces)."""
        if isinstance(var_list, (list, tuple)):
            index = self._assign(var_list)
        else:
            _, index, sizes = self._groups
            if var_list.size != sum(sizes):
                raise ValueError(f"MultiOptimizer {self.name!r}: the flat array holds "
                                 f"{var_list.size} values, the variables {sum(sizes)}")
            starts = np.cumsum([0] + sizes)
            var_list = [var_list[starts[i]:starts[i + 1]] for i in range(len(sizes))]
        return [(opt, [v for v, j in zip(var_list, index) if j == k])
                for k, opt in enumerate(self._inner_optimizers)]

    def finalize_variable_values(self, var_list):
        """With ``use_ema`` on an inner optimizer, its variables take their
        moving averages (``var_list``: the variables, or fit's flat array
        of them)."""
        if self._groups is None:
            return
        for opt, mine in self._inner_variables(var_list):
            if mine:
                opt.finalize_variable_values(mine)

    def _ema_exchange(self, var_list, keep_weights=False):
        if not any(getattr(opt, "use_ema", False) for opt in self._inner_optimizers):
            raise ValueError("SwapEMAWeights must be used when at least one inner optimizer "
                             "has `use_ema=True` set. Received a MultiOptimizer with all "
                             "inner optimizers having `use_ema=False`.")
        if self._groups is None:
            return
        for opt, mine in self._inner_variables(var_list):
            if mine and opt.use_ema:
                opt._ema_exchange(mine, keep_weights)

    def keras_head(self):
        # Keras keeps the wrapper's step count and a rate of 0; the inner
        # optimizers' state is not kept in files (each starts afresh when a
        # saved model is loaded, as in Keras 3.15's loader)
        return [("iteration", np.asarray(self.iterations, np.int64)),
                ("learning_rate", np.asarray(0.0, np.float32))]

    def get_config(self):
        if not isinstance(self._optimizer_map, OptimizerMap):
            raise TypeError(f"MultiOptimizer {self.name!r}: a function choosing the "
                            f"optimizers cannot be saved; give an OptimizerMap")
        return {"optimizer_map": {"class_name": "OptimizerMap",
                                  "config": self._optimizer_map.get_config()},
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        mapping = config["optimizer_map"]
        if isinstance(mapping, dict) and "class_name" in mapping:
            mapping = OptimizerMap.from_config(mapping["config"], custom_objects)
        config["optimizer_map"] = mapping
        return cls(**config)


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad,
            "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion, "ftrl": Ftrl,
            "adafactor": Adafactor}
# Classes a config names (Keras looks these up by class name; Lamb and
# LossScaleOptimizer have no short name that get() accepts).
_BY_CLASS = {cls.__name__.lower(): cls for cls in
             (*_BY_NAME.values(), Lamb, LossScaleOptimizer, Muon, ScheduleFreeAdamW,
              MultiOptimizer)}


def get(identifier):
    """An Optimizer from a name ('sgd', 'rmsprop', 'adam', ...), a config
    dict or an instance; None stays None, as in Keras."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and \
            str(identifier.get("class_name", "")).lower() in _BY_CLASS:
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Unknown optimizer {identifier!r}; expected one of "
                     f"{sorted(_BY_NAME)} or an optimizer instance")


def serialize(optimizer):
    """{'class_name', 'config'} of an optimizer."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    """The optimizer a :func:`serialize` dict (or Keras's, with its module
    and registered name) describes; class names match in any case, as in
    Keras.  ``custom_objects`` maps names to the user's optimizer classes."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"optimizers.deserialize: expected a dict with a 'class_name', got "
                         f"{config!r}")
    name = config["class_name"]
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(f"optimizers.deserialize: the config of {name!r} must be a dict, got "
                         f"{inner!r}")
    from ..utils.custom_objects import get_registered_object
    cls = get_registered_object(config.get("registered_name") or name, custom_objects) or \
        _BY_CLASS.get(name.lower())
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise ValueError(f"optimizers.deserialize: unknown optimizer {name!r}; pynn has "
                         f"{', '.join(sorted(c.__name__ for c in _BY_CLASS.values()))}")
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        return cls.from_config(inner, custom_objects=custom_objects)
    return cls.from_config(inner)


# Keras 2.0-2.2's lowercase aliases of the classes
# (``keras.optimizers.rmsprop(lr=3e-4, decay=1e-6)``)
sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = \
    SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam

# tf.keras 2.9-2.15 also named them optimizers.experimental.<Name>, and
# 2.11-2.15 optimizers.legacy.<Name>
from . import experimental, legacy  # noqa: E402,F401
