"""A layer called on arrays returns an array of the caller's own: a later
call, a training step, a change to the input or to the layer's state
never changes it (outputs made for the call itself are returned without a
copy, everything else is copied)."""
import numpy as np
import pytest

from pynn import layers


def rand(*shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Conv2D(4, 3), (2, 6, 6, 3)),
    (lambda: layers.MaxPooling2D(), (2, 6, 6, 3)),
    (lambda: layers.Dense(5), (2, 4, 3)),
    (lambda: layers.Dropout(0.5), (2, 5)),
    (lambda: layers.Flatten(), (2, 3, 4)),
    (lambda: layers.Reshape((12,)), (2, 3, 4)),
    (lambda: layers.Activation("linear"), (2, 5)),
    (lambda: layers.LSTM(3, return_sequences=True, return_state=True), (2, 4, 3)),
    (lambda: layers.GRU(3, stateful=True, return_sequences=True), (2, 4, 3)),
])
def test_eager_outputs_survive_later_calls_and_input_changes(make, shape):
    layer = make()
    x = rand(*shape)
    first = layer(x)
    outs = first if isinstance(first, list) else [first]
    kept = [np.array(o) for o in outs]
    for o in outs:
        assert not np.shares_memory(np.asarray(o), x)
    x += 1.0
    again = layer(rand(*shape, seed=1))
    for o, k in zip(outs, kept):
        np.testing.assert_array_equal(np.asarray(o), k)
    for a in (again if isinstance(again, list) else [again]):
        for o in outs:
            assert not np.shares_memory(np.asarray(a), np.asarray(o))
