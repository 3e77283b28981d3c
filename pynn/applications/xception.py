"""Xception (Chollet, 2017, https://arxiv.org/abs/1610.02357), as Keras
builds it: same layers, names and order, so Keras's published weight files
load into it."""
from .. import layers
from . import imagenet_utils

WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                "xception/xception_weights_tf_dim_ordering_tf_kernels.h5")
WEIGHTS_PATH_NO_TOP = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                       "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5")
WEIGHTS_MD5 = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")


def _sepconv_bn(x, filters, name):
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name=f"{name}_bn")(x)


def _shortcut(x, filters):
    # Keras leaves these layers unnamed; the published files are matched
    # to them by position.
    residual = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same",
                             use_bias=False)(x)
    return layers.BatchNormalization(axis=imagenet_utils.channel_axis())(residual)


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="xception"):
    """The Xception model (default input 299x299x3, at least 71x71).

    ``include_top``: global average pooling and the classifier on top;
    ``weights``: None (random), 'imagenet' (Keras's published file,
    downloaded once) or the path of a weights file; ``input_tensor``: a
    symbolic tensor to build on; ``input_shape``: (rows, cols, 3), only
    without the top (or equal to the default); ``pooling`` (without the
    top): None, 'avg' or 'max'; ``classes`` and ``classifier_activation``:
    the top's classifier.  Inputs go through :func:`preprocess_input` (tf
    mode: [-1, 1]) first."""
    who = "Xception"
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=299, min_size=71)

    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)

    # Entry flow: blocks 2-4, each halving the size beside a strided 1x1
    # shortcut.  Block 2 starts without the ReLU (its input just had one),
    # and its second ReLU carries the name "block2_sepconv2_act" in Keras.
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        residual = _shortcut(x, filters)
        if block != 2:
            x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
        x = _sepconv_bn(x, filters, f"block{block}_sepconv1")
        x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
        x = _sepconv_bn(x, filters, f"block{block}_sepconv2")
        x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same",
                                name=f"block{block}_pool")(x)
        x = layers.add([x, residual])

    # Middle flow: eight residual blocks of three separable convolutions.
    for block in range(5, 13):
        residual = x
        for i in (1, 2, 3):
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
            x = _sepconv_bn(x, 728, f"block{block}_sepconv{i}")
        x = layers.add([x, residual])

    # Exit flow.
    residual = _shortcut(x, 1024)
    x = layers.Activation("relu", name="block13_sepconv1_act")(x)
    x = _sepconv_bn(x, 728, "block13_sepconv1")
    x = layers.Activation("relu", name="block13_sepconv2_act")(x)
    x = _sepconv_bn(x, 1024, "block13_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="block13_pool")(x)
    x = layers.add([x, residual])
    x = _sepconv_bn(x, 1536, "block14_sepconv1")
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _sepconv_bn(x, 2048, "block14_sepconv2")
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights, pool_name="avg_pool")
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    if include_top:
        fname, url, digest = ("xception_weights_tf_dim_ordering_tf_kernels.h5", WEIGHTS_PATH,
                              WEIGHTS_MD5[0])
    else:
        fname, url, digest = ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                              WEIGHTS_PATH_NO_TOP, WEIGHTS_MD5[1])
    return imagenet_utils.load_weights(model, weights, who, fname, url, digest)


def preprocess_input(x, data_format=None):
    """tf-mode preprocessing: pixels scaled from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
