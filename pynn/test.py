"""TensorFlow's ``tf.test`` device queries, which programs print before
training (``tf.test.is_gpu_available()``, ``tf.test.gpu_device_name()``):
answered from pynn's optional CUDA module."""
import importlib.util

from . import cuda


def is_built_with_cuda():
    """Whether this pynn has its CUDA extension (a GPU may still be absent)."""
    return importlib.util.find_spec("pynn._cuda") is not None


def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None):
    """Whether a GPU pynn can compute on is present; with
    ``min_cuda_compute_capability=(major, minor)``, one at least that
    capable."""
    if not cuda.is_available() or cuda.device_count() == 0:
        return False
    if min_cuda_compute_capability is None:
        return True
    wanted = tuple(min_cuda_compute_capability)
    return any(tuple(cuda.runtime().device_properties(i)[1]) >= wanted
               for i in range(cuda.device_count()))


def gpu_device_name():
    """``'/device:GPU:0'`` where a GPU is present, else ``''``."""
    return "/device:GPU:0" if is_gpu_available() else ""
