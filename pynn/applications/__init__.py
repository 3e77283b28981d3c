"""Keras's image classification applications, built from pynn's public
layers with Keras's layer names and order, so that Keras's published
ImageNet weight files load into them (``weights='imagenet'`` downloads
them once into ``$PYNN_HOME/models``).  Each family's module has its own
``preprocess_input`` and ``decode_predictions``, as in Keras."""
from . import (convnext, densenet, efficientnet, efficientnet_v2, imagenet_utils,
               inception_resnet_v2, inception_v3, mobilenet, mobilenet_v2, mobilenet_v3, nasnet,
               resnet, resnet50, resnet_v2, vgg16, vgg19, xception)
from .convnext import ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny, ConvNeXtXLarge
from .densenet import DenseNet121, DenseNet169, DenseNet201
from .efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3,
                           EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7)
from .efficientnet_v2 import (EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2,
                              EfficientNetV2B3, EfficientNetV2L, EfficientNetV2M, EfficientNetV2S)
from .inception_resnet_v2 import InceptionResNetV2
from .inception_v3 import InceptionV3
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from .nasnet import NASNetLarge, NASNetMobile
from .resnet import ResNet50, ResNet101, ResNet152
from .resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from .vgg16 import VGG16
from .vgg19 import VGG19
from .xception import Xception

__all__ = ["VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2",
           "ResNet152V2", "InceptionV3", "DenseNet121", "DenseNet169", "DenseNet201",
           "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "Xception",
           "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
           "InceptionResNetV2", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
           "EfficientNetV2B3", "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L",
           "NASNetMobile", "NASNetLarge", "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase",
           "ConvNeXtLarge", "ConvNeXtXLarge",
           "imagenet_utils", "vgg16", "vgg19", "resnet", "resnet50", "resnet_v2",
           "inception_v3", "densenet", "mobilenet", "mobilenet_v2", "mobilenet_v3",
           "xception", "efficientnet", "inception_resnet_v2", "efficientnet_v2", "nasnet",
           "convnext"]
