"""Keras 3's ops added to pynn.ops, against Keras 3 on its NumPy backend:
the same values, shapes and dtypes for the same inputs, and clear errors
for bad arguments."""
import numpy as np
import pytest

from pynn import ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(7)
A = RNG.normal(size=(3, 7)).astype(np.float32)
B = RNG.normal(size=(7,)).astype(np.float32)
V = RNG.normal(size=(5,)).astype(np.float32)
X4 = RNG.normal(size=(2, 7, 9, 3)).astype(np.float32)
X3 = RNG.normal(size=(2, 11, 3)).astype(np.float32)
K2 = RNG.normal(size=(3, 2, 3, 4)).astype(np.float32)
K1 = RNG.normal(size=(3, 3, 5)).astype(np.float32)
DW2 = RNG.normal(size=(2, 3, 3, 2)).astype(np.float32)
DW1 = RNG.normal(size=(3, 3, 2)).astype(np.float32)
IDS = np.array([[0, 6, 2], [3, 3, 1]])
PROBS = np.abs(RNG.normal(size=(2, 3, 7))).astype(np.float32) + 0.1
PROBS /= PROBS.sum(-1, keepdims=True)
ONEHOT = np.eye(7, dtype=np.float32)[IDS]
WITH_NAN = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], np.float32)
INTS = np.array([[7, -3, 5], [-8, 9, 0]], np.int32)

CALLS = {
    "array-ints": lambda k: k.ops.array([[1, 2], [3, 4]]),
    "array-floats": lambda k: k.ops.array([1.5, 2.0]),
    "array-dtype": lambda k: k.ops.array([1, 2], dtype="float32"),
    "array-int64": lambda k: k.ops.array(np.arange(3)),
    "full": lambda k: k.ops.full((2, 3), 1.5),
    "full-int": lambda k: k.ops.full((4,), 7, dtype="int32"),
    "full_like": lambda k: k.ops.full_like(A, 2.0),
    "full_like-int": lambda k: k.ops.full_like(INTS, 3),
    "eye": lambda k: k.ops.eye(3),
    "eye-rect": lambda k: k.ops.eye(3, 5, k=1),
    "eye-neg": lambda k: k.ops.eye(4, 2, k=-1, dtype="int32"),
    "identity": lambda k: k.ops.identity(4),
    "linspace": lambda k: k.ops.linspace(0, 1, 7),
    "linspace-open": lambda k: k.ops.linspace(-2.0, 3.0, num=5, endpoint=False),
    "isnan": lambda k: k.ops.isnan(WITH_NAN),
    "isinf": lambda k: k.ops.isinf(WITH_NAN),
    "isfinite": lambda k: k.ops.isfinite(WITH_NAN),
    "isnan-int": lambda k: k.ops.isnan(INTS),
    "diag-vector": lambda k: k.ops.diag(V),
    "diag-vector-k": lambda k: k.ops.diag(V, k=2),
    "diag-matrix": lambda k: k.ops.diag(A),
    "diag-matrix-k": lambda k: k.ops.diag(A, k=-1),
    "mod": lambda k: k.ops.mod(A * 5, 1.5),
    "mod-ints": lambda k: k.ops.mod(INTS, 4),
    "mod-neg": lambda k: k.ops.mod(INTS, -3),
    "outer": lambda k: k.ops.outer(V, B),
    "outer-2d": lambda k: k.ops.outer(A[:2, :2], V),
    "rsqrt": lambda k: k.ops.rsqrt(np.abs(A) + 0.5),
    "sort": lambda k: k.ops.sort(A),
    "sort-axis0": lambda k: k.ops.sort(A, axis=0),
    "sort-ints": lambda k: k.ops.sort(INTS, axis=1),
    "unstack": lambda k: k.ops.unstack(A),
    "unstack-axis": lambda k: k.ops.unstack(X3, axis=-1),
    "vstack": lambda k: k.ops.vstack([A, B[None], B]),
    "hstack": lambda k: k.ops.hstack([A, A[:, :2]]),
    "hstack-vectors": lambda k: k.ops.hstack([V, B]),
    "average": lambda k: k.ops.average(A),
    "average-axis": lambda k: k.ops.average(A, axis=1),
    "average-weights": lambda k: k.ops.average(A, axis=1, weights=np.arange(7.0)),
    "average-full-weights": lambda k: k.ops.average(A, weights=np.abs(A)),
    "gelu": lambda k: k.ops.gelu(A * 3),
    "gelu-exact": lambda k: k.ops.gelu(A * 3, approximate=False),
    "categorical_crossentropy": lambda k: k.ops.categorical_crossentropy(ONEHOT, PROBS),
    "categorical_crossentropy-logits": lambda k: k.ops.categorical_crossentropy(
        ONEHOT, PROBS * 4, from_logits=True),
    "categorical_crossentropy-axis": lambda k: k.ops.categorical_crossentropy(
        np.moveaxis(ONEHOT, -1, 1), np.moveaxis(PROBS, -1, 1), axis=1),
    "sparse_categorical_crossentropy": lambda k: k.ops.sparse_categorical_crossentropy(
        IDS, PROBS),
    "sparse_categorical_crossentropy-logits": lambda k: k.ops.sparse_categorical_crossentropy(
        IDS[..., None], PROBS * 3, from_logits=True),
    "binary_crossentropy": lambda k: k.ops.binary_crossentropy(ONEHOT, PROBS),
    "binary_crossentropy-logits": lambda k: k.ops.binary_crossentropy(
        ONEHOT, PROBS * 8 - 2, from_logits=True),
    "fori_loop": lambda k: k.ops.fori_loop(1, 5, lambda i, v: v * i + 1.0, A),
    "while_loop": lambda k: k.ops.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * 2.0),
                                             (0, V)),
    "while_loop-single": lambda k: k.ops.while_loop(lambda v: k.ops.sum(v) < 100.0,
                                                    lambda v: v + 1.0, np.abs(V)),
    "while_loop-max": lambda k: k.ops.while_loop(lambda v: True, lambda v: v * 2.0, V,
                                                 maximum_iterations=3),
    "slice": lambda k: k.ops.slice(X4, (1, 2, 0, 1), (1, 4, 9, 2)),
    "slice-array-starts": lambda k: k.ops.slice(A, np.array([1, 3]), np.array([2, 4])),
    "slice_update": lambda k: k.ops.slice_update(A.copy(), (1, 2), np.ones((2, 3), np.float32)),
    "slice_update-ints": lambda k: k.ops.slice_update(INTS.copy(), [0, 1], INTS[:1, :2]),
    "vectorized_map": lambda k: k.ops.vectorized_map(lambda r: k.ops.sum(r * r), A),
    "vectorized_map-list": lambda k: k.ops.vectorized_map(lambda p: p[0] + p[1], [A, A * 2]),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_values_match_keras(keras, name):
    ours, theirs = CALLS[name](__import__("pynn")), CALLS[name](keras)
    same(ours, theirs, rtol=2e-5 if "gelu" not in name else 1e-4)


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
    np.testing.assert_allclose(np.asarray(ours, np.float64), theirs.astype(np.float64),
                               rtol=rtol, atol=atol)


NN_CALLS = {
    "conv2d": lambda k: k.ops.conv(X4, K2),
    "conv2d-same-strided": lambda k: k.ops.conv(X4, K2, strides=(2, 3), padding="same"),
    "conv2d-dilated": lambda k: k.ops.conv(X4, K2, padding="same", dilation_rate=(2, 1)),
    "conv2d-channels-first": lambda k: k.ops.conv(np.moveaxis(X4, -1, 1), K2,
                                                  data_format="channels_first"),
    "conv1d": lambda k: k.ops.conv(X3, K1, strides=2),
    "conv1d-same": lambda k: k.ops.conv(X3, K1, padding="same", dilation_rate=2),
    "depthwise_conv2d": lambda k: k.ops.depthwise_conv(X4, DW2, strides=2, padding="same"),
    "depthwise_conv1d": lambda k: k.ops.depthwise_conv(X3, DW1),
    # (Keras's NumPy backend needs the strides spelled out for an int pool)
    "max_pool2d": lambda k: k.ops.max_pool(X4, 2, strides=2),
    "max_pool2d-same": lambda k: k.ops.max_pool(X4, (3, 2), strides=(2, 1), padding="same"),
    "max_pool1d": lambda k: k.ops.max_pool(X3, 3, strides=2, padding="same"),
    "average_pool2d": lambda k: k.ops.average_pool(X4, (2, 3), strides=(2, 3)),
    "average_pool2d-same": lambda k: k.ops.average_pool(X4, 3, strides=2, padding="same"),
    "average_pool1d": lambda k: k.ops.average_pool(X3, 4, strides=3),
    "average_pool-channels-first": lambda k: k.ops.average_pool(
        np.moveaxis(X4, -1, 1), 2, strides=2, data_format="channels_first"),
}


@pytest.mark.parametrize("name", list(NN_CALLS))
def test_conv_and_pooling_match_keras(keras, name):
    same(NN_CALLS[name](__import__("pynn")), NN_CALLS[name](keras), rtol=1e-4, atol=1e-5)


def test_slice_update_leaves_its_input_alone():
    a = A.copy()
    out = ops.slice_update(a, (0, 0), np.zeros((1, 1), np.float32))
    assert out[0, 0] == 0 and a[0, 0] == A[0, 0]


def test_unstack_and_vectorized_map_on_tuples():
    assert len(ops.unstack(A, num=3)) == 3
    seen = []
    ops.vectorized_map(lambda pair: seen.append(type(pair)) or pair[0], (A, A))
    assert seen and all(t is tuple for t in seen)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.eye(2.5), TypeError, "eye: N must be an integer"),
    (lambda: ops.eye(-1), ValueError, "eye: N must be >= 0"),
    (lambda: ops.identity("3"), TypeError, "identity: n"),
    (lambda: ops.linspace(0, 1, -2), ValueError, "linspace: num"),
    (lambda: ops.diag(X3), ValueError, "diag: expected a vector or a matrix"),
    (lambda: ops.unstack(np.float32(1)), ValueError, "unstack: expected an array of rank"),
    (lambda: ops.unstack(A, num=4), ValueError, "unstack: num=4"),
    (lambda: ops.unstack(A, axis=2), ValueError, "unstack: axis"),
    (lambda: ops.average(A, axis=1, weights=np.ones(3)), ValueError, "average: weights"),
    (lambda: ops.average(A, weights=np.ones(7)), ValueError, "average: weights"),
    (lambda: ops.categorical_crossentropy(ONEHOT, PROBS[..., :6]), ValueError,
     "categorical_crossentropy: target and output need the same shape"),
    (lambda: ops.categorical_crossentropy(np.float32(1), np.float32(1)), ValueError,
     "at least rank 1"),
    (lambda: ops.sparse_categorical_crossentropy(IDS[:1], PROBS), ValueError,
     "sparse_categorical_crossentropy: target of shape"),
    (lambda: ops.sparse_categorical_crossentropy(IDS + 1, PROBS), ValueError,
     r"class id 7 is outside \[0, 7\)"),
    (lambda: ops.sparse_categorical_crossentropy(IDS * 0.5, PROBS), TypeError,
     "integer class ids"),
    (lambda: ops.binary_crossentropy(A, A[:2]), ValueError, "binary_crossentropy: target"),
    (lambda: ops.fori_loop(0, 2.0, lambda i, v: v, A), TypeError, "fori_loop: upper"),
    (lambda: ops.while_loop(lambda v: True, lambda v: v, A, maximum_iterations=-1),
     ValueError, "maximum_iterations"),
    (lambda: ops.slice(A, (0,), (1, 1)), ValueError, "slice: start_indices must be 2"),
    (lambda: ops.slice(A, (0, 0), (1, 1, 1)), ValueError, "slice: shape must be 2"),
    (lambda: ops.slice(A, (2, 0), (2, 1)), ValueError, "does not fit axis 0"),
    (lambda: ops.slice(A, (0.5, 0), (1, 1)), ValueError, "slice: start_indices"),
    (lambda: ops.slice_update(A, (0, 5), np.ones((1, 3))), ValueError,
     "slice_update: updates of shape"),
    (lambda: ops.slice_update(A, (0, 0), np.ones(3)), ValueError, "same rank"),
    (lambda: ops.vectorized_map(lambda x: x, []), ValueError, "empty"),
    (lambda: ops.vectorized_map(lambda x: x, [A, B]), ValueError, "different first axes"),
    (lambda: ops.conv(A, K1), ValueError, "conv: expected inputs of rank 3"),
    (lambda: ops.conv(X4[None], K2), ValueError, "a 3-D input needs a kernel of rank 5"),
    (lambda: ops.conv(X4, K1), ValueError, "needs a kernel of rank 4"),
    (lambda: ops.conv(X4, K2[:, :, :1]), ValueError, "filters of the number of groups"),
    (lambda: ops.conv(X4, K2[:, :, :2]), ValueError, "expects 2 input channels"),
    (lambda: ops.conv(X4, K2, strides=(1, 2, 3)), ValueError, "conv: strides must be"),
    (lambda: ops.conv(X4, K2, strides=0), ValueError, "conv: strides must be >= 1"),
    (lambda: ops.conv(X4, K2, padding="causal"), ValueError, "conv: padding must be"),
    (lambda: ops.conv(X4, K2, data_format="NHWC"), ValueError, "conv: data_format"),
    (lambda: ops.conv(X4, K2, strides=2, dilation_rate=2), ValueError, "cannot both"),
    (lambda: ops.depthwise_conv(X4, DW2[:, :, :2]), ValueError, "depthwise_conv: the kernel"),
    (lambda: ops.max_pool(X4, (2, 2, 2)), ValueError, "max_pool: pool_size must be"),
    (lambda: ops.average_pool(A, 2), ValueError, "average_pool: expected inputs of rank"),
    (lambda: ops.max_pool(X4, 10), ValueError, "max_pool"),
    (lambda: ops.full((2,), np.ones(3)), ValueError, "broadcast"),
])
def test_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------- the other common ops of Keras 3

U = np.clip(A / 3, -0.9, 0.9).astype(np.float32)       # inside (-1, 1)
P = (np.abs(A) + 1.1).astype(np.float32)                # above 1
Q4 = RNG.normal(size=(2, 5, 2, 4)).astype(np.float32)   # (batch, steps, heads, depth)
K4 = RNG.normal(size=(2, 6, 2, 4)).astype(np.float32)
MASK = RNG.random((2, 1, 5, 6)) > 0.3

MORE_CALLS = {
    **{f"{n}": (lambda n: lambda k: getattr(k.ops, n)(U))(n)
       for n in ("tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arctanh")},
    "arccosh": lambda k: k.ops.arccosh(P),
    "arctan2": lambda k: k.ops.arctan2(A, A[::-1]),
    "log2": lambda k: k.ops.log2(P),
    "log10": lambda k: k.ops.log10(P),
    "exp2": lambda k: k.ops.exp2(A),
    "logaddexp": lambda k: k.ops.logaddexp(A * 30, A[::-1] * 30),
    "divide_no_nan": lambda k: k.ops.divide_no_nan(A, np.where(A > 0, A, 0)),
    "floor_divide": lambda k: k.ops.floor_divide(A * 4, 1.5),
    "floor_divide-ints": lambda k: k.ops.floor_divide(INTS, 4),
    "logical_xor": lambda k: k.ops.logical_xor(A > 0, A[::-1] > 0),
    "trunc": lambda k: k.ops.trunc(A * 3),
    "trunc-ints": lambda k: k.ops.trunc(INTS),
    "isclose": lambda k: k.ops.isclose(A, A + 1e-6),
    "allclose": lambda k: k.ops.allclose(A, A + 1e-3),
    "nonzero": lambda k: k.ops.nonzero(INTS),
    "count_nonzero": lambda k: k.ops.count_nonzero(INTS),
    "count_nonzero-axis": lambda k: k.ops.count_nonzero(INTS, axis=1),
    "cumprod": lambda k: k.ops.cumprod(A, axis=1),
    "cumprod-flat": lambda k: k.ops.cumprod(INTS),
    "meshgrid": lambda k: k.ops.meshgrid(V, B),
    "meshgrid-ij": lambda k: k.ops.meshgrid(V, B, indexing="ij"),
    "ravel": lambda k: k.ops.ravel(X3),
    "amax": lambda k: k.ops.amax(A, axis=0),
    "amin": lambda k: k.ops.amin(A, axis=1, keepdims=True),
    "roll": lambda k: k.ops.roll(A, 2, axis=1),
    "roll-flat": lambda k: k.ops.roll(A, -5),
    "diagonal": lambda k: k.ops.diagonal(A),
    "diagonal-axes": lambda k: k.ops.diagonal(X3, offset=1, axis1=1, axis2=2),
    "trace": lambda k: k.ops.trace(A),
    "trace-ints": lambda k: k.ops.trace(INTS, offset=1),
    "copy": lambda k: k.ops.copy(A),
    "empty-shape": lambda k: k.ops.empty((2, 3)).shape,
    "dtype": lambda k: k.ops.dtype(INTS),
    "dtype-float": lambda k: k.ops.dtype(A),
    "is_tensor": lambda k: k.ops.is_tensor(A),
    "append": lambda k: k.ops.append(A, B),
    "append-axis": lambda k: k.ops.append(A, A[:1], axis=0),
    "select": lambda k: k.ops.select([A < -0.5, A > 0.5], [A * 2, A * 3], 7.0),
    "scatter": lambda k: k.ops.scatter(np.array([[0, 1], [2, 3], [0, 1]]),
                                       np.array([1.0, 2.0, 4.0], np.float32), (3, 4)),
    "scatter-rows": lambda k: k.ops.scatter(np.array([[2], [0]]), A[:2], (4, 7)),
    "scatter_update": lambda k: k.ops.scatter_update(A.copy(), np.array([[0, 1], [2, 3]]),
                                                     np.array([9.0, 8.0], np.float32)),
    "scatter_update-add": lambda k: k.ops.scatter_update(
        A.copy(), np.array([[0], [0]]), A[:2], reduction="add"),
    "in_top_k": lambda k: k.ops.in_top_k(np.array([0, 3, 6]), A, 3),
    "segment_max": lambda k: k.ops.segment_max(A, np.array([1, 0, 1]), num_segments=3),
    "selu": lambda k: k.ops.selu(A),
    "log_sigmoid": lambda k: k.ops.log_sigmoid(A * 5),
    "hard_silu": lambda k: k.ops.hard_silu(A * 4),
    "hard_tanh": lambda k: k.ops.hard_tanh(A * 2),
    "celu": lambda k: k.ops.celu(A, alpha=0.5),
    "glu": lambda k: k.ops.glu(A[:, :6]),
    "leaky_relu": lambda k: k.ops.leaky_relu(A, negative_slope=0.1),
    "multi_hot": lambda k: k.ops.multi_hot(IDS, 8),
    "moments": lambda k: k.ops.moments(X3, axes=[0, 1]),
    "moments-keepdims": lambda k: k.ops.moments(X3, [1], keepdims=True),
    "batch_normalization": lambda k: k.ops.batch_normalization(
        X3, V[:3], np.abs(V[:3]), axis=-1, offset=B[:3], scale=V[2:], epsilon=1e-2),
    "separable_conv": lambda k: k.ops.separable_conv(X4, DW2, K2[:1, :1, :, :].repeat(2, 2),
                                                      padding="same"),
    "dot_product_attention": lambda k: k.ops.dot_product_attention(Q4, K4, K4[..., :3]),
    "dot_product_attention-mask": lambda k: k.ops.dot_product_attention(
        Q4, K4, K4, mask=MASK, scale=0.3),
    "dot_product_attention-causal": lambda k: k.ops.dot_product_attention(
        Q4, K4[:, :5], K4[:, :5], is_causal=True),
    "map": lambda k: k.ops.map(lambda r: r * 2.0, A),
    "scan": lambda k: k.ops.scan(lambda c, x: (c + x, c * x), np.zeros(7, np.float32), A),
    "scan-reverse": lambda k: k.ops.scan(lambda c, x: (c * 2 + x, c), np.ones(7, np.float32),
                                         A, reverse=True),
    "switch": lambda k: k.ops.switch(5, [lambda x: x + 1, lambda x: x * 3], A),
}


@pytest.mark.parametrize("name", list(MORE_CALLS))
def test_more_ops_match_keras(keras, name):
    ours, theirs = MORE_CALLS[name](__import__("pynn")), MORE_CALLS[name](keras)
    if isinstance(theirs, (str, bool, tuple)) and not isinstance(theirs, tuple) or \
            name == "empty-shape":
        assert ours == theirs
        return
    same(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.meshgrid(V, indexing="yx"), ValueError, "meshgrid: indexing"),
    (lambda: ops.select([A > 0], [A, A]), ValueError, "select: 1 conditions for 2"),
    (lambda: ops.scatter(np.array([[5]]), np.ones(1), (3,)), ValueError, "out of range"),
    (lambda: ops.scatter(np.array([0.5]), np.ones(1), (3,)), ValueError, "indices must be"),
    (lambda: ops.scatter_update(A, np.array([[0, 0]]), np.ones(1), reduction="sum"),
     ValueError, "reduction must be"),
    (lambda: ops.in_top_k(np.array([0]), A, 2), ValueError, "in_top_k: expected"),
    (lambda: ops.celu(A, alpha=0), ValueError, "celu: alpha"),
    (lambda: ops.glu(A), ValueError, "glu: axis"),
    (lambda: ops.multi_hot(IDS), TypeError, "multi_hot: num_classes"),
    (lambda: ops.moments(X3, [0], synchronized=True), ValueError, "synchronized"),
    (lambda: ops.batch_normalization(X3, 0.0, 1.0, axis=3), ValueError,
     "batch_normalization: axis"),
    (lambda: ops.dot_product_attention(A, A, A), ValueError, "must be of rank 4"),
    (lambda: ops.dot_product_attention(Q4, K4, K4, flash_attention=True), ValueError,
     "flash_attention"),
    (lambda: ops.scan(lambda c, x: (c, x), 0.0), ValueError, "scan: give xs or length"),
    (lambda: ops.switch(0, [], A), ValueError, "switch: branches is empty"),
])
def test_more_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


X5 = RNG.normal(size=(2, 4, 6, 8)).astype(np.float32)
NANS = np.array([[1.0, np.nan, np.inf], [-np.inf, 2.0, -3.0]], np.float32)

BATCH3_CALLS = {
    "hypot": lambda k: k.ops.hypot(A, A[::-1]),
    "cbrt": lambda k: k.ops.cbrt(A * 8),
    "deg2rad": lambda k: k.ops.deg2rad(A * 90),
    "rad2deg": lambda k: k.ops.rad2deg(A),
    "logaddexp2": lambda k: k.ops.logaddexp2(A * 10, A[::-1]),
    "fmod": lambda k: k.ops.fmod(A * 5, 1.5),
    "fmod-ints": lambda k: k.ops.fmod(INTS, 4),
    "inner": lambda k: k.ops.inner(A, A[:2]),
    "vdot": lambda k: k.ops.vdot(A, A * 2),
    "flipud": lambda k: k.ops.flipud(A),
    "fliplr": lambda k: k.ops.fliplr(A),
    "rot90": lambda k: k.ops.rot90(X3, k=3, axes=(1, 2)),
    "diff": lambda k: k.ops.diff(A, n=2, axis=1),
    "diff-axis0": lambda k: k.ops.diff(A, axis=0),
    "empty_like-shape": lambda k: k.ops.empty_like(INTS).shape,
    "tri": lambda k: k.ops.tri(3, 5, k=1),
    "diagflat": lambda k: k.ops.diagflat(A[:2, :2], k=-1),
    "array_split": lambda k: k.ops.array_split(A, 3, axis=1),
    "hsplit": lambda k: k.ops.hsplit(A[:, :6], 2),
    "vsplit": lambda k: k.ops.vsplit(X3[:2], 2),
    "dsplit": lambda k: k.ops.dsplit(X3, 3),
    "dstack": lambda k: k.ops.dstack([A, A * 2]),
    "nan_to_num": lambda k: k.ops.nan_to_num(NANS),
    "nan_to_num-values": lambda k: k.ops.nan_to_num(NANS, nan=-1.0, posinf=9.0, neginf=-9.0),
    "ptp": lambda k: k.ops.ptp(A, axis=1),
    "quantile": lambda k: k.ops.quantile(A, 0.3, axis=1),
    "quantile-many": lambda k: k.ops.quantile(X3, np.array([0.1, 0.5, 0.9]), axis=(0, 1),
                                              keepdims=True),
    "quantile-nearest": lambda k: k.ops.quantile(A, 0.25, method="nearest"),
    "percentile": lambda k: k.ops.percentile(A, 75.0, axis=0),
    "median": lambda k: k.ops.median(A, axis=1),
    "median-all": lambda k: k.ops.median(X3),
    "signbit": lambda k: k.ops.signbit(A),
    "heaviside": lambda k: k.ops.heaviside(np.round(A), 0.5),
    "sinc": lambda k: k.ops.sinc(np.concatenate([A, np.zeros((3, 1), np.float32)], 1)),
    "isin": lambda k: k.ops.isin(INTS, np.array([0, 5, 9])),
    "isposinf": lambda k: k.ops.isposinf(NANS),
    "isneginf": lambda k: k.ops.isneginf(NANS),
    "searchsorted": lambda k: k.ops.searchsorted(np.sort(V), A, side="right"),
    "bincount": lambda k: k.ops.bincount(np.array([1, 3, 3, 0, 7])),
    "bincount-weights": lambda k: k.ops.bincount(np.array([1, 3, 3]), weights=V[:3],
                                                 minlength=6),
    "digitize": lambda k: k.ops.digitize(A, np.array([-1.0, 0.0, 1.0])),
    "sparse_plus": lambda k: k.ops.sparse_plus(A * 2),
    "squareplus": lambda k: k.ops.squareplus(A, b=2),
    "soft_shrink": lambda k: k.ops.soft_shrink(A, 0.3),
    "hard_shrink": lambda k: k.ops.hard_shrink(A),
    "tanh_shrink": lambda k: k.ops.tanh_shrink(A),
    "threshold": lambda k: k.ops.threshold(A, 0.2, -1.0),
    "layer_normalization": lambda k: k.ops.layer_normalization(X3, V[:3], B[:3]),
    "layer_normalization-axes": lambda k: k.ops.layer_normalization(
        X5, np.abs(X5[0, :, :, 0]), axis=(1, 2), epsilon=0.1),
    "layer_normalization-rms": lambda k: k.ops.layer_normalization(
        X3, V[:3], axis=-1, rms_scaling=True),
    "rms_normalization": lambda k: k.ops.rms_normalization(X3, V[:3]),
    "rms_normalization-axis": lambda k: k.ops.rms_normalization(X3, axis=1, epsilon=0.5),
    "psnr": lambda k: k.ops.psnr(np.abs(A), np.abs(A[::-1]), 3.0),
    "space_to_depth": lambda k: k.ops.space_to_depth(X5, 2),
    "depth_to_space": lambda k: k.ops.depth_to_space(X5, 2),
    "space_to_depth-channels-first": lambda k: k.ops.space_to_depth(
        X5.transpose(0, 3, 1, 2), 2, data_format="channels_first"),
    "depth_to_space-channels-first": lambda k: k.ops.depth_to_space(
        X5.transpose(0, 3, 1, 2), 2, data_format="channels_first"),
}


def test_column_stack_matches_numpy():
    # (Keras 3.15 has no ops.column_stack yet; newer ones do, as NumPy's)
    xs = [V, V * 2, np.ones((5, 2), np.float32)]
    same(ops.column_stack(xs), np.column_stack(xs))


@pytest.mark.parametrize("name", list(BATCH3_CALLS))
def test_batch3_ops_match_keras(keras, name):
    ours, theirs = BATCH3_CALLS[name](__import__("pynn")), BATCH3_CALLS[name](keras)
    if name.endswith("-shape"):
        assert ours == theirs
        return
    same(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.quantile(A, 1.5), ValueError, r"quantile: q must be in \[0, 1\]"),
    (lambda: ops.quantile(A, 0.5, method="cubic"), ValueError, "quantile: method"),
    (lambda: ops.searchsorted(A, V), ValueError, "searchsorted: sorted_sequence must be 1-D"),
    (lambda: ops.bincount(np.array([-1, 2])), ValueError, "bincount: x must hold"),
    (lambda: ops.space_to_depth(X5, 3), ValueError, "multiples of block_size"),
    (lambda: ops.depth_to_space(X5, 3), ValueError, "not a multiple of block_size"),
    (lambda: ops.space_to_depth(A, 2), ValueError, "rank 4"),
    (lambda: ops.psnr(A, A[:2], 1.0), ValueError, "psnr: x1 and x2"),
    (lambda: ops.layer_normalization(A, bogus=1), TypeError, "unexpected arguments"),
    (lambda: ops.diff(A, n=-1), ValueError, "diff: n"),
])
def test_batch3_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


SPD = (A[:, :3] @ A[:, :3].T + 3 * np.eye(3)).astype(np.float32)   # positive definite
M3 = RNG.normal(size=(2, 3, 3)).astype(np.float32) + 2 * np.eye(3, dtype=np.float32)
KT2 = RNG.normal(size=(3, 2, 4, 3)).astype(np.float32)   # (h, w, out, in)
KT1 = RNG.normal(size=(3, 4, 3)).astype(np.float32)

LINALG_CALLS = {
    "inv": lambda k: k.ops.inv(M3),
    "det": lambda k: k.ops.det(M3),
    "solve": lambda k: k.ops.solve(M3, M3[:, :, :2] + 1),
    "solve-vector": lambda k: k.ops.solve(SPD, V[:3]),
    "logdet": lambda k: k.ops.logdet(SPD),
    "slogdet": lambda k: k.ops.slogdet(M3 - 2 * np.eye(3, dtype=np.float32)),
    "cholesky": lambda k: k.ops.cholesky(SPD),
    "cholesky-upper": lambda k: k.ops.cholesky(SPD, upper=True),
    "svd-values": lambda k: k.ops.svd(A, compute_uv=False),
    "eigh-values": lambda k: k.ops.eigh(SPD)[0],
    "pinv": lambda k: k.ops.pinv(A),
    "lstsq": lambda k: k.ops.lstsq(A.T, B[:, None]),
    "matrix_rank": lambda k: k.ops.matrix_rank(np.outer(V, V)),
    "solve_triangular": lambda k: k.ops.solve_triangular(M3, M3[:, :, :1], lower=True),
    "conv_transpose2d": lambda k: k.ops.conv_transpose(X4, KT2),
    "conv_transpose2d-strided-same": lambda k: k.ops.conv_transpose(X4, KT2, strides=2,
                                                                    padding="same"),
    "conv_transpose2d-output-padding": lambda k: k.ops.conv_transpose(
        X4, KT2, strides=(3, 2), output_padding=(1, 0)),
    "conv_transpose1d": lambda k: k.ops.conv_transpose(X3, KT1, strides=2, padding="same"),
}


@pytest.mark.parametrize("name", list(LINALG_CALLS))
def test_linalg_and_conv_transpose_match_keras(keras, name):
    same(LINALG_CALLS[name](__import__("pynn")), LINALG_CALLS[name](keras), rtol=2e-4,
         atol=2e-4)


def test_factorizations_rebuild_their_matrix():
    u, s, vt = ops.svd(A, full_matrices=False)
    np.testing.assert_allclose((u * s) @ vt, A, atol=1e-5)
    q, r = ops.qr(A.T)
    np.testing.assert_allclose(q @ r, A.T, atol=1e-5)
    w, v = ops.eigh(SPD)
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, SPD, atol=1e-4)
    np.testing.assert_allclose(ops.matrix_power(M3, 3), np.linalg.matrix_power(M3, 3),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.matrix_power(M3, -2), np.linalg.matrix_power(
        M3.astype(np.float64), -2), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(ops.matrix_power(M3, 0), np.broadcast_to(np.eye(3), M3.shape))


@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.inv(A), ValueError, r"inv: expected square matrices"),
    (lambda: ops.det(V), ValueError, "det: expected square"),
    (lambda: ops.solve(SPD, A.T), ValueError, "solve: b of shape"),
    (lambda: ops.matrix_power(M3, 1.5), TypeError, "matrix_power: n"),
    (lambda: ops.qr(A, mode="full"), ValueError, "qr: mode"),
    (lambda: ops.matrix_rank(V), ValueError, "matrix_rank: expected an array of rank >= 2"),
    (lambda: ops.conv_transpose(X4, KT2[..., :2]), ValueError,
     "conv_transpose: the kernel of shape"),
    (lambda: ops.conv_transpose(X4, KT1), ValueError, "needs a kernel of rank 4"),
])
def test_linalg_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "uint8"])
def test_transpose_keeps_integer_and_boolean_dtypes_as_keras(keras, dtype):
    x = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    got, want = ops.transpose(x, (2, 0, 1)), keras.ops.transpose(x, (2, 0, 1))
    assert got.dtype == np.asarray(want).dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, np.asarray(want))
    assert got.flags.c_contiguous
    with pytest.raises(ValueError, match="not a permutation"):
        ops.transpose(x, (0, 0, 1))
