"""Damaged, truncated and hostile .keras and .h5 files raise a clear error
naming the problem; nothing crashes, hangs, runs code from the file or
writes outside the target."""
import io
import json
import sys
import zipfile

import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models import load_model
from pynn.saving import ModelFileError

pytestmark = pytest.mark.usefixtures("h5py")


def model():
    m = pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(4, activation="relu", name="d1"),
                         layers.Dense(2, name="d2")])
    m.compile(optimizer="adam", loss="mse")
    return m


def entries(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(path, items):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items.items():
            zf.writestr(name, data)


def edit_weights(path, edit):
    """Apply ``edit(h5file)`` to the model.weights.h5 inside a .keras file."""
    import h5py
    items = entries(path)
    buf = io.BytesIO(items["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        edit(f)
    items["model.weights.h5"] = buf.getvalue()
    rewrite(path, items)


def edit_config(path, edit):
    items = entries(path)
    config = json.loads(items["config.json"])
    edit(config)
    items["config.json"] = json.dumps(config)
    rewrite(path, items)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.keras"
    model().save(path)
    return path


def test_a_class_pynn_lacks_is_named(saved):
    edit_config(saved, lambda c: c["config"]["layers"][1].update(class_name="TorchModuleWrapper"))
    with pytest.raises(ModelFileError, match="TorchModuleWrapper.*custom_objects"):
        load_model(saved)


def test_custom_objects_build_the_users_own_layers(tmp_path):
    class Doubler(layers.Layer):
        def call(self, x, training=False):
            return x * 2

    m = pynn.Sequential([pynn.Input(shape=(3,)), layers.Dense(2), Doubler(name="double")])
    x = np.ones((2, 3), np.float32)
    for name in ("c.keras", "c.h5"):
        m.save(tmp_path / name)
        with pytest.raises(ModelFileError, match="Doubler"):
            load_model(tmp_path / name)
        loaded = load_model(tmp_path / name, custom_objects={"Doubler": Doubler})
        assert np.array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))


def test_settings_pynn_lacks_are_refused_by_layer_and_key(saved, keras):
    edit_config(saved, lambda c: c["config"]["layers"][1]["config"].update(lora_rank=4))
    with pytest.raises(ModelFileError, match=r"Dense layer 'd1'.*lora_rank=4"):
        load_model(saved)
    model().save(saved)
    edit_config(saved, lambda c: c["config"]["layers"][2]["config"].update(new_option=1))
    with pytest.raises(ModelFileError, match=r"'d2'.*new_option"):
        load_model(saved)

    edit = keras.Sequential([keras.Input(shape=(4, 4, 4, 4)),
                             keras.layers.Conv3D(4, 3, groups=2, name="grouped")])
    edit.save(saved.parent / "g.keras")
    with pytest.raises(ModelFileError, match=r"Conv3D layer 'grouped'.*groups=2"):
        load_model(saved.parent / "g.keras")


def test_lambda_code_is_never_run(tmp_path, keras):
    marker = tmp_path / "ran"
    theirs = keras.Sequential([keras.Input(shape=(2,)),
                               keras.layers.Lambda(lambda x: x * 2, name="code")])
    for name in ("l.keras", "l.h5"):
        theirs.save(tmp_path / name)
        for safe_mode in (True, False):
            with pytest.raises(ModelFileError, match="Lambda layer 'code' holds Python code"):
                load_model(tmp_path / name, safe_mode=safe_mode)
    assert not marker.exists()


def test_an_activation_that_is_a_function_is_refused(saved):
    edit_config(saved, lambda c: c["config"]["layers"][1]["config"].update(
        activation={"module": "builtins", "class_name": "function", "config": "my_fn",
                    "registered_name": "function"}))
    with pytest.raises(ModelFileError, match="'d1'.*Python function"):
        load_model(saved)


def test_weight_of_the_wrong_shape(saved):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", data=np.zeros((5, 4), np.float32))
    edit_weights(saved, edit)
    with pytest.raises(ModelFileError, match=r"'d1'.*\(6, 4\).*\(5, 4\)"):
        load_model(saved)


def test_missing_weight(saved):
    edit_weights(saved, lambda f: f.__delitem__("layers/dense_1/vars/1"))
    with pytest.raises(ModelFileError, match="'d2'.*2 weight arrays.*holds 1"):
        load_model(saved)


def test_missing_weights_file(saved):
    items = entries(saved)
    del items["model.weights.h5"]
    rewrite(saved, items)
    with pytest.raises(ModelFileError, match="model.weights.h5 is missing"):
        load_model(saved)


def test_nan_weights(saved):
    def edit(f):
        f["layers/dense/vars/1"][0] = np.nan
    edit_weights(saved, edit)
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(saved)


def test_huge_declared_shape_is_refused_before_reading(saved, tmp_path):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(1 << 40, 4), dtype=np.float32,
                                              chunks=(1024, 4))
    edit_weights(saved, edit)
    with pytest.raises(ModelFileError, match="1099511627776"):
        load_model(saved)

    import h5py
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"d1"])
        g = f.create_group("d1")
        g.attrs["weight_names"] = np.array([b"d1/kernel", b"d1/bias"])
        g.create_dataset("d1/kernel", shape=(1 << 40, 4), dtype=np.float32, chunks=(1024, 4))
        g.create_dataset("d1/bias", shape=(1 << 40,), dtype=np.float32, chunks=(1024,))
    m = pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(4, name="d1")])
    with pytest.raises(ModelFileError, match="1099511627776"):
        m.load_weights(tmp_path / "w.h5")
    with pytest.raises(ModelFileError, match="1099511627776"):
        m.load_weights(tmp_path / "w.h5", by_name=True)


def test_zip_with_parent_paths_is_refused_and_writes_nothing(saved, tmp_path):
    outside = tmp_path.parent / "evil.txt"
    items = entries(saved)
    items["../evil.txt"] = b"owned"
    items["assets/../../evil.txt"] = b"owned"
    rewrite(saved, items)
    with pytest.raises(ModelFileError, match="unsafe path"):
        load_model(saved)
    with pytest.raises(ModelFileError, match="unsafe path"):
        model().load_weights(saved)
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_config_that_is_not_json(saved):
    items = entries(saved)
    items["config.json"] = b"{not json"
    rewrite(saved, items)
    with pytest.raises(ModelFileError, match="config.json cannot be read"):
        load_model(saved)


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_truncated_and_garbage_files(tmp_path, name):
    path = tmp_path / name
    model().save(path)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_model(path)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(ModelFileError):
        load_model(path)


def test_h5_without_a_model_config(tmp_path):
    model().save_weights(tmp_path / "w.h5")
    with pytest.raises(ModelFileError, match="weights file"):
        load_model(tmp_path / "w.h5")
    with pytest.raises(ValueError, match="weights file"):
        load_model(tmp_path / "w.weights.h5")


def test_optimizer_settings_pynn_lacks(tmp_path, keras):
    theirs = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    theirs.compile(optimizer=keras.optimizers.RMSprop(centered=True), loss="mse")
    theirs.save(tmp_path / "a.keras")
    with pytest.raises(ModelFileError, match="centered=True.*compile=False"):
        load_model(tmp_path / "a.keras")
    assert not load_model(tmp_path / "a.keras", compile=False).compiled


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    m = model()
    for call in (lambda: m.save(tmp_path / "m.keras"), lambda: m.save(tmp_path / "m.h5"),
                 lambda: m.save_weights(tmp_path / "m.weights.h5")):
        with pytest.raises(ImportError, match=r"pip install 'pynn\[keras\]'"):
            call()
    assert list(tmp_path.iterdir()) == []
    m.save(tmp_path / "m.pynn")  # pynn's own format needs nothing more
