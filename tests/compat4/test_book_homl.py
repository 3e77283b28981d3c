"""Patterns of the Keras programs of a deep-learning textbook (neural nets
with Keras, training deep nets, custom models and training loops, CNNs,
RNNs, NLP, autoencoders and GANs, a policy network), run with pynn: against
Keras 3 on its NumPy backend where it can run the same thing, else a
property that could fail."""
import numpy as np
import pytest

import pynn
from pynn import layers, ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ------------------------------------- the learning rate, read and set

class GrowLearningRate(pynn.callbacks.Callback):
    """Multiplies the rate after each batch, reading it with .numpy()."""

    def __init__(self, factor):
        super().__init__()
        self.factor, self.rates = factor, []

    def on_batch_end(self, batch, logs=None):
        lr = self.model.optimizer.learning_rate.numpy() * self.factor
        self.model.optimizer.learning_rate = lr
        self.rates.append(lr)


def test_learning_rate_reads_with_numpy_after_being_set_to_a_float():
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
    model.compile(optimizer=pynn.optimizers.SGD(learning_rate=1e-3), loss="mse")
    grow = GrowLearningRate(2.0)
    model.fit(rand(8, 3), rand(8, 1), batch_size=2, epochs=1, verbose=0, callbacks=[grow])
    np.testing.assert_allclose(grow.rates, 1e-3 * 2.0 ** np.arange(1, 5), rtol=1e-6)
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 1.6e-2, rtol=1e-6)


def test_learning_rate_answers_as_keras_variable_does(keras):
    for make in (keras.optimizers.SGD, pynn.optimizers.SGD):
        opt = make(learning_rate=0.1)
        assert np.isclose(opt.learning_rate.numpy(), 0.1)
        opt.learning_rate.assign(0.25)
        assert np.isclose(opt.learning_rate.numpy(), 0.25)
        opt.learning_rate = 0.5
        assert np.isclose(float(opt.learning_rate.numpy()), 0.5)
    opt = pynn.optimizers.SGD(learning_rate=0.1)
    pynn.backend.set_value(opt.learning_rate, 0.3)
    assert np.isclose(pynn.backend.get_value(opt.learning_rate), 0.3)
    # the value handed out is a plain number to the arithmetic and the logs
    assert opt.learning_rate * 2 == pytest.approx(0.6)
    assert type(opt.get_config()["learning_rate"]) is float
    import copy
    assert copy.deepcopy({"rate": opt.learning_rate}) == {"rate": pytest.approx(0.3)}


def test_scheduled_learning_rate_reads_with_numpy_but_refuses_assign():
    schedule = pynn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    opt = pynn.optimizers.SGD(learning_rate=schedule)
    assert np.isclose(opt.learning_rate.numpy(), 0.1)
    with pytest.raises(TypeError, match="schedule"):
        opt.learning_rate.assign(0.2)


# --------------------------------- functions made by other functions

def create_huber(threshold=1.0):
    def huber_fn(y_true, y_pred):
        error = y_true - y_pred
        is_small_error = ops.abs(error) < threshold
        squared_loss = ops.square(error) / 2
        linear_loss = threshold * ops.abs(error) - threshold ** 2 / 2
        return ops.where(is_small_error, squared_loss, linear_loss)
    return huber_fn


@pytest.mark.parametrize("suffix", [".keras", ".pynn"])
def test_a_closure_loss_and_metric_save_by_name_and_load_from_custom_objects(tmp_path, suffix):
    pynn.utils.set_random_seed(1)
    model = pynn.Sequential([pynn.Input((4,)), layers.Dense(3, activation="relu"),
                             layers.Dense(1)])
    model.compile(loss=create_huber(2.0), optimizer="sgd", metrics=[create_huber(2.0)])
    x, y = rand(16, 4), 3 * rand(16, 1, seed=1)
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / f"m{suffix}"
    model.save(path)
    with pytest.raises(Exception, match="huber_fn"):
        pynn.models.load_model(path)
    loaded = pynn.models.load_model(path, custom_objects={"huber_fn": create_huber(2.0)})
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0),
                               rtol=1e-5)


def test_a_lambda_loss_is_still_refused_by_save(tmp_path):
    model = pynn.Sequential([pynn.Input((2,)), layers.Dense(1)])
    model.compile(loss=lambda t, p: ops.mean(ops.square(t - p)), optimizer="sgd")
    with pytest.raises(ValueError, match="anonymous function"):
        model.save(tmp_path / "m.keras")


def test_closure_is_described_by_its_own_name_as_keras_does(keras):
    from pynn.utils.custom_objects import serialize_function
    ours = dict(serialize_function(create_huber(2.0)))
    theirs = keras.saving.serialize_keras_object(create_huber(2.0))
    assert ours["config"] == theirs["config"] == "huber_fn"
    assert ours["class_name"] == theirs["class_name"] == "function"


# --------------------------------------- a function as a constraint

def my_positive_weights(weights):
    return ops.where(weights < 0.0, ops.zeros_like(weights), weights)


@pytest.mark.parametrize("suffix", [".keras", ".pynn"])
def test_a_function_constraint_clips_after_each_step_and_saves_by_name(tmp_path, suffix):
    pynn.utils.set_random_seed(3)
    model = pynn.Sequential([pynn.Input((5,)),
                             layers.Dense(8, kernel_constraint=my_positive_weights),
                             layers.Dense(1)])
    model.compile(loss="mse", optimizer=pynn.optimizers.SGD(learning_rate=0.5))
    kernel = model.layers[0].get_weights()[0]
    assert (kernel < 0).any()  # the initial weights are not constrained
    model.fit(rand(32, 5), rand(32, 1, seed=1), epochs=2, verbose=0)
    kernel = model.layers[0].get_weights()[0]
    assert (kernel >= 0).all() and (kernel > 0).any()
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = pynn.models.load_model(path,
                                    custom_objects={"my_positive_weights": my_positive_weights})
    assert loaded.layers[0].kernel_constraint is my_positive_weights   # as Keras


def test_keras_takes_the_same_function_constraint(keras):
    layer = keras.layers.Dense(2, kernel_constraint=my_positive_weights)
    assert layer.kernel_constraint is my_positive_weights
    assert callable(pynn.layers.Dense(2, kernel_constraint=my_positive_weights)
                    .kernel_constraint)


# --------------------------------------------- a custom metric class

class HuberMetric(pynn.metrics.Metric):
    def __init__(self, threshold=1.0, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold
        self.huber_fn = create_huber(threshold)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.huber_fn(y_true, y_pred)
        self.total.assign_add(ops.sum(values))
        self.count.assign_add(ops.cast(ops.size(y_true), "float32"))

    def result(self):
        return self.total / self.count

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def test_a_custom_metric_class_comes_back_from_a_keras_file(tmp_path):
    model = pynn.Sequential([pynn.Input((4,)), layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd", metrics=[HuberMetric(2.0)])
    x, y = rand(16, 4), 3 * rand(16, 1, seed=1)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = pynn.models.load_model(tmp_path / "m.keras",
                                    custom_objects={"HuberMetric": HuberMetric})
    results = loaded.evaluate(x, y, verbose=0, return_dict=True)
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(results) == set(expected) and len(results) == 2
    for key in expected:
        assert results[key] == pytest.approx(expected[key], rel=1e-5)


# ----------------------------- metric results and Python inputs

def test_metric_results_read_with_numpy_and_take_lists_as_keras(keras):
    for ours, theirs, args in [
            (pynn.metrics.Mean(), keras.metrics.Mean(), ([1.0, 2.0, 6.0],)),
            (pynn.metrics.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy(),
             ([1, 0, 1], [[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])),
            (pynn.metrics.MeanAbsoluteError(), keras.metrics.MeanAbsoluteError(),
             ([[1.0], [0.0]], [[0.5], [0.25]])),
            (pynn.metrics.RootMeanSquaredError(), keras.metrics.RootMeanSquaredError(),
             ([1.0, 0.0], [0.5, 0.5]))]:
        ours(*args)
        theirs(*[np.asarray(a, np.float32) for a in args])
        value = ours.result().numpy()
        assert value.dtype == np.float32
        assert value == pytest.approx(float(theirs.result()), rel=1e-6), type(ours).__name__


def test_custom_metric_result_reads_with_numpy():
    metric = HuberMetric(2.0)
    metric(np.array([[2.0]]), np.array([[10.0]]))
    metric(np.array([[0.0], [5.0]]), np.array([[1.0], [9.25]]))
    assert float(np.asarray(metric.result())) == pytest.approx(7.0)
    assert np.asarray(metric.result().numpy()) == pytest.approx(7.0)


# ------------------------------ one layer repeated in a Sequential

class ResidualBlock(layers.Layer):
    def __init__(self, n_layers, n_neurons, **kwargs):
        super().__init__(**kwargs)
        self.hidden = [layers.Dense(n_neurons, activation="relu") for _ in range(n_layers)]

    def call(self, inputs):
        z = inputs
        for layer in self.hidden:
            z = layer(z)
        return inputs + z


def test_the_same_layer_may_come_several_times_in_a_sequential(keras):
    pynn.utils.set_random_seed(0)
    block = layers.Dense(4, activation="tanh")
    model = pynn.Sequential([pynn.Input((4,)), layers.Dense(4), block, block, block,
                             layers.Dense(1)])
    other = keras.layers.Dense(4, activation="tanh")
    reference = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), other, other, other,
                                  keras.layers.Dense(1)])
    assert len(model.layers) == len(reference.layers) == 5
    assert model.count_params() == reference.count_params()
    assert len(model.get_weights()) == len(reference.get_weights()) == 6
    reference.set_weights(model.get_weights())
    x = rand(5, 4)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_a_repeated_custom_block_trains_once_per_weight():
    pynn.utils.set_random_seed(0)
    block = ResidualBlock(2, 3)
    model = pynn.Sequential([layers.Dense(3), block, block, ResidualBlock(2, 3),
                             layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    x, y = rand(16, 4), rand(16, 1, seed=1)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, verbose=0)
    assert model.count_params() == 15 + 24 + 24 + 4
    assert len(model.trainable_weights) == 12
    assert model.evaluate(x, y, verbose=0) < before


def test_two_different_layers_with_one_name_are_still_refused():
    with pytest.raises(ValueError, match="unique"):
        pynn.Sequential([layers.Dense(2, name="twin"), layers.Dense(2, name="twin")])


# ---------------------------- a subclassed model's own build() and config

class ReconstructingRegressor(pynn.Model):
    def __init__(self, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden = [layers.Dense(8, activation="relu") for _ in range(2)]
        self.out = layers.Dense(output_dim)

    def build(self, batch_input_shape):
        self.reconstruct = layers.Dense(batch_input_shape[-1])

    def call(self, inputs, training=None):
        z = inputs
        for layer in self.hidden:
            z = layer(z)
        reconstruction = self.reconstruct(z)
        self.add_loss(0.05 * ops.mean(ops.square(reconstruction - inputs)))
        return self.out(z)


def test_a_subclassed_models_build_runs_before_its_first_call():
    pynn.utils.set_random_seed(0)
    model = ReconstructingRegressor(1)
    model.compile(loss="mse", optimizer="sgd", metrics=["mse"])
    x, y = rand(32, 5), rand(32, 1, seed=1)
    model.fit(x, y, epochs=2, verbose=0)
    assert model.reconstruct.get_weights()[0].shape == (8, 5)
    # the reconstruction loss (a fifth of a percent of its square error)
    # is part of the loss, beside the prediction's
    loss, mse = model.evaluate(x, y, verbose=0)
    z = x
    for layer in model.hidden:
        z = layer(z)
    reconstruction = np.mean(np.square(np.asarray(model.reconstruct(z)) - x))
    assert loss == pytest.approx(mse + 0.05 * reconstruction, rel=1e-4)
    assert model.predict(x, verbose=0).shape == (32, 1)


class BuildsThroughParent(pynn.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)
        self.built_with = None

    def build(self, input_shape):
        self.built_with = tuple(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        return self.dense(inputs)


def test_a_build_that_calls_the_parents_build_traces_once():
    model = BuildsThroughParent()
    out = model.predict(rand(3, 4), verbose=0)
    assert out.shape == (3, 2) and model.built_with[-1] == 4


class ResidualRegressor(pynn.Model):
    def __init__(self, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.hidden1 = layers.Dense(6, activation="relu")
        self.block1 = ResidualBlock(2, 6)
        self.out = layers.Dense(output_dim)

    def call(self, inputs):
        z = self.hidden1(inputs)
        for _ in range(3):
            z = self.block1(z)
        return self.out(z)

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim}


def test_subclassed_get_config_extends_the_base_config_as_in_keras(keras):
    class KerasRegressor(keras.Model):
        def __init__(self, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.output_dim = output_dim

        def call(self, inputs):
            return inputs

        def get_config(self):
            return {**super().get_config(), "output_dim": self.output_dim}

    theirs = KerasRegressor(2, name="r").get_config()
    ours = ResidualRegressor(2, name="r").get_config()
    assert {k: ours[k] for k in ("name", "trainable", "output_dim")} == \
        {k: theirs[k] for k in ("name", "trainable", "output_dim")}
    assert "layers" not in ours


@pytest.mark.parametrize("suffix", [".keras", ".pynn"])
def test_a_subclassed_model_with_get_config_loads_given_only_its_class(tmp_path, suffix):
    pynn.utils.set_random_seed(0)
    model = ResidualRegressor(1)
    model.compile(loss="mse", optimizer="nadam")
    x, y = rand(32, 4), rand(32, 1, seed=1)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    loaded = pynn.models.load_model(tmp_path / f"m{suffix}",
                                    custom_objects={"ResidualRegressor": ResidualRegressor})
    assert type(loaded) is ResidualRegressor and loaded.output_dim == 1
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    loaded.fit(x, y, epochs=1, verbose=0)  # training goes on


# ------------------------------------------------ NLP and generative models

def test_model_reset_states_zeroes_every_stateful_layer():
    pynn.utils.set_random_seed(0)
    inner = pynn.Sequential([pynn.Input(batch_shape=(1, None, 3)),
                             layers.GRU(4, return_sequences=True, stateful=True)])
    model = pynn.Sequential([pynn.Input(batch_shape=(1, None, 3)), inner,
                             layers.GRU(2, stateful=True), layers.Dense(1)])
    x = rand(1, 5, 3)
    first = model.predict(x, verbose=0)
    assert not np.allclose(model.predict(x, verbose=0), first)  # the state carried on
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, verbose=0), first, rtol=1e-6)


def test_a_one_element_output_list_comes_back_unpacked_as_in_keras(keras):
    def build(k):
        inputs = k.Input((3,))
        return k.Model(inputs=[inputs], outputs=[k.layers.Dense(2)(inputs)])
    ours, theirs = build(pynn), build(keras)
    theirs.set_weights(ours.get_weights())
    x = rand(4, 3)
    for a, b in ((ours.predict(x, verbose=0), theirs.predict(x, verbose=0)),
                 (ours(x), theirs(x))):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert isinstance(ours.output, list) and isinstance(theirs.output, list)


def test_a_custom_layer_reads_its_dtype_as_in_keras(keras):
    for k in (pynn, keras):
        class Offset(k.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.offset = np.arange(3).astype(self.dtype)

            def call(self, inputs):
                return inputs + self.offset

        layer = Offset()
        assert layer.dtype == layer.compute_dtype == layer.variable_dtype == "float32"
        np.testing.assert_allclose(np.asarray(layer(np.zeros((1, 3), np.float32))),
                                   [[0, 1, 2]])


def test_an_array_on_the_left_of_a_symbolic_tensor_records_an_operation():
    ids = pynn.Input((4,), dtype="int32")
    pad = ops.not_equal(ids, 0)[:, None]
    causal = ops.tril(ops.ones((4, 4), "bool"))
    x = pynn.Input((4,))
    model = pynn.Model([ids, x], [causal & pad, np.float32(2.0) * x + np.ones(4, np.float32)])
    mask, y = model.predict([np.array([[3, 1, 0, 0]]), np.ones((1, 4), np.float32)], verbose=0)
    np.testing.assert_array_equal(mask[0], np.tril(np.ones((4, 4), bool)) & [True, True,
                                                                            False, False])
    np.testing.assert_allclose(y, [[3, 3, 3, 3]])


def test_keras_2_name_of_the_kl_divergence_loss(keras):
    y_true = np.array([[0.2, 0.8], [0.5, 0.5]], np.float32)
    y_pred = np.array([[0.3, 0.7], [0.9, 0.1]], np.float32)
    np.testing.assert_allclose(pynn.losses.kullback_leibler_divergence(y_true, y_pred),
                               keras.losses.kl_divergence(y_true, y_pred), rtol=1e-5)
    assert pynn.losses.get("kullback_leibler_divergence") is pynn.losses.kl_divergence


# ------------------------------------------------------ training at scale

def test_a_first_layers_dtype_is_its_inputs_as_in_keras(keras):
    def build(k):
        return k.Sequential([k.layers.Flatten(input_shape=[4, 4], dtype="uint8"),
                             k.layers.Rescaling(scale=1 / 255), k.layers.Dense(3)])
    ours = build(pynn)
    theirs = build(keras)
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 4)).astype(np.uint8)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert ours.inputs[0].dtype.startswith("int")
    with pytest.raises(ValueError, match="keeps variables in float32"):
        layers.Dense(3, dtype="float16")  # not a first layer: pynn computes in float32


def test_slicing_a_symbolic_mask_or_ids_keeps_its_dtype_as_in_keras(keras):
    for k in (pynn, keras):
        ids = k.Input((4,), dtype="int32")
        pad = k.ops.not_equal(ids, 0)
        assert str(pad[:, None].dtype) == "bool"
        assert str(k.ops.expand_dims(pad, 1).dtype) == "bool"
        assert str(ids[:, :2].dtype) == "int32"
    ids = pynn.Input((4,), dtype="int32")
    model = pynn.Model(ids, [ops.not_equal(ids, 0)[:, None], ids[:, :2]])
    mask, head = model.predict(np.array([[3, 1, 0, 0]], np.int32), verbose=0)
    assert mask.dtype == bool and head.dtype == np.int32
    np.testing.assert_array_equal(mask, [[[True, True, False, False]]])


# ------------------- custom functions and classes in every slot of a model

class HuberLoss(pynn.losses.Loss):
    def __init__(self, threshold=1.0, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def call(self, y_true, y_pred):
        return create_huber(self.threshold)(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def my_softplus(z):
    return ops.log(ops.exp(z) + 1.0)


def my_glorot_initializer(shape, dtype="float32"):
    stddev = np.sqrt(2.0 / (shape[0] + shape[1]))
    return pynn.random.normal(shape, stddev=stddev, dtype=dtype)


def my_l1_regularizer(weights):
    return ops.sum(ops.abs(0.01 * weights))


class ScaledNormal(pynn.initializers.Initializer):
    def __init__(self, scale=0.1):
        self.scale = scale

    def __call__(self, shape, dtype=None):
        return pynn.random.normal(shape, stddev=self.scale)

    def get_config(self):
        return {"scale": self.scale}


CUSTOM = {"HuberLoss": HuberLoss, "my_softplus": my_softplus,
          "my_l1_regularizer": my_l1_regularizer, "my_positive_weights": my_positive_weights,
          "my_glorot_initializer": my_glorot_initializer, "ScaledNormal": ScaledNormal}


@pytest.mark.parametrize("suffix", [".keras", ".pynn", ".h5"])
def test_custom_loss_class_activation_initializers_regularizer_constraint_round_trip(
        tmp_path, suffix):
    pynn.utils.set_random_seed(4)
    model = pynn.Sequential([
        layers.Dense(6, activation="relu", input_shape=[5], kernel_initializer=ScaledNormal(0.3)),
        layers.Dense(1, activation=my_softplus, kernel_regularizer=my_l1_regularizer,
                     kernel_constraint=my_positive_weights,
                     kernel_initializer=my_glorot_initializer)])
    model.compile(loss=HuberLoss(2.0), optimizer="nadam")
    x, y = rand(32, 5), 5 * np.abs(rand(32, 1, seed=1))
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    loaded = pynn.models.load_model(tmp_path / f"m{suffix}", custom_objects=CUSTOM)
    assert isinstance(loaded.loss, HuberLoss) and loaded.loss.threshold == 2.0
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0),
                                                            rel=1e-6)
    dense = loaded.layers[1]
    assert dense.kernel_initializer is my_glorot_initializer
    assert isinstance(loaded.layers[0].kernel_initializer, ScaledNormal)
    assert loaded.layers[0].kernel_initializer.scale == 0.3
    # a clone keeps the function (an unregistered class, as in Keras, needs
    # custom_objects)
    clone = pynn.models.clone_model(pynn.Sequential([pynn.Input((6,)), loaded.layers[1]]))
    assert clone.layers[0].kernel_initializer is my_glorot_initializer


def test_keras_serializes_a_function_initializer_as_pynn_does(keras):
    from pynn.utils.custom_objects import serialize_function
    theirs = keras.saving.serialize_keras_object(my_glorot_initializer)
    ours = pynn.initializers.serialize(my_glorot_initializer)
    assert ours == dict(serialize_function(my_glorot_initializer))
    assert (ours["class_name"], ours["config"]) == (theirs["class_name"], theirs["config"])


def test_clone_model_rebuilds_a_subclassed_model_from_its_config_as_keras():
    model = ResidualRegressor(2)
    x = rand(8, 4)
    model.predict(x, verbose=0)
    clone = pynn.models.clone_model(model)
    assert type(clone) is ResidualRegressor and clone.output_dim == 2
    assert clone.predict(x, verbose=0).shape == (8, 2)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_matmul_takes_tensorflows_transpose_arguments_and_differentiates():
    x, w = rand(3, 4), rand(5, 4, seed=1)
    np.testing.assert_allclose(pynn.matmul(x, w, transpose_b=True), x @ w.T, rtol=1e-5)
    np.testing.assert_allclose(ops.matmul(x.T.copy(), w, transpose_a=True, transpose_b=True),
                               x @ w.T, rtol=1e-5)
    kernel = pynn.Variable(w)
    with pynn.GradientTape() as tape:
        y = ops.sum(pynn.matmul(x, kernel, transpose_b=True) * rand(3, 5, seed=2))
    weights = rand(3, 5, seed=2)
    np.testing.assert_allclose(np.asarray(tape.gradient(y, kernel)), weights.T @ x, rtol=1e-5)
    with pytest.raises(ValueError, match="rank >= 2"):
        ops.matmul(np.ones(3, np.float32), np.ones(3, np.float32), transpose_a=True)
    symbolic = pynn.Input((4,))
    model = pynn.Model(symbolic, pynn.matmul(symbolic, w, transpose_b=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ w.T, rtol=1e-5)
