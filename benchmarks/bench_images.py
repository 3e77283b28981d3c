"""Image augmentation throughput: pynn's ImageDataGenerator against Keras's
legacy one (keras.src.legacy.preprocessing.image, which transforms image by
image with scipy), side by side in one run, on the tutorials' setting:
batches of 32 RGB images of 150x150, rotation_range=40, shifts of 0.2,
shear_range=0.2, zoom_range=0.2, horizontal_flip.  Also the warp kernel
alone against scipy.ndimage.affine_transform (what Keras calls per
channel), and flow_from_directory on JPEG files.  The report prints
images/s for each.
"""
import os

import numpy as np
import pytest

import pynn
from pynn.preprocessing.image import ImageDataGenerator, transform_matrices

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasGenerator
    keras_missing = None
except Exception as e:  # keras, or the jax and scipy it needs to import
    KerasGenerator = None
    keras_missing = f"Keras's legacy ImageDataGenerator does not import: {e}"
try:
    import scipy.ndimage as ndi
except ImportError:
    ndi = None

AUGMENT = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
               shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
BATCH = 32
SHAPE = (150, 150, 3)


def _images(n, seed=0):
    return (np.random.default_rng(seed).random((n,) + SHAPE) * 255).astype(np.float32)


def _flow(impl, x):
    if impl == "keras":
        if KerasGenerator is None:
            pytest.skip(keras_missing)
        return KerasGenerator(**AUGMENT).flow(x, batch_size=BATCH, seed=1)
    return ImageDataGenerator(**AUGMENT).flow(x, batch_size=BATCH, seed=1)


@pytest.mark.parametrize("impl", ["pynn", "keras"])
def test_flow_augment(benchmark, impl):
    it = _flow(impl, _images(8 * BATCH))
    next(it)
    benchmark.group = f"flow: augment {BATCH}x{SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}"
    benchmark.extra_info["images"] = BATCH
    benchmark(next, it)


def test_flow_augment_pynn_one_thread(benchmark):
    it = _flow("pynn", _images(8 * BATCH))
    before = pynn.get_num_threads()
    pynn.set_num_threads(1)
    try:
        next(it)
        benchmark.group = f"flow: augment {BATCH}x{SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, 1 thread"
        benchmark.extra_info["images"] = BATCH
        benchmark(next, it)
    finally:
        pynn.set_num_threads(before)


@pytest.mark.parametrize("impl", ["pynn", "scipy"])
def test_warp_kernel(benchmark, impl):
    """The affine warp alone: one call over the batch, against scipy's
    affine_transform image by image and channel by channel."""
    x = _images(BATCH)
    gen = ImageDataGenerator(**AUGMENT)
    params = gen._draw(np.random.RandomState(0), BATCH, SHAPE)
    m = transform_matrices(params, SHAPE[0], SHAPE[1])
    benchmark.group = f"affine warp {BATCH}x{SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, bilinear, nearest"
    benchmark.extra_info["images"] = BATCH
    if impl == "pynn":
        out = np.empty_like(x)
        benchmark(pynn.ops.affine_warp, x, m, out=out)
        return
    if ndi is None:
        pytest.skip("scipy is not installed")
    out64 = np.empty(SHAPE[:2], np.float32)

    def scipy_warp():
        for b in range(BATCH):
            for k in range(SHAPE[2]):
                ndi.affine_transform(x[b, :, :, k], m[b, :, :2], m[b, :, 2], order=1,
                                     mode="nearest", output=out64)
    benchmark(scipy_warp)


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    """4 classes x 32 JPEG photos-like images of 150x150 (smooth noise)."""
    from PIL import Image
    root = tmp_path_factory.mktemp("jpegs")
    g = np.random.default_rng(0)
    for c in range(4):
        folder = root / f"class{c}"
        folder.mkdir()
        for i in range(32):
            base = g.random((15, 15, 3)) * 255
            img = np.kron(base, np.ones((10, 10, 1))).astype(np.uint8)
            Image.fromarray(img).save(folder / f"{i}.jpg", quality=90)
    return str(root)


@pytest.mark.parametrize("impl", ["pynn", "keras"])
def test_flow_from_directory(benchmark, impl, jpeg_folder, capsys):
    pytest.importorskip("PIL", reason="Pillow is not installed")
    if impl == "keras":
        if KerasGenerator is None:
            pytest.skip(keras_missing)
        gen = KerasGenerator(rescale=1 / 255, **AUGMENT)
    else:
        gen = ImageDataGenerator(rescale=1 / 255, **AUGMENT)
    it = gen.flow_from_directory(jpeg_folder, target_size=SHAPE[:2], batch_size=BATCH, seed=1)
    next(it)
    benchmark.group = f"flow_from_directory: JPEG + augment {BATCH}x{SHAPE[0]}x{SHAPE[1]}"
    benchmark.extra_info["images"] = BATCH
    benchmark(next, it)
