"""Custom training with a GradientTape: hand-written loops and train_step
overrides follow fit's trajectory exactly; evaluate/predict call test_step
and predict_step; a VAE and a tiny GAN train."""
import numpy as np
import pytest

import pynn
from pynn import layers, losses, metrics, ops, optimizers


def _mlp():
    return pynn.Sequential([layers.Input((784,)), layers.Dense(32, activation="relu"),
                            layers.Dense(10, activation="softmax")])


def _convnet():
    return pynn.Sequential([layers.Input((28, 28, 1)), layers.Conv2D(4, 3, activation="relu"),
                            layers.MaxPooling2D(), layers.Conv2D(4, 3, activation="relu"),
                            layers.MaxPooling2D(), layers.Flatten(),
                            layers.Dense(10, activation="softmax")])


def _data(shape, n=96):
    rng = np.random.default_rng(0)
    return rng.random((n,) + shape).astype(np.float32), rng.integers(0, 10, n)


def _twins(build, seed=0):
    pynn.utils.set_random_seed(seed)
    a = build()
    b = build()
    b.set_weights(a.get_weights())
    return a, b


@pytest.mark.parametrize("build,shape", [(_mlp, (784,)), (_convnet, (28, 28, 1))])
@pytest.mark.parametrize("opt", [lambda: optimizers.SGD(0.1, momentum=0.9),
                                 lambda: optimizers.Adam(1e-3)])
def test_custom_loop_follows_fit(build, shape, opt):
    x, y = _data(shape)
    ref, model = _twins(build)
    ref.compile(optimizer=opt(), loss="sparse_categorical_crossentropy")
    ref.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)

    optimizer = opt()
    loss_fn = losses.SparseCategoricalCrossentropy()
    acc = metrics.SparseCategoricalAccuracy()
    for _ in range(2):
        for s in range(0, len(x), 32):
            xb, yb = x[s:s + 32], y[s:s + 32]
            with pynn.GradientTape() as tape:
                logits = model(xb, training=True)
                loss_value = loss_fn(yb, logits)
                loss_value += sum(model.losses)
            grads = tape.gradient(loss_value, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            acc.update_state(yb, logits)
        assert 0.0 <= acc.result() <= 1.0
        acc.reset_state()
    assert optimizer.iterations == ref.optimizer.iterations == 6
    for a, b in zip(ref.get_weights(), model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


class Keras2Model(pynn.Model):
    def train_step(self, data):
        x, y = data
        with pynn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class Keras3Model(pynn.Model):
    def train_step(self, data):
        x, y = data
        with pynn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


@pytest.mark.parametrize("cls", [Keras2Model, Keras3Model])
def test_train_step_override_follows_fit(cls):
    x, y = _data((784,), 64)
    pynn.utils.set_random_seed(1)
    ref = _mlp()
    inputs = layers.Input((784,))
    h = layers.Dense(32, activation="relu", kernel_regularizer="l2")(inputs)
    model = cls(inputs, layers.Dense(10, activation="softmax")(h))
    ref = pynn.Sequential([layers.Input((784,)),
                           layers.Dense(32, activation="relu", kernel_regularizer="l2"),
                           layers.Dense(10, activation="softmax")])
    ref.set_weights(model.get_weights())
    for m in (ref, model):
        m.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h_ref = ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    h = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}
    for a, b in zip(ref.get_weights(), model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(h.history["accuracy"], h_ref.history["accuracy"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    ref_logs = ref.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    np.testing.assert_allclose(logs["accuracy"], ref_logs["accuracy"])


def test_own_trackers_test_step_predict_step():
    class Tracked(pynn.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = metrics.Mean(name="loss")
            self.mae_metric = metrics.MeanAbsoluteError(name="mae")
            self.epochs_seen = []

        def train_step(self, data):
            x, y = data
            with pynn.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = ops.mean(ops.square(y_pred - y))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            self.epochs_seen.append(self.loss_tracker.count)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.loss_tracker.update_state(ops.mean(ops.square(y_pred - y)))
            self.mae_metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def predict_step(self, data):
            return self(data, training=False) * 2.0

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    pynn.utils.set_random_seed(2)
    inputs = layers.Input((4,))
    model = Tracked(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="adam")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    hist = model.fit(x, y, batch_size=10, epochs=3, verbose=0, validation_data=(x, y))
    assert model.epochs_seen == [1, 2, 3, 4] * 3  # trackers reset at each epoch
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert set(hist.history) == {"loss", "mae", "val_loss", "val_mae"}
    logs = model.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    pred = model(x)
    np.testing.assert_allclose(logs["mae"], np.abs(pred - y).mean(), rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=16, verbose=0), 2 * pred,
                               rtol=1e-6)


def test_vae_custom_train_step_loss_falls():
    pynn.utils.set_random_seed(3)
    latent = 2

    class Sampling(layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            eps = pynn.random.normal(shape=(pynn.shape(z_mean)[0], latent))
            return z_mean + ops.exp(0.5 * z_log_var) * eps

    enc_in = layers.Input((16,))
    h = layers.Dense(8, activation="relu")(enc_in)
    z_mean, z_log_var = layers.Dense(latent)(h), layers.Dense(latent)(h)
    encoder = pynn.Model(enc_in, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    dec_in = layers.Input((latent,))
    decoder = pynn.Model(dec_in, layers.Dense(16, activation="sigmoid")(
        layers.Dense(8, activation="relu")(dec_in)))

    class VAE(pynn.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = metrics.Mean(name="total_loss")
            self.kl_loss_tracker = metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.kl_loss_tracker]

        def train_step(self, data):
            with pynn.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = self.decoder(z)
                rec = pynn.reduce_mean(pynn.reduce_sum(
                    losses.binary_crossentropy(data, reconstruction)))
                kl = -0.5 * (1 + z_log_var - pynn.square(z_mean) - ops.exp(z_log_var))
                kl_loss = pynn.reduce_mean(pynn.reduce_sum(kl, axis=1))
                total = rec + kl_loss
            grads = tape.gradient(total, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total)
            self.kl_loss_tracker.update_state(kl_loss)
            return {"loss": self.total_loss_tracker.result(),
                    "kl_loss": self.kl_loss_tracker.result()}

    rng = np.random.default_rng(0)
    data = (rng.random((64, 16)) > 0.5).astype(np.float32)
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=optimizers.Adam(0.01))
    before = [w.copy() for w in decoder.get_weights()]
    hist = vae.fit(data, epochs=5, batch_size=16, verbose=0)
    loss = hist.history["loss"]
    assert loss[-1] < loss[0] and all(np.isfinite(loss))
    assert not np.allclose(before[0], decoder.get_weights()[0])


def test_tiny_gan_two_optimizers():
    pynn.utils.set_random_seed(4)
    latent = 3
    generator = pynn.Sequential([layers.Input((latent,)), layers.Dense(8),
                                 layers.LeakyReLU(0.2), layers.Dense(2)])
    discriminator = pynn.Sequential([layers.Input((2,)), layers.Dense(8),
                                     layers.LeakyReLU(0.2), layers.Dense(1)])

    class GAN(pynn.Model):
        def __init__(self, discriminator, generator):
            super().__init__()
            self.discriminator, self.generator = discriminator, generator
            self.d_loss_metric = metrics.Mean(name="d_loss")
            self.g_loss_metric = metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real):
            n = pynn.shape(real)[0]
            z = pynn.random.normal(shape=(n, latent))
            fake = self.generator(z)
            combined = pynn.concat([fake, real], axis=0)
            labels = np.concatenate([np.ones((n, 1)), np.zeros((n, 1))]).astype(np.float32)
            with pynn.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(combined))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            z = pynn.random.normal(shape=(n, latent))
            with pynn.GradientTape() as tape:
                g_loss = self.loss_fn(np.zeros((n, 1), np.float32),
                                      self.discriminator(self.generator(z)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(),
                    "g_loss": self.g_loss_metric.result()}

    real = np.random.default_rng(0).normal([2.0, -1.0], 0.1, size=(64, 2)).astype(np.float32)
    gan = GAN(discriminator, generator)
    gan.compile(optimizers.Adam(0.01), optimizers.Adam(0.01),
                losses.BinaryCrossentropy(from_logits=True))
    g0, d0 = generator.get_weights()[0].copy(), discriminator.get_weights()[0].copy()
    hist = gan.fit(real, epochs=4, batch_size=16, verbose=0)
    assert set(hist.history) == {"d_loss", "g_loss"}
    assert hist.history["d_loss"][0] != hist.history["d_loss"][-1]
    assert all(np.isfinite(hist.history["g_loss"]))
    assert gan.d_optimizer.iterations == gan.g_optimizer.iterations == 16
    assert not np.allclose(g0, generator.get_weights()[0])
    assert not np.allclose(d0, discriminator.get_weights()[0])


def test_apply_gradients_rules():
    v = pynn.Variable([1.0, -2.0], constraint=pynn.constraints.NonNeg())
    u = pynn.Variable([3.0])
    opt = optimizers.SGD(0.5)
    opt.apply_gradients([(np.array([1.0, 1.0], np.float32), v), (None, u)])
    np.testing.assert_allclose(v.numpy(), [0.5, 0.0])   # the constraint clipped -2.5
    np.testing.assert_allclose(u.numpy(), [3.0])
    assert opt.iterations == 1
    # Adam on one variable equals Adam on the flat array
    a = pynn.Variable(np.linspace(-1, 1, 7))
    flat = np.linspace(-1, 1, 7).astype(np.float32)
    adam_v, adam_f = optimizers.Adam(0.1), optimizers.Adam(0.1)
    for step in range(3):
        g = np.cos(flat * (step + 1)).astype(np.float32)
        adam_v.apply_gradients([(g, a)])
        adam_f.apply(flat, g.copy())
    np.testing.assert_allclose(a.numpy(), flat, rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        opt.apply_gradients([(np.zeros(3, np.float32), v)])
    with pytest.raises(TypeError, match="Variable"):
        opt.apply_gradients([(np.zeros(2, np.float32), np.zeros(2))])
