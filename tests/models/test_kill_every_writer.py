"""Every writer of a file (save, save_weights, ModelCheckpoint, the TFLite
exporter) killed with SIGKILL at random moments, over and over, leaves the
previous file intact: it always loads."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models import load_model

CHILD = r"""
import sys
import numpy as np
import pynn
from pynn import layers
writer, path = sys.argv[1], sys.argv[2]
m = pynn.Sequential([pynn.Input((256,)), layers.Dense(384, activation="relu"),
                     layers.Dense(256, activation="relu"), layers.Dense(10, activation="softmax")])
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).normal(size=(32, 256)).astype(np.float32)
y = np.arange(32) % 10
m.fit(x, y, epochs=1, verbose=0)
print("ready", flush=True)
i = 0
if writer == "checkpoint":
    cb = pynn.callbacks.ModelCheckpoint(path, monitor="loss")
    m.fit(x, y, epochs=10 ** 6, verbose=0, callbacks=[cb])
while True:
    m.layers[0].kernel.value[0, 0] = i  # each file differs
    if writer == "save":
        m.save(path)
    elif writer == "save_weights":
        m.save_weights(path)
    else:
        m.export_tflite(path)
    i += 1
"""


def model():
    return pynn.Sequential([pynn.Input((256,)), layers.Dense(384, activation="relu"),
                            layers.Dense(256, activation="relu"),
                            layers.Dense(10, activation="softmax")])


def check_file(writer, path):
    """Loads what a writer wrote, as its reader would."""
    if writer in ("save", "checkpoint"):
        load_model(path)
    elif writer == "save_weights":
        model().load_weights(path)
    else:
        from ai_edge_litert.interpreter import Interpreter
        it = Interpreter(model_path=path)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], np.zeros((1, 256), np.float32))
        it.invoke()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("writer,name", [("save_weights", "w.weights.pynn"),
                                         ("checkpoint", "ckpt.pynn"),
                                         ("tflite", "model.tflite")])
def test_sigkill_while_writing_keeps_a_whole_file(tmp_path, writer, name):
    if writer == "tflite":
        pytest.importorskip("ai_edge_litert")
        pytest.importorskip("tflite")
    path = str(tmp_path / name)
    first = model()
    {"save_weights": lambda: first.save_weights(path), "checkpoint": lambda: first.save(path),
     "tflite": lambda: first.export_tflite(path)}[writer]()
    before = os.path.getsize(path)
    rnd = random.Random(99)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for _ in range(8):
        child = subprocess.Popen([sys.executable, "-c", CHILD, writer, path],
                                 stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(rnd.uniform(0.05, 0.3))
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        check_file(writer, path)  # never raises
    assert os.path.getsize(path) >= before * 0.9
    leftovers = [n for n in os.listdir(tmp_path) if n != name]
    assert all(n.startswith("." + name + ".") and n.endswith(".tmp") for n in leftovers)
