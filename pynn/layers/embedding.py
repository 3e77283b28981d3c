"""Embedding: integer token ids to dense vectors, with Keras's mask_zero;
ReversibleEmbedding, which also maps vectors back to logits over the
vocabulary."""
import threading
import warnings

import numpy as np

from .. import constraints, initializers, regularizers
from .. import ops
from .base import Layer, shape_str
from .core import _positive_int, weight_options


class Embedding(Layer):
    """Rows of an ``(input_dim, output_dim)`` table by integer ids: an input
    of shape ``(batch, ...)`` gives ``(batch, ..., output_dim)``.

    With ``mask_zero=True`` id 0 is padding: the output carries a mask that
    is False there, which recurrent layers (and the layers that pass masks
    on) follow, as in Keras.  ``input_length``, Keras 2's argument, is
    taken and ignored with Keras 3's warning: a model starting with the
    layer is built on the first data it sees, whatever its length.  Keras
    2's programs that load a pretrained table into the unbuilt layer
    (``model.layers[0].set_weights([matrix])`` before ``fit``) still do:
    the table's shape does not depend on the input.

    The gradient touches only the rows that occur in the batch (a
    scatter-add in C), and clears the rows the previous batch wrote, so the
    vocabulary-sized gradient is never zeroed whole.
    """
    input_dtype = "int32"
    # Any number of steps, and any rank: the table does not depend on them.
    fixed_input_axes = ()
    fixed_input_rank = False

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 input_length=None, activity_regularizer=None, weights=None, lora_rank=None,
                 quantization_config=None, **kwargs):
        if input_length is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.",
                          stacklevel=2)
        # (the base sets a Keras 2 ``weights=[matrix]`` once built; Keras 3
        # also takes the bare matrix)
        if weights is not None and not isinstance(weights, (list, tuple)):
            weights = [weights]
        super().__init__(activity_regularizer=activity_regularizer, weights=weights, **kwargs)
        label = f"Embedding {self.name!r}"
        self.input_dim = _positive_int(input_dim, "input_dim", self)
        self.output_dim = _positive_int(output_dim, "output_dim", self)
        if lora_rank or quantization_config:
            raise ValueError(f"{label}: lora_rank and quantization_config are not supported")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        # Backward-pass bookkeeping of the gradient buffer (see
        # _embedding_grad): the pass last seen, and whether a pass ever
        # called this layer's backward more than once.
        self._grad_pass = None
        self._called_several_times = False

    def build(self, input_shape):
        self._check_length(input_shape)
        if self.quantization_mode == "int8":  # a quantized layer read from a file
            self._int8_weights("embeddings", (self.input_dim, self.output_dim), axis=-1)
        else:
            self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                              self.embeddings_initializer,
                                              regularizer=self.embeddings_regularizer,
                                              constraint=self.embeddings_constraint)
        self.built = True  # (the base's build then loads weights=[...], if given)

    def set_weights(self, weights):
        if not self.built:
            # (the table's shape is known before any input: Keras 2's
            # programs load a pretrained one before the first call)
            self.build_for((None, None))
        super().set_weights(weights)

    def _check_length(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"Embedding {self.name!r}: expected an array of ids, got "
                             f"shape {shape_str(input_shape)}")

    def _check_input(self, shape):
        self._check_length(shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _as_input(self, a):
        return super()._as_input(self._integer_ids(np.asarray(a)))

    def _integer_ids(self, ids):
        """The ids as integers.  Keras casts float ids to int32, and
        programs rely on it (an ``Input(shape=(maxlen,))``, float32, feeding
        an Embedding inside a custom layer's call): floats holding whole
        numbers in the int32 range are taken; any other float is an error
        rather than a silent truncation."""
        if ids.dtype.kind in "iub":
            return ids
        if ids.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                whole = np.all((ids == np.trunc(ids)) & (np.abs(ids) < 2 ** 31))
            if whole:
                return ids.astype(np.int32)
        got = f"{ids.dtype} values that are not all whole numbers in the int32 range" \
            if ids.dtype.kind == "f" else ids.dtype
        raise TypeError(f"Embedding {self.name!r}: token ids must be integers (or floats "
                        f"holding whole numbers), got {got}; give integer arrays "
                        f"(pynn.Input(dtype='int32') in a graph)")

    def forward(self, ctx, ids, training):
        ids = self._integer_ids(ids)
        try:
            y = ops.embedding(self.embeddings.value, ids,
                              out=ctx.buffer("y", ids.shape + (self.output_dim,)))
            if self.quantization_mode == "int8":
                # the int8 rows over their scales, as Keras's
                scales = ops.embedding(self.embeddings_scale.value.reshape(-1, 1), ids)
                y = ops.divide(y, scales)
        except ValueError as e:
            raise ValueError(f"Embedding {self.name!r} (input_dim={self.input_dim}): {e}") \
                from None
        if training:
            ctx.ids = ids
        return y

    def quantize(self, mode=None, type_check=True, config=None):
        """Keras's int8 quantization: the table becomes int8 values with a
        scale per row (its largest magnitude over 127)."""
        self._quantize_int8("embeddings", -1, mode, type_check, config, Embedding)

    def backward(self, ctx, dy, need_input_grad=True):
        grad = self.embeddings.grad
        if grad is not None:
            self._embedding_grad(ctx, grad, dy)
        return None  # ids have no gradient

    def _embedding_grad(self, ctx, grad, dy):
        """Write this call's gradient into ``grad``.  Only the rows that
        occur are written, so the other rows must already be zero: they are
        when this call wrote the same buffer at the previous step (its
        previous ids are cleared).  The buffer is cleared whole otherwise: a
        new buffer, a regularizer (it adds to every row), or a layer called
        several times per backward pass (whose later calls' gradients are
        added into the buffer by the model)."""
        token = getattr(ctx, "grad_token", None)
        if token is not None and token is self._grad_pass:
            self._called_several_times = True
        self._grad_pass = token
        ids = ctx.ids
        # A copy of the ids, kept for the next step: the caller may reuse
        # the batch array.  Two buffers in turn, so the copy never
        # overwrites the previous ids before they are cleared.
        turn = ctx.ids_turn = 1 - getattr(ctx, "ids_turn", 0)
        kept = ctx.buffer(("ids", turn), ids.shape, ids.dtype)
        np.copyto(kept, ids)
        previous = getattr(ctx, "grad_rows", None)
        sparse = previous is not None and previous[0] is grad and \
            not self._called_several_times and self.embeddings_regularizer is None
        if not sparse:
            grad.fill(0.0)
        ops.embedding_grad(kept, dy, grad, previous_ids=previous[1] if sparse else None)
        ctx.grad_rows = (grad, kept)

    def compute_mask(self, ctx, inputs, mask):
        if not self.mask_zero:
            return None
        return np.not_equal(inputs, 0, out=ctx.buffer("mask", inputs.shape, np.bool_))

    def _output_has_mask(self, input_masks):
        return self.mask_zero

    def get_config(self):
        config = {**super().get_config(), "input_dim": self.input_dim,
                  "output_dim": self.output_dim,
                  "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                  "mask_zero": self.mask_zero, **weight_options(self, "embeddings")}
        return config


_reversing = threading.local()


class _Reverse:
    """Marks, on this thread, a call of ``layer`` made with reverse=True:
    its eager or traced computation, and the node a symbolic call records
    (which keeps ``reverse`` for the graph's runs)."""

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        _reversing.__dict__.setdefault("layers", []).append(id(self.layer))

    def __exit__(self, *exc):
        _reversing.layers.pop()


class ReversibleEmbedding(Embedding):
    """Keras's ReversibleEmbedding: an Embedding that, called with
    ``reverse=True``, maps vectors back to logits over the vocabulary,
    ``inputs @ embeddings.T`` (the tied weights of a language model's input
    and output), or ``inputs @ reverse_embeddings`` with
    ``tie_weights=False`` (a separate (output_dim, input_dim) weight);
    ``logit_soft_cap`` caps the logits as ``tanh(logits / cap) * cap``.
    Both calls may use the same layer in one graph: each node keeps its
    ``reverse``.  The reverse call carries no mask."""
    node_call_arguments = ("reverse",)

    def __init__(self, input_dim, output_dim, tie_weights=True,
                 embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, mask_zero=mask_zero,
                         **kwargs)
        label = f"ReversibleEmbedding {self.name!r}"
        if isinstance(reverse_dtype, dict):  # Keras 3's serialized dtype policy
            reverse_dtype = (reverse_dtype.get("config") or {}).get("name")
        if reverse_dtype not in (None, "float32"):
            raise ValueError(f"{label}: reverse_dtype must be None or 'float32' (pynn computes "
                             f"in float32), got {reverse_dtype!r}")
        if logit_soft_cap is not None:
            try:
                ok = float(logit_soft_cap) > 0 and not isinstance(logit_soft_cap, bool)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{label}: logit_soft_cap must be None or a number > 0, got "
                                 f"{logit_soft_cap!r}")
            logit_soft_cap = float(logit_soft_cap)
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape):
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                "reverse_embeddings", (self.output_dim, self.input_dim),
                self.embeddings_initializer)
        self.built = True

    def __call__(self, inputs, *args, reverse=False, training=None, mask=None, **kwargs):
        if not reverse:
            return super().__call__(inputs, *args, training=training, mask=mask, **kwargs)
        with _Reverse(self):
            return super().__call__(inputs, *args, training=training, mask=mask, **kwargs)

    def _reversing_now(self, ctx=None):
        if ctx is not None and "reverse" in ctx.call_args:
            return bool(ctx.call_args["reverse"])
        layers = getattr(_reversing, "layers", ())
        return bool(layers) and layers[-1] == id(self)

    def _node_call_args(self):
        return {"reverse": True} if self._reversing_now() else None

    def _check_input(self, shape):
        if self._reversing_now():
            self._check_vectors(shape)
        else:
            super()._check_input(shape)

    def _check_vectors(self, shape):
        if len(shape) < 2 or shape[-1] not in (None, self.output_dim):
            raise ValueError(f"ReversibleEmbedding {self.name!r}: reverse=True maps vectors of "
                             f"output_dim={self.output_dim} to logits; got an input of shape "
                             f"{shape_str(shape)}")

    def compute_output_shape(self, input_shape):
        if self._reversing_now():
            self._check_vectors(input_shape)
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return super().compute_output_shape(input_shape)

    def node_input_dtype(self, node):
        return "float32" if node.call_args.get("reverse") else self.input_dtype

    def _as_input(self, a):
        if self._reversing_now():
            x = np.asarray(a, np.float32)
            if x.ndim == 0:
                raise ValueError(f"ReversibleEmbedding {self.name!r}: expected an array with a "
                                 f"batch dimension, got a scalar")
            return np.ascontiguousarray(x)
        return super()._as_input(a)

    def _kernel(self):
        """The (output_dim, input_dim) matrix the reverse call multiplies by."""
        if self.tie_weights:
            return ops.transpose(self.embeddings.value)
        return self.reverse_embeddings.value

    def forward(self, ctx, x, training):
        ctx.reverse = self._reversing_now(ctx)
        if not ctx.reverse:
            return super().forward(ctx, x, training)
        if x.ndim < 2 or x.shape[-1] != self.output_dim:
            raise ValueError(f"ReversibleEmbedding {self.name!r}: reverse=True maps vectors of "
                             f"output_dim={self.output_dim} to logits; got an input of shape "
                             f"{x.shape}")
        x2 = x.reshape(-1, self.output_dim)
        logits = ops.matmul(x2, self._kernel())
        if self.logit_soft_cap is not None:
            logits = ops.multiply(ops.tanh(ops.divide(logits, self.logit_soft_cap)),
                                  self.logit_soft_cap)
        if training:
            ctx.x2, ctx.capped, ctx.x_shape = x2, logits, x.shape
        return logits.reshape(x.shape[:-1] + (self.input_dim,))

    def backward(self, ctx, dy, need_input_grad=True):
        if not ctx.reverse:
            if not self.tie_weights and self.reverse_embeddings.grad is not None:
                self.reverse_embeddings.grad.fill(0.0)
            return super().backward(ctx, dy, need_input_grad)
        d = dy.reshape(-1, self.input_dim)
        if self.logit_soft_cap is not None:
            # d(tanh(z / c) * c)/dz = 1 - tanh(z / c)**2 = 1 - (y / c)**2
            ratio = ops.divide(ctx.capped, self.logit_soft_cap)
            d = ops.multiply(d, ops.subtract(1.0, ops.square(ratio)))
        if self.tie_weights:
            if self.embeddings.grad is not None:
                self.embeddings.grad[...] = ops.matmul(ops.transpose(d), ctx.x2)
        else:
            if self.reverse_embeddings.grad is not None:
                self.reverse_embeddings.grad[...] = ops.matmul(ops.transpose(ctx.x2), d)
            if self.embeddings.grad is not None:
                self.embeddings.grad.fill(0.0)
        # The next lookup of this layer must clear the whole gradient:
        # this call wrote every row.
        ctx.grad_rows = None
        self._called_several_times = True
        if not need_input_grad:
            return None
        return ops.matmul(d, ops.transpose(self._kernel())).reshape(ctx.x_shape)

    def compute_mask(self, ctx, inputs, mask):
        if self._reversing_now(ctx):
            return None
        return super().compute_mask(ctx, inputs, mask)

    def _output_has_mask(self, input_masks):
        return False if self._reversing_now() else self.mask_zero

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype, "logit_soft_cap": self.logit_soft_cap}
