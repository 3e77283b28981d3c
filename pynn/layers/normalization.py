"""Normalization layers: BatchNormalization, LayerNormalization,
UnitNormalization, GroupNormalization, RMSNormalization and
SpectralNormalization."""
import numpy as np

from .. import constraints, initializers, ops, regularizers
from ..utils.seeding import rng
from .base import ChannelsFirst, Layer, Weight, shape_str
from .core import _positive_int, weight_options
from .input_spec import InputSpec
from .recurrent import Wrapper, _subcontext



def _leading(shape, trailing):
    """The number of rows of ``shape`` seen as (rows, its last ``trailing``
    axes): reshape's -1 cannot find it when those axes hold nothing."""
    return int(np.prod(shape[:len(shape) - trailing], dtype=np.int64))

class BatchNormalization(ChannelsFirst, Layer):
    """Normalizes each channel (the last axis, or ``axis``: 1 for
    channels_first images) by the batch's mean and variance while training,
    and by moving averages of them at inference, then scales by ``gamma``
    and shifts by ``beta`` (Keras's arguments and defaults).  A layer with
    ``trainable=False`` always runs in inference mode, as in Keras 3."""
    runs_on_gpu = True
    fixed_input_axes = (-1,)
    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = bool(synchronized)
        if not isinstance(axis, int):
            raise ValueError(f"BatchNormalization {self.name!r}: axis must be an int (the "
                             f"channels axis), got {axis!r}")
        self.axis = axis
        # (another axis is moved last around the kernels: ChannelsFirst)
        self._moves_channels = axis != -1
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        if self.epsilon <= 0:
            raise ValueError(f"BatchNormalization {self.name!r}: epsilon must be > 0")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def _channels_axis(self, ndim):
        axis = self.axis + ndim if self.axis < 0 else self.axis
        return axis if 0 < axis < ndim - 1 else None

    def build(self, input_shape):
        rank = len(input_shape)
        # (another axis arrives here moved last)
        if not (self.axis in (-1, rank - 1) or self._channels_axis(rank) is not None) or \
                rank < 2 or input_shape[-1] is None:
            raise ValueError(f"BatchNormalization {self.name!r}: the normalized axis must be "
                             f"one of the input's axes after the batch, of known size; got "
                             f"axis={self.axis} for input shape {shape_str(input_shape)}")
        if self._channels_axis(rank) is not None:
            self.runs_on_gpu = False  # (the moves run on the host)
            self.fixed_input_axes = (self._channels_axis(rank),)
        c = (int(input_shape[-1]),)
        self.gamma = self.add_weight("gamma", c, self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", c, self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", c, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", c,
                                               self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def _gamma_beta(self):
        return (self.gamma.value if self.gamma is not None else None,
                self.beta.value if self.beta is not None else None)

    def inference_affine(self):
        """The (scale, shift) that inference applies per channel: what a
        preceding convolution or dense layer can absorb."""
        gamma, beta = self._gamma_beta()
        scale, shift, _ = ops.batch_norm_affine(self.moving_mean.value,
                                                self.moving_variance.value, gamma, beta,
                                                self.epsilon)
        return scale, shift

    def forward(self, ctx, x, training):
        c = x.shape[-1]
        x2 = x.reshape(_leading(x.shape, 1), c)  # (-1 cannot be inferred for 0 channels)
        out = ctx.buffer("y", x2.shape)
        gamma, beta = self._gamma_beta()
        if training and self.trainable and not ctx.inference_behaviour:
            mean, var = ops.moments(x2, ctx.buffer("mean", (c,)), ctx.buffer("var", (c,)))
            ctx.comm = self._sync_comm()
            if ctx.comm is not None:
                mean, var, ctx.count = _global_moments(ctx.comm, mean, var, x2.shape[0])
            scale, shift, inv_std = ops.batch_norm_affine(mean, var, gamma, beta, self.epsilon)
            ops.moving_average(self.moving_mean.value, mean, self.momentum)
            ops.moving_average(self.moving_variance.value, var, self.momentum)
            ctx.x, ctx.mean, ctx.inv_std = x2, mean, inv_std
            ctx.training_step = True
        else:
            scale, shift = self.inference_affine()
            ctx.training_step = False
            if training:  # computing as at inference inside a training pass
                ctx.x = x2
        y = ops.channel_affine(x2, scale, shift, out=out)
        return y.reshape(x.shape)

    def backward(self, ctx, dy, need_input_grad=True):
        c = dy.shape[-1]
        dy2 = dy.reshape(_leading(dy.shape, 1), c)
        gamma, _ = self._gamma_beta()
        if not ctx.training_step:
            # Inference mode (a frozen layer, or a node called with
            # training=False): a fixed per-channel affine map, whose gamma
            # and beta still train when the layer is trainable.
            self._inference_weight_grads(ctx, dy2)
            if not need_input_grad:
                return None
            scale, _ = self.inference_affine()
            zero = ctx.buffer("zero", (c,))
            zero[...] = 0.0
            return ops.channel_affine(dy2, scale, zero,
                                      out=ctx.buffer("dx", dy2.shape)).reshape(dy.shape)
        if ctx.comm is not None:
            return self._synchronized_backward(ctx, dy2, gamma, need_input_grad, dy.shape)
        dx = ops.batch_norm_grad(
            ctx.x, dy2, ctx.mean, ctx.inv_std, gamma,
            gamma_grad=self.gamma.grad if self.gamma is not None else None,
            beta_grad=self.beta.grad if self.beta is not None else None,
            input_grad=ctx.buffer("dx", dy2.shape) if need_input_grad else False)
        return None if dx is None else dx.reshape(dy.shape)

    def _inference_weight_grads(self, ctx, dy2):
        """gamma's and beta's gradients through the moving statistics:
        sum(dy * (x - moving_mean) / sqrt(moving_variance + epsilon)) and
        sum(dy)."""
        want_gamma = self.gamma is not None and self.gamma.grad is not None
        want_beta = self.beta is not None and self.beta.grad is not None
        if not (want_gamma or want_beta):
            return
        _, _, inv_std = ops.batch_norm_affine(self.moving_mean.value, self.moving_variance.value,
                                              None, None, self.epsilon)
        sum_dy, sum_dy_xhat = ops.batch_norm_sums(ctx.x, dy2, self.moving_mean.value, inv_std)
        if want_gamma:
            np.copyto(self.gamma.grad, sum_dy_xhat)
        if want_beta:
            np.copyto(self.beta.grad, sum_dy)

    def _sync_comm(self):
        """The processes whose batches this layer normalizes together: with
        synchronized=True under a data-parallel distribution."""
        if not self.synchronized:
            return None
        from ..distribution import active
        return active()

    def _synchronized_backward(self, ctx, dy2, gamma, need_input_grad, shape):
        """Backward over the whole batch split across processes: this
        process's shares of gamma's and beta's gradients (the gradient sum
        adds them up), and an input gradient that uses the global sums."""
        sum_dy, sum_dy_xhat = ops.batch_norm_sums(ctx.x, dy2, ctx.mean, ctx.inv_std)
        if self.gamma is not None and self.gamma.grad is not None:
            self.gamma.grad[...] = sum_dy_xhat
        if self.beta is not None and self.beta.grad is not None:
            self.beta.grad[...] = sum_dy
        if not need_input_grad:
            return None
        sums = np.concatenate([sum_dy, sum_dy_xhat])
        ctx.comm.allreduce_(sums, f"BatchNormalization {self.name!r}: gradient sums")
        c = sum_dy.size
        dx = ops.batch_norm_grad_from_sums(ctx.x, dy2, ctx.mean, ctx.inv_std, gamma, sums[:c],
                                           sums[c:], ctx.count,
                                           out=ctx.buffer("dx", dy2.shape))
        return dx.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.serialize(self.moving_variance_initializer),
                **({"synchronized": True} if self.synchronized else {}),
                **weight_options(self, "beta", "gamma")}


def _global_moments(comm, mean, var, rows):
    """The mean and variance over the rows of every process, from each
    process's own: sums of counts, of x and of x squared."""
    n = float(rows)
    local = np.concatenate([[n], mean.astype(np.float64) * n,
                            (var.astype(np.float64) + mean.astype(np.float64) ** 2) * n])
    total = comm.allreduce_(local, "BatchNormalization: batch statistics")
    count, c = total[0], mean.size
    g_mean = total[1:1 + c] / count
    g_var = np.maximum(total[1 + c:] / count - g_mean ** 2, 0.0)
    return g_mean.astype(np.float32), g_var.astype(np.float32), count



def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _axes(axis, rank, layer):
    """``axis`` (an int or a list of ints, batch axis excluded) as sorted
    positive axes of an input of ``rank``."""
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    try:
        axes = sorted({int(a) % rank for a in items if -rank <= int(a) < rank})
        ok = len(axes) == len(items) and items and 0 not in axes and \
            not any(isinstance(a, bool) for a in items)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{_label(layer)}: axis {axis!r} must name distinct axes of the input "
                         f"other than the batch axis; the input has rank {rank}")
    return tuple(axes)


class SyncBatchNormalization(BatchNormalization):
    """tf.keras 2's SyncBatchNormalization: BatchNormalization with the
    statistics of the whole global batch (synchronized=True)."""

    def __init__(self, axis=-1, **kwargs):
        kwargs.setdefault("synchronized", True)
        super().__init__(axis=axis, **kwargs)


BatchNormalizationV2 = BatchNormalization   # (tf.keras 2's name of the TF2 version)


class _OverAxes(Layer):
    """A normalization over some axes of each sample: the input is seen as
    rows x cols with those axes last (transposed there in C when they are
    not already the trailing axes)."""

    def _plan(self, rank):
        axes = _axes(self.axis, rank, self)
        rest = tuple(a for a in range(rank) if a not in axes)
        perm = rest + axes
        return axes, (None if perm == tuple(range(rank)) else perm)

    def _to_rows(self, ctx, x, perm, key):
        if perm is not None:
            x = ops.transpose(x, perm, out=ctx.buffer(key, tuple(x.shape[a] for a in perm)))
        cols = int(np.prod([x.shape[a] for a in range(x.ndim - len(self._axes_), x.ndim)],
                           dtype=np.int64))
        return x.reshape(_leading(x.shape, len(self._axes_)), cols), x.shape

    def _from_rows(self, ctx, y2, moved_shape, perm, key):
        y = y2.reshape(moved_shape)
        if perm is None:
            return y
        inverse = tuple(int(i) for i in np.argsort(perm))
        return ops.transpose(y, inverse, out=ctx.buffer(key, tuple(y.shape[a] for a in inverse)))

    def build(self, input_shape):
        self._axes_, self._perm = self._plan(len(input_shape))
        for a in self._axes_:
            if input_shape[a] is None:
                raise ValueError(f"{_label(self)}: the normalized axis {a} of the input of "
                                 f"shape {shape_str(input_shape)} must have a known size")
        self.fixed_input_axes = self._axes_
        self._build_weights(tuple(int(input_shape[a]) for a in self._axes_))
        self.built = True

    def _build_weights(self, shape):
        pass

    def compute_output_shape(self, input_shape):
        self._plan(len(input_shape))
        return tuple(input_shape)


class LayerNormalization(_OverAxes):
    """Normalizes each sample over ``axis`` (the last by default) by its own
    mean and variance, then scales by ``gamma`` and shifts by ``beta``
    (Keras's arguments and defaults, epsilon 1e-3); the same in training
    and at inference."""
    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        if rms_scaling:
            raise ValueError(f"{_label(self)}: rms_scaling=True (deprecated in Keras) is not "
                             f"supported")
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise ValueError(f"{_label(self)}: axis must be an int or a list of ints, got "
                             f"{axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)
        if not self.epsilon > 0:
            raise ValueError(f"{_label(self)}: epsilon must be > 0, got {epsilon!r}")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _build_weights(self, shape):
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None

    def forward(self, ctx, x, training):
        x2, moved = self._to_rows(ctx, x, self._perm, "xt")
        rows = x2.shape[0]
        gamma = None if self.gamma is None else self.gamma.value.reshape(-1)
        beta = None if self.beta is None else self.beta.value.reshape(-1)
        y2, mean, inv_std = ops.layer_norm(
            x2, gamma, beta, self.epsilon, out=ctx.buffer("y2", x2.shape),
            mean=ctx.buffer("mean", (rows,)), inv_std=ctx.buffer("inv_std", (rows,)))
        if training:
            ctx.x2, ctx.mean, ctx.inv_std, ctx.moved = x2, mean, inv_std, moved
        return self._from_rows(ctx, y2, moved, self._perm, "y")

    def backward(self, ctx, dy, need_input_grad=True):
        dy2, _ = self._to_rows(ctx, dy, self._perm, "dyt")
        gamma = None if self.gamma is None else self.gamma.value.reshape(-1)
        g_grad = None if self.gamma is None or self.gamma.grad is None else \
            self.gamma.grad.reshape(-1)
        b_grad = None if self.beta is None or self.beta.grad is None else \
            self.beta.grad.reshape(-1)
        dx2 = ops.layer_norm_grad(ctx.x2, dy2, ctx.mean, ctx.inv_std, gamma, g_grad, b_grad,
                                  ctx.buffer("dx2", dy2.shape) if need_input_grad else False)
        if dx2 is None:
            return None
        return self._from_rows(ctx, dx2, ctx.moved, self._perm, "dx")

    def get_config(self):
        axis = self.axis if isinstance(self.axis, list) else [self.axis]
        return {**super().get_config(), "axis": axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class UnitNormalization(_OverAxes):
    """Scales each sample to unit L2 norm over ``axis`` (the last by
    default): ``x / max(||x||, 1e-12)``, as Keras 3."""
    supports_masking = True
    # Keras clamps the norm at 1e-12; l2_normalize clamps its square.
    EPSILON = 1e-24

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise ValueError(f"{_label(self)}: axis must be an int or a list of ints, got "
                             f"{axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def build(self, input_shape):
        super().build(input_shape)
        # no weights: any sizes of the same rank, as Keras's
        self.fixed_input_axes = ()

    def forward(self, ctx, x, training):
        x2, moved = self._to_rows(ctx, x, self._perm, "xt")
        norms = ctx.buffer("norms", (x2.shape[0],))
        y2 = ops.l2_normalize(x2, -1, self.EPSILON, out=ctx.buffer("y2", x2.shape), norms=norms)
        if training:
            ctx.x2, ctx.y2, ctx.norms, ctx.moved = x2, y2, norms, moved
        return self._from_rows(ctx, y2, moved, self._perm, "y")

    def backward(self, ctx, dy, need_input_grad=True):
        if not need_input_grad:
            return None
        dy2, _ = self._to_rows(ctx, dy, self._perm, "dyt")
        dx2 = ops.l2_normalize_grad(ctx.x2, ctx.y2, ctx.norms, dy2, -1, self.EPSILON,
                                    out=ctx.buffer("dx2", dy2.shape))
        return self._from_rows(ctx, dx2, ctx.moved, self._perm, "dx")

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class GroupNormalization(Layer):
    """Normalizes each sample's channels (the last axis) in ``groups``
    groups of consecutive channels, each by its mean and variance over the
    sample's positions, then scales by ``gamma`` and shifts by ``beta``
    per channel (Keras's arguments and defaults)."""
    supports_masking = True
    fixed_input_axes = (-1,)

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        # groups=-1: one group per channel (instance normalization), as Keras
        self.groups = -1 if groups == -1 else _positive_int(groups, "groups", self)
        if axis != -1:
            raise ValueError(f"{_label(self)}: only axis=-1 (channels last) is supported, got "
                             f"{axis!r}")
        self.axis = -1
        self.epsilon = float(epsilon)
        if not self.epsilon > 0:
            raise ValueError(f"{_label(self)}: epsilon must be > 0, got {epsilon!r}")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _groups_for(self, channels):
        return channels if self.groups == -1 else self.groups

    def compute_output_shape(self, input_shape):
        c = input_shape[-1] if len(input_shape) >= 2 else None
        if c is None:
            raise ValueError(f"{_label(self)}: the channels (last axis) of the input of shape "
                             f"{shape_str(input_shape)} must be known")
        groups = self._groups_for(c)
        if c < groups:
            raise ValueError(f"{_label(self)}: number of groups ({groups}) cannot be more "
                             f"than the number of channels ({c}) of the input of shape "
                             f"{shape_str(input_shape)}")
        if c % groups:
            raise ValueError(f"{_label(self)}: the number of channels ({c}) must be a multiple "
                             f"of the number of groups ({groups})")
        return tuple(input_shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        c = (int(input_shape[-1]),)
        self.gamma = self.add_weight("gamma", c, self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", c, self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.built = True

    def forward(self, ctx, x, training):
        groups = self._groups_for(x.shape[-1])
        pairs = x.shape[0] * groups
        y, mean, inv_std = ops.group_norm(
            x, groups, None if self.gamma is None else self.gamma.value,
            None if self.beta is None else self.beta.value, self.epsilon,
            out=ctx.buffer("y", x.shape), mean=ctx.buffer("mean", (pairs,)),
            inv_std=ctx.buffer("inv_std", (pairs,)))
        if training:
            ctx.x, ctx.mean, ctx.inv_std = x, mean, inv_std
        return y

    def backward(self, ctx, dy, need_input_grad=True):
        return ops.group_norm_grad(
            ctx.x, dy, ctx.mean, ctx.inv_std, self._groups_for(ctx.x.shape[-1]),
            None if self.gamma is None else self.gamma.value,
            None if self.gamma is None else self.gamma.grad,
            None if self.beta is None else self.beta.grad,
            ctx.buffer("dx", dy.shape) if need_input_grad else False)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class RMSNormalization(Layer):
    """Keras's RMSNormalization: ``x / sqrt(mean(x**2) + epsilon) * scale``,
    the mean taken over ``axis`` (an int or a list of ints, the last by
    default) of each sample; ``scale`` (ones at first) has the sizes of
    those axes.  The same in training and at inference."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise ValueError(f"{_label(self)}: axis must be an int or a list of ints, got "
                             f"{axis!r}")
        try:
            ok = float(epsilon) >= 0 and not isinstance(epsilon, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{_label(self)}: epsilon must be a number >= 0, got {epsilon!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        axes = _axes(self.axis, len(input_shape), self)
        for a in axes:
            if input_shape[a] is None:
                raise ValueError(f"{_label(self)}: the normalized axis {a} of the input of "
                                 f"shape {shape_str(input_shape)} must have a known size")
        # Keras keeps the axes it was given as a sorted list once built.
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        self._axes_ = axes
        self.fixed_input_axes = axes
        self.scale = self.add_weight("scale", tuple(int(input_shape[a]) for a in axes), "ones")
        self.built = True

    def compute_output_shape(self, input_shape):
        _axes(self.axis, len(input_shape), self)
        return tuple(input_shape)

    def call(self, inputs):
        # the scale laid along its axes of the input
        shape = [inputs.shape[a] if a in self._axes_ else 1 for a in range(1, inputs.ndim)]
        scale = ops.reshape(self.scale, tuple(shape))
        return ops.rms_normalization(inputs, scale=scale, axis=list(self._axes_),
                                     epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def _truncated_normal(shape):
    """Keras's TruncatedNormal(stddev=0.02), vector_u's initializer: normal
    draws, those beyond two standard deviations drawn again."""
    g = rng()
    values = g.normal(0.0, 0.02, shape)
    while True:
        outside = np.abs(values) > 0.04
        if not outside.any():
            return values.astype(np.float32)
        values[outside] = g.normal(0.0, 0.02, int(outside.sum()))


def _unit(x):
    """x over its Euclidean norm (a zero norm counted as 1, as Keras's
    numerical_utils.normalize)."""
    n = float(ops.norm(x))
    return ops.divide(x, n if n else 1.0)


class SpectralNormalization(Wrapper):
    """Keras's SpectralNormalization: wraps a layer with a ``kernel`` (or
    ``embeddings``) and, at each training call, divides that kernel by its
    spectral norm, estimated by ``power_iterations`` steps of the power
    method from the vector ``vector_u`` (a non-trainable weight, kept
    between steps), before the layer computes with it; the kernel keeps the
    normalized value, as in Keras.  At inference it is the wrapped layer.
    Weights as Keras orders them: the kernel, ``vector_u``, then the
    wrapped layer's others."""

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(
                power_iterations, (int, np.integer)) or power_iterations <= 0:
            raise ValueError(f"{_label(self)}: power_iterations should be an integer greater "
                             f"than zero, got {power_iterations!r}")
        self.power_iterations = int(power_iterations)

    @property
    def supports_masking(self):
        return self.layer.supports_masking

    @property
    def fixed_input_axes(self):
        return self.layer.fixed_input_axes

    @property
    def input_dtype(self):
        return self.layer.input_dtype

    def build(self, input_shape):
        super().build(input_shape)
        if isinstance(input_shape, list):
            raise ValueError(f"{_label(self)}: expected one input, got "
                             f"{len(input_shape)}")
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        kernel = getattr(self.layer, "kernel", None)
        if not isinstance(kernel, Weight):
            kernel = getattr(self.layer, "embeddings", None)
        if not isinstance(kernel, Weight):
            raise ValueError(f"{_label(self)}: the wrapped {type(self.layer).__name__} layer "
                             f"{self.layer.name!r} has no attribute 'kernel' nor 'embeddings'")
        self.kernel = kernel
        # Keras tracks the kernel as the wrapper's own variable too: it
        # comes first in the weights, before vector_u.
        self._weights.append(kernel)
        self.vector_u = self.add_weight("vector_u", (1, kernel.shape[-1]), _truncated_normal,
                                        trainable=False)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def _check_input(self, shape):
        self.layer._check_input(shape)

    def normalized_weights(self):
        """(vector_u, kernel): the power method's new vector and the kernel
        divided by its estimated spectral norm (Keras's method)."""
        shape = self.kernel.shape
        w = ops.reshape(self.kernel.numpy(), (-1, shape[-1]))
        u = self.vector_u.numpy()
        for _ in range(self.power_iterations):
            v = _unit(ops.matmul(u, ops.transpose(w)))
            u = _unit(ops.matmul(v, w))
        sigma = ops.matmul(ops.matmul(v, w), ops.transpose(u))
        return u, ops.reshape(ops.divide(w, sigma), shape)

    def forward(self, ctx, x, training):
        if training and not ctx.inference_behaviour and np.any(self.kernel.numpy() != 0):
            u, kernel = self.normalized_weights()
            self.vector_u.assign(u)
            self.kernel.assign(kernel)
        inner = _subcontext(ctx, "inner_ctx")
        return self.layer.forward(inner, x, training)

    def backward(self, ctx, dy, need_input_grad=True):
        return self.layer.backward(ctx.inner_ctx, dy, need_input_grad)

    def compute_mask(self, ctx, inputs, mask):
        return self.layer.compute_mask(_subcontext(ctx, "inner_ctx"), inputs, mask)

    def _output_has_mask(self, input_masks):
        return self.layer._output_has_mask(input_masks)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
