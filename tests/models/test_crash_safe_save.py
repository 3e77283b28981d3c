"""A process killed (SIGKILL) at random moments while saving over the same
file always leaves a file that loads, and a failed write leaves the old file."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pynn import layers
from pynn.models import Sequential, load_model
from pynn.utils.io import atomic_write

CHILD = r"""
import sys
import numpy as np
from pynn import layers
from pynn.models import Sequential
path = sys.argv[1]
m = Sequential([layers.Dense(384, activation="relu", input_shape=(256,)),
                layers.Dense(256, activation="relu"), layers.Dense(10, activation="softmax")])
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).normal(size=(32, 256)).astype(np.float32)
m.fit(x, np.arange(32) % 10, epochs=1, verbose=0)
import pynn.saving  # loaded before "ready", so the kills land in the saves themselves
print("ready", flush=True)
i = 0
while True:
    m.layers[0].kernel.value[0, 0] = i  # each save differs
    m.save(path)
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_while_saving_never_leaves_a_broken_file(tmp_path):
    path = str(tmp_path / "model.pynn")
    seed = Sequential([layers.Dense(384, activation="relu", input_shape=(256,)),
                       layers.Dense(256, activation="relu"),
                       layers.Dense(10, activation="softmax")])
    seed.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seed.save(path)
    rnd = random.Random(1234)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for round_ in range(20):
        child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE,
                                 env=env)
        try:
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(rnd.uniform(0.0, 0.08))
        finally:
            child.kill()  # SIGKILL: no cleanup, no finally blocks in the child
            child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        model = load_model(path)  # never raises
        assert [w.shape for w in model.weights] == [w.shape for w in seed.weights]
    # the only other files are temporaries of killed writers, never the target
    leftovers = [n for n in os.listdir(tmp_path) if n != "model.pynn"]
    assert all(n.startswith(".model.pynn.") and n.endswith(".tmp") for n in leftovers)
    # and the kills did land in the middle of writes
    assert leftovers


def test_error_while_writing_keeps_the_old_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as f:
            f.write("new, half written")
            raise RuntimeError("disk on fire")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["log.csv"]


def test_failed_model_save_keeps_the_old_model(tmp_path, monkeypatch):
    m = Sequential([layers.Dense(2, input_shape=(3,))])
    path = tmp_path / "m.pynn"
    m.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("no space left on device")
    monkeypatch.setattr(np.lib.format, "write_array", boom)
    with pytest.raises(OSError, match="no space"):
        m.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pynn"]


def test_atomic_write_modes_and_permissions(tmp_path):
    path = tmp_path / "a.txt"
    with atomic_write(path, "w") as f:
        f.write("one\n")
    with atomic_write(path, "a") as f:
        f.write("two\n")
    assert path.read_text() == "one\ntwo\n"
    with atomic_write(path, "wb") as f:
        f.write(b"three")
    assert path.read_bytes() == b"three"
    from pynn.utils import io as pio
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~pio._UMASK
    with pytest.raises(ValueError):
        with atomic_write(path, "r"):
            pass
    with pytest.raises(FileNotFoundError):
        with atomic_write(tmp_path / "no" / "such" / "x", "w"):
            pass
