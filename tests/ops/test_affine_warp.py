"""The batched affine warp (ops.affine_warp) against a float64 NumPy
reference of scipy.ndimage.affine_transform's order-0 and order-1 splines
and boundary modes, and against scipy itself where it is installed; then
the per-image steps that follow the warp (channel shift, brightness,
per-channel scale and offset) against Keras's definitions."""
import numpy as np
import pytest

from pynn import ops

try:
    import scipy.ndimage as ndi
except ImportError:
    ndi = None

MODES = ["constant", "nearest", "reflect", "wrap", "grid-constant", "grid-wrap"]
INTERPOLATIONS = ["nearest", "bilinear"]


def axis_reference(cc, size, mode, order):
    """For coordinates cc along an axis of `size` pixels: the two taps, the
    weight of the second, a mask of the coordinates that take cval and one
    of the taps that read cval (grid-constant), written from scipy's
    documented modes (not from the kernel's code)."""
    cval = np.zeros(cc.shape, bool)
    if mode == "constant":
        cval = (cc < 0) | (cc > size - 1)
    elif mode == "wrap" and size > 1:
        # scipy's "wrap": the coordinate comes back by whole periods of size - 1
        period = size - 1
        cc = np.where(cc < 0, cc + period * (np.trunc(-cc / period) + 1),
                      np.where(cc > size - 1, cc - period * np.trunc(cc / period), cc))
    elif mode == "wrap":
        cc = np.zeros_like(cc)
    elif mode == "reflect" and order == 0:
        # the nearest pixel of the reflected point (which differs from
        # reflecting the nearest pixel where a point lies half-way)
        cc = np.mod(cc + 0.5, 2 * size) - 0.5
        cc = np.where(cc > size - 0.5, 2 * size - 1 - cc, cc)
    if order == 0:
        t0 = np.floor(cc + 0.5)
        frac = np.zeros_like(cc)
    else:
        t0 = np.floor(cc)
        frac = cc - t0
    taps = np.stack([t0, t0 + 1]).astype(np.int64)
    tap_cval = np.zeros(taps.shape, bool)
    if mode == "grid-wrap":
        # the image repeated with period size
        return np.mod(taps, size), frac, cval, tap_cval
    if mode == "grid-constant":
        # the image extended by cval, interpolated with it
        tap_cval = (taps < 0) | (taps > size - 1)
        return np.clip(taps, 0, size - 1), frac, cval, tap_cval
    if mode == "reflect":
        # half-sample symmetric: d c b a | a b c d | d c b a
        taps = np.mod(taps, 2 * size)
        taps = np.where(taps >= size, 2 * size - 1 - taps, taps)
    else:
        # constant and wrap keep coordinates inside [0, size - 1], where a
        # tap past the edge has weight 0; nearest repeats the edge
        taps = np.clip(taps, 0, size - 1)
    return taps, frac, cval, tap_cval


def warp_reference(x, m, out_hw, interpolation, mode, cval):
    """float64 reference: y[b, r, c] = x[b] at M @ (r, c, 1)."""
    x = x.astype(np.float64)
    n, h, w, ch = x.shape
    oh, ow = out_hw
    order = 1 if interpolation == "bilinear" else 0
    r, c = np.meshgrid(np.arange(oh, dtype=np.float64), np.arange(ow, dtype=np.float64),
                       indexing="ij")
    y = np.empty((n, oh, ow, ch))
    for b in range(n):
        rr = m[b, 0, 2] + r * m[b, 0, 0] + c * m[b, 0, 1]
        cc = m[b, 1, 2] + r * m[b, 1, 0] + c * m[b, 1, 1]
        tr, fr, vr, kr = axis_reference(rr, h, mode, order)
        tc, fc, vc, kc = axis_reference(cc, w, mode, order)

        def tap(i, j):
            return np.where((kr[i] | kc[j])[..., None], cval, x[b][tr[i], tc[j]])
        if order == 0:
            val = tap(0, 0)
        else:
            wr = [1 - fr, fr]
            wc = [1 - fc, fc]
            val = sum(tap(i, j) * (wr[i] * wc[j])[..., None]
                      for i in range(2) for j in range(2))
        y[b] = np.where((vr | vc)[..., None], cval, val)
    return y


def random_maps(n, h, w, seed, scale=1.0):
    """Keras-like maps about the image centre: rotation, zoom, shear, shift."""
    g = np.random.default_rng(seed)
    m = np.zeros((n, 2, 3))
    for b in range(n):
        t, s = g.uniform(-np.pi, np.pi), g.uniform(-0.4, 0.4)
        z = g.uniform(0.5, 1.6, 2) * scale
        a = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ \
            np.array([[1, -np.sin(s)], [0, np.cos(s)]]) @ np.diag(z)
        centre = np.array([h / 2 - 0.5, w / 2 - 0.5])
        m[b, :, :2] = a
        m[b, :, 2] = centre - a @ centre + g.uniform(-0.6, 0.6, 2) * (h, w)
    return m


def rand_images(n, h, w, c, seed=0):
    return np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(np.float32)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("h, w, c, out_hw", [
    (7, 9, 3, None), (1, 1, 1, None), (1, 7, 3, (2, 5)), (33, 17, 4, (20, 40)),
    (8, 1, 1, None), (16, 16, 2, (7, 33)), (5, 6, 5, None), (2, 2, 1, (9, 9)),
])
def test_matches_float64_reference(interpolation, mode, h, w, c, out_hw):
    x = rand_images(6, h, w, c, seed=h * 100 + w)
    m = random_maps(6, h, w, seed=h + w + c)
    out_hw = out_hw or (h, w)
    y = ops.affine_warp(x, m, output_shape=out_hw, interpolation=interpolation,
                        fill_mode=mode, cval=0.25)
    ref = warp_reference(x, m, out_hw, interpolation, mode, 0.25)
    assert y.shape == (6,) + out_hw + (c,) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)


@pytest.mark.skipif(ndi is None, reason="scipy is not installed")
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("h, w", [(7, 9), (1, 5), (33, 17), (6, 1), (2, 3)])
def test_matches_scipy(interpolation, mode, h, w):
    x = rand_images(4, h, w, 3, seed=7)
    m = random_maps(4, h, w, seed=h * w)
    out_hw = (h + 3, w + 1)
    y = ops.affine_warp(x, m, output_shape=out_hw, interpolation=interpolation,
                        fill_mode=mode, cval=-0.5)
    order = 1 if interpolation == "bilinear" else 0
    ref = np.stack([np.stack([ndi.affine_transform(x[b, :, :, k].astype(np.float64), m[b],
                                                   output_shape=out_hw, order=order,
                                                   mode=mode, cval=-0.5)
                              for k in range(3)], -1) for b in range(4)])
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)
    # and the reference above agrees with scipy on the same maps
    np.testing.assert_allclose(warp_reference(x, m, out_hw, interpolation, mode, -0.5), ref,
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("c", [1, 3, 4])
def test_exact_maps_reproduce_pixels(interpolation, mode, c):
    """The identity, flips, 90-degree turns and whole-pixel shifts read
    pixels exactly: no rounding at all."""
    h, w = 7, 11
    x = rand_images(5, h, w, c, seed=3)
    eye = np.array([[1.0, 0, 0], [0, 1, 0]])
    flip_cols = np.array([[1.0, 0, 0], [0, -1, w - 1]])
    flip_rows = np.array([[-1.0, 0, h - 1], [0, 1, 0]])
    np.testing.assert_array_equal(
        ops.affine_warp(x, eye, interpolation=interpolation, fill_mode=mode), x)
    np.testing.assert_array_equal(
        ops.affine_warp(x, flip_cols, interpolation=interpolation, fill_mode=mode),
        x[:, :, ::-1])
    np.testing.assert_array_equal(
        ops.affine_warp(x, flip_rows, interpolation=interpolation, fill_mode=mode),
        x[:, ::-1])
    # a quarter turn: output (r, c) reads input (c, w - 1 - r)... of a transposed frame
    turn = np.array([[0.0, 1, 0], [-1, 0, w - 1]])
    np.testing.assert_array_equal(
        ops.affine_warp(x, turn, output_shape=(w, h), interpolation=interpolation,
                        fill_mode=mode), np.rot90(x, 1, axes=(1, 2)))
    shifted = ops.affine_warp(x, np.array([[1.0, 0, 2], [0, 1, -3]]), fill_mode=mode,
                              interpolation=interpolation, cval=9.0)
    np.testing.assert_array_equal(shifted[:, :h - 2, 3:], x[:, 2:, :w - 3])
    if mode in ("constant", "grid-constant"):
        assert np.all(shifted[:, h - 2:] == 9.0) and np.all(shifted[:, :, :3] == 9.0)


def test_random_small_cases_match_reference():
    """Many small random cases: sizes 1-6, 1-5 channels, maps with whole and
    half-pixel entries (coordinates exactly on pixels, edges and half-way
    between pixels), every mode, gathered through an index; against the
    reference and scipy."""
    g = np.random.default_rng(11)
    for case in range(300):
        h, w, c = (int(v) for v in g.integers(1, 7, 3))
        c = min(c, 5)
        n = int(g.integers(1, 4))
        x = g.standard_normal((3, h, w, c)).astype(np.float32)
        index = g.integers(0, 3, n)
        m = g.integers(-4, 5, (n, 2, 3)) / 2.0 + (case % 3 == 0) * g.standard_normal((n, 2, 3))
        out_hw = tuple(int(v) for v in g.integers(1, 9, 2))
        interpolation = INTERPOLATIONS[case % 2]
        mode = MODES[(case // 2) % len(MODES)]
        y = ops.affine_warp(x, m, output_shape=out_hw, interpolation=interpolation,
                            fill_mode=mode, cval=-2.0, index=index)
        ref = warp_reference(x[index], m, out_hw, interpolation, mode, -2.0)
        np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5, err_msg=f"case {case}")
        if ndi is not None:
            order = INTERPOLATIONS.index(interpolation)
            sp = np.stack([np.stack([ndi.affine_transform(
                x[i, :, :, k].astype(np.float64), mb, output_shape=out_hw, order=order,
                mode=mode, cval=-2.0) for k in range(c)], -1) for i, mb in zip(index, m)])
            np.testing.assert_allclose(y, sp, rtol=0, atol=1e-5, err_msg=f"case {case}")


def test_one_matrix_for_the_batch_and_homogeneous_matrices():
    x = rand_images(3, 9, 8, 3)
    m = random_maps(1, 9, 8, seed=5)[0]
    full = np.vstack([m, [0, 0, 1]])
    a = ops.affine_warp(x, m)
    np.testing.assert_array_equal(a, ops.affine_warp(x, np.stack([m] * 3)))
    np.testing.assert_array_equal(a, ops.affine_warp(x, full))
    np.testing.assert_array_equal(a, ops.affine_warp(x, np.stack([full] * 3)))
    out = np.full_like(x, np.nan)
    assert ops.affine_warp(x, m, out=out) is out
    np.testing.assert_array_equal(out, a)


def test_same_result_for_any_thread_count():
    import pynn
    x = rand_images(16, 40, 30, 3)
    m = random_maps(16, 40, 30, seed=1)
    before = pynn.get_num_threads()
    try:
        pynn.set_num_threads(1)
        one = ops.affine_warp(x, m, channel_shift=np.linspace(-1, 1, 16), scale=[2, 3, 4],
                              offset=[0, 1, 2])
        pynn.set_num_threads(3)
        three = ops.affine_warp(x, m, channel_shift=np.linspace(-1, 1, 16), scale=[2, 3, 4],
                                offset=[0, 1, 2])
    finally:
        pynn.set_num_threads(before)
    np.testing.assert_array_equal(one, three)


def test_far_coordinates_do_not_crash():
    """Maps that send pixels far outside the image (and past the int32
    range) give the fill value or an edge pixel, never a crash."""
    x = rand_images(2, 5, 6, 3)
    for mode in MODES:
        for big in (1e5, 1e12, 1e300):
            m = np.array([[[big, 0, 0], [0, 1, 0]], [[1, 0, -big], [0, -big, big]]])
            y = ops.affine_warp(x, m, fill_mode=mode, cval=3.0)
            assert np.all(np.isfinite(y))
            if mode in ("constant", "grid-constant") and big >= 1e12:
                assert np.all(y[1] == 3.0)


# ------------------------------------------------------- after the warp

def keras_channel_shift(x, intensity):
    lo, hi = x.min(), x.max()
    return np.clip(x + intensity, lo, hi)


def keras_brightness(x, factor):
    """Keras's apply_brightness_shift(x, factor, scale=False) without the
    8-bit rounding: PIL's enhancer scales by the factor and clips to
    [0, 255]; an image outside [0, 255] is mapped onto it and back."""
    lo, hi = x.min(), x.max()
    x = x.astype(np.float64)
    rgb = x[..., :3] if x.shape[-1] == 4 else x
    if lo < 0 or hi > 255:
        scaled = (rgb - lo) / (hi - lo) * 255
        rgb[...] = np.clip(scaled * factor, 0, 255) / 255 * (hi - lo) + lo
    else:
        rgb[...] = np.clip(rgb * factor, 0, 255)
    return x


@pytest.mark.parametrize("c", [1, 3, 4])
def test_channel_shift_brightness_and_scale(c):
    g = np.random.default_rng(c)
    x = (g.random((6, 9, 7, c)) * 255).astype(np.float32)
    x[3] = x[3] * 2 - 200            # an image outside [0, 255]
    m = random_maps(6, 9, 7, seed=2)
    shifts = g.uniform(-60, 60, 6).astype(np.float32)
    factors = g.uniform(0.3, 1.8, 6).astype(np.float32)
    scale = g.uniform(0.5, 2, c).astype(np.float32)
    offset = g.uniform(-1, 1, c).astype(np.float32)
    warped = ops.affine_warp(x, m)
    y = ops.affine_warp(x, m, channel_shift=shifts, brightness=factors, scale=scale,
                        offset=offset)
    for b in range(6):
        ref = keras_brightness(keras_channel_shift(warped[b].astype(np.float64), shifts[b]),
                               factors[b]) * scale + offset
        np.testing.assert_allclose(y[b], ref, rtol=1e-5, atol=1e-3)
    only_shift = ops.affine_warp(x, m, channel_shift=shifts)
    for b in range(6):
        np.testing.assert_allclose(only_shift[b], keras_channel_shift(warped[b], shifts[b]),
                                   rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("c", [1, 3, 4, 5, 70])
def test_scale_and_offset_alone(interpolation, mode, c):
    """Without a channel shift or brightness the scale and offset are
    applied as pixels are written (up to 64 channels): the same values as
    warping first and scaling after, identity maps included."""
    g = np.random.default_rng(c)
    x = rand_images(3, 9, 7, c, seed=c)
    m = np.concatenate([random_maps(2, 9, 7, seed=4), [[[1.0, 0, 0], [0, 1, 0]]]])
    scale = g.uniform(0.5, 2, c).astype(np.float32)
    offset = g.uniform(-1, 1, c).astype(np.float32)
    kw = dict(interpolation=interpolation, fill_mode=mode, cval=0.5)
    y = ops.affine_warp(x, m, scale=scale, offset=offset, **kw)
    ref = ops.affine_warp(x, m, **kw).astype(np.float64) * scale + offset
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


def test_bad_arguments():
    x = rand_images(2, 5, 5, 3)
    eye = np.array([[1.0, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match="4-D"):
        ops.affine_warp(x[0], eye)
    with pytest.raises(ValueError, match="matrices must have shape"):
        ops.affine_warp(x, np.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match="matrices must have shape"):
        ops.affine_warp(x, np.zeros(6))
    with pytest.raises(ValueError, match="last row"):
        ops.affine_warp(x, np.array([[1.0, 0, 0], [0, 1, 0], [0, 1, 1]]))
    with pytest.raises(ValueError, match="finite"):
        ops.affine_warp(x, np.array([[np.nan, 0, 0], [0, 1, 0]]))
    with pytest.raises(ValueError, match="interpolation"):
        ops.affine_warp(x, eye, interpolation="bicubic")
    with pytest.raises(ValueError, match="fill_mode"):
        ops.affine_warp(x, eye, fill_mode="mirror")
    with pytest.raises(ValueError, match="output_shape"):
        ops.affine_warp(x, eye, output_shape=(3,))
    with pytest.raises(ValueError, match="overlap"):
        ops.affine_warp(x, eye, out=x)
    with pytest.raises(ValueError, match="out must be float32"):
        ops.affine_warp(x, eye, out=np.empty((2, 5, 5, 3)))
    with pytest.raises(ValueError, match="together"):
        ops.affine_warp(x, eye, scale=[1, 1, 1])
    with pytest.raises(ValueError, match="expected 2 elements"):
        ops.affine_warp(x, eye, brightness=[1.0])
    with pytest.raises(ValueError, match="no pixels"):
        ops.affine_warp(np.zeros((1, 0, 4, 3), np.float32), eye, output_shape=(2, 2))
    assert ops.affine_warp(x, eye, output_shape=(0, 4)).shape == (2, 0, 4, 3)
