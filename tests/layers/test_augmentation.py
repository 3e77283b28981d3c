"""The image augmentation layers against Keras 3 (NumPy backend) where the
draw can be pinned (a factor whose bounds are equal) or the transform
compared given the same parameters, and by their statistics otherwise;
seeds, inactivity at inference, training inside fit, gradients, configs,
saving and the TFLite export."""

import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.layers import augmentation
from pynn.models.node import CallContext

FILL_MODES = ["reflect", "wrap", "constant", "nearest"]


def images(n=4, h=9, w=13, c=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, h, w, c)).astype(np.float32)


def close(a, b, atol=1e-4):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=atol)


# ------------------------------------------------------------ against Keras

@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_warp_matches_keras_affine_transform(keras, fill_mode, interpolation):
    """The same transforms (Keras's a0..b2 rows) give Keras's pixels in
    every fill mode: its 'constant' and 'wrap' are scipy's grid modes."""
    x = images(5, 9, 13, 3)
    g = np.random.default_rng(1)
    t = np.concatenate([augmentation.rotation_transforms(g.uniform(-180, 180, 2), 9, 13),
                        augmentation.zoom_transforms(g.uniform(0.5, 1.5, 2),
                                                     g.uniform(0.5, 1.5, 2), 9, 13),
                        augmentation.translation_transforms([3.3], [-4.6])])
    layer = layers.RandomRotation(0.1, fill_mode=fill_mode, interpolation=interpolation,
                                  fill_value=0.7)
    ours = layer.warp(x, t)
    theirs = keras.ops.image.affine_transform(x, np.concatenate([t, np.zeros((5, 2))], 1)
                                              .astype(np.float32),
                                              interpolation=interpolation,
                                              fill_mode=fill_mode, fill_value=0.7)
    close(ours, theirs, atol=2e-4 if interpolation == "bilinear" else 0)


def pinned_pair(keras, make):
    x = images(3, 9, 13, 2, seed=5)
    ours = make(layers)(x, training=True)
    theirs = make(keras.layers)(x, training=True)
    return ours, np.asarray(theirs)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("factor", [(0.1, 0.1), (-0.3, -0.3), (0.25, 0.25)])
def test_rotation_with_a_pinned_angle_matches_keras(keras, fill_mode, factor):
    ours, theirs = pinned_pair(keras, lambda L: L.RandomRotation(factor, fill_mode=fill_mode,
                                                                 fill_value=0.5))
    close(ours, theirs)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("height, width", [((0.3, 0.3), None), ((-0.4, -0.4), (0.2, 0.2))])
def test_zoom_with_pinned_factors_matches_keras(keras, fill_mode, height, width):
    ours, theirs = pinned_pair(keras, lambda L: L.RandomZoom(height, width,
                                                             fill_mode=fill_mode))
    close(ours, theirs)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_translation_with_pinned_factors_matches_keras(keras, fill_mode, interpolation):
    ours, theirs = pinned_pair(keras, lambda L: L.RandomTranslation(
        (0.15, 0.15), (-0.27, -0.27), fill_mode=fill_mode, interpolation=interpolation))
    close(ours, theirs)


def test_brightness_with_a_pinned_delta_matches_keras(keras):
    x = images(3) * 255
    for factor, value_range in [((0.1, 0.1), (0, 255)), ((-0.3, -0.3), (20, 200))]:
        ours = layers.RandomBrightness(factor, value_range=value_range)(x, training=True)
        theirs = keras.layers.RandomBrightness(factor, value_range=value_range)(x,
                                                                                training=True)
        close(ours, theirs, atol=1e-3)


def test_crop_at_inference_matches_keras_smart_resize(keras):
    """Keras 3 documents RandomCrop at inference as the central window of
    the target's aspect ratio, resized: its Resizing(crop_to_aspect_ratio)."""
    x = images(2, 11, 16, 3)
    for h, w in [(5, 8), (7, 7), (11, 16), (20, 9)]:
        ours = layers.RandomCrop(h, w)(x, training=False)
        theirs = keras.layers.Resizing(h, w, crop_to_aspect_ratio=True)(x)
        close(ours, theirs)


# ------------------------------------------------------------- statistics

def test_flip_flips_about_half_the_images_whole():
    x = images(400, 4, 5, 2)
    for mode, flip in [("horizontal", lambda a: a[:, ::-1]), ("vertical", lambda a: a[::-1]),
                       ("horizontal_and_vertical", lambda a: a[::-1, ::-1])]:
        y = layers.RandomFlip(mode, seed=3)(x, training=True)
        same = np.array([np.array_equal(y[i], x[i]) for i in range(400)])
        flipped = np.array([np.array_equal(y[i], flip(x[i])) for i in range(400)])
        assert np.all(same | flipped)
        assert 0.4 < flipped.mean() < 0.6


def test_rotation_angles_spread_over_the_factor():
    """A dot off-centre ends up at an angle uniform in the factor's range."""
    n, size = 300, 41
    x = np.zeros((n, size, size, 1), np.float32)
    x[:, 20, 35] = 1.0  # 15 pixels right of the centre
    y = layers.RandomRotation((-0.1, 0.2), fill_mode="constant", seed=4)(x, training=True)
    rows, cols = np.indices((size, size))
    w = y[..., 0]
    r = (w * rows).sum((1, 2)) / w.sum((1, 2)) - 20
    c = (w * cols).sum((1, 2)) / w.sum((1, 2)) - 20
    turns = np.arctan2(-r, c) / (2 * np.pi)  # counter-clockwise, rows point down
    assert turns.min() > -0.1 - 0.01 and turns.max() < 0.2 + 0.01
    assert abs(turns.mean() - 0.05) < 0.02


def test_contrast_keeps_the_mean_and_scales_deviations_within_the_factor():
    x = images(200, 6, 7, 3) * 100 + 50
    y = layers.RandomContrast((0.3, 0.5), value_range=(-1e4, 1e4), seed=1)(x, training=True)
    close(y.mean((1, 2)), x.mean((1, 2)), atol=1e-3)
    dev_x = x - x.mean((1, 2), keepdims=True)
    dev_y = y - y.mean((1, 2), keepdims=True)
    f = (dev_y * dev_x).sum((1, 2, 3)) / (dev_x ** 2).sum((1, 2, 3))
    close(dev_y, f[:, None, None, None] * dev_x, atol=1e-2)
    assert f.min() >= 0.7 - 1e-4 and f.max() <= 1.5 + 1e-4 and f.std() > 0.1
    # a number f gives Keras 3's range (0, f): factors in [1, 1 + f]
    assert layers.RandomContrast(0.2).factor == (0.0, 0.2)


def test_contrast_and_brightness_clip_to_the_value_range():
    x = images(50) * 255
    for layer in (layers.RandomContrast(0.9, seed=2), layers.RandomBrightness(0.9, seed=2)):
        y = layer(x, training=True)
        assert y.min() >= 0 and y.max() <= 255 and not np.allclose(y, x)


def test_crop_takes_a_window_of_each_image():
    x = images(60, 10, 12, 2)
    y = layers.RandomCrop(6, 5, seed=9)(x, training=True)
    starts = set()
    for i in range(60):
        hits = [(t, l) for t in range(5) for l in range(8)
                if np.array_equal(y[i], x[i, t:t + 6, l:l + 5])]
        assert hits
        starts.add(hits[0])
    assert len(starts) > 15  # each image has its own draw


# -------------------------------------------------------- seeds, inference

ALL = [lambda: layers.RandomFlip(), lambda: layers.RandomRotation(0.2),
       lambda: layers.RandomZoom(0.3, -0.2), lambda: layers.RandomTranslation(0.2, 0.1),
       lambda: layers.RandomContrast(0.5), lambda: layers.RandomBrightness(0.3)]


@pytest.mark.parametrize("make", ALL + [lambda: layers.RandomCrop(5, 7)])
def test_seeded_layers_repeat_and_global_seed_reproduces(make):
    x = images(8) * 255
    a, b = make(), make()
    a.seed = b.seed = 5
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))  # the next draw differs
    pynn.utils.set_random_seed(3)
    one = make()(x, training=True)
    pynn.utils.set_random_seed(3)
    np.testing.assert_array_equal(make()(x, training=True), one)


@pytest.mark.parametrize("make", ALL)
def test_identity_at_inference_and_single_images(make):
    x = images(3) * 255
    layer = make()
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert layer(x[0], training=True).shape == x[0].shape
    np.testing.assert_array_equal(layer(x[0], training=False), x[0])
    inp = pynn.Input((9, 13, 3))
    model = pynn.Model(inp, make()(inp))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(model(x, training=False), x)
    assert not pynn.models.passes.inference_program(model).steps  # dropped


def augmented_model():
    inp = pynn.Input((12, 12, 3))
    x = layers.RandomFlip("horizontal")(inp)
    x = layers.RandomRotation(0.1)(x)
    x = layers.RandomZoom(0.2)(x)
    x = layers.RandomTranslation(0.1, 0.1)(x)
    x = layers.RandomContrast(0.2)(x)
    x = layers.RandomBrightness(0.1)(x)
    x = layers.RandomCrop(10, 10)(x)
    x = layers.Rescaling(1 / 255)(x)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return pynn.Model(inp, layers.Dense(2, activation="softmax")(x))


def test_a_model_with_augmentation_trains_and_predicts_deterministically():
    pynn.utils.set_random_seed(1)
    x = images(32, 12, 12, 3) * 255
    y = (x[..., 0].mean((1, 2)) > 127).astype(np.int64)
    model = augmented_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    p = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), p)
    model.evaluate(x, y, verbose=0)
    # inference: only the crop (a resize to 10 x 10) of the augmentation is left
    kinds = [type(s.layer).__name__ for s in
             pynn.models.passes.inference_program(model).steps]
    assert not any(k.startswith("Random") and k != "RandomCrop" for k in kinds)


def run_backward(layer, x, dy):
    ctx = CallContext()
    y = layer.forward(ctx, x, True)
    return y, layer.backward(ctx, dy, True), ctx


def test_gradients_of_flip_brightness_contrast_and_crop():
    x = images(6, 5, 7, 2) * 255
    dy = images(6, 5, 7, 2, seed=1) - 0.5
    # flips: the gradient is flipped like the image
    y, dx, ctx = run_backward(layers.RandomFlip("horizontal", seed=1), x, dy)
    for i in range(6):
        np.testing.assert_array_equal(dx[i], dy[i, :, ::-1] if ctx.flips[i] else dy[i])
    # brightness: passes where not clipped
    y, dx, ctx = run_backward(layers.RandomBrightness(0.5, seed=2), x, dy)
    np.testing.assert_array_equal(dx, np.where((y > 0) & (y < 255), dy, 0))
    # contrast: the Jacobian-vector product against finite differences of
    # the same transform (the factor kept from the forward)
    layer = layers.RandomContrast(0.5, value_range=(-1e5, 1e5), seed=3)
    y, dx, ctx = run_backward(layer, x.astype(np.float64), dy)
    f = ctx.contrast.astype(np.float64)

    def contrast(a):
        m = a.mean((1, 2), keepdims=True)
        return (a - m) * f + m
    v = images(6, 5, 7, 2, seed=2).astype(np.float64)
    eps = 1e-3
    jv = (contrast(x + eps * v) - contrast(x - eps * v)) / (2 * eps)
    close((dx * v).sum(), (dy * jv).sum(), atol=1e-2)
    # crop: the gradient lands in each image's window
    layer = layers.RandomCrop(3, 4, seed=4)
    dyc = images(6, 3, 4, 2, seed=3)
    y, dx, ctx = run_backward(layer, x, dyc)
    for i, (t, l) in enumerate(ctx.starts):
        expected = np.zeros((5, 7, 2), np.float32)
        expected[t:t + 3, l:l + 4] = dyc[i]
        np.testing.assert_array_equal(dx[i], expected)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_warp_gradients_are_the_transpose_of_the_warp(fill_mode, interpolation):
    """The warps are linear in the image (fill_value 0): <warp(x), dy> equals
    <x, gradient(dy)> for every mode, wide moves sending pixels past the edges."""
    x = images(4, 6, 8, 2)
    dy = images(4, 6, 8, 2, seed=5) - 0.5
    for layer in (layers.RandomRotation(0.4, fill_mode, interpolation, seed=2),
                  layers.RandomZoom((-0.5, 0.6), fill_mode=fill_mode,
                                    interpolation=interpolation, seed=3),
                  layers.RandomTranslation(0.6, 0.6, fill_mode, interpolation, seed=4)):
        y, dx, ctx = run_backward(layer, x, dy)
        assert dx.shape == x.shape and dx.dtype == np.float32
        close((np.asarray(y, np.float64) * dy).sum(), (x.astype(np.float64) * dx).sum(),
              atol=1e-4)


def test_a_warp_after_a_trainable_layer_trains_it():
    inp = pynn.Input((6, 6, 1))
    x = layers.Conv2D(1, 1, padding="same", kernel_initializer="ones")(inp)
    x = layers.RandomRotation(0.2, name="spin", seed=1)(x)
    model = pynn.Model(inp, layers.GlobalAveragePooling2D()(x))
    model.compile(pynn.optimizers.SGD(0.1), "mse")
    before = model.get_weights()[0].copy()
    history = model.fit(images(8, 6, 6, 1), np.full((8, 1), 2.0, np.float32), epochs=5,
                        verbose=0)
    assert not np.array_equal(model.get_weights()[0], before)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("make, message", [
    (lambda: layers.RandomFlip("diagonal"), "mode"),
    (lambda: layers.RandomRotation(1.5), "factor"),
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), "fill_mode"),
    (lambda: layers.RandomZoom(-1.0), "height_factor"),
    (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), "interpolation"),
    (lambda: layers.RandomTranslation(0.1, (0.1, 0.2, 0.3)), "width_factor"),
    (lambda: layers.RandomContrast(-0.2), "factor"),
    (lambda: layers.RandomBrightness(0.2, value_range=(0,)), "value_range"),
    (lambda: layers.RandomCrop(0, 4), "height"),
    (lambda: layers.RandomFlip(seed="x"), "seed"),
    (lambda: layers.RandomFlip(data_format="channels_middle"), "data_format"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_non_image_input_is_refused():
    with pytest.raises(ValueError, match="RandomFlip.*batch of images"):
        layers.RandomFlip()(pynn.Input((5, 3)))


# ------------------------------------------ training when none is given

def flips(x, out):
    """Which images of ``out`` are ``x``'s flipped left-right (each must be
    either that or the image as it was)."""
    flipped = np.array([np.array_equal(o, f) for o, f in zip(out, x[:, :, ::-1])])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(flipped | kept)
    return flipped


def test_a_layer_or_sequential_called_directly_augments():
    # Keras 3: call(..., training=True) is the layers' default, so
    # ``data_augmentation(images)`` augments, as the books plot it.
    x = images(8)
    pynn.utils.set_random_seed(2)
    flipped = flips(x, layers.RandomFlip("horizontal", seed=4)(x))
    assert 0 < flipped.sum() < 8
    for data_augmentation in (pynn.Sequential([layers.RandomFlip("horizontal", seed=4)]),
                              pynn.Sequential([pynn.Input((9, 13, 3)),
                                               layers.RandomFlip("horizontal", seed=4)])):
        out = data_augmentation(x)
        np.testing.assert_array_equal(flips(x, out), flipped)  # the same seed, the same draw
        np.testing.assert_array_equal(data_augmentation(x, training=False), x)
        np.testing.assert_array_equal(data_augmentation.predict(x, verbose=0), x)


def side_by_side(lib):
    """A model with a flip, a Dropout and a BatchNormalization side by
    side, each on the input."""
    inp = lib.Input((9, 13, 3))
    outs = [lib.layers.RandomFlip("horizontal", seed=1)(inp), lib.layers.Dropout(0.5)(inp),
            lib.layers.BatchNormalization(momentum=0.0)(inp)]
    return lib.Model(inp, outs)


def behaviour(lib, call):
    """What ``call(model, x)`` does to a fresh side_by_side model: whether
    some image is flipped, whether Dropout drops, whether the
    normalization computes as at inference, whether its moving mean
    moved."""
    x = images(8) * 10
    model = side_by_side(lib)
    flip, drop, norm = [np.asarray(o) for o in call(model, x)]
    moving_mean = np.asarray(model.layers[-1].moving_mean)
    return {"flips": not np.array_equal(flip, x), "drops": not np.array_equal(drop, x),
            "bn_inference": np.allclose(norm, x / np.sqrt(1 + 1e-3), rtol=1e-5),
            "bn_moved": bool(np.any(moving_mean != 0))}


CALLS = {
    "model(x)": lambda m, x: m(x),
    "model(x, training=None)": lambda m, x: m(x, training=None),
    "model(x, training=False)": lambda m, x: m(x, training=False),
    "model(x, training=True)": lambda m, x: m(x, training=True),
    "predict": lambda m, x: m.predict(x, verbose=0),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_training_resolves_as_keras_does(keras, call):
    ours = behaviour(pynn, CALLS[call])
    assert ours == behaviour(keras, CALLS[call])
    # and what that is: without training only the augmentation trains
    want_training = call == "model(x, training=True)"
    assert ours == {"flips": call in ("model(x)", "model(x, training=None)",
                                      "model(x, training=True)"), "drops": want_training,
                    "bn_inference": not want_training, "bn_moved": want_training}


def test_nested_augmentation_and_explicit_node_flags():
    x = images(8)
    inp = pynn.Input((9, 13, 3))
    data_augmentation = pynn.Sequential([layers.RandomFlip("horizontal", seed=6)])
    model = pynn.Model(inp, layers.Dropout(0.9)(data_augmentation(inp)))
    pynn.utils.set_random_seed(2)
    out = model(x)  # the nested model's flip augments, the Dropout stays off
    assert 0 < flips(x, out).sum() < 8
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    # a node called with training=False stays at inference
    frozen = pynn.Model(inp, layers.RandomFlip("horizontal", seed=6)(inp, training=False))
    np.testing.assert_array_equal(frozen(x), x)
    # a model without augmentation computes as predict does
    plain = pynn.Model(inp, layers.Dropout(0.9)(inp))
    np.testing.assert_array_equal(plain(x), x)


def test_a_keras_style_layer_takes_its_call_default():
    class Shift(layers.Layer):
        def call(self, x, training=True):
            return x + 1.0 if training else x

    class Plain(layers.Layer):
        def call(self, x, training=None):
            return x + 1.0 if training else x

    x = np.zeros((2, 3), np.float32)
    for layer, by_default in ((Shift(), 1.0), (Plain(), 0.0)):
        np.testing.assert_array_equal(layer(x), x + by_default)
        inp = pynn.Input((3,))
        model = pynn.Model(inp, layer(inp))
        np.testing.assert_array_equal(model(x), x + by_default)
        np.testing.assert_array_equal(model(x, training=True), x + 1)
        np.testing.assert_array_equal(model.predict(x, verbose=0), x)


# ---------------------------------------------------------- saving, export

def test_pynn_file_round_trip(tmp_path):
    model = augmented_model()
    x = images(4, 12, 12, 3) * 255
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.pynn")
    loaded = pynn.models.load_model(tmp_path / "m.pynn")
    close(loaded.predict(x, verbose=0), expected, atol=1e-6)
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]


def test_tflite_export_leaves_the_augmentation_out(tmp_path):
    interpreter = pytest.importorskip("ai_edge_litert.interpreter")
    model = augmented_model()
    x = images(1, 12, 12, 3) * 255
    expected = model.predict(x, verbose=0)
    data = pynn.lite.TFLiteConverter.from_keras_model(model).convert()
    run = interpreter.Interpreter(model_content=data)
    run.allocate_tensors()
    run.set_tensor(run.get_input_details()[0]["index"], x)
    run.invoke()
    close(run.get_tensor(run.get_output_details()[0]["index"]), expected, atol=1e-5)
