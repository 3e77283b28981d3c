"""Damaged, foreign and hostile files raise a clear ModelFileError."""
import io
import json
import zipfile

import numpy as np
import pytest

from pynn import layers
from pynn.models import Sequential, load_model
from pynn.saving import ModelFileError


@pytest.fixture
def saved(tmp_path):
    m = Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    m.fit(np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32), verbose=0)
    path = tmp_path / "good.pynn"
    m.save(path)
    load_model(path)
    return path


def entries(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(path, contents):
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in contents.items():
            zf.writestr(n, data)


def npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def edit_config(path, mutate):
    c = entries(path)
    doc = json.loads(c["model.json"])
    mutate(doc)
    c["model.json"] = json.dumps(doc)
    rewrite(path, c)


def test_random_bytes(tmp_path):
    p = tmp_path / "r.pynn"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFileError, match="not a zip"):
        load_model(p)


def test_empty_file(tmp_path):
    p = tmp_path / "e.pynn"
    p.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_model(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.pynn")


def test_truncated_files(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (1, 10, 100, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        p = tmp_path / f"t{cut}.pynn"
        p.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_model(p)


def test_flipped_bytes_in_an_array_are_caught(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    start = data.find(b"\x93NUMPY")
    data[start + 140] ^= 0xFF  # inside the data of the first array
    p = tmp_path / "flip.pynn"
    p.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged"):
        load_model(p)


def test_wrong_shape(saved):
    c = entries(saved)
    c["weights/00000.npy"] = npy(np.zeros((3, 5), np.float32))
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match=r"shape \(3, 5\), expected \(3, 4\)"):
        load_model(saved)


def test_wrong_shape_in_manifest(saved):
    edit_config(saved, lambda d: d["weights"][0].update(shape=[3, 5]))
    with pytest.raises(ModelFileError, match=r"\(3, 5\)"):
        load_model(saved)


def test_wrong_dtype(saved):
    c = entries(saved)
    c["weights/00001.npy"] = npy(np.zeros(4, np.float64))
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match="dtype float64"):
        load_model(saved)


def test_object_array_is_refused_without_unpickling(saved):
    c = entries(saved)
    c["weights/00001.npy"] = npy(np.array([{"x": 1}] * 4, dtype=object), allow_pickle=True)
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match="dtype object"):
        load_model(saved)


def test_huge_claimed_shape_is_refused_before_allocating(saved):
    edit_config(saved, lambda d: d["optimizer_state"]["slots"][0].update(shape=[1 << 40]))
    with pytest.raises(ModelFileError, match="1099511627776"):
        load_model(saved)


def test_huge_shape_in_npy_header_is_refused_before_allocating(saved):
    c = entries(saved)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)})
    c["optimizer/00000.npy"] = buf.getvalue() + b"\0" * 64
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match="shape"):
        load_model(saved)


def test_missing_entry(saved):
    c = entries(saved)
    del c["weights/00002.npy"]
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match=r"weights/00002.npy.*missing"):
        load_model(saved)


def test_missing_config(saved):
    c = entries(saved)
    del c["model.json"]
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match="model.json"):
        load_model(saved)


def test_newer_format_version(saved):
    edit_config(saved, lambda d: d.update(format_version=99, pynn_version="9.0"))
    with pytest.raises(ModelFileError, match="format version 99.*upgrade pynn"):
        load_model(saved)


@pytest.mark.parametrize("mutate,word", [
    (lambda d: d.update(format="something"), "does not describe"),
    (lambda d: d.update(format_version="1"), "format_version"),
    (lambda d: d["model"]["config"]["layers"][0].update(class_name="Nope"), "Nope"),
    (lambda d: d["model"]["config"]["layers"][0]["config"].update(units=-3), "units"),
    (lambda d: d["model"]["config"]["layers"][0]["config"].update(bogus=1), "bogus"),
    (lambda d: d["model"]["config"].update(layers=None), "layers"),
    (lambda d: d["compile"].update(optimizer={"class_name": "AdaBelief"}), "AdaBelief"),
    (lambda d: d["compile"].update(loss="quartic_error"), "quartic_error"),
    (lambda d: d["optimizer_state"].update(iterations=-1), "iteration"),
    (lambda d: d["weights"].pop(), "weight arrays"),
])
def test_bad_config(saved, mutate, word):
    edit_config(saved, mutate)
    with pytest.raises(ModelFileError, match=word):
        load_model(saved)


def test_not_json(saved):
    c = entries(saved)
    c["model.json"] = b"\xff\xfe{not json"
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match="JSON"):
        load_model(saved)


def test_nan_weights_are_refused(saved):
    c = entries(saved)
    c["weights/00001.npy"] = npy(np.full(4, np.nan, np.float32))
    rewrite(saved, c)
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(saved)
