"""Finite-difference gradient checks through graphs: a shared layer used
twice, a residual block, an Inception module, a model nested in another,
every merge layer, and a three-output model with loss_weights."""
import numpy as np
import pytest

import pynn
from pynn import layers
from gradcheck import check_model_gradients


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def onehot(n, k, seed=1):
    return np.eye(k, dtype=np.float32)[np.random.default_rng(seed).integers(0, k, n)]


def test_shared_layer_used_twice():
    pynn.utils.set_random_seed(2)
    a, b = pynn.Input(shape=(5,)), pynn.Input(shape=(5,))
    shared = layers.Dense(4, activation="tanh")
    merged = layers.Subtract()([shared(a), shared(b)])
    out = layers.Dense(2, activation="softmax")(layers.Concatenate()([merged, shared(a)]))
    model = pynn.Model([a, b], out)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    assert len(shared._inbound_nodes) == 3
    # Three calls, one set of weights: the gradient is the sum over calls.
    grads = check_model_gradients(model, [rand(6, 5), rand(6, 5, seed=3)], onehot(6, 2))
    assert np.abs(grads).max() > 1e-3


def test_residual_block():
    pynn.utils.set_random_seed(3)
    inp = pynn.Input(shape=(5, 5, 3))
    x = layers.Conv2D(3, 3, padding="same", activation="relu")(inp)
    x = layers.Conv2D(3, 3, padding="same")(x)
    x = layers.Activation("relu")(layers.Add()([x, inp]))
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    model = pynn.Model(inp, out)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    check_model_gradients(model, rand(4, 5, 5, 3), onehot(4, 3))


def test_inception_module():
    pynn.utils.set_random_seed(4)
    inp = pynn.Input(shape=(6, 6, 4))
    b1 = layers.Conv2D(2, 1, activation="relu")(inp)
    b2 = layers.Conv2D(3, 3, padding="same", activation="relu")(
        layers.Conv2D(2, 1, activation="relu")(inp))
    b3 = layers.Conv2D(2, 1)(layers.MaxPooling2D(3, strides=1, padding="same")(inp))
    x = layers.Concatenate(axis=-1)([b1, b2, b3])
    out = layers.Dense(1)(layers.Flatten()(layers.AveragePooling2D(3)(x)))
    model = pynn.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    assert model.output_shape == (None, 1)
    check_model_gradients(model, rand(3, 6, 6, 4), rand(3, 1, seed=5))


def test_model_nested_inside_another():
    pynn.utils.set_random_seed(5)
    inner_in = pynn.Input(shape=(6,))
    inner = pynn.Model(inner_in, layers.Dense(4, activation="tanh")(
        layers.Dense(5, activation="relu")(inner_in)), name="tower")
    stack = pynn.Sequential([layers.Dense(3, activation="elu")], name="stack")
    a, b = pynn.Input(shape=(6,)), pynn.Input(shape=(6,))
    # The nested model is itself shared between two inputs (a Siamese tower).
    x = layers.Concatenate()([inner(a), inner(b)])
    out = layers.Dense(2, activation="sigmoid")(stack(x))
    model = pynn.Model([a, b], out)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    y = (rand(5, 2, seed=9) > 0).astype(np.float32)
    check_model_gradients(model, [rand(5, 6), rand(5, 6, seed=7)], y)
    assert [l.name for l in model.layers if isinstance(l, pynn.Model)] == ["tower", "stack"]


MERGES = {
    "add": lambda: layers.Add(),
    "subtract": lambda: layers.Subtract(),
    "multiply": lambda: layers.Multiply(),
    "average": lambda: layers.Average(),
    "maximum": lambda: layers.Maximum(),
    "minimum": lambda: layers.Minimum(),
    "concatenate": lambda: layers.Concatenate(),
}


@pytest.mark.parametrize("name", sorted(MERGES))
def test_every_merge_layer(name):
    pynn.utils.set_random_seed(6)
    a, b = pynn.Input(shape=(4,)), pynn.Input(shape=(4,))
    x = MERGES[name]()([layers.Dense(4)(a), layers.Dense(4, activation="tanh")(b)])
    model = pynn.Model([a, b], layers.Dense(2)(x))
    model.compile(optimizer="sgd", loss="mse")
    check_model_gradients(model, [rand(5, 4), rand(5, 4, seed=8)], rand(5, 2, seed=9))


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "average"])
def test_merges_of_three_inputs_with_broadcasting(name):
    pynn.utils.set_random_seed(7)
    a, b, c = pynn.Input(shape=(3, 4)), pynn.Input(shape=(1, 4)), pynn.Input(shape=(3, 1))
    x = MERGES[name]()([layers.Dense(4)(a), layers.Dense(4)(b), layers.Dense(1)(c)])
    assert x.shape == (None, 3, 4)
    model = pynn.Model([a, b, c], layers.Dense(1)(layers.Flatten()(x)))
    model.compile(optimizer="sgd", loss="mse")
    check_model_gradients(model, [rand(4, 3, 4), rand(4, 1, 4, seed=2), rand(4, 3, 1, seed=3)],
                          rand(4, 1, seed=4))


@pytest.mark.parametrize("axes,shapes,normalize", [
    (1, ((5,), (5,)), False),
    (1, ((5,), (5,)), True),
    ((2, 2), ((3, 4), (2, 4)), False),
    ((1, 1), ((3, 4), (3, 2)), False),
    ((2, 1), ((3, 4), (4, 2)), True),
])
def test_dot(axes, shapes, normalize):
    pynn.utils.set_random_seed(8)
    a, b = pynn.Input(shape=shapes[0]), pynn.Input(shape=shapes[1])
    d = layers.Dot(axes=axes, normalize=normalize)([layers.Dense(shapes[0][-1])(a),
                                                   layers.Dense(shapes[1][-1])(b)])
    model = pynn.Model([a, b], layers.Dense(1)(layers.Flatten()(d)))
    model.compile(optimizer="sgd", loss="mse")
    check_model_gradients(model, [rand(4, *shapes[0]), rand(4, *shapes[1], seed=2)],
                          rand(4, 1, seed=3))


def test_dot_matches_numpy():
    x, y = rand(4, 3, 5), rand(4, 2, 5, seed=1)
    want = np.einsum("bik,bjk->bij", x, y)
    np.testing.assert_allclose(layers.Dot(axes=2)([x, y]), want, rtol=1e-5, atol=1e-5)
    u, v = rand(6, 7), rand(6, 7, seed=2)
    cos = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(layers.Dot(1, normalize=True)([u, v])[:, 0], cos, rtol=1e-5)


def three_outputs():
    inp = pynn.Input(shape=(6,), name="features")
    h = layers.Dense(8, activation="relu")(inp)
    age = layers.Dense(1, name="age")(h)
    income = layers.Dense(4, activation="softmax", name="income")(h)
    gender = layers.Dense(1, activation="sigmoid", name="gender")(h)
    return pynn.Model(inp, [age, income, gender])


def test_three_outputs_with_loss_weights():
    pynn.utils.set_random_seed(9)
    model = three_outputs()
    model.compile(optimizer="sgd",
                  loss={"age": "mse", "income": "categorical_crossentropy",
                        "gender": "binary_crossentropy"},
                  loss_weights={"age": 0.25, "income": 1.0, "gender": 10.0})
    y = [rand(5, 1, seed=2), onehot(5, 4), (rand(5, 1, seed=3) > 0).astype(np.float32)]
    # the softmax and sigmoid heads hand their losses logits (fused kernels)
    assert [o.fused for o in model._compiled_outputs] == [False, True, True]
    check_model_gradients(model, rand(5, 6), y)


def test_logs_and_history_use_keras_3_names():
    pynn.utils.set_random_seed(9)
    model = three_outputs()
    model.compile(optimizer="adam",
                  loss=["mse", "categorical_crossentropy", "binary_crossentropy"],
                  loss_weights=[0.5, 1.0, 2.0],
                  metrics={"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]})
    x = rand(40, 6)
    y = {"age": rand(40, 1, seed=2), "income": onehot(40, 4),
         "gender": (rand(40, 1, seed=3) > 0).astype(np.float32)}
    h = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    keys = ["loss", "age_mae", "income_accuracy", "gender_accuracy", "age_loss", "income_loss",
            "gender_loss"]
    assert list(h.history) == keys + ["val_" + k for k in keys]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    # the total is the weighted sum of the per-output losses
    assert logs["loss"] == pytest.approx(0.5 * logs["age_loss"] + logs["income_loss"] +
                                         2.0 * logs["gender_loss"], rel=1e-5)
    values = model.evaluate(x, [y["age"], y["income"], y["gender"]], verbose=0)
    # the list in Keras 3's order: the losses, then the metrics by name
    order = ["loss", "age_loss", "income_loss", "gender_loss", "age_mae", "gender_accuracy",
             "income_accuracy"]
    assert values == pytest.approx([logs[k] for k in order])
    assert model.metrics_names == order
    preds = model.predict(x, verbose=0)
    assert [p.shape for p in preds] == [(40, 1), (40, 4), (40, 1)]
