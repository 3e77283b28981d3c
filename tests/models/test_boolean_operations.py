"""Comparisons and logical operations on symbolic tensors give booleans,
as in Keras 3 (NumPy backend, the test-only reference): the recorded
operation's dtype, the value predict computes, the operations after them
(cast, where, logical chains, arithmetic), training through them, the
inference plan (which leaves them to Python), and .keras files both
ways."""
import warnings

import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

X = np.array([[-1.5, 0.0, 0.25, 0.5, 2.0, -0.0],
              [3.0, -2.0, 1.0, 0.75, -0.25, 0.5]], np.float32)

# name: (operation on a symbolic tensor, Keras's result dtype)
CASES = {
    "greater": lambda ops, x: x > 0.25,
    "greater_equal": lambda ops, x: x >= 0.5,
    "less": lambda ops, x: x < 0.5,
    "less_equal": lambda ops, x: x <= 0.0,
    "not_equal_operator": lambda ops, x: x != 0.5,
    "equal": lambda ops, x: ops.equal(x, 0.5),
    "not_equal": lambda ops, x: ops.not_equal(x, 0.0),
    "ops_greater": lambda ops, x: ops.greater(x, 0.0),
    "ops_less_equal": lambda ops, x: ops.less_equal(x, 1.0),
    "logical_and": lambda ops, x: ops.logical_and(x > 0, x < 1),
    "logical_or": lambda ops, x: ops.logical_or(x < 0, x > 1),
    "logical_xor": lambda ops, x: ops.logical_xor(x > 0, x < 1),
    "logical_not": lambda ops, x: ops.logical_not(x > 0),
    "and_or_operators": lambda ops, x: ((x > 0) & (x < 1)) | (x < -1),
    "xor_invert_operators": lambda ops, x: ~((x > 0) ^ (x < 1)),
    "isnan": lambda ops, x: ops.isnan(ops.log(x)),
    "isfinite": lambda ops, x: ops.isfinite(ops.log(x)),
    "isinf": lambda ops, x: ops.isinf(ops.log(ops.abs(x))),
    "isclose": lambda ops, x: ops.isclose(x, 0.5),
    "signbit": lambda ops, x: ops.signbit(x),
    "any": lambda ops, x: ops.any(x > 1, axis=-1),
    "all": lambda ops, x: ops.all(x > -3, axis=-1),
    "cast": lambda ops, x: ops.cast(x > 0, "float32"),
    "where": lambda ops, x: ops.where(x > 0, x, 0.0),
    "where_chain": lambda ops, x: ops.where(ops.logical_and(x > 0, ops.logical_not(x > 1)),
                                            x * 2.0, -x),
    "mask_times": lambda ops, x: x * ops.cast(ops.not_equal(x, 0.5), "float32"),
}


def _build(lib, case):
    x = lib.Input(shape=(X.shape[1],))
    return lib.Model(x, CASES[case](lib.ops, x))


@pytest.mark.parametrize("case", sorted(CASES))
def test_operation_dtype_and_value_match_keras(keras, case):
    ours = _build(pynn, case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _build(keras, case)
    assert ours.outputs[0].dtype == theirs.outputs[0].dtype
    want = np.asarray(theirs(X))
    with np.errstate(all="ignore"):
        for got in (ours.predict(X, verbose=0), np.asarray(ours(X))):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_boolean_steps_are_not_planned():
    """The compiled inference plan runs float32 arithmetic only: a model
    with a boolean step runs its steps in Python, with bool results."""
    from pynn.models.passes import InferenceProgram
    x = pynn.Input(shape=(X.shape[1],))
    dense = pynn.layers.Dense(3)
    y = dense(x * pynn.ops.cast(x > 0.25, "float32"))
    model = pynn.Model(x, [y, y > 0])
    assert not InferenceProgram(model).plannable
    dense_only = pynn.Model(x, pynn.layers.Dense(3)(x * 2.0))
    assert InferenceProgram(dense_only).plannable
    out, positive = model.predict(X, verbose=0)
    assert positive.dtype == bool
    kernel, bias = dense.get_weights()
    want = (X * (X > 0.25)) @ kernel + bias
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(positive, want > 0)


def test_trains_through_boolean_masks():
    """ops.where and a cast comparison in the graph: gradients pass where the
    condition holds, as Keras's do."""
    pynn.utils.set_random_seed(0)
    x = pynn.Input(shape=(X.shape[1],))
    h = pynn.layers.Dense(4)(x)
    h = pynn.ops.where(h > 0, h, 0.1 * h) * pynn.ops.cast(
        pynn.ops.logical_not(pynn.ops.isnan(h)), "float32")
    model = pynn.Model(x, pynn.layers.Dense(1)(h))
    model.compile(optimizer="sgd", loss="mse")
    y = np.array([[1.0], [-1.0]], np.float32)
    before = model.evaluate(X, y, verbose=0)
    model.fit(X, y, epochs=20, verbose=0)
    assert model.evaluate(X, y, verbose=0) < before


@pytest.mark.parametrize("case", ["where_chain", "cast", "and_or_operators", "logical_not"])
def test_boolean_operations_cross_keras_files(tmp_path, keras, case):
    """pynn's .keras file loads in Keras with Keras's dtypes and values, and
    Keras's file loads in pynn with bool tensors."""
    ours = _build(pynn, case)
    ours.save(tmp_path / "ours.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = keras.saving.load_model(tmp_path / "ours.keras")
        theirs = _build(keras, case)
        theirs.save(tmp_path / "theirs.keras")
    want = np.asarray(theirs(X))
    assert loaded.outputs[0].dtype == theirs.outputs[0].dtype
    np.testing.assert_array_equal(np.asarray(loaded(X)), want)
    back = pynn.models.load_model(tmp_path / "theirs.keras")
    assert back.outputs[0].dtype == ours.outputs[0].dtype
    bools = [t.dtype for layer in back._operations for node in layer._inbound_nodes
             for t in node.output_tensors if t.dtype == "bool"]
    assert bools  # the comparisons inside are bool again
    np.testing.assert_array_equal(back.predict(X, verbose=0), want)
