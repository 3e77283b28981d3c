"""Where kernels run: the CPU's SIMD level, the thread count, the build."""
import os
import sys
import sysconfig

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
        "cuda": False,
    }


def show_config():
    """Print the compiler, OpenMP, the SIMD level chosen and the thread count."""
    for k, v in config().items():
        print(f"{k:>10}: {v}")
