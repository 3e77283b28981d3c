"""AUC, F1Score/FBetaScore, IoU/MeanIoU/BinaryIoU against Keras 3 (its NumPy
backend, a test-only reference): standalone (update_state over several
batches, result, reset_state) and in compile(metrics=[...])."""

import numpy as np
import pytest

import pynn
from pynn import layers, metrics

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = [needs_keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def batches(shape, seed, n=3, labels="binary", classes=2, per_value=False):
    g = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if labels == "binary":
            y = (g.random(shape) < 0.4).astype(np.float32)
            p = np.clip(0.6 * y + 0.7 * g.random(shape) - 0.2, 0, 1).astype(np.float32)
        elif labels == "onehot":
            y = np.eye(classes, dtype=np.float32)[g.integers(0, classes, shape[0])]
            p = g.random((shape[0], classes)).astype(np.float32)
            p /= p.sum(axis=1, keepdims=True)
        else:  # sparse ids
            y = g.integers(0, classes, shape)
            p = np.where(g.random(shape) < 0.6, y, g.integers(0, classes, shape))
        w = g.random(shape if per_value else shape[0]).astype(np.float32)
        out.append((y, p, w))
    return out


def compare(ours, theirs, data, weighted, rtol=1e-5, atol=1e-6):
    for y, p, w in data:
        ours.update_state(y, p, sample_weight=w if weighted else None)
        theirs.update_state(y, p, sample_weight=w if weighted else None)
    want = keras.ops.convert_to_numpy(theirs.result())
    np.testing.assert_allclose(ours.result(), want, rtol=rtol, atol=atol)
    ours.reset_state()
    theirs.reset_state()
    y, p, w = data[0]
    ours.update_state(y, p)
    theirs.update_state(y, p)
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()),
                               rtol=rtol, atol=atol)


AUC_CASES = [{}, {"curve": "PR"}, {"num_thresholds": 7},
             {"summation_method": "minoring"}, {"summation_method": "majoring", "curve": "PR"},
             {"thresholds": [0.1, 0.35, 0.5, 0.8]}, {"multi_label": True},
             {"multi_label": True, "curve": "PR", "label_weights": [0.2, 1.0, 0.5]},
             {"label_weights": [0.3, 1.0, 2.0]}]


@pytest.mark.parametrize("kwargs", AUC_CASES, ids=lambda k: "-".join(map(str, k.items())) or
                         "default")
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_matches_keras(kwargs, weighted):
    compare(metrics.AUC(**kwargs), keras.metrics.AUC(**kwargs), batches((50, 3), 1), weighted)


def test_auc_from_logits_and_1d():
    g = np.random.default_rng(5)
    y = (g.random(40) < 0.5).astype(np.float32)
    logits = (g.normal(size=40) + 2 * y).astype(np.float32)
    ours, theirs = metrics.AUC(from_logits=True), keras.metrics.AUC(from_logits=True)
    ours.update_state(y, logits)
    theirs.update_state(y, logits)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
@pytest.mark.parametrize("weighted", [False, True])
def test_f1_and_fbeta_match_keras(average, threshold, weighted):
    for make_ours, make_theirs in ((lambda: metrics.F1Score(average, threshold),
                                    lambda: keras.metrics.F1Score(average, threshold)),
                                   (lambda: metrics.FBetaScore(average, 0.5, threshold),
                                    lambda: keras.metrics.FBetaScore(average, 0.5, threshold))):
        compare(make_ours(), make_theirs(), batches((30, 4), 2, labels="onehot", classes=4),
                weighted)
        compare(make_ours(), make_theirs(), batches((30, 3), 3), weighted)


@pytest.mark.parametrize("weighted", [False, True])
def test_iou_metrics_match_keras(weighted):
    data = batches((40, 5), 4, labels="sparse", classes=4, per_value=True)
    compare(metrics.MeanIoU(4), keras.metrics.MeanIoU(4), data, weighted)
    compare(metrics.MeanIoU(4, ignore_class=2), keras.metrics.MeanIoU(4, ignore_class=2),
            data, weighted)
    compare(metrics.IoU(4, [0, 3]), keras.metrics.IoU(4, [0, 3]), data, weighted)
    onehot = batches((30, 3), 6, labels="onehot", classes=3)
    compare(metrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False),
            keras.metrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False), onehot,
            weighted)
    for ids, threshold in (((0, 1), 0.5), ((1,), 0.3)):
        compare(metrics.BinaryIoU(ids, threshold), keras.metrics.BinaryIoU(ids, threshold),
                batches((30, 2), 7, per_value=True), weighted)


def test_keras_docstring_examples():
    m = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
    assert m.result() == pytest.approx(0.33333334, rel=1e-6)
    m = metrics.MeanIoU(num_classes=2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert m.result() == pytest.approx(0.33333334, rel=1e-6)


def test_in_compile_and_fit_matches_keras():
    g = np.random.default_rng(8)
    x = g.normal(size=(64, 5)).astype(np.float32)
    y = (x[:, :1] + 0.5 * g.normal(size=(64, 1)) > 0).astype(np.float32)
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="sigmoid")])
    pm = pynn.Sequential([pynn.Input((5,)), layers.Dense(1, activation="sigmoid")])
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    km.compile(loss="binary_crossentropy",
               metrics=[keras.metrics.AUC(name="auc"), keras.metrics.AUC(curve="PR", name="pr"),
                        keras.metrics.F1Score(threshold=0.5, name="f1_score"),
                        keras.metrics.BinaryIoU(name="binary_io_u")])
    pm.compile(loss="binary_crossentropy",
               metrics=[metrics.AUC(), metrics.AUC(curve="PR", name="pr"),
                        metrics.F1Score(threshold=0.5), metrics.BinaryIoU()])
    want = km.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    got = pm.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for key in ("auc", "pr", "f1_score", "binary_io_u"):
        np.testing.assert_allclose(np.asarray(got[key]).reshape(-1),
                                   np.asarray(want[key]).reshape(-1), rtol=1e-4, atol=1e-5)
    assert metrics.AUC().name == "auc" and metrics.BinaryIoU().name == "binary_io_u"
    history = pm.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert "auc" in history.history and "pr" in history.history
    assert metrics.get("auc").name == "auc"


def test_bad_arguments():
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="out of range"):
        metrics.IoU(3, [3])
    with pytest.raises(ValueError, match="2D"):
        metrics.F1Score().update_state(np.zeros(3), np.zeros(3))
