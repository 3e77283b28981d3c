"""california_housing.load_data: Keras's split of the cached file (both
versions), a clear error naming the file and URL when it is neither cached
nor downloadable."""
import numpy as np
import pytest

from pynn.datasets import california_housing


def test_split_and_versions_as_keras(cache, keras, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(700, 8)).astype(np.float32)
    y = rng.uniform(2e4, 5e5, 700).astype(np.float32)
    path = cache.path / "california_housing.npz"
    np.savez(path, x=x, y=y)
    cache.trust(california_housing, "california_housing.npz", path)
    from keras.src.datasets import california_housing as theirs
    monkeypatch.setattr(theirs, "get_file", lambda *a, **k: str(path))
    for kw in ({}, {"version": "small"}, {"test_split": 0.3, "seed": 7}):
        got, want = california_housing.load_data(**kw), theirs.load_data(**kw)
        for g, w in zip(got, want):
            for a, b in zip(g, w):
                np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="medium")


def test_missing_file_names_it(cache):
    with pytest.raises(RuntimeError, match="california_housing.npz.*storage.googleapis"):
        california_housing.load_data()
