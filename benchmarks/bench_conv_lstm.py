"""Keras's next-frame video prediction model (three ConvLSTM2D layers with
BatchNormalization between them, a Conv3D to one sigmoid channel), smaller:
16 filters, 32x32 frames, 10 frames, batch 4.  predict in pynn and, side by
side, in Keras 3 on its NumPy backend (where installed; the same weights),
and one pynn training step (train_on_batch, Adam, binary cross-entropy).
"""
import os

import numpy as np
import pytest

import pynn

SIZE, FILTERS, FRAMES, BATCH = 32, 16, 10, 4


def next_frame_model(k):
    inp = k.layers.Input(shape=(None, SIZE, SIZE, 1))
    x = k.layers.ConvLSTM2D(FILTERS, (5, 5), padding="same", return_sequences=True,
                            activation="relu")(inp)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ConvLSTM2D(FILTERS, (3, 3), padding="same", return_sequences=True,
                            activation="relu")(x)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ConvLSTM2D(FILTERS, (1, 1), padding="same", return_sequences=True,
                            activation="relu")(x)
    x = k.layers.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")(x)
    model = k.models.Model(inp, x)
    model.compile(loss="binary_crossentropy", optimizer="adam")
    return model


def frames():
    g = np.random.default_rng(0)
    movie = (g.random((BATCH, FRAMES + 1, SIZE, SIZE, 1)) > 0.9).astype(np.float32)
    return movie[:, :-1], movie[:, 1:]


GROUP = f"next-frame model, {FILTERS} filters, {FRAMES} frames of {SIZE}x{SIZE}, batch {BATCH}"


@pytest.mark.parametrize("impl", ["pynn", "keras-numpy"])
def test_predict(benchmark, impl):
    x, _ = frames()
    pynn.utils.set_random_seed(1)
    ours = next_frame_model(pynn)
    benchmark.group = f"{GROUP}: predict"
    if impl == "pynn":
        benchmark.pedantic(ours.predict, args=(x,), kwargs=dict(verbose=0), rounds=3,
                           warmup_rounds=1)
        return
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "numpy":
        pytest.skip("Keras is not on its NumPy backend")
    theirs = next_frame_model(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0),
                               atol=1e-5)
    benchmark.pedantic(theirs.predict, args=(x,), kwargs=dict(verbose=0), rounds=3,
                       warmup_rounds=1)


def test_train_step_pynn(benchmark):
    x, y = frames()
    pynn.utils.set_random_seed(1)
    model = next_frame_model(pynn)
    benchmark.group = f"{GROUP}: training step"
    benchmark.pedantic(model.train_on_batch, args=(x, y), rounds=3, warmup_rounds=1)
