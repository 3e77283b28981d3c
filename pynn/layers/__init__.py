"""Layers, by family (Keras's names)."""
from .base import Input, InputLayer, Layer, Weight
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .lambda_layer import Lambda
from .conv import (Conv1D, Conv2D, Convolution1D, Convolution2D, DepthwiseConv2D,
                   SeparableConv2D, SeparableConvolution2D)
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,
                      average, concatenate, dot, maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
