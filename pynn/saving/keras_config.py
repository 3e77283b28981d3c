"""pynn's configs in Keras's terms and back, driven by one table.

pynn's classes take Keras's arguments under Keras's names, so a config
mostly passes through; what differs is written down here, one row per
Keras class:

* the pynn class it maps to (Keras's ``Functional`` is pynn's ``Model``);
* ``pinned``: Keras settings that pynn implements for one value only
  (Conv3D's ``groups=1``): written, and on reading refused, naming the
  layer and the key, for any other value;
* ``keras_only``: settings that Keras versions write and pynn has no
  argument for (``lora_rank``, BatchNormalization's ``renorm``), with the
  one value pynn implements, checked on reading (``ANY``: the setting does
  not change what is computed);
* ``convert``: functions for settings whose form differs (tf.keras 2 writes
  BatchNormalization's ``axis`` as a list);
* ``unwritten``: settings of pynn's config that the Keras class does
  not take (SpatialDropout's ``trainable``): left out when writing;
* ``renamed``: settings older Keras versions wrote under another name
  (tf.keras 2's LeakyReLU ``alpha``, now ``negative_slope``);
* ``nested``: settings that hold a whole layer (a wrapper's ``layer``),
  each with the attribute of the pynn layer that holds it: written and
  read as layers in their own right, through this table;
* ``weight_paths``: where, under the layer's own path in a weights file,
  Keras keeps its variables: ``''`` (the layer itself) for most; a
  recurrent layer's belong to its cell (``'cell'``); a wrapper's belong
  to the layers it wraps, each under the path named for the attribute
  that holds it (``forward_layer``, ``backward_layer``; ``layer``), laid
  out as that layer's own row says.

Nested objects (initializers, regularizers, constraints, optimizers,
losses, metrics) have tables of the same shape.  A new pynn layer needs
one row in ``LAYERS``; a setting from a file that no row knows and no
pynn argument takes is refused with the layer and the key named, never
dropped.

Reading never imports or runs anything a file names: classes are looked
up in these tables and in ``custom_objects`` only, and a ``Lambda``
(Python code stored in the file) is refused by name; pynn never writes
code either, so saving a model with a ``Lambda`` in Keras's formats is
refused naming the layer.
"""
import inspect
from typing import NamedTuple

from .. import dtype_policies

ANY = object()  # a keras_only value meaning: whatever the file says


class Row(NamedTuple):
    pynn: str
    pinned: dict = {}
    keras_only: dict = {}
    convert: dict = {}
    unwritten: tuple = ()
    renamed: dict = {}
    nested: dict = {}
    weight_paths: tuple = ("",)
    weight_parts: dict = {}


def _single_axis(value):
    """tf.keras 2 writes BatchNormalization's axis as a one-element list."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


# Keras's lookup settings that change nothing pynn computes: the vocabulary
# size it froze, the vocabulary's dtype (the class says it), and the OOV
# hashing of more than one OOV index (pynn hashes its own way).
_LOOKUP_EXTRA = {"vocabulary_size": ANY, "vocabulary_dtype": ANY, "oov_method": ANY,
                 "salt": ANY}

# Keras class name -> Row.  Module: keras.layers.
LAYERS = {
    "InputLayer": Row("InputLayer", keras_only={"sparse": False, "ragged": False,
                                                "optional": False}),
    "Dense": Row("Dense", keras_only={"lora_rank": None, "lora_alpha": None,
                                      "quantization_config": None}),
    "EinsumDense": Row("EinsumDense", keras_only={"lora_rank": None, "lora_alpha": None,
                                                  "quantization_config": None,
                                                  "gptq_unpacked_column_size": None}),
    "Activation": Row("Activation"),
    "Dropout": Row("Dropout"),
    "Flatten": Row("Flatten"),
    "Reshape": Row("Reshape"),
    "Conv1D": Row("Conv1D",
                  keras_only={"lora_rank": None, "lora_alpha": None}),
    "Conv2D": Row("Conv2D",
                  keras_only={"lora_rank": None, "lora_alpha": None}),
    "Conv3D": Row("Conv3D", pinned={"groups": 1},
                  keras_only={"lora_rank": None, "lora_alpha": None}),
    "DepthwiseConv2D": Row("DepthwiseConv2D"),
    "SeparableConv2D": Row("SeparableConv2D"),
    "DepthwiseConv1D": Row("DepthwiseConv1D"),
    "SeparableConv1D": Row("SeparableConv1D"),
    "MaxPooling1D": Row("MaxPooling1D"),
    "MaxPooling2D": Row("MaxPooling2D"),
    "AveragePooling1D": Row("AveragePooling1D"),
    "AveragePooling2D": Row("AveragePooling2D"),
    "GlobalMaxPooling1D": Row("GlobalMaxPooling1D"),
    "GlobalMaxPooling2D": Row("GlobalMaxPooling2D"),
    "GlobalAveragePooling1D": Row("GlobalAveragePooling1D"),
    "GlobalAveragePooling2D": Row("GlobalAveragePooling2D"),
    "MaxPooling3D": Row("MaxPooling3D"),
    "AveragePooling3D": Row("AveragePooling3D"),
    "GlobalMaxPooling3D": Row("GlobalMaxPooling3D"),
    "GlobalAveragePooling3D": Row("GlobalAveragePooling3D"),
    "BatchNormalization": Row("BatchNormalization",
                              keras_only={"renorm": False, "renorm_clipping": None,
                                          "renorm_momentum": ANY, "fused": ANY,
                                          "virtual_batch_size": None, "adjustment": None},
                              convert={"axis": _single_axis}),
    "Concatenate": Row("Concatenate"),
    "Add": Row("Add"),
    "Subtract": Row("Subtract"),
    "Multiply": Row("Multiply"),
    "Average": Row("Average"),
    "Maximum": Row("Maximum"),
    "Minimum": Row("Minimum"),
    "Dot": Row("Dot"),
    # activations
    "ReLU": Row("ReLU"),
    "LeakyReLU": Row("LeakyReLU", renamed={"alpha": "negative_slope"}),
    "ELU": Row("ELU"),
    "PReLU": Row("PReLU"),
    "Softmax": Row("Softmax"),
    # convolution
    "Conv1DTranspose": Row("Conv1DTranspose",
                           keras_only={"lora_rank": None, "lora_alpha": None}),
    "Conv2DTranspose": Row("Conv2DTranspose",
                           keras_only={"lora_rank": None, "lora_alpha": None}),
    "Conv3DTranspose": Row("Conv3DTranspose",
                           keras_only={"lora_rank": None, "lora_alpha": None}),
    # normalization
    "LayerNormalization": Row("LayerNormalization"),
    "GroupNormalization": Row("GroupNormalization"),
    "UnitNormalization": Row("UnitNormalization"),
    # regularization
    "ActivityRegularization": Row("ActivityRegularization"),
    "AlphaDropout": Row("AlphaDropout"),
    "GaussianDropout": Row("GaussianDropout"),
    "GaussianNoise": Row("GaussianNoise"),
    "SpatialDropout1D": Row("SpatialDropout1D", unwritten=("trainable",)),
    "SpatialDropout2D": Row("SpatialDropout2D",
                            unwritten=("trainable",)),
    # reshaping
    "Cropping1D": Row("Cropping1D"),
    "Cropping2D": Row("Cropping2D"),
    "Cropping3D": Row("Cropping3D"),
    "ZeroPadding1D": Row("ZeroPadding1D"),
    "ZeroPadding2D": Row("ZeroPadding2D"),
    "ZeroPadding3D": Row("ZeroPadding3D"),
    "UpSampling1D": Row("UpSampling1D"),
    "UpSampling2D": Row("UpSampling2D"),
    "UpSampling3D": Row("UpSampling3D"),
    "RepeatVector": Row("RepeatVector"),
    "Permute": Row("Permute"),
    # preprocessing
    "Rescaling": Row("Rescaling"),
    "Normalization": Row("Normalization"),
    "Resizing": Row("Resizing"),
    "CenterCrop": Row("CenterCrop"),
    # augmentation
    "RandomFlip": Row("RandomFlip"),
    "RandomRotation": Row("RandomRotation"),
    "RandomZoom": Row("RandomZoom"),
    "RandomTranslation": Row("RandomTranslation"),
    "RandomContrast": Row("RandomContrast"),
    "RandomBrightness": Row("RandomBrightness"),
    "RandomCrop": Row("RandomCrop"),
    "RandomGrayscale": Row("RandomGrayscale"),
    "RandomHue": Row("RandomHue"),
    "RandomSaturation": Row("RandomSaturation"),
    "RandomColorJitter": Row("RandomColorJitter"),
    "RandomColorDegeneration": Row("RandomColorDegeneration"),
    "RandomSharpness": Row("RandomSharpness"),
    "RandomPosterization": Row("RandomPosterization"),
    "RandomInvert": Row("RandomInvert"),
    "Solarization": Row("Solarization"),
    "AutoContrast": Row("AutoContrast"),
    "Equalization": Row("Equalization"),
    "RandomErasing": Row("RandomErasing"),
    "RandomShear": Row("RandomShear"),
    "MixUp": Row("MixUp"),
    "CutMix": Row("CutMix"),
    "RandAugment": Row("RandAugment"),
    "AugMix": Row("AugMix"),
    "RandomGaussianBlur": Row("RandomGaussianBlur"),
    "RandomPerspective": Row("RandomPerspective"),
    "RandomElasticTransform": Row("RandomElasticTransform"),
    # Keras's Pipeline takes only its layers and name
    "Pipeline": Row("Pipeline", nested={"layers": "layers"}, unwritten=("trainable", "dtype")),
    # attention: the call's options (use_causal_mask, ...) go in Keras's node
    "MultiHeadAttention": Row("MultiHeadAttention",
                              keras_only={"use_gate": False, "sliding_window": None},
                              unwritten=("call_options",),
                              weight_parts={"query_dense": ("query_kernel", "query_bias"),
                                            "key_dense": ("key_kernel", "key_bias"),
                                            "value_dense": ("value_kernel", "value_bias"),
                                            "output_dense": ("output_kernel",
                                                             "output_bias")}),
    "Attention": Row("Attention", unwritten=("call_options",)),
    "AdditiveAttention": Row("AdditiveAttention", unwritten=("call_options",)),
    # text and categories: a vocabulary given or adapted is written in the
    # config; one Keras kept in the archive's assets is read from there
    "StringLookup": Row("StringLookup", keras_only=_LOOKUP_EXTRA),
    "IntegerLookup": Row("IntegerLookup", keras_only=_LOOKUP_EXTRA),
    "TextVectorization": Row("TextVectorization", keras_only={"vocabulary_size": ANY}),
    "CategoryEncoding": Row("CategoryEncoding"),
    "Discretization": Row("Discretization", unwritten=("trainable",)),
    "Hashing": Row("Hashing"),
    # sequences
    "Embedding": Row("Embedding", keras_only={"lora_alpha": None}),
    "Masking": Row("Masking"),
    "SimpleRNN": Row("SimpleRNN", weight_paths=("cell",)),
    "LSTM": Row("LSTM", weight_paths=("cell",)),
    "GRU": Row("GRU", weight_paths=("cell",)),
    "ConvLSTM1D": Row("ConvLSTM1D", weight_paths=("cell",)),
    "ConvLSTM2D": Row("ConvLSTM2D", weight_paths=("cell",)),
    "ConvLSTM3D": Row("ConvLSTM3D", weight_paths=("cell",)),
    "Bidirectional": Row("Bidirectional",
                         nested={"layer": "forward_layer", "backward_layer": "backward_layer"},
                         weight_paths=("forward_layer", "backward_layer")),
    "TimeDistributed": Row("TimeDistributed", nested={"layer": "layer"},
                           weight_paths=("layer",)),
    "RNN": Row("RNN", nested={"cell": "cell"}, weight_paths=("cell",)),
    "SimpleRNNCell": Row("SimpleRNNCell"),
    "LSTMCell": Row("LSTMCell"),
    "GRUCell": Row("GRUCell"),
    "StackedRNNCells": Row("StackedRNNCells", nested={"cells": "cells"},
                           weight_paths=("cells",)),
    # the layers Keras's applications define in their own modules
    "CustomScaleLayer": Row("CustomScaleLayer"),
    "LayerScale": Row("LayerScale"),
    "StochasticDepth": Row("StochasticDepth"),
    # core, normalization, regularization, pooling, hashing, attention and
    # embedding layers of Keras 3 added together
    "Identity": Row("Identity"),
    "RMSNormalization": Row("RMSNormalization"),
    # Keras keeps the wrapped kernel among the wrapper's own variables
    # (before vector_u) and again under the wrapped layer
    "SpectralNormalization": Row("SpectralNormalization", nested={"layer": "layer"},
                                 weight_paths=("", "layer")),
    "SpatialDropout3D": Row("SpatialDropout3D",
                            unwritten=("trainable",)),
    "HashedCrossing": Row("HashedCrossing"),
    "MelSpectrogram": Row("MelSpectrogram"),
    "STFTSpectrogram": Row("STFTSpectrogram"),
    "AdaptiveAveragePooling1D": Row("AdaptiveAveragePooling1D"),
    "AdaptiveAveragePooling2D": Row("AdaptiveAveragePooling2D"),
    "AdaptiveAveragePooling3D": Row("AdaptiveAveragePooling3D"),
    "AdaptiveMaxPooling1D": Row("AdaptiveMaxPooling1D"),
    "AdaptiveMaxPooling2D": Row("AdaptiveMaxPooling2D"),
    "AdaptiveMaxPooling3D": Row("AdaptiveMaxPooling3D"),
    "GroupQueryAttention": Row("GroupQueryAttention",
                               unwritten=("call_options",),
                               weight_parts={"_query_dense": ("query_kernel", "query_bias"),
                                             "_key_dense": ("key_kernel", "key_bias"),
                                             "_gate_dense": ("gate_kernel", "gate_bias"),
                                             "_value_dense": ("value_kernel", "value_bias"),
                                             "_output_dense": ("output_kernel",
                                                               "output_bias")}),
    "ReversibleEmbedding": Row("ReversibleEmbedding", keras_only={"lora_alpha": None}),
}

# The Keras module of the layers not in keras.layers (Keras finds them by
# importing it).
LAYER_MODULES = {"CustomScaleLayer": "keras.src.applications.inception_resnet_v2",
                 "LayerScale": "keras.src.applications.convnext",
                 "StochasticDepth": "keras.src.applications.convnext"}

# Keras classes whose Python name differs from the name Keras serializes
# them under: Keras names their layers and weight paths by the Python one,
# and writes it as the class name in legacy .h5 files.
PYTHON_CLASS_NAMES = {"GroupQueryAttention": "GroupedQueryAttention"}
_SERIALIZED_NAMES = {python: name for name, python in PYTHON_CLASS_NAMES.items()}

# Models: Keras class name -> (pynn kind, Keras module, registered name).
MODELS = {"Sequential": ("Sequential", "keras", None),
          "Functional": ("Functional", "keras.src.models.functional", "Functional"),
          "Model": ("Functional", "keras.src.models.functional", "Functional")}

# Classes whose config carries Python code (marshalled bytecode or a
# function's name to import): never rebuilt from a file.
CODE_CLASSES = ("Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__", "function")

_NEW_AXES = {"input_axes": None, "output_axes": None}
INITIALIZERS = {name: Row(name, keras_only=_NEW_AXES) for name in (
    "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
    "VarianceScaling")}
INITIALIZERS.update({name: Row(name) for name in (
    "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "Orthogonal",
    "TruncatedNormal", "Identity", "STFT")})
INITIALIZERS.update({"OrthogonalInitializer": Row("Orthogonal"),
                     "IdentityInitializer": Row("Identity"), "STFTInitializer": Row("STFT")})
REGULARIZERS = {name: Row(name) for name in ("L1", "L2", "L1L2", "OrthogonalRegularizer")}
CONSTRAINTS = {name: Row(name) for name in ("MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm")}

# (use_ema, ema_momentum, ema_overwrite_frequency and gradient_accumulation_steps
# are pynn's arguments too)
_OPTIMIZER_COMMON = {"loss_scale_factor": None, "jit_compile": ANY,
                     "is_legacy_optimizer": False, "decay": 0.0}
OPTIMIZERS = {
    "SGD": Row("SGD", keras_only=_OPTIMIZER_COMMON),
    "RMSprop": Row("RMSprop", keras_only={**_OPTIMIZER_COMMON, "momentum": 0.0,
                                          "centered": False}),
    "Adam": Row("Adam", keras_only=_OPTIMIZER_COMMON),
    "AdamW": Row("AdamW", keras_only=_OPTIMIZER_COMMON),
    "Adagrad": Row("Adagrad", keras_only=_OPTIMIZER_COMMON),
    "Adadelta": Row("Adadelta", keras_only=_OPTIMIZER_COMMON),
    "Adamax": Row("Adamax", keras_only=_OPTIMIZER_COMMON),
    "Nadam": Row("Nadam", keras_only=_OPTIMIZER_COMMON),
    "Lion": Row("Lion", keras_only=_OPTIMIZER_COMMON),
    "Ftrl": Row("Ftrl", keras_only=_OPTIMIZER_COMMON),
    "Adafactor": Row("Adafactor", keras_only=_OPTIMIZER_COMMON),
    "Lamb": Row("Lamb", keras_only=_OPTIMIZER_COMMON),
    "Muon": Row("Muon", keras_only=_OPTIMIZER_COMMON),
    "ScheduleFreeAdamW": Row("ScheduleFreeAdamW", keras_only=_OPTIMIZER_COMMON),
    # its inner optimizers are translated by compile_from_keras
    "MultiOptimizer": Row("MultiOptimizer"),
    # its inner optimizer is translated by compile_from_keras
    "LossScaleOptimizer": Row("LossScaleOptimizer"),
}
_LOSS_EXTRA = {"dtype": ANY}
LOSSES = {
    "MeanSquaredError": Row("MeanSquaredError", keras_only=_LOSS_EXTRA),
    "MeanAbsoluteError": Row("MeanAbsoluteError", keras_only=_LOSS_EXTRA),
    "BinaryCrossentropy": Row("BinaryCrossentropy",
                              keras_only={**_LOSS_EXTRA, "label_smoothing": 0.0, "axis": -1}),
    "CategoricalCrossentropy": Row("CategoricalCrossentropy",
                                   keras_only={**_LOSS_EXTRA, "label_smoothing": 0.0,
                                               "axis": -1}),
    "SparseCategoricalCrossentropy": Row("SparseCategoricalCrossentropy",
                                         keras_only={**_LOSS_EXTRA, "ignore_class": None,
                                                     "axis": -1}),
    "Huber": Row("Huber", keras_only=_LOSS_EXTRA),
    "MeanAbsolutePercentageError": Row("MeanAbsolutePercentageError", keras_only=_LOSS_EXTRA),
    "MeanSquaredLogarithmicError": Row("MeanSquaredLogarithmicError", keras_only=_LOSS_EXTRA),
    "Hinge": Row("Hinge", keras_only=_LOSS_EXTRA),
    "SquaredHinge": Row("SquaredHinge", keras_only=_LOSS_EXTRA),
    "KLDivergence": Row("KLDivergence", keras_only=_LOSS_EXTRA),
    "Poisson": Row("Poisson", keras_only=_LOSS_EXTRA),
    "LogCosh": Row("LogCosh", keras_only=_LOSS_EXTRA),
    "CategoricalHinge": Row("CategoricalHinge", keras_only=_LOSS_EXTRA),
    "CosineSimilarity": Row("CosineSimilarity", keras_only=_LOSS_EXTRA),
    "BinaryFocalCrossentropy": Row("BinaryFocalCrossentropy",
                                   keras_only={**_LOSS_EXTRA, "axis": -1}),
    "CategoricalFocalCrossentropy": Row("CategoricalFocalCrossentropy",
                                        keras_only={**_LOSS_EXTRA, "axis": -1}),
}
LOSSES.update({name: Row(name, keras_only=_LOSS_EXTRA) for name in (
    "CTC", "Dice", "Tversky", "Circle", "CategoricalGeneralizedCrossEntropy")})
METRICS = {
    "BinaryAccuracy": Row("BinaryAccuracy", keras_only={"dtype": ANY, "threshold": 0.5}),
    "CategoricalAccuracy": Row("CategoricalAccuracy", keras_only={"dtype": ANY}),
    "SparseCategoricalAccuracy": Row("SparseCategoricalAccuracy", keras_only={"dtype": ANY}),
    "MeanSquaredError": Row("MeanSquaredError", keras_only={"dtype": ANY}),
    "MeanAbsoluteError": Row("MeanAbsoluteError", keras_only={"dtype": ANY}),
}
METRICS.update({name: Row(name, keras_only={"dtype": ANY}) for name in (
    "RootMeanSquaredError", "Precision", "Recall", "AUC", "F1Score", "FBetaScore",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Accuracy", "R2Score",
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "PrecisionAtRecall",
    "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "KLDivergence", "CosineSimilarity", "LogCoshError", "Hinge", "SquaredHinge",
    "CategoricalHinge", "Poisson", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "PearsonCorrelation", "ConcordanceCorrelation", "IoU", "MeanIoU", "BinaryIoU", "OneHotIoU",
    "OneHotMeanIoU")})

# Which table a nested object's key belongs to, and its Keras module.
_OBJECT_KINDS = (("_initializer", INITIALIZERS, "keras.initializers"),
                 ("_regularizer", REGULARIZERS, "keras.regularizers"),
                 ("_constraint", CONSTRAINTS, "keras.constraints"))


_KERAS_NAME = {row.pynn: name for name, row in LAYERS.items()}


# ------------------------------------------------------------ pynn -> Keras

def keras_class_name(layer):
    """The Keras class name of a pynn layer or model."""
    from ..models.functional import Model
    from ..models.sequential import Sequential
    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        return type(layer).__name__ if layer._subclassed else "Functional"
    return _KERAS_NAME.get(type(layer).__name__, type(layer).__name__)


def _table_name(layer):
    """The name to look up in the tables of Keras's layers (LAYERS, the
    attention layers' call options): None for a layer of the user's own
    class, which is written by its own config and weights even when its
    name is a Keras layer's (the notebooks' own ``Attention`` layer)."""
    if not type(layer).__module__.startswith("pynn."):
        return None
    return keras_class_name(layer)


def weight_groups(layer):
    """[(path under the layer's, weights)]: where Keras keeps the layer's
    variables, each group in Keras 3's order (created trainable first).
    The layer's own path comes first, empty where its variables live
    deeper (in a recurrent layer's cell, in the layers a wrapper holds)."""
    from ..layers.base import Layer
    if getattr(layer, "quantization_mode", None) == "int8":
        return [("", int8_variables(layer))]
    row = LAYERS.get(_table_name(layer))
    if row is not None and row.weight_parts:
        parts = [(path, [w for w in (getattr(layer, a, None) for a in attrs) if w is not None])
                 for path, attrs in row.weight_parts.items()]
        # (a part the layer does not have, GroupQueryAttention's gate
        # without use_gate, has no group)
        return [("", [])] + [(path, ws) for path, ws in parts if ws]
    if row is None and (layer._traces_call or getattr(layer, "_subclassed", False)):
        return _attribute_groups(layer)
    paths = row.weight_paths if row is not None else ("",)
    if paths == ("",):
        return [("", _created_order(layer.weights))]
    # '' with other paths: the layer's own variables, then its parts'
    out = [("", _created_order(layer._weights) if "" in paths else [])]
    for path in paths:
        if path == "":
            continue
        sub = getattr(layer, path, None)
        if isinstance(sub, (list, tuple)):  # a list of layers (the cells of a stack)
            # Keras names each by its class, numbered from the second of a class on.
            from .keras_format import _snake
            used = {}
            for item in sub:
                key = _snake(keras_class_name(item))
                used[key] = used.get(key, -1) + 1
                key = f"{path}/{key}_{used[key]}" if used[key] else f"{path}/{key}"
                out += [(f"{key}/{inner}" if inner else key, ws)
                        for inner, ws in weight_groups(item)]
            continue
        if not isinstance(sub, Layer):  # a part Keras has and pynn does not (the cell)
            out.append((path, _created_order(layer.weights)))
        else:
            out += [(f"{path}/{inner}" if inner else path, ws)
                    for inner, ws in weight_groups(sub)]
    return out


def _check_int8_config(config, label):
    """Accept the quantization config Keras writes for a layer that
    ``model.quantize("int8")`` quantized with its defaults (what pynn
    implements); refuse any other by name."""
    inner = config.get("config") if isinstance(config, dict) else None
    act = (inner or {}).get("activation_quantizer") or {}
    act_config = act.get("config") or {}
    default = isinstance(inner, dict) and \
        config.get("class_name") == "Int8QuantizationConfig" and \
        inner.get("weight_quantizer") is None and \
        act.get("class_name", "AbsMaxQuantizer") == "AbsMaxQuantizer" and \
        list(act_config.get("value_range", [-127, 127])) == [-127, 127] and \
        act_config.get("epsilon", 1e-7) == 1e-7 and act_config.get("axis", -1) in (-1, [-1])
    if not default:
        raise ValueError(f"{label}: its quantization_config ({_short(config)}) is not Keras's "
                         f"default int8 one, the only one pynn implements")


def int8_variables(layer):
    """A quantized layer's variables in the order Keras stores them (its
    variable_serialization_spec): the int8 values, the bias, the scale."""
    names = ("kernel", "bias", "kernel_scale") if hasattr(layer, "kernel_scale") else \
        ("embeddings", "embeddings_scale")
    return [w for w in (getattr(layer, n, None) for n in names) if w is not None]


def _attribute_groups(layer):
    """The groups of a layer of the user's class, laid out as Keras 3's
    saving walks it (see the module docstring): its own variables, then
    each layer its attributes hold (a model's layers under
    ``attribute/layers``), each layer once."""
    from ..layers.base import Layer
    from ..models.functional import _GRAPH_ATTRIBUTES, Model
    from .keras_format import _snake, weight_layout
    out = [("", _created_order(layer._weights))]
    seen = {id(layer)}

    def visit(path, value):
        if isinstance(value, Layer):
            if id(value) in seen:
                return
            seen.add(id(value))
            if isinstance(value, Model):
                for inner, sub in weight_layout(value, path):
                    seen.add(id(sub))
                    if not isinstance(sub, Model) or sub._subclassed:
                        out.extend((f"{inner}/{p}" if p else inner, ws)
                                   for p, ws in weight_groups(sub))
            else:
                out.extend((f"{path}/{p}" if p else path, ws) for p, ws in weight_groups(value))
        elif isinstance(value, (list, tuple, dict)):
            used = {}
            for item in (value.values() if isinstance(value, dict) else value):
                if not isinstance(item, (Layer, list, tuple, dict)):
                    continue
                base = _snake(keras_class_name(item)) if isinstance(item, Layer) \
                    else "container"
                used[base] = used.get(base, -1) + 1
                visit(f"{path}/{base}_{used[base]}" if used[base] else f"{path}/{base}", item)

    for attr in sorted(vars(layer), key=lambda n: f"~{n}" if n.startswith("_") else n):
        if not (isinstance(layer, Model) and attr in _GRAPH_ATTRIBUTES):
            visit(attr, vars(layer)[attr])
    return out


def _created_order(ws):
    return [w for w in ws if w.trainable] + [w for w in ws if not w.trainable]


def _keras_object(spec, module):
    """pynn's {'class_name', 'config'} of an object in Keras 3's form."""
    if spec is None:
        return None
    # A custom object (a function, the user's class) keeps the name it is
    # registered under, which the reader looks up in custom_objects.
    return {"module": spec.get("module", module), "class_name": spec["class_name"],
            "config": spec["config"], "registered_name": spec.get("registered_name")}


def to_keras(layer, legacy=False):
    """A layer or model as Keras 3 serializes it.  ``legacy``: the form of
    the legacy HDF5 file, whose layer entries carry no module, registered
    name or build config."""
    from ..layers.base import InputLayer, Layer
    from ..layers.lambda_layer import TensorOperation
    from ..models.functional import Model
    from ..models.sequential import Sequential
    from .keras_ops import OPERATOR_MERGES, operation_to_keras
    name = keras_class_name(layer)
    if name in CODE_CLASSES:
        raise ValueError(f"save: layer {layer.name!r} is a {name}, which holds Python code; "
                         f"pynn never writes code into a Keras file (.keras, .h5). Replace it "
                         f"with pynn layers or your own Layer subclass (given to Keras in "
                         f"custom_objects), or save in pynn's format (.pynn)")
    if name not in LAYERS and name not in MODELS and not isinstance(layer, InputLayer) and \
            type(layer).__module__.startswith("pynn."):
        raise ValueError(f"save: layer {layer.name!r} is a {name}, which pynn cannot write in "
                         f"Keras's file formats (.keras, .h5) yet: no table row maps its "
                         f"config and weights to Keras's. Save the model in pynn's format "
                         f"(.pynn)")
    if isinstance(layer, Sequential):
        inner = ([layer._input_layer] if layer._input_layer is not None else []) + layer.layers
        config = {"name": layer.name, "trainable": layer.trainable,
                  "dtype": dtype_policies.serialize(layer.dtype_policy),
                  "layers": [to_keras(l, legacy) for l in inner]}
        shape = layer._input_layer.shape if layer._input_layer is not None else None
        build = {"input_shape": None if shape is None else list(shape)}
    elif isinstance(layer, Model) and layer._subclassed:
        if legacy:
            raise ValueError(f"save: model {layer.name!r} is of a subclass of Model ({name}) "
                             f"computing in its own call(); Keras's legacy .h5 format holds "
                             f"Functional and Sequential models only: save as .keras (or "
                             f".pynn)")
        # Keras's way: the class (by its registered name, else its own),
        # its own config, and the input shape its call is traced on when
        # it is rebuilt
        config = layer.get_config()
        build = {"input_shape": _shape_list(layer._inputs[0].shape)} \
            if layer._program is not None and len(layer._inputs) == 1 else None
        if layer._eager_call and isinstance(layer._build_input_shape, (tuple, list)):
            # (a call run at every call, not traced: the shape it was built for)
            build = {"input_shape": _shape_list(layer._build_input_shape)}
    elif isinstance(layer, Model):
        from .config import functional_config
        config = functional_config(layer)
        entries = []
        for entry, sub in zip(config["layers"], layer._operations):
            if sub.__dict__.get("_from_operator") and not legacy:
                # x + y: Keras's operation, its two tensors as its arguments
                # (the legacy .h5 format, of layers only, keeps the merge layer)
                sub = TensorOperation(OPERATOR_MERGES[type(sub).__name__],
                                      [{"__tensor__": 0}, {"__tensor__": 1}], name=sub.name)
            if isinstance(sub, TensorOperation):
                if legacy:
                    raise ValueError(f"save: operation {sub.name!r} ({sub.op}) on symbolic "
                                     f"tensors: Keras's legacy .h5 format holds layers only; "
                                     f"save as .keras (or .pynn)")
                entries.append(operation_to_keras(sub, entry["inbound_nodes"]))
                continue
            spec = to_keras(sub, legacy)
            spec["name"] = entry["name"]
            spec["inbound_nodes"] = [_node_to_keras(sub, node) if _table_name(sub) in
                                     _CALL_OPTION_LAYERS else _spread_binding(node)
                                     for node in entry["inbound_nodes"]]
            if entry.get("operator"):  # (as in pynn's config: see functional_config)
                spec["operator"] = True
            entries.append(spec)
        config["layers"] = entries
        build = {"input_shape": None}
    else:
        config = _layer_config_to_keras(layer, LAYERS.get(_table_name(layer)))
        build = None if isinstance(layer, InputLayer) or layer._build_input_shape is None \
            else {"input_shape": _shape_list(layer._build_input_shape)}
        if type(layer).get_build_config is not Layer.get_build_config:
            build = layer.get_build_config()  # the user's own, for its build_from_config
        if build is not None and _table_name(layer) in _QUERY_VALUE_LAYERS:
            # Keras builds it from the shapes of its call's arguments
            shapes = _shape_list(layer._build_input_shape)
            build = {"shapes_dict": dict(zip(("query_shape", "value_shape", "key_shape"),
                                             shapes))}
    if name in MODELS:
        module, registered = MODELS[name][1:]
    elif name in LAYERS:
        module, registered = LAYER_MODULES.get(name, "keras.layers"), None
    else:  # the user's own class: Keras finds it by its registered name
        from ..utils.custom_objects import get_registered_name
        module, registered = type(layer).__module__, get_registered_name(type(layer))
    if legacy:
        return {"class_name": PYTHON_CLASS_NAMES.get(name, name), "config": config}
    spec = {"module": module, "class_name": name, "config": config,
            "registered_name": registered}
    if build is not None:
        spec["build_config"] = build
    return spec


# Layers whose call options (use_causal_mask, return_attention_scores;
# MultiHeadAttention's key and attention_mask) Keras records in the node
# that calls them, where pynn keeps them in the layer's ``call_options``.
_CALL_OPTION_LAYERS = ("MultiHeadAttention", "GroupQueryAttention", "Attention",
                       "AdditiveAttention")
# Those called with query, value (key, attention_mask) as arguments.
_QUERY_VALUE_LAYERS = ("MultiHeadAttention", "GroupQueryAttention")


def _spread_binding(node):
    """A node of layer(a, b, c) bound to call(a, b, mask=None) by position
    (pynn's config keeps the tensors in one list and the binding): as Keras
    records that call, three positional arguments."""
    kwargs = dict(node["kwargs"])
    if kwargs.pop("call_binding", None) is None:
        return node
    return {"args": list(node["args"][0]), "kwargs": kwargs}


def _node_to_keras(layer, node):
    """A node of pynn's functional config calling an attention layer, as
    Keras records that call."""
    options = layer._graph_options or {}
    (inputs,), kwargs = node["args"], dict(node["kwargs"])
    if options.get("causal"):
        kwargs["use_causal_mask"] = True
    if options.get("scores"):
        kwargs["return_attention_scores"] = True
    if _table_name(layer) not in _QUERY_VALUE_LAYERS:
        return {"args": [inputs], "kwargs": kwargs}
    query, value, key = inputs[:3]
    if options.get("mask_input"):
        kwargs["attention_mask"] = inputs[3]
    own_key = key["config"]["keras_history"] != value["config"]["keras_history"]
    if own_key:
        kwargs["key"] = key
    masks = kwargs.pop("mask", None)
    if masks is not None:  # the masks given to the call (see Node.mask_layout)
        for name, m in zip(("query_mask", "value_mask", "key_mask"), masks):
            if m is not None and (name != "key_mask" or own_key):
                kwargs[name] = m
    return {"args": [query, value], "kwargs": kwargs}


def _shape_list(shape):
    if isinstance(shape, list):
        return [list(s) for s in shape]
    return list(shape)


def _layer_config_to_keras(layer, row):
    from ..layers.base import InputLayer
    config = layer.get_config()
    if isinstance(layer, InputLayer):
        return config
    # The model's InputLayer carries the input shape Keras reads.
    config.pop("batch_input_shape", None)
    # A user's get_config that does not start from the base layer's (no
    # name) is written as it is, as Keras does: its from_config gets no
    # arguments the class does not take.  (A few Keras layers write their
    # dtype by name: get_config says so.)
    out = {"name": config.pop("name"), "trainable": config.pop("trainable", True),
           "dtype": config.pop("dtype", None) or dtype_policies.serialize(layer.dtype_policy)} \
        if "name" in config else {}
    nested = row.nested if row is not None else {}
    for key, value in config.items():
        if key in nested:
            sub = getattr(layer, nested[key])
            out[key] = [to_keras(s) for s in sub] if isinstance(sub, (list, tuple)) else \
                to_keras(sub)
            continue
        if callable(getattr(value, "get_config", None)) and not isinstance(value, type):
            # an object a user's config holds (a layer, a regularizer): as
            # Keras serializes it
            from .serialization import serialize_keras_object
            out[key] = serialize_keras_object(value)
            continue
        module = next((m for suffix, _, m in _OBJECT_KINDS if key.endswith(suffix)), None)
        out[key] = _keras_object(value, module) if module is not None and \
            isinstance(value, dict) else value
    if row is not None:
        out.update(row.pinned)
        for key in row.unwritten:
            del out[key]
    if out.get("output_mode") == "tf_idf" and "idf_weights" in out:
        # Keras keeps the weights as a named variable (idf_weights), outside
        # the numbered layout pynn writes and reads
        raise ValueError(f"save: layer {layer.name!r} is a {type(layer).__name__} with "
                         f"output_mode='tf_idf', which pynn cannot write in Keras's file "
                         f"formats (.keras, .h5) yet. Save the model in pynn's format (.pynn)")
    if type(layer).__name__ == "CategoryEncoding" and "max_tokens" in out:
        # tf.keras 2.3's adapted form reads a 1-D input as a batch of ids,
        # which no Keras 3 CategoryEncoding does
        raise ValueError(f"save: layer {layer.name!r} is a CategoryEncoding in tf.keras 2.3's "
                         f"form (max_tokens, or adapt), which Keras 3's files cannot hold. "
                         f"Give it num_tokens, or save the model in pynn's format (.pynn)")
    return out


def optimizer_to_keras(optimizer, legacy=False):
    config = optimizer.get_config()
    if "inner_optimizer" in config:  # LossScaleOptimizer
        config["inner_optimizer"] = optimizer_to_keras(optimizer.inner_optimizer, legacy)
    mapping = getattr(optimizer, "_optimizer_map", None)
    if "optimizer_map" in config and mapping is not None:  # MultiOptimizer's OptimizerMap
        inner = {"default_optimizer": optimizer_to_keras(mapping.default_optimizer, legacy),
                 "optimizer_map": {k: optimizer_to_keras(v, legacy)
                                   for k, v in mapping.items()}}
        spec = {"class_name": "OptimizerMap", "config": inner}
        config["optimizer_map"] = spec if legacy else _keras_object(spec, "keras.optimizers")
    spec = {"class_name": type(optimizer).__name__, "config": config}
    return spec if legacy else _keras_object(spec, "keras.optimizers")


# Keras's loss classes that take from_logits.
_LOSSES_WITH_LOGITS = frozenset({"BinaryCrossentropy", "CategoricalCrossentropy",
                                 "SparseCategoricalCrossentropy", "BinaryFocalCrossentropy",
                                 "CategoricalFocalCrossentropy"})


def compile_to_keras(model, legacy=False):
    """Keras's compile config (``compile_config`` of a .keras file) or, with
    ``legacy``, the ``training_config`` of an HDF5 file."""
    from .. import losses, metrics
    from .config import map_structure
    loss, loss_weights, metric_specs, weighted = model._compile_args

    def loss_spec(value):
        if isinstance(value, str):
            return value
        if callable(value) and hasattr(value, "_loss_class"):
            return value.__name__
        spec = losses.serialize(losses.to_loss(value))
        config = spec.get("config") if isinstance(spec, dict) else None
        if isinstance(config, dict) and spec.get("class_name") not in _LOSSES_WITH_LOGITS and \
                config.get("from_logits") is False:
            # Keras's regression losses take no from_logits argument.
            spec = {**spec, "config": {k: v for k, v in config.items() if k != "from_logits"}}
        return spec if legacy else _keras_object(spec, "keras.losses")

    def metric_spec(value):
        if isinstance(value, str):
            return value
        if callable(value) and (hasattr(value, "_metric_class") or
                                hasattr(value, "_loss_class")):
            return value.__name__
        if callable(value) and not isinstance(value, (metrics.Metric, type)):
            # the program's own function, by its name as Keras writes it
            from ..utils.custom_objects import serialize_function
            spec = dict(serialize_function(value))
        else:
            spec = metrics.serialize(metrics.to_metric(value))
        return spec if legacy else _keras_object(spec, "keras.metrics")

    config = {"loss": map_structure(loss_spec, loss), "loss_weights": loss_weights,
              "metrics": map_structure(metric_spec, metric_specs),
              "weighted_metrics": map_structure(metric_spec, weighted),
              "run_eagerly": bool(getattr(model, "run_eagerly", False)),
              "steps_per_execution": 1, "jit_compile": False}
    if legacy:
        config["optimizer_config"] = optimizer_to_keras(model.optimizer, legacy=True)
        return config
    return {"optimizer": optimizer_to_keras(model.optimizer), **config}


# ------------------------------------------------------------ Keras -> pynn

class _Translator:
    """Turns a Keras model config into pynn's, refusing what pynn cannot
    build."""

    def __init__(self, custom_objects, asset=None):
        self.custom = dict(custom_objects or {})
        # reads a file of the .keras archive's assets (None: there is none)
        self.asset = asset

    def model_or_layer(self, spec, where="the model", path=""):
        """``path``: where Keras keeps the layer's variables and assets
        (the layer paths of keras_format.weight_layout)."""
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
            raise ValueError(f"{where} must be described as {{'class_name': ..., "
                             f"'config': {{...}}}}, got {_short(spec)}")
        name = _SERIALIZED_NAMES.get(spec["class_name"], spec["class_name"])
        config = spec.get("config", {})
        if config is None:
            config = {}
        if isinstance(config, list) and name == "Sequential":  # Keras 1/2: a bare list
            config = {"layers": config}
        if not isinstance(config, dict):
            raise ValueError(f"{where} ({name}): its config must be a dict, got {_short(config)}")
        custom_key = next((k for k in (name, spec.get("registered_name")) if
                           isinstance(k, str) and k in self.custom), None)
        if custom_key is None:
            # a layer registered with register_keras_serializable, found by
            # the 'package>name' Keras writes, as Keras finds it
            from .config import _registered_layer
            custom_key = next((k for k in (spec.get("registered_name"), name) if
                               isinstance(k, str) and _registered_layer(k) is not None), None)
        if custom_key is None and isinstance(name, str):
            # a subclassed model the loading program defines, in the module
            # the file names, as Keras finds it
            from .config import _model_subclass
            if _model_subclass(name, spec.get("module")) is not None:
                custom_key = name
        label = f"{name} layer {config.get('name', '?')!r}"
        if custom_key is not None:
            out = {"class_name": custom_key, "config": config}
            if isinstance(spec.get("build_config"), dict):
                out["build_config"] = spec["build_config"]  # for its build_from_config
            return out
        if name in CODE_CLASSES:
            raise ValueError(f"{label} holds Python code stored in the file; pynn never runs "
                             f"code from a model file. Rebuild that part of the model with "
                             f"pynn layers, or pass your own class in custom_objects="
                             f"{{{name!r}: ...}}")
        if name in MODELS:
            kind = MODELS[name][0]
            if kind == "Sequential":
                return {"class_name": "Sequential",
                        "config": self._sequential(spec, config, label, path)}
            return {"class_name": "Functional",
                    "config": self._functional(config, label, path)}
        row = LAYERS.get(name)
        if row is None:
            raise ValueError(f"{label}: the layer class {name!r} is not one pynn has; if it is "
                             f"your own layer, pass it in custom_objects={{{name!r}: {name}}}")
        return {"class_name": row.pynn,
                "config": self._layer_config(row, config, label, path)}

    def _sequential(self, spec, config, label, path):
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ValueError(f"{label}: a Sequential config needs a 'layers' list")
        self._check_dtype(config.get("dtype"), label)
        out = {"name": config.get("name"), "trainable": config.get("trainable", True),
               "layers": [self.model_or_layer(l, f"layer {i} of {label}", p)
                          for i, (l, p) in enumerate(zip(layers, _layer_paths(
                              layers, path, sequential=True)))]}
        build = (spec.get("build_config") or {}).get("input_shape") or \
            config.get("build_input_shape")
        if build is not None:
            out["build_input_shape"] = build
        return out

    def _functional(self, config, label, path):
        from .keras_ops import operation_from_keras
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ValueError(f"{label}: a functional model config needs a 'layers' list")
        masks = _mask_operations(layers, config.get("output_layers"), label)
        entries = []
        kept = [e for e in layers if _entry_name(e) not in masks]
        # Keras's operations hold no variables and take no path in its files.
        layer_entries = [e for e in kept if not _is_operation(e)]
        paths = dict(zip(map(id, layer_entries), _layer_paths(layer_entries, path)))
        for i, entry in enumerate(kept):
            where = f"layer {i} of {label}"
            if _is_operation(entry):
                spec, nodes = operation_from_keras(entry, where)
                spec["name"] = _entry_name(entry)
                spec["inbound_nodes"] = nodes
                entries.append(spec)
                continue
            spec = self.model_or_layer(entry, where, paths[id(entry)])
            spec["name"] = _entry_name(entry)
            nodes = [_without_mask(node, masks) for node in entry.get("inbound_nodes") or []]
            class_name = _SERIALIZED_NAMES.get(entry.get("class_name"), entry.get("class_name"))
            # (the user's own class of a Keras layer's name is called as it
            # was, its nodes as they are)
            own = getattr(self.custom.get(class_name), "__module__", "pynn.")
            if class_name in _CALL_OPTION_LAYERS and spec["class_name"] == class_name and \
                    own.startswith("pynn."):
                nodes, spec["config"]["call_options"] = _nodes_from_keras(
                    class_name, nodes, f"{class_name} layer {_entry_name(entry)!r}")
            spec["inbound_nodes"] = nodes
            if entry.get("operator") is True:  # x + y in pynn's legacy .h5 file
                spec["operator"] = True
            entries.append(spec)
        return {"name": config.get("name"), "trainable": config.get("trainable", True),
                "layers": entries, "input_layers": config.get("input_layers"),
                "output_layers": config.get("output_layers")}

    def _check_dtype(self, dtype, label):
        """The name of the dtype policy a config gives (a name or Keras's
        serialized policy; None: the default), refused by name where pynn
        has no such policy."""
        if dtype is None:
            return None
        return dtype_policies.get(dtype, label).name

    def _layer_config(self, row, config, label, path=""):
        from .config import layer_classes
        if row.pynn in ("StringLookup", "IntegerLookup", "TextVectorization"):
            config = self._vocabulary(row, config, label, path)
        cls = layer_classes()[row.pynn]
        accepted = accepted_arguments(cls)
        out = {}
        for key, value in config.items():
            if key in row.renamed:
                if row.renamed[key] in config:
                    raise ValueError(f"{label}: it has both {key} and {row.renamed[key]} "
                                     f"(the newer name for {key})")
                key = row.renamed[key]
            if key in row.convert:
                value = row.convert[key](value)
            if key in row.nested:
                if isinstance(value, list):
                    try:
                        value = [self.model_or_layer(v, f"{key} of {label}") for v in value]
                    except ValueError as e:
                        raise ValueError(f"{label}, in its {key}: {e}") from None
                elif value is not None:
                    try:
                        value = self.model_or_layer(value, f"{key} of {label}")
                    except ValueError as e:
                        raise ValueError(f"{label}, in its {key}: {e}") from None
                out[key] = value
                continue
            # (Hashing's dtype is its output's: int64 or int32 bins.)
            if key == "quantization_config" and value is not None:
                _check_int8_config(value, label)
                continue
            if key == "dtype" and row.pynn not in ("InputLayer", "Hashing"):
                policy = self._check_dtype(value, label)
                if policy not in (None, "float32"):
                    if "dtype" not in accepted:
                        raise ValueError(f"{label}: pynn's {row.pynn} takes no dtype policy, "
                                         f"the file gives {policy!r}")
                    out["dtype"] = policy
                continue
            if key in row.pinned or key in row.keras_only:
                want = row.pinned.get(key, row.keras_only.get(key))
                if want is not ANY and not _same(value, want):
                    raise ValueError(f"{label}: {key}={value!r} is not supported by pynn "
                                     f"(it implements {key}={want!r})")
                continue
            if key not in accepted:
                raise ValueError(f"{label}: the setting {key}={_short(value)} is not one pynn "
                                 f"supports")
            out[key] = self._value(key, value, label)
        return out

    def _vocabulary(self, row, config, label, path):
        """A lookup layer's config with the vocabulary Keras keeps in the
        archive's assets (``assets/<path>/vocabulary.txt``, one token a
        line, the reserved ones first) when its config holds none."""
        if config.get("output_mode") in ("tf_idf", "tf-idf"):
            raise ValueError(f"{label}: output_mode='tf_idf' is not read from Keras's files "
                             f"(Keras keeps its idf_weights as a named variable)")
        if config.get("vocabulary") is not None or self.asset is None:
            return config
        text = self.asset(f"assets/{path}/vocabulary.txt")
        if text is None:
            return config
        lines = text.splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        if row.pynn == "IntegerLookup":
            try:
                lines = [int(line) for line in lines]
            except ValueError:
                raise ValueError(f"{label}: its vocabulary (assets/{path}/vocabulary.txt) "
                                 f"holds a line that is not an integer") from None
        return {**config, "vocabulary": lines}

    def _value(self, key, value, label):
        if key == "activation":
            return self._activation(value, label)
        if isinstance(value, dict) and "class_name" in value:
            kind = next(((table, suffix) for suffix, table, _ in _OBJECT_KINDS
                         if key.endswith(suffix)), None)
            if value["class_name"] == "__tuple__":
                return list((value.get("config") or {}).get("value", []))
            if kind is None:
                raise ValueError(f"{label}: {key} is a {value['class_name']!r} object, which "
                                 f"pynn cannot read there")
            return self.object(value, kind[0], f"{label}: {key}")
        return value

    def _activation(self, value, label):
        from .. import activations
        if isinstance(value, dict):
            inner = value.get("config")
            if value.get("class_name") in CODE_CLASSES and isinstance(inner, str) and \
                    value.get("module") in ("keras.activations", "keras.src.activations"):
                value = inner
            elif self._program_function(value) is not None:
                return self._program_function(value)
            else:
                raise ValueError(f"{label}: its activation is a Python function "
                                 f"({_short(inner)}); pynn never runs code from a model file "
                                 f"and supports the named activations")
        try:
            return activations.canonical(value)
        except ValueError as e:
            raise ValueError(f"{label}: {e}") from None

    def _program_function(self, spec):
        """The function a file's function description names (by the
        'package>name' Keras writes, or its own name), where the program
        registered it or passed it in custom_objects: the program's own
        code, never code from the file.  None when it has none."""
        from ..utils.custom_objects import get_registered_object
        name = spec.get("config")
        # (by its bare name too: custom_objects={'square_fn': ...} for the
        # 'my_package>square_fn' written)
        bare = name.rsplit(">", 1)[-1] if isinstance(name, str) else None
        for key in (spec.get("registered_name"), name, bare):
            found = get_registered_object(key, self.custom) if isinstance(key, str) else None
            if callable(found):
                return found
        return None

    def object(self, spec, table, where):
        """{'class_name', 'config'} of a nested Keras object, checked
        against its table."""
        if isinstance(spec, str):
            return spec
        name = spec.get("class_name")
        custom_key = next((k for k in (name, spec.get("registered_name")) if
                           isinstance(k, str) and k in self.custom), None)
        if custom_key is not None:
            found, config = self.custom[custom_key], spec.get("config")
            if isinstance(found, type) and hasattr(found, "from_config") and \
                    isinstance(config, dict):
                return found.from_config(config)
            return found
        if name == "function":
            # a program's own function (a loss made by create_huber(2.0),
            # say), found by its name as Keras finds it
            found = self._program_function(spec)
            if found is None:
                fn = spec.get("config")
                raise ValueError(f"{where}: the function {fn!r} is not known; pass it in "
                                 f"custom_objects={{{fn!r}: ...}} or register it")
            return found
        row = table.get(name)
        if row is None:
            raise ValueError(f"{where}: {name!r} is not supported by pynn (it has "
                             f"{', '.join(sorted(table))})")
        config = spec.get("config") or {}
        if not isinstance(config, dict):
            raise ValueError(f"{where}: the config of {name!r} must be a dict")
        out = {}
        for key, value in config.items():
            if key in row.keras_only:
                want = row.keras_only[key]
                if want is not ANY and not _same(value, want):
                    raise ValueError(f"{where}: {name} with {key}={value!r} is not supported "
                                     f"by pynn (it implements {key}={want!r})")
                continue
            out[key] = value
        return {"class_name": row.pynn, "config": out}


def _layer_paths(entries, path, sequential=False):
    """The paths of a model config's layers in Keras's files (as
    keras_format.weight_layout names them: the snake-case class name,
    numbered from the second of a class on, under ``path/layers``); a
    Sequential's InputLayer is not one of its layers."""
    from .keras_format import _snake
    used, out = {}, []
    for entry in entries:
        name = entry.get("class_name") if isinstance(entry, dict) else None
        if sequential and name == "InputLayer" or not isinstance(name, str):
            out.append("")
            continue
        base = _snake(PYTHON_CLASS_NAMES.get(name, name))
        used[base] = used.get(base, -1) + 1
        name = f"{base}_{used[base]}" if used[base] else base
        out.append(f"{path}/layers/{name}" if path else f"layers/{name}")
    return out


def _nodes_from_keras(class_name, nodes, label):
    """(pynn's nodes, call_options) for the nodes of a Keras config calling
    an attention layer: the query, value, key (and MultiHeadAttention's
    attention_mask) become the node's input list, use_causal_mask and
    return_attention_scores the layer's call options, the same for every
    call (pynn keeps one set per layer)."""
    out, options = [], None
    for node in nodes:
        args, kwargs = _node_parts(node)
        kwargs = dict(kwargs)
        found = {"causal": bool(kwargs.pop("use_causal_mask", False)),
                 "scores": bool(kwargs.pop("return_attention_scores", False))}
        if class_name in _QUERY_VALUE_LAYERS:
            given = dict(zip(("query", "value", "key", "attention_mask"), args))
            for key in ("query", "value", "key", "attention_mask"):
                if key in kwargs:
                    given[key] = kwargs.pop(key)
            if given.get("query") is None or given.get("value") is None:
                raise ValueError(f"{label}: a call without query and value")
            inputs = [given["query"], given["value"],
                      given["value"] if given.get("key") is None else given["key"]]
            masks = [kwargs.pop(k, None) for k in ("query_mask", "value_mask", "key_mask")]
            if given.get("key") is None and masks[2] is None:
                masks[2] = masks[1]  # (the value is the key)
            if given.get("attention_mask") is not None:
                inputs.append(given["attention_mask"])
                found["mask_input"] = True
                masks.append(None)
            if any(m is not None for m in masks):
                kwargs["mask"] = masks
        else:
            if len(args) != 1:
                raise ValueError(f"{label}: a call with {len(args)} positional arguments, "
                                 f"expected the list [query, value(, key)]")
            inputs = args[0]
        if kwargs.get("mask") is None:
            kwargs.pop("mask", None)
        extra = sorted(k for k in kwargs if k not in ("training", "mask"))
        if extra:
            raise ValueError(f"{label}: the call argument(s) {', '.join(extra)} are not "
                             f"supported by pynn in a model file")
        if options is not None and found != options:
            raise ValueError(f"{label}: its calls use different options ({options} and "
                             f"{found}); pynn keeps one set per layer")
        options = found
        out.append({"args": [inputs], "kwargs": kwargs})
    return out, options


def _entry_name(entry):
    return entry.get("name", (entry.get("config") or {}).get("name"))


def _histories(value):
    """The [layer, node, tensor] references in a node's arguments."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            return [history] if isinstance(history, list) and history else []
        return [h for v in value.values() for h in _histories(v)]
    if isinstance(value, (list, tuple)):
        return [h for v in value for h in _histories(v)]
    return []


def _node_parts(node):
    """(args, kwargs) of a Keras 3 inbound node; Keras 2's nodes (lists)
    hold no operations."""
    if isinstance(node, dict):
        return node.get("args") or [], node.get("kwargs") or {}
    return [], {}


def _without_mask(node, masks):
    """The node without the masks that ``masks`` (dropped operations)
    compute: pynn's layers pass those on themselves."""
    args, kwargs = _node_parts(node)
    given = kwargs.get("mask")
    if not any(h[0] in masks for h in _histories(given)):
        return node
    kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
    if isinstance(given, list):
        given = [None if any(h[0] in masks for h in _histories(m)) else m for m in given]
        if any(m is not None for m in given):
            kwargs["mask"] = given
    return {**node, "kwargs": kwargs}


def _mask_operations(layers, outputs, label):
    """The names of the entries of a functional config that are Keras
    operations computing the mask of a layer.  Keras 3 records the mask of
    ``Embedding(mask_zero=True)`` (``not_equal(x, 0)``) and of ``Masking``
    (``any(not_equal(x, value), axis=-1)``) as operations in the graph,
    passed to the next layers as their ``mask``; pynn's layers compute
    and pass those masks themselves, so the operations are left out where
    each is exactly the mask of such a layer of the model and is used as a
    mask only.  Other operations stay in the graph, a layer given one as
    its mask reading it as such."""
    entries = {_entry_name(e): e for e in layers if isinstance(e, dict)}
    # The operations a layer reads as its mask (directly, or through the
    # 'any' over a not_equal).
    as_mask = set()
    for e in entries.values():
        for node in e.get("inbound_nodes") or []:
            as_mask |= {h[0] for h in _histories(_node_parts(node)[1].get("mask"))}
    for name in list(as_mask):
        e = entries.get(name)
        if e is not None and e.get("class_name") == "Any":
            nodes = e.get("inbound_nodes") or []
            as_mask |= {h[0] for h in _histories(_node_parts(nodes[0])[0] if nodes else [])}
    ops = {name: e for name, e in entries.items() if _is_operation(e) and name in as_mask}
    if not ops:
        return set()
    maskers = set()  # (tensor masked, value, whether 'any' over the last axis follows)
    for e in entries.values():
        config = e.get("config") or {}
        if e.get("class_name") == "Embedding" and config.get("mask_zero") is True:
            value, reduced = 0.0, False
        elif e.get("class_name") == "Masking":
            value, reduced = config.get("mask_value", 0.0), True
        else:
            continue
        for node in e.get("inbound_nodes") or []:
            refs = _histories(_node_parts(node)[0])
            if len(refs) == 1 and isinstance(value, (int, float)):
                maskers.add((tuple(refs[0]), float(value), reduced))
    readers = {}  # operation name -> the operations that read it
    sources = {}  # operation name -> the one tensor it reads
    for name, e in ops.items():
        nodes = e.get("inbound_nodes") or []
        refs = _histories(_node_parts(nodes[0])[0]) if len(nodes) == 1 else []
        if len(refs) == 1:
            readers.setdefault(refs[0][0], []).append(name)
            sources[name] = tuple(refs[0])
    # read by a layer as an input, or an output of the model: kept
    used = set(_reference_names(outputs))
    for e in entries.values():
        if not _is_operation(e):
            for node in e.get("inbound_nodes") or []:
                args, kwargs = _node_parts(node)
                used |= {h[0] for h in _histories(args) + _histories(
                    {k: v for k, v in kwargs.items() if k != "mask"})}
    dropped = set()
    for name, e in ops.items():
        args = _node_parts(e["inbound_nodes"][0])[0] if name in sources else []
        value = args[1] if len(args) == 2 else None
        if e.get("class_name") != "NotEqual" or name in used or \
                isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        after = readers.get(name, [])
        if not all(ops[r].get("class_name") == "Any" and r not in used and
                   (ops[r].get("config") or {}).get("axis") == -1 and
                   not (ops[r].get("config") or {}).get("keepdims", False) for r in after):
            continue
        if (sources[name], float(value), bool(after)) in maskers:
            dropped |= {name, *after}
    return dropped


def _is_operation(entry):
    """Whether a functional config's entry is one of Keras's operations (the
    legacy HDF5 file names no module: its mask operations by class)."""
    module = entry.get("module")
    if module is None:
        return entry.get("class_name") in ("NotEqual", "Any")
    return str(module).startswith("keras.src.ops")


def _reference_names(refs):
    """The layer names in a model's input_layers / output_layers."""
    if isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str):
        return [refs[0]]
    if isinstance(refs, dict):
        refs = list(refs.values())
    return [n for r in refs for n in _reference_names(r)] if isinstance(refs, list) else []


def accepted_arguments(cls):
    """The keyword arguments a pynn class's constructor chain takes."""
    names = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return names


def _same(value, want):
    if isinstance(value, (list, tuple)) and isinstance(want, (list, tuple)):
        return list(value) == list(want)
    if isinstance(value, bool) or isinstance(want, bool) or value is None or want is None:
        return value is want
    return value == want


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def model_from_keras(spec, custom_objects=None, asset=None):
    """pynn's model config ({'class_name', 'config'}) for a Keras model
    config; ``asset(name)`` reads a file of a .keras archive (the
    vocabularies Keras keeps there)."""
    return _Translator(custom_objects, asset).model_or_layer(spec)


def compile_from_keras(config, custom_objects=None, legacy=False):
    """pynn's compile settings for Keras's compile config (or, with
    ``legacy``, an HDF5 file's training config)."""
    from .config import map_structure
    if not isinstance(config, dict):
        raise ValueError("the compile settings must be a dict")
    t = _Translator(custom_objects)
    opt = config.get("optimizer_config" if legacy else "optimizer")
    if isinstance(opt, str):
        opt = {"class_name": opt, "config": {}}
    if not isinstance(opt, dict):
        raise ValueError(f"the optimizer must be described as a dict, got {_short(opt)}")
    name = str(opt.get("class_name", ""))
    known = {k.lower(): k for k in OPTIMIZERS}
    opt = dict(opt, class_name=known.get(name.lower(), name))

    def loss(value):
        return t.object(value, LOSSES, "the loss") if isinstance(value, dict) else value

    def metric(value):
        return t.object(value, METRICS, "a metric") if isinstance(value, dict) else value

    optimizer = t.object(opt, OPTIMIZERS, "the optimizer")
    inner = optimizer.get("config", {}).get("inner_optimizer") \
        if isinstance(optimizer, dict) else None
    def inner_optimizer(spec):
        spec = dict(spec, class_name=known.get(str(spec.get("class_name", "")).lower(),
                                               spec.get("class_name")))
        return t.object(spec, OPTIMIZERS, "the inner optimizer")

    if isinstance(inner, dict):  # LossScaleOptimizer's
        optimizer["config"]["inner_optimizer"] = inner_optimizer(inner)
    mapping = optimizer.get("config", {}).get("optimizer_map") \
        if isinstance(optimizer, dict) else None
    if isinstance(mapping, dict) and isinstance(mapping.get("config"), dict):
        # a MultiOptimizer's OptimizerMap: its optimizers translated one by one
        inner_config = dict(mapping["config"])
        if isinstance(inner_config.get("default_optimizer"), dict):
            inner_config["default_optimizer"] = inner_optimizer(
                inner_config["default_optimizer"])
        if isinstance(inner_config.get("optimizer_map"), dict):
            inner_config["optimizer_map"] = {k: inner_optimizer(v) for k, v in
                                             inner_config["optimizer_map"].items()}
        optimizer["config"]["optimizer_map"] = {"class_name": "OptimizerMap",
                                                "config": inner_config}
    return {"optimizer": optimizer,
            "loss": map_structure(loss, config.get("loss")),
            "loss_weights": config.get("loss_weights"),
            "metrics": map_structure(metric, config.get("metrics")),
            "weighted_metrics": map_structure(metric, config.get("weighted_metrics")),
            "run_eagerly": bool(config.get("run_eagerly") or False)}
