"""What the ImageNet applications share (Keras's
``keras.applications.imagenet_utils``): input preprocessing, decoding of
predictions into class names, the input-shape rules, and the published
weight files (downloaded once into ``$PYNN_HOME/models``, checked against
Keras's digests)."""
import json
import os
import warnings

import numpy as np

from .. import activations, ops
from ..datasets._files import _algorithm, fetch_or_raise, file_digest
from ..models.node import KerasTensor

CLASS_INDEX_PATH = ("https://storage.googleapis.com/download.tensorflow.org/"
                    "data/imagenet_class_index.json")
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
_class_index = None

_MODES = ("caffe", "tf", "torch")
_DATA_FORMATS = ("channels_first", "channels_last")


def preprocess_input(x, data_format=None, mode="caffe"):
    """Prepare a batch of RGB images with values in [0, 255] (3D or 4D,
    channels last unless ``data_format='channels_first'``) for an ImageNet
    model, as Keras does.

    ``mode``: ``'caffe'`` converts RGB to BGR and subtracts the ImageNet
    mean pixel per channel, without scaling (VGG, ResNet); ``'tf'`` scales
    to [-1, 1] (ResNetV2, InceptionV3, MobileNet, MobileNetV2, Xception);
    ``'torch'`` scales to [0, 1] and normalizes each channel by the
    ImageNet mean and standard deviation (DenseNet).  A float array is
    preprocessed in place (and returned; in caffe mode the result is a
    reversed view of it), as Keras does; use ``x.copy()`` to keep the
    original.  Other arrays (uint8, lists) give a new float32 array."""
    if mode not in _MODES:
        raise ValueError(f"preprocess_input: mode must be one of {list(_MODES)}, got {mode!r}")
    if data_format is None:
        data_format = "channels_last"
    elif data_format not in _DATA_FORMATS:
        raise ValueError(f"preprocess_input: data_format must be one of {list(_DATA_FORMATS)}, "
                         f"got {data_format!r}")
    symbolic = isinstance(x, KerasTensor)
    if not symbolic and (not isinstance(x, np.ndarray)
                         or not issubclass(x.dtype.type, np.floating)):
        x = np.asarray(x, dtype=np.float32)
    ndim = len(x.shape)
    if ndim not in (3, 4):
        raise ValueError(f"preprocess_input: expects a 3D image or a 4D batch of images, got "
                         f"an array of shape {x.shape}")
    axis = (ndim - 3 if data_format == "channels_first" else ndim - 1)
    if x.shape[axis] != 3:
        raise ValueError(f"preprocess_input: expects 3 color channels on axis {axis} "
                         f"({data_format}), got an array of shape {x.shape}")
    if symbolic:
        return _preprocess_symbolic_input(x, axis, mode)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:
        x = np.flip(x, axis)  # RGB -> BGR
        mean, std = [103.939, 116.779, 123.68], None
    shape = [1] * x.ndim
    shape[axis] = 3
    x -= np.asarray(mean, x.dtype).reshape(shape)
    if std is not None:
        x /= np.asarray(std, x.dtype).reshape(shape)
    return x


def _preprocess_symbolic_input(x, axis, mode):
    """preprocess_input on a model's input (Keras 3 allows it there): the
    same arithmetic, recorded as operations of the graph."""
    if mode == "tf":
        return ops.subtract(ops.divide(x, 127.5), 1.0)
    if mode == "torch":
        x = ops.divide(x, 255.0)
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:
        x = ops.flip(x, axis=axis)  # RGB -> BGR
        mean, std = [103.939, 116.779, 123.68], None
    shape = [1] * len(x.shape)
    shape[axis] = 3
    x = ops.subtract(x, np.asarray(mean, np.float32).reshape(shape))
    if std is not None:
        x = ops.divide(x, np.asarray(std, np.float32).reshape(shape))
    return x


def _load_class_index():
    global _class_index
    if _class_index is None:
        path = fetch_or_raise("imagenet_class_index.json", CLASS_INDEX_PATH, CLASS_INDEX_MD5,
                              "decode_predictions", subdir="models")
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        if not isinstance(index, dict) or any(
                str(i) not in index or len(index[str(i)]) != 2 for i in range(1000)):
            raise ValueError(f"decode_predictions: {path} is not the ImageNet class index "
                             f"(1000 entries '0'..'999' of [class_id, class_name])")
        _class_index = [tuple(index[str(i)]) for i in range(1000)]
    return _class_index


def decode_predictions(preds, top=5):
    """The ``top`` most likely ImageNet classes of each prediction in a
    batch of shape (samples, 1000): a list (one per sample) of
    ``(class_id, class_name, score)`` tuples, best first.  The class index
    file is downloaded once into ``$PYNN_HOME/models``."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"decode_predictions: expects a batch of predictions of shape "
                         f"(samples, 1000), got an array of shape {preds.shape}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"decode_predictions: top must be a positive integer, got {top!r}")
    index = _load_class_index()
    results = []
    for pred in preds:
        best = np.argsort(pred, kind="stable")[::-1][:top]
        results.append([index[i] + (pred[i],) for i in best])
    return results


def channels_first():
    """Whether the applications build channels_first models: the global
    image_data_format(), as Keras's applications read it."""
    from ..backend import image_data_format
    return image_data_format() == "channels_first"


def channel_axis():
    """The channel axis of the applications' feature maps (BatchNormalization's,
    Concatenate's): 1 for channels_first, 3 otherwise, as Keras writes it."""
    return 1 if channels_first() else 3


def channel_count(shape):
    """The channels of a batch shape (batch, ...) in the applications'
    data format."""
    return shape[channel_axis()]


def refuse_channels_first(family):
    """Keras's refusal for the applications it builds channels-last only."""
    if channels_first():
        raise ValueError(f"{family} does not support the `channels_first` image data format. "
                         f"Switch to `channels_last` by editing your local config file at "
                         f"~/.keras/keras.json")


def obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights=None,
                       who="application"):
    """The model's input shape (rows, cols, channels), or (channels, rows,
    cols) under image_data_format() 'channels_first', checked as Keras
    checks it: the default square shape when none is given (or 3 channels
    of any size without the top), 3 channels for ImageNet weights, at least
    ``min_size`` pixels a side, and exactly the default shape for the
    ImageNet classifier top."""
    first = channels_first()
    if input_shape is not None:
        try:
            input_shape = tuple(None if d is None else int(d) for d in input_shape)
        except (TypeError, ValueError):
            raise ValueError(f"{who}: input_shape must be a tuple of three integers, got "
                             f"{input_shape!r}") from None

    def shape(channels, size=default_size):
        return (channels, size, size) if first else (size, size, channels)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if first else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn(f"{who}: this model usually expects 1 or 3 input channels, "
                          f"input_shape={input_shape} has {channels}", stacklevel=3)
        default_shape = shape(channels)
    else:
        default_shape = shape(3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(f"{who}: with include_top=True and weights='imagenet', "
                             f"input_shape must be {default_shape}, got {input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"{who}: input_shape must be a tuple of three integers, got "
                             f"{input_shape}")
        channels, spatial = (input_shape[0], input_shape[1:]) if first else \
            (input_shape[-1], input_shape[:2])
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"{who}: the input must have 3 channels for the ImageNet "
                             f"weights, got input_shape={input_shape}")
        if any(d is not None and d < min_size for d in spatial):
            raise ValueError(f"{who}: the input must be at least {min_size}x{min_size}, "
                             f"got input_shape={input_shape}")
        if any(d is not None and d < 1 for d in input_shape):
            raise ValueError(f"{who}: input_shape must be positive, got {input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = shape(3, None)
    if require_flatten and None in input_shape:
        raise ValueError(f"{who}: with include_top=True the input shape must be static, got "
                         f"input_shape={input_shape}")
    return input_shape


def spatial_size(shape):
    """(rows, cols) of an image shape (batch first or not) in the
    applications' data format."""
    return tuple(shape[-2:]) if channels_first() else tuple(shape[-3:-1])


def correct_pad(inputs, kernel_size):
    """The zero padding ((top, bottom), (left, right)) before a strided
    'valid' convolution that gives TensorFlow's 'same' output."""
    size = spatial_size(inputs.shape)
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Pretrained tops take only softmax or no activation (logits)."""
    if weights is None:
        return
    if activations.canonical(classifier_activation) not in ("softmax", "linear"):
        raise ValueError(f"only None and 'softmax' are allowed for classifier_activation with "
                         f"pretrained weights and include_top=True, got "
                         f"{classifier_activation!r}")


def check_arguments(who, weights, include_top, classes, pooling):
    """The argument checks every application starts with."""
    if not (weights in ("imagenet", None) or
            (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(f"{who}: weights must be None (random initialization), 'imagenet' "
                         f"(pre-training on ImageNet) or the path to an existing weights "
                         f"file, got {weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{who}: with weights='imagenet' and include_top=True, classes must "
                         f"be 1000, got {classes!r}")
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"{who}: classes must be a positive integer, got {classes!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{who}: pooling must be None, 'avg' or 'max', got {pooling!r}")


def model_input(who, weights, include_top, classes, pooling, input_tensor, input_shape,
                default_size, min_size):
    """The start of most applications: :func:`check_arguments`, then the
    input shape (:func:`obtain_input_shape`) and the tensor the model
    starts from (:func:`image_input`); returns ``(input_shape, img_input)``."""
    check_arguments(who, weights, include_top, classes, pooling)
    input_shape = obtain_input_shape(input_shape, default_size=default_size, min_size=min_size,
                                     require_flatten=include_top, weights=weights, who=who)
    return input_shape, image_input(input_tensor, input_shape, who)


def image_input(input_tensor, input_shape, who):
    """The tensor the model starts from: a new Input, or ``input_tensor``."""
    from ..layers import Input
    if input_tensor is None:
        return Input(shape=input_shape)
    if not isinstance(input_tensor, KerasTensor):
        raise TypeError(f"{who}: input_tensor must be a symbolic tensor (the output of "
                        f"pynn.Input or of a layer), got {type(input_tensor).__name__}")
    if len(input_tensor.shape) != 4:
        raise ValueError(f"{who}: input_tensor must be a batch of images (rank 4), got shape "
                         f"{input_tensor.shape}")
    return input_tensor


def source_inputs(tensor):
    """The Input tensors a symbolic tensor was computed from, in the order
    they are first reached (Keras's get_source_inputs)."""
    found, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        history = getattr(t, "_keras_history", None)
        if history is None:
            continue
        node = history.operation._inbound_nodes[history.node_index]
        if node.is_input:
            if id(t) not in seen:
                seen.add(id(t))
                found.append(t)
            continue
        stack.extend(reversed(node.input_tensors))
    return found


def make_model(img_input, input_tensor, outputs, name):
    from ..models import Model
    inputs = source_inputs(input_tensor) if input_tensor is not None else img_input
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    return Model(inputs, outputs, name=name)


def _keras_cached(fname, digest):
    """A verified copy of ``fname`` that Keras already downloaded
    (``$KERAS_HOME/models``, default ``~/.keras/models``), or None."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "models", fname)
    if not os.path.isfile(path):
        return None
    if digest is not None and file_digest(path, _algorithm(digest)) != digest:
        return None
    return path


def load_weights(model, weights, who, fname=None, url=None, digest=None):
    """Load ``weights`` into a just-built application: 'imagenet' reads
    Keras's published file ``fname`` (from Keras's cache if it is there,
    else from pynn's, downloading it once), a path reads that file."""
    if weights == "imagenet":
        path = _keras_cached(fname, digest) or fetch_or_raise(
            fname, url, digest, f"{who}(weights='imagenet')", timeout=60, subdir="models")
        model.load_weights(path)
    elif weights is not None:
        model.load_weights(os.fspath(weights))
    return model


def global_pooling(x, pooling, named=False):
    """The output of an application built without its top: ``x`` itself
    (``pooling`` None) or its global average ('avg') or maximum ('max'),
    in layers named 'avg_pool' and 'max_pool' where ``named`` (as some of
    Keras's applications name them; the others leave them unnamed)."""
    from ..layers import GlobalAveragePooling2D, GlobalMaxPooling2D
    if pooling == "avg":
        return GlobalAveragePooling2D(name="avg_pool" if named else None)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name="max_pool" if named else None)(x)
    return x


def published_file(include_top, stem, base_url, digests=(None, None), no_top="_notop"):
    """Keras's published weight file of an application, as the
    ``(fname, url, digest)`` that load_weights takes: ``stem + '.h5'``
    with the top, ``stem + no_top + '.h5'`` without, under ``base_url``;
    ``digests``: the files' MD5s (with the top, without), None where Keras
    publishes none."""
    fname = f"{stem}{'' if include_top else no_top}.h5"
    return fname, base_url + fname, digests[0 if include_top else 1]


def classifier_top(x, include_top, pooling, classes, classifier_activation, weights,
                   pool_name=None, named_pooling=False):
    """The end of most applications: with the top, global average pooling
    (a layer named ``pool_name``) and the Dense classifier 'predictions';
    without, :func:`global_pooling` by ``pooling`` (``named_pooling``: its
    ``named``)."""
    from ..layers import Dense, GlobalAveragePooling2D
    if not include_top:
        return global_pooling(x, pooling, named=named_pooling)
    x = GlobalAveragePooling2D(name=pool_name)(x)
    validate_activation(classifier_activation, weights)
    return Dense(classes, activation=classifier_activation, name="predictions")(x)


def pass_through_preprocess_input(x, data_format=None):
    """A pass-through, kept for Keras's API: the ConvNeXt, EfficientNet,
    EfficientNetV2 and MobileNetV3 models preprocess their input
    themselves (they take pixels in [0, 255])."""
    return x
