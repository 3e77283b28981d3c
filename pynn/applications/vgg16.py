"""VGG16 (Simonyan & Zisserman, 2015, https://arxiv.org/abs/1409.1556), as
Keras builds it: same layers, names and order, so Keras's published weight
files load into it."""
from . import imagenet_utils
from .. import layers

WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5")
WEIGHTS_PATH_NO_TOP = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                       "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
WEIGHTS_MD5 = ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc")


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg16"):
    """The VGG16 model (default input 224x224x3, at least 32x32).

    ``include_top``: the three fully-connected layers on top; ``weights``:
    None (random), 'imagenet' (Keras's published file, downloaded once) or
    the path of a weights file; ``input_tensor``: a symbolic tensor to build
    on; ``input_shape``: (rows, cols, 3), only without the top (or equal to
    the default); ``pooling`` (without the top): None (the 4D output of the
    last block), 'avg' or 'max' (global pooling to 2D); ``classes`` and
    ``classifier_activation``: the top's classifier.  Inputs go through
    :func:`preprocess_input` (caffe mode) first."""
    return build_vgg("VGG16", (2, 2, 3, 3, 3), WEIGHTS_PATH, WEIGHTS_PATH_NO_TOP, WEIGHTS_MD5,
                     include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def build_vgg(who, convs_per_block, url, url_no_top, md5, include_top, weights, input_tensor,
              input_shape, pooling, classes, classifier_activation, name):
    """VGG16 and VGG19: five blocks of 3x3 convolutions (64, 128, 256, 512
    and 512 filters) each ending in 2x2 max pooling, then the top."""
    input_shape, img_input = imagenet_utils.model_input(
        who, weights, include_top, classes, pooling, input_tensor, input_shape,
        default_size=224, min_size=32)
    x = img_input
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), 1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.global_pooling(x, pooling)
    model = imagenet_utils.make_model(img_input, input_tensor, x, name)
    lower = who.lower()
    if include_top:
        fname, link, digest = f"{lower}_weights_tf_dim_ordering_tf_kernels.h5", url, md5[0]
    else:
        fname, link, digest = (f"{lower}_weights_tf_dim_ordering_tf_kernels_notop.h5",
                               url_no_top, md5[1])
    return imagenet_utils.load_weights(model, weights, who, fname, link, digest)


def preprocess_input(x, data_format=None):
    """Caffe-mode preprocessing: RGB -> BGR, minus the ImageNet mean pixel."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
