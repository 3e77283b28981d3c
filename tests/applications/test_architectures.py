"""The applications have Keras's architectures: parameter counts, and
layer by layer the same names, types, output shapes and parameter counts
as keras.applications builds; with Keras's weights copied over they
predict what Keras predicts."""
import warnings

import numpy as np
import pytest

import pynn
from appstats import calibrate_batch_norm
from pynn import applications

# Keras's published parameter counts (its applications table).
PARAMS = [
    ("VGG16", dict(include_top=False), 14_714_688),
    ("VGG16", dict(), 138_357_544),
    ("VGG19", dict(), 143_667_240),
    ("ResNet50", dict(), 25_636_712),
    ("MobileNet", dict(), 4_253_864),
    ("MobileNetV2", dict(), 3_538_984),
    ("Xception", dict(), 22_910_480),
    ("InceptionV3", dict(), 23_851_784),
    ("DenseNet121", dict(), 8_062_504),
    ("DenseNet169", dict(), 14_307_880),
    ("DenseNet201", dict(), 20_242_984),
    ("ResNet50V2", dict(), 25_613_800),
    ("ResNet101V2", dict(), 44_675_560),
    ("ResNet152V2", dict(), 60_380_648),
    ("EfficientNetB0", dict(), 5_330_571),
    ("MobileNetV3Small", dict(), 2_554_968),
    ("MobileNetV3Large", dict(), 5_507_432),
    ("EfficientNetV2B0", dict(), 7_200_312),
    ("NASNetMobile", dict(), 5_326_716),
]
SLOW_PARAMS = [
    ("InceptionResNetV2", dict(), 55_873_736),
    ("ConvNeXtTiny", dict(), 28_589_128),
]
DEFAULT_SIZES = {"Xception": 299, "InceptionV3": 299, "InceptionResNetV2": 299}
# Fully convolutional up to global pooling: the top takes any input size.
ANY_SIZE = ("MobileNetV3Small", "MobileNetV3Large")


@pytest.mark.parametrize("name, kw, params", [
    pytest.param(n, kw, p, id=f"{n}-{'top' if not kw else 'notop'}",
                 marks=[pytest.mark.slow] if (n, kw, p) in SLOW_PARAMS else [])
    for n, kw, p in PARAMS + SLOW_PARAMS])
def test_parameter_count(name, kw, params):
    model = getattr(applications, name)(weights=None, **kw)
    assert model.count_params() == params
    size = DEFAULT_SIZES.get(name, 224)
    default = (size, size, 3)
    if kw or name in ANY_SIZE:  # without the top, any size (Keras's default)
        assert model.input_shape == (None, None, None, 3)
    else:
        assert model.input_shape == (None,) + default
    if not kw:
        assert model.output_shape == (None, 1000)


# Small configurations (include_top=False at small inputs, or narrow
# MobileNets) keep the layer-by-layer comparison fast.
CONFIGS = [
    ("VGG16", dict(include_top=False, input_shape=(32, 32, 3))),
    ("VGG19", dict(include_top=False, input_shape=(48, 40, 3), pooling="max")),
    ("ResNet50", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("MobileNet", dict(alpha=0.25, input_shape=(128, 128, 3))),
    ("MobileNet", dict(alpha=0.5, depth_multiplier=2, include_top=False,
                       input_shape=(33, 47, 3), pooling="avg")),
    ("MobileNetV2", dict(alpha=0.35, input_shape=(96, 96, 3))),
    ("MobileNetV2", dict(alpha=1.3, include_top=False, input_shape=(35, 35, 3))),
    ("Xception", dict(include_top=False, input_shape=(71, 71, 3), pooling="max")),
    # The newer families: the top at the default size, and each pooling
    # without it.
    ("InceptionV3", dict()),
    ("InceptionV3", dict(include_top=False, input_shape=(75, 75, 3), pooling="avg")),
    ("InceptionV3", dict(include_top=False, input_shape=(80, 97, 3), pooling="max")),
    ("DenseNet121", dict()),
    ("DenseNet121", dict(include_top=False, input_shape=(32, 32, 3), pooling="max")),
    ("DenseNet169", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("DenseNet201", dict(include_top=False, input_shape=(32, 32, 3))),
    ("ResNet50V2", dict()),
    ("ResNet50V2", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("ResNet101V2", dict(include_top=False, input_shape=(32, 32, 3), pooling="max")),
    ("ResNet152V2", dict(include_top=False, input_shape=(32, 32, 3))),
    ("EfficientNetB0", dict()),
    ("EfficientNetB0", dict(include_top=False)),
    ("EfficientNetB0", dict(include_top=False, input_shape=(32, 48, 3), pooling="avg")),
    ("EfficientNetB0", dict(include_top=False, input_shape=(33, 33, 3), pooling="max")),
    ("EfficientNetB1", dict()),
    ("EfficientNetB2", dict(include_top=False, pooling="avg")),
    ("EfficientNetB3", dict(classes=10, classifier_activation=None)),
    ("EfficientNetB4", dict(include_top=False, pooling="max")),
    ("EfficientNetB5", dict(include_top=False)),
    ("MobileNetV3Small", dict()),
    ("MobileNetV3Small", dict(include_top=False, input_shape=(32, 48, 3), pooling="avg")),
    ("MobileNetV3Small", dict(alpha=0.75, minimalistic=True, input_shape=(64, 64, 3),
                              classes=10, dropout_rate=0)),
    ("MobileNetV3Large", dict(input_shape=(224, 224, 3))),
    ("MobileNetV3Large", dict(alpha=0.75, include_top=False, pooling="max")),
    ("MobileNetV3Large", dict(minimalistic=True, include_top=False, include_preprocessing=False,
                              input_shape=(33, 33, 3))),
    # The newer families' smallest: EfficientNetV2B0 and NASNetMobile.
    ("EfficientNetV2B0", dict(input_shape=(33, 45, 3), classes=7)),
    ("NASNetMobile", dict(include_top=False, input_shape=(47, 33, 3), pooling="max")),
]
# The largest build in seconds on each side.
SLOW_CONFIGS = [
    ("EfficientNetB6", dict()),
    ("EfficientNetB7", dict(include_top=False, pooling="avg")),
    ("InceptionResNetV2", dict()),
    ("InceptionResNetV2", dict(include_top=False, input_shape=(80, 97, 3), pooling="max")),
    ("EfficientNetV2B0", dict(include_top=False, include_preprocessing=False,
                              input_shape=(32, 32, 3), pooling="avg")),
    ("EfficientNetV2B1", dict(include_top=False, input_shape=(32, 32, 3), pooling="max")),
    ("EfficientNetV2B2", dict(include_top=False, input_shape=(32, 32, 3))),
    ("EfficientNetV2B3", dict(include_top=False, input_shape=(32, 32, 1))),
    ("EfficientNetV2S", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("EfficientNetV2M", dict(include_top=False, input_shape=(32, 32, 3))),
    ("NASNetMobile", dict()),
    ("NASNetLarge", dict(include_top=False, input_shape=(64, 64, 3), pooling="avg")),
    ("ConvNeXtTiny", dict(input_shape=(32, 32, 3), classes=5)),
    ("ConvNeXtTiny", dict(include_top=False, include_preprocessing=False,
                          input_shape=(32, 32, 3), pooling="max")),
    ("ConvNeXtSmall", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("ConvNeXtBase", dict(include_top=False, input_shape=(32, 32, 3))),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS + SLOW_CONFIGS)]
PARAMETERS = [pytest.param(n, kw, id=i) for (n, kw), i in zip(CONFIGS, IDS)] + [
    pytest.param(n, kw, id=i, marks=pytest.mark.slow)
    for (n, kw), i in zip(SLOW_CONFIGS, IDS[len(CONFIGS):])]


def _pair(keras, name, kw):
    return (getattr(applications, name)(weights=None, **kw),
            getattr(keras.applications, name)(weights=None, **kw))


@pytest.mark.parametrize("name, kw", PARAMETERS)
def test_layers_match_keras(keras, name, kw):
    mine, theirs = _pair(keras, name, kw)
    assert mine.name == theirs.name
    assert len(mine.layers) == len(theirs.layers)
    assert len(mine._operations) == len(theirs.operations)
    for a, b in zip(mine._operations, theirs.operations):
        if isinstance(a, pynn.layers.TensorOperation):
            # Arithmetic on tensors (MobileNetV3's hard sigmoids): a layer
            # in pynn's graph, an operation outside the layers in Keras's.
            assert not isinstance(b, keras.layers.Layer), (a.name, b.name)
            assert a.op == type(b).__name__.lower(), (a.name, b.name)
            assert tuple(a.output.shape) == tuple(b.output.shape), a.name
            continue
        assert type(a).__name__ == type(b).__name__, (a.name, b.name)
        if not isinstance(b, keras.layers.Layer):
            # '+' on tensors (ConvNeXt's residuals): pynn's Add layer,
            # Keras's Add operation
            assert tuple(a.output.shape) == tuple(b.output.shape), a.name
            assert a.count_params() == 0, a.name
            continue
        # Keras numbers the names of unnamed layers (the input, Xception's
        # shortcuts, InceptionV3's convolutions, DenseNet's paddings, the
        # pooling without the top, EfficientNet's preprocessing,
        # MobileNetV3's activations and top) by a process-wide count.
        if not b.name.rstrip("0123456789_").endswith(("conv2d", "batch_normalization", "add",
                                                      "pooling2d", "input_layer", "activation",
                                                      "concatenate", "zero_padding2d",
                                                      "rescaling", "normalization", "re_lu",
                                                      "dropout", "flatten", "cropping2d",
                                                      "custom_scale_layer")):
            assert a.name == b.name
        assert tuple(a.output.shape) == tuple(b.output.shape), a.name
        assert a.count_params() == b.count_params(), a.name
        assert [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()], a.name
    assert mine.count_params() == theirs.count_params()
    assert mine.output_shape == tuple(theirs.output.shape)


MODULES = {"MobileNetV2": "mobilenet_v2", "MobileNet": "mobilenet", "ResNet50": "resnet50",
           "Xception": "xception", "VGG16": "vgg16", "InceptionV3": "inception_v3",
           "DenseNet121": "densenet", "ResNet50V2": "resnet_v2",
           "EfficientNetB0": "efficientnet", "MobileNetV3Small": "mobilenet_v3",
           "MobileNetV3Large": "mobilenet_v3", "InceptionResNetV2": "inception_resnet_v2",
           "EfficientNetV2B0": "efficientnet_v2",
           "NASNetMobile": "nasnet", "ConvNeXtTiny": "convnext"}


def _randomize_batch_norm(keras, model, rng):
    """Moving statistics and scales away from their initial values, so
    inference-mode batch normalization is really tested."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            gamma = [rng.uniform(0.5, 1.5, n)] if layer.scale else []  # InceptionV3: no scale
            layer.set_weights(gamma + [rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                                       rng.uniform(0.5, 2, n)])


def _measured_statistics(keras, mine, theirs, x, rng):
    """Batch-norm statistics measured on ``x`` and more images (with random
    ones the signal fades within a few blocks and the two models agree on
    a constant), and ImageNet's statistics in EfficientNet's input
    Normalization; then the same weights in Keras's model."""
    efficientnet = mine.name.startswith("efficientnetb")
    if efficientnet:
        mine.layers[2].set_weights([np.array([0.485, 0.456, 0.406]),
                                    np.array([0.229, 0.224, 0.225]) ** 2, np.array(0)])
    more = rng.uniform(0, 255, (14,) + x.shape[1:]).astype(np.float32)
    calibrate_batch_norm(mine, np.concatenate([x, more]), rng)
    theirs.set_weights(mine.get_weights())
    if efficientnet:  # Keras computes with statistics derived from its weights
        theirs.layers[2].finalize_state()


@pytest.mark.parametrize("name, kw", [
    ("MobileNetV2", dict(alpha=0.35, input_shape=(96, 96, 3), classifier_activation=None)),
    ("MobileNet", dict(alpha=0.25, input_shape=(128, 128, 3), classifier_activation=None)),
    ("ResNet50", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("Xception", dict(include_top=False, input_shape=(71, 71, 3), pooling="max")),
    ("VGG16", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("InceptionV3", dict(include_top=False, input_shape=(75, 75, 3), pooling="avg")),
    ("DenseNet121", dict(include_top=False, input_shape=(32, 32, 3), pooling="max")),
    ("ResNet50V2", dict(input_shape=(32, 32, 3), classes=10, classifier_activation=None)),
    ("EfficientNetB0", dict(input_shape=(32, 32, 3), classifier_activation=None)),
    ("EfficientNetB0", dict(include_top=False, input_shape=(35, 41, 3), pooling="max")),
    ("MobileNetV3Small", dict(input_shape=(48, 48, 3), classifier_activation=None)),
    ("MobileNetV3Small", dict(alpha=0.75, minimalistic=True, include_top=False,
                              input_shape=(37, 45, 3), pooling="avg")),
    ("MobileNetV3Large", dict(input_shape=(40, 40, 3), classes=10)),
    ("MobileNetV3Large", dict(alpha=0.75, include_top=False, input_shape=(40, 56, 3),
                              pooling="max")),
    ("EfficientNetV2B0", dict(input_shape=(32, 32, 3), classifier_activation=None)),
])
def test_predictions_match_keras(keras, name, kw):
    rng = np.random.default_rng(3)
    mine, theirs = _pair(keras, name, kw)
    measured = name.startswith(("EfficientNet", "MobileNetV3"))
    if not measured:
        _randomize_batch_norm(keras, theirs, rng)
        mine.set_weights(theirs.get_weights())
    x = rng.uniform(0, 255, (2,) + kw["input_shape"]).astype(np.float32)
    x = getattr(applications, MODULES[name]).preprocess_input(x)
    if measured:
        _measured_statistics(keras, mine, theirs, x, rng)
    want = np.asarray(theirs.predict(x, verbose=0))
    got = mine.predict(x, verbose=0)
    assert got.shape == want.shape
    scale = np.abs(want).max()
    assert scale > 1e-3
    if measured:  # the two images give outputs of their own
        assert np.abs(want[0] - want[1]).max() > 0.05 * scale
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)
    assert np.all(got.argmax(-1) == want.argmax(-1))


@pytest.mark.parametrize("pooling, shape", [(None, (None, 2, 3, 512)), ("avg", (None, 512)),
                                            ("max", (None, 512))])
def test_pooling(pooling, shape):
    model = applications.VGG16(weights=None, include_top=False, input_shape=(64, 96, 3),
                               pooling=pooling)
    assert model.output_shape == shape
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 96, 3)).astype(np.float32)
    out = model.predict(x, verbose=0)
    assert out.shape == (2,) + shape[1:]
    if pooling is not None:
        full = applications.VGG16(weights=None, include_top=False, input_shape=(64, 96, 3))
        full.set_weights(model.get_weights())
        maps = full.predict(x, verbose=0)
        ref = maps.mean(axis=(1, 2)) if pooling == "avg" else maps.max(axis=(1, 2))
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_unknown_input_size_without_top():
    model = applications.ResNet50(weights=None, include_top=False)
    assert model.input_shape == (None, None, None, 3)
    out = model.predict(np.zeros((1, 40, 72, 3), np.float32), verbose=0)
    assert out.shape == (1, 2, 3, 2048)


def test_input_tensor():
    """Built on a tensor that comes out of other layers, the model starts
    at their Input."""
    inputs = pynn.Input(shape=(32, 32, 3))
    scaled = pynn.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    model = applications.MobileNetV2(weights=None, include_top=False, input_tensor=scaled,
                                     alpha=0.35, pooling="avg")
    assert model.inputs[0] is inputs
    assert isinstance(model.layers[1], pynn.layers.Rescaling)
    assert model.output_shape == (None, 1280)
    with pytest.raises(TypeError, match="input_tensor must be a symbolic tensor"):
        applications.VGG16(weights=None, include_top=False, input_tensor=np.zeros((1, 32, 32, 3)))


@pytest.mark.parametrize("call, match", [
    (lambda: applications.VGG16(weights=None, include_top=False, input_shape=(31, 64, 3)),
     "at least 32x32"),
    (lambda: applications.Xception(weights=None, include_top=False, input_shape=(70, 80, 3)),
     "at least 71x71"),
    (lambda: applications.ResNet50(weights="imagenet", input_shape=(200, 200, 3)),
     r"input_shape must be \(224, 224, 3\)"),
    (lambda: applications.Xception(weights="imagenet", input_shape=(224, 224, 3)),
     r"input_shape must be \(299, 299, 3\)"),
    (lambda: applications.VGG19(weights="imagenet", classes=10), "classes must be 1000"),
    (lambda: applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 4),
                                pooling="sum"), "pooling must be None, 'avg' or 'max'"),
    (lambda: applications.ResNet50(weights="imagenet", include_top=False,
                                   input_shape=(64, 64, 1)), "must have 3 channels"),
    (lambda: applications.VGG16(weights=None, input_shape=(None, None, 3)),
     "must be static"),
    (lambda: applications.VGG16(weights=None, include_top=False, input_shape=(64, 64)),
     "three integers"),
    (lambda: applications.MobileNet(weights="no/such/file.h5"), "existing weights file"),
    (lambda: applications.MobileNet(weights="imagenet", alpha=0.3), "alpha 0.25"),
    (lambda: applications.MobileNet(weights="imagenet", depth_multiplier=2),
     "depth_multiplier=1"),
    (lambda: applications.MobileNetV2(weights="imagenet", alpha=0.9), "alpha 0.35"),
    (lambda: applications.MobileNetV2(weights="imagenet", alpha=0.35, input_shape=(96, 96, 3),
                                      classifier_activation="relu"), "classifier_activation"),
    (lambda: applications.ResNet50(weights=None, classes=0), "classes must be a positive"),
    (lambda: applications.InceptionV3(weights=None, include_top=False, input_shape=(75, 74, 3)),
     "at least 75x75"),
    (lambda: applications.InceptionV3(weights="imagenet", input_shape=(224, 224, 3)),
     r"input_shape must be \(299, 299, 3\)"),
    (lambda: applications.InceptionV3(weights="imagenet", classes=10), "classes must be 1000"),
    (lambda: applications.DenseNet121(weights=None, include_top=False, input_shape=(31, 64, 3)),
     "at least 32x32"),
    (lambda: applications.DenseNet169(weights="imagenet", input_shape=(200, 200, 3)),
     r"input_shape must be \(224, 224, 3\)"),
    (lambda: applications.DenseNet201(weights="no/such/file.h5"), "existing weights file"),
    (lambda: applications.DenseNet121(weights=None, include_top=False, pooling="mean"),
     "pooling must be None, 'avg' or 'max'"),
    (lambda: applications.ResNet50V2(weights="imagenet", include_top=False,
                                     input_shape=(64, 64, 1)), "must have 3 channels"),
    (lambda: applications.ResNet101V2(weights=None, classes=-1), "classes must be a positive"),
    (lambda: applications.ResNet152V2(weights=None, input_shape=(None, None, 3)),
     "must be static"),
    (lambda: applications.ResNet50V2(weights="imagenet", classifier_activation="relu"),
     "classifier_activation"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_channel_warning_and_classes():
    with pytest.warns(UserWarning, match="1 or 3 input channels"):
        model = applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 5))
    assert model.input_shape == (None, 32, 32, 5)
    model = applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(64, 64, 1),
                                     classes=10, classifier_activation=None)
    assert model.output_shape == (None, 10) and model.name == "mobilenetv2_0.35_64"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        applications.MobileNet(weights=None, alpha=0.25, input_shape=(160, 160, 3))


def test_modules_mirror_keras():
    from pynn.applications.efficientnet import EfficientNetB0, EfficientNetB7
    from pynn.applications.mobilenet import MobileNet
    from pynn.applications.mobilenet_v2 import MobileNetV2
    from pynn.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
    from pynn.applications.resnet import ResNet50
    from pynn.applications.resnet50 import ResNet50 as ResNet50b
    from pynn.applications.vgg16 import VGG16
    from pynn.applications.vgg19 import VGG19
    from pynn.applications.xception import Xception
    from pynn.applications.inception_v3 import InceptionV3
    from pynn.applications.densenet import DenseNet121, DenseNet169, DenseNet201
    from pynn.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
    from pynn.applications.inception_resnet_v2 import InceptionResNetV2
    from pynn.applications.efficientnet_v2 import (EfficientNetV2B0, EfficientNetV2B1,
                                                   EfficientNetV2B2, EfficientNetV2B3,
                                                   EfficientNetV2L, EfficientNetV2M,
                                                   EfficientNetV2S)
    from pynn.applications.nasnet import NASNetLarge, NASNetMobile
    from pynn.applications.convnext import (ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall,
                                            ConvNeXtTiny, ConvNeXtXLarge)
    assert ResNet50 is ResNet50b is pynn.applications.ResNet50
    for f in (MobileNet, MobileNetV2, VGG16, VGG19, Xception, InceptionV3, DenseNet121,
              DenseNet169, DenseNet201, ResNet50V2, ResNet101V2, ResNet152V2, EfficientNetB0,
              EfficientNetB7, MobileNetV3Small, MobileNetV3Large, InceptionResNetV2,
              EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2, EfficientNetV2B3,
              EfficientNetV2S, EfficientNetV2M, EfficientNetV2L, NASNetMobile, NASNetLarge,
              ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase, ConvNeXtLarge, ConvNeXtXLarge):
        assert getattr(pynn.applications, f.__name__) is f
        assert f.__name__ in pynn.applications.__all__
    for module in ("vgg16", "vgg19", "resnet", "resnet50", "mobilenet", "mobilenet_v2",
                   "xception", "inception_v3", "densenet", "resnet_v2", "efficientnet",
                   "mobilenet_v3", "inception_resnet_v2", "efficientnet_v2", "nasnet",
                   "convnext"):
        m = getattr(pynn.applications, module)
        assert callable(m.preprocess_input) and callable(m.decode_predictions)


@pytest.mark.parametrize("name", ["ResNet50", "ResNet50V2", "MobileNetV2", "DenseNet121",
                                  "InceptionV3", "EfficientNetB0", "MobileNetV3Small"])
def test_predict_runs_as_one_planned_call(name):
    """Every layer of the classic nets (zero padding, concatenation, folded
    batch normalizations, ...) runs in the compiled inference plan, whose
    outputs equal the step-by-step Python path's bit for bit."""
    from pynn.models.passes import inference_program
    size = 75 if name == "InceptionV3" else 32
    pynn.utils.set_random_seed(0)
    model = getattr(applications, name)(weights=None, include_top=False,
                                        input_shape=(size, size, 3), pooling="avg")
    x = np.random.default_rng(0).random((2, size, size, 3), dtype=np.float32)
    prog = inference_program(model)
    assert prog.plannable
    want = np.asarray(prog.run([x], prog.new_state(None))[0])
    got = model.predict_on_batch(x)
    assert prog._plans[(x.shape,)] is not None
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
