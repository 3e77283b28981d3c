"""What the flatbuffer holds: schema version, buffers, operator codes,
named tensors with a dynamic batch, metadata, alignment; and the errors
for models that cannot be exported."""
import numpy as np
import pytest
import tflite

import pynn
from litehelp import convert, op_names, parse, run
from pynn import layers


def small(*body, shape=(12,)):
    return pynn.Sequential([pynn.Input(shape=shape), *body])


def test_schema_buffers_tensors_metadata():
    model = small(layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax"))
    data = convert(model)
    m = parse(data)
    assert tflite.Model.ModelBufferHasIdentifier(data, 0)
    assert m.Version() == 3
    assert m.SubgraphsLength() == 1
    assert m.Buffers(0).DataLength() == 0
    for i in range(m.OperatorCodesLength()):
        code = m.OperatorCodes(i)
        assert code.DeprecatedBuiltinCode() == min(code.BuiltinCode(), 127)
        assert code.Version() >= 1
    sg = m.Subgraphs(0)
    x, y = sg.Tensors(sg.Inputs(0)), sg.Tensors(sg.Outputs(0))
    assert x.Name() == b"input" and y.Name() == b"output"
    assert list(x.ShapeAsNumpy()) == [1, 12] and list(x.ShapeSignatureAsNumpy()) == [-1, 12]
    assert list(y.ShapeSignatureAsNumpy()) == [-1, 3]
    meta = {m.Metadata(i).Name(): m.Metadata(i).Buffer() for i in range(m.MetadataLength())}
    raw = m.Buffers(meta[b"min_runtime_version"]).DataAsNumpy().tobytes()
    assert len(raw) == 16 and raw.rstrip(b"\0") == b"1.5.0"
    assert m.SignatureDefs(0).SignatureKey() == b"serving_default"
    # Weight data start on 16-byte boundaries of the file.
    for i in range(1, m.BuffersLength()):
        buf = m.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(buf._tab.Offset(4))
            assert start % 16 == 0, (i, start)


def test_reshape_and_flatten_are_one_reshape_each():
    model = small(layers.Reshape((3, 4)), layers.Dense(5), layers.Flatten(),
                  layers.Reshape((-1, 5)), layers.Flatten(), layers.Dense(2), shape=(12,))
    data = convert(model)
    assert op_names(data) == ["RESHAPE", "FULLY_CONNECTED", "RESHAPE", "RESHAPE", "RESHAPE",
                              "FULLY_CONNECTED"]
    m = parse(data)
    sg = m.Subgraphs(0)
    op = sg.Operators(0)
    shape = sg.Tensors(op.Inputs(1))
    assert m.Buffers(shape.Buffer()).DataAsNumpy().view(np.int32).tolist() == [-1, 3, 4]
    opts = tflite.ReshapeOptions()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    assert opts.NewShapeAsNumpy().tolist() == [-1, 3, 4]
    x = np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32)
    for batch in (x[:1], x):
        np.testing.assert_allclose(run(data, batch), model.predict(batch, verbose=0),
                                   atol=1e-5)


def test_dense_on_rank3_input_keeps_dims():
    model = small(layers.Dense(5, activation="relu"), layers.Dense(2), shape=(4, 6))
    data = convert(model)
    x = np.random.default_rng(1).standard_normal((5, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(run(data, x), model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(run(convert(model, "int8", x), x), model.predict(x, verbose=0),
                               atol=0.15)


@pytest.mark.parametrize("act", ["relu", "relu6", "tanh", "sigmoid", "softmax", "leaky_relu",
                                 "elu", "hard_swish", "swish", "hard_sigmoid", "linear"])
@pytest.mark.parametrize("separate", [False, True])
def test_activations(act, separate):
    body = [layers.Dense(6, activation=None if separate else act)]
    if separate:
        body.append(layers.Activation(act))
    model = small(*body, layers.Dropout(0.5), layers.Activation(act))
    data = convert(model)
    names = op_names(data)
    ops_of = {"relu": ["RELU"], "relu6": ["RELU6"], "tanh": ["TANH"], "sigmoid": ["LOGISTIC"],
              "softmax": ["SOFTMAX"], "leaky_relu": ["LEAKY_RELU"], "elu": ["ELU"],
              "hard_swish": ["HARD_SWISH"], "swish": ["LOGISTIC", "MUL"],
              "hard_sigmoid": ["ADD", "RELU6", "MUL"], "linear": []}[act]
    fused = act in ("relu", "relu6", "linear")
    expected = ["FULLY_CONNECTED"] + ([] if fused else ops_of) + ops_of
    assert names == expected
    assert "DROPOUT" not in names
    x = np.random.default_rng(2).standard_normal((5, 12)).astype(np.float32) * 2
    for batch in (x[:1], x):
        np.testing.assert_allclose(run(data, batch), model.predict(batch, verbose=0),
                                   atol=1e-5)
    q = convert(model, "int8", x)
    np.testing.assert_allclose(run(q, x), model.predict(x, verbose=0), atol=0.1)


def test_leaky_relu_alpha_is_pynns():
    data = convert(small(layers.Activation("leaky_relu")))
    m = parse(data)
    op = m.Subgraphs(0).Operators(0)
    opts = tflite.LeakyReluOptions()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    assert opts.Alpha() == pytest.approx(pynn.ops.DEFAULT_ALPHA["leaky_relu"])


def test_only_identities_still_export():
    model = small(layers.Dropout(0.3), layers.Activation("linear"))
    data = convert(model)
    x = np.ones((2, 12), np.float32)
    np.testing.assert_array_equal(run(data, x), x)


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("act", ["celu", "soft_shrink", "sparse_plus"])
def test_activation_without_builtin_names_the_layer(act):
    model = small(layers.Dense(4, activation=act, name="head"))
    with pytest.raises(pynn.lite.ConversionError, match=r"'head'.*" + act):
        convert(model)
    model = small(layers.Dense(4), layers.Activation(act, name="act_layer"))
    with pytest.raises(ValueError, match="act_layer"):
        convert(model)


def test_unbuilt_and_empty_models():
    with pytest.raises(pynn.lite.ConversionError, match="not been built"):
        convert(pynn.Sequential([layers.Dense(3)]))
    with pytest.raises(pynn.lite.ConversionError, match="no layers"):
        convert(pynn.Sequential())


def test_non_finite_weights():
    model = small(layers.Dense(4, name="bad"))
    w = model.layers[0].kernel.value
    w[0, 0] = np.nan
    with pytest.raises(pynn.lite.ConversionError, match=r"'bad'.*kernel.*NaN"):
        convert(model)
    w[0, 0] = np.inf
    with pytest.raises(pynn.lite.ConversionError, match="infinite"):
        convert(model, "dynamic")


def test_custom_call_traced_or_refused_naming_the_layer():
    class Doubler(pynn.layers.Layer):
        def call(self, x, training=False):
            return x * 2

    class MyDense(layers.Dense):
        def call(self, x, training=False):
            return super().call(x, training) + 1

    # a call of operations with a TFLite form is traced into them
    model = small(layers.Dense(4), Doubler(name="doubler"))
    x = np.random.default_rng(0).normal(size=(3, 12)).astype(np.float32)
    np.testing.assert_allclose(run(convert(model), x), model.predict(x, verbose=0), atol=1e-6)
    # a subclass of a built-in layer calling the parent's computation is not
    model = small(layers.Dense(4), MyDense(3, name="my_dense"))
    with pytest.raises(pynn.lite.ConversionError, match="my_dense"):
        convert(model)


def test_settings_errors(tmp_path):
    model = small(layers.Dense(3))
    conv = pynn.lite.TFLiteConverter.from_keras_model(model)
    conv.inference_input_type = np.int8
    with pytest.raises(pynn.lite.ConversionError, match="full-integer"):
        conv.convert()
    conv = pynn.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [pynn.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [pynn.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with pytest.raises(pynn.lite.ConversionError, match="representative_dataset"):
        conv.convert()
    conv.representative_dataset = lambda: ([np.zeros((1, 5), np.float32)] for _ in range(3))
    with pytest.raises(pynn.lite.ConversionError, match=r"shape \(1, 5\)"):
        conv.convert()
    conv.representative_dataset = lambda: iter([])
    with pytest.raises(pynn.lite.ConversionError, match="no samples"):
        conv.convert()
    conv.representative_dataset = lambda: ([np.full((1, 12), np.nan, np.float32)],)
    with pytest.raises(pynn.lite.ConversionError, match="NaN"):
        conv.convert()
    conv = pynn.lite.TFLiteConverter.from_keras_model(model)
    conv.inference_output_type = np.int16
    with pytest.raises(ValueError, match="inference_output_type"):
        conv.convert()
    with pytest.raises(ValueError, match="quantize"):
        model.export_tflite(tmp_path / "m.tflite", quantize="int4")
    with pytest.raises(ValueError, match="representative_dataset"):
        model.export_tflite(tmp_path / "m.tflite", quantize="int8")
    assert not list(tmp_path.iterdir())


def test_int8_only_ops_set_converts_when_every_op_has_an_int8_kernel():
    model = small(layers.Dense(4, activation="tanh"), layers.Dense(2, activation="softmax"))
    x = np.random.default_rng(3).standard_normal((20, 12)).astype(np.float32)
    data = convert(model, "int8", x, np.int8, np.int8,
                   supported_ops=[pynn.lite.OpsSet.TFLITE_BUILTINS_INT8])
    assert op_names(data) == ["FULLY_CONNECTED", "TANH", "FULLY_CONNECTED", "SOFTMAX"]
    m = parse(data)
    sg = m.Subgraphs(0)
    tanh_out = sg.Tensors(sg.Operators(1).Outputs(0)).Quantization()
    assert tanh_out.Scale(0) == pytest.approx(1 / 128) and tanh_out.ZeroPoint(0) == 0
    np.testing.assert_allclose(run(data, x), model.predict(x, verbose=0), atol=0.05)


def test_int8_with_degenerate_ranges_still_runs():
    """A layer whose calibrated output is always 0 (a dead ReLU) or a
    constant-zero input gives parameters the interpreter accepts."""
    model = small(layers.Dense(3, activation="relu"), layers.Dense(2), shape=(4,))
    model.layers[0].kernel.assign(-np.ones((4, 3)))
    model.layers[0].bias.assign(np.zeros(3))
    x = np.random.default_rng(4).uniform(0, 1, (10, 4)).astype(np.float32)
    np.testing.assert_allclose(run(convert(model, "int8", x), x), model.predict(x, verbose=0),
                               atol=1e-2)
    zeros = np.zeros((10, 4), np.float32)
    np.testing.assert_allclose(run(convert(model, "int8", zeros), zeros),
                               model.predict(zeros, verbose=0), atol=1e-2)
