"""Layers, by family (Keras's names)."""
from .activation import ELU, PReLU, LeakyReLU, ReLU, Softmax, ThresholdedReLU
from .augmentation import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                           RandomHeight, RandomRotation, RandomTranslation, RandomWidth,
                           RandomZoom)
from .attention import (AdditiveAttention, Attention, GroupQueryAttention,
                        MultiHeadAttention)
from .base import Input, InputLayer, Layer, Weight
from .conv import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose,
                   Convolution1D, Convolution1DTranspose, Convolution2D, Convolution2DTranspose,
                   Convolution3D, Convolution3DTranspose, DepthwiseConv1D, DepthwiseConv2D,
                   SeparableConv1D, SeparableConv2D, SeparableConvolution1D,
                   SeparableConvolution2D)
from .conv_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .core import (Activation, Dense, Dropout, EinsumDense, Flatten, Identity,
                   RandomFourierFeatures, Reshape)
from .embedding import Embedding, ReversibleEmbedding
from .feature_columns import DenseFeatures
from .image_augmentation import (AugMix, AutoContrast, CutMix, Equalization, MixUp, Pipeline,
                                 RandAugment, RandomColorDegeneration, RandomColorJitter,
                                 RandomElasticTransform, RandomErasing, RandomGaussianBlur,
                                 RandomGrayscale, RandomHue, RandomInvert, RandomPerspective,
                                 RandomPosterization, RandomSaturation, RandomSharpness,
                                 RandomShear, Solarization)
from .input_spec import InputSpec
from .lambda_layer import Lambda, TensorOperation
from .locally_connected import LocallyConnected1D, LocallyConnected2D
from .masking import Masking
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,
                      average, concatenate, dot, maximum, minimum, multiply, subtract)
from .normalization import (BatchNormalization, BatchNormalizationV2, GroupNormalization,
                            LayerNormalization, RMSNormalization, SpectralNormalization,
                            SyncBatchNormalization, UnitNormalization)
from .pooling import (AdaptiveAveragePooling1D, AdaptiveAveragePooling2D,
                      AdaptiveAveragePooling3D, AdaptiveMaxPooling1D, AdaptiveMaxPooling2D,
                      AdaptiveMaxPooling3D, AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D,
                      AvgPool2D, AvgPool3D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalAveragePooling3D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D,
                      GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D,
                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .audio import MelSpectrogram, STFTSpectrogram
from .preprocessing import CenterCrop, Normalization, Rescaling, Resizing
from .recurrent import (GRU, GRUV2, LSTM, LSTMV2, Bidirectional, CuDNNGRU, CuDNNLSTM, SimpleRNN,
                        TimeDistributed, Wrapper)
from .regularization import (ActivityRegularization, AlphaDropout, GaussianDropout,
                             GaussianNoise, SpatialDropout1D, SpatialDropout2D,
                             SpatialDropout3D)
from .serialization import deserialize, serialize
from .text import (CategoryEncoding, Discretization, HashedCrossing, Hashing, IntegerLookup,
                   StringLookup, TextVectorization)
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D,
                        UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .rnn import (RNN, AbstractRNNCell, GRUCell, GRUCellV2, LSTMCell, LSTMCellV2, SimpleRNNCell,
                  StackedRNNCells)
from . import experimental

