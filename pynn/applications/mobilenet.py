"""MobileNet (Howard et al., 2017, https://arxiv.org/abs/1704.04861), as
Keras builds it: same layers, names and order, so Keras's published weight
files load into it."""
import warnings

from .. import layers
from . import imagenet_utils

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,
              weights="imagenet", input_tensor=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=None):
    """The MobileNet model (default input 224x224x3, at least 32x32).

    ``alpha``: the width multiplier (the number of filters in every layer
    scales by it; ImageNet weights exist for 0.25, 0.5, 0.75 and 1.0);
    ``depth_multiplier``: the depthwise convolutions' channel multiplier
    (1 for ImageNet weights); ``dropout``: before the classifier.  ImageNet
    weights exist for square inputs of 128, 160, 192 and 224 pixels (224's
    are loaded for other sizes, with a warning).  ``include_top``,
    ``weights``, ``input_tensor``, ``pooling``, ``classes``,
    ``classifier_activation``: as for the other applications.  Inputs go
    through :func:`preprocess_input` (tf mode: [-1, 1]) first."""
    who = "MobileNet"
    imagenet_utils.check_arguments(who, weights, include_top, classes, pooling)
    default_size = 224
    if input_shape is not None and len(input_shape) == 3:
        rows, cols = imagenet_utils.spatial_size(input_shape)
        if rows == cols and rows in (128, 160, 192, 224):
            default_size = rows
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, require_flatten=include_top,
        weights=weights, who=who)
    rows, cols = imagenet_utils.spatial_size(input_shape)
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(f"{who}: the ImageNet weights need depth_multiplier=1, got "
                             f"{depth_multiplier!r}")
        if alpha not in _ALPHA_TEXT:
            raise ValueError(f"{who}: the ImageNet weights exist for alpha 0.25, 0.5, 0.75 or "
                             f"1.0, got {alpha!r}")
        if rows != cols or rows not in (128, 160, 192, 224):
            rows = 224
            warnings.warn(f"{who}: input_shape is undefined, not square or not 128, 160, 192 "
                          f"or 224 pixels; the weights for 224x224 inputs are loaded",
                          stacklevel=2)
    img_input = imagenet_utils.image_input(input_tensor, input_shape, who)
    x = _conv_block(img_input, 32, alpha, strides=(2, 2))
    for block_id, (filters, stride) in enumerate(
            [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 +
            [(1024, 2), (1024, 1)], 1):
        x = _depthwise_conv_block(x, filters, alpha, depth_multiplier, (stride, stride),
                                  block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.global_pooling(x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    files = ()
    if weights == "imagenet":
        # Keras publishes no digests for the MobileNet files.
        files = imagenet_utils.published_file(
            include_top, f"mobilenet_{_ALPHA_TEXT[alpha]}_{rows}_tf", BASE_WEIGHT_PATH,
            no_top="_no_top")
    return imagenet_utils.load_weights(model, weights, who, *files)


def _conv_block(inputs, filters, alpha, kernel=(3, 3), strides=(1, 1)):
    """The first convolution, with batch normalization and relu6."""
    x = layers.Conv2D(int(filters * alpha), kernel, padding="same", use_bias=False,
                      strides=strides, name="conv1")(inputs)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def _depthwise_conv_block(inputs, pointwise_filters, alpha, depth_multiplier=1,
                          strides=(1, 1), block_id=1):
    """A 3x3 depthwise convolution and a 1x1 pointwise convolution, each
    with batch normalization and relu6; strided ones pad (0, 1) first, as
    TensorFlow's 'same' does."""
    if strides == (1, 1):
        x = inputs
    else:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(inputs)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if strides == (1, 1) else "valid",
                               depth_multiplier=depth_multiplier, strides=strides,
                               use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(int(pointwise_filters * alpha), (1, 1), padding="same", use_bias=False,
                      strides=(1, 1), name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def preprocess_input(x, data_format=None):
    """tf-mode preprocessing: pixels scaled from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
