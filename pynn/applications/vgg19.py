"""VGG19 (Simonyan & Zisserman, 2015, https://arxiv.org/abs/1409.1556), as
Keras builds it: same layers, names and order, so Keras's published weight
files load into it."""
from . import imagenet_utils
from .vgg16 import build_vgg

WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5")
WEIGHTS_PATH_NO_TOP = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                       "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
WEIGHTS_MD5 = ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg19"):
    """The VGG19 model (default input 224x224x3, at least 32x32).

    ``include_top``: the three fully-connected layers on top; ``weights``:
    None (random), 'imagenet' (Keras's published file, downloaded once) or
    the path of a weights file; ``input_tensor``: a symbolic tensor to build
    on; ``input_shape``: (rows, cols, 3), only without the top (or equal to
    the default); ``pooling`` (without the top): None (the 4D output of the
    last block), 'avg' or 'max' (global pooling to 2D); ``classes`` and
    ``classifier_activation``: the top's classifier.  Inputs go through
    :func:`preprocess_input` (caffe mode) first."""
    return build_vgg("VGG19", (2, 2, 4, 4, 4), WEIGHTS_PATH, WEIGHTS_PATH_NO_TOP, WEIGHTS_MD5,
                     include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def preprocess_input(x, data_format=None):
    """Caffe-mode preprocessing: RGB -> BGR, minus the ImageNet mean pixel."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
