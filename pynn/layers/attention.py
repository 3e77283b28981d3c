"""Attention layers (Keras's): MultiHeadAttention, GroupQueryAttention,
Attention (dot-product, Luong-style) and AdditiveAttention
(Bahdanau-style).

They compute through ``call()`` with pynn.ops, so training differentiates
them (pynn.autodiff).  Keras calls them with several tensors and options
(``mha(query, value, key, attention_mask=..., use_causal_mask=True)``);
here the tensors become the layer's input list and the options are kept
for the call: called on arrays or inside another layer's call they hold
for that call only; called on symbolic tensors they belong to the layer's
node in the graph (one set of options per layer).
"""
import threading

import numpy as np

from .. import ops
from .. import random as pynn_random
from ..models.node import KerasTensor
from .base import Layer, carried_mask, flatten, unique_name

# Large enough that exp(score - 1e9) is 0 in float32, as Keras's masking.
_MASKED_SCORE = -1e9

_local = threading.local()


class _CallOptions:
    """The options of calls: a with-block sets them for an eager call on
    this thread; a symbolic call fixes them on the layer."""

    def __init__(self, layer, options):
        self.layer, self.options = layer, options

    def __enter__(self):
        stack = _local.__dict__.setdefault("stack", [])
        stack.append((id(self.layer), self.options))

    def __exit__(self, *exc):
        _local.stack.pop()


def _current_options(layer):
    for owner, options in reversed(getattr(_local, "stack", [])):
        if owner == id(layer):
            return options
    return layer._graph_options


def _is_symbolic(values):
    return any(isinstance(v, KerasTensor) for v in flatten(values))


def _bool_mask(mask):
    """A mask given as booleans, 0/1 numbers or a traced array, as a
    constant boolean array."""
    value = getattr(mask, "value", mask)
    value = np.asarray(value)
    return value if value.dtype == bool else value > 0.5


def _cast_mask(mask):
    """A mask cast to booleans as Keras's MultiHeadAttention casts it:
    True where nonzero."""
    value = np.asarray(getattr(mask, "value", mask))
    return value if value.dtype == bool else value != 0


def _causal(t, s):
    """Keras's causal mask: query step i sees key steps 0..i (with the
    query's last step aligned to the key's last, as Keras's
    ``compute_causal_mask`` counts from the start)."""
    return np.tril(np.ones((t, s), dtype=bool))


def _mask_shape(mask):
    return tuple(int(d) for d in ops.shape(getattr(mask, "value", mask)))


def _check_mask_shapes(layer, query, value, key, masks, given):
    """ValueError naming the layer when a mask does not broadcast to what
    it masks: the query's, value's and key's to their (batch, steps), the
    attention mask to (batch, query steps, value steps), or with a heads
    axis after the batch."""
    label = f"{type(layer).__name__} {layer.name!r}"
    shapes = [tuple(ops.shape(x)) for x in (query, value, key)]
    for m, shape, what in zip(masks[:3], shapes, ("query", "value", "key")):
        if m is not None:
            _mask_fits(label, f"the {what} mask", _mask_shape(m), shape[:-1],
                       f"the {what} of shape {shape}")
    if given is not None:
        got = _mask_shape(given)
        want = shapes[0][:1] + shapes[0][1:-1] + shapes[1][1:-1]
        if len(got) == len(want) + 1:  # (batch, heads, T, S)
            want = want[:1] + got[1:2] + want[1:]
        _mask_fits(label, "attention_mask", got, want,
                   f"a query of shape {shapes[0]} and a value of shape {shapes[1]}")


def _mask_fits(label, what, got, want, of):
    try:
        ok = np.broadcast_shapes(got, want) == tuple(want)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{label}: {what} of shape {got} does not fit {of}: it must "
                         f"broadcast to {want}")


def _attention_shapes(query_shape, value_shape, key_shape):
    """[query, value, key] shapes from build's arguments: Keras 3's three
    (the key's defaulting to the value's), or one list of them."""
    if value_shape is None and isinstance(query_shape, list) and query_shape and \
            not isinstance(query_shape[0], (int, np.integer, type(None))):
        return [tuple(s) for s in query_shape]
    if value_shape is None:
        raise TypeError("build() needs the value's shape with the query's: "
                        "build(query_shape, value_shape, key_shape=None)")
    return [tuple(query_shape), tuple(value_shape),
            tuple(value_shape if key_shape is None else key_shape)]


def _flatten_steps(layer, inputs, mask, options):
    """An attention call's query, value and key (and its mask input, masks
    and constant attention mask) with their middle axes flattened into one
    where they have several (attention over all of them, Keras's
    attention_axes=None), and the middle axes of query and value, to
    restore; the masks' shapes checked first."""
    query, value, key = inputs[:3]
    masks = options.get("masks") or (
        list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs))
    _check_mask_shapes(layer, query, value, key, masks, inputs[3] if options.get(
        "mask_input") else options.get("attention_mask"))
    query_steps, value_steps = tuple(ops.shape(query)[1:-1]), tuple(ops.shape(value)[1:-1])
    if len(query_steps) > 1:
        # attention over all the middle axes: those axes flattened to one
        b = ops.shape(query)[0]
        query, value, key = (ops.reshape(x, (b, -1, ops.shape(x)[-1]))
                             for x in (query, value, key))
        masks = [None if m is None else np.reshape(_cast_mask(m), (b, -1)) for m in masks]
        if options.get("mask_input"):
            inputs = list(inputs[:3]) + [ops.reshape(inputs[3], (b, ops.shape(query)[1],
                                                                 ops.shape(value)[1]))]
        elif options.get("attention_mask") is not None:
            given = np.broadcast_to(options["attention_mask"],
                                    (b,) + query_steps + value_steps)
            options = {**options, "attention_mask": given.reshape(
                b, ops.shape(query)[1], ops.shape(value)[1])}
    return query, value, key, inputs, masks, options, query_steps, value_steps


class _OptionsLayer(Layer):
    """The calling convention shared by the attention layers."""
    supports_masking = True
    # Any number of steps; the feature sizes are checked against the
    # weights in compute_output_shape.
    fixed_input_axes = ()

    def __init__(self, call_options=None, **kwargs):
        super().__init__(**kwargs)
        self._graph_options = None
        # The options of the node a saved model had (see get_config): its
        # first call in a rebuilt graph takes them.
        self._config_options = dict(call_options) if call_options else None

    def _call_with(self, inputs, options, training, mask=None):
        """``mask``: in a graph, the masks given to the call as symbolic
        tensors, one per input (None where the input's own is read)."""
        if _is_symbolic(inputs):
            if self._config_options is not None and self._graph_options is None:
                options, self._config_options = self._config_options, None
            const_mask = options.get("attention_mask")
            if isinstance(const_mask, KerasTensor):
                raise AssertionError("symbolic masks travel as inputs")
            if self._graph_options is not None and not _same_options(self._graph_options,
                                                                     options):
                raise ValueError(
                    f"{type(self).__name__} {self.name!r}: every call in a graph must use the "
                    f"same options; this call has {_describe(options)}, an earlier one "
                    f"{_describe(self._graph_options)}. Use a second layer for the other "
                    f"options.")
            self._graph_options = options
            return Layer.__call__(self, inputs, training=training, mask=mask)
        with _CallOptions(self, options):
            return Layer.__call__(self, inputs, training=training)


def _options_config(layer):
    """The graph options for a saved config (None when the layer has no
    node); a constant attention mask cannot be written into a config."""
    options = layer._graph_options
    if options is None:
        return None
    if "attention_mask" in options or "masks" in options:
        raise ValueError(f"{type(layer).__name__} {layer.name!r} was called in a graph with a "
                         f"constant mask, which a saved config cannot hold; give the mask as "
                         f"an input of the model instead")
    return dict(options)


def _same_options(a, b):
    """Whether two calls' options are the same (a constant mask compared by
    its values: tracing a call again gives an equal array)."""
    def same(x, y):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return np.shape(x) == np.shape(y) and bool(np.array_equal(x, y))
        if isinstance(x, tuple) and isinstance(y, tuple):
            return len(x) == len(y) and all(same(i, j) for i, j in zip(x, y))
        return x == y
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


def _describe(options):
    return ", ".join(f"{k}={'<array>' if isinstance(v, np.ndarray) else v!r}"
                     for k, v in sorted(options.items()))


def _masked_softmax(scores, mask, zero_masked=True):
    """Keras's softmax with a mask: masked scores set to -1e9 before the
    softmax (a row with every step masked gets equal weights), and, as
    Keras's Softmax layer does (``zero_masked``), masked weights set to 0
    after it."""
    if mask is None:
        return ops.softmax(scores, axis=-1)
    weights = ops.softmax(ops.where(mask, scores, np.float32(_MASKED_SCORE)), axis=-1)
    return ops.where(mask, weights, np.float32(0.0)) if zero_masked else weights


def _split_heads(x, heads, depth):
    """(batch, steps, heads * depth) -> (batch, heads, steps, depth)."""
    b, t = ops.shape(x)[0], ops.shape(x)[1]
    return ops.transpose(ops.reshape(x, (b, t, heads, depth)), (0, 2, 1, 3))


def _take_sublayer_names():
    """Keras's attention layers make a Softmax and a Dropout as they build,
    each taking the next automatic name of its kind; taking them here
    names the layers made afterwards (dropout_2, ...) as Keras does."""
    unique_name("softmax")
    unique_name("dropout")


class _AxesFold:
    """MultiHeadAttention over some of the middle axes of its inputs
    (``attention_axes``), as Keras computes it: the other middle axes act
    as batch axes.  They are moved next to the batch axis and folded into
    it, the attention runs over the remaining (attended) axes, and
    ``unfold`` puts the output back in the query's layout and the scores in
    Keras's (batch, other axes..., heads, query's attended axes..., key's
    attended axes...).  The query's, value's and key's masks are folded
    alike; an ``attention_mask`` broadcasts to (batch, other axes...,
    query's attended axes..., key's attended axes...)."""

    @staticmethod
    def attended_axes(layer, rank):
        """The attended axes of inputs of ``rank`` (positive, in the order
        given); a ValueError naming the layer for an axis that is not a
        middle one."""
        given = layer.attention_axes
        if given is None:
            return tuple(range(1, rank - 1))
        given = (given,) if isinstance(given, (int, np.integer)) else tuple(given)
        axes = tuple(int(a) if a >= 0 else rank + int(a) for a in given)
        if any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"MultiHeadAttention {layer.name!r}: attention_axes "
                             f"{layer.attention_axes!r} must be distinct axes between the "
                             f"batch axis and the features axis of inputs of rank {rank}")
        return axes

    @staticmethod
    def other_axes(layer, rank):
        attended = _AxesFold.attended_axes(layer, rank)
        return tuple(a for a in range(1, rank - 1) if a not in attended)

    def __init__(self, layer, inputs):
        self.layer = layer
        rank = len(ops.shape(inputs[0]))
        self.attended = self.attended_axes(layer, rank)
        self.other = self.other_axes(layer, rank)
        self.folds = bool(self.other) or self.attended != tuple(sorted(self.attended))
        self.perm = (0,) + self.other + self.attended + (rank - 1,)

    def _fold_tensor(self, x):
        shape = tuple(ops.shape(x))
        x = ops.transpose(x, self.perm)
        return ops.reshape(x, (-1,) + tuple(shape[a] for a in self.attended) + shape[-1:])

    def _fold_mask(self, m, shape):
        """A (batch, middle axes...) mask of the input of ``shape``."""
        m = np.broadcast_to(_cast_mask(m), shape[:-1])
        m = np.transpose(m, self.perm[:-1])
        return m.reshape((-1,) + tuple(shape[a] for a in self.attended))

    def fold(self, inputs, mask, options):
        label = f"MultiHeadAttention {self.layer.name!r}"
        shapes = [tuple(ops.shape(x)) for x in inputs[:3]]
        if options.get("causal"):
            raise ValueError(f"{label}: use_causal_mask is defined for attention over the "
                             f"steps of (batch, steps, features) inputs, not over axes "
                             f"{self.layer.attention_axes!r} of inputs of shape {shapes[0]}")
        self.query_shape = shapes[0]
        self.value_shape = shapes[1]
        masks = options.get("masks") or (
            list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs))
        folded = [self._fold_tensor(x) for x in inputs[:3]]
        masks = [None if m is None else self._fold_mask(m, shape)
                 for m, shape in zip(masks[:3], shapes)] + list(masks[3:])
        b = shapes[0][0]
        others = tuple(shapes[0][a] for a in self.other)
        steps_q = tuple(shapes[0][a] for a in self.attended)
        steps_v = tuple(shapes[1][a] for a in self.attended)
        want = (b,) + others + steps_q + steps_v

        def fold_given(given):
            _mask_fits(label, "attention_mask", _mask_shape(given), want,
                       f"a query of shape {shapes[0]} and a value of shape {shapes[1]} "
                       f"attended over axes {self.attended}")
            return np.broadcast_to(_cast_mask(given), want).reshape(
                (-1,) + steps_q + steps_v)

        options = dict(options, masks=masks)
        if options.get("mask_input"):
            folded.append(fold_given(inputs[3]))
        elif options.get("attention_mask") is not None:
            options["attention_mask"] = fold_given(options["attention_mask"])
        return folded, None, options

    def unfold(self, out, weights):
        b = self.query_shape[0]
        others = tuple(self.query_shape[a] for a in self.other)
        steps_q = tuple(self.query_shape[a] for a in self.attended)
        steps_v = tuple(self.value_shape[a] for a in self.attended)
        out = ops.reshape(out, (b,) + others + steps_q + (ops.shape(out)[-1],))
        out = ops.transpose(out, tuple(int(i) for i in np.argsort(self.perm)))
        if weights is not None:
            weights = ops.reshape(weights, (b,) + others + (self.layer.num_heads,) + steps_q +
                                  steps_v)
        return out, weights


class MultiHeadAttention(_OptionsLayer):
    """Keras's MultiHeadAttention over (batch, steps, features) inputs, or
    (batch, d1, ..., dn, features) ones attended over all their middle axes
    at once (Keras's default ``attention_axes``, as MobileViT uses) or over
    the middle axes ``attention_axes`` names, the others acting as batch
    axes (the scores then (batch, other axes..., heads, query's attended
    axes..., key's attended axes...), as Keras's).

    ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``;
    the key defaults to the value.  ``attention_mask`` is (batch, T, S)
    (or broadcastable to it), True (nonzero) where a query step may
    attend.  As in Keras, the attention mask is the AND of the query's
    mask (B, T, 1), the value's and the key's (B, 1, S), the causal mask
    and ``attention_mask``; the query's mask is the one the query carries
    (``Embedding(mask_zero=True)``, Masking, or the mask a custom layer's
    call received with its input), whatever ``query_mask`` says, while
    ``value_mask``/``key_mask`` default to the masks the value and key
    carry.  A query step with every key step masked attends to all of
    them equally (Keras's fused attention), or to none (weights 0) when
    the layer has dropout or returns its scores (Keras's Softmax path).
    The output carries the query's mask.

    The weights are Keras's: ``query/kernel`` (query_dim, heads, key_dim),
    ``query/bias`` (heads, key_dim), the same for ``key`` and ``value``,
    ``attention_output/kernel`` (heads, value_dim, output_dim) and its
    bias, so ``set_weights`` from Keras gives Keras's outputs.
    """
    # Keras's call reads the query's mask from the query, whatever
    # query_mask gives (see Layer._carried_mask_inputs)
    _carried_mask_inputs = (0,)


    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 seed=None, flash_attention=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        who = f"MultiHeadAttention {self.name!r}"
        if int(num_heads) < 1 or int(key_dim) < 1:
            raise ValueError(f"{who}: num_heads and key_dim must be >= 1, got {num_heads!r} "
                             f"and {key_dim!r}")
        if attention_axes is not None:
            axes = (attention_axes,) if isinstance(attention_axes, (int, np.integer)) \
                else attention_axes
            if not isinstance(axes, (list, tuple)) or not axes or not all(
                    isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                    for a in axes):
                raise ValueError(f"{who}: attention_axes must be an int, or a list or tuple "
                                 f"of ints, got {attention_axes!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout!r}")
        if output_shape is not None:
            dims = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
            if len(dims) != 1:
                raise ValueError(f"{who}: output_shape must be one size, got {output_shape!r}")
            output_shape = int(dims[0])
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.output_shape_arg = output_shape
        self.attention_axes = attention_axes
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.seed = seed

    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None,
                 key_mask=None, attention_mask=None, return_attention_scores=False,
                 training=None, use_causal_mask=False, mask=None):
        if value is None and isinstance(query, (list, tuple)) and len(query) in (3, 4):
            # the node's inputs as a list (and the masks given to it, one
            # per input): a graph being rebuilt from its config
            inputs = list(query)
            options = {"causal": False, "scores": False}
            if len(inputs) == 4:
                options["mask_input"] = True
            if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
                mask = None
            return self._call_with(inputs, options, training, mask)
        if value is None:
            raise TypeError(f"{type(self).__name__} {self.name!r}: call it with query and value "
                            f"(and optionally key), e.g. layer(x, x)")
        # (query_mask is not read, in a graph as when run: Keras's call
        # replaces it by the mask the query carries; in a graph it is still
        # an input of the node, as in Keras's, see _carried_mask_inputs)
        explicit = [m for m in (query_mask, value_mask, key_mask) if m is not None]
        given = None
        if explicit and _is_symbolic([query, value]):
            if not _is_symbolic(explicit):
                raise ValueError(f"{type(self).__name__} {self.name!r}: in a graph, "
                                 f"query_mask/value_mask/key_mask must be symbolic tensors "
                                 f"(an Input, or computed from one), not arrays")
            # inputs of the node, read as the masks of value and key (the
            # key is the value where no key is given); the query keeps its own
            given = [query_mask, value_mask,
                     value_mask if key is None and key_mask is None else key_mask]
        inputs = [query, value, value if key is None else key]
        options = {"causal": bool(use_causal_mask), "scores": bool(return_attention_scores)}
        if not _is_symbolic([query, value]):
            # Keras reads the query's mask from the query itself, and the
            # value's and key's from them unless given.
            masks = (carried_mask(query),
                     carried_mask(value) if value_mask is None else value_mask,
                     (carried_mask(key) if key_mask is None else key_mask)
                     if key is not None else None)
            if any(m is not None for m in masks):
                options["masks"] = tuple(None if m is None else _cast_mask(m) for m in masks)
        if attention_mask is not None and _is_symbolic([attention_mask]):
            inputs.append(attention_mask)
            options["mask_input"] = True
            given = None if given is None else given + [None]
        elif attention_mask is not None:
            options["attention_mask"] = _cast_mask(attention_mask)
        return self._call_with(inputs, options, training, given)

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Keras 3's build(query_shape, value_shape, key_shape=None) (a
        custom layer building its attention), or the list of the shapes."""
        input_shape = _attention_shapes(query_shape, value_shape, key_shape)
        self._check_ranks(input_shape)
        q_dim, v_dim, k_dim = (s[-1] for s in input_shape[:3])
        if None in (q_dim, v_dim, k_dim):
            raise ValueError(f"MultiHeadAttention {self.name!r}: the last axis of query, value "
                             f"and key must be known, got {input_shape}")
        out_dim = self.output_shape_arg or q_dim
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim

        def dense(name, shape, bias_shape):
            kernel = self.add_weight(f"{name}/kernel", shape, self.kernel_initializer,
                                     regularizer=self.kernel_regularizer,
                                     constraint=self.kernel_constraint)
            bias = self.add_weight(f"{name}/bias", bias_shape, self.bias_initializer,
                                   regularizer=self.bias_regularizer,
                                   constraint=self.bias_constraint) if self.use_bias else None
            return kernel, bias
        self.query_kernel, self.query_bias = dense("query", (q_dim, h, kd), (h, kd))
        self.key_kernel, self.key_bias = dense("key", (k_dim, h, kd), (h, kd))
        self.value_kernel, self.value_bias = dense("value", (v_dim, h, vd), (h, vd))
        self.output_kernel, self.output_bias = dense("attention_output", (h, vd, out_dim),
                                                     (out_dim,))
        _take_sublayer_names()
        self.built = True

    def _check_ranks(self, input_shape):
        """Query, value and key of rank 3, or of one rank with more step
        axes (attended over all of them)."""
        q, v, k = input_shape[:3]
        for name, s in (("query", q), ("value", v), ("key", k)):
            if len(s) < 3 or len(s) != len(q):
                raise ValueError(f"MultiHeadAttention {self.name!r}: {name} must be (batch, "
                                 f"steps, features), or of the query's rank with more step "
                                 f"axes, got shapes {q}, {v} and {k} for query, value and key")
        other = _AxesFold.other_axes(self, len(q))
        for name, s in (("value", v), ("key", k)):
            if any(None not in (s[a], q[a]) and s[a] != q[a] for a in other):
                raise ValueError(f"MultiHeadAttention {self.name!r}: the axes {other} that "
                                 f"attention is not over (attention_axes="
                                 f"{self.attention_axes!r}) must be the same in query and "
                                 f"{name}, got shapes {q} and {s}")

    def compute_output_shape(self, input_shape):
        self._check_ranks(input_shape)
        q, v, k = input_shape[:3]
        if tuple(v[1:-1]) != tuple(k[1:-1]) and None not in tuple(v[1:-1]) + tuple(k[1:-1]):
            raise ValueError(f"MultiHeadAttention {self.name!r}: value and key must have the "
                             f"same number of steps, got {v} and {k}")
        if self.built:
            for name, s, kernel in (("query", q, self.query_kernel), ("value", v,
                                    self.value_kernel), ("key", k, self.key_kernel)):
                if s[-1] != kernel.shape[0]:
                    raise ValueError(f"MultiHeadAttention {self.name!r} was built for {name} "
                                     f"features of size {kernel.shape[0]}, called on shape {s}")
        out = (q[0],) + tuple(q[1:-1]) + (self.output_shape_arg or q[-1],)
        options = _current_options(self) or {}
        if options.get("scores"):
            attended = _AxesFold.attended_axes(self, len(q))
            other = _AxesFold.other_axes(self, len(q))
            return [out, (q[0],) + tuple(q[a] for a in other) + (self.num_heads,) +
                    tuple(q[a] for a in attended) + tuple(v[a] for a in attended)]
        return out

    def _project(self, x, kernel, bias, depth):
        """(batch, steps, features) -> (batch, steps, heads, depth), Keras's
        layout of the projected query, key and value."""
        d = kernel.shape[0]
        y = ops.matmul(x, ops.reshape(kernel, (d, self.num_heads * depth)))
        if bias is not None:
            y = y + ops.reshape(bias, (self.num_heads * depth,))
        return ops.reshape(y, (ops.shape(x)[0], ops.shape(x)[1], self.num_heads, depth))

    # Keras's protected names, read by subclasses that override
    # _compute_attention (a learned temperature, a masked diagonal).  The
    # steps are flattened to one axis before attention, so the equations
    # are those of (batch, steps, heads, depth) tensors.
    _dot_product_equation = "aecd,abcd->acbe"
    _combine_equation = "acbe,aecd->abcd"

    @property
    def _num_heads(self):
        return self.num_heads

    @property
    def _key_dim(self):
        return self.key_dim

    @property
    def _value_dim(self):
        return self.value_dim

    @property
    def _dropout(self):
        return self.dropout

    @property
    def _inverse_sqrt_key_dim(self):
        return 1.0 / float(np.sqrt(self.key_dim))

    @property
    def _dropout_layer(self):
        """Keras's Dropout sublayer over the attention weights:
        ``self._dropout_layer(weights, training=training)``."""
        def drop(weights, training=None):
            if training and self.dropout > 0:
                return pynn_random.dropout(weights, self.dropout, seed=self.seed)
            return weights
        return drop

    def _masked_softmax(self, attention_scores, attention_mask=None):
        """Softmax over the key steps of (batch, heads, T, S) scores; a
        (batch, T, S) mask gets its heads axis, and masked weights are 0
        (Keras's Softmax layer with a mask)."""
        if attention_mask is not None:
            attention_mask = _bool_mask(attention_mask)
            while attention_mask.ndim < len(ops.shape(attention_scores)):
                attention_mask = np.expand_dims(attention_mask, -3)
        return _masked_softmax(attention_scores, attention_mask)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False):
        """Keras's: attention of projected (batch, T, heads, key_dim)
        queries over (batch, S, heads, depth) keys and values, masked by a
        (batch, T, S) boolean mask (or (batch, heads or 1, T, S)); returns the (batch, T, heads,
        value_dim) output and the (batch, heads, T, S) weights."""
        q = ops.transpose(query, (0, 2, 1, 3)) * np.float32(self._inverse_sqrt_key_dim)
        k = ops.transpose(key, (0, 2, 3, 1))
        scores = ops.matmul(q, k)                                       # (B, H, T, S)
        mask = attention_mask if attention_mask is None or np.ndim(attention_mask) == 4 \
            else attention_mask[:, None, :, :]
        # Keras computes without dropout or scores through its fused
        # dot-product attention, which leaves masked weights as they are.
        weights = _masked_softmax(scores, mask,
                                  zero_masked=self.dropout > 0 or bool(return_attention_scores))
        dropped = self._dropout_layer(weights, training=training)
        context = ops.matmul(dropped, ops.transpose(value, (0, 2, 1, 3)))  # (B, H, T, V)
        return ops.transpose(context, (0, 2, 1, 3)), weights

    def _run_compute_attention(self, q, k, v, attention_mask, training, scores):
        """Calls _compute_attention as Keras does; an override written for
        Keras's older signature (no return_attention_scores) is called
        without it."""
        method = self._compute_attention
        if type(self)._compute_attention is not MultiHeadAttention._compute_attention:
            import inspect
            params = inspect.signature(method).parameters.values()
            if not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or
                       p.name == "return_attention_scores" for p in params):
                return method(q, k, v, attention_mask, training)
        return method(q, k, v, attention_mask, training, scores)

    def call(self, inputs, training=None, mask=None):
        options = _current_options(self) or {}
        fold = _AxesFold(self, inputs)
        if fold.folds:
            inputs, mask, options = fold.fold(inputs, mask, options)
        query, value, key, inputs, masks, options, query_steps, value_steps = \
            _flatten_steps(self, inputs, mask, options)
        q = self._project(query, self.query_kernel, self.query_bias, self.key_dim)
        k = self._project(key, self.key_kernel, self.key_bias, self.key_dim)
        v = self._project(value, self.value_kernel, self.value_bias, self.value_dim)
        t, s = ops.shape(query)[1], ops.shape(value)[1]
        given = inputs[3] if options.get("mask_input") else options.get("attention_mask")
        attention_mask = _attention_mask(
            ops.shape(query)[0], t, s, None if given is None else _cast_mask(given),
            masks[0], masks[1], masks[2], options.get("causal", False))
        context, weights = self._run_compute_attention(q, k, v, attention_mask, training,
                                                       bool(options.get("scores")))
        b = ops.shape(query)[0]
        context = ops.reshape(context, (b, t, self.num_heads * self.value_dim))
        out_dim = self.output_kernel.shape[-1]
        out = ops.matmul(context, ops.reshape(self.output_kernel,
                                              (self.num_heads * self.value_dim, out_dim)))
        if self.output_bias is not None:
            out = out + self.output_bias
        if len(query_steps) > 1:
            out = ops.reshape(out, (b,) + query_steps + (out_dim,))
            weights = ops.reshape(weights, (b, self.num_heads) + query_steps + value_steps)
        if fold.folds:
            out, weights = fold.unfold(out, weights)
        if options.get("scores"):
            return [out, weights]
        return out

    def _output_has_mask(self, input_masks):
        has = bool(input_masks[0])
        options = _current_options(self) or {}
        return [has, False] if options.get("scores") else has

    def compute_mask(self, ctx, inputs, mask):
        query_mask = mask[0] if isinstance(mask, (list, tuple)) else None
        options = _current_options(self) or {}
        return [query_mask, None] if options.get("scores") else query_mask

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, key_dim=self.key_dim,
                      value_dim=self.value_dim, dropout=self.dropout, use_bias=self.use_bias,
                      output_shape=self.output_shape_arg, attention_axes=self.attention_axes,
                      kernel_initializer=_serialize("initializers", self.kernel_initializer),
                      bias_initializer=_serialize("initializers", self.bias_initializer),
                      kernel_regularizer=_serialize("regularizers", self.kernel_regularizer),
                      bias_regularizer=_serialize("regularizers", self.bias_regularizer),
                      kernel_constraint=_serialize("constraints", self.kernel_constraint),
                      bias_constraint=_serialize("constraints", self.bias_constraint),
                      seed=self.seed, call_options=_options_config(self))
        return config


class GroupQueryAttention(MultiHeadAttention):
    """Keras's GroupQueryAttention (grouped-query attention): like
    MultiHeadAttention, called the same way (``layer(query, value, key=None,
    attention_mask=None, return_attention_scores=False, training=None,
    use_causal_mask=False)``, masks read as MultiHeadAttention reads them),
    but ``num_query_heads`` query heads share ``num_key_value_heads`` key
    and value heads (each key/value head serves num_query_heads /
    num_key_value_heads consecutive query heads).  ``sliding_window`` lets
    a query step attend only to key steps less than that far from it;
    ``use_gate`` multiplies the heads' outputs by a sigmoid gate projected
    from the query.  The output has the query's features.

    Weights as Keras's: ``query/kernel`` (features, query heads, head_dim)
    and ``query/bias``, ``key/...`` and (with use_gate, before them)
    ``gate/...``, ``value/...`` with the key/value heads, and
    ``attention_output/kernel`` (query heads, head_dim, features) with its
    bias."""

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        if kwargs.get("name") is None:
            # Keras's class is GroupedQueryAttention, and names its layers so
            kwargs["name"] = unique_name("grouped_query_attention")
        _OptionsLayer.__init__(self, activity_regularizer=activity_regularizer, **kwargs)
        who = f"GroupQueryAttention {self.name!r}"
        for what, v in (("head_dim", head_dim), ("num_query_heads", num_query_heads),
                        ("num_key_value_heads", num_key_value_heads)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{who}: {what} must be a positive integer, got {v!r}")
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError(f"{who}: num_query_heads must be divisible by "
                             f"num_key_value_heads, got {num_query_heads} and "
                             f"{num_key_value_heads}")
        if sliding_window is not None and (isinstance(sliding_window, bool) or not isinstance(
                sliding_window, (int, np.integer)) or sliding_window <= 0):
            raise ValueError(f"{who}: sliding_window must be None or a positive integer, got "
                             f"{sliding_window!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{who}: dropout must be in [0, 1), got {dropout!r}")
        if flash_attention and float(dropout) > 0.0:
            raise ValueError(f"{who}: dropout is not supported when flash attention is "
                             f"enabled; set dropout to 0.0 to use flash attention")
        self.head_dim = int(head_dim)
        self.num_query_heads = int(num_query_heads)
        self.num_key_value_heads = int(num_key_value_heads)
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self.num_heads = self.num_query_heads
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.use_gate = bool(use_gate)
        self.sliding_window = None if sliding_window is None else int(sliding_window)
        self.flash_attention = flash_attention
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.seed = seed

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Keras 3's build(query_shape, value_shape, key_shape=None), or the
        list of the shapes."""
        input_shape = _attention_shapes(query_shape, value_shape, key_shape)
        q_dim, v_dim, k_dim = (s[-1] for s in input_shape[:3])
        if None in (q_dim, v_dim, k_dim):
            raise ValueError(f"GroupQueryAttention {self.name!r}: the last axis of query, "
                             f"value and key must be known, got {input_shape}")
        hq, hkv, hd = self.num_query_heads, self.num_key_value_heads, self.head_dim

        def dense(name, features, heads):
            kernel = self.add_weight(f"{name}/kernel", (features, heads, hd),
                                     self.kernel_initializer,
                                     regularizer=self.kernel_regularizer,
                                     constraint=self.kernel_constraint)
            bias = self.add_weight(f"{name}/bias", (heads, hd), self.bias_initializer,
                                   regularizer=self.bias_regularizer,
                                   constraint=self.bias_constraint) if self.use_bias else None
            return kernel, bias
        self.query_kernel, self.query_bias = dense("query", q_dim, hq)
        self.key_kernel, self.key_bias = dense("key", k_dim, hkv)
        self.gate_kernel, self.gate_bias = dense("gate", q_dim, hq) if self.use_gate \
            else (None, None)
        self.value_kernel, self.value_bias = dense("value", v_dim, hkv)
        self.output_kernel = self.add_weight("attention_output/kernel", (hq, hd, q_dim),
                                             self.kernel_initializer,
                                             regularizer=self.kernel_regularizer,
                                             constraint=self.kernel_constraint)
        self.output_bias = self.add_weight("attention_output/bias", (q_dim,),
                                           self.bias_initializer,
                                           regularizer=self.bias_regularizer,
                                           constraint=self.bias_constraint) \
            if self.use_bias else None
        _take_sublayer_names()
        self.built = True

    def compute_output_shape(self, input_shape):
        q, v, k = input_shape[:3]
        who = f"GroupQueryAttention {self.name!r}"
        for name, s in (("query", q), ("value", v), ("key", k)):
            if len(s) != 3:
                raise ValueError(f"{who}: {name} must be (batch, steps, features), got shape "
                                 f"{s}")
        if q[-1] != v[-1]:
            raise ValueError(f"{who}: the last dimension of the query and the value must be "
                             f"equal, got query shape {q} and value shape {v}")
        if v[1] is not None and k[1] is not None and v[1] != k[1]:
            raise ValueError(f"{who}: value and key must have the same number of steps, got "
                             f"{v} and {k}")
        if self.built:
            for name, s, kernel in (("query", q, self.query_kernel),
                                    ("value", v, self.value_kernel),
                                    ("key", k, self.key_kernel)):
                if s[-1] != kernel.shape[0]:
                    raise ValueError(f"{who} was built for {name} features of size "
                                     f"{kernel.shape[0]}, called on shape {s}")
        out = tuple(q)
        options = _current_options(self) or {}
        if options.get("scores"):
            return [out, (q[0], self.num_query_heads, q[1], v[1])]
        return out

    def _heads(self, x, kernel, bias, heads):
        """(batch, steps, features) projected to (batch, heads, steps,
        head_dim)."""
        d = kernel.shape[0]
        y = ops.matmul(x, ops.reshape(kernel, (d, heads * self.head_dim)))
        if bias is not None:
            y = y + ops.reshape(bias, (heads * self.head_dim,))
        return _split_heads(y, heads, self.head_dim)

    def call(self, inputs, training=None, mask=None):
        options = _current_options(self) or {}
        query, value, key, inputs, masks, options, query_steps, value_steps = \
            _flatten_steps(self, inputs, mask, options)
        hq, hkv = self.num_query_heads, self.num_key_value_heads
        q = self._heads(query, self.query_kernel, self.query_bias, hq)
        k = ops.repeat(self._heads(key, self.key_kernel, self.key_bias, hkv),
                       self.num_repeats, axis=1)
        v = ops.repeat(self._heads(value, self.value_kernel, self.value_bias, hkv),
                       self.num_repeats, axis=1)
        q = q * np.float32(1.0 / np.sqrt(self.head_dim))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))       # (B, Hq, T, S)
        b, t, s = ops.shape(query)[0], ops.shape(query)[1], ops.shape(value)[1]
        given = inputs[3] if options.get("mask_input") else options.get("attention_mask")
        attention_mask = _attention_mask(
            b, t, s, None if given is None else _cast_mask(given), masks[0], masks[1],
            masks[2], options.get("causal", False))
        if self.sliding_window is not None:
            rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
            band = np.abs(rows - cols) < self.sliding_window
            attention_mask = np.broadcast_to(band, (b, t, s)) if attention_mask is None \
                else np.logical_and(attention_mask, band)
        if attention_mask is not None and attention_mask.ndim == 3:
            attention_mask = attention_mask[:, None, :, :]
        weights = _masked_softmax(scores, attention_mask,
                                  zero_masked=self.dropout > 0 or bool(options.get("scores")))
        dropped = pynn_random.dropout(weights, self.dropout, seed=self.seed) \
            if training and self.dropout > 0 else weights
        context = ops.transpose(ops.matmul(dropped, v), (0, 2, 1, 3))  # (B, T, Hq, hd)
        if self.use_gate:
            gate = ops.transpose(self._heads(query, self.gate_kernel, self.gate_bias, hq),
                                 (0, 2, 1, 3))
            context = context * ops.sigmoid(gate)
        context = ops.reshape(context, (b, t, hq * self.head_dim))
        out_dim = self.output_kernel.shape[-1]
        out = ops.matmul(context, ops.reshape(self.output_kernel, (hq * self.head_dim,
                                                                    out_dim)))
        if self.output_bias is not None:
            out = out + self.output_bias
        if options.get("scores"):
            return [out, weights]
        return out

    def get_config(self):
        config = _OptionsLayer.get_config(self)
        config.update(head_dim=self.head_dim, num_query_heads=self.num_query_heads,
                      num_key_value_heads=self.num_key_value_heads, use_bias=self.use_bias,
                      use_gate=self.use_gate, sliding_window=self.sliding_window,
                      dropout=self.dropout,
                      kernel_initializer=_serialize("initializers", self.kernel_initializer),
                      bias_initializer=_serialize("initializers", self.bias_initializer),
                      kernel_regularizer=_serialize("regularizers", self.kernel_regularizer),
                      bias_regularizer=_serialize("regularizers", self.bias_regularizer),
                      activity_regularizer=_serialize("regularizers",
                                                      self.activity_regularizer),
                      kernel_constraint=_serialize("constraints", self.kernel_constraint),
                      bias_constraint=_serialize("constraints", self.bias_constraint),
                      seed=self.seed, call_options=_options_config(self))
        return config


def _serialize(module, value):
    """An initializer/regularizer/constraint argument as a config value (a
    config's own, read from a file, as it is)."""
    if value is None or isinstance(value, (str, dict)):
        return value
    import importlib
    mod = importlib.import_module(f"pynn.{module}")
    return mod.serialize(value)


def _attention_mask(b, t, s, attention_mask, query_mask, value_mask, key_mask, causal):
    """Keras's ``_compute_attention_mask``: the query mask times the value
    and key masks, times the causal mask, times the given mask; None when
    nothing masks.  Result (batch, T, S) booleans, or (batch, heads or 1,
    T, S) for a given mask of rank 4."""
    mask = None

    def both(a, c):
        return c if a is None else np.logical_and(a, c)
    if query_mask is not None:
        mask = _cast_mask(query_mask)[:, :, None]
    for m in (value_mask, key_mask):
        if m is not None:
            mask = both(mask, _cast_mask(m)[:, None, :])
    if causal:
        mask = both(mask, _causal(t, s)[None])
    if attention_mask is not None and np.ndim(attention_mask) == 4:
        # a mask per head (or one for all, axis 1 of size 1), as Keras's
        # softmax takes one of the scores' rank as it is
        mask = attention_mask if mask is None else np.logical_and(
            np.broadcast_to(mask, (b, t, s))[:, None], attention_mask)
        return np.broadcast_to(mask, (b, mask.shape[1], t, s))
    if attention_mask is not None:
        mask = both(mask, attention_mask)
    if mask is None:
        return None
    return np.broadcast_to(mask, (b, t, s))


class _BaseDenseAttention(_OptionsLayer):
    """Attention and AdditiveAttention: ``layer([query, value])`` or
    ``layer([query, value, key])``, with masks ``[query_mask, value_mask]``
    given or carried by the inputs (in a graph, or into the call of the
    custom layer that calls this one)."""

    def __init__(self, dropout=0.0, seed=None, causal=False, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__} {self.name!r}: dropout must be in [0, 1),"
                             f" got {dropout!r}")
        self.dropout = float(dropout)
        self.seed = seed
        # tf.keras 2's causal=True: every call masks the future, as
        # use_causal_mask=True (Keras 3's call argument) does
        self.causal = bool(causal)

    def __call__(self, inputs, mask=None, training=None, return_attention_scores=False,
                 use_causal_mask=None):
        who = f"{type(self).__name__} {self.name!r}"
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(f"{who}: expects a list [query, value] or [query, value, key], "
                             f"got {type(inputs).__name__}")
        causal = self.causal if use_causal_mask is None else bool(use_causal_mask)
        options = {"causal": causal, "scores": bool(return_attention_scores)}
        if mask is None and not _is_symbolic(list(inputs)):
            # As Keras, the masks the query and the value carry (inside a
            # custom layer's call).
            carried = [carried_mask(t) for t in inputs[:2]]
            mask = carried if any(m is not None for m in carried) else None
        if mask is not None:
            if _is_symbolic(list(inputs)):
                masks = [m for m in mask if m is not None]
                if not _is_symbolic(masks):
                    raise ValueError(f"{who}: in a graph, mask= must be symbolic tensors (an "
                                     f"Input, or computed from one), not arrays")
                # inputs of the node, read as the masks of query and value
                return self._call_with(list(inputs), options, training,
                                       list(mask) + [None] * (len(inputs) - len(mask)))
            masks = list(mask) + [None] * (2 - len(mask))
            options["masks"] = tuple(None if m is None else _bool_mask(m) for m in masks[:2])
        return self._call_with(list(inputs), options, training)

    def compute_output_shape(self, input_shape):
        q, v = input_shape[0], input_shape[1]
        k = input_shape[2] if len(input_shape) > 2 else v
        who = f"{type(self).__name__} {self.name!r}"
        if len(q) < 2 or len(v) < 2:
            raise ValueError(f"{who}: query and value must be (batch, steps, dim), got {q}, {v}")
        if q[-1] is not None and k[-1] is not None and q[-1] != k[-1]:
            raise ValueError(f"{who}: query and key must have the same last dimension, got "
                             f"{q} and {k}")
        out = tuple(q[:-1]) + (v[-1],)
        if (_current_options(self) or {}).get("scores"):
            return [out, tuple(q[:-1]) + (v[-2],)]
        return out

    def call(self, inputs, training=None, mask=None):
        options = _current_options(self) or {}
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        given = options.get("masks")
        carried = list(mask) if isinstance(mask, (list, tuple)) else [None, None]
        query_mask = given[0] if given else carried[0]
        value_mask = given[1] if given else carried[1]
        label = f"{type(self).__name__} {self.name!r}"
        for m, x, what in ((query_mask, query, "query"), (value_mask, value, "value")):
            if m is not None:
                shape = tuple(ops.shape(x))
                _mask_fits(label, f"the {what} mask", _mask_shape(m), shape[:-1],
                           f"the {what} of shape {shape}")
        scores = self._scores(query, key)                              # (B, T, S)
        t, s = ops.shape(query)[-2], ops.shape(key)[-2]
        keep = None
        if value_mask is not None:
            keep = _bool_mask(value_mask)[..., None, :]
        if options.get("causal"):
            causal = _causal(t, s)
            keep = causal if keep is None else np.logical_and(keep, causal)
        if keep is not None:
            # Keras subtracts 1e9 from the scores of masked steps.
            scores = scores - np.float32(1e9) * (~keep).astype(np.float32)
        weights = ops.softmax(scores, axis=-1)
        dropped = pynn_random.dropout(weights, self.dropout, seed=self.seed) \
            if training and self.dropout > 0 else weights
        result = ops.matmul(dropped, value)
        if query_mask is not None:
            result = result * _bool_mask(query_mask)[..., None].astype(np.float32)
        if options.get("scores"):
            return [result, weights]
        return result

    def _output_has_mask(self, input_masks):
        has = bool(input_masks[0])
        return [has, False] if (_current_options(self) or {}).get("scores") else has

    def compute_mask(self, ctx, inputs, mask):
        query_mask = mask[0] if isinstance(mask, (list, tuple)) else None
        return [query_mask, None] if (_current_options(self) or {}).get("scores") \
            else query_mask

    def get_config(self):
        config = super().get_config()
        config.update(dropout=self.dropout, seed=self.seed, call_options=_options_config(self))
        if self.causal:
            config["causal"] = True
        return config


class Attention(_BaseDenseAttention):
    """Keras's dot-product attention: scores ``query @ key.T`` (times a
    trained scalar ``scale`` with ``use_scale=True``); ``score_mode='concat'``
    scores ``sum(tanh(query + key))`` times ``concat_score_weight``."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention {self.name!r}: score_mode must be 'dot' or 'concat', "
                             f"got {score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones") \
            if self.score_mode == "concat" else None
        self.built = True

    def _scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -1, -2))
            return scores * self.scale if self.scale is not None else scores
        q = ops.expand_dims(query, -2)                                  # (B, T, 1, D)
        k = ops.expand_dims(key, -3)                                    # (B, 1, S, D)
        if self.scale is not None:
            return self.concat_score_weight * ops.sum(ops.tanh(self.scale * (q + k)), axis=-1)
        return self.concat_score_weight * ops.sum(ops.tanh(q + k), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(use_scale=self.use_scale, score_mode=self.score_mode)
        return config


class AdditiveAttention(_BaseDenseAttention):
    """Keras's Bahdanau-style attention: scores
    ``sum(scale * tanh(query + key), axis=-1)`` with a trained ``scale``
    vector (``use_scale=True``, the default)."""

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape):
        dim = input_shape[0][-1]
        self.scale = self.add_weight("scale", (dim,), "glorot_uniform") \
            if self.use_scale else None
        self.built = True

    def _scores(self, query, key):
        q = ops.expand_dims(query, -2)
        k = ops.expand_dims(key, -3)
        e = ops.tanh(q + k)
        if self.scale is not None:
            e = e * self.scale
        return ops.sum(e, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(use_scale=self.use_scale)
        return config
