"""MobileNetV2 (Sandler et al., 2018, https://arxiv.org/abs/1801.04381), as
Keras builds it: same layers, names and order, so Keras's published weight
files load into it."""
import warnings

from .. import layers
from . import imagenet_utils

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
_SIZES = (96, 128, 160, 192, 224)

# (filters, stride, expansion) of the 17 inverted residual blocks
_BLOCKS = ([(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
            (64, 2, 6)] + [(64, 1, 6)] * 3 + [(96, 1, 6)] * 3 + [(160, 2, 6)] +
           [(160, 1, 6)] * 2 + [(320, 1, 6)])


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
                input_tensor=None, pooling=None, classes=1000,
                classifier_activation="softmax", name=None):
    """The MobileNetV2 model (default input 224x224x3, at least 32x32).

    ``alpha``: the width multiplier (ImageNet weights exist for 0.35, 0.5,
    0.75, 1.0, 1.3 and 1.4).  ImageNet weights exist for square inputs of
    96, 128, 160, 192 and 224 pixels (224's are loaded for other sizes, with
    a warning).  ``include_top``, ``weights``, ``input_tensor``,
    ``pooling``, ``classes``, ``classifier_activation``: as for the other
    applications.  Inputs go through :func:`preprocess_input` (tf mode:
    [-1, 1]) first."""
    who = "MobileNetV2"
    imagenet_utils.check_arguments(who, weights, include_top, classes, pooling)
    if input_tensor is not None:
        input_tensor = imagenet_utils.image_input(input_tensor, None, who)
        if input_shape is not None and tuple(input_tensor.shape[1:]) != tuple(input_shape):
            raise ValueError(f"{who}: input_shape {tuple(input_shape)} differs from the shape "
                             f"of input_tensor {input_tensor.shape}")
    given = input_shape if input_shape is not None else (
        input_tensor.shape[1:] if input_tensor is not None else None)
    default_size = 224
    if given is not None and len(given) == 3:
        rows, cols = imagenet_utils.spatial_size(given)
        if rows == cols and rows in _SIZES:
            default_size = rows
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, require_flatten=include_top,
        weights=weights, who=who)
    rows, cols = imagenet_utils.spatial_size(input_shape)
    if weights == "imagenet":
        if alpha not in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
            raise ValueError(f"{who}: the ImageNet weights exist for alpha 0.35, 0.5, 0.75, "
                             f"1.0, 1.3 or 1.4, got {alpha!r}")
        if rows != cols or rows not in _SIZES:
            rows = 224
            warnings.warn(f"{who}: input_shape is undefined, not square or not 96, 128, 160, "
                          f"192 or 224 pixels; the weights for 224x224 inputs are loaded",
                          stacklevel=2)
    img_input = imagenet_utils.image_input(input_tensor, input_shape, who)
    x = layers.Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2),
                      padding="same", use_bias=False, name="Conv1")(img_input)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    # The last convolution widens only for alpha > 1, as in the paper.
    last_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    files = ()
    if weights == "imagenet":
        # Keras publishes no digests for the MobileNetV2 files.
        files = imagenet_utils.published_file(
            include_top, f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}",
            BASE_WEIGHT_PATH, no_top="_no_top")
    return imagenet_utils.load_weights(model, weights, who, *files)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    """Expand (1x1), depthwise 3x3, project (1x1, linear); the input is
    added back when the shapes allow."""
    in_channels = imagenet_utils.channel_count(inputs.shape)
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same",
                          use_bias=False, activation=None, name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999,
                                      name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3),
                                 name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False,
                      activation=None, name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _make_divisible(v, divisor, min_value=None):
    """``v`` rounded to a multiple of ``divisor``, never more than 10 % down."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def preprocess_input(x, data_format=None):
    """tf-mode preprocessing: pixels scaled from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
