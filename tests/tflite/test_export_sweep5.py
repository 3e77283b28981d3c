"""The layers exported with builtin ops as TensorFlow's converter lowers
them (Conv3DTranspose, dilated transposed convolutions, ConvLSTM,
GroupQueryAttention, Hashing, IntegerLookup, HashedCrossing, the
spectrograms), run in the LiteRT interpreter against predict; and
keras.applications models with random weights, fully integer end to end."""
import numpy as np
import pytest

import pynn
from litehelp import convert, run_all
from pynn.utils import set_random_seed

INT8_TOLERANCE = 0.06  # of the output's span, as the other int8 tests


def uniform(shape, n=8, lo=0.0, hi=1.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, (n,) + shape).astype(np.float32)


@pytest.mark.parametrize("name", ["MobileNetV2", "EfficientNetB0", "ResNet50"])
def test_applications_full_integer_end_to_end(name):
    """The whole network, not only its first blocks: within the int8
    tolerance of predict on the default kernels and on the builtin ones
    alone, the same class wherever predict's top two classes are further
    apart than that tolerance, and on three inputs in four overall
    (untrained, the top two are often within a percent of the span).
    (Untrained, MobileNetV2's signal shrinks to about 1e-10 at its output:
    each tensor keeps its own small scale, and a fused RELU6 whose cap no
    int32 holds at that scale loses the cap it never reaches.)"""
    set_random_seed(0)
    model = getattr(pynn.applications, name)(input_shape=(32, 32, 3), weights=None,
                                             classes=10, classifier_activation=None)
    x = uniform((32, 32, 3), hi=255.0)
    want = model.predict(x, verbose=0)
    span = float(want.max() - want.min())
    model_bytes = convert(model, "int8", [x])
    top2 = np.sort(want, axis=-1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > INT8_TOLERANCE * span
    assert clear.sum() >= 2
    for reference in (False, True):
        got = run_all(model_bytes, [x], reference=reference)[0]
        np.testing.assert_allclose(got, want, rtol=0, atol=INT8_TOLERANCE * span)
        np.testing.assert_array_equal(got.argmax(-1)[clear], want.argmax(-1)[clear])
        assert np.mean(got.argmax(-1) == want.argmax(-1)) >= 0.75
