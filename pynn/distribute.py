"""TensorFlow's ``tf.distribute`` strategies, for programs that import pynn
as tf (the distributed training guide): ``MirroredStrategy()``, its
``scope()``, ``num_replicas_in_sync``, ``run`` and ``reduce``.

pynn trains one replica of a model per process, on the device it places
the model on (or the one a strategy names), so a strategy here holds that
one replica: ``fit`` inside its scope trains as it does outside.  Training
across several devices or machines runs one process per replica under MPI
with ``pynn.distribution.DataParallel``; a strategy given several devices
says so."""
import contextlib
import threading

from . import ops
from .backend import device as _device
from .backend import parse_device

__all__ = ["Strategy", "MirroredStrategy", "OneDeviceStrategy", "ReduceOp", "get_strategy",
           "has_strategy", "get_replica_context", "InputContext"]

_local = threading.local()


class ReduceOp:
    """How ``Strategy.reduce`` combines the replicas' values."""
    SUM = "SUM"
    MEAN = "MEAN"


class InputContext:
    """What ``distribute_datasets_from_function`` gives its function: this
    process's share of the input pipelines (all of it: one replica)."""

    def __init__(self, num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1):
        self.num_input_pipelines = num_input_pipelines
        self.input_pipeline_id = input_pipeline_id
        self.num_replicas_in_sync = num_replicas_in_sync

    def get_per_replica_batch_size(self, global_batch_size):
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(f"The global batch size ({global_batch_size}) must be divisible "
                             f"by the number of replicas ({self.num_replicas_in_sync})")
        return global_batch_size // self.num_replicas_in_sync


class Strategy:
    """One replica, on ``device`` (a name as tf.device takes it; None: where
    pynn places models)."""

    def __init__(self, device=None):
        self._device = None if device is None else parse_device(device)

    @property
    def num_replicas_in_sync(self):
        return 1

    @contextlib.contextmanager
    def scope(self):
        """Make this the current strategy (and its device, if it names one,
        the device models run on) within a ``with`` block."""
        stack = _local.__dict__.setdefault("stack", [])
        stack.append(self)
        try:
            if self._device is None:
                yield self
            else:
                with _device(self._device):
                    yield self
        finally:
            stack.pop()

    def run(self, fn, args=(), kwargs=None):
        """``fn(*args, **kwargs)`` on the replica: its result is the
        per-replica value."""
        return fn(*args, **(kwargs or {}))

    def reduce(self, reduce_op, value, axis=None):
        """The replicas' ``value`` combined by ``reduce_op`` (a ReduceOp or
        'SUM'/'MEAN'), and along ``axis`` too when given."""
        op = getattr(reduce_op, "value", reduce_op)
        if op not in (ReduceOp.SUM, ReduceOp.MEAN):
            raise ValueError(f"Strategy.reduce: reduce_op must be ReduceOp.SUM or "
                             f"ReduceOp.MEAN, got {reduce_op!r}")
        if axis is None:
            return value
        return ops.sum(value, axis=axis) if op == ReduceOp.SUM else ops.mean(value, axis=axis)

    def experimental_distribute_dataset(self, dataset, options=None):
        """The dataset, batched as given: the one replica takes whole
        global batches."""
        return dataset

    def distribute_datasets_from_function(self, dataset_fn, options=None):
        return dataset_fn(InputContext())

    def __repr__(self):
        return f"<{type(self).__name__} device={self._device or 'default'}>"


class MirroredStrategy(Strategy):
    """tf.distribute's MirroredStrategy over the devices of this process:
    pynn runs one replica per process, so at most one device."""

    def __init__(self, devices=None, cross_device_ops=None):
        devices = None if devices is None else list(devices)
        if devices is not None and len(devices) > 1:
            raise ValueError(f"MirroredStrategy: pynn trains one replica per process, got "
                             f"{len(devices)} devices {devices}; to train on several, launch "
                             f"one process per device with mpiexec and set "
                             f"pynn.distribution.DataParallel()")
        super().__init__(devices[0] if devices else None)


class OneDeviceStrategy(Strategy):
    """tf.distribute's OneDeviceStrategy: everything on ``device``."""

    def __init__(self, device):
        super().__init__(device)


_default = Strategy()


def get_strategy():
    """The strategy whose scope is open, else the default one."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else _default


def has_strategy():
    """Whether a strategy's scope is open."""
    return bool(getattr(_local, "stack", None))


def get_replica_context():
    """The current strategy (one replica: its context is itself)."""
    return get_strategy()
