"""Build of pynn's C kernels and their Cython bridge.

The extension is compiled for baseline x86-64 with -O3 and OpenMP; the AVX2/FMA
kernels carry target attributes and are picked at import from the CPU's
features (csrc/cpu.c), so one wheel runs on any x86-64 machine.
"""
import glob
import os
import sys

import numpy
from setuptools import Extension, setup
from Cython.Build import cythonize

debug = os.environ.get("PYNN_DEBUG") == "1"
compile_args = ["-std=gnu11", "-fopenmp", "-Wall", "-Wno-unused-function",
                "-Wno-unknown-pragmas"]
compile_args += ["-O0", "-g"] if debug else ["-O3", "-DNDEBUG"]
# The kernels never read errno; without this, sqrtf and friends keep a
# library call for the error case and their loops do not vectorize.
compile_args += ["-fno-math-errno"]
link_args = ["-fopenmp"]
if sys.platform == "darwin":  # Apple clang needs libomp
    compile_args = [a.replace("-fopenmp", "-Xpreprocessor -fopenmp") for a in compile_args]
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
