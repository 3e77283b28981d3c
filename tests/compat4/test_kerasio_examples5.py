"""keras.io's example programs, fifth sweep (graph, generative, vision,
time series, recipes), run with only their imports changed: the patterns
that broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- gat_node_classification.py: a model keeps its graph's int32 edges and
# gives them, with node states, to a layer whose layers take by them

def graph_model(lib, edges, feats, seen):
    class Gather(lib.layers.Layer):
        def call(self, inputs):
            states, edges = inputs
            seen.append(np.dtype(str(edges.dtype)))
            target, source = edges[:, 0], edges[:, 1]
            picked = lib.ops.take(states, source, axis=0)
            return lib.ops.segment_sum(picked, target, num_segments=lib.ops.shape(states)[0])

    class Block(lib.layers.Layer):  # a layer of layers, as the multi-head one is
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.gather = Gather()

        def call(self, inputs):
            states, edges = inputs
            return lib.ops.relu(self.gather([states, edges]))

    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.edges, self.feats = edges, feats
            self.pre = lib.layers.Dense(8)
            self.block = Block()
            self.out = lib.layers.Dense(3)

        def call(self, indices):
            x = self.pre(self.feats)
            x = self.block([x, self.edges]) + x
            return lib.ops.take(self.out(x), indices, axis=0)
    return Net()


def test_integer_edges_keep_their_dtype_in_training_as_in_a_call(keras):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 30)
    feats = (np.eye(3)[labels] + 0.3 * rng.normal(size=(30, 3))).astype("float32")
    edges = np.stack([rng.integers(0, 30, 90), rng.integers(0, 30, 90)], 1).astype("int32")
    idx = np.arange(30)
    seen = []
    ours = graph_model(pynn, pynn.ops.convert_to_tensor(edges, dtype="int32"), feats, seen)
    ref = graph_model(keras, keras.ops.convert_to_tensor(edges, dtype="int32"), feats, [])
    ours(idx), ref(idx)
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(np.asarray(ours(idx)), np.asarray(ref(idx)), rtol=1e-4, atol=1e-5)

    ours.compile(optimizer=pynn.optimizers.SGD(0.05, momentum=0.9),
                 loss=pynn.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = ours.fit(idx, labels, batch_size=32, epochs=15, verbose=0).history["loss"]
    assert set(seen) == {np.dtype("int32")}
    assert hist[-1] < 0.5 * hist[0]
    # the trained weights give Keras's forward pass still
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(idx, verbose=0), np.asarray(ref(idx)),
                               rtol=1e-4, atol=1e-4)
