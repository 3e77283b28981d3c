"""Image files (load_img, img_to_array, array_to_img, save_img), the
PyDataset base class and the tf.data-style Dataset."""
import io
import os
import sys
import threading

import numpy as np
import pytest

import pynn
from pynn.utils import (Dataset, PyDataset, Sequence, array_to_img, img_to_array, load_img,
                        save_img)

PIL = pytest.importorskip("PIL", reason="Pillow is not installed")


def rgb(h=12, w=17, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.float32)


def test_png_round_trip_is_exact(tmp_path):
    x = rgb()
    path = str(tmp_path / "a.png")
    save_img(path, x, scale=False)
    img = load_img(path)
    assert img.size == (17, 12) and img.mode == "RGB"
    back = img_to_array(img)
    assert back.dtype == np.float32 and back.shape == (12, 17, 3)
    np.testing.assert_array_equal(back, x)
    assert os.listdir(tmp_path) == ["a.png"]       # written atomically, no leftovers
    np.testing.assert_array_equal(img_to_array(img, data_format="channels_first"),
                                  x.transpose(2, 0, 1))
    assert img_to_array(img, dtype="float64").dtype == np.float64
    with open(path, "rb") as f:
        np.testing.assert_array_equal(img_to_array(load_img(io.BytesIO(f.read()))), x)


def test_color_modes_sizes_and_aspect_ratio(tmp_path):
    path = str(tmp_path / "a.png")
    save_img(path, rgb(30, 60), scale=False)
    assert img_to_array(load_img(path, color_mode="grayscale")).shape == (30, 60, 1)
    assert img_to_array(load_img(path, color_mode="rgba")).shape == (30, 60, 4)
    assert load_img(path, target_size=(10, 15)).size == (15, 10)
    img = PIL.Image.open(path)
    for interpolation in ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos"):
        resized = load_img(path, target_size=(10, 10), interpolation=interpolation,
                           keep_aspect_ratio=True)
        method = getattr(PIL.Image.Resampling, interpolation.upper())
        ref = img.resize((10, 10), method, box=(15, 0, 45, 30))   # the centred 30x30
        np.testing.assert_array_equal(np.asarray(resized), np.asarray(ref))


def test_array_to_img_scales_like_keras():
    x = np.linspace(-1, 1, 2 * 3 * 3).reshape(2, 3, 3)
    img = array_to_img(x)
    a = np.asarray(img)
    assert a.min() == 0 and a.max() == 255
    assert array_to_img(x[:, :, :1] * 0 + 7, scale=False).mode == "L"
    assert array_to_img(np.zeros((2, 2, 4))).mode == "RGBA"
    assert array_to_img(np.zeros((3, 2, 2)), data_format="channels_first").size == (2, 2)
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="channel"):
        array_to_img(np.zeros((2, 2, 2)))


def test_save_img_formats(tmp_path):
    x = rgb()
    save_img(str(tmp_path / "a.jpg"), x)
    assert PIL.Image.open(tmp_path / "a.jpg").format == "JPEG"
    buf = io.BytesIO()
    save_img(buf, x, file_format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    with pytest.warns(UserWarning, match="alpha"):
        save_img(str(tmp_path / "b.jpeg"), np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="format"):
        save_img(str(tmp_path / "noext"), x)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_img(str(tmp_path / "missing.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="bad.png"):
        load_img(str(bad))
    truncated = tmp_path / "cut.png"
    save_img(str(tmp_path / "whole.png"), rgb(40, 40))
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    with pytest.raises(ValueError, match="cut.png"):
        load_img(str(truncated))
    with pytest.raises(ValueError, match="color_mode"):
        load_img(str(bad), color_mode="cmyk")
    with pytest.raises(ValueError, match="interpolation"):
        load_img(str(bad), target_size=(2, 2), interpolation="cubic")
    with pytest.raises(TypeError, match="path"):
        load_img(3)


def test_missing_pillow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install 'pynn\[image\]'"):
        load_img("whatever.png")
    with pytest.raises(ImportError, match=r"pynn\[image\]"):
        array_to_img(np.zeros((2, 2, 3)))


def test_smart_resize():
    x = rgb(20, 40)
    out = pynn.utils.smart_resize(x, (10, 10))
    assert out.shape == (10, 10, 3)
    np.testing.assert_allclose(pynn.utils.smart_resize(x, (20, 20)), x[:, 10:30])
    assert pynn.utils.smart_resize(np.stack([x, x]), (5, 7)).shape == (2, 5, 7, 3)


# ------------------------------------------------------------ PyDataset

class Squares(PyDataset):
    def __init__(self, n, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.n, self.batch_size = n, batch_size
        self.epochs = 0

    def __len__(self):
        return -(-self.n // self.batch_size)

    def __getitem__(self, index):
        lo = index * self.batch_size
        x = np.arange(lo, min(lo + self.batch_size, self.n), dtype=np.float32)
        return x, x ** 2

    def on_epoch_end(self):
        self.epochs += 1


def test_pydataset_protocol():
    ds = Squares(10, 4, workers=2, use_multiprocessing=False, max_queue_size=3)
    assert Sequence is PyDataset
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (2, False, 3)
    assert len(ds) == 3 and ds.num_batches == 3
    batches = list(ds)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(batches[2][1], [64, 81])
    ds.on_epoch_end()
    assert ds.epochs == 1


def test_pydataset_without_super_init_warns():
    class Bare(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

    with pytest.warns(UserWarning, match="super"):
        assert Bare().workers == 1
    with pytest.raises(NotImplementedError):
        PyDataset()[0]


# --------------------------------------------------------------- Dataset

def numbers(n=10):
    return Dataset.from_tensor_slices((np.arange(n), np.arange(n) * 10))


def test_dataset_take_skip_map_batch_unbatch():
    ds = numbers()
    assert len(ds) == 10 and ds.cardinality() == 10
    assert [int(x) for x, _ in ds.take(3)] == [0, 1, 2]
    assert [int(x) for x, _ in ds.skip(8)] == [8, 9]
    assert len(ds.take(20)) == 10 and len(ds.skip(20)) == 0 and len(ds.take(-1)) == 10
    doubled = ds.map(lambda x, y: (x * 2, y))
    assert [int(x) for x, _ in doubled][:3] == [0, 2, 4]
    batches = list(ds.batch(4))
    assert [len(b[0]) for b in batches] == [4, 4, 2] and len(ds.batch(4)) == 3
    assert len(ds.batch(4, drop_remainder=True)) == 2
    np.testing.assert_array_equal(batches[1][1], [40, 50, 60, 70])
    rows = list(ds.batch(4).unbatch())
    assert [int(x) for x, _ in rows] == list(range(10))
    with pytest.raises(TypeError, match="unknown"):
        len(ds.batch(4).unbatch())
    single = Dataset.from_tensor_slices(np.arange(6).reshape(3, 2))
    np.testing.assert_array_equal(list(single.as_numpy_iterator())[1], [2, 3])
    d = Dataset.from_tensor_slices({"a": np.arange(4), "b": np.ones(4)}).batch(2)
    assert set(next(iter(d))) == {"a", "b"}


def test_dataset_shuffle_is_a_seeded_permutation():
    ds = numbers(50)
    a = [int(x) for x, _ in ds.shuffle(50, seed=1)]
    assert sorted(a) == list(range(50)) and a != list(range(50))
    shuffled = ds.shuffle(50, seed=1)
    first, second = ([int(x) for x, _ in shuffled] for _ in range(2))
    assert first == a and second != first          # a new order every pass
    fixed = ds.shuffle(50, seed=1, reshuffle_each_iteration=False)
    assert [int(x) for x, _ in fixed] == [int(x) for x, _ in fixed]
    small = [int(x) for x, _ in ds.shuffle(4, seed=0)]
    assert sorted(small) == list(range(50))
    # a buffer of 4 moves an element at most a few places forward
    assert all(v <= i + 4 for i, v in enumerate(small))


def test_dataset_repeat_cache_prefetch(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return iter(range(5))

    ds = Dataset(make, 5)
    cached = ds.cache()
    assert list(cached) == list(range(5)) and list(cached) == list(range(5))
    assert len(calls) == 1
    assert list(ds.repeat(3)) == list(range(5)) * 3 and len(ds.repeat(3)) == 15
    endless = ds.repeat()
    with pytest.raises(TypeError, match="infinite"):
        len(endless)
    assert list(endless.take(12)) == (list(range(5)) * 3)[:12]
    assert list(ds.prefetch(2)) == list(range(5)) and len(ds.prefetch(Dataset.AUTOTUNE)) == 5
    # with a filename, the first pass is kept in a file that later runs read
    before = len(calls)
    on_disk = ds.cache(str(tmp_path / "file.cache"))
    assert list(on_disk) == list(range(5)) and list(on_disk) == list(range(5))
    assert len(calls) == before + 1 and (tmp_path / "file.cache.npz").exists()


def test_prefetch_raises_errors_and_stops_early():
    def broken():
        yield 1
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError, match="reader failed"):
        list(Dataset(broken).prefetch(1))
    before = threading.active_count()
    for _ in range(5):
        it = iter(Dataset(lambda: iter(range(10 ** 6))).prefetch(2))
        next(it)
        it.close()
    for t in threading.enumerate():
        if t.name.startswith("Thread") and t is not threading.current_thread():
            t.join(timeout=2)
    assert threading.active_count() <= before + 1


def test_dataset_bad_arguments():
    ds = numbers()
    with pytest.raises(TypeError, match="count"):
        ds.take(2.5)
    with pytest.raises(ValueError, match="batch_size"):
        ds.batch(0)
    with pytest.raises(ValueError, match="buffer_size"):
        ds.shuffle(0)
    with pytest.raises(TypeError, match="callable"):
        ds.map(3)
