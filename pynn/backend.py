"""Where kernels run: the CPU's SIMD level, the thread count, the build."""
import sys
import sysconfig

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
