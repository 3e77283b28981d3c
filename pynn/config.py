"""Keras 3's ``keras.config``: the global settings pynn has (float32,
channels_last, the fuzz factor epsilon, the progress bars' logging, and
the debugging caps on epochs and steps), and TensorFlow's ``tf.config``
names that programs call before building a model (devices, memory
growth, threads)."""
import collections
import math
import os
import types

import numpy as np

from .backend import epsilon, floatx, image_data_format, set_epsilon, set_floatx, \
    set_image_data_format
from .dtype_policies import dtype_policy, set_dtype_policy
from .utils.custom_objects import enable_unsafe_deserialization
from .utils.io_utils import disable_interactive_logging, enable_interactive_logging, \
    is_interactive_logging_enabled

# Debugging caps on fit's epochs and on the steps of every fit, evaluate and
# predict pass, read from Keras's environment variables as Keras reads them.
_MAX_EPOCHS = int(os.environ["KERAS_MAX_EPOCHS"]) if "KERAS_MAX_EPOCHS" in os.environ \
    else None
_MAX_STEPS_PER_EPOCH = int(os.environ["KERAS_MAX_STEPS_PER_EPOCH"]) \
    if "KERAS_MAX_STEPS_PER_EPOCH" in os.environ else None


def set_max_epochs(max_epochs):
    """Cap every ``fit`` at ``max_epochs`` epochs (None: no cap), for quick
    debugging runs of a program; also set by the ``KERAS_MAX_EPOCHS``
    environment variable."""
    global _MAX_EPOCHS
    _MAX_EPOCHS = max_epochs


def max_epochs():
    """The cap :func:`set_max_epochs` set, or None."""
    return _MAX_EPOCHS


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the batches of every epoch of ``fit`` and of every ``evaluate``
    and ``predict`` pass (None: no cap); also set by the
    ``KERAS_MAX_STEPS_PER_EPOCH`` environment variable."""
    global _MAX_STEPS_PER_EPOCH
    _MAX_STEPS_PER_EPOCH = max_steps_per_epoch


def max_steps_per_epoch():
    """The cap :func:`set_max_steps_per_epoch` set, or None."""
    return _MAX_STEPS_PER_EPOCH


def capped_epochs(epochs):
    """``epochs`` under the max_epochs cap (warning when it limits them, as
    Keras does)."""
    if _MAX_EPOCHS and _MAX_EPOCHS < epochs:
        import warnings
        warnings.warn(f"Limiting epochs to {_MAX_EPOCHS}", stacklevel=3)
        return _MAX_EPOCHS
    return epochs


def whole_steps(steps):
    """A number of steps given as a float, rounded up (``steps=len(x) /
    batch_size``, as Keras 2 notebooks write it: tf.keras 2 stepped while
    its count was below it, so the last, partial batch is taken)."""
    if isinstance(steps, (float, np.floating)):
        if not math.isfinite(steps):
            raise ValueError(f"steps must be a whole number of batches, got {steps}")
        return math.ceil(steps)
    return steps


def capped_steps(steps, available=None):
    """A pass's ``steps`` (None: all the data, ``available`` batches where
    known; see whole_steps) under the max_steps_per_epoch cap."""
    steps = whole_steps(steps)
    cap = _MAX_STEPS_PER_EPOCH
    want = steps if steps else available
    if not cap or (want is not None and want <= cap):
        return steps
    import warnings
    warnings.warn(f"Limiting steps_per_epoch to {cap}", stacklevel=3)
    return cap


# Keras's switches, kept as Keras keeps them: traceback filtering (pynn
# raises its errors from the user's call, naming the layer, with nothing to
# filter) and flash attention (None: used where it applies; pynn's attention
# computes the same values either way).
_TRACEBACK_FILTERING = True
_FLASH_ATTENTION = None


def enable_traceback_filtering():
    """Turn on Keras's filtering of its internal frames from tracebacks."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = True


def disable_traceback_filtering():
    """Turn off Keras's filtering of its internal frames from tracebacks."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = False


def is_traceback_filtering_enabled():
    """Whether traceback filtering is on (the default)."""
    return _TRACEBACK_FILTERING


def enable_flash_attention():
    """Let attention layers use flash attention where it applies (Keras
    records this as None, "automatic", its default)."""
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = None


def disable_flash_attention():
    """Keep attention layers from using flash attention."""
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = False


def is_flash_attention_enabled():
    """The flash attention setting: None (automatic, the default) or False."""
    return _FLASH_ATTENTION


def backend():
    """The name of the array library computations run on: pynn computes on
    NumPy arrays, eagerly, as Keras's NumPy backend does."""
    return "numpy"


# ----------------------------------------- TensorFlow's tf.config names

class PhysicalDevice(collections.namedtuple("PhysicalDevice", ["name", "device_type"])):
    """A device pynn computes on (``tf.config.PhysicalDevice``)."""


LogicalDevice = PhysicalDevice


def list_physical_devices(device_type=None):
    """The CPU, and the GPUs of the optional CUDA module when it loads
    (``tf.config.list_physical_devices('GPU')`` is empty without them)."""
    from . import cuda
    devices = [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    if cuda.is_available():
        devices += [PhysicalDevice(f"/physical_device:GPU:{i}", "GPU")
                    for i in range(cuda.device_count())]
    return [d for d in devices if device_type is None or d.device_type == device_type.upper()]


def list_logical_devices(device_type=None):
    return [LogicalDevice(d.name.replace("/physical_device:", "/device:"), d.device_type)
            for d in list_physical_devices(device_type)]


get_visible_devices = list_physical_devices


def set_visible_devices(devices, device_type=None):
    """Accepted and without effect: pynn computes on the CPU unless code asks
    for a CUDA device (``pynn.device('cuda')``), so nothing is hidden."""


def _set_memory_growth(device, enable):
    """Without effect: pynn allocates GPU memory as arrays need it, never
    reserving the whole card, which is what TensorFlow's memory growth
    turns on; programs call it before building models and it must not fail."""


def _get_memory_growth(device):
    return True


def run_functions_eagerly(run_eagerly):
    """Without effect: tf.function always runs its Python function eagerly."""


def functions_run_eagerly():
    return True


def _set_intra_op_parallelism_threads(num_threads):
    """The number of threads of the C kernels (0: the default)."""
    from .backend import set_num_threads
    if num_threads:
        set_num_threads(int(num_threads))


def _get_intra_op_parallelism_threads():
    from .backend import get_num_threads
    return get_num_threads()


def _set_inter_op_parallelism_threads(num_threads):
    """Without effect: pynn runs one operation at a time, each over the
    intra-op threads."""


def _enable_op_determinism():
    """Without effect: pynn's kernels already give bit-identical results for
    the same seed (utils.set_random_seed) and thread count, which is what
    TensorFlow's switch asks of its own ops."""


# tf.config.optimizer: the switches of TensorFlow's graph rewrites (XLA's
# autoclustering, Grappler's passes); pynn runs no graph compiler, so
# they change nothing it computes and are kept only, as TensorFlow reports them
_jit = [False]
_graph_options = {}


def _set_jit(enabled):
    """``tf.config.optimizer.set_jit``: True or 'autoclustering' turn XLA's
    autoclustering on in TensorFlow; pynn keeps the setting."""
    _jit[0] = enabled is True or enabled == "autoclustering"


def _get_jit():
    return "autoclustering" if _jit[0] else ""


def _set_experimental_options(options):
    """``tf.config.optimizer.set_experimental_options({'layout_optimizer':
    False, ...})``: Grappler's switches, kept as given."""
    if not isinstance(options, dict):
        raise TypeError(f"tf.config.optimizer.set_experimental_options: expected a dict, got "
                        f"{type(options).__name__}")
    _graph_options.update(options)


optimizer = types.SimpleNamespace(set_jit=_set_jit, get_jit=_get_jit,
                                  set_experimental_options=_set_experimental_options,
                                  get_experimental_options=lambda: dict(_graph_options))
experimental = types.SimpleNamespace(
    set_memory_growth=_set_memory_growth, get_memory_growth=_get_memory_growth,
    list_physical_devices=list_physical_devices, set_visible_devices=set_visible_devices,
    get_visible_devices=get_visible_devices, enable_op_determinism=_enable_op_determinism)
threading = types.SimpleNamespace(
    set_intra_op_parallelism_threads=_set_intra_op_parallelism_threads,
    get_intra_op_parallelism_threads=_get_intra_op_parallelism_threads,
    set_inter_op_parallelism_threads=_set_inter_op_parallelism_threads,
    get_inter_op_parallelism_threads=lambda: 1)


__all__ = ["backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
           "set_image_data_format", "enable_interactive_logging", "disable_interactive_logging",
           "is_interactive_logging_enabled", "set_max_epochs", "max_epochs",
           "set_max_steps_per_epoch", "max_steps_per_epoch", "enable_unsafe_deserialization",
           "dtype_policy", "set_dtype_policy", "list_physical_devices", "list_logical_devices",
           "get_visible_devices", "set_visible_devices", "run_functions_eagerly",
           "functions_run_eagerly", "experimental", "threading", "optimizer", "PhysicalDevice",
           "enable_traceback_filtering", "disable_traceback_filtering",
           "is_traceback_filtering_enabled", "enable_flash_attention",
           "disable_flash_attention", "is_flash_attention_enabled"]
