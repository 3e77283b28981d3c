"""The layers added with the reshaping, activation, noise, normalization,
preprocessing, transposed-convolution and 1-D depthwise/separable
convolution families, each as built from a
layers module (pynn.layers or keras.layers: the arguments are Keras's),
with an input shape and the output shape and parameter count Keras 3
gives (checked against Keras itself in test_keras_reference.py)."""
import numpy as np

# id: (factory(layers module) -> layer, input shape, output shape, params)
CASES = {
    "zero_padding1d": (lambda L: L.ZeroPadding1D(), (7, 3), (9, 3), 0),
    "zero_padding1d_pair": (lambda L: L.ZeroPadding1D((2, 1)), (7, 3), (10, 3), 0),
    "zero_padding2d": (lambda L: L.ZeroPadding2D(), (5, 7, 2), (7, 9, 2), 0),
    "zero_padding2d_sym": (lambda L: L.ZeroPadding2D((1, 2)), (5, 7, 2), (7, 11, 2), 0),
    "zero_padding2d_pairs": (lambda L: L.ZeroPadding2D(((1, 0), (2, 3))), (5, 7, 2),
                             (6, 12, 2), 0),
    "zero_padding3d": (lambda L: L.ZeroPadding3D(1), (3, 4, 5, 2), (5, 6, 7, 2), 0),
    "zero_padding3d_pairs": (lambda L: L.ZeroPadding3D(((1, 0), (0, 2), (1, 1))),
                             (3, 4, 5, 2), (4, 6, 7, 2), 0),
    "cropping1d": (lambda L: L.Cropping1D(), (7, 3), (5, 3), 0),
    "cropping1d_pair": (lambda L: L.Cropping1D((2, 0)), (7, 3), (5, 3), 0),
    "cropping2d_pairs": (lambda L: L.Cropping2D(((1, 0), (2, 1))), (5, 7, 2), (4, 4, 2), 0),
    "cropping2d_int": (lambda L: L.Cropping2D(1), (5, 7, 2), (3, 5, 2), 0),
    "cropping2d_sym": (lambda L: L.Cropping2D((1, 2)), (5, 7, 2), (3, 3, 2), 0),
    "cropping3d": (lambda L: L.Cropping3D(((1, 0), (0, 1), (1, 1))), (3, 4, 5, 2),
                   (2, 3, 3, 2), 0),
    "up_sampling1d": (lambda L: L.UpSampling1D(3), (7, 3), (21, 3), 0),
    "up_sampling2d": (lambda L: L.UpSampling2D(), (5, 7, 2), (10, 14, 2), 0),
    "up_sampling2d_bilinear": (lambda L: L.UpSampling2D((2, 3), interpolation="bilinear"),
                               (5, 7, 2), (10, 21, 2), 0),
    "repeat_vector": (lambda L: L.RepeatVector(4), (5,), (4, 5), 0),
    "permute": (lambda L: L.Permute((2, 1)), (7, 3), (3, 7), 0),
    "permute3": (lambda L: L.Permute((3, 1, 2)), (5, 7, 2), (2, 5, 7), 0),
    "conv2d_transpose": (lambda L: L.Conv2DTranspose(4, 3), (5, 7, 2), (7, 9, 4), 76),
    "conv2d_transpose_same": (lambda L: L.Conv2DTranspose(4, 3, strides=2, padding="same",
                                                          activation="relu"),
                              (5, 7, 2), (10, 14, 4), 76),
    "conv2d_transpose_output_padding": (
        lambda L: L.Conv2DTranspose(3, (2, 3), strides=(2, 1), output_padding=(1, 0),
                                    use_bias=False), (5, 7, 2), (11, 9, 3), 36),
    "conv2d_transpose_same_output_padding": (
        lambda L: L.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=1,
                                    activation="tanh"), (5, 7, 2), (9, 13, 2), 66),
    "conv2d_transpose_dilated": (lambda L: L.Conv2DTranspose(4, 3, dilation_rate=2,
                                                             padding="same"),
                                 (5, 7, 2), (5, 7, 4), 76),
    "conv1d_transpose": (lambda L: L.Conv1DTranspose(4, 3, strides=2), (7, 3), (15, 4), 40),
    "conv1d_transpose_same": (lambda L: L.Conv1DTranspose(2, 4, strides=3, padding="same",
                                                          output_padding=1),
                              (7, 3), (19, 2), 26),
    "depthwise_conv1d": (lambda L: L.DepthwiseConv1D(3, depth_multiplier=2), (7, 3), (5, 6),
                         24),
    "depthwise_conv1d_same_strided": (lambda L: L.DepthwiseConv1D(4, strides=2, padding="same",
                                                                  activation="relu"),
                                      (33, 3), (17, 3), 15),
    "depthwise_conv1d_dilated": (lambda L: L.DepthwiseConv1D(3, dilation_rate=3, padding="same",
                                                             use_bias=False), (7, 1), (7, 1), 3),
    "separable_conv1d": (lambda L: L.SeparableConv1D(5, 3), (7, 3), (5, 5), 29),
    "separable_conv1d_same_strided": (
        lambda L: L.SeparableConv1D(4, 2, strides=3, padding="same", depth_multiplier=2,
                                    activation="tanh"), (33, 3), (11, 4), 40),
    "separable_conv1d_dilated": (lambda L: L.SeparableConv1D(1, 3, dilation_rate=2,
                                                             use_bias=False), (7, 2), (3, 1), 8),
    "conv3d_transpose": (lambda L: L.Conv3DTranspose(4, 3), (3, 5, 7, 2), (5, 7, 9, 4), 220),
    "conv3d_transpose_same_strided": (
        lambda L: L.Conv3DTranspose(3, (2, 3, 1), strides=(2, 1, 3), padding="same",
                                    activation="relu"), (3, 5, 7, 2), (6, 5, 21, 3), 39),
    "conv3d_transpose_valid_output_padding": (
        lambda L: L.Conv3DTranspose(2, (3, 2, 3), strides=(3, 2, 2),
                                    output_padding=(1, 1, 0), use_bias=False),
        (3, 5, 7, 2), (10, 11, 15, 2), 72),
    "conv3d_transpose_same_output_padding": (
        lambda L: L.Conv3DTranspose(2, (3, 4, 2), strides=(2, 3, 2), padding="same",
                                    output_padding=(1, 0, 1), activation="tanh"),
        (3, 5, 7, 2), (6, 12, 13, 2), 98),
    "conv3d_transpose_dilated": (
        lambda L: L.Conv3DTranspose(2, 3, dilation_rate=(2, 1, 3), padding="same"),
        (3, 5, 7, 1), (3, 5, 7, 2), 56),
    "einsum_dense": (lambda L: L.EinsumDense("ab,bc->ac", 5, bias_axes="c"), (7,), (5,), 40),
    "einsum_dense_3d_kernel": (
        lambda L: L.EinsumDense("abc,cde->abde", (7, 2, 3), bias_axes="de", activation="tanh"),
        (7, 4), (7, 2, 3), 30),
    "einsum_dense_left_ellipsis": (lambda L: L.EinsumDense("...b,bc->...c", 5), (7, 3), (7, 5),
                                   15),
    "einsum_dense_right_ellipsis": (lambda L: L.EinsumDense("ab...,bc->ac...", 5, bias_axes="c"),
                                    (3, 7, 2), (5, 7, 2), 20),
    "einsum_dense_summed_axis": (lambda L: L.EinsumDense("abc,cd->ad", 6, bias_axes="d",
                                                         activation="relu"), (7, 4), (6,), 30),
    "einsum_dense_two_axes": (lambda L: L.EinsumDense("abc,bcd->abd", (7, 6), bias_axes="bd"),
                              (7, 4), (7, 6), 210),
    "relu": (lambda L: L.ReLU(), (5, 3), (5, 3), 0),
    "relu6": (lambda L: L.ReLU(6.0), (5, 3), (5, 3), 0),
    "relu_general": (lambda L: L.ReLU(max_value=2.5, negative_slope=0.1, threshold=0.5),
                     (5, 3), (5, 3), 0),
    "relu_leaky_capped": (lambda L: L.ReLU(max_value=1.5, negative_slope=0.2), (5, 3), (5, 3),
                          0),
    "leaky_relu": (lambda L: L.LeakyReLU(), (5, 3), (5, 3), 0),
    "leaky_relu_slope": (lambda L: L.LeakyReLU(negative_slope=0.1), (5, 3), (5, 3), 0),
    "elu": (lambda L: L.ELU(), (5, 3), (5, 3), 0),
    "elu_alpha": (lambda L: L.ELU(alpha=0.5), (5, 3), (5, 3), 0),
    "softmax": (lambda L: L.Softmax(), (4, 5), (4, 5), 0),
    "softmax_axis1": (lambda L: L.Softmax(axis=1), (4, 5), (4, 5), 0),
    "prelu": (lambda L: L.PReLU(), (5, 7, 2), (5, 7, 2), 70),
    "prelu_shared": (lambda L: L.PReLU(shared_axes=[1, 2]), (5, 7, 2), (5, 7, 2), 2),
    "prelu_shared_steps": (lambda L: L.PReLU(shared_axes=1), (4, 3), (4, 3), 3),
    "gaussian_noise": (lambda L: L.GaussianNoise(0.1), (5, 3), (5, 3), 0),
    "gaussian_dropout": (lambda L: L.GaussianDropout(0.3), (5, 3), (5, 3), 0),
    "alpha_dropout": (lambda L: L.AlphaDropout(0.2), (5, 3), (5, 3), 0),
    "spatial_dropout1d": (lambda L: L.SpatialDropout1D(0.2), (7, 3), (7, 3), 0),
    "spatial_dropout2d": (lambda L: L.SpatialDropout2D(0.2), (5, 7, 2), (5, 7, 2), 0),
    "activity_regularization": (lambda L: L.ActivityRegularization(l1=0.01, l2=0.02), (5, 3),
                                (5, 3), 0),
    "layer_normalization": (lambda L: L.LayerNormalization(), (5, 7, 6), (5, 7, 6), 12),
    "layer_normalization_axes": (lambda L: L.LayerNormalization(axis=[1, 2]), (5, 7, 6),
                                 (5, 7, 6), 70),
    "layer_normalization_middle": (lambda L: L.LayerNormalization(axis=1, center=False),
                                   (5, 7, 6), (5, 7, 6), 5),
    "unit_normalization": (lambda L: L.UnitNormalization(), (5, 7), (5, 7), 0),
    "unit_normalization_axes": (lambda L: L.UnitNormalization(axis=[1, 2]), (5, 7, 2),
                                (5, 7, 2), 0),
    "group_normalization": (lambda L: L.GroupNormalization(2), (5, 7, 6), (5, 7, 6), 12),
    "group_normalization_1d": (lambda L: L.GroupNormalization(groups=3, center=False), (7, 6),
                               (7, 6), 6),
    "rescaling": (lambda L: L.Rescaling(1 / 255.0), (5, 7, 3), (5, 7, 3), 0),
    "rescaling_channels": (lambda L: L.Rescaling([0.5, 1.0, 2.0], offset=[-1.0, 0.0, 1.0]),
                           (5, 7, 3), (5, 7, 3), 0),
    "normalization": (lambda L: L.Normalization(), (5, 3), (5, 3), 7),
    "normalization_all": (lambda L: L.Normalization(axis=None), (5, 3), (5, 3), 3),
    "normalization_given": (lambda L: L.Normalization(mean=[1.0, 2.0, 3.0],
                                                      variance=[1.0, 4.0, 9.0]),
                            (5, 3), (5, 3), 0),
    "normalization_axes": (lambda L: L.Normalization(axis=(1, 2)), (4, 5, 3), (4, 5, 3), 41),
    "normalization_middle": (lambda L: L.Normalization(axis=1), (4, 5), (4, 5), 9),
    "resizing": (lambda L: L.Resizing(4, 9), (5, 7, 3), (4, 9, 3), 0),
    "resizing_crop": (lambda L: L.Resizing(3, 3, crop_to_aspect_ratio=True), (5, 7, 3),
                      (3, 3, 3), 0),
    "resizing_pad": (lambda L: L.Resizing(6, 4, interpolation="nearest",
                                          pad_to_aspect_ratio=True, fill_value=0.5),
                     (5, 7, 3), (6, 4, 3), 0),
    "center_crop": (lambda L: L.CenterCrop(3, 5), (5, 7, 3), (3, 5, 3), 0),
    "center_crop_up": (lambda L: L.CenterCrop(9, 4), (5, 7, 3), (9, 4, 3), 0),
    # augmentation (the identity at inference; RandomCrop on an image of its
    # size, where Keras 3's inference agrees)
    "random_flip": (lambda L: L.RandomFlip("vertical"), (5, 7, 3), (5, 7, 3), 0),
    "random_rotation": (lambda L: L.RandomRotation(0.2, fill_mode="nearest"), (5, 7, 3),
                        (5, 7, 3), 0),
    "random_zoom": (lambda L: L.RandomZoom((-0.2, 0.3), 0.1), (5, 7, 3), (5, 7, 3), 0),
    "random_translation": (lambda L: L.RandomTranslation(0.2, 0.1), (5, 7, 3), (5, 7, 3), 0),
    "random_contrast": (lambda L: L.RandomContrast(0.4), (5, 7, 3), (5, 7, 3), 0),
    "random_brightness": (lambda L: L.RandomBrightness(0.2, value_range=(-1, 1)), (5, 7, 3),
                          (5, 7, 3), 0),
    "random_crop": (lambda L: L.RandomCrop(5, 7, seed=4), (5, 7, 3), (5, 7, 3), 0),
    "random_grayscale": (lambda L: L.RandomGrayscale(0.4), (5, 7, 3), (5, 7, 3), 0),
    "random_hue": (lambda L: L.RandomHue(0.3, value_range=(-1, 1)), (5, 7, 3), (5, 7, 3), 0),
    "solarization": (lambda L: L.Solarization(0.2, 0.5), (5, 7, 3), (5, 7, 3), 0),
    "auto_contrast": (lambda L: L.AutoContrast((-2, 2)), (5, 7, 3), (5, 7, 3), 0),
    "random_shear": (lambda L: L.RandomShear(0.2, 0.1), (5, 7, 3), (5, 7, 3), 0),
    "cut_mix": (lambda L: L.CutMix(0.5), (5, 7, 3), (5, 7, 3), 0),
    "rand_augment": (lambda L: L.RandAugment((-1, 1), num_ops=2), (5, 7, 3), (5, 7, 3), 0),
}


def random_weights(layer, seed=0):
    """Random values for a layer's weights (positive variances), set on it
    and returned, so two implementations can share them."""
    g = np.random.default_rng(seed)
    values = []
    for w in layer.weights:
        name = w.name.split("/")[-1]
        v = g.uniform(0.5, 2.0, w.shape) if name in ("variance", "gamma") else \
            g.standard_normal(w.shape)
        if name == "count":
            v = np.zeros(w.shape)
        values.append(v.astype(np.float32))
    layer.set_weights(values)
    return values
