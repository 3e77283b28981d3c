"""Keras 3's ``keras.mixed_precision``: the global dtype policy and the
loss-scaling optimizer (see pynn.dtype_policies for what pynn computes
in under a mixed policy)."""
from .dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from .optimizers import LossScaleOptimizer

Policy = DTypePolicy
set_global_policy = set_dtype_policy
global_policy = dtype_policy

__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "dtype_policy", "global_policy",
           "set_dtype_policy", "set_global_policy"]
