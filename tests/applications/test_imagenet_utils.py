"""preprocess_input per family (checked against explicit formulas and
Keras's own) and decode_predictions with a cached class index; offline
without it, a clear error."""
import hashlib
import json
import os

import numpy as np
import pytest

from pynn import applications
from pynn.applications import imagenet_utils

MEAN_BGR = np.array([103.939, 116.779, 123.68])


def _images(shape=(2, 5, 4, 3)):
    return np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)


@pytest.mark.parametrize("module, mode", [
    ("vgg16", "caffe"), ("vgg19", "caffe"), ("resnet50", "caffe"), ("resnet", "caffe"),
    ("mobilenet", "tf"), ("mobilenet_v2", "tf"), ("xception", "tf"), ("inception_v3", "tf"),
    ("resnet_v2", "tf"), ("densenet", "torch"), ("efficientnet", None)])
def test_family_modes(module, mode):
    x = _images()
    got = getattr(applications, module).preprocess_input(x.copy())
    if mode is None:  # the model preprocesses its input itself
        want = x
    elif mode == "caffe":
        want = x[..., ::-1] - MEAN_BGR
    elif mode == "torch":
        want = (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    else:
        want = x / 127.5 - 1
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)
    assert got.dtype == np.float32


def test_torch_mode_and_channels_first():
    x = _images()
    got = imagenet_utils.preprocess_input(x.copy(), mode="torch")
    want = (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    cf = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    got = applications.vgg16.preprocess_input(cf.copy(), data_format="channels_first")
    np.testing.assert_allclose(got.transpose(0, 2, 3, 1), x[..., ::-1] - MEAN_BGR,
                               rtol=1e-6, atol=1e-4)
    one = applications.resnet50.preprocess_input(cf[0].copy(), data_format="channels_first")
    np.testing.assert_allclose(one, got[0], rtol=1e-6, atol=1e-4)


def test_uint8_gives_a_new_float_array():
    x = np.full((1, 2, 2, 3), 255, np.uint8)
    got = applications.mobilenet_v2.preprocess_input(x)
    assert got.dtype == np.float32 and np.all(got == 1.0) and np.all(x == 255)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_matches_keras(keras, mode, data_format):
    x = _images((3, 4, 4, 3) if data_format == "channels_last" else (3, 3, 4, 4))
    want = keras.applications.imagenet_utils.preprocess_input(x.copy(), data_format, mode)
    got = imagenet_utils.preprocess_input(x.copy(), data_format, mode)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("module", ["vgg16", "vgg19", "resnet", "resnet50", "resnet_v2",
                                    "inception_v3", "densenet", "mobilenet", "mobilenet_v2",
                                    "xception"])
def test_module_matches_keras_module(keras, module):
    """Each family's preprocess_input uses the mode Keras's module uses."""
    x = _images()
    want = getattr(keras.applications, module).preprocess_input(x.copy())
    got = getattr(applications, module).preprocess_input(x.copy())
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("kw, match", [
    (dict(mode="caffee"), "mode must be one of"),
    (dict(data_format="NHWC"), "data_format must be one of"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        imagenet_utils.preprocess_input(_images(), **kw)
    with pytest.raises(ValueError, match="3 color channels"):
        imagenet_utils.preprocess_input(_images((2, 4, 4, 4)))
    with pytest.raises(ValueError, match="3D image or a 4D batch"):
        imagenet_utils.preprocess_input(np.zeros((4, 3), np.float32))


@pytest.fixture
def class_index(empty_caches, monkeypatch):
    """A class index file in pynn's cache; its MD5 stands in for the
    published file's."""
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    folder = empty_caches / "pynn_home" / "models"
    folder.mkdir(parents=True)
    data = json.dumps(index).encode()
    (folder / "imagenet_class_index.json").write_bytes(data)
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_MD5", hashlib.md5(data).hexdigest())
    return index


def test_decode_predictions(class_index):
    preds = np.zeros((2, 1000), np.float32)
    preds[0, [7, 900, 3]] = [0.5, 0.3, 0.2]
    preds[1, 999] = 1.0
    out = applications.xception.decode_predictions(preds, top=3)
    assert out[0] == [("n00000007", "class_7", np.float32(0.5)),
                      ("n00000900", "class_900", np.float32(0.3)),
                      ("n00000003", "class_3", np.float32(0.2))]
    assert out[1][0] == ("n00000999", "class_999", 1.0) and len(out[1]) == 3
    assert len(imagenet_utils.decode_predictions(preds)[0]) == 5


def test_decode_predictions_bad_input(class_index):
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="top must be a positive integer"):
        imagenet_utils.decode_predictions(np.zeros((1, 1000)), top=0)


def test_decode_predictions_offline_without_file(empty_caches):
    target = os.path.join(str(empty_caches / "pynn_home"), "models",
                          "imagenet_class_index.json")
    with pytest.raises(RuntimeError) as e:
        applications.vgg16.decode_predictions(np.zeros((1, 1000)))
    message = str(e.value)
    assert "decode_predictions" in message and "imagenet_class_index.json" in message
    assert imagenet_utils.CLASS_INDEX_PATH in message and f"put it at {target}" in message
