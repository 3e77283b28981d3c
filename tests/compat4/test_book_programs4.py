"""Patterns from further Keras/TF2 textbooks' programs (run with only their
imports changed) that broke in pynn, reproduced in a few lines each, against
Keras 3 on its NumPy backend where it runs the same thing."""
import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras as real_keras, needs_keras  # noqa: F401


class _Frame:
    """A table as pandas' DataFrame and Series behave for fit: an array
    through __array__, yet indexable by column, sized, and iterable (over its
    column labels), which made it look like a dataset."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self):
        return len(self.values)

    def __getitem__(self, name):
        return _Frame(self.values[:, self.columns.index(name)], [name])

    def __iter__(self):
        return iter(self.columns)


def test_fit_takes_a_table_of_features_and_a_column_of_targets():
    """A regression chapter's ``model.fit(x=train_features, y=train_labels,
    validation_split=0.2)`` with a DataFrame and a Series."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    t = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 3.0
    frame = _Frame(np.hstack([t, x]), ["y", "a", "b", "c"])
    features = _Frame(x, ["a", "b", "c"])
    labels = frame["y"]
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=pynn.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x=features, y=labels, epochs=20, verbose=0, validation_split=0.2)
    assert len(history.history["val_loss"]) == 20
    assert history.history["loss"][-1] < 1e-3 < history.history["loss"][0]
    np.testing.assert_allclose(model.predict(features, verbose=0), t, atol=0.05)
    assert model.evaluate(features, labels, verbose=0) < 1e-3
