"""keras.activations.get and the keras.ops functions the books use, against
Keras 3 on its NumPy backend: the same values (and indices) for the same
arrays."""

import numpy as np
import pytest

import pynn
from pynn import activations, layers

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 7)).astype(np.float32)

NAMES = ["relu", "relu6", "leaky_relu", "elu", "sigmoid", "hard_sigmoid", "tanh", "softmax",
         "softplus", "swish", "silu", "hard_swish", "hard_silu", "linear", "selu", "gelu",
         "exponential", "mish"]


@needs_keras
@pytest.mark.parametrize("name", NAMES)
def test_activations_get_returns_keras_function(name):
    fn = activations.get(name)
    assert callable(fn)
    want = keras.activations.get(name)
    atol = 1e-3 if name == "gelu" else 2e-6  # Keras's gelu is erf-exact
    np.testing.assert_allclose(fn(X), np.asarray(want(X)), rtol=1e-5, atol=atol)
    assert activations.serialize(fn) in (keras.activations.serialize(want),
                                         activations.canonical(name))
    assert activations.canonical(fn) == activations.canonical(name)


def test_activations_get_of_none_and_of_functions():
    assert activations.get(None) is activations.linear
    assert activations.get(activations.relu) is activations.relu
    assert activations.get("silu") is activations.swish

    def custom(x):
        return x * 2
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="Unknown activation 'nope'"):
        activations.get("nope")


def test_layers_built_with_a_function_from_get_save_its_name(tmp_path):
    model = pynn.Sequential([pynn.Input(shape=(4,)),
                             layers.Dense(3, activation=activations.get("sigmoid")),
                             layers.Dense(2, activation=activations.get("relu"))])
    assert [l.get_config()["activation"] for l in model.layers] == ["sigmoid", "relu"]
    assert model.layers[0].activation == "sigmoid"  # the fused kernel
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    model.save(tmp_path / "m.pynn")
    loaded = pynn.models.load_model(tmp_path / "m.pynn")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ ops

A = RNG.normal(size=(4, 6)).astype(np.float32)
B = RNG.normal(size=(6, 3)).astype(np.float32)
IDS = np.array([2, 0, 2, 1])


def same(ours, theirs):
    if isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            same(o, t)
        return
    theirs = np.asarray(theirs)
    np.testing.assert_allclose(np.asarray(ours, np.float64), theirs.astype(np.float64),
                               rtol=1e-5, atol=1e-5)
    assert np.shape(ours) == theirs.shape


CALLS = {
    "tril": lambda k: k.ops.tril(A, -1),
    "triu": lambda k: k.ops.triu(A, 1),
    "einsum": lambda k: k.ops.einsum("ij,jk->ik", A, B),
    "einsum-batch": lambda k: k.ops.einsum("bij,bkj->bik", X, X),
    "top_k": lambda k: k.ops.top_k(A, 3),
    "segment_sum": lambda k: k.ops.segment_sum(A, IDS, num_segments=4),
    "image.resize": lambda k: k.ops.image.resize(X[None, ..., :3], (7, 4)),
    "image.resize-nearest": lambda k: k.ops.image.resize(X[..., :3], (2, 9),
                                                         interpolation="nearest"),
    "image.resize-crop": lambda k: k.ops.image.resize(X[None, ..., :3], (3, 3),
                                                      crop_to_aspect_ratio=True),
    "one_hot": lambda k: k.ops.one_hot(IDS, 3),
    "argsort": lambda k: k.ops.argsort(A, axis=0),
    "cumsum": lambda k: k.ops.cumsum(A, axis=1),
    "logsumexp": lambda k: k.ops.logsumexp(A, axis=0),
    "softmax": lambda k: k.ops.softmax(A, axis=0),
    "take": lambda k: k.ops.take(A, IDS, axis=1),
    "take_along_axis": lambda k: k.ops.take_along_axis(A, IDS[:, None], axis=1),
    "where": lambda k: k.ops.where(A > 0, A, B[:4, :1]),
    "stack": lambda k: k.ops.stack([A, A * 2], axis=1),
    "split": lambda k: k.ops.split(A, 3, axis=1),
    "cond": lambda k: k.ops.cond(np.array(True), lambda: A + 1, lambda: A),
}


@needs_keras
@pytest.mark.parametrize("name", list(CALLS))
def test_ops_match_keras(name):
    same(CALLS[name](pynn), CALLS[name](keras))


class CausalScores(layers.Layer):
    """A custom layer whose call uses the new ops on traced arrays."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], input_shape[-1]),
                                 initializer="glorot_uniform")

    def call(self, x):
        scores = pynn.ops.einsum("bqd,de,bke->bqk", x, self.w, x)
        causal = pynn.ops.tril(pynn.ops.ones((x.shape[1], x.shape[1])))
        scores = pynn.ops.where(causal > 0, scores, -1e9)
        out = pynn.ops.einsum("bqk,bkd->bqd", pynn.ops.softmax(scores, axis=-1), x)
        top, _ = pynn.ops.top_k(out, 2)
        return pynn.ops.sum(top, axis=1)


def test_a_custom_layer_trains_through_the_new_ops():
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input(shape=(5, 4)), CausalScores(), layers.Dense(1)])
    model.compile(loss="mse", optimizer=pynn.optimizers.Adam(learning_rate=0.05))
    x = RNG.normal(size=(32, 5, 4)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None]
    w = model.layers[0].w.numpy().copy()
    history = model.fit(x, y, epochs=20, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert not np.allclose(model.layers[0].w.numpy(), w)


@pytest.mark.parametrize("name,op", [
    ("cast_int", lambda o, x: o.cast(x, "int32")), ("cast_half", lambda o, x: o.cast(x, "float16")),
    ("argmax", lambda o, x: o.argmax(x, axis=-1)), ("argsort", lambda o, x: o.argsort(x)),
    ("count_nonzero", lambda o, x: o.count_nonzero(x, axis=-1)),
    ("top_k_indices", lambda o, x: o.top_k(x, 2)[1]), ("top_k_values", lambda o, x: o.top_k(x, 2)[0]),
    ("sum", lambda o, x: o.sum(x, axis=-1))])
def test_symbolic_dtypes_as_keras(keras, name, op):
    """The dtype a symbolic operation reports is Keras's."""
    assert op(pynn.ops, pynn.Input((4,))).dtype == op(keras.ops, keras.Input((4,))).dtype


SYMBOLIC_ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "elu",
                        "leaky_relu", "relu6", "selu", "softplus", "swish", "mish",
                        "hard_sigmoid", "linear", "exponential", "hard_swish", "softsign",
                        "celu", "log_softmax", "sparse_plus", "tanh_shrink", "hard_tanh",
                        "soft_shrink", "sparsemax", "sparse_sigmoid"]


@pytest.mark.parametrize("name", SYMBOLIC_ACTIVATIONS)
def test_activations_on_symbolic_tensors_as_keras(keras, name):
    """keras.activations.<name>(x) in a functional graph: a node computing
    what Keras computes."""
    x = np.linspace(-4, 4, 12, dtype=np.float32).reshape(2, 6)
    inp = pynn.Input((6,))
    model = pynn.Model(inp, getattr(activations, name)(inp))
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               np.asarray(getattr(keras.activations, name)(x)), atol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"max_value": 6.0}, {"negative_slope": 0.1},
                                {"threshold": 1.0},
                                {"negative_slope": 0.2, "max_value": 4.0, "threshold": 0.5}])
def test_relu_arguments_as_keras(keras, tmp_path, kw):
    """activations.relu(x, negative_slope, max_value, threshold) on arrays,
    in a graph (saved and loaded by Keras) and on a GradientTape."""
    x = np.linspace(-3, 8, 23, dtype=np.float32).reshape(1, -1)
    want = np.asarray(keras.activations.relu(x, **kw))
    np.testing.assert_allclose(activations.relu(x, **kw), want, atol=1e-6)
    inp = pynn.Input((23,))
    model = pynn.Model(inp, activations.relu(inp, **kw))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-6)
    model.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), want, atol=1e-6)
    v = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        y = pynn.ops.sum(activations.relu(v, **kw))
    slope, cap, at = kw.get("negative_slope", 0.0), kw.get("max_value"), kw.get("threshold", 0.0)
    expect = np.where(x > at, 1.0 if cap is None else (x < cap).astype(np.float32), slope)
    np.testing.assert_allclose(np.asarray(tape.gradient(y, v)), expect, atol=1e-6)
