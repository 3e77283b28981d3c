"""EfficientNet B0 to B7 (Tan and Le, 2019, https://arxiv.org/abs/1905.11946),
as Keras builds them: same layers, names and order, so Keras's published
weight files load into them.

The input preprocessing is part of the model (Rescaling to [0, 1], then
Normalization, whose ImageNet mean and variance come with the weights
file), so the models take pixels in [0, 255] and :func:`preprocess_input`
is a pass-through."""
import math

from .. import layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"

# (top, no top) MD5 digests of Keras's published files efficientnetb0.h5,
# efficientnetb0_notop.h5, ...
WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}

# The seven stages of B0: (kernel_size, repeats, filters_in, filters_out,
# expand_ratio, strides); every block has an identity skip where the
# shapes allow and squeeze-and-excitation with ratio 0.25.
DEFAULT_BLOCKS_ARGS = [
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
]
SE_RATIO = 0.25

# The initializers of the original implementation.
CONV_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                           "config": {"scale": 2.0, "mode": "fan_out",
                                      "distribution": "truncated_normal"}}
DENSE_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                            "config": {"scale": 1.0 / 3.0, "mode": "fan_out",
                                       "distribution": "uniform"}}

IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]

# (width coefficient, depth coefficient, default input size, dropout rate)
_SCALING = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


# The residual branches' drop rate grows linearly from 0 towards
# DROP_CONNECT_RATE over the blocks; widths are multiples of DEPTH_DIVISOR.
DROP_CONNECT_RATE = 0.2
DEPTH_DIVISOR = 8
ACTIVATION = "swish"


def _efficientnet(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
                  classifier_activation, name):
    """One EfficientNet: B0's stages scaled in width and depth."""
    width_coefficient, depth_coefficient, default_size, dropout_rate = _SCALING[variant]
    depth_divisor, activation = DEPTH_DIVISOR, ACTIVATION
    who = f"EfficientNet{variant.upper()}"
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=default_size, min_size=32)

    def round_filters(filters):
        """The width multiplier, rounded to a multiple of depth_divisor
        (never more than 10 % down)."""
        filters *= width_coefficient
        new_filters = max(depth_divisor,
                          int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
        if new_filters < 0.9 * filters:
            new_filters += depth_divisor
        return int(new_filters)

    # Stem.  Keras's Normalization divides by the standard deviation; the
    # original implementation divides by the variance, so with the ImageNet
    # weights (whose Normalization holds the variances) a Rescaling by
    # 1 / stddev follows.
    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=imagenet_utils.channel_axis())(x)
    if weights == "imagenet":
        x = layers.Rescaling([1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    # Blocks; the drop rate of the residual branches (stochastic depth)
    # grows linearly with the block's index.
    b = 0
    blocks = float(sum(round_repeats(stage[1], depth_coefficient)
                       for stage in DEFAULT_BLOCKS_ARGS))
    for i, (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides) in \
            enumerate(DEFAULT_BLOCKS_ARGS):
        filters_in, filters_out = round_filters(filters_in), round_filters(filters_out)
        for j in range(round_repeats(repeats, depth_coefficient)):
            # Only the stage's first block changes the stride and the width.
            if j > 0:
                strides, filters_in = 1, filters_out
            x = _block(x, activation, DROP_CONNECT_RATE * b / blocks,
                       f"block{i + 1}{chr(j + 97)}_", filters_in, filters_out, kernel_size,
                       strides, expand_ratio)
            b += 1

    # Top.
    x = layers.Conv2D(round_filters(1280), 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_KERNEL_INITIALIZER, name="top_conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    x = classifier_top(x, include_top, pooling, classes, classifier_activation, weights,
                       dropout_rate)
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    # Keras names the file after the model's name; pynn after the variant,
    # so that a model given another name still finds it.
    return imagenet_utils.load_weights(model, weights, who, *imagenet_utils.published_file(
        include_top, f"efficientnet{variant}", BASE_WEIGHTS_PATH, WEIGHTS_HASHES[variant]))


def _block(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size, strides,
           expand_ratio):
    """The inverted residual block (MBConv): expand (1x1), depthwise
    convolution, squeeze-and-excitation, project (1x1, linear); the input
    is added back, through stochastic depth, when the shapes allow."""
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                          kernel_initializer=CONV_KERNEL_INITIALIZER,
                          name=f"{name}expand_conv")(inputs)
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs
    if strides == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=f"{name}dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=conv_pad, use_bias=False,
                               depthwise_initializer=CONV_KERNEL_INITIALIZER,
                               name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)

    x = squeeze_excite(x, filters_in, filters, SE_RATIO, name)
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_KERNEL_INITIALIZER,
                      name=f"{name}project_conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name=f"{name}project_bn")(x)
    return residual(x, inputs, strides, filters_in, filters_out, drop_rate, name)


def round_repeats(repeats, depth_coefficient):
    """The depth multiplier: a stage's number of blocks, rounded up."""
    return int(math.ceil(depth_coefficient * repeats))


def squeeze_excite(x, filters_in, filters, se_ratio, name):
    """Squeeze and excitation: per-channel gates from the pooled features."""
    filters_se = max(1, int(filters_in * se_ratio))
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se_shape = (filters, 1, 1) if imagenet_utils.channels_first() else (1, 1, filters)
    se = layers.Reshape(se_shape, name=f"{name}se_reshape")(se)
    se = layers.Conv2D(filters_se, 1, padding="same", activation=ACTIVATION,
                       kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_expand")(se)
    return layers.multiply([x, se], name=f"{name}se_excite")


def residual(x, inputs, strides, filters_in, filters_out, drop_rate, name):
    """The block's input added back, through stochastic depth (whole
    samples dropped at ``drop_rate``), where the shapes allow."""
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def classifier_top(x, include_top, pooling, classes, classifier_activation, weights,
                   dropout_rate):
    """With the top: global average pooling, dropout (where
    ``dropout_rate`` > 0) and the classifier; without: the pooling."""
    if not include_top:
        return imagenet_utils.global_pooling(x, pooling, named=True)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    imagenet_utils.validate_activation(classifier_activation, weights)
    return layers.Dense(classes, activation=classifier_activation,
                        kernel_initializer=DENSE_KERNEL_INITIALIZER, name="predictions")(x)


_DOC = """The EfficientNet{v} model (default input {size}x{size}x3, at least 32x32).

    Takes pixels in [0, 255]: the model rescales and normalizes them itself
    (:func:`preprocess_input` is a pass-through).  ``include_top``,
    ``weights`` (None, 'imagenet' or the path of a weights file),
    ``input_tensor``, ``input_shape`` (only without the top, or equal to
    the default), ``pooling`` (without the top: None, 'avg' or 'max'),
    ``classes``, ``classifier_activation`` and ``name``: as for the other
    applications."""


def EfficientNetB0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb0"):
    return _efficientnet("b0", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


def EfficientNetB1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb1"):
    return _efficientnet("b1", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


def EfficientNetB2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb2"):
    return _efficientnet("b2", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


def EfficientNetB3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb3"):
    return _efficientnet("b3", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


def EfficientNetB4(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb4"):
    return _efficientnet("b4", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


def EfficientNetB5(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb5"):
    return _efficientnet("b5", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


def EfficientNetB6(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb6"):
    return _efficientnet("b6", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


def EfficientNetB7(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="efficientnetb7"):
    return _efficientnet("b7", include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)


for _variant, _function in (("b0", EfficientNetB0), ("b1", EfficientNetB1),
                            ("b2", EfficientNetB2), ("b3", EfficientNetB3),
                            ("b4", EfficientNetB4), ("b5", EfficientNetB5),
                            ("b6", EfficientNetB6), ("b7", EfficientNetB7)):
    _function.__doc__ = _DOC.format(v=_variant.upper(), size=_SCALING[_variant][2])
del _variant, _function


preprocess_input = imagenet_utils.pass_through_preprocess_input
decode_predictions = imagenet_utils.decode_predictions
