"""Keras 3 behaviours: class_weight on per-element targets, ..."""
import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras as real_keras, needs_keras


def _fit_loss(model_fn, loss, x, y, **kw):
    pynn.utils.set_random_seed(3)
    m = model_fn()
    m.compile(pynn.optimizers.SGD(0.1), loss)
    h = m.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, **kw)
    return h.history["loss"], m.get_weights()


@needs_keras
@pytest.mark.parametrize("case", ["sparse", "sparse_col", "onehot", "binary"])
def test_class_weight_per_sample_as_keras(case):
    from keras.src.trainers.data_adapters.data_adapter_utils import \
        class_weight_to_sample_weights
    g = np.random.default_rng(0)
    x = g.normal(size=(8, 3)).astype(np.float32)
    labels = g.integers(0, 3, 8)
    cw = {0: 1.0, 1: 4.0, 2: 0.25}
    units, loss, act = 3, "sparse_categorical_crossentropy", "softmax"
    y = labels
    if case == "sparse_col":
        y = labels[:, None]
    elif case == "onehot":
        y, loss = np.eye(3, dtype=np.float32)[labels], "categorical_crossentropy"
    elif case == "binary":
        y, units, loss, act = (labels[:, None] > 0).astype(np.float32), 1, \
            "binary_crossentropy", "sigmoid"

    def model():
        return pynn.Sequential([pynn.Input((3,)), layers.Dense(units, activation=act)])
    want = class_weight_to_sample_weights(y, cw)
    a = _fit_loss(model, loss, x, y, class_weight=cw)
    b = _fit_loss(model, loss, x, y, sample_weight=want)
    assert a[0] == b[0]
    for p, q in zip(a[1], b[1]):
        np.testing.assert_array_equal(p, q)
    # keys are read with int(), as Keras's newer releases do
    c = _fit_loss(model, loss, x, y, class_weight={str(k): v for k, v in cw.items()})
    assert c[0] == a[0]


def _segmenter():
    return pynn.Sequential([pynn.Input((4, 4, 2)), layers.Conv2D(3, 1, activation="softmax")])


@pytest.mark.parametrize("encoding", ["sparse", "sparse_channel", "onehot"])
def test_class_weight_weighs_every_pixel(encoding):
    g = np.random.default_rng(1)
    x = g.normal(size=(8, 4, 4, 2)).astype(np.float32)
    mask = g.integers(0, 3, (8, 4, 4))
    cw = {0: 0.5, 1: 4.0}  # class 2 is not listed: weight 1
    per_pixel = np.choose(mask, [0.5, 4.0, 1.0]).astype(np.float32)
    y, loss = mask, "sparse_categorical_crossentropy"
    if encoding == "sparse_channel":
        y = mask[..., None]
    elif encoding == "onehot":
        y, loss = np.eye(3, dtype=np.float32)[mask], "categorical_crossentropy"
    a = _fit_loss(_segmenter, loss, x, y, class_weight=cw)
    b = _fit_loss(_segmenter, loss, x, y, sample_weight=per_pixel)
    first = _fit_loss(_segmenter, loss, x, y,
                      sample_weight=np.choose(mask[:, 0, 0], [0.5, 4.0, 1.0]))
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
    assert not np.allclose(a[0], first[0])


def test_class_weight_per_timestep_of_sequence_labels():
    g = np.random.default_rng(2)
    x = g.normal(size=(8, 5, 2)).astype(np.float32)
    tags = g.integers(0, 3, (8, 5))

    def tagger():
        return pynn.Sequential([pynn.Input((5, 2)), layers.Dense(3, activation="softmax")])
    cw = {0: 0.1, 1: 2.0, 2: 3.0}
    a = _fit_loss(tagger, "sparse_categorical_crossentropy", x, tags, class_weight=cw)
    b = _fit_loss(tagger, "sparse_categorical_crossentropy", x, tags,
                  sample_weight=np.choose(tags, [0.1, 2.0, 3.0]).astype(np.float32))
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)


def test_class_weight_refusals_as_keras():
    m = pynn.Sequential([pynn.Input((3,)), layers.Dense(2, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.zeros((4, 3), np.float32), np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="class_weight and sample_weight"):
        m.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(4), verbose=0)
    with pytest.raises(ValueError, match="integer keys"):
        m.fit(x, y, class_weight={"a": 1.0}, verbose=0)
    with pytest.raises(ValueError, match="dict"):
        m.fit(x, y, class_weight=[1.0, 2.0], verbose=0)


def _two_outputs(k, cls=None):
    inp = k.Input((3,))
    outs = [k.layers.Dense(2, name="a")(inp), k.layers.Dense(1, name="b")(inp)]
    m = (cls or k.Model)(inp, outs)
    m.compile("sgd", ["mse", "mae"], metrics=[["mae"], ["mse"]])
    return m


@needs_keras
def test_model_metrics_are_the_loss_tracker_and_compile_metrics():
    for k in (pynn, real_keras):
        m = _two_outputs(k)
        assert [(type(x).__name__, x.name) for x in m.metrics] == \
            [("Mean", "loss"), ("CompileMetrics", "compile_metrics")]
    # (Keras builds the inner metrics at the first step, named as compile
    # named them; pynn at once)
    assert [x.name for x in _two_outputs(pynn).metrics[1].metrics] == ["mae", "mse"]
    seq = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
    seq.compile("sgd", "mse")  # no metrics: no CompileMetrics, as Keras
    assert [x.name for x in seq.metrics] == ["loss"]


@needs_keras
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_custom_test_step_updating_every_model_metric_on_two_outputs():
    def build(k):
        class Net(k.Model):
            def test_step(self, data):
                x, y = data
                y_pred = self(x, training=False)
                for metric in self.metrics:
                    if metric.name != "loss":
                        metric.update_state(y, y_pred)
                return {m.name: m.result() for m in self.metrics}
        return _two_outputs(k, Net)
    ours, theirs = build(pynn), build(real_keras)
    theirs.set_weights(ours.get_weights())
    g = np.random.default_rng(4)
    x = g.normal(size=(6, 3)).astype(np.float32)
    y = [g.normal(size=(6, 2)).astype(np.float32), g.normal(size=(6, 1)).astype(np.float32)]
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
    compiled = ours.metrics[1]
    assert set(compiled.result()) == {"a_mae", "b_mse"}
    compiled.reset_state()
    assert all(float(v) == 0.0 for v in compiled.result().values())


def _ignores_targets(y_true, y_pred):
    return pynn.ops.mean(y_pred ** 2)


def _one_output():
    inp = pynn.Input((3,))
    return pynn.Model(inp, layers.Dense(1)(inp))


@needs_keras
def test_dummy_targets_as_keras_checks_them():
    x = np.ones((8, 3), np.float32)
    for k in (pynn, real_keras):
        inp = k.Input((3,))
        m = k.Model(inp, k.layers.Dense(1)(inp))
        m.compile("sgd", lambda t, p: k.ops.mean(p ** 2))
        # arrays: every array has x's rows (Keras 3's array adapter)
        with pytest.raises(ValueError, match="cardinality"):
            m.evaluate(x, np.zeros(1), verbose=0)
        # a generator's batches are not checked; y=None reaches the loss
        batches = ((x[:4], np.zeros(1)) for _ in range(2))
        assert np.isfinite(m.evaluate(batches, steps=2, verbose=0))
        assert np.isfinite(m.evaluate(x, verbose=0))


def test_no_targets_for_a_loss_of_the_programs_own():
    x = np.ones((8, 3), np.float32)
    m = _one_output()
    m.compile(pynn.optimizers.SGD(0.1), _ignores_targets)
    losses = m.fit(x, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    # a loss that reads y_true fails as in Keras, not with NaN
    m.compile("sgd", lambda t, p: pynn.ops.mean((t - p) ** 2))
    with pytest.raises(TypeError, match="None"):
        m.fit(x, verbose=0)
    m.compile("sgd", "mse")  # pynn's own losses read their targets
    with pytest.raises(ValueError, match="no targets"):
        m.fit(x, verbose=0)


def test_add_loss_model_refuses_arrays_of_other_rows():
    class Penalty(layers.Layer):
        def call(self, x):
            self.add_loss(pynn.ops.mean(x ** 2))
            return x
    inp = pynn.Input((3,))
    m = pynn.Model(inp, Penalty()(layers.Dense(1)(inp)))
    m.compile("sgd")
    x = np.ones((8, 3), np.float32)
    assert np.isfinite(m.evaluate(x, verbose=0))
    with pytest.raises(ValueError, match="cardinality"):
        m.evaluate(x, np.zeros(1), verbose=0)


@needs_keras
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_two_output_batch_results_in_keras_order():
    def build(k):
        inp = k.Input((3,))
        outs = [k.layers.Dense(2, name="a")(inp), k.layers.Dense(1, name="b")(inp)]
        m = k.Model(inp, outs)
        m.compile(k.optimizers.SGD(0.0), ["mse", "mae"],
                  metrics=[["mae", "accuracy"], ["mse"]], loss_weights=[1.0, 0.5])
        return m
    ours, theirs = build(pynn), build(real_keras)
    theirs.set_weights(ours.get_weights())
    g = np.random.default_rng(5)
    x = g.normal(size=(4, 3)).astype(np.float32)
    y = [g.normal(size=(4, 2)).astype(np.float32), g.normal(size=(4, 1)).astype(np.float32)]
    want = theirs.test_on_batch(x, y)
    for got in (ours.test_on_batch(x, y), ours.evaluate(x, y, verbose=0),
                ours.train_on_batch(x, y)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # metrics_names names those values in that order (tf.keras's use of it)
    named = dict(zip(ours.metrics_names, ours.test_on_batch(x, y)))
    assert named == pytest.approx(ours.test_on_batch(x, y, return_dict=True))
    assert ours.metrics_names == ["loss", "a_loss", "b_loss", "a_accuracy", "a_mae", "b_mse"]


def test_tf_nn_dropout_in_a_functional_model(tmp_path):
    inp = pynn.Input((64,))
    out = pynn.nn.dropout(inp, 0.5)
    m = pynn.Model(inp, out)
    x = np.ones((8, 64), np.float32)
    # TensorFlow's op drops whenever it runs: in predict too, a new mask
    # each time, the kept entries scaled by 1 / (1 - rate)
    a, b = m.predict(x, verbose=0), np.asarray(m(x))
    for p in (a, b):
        assert set(np.unique(p)) == {0.0, 2.0}
    assert not np.array_equal(a, m.predict(x, verbose=0))
    m.save(tmp_path / "drop.pynn")
    back = pynn.models.load_model(tmp_path / "drop.pynn").predict(x, verbose=0)
    assert set(np.unique(back)) == {0.0, 2.0}
    # the gradient flows through the kept entries
    dense = layers.Dense(4, kernel_initializer="ones")
    inp = pynn.Input((3,))
    m = pynn.Model(inp, pynn.nn.dropout(dense(inp), rate=0.25))
    m.compile(pynn.optimizers.SGD(0.01), "mse")
    before = dense.get_weights()[0].copy()
    m.fit(np.ones((4, 3), np.float32), np.zeros((4, 4), np.float32), verbose=0)
    assert not np.array_equal(before, dense.get_weights()[0])


@needs_keras
def test_an_unused_input_is_taken_silently(recwarn):
    for k in (pynn, real_keras):
        a, b = k.Input((3,)), k.Input((2,), name="spare")
        m = k.Model([a, b], k.layers.Dense(1)(a))
        assert m.predict([np.ones((2, 3)), np.ones((2, 2))], verbose=0).shape == (2, 1)
        assert len(m.inputs) == 2
    assert not [w for w in recwarn if "spare" in str(w.message)]


def test_dataset_snapshot_and_file_cache(tmp_path):
    runs = []

    def features(i):
        runs.append(int(i))
        return {"x": np.full((2,), i, np.float32), "tag": "t"}, i * 2

    def pipeline():
        return pynn.data.Dataset.range(4).map(features)
    first = list(pipeline().snapshot(str(tmp_path / "snap")).as_numpy_iterator())
    assert runs == [0, 1, 2, 3]
    # a later run (a new pipeline object) reads the files, not the pipeline
    again = list(pipeline().snapshot(str(tmp_path / "snap")).as_numpy_iterator())
    assert runs == [0, 1, 2, 3]
    assert len(again) == 4
    for (a, ya), (b, yb) in zip(first, again):
        np.testing.assert_array_equal(a["x"], b["x"])
        assert a["x"].dtype == b["x"].dtype and str(b["tag"]) == "t" and ya == yb
    # an interrupted first pass writes nothing
    cached = pipeline().cache(str(tmp_path / "c"))
    next(iter(cached))
    assert not (tmp_path / "c.npz").exists()
    assert [int(y) for _, y in cached.as_numpy_iterator()] == [0, 2, 4, 6]
    assert (tmp_path / "c.npz").exists()
    del runs[:]
    assert [int(y) for _, y in pipeline().cache(str(tmp_path / "c"))] == [0, 2, 4, 6]
    assert runs == []
    # the files hold no pickles
    with np.load(tmp_path / "c.npz", allow_pickle=False) as data:
        assert all(data[k].dtype.kind != "O" for k in data.files)
