"""The optional CUDA extension's build: nvcc compiles the kernels where it
is installed, PYNN_CUDA=0/1 skip or require it, and pynn imports and runs
on the CPU whether or not the extension and a GPU are there."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pynn

ROOT = Path(__file__).resolve().parents[2]
NVCC = shutil.which("nvcc")


def load_setup():
    """setup.py as a module (its setup() call runs only as a script)."""
    spec = importlib.util.spec_from_file_location("pynn_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("source", sorted(p.name for p in (ROOT / "csrc" / "cuda").glob("*.cu")))
def test_nvcc_compiles_each_kernel_file_without_warnings(source, tmp_path):
    """For the architectures the extension ships (sm_80, sm_90 and PTX),
    with every warning an error, as setup.py builds them."""
    setup = load_setup()
    out = subprocess.run([NVCC, *setup.NVCC_FLAGS, *setup.CUDA_ARCHS, "-I", "csrc/cuda", "-c",
                          f"csrc/cuda/{source}", "-o", str(tmp_path / "k.o")], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "k.o").stat().st_size > 0


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_the_built_extension_imports_without_a_gpu():
    """make build compiled pynn._cuda (nvcc is here); importing it needs no
    GPU or driver, and pynn.cuda says why none can be used."""
    from pynn import _cuda
    count, reason = _cuda.probe()
    if count == 0:
        assert reason and not pynn.cuda.is_available()
        assert "no usable NVIDIA GPU" in pynn.cuda.unavailable_reason()
    else:
        assert pynn.cuda.is_available()


def test_pynn_cuda_0_skips_the_extension_and_1_requires_nvcc(monkeypatch):
    setup = load_setup()
    monkeypatch.setenv("PYNN_CUDA", "0")
    assert setup.cuda_extension() is None
    monkeypatch.setenv("PYNN_CUDA", "1")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CUDA_HOME", raising=False)
    with pytest.raises(SystemExit, match="PYNN_CUDA=1: nvcc"):
        setup.cuda_extension()
    monkeypatch.delenv("PYNN_CUDA")
    assert setup.cuda_extension() is None  # by default: built where nvcc is, else not


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_the_extension_is_configured_for_the_static_runtime(monkeypatch):
    monkeypatch.delenv("PYNN_CUDA", raising=False)
    ext = load_setup().cuda_extension()
    assert ext is not None and ext.name == "pynn._cuda"
    assert "cudart_static" in ext.libraries
    assert sorted(os.path.basename(s) for s in ext.cu_sources) == \
        sorted(p.name for p in (ROOT / "csrc" / "cuda").glob("*.cu"))


def test_pynn_runs_without_the_cuda_extension():
    """A build without pynn._cuda (PYNN_CUDA=0, no nvcc): pynn imports,
    trains on the CPU, and show_config says why there is no GPU."""
    code = (
        "import sys\n"
        "sys.modules['pynn._cuda'] = None  # as if it had not been built\n"
        "import numpy as np, pynn\n"
        "assert not pynn.cuda.is_available()\n"
        "assert 'built without its CUDA extension' in pynn.backend.config()['cuda']\n"
        "m = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(2)])\n"
        "m.compile('sgd', 'mse')\n"
        "m.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)\n"
        "pynn.show_config()\n")
    env = dict(os.environ)
    env.pop("PYNN_DEVICE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "cuda: unavailable: pynn was built without its CUDA extension" in out.stdout
    assert "device: cpu" in out.stdout
