"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., 2016,
https://arxiv.org/abs/1603.05027: pre-activation blocks), as Keras builds
them: same layers, names and order, so Keras's published weight files load
into them."""
from .. import layers
from . import imagenet_utils, resnet


def _residual_block(x, filters, stride=1, conv_shortcut=False, name=None):
    """A pre-activation bottleneck block: batch normalization and ReLU
    first, then 1x1 (filters), 3x3 (filters, strided) and 1x1
    (4 * filters) convolutions, added to the shortcut."""
    preact = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    elif stride > 1:
        # Keras leaves this layer unnamed (it has no weights).
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def _stack(x, filters, blocks, stride1=2, name=None):
    """A stage: its first block widens the channels by a convolution
    shortcut, its last one (not the first, as in V1) strides."""
    x = _residual_block(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = _residual_block(x, filters, name=f"{name}_block{i}")
    return _residual_block(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _stacks(x, blocks):
    for i, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks)):
        x = _stack(x, filters, count, stride1=1 if i == 3 else 2, name=f"conv{i + 2}")
    return x


_DOC = """

    Default input 224x224x3 (at least 32x32).  ``include_top``: global
    average pooling and the classifier on top; ``weights``: None (random),
    'imagenet' (Keras's published file, downloaded once) or the path of a
    weights file; ``input_tensor``: a symbolic tensor to build on;
    ``input_shape``: (rows, cols, 3), only without the top (or equal to the
    default); ``pooling`` (without the top): None (the 4D output of the last
    block), 'avg' or 'max'; ``classes`` and ``classifier_activation``: the
    top's classifier.  Inputs go through :func:`preprocess_input` (tf mode:
    [-1, 1]) first."""


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax", name="resnet50v2"):
    return resnet.build("ResNet50V2", _stacks, (3, 4, 6, 3), True, "resnet50v2", include_top,
                        weights, input_tensor, input_shape, pooling, classes,
                        classifier_activation, name)


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet101v2"):
    return resnet.build("ResNet101V2", _stacks, (3, 4, 23, 3), True, "resnet101v2",
                        include_top, weights, input_tensor, input_shape, pooling, classes,
                        classifier_activation, name)


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet152v2"):
    return resnet.build("ResNet152V2", _stacks, (3, 8, 36, 3), True, "resnet152v2",
                        include_top, weights, input_tensor, input_shape, pooling, classes,
                        classifier_activation, name)


ResNet50V2.__doc__ = "The ResNet50V2 model." + _DOC
ResNet101V2.__doc__ = "The ResNet101V2 model." + _DOC
ResNet152V2.__doc__ = "The ResNet152V2 model." + _DOC


def preprocess_input(x, data_format=None):
    """tf-mode preprocessing: pixels scaled from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
