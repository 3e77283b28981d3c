"""Build of pynn's C kernels and their Cython bridge.

The extension is compiled for the baseline of the target (x86-64, aarch64)
with -O3 and OpenMP; on x86 the AVX2/FMA and AVX-512 kernels carry target
attributes and are picked at import from the CPU's features (csrc/cpu.c), so
one wheel runs on any x86-64 machine; elsewhere the portable kernels are
built (every x86 intrinsic sits behind #if defined(__x86_64__) ||
defined(__i386__); `make portable` checks it).

The optional CUDA kernels (csrc/cuda/*.cu) are compiled by nvcc into a second
extension, pynn._cuda, when nvcc is found: for sm_80 and sm_90, with PTX that
newer GPUs compile at load, linked to the static CUDA runtime (so importing
it needs no CUDA library; the driver is looked up when a GPU is first asked
for).  PYNN_CUDA=0 skips it; PYNN_CUDA=1 makes a missing nvcc or a failed
CUDA build an error (by default the build goes on without it).
"""
import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
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

# ------------------------------------------------------------------ CUDA

CUDA_ARCHS = ["-gencode", "arch=compute_80,code=sm_80",
              "-gencode", "arch=compute_90,code=sm_90",
              "-gencode", "arch=compute_90,code=compute_90"]
NVCC_FLAGS = ["-std=c++17", "-O3", "-Xcompiler", "-fPIC,-Wall", "-Werror", "all-warnings"]


def cuda_home(nvcc):
    """The CUDA toolkit's folder (include/cuda_runtime.h) for this nvcc."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
                  os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))]
    try:  # a wrapper script: nvcc names its own folder
        out = subprocess.run([nvcc, "--dryrun", "-c", "x.cu"], capture_output=True, text=True,
                             timeout=60).stderr
        candidates += [line.split("TOP=", 1)[1].strip()
                       for line in out.splitlines() if "TOP=" in line]
    except (OSError, subprocess.SubprocessError):
        pass
    candidates.append("/usr/local/cuda")
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "include", "cuda_runtime.h")):
            return os.path.normpath(c)
    return None


class BuildExt(build_ext):
    """Compiles the .cu files of the CUDA extension with nvcc first; a
    failure drops that extension unless PYNN_CUDA=1 asked for it."""

    def build_extension(self, ext):
        if ext.name != "pynn._cuda":
            return super().build_extension(ext)
        try:
            # nvcc compiles one file at a time for three architectures: the
            # files go in parallel, and an object newer than its source and
            # every header it may include is kept.
            headers = glob.glob("csrc/cuda/*.cuh") + glob.glob("csrc/cuda/*.h") + ["csrc/pynn.h"]
            newest_header = max(os.path.getmtime(h) for h in headers)
            jobs, objects = [], []
            for src in ext.cu_sources:
                obj = os.path.join(self.build_temp, src + ".o")
                os.makedirs(os.path.dirname(obj), exist_ok=True)
                objects.append(obj)
                if (not self.force and os.path.exists(obj) and os.path.getmtime(obj) >
                        max(os.path.getmtime(src), newest_header)):
                    continue
                jobs.append([ext.nvcc, *NVCC_FLAGS, *CUDA_ARCHS, "-Icsrc/cuda", "-c", src,
                             "-o", obj])
            with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                for cmd in jobs:
                    print(" ".join(cmd))
                list(pool.map(lambda cmd: subprocess.run(cmd, check=True), jobs))
            ext.extra_objects = objects
            super().build_extension(ext)
        except (OSError, subprocess.CalledProcessError) as e:
            if os.environ.get("PYNN_CUDA") == "1":
                raise
            print(f"warning: the CUDA extension pynn._cuda was not built ({e}); pynn works "
                  f"on the CPU", file=sys.stderr)


def cuda_extension():
    """The pynn._cuda extension, or None (PYNN_CUDA=0, or no nvcc)."""
    want = os.environ.get("PYNN_CUDA", "")
    if want == "0":
        return None
    nvcc = shutil.which("nvcc")
    home = cuda_home(nvcc) if nvcc else None
    if home is None:
        if want == "1":
            sys.exit("PYNN_CUDA=1: nvcc and the CUDA toolkit (include/cuda_runtime.h) were not "
                     "found; put nvcc on PATH or set CUDA_HOME")
        return None
    lib = os.path.join(home, "lib64")
    ext = Extension(
        "pynn._cuda",
        sources=["pynn/_cuda.pyx"],
        depends=glob.glob("csrc/cuda/*") + ["csrc/pynn.h"],
        include_dirs=["csrc/cuda", "csrc", os.path.join(home, "include"), numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
        library_dirs=[lib],
        libraries=["cudart_static", "dl", "rt", "pthread", "stdc++"],
    )
    ext.cu_sources = sorted(glob.glob("csrc/cuda/*.cu"))
    ext.nvcc = nvcc
    return ext


if __name__ == "__main__":  # (as pip's build backend and `python setup.py` run it)
    extensions = [kernels]
    cuda = cuda_extension()
    if cuda is not None:
        extensions.append(cuda)
    built = cythonize(extensions, language_level=3)
    for ext in built:  # cythonize makes new Extension objects: carry the nvcc settings over
        if cuda is not None and ext.name == cuda.name:
            ext.cu_sources, ext.nvcc = cuda.cu_sources, cuda.nvcc
    setup(ext_modules=built, cmdclass={"build_ext": BuildExt})
