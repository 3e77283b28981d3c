"""BatchNormalization."""
import numpy as np

from .. import constraints, initializers, ops, regularizers
from .base import Layer, shape_str
from .core import weight_options


class BatchNormalization(Layer):
    """Normalizes each channel (the last axis) by the batch's mean and
    variance while training, and by moving averages of them at inference,
    then scales by ``gamma`` and shifts by ``beta`` (Keras's arguments and
    defaults).  A layer with ``trainable=False`` always runs in inference
    mode, as in Keras 3."""
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

    def build(self, input_shape):
        rank = len(input_shape)
        if self.axis not in (-1, rank - 1) or rank < 2 or input_shape[-1] is None:
            raise ValueError(f"BatchNormalization {self.name!r}: only the last axis (the "
                             f"channels, known) can be normalized; got axis={self.axis} for "
                             f"input shape {shape_str(input_shape)}")
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
        x2 = x.reshape(-1, c)
        out = ctx.buffer("y", x2.shape)
        gamma, beta = self._gamma_beta()
        if training and self.trainable:
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
        y = ops.channel_affine(x2, scale, shift, out=out)
        return y.reshape(x.shape)

    def backward(self, ctx, dy, need_input_grad=True):
        c = dy.shape[-1]
        dy2 = dy.reshape(-1, c)
        gamma, _ = self._gamma_beta()
        if not ctx.training_step:
            # Inference mode (a frozen layer): a fixed per-channel scale.
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
