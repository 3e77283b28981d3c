"""Keras 3's ``keras.mixed_precision``: the global dtype policy and the
loss-scaling optimizer (see pynn.dtype_policies for what pynn computes
in under a mixed policy); and ``mixed_precision.experimental``'s names of
TensorFlow 2.1 to 2.3, which programs of that time call."""
import types

from .dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from .optimizers import LossScaleOptimizer

Policy = DTypePolicy
set_global_policy = set_dtype_policy
global_policy = dtype_policy


def _experimental_policy(name, loss_scale="auto"):
    """TensorFlow 2.1's ``mixed_precision.experimental.Policy(name,
    loss_scale='auto')``: the policy ``name``.  Its 'auto' (or 'dynamic')
    loss scale is what compile gives a mixed_float16 model now, a dynamic
    LossScaleOptimizer; pynn has no other."""
    if loss_scale not in ("auto", "dynamic"):
        raise ValueError(f"mixed_precision.experimental.Policy: pynn scales the loss of a "
                         f"mixed_float16 model dynamically; loss_scale must be 'auto' or "
                         f"'dynamic', got {loss_scale!r}")
    return DTypePolicy(name)


experimental = types.SimpleNamespace(Policy=_experimental_policy, set_policy=set_dtype_policy,
                                     global_policy=dtype_policy)

__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "dtype_policy", "global_policy",
           "set_dtype_policy", "set_global_policy"]
