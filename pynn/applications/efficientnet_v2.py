"""EfficientNetV2 B0 to B3, S, M and L (Tan and Le, 2021,
https://arxiv.org/abs/2104.00298), as Keras builds them: same layers,
names and order, so Keras's published weight files load into them.

The input preprocessing is part of the model unless
``include_preprocessing=False``: the B variants rescale to [0, 1] and
normalize by ImageNet's mean and variance, S, M and L rescale to
[-1, 1].  The models take pixels in [0, 255] and :func:`preprocess_input`
is a pass-through."""
from .. import layers
from . import imagenet_utils
from .efficientnet import (ACTIVATION, CONV_KERNEL_INITIALIZER, DEPTH_DIVISOR, DROP_CONNECT_RATE,
                           classifier_top, residual, round_repeats, squeeze_excite)

BASE_WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                     "efficientnet_v2/")

# (top, no top) MD5 digests of Keras's published files efficientnetv2-b0.h5,
# efficientnetv2-b0_notop.h5, ...
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}

# The stages: (kernel_size, repeats, filters_in, filters_out, expand_ratio,
# se_ratio, strides, fused).  A fused block (Fused-MBConv) replaces the
# expansion and depthwise convolutions by one full convolution.
_B = [(3, 1, 32, 16, 1, 0, 1, True), (3, 2, 16, 32, 4, 0, 2, True),
      (3, 2, 32, 48, 4, 0, 2, True), (3, 3, 48, 96, 4, 0.25, 2, False),
      (3, 5, 96, 112, 6, 0.25, 1, False), (3, 8, 112, 192, 6, 0.25, 2, False)]
DEFAULT_BLOCKS_ARGS = {
    "b0": _B, "b1": _B, "b2": _B, "b3": _B,
    "s": [(3, 2, 24, 24, 1, 0, 1, True), (3, 4, 24, 48, 4, 0, 2, True),
          (3, 4, 48, 64, 4, 0, 2, True), (3, 6, 64, 128, 4, 0.25, 2, False),
          (3, 9, 128, 160, 6, 0.25, 1, False), (3, 15, 160, 256, 6, 0.25, 2, False)],
    "m": [(3, 3, 24, 24, 1, 0, 1, True), (3, 5, 24, 48, 4, 0, 2, True),
          (3, 5, 48, 80, 4, 0, 2, True), (3, 7, 80, 160, 4, 0.25, 2, False),
          (3, 14, 160, 176, 6, 0.25, 1, False), (3, 18, 176, 304, 6, 0.25, 2, False),
          (3, 5, 304, 512, 6, 0.25, 1, False)],
    "l": [(3, 4, 32, 32, 1, 0, 1, True), (3, 7, 32, 64, 4, 0, 2, True),
          (3, 7, 64, 96, 4, 0, 2, True), (3, 10, 96, 192, 4, 0.25, 2, False),
          (3, 19, 192, 224, 6, 0.25, 1, False), (3, 25, 224, 384, 6, 0.25, 2, False),
          (3, 7, 384, 640, 6, 0.25, 1, False)],
}
del _B

# (width coefficient, depth coefficient, default input size)
_SCALING = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260),
            "b3": (1.2, 1.4, 300), "s": (1.0, 1.0, 384), "m": (1.0, 1.0, 480),
            "l": (1.0, 1.0, 480)}

# The initializers, ACTIVATION, DEPTH_DIVISOR (widths are multiples of it)
# and DROP_CONNECT_RATE (the residual branches' drop rate grows linearly from
# 0 towards it over the blocks) are EfficientNet's.
DROPOUT_RATE = 0.2
MIN_DEPTH = 8
BN_MOMENTUM = 0.9


def round_filters(filters, width_coefficient, min_depth=MIN_DEPTH,
                  depth_divisor=DEPTH_DIVISOR):
    """The width multiplier, rounded to a multiple of depth_divisor."""
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    new_filters = max(minimum_depth,
                      int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
    return int(new_filters)


def _conv(filters, kernel_size, name, strides=1, **kwargs):
    return layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                         use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
                         name=name, **kwargs)


def _bn(name):
    return layers.BatchNormalization(axis=imagenet_utils.channel_axis(), momentum=BN_MOMENTUM, name=name)


def _mb_conv_block(inputs, filters_in, filters_out, expand_ratio, kernel_size, strides,
                   se_ratio, drop_rate, name):
    """MBConv: expand (1x1), depthwise convolution, squeeze-and-excitation,
    project (1x1, linear)."""
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(filters, 1, f"{name}expand_conv")(x)
        x = _bn(f"{name}expand_bn")(x)
        x = layers.Activation(ACTIVATION, name=f"{name}expand_activation")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", use_bias=False,
                               depthwise_initializer=CONV_KERNEL_INITIALIZER,
                               name=f"{name}dwconv2")(x)
    x = _bn(f"{name}bn")(x)
    x = layers.Activation(ACTIVATION, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters_in, filters, se_ratio, name)
    x = _conv(filters_out, 1, f"{name}project_conv")(x)
    x = _bn(f"{name}project_bn")(x)
    return residual(x, inputs, strides, filters_in, filters_out, drop_rate, name)


def _fused_mb_conv_block(inputs, filters_in, filters_out, expand_ratio, kernel_size, strides,
                         se_ratio, drop_rate, name):
    """Fused-MBConv: one full convolution expands (or, without expansion,
    is the projection), squeeze-and-excitation, project (1x1)."""
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(filters, kernel_size, f"{name}expand_conv", strides=strides)(x)
        x = _bn(f"{name}expand_bn")(x)
        x = layers.Activation(ACTIVATION, name=f"{name}expand_activation")(x)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters_in, filters, se_ratio, name)
    if expand_ratio != 1:
        x = _conv(filters_out, 1, f"{name}project_conv")(x)
    else:
        x = _conv(filters_out, kernel_size, f"{name}project_conv", strides=strides)(x)
    x = _bn(f"{name}project_bn")(x)
    if expand_ratio == 1:
        x = layers.Activation(ACTIVATION, name=f"{name}project_activation")(x)
    return residual(x, inputs, strides, filters_in, filters_out, drop_rate, name)


def _efficientnet_v2(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, include_preprocessing, name):
    width_coefficient, depth_coefficient, default_size = _SCALING[variant]
    who = f"EfficientNetV2{variant.upper()}"
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=default_size, min_size=32)
    blocks_args = DEFAULT_BLOCKS_ARGS[variant]

    x = img_input
    if include_preprocessing:
        if variant.startswith("b") and imagenet_utils.channel_count((None,) + input_shape) == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=[0.485, 0.456, 0.406],
                                     variance=[0.229 ** 2, 0.224 ** 2, 0.225 ** 2],
                                     axis=imagenet_utils.channel_axis())(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    # Stem.
    x = _conv(round_filters(blocks_args[0][2], width_coefficient), 3, "stem_conv",
              strides=2)(x)
    x = _bn("stem_bn")(x)
    x = layers.Activation(ACTIVATION, name="stem_activation")(x)

    # Blocks; the drop rate of the residual branches (stochastic depth)
    # grows linearly with the block's index.
    b = 0
    blocks = float(sum(stage[1] for stage in blocks_args))
    for i, (kernel_size, repeats, filters_in, filters_out, expand_ratio, se_ratio, strides,
            fused) in enumerate(blocks_args):
        filters_in = round_filters(filters_in, width_coefficient)
        filters_out = round_filters(filters_out, width_coefficient)
        block = _fused_mb_conv_block if fused else _mb_conv_block
        for j in range(round_repeats(repeats, depth_coefficient)):
            # Only the stage's first block changes the stride and the width.
            if j > 0:
                strides, filters_in = 1, filters_out
            x = block(x, filters_in, filters_out, expand_ratio, kernel_size, strides, se_ratio,
                      DROP_CONNECT_RATE * b / blocks, f"block{i + 1}{chr(j + 97)}_")
            b += 1

    # Top.
    x = _conv(round_filters(1280, width_coefficient), 1, "top_conv")(x)
    x = _bn("top_bn")(x)
    x = layers.Activation(ACTIVATION, name="top_activation")(x)
    x = classifier_top(x, include_top, pooling, classes, classifier_activation, weights,
                       DROPOUT_RATE)
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    # Keras names the file after the model's name; pynn after the variant,
    # so that a model given another name still finds it.
    stem = f"efficientnetv2-{variant}"
    return imagenet_utils.load_weights(model, weights, who, *imagenet_utils.published_file(
        include_top, stem, BASE_WEIGHTS_PATH, WEIGHTS_HASHES[variant]))


_DOC = """The EfficientNetV2{v} model (default input {size}x{size}x3, at least 32x32).

    Takes pixels in [0, 255]: the model rescales{norm} them itself unless
    ``include_preprocessing=False`` (:func:`preprocess_input` is a
    pass-through).  ``include_top``, ``weights`` (None, 'imagenet' or the
    path of a weights file), ``input_tensor``, ``input_shape`` (only
    without the top, or equal to the default), ``pooling`` (without the
    top: None, 'avg' or 'max'), ``classes``, ``classifier_activation`` and
    ``name``: as for the other applications."""


def EfficientNetV2B0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b0"):
    return _efficientnet_v2("b0", include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, include_preprocessing, name)


def EfficientNetV2B1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b1"):
    return _efficientnet_v2("b1", include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, include_preprocessing, name)


def EfficientNetV2B2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b2"):
    return _efficientnet_v2("b2", include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, include_preprocessing, name)


def EfficientNetV2B3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b3"):
    return _efficientnet_v2("b3", include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, include_preprocessing, name)


def EfficientNetV2S(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    include_preprocessing=True, name="efficientnetv2-s"):
    return _efficientnet_v2("s", include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, include_preprocessing, name)


def EfficientNetV2M(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    include_preprocessing=True, name="efficientnetv2-m"):
    return _efficientnet_v2("m", include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, include_preprocessing, name)


def EfficientNetV2L(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    include_preprocessing=True, name="efficientnetv2-l"):
    return _efficientnet_v2("l", include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, include_preprocessing, name)


for _variant, _function in (("b0", EfficientNetV2B0), ("b1", EfficientNetV2B1),
                            ("b2", EfficientNetV2B2), ("b3", EfficientNetV2B3),
                            ("s", EfficientNetV2S), ("m", EfficientNetV2M),
                            ("l", EfficientNetV2L)):
    _function.__doc__ = _DOC.format(
        v=_variant.upper(), size=_SCALING[_variant][2],
        norm=(" to [0, 1] and normalizes" if _variant.startswith("b") else " to [-1, 1]"))
del _variant, _function


preprocess_input = imagenet_utils.pass_through_preprocess_input
decode_predictions = imagenet_utils.decode_predictions
