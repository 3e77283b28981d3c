"""Fashion-MNIST and CIFAR: the real loading code on small files in the
real formats (gzip'd IDX files; a python-version CIFAR tar.gz of batches
pickled the way Python 2 wrote them)."""
import gzip
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from pynn.datasets import cifar10, cifar100, fashion_mnist


def idx_bytes(array):
    header = struct.pack(">I", 0x800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fashion(cache):
    g = np.random.default_rng(0)
    folder = cache.path / "fashion-mnist"
    folder.mkdir()
    arrays = {"train-labels-idx1-ubyte.gz": g.integers(0, 10, 5, dtype=np.uint8),
              "train-images-idx3-ubyte.gz": g.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": g.integers(0, 10, 3, dtype=np.uint8),
              "t10k-images-idx3-ubyte.gz": g.integers(0, 256, (3, 28, 28), dtype=np.uint8)}
    for name, array in arrays.items():
        with gzip.open(folder / name, "wb") as f:
            f.write(idx_bytes(array))
        cache.trust(fashion_mnist, name, folder / name)
    return arrays


def test_fashion_mnist(fashion):
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    for got, name in ((y_train, "train-labels-idx1-ubyte.gz"),
                      (x_train, "train-images-idx3-ubyte.gz"),
                      (y_test, "t10k-labels-idx1-ubyte.gz"),
                      (x_test, "t10k-images-idx3-ubyte.gz")):
        assert got.dtype == np.uint8 and got.flags.writeable
        np.testing.assert_array_equal(got, fashion[name])
    assert x_train.shape == (5, 28, 28) and y_test.shape == (3,)


@pytest.mark.parametrize("damage", ["magic", "count", "truncated"])
def test_fashion_mnist_structure_is_checked(cache, fashion, damage):
    name = "t10k-images-idx3-ubyte.gz"
    data = idx_bytes(fashion[name])
    if damage == "magic":
        data = struct.pack(">I", 0x801) + data[4:]
    elif damage == "count":  # four images announced where the labels say three
        data = data[:4] + struct.pack(">I", 4) + data[8:] + bytes(784)
    else:
        data = data[:-10]
    path = cache.path / "fashion-mnist" / name
    with gzip.open(path, "wb") as f:
        f.write(data)
    cache.trust(fashion_mnist, name, path)
    with pytest.raises(ValueError, match="fashion_mnist.load_data"):
        fashion_mnist.load_data()


def test_fashion_mnist_offline_names_the_subfolder(cache):
    with pytest.raises(RuntimeError) as err:
        fashion_mnist.load_data()
    assert str(cache.path / "fashion-mnist" / "train-labels-idx1-ubyte.gz") in str(err.value)


class Python2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2's str (BINSTRING), as the CIFAR batches
    were written, so that reading them needs encoding='bytes' as the real
    files do."""

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def batch_bytes(batch):
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(batch)
    return buffer.getvalue()


def write_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def images(g, n):
    """n images (n, 32, 32, 3) and their rows as CIFAR stores them: the red
    plane, then green, then blue, each row-major."""
    x = g.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return x, x.transpose(0, 3, 1, 2).reshape(n, 3072).copy()


@pytest.fixture
def cifar10_file(cache):
    g = np.random.default_rng(1)
    members, xs, ys = {}, [], []
    for i in range(1, 6):
        x, rows = images(g, i % 3 + 1)
        y = [int(v) for v in g.integers(0, 10, len(x))]
        members[f"cifar-10-batches-py/data_batch_{i}"] = batch_bytes(
            {b"batch_label": b"training batch", b"labels": y, b"data": rows,
             b"filenames": [b"img.png"] * len(x)})
        xs.append(x)
        ys += y
    x_test, rows = images(g, 4)
    y_test = [9, 0, 3, 7]
    members["cifar-10-batches-py/test_batch"] = batch_bytes({b"labels": y_test, b"data": rows})
    members["cifar-10-batches-py/readme.html"] = b"<html></html>"
    path = cache.path / "cifar-10-python.tar.gz"
    write_tar(path, members)
    cache.trust(cifar10, "cifar-10-python.tar.gz", path)
    return (np.concatenate(xs), ys), (x_test, y_test)


def test_cifar10(cifar10_file):
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    (want_x, want_y), (want_xt, want_yt) = cifar10_file
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    assert x_train.shape == (len(want_x), 32, 32, 3) and y_train.shape == (len(want_x), 1)
    assert x_train.flags.c_contiguous
    np.testing.assert_array_equal(x_train, want_x)
    np.testing.assert_array_equal(y_train[:, 0], want_y)
    np.testing.assert_array_equal(x_test, want_xt)
    np.testing.assert_array_equal(y_test, [[9], [0], [3], [7]])


@pytest.mark.parametrize("mode, classes", [("fine", 100), ("coarse", 20)])
def test_cifar100(cache, mode, classes):
    g = np.random.default_rng(2)
    members, want = {}, {}
    for split, n in (("train", 5), ("test", 2)):
        x, rows = images(g, n)
        fine = [int(v) for v in g.integers(0, 100, n)]
        coarse = [v // 5 for v in fine]
        members[f"cifar-100-python/{split}"] = batch_bytes(
            {b"fine_labels": fine, b"coarse_labels": coarse, b"data": rows})
        want[split] = (x, fine if mode == "fine" else coarse)
    members["cifar-100-python/meta"] = batch_bytes({b"fine_label_names": [b"apple"]})
    path = cache.path / "cifar-100-python.tar.gz"
    write_tar(path, members)
    cache.trust(cifar100, "cifar-100-python.tar.gz", path)
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode=mode)
    for (x, y), split in (((x_train, y_train), "train"), ((x_test, y_test), "test")):
        np.testing.assert_array_equal(x, want[split][0])
        assert x.dtype == np.uint8
        assert y.dtype == np.int64 and y.shape == (len(x), 1)  # as Keras returns them
        assert y[:, 0].tolist() == want[split][1] and y.max() < classes


def test_cifar100_label_mode():
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium")


def test_cifar_hostile_batch_is_refused_without_running(cache, cifar10_file, tmp_path):
    marker = tmp_path / "marker"

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = cache.path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}
    members["cifar-10-batches-py/data_batch_3"] = pickle.dumps(
        {b"data": RunsCode(), b"labels": []}, protocol=2)
    write_tar(path, members)
    cache.trust(cifar10, "cifar-10-python.tar.gz", path)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        cifar10.load_data()
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["missing", "labels", "data", "not a dict"])
def test_cifar_structure_is_checked(cache, cifar10_file, damage):
    path = cache.path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}
    name = "cifar-10-batches-py/test_batch"
    g = np.random.default_rng(3)
    if damage == "missing":
        del members[name]
    elif damage == "labels":
        members[name] = batch_bytes({b"labels": [1, 2, 10, 0], b"data": images(g, 4)[1]})
    elif damage == "data":
        members[name] = batch_bytes({b"labels": [1], b"data": np.zeros((1, 100), np.uint8)})
    else:
        members[name] = batch_bytes([1, 2, 3])
    write_tar(path, members)
    cache.trust(cifar10, "cifar-10-python.tar.gz", path)
    with pytest.raises(ValueError, match="cifar10.load_data"):
        cifar10.load_data()


def test_cifar_not_a_tar(cache):
    path = cache.path / "cifar-10-python.tar.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    cache.trust(cifar10, "cifar-10-python.tar.gz", path)
    with pytest.raises(ValueError, match="not a readable tar.gz"):
        cifar10.load_data()
