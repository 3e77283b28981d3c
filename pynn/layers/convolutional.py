"""Keras 2's ``keras.layers.convolutional``: the convolutions with the
upsampling, padding and cropping layers that module also held, and the
pooling layers it imported for older programs (``from
keras.layers.convolutional import Conv2D, MaxPooling2D``)."""
from .conv import (Conv1D, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose,  # noqa: F401
                   Convolution1D, Convolution2D, Convolution3D, DepthwiseConv2D,
                   SeparableConv1D, SeparableConv2D, SeparableConvolution1D,
                   SeparableConvolution2D)
from .conv import Conv2DTranspose as Deconvolution2D  # noqa: F401
from .conv import Conv3DTranspose as Deconvolution3D  # noqa: F401
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, UpSampling1D,  # noqa: F401
                        UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D,  # noqa: F401
                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
