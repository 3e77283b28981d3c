"""The new layers against Keras 3 itself (NumPy backend, a test-only
reference; skipped where Keras, or jax and scipy under it, is missing):
output shapes, parameter counts and weight shapes equal Keras's, and the
forward values agree to 1e-5 with the same weights."""
import warnings

import numpy as np
import pytest

import pynn
from layer_table import CASES, random_weights

# Keras's own variables warn about NumPy 2's copy keyword when read.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_keras(keras, case):
    factory, in_shape, out_shape, params = CASES[case]
    ours = factory(pynn.layers)
    model = pynn.Sequential([pynn.Input(shape=in_shape), ours])
    values = random_weights(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = factory(keras.layers)
        kmodel = keras.Sequential([keras.Input(shape=in_shape), theirs])
    assert tuple(theirs.output.shape) == (None,) + out_shape
    assert ours.output_shape == (None,) + out_shape
    assert theirs.count_params() == ours.count_params() == params
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]
    if values:
        theirs.set_weights(values)
        if hasattr(theirs, "finalize_state"):  # Normalization reads its weights there
            theirs.finalize_state()
    x = np.random.default_rng(1).standard_normal((3,) + in_shape).astype(np.float32) * 2
    want = np.asarray(kmodel(x, training=False))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_normalization_adapt_matches_keras(keras):
    g = np.random.default_rng(2)
    data = (g.standard_normal((64, 4, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.5]).astype(
        np.float32)
    for axis in (-1, None, (1, 2), 1):
        ours, theirs = pynn.layers.Normalization(axis=axis), keras.layers.Normalization(axis=axis)
        ours.adapt(data)
        theirs.adapt(data)
        for a, b in zip(ours.get_weights()[:2], theirs.get_weights()[:2]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        # from batches, combined as Keras combines them
        batched = pynn.layers.Normalization(axis=axis)
        batched.adapt([data[:20], data[20:50], data[50:]])
        for a, b in zip(batched.get_weights()[:2], theirs.get_weights()[:2]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        x = g.standard_normal((5, 4, 3)).astype(np.float32)
        np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)


def test_configs_carry_keras_keys(keras):
    """Every key of our config is one Keras's config of the same layer has
    (so Keras can read what we write), with the same values for the
    arguments."""
    for case in sorted(CASES):
        factory, in_shape, _, _ = CASES[case]
        ours = factory(pynn.layers)
        pynn.Sequential([pynn.Input(shape=in_shape), ours])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = factory(keras.layers)
            keras.Sequential([keras.Input(shape=in_shape), theirs])
        mine, keras_config = ours.get_config(), theirs.get_config()
        extra = set(mine) - set(keras_config) - {"batch_input_shape"}
        assert not extra, f"{case}: keys Keras does not have: {extra}"
        for key, value in mine.items():
            if key in ("name", "batch_input_shape", "trainable") or "initializer" in key:
                continue
            if case.startswith("random_shear") and key in ("x_factor", "y_factor"):
                continue  # Keras writes a pair its own constructor refuses: we write the factor
            want = keras_config[key]
            if isinstance(want, (tuple, list)) or isinstance(value, (tuple, list)):
                assert np.array_equal(np.asarray(value, dtype=object),
                                      np.asarray(want, dtype=object)), (case, key, value, want)
            elif isinstance(want, dict):
                continue  # a serialized object (dtype policy, array)
            else:
                assert value == want or (value is None and want is None), (case, key, value,
                                                                            want)


@pytest.mark.parametrize("target", [(-1,), (3, -1), (-1, 2), (2, 6)])
def test_reshape_and_flatten_of_an_empty_batch_match_keras(keras, target):
    """predict on no samples gives Keras's shapes: a -1 is resolved from the
    sample's size, as NumPy cannot from a batch of 0."""
    def build(lib):
        x = lib.Input(shape=(2, 3, 2))
        reshaped = lib.layers.Reshape(target)(x)
        y = lib.layers.Dense(4)(lib.layers.Flatten()(reshaped))
        return lib.Model(x, [reshaped, y])
    ours = build(pynn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(keras)
    theirs.layers[-1].set_weights(ours.layers[-1].get_weights())
    x = np.random.default_rng(3).standard_normal((4, 2, 3, 2)).astype(np.float32)
    for batch in (x[:0], x):
        got = ours.predict(batch, verbose=0)
        want = [np.asarray(w) for w in theirs(batch)]
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # the layer alone, and a Sequential model, on no samples
    assert pynn.layers.Reshape(target)(x[:0]).shape == want[0][:0].shape
    seq = pynn.Sequential([pynn.Input(shape=(2, 3, 2)), pynn.layers.Reshape(target),
                           pynn.layers.Flatten()])
    assert seq.predict(x[:0], verbose=0).shape == (0, 12)
