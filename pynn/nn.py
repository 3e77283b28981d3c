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
from .tensor import eager
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


def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """The mean and variance from sufficient statistics: the count, the
    sum and the sum of squares (of values less ``shift`` when given)."""
    divisor = ops.divide(np.float32(1.0), counts)
    shifted_mean = ops.multiply(mean_ss, divisor)
    mean = shifted_mean if shift is None else ops.add(shifted_mean, shift)
    variance = ops.subtract(ops.multiply(variance_ss, divisor), ops.square(shifted_mean))
    return mean, variance


def weighted_moments(x, axes, frequency_weights, keepdims=False, name=None):
    """The mean and variance of ``x`` over ``axes``, each value weighted by
    ``frequency_weights`` (broadcast to x)."""
    axes = [int(a) for a in np.ravel(axes)]
    weights = ops.add(ops.zeros_like(x), frequency_weights)
    total = ops.sum(weights, axis=axes, keepdims=True)
    divisor = ops.divide(np.float32(1.0), total)
    mean = ops.multiply(ops.sum(ops.multiply(x, weights), axis=axes, keepdims=True), divisor)
    variance = ops.multiply(ops.sum(ops.multiply(weights, ops.square(ops.subtract(x, mean))),
                                    axis=axes, keepdims=True), divisor)
    if not keepdims:
        mean, variance = ops.squeeze(mean, axes), ops.squeeze(variance, axes)
    return mean, variance


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


def _sampled_logits(who, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                    sampled_values, subtract_log_q, remove_accidental_hits, seed):
    """TensorFlow's logits of the true classes and of ``num_sampled``
    sampled ones (log-uniform draws unless ``sampled_values`` gives them),
    and their labels (1 / num_true for the true, 0 for the sampled)."""
    ids = np.asarray(ops._plain(labels)).astype(np.int64)
    if ids.ndim == 1:
        ids = ids[:, None]
    batch = ops.shape(inputs)[0]
    if ids.shape != (batch, num_true):
        raise ValueError(f"{who}: labels must be (batch_size={batch}, num_true={num_true}), "
                         f"got shape {ids.shape}")
    if sampled_values is None:
        sampled_values = random.log_uniform_candidate_sampler(
            ids, num_true, num_sampled, True, num_classes, seed=seed)
    sampled, true_expected, sampled_expected = (np.asarray(ops._plain(v)) for v in
                                                sampled_values)
    sampled = sampled.astype(np.int64)
    shards = list(weights) if isinstance(weights, (list, tuple)) else [weights]
    if len(shards) != 1:
        raise ValueError(f"{who}: weights sharded over several tensors are not supported; "
                         f"give one (num_classes, dim) tensor")
    weights = shards[0]
    all_ids = np.concatenate([ids.reshape(-1), sampled])
    all_w = ops.take(weights, all_ids, axis=0)
    all_b = ops.take(biases, all_ids, axis=0)
    n_true = batch * num_true
    dim = ops.shape(all_w)[-1]
    true_w = ops.reshape(all_w[:n_true], (batch, num_true, dim))
    true_logits = ops.add(ops.sum(ops.multiply(ops.expand_dims(inputs, 1), true_w), axis=-1),
                          ops.reshape(all_b[:n_true], (batch, num_true)))
    sampled_logits = ops.add(ops.matmul(inputs, ops.transpose(all_w[n_true:])),
                             all_b[n_true:])
    if remove_accidental_hits:
        hits = (ids[:, :, None] == sampled[None, None, :]).any(axis=1)
        sampled_logits = ops.add(sampled_logits,
                                 np.where(hits, np.float32(-np.finfo(np.float32).max),
                                          np.float32(0.0)))
    if subtract_log_q:
        true_logits = ops.subtract(true_logits, np.log(true_expected).astype(np.float32))
        sampled_logits = ops.subtract(sampled_logits,
                                      np.log(sampled_expected).astype(np.float32))
    logits = ops.concatenate([true_logits, sampled_logits], axis=1)
    targets = np.concatenate([np.full((batch, num_true), 1.0 / num_true, np.float32),
                              np.zeros((batch, len(sampled)), np.float32)], axis=1)
    return logits, targets


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, name="nce_loss", seed=None):
    """Noise-contrastive estimation's loss per example: the sigmoid
    cross-entropies of the true classes' and the sampled classes' logits
    (``inputs @ weights[id] + biases[id]`` less log of the expected
    counts), summed, as TensorFlow computes it."""
    logits, targets = _sampled_logits("nce_loss", weights, biases, labels, inputs, num_sampled,
                                      num_classes, num_true, sampled_values, True,
                                      remove_accidental_hits, seed)
    return ops.sum(sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), axis=1)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                         sampled_values=None, remove_accidental_hits=True,
                         name="sampled_softmax_loss", seed=None):
    """The softmax cross-entropy per example over the true classes and
    ``num_sampled`` sampled ones (logits less log of the expected counts,
    sampled true classes masked out by default), as TensorFlow computes
    it: a cheap estimate of the full softmax's loss when training."""
    logits, targets = _sampled_logits("sampled_softmax_loss", weights, biases, labels, inputs,
                                      num_sampled, num_classes, num_true, sampled_values, True,
                                      remove_accidental_hits, seed)
    return softmax_cross_entropy_with_logits(labels=targets, logits=logits)


def _spatial(value, what, fn):
    """TensorFlow's forms of strides, ksize and dilations for 2-D data: an
    int, or a list of 1, 2 or 4 (the batch and channel entries 1)."""
    return _spatial_n(value, 2, what, fn)


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


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """``scale * (x - mean) / sqrt(variance + variance_epsilon) + offset``
    (``offset`` and ``scale`` may be None)."""
    inv = ops.rsqrt(ops.add(variance, np.float32(variance_epsilon)))
    if scale is not None:
        inv = ops.multiply(inv, scale)
    y = ops.multiply(ops.subtract(x, mean), inv)
    return y if offset is None else ops.add(y, offset)


def softsign(features, name=None):
    """features / (1 + |features|)."""
    return ops.divide(features, ops.add(np.float32(1.0), ops.abs(features)))


def crelu(features, axis=-1, name=None):
    """relu(features) and relu(-features) joined along ``axis``."""
    return ops.concatenate([ops.relu(features), ops.relu(ops.negative(features))], axis=axis)


def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None):
    """sigmoid_cross_entropy_with_logits with the positive term weighted
    by ``pos_weight``, in TensorFlow's stable form ``(1 - z) * x + (1 + (q
    - 1) * z) * (log(1 + exp(-|x|)) + max(-x, 0))``."""
    log_weight = ops.add(np.float32(1.0), ops.multiply(ops.subtract(pos_weight, np.float32(1.0)),
                                                       labels))
    softplus_neg = ops.add(ops.log1p(ops.exp(ops.negative(ops.abs(logits)))),
                           ops.relu(ops.negative(logits)))
    return ops.add(ops.multiply(ops.subtract(np.float32(1.0), labels), logits),
                   ops.multiply(log_weight, softplus_neg))


def conv1d_transpose(input, filters, output_shape, strides, padding="SAME", data_format="NWC",
                     dilations=None, name=None):
    """The transposed 1-D convolution of (batch, width, in) ``input`` with
    filters (width, out, in) into ``output_shape`` (batch, width, out):
    conv2d_transpose at height 1."""
    from . import backend
    _channels_last(data_format, ("NWC",), "conv1d_transpose")
    _rank(input, 3, "batch, width, channels", "conv1d_transpose")
    out = [int(d) for d in np.ravel(np.asarray(output_shape))]
    if len(out) != 3:
        raise ValueError(f"conv1d_transpose: output_shape must be (batch, width, channels), "
                         f"got {output_shape!r}")
    y = backend.conv2d_transpose(
        ops.expand_dims(input, 1), ops.expand_dims(filters, 0), [out[0], 1, out[1], out[2]],
        strides=(1,) + _spatial_n(strides, 1, "strides", "conv1d_transpose"),
        padding=_string_padding(padding, "conv1d_transpose"),
        dilation_rate=(1,) + _spatial_n(1 if dilations is None else dilations, 1, "dilations",
                                        "conv1d_transpose"))
    return ops.squeeze(y, 1)


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


def max_pool_with_argmax(input, ksize, strides, padding, data_format="NHWC",
                         output_dtype="int64", include_batch_in_index=False, name=None):
    """max_pool2d's output and, for each of its values, the flat index of
    the input value it took (``(y * width + x) * channels + c``, plus
    ``b * height * width * channels`` with ``include_batch_in_index``),
    as SegNet's unpooling reads them; the indices are constants, the
    output keeps the gradient.  Of tied values in a window the first in
    row-major order is taken."""
    who = "max_pool_with_argmax"
    _nhwc(data_format, who)
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"{who}: padding must be 'SAME' or 'VALID', got {padding!r}")
    if np.dtype(output_dtype) not in (np.int32, np.int64):
        raise ValueError(f"{who}: output_dtype must be int32 or int64, got {output_dtype!r}")
    (kh, kw), (sh, sw) = _spatial(ksize, "ksize", who), _spatial(strides, "strides", who)
    output = max_pool2d(input, [1, kh, kw, 1], [1, sh, sw, 1], padding, data_format)
    x = np.asarray(ops._plain(input), np.float64)
    if x.ndim != 4:
        raise ValueError(f"{who}: expected NHWC input of rank 4, got shape {x.shape}")
    n, h, w, c = x.shape
    oh, ow = ops.shape(output)[1:3]
    top = max((oh - 1) * sh + kh - h, 0) // 2 if padding.upper() == "SAME" else 0
    left = max((ow - 1) * sw + kw - w, 0) // 2 if padding.upper() == "SAME" else 0
    rows = (np.arange(oh) * sh - top)[:, None] + np.arange(kh)[None, :]      # (oh, kh)
    cols = (np.arange(ow) * sw - left)[:, None] + np.arange(kw)[None, :]     # (ow, kw)
    r = rows[:, None, :, None]                                               # (oh, 1, kh, 1)
    q = cols[None, :, None, :]                                               # (1, ow, 1, kw)
    inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
    windows = x[:, np.clip(r, 0, h - 1), np.clip(q, 0, w - 1), :]            # (n, oh, ow, kh, kw, c)
    windows = np.where(inside[None, ..., None], windows, -np.inf)
    best = windows.reshape(n, oh, ow, kh * kw, c).argmax(axis=3)             # (n, oh, ow, c)
    y_at = np.take_along_axis(np.broadcast_to(np.broadcast_to(r, (oh, ow, kh, kw)).reshape(
        1, oh, ow, kh * kw, 1), (n, oh, ow, kh * kw, c)), best[:, :, :, None, :], 3)[:, :, :, 0]
    x_at = np.take_along_axis(np.broadcast_to(np.broadcast_to(q, (oh, ow, kh, kw)).reshape(
        1, oh, ow, kh * kw, 1), (n, oh, ow, kh * kw, c)), best[:, :, :, None, :], 3)[:, :, :, 0]
    index = (y_at * w + x_at) * c + np.arange(c)
    if include_batch_in_index:
        index = index + (np.arange(n) * h * w * c)[:, None, None, None]
    return output, eager(index.astype(output_dtype))


def max_pool(input, ksize, strides, padding, data_format=None, name=None):
    """TensorFlow 2's ``tf.nn.max_pool`` of NHWC images (max_pool2d's)."""
    return max_pool2d(input, ksize, strides, padding, data_format or "NHWC")


def avg_pool(input, ksize, strides, padding, data_format=None, name=None):
    """TensorFlow 2's ``tf.nn.avg_pool`` of NHWC images (avg_pool2d's)."""
    return avg_pool2d(input, ksize, strides, padding, data_format or "NHWC")

def _spatial_n(value, n, what, fn):
    """TensorFlow's forms of strides, ksize and dilations for data of ``n``
    spatial axes: an int, or a list of 1, n or n + 2 (the batch and channel
    entries 1)."""
    v = [int(s) for s in np.ravel(value)]
    if len(v) == 1:
        return (v[0],) * n
    if len(v) == n:
        return tuple(v)
    if len(v) == n + 2 and v[0] == 1 and v[-1] == 1:
        return tuple(v[1:-1])
    raise ValueError(f"{fn}: {what} must be an int or a list of 1, {n} or {n + 2} ints (the "
                     f"batch and channel entries 1), got {value!r}")


def _channels_last(data_format, allowed, fn):
    if data_format not in (None,) + allowed:
        raise ValueError(f"{fn}: pynn's inputs are channels-last ({allowed[0]}), got "
                         f"data_format {data_format!r}")


def _rank(x, rank, layout, fn):
    shape = tuple(ops.shape(x))
    if len(shape) != rank:
        raise ValueError(f"{fn}: expected input of rank {rank} ({layout}), got shape {shape}")
    return shape


def _string_padding(padding, fn):
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"{fn}: padding must be 'SAME' or 'VALID', got {padding!r}")
    return padding.lower()


def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, name=None):
    """1-D convolution of (batch, width, channels) ``input`` with filters of
    shape (width, in, out)."""
    _channels_last(data_format, ("NWC",), "conv1d")
    _rank(input, 3, "batch, width, channels", "conv1d")
    x, mode = input, padding
    if not isinstance(padding, str):
        pairs = np.asarray(padding, dtype=np.int64)
        if pairs.shape != (3, 2) or pairs[0].any() or pairs[2].any():
            raise ValueError(f"conv1d: explicit padding must be [[0, 0], [left, right], [0, 0]], "
                             f"got {padding!r}")
        x, mode = ops.pad(input, pairs.tolist()), "valid"
    return ops.conv(x, filters, strides=_spatial_n(stride, 1, "stride", "conv1d"),
                    padding=_string_padding(mode, "conv1d"), data_format="channels_last",
                    dilation_rate=_spatial_n(1 if dilations is None else dilations, 1,
                                             "dilations", "conv1d"))


def atrous_conv2d(value, filters, rate, padding, name=None):
    """2-D convolution with holes: conv2d of NHWC ``value`` with ``filters``
    dilated by ``rate`` (stride 1), as TensorFlow's."""
    r = int(rate)
    if r < 1:
        raise ValueError(f"atrous_conv2d: rate must be >= 1, got {rate!r}")
    return conv2d(value, filters, 1, padding, dilations=r)


def conv3d(input, filters, strides, padding, data_format="NDHWC", dilations=None, name=None):
    """3-D convolution of (batch, depth, rows, cols, channels) ``input``
    with filters (depth, rows, cols, in, out): pynn.ops.conv's (one 2-D
    convolution per depth tap of the filters, summed; gradients flow
    through it)."""
    _channels_last(data_format, ("NDHWC",), "conv3d")
    n, d, h, w, c = _rank(input, 5, "batch, depth, rows, cols, channels", "conv3d")
    fs = tuple(ops.shape(filters))
    if len(fs) != 5 or fs[3] != c:
        raise ValueError(f"conv3d: filters must have shape (depth, rows, cols, {c}, out) for "
                         f"input of shape {(n, d, h, w, c)}, got {fs}")
    st = _spatial_n(strides, 3, "strides", "conv3d")
    dil = _spatial_n(1 if dilations is None else dilations, 3, "dilations", "conv3d")
    mode = _string_padding(padding, "conv3d")
    return ops.conv(input, filters, strides=st, padding=mode, data_format="channels_last",
                    dilation_rate=dil)


def depthwise_conv2d(input, filter, strides, padding, data_format=None, dilations=None,
                     name=None):
    """Each channel of NHWC ``input`` convolved with its own
    ``channel_multiplier`` filters (``filter`` of shape (rows, cols, in,
    channel_multiplier)), the outputs of channel k at k * multiplier + q."""
    _nhwc(data_format, "depthwise_conv2d")
    _rank(input, 4, "batch, rows, cols, channels", "depthwise_conv2d")
    x, mode = _padding(input, padding, "depthwise_conv2d")
    return ops.depthwise_conv(x, filter, strides=_spatial(strides, "strides", "depthwise_conv2d"),
                              padding=mode, data_format="channels_last",
                              dilation_rate=_spatial(1 if dilations is None else dilations,
                                                     "dilations", "depthwise_conv2d"))


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,
                     data_format=None, dilations=None, name=None):
    """depthwise_conv2d followed by a 1 x 1 convolution with
    ``pointwise_filter`` (1, 1, in * channel_multiplier, out)."""
    pw = tuple(ops.shape(pointwise_filter))
    if len(pw) != 4 or pw[:2] != (1, 1):
        raise ValueError(f"separable_conv2d: pointwise_filter must have shape (1, 1, in * "
                         f"channel_multiplier, out), got {pw}")
    if tuple(_spatial(strides, "strides", "separable_conv2d")) != (1, 1) and \
            _spatial(1 if dilations is None else dilations, "dilations",
                     "separable_conv2d") != (1, 1):
        raise ValueError("separable_conv2d: strides and dilations cannot both be above 1")
    y = depthwise_conv2d(input, depthwise_filter, strides, padding, data_format, dilations)
    return ops.conv(y, pointwise_filter, strides=1, padding="valid", data_format="channels_last")


def local_response_normalization(input, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5,
                                 name=None):
    """Each entry of 4-D ``input`` divided by (bias + alpha * the sum of the
    squares of the channels within ``depth_radius`` of it) ** beta."""
    shape = _rank(input, 4, "batch, rows, cols, channels", "local_response_normalization")
    r, c = int(depth_radius), shape[3]
    if r < 0:
        raise ValueError(f"local_response_normalization: depth_radius must be >= 0, got {r}")
    k = np.arange(c)
    band = (np.abs(k[:, None] - k[None, :]) <= r).astype(np.float32)
    sums = ops.matmul(ops.square(input), band)
    scale = ops.power(ops.add(ops.multiply(sums, np.float32(alpha)), np.float32(bias)),
                      np.float32(beta))
    return ops.divide(input, scale)


lrn = local_response_normalization


def _pool_nd(kind, who, input, ksize, strides, padding, n):
    """``kind`` ('max' or 'avg') pooling over the n spatial axes of
    channels-last ``input``: 1-D and 2-D by pynn.ops's kernels, 3-D as a
    2-D pooling of each depth slice, then a 1-D one across the slices (a
    box's maximum is the maximum of its rows' maxima; its mean, counting
    only the values inside, the mean of its rows' means, as the counts
    multiply)."""
    shape = _rank(input, n + 2, "batch, spatial..., channels", who)
    k = _spatial_n(ksize, n, "ksize", who)
    st = _spatial_n(strides, n, "strides", who)
    mode = _string_padding(padding, who)
    pool = ops.max_pool if kind == "max" else ops.average_pool
    if n < 3:
        return pool(input, k, st, mode, "channels_last")
    b, d, h, w, c = shape
    planes = pool(ops.reshape(input, (b * d, h, w, c)), k[1:], st[1:], mode, "channels_last")
    _, oh, ow, _ = ops.shape(planes)
    across = pool(ops.reshape(planes, (b, d, oh * ow * c)), k[:1], st[:1], mode,
                  "channels_last")
    return ops.reshape(across, (b, ops.shape(across)[1], oh, ow, c))


def max_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):
    """The maximum over each window of (batch, width, channels) ``input``."""
    _channels_last(data_format, ("NWC",), "max_pool1d")
    return _pool_nd("max", "max_pool1d", input, ksize, strides, padding, 1)


def avg_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):
    """The mean over each window of (batch, width, channels) ``input``."""
    _channels_last(data_format, ("NWC",), "avg_pool1d")
    return _pool_nd("avg", "avg_pool1d", input, ksize, strides, padding, 1)


def max_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):
    """The maximum over each box of (batch, depth, rows, cols, channels)
    ``input``."""
    _channels_last(data_format, ("NDHWC",), "max_pool3d")
    return _pool_nd("max", "max_pool3d", input, ksize, strides, padding, 3)


def avg_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):
    """The mean over each box of (batch, depth, rows, cols, channels)
    ``input`` ('SAME' boxes count only the values inside)."""
    _channels_last(data_format, ("NDHWC",), "avg_pool3d")
    return _pool_nd("avg", "avg_pool3d", input, ksize, strides, padding, 3)


def pool(input, window_shape, pooling_type, strides=None, padding="VALID", data_format=None,
         dilations=None, name=None):
    """TensorFlow's N-D pooling: 'MAX' or 'AVG' over ``window_shape`` (one
    size per spatial axis) of channels-last input of 1, 2 or 3 spatial
    axes."""
    n = len(tuple(ops.shape(input))) - 2
    if n not in (1, 2, 3):
        raise ValueError(f"pool: expected input of rank 3, 4 or 5, got shape "
                         f"{tuple(ops.shape(input))}")
    _channels_last(data_format, (("NWC", "NHWC", "NDHWC")[n - 1],), "pool")
    kind = {"MAX": "max", "AVG": "avg"}.get(str(pooling_type).upper())
    if kind is None:
        raise ValueError(f"pool: pooling_type must be 'MAX' or 'AVG', got {pooling_type!r}")
    if dilations is not None and set(_spatial_n(dilations, n, "dilations", "pool")) != {1}:
        raise ValueError(f"pool: dilations other than 1 are not supported by pynn, got "
                         f"{dilations!r}")
    window = _spatial_n(window_shape, n, "window_shape", "pool")
    return _pool_nd(kind, "pool", input, window, 1 if strides is None else strides, padding, n)


def _same_pads(size, k_eff, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return out, total // 2


def dilation2d(input, filters, strides, padding, data_format="NHWC", dilations=None, name=None):
    """Grayscale morphological dilation of NHWC ``input`` by ``filters``
    (rows, cols, channels): the maximum over each window of input plus
    filter, per channel (positions outside the image do not count)."""
    _nhwc(data_format, "dilation2d")
    b, h, w, c = _rank(input, 4, "batch, rows, cols, channels", "dilation2d")
    fshape = tuple(ops.shape(filters))
    if len(fshape) != 3 or fshape[2] != c:
        raise ValueError(f"dilation2d: filters must have shape (rows, cols, {c}) for input of "
                         f"shape {(b, h, w, c)}, got {fshape}")
    kh, kw = fshape[:2]
    sh, sw = _spatial(strides, "strides", "dilation2d")
    rh, rw = _spatial(1 if dilations is None else dilations, "dilations", "dilation2d")
    eh, ew = (kh - 1) * rh + 1, (kw - 1) * rw + 1
    if _string_padding(padding, "dilation2d") == "same":
        (oh, top), (ow, left) = _same_pads(h, eh, sh), _same_pads(w, ew, sw)
    else:
        oh, ow, top, left = (h - eh) // sh + 1, (w - ew) // sw + 1, 0, 0
        if oh < 1 or ow < 1:
            raise ValueError(f"dilation2d: the window {(eh, ew)} (dilated) is larger than the "
                             f"input's {(h, w)} with VALID padding")
    rows = (np.arange(oh) * sh - top)[:, None] + np.arange(kh) * rh        # (oh, kh)
    cols = (np.arange(ow) * sw - left)[:, None] + np.arange(kw) * rw       # (ow, kw)
    r, q = rows[:, None, :, None], cols[None, :, None, :]                   # (oh, ow, kh, kw)
    inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
    flat = np.where(inside, r * w + q, h * w).reshape(-1)                    # (h * w: outside)
    dt = np.dtype(ops.dtype(input)) if np.dtype(ops.dtype(input)).kind == "f" else np.float32
    outside = np.full((b, 1, c), -np.inf, dt)
    values = ops.concatenate([ops.reshape(input, (b, h * w, c)), outside], axis=1)
    windows = ops.reshape(ops.take(values, flat, axis=1), (b, oh, ow, kh * kw, c))
    return ops.max(ops.add(windows, ops.reshape(filters, (kh * kw, c))), axis=3)


def erosion2d(value, filters, strides, padding, data_format="NHWC", dilations=None, name=None):
    """Grayscale morphological erosion: the minimum over each window of
    ``value`` minus the filter (reflected), -dilation2d(-value, reflected
    filters)."""
    reflected = ops.flip(ops.flip(filters, 0), 1)
    return ops.negative(dilation2d(ops.negative(value), reflected, strides, padding,
                                   data_format, dilations))


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

# ------------------------------------------------------------------ CTC
# TensorFlow's CTC functions over pynn.ops.ctc_loss / ctc_decode (Keras
# 3's, batch-major): time-major logits, SparseTensor labels and decodings.

def _batch_major(x, time_major, who):
    if len(ops.shape(x)) != 3:
        raise ValueError(f"{who}: the logits must have shape (max_time, batch, classes) "
                         f"(time-major) or (batch, max_time, classes), got shape "
                         f"{tuple(ops.shape(x))}")
    return ops.transpose(x, (1, 0, 2)) if time_major else x


def _sparse_labels(labels, batch, who):
    """A SparseTensor of labels (``indices[i] = [b, position]``) as dense
    labels (batch, longest) and the number of labels of each sample."""
    from .sparse import SparseTensor
    if not isinstance(labels, SparseTensor):
        raise TypeError(f"{who}: labels must be a SparseTensor, got {type(labels).__name__}")
    indices = np.asarray(labels.indices)
    values = np.asarray(labels.values)
    if indices.ndim != 2 or indices.shape[1] != 2:
        raise ValueError(f"{who}: the labels' SparseTensor must be of rank 2 (batch, "
                         f"position), got indices of shape {indices.shape}")
    if values.dtype.kind not in "iu":
        raise TypeError(f"{who}: the labels must be integers, got {values.dtype}")
    lengths = np.bincount(indices[:, 0], minlength=batch).astype(np.int64)
    if len(lengths) != batch:
        raise ValueError(f"{who}: the labels name batch entry {int(indices[:, 0].max())}, "
                         f"but the logits hold {batch}")
    dense = np.zeros((batch, int(lengths.max()) if batch else 0), np.int64)
    dense[indices[:, 0], indices[:, 1]] = values
    filled = np.zeros(dense.shape, bool)
    filled[indices[:, 0], indices[:, 1]] = True
    if not np.array_equal(filled, np.arange(dense.shape[1])[None, :] < lengths[:, None]):
        raise ValueError(f"{who}: each sample's labels must sit at positions 0, 1, ... of "
                         f"its row, without gaps")
    return dense, lengths


def _collapse_repeats(labels, lengths):
    """Each row's runs of one label made one label."""
    out = np.zeros_like(labels)
    new_lengths = np.zeros_like(lengths)
    for b, row in enumerate(labels):
        row = row[:lengths[b]]
        kept = row[np.concatenate([[True], row[1:] != row[:-1]])] if len(row) else row
        out[b, :len(kept)] = kept
        new_lengths[b] = len(kept)
    return out, new_lengths


def ctc_loss(labels, logits, label_length, logit_length, logits_time_major=True, unique=None,
             blank_index=None, name=None):
    """tf.nn.ctc_loss: the negative log probability of each sample's labels
    (batch,) under the CTC alignment of its logits, differentiable w.r.t.
    them.  ``labels`` are integers (batch, max_label_length) of which the
    first ``label_length`` count, or a SparseTensor (``label_length``
    None); ``logits`` are (frames, batch, classes), batch-major when
    ``logits_time_major`` is False, of which the first ``logit_length``
    frames count; ``blank_index`` is the blank class (0 by default, -1 for
    the last; required with SparseTensor labels, as TensorFlow's)."""
    logits = _batch_major(logits, logits_time_major, "ctc_loss")
    batch, _, classes = ops.shape(logits)
    if blank_index is None:
        if label_length is None:
            raise ValueError("ctc_loss: blank_index must be given with SparseTensor labels")
        blank_index = 0
    blank_index = int(blank_index) + (classes if int(blank_index) < 0 else 0)
    if label_length is None:
        labels, label_length = _sparse_labels(labels, batch, "ctc_loss")
    return ops.ctc_loss(labels, logits, label_length, logit_length, mask_index=blank_index)


def _ctc_loss_v1(labels, inputs=None, sequence_length=None, preprocess_collapse_repeated=False,
                 ctc_merge_repeated=True, ignore_longer_outputs_than_inputs=False,
                 time_major=True, logits=None):
    """tf.compat.v1.nn.ctc_loss: the negative log probability of each
    sample's SparseTensor ``labels`` (batch,) under the CTC alignment of
    ``inputs`` (logits, time-major unless ``time_major`` is False), over
    the first ``sequence_length`` frames; the last class is the blank.  A
    sample with more labels than its frames can hold is an
    InvalidArgumentError, or a loss of 0 (and no gradient) with
    ``ignore_longer_outputs_than_inputs``."""
    from .debugging import InvalidArgumentError
    if inputs is None:
        inputs = logits
    elif logits is not None:
        raise ValueError("ctc_loss: give inputs or logits, not both")
    if not ctc_merge_repeated:
        raise ValueError("ctc_loss: ctc_merge_repeated=False (repeated labels emitted without "
                         "a blank between them) is not supported; pynn computes the standard "
                         "CTC alignment (ctc_merge_repeated=True)")
    x = _batch_major(inputs, time_major, "ctc_loss")
    batch, steps, classes = ops.shape(x)
    dense, lengths = _sparse_labels(labels, batch, "ctc_loss")
    if dense.size and (dense.min() < 0 or dense.max() >= classes - 1):
        raise InvalidArgumentError(f"ctc_loss: labels must be in [0, {classes - 1}) (the last "
                                   f"of the {classes} classes is the blank), got values from "
                                   f"{dense.min()} to {dense.max()}")
    if preprocess_collapse_repeated:
        dense, lengths = _collapse_repeats(dense, lengths)
    frames = np.asarray(ops._plain(sequence_length)).reshape(-1).astype(np.int64)
    if frames.shape != (batch,):
        raise ValueError(f"ctc_loss: sequence_length must hold one length per sample "
                         f"({batch}), got shape {frames.shape}")
    # frames needed: one per label, and a blank between two equal labels
    repeats = np.array([int(np.sum(row[1:n] == row[:n - 1])) if n else 0
                        for row, n in zip(dense, lengths)], np.int64)
    short = lengths + repeats > frames
    if short.any() and not ignore_longer_outputs_than_inputs:
        b = int(np.flatnonzero(short)[0])
        raise InvalidArgumentError(f"ctc_loss: not enough time for the target transition "
                                   f"sequence of sample {b} (required: "
                                   f"{int(lengths[b] + repeats[b])}, available: {frames[b]})")
    if short.any():
        frames = np.where(short, steps, frames)
        dense[short] = 0
        lengths = np.where(short, 0, lengths)
    loss = ops.ctc_loss(dense, x, lengths, frames, mask_index=classes - 1)
    if short.any():
        loss = ops.multiply(loss, (~short).astype(np.float32))
    return loss


def _sparse_paths(paths, merge_repeated=False):
    """Decoded paths (batch, steps; the labels, then -1) as TensorFlow's
    SparseTensor (batch, longest) of int64 labels; ``merge_repeated``
    makes each run of one label one label."""
    from .sparse import SparseTensor
    rows = []
    for p in np.asarray(paths):
        row = p[p >= 0]
        if merge_repeated and len(row):
            row = row[np.concatenate([[True], row[1:] != row[:-1]])]
        rows.append(row.astype(np.int64))
    longest = max((len(r) for r in rows), default=0)
    indices = np.array([[b, i] for b, r in enumerate(rows) for i in range(len(r))],
                       np.int64).reshape(-1, 2)
    values = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return SparseTensor(indices, values.astype(np.int64), [len(rows), longest])


def _decoder_input(inputs, sequence_length, time_major, who):
    x = np.asarray(ops._plain(_batch_major(inputs, time_major, who)), np.float32)
    lengths = np.asarray(ops._plain(sequence_length)).reshape(-1)
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"{who}: sequence_length must hold one length per sample "
                         f"({x.shape[0]}), got shape {lengths.shape}")
    return x, lengths


def ctc_greedy_decoder(inputs, sequence_length, merge_repeated=True, blank_index=None):
    """tf.nn.ctc_greedy_decoder: the best class of each of the first
    ``sequence_length`` frames of time-major logits (max_time, batch,
    classes), runs merged (``merge_repeated``) and blanks dropped (the last
    class, or ``blank_index``): ``([decoded], neg_sum_logits)``, decoded a
    SparseTensor (batch, longest) of int64 labels, neg_sum_logits (batch,
    1) minus the sum of the best logits."""
    x, lengths = _decoder_input(inputs, sequence_length, True, "ctc_greedy_decoder")
    classes = x.shape[-1]
    blank = classes - 1 if blank_index is None else \
        int(blank_index) + (classes if int(blank_index) < 0 else 0)
    paths, scores = ops.ctc_decode(x, lengths, strategy="greedy",
                                   merge_repeated=merge_repeated, mask_index=blank)
    return [_sparse_paths(paths[0])], eager(np.asarray(scores, np.float32))


def ctc_beam_search_decoder(inputs, sequence_length, beam_width=100, top_paths=1):
    """tf.nn.ctc_beam_search_decoder: the ``top_paths`` most probable
    labelings of time-major logits (max_time, batch, classes; the last
    class the blank) found by a beam of ``beam_width`` prefixes:
    ``(decoded, log_probabilities)``, decoded a list of ``top_paths``
    SparseTensors (batch, longest) of int64 labels, log_probabilities
    (batch, top_paths)."""
    return _beam_search(inputs, sequence_length, beam_width, top_paths, False)


def _beam_search(inputs, sequence_length, beam_width, top_paths, merge_repeated):
    x, lengths = _decoder_input(inputs, sequence_length, True, "ctc_beam_search_decoder")
    paths, scores = ops.ctc_decode(x, lengths, strategy="beam_search", beam_width=beam_width,
                                   top_paths=top_paths, mask_index=x.shape[-1] - 1)
    return ([_sparse_paths(p, merge_repeated) for p in paths],
            eager(np.asarray(scores, np.float32)))


def _ctc_beam_search_decoder_v1(inputs, sequence_length, beam_width=100, top_paths=1,
                                merge_repeated=True):
    """tf.compat.v1.nn.ctc_beam_search_decoder: as tf.nn's, each decoded
    labeling's runs of one label made one label when ``merge_repeated``."""
    return _beam_search(inputs, sequence_length, beam_width, top_paths, merge_repeated)


def _ctc_greedy_decoder_v1(inputs, sequence_length, merge_repeated=True):
    """tf.compat.v1.nn.ctc_greedy_decoder (the last class the blank)."""
    return ctc_greedy_decoder(inputs, sequence_length, merge_repeated)


__all__ = ["relu", "relu6", "elu", "selu", "gelu", "leaky_relu", "silu", "swish", "sigmoid",
           "tanh", "softmax", "log_softmax", "softplus", "l2_normalize", "dropout", "moments",
           "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
           "sigmoid_cross_entropy_with_logits", "bias_add", "embedding_lookup", "conv2d", "conv2d_transpose",
           "convolution", "max_pool", "avg_pool", "max_pool2d", "avg_pool2d", "depth_to_space", "space_to_depth",
           "compute_average_loss", "scale_regularization_loss", "top_k", "in_top_k",
           "ctc_loss", "ctc_greedy_decoder", "ctc_beam_search_decoder", "conv1d",
           "depthwise_conv2d", "separable_conv2d", "local_response_normalization", "lrn",
           "max_pool1d", "avg_pool1d", "max_pool3d", "avg_pool3d", "pool", "dilation2d",
           "erosion2d", "atrous_conv2d", "conv3d", "conv1d_transpose", "max_pool_with_argmax",
           "normalize_moments", "weighted_moments", "nce_loss", "sampled_softmax_loss",
           "batch_normalization", "softsign", "crelu", "weighted_cross_entropy_with_logits"]
for _name in ("relu", "relu6", "elu", "selu", "gelu", "leaky_relu", "silu", "dropout", "moments", "softmax_cross_entropy_with_logits",
              "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits",
              "bias_add", "embedding_lookup", "conv2d", "conv2d_transpose", "convolution", "max_pool2d", "avg_pool2d",
              "depth_to_space", "space_to_depth", "compute_average_loss",
              "scale_regularization_loss", "ctc_loss", "conv1d", "depthwise_conv2d",
              "separable_conv2d", "local_response_normalization", "max_pool1d", "avg_pool1d",
              "max_pool3d", "avg_pool3d", "pool", "dilation2d", "erosion2d", "atrous_conv2d",
              "conv3d", "conv1d_transpose", "batch_normalization", "softsign", "crelu",
              "weighted_cross_entropy_with_logits"):
    globals()[_name] = _eager_results(globals()[_name])
del _name
swish = silu
lrn = local_response_normalization
