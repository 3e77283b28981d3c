"""Keras's Hashing layer: the bins Keras's own hashing_test.py and the
layer's documentation list (Keras needs TensorFlow to run it, so these
values are the reference), the output modes, the config, and the layer
in a model: predict, fit and a saved model."""
import importlib.util

import numpy as np
import pytest

import pynn
from pynn import layers

WIRE = [["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]]
LETTERS = [["A"], ["B"], ["C"], ["D"], ["E"]]


@pytest.mark.parametrize("kwargs, inputs, expected", [
    # the layer's documented examples
    (dict(num_bins=3), LETTERS, [[1], [0], [1], [1], [2]]),
    (dict(num_bins=3, mask_value=""), [["A"], ["B"], [""], ["C"], ["D"]],
     [[1], [1], [0], [2], [2]]),
    (dict(num_bins=3, salt=[133, 137]), LETTERS, [[1], [2], [1], [0], [2]]),
    (dict(num_bins=3, salt=133), LETTERS, [[0], [0], [2], [1], [0]]),
    # hashing_test.py
    (dict(num_bins=1), LETTERS, [[0], [0], [0], [0], [0]]),
    (dict(num_bins=2), WIRE, [[0], [0], [1], [0], [0]]),
    (dict(num_bins=2), [w[0] for w in WIRE], [0, 0, 1, 0, 0]),
    (dict(num_bins=3, mask_value=""), WIRE, [[1], [1], [2], [1], [1]]),
    (dict(num_bins=3, mask_value="omar"), WIRE, [[0], [1], [2], [1], [1]]),
    (dict(num_bins=3), [[0], [1], [2], [3], [4]], [[1], [0], [1], [0], [2]]),
    (dict(num_bins=3), [0, 1, 2, 3, 4], [1, 0, 1, 0, 2]),
    (dict(num_bins=3), (0, 1, 2, 3, 4), [1, 0, 1, 0, 2]),
    (dict(num_bins=2, salt=[133, 137]), WIRE, [[0], [1], [0], [1], [0]]),
    (dict(num_bins=2, salt=[211, 137]), WIRE, [[1], [0], [1], [0], [1]]),
    (dict(num_bins=3, salt=[133, 137]), [[0], [1], [2], [3], [4]], [[1], [1], [2], [0], [1]]),
    (dict(num_bins=2), [1, 2, 3], [1, 1, 1]),
    (dict(num_bins=2), [[1], [2], [3]], [[1], [1], [1]]),
    (dict(num_bins=2), [[1, 2], [2, 3], [3, 4]], [[1, 1], [1, 1], [1, 1]]),
    (dict(num_bins=2), [[[1], [2]], [[2], [3]], [[3], [4]]], [[[1], [1]], [[1], [1]],
                                                             [[1], [1]]]),
    # the values of the ragged cases Keras keeps commented out, as dense rows
    (dict(num_bins=2), [["omar", "stringer", "marlo", "wire"]], [[0, 0, 1, 0]]),
    (dict(num_bins=3, mask_value=""), [["marlo", "skywalker", "wire"]], [[2, 1, 1]]),
    (dict(num_bins=3), [[0, 1, 3, 4], [2, 1, 0, 2]], [[1, 0, 0, 2], [1, 0, 1, 1]]),
    (dict(num_bins=2, salt=[211, 137]), [["marlo", "skywalker", "wire"]], [[1, 1, 0]]),
    (dict(num_bins=3, salt=[133, 137]), [[0, 1, 3, 4]], [[1, 1, 0, 1]]),
])
def test_bins_match_keras(kwargs, inputs, expected):
    out = layers.Hashing(**kwargs)(inputs)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)


def test_inputs_of_every_kind_give_the_same_bins():
    layer = layers.Hashing(num_bins=97, mask_value="marlo")
    words = [w[0] for w in WIRE]
    want = layer(words)
    for form in (np.array(words), np.array(words, dtype=object),
                 [w.encode() for w in words], np.array(words)[:, None]):
        np.testing.assert_array_equal(np.ravel(layer(form)), want)
    # floats hash as the integers they truncate to, as Keras casts them
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)(np.array([0.2, 1.9, 2.0, -0.5])),
                                  [1, 0, 1, 1])
    np.testing.assert_array_equal(layers.Hashing(num_bins=5, mask_value=4)(np.array([4, 5, 4])),
                                  [0, layers.Hashing(num_bins=4)([5])[0] + 1, 0])
    assert layers.Hashing(num_bins=3, dtype="int32")(["a"]).dtype == np.int32


def test_output_modes_match_keras():
    ints = np.array([0, 1, 2, 3, 4])  # bins 1, 0, 1, 0, 2
    np.testing.assert_array_equal(
        layers.Hashing(num_bins=3, output_mode="one_hot")(ints[:, None]),
        [[0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
    multi = layers.Hashing(num_bins=3, output_mode="multi_hot")(ints[None])
    assert multi.dtype == np.float32
    np.testing.assert_array_equal(multi, [[1, 1, 1]])
    count = layers.Hashing(num_bins=3, output_mode="count")
    np.testing.assert_array_equal(count(ints), [2, 2, 1])
    np.testing.assert_array_equal(count(ints[None]), [[2, 2, 1]])
    # the last axis is the sample: leading axes stay
    np.testing.assert_array_equal(count(np.stack([ints[None], ints[None]])),
                                  [[[2, 2, 1]], [[2, 2, 1]]])


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(4,), (4, 1), (3, 4)])
def test_symbolic_shape_matches_the_call(mode, shape):
    layer = layers.Hashing(num_bins=5, output_mode=mode)
    symbolic = layer(pynn.Input(shape=shape, dtype="int64"))
    actual = layer(np.arange(2 * int(np.prod(shape))).reshape((2,) + shape))
    assert symbolic.shape[1:] == actual.shape[1:]
    assert layer.compute_output_shape((None,) + shape) == symbolic.shape
    assert symbolic.dtype == ("int64" if mode == "int" else "float32")


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_bins=None), "num_bins must be a positive integer, got None"),
    (dict(num_bins=0), "num_bins must be a positive integer, got 0"),
    (dict(num_bins=-1), "num_bins must be a positive integer"),
    (dict(num_bins=2, salt="string"), "salt can only be a tuple of size 2"),
    (dict(num_bins=2, salt=[1]), "salt can only be a tuple of size 2"),
    (dict(num_bins=1, salt=[133, 137, 177]), "salt can only be a tuple of size 2"),
    (dict(num_bins=3, output_mode="unsupported_mode"), "output_mode must be one of"),
    (dict(num_bins=3, output_mode="int", dtype="float32"), "dtype must be 'int32' or 'int64'"),
    (dict(num_bins=3, output_mode="count", sparse=True), r"sparse outputs are not supported"),
    (dict(num_bins=3, sparse=True), r"sparse outputs are not supported"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Hashing(**kwargs)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="Hashing 'h'.*NaN or infinite"):
        layers.Hashing(num_bins=3, name="h")(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="Hashing 'h'.*strings, bytes or integers"):
        layers.Hashing(num_bins=3, name="h")(np.array([None], dtype=object))
    with pytest.raises(ValueError, match="mask_value '' is text and the inputs are numbers"):
        layers.Hashing(num_bins=3, mask_value="")(np.array([1, 2]))


def test_config_round_trip():
    layer = layers.Hashing(num_bins=8, mask_value="", salt=7, output_mode="count",
                           name="hashing")
    config = layer.get_config()
    assert config["salt"] == [7, 7] and config["num_bins"] == 8 and config["sparse"] is False
    again = layers.Hashing.from_config(config)
    assert again.name == "hashing" and again.get_config() == config
    words = np.array([["a", "b", ""], ["c", "", "c"]])
    np.testing.assert_array_equal(again(words), layer(words))
    # Keras 3's config, with its dtype policy
    keras_config = {"name": "hashing_1", "trainable": True,
                    "dtype": {"module": "keras", "class_name": "DTypePolicy",
                              "config": {"name": "int64"}, "registered_name": None},
                    "num_bins": 3, "salt": None, "mask_value": None, "output_mode": "int",
                    "sparse": False}
    np.testing.assert_array_equal(layers.Hashing.from_config(keras_config)(LETTERS),
                                  [[1], [0], [1], [1], [2]])


def _string_model():
    text = pynn.Input(shape=(), dtype="string")
    return pynn.Model(text, layers.Hashing(num_bins=100)(text))


def test_in_a_model_predict_and_saved(tmp_path):
    words = np.array([w[0] for w in WIRE])
    model = _string_model()
    want = layers.Hashing(num_bins=100)(words)
    np.testing.assert_array_equal(model(words), want)
    np.testing.assert_array_equal(model.predict(words, verbose=0), want)
    # Keras's formats where h5py (the 'keras' extra) is installed
    keras_formats = ("keras", "h5") if importlib.util.find_spec("h5py") else ()
    for ext in ("pynn",) + keras_formats:
        model.save(tmp_path / f"hashing.{ext}")
        loaded = pynn.models.load_model(tmp_path / f"hashing.{ext}")
        assert loaded is not model
        np.testing.assert_array_equal(loaded.predict(words, verbose=0), want)


def test_feeds_an_embedding_that_trains():
    pynn.utils.set_random_seed(3)
    text = pynn.Input(shape=(2,), dtype="string")
    ids = layers.Hashing(num_bins=16, salt=[1, 2])(text)
    out = layers.Dense(1)(layers.Flatten()(layers.Embedding(16, 4)(ids)))
    model = pynn.Model(text, out)
    model.compile("adam", "mse")
    x = np.array([["omar", "wire"], ["marlo", "stringer"], ["wire", "wire"]])
    y = np.array([[1.0], [0.0], [0.5]], np.float32)
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=3, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    multi = pynn.Sequential([pynn.Input(shape=(3,), dtype="int64"),
                             layers.Hashing(num_bins=4, output_mode="multi_hot"),
                             layers.Dense(2)])
    assert multi.predict(np.array([[1, 2, 3], [4, 5, 6]]), verbose=0).shape == (2, 2)
