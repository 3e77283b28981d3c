"""Every public layer of pynn.layers in a tiny model, exported in float32,
float16, dynamic range and full integer and run in the LiteRT interpreter
against predict (typical arguments and unusual ones: dilation, strides with
padding="same", masks, return_sequences, merge modes, depth multipliers,
stacked cells, ...), or refused with a ConversionError naming the layer.
A layer added to pynn.layers without a case here fails
test_every_public_layer_is_swept."""
import inspect

import numpy as np
import pytest

import pynn
from litehelp import MODES, TOLERANCE, check_export, convert, run_all, sweep_model
from pynn import layers as L
from pynn.utils import set_random_seed

IMAGE = (8, 8, 3)
VOLUME = (4, 6, 6, 2)


def uniform(shape, n=16, lo=0.0, hi=1.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, (n,) + shape).astype(np.float32)


def normal(shape, n=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype(np.float32)


def ids(shape=(6,), vocab=20, n=16, seed=0, padded=False):
    x = np.random.default_rng(seed).integers(1, vocab, (n,) + shape).astype(np.int32)
    if padded:  # (row i keeps 1 + i % steps ids, then zeros)
        for i, row in enumerate(x):
            row[1 + i % shape[0]:] = 0
    return x


def seq(shape, make, data, dtype="float32"):
    """A case: Sequential([Input(shape), *make()]) and its data."""
    def build():
        set_random_seed(3)
        return pynn.Sequential([pynn.Input(shape, dtype=dtype)] + make()), [data()]
    return build


def merge(layer, shape=(5,)):
    return sweep_model([shape, shape], lambda a, b: layer()([a, b]),
                      lambda: [normal(shape), normal(shape, seed=1)])


def image(make, shape=IMAGE, **kw):
    return seq(shape, make, lambda: uniform(shape, **kw))


def series(make, shape=(6, 4)):
    return seq(shape, make, lambda: normal(shape))


def tokens(make, padded=True):
    return seq((6,), make, lambda: ids(padded=padded), dtype="int32")


def masked_softmax():
    return sweep_model([(5,), (5,)], lambda a, m: L.Softmax()(a, mask=m),
                      lambda: [normal((5,)), np.arange(80).reshape(16, 5) % 3 > 0],
                      ["float32", "bool"])


def reversible(cap, tie):
    """A language model's tied input and output embedding."""
    def call(a):
        e = L.ReversibleEmbedding(20, 4, tie_weights=tie, logit_soft_cap=cap,
                                  embeddings_initializer="random_normal")
        return e(L.Dense(4, activation="tanh")(e(a)), reverse=True)
    return sweep_model([(6,)], call, lambda: [ids()], ["int32"])


# name (the layer's class name first): the model and its data; each exports
# in every mode and matches predict.
EXPORTS = {
    "Dense": series(lambda: [L.Dense(4, activation="relu")], (5,)),
    "Dense_3d_tanh": series(lambda: [L.Dense(4, activation="tanh")], (3, 5)),
    "EinsumDense": series(lambda: [L.EinsumDense("ab,bc->ac", 4, bias_axes="c")], (5,)),
    "EinsumDense_heads": series(lambda: [L.EinsumDense("abc,cde->abde", (None, 2, 4),
                                                       bias_axes="de")], (3, 6)),
    "EinsumDense_merge_heads": series(lambda: [L.EinsumDense(
        "abcd,cde->abe", (None, 5), bias_axes="e", activation="relu")], (3, 2, 4)),
    "EinsumDense_reordered": series(lambda: [L.EinsumDense(
        "abc,cd->adb", (4, 3), bias_axes="d", activation="tanh")], (3, 6)),
    "EinsumDense_ellipsis": series(lambda: [L.EinsumDense(
        "...b,bc->...c", 4, bias_axes="c", activation="gelu")], (3, 6)),
    "Activation": series(lambda: [L.Dense(4), L.Activation("swish")], (5,)),
    "Identity": series(lambda: [L.Dense(4), L.Identity()], (5,)),
    "Lambda": series(lambda: [L.Dense(4), L.Lambda(lambda t: t * 2.0 + 1.0)], (5,)),
    "Flatten": image(lambda: [L.Conv2D(2, 3), L.Flatten()]),
    "Reshape": series(lambda: [L.Dense(6), L.Reshape((2, 3))], (6,)),
    "Permute": image(lambda: [L.Permute((3, 1, 2))]),
    "RepeatVector": series(lambda: [L.RepeatVector(3)], (5,)),
    "Masking": series(lambda: [L.Masking(0.0), L.LSTM(3)]),
    "Conv1D": series(lambda: [L.Conv1D(4, 3)], (10, 3)),
    "Conv1D_causal_dilated": series(lambda: [L.Conv1D(4, 3, padding="causal",
                                                      dilation_rate=2)], (10, 3)),
    "Conv1D_same_strided": series(lambda: [L.Conv1D(4, 3, strides=2, padding="same")],
                                  (10, 3)),
    "Conv2D": image(lambda: [L.Conv2D(4, 3, activation="relu")]),
    "Conv2D_same_strided": image(lambda: [L.Conv2D(4, 3, strides=2, padding="same")]),
    "Conv2D_dilated": image(lambda: [L.Conv2D(4, 3, dilation_rate=2)]),
    "Conv1DTranspose": series(lambda: [L.Conv1DTranspose(4, 3)], (10, 3)),
    "Conv2DTranspose": image(lambda: [L.Conv2DTranspose(4, 3, strides=2, padding="same")]),
    "DepthwiseConv1D": series(lambda: [L.DepthwiseConv1D(3)], (10, 3)),
    "DepthwiseConv2D": image(lambda: [L.DepthwiseConv2D(3)]),
    "DepthwiseConv2D_multiplier_same": image(lambda: [L.DepthwiseConv2D(
        3, strides=2, padding="same", depth_multiplier=2)]),
    "DepthwiseConv2D_dilated": image(lambda: [L.DepthwiseConv2D(3, dilation_rate=2)]),
    "SeparableConv1D": series(lambda: [L.SeparableConv1D(4, 3)], (10, 3)),
    "SeparableConv2D": image(lambda: [L.SeparableConv2D(4, 3, depth_multiplier=2,
                                                        padding="same")]),
    "SeparableConv2D_dilated": image(lambda: [L.SeparableConv2D(4, 3, dilation_rate=2)]),
    "MaxPooling1D": series(lambda: [L.MaxPooling1D(2)], (10, 3)),
    "MaxPooling1D_same": series(lambda: [L.MaxPooling1D(3, strides=2, padding="same")],
                                (9, 3)),
    "MaxPooling2D": image(lambda: [L.MaxPooling2D()]),
    "MaxPooling2D_same": image(lambda: [L.MaxPooling2D(3, strides=2, padding="same")],
                               (7, 7, 3)),
    "MaxPooling3D": image(lambda: [L.MaxPooling3D()], VOLUME),
    "MaxPooling3D_same": series(lambda: [L.MaxPooling3D((3, 2, 3), strides=(2, 2, 1),
                                                        padding="same")], (5, 7, 6, 2)),
    "AveragePooling3D_same": series(lambda: [L.AveragePooling3D(
        (3, 2, 3), strides=(2, 2, 1), padding="same")], (5, 7, 6, 2)),
    "AveragePooling3D_strided": series(lambda: [L.AveragePooling3D(
        (2, 3, 2), strides=(1, 2, 3))], (5, 7, 6, 2)),
    "AveragePooling1D": series(lambda: [L.AveragePooling1D(2)], (10, 3)),
    "AveragePooling2D_same": image(lambda: [L.AveragePooling2D(3, strides=2, padding="same")],
                                   (7, 7, 3)),
    "GlobalAveragePooling1D": series(lambda: [L.GlobalAveragePooling1D()], (10, 3)),
    "GlobalAveragePooling1D_masked": tokens(lambda: [L.Embedding(20, 4, mask_zero=True),
                                                     L.GlobalAveragePooling1D()]),
    "GlobalAveragePooling2D_keepdims": image(lambda: [L.GlobalAveragePooling2D(keepdims=True)]),
    "GlobalAveragePooling2D_channels_first": image(lambda: [L.GlobalAveragePooling2D(
        data_format="channels_first")], (3, 8, 8)),
    "GlobalAveragePooling3D": image(lambda: [L.GlobalAveragePooling3D()], VOLUME),
    "GlobalMaxPooling1D": series(lambda: [L.GlobalMaxPooling1D()], (10, 3)),
    "GlobalMaxPooling2D": image(lambda: [L.GlobalMaxPooling2D()]),
    "GlobalMaxPooling3D": image(lambda: [L.GlobalMaxPooling3D(keepdims=True)], VOLUME),
    "AdaptiveAveragePooling1D": series(lambda: [L.AdaptiveAveragePooling1D(4)], (10, 3)),
    "AdaptiveAveragePooling2D_uneven": image(lambda: [L.AdaptiveAveragePooling2D(3)], (7, 7, 3)),
    "AdaptiveAveragePooling2D_channels_first": image(lambda: [L.AdaptiveAveragePooling2D(
        (2, 3), data_format="channels_first")], (3, 7, 7)),
    "AdaptiveAveragePooling3D": image(lambda: [L.AdaptiveAveragePooling3D(2)], VOLUME),
    "AdaptiveMaxPooling1D_larger": series(lambda: [L.AdaptiveMaxPooling1D(7)], (5, 3)),
    "AdaptiveMaxPooling2D": image(lambda: [L.AdaptiveMaxPooling2D((4, 3))]),
    "AdaptiveMaxPooling3D": image(lambda: [L.AdaptiveMaxPooling3D((2, 3, 2))], VOLUME),
    "ZeroPadding1D": series(lambda: [L.ZeroPadding1D(2)], (10, 3)),
    "ZeroPadding2D": image(lambda: [L.ZeroPadding2D(((1, 2), (0, 1)))]),
    "ZeroPadding3D": image(lambda: [L.ZeroPadding3D(1)], VOLUME),
    "Cropping1D": series(lambda: [L.Cropping1D((2, 1))], (10, 3)),
    "Cropping2D": image(lambda: [L.Cropping2D(((1, 2), (0, 1)))]),
    "Cropping3D": image(lambda: [L.Cropping3D(1)], VOLUME),
    "UpSampling1D": series(lambda: [L.UpSampling1D(2)], (10, 3)),
    "UpSampling2D": image(lambda: [L.UpSampling2D(2)]),
    "UpSampling2D_bilinear": image(lambda: [L.UpSampling2D(2, interpolation="bilinear")]),
    "UpSampling3D": image(lambda: [L.UpSampling3D(2)], VOLUME),
    "UpSampling3D_uneven": image(lambda: [L.UpSampling3D((1, 3, 2))], (2, 3, 4, 2)),
    "Add": merge(L.Add),
    "Subtract": merge(L.Subtract),
    "Multiply": merge(L.Multiply),
    "Average": merge(L.Average),
    "Maximum": merge(L.Maximum),
    "Minimum": merge(L.Minimum),
    "Concatenate": merge(L.Concatenate),
    "Concatenate_axis1": merge(lambda: L.Concatenate(axis=1), (3, 5)),
    "Dot": merge(lambda: L.Dot(1)),
    "Dot_normalized": merge(lambda: L.Dot((2, 2), normalize=True), (3, 5)),
    "ReLU_capped": series(lambda: [L.ReLU(max_value=1.0)], (5,)),
    "ReLU_threshold": series(lambda: [L.ReLU(threshold=0.2)], (5,)),
    "ReLU_threshold_slope_cap": series(lambda: [L.ReLU(max_value=1.2, negative_slope=0.1,
                                                       threshold=0.3)], (5,)),
    "LeakyReLU": series(lambda: [L.LeakyReLU(0.2)], (5,)),
    "ThresholdedReLU": series(lambda: [L.ThresholdedReLU(theta=0.3)], (5,)),
    "SyncBatchNormalization": series(lambda: [L.SyncBatchNormalization()], (5,)),
    "ELU": series(lambda: [L.ELU(0.7)], (5,)),
    "PReLU": image(lambda: [L.PReLU(alpha_initializer="random_uniform", shared_axes=[1, 2])],
                   lo=-1.0),
    "Softmax": series(lambda: [L.Softmax()], (5,)),
    "BatchNormalization": series(lambda: [L.BatchNormalization(
        moving_mean_initializer="random_normal", beta_initializer="random_normal")], (5,)),
    "LayerNormalization": series(lambda: [L.LayerNormalization()], (3, 5)),
    "LayerNormalization_two_axes": series(lambda: [L.LayerNormalization(axis=[1, 2],
                                                                        center=False)], (3, 5)),
    "GroupNormalization": image(lambda: [L.GroupNormalization(2)], (6, 6, 4)),
    "RMSNormalization": series(lambda: [L.RMSNormalization()], (3, 5)),
    "UnitNormalization": series(lambda: [L.UnitNormalization()], (5,)),
    "Dropout": series(lambda: [L.Dense(4), L.Dropout(0.3)], (6, 5)),
    "AlphaDropout": series(lambda: [L.Dense(4), L.AlphaDropout(0.3)], (6, 5)),
    "GaussianDropout": series(lambda: [L.Dense(4), L.GaussianDropout(0.3)], (6, 5)),
    "GaussianNoise": series(lambda: [L.Dense(4), L.GaussianNoise(0.3)], (6, 5)),
    "SpatialDropout1D": series(lambda: [L.Dense(4), L.SpatialDropout1D(0.3)], (6, 5)),
    "SpatialDropout2D": image(lambda: [L.Conv2D(2, 3), L.SpatialDropout2D(0.3)]),
    "SpatialDropout3D": image(lambda: [L.SpatialDropout3D(0.3)], VOLUME),
    "ActivityRegularization": series(lambda: [L.Dense(4), L.ActivityRegularization(0.1)], (5,)),
    "SimpleRNN": series(lambda: [L.SimpleRNN(5)]),
    "SimpleRNN_sequences_backwards": series(lambda: [L.SimpleRNN(
        5, return_sequences=True, go_backwards=True)]),
    "LSTM": series(lambda: [L.LSTM(5, return_sequences=True)]),
    "GRU": series(lambda: [L.GRU(5)]),
    "GRU_reset_before": series(lambda: [L.GRU(5, reset_after=False, return_sequences=True)]),
    "GRU_masked": tokens(lambda: [L.Embedding(20, 4, mask_zero=True), L.GRU(5)]),
    "Bidirectional_concat": series(lambda: [L.Bidirectional(L.LSTM(3, return_sequences=True))]),
    "Bidirectional_sum": series(lambda: [L.Bidirectional(L.GRU(3, return_sequences=True),
                                                         merge_mode="sum")]),
    "Bidirectional_mul": series(lambda: [L.Bidirectional(L.SimpleRNN(3), merge_mode="mul")]),
    "Bidirectional_ave": series(lambda: [L.Bidirectional(L.LSTM(3), merge_mode="ave")]),
    "Bidirectional_none": sweep_model([(6, 4)], lambda a: L.Bidirectional(
        L.GRU(3), merge_mode=None)(a), lambda: [normal((6, 4))]),
    "RNN_LSTMCell": series(lambda: [L.RNN(L.LSTMCell(5))]),
    "RNN_GRUCell_masked": tokens(lambda: [L.Embedding(20, 4, mask_zero=True),
                                          L.RNN(L.GRUCell(5))]),
    "RNN_SimpleRNNCell": series(lambda: [L.RNN(L.SimpleRNNCell(5), return_sequences=True)]),
    "RNN_StackedRNNCells_backwards": series(lambda: [L.RNN(
        [L.LSTMCell(5), L.SimpleRNNCell(3)], return_sequences=True, go_backwards=True)]),
    "RNN_StackedRNNCells_masked": tokens(lambda: [L.Embedding(20, 4, mask_zero=True),
                                                  L.RNN([L.GRUCell(5), L.LSTMCell(3)])]),
    "RNN_StackedRNNCells_states": sweep_model([(6, 4)], lambda a: L.RNN(
        [L.LSTMCell(5), L.GRUCell(3)], return_state=True)(a), lambda: [normal((6, 4))]),
    "TimeDistributed": series(lambda: [L.TimeDistributed(L.Dense(3))], (4, 6)),
    "TimeDistributed_gelu_dense": series(lambda: [L.TimeDistributed(L.Dense(
        3, activation="gelu"))], (4, 6)),
    "TimeDistributed_conv_tanh": image(lambda: [L.TimeDistributed(L.Conv2D(
        3, 3, activation="tanh"))], (3, 8, 8, 2)),
    "TimeDistributed_cnn_lstm": image(lambda: [
        L.TimeDistributed(L.Conv2D(3, 3, activation="relu")),
        L.TimeDistributed(L.MaxPooling2D()), L.TimeDistributed(L.Flatten()), L.LSTM(4)],
        (3, 8, 8, 2)),
    "Embedding": tokens(lambda: [L.Embedding(20, 4)], padded=False),
    "ReversibleEmbedding": tokens(lambda: [L.ReversibleEmbedding(20, 4)], padded=False),
    "ReversibleEmbedding_reverse": reversible(None, True),
    "ReversibleEmbedding_soft_cap_untied": reversible(2.0, False),
    "MultiHeadAttention": sweep_model([(5, 6)], lambda a: L.MultiHeadAttention(2, 4)(a, a),
                                     lambda: [normal((5, 6))]),
    "MultiHeadAttention_causal": sweep_model([(5, 6)], lambda a: L.MultiHeadAttention(
        2, 4, value_dim=3)(a, a, use_causal_mask=True), lambda: [normal((5, 6))]),
    "Attention": merge(L.Attention, (5, 4)),
    "Attention_causal_concat": sweep_model([(5, 4), (5, 4)], lambda a, b: L.Attention(
        use_scale=True, score_mode="concat")([a, b], use_causal_mask=True),
        lambda: [normal((5, 4)), normal((5, 4), seed=1)]),
    "AdditiveAttention": merge(L.AdditiveAttention, (5, 4)),
    "Rescaling": image(lambda: [L.Rescaling(1 / 127.5, offset=-1)], hi=255.0),
    "Normalization": series(lambda: [L.Normalization(mean=[1, 2, 3, 4, 5],
                                                     variance=[1, 4, 9, 1, 2])], (5,)),
    "Normalization_invert": series(lambda: [L.Normalization(mean=2.0, variance=4.0,
                                                            invert=True)], (5,)),
    "Resizing": image(lambda: [L.Resizing(5, 6)]),
    "Resizing_crop_nearest": image(lambda: [L.Resizing(4, 6, crop_to_aspect_ratio=True,
                                                       interpolation="nearest")]),
    "Resizing_pad": image(lambda: [L.Resizing(4, 6, pad_to_aspect_ratio=True)]),
    "CenterCrop": image(lambda: [L.CenterCrop(5, 4)]),
    "CenterCrop_larger": image(lambda: [L.CenterCrop(10, 12)]),
    "RandomCrop": image(lambda: [L.RandomCrop(5, 6)]),
    "CategoryEncoding_multi_hot": seq((3,), lambda: [L.CategoryEncoding(6)],
                                      lambda: ids((3,), 6), "int32"),
    "CategoryEncoding_one_hot": seq((1,), lambda: [L.CategoryEncoding(6, output_mode="one_hot")],
                                    lambda: ids((1,), 6), "int32"),
    "CategoryEncoding_one_hot_per_id": seq((3,), lambda: [L.CategoryEncoding(
        6, output_mode="one_hot")], lambda: ids((3,), 6), "int32"),
    "CategoryEncoding_count_float_ids": seq((4,), lambda: [L.CategoryEncoding(
        6, output_mode="count")], lambda: ids((4,), 6).astype(np.float32)),
    "SpectralNormalization": series(lambda: [L.SpectralNormalization(L.Dense(4))], (5,)),
    "SpectralNormalization_conv_tanh": image(lambda: [L.SpectralNormalization(
        L.Conv2D(3, 3, activation="tanh"))]),
    "Pipeline": image(lambda: [L.Pipeline([L.Rescaling(2.0, offset=-1), L.RandomFlip(),
                                           L.CenterCrop(5, 5), L.Resizing(4, 4)])]),
    "Equalization": image(lambda: [L.Conv2D(3, 1), L.Equalization()]),
    "Solarization": image(lambda: [L.Conv2D(3, 1), L.Solarization()]),
}
# The augmentation layers: the identity at inference, left out of the model.
for _name, _args in {"RandomFlip": (), "RandomRotation": (0.2,), "RandomZoom": (0.2,),
                     "RandomTranslation": (0.1, 0.1), "RandomContrast": (0.2,),
                     "RandomBrightness": (0.2,), "RandomGrayscale": (), "RandomHue": (0.2,),
                     "RandomSaturation": (0.2,), "RandomSharpness": (0.2,),
                     "RandomShear": (0.2,), "RandomInvert": (), "RandomPosterization": (4,),
                     "RandomColorDegeneration": (0.2,), "RandomColorJitter": (),
                     "RandomErasing": (), "RandomGaussianBlur": (), "RandomPerspective": (),
                     "RandomHeight": (0.2,), "RandomWidth": (0.2,),
                     "RandomElasticTransform": (), "AugMix": (), "CutMix": (), "MixUp": (),
                     "RandAugment": ()}.items():
    EXPORTS[_name] = image(lambda n=_name, a=_args: [L.Conv2D(3, 1), getattr(L, n)(*a)])

# Exported in float32, float16 and dynamic range; refused for full integer
# (the op has no int8 kernel in TFLite), with this in the message.
FLOAT_ONLY = {
    "Conv3D": (image(lambda: [L.Conv3D(3, 2)], VOLUME), "CONV_3D has no int8 kernel"),
    "Conv3D_same_strided": (image(lambda: [L.Conv3D(3, 3, strides=2, padding="same")],
                                  VOLUME), "CONV_3D has no int8 kernel"),
    "Conv3D_dilated_relu": (image(lambda: [L.Conv3D(3, 2, dilation_rate=2,
                                                    activation="relu")], (5, 6, 6, 2)),
                            "CONV_3D has no int8 kernel"),
    "Discretization": (series(lambda: [L.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])],
                              (5,)), "BUCKETIZE has no int8 kernel"),
    "Discretization_multi_hot": (series(lambda: [L.Discretization(
        bin_boundaries=[-0.5, 0.0, 0.5], output_mode="multi_hot")], (5,)),
        "BUCKETIZE has no int8 kernel"),
    "RandomFourierFeatures": (series(lambda: [L.RandomFourierFeatures(8)], (5,)),
                              "COS has no int8 kernel"),
}

# Refused in every mode with a ConversionError naming the layer and this.
REFUSED = {
    "EinsumDense_summed_input_axis": (series(lambda: [L.EinsumDense("abc,cd->ad", 4)], (3, 6)),
                                      "does not contract the input"),
    "AutoContrast": (image(lambda: [L.Conv2D(3, 1), L.AutoContrast()]),
                     "no TensorFlow Lite form"),
    "TimeDistributed_recurrent": (series(lambda: [L.TimeDistributed(L.LSTM(3))], (3, 4, 5)),
                                  "TimeDistributed\\(LSTM\\) is not exported"),
}

# Layers covered by another name's cases (aliases, cells, bases, ...), or
# that pynn itself refuses to build in a model (the reason).
NOT_SWEPT = {
    "Layer": "the base class", "InputLayer": "the model's input", "Wrapper": "a base class",
    "TensorOperation": "operations on tensors: test_tensor_operations",
    "GRUCell": "RNN_GRUCell_masked", "LSTMCell": "RNN_LSTMCell",
    "SimpleRNNCell": "RNN_SimpleRNNCell", "StackedRNNCells": "RNN_StackedRNNCells_*",
    "TextVectorization": "takes strings, which pynn models do not",
    "StringLookup": "takes strings, which pynn models do not",
    "Conv3DTranspose": "test_export_sweep5", "IntegerLookup": "test_export_sweep5",
    "GroupQueryAttention": "test_export_sweep5", "ConvLSTM1D": "test_export_sweep5",
    "ConvLSTM2D": "test_export_sweep5", "ConvLSTM3D": "test_export_sweep5",
    "STFTSpectrogram": "test_export_sweep5", "MelSpectrogram": "test_export_sweep5",
    "AbstractRNNCell": "a base class (RNN_* cells)",
    "DenseFeatures": "takes a dict of feature columns: tests/compat4/test_leftovers8.py",
    "LocallyConnected1D": "refused: a product by a kernel per position (batched constant "
                          "matmul) has no pynn.lite form; tests/compat4/test_leftovers9.py",
    "LocallyConnected2D": "refused, as LocallyConnected1D",
    "HashedCrossing": "test_export_sweep5", "Hashing": "test_export_sweep5",
}


def _aliases():
    """Public names that are another public class (AvgPool2D, Convolution2D)."""
    names = [n for n, c in vars(L).items() if inspect.isclass(c) and issubclass(c, L.Layer)]
    return {n for n in names if getattr(L, n).__name__ != n and getattr(L, n).__name__ in names}


def test_every_public_layer_is_swept():
    covered = {name.split("_")[0] for name in (*EXPORTS, *FLOAT_ONLY, *REFUSED)}
    covered |= set(NOT_SWEPT) | _aliases()
    public = {n for n, c in vars(L).items()
              if inspect.isclass(c) and issubclass(c, L.Layer) and not n.startswith("_")}
    assert sorted(public - covered) == []


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_exports_in_every_mode(name):
    for mode in MODES:
        check_export(EXPORTS[name], mode)


@pytest.mark.parametrize("name", sorted(FLOAT_ONLY))
def test_exports_in_float_and_refuses_full_integer_by_name(name):
    build, message = FLOAT_ONLY[name]
    for mode in MODES[:3]:
        check_export(build, mode)
    model, xs = build()
    with pytest.raises(pynn.lite.ConversionError, match=message) as e:
        convert(model, "int8", xs)
    assert "Layer '" in str(e.value)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refuses_by_name(name):
    build, message = REFUSED[name]
    model, xs = build()
    layer = model.layers[-1]
    for mode in MODES:
        with pytest.raises(pynn.lite.ConversionError, match=message) as e:
            convert(model, mode, xs)
        assert repr(layer.name) in str(e.value)


# keras.applications models that phones run (weights=None, 32x32 inputs),
# and the layer ending their first blocks.
APPLICATIONS = {"MobileNet": "conv_pw_2_relu", "MobileNetV2": "block_4_add",
                "MobileNetV3Small": "expanded_conv_2_add",
                "MobileNetV3Large": "expanded_conv_2_add", "EfficientNetB0": "block2a_se_excite",
                "NASNetMobile": "reduction_add_2_stem_1", "DenseNet121": "conv2_block2_concat"}


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_export(name):
    """float32 equal to predict (to 1e-4 of the output's span: untrained,
    the logits are small); full integer, int8 ops alone, runs, and its
    first blocks are within the int8 tolerance.  (Past them, untrained
    random weights amplify each layer's rounding, as any perturbation,
    by about 1.2 a layer; a trained model's layers do not.)"""
    set_random_seed(0)
    model = getattr(pynn.applications, name)(input_shape=(32, 32, 3), weights=None,
                                             classes=10, classifier_activation=None)
    x = uniform((32, 32, 3), n=8, hi=255.0)
    want = model.predict(x, verbose=0)
    got = run_all(convert(model), [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.max() - want.min()))
    int8_only = [pynn.lite.OpsSet.TFLITE_BUILTINS_INT8]
    got = run_all(convert(model, "int8", [x], supported_ops=int8_only), [x])[0]
    assert got.shape == want.shape and np.all(np.isfinite(got))
    head = pynn.Model(model.inputs, model.get_layer(APPLICATIONS[name]).output)
    want = head.predict(x, verbose=0)
    got = run_all(convert(head, "int8", [x], supported_ops=int8_only), [x])[0]
    np.testing.assert_allclose(got, want, rtol=0,
                               atol=TOLERANCE["int8"] * float(want.max() - want.min()))


SMALL_STATES = {
    "LSTM": lambda: [L.LSTM(8, return_sequences=True)],
    "GRU": lambda: [L.GRU(8)],
    "SimpleRNN": lambda: [L.SimpleRNN(8)],
    "Bidirectional": lambda: [L.Bidirectional(L.LSTM(4, return_sequences=True))],
    "Dense_tanh": lambda: [L.Flatten(), L.Dense(8, activation="tanh")],
}


@pytest.mark.parametrize("name", sorted(SMALL_STATES))
def test_full_integer_keeps_small_states(name):
    """Inputs of 0.05 keep the states and tanh outputs under about 0.1:
    the int8 TANH's fixed 1/128 step alone would be 4 % of their span and
    more (7 % for the LSTM), and a forget gate's bias of 1 sharing one
    scale with the other gates' small values 6 %; the tanh of small
    inputs as its series and a projection per gate keep them within 2.5 %."""
    set_random_seed(1)
    model = pynn.Sequential([pynn.Input((6, 4))] + SMALL_STATES[name]())
    x = 0.05 * normal((6, 4), n=32)
    want = model.predict(x, verbose=0)
    assert np.abs(want).max() < 0.3
    got = run_all(convert(model, "int8", [x]), [x])[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=0.025 * float(want.max() - want.min()))


def test_full_integer_lstm_over_small_embeddings():
    set_random_seed(3)
    model = pynn.Sequential([pynn.Input((6,), dtype="int32"), L.Embedding(20, 4), L.LSTM(3)])
    x = ids(padded=True)
    want = model.predict(x, verbose=0)
    got = run_all(convert(model, "int8", [x]), [x])[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=0.02 * float(want.max() - want.min()))
