"""GradientTape as the convnet-interpretation and generative programs use
it (Deep Learning with Python 9 and 12): gradients of a filter's mean
activation for the input image (filter visualization, DeepDream), of a
class score for a convnet's last feature map (Grad-CAM), of a loss for a
Variable (style transfer) and for a model's weights (custom training
loops), each against central finite differences."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers, ops


@pytest.fixture(scope="module")
def convnet():
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(12, 12, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(5, 3, activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    bn = model.layers[2]
    bn.set_weights([w + 0.3 for w in bn.get_weights()])
    return model


def _image():
    return np.random.default_rng(0).uniform(0.4, 0.6, (1, 12, 12, 3)).astype("float32")


def _central(f, x, index, eps=1e-2):
    up, down = x.copy(), x.copy()
    up[index] += eps
    down[index] -= eps
    return (float(f(up)) - float(f(down))) / (2 * eps)


def test_filter_visualization_gradient_of_the_input(convnet):
    feature_extractor = keras.Model(convnet.inputs, convnet.get_layer("conv2").output)

    def compute_loss(image, filter_index):
        activation = feature_extractor(image)
        return ops.mean(activation[:, 2:-2, 2:-2, filter_index])
    image = _image()
    moving = convnet.layers[2].get_weights()
    with keras.GradientTape() as tape:
        tape.watch(image)
        loss = compute_loss(image, 1)
    grads = tape.gradient(loss, image)
    assert grads.shape == image.shape
    for index in [(0, 5, 6, 1), (0, 3, 3, 0), (0, 7, 2, 2)]:
        np.testing.assert_allclose(grads[index], _central(lambda im: compute_loss(im, 1),
                                                          image, index), rtol=2e-2, atol=1e-5)
    # a model called with no training argument computes as at inference
    for a, b in zip(moving, convnet.layers[2].get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="once"):
        tape.gradient(loss, image)


def test_grad_cam_gradient_of_an_intermediate_output(convnet):
    last_conv = keras.Model(convnet.inputs, convnet.get_layer("conv2").output)
    classifier_input = keras.Input(shape=last_conv.output.shape[1:])
    x = classifier_input
    for layer in convnet.layers[-2:]:
        x = layer(x)
    classifier = keras.Model(classifier_input, x)
    image = _image()
    with keras.GradientTape() as tape:
        features = last_conv(image)
        tape.watch(features)
        preds = classifier(features)
        top = int(ops.argmax(preds[0]))
        channel = preds[:, top]
    grads = tape.gradient(channel, features)
    plain = last_conv.predict(image, verbose=0)
    index = (0, 2, 3, 4)
    np.testing.assert_allclose(
        grads[index], _central(lambda f: classifier.predict(f, verbose=0)[0, top], plain, index,
                               1e-3), rtol=2e-2, atol=1e-5)


def test_variable_and_weight_gradients(convnet):
    feature_extractor = keras.Model(convnet.inputs, convnet.get_layer("conv1").output)
    combination = keras.Variable(_image())
    with keras.GradientTape() as tape:
        base = ops.concatenate([_image() * 0.5, combination], axis=0)
        loss = ops.sum(ops.square(feature_extractor(base)[1]))
    grad = tape.gradient(loss, combination)
    index = (0, 4, 4, 2)
    np.testing.assert_allclose(
        grad[index], _central(lambda im: np.sum(np.square(feature_extractor.predict(
            im, verbose=0))), _image(), index), rtol=2e-2)

    image = _image()
    target = np.array([[0.2, 0.5, 0.3]], np.float32)
    with keras.GradientTape() as tape:
        loss = ops.mean(ops.square(convnet(image) - target))
    grads = tape.gradient(loss, convnet.trainable_weights)
    assert len(grads) == len(convnet.trainable_weights)
    kernel = convnet.get_layer("conv1").kernel
    g = grads[[id(w) for w in convnet.trainable_weights].index(id(kernel))]
    index = (1, 1, 0, 2)
    saved = kernel.numpy()

    def loss_at(value):
        kernel.assign(value)
        return np.mean(np.square(convnet.predict(image, verbose=0) - target))
    try:
        np.testing.assert_allclose(g[index], _central(loss_at, saved, index), rtol=2e-2,
                                   atol=1e-6)
    finally:
        kernel.assign(saved)
    # weights not read, or outside the tape, have no gradient
    other = keras.Variable(np.ones(3, np.float32))
    with keras.GradientTape(persistent=True) as tape:
        loss = ops.sum(convnet(image))
    assert tape.gradient(loss, other) is None
    np.testing.assert_array_equal(tape.gradient(loss, other, unconnected_gradients="zero"),
                                  np.zeros(3))


def test_watch_refuses_what_it_cannot_watch():
    with keras.GradientTape() as tape:
        with pytest.raises(TypeError, match="float array or a Variable"):
            tape.watch("not a tensor")
        # integers: TensorFlow's warning, and no gradient
        ids = np.arange(3)
        with pytest.warns(UserWarning, match="floating"):
            tape.watch(ids)
        y = ops.sum(ids * 2)
    assert tape.gradient(y, ids) is None


def test_model_called_without_training_on_a_tape_uses_each_layers_default():
    """Keras 3's rule inside a custom training loop: ``model(x)`` with no
    ``training`` augments (the augmentation layers' default) while Dropout
    and BatchNormalization compute as at inference, also in a nested model;
    the gradients are those of that computation."""
    keras.utils.set_random_seed(3)
    augment = keras.Sequential([layers.RandomFlip("horizontal")])
    inp = keras.Input((3, 4, 1))
    h = augment(inp)
    h = layers.Flatten()(h)
    h = layers.BatchNormalization()(layers.Dropout(0.5)(h))
    model = keras.Model(inp, layers.Dense(2)(h))
    x = np.arange(24, dtype="float32").reshape(2, 3, 4, 1)
    plain, flipped = model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0)
    seen = set()
    for _ in range(12):
        with keras.GradientTape() as tape:
            y = model(x)
            loss = ops.sum(y * y)
        got = y.numpy()
        for row in range(2):
            same = np.allclose(got[row], plain[row], atol=1e-5)
            assert same or np.allclose(got[row], flipped[row], atol=1e-5)
            seen.add(same)
        grads = tape.gradient(loss, model.trainable_weights)
        kernel_grad = np.asarray(grads[-2])
        # y = f @ W + b with f the (fixed, inference) features of each row
        feats = keras.Model(inp, model.layers[-2].output).predict(
            np.where(np.array([np.allclose(got[r], plain[r], atol=1e-5)
                               for r in range(2)])[:, None, None, None], x, x[:, :, ::-1]),
            verbose=0)
        np.testing.assert_allclose(kernel_grad, 2 * feats.T @ got, rtol=1e-4, atol=1e-4)
    assert seen == {True, False}
    with keras.GradientTape():
        np.testing.assert_allclose(model(x, training=False).numpy(), plain, atol=1e-5)
