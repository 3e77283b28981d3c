"""IMDB and Reuters: the real loading code on small files in Keras's format.
The expected results were produced by Keras 3's own imdb/reuters.load_data
on the same files."""
import json
import os

import numpy as np
import pytest

from pynn.datasets import imdb, reuters


def object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, s in enumerate(lists):
        out[i] = s
    return out


X_TRAIN = [[5, 1, 9], [2, 2, 7, 3], [8], [4, 6, 1, 1, 2], [3, 10]]
Y_TRAIN = [1, 0, 1, 0, 1]
X_TEST = [[7, 7], [1, 4, 9, 2], [6], [10, 3, 5]]
Y_TEST = [0, 1, 1, 0]

IMDB_CASES = [
    ({}, ([[1, 5, 5, 10, 6], [1, 8, 4, 12], [1, 7, 9, 4, 4, 5], [1, 11], [1, 6, 2]],
          [0, 1, 0, 1, 1], [[1, 10, 10], [1, 4, 7, 12, 5], [1, 2, 6, 8], [1, 9]], [0, 1, 0, 1])),
    ({"num_words": 8, "skip_top": 4},
     ([[2, 5, 5, 2, 6], [2, 2, 4, 2], [2, 7, 2, 4, 4, 5], [2, 2], [2, 6, 2]], [0, 1, 0, 1, 1],
      [[2, 2, 2], [2, 4, 7, 2, 5], [2, 2, 6, 2], [2, 2]], [0, 1, 0, 1])),
    ({"maxlen": 4}, ([[1, 11], [1, 6, 2]], [1, 1], [[1, 10, 10], [1, 9]], [0, 1])),
    ({"start_char": None, "oov_char": None, "index_from": 0, "num_words": 6},
     ([[2, 2, 3], [5, 1], [4, 1, 1, 2], [], [3]], [0, 1, 0, 1, 1],
      [[], [1, 4, 2], [3, 5], []], [0, 1, 0, 1])),
    ({"seed": 1, "index_from": 2, "oov_char": 0, "num_words": 9},
     ([[1, 0], [1, 4, 4, 0, 5], [1, 5, 0], [1, 7, 3, 0], [1, 6, 8, 3, 3, 4]], [1, 0, 1, 1, 0],
      [[1, 0, 0], [1, 8], [1, 0, 5, 7], [1, 3, 6, 0, 4]], [0, 1, 0, 1])),
]

X_REUTERS = [[3, 1, 4, 1, 5], [9, 2, 6], [5, 3], [5, 8, 9, 7, 9, 3], [2, 3, 8], [4, 6],
             [2, 6, 4, 3], [3, 8, 3, 2, 7], [9, 5], [0, 2, 8, 8]]
Y_REUTERS = [3, 4, 3, 19, 1, 4, 11, 3, 16, 4]

REUTERS_CASES = [
    ({}, ([[1, 3, 5, 11, 11], [1, 8, 11, 2, 10, 2, 6], [1, 5, 9, 7, 6], [1, 2, 5, 9],
           [1, 6, 4, 7, 4, 8], [1, 6, 11, 6, 5, 10], [1, 5, 6, 11], [1, 2, 8]],
          [4, 19, 11, 4, 3, 3, 1, 16], [[1, 8, 6], [1, 7, 9]], [3, 4])),
    ({"num_words": 7, "skip_top": 3, "test_split": 0.3},
     ([[2, 3, 5, 2, 2], [2, 2, 2, 2, 2, 2, 6], [2, 5, 2, 2, 6], [2, 2, 5, 2], [2, 6, 4, 2, 4, 2],
       [2, 6, 2, 6, 5, 2], [2, 5, 6, 2]], [4, 19, 11, 4, 3, 3, 1],
      [[2, 2, 2], [2, 2, 6], [2, 2, 2]], [16, 3, 4])),
    ({"maxlen": 4}, ([[1, 2, 8], [1, 8, 6]], [16, 3], [[1, 7, 9]], [4])),
    ({"start_char": None, "index_from": 0, "oov_char": None, "num_words": 5, "seed": 7},
     ([[], [4], [3, 1, 4, 1], [3], [2], [0, 2], [3, 3, 2], [3]], [16, 4, 3, 3, 4, 4, 3, 19],
      [[2, 4, 3], [2, 3]], [11, 1])),
]


@pytest.fixture
def imdb_file(cache):
    path = cache.path / "imdb.npz"
    np.savez(path, x_train=object_array(X_TRAIN), y_train=np.array(Y_TRAIN, np.int64),
             x_test=object_array(X_TEST), y_test=np.array(Y_TEST, np.int64))
    cache.trust(imdb, "imdb.npz", path)
    return path


@pytest.fixture
def reuters_file(cache):
    path = cache.path / "reuters.npz"
    np.savez(path, x=object_array(X_REUTERS), y=np.array(Y_REUTERS, np.int64))
    cache.trust(reuters, "reuters.npz", path)
    return path


def check(result, expected):
    (x_train, y_train), (x_test, y_test) = result
    for x, want in ((x_train, expected[0]), (x_test, expected[2])):
        assert isinstance(x, np.ndarray) and x.dtype == object and x.shape == (len(want),)
        assert all(type(s) is list and all(type(w) is int for w in s) for s in x)
        assert [s for s in x] == want
    for y, want in ((y_train, expected[1]), (y_test, expected[3])):
        assert y.dtype == np.int64
        assert y.tolist() == want


@pytest.mark.parametrize("kwargs, expected", IMDB_CASES)
def test_imdb_as_keras(imdb_file, kwargs, expected):
    check(imdb.load_data(**kwargs), expected)


@pytest.mark.parametrize("kwargs, expected", REUTERS_CASES)
def test_reuters_as_keras(reuters_file, kwargs, expected):
    check(reuters.load_data(**kwargs), expected)


def test_imdb_legacy_nb_words(imdb_file):
    check(imdb.load_data(nb_words=8, skip_top=4), IMDB_CASES[1][1])


def test_imdb_path_names_the_cached_file(cache, imdb_file):
    os.rename(imdb_file, cache.path / "my_imdb.npz")
    check(imdb.load_data(path="my_imdb.npz"), IMDB_CASES[0][1])


def test_imdb_maxlen_keeping_nothing(imdb_file):
    with pytest.raises(ValueError, match="no sequence was kept"):
        imdb.load_data(maxlen=2)


@pytest.mark.parametrize("kwargs", [{"num_words": -1}, {"maxlen": 2.5}, {"skip_top": None},
                                    {"index_from": True}, {"start_char": "1"}])
def test_bad_arguments(imdb_file, reuters_file, kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        imdb.load_data(**kwargs)
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        reuters.load_data(**kwargs)


def test_unknown_argument(imdb_file):
    with pytest.raises(TypeError, match="numwords"):
        imdb.load_data(numwords=10)


@pytest.mark.parametrize("split", [-0.1, 1.5, "0.2"])
def test_reuters_bad_test_split(reuters_file, split):
    with pytest.raises(ValueError, match="test_split"):
        reuters.load_data(test_split=split)


def test_reuters_label_names():
    names = reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn" and names[45] == "lead"


def test_offline_error_names_file_url_and_place(cache):
    with pytest.raises(RuntimeError) as err:
        imdb.load_data()
    message = str(err.value)
    assert "imdb.npz" in message
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz" in message
    assert str(cache.path / "imdb.npz") in message
    assert "PYNN_OFFLINE=1" in message


def test_corrupt_cached_file_is_reported_and_kept(cache, imdb_file):
    with open(imdb_file, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(RuntimeError, match="has SHA256 [0-9a-f]{64}, not [0-9a-f]{64}"):
        imdb.load_data()
    assert imdb_file.exists()


def test_npz_missing_an_array(cache):
    path = cache.path / "imdb.npz"
    np.savez(path, x_train=object_array(X_TRAIN), y_train=np.array(Y_TRAIN))
    cache.trust(imdb, "imdb.npz", path)
    with pytest.raises(ValueError, match="no array 'x_test'"):
        imdb.load_data()


def test_sequences_must_be_lists(cache):
    path = cache.path / "reuters.npz"
    x = object_array(X_REUTERS)
    x[3] = "a string"
    np.savez(path, x=x, y=np.array(Y_REUTERS))
    cache.trust(reuters, "reuters.npz", path)
    with pytest.raises(ValueError, match="a sequence is a str, not a list"):
        reuters.load_data()


@pytest.mark.parametrize("module, fname", [(imdb, "imdb_word_index.json"),
                                           (reuters, "reuters_word_index.json")])
def test_word_index(cache, module, fname):
    path = cache.path / fname
    path.write_text(json.dumps({"the": 1, "and": 2, "film": 17}), encoding="utf-8")
    cache.trust(module, fname, path)
    assert module.get_word_index() == {"the": 1, "and": 2, "film": 17}


@pytest.mark.parametrize("content", ['["the", "and"]', '{"the": "1"}', '{"the": 1.5}', "{oops"])
def test_word_index_structure_is_checked(cache, content):
    path = cache.path / "imdb_word_index.json"
    path.write_text(content, encoding="utf-8")
    cache.trust(imdb, "imdb_word_index.json", path)
    with pytest.raises(ValueError, match="imdb.get_word_index"):
        imdb.get_word_index()


def test_word_index_md5_is_checked(cache):
    path = cache.path / "imdb_word_index.json"
    path.write_text('{"the": 1}', encoding="utf-8")
    with pytest.raises(RuntimeError, match="has MD5 [0-9a-f]{32}, not "
                                           "bfafd718b763782e994055a2d397834f"):
        imdb.get_word_index()


def test_download_is_verified_and_cached(cache, tmp_path, monkeypatch):
    """The download path, on a file:// URL: a good file is cached, a file
    whose digest differs is refused and leaves nothing behind."""
    source = tmp_path / "server"
    source.mkdir()
    np.savez(source / "imdb.npz", x_train=object_array(X_TRAIN), y_train=np.array(Y_TRAIN),
             x_test=object_array(X_TEST), y_test=np.array(Y_TEST))
    monkeypatch.setattr(imdb, "BASE_URL", source.as_uri() + "/")
    monkeypatch.delenv("PYNN_OFFLINE")
    with pytest.raises(RuntimeError, match="the downloaded file has SHA256"):
        imdb.load_data()
    assert os.listdir(cache.path) == []
    cache.trust(imdb, "imdb.npz", source / "imdb.npz")
    check(imdb.load_data(), IMDB_CASES[0][1])
    assert os.listdir(cache.path) == ["imdb.npz"]
    (source / "imdb.npz").unlink()
    check(imdb.load_data(), IMDB_CASES[0][1])  # from the cache now


def test_failed_download_is_reported(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(reuters, "BASE_URL", (tmp_path / "nowhere").as_uri() + "/")
    monkeypatch.delenv("PYNN_OFFLINE")
    with pytest.raises(RuntimeError, match="downloading it failed"):
        reuters.load_data()
