"""Optimizers with Keras's names, arguments and defaults.

A model hands its optimizer one flat float32 array holding every trainable
parameter and one holding their gradients; ``apply`` updates all of them in
a single pass of one C kernel.  ``lr`` is accepted as Keras 2's alias of
``learning_rate``.
"""
import numpy as np

from . import ops


class Optimizer:
    slot_names = ()

    def __init__(self, learning_rate=0.001, name=None, lr=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        self.name = name or type(self).__name__.lower()
        self.learning_rate = learning_rate if lr is None else lr
        self.iterations = 0
        self._slots = None

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a finite "
                             f"number >= 0, got {value!r}")
        self._learning_rate = value

    lr = learning_rate

    def build(self, size, like=None):
        """Allocate the state for ``size`` parameters (kept if it fits),
        where the array ``like`` lives (a GPU's device array: the state goes
        there too, and comes back when the parameters do)."""
        if not self.slot_names:
            return
        if self._slots is None or self._slots[0].size != size:
            self._slots = [np.zeros(size, np.float32) for _ in self.slot_names]
        from .cuda import DeviceArray, to_device
        if isinstance(like, DeviceArray):
            self._slots = [s if isinstance(s, DeviceArray) and s.device == like.device
                           else to_device(np.asarray(s), like.device) for s in self._slots]
        elif like is not None and isinstance(self._slots[0], DeviceArray):
            self._slots = [s.to_numpy() for s in self._slots]

    def apply(self, params, grads):
        """One update of the flat ``params`` from the flat ``grads``; or,
        given lists (Keras 3's ``apply(grads, trainable_variables)``),
        :meth:`apply_gradients` of the pairs."""
        if isinstance(params, (list, tuple)):
            return self.apply_gradients(zip(params, grads))
        self.build(params.size, params)
        self.iterations += 1
        self._update(params, grads)

    def _update(self, params, grads):
        raise NotImplementedError

    # ------------------------------------------- variables, one by one

    def apply_gradients(self, grads_and_vars):
        """One step on the ``(gradient, variable)`` pairs (weights or
        pynn.Variable objects); pairs whose gradient is None are skipped.
        The variables and their state (kept per variable) are gathered into
        flat arrays for one :meth:`apply`, fit's step, so the update, the
        step count and the learning rate are fit's; variables'
        constraints apply after it.  Returns ``iterations``."""
        from .layers.base import Weight
        pairs = []
        for g, w in grads_and_vars:
            if g is None:
                continue
            if not isinstance(w, Weight):
                raise TypeError(f"{type(self).__name__}.apply_gradients: expected weights or "
                                f"pynn.Variable objects, got {type(w).__name__}")
            if not isinstance(w.value, np.ndarray):
                raise ValueError(f"{type(self).__name__}.apply_gradients: variable {w.name!r} "
                                 f"is on a GPU; train it on the CPU")
            g = np.asarray(g, dtype=np.float32)
            if g.shape != w.value.shape:
                raise ValueError(f"{type(self).__name__}.apply_gradients: the gradient of "
                                 f"{w.name!r} has shape {g.shape}, the variable {w.value.shape}")
            pairs.append((g, w))
        if not pairs:
            return self.iterations
        state = self.__dict__.setdefault("_variable_slots", {})
        for _, w in pairs:
            if id(w) not in state or state[id(w)][0] is not w:
                state[id(w)] = (w, self._fresh_slots(w.value.size))
        params = np.concatenate([w.value.reshape(-1) for _, w in pairs])
        grads = np.concatenate([g.reshape(-1) for g, _ in pairs])
        flat_slots = self._slots
        self._slots = [np.concatenate([state[id(w)][1][k] for _, w in pairs])
                       for k in range(len(self.slot_names))] or None
        try:
            self.apply(params, grads)
            off = 0
            for _, w in pairs:
                n = w.value.size
                w.value[...] = params[off:off + n].reshape(w.value.shape)
                for k, slot in enumerate(state[id(w)][1]):
                    slot[...] = self._slots[k][off:off + n]
                off += n
                if w.constraint is not None:
                    w.constraint.apply(w.value)
        finally:
            self._slots = flat_slots
        return self.iterations

    def _fresh_slots(self, size):
        """New state for ``size`` parameters, as build makes it."""
        saved, self._slots = self._slots, None
        try:
            self.build(size)
            return [np.array(s) for s in self._slots or []]
        finally:
            self._slots = saved

    # ------------------------------------------------------- state, config

    def variables(self):
        """The state arrays (momenta, velocities), flat, in a fixed order
        (host copies of state kept on a GPU)."""
        return [s if isinstance(s, np.ndarray) else np.asarray(s) for s in self._slots or []]

    def set_state(self, iterations, slots):
        slots = [np.ascontiguousarray(s, dtype=np.float32).reshape(-1) for s in slots]
        if len(slots) != len(self.slot_names):
            raise ValueError(f"{type(self).__name__}: expected {len(self.slot_names)} state "
                             f"arrays, got {len(slots)}")
        self._slots = slots if slots else None
        self.iterations = int(iterations)

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config):
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
        ops.sgd_update(params, grads, v, self.learning_rate, self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Divides the gradient by a running root mean square of its history."""
    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def _update(self, params, grads):
        ops.rmsprop_update(params, grads, self._slots[0], self.learning_rate, self.rho,
                           self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adaptive moment estimation (Kingma & Ba), with Keras's epsilon."""
    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, params, grads):
        ops.adam_update(params, grads, self._slots[0], self._slots[1], self.iterations,
                        self.learning_rate, self.beta_1, self.beta_2, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """An Optimizer from a name ('sgd', 'rmsprop', 'adam'), a config dict or
    an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        name = str(identifier.get("class_name", "")).lower()
        if name in _BY_NAME:
            return _BY_NAME[name].from_config(identifier.get("config", {}))
    raise ValueError(f"Unknown optimizer {identifier!r}; expected one of "
                     f"{sorted(_BY_NAME)} or an optimizer instance")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
