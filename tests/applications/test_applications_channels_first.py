"""The applications under image_data_format() 'channels_first': Keras 3
builds most of them on (channels, rows, cols) images and refuses DenseNet,
NASNet and ConvNeXt; pynn builds the same models (same weights, same
feature maps) and refuses the same ones."""
import numpy as np
import pytest

import pynn


@pytest.fixture
def channels_first(keras):
    keras.backend.set_image_data_format("channels_first")
    pynn.backend.set_image_data_format("channels_first")
    try:
        yield
    finally:
        keras.backend.set_image_data_format("channels_last")
        pynn.backend.set_image_data_format("channels_last")


# (name, constructor arguments, input size)
BUILT = [
    ("VGG16", {}, 32),
    ("ResNet50", {}, 64),
    ("ResNet50V2", {}, 64),
    ("MobileNet", dict(alpha=0.25), 64),
    ("MobileNetV2", dict(alpha=0.35), 64),
    ("MobileNetV3Small", dict(alpha=0.75, include_preprocessing=False), 64),
    ("Xception", {}, 71),
    ("InceptionV3", {}, 75),
    ("InceptionResNetV2", {}, 75),
    ("EfficientNetB0", {}, 64),
    ("EfficientNetV2B0", {}, 64),
]


@pytest.mark.parametrize("name,kwargs,size", BUILT, ids=[b[0] for b in BUILT])
def test_feature_maps_match_keras(keras, channels_first, name, kwargs, size):
    shape = (3, size, size)
    theirs = getattr(keras.applications, name)(weights=None, include_top=False,
                                               input_shape=shape, **kwargs)
    ours = getattr(pynn.applications, name)(weights=None, include_top=False,
                                            input_shape=shape, **kwargs)
    assert ours.output_shape == theirs.output_shape
    assert ours.output_shape[1] > ours.output_shape[2]  # (channels first)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).random((2,) + shape).astype(np.float32) * 255
    want = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-3,
                               atol=1e-4 * float(np.abs(want).max()))


def test_the_classifier_takes_the_default_channels_first_shape(keras, channels_first):
    model = pynn.applications.MobileNet(weights=None, alpha=0.25, classes=5)
    assert model.input_shape == (None, 3, 224, 224) and model.output_shape == (None, 5)
    with pytest.raises(ValueError, match="at least 32x32"):
        pynn.applications.VGG16(weights=None, include_top=False, input_shape=(3, 16, 16))


@pytest.mark.parametrize("name", ["DenseNet121", "NASNetMobile", "ConvNeXtTiny"])
def test_the_families_keras_builds_channels_last_only_are_refused(keras, channels_first, name):
    family = {"DenseNet121": "DenseNet", "NASNetMobile": "NASNet",
              "ConvNeXtTiny": "ConvNeXt"}[name]
    with pytest.raises(ValueError, match=f"{family} does not support the `channels_first`"):
        getattr(keras.applications, name)(weights=None, input_shape=(3, 64, 64))
    with pytest.raises(ValueError, match=f"{family} does not support the `channels_first`"):
        getattr(pynn.applications, name)(weights=None, input_shape=(3, 64, 64))
