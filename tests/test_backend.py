"""The thread runtime's settings at import: pynn bounds how long idle
OpenMP threads spin, unless the user chose, and leaves the environment of
the process (and so of its children) as it found it."""
import os
import subprocess
import sys

import pytest

CHECK = ("import os, pynn; "
         "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('KMP_BLOCKTIME'), "
         "pynn.get_num_threads())")


def run(env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_wait_settings_do_not_stay_in_the_environment():
    assert run({})[:2] == ["None", "None"]


@pytest.mark.parametrize("name, value", [("GOMP_SPINCOUNT", "5"), ("KMP_BLOCKTIME", "7")])
def test_the_users_wait_setting_is_kept(name, value):
    got = dict(zip(["GOMP_SPINCOUNT", "KMP_BLOCKTIME"], run({name: value})[:2]))
    assert got[name] == value


def test_omp_num_threads_still_sets_the_thread_count():
    assert run({"OMP_NUM_THREADS": "1"})[2] == "1"
    assert run({"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "active"})[2] == "3"
