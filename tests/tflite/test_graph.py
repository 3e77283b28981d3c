"""Graph models in TFLite: several inputs and outputs, every merge layer,
nested models and shared layers, in float32, float16, dynamic range and
full integer, checked in the LiteRT interpreter."""
import numpy as np
import pytest

import pynn
from litehelp import convert, op_names, run_all
from pynn import layers
from pynn.utils import set_random_seed

MERGES = {
    "add": (layers.Add, "ADD"),
    "subtract": (layers.Subtract, "SUB"),
    "multiply": (layers.Multiply, "MUL"),
    "average": (layers.Average, "MUL"),
    "maximum": (layers.Maximum, "MAXIMUM"),
    "minimum": (layers.Minimum, "MINIMUM"),
    "concatenate": (layers.Concatenate, "CONCATENATION"),
}


def two_input_model(merge):
    set_random_seed(3)
    a, b = pynn.Input(shape=(6, 6, 2), name="a"), pynn.Input(shape=(6, 6, 2), name="b")
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(a)
    y = layers.Conv2D(4, 3, padding="same")(b)
    m = MERGES[merge][0]()([x, y])
    pooled = layers.GlobalAveragePooling2D()(m)
    cls = layers.Dense(3, activation="softmax", name="cls")(pooled)
    reg = layers.Dense(2, name="reg")(layers.Flatten()(m))
    return pynn.Model([a, b], [cls, reg])


def data(n, seed=0):
    g = np.random.default_rng(seed)
    return [g.uniform(-1, 1, (n, 6, 6, 2)).astype(np.float32) for _ in range(2)]


@pytest.mark.parametrize("merge", sorted(MERGES))
@pytest.mark.parametrize("mode", [None, "float16", "dynamic", "int8"])
def test_merge_layers_in_every_mode(merge, mode):
    model = two_input_model(merge)
    xs = data(5)
    want = model.predict(xs, verbose=0)
    flat = convert(model, mode, data(64, seed=1))
    assert MERGES[merge][1] in op_names(flat)
    got = run_all(flat, xs)
    tol = {None: 1e-5, "float16": 2e-2, "dynamic": 5e-2, "int8": 0.15}[mode]
    for a, b in zip(want, got):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)


def test_nested_shared_and_dot():
    set_random_seed(4)
    tin = pynn.Input(shape=(8,))
    tower = pynn.Model(tin, layers.Dense(5, activation="tanh")(tin))
    a, b = pynn.Input(shape=(8,)), pynn.Input(shape=(8,))
    ta, tb = tower(a), tower(b)
    cos = layers.Dot(axes=1, normalize=True)([ta, tb])
    dot = layers.Dot(axes=1)([ta, tb])
    out = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([cos, dot]))
    model = pynn.Model([a, b], out)
    g = np.random.default_rng(0)
    xs = [g.standard_normal((7, 8)).astype(np.float32) for _ in range(2)]
    data_ = convert(model, None)
    ops = op_names(data_)
    assert "L2_NORMALIZATION" in ops and ops.count("BATCH_MATMUL") == 2
    assert ops.count("FULLY_CONNECTED") == 3  # the tower inlined twice, the head once
    np.testing.assert_allclose(run_all(data_, xs)[0], model.predict(xs, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_dot_of_sequences():
    set_random_seed(5)
    a, b = pynn.Input(shape=(3, 4)), pynn.Input(shape=(5, 4))
    attention = layers.Dot(axes=2)([a, b])              # (None, 3, 5)
    context = layers.Dot(axes=(2, 1))([attention, b])   # (None, 3, 4)
    model = pynn.Model([a, b], [attention, context])
    g = np.random.default_rng(1)
    xs = [g.standard_normal((2, 3, 4)).astype(np.float32),
          g.standard_normal((2, 5, 4)).astype(np.float32)]
    got = run_all(convert(model, None), xs)
    for a_, b_ in zip(model.predict(xs, verbose=0), got):
        np.testing.assert_allclose(b_, a_, rtol=1e-5, atol=1e-5)


def test_outputs_keep_the_model_order_and_names():
    model = two_input_model("add")
    from litehelp import parse
    m = parse(convert(model, None))
    sg = m.Subgraphs(0)
    names = [sg.Tensors(sg.Outputs(i)).Name().decode() for i in range(sg.OutputsLength())]
    assert names == ["cls", "reg"]
    inputs = [sg.Tensors(sg.Inputs(i)).Name().decode() for i in range(sg.InputsLength())]
    assert inputs == ["a", "b"]
