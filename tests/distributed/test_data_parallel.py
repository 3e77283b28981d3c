"""Data-parallel training over MPI: with 2 and 3 processes, an epoch ends at
the weights one process reaches on the same global batches; a process that
raises stops the job; a job killed mid-epoch and restarted with
BackupAndRestore ends where an uninterrupted one does."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from mpi_launch import HAVE_MPI, MPIEXEC

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "train_job.py")

# Several processes training on two cores: run once, in the first pass.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not HAVE_MPI, reason="mpiexec or mpi4py is not installed "
                                                      "(pip install 'pynn[mpi]')")]


def run(args, ranks=None, env=None, timeout=300):
    env = dict(os.environ, PYNN_OFFLINE="1", OMP_NUM_THREADS="1", **(env or {}))
    cmd = [sys.executable, JOB] + [str(a) for a in args]
    if ranks is not None:
        cmd = [MPIEXEC, "-n", str(ranks)] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def weights(path):
    with np.load(path, allow_pickle=False) as f:
        return [f[k] for k in sorted(f.files) if k.startswith("arr_")], f["history"]


def mean_io_u(path):
    with np.load(path, allow_pickle=False) as f:
        return f["mean_io_u"]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """Each configuration trained by one process, once."""
    cache = {}

    def get(kind, opt, data):
        key = (kind, opt, data)
        if key not in cache:
            path = tmp_path_factory.mktemp("single") / "w.npz"
            out = run([path, kind, opt, data])
            assert out.returncode == 0, out.stderr[-3000:]
            cache[key] = weights(path), mean_io_u(path)
        return cache[key]
    return get


@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("kind, opt, data", [
    ("mlp", "sgd", "arrays"), ("mlp", "rmsprop", "arrays"), ("mlp", "adam", "generator"),
    ("cnn", "adam", "arrays"), ("cnn", "sgd", "generator"), ("bn", "rmsprop", "arrays"),
    ("mlp", "adam", "own"), ("cnn", "sgd", "own"),
])
def test_same_weights_as_one_process(ranks, kind, opt, data, single, tmp_path):
    path = tmp_path / "w.npz"
    out = run([path, kind, opt, data], ranks=ranks)
    assert out.returncode == 0, out.stderr[-3000:]
    got, loss = weights(path)
    (want, want_loss), want_io_u = single(kind, opt, data)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    # the epoch's confusion matrix, summed over the processes
    np.testing.assert_allclose(mean_io_u(path), want_io_u, rtol=1e-5)


def test_a_process_that_raises_stops_the_job(tmp_path):
    t = time.monotonic()
    out = run([tmp_path / "w.npz", "mlp", "sgd", "arrays", 3], ranks=2,
              env={"RAISE_ON_RANK": "1"}, timeout=120)
    assert out.returncode != 0
    assert time.monotonic() - t < 30
    assert "process 1 of 2" in out.stderr and "a data error on this process" in out.stderr


def test_processes_bringing_different_numbers_of_batches_are_told(tmp_path):
    # auto_shard_dataset=False with a process one batch short: every step's
    # sum would wait for it, so fit refuses at the start, naming the counts
    t = time.monotonic()
    out = run([tmp_path / "w.npz", "mlp", "sgd", "own"], ranks=2, env={"SHORT_ON_RANK": "1"},
              timeout=120)
    assert out.returncode != 0
    assert time.monotonic() - t < 30
    assert "same number of batches per epoch" in out.stderr and "15, 14" in out.stderr


@pytest.mark.parametrize("ranks, save_freq", [(None, "0"), (None, "4"), (2, "0")])
def test_killed_job_resumes_to_the_same_weights(ranks, save_freq, tmp_path):
    env = {"SAVE_FREQ": save_freq}
    whole = tmp_path / "whole.npz"
    out = run([whole, "cnn", "adam", "arrays", 3, tmp_path / "b1"], ranks=ranks, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    resumed = tmp_path / "resumed.npz"
    backup = tmp_path / "b2"
    out = run([resumed, "cnn", "adam", "arrays", 3, backup], ranks=ranks,
              env={**env, "KILL_AT": "1,9"})
    assert out.returncode != 0 and not resumed.exists()
    assert backup.exists()
    out = run([resumed, "cnn", "adam", "arrays", 3, backup], ranks=ranks, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    for a, b in zip(weights(resumed)[0], weights(whole)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert not backup.exists()  # deleted when training ended
