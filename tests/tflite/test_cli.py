"""python -m pynn.lite on a saved model."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn
from litehelp import convert, op_names, run
from pynn import layers


def cli(*args, cwd):
    env = dict(os.environ, PYNN_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "pynn.lite", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, mlp):
    path = tmp_path_factory.mktemp("cli") / "mlp.pynn"
    mlp.save(path)
    return path


@pytest.mark.parametrize("mode", [None, "float16", "dynamic", "int8"])
def test_cli_writes_a_model_the_interpreter_runs(saved, mlp, mnist, tmp_path, mode):
    out = tmp_path / "mlp.tflite"
    r = cli(saved, out, *(["--quantize", mode] if mode else []), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout
    data = out.read_bytes()
    x = mnist[0][:200].reshape(-1, 784)
    want = mlp.predict(x, verbose=0)
    got = run(data, x)
    if mode is None:
        np.testing.assert_allclose(got, want, atol=1e-5)
    else:
        assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.95
    if mode == "int8":
        assert "MNIST" in r.stdout
        assert op_names(data)[0] == "QUANTIZE"


def test_cli_random_calibration_for_other_inputs(tmp_path):
    model = pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(3, activation="tanh")])
    model.save(tmp_path / "small.pynn")
    r = cli("small.pynn", "small.tflite", "--quantize", "int8", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "random" in r.stdout
    assert (tmp_path / "small.tflite").stat().st_size > 0


def test_cli_errors_are_one_line(tmp_path, saved):
    (tmp_path / "junk.pynn").write_bytes(b"not a model")
    model = pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(3, activation="celu")])
    model.save(tmp_path / "celu.pynn")
    cases = [("missing.pynn", "out.tflite"), ("junk.pynn", "out.tflite"),
             ("celu.pynn", "out.tflite"), (saved, tmp_path / "nope" / "out.tflite"),
             (saved, "out.tflite", "--quantize", "int4")]
    for args in cases:
        r = cli(*args, cwd=tmp_path)
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "error" in lines[0], (args, r.stderr)
    assert "celu" in cli("celu.pynn", "out.tflite", cwd=tmp_path).stderr
    assert not (tmp_path / "out.tflite").exists()


def test_keras_export_litert(tmp_path, capsys):
    """Keras 3's model.export(path, format="litert"): the same bytes as the
    converter's, converter attributes as keywords, Keras's errors."""
    model = pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(3, activation="softmax")])
    path = tmp_path / "model.tflite"
    model.export(path, format="litert")
    assert "Saved artifact at" in capsys.readouterr().out
    assert path.read_bytes() == convert(model)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    model.export(str(path), format="litert", verbose=False,
                 optimizations=[pynn.lite.Optimize.DEFAULT],
                 target_spec={"supported_types": [np.float16]},
                 input_signature=[pynn.InputSpec(shape=(None, 6))])
    assert path.read_bytes() == convert(model, "float16")
    np.testing.assert_allclose(run(path.read_bytes(), x), model.predict(x, verbose=0),
                               atol=1e-3)
    with pytest.raises(ValueError, match="end with '.tflite'"):
        model.export(tmp_path / "model.bin", format="litert")
    with pytest.raises(ValueError, match="Unknown converter attribute 'nope'"):
        model.export(path, format="litert", nope=1)
    with pytest.raises(ValueError, match="litert"):
        model.export(tmp_path / "saved", format="tf_saved_model")
