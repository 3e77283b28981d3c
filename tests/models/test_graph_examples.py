"""The graph examples (residual convnet, Inception module, three-output
model, Siamese model, feature extraction) run as they are, reach the
accuracies a Keras user would expect on the offline data, and round-trip
through .pynn files (identical predictions) and .tflite files (the LiteRT
interpreter matches predict to 1e-5)."""
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


CASES = [
    ("mnist_resnet.py", lambda out: value(r"Test accuracy: ([0-9.]+)", out) >= 0.93),
    ("inception_module.py", lambda out: value(r"Test accuracy: ([0-9.]+)", out) >= 0.92),
    ("multi_output.py", lambda out: value(r"Gender accuracy: ([0-9.]+)", out) >= 0.95
     and value(r"Income accuracy: ([0-9.]+)", out) >= 0.90
     and value(r"Age MAE: ([0-9.]+)", out) <= 9.0),
    ("siamese_mnist.py", lambda out: value(r"Test accuracy: ([0-9.]+)", out) >= 0.90),
    ("feature_extraction.py", lambda out: value(r"Test accuracy: ([0-9.]+)", out) >= 0.88),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, bar", CASES, ids=[c[0] for c in CASES])
def test_graph_example(name, bar, tmp_path):
    ns, out = run_example(name)
    assert bar(out), out[-3000:]
    model = ns["model"]
    x = ns["x_test"]
    xs = [a[:64] for a in x] if isinstance(x, list) else [x[:64]]
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = want if isinstance(want, list) else [want]

    path = tmp_path / "model.pynn"
    model.save(path)
    again = pynn.models.load_model(path)
    got = again.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    for a, b in zip(want, got if isinstance(got, list) else [got]):
        np.testing.assert_array_equal(a, b)

    data = model.export_tflite(tmp_path / "model.tflite")
    for a, b in zip(want, run_all(data, xs)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
