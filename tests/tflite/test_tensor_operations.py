"""Operations written on symbolic tensors (TensorOperation layers) and the
activations without one builtin op (swish, hard_sigmoid, softplus, ...) in TFLite: the
ops they become, the float32 model equal to predict (1e-5, with and
without the XNNPACK delegate), the full-integer model close to it, and
the architectures built from them (MobileNetV3, EfficientNet) exported
whole."""
import numpy as np
import pytest

import pynn
from litehelp import convert, op_names, run, run_all
from pynn import applications, layers, ops
from pynn.utils import set_random_seed


def graph_with_operations(int8_ops_only=False):
    set_random_seed(3)
    inp = pynn.Input((6, 5, 3))
    h = layers.Conv2D(4, 1)(inp)
    z = h / 2.0 - 0.5                                   # MUL by 1/2, SUB (numbers)
    z = z * ops.sigmoid(z)                              # LOGISTIC, MUL (tensors)
    z = ops.maximum(z, 0.1 * h)                         # MUL (number first), MAXIMUM
    z = z + np.array([0.5, -1.0, 0.0, 2.0], np.float32)  # ADD (a per-channel array)
    if not int8_ops_only:
        z = ops.exp(-ops.abs(-z)) / h                   # NEG, ABS, NEG, EXP, DIV (tensors)
    z = ops.hard_sigmoid(z) + ops.swish(z)              # ADD RELU6 MUL, LOGISTIC MUL, ADD
    z = layers.Activation("swish")(layers.Conv2D(2, 1, activation="hard_sigmoid")(z))
    return pynn.Model(inp, layers.Flatten()(z))


def test_operations_and_composite_activations_export():
    x = np.random.default_rng(1).uniform(-2, 2, (5, 6, 5, 3)).astype(np.float32)
    model = graph_with_operations()
    want = model.predict(x, verbose=0)
    data = convert(model)
    assert op_names(data) == [
        "CONV_2D", "MUL", "SUB", "LOGISTIC", "MUL", "MUL", "MAXIMUM", "ADD", "NEG", "ABS",
        "NEG", "EXP", "DIV", "ADD", "RELU6", "MUL", "LOGISTIC", "MUL", "ADD", "CONV_2D", "ADD",
        "RELU6", "MUL", "LOGISTIC", "MUL", "RESHAPE"]
    for reference in (False, True):
        np.testing.assert_allclose(run(data, x, reference), want, rtol=1e-5, atol=1e-5)
    # full integer where every op has an int8 kernel
    model = graph_with_operations(int8_ops_only=True)
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(run(convert(model), x), want, atol=1e-5)
    calib = np.random.default_rng(2).uniform(-2, 2, (64, 6, 5, 3)).astype(np.float32)
    q = convert(model, "int8", calib)
    span = float(want.max() - want.min())
    np.testing.assert_allclose(run(q, x), want, atol=0.08 * span)


def test_reductions_and_shape_operations_export():
    set_random_seed(4)
    inp = pynn.Input((6, 5, 3))
    h = layers.Conv2D(4, 1)(inp)
    t = ops.transpose(h, (0, 2, 1, 3))                        # TRANSPOSE
    m = ops.mean(t, axis=-1, keepdims=True) * t                # MEAN (kept), MUL
    r = ops.reshape(m, (-1, 30, 4))                            # RESHAPE
    z = ops.max(r, axis=1) + ops.mean(h, axis=(1, 2))          # REDUCE_MAX, MEAN, ADD
    w = ops.sum(r, axis=[1]) - ops.min(r, axis=1)              # SUM, REDUCE_MIN, SUB
    float_model = pynn.Model(inp, layers.Concatenate()([z, w]))
    x = np.random.default_rng(5).uniform(-2, 2, (3, 6, 5, 3)).astype(np.float32)
    want = float_model.predict(x, verbose=0)
    data = convert(float_model)
    assert sorted(op_names(data)) == sorted([
        "CONV_2D", "TRANSPOSE", "MEAN", "MUL", "RESHAPE", "REDUCE_MAX", "MEAN", "ADD", "SUM",
        "REDUCE_MIN", "SUB", "CONCATENATION"])
    for reference in (False, True):
        np.testing.assert_allclose(run(data, x, reference), want, rtol=1e-5, atol=1e-5)
    int8_model = pynn.Model(inp, z)
    want = int8_model.predict(x, verbose=0)
    calib = np.random.default_rng(6).uniform(-2, 2, (64, 6, 5, 3)).astype(np.float32)
    span = float(want.max() - want.min())
    # (a product of two int8 tensors, then a maximum: a coarser bound)
    np.testing.assert_allclose(run(convert(int8_model, "int8", calib), x), want, atol=0.12 * span)


@pytest.mark.parametrize("op,words", [
    (lambda h: ops.arctan(h), "arctan"),
    (lambda h: ops.clip(h, np.zeros(3, np.float32), 1.0), "numbers"),
    (lambda h: ops.add(h, b=1.0), "keyword arguments"),
    (lambda h: ops.mean(h), "batch axis"),
    (lambda h: ops.transpose(h), "batch axis"),
    (lambda h: h[0], "batch axis"),
    (lambda h: ops.cumsum(h), "axis None"),
    (lambda h: ops.softmax(h, axis=0), "axis 0"),
], ids=["no_builtin", "clip_by_arrays", "keywords", "mean_over_batch", "transpose_batch",
        "index_batch", "cumsum_flat", "softmax_over_batch"])
def test_operations_without_a_form_raise_naming_the_layer(op, words):
    inp = pynn.Input((4,))
    model = pynn.Model(inp, op(layers.Dense(3)(inp)))
    with pytest.raises(pynn.lite.ConversionError, match=words):
        convert(model)


@pytest.mark.parametrize("build", [
    lambda: applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None,
                                          classes=10),
    lambda: applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=10),
], ids=["mobilenet_v3_small", "efficientnet_b0"])
def test_architectures_of_operations_and_swish_export(build):
    set_random_seed(0)
    model = build()
    x = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    got = run(convert(model), x)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("act,codes", [
    ("gelu", ["GELU"]), ("log_softmax", ["LOG_SOFTMAX"]), ("exponential", ["EXP"]),
    ("softplus", ["ABS", "NEG", "EXP", "ADD", "LOG", "RELU", "ADD"]),
    ("softsign", ["ABS", "ADD", "DIV"]), ("selu", ["ELU", "RELU", "MUL", "MUL", "ADD"]),
    ("mish", ["ABS", "NEG", "EXP", "ADD", "LOG", "RELU", "ADD", "TANH", "MUL"])])
def test_more_activations_export(act, codes):
    """Dense(activation=...) and an Activation layer, as builtin ops or a
    few of them: equal to predict on values up to +-12 (softplus and mish in
    their stable form), batch 1 and 5, with and without the XNNPACK delegate."""
    set_random_seed(5)
    model = pynn.Sequential([pynn.Input((7,)), layers.Dense(6, activation=act),
                             layers.Dense(6), layers.Activation(act)])
    data = convert(model)
    assert op_names(data) == ["FULLY_CONNECTED"] + codes + ["FULLY_CONNECTED"] + codes
    # (exponential twice: inputs that keep it finite)
    span = 1 if act == "exponential" else 12
    x = np.random.default_rng(6).uniform(-span, span, (5, 7)).astype(np.float32)
    want = model.predict(x, verbose=0)
    for batch in (x[:1], x):
        for reference in (False, True):
            np.testing.assert_allclose(run(data, batch, reference), want[:len(batch)],
                                       rtol=5e-5, atol=2e-5)
    if act == "selu":  # every op of its form has an int8 kernel
        q = convert(model, "int8", x)
        span = float(want.max() - want.min())
        np.testing.assert_allclose(run(q, x), want, atol=0.08 * span)


def test_operations_with_arguments_export():
    """ops.power (and ``**``), clip, cumsum, softmax and log_softmax over a
    middle axis, gelu (tanh form) and indexing with slices, integers,
    Ellipsis and None."""
    set_random_seed(6)
    inp = pynn.Input((5, 6, 4))
    h = layers.Conv2D(4, 1)(inp)
    parts = [ops.power(h, 3.0), h ** 2.0, ops.abs(h) ** 0.5,
             ops.clip(h, -0.5, 0.75), ops.cumsum(h, axis=2), ops.softmax(h, axis=1),
             ops.log_softmax(h, axis=-1), ops.gelu(h), ops.gelu(h, approximate=False),
             h[:, 1:4], h[:, -1], h[..., ::2], h[:, None, 2, 1:5:2], h[:, :, -2:, 1]]
    model = pynn.Model(inp, [layers.Flatten()(p) for p in parts])
    data = convert(model)
    names = op_names(data)
    for code, n in (("POW", 3), ("MAXIMUM", 1), ("MINIMUM", 1), ("CUMSUM", 1),
                    ("SOFTMAX", 1),
                    ("LOG_SOFTMAX", 1), ("GELU", 2), ("STRIDED_SLICE", 5)):
        assert names.count(code) == n, (code, names)
    x = np.random.default_rng(7).uniform(-3, 3, (3, 5, 6, 4)).astype(np.float32)
    want = model.predict(x, verbose=0)
    for reference in (False, True):
        for got, w in zip(run_all(data, [x], reference=reference), want):
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
