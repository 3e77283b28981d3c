"""TensorFlow's core names that custom training loops use, with
``import pynn as tf``: tf.Module, tf.custom_gradient, GradientTape's
jacobians, tf.summary, tf.train checkpoints and tf.distribute."""
import os

import numpy as np
import pytest

import pynn as tf
from pynn.utils import set_random_seed

# ------------------------------------------------------------------ Module


class Dense(tf.Module):
    def __init__(self, n_in, n_out, name=None):
        super().__init__(name=name)
        self.w = tf.Variable(np.full((n_in, n_out), 0.5, np.float32), name="w")
        self.b = tf.Variable(np.zeros(n_out, np.float32), name="b")

    def __call__(self, x):
        return tf.nn.relu(tf.matmul(x, self.w) + self.b)


class MLP(tf.Module):
    def __init__(self, sizes, name=None):
        super().__init__(name=name)
        self.layers = []
        with self.name_scope:
            for n_in, n_out in zip(sizes, sizes[1:]):
                self.layers.append(Dense(n_in, n_out))
        self.extra = {"frozen": tf.Variable(1.0, trainable=False, name="frozen")}

    @tf.Module.with_name_scope
    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def test_module_finds_variables_and_submodules_through_containers():
    m = MLP([3, 4, 2], name="mlp")
    assert m.name == "mlp" and Dense(1, 1).name == "dense"
    assert m.submodules == m.layers
    # (TensorFlow's order: attributes sorted, a module's own values first)
    assert [v.name for v in m.variables] == ["frozen", "b", "w", "b", "w"]
    assert [v.name for v in m.trainable_variables] == ["b", "w", "b", "w"]
    assert [v.name for v in m.non_trainable_variables] == ["frozen"]
    # variables made under the module's name scope get paths under it
    assert all(v.path.startswith("mlp/") for v in m.trainable_variables)
    with pytest.raises(ValueError, match="valid module name"):
        tf.Module(name="not valid")


def test_module_is_trained_through_its_trainable_variables():
    m = MLP([3, 4, 2], name="mlp")
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(m(x))
    grads = tape.gradient(y, m.trainable_variables)
    # float64 reference of the same two relu layers
    h = np.maximum(x.astype(np.float64) @ np.full((3, 4), 0.5), 0)
    assert h.min() > 0
    expected_w2 = np.repeat(h.T, 2, axis=1)
    np.testing.assert_allclose(grads[3], expected_w2, rtol=1e-6)
    np.testing.assert_allclose(grads[2], np.ones(2), rtol=1e-6)


def test_layers_and_models_are_modules():
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(3)])
    assert isinstance(model, tf.Module) and isinstance(model.layers[0], tf.Module)

    class Holder(tf.Module):
        def __init__(self):
            super().__init__()
            self.net = model
            self.scale = tf.Variable(2.0)

    h = Holder()
    assert h.name == "holder"
    assert [id(v) for v in h.trainable_variables] == \
        [id(h.scale)] + [id(w) for w in model.trainable_weights]
    model.trainable = False
    assert [id(v) for v in h.trainable_variables] == [id(h.scale)]
    assert len(h.non_trainable_variables) == 2
    assert model.layers[0] in h.submodules


# --------------------------------------------------------- custom_gradient


def test_custom_gradient_replaces_the_gradient():
    @tf.custom_gradient
    def log1pexp(x):
        e = tf.exp(x)

        def grad(upstream):
            return upstream * (1 - 1 / (1 + e))
        return tf.math.log(1 + e), grad

    for value in (0.0, 3.0, 100.0):
        x = tf.constant(value)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = log1pexp(x)
        g = tape.gradient(y, x)
        assert np.shape(g) == ()  # a 0-d argument gets a 0-d gradient
        np.testing.assert_allclose(g, 1 / (1 + np.exp(-np.float64(value))), rtol=1e-6)

    @tf.custom_gradient
    def clip_gradients(y):
        return y, lambda dy: tf.clip_by_norm(dy, 0.5)

    v = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        out = clip_gradients(v * v)
    assert float(tape.gradient(out, v)) == pytest.approx(2.0)  # 0.5 * 2v


def test_custom_gradient_with_variables():
    w = tf.Variable(3.0)

    @tf.custom_gradient
    def scaled(x):
        def grad(dy, variables=None):
            assert variables == [w]
            return dy * w * 10, [dy * x * 100]
        return x * w, grad

    x = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = scaled(x)
    gx, gw = tape.gradient(y, [x, w])
    assert float(gx) == pytest.approx(30.0) and float(gw) == pytest.approx(200.0)

    @tf.custom_gradient
    def forgets_variables(x):
        return x * w, lambda dy: dy

    with tf.GradientTape():
        with pytest.raises(TypeError, match="variables"):
            forgets_variables(x)


def test_custom_gradient_of_several_outputs_takes_one_upstream_each():
    @tf.custom_gradient
    def two(x):
        def grad(da, db):
            return da * 2 + db * 3
        return (x * 1, x * 1), grad

    x = tf.Variable(np.ones(3, np.float32))
    with tf.GradientTape() as tape:
        a, b = two(x)
        loss = tf.reduce_sum(a) + tf.reduce_sum(b * 2)
    np.testing.assert_allclose(tape.gradient(loss, x), np.full(3, 8.0))


# --------------------------------------------------------------- jacobians


def test_jacobian_matches_finite_differences():
    g = np.random.default_rng(0)
    x0 = g.normal(size=(3,)).astype(np.float32)
    a = g.normal(size=(2, 3)).astype(np.float32)
    x = tf.Variable(x0)
    with tf.GradientTape() as tape:
        y = tf.tanh(tf.matmul(a, tf.reshape(x, (3, 1))))  # (2, 1)
    j = tape.jacobian(y, x)
    assert j.shape == (2, 1, 3)

    def f(v):
        return np.tanh(a.astype(np.float64) @ v.reshape(3, 1))
    eps = 1e-6
    fd = np.stack([(f(x0 + eps * e) - f(x0 - eps * e)) / (2 * eps) for e in np.eye(3)],
                  axis=-1)
    np.testing.assert_allclose(j, fd, rtol=1e-4, atol=1e-6)


def test_batch_jacobian_is_the_diagonal_of_the_jacobian():
    set_random_seed(0)
    x = tf.random.normal([5, 4])
    layer = tf.keras.layers.Dense(3, activation="tanh")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
    full = tape.jacobian(y, x)
    batch = tape.batch_jacobian(y, x)
    assert full.shape == (5, 3, 5, 4) and batch.shape == (5, 3, 4)
    np.testing.assert_allclose(batch, np.einsum("bibj->bij", full), rtol=1e-6)
    kernel = layer.kernel.numpy().astype(np.float64)
    d = 1 - np.tanh(np.asarray(x, np.float64) @ kernel) ** 2
    np.testing.assert_allclose(batch, d[:, :, None] * kernel.T[None], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch"):
        tape.batch_jacobian(y, tf.Variable(np.ones((2, 2), np.float32)))


def test_unconnected_gradients_and_variable_details():
    a, b = tf.Variable(1.0), tf.Variable(2.0)
    with tf.GradientTape(persistent=True) as tape:
        y = a * 2
    assert tape.gradient(y, [a, b])[1] is None
    ga, gb = tape.gradient(y, [a, b], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert float(ga) == 2.0 and float(gb) == 0.0
    assert tape.jacobian(y, b) is None
    assert float(tape.jacobian(y, b, unconnected_gradients="zero")) == 0.0
    v = tf.Variable(1.0, trainable=False, aggregation=tf.VariableAggregation.MEAN,
                    synchronization=tf.VariableSynchronization.ON_READ)
    before = v.read_value()
    v.assign_add(2.0)
    v.assign_sub(0.5)
    assert float(before) == 1.0 and float(v) == 2.5
    assert v.aggregation == tf.VariableAggregation.MEAN and v.aggregation == "mean"
    assert not v.trainable
    with tf.GradientTape() as tape:
        y = v * a
    assert tape.gradient(y, v) is None  # not trainable: not watched


# ----------------------------------------------------------------- summary


def _events(folder):
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator)
    from tensorboard.util import tensor_util
    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    return {tag: (acc.SummaryMetadata(tag).plugin_data.plugin_name,
                  [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)])
            for tag in acc.Tags()["tensors"]}


def test_summaries_are_read_back_by_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    writer = tf.summary.create_file_writer(str(tmp_path / "train"))
    assert tf.summary.scalar("outside", 1.0, step=0) is False  # no default writer
    data = np.arange(12, dtype=np.float64)
    images = np.random.default_rng(0).random((4, 5, 6, 3))
    with writer.as_default():
        for step in range(3):
            assert tf.summary.scalar("loss", tf.constant(0.5 * step), step=step)
        tf.summary.histogram("weights", data, step=1, buckets=4)
        tf.summary.image("samples", images, step=2, max_outputs=2)
        tf.summary.text("note", "hello *world*", step=3)
        with tf.summary.record_if(False):
            assert tf.summary.scalar("skipped", 1.0, step=0) is False
        with tf.summary.record_if(lambda: True):
            tf.summary.scalar("kept", 2.0, step=0)
        tf.summary.experimental.set_step(tf.Variable(7, trainable=False, dtype="int64"))
        tf.summary.scalar("default_step", 3.0)
        tf.summary.experimental.set_step(None)
        with pytest.raises(ValueError, match="step"):
            tf.summary.scalar("no_step", 1.0)
    writer.close()
    got = _events(tmp_path / "train")
    assert set(got) == {"loss", "weights", "samples", "note", "kept", "default_step"}
    assert got["loss"][0] == "scalars"
    assert [(s, float(v)) for s, v in got["loss"][1]] == [(0, 0.0), (1, 0.5), (2, 1.0)]
    plugin, [(step, hist)] = got["weights"]
    assert plugin == "histograms" and step == 1 and hist.shape == (4, 3)
    assert hist[:, 2].sum() == 12 and hist[0, 0] == 0 and hist[-1, 1] == 11
    plugin, [(step, img)] = got["samples"]
    assert plugin == "images" and step == 2 and img.shape == (4,)  # width, height, 2 PNGs
    assert (img[0], img[1]) == (b"6", b"5")
    from PIL import Image
    import io
    png = np.asarray(Image.open(io.BytesIO(img[2])))
    np.testing.assert_array_equal(png, np.minimum(images[0] * 255.5, 255).astype(np.uint8))
    assert got["note"][0] == "text" and got["note"][1][0][1] == b"hello *world*"
    assert got["default_step"][1][0][0] == 7


# -------------------------------------------------------------- checkpoints


def _net():
    return tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4, activation="tanh"),
                                tf.keras.layers.Dense(1)])


def _data():
    g = np.random.default_rng(1)
    return g.normal(size=(16, 3)).astype(np.float32), g.normal(size=(16, 1)).astype(np.float32)


def _step(net, opt, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(net(x) - y))
    grads = tape.gradient(loss, net.trainable_variables)
    opt.apply_gradients(zip(grads, net.trainable_variables))
    return float(loss)


def test_checkpoint_resumes_a_custom_loop_exactly(tmp_path):
    x, y = _data()
    set_random_seed(0)
    net, opt = _net(), tf.keras.optimizers.Adam(0.05)
    for _ in range(3):
        _step(net, opt, x, y)
    ckpt = tf.train.Checkpoint(step=tf.Variable(0.0), optimizer=opt, net=net)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    assert manager.latest_checkpoint is None
    paths = []
    for _ in range(3):
        ckpt.step.assign_add(1)
        paths.append(manager.save())
    assert paths == [str(tmp_path / f"ckpt-{i}") for i in (1, 2, 3)]
    assert manager.checkpoints == paths[1:]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "ckpt-2.index", "ckpt-3.index"]
    assert tf.train.latest_checkpoint(str(tmp_path)) == paths[-1]
    expected = [_step(net, opt, x, y) for _ in range(4)]

    set_random_seed(5)  # other initial weights: all must come from the file
    net2, opt2 = _net(), tf.keras.optimizers.Adam(0.05)
    ckpt2 = tf.train.Checkpoint(step=tf.Variable(0.0), optimizer=opt2, net=net2)
    status = ckpt2.restore(tf.train.latest_checkpoint(str(tmp_path)))
    status.assert_consumed()
    assert float(ckpt2.step) == 3 and int(ckpt2.save_counter) == 3 and opt2.iterations == 3
    assert [_step(net2, opt2, x, y) for _ in range(4)] == expected
    # a manager made on the folder again finds its checkpoints
    again = tf.train.CheckpointManager(ckpt2, str(tmp_path), max_to_keep=2)
    assert again.checkpoints == paths[1:]


def test_checkpoint_of_a_model_trained_by_fit(tmp_path):
    x, y = _data()

    def compiled():
        net = _net()
        net.compile(optimizer=tf.keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
        return net
    set_random_seed(0)
    net = compiled()
    net.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    path = tf.train.Checkpoint(model=net).save(str(tmp_path / "ckpt"))
    expected = net.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history["loss"]
    set_random_seed(3)
    net2 = compiled()
    tf.train.Checkpoint(model=net2).restore(path).assert_consumed()
    got = net2.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_checkpoint_partial_restore_and_refusals(tmp_path):
    set_random_seed(0)
    net, opt = _net(), tf.keras.optimizers.SGD(0.1, momentum=0.5)
    x, y = _data()
    _step(net, opt, x, y)
    path = tf.train.Checkpoint(net=net, optimizer=opt).write(str(tmp_path / "both"))
    assert path == str(tmp_path / "both") and os.path.isfile(path + ".index")
    net2 = _net()
    status = tf.train.Checkpoint(net=net2).restore(path)
    with pytest.raises(AssertionError, match="optimizer"):
        status.assert_consumed()
    status.expect_partial().assert_existing_objects_matched()
    for a, b in zip(net.weights, net2.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tf.train.Checkpoint(net=net2).restore(None).expect_partial() is not None
    with pytest.raises(AssertionError):
        tf.train.Checkpoint(net=net2).restore(None).assert_consumed()
    other = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(5)])
    with pytest.raises(ValueError, match="shape"):
        tf.train.Checkpoint(net=other).read(path)

    class Sub(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.d = tf.keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)
    # a model with no variables yet takes the file's values when it is
    # built; values of another shape are refused then
    sub = Sub()
    tf.train.Checkpoint(net=sub).restore(path)
    with pytest.raises(ValueError, match="shape"):
        sub(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="must be a model"):
        tf.train.Checkpoint(data=[1, 2])
    broken = tmp_path / "broken.index"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="damaged"):
        tf.train.Checkpoint(net=net2).restore(str(tmp_path / "broken"))
    with pytest.raises(FileNotFoundError):
        tf.train.Checkpoint(net=net2).restore(str(tmp_path / "missing"))
    keys = dict(tf.train.list_variables(path))
    assert keys["net/variables/0"] == [3, 4] and "optimizer/iteration" in keys


# --------------------------------------------------------------- distribute


def test_strategies_run_one_replica_on_the_whole_batch():
    x, y = _data()
    default = tf.distribute.get_strategy()
    assert default.num_replicas_in_sync == 1 and not tf.distribute.has_strategy()

    def train(strategy):
        set_random_seed(0)
        with strategy.scope():
            net, opt = _net(), tf.keras.optimizers.SGD(0.1)
        assert tf.distribute.get_strategy() is default
        losses = []
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices((x, y)).batch(8))
        for xb, yb in dataset:
            per_replica = strategy.run(lambda a, b: tf.reduce_sum(tf.square(net(a) - b), axis=1),
                                       args=(xb, yb))
            loss = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=0)
            losses.append(float(loss))
            _step(net, opt, xb, yb)
        return losses

    plain = train(default)
    mirrored = tf.distribute.MirroredStrategy()
    assert mirrored.num_replicas_in_sync == 1
    assert train(mirrored) == plain
    assert train(tf.distribute.OneDeviceStrategy("/cpu:0")) == plain
    v = np.arange(4.0)
    assert mirrored.reduce("MEAN", v, axis=None) is v
    assert float(mirrored.reduce(tf.distribute.ReduceOp.MEAN, v, axis=0)) == 1.5
    with pytest.raises(ValueError, match="one replica"):
        tf.distribute.MirroredStrategy(["/gpu:0", "/gpu:1"])
    with mirrored.scope():
        assert tf.distribute.in_cross_replica_context()
        assert mirrored.run(lambda: tf.distribute.get_replica_context()
                            .replica_id_in_sync_group) == 0


def test_save_weights_to_a_name_of_no_format_writes_a_checkpoint(tmp_path):
    set_random_seed(0)
    net = _net()
    prefix = str(tmp_path / "training_1" / "cp.ckpt")
    os.makedirs(os.path.dirname(prefix))
    x, y = _data()
    net.compile(optimizer="sgd", loss="mse")
    net.fit(x, y, epochs=1, verbose=0, callbacks=[
        tf.keras.callbacks.ModelCheckpoint(prefix, save_weights_only=True)])
    assert os.path.isfile(prefix + ".index")
    set_random_seed(1)
    other = _net()
    other.load_weights(prefix)
    np.testing.assert_array_equal(other.predict(x, verbose=0), net.predict(x, verbose=0))
    net.save_weights(str(tmp_path / "easy_checkpoint"))
    with pytest.raises(FileExistsError):
        net.save_weights(str(tmp_path / "easy_checkpoint"), overwrite=False)


def test_eager_values_behave_as_tensorflow_tensors():
    v = tf.Variable(5.0)
    assert (v * 3.0).numpy() == 15.0 and isinstance(v + 1.0, tf.Tensor)
    t = tf.constant([1, 3])
    assert t[0].numpy() == 1 and t[1].shape == ()
    # NumPy's idioms on tensors still work: elements in sets, t[()] a scalar
    assert set(np.unique(tf.constant([0.0, 2.0, 2.0]))) == {0.0, 2.0}
    assert type(tf.constant(7)[()]) is np.int32
    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x * x
    assert tape.gradient(y, x).numpy() == 6.0
    x0, x2, x3 = tf.Variable(3.0), tf.Variable(2.0) + 1.0, tf.constant(3.0)
    with tf.GradientTape() as tape:
        y = x0 ** 2 + x2 ** 2
    assert [None if g is None else float(g) for g in tape.gradient(y, [x0, x2, x3])] == \
        [6.0, None, None]
    n = tf.constant(10)
    with tf.GradientTape() as tape:
        with pytest.warns(UserWarning, match="floating"):
            tape.watch(n)
        y = n * n
    assert tape.gradient(y, n) is None
    np.testing.assert_array_equal(tf.matmul([[1.0, 2.0]], [[3.0], [4.0]]), [[11.0]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="do not align"):
        tf.matmul(tf.constant([[2.0, 2.0, 2.0, 2.0]]), tf.Variable(np.ones((3, 3), np.float32)))
    padded = tf.pad(tf.constant([[1.0, 2.0]]), [[1, 0], [0, 2]])
    np.testing.assert_array_equal(padded, np.pad([[1.0, 2.0]], [[1, 0], [0, 2]]))
    np.testing.assert_array_equal(tf.pad(tf.constant([1.0, 2.0, 3.0]), [[2, 1]], "REFLECT"),
                                  [3.0, 2.0, 1.0, 2.0, 3.0, 2.0])

    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    value = loss(np.array([0, 2]), np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32))
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = np.mean([np.log(np.exp(r).sum()) - r[t] for r, t in zip(logits, (0, 2))])
    assert value.numpy() == pytest.approx(expected, rel=1e-6)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def double(a):
        return a * 2
    assert double(tf.constant([[1.0]])).numpy()[0, 0] == 2.0 and double(tf.constant(1.0)) == 2


def test_checkpoint_of_lists_dicts_and_aliases(tmp_path):
    save = tf.train.Checkpoint()
    save.listed = [tf.Variable(1.0)]
    save.listed.append(tf.Variable(2.0))
    save.mapped = {"one": save.listed[0]}
    save.mapped["two"] = save.listed[1]
    path = save.save(str(tmp_path / "example"))
    restore = tf.train.Checkpoint()
    v2 = tf.Variable(0.0)
    restore.mapped = {"two": v2}
    restore.restore(path).expect_partial()
    assert float(v2) == 2.0
    reader = tf.train.load_checkpoint(str(tmp_path))
    assert reader.get_variable_to_shape_map()["listed/1"] == []
    assert reader.get_variable_to_dtype_map()["listed/1"] == tf.float32
    assert float(reader.get_tensor("mapped/one")) == 1.0
    with pytest.raises(ValueError, match="iterator"):  # (a dataset's iterator is saved)
        tf.train.Checkpoint(iterator=iter([1, 2, 3]))


def test_subclassed_model_returns_nested_dicts_as_built():
    class StyleContent(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = tf.keras.layers.Dense(2)

        def call(self, x):
            y = self.dense(x)
            return {"content": {"c": y}, "style": {"s1": y * 2.0, "s2": y * 3.0}}

    set_random_seed(0)
    model = StyleContent()
    x = tf.constant(np.ones((1, 3), np.float32))
    out = model(x)
    c = out["content"]["c"]
    np.testing.assert_allclose(out["style"]["s2"], 3 * np.asarray(c), rtol=1e-6)
    np.testing.assert_allclose(out["style"]["s1"], 2 * np.asarray(c), rtol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x)["style"]["s2"])
    np.testing.assert_allclose(tape.gradient(loss, model.dense.kernel), np.full((3, 2), 3.0))
    symbolic = model(tf.keras.Input((3,)))
    assert set(symbolic["style"]) == {"s1", "s2"}


def test_total_variation_and_its_gradient():
    g = np.random.default_rng(0)
    images = g.random((2, 4, 5, 3))
    expected = np.abs(np.diff(images, axis=1)).sum(axis=(1, 2, 3)) + \
        np.abs(np.diff(images, axis=2)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(tf.image.total_variation(images.astype(np.float32)), expected,
                               rtol=1e-5)
    assert np.shape(tf.image.total_variation(images[0].astype(np.float32))) == ()
    image = tf.Variable(images[:1].astype(np.float32))
    with tf.GradientTape() as tape:
        tv = tf.reduce_sum(tf.image.total_variation(image))
    grad = tape.gradient(tv, image)
    eps, i = 1e-3, (0, 1, 2, 0)
    plus, minus = images[:1].copy(), images[:1].copy()
    plus[i] += eps
    minus[i] -= eps

    def tv64(a):
        return np.abs(np.diff(a, axis=1)).sum() + np.abs(np.diff(a, axis=2)).sum()
    assert grad[i] == pytest.approx((tv64(plus) - tv64(minus)) / (2 * eps), rel=1e-3)


# ------------------------------------------------------------ sparse, ragged


def test_sparse_tensors_against_dense_references():
    st = tf.sparse.SparseTensor(indices=[[0, 0], [1, 2]], values=[1.0, 2.0], dense_shape=[3, 4])
    dense = np.zeros((3, 4))
    dense[0, 0], dense[1, 2] = 1.0, 2.0
    assert st.shape == [3, 4] and st.dtype == tf.float32
    np.testing.assert_array_equal(tf.sparse.to_dense(st), dense)
    b = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_allclose(tf.sparse.sparse_dense_matmul(st, b), dense @ b, rtol=1e-6)
    np.testing.assert_allclose(tf.sparse.sparse_dense_matmul(st, b.T, adjoint_b=True),
                               dense @ b, rtol=1e-6)
    np.testing.assert_array_equal(tf.sparse.reduce_sum(st, axis=1), dense.sum(axis=1))
    assert float(tf.sparse.reduce_sum(st)) == 3.0
    back = tf.sparse.from_dense(dense)
    assert back.indices.tolist() == [[0, 0], [1, 2]] and back.values.tolist() == [1.0, 2.0]
    shuffled = tf.sparse.SparseTensor([[1, 2], [0, 0]], [2.0, 1.0], [3, 4])
    assert tf.sparse.reorder(shuffled).indices.tolist() == [[0, 0], [1, 2]]
    summed = tf.sparse.add(st, tf.sparse.SparseTensor([[0, 0]], [-1.0], [3, 4]))
    assert summed.indices.tolist() == [[0, 0], [1, 2]] and summed.values.tolist() == [0.0, 2.0]
    # the dense operand of a product is differentiated
    w = tf.Variable(b)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.sparse.sparse_dense_matmul(st, w))
    np.testing.assert_allclose(tape.gradient(y, w), np.repeat(dense.sum(axis=0)[:, None], 5, 1))
    with pytest.raises(ValueError, match="outside"):
        tf.sparse.SparseTensor([[3, 0]], [1.0], [3, 4])


def test_ragged_constant():
    r = tf.ragged.constant([[0, 1, 2, 3], [4, 5], [6, 7, 8], [9]])
    assert r.shape == [4, None] and r.dtype == tf.int32
    np.testing.assert_array_equal(r.row_lengths(), [4, 2, 3, 1])
    np.testing.assert_array_equal(r.to_tensor(), [[0, 1, 2, 3], [4, 5, 0, 0], [6, 7, 8, 0],
                                                  [9, 0, 0, 0]])
    np.testing.assert_array_equal(r.to_tensor(default_value=-1, shape=[2, 3]),
                                  [[0, 1, 2], [4, 5, -1]])
    assert r[2].tolist() == [6, 7, 8] and r.to_list()[3] == [9]
    assert tf.ragged.constant([[1, 2], []]).to_tensor().dtype == np.int32
    assert tf.RaggedTensor.from_row_lengths([1.0, 2.0, 3.0], [2, 1]).to_list() == \
        [[1.0, 2.0], [3.0]]
    with pytest.raises(ValueError, match="one ragged dimension"):
        tf.ragged.constant([[[1], [2, 3]], [[4]]])
    # (string tensors hold UTF-8 bytes, as TensorFlow's)
    assert str(tf.constant(["a", "b"])) == "tf.Tensor([b'a' b'b'], shape=(2,), dtype=string)"


def test_optimizer_iterations_read_as_a_variable():
    opt = tf.keras.optimizers.SGD(0.1)
    w = tf.Variable([1.0])
    assert opt.iterations.numpy() == 0
    opt.apply_gradients([(np.array([1.0], np.float32), w)])
    assert opt.iterations.numpy() == 1 and opt.iterations == 1 and isinstance(opt.iterations, int)
    opt.iterations.assign(10)
    assert int(opt.iterations) == 10
    mean = tf.metrics.Mean()
    mean.update_state(3.0)
    mean.reset_states()  # (Keras 2's name)
    mean.update_state(1.0)
    assert float(mean.result()) == 1.0
    np.testing.assert_allclose(w.numpy(), [0.9])


def test_subclass_calling_super_init_with_itself():
    class Net(tf.keras.Model):
        def __init__(self):
            super().__init__(self)  # (as Keras 2 accepted)
            self.dense = tf.keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)
    assert Net()(np.ones((1, 3), np.float32)).shape == (1, 2)


def test_subclassed_model_call_arguments_and_rnn_initial_state():
    class CharModel(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = tf.keras.layers.Embedding(10, 4)
            self.gru = tf.keras.layers.GRU(8, return_sequences=True, return_state=True)
            self.dense = tf.keras.layers.Dense(10)

        def call(self, inputs, states=None, return_state=False, training=False):
            x = self.embedding(inputs, training=training)
            if states is None:
                states = self.gru.get_initial_state(x)  # (Keras 2's form: the inputs)
            x, states = self.gru(x, initial_state=states, training=training)
            x = self.dense(x, training=training)
            return (x, states) if return_state else x

    set_random_seed(0)
    model = CharModel()
    ids = np.random.default_rng(0).integers(0, 10, (3, 6))
    whole = model(ids)
    first, state = model(ids[:, :5], return_state=True)
    assert np.shape(state) == (3, 8)
    # feeding the state back continues the sequence
    last, _ = model(ids[:, 5:], states=state, return_state=True)
    np.testing.assert_allclose(last[:, 0], whole[:, 5], atol=1e-5)
    np.testing.assert_allclose(first, whole[:, :5], atol=1e-5)
    with tf.GradientTape() as tape:
        out, _ = model(ids, return_state=True)
        loss = tf.reduce_sum(out)
    assert all(g is not None for g in tape.gradient(loss, model.trainable_variables))
    zeros = tf.keras.layers.LSTM(3).get_initial_state(2)  # (Keras 3's form: the batch size)
    assert len(zeros) == 2 and zeros[0].shape == (2, 3) and not np.any(zeros[1])
    inverse = tf.keras.layers.StringLookup(vocabulary=["a", "b"], invert=True, mask_token=None)
    assert inverse(np.int64(2)).numpy() == b"b"


class _SubNet(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = tf.keras.layers.Dense(4, activation="tanh")
        self.out = tf.keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))


def _step(net, opt, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((net(x) - y) ** 2)
    grads = tape.gradient(loss, net.trainable_variables)
    opt.apply_gradients(zip(grads, net.trainable_variables))


def test_restoring_before_the_model_is_built_sets_the_values_at_the_build(tmp_path):
    # TensorFlow's checkpoint guide: a new model and optimizer, restored
    # from the latest checkpoint before their first step, take the saved
    # values when the model's first call (or build, fit, predict) makes
    # its variables, before it computes anything; the optimizer's moments
    # come with them, so training goes on exactly where it stopped.
    x, y = _data()
    net, opt = _SubNet(), tf.keras.optimizers.Adam(0.1)
    ckpt = tf.train.Checkpoint(step=tf.Variable(1), optimizer=opt, net=net)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    for _ in range(3):
        _step(net, opt, x, y)
        ckpt.step.assign_add(1)
    manager.save()
    want = net(x).numpy()

    def restored():
        net2, opt2 = _SubNet(), tf.keras.optimizers.Adam(0.1)
        ckpt2 = tf.train.Checkpoint(step=tf.Variable(1), optimizer=opt2, net=net2)
        ckpt2.restore(manager.latest_checkpoint)
        assert not net2.weights and int(ckpt2.step) == 4
        return net2, opt2

    net2, opt2 = restored()
    _step(net2, opt2, x, y)  # the first call, on a tape
    _step(net, opt, x, y)
    for a, b in zip(net2.get_weights(), net.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(opt2.iterations) == int(opt.iterations) == 4
    for first_use in (lambda n: n.predict(x, verbose=0), lambda n: n.predict_on_batch(x),
                      lambda n: (n.build((None, 3)), n(x).numpy())[1]):
        np.testing.assert_allclose(first_use(restored()[0]), want, rtol=1e-6, atol=1e-7)
    # a Sequential given no input shape, built by fit
    seq = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.Dense(1)])
    seq(x)
    path = tf.train.Checkpoint(model=seq).save(str(tmp_path / "seq"))
    fresh = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.Dense(1)])
    fresh.compile(loss="mse", optimizer="sgd")
    tf.train.Checkpoint(model=fresh).restore(path)
    built = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4),
                                 tf.keras.layers.Dense(1)])
    built.compile(loss="mse", optimizer="sgd")
    built.set_weights(seq.get_weights())
    fresh.fit(x, y, epochs=1, verbose=0, shuffle=False)
    built.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(fresh.get_weights(), built.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_function_trace_is_exported_as_tensorboard_reads_it(tmp_path):
    # TensorBoard's graphs tutorial: trace_on, call a tf.function, then
    # trace_export with the default writer: a run-metadata graph summary
    # under the name, holding the function's inputs, call and outputs (one
    # per input signature); the trace is off after the export.
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.compat.proto.config_pb2 import RunMetadata

    @tf.function
    def my_func(x, y):
        return tf.nn.relu(tf.matmul(x, y))

    x = tf.random.uniform((3, 3))
    writer = tf.summary.create_file_writer(str(tmp_path))
    tf.summary.trace_on(graph=True, profiler=False)
    my_func(x, x)
    my_func(x, x)                              # the same signature: one graph
    my_func(tf.random.uniform((2, 3)), x)      # another: a second
    with writer.as_default():
        tf.summary.trace_export(name="my_func_trace", step=0)
    writer.flush()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert acc.Tags()["tensors"] == ["my_func_trace"]
    event = acc.Tensors("my_func_trace")[0]
    assert event.step == 0
    graph = RunMetadata.FromString(
        event.tensor_proto.string_val[0]).function_graphs[0].pre_optimization_graph
    nodes = {n.name: n for n in graph.node}
    assert nodes["my_func"].op == "StatefulPartitionedCall"
    assert list(nodes["my_func"].input) == ["my_func/x", "my_func/y"]
    assert [d.size for d in nodes["my_func_1/x"].attr["shape"].shape.dim] == [2, 3]
    assert list(nodes["my_func/output"].input) == ["my_func"]
    assert len(nodes) == 8
    with pytest.raises(ValueError, match="trace_on"):
        tf.summary.trace_export(name="again", step=1)
    with pytest.warns(UserWarning, match="profiler"):
        tf.summary.trace_on(graph=True, profiler=True)
    tf.summary.trace_off()
    my_func(x, x)  # (off: nothing is recorded)
    from pynn import execution
    assert execution.traced_calls[0] is None
