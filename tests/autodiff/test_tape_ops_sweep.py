"""pynn.ops kernels that once returned constants under a GradientTape
(reverse, the axes-less moments, layer_norm, group_norm, time_mask,
scale_channels, prelu, masked_mean, spatial_pad, spatial_crop,
channel_affine, max_pool2d, avg_pool2d, conv2d, depthwise_conv2d, and the
L1/L2 regularizers' weight_penalty): on a watched Variable or tensor they
record, give the eager values, and their gradients match central
differences of the eager (NumPy) op."""
import numpy as np
import pytest
from gradcheck import numeric_grad

import pynn
from pynn import ops

RNG = np.random.default_rng(7)


def _data(shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _first(y):
    return y[0] if isinstance(y, tuple) else y


def _check(f, args, wrt, watch_tensor=False):
    """f(*args) under a tape, args[wrt] watched: the traced values equal the
    eager ones, and d sum(w * f) / d args[i] matches central differences for
    every i in ``wrt``."""
    eager = [np.asarray(v) for v in (f(*args) if isinstance(f(*args), tuple) else (f(*args),))]
    weights = [_data(e.shape) for e in eager if e.dtype.kind == "f"]

    def loss(*a):
        outs = f(*a)
        outs = outs if isinstance(outs, tuple) else (outs,)
        outs = [o for o in outs if np.asarray(o).dtype.kind == "f" or not
                isinstance(o, np.ndarray)]
        total = None
        for o, w in zip(outs, weights):
            term = ops.sum(ops.multiply(o, w))
            total = term if total is None else ops.add(total, term)
        return total

    sources = [pynn.constant(args[i]) if watch_tensor else pynn.Variable(args[i]) for i in wrt]
    traced = list(args)
    with pynn.GradientTape() as tape:
        for i, s in zip(wrt, sources):
            if watch_tensor:
                tape.watch(s)
            traced[i] = s
        got = f(*traced)
        value = loss(*traced)
    got = got if isinstance(got, tuple) else (got,)
    for e, g in zip(eager, got):
        np.testing.assert_allclose(np.asarray(g), e, rtol=1e-5, atol=1e-5)
    grads = tape.gradient(value, sources)
    for i, g in zip(wrt, grads):
        assert g is not None, f"no gradient for argument {i}"

        def one(v, i=i):
            a = list(args)
            a[i] = v
            return float(np.asarray(loss(*a), np.float64))
        want = numeric_grad(one, args[i])
        np.testing.assert_allclose(np.asarray(g), want, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("watch_tensor", [False, True])
def test_reverse(watch_tensor):
    _check(lambda x: ops.reverse(x), [_data((2, 3, 4))], [0], watch_tensor)
    _check(lambda x: ops.reverse(x, axis=-1), [_data((3, 4))], [0], watch_tensor)


@pytest.mark.parametrize("watch_tensor", [False, True])
def test_moments_without_axes(watch_tensor):
    _check(lambda x: ops.moments(x), [_data((3, 2, 4))], [0], watch_tensor)
    _check(lambda x: ops.moments(x)[1], [_data((5, 3))], [0], watch_tensor)


@pytest.mark.parametrize("watch_tensor", [False, True])
def test_layer_norm(watch_tensor):
    x, g, b = _data((2, 3, 5)), _data((5,)), _data((5,))
    _check(lambda x, g, b: ops.layer_norm(x, g, b), [x, g, b], [0, 1, 2], watch_tensor)
    _check(lambda x: ops.layer_norm(x, epsilon=1e-2), [_data((4, 6))], [0], watch_tensor)


def test_time_mask():
    _check(lambda x: ops.time_mask(x, mask_value=9.0)[0], [_data((2, 4, 3))], [0])
    # masked steps (a step all mask_value) pass no gradient, as Keras's Masking
    x = _data((2, 4, 3))
    x[0, 1] = 0.0
    x[1, 3] = 0.0
    w = _data(x.shape)
    v = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        y, mask = ops.time_mask(v)
        loss = ops.sum(ops.multiply(y, w))
    assert not mask[0, 1] and not mask[1, 3] and mask.sum() == 6
    np.testing.assert_array_equal(np.asarray(y), ops.time_mask(x)[0])
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, v)), w * mask[..., None])


def test_scale_channels():
    _check(ops.scale_channels, [_data((2, 3, 4)), _data((2, 4))], [0, 1])
    _check(ops.scale_channels, [_data((2, 2, 3, 4)), _data((2, 4))], [1])


def test_prelu():
    x = _data((2, 3, 4))
    x[np.abs(x) < 0.05] = 0.5  # (away from the kink)
    _check(ops.prelu, [x, _data((4,)) * 0.3], [0, 1])
    _check(ops.prelu, [x, _data((3, 4)) * 0.3], [0, 1])


def test_masked_mean():
    mask = np.array([[True, False, True, True], [False, False, False, False]])
    _check(lambda x: ops.masked_mean(x, mask)[0], [_data((2, 4, 3))], [0])


def test_buffers_refused_on_traced_arrays():
    v = pynn.Variable(_data((2, 3, 4)))
    with pynn.GradientTape():
        with pytest.raises(ValueError, match="reverse: out="):
            ops.reverse(v, out=np.empty((2, 3, 4), np.float32))
        with pytest.raises(ValueError, match="moments"):
            ops.moments(v, np.empty(4, np.float32), np.empty(4, np.float32))
        with pytest.raises(ValueError, match=r"layer_norm: gamma must have shape \(4,\)"):
            ops.layer_norm(v, np.ones(3, np.float32))
        with pytest.raises(ValueError, match=r"scale_channels: scale must have shape"):
            ops.scale_channels(v, np.ones((2, 3), np.float32))


@pytest.mark.parametrize("reg", [pynn.regularizers.L1L2(0.1, 0.2), pynn.regularizers.L2(0.3),
                                 pynn.regularizers.L1(0.05)])
def test_regularizer_called_on_a_watched_variable(reg):
    w = _data((3, 4))
    w[np.abs(w) < 0.05] = 0.5  # (away from L1's kink)
    _check(reg, [w], [0])
    _check(reg, [w], [0], watch_tensor=True)
    assert isinstance(reg(w), float)


def test_regularizer_on_model_weights_in_a_custom_loop():
    model = pynn.Sequential([pynn.layers.Input((3,)), pynn.layers.Dense(2)])
    reg = pynn.regularizers.L2(0.5)
    with pynn.GradientTape() as tape:
        loss = reg(model.trainable_variables[0])
    g = tape.gradient(loss, model.trainable_variables)
    np.testing.assert_allclose(np.asarray(g[0]), model.get_weights()[0], rtol=1e-6)
    assert g[1] is None


def test_spatial_pad_crop_and_channel_affine():
    x = _data((2, 3, 4, 2))
    _check(lambda x: ops.spatial_pad(x, ((1, 0), (2, 1)), 0.5), [x], [0])
    _check(lambda x: ops.spatial_crop(x, ((1, 0), (1, 2))), [x], [0])
    _check(lambda x: ops.spatial_pad(x, ((1, 2),)), [_data((2, 3, 2))], [0])
    _check(ops.channel_affine, [x, _data((2,)), _data((2,))], [0, 1, 2])


@pytest.mark.parametrize("watch_tensor", [False, True])
def test_group_norm(watch_tensor):
    x, g, b = _data((2, 3, 3, 4)), _data((4,)), _data((4,))
    _check(lambda x, g, b: ops.group_norm(x, 2, g, b), [x, g, b], [0, 1, 2], watch_tensor)
    _check(lambda x: ops.group_norm(x, 4, epsilon=1e-2), [_data((2, 5, 4))], [0], watch_tensor)


def test_pool2d():
    x = np.random.default_rng(3).permutation(2 * 4 * 5 * 2).reshape(2, 4, 5, 2)
    x = (x * 0.1).astype(np.float32)  # (distinct values: no ties under max)
    _check(lambda x: ops.max_pool2d(x, 2), [x], [0])
    _check(lambda x: ops.max_pool2d(x, (2, 3), (1, 2), "same"), [x], [0])
    _check(lambda x: ops.avg_pool2d(x, 2, padding="same"), [x], [0], watch_tensor=True)


def test_conv2d_kernels():
    x, k, b = _data((2, 5, 5, 3)), _data((3, 3, 3, 2)) * 0.5, _data((2,))
    _check(lambda x, k, b: ops.conv2d(x, k, b, padding="same", activation="tanh"),
           [x, k, b], [0, 1, 2])
    _check(lambda x, k: ops.conv2d(x, k, strides=2), [x, k], [0, 1], watch_tensor=True)
    _check(lambda x, k: ops.depthwise_conv2d(x, k), [x, _data((3, 3, 3, 2))], [0, 1])
