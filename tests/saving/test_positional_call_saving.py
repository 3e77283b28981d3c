"""A custom layer called on several tensors by position, one of them
bound to its ``mask`` parameter or a constant array (a transformer
decoder's ``decoder(x, encoder_out, causal_mask)``), reloads from pynn's
and Keras's files and computes what it did."""
import json
import zipfile

import numpy as np
import pytest

import pynn as keras
from pynn import layers


@keras.saving.register_keras_serializable(package="positional_call")
class Gate(layers.Layer):
    def call(self, a, b, mask=None):
        return a * keras.ops.sigmoid(b) + (0.0 if mask is None else mask)


def _inputs():
    rng = np.random.default_rng(0)
    return [rng.random((2, 4), dtype=np.float32) for _ in range(3)]


@pytest.mark.parametrize("ext", [".pynn", ".keras"])
def test_three_tensors_by_position_reload(tmp_path, ext):
    ia, ib, im = keras.Input((4,)), keras.Input((4,)), keras.Input((4,))
    model = keras.Model([ia, ib, im], Gate()(ia, ib, im))
    xs = _inputs()
    ref = model.predict(xs, verbose=0)
    # the third tensor is the call's mask argument, used as numbers
    np.testing.assert_allclose(ref, xs[0] / (1 + np.exp(-xs[1])) + xs[2], rtol=1e-5)
    path = tmp_path / f"m{ext}"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(xs, verbose=0), ref, rtol=1e-6)
    if ext == ".keras":
        # as Keras records layer(a, b, m): three positional arguments
        config = json.loads(zipfile.ZipFile(path).read("config.json"))
        node = [e for e in config["config"]["layers"]
                if e["class_name"] == "Gate"][0]["inbound_nodes"][0]
        assert len(node["args"]) == 3 and "call_binding" not in node["kwargs"]


def test_a_constant_beside_the_tensors_reloads_from_pynn_files(tmp_path):
    ia, ib = keras.Input((4,)), keras.Input((4,))
    const = np.array([1.0, 0.0, 2.0, 0.0], np.float32)
    model = keras.Model([ia, ib], Gate()(ia, ib, const))
    xs = _inputs()[:2]
    ref = model.predict(xs, verbose=0)
    np.testing.assert_allclose(ref, xs[0] / (1 + np.exp(-xs[1])) + const, rtol=1e-5)
    model.save(tmp_path / "m.pynn")
    again = keras.models.load_model(tmp_path / "m.pynn")
    np.testing.assert_allclose(again.predict(xs, verbose=0), ref, rtol=1e-6)
