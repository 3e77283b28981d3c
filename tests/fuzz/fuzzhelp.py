"""Strategies shared by the property tests: shapes with the sizes that
break kernels (0, 1, odd, primes), inputs in every dtype and memory layout,
values with NaN and inf, and garbage for every kind of argument."""
import numpy as np
from hypothesis import strategies as st

# 0 and 1, odd sizes, primes around SIMD widths and tile sizes.
SIDES = [0, 1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31, 33]
side = st.sampled_from(SIDES)
small_side = st.sampled_from([0, 1, 2, 3, 5, 7])
positive_side = st.sampled_from([s for s in SIDES if s > 0])
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_]
LAYOUTS = ["C", "F", "strided", "list"]


def shape(min_dims=1, max_dims=4, sides=side):
    return st.lists(sides, min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def array_spec(draw, dtypes=DTYPES, layouts=LAYOUTS, specials=True):
    """What to build an input from: a seed, a dtype, a layout and whether
    to plant NaN/inf (floats only)."""
    return (draw(st.integers(0, 2 ** 32 - 1)), draw(st.sampled_from(dtypes)),
            draw(st.sampled_from(layouts)), specials and draw(st.integers(0, 9)) == 0)


def build(spec, shp, low=-3.0, high=3.0):
    """An input of shape ``shp`` from ``spec``, and its float64 reference
    (the values the input holds, as float64)."""
    seed, dtype, layout, special = spec
    g = np.random.default_rng(seed)
    vals = g.uniform(low, high, shp)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        vals = vals > (low + high) / 2
    elif dtype.kind in "iu":
        vals = np.clip(np.round(vals), 0 if dtype.kind == "u" else -128, 127)
    elif special and vals.size:
        flat = vals.reshape(-1)
        for v in (np.nan, np.inf, -np.inf):
            flat[g.integers(0, flat.size)] = v
    arr = np.asarray(vals).astype(dtype)
    ref = arr.astype(np.float64)
    if layout == "F" and arr.ndim:
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim:
        wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), dtype)
        wide[..., ::2] = arr
        arr = wide[..., ::2]
    elif layout == "list" and 0 < arr.size <= 64:
        arr = arr.tolist()
    return arr, ref


def f32(ref):
    """What the kernels compute from: the reference rounded to float32."""
    return ref.astype(np.float32).astype(np.float64)


def close(got, want, rtol=2e-4, atol=2e-5, scale=1.0):
    """got (float32) against a float64 reference: NaN where the reference is
    NaN, the same infinities, finite values within tolerance."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf])
    fin = ~(nan | inf)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol * scale)


# Garbage for an argument: wrong types, non-finite, negative and absurd
# sizes, odd containers, 0-d arrays.
GARBAGE = [None, "x", b"\x00", 1.5, -1, 0, 10 ** 30, -(10 ** 30), float("nan"), float("inf"),
           True, [], [[1, 2], [3]], (1, 2, 3), {"a": 1}, object(), np.float32(np.nan),
           np.zeros(()), np.zeros((0,)), np.zeros((2, 0, 3)), np.ones((3, 1), np.complex64),
           np.array(["a", "b"]), np.ones((1, 2, 3, 4, 5)), 1 << 63, 2 ** 64, -2 ** 63]
garbage = st.sampled_from(GARBAGE)

# What a public function may raise for bad arguments: a clear ValueError or
# TypeError (IndexError for an index out of range, as NumPy's).  Anything
# else (ZeroDivisionError, OverflowError, AttributeError, MemoryError,
# KeyError, SystemError) is a defect.
ALLOWED = (ValueError, TypeError)
