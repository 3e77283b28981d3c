"""Where kernels run (the CPU's SIMD level, the thread count, the build, and
the device models are placed on: the CPU, or a GPU through the optional CUDA
module), and Keras 2's backend functions (``from pynn import backend as K``)."""
import builtins
import collections
import functools
import inspect
import json
import os
import re
import sys
import sysconfig
import threading

import numpy as np

# How long an idle OpenMP thread spins before it sleeps, set for the
# runtime's start (it reads its environment once, when the kernels load it)
# unless the user chose: GNU libgomp's default is 300,000 pause
# instructions, 10 to 30 ms, so on a machine where another process holds a
# core a thread waiting at a barrier kept its core busy while the thread it
# waited for queued behind that process (a training epoch went from 1 s to
# 18 s).  1,000 pauses (40 to 100 us) still span the gap between the
# kernels of a training step; then the waiting thread sleeps and frees its
# core for the one it waits for.  LLVM's libomp (clang builds) counts in
# milliseconds.  The variables are removed again once the runtime has read
# them, so child processes see the user's environment unchanged.
_WAIT = {"GOMP_SPINCOUNT": "1000", "KMP_BLOCKTIME": "1"}


def _load_kernels():
    added = []
    if "OMP_WAIT_POLICY" not in os.environ:
        added = [name for name in _WAIT if name not in os.environ]
    for name in added:
        os.environ[name] = _WAIT[name]
    try:
        from . import _kernels
    finally:
        for name in added:
            del os.environ[name]
    return _kernels


_kernels = _load_kernels()

from . import autodiff, ops, random  # noqa: E402  (they import the kernels)
# (TensorShape: tf.TensorShape)
from .tensor import TensorShape, eager, tf_default_dtype  # noqa: E402,F401


def set_num_threads(n):
    """Threads for the C kernels (OMP_NUM_THREADS sets the default)."""
    _kernels.set_num_threads(int(n))


def get_num_threads():
    return _kernels.get_num_threads()


def simd_level():
    """'avx512f', 'avx2+fma' or 'generic': the kernels chosen for this CPU
    (PYNN_CPU=avx2 caps them at AVX2, PYNN_CPU=generic forces the portable
    ones)."""
    return _kernels.simd_level()


# ------------------------------------------------------------------ devices

class _Scopes(threading.local):
    """Each thread's stack of ``pynn.device`` scopes (and of name_scope
    objects).  It starts empty in every thread, so reading it needs no
    getattr default (a missing attribute of a thread-local costs a
    formatted AttributeError, on every call that asks where a model runs)."""

    def __init__(self):
        self.stack = []
        self.name_scopes = []
        self.stateless = None   # the innermost StatelessScope
        self.symbolic = None    # the innermost SymbolicScope
        self.remat = []         # the open RematScopes


_scopes = _Scopes()
# How many pynn.device scopes are open in all threads together: a predict
# that finds none skips the look at its own thread's stack (see
# Model._planned_predict).
open_device_scopes = [0]
_open_lock = threading.Lock()


def parse_device(name):
    """'cpu' or 'gpu:N' from the ways Keras, TensorFlow and PyTorch name a
    device ('cpu', 'gpu', 'gpu:1', 'cuda:0', '/device:GPU:0')."""
    if not isinstance(name, str):
        raise TypeError(f"device: expected a name such as 'cpu' or 'gpu:0', got {name!r}")
    s = name.strip().lower()
    s = s[len("/device:"):] if s.startswith("/device:") else s.lstrip("/")
    m = re.fullmatch(r"(cpu|gpu|cuda)(?::(\d+))?", s)
    if m is None:
        raise ValueError(f"device: unknown device {name!r}; expected 'cpu', 'gpu', 'gpu:N' or "
                         f"'cuda:N'")
    if m.group(1) == "cpu":
        return "cpu"
    return f"gpu:{int(m.group(2) or 0)}"


class device:
    """``with pynn.device('gpu:0'):`` (or ``'cpu'``) places what runs in the
    block there, as Keras 3's ``keras.device``: models trained, evaluated or
    called for prediction inside it move their weights to that device
    first.  Outside any scope a model runs where it was last placed, and
    at first on the default device (a GPU when one can be used, as
    TensorFlow does; ``PYNN_DEVICE=cpu`` keeps everything on the CPU)."""

    def __init__(self, device_name):
        self.name = parse_device(device_name)

    def __enter__(self):
        _scopes.stack.append(self.name)
        with _open_lock:
            open_device_scopes[0] += 1
        return self

    def __exit__(self, *exc):
        _scopes.stack.pop()
        with _open_lock:
            open_device_scopes[0] -= 1
        return False

    def __repr__(self):
        return f"pynn.device({self.name!r})"


def current_device():
    """The innermost ``pynn.device`` scope of this thread ('cpu' or
    'gpu:N'), or None outside any."""
    stack = _scopes.stack
    return stack[-1] if stack else None


def current_gpu():
    """The GPU number new device arrays go to: the scope's, else 0."""
    d = current_device()
    return int(d[4:]) if d is not None and d.startswith("gpu:") else 0


def default_device():
    """Where a model runs outside any scope: ``PYNN_DEVICE`` when set, else
    'gpu:0' when the CUDA module and a GPU are present, else 'cpu'."""
    env = os.environ.get("PYNN_DEVICE")
    if env:
        return parse_device(env)
    from . import cuda
    return "gpu:0" if cuda.is_available() else "cpu"


def cuda_status():
    """The GPU the CUDA kernels run on ('NVIDIA H100 ... (sm_90, 132 SMs),
    CUDA 13.0'), or why there is none."""
    from . import cuda
    if not cuda.is_available():
        return f"unavailable: {cuda.unavailable_reason()}"
    driver, runtime = cuda.runtime().versions()
    names = [cuda.device_name(i) for i in range(cuda.device_count())]
    return f"{'; '.join(names)}, CUDA runtime {runtime // 1000}.{runtime % 1000 // 10}" + \
        (f", driver {driver // 1000}.{driver % 1000 // 10}" if driver else "")


def config():
    """The build and run-time configuration as a dict."""
    from . import __version__
    return {
        "pynn": __version__,
        "python": sys.version.split()[0],
        "compiler": sysconfig.get_config_var("CC") or "unknown",
        "openmp": _kernels.have_openmp(),
        "simd": simd_level(),
        "threads": get_num_threads(),
        "cuda": cuda_status(),
        "device": default_device(),
    }


def show_config():
    """Print the compiler, OpenMP, the SIMD level chosen, the thread count,
    the GPU (or why there is none) and the default device."""
    for k, v in config().items():
        print(f"{k:>10}: {v}")


# ---------------------------------------------------------------------
# Keras 2's backend functions (``from keras import backend as K``), for the
# layers, Lambda functions, activations and losses the books write with
# them.  They take NumPy arrays and, while a layer trains, traced arrays
# (pynn.autodiff); each is a thin form of a pynn.ops function with Keras
# 2's defaults.  Random draws come from pynn's seeded generator.

_EPSILON = 1e-7


def epsilon():
    """The fuzz factor of the numeric expressions (1e-7 by default)."""
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def floatx():
    return "float32"


def set_floatx(value):
    if str(value) != "float32":
        raise ValueError(f"set_floatx: pynn computes in float32, got {value!r}")


def _configured_data_format():
    """The image_data_format of ``$KERAS_HOME/keras.json`` (default
    ``~/.keras/keras.json``), read once at import as Keras reads it;
    'channels_last' when the file is missing, unreadable or says neither."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            value = json.load(f).get("image_data_format")
    except (OSError, ValueError, AttributeError):
        return "channels_last"
    return value if value in ("channels_last", "channels_first") else "channels_last"


_image_data_format = [_configured_data_format()]


def image_data_format():
    """'channels_last' or 'channels_first': the data_format that image
    layers made without one use (set_image_data_format changes it)."""
    return _image_data_format[0]


def set_image_data_format(data_format):
    value = str(data_format).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"set_image_data_format: the data format must be 'channels_last' or "
                         f"'channels_first', got {data_format!r}")
    _image_data_format[0] = value


def image_dim_ordering():
    """Keras 2's older name: 'tf' (channels last) or 'th' (channels first)."""
    return "th" if image_data_format() == "channels_first" else "tf"


def set_image_dim_ordering(dim_ordering):
    if dim_ordering not in ("tf", "th"):
        raise ValueError(f"set_image_dim_ordering: expected 'tf' or 'th', got "
                         f"{dim_ordering!r}")
    set_image_data_format("channels_first" if dim_ordering == "th" else "channels_last")


def cast_to_floatx(x):
    return np.asarray(x, dtype=np.float32)


def clear_session(free_memory=True):
    """Restart the automatic layer names (dense, dense_1, ...) and
    get_uid's counters, as Keras's clear_session does, and forget
    set_learning_phase's choice; ``free_memory``
    also runs Python's garbage collector."""
    global _learning_phase
    from .layers.base import _name_counts
    _name_counts.clear()
    _learning_phase = None  # (Keras 2's clear_session forgot it with the graph)
    if free_memory:
        import gc
        gc.collect()


def is_keras_tensor(x):
    from .models.node import KerasTensor
    return isinstance(x, KerasTensor)


class name_scope:
    """``with name_scope("block"):`` the variables created inside get paths
    under ``block/`` (nested scopes join with ``/``), as Keras 3's.
    ``caller`` with ``deduplicate``: a scope of the same name and caller as
    the innermost one is not entered again; ``override_parent`` replaces
    the enclosing scopes' path."""

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"Argument `name` must be a string and cannot contain character "
                             f"`/`. Received: name={name}")
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        if override_parent is None and deduplicate and \
                getattr(caller, "_parent_path", None) is not None:
            self.override_parent = caller._parent_path
        self._pop_on_exit = False

    def __enter__(self):
        stack = _scopes.name_scopes
        if self.deduplicate and stack and self.caller is not None and \
                self.caller is stack[-1].caller and self.name == stack[-1].name:
            return self
        stack.append(self)
        self._pop_on_exit = True
        return self

    def __exit__(self, *exc):
        if self._pop_on_exit:
            stack = _scopes.name_scopes
            if stack:
                stack.pop()


class StatelessScope:
    """Keras's scope in which no variable changes: ``state_mapping``
    (pairs of a variable and a value) gives variables the values they have
    inside it, and an ``assign`` / ``assign_add`` / ``assign_sub`` made
    inside it is recorded instead of kept; ``get_current_value(v)`` gives
    the value ``v`` has at the end (None for a variable neither mapped nor
    assigned).  On exit every variable holds its value from before the
    scope.  With ``collect_losses`` the ``add_loss`` values of the calls
    made inside it are collected in ``losses``.  (State that a training
    step updates in place, an optimizer's step or BatchNormalization's
    moving statistics, is not an assignment: use ``stateless_call`` or the
    optimizer's own methods for it.)"""

    def __init__(self, state_mapping=None, collect_losses=False, initialize_variables=True):
        from .layers.base import Weight
        self.collect_losses = bool(collect_losses)
        self.initialize_variables = initialize_variables
        self.losses = []
        self.state_mapping = {}
        self._variables = {}   # id -> the variable, for those mapped or assigned
        self._saved = {}       # id -> its value before the scope
        for variable, value in (state_mapping or []):
            if not isinstance(variable, Weight):
                raise ValueError(f"Invalid reference variable in StatelessScope: all keys in "
                                 f"argument `mapping` must be Variable instances. Received "
                                 f"instead: {variable}")
            value = np.array(getattr(value, "value", value), dtype=variable.value.dtype)
            if value.shape != variable.shape:
                raise ValueError(f"Invalid variable value in StatelessScope: all values in "
                                 f"argument `mapping` must be tensors with a shape that "
                                 f"matches the corresponding variable shape. For variable "
                                 f"{variable.path}, received invalid value with shape "
                                 f"{value.shape}.")
            self.state_mapping[id(variable)] = value
            self._variables[id(variable)] = variable
        self._outer = None

    def __enter__(self):
        self._outer = _scopes.stateless
        # the mapped values are written into the variables for the scope's
        # duration (in place: a variable may be a view of a model's flat
        # buffer), so every reader sees them
        for key, variable in self._variables.items():
            self._saved[key] = np.array(variable.value)
            variable.value[...] = self.state_mapping[key]
        _scopes.stateless = self
        return self

    def _before_assign(self, variable):
        """Called by a variable's assign inside the scope: its value
        before the scope is kept, to be put back on exit."""
        key = id(variable)
        if key not in self._saved:
            self._saved[key] = np.array(variable.value)
            self._variables[key] = variable

    def _after_assign(self, variable):
        self.state_mapping[id(variable)] = np.array(variable.value)

    def add_loss(self, loss):
        self.losses.append(loss)

    def add_update(self, update):
        variable, value = update
        self._before_assign(variable)
        variable.value[...] = value
        self._after_assign(variable)

    def get_current_value(self, variable):
        return self.state_mapping.get(id(variable))

    def __exit__(self, *exc):
        _scopes.stateless = self._outer
        for key, value in self._saved.items():
            self._variables[key].value[...] = value
        self._saved = {}


def in_stateless_scope():
    return _scopes.stateless is not None


def get_stateless_scope():
    return _scopes.stateless


class SymbolicScope:
    """Keras's marker that the code inside computes shapes only (a
    layer's ``compute_output_spec``); ``in_symbolic_scope()`` says whether
    one is open in this thread.  pynn's symbolic calls run on KerasTensors
    whether or not one is open."""

    def __enter__(self):
        self._outer = _scopes.symbolic
        _scopes.symbolic = self
        return self

    def __exit__(self, *exc):
        _scopes.symbolic = self._outer


def in_symbolic_scope():
    return _scopes.symbolic is not None


class RematScope:
    """Keras's rematerialization scope (``mode`` "full", "activations",
    "larger_than", "list_of_layers" or None), validated and nested as
    Keras's.  pynn keeps each layer's activations for backward whatever the
    mode, so layers called inside compute and train exactly as outside it;
    the mode only says what Keras would recompute."""

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if mode not in {"full", "activations", "larger_than", "list_of_layers", None}:
            raise ValueError(f"Invalid mode '{mode}'. Supported modes are: 'full', "
                             f"'activations', 'larger_than', 'list_of_layers', or  None.")
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = list(layer_names or [])

    def __enter__(self):
        _scopes.remat.append(self)
        return self

    def __exit__(self, *exc):
        _scopes.remat.remove(self)


def get_current_remat_mode():
    """(mode, output_size_threshold, layer_names) of the innermost open
    RematScope, None outside any."""
    if not _scopes.remat:
        return None
    scope = _scopes.remat[-1]
    return RematMode(scope.mode, scope.output_size_threshold, scope.layer_names)


RematMode = collections.namedtuple("RematMode", ["mode", "output_size_threshold",
                                                 "layer_names"])


def remat(f):
    """Keras's ``remat(f)``: ``f`` with rematerialization asked for.  pynn's
    tape keeps the intermediate values rather than recomputing them, so the
    function returned computes the same values and gradients as ``f``
    without saving memory."""
    if not callable(f):
        raise TypeError(f"remat: expected a callable, got {type(f).__name__}")

    @functools.wraps(f)
    def rematerialized(*args, **kwargs):
        return f(*args, **kwargs)
    return rematerialized


def current_name_scope_path(owner=None):
    """The path of the open name scopes ('' outside any); without the
    innermost scope where ``owner`` opened it (a layer's weight, whose
    name already starts with the layer's, made inside the layer's own
    scope)."""
    parts = []
    entries = _scopes.name_scopes
    if owner is not None and entries and entries[-1].caller is owner:
        entries = entries[:-1]
    for entry in entries:
        if entry.override_parent is not None:
            parts = [p for p in entry.override_parent.split("/") if p]
        parts.append(entry.name)
    return "/".join(parts)


def backend():
    """The backend's name, as ``keras.backend.backend()`` gives it: pynn
    computes on NumPy arrays, eagerly (see pynn.config.backend)."""
    from .config import backend as name
    return name()


def get_uid(prefix=""):
    """1, 2, 3, ... on successive calls with the same ``prefix``; the
    counters are the automatic layer names' (``clear_session`` restarts
    them), as in Keras."""
    from .layers.base import _name_counts
    _name_counts[prefix] += 1
    return _name_counts[prefix]


# ------------------------------------------------------ dtypes (Keras 3's)

_ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64",
                   "int8", "int16", "int32", "int64", "bfloat16", "bool", "string",
                   "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
# Python's types as Keras's NumPy backend reads them.
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string",
                  "int": "int32", complex: "complex64"}


def standardize_dtype(dtype):
    """The canonical name of ``dtype`` (a name, a NumPy dtype or type, a
    Python type; None: floatx), as Keras 3's."""
    if dtype is None:
        return floatx()
    dtype = _PYTHON_DTYPES.get(dtype, dtype)
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    if not isinstance(dtype, str) or dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def is_float_dtype(dtype):
    dtype = standardize_dtype(dtype)
    return dtype.startswith("float") or dtype.startswith("bfloat")


def is_int_dtype(dtype):
    dtype = standardize_dtype(dtype)
    return dtype.startswith("int") or dtype.startswith("uint")


def _promotion_bounds():
    """Each dtype's upper bounds on Keras's (JAX's) type promotion lattice;
    'int' and 'float' are Python's weakly typed scalars."""
    lattice = {"bool": ["int"], "uint8": ["int16", "uint16"], "uint16": ["int32", "uint32"],
               "uint32": ["int64", "uint64"], "uint64": ["float"],
               "int": ["uint8", "int8", "complex64"], "int8": ["int16"], "int16": ["int32"],
               "int32": ["int64"], "int64": ["float"], "float": ["bfloat16", "float16"],
               "bfloat16": ["float32"], "float16": ["float32"],
               "float32": ["float64", "complex64"], "float64": ["complex128"],
               "complex64": ["complex128"], "complex128": []}
    bounds = {node: {node} for node in lattice}
    for node in lattice:
        while True:
            grown = bounds[node].union(*(lattice[b] for b in bounds[node]))
            if grown == bounds[node]:
                break
            bounds[node] = grown
    return bounds


_PROMOTION_BOUNDS = _promotion_bounds()
# 64-bit results are narrowed as in Keras's NumPy (and JAX) backend.
_TO_32_BITS = {"int64": "int32", "uint64": "uint32", "float64": "float32",
               "complex128": "complex64"}


def _least_upper_bound(nodes):
    nodes = set(nodes)
    unknown = [n for n in nodes if n not in _PROMOTION_BOUNDS]
    if unknown:
        raise ValueError(f"dtype={unknown[0]!r} is not a valid dtype for Keras type promotion.")
    common = set.intersection(*(_PROMOTION_BOUNDS[n] for n in nodes))
    least = (common & nodes) or {c for c in common if common <= _PROMOTION_BOUNDS[c]}
    if len(least) != 1:
        raise ValueError(f"Input dtypes {tuple(sorted(nodes))} have no available implicit "
                         f"dtype promotion path. Try explicitly casting inputs to the "
                         f"desired output type.")
    return least.pop()


def result_type(*dtypes):
    """The dtype Keras 3's type promotion gives for operands of ``dtypes``
    (Python's ``int`` and ``float`` are weak: they do not widen a typed
    operand); floatx with none."""
    if not dtypes:
        return floatx()
    for d in dtypes:
        if d in ("float8_e4m3fn", "float8_e5m2"):
            raise ValueError(f"There is no implicit conversions from float8 dtypes to others. "
                             f"You must cast it internally. Received: {dtypes}")
    dtypes = [floatx() if d is None else d for d in dtypes]
    weak = [d is int or d is float for d in dtypes]
    names = [standardize_dtype(d) for d in dtypes]

    def weak_name(name, is_weak):
        if not is_weak or name == "bool":
            return name
        for kind in ("float", "int", "complex"):
            if kind in name:
                return kind
        raise ValueError(f"Invalid value for argument `dtype`. Received: dtype={name}")

    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not builtins.all(weak):
        out, out_weak = names[0], False
    elif builtins.all(weak):
        out, out_weak = _least_upper_bound(names), True
    else:
        out = _least_upper_bound(weak_name(n, w) for n, w in zip(names, weak))
        out_weak = out in ("int", "float")
    if out != "bool" and out_weak:
        out = {"b": "bool", "i": "int32", "u": "uint32"}.get(
            "f" if out == "bfloat16" else out[:1], "float32")
    return _TO_32_BITS.get(out, out)


# ------------------------------------------------------------ values

def constant(value, dtype=None, shape=None, name=None):
    a = np.asarray(value, dtype=dtype or np.float32)
    return np.array(np.broadcast_to(a, shape)) if shape is not None else a


def constant_tensor(value, dtype=None, shape=None, name=None):
    """TensorFlow's ``tf.constant`` (``pynn.constant``): an eager tensor with
    TensorFlow's dtypes (see tf_default_dtype: int32 for Python ints,
    float32 for floats, an array's own dtype, float64 and int64 included);
    K.constant above makes every value floatx, as Keras 2 did."""
    if dtype is None:
        dtype = tf_default_dtype(value)
    elif str(dtype) == "string":
        dtype = None
    a = ops.convert_to_tensor(value, dtype)
    if a.dtype.kind in "US" or a.dtype.kind == "O" and a.size and isinstance(
            a.flat[0], (str, bytes)):
        # TensorFlow's string tensors hold UTF-8 bytes (.numpy() gives
        # b'...'), every byte kept: NumPy's fixed-width str and bytes drop
        # trailing NULs, so the Python strings are taken as they are
        if not isinstance(value, np.ndarray):
            held = np.array(value, dtype=object)
            if held.shape == a.shape:
                a = held
        a = np.asarray(np.frompyfunc(lambda s: s.encode() if isinstance(s, str) else
                                     bytes(s), 1, 1)(a), dtype=object).reshape(a.shape)
    if shape is not None:
        a = np.array(np.broadcast_to(a, tuple(shape)))
    elif isinstance(value, np.ndarray) and np.may_share_memory(a, value):
        a = a.copy()  # (a constant: later writes to the array do not change it)
    return eager(a)


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """TensorFlow's ``tf.convert_to_tensor`` (``pynn.convert_to_tensor``):
    ``value`` as an eager tensor of TensorFlow's dtype, as tf.constant
    makes it (``dtype_hint`` taken for Python numbers that fit it); a
    tensor of ``dtype`` as it is, and a traced value or variable as
    ``pynn.ops.convert_to_tensor`` takes it."""
    if ops._is_traced(value):
        return ops.convert_to_tensor(value, dtype)
    if dtype is None:
        dtype = tf_default_dtype(value, dtype_hint)
    if isinstance(value, np.ndarray) and dtype is not None and value.dtype == dtype:
        return eager(value)
    return constant_tensor(value, dtype)


class VariableArray(np.ndarray):
    """What ``variable`` makes: a NumPy array that graph arithmetic
    (``beta * kl_loss`` on symbolic tensors) reads each time the graph
    runs, as Keras 2 reads its tf.Variable, so ``set_value`` is seen by a
    model built before it (KL annealing driven by a callback); any other
    array is copied into the graph as a constant.  Arithmetic on it gives
    plain arrays."""
    _plain_for_tensors = True  # (a Tensor beside it computes as with an array)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # (this module's ``any`` is Keras's K.any: the builtin's loop here)
        for v in inputs:
            if getattr(type(v), "__array_ufunc__", None) not in (
                    None, np.ndarray.__array_ufunc__, VariableArray.__array_ufunc__):
                return NotImplemented  # (a symbolic tensor records the operation with it)

        def plain(v):
            return v.view(np.ndarray) if isinstance(v, VariableArray) else v
        if "out" in kwargs:
            kwargs["out"] = tuple(plain(o) for o in kwargs["out"])
        return getattr(ufunc, method)(*(plain(v) for v in inputs), **kwargs)


# Arrays on a cache line (see the kernels' aligned_empty)
aligned_empty = _kernels.aligned_empty


def variable(value, dtype=None, name=None, constraint=None):
    """A float32 array holding ``value`` (get_value/set_value read and
    write it; graph arithmetic reads it live, see VariableArray)."""
    return np.array(value, dtype=dtype or np.float32).view(VariableArray)


def get_value(x):
    """A copy of the value of ``x``; a scalar's is a NumPy scalar, as
    tf.keras's ``x.numpy()`` gives, so that ``lr = K.get_value(...);
    lr *= f`` leaves the value read before untouched."""
    value = np.array(ops._plain(x))
    return value[()] if value.ndim == 0 else value


def set_value(x, value):
    if hasattr(x, "assign"):
        x.assign(value)
    else:
        np.copyto(x, value)


def batch_get_value(xs):
    return [get_value(x) for x in xs]


def batch_set_value(tuples):
    """Keras 2's: ``set_value`` for each ``(variable, value)`` pair."""
    for x, value in tuples:
        set_value(x, value)


def update(x, new_x):
    """Keras 2's: ``x.assign(new_x)``; returns ``x``."""
    x.assign(new_x)
    return x


def update_add(x, increment):
    """Keras 2's: ``x.assign_add(increment)``; returns ``x``."""
    x.assign_add(increment)
    return x


def update_sub(x, decrement):
    """Keras 2's: ``x.assign_sub(decrement)``; returns ``x``."""
    x.assign_sub(decrement)
    return x


def eval(x):
    return get_value(x)


def shape(x):
    """The shape; of a symbolic tensor, an int32 symbolic tensor (its
    batch size is known only when the graph runs), as Keras 2's
    tf.shape was: ``K.prod(K.cast(K.shape(x), 'float32'))``."""
    from .models.node import KerasTensor
    if isinstance(x, KerasTensor):
        from .layers.lambda_layer import record_operation
        return record_operation("shape_tensor", (x,), {})
    return ops.shape(x)


def int_shape(x):
    """The shape as a tuple (None where a symbolic tensor's is unknown)."""
    return ops.shape(x)


def ndim(x):
    """The rank as a Python int, of a symbolic tensor too (Keras 2's
    ``assert K.ndim(x) == 3``)."""
    return len(ops.shape(x))


def dtype(x):
    return str(getattr(x, "dtype", np.asarray(x).dtype))


def count_params(x):
    return int(np.prod(ops.shape(x), dtype=np.int64))


def zeros(shape, dtype=None, name=None):
    if dtype is not None and str(dtype) == "string":
        return np.full(shape, b"", dtype=object)  # (TensorFlow's zero of tf.string)
    return ops.zeros(shape, dtype)


def ones(shape, dtype=None, name=None):
    return ops.ones(shape, dtype)


def eye(size, dtype=None, name=None):
    return np.eye(size, dtype=dtype or np.float32)


def zeros_like(x, dtype=None, name=None):
    if str(dtype) == "string" or dtype is None and isinstance(x, np.ndarray) and \
            x.dtype.kind in "OSU":
        return np.full(np.shape(x), b"", dtype=object)
    return ops.zeros_like(x, dtype)


def ones_like(x, dtype=None, name=None):
    return ops.ones_like(x, dtype)


def identity(x, name=None):
    return x


def cast(x, dtype, name=None):
    if isinstance(dtype, (str, type)) and str(dtype) != "string":
        # TensorFlow's names and Python types: tf.cast(x, "float") and
        # tf.cast(x, float) are float32, as tf.as_dtype reads them
        from .dtypes import as_dtype
        try:
            dtype = str(as_dtype(dtype))  # (a name: what a symbolic call records)
        except TypeError:
            pass  # (a name only NumPy knows: as NumPy reads it)
    from .sparse import SparseTensor
    if isinstance(x, SparseTensor):
        # (tf.cast of a SparseTensor casts its values)
        return SparseTensor(x.indices, ops.cast(x.values, dtype), x.dense_shape)
    from .ragged import RaggedTensor
    if isinstance(x, RaggedTensor):
        # (and of a RaggedTensor its values, the rows kept)
        return RaggedTensor(ops.cast(x.values, dtype), x.row_splits)
    return ops.cast(x, dtype)


def stop_gradient(variables):
    if isinstance(variables, (list, tuple)):
        return [ops.stop_gradient(v) for v in variables]
    return ops.stop_gradient(variables)


def print_tensor(x, message=""):
    print(message, ops._plain(x))
    return x


def arange(start, stop=None, step=1, dtype="int32"):
    return np.arange(start, stop, step, dtype=dtype)


# ---------------------------------------------------------- random

def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return random.normal(shape, mean, stddev, dtype, seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return random.uniform(shape, minval, maxval, dtype, seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return random.truncated_normal(shape, mean, stddev, dtype, seed)


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    """1 with probability p, else 0."""
    return (random.uniform(shape, seed=seed) < p).astype(dtype or np.float32)


random_bernoulli = random_binomial


def dropout(x, level, noise_shape=None, seed=None):
    return random.dropout(x, level, noise_shape, seed)


# ------------------------------------------------------------ math

def sum(x, axis=None, keepdims=False):
    return ops.sum(x, axis=axis, keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    return ops.prod(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return ops.mean(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    return ops.max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return ops.min(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    return ops.var(x, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return ops.std(x, axis=axis, keepdims=keepdims)


def any(x, axis=None, keepdims=False):
    return np.any(ops._plain(x), axis=axis, keepdims=keepdims)


def all(x, axis=None, keepdims=False):
    return np.all(ops._plain(x), axis=axis, keepdims=keepdims)


def argmax(x, axis=-1):
    return ops.argmax(x, axis=axis)


def argmin(x, axis=-1):
    return ops.argmin(x, axis=axis)


def cumsum(x, axis=0):
    return ops.cumsum(x, axis=axis)


def cumprod(x, axis=0):
    return ops.cumprod(x, axis=axis)


def in_top_k(predictions, targets, k):
    """Keras 2's argument order (predictions first) for ops.in_top_k."""
    return ops.in_top_k(targets, predictions, k)


def map_fn(fn, elems, name=None, dtype=None):
    from .execution import map_fn as tf_map_fn
    return tf_map_fn(fn, elems, dtype=dtype, name=name)


def foldl(fn, elems, initializer=None, name=None):
    """Keras 2's: tf.foldl, ``fn(accumulator, entry)`` from the first entry."""
    from .execution import foldl as tf_foldl
    return tf_foldl(fn, elems, initializer=initializer)


def foldr(fn, elems, initializer=None, name=None):
    """Keras 2's: tf.foldr, ``fn(accumulator, entry)`` from the last entry."""
    from .execution import foldr as tf_foldr
    return tf_foldr(fn, elems, initializer=initializer)


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None,
        unroll=False, input_length=None, time_major=False, zero_output_for_mask=False,
        return_all_outputs=True):
    """Keras 2's K.rnn: ``output, states = step_function(input_t, states +
    constants)`` over the time axis of ``inputs`` (axis 1, or 0 with
    ``time_major``; a structure of tensors is stepped together), from the
    last step with ``go_backwards``.  Where ``mask`` (batch, time) is
    false the states stay and the output is the previous one (zeros with
    ``zero_output_for_mask``).  Returns (last output, the outputs stacked
    along the time axis in the order they were computed, or only the last
    one with ``return_all_outputs=False``, the last states).  The steps
    run one after another whatever ``unroll`` says; ``input_length`` is
    not needed."""
    from . import tree
    axis = 0 if time_major else 1
    parts = tree.flatten(inputs)
    if not parts or builtins.any(ops.ndim(p) < 2 for p in parts):
        raise ValueError(f"rnn: inputs must be tensors of rank >= 2 (batch and time), got "
                         f"shapes {[tuple(ops.shape(p)) for p in parts]}")
    steps = int(ops.shape(parts[0])[axis])
    per_part = [ops.unstack(p, axis=axis) for p in parts]
    order = list(range(steps))[::-1] if go_backwards else list(range(steps))
    masks = None
    if mask is not None:
        m = ops.cast(mask, "bool")
        if ops.ndim(m) == 3:
            m = ops.squeeze(m, -1)
        if tuple(ops.shape(m)) != (tuple(ops.shape(parts[0]))[:2]):
            raise ValueError(f"rnn: mask of shape {tuple(ops.shape(mask))} does not fit "
                             f"inputs of shape {tuple(ops.shape(parts[0]))}")
        masks = ops.unstack(m, axis=axis)
    states = list(initial_states)
    constants = list(constants or [])

    def along(m, value):   # a (batch,) mask broadcast over ``value``
        return ops.reshape(m, (-1,) + (1,) * (ops.ndim(value) - 1))
    outputs, output = [], None
    for t in order:
        step_input = tree.pack_sequence_as(inputs, [p[t] for p in per_part])
        new_output, new_states = step_function(step_input, states + constants)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else \
            [new_states]
        if masks is not None:
            prev = ops.zeros_like(new_output) if output is None or zero_output_for_mask \
                else output
            new_output = ops.where(along(masks[t], new_output), new_output, prev)
            new_states = [ops.where(along(masks[t], n), n, s)
                          for n, s in zip(new_states, states)]
        output, states = new_output, new_states
        if return_all_outputs or t == order[-1]:
            outputs.append(output)
    if output is None:
        raise ValueError("rnn: inputs have no time steps")
    return output, ops.stack(outputs, axis=axis), states


def logsumexp(x, axis=None, keepdims=False):
    return ops.logsumexp(x, axis=axis, keepdims=keepdims)


def square(x):
    return ops.square(x)


def abs(x):
    return ops.abs(x)


def sqrt(x):
    """The square root of x, negative values taken as 0 (Keras 2's)."""
    return ops.sqrt(ops.maximum(x, 0.0))


def exp(x):
    return ops.exp(x)


def log(x):
    return ops.log(x)


def round(x):
    return ops.round(x)


def sign(x):
    return ops.sign(x)


def pow(x, a):
    return ops.power(x, a)


def clip(x, min_value, max_value):
    """x limited to [min_value, max_value] (max_value below min_value is
    raised to it, as in Keras 2)."""
    if min_value is not None and max_value is not None and max_value < min_value:
        max_value = min_value
    return ops.clip(x, min_value, max_value)


def equal(x, y):
    return ops.equal(x, y)


def not_equal(x, y):
    return ops.not_equal(x, y)


def greater(x, y):
    return ops.greater(x, y)


def greater_equal(x, y):
    return ops.greater_equal(x, y)


def less(x, y):
    return ops.less(x, y)


def less_equal(x, y):
    return ops.less_equal(x, y)


def maximum(x, y):
    return ops.maximum(x, y)


def minimum(x, y):
    return ops.minimum(x, y)


def sin(x):
    return ops.sin(x)


def cos(x):
    return ops.cos(x)


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    """TensorFlow's ``tf.matmul`` (``pynn.matmul``): batched matrix
    products over the last two axes."""
    if transpose_a:
        a = ops.swapaxes(a, -1, -2)
    if transpose_b:
        b = ops.swapaxes(b, -1, -2)
    return ops.matmul(a, b)


# -------------------------------------------------- linear algebra

def dot(x, y):
    """Keras 2's dot: the last axis of x against the second-to-last of y
    (the last, for a vector)."""
    return ops.dot(x, y)


def batch_dot(x, y, axes=None):
    """Per sample (axis 0), the sum of products over ``axes`` (Keras 2's
    default: the last axis of x against the second-to-last of y, or the
    last when y is 2-D).  Two 2-D inputs give (batch, 1)."""
    nx, ny = ops.ndim(x), ops.ndim(y)
    if axes is None:
        axes = (nx - 1, ny - 1 if ny == 2 else ny - 2)
    elif np.ndim(axes) == 0:
        axes = (int(axes), int(axes))
    ax, ay = int(axes[0]) % nx, int(axes[1]) % ny
    if ax == 0 or ay == 0:
        raise ValueError(f"batch_dot: cannot sum over the batch axis, got axes {axes}")
    sx, sy = ops.shape(x), ops.shape(y)
    keep_x = [a for a in range(1, nx) if a != ax]
    keep_y = [a for a in range(1, ny) if a != ay]
    xm = ops.reshape(ops.transpose(x, [0] + keep_x + [ax]), (sx[0], -1, sx[ax]))
    ym = ops.reshape(ops.transpose(y, [0, ay] + keep_y), (sy[0], sy[ay], -1))
    out = ops.matmul(xm, ym)
    shape = (sx[0],) + tuple(sx[a] for a in keep_x) + tuple(sy[a] for a in keep_y)
    return ops.reshape(out, shape if len(shape) > 1 else (sx[0], 1))


def transpose(x):
    """x with its axes reversed."""
    return ops.transpose(x)


def permute_dimensions(x, pattern):
    return ops.transpose(x, tuple(pattern))


def l2_normalize(x, axis=None):
    """x divided by its L2 norm over ``axis`` (the whole array when None)."""
    if axis is None:
        return ops.reshape(ops.l2_normalize(ops.reshape(x, (1, -1)), axis=-1), ops.shape(x))
    return ops.l2_normalize(x, axis=axis)


def _channels_first(data_format, who):
    """Whether Keras 2's ``data_format`` argument (None: the global
    image_data_format()) is channels_first."""
    value = image_data_format() if data_format is None else data_format
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"{who}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return value == "channels_first"


def bias_add(x, bias, data_format=None):
    if _channels_first(data_format, "bias_add") and ops.ndim(x) > 2:
        # the bias's channels (its last axis) go on axis 1, as Keras 2 puts them
        b = ops.moveaxis(bias, -1, 0) if ops.ndim(bias) > 1 else bias
        bias = ops.reshape(b, (1,) + tuple(ops.shape(b)) +
                           (1,) * (ops.ndim(x) - 1 - ops.ndim(b)))
    return ops.add(x, bias)


# ------------------------------------------------------------ shapes
# (name=: TensorFlow's argument of tf.reshape, tf.concat, tf.stack, tf.cast
# and tf.matmul, which are these; graph names mean nothing here)

def reshape(x, shape, name=None):
    return ops.reshape(x, tuple(shape))


def expand_dims(x, axis=-1):
    return ops.expand_dims(x, axis)


def squeeze(x, axis):
    return ops.squeeze(x, axis)


def flatten(x):
    return ops.reshape(x, (-1,))


def batch_flatten(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def concatenate(tensors, axis=-1, name=None):
    if not isinstance(tensors, (list, tuple)):
        # one tensor, as tf.concat takes it: itself (after an axis check)
        tensors = [tensors]
    from . import ragged
    if builtins.any(isinstance(t, ragged.RaggedTensor) for t in tensors):
        return ragged.concat(tensors, axis)
    return ops.concatenate(tensors, axis=axis)


def stack(x, axis=0, name=None):
    return ops.stack(x, axis=axis)


def repeat_elements(x, rep, axis):
    return ops.repeat(x, rep, axis=axis)


def repeat(x, n):
    """(batch, dim) -> (batch, n, dim)."""
    return ops.repeat(ops.expand_dims(x, 1), n, axis=1)


def tile(x, n):
    return ops.tile(x, n)


def gather(reference, indices):
    return ops.take(reference, indices, axis=0)


def one_hot(indices, num_classes):
    return ops.one_hot(indices, num_classes)


def reverse(x, axes):
    return ops.flip(x, axes)


def slice(x, start, size):
    return x[tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start, size))]


def temporal_padding(x, padding=(1, 1)):
    return ops.pad(x, ((0, 0), tuple(padding), (0, 0)))


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    rows, cols = tuple(padding[0]), tuple(padding[1])
    if _channels_first(data_format, "spatial_2d_padding"):
        return ops.pad(x, ((0, 0), (0, 0), rows, cols))
    return ops.pad(x, ((0, 0), rows, cols, (0, 0)))


def _image_format(data_format, who):
    return "channels_first" if _channels_first(data_format, who) else "channels_last"


def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras 2's: ops.conv of (batch, steps, channels) ``x``; 'causal'
    pads the start by ``dilation_rate * (kernel_size - 1)``."""
    if padding == "causal":
        if _channels_first(data_format, "conv1d"):
            raise ValueError("conv1d: causal padding needs channels_last data")
        x = temporal_padding(x, (int(dilation_rate) * (int(ops.shape(kernel)[0]) - 1), 0))
        padding = "valid"
    return ops.conv(x, kernel, strides, padding, _image_format(data_format, "conv1d"),
                    dilation_rate)


def conv2d(x, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1)):
    """Keras 2's: ops.conv of images with a (rows, cols, in, out) kernel."""
    return ops.conv(x, kernel, strides, padding, _image_format(data_format, "conv2d"),
                    dilation_rate)


def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    return ops.depthwise_conv(x, depthwise_kernel, strides, padding,
                              _image_format(data_format, "depthwise_conv2d"), dilation_rate)


def _pair(value, n, who):
    values = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != n or builtins.any(int(v) < 1 for v in values):
        raise ValueError(f"{who}: expected {n} positive integers, got {value!r}")
    return tuple(int(v) for v in values)


def conv2d_transpose(x, kernel, output_shape, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    """Keras 2's (tf.nn.conv2d_transpose's): the transposed convolution of
    images with a (rows, cols, out, in) kernel into ``output_shape`` (batch,
    rows, cols, channels in ``data_format``'s order; the batch may be
    None), which must be a size the convolution of ``padding`` and
    ``strides`` maps back onto ``x``'s."""
    first = _channels_first(data_format, "conv2d_transpose")
    if first:
        x = ops.transpose(x, (0, 2, 3, 1))
    xs, ks = tuple(ops.shape(x)), tuple(ops.shape(kernel))
    out = [None if d is None else int(d) for d in np.asarray(output_shape, object).tolist()]
    if len(xs) != 4 or len(ks) != 4 or len(out) != 4:
        raise ValueError(f"conv2d_transpose: expected a 4-D x, kernel and output_shape, got "
                         f"shapes {xs}, {ks} and output_shape {output_shape}")
    if first:
        out = [out[0], out[2], out[3], out[1]]
    if ks[3] != xs[3] or ks[2] != out[3]:
        raise ValueError(f"conv2d_transpose: a kernel of shape {ks} (rows, cols, out, in) "
                         f"does not map x of shape {xs} to output_shape {output_shape}")
    strides = _pair(strides, 2, "conv2d_transpose: strides")
    dilation = _pair(dilation_rate, 2, "conv2d_transpose: dilation_rate")
    if padding not in ("valid", "same"):
        raise ValueError(f"conv2d_transpose: padding must be 'valid' or 'same', got "
                         f"{padding!r}")
    extra = []
    for size, want, k, s, d in zip(xs[1:3], out[1:3], ks[:2], strides, dilation):
        k = (k - 1) * d + 1
        # the sizes a convolution maps back to ``size`` (TensorFlow's check)
        low, high = ((size - 1) * s + k, size * s + k - 1) if padding == "valid" else \
            ((size - 1) * s + 1, size * s)
        if want is None or not low <= want <= high:
            raise ValueError(f"conv2d_transpose: output_shape {output_shape} does not fit x of "
                             f"shape {xs}: with kernel {ks[:2]}, strides {strides} and "
                             f"padding {padding!r} each size must be in [{low}, {high}]")
        # Keras 3's output_padding giving that size (None: its default size)
        default = size * s + (builtins.max(k - s, 0) if padding == "valid" else 0)
        extra.append(None if want == default else
                     want - ((size - 1) * s + (k if padding == "valid" else k % 2)))
    y = ops.conv_transpose(x, kernel, strides, padding,
                           None if extra == [None, None] else tuple(extra), "channels_last",
                           dilation)
    return ops.transpose(y, (0, 3, 1, 2)) if first else y


def conv3d(x, kernel, strides=(1, 1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1, 1)):
    """Keras 2's: the 3-D convolution of (batch, depth, rows, cols,
    channels) volumes (or channels first) with a (depth, rows, cols, in,
    out) kernel: for each depth tap of the kernel, one 2-D convolution of
    the planes it reads, added into the output planes it writes."""
    from .layers.conv import depth_taps
    first = _channels_first(data_format, "conv3d")
    if first:
        x = ops.transpose(x, (0, 2, 3, 4, 1))
    xs, ks = tuple(ops.shape(x)), tuple(ops.shape(kernel))
    if len(xs) != 5 or len(ks) != 5 or ks[3] != xs[4]:
        raise ValueError(f"conv3d: expected x (batch, depth, rows, cols, channels) and a "
                         f"kernel (depth, rows, cols, {xs[-1] if xs else 'in'}, out), got "
                         f"shapes {xs} and {ks}")
    strides = _pair(strides, 3, "conv3d: strides")
    dilation = _pair(dilation_rate, 3, "conv3d: dilation_rate")
    _, d, h, w, c = xs
    od, taps = depth_taps(d, ks[0], strides[0], padding, dilation[0], "conv3d")
    y = None
    for t, planes_in, planes_out in taps:
        planes = ops.reshape(ops.take(x, planes_in, axis=1), (-1, h, w, c))
        part = ops.conv(planes, kernel[t], strides[1:], padding, "channels_last", dilation[1:])
        part = ops.reshape(part, (-1, len(planes_in)) + tuple(ops.shape(part)[1:]))
        # (the planes a tap writes are consecutive)
        part = ops.pad(part, ((0, 0), (int(planes_out[0]), od - 1 - int(planes_out[-1])),
                              (0, 0), (0, 0), (0, 0)))
        y = part if y is None else ops.add(y, part)
    return ops.transpose(y, (0, 4, 1, 2, 3)) if first else y


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1)):
    return ops.separable_conv(x, depthwise_kernel, pointwise_kernel, strides, padding,
                              _image_format(data_format, "separable_conv2d"), dilation_rate)


def pool2d(x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"):
    """Keras 2's: max or average ('avg') pooling of images (a local
    response normalization's ``K.pool2d(squared, (n, n), strides=(1, 1),
    padding="same", pool_mode="avg")``)."""
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"pool2d: pool_mode must be 'max' or 'avg', got {pool_mode!r}")
    if ops.ndim(x) != 4:
        raise ValueError(f"pool2d: expected a 4-D tensor (batch, rows, cols, channels), got "
                         f"shape {ops.shape(x)}")
    pool = ops.max_pool if pool_mode == "max" else ops.average_pool
    return pool(x, pool_size, strides, padding, _image_format(data_format, "pool2d"))


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """Keras 2's: ``(x - mean) / sqrt(var + epsilon) * gamma + beta``
    (beta, gamma may be None); statistics of one value per entry of
    ``axis`` apply along it."""
    rank = len(ops.shape(x))
    axis = axis % rank

    def along(v):
        if v is None or axis == rank - 1 or len(ops.shape(v)) != 1:
            return v
        return ops.reshape(v, [-1 if a == axis else 1 for a in range(rank)])
    mean, var, beta, gamma = (along(v) for v in (mean, var, beta, gamma))
    y = ops.divide(ops.subtract(x, mean), ops.sqrt(ops.add(var, epsilon)))
    if gamma is not None:
        y = ops.multiply(y, gamma)
    return y if beta is None else ops.add(y, beta)


def resize_images(x, height_factor, width_factor, data_format, interpolation="nearest"):
    """Keras 2's: images (batch, rows, cols, channels), or channels first,
    scaled by whole factors with tf.image.resize's ``interpolation``
    ('nearest' repeats each pixel, as UpSampling2D)."""
    from .image import resize
    first = _channels_first(data_format, "resize_images")
    if first:
        x = ops.transpose(x, (0, 2, 3, 1))
    rows, cols = ops.shape(x)[1:3]
    x = resize(x, (int(rows) * int(height_factor), int(cols) * int(width_factor)),
               method=interpolation)
    return ops.transpose(x, (0, 3, 1, 2)) if first else x


def switch(condition, then_expression, else_expression):
    """then_expression where condition holds, else else_expression (either
    may be a function of no arguments); a lower-rank condition applies to
    whole trailing slices."""
    then = then_expression() if callable(then_expression) else then_expression
    other = else_expression() if callable(else_expression) else else_expression
    cond = np.asarray(ops._plain(condition))
    if cond.ndim == 0:
        return then if cond else other
    rank = builtins.max(ops.ndim(then), ops.ndim(other))
    cond = cond.reshape(cond.shape + (1,) * (rank - cond.ndim))
    return ops.where(cond, then, other)


def in_train_phase(x, alt, training=None):
    """x in training (while a layer's call is traced for it), alt
    otherwise (either may be a function of no arguments)."""
    if training is None:
        training = learning_phase()
    chosen = x if training else alt
    return chosen() if callable(chosen) else chosen


def in_test_phase(x, alt, training=None):
    return in_train_phase(alt, x, training)


# ----------------------------------------------------------------- nn

def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Keras 2's relu: ``x`` above ``threshold`` (capped at max_value), and
    ``alpha * (x - threshold)`` below it."""
    if alpha == 0.0 and threshold == 0.0:
        if max_value is None:
            return ops.relu(x)
        if max_value == 6:
            return ops.relu6(x)
    y = ops.multiply(x, ops.greater(ops._plain(x), threshold).astype(np.float32))
    if max_value is not None:
        y = ops.clip(y, 0.0, max_value)
    if alpha != 0.0:
        y = ops.subtract(y, ops.multiply(ops.relu(ops.subtract(threshold, x)), alpha))
    return y


def elu(x, alpha=1.0):
    return ops.elu(x, alpha=alpha)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def softplus(x):
    return ops.softplus(x)


def softsign(x):
    return ops.softsign(x)


def sigmoid(x):
    return ops.sigmoid(x)


def hard_sigmoid(x):
    return ops.hard_sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (not averaged), as Keras 2's."""
    if from_logits:
        return ops.add(ops.subtract(ops.maximum(output, 0.0), ops.multiply(output, target)),
                       ops.log1p(ops.exp(ops.negative(ops.abs(output)))))
    p = ops.clip(output, _EPSILON, 1.0 - _EPSILON)
    return ops.negative(ops.add(ops.multiply(target, ops.log(p)),
                                ops.multiply(ops.subtract(1.0, target),
                                             ops.log(ops.subtract(1.0, p)))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per-sample categorical cross-entropy over ``axis``, as Keras 2's
    (probabilities are rescaled to sum to 1 and clipped)."""
    if from_logits:
        return ops.negative(ops.sum(ops.multiply(target, ops.log_softmax(output, axis=axis)),
                                    axis=axis))
    p = ops.divide(output, ops.sum(output, axis=axis, keepdims=True))
    p = ops.clip(p, _EPSILON, 1.0 - _EPSILON)
    return ops.negative(ops.sum(ops.multiply(target, ops.log(p)), axis=axis))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """categorical_crossentropy against integer labels."""
    out_shape = ops.shape(output)
    labels = np.asarray(ops._plain(target)).reshape(out_shape[:axis % len(out_shape)])
    onehot = ops.one_hot(labels, out_shape[axis], axis=axis)
    return categorical_crossentropy(onehot, output, from_logits=from_logits, axis=axis)


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """Keras 2's CTC loss of each sample, shape (batch, 1): ``y_pred``
    holds softmax probabilities (batch, steps, classes) whose last class is
    the blank; the first ``label_length`` labels of ``y_true`` count, over
    the first ``input_length`` steps (both of shape (batch, 1))."""
    classes = ops.shape(y_pred)[-1]
    labels = np.asarray(ops._plain(y_true))
    if labels.ndim != 2 or labels.dtype.kind not in "biuf":
        raise ValueError(f"ctc_batch_cost: y_true must be labels of shape (batch, "
                         f"max_label_length), got {labels.dtype} of shape {labels.shape}")
    lengths = [np.asarray(ops._plain(n)).reshape(-1) for n in (label_length, input_length)]
    labels, lengths[0] = _ctc_null_terminated(labels.astype(np.int64), lengths[0], classes)
    # Keras 2 takes the log of the probabilities as the logits of TensorFlow's loss.
    loss = ops.ctc_loss(labels, ops.log(ops.add(y_pred, _EPSILON)),
                        lengths[0], lengths[1], mask_index=classes - 1)
    return ops.expand_dims(loss, 1)


def _ctc_null_terminated(labels, label_length, classes):
    """TensorFlow's CTC loss (under Keras 2's ctc_batch_cost) reads a label
    of ``classes - 1`` or more (the blank, or padding such as 99) as the
    end of the sample's labels: the labels before it count, and a real
    label after it is an error.  Gives the labels with everything past
    each sample's end zeroed, and the lengths cut there."""
    labels = labels.copy()
    label_length = np.asarray(label_length, np.int64).copy()
    position = np.arange(labels.shape[1])
    for b, row in enumerate(labels):
        n = int(label_length[b]) if b < len(label_length) else 0
        null = np.flatnonzero(row[:n] >= classes - 1)
        if null.size:
            if np.any(row[null[0]:n] < classes - 1):
                raise ValueError(f"ctc_batch_cost: sample {b} has a label below {classes - 1} "
                                 f"after a null label (one of {classes - 1} or more, which "
                                 f"ends the labels, as in TensorFlow): labels "
                                 f"{row[:n].tolist()}")
            label_length[b] = n = int(null[0])
        row[position >= n] = 0
    return labels, label_length


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1):
    """Keras 2's CTC decoding of softmax probabilities (batch, steps,
    classes), last class the blank: ``(paths, log_probabilities)``, a list
    of ``top_paths`` (one when greedy) arrays (batch, steps) of labels then
    -1, and their scores (batch, top_paths)."""
    probabilities = np.asarray(ops._plain(y_pred), np.float32)
    if probabilities.ndim != 3:
        raise ValueError(f"ctc_decode: y_pred must be probabilities of shape (batch, steps, "
                         f"classes), got shape {probabilities.shape}")
    paths, scores = ops.ctc_decode(np.log(probabilities + _EPSILON),
                                   np.asarray(ops._plain(input_length)).reshape(-1),
                                   strategy="greedy" if greedy else "beam_search",
                                   beam_width=beam_width, top_paths=1 if greedy else top_paths,
                                   mask_index=probabilities.shape[-1] - 1)
    return [p for p in paths], np.asarray(scores).reshape(probabilities.shape[0], -1)


# Keras 2's backend functions, and TensorFlow's names for them at pynn's top
# level (tf.reduce_mean, tf.square, ...), give eager tensors (.numpy(),
# .shape.as_list()) as TensorFlow's did; a value traced on a tape stays traced.
# A plain array given to GradientTape.watch enters them as the tape's leaf
# for it (tf.square(a) after tape.watch(a)): its own NumPy arithmetic cannot
# be recorded, but these calls can.
def _eager_results(f, python_floats=True):
    # (a function whose first argument is a shape, or a list by its
    # contract, keeps a list as it is)
    try:
        first = next(iter(inspect.signature(f).parameters), None)
    except (TypeError, ValueError):
        first = None
    lists = first not in _LIST_PARAMETERS

    def eager_result(*args, **kwargs):
        if python_floats and args:
            args = _python_numbers_as_tensorflows(args, lists)
        record = autodiff.active_tape()
        if getattr(record, "arrays", None):
            args = tuple(_watched_leaves(record, a) for a in args)
        return eager(f(*args, **kwargs))
    return functools.update_wrapper(eager_result, f)


_PYTHON_NUMBERS = (int, float, builtins.bool)


# first parameters that are shapes, or lists of tensors by the function's
# contract (tf.math.polyval's coeffs, tf.clip_by_global_norm's t_list,
# tf.dynamic_stitch's indices, tridiagonal diagonals in the sequence format)
_LIST_PARAMETERS = {"shape", "dims", "start", "num_rows", "size", "window_length",
                    "num_mel_bins", "image_size", "coeffs", "t_list", "indices",
                    "diagonals"}


def _python_numbers_as_tensorflows(args, lists):
    """The arguments with Python numbers as TensorFlow converts them
    (NumPy would make floats float64 and ints int64): the data argument
    (the first; ``lists``: not a shape or a list by contract) when it is a
    list of Python numbers, as a float32 (with a float) or int32 array;
    each float, as float32, when every argument is a Python number
    (tf.round(2.5), tf.range(0.0, 1.0, 0.25))."""
    first = args[0]
    if type(first) in (list, tuple):
        if not lists:
            return args
        from .tensor import _python_leaves
        leaves = _python_leaves(first, [])
        if not leaves or not builtins.all(type(v) in _PYTHON_NUMBERS for v in leaves):
            return args
        dtype = tf_default_dtype(first)
        if dtype.kind == "b":
            return args
        try:
            return (np.array(first, dtype=dtype),) + args[1:]
        except ValueError:  # (lists of several lengths: a list of tensors)
            return args
    if builtins.any(type(a) is float for a in args) and builtins.all(
            type(a) in _PYTHON_NUMBERS or a is None or isinstance(a, str) for a in args):
        return tuple(np.asarray(a, np.float32) if type(a) is float else a for a in args)
    return args


def _watched_leaves(record, x):
    if type(x) is np.ndarray:
        return record.operand(x)
    if type(x) in (list, tuple):
        return type(x)(_watched_leaves(record, v) for v in x)
    return x


globals()["constant"] = _eager_results(constant, python_floats=False)  # (K.constant(0.1, "float64"))
for _name in ("zeros", "ones", "eye", "zeros_like", "ones_like", "cast", "arange",
              "random_normal", "random_uniform", "truncated_normal", "random_binomial",
              "sum", "prod", "mean", "max", "min", "var", "std", "any", "all", "argmax",
              "argmin", "cumsum", "logsumexp", "square", "abs", "sqrt", "exp", "log", "round",
              "sign", "pow", "clip", "equal", "not_equal", "greater", "greater_equal", "less",
              "less_equal", "maximum", "minimum", "sin", "cos", "dot", "batch_dot", "matmul",
              "transpose", "permute_dimensions", "l2_normalize", "reshape", "expand_dims",
              "squeeze", "flatten", "batch_flatten", "concatenate", "stack", "tile", "gather",
              "one_hot", "reverse"):
    globals()[_name] = _eager_results(globals()[_name])
del _name


# ------------------------------------------------- Keras 2's graph mode
# Keras 2 programs (filter visualization, Grad-CAM, DeepDream, neural style
# transfer) build a loss from a model's symbolic tensors, ask K.gradients
# for its gradient with respect to the model's input or a layer's output,
# and compile both with K.function.  Here a gradient is a symbolic tensor
# made by a Gradient node; K.function runs the graph of its outputs node by
# node under a GradientTape, the fed inputs watched, so every intermediate
# value is on the tape and a Gradient node is that tape's gradient of its
# loss with respect to its source: exact, and ops on it (grads / norm) are
# ordinary nodes evaluated after it.

class LearningPhase(int):
    """K.learning_phase()'s value: 0 or 1, and, among K.function's inputs,
    the slot that feeds ``training`` (``f([x, 0])``), as Keras 2's
    placeholder did."""

    def __repr__(self):
        return f"LearningPhase({int(self)})"


_learning_phase = None  # what set_learning_phase chose (None: not set)


def learning_phase():
    """1 while a layer's call is being traced for training, else 0 (or
    what set_learning_phase chose)."""
    if _learning_phase is not None:
        return LearningPhase(_learning_phase)
    return LearningPhase(int(autodiff.active_tape() is not None))


def set_learning_phase(value):
    """Keras 2's: the mode K.function runs its graph in when no learning
    phase is fed (0: inference, Dropout off, BatchNormalization on its
    moving statistics; 1: training), and learning_phase()'s value."""
    global _learning_phase
    if value not in (0, 1):
        raise ValueError(f"set_learning_phase: the learning phase is 0 (test) or 1 (train), "
                         f"got {value!r}")
    _learning_phase = int(value)


def placeholder(shape=None, ndim=None, dtype=None, sparse=False, name=None):
    """A symbolic input of ``shape`` (the batch axis included, None where
    free), as Keras 2's: feed it to a K.function, or build a model on it."""
    from .layers import Input
    if shape is None:
        if ndim is None:
            raise ValueError("placeholder: give shape or ndim")
        shape = (None,) * int(ndim)
    if sparse:
        raise ValueError("placeholder: pynn has no sparse tensors (sparse=True)")
    return Input(batch_shape=tuple(shape), dtype=dtype or "float32", name=name)


def _gradient_layer():
    from .layers.base import Layer

    class Gradient(Layer):
        """The gradient of a loss with respect to a symbolic tensor or a
        weight, as a node of the graph: K.function computes it."""

        def __init__(self, source, **kwargs):
            super().__init__(**kwargs)
            self.__dict__["_source"] = source

        def call(self, inputs):
            raise TypeError(f"{self.name}: a gradient made by K.gradients is computed by "
                            f"K.function(inputs, outputs), not by a Model")
    return Gradient


_Gradient = None


def _ancestors(tensor):
    """The symbolic tensors ``tensor`` is computed from (itself included)."""
    from .models.node import KerasTensor
    seen, stack, out = set(), [tensor], []
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        out.append(t)
        node = t.node
        if node is not None:
            stack.extend(node.input_tensors)
            layer = node.operation
            if isinstance(getattr(layer, "__dict__", {}).get("_source"), KerasTensor):
                stack.append(layer.__dict__["_source"])
    return out


def _weight_reads(tensor):
    """The weights the layers that compute ``tensor`` hold."""
    ids = set()
    for t in _ancestors(tensor):
        if t.node is not None:
            ids.update(id(w) for w in t.node.operation.weights)
    return ids


def gradients(loss, variables):
    """Keras 2's K.gradients: the gradient of ``loss`` (a symbolic tensor
    built from a model's tensors; a non-scalar loss counts as its sum) with
    respect to each of ``variables`` (the model's input, a layer's output,
    a placeholder or a weight), as symbolic tensors for K.function; None
    for one the loss does not depend on, as TensorFlow gave."""
    global _Gradient
    from .layers.base import Weight, unique_name
    from .models.node import KerasTensor, Node
    if not isinstance(loss, KerasTensor):
        raise TypeError(f"gradients: the loss must be a symbolic tensor built from a model's "
                        f"tensors (model.output, layer.output, K.placeholder), got "
                        f"{type(loss).__name__}")
    if _Gradient is None:
        _Gradient = _gradient_layer()
    single = not isinstance(variables, (list, tuple))
    out = []
    ancestors = {id(t) for t in _ancestors(loss)}
    for v in [variables] if single else variables:
        if isinstance(v, KerasTensor):
            connected = id(v) in ancestors
            shape = v.shape
        elif isinstance(v, Weight):
            connected = id(v) in _weight_reads(loss)
            shape = tuple(v.shape)
        else:
            raise TypeError(f"gradients: a variable must be a symbolic tensor (model.input, "
                            f"layer.output, K.placeholder) or a weight, got "
                            f"{type(v).__name__}")
        if not connected:
            out.append(None)
            continue
        g = KerasTensor(shape, "float32", name=unique_name("gradients"))
        Node(_Gradient(v, name=g.name), [loss], [g])
        out.append(g)
    return out


class Function:
    """What K.function returns: called on a list of arrays (one per input,
    the learning phase 0/1 among them where it was an input), it returns
    the outputs' values as a list of arrays and applies ``updates``."""

    def __init__(self, inputs, outputs, updates=None, name=None):
        from .models.node import KerasTensor
        self._single_input = not isinstance(inputs, (list, tuple))
        self.inputs = [inputs] if self._single_input else list(inputs)
        self._single_output = not isinstance(outputs, (list, tuple))
        self.outputs = [outputs] if self._single_output else list(outputs)
        self.updates = [tuple(u) for u in (updates or [])]
        self.name = name
        for i, t in enumerate(self.inputs):
            if not isinstance(t, (KerasTensor, LearningPhase)):
                raise TypeError(f"K.function: input {i} must be a symbolic tensor "
                                f"(model.input, K.placeholder) or K.learning_phase(), got "
                                f"{type(t).__name__}")
        for u in self.updates:
            if len(u) != 2:
                raise ValueError(f"K.function: an update is a pair (variable, new value), "
                                 f"got {u!r}")
        targets = [t for t in self.outputs + [u[1] for u in self.updates]
                   if isinstance(t, KerasTensor)]
        self._nodes = self._schedule(targets)

    def _schedule(self, targets):
        """The nodes that compute ``targets`` from the inputs, in order."""
        fed = {id(t) for t in self.inputs}
        order, done = [], set()

        def visit(t):
            if id(t) in fed:
                return
            node = t.node
            if node is None or node.is_input:
                raise ValueError(f"K.function: an output depends on {t.name!r} "
                                 f"(shape {t.shape}), which is not among the inputs "
                                 f"{[getattr(i, 'name', 'learning_phase') for i in self.inputs]}")
            if id(node) in done:
                return
            done.add(id(node))
            for parent in node.input_tensors:
                visit(parent)
            source = node.operation.__dict__.get("_source")
            if source is not None and hasattr(source, "node"):
                visit(source)
            order.append(node)
        for t in targets:
            visit(t)
        return order

    def __call__(self, inputs):
        from .tape import GradientTape
        values = [inputs] if self._single_input or not isinstance(inputs, (list, tuple)) \
            else list(inputs)
        if len(values) != len(self.inputs):
            raise ValueError(f"K.function: expected {len(self.inputs)} input value(s), got "
                             f"{len(values)}")
        training = bool(learning_phase()) if _learning_phase is not None else False
        vals = {}
        with GradientTape(persistent=True) as tape:
            for t, v in zip(self.inputs, values):
                if isinstance(t, LearningPhase):
                    training = bool(int(np.asarray(v)))
                    continue
                a = np.asarray(ops._plain(v))
                if t.dtype.startswith("float"):
                    a = tape.watch(np.array(a, dtype=np.float32, order="C"))
                elif t.dtype != "string":
                    a = a.astype(t.dtype)
                vals[id(t)] = a
            for node in self._nodes:
                self._run(node, vals, tape, training)
        results = [self._value(t, vals) for t in self.outputs]
        for variable, new in self.updates:
            set_value(variable, self._value(new, vals))
        return results[0] if self._single_output else results

    @staticmethod
    def _run(node, vals, tape, training):
        from .layers.base import Weight
        layer = node.operation
        xs = [vals[id(t)] for t in node.input_tensors]
        source = layer.__dict__.get("_source")
        if _Gradient is not None and isinstance(layer, _Gradient):
            wrt = source if isinstance(source, Weight) else vals[id(source)]
            g = tape.gradient(xs[0], wrt)
            if g is None:  # (connected through integer or boolean steps only)
                g = np.zeros(np.shape(autodiff._val(autodiff.value_of(wrt))), np.float32)
            vals[id(node.output_tensors[0])] = np.asarray(autodiff._val(g), np.float32)
            return
        if node.input_structure is not None:
            x = dict(zip(node.input_structure, xs))
        else:
            x = xs[0] if node.single_input else xs
        step_training = False if node.training is False else (training or bool(node.training))
        # masks travel as in a model's run (an Embedding's mask_zero to the
        # LSTM after it): each node gets its inputs' masks, and its
        # layer's compute_mask gives its outputs'
        masks = [vals.get(("mask", id(t))) for t in node.input_tensors]
        m = None if builtins.all(v is None for v in masks) else \
            masks[0] if node.single_input else masks
        if m is None:
            y = layer(x, training=step_training, **node.call_args)
        else:
            y = layer(x, training=step_training, mask=m, **node.call_args)
        ys = [y] if node.single_output else list(y)
        for t, v in zip(node.output_tensors, ys):
            vals[id(t)] = v
        if builtins.any(t._has_mask for t in node.output_tensors):
            from .models.node import CallContext
            ctx = CallContext()
            ctx.mask = m
            plain = [np.asarray(autodiff._val(autodiff.resolve(v))) for v in xs]
            out = layer.compute_mask(ctx, plain[0] if node.single_input else plain, m)
            outs = out if isinstance(out, (list, tuple)) else [out] * len(ys)
            for t, mask in zip(node.output_tensors, outs):
                vals[("mask", id(t))] = mask

    @staticmethod
    def _value(t, vals):
        from .models.node import KerasTensor
        if isinstance(t, KerasTensor):
            return np.array(autodiff._val(autodiff.resolve(vals[id(t)])))
        return get_value(t)


def function(inputs, outputs, updates=None, name=None, **kwargs):
    """Keras 2's K.function: ``f = K.function([model.input], [loss, grads])``
    then ``loss_value, grads_value = f([x])``.  The outputs may be any
    symbolic tensors built from the inputs: layer outputs, K.gradients'
    results and the backend functions and operators applied to them."""
    if kwargs:
        raise TypeError(f"K.function: unexpected argument(s) {', '.join(sorted(kwargs))}")
    return Function(inputs, outputs, updates=updates, name=name)
