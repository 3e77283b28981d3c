"""Builds pynn._cuda against the CPU emulator of the CUDA runtime
(tests/cuda/emulator), so the CUDA kernels, the bridge and everything above
them run on a machine without a GPU.

    python tests/cuda/emulated_build.py [build folder]

prints the path of the built extension.  The CUDA tests run on it when
PYNN_TEST_CUDA_MODULE names that path (tests/conftest.py loads it as
pynn._cuda before pynn is imported); tests/cuda/test_emulated.py does this
in a subprocess.  Builds are cached by a digest of their sources.
"""
import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "tests" / "cuda" / "emulator"


def sources():
    return sorted((ROOT / "csrc" / "cuda").glob("*.cu")) + \
        sorted((ROOT / "csrc" / "cuda").glob("*.cuh")) + \
        sorted((ROOT / "csrc" / "cuda").glob("*.h")) + [ROOT / "csrc" / "pynn.h",
                                                        ROOT / "pynn" / "_cuda.pyx",
                                                        EMULATOR / "emulator.cpp"] + \
        sorted((EMULATOR / "include").glob("*.h"))


def digest():
    h = hashlib.sha256()
    for p in sources():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build(folder=None):
    """The path of the emulated extension, built if not cached."""
    import numpy
    parent = Path(folder or ROOT / "build" / "cuda-emulated")
    folder = parent / digest()
    target = folder / ("_cuda" + sysconfig.get_config_var("EXT_SUFFIX"))
    if target.exists():
        return target
    for old in parent.glob("*"):  # builds of older sources
        if old.is_dir() and old != folder:
            shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    include = ["-I", str(EMULATOR / "include"), "-I", str(ROOT / "csrc" / "cuda"),
               "-I", str(ROOT / "csrc")]
    c_source = folder / "_cuda.c"
    subprocess.run([sys.executable, "-m", "cython", "-3", str(ROOT / "pynn" / "_cuda.pyx"),
                    "-o", str(c_source)], check=True)
    jobs = [["gcc", "-O1", "-fPIC", "-w", *include, "-I", sysconfig.get_paths()["include"],
             "-I", numpy.get_include(), "-DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION",
             "-c", str(c_source), "-o", str(folder / "_cuda.o")],
            ["g++", "-std=c++17", "-O1", "-fPIC", "-Wall", *include, "-c",
             str(EMULATOR / "emulator.cpp"), "-o", str(folder / "emulator.o")]]
    for cu in sorted((ROOT / "csrc" / "cuda").glob("*.cu")):
        jobs.append(["g++", "-x", "c++", "-std=c++17", "-O2", "-fPIC", "-Wall", "-Wextra",
                     "-Werror", *include, "-c", str(cu), "-o", str(folder / (cu.name + ".o"))])
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for job in pool.map(lambda cmd: subprocess.run(cmd, capture_output=True, text=True),
                            jobs):
            if job.returncode:
                raise RuntimeError(f"{' '.join(job.args)}\n{job.stdout}{job.stderr}")
    objects = [str(p) for p in sorted(folder.glob("*.o"))]
    partial = target.with_suffix(".partial")
    subprocess.run(["g++", "-shared", "-o", str(partial), *objects], check=True)
    partial.rename(target)
    return target


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else None))
