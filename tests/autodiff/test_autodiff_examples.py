"""The VAE and the Siamese Lambda example run as they are on the offline
MNIST sample, train (their losses fall, the Siamese pairs are told apart),
and their saved models load back with custom_objects."""
import contextlib
import io
import os
import re
import runpy
import sys

import numpy as np
import pytest

import pynn

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")


def run_example(name, *args):
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [name, *args]
    try:
        with contextlib.redirect_stdout(out):
            ns = runpy.run_path(os.path.join(EXAMPLES, name), run_name="__main__")
    finally:
        sys.argv = argv
    return ns, out.getvalue()


@pytest.mark.slow
def test_vae_example(tmp_path):
    path = tmp_path / "vae.pynn"
    ns, out = run_example("vae_mnist.py", "--epochs", "2", "--save", str(path))
    final, val = map(float, re.search(r"Final loss: ([0-9.]+)  \(validation: ([0-9.]+)\)",
                                      out).groups())
    first = float(re.search(r"loss: ([0-9.]+)", out).group(1))
    assert final < 0.8 * first and val < 250, out[-2000:]
    loaded = pynn.models.load_model(path, custom_objects={
        "Sampling": ns["Sampling"], "reconstruction_loss": ns["reconstruction_loss"]})
    x = ns["x_sample"][:32]

    def encoder(model):
        return pynn.Model(model.input, model.get_layer("z_mean").output).predict(x, verbose=0)
    np.testing.assert_array_equal(encoder(loaded), encoder(ns["model"]))


@pytest.mark.slow
def test_siamese_lambda_example(tmp_path):
    path = tmp_path / "siamese.pynn"
    ns, out = run_example("siamese_lambda.py", "--epochs", "4", "--save", str(path))
    assert float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1)) >= 0.87, out[-2000:]
    custom = {k: ns[k] for k in ("euclidean_distance", "eucl_dist_output_shape",
                                 "contrastive_loss", "accuracy")}
    loaded = pynn.models.load_model(path, custom_objects=custom)
    xs = [a[:64] for a in ns["x_test"]]
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0),
                                  ns["model"].predict(xs, verbose=0))
