"""keras.io's developer guides' patterns, run with pynn: against Keras 3 on
its NumPy backend where it runs the same thing, else a property that could
fail."""
import os

import numpy as np
import pytest

import pynn
from pynn import layers, ops

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ------------------------------------- a custom layer splitting its mask

def _split_model(lib):
    class HalvesInTime(lib.layers.Layer):
        def call(self, inputs):
            return lib.ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else lib.ops.split(mask, 2, axis=1)

    inp = lib.Input((6, 3))
    a, b = HalvesInTime()(lib.layers.Masking()(inp))
    out = lib.layers.concatenate([lib.layers.SimpleRNN(4)(a), lib.layers.SimpleRNN(4)(b)])
    return lib.Model(inp, out), HalvesInTime


@needs_keras
def test_a_list_of_masks_from_compute_mask_goes_one_to_each_output_in_a_graph():
    km, _ = _split_model(keras)
    pm, _ = _split_model(pynn)
    pm.set_weights(km.get_weights())
    x = np.random.RandomState(0).rand(2, 6, 3).astype("float32")
    x[0, 1:] = 0
    x[1, 4:] = 0
    np.testing.assert_allclose(pm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)


def test_a_list_of_masks_from_compute_mask_goes_one_to_each_eager_output():
    _, HalvesInTime = _split_model(pynn)
    x = np.ones((2, 4, 3), "float32")
    x[1, 1:] = 0
    first, second = HalvesInTime()(layers.Masking()(x))
    np.testing.assert_array_equal(np.asarray(first._keras_mask), [[True, True], [True, False]])
    np.testing.assert_array_equal(np.asarray(second._keras_mask), [[True, True], [False, False]])


# -------------------------------- a metric the program writes, in fit

class CountCorrect(pynn.metrics.Metric):
    """Counts samples whose argmax equals the (batch, 1) label, comparing in
    the label's own shape (a (batch,) label would broadcast to a square)."""

    def __init__(self, name="count_correct", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hits = self.add_variable(shape=(), name="hits", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        guess = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        self.hits.assign_add(ops.sum(ops.cast(ops.cast(y_true, "int32") == guess, "float32")))

    def result(self):
        return self.hits * 1.0


def test_a_written_metric_gets_sparse_labels_in_the_shape_given():
    rs = np.random.RandomState(0)
    x = rs.rand(32, 5).astype("float32")
    y = rs.randint(0, 3, (32, 1)).astype("float32")
    inp = pynn.Input((5,))
    model = pynn.Model(inp, layers.Dense(3, activation="softmax")(inp))
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[CountCorrect()])
    counted = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["count_correct"]
    expected = np.sum(np.argmax(model.predict(x, verbose=0), axis=1) == y[:, 0])
    assert counted == expected <= 32
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert history.history["count_correct"][0] <= 32


@needs_keras
def test_repeated_metric_names_are_numbered_from_one_as_keras_numbers_them():
    def names(lib):
        inp = lib.Input((4,))
        model = lib.Model(inp, lib.layers.Dense(3, activation="softmax")(inp))
        model.compile("sgd", "sparse_categorical_crossentropy",
                      metrics=["sparse_top_k_categorical_accuracy",
                               lib.metrics.SparseTopKCategoricalAccuracy(k=1), "mae", "mae"],
                      weighted_metrics=["mae"])
        return set(model.evaluate(np.ones((4, 4)), np.zeros((4, 1)), verbose=0,
                                  return_dict=True))
    assert names(pynn) == names(keras)


# ---------------------- a registered function in a .keras file, for Keras

@needs_keras
def test_keras_loads_a_model_whose_activation_is_a_registered_function(tmp_path):
    def squared_tanh(x):
        return ops.tanh(x) ** 2

    def squared_tanh_k(x):
        return keras.ops.tanh(x) ** 2

    pynn.saving.register_keras_serializable(package="guide_pkg", name="sq_tanh")(squared_tanh)
    keras.saving.register_keras_serializable(package="guide_pkg", name="sq_tanh")(squared_tanh_k)
    inp = pynn.Input((4,))
    model = pynn.Model(inp, layers.Activation(squared_tanh)(layers.Dense(3)(inp)))
    path = str(tmp_path / "m.keras")
    model.save(path)
    x = np.random.RandomState(0).rand(5, 4).astype("float32")
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    again = pynn.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


# --------------- Normalization(axis=None) adapted on a column, in a model

@needs_keras
def test_normalization_with_axis_none_adapted_on_1d_data_runs_in_a_model():
    column = np.array([130., 165, 150, 150, 140, 198, 220, 215, 225, 190])

    def predict(lib):
        norm = lib.layers.Normalization(axis=None)
        norm.adapt(column)
        model = lib.Sequential([lib.Input((1,)), norm,
                                lib.layers.Dense(1, kernel_initializer="ones")])
        return model.predict(column[:4].reshape(-1, 1), verbose=0)

    np.testing.assert_allclose(predict(pynn), predict(keras), rtol=1e-5)


# ------------------------------------ keras.distribution's ModelParallel

@needs_keras
def test_layout_map_finds_layouts_by_path_as_keras_does():
    def lookups(lib):
        dist = lib.distribution
        mesh = dist.DeviceMesh((1, 1), ["data", "model"], devices=["cpu:0"])
        layout_map = dist.LayoutMap(mesh)
        layout_map["d1/kernel"] = (None, "model")
        layout_map["d1/bias"] = ("model",)
        layout_map[".*conv.*kernel"] = ("model", None, None, None)
        found = [layout_map[p] for p in ("d1/kernel", "block/conv2d/kernel", "d2/kernel")]
        with pytest.raises(ValueError):
            layout_map["d1/kernel"] = ("model", None)
        return [None if f is None else tuple(f.axes) for f in found], sorted(layout_map)
    assert lookups(pynn) == lookups(keras)


_MODEL_PARALLEL_JOB = '''
import sys
import numpy as np
import pynn
from pynn import layers
dist = pynn.distribution
dist.initialize()
mesh = dist.DeviceMesh((dist.get_device_count(), 1), ["data", "model"])
layout_map = dist.LayoutMap(mesh)
layout_map["d1/kernel"] = (None, "model")
dist.set_distribution(dist.ModelParallel(layout_map=layout_map, batch_dim_name="data"))
rs = np.random.RandomState(0)
x, y = rs.rand(64, 6).astype("float32"), rs.rand(64, 2).astype("float32")
pynn.utils.set_random_seed(3)
model = pynn.Sequential([pynn.Input((6,)), layers.Dense(8, activation="relu", name="d1"),
                         layers.Dense(2, name="d2")])
assert dist.distribution().get_variable_layout(model.layers[0].kernel).axes == (None, "model")
# (with two processes each takes half of every batch and the gradients are summed)
assert (dist.active() is not None) == (dist.get_device_count() > 1)
model.compile(optimizer=pynn.optimizers.SGD(0.1), loss="mse")
model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
if dist.distribution().data_shard_id == 0:
    np.savez(sys.argv[1], *model.get_weights())
'''


@pytest.mark.slow
def test_model_parallel_over_two_processes_trains_as_one_process(tmp_path):
    import shutil
    import subprocess
    import sys
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        mpiexec = None
    if mpiexec is None:
        pytest.skip("mpiexec or mpi4py is not installed (pip install 'pynn[mpi]')")
    job = tmp_path / "job.py"
    job.write_text(_MODEL_PARALLEL_JOB)
    # (the job imports the pynn these tests import)
    root = os.path.dirname(os.path.dirname(os.path.abspath(pynn.__file__)))
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    results = []
    for ranks in (1, 2):
        out = tmp_path / f"w{ranks}.npz"
        run = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, str(job), str(out)],
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        with np.load(out) as f:
            results.append([f[k] for k in sorted(f.files)])
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)


# ----------- a hypernetwork writing a built Dense's kernel and bias on a tape

def test_gradients_reach_a_network_whose_outputs_are_set_as_a_dense_kernel():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rs = np.random.RandomState(0)
    x = rs.rand(1, 3).astype("float32")
    main = pynn.Sequential([layers.Dense(2, activation="relu")])
    for layer in main.layers:
        layer.built = True  # its weights come from the hypernetwork
    hyper = pynn.Sequential([layers.Dense(8, activation="sigmoid")])
    with pynn.GradientTape() as tape:
        coeffs = hyper(x)
        main.layers[0].kernel = ops.reshape(coeffs[:, :6], (3, 2))
        main.layers[0].bias = ops.reshape(coeffs[:, 6:], (2,))
        loss = ops.sum(ops.square(main(x) - 0.3))
    grads = tape.gradient(loss, hyper.trainable_weights)

    def reference(kernel, bias):
        c = jax.nn.sigmoid(x @ kernel + bias)
        y = jax.nn.relu(x @ c[:, :6].reshape(3, 2) + c[0, 6:])
        return jnp.sum((y - 0.3) ** 2)
    expected = jax.grad(reference, argnums=(0, 1))(*[w.numpy() for w in hyper.weights])
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


# ------------------------------- tf.distribute, as the TF guides use it

def _small_classifier(seed):
    pynn.utils.set_random_seed(seed)
    return pynn.Sequential([pynn.Input((6,)),
                            layers.Dense(8, activation="relu",
                                         kernel_regularizer=pynn.regularizers.L2(1e-2)),
                            layers.Dense(3)])


def test_a_custom_loop_under_mirrored_strategy_trains_as_fit():
    tf = pynn
    rs = np.random.RandomState(0)
    x, y = rs.rand(32, 6).astype("float32"), rs.randint(0, 3, 32)
    strategy = tf.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync == 1
    batches = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(8))
    with strategy.scope():
        per_example = tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=tf.keras.losses.Reduction.NONE)
        model = _small_classifier(1)
        optimizer = tf.keras.optimizers.SGD(0.1)

    def step(batch):
        xb, yb = batch
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(per_example(yb, model(xb, training=True)))
            loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    epoch_losses = []
    for _ in range(2):
        total, n = 0.0, 0
        for batch in batches:  # a running total of the steps' returned losses
            total += strategy.reduce(tf.distribute.ReduceOp.SUM,
                                     strategy.run(step, args=(batch,)), axis=None)
            n += 1
        epoch_losses.append(float(total / n))

    reference = _small_classifier(1)
    reference.compile(tf.keras.optimizers.SGD(0.1),
                      tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(epoch_losses, history.history["loss"], rtol=1e-5)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_mirrored_strategy_refuses_several_devices_of_one_process():
    with pytest.raises(ValueError, match="one replica per process"):
        pynn.distribute.MirroredStrategy(["gpu:0", "gpu:1"])


# ----------------------------- a custom layer called on a (nested) dict

@needs_keras
def test_a_custom_layer_gets_back_the_nested_dict_it_was_called_on():
    def outputs(lib):
        class Combine(lib.layers.Layer):
            def call(self, inputs):
                return inputs["foo"] - 2.0 * inputs["bar"]["baz"]

        foo, baz = np.full((2, 1), 5.0, "float32"), np.ones((2, 1), "float32")
        eager = Combine()({"foo": foo, "bar": {"baz": baz}})
        inputs = {"foo": lib.Input((1,), name="foo"), "bar": {"baz": lib.Input((1,), name="baz")}}
        model = lib.Model([inputs["foo"], inputs["bar"]["baz"]], Combine()(inputs))
        return np.asarray(eager), model.predict([foo, baz], verbose=0)
    for got, want in zip(outputs(pynn), outputs(keras)):
        np.testing.assert_allclose(got, want)


# ------------------- a subclassed model whose call needs its inputs' values

class SortThenDense(pynn.Model):
    """Sorts each row with NumPy (no graph op does) before a Dense."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1, kernel_initializer="ones")

    def call(self, inputs):
        return self.dense(ops.convert_to_tensor(np.sort(np.asarray(inputs), axis=-1)))


def test_a_subclassed_model_whose_call_needs_values_runs_on_them():
    x = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, 1.0]], "float32")
    model = SortThenDense()
    np.testing.assert_allclose(model.predict(x, verbose=0), x.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(model(x)), x.sum(axis=1, keepdims=True))
    model.compile(optimizer=pynn.optimizers.SGD(0.01), loss="mse")
    before = model.evaluate(x, np.zeros((2, 1)), verbose=0)
    model.fit(x, np.zeros((2, 1)), epochs=3, verbose=0)
    assert model.evaluate(x, np.zeros((2, 1)), verbose=0) < before
