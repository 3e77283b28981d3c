"""TensorFlow's ``tf.distribute`` strategies.

One process, one replica: ``MirroredStrategy``, ``OneDeviceStrategy``
and the default strategy run ``strategy.run(fn, args)`` once on the whole
batch, ``reduce`` of a per-replica value is the value (reduced along
``axis`` when given), ``experimental_distribute_dataset`` gives the
dataset back, ``num_replicas_in_sync`` is 1.  A strategy naming a device
(``OneDeviceStrategy("/gpu:0")``) runs its scope and ``run`` there
(pynn.device).

Several processes: ``MultiWorkerMirroredStrategy`` trains one model across
the processes of an MPI job, one replica per process.  The processes are
started together by the MPI launcher, ``mpiexec -n 4 python train.py``
(the ``mpi`` extra brings mpi4py and mpiexec), not by each machine reading
TF_CONFIG: where TF_CONFIG is set, it is only checked against the job
(as many workers as processes, this process's task where MPI put it).
Started without mpiexec, or with one process, it is one replica.  Then:

- ``num_replicas_in_sync`` is the number of processes; variables made in
  its scope (or in ``run``) start from process 0's initial values (so
  every process must make them, in the same order, as in TensorFlow).
- ``model.fit`` of a model made or compiled in its scope trains as
  pynn.distribution's DataParallel: the batch size the program gives is
  the global batch, each process computes its share of every global
  batch, the gradients are summed across processes, every process
  applies the same update.  A tf.data dataset is split by its
  ``options().experimental_distribute.auto_shard_policy``: AUTO and DATA
  give each process its share of every batch; OFF takes the dataset as
  the process's own share (each process's batches together make the
  global batch: TensorFlow instead splits every batch between the
  replicas and each worker steps through all the pieces); FILE and HINT
  raise, pynn splitting datasets by their elements only.  Only process 0
  writes checkpoints and logs (ModelCheckpoint, BackupAndRestore,
  TensorBoard).
- Custom loops: ``experimental_distribute_dataset`` splits every batch as
  fit does; ``distribute_datasets_from_function`` calls its function
  with an InputContext naming this process's pipeline; ``run`` calls the
  step on this process's share; ``optimizer.apply_gradients`` inside
  ``run`` sums the gradients across processes first (so a loss scaled
  by ``tf.nn.compute_average_loss`` to the global batch gives the global
  batch's gradient); ``reduce``, ``ReplicaContext.all_reduce`` and
  ``gather`` combine values across processes.  Every process must make
  the same collective calls in the same order, as in TensorFlow.

TensorFlow's MirroredStrategy runs on one machine; started by mpiexec on
several processes, each would train its own model unaware of the others,
so pynn's refuses and names MultiWorkerMirroredStrategy.
"""
import contextlib
import enum
import json
import os
import threading
import types
import weakref

import numpy as np

from . import backend

__all__ = ["Strategy", "MirroredStrategy", "MultiWorkerMirroredStrategy", "OneDeviceStrategy",
           "ReduceOp", "InputContext", "InputOptions", "ValueContext", "ReplicaContext",
           "StrategyExtended", "DistributedDataset", "CrossDeviceOps", "NcclAllReduce",
           "HierarchicalCopyAllReduce", "ReductionToOneDevice", "cluster_resolver", "experimental",
           "get_strategy", "has_strategy", "get_replica_context", "in_cross_replica_context"]


class ReduceOp(str, enum.Enum):
    """How per-replica values combine (tf.distribute.ReduceOp)."""
    SUM = "SUM"
    MEAN = "MEAN"


class InputContext:
    """What ``distribute_datasets_from_function``'s function is given: the
    number of input pipelines (processes), this one's id, the replicas."""

    def __init__(self, num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1):
        self.num_input_pipelines = num_input_pipelines
        self.input_pipeline_id = input_pipeline_id
        self.num_replicas_in_sync = num_replicas_in_sync

    def get_per_replica_batch_size(self, global_batch_size):
        if global_batch_size % self.num_replicas_in_sync:
            raise ValueError(f"The `global_batch_size` {global_batch_size} is not divisible by "
                             f"`num_replicas_in_sync` {self.num_replicas_in_sync}")
        return global_batch_size // self.num_replicas_in_sync


class ValueContext:
    """What ``experimental_distribute_values_from_function``'s function is
    given: the replica it makes a value for."""

    def __init__(self, replica_id_in_sync_group=0, num_replicas_in_sync=1):
        self.replica_id_in_sync_group = replica_id_in_sync_group
        self.num_replicas_in_sync = num_replicas_in_sync


class InputOptions:
    """tf.distribute.InputOptions.  A replica's share of a batch is a host
    array in its own process: the placement options are kept only."""

    def __init__(self, experimental_fetch_to_device=None, experimental_replication_mode=None,
                 experimental_place_dataset_on_device=False,
                 experimental_per_replica_buffer_size=1):
        self.experimental_fetch_to_device = experimental_fetch_to_device
        self.experimental_replication_mode = experimental_replication_mode
        self.experimental_place_dataset_on_device = experimental_place_dataset_on_device
        self.experimental_per_replica_buffer_size = experimental_per_replica_buffer_size


class ReplicaContext:
    """The replica ``strategy.run``'s function runs as: this process's."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.replica_id_in_sync_group = strategy._rank
        self.num_replicas_in_sync = strategy.num_replicas_in_sync

    def all_reduce(self, reduce_op, value, options=None):
        """``value`` (a tensor or a tuple, list or dict of them) summed or
        averaged over the replicas; with one replica, the value itself."""
        name = _op_name(reduce_op)
        if self.strategy._comm is None:
            return value
        return _nest(lambda v: self.strategy._all_reduce(name, v), value)

    def all_gather(self, value, axis, options=None):
        """``value`` (or a tuple, list or dict of values) of every replica,
        concatenated along ``axis`` in replica order."""
        return self.strategy.gather(value, axis)

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


def _nest(fn, value):
    if isinstance(value, (tuple, list)):
        return type(value)(_nest(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: _nest(fn, v) for k, v in value.items()}
    return fn(value)


def _array(value):
    """A fresh C-contiguous array of ``value`` to combine across processes
    (booleans as float32, which MPI's sum takes)."""
    from .autodiff import value_of
    array = np.array(value_of(value), order="C")
    return array if array.dtype.kind in "iuf" else array.astype(np.float32)


class StrategyExtended:
    """``strategy.extended``: which process writes checkpoints and
    summaries (process 0, the chief)."""

    def __init__(self, strategy):
        self._strategy = strategy

    @property
    def should_checkpoint(self):
        return self._strategy._rank == 0

    @property
    def should_save_summary(self):
        return self._strategy._rank == 0

    def _in_multi_worker_mode(self):
        return self._strategy._comm is not None


class Strategy:
    """A distribution strategy with one replica (see the module's doc)."""

    _comm = None   # the MPI world of a multi-process strategy
    _rank = 0

    def __init__(self, device=None):
        self._device = None if device is None else backend.parse_device(device)

    @property
    def num_replicas_in_sync(self):
        return 1 if self._comm is None else self._comm.size

    @property
    def extended(self):
        return StrategyExtended(self)

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
        """``fn(*args, **kwargs)`` on this process's replica (its share of
        the batch, as a distributed dataset gives it).  Across processes,
        the batch-normalization moving statistics of the models made in
        the scope are then averaged over the replicas, as TensorFlow
        averages their updates, so every replica keeps the same."""
        _state.replica.append(ReplicaContext(self))
        try:
            with self._placed():
                result = fn(*args, **(kwargs or {}))
        finally:
            _state.replica.pop()
        if self._comm is not None:
            from .distribution.training import average_, moving_statistics
            # (in one sorted order on every process: models by creation)
            moving = {}
            for _, model in sorted(self._models.items()):
                for a in moving_statistics(model, with_synchronized=True):
                    moving.setdefault(id(a), a)  # (a model inside another: once)
            if moving:
                average_(self._comm, list(moving.values()))
        return result

    def _adopt(self, model):
        """Remember a model made or compiled in this strategy's scope."""
        if self._comm is not None and not any(m is model for m in self._models.values()):
            self._models[self._made] = model
            self._made += 1

    def _all_reduce(self, name, value):
        array = _array(value)
        shape = array.shape
        array = array.reshape(-1)
        self._comm.allreduce_(array, f"a {name} across replicas")
        if name == "MEAN":
            array = array / self._comm.size
        from .tensor import eager
        return eager(array.reshape(shape))

    def reduce(self, reduce_op, value, axis=None):
        """A per-replica value (or a tuple, list or dict of them) combined
        across the replicas: summed or averaged over them, and along
        ``axis`` too when one is given, as TensorFlow's (the MEAN along an
        axis is over every replica's elements along it)."""
        name = _op_name(reduce_op)
        if axis is None and self._comm is None:
            return value
        return _nest(lambda v: self._reduce_one(name, v, axis), value)

    def _reduce_one(self, name, value, axis):
        from .tensor import eager
        array = _array(value)
        count = self.num_replicas_in_sync
        if axis is not None:
            count = array.shape[axis]
            array = array.sum(axis=axis)
        if self._comm is not None:
            shape = array.shape
            array = np.ascontiguousarray(array).reshape(-1)
            self._comm.allreduce_(array, f"strategy.reduce ({name})")
            array = array.reshape(shape)
            if axis is not None:  # (the replicas' lengths along it may differ)
                count = self._comm.sum_values([count], "strategy.reduce's count")[0]
        if name == "MEAN":
            array = array / np.asarray(count, array.dtype if array.dtype.kind == "f"
                                       else np.float64)
        return eager(array)

    def experimental_distribute_dataset(self, dataset, options=None):
        """The dataset as this process's replica reads it: with one
        replica, the dataset; across processes, every batch split between
        them (see the module's doc for the dataset's auto_shard_policy)."""
        if self._comm is None:
            return dataset
        return DistributedDataset(dataset, self._comm.rank, self._comm.size,
                                  _splits(dataset, "experimental_distribute_dataset"))

    def distribute_datasets_from_function(self, dataset_fn, options=None):
        """``dataset_fn(InputContext)``, the context naming this process's
        input pipeline out of one per process: the dataset it returns is
        this replica's (its batches are per-replica batches)."""
        size = self.num_replicas_in_sync
        dataset = dataset_fn(InputContext(size, self._rank, size))
        if self._comm is None:
            return dataset
        return DistributedDataset(dataset, self._rank, size, split=False)

    experimental_distribute_datasets_from_function = distribute_datasets_from_function

    def experimental_distribute_values_from_function(self, value_fn):
        """``value_fn(ValueContext)`` for this process's replica."""
        return value_fn(ValueContext(self._rank, self.num_replicas_in_sync))

    def experimental_local_results(self, value):
        """The per-replica values of ``value`` this process holds: a tuple
        of one (its own replica's)."""
        return (value,)

    def gather(self, value, axis):
        """Per-replica values (or a tuple, list or dict of them)
        concatenated along ``axis`` in replica order; with one replica,
        the value."""
        if self._comm is None:
            return value
        from .tensor import eager

        def one(v):
            array = _array(v)
            if array.ndim == 0:
                raise ValueError("strategy.gather: a scalar has no axis to concatenate along; "
                                 "give each replica's value at least one axis")
            moved = np.moveaxis(array, axis, 0)
            out = self._comm.gather_rows(moved, "strategy.gather")
            return eager(np.ascontiguousarray(np.moveaxis(out, 0, axis)))
        return _nest(one, value)

    def __deepcopy__(self, memo):
        # one per job, as TensorFlow's: a copied model (or metric) shares it
        return self

    def experimental_run_v2(self, fn, args=(), kwargs=None, options=None):
        return self.run(fn, args, kwargs, options)

    def _fit_distribution(self, data):
        """The pynn.distribution to train ``data`` under in fit/evaluate:
        None for one replica."""
        if self._comm is None:
            return None
        from .distribution import DataParallel
        split = False if isinstance(data, DistributedDataset) else _splits(data, "fit")
        return DataParallel(auto_shard_dataset=split)

    def __repr__(self):
        where = "" if self._device is None else f" device={self._device!r}"
        return (f"<pynn.distribute.{type(self).__name__}{where} "
                f"num_replicas_in_sync={self.num_replicas_in_sync}>")


def _splits(dataset, caller):
    """Whether a multi-process strategy splits ``dataset``'s batches
    between the processes, by its auto_shard_policy."""
    options = getattr(dataset, "options", None)
    if not callable(options):
        return True
    from .utils.dataset import AutoShardPolicy
    policy = options().experimental_distribute.auto_shard_policy
    if policy in (AutoShardPolicy.FILE, AutoShardPolicy.HINT):
        raise ValueError(f"{caller}: auto_shard_policy {policy.name} is not supported: pynn "
                         f"splits a dataset between the processes by its elements (DATA, or "
                         f"AUTO), or leaves each process its own dataset (OFF)")
    return policy != AutoShardPolicy.OFF


class DistributedDataset:
    """A dataset as one process of a multi-process strategy reads it:
    every batch cut to this process's rows (the same rows fit gives it:
    ``[n * rank // size, n * (rank + 1) // size)`` of a batch of n), or,
    with ``split=False``, the dataset's own batches (already this
    process's).  Iterating gives eager tensors, as a Dataset does."""

    def __init__(self, dataset, rank, size, split=True):
        self._dataset = dataset
        self._rank, self._size = rank, size
        self._split = split

    def _share(self, element):
        from .utils.dataset import _map_structure

        def cut(a):
            a = np.asarray(a)
            if a.ndim == 0:
                raise ValueError("experimental_distribute_dataset: the dataset's elements must "
                                 "be batches (call .batch(global_batch_size) on it); got a "
                                 "scalar")
            n = a.shape[0]
            return a[n * self._rank // self._size:n * (self._rank + 1) // self._size]
        return _map_structure(cut, element)

    def __iter__(self):
        from .tensor import eager
        elements = getattr(self._dataset, "_elements", None)
        for element in (elements() if elements is not None else iter(self._dataset)):
            yield eager(self._share(element) if self._split else element)

    def __len__(self):
        return len(self._dataset)

    def cardinality(self):
        return self._dataset.cardinality()

    @property
    def element_spec(self):
        return self._dataset.element_spec


class CrossDeviceOps:
    """How MirroredStrategy combines the replicas' values on one machine
    (tf.distribute.CrossDeviceOps).  pynn's MirroredStrategy has one
    replica, so there is nothing to combine: a value reduced is itself."""

    def reduce(self, reduce_op, per_replica_value, destinations=None, options=None):
        _op_name(reduce_op)
        return per_replica_value

    def batch_reduce(self, reduce_op, value_destination_pairs, options=None):
        _op_name(reduce_op)
        return [value for value, _ in value_destination_pairs]


class NcclAllReduce(CrossDeviceOps):
    """tf.distribute.NcclAllReduce (see CrossDeviceOps)."""

    def __init__(self, num_packs=1):
        self.num_packs = num_packs


class HierarchicalCopyAllReduce(CrossDeviceOps):
    """tf.distribute.HierarchicalCopyAllReduce (see CrossDeviceOps)."""

    def __init__(self, num_packs=1):
        self.num_packs = num_packs


class ReductionToOneDevice(CrossDeviceOps):
    """tf.distribute.ReductionToOneDevice (see CrossDeviceOps)."""

    def __init__(self, reduce_to_device=None, accumulation_fn=None):
        self.reduce_to_device = reduce_to_device
        self.accumulation_fn = accumulation_fn


class MirroredStrategy(Strategy):
    """tf.distribute.MirroredStrategy on one process: one replica (on the
    one device named, or where pynn places models).  Refused in a job of
    several MPI processes (see the module's doc)."""

    def __init__(self, devices=None, cross_device_ops=None):
        who = type(self).__name__
        if cross_device_ops is not None and not isinstance(cross_device_ops, CrossDeviceOps):
            raise TypeError(f"{who}: cross_device_ops must be a "
                            f"tf.distribute.CrossDeviceOps (NcclAllReduce, "
                            f"HierarchicalCopyAllReduce, ReductionToOneDevice), got "
                            f"{type(cross_device_ops).__name__}")
        self.cross_device_ops = cross_device_ops
        devices = list(devices) if devices is not None else []
        if len(devices) > 1:
            raise ValueError(f"{who}: pynn runs one replica per process, got "
                             f"{len(devices)} devices {devices}; train across processes with "
                             f"tf.distribute.MultiWorkerMirroredStrategy under mpiexec")
        processes = _launched_processes()
        if processes > 1:
            raise ValueError(f"{who} trains on one machine, but mpiexec started "
                             f"{processes} processes: each would train its own model apart "
                             f"from the others; use tf.distribute.MultiWorkerMirroredStrategy "
                             f"to train one model across them")
        super().__init__(devices[0] if devices else None)


class CentralStorageStrategy(MirroredStrategy):
    """tf.distribute.experimental.CentralStorageStrategy: the variables
    kept on one device, the computation mirrored on the machine's others.
    On one process pynn's one replica computes and its variables stay in
    host memory, as MirroredStrategy's (refused under mpiexec likewise)."""

    def __init__(self, compute_devices=None, parameter_device=None):
        super().__init__(devices=compute_devices)
        self.parameter_device = parameter_device


class OneDeviceStrategy(Strategy):
    """tf.distribute.OneDeviceStrategy: everything on ``device``."""

    def __init__(self, device):
        super().__init__(device)


_LAUNCHERS = (("PMI_SIZE", "PMI_RANK"), ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
              ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"))


def _launched_processes():
    """How many processes the MPI launcher started this one with (1
    without a launcher), from the variables MPICH's, Intel MPI's, Open
    MPI's and MVAPICH's launchers set: a one-process program never starts
    MPI."""
    for size, _ in _LAUNCHERS:
        if os.environ.get(size, "").isdigit():
            return int(os.environ[size])
    return 1


def _launched_rank():
    """This process's rank as the MPI launcher set it, or None."""
    for _, rank in _LAUNCHERS:
        if os.environ.get(rank, "").isdigit():
            return int(os.environ[rank])
    return None


# ------------------------------------------------------------- multi-worker

class CommunicationImplementation(enum.Enum):
    """tf.distribute.experimental.CommunicationImplementation.  pynn's
    collectives all run over MPI, whichever is asked for."""
    AUTO = "AUTO"
    RING = "RING"
    NCCL = "NCCL"


class CommunicationOptions:
    """tf.distribute.experimental.CommunicationOptions: ``timeout_seconds``
    bounds every wait for the other processes (pynn's PYNN_MPI_TIMEOUT);
    MPI decides how values are packed and carried (``bytes_per_pack``,
    ``implementation`` are kept only)."""

    def __init__(self, bytes_per_pack=0, timeout_seconds=None,
                 implementation=CommunicationImplementation.AUTO):
        if bytes_per_pack < 0:
            raise ValueError(f"CommunicationOptions: bytes_per_pack must be >= 0, got "
                             f"{bytes_per_pack}")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"CommunicationOptions: timeout_seconds must be positive, got "
                             f"{timeout_seconds}")
        self.bytes_per_pack = bytes_per_pack
        self.timeout_seconds = timeout_seconds
        self.implementation = CommunicationImplementation(
            implementation.value if isinstance(implementation, enum.Enum)
            else str(implementation).upper())


class ClusterSpec:
    """tf.train.ClusterSpec over a ``{"job": [addresses]}`` dict."""

    def __init__(self, cluster):
        self._cluster = {job: list(tasks) for job, tasks in dict(cluster or {}).items()}

    def as_dict(self):
        return {job: list(tasks) for job, tasks in self._cluster.items()}

    @property
    def jobs(self):
        return list(self._cluster)

    def num_tasks(self, job_name):
        if job_name not in self._cluster:
            raise ValueError(f"ClusterSpec: no job {job_name!r} (jobs: {self.jobs})")
        return len(self._cluster[job_name])

    def __bool__(self):
        return bool(self._cluster)


class TFConfigClusterResolver:
    """tf.distribute.cluster_resolver.TFConfigClusterResolver: the cluster
    and this process's task as the TF_CONFIG environment variable (JSON)
    gives them; where TF_CONFIG names no cluster and mpiexec started
    several processes, this one is worker ``rank`` (so a program asking whether
    ``task_id == 0`` finds its chief).  A MultiWorkerMirroredStrategy sets
    ``task_type`` and ``task_id`` to this process's place in the job."""

    def __init__(self, task_type=None, task_id=None, rpc_layer=None, environment=None):
        text = os.environ.get("TF_CONFIG") or "{}"
        try:
            config = json.loads(text)
        except ValueError as e:
            raise ValueError(f"TF_CONFIG is not JSON ({e}): {text[:200]!r}") from None
        task = config.get("task") or {}
        self._cluster = ClusterSpec(config.get("cluster"))
        self.task_type = task_type if task_type is not None else task.get("type")
        index = task_id if task_id is not None else task.get("index")
        self.task_id = None if index is None else int(index)
        if not self._cluster and self.task_type is None and self.task_id is None and \
                _launched_processes() > 1:
            self.task_type, self.task_id = "worker", _launched_rank()
        self.rpc_layer = rpc_layer if rpc_layer is not None else config.get("rpc_layer")
        self.environment = environment if environment is not None else \
            config.get("environment", "")

    def cluster_spec(self):
        return self._cluster

    def num_accelerators(self, task_type=None, task_id=None, config_proto=None):
        return {}

    def master(self, task_type=None, task_id=None, rpc_layer=None):
        return ""


def _place_in_cluster(resolver, size, rank):
    """This process's (task_type, task_id), checked against the cluster
    TF_CONFIG (or the resolver) describes: a chief is process 0 and the
    workers follow it in order."""
    cluster = resolver.cluster_spec().as_dict()
    if not cluster:
        return "worker", rank
    extra = sorted(set(cluster) - {"chief", "worker"})
    if extra:
        raise ValueError(f"MultiWorkerMirroredStrategy: the cluster has {extra} tasks; pynn's "
                         f"every process is a worker that trains (no parameter servers or "
                         f"evaluators): list only 'chief' and 'worker'")
    chiefs, workers = len(cluster.get("chief", [])), len(cluster.get("worker", []))
    if chiefs > 1:
        raise ValueError(f"MultiWorkerMirroredStrategy: the cluster has {chiefs} chiefs; give "
                         f"it at most one")
    if chiefs + workers != size:
        raise ValueError(f"MultiWorkerMirroredStrategy: TF_CONFIG's cluster has "
                         f"{chiefs + workers} worker(s), but this job has {size} process(es); "
                         f"pynn's workers are MPI processes started together: run "
                         f"`mpiexec -n {chiefs + workers} python ...`")
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        task_type = "chief" if chiefs and rank == 0 else "worker"
        task_id = 0 if task_type == "chief" else rank - chiefs
    if task_type not in ("chief", "worker"):
        raise ValueError(f"MultiWorkerMirroredStrategy: TF_CONFIG's task type must be 'chief' "
                         f"or 'worker', got {task_type!r}")
    task_id = int(task_id or 0)
    place = task_id if task_type == "chief" else chiefs + task_id
    if place != rank:
        raise ValueError(f"MultiWorkerMirroredStrategy: TF_CONFIG's task is {task_type} "
                         f"{task_id}, which is process {place} of the job, but MPI started "
                         f"this one as process {rank}; give each process its own TF_CONFIG "
                         f"task (chief first, then the workers in order), or none")
    return task_type, task_id


class MultiWorkerMirroredStrategy(Strategy):
    """tf.distribute.MultiWorkerMirroredStrategy over the processes of an
    MPI job, one replica each (see the module's doc)."""

    def __init__(self, cluster_resolver=None, communication_options=None):
        super().__init__()
        if communication_options is None:
            communication_options = CommunicationOptions()
        if not isinstance(communication_options, CommunicationOptions):
            raise TypeError(f"MultiWorkerMirroredStrategy: communication_options must be a "
                            f"tf.distribute.experimental.CommunicationOptions, got "
                            f"{type(communication_options).__name__}")
        self._communication_options = communication_options
        resolver = TFConfigClusterResolver() if cluster_resolver is None else cluster_resolver
        size, rank = 1, 0
        if _launched_processes() > 1:
            from .distribution import mpi
            comm = mpi.world()
            size, rank = comm.size, comm.rank
        resolver.task_type, resolver.task_id = _place_in_cluster(resolver, size, rank)
        self._cluster_resolver = resolver
        if size > 1:
            if communication_options.timeout_seconds is not None:
                comm.timeout = float(communication_options.timeout_seconds)
            comm.abort_on_uncaught_exception()
            self._comm, self._rank = comm, rank
            # the models made in its scope, by the order they were made in
            self._models = weakref.WeakValueDictionary()
            self._made = 0

    @property
    def cluster_resolver(self):
        return self._cluster_resolver


class _ExperimentalMultiWorkerMirroredStrategy(MultiWorkerMirroredStrategy):
    """tf.distribute.experimental.MultiWorkerMirroredStrategy (TensorFlow
    2.0 to 2.3's signature)."""

    def __init__(self, communication=CommunicationImplementation.AUTO, cluster_resolver=None,
                 communication_options=None):
        if communication_options is None:
            communication_options = CommunicationOptions(implementation=communication)
        super().__init__(cluster_resolver, communication_options)


experimental = types.SimpleNamespace(
    MultiWorkerMirroredStrategy=_ExperimentalMultiWorkerMirroredStrategy,
    CentralStorageStrategy=CentralStorageStrategy,
    CommunicationOptions=CommunicationOptions,
    CommunicationImplementation=CommunicationImplementation,
    CollectiveCommunication=CommunicationImplementation,
    ValueContext=ValueContext)

class TPUClusterResolver:
    """tf.distribute.cluster_resolver.TPUClusterResolver.  pynn has no TPU
    to connect to, so making one raises the ValueError TensorFlow raises on
    a machine without one, and the notebooks' ``try: tpu =
    TPUClusterResolver() ... except ValueError: strategy =
    tf.distribute.get_strategy()`` takes its fallback."""

    def __init__(self, tpu=None, zone=None, project=None, job_name="worker",
                 coordinator_name=None, coordinator_address=None, credentials="default",
                 service=None, discovery_url=None):
        raise ValueError(f"TPUClusterResolver: no TPU{' ' + repr(tpu) if tpu else ''} to "
                         "connect to: pynn runs on the CPU and CUDA GPUs; use "
                         "tf.distribute.get_strategy() or MirroredStrategy()")

    @classmethod
    def connect(cls, tpu=None, zone=None, project=None):
        return cls(tpu, zone, project)


cluster_resolver = types.SimpleNamespace(TFConfigClusterResolver=TFConfigClusterResolver,
                                         TPUClusterResolver=TPUClusterResolver)


_DEFAULT = Strategy()


def get_strategy():
    """The strategy whose scope is open, else the one whose ``run`` is
    running, else the default strategy."""
    if _state.scopes:
        return _state.scopes[-1]
    return _state.replica[-1].strategy if _state.replica else _DEFAULT


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


def _replica_world():
    """The MPI world to sum gradients over: inside a multi-process
    strategy's ``run`` (apply_gradients there sums them, as TensorFlow's
    does under the strategy); else None."""
    return _state.replica[-1].strategy._comm if _state.replica else None


def _sync_initial_value(array):
    """``array``, or, for a variable made in a multi-process strategy's
    scope or ``run``, process 0's value of it: TensorFlow broadcasts
    initial values so every replica starts alike, and so does pynn."""
    strategy = _state.scopes[-1] if _state.scopes else \
        _state.replica[-1].strategy if _state.replica else None
    if strategy is None or strategy._comm is None:
        return array
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = np.array(array, order="C")
    return strategy._comm.bcast_(array, what="a new variable's initial value")


# Metrics made in a multi-process strategy's scope, and that strategy.
_metric_strategies = weakref.WeakKeyDictionary()


def _adopt_metric(metric):
    """Remember a metric made in a multi-process strategy's scope: its
    ``result()`` read outside ``run`` combines every process's state, as
    TensorFlow sums its replicas' metric variables when they are read."""
    if _state.scopes and _state.scopes[-1]._comm is not None:
        _metric_strategies[metric] = _state.scopes[-1]


def _metric_world(metric):
    """The MPI world a metric's result is summed over, or None: none for a
    metric made elsewhere, inside ``run`` (a replica reads its own), or
    inside fit and evaluate (they sum their metrics' states themselves)."""
    try:
        strategy = _metric_strategies.get(metric)
    except TypeError:  # (a metric class that made itself unhashable)
        return None
    if strategy is None or _state.replica:
        return None
    from .distribution import distribution
    return None if distribution() is not None else strategy._comm
