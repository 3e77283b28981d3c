"""keras.io's developer guides' patterns, run with pynn: against Keras 3 on
its NumPy backend where it runs the same thing, else a property that could
fail."""
import numpy as np
import pytest

import pynn
from pynn import layers, ops

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ------------------------------------- a custom layer splitting its mask

def _split_model(lib):
    class HalvesInTime(lib.layers.Layer):
        def call(self, inputs):
            return lib.ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else lib.ops.split(mask, 2, axis=1)

    inp = lib.Input((6, 3))
    a, b = HalvesInTime()(lib.layers.Masking()(inp))
    out = lib.layers.concatenate([lib.layers.SimpleRNN(4)(a), lib.layers.SimpleRNN(4)(b)])
    return lib.Model(inp, out), HalvesInTime


@needs_keras
def test_a_list_of_masks_from_compute_mask_goes_one_to_each_output_in_a_graph():
    km, _ = _split_model(keras)
    pm, _ = _split_model(pynn)
    pm.set_weights(km.get_weights())
    x = np.random.RandomState(0).rand(2, 6, 3).astype("float32")
    x[0, 1:] = 0
    x[1, 4:] = 0
    np.testing.assert_allclose(pm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)


def test_a_list_of_masks_from_compute_mask_goes_one_to_each_eager_output():
    _, HalvesInTime = _split_model(pynn)
    x = np.ones((2, 4, 3), "float32")
    x[1, 1:] = 0
    first, second = HalvesInTime()(layers.Masking()(x))
    np.testing.assert_array_equal(np.asarray(first._keras_mask), [[True, True], [True, False]])
    np.testing.assert_array_equal(np.asarray(second._keras_mask), [[True, True], [False, False]])
