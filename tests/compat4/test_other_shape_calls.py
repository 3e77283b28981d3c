"""Models called on inputs of other sizes than they were built for, as
Keras 3 on its NumPy backend does: a Sequential runs wherever its layers
can (sequences of another length into an Embedding); a functional model
holds its inputs to its Inputs' shapes, but for a last axis of 1 (a
model on (None, 1) takes (None, 5000)); where a layer's weights do not
fit, the error names the layer and the shapes."""
import numpy as np
import pytest

import pynn
from keras_reference import keras as real_keras, needs_keras

RNG = np.random.default_rng(3)
IDS = RNG.integers(0, 50, size=(4, 9))
SERIES = RNG.normal(size=(3, 7, 4)).astype("float32")


def _seq_embed(K, head):
    return K.Sequential([K.Input((1,)), K.layers.Embedding(50, 6), head(K), K.layers.Dense(2)])


def _fn_embed(K, head):
    i = K.Input((1,))
    return K.Model(i, K.layers.Dense(2)(head(K)(K.layers.Embedding(50, 6)(i))))


def _gap(K):
    return K.layers.GlobalAveragePooling1D()


def _flatten(K):
    return K.layers.Flatten()


def _seq_dense(K):
    return K.Sequential([K.Input((3, 4)), K.layers.Dense(2)])


def _fn_dense(K):
    i = K.Input((3, 4))
    return K.Model(i, K.layers.Dense(2)(i))


def _pair(make):
    ours, ref = make(pynn), make(real_keras)
    ref.set_weights(ours.get_weights())
    return ours, ref


RUNS = {  # the models Keras runs on the other shape
    "sequential_embedding_gap": (lambda K: _seq_embed(K, _gap), IDS),
    "functional_embedding_gap": (lambda K: _fn_embed(K, _gap), IDS),
    "sequential_dense_longer_series": (_seq_dense, SERIES),
}


@needs_keras
@pytest.mark.parametrize("name", sorted(RUNS))
def test_runs_with_keras_values(name):
    make, x = RUNS[name]
    ours, ref = _pair(make)
    want = np.asarray(ref.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ours(x)), want, rtol=1e-5, atol=1e-6)
    ours.compile("sgd", "mse")
    ref.compile("sgd", "mse")
    y = np.zeros((len(x),) + want.shape[1:], "float32")
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(
        float(ref.evaluate(x, y, verbose=0)), rel=1e-5)


REFUSED = {  # the models Keras refuses the other shape, and who says so
    "sequential_flatten_dense": (lambda K: _seq_embed(K, _flatten), IDS, "'dense"),
    "functional_flatten_dense": (lambda K: _fn_embed(K, _flatten), IDS, "'dense"),
    "functional_dense_longer_series": (_fn_dense, SERIES, "model 'functional"),
    "sequential_dense_wider_features": (_seq_dense, SERIES[:, :3, :3], "'dense"),
}


@needs_keras
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_as_keras_refuses(name):
    make, x, who = REFUSED[name]
    ours, ref = _pair(make)
    with pytest.raises(ValueError):
        ref.predict(x, verbose=0)
    ours.compile("sgd", "mse")
    for run in (lambda: ours.predict(x, verbose=0), lambda: ours(x),
                lambda: ours.fit(x, np.zeros((len(x), 2)), verbose=0)):
        with pytest.raises(ValueError, match=who) as e:
            run()
        assert "expected shape=" in str(e.value) and "found shape=" in str(e.value)


def test_fit_on_longer_sequences_trains_as_a_model_built_for_them():
    # A skip-gram style model built for one id per sample, fit on 9: the
    # same steps as the same model built for 9 ids.
    def make(n):
        pynn.utils.set_random_seed(0)
        m = pynn.Sequential([pynn.Input((n,)), pynn.layers.Embedding(50, 6),
                             pynn.layers.GlobalAveragePooling1D(), pynn.layers.Dense(1)])
        m.compile(pynn.optimizers.SGD(0.5), "mse")
        return m
    built_short, built_long = make(1), make(IDS.shape[1])
    built_long.set_weights(built_short.get_weights())
    y = RNG.normal(size=(len(IDS), 1)).astype("float32")
    h1 = built_short.fit(IDS, y, epochs=3, batch_size=2, shuffle=False, verbose=0)
    h2 = built_long.fit(IDS, y, epochs=3, batch_size=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    assert h1.history["loss"][-1] < h1.history["loss"][0]
    for a, b in zip(built_short.get_weights(), built_long.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_symbolic_call_takes_a_last_axis_of_one_as_keras():
    inner = pynn.Sequential([pynn.Input((1,)), pynn.layers.Embedding(50, 6),
                             pynn.layers.GlobalAveragePooling1D()])
    i = pynn.Input((IDS.shape[1],))
    outer = pynn.Model(i, pynn.layers.Dense(2)(inner(i)))
    assert outer.output_shape == (None, 2)
    assert outer.predict(IDS, verbose=0).shape == (len(IDS), 2)
    # other sizes than a last axis of 1 stay the model's to refuse
    with pytest.raises(ValueError, match="sequential"):
        _seq_dense(pynn)(pynn.Input((9, 4)))
