"""The README's MLP exported in every mode and run in the LiteRT
interpreter on the MNIST sample."""
import numpy as np
import pytest

import pynn
from litehelp import agreement, convert, op_names, parse, run

MLP_FLOAT_BYTES = 475_320


@pytest.fixture(scope="module")
def flat(mnist):
    return mnist[0].reshape(-1, 784)


@pytest.fixture(scope="module")
def float_bytes(mlp):
    return convert(mlp)


def test_float32_matches_predict_batch_1_and_5(mlp, flat, float_bytes):
    assert len(float_bytes) <= MLP_FLOAT_BYTES
    for x in (flat[:1], flat[1:6]):
        np.testing.assert_allclose(run(float_bytes, x), mlp.predict(x, verbose=0), atol=1e-5)


def test_float32_whole_sample(mlp, flat, float_bytes):
    np.testing.assert_allclose(run(float_bytes, flat), mlp.predict(flat, verbose=0), atol=1e-5)


def test_relu_fused_softmax_kept(float_bytes):
    assert op_names(float_bytes) == ["FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED",
                                     "SOFTMAX"]


def test_float16(mlp, flat, float_bytes):
    data = convert(mlp, "float16")
    assert len(data) <= 0.55 * len(float_bytes)
    names = op_names(data)
    assert names.count("DEQUANTIZE") == 6 and "RELU" not in names
    m = parse(data)
    sg = m.Subgraphs(0)
    half = [sg.Tensors(i) for i in range(sg.TensorsLength())
            if sg.Tensors(i).Type() == 1]  # FLOAT16
    assert len(half) == 6
    np.testing.assert_allclose(run(data, flat[:5]), mlp.predict(flat[:5], verbose=0), atol=1e-2)
    np.testing.assert_allclose(run(data, flat), mlp.predict(flat, verbose=0), atol=1e-2)


def test_dynamic_range(mlp, flat, float_bytes):
    data = convert(mlp, "dynamic")
    assert len(data) <= 0.3 * len(float_bytes)
    assert op_names(data) == ["FULLY_CONNECTED"] * 3 + ["SOFTMAX"]
    m = parse(data)
    sg = m.Subgraphs(0)
    fc = sg.Operators(0)
    weights = sg.Tensors(fc.Inputs(1))
    assert weights.Type() == 9  # INT8
    assert all(weights.Quantization().ZeroPoint(i) == 0
               for i in range(weights.Quantization().ZeroPointLength()))
    import tflite
    opts = tflite.FullyConnectedOptions()
    opts.Init(fc.BuiltinOptions().Bytes, fc.BuiltinOptions().Pos)
    assert opts.AsymmetricQuantizeInputs()
    assert sg.Tensors(sg.Inputs(0)).Type() == 0  # float32 interface
    want = mlp.predict(flat, verbose=0)
    for reference in (False, True):
        ok = agreement(run(data, flat, reference), want)
        assert ok >= 0.98, (reference, ok)


@pytest.mark.parametrize("io", [np.float32, np.int8, np.uint8])
def test_full_integer(mlp, flat, float_bytes, io):
    data = convert(mlp, "int8", flat[:300], io, io)
    assert len(data) <= 0.3 * len(float_bytes)
    names = op_names(data)
    core = ["FULLY_CONNECTED"] * 3 + ["SOFTMAX"]
    if io == np.float32:
        assert names == ["QUANTIZE"] + core + ["DEQUANTIZE"]
    elif io == np.int8:
        assert names == core
    else:
        assert names == ["QUANTIZE"] + core + ["QUANTIZE"]
    m = parse(data)
    sg = m.Subgraphs(0)
    types = {0: np.float32, 9: np.int8, 3: np.uint8}
    assert types[sg.Tensors(sg.Inputs(0)).Type()] == io
    assert types[sg.Tensors(sg.Outputs(0)).Type()] == io
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if names[i] == "FULLY_CONNECTED":
            x, w, b = (sg.Tensors(op.Inputs(j)) for j in range(3))
            assert (x.Type(), w.Type(), b.Type()) == (9, 9, 2)  # int8, int8, int32
            qx, qw, qb = x.Quantization(), w.Quantization(), b.Quantization()
            assert qw.ScaleLength() == w.Shape(0) and qw.QuantizedDimension() == 0
            assert all(qw.ZeroPoint(c) == 0 for c in range(qw.ZeroPointLength()))
            assert all(qb.Scale(c) == pytest.approx(qx.Scale(0) * qw.Scale(c), rel=1e-6)
                       for c in range(qb.ScaleLength()))
        if names[i] == "SOFTMAX":
            q = sg.Tensors(op.Outputs(0)).Quantization()
            assert q.Scale(0) == pytest.approx(1 / 256) and q.ZeroPoint(0) == -128
    want = mlp.predict(flat, verbose=0)
    for reference in (False, True):
        ok = agreement(run(data, flat, reference), want)
        assert ok >= 0.97, (reference, ok)
    np.testing.assert_allclose(run(data, flat[:5]), mlp.predict(flat[:5], verbose=0),
                               atol=0.1)


def test_export_tflite_method_writes_the_converter_bytes(mlp, flat, tmp_path):
    path = tmp_path / "mlp.tflite"
    data = mlp.export_tflite(path)
    assert path.read_bytes() == data == convert(mlp)
    assert not [p for p in tmp_path.iterdir() if p.name != "mlp.tflite"]  # no temp left
    q = mlp.export_tflite(str(tmp_path / "q.tflite"), quantize="int8",
                          representative_dataset=lambda: ([flat[i:i + 1]] for i in range(100)),
                          inference_input_type=np.int8, inference_output_type=np.int8)
    assert op_names(q) == ["FULLY_CONNECTED"] * 3 + ["SOFTMAX"]
    assert len(mlp.export_tflite(tmp_path / "h.tflite", quantize="float16")) < 0.55 * len(data)
    assert len(mlp.export_tflite(tmp_path / "d.tflite", quantize="dynamic")) < 0.3 * len(data)


def test_representative_dataset_forms(mlp, flat):
    """A generator function, a RepresentativeDataset, samples without the
    batch axis, float64 samples and batches of several rows all work."""
    base = convert(mlp, "int8", flat[:50])
    for gen in (lambda: ([flat[i:i + 1]] for i in range(50)),
                pynn.lite.RepresentativeDataset(lambda: ([flat[i]] for i in range(50))),
                lambda: ([flat[i:i + 1].astype(np.float64)] for i in range(50)),
                lambda: iter([[flat[:25]], [flat[25:50]]])):
        conv = pynn.lite.TFLiteConverter.from_keras_model(mlp)
        conv.optimizations = [pynn.lite.Optimize.DEFAULT]
        conv.representative_dataset = gen
        assert conv.convert() == base
