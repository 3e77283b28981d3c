"""TensorFlow's indexing, scatter, segment, counting and search names
(tf.gather_nd, tf.boolean_mask, tf.scatter_nd, tf.unique, tf.math.bincount,
...) as ported programs call them with ``import pynn as tf``: each against a
NumPy float64 formula of what TensorFlow documents, with its defaults and
dtypes; gradients through a GradientTape against finite differences;
indices out of range raise InvalidArgumentError as TensorFlow's CPU kernels."""
import numpy as np
import pytest
from gradcheck import numeric_grad

import pynn as tf
from pynn.tensor import Tensor

RNG = np.random.default_rng(11)
P = RNG.normal(size=(3, 4, 2)).astype(np.float32)


def close(got, want, tol=1e-5):
    assert isinstance(got, Tensor), type(got)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


def check_gradient(fn, x, tol=2e-2):
    """fn's gradient on a tape (of sum(fn(x) * w), w fixed weights) against
    finite differences."""
    w = RNG.normal(size=np.shape(fn(x))).astype(np.float64)
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(v) * w.astype(np.float32))
    got = tape.gradient(loss, v)
    want = numeric_grad(lambda a: float(np.sum(np.asarray(fn(a), np.float64) * w)), x)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


# -------------------------------------------------------------- gather_nd

def test_gather_nd_picks_elements_and_slices():
    idx = np.array([[0, 1, 1], [2, 3, 0]])
    close(tf.gather_nd(P, idx), np.array([P[0, 1, 1], P[2, 3, 0]], np.float64))
    rows = np.array([[[1], [0]], [[2], [2]]])            # slices, indices of rank 3
    close(tf.gather_nd(P, rows), P.astype(np.float64)[rows[..., 0]])
    pairs = np.array([[1, 2], [0, 0]])
    close(tf.gather_nd(P, pairs), np.stack([P[1, 2], P[0, 0]]).astype(np.float64))
    words = np.array([["a", "b"], ["c", "d"]])
    # (a string tensor holds bytes, as TensorFlow's)
    assert tf.gather_nd(words, [[1, 0], [0, 1]]).tolist() == [b"c", b"b"]


def test_gather_nd_batch_dims_indexes_each_row_of_the_batch():
    idx = np.array([[[1], [3]], [[0], [0]], [[2], [1]]])   # (3, 2, 1): one axis into P[b]
    got = tf.gather_nd(P, idx, batch_dims=1)
    want = np.stack([P[b][idx[b, :, 0]] for b in range(3)]).astype(np.float64)
    assert got.shape == (3, 2, 2)
    close(got, want)


def test_gather_nd_gradient_adds_up_repeated_indices():
    idx = np.array([[0, 1], [0, 1], [2, 3]])
    check_gradient(lambda a: tf.gather_nd(a, idx), P)


def test_gather_and_gather_nd_out_of_range_raise_invalid_argument():
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"indices\[1\] = 3 is not in \[0, 3\)"):
        tf.gather(P, [0, 3])
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.gather(P, [-1])                       # TensorFlow does not count from the end
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.gather(P, [[0, 4]], axis=1)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.gather(P, [[4], [0], [1]], axis=1, batch_dims=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not index into shape"):
        tf.gather_nd(P, [[0, 4]])
    with pytest.raises(ValueError):                 # InvalidArgumentError is a ValueError
        tf.gather_nd(P, [[3]])
    with pytest.raises(ValueError, match="do not fit params"):
        tf.gather_nd(P, [[0, 0, 0, 0]])


# --------------------------------------------------- masks, rolls, reversal

def test_boolean_mask_along_an_axis_and_with_a_2d_mask():
    m = np.array([True, False, True, True])
    close(tf.boolean_mask(P, m, axis=1), P.astype(np.float64)[:, m])
    m2 = np.array([[True, False, False, True], [False, False, True, False],
                   [True, True, False, False]])
    got = tf.boolean_mask(P, m2)
    assert got.shape == (5, 2)
    close(got, P.astype(np.float64)[m2])
    check_gradient(lambda a: tf.boolean_mask(a, m2), P)
    with pytest.raises(ValueError, match="does not fit"):
        tf.boolean_mask(P, np.ones(3, bool), axis=1)


def test_sequence_mask():
    got = tf.sequence_mask([1, 3, 2], 5)
    want = np.array([[1, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], bool)
    assert got.dtype == bool and (np.asarray(got) == want).all()
    got = tf.sequence_mask(np.array([[1, 3], [2, 0]]), dtype=tf.float32)
    assert got.shape == (2, 2, 3) and got.dtype == np.float32
    assert np.asarray(got)[0, 1].tolist() == [1, 1, 1] and np.asarray(got)[1, 1].sum() == 0


def test_roll_and_reverse():
    close(tf.roll(P, shift=[1, -2, 3], axis=[0, 1, 0]),
          np.roll(np.roll(P.astype(np.float64), 4, axis=0), -2, axis=1))
    close(tf.roll(P, 1, axis=2), np.roll(P, 1, axis=2))
    close(tf.reverse(P, [0, -1]), P[::-1, :, ::-1])
    check_gradient(lambda a: tf.roll(a, [1, 1], [1, 2]), P)
    check_gradient(lambda a: tf.reverse(a, [1]), P)
    with pytest.raises(ValueError, match="distinct axes"):
        tf.reverse(P, [1, 1])


def test_meshgrid_xy_and_ij_with_gradients():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = np.array([4.0, 5.0], np.float32)
    for indexing in ("xy", "ij"):
        got = tf.meshgrid(x, y, indexing=indexing)
        want = np.meshgrid(x.astype(np.float64), y.astype(np.float64), indexing=indexing)
        assert len(got) == 2
        for g, w in zip(got, want):
            close(g, w)
    check_gradient(lambda a: tf.meshgrid(a, y)[0], x)
    check_gradient(lambda a: tf.meshgrid(x, a, indexing="ij")[1], y)


def test_is_tensor():
    assert tf.is_tensor(tf.constant([1.0])) and tf.is_tensor(tf.Variable(1.0))
    assert tf.is_tensor(tf.ragged.constant([[1], [2, 3]]))
    assert not tf.is_tensor([1.0, 2.0]) and not tf.is_tensor(3.0)


# ------------------------------------------------------ top_k and searching

def test_top_k_in_tf_nn_and_in_top_k_counts_ties_in():
    values, indices = tf.nn.top_k(np.array([[1.0, 3.0, 2.0, 3.0]], np.float32), k=2)
    assert values.tolist() == [[3.0, 3.0]] and indices.tolist() == [[1, 3]]
    preds = np.array([[0.1, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1], [np.nan, 0.3, 0.2, 0.1]],
                     np.float32)
    got = tf.math.in_top_k([2, 2, 0], preds, 1)
    assert got.dtype == bool and got.tolist() == [True, False, False]
    assert tf.nn.in_top_k([1, 9, 3], preds, 3).tolist() == [True, False, True]


def test_searchsorted_per_row_and_sides():
    seq = np.array([[0.0, 3.0, 9.0, 9.0, 10.0], [1.0, 2.0, 3.0, 4.0, 5.0]], np.float32)
    vals = np.array([[2.0, 4.0, 9.0], [0.0, 2.0, 6.0]], np.float32)
    left = tf.searchsorted(seq, vals)
    assert left.dtype == np.int32
    assert left.tolist() == [[1, 2, 2], [0, 1, 5]]
    assert tf.searchsorted(seq, vals, side="right").tolist() == [[1, 2, 4], [0, 2, 5]]
    assert tf.searchsorted([1, 5, 7], [6, 0]).tolist() == [2, 0]


# --------------------------------------------------------------- scatter

def test_scatter_nd_adds_repeated_indices():
    got = tf.scatter_nd([[4], [3], [1], [7], [4]], [9.0, 10.0, 11.0, 12.0, 1.0], [8])
    assert got.tolist() == [0, 11, 0, 10, 10, 0, 0, 12]
    upd = RNG.normal(size=(2, 4, 2)).astype(np.float32)
    got = tf.scatter_nd([[0], [2]], upd, tf.constant([3, 4, 2]))
    want = np.zeros((3, 4, 2))
    want[0], want[2] = upd[0], upd[1]
    close(got, want)
    check_gradient(lambda u: tf.scatter_nd([[1, 1], [1, 1], [0, 3]], u, [2, 4, 2]), upd[0, :3])
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.scatter_nd([[8]], [1.0], [8])
    with pytest.raises(ValueError, match="updates must have shape"):
        tf.scatter_nd([[1]], [1.0, 2.0], [8])


def test_tensor_scatter_nd_update_add_sub():
    t = P.astype(np.float64)
    idx = np.array([[0, 1], [2, 3]])
    upd = RNG.normal(size=(2, 2)).astype(np.float32)
    want = t.copy()
    want[0, 1], want[2, 3] = upd[0], upd[1]
    close(tf.tensor_scatter_nd_update(P, idx, upd), want)
    want = t.copy()
    want[0, 1] += upd[0]
    want[2, 3] += upd[1]
    close(tf.tensor_scatter_nd_add(P, idx, upd), want)
    close(tf.tensor_scatter_nd_sub(P, idx, upd), 2 * t - want)
    ints = tf.tensor_scatter_nd_update(np.arange(5), [[1], [3], [1]], [10, 20, 30])
    assert ints.tolist() == [0, 30, 2, 20, 4] and ints.dtype.kind == "i"
    # the replaced entries get no gradient from the tensor; the updates get theirs
    check_gradient(lambda a: tf.tensor_scatter_nd_update(a, idx, upd), P)
    check_gradient(lambda u: tf.tensor_scatter_nd_update(P, idx, u), upd)
    check_gradient(lambda a: tf.tensor_scatter_nd_add(a, idx, upd), P)


# ------------------------------------------------------ segments, counting

def test_segment_reductions():
    data = np.array([[1.0, 2.0], [3.0, -4.0], [5.0, 6.0], [0.5, 0.5]], np.float32)
    ids = [0, 0, 2, 2]
    close(tf.math.segment_sum(data, ids), [[4, -2], [0, 0], [5.5, 6.5]])
    close(tf.math.segment_mean(data, ids), [[2, -1], [0, 0], [2.75, 3.25]])
    close(tf.math.segment_max(data, ids), [[3, 2], [0, 0], [5, 6]])
    close(tf.math.segment_min(data, ids), [[1, -4], [0, 0], [0.5, 0.5]])
    close(tf.math.unsorted_segment_min(data, [1, 0, 1, 0], 2), [[0.5, -4], [1, 2]])
    check_gradient(lambda a: tf.math.segment_max(a, ids), data)
    with pytest.raises(tf.errors.InvalidArgumentError, match="sorted"):
        tf.math.segment_sum(data, [1, 0, 0, 0])


def test_unique_keeps_the_order_of_first_occurrence():
    y, idx = tf.unique([1, 1, 2, 4, 4, 4, 7, 8, 8])
    assert y.tolist() == [1, 2, 4, 7, 8] and idx.tolist() == [0, 0, 1, 2, 2, 2, 3, 4, 4]
    y, idx, count = tf.unique_with_counts(np.array([5.0, 3.0, 5.0, 1.0, 3.0, 5.0]))
    assert y.tolist() == [5.0, 3.0, 1.0] and idx.tolist() == [0, 1, 0, 2, 1, 0]
    assert count.tolist() == [3, 2, 1] and idx.dtype == np.int32
    words = tf.unique(np.array(["b", "a", "b"])).y
    assert words.tolist() == [b"b", b"a"]


def test_bincount():
    arr = np.array([1, 1, 2, 3, 2, 4, 4, 5])
    assert tf.math.bincount(arr).tolist() == [0, 2, 2, 1, 2, 1]
    assert tf.math.bincount(arr).dtype == np.int32
    assert tf.math.bincount(arr, minlength=8).tolist() == [0, 2, 2, 1, 2, 1, 0, 0]
    assert tf.math.bincount(arr, maxlength=3).tolist() == [0, 2, 2]
    w = np.linspace(0.5, 4.0, 8).astype(np.float32)
    got = tf.math.bincount(arr, weights=w)
    want = np.bincount(arr, weights=w.astype(np.float64))
    assert got.dtype == np.float32
    close(got, want)
    rows = np.array([[1, 2, 2], [0, 0, 4]])
    assert tf.math.bincount(rows, axis=-1).tolist() == [[0, 1, 2, 0, 0], [2, 0, 0, 0, 1]]
    assert tf.math.bincount(rows, axis=-1, binary_output=True).tolist() == \
        [[0, 1, 1, 0, 0], [1, 0, 0, 0, 1]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-negative"):
        tf.math.bincount([1, -1])


def test_histogram_fixed_width_clamps_to_the_end_bins():
    values = np.array([-1.0, 0.0, 1.5, 2.0, 5.0, 15.0], np.float32)
    got = tf.histogram_fixed_width(values, [0.0, 5.0], nbins=5)
    assert got.dtype == np.int32 and got.tolist() == [2, 1, 1, 0, 2]
    assert tf.histogram_fixed_width_bins(values, [0.0, 5.0], nbins=5).tolist() == \
        [0, 0, 1, 2, 4, 4]
    v = RNG.normal(size=500)
    got = tf.histogram_fixed_width(v, [-2.0, 2.0], nbins=8)
    want = np.histogram(np.clip(v, -2.0, 2.0 - 1e-9), bins=8, range=(-2.0, 2.0))[0]
    assert got.tolist() == want.tolist()


# ------------------------------- names that were there: TensorFlow's forms

def test_cumsum_exclusive_reverse_one_hot_axis_linspace_eye():
    x = P[:, :, 0].astype(np.float64)
    c = np.cumsum(x[:, ::-1], axis=1)[:, ::-1]
    close(tf.math.cumsum(P[:, :, 0], axis=1, exclusive=True, reverse=True),
          np.concatenate([c[:, 1:], np.zeros((3, 1))], axis=1))
    close(tf.cumsum(P[:, :, 0], exclusive=True), np.concatenate([np.zeros((1, 4)),
                                                                 np.cumsum(x, 0)[:-1]]))
    check_gradient(lambda a: tf.math.cumsum(a, axis=1, exclusive=True, reverse=True),
                   P[:, :, 0])
    hot = tf.one_hot([0, 2, -1], 3, on_value=5.0, off_value=-1.0, axis=0)
    assert hot.dtype == np.float32
    assert np.asarray(hot).tolist() == [[5, -1, -1], [-1, -1, -1], [-1, 5, -1]]
    close(tf.linspace(1.0, 2.0, 5), np.linspace(1, 2, 5))
    close(tf.eye(2, 3, batch_shape=[2]), np.broadcast_to(np.eye(2, 3), (2, 2, 3)))
    check_gradient(lambda a: tf.clip_by_norm(a, 1.0, axes=[1]), P[:, :, 0] * 3)


# ------------------------------------------------ tf.experimental.numpy

def test_experimental_numpy_is_numpy_and_records_on_a_tape():
    import pynn.experimental.numpy as tnp
    assert tf.experimental.numpy is tnp
    tnp.experimental_enable_numpy_behavior()
    a = tnp.array([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(a, tnp.ndarray) and a.dtype == np.float64     # NumPy's default, as tnp's
    total = tnp.sum(a, axis=0)
    assert isinstance(total, Tensor) and total.numpy().tolist() == [4.0, 6.0]
    assert tnp.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    assert tf.experimental.CosineDecay is tf.optimizers.schedules.CosineDecay
    x = np.array([0.5, -1.0, 2.0], np.float32)
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tnp.sum(tnp.square(tnp.asarray(v)) * tnp.exp(v))
    want = (2 * x + x ** 2) * np.exp(x.astype(np.float64))
    np.testing.assert_allclose(np.asarray(tape.gradient(y, v)), want, rtol=1e-5)


# --------------------------------------------------- tf.image: boxes

def crop_reference(image, boxes, which, size, method, extrapolation):
    """TensorFlow's crop_and_resize, pixel by pixel in float64."""
    n, h, w, c = image.shape
    ch, cw = size
    out = np.zeros((len(boxes), ch, cw, c))
    for k, ((y1, x1, y2, x2), i) in enumerate(zip(boxes, which)):
        for a in range(ch):
            y = y1 * (h - 1) + a * (y2 - y1) * (h - 1) / (ch - 1) if ch > 1 \
                else 0.5 * (y1 + y2) * (h - 1)
            for bb in range(cw):
                x = x1 * (w - 1) + bb * (x2 - x1) * (w - 1) / (cw - 1) if cw > 1 \
                    else 0.5 * (x1 + x2) * (w - 1)
                if not (0 <= y <= h - 1 and 0 <= x <= w - 1):
                    out[k, a, bb] = extrapolation
                elif method == "nearest":
                    out[k, a, bb] = image[i, int(np.floor(y + 0.5)), int(np.floor(x + 0.5))]
                else:
                    t, l = int(np.floor(y)), int(np.floor(x))
                    bo, r = int(np.ceil(y)), int(np.ceil(x))
                    dy, dx = y - t, x - l
                    top = image[i, t, l] + (image[i, t, r] - image[i, t, l]) * dx
                    low = image[i, bo, l] + (image[i, bo, r] - image[i, bo, l]) * dx
                    out[k, a, bb] = top + (low - top) * dy
    return out


def test_crop_and_resize_against_the_pixel_formula_and_its_gradient():
    image = RNG.uniform(size=(2, 7, 9, 3)).astype(np.float32)
    boxes = np.array([[0.1, 0.2, 0.8, 0.9], [0.0, 0.0, 1.0, 1.0], [0.9, 0.7, 0.2, 0.1],
                      [-0.2, 0.3, 0.6, 1.3], [0.4, 0.4, 0.4, 0.4]], np.float32)
    which = np.array([0, 1, 1, 0, 1])
    for method in ("bilinear", "nearest"):
        got = tf.image.crop_and_resize(image, boxes, which, [4, 5], method=method,
                                       extrapolation_value=-1.0)
        assert got.shape == (5, 4, 5, 3) and got.dtype == np.float32
        close(got, crop_reference(image.astype(np.float64), boxes.astype(np.float64), which,
                                  (4, 5), method, -1.0))
    single = tf.image.crop_and_resize(image, boxes, which, (1, 1))
    close(single, crop_reference(image.astype(np.float64), boxes.astype(np.float64), which,
                                 (1, 1), "bilinear", 0.0))
    ints = tf.image.crop_and_resize((image * 255).astype(np.uint8), boxes[:1], [0], (2, 2))
    assert ints.dtype == np.float32
    check_gradient(lambda a: tf.image.crop_and_resize(a, boxes[:3], which[:3], (3, 2)),
                   image[:, :4, :5])
    with pytest.raises(tf.errors.InvalidArgumentError, match="box_indices"):
        tf.image.crop_and_resize(image, boxes[:1], [2], (2, 2))


BOXES = [[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9], [0, 10, 1, 11],
         [0, 10.1, 1, 11.1], [0, 100, 1, 101]]
SCORES = [0.9, 0.75, 0.6, 0.95, 0.5, 0.3]


def test_non_max_suppression_three_clusters():
    got = tf.image.non_max_suppression(BOXES, SCORES, 3, iou_threshold=0.5)
    assert got.dtype == np.int32 and got.tolist() == [3, 0, 5]
    assert tf.image.non_max_suppression(BOXES, SCORES, 2).tolist() == [3, 0]
    assert tf.image.non_max_suppression(BOXES, SCORES, 6, score_threshold=0.4).tolist() == \
        [3, 0]
    # corners given in either order; IoU of 0.82 suppresses at 0.5 but not at 0.9
    flipped = [[1, 1, 0, 0], [0, 0.1, 1, 1.1]]
    assert tf.image.non_max_suppression(flipped, [0.5, 0.6], 5).tolist() == [1]
    assert tf.image.non_max_suppression(flipped, [0.5, 0.6], 5, 0.9).tolist() == [1, 0]
    # equal scores: the lower index first
    assert tf.image.non_max_suppression([[0, 0, 1, 1], [2, 2, 3, 3]], [0.5, 0.5], 2).tolist() \
        == [0, 1]


def test_soft_nms_decays_scores_by_overlap():
    idx, scores = tf.image.non_max_suppression_with_scores(
        BOXES, SCORES, 6, iou_threshold=1.0, score_threshold=0.0, soft_nms_sigma=0.5)
    assert idx.tolist() == [3, 0, 1, 5, 4, 2]
    # box 1 overlaps box 0 by 9/11: 0.75 exp(-(9/11)^2 / (2 * 0.5))
    want = [0.95, 0.9, 0.75 * np.exp(-(9 / 11) ** 2), 0.3, 0.5 * np.exp(-(9 / 11) ** 2),
            None]
    np.testing.assert_allclose(np.asarray(scores)[:5], want[:5], rtol=1e-5)
    idx, scores = tf.image.non_max_suppression_with_scores(BOXES, SCORES, 6, 0.5)
    assert idx.tolist() == [3, 0, 5] and np.allclose(scores, [0.95, 0.9, 0.3])


def test_combined_non_max_suppression_per_class_then_best_first():
    boxes = (np.array(BOXES, np.float32) / 101)[None, :, None]        # shared by the classes
    scores = np.stack([SCORES, SCORES[::-1]], axis=-1)[None].astype(np.float32)
    out = tf.image.combined_non_max_suppression(boxes, scores, 2, 5)
    assert out.valid_detections.tolist() == [4]
    np.testing.assert_allclose(out.nmsed_scores[0], [0.95, 0.95, 0.9, 0.9, 0.0])
    assert sorted(out.nmsed_classes[0, :2].tolist()) == [0.0, 1.0]
    # class 1's best box is box 2, [0, -0.1, 1, 0.9] / 101, clipped to [0, 1]
    k = int(np.flatnonzero(np.asarray(out.nmsed_classes[0, :2]) == 1)[0])
    np.testing.assert_allclose(out.nmsed_boxes[0, k], [0, 0, 1 / 101, 0.9 / 101], atol=1e-7)
    assert np.asarray(out.nmsed_boxes[0, 4]).tolist() == [0, 0, 0, 0]
    padded = tf.image.combined_non_max_suppression(boxes, scores, 1, 5, pad_per_class=True)
    assert padded.nmsed_scores.shape == (1, 2) and padded.valid_detections.tolist() == [2]


def test_draw_bounding_boxes_outlines():
    images = np.zeros((2, 5, 6, 3), np.float32)
    boxes = np.array([[[0.0, 0.0, 0.5, 0.6]], [[0.25, 0.2, 1.5, 0.8]]], np.float32)
    colors = np.array([[1.0, 0.0, 0.0, 1.0]], np.float32)
    got = np.asarray(tf.image.draw_bounding_boxes(images, boxes, colors))
    red = got[..., 0]
    # image 0: rows 0..2, columns 0..3 (0.6 * 5 = 3), the outline only
    want = np.zeros((5, 6))
    want[[0, 2], 0:4] = 1
    want[0:3, [0, 3]] = 1
    assert (red[0] == want).all() and got[..., 1:].max() == 0
    # image 1: rows 1..6 (the bottom edge outside, not drawn), columns 1..4
    want = np.zeros((5, 6))
    want[1, 1:5] = 1
    want[1:5, [1, 4]] = 1
    assert (red[1] == want).all()
    assert images.max() == 0                                   # the input is left as it was
    gray = tf.image.draw_bounding_boxes(np.zeros((1, 4, 4, 1), np.float32),
                                        [[[0, 0, 1, 1]]], colors)
    assert np.asarray(gray)[0, 0, :, 0].tolist() == [1, 1, 1, 1]


# ------------------------------------------------- strings as bytes, ragged

def test_string_constants_hold_utf8_bytes():
    one = tf.constant("héllo")
    assert one.numpy() == "héllo".encode() and one.numpy().decode("utf-8") == "héllo"
    batch = tf.constant(["ab", "ç"])
    assert batch.numpy().tolist() == [b"ab", "ç".encode()]
    # one element of a string tensor is a 0-d tensor, as TensorFlow's
    assert batch[1].numpy().decode("utf-8") == "ç"
    joined = tf.strings.join([batch, tf.constant(["!", "?"])])
    assert joined[0].numpy().decode("utf-8") == "ab!"
    assert tf.ragged.constant([["a"], ["b", "c"]]).to_list() == [[b"a"], [b"b", b"c"]]


def test_unicode_split_decode_encode_and_bytes_split():
    words = ["héllo", "", "añb"]
    chars = tf.strings.unicode_split(words, "UTF-8")
    assert isinstance(chars, tf.RaggedTensor)
    assert chars.to_list() == [[c.encode() for c in w] for w in words]
    assert chars.to_tensor().shape == (3, 5) and chars.to_tensor()[1, 0].numpy() == b""
    assert tf.strings.unicode_split("hé", "UTF-8").numpy().tolist() == [b"h", "é".encode()]
    points = tf.strings.unicode_decode(words, "UTF-8")
    assert points.to_list() == [[ord(c) for c in w] for w in words]
    assert points.values.dtype == np.int32
    assert tf.strings.unicode_decode(b"a\xffb", "UTF-8", replacement_char=63).tolist() == \
        [97, 63, 98]
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.strings.unicode_decode(b"a\xffb", "UTF-8", errors="strict")
    assert tf.strings.unicode_encode(points, "UTF-8").tolist() == [w.encode() for w in words]
    assert tf.strings.unicode_encode([104, 233], "UTF-8").numpy() == "hé".encode()
    assert tf.strings.unicode_encode([[104, 105], [0x110000, 65]], "UTF-8").tolist() == \
        [b"hi", "\ufffdA".encode()]
    assert tf.strings.bytes_split(["hé", "ab"]).to_list() == [[b"h", b"\xc3", b"\xa9"],
                                                             [b"a", b"b"]]


def test_ngrams():
    assert tf.strings.ngrams(["A", "B", "C", "D"], 2).tolist() == [b"A B", b"B C", b"C D"]
    assert tf.strings.ngrams(["A", "B", "C"], [1, 2], separator="-").tolist() == \
        [b"A", b"B", b"C", b"A-B", b"B-C"]
    rows = tf.ragged.constant([["a", "b", "c"], ["d"]])
    got = tf.strings.ngrams(rows, 2, pad_values=("<", ">"))
    assert got.to_list() == [[b"< a", b"a b", b"b c", b"c >"], [b"< d", b"d >"]]
    assert tf.strings.ngrams(rows, 3).to_list() == [[b"a b c"], []]
    assert tf.strings.ngrams(rows, 3, preserve_short_sequences=True).to_list() == \
        [[b"a b c"], [b"d"]]
    wide = tf.strings.ngrams(rows, 3, pad_values="#", padding_width=1)
    assert wide.to_list() == [[b"# a b", b"a b c", b"b c #"], [b"# d #"]]
    dense = tf.strings.ngrams(np.array([["a", "b"], ["c", "d"]]), 2)
    assert dense.to_list() == [[b"a b"], [b"c d"]]


def test_string_lookup_of_ragged_characters_and_back():
    ids_from_chars = tf.keras.layers.StringLookup(vocabulary=list("abcdefgxyz"),
                                                  mask_token=None)
    chars = tf.strings.unicode_split(["abcdefg", "xyz"], input_encoding="UTF-8")
    ids = ids_from_chars(chars)
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.to_list() == [[1, 2, 3, 4, 5, 6, 7], [8, 9, 10]]
    assert np.asarray(ids.to_tensor()).tolist() == [[1, 2, 3, 4, 5, 6, 7],
                                                    [8, 9, 10, 0, 0, 0, 0]]
    chars_from_ids = tf.keras.layers.StringLookup(
        vocabulary=ids_from_chars.get_vocabulary(), invert=True, mask_token=None)
    back = chars_from_ids(ids)
    assert back.to_list()[1] == [b"x", b"y", b"z"]
    assert tf.strings.reduce_join(back, axis=-1).numpy().tolist() == [b"abcdefg", b"xyz"]
    assert chars_from_ids(np.int64(3)).numpy().decode("utf-8") == "c"
    counts = tf.keras.layers.StringLookup(vocabulary=list("abc"), output_mode="count")
    assert np.asarray(counts(tf.strings.unicode_split(["aab", "c"], "UTF-8"))).tolist() == \
        [[0, 2, 1, 0], [0, 0, 0, 1]]


def test_one_step_generation_from_strings():
    """Characters of a batch of prompts -> ragged ids -> padded ids for a
    model -> sampled ids -> characters appended to the prompts."""
    vocab = list("abc")
    to_ids = tf.keras.layers.StringLookup(vocabulary=vocab, mask_token=None)
    to_chars = tf.keras.layers.StringLookup(vocabulary=to_ids.get_vocabulary(), invert=True,
                                            mask_token=None)
    model = tf.keras.Sequential([tf.keras.layers.Embedding(4, 3),
                                 tf.keras.layers.GRU(5), tf.keras.layers.Dense(4)])
    prompts = tf.constant(["ab", "c"])
    ids = to_ids(tf.strings.unicode_split(prompts, "UTF-8")).to_tensor()
    logits = model(ids)
    # [UNK] never sampled
    logits = logits + tf.sparse.to_dense(tf.SparseTensor([[0]], [-float("inf")], [4]))
    next_ids = tf.squeeze(tf.random.categorical(logits, num_samples=1), axis=-1)
    out = tf.strings.join([prompts, to_chars(next_ids)])
    texts = [out[i].numpy().decode("utf-8") for i in range(2)]
    assert texts[0][:2] == "ab" and texts[1][:1] == "c"
    assert all(len(t) == len(p) + 1 and t[-1] in vocab for t, p in zip(texts, ["ab", "c"]))


def test_split_gives_ragged_rows_and_datasets_give_string_tensors():
    rows = tf.strings.split(["a b", "c"])
    assert isinstance(rows, tf.RaggedTensor) and rows.to_list() == [[b"a", b"b"], [b"c"]]
    assert rows[0].numpy().tolist() == [b"a", b"b"]
    seen = [x.numpy().decode("utf-8")
            for x in tf.data.Dataset.from_tensor_slices(np.array(["ab", "ç"]))]
    assert seen == ["ab", "ç"]
    batch = next(iter(tf.data.Dataset.from_tensor_slices(tf.constant(["x", "y", "z"])).batch(2)))
    assert batch.numpy().tolist() == [b"x", b"y"]


def test_elementwise_string_ops_keep_ragged_rows():
    words = tf.strings.split(["Hello World", "ÉTÉ"])
    assert tf.strings.lower(words).to_list() == [[b"hello", b"world"], [b"\xc3\x89t\xc3\x89"]]
    assert tf.strings.lower(words, encoding="utf-8").to_list()[1] == ["été".encode()]
    assert tf.strings.length(words, unit="UTF8_CHAR").to_list() == [[5, 5], [3]]
    assert tf.strings.regex_replace(words, "o", "0").to_list()[0] == [b"Hell0", b"W0rld"]
    assert tf.strings.to_number(tf.strings.split(["1 2.5", "3"])).to_list() == [[1.0, 2.5],
                                                                              [3.0]]
