"""NASNet-A Mobile and Large (Zoph et al., 2018,
https://arxiv.org/abs/1707.07012), as Keras builds them: same layers,
names and order, so Keras's published weight files load into them.

The network is a stack of learned cells: normal cells keep the size,
reduction cells halve it; each cell also reads the previous cell's
output, adjusted to its size and width."""
from .. import layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
# default size -> ((file name, url, MD5) with the top, (...) without), as
# Keras fetches them.
WEIGHTS_FILES = {
    224: (("nasnet_mobile.h5", BASE_WEIGHTS_PATH + "NASNet-mobile.h5",
           "020fb642bf7360b370c678b08e0adf61"),
          ("nasnet_mobile_no_top.h5", BASE_WEIGHTS_PATH + "NASNet-mobile-no-top.h5",
           "1ed92395b5b598bdda52abe5c0dbfd63")),
    331: (("nasnet_large.h5", BASE_WEIGHTS_PATH + "NASNet-large.h5",
           "11577c9a518f0070763c2b964a382f17"),
          ("nasnet_large_no_top.h5", BASE_WEIGHTS_PATH + "NASNet-large-no-top.h5",
           "d81d89dc07e6e56530c4e77faddd61b5")),
}


def _bn(name):
    return layers.BatchNormalization(axis=-1, momentum=0.9997, epsilon=0.001, name=name)


def _nasnet(who, input_shape, penultimate_filters, num_blocks, stem_block_filters,
            skip_reduction, filter_multiplier, include_top, weights, input_tensor, pooling,
            classes, default_size, classifier_activation, name):
    """A NASNet-A model: ``num_blocks`` normal cells between the reduction
    cells, ``penultimate_filters`` (a multiple of 24 *
    ``filter_multiplier`` ** 2) channels in the last cells; ImageNet
    weights exist for NASNetMobile's and NASNetLarge's settings only."""
    imagenet_utils.refuse_channels_first("NASNet")
    imagenet_utils.check_arguments(who, weights, include_top, classes, pooling)
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError(f"{who}: with weights='imagenet' the input shape must be static (no "
                         f"None), got input_shape={input_shape}")
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, require_flatten=include_top,
        weights=weights, who=who)
    img_input = imagenet_utils.image_input(input_tensor, input_shape, who)

    filters = penultimate_filters // 24
    x = layers.Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid",
                      use_bias=False, name="stem_conv1", kernel_initializer="he_normal")(img_input)
    x = _bn("stem_bn1")(x)

    p = None
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier ** 2, block_id="stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for i in range(num_blocks):
        x, p = _normal_a_cell(x, p, filters, block_id=f"{i}")
    x, p0 = _reduction_a_cell(x, p, filters * filter_multiplier, block_id=f"reduce_{num_blocks}")
    p = p0 if not skip_reduction else p
    for i in range(num_blocks):
        x, p = _normal_a_cell(x, p, filters * filter_multiplier,
                              block_id=f"{num_blocks + i + 1}")
    x, p0 = _reduction_a_cell(x, p, filters * filter_multiplier ** 2,
                              block_id=f"reduce_{2 * num_blocks}")
    p = p0 if not skip_reduction else p
    for i in range(num_blocks):
        x, p = _normal_a_cell(x, p, filters * filter_multiplier ** 2,
                              block_id=f"{2 * num_blocks + i + 1}")
    x = layers.Activation("relu")(x)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights)
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    files = WEIGHTS_FILES[default_size][0 if include_top else 1] if weights == "imagenet" \
        else ()
    return imagenet_utils.load_weights(model, weights, who, *files)


def NASNetMobile(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                 pooling=None, classes=1000, classifier_activation="softmax",
                 name="nasnet_mobile"):
    """The NASNet-A Mobile model (4 @ 1056; default input 224x224x3, at
    least 32x32; without the top the input is 224x224x3 unless
    ``input_shape`` says otherwise).  ``include_top``, ``weights`` (None,
    'imagenet' or the path of a weights file), ``input_tensor``,
    ``pooling`` (without the top: None, 'avg' or 'max'), ``classes``,
    ``classifier_activation`` and ``name``: as for the other applications.
    Inputs go through :func:`preprocess_input` (tf mode: [-1, 1]) first."""
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return _nasnet("NASNetMobile", input_shape, 1056, 4, 32, False, 2, include_top, weights,
                   input_tensor, pooling, classes, 224, classifier_activation, name)


def NASNetLarge(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="nasnet_large"):
    """The NASNet-A Large model (6 @ 4032; default input 331x331x3, at least
    32x32).  ``include_top``, ``weights`` (None, 'imagenet' or the path of
    a weights file), ``input_tensor``, ``input_shape`` (only without the
    top, or equal to the default), ``pooling`` (without the top: None,
    'avg' or 'max'), ``classes``, ``classifier_activation`` and ``name``:
    as for the other applications.  Inputs go through
    :func:`preprocess_input` (tf mode: [-1, 1]) first."""
    return _nasnet("NASNetLarge", input_shape, 4032, 6, 96, True, 2, include_top, weights,
                   input_tensor, pooling, classes, 331, classifier_activation, name)


def _separable_conv_block(ip, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    """ReLU, separable convolution, batch normalization, twice (the first
    convolution with the stride)."""
    x = layers.Activation("relu")(ip)
    if strides == (2, 2):
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=f"separable_conv_1_pad_{block_id}")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.SeparableConv2D(filters, kernel_size, strides=strides,
                               name=f"separable_conv_1_{block_id}", padding=conv_pad,
                               use_bias=False)(x)
    x = _bn(f"separable_conv_1_bn_{block_id}")(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(filters, kernel_size, name=f"separable_conv_2_{block_id}",
                               padding="same", use_bias=False)(x)
    return _bn(f"separable_conv_2_bn_{block_id}")(x)


def _adjust_block(p, ip, filters, block_id=None):
    """The previous cell's output ``p`` brought to the size of ``ip`` (two
    offset half-width 1x1 convolutions at stride 2) or to ``filters``
    channels (a 1x1 convolution)."""
    if p is None:
        p = ip
    elif p.shape[-2] != ip.shape[-2]:
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name=f"adjust_avg_pool_1_{block_id}")(p)
        p1 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False,
                           name=f"adjust_conv_1_{block_id}", kernel_initializer="he_normal")(p1)
        p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name=f"adjust_avg_pool_2_{block_id}")(p2)
        p2 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False,
                           name=f"adjust_conv_2_{block_id}", kernel_initializer="he_normal")(p2)
        p = layers.concatenate([p1, p2], axis=-1)
        p = _bn(f"adjust_bn_{block_id}")(p)
    elif p.shape[-1] != filters:
        p = _relu_conv_bn(p, filters, f"adjust_conv_projection_{block_id}",
                          f"adjust_bn_{block_id}")
    return p


def _relu_conv_bn(x, filters, conv_name, bn_name):
    """ReLU, 1x1 convolution to ``filters`` channels, batch normalization."""
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(filters, (1, 1), strides=(1, 1), padding="same", name=conv_name,
                      use_bias=False, kernel_initializer="he_normal")(x)
    return _bn(bn_name)(x)


def _normal_a_cell(ip, p, filters, block_id=None):
    """The normal cell: five pairs of operations summed, concatenated with
    the adjusted previous output.  Returns (output, ``ip``)."""
    p = _adjust_block(p, ip, filters, block_id)
    h = _relu_conv_bn(ip, filters, f"normal_conv_1_{block_id}", f"normal_bn_1_{block_id}")

    x1_1 = _separable_conv_block(h, filters, kernel_size=(5, 5),
                                 block_id=f"normal_left1_{block_id}")
    x1_2 = _separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")
    x1 = layers.add([x1_1, x1_2], name=f"normal_add_1_{block_id}")

    x2_1 = _separable_conv_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}")
    x2_2 = _separable_conv_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")
    x2 = layers.add([x2_1, x2_2], name=f"normal_add_2_{block_id}")

    x3 = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                 name=f"normal_left3_{block_id}")(h)
    x3 = layers.add([x3, p], name=f"normal_add_3_{block_id}")

    x4_1 = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                   name=f"normal_left4_{block_id}")(p)
    x4_2 = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                   name=f"normal_right4_{block_id}")(p)
    x4 = layers.add([x4_1, x4_2], name=f"normal_add_4_{block_id}")

    x5 = _separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}")
    x5 = layers.add([x5, h], name=f"normal_add_5_{block_id}")

    x = layers.concatenate([p, x1, x2, x3, x4, x5], axis=-1, name=f"normal_concat_{block_id}")
    return x, ip


def _reduction_a_cell(ip, p, filters, block_id=None):
    """The reduction cell: halves the size.  Returns (output, ``ip``)."""
    p = _adjust_block(p, ip, filters, block_id)
    h = _relu_conv_bn(ip, filters, f"reduction_conv_1_{block_id}", f"reduction_bn_1_{block_id}")
    h3 = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(h, 3),
                              name=f"reduction_pad_1_{block_id}")(h)

    x1_1 = _separable_conv_block(h, filters, (5, 5), strides=(2, 2),
                                 block_id=f"reduction_left1_{block_id}")
    x1_2 = _separable_conv_block(p, filters, (7, 7), strides=(2, 2),
                                 block_id=f"reduction_right1_{block_id}")
    x1 = layers.add([x1_1, x1_2], name=f"reduction_add_1_{block_id}")

    x2_1 = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid",
                               name=f"reduction_left2_{block_id}")(h3)
    x2_2 = _separable_conv_block(p, filters, (7, 7), strides=(2, 2),
                                 block_id=f"reduction_right2_{block_id}")
    x2 = layers.add([x2_1, x2_2], name=f"reduction_add_2_{block_id}")

    x3_1 = layers.AveragePooling2D((3, 3), strides=(2, 2), padding="valid",
                                   name=f"reduction_left3_{block_id}")(h3)
    x3_2 = _separable_conv_block(p, filters, (5, 5), strides=(2, 2),
                                 block_id=f"reduction_right3_{block_id}")
    x3 = layers.add([x3_1, x3_2], name=f"reduction_add3_{block_id}")

    x4 = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                 name=f"reduction_left4_{block_id}")(x1)
    x4 = layers.add([x2, x4])

    x5_1 = _separable_conv_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}")
    x5_2 = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid",
                               name=f"reduction_right5_{block_id}")(h3)
    x5 = layers.add([x5_1, x5_2], name=f"reduction_add4_{block_id}")

    x = layers.concatenate([x2, x3, x4, x5], axis=-1, name=f"reduction_concat_{block_id}")
    return x, ip


def preprocess_input(x, data_format=None):
    """tf-mode preprocessing: pixels scaled from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
