"""Runs the property tests of tests/fuzz in child processes: an input that
crashes the interpreter (a segfault, an abort, a floating-point trap) fails
its module here, with the signal and the child's output, instead of killing
the whole run.  ``make fuzz`` runs the same modules with many more
examples (PYNN_FUZZ_PROFILE=fuzz)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"
MODULES = sorted(p.name for p in FUZZ.glob("test_*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_properties_in_a_child_process(module):
    env = dict(os.environ, PYNN_FUZZ_CHILD="1")
    env.setdefault("PYNN_FUZZ_PROFILE", "ci")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-x", "--tb=short", str(FUZZ / module)], cwd=FUZZ.parent.parent,
                       env=env, capture_output=True, text=True, timeout=1800)
    out = (r.stdout + r.stderr)[-8000:]
    if r.returncode < 0:
        pytest.fail(f"{module}: the child process died of "
                    f"{signal.Signals(-r.returncode).name}:\n{out}")
    assert r.returncode == 0, out
