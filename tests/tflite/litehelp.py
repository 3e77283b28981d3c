"""Shared helpers of the TFLite exporter tests: run a model in the LiteRT
interpreter, list its ops, read its structure."""
import numpy as np
import pytest

import pynn

# The tests that use these helpers skip where the interpreter or the schema
# bindings are not installed (make test installs both; the sanitizer's
# environment does not).
tflite = pytest.importorskip("tflite", reason="the tflite schema bindings are not installed")
_litert = pytest.importorskip("ai_edge_litert.interpreter",
                              reason="the LiteRT interpreter (ai-edge-litert) is not installed")
Interpreter, OpResolverType = _litert.Interpreter, _litert.OpResolverType

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def convert(model, mode=None, data=None, input_type=np.float32, output_type=np.float32,
            supported_ops=None):
    """Bytes of ``model`` converted in ``mode`` (None, 'float16', 'dynamic',
    'int8'), through the tf.lite-style converter API; ``data`` calibrates
    int8: an array, or a list of one array per model input."""
    conv = pynn.lite.TFLiteConverter.from_keras_model(model)
    if mode is not None:
        conv.optimizations = [pynn.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [np.float16]
    if mode == "int8":
        xs = data if isinstance(data, (list, tuple)) else [data]
        conv.representative_dataset = lambda: ([x[i:i + 1] for x in xs]
                                               for i in range(len(xs[0])))
        conv.inference_input_type = input_type
        conv.inference_output_type = output_type
    if supported_ops is not None:
        conv.target_spec.supported_ops = supported_ops
    return conv.convert()


def run(model_bytes, x, reference=False):
    """The interpreter's output for the float input ``x`` (any batch size),
    quantizing the input and dequantizing the output when the model's
    interface is int8 or uint8.  ``reference``: the builtin kernels alone,
    without the default XNNPACK delegate (what runs where XNNPACK does
    not)."""
    kw = {"experimental_op_resolver_type":
          OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if reference else {}
    it = Interpreter(model_content=model_bytes, **kw)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    x = np.asarray(x, np.float32)
    if inp["dtype"] != np.float32:
        scale, zp = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale + zp), info.min, info.max).astype(inp["dtype"])
    it.set_tensor(inp["index"], x)
    it.invoke()
    y = it.get_tensor(out["index"])
    if out["dtype"] != np.float32:
        scale, zp = out["quantization"]
        y = (y.astype(np.float32) - zp) * scale
    return y


def parse(model_bytes):
    return tflite.Model.GetRootAsModel(model_bytes, 0)


def op_names(model_bytes):
    m = parse(model_bytes)
    sg = m.Subgraphs(0)
    return [_OP_NAMES[m.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode()]
            for i in range(sg.OperatorsLength())]


def agreement(a, b):
    return float(np.mean(np.argmax(a, -1) == np.argmax(b, -1)))


def run_all(model_bytes, xs, interpreter=None, reference=False):
    """The interpreter's outputs (a list, in the model's output order) for
    inputs ``xs`` (a list, in the model's input order: float, or integer
    ids for integer inputs, booleans for bool ones), on the default kernels (the
    builtin ones alone with ``reference``, as in :func:`run`; or in
    ``interpreter``, to run one several times)."""
    kw = {"experimental_op_resolver_type":
          OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if reference else {}
    it = interpreter or Interpreter(model_content=model_bytes, **kw)
    details = it.get_input_details()
    for d, x in zip(details, xs):
        it.resize_tensor_input(d["index"], list(np.shape(x)))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), xs):
        it.set_tensor(d["index"], np.asarray(x, d["dtype"] if d["dtype"] in (np.int32, np.int64, np.bool_)
                                             else np.float32))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


# The export sweeps' modes and tolerances: float32, float16, dynamic range
# absolute (and 1e-4 relative); int8 a fraction of the output's span.
MODES = [None, "float16", "dynamic", "int8"]
TOLERANCE = {None: 1e-4, "float16": 5e-3, "dynamic": 5e-2, "int8": 0.06}


def sweep_model(shapes, call, data, dtypes=None):
    """A sweep case: a functional model of ``call(*inputs)`` and its data
    (one array per input)."""
    def build():
        pynn.utils.set_random_seed(3)
        ins = [pynn.Input(s, dtype=d) for s, d in zip(shapes, dtypes or ["float32"] * len(shapes))]
        return pynn.Model(ins if len(ins) > 1 else ins[0], call(*ins)), data()
    return build


def check_export(build, mode):
    """A sweep case's model converted in ``mode``, run in LiteRT, against
    its predict (integer outputs exactly); returns the file's op names."""
    model, xs = build()
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    model_bytes = convert(model, mode, xs)
    got = run_all(model_bytes, xs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        if mode == "int8":
            np.testing.assert_allclose(g, w, rtol=0, atol=TOLERANCE[mode] * float(np.ptp(w)))
        elif w.dtype.kind in "iu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=TOLERANCE[mode])
    return op_names(model_bytes)
