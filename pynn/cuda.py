"""Arrays on an NVIDIA GPU, for pynn's CUDA kernels (the optional pynn._cuda
extension).

``DeviceArray`` is a C-contiguous float32 (or int32, int64, uint8) array in
GPU memory.  ``pynn.ops`` functions take device arrays wherever they take
NumPy arrays and return device arrays for them, computing with pynn's own
CUDA kernels; mixing host and device arrays in one call is a TypeError.
Models use this through placement (``pynn.device``), not directly.

    import pynn
    if pynn.cuda.is_available():
        a = pynn.cuda.to_device(np.random.rand(512, 784).astype("float32"))
        w = pynn.cuda.to_device(np.random.rand(784, 128).astype("float32"))
        y = pynn.ops.matmul(a, w)          # a DeviceArray
        print(y.to_numpy().sum())

Importing this module never fails and never touches the GPU; the first
question about the GPU (``is_available()``, ``device_count()``, an array)
loads the extension and asks the driver once.  ``unavailable_reason()``
says why no GPU can be used.
"""
import threading

import numpy as np

__all__ = ["DeviceArray", "is_available", "unavailable_reason", "device_count", "device_name",
           "to_device", "empty", "zeros", "synchronize", "matmul", "CudaError"]

# (float64 holds the kernels' double sums; to_device makes float64 data float32)
DTYPES = tuple(np.dtype(t) for t in (np.float32, np.int32, np.int64, np.uint8, np.float64))

_lock = threading.Lock()
_state = {"checked": False, "module": None, "reason": None}


class CudaError(RuntimeError):
    """A GPU operation failed, or no GPU can be used."""


def _load():
    """The pynn._cuda module when a GPU can be used, else None (and the
    reason is kept)."""
    if _state["checked"]:
        return _state["module"]
    with _lock:
        if _state["checked"]:
            return _state["module"]
        try:
            from . import _cuda
        except ImportError as e:
            _state["reason"] = (f"pynn was built without its CUDA extension (pynn._cuda: {e}); "
                                f"rebuild with nvcc on PATH (PYNN_CUDA=1 makes its absence "
                                f"an error)")
        else:
            count, why = _cuda.probe()
            if count > 0:
                _state["module"] = _cuda
            else:
                _state["reason"] = f"no usable NVIDIA GPU ({why})"
        _state["checked"] = True
    return _state["module"]


def runtime():
    """The CUDA bridge, or CudaError saying why there is none."""
    module = _load()
    if module is None:
        raise CudaError(f"pynn.cuda: {_state['reason']}")
    return module


def is_available():
    """True when the CUDA extension is built and a GPU with a driver is
    present."""
    return _load() is not None


def unavailable_reason():
    """Why no GPU can be used (None when one can)."""
    _load()
    return _state["reason"]


def device_count():
    return runtime().probe()[0] if is_available() else 0


def device_name(device=0):
    """The GPU's name, compute capability and multiprocessors, e.g.
    'NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)'."""
    name, (major, minor), sms = runtime().device_properties(int(device))
    return f"{name} (sm_{major}{minor}, {sms} SMs)"


def synchronize(device=0):
    """Wait until the GPU has finished everything queued on it (raises the
    first error a kernel met)."""
    runtime().synchronize(int(device))


class _MatmulFlags:
    """``pynn.cuda.matmul.allow_tf32``: let float32 products (matmul, Dense)
    use the TF32 tensor cores (about 1e-3 relative error), as
    ``torch.backends.cuda.matmul.allow_tf32`` does.  False by default."""
    allow_tf32 = False


matmul = _MatmulFlags()


def _current_device():
    from .backend import current_gpu
    return current_gpu()


def _check_dtype(dtype, who):
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise TypeError(f"{who}: device arrays hold float32, int32, int64, uint8 or float64, "
                        f"got {dtype}")
    return dtype


def _shape_of(shape, who):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{who}: negative dimension in shape {shape}")
    return shape


def empty(shape, dtype=np.float32, device=None):
    """An uninitialized device array."""
    shape = _shape_of(shape, "pynn.cuda.empty")
    dtype = _check_dtype(dtype, "pynn.cuda.empty")
    device = _current_device() if device is None else int(device)
    size = int(np.prod(shape, dtype=np.int64))
    buf = runtime().DeviceBuffer(size * dtype.itemsize, device)
    return DeviceArray._view(buf, 0, shape, dtype)


def zeros(shape, dtype=np.float32, device=None):
    a = empty(shape, dtype, device)
    runtime().memset(a.ptr, 0, a.nbytes, a.device)
    return a


def to_device(a, device=None, out=None):
    """A copy of the host array ``a`` on the GPU (float64 becomes float32;
    other dtypes must be float32, int32, int64 or uint8), written into
    ``out`` when given."""
    if isinstance(a, DeviceArray):
        if out is None:
            return a if device is None or int(device) == a.device else a.to(device)
        out[...] = a
        return out
    a = np.asarray(a)
    if a.dtype == np.float64 or a.dtype == np.float16:
        a = a.astype(np.float32)
    _check_dtype(a.dtype, "pynn.cuda.to_device")
    a = np.ascontiguousarray(a)
    if out is None:
        out = empty(a.shape, a.dtype, device)
    elif out.shape != a.shape or out.dtype != a.dtype:
        raise ValueError(f"pynn.cuda.to_device: out is {out.dtype} {out.shape}, the array is "
                         f"{a.dtype} {a.shape}")
    runtime().copy_to_device(out.ptr, a, out.device)
    return out


class DeviceArray:
    """A C-contiguous array in GPU memory: ``shape``, ``dtype``, ``size``,
    ``ndim``, ``device``; ``to_numpy()`` (or ``np.asarray``) copies it to
    the host, ``DeviceArray.from_numpy(a)`` to the GPU.  ``reshape``, slices
    of the first axis and unit axes added (``x[:, None]``) or dropped
    (``x[:, 0]`` on a size-1 axis) are views sharing the memory."""

    __slots__ = ("_buffer", "_offset", "shape", "dtype", "__weakref__")

    @classmethod
    def _view(cls, buffer, offset, shape, dtype):
        a = object.__new__(cls)
        a._buffer, a._offset, a.shape, a.dtype = buffer, offset, shape, dtype
        return a

    def __init__(self, *args, **kwargs):
        raise TypeError("DeviceArray: make one with pynn.cuda.to_device(array), "
                        "DeviceArray.from_numpy(array) or pynn.cuda.empty(shape)")

    @classmethod
    def from_numpy(cls, a, device=None):
        return to_device(a, device)

    @staticmethod
    def empty_like(a):
        """An uninitialized device array of a's shape and dtype, on a's GPU."""
        return empty(a.shape, a.dtype, a.device)

    # ------------------------------------------------------------ attributes

    @property
    def ptr(self):
        """The device address of the first element."""
        return self._buffer.ptr + self._offset

    @property
    def device(self):
        return self._buffer.device

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d device array")
        return self.shape[0]

    def __repr__(self):
        return f"<DeviceArray shape={self.shape} dtype={self.dtype} device=gpu:{self.device}>"

    # -------------------------------------------------------------- copies

    def to_numpy(self, out=None):
        """A host copy (into ``out`` when given); waits for the GPU."""
        if out is None:
            out = np.empty(self.shape, self.dtype)
        elif not isinstance(out, np.ndarray) or out.shape != self.shape or \
                out.dtype != self.dtype:
            raise ValueError(f"DeviceArray.to_numpy: out must be a {self.dtype} array of shape "
                             f"{self.shape}")
        runtime().copy_to_host(out, self.ptr, self.device)
        return out

    numpy = to_numpy
    get = to_numpy

    def __array__(self, dtype=None, copy=None):
        a = self.to_numpy()
        return a if dtype is None else a.astype(dtype)

    def copy(self):
        out = empty(self.shape, self.dtype, self.device)
        runtime().copy_device(out.ptr, self.ptr, self.nbytes, self.device)
        return out

    def to(self, device):
        """This array on another GPU (or itself when already there)."""
        device = int(device)
        if device == self.device:
            return self
        return to_device(self.to_numpy(), device)

    def fill(self, value):
        if self.dtype == np.float32:
            runtime().fill(self.ptr, float(value), self.size, self.device)
        elif value == 0:
            runtime().memset(self.ptr, 0, self.nbytes, self.device)
        else:
            to_device(np.full(self.shape, value, self.dtype), out=self)

    # --------------------------------------------------------------- views

    def reshape(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        shape = [int(d) for d in shape]
        size = self.size
        if shape.count(-1) > 1:
            raise ValueError("DeviceArray.reshape: only one dimension may be -1")
        if -1 in shape:
            known = 1
            for d in shape:
                if d != -1:
                    known *= d
            if known == 0 or size % known:
                raise ValueError(f"cannot reshape a device array of shape {self.shape} into "
                                 f"{tuple(shape)}")
            shape[shape.index(-1)] = size // known
        shape = tuple(shape)
        n = 1
        for d in shape:
            n *= d
        if n != size or any(d < 0 for d in shape):
            raise ValueError(f"cannot reshape a device array of shape {self.shape} into {shape}")
        return DeviceArray._view(self._buffer, self._offset, shape, self.dtype)

    def _row_bytes(self):
        n = self.dtype.itemsize
        for d in self.shape[1:]:
            n *= d
        return n

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = self.ndim - (len(key) - 1 - sum(k is None for k in key))
            key = key[:i] + (slice(None),) * fill + key[i + 1:]
        shape, offset, axis = [], self._offset, 0
        for k in key:
            if k is None:
                shape.append(1)
                continue
            if axis >= self.ndim:
                raise IndexError(f"too many indices for a device array of shape {self.shape}")
            dim = self.shape[axis]
            if isinstance(k, slice):
                start, stop, step = k.indices(dim)
                if (start, stop, step) == (0, dim, 1):
                    shape.append(dim)
                elif axis == 0 and step == 1:
                    stop = max(stop, start)
                    offset += start * self._row_bytes()
                    shape.append(stop - start)
                else:
                    raise IndexError(f"device arrays are sliced only along the first axis with "
                                     f"step 1 (views share memory); got {k} on axis {axis}: "
                                     f"copy to the host with to_numpy() for that")
            elif isinstance(k, (int, np.integer)):
                i = int(k) + dim if k < 0 else int(k)
                if not 0 <= i < dim:
                    raise IndexError(f"index {k} is out of bounds for axis {axis} of size {dim}")
                if axis == 0:
                    offset += i * self._row_bytes()
                elif dim != 1:
                    raise IndexError(f"device arrays take an integer index only on the first "
                                     f"axis or on an axis of size 1; got {k} on axis {axis} of "
                                     f"size {dim}")
            else:
                raise IndexError(f"device arrays take ints, slices, None and ...; got "
                                 f"{type(k).__name__}")
            axis += 1
        shape.extend(self.shape[axis:])
        return DeviceArray._view(self._buffer, offset, tuple(shape), self.dtype)

    def __setitem__(self, key, value):
        whole = key is Ellipsis or (isinstance(key, slice) and key == slice(None))
        view = self if whole else self[key]
        if isinstance(value, DeviceArray):
            if value.shape != view.shape and value.size != view.size:
                raise ValueError(f"cannot copy a device array of shape {value.shape} into one "
                                 f"of shape {view.shape}")
            if value.dtype != view.dtype:
                raise TypeError(f"cannot copy {value.dtype} into a {view.dtype} device array")
            if value.device != view.device:
                value = value.to(view.device)
            runtime().copy_device(view.ptr, value.ptr, view.nbytes, view.device)
        elif np.ndim(value) == 0:
            view.fill(value)
        else:
            host = np.ascontiguousarray(np.broadcast_to(np.asarray(value, view.dtype), view.shape))
            runtime().copy_to_device(view.ptr, host, view.device)
