"""Bad input raises an exception that names the problem; nothing crashes."""
import numpy as np
import pytest

import pynn
from pynn import layers


def mlp(loss="categorical_crossentropy", compile=True):
    model = pynn.Sequential([pynn.Input(shape=(8,)), layers.Dense(4, activation="relu"),
                             layers.Dense(3, activation="softmax")])
    if compile:
        model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    return model


X = np.random.default_rng(0).random((10, 8)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[np.arange(10) % 3]


def test_wrong_feature_count():
    model = mlp()
    for call in (lambda: model.fit(X[:, :5], Y, verbose=0), lambda: model.predict(X[:, :5]),
                 lambda: model.evaluate(X[:, :5], Y, verbose=0)):
        with pytest.raises(ValueError, match="incompatible.*expected shape=\\(None, 8\\).*"
                                             "found shape=\\(None, 5\\)"):
            call()


def test_labels_that_do_not_match_the_loss():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        mlp().fit(X, np.arange(10) % 3, verbose=0)
    with pytest.raises(ValueError, match="one-hot"):
        mlp("sparse_categorical_crossentropy").fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="labels must be in \\[0, 3\\)"):
        mlp("sparse_categorical_crossentropy").fit(X, np.arange(10), verbose=0)


def test_non_finite_data():
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mlp().fit(bad, Y, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        mlp().predict(bad)
    y = Y.copy()
    y[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        mlp().fit(X, y, verbose=0)


def test_fit_before_compile():
    with pytest.raises(RuntimeError, match="compile"):
        mlp(compile=False).fit(X, Y, verbose=0)


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown activation 'rellu'"):
        layers.Dense(3, activation="rellu")
    with pytest.raises(ValueError, match="Unknown loss 'msee'"):
        mlp(compile=False).compile(optimizer="sgd", loss="msee")
    with pytest.raises(ValueError, match="Unknown optimizer"):
        mlp(compile=False).compile(optimizer="sgdd", loss="mse")
    with pytest.raises(ValueError, match="Unknown metric"):
        mlp(compile=False).compile(optimizer="sgd", loss="mse", metrics=["acuracy"])


def test_mismatched_lengths_strings_and_batch_size():
    with pytest.raises(ValueError, match="different numbers of samples"):
        mlp().fit(X, Y[:7], verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        mlp().fit(np.array([["a"] * 8] * 10), Y, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        mlp().fit(X, Y, batch_size=-1, verbose=0)


def test_other_dtypes_and_layouts_work():
    model = mlp()
    model.fit((X * 255).astype(np.uint8), Y, verbose=0)
    model.fit(X.astype(np.float64), Y, verbose=0)
    wide = np.concatenate([X, X], axis=1)[:, ::2]  # non-contiguous
    assert model.predict(wide).shape == (10, 3)
    assert model.predict(X.tolist()).shape == (10, 3)
