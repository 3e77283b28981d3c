"""ResNet50, ResNet101 and ResNet152 (He et al., 2015,
https://arxiv.org/abs/1512.03385), as Keras builds them: same layers, names
and order, so Keras's published weight files load into them."""
from .. import layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# (with the top, without): the MD5s Keras checks the files against
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def _residual_block(x, filters, stride=1, conv_shortcut=True, name=None):
    """A bottleneck block: 1x1 (filters), 3x3 (filters), 1x1 (4 * filters)
    convolutions with batch normalization, added to the shortcut."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stack_v1(x, filters, blocks, stride1=2, name=None):
    x = _residual_block(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _residual_block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def stacks_v1(x, blocks):
    """The four stages of V1 bottleneck blocks, ``blocks`` per stage."""
    for i, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks)):
        x = _stack_v1(x, filters, count, stride1=1 if i == 0 else 2, name=f"conv{i + 2}")
    return x


def build(who, stacks, blocks, preact, weights_name, include_top, weights, input_tensor,
          input_shape, pooling, classes, classifier_activation, name):
    """A ResNet of either version around ``stacks(x, blocks)``, the residual
    stages: V1 (``preact`` False) normalizes the stem's convolution, V2
    (pre-activation, He et al., 2016) normalizes inside each block before
    its convolutions, and once more after the last stage."""
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=224, min_size=32)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    if not preact:
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stacks(x, blocks)
    if preact:
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=1.001e-5, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights, pool_name="avg_pool", named_pooling=True)
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    return imagenet_utils.load_weights(model, weights, who, *imagenet_utils.published_file(
        include_top, f"{weights_name}_weights_tf_dim_ordering_tf_kernels", BASE_WEIGHTS_PATH,
        WEIGHTS_HASHES[weights_name]))


_DOC = """

    Default input 224x224x3 (at least 32x32).  ``include_top``: global
    average pooling and the classifier on top; ``weights``: None (random),
    'imagenet' (Keras's published file, downloaded once) or the path of a
    weights file; ``input_tensor``: a symbolic tensor to build on;
    ``input_shape``: (rows, cols, 3), only without the top (or equal to the
    default); ``pooling`` (without the top): None (the 4D output of the last
    block), 'avg' or 'max'; ``classes`` and ``classifier_activation``: the
    top's classifier.  Inputs go through :func:`preprocess_input` (caffe
    mode) first."""


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="resnet50"):
    return build("ResNet50", stacks_v1, (3, 4, 6, 3), False, "resnet50", include_top, weights,
                 input_tensor, input_shape, pooling, classes, classifier_activation, name)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet101"):
    return build("ResNet101", stacks_v1, (3, 4, 23, 3), False, "resnet101", include_top,
                 weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                 name)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet152"):
    return build("ResNet152", stacks_v1, (3, 8, 36, 3), False, "resnet152", include_top,
                 weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                 name)


ResNet50.__doc__ = "The ResNet50 model." + _DOC
ResNet101.__doc__ = "The ResNet101 model." + _DOC
ResNet152.__doc__ = "The ResNet152 model." + _DOC


def preprocess_input(x, data_format=None):
    """Caffe-mode preprocessing: RGB -> BGR, minus the ImageNet mean pixel."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
