"""Keras 3's further augmentation layers (pynn.layers.image_augmentation)
against Keras 3 on its NumPy backend: the same transformation (Keras's
own draw) gives Keras's pixels, the deterministic layers and pinned
factors give Keras's outputs; the draws by their statistics; then
inference, single images, seeds, configs, models, dataset.map and
files."""

import importlib.util

import numpy as np
import pytest

import pynn
from pynn import layers

ATOL = 1e-5


def images(n=4, h=9, w=13, c=3, seed=0, scale=1.0):
    return (np.random.default_rng(seed).uniform(0, 1, (n, h, w, c)) * scale).astype(np.float32)


def close(a, b, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=1e-5, atol=atol)


# ------------------------------------------- Keras's draw, Keras's pixels

# (make(L): the layer from pynn.layers or keras.layers, value scale)
GIVEN_TRANSFORMATION = {
    "grayscale": (lambda L: L.RandomGrayscale(0.5), 1),
    "hue": (lambda L: L.RandomHue(0.7, value_range=(0, 1)), 1),
    "hue-255": (lambda L: L.RandomHue((0.2, 0.9)), 255),
    "saturation": (lambda L: L.RandomSaturation((0.1, 0.9), value_range=(0, 1)), 1),
    "saturation-255": (lambda L: L.RandomSaturation(0.8), 255),
    "color_degeneration": (lambda L: L.RandomColorDegeneration(0.9, value_range=(0, 1)), 1),
    "sharpness": (lambda L: L.RandomSharpness((0.0, 1.0), value_range=(0, 1)), 1),
    "posterization": (lambda L: L.RandomPosterization(7, value_range=(0, 1)), 1),
    "posterization-255": (lambda L: L.RandomPosterization((2, 6)), 255),
    "invert": (lambda L: L.RandomInvert(0.5, value_range=(0, 1)), 1),
    "solarization": (lambda L: L.Solarization(0.3, (0.2, 0.6), value_range=(0, 1)), 1),
    "erasing": (lambda L: L.RandomErasing(1.0, value_range=(0, 1)), 1),
    "erasing-fill": (lambda L: L.RandomErasing(0.7, (0.1, 0.5), fill_value=[0.2, 0.5, 0.9],
                                               value_range=(0, 1)), 1),
    "shear-reflect": (lambda L: L.RandomShear(0.3, (0.1, 0.4)), 1),
    "shear-constant-nearest": (lambda L: L.RandomShear((0.2, 0.5), 0.2, fill_mode="constant",
                                                       interpolation="nearest",
                                                       fill_value=0.3), 1),
    "gaussian_blur": (lambda L: L.RandomGaussianBlur(0.7, (3, 5), (0.3, 0.9),
                                                     value_range=(0, 1)), 1),
    "gaussian_blur-255": (lambda L: L.RandomGaussianBlur(kernel_size=7), 255),
    "perspective": (lambda L: L.RandomPerspective(0.8, 0.6, fill_value=0.25), 1),
    "perspective-nearest": (lambda L: L.RandomPerspective(scale=0.3, interpolation="nearest"),
                            1),
    "mix_up": (lambda L: L.MixUp(0.5), 1),
    "cut_mix": (lambda L: L.CutMix(0.8), 1),
}


@pytest.mark.parametrize("case", list(GIVEN_TRANSFORMATION))
def test_keras_transformation_gives_keras_pixels(keras, case):
    make, scale = GIVEN_TRANSFORMATION[case]
    x = images(6, 9, 13, 3, seed=1, scale=scale)
    theirs = make(keras.layers)
    for i in range(3):
        t = theirs.get_random_transformation(x, training=True, seed=keras.random.SeedGenerator(i))
        want = np.asarray(theirs.transform_images(x, t, training=True))
        got = make(layers).transform_images(x, t, training=True)
        close(got, want, atol=ATOL * scale)
        assert got.dtype == np.float32 and got.shape == x.shape


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_sampling_matches_keras_map_coordinates(keras, fill_mode, interpolation):
    """The sampler of the projective and elastic warps reads the images as
    Keras's map_coordinates does, far outside them too."""
    x = images(2, 5, 7, 2, seed=6)
    g = np.random.default_rng(7)
    rows = g.uniform(-9, 14, (2, 4, 6)).astype(np.float32)
    cols = g.uniform(-12, 18, (2, 4, 6)).astype(np.float32)
    rows[0, 0, :3] = [0, 4, 2.5]  # on the pixels and half way
    got = layers.image_augmentation._sample(x, rows, cols, interpolation, fill_mode, 0.4)
    order = {"bilinear": 1, "nearest": 0}[interpolation]
    for b in range(2):
        for c in range(2):
            want = keras.ops.image.map_coordinates(x[b, :, :, c], [rows[b], cols[b]], order,
                                                   fill_mode=fill_mode, fill_value=0.4)
            close(got[b, ..., c], want)


def test_elastic_transform_reads_each_pixel_at_its_displacement():
    x = np.broadcast_to(np.arange(24, dtype=np.float32)[None, None, :, None],
                        (50, 24, 24, 1)).copy()  # each pixel holds its column
    layer = layers.RandomElasticTransform((1.0, 1.0), (0.5, 0.5), fill_mode="nearest",
                                          value_range=(-100, 100), seed=3)
    t = layer.get_random_transformation(x)
    y = layer.transform_images(x, t)
    # alpha = 24 * 0.1 * 0.5 times noise blurred with sigma = 24 * 0.05 * 0.5
    dx = t["dx"][..., None]
    assert 0.1 < np.abs(dx).mean() < 1.2 and np.abs(t["dy"]).mean() > 0.1
    inside = (x + dx >= 0) & (x + dx <= 23)
    close(y[inside], (x + dx)[inside], atol=1e-4)
    assert inside.mean() > 0.9
    layer = layers.RandomElasticTransform(scale=0.0)
    np.testing.assert_array_equal(layer(x, training=True), x)


def test_aug_mix_mixes_within_the_range():
    x = images(6, 8, 8, 3, seed=8, scale=255)
    layer = layers.AugMix(num_chains=2, chain_depth=2, seed=4)
    outs = [layer(x, training=True) for _ in range(4)]
    for y in outs:
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
    assert any(not np.allclose(y, x, atol=1e-3) for y in outs)
    assert len(layers.AugMix(all_ops=False)._ops) == 7


@pytest.mark.parametrize("case", ["mix_up", "cut_mix"])
def test_keras_transformation_mixes_labels_as_keras(keras, case):
    make, _ = GIVEN_TRANSFORMATION[case]
    x = images(6, 8, 10, 3)
    labels = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1]]
    theirs = make(keras.layers)
    t = theirs.get_random_transformation(x, training=True, seed=keras.random.SeedGenerator(3))
    close(make(layers).transform_labels(labels, t), theirs.transform_labels(labels, t))


@pytest.mark.parametrize("value_range, scale, offset", [((0, 255), 200, 20), ((0, 1), 0.5, 0.2),
                                                        ((-1, 1), 1.5, -0.7)])
def test_auto_contrast_and_equalization_equal_keras(keras, value_range, scale, offset):
    x = images(3, 7, 9, 3, seed=2) * scale + offset
    x[1, :, :, 2] = offset  # a constant channel is left as it is
    x[2] = np.round(x[2] * 4) / 4  # few distinct values
    for make in (lambda L: L.AutoContrast(value_range),
                 lambda L: L.Equalization(value_range),
                 lambda L: L.Equalization(value_range, bins=17)):
        want = np.asarray(make(keras.layers)(x, training=True))
        close(make(layers)(x, training=True), want, atol=ATOL * (value_range[1] - value_range[0]))
    # AutoContrast applies at inference too, as Keras's; Equalization does not
    close(layers.AutoContrast(value_range)(x, training=False),
          keras.layers.AutoContrast(value_range)(x, training=False))
    np.testing.assert_array_equal(layers.Equalization(value_range)(x, training=False), x)


# (make(L), value scale): factors pinned so the draw does not matter
PINNED = {
    "grayscale-all": (lambda L: L.RandomGrayscale(1.0), 1),
    "grayscale-none": (lambda L: L.RandomGrayscale(0.0), 1),
    "grayscale-one-channel": (lambda L: L.RandomGrayscale(1.0), 1),
    "hue-zero": (lambda L: L.RandomHue(0.0, value_range=(0, 1)), 1),
    "saturation-pinned": (lambda L: L.RandomSaturation((0.7, 0.7)), 255),
    "saturation-gray": (lambda L: L.RandomSaturation((0.0, 0.0), value_range=(0, 1)), 1),
    "color_degeneration": (lambda L: L.RandomColorDegeneration((0.6, 0.6), value_range=(0, 1)),
                           1),
    "sharpness": (lambda L: L.RandomSharpness((0.8, 0.8)), 255),
    "posterization": (lambda L: L.RandomPosterization((3, 3), value_range=(0, 1)), 1),
    "invert": (lambda L: L.RandomInvert((1.0, 1.0), value_range=(0, 1)), 1),
    "solarization-default": (lambda L: L.Solarization(value_range=(0, 1)), 1),
    "color_jitter": (lambda L: L.RandomColorJitter((0, 1), brightness_factor=(0.1, 0.1),
                                                   contrast_factor=0.0,
                                                   saturation_factor=(0.6, 0.6)), 1),
    "rand_augment-no_ops": (lambda L: L.RandAugment(num_ops=0), 255),
}


@pytest.mark.parametrize("case", list(PINNED))
def test_pinned_factors_equal_keras(keras, case):
    make, scale = PINNED[case]
    x = images(4, 7, 9, 1 if case == "grayscale-one-channel" else 3, seed=3, scale=scale)
    want = np.asarray(make(keras.layers)(x, training=True))
    close(make(layers)(x, training=True), want, atol=ATOL * scale)


def test_rand_augment_applies_one_of_keras_operations(keras):
    """With factor 0 every operation is fixed: each output is one of them
    (as Keras's layers compute them), and the picks vary."""
    x = images(3, 8, 8, 3, seed=4)
    kl = keras.layers
    vr = (0, 1)
    candidates = [np.asarray(make()(x, training=True)) for make in (
        lambda: kl.RandomBrightness(0.0, value_range=vr),
        lambda: kl.RandomSharpness(0.0, value_range=vr),
        lambda: kl.RandomPosterization(1, value_range=vr),
        lambda: kl.Solarization(0.0, 0.0, value_range=vr),
        lambda: kl.AutoContrast(vr), lambda: kl.Equalization(vr))]
    layer = layers.RandAugment(vr, num_ops=1, factor=0.0, seed=6)
    picked = set()
    for _ in range(40):
        y = layer(x, training=True)
        hits = [i for i, c in enumerate(candidates) if np.allclose(y, c, atol=1e-5)]
        assert hits or np.allclose(y, x, atol=1e-5)  # the warps and colour ops at 0
        picked.update(hits or ["identity"])
    assert len(picked) >= 5


# ------------------------------------------------------------- statistics

def test_grayscale_and_invert_pick_images_at_their_rate():
    x = images(400, 3, 4, 3)
    y = layers.RandomGrayscale(0.3, seed=1)(x, training=True)
    gray = np.all(y == y[..., :1], axis=(1, 2, 3))
    assert 0.22 < gray.mean() < 0.38
    np.testing.assert_array_equal(y[~gray], x[~gray])
    y = layers.RandomInvert(0.6, value_range=(0, 1), seed=2)(x, training=True)
    inverted = np.all(np.isclose(y, 1 - x), axis=(1, 2, 3))
    # probability drawn in [0, 0.6]: on average 0.3
    assert 0.22 < inverted.mean() < 0.38
    np.testing.assert_array_equal(y[~inverted], x[~inverted])


def test_hue_turns_within_the_factor_and_keeps_saturation_and_value():
    x = images(300, 2, 2, 3, seed=5)
    y = layers.RandomHue((0.2, 0.6), value_range=(0, 1), seed=3)(x, training=True)
    hx, hy = layers.image_augmentation.rgb_to_hsv(x), layers.image_augmentation.rgb_to_hsv(y)
    close(hy[..., 1:], hx[..., 1:], atol=1e-4)
    turn = (hy[:, 0, 0, 0] - hx[:, 0, 0, 0] + 0.5) % 1 - 0.5
    assert np.all(np.abs(np.abs(turn) - 0.2) < 0.1 + 1e-4)  # |turn| in [0.1, 0.3]
    assert 0.4 < (turn > 0).mean() < 0.6


def test_erasing_boxes_cover_the_scale_and_fill_within_the_range():
    x = images(300, 20, 20, 1)
    y = layers.RandomErasing((1.0, 1.0), (0.1, 0.3), fill_value=-5.0, value_range=(0, 1),
                             seed=4)(x, training=True)
    erased = (y == 0).mean((1, 2, 3))  # the fill clipped to the range's 0
    # sides sqrt(s) of the image's: the box's area is s of it, up to whole pixels
    assert erased.min() > 0.03 and erased.max() < 0.45
    assert abs(erased.mean() - 0.2) < 0.04
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept])


def test_mix_up_makes_convex_pairs_with_beta_weights():
    x = np.eye(200, dtype=np.float32).reshape(200, 1, 1, 200)  # image i is one-hot at i
    y = layers.MixUp(0.4, seed=5)(x, training=True)[:, 0, 0]
    close(y.sum(1), np.ones(200), atol=1e-5)
    w = y[np.arange(200), np.arange(200)]
    # w from Beta(0.4, 0.4) (or 1 where an image is paired with itself)
    assert abs(w.mean() - 0.5) < 0.08 and (w < 0.1).mean() > 0.15
    assert np.all((y > 1e-6).sum(1) <= 2)


def test_cut_mix_pastes_a_box_of_another_image_and_mixes_labels_by_area():
    n = 100
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None],
                        (n, 10, 12, 2)).copy()
    labels = np.eye(n, dtype=np.float32)
    out = layers.CutMix(seed=6)({"images": x, "labels": labels})
    y, mixed = out["images"], out["labels"]
    own = (y == x).mean((1, 2, 3))
    for i in range(n):
        others = set(np.unique(y[i])) - {float(i)}
        assert len(others) <= 1  # one other image's box
        if others:
            # the box's area (Keras's label weight) and its whole pixels
            # differ by less than a row and a column
            j = int(others.pop())
            assert abs(mixed[i, j] - (1 - own[i])) < 1 / 10 + 1 / 12
    close(mixed.sum(1), np.ones(n))
    assert 0.3 < own.mean() < 0.7 and 0.1 < (own < 1).mean() < 0.9


def test_shear_flips_the_sign_half_the_time():
    layer = layers.RandomShear(0.3, 0.0, seed=1)
    t = layer.get_random_transformation(images(400))
    sx = t["shear_factor"][:, 0]
    assert np.all(np.abs(sx) <= 0.3) and np.all(t["shear_factor"][:, 1] == 0)
    assert 0.4 < (sx > 0).mean() < 0.6


# --------------------------------------- inference, images, seeds, configs

ALL = {
    "RandomGrayscale": lambda: layers.RandomGrayscale(),
    "RandomHue": lambda: layers.RandomHue(0.5),
    "RandomSaturation": lambda: layers.RandomSaturation(0.5),
    "RandomColorJitter": lambda: layers.RandomColorJitter(brightness_factor=0.2,
                                                          contrast_factor=0.3,
                                                          saturation_factor=0.4,
                                                          hue_factor=0.1),
    "RandomColorDegeneration": lambda: layers.RandomColorDegeneration(0.5),
    "RandomSharpness": lambda: layers.RandomSharpness(0.5),
    "RandomPosterization": lambda: layers.RandomPosterization(6),
    "RandomInvert": lambda: layers.RandomInvert(),
    "Solarization": lambda: layers.Solarization(0.3, 0.5),
    "Equalization": lambda: layers.Equalization(),
    "RandomErasing": lambda: layers.RandomErasing(),
    "RandomShear": lambda: layers.RandomShear(0.3, 0.2),
    "MixUp": lambda: layers.MixUp(),
    "CutMix": lambda: layers.CutMix(),
    "RandAugment": lambda: layers.RandAugment(num_ops=3),
    "AugMix": lambda: layers.AugMix(chain_depth=2),
    "RandomGaussianBlur": lambda: layers.RandomGaussianBlur(),
    "RandomPerspective": lambda: layers.RandomPerspective(scale=0.4),
    "RandomElasticTransform": lambda: layers.RandomElasticTransform(),
    "Pipeline": lambda: layers.Pipeline([layers.RandomFlip(), layers.RandomHue(0.3),
                                         layers.MixUp()]),
}
RANDOM = [k for k in ALL if k != "Equalization"]


@pytest.mark.parametrize("name", list(ALL))
def test_identity_at_inference_shapes_and_single_images(name):
    x = images(5, scale=255)
    layer = ALL[name]()
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.isfinite(y).all()
    assert layer(x[0]).shape == x[0].shape
    np.testing.assert_array_equal(layer(x[0], training=False), x[0])
    model = pynn.Sequential([pynn.Input((9, 13, 3)), ALL[name]()])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not pynn.models.passes.inference_program(model).steps


@pytest.mark.parametrize("name", RANDOM)
def test_seeded_layers_repeat_and_global_seed_reproduces(name):
    x = images(8, scale=255)
    a, b = ALL[name](), ALL[name]()
    for layer in (a, b):
        for sub in [layer] + [s for k in ("_steps", "_ops", "layers")
                              for s in getattr(layer, k, [])]:
            sub.seed = 5
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    pynn.utils.set_random_seed(3)
    one = ALL[name]()(x, training=True)
    pynn.utils.set_random_seed(3)
    np.testing.assert_array_equal(ALL[name]()(x, training=True), one)
    assert any(not np.array_equal(one, ALL[name]()(x, training=True)) for _ in range(4))


@pytest.mark.parametrize("name", list(ALL) + ["AutoContrast"])
def test_config_round_trip_and_keras_reads_it(keras, name):
    layer = ALL[name]() if name in ALL else layers.AutoContrast((0, 1))
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    if name == "Pipeline":
        return  # its layers are pynn's configs: Keras reads them in a file
    keras_config = {k: v for k, v in config.items() if k != "name"}
    theirs = getattr(keras.layers, name).from_config(keras_config)
    if name == "RandomShear":  # pynn keeps the number given, Keras the pair it makes
        assert (theirs.x_factor, theirs.y_factor) == (layer.x_range, layer.y_range)
        keras_config.pop("x_factor"), keras_config.pop("y_factor")
    for key, got in theirs.get_config().items():
        if key in keras_config and key != "trainable":
            assert (list(got) if isinstance(got, tuple) else got) == keras_config[key], key


def test_a_model_with_the_layers_trains_and_saves(tmp_path):
    pynn.utils.set_random_seed(2)
    inp = pynn.Input((10, 10, 3))
    x = layers.Pipeline([layers.RandomGrayscale(0.2), layers.RandomHue(0.2),
                         layers.RandomSaturation(0.3)])(inp)
    for layer in (layers.RandomColorJitter(brightness_factor=0.1, contrast_factor=0.1),
                  layers.Solarization(0.1, (0.8, 1.0)), layers.RandomInvert(0.1),
                  layers.RandomShear(0.1), layers.RandomErasing(0.3),
                  layers.RandAugment(num_ops=2), layers.AugMix(chain_depth=1),
                  layers.RandomGaussianBlur(), layers.RandomPerspective(scale=0.2),
                  layers.RandomElasticTransform(), layers.MixUp(), layers.CutMix(),
                  layers.Equalization(bins=64), layers.AutoContrast(),
                  layers.Rescaling(1 / 255)):
        x = layer(x)
    x = layers.Conv2D(3, 3, activation="relu")(x)
    model = pynn.Model(inp, layers.Dense(2, activation="softmax")(
        layers.GlobalAveragePooling2D()(x)))
    model.compile("adam", "sparse_categorical_crossentropy")
    data = images(16, 10, 10, 3, scale=255)
    labels = (data.mean((1, 2, 3)) > 127).astype(np.int64)
    history = model.fit(data, labels, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    expected = model.predict(data, verbose=0)
    for suffix in ("pynn", "keras") if importlib.util.find_spec("h5py") else ("pynn",):
        model.save(tmp_path / f"m.{suffix}")
        loaded = pynn.models.load_model(tmp_path / f"m.{suffix}")
        close(loaded.predict(data, verbose=0), expected)
        assert [type(l).__name__ for l in loaded.layers] == \
            [type(l).__name__ for l in model.layers]


def test_keras_loads_and_runs_pynn_files(tmp_path, keras):
    model = pynn.Sequential([pynn.Input((6, 7, 3)), layers.AutoContrast((0, 1)),
                             layers.Pipeline([layers.RandomHue(0.3, (0, 1)),
                                              layers.RandomInvert(0.5, (0, 1))]),
                             layers.RandAugment((0, 1), seed=3)])
    x = images(2, 6, 7, 3)
    model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    close(theirs.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(l).__name__ for l in theirs.layers[1].layers] == ["RandomHue", "RandomInvert"]
    assert theirs.layers[2].get_config()["seed"] == 3


def test_dataset_map_with_images_and_labels():
    x = images(12, 6, 6, 3, scale=255)
    y = np.eye(3, dtype=np.float32)[np.arange(12) % 3]
    mix, jitter = layers.MixUp(seed=1), layers.RandomColorJitter(hue_factor=0.2, seed=2)
    ds = pynn.utils.Dataset.from_tensor_slices((x, y)).batch(4).map(
        lambda a, b: mix({"images": a, "labels": b})).map(
        lambda d: (jitter(d["images"]), d["labels"]))
    batches = list(ds)
    assert len(batches) == 3
    for a, b in batches:
        assert a.shape == (4, 6, 6, 3) and b.shape == (4, 3)
        close(b.sum(1), np.ones(4))
    # composite layers and a pipeline take the dict too
    batch = {"images": x[:4], "labels": y[:4]}
    for layer in (layers.RandAugment(seed=1), layers.AugMix(seed=2),
                  layers.Pipeline([layers.RandomFlip(), layers.CutMix(seed=3),
                                   layers.RandomColorJitter(hue_factor=0.1)])):
        out = layer(batch)
        assert out["images"].shape == x[:4].shape and out["labels"].shape == (4, 3)
        close(out["labels"].sum(1), np.ones(4))
    with pytest.raises(NotImplementedError, match="RandAugment.*call the layer"):
        layers.RandAugment().get_random_transformation(x)
    # a single image and its label (unbatched map)
    one = layers.RandomGrayscale(1.0)({"images": x[0], "labels": y[0]})
    assert one["images"].shape == x[0].shape and np.array_equal(one["labels"], y[0])


def test_gradient_is_refused_by_name_after_a_trainable_layer():
    inp = pynn.Input((4, 4, 3))
    x = layers.Conv2D(3, 1)(inp)
    x = layers.RandomHue(0.2, name="hue")(x)
    model = pynn.Model(inp, layers.GlobalAveragePooling2D()(x))
    model.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match="RandomHue 'hue'"):
        model.fit(images(4, 4, 4, 3), np.zeros((4, 3), np.float32), verbose=0)


def built_dense():
    dense = layers.Dense(2)
    dense(pynn.Input((3,)))
    return dense


@pytest.mark.parametrize("make, message", [
    (lambda: layers.RandomGrayscale(1.5), "factor"),
    (lambda: layers.RandomHue(-0.2), "factor"),
    (lambda: layers.RandomSaturation(0.2, value_range=(1,)), "value_range"),
    (lambda: layers.RandomPosterization(9), "factor"),
    (lambda: layers.RandomPosterization(2.5), "factor"),
    (lambda: layers.Solarization(1.5), "addition_factor"),
    (lambda: layers.Solarization(0.1, (0.2, 2.0)), "threshold_factor"),
    (lambda: layers.RandomShear(x_factor=-0.1), "x_factor"),
    (lambda: layers.RandomShear(0.1, fill_mode="mirror"), "fill_mode"),
    (lambda: layers.RandomErasing(scale=(0.1, 2)), "scale"),
    (lambda: layers.RandomErasing(fill_value=[1, 2]), "fill_value"),
    (lambda: layers.MixUp(alpha=0), "alpha"),
    (lambda: layers.CutMix(2.0), "factor"),
    (lambda: layers.RandAugment(num_ops=-1), "num_ops"),
    (lambda: layers.RandAugment(interpolation="bicubic"), "interpolation"),
    (lambda: layers.Equalization(bins=1), "bins"),
    (lambda: layers.RandomGaussianBlur(kernel_size=4), "kernel_size"),
    (lambda: layers.RandomGaussianBlur(sigma=2.0), "sigma"),
    (lambda: layers.RandomPerspective(scale=1.5), "scale"),
    (lambda: layers.RandomElasticTransform(fill_mode="edge"), "fill_mode"),
    (lambda: layers.AugMix(num_chains=0), "num_chains"),
    (lambda: layers.AutoContrast(data_format="channels_middle"), "data_format"),
    (lambda: layers.Pipeline([3]), "layers"),
    (lambda: layers.Pipeline([built_dense()]), "weights"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_colour_layers_need_rgb_images():
    with pytest.raises(ValueError, match="RandomHue.*3 channels.*9, 13, 2"):
        layers.RandomHue(0.2)(images(2, c=2), training=True)
    with pytest.raises(ValueError, match="RandomGrayscale.*channels"):
        layers.RandomGrayscale()(images(2, c=4), training=True)
    with pytest.raises(ValueError, match="MixUp.*'images'"):
        layers.MixUp()({"labels": np.zeros(3)})
