"""InceptionV3 (Szegedy et al., 2015, https://arxiv.org/abs/1512.00567), as
Keras builds it: same layers, names and order, so Keras's published weight
files load into it."""
from .. import layers
from . import imagenet_utils

WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
WEIGHTS_PATH_NO_TOP = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                       "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
WEIGHTS_MD5 = ("9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63")


def _conv2d_bn(x, filters, rows, cols, padding="same", strides=(1, 1)):
    """Convolution without bias, batch normalization without scale (the
    ReLU after it makes a scale redundant), ReLU.  Keras leaves these
    layers unnamed; the published files are matched to them by position."""
    x = layers.Conv2D(filters, (rows, cols), strides=strides, padding=padding,
                      use_bias=False)(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), scale=False)(x)
    return layers.Activation("relu")(x)


def _avg_pool_branch(x, filters):
    x = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return _conv2d_bn(x, filters, 1, 1)


def _block_35(x, pool_filters, name):
    """The 35x35 block: 1x1, 5x5, double 3x3 and pooled branches."""
    branch1x1 = _conv2d_bn(x, 64, 1, 1)
    branch5x5 = _conv2d_bn(x, 48, 1, 1)
    branch5x5 = _conv2d_bn(branch5x5, 64, 5, 5)
    branch3x3dbl = _conv2d_bn(x, 64, 1, 1)
    branch3x3dbl = _conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch3x3dbl = _conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch_pool = _avg_pool_branch(x, pool_filters)
    return layers.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=imagenet_utils.channel_axis(),
                              name=name)


def _block_17(x, width, name):
    """The 17x17 block: the 7x7 convolutions factored into 1x7 and 7x1."""
    branch1x1 = _conv2d_bn(x, 192, 1, 1)
    branch7x7 = _conv2d_bn(x, width, 1, 1)
    branch7x7 = _conv2d_bn(branch7x7, width, 1, 7)
    branch7x7 = _conv2d_bn(branch7x7, 192, 7, 1)
    branch7x7dbl = _conv2d_bn(x, width, 1, 1)
    branch7x7dbl = _conv2d_bn(branch7x7dbl, width, 7, 1)
    branch7x7dbl = _conv2d_bn(branch7x7dbl, width, 1, 7)
    branch7x7dbl = _conv2d_bn(branch7x7dbl, width, 7, 1)
    branch7x7dbl = _conv2d_bn(branch7x7dbl, 192, 1, 7)
    branch_pool = _avg_pool_branch(x, 192)
    return layers.concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=imagenet_utils.channel_axis(),
                              name=name)


def _block_8(x, i):
    """The 8x8 block: 3x3 convolutions split into 1x3 and 3x1 side by side."""
    branch1x1 = _conv2d_bn(x, 320, 1, 1)
    branch3x3 = _conv2d_bn(x, 384, 1, 1)
    branch3x3_1 = _conv2d_bn(branch3x3, 384, 1, 3)
    branch3x3_2 = _conv2d_bn(branch3x3, 384, 3, 1)
    branch3x3 = layers.concatenate([branch3x3_1, branch3x3_2], axis=imagenet_utils.channel_axis(), name=f"mixed9_{i}")
    branch3x3dbl = _conv2d_bn(x, 448, 1, 1)
    branch3x3dbl = _conv2d_bn(branch3x3dbl, 384, 3, 3)
    branch3x3dbl_1 = _conv2d_bn(branch3x3dbl, 384, 1, 3)
    branch3x3dbl_2 = _conv2d_bn(branch3x3dbl, 384, 3, 1)
    branch3x3dbl = layers.concatenate([branch3x3dbl_1, branch3x3dbl_2], axis=imagenet_utils.channel_axis())
    branch_pool = _avg_pool_branch(x, 192)
    return layers.concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=imagenet_utils.channel_axis(),
                              name=f"mixed{9 + i}")


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="inception_v3"):
    """The Inception v3 model (default input 299x299x3, at least 75x75).

    ``include_top``: global average pooling and the classifier on top;
    ``weights``: None (random), 'imagenet' (Keras's published file,
    downloaded once) or the path of a weights file; ``input_tensor``: a
    symbolic tensor to build on; ``input_shape``: (rows, cols, 3), only
    without the top (or equal to the default); ``pooling`` (without the
    top): None, 'avg' or 'max'; ``classes`` and ``classifier_activation``:
    the top's classifier.  Inputs go through :func:`preprocess_input` (tf
    mode: [-1, 1]) first."""
    who = "InceptionV3"
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=299, min_size=75)

    x = _conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = _conv2d_bn(x, 32, 3, 3, padding="valid")
    x = _conv2d_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _conv2d_bn(x, 80, 1, 1, padding="valid")
    x = _conv2d_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)

    x = _block_35(x, 32, "mixed0")
    x = _block_35(x, 64, "mixed1")
    x = _block_35(x, 64, "mixed2")

    # mixed3: 35x35 -> 17x17
    branch3x3 = _conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    branch3x3dbl = _conv2d_bn(x, 64, 1, 1)
    branch3x3dbl = _conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch3x3dbl = _conv2d_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([branch3x3, branch3x3dbl, branch_pool], axis=imagenet_utils.channel_axis(), name="mixed3")

    x = _block_17(x, 128, "mixed4")
    x = _block_17(x, 160, "mixed5")
    x = _block_17(x, 160, "mixed6")
    x = _block_17(x, 192, "mixed7")

    # mixed8: 17x17 -> 8x8
    branch3x3 = _conv2d_bn(x, 192, 1, 1)
    branch3x3 = _conv2d_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
    branch7x7x3 = _conv2d_bn(x, 192, 1, 1)
    branch7x7x3 = _conv2d_bn(branch7x7x3, 192, 1, 7)
    branch7x7x3 = _conv2d_bn(branch7x7x3, 192, 7, 1)
    branch7x7x3 = _conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([branch3x3, branch7x7x3, branch_pool], axis=imagenet_utils.channel_axis(), name="mixed8")

    x = _block_8(x, 0)
    x = _block_8(x, 1)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights, pool_name="avg_pool")
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    if include_top:
        fname, url, digest = ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5", WEIGHTS_PATH,
                              WEIGHTS_MD5[0])
    else:
        fname, url, digest = ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                              WEIGHTS_PATH_NO_TOP, WEIGHTS_MD5[1])
    return imagenet_utils.load_weights(model, weights, who, fname, url, digest)


def preprocess_input(x, data_format=None):
    """tf-mode preprocessing: pixels scaled from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
