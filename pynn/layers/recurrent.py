"""Recurrent layers: SimpleRNN, LSTM, GRU, and the Bidirectional and
TimeDistributed wrappers.

The layers hold Keras 3's weights as Keras stores them (``kernel``
(features, G*units), ``recurrent_kernel`` (units, G*units), ``bias``; gate
order i, f, c, o for LSTM and z, r, h for GRU), so Keras weights load as
they are, and compute through the recurrent kernels of pynn.ops: every
step is one GEMM and one fused pass over the gates, in C, forward and
backward through time.

A mask from ``Embedding(mask_zero=True)`` or ``Masking`` makes padded
steps carry the state over unchanged, as in Keras; with
``return_sequences`` the mask is passed on.  ``initial_state=`` at the call
(and ``return_state=True`` on the encoder) wires the states of one layer
into another, as Keras's sequence-to-sequence examples do.
"""
import numpy as np

from .. import activations, constraints, initializers, ops, regularizers
from ..models.node import CallContext
from ..utils.seeding import next_seed
from .base import Layer, shape_str, shapes_str
from .core import _positive_int, weight_options


def _rate(value, what, layer):
    try:
        ok = 0.0 <= float(value) < 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: {what} must be a number in "
                         f"[0, 1), got {value!r}")
    return float(value)


def _recurrent_activation(value, what, layer):
    name = activations.canonical(value)
    allowed = getattr(layer, "allowed_activations", ops.RECURRENT_ACTIVATIONS)
    if name not in allowed:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: {what} must be one of "
                         f"{list(allowed)}, got {value!r}")
    return name


def _split_inputs(inputs):
    """(sequence, initial states) from a layer's input(s)."""
    if isinstance(inputs, (list, tuple)):
        return inputs[0], list(inputs[1:])
    return inputs, []


def _first_mask(mask):
    return mask[0] if isinstance(mask, (list, tuple)) else mask


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, masks,
    dropout, initial and stateful states, forward and backward through the
    cell's kernels."""
    supports_masking = True
    _cell_op = None    # the pynn.ops name of the cell's kernels
    gates = 1
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 implementation=None, use_cudnn="auto", time_major=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        if time_major:
            raise ValueError(f"{label}: time_major=True is not supported; inputs are "
                             f"(batch, timesteps, features)")
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
        self._draws = 0
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        # The kernels loop over the steps in C: unrolling would change
        # nothing, so the argument is accepted and kept for the config.
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None  # the carried states of a stateful layer

    # ----------------------------------------------------------- shapes

    def _label(self):
        return f"{type(self).__name__} {self.name!r}"

    def _split_shapes(self, input_shape):
        if isinstance(input_shape, list):
            return tuple(input_shape[0]), [tuple(s) for s in input_shape[1:]]
        return tuple(input_shape), []

    def _check_shapes(self, input_shape):
        x, states = self._split_shapes(input_shape)
        if len(x) != 3 or x[-1] is None:
            raise ValueError(f"{self._label()}: expected a sequence of shape (batch, timesteps, "
                             f"features) with the features known, got shape {shape_str(x)}")
        if states and len(states) != self.state_count:
            raise ValueError(f"{self._label()}: initial_state must hold {self.state_count} "
                             f"state(s) of shape (batch, {self.units}), got "
                             f"{len(states)}: {shapes_str(states)}")
        for s in states:
            if len(s) != 2 or s[1] not in (None, self.units):
                raise ValueError(f"{self._label()}: each initial state must have shape (batch, "
                                 f"{self.units}), got {shapes_str(states)}")
        return x, states

    def build(self, input_shape):
        x, _ = self._check_shapes(input_shape)
        features, units, gates = x[-1], self.units, self.gates
        if self.stateful and x[0] is None:
            raise ValueError(f"{self._label()}: a stateful layer needs a fixed batch size: give "
                             f"the first layer batch_input_shape=(batch, timesteps, features) "
                             f"or pynn.Input(batch_shape=...)")
        self.kernel = self.add_weight("kernel", (features, gates * units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (units, gates * units), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(),
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self._paths_under_cell()
        if self.stateful:
            self.states = [np.zeros((x[0], units), np.float32)
                           for _ in range(self.state_count)]
        self.built = True

    @property
    def cell_path(self):
        return f"{self._cell_op}_cell"

    @property
    def cell(self):
        """The cell Keras 3's layer holds (an LSTMCell for LSTM): the
        layer's arguments and, once the layer is built, its very weights,
        so ``layer.cell.kernel`` is ``layer.kernel``.  (The layer computes
        the whole sequence itself; the cell is what programs read.)"""
        cell = self.__dict__.get("_cell")
        if cell is None:
            cell = self.__dict__["_cell"] = self._make_cell()
        if self.built and cell.kernel is not self.kernel:
            cell._adopt(self)
            cell.built = True
            cell._build_input_shape = self._build_input_shape
        return cell

    # Keras 3's cell is a sublayer holding the weights: freezing the layer
    # freezes the cell, and a frozen cell's weights do not train.
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        Layer.trainable.fset(self, value)
        cell = self.__dict__.get("_cell")
        if cell is not None:
            cell.trainable = value

    def _cell_frozen(self):
        cell = self.__dict__.get("_cell")
        return cell is not None and not cell.trainable

    @property
    def trainable_weights(self):
        return [] if self._cell_frozen() else Layer.trainable_weights.fget(self)

    @property
    def non_trainable_weights(self):
        return self.weights if self._cell_frozen() else \
            Layer.non_trainable_weights.fget(self)

    _CELL_ARGS = ("units", "activation", "recurrent_activation", "use_bias",
                  "kernel_initializer", "recurrent_initializer", "bias_initializer",
                  "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                  "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
                  "recurrent_dropout", "seed", "unit_forget_bias", "reset_after")

    def _make_cell(self):
        from .rnn import GRUCell, LSTMCell, SimpleRNNCell
        cls = next(c for c in (LSTMCell, GRUCell, SimpleRNNCell)
                   if isinstance(self, c.layer_class))
        # (None: an argument the cell does not take, SimpleRNN's
        # recurrent_activation, or one left at its default)
        args = {a: getattr(self, a) for a in self._CELL_ARGS if getattr(self, a, None) is not None}
        return cls(**args, name=self.cell_path, trainable=self.trainable)

    def _paths_under_cell(self):
        """The weights' paths as Keras 3's, whose cell holds them:
        lstm/lstm_cell/kernel (not for the layer that computes an RNN's
        cell, whose paths are the cell's: rnn/lstm_cell/kernel)."""
        if self.__dict__.get("_computes_cell"):
            return
        for w in self._weights:
            w._scope = f"{w._scope}/{self.cell_path}"

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def _check_input(self, shape):
        x, _ = self._check_shapes(shape)
        built = self._build_input_shape
        want = built[0] if isinstance(built, list) else built
        if want is not None and x[-1] != want[-1]:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: "
                             f"expected {want[-1]} features (shape={shape_str(want)}), found "
                             f"shape={shape_str(x)}")

    def compute_output_shape(self, input_shape):
        x, _ = self._check_shapes(input_shape)
        out = (x[0], x[1], self.units) if self.return_sequences else (x[0], self.units)
        if self.return_state:
            return [out] + [(x[0], self.units)] * self.state_count
        return out

    # -------------------------------------------------------- calling

    def __call__(self, inputs, *args, initial_state=None, training=None, mask=None, **kwargs):
        if initial_state is not None:
            if isinstance(inputs, (list, tuple)):
                raise ValueError(f"{self._label()}: give the initial states either in the "
                                 f"inputs list or as initial_state=, not both")
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            inputs = [inputs] + states
        return super().__call__(inputs, *args, training=training, mask=mask, **kwargs)

    def _eager_call(self, inputs, training):
        if self.stateful and not self.built:
            # As Keras's: a stateful layer called on arrays takes its batch
            # size from the first call.
            xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            shapes = [tuple(np.shape(a)) for a in xs]
            self.build_for(shapes if len(shapes) > 1 else shapes[0])
        return super()._eager_call(inputs, training)

    def _seed(self):
        if self.seed is None:
            return next_seed()
        seed = hash((self.seed, self._draws)) & 0x7FFFFFFFFFFFFFFF
        self._draws += 1
        return seed

    def _dropout_mask(self, ctx, key, shape, rate):
        """A (batch, n) mask of 0 and 1 / (1 - rate), drawn once per call and
        applied at every step, as Keras does."""
        ones = ctx.buffer((key, "ones"), shape)
        ones.fill(1.0)
        mask, _ = ops.dropout(ones, rate, self._seed(), out=ctx.buffer(key, shape),
                              mask=ctx.buffer((key, "bits"), shape, np.uint8))
        return mask

    def _cell_options(self):
        """Keyword arguments of the cell's kernel beyond the shared ones."""
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation}

    def get_initial_state(self, batch_size):
        """Zero states for a batch: Keras 3's ``get_initial_state(batch_size)``,
        or Keras 2's ``get_initial_state(inputs)`` given the inputs (symbolic
        ones too: the states then have the inputs' batch size)."""
        from ..backend import zeros
        from ..math import shape as tf_shape
        if not isinstance(batch_size, (int, np.integer)):
            batch_size = tf_shape(batch_size)[0]
        return [zeros((batch_size, self.units)) for _ in range(self.state_count)]

    def _initial_states(self, states, batch):
        if states:
            for s in states:
                if s.shape != (batch, self.units):
                    raise ValueError(f"{self._label()}: each initial state must have shape "
                                     f"({batch}, {self.units}) for a batch of {batch}, got "
                                     f"{[tuple(v.shape) for v in states]}")
            return states
        if self.stateful:
            if self.states[0].shape[0] != batch:
                raise ValueError(f"{self._label()}: the layer is stateful with a batch size of "
                                 f"{self.states[0].shape[0]}, but got a batch of {batch}; "
                                 f"feed batches of that size (and no partial last batch)")
            return self.states
        return None

    def forward(self, ctx, inputs, training):
        x, states = _split_inputs(inputs)
        batch, steps, features = x.shape
        mask = _first_mask(ctx.mask)
        if mask is not None and np.shape(mask) != (batch, steps):
            raise ValueError(f"{self._label()}: the mask must have shape ({batch}, {steps}) "
                             f"(batch, timesteps) for inputs of shape {x.shape}, got "
                             f"{np.shape(mask)}")
        initial = self._initial_states(states, batch)
        dmask = rmask = None
        if training and self.dropout and not ctx.inference_behaviour:
            dmask = self._dropout_mask(ctx, "dropout", (batch, features), self.dropout)
        if training and self.recurrent_dropout and not ctx.inference_behaviour:
            rmask = self._dropout_mask(ctx, "recurrent_dropout", (batch, self.units),
                                       self.recurrent_dropout)
        shape = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        state_out = [ctx.buffer(("state", i), (batch, self.units))
                     for i in range(self.state_count)]
        if initial is not None:
            initial = tuple(initial) if self.state_count > 1 else initial[0]
        result = getattr(ops, self._cell_op)(
            x, self.kernel.value, self.recurrent_kernel.value,
            self.bias.value if self.bias is not None else None, initial_state=initial,
            mask=mask, dropout_mask=dmask, recurrent_dropout_mask=rmask,
            go_backwards=self.go_backwards, return_sequences=self.return_sequences,
            zero_output_for_mask=self.zero_output_for_mask, training=training,
            work=getattr(ctx, "trace", None), out=ctx.buffer("y", shape), state_out=state_out,
            **self._cell_options())
        y, finals, ctx.trace = result[0], list(result[1:-1]), result[-1]
        if training:
            ctx.x_shape, ctx.state_inputs = x.shape, len(states)
        if self.stateful:
            for kept, final in zip(self.states, finals):
                np.copyto(kept, final)
        return [y] + finals if self.return_state else y

    def _grad_target(self, ctx, weight, key):
        """Where a weight's gradient goes: its gradient buffer, or scratch
        when it is not trained (the input gradient still needs the pass)."""
        if weight is None:
            return None
        return weight.grad if weight.grad is not None else ctx.buffer(key, weight.shape)

    def backward(self, ctx, dy, need_input_grad=True):
        if self.return_state:
            dys = list(dy) + [None] * (1 + self.state_count - len(dy))
            dout, dstates = dys[0], dys[1:]
        else:
            dout, dstates = dy, [None] * self.state_count
        n_states = ctx.state_inputs
        if n_states:
            need = list(need_input_grad)
            need_x, need_states = need[0], any(need[1:])
        else:
            need_x, need_states = bool(need_input_grad), False
        batch = ctx.x_shape[0]
        grads = getattr(ops, f"{self._cell_op}_grad")(
            ctx.trace, dout, *dstates,
            input_grad=ctx.buffer("dx", ctx.x_shape) if need_x else False,
            state_grads=[ctx.buffer(("dstate", i), (batch, self.units))
                         for i in range(self.state_count)] if need_states else False,
            kernel_grad=self._grad_target(ctx, self.kernel, "kernel_grad"),
            recurrent_kernel_grad=self._grad_target(ctx, self.recurrent_kernel,
                                                    "recurrent_kernel_grad"),
            bias_grad=self._grad_target(ctx, self.bias, "bias_grad"))
        if not n_states:
            return grads.input
        state_grads = [grads.h0, grads.c0][:self.state_count]
        return [grads.input] + [g if n else None for g, n in zip(state_grads, need[1:])]

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

    # ----------------------------------------------------------- states

    def reset_states(self, states=None):
        """Zero the carried states of a stateful layer, or set them to
        ``states`` (one array per state, each (batch, units))."""
        if not self.stateful:
            raise AttributeError(f"{self._label()}: reset_states needs stateful=True")
        if self.states is None:
            return
        if states is None:
            for s in self.states:
                s.fill(0.0)
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != self.state_count:
            raise ValueError(f"{self._label()}: expected {self.state_count} state array(s), "
                             f"got {len(states)}")
        values = [np.asarray(v, np.float32) for v in states]
        for kept, v in zip(self.states, values):
            if v.shape != kept.shape:
                raise ValueError(f"{self._label()}: states must have shape {kept.shape}, got "
                                 f"{v.shape}")
        for kept, v in zip(self.states, values):
            np.copyto(kept, v)

    reset_state = reset_states

    # ----------------------------------------------------------- config

    def get_config(self):
        config = {**super().get_config(), "units": self.units,
                  "activation": self.activation,
                  "recurrent_activation": self.recurrent_activation,
                  "use_bias": self.use_bias,
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer),
                  "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                  "seed": self.seed, "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards,
                  "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask,
                  **weight_options(self, "kernel", "recurrent", "bias")}
        return config


class SimpleRNN(_Recurrent):
    """Keras's SimpleRNN: ``h = activation(x_t @ kernel + h @ recurrent_kernel
    + bias)``."""
    _cell_op = "simple_rnn"

    def __init__(self, units, activation="tanh", **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError("SimpleRNN: unexpected argument recurrent_activation")
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = None

    def _cell_options(self):
        return {"activation": self.activation}

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class LSTM(_Recurrent):
    """Keras's LSTM (gates i, f, c, o); ``unit_forget_bias`` starts the
    forget gate's bias at 1."""
    _cell_op = "lstm"
    gates = 4
    state_count = 2

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, units = self.bias_initializer, self.units

        def bias(shape):
            return np.concatenate([init((units,)), np.ones(units, np.float32),
                                   init((2 * units,))]).astype(np.float32)
        return bias

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_Recurrent):
    """Keras's GRU (gates z, r, h).  With ``reset_after`` (Keras 3's
    default) the reset gate multiplies the recurrent product and the bias is
    (2, 3*units): input bias, then recurrent bias."""
    _cell_op = "gru"
    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _cell_options(self):
        return {**super()._cell_options(), "reset_after": self.reset_after}

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


# ------------------------------------------------------------ wrappers

def _serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _deserialize(spec):
    if isinstance(spec, Layer):
        return spec
    from ..saving import deserialize_layer
    return deserialize_layer(spec)


def _subcontext(ctx, key):
    sub = getattr(ctx, key, None)
    if sub is None:
        sub = CallContext()
        sub.device = ctx.device
        sub.inference_behaviour = ctx.inference_behaviour
        setattr(ctx, key, sub)
    return sub


# Keras 2.0-2.3's CuDNNLSTM and CuDNNGRU (the text notebooks of those
# years): the recurrences CuDNN computes are LSTM's and GRU's with their
# default settings (sigmoid gates, tanh, GRU's reset_after), and every
# argument those layers took is theirs; tf.keras 2 folded them into LSTM
# and GRU the same way.
CuDNNLSTM = LSTM
CuDNNGRU = GRU


class _Wrapper(Layer):
    """A layer whose weights are those of the layers it wraps."""

    def _wrapped(self):
        return []

    def _sublayers(self):
        return self._wrapped()

    @property
    def weights(self):
        return [w for layer in self._wrapped() for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self._wrapped() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self._wrapped() for w in layer.non_trainable_weights]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights


class Wrapper(_Wrapper):
    """Keras's base of the layers that wrap another one (TimeDistributed,
    Bidirectional, SpectralNormalization): ``layer`` is the wrapped layer
    (a layer, or its serialized config), built with the wrapper; the
    weights are the wrapper's own, then the wrapped layer's.  It computes
    nothing itself: a subclass defines what the wrapping does."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):  # the layer's config, from a saved one
            layer = _deserialize(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected a layer to wrap, "
                             f"got {type(layer).__name__}")
        self.layer = layer

    def _wrapped(self):
        return [self.layer]

    def _sublayers(self):
        # a subclass computing through its call() may hold other layers too
        wrapped = self._wrapped()
        return wrapped + [l for l in Layer._sublayers(self)
                          if not any(l is w for w in wrapped)]

    @property
    def weights(self):
        return self._with_sublayers(self._weights, "weights")

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._with_sublayers([w for w in self._weights if w.trainable],
                                    "trainable_weights")

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._with_sublayers([w for w in self._weights if not w.trainable],
                                    "non_trainable_weights")

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build_for(input_shape)
        self.built = True

    def forward(self, ctx, inputs, training):
        raise NotImplementedError(f"{type(self).__name__} {self.name!r}: Wrapper is a base "
                                  f"class; a subclass defines what wrapping the layer computes")

    def get_config(self):
        return {**super().get_config(), "layer": _serialize(self.layer)}


class Bidirectional(Wrapper):
    """Runs a recurrent layer over the sequence both ways and merges the two
    outputs (``merge_mode``: 'concat', 'sum', 'mul', 'ave', or None for a
    list of both).  The backward layer is a copy of ``layer`` with
    ``go_backwards`` set (or ``backward_layer``); with
    ``return_sequences`` its output is put back in time order, and masked
    steps output zeros, as Keras 3 sets them.  Weights: the forward
    layer's, then the backward layer's (``forward_<name>``,
    ``backward_<name>``)."""
    supports_masking = True
    MERGE_MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(layer, **kwargs)
        label = f"Bidirectional {self.name!r}"
        layer = self.layer
        if backward_layer is not None:
            backward_layer = _deserialize(backward_layer)
        for what, l in (("layer", layer), ("backward_layer", backward_layer)):
            if l is not None and not isinstance(l, _Recurrent):
                raise ValueError(f"{label}: {what} must be a recurrent layer (SimpleRNN, LSTM, "
                                 f"GRU), got {type(l).__name__}")
        if merge_mode not in self.MERGE_MODES:
            raise ValueError(f"{label}: merge_mode must be one of {list(self.MERGE_MODES)}, "
                             f"got {merge_mode!r}")
        config = layer.get_config()
        config["name"] = "forward_" + _removeprefix(layer.name, "forward_")
        self.forward_layer = type(layer).from_config(config)
        if backward_layer is None:
            config = layer.get_config()
            config["go_backwards"] = True
            config["name"] = "backward_" + _removeprefix(layer.name, "backward_")
            backward_layer = type(layer).from_config(config)
        self.backward_layer = backward_layer
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError(f"{label}: the forward and backward layers must have different "
                             f"go_backwards values")
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, attr) != getattr(bwd, attr):
                raise ValueError(f"{label}: the forward and backward layers must have the same "
                                 f"{attr}, got {getattr(fwd, attr)} and {getattr(bwd, attr)}")
        for sub in (fwd, bwd):
            sub.zero_output_for_mask = sub.return_sequences
        if self._batch_input_shape is None and layer._batch_input_shape is not None:
            self._batch_input_shape = layer._batch_input_shape  # Keras 2's input_shape inside
        self.merge_mode = merge_mode
        self.return_sequences = fwd.return_sequences
        self.return_state = fwd.return_state
        self.stateful = fwd.stateful
        self._initial_weights = weights

    def _wrapped(self):
        return [self.forward_layer, self.backward_layer]

    def __call__(self, inputs, *args, initial_state=None, training=None, mask=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs] + list(initial_state)
        return super().__call__(inputs, *args, training=training, mask=mask, **kwargs)

    def _split_states(self, states):
        half = len(states) // 2
        return states[:half], states[half:]

    def _sub_shapes(self, input_shape):
        if not isinstance(input_shape, list):
            return tuple(input_shape), tuple(input_shape)
        x, states = input_shape[0], input_shape[1:]
        if len(states) != 2 * self.forward_layer.state_count:
            raise ValueError(f"Bidirectional {self.name!r}: initial_state must hold "
                             f"{2 * self.forward_layer.state_count} states (the forward "
                             f"layer's, then the backward layer's), got {len(states)}")
        f, b = self._split_states(states)
        return ([tuple(x)] + f if f else tuple(x)), ([tuple(x)] + b if b else tuple(x))

    def build(self, input_shape):
        fshape, bshape = self._sub_shapes(input_shape)
        self.forward_layer.build_for(fshape)
        self.backward_layer.build_for(bshape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def _check_input(self, shape):
        fshape, bshape = self._sub_shapes(shape)
        self.forward_layer._check_input(fshape)
        self.backward_layer._check_input(bshape)

    def compute_output_shape(self, input_shape):
        fshape, _ = self._sub_shapes(input_shape)
        out = self.forward_layer.compute_output_shape(fshape)
        states = []
        if self.return_state:
            out, states = out[0], out[1:]
        if self.merge_mode == "concat":
            outs = [tuple(out[:-1]) + (2 * out[-1],)]
        elif self.merge_mode is None:
            outs = [out, out]
        else:
            outs = [out]
        if self.return_state:
            outs = outs + states + states
        return outs if len(outs) > 1 else outs[0]

    def forward(self, ctx, inputs, training):
        x, states = _split_inputs(inputs)
        fstates, bstates = self._split_states(states)
        fctx, bctx = _subcontext(ctx, "forward_ctx"), _subcontext(ctx, "backward_ctx")
        mask = _first_mask(ctx.mask)
        fctx.mask = bctx.mask = mask
        fy = self.forward_layer.forward(fctx, [x] + fstates if fstates else x, training)
        by = self.backward_layer.forward(bctx, [x] + bstates if bstates else x, training)
        fout, fst = (fy[0], fy[1:]) if self.return_state else (fy, [])
        bout, bst = (by[0], by[1:]) if self.return_state else (by, [])
        if self.return_sequences:
            bout = ops.reverse(bout, 1, out=ctx.buffer("reversed", bout.shape))
        if training:
            ctx.fout, ctx.bout = fout, bout
            ctx.state_inputs = len(states)
        mode = self.merge_mode
        if mode is None:
            outs = [fout, bout]
        elif mode == "concat":
            shape = fout.shape[:-1] + (2 * fout.shape[-1],)
            outs = [ops.concatenate([fout, bout], axis=-1, out=ctx.buffer("y", shape))]
        else:
            y = ctx.buffer("y", fout.shape)
            if mode == "mul":
                ops.multiply(fout, bout, out=y)
            else:
                ops.add(fout, bout, out=y)
                if mode == "ave":
                    ops.axpby(0.5, y, out=y)
            outs = [y]
        outs += fst + bst
        return outs if len(outs) > 1 else outs[0]

    def backward(self, ctx, dy, need_input_grad=True):
        dys = list(dy) if isinstance(dy, (list, tuple)) else [dy]
        n_merged = 2 if self.merge_mode is None else 1
        merged, dstates = dys[:n_merged], dys[n_merged:]
        count = self.forward_layer.state_count
        dfst, dbst = (dstates[:count], dstates[count:]) if self.return_state else ([], [])
        dfout, dbout = self._merge_grads(ctx, merged)
        if dbout is not None and self.return_sequences:
            dbout = ops.reverse(dbout, 1, out=ctx.buffer("dreversed", dbout.shape))
        n_states = ctx.state_inputs
        if n_states:
            need = list(need_input_grad)
            need_x = need[0]
            fneed = [need_x] + need[1:1 + count]
            bneed = [need_x] + need[1 + count:]
        else:
            need_x = fneed = bneed = bool(need_input_grad)
        fctx, bctx = ctx.forward_ctx, ctx.backward_ctx
        fdy = [dfout] + dfst if self.return_state else dfout
        bdy = [dbout] + dbst if self.return_state else dbout
        fdx = self.forward_layer.backward(fctx, fdy, fneed)
        bdx = self.backward_layer.backward(bctx, bdy, bneed)
        if n_states:
            fdx, bdx = list(fdx), list(bdx)
            dx = self._sum(ctx, fdx[0], bdx[0]) if need_x else None
            return [dx] + fdx[1:] + bdx[1:]
        return self._sum(ctx, fdx, bdx) if need_x else None

    def _sum(self, ctx, a, b):
        return ops.add(a, b, out=ctx.buffer("dx", a.shape))

    def _merge_grads(self, ctx, merged):
        """The gradients of the two directions' outputs from the merged
        output's (None where none reaches them)."""
        mode = self.merge_mode
        if mode is None:
            return merged[0], merged[1]
        g = merged[0]
        if g is None:
            return None, None
        if mode == "concat":
            half = ctx.fout.shape
            return ops.concatenate_grad(g, [half[-1], half[-1]], axis=-1,
                                        outs=[ctx.buffer("dfwd", half),
                                              ctx.buffer("dbwd", half)])
        if mode == "sum":
            return g, g
        if mode == "ave":
            half = ops.axpby(0.5, g, out=ctx.buffer("dhalf", g.shape))
            return half, half
        return (ops.multiply(g, ctx.bout, out=ctx.buffer("dfwd", g.shape)),
                ops.multiply(g, ctx.fout, out=ctx.buffer("dbwd", g.shape)))

    def compute_mask(self, ctx, inputs, mask):
        mask = _first_mask(mask)
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            outs += [None] * (2 * self.forward_layer.state_count)
        return outs if len(outs) > 1 else outs[0]

    def _output_has_mask(self, input_masks):
        out = bool(input_masks and input_masks[0]) and self.return_sequences
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            outs += [False] * (2 * self.forward_layer.state_count)
        return outs if len(outs) > 1 else outs[0]

    def reset_states(self, states=None):
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        half = len(states) // 2
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

    reset_state = reset_states

    @property
    def states(self):
        if self.forward_layer.states is None or self.backward_layer.states is None:
            return None
        return self.forward_layer.states + self.backward_layer.states

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": _serialize(self.forward_layer),
                "backward_layer": _serialize(self.backward_layer)}


def _removeprefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every step of a (batch, steps, ...) input: the
    steps are folded into the batch, so the layer runs once on
    (batch * steps, ...) and its weights are shared by all steps."""
    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)

    def _inner_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ValueError(f"TimeDistributed {self.name!r}: expected one input of rank >= 3 "
                             f"(batch, steps, ...), got {shapes_str(input_shape)}")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        self.layer.build_for(self._inner_shape(input_shape))
        self.built = True

    def _check_input(self, shape):
        self.layer._check_input(self._inner_shape(shape))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(self._inner_shape(input_shape))
        if isinstance(inner, list):
            raise ValueError(f"TimeDistributed {self.name!r}: the wrapped layer "
                             f"{self.layer.name!r} has several outputs")
        return tuple(input_shape[:2]) + tuple(inner[1:])

    def forward(self, ctx, x, training):
        batch, steps = x.shape[:2]
        inner = _subcontext(ctx, "inner_ctx")
        y = self.layer.forward(inner, x.reshape((batch * steps,) + x.shape[2:]), training)
        if training:
            ctx.x_shape = x.shape
        return y.reshape((batch, steps) + y.shape[1:])

    def backward(self, ctx, dy, need_input_grad=True):
        batch, steps = dy.shape[:2]
        dx = self.layer.backward(ctx.inner_ctx, dy.reshape((batch * steps,) + dy.shape[2:]),
                                 need_input_grad)
        return None if dx is None else dx.reshape(ctx.x_shape)

    def compute_mask(self, ctx, inputs, mask):
        return mask


# Keras 2's keras.layers.recurrent also held the generic RNN and the cells
# (``from keras.layers.recurrent import RNN, LSTMCell``), which pynn.layers.rnn
# builds on this module.
_KERAS2_RECURRENT = frozenset({"RNN", "SimpleRNNCell", "LSTMCell", "GRUCell",
                               "StackedRNNCells"})


def __getattr__(name):
    if name in _KERAS2_RECURRENT:
        from . import rnn
        return getattr(rnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


GRUV2, LSTMV2 = GRU, LSTM   # (tf.keras 2's names of the TF2 versions)
