"""Images read from class folders: flow_from_directory (Keras's legacy
DirectoryIterator) and image_dataset_from_directory, on a tree of drawn
PNG and JPEG shapes: labels for every class_mode and label_mode, the files
found and skipped, resizing, splits, errors that name the file or folder,
reproducibility."""
import os

import numpy as np
import pytest

import pynn
from pynn.preprocessing.image import DirectoryIterator, ImageDataGenerator
from pynn.utils import image_dataset_from_directory, load_img

pytest.importorskip("PIL", reason="Pillow is not installed")
from imagetree import CLASSES, draw_shape  # noqa: E402


def expected_files(files):
    """Keras's order: classes in order, files sorted within each."""
    return sorted(files, key=lambda f: (files[f], os.path.dirname(f), os.path.basename(f)))


def test_finds_images_and_skips_other_files(image_tree, capsys):
    root, files = image_tree
    it = ImageDataGenerator().flow_from_directory(root, target_size=(20, 24), batch_size=4)
    assert "Found 16 images belonging to 3 classes." in capsys.readouterr().out
    assert it.samples == it.n == 16 and it.num_classes == 3
    assert it.class_indices == {c: i for i, c in enumerate(CLASSES)}
    assert sorted(it.filenames) == sorted(files)
    assert it.filenames == expected_files(files)
    assert it.classes.dtype == np.int32
    assert list(it.classes) == [files[f] for f in it.filenames]
    assert it.filepaths == [os.path.join(root, f) for f in it.filenames]
    assert it.image_shape == (20, 24, 3) and len(it) == 4


@pytest.mark.parametrize("class_mode", ["categorical", "binary", "sparse", "input", None])
def test_labels_for_every_class_mode(image_tree, class_mode):
    root, files = image_tree
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        root, target_size=(18, 22), class_mode=class_mode, batch_size=16, shuffle=False)
    batch = it[0]
    x = batch if class_mode is None else batch[0]
    assert x.shape == (16, 18, 22, 3) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    labels = np.array([files[f] for f in it.filenames])
    # the image is the file, resized by PIL as load_img does
    ref = np.asarray(load_img(it.filepaths[5], target_size=(18, 22)), np.float32) / 255
    np.testing.assert_allclose(x[5], ref, rtol=1e-6)
    if class_mode is None:
        assert not isinstance(batch, tuple)
        return
    y = batch[1]
    if class_mode == "categorical":
        assert y.dtype == np.float32 and y.shape == (16, 3)
        np.testing.assert_array_equal(y, np.eye(3)[labels])
    elif class_mode in ("binary", "sparse"):
        assert y.dtype == np.float32 and y.shape == (16,)
        np.testing.assert_array_equal(y, labels)
    else:
        np.testing.assert_array_equal(y, x)
        assert y is not x


def test_color_modes_and_aspect_ratio(image_tree):
    root, _ = image_tree
    gen = ImageDataGenerator()
    gray = gen.flow_from_directory(root, target_size=(10, 12), color_mode="grayscale")
    assert next(gray)[0].shape[1:] == (10, 12, 1)
    rgba = gen.flow_from_directory(root, target_size=(10, 12), color_mode="rgba")
    assert next(rgba)[0].shape[1:] == (10, 12, 4)
    kept = gen.flow_from_directory(root, target_size=(10, 30), keep_aspect_ratio=True,
                                   shuffle=False, interpolation="bilinear")
    ref = load_img(kept.filepaths[0], target_size=(10, 30), keep_aspect_ratio=True,
                   interpolation="bilinear")
    np.testing.assert_array_equal(kept[0][0][0], np.asarray(ref, np.float32))


def test_classes_argument_and_subsets(image_tree):
    root, files = image_tree
    gen = ImageDataGenerator(validation_split=0.4)
    two = gen.flow_from_directory(root, classes=["square", "circle"], target_size=(8, 8))
    assert two.class_indices == {"square": 0, "circle": 1} and two.samples == 10
    train = gen.flow_from_directory(root, subset="training", target_size=(8, 8))
    val = gen.flow_from_directory(root, subset="validation", target_size=(8, 8))
    # per class folder: the first 40 % of its sorted files validate
    assert val.samples == 2 + 2 + 2 and train.samples == 3 + 3 + 4
    assert not set(train.filenames) & set(val.filenames)
    assert sorted(train.filenames + val.filenames) == sorted(files)


def test_seeded_batches_reproducible_across_threads(image_tree):
    root, _ = image_tree
    kwargs = dict(rotation_range=30, zoom_range=0.2, horizontal_flip=True)
    before = pynn.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            pynn.set_num_threads(threads)
            it = ImageDataGenerator(**kwargs).flow_from_directory(root, target_size=(24, 24),
                                                                  batch_size=5, seed=4)
            results.append([next(it) for _ in range(4)])
    finally:
        pynn.set_num_threads(before)
    for (xa, ya), (xb, yb) in zip(*results):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_save_to_dir_writes_the_batch(image_tree, tmp_path):
    root, _ = image_tree
    out = tmp_path / "seen"
    out.mkdir()
    it = ImageDataGenerator().flow_from_directory(root, target_size=(12, 12), batch_size=3,
                                                  save_to_dir=str(out), save_format="jpeg",
                                                  save_prefix="s")
    next(it)
    assert len(os.listdir(out)) == 3


def test_directory_errors(image_tree, tmp_path):
    root, _ = image_tree
    gen = ImageDataGenerator()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        gen.flow_from_directory(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images.*empty"):
        gen.flow_from_directory(str(tmp_path / "empty"))
    (tmp_path / "only_text" / "a").mkdir(parents=True)
    (tmp_path / "only_text" / "a" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="no images.*only_text"):
        gen.flow_from_directory(str(tmp_path / "only_text"))
    with pytest.raises(FileNotFoundError, match="hexagon"):
        gen.flow_from_directory(root, classes=["circle", "hexagon"])
    with pytest.raises(ValueError, match="color mode"):
        gen.flow_from_directory(root, color_mode="cmyk")
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(root, class_mode="multi")
    with pytest.raises(ValueError, match="target_size"):
        gen.flow_from_directory(root, target_size=(0, 5))
    with pytest.raises(ValueError, match="interpolation"):
        gen.flow_from_directory(root, interpolation="cubic")
    with pytest.raises(ValueError, match="subset"):
        ImageDataGenerator(validation_split=0.2).flow_from_directory(root, subset="test")


def test_corrupt_image_is_named(image_tree):
    root, _ = image_tree
    bad = os.path.join(root, "square", "broken.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n this is not a png")
    it = ImageDataGenerator().flow_from_directory(root, target_size=(8, 8), batch_size=16,
                                                  shuffle=False)
    with pytest.raises(ValueError, match="broken.png"):
        it[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_matches_keras_directory_iterator(image_tree):
    from test_image_generator import keras_keras
    KerasGenerator = keras_keras()
    root, _ = image_tree
    kwargs = dict(rotation_range=30, zoom_range=0.3, horizontal_flip=True, rescale=1 / 255)
    for class_mode in ("categorical", "sparse", None):
        ours = ImageDataGenerator(**kwargs).flow_from_directory(
            root, target_size=(21, 25), class_mode=class_mode, batch_size=5, seed=3)
        theirs = KerasGenerator(**kwargs).flow_from_directory(
            root, target_size=(21, 25), class_mode=class_mode, batch_size=5, seed=3)
        assert ours.filenames == theirs.filenames
        assert ours.class_indices == theirs.class_indices
        for _ in range(5):
            a, b = next(ours), next(theirs)
            a, b = (a, b) if class_mode is not None else ((a,), (b,))
            for u, v in zip(a, b):
                assert u.dtype == v.dtype and u.shape == v.shape
                np.testing.assert_allclose(u, v, rtol=0, atol=1e-5)


def test_directory_iterator_without_generator(image_tree):
    root, _ = image_tree
    it = DirectoryIterator(root, None, target_size=(9, 9), batch_size=16, shuffle=False)
    x, y = it[0]
    assert x.shape == (16, 9, 9, 3) and y.shape == (16, 3)


# ------------------------------------------------ image_dataset_from_directory

def tf_resize_bilinear(x, size):
    """tf.image.resize(method='bilinear', antialias=False) in float64."""
    h, w = x.shape[:2]
    out = np.empty(size + x.shape[2:])

    def taps(n_in, n_out):
        src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        lo = np.floor(src)
        frac = src - lo
        return np.clip(lo, 0, n_in - 1).astype(int), np.clip(lo + 1, 0, n_in - 1).astype(int), frac
    r0, r1, fr = taps(h, size[0])
    c0, c1, fc = taps(w, size[1])
    x = x.astype(np.float64)
    top = x[r0][:, c0] * (1 - fc)[None, :, None] + x[r0][:, c1] * fc[None, :, None]
    bottom = x[r1][:, c0] * (1 - fc)[None, :, None] + x[r1][:, c1] * fc[None, :, None]
    out[...] = top * (1 - fr)[:, None, None] + bottom * fr[:, None, None]
    return out


def test_dataset_batches_labels_and_names(image_tree, capsys):
    root, files = image_tree
    ds = image_dataset_from_directory(root, image_size=(20, 26), batch_size=5, shuffle=False)
    assert "Found 16 files belonging to 3 classes." in capsys.readouterr().out
    assert ds.class_names == list(CLASSES) and len(ds) == 4
    assert [os.path.relpath(p, root) for p in ds.file_paths] == expected_files(files)
    batches = list(ds)
    assert [len(b[1]) for b in batches] == [5, 5, 5, 1]
    x, y = batches[0]
    assert x.dtype == np.float32 and x.shape == (5, 20, 26, 3)
    assert y.dtype == np.int32 and list(y) == [files[f] for f in expected_files(files)[:5]]
    ref = tf_resize_bilinear(np.asarray(load_img(ds.file_paths[2]), np.float32), (20, 26))
    np.testing.assert_allclose(x[2], ref, rtol=0, atol=1e-3)
    # re-iterable, the same batches again
    again = list(ds)
    for (a, ya), (b, yb) in zip(batches, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("label_mode, dtype, shape", [
    ("int", np.int32, (16,)), ("categorical", np.float32, (16, 3)), (None, None, None)])
def test_dataset_label_modes(image_tree, label_mode, dtype, shape):
    root, files = image_tree
    ds = image_dataset_from_directory(root, image_size=(8, 8), batch_size=16, shuffle=False,
                                      label_mode=label_mode, verbose=False)
    element = next(iter(ds))
    if label_mode is None:
        assert element.shape == (16, 8, 8, 3)
        return
    y = element[1]
    assert y.dtype == dtype and y.shape == shape
    labels = [files[f] for f in expected_files(files)]
    np.testing.assert_array_equal(y if label_mode == "int" else y.argmax(1), labels)


def test_dataset_binary_labels_and_manual_labels(image_tree, tmp_path):
    root, files = image_tree
    ds = image_dataset_from_directory(root, image_size=(8, 8), label_mode="binary",
                                      class_names=["circle", "square"], shuffle=False,
                                      batch_size=32, verbose=False)
    x, y = next(iter(ds))
    assert y.shape == (10, 1) and y.dtype == np.float32 and set(y.ravel()) == {0.0, 1.0}
    with pytest.raises(ValueError, match="exactly 2"):
        image_dataset_from_directory(root, label_mode="binary")
    manual = list(range(16))
    ds = image_dataset_from_directory(root, labels=manual, image_size=(8, 8), shuffle=False,
                                      batch_size=32, verbose=False)
    assert list(next(iter(ds))[1]) == manual
    assert ds.class_names == [str(i) for i in range(16)]


def test_dataset_shuffle_split_and_seed(image_tree, capsys):
    root, _ = image_tree
    train, val = image_dataset_from_directory(root, image_size=(8, 8), batch_size=4, seed=5,
                                              validation_split=0.25, subset="both")
    out = capsys.readouterr().out
    assert "Using 12 files for training." in out and "Using 4 files for validation." in out
    assert len(train) == 3 and len(val) == 1
    assert not set(train.file_paths) & set(val.file_paths)
    epoch1 = np.concatenate([y for _, y in train])
    epoch2 = np.concatenate([y for _, y in train])
    assert sorted(epoch1) == sorted(epoch2)
    again = image_dataset_from_directory(root, image_size=(8, 8), batch_size=4, seed=5,
                                         validation_split=0.25, subset="training",
                                         verbose=False)
    assert again.file_paths == train.file_paths
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), epoch1)


def test_dataset_crop_and_pad_to_aspect_ratio(tmp_path):
    root = tmp_path / "wide" / "only"
    root.mkdir(parents=True)
    draw_shape("square", 60, 20, seed=1).save(root / "a.png")
    img = np.asarray(load_img(str(root / "a.png")), np.float32)
    crop = next(iter(image_dataset_from_directory(str(tmp_path / "wide"), image_size=(10, 10),
                                                  crop_to_aspect_ratio=True, verbose=False)))[0]
    # the centred 20x20 window, resized
    np.testing.assert_allclose(crop[0], tf_resize_bilinear(img[:, 20:40], (10, 10)), atol=1e-3)
    pad = next(iter(image_dataset_from_directory(str(tmp_path / "wide"), image_size=(12, 12),
                                                 pad_to_aspect_ratio=True, verbose=False)))[0]
    # resized to 12x4 and centred on rows 4..7, zeros around
    np.testing.assert_allclose(pad[0, 4:8], tf_resize_bilinear(img, (4, 12)), atol=1e-3)
    assert np.all(pad[0, :4] == 0) and np.all(pad[0, 8:] == 0)


def test_dataset_tf_data_methods(image_tree):
    root, _ = image_tree
    ds = image_dataset_from_directory(root, image_size=(8, 8), batch_size=4, seed=1,
                                      verbose=False)
    scaled = ds.map(lambda x, y: (x / 255.0, y)).cache().prefetch(2)
    assert len(scaled) == 4
    first = list(scaled.take(1).as_numpy_iterator())
    assert len(first) == 1 and first[0][0].max() <= 1.0
    rows = list(ds.unbatch())
    assert len(rows) == 16 and rows[0][0].shape == (8, 8, 3)
    assert len(ds.skip(3)) == 1 and len(list(ds.repeat(2))) == 8


def test_dataset_errors(image_tree, tmp_path):
    root, _ = image_tree
    with pytest.raises(FileNotFoundError, match="missing"):
        image_dataset_from_directory(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No images found"):
        image_dataset_from_directory(str(tmp_path / "empty"), verbose=False)
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(root, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="validation_split"):
        image_dataset_from_directory(root, subset="training")
    with pytest.raises(ValueError, match="label_mode"):
        image_dataset_from_directory(root, label_mode="sparse")
    with pytest.raises(ValueError, match="color_mode"):
        image_dataset_from_directory(root, color_mode="hsv")
    with pytest.raises(ValueError, match="interpolation"):
        image_dataset_from_directory(root, interpolation="gaussian")
    with pytest.raises(ValueError, match="class_names"):
        image_dataset_from_directory(root, class_names=["circle", "oval"])
    with pytest.raises(ValueError, match="channels_last"):
        image_dataset_from_directory(root, data_format="channels_first")
    with pytest.raises(ValueError, match="image_size"):
        image_dataset_from_directory(root, image_size=(8,))
    bad = os.path.join(root, "circle", "zz_broken.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8\xff not a jpeg")
    ds = image_dataset_from_directory(root, image_size=(8, 8), shuffle=False, verbose=False)
    with pytest.raises(ValueError, match="zz_broken.jpg"):
        list(ds)
