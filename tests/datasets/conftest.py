import hashlib

import pytest


def digest(path, algorithm="sha256"):
    with open(path, "rb") as f:
        return hashlib.new(algorithm, f.read()).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty offline cache: $PYNN_HOME/datasets in a temporary folder.
    ``cache.trust(module, key, path)`` points the module's expected digest
    for ``key`` at the file written there, as a real download would match
    Keras's digest."""
    monkeypatch.setenv("PYNN_HOME", str(tmp_path))
    monkeypatch.setenv("PYNN_OFFLINE", "1")
    folder = tmp_path / "datasets"
    folder.mkdir()

    class Cache:
        path = folder

        @staticmethod
        def trust(module, key, path):
            algorithm = "md5" if len(module.HASHES[key]) == 32 else "sha256"
            monkeypatch.setitem(module.HASHES, key, digest(path, algorithm))

    return Cache
