"""Every layer against a float64 NumPy reference on random shapes (0, 1,
odd sizes), and, with garbage in any constructor argument or a badly shaped
input, only ValueError or TypeError."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pynn
from fuzzhelp import ALLOWED, array_spec, build, close, f32, garbage, small_side
from pynn import layers
from test_ops_properties import act_ref, conv_ref, explicit_pads, pool_ref

ACTS = ["linear", "relu", "sigmoid", "tanh", "elu", "softmax", "swish"]
side = st.sampled_from([1, 2, 3, 5, 7])


def ref_act(name, pre):
    if name == "softmax":
        e = np.exp(pre - pre.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    return act_ref(name, pre, None)


@given(n=small_side, k=side, units=side, act=st.sampled_from(ACTS), spec=array_spec(
    specials=False), use_bias=st.booleans())
def test_dense(n, k, units, act, spec, use_bias):
    x, rx = build(spec, (n, k))
    layer = layers.Dense(units, activation=act, use_bias=use_bias,
                         bias_initializer="glorot_uniform" if use_bias else "zeros")
    y = layer(np.asarray(x, np.float32).reshape(n, k))
    kernel = layer.kernel.value.astype(np.float64)
    pre = f32(rx) @ kernel + (layer.bias.value if use_bias else 0)
    close(y, ref_act(act, pre), rtol=1e-4, atol=1e-5)


@given(n=small_side, h=side, w=side, c=small_side, filters=side, k=st.integers(1, 3),
       s=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]),
       kind=st.sampled_from(["Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv1D"]),
       act=st.sampled_from(["linear", "relu"]), spec=array_spec(specials=False))
def test_convolution_layers(n, h, w, c, filters, k, s, padding, kind, act, spec):
    shape = (n, w, c) if kind == "Conv1D" else (n, h, w, c)
    x, rx = build(spec, shape)
    x = np.asarray(x, np.float32).reshape(shape)
    args = dict(kernel_size=k, strides=s, padding=padding, activation=act,
                bias_initializer="glorot_uniform")
    layer = {"Conv2D": lambda: layers.Conv2D(filters, **args),
             "Conv1D": lambda: layers.Conv1D(filters, **args),
             "DepthwiseConv2D": lambda: layers.DepthwiseConv2D(depth_multiplier=filters, **args),
             "SeparableConv2D": lambda: layers.SeparableConv2D(filters, **args)}[kind]()
    fits = padding == "same" or ((kind == "Conv1D" or h >= k) and w >= k)
    if not fits:
        with pytest.raises(ValueError):
            layer(x)
        return
    y = layer(x)
    x4 = f32(rx).reshape(shape) if kind != "Conv1D" else f32(rx).reshape(shape)[:, None]
    kh = 1 if kind == "Conv1D" else k
    pads = explicit_pads(x4.shape[1], x4.shape[2], kh, k, (1 if kind == "Conv1D" else s, s),
                         (1, 1), padding)
    strides = (1 if kind == "Conv1D" else s, s)
    weights = [w_.value.astype(np.float64) for w_ in layer.weights]
    if kind == "SeparableConv2D":
        mid = conv_ref(x4, weights[0], strides, pads, (1, 1), depthwise=True)
        pre = conv_ref(mid, weights[1], (1, 1), ((0, 0), (0, 0)), (1, 1)) + weights[2]
    else:
        kern = weights[0][None] if kind == "Conv1D" else weights[0]
        pre = conv_ref(x4, kern, strides, pads, (1, 1), kind == "DepthwiseConv2D") + weights[1]
    if kind == "Conv1D":
        pre = pre[:, 0]
    close(y, ref_act(act, pre), rtol=1e-4, atol=1e-5, scale=max(1, k * k * c))


@given(n=small_side, h=side, w=side, c=small_side, p=st.integers(1, 3),
       s=st.none() | st.integers(1, 3), padding=st.sampled_from(["valid", "same"]),
       kind=st.sampled_from(["MaxPooling2D", "AveragePooling2D", "MaxPooling1D",
                             "AveragePooling1D"]), spec=array_spec())
def test_pooling_layers(n, h, w, c, p, s, padding, kind, spec):
    one_d = kind.endswith("1D")
    shape = (n, w, c) if one_d else (n, h, w, c)
    x, rx = build(spec, shape)
    x = np.asarray(x, np.float32).reshape(shape)
    layer = getattr(layers, kind)(pool_size=p, strides=s, padding=padding)
    rows = 1 if one_d else h
    if padding == "valid" and (rows < (1 if one_d else p) or w < p):
        with pytest.raises(ValueError):
            layer(x)
        return
    y = layer(x)
    x4 = f32(rx).reshape(shape)
    x4 = x4[:, None] if one_d else x4
    pool = (1, p) if one_d else (p, p)
    stride = (1, s or p) if one_d else (s or p, s or p)
    want = pool_ref(x4, pool, stride, padding, "max" if kind.startswith("Max") else "avg")
    close(y, want[:, 0] if one_d else want, rtol=1e-5, atol=1e-6)


@given(n=small_side, h=side, w=side, c=small_side, spec=array_spec(), keepdims=st.booleans(),
       kind=st.sampled_from(["GlobalMaxPooling2D", "GlobalAveragePooling2D",
                             "GlobalMaxPooling1D", "GlobalAveragePooling1D"]))
def test_global_pooling_layers(n, h, w, c, spec, keepdims, kind):
    shape = (n, w, c) if kind.endswith("1D") else (n, h, w, c)
    x, rx = build(spec, shape)
    y = getattr(layers, kind)(keepdims=keepdims)(np.asarray(x, np.float32).reshape(shape))
    r = f32(rx).reshape(n, int(np.prod(shape[1:-1])), c)
    with np.errstate(all="ignore"):
        want = r.max(1) if "Max" in kind else r.mean(1)
    if keepdims:
        want = want.reshape((n,) + (1,) * (len(shape) - 2) + (c,))
    close(y, want, rtol=1e-5, atol=1e-6)


@given(n=small_side, c=side, spec=array_spec(specials=False), training=st.booleans(),
       eps=st.floats(1e-5, 1.0))
def test_batch_normalization(n, c, spec, training, eps):
    x, rx = build(spec, (n, 3, c))
    layer = layers.BatchNormalization(epsilon=eps, gamma_initializer="glorot_uniform",
                                      beta_initializer="glorot_uniform")
    x = np.asarray(x, np.float32).reshape(n, 3, c)
    layer(x[:0])  # build
    gamma, beta, mm, mv = (w.value.astype(np.float64) for w in layer.weights)
    y = layer(x, training=training)
    r = f32(rx).reshape(n, 3, c)
    if training and n:
        mean, var = r.reshape(-1, c).mean(0), r.reshape(-1, c).var(0)
    else:
        mean, var = mm, mv
    close(y, (r - mean) / np.sqrt(var + eps) * gamma + beta, rtol=1e-4, atol=1e-4)


MERGES = {"Add": lambda xs: sum(xs), "Subtract": lambda xs: xs[0] - xs[1],
          "Multiply": lambda xs: np.prod(xs, axis=0), "Average": lambda xs: sum(xs) / len(xs),
          "Maximum": lambda xs: np.max(xs, axis=0), "Minimum": lambda xs: np.min(xs, axis=0)}


@given(kind=st.sampled_from(sorted(MERGES) + ["Concatenate"]), n=small_side, d=side,
       count=st.integers(2, 4), specs=st.lists(array_spec(), min_size=4, max_size=4))
def test_merge_layers(kind, n, d, count, specs):
    if kind == "Subtract":
        count = 2
    built = [build(s, (n, d)) for s in specs[:count]]
    xs = [np.asarray(a, np.float32).reshape(n, d) for a, _ in built]
    refs = [f32(r).reshape(n, d) for _, r in built]
    y = getattr(layers, kind)()(xs)
    with np.errstate(all="ignore"):
        want = np.concatenate(refs, -1) if kind == "Concatenate" else \
            MERGES[kind](np.stack(refs))
        want = want.astype(np.float32).astype(np.float64)
    close(y, want, rtol=1e-5, atol=1e-6)


@given(n=small_side, d=side, normalize=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_dot(n, d, normalize, seed):
    g = np.random.default_rng(seed)
    a, b = g.uniform(-1, 1, (n, d)).astype(np.float32), g.uniform(-1, 1, (n, d)).astype(
        np.float32)
    y = layers.Dot(axes=1, normalize=normalize)([a, b])
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if normalize:
        a64 = a64 / np.sqrt(np.maximum((a64 ** 2).sum(1, keepdims=True), 1e-12))
        b64 = b64 / np.sqrt(np.maximum((b64 ** 2).sum(1, keepdims=True), 1e-12))
    close(y, (a64 * b64).sum(1, keepdims=True), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------ garbage arguments

CONSTRUCTORS = {
    layers.Dense: dict(units=3, activation="relu"),
    layers.Activation: dict(activation="relu"),
    layers.Dropout: dict(rate=0.5, seed=1),
    layers.Flatten: dict(),
    layers.Reshape: dict(target_shape=(2, -1)),
    layers.Conv2D: dict(filters=2, kernel_size=3, strides=1, padding="same", dilation_rate=1,
                        activation="relu"),
    layers.Conv1D: dict(filters=2, kernel_size=3, strides=1, padding="causal",
                        dilation_rate=1),
    layers.DepthwiseConv2D: dict(kernel_size=3, strides=1, padding="same", depth_multiplier=2),
    layers.SeparableConv2D: dict(filters=2, kernel_size=3, strides=1, padding="same",
                                 depth_multiplier=1),
    layers.MaxPooling2D: dict(pool_size=2, strides=None, padding="valid"),
    layers.AveragePooling2D: dict(pool_size=2, strides=None, padding="same"),
    layers.MaxPooling1D: dict(pool_size=2, strides=None, padding="valid"),
    layers.AveragePooling1D: dict(pool_size=2, strides=None, padding="valid"),
    layers.GlobalMaxPooling2D: dict(keepdims=False),
    layers.GlobalAveragePooling1D: dict(keepdims=True),
    layers.BatchNormalization: dict(axis=-1, momentum=0.9, epsilon=1e-3, center=True,
                                    scale=True),
    layers.Concatenate: dict(axis=-1),
    layers.Dot: dict(axes=1, normalize=False),
    layers.Add: dict(),
}
INPUTS = {layers.Conv2D: (2, 6, 6, 3), layers.DepthwiseConv2D: (2, 6, 6, 3),
          layers.SeparableConv2D: (2, 6, 6, 3), layers.MaxPooling2D: (2, 6, 6, 3),
          layers.AveragePooling2D: (2, 6, 6, 3), layers.GlobalMaxPooling2D: (2, 6, 6, 3),
          layers.Conv1D: (2, 6, 3), layers.MaxPooling1D: (2, 6, 3),
          layers.AveragePooling1D: (2, 6, 3), layers.GlobalAveragePooling1D: (2, 6, 3),
          layers.BatchNormalization: (2, 6, 3), layers.Reshape: (2, 6)}
MULTI = (layers.Concatenate, layers.Dot, layers.Add)


def call_on(layer_cls, layer, shape=None):
    shape = shape or INPUTS.get(layer_cls, (2, 6))
    x = np.ones(shape, np.float32)
    return layer([x, x] if layer_cls in MULTI else x)


def test_every_constructor_works_with_its_valid_arguments():
    for cls, kwargs in CONSTRUCTORS.items():
        call_on(cls, cls(**kwargs))


@given(cls=st.sampled_from(sorted(CONSTRUCTORS, key=lambda c: c.__name__)), data=st.data())
def test_garbage_constructor_arguments_raise_value_or_type_errors(cls, data):
    kwargs = dict(CONSTRUCTORS[cls])
    names = sorted(kwargs) + ["name", "trainable", "input_shape", "dtype"]
    for _ in range(data.draw(st.integers(1, 2))):
        kwargs[data.draw(st.sampled_from(names))] = data.draw(garbage)
    try:
        layer = cls(**kwargs)
    except ALLOWED:
        return
    try:  # accepted: then a call works or explains itself
        call_on(cls, layer)
    except ALLOWED:
        pass


@given(cls=st.sampled_from(sorted(CONSTRUCTORS, key=lambda c: c.__name__)),
       shape=st.lists(st.sampled_from([0, 1, 2, 3, 7]), min_size=0, max_size=5).map(tuple),
       dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.float16]))
def test_inputs_of_any_shape_compute_or_raise_value_errors(cls, shape, dtype):
    layer = cls(**CONSTRUCTORS[cls])
    x = np.ones(shape, dtype)
    try:
        y = layer([x, x] if cls in MULTI else x)
    except ALLOWED:
        return
    assert np.all(np.isfinite(np.asarray(y, np.float64)))


# (0.5: tf.keras 2 cuts a fractional size down, Dense(total_words / 2) as
# in its tutorials, so 2.5 is a size of 2 and 0.5 one of 0)
@given(n=small_side, units=st.sampled_from([1, 3]), bad=st.sampled_from(
    [float("nan"), float("inf"), -1, 0, 0.5, 10 ** 12, "3", None]))
def test_layer_sizes_are_positive_integers(n, units, bad):
    with pytest.raises(ALLOWED):
        layers.Dense(bad)
    with pytest.raises(ALLOWED):
        layers.Conv2D(bad, 3)
    with pytest.raises(ALLOWED):
        layers.Conv2D(units, bad)
    with pytest.raises(ALLOWED):
        layers.MaxPooling2D(bad)
    assert pynn.Sequential([pynn.Input((4,)), layers.Dense(units)]).predict(
        np.ones((n, 4)), verbose=0).shape == (n, units)
