"""Keras's generic recurrent layer ``RNN(cell)`` and its cells:
SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, and any custom cell (a
Layer with ``state_size`` and ``call(inputs, states)`` returning
``(output, new_states)``, as in Keras's RNN guide).

``RNN`` over one of the built-in cells runs as the matching SimpleRNN,
LSTM or GRU layer does, through the recurrent kernels (every step one GEMM
and one fused pass over the gates, in C); the cell holds the weights, with
Keras's names (``rnn/lstm_cell/kernel``).  Any other cell is called once
per step in Python, and trained by differentiating those calls
(pynn.autodiff).

A cell called by itself (``cell(x, states)``, or ``cell.call``) computes
one step through pynn.ops.
"""
import inspect

import numpy as np

from .. import constraints, initializers, ops, regularizers
from ..tensor import TensorShape
from .base import Layer, shape_str
from .core import _positive_int, weight_options
from .recurrent import GRU, LSTM, SimpleRNN, _first_mask, _rate, _recurrent_activation, \
    _split_inputs, _Wrapper


# ------------------------------------------------------------------ cells

class _Cell(Layer):
    """What the built-in cells share: Keras's arguments and weights; a
    step through pynn.ops."""
    layer_class = None  # the recurrent layer that runs this cell fast
    gates = 1
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units", self)
        self.activation = _recurrent_activation(activation, "activation", self)
        self.recurrent_activation = _recurrent_activation(recurrent_activation,
                                                          "recurrent_activation", self)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _rate(dropout, "dropout", self)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", self)
        self.seed = seed
        self.kernel = self.recurrent_kernel = self.bias = None

    @property
    def state_size(self):
        return self.units if self.state_count == 1 else [self.units] * self.state_count

    @property
    def output_size(self):
        return self.units

    def _layer_kwargs(self):
        """The arguments of the recurrent layer that computes as this cell."""
        return {"units": self.units, "activation": self.activation,
                "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "recurrent_initializer": self.recurrent_initializer,
                "bias_initializer": self.bias_initializer,
                "kernel_regularizer": self.kernel_regularizer,
                "recurrent_regularizer": self.recurrent_regularizer,
                "bias_regularizer": self.bias_regularizer,
                "kernel_constraint": self.kernel_constraint,
                "recurrent_constraint": self.recurrent_constraint,
                "bias_constraint": self.bias_constraint, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}

    def build(self, input_shape):
        features = tuple(input_shape)[-1]
        if features is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the input features must be "
                             f"known, got shape {shape_str(input_shape)}")
        # The weights are made as the matching layer makes them (the same
        # initializers, LSTM's unit forget bias, GRU's two biases).
        maker = self.layer_class(**self._layer_kwargs(), name=self.name)
        maker.build((None, None, features))
        self._adopt(maker)
        self.built = True

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zero states, one (batch_size, units) array per state, as a list
        (Keras 3's ``get_initial_state(batch_size)``; Keras 2's keywords
        ``inputs``, ``batch_size`` and ``dtype``: the batch is that of
        ``inputs`` where given)."""
        if inputs is not None and batch_size is None and np.ndim(inputs) == 0:
            inputs, batch_size = None, inputs  # (Keras 3's positional batch size)
        if inputs is not None:
            batch_size = np.shape(inputs)[0]
        if isinstance(batch_size, (np.ndarray, np.integer)):
            batch_size = int(batch_size)  # (tf.shape(x)[0], a tensor)
        from ..backend import zeros
        return [zeros((batch_size, self.units), dtype or "float32")
                for _ in range(self.state_count)]

    def _adopt(self, layer):
        """Take the weights of ``layer`` (built) as this cell's."""
        self.kernel, self.recurrent_kernel, self.bias = \
            layer.kernel, layer.recurrent_kernel, layer.bias
        self._weights = list(layer._weights)

    def __call__(self, inputs, states=None, training=None, **kwargs):
        if states is None:
            return super().__call__(inputs, training=training, **kwargs)
        if not self.built:
            self.build((None,) + tuple(np.shape(inputs))[1:])
        return self.call(inputs, states, training=training)

    def _check_step(self, x, states):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != self.state_count:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected "
                             f"{self.state_count} state(s), got {len(states)}")
        if np.ndim(x) != 2:
            raise ValueError(f"{type(self).__name__} {self.name!r}: a step's inputs have shape "
                             f"(batch, features), got {np.shape(x)}")
        return states

    def _refuse_dropout(self):
        if self.dropout or self.recurrent_dropout:
            raise ValueError(f"{type(self).__name__} {self.name!r}: dropout in a cell applies "
                             f"when RNN runs the cell alone (the fused kernels); a cell "
                             f"called step by step (by itself or in StackedRNNCells) takes "
                             f"dropout=0 and recurrent_dropout=0")

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "recurrent_activation": self.recurrent_activation, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed, **weight_options(self, "kernel", "recurrent", "bias")}


def _act(x, name):
    return ops.activation(x, name)


def _value(weight):
    """A weight as an operand: its array, or its traced leaf while a tape
    records (so slices of it are differentiated too)."""
    return None if weight is None else weight._operand()


class SimpleRNNCell(_Cell):
    """One step of SimpleRNN: ``h = activation(x @ kernel + h @
    recurrent_kernel + bias)``."""
    layer_class = SimpleRNN

    def __init__(self, units, activation="tanh", **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError("SimpleRNNCell: unexpected argument recurrent_activation")
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = None

    def _layer_kwargs(self):
        kwargs = super()._layer_kwargs()
        del kwargs["recurrent_activation"]
        return kwargs

    def call(self, inputs, states, training=False):
        (h,) = self._check_step(inputs, states)
        self._refuse_dropout()
        z = ops.matmul(inputs, _value(self.kernel)) + ops.matmul(h, _value(self.recurrent_kernel))
        if self.bias is not None:
            z = z + _value(self.bias)
        h = _act(z, self.activation)
        return h, [h]

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class LSTMCell(_Cell):
    """One step of LSTM (gates i, f, c, o); states [h, c]."""
    layer_class = LSTM
    gates = 4
    state_count = 2

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _layer_kwargs(self):
        return {**super()._layer_kwargs(), "unit_forget_bias": self.unit_forget_bias}

    def _gate_inputs(self, inputs, h):
        """The four gates' pre-activations, side by side (i, f, c, o)."""
        self._refuse_dropout()
        z = ops.matmul(inputs, _value(self.kernel)) + ops.matmul(h, _value(self.recurrent_kernel))
        return z + _value(self.bias) if self.bias is not None else z

    def call(self, inputs, states, training=False):
        h, c = self._check_step(inputs, states)
        z = self._gate_inputs(inputs, h)
        u, ra = self.units, self.recurrent_activation
        i, f = _act(z[:, :u], ra), _act(z[:, u:2 * u], ra)
        c = f * c + i * _act(z[:, 2 * u:3 * u], self.activation)
        o = _act(z[:, 3 * u:], ra)
        h = o * _act(c, self.activation)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class PeepholeLSTMCell(LSTMCell):
    """tf.keras 2's ``tf.keras.experimental.PeepholeLSTMCell`` (Gers &
    Schmidhuber): an LSTM cell whose input and forget gates also see the
    previous cell state, and whose output gate sees the new one, each
    through a vector of weights (``input_gate_peephole_weights``,
    ``forget_gate_peephole_weights``, ``output_gate_peephole_weights``,
    made by the kernel initializer).  RNN calls it step by step."""

    def build(self, input_shape):
        super().build(input_shape)
        self.input_gate_peephole_weights = self.add_weight(
            name="input_gate_peephole_weights", shape=(self.units,),
            initializer=self.kernel_initializer)
        self.forget_gate_peephole_weights = self.add_weight(
            name="forget_gate_peephole_weights", shape=(self.units,),
            initializer=self.kernel_initializer)
        self.output_gate_peephole_weights = self.add_weight(
            name="output_gate_peephole_weights", shape=(self.units,),
            initializer=self.kernel_initializer)
        self.built = True

    def call(self, inputs, states, training=False):
        h, c = self._check_step(inputs, states)
        z = self._gate_inputs(inputs, h)
        u, ra = self.units, self.recurrent_activation
        i = _act(z[:, :u] + _value(self.input_gate_peephole_weights) * c, ra)
        f = _act(z[:, u:2 * u] + _value(self.forget_gate_peephole_weights) * c, ra)
        c = f * c + i * _act(z[:, 2 * u:3 * u], self.activation)
        o = _act(z[:, 3 * u:] + _value(self.output_gate_peephole_weights) * c, ra)
        h = o * _act(c, self.activation)
        return h, [h, c]


class GRUCell(_Cell):
    """One step of GRU (gates z, r, h), ``reset_after`` as Keras 3."""
    layer_class = GRU
    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _layer_kwargs(self):
        return {**super()._layer_kwargs(), "reset_after": self.reset_after}

    def call(self, inputs, states, training=False):
        (h,) = self._check_step(inputs, states)
        self._refuse_dropout()
        u = self.units
        x = ops.matmul(inputs, _value(self.kernel))
        rk, bias = _value(self.recurrent_kernel), _value(self.bias)
        if self.reset_after:
            rec = ops.matmul(h, rk)
            if bias is not None:
                x, rec = x + bias[0], rec + bias[1]
        else:
            if bias is not None:
                x = x + bias
            rec = ops.matmul(h, rk[:, :2 * u])
        ra = self.recurrent_activation
        z = _act(x[:, :u] + rec[:, :u], ra)
        r = _act(x[:, u:2 * u] + rec[:, u:2 * u], ra)
        if self.reset_after:
            hh = _act(x[:, 2 * u:] + r * rec[:, 2 * u:], self.activation)
        else:
            hh = _act(x[:, 2 * u:] + ops.matmul(r * h, rk[:, 2 * u:]), self.activation)
        h = z * h + (1.0 - z) * hh
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


def _shape_of(size):
    """One state's (or the output's) shape without the batch: an int is a
    vector; tf.keras's TensorShape (or a list) is a state of that shape."""
    if isinstance(size, (list, tuple)):
        return tuple(int(v) for v in size)
    return (int(size),)


class AbstractRNNCell(Layer):
    """tf.keras 2's base of a program's own cell: the subclass defines
    ``state_size`` (and ``output_size``) and ``call(inputs, states)``
    returning ``(output, new_states)``; RNN(cell) runs it."""

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zero states, one array of (batch_size,) + shape per state."""
        if inputs is not None:
            batch_size = np.shape(inputs)[0]
        from ..backend import zeros
        return [zeros((int(batch_size),) + tuple(shape), dtype or "float32")
                for shape in _state_shapes(self)]


def _state_shapes(cell):
    """The shapes (without the batch) of the cell's states, in order: one
    per int of state_size, one per TensorShape or nested list (tf.keras's
    higher-dimensional states); a stack's are its cells' in turn."""
    if isinstance(cell, StackedRNNCells):
        return [s for c in cell.cells for s in _state_shapes(c)]
    size = getattr(cell, "state_size", None)
    if size is None:
        raise ValueError(f"RNN: the cell {type(cell).__name__} has no state_size; a cell "
                         f"defines state_size (an int, or a list for several states) and "
                         f"call(inputs, states)")
    if isinstance(size, TensorShape) or not isinstance(size, (list, tuple)):
        return [_shape_of(size)]
    return [_shape_of(s) for s in size]


def _output_shape(cell):
    """The shape (without the batch) of one step's output."""
    size = getattr(cell, "output_size", None)
    if size is None:
        return _state_shapes(cell)[0]
    return _shape_of(size)


_CALL_TAKES_TRAINING = {}  # cell class -> whether its call takes training=


def _call_cell(cell, x, states, training):
    """``cell.call(x, states)`` (with ``training`` where it takes it):
    (output, list of new states)."""
    takes = _CALL_TAKES_TRAINING.get(type(cell))
    if takes is None:
        params = inspect.signature(cell.call).parameters
        takes = _CALL_TAKES_TRAINING[type(cell)] = "training" in params or any(
            p.kind is p.VAR_KEYWORD for p in params.values())
    out = cell.call(x, states, training=training) if takes else cell.call(x, states)
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        raise ValueError(f"RNN: the cell {type(cell).__name__}'s call returned "
                         f"{type(out).__name__}; a cell returns (output, new_states)")
    output, new = out
    return output, list(new) if isinstance(new, (list, tuple)) else [new]


class StackedRNNCells(Layer):
    """Several cells run as one: each step feeds the output of one cell to
    the next; the states are the cells' states in turn."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells:
            raise ValueError("StackedRNNCells: give at least one cell")
        for c in cells:
            if not hasattr(c, "call") or getattr(c, "state_size", None) is None:
                raise ValueError(f"StackedRNNCells: {c!r} is not a cell (it needs state_size "
                                 f"and call(inputs, states))")
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return _output_shape(self.cells[-1])

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            if not c.built:
                c.build(shape)
                c.built = True
                c._build_input_shape = shape
            shape = (shape[0],) + _output_shape(c)
        self.built = True

    def call(self, inputs, states, training=False):
        states = list(states)
        new_states, x = [], inputs
        for c in self.cells:
            n = len(_state_shapes(c))
            x, s = _call_cell(c, x, states[:n], training)
            states = states[n:]
            new_states.extend(s)
        return x, new_states

    @property
    def weights(self):
        return [w for c in self.cells for w in c.weights]

    @property
    def trainable_weights(self):
        return [w for c in self.cells for w in c.trainable_weights] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for c in self.cells for w in c.non_trainable_weights]

    def get_config(self):
        from .recurrent import _serialize
        return {**super().get_config(), "cells": [_serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        from .recurrent import _deserialize
        config = dict(config)
        config["cells"] = [_deserialize(c) for c in config["cells"]]
        return cls(**config)


# ------------------------------------------------------------------- RNN

class RNN(_Wrapper):
    """Keras's ``RNN(cell)``: runs ``cell`` over the steps of a (batch,
    timesteps, features) sequence.  ``cell`` is a cell or a list of cells
    (stacked)."""
    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        from .recurrent import _deserialize
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = _deserialize(cell)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, "call") or getattr(cell, "state_size", None) is None:
            raise ValueError(f"RNN {self.name!r}: the cell must define state_size and "
                             f"call(inputs, states); got {type(cell).__name__}")
        if stateful:
            raise ValueError(f"RNN {self.name!r}: stateful=True is not supported by RNN(cell); "
                             f"use SimpleRNN, LSTM or GRU with stateful=True")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        # Steps run in order in C or Python either way; kept for the config.
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._fast = None
        self.state_count = len(_state_shapes(cell))

    def _wrapped(self):
        return [self.cell]

    def _label(self):
        return f"RNN {self.name!r}"

    # ----------------------------------------------------------- shapes

    def _split_shapes(self, input_shape):
        if isinstance(input_shape, list):
            return tuple(input_shape[0]), [tuple(s) for s in input_shape[1:]]
        return tuple(input_shape), []

    def _check_input(self, shape):
        """Sequences of any length (the steps' own shape as built), as
        Keras's RNN takes them (a model's warm-up over another window)."""
        want = self._build_input_shape
        if want is None:
            return
        x, _ = self._split_shapes(shape)
        built, _ = self._split_shapes(want)
        if len(x) != len(built) or any(a is not None and b is not None and a != b
                                       for a, b in zip(x[2:], built[2:])):
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: "
                             f"expected steps of shape {shape_str((None,) + built[2:])} "
                             f"(shape={shape_str(built)}), found shape={shape_str(x)}")

    def build(self, input_shape):
        x, states = self._split_shapes(input_shape)
        cell = self.cell
        builtin = type(cell) in (SimpleRNNCell, LSTMCell, GRUCell)
        # A custom cell may take steps of any rank (tf.keras's cells over
        # (batch, timesteps, rows, features)); the built-in ones take vectors.
        if len(x) < 3 or (builtin and len(x) != 3) or None in x[2:]:
            raise ValueError(f"{self._label()}: expected a sequence of shape (batch, timesteps, "
                             f"features) with the features known, got shape {shape_str(x)}")
        shapes = _state_shapes(cell)
        if any(len(s) not in {len(n) + 1 for n in shapes} for s in states):
            raise ValueError(f"{self._label()}: got the inputs {shape_str(x)} and "
                             f"{', '.join(shape_str(s) for s in states)}; after the sequence "
                             f"only initial states of shape (batch, units) may follow.  An "
                             f"RNN over nested inputs (a tuple of sequences for a cell that "
                             f"takes structured steps) is not supported: concatenate the "
                             f"sequences' features into one (batch, timesteps, features) "
                             f"input")
        if states and (len(states) != len(shapes) or any(
                len(s) != len(n) + 1 or any(a not in (None, b) for a, b in zip(s[1:], n))
                for s, n in zip(states, shapes))):
            raise ValueError(f"{self._label()}: initial_state must hold {len(shapes)} state(s) "
                             f"of shapes {[shape_str((None,) + n) for n in shapes]}, got "
                             f"{[shape_str(s) for s in states]}")
        if builtin:
            fast = cell.layer_class(**cell._layer_kwargs(), name=cell.name,
                                    return_sequences=self.return_sequences,
                                    return_state=self.return_state,
                                    go_backwards=self.go_backwards,
                                    zero_output_for_mask=self.zero_output_for_mask)
            if cell.built:  # the cell's own weights, shared
                fast.kernel, fast.recurrent_kernel, fast.bias = \
                    cell.kernel, cell.recurrent_kernel, cell.bias
                fast._weights = list(cell._weights)
                fast.built = True
            else:
                fast._computes_cell = True  # (its weights are the cell's)
                fast.build(x)
                cell._adopt(fast)
                cell.built = True
                cell._build_input_shape = (x[0], x[-1])
                for w in cell._weights:  # Keras's paths: rnn/lstm_cell/kernel
                    _under(w, self.name)
            fast._build_input_shape = input_shape
            self._fast = fast
        elif not cell.built:
            step = (x[0],) + tuple(x[2:])
            cell.build(step)
            cell.built = True
            cell._build_input_shape = step
            if not isinstance(cell, StackedRNNCells):
                for w in cell._weights:
                    _under(w, self.name)
        self.built = True

    def compute_output_shape(self, input_shape):
        x, _ = self._split_shapes(input_shape)
        units = _output_shape(self.cell)
        out = (x[0], x[1]) + units if self.return_sequences else (x[0],) + units
        if self.return_state:
            return [out] + [(x[0],) + n for n in _state_shapes(self.cell)]
        return out

    def __call__(self, inputs, *args, initial_state=None, training=None, mask=None, **kwargs):
        if initial_state is not None:
            if isinstance(inputs, (list, tuple)):
                raise ValueError(f"{self._label()}: give the initial states either in the "
                                 f"inputs list or as initial_state=, not both")
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            inputs = [inputs] + states
        return super().__call__(inputs, *args, training=training, mask=mask, **kwargs)

    # -------------------------------------------------------- computing

    def forward(self, ctx, inputs, training):
        if self._fast is not None:
            return self._fast.forward(ctx, inputs, training)
        from .. import autodiff
        training = training and not ctx.inference_behaviour
        mask = _first_mask(ctx.mask)

        def run(xs):
            return self._loop(xs, mask, training)
        if training:
            return autodiff.traced_forward(self, ctx, inputs, run)
        return autodiff.untraced_forward(ctx, run, inputs)

    def backward(self, ctx, dy, need_input_grad=True):
        if self._fast is not None:
            return self._fast.backward(ctx, dy, need_input_grad)
        from .. import autodiff
        return autodiff.traced_backward(self, ctx, dy, need_input_grad)

    def _loop(self, inputs, mask, training):
        """The steps in Python: the cell's call once per step."""
        x, states = _split_inputs(inputs)
        batch, steps = x.shape[0], x.shape[1]
        shapes = [(batch,) + n for n in _state_shapes(self.cell)]
        if states:
            for s, n in zip(states, shapes):
                if tuple(s.shape) != n:
                    raise ValueError(f"{self._label()}: initial states must have shapes "
                                     f"{shapes}, got {[tuple(v.shape) for v in states]}")
        else:
            states = [np.zeros(n, np.float32) for n in shapes]
        if mask is not None and np.shape(mask) != (batch, steps):
            raise ValueError(f"{self._label()}: the mask must have shape ({batch}, {steps}), "
                             f"got {np.shape(mask)}")
        units = _output_shape(self.cell)
        output = np.zeros((batch,) + units, np.float32)
        outputs = []
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        for t in order:
            xt = x[:, t]
            if isinstance(xt, np.ndarray):
                xt = np.ascontiguousarray(xt)
            y, new = _call_cell(self.cell, xt, states, training)
            if len(new) != len(states):
                raise ValueError(f"{self._label()}: the cell returned {len(new)} state(s), its "
                                 f"state_size says {len(states)}")
            if mask is not None:
                keep = np.asarray(mask[:, t], np.float32).reshape(batch, 1)
                new = [_blend(n, s, keep) for n, s in zip(new, states)]
                y = y * _rows(keep, y) if self.zero_output_for_mask else _blend(y, output, keep)
            states, output = new, y
            if self.return_sequences:
                outputs.append(ops.reshape(y, (batch, 1) + units))
        if self.return_sequences:
            out = ops.concatenate(outputs, axis=1) if outputs else \
                np.zeros((batch, 0) + units, np.float32)
        else:
            out = output
        return [out] + list(states) if self.return_state else out

    # ------------------------------------------------------------ masks

    def compute_mask(self, ctx, inputs, mask):
        mask = _first_mask(mask)
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self.state_count
        return out

    def _output_has_mask(self, input_masks):
        out = bool(input_masks and input_masks[0]) and self.return_sequences
        if self.return_state:
            return [out] + [False] * self.state_count
        return out

    # ----------------------------------------------------------- config

    def get_config(self):
        from .recurrent import _serialize
        return {**super().get_config(), "cell": _serialize(self.cell),
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask}


def _rows(keep, like):
    """The (batch, 1) mask of kept rows, shaped to broadcast over ``like``."""
    return keep.reshape(keep.shape + (1,) * (len(like.shape) - 2))


def _blend(new, old, keep):
    """``new`` where the step is kept, ``old`` where it is masked."""
    keep = _rows(keep, new)
    return new * keep + old * (1.0 - keep)


def _under(weight, rnn_name):
    """A cell's weight's path with the RNN layer's name before the cell's
    (Keras's rnn/lstm_cell/kernel), where it is not there already."""
    head, _, cell = weight._scope.rpartition("/")
    if head.rsplit("/", 1)[-1] != rnn_name:
        weight._scope = "/".join(p for p in (head, rnn_name, cell) if p)


GRUCellV2, LSTMCellV2 = GRUCell, LSTMCell   # (tf.keras 2's names of the TF2 versions)
