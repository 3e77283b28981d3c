"""keras.io's generative programs and Keras recipes (VAE, DCGAN, WGAN-GP,
PixelCNN, VQ-VAE, miniature GPT, DDIM, custom convolutions) run with only
their imports changed: the behaviours they rely on, against Keras 3 on its
NumPy backend where it computes the same thing."""
import os

import numpy as np
import pytest

import pynn
from pynn import layers, ops


@pytest.fixture(scope="module")
def keras3():
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "numpy":
        pytest.skip("Keras 3 runs here on another backend")
    return keras


RNG = np.random.default_rng(7)


@pytest.mark.parametrize("name", ["binary_crossentropy", "mean_squared_error",
                                  "mean_absolute_error", "kl_divergence", "hinge", "huber",
                                  "log_cosh", "categorical_crossentropy"])
def test_loss_functions_keep_the_positions_of_an_image(keras3, name):
    # VAE: ops.sum(binary_crossentropy(images, reconstruction), axis=(1, 2))
    y_true = RNG.uniform(0.0, 1.0, (3, 5, 7, 2)).astype("float32")
    y_pred = RNG.uniform(0.05, 0.95, (3, 5, 7, 2)).astype("float32")
    want = np.asarray(getattr(keras3.losses, name)(y_true, y_pred))
    got = getattr(pynn.losses, name)(y_true, y_pred)
    assert got.shape == want.shape == (3, 5, 7)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "sum", "sum_over_batch_size"])
def test_loss_reductions_and_per_sample_weights_on_images(keras3, reduction):
    y_true = RNG.uniform(0.0, 1.0, (4, 3, 3, 1)).astype("float32")
    y_pred = RNG.uniform(0.05, 0.95, (4, 3, 3, 1)).astype("float32")
    weights = RNG.uniform(0.0, 2.0, (4, 3, 3)).astype("float32")
    for cls in ("BinaryCrossentropy", "MeanSquaredError", "Huber"):
        want = getattr(keras3.losses, cls)(reduction=reduction)(y_true, y_pred, weights)
        got = getattr(pynn.losses, cls)(reduction=reduction)(y_true, y_pred, weights)
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


def test_vae_reconstruction_loss_is_differentiated_per_pixel():
    data = RNG.uniform(0.0, 1.0, (2, 4, 4, 1)).astype("float32")
    inputs = pynn.Input((4, 4, 1))
    model = pynn.Model(inputs, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inputs))

    def loss_of(x):
        return ops.mean(ops.sum(pynn.losses.binary_crossentropy(x, model(x)), axis=(1, 2)))
    with pynn.GradientTape() as tape:
        loss = loss_of(data)
    kernel_grad = tape.gradient(loss, model.trainable_weights)[0]
    kernel = model.trainable_weights[0]
    base = kernel.numpy()
    for index in [(0, 0, 0, 0), (1, 2, 0, 0)]:
        step = np.zeros_like(base)
        step[index] = 1e-2
        kernel.assign(base + step)
        up = float(loss_of(data))
        kernel.assign(base - step)
        down = float(loss_of(data))
        np.testing.assert_allclose(kernel_grad[index], (up - down) / 2e-2, rtol=2e-2, atol=1e-4)
    kernel.assign(base)


def test_binary_crossentropy_takes_noisy_labels(keras3):
    # DCGAN: labels += 0.05 * uniform, so real labels reach 1.05
    labels = np.concatenate([np.ones((4, 1)), np.zeros((4, 1))]).astype("float32")
    labels += 0.05 * RNG.uniform(size=labels.shape).astype("float32")
    logits = RNG.normal(size=(8, 1)).astype("float32")
    for from_logits, pred in ((True, logits), (False, 1 / (1 + np.exp(-logits)))):
        want = keras3.losses.BinaryCrossentropy(from_logits=from_logits)(labels, pred)
        got = pynn.losses.BinaryCrossentropy(from_logits=from_logits)(labels, pred)
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5)
    model = pynn.Sequential([pynn.Input((1,)), layers.Dense(1)])
    model.compile(optimizer="adam", loss=pynn.losses.BinaryCrossentropy(from_logits=True))
    model.fit(logits, labels, epochs=1, verbose=0)


def _standardized_kernel(kernel):
    mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
    return (kernel - mean) / ops.sqrt(var + 1e-10)


def test_a_conv_subclass_overriding_convolution_op_computes_through_it(keras3):
    class Standardized(layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            return ops.conv(inputs, _standardized_kernel(kernel), padding="valid",
                            strides=list(self.strides))

    class StandardizedWithCall(layers.Conv2D):
        def call(self, inputs):
            result = self.convolution_op(inputs, _standardized_kernel(self.kernel))
            return result + self.bias if self.use_bias else result

    x = RNG.normal(size=(2, 7, 7, 3)).astype("float32")
    for cls in (Standardized, StandardizedWithCall):
        layer = cls(4, 3, activation="relu" if cls is Standardized else None,
                    bias_initializer="ones")
        y = np.asarray(layer(x))
        kernel = layer.kernel.numpy().astype(np.float64)
        k = (kernel - kernel.mean(axis=(0, 1, 2))) / np.sqrt(kernel.var(axis=(0, 1, 2)) + 1e-10)
        want = np.asarray(keras3.ops.conv(x.astype(np.float64), k)) + 1.0
        if cls is Standardized:
            want = np.maximum(want, 0.0)
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    plain = layers.Conv2D(2, 3, use_bias=False)
    y = np.asarray(plain(x))
    np.testing.assert_allclose(plain.convolution_op(x, plain.kernel), y, rtol=1e-5, atol=1e-5)
    # trains: the override's kernel gets its gradient
    model = pynn.Sequential([pynn.Input((7, 7, 3)), Standardized(2, 3), layers.Flatten(),
                             layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.layers[0].kernel.numpy()
    model.fit(x, np.ones((2, 1), "float32"), epochs=1, verbose=0)
    assert np.abs(model.layers[0].kernel.numpy() - before).max() > 0



def test_a_metric_subclass_sets_up_its_state_after_the_base_init():
    # DDIM's KID: reset_state reads a tracker made after super().__init__
    class KID(pynn.metrics.Metric):
        def __init__(self, name="kid", **kwargs):
            super().__init__(name=name, **kwargs)
            self.kid_tracker = pynn.metrics.Mean(name="kid_tracker")

        def update_state(self, values, sample_weight=None):
            self.kid_tracker.update_state(values)

        def result(self):
            return self.kid_tracker.result()

        def reset_state(self):
            self.kid_tracker.reset_state()

    kid = KID()
    kid.update_state(np.array([1.0, 3.0]))
    assert float(kid.result()) == 2.0
    kid.reset_state()
    assert float(kid.result()) == 0.0


def test_a_variable_made_from_an_initializer_is_a_trained_weight_of_its_layer(keras3):
    # VQ-VAE's codebook: keras.Variable(initializer=init(shape, dtype=...))
    init = pynn.initializers.RandomUniform(seed=3)
    assert init(shape=(2, 3), dtype="float32").dtype == np.float32
    np.testing.assert_array_equal(init((2, 3)), init(shape=(2, 3), dtype="float32"))
    ones = pynn.Variable(initializer="ones", shape=(2,), name="ones")
    assert ones.numpy().tolist() == keras3.Variable(initializer="ones", shape=(2,)).numpy().tolist()
    with pytest.raises(ValueError, match="needs the shape"):
        pynn.Variable(initializer="ones")

    class Quantizer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embeddings = pynn.Variable(
                initializer=init(shape=(4, 3), dtype="float32"), trainable=True,
                name="embeddings_vqvae")

        def call(self, x):
            quantized = ops.matmul(x, self.embeddings)
            self.add_loss(ops.mean(quantized ** 2))
            return x

    quantizer = Quantizer(name="vq")
    assert [w.name for w in quantizer.trainable_weights] == ["embeddings_vqvae"]
    inputs = pynn.Input((4,))
    model = pynn.Model(inputs, layers.Dense(1)(quantizer(inputs)))
    assert any(w is quantizer.embeddings for w in model.trainable_weights)
    before = np.array(quantizer.embeddings)          # a snapshot, not a view
    model.compile(optimizer=pynn.optimizers.SGD(0.1), loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 1), "float32"), epochs=1, verbose=0)
    assert np.abs(quantizer.embeddings.numpy() - before).max() > 1e-3


def test_assigning_a_masked_kernel_inside_call_trains(keras3):
    # PixelCNN: self.conv.kernel.assign(self.conv.kernel * self.mask) in call
    class MaskedConv(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__()
            self.conv = layers.Conv2D(**kwargs)

        def build(self, input_shape):
            self.conv.build(input_shape)
            self.mask = np.zeros(ops.shape(self.conv.kernel))
            self.mask[:1] = 1.0

        def call(self, inputs):
            self.conv.kernel.assign(self.conv.kernel * self.mask)
            return self.conv(inputs)

    inputs = pynn.Input((5, 5, 1))
    masked = MaskedConv(filters=2, kernel_size=3, padding="same")
    model = pynn.Model(inputs, masked(inputs))
    model.compile(optimizer="adam", loss="mse")
    x = RNG.normal(size=(4, 5, 5, 1)).astype("float32")
    model.predict(x, verbose=0)
    first = masked.conv.kernel.numpy()
    model.fit(x, x[..., [0, 0]], epochs=2, verbose=0)
    # the optimizer's last step left the masked taps nonzero, as in Keras;
    # the next call masks them again
    model.predict(x, verbose=0)
    kernel = masked.conv.kernel.numpy()
    assert np.abs(kernel[1:]).max() == 0.0
    assert np.abs(kernel[:1] - first[:1]).max() > 1e-4


def test_integer_shapes_concatenate_as_integers(keras3):
    # miniature GPT's causal mask: tile(mask, concatenate([[batch], [1, 1]]))
    for k in (pynn, keras3):
        mult = k.ops.concatenate([k.ops.expand_dims(3, -1), k.ops.convert_to_tensor([1, 1])], 0)
        assert np.asarray(mult).dtype.kind == "i" and list(np.asarray(mult)) == [3, 1, 1]
    assert pynn.ops.tile(np.ones((1, 2, 2)), mult).shape == (3, 2, 2)
    floats = pynn.ops.concatenate([np.ones(2, "float32"), np.arange(2)])
    assert floats.dtype == np.float32


def test_a_single_target_goes_to_the_one_output_with_a_loss():
    # miniature GPT: outputs=[logits, features], loss=[loss_fn, None], fit(x, y)
    inputs = pynn.Input((6,))
    features = layers.Dense(4)(inputs)
    logits = layers.Dense(3)(features)
    model = pynn.Model(inputs, [logits, features])
    model.compile("adam", loss=[pynn.losses.SparseCategoricalCrossentropy(from_logits=True),
                                None])
    x = RNG.normal(size=(16, 6)).astype("float32")
    y = RNG.integers(0, 3, 16)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0] + 1.0
    with pytest.raises(ValueError, match="2 outputs"):
        model.fit(x, [y, y, y], epochs=1, verbose=0)


def test_in_place_add_of_a_traced_loss_to_a_zeros_array():
    # DeepDream: loss = zeros(shape=()); loss += coeff * reduce_sum(...)
    x = RNG.normal(size=(2, 3)).astype("float32")
    inputs = pynn.Input((3,))
    model = pynn.Model(inputs, layers.Dense(2)(inputs))

    def gradient(in_place):
        with pynn.GradientTape() as tape:
            tape.watch(x)
            loss = ops.zeros(shape=())
            for coeff in (1.0, 2.0):
                term = coeff * ops.sum(ops.square(model(x)))
                if in_place:
                    loss += term
                else:
                    loss = loss + term
        return tape.gradient(loss, x)
    want = gradient(in_place=False)
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(gradient(in_place=True), want, rtol=1e-6)
    with pytest.raises(TypeError, match="out="):
        with pynn.GradientTape() as tape:
            tape.watch(x)
            np.add(model(x), 1.0, out=np.zeros((2, 2), "float32"))


def test_activation_functions_on_symbolic_tensors(keras3):
    # prediction = keras.activations.sigmoid(logits) * 5 in a functional model
    x = RNG.normal(size=(4, 3)).astype("float32")
    for name in ("sigmoid", "relu", "tanh", "softplus", "swish", "elu", "leaky_relu",
                 "hard_sigmoid", "linear"):
        inputs = pynn.Input((3,))
        model = pynn.Model(inputs, getattr(pynn.activations, name)(inputs) * 5)
        want = getattr(keras3.activations, name)(x) * 5
        np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(want),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_custom_layer_of_string_inputs_with_lookups_inside():
    # memory-efficient embeddings: QREmbedding(StringLookup(num_oov_indices=0))
    vocabulary = [f"user_{i}" for i in range(12)]

    class QREmbedding(layers.Layer):
        def __init__(self, num_buckets, **kwargs):
            super().__init__(**kwargs)
            self.num_buckets = num_buckets
            self.index_lookup = layers.StringLookup(vocabulary=vocabulary, mask_token=None,
                                                    num_oov_indices=0)
            self.q_embeddings = layers.Embedding(num_buckets, 4)
            self.r_embeddings = layers.Embedding(num_buckets, 4)
            self.encoder = pynn.Sequential([
                layers.StringLookup(vocabulary=vocabulary, mask_token=None),
                layers.Embedding(len(vocabulary) + 1, 4)])

        def call(self, inputs):
            index = self.index_lookup(inputs)
            return self.q_embeddings(ops.floor_divide(index, self.num_buckets)) * \
                self.r_embeddings(ops.mod(index, self.num_buckets)) + self.encoder(inputs)

    user = layers.Input(shape=(), dtype="string")
    embedded = QREmbedding(4)(user)
    assert tuple(embedded.shape) == (None, 4)
    model = pynn.Model(user, layers.Dense(1)(embedded))
    model.compile(optimizer="adam", loss="mse")
    users = np.array([vocabulary[i] for i in RNG.integers(0, 12, 32)])
    model.fit(users, np.ones((32, 1), "float32"), epochs=1, batch_size=8, verbose=0)
    assert model.predict(users[:3], verbose=0).shape == (3, 1)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        model.predict(np.array(["nobody"]), verbose=0)


def _logistic_endpoint(k):
    class LogisticEndpoint(k.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = k.losses.BinaryCrossentropy(from_logits=True)

        def call(self, logits, targets=None, sample_weight=None):
            if targets is not None:
                self.add_loss(self.loss_fn(targets, logits, sample_weight))
            return k.ops.softmax(logits)
    return LogisticEndpoint


def _endpoint_data():
    return {"inputs": RNG.random((32, 6)).astype("float32"),
            "targets": RNG.random((32, 1)).astype("float32"),
            "sample_weight": RNG.random((32, 1)).astype("float32")}


def test_endpoint_layer_takes_targets_and_weights_as_call_arguments(keras3):
    data = _endpoint_data()
    models = []
    for k in (pynn, keras3):
        inputs = k.Input((6,), name="inputs")
        logits = k.layers.Dense(1)(inputs)
        targets = k.Input((1,), name="targets")
        sample_weight = k.Input((1,), name="sample_weight")
        preds = _logistic_endpoint(k)()(logits, targets, sample_weight)
        models.append(k.Model([inputs, targets, sample_weight], preds))
    ours, theirs = models
    theirs.set_weights(ours.get_weights())
    theirs(data)
    ours.compile(pynn.optimizers.Adam(1e-3))
    np.testing.assert_allclose(ours.evaluate(data, verbose=0),
                               float(sum(np.asarray(v) for v in theirs.losses)), rtol=1e-5)
    history = ours.fit(data, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the inference model: the same layer called on the logits alone
    inputs = pynn.Input((6,), name="inputs")
    preds = _logistic_endpoint(pynn)()(pynn.layers.Dense(1)(inputs), targets=None,
                                       sample_weight=None)
    inference_model = pynn.Model(inputs, preds)
    inference_model.set_weights(ours.get_weights())
    np.testing.assert_allclose(inference_model.predict(data["inputs"], verbose=0), 1.0)


def test_subclassed_models_called_on_a_dict():
    data = _endpoint_data()
    endpoint = _logistic_endpoint(pynn)

    class LogReg(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)
            self.logistic_endpoint = endpoint()

        def call(self, inputs):
            logits = self.dense(inputs["inputs"])
            return self.logistic_endpoint(logits=logits, targets=inputs["targets"],
                                          sample_weight=inputs["sample_weight"])
    model = LogReg()
    model.compile(pynn.optimizers.Adam(1e-2))
    history = model.fit(data, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

    class TwoInputs(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs):
            return self.dense(inputs["a"]) + inputs["b"]
    model = TwoInputs()
    model.compile("sgd", "mse")
    model.fit({"a": np.ones((8, 3)), "b": np.ones((8, 1))}, np.ones((8, 1)), epochs=1,
              verbose=0)
    assert model.input_names == ["a", "b"]
    got = model.predict({"b": np.full((2, 1), 5.0), "a": np.zeros((2, 3))}, verbose=0)
    np.testing.assert_allclose(got, np.full((2, 1), 5.0 + model.dense.bias.numpy()[0]),
                               rtol=1e-6)


def test_weights_of_a_model_trained_only_by_its_own_train_step(tmp_path):
    # DDIM: networks held by a subclassed model that fit never calls whole;
    # ModelCheckpoint(save_weights_only=True) and load_weights
    def network():
        inputs = pynn.Input((3,))
        return pynn.Model(inputs, layers.Dense(2)(layers.BatchNormalization()(inputs)))

    class Holder(pynn.Model):
        def __init__(self):
            super().__init__()
            self.network = network()
            self.ema_network = pynn.models.clone_model(self.network)
            self.tracker = pynn.metrics.Mean(name="n_loss")

        @property
        def metrics(self):
            return [self.tracker]

        def train_step(self, data):
            x, y = data
            with pynn.GradientTape() as tape:
                loss = self.loss(y, self.network(x, training=True))
            grads = tape.gradient(loss, self.network.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
            for weight, ema_weight in zip(self.network.weights, self.ema_network.weights):
                ema_weight.assign(0.5 * ema_weight + 0.5 * weight)
            self.tracker.update_state(loss)
            return {"n_loss": self.tracker.result()}

    model = Holder()
    model.compile(optimizer="adam", loss=pynn.losses.mean_absolute_error)
    path = str(tmp_path / "holder.weights.h5")
    x, y = RNG.normal(size=(16, 3)).astype("float32"), RNG.normal(size=(16, 2)).astype("float32")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[
        pynn.callbacks.ModelCheckpoint(path, save_weights_only=True, monitor="n_loss")])
    ema = [w.numpy() for w in model.ema_network.weights]
    assert any(np.abs(a - b.numpy()).max() > 0 for a, b in zip(ema, model.network.weights))
    fresh = Holder()
    fresh.load_weights(path)
    assert len(fresh.weights) == len(model.weights) == 12
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_uint8_image_inputs_of_a_functional_subclass(keras3):
    # packaging recipe: Input(shape=(None, None, 1), dtype="uint8") -> Rescaling
    def build(k):
        class MnistModel(k.Model):
            def __init__(self, **kwargs):
                inputs = k.layers.Input(shape=(None, None, 1), dtype="uint8")
                y = k.layers.Rescaling(1 / 255.0)(inputs)
                y = k.layers.Conv2D(4, 3, padding="same", activation="relu")(y)
                y = k.layers.GlobalAveragePooling2D()(y)
                outputs = k.layers.Dense(3, activation="softmax", name="head")(y)
                super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        return MnistModel()
    ours, theirs = build(pynn), build(keras3)
    theirs.set_weights(ours.get_weights())
    images = RNG.integers(0, 256, (2, 9, 7, 1)).astype("uint8")
    np.testing.assert_allclose(ours.predict(images, verbose=0),
                               np.asarray(theirs.predict(images, verbose=0)), rtol=1e-5)
    with pytest.raises(ValueError, match="dtype must be"):
        pynn.Input((3,), dtype="complex64")


def test_instance_normalization_as_group_normalization_of_minus_one(keras3):
    # CycleGAN: GroupNormalization(groups=-1) is one group per channel
    x = RNG.normal(size=(2, 5, 4, 6)).astype("float32")
    ours = layers.GroupNormalization(groups=-1, gamma_initializer="random_normal")
    theirs = keras3.layers.GroupNormalization(groups=-1)
    y = np.asarray(ours(x))
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(y, np.asarray(theirs(x)), rtol=1e-4, atol=1e-5)
    assert ours.get_config()["groups"] == -1


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "wrap"])
def test_padding_that_copies_values_is_differentiated(mode):
    # CycleGAN's ReflectionPadding2D: ops.pad(x, widths, mode="reflect") in call
    class Padding(layers.Layer):
        def call(self, x):
            return ops.pad(x, [[0, 0], [2, 1], [1, 2], [0, 0]], mode=mode)

    inputs = pynn.Input((4, 3, 2))
    model = pynn.Model(inputs, layers.Conv2D(1, 3)(Padding()(inputs)))
    x = RNG.normal(size=(1, 4, 3, 2)).astype("float32")
    with pynn.GradientTape() as tape:
        tape.watch(x)
        loss = ops.sum(ops.square(model(x)))
    grad = tape.gradient(loss, x)
    for index in [(0, 0, 0, 0), (0, 1, 2, 1), (0, 3, 1, 0)]:
        up, down = x.copy(), x.copy()
        up[index] += 1e-2
        down[index] -= 1e-2
        numeric = (float(ops.sum(ops.square(model(up)))) -
                   float(ops.sum(ops.square(model(down))))) / 2e-2
        np.testing.assert_allclose(grad[index], numeric, rtol=2e-2, atol=1e-3)


def test_gaugan_spade_blocks_sampler_and_losses():
    # a call(x, mask) taking the mask by position, sublayers made in a
    # build() that gets the first input's shape, a sampler of a fixed batch
    class SPADE(layers.Layer):
        def __init__(self, filters, **kwargs):
            super().__init__(**kwargs)
            self.conv_gamma = layers.Conv2D(filters, 3, padding="same")

        def build(self, input_shape):
            self.resize_shape = input_shape[1:3]

        def call(self, input_tensor, raw_mask):
            mask = ops.image.resize(raw_mask, self.resize_shape, interpolation="nearest")
            mean, var = ops.moments(input_tensor, axes=(0, 1, 2), keepdims=True)
            return self.conv_gamma(mask) * (input_tensor - mean) / ops.sqrt(var + 1e-5)

    class ResBlock(layers.Layer):
        def build(self, input_shape):
            self.spade = SPADE(input_shape[-1])

        def call(self, input_tensor, mask):
            return input_tensor + self.spade(input_tensor, mask)

    class Sampler(layers.Layer):
        def call(self, inputs):
            means, variance = inputs
            return means + ops.exp(0.5 * variance) * pynn.random.normal(shape=(2, 4), seed=1)

    x, mask = pynn.Input((4, 4, 3)), pynn.Input((8, 8, 2))
    block = ResBlock()
    model = pynn.Model([x, mask], block(x, mask))
    assert block.spade.conv_gamma.kernel.shape == (3, 3, 2, 3)
    # called on arrays, as in GauGAN's train_step: the fixed batch of noise
    # is not run on other batch sizes for an output shape
    means = np.zeros((2, 4), "float32")
    assert Sampler()([means, means]).shape == (2, 4)
    with pynn.GradientTape():
        assert Sampler()([means, means]).shape == (2, 4)

    class FeatureMatching(pynn.losses.Loss):
        def call(self, y_true, y_pred):
            loss = 0
            for a, b in zip(y_true[:-1], y_pred[:-1]):
                loss += pynn.losses.MeanAbsoluteError()(a, b)
            return loss

    class Hinge(pynn.losses.Loss):
        def call(self, y, is_real):
            return pynn.losses.Hinge()(ops.ones_like(y) if is_real else -ops.ones_like(y), y)

    data = [RNG.normal(size=(2, 4, 4, 3)).astype("float32"),
            RNG.normal(size=(2, 8, 8, 2)).astype("float32")]
    nested = pynn.Model([x, mask], [[model.output, model.output * 2.0], model.output])
    outs = nested(data)
    assert isinstance(outs[0], list) and len(outs) == 2
    with pynn.GradientTape() as tape:
        first, second = nested(data)
        feature = FeatureMatching()([o * 0.0 for o in first] + [0], first + [0])
        hinge = Hinge()(first[0], 1.0)
        total = feature + hinge
    grads = tape.gradient(total, model.trainable_weights)
    assert all(g is not None and np.abs(g).max() > 0 for g in grads)
    want = float(np.mean(np.abs(np.asarray(model(data)))))
    np.testing.assert_allclose(float(feature), 3 * want, rtol=1e-5)  # |y| + |2y|


def test_a_curve_fitted_with_the_prediction_given_as_targets():
    # sample-size recipe: cost = mse(a * x**b, mean_acc) on tf.Variables
    x = [165, 330, 825, 1651]
    data = np.array([0.81, 0.87, 0.90, 0.91], "float32")
    a, b = pynn.Variable(0.5), pynn.Variable(0.1)
    for loss, derivative in ((pynn.losses.MeanSquaredError(), lambda e: 2 * e),
                             (pynn.losses.MeanAbsoluteError(), np.sign)):
        with pynn.GradientTape() as tape:
            cost = loss(a * x ** b, data)
        grad_a, grad_b = tape.gradient(cost, [a, b])
        power = np.array(x, np.float64) ** 0.1
        d = derivative(0.5 * power - data) / len(x)
        np.testing.assert_allclose(grad_a, np.sum(d * power), rtol=1e-4)
        np.testing.assert_allclose(grad_b, np.sum(d * 0.5 * power * np.log(x)), rtol=1e-4)
