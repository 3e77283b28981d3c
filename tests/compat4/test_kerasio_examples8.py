"""keras.io's example programs, eighth sweep (vision, recipes, generative,
structured data), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- zero_dce.py: a subclassed model passes tf.keras's save_weights and
# load_weights arguments (save_format, options, by_name) to its inner model

def small_net():
    inp = pynn.Input((None, None, 3))
    return pynn.Model(inp, pynn.layers.Conv2D(4, 3, padding="same", activation="tanh")(inp))


class Wrapper(pynn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = small_net()

    def call(self, x):
        return self.inner(x)

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        self.inner.save_weights(filepath, overwrite=overwrite, save_format=save_format,
                                options=options)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, options=None):
        self.inner.load_weights(filepath=filepath, by_name=by_name,
                                skip_mismatch=skip_mismatch, options=options)


@pytest.mark.parametrize("name, save_format", [("w.h5", None), ("w.h5", "h5"),
                                               ("w", "h5"), ("w", "tf"), ("w", None)])
def test_save_weights_takes_tf_keras_save_format_and_options(tmp_path, name, save_format):
    x = rand(2, 6, 5, 3)
    saved = Wrapper()
    want = np.asarray(saved(x))
    path = str(tmp_path / name)
    saved.save_weights(path, save_format=save_format)
    if save_format == "h5":  # HDF5 whatever the name, as tf.keras writes it
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89HDF\r\n\x1a\n"
    loaded = Wrapper()
    loaded(x)
    loaded.load_weights(path)
    np.testing.assert_allclose(np.asarray(loaded(x)), want, rtol=1e-6)


def test_save_weights_refuses_a_format_its_name_contradicts(tmp_path):
    model = small_net()
    with pytest.raises(ValueError, match="checkpoint"):
        model.save_weights(str(tmp_path / "w.h5"), save_format="tf")
    with pytest.raises(ValueError, match="unknown save_format"):
        model.save_weights(str(tmp_path / "w.h5"), save_format="onnx")
    with pytest.raises(ValueError, match="pynn file"):
        model.save_weights(str(tmp_path / "w.weights.pynn"), save_format="h5")
