"""Keras/TF names and behaviours: metric objects given to compile are the
ones updated, TensorShape of unknown rank, ..."""
import copy
import pickle

import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras, needs_keras


def _binary_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x[:, 0] - x[:, 1] > 0).astype("float32")


# ------------------------------------------------ metric objects given to compile

def _auc_model(metric):
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[metric])
    return model


def test_compiled_metric_object_holds_the_training_result():
    x, y = _binary_data()
    auc = pynn.metrics.AUC()
    history = _auc_model(auc).fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert float(auc.result()) > 0
    assert float(auc.result()) == pytest.approx(history.history["auc"][-1], rel=1e-6)


def test_compiled_metric_object_after_validation_and_evaluate():
    # as Keras 3: validation (evaluate) resets the compiled metrics and
    # leaves them holding its own result
    x, y = _binary_data()
    xv, yv = _binary_data(32, seed=1)
    auc = pynn.metrics.AUC()
    model = _auc_model(auc)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, validation_data=(xv, yv))
    assert float(auc.result()) == pytest.approx(history.history["val_auc"][-1], rel=1e-6)
    assert history.history["auc"][-1] != history.history["val_auc"][-1]
    logs = model.evaluate(x[:40], y[:40], verbose=0, return_dict=True)
    assert float(auc.result()) == pytest.approx(logs["auc"], rel=1e-6)
    # listing the names leaves the user's metric alone
    before = float(auc.result())
    assert "auc" in model.metrics_names
    assert float(auc.result()) == before


def test_one_metric_object_for_two_outputs_counts_each_once():
    x, y = _binary_data()
    inp = pynn.Input((3,))
    outs = [layers.Dense(1, activation="sigmoid", name=n)(inp) for n in ("a", "b")]
    model = pynn.Model(inp, outs)
    acc = pynn.metrics.BinaryAccuracy()
    model.compile("sgd", "binary_crossentropy", metrics=[acc])
    logs = model.evaluate(x, [y, y], verbose=0, return_dict=True)
    assert float(acc.result()) == pytest.approx(logs["a_binary_accuracy"], rel=1e-6)
    assert 0 <= logs["b_binary_accuracy"] <= 1


# ------------------------------------------------ TensorShape of unknown rank

def test_tensorshape_unknown_rank_as_tensorflow():
    u = pynn.TensorShape(None)
    assert u.rank is None and u.ndims is None and u.dims is None
    assert repr(u) == "TensorShape(None)" and str(u) == "<unknown>"
    assert not bool(u) and not u.is_fully_defined() and u.num_elements() is None
    for f in (u.as_list, lambda: len(u), lambda: list(u)):
        with pytest.raises(ValueError):
            f()
    assert u[0] is None and u[1:].rank is None
    assert u == pynn.TensorShape(None) and u != pynn.TensorShape([])
    assert pynn.TensorShape([]) != u
    assert pynn.TensorShape([2]).concatenate(u).rank is None
    assert pynn.TensorShape(u).rank is None
    assert copy.deepcopy(u).rank is None and pickle.loads(pickle.dumps(u)).rank is None
    assert isinstance(u, pynn.TensorShape)


def test_tensorshape_scalar():
    s = pynn.TensorShape([])
    assert s.rank == 0 and s.as_list() == [] and s.is_fully_defined()
    assert s.num_elements() == 1
    known = pynn.TensorShape([2, None])
    assert copy.deepcopy(known) == known and pickle.loads(pickle.dumps(known)).as_list() == [2, None]


# ------------------------------------------------ Normalization on single elements

@needs_keras
@pytest.mark.parametrize("axis,shape", [(-1, (20, 3)), (None, (20, 3)), (-1, (4, 5, 5, 3)),
                                        ((1, 2), (4, 5, 5, 3))])
def test_normalization_on_one_element_as_keras(axis, shape):
    x = np.random.default_rng(0).normal(2.0, 3.0, size=shape).astype("float32")
    ours, theirs = layers.Normalization(axis=axis), keras.layers.Normalization(axis=axis)
    ours.adapt(x)
    theirs.adapt(x)
    want = np.asarray(theirs(x[0]))
    got = np.asarray(ours(x[0]))
    assert got.shape == want.shape   # (1, ...): the statistics broadcast, as Keras
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_normalization_in_dataset_map_on_single_examples():
    x = np.random.default_rng(1).normal(size=(50, 3)).astype("float32")
    norm = layers.Normalization()
    norm.adapt(pynn.data.Dataset.from_tensor_slices(x))   # rows: batched by 128, as Keras
    np.testing.assert_allclose(norm.mean.numpy(), x.mean(0), rtol=1e-5, atol=1e-6)
    out = list(pynn.data.Dataset.from_tensor_slices(x).map(norm).take(2))
    assert out[0].shape == (1, 3)
    want = (x[1] - x.mean(0)) / x.std(0)
    np.testing.assert_allclose(np.asarray(out[1])[0], want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        norm(np.zeros(4, np.float32))   # not an element of the adapted data
