"""TensorFlow's ``tf.distribute`` strategies for custom training loops
run on one process with ONE replica, as TensorFlow runs them on a machine
with one device: ``strategy.run(fn, args)`` calls ``fn`` once on the whole
batch, ``reduce`` of a per-replica value is the value (reduced along
``axis`` when given), ``experimental_distribute_dataset`` gives the
dataset back, ``num_replicas_in_sync`` is 1.  A strategy naming a device
(``OneDeviceStrategy("/gpu:0")``) runs its scope and ``run`` there
(pynn.device).  Data-parallel training across processes is
pynn.distribution's (Keras 3's API over MPI), used by ``fit``.
"""
import contextlib
import enum
import threading

import numpy as np

from . import backend

__all__ = ["Strategy", "MirroredStrategy", "OneDeviceStrategy", "ReduceOp", "InputContext",
           "ReplicaContext", "get_strategy", "has_strategy", "get_replica_context",
           "in_cross_replica_context"]


class ReduceOp(str, enum.Enum):
    """How per-replica values combine (tf.distribute.ReduceOp)."""
    SUM = "SUM"
    MEAN = "MEAN"


class InputContext:
    """What ``distribute_datasets_from_function``'s function is given."""

    def __init__(self, num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1):
        self.num_input_pipelines = num_input_pipelines
        self.input_pipeline_id = input_pipeline_id
        self.num_replicas_in_sync = num_replicas_in_sync

    def get_per_replica_batch_size(self, global_batch_size):
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(f"The `global_batch_size` {global_batch_size} is not divisible by "
                             f"`num_replicas_in_sync` {self.num_replicas_in_sync}")
        return global_batch_size // self.num_replicas_in_sync


class ReplicaContext:
    """The replica ``strategy.run``'s function runs as (the only one)."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.replica_id_in_sync_group = 0
        self.num_replicas_in_sync = 1

    def all_reduce(self, reduce_op, value, options=None):
        """The value across replicas: with one replica, the value itself
        (a SUM or MEAN of one)."""
        _op_name(reduce_op)  # (checked)
        return value

    def merge_call(self, merge_fn, args=(), kwargs=None):
        return merge_fn(self.strategy, *args, **(kwargs or {}))


class _State(threading.local):
    def __init__(self):
        self.scopes = []     # the strategies whose scope is open
        self.replica = []    # the replica contexts of running strategy.run calls


_state = _State()


def _op_name(op):
    name = op.value if isinstance(op, enum.Enum) else str(op).upper()
    if name not in ("SUM", "MEAN"):
        raise ValueError(f"tf.distribute: reduce_op must be ReduceOp.SUM or ReduceOp.MEAN, "
                         f"got {op!r}")
    return name


class Strategy:
    """A distribution strategy with one replica (see the module's doc)."""

    def __init__(self, device=None):
        self._device = None if device is None else backend.parse_device(device)

    @property
    def num_replicas_in_sync(self):
        return 1

    @contextlib.contextmanager
    def _placed(self):
        if self._device is None:
            yield
        else:
            with backend.device(self._device):
                yield

    @contextlib.contextmanager
    def scope(self):
        """Models, optimizers and variables made in the block belong to
        this strategy (and are placed on its device, if it names one)."""
        _state.scopes.append(self)
        try:
            with self._placed():
                yield self
        finally:
            _state.scopes.pop()

    def run(self, fn, args=(), kwargs=None, options=None):
        """``fn(*args, **kwargs)`` on the one replica (the whole batch)."""
        _state.replica.append(ReplicaContext(self))
        try:
            with self._placed():
                return fn(*args, **(kwargs or {}))
        finally:
            _state.replica.pop()

    def reduce(self, reduce_op, value, axis=None):
        """A per-replica value combined across the replicas: the value
        itself (one replica), summed or averaged along ``axis`` when one is
        given, as TensorFlow's."""
        from .tensor import eager
        name = _op_name(reduce_op)
        if axis is None:
            return value
        from .autodiff import value_of
        array = np.asarray(value_of(value))
        return eager(array.sum(axis=axis) if name == "SUM" else array.mean(axis=axis))

    def experimental_distribute_dataset(self, dataset, options=None):
        """The dataset: its batches go whole to the one replica."""
        return dataset

    def distribute_datasets_from_function(self, dataset_fn, options=None):
        """``dataset_fn(InputContext())``: one input pipeline, one replica."""
        return dataset_fn(InputContext())

    experimental_distribute_datasets_from_function = distribute_datasets_from_function

    def experimental_local_results(self, value):
        """The per-replica values of ``value``: a tuple of one."""
        return (value,)

    def gather(self, value, axis):
        """Per-replica values concatenated along ``axis``: the value."""
        return value

    def experimental_run_v2(self, fn, args=(), kwargs=None, options=None):
        return self.run(fn, args, kwargs, options)

    def __repr__(self):
        where = "" if self._device is None else f" device={self._device!r}"
        return f"<pynn.distribute.{type(self).__name__}{where} num_replicas_in_sync=1>"


class MirroredStrategy(Strategy):
    """tf.distribute.MirroredStrategy on one process: one replica (on the
    one device named, or where pynn places models)."""

    def __init__(self, devices=None, cross_device_ops=None):
        devices = list(devices) if devices is not None else []
        if len(devices) > 1:
            raise ValueError(f"MirroredStrategy: pynn runs one replica per process, got "
                             f"{len(devices)} devices {devices}; train across processes with "
                             f"pynn.distribution.DataParallel (Keras 3's API over MPI)")
        super().__init__(devices[0] if devices else None)


class OneDeviceStrategy(Strategy):
    """tf.distribute.OneDeviceStrategy: everything on ``device``."""

    def __init__(self, device):
        super().__init__(device)


_DEFAULT = Strategy()


def get_strategy():
    """The strategy whose scope is open, else the default strategy."""
    return _state.scopes[-1] if _state.scopes else _DEFAULT


def has_strategy():
    """Whether a strategy's scope is open."""
    return bool(_state.scopes)


def get_replica_context():
    """The replica context inside ``strategy.run`` (or outside any
    strategy's scope: the default replica); None in a strategy's scope
    outside run (the cross-replica context), as TensorFlow's."""
    if _state.replica:
        return _state.replica[-1]
    return None if _state.scopes else ReplicaContext(_DEFAULT)


def in_cross_replica_context():
    return bool(_state.scopes) and not _state.replica
