"""Custom layers and subclassed models inside functional graphs: a layer
whose call reshapes to the fixed batch it trains on, and a subclassed model
whose call makes arrays of its batch size (``ops.ones([ops.shape(x)[0],
...])``); against Keras 3 on its NumPy backend where it runs the same
thing, else a property that could fail."""

import numpy as np
import pytest

import pynn
from pynn import ops

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BATCH, TOKENS, DIM = 4, 3, 5


def _token_mixer(lib):
    """A layer that, as a mixture-of-experts layer, works on all the tokens
    of its (fixed) batch at once: a reshape to BATCH * TOKENS rows, and back
    to the batch it was given."""
    class TokenMixer(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = lib.layers.Dense(DIM)

        def call(self, x):
            batch, tokens = lib.ops.shape(x)[0], lib.ops.shape(x)[1]
            flat = lib.ops.reshape(x, [BATCH * TOKENS, DIM])
            mixed = self.proj(flat) * lib.ops.mean(flat, axis=0)
            return lib.ops.reshape(mixed, [batch, tokens, DIM])
    return TokenMixer


def _mixer_model(lib, batch_size):
    inp = lib.layers.Input(shape=(TOKENS, DIM), batch_size=batch_size)
    mixer = _token_mixer(lib)()
    mixed = mixer(inp)
    out = lib.layers.Dense(2)(lib.layers.GlobalAveragePooling1D()(mixed))
    return lib.Model(inp, out), mixer, mixed


def _copy_weights(src_model, dst_model):
    for s, d in zip(src_model.layers, dst_model.layers):
        for ws, wd in zip(s.weights, d.weights):
            wd.assign(np.asarray(ws))


@needs_keras
def test_layer_reshaping_to_the_declared_batch_matches_keras():
    x = np.random.default_rng(0).normal(size=(BATCH, TOKENS, DIM)).astype("float32")
    ours, _, mixed = _mixer_model(pynn, BATCH)
    theirs, _, kmixed = _mixer_model(keras, BATCH)
    assert tuple(mixed.shape) == tuple(kmixed.shape) == (BATCH, TOKENS, DIM)
    theirs.predict(x, batch_size=BATCH, verbose=0)
    _copy_weights(theirs, ours)
    np.testing.assert_allclose(ours.predict(x, batch_size=BATCH, verbose=0),
                               theirs.predict(x, batch_size=BATCH, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_layer_reshaping_to_a_fixed_batch_builds_with_an_unknown_batch():
    # Keras's symbolic reshape gives the sizes asked for when the batch is
    # unknown; the sample batches the shape is found on must not refuse it
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3 * BATCH, TOKENS, DIM)).astype("float32")
    y = rng.normal(size=(3 * BATCH, 2)).astype("float32")
    model, mixer, mixed = _mixer_model(pynn, None)
    assert tuple(mixed.shape) == (None, TOKENS, DIM)
    model.compile("adam", "mse")
    before = [np.array(w) for w in mixer.weights]
    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.allclose(a, np.asarray(b)) for a, b in zip(before, mixer.weights))
    # the graph computes what the layer does on the real batch
    want = mixer(x[:BATCH])
    sub = pynn.Model(model.inputs, mixed)
    np.testing.assert_allclose(sub.predict(x[:BATCH], batch_size=BATCH, verbose=0),
                               np.asarray(want), rtol=1e-5, atol=1e-6)


def test_reshape_to_wrong_sizes_still_fails_when_the_sizes_are_known():
    class Bad(pynn.layers.Layer):
        def call(self, x):
            return ops.reshape(x, [7, DIM])
    with pytest.raises(ValueError, match="reshape"):
        Bad()(pynn.layers.Input(shape=(TOKENS, DIM), batch_size=BATCH))


def _decision_tree(lib, leaves_depth=2):
    """The pattern of a neural decision tree: a subclassed model whose call
    makes an array of its batch size and reshapes to it."""
    class Tree(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.depth = leaves_depth
            self.pi = self.add_weight(shape=(2 ** leaves_depth, 2),
                                      initializer="random_normal")
            self.decide = lib.layers.Dense(2 ** leaves_depth, activation="sigmoid")

        def call(self, features):
            batch = lib.ops.shape(features)[0]
            d = lib.ops.expand_dims(self.decide(features), axis=2)
            d = lib.ops.concatenate([d, 1 - d], axis=2)
            mu = lib.ops.ones([batch, 1, 1])
            begin, end = 1, 2
            for level in range(self.depth):
                mu = lib.ops.reshape(mu, [batch, -1, 1])
                mu = lib.ops.tile(mu, (1, 1, 2)) * d[:, begin:end, :]
                begin, end = end, end + 2 ** (level + 1)
            mu = lib.ops.reshape(mu, [batch, 2 ** self.depth])
            return lib.ops.matmul(mu, lib.ops.softmax(self.pi))
    return Tree


def _forest(lib, n_trees):
    tree_cls = _decision_tree(lib)

    class Forest(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.trees = [tree_cls() for _ in range(n_trees)]

        def call(self, x):
            out = lib.ops.zeros([lib.ops.shape(x)[0], 2])
            for tree in self.trees:
                out = out + tree(x)
            return out / len(self.trees)
    return Forest()


def _graph_around(lib, inner):
    inp = lib.layers.Input(shape=(3,))
    out = inner(lib.layers.Dense(4)(inp))
    return lib.Model(inp, out)


def _copy_tree(src, dst):
    dst.pi.assign(np.asarray(src.pi))
    dst.decide.set_weights(src.decide.get_weights())


@needs_keras
@pytest.mark.parametrize("kind", ["tree", "forest"])
def test_subclassed_model_making_arrays_of_its_batch_matches_keras(kind):
    x = np.random.default_rng(2).normal(size=(6, 3)).astype("float32")
    if kind == "tree":
        ours_inner, theirs_inner = _decision_tree(pynn)(), _decision_tree(keras)()
    else:
        ours_inner, theirs_inner = _forest(pynn, 2), _forest(keras, 2)
    ours, theirs = _graph_around(pynn, ours_inner), _graph_around(keras, theirs_inner)
    assert tuple(ours.output_shape) == tuple(theirs.output_shape) == (None, 2)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.layers[1].set_weights(theirs.layers[1].get_weights())
    pairs = [(theirs_inner, ours_inner)] if kind == "tree" else \
        list(zip(theirs_inner.trees, ours_inner.trees))
    for src, dst in pairs:
        _copy_tree(src, dst)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_subclassed_model_making_arrays_of_its_batch_trains():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 3)).astype("float32")
    y = rng.integers(0, 2, 20)
    forest = _forest(pynn, 2)
    model = _graph_around(pynn, forest)
    model.compile(pynn.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    pi = np.array(forest.trees[0].pi)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not np.allclose(pi, np.asarray(forest.trees[0].pi))
    # batches of any size (8, 8 and 4 above; 5 here) get arrays of their size
    assert model.predict(x[:5], verbose=0).shape == (5, 2)
    np.testing.assert_allclose(model.predict(x[:5], verbose=0).sum(axis=1), 1.0, rtol=1e-5)


def test_array_of_unknown_size_outside_a_traced_call_is_refused():
    inp = pynn.layers.Input(shape=(3,))
    with pytest.raises(ValueError, match="unknown size"):
        ops.ones([ops.shape(inp)[0], 3])
    with pytest.raises(ValueError, match="unknown size"):
        ops.zeros([None, 3])


def test_subclassed_model_weight_gets_its_gradient():
    # the tree's own weight (add_weight, read as ops.softmax(self.pi) in its
    # call) is a weight of the graph: one SGD step moves it by minus its
    # gradient, checked against central differences of the loss (the tree
    # reads the graph's input, which needs no gradient of its own)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 3)).astype("float32")
    y = rng.normal(size=(6, 2)).astype("float32")
    tree = _decision_tree(pynn)()
    inp = pynn.layers.Input(shape=(3,))
    model = pynn.Model(inp, tree(inp))
    # listed first, as Keras lists a model's own weights before its layers'
    assert model.trainable_weights[0] is tree.pi
    pi = np.array(tree.pi)

    def loss(values):
        tree.pi.assign(values)
        return float(np.mean((model.predict(x, verbose=0).astype(np.float64) - y) ** 2))
    eps, numeric = 1e-2, np.zeros_like(pi)
    for i in np.ndindex(pi.shape):
        up, down = pi.copy(), pi.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (loss(up) - loss(down)) / (2 * eps)
    tree.pi.assign(pi)
    model.compile(pynn.optimizers.SGD(learning_rate=1.0), "mse")
    model.train_on_batch(x, y)
    np.testing.assert_allclose(pi - np.asarray(tree.pi), numeric, rtol=2e-2, atol=2e-4)
    assert np.abs(numeric).max() > 1e-3


# ---------------------------------------- TensorFlow's names: nest, TensorShape, einsum

@needs_keras
def test_nest_is_keras_tree():
    data = {"b": (1, [2, 3]), "a": {"y": 4, "x": None}}
    assert pynn.nest.flatten(data) == keras.tree.flatten(data)
    doubled = pynn.nest.map_structure(lambda v: None if v is None else 2 * v, data)
    assert doubled == keras.tree.map_structure(lambda v: None if v is None else 2 * v, data)
    flat = list(range(len(keras.tree.flatten(data))))
    assert pynn.nest.pack_sequence_as(data, flat) == keras.tree.pack_sequence_as(data, flat)


def test_tensor_shape():
    shape = pynn.TensorShape([2, None, 3])
    assert shape == (2, None, 3) and shape.as_list() == [2, None, 3]
    assert shape.rank == 3 and shape[0] == 2 and shape[1:] == pynn.TensorShape([None, 3])
    assert repr(shape[1:]) == "TensorShape([None, 3])"
    assert not shape.is_fully_defined() and shape.num_elements() is None
    assert pynn.TensorShape([4, 5]).num_elements() == 20
    assert pynn.TensorShape(7).as_list() == [7]
    assert shape.concatenate([6]) == (2, None, 3, 6)
    assert pynn.TensorShape(None).rank is None   # unknown rank, as TF
    with pytest.raises(ValueError, match="unknown TensorShape"):
        pynn.TensorShape(None).as_list()


def _einsum_cell(lib, einsum, state_size, units):
    class Cell(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size = state_size
            self.output_size = state_size

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], units), name="kernel",
                                          initializer="glorot_uniform")

        def call(self, inputs, states):
            h = lib.ops.tanh(einsum("bi,ij->bj", inputs, self.kernel) + states[0])
            return h, [h]
    return Cell()


@needs_keras
def test_cell_with_tensor_shape_state_and_tf_einsum_matches_keras():
    x = np.random.default_rng(5).normal(size=(3, 4, 2)).astype("float32")
    ours = pynn.layers.RNN(_einsum_cell(pynn, pynn.einsum, pynn.TensorShape([5]), 5))
    theirs = keras.layers.RNN(_einsum_cell(keras, keras.ops.einsum, 5, 5))
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
