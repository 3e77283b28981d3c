"""Where kernels run: the CPU's SIMD level, the thread count, the build, and
the device models are placed on (the CPU, or a GPU through the optional
CUDA module)."""
import os
import re
import sys
import sysconfig
import threading

from . import _kernels


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

_scopes = threading.local()


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
        stack = getattr(_scopes, "stack", None)
        if stack is None:
            stack = _scopes.stack = []
        stack.append(self.name)
        return self

    def __exit__(self, *exc):
        _scopes.stack.pop()
        return False

    def __repr__(self):
        return f"pynn.device({self.name!r})"


def current_device():
    """The innermost ``pynn.device`` scope of this thread ('cpu' or
    'gpu:N'), or None outside any."""
    stack = getattr(_scopes, "stack", None)
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
