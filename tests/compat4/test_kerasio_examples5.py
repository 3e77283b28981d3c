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


# ---- mpnn-molecular-graphs.py: a batch of graphs flattened into its atoms,
# bonds and pairs (different numbers of rows), one label per graph, from a
# PyDataset; segment_max in the readout; num_segments rows given to a cell

GRAPHS, ATOMS, BONDS, FEATS = 4, 5, 8, 3


def flat_graph_model(lib):
    class Pass(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.cell = lib.layers.GRUCell(6)
            self.msg = lib.layers.Dense(6)

        def call(self, inputs):
            atoms, pairs = inputs
            h = lib.ops.pad(atoms, [(0, 0), (0, 6 - FEATS)])
            sent = self.msg(lib.ops.take(h, pairs[:, 1], axis=0))
            # num_segments rows, fixed, meet the atoms' unknown rows in the cell
            m = lib.ops.segment_sum(sent, pairs[:, 0], num_segments=GRAPHS * ATOMS)
            h, _ = self.cell(m, h)
            return h

    class Readout(lib.layers.Layer):
        def call(self, inputs):
            h, graph, mask = inputs
            h = h * lib.ops.expand_dims(mask, -1)
            return lib.ops.concatenate(
                [lib.ops.segment_sum(h, graph, num_segments=GRAPHS),
                 lib.ops.segment_max(h, graph, num_segments=GRAPHS)], axis=-1)

    a = lib.layers.Input((FEATS,), name="atoms")
    p = lib.layers.Input((2,), dtype="int32", name="pairs")
    g = lib.layers.Input((), dtype="int32", name="graph")
    m = lib.layers.Input((), name="mask")
    h = Pass()([a, p])
    out = lib.layers.Dense(1, activation="sigmoid")(Readout()([h, g, m]))
    return lib.Model([a, p, g, m], out)


def graph_batches(n_batches, seed=0):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n_batches):
        atoms = rng.normal(size=(GRAPHS * ATOMS, FEATS)).astype("float32")
        local = rng.integers(0, ATOMS, (GRAPHS, BONDS, 2))
        pairs = (local + (np.arange(GRAPHS) * ATOMS)[:, None, None]).reshape(-1, 2)
        x = {"atoms": atoms, "pairs": pairs.astype("int32"),
             "graph": np.repeat(np.arange(GRAPHS), ATOMS).astype("int32"),
             "mask": (rng.random(GRAPHS * ATOMS) < 0.8).astype("float32")}
        y = (atoms.reshape(GRAPHS, ATOMS, FEATS)[..., 0].max(1) > 1.0)
        batches.append((x, y.astype("float32")[:, None]))
    return batches


def test_a_batch_of_graphs_trains_as_one_label_per_graph():
    class Graphs(pynn.utils.PyDataset):
        def __init__(self, batches):
            super().__init__()
            self.batches = batches

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, i):
            return self.batches[i]

    pynn.utils.set_random_seed(0)
    model = flat_graph_model(pynn)
    # the cell's output keeps num_segments rows, as Keras's symbolic shapes
    assert tuple(model.layers[2].output.shape) == (GRAPHS * ATOMS, 6)
    assert tuple(model.output.shape) == (GRAPHS, 1)
    model.compile(optimizer=pynn.optimizers.Adam(0.02), loss="binary_crossentropy")
    batches = graph_batches(6)
    # a direct call takes the inputs' different rows, as Keras's does
    x, y = batches[0]
    p = np.asarray(model(x))
    assert p.shape == (GRAPHS, 1)
    bce = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    # the loss is the mean over the 4 graphs, not over the 20 atoms' rows
    assert model.evaluate(Graphs(batches[:1]), verbose=0) == pytest.approx(bce, rel=1e-4)
    weighted = float(np.mean(np.where(y == 1, 3.0, 1.0) * -(y * np.log(p) +
                                                           (1 - y) * np.log(1 - p))))
    probe = flat_graph_model(pynn)
    probe.set_weights(model.get_weights())
    probe.compile(optimizer=pynn.optimizers.SGD(0.0), loss="binary_crossentropy")
    hist = probe.fit(Graphs(batches[:1]), epochs=1, verbose=0, class_weight={0: 1.0, 1: 3.0})
    assert hist.history["loss"][0] == pytest.approx(weighted, rel=1e-4)

    losses = model.fit(Graphs(batches), epochs=25, verbose=0).history["loss"]
    assert losses[-1] < 0.6 * losses[0]


def test_segment_max_sends_the_gradient_to_the_maxima(keras):
    data = np.array([[1.0, 5.0], [3.0, 5.0], [3.0, -1.0], [0.0, 2.0], [7.0, 7.0]], "float32")
    ids = np.array([0, 0, 0, 2, -1], "int32")
    want = np.asarray(keras.ops.segment_max(data, ids, num_segments=3))
    x = pynn.Variable(data)
    weight = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]], "float32")
    with pynn.GradientTape() as tape:
        out = pynn.ops.segment_max(x, ids, num_segments=3)
        finite = pynn.ops.where(pynn.ops.isfinite(out), out, 0.0)
        loss = pynn.ops.sum(finite * weight)
    got = np.asarray(out)
    np.testing.assert_array_equal(got[[0, 2]], want[[0, 2]])
    assert np.all(got[1] < -1e30)  # an empty segment, as Keras's
    # rows 1 and 2 tie for column 0 of segment 0, rows 0 and 1 for column 1:
    # each gets half; the dropped row (id -1) gets nothing
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)),
                               [[0, 1], [0.5, 1], [0.5, 0], [100, 200], [0, 0]])


# ---- wgan-graphs.py: tf.transpose of a symbolic tensor in a functional
# generator; a train_step unwrapping fit([adjacency, features])'s batch

def test_tf_transpose_of_a_symbolic_tensor_symmetrizes_as_keras(keras):
    tf = pynn

    def build(lib, transpose):
        z = lib.layers.Input((6,))
        a = lib.layers.Reshape((2, 3, 3))(lib.layers.Dense(18)(z))
        a = (a + transpose(a, (0, 1, 3, 2))) / 2
        return lib.Model(z, lib.layers.Softmax(axis=1)(a))

    ours = build(pynn, tf.transpose)
    ref = build(keras, keras.ops.transpose)
    ref.set_weights(ours.get_weights())
    z = rand(4, 6)
    got = ours.predict(z, verbose=0)
    np.testing.assert_allclose(got, np.asarray(ref(z)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, np.swapaxes(got, 2, 3), atol=1e-6)


def test_a_train_step_gets_a_list_of_arrays_as_tuples_as_on_tensorflow():
    tf = pynn
    seen = []

    class Critic(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.d = tf.keras.layers.Dense(1)

        def call(self, inputs):
            a, f = inputs
            return self.d(tf.concat([tf.reshape(a, (-1, 4)), f], axis=-1))

        def train_step(self, inputs):
            if isinstance(inputs[0], tuple):  # the program's own unwrapping
                inputs = inputs[0]
            seen.append(tuple(np.shape(x) for x in inputs))
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(inputs)))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            return {"loss": loss}

    model = Critic()
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
    hist = model.fit([rand(8, 2, 2), rand(8, 3, seed=1)], epochs=5, batch_size=4, verbose=0)
    assert seen[0] == ((4, 2, 2), (4, 3))
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_tensorflow_functions_on_symbolic_tensors_compute_as_on_arrays():
    """Keras 2 recorded TensorFlow functions applied to a functional
    model's tensors; each gives in the model what it gives on arrays."""
    tf = pynn
    fns = [
        lambda x, i: tf.reduce_mean(x, axis=[1, 2]),
        lambda x, i: tf.abs(x),
        lambda x, i: tf.split(x, 2, axis=-1)[1],
        lambda x, i: tf.split(x, [1, -1], axis=1)[1],
        lambda x, i: tf.linalg.band_part(x, -1, 0),
        lambda x, i: tf.math.top_k(x, 2).values,
        lambda x, i: tf.cast(tf.math.top_k(x, 2).indices, tf.float32),
        lambda x, i: tf.slice(x, [0, 1, 0], [-1, 2, 3]),
        lambda x, i: tf.repeat(x, 2, axis=1),
        lambda x, i: tf.one_hot(i, 5),
        lambda x, i: tf.one_hot(i, 5, axis=1),
    ]
    x = rand(3, 4, 4)
    ids = np.array([[0, 4, 2], [1, 1, 3], [2, 0, 0]], "int32")
    for fn in fns:
        xi, ii = tf.keras.Input((4, 4)), tf.keras.Input((3,), dtype="int32")
        model = tf.keras.Model([xi, ii], fn(xi, ii))
        want = np.asarray(fn(x, ids))
        np.testing.assert_allclose(model.predict([x, ids], verbose=0), want, rtol=1e-6)
    assert float(tf.nn.l2_loss(x)) == pytest.approx(0.5 * float(np.sum(x * x)), rel=1e-5)


# ---- node2vec_movielens.py: keras.preprocessing.sequence.skipgrams

def test_skipgrams_give_keras_pairs_for_a_seed(keras):
    import random

    from keras.src.legacy.preprocessing import sequence as ref
    walk = [3, 0, 5, 1, 7, 5, 2]
    for kwargs in ({}, {"window_size": 2, "negative_samples": 2.0},
                   {"categorical": True, "shuffle": False},
                   {"sampling_table": pynn.preprocessing.sequence.make_sampling_table(10, 0.05)}):
        random.seed(7)
        want = ref.skipgrams(walk, 10, **kwargs)
        random.seed(7)
        got = pynn.preprocessing.sequence.skipgrams(walk, 10, **kwargs)
        assert got == want
    np.testing.assert_allclose(pynn.preprocessing.sequence.make_sampling_table(50, 1e-3),
                               ref.make_sampling_table(50, 1e-3))
    pairs, labels = pynn.preprocessing.sequence.skipgrams(walk, 10, window_size=1, shuffle=False,
                                                          negative_samples=0)
    # (id 0 is no word: 3 has no neighbour within one place)
    assert pairs[:3] == [[5, 1], [1, 5], [1, 7]] and labels == [1] * len(pairs)


# ---- deep_neural_decision_forests.py: make_csv_dataset's column_defaults
# as TensorFlow's record defaults, [0.0] and ["NA"]

def test_csv_column_defaults_given_as_one_element_lists(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("39, State-gov, 13, <=50K\n50,?,?, >50K\n")
    ds = pynn.data.experimental.make_csv_dataset(
        str(path), batch_size=2, column_names=["age", "work", "hours", "income"],
        column_defaults=[[0.0], ["NA"], [7.0], ["NA"]], label_name="income", header=False,
        na_value="?", shuffle=False, num_epochs=1)
    x, y = next(iter(ds))
    np.testing.assert_array_equal(np.asarray(x["age"]), np.array([39.0, 50.0], "float32"))
    assert np.asarray(x["age"]).dtype == np.float32
    # the text keeps its leading space; a missing value takes the default
    assert list(np.asarray(x["work"])) == [b" State-gov", b"NA"]
    np.testing.assert_array_equal(np.asarray(x["hours"]), [13.0, 7.0])
    assert list(np.asarray(y)) == [b" <=50K", b" >50K"]


# ---- stylegan.py: a reduction over ops.arange(1, ndim) axes; a model called
# on a dict holding a list of noise arrays and a number

def test_reductions_take_an_array_of_axes_as_tensorflow_takes_a_tensor():
    x = rand(3, 2, 4, 5)
    axes = pynn.ops.arange(1, pynn.ops.size(pynn.ops.shape(x)))
    np.testing.assert_allclose(np.asarray(pynn.ops.sum(pynn.ops.square(x), axis=axes)),
                               np.sum(x * x, axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(pynn.ops.mean(x, axis=np.int64(2))), x.mean(2),
                               rtol=1e-5)
    v = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        norm = pynn.ops.sqrt(pynn.ops.sum(pynn.ops.square(v), axis=axes))
    g = np.asarray(tape.gradient(norm, v))
    np.testing.assert_allclose(g, x / np.sqrt(np.sum(x * x, axis=(1, 2, 3)))[:, None, None, None],
                               rtol=1e-4)


def styled(lib):
    class Styled(lib.Model):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(4)
            self.scale = lib.Variable(1.0, trainable=False)

        def call(self, inputs):
            z, noise = inputs["z"], inputs.get("noise")
            self.scale.assign(inputs.get("alpha", 1.0))
            out = self.dense(z) * self.scale
            for n in noise:
                out = out + lib.ops.sum(n, axis=1)
            return out
    return Styled()


def test_a_model_called_on_a_dict_of_options_runs_its_call_as_keras(keras):
    z = rand(3, 5)
    noise = [rand(3, 2, 4, seed=1), rand(3, 6, 4, seed=2)]
    ours, ref = styled(pynn), styled(keras)
    half = {"z": z, "noise": noise, "alpha": pynn.ops.convert_to_tensor(0.5)}
    got = np.asarray(ours(half))
    ref({"z": z, "noise": noise, "alpha": keras.ops.convert_to_tensor(0.5)})
    ref.set_weights(ours.get_weights())
    for alpha in (0.5, 2.0):
        np.testing.assert_allclose(
            np.asarray(ours({"z": z, "noise": noise, "alpha": pynn.ops.convert_to_tensor(alpha)})),
            np.asarray(ref({"z": z, "noise": noise, "alpha": keras.ops.convert_to_tensor(alpha)})),
            rtol=1e-5, atol=1e-6)
    assert got.shape == (3, 4)


# ---- IIC_cluster.py: tf.reduce_mean of a list of losses on a tape

def test_reductions_of_a_list_of_traced_losses_differentiate():
    tf = pynn
    w = tf.Variable(rand(3, 2))
    x = rand(4, 3, seed=1)
    with tf.GradientTape() as tape:
        y = tf.matmul(x, w)
        parts = [tf.reduce_sum(y[:, 0] ** 2), tf.reduce_sum(y[:, 1]), 2.0 * tf.reduce_sum(y)]
        loss = tf.reduce_mean(parts) + tf.reduce_sum(parts) + tf.math.reduce_std(parts)
    yv = x @ np.asarray(w)
    vals = np.array([np.sum(yv[:, 0] ** 2), np.sum(yv[:, 1]), 2.0 * np.sum(yv)])
    assert float(loss) == pytest.approx(vals.mean() + vals.sum() + vals.std(), rel=1e-5)
    # d loss / d part_k = 1/3 + 1 + (part_k - mean) / (3 std)
    dpart = 1.0 / 3 + 1.0 + (vals - vals.mean()) / (3 * vals.std())
    dy = np.zeros_like(yv)
    dy[:, 0] += dpart[0] * 2 * yv[:, 0]
    dy[:, 1] += dpart[1]
    dy += 2.0 * dpart[2]
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, w)), x.T @ dy, rtol=1e-4)


# ---- multivariate_timeseries_forecasting_using_lstm.py: TimeseriesGenerator

def test_timeseries_generator_gives_keras_windows(keras):
    from keras.src.legacy.preprocessing import sequence as ref
    data = np.arange(60, dtype="float32").reshape(30, 2)
    targets = np.arange(30, dtype="float32") * 10
    for kwargs in ({"length": 4, "batch_size": 5},
                   {"length": 6, "sampling_rate": 2, "stride": 3, "batch_size": 4,
                    "start_index": 2, "end_index": 25, "reverse": True}):
        ours = pynn.preprocessing.sequence.TimeseriesGenerator(data, targets, **kwargs)
        theirs = ref.TimeseriesGenerator(data, targets, **kwargs)
        assert len(ours) == len(theirs)
        for i in range(len(ours)):
            for a, b in zip(ours[i], theirs[i]):
                np.testing.assert_array_equal(a, b)
    # and a model trains on it
    gen = pynn.preprocessing.sequence.TimeseriesGenerator(data / 60, targets / 300, length=4,
                                                          batch_size=8)
    model = pynn.Sequential([pynn.layers.Input((4, 2)), pynn.layers.LSTM(8),
                             pynn.layers.Dense(1)])
    model.compile(optimizer=pynn.optimizers.Adam(0.02), loss="mse")
    losses = model.fit(gen, epochs=15, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]
