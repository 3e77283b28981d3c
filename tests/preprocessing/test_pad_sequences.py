"""pad_sequences pads and cuts as Keras's does."""
import numpy as np
import pytest

import pynn
from pynn.preprocessing import sequence
from pynn.utils import pad_sequences

SEQ = [[1], [2, 3], [4, 5, 6]]


def test_one_function_two_names():
    assert sequence.pad_sequences is pad_sequences is pynn.utils.pad_sequences


@pytest.mark.parametrize("kwargs, expected", [
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
    ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
    ({"maxlen": 2, "truncating": "post", "padding": "post"}, [[1, 0], [2, 3], [4, 5]]),
    ({"maxlen": 5}, [[0, 0, 0, 0, 1], [0, 0, 0, 2, 3], [0, 0, 4, 5, 6]]),
    ({"maxlen": 0}, [[], [], []]),
])
def test_keras_examples(kwargs, expected):
    x = pad_sequences(SEQ, **kwargs)
    assert x.dtype == np.int32
    assert x.shape == (3, len(expected[0]))
    np.testing.assert_array_equal(x, np.array(expected).reshape(x.shape))


def test_dtype_and_float_value():
    x = pad_sequences([[1.5, 2.25], [3.0]], dtype="float32", value=0.5)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1.5, 2.25], [0.5, 3.0]])
    # As in Keras, an integer dtype truncates float values.
    np.testing.assert_array_equal(pad_sequences([[1.7, -2.7]]), [[1, -2]])


def test_empty_sequences():
    np.testing.assert_array_equal(pad_sequences([[], [7, 8], []]), [[0, 0], [7, 8], [0, 0]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=4).shape == (0, 4)


def test_numpy_object_array_and_arrays_of_items():
    ragged = np.empty(3, dtype=object)
    ragged[:] = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(pad_sequences(ragged), pad_sequences(SEQ))
    pairs = [np.array([[1, 2]]), np.array([[3, 4], [5, 6], [7, 8]])]
    x = pad_sequences(pairs, maxlen=2, value=9)
    assert x.shape == (2, 2, 2)
    np.testing.assert_array_equal(x, [[[9, 9], [1, 2]], [[5, 6], [7, 8]]])
    tuples = [(1, 2), range(3, 6)]
    np.testing.assert_array_equal(pad_sequences(tuples), [[0, 1, 2], [3, 4, 5]])


def test_strings():
    x = pad_sequences([["a", "bb"], ["c"]], dtype=object, value="-")
    assert x.dtype == object
    assert x.tolist() == [["a", "bb"], ["-", "c"]]
    x = pad_sequences([["a", "bb"], ["c"]], dtype="<U2", value="-", padding="post")
    assert x.tolist() == [["a", "bb"], ["c", "-"]]
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a"]], value="-")


@pytest.mark.parametrize("sequences, kwargs, error, match", [
    (5, {}, ValueError, "list of sequences"),
    ("abc", {}, ValueError, "list of sequences"),
    ([[1], 2], {}, ValueError, "non-iterable at position 1"),
    ([[1], None], {}, ValueError, "non-iterable at position 1"),
    ([[1], ["x"]], {}, ValueError, "position 1 holds values that are not int32"),
    ([[1], [None]], {}, TypeError, "position 1 holds values that are not int32"),
    ([[1], [{}]], {}, TypeError, "position 1 holds values"),
    ([[1]], {"padding": "middle"}, ValueError, 'Padding type "middle"'),
    ([[1]], {"truncating": "both"}, ValueError, 'Truncating type "both"'),
    ([[1]], {"maxlen": -1}, ValueError, "maxlen must be >= 0"),
    ([[1]], {"maxlen": 2.0}, TypeError, "maxlen must be None or an integer"),
    ([[1]], {"dtype": "nonsense"}, TypeError, "not a NumPy dtype"),
    ([[[1, 2]], [[1, 2, 3]]], {}, ValueError, "Shape of sample"),
    ([[[1, 2], [3]]], {}, ValueError, "different shapes"),
    ([{1: 2}], {}, TypeError, "cannot be sliced"),
])
def test_bad_input(sequences, kwargs, error, match):
    with pytest.raises(error, match=match):
        pad_sequences(sequences, **kwargs)
