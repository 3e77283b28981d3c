"""More of Keras 3's ops (pynn/_more_ops.py) against Keras 3 on its NumPy
backend: the same values, shapes and dtypes for the same inputs, clear
errors for bad arguments, gradients by central differences, symbolic
tensors in functional models and the ops submodules."""
import numpy as np
import pytest

from pynn import ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::RuntimeWarning", "ignore::UserWarning")

RNG = np.random.default_rng(11)
A = RNG.normal(size=(3, 7)).astype(np.float32)
B = RNG.normal(size=(7,)).astype(np.float32)
V = RNG.normal(size=(5,)).astype(np.float32)
X3 = RNG.normal(size=(2, 4, 3)).astype(np.float32)
NANS = np.where(RNG.random((4, 5)) < 0.3, np.nan, RNG.normal(size=(4, 5))).astype(np.float32)
NANS[2] = np.nan
INTS = np.array([[12, -18, 5], [8, 27, 0]], np.int32)
SMALL = np.array([[3, 5, 1], [2, 7, 4]], np.int32)
U = np.clip(A / 3, -0.95, 0.95).astype(np.float32)
SIG = RNG.normal(size=(2, 40)).astype(np.float32)
IMG = RNG.normal(size=(2, 3, 6, 7)).astype(np.float32)
SPD = (lambda m: (m @ m.T + 4 * np.eye(4)).astype(np.float32))(RNG.normal(size=(4, 4)))
CHOL = np.linalg.cholesky(SPD.astype(np.float64)).astype(np.float32)
SEG = np.array([0, 2, 0, 1, 2, 2, -1])
SEG_DATA = RNG.normal(size=(7, 3)).astype(np.float32)

CALLS = {
    **{f"{n}": (lambda n: lambda k: getattr(k.ops, n)(NANS))(n)
       for n in ("nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin",
                 "nanargmax", "nanargmin", "nancumsum", "nancumprod", "nanmedian")},
    **{f"{n}-axis": (lambda n: lambda k: getattr(k.ops, n)(NANS, axis=1))(n)
       for n in ("nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin",
                 "nanargmax", "nanargmin", "nancumsum", "nancumprod", "nanmedian")},
    **{f"{n}-keepdims": (lambda n: lambda k: getattr(k.ops, n)(NANS, axis=0, keepdims=True))(n)
       for n in ("nansum", "nanmean", "nanstd", "nanmax", "nanargmin")},
    **{f"{n}-ints": (lambda n: lambda k: getattr(k.ops, n)(SMALL, axis=1))(n)
       for n in ("nansum", "nanprod", "nanmean", "nanmax", "nanargmax", "nancumsum")},
    "nanquantile": lambda k: k.ops.nanquantile(NANS, 0.3, axis=1),
    "nanquantile-qs": lambda k: k.ops.nanquantile(NANS, [0.1, 0.9], axis=0, method="lower"),
    "nanpercentile": lambda k: k.ops.nanpercentile(NANS, 75.0),
    "unique": lambda k: k.ops.unique(np.array([3, 1, 3, 2, 1], np.int32)),
    "unique-all": lambda k: k.ops.unique(np.array([3.0, 1, 3, 2, 1], np.float32),
                                         return_index=True, return_inverse=True,
                                         return_counts=True),
    "unique-size-pad": lambda k: k.ops.unique(np.array([3, 1, 3], np.int32), size=4,
                                              fill_value=-1),
    "unique-size-cut": lambda k: k.ops.unique(np.array([3, 1, 3, 2], np.int32), size=2,
                                              return_counts=True),
    "unravel_index": lambda k: k.ops.unravel_index(np.array([0, 5, 11], np.int32), (3, 4)),
    "argpartition": lambda k: np.sort(np.take_along_axis(
        A, np.asarray(k.ops.argpartition(A, 2, axis=1))[:, :3], axis=1), axis=1),
    "histogram": lambda k: k.ops.histogram(B, bins=4),
    "histogram-range": lambda k: k.ops.histogram(B, bins=3, range=(-1.0, 1.0)),
    "kron": lambda k: k.ops.kron(A[:2, :3], SMALL),
    "kron-float": lambda k: k.ops.kron(A[:2, :2], V[:3]),
    "cross": lambda k: k.ops.cross(X3, X3[::-1]),
    "cross-2": lambda k: k.ops.cross(A[:, :2], A[:, 2:4]),
    "correlate": lambda k: k.ops.correlate(B, V[:3]),
    "correlate-same": lambda k: k.ops.correlate(B, V, mode="same"),
    "correlate-full": lambda k: k.ops.correlate(V[:3], B, mode="full"),
    "corrcoef": lambda k: k.ops.corrcoef(A),
    "trapezoid": lambda k: k.ops.trapezoid(A),
    "trapezoid-x": lambda k: k.ops.trapezoid(A, x=np.cumsum(np.abs(B)), axis=1),
    "trapezoid-dx": lambda k: k.ops.trapezoid(A, dx=0.5, axis=0),
    "vander": lambda k: k.ops.vander(V),
    "vander-N": lambda k: k.ops.vander(V, N=3, increasing=True),
    "logspace": lambda k: k.ops.logspace(0.0, 2.0, 5),
    "logspace-base": lambda k: k.ops.logspace(1.0, 3.0, 4, endpoint=False, base=2),
    "geomspace": lambda k: k.ops.geomspace(1.0, 1000.0, 4),
    "get_item": lambda k: k.ops.get_item(A, (1, slice(2, 5))),
    "view": lambda k: k.ops.view(A, "int32"),
    "fabs": lambda k: k.ops.fabs(A),
    "fabs-int": lambda k: k.ops.fabs(INTS),
    "fmax": lambda k: k.ops.fmax(NANS, NANS[::-1]),
    "fmin": lambda k: k.ops.fmin(NANS, 0.5),
    "ldexp": lambda k: k.ops.ldexp(A, SMALL[:1, :1]),
    "nextafter": lambda k: k.ops.nextafter(A, np.float32(0)),
    "gcd": lambda k: k.ops.gcd(INTS, SMALL),
    "lcm": lambda k: k.ops.lcm(INTS, SMALL),
    "erfc": lambda k: k.ops.erfc(A * 2),
    "erfc-tail": lambda k: k.ops.erfc(np.array([3.0, 5.0, 8.0, -6.0], np.float32)),
    "erfinv": lambda k: k.ops.erfinv(U),
    "erfinv-edges": lambda k: k.ops.erfinv(np.array([0.999, -0.9999, 1.0, 0.0], np.float32)),
    "i0": lambda k: k.ops.i0(A),
    "real": lambda k: k.ops.real(A),
    "imag": lambda k: k.ops.imag(A),
    "conj": lambda k: k.ops.conj(A),
    "conjugate": lambda k: k.ops.conjugate(A),
    "angle": lambda k: k.ops.angle(A),
    "isreal": lambda k: k.ops.isreal(A),
    "polar": lambda k: k.ops.polar(np.abs(V), B[:5]),
    "view_as_real": lambda k: k.ops.view_as_real(np.array([1 + 2j, 3 - 4j], np.complex64)),
    "view_as_complex": lambda k: k.ops.view_as_complex(A[:, :2]),
    "bitwise_and": lambda k: k.ops.bitwise_and(INTS, SMALL),
    "bitwise_or": lambda k: k.ops.bitwise_or(INTS, SMALL),
    "bitwise_xor": lambda k: k.ops.bitwise_xor(INTS, SMALL),
    "bitwise_invert": lambda k: k.ops.bitwise_invert(INTS),
    "bitwise_not": lambda k: k.ops.bitwise_not(INTS),
    "bitwise_left_shift": lambda k: k.ops.bitwise_left_shift(INTS, SMALL),
    "bitwise_right_shift": lambda k: k.ops.bitwise_right_shift(INTS, SMALL),
    "left_shift": lambda k: k.ops.left_shift(SMALL, 2),
    "right_shift": lambda k: k.ops.right_shift(INTS, 1),
    "saturate_cast": lambda k: k.ops.saturate_cast(np.array([-1.5, 3.2, 300.0], np.float32),
                                                   "uint8"),
    "saturate_cast-int": lambda k: k.ops.saturate_cast(INTS * 1000, "int8"),
    "bartlett": lambda k: k.ops.bartlett(7),
    "blackman": lambda k: k.ops.blackman(6),
    "hamming": lambda k: k.ops.hamming(5),
    "hanning": lambda k: k.ops.hanning(8),
    "kaiser": lambda k: k.ops.kaiser(7, 4.0),
    "fft": lambda k: k.ops.fft((A, A[::-1])),
    "fft2": lambda k: k.ops.fft2((X3, X3 * 2)),
    "ifft2": lambda k: k.ops.ifft2((X3, X3 * 2)),
    "rfft": lambda k: k.ops.rfft(A),
    "rfft-length": lambda k: k.ops.rfft(A, fft_length=10),
    "irfft": lambda k: k.ops.irfft((A[:, :4], A[:, 3:])),
    "irfft-length": lambda k: k.ops.irfft((A[:, :4], A[:, 3:]), fft_length=7),
    "extract_sequences": lambda k: k.ops.extract_sequences(SIG, 8, 3),
    "stft": lambda k: k.ops.stft(SIG, 8, 4, 16),
    "stft-hamming": lambda k: k.ops.stft(SIG, 10, 3, 10, window="hamming", center=False),
    "stft-none": lambda k: k.ops.stft(SIG[0], 6, 2, 8, window=None),
    "istft": lambda k: k.ops.istft(k.ops.stft(SIG, 8, 4, 16), 8, 4, 16),
    "istft-length": lambda k: k.ops.istft(k.ops.stft(SIG, 8, 2, 8, center=False), 8, 2, 8,
                                          length=30, center=False),
    "istft-none": lambda k: k.ops.istft(k.ops.stft(SIG, 6, 2, 8, window=None), 6, 2, 8,
                                        window=None),
    "sparse_sigmoid": lambda k: k.ops.sparse_sigmoid(A * 2),
    "sparsemax": lambda k: k.ops.sparsemax(A * 2),
    "sparsemax-axis": lambda k: k.ops.sparsemax(X3, axis=1),
    "cdist": lambda k: k.ops.cdist(A[:, :3], X3),
    "segment_min": lambda k: k.ops.segment_min(SEG_DATA, SEG),
    "segment_min-n": lambda k: k.ops.segment_min(SEG_DATA, SEG, num_segments=4),
    "segment_prod": lambda k: k.ops.segment_prod(SEG_DATA, SEG, num_segments=4),
    "unfold": lambda k: k.ops.unfold(IMG, 2),
    "unfold-args": lambda k: k.ops.unfold(IMG, (2, 3), dilation=(1, 2), padding=1, stride=2),
    "fold": lambda k: k.ops.fold(k.ops.unfold(IMG, 2), (6, 7), 2),
    "fold-args": lambda k: k.ops.fold(k.ops.unfold(IMG, (2, 3), dilation=(1, 2), padding=1,
                                                   stride=2), (6, 7), (2, 3),
                                      dilation=(1, 2), padding=1, stride=2),
    "cholesky_inverse": lambda k: k.ops.cholesky_inverse(CHOL),
    "cholesky_inverse-upper": lambda k: k.ops.cholesky_inverse(CHOL.T, upper=True),
    "eig": lambda k: k.ops.eig(SPD),
    "lu_factor": lambda k: k.ops.lu_factor(A[:, :3] @ A[:, :3].T + np.eye(3, dtype="f")),
    "lu_factor-batch": lambda k: k.ops.lu_factor(np.stack([SPD, SPD[::-1]])),
    "vectorize": lambda k: k.ops.vectorize(lambda a, b: a * 2 + b)(A, B),
    "vectorize-signature": lambda k: k.ops.vectorize(lambda a: np.sum(a) + 1.0,
                                                     signature="(n)->()")(A),
    "associative_scan": lambda k: k.ops.associative_scan(lambda a, b: a + b, A, axis=1),
    "associative_scan-reverse": lambda k: k.ops.associative_scan(
        lambda a, b: a * b, A[:, :5], reverse=True, axis=1),
    "associative_scan-tuple": lambda k: k.ops.associative_scan(
        lambda a, b: (a[0] * b[0], a[1] * b[0] + b[1]), (np.abs(A) + 0.5, A), axis=1),
    "rearrange": lambda k: k.ops.rearrange(IMG, "b c h w -> b h w c"),
    "rearrange-merge": lambda k: k.ops.rearrange(IMG, "b c h w -> (b h) (w c)"),
    "rearrange-split": lambda k: k.ops.rearrange(IMG, "b c (h p) w -> b p c h w", p=2),
}


# Keras's NumPy backend computes these in float64 by NumPy's promotion
# (an int64 range, float64 scratch arrays); the other backends and pynn
# keep float32.
FLOAT64_IN_KERAS = {"sparsemax", "sparsemax-axis", "associative_scan",
                    "associative_scan-reverse", "associative_scan-tuple"}


def same(ours, theirs, rtol=2e-5, atol=2e-6, dtype=True):
    if isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            same(o, t, rtol, atol, dtype)
        return
    theirs = np.asarray(theirs)
    assert np.shape(ours) == theirs.shape
    if dtype:
        assert np.asarray(ours).dtype == theirs.dtype, (np.asarray(ours).dtype, theirs.dtype)
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(CALLS))
def test_values_match_keras(keras, name):
    same(CALLS[name](__import__("pynn")), CALLS[name](keras), rtol=1e-5, atol=1e-6,
         dtype=name not in FLOAT64_IN_KERAS)


# ------------------------------------------------ errors for bad arguments

@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.nanquantile(NANS, 1.5), ValueError, r"q must be in \[0, 1\]"),
    (lambda: ops.unravel_index(np.array([12]), (3, 4)), ValueError,
     r"unravel_index: an index is outside \[0, 12\)"),
    (lambda: ops.unravel_index(np.array([1.0]), (3, 4)), TypeError, "unravel_index: indices"),
    (lambda: ops.argpartition(A, 7), ValueError, "argpartition: kth=7"),
    (lambda: ops.histogram(A), ValueError, "histogram: x must be 1-D"),
    (lambda: ops.histogram(B, range=(1, 0)), ValueError, "histogram: range"),
    (lambda: ops.correlate(A, B), ValueError, "correlate: x1 and x2 must be 1-D"),
    (lambda: ops.correlate(B, B, mode="wide"), ValueError, "correlate: mode"),
    (lambda: ops.corrcoef(X3), ValueError, "corrcoef: x must be 1-D or 2-D"),
    (lambda: ops.vander(A), ValueError, "vander: x must be 1-D"),
    (lambda: ops.geomspace(0.0, 1.0), ValueError, "geomspace: start and stop"),
    (lambda: ops.ldexp(A, A), TypeError, "ldexp: the exponent"),
    (lambda: ops.gcd(A, INTS), TypeError, "gcd: expected integer arrays"),
    (lambda: ops.bitwise_and(A, INTS), TypeError, "bitwise_and: expected integer"),
    (lambda: ops.view_as_complex(A), ValueError, "view_as_complex: the last axis"),
    (lambda: ops.hamming(2.5), TypeError, "hamming: x must be an integer"),
    (lambda: ops.fft(A), ValueError, r"fft: x must be a \(real, imaginary\) pair"),
    (lambda: ops.fft((A, B)), ValueError, "fft: the real and imaginary parts need"),
    (lambda: ops.irfft((INTS, INTS)), ValueError, "irfft: the real and imaginary parts must"),
    (lambda: ops.rfft(A, fft_length=0), ValueError, "rfft: fft_length must be >= 1"),
    (lambda: ops.stft(INTS, 2, 1, 2), TypeError, "stft: x must be float32"),
    (lambda: ops.stft(SIG, 8, 4, 4), ValueError, r"stft: fft_length \(4\) must be"),
    (lambda: ops.stft(SIG, 8, 4, 8, window="boxcar"), ValueError, "stft: a window"),
    (lambda: ops.stft(SIG, 8, 4, 8, window=np.ones(5)), ValueError, r"stft: window must"),
    (lambda: ops.extract_sequences(SIG, 0, 1), ValueError, "sequence_length must be >= 1"),
    (lambda: ops.cdist(B, A), ValueError, "cdist: x and y need rank >= 2"),
    (lambda: ops.cdist(A, X3), ValueError, "cdist: x and y need the same last axis"),
    (lambda: ops.segment_min(SEG_DATA, SEG[:3]), ValueError, "segment_min: segment_ids"),
    (lambda: ops.unfold(A, 2), ValueError, r"unfold: expected images of shape \(N, C, H, W\)"),
    (lambda: ops.unfold(IMG, 9), ValueError, "unfold: a kernel of"),
    (lambda: ops.unfold(IMG, (1, 2, 3)), ValueError, "unfold: kernel_size must be"),
    (lambda: ops.fold(ops.unfold(IMG, 2), (6, 6), 2), ValueError, "fold: blocks of shape"),
    (lambda: ops.cholesky_inverse(A), ValueError, "cholesky_inverse: expected square"),
    (lambda: ops.eig(A), ValueError, "eig: expected square"),
    (lambda: ops.lu_factor(B), ValueError, "lu_factor: expected matrices"),
    (lambda: ops.vectorize(3), TypeError, "vectorize: pyfunc must be callable"),
    (lambda: ops.associative_scan(np.add, [A, B]), ValueError,
     "associative_scan: the arrays of elems differ"),
    (lambda: ops.rearrange(IMG, "b c h w"), ValueError, "rearrange: pattern must be"),
    (lambda: ops.rearrange(IMG, "b c h -> b c h"), ValueError, "names 3 axes"),
    (lambda: ops.rearrange(IMG, "b c h w -> b c h"), ValueError, "each axis once"),
    (lambda: ops.rearrange(IMG, "b c (h p) w -> b c h p w"), ValueError,
     "give the lengths of all but one"),
    (lambda: ops.rearrange(IMG, "b c (h p) w -> b c h p w", p=4), ValueError,
     "cannot split"),
    (lambda: ops.rearrange(IMG, "b c ((h) p) w -> b c h p w", p=2), ValueError, "nested"),
    (lambda: ops.custom_gradient(3), TypeError, "custom_gradient: f must be callable"),
])
def test_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_lu_factor_reconstructs_rectangular_and_singular_matrices():
    for a in (RNG.normal(size=(2, 4, 3)), RNG.normal(size=(3, 5)),
              np.array([[0.0, 1.0], [0.0, 2.0]])):
        lu, piv = ops.lu_factor(a.astype(np.float32))
        assert piv.dtype == np.int32
        for m, p, orig in zip(lu.reshape((-1,) + lu.shape[-2:]),
                              piv.reshape((-1, piv.shape[-1])),
                              a.reshape((-1,) + a.shape[-2:])):
            k = min(m.shape)
            lower = np.tril(m, -1)[:, :k] + np.eye(*m.shape)[:, :k]
            upper = np.triu(m)[:k]
            permuted = orig.copy()
            for i, j in enumerate(p):
                permuted[[i, j]] = permuted[[j, i]]
            np.testing.assert_allclose(lower @ upper, permuted, atol=1e-5)


# ------------------------------------------------------------ namespaces

def test_submodules_hold_keras_own_names(keras):
    from pynn.ops import linalg, nn
    from pynn.ops import numpy as pnp
    for ours, theirs in ((nn, keras.ops.nn), (pnp, keras.ops.numpy),
                         (linalg, keras.ops.linalg)):
        theirs_names = {n for n in dir(theirs) if not n.startswith("_")}
        ours_names = set(dir(ours))
        assert ours_names <= theirs_names
        # (what pynn.ops lacks is missing here too, and nothing else)
        assert {n for n in theirs_names - ours_names if hasattr(ops, n)} == set()
        for n in ours_names:
            assert getattr(ours, n) is getattr(ops, n)
    assert nn.sparsemax is ops.sparsemax and linalg.eig is ops.eig
    with pytest.raises(AttributeError, match="pynn.ops.nn has no function 'nansum'"):
        nn.nansum


def test_ops_have_keras_names_and_signatures(keras):
    import inspect
    for name in ops.MORE_OPS:
        theirs = getattr(keras.ops, name)
        if name in ("custom_gradient", "vectorize"):
            continue
        assert list(inspect.signature(getattr(ops, name)).parameters) == list(
            inspect.signature(theirs).parameters), name


# --------------------------------------------------- symbolic tensors

SYMBOLIC = {
    "nansum": lambda o, x: o.nansum(o.log(x), axis=-1),
    "nanmean": lambda o, x: o.nanmean(o.log(x), axis=1, keepdims=True),
    "nanstd": lambda o, x: o.nanstd(o.log(x), axis=-1),
    "nanmax": lambda o, x: o.nanmax(o.log(x), axis=-1),
    "nanargmax": lambda o, x: o.nanargmax(o.log(x), axis=-1),
    "nanquantile": lambda o, x: o.nanquantile(x, 0.25, axis=-1),
    "argpartition": lambda o, x: o.argpartition(x, 0, axis=-1),
    "kron": lambda o, x: o.kron(x, np.ones((1, 2), np.float32)),
    "cross": lambda o, x: o.cross(x[:, :3], x[:, 3:]),
    "trapezoid": lambda o, x: o.trapezoid(x, dx=0.5),
    "fmax": lambda o, x: o.fmax(o.log(x), 0.5),
    "erfc": lambda o, x: o.erfc(x),
    "erfinv": lambda o, x: o.erfinv(x * 0.3),
    "sparsemax": lambda o, x: o.sparsemax(x * 3.0),
    "sparse_sigmoid": lambda o, x: o.sparse_sigmoid(x),
    "extract_sequences": lambda o, x: o.extract_sequences(x, 3, 2),
    "saturate_cast": lambda o, x: o.saturate_cast(x * 100.0, "int8"),
    "cdist": lambda o, x: o.cdist(o.expand_dims(x, 1), o.expand_dims(x, 1) * 2.0),
}
XS = np.array([[0.5, -1.0, 2.0, 0.25, 3.0, -0.5], [1.5, 0.75, -2.0, 1.0, 0.1, 0.2]],
              np.float32)


def _model(lib, case):
    x = lib.Input(shape=(XS.shape[1],))
    return lib.Model(x, SYMBOLIC[case](lib.ops, x))


@pytest.mark.parametrize("case", sorted(SYMBOLIC))
def test_symbolic_shapes_dtypes_values_and_keras_files(tmp_path, keras, case):
    import warnings

    import pynn
    ours = _model(pynn, case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _model(keras, case)
    assert ours.outputs[0].shape == theirs.outputs[0].shape
    assert ours.outputs[0].dtype == theirs.outputs[0].dtype
    want = np.asarray(theirs(XS))
    with np.errstate(all="ignore"):
        got = ours.predict(XS, verbose=0)
    same(got, want, rtol=1e-5, atol=1e-6, dtype=case != "sparsemax")
    ours.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
        theirs.save(tmp_path / "k.keras")
    same(np.asarray(loaded(XS)), want, rtol=1e-5, atol=1e-6)
    back = pynn.models.load_model(tmp_path / "k.keras")
    same(back.predict(XS, verbose=0), want, rtol=1e-5, atol=1e-6, dtype=case != "sparsemax")


# ------------------------------------------------------------------ images

RGB = RNG.random((2, 6, 7, 3)).astype(np.float32)
RGB_FIRST = np.ascontiguousarray(RGB.transpose(0, 3, 1, 2))
# (no coordinate falls halfway between pixels, where rounding differs in float32)
SHIFT = np.array([1.0, 0.2, -1.35, 0.1, 0.9, 0.65, 0.0, 0.0], np.float32)
ROTATE = np.array([[0.9, -0.3, 1.2, 0.3, 0.9, -0.8, 0, 0], SHIFT], np.float32)
GRID = np.stack(np.meshgrid(np.linspace(-1.3, 5.6, 4), np.linspace(-0.7, 7.2, 5),
                            indexing="ij")).astype(np.float32)

IMAGE_CALLS = {
    "rgb_to_grayscale": lambda k: k.ops.image.rgb_to_grayscale(RGB),
    "rgb_to_grayscale-first": lambda k: k.ops.image.rgb_to_grayscale(
        RGB_FIRST, data_format="channels_first"),
    "rgb_to_grayscale-uint8": lambda k: k.ops.image.rgb_to_grayscale(
        (RGB[0] * 255).astype(np.uint8)),
    "rgb_to_hsv": lambda k: k.ops.image.rgb_to_hsv(RGB),
    "rgb_to_hsv-edges": lambda k: k.ops.image.rgb_to_hsv(np.array(
        [[[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.2, 0.2, 0.5]]],
        np.float32)),
    "hsv_to_rgb": lambda k: k.ops.image.hsv_to_rgb(RGB[0]),
    "hsv_to_rgb-first": lambda k: k.ops.image.hsv_to_rgb(RGB_FIRST,
                                                         data_format="channels_first"),
    "pad_images": lambda k: k.ops.image.pad_images(RGB, 1, 2, 3, 0),
    "pad_images-target": lambda k: k.ops.image.pad_images(
        RGB[0], top_padding=2, right_padding=1, target_height=9, target_width=10),
    "crop_images": lambda k: k.ops.image.crop_images(RGB, 1, 2, 3, 0),
    "crop_images-target": lambda k: k.ops.image.crop_images(
        RGB_FIRST, bottom_cropping=1, left_cropping=2, target_height=4, target_width=3,
        data_format="channels_first"),
    "extract_patches": lambda k: k.ops.image.extract_patches(RGB, 2),
    "extract_patches-args": lambda k: k.ops.image.extract_patches(
        RGB[0], (3, 2), strides=(1, 2), padding="same"),
    "extract_patches-dilated": lambda k: k.ops.image.extract_patches(
        RGB, 2, strides=1, dilation_rate=2),
    "gaussian_blur": lambda k: k.ops.image.gaussian_blur(RGB),
    "gaussian_blur-args": lambda k: k.ops.image.gaussian_blur(RGB[0], (5, 3), (2.0, 0.7)),
    "sobel_edges": lambda k: k.ops.image.sobel_edges(RGB),
    "sobel_edges-first": lambda k: k.ops.image.sobel_edges(RGB_FIRST,
                                                           data_format="channels_first"),
    "ssim": lambda k: k.ops.image.ssim(RGB, np.clip(RGB + 0.1 * RGB[::-1], 0, 1),
                                       filter_size=5),
    "ssim-one": lambda k: k.ops.image.ssim(RGB[0], RGB[1], max_val=2.0, filter_size=3,
                                           filter_sigma=0.8),
    **{f"map_coordinates-{mode}-{order}":
       (lambda mode, order: lambda k: k.ops.image.map_coordinates(
           A[:3, :6], GRID, order, fill_mode=mode, fill_value=-2.0))(mode, order)
       for mode in ("constant", "nearest", "wrap", "mirror", "reflect") for order in (0, 1)},
    **{f"affine_transform-{mode}": (lambda mode: lambda k: k.ops.image.affine_transform(
        RGB, ROTATE, fill_mode=mode, fill_value=0.5))(mode)
       for mode in ("constant", "nearest", "wrap", "mirror", "reflect")},
    "perspective_transform": lambda k: k.ops.image.perspective_transform(
        RGB, [[0, 0], [6, 0], [0, 5], [6, 5]], [[0.5, 0.3], [5.2, 0.8], [0.1, 4.6], [6.3, 5.4]]),
    "perspective_transform-batch": lambda k: k.ops.image.perspective_transform(
        RGB_FIRST, np.array([[[0, 0], [6, 0], [0, 5], [6, 5]]] * 2, np.float32),
        np.array([[[1, 1], [5, 0], [0, 4], [6, 5]], [[0, 0.5], [6, 0], [0.5, 5], [5, 4.5]]],
                 np.float32), interpolation="nearest", fill_value=0.25,
        data_format="channels_first"),
    "affine_transform-nearest-one": lambda k: k.ops.image.affine_transform(
        RGB[0], SHIFT, interpolation="nearest"),
}


@pytest.mark.parametrize("name", list(IMAGE_CALLS))
def test_image_ops_match_keras(keras, name):
    same(IMAGE_CALLS[name](__import__("pynn")), IMAGE_CALLS[name](keras), rtol=1e-4,
         atol=1e-5)


def test_symbolic_integer_operations_keep_integer_dtypes(tmp_path, keras):
    import warnings

    import pynn
    ids = np.array([[7, 12, 5], [0, 9, 30]], np.int32)

    def build(lib):
        x = lib.Input((3,), dtype="int32")
        return lib.Model(x, [lib.ops.bitwise_and(x, np.array(6, np.int32)),
                             lib.ops.gcd(x, np.array(4, np.int32)),
                             lib.ops.left_shift(x, np.array(1, np.int32)),
                             lib.ops.nanargmax(lib.ops.cast(x, "float32"), axis=-1)])
    ours = build(pynn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(keras)
    assert [t.dtype for t in ours.outputs] == [t.dtype for t in theirs.outputs]
    same(ours.predict(ids, verbose=0), [np.asarray(v) for v in theirs(ids)])
    ours.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
    same([np.asarray(v) for v in loaded(ids)], [np.asarray(v) for v in theirs(ids)])
