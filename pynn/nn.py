"""TensorFlow's ``tf.nn`` functions for programs ported with
``import pynn as tf``: activations, the cross-entropies of logits,
moments, dropout, and convolution and pooling in TensorFlow's argument
forms (NHWC data, HWIO filters, 'SAME'/'VALID' or explicit padding).

They compute through pynn.ops, so values a GradientTape traces keep
recording, and give eager tensors as pynn's other TensorFlow names.
"""
import numpy as np

from . import ops, random
from .backend import _eager_results
from .math import clip_by_norm, in_top_k, l2_normalize, log_softmax, sigmoid, softmax, \
    softplus, tanh, top_k


def relu(features, name=None):
    return ops.relu(features)


def relu6(features, name=None):
    return ops.relu6(features)


def elu(features, name=None):
    return ops.elu(features)


def selu(features, name=None):
    return ops.selu(features)


def gelu(features, approximate=False, name=None):
    """GELU; exact (with erf) unless ``approximate`` (tanh form), as TensorFlow's default."""
    return ops.gelu(features, approximate=approximate)


def leaky_relu(features, alpha=0.2, name=None):
    return ops.leaky_relu(features, alpha)


def silu(features, beta=1.0, name=None):
    """features * sigmoid(beta * features)."""
    if beta == 1.0:
        return ops.silu(features)
    return ops.multiply(features, ops.sigmoid(ops.multiply(features, beta)))


swish = silu


def l2_loss(t, name=None):
    """Half the sum of the squares of t's entries."""
    return ops.multiply(ops.sum(ops.square(t)), 0.5)


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """x with a fraction ``rate`` of its entries zeroed and the others
    scaled by 1 / (1 - rate) (always: tf.nn.dropout has no training flag)."""
    return random.dropout(x, rate, noise_shape=noise_shape, seed=seed)


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None,
                         name=None):
    """The sum of the per-example losses (times ``sample_weight``) over
    ``global_batch_size`` (by default the batch times the replicas of the
    current tf.distribute strategy), as a distributed training loop
    averages its loss."""
    from .distribute import get_strategy
    loss = per_example_loss
    if sample_weight is not None:
        loss = ops.multiply(loss, ops.cast(sample_weight, "float32"))
    if global_batch_size is None:
        global_batch_size = np.shape(per_example_loss)[0] * \
            get_strategy().num_replicas_in_sync
    return ops.divide(ops.sum(loss), float(global_batch_size))


def scale_regularization_loss(regularization_loss, name=None):
    """The regularization loss over the replicas of the current
    tf.distribute strategy (each adds its share)."""
    from .distribute import get_strategy
    return ops.divide(ops.sum(regularization_loss),
                      float(get_strategy().num_replicas_in_sync))


def moments(x, axes, shift=None, keepdims=False, name=None):
    """The mean and the (biased) variance over ``axes``."""
    return ops.moments(x, list(axes) if np.ndim(axes) else axes, keepdims=keepdims)


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """-sum(labels * log_softmax(logits)) over ``axis``, per example."""
    return ops.negative(ops.sum(ops.multiply(labels, ops.log_softmax(logits, axis=axis)),
                                axis=axis))


def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """-log_softmax(logits)[label] per example; labels are class ids, one
    per row of logits (their shape less its last axis)."""
    ids = np.asarray(ops._plain(labels)).astype(np.int64)
    shape = np.shape(ops._plain(logits))
    if ids.shape != shape[:-1]:
        raise ValueError(f"sparse_softmax_cross_entropy_with_logits: labels of shape "
                         f"{ids.shape} must be logits' shape {shape} less its last axis")
    if ids.size and (ids.min() < 0 or ids.max() >= shape[-1]):
        raise ValueError(f"sparse_softmax_cross_entropy_with_logits: labels must be class "
                         f"ids in [0, {shape[-1]}), got {ids.min()}..{ids.max()}")
    picked = ops.take_along_axis(ops.log_softmax(logits, axis=-1), ids[..., None], axis=-1)
    return ops.negative(ops.squeeze(picked, -1))


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """max(x, 0) - x * z + log(1 + exp(-|x|)) for logits x and labels z
    (TensorFlow's stable form), elementwise."""
    if labels is None or logits is None:
        raise ValueError("sigmoid_cross_entropy_with_logits: give both labels= and logits=")
    return ops.add(ops.subtract(ops.relu(logits), ops.multiply(logits, labels)),
                   ops.log1p(ops.exp(ops.negative(ops.abs(logits)))))


def bias_add(value, bias, data_format=None, name=None):
    """value + bias along the last axis (NHWC data)."""
    if data_format not in (None, "NHWC", "NWC", "NDHWC", "N...C"):
        raise ValueError(f"bias_add: pynn's data is channels-last, got data_format "
                         f"{data_format!r}")
    return ops.add(value, bias)


def embedding_lookup(params, ids, max_norm=None, name=None):
    """The rows of ``params`` at ``ids``; with max_norm, rows whose L2 norm
    is larger are scaled down to it; of a RaggedTensor of ids, a
    RaggedTensor of the rows, one per id."""
    from .ragged import RaggedTensor
    if isinstance(ids, RaggedTensor):
        return RaggedTensor(embedding_lookup(params, ids.values, max_norm), ids.row_splits)
    rows = ops.take(params, np.asarray(ops._plain(ids)).astype(np.int64), axis=0)
    if max_norm is None:
        return rows
    return clip_by_norm(rows, max_norm, axes=[-1])


def _spatial(value, what, fn):
    """TensorFlow's forms of strides, ksize and dilations for 2-D data: an
    int, or a list of 1, 2 or 4 (the batch and channel entries 1)."""
    v = [int(s) for s in np.ravel(value)]
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) == 2:
        return tuple(v)
    if len(v) == 4 and v[0] == 1 and v[3] == 1:
        return (v[1], v[2])
    raise ValueError(f"{fn}: {what} must be an int or a list of 1, 2 or 4 ints (the batch "
                     f"and channel entries 1), got {value!r}")


def _padding(x, padding, fn):
    """x and the padding mode for ops: 'same'/'valid', or x padded with
    the explicit pairs [[0, 0], [top, bottom], [left, right], [0, 0]]."""
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"{fn}: padding must be 'SAME', 'VALID' or a list of pairs, got "
                             f"{padding!r}")
        return x, padding.lower()
    pairs = np.asarray(padding, dtype=np.int64)
    if pairs.shape != (4, 2) or pairs[0].any() or pairs[3].any():
        raise ValueError(f"{fn}: explicit padding must be [[0, 0], [top, bottom], [left, "
                         f"right], [0, 0]], got {padding!r}")
    return ops.pad(x, pairs.tolist()), "valid"


def _nhwc(data_format, fn):
    if data_format not in ("NHWC", None):
        raise ValueError(f"{fn}: pynn's images are NHWC, got data_format {data_format!r}")


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, name=None):
    """2-D convolution of NHWC ``input`` with HWIO ``filters``."""
    _nhwc(data_format, "conv2d")
    x, mode = _padding(input, padding, "conv2d")
    return ops.conv(x, filters, strides=_spatial(strides, "strides", "conv2d"), padding=mode,
                    data_format="channels_last",
                    dilation_rate=_spatial(1 if dilations is None else dilations, "dilations",
                                           "conv2d"))


def conv2d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NHWC",
                     dilations=None, name=None):
    """The transposed 2-D convolution (conv2d's gradient with respect to
    its input) of NHWC ``input`` with ``filters`` of shape (rows, cols,
    out, in), into ``output_shape`` (batch, rows, cols, out): one of the
    sizes a conv2d of ``padding`` and ``strides`` maps back onto
    ``input``'s."""
    from . import backend
    _nhwc(data_format, "conv2d_transpose")
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"conv2d_transpose: padding must be 'SAME' or 'VALID', got "
                         f"{padding!r}")
    return backend.conv2d_transpose(
        input, filters, output_shape, strides=_spatial(strides, "strides", "conv2d_transpose"),
        padding=padding.lower(),
        dilation_rate=_spatial(1 if dilations is None else dilations, "dilations",
                               "conv2d_transpose"))


def convolution(input, filters, strides=None, padding="VALID", data_format=None, dilations=None,
                name=None):
    """TensorFlow's N-D convolution: channels-last ``input`` (NWC, NHWC or
    NDHWC) with ``filters`` of shape spatial + (in, out); ``strides`` and
    ``dilations`` one per spatial axis (or one for all), 1 by default."""
    if data_format not in (None, "NWC", "NHWC", "NDHWC"):
        raise ValueError(f"convolution: pynn's inputs are channels-last (NWC, NHWC, NDHWC), "
                         f"got data_format {data_format!r}")
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"convolution: padding must be 'SAME' or 'VALID', got {padding!r}")
    return ops.conv(input, filters, strides=1 if strides is None else strides,
                    padding=padding.lower(), data_format="channels_last",
                    dilation_rate=1 if dilations is None else dilations)


def _pool2d(pool, who, input, ksize, strides, padding, data_format):
    """TF's arguments of a 2-D pooling read for ``pool`` (an ops function);
    explicit padding pairs are refused (zeros would change maxima and
    averages)."""
    _nhwc(data_format, who)
    if not isinstance(padding, str):
        raise ValueError(f"{who}: padding must be 'SAME' or 'VALID', got {padding!r}")
    x, mode = _padding(input, padding, who)
    return pool(x, _spatial(ksize, "ksize", who), _spatial(strides, "strides", who), mode,
                "channels_last")


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):
    """The maximum over each window of NHWC ``input``; a window over the
    channels alone (ksize = strides = [1, 1, 1, k]) takes the maximum of
    each group of k channels, as TensorFlow's depthwise max pooling."""
    depth = [int(k) for k in np.ravel(ksize)]
    if len(depth) == 4 and depth[3] != 1:
        return _depth_max_pool(input, depth, strides, padding, data_format)
    return _pool2d(ops.max_pool, "max_pool2d", input, ksize, strides, padding, data_format)


def _depth_max_pool(input, ksize, strides, padding, data_format):
    _nhwc(data_format, "max_pool2d")
    k = ksize[3]
    if ksize[:3] != [1, 1, 1] or [int(s) for s in np.ravel(strides)] != ksize:
        raise ValueError(f"max_pool2d: pooling over the depth takes ksize = strides = "
                         f"[1, 1, 1, k] (no pooling over batch or space at the same time), "
                         f"got ksize={ksize}, strides={strides!r}")
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"max_pool2d: padding must be 'SAME' or 'VALID', got {padding!r}")
    shape = tuple(ops.shape(input))
    if len(shape) != 4 or shape[3] is None or shape[3] % k:
        raise ValueError(f"max_pool2d: pooling over the depth needs NHWC input whose "
                         f"channels are a multiple of the depth window {k}, got shape "
                         f"{shape}")
    return ops.max(ops.reshape(input, shape[:3] + (shape[3] // k, k)), axis=-1)


def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):
    """The mean over each window of NHWC ``input`` ('SAME' windows count
    only the values inside the image)."""
    return _pool2d(ops.average_pool, "avg_pool2d", input, ksize, strides, padding,
                   data_format)


def max_pool(input, ksize, strides, padding, data_format=None, name=None):
    """TensorFlow 2's ``tf.nn.max_pool`` of NHWC images (max_pool2d's)."""
    return max_pool2d(input, ksize, strides, padding, data_format or "NHWC")


def avg_pool(input, ksize, strides, padding, data_format=None, name=None):
    """TensorFlow 2's ``tf.nn.avg_pool`` of NHWC images (avg_pool2d's)."""
    return avg_pool2d(input, ksize, strides, padding, data_format or "NHWC")

def depth_to_space(input, block_size, data_format="NHWC", name=None):
    """Each pixel's channels spread over a ``block_size`` x ``block_size``
    block of NHWC ``input`` (TensorFlow's channel order; a sub-pixel
    upsampling)."""
    _nhwc(data_format, "depth_to_space")
    return ops.depth_to_space(input, block_size, data_format="channels_last")


def space_to_depth(input, block_size, data_format="NHWC", name=None):
    """Each ``block_size`` x ``block_size`` block of NHWC ``input`` moved
    into its channels (the inverse of depth_to_space)."""
    _nhwc(data_format, "space_to_depth")
    return ops.space_to_depth(input, block_size, data_format="channels_last")

__all__ = ["relu", "relu6", "elu", "selu", "gelu", "leaky_relu", "silu", "swish", "sigmoid",
           "tanh", "softmax", "log_softmax", "softplus", "l2_normalize", "dropout", "moments",
           "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
           "sigmoid_cross_entropy_with_logits", "bias_add", "embedding_lookup", "conv2d", "conv2d_transpose",
           "convolution", "max_pool", "avg_pool", "max_pool2d", "avg_pool2d", "depth_to_space", "space_to_depth",
           "compute_average_loss", "scale_regularization_loss", "top_k", "in_top_k"]
for _name in ("relu", "relu6", "elu", "selu", "gelu", "leaky_relu", "silu", "dropout", "moments", "softmax_cross_entropy_with_logits",
              "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits",
              "bias_add", "embedding_lookup", "conv2d", "conv2d_transpose", "convolution", "max_pool2d", "avg_pool2d",
              "depth_to_space", "space_to_depth", "compute_average_loss",
              "scale_regularization_loss"):
    globals()[_name] = _eager_results(globals()[_name])
del _name
swish = silu
