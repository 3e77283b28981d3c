"""The CUDA tests on a machine without a GPU: pynn._cuda built against the
CPU emulator of the CUDA runtime (tests/cuda/emulator), and
tests/cuda/test_gpu.py run on it in a subprocess.  The kernels' indexing,
bounds (an unmapped page follows every device allocation), barriers (the
threads of a block run in order, so a missing __syncthreads reads stale
shared memory) and the whole device path above them (pynn.cuda, the
dispatch in pynn.ops, placement, training) are checked; what only a GPU
shows (the tensor cores, speed, the memory model between warps) waits for
one."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_cuda_suite_on_the_emulator():
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import emulated_build
    finally:
        sys.path.pop(0)
    module = emulated_build.build()
    env = dict(os.environ, PYNN_TEST_CUDA_MODULE=str(module), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-x",
                          "-p", "no:cacheprovider", "-m", "not slow",
                          str(ROOT / "tests" / "cuda" / "test_gpu.py")],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=1500)
    tail = out.stdout[-4000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    passed = int(re.search(r"(\d+) passed", out.stdout).group(1))
    assert passed > 300, tail
