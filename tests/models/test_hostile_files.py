"""Every loader against damaged and hostile files: truncation at every
offset, random byte flips, members with '..' or absolute paths, pickles,
shapes that overflow or exceed the file, unknown classes, absurd layer
sizes.  Each raises ModelFileError (a ValueError) or loads exactly what was
saved; none runs code from the file."""
import io
import json
import pickle
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models import load_model
from pynn.saving import ModelFileError


def small_model():
    pynn.utils.set_random_seed(1)
    m = pynn.Sequential([pynn.Input((3,)), layers.Dense(2, activation="relu"),
                         layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    return m


@pytest.fixture
def files(tmp_path):
    m = small_model()
    model_path, weights_path = tmp_path / "m.pynn", tmp_path / "w.weights.pynn"
    m.save(model_path)
    m.save_weights(weights_path)
    return m, model_path.read_bytes(), weights_path.read_bytes()


def loaders(m):
    """Each loader, as a function of a path."""
    target = small_model()
    return {"load_model": load_model,
            "load_weights": lambda p: target.load_weights(p),
            "load_weights_by_name": lambda p: target.load_weights(p, by_name=True)}


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch):
    """Loading must never unpickle: any attempt fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a loader tried to unpickle")
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def loads_or_refuses(load, path, original):
    """The load either raises ModelFileError or gives exactly the original
    weights (a flip in a timestamp or a comment changes nothing)."""
    try:
        got = load(path)
    except ModelFileError:
        return False
    weights = got.get_weights() if got is not None else None
    if weights is not None:
        for a, b in zip(weights, original.get_weights()):
            np.testing.assert_array_equal(a, b)
    return True


@pytest.fixture
def scratch(tmp_path):
    """A folder in memory when there is one: thousands of small files are
    written in a row."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return tmp_path
    folder = Path(tempfile.mkdtemp(dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_truncation_at_every_offset(files, scratch):
    m, model_bytes, weights_bytes = files
    p = scratch / "t.pynn"
    for data in (model_bytes, weights_bytes):
        for cut in range(len(data)):
            p.write_bytes(data[:cut])
            for name, load in loaders(m).items():
                if name != "load_model" or data is model_bytes:
                    assert not loads_or_refuses(load, p, m), (name, cut)


def test_random_byte_flips(files, scratch):
    m, model_bytes, _ = files
    g = np.random.default_rng(2)
    p = scratch / "f.pynn"
    refused = 0
    for _ in range(600):
        data = bytearray(model_bytes)
        for at in g.integers(0, len(data), g.integers(1, 4)):
            data[at] ^= int(g.integers(1, 256))
        p.write_bytes(bytes(data))
        refused += not loads_or_refuses(load_model, p, m)
    assert refused > 400  # most flips land in checked bytes


def rewrite(data, tmp_path, change):
    """The archive in ``data`` with its members changed by ``change(dict)``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    p = tmp_path / "x.pynn"
    with zipfile.ZipFile(p, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return p


@pytest.mark.parametrize("name", ["../evil.npy", "weights/../../evil", "/etc/passwd",
                                  "\\windows\\evil", "C:evil", "weights\\00000.npy"])
def test_members_with_unsafe_names_are_refused(files, tmp_path, name):
    m, model_bytes, weights_bytes = files
    for data in (model_bytes, weights_bytes):
        p = rewrite(data, tmp_path, lambda c: c.update({name: b"x"}))
        for load in loaders(m).values():
            with pytest.raises(ModelFileError, match="unsafe name"):
                load(p)


def test_a_member_named_twice_is_refused(files, tmp_path):
    m, model_bytes, _ = files
    p = tmp_path / "d.pynn"
    p.write_bytes(model_bytes)
    with zipfile.ZipFile(p, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("weights/00000.npy", b"second copy")
    with pytest.raises(ModelFileError, match="twice"):
        load_model(p)


def test_pickles_are_refused_without_unpickling(files, tmp_path):
    m, model_bytes, _ = files
    p = tmp_path / "p.pynn"
    p.write_bytes(pickle.dumps(m.get_weights()))
    with pytest.raises(ModelFileError, match="not a zip"):
        load_model(p)
    blob = pickle.dumps({"model": 1})
    for entry in ("model.json", "weights/00000.npy"):
        p = rewrite(model_bytes, tmp_path, lambda c: c.update({entry: blob}))
        with pytest.raises(ModelFileError):
            load_model(p)


def edit_doc(data, tmp_path, mutate):
    def change(members):
        doc = json.loads(members["model.json"])
        mutate(doc)
        members["model.json"] = json.dumps(doc).encode()
    return rewrite(data, tmp_path, change)


def layer0(doc):
    return doc["model"]["config"]["layers"][1]["config"]


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["weights"][0].update(shape=[2 ** 40, 2 ** 40]), "shape"),
    (lambda d: d["weights"][0].update(shape=[2 ** 62, 4]), "shape"),
    (lambda d: d["weights"][0].update(shape=[-1, 2]), "malformed"),
    (lambda d: d["weights"][0].update(path="../../etc/passwd"), "missing"),
    (lambda d: layer0(d).update(units=10 ** 12), "units"),
    (lambda d: layer0(d).update(units=1e300), "units"),
    (lambda d: layer0(d).update(units="2"), "units"),
    (lambda d: d["model"]["config"]["layers"][1].update(class_name="os.system"), "os.system"),
    (lambda d: d["model"]["config"]["layers"][1].update(class_name="__builtins__"),
     "__builtins__"),
    (lambda d: d["model"].update(class_name="Popen"), "Popen"),
    (lambda d: d["model"]["config"]["layers"][0]["config"].update(
        batch_shape=[None, 10 ** 12]), "Input"),
])
def test_hostile_configs_are_refused(files, tmp_path, mutate, match):
    m, model_bytes, _ = files
    p = edit_doc(model_bytes, tmp_path, mutate)
    with pytest.raises(ModelFileError, match=match):
        load_model(p)


def test_npy_headers_that_claim_more_than_the_file_holds(files, tmp_path):
    m, model_bytes, _ = files
    for shape in [(2 ** 40,), (2 ** 31, 2 ** 31), (3, 2 ** 62)]:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
        p = rewrite(model_bytes, tmp_path,
                    lambda c: c.update({"weights/00000.npy": buf.getvalue() + b"\0" * 32}))
        with pytest.raises(ModelFileError, match="shape"):
            load_model(p)


def test_zip_bomb_members_are_refused_before_inflating(files, tmp_path):
    m, model_bytes, _ = files
    p = tmp_path / "bomb.pynn"
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as src, \
            zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n in src.namelist():
            data = src.read(n)
            if n == "weights/00000.npy":
                data = data + b"\0" * (64 << 20)  # 64 MiB of zeros compress to little
            zf.writestr(n, data)
    with pytest.raises(ModelFileError, match="more than"):
        load_model(p)
