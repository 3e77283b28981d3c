"""ConvNeXt Tiny, Small, Base, Large and XLarge (Liu et al., 2022,
https://arxiv.org/abs/2201.03545), as Keras builds them: same layers,
names and order (the stem and the downsampling steps are Sequential
models inside the model), so Keras's published weight files load into
them.

The input normalization is part of the model unless
``include_preprocessing=False`` (a Normalization by ImageNet's mean and
variance in [0, 255]), so the models take pixels in [0, 255] and
:func:`preprocess_input` is a pass-through.  Each block ends in a
:class:`LayerScale` (a learned per-channel factor) and, where its drop
rate is above 0, a :class:`StochasticDepth` before its residual
addition, as in Keras."""
import numbers

import numpy as np

from .. import initializers, layers, ops
from ..layers.base import Layer, shape_str, unique_name
from ..models import Sequential
from . import imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"

# (top, no top) SHA-256 digests of Keras's published files convnext_tiny.h5,
# convnext_tiny_notop.h5, ...
WEIGHTS_HASHES = {
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}

MODEL_CONFIGS = {
    "tiny": {"depths": [3, 3, 9, 3], "projection_dims": [96, 192, 384, 768],
             "default_size": 224},
    "small": {"depths": [3, 3, 27, 3], "projection_dims": [96, 192, 384, 768],
              "default_size": 224},
    "base": {"depths": [3, 3, 27, 3], "projection_dims": [128, 256, 512, 1024],
             "default_size": 224},
    "large": {"depths": [3, 3, 27, 3], "projection_dims": [192, 384, 768, 1536],
              "default_size": 224},
    "xlarge": {"depths": [3, 3, 27, 3], "projection_dims": [256, 512, 1024, 2048],
               "default_size": 224},
}
# The largest drop rate of the blocks' stochastic depth (Keras's builders
# use 0: no StochasticDepth layers) and LayerScale's initial factor.
DROP_PATH_RATE = 0.0
LAYER_SCALE_INIT_VALUE = 1e-6


class StochasticDepth(layers.Dropout):
    """Drops a residual branch for whole samples while training: each
    sample's ``x`` is zeroed with probability ``drop_path_rate`` and
    otherwise scaled by ``1 / (1 - drop_path_rate)``; the identity at
    inference.  (A Dropout whose mask has one entry per sample.)"""

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(drop_path_rate, **kwargs)
        self.drop_path_rate = drop_path_rate

    def build(self, input_shape):
        self.noise_shape = (None,) + (1,) * (len(input_shape) - 1)
        self.built = True

    def get_config(self):
        return {**Layer.get_config(self), "drop_path_rate": self.drop_path_rate}


class LayerScale(Layer):
    """``x * gamma``: one learned factor per channel (the last axis),
    ``projection_dim`` of them, each starting at ``init_values``."""
    runs_on_gpu = True
    fixed_input_axes = (-1,)

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        if isinstance(init_values, bool) or not isinstance(init_values, numbers.Real):
            raise ValueError(f"LayerScale: init_values must be a number, got {init_values!r}")
        if isinstance(projection_dim, bool) or \
                not isinstance(projection_dim, (numbers.Integral, np.integer)) or \
                projection_dim < 1:
            raise ValueError(f"LayerScale: projection_dim must be a positive integer, got "
                             f"{projection_dim!r}")
        self.init_values = init_values
        self.projection_dim = int(projection_dim)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] not in (None, self.projection_dim):
            raise ValueError(f"LayerScale {self.name!r}: expects inputs with "
                             f"{self.projection_dim} channels on the last axis, got shape "
                             f"{shape_str(input_shape)}")
        return tuple(input_shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.gamma = self.add_weight("gamma", (self.projection_dim,),
                                     initializers.Constant(self.init_values))
        self.built = True

    def _zeros(self, ctx):
        zeros = ctx.buffer("zeros", (self.projection_dim,))
        zeros[...] = 0.0
        return zeros

    def forward(self, ctx, x, training):
        x2 = x.reshape(-1, x.shape[-1])
        y = ops.channel_affine(x2, self.gamma.value, self._zeros(ctx),
                               out=ctx.buffer("y", x2.shape))
        if training:
            ctx.x = x2
        return y.reshape(x.shape)

    def backward(self, ctx, dy, need_input_grad=True):
        dy2 = dy.reshape(-1, dy.shape[-1])
        if self.gamma.grad is not None:  # (overwritten: the model adds up shared calls')
            product = ops.multiply(dy2, ctx.x, out=ctx.buffer("product", dy2.shape))
            ops.bias_grad(product, out=self.gamma.grad)
        if not need_input_grad:
            return None
        return ops.channel_affine(dy2, self.gamma.value, self._zeros(ctx),
                                  out=ctx.buffer("dx", dy2.shape)).reshape(dy.shape)

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values,
                "projection_dim": self.projection_dim}


def ConvNeXtBlock(projection_dim, drop_path_rate=0.0, layer_scale_init_value=1e-6, name=None):
    """The ConvNeXt block, as a function of its input: a 7x7 depthwise
    convolution (a Conv2D with one group per channel), layer
    normalization, a 4x wider pointwise MLP with GELU (Dense layers over
    the channels), LayerScale, stochastic depth, and the input added
    back."""
    if name is None:
        name = unique_name("prestem")

    def apply(inputs):
        x = layers.Conv2D(filters=projection_dim, kernel_size=7, padding="same",
                          groups=projection_dim, name=f"{name}_depthwise_conv")(inputs)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
        x = layers.Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
        x = layers.Activation("gelu", name=f"{name}_gelu")(x)
        x = layers.Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
        if layer_scale_init_value is not None:
            x = LayerScale(layer_scale_init_value, projection_dim,
                           name=f"{name}_layer_scale")(x)
        if drop_path_rate:
            layer = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")
        else:
            layer = layers.Activation("linear", name=f"{name}_identity")
        return inputs + layer(x)

    return apply


def PreStem(name=None):
    """The input normalization: ImageNet's mean and variance, in [0, 255]."""
    if name is None:
        name = unique_name("prestem")

    def apply(x):
        return layers.Normalization(
            mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
            variance=[(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2],
            name=f"{name}_prestem_normalization")(x)

    return apply


def Head(num_classes=1000, classifier_activation=None, name=None):
    """The classifier: global average pooling, layer normalization, Dense."""
    if name is None:
        name = unique_name("head")

    def apply(x):
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        return layers.Dense(num_classes, activation=classifier_activation,
                            name=f"{name}_head_dense")(x)

    return apply


def _convnext(variant, include_top, include_preprocessing, weights, input_tensor, input_shape,
              pooling, classes, classifier_activation, name):
    imagenet_utils.refuse_channels_first("ConvNeXt")
    config = MODEL_CONFIGS[variant]
    depths, projection_dims = config["depths"], config["projection_dims"]
    weights_name = f"convnext_{variant}"
    who = f"ConvNeXt{variant.capitalize() if variant != 'xlarge' else 'XLarge'}"
    imagenet_utils.check_arguments(who, weights, include_top, classes, pooling)
    if weights == "imagenet" and weights_name not in name:
        raise ValueError(f"{who}: with weights='imagenet' the model's name must contain "
                         f"{weights_name!r} (Keras names the weight file after it), got "
                         f"name={name!r}")
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=config["default_size"], min_size=32,
        require_flatten=include_top, weights=weights, who=who)
    img_input = imagenet_utils.image_input(input_tensor, input_shape, who)

    x = img_input
    if include_preprocessing and input_shape[-1] == 3:
        x = PreStem(name=name)(x)

    stem = Sequential([
        layers.Conv2D(projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
        layers.LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm")],
        name=f"{name}_stem")
    downsample_layers = [stem]
    for i in range(3):
        downsample_layers.append(Sequential([
            layers.LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
            layers.Conv2D(projection_dims[i + 1], kernel_size=2, strides=2,
                          name=f"{name}_downsampling_conv_{i}")],
            name=f"{name}_downsampling_block_{i}"))

    # Drop rates growing linearly over the blocks.
    depth_drop_rates = [float(r) for r in np.linspace(0.0, DROP_PATH_RATE, sum(depths))]
    cur = 0
    for i in range(4):
        x = downsample_layers[i](x)
        for j in range(depths[i]):
            x = ConvNeXtBlock(projection_dim=projection_dims[i],
                              drop_path_rate=depth_drop_rates[cur + j],
                              layer_scale_init_value=LAYER_SCALE_INIT_VALUE,
                              name=f"{name}_stage_{i}_block_{j}")(x)
        cur += depths[i]

    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Head(num_classes=classes, classifier_activation=classifier_activation, name=name)(x)
    else:
        x = imagenet_utils.global_pooling(x, pooling)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    # Keras names the file after the model's name (which must contain the
    # variant's); pynn after the variant.
    return imagenet_utils.load_weights(model, weights, who, *imagenet_utils.published_file(
        include_top, weights_name, BASE_WEIGHTS_PATH, WEIGHTS_HASHES[weights_name]))


_DOC = """The {v} model (default input 224x224x3, at least 32x32).

    Takes pixels in [0, 255]: the model normalizes them itself unless
    ``include_preprocessing=False`` (:func:`preprocess_input` is a
    pass-through).  ``include_top``, ``weights`` (None, 'imagenet' or the
    path of a weights file), ``input_tensor``, ``input_shape`` (only
    without the top, or equal to the default), ``pooling`` (without the
    top: None, 'avg' or 'max'; a LayerNormalization follows),
    ``classes``, ``classifier_activation`` and ``name`` (with
    weights='imagenet', it must contain '{weights}'): as for the other
    applications."""


def ConvNeXtTiny(include_top=True, include_preprocessing=True, weights="imagenet",
                 input_tensor=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", name="convnext_tiny"):
    return _convnext("tiny", include_top, include_preprocessing, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtSmall(include_top=True, include_preprocessing=True, weights="imagenet",
                  input_tensor=None, input_shape=None, pooling=None, classes=1000,
                  classifier_activation="softmax", name="convnext_small"):
    return _convnext("small", include_top, include_preprocessing, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtBase(include_top=True, include_preprocessing=True, weights="imagenet",
                 input_tensor=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", name="convnext_base"):
    return _convnext("base", include_top, include_preprocessing, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtLarge(include_top=True, include_preprocessing=True, weights="imagenet",
                  input_tensor=None, input_shape=None, pooling=None, classes=1000,
                  classifier_activation="softmax", name="convnext_large"):
    return _convnext("large", include_top, include_preprocessing, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name)


def ConvNeXtXLarge(include_top=True, include_preprocessing=True, weights="imagenet",
                   input_tensor=None, input_shape=None, pooling=None, classes=1000,
                   classifier_activation="softmax", name="convnext_xlarge"):
    return _convnext("xlarge", include_top, include_preprocessing, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name)


for _function in (ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase, ConvNeXtLarge, ConvNeXtXLarge):
    _function.__doc__ = _DOC.format(v=_function.__name__,
                                    weights=_function.__defaults__[-1])
del _function


preprocess_input = imagenet_utils.pass_through_preprocess_input
decode_predictions = imagenet_utils.decode_predictions
