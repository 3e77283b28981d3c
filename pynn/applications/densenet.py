"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al., 2016,
https://arxiv.org/abs/1608.06993), as Keras builds them: same layers, names
and order, so Keras's published weight files load into them."""
from .. import layers
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
# (with the top, without): the MD5s Keras checks the files against
WEIGHTS_HASHES = {
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
GROWTH_RATE = 32


def _conv_block(x, name):
    """One layer of a dense block: BN-ReLU-1x1 (4 x growth), BN-ReLU-3x3
    (growth), its output concatenated to its input."""
    x1 = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_0_bn")(x)
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * GROWTH_RATE, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_1_bn")(x1)
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(GROWTH_RATE, 3, padding="same", use_bias=False,
                       name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def _transition_block(x, name):
    """Between dense blocks: BN-ReLU, a 1x1 convolution halving the
    channels, 2x2 average pooling halving the size."""
    x = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[3] * 0.5), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _densenet(who, blocks, weights_name, include_top, weights, input_tensor, input_shape,
              pooling, classes, classifier_activation, name):
    imagenet_utils.refuse_channels_first("DenseNet")
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=224, min_size=32)
    # Keras leaves the two paddings unnamed (they have no weights).
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for i, count in enumerate(blocks):
        for j in range(1, count + 1):
            x = _conv_block(x, f"conv{i + 2}_block{j}")
        if i < 3:
            x = _transition_block(x, f"pool{i + 2}")
    x = layers.BatchNormalization(epsilon=1.001e-5, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
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
    top's classifier.  Inputs go through :func:`preprocess_input` (torch
    mode) first."""


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="densenet121"):
    return _densenet("DenseNet121", (6, 12, 24, 16), "densenet121", include_top, weights,
                     input_tensor, input_shape, pooling, classes, classifier_activation, name)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="densenet169"):
    return _densenet("DenseNet169", (6, 12, 32, 32), "densenet169", include_top, weights,
                     input_tensor, input_shape, pooling, classes, classifier_activation, name)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="densenet201"):
    return _densenet("DenseNet201", (6, 12, 48, 32), "densenet201", include_top, weights,
                     input_tensor, input_shape, pooling, classes, classifier_activation, name)


DenseNet121.__doc__ = "The DenseNet121 model." + _DOC
DenseNet169.__doc__ = "The DenseNet169 model." + _DOC
DenseNet201.__doc__ = "The DenseNet201 model." + _DOC


def preprocess_input(x, data_format=None):
    """Torch-mode preprocessing: pixels scaled to [0, 1], then each channel
    normalized by the ImageNet mean and standard deviation."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


decode_predictions = imagenet_utils.decode_predictions
