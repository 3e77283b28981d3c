"""The text and sequence examples (IMDB multi-hot, Reuters, IMDB LSTM, IMDB
Conv1D, a bidirectional GRU forecasting temperatures) run as they are on
their offline synthetic stand-ins, reach the accuracies a Keras user would
expect there, and the recurrent ones round-trip through .pynn files and
the LiteRT interpreter."""
import contextlib
import io
import os
import re
import runpy
import sys

import numpy as np
import pytest

import pynn

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(os.path.dirname(TESTS), "examples")
sys.path.insert(0, os.path.join(TESTS, "tflite"))
from litehelp import run_all  # noqa: E402


def run_example(name):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ns = runpy.run_path(os.path.join(EXAMPLES, name), run_name="__main__")
    return ns, out.getvalue()


def value(pattern, text):
    return float(re.search(pattern, text).group(1))


def accuracy(bar):
    return lambda out: value(r"Test accuracy: ([0-9.]+)", out) >= bar


CASES = [
    ("imdb_multihot.py", accuracy(0.88), False),
    ("reuters_mlp.py", accuracy(0.85), False),
    ("imdb_lstm.py", accuracy(0.82), True),
    ("imdb_conv1d.py", accuracy(0.85), False),
    ("temperature_bigru.py", lambda out: value(r"Test MAE: ([0-9.]+)", out) <
     0.8 * value(r"Baseline MAE[^:]*: ([0-9.]+)", out), True),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, bar, export", CASES, ids=[c[0] for c in CASES])
def test_sequence_example(name, bar, export, tmp_path):
    ns, out = run_example(name)
    assert "SYNTHETIC STAND-IN" in out  # tests run offline
    assert bar(out), out[-3000:]
    if not export:
        return
    model, x = ns["model"], ns["x_test"][:32]
    want = model.predict(x, verbose=0)
    path = tmp_path / "model.pynn"
    model.save(path)
    np.testing.assert_array_equal(pynn.models.load_model(path).predict(x, verbose=0), want)
    data = model.export_tflite(tmp_path / "model.tflite")
    np.testing.assert_allclose(run_all(data, [x])[0], want, rtol=1e-5, atol=1e-5)
