"""Keras 3's distribution API over MPI: data-parallel training across
processes and machines.

Launch the same script on N processes (``mpiexec -n 4 python train.py``)
and set a distribution before ``fit``::

    import pynn as keras
    keras.distribution.initialize()
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=256, epochs=5)     # 256 is the global batch

Every process then trains one model: rank 0's initial weights are
broadcast to all, each process takes its share of every global batch
(arrays, generators and PyDatasets alike), gradients are summed across
processes in buckets as the backward pass finishes each group of layers,
and every process applies the same update.  The result is what one process
would get training on the whole batches, up to the order of floating-point
sums.  Only rank 0 prints and writes files; the History every rank gets is
the global one.

Needs the ``mpi`` extra (``pip install 'pynn[mpi]'``: mpi4py and the
``mpich`` wheel, which brings ``mpiexec``).
"""
import collections.abc
import contextlib
import os
import re

import numpy as np

__all__ = ["initialize", "list_devices", "get_device_count", "DeviceMesh", "TensorLayout",
           "LayoutMap", "Distribution", "DataParallel", "ModelParallel", "distribution",
           "set_distribution"]

_current = None


def _comm():
    from . import mpi
    return mpi.world()


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Join the processes of this job.  The rank and size come from MPI
    (the script runs under ``mpiexec``); ``num_processes`` and
    ``process_id`` (or Keras's ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
    ``KERAS_DISTRIBUTION_PROCESS_ID``), when given, are checked against
    them.  ``job_addresses`` is accepted for Keras's signature: MPI's
    launcher (a host file) decides where processes run."""
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in os.environ:
        process_id = int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    comm = _comm()
    if num_processes is not None and int(num_processes) != comm.size:
        raise ValueError(f"distribution.initialize: num_processes={num_processes}, but MPI "
                         f"started {comm.size} process(es); launch with "
                         f"`mpiexec -n {num_processes} python ...`")
    if process_id is not None and int(process_id) != comm.rank:
        raise ValueError(f"distribution.initialize: process_id={process_id}, but MPI gave this "
                         f"process rank {comm.rank}")
    comm.abort_on_uncaught_exception()
    return comm


def list_devices(device_type=None):
    """One device per process of the job: ``['cpu:0', 'cpu:1', ...]``."""
    if device_type not in (None, "cpu", "CPU"):
        raise ValueError(f"list_devices: pynn's distributed training runs on CPU processes; "
                         f"got device_type={device_type!r}")
    return [f"cpu:{i}" for i in range(_comm().size)]


def get_device_count(device_type=None):
    return len(list_devices(device_type))


class DeviceMesh:
    """A named grid of devices (Keras's DeviceMesh); data parallelism uses
    a 1-D mesh of all processes."""

    def __init__(self, shape, axis_names, devices=None):
        shape = tuple(int(d) for d in shape)
        if not shape:
            raise ValueError("DeviceMesh: shape must not be empty")
        if len(axis_names) != len(shape):
            raise ValueError(f"DeviceMesh: {len(axis_names)} axis names for a "
                             f"{len(shape)}-D shape")
        if devices is None:
            devices = list_devices()
        devices = np.array(devices)
        if devices.size != int(np.prod(shape)):
            raise ValueError(f"DeviceMesh: {devices.size} devices cannot fill shape {shape}")
        self._shape = shape
        self._axis_names = list(axis_names)
        self._devices = devices.reshape(shape)

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    def __repr__(self):
        return f"<DeviceMesh shape={self.shape}, axis_names={self.axis_names}>"


class TensorLayout:
    """How a tensor's axes map onto a mesh's axes (None: replicated)."""

    def __init__(self, axes, device_mesh=None):
        self.axes = tuple(axes)
        self.device_mesh = device_mesh

    def __repr__(self):
        return f"<TensorLayout axes={self.axes}>"


class Distribution:
    """Base of the distribution strategies."""

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self.auto_shard_dataset = bool(auto_shard_dataset)
        comm = _comm()
        self._num_processes, self._process_id = comm.size, comm.rank

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._batch_dim_name

    @property
    def num_processes(self):
        return self._num_processes

    @property
    def num_model_replicas(self):
        return int(self._device_mesh.devices.size)

    @property
    def num_data_shards(self):
        return min(self.num_model_replicas, self.num_processes)

    @property
    def data_shard_id(self):
        return self._process_id

    @contextlib.contextmanager
    def scope(self):
        """Make this distribution current within a ``with`` block."""
        previous = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def _one_device_per_process(self, name, what):
        if self.num_model_replicas != self.num_processes:
            raise ValueError(f"{name}: pynn runs one {what} per process; the "
                             f"mesh has {self.num_model_replicas} devices for "
                             f"{self.num_processes} process(es)")

    def get_data_layout(self, data_shape):
        """Inputs split along their batch axis, over the mesh's batch axis."""
        return TensorLayout([self.batch_dim_name] + [None] * (len(data_shape) - 1),
                            self.device_mesh)

    def __repr__(self):
        return f"<{type(self).__name__} device_mesh={self.device_mesh}>"


class DataParallel(Distribution):
    """Data parallelism: a replica of the model per process, each batch
    split across them (Keras's DataParallel)."""

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh is not None and devices is not None:
            raise ValueError("DataParallel: give device_mesh or devices, not both")
        if device_mesh is None:
            devices = list_devices() if devices is None else list(devices)
            device_mesh = DeviceMesh((len(devices),), ["batch"], devices)
        elif not isinstance(device_mesh, DeviceMesh):
            raise ValueError(f"DataParallel: device_mesh must be a DeviceMesh, got "
                             f"{type(device_mesh).__name__}")
        super().__init__(device_mesh, device_mesh.axis_names[0], auto_shard_dataset)
        self._one_device_per_process("DataParallel", "replica")

    def get_variable_layout(self, variable):
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return None


class LayoutMap(collections.abc.MutableMapping):
    """Keras's LayoutMap: TensorLayouts by variable or tensor path, the keys
    regular expressions (``"dense.*kernel"``); a path matches its own key,
    else the one key that ``re.search`` finds in it (two are an error).
    A tuple assigned becomes a TensorLayout on the map's mesh."""

    def __init__(self, device_mesh):
        self._layout_map = collections.OrderedDict()
        self._device_mesh = device_mesh

    def __getitem__(self, key):
        if key in self._layout_map:
            return self._layout_map[key]
        matching = [k for k in self._layout_map if re.search(k, key)]
        if len(matching) > 1:
            raise ValueError(f"Path '{key}' matches multiple layout specification keys: "
                             f"{matching}. Please make sure each tensor/variable path only "
                             f"matches at most one layout specification key in the LayoutMap.")
        return self._layout_map[matching[0]] if matching else None

    def __setitem__(self, key, layout):
        if key in self._layout_map:
            raise ValueError(f"{key} already exist in the LayoutMap with value "
                             f"{self._layout_map[key]}. Please make sure to not use "
                             f"duplicated keys.")
        if isinstance(layout, tuple):
            layout = TensorLayout(axes=layout, device_mesh=None)
        if not isinstance(layout, TensorLayout):
            raise ValueError(f"{layout} should be a TensorLayout type, got {type(layout)}")
        if layout.device_mesh is None:
            layout.device_mesh = self._device_mesh
        for axis in layout.axes:
            if axis is not None and axis not in self._device_mesh.axis_names:
                raise ValueError(f"LayoutMap: the layout of {key!r} names the axis {axis!r}, "
                                 f"which the mesh {self._device_mesh.axis_names} does not have")
        self._layout_map[key] = layout

    def __delitem__(self, key):
        return self._layout_map.pop(key)

    def __len__(self):
        return len(self._layout_map)

    def __iter__(self):
        return iter(self._layout_map)

    @property
    def device_mesh(self):
        return self._device_mesh


class ModelParallel(Distribution):
    """Keras's ModelParallel: variables laid out over a mesh by a
    LayoutMap, batches split along ``batch_dim_name``.  pynn keeps every
    variable whole in every process, so each process is a full replica
    and the job trains as data parallelism over all its processes: the
    updates are those of the sharded computation (each global batch's
    gradient, summed over the processes); the memory is not divided.  The
    layouts are kept and reported (get_variable_layout) as Keras reports
    them."""

    def __init__(self, *, layout_map=None, batch_dim_name=None, auto_shard_dataset=True,
                 **kwargs):
        device_mesh = kwargs.pop("device_mesh", None)
        if kwargs:
            raise TypeError(f"ModelParallel: unexpected argument(s) {sorted(kwargs)}")
        if layout_map is None:
            if device_mesh is None:
                raise ValueError("ModelParallel: give a layout_map (a LayoutMap on a "
                                 "DeviceMesh)")
            layout_map = LayoutMap(device_mesh)
        if not isinstance(layout_map, LayoutMap):
            raise ValueError(f"ModelParallel: layout_map must be a LayoutMap, got "
                             f"{type(layout_map).__name__}")
        mesh = layout_map.device_mesh
        batch_dim_name = batch_dim_name or mesh.axis_names[0]
        if batch_dim_name not in mesh.axis_names:
            raise ValueError(f"ModelParallel: batch_dim_name {batch_dim_name!r} is not an axis "
                             f"of the mesh {mesh.axis_names}")
        super().__init__(mesh, batch_dim_name, auto_shard_dataset)
        self._layout_map = layout_map
        self._one_device_per_process("ModelParallel", "device")

    def get_variable_layout(self, variable):
        layout = self._layout_map[variable.path]
        if layout is not None:
            return layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return self._layout_map[path]


def distribution():
    """The distribution set with set_distribution, or None."""
    return _current


def set_distribution(value):
    """Make ``value`` (a Distribution, or None) the one fit, evaluate and
    predict use."""
    global _current
    if value is not None and not isinstance(value, Distribution):
        raise ValueError(f"set_distribution: expected a Distribution or None, got "
                         f"{type(value).__name__}")
    _current = value


def active():
    """The MPI communicator to train across, when a distribution over more
    than one process is set (ModelParallel trains as data parallelism:
    see its docstring); else None."""
    dist = _current
    if not isinstance(dist, (DataParallel, ModelParallel)) or dist.num_processes < 2:
        return None
    return _comm()
