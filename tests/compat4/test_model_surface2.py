"""More of the model surface Keras 3 programs use: subclassed models whose
call draws random values, the optimizer's variables, how compile reads
metrics and losses for several outputs, summaries of models called on
data, int8 quantization; against Keras 3 on its NumPy backend where it
runs the same thing, else a property that could fail."""
import itertools

import numpy as np
import pytest

import pynn
from pynn import layers, ops

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _images(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 6, 6, 3)).astype(np.float32)


# ------------------------------- a subclassed call that draws random values

BATCH = 4


class Denoiser(pynn.Model):
    """A diffusion model's training pattern: the call draws noise and noise
    levels of a fixed batch size from its own SeedGenerator, mixes them
    with the images and asks the inner network for the noise;
    compute_loss compares the two (there are no targets)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        inp = pynn.Input((6, 6, 3))
        rate = pynn.Input((1, 1, 1))
        x = layers.Concatenate()([layers.Conv2D(4, 3, padding="same")(inp),
                                  layers.UpSampling2D(6)(rate)])
        self.net = pynn.Model([inp, rate], layers.Conv2D(3, 1)(x))
        self.seed_generator = pynn.random.SeedGenerator(3)
        self.mae = pynn.losses.MeanAbsoluteError()

    def call(self, images):
        noises = pynn.random.normal((BATCH, 6, 6, 3), seed=self.seed_generator)
        times = pynn.random.uniform((BATCH, 1, 1, 1), seed=self.seed_generator)
        noise_rates, signal_rates = ops.sin(times), ops.cos(times)
        noisy = signal_rates * images + noise_rates * noises
        pred_noises = self.net([noisy, noise_rates ** 2])
        return (noisy - noise_rates * pred_noises) / signal_rates, pred_noises, noises

    def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
        _, pred_noises, noises = y_pred
        return self.mae(noises, pred_noises)


def test_a_call_that_draws_trains_with_fresh_draws_each_step():
    pynn.utils.set_random_seed(1)
    model, x = Denoiser(), _images()
    model.compile(pynn.optimizers.Adam(1e-2), loss=pynn.losses.MeanAbsoluteError())
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, epochs=8, batch_size=BATCH, verbose=0).history["loss"]
    assert len(history) == 8 and np.all(np.isfinite(history))
    assert history[-1] < history[0]
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    # each call draws anew (the noise output is the draw itself)
    first, second = model(x[:BATCH]), model(x[:BATCH])
    assert len(first) == 3 and first[2].shape == (BATCH, 6, 6, 3)
    assert not np.allclose(first[2], second[2])
    assert np.isfinite(model.evaluate(x, batch_size=BATCH, verbose=0))
    pred = model.predict(x, batch_size=BATCH, verbose=0)
    assert [p.shape for p in pred] == [(16, 6, 6, 3)] * 3
    # its layers and weights are the ones it holds
    assert model.layers == [model.net]
    assert len(model.trainable_weights) == 4


def test_a_call_that_draws_fits_on_a_stream_of_inputs_only():
    pynn.utils.set_random_seed(2)
    model, x = Denoiser(), _images()
    model.compile("adam", loss="mae")
    batches = (x[i:i + BATCH] for i in itertools.cycle(range(0, 16, BATCH)))
    history = model.fit(batches, steps_per_epoch=4, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2
    assert np.isfinite(model.train_on_batch(x[:BATCH]))
    assert len(model.predict_on_batch(x[:BATCH])) == 3


def test_a_draw_in_the_gradient_of_a_custom_train_step():
    """train_step, test_step and predict_step that draw (a denoising
    autoencoder's noise), with a call that draws too."""
    class Noisy(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3)
            self.gen = pynn.random.SeedGenerator(0)
            self.tracker = pynn.metrics.Mean(name="loss")

        def call(self, x, training=False):
            if training:
                x = x + pynn.random.normal(ops.shape(x), stddev=0.1, seed=self.gen)
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            x = x + pynn.random.uniform(ops.shape(x), -0.1, 0.1, seed=self.gen)
            with pynn.GradientTape() as tape:
                loss = ops.mean(ops.square(self(x, training=True) - y))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

        def test_step(self, data):
            x, y = data
            self.tracker.update_state(ops.mean(ops.square(self(x) - y)))
            return {"loss": self.tracker.result()}

        def predict_step(self, data):
            return self(data, training=True)

    pynn.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.random((32, 3)).astype(np.float32)
    y = x @ rng.random((3, 3)).astype(np.float32)
    model = Noisy()
    model.compile(pynn.optimizers.Adam(0.05))
    losses = model.fit(x, y, epochs=20, batch_size=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0] / 2
    clean = model.evaluate(x, y, verbose=0)
    assert clean == pytest.approx(float(np.mean((model(x) - y) ** 2)), rel=1e-5)
    # predict_step calls with training=True: fresh noise at every predict
    assert not np.allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(model(x), model(x))


def test_training_reaches_the_layers_of_a_call_that_draws():
    """As Keras passes ``training`` down: a Dropout called without it in
    the call of such a model drops when the model is called with
    training=True (and in fit), and not at inference."""
    class Drop(pynn.Model):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.5)
            self.gen = pynn.random.SeedGenerator(1)

        def call(self, x):
            return self.drop(x + 0.0 * pynn.random.normal(ops.shape(x), seed=self.gen))

    model, x = Drop(), np.ones((4, 50), np.float32)
    np.testing.assert_array_equal(model(x), x)
    dropped = np.asarray(model(x, training=True))
    assert 0 < np.mean(dropped == 0) < 1 and set(np.unique(dropped)) <= {0.0, 2.0}


def test_a_model_calling_a_model_that_draws_runs_its_call_too():
    class Outer(pynn.Model):
        def __init__(self):
            super().__init__()
            self.inner = Denoiser()
            self.head = layers.Dense(2)

        def call(self, x):
            _, pred_noises, _ = self.inner(x)
            return self.head(ops.mean(pred_noises, axis=(1, 2)))

    model, x = Outer(), _images(BATCH)
    model.compile("adam", "mse")
    y = np.zeros((BATCH, 2), np.float32)
    assert np.isfinite(model.fit(x, y, epochs=2, verbose=0).history["loss"]).all()
    assert not np.allclose(model(x), model(x))
    assert model.inner._eager_call and model._eager_call


def test_a_model_that_draws_refuses_symbolic_inputs():
    model = Denoiser(name="denoiser")
    with pytest.raises(ValueError, match=r"Model 'denoiser' \(Denoiser\): its call\(\) draws "
                                         r"random values or branches on `training`"):
        model(pynn.Input((6, 6, 3)))


def test_models_without_draws_are_still_traced_into_a_graph():
    class Plain(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Plain()
    model(np.ones((3, 4), np.float32))
    assert model._program is not None and not model._eager_call


# ----------------------------------------- ``training`` in a traced call

class Passes(pynn.Model):
    """Passes its ``training`` to a Dropout: traced into a graph whose
    Dropout drops in fit and with training=True, as in Keras."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(8, kernel_initializer="ones", use_bias=False)
        self.drop = layers.Dropout(0.5)

    def call(self, x, training=False):
        return self.drop(self.dense(x), training=training)


def test_training_passed_on_in_a_traced_call_follows_each_run():
    model, x = Passes(), np.ones((2, 8), np.float32)
    np.testing.assert_array_equal(model(x), np.full((2, 8), 8.0))
    assert model._program is not None  # (still one graph)
    dropped = np.asarray(model(x, training=True))
    assert set(np.unique(dropped)) == {0.0, 16.0}
    model.compile("sgd", "mse")
    # with the target the undropped output, only dropout makes a loss
    assert model.fit(x, np.full((2, 8), 8.0), epochs=1, verbose=0).history["loss"][0] > 0
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ model.dense.kernel.numpy(),
                               rtol=1e-6)


@needs_keras
def test_a_branch_on_training_runs_the_call_for_each_run():
    def build(lib):
        class Branch(lib.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(3, kernel_initializer="ones")

            def call(self, x, training=False):
                if training:
                    x = x * 3.0
                return self.dense(x)
        return Branch()

    x = np.ones((2, 4), np.float32)
    ours, theirs = build(pynn), build(keras)
    for training in (False, True, None):
        np.testing.assert_allclose(ours(x, training=training),
                                   keras.ops.convert_to_numpy(theirs(x, training=training)))
    ours.compile("sgd", "mse")
    # fit trains on the training branch: the loss of x * 3
    loss = ours.fit(x, np.zeros((2, 3), np.float32), epochs=1, verbose=0).history["loss"][0]
    assert loss == pytest.approx(12.0 ** 2)


# ------------------------------------------- the optimizer's variables

def _two_dense(lib):
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(2), lib.layers.Dense(1)])


@needs_keras
@pytest.mark.parametrize("make", [
    lambda lib: lib.optimizers.Adam(0.01, use_ema=True),
    lambda lib: lib.optimizers.SGD(0.1, momentum=0.9),
    lambda lib: lib.optimizers.RMSprop(0.01),
    lambda lib: lib.optimizers.Adam(lib.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
])
def test_optimizer_variables_are_keras_3s_list(make):
    def listing(lib):
        opt = make(lib)
        before = [v.name for v in opt.variables]
        opt.build(_two_dense(lib).trainable_variables)
        # (Keras's names carry the model's and layers' numbered names)
        return before, [(v.name.rsplit("_", 1)[-1], "kernel" in v.name, tuple(v.shape))
                        for v in opt.variables]
    assert not callable(pynn.optimizers.Adam().variables)
    assert listing(pynn) == listing(keras)


def test_optimizer_variables_follow_fit_and_assign():
    pynn.utils.set_random_seed(0)
    model = _two_dense(pynn)
    opt = pynn.optimizers.Adam(0.01)
    model.compile(opt, "mse")
    x = np.random.default_rng(0).random((8, 3)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=3, batch_size=4, verbose=0)
    variables = opt.variables
    assert [v.name for v in variables[:2]] == ["iteration", "learning_rate"]
    assert int(variables[0].numpy()) == 6 and len(variables) == 2 + 2 * 4
    kernel = model.layers[0].kernel
    momentum = variables[2]
    assert momentum.shape == kernel.shape and np.any(momentum.numpy() != 0)
    # a view of the state the next step reads
    momentum.assign(np.zeros(kernel.shape, np.float32))
    assert not np.any(opt.variables[2].numpy())
    variables[0].assign(100)
    variables[1].assign(0.5)
    assert opt.iterations == 100 and float(opt.learning_rate) == 0.5


@needs_keras
def test_stateless_apply_matches_keras_and_changes_nothing():
    rng = np.random.default_rng(1)
    shapes = [(3, 2), (2,)]
    values = [rng.random(s).astype(np.float32) for s in shapes]
    grads = [rng.random(s).astype(np.float32) for s in shapes]
    results = []
    for lib in (pynn, keras):
        variables = [lib.Variable(v) for v in values]
        opt = lib.optimizers.Adam(0.1)
        opt.build(variables)
        opt.apply_gradients(zip(grads, variables))  # some state to start from
        state = [np.array(v.numpy()) for v in opt.variables]
        start = [np.array(v.numpy()) for v in variables]
        new_weights, new_state = opt.stateless_apply(
            [v.numpy() for v in opt.variables], grads, [v.numpy() for v in variables])
        for v, s in zip(opt.variables, state):
            np.testing.assert_array_equal(v.numpy(), s)
        for v, s in zip(variables, start):
            np.testing.assert_array_equal(v.numpy(), s)
        results.append(([np.asarray(w) for w in new_weights], [np.asarray(s) for s in new_state]))
    (ours_w, ours_s), (theirs_w, theirs_s) = results
    for a, b in zip(ours_w + ours_s, theirs_w + theirs_s, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="must be built"):
        pynn.optimizers.Adam().stateless_apply([], [], [])


@needs_keras
def test_moving_averages_travel_with_the_optimizer_in_keras_files(tmp_path):
    pynn.utils.set_random_seed(2)
    model = _two_dense(pynn)
    model.compile(pynn.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5), "mse")
    x = np.random.default_rng(2).random((16, 3)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=2, batch_size=4, verbose=0)
    path = str(tmp_path / "ema.keras")
    model.save(path)
    ema = model.optimizer._ema.copy()
    theirs = keras.saving.load_model(path)
    averages = np.concatenate([np.asarray(v).reshape(-1) for v in
                               theirs.optimizer._model_variables_moving_average])
    np.testing.assert_allclose(averages, ema, rtol=1e-6)
    ours = pynn.saving.load_model(path)
    np.testing.assert_array_equal(ours.optimizer._ema, ema)
    # and Keras's file back
    theirs.save(str(tmp_path / "k.keras"))
    again = pynn.saving.load_model(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(again.optimizer._ema, ema, rtol=1e-6)
    # training on from the file takes the same steps as training on
    for m in (model, ours):
        m.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# ------------------------------ metrics and losses for several outputs

@needs_keras
@pytest.mark.parametrize("settings", [
    dict(loss="mse", metrics=["mae", "mse"]),  # one per output (Keras 2: both on each)
    dict(loss=["mse", "mae"], metrics=[["mae"], ["mse", "mae"]]),
    dict(loss={"a": "mse", "b": "mae"}, loss_weights={"a": 1.0, "b": 0.5}, metrics={"b": "mae"}),
    dict(loss=["mse", "mse"], loss_weights=[0.3, 2.0], metrics=["mae", None],
         weighted_metrics=["mse", "mae"]),
    dict(loss="mse", metrics=[["mae", "mse"], "mae"]),
])
def test_metrics_of_two_outputs_are_read_as_keras_3_reads_them(settings):
    rng = np.random.default_rng(0)
    x = rng.random((8, 4)).astype(np.float32)
    y = [rng.random((8, 2)).astype(np.float32), rng.random((8, 1)).astype(np.float32)]
    logs = []
    for lib in (pynn, keras):
        inp = lib.Input((4,))
        model = lib.Model(inp, [lib.layers.Dense(2, name="a", kernel_initializer="ones")(inp),
                                lib.layers.Dense(1, name="b", kernel_initializer="ones")(inp)])
        model.compile("sgd", **settings)
        logs.append(model.evaluate(x, y, verbose=0, return_dict=True))
    assert sorted(logs[0]) == sorted(logs[1])
    for key, value in logs[1].items():
        assert logs[0][key] == pytest.approx(float(value), rel=1e-5), key
