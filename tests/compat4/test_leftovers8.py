"""Keras names and behaviours: tf.keras 2's scikit-learn wrappers, the
``get`` functions of losses, metrics, activations, ..., feature columns,
Keras 2 layer names, Variable.value()."""
import sys

import numpy as np
import pytest

import pynn
from pynn import layers


# ------------------------------------------------ keras.wrappers.scikit_learn

def _binary_model(units=8, learning_rate=0.05):
    model = pynn.Sequential([layers.Dense(units, input_dim=4, activation="relu"),
                             layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=pynn.optimizers.Adam(learning_rate),
                  metrics=["accuracy"])
    return model


def _softmax_model(learning_rate=0.05):
    model = pynn.Sequential([pynn.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy",
                  optimizer=pynn.optimizers.Adam(learning_rate), metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 4)).astype("float32")
    return x, np.where(x[:, 0] - x[:, 1] > 0, "up", "down")


def test_keras2_wrappers_need_no_scikit_learn(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)   # import sklearn fails
    from pynn.wrappers.scikit_learn import KerasClassifier, KerasRegressor
    assert pynn.keras.wrappers.scikit_learn.KerasRegressor is KerasRegressor
    pynn.utils.set_random_seed(0)
    x, y = _data()
    clf = KerasClassifier(build_fn=_binary_model, units=6, epochs=40, batch_size=16,
                          verbose=0)
    assert clf.get_params() == {"build_fn": _binary_model, "units": 6, "epochs": 40,
                                "batch_size": 16, "verbose": 0}
    clf.set_params(learning_rate=0.02)
    history = clf.fit(x, y)
    assert len(history.history["loss"]) == 40          # epochs from sk_params
    assert clf.model.layers[0].units == 6                  # units to build_fn
    assert clf.model.optimizer.learning_rate == pytest.approx(0.02)
    assert list(clf.classes_) == ["down", "up"] and clf.n_classes_ == 2
    pred = clf.predict(x)
    assert pred.shape == (150,) and pred.dtype == y.dtype
    proba = clf.predict_proba(x[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert proba.shape == (5, 2)
    np.testing.assert_array_equal(pred[:5], clf.classes_[proba.argmax(axis=1)])
    assert clf.score(x, y) == pytest.approx(np.mean(pred == y)) and clf.score(x, y) > 0.9
    with pytest.raises(ValueError, match="epoch is not a legal parameter"):
        KerasClassifier(_binary_model, epoch=3)
    with pytest.raises(ValueError, match="not a legal parameter"):
        clf.set_params(unit=3)


def test_keras2_wrappers_labels_and_onehot():
    from pynn.wrappers.scikit_learn import KerasClassifier, KerasRegressor
    pynn.utils.set_random_seed(0)
    x, _ = _data()
    y = np.array([7, 3, 5])[np.digitize(x[:, 0], [-0.5, 0.5])]
    # categorical crossentropy: integer labels are one-hot encoded for fit and score
    clf = KerasClassifier(_softmax_model, epochs=60, verbose=0)
    clf.fit(x, y)
    assert list(clf.classes_) == [3, 5, 7]
    assert clf.score(x, y) == pytest.approx(np.mean(clf.predict(x) == y))
    assert clf.predict_proba(x[:4]).shape == (4, 3)

    def no_accuracy():
        model = _softmax_model()
        model.compile(loss="categorical_crossentropy", optimizer="adam")
        return model
    clf = KerasClassifier(no_accuracy, epochs=1, verbose=0)
    clf.fit(x, y)
    with pytest.raises(ValueError, match='metrics=\\["accuracy"\\]'):
        clf.score(x, y)

    class Builder:                  # an object with __call__ as the build function
        def __call__(self, learning_rate=0.1):
            model = pynn.Sequential([pynn.Input((4,)), layers.Dense(1)])
            model.compile(loss="mse", optimizer=pynn.optimizers.SGD(learning_rate))
            return model
    target = x @ np.array([1.0, -2.0, 0.5, 3.0], "float32")
    reg = KerasRegressor(Builder(), learning_rate=0.05, epochs=60, verbose=0)
    reg.fit(x, target)
    assert reg.predict(x).shape == (150,)
    loss = reg.model.evaluate(x, target, verbose=0)
    assert reg.score(x, target) == pytest.approx(-loss) and -loss > -0.01


def test_keras2_wrappers_in_scikit_learn():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from pynn.wrappers.scikit_learn import KerasClassifier, KerasRegressor
    pynn.utils.set_random_seed(0)
    x, y = _data()
    clf = KerasClassifier(build_fn=_binary_model, epochs=30, batch_size=10, verbose=0)
    assert is_classifier(clf) and is_regressor(KerasRegressor(_binary_model))
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    pipeline = Pipeline([("scale", StandardScaler()), ("net", clf)])
    scores = cross_val_score(pipeline, x * 3 + 5, y,
                             cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and scores.min() > 0.8
    assert pipeline.fit(x * 3 + 5, y).predict(x[:3] * 3 + 5).shape == (3,)
    grid = GridSearchCV(clf, {"units": [2, 8], "epochs": [1, 20]}, cv=2, scoring="roc_auc")
    grid.fit(x, y, batch_size=25)                         # fit arguments pass through
    assert grid.best_params_["epochs"] == 20 and grid.best_score_ > 0.9
    assert grid.best_estimator_.model.layers[0].units == grid.best_params_["units"]

    def linear(learning_rate=0.1):
        model = pynn.Sequential([pynn.Input((4,)), layers.Dense(1)])
        model.compile(loss="mse", optimizer=pynn.optimizers.SGD(learning_rate))
        return model
    reg = KerasRegressor(linear, epochs=30, verbose=0)
    target = x @ np.array([1.0, 2.0, 3.0, 4.0], "float32")
    scores = cross_val_score(reg, x, target, cv=3, scoring="r2")
    assert scores.min() > 0.99


# ------------------------------------------------------- the get functions

def _kind(obj):
    """What a get function returned, in words both libraries share."""
    if obj is None:
        return None
    if isinstance(obj, type):
        return ("class", obj.__name__)
    if hasattr(obj, "__name__") and callable(obj):
        return ("function", obj.__name__)
    return ("instance", type(obj).__name__)


@pytest.mark.parametrize("module,identifiers", [
    ("losses", ["mse", "mae", "categorical_crossentropy", "binary_crossentropy", "huber",
                "sparse_categorical_crossentropy", "MeanSquaredError", "Huber", None,
                {"class_name": "MeanSquaredError", "config": {}}]),
    ("metrics", ["mse", "accuracy", "AUC", "categorical_accuracy", None,
                 {"class_name": "AUC", "config": {}}]),
    ("optimizers", ["adam", "Adam", "sgd", None]),
    ("activations", ["relu", None, "softmax"]),
    ("initializers", ["glorot_uniform", "Zeros", None]),
    ("regularizers", ["l2", "L1", None, {"class_name": "L2", "config": {"l2": 0.1}}]),
    ("constraints", ["max_norm", "NonNeg", None, {"class_name": "MaxNorm", "config": {}}]),
])
def test_get_returns_what_keras_returns(keras, module, identifiers):
    for identifier in identifiers:
        ours = getattr(pynn, module).get(identifier)
        theirs = getattr(keras, module).get(identifier)
        assert _kind(ours) == _kind(theirs), (module, identifier)
        if module == "metrics" and identifier in ("mse", "accuracy", "categorical_accuracy"):
            assert ours.name == theirs.name
    with pytest.raises(ValueError):
        getattr(pynn, module).get("no_such_thing")


def test_functions_and_objects_pass_through_get(keras):
    fn = lambda y_true, y_pred: (y_true - y_pred) ** 2  # noqa: E731
    assert pynn.losses.get(fn) is fn and pynn.metrics.get(fn) is fn
    assert pynn.losses.get(pynn.losses.mean_squared_error) is pynn.losses.mean_squared_error
    loss = pynn.losses.Huber(delta=2.0)
    assert pynn.losses.get(loss) is loss
    metric = pynn.metrics.AUC()
    assert pynn.metrics.get(metric) is metric
    assert pynn.regularizers.get(np.sum) is np.sum and pynn.constraints.get(np.abs) is np.abs

    def penalty(w):
        return 0.5 * pynn.reduce_sum(w ** 2)
    dense = layers.Dense(1, kernel_regularizer=penalty, kernel_constraint=np.abs,
                         kernel_initializer="ones", use_bias=False)
    assert dense.kernel_regularizer is penalty and dense.kernel_constraint is np.abs  # as Keras
    model = pynn.Sequential([pynn.Input((2,)), dense])
    model.compile(optimizer=pynn.optimizers.SGD(0.0), loss="mse")
    assert model.evaluate(np.zeros((1, 2)), np.zeros((1, 1)), verbose=0) == pytest.approx(1.0)
    # the function of a name is the per-sample loss, as Keras's
    y_true = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], "float32")
    y_pred = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], "float32")
    for name in ("mse", "categorical_crossentropy", "huber", "bce"):
        np.testing.assert_allclose(np.asarray(pynn.losses.get(name)(y_true, y_pred)),
                                   np.asarray(keras.losses.get(name)(y_true, y_pred)),
                                   rtol=1e-5)


@pytest.mark.parametrize("loss", ["mse", "categorical_crossentropy",
                                  pynn.losses.get("categorical_crossentropy"),
                                  pynn.losses.CategoricalCrossentropy(), "bce"])
def test_compile_takes_what_get_gives(loss):
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(16) % 2]
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=pynn.optimizers.get("sgd"), loss=loss,
                  metrics=[pynn.metrics.get("categorical_accuracy")])
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert "categorical_accuracy" in history.history
    with pytest.raises(ValueError, match="optimizer is None"):
        model.compile(optimizer=None, loss=loss)


# ------------------------------------------- tf.feature_column, DenseFeatures

fc = pynn.feature_column


def _dense(columns, features):
    return np.asarray(layers.DenseFeatures(columns)(features))


def test_numeric_and_bucketized_columns():
    def double(x):
        return x * 2.0
    pair = fc.numeric_column("p", shape=(2,), normalizer_fn=double)
    np.testing.assert_array_equal(_dense([pair], {"p": np.array([[1, 2], [3, 4]])}),
                                  [[2, 4], [6, 8]])
    age = fc.numeric_column("age")
    buckets = fc.bucketized_column(age, boundaries=[18, 30, 50])
    ages = np.array([10.0, 18.0, 29.9, 50.0, 60.0])
    want = np.eye(4)[[0, 1, 1, 3, 3]]                  # b[i-1] <= x < b[i] is bucket i
    np.testing.assert_array_equal(_dense([buckets], {"age": ages}), want)
    # the columns side by side in the order of their names: age, age_bucketized
    np.testing.assert_allclose(_dense([buckets, age], {"age": ages}),
                               np.column_stack([ages, want]), rtol=1e-6)
    assert buckets.name == "age_bucketized" and buckets.num_buckets == 4
    with pytest.raises(ValueError, match="sorted"):
        fc.bucketized_column(age, [3, 1])
    with pytest.raises(ValueError, match="expected 2 value"):
        _dense([pair], {"p": np.ones(3)})
    with pytest.raises(ValueError, match="no 'age'"):
        _dense([age], {"agee": ages})


def test_dense_features_of_one_column_on_a_dataset_batch():
    data = {"age": np.array([63.0, 41.0]), "thal": np.array(["fixed", "normal"])}
    ds = pynn.data.Dataset.from_tensor_slices((data, np.array([1, 0]))).batch(2)
    batch = next(iter(ds))[0]
    layer = layers.DenseFeatures(fc.numeric_column("age"))        # one column, as TF takes
    np.testing.assert_array_equal(layer(batch).numpy(), [[63.0], [41.0]])


def test_categorical_columns_through_indicator_columns():
    thal = fc.categorical_column_with_vocabulary_list("thal", ["fixed", "normal", "reversible"])
    values = np.array([b"normal", b"fixed", b"other", b"reversible"])
    np.testing.assert_array_equal(_dense([fc.indicator_column(thal)], {"thal": values}),
                                  [[0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 1]])
    oov = fc.categorical_column_with_vocabulary_list("thal", ["fixed", "normal"],
                                                     num_oov_buckets=3)
    out = _dense([fc.indicator_column(oov)], {"thal": np.array(["normal", "x", "y", "x"])})
    assert out.shape == (4, 5) and (out.sum(axis=1) == 1).all() and out[0, 1] == 1
    assert out[1:, :2].sum() == 0 and (out[1] == out[3]).all()     # same value, same bucket
    ident = fc.categorical_column_with_identity("n", num_buckets=4)
    np.testing.assert_array_equal(
        _dense([fc.indicator_column(ident)], {"n": np.array([[0, 3], [1, 1]])}),
        [[1, 0, 0, 1], [0, 2, 0, 0]])                                 # counts of each id
    with pytest.raises(ValueError, match=r"ids must be in \[0, 4\)"):
        _dense([fc.indicator_column(ident)], {"n": np.array([5])})
    fallback = fc.categorical_column_with_identity("n", num_buckets=4, default_value=0)
    np.testing.assert_array_equal(_dense([fc.indicator_column(fallback)], {"n": np.array([9])}),
                                  [[1, 0, 0, 0]])
    hashed = fc.categorical_column_with_hash_bucket("city", hash_bucket_size=7)
    cities = np.array(["paris", "rome", "paris", "oslo"])
    out = _dense([fc.indicator_column(hashed)], {"city": cities})
    assert out.shape == (4, 7) and (out.sum(axis=1) == 1).all() and (out[0] == out[2]).all()
    # TensorFlow's buckets: FarmHash's Fingerprint64, as to_hash_bucket_fast
    # (whose documented example is ["Hello", "TensorFlow", "2.x"] -> [0, 2, 2])
    words = fc.categorical_column_with_hash_bucket("w", hash_bucket_size=3)
    np.testing.assert_array_equal(
        _dense([fc.indicator_column(words)], {"w": np.array(["Hello", "TensorFlow", "2.x"])}),
        np.eye(3)[[0, 2, 2]])
    np.testing.assert_array_equal(np.argmax(out, axis=1),
                                  pynn.strings.to_hash_bucket_fast(cities, 7))
    vocab = fc.categorical_column_with_vocabulary_list("w", ["TensorFlow"], num_oov_buckets=3)
    np.testing.assert_array_equal(
        _dense([fc.indicator_column(vocab)], {"w": np.array(["Hello", "TensorFlow", "2.x"])}),
        np.eye(4)[[1, 0, 3]])
    with pytest.raises(ValueError, match="indicator_column or embedding_column"):
        layers.DenseFeatures([thal])


def test_embedding_column_combines_rows_of_its_table():
    color = fc.categorical_column_with_vocabulary_list("color", ["r", "g", "b"])
    table = np.arange(6, dtype="float32").reshape(3, 2)
    features = {"color": np.array([["r", "b"], ["g", "g"], ["x", "x"]])}
    for combiner, want in (("mean", [(table[0] + table[2]) / 2, table[1], [0, 0]]),
                           ("sum", [table[0] + table[2], 2 * table[1], [0, 0]]),
                           ("sqrtn", [(table[0] + table[2]) / np.sqrt(2),
                                      2 * table[1] / np.sqrt(2), [0, 0]])):
        layer = layers.DenseFeatures([fc.embedding_column(color, 2, combiner=combiner)])
        layer(features)
        layer.set_weights([table])
        np.testing.assert_allclose(np.asarray(layer(features)), want, rtol=1e-6)
    layer = layers.DenseFeatures([fc.embedding_column(color, 8)])
    layer(features)
    (w,) = layer.get_weights()
    assert w.shape == (3, 8) and np.abs(w).max() <= 2 / np.sqrt(8)   # truncated normal


def test_crossed_column():
    age = fc.bucketized_column(fc.numeric_column("age"), [30])
    thal = fc.categorical_column_with_vocabulary_list("thal", ["a", "b"])
    cross = fc.crossed_column([age, thal], hash_bucket_size=50)
    assert cross.name == "age_bucketized_X_thal"
    features = {"age": np.array([20.0, 40.0, 25.0, 20.0]),
                "thal": np.array(["a", "a", "a", "z"])}
    out = _dense([fc.indicator_column(cross)], features)
    assert out.shape == (4, 50)
    # an unknown thal is id -1, which TensorFlow crosses as it crosses any id
    np.testing.assert_array_equal(out.sum(axis=1), [1, 1, 1, 1])
    assert not (out[3] == out[0]).all()
    assert (out[0] == out[2]).all() and not (out[0] == out[1]).all()
    keys = fc.crossed_column(["x", "y"], hash_bucket_size=20)
    out = _dense([fc.indicator_column(keys)], {"x": np.array([["a", "b"]]),
                                               "y": np.array([["c", "d"]])})
    assert out.sum() == 4                                           # 2 x 2 combinations


def _heart_data(n=160):
    rng = np.random.default_rng(0)
    age = rng.uniform(20, 70, n)
    thal = rng.choice(["fixed", "normal", "reversible"], n)
    return {"age": age, "thal": thal}, ((age > 45) ^ (thal == "normal")).astype("int64")


def _scale_age(x):
    return (x - 45.0) / 15.0


def test_dense_features_first_in_a_sequential_fed_dicts(tmp_path):
    pynn.utils.set_random_seed(0)
    data, y = _heart_data()
    columns = [fc.numeric_column("age", normalizer_fn=_scale_age),
               fc.bucketized_column(fc.numeric_column("age"), [30, 45, 60]),
               fc.indicator_column(fc.categorical_column_with_vocabulary_list(
                   "thal", ["fixed", "normal", "reversible"]))]
    model = pynn.Sequential([layers.DenseFeatures(columns), layers.Dense(16, activation="relu"),
                             layers.Dense(1)])
    model.compile(optimizer=pynn.optimizers.Adam(0.02),
                  loss=pynn.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    ds = pynn.data.Dataset.from_tensor_slices((dict(data), y)).shuffle(160).batch(32)
    history = model.fit(ds, epochs=25, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    assert model.layers[0].compute_output_shape(None) == (None, 1 + 4 + 3)
    probe = {"age": np.array([30.0, 60.0]), "thal": np.array(["normal", "fixed"])}
    before = model.predict(probe, verbose=0)
    model.save(tmp_path / "m.pynn")
    back = pynn.models.load_model(tmp_path / "m.pynn", custom_objects={"_scale_age": _scale_age})
    np.testing.assert_allclose(back.predict(probe, verbose=0), before, rtol=1e-6)


def test_dense_features_in_a_functional_model_of_named_inputs():
    pynn.utils.set_random_seed(0)
    data, y = _heart_data()
    thal = fc.categorical_column_with_vocabulary_list("thal", ["fixed", "normal", "reversible"])
    columns = [fc.bucketized_column(fc.numeric_column("age"), [30, 45, 60]),
               fc.embedding_column(thal, 4), fc.numeric_column("age")]
    inputs = {"age": pynn.Input((1,), name="age"),
              "thal": pynn.Input((1,), name="thal", dtype="string")}
    features = layers.DenseFeatures(columns)
    out = layers.Dense(1, activation="sigmoid")(layers.Dense(8, activation="relu")(
        features(inputs)))
    model = pynn.Model(inputs, out)
    model.compile(optimizer=pynn.optimizers.Adam(0.03), loss="binary_crossentropy",
                  metrics=["accuracy"])
    table = features.get_weights()[0].copy()
    model.fit(data, y, epochs=40, batch_size=16, verbose=0)
    assert model.evaluate(data, y, verbose=0)[1] > 0.9
    assert not np.allclose(features.get_weights()[0], table)      # the table is trained


# ------------------------------------------------------- Variable.value()

def test_variable_value_is_called_as_tensorflow_and_read_as_keras():
    v = pynn.Variable([1.0, 2.0])
    np.testing.assert_array_equal(v.value(), [1.0, 2.0])            # TensorFlow's read
    snapshot = v.value()
    v.assign([3.0, 4.0])
    np.testing.assert_array_equal(snapshot, [1.0, 2.0])             # a copy, as TF's
    np.testing.assert_array_equal(v.value().numpy(), [3.0, 4.0])
    total = v.value + 1.0                                            # Keras 3's property
    assert type(total) is np.ndarray and total.tolist() == [4.0, 5.0]
    assert type(v.value[0]) is np.float32 and v.value.shape == (2,)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(v.value() ** 2)
    np.testing.assert_allclose(tape.gradient(loss, v), [6.0, 8.0])
    v.value = np.array([5.0, 6.0], "float32")
    np.testing.assert_array_equal(v.numpy(), [5.0, 6.0])
    counter = pynn.Variable(0)
    counter.assign_add(2)
    assert int(counter.value()) == 2 and counter.value() + 1 == 3


# ------------------------------------------------ one integer-argument check

@pytest.mark.parametrize("call,message", [
    (lambda v: pynn.optimizers.SGD(use_ema=True, ema_overwrite_frequency=v),
     "SGD: ema_overwrite_frequency must be None or an integer >= 1, got "),
    (lambda v: pynn.optimizers.Adam(gradient_accumulation_steps=v),
     "Adam: gradient_accumulation_steps must be None or an integer >= 2, got "),
    (lambda v: pynn.utils.timeseries_dataset_from_array(np.zeros(10), None, v),
     "timeseries_dataset_from_array: sequence_length must be an integer >= 1, got "),
    (lambda v: pynn.preprocessing.text.hashing_trick("a b", v),
     "hashing_trick: n must be an integer >= 2, got "),
    (lambda v: pynn.utils.audio_dataset_from_directory(".", output_sequence_length=v),
     "audio_dataset_from_directory: output_sequence_length must be None or an integer >= 1, "
     "got "),
])
@pytest.mark.parametrize("value", [True, 0, 1.5, "3"])
def test_integer_arguments_are_checked_alike(call, message, value):
    with pytest.raises(ValueError) as info:
        call(value)
    assert str(info.value) == message + repr(value)


# ------------------------------------------------------ Keras 2 layer names

def test_keras2_activation_layers():
    x = np.array([[-1.0, 0.5, 1.0, 1.5]], "float32")
    np.testing.assert_array_equal(np.asarray(layers.ThresholdedReLU(theta=1.0)(x)),
                                  [[0, 0, 0, 1.5]])               # x > theta, strictly
    assert layers.ThresholdedReLU(0.5).get_config()["theta"] == 0.5
    with pytest.raises(ValueError, match="ThresholdedReLU"):
        layers.ThresholdedReLU(theta=-1.0)
    for layer in (layers.LeakyReLU(alpha=0.2), layers.LeakyReLU(negative_slope=0.2)):
        np.testing.assert_allclose(np.asarray(layer(x)), [[-0.2, 0.5, 1.0, 1.5]])


@pytest.mark.parametrize("mask_shape", [(2, 3, 5), (2, 1, 5), (5,), (3, 5)])
def test_softmax_with_a_mask_as_keras(keras, mask_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5)).astype("float32")
    mask = rng.random(mask_shape) > 0.3
    for axis in (-1, 1):
        np.testing.assert_allclose(np.asarray(layers.Softmax(axis=axis)(x, mask=mask)),
                                   np.asarray(keras.layers.Softmax(axis=axis)(x, mask=mask)),
                                   atol=1e-6)
    # its gradient: that of where(mask, softmax(where(mask, x, -1e9)), 0)
    kept = np.broadcast_to(mask, x.shape)
    w = rng.normal(size=x.shape)
    variable = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(layers.Softmax()(variable, mask=mask) * w.astype("float32"))
    s = np.exp(np.where(kept, x, -1e9) - np.where(kept, x, -1e9).max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    g = np.where(kept, w, 0)
    want = np.where(kept, s * (g - (g * s).sum(-1, keepdims=True)), 0)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, variable)), want, atol=1e-6)
    with pytest.raises(ValueError, match="mask must be broadcastable"):
        layers.Softmax()(x, mask=np.ones((2, 3), bool))
    if len(mask_shape) == 3:          # a mask given in a graph, as attention scores get one
        def build(lib):
            scores = lib.Input((3, 5))
            given = lib.Input(mask_shape[1:], dtype="bool")
            return lib.Model([scores, given], lib.layers.Softmax()(scores, mask=given))
        np.testing.assert_allclose(build(pynn).predict([x, mask], verbose=0),
                                   np.asarray(build(keras)([x, mask])), atol=1e-6)


def test_random_height_and_width():
    x = np.random.default_rng(0).random((2, 8, 6, 3)).astype("float32")
    grow = layers.RandomWidth((0.5, 0.5))                        # exactly 1.5 times
    np.testing.assert_allclose(np.asarray(grow(x, training=True)),
                               np.asarray(layers.Resizing(8, 9)(x)), atol=1e-6)
    height = layers.RandomHeight(0.5, seed=1)
    sizes = {np.asarray(height(x, training=True)).shape[1] for _ in range(10)}
    assert len(sizes) > 1 and all(4 <= s <= 12 for s in sizes)
    np.testing.assert_array_equal(np.asarray(height(x, training=False)), x)
    assert height.compute_output_shape((None, 8, 6, 3)) == (None, None, 6, 3)
    model = pynn.Sequential([pynn.Input((8, 6, 3)), layers.RandomHeight(0.3),
                             layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(),
                             layers.Dense(1)])
    model.compile("adam", "mse")
    assert np.isfinite(model.fit(x, np.ones((2, 1)), epochs=2, verbose=0).history["loss"]).all()


def test_keras2_layer_aliases_and_abstract_rnn_cell():
    assert layers.GRUV2 is layers.GRU and layers.LSTMCellV2 is layers.LSTMCell
    assert layers.BatchNormalizationV2 is layers.BatchNormalization
    from pynn.keras.layers.experimental import SyncBatchNormalization
    from pynn.keras.layers.experimental.preprocessing import RandomHeight, RandomWidth
    assert (SyncBatchNormalization, RandomHeight, RandomWidth) == \
        (layers.SyncBatchNormalization, layers.RandomHeight, layers.RandomWidth)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(layers.SyncBatchNormalization()(x, training=True)),
        np.asarray(layers.BatchNormalization()(x, training=True)), atol=1e-6)

    class MinimalRNNCell(layers.AbstractRNNCell):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        @property
        def state_size(self):
            return self.units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="glorot_uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    initializer="orthogonal",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            output = pynn.matmul(inputs, self.kernel) + pynn.matmul(states[0],
                                                                    self.recurrent_kernel)
            return output, [output]

    cell = MinimalRNNCell(4)
    seq = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    out = np.asarray(layers.RNN(cell)(seq))
    k, r = (np.asarray(w) for w in cell.weights)
    h = np.zeros((2, 4), "float32")
    for t in range(5):
        h = seq[:, t] @ k + h @ r
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)
    assert [s.shape for s in cell.get_initial_state(batch_size=2)] == [(2, 4)]


@pytest.mark.parametrize("layer", [lambda: layers.ThresholdedReLU(0.3),
                                   lambda: layers.RandomHeight(0.2, seed=3),
                                   lambda: layers.RandomWidth((0.1, 0.4)),
                                   lambda: layers.SyncBatchNormalization(momentum=0.9)])
def test_keras2_layers_round_trip_in_pynn_files(tmp_path, layer):
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input((6, 5, 2)), layer(), layers.GlobalAveragePooling2D(),
                             layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(3, 6, 5, 2)).astype("float32")
    model.save(tmp_path / "m.pynn")
    back = pynn.models.load_model(tmp_path / "m.pynn")
    assert type(back.layers[0]) is type(model.layers[0])
    assert back.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="cannot write in Keras's file formats"):
        model.save(tmp_path / "m.keras")


def test_keras3_wrappers_encode_targets_as_keras(keras):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.utils import get_tags
    y = np.array(["b", "a", "c", "a"])
    target = np.array([1.5, 2.0, -1.0, 0.0])
    for ours_cls, theirs_cls, labels in (
            (pynn.wrappers.SKLearnClassifier, keras.wrappers.SKLearnClassifier, y),
            (pynn.wrappers.SKLearnRegressor, keras.wrappers.SKLearnRegressor, target),
            (pynn.wrappers.SKLearnTransformer, keras.wrappers.SKLearnTransformer, target)):
        ours = ours_cls(model=lambda X, y: None, fit_kwargs={"epochs": 2})
        theirs = theirs_cls(model=lambda X, y: None, fit_kwargs={"epochs": 2})
        np.testing.assert_array_equal(ours._process_target(labels, reset=True),
                                      theirs._process_target(labels, reset=True))
        assert set(ours.get_params()) == set(theirs.get_params())
        for tag in ("estimator_type", "non_deterministic"):
            assert getattr(get_tags(ours), tag) == getattr(get_tags(theirs), tag)
    classifier = pynn.wrappers.SKLearnClassifier(model=lambda X, y: None)
    classifier._process_target(y, reset=True)
    assert list(classifier.classes_) == ["a", "b", "c"]
