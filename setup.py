"""Build of pynn's C kernels and their Cython bridge.

The extension is compiled for the baseline of the target (x86-64, aarch64)
with -O3 and OpenMP; on x86 the AVX2/FMA and AVX-512 kernels carry target
attributes and are picked at import from the CPU's features (csrc/cpu.c), so
one wheel runs on any x86-64 machine; elsewhere the portable kernels are
built (every x86 intrinsic sits behind #if defined(__x86_64__) ||
defined(__i386__); `make portable` checks it).
"""
import glob
import os
import sys

import numpy
from setuptools import Extension, setup
from Cython.Build import cythonize

debug = os.environ.get("PYNN_DEBUG") == "1"
# PYNN_SANITIZE=1 (make sanitize) instruments the kernels and the bridge
# with AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer"] if os.environ.get("PYNN_SANITIZE") == "1" else []
compile_args = ["-std=gnu11", "-fopenmp", "-Wall", "-Wno-unused-function",
                "-Wno-unknown-pragmas"]
compile_args += ["-O0", "-g"] if debug else ["-O1", "-g"] if sanitize else ["-O3", "-DNDEBUG"]
compile_args += sanitize
# The kernels never read errno; without this, sqrtf and friends keep a
# library call for the error case and their loops do not vectorize.
compile_args += ["-fno-math-errno"]
# Short copy and fill loops (a 3-float row of an unrolled image patch) stay
# loops: turned into memcpy/memset calls they cost more than they move.
compile_args += ["-fno-tree-loop-distribute-patterns"]
link_args = ["-fopenmp"] + sanitize
if sys.platform == "darwin":  # Apple clang needs libomp (CFLAGS/LDFLAGS say where it is)
    compile_args = [a for a in compile_args if a != "-fopenmp"] + ["-Xpreprocessor", "-fopenmp"]
    link_args = ["-lomp"]

kernels = Extension(
    "pynn._kernels",
    sources=["pynn/_kernels.pyx"] + sorted(glob.glob("csrc/*.c")),
    depends=glob.glob("csrc/*.h"),
    include_dirs=["csrc", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

setup(ext_modules=cythonize([kernels], language_level=3))
