"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum,
Minimum and Dot, and their functional forms (``concatenate([a, b])``, ...).

Each takes a list of tensors.  The elementwise ones follow NumPy's
broadcasting among inputs of one rank; an input of lower rank first gets
new axes after the batch axis, as Keras expands it at axis 1 (so a
(batch, 100) latent times a (batch, 1, 100) embedding is (batch, 1, 100)).
They reduce their gradients back to each input's shape; their arithmetic
and copies run in C through pynn.ops.
"""
import numpy as np

from .. import ops
from .base import Layer, shape_str, shapes_str


class _Merge(Layer):
    """What the merge layers share: a list of inputs, shape checks, masks."""
    runs_on_gpu = True
    supports_masking = True
    min_inputs = 1
    max_inputs = None
    # Keras's merge layers have no input_spec: one instance merges inputs of
    # any shape that fit each other (a residual Add in an attention block
    # called on sequences of another length), checked at every call
    fixed_input_axes = ()
    fixed_input_rank = False

    def __init_subclass__(cls, **kwargs):
        # Keras's merge layers compute through ``_merge_function(inputs)``,
        # which programs override (a progressive GAN's fade-in,
        # ``class WeightedSum(Add)`` mixing two inputs by a variable): such
        # a subclass computes through its own, as one overriding call().
        if "_merge_function" in vars(cls) and "call" not in vars(cls):
            cls.call = _call_merge_function
        super().__init_subclass__(**kwargs)

    def _check_input(self, shape):
        self.compute_output_shape(shape)

    def _check_inputs(self, input_shape):
        label = f"{type(self).__name__} {self.name!r}"
        if not isinstance(input_shape, list):
            raise ValueError(f"{label}: a merge layer should be called on a list of inputs, "
                             f"got one input of shape {shape_str(input_shape)}")
        n = len(input_shape)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = self.min_inputs if self.max_inputs == self.min_inputs else \
                f"at least {self.min_inputs}"
            raise ValueError(f"{label}: expected {want} inputs, got {n}: "
                             f"{shapes_str(input_shape)}")
        return label

    def _check_batch(self, xs, broadcast=False):
        """The batch sizes of a call's arrays must agree (a graph's shapes
        leave the batch unknown, so only the call can tell); ``broadcast``:
        a batch of 1 goes with any other, as NumPy's broadcast."""
        sizes = {x.shape[0] for x in xs if x.ndim}
        if broadcast:
            sizes.discard(1)
        if len(sizes) > 1:
            raise ValueError(f"{type(self).__name__} {self.name!r}: cannot merge tensors with "
                             f"different batch sizes, got shapes "
                             f"{shapes_str([x.shape for x in xs])}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_mask(self, ctx, inputs, mask):
        if mask is None or all(m is None for m in mask) or self.__dict__.get("_from_operator"):
            return None
        out = None
        for m in mask:
            if m is not None:
                out = m if out is None else np.logical_and(out, m)
        return out

    def _output_has_mask(self, input_masks):
        # (``x + y`` on symbolic tensors is an operation in Keras 3, whose
        # output carries no mask; see KerasTensor._merge)
        return any(input_masks) and not self.__dict__.get("_from_operator")


def _call_merge_function(self, inputs):
    """The call() of a merge layer subclass that overrides _merge_function."""
    return self._merge_function(list(inputs))


def same_rank_shape(shape, rank):
    """``shape`` with new axes of size 1 after the batch axis up to
    ``rank``, as Keras's merge layers expand a lower-rank input."""
    shape = tuple(shape)
    if len(shape) >= rank or not shape:
        return shape
    return shape[:1] + (1,) * (rank - len(shape)) + shape[1:]


def _broadcast_shape(shapes, label):
    """NumPy's broadcast of shapes holding None (unknown) dimensions, a
    lower-rank shape expanded after its batch axis first."""
    rank = max(len(s) for s in shapes)
    shapes = [same_rank_shape(s, rank) for s in shapes]
    out = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"{label}: inputs have incompatible shapes "
                             f"{shapes_str(list(shapes))}: they differ at axis {axis} and "
                             f"neither is 1")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Elementwise(_Merge):
    """Merges of same-shape (or broadcastable) tensors, elementwise."""

    def compute_output_shape(self, input_shape):
        label = self._check_inputs(input_shape)
        return _broadcast_shape(input_shape, label)

    def forward(self, ctx, xs, training):
        self._check_batch(xs, broadcast=True)
        rank = max(len(x.shape) for x in xs)
        ctx.shapes = [x.shape for x in xs]
        xs = [x if len(x.shape) == rank else x.reshape(same_rank_shape(x.shape, rank))
              for x in xs]
        y = self._combine(ctx, xs)
        if training:
            ctx.xs, ctx.y = xs, y
        return y

    def _fold(self, ctx, xs, op):
        """``op`` applied left to right over the inputs into one buffer."""
        shape = np.broadcast_shapes(*(x.shape for x in xs))
        y = ctx.buffer("y", shape)
        op(xs[0], xs[1], out=y) if len(xs) > 1 else np.copyto(y, xs[0])
        for x in xs[2:]:
            op(y, x, out=y)
        return y

    def _input_grads(self, ctx, grads, need_input_grad):
        """Each input's gradient reduced to its shape, None where not needed."""
        need = need_input_grad if isinstance(need_input_grad, (list, tuple)) else \
            [need_input_grad] * len(ctx.xs)
        out = [ops.reduce_to_shape(g, x.shape) if n and g is not None else None
               for g, x, n in zip(grads, ctx.xs, need)]
        # (an input expanded to the others' rank gets its own shape back)
        return [g if g is None or g.shape == shape else g.reshape(shape)
                for g, shape in zip(out, ctx.shapes)]


class Add(_Elementwise):
    """The sum of its inputs."""

    def _combine(self, ctx, xs):
        return self._fold(ctx, xs, ops.add)

    def backward(self, ctx, dy, need_input_grad=True):
        return self._input_grads(ctx, [dy] * len(ctx.xs), need_input_grad)


class Subtract(_Elementwise):
    """``inputs[0] - inputs[1]``."""
    min_inputs = max_inputs = 2

    def _combine(self, ctx, xs):
        return self._fold(ctx, xs, ops.subtract)

    def backward(self, ctx, dy, need_input_grad=True):
        neg = ops.axpby(-1.0, dy, out=ctx.buffer("neg", dy.shape))
        return self._input_grads(ctx, [dy, neg], need_input_grad)


class Multiply(_Elementwise):
    """The elementwise product of its inputs."""

    def _combine(self, ctx, xs):
        return self._fold(ctx, xs, ops.multiply)

    def backward(self, ctx, dy, need_input_grad=True):
        xs = ctx.xs
        grads = []
        for i in range(len(xs)):
            g = ctx.buffer(("d", i), dy.shape)
            others = [x for j, x in enumerate(xs) if j != i]
            ops.multiply(dy, others[0], out=g)
            for x in others[1:]:
                ops.multiply(g, x, out=g)
            grads.append(g)
        return self._input_grads(ctx, grads, need_input_grad)


class Average(_Elementwise):
    """The mean of its inputs."""

    def _combine(self, ctx, xs):
        y = self._fold(ctx, xs, ops.add)
        return ops.axpby(1.0 / len(xs), y, out=y)

    def backward(self, ctx, dy, need_input_grad=True):
        g = ops.axpby(1.0 / len(ctx.xs), dy, out=ctx.buffer("d", dy.shape))
        return self._input_grads(ctx, [g] * len(ctx.xs), need_input_grad)


class _Extremum(_Elementwise):
    def backward(self, ctx, dy, need_input_grad=True):
        xs = [x if x.shape == dy.shape else np.ascontiguousarray(np.broadcast_to(x, dy.shape))
              for x in ctx.xs]
        grads = ops.extremum_grad(xs, ctx.y, dy,
                                  [ctx.buffer(("d", i), dy.shape) for i in range(len(xs))])
        return self._input_grads(ctx, grads, need_input_grad)


class Maximum(_Extremum):
    """The elementwise maximum of its inputs (on ties the gradient goes to
    the first)."""

    def _combine(self, ctx, xs):
        return self._fold(ctx, xs, ops.maximum)


class Minimum(_Extremum):
    """The elementwise minimum of its inputs (on ties the gradient goes to
    the first)."""

    def _combine(self, ctx, xs):
        return self._fold(ctx, xs, ops.minimum)


class Concatenate(_Merge):
    """Joins its inputs along ``axis`` (the other dimensions must agree)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate: axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def _axis(self, rank):
        # (axis 0 stacks batches: a SimCLR-style call joins two augmented
        # views of one batch, Concatenate(axis=0)([v1, v2]), as Keras allows)
        if not -rank <= self.axis < rank:
            raise ValueError(f"Concatenate {self.name!r}: axis {self.axis} is out of range "
                             f"for inputs of rank {rank}")
        return self.axis % rank

    def compute_output_shape(self, input_shape):
        label = self._check_inputs(input_shape)
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape):
            raise ValueError(f"{label}: inputs must have the same rank, got shapes "
                             f"{shapes_str(input_shape)}")
        axis = self._axis(rank)
        out = list(input_shape[0])
        if axis == 0:
            sizes = [s[0] for s in input_shape]
            out[0] = None if any(d is None for d in sizes) else sum(sizes)
        for a in range(1, rank):
            if a == axis:
                sizes = [s[a] for s in input_shape]
                out[a] = None if any(d is None for d in sizes) else sum(sizes)
                continue
            known = {s[a] for s in input_shape if s[a] is not None}
            if len(known) > 1:
                raise ValueError(f"{label}: a Concatenate layer requires inputs with matching "
                                 f"shapes except for the concatenation axis {self.axis}; got "
                                 f"inputs shapes {shapes_str(input_shape)}")
            out[a] = known.pop() if known else None
        return tuple(out)

    def forward(self, ctx, xs, training):
        axis = self._axis(xs[0].ndim)
        if axis:
            self._check_batch(xs)
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        ctx.sizes = [x.shape[axis] for x in xs]
        y = ctx.buffer("y", tuple(shape))
        # (the buffer itself, not the public op's eager-tensor view of it,
        # whose shape is a Python property every later layer reads)
        ops.concatenate(xs, axis, out=y)
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        axis = self._axis(dy.ndim)
        need = need_input_grad if isinstance(need_input_grad, (list, tuple)) else \
            [need_input_grad] * len(ctx.sizes)
        outs = [ctx.buffer(("d", i), dy.shape[:axis] + (size,) + dy.shape[axis + 1:])
                if n else None for i, (size, n) in enumerate(zip(ctx.sizes, need))]
        return ops.concatenate_grad(dy, ctx.sizes, axis, outs)

    def compute_mask(self, ctx, inputs, mask):
        if mask is None or all(m is None for m in mask) or self.__dict__.get("_from_operator"):
            return None
        axis = self._axis(inputs[0].ndim)
        if axis == inputs[0].ndim - 1:  # masks cover the steps, not the features
            return _Merge.compute_mask(self, ctx, inputs, mask)
        rank = axis + 1 if axis else next(np.ndim(m) for m in mask if m is not None)
        full = [np.ones(x.shape[:rank], bool) if m is None else m
                for x, m in zip(inputs, mask)]
        return np.concatenate(full, axis=axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """The dot product of two tensors over ``axes`` (per sample, the batch
    axis excluded), as Keras's ``Dot``; with ``normalize=True`` the inputs
    are L2-normalized along those axes first (cosine similarity).  Inputs
    of rank 2 and 3."""
    # its gradient reshapes through host copies (np.ascontiguousarray)
    runs_on_gpu = False
    min_inputs = max_inputs = 2
    supports_masking = False

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, int):
            axes = (axes, axes)
        try:
            self.axes = tuple(int(a) for a in axes)
        except (TypeError, ValueError):
            self.axes = ()
        if len(self.axes) != 2:
            raise ValueError(f"Dot {self.name!r}: axes must be an int or a pair of ints, "
                             f"got {axes!r}")
        self.normalize = bool(normalize)

    def _plan(self, shapes):
        """The contraction axes (positive) of each input, after checks."""
        label = self._check_inputs(shapes)
        ranks = [len(s) for s in shapes]
        if any(r not in (2, 3) for r in ranks):
            raise ValueError(f"{label}: inputs must have rank 2 or 3, got shapes "
                             f"{shapes_str(shapes)}")
        axes = []
        for a, r in zip(self.axes, ranks):
            if not -r <= a < r or a % r == 0:
                raise ValueError(f"{label}: axes {self.axes} are out of range or include "
                                 f"the batch axis for shapes {shapes_str(shapes)}")
            axes.append(a % r)
        da, db = shapes[0][axes[0]], shapes[1][axes[1]]
        if da is not None and db is not None and da != db:
            raise ValueError(f"{label}: dimension incompatibility {da} != {db} along axes "
                             f"{self.axes} of shapes {shapes_str(shapes)}")
        return axes

    def compute_output_shape(self, input_shape):
        axes = self._plan(input_shape)
        a, b = input_shape
        rest = [d for i, d in enumerate(a) if i not in (0, axes[0])] + \
            [d for i, d in enumerate(b) if i not in (0, axes[1])]
        return (a[0],) + (tuple(rest) if rest else (1,))

    # Each input is brought to a 3-D (batch, rows, cols) operand whose
    # product is the output: A (b, m, k) @ B (b, k, n).
    @staticmethod
    def _operand(x, axis, left):
        if x.ndim == 2:
            return x[:, None, :] if left else x[:, :, None], False
        contract_last = axis == 2
        return x, (not contract_last) if left else contract_last

    def forward(self, ctx, xs, training):
        self._check_batch(xs)
        a, b = xs
        axes = self._plan([(None,) + a.shape[1:], (None,) + b.shape[1:]])
        in_shapes = (a.shape, b.shape)
        if self.normalize:
            na = ctx.buffer("na", (a.size // a.shape[axes[0]] if a.shape[axes[0]] else 0,))
            nb = ctx.buffer("nb", (b.size // b.shape[axes[1]] if b.shape[axes[1]] else 0,))
            an, bn = ops.l2_normalize(a, axes[0], norms=na), ops.l2_normalize(b, axes[1], norms=nb)
            if training:
                ctx.raw, ctx.normed, ctx.norms = (a, b), (an, bn), (na, nb)
            a, b = an, bn
        A, ta = self._operand(a, axes[0], True)
        B, tb = self._operand(b, axes[1], False)
        prod = ops.batch_matmul(A, B, ta, tb)
        out_shape = self.compute_output_shape([(None,) + a.shape[1:], (None,) + b.shape[1:]])
        if training:
            ctx.ops_in, ctx.trans, ctx.axes, ctx.in_shapes = (A, B), (ta, tb), axes, in_shapes
        return prod.reshape((a.shape[0],) + out_shape[1:])

    def backward(self, ctx, dy, need_input_grad=True):
        (A, B), (ta, tb) = ctx.ops_in, ctx.trans
        need = need_input_grad if isinstance(need_input_grad, (list, tuple)) else \
            [need_input_grad] * 2
        dC = np.ascontiguousarray(dy.reshape(A.shape[0], A.shape[2] if ta else A.shape[1],
                                             B.shape[1] if tb else B.shape[2]))
        grads = [None, None]
        if need[0]:
            # C = op(A) op(B): d op(A) = dC op(B)^T, then undo op on A.
            dA = ops.batch_matmul(dC, B, False, not tb) if not ta else \
                ops.batch_matmul(B, dC, tb, True)
            grads[0] = dA.reshape(ctx.in_shapes[0])
        if need[1]:
            dB = ops.batch_matmul(A, dC, not ta, False) if not tb else \
                ops.batch_matmul(dC, A, True, ta)
            grads[1] = dB.reshape(ctx.in_shapes[1])
        if self.normalize:
            for i in range(2):
                if grads[i] is not None:
                    grads[i] = ops.l2_normalize_grad(ctx.raw[i], ctx.normed[i], ctx.norms[i],
                                                     grads[i], ctx.axes[i])
        return grads

    def get_config(self):
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"Functional form of :class:`{cls.__name__}`: ``{merge.__name__}" \
                    f"([a, b], ...)``."
    return merge


add = _functional(Add)
subtract = _functional(Subtract)
multiply = _functional(Multiply)
average = _functional(Average)
maximum = _functional(Maximum)
minimum = _functional(Minimum)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of :class:`Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of :class:`Dot`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
