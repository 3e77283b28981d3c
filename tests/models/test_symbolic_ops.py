"""Operations on symbolic tensors (Keras 3's ``keras.ops.exp(x)``,
``x * 2.0``, ``x[:, 0]`` while a functional graph is built): each records
a TensorOperation layer, which predicts what the same expression computes
on arrays, trains (gradients by finite differences), matches Keras 3's
graph with the same weights, saves and loads in pynn's format, clones, and
is read and written in Keras's .keras files as Keras's own operations."""
import numpy as np
import pytest
from gradcheck import check_model_gradients

import pynn
from pynn import layers, ops
from pynn.layers.lambda_layer import TensorOperation


def _x(shape=(3, 6, 5), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


EXPRESSIONS = {
    "scalar_arithmetic": (lambda t: (2.0 * t - 1.0) / 4.0 + 3.0 ** t * 0.1 - -t,
                          lambda a: (2.0 * a - 1.0) / 4.0 + 3.0 ** a * 0.1 - -a),
    "power_and_abs": (lambda t: abs(t) ** 2 + 1.0 / (abs(t) + 1.0),
                      lambda a: np.abs(a) ** 2 + 1.0 / (np.abs(a) + 1.0)),
    "slices": (lambda t: t[:, 0] + t[:, -1, ::-1] * t[..., 2:3][:, 1],
               lambda a: a[:, 0] + a[:, -1, ::-1] * a[..., 2:3][:, 1]),
    "ops_functions": (lambda t: ops.concatenate([ops.mean(t, axis=1), ops.max(t, axis=1),
                                                ops.sqrt(ops.square(t[:, 0]) + 1.0)], axis=-1),
                      lambda a: np.concatenate([a.mean(1), a.max(1),
                                                np.sqrt(a[:, 0] ** 2 + 1.0)], axis=-1)),
    "shape_changes": (lambda t: ops.reshape(ops.transpose(ops.expand_dims(t, -1),
                                                          (0, 2, 1, 3)), (-1, 30)),
                      lambda a: a[..., None].transpose(0, 2, 1, 3).reshape(-1, 30)),
    "hard_swish": (lambda t: t * (layers.ReLU(6.0)(t + 3.0) * (1.0 / 6.0)),
                   lambda a: a * np.clip(a + 3.0, 0.0, 6.0) / 6.0),
    "where_and_comparisons": (lambda t: ops.where(t > 0.5, t, 0.5 - t),
                              lambda a: np.where(a > 0.5, a, 0.5 - a)),
    "split": (lambda t: ops.split(t, [2], axis=-1)[1] * 2.0,
              lambda a: a[..., 2:] * 2.0),
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_a_recorded_expression_predicts_what_it_computes(name):
    build, reference = EXPRESSIONS[name]
    inp = pynn.Input((6, 5))
    model = pynn.Model(inp, build(inp))
    x = _x()
    want = reference(x.astype(np.float64))
    got = model.predict(x, verbose=0)
    assert got.shape == want.shape
    assert model.outputs[0].shape == (None,) + want.shape[1:]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(model(x)), got)
    # nodes of the graph, but not layers of the model (Keras 3's model.layers)
    assert any(isinstance(op, TensorOperation) for op in model._operations)
    assert not any(isinstance(layer, TensorOperation) for layer in model.layers)


def hybrid(seed=1):
    pynn.utils.set_random_seed(seed)
    inp = pynn.Input((6, 5))
    h = layers.Dense(4)(inp / 2.0 - 0.25)
    h = h * ops.sigmoid(h + 1.0)
    z = ops.concatenate([h[:, 0], ops.mean(h, axis=1) ** 2, ops.exp(-abs(h[:, -1]))],
                        axis=-1)
    model = pynn.Model(inp, layers.Dense(3, activation="softmax")(z * 3.0))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_gradients_flow_through_recorded_operations():
    model = hybrid()
    x, y = _x((5, 6, 5), 2), np.array([0, 1, 2, 1, 0])
    check_model_gradients(model, x, y)
    loss = model.fit(x, y, epochs=5, verbose=0).history["loss"]
    assert loss[-1] < loss[0]


def test_matches_keras_with_the_same_weights(keras, tmp_path):
    model = hybrid()
    kops = keras.ops
    inp = keras.Input((6, 5))
    h = keras.layers.Dense(4)(inp / 2.0 - 0.25)
    h = h * kops.sigmoid(h + 1.0)
    z = kops.concatenate([h[:, 0], kops.mean(h, axis=1) ** 2, kops.exp(-abs(h[:, -1]))],
                         axis=-1)
    ref = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(z * 3.0))
    ref.set_weights(model.get_weights())
    x = _x((4, 6, 5), 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    # each reads the other's .keras file: the operations as Keras writes them
    model.save(str(tmp_path / "ours.keras"))
    ref.save(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(keras.saving.load_model(str(tmp_path / "ours.keras")).predict(
        x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pynn.models.load_model(str(tmp_path / "theirs.keras")).predict(
        x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_saves_loads_and_clones_in_pynn_format(tmp_path):
    model = hybrid()
    x = _x((4, 6, 5), 4)
    want = model.predict(x, verbose=0)
    path = str(tmp_path / "ops.pynn")
    model.save(path)
    again = pynn.models.load_model(path)
    np.testing.assert_array_equal(again.predict(x, verbose=0), want)
    clone = pynn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), want)
    keras_path = str(tmp_path / "ops.keras")
    model.save(keras_path)
    np.testing.assert_array_equal(pynn.models.load_model(keras_path).predict(x, verbose=0),
                                  want)
    with pytest.raises(ValueError, match="legacy .h5 format holds layers only"):
        model.save(str(tmp_path / "ops.h5"))


def test_bad_operations_are_refused():
    with pytest.raises(ValueError, match="unknown operation 'system'"):
        TensorOperation("system", [{"__tensor__": 0}])
    inp = pynn.Input((3,))
    with pytest.raises(TypeError, match="cannot record an argument of type object"):
        ops.add(inp, object())
    with pytest.raises(ValueError, match="add"):
        ops.add(inp, np.ones((2, 2), np.float32))  # shapes that do not broadcast


def test_arrays_keep_the_kernel_path():
    a, b = _x((4,)), _x((4,), 1)
    np.testing.assert_array_equal(ops.add(a, b), a + b)
    np.testing.assert_array_equal(ops.concatenate([a, b]), np.concatenate([a, b]))
    m, n = _x((2, 3)), _x((1, 3), 1)  # Keras's default axis is 0
    np.testing.assert_array_equal(ops.concatenate([m, n]), np.concatenate([m, n]))

