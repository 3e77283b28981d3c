"""Eight threads share one model for predict, evaluate and calls in
inference mode: every result equals the serial one exactly, on an MLP and
a convnet, built with Sequential and with the functional API."""
import threading

import numpy as np
import pytest

import pynn
from pynn import layers


def mlp_layers():
    return [layers.Dense(64, activation="relu"), layers.Dropout(0.3),
            layers.Dense(32, activation="tanh"), layers.Dense(10, activation="softmax")]


def cnn_layers():
    return [layers.Conv2D(8, 3, activation="relu"), layers.BatchNormalization(),
            layers.MaxPooling2D(), layers.Conv2D(16, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(), layers.Flatten(), layers.Dropout(0.5),
            layers.Dense(10, activation="softmax")]


def build(kind, api):
    pynn.utils.set_random_seed(11)
    shape = (64,) if kind == "mlp" else (16, 16, 1)
    stack = mlp_layers() if kind == "mlp" else cnn_layers()
    if api == "sequential":
        model = pynn.Sequential([pynn.Input(shape=shape)] + stack)
    else:
        inp = pynn.Input(shape=shape)
        x = inp
        for layer in stack:
            x = layer(x)
        model = pynn.Model(inp, x)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    g = np.random.default_rng(12)
    x = g.random((96,) + shape, dtype=np.float32)
    y = g.integers(0, 10, 96)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # BatchNormalization statistics
    return model, shape


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("api", ["sequential", "functional"])
def test_eight_threads_predict_and_evaluate_exactly_as_serial_calls(kind, api):
    model, shape = build(kind, api)
    g = np.random.default_rng(13)
    # sizes that make full and partial batches, and one sample
    cases = []
    for n in (1, 7, 37, 64):
        x = g.random((n,) + shape, dtype=np.float32)
        y = g.integers(0, 10, n)
        cases.append((x, y, model.predict(x, batch_size=16, verbose=0),
                      model.evaluate(x, y, batch_size=16, verbose=0), np.asarray(model(x))))
    results, errors = [], []
    start = threading.Barrier(8)

    def work(t):
        try:
            start.wait()
            for r in range(4):
                for i in range((t + r) % len(cases), (t + r) % len(cases) + len(cases)):
                    x, y = cases[i % len(cases)][:2]
                    results.append((i % len(cases), model.predict(x, batch_size=16, verbose=0),
                                    model.evaluate(x, y, batch_size=16, verbose=0),
                                    np.asarray(model(x))))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 8 * 4 * len(cases)
    for i, p, e, c in results:
        np.testing.assert_array_equal(p, cases[i][2])
        assert e == cases[i][3]
        np.testing.assert_array_equal(c, cases[i][4])
