"""predict on one in-memory batch takes predict_on_batch's route: the same
outputs bit for bit, in the same structure, and the same errors for bad
input.  Callbacks, progress bars, ``steps``, streams, memory-mapped inputs
and a ``predict_step`` of the model's own still go through the general
loop."""
import numpy as np
import pytest

import pynn
from pynn import layers


def mlp():
    pynn.utils.set_random_seed(3)
    return pynn.Sequential([pynn.Input((20,)), layers.Dense(16, activation="relu"),
                            layers.Dense(5, activation="softmax")])


def two_outputs(as_dict):
    pynn.utils.set_random_seed(4)
    inp = pynn.Input((6, 6, 2))
    h = layers.Conv2D(3, 3, activation="relu")(inp)
    h = layers.Flatten()(h)
    a = layers.Dense(4, activation="softmax", name="a")(h)
    b = layers.Dense(1, name="b")(h)
    return pynn.Model(inp, {"a": a, "b": b} if as_dict else [a, b])


def recurrent():
    """A model the compiled plan cannot run (the Python path)."""
    pynn.utils.set_random_seed(5)
    return pynn.Sequential([pynn.Input((7, 3)), layers.LSTM(4), layers.Dense(2)])


def _x(shape, n, seed=0):
    return np.random.default_rng(seed).random((n,) + shape, dtype=np.float32)


def _batches(model, parts):
    """predict_on_batch of each part, joined as the general loop joins its
    batches (the kernels' blocking depends on the rows, so a batch of
    other rows may differ in the last bit)."""
    outs = [model.predict_on_batch(p) for p in parts]
    if isinstance(outs[0], dict):
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    if isinstance(outs[0], list):
        return [np.concatenate(o) for o in zip(*outs)]
    return np.concatenate(outs)


def _same(got, want):
    assert type(got) is type(want)
    if isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            _same(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
    else:
        assert got.dtype == want.dtype == np.float32
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


CASES = [(mlp, (20,)), (lambda: two_outputs(False), (6, 6, 2)),
         (lambda: two_outputs(True), (6, 6, 2)), (recurrent, (7, 3))]


@pytest.mark.parametrize("build, shape", CASES)
@pytest.mark.parametrize("n", [1, 5, 32])
def test_one_batch_equals_predict_on_batch(build, shape, n):
    model = build()
    x = _x(shape, n)
    want = model.predict_on_batch(x)
    for kwargs in ({}, {"verbose": 0}, {"verbose": 1}, {"verbose": "auto"},
                   {"batch_size": n}, {"callbacks": []}):
        _same(model.predict(x, **kwargs), want)
    parts = [x[i:i + 2] for i in range(0, n, 2)]
    _same(model.predict(x, batch_size=2, verbose=0), _batches(model, parts))


def test_an_unbuilt_model_is_built_by_its_first_predict():
    pynn.utils.set_random_seed(6)
    model = pynn.Sequential([layers.Dense(3, activation="relu"), layers.Dense(2)])
    x = _x((4,), 3)
    got = model.predict(x, verbose=0)
    assert got.shape == (3, 2)
    _same(model.predict_on_batch(x), got)


def test_other_dtypes_and_layouts_are_converted_as_before():
    model = mlp()
    x = _x((20,), 4)
    want = model.predict_on_batch(x)
    _same(model.predict(x.astype(np.float64), verbose=0), want)
    _same(model.predict(np.asfortranarray(x), verbose=0), want)
    _same(model.predict(x.tolist(), verbose=0), want)
    _same(model.predict([x], verbose=0), want)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 19), np.float32),
     r"Input 0 of layer 'dense\w*' is incompatible with the layer: expected "
     r"shape=\(None, 20\), found shape=\(None, 19\)"),
    # (an extra last axis of 1 is dropped, as Keras drops it; one of 2 is not)
    (np.zeros((2, 20, 2), np.float32), r"found shape=\(None, 20, 2\)"),
    (np.full((2, 20), np.nan, np.float32), "x contains NaN or infinite values"),
    (np.float32(1.0), "expected an array with a batch dimension"),
    (np.array(["a", "b"]), "expected numeric data"),
])
def test_bad_input_raises_what_predict_on_batch_raises(bad, match):
    model = mlp()
    errors = []
    for call in (model.predict_on_batch, lambda a: model.predict(a, verbose=0)):
        with pytest.raises((ValueError, TypeError), match=match) as info:
            call(bad)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "predict: batch_size must be a positive integer, got 0"),
    ({"batch_size": 2.5}, "predict: batch_size must be a positive integer, got 2.5"),
    ({"batch_size": "8"}, "predict: batch_size must be a positive integer, got '8'"),
    ({"verbose": "loud"}, "invalid literal for int"),
])
def test_bad_arguments_are_refused_for_one_batch_too(kwargs, match):
    model = mlp()
    with pytest.raises(ValueError, match=match):
        model.predict(_x((20,), 1), **kwargs)


def test_callbacks_see_the_batches_of_one_batch():
    model = mlp()
    x = _x((20,), 3)
    seen = []

    class Spy(pynn.callbacks.Callback):
        def on_predict_begin(self, logs=None):
            seen.append("begin")

        def on_predict_batch_end(self, batch, logs=None):
            seen.append((batch, logs["outputs"][0].shape))

        def on_predict_end(self, logs=None):
            seen.append("end")

    _same(model.predict(x, verbose=0, callbacks=[Spy()]), model.predict_on_batch(x))
    assert seen == ["begin", (0, (3, 5)), "end"]


def test_progress_bar_for_several_batches_and_none_for_one(capsys):
    model = mlp()
    model.predict(_x((20,), 32))
    assert capsys.readouterr().out == ""
    model.predict(_x((20,), 33))
    assert "2/2" in capsys.readouterr().out
    model.predict(_x((20,), 33), verbose=0)
    assert capsys.readouterr().out == ""


def test_steps_limits_the_batches():
    model = mlp()
    x = _x((20,), 10)
    got = model.predict(x, batch_size=4, steps=2, verbose=0)
    _same(got, _batches(model, [x[:4], x[4:8]]))
    _same(model.predict(x[:3], steps=1, verbose=0), model.predict_on_batch(x[:3]))


def test_a_predict_step_of_the_models_own_is_called():
    calls = []

    class Doubled(pynn.Model):
        def predict_step(self, data):
            calls.append(len(data))
            return self(data, training=False) * 2.0

    pynn.utils.set_random_seed(3)
    inp = pynn.Input((20,))
    model = Doubled(inp, layers.Dense(5)(inp))
    x = _x((20,), 3)
    got = model.predict(x, verbose=0)
    assert calls == [3]
    np.testing.assert_allclose(got, 2.0 * model(x), rtol=1e-6)
    # predict_on_batch runs it too, as Keras's does
    np.testing.assert_allclose(model.predict_on_batch(x), got, rtol=1e-6)
    assert calls == [3, 3]


def test_streams_and_memory_mapped_inputs_take_the_general_loop(tmp_path):
    model = mlp()
    x = _x((20,), 6)
    want = model.predict_on_batch(x)
    _same(model.predict((b for b in (x[:4], x[4:])), verbose=0),
          _batches(model, [x[:4], x[4:]]))
    path = tmp_path / "x.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    _same(model.predict(mapped, verbose=0), want)
