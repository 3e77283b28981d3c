"""MobileNetV3 Small and Large (Howard et al., 2019,
https://arxiv.org/abs/1905.02244), as Keras builds them: same layers, names
and order, so Keras's published weight files load into them.

The input rescaling to [-1, 1] is part of the model (a Rescaling layer,
unless ``include_preprocessing=False``), so the models take pixels in
[0, 255] and :func:`preprocess_input` is a pass-through.  The gates of
squeeze-and-excitation are hard sigmoids written as Keras writes them,
``ReLU(6)(x + 3) * (1 / 6)``: the arithmetic records TensorOperation
layers, as Keras 3 records operations."""
import numbers
import warnings

from .. import layers
from . import imagenet_utils

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"

# (top, no top) MD5 digests of Keras's published files
# weights_mobilenet_v3_{key}.h5 and weights_mobilenet_v3_{key}_no_top_v2.h5.
WEIGHTS_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb",
                             "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7",
                            "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c",
                                         "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7",
                             "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862",
                            "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37",
                                         "cde8136e733e811080d9fcd8a252f7e4"),
}

# The inverted residual blocks: (expansion, filters, kernel size, stride,
# squeeze-and-excitation, activation).  A kernel size of None is 5 (3 in
# the minimalistic models); squeeze-and-excitation and the activation "h"
# (hard swish) are dropped, and ReLU used, in the minimalistic models.
_SMALL = [(1, 16, 3, 2, True, "relu"), (72.0 / 16, 24, 3, 2, False, "relu"),
          (88.0 / 24, 24, 3, 1, False, "relu"), (4, 40, None, 2, True, "h"),
          (6, 40, None, 1, True, "h"), (6, 40, None, 1, True, "h"),
          (3, 48, None, 1, True, "h"), (3, 48, None, 1, True, "h"),
          (6, 96, None, 2, True, "h"), (6, 96, None, 1, True, "h"),
          (6, 96, None, 1, True, "h")]
_LARGE = [(1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"),
          (3, 24, 3, 1, False, "relu"), (3, 40, None, 2, True, "relu"),
          (3, 40, None, 1, True, "relu"), (3, 40, None, 1, True, "relu"),
          (6, 80, 3, 2, False, "h"), (2.5, 80, 3, 1, False, "h"),
          (2.3, 80, 3, 1, False, "h"), (2.3, 80, 3, 1, False, "h"),
          (6, 112, 3, 1, True, "h"), (6, 112, 3, 1, True, "h"),
          (6, 160, None, 2, True, "h"), (6, 160, None, 1, True, "h"),
          (6, 160, None, 1, True, "h")]
SE_RATIO = 0.25


def _mobilenet_v3(who, blocks, last_point_ch, model_type, input_shape, alpha, minimalistic,
                  include_top, weights, input_tensor, classes, pooling, dropout_rate,
                  classifier_activation, include_preprocessing, name):
    imagenet_utils.check_arguments(who, weights, include_top, classes, pooling)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"{who}: alpha must be a positive number, got {alpha!r}")
    if isinstance(dropout_rate, bool) or not isinstance(dropout_rate, numbers.Real) or \
            not 0 <= dropout_rate < 1:
        raise ValueError(f"{who}: dropout_rate must be a number in [0, 1), got "
                         f"{dropout_rate!r}")
    if input_tensor is not None:
        input_tensor = imagenet_utils.image_input(input_tensor, None, who)
        if input_shape is not None and tuple(input_tensor.shape[1:]) != tuple(input_shape):
            raise ValueError(f"{who}: input_shape {tuple(input_shape)} differs from the shape "
                             f"of input_tensor {input_tensor.shape}")
        input_shape = input_tensor.shape[1:]
    # The network ends in global pooling and 1x1 convolutions: any size
    # from 32x32 up takes the top, and the default input size is unknown.
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, require_flatten=False, weights=weights,
        who=who)
    if weights == "imagenet":
        if (alpha != 1.0) if minimalistic else (alpha not in (0.75, 1.0)):
            raise ValueError(f"{who}: the ImageNet weights exist for alpha 0.75 or 1.0 "
                             f"(minimalistic: 1.0 only), got alpha={alpha!r} with "
                             f"minimalistic={minimalistic!r}")
        rows, cols = imagenet_utils.spatial_size(input_shape)
        if rows != cols or rows != 224:
            warnings.warn(f"{who}: input_shape is undefined, not square or not 224 pixels; "
                          f"the weights trained on 224x224 inputs are loaded", stacklevel=3)
    img_input = imagenet_utils.image_input(input_tensor, input_shape, who)

    if minimalistic:
        kernel, activation, se_ratio = 3, _relu, None
    else:
        kernel, activation, se_ratio = 5, _hard_swish, SE_RATIO

    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999, name="conv_bn")(x)
    x = activation(x)
    for block_id, (expansion, filters, kernel_size, stride, se, block_activation) in \
            enumerate(blocks):
        x = _inverted_res_block(x, expansion, _depth(filters * alpha),
                                kernel if kernel_size is None else kernel_size, stride,
                                se_ratio if se else None,
                                activation if block_activation == "h" else _relu, block_id)

    last_conv_ch = _depth(imagenet_utils.channel_count(x.shape) * 6)
    # The last point-wise layer widens only for alpha > 1.
    if alpha > 1.0:
        last_point_ch = _depth(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False,
                      name="conv_1")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999, name="conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True,
                          name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.global_pooling(x, pooling, named=True)
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    files = ()
    if weights == "imagenet":
        key = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
        files = imagenet_utils.published_file(include_top, f"weights_mobilenet_v3_{key}",
                                              BASE_WEIGHT_PATH, WEIGHTS_HASHES[key],
                                              no_top="_no_top_v2")
    return imagenet_utils.load_weights(model, weights, who, *files)


def _relu(x):
    return layers.ReLU()(x)


def _hard_sigmoid(x):
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _hard_swish(x):
    return layers.Activation("hard_swish")(x)


def _depth(v, divisor=8, min_value=None):
    """``v`` rounded to a multiple of ``divisor``, never more than 10 % down."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _se_block(inputs, filters, se_ratio, prefix):
    """Squeeze and excitation: per-channel gates (hard sigmoids) from the
    pooled features scale the input."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(
        inputs)
    x = layers.Conv2D(_depth(filters * se_ratio), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv_1")(x)
    x = _hard_sigmoid(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation,
                        block_id):
    """Expand (1x1, not in the first block), depthwise convolution,
    squeeze-and-excitation, project (1x1, linear); the input is added back
    when the shapes allow."""
    shortcut = x
    prefix = "expanded_conv_"
    infilters = imagenet_utils.channel_count(x.shape)
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(_depth(infilters * expansion), kernel_size=1, padding="same",
                          use_bias=False, name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999,
                                      name=f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride,
                               padding="same" if stride == 1 else "valid", use_bias=False,
                               name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se_ratio:
        x = _se_block(x, _depth(infilters * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False,
                      name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1e-3, momentum=0.999,
                                  name=f"{prefix}project_bn")(x)
    if stride == 1 and infilters == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


_DOC = """The MobileNetV3{size} model (any input from 32x32 up; the weights
    were trained on 224x224).

    Takes pixels in [0, 255]: the model rescales them to [-1, 1] itself
    (:func:`preprocess_input` is a pass-through), unless
    ``include_preprocessing=False``, when it takes inputs in [-1, 1].

    ``alpha``: the width multiplier (ImageNet weights exist for 0.75 and
    1.0, and for 1.0 with ``minimalistic``).  ``minimalistic``: without
    squeeze-and-excitation, hard swish and 5x5 convolutions.
    ``dropout_rate``: the dropout before the classifier.
    ``include_top``, ``weights`` (None, 'imagenet' or the path of a
    weights file), ``input_tensor``, ``input_shape``, ``pooling`` (without
    the top: None, 'avg' or 'max'), ``classes``, ``classifier_activation``
    and ``name``: as for the other applications."""


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                     weights="imagenet", input_tensor=None, classes=1000, pooling=None,
                     dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Small"):
    return _mobilenet_v3("MobileNetV3Small", _SMALL, 1024, "small", input_shape, alpha,
                         minimalistic, include_top, weights, input_tensor, classes, pooling,
                         dropout_rate, classifier_activation, include_preprocessing, name)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                     weights="imagenet", input_tensor=None, classes=1000, pooling=None,
                     dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Large"):
    return _mobilenet_v3("MobileNetV3Large", _LARGE, 1280, "large", input_shape, alpha,
                         minimalistic, include_top, weights, input_tensor, classes, pooling,
                         dropout_rate, classifier_activation, include_preprocessing, name)


MobileNetV3Small.__doc__ = _DOC.format(size="Small")
MobileNetV3Large.__doc__ = _DOC.format(size="Large")


preprocess_input = imagenet_utils.pass_through_preprocess_input
decode_predictions = imagenet_utils.decode_predictions
