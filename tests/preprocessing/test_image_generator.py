"""ImageDataGenerator on arrays: every transform against Keras's own
definitions (its apply_affine_transform written out with scipy, and Keras
itself where installed), each argument's effect, standardization and fit
statistics against NumPy, seeded reproducibility, bad arguments."""
import os
import warnings

import numpy as np
import pytest

import pynn
from pynn.preprocessing.image import ImageDataGenerator, NumpyArrayIterator

try:
    import scipy.ndimage as ndi
except ImportError:
    ndi = None


def keras_keras():
    """Keras's legacy generator on the NumPy backend, or a skip.  (It calls
    scipy.ndimage.interpolation, which newer scipy deprecates: the tests
    that use it ignore that warning.)"""
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasGenerator
    except Exception as e:  # keras, or jax/scipy under it, missing
        pytest.skip(f"Keras (with its NumPy backend) is not importable: {e}")
    return KerasGenerator


def keras_apply_transform(x, p, fill_mode="nearest", cval=0.0, order=1):
    """Keras 3.15's ImageDataGenerator.apply_transform for channels_last,
    written out from its source: the matrices, the centre offset, the x/y
    swap, scipy per channel; then channel shift, flips and brightness
    (without PIL's rounding to 8 bits)."""
    h, w = x.shape[:2]
    m = None
    if p["theta"] != 0:
        t = np.deg2rad(p["theta"])
        m = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    if p["tx"] != 0 or p["ty"] != 0:
        s = np.array([[1, 0, p["tx"]], [0, 1, p["ty"]], [0, 0, 1]])
        m = s if m is None else m @ s
    if p["shear"] != 0:
        sh = np.deg2rad(p["shear"])
        s = np.array([[1, -np.sin(sh), 0], [0, np.cos(sh), 0], [0, 0, 1]])
        m = s if m is None else m @ s
    if p["zx"] != 1 or p["zy"] != 1:
        s = np.array([[p["zx"], 0, 0], [0, p["zy"], 0], [0, 0, 1]])
        m = s if m is None else m @ s
    x = x.astype(np.float64)
    if m is not None:
        o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
        m = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]) @ m @ \
            np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
        m[:, [0, 1]] = m[:, [1, 0]]
        m[[0, 1]] = m[[1, 0]]
        x = np.stack([ndi.affine_transform(x[:, :, k], m[:2, :2], m[:2, 2], order=order,
                                           mode=fill_mode, cval=cval)
                      for k in range(x.shape[2])], -1)
    if p.get("channel_shift_intensity") is not None:
        x = np.clip(x + p["channel_shift_intensity"], x.min(), x.max())
    if p["flip_horizontal"]:
        x = x[:, ::-1]
    if p["flip_vertical"]:
        x = x[::-1]
    if p.get("brightness") is not None:
        lo, hi = x.min(), x.max()
        if lo < 0 or hi > 255:
            x = lo + np.clip((x - lo) * p["brightness"], 0, hi - lo)
        else:
            x = np.clip(x * p["brightness"], 0, 255)
    return x


def images(n=12, h=17, w=23, c=3, seed=0):
    return (np.random.default_rng(seed).random((n, h, w, c)) * 255).astype(np.float32)


AUGMENTATIONS = [
    dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=20,
         zoom_range=0.2, horizontal_flip=True, vertical_flip=True),
    dict(rotation_range=90, fill_mode="constant", cval=11.0, channel_shift_range=40),
    dict(zoom_range=(0.5, 1.6), fill_mode="reflect", brightness_range=(0.4, 1.4)),
    dict(rotation_range=25, shear_range=30, fill_mode="wrap", interpolation_order=0),
    dict(width_shift_range=[-3, 2, 5], height_shift_range=4, fill_mode="nearest"),
]


@pytest.mark.skipif(ndi is None, reason="scipy is not installed")
@pytest.mark.parametrize("kwargs", AUGMENTATIONS, ids=range(len(AUGMENTATIONS)))
def test_transforms_match_keras_definition(kwargs):
    gen = ImageDataGenerator(**kwargs)
    x = images(6, 17, 23, 3)
    for i, img in enumerate(x):
        p = gen.get_random_transform(img.shape, seed=i)
        ref = keras_apply_transform(img, p, gen.fill_mode, gen.cval, gen.interpolation_order)
        np.testing.assert_allclose(gen.apply_transform(img, p), ref, rtol=0, atol=2e-3)
        np.testing.assert_allclose(gen.random_transform(img, seed=i), ref, rtol=0, atol=2e-3)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kwargs", AUGMENTATIONS[:2] + AUGMENTATIONS[3:],
                         ids=[0, 1, 3, 4])
def test_seeded_flow_equals_keras(kwargs):
    """The same seed gives Keras's own batches: its parameter draws, its
    shuffling, its transforms (brightness aside, which Keras rounds)."""
    KerasGenerator = keras_keras()
    x = images(20, 19, 26, 3)
    y = np.arange(20)
    ours = ImageDataGenerator(**kwargs).flow(x, y, batch_size=6, seed=5)
    theirs = KerasGenerator(**kwargs).flow(x, y, batch_size=6, seed=5)
    for _ in range(5):
        (a, ya), (b, yb) = next(ours), next(theirs)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-3)
    for idx in (3, 0):
        (a, ya), (b, yb) = ours[idx], theirs[idx]
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-3)
    ours.on_epoch_end()
    theirs.on_epoch_end()
    np.testing.assert_array_equal(ours.index_array, theirs.index_array)


def test_random_parameters_are_keras_draws():
    """get_random_transform(seed) draws exactly what Keras draws."""
    KerasGenerator = keras_keras()
    for kwargs in AUGMENTATIONS:
        ours, theirs = ImageDataGenerator(**kwargs), KerasGenerator(**kwargs)
        for seed in range(4):
            a = ours.get_random_transform((20, 30, 3), seed=seed)
            b = theirs.get_random_transform((20, 30, 3), seed=seed)
            assert a.keys() == b.keys()
            for k in a:
                if b[k] is None:
                    assert a[k] is None
                else:
                    assert a[k] == pytest.approx(float(b[k]), rel=1e-12, abs=1e-12), k


# ------------------------------------------------------- each argument

def test_flips_with_probability_one():
    x = images(1)[0]
    gen = ImageDataGenerator()
    no_change = {"flip_horizontal": False}
    np.testing.assert_array_equal(gen.apply_transform(x, no_change), x)
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_horizontal": True}),
                                  np.flip(x, axis=1))
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_vertical": True}),
                                  np.flip(x, axis=0))
    both = gen.apply_transform(x, {"flip_horizontal": True, "flip_vertical": True})
    np.testing.assert_array_equal(both, x[::-1, ::-1])


@pytest.mark.parametrize("axis, name", [(1, "horizontal_flip"), (0, "vertical_flip")])
def test_random_flips_flip_about_half_the_images(axis, name):
    x = images(64, 9, 11, 3)
    out = next(ImageDataGenerator(**{name: True}).flow(x, batch_size=64, shuffle=False,
                                                       seed=1))
    flipped = [np.array_equal(o, np.flip(i, axis=axis)) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48


def test_rotation_quarter_turn():
    x = images(1, 9, 9, 1)[0]
    out = ImageDataGenerator().apply_transform(x, {"theta": 90})
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(0, 1)), atol=1e-3)


def test_rotation_centre_is_keras_for_non_square_images():
    """Keras holds (row w/2 - 0.5, column h/2 - 0.5) in place: a half turn
    of a 5x7 image maps output (r, c) to input (6 - r, 4 - c)."""
    x = images(1, 5, 7, 1)[0]
    out = ImageDataGenerator(fill_mode="constant", cval=-1.0).apply_transform(x, {"theta": 180})
    # (column 4 reads input column 0 up to rounding: cval or the pixel)
    np.testing.assert_allclose(out[2:, :4], x[4:1:-1, 4:0:-1], atol=1e-3)
    assert np.all(out[:2] == -1) and np.all(out[:, 5:] == -1)


def test_shifts_move_whole_pixels_keras_axes():
    """As in Keras, 'tx' (drawn from height_shift_range) moves columns and
    'ty' (from width_shift_range) moves rows: out[r, c] = x[r + ty, c + tx]."""
    x = images(1, 8, 10, 2)[0]
    gen = ImageDataGenerator(fill_mode="constant", cval=-1.0)
    out = gen.apply_transform(x, {"tx": 3, "ty": -2})
    np.testing.assert_array_equal(out[2:, :7], x[:6, 3:])
    assert np.all(out[:2] == -1) and np.all(out[:, 7:] == -1)


@pytest.mark.parametrize("kwargs", [
    dict(rotation_range=30), dict(width_shift_range=0.3), dict(height_shift_range=0.3),
    dict(width_shift_range=3), dict(height_shift_range=[2, 4]), dict(shear_range=30),
    dict(zoom_range=0.3), dict(zoom_range=[0.7, 0.9]), dict(channel_shift_range=50),
    dict(brightness_range=[0.3, 0.6]),
])
def test_each_augmentation_changes_images(kwargs):
    x = images(8, 16, 16, 3)
    out = next(ImageDataGenerator(**kwargs).flow(x, batch_size=8, shuffle=False, seed=3))
    changed = [not np.allclose(o, i, atol=1e-3) for o, i in zip(out, x)]
    assert sum(changed) >= 4    # an int shift range draws 0 a third of the time
    assert out.shape == x.shape and out.dtype == np.float32


def test_fill_modes_and_cval():
    x = images(1, 6, 6, 1)[0]
    shift = {"tx": 2}
    outs = {m: ImageDataGenerator(fill_mode=m, cval=7.0).apply_transform(x, shift)
            for m in ("constant", "nearest", "reflect", "wrap")}
    np.testing.assert_array_equal(outs["constant"][:, 4:], 7.0)
    np.testing.assert_array_equal(outs["nearest"][:, 4:], np.repeat(x[:, 5:], 2, axis=1))
    np.testing.assert_array_equal(outs["reflect"][:, 4:], x[:, [5, 4]])
    # scipy's wrap has period 5 on 6 columns: column 6 reads column 1, 7 reads 2
    np.testing.assert_array_equal(outs["wrap"][:, 4:], x[:, [1, 2]])


def test_channel_shift_and_brightness_definitions():
    x = images(1, 7, 8, 3)[0]
    gen = ImageDataGenerator()
    out = gen.apply_transform(x, {"channel_shift_intensity": 30.0})
    np.testing.assert_allclose(out, np.clip(x + 30, x.min(), x.max()), rtol=1e-6)
    out = gen.apply_transform(x, {"brightness": 1.7})
    np.testing.assert_allclose(out, np.clip(x * 1.7, 0, 255), rtol=1e-6)


def test_rescale_and_preprocessing_function_order():
    x = images(5, 6, 7, 3)
    seen = []

    def pre(img):
        seen.append(img.shape)
        return img + 10.0

    out = next(ImageDataGenerator(rescale=0.5, preprocessing_function=pre)
               .flow(x, batch_size=5, shuffle=False))
    assert seen == [(6, 7, 3)] * 5          # one image at a time, as in Keras
    np.testing.assert_allclose(out, (x + 10.0) * 0.5, rtol=1e-6)
    out = next(ImageDataGenerator(rescale=1 / 255).flow(x, batch_size=5, shuffle=False))
    np.testing.assert_allclose(out, x * np.float32(1 / 255), rtol=1e-6)


def test_samplewise_standardization():
    x = images(6, 8, 9, 3)
    out = next(ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
               .flow(x, batch_size=6, shuffle=False))
    xd = x.astype(np.float64)
    mean = xd.mean(axis=(1, 2, 3), keepdims=True)
    ref = (xd - mean) / ((xd - mean).std(axis=(1, 2, 3), keepdims=True) + 1e-6)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_featurewise_statistics_match_numpy():
    x = images(40, 9, 10, 3, seed=4)
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True,
                             rescale=1 / 255)
    gen.fit(x)
    xd = x.astype(np.float64) * (1 / 255)
    np.testing.assert_allclose(gen.mean.reshape(-1), xd.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gen.std.reshape(-1), xd.std(axis=(0, 1, 2)), rtol=1e-5)
    assert gen.mean.shape == (1, 1, 3) and gen.std.shape == (1, 1, 3)
    out = next(gen.flow(x, batch_size=40, shuffle=False))
    ref = (xd - xd.mean(axis=(0, 1, 2))) / (xd.std(axis=(0, 1, 2)) + 1e-6)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_fit_with_augmentation_is_seeded():
    x = images(10, 8, 8, 3)
    kwargs = dict(featurewise_center=True, rotation_range=30, zoom_range=0.3)
    a, b = ImageDataGenerator(**kwargs), ImageDataGenerator(**kwargs)
    a.fit(x, augment=True, rounds=3, seed=7)
    b.fit(x, augment=True, rounds=3, seed=7)
    np.testing.assert_array_equal(a.mean, b.mean)
    plain = ImageDataGenerator(featurewise_center=True)
    plain.fit(x)
    assert not np.allclose(a.mean, plain.mean)
    # the augmented statistics are those of the augmented copies
    c = ImageDataGenerator(rotation_range=30, zoom_range=0.3)
    params = c._draw(np.random.RandomState(7), 30, x.shape[1:])
    copies = np.concatenate([c._transform_batch(x, {k: None if v is None else
                                                    v[r * 10:(r + 1) * 10]
                                                    for k, v in params.items()},
                                                standardize=False) for r in range(3)])
    np.testing.assert_allclose(a.mean.reshape(-1), copies.astype(np.float64).mean((0, 1, 2)),
                               rtol=1e-5)


def test_zca_whitening_matches_keras_formula():
    g = np.random.default_rng(0)
    for n in (200, 10):      # more samples than features, and fewer
        x = (g.random((n, 3, 4, 1)) @ np.ones((1, 1)) * 50 +
             g.random((n, 1, 1, 1)) * 100).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # zca_whitening sets featurewise_center
            gen = ImageDataGenerator(zca_whitening=True)
            gen.fit(x)
        flat = x.reshape(n, -1).astype(np.float64)
        flat = flat - flat.mean(axis=0).mean()      # the per-channel mean (one channel)
        u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
        ref = (u * (np.sqrt(n) / (s + 1e-6))) @ u.T
        if n >= 12:
            np.testing.assert_allclose(gen.zca_whitening_matrix, ref, rtol=1e-3, atol=1e-3)
            out = next(gen.flow(x, batch_size=n, shuffle=False)).reshape(n, -1)
            cov = out.T.astype(np.float64) @ out / n
            np.testing.assert_allclose(cov, np.eye(12), atol=2e-2)
        else:
            assert np.all(np.isfinite(gen.zca_whitening_matrix))


def test_standardize_without_fit_warns():
    gen = ImageDataGenerator(featurewise_center=True)
    with pytest.warns(UserWarning, match="hasn't been fit"):
        next(gen.flow(images(2), batch_size=2))


def test_public_standardize_is_keras_in_place():
    gen = ImageDataGenerator(rescale=2.0, samplewise_center=True)
    x = images(1)[0].copy()
    ref = x * 2.0 - (x * 2.0).mean()
    out = gen.standardize(x)
    assert out is x
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-3)


def test_dtype_and_interpolation_order():
    x = images(4, 10, 10, 3)
    out = next(ImageDataGenerator(rotation_range=30, dtype="float64").flow(x, batch_size=4))
    assert out.dtype == np.float64
    near = ImageDataGenerator(interpolation_order=0).apply_transform(x[0], {"theta": 17})
    bilin = ImageDataGenerator(interpolation_order=1).apply_transform(x[0], {"theta": 17})
    # nearest takes input pixel values as they are
    assert np.isin(near, x[0]).all() and not np.isin(bilin, x[0]).all()


# ---------------------------------------------------------- the flows

def test_flow_labels_weights_and_extra_inputs():
    x = images(10, 5, 6, 3)
    y = np.arange(10) * 10
    w = np.linspace(0, 1, 10)
    misc = np.arange(10) + 100
    it = ImageDataGenerator().flow((x, misc), y, sample_weight=w, batch_size=4, shuffle=False)
    (bx, bm), by, bw = it[1]
    np.testing.assert_array_equal(bx, x[4:8])
    np.testing.assert_array_equal(bm, misc[4:8])
    np.testing.assert_array_equal(by, y[4:8])
    np.testing.assert_array_equal(bw, w[4:8])
    assert len(it) == 3 and it.n == 10 and it.batch_size == 4
    assert len(it[2][1]) == 2
    assert isinstance(it, pynn.utils.PyDataset) and isinstance(it, pynn.utils.Sequence)


def test_flow_shuffles_every_epoch_and_covers_the_data():
    x = images(10, 4, 4, 1)
    y = np.arange(10)
    it = ImageDataGenerator().flow(x, y, batch_size=3, seed=2)
    first = np.concatenate([it[i][1] for i in range(len(it))])
    assert sorted(first) == list(range(10))
    it.on_epoch_end()
    second = np.concatenate([it[i][1] for i in range(len(it))])
    assert sorted(second) == list(range(10)) and not np.array_equal(first, second)
    endless = ImageDataGenerator().flow(x, y, batch_size=4, seed=2)
    sizes = [len(next(endless)[1]) for _ in range(6)]
    assert sizes == [4, 4, 2, 4, 4, 2]
    assert iter(endless) is endless


def test_seeded_flow_is_reproducible_across_runs_and_threads():
    x = images(16, 24, 20, 3)
    kwargs = AUGMENTATIONS[0]
    before = pynn.get_num_threads()
    try:
        pynn.set_num_threads(1)
        one = [next(ImageDataGenerator(**kwargs).flow(x, batch_size=8, seed=11))
               for _ in range(2)]
        it = ImageDataGenerator(**kwargs).flow(x, batch_size=8, seed=11)
        one_seq = [next(it) for _ in range(3)]
        pynn.set_num_threads(2)
        it = ImageDataGenerator(**kwargs).flow(x, batch_size=8, seed=11)
        two_seq = [next(it) for _ in range(3)]
    finally:
        pynn.set_num_threads(before)
    np.testing.assert_array_equal(one[0], one[1])
    for a, b in zip(one_seq, two_seq):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(one_seq[0], one_seq[1])


def test_unseeded_flow_follows_set_random_seed():
    x = images(8, 10, 10, 3)
    runs = []
    for _ in range(2):
        pynn.utils.set_random_seed(3)
        runs.append(next(ImageDataGenerator(rotation_range=40).flow(x, batch_size=8)))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_validation_split_subsets():
    x = images(10, 4, 4, 1)
    y = np.array([0, 1] * 5)
    gen = ImageDataGenerator(validation_split=0.3)
    val = gen.flow(x, y, batch_size=10, subset="validation", shuffle=False)
    train = gen.flow(x, y, batch_size=10, subset="training", shuffle=False)
    assert val.n == 3 and train.n == 7
    np.testing.assert_array_equal(val[0][0], x[:3])
    np.testing.assert_array_equal(train[0][0], x[3:])
    with pytest.raises(ValueError, match="different number of classes"):
        gen.flow(x, np.sort(y), subset="training")
    assert gen.flow(x, np.sort(y), subset="training", ignore_class_split=True).n == 7


def test_save_to_dir(tmp_path):
    pytest.importorskip("PIL", reason="Pillow is not installed")
    x = images(3, 8, 8, 3)
    it = ImageDataGenerator(rotation_range=10).flow(x, batch_size=3, seed=1,
                                                   save_to_dir=str(tmp_path),
                                                   save_prefix="aug", save_format="png")
    next(it)
    saved = sorted(os.listdir(tmp_path))
    assert len(saved) == 3 and all(f.startswith("aug_") and f.endswith(".png") for f in saved)


# ------------------------------------------------------ bad arguments

@pytest.mark.parametrize("kwargs, match", [
    (dict(fill_mode="mirror"), "fill_mode"),
    (dict(zoom_range=(0.5, 1, 2)), "zoom_range"),
    (dict(zoom_range="big"), "zoom_range"),
    (dict(brightness_range=0.5), "brightness_range"),
    (dict(validation_split=1.5), "validation_split"),
    (dict(data_format="channels_first"), "channels_first"),
    (dict(interpolation_order=3), "interpolation_order"),
    (dict(width_shift_range=-0.1), "width_shift_range"),
    (dict(height_shift_range=[[1, 2]]), "height_shift_range"),
    (dict(dtype="int32"), "dtype"),
])
def test_bad_generator_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageDataGenerator(**kwargs)


def test_bad_generator_types():
    with pytest.raises(TypeError, match="rotation_range"):
        ImageDataGenerator(rotation_range="40")
    with pytest.raises(TypeError, match="preprocessing_function"):
        ImageDataGenerator(preprocessing_function=3)


def test_bad_flow_arguments():
    gen = ImageDataGenerator()
    x = images(4, 5, 5, 3)
    with pytest.raises(ValueError, match="rank 4"):
        gen.flow(x[0])
    with pytest.raises(ValueError, match="same length"):
        gen.flow(x, np.arange(3))
    with pytest.raises(ValueError, match="sample_weight"):
        gen.flow(x, np.arange(4), sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="subset"):
        gen.flow(x, subset="test")
    with pytest.raises(ValueError, match="batch_size"):
        gen.flow(x, batch_size=0)
    with pytest.raises(ValueError, match="seed"):
        gen.flow(x, seed=-1)
    with pytest.raises(ValueError, match="length"):
        gen.flow(x, batch_size=2)[2]
    with pytest.raises(ValueError, match="rank 4"):
        gen.fit(x[0])
    with pytest.raises(ValueError, match="unknown parameters"):
        gen.apply_transform(x[0], {"rotation": 3})
    with pytest.warns(UserWarning, match="channels"):
        NumpyArrayIterator(images(2, 4, 4, 5), None, gen)


def test_the_global_channels_first_setting_is_refused_not_mixed_up():
    # The default data_format is image_data_format(), as in Keras: a
    # program that set channels_first is told the iterators work in
    # channels_last, instead of having its (n, c, h, w) batches augmented
    # over the wrong axes.
    from pynn import backend
    before = backend.image_data_format()
    backend.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="set_image_data_format"):
            ImageDataGenerator(rotation_range=10)
        assert ImageDataGenerator(data_format="channels_last").data_format == "channels_last"
    finally:
        backend.set_image_data_format(before)
    assert ImageDataGenerator(rotation_range=10).data_format == "channels_last"
