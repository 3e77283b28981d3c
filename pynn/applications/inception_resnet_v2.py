"""Inception-ResNet v2 (Szegedy et al., 2016, https://arxiv.org/abs/1602.07261),
as Keras builds it: same layers, names and order, so Keras's published
weight files load into them.

Each Inception-ResNet block adds its scaled residual branch to its input
in a :class:`CustomScaleLayer` (``inputs[0] + inputs[1] * scale``), the
layer Keras defines for it."""
import numbers

from .. import layers, ops
from ..layers.base import Layer, shapes_str
from . import imagenet_utils

BASE_WEIGHT_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                   "inception_resnet_v2/")
# (top, no top) MD5 digests of Keras's published files.
WEIGHTS_MD5 = ("e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4")


class CustomScaleLayer(Layer):
    """``inputs[0] + inputs[1] * scale`` for a list of two tensors of one
    shape: a residual connection whose branch is scaled by ``scale``."""
    runs_on_gpu = True

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise ValueError(f"CustomScaleLayer: scale must be a number, got {scale!r}")
        self.scale = scale

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) != 2 or \
                len(input_shape[0]) != len(input_shape[1]) or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(input_shape[0], input_shape[1])):
            shapes = shapes_str(input_shape) if isinstance(input_shape, list) else \
                str(tuple(input_shape))
            raise ValueError(f"CustomScaleLayer {self.name!r}: expects a list of two inputs "
                             f"of one shape, got {shapes}")
        return tuple(a if a is not None else b for a, b in zip(*input_shape))

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def forward(self, ctx, xs, training):
        if xs[0].shape != xs[1].shape:
            raise ValueError(f"CustomScaleLayer {self.name!r}: expects two inputs of one shape, "
                             f"got {xs[0].shape} and {xs[1].shape}")
        return ops.axpby(1.0, xs[0], float(self.scale), xs[1],
                         out=ctx.buffer("y", xs[0].shape))

    def backward(self, ctx, dy, need_input_grad=True):
        need = need_input_grad if isinstance(need_input_grad, (list, tuple)) else \
            [need_input_grad] * 2
        return [dy if need[0] else None,
                ops.axpby(float(self.scale), dy, out=ctx.buffer("d1", dy.shape))
                if need[1] else None]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def conv2d_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu",
              use_bias=False, name=None):
    """Convolution, batch normalization without scale (unless the
    convolution has a bias: then neither), activation; the layers are
    named ``name``, ``name + '_bn'`` and ``name + '_ac'`` when ``name`` is
    given (Keras leaves them unnamed otherwise)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                      use_bias=use_bias, name=name)(x)
    if not use_bias:
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), scale=False,
                                      name=None if name is None else f"{name}_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def inception_resnet_block(x, scale, block_type, block_idx, activation="relu"):
    """One Inception-ResNet block (``block_type`` 'block35', 'block17' or
    'block8'): ``activation(x + scale * branch(x))``, its layers named
    ``f'{block_type}_{block_idx}_...'``."""
    if block_type == "block35":
        branch_0 = conv2d_bn(x, 32, 1)
        branch_1 = conv2d_bn(x, 32, 1)
        branch_1 = conv2d_bn(branch_1, 32, 3)
        branch_2 = conv2d_bn(x, 32, 1)
        branch_2 = conv2d_bn(branch_2, 48, 3)
        branch_2 = conv2d_bn(branch_2, 64, 3)
        branches = [branch_0, branch_1, branch_2]
    elif block_type == "block17":
        branch_0 = conv2d_bn(x, 192, 1)
        branch_1 = conv2d_bn(x, 128, 1)
        branch_1 = conv2d_bn(branch_1, 160, [1, 7])
        branch_1 = conv2d_bn(branch_1, 192, [7, 1])
        branches = [branch_0, branch_1]
    elif block_type == "block8":
        branch_0 = conv2d_bn(x, 192, 1)
        branch_1 = conv2d_bn(x, 192, 1)
        branch_1 = conv2d_bn(branch_1, 224, [1, 3])
        branch_1 = conv2d_bn(branch_1, 256, [3, 1])
        branches = [branch_0, branch_1]
    else:
        raise ValueError(f"inception_resnet_block: block_type must be 'block35', 'block17' or "
                         f"'block8', got {block_type!r}")
    block_name = f"{block_type}_{block_idx}"
    mixed = layers.Concatenate(axis=imagenet_utils.channel_axis(), name=f"{block_name}_mixed")(branches)
    up = conv2d_bn(mixed, x.shape[imagenet_utils.channel_axis()], 1, activation=None, use_bias=True,
                   name=f"{block_name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{block_name}_ac")(x)
    return x


def InceptionResNetV2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                      pooling=None, classes=1000, classifier_activation="softmax",
                      name="inception_resnet_v2"):
    """The Inception-ResNet v2 model (default input 299x299x3, at least
    75x75).

    ``include_top``, ``weights`` (None, 'imagenet' or the path of a
    weights file), ``input_tensor``, ``input_shape`` (only without the
    top, or equal to the default), ``pooling`` (without the top: None,
    'avg' or 'max'), ``classes``, ``classifier_activation`` and ``name``:
    as for the other applications.  Inputs go through
    :func:`preprocess_input` (tf mode: [-1, 1]) first."""
    who = "InceptionResNetV2"
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=299, min_size=75)

    # Stem.
    x = conv2d_bn(img_input, 32, 3, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2)(x)

    # Mixed 5b (Inception-A).
    branch_0 = conv2d_bn(x, 96, 1)
    branch_1 = conv2d_bn(x, 48, 1)
    branch_1 = conv2d_bn(branch_1, 64, 5)
    branch_2 = conv2d_bn(x, 64, 1)
    branch_2 = conv2d_bn(branch_2, 96, 3)
    branch_2 = conv2d_bn(branch_2, 96, 3)
    branch_pool = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    branch_pool = conv2d_bn(branch_pool, 64, 1)
    x = layers.Concatenate(axis=imagenet_utils.channel_axis(), name="mixed_5b")([branch_0, branch_1, branch_2,
                                                     branch_pool])

    # 10x block35 (Inception-ResNet-A).
    for block_idx in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=block_idx)

    # Mixed 6a (Reduction-A).
    branch_0 = conv2d_bn(x, 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(x, 256, 1)
    branch_1 = conv2d_bn(branch_1, 256, 3)
    branch_1 = conv2d_bn(branch_1, 384, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    x = layers.Concatenate(axis=imagenet_utils.channel_axis(), name="mixed_6a")([branch_0, branch_1, branch_pool])

    # 20x block17 (Inception-ResNet-B).
    for block_idx in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=block_idx)

    # Mixed 7a (Reduction-B).
    branch_0 = conv2d_bn(x, 256, 1)
    branch_0 = conv2d_bn(branch_0, 384, 3, strides=2, padding="valid")
    branch_1 = conv2d_bn(x, 256, 1)
    branch_1 = conv2d_bn(branch_1, 288, 3, strides=2, padding="valid")
    branch_2 = conv2d_bn(x, 256, 1)
    branch_2 = conv2d_bn(branch_2, 288, 3)
    branch_2 = conv2d_bn(branch_2, 320, 3, strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    x = layers.Concatenate(axis=imagenet_utils.channel_axis(), name="mixed_7a")([branch_0, branch_1, branch_2,
                                                     branch_pool])

    # 10x block8 (Inception-ResNet-C), the last without its activation.
    for block_idx in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=block_idx)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8",
                               block_idx=10)

    x = conv2d_bn(x, 1536, 1, name="conv_7b")

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights, pool_name="avg_pool")
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    return imagenet_utils.load_weights(model, weights, who, *imagenet_utils.published_file(
        include_top, "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels", BASE_WEIGHT_URL,
        WEIGHTS_MD5))


def preprocess_input(x, data_format=None):
    """tf-mode preprocessing: pixels scaled from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
