"""What keras.io's developer guides do (functional API, subclassing,
training with the built-in methods, saving and its customization,
transfer learning, masking, RNNs, callbacks, custom train steps and
loops), run with pynn: against Keras 3 on its NumPy backend where it can
run the same thing, else a property that could fail."""
import os

import numpy as np
import pytest

import pynn
from pynn import layers, ops

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# --------------------------------------------------------- layer.losses

class ActivityRegularization(layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class Outer(layers.Layer):
    def __init__(self):
        super().__init__()
        self.activity_reg = ActivityRegularization(1e-2)

    def call(self, inputs):
        return self.activity_reg(inputs)


def test_layer_losses_hold_the_last_calls_add_loss_values():
    layer = Outer()
    assert layer.losses == []
    layer(np.full((2, 3), 2.0, np.float32))
    assert len(layer.losses) == 1 and np.isclose(float(layer.losses[0]), 0.02)
    layer(np.full((2, 3), 5.0, np.float32))  # replaced, not appended
    assert len(layer.losses) == 1 and np.isclose(float(layer.losses[0]), 0.05)


def test_layer_losses_include_a_sublayers_kernel_penalty():
    class WithRegularizedDense(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(4, kernel_regularizer=pynn.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    layer = WithRegularizedDense()
    layer(np.ones((1, 3), np.float32))
    kernel = layer.dense.kernel.numpy()
    assert len(layer.losses) == 1
    assert np.isclose(float(layer.losses[0]), 1e-3 * np.sum(kernel ** 2), rtol=1e-5)


def test_add_loss_in_a_subclassed_models_call_joins_the_loss():
    class Penalized(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3)

        def call(self, x):
            y = self.dense(x)
            self.add_loss(10.0 * ops.mean(ops.square(y)))
            return y

    pynn.utils.set_random_seed(0)
    model = Penalized()
    model.compile("sgd", loss="mse")
    x = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    y = np.zeros((8, 3), np.float32)
    loss = model.evaluate(x, y, verbose=0)
    out = model.predict(x, verbose=0)
    assert np.isclose(loss, 11 * np.mean(np.square(out)), rtol=1e-5)
    first = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    model.fit(x, y, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first


# ------------------------------------------- Keras-style metrics, layers

@needs_keras
@pytest.mark.parametrize("lib", ["pynn", "keras"])
def test_metric_subclass_creates_its_variables_after_init(lib):
    k = pynn if lib == "pynn" else keras

    class TruePositives(k.metrics.Metric):
        def __init__(self, name="ctp", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = k.ops.reshape(k.ops.argmax(y_pred, axis=1), (-1, 1))
            values = k.ops.cast(k.ops.cast(y_true, "int32") == k.ops.cast(y_pred, "int32"),
                                "float32")
            self.true_positives.assign_add(k.ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)

    m = TruePositives()
    m.update_state(np.array([[0], [2], [1]]), np.eye(3, dtype=np.float32)[[0, 1, 1]])
    assert float(np.asarray(m.result())) == 2.0
    m.reset_state()
    assert float(np.asarray(m.result())) == 0.0


@needs_keras
def test_a_call_returning_its_variable_gives_the_variable():
    def run(k):
        class ComputeSum(k.layers.Layer):
            def __init__(self, input_dim):
                super().__init__()
                self.total = self.add_weight(initializer="zeros", shape=(input_dim,),
                                             trainable=False)

            def call(self, inputs):
                self.total.assign_add(k.ops.sum(inputs, axis=0))
                return self.total

        layer = ComputeSum(2)
        layer(np.ones((2, 2), np.float32))
        y = layer(np.ones((2, 2), np.float32))
        return y is layer.total, y.numpy()

    assert run(pynn) == (True, pytest.approx([4.0, 4.0]))
    same, value = run(keras)
    assert same and np.allclose(value, [4.0, 4.0])


def test_a_build_the_program_calls_with_its_own_arguments_leaves_the_layer_built():
    class CustomBuild(layers.Layer):
        def build(self, input_shape, init):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer=init)

        def call(self, x):
            return ops.matmul(x, self.w)

    layer = CustomBuild()
    layer.build((None, 3), "ones")
    assert layer.built
    out = pynn.Sequential([pynn.Input((3,)), layer])(np.ones((1, 3), np.float32))
    assert np.allclose(out, 3.0)


# ------------------------------------------------------------- saving

@pytest.fixture
def registry():
    saved = dict(pynn.saving.get_custom_objects())
    yield
    pynn.saving.get_custom_objects().clear()
    pynn.saving.get_custom_objects().update(saved)


def test_keras_file_with_a_bare_config_layer_and_a_registered_activation(tmp_path, registry):
    @pynn.saving.register_keras_serializable(package="MyLayers")
    class Scale(layers.Layer):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {"factor": self.factor}  # no name: written as it is

    @pynn.saving.register_keras_serializable(package="my_package", name="square_fn")
    def square_fn(x):
        return x ** 2

    inputs = pynn.Input(shape=(4,))
    outputs = layers.Dense(1, activation=square_fn)(Scale(0.5)(inputs))
    model = pynn.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    x = np.random.default_rng(1).random((4, 4)).astype(np.float32)
    path = str(tmp_path / "custom.keras")
    model.save(path)
    restored = pynn.models.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), restored.predict(x, verbose=0),
                               rtol=1e-6)
    # by custom_objects too, the registry emptied
    pynn.saving.get_custom_objects().clear()
    restored = pynn.models.load_model(path, custom_objects={"Scale": Scale,
                                                            "square_fn": square_fn})
    np.testing.assert_allclose(model.predict(x, verbose=0), restored.predict(x, verbose=0),
                               rtol=1e-6)


def test_a_config_holding_layers_and_objects_is_serialized(registry):
    @pynn.saving.register_keras_serializable(package="MyLayers", name="KernelMult")
    class MyDense(layers.Layer):
        def __init__(self, units, *, kernel_regularizer=None, nested=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.kernel_regularizer, self.nested = units, kernel_regularizer, nested

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units, "kernel_regularizer": self.kernel_regularizer,
                           "nested": self.nested})
            return config

        def call(self, x):
            return x

    @pynn.saving.register_keras_serializable(package="ComplexModels")
    class Wrapper(layers.Layer):
        def __init__(self, first_layer, **kwargs):
            super().__init__(**kwargs)
            self.first_layer = first_layer

        def get_config(self):
            return {**super().get_config(), "first_layer": self.first_layer}

        @classmethod
        def from_config(cls, config):
            config["first_layer"] = pynn.layers.deserialize(config["first_layer"])
            return cls(**config)

        def call(self, x):
            return self.first_layer(x)

    inner = MyDense(16, kernel_regularizer=pynn.regularizers.L1L2(l1=1e-5, l2=1e-4))
    config = pynn.layers.serialize(MyDense(64, nested=inner))
    nested = config["config"]["nested"]
    assert nested["registered_name"] == "MyLayers>KernelMult"
    assert nested["config"]["kernel_regularizer"]["class_name"] == "L1L2"
    assert pynn.layers.deserialize(config).units == 64
    inputs = pynn.Input((32,))
    model = pynn.Model(inputs, Wrapper(first_layer=inner)(inputs))
    rebuilt = pynn.Model.from_config(model.get_config())
    assert isinstance(rebuilt.layers[1].first_layer, MyDense)


def test_saving_hooks_of_a_layer_and_of_a_registered_model(tmp_path, registry):
    @pynn.saving.register_keras_serializable(package="pkg")
    class WithState(layers.Dense):
        def __init__(self, units, vocab=None, **kwargs):
            super().__init__(units, **kwargs)
            self.extra = np.arange(units, dtype=np.float32)
            self.vocab = vocab

        def save_own_variables(self, store):
            super().save_own_variables(store)
            store["extra"] = self.extra

        def load_own_variables(self, store):
            self.extra = np.asarray(store["extra"])
            for i, v in enumerate(self.weights):
                v.assign(store[str(i)])

        def save_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocab.txt"), "w") as f:
                f.write(self.vocab)

        def load_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocab.txt")) as f:
                self.vocab = f.read().upper()

    model = pynn.Sequential([pynn.Input((5,)), WithState(3, vocab="a lamb")])
    model.layers[0].extra += 10
    x = np.random.default_rng(2).random((4, 5)).astype(np.float32)
    path = str(tmp_path / "hooks.keras")
    model.save(path)
    restored = pynn.models.load_model(path)
    np.testing.assert_allclose(restored.layers[0].extra, [10, 11, 12])
    assert restored.layers[0].vocab == "A LAMB"
    np.testing.assert_allclose(model.predict(x, verbose=0), restored.predict(x, verbose=0))

    @pynn.saving.register_keras_serializable(package="pkg")
    def mean_pred(y_true, y_pred):
        return ops.mean(y_pred)

    @pynn.saving.register_keras_serializable(package="pkg")
    class OwnCompile(pynn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(4, activation="softmax")

        def call(self, x):
            return self.dense(x)

        def compile(self, optimizer, loss_fn, metrics):
            super().compile(optimizer=optimizer, loss=loss_fn, metrics=metrics)
            self.settings = (optimizer, loss_fn, metrics)

        def get_compile_config(self):
            return {"optimizer": self.settings[0], "loss": self.settings[1],
                    "metrics": self.settings[2]}

        def compile_from_config(self, config):
            de = pynn.utils.deserialize_keras_object
            self.compile(de(config["optimizer"]), de(config["loss"]), de(config["metrics"]))

    model = OwnCompile()
    model.compile("SGD", "mse", ["accuracy", mean_pred])
    model.fit(x, np.eye(4, dtype=np.float32), verbose=0)
    model.save(path)
    restored = pynn.models.load_model(path)
    assert type(restored) is OwnCompile
    assert restored.settings == ("SGD", "mse", ["accuracy", mean_pred])
    np.testing.assert_allclose(model.predict(x, verbose=0), restored.predict(x, verbose=0),
                               rtol=1e-6)


# ---------------------------------------------------- metrics and losses

@needs_keras
def test_sparse_accuracy_counts_fractional_labels_as_misses():
    y_true = np.array([0.45, 1.0, 2.0, 0.0])
    y_pred = np.eye(3, dtype=np.float32)[[0, 1, 0, 0]]
    ours = pynn.metrics.SparseCategoricalAccuracy()
    theirs = keras.metrics.SparseCategoricalAccuracy()
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    assert np.isclose(float(ours.result()), float(theirs.result()))  # 0.5


@needs_keras
@pytest.mark.parametrize("from_logits", [True, False])
def test_binary_crossentropy_of_noisy_targets_outside_0_1(from_logits):
    y_true = np.array([[1.05], [-0.02], [0.5]])
    y_pred = np.array([[0.3], [-0.2], [1.1]]) if from_logits else np.array([[0.3], [0.2], [0.9]])
    ours = pynn.losses.BinaryCrossentropy(from_logits=from_logits)(y_true, y_pred)
    theirs = keras.losses.BinaryCrossentropy(from_logits=from_logits)(y_true, y_pred)
    assert np.isclose(float(ours), float(theirs), rtol=1e-5)


# ----------------------------------------------------- callbacks

def test_callbacks_get_logs_positionally_and_the_batch_aliases():
    seen = []

    class Recorder(pynn.callbacks.Callback):
        def on_train_begin(self, logs):  # no default, as in the guides
            seen.append(("train_begin", dict(logs)))

        def on_batch_end(self, batch, logs):
            seen.append(("batch_end", sorted(logs)))

        def on_predict_begin(self, logs=None):
            seen.append(("predict_begin", list(logs.keys())))

    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    x, y = np.ones((8, 3), np.float32), np.ones((8, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Recorder()])
    model.predict(x, verbose=0, callbacks=[Recorder()])
    assert seen == [("train_begin", {}), ("batch_end", ["loss", "mae"]),
                    ("batch_end", ["loss", "mae"]), ("predict_begin", [])]


# ------------------------------------------------ images, masks, RNNs

@needs_keras
def test_resizing_and_center_crop_take_a_single_image():
    image = np.random.default_rng(3).random((37, 23, 3)).astype(np.float32)
    for ours, theirs in [(layers.Resizing(16, 12), keras.layers.Resizing(16, 12)),
                         (layers.CenterCrop(10, 8), keras.layers.CenterCrop(10, 8))]:
        got, want = np.asarray(ours(image)), np.asarray(theirs(image))
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-4)


@needs_keras
def test_compute_mask_called_as_keras_does():
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    ours = layers.Embedding(5, 2, mask_zero=True).compute_mask(ids)
    theirs = keras.layers.Embedding(5, 2, mask_zero=True).compute_mask(ids)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    x = np.ones((2, 4, 3), np.float32)
    x[0, 2:] = 0
    np.testing.assert_array_equal(np.asarray(layers.Masking().compute_mask(x)),
                                  np.asarray(keras.layers.Masking().compute_mask(x)))


def test_keras_mask_of_a_symbolic_tensor_and_a_mask_taking_call_in_a_graph():
    class TemporalSoftmax(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            m = ops.expand_dims(ops.cast(mask, "float32"), -1)
            e = ops.exp(inputs) * m
            return e / (ops.sum(e, axis=1, keepdims=True) + 1e-9)

    inputs = pynn.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=1, mask_zero=True)(inputs)
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    assert inputs._keras_mask is None
    model = pynn.Model(inputs, TemporalSoftmax()(x))
    out = np.asarray(model(np.array([[1, 2, 0, 0], [3, 0, 0, 0]])))[..., 0]
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(out[0, 2:] == 0) and np.all(out[1, 1:] == 0)


def test_custom_layer_called_on_integer_ids_passes_the_mask_on():
    class EmbedAndLSTM(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=50, output_dim=4, mask_zero=True)
            self.lstm = layers.LSTM(3)

        def call(self, inputs):
            x = self.embedding(inputs)
            return self.lstm(x, mask=self.embedding.compute_mask(inputs))

    layer = EmbedAndLSTM()
    ids = np.array([[5, 7, 0, 0], [5, 7, 9, 0]], dtype="int32")
    out = np.asarray(layer(ids))
    assert out.shape == (2, 3)
    # the padded steps are skipped: the first row equals its two-step prefix
    np.testing.assert_allclose(out[0], np.asarray(layer(ids[:1, :2]))[0], rtol=1e-5)


def test_stateful_lstm_called_on_arrays_takes_the_first_batch_size():
    rng = np.random.default_rng(4)
    p1, p2 = (rng.random((5, 3, 4)).astype(np.float32) for _ in range(2))
    lstm = layers.LSTM(6, stateful=True)
    lstm(p1)
    carried = np.asarray(lstm(p2))
    fresh = layers.LSTM(6)
    fresh.build((None, 3, 4))
    fresh.set_weights(lstm.get_weights())
    restarted = np.asarray(fresh(p2))
    assert carried.shape == (5, 6) and not np.allclose(carried, restarted)
    lstm.reset_states()
    np.testing.assert_allclose(np.asarray(lstm(p2)), restarted, rtol=1e-5, atol=1e-6)


# -------------------------------------------- TensorFlow-style programs

def test_tensorflow_style_ones_zeros_and_formatting_a_taped_loss():
    tf = pynn
    assert np.array_equal(tf.concat([tf.ones((2, 1)), tf.zeros((1, 1))], axis=0),
                          [[1.0], [1.0], [0.0]])
    w = tf.Variable(np.array([2.0], np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(w))
    assert f"{loss:.2f}" == "4.00"
    assert np.allclose(tape.gradient(loss, [w])[0], [4.0])


@needs_keras
def test_stateless_call_computes_with_the_given_values_and_keeps_the_layers_own():
    def build(k):
        return k.Sequential([k.Input((3,)), k.layers.Dense(4), k.layers.BatchNormalization()])

    ours, theirs = build(pynn), build(keras)
    theirs.set_weights(ours.get_weights())
    before = ours.get_weights()
    x = np.random.default_rng(5).random((6, 3)).astype(np.float32)
    trainable = [2.0 * np.asarray(w.numpy()) for w in ours.trainable_variables]
    frozen = [np.asarray(w.numpy()) + 0.5 for w in ours.non_trainable_variables]
    got, got_frozen = ours.stateless_call(trainable, frozen, x, training=True)
    want, want_frozen = theirs.stateless_call(trainable, frozen, x, training=True)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)
    for a, b in zip(got_frozen, want_frozen):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5)
    for a, b in zip(before, ours.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="stateless_call expects 4 trainable"):
        ours.stateless_call(trainable[:1], frozen, x)


def test_tensorflow_style_math_names():
    tf = pynn
    a = np.array([[1.0, 4.0]], np.float32)
    np.testing.assert_allclose(tf.sqrt(a), [[1.0, 2.0]])
    np.testing.assert_allclose(tf.exp(tf.zeros((1, 2))), [[1.0, 1.0]])
    assert tf.stack([a, a], axis=0).shape == (2, 1, 2)
    assert tf.reshape(a, (2, 1)).shape == (2, 1)


def test_a_layers_losses_on_a_gradient_tape_carry_their_gradient():
    class Reg(layers.Layer):
        def call(self, x):
            self.add_loss(0.5 * pynn.reduce_sum(x))
            return x

    class Net(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2, kernel_initializer="ones", use_bias=False)
            self.reg = Reg()

        def call(self, x):
            return self.reg(self.dense(x))

    net = Net()
    x = np.ones((1, 3), np.float32)
    for extra, want in [(True, 1.5), (False, 1.0)]:
        with pynn.GradientTape() as tape:
            y = net(x)
            assert len(net.losses) == 1
            loss = pynn.reduce_sum(y) + (sum(net.losses) if extra else 0.0)
        grad = tape.gradient(loss, net.trainable_weights)[0]
        np.testing.assert_allclose(grad, np.full((3, 2), want))


@needs_keras
@pytest.mark.parametrize("lib", ["pynn", "keras"])
def test_metric_subclass_casts_to_its_dtype(lib):
    k = pynn if lib == "pynn" else keras

    class F1Score(k.metrics.Metric):
        def __init__(self, name="f1_score", dtype="float32", **kwargs):
            super().__init__(name=name, dtype=dtype, **kwargs)
            self.tp = self.add_weight(name="tp", dtype=dtype, initializer="zeros")
            self.fp = self.add_weight(name="fp", dtype=dtype, initializer="zeros")
            self.fn = self.add_weight(name="fn", dtype=dtype, initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = k.ops.cast(k.ops.greater_equal(y_pred, 0.5), "bool")
            y_true = k.ops.cast(y_true, "bool")
            self.tp.assign_add(k.ops.sum(k.ops.cast(y_true & y_pred, self.dtype)))
            self.fp.assign_add(k.ops.sum(k.ops.cast(~y_true & y_pred, self.dtype)))
            self.fn.assign_add(k.ops.sum(k.ops.cast(y_true & ~y_pred, self.dtype)))

        def result(self):
            precision = self.tp / (self.tp + self.fp)
            recall = self.tp / (self.tp + self.fn)
            return precision * recall * 2.0 / (precision + recall)

    m = F1Score()
    assert m.dtype == "float32"
    m.update_state(np.array([0, 1, 0, 0]), np.array([0.3, 0.5, 0.8, 0.9]))
    assert np.isclose(float(np.asarray(m.result())), 0.5)
    m.update_state(np.array([1, 1, 1, 1]), np.array([0.1, 0.7, 0.6, 0.0]))
    assert np.isclose(float(np.asarray(m.result())), 0.6)


def test_a_scalar_variable_formats_as_a_number():
    metric = pynn.metrics.Metric(name="count")
    total = metric.add_variable(shape=(), initializer="zeros")
    total.assign(0.25)
    assert "%.3f" % total == "0.250" and f"{total:.2f}" == "0.25" and float(total) == 0.25
    assert f"{total}" == str(total)
