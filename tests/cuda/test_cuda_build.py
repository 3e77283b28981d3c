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


# The build's own tests need the source tree (setup.py, csrc/); the suite
# also runs against an installed wheel, outside it.
in_source_tree = pytest.mark.skipif(not (ROOT / "setup.py").exists(),
                                    reason="needs the source tree (setup.py)")


def load_setup():
    """setup.py as a module (its setup() call runs only as a script)."""
    spec = importlib.util.spec_from_file_location("pynn_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@in_source_tree
def test_nvcc_built_the_extension_from_the_current_sources():
    """Where nvcc is, the build (make build / pip install) compiles every
    .cu file for sm_80, sm_90 and PTX with every warning an error (a
    warning or an error leaves the extension out, or stale): pynn._cuda
    exists, is newer than its sources, and imports without a GPU or
    driver; pynn.cuda then says why no GPU can be used."""
    from pynn import _cuda
    built = os.path.getmtime(_cuda.__file__)
    sources = list((ROOT / "csrc" / "cuda").glob("*")) + [ROOT / "pynn" / "_cuda.pyx"]
    stale = [p.name for p in sources if p.stat().st_mtime > built]
    assert not stale, f"pynn._cuda is older than {stale}: rebuild (make build)"
    count, reason = _cuda.probe()
    if count == 0:
        assert reason and not pynn.cuda.is_available()
        assert "no usable NVIDIA GPU" in pynn.cuda.unavailable_reason()
    else:
        assert pynn.cuda.is_available()


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@in_source_tree
def test_nvcc_flags_make_warnings_errors(tmp_path):
    """The flags setup.py compiles with turn an nvcc warning into an error
    (a kernel file that compiles under them has none)."""
    setup = load_setup()
    bad = tmp_path / "warns.cu"
    bad.write_text("__global__ void k(float *x) { int unused; x[0] = 1.0f; }\n")
    out = subprocess.run([NVCC, *setup.NVCC_FLAGS, "-arch=sm_80", "-c", str(bad), "-o",
                          str(tmp_path / "w.o")], capture_output=True, text=True)
    assert out.returncode != 0 and "unused" in out.stdout + out.stderr


@in_source_tree
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
@in_source_tree
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
