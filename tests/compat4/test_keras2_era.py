"""Keras 2-era programs (Deep Learning with Python 1st edition, the Keras 2
examples) with only their imports changed: the graph-mode backend
(K.gradients, K.function, K.placeholder, the learning phase), Keras 2's
module paths and argument spellings."""
import importlib.util

import numpy as np
import pytest

import pynn
from pynn import backend as K
from pynn import layers, models


@pytest.fixture(autouse=True)
def _fresh_learning_phase():
    K.clear_session()
    yield
    K.clear_session()


def _small_convnet():
    pynn.utils.set_random_seed(0)
    return models.Sequential([
        layers.Input((8, 8, 3)),
        layers.Conv2D(4, 3, activation="tanh", name="c1"),
        layers.Conv2D(5, 3, name="c2"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax", name="probs")])


def _finite_difference(f, x, index, eps=1e-2):
    xp, xm = x.copy(), x.copy()
    xp[index] += eps
    xm[index] -= eps
    return (float(f(xp)) - float(f(xm))) / (2 * eps)


def _check_against_differences(f, x, grads, count=6):
    rng = np.random.default_rng(1)
    for _ in range(count):
        index = tuple(int(rng.integers(n)) for n in x.shape)
        np.testing.assert_allclose(grads[index], _finite_difference(f, x, index),
                                   rtol=2e-2, atol=2e-4)


# ------------------------------------------------- graph-mode backend

def test_filter_visualization_loss_and_normalized_gradient():
    """DLwP 1st ed. 5.4.2: the mean of one filter's activation, its
    gradient with respect to the input image, normalized by its RMS."""
    model = _small_convnet()
    layer_output = model.get_layer("c2").output
    loss = K.mean(layer_output[:, :, :, 1])
    grads = K.gradients(loss, model.input)[0]
    grads /= (K.sqrt(K.mean(K.square(grads))) + 1e-5)
    iterate = K.function([model.input], [loss, grads])
    x = np.random.default_rng(0).random((1, 8, 8, 3)).astype(np.float32)
    loss_value, grads_value = iterate([x])

    feature = pynn.Model(model.input, layer_output)
    np.testing.assert_allclose(loss_value, feature.predict(x, verbose=0)[..., 1].mean(),
                               rtol=1e-5)
    raw = K.function([model.input], K.gradients(loss, [model.input]))([x])[0]
    _check_against_differences(lambda v: feature.predict(v, verbose=0)[..., 1].mean(), x, raw)
    np.testing.assert_allclose(grads_value, raw / (np.sqrt(np.mean(raw ** 2)) + 1e-5),
                               rtol=1e-5)


def test_grad_cam_gradient_with_respect_to_a_layer_output():
    """DLwP 1st ed. 5.4.3: a class score's gradient with respect to the
    last convolution's output, pooled per channel, beside that output."""
    model = _small_convnet()
    conv = model.get_layer("c2")
    score = model.output[:, 2]
    grads = K.gradients(score, conv.output)[0]
    pooled_grads = K.mean(grads, axis=(0, 1, 2))
    iterate = K.function([model.input], [pooled_grads, conv.output[0]])
    x = np.random.default_rng(2).random((1, 8, 8, 3)).astype(np.float32)
    pooled_value, conv_value = iterate([x])
    assert pooled_value.shape == (5,) and conv_value.shape == (4, 4, 5)

    # the head after c2 as a function of c2's output, differenced
    head = models.Sequential([layers.Input((4, 4, 5)), model.get_layer(index=2),
                              model.get_layer("probs")])
    np.testing.assert_allclose(conv_value, pynn.Model(model.input, conv.output).predict(
        x, verbose=0)[0], rtol=1e-5)
    grads_value = K.function([model.input], [grads])([x])[0]
    _check_against_differences(lambda a: head.predict(a, verbose=0)[0, 2], conv_value[None],
                               grads_value)
    np.testing.assert_allclose(pooled_value, grads_value.mean(axis=(0, 1, 2)), rtol=1e-5)


def test_deep_dream_loss_with_symbolic_shapes_and_in_place_sums():
    """DLwP 1st ed. 8.2 / Keras 2's deep_dream: ``loss = K.variable(0.)``
    then ``loss += coeff * K.sum(K.square(x[:, 2:-2, 2:-2, :])) /
    scaling`` with ``scaling = K.prod(K.cast(K.shape(x), 'float32'))`` on
    layers of an input of unknown size."""
    K.set_learning_phase(0)
    pynn.utils.set_random_seed(0)
    inp = layers.Input((None, None, 3))
    a = layers.Conv2D(4, 3, activation="relu", name="mixed2")(inp)
    b = layers.Conv2D(5, 3, activation="tanh", name="mixed3")(a)
    model = models.Model(inp, b)
    dream = model.input
    layer_dict = {layer.name: layer for layer in model.layers}
    settings = {"mixed2": 0.2, "mixed3": 0.5}
    loss = K.variable(0.)
    for name, coeff in settings.items():
        x = layer_dict[name].output
        scaling = K.prod(K.cast(K.shape(x), "float32"))
        loss += coeff * K.sum(K.square(x[:, 2:-2, 2:-2, :])) / scaling
    grads = K.gradients(loss, dream)[0]
    grads /= K.maximum(K.mean(K.abs(grads)), K.epsilon())
    fetch = K.function([dream], [loss, grads])
    img = np.random.default_rng(3).random((1, 11, 10, 3)).astype(np.float32)
    loss_value, grads_value = fetch([img])

    both = models.Model(inp, [a, b])

    def expected(v):
        total = 0.0
        for out, coeff in zip(both.predict(v, verbose=0), settings.values()):
            total += coeff * np.sum(np.square(out[:, 2:-2, 2:-2, :])) / out.size
        return total
    np.testing.assert_allclose(loss_value, expected(img), rtol=1e-5)
    raw = K.function([dream], K.gradients(loss, [dream]))([img])[0]
    _check_against_differences(expected, img, raw)
    np.testing.assert_allclose(grads_value, raw / max(np.abs(raw).mean(), 1e-7), rtol=1e-5)


def test_style_transfer_on_a_placeholder_concatenated_with_constants():
    """DLwP 1st ed. 8.3: a model built on ``K.concatenate([target, style,
    K.placeholder(...)])``, a content, Gram-matrix style and total
    variation loss, its gradient with respect to the placeholder."""
    rng = np.random.default_rng(4)
    h, w = 6, 5
    target = K.constant(rng.random((1, h, w, 3)))
    style = K.constant(rng.random((1, h, w, 3)))
    combination = K.placeholder((1, h, w, 3))
    input_tensor = K.concatenate([target, style, combination], axis=0)
    pynn.utils.set_random_seed(1)
    conv1 = layers.Conv2D(4, 3, padding="same", activation="tanh", name="block1_conv1")
    conv2 = layers.Conv2D(3, 3, padding="same", name="block2_conv1")
    features1 = conv1(input_tensor)
    features2 = conv2(features1)

    def gram_matrix(x):
        features = K.batch_flatten(K.permute_dimensions(x, (2, 0, 1)))
        return K.dot(features, K.transpose(features))

    def style_loss(s, c):
        return K.sum(K.square(gram_matrix(s) - gram_matrix(c))) / (4. * 9 * (h * w) ** 2)

    def total_variation_loss(x):
        a = K.square(x[:, :h - 1, :w - 1, :] - x[:, 1:, :w - 1, :])
        b = K.square(x[:, :h - 1, :w - 1, :] - x[:, :h - 1, 1:, :])
        return K.sum(K.pow(a + b, 1.25))

    loss = K.variable(0.)
    loss += 0.025 * K.sum(K.square(features2[2, :, :, :] - features2[0, :, :, :]))
    for f in (features1, features2):
        loss += 0.5 * style_loss(f[1, :, :, :], f[2, :, :, :])
    loss += 1e-2 * total_variation_loss(combination)
    grads = K.gradients(loss, combination)[0]
    fetch = K.function([combination], [loss, grads])
    x = rng.random((1, h, w, 3)).astype(np.float32)
    loss_value, grads_value = fetch([x])

    only_loss = K.function([combination], [loss])
    _check_against_differences(lambda v: only_loss([v])[0], x, grads_value, count=8)

    def gram(f):
        m = f.transpose(2, 0, 1).reshape(f.shape[-1], -1)
        return m @ m.T
    model = models.Model(combination, [features1, features2])
    f1, f2 = model.predict(x, verbose=0)
    expected = 0.025 * np.sum((f2[2] - f2[0]) ** 2)
    for f in (f1, f2):
        expected += 0.5 * np.sum((gram(f[1]) - gram(f[2])) ** 2) / (4. * 9 * (h * w) ** 2)
    a = np.square(x[:, :h - 1, :w - 1, :] - x[:, 1:, :w - 1, :])
    b = np.square(x[:, :h - 1, :w - 1, :] - x[:, :h - 1, 1:, :])
    expected += 1e-2 * np.sum((a + b) ** 1.25)
    np.testing.assert_allclose(loss_value, expected, rtol=1e-4)


def test_gradients_match_jax():
    """The gradient of a dense network's unit with respect to the input and
    to a hidden layer's output, against JAX on the same weights."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    import jax
    import jax.numpy as jnp
    pynn.utils.set_random_seed(5)
    inp = layers.Input((6,))
    hidden = layers.Dense(5, activation="tanh")(inp)
    out = layers.Dense(4, activation="sigmoid")(hidden)
    model = models.Model(inp, out)
    loss = K.sum(K.square(out[:, 1])) + K.mean(hidden)
    to_input, to_hidden = K.gradients(loss, [inp, hidden])
    f = K.function([inp], [loss, to_input, to_hidden])
    x = np.random.default_rng(5).normal(size=(3, 6)).astype(np.float32)
    loss_value, g_input, g_hidden = f([x])

    (w1, b1), (w2, b2) = [(layer.get_weights()) for layer in model.layers[1:]]

    def head(h):
        return jnp.sum(jax.nn.sigmoid(h @ w2 + b2)[:, 1] ** 2)

    def whole(v):
        h = jnp.tanh(v @ w1 + b1)
        return head(h) + jnp.mean(h)
    h = np.tanh(x @ w1 + b1)
    np.testing.assert_allclose(loss_value, whole(x), rtol=1e-5)
    np.testing.assert_allclose(g_input, jax.grad(whole)(x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_hidden, jax.grad(lambda v: head(v) + jnp.mean(v))(h),
                               rtol=1e-4, atol=1e-6)


def test_gradients_with_respect_to_weights_and_updates():
    """K.gradients of a loss with respect to a model's weights and
    K.function's updates, as Keras 2's optimizers wrote them
    (``(p, p - lr * g)``): the weight is read each time the function runs."""
    pynn.utils.set_random_seed(6)
    model = models.Sequential([layers.Input((3,)), layers.Dense(2, name="d")])
    target = K.placeholder((None, 2))
    loss = K.mean(K.square(model.output - target))
    kernel, bias = model.get_layer("d").weights
    g_kernel, g_bias = K.gradients(loss, [kernel, bias])
    assert g_kernel.shape == (3, 2)
    step = K.function([model.input, target], [loss],
                      updates=[(kernel, kernel - 0.1 * g_kernel), (bias, bias - 0.1 * g_bias)])
    x = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32)
    y = np.random.default_rng(7).normal(size=(4, 2)).astype(np.float32)
    for _ in range(3):
        w0, b0 = np.array(kernel.value), np.array(bias.value)
        with pynn.GradientTape() as tape:
            reference = pynn.ops.mean(pynn.ops.square(model(x) - y))
        expected = tape.gradient(reference, [kernel, bias])
        (loss_value,) = step([x, y])
        np.testing.assert_allclose(loss_value, float(reference), rtol=1e-5)
        np.testing.assert_allclose(kernel.value, w0 - 0.1 * np.asarray(expected[0]),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bias.value, b0 - 0.1 * np.asarray(expected[1]),
                                   rtol=1e-5, atol=1e-6)


def test_learning_phase_as_an_input_and_set_learning_phase():
    pynn.utils.set_random_seed(7)
    model = models.Sequential([layers.Input((50,)), layers.Dropout(0.5)])
    f = K.function([model.input, K.learning_phase()], [model.output])
    x = np.ones((2, 50), np.float32)
    np.testing.assert_array_equal(f([x, 0])[0], x)
    trained = f([x, 1])[0]
    assert (trained == 0).any() and np.allclose(trained[trained != 0], 2.0)
    plain = K.function([model.input], [model.output])
    np.testing.assert_array_equal(plain([x])[0], x)  # no phase fed: inference
    K.set_learning_phase(1)
    assert K.learning_phase() == 1
    assert (plain([x])[0] == 0).any()
    with pytest.raises(ValueError, match="0 .test. or 1"):
        K.set_learning_phase(2)


def test_graph_mode_errors_name_what_is_wrong():
    model = _small_convnet()
    other = K.placeholder(shape=(None, 8, 8, 3))
    assert K.gradients(K.mean(model.output), [other]) == [None]
    with pytest.raises(ValueError, match="not among the inputs"):
        K.function([other], [model.output])
    with pytest.raises(TypeError, match="symbolic tensor"):
        K.gradients(np.float32(1.0), [model.input])
    f = K.function([model.input], [model.output])
    with pytest.raises(ValueError, match="expected 1 input"):
        f([np.zeros((1, 8, 8, 3)), np.zeros(1)])
    assert K.placeholder(ndim=3).shape == (None, None, None)


# ------------------------------------------------- Keras 2's module paths

def test_keras2_module_paths_import_the_same_objects():
    from pynn.engine import InputSpec as EngineInputSpec
    from pynn.engine.topology import Input, Layer
    from pynn.layers.advanced_activations import LeakyReLU
    from pynn.layers.convolutional import Conv2D, Deconvolution2D, UpSampling2D
    from pynn.layers.core import Dense, Lambda, Permute
    from pynn.layers.embeddings import Embedding
    from pynn.layers.merge import add, concatenate
    from pynn.layers.noise import GaussianNoise
    from pynn.layers.recurrent import LSTM, LSTMCell, RNN
    from pynn.layers.wrappers import TimeDistributed
    from pynn.utils.generic_utils import CustomObjectScope, Progbar, get_custom_objects
    from pynn.utils.np_utils import normalize, to_categorical
    from pynn.utils.vis_utils import model_to_dot, plot_model
    assert (Layer, Input, EngineInputSpec) == (layers.Layer, layers.Input, layers.InputSpec)
    assert (Conv2D, UpSampling2D, Dense, Lambda, Permute, Embedding, LeakyReLU) == (
        layers.Conv2D, layers.UpSampling2D, layers.Dense, layers.Lambda, layers.Permute,
        layers.Embedding, layers.LeakyReLU)
    assert Deconvolution2D is layers.Conv2DTranspose
    assert (LSTM, LSTMCell, RNN, TimeDistributed, GaussianNoise) == (
        layers.LSTM, layers.LSTMCell, layers.RNN, layers.TimeDistributed, layers.GaussianNoise)
    assert (model_to_dot, plot_model) == (pynn.utils.model_to_dot, pynn.utils.plot_model)
    assert (CustomObjectScope, Progbar, get_custom_objects) == (
        pynn.utils.CustomObjectScope, pynn.utils.Progbar, pynn.utils.get_custom_objects)
    np.testing.assert_array_equal(to_categorical([0, 2], 3), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(normalize(np.array([[3.0, 4.0]])), [[0.6, 0.8]])
    with pytest.raises(ImportError, match="Nothing"):
        from pynn.layers.core import Nothing  # noqa: F401

    # the merge functions on symbolic tensors, as Keras 2's functional examples
    a, b = layers.Input((3,)), layers.Input((3,))
    model = models.Model([a, b], concatenate([add([a, b]), b]))
    out = model.predict([np.ones((2, 3)), 2 * np.ones((2, 3))], verbose=0)
    np.testing.assert_allclose(out, np.concatenate([3 * np.ones((2, 3)), 2 * np.ones((2, 3))],
                                                   axis=1))


def test_custom_layer_from_engine_topology_trains():
    """The Keras 2 custom layer recipe: subclass keras.engine.topology.Layer,
    add_weight in build, K.dot in call."""
    from pynn.engine.topology import Layer

    class MyLayer(Layer):
        def __init__(self, output_dim, **kwargs):
            self.output_dim = output_dim
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[1], self.output_dim),
                                          initializer="uniform", trainable=True)
            super().build(input_shape)

        def call(self, x):
            return K.dot(x, self.kernel)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.output_dim)

    pynn.utils.set_random_seed(8)
    model = models.Sequential([layers.Input((4,)), MyLayer(2)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(8).normal(size=(16, 4)).astype(np.float32)
    w = np.array(model.layers[0].kernel.value)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ w, rtol=1e-5, atol=1e-6)
    model.fit(x, x[:, :2], epochs=2, verbose=0)
    assert not np.allclose(model.layers[0].kernel.value, w)


# ------------------------------------------- Keras 1 and 2 argument names

@pytest.mark.parametrize("make, says", [
    (lambda: layers.Dense(output_dim=3), "output_dim= is Keras 1's name for units="),
    (lambda: layers.Conv2D(3, 3, init="he_normal"), "init= is Keras 1's name for kernel_init"),
    (lambda: layers.Conv2D(3, 3, border_mode="same"), "border_mode= is Keras 1's name for pad"),
    (lambda: layers.Dropout(p=0.5), "p= is Keras 1's name for rate="),
    (lambda: layers.LSTM(4, dropout_W=0.2), "dropout_W= is Keras 1's name for dropout="),
    (lambda: layers.BatchNormalization(mode=0), "mode= is Keras 1's, and Keras 2 removed it"),
])
def test_keras1_layer_arguments_are_refused_naming_keras2s(make, says):
    with pytest.raises(TypeError, match=says.replace("(", r"\(")):
        make()


def test_a_layers_own_argument_of_a_keras1_name_is_kept():
    assert layers.Embedding(10, output_dim=4).output_dim == 4
    assert layers.RandomFlip(mode="horizontal").mode == "horizontal"


def test_keras2_training_spellings():
    pynn.utils.set_random_seed(9)
    inp = layers.Input((4,))
    out = layers.Dense(3, activation="softmax")(inp)
    with pytest.warns(UserWarning, match="Keras 2 API"):
        model = models.Model(input=inp, output=out)
    model.compile("sgd", "categorical_crossentropy")
    x = np.random.default_rng(9).random((12, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(12) % 3]
    with pytest.warns(UserWarning, match="renamed `epochs`"):
        history = model.fit(x, y, nb_epoch=2, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(TypeError, match="samples_per_epoch= is Keras 1's; write steps_per"):
        model.fit_generator(iter([(x, y)] * 4), samples_per_epoch=12)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nb_epochs'"):
        model.fit(x, y, nb_epochs=1)
    np.testing.assert_allclose(model.predict_proba(x), model.predict(x, verbose=0))
    np.testing.assert_array_equal(model.predict_classes(x),
                                  model.predict(x, verbose=0).argmax(-1))
    assert K.image_dim_ordering() == "tf"
    K.set_image_dim_ordering("th")
    try:
        assert K.image_data_format() == "channels_first" and K.image_dim_ordering() == "th"
    finally:
        K.set_image_dim_ordering("tf")
    assert K.image_data_format() == "channels_last"
    with pytest.raises(ValueError, match="'tf' or 'th'"):
        K.set_image_dim_ordering("xy")


# ------------------------------------------- what Keras 2's examples use

def test_ndim_of_a_symbolic_tensor_is_an_int():
    x = layers.Input((4, 4, 3))
    assert K.ndim(x[0, :, :, :]) == 3 and isinstance(K.ndim(x), int)


@pytest.mark.parametrize("name", ["binary_crossentropy", "mean_squared_error",
                                  "mean_absolute_error", "kl_divergence"])
def test_loss_functions_of_one_dimensional_arrays_match_keras(name):
    """Keras's function forms reduce the last axis: a 1-D pair (a flattened
    batch) is one sample, and its loss a scalar."""
    from keras_reference import keras
    if keras is None:
        pytest.skip("Keras 3 is not installed")
    rng = np.random.default_rng(10)
    y_true = rng.random(12).astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, 12).astype(np.float32)
    ours = getattr(pynn.losses, name)(y_true, y_pred)
    assert np.ndim(ours) == 0
    np.testing.assert_allclose(ours, getattr(keras.losses, name)(y_true, y_pred), rtol=1e-5)
    two = getattr(pynn.losses, name)(y_true.reshape(3, 4), y_pred.reshape(3, 4))
    np.testing.assert_allclose(two, getattr(keras.losses, name)(y_true.reshape(3, 4),
                                                                y_pred.reshape(3, 4)),
                               rtol=1e-5)


def test_vae_loss_of_symbolic_tensors_given_to_model_add_loss():
    """Keras 2's variational_autoencoder: a loss function of the model's
    input and output, a KL term of its tensors, ``vae.add_loss(...)``,
    ``compile`` with no loss, ``fit(x)``."""
    pynn.utils.set_random_seed(11)
    inputs = layers.Input((6,))
    h = layers.Dense(4, activation="relu")(inputs)
    z_mean, z_log_var = layers.Dense(2)(h), layers.Dense(2)(h)
    outputs = layers.Dense(6, activation="sigmoid")(z_mean)
    vae = models.Model(inputs, outputs, name="vae")
    reconstruction = pynn.losses.binary_crossentropy(K.flatten(inputs), K.flatten(outputs))
    reconstruction *= 6
    kl = K.sum(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=-1) * -0.5
    vae.add_loss(K.mean(reconstruction + kl))
    vae.compile(optimizer=pynn.optimizers.SGD(0.05))
    assert vae.output_names == [outputs.node.operation.name]
    x = np.random.default_rng(11).random((8, 6)).astype(np.float32)

    parts = models.Model(inputs, [outputs, z_mean, z_log_var])

    def expected():
        out, mean, log_var = parts.predict(x, verbose=0)
        p = np.clip(out.ravel(), 1e-7, 1 - 1e-7)
        bce = -np.mean(x.ravel() * np.log(p) + (1 - x.ravel()) * np.log(1 - p))
        kl_value = -0.5 * np.sum(1 + log_var - mean ** 2 - np.exp(log_var), axis=-1)
        return np.mean(6 * bce + kl_value)
    before = expected()
    np.testing.assert_allclose(vae.evaluate(x, verbose=0), before, rtol=1e-4)
    np.testing.assert_allclose(vae.predict(x, verbose=0), parts.predict(x, verbose=0)[0])
    vae.fit(x, epochs=5, batch_size=8, verbose=0)
    assert expected() < before


def test_symbolic_loss_object_is_a_graph_layer():
    a, b = layers.Input((3,)), layers.Input((3,))
    loss = pynn.losses.MeanSquaredError(reduction="none")(a, b)
    model = models.Model([a, b], loss)
    x, y = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    np.testing.assert_allclose(model.predict([x, y], verbose=0), [1.0, 1.0])


def test_keras2_optimizer_decay():
    """``SGD(lr=0.1, decay=0.5)``: Keras 2's rate lr / (1 + decay * t) at
    step t (0 first)."""
    pynn.utils.set_random_seed(12)
    w = pynn.Variable(np.zeros(2, np.float32))
    opt = pynn.optimizers.SGD(lr=0.1, decay=0.5)
    expected = np.zeros(2, np.float32)
    for t in range(4):
        opt.apply_gradients([(np.ones(2, np.float32), w)])
        expected -= 0.1 / (1 + 0.5 * t)
        np.testing.assert_allclose(np.asarray(w.value), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="decay must be"):
        pynn.optimizers.RMSprop(decay=-1.0)


def test_layer_weights_argument_sets_the_initial_weights():
    """Keras 2's ``Conv2D(..., weights=[kernel, bias])`` (mnist_net2net)."""
    rng = np.random.default_rng(13)
    kernel, bias = rng.normal(size=(3, 3, 2, 4)).astype(np.float32), np.arange(4, dtype=np.float32)
    conv = layers.Conv2D(4, 3, padding="same", weights=[kernel, bias])
    model = models.Sequential([layers.Input((5, 5, 2)), conv])
    np.testing.assert_array_equal(conv.get_weights()[0], kernel)
    np.testing.assert_array_equal(conv.get_weights()[1], bias)
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    expected = np.einsum("hwio,hwi->o", kernel, x[0, 1:4, 1:4]) + bias
    np.testing.assert_allclose(model.predict(x, verbose=0)[0, 2, 2], expected, rtol=1e-4)
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layers.Dense(2, weights=[np.eye(3, dtype=np.float32)])(layers.Input((3,)))


def test_function_carries_masks_like_predict():
    """An Embedding's mask_zero reaches the LSTM after it inside K.function
    as in predict (the LSTM skips the padded steps)."""
    pynn.utils.set_random_seed(14)
    model = models.Sequential([layers.Input((5,), dtype="int32"),
                               layers.Embedding(10, 3, mask_zero=True), layers.LSTM(4),
                               layers.Dense(2)])
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    f = K.function([model.input], [model.output])
    np.testing.assert_allclose(f([x])[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)


def test_mask_given_to_a_layer_on_a_gradient_tape_is_used():
    """``lstm(x, mask=m)`` while a GradientTape records computes what it
    computes eagerly (the mask was dropped), and its gradient stops at the
    masked steps."""
    pynn.utils.set_random_seed(15)
    lstm = layers.LSTM(3)
    x = np.random.default_rng(15).normal(size=(2, 4, 2)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], bool)
    eager = np.asarray(lstm(x, mask=mask))
    with pynn.GradientTape() as tape:
        watched = tape.watch(x)
        y = lstm(watched, mask=mask)
        total = pynn.ops.sum(y)
    np.testing.assert_allclose(np.asarray(y.value), eager, rtol=1e-6)
    grad = np.asarray(tape.gradient(total, x))
    assert np.all(grad[~mask] == 0) and np.all(np.abs(grad[mask]).sum(-1) > 0)


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "average", "subtract"])
def test_merge_of_lower_rank_input_expands_after_the_batch_axis(name):
    """Keras 2's ACGAN: ``multiply([latent, Embedding(...)(label)])`` of a
    (batch, 100) and a (batch, 1, 100) tensor is (batch, 1, 100), the
    lower-rank input expanded at axis 1 as Keras does (NumPy's broadcast
    gave (batch, batch, 100)); its gradient comes back in its own shape."""
    from keras_reference import keras
    rng = np.random.default_rng(16)
    xa = rng.normal(size=(3, 4)).astype(np.float32)
    xb = rng.normal(size=(3, 1, 4)).astype(np.float32)
    a, b = layers.Input((4,)), layers.Input((1, 4))
    out = getattr(layers, name)([a, b])
    assert out.shape == (None, 1, 4)
    model = models.Model([a, b], out)
    got = model.predict([xa, xb], verbose=0)
    if keras is not None:
        ka, kb = keras.Input((4,)), keras.Input((1, 4))
        reference = keras.Model([ka, kb], getattr(keras.layers, name)([ka, kb]))
        np.testing.assert_allclose(got, reference.predict([xa, xb], verbose=0), rtol=1e-6)
    with pynn.GradientTape() as tape:
        ta, tb = tape.watch(xa), tape.watch(xb)
        total = pynn.ops.sum(pynn.ops.square(model([ta, tb])))
    ga, gb = tape.gradient(total, [xa, xb])
    assert np.shape(ga) == xa.shape and np.shape(gb) == xb.shape

    def f(va):
        return float(np.sum(np.square(model.predict([va, xb], verbose=0))))
    _check_against_differences(f, xa, np.asarray(ga), count=4)


def test_a_programs_layer_may_take_a_keras1_name_through_kwargs():
    class Legacy(layers.Layer):
        def __init__(self, **kwargs):
            self.init = kwargs.pop("init", "uniform")
            super().__init__(**kwargs)

        def call(self, x):
            return x
    assert Legacy(init="normal").init == "normal"
