"""FeatureSpace: the keras.io example "Structured data classification with
FeatureSpace" with only its imports changed (on a synthetic table with the
heart-disease columns, as there is no network here), checked against
NumPy references and Keras 3's layers where Keras runs them without
TensorFlow (Normalization, CategoryEncoding; Keras's FeatureSpace itself,
its lookups, Discretization's adapt and HashedCrossing need TensorFlow)."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers
from pynn.utils import FeatureSpace
from pynn.utils.feature_space import HashedCrossing

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _keep_layer_name_counters():
    from pynn.layers.base import _name_counts
    saved = dict(_name_counts)
    yield
    _name_counts.clear()
    _name_counts.update(saved)


def _heart(n=240, seed=0):
    """A table with the columns (and kinds of values) of the heart-disease
    CSV the example reads."""
    rng = np.random.default_rng(seed)
    cols = {
        "age": rng.integers(29, 78, n).astype("float32"),
        "sex": rng.integers(0, 2, n), "cp": rng.integers(0, 5, n),
        "trestbps": rng.normal(131, 17, n).round().astype("float32"),
        "chol": rng.normal(246, 52, n).round().astype("float32"),
        "fbs": rng.integers(0, 2, n), "restecg": rng.integers(0, 3, n),
        "thalach": rng.normal(150, 23, n).round().astype("float32"),
        "exang": rng.integers(0, 2, n), "oldpeak": rng.gamma(1.0, 1.0, n).astype("float32"),
        "slope": rng.integers(1, 4, n).astype("float32"), "ca": rng.integers(0, 4, n),
        "thal": rng.choice(np.array(["fixed", "normal", "reversible"]), n),
    }
    target = ((cols["cp"] >= 3) | (cols["thal"] == "reversible")).astype("int64")
    return cols, target


def _example_feature_space():
    return FeatureSpace(
        features={
            "sex": FeatureSpace.integer_categorical(num_oov_indices=0),
            "cp": FeatureSpace.integer_categorical(num_oov_indices=0),
            "fbs": FeatureSpace.integer_categorical(num_oov_indices=0),
            "restecg": FeatureSpace.integer_categorical(num_oov_indices=0),
            "exang": FeatureSpace.integer_categorical(num_oov_indices=0),
            "ca": FeatureSpace.integer_categorical(num_oov_indices=0),
            "thal": FeatureSpace.string_categorical(num_oov_indices=0),
            "age": FeatureSpace.float_discretized(num_bins=30),
            "trestbps": FeatureSpace.float_normalized(),
            "chol": FeatureSpace.float_normalized(),
            "thalach": FeatureSpace.float_normalized(),
            "oldpeak": FeatureSpace.float_normalized(),
            "slope": FeatureSpace.float_normalized(),
        },
        crosses=[FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64),
                 FeatureSpace.cross(feature_names=("thal", "ca"), crossing_dim=16)],
        output_mode="concat")


def test_keras_io_feature_space_example_runs():
    """The example's program: adapt on the unlabelled dataset, map the
    datasets, train a model on the encoded features, and an inference
    model on the raw columns."""
    cols, target = _heart(n=160)
    n_val = 32
    train = {k: v[n_val:] for k, v in cols.items()}
    val = {k: v[:n_val] for k, v in cols.items()}
    train_ds = keras.utils.Dataset.from_tensor_slices((train, target[n_val:]))
    val_ds = keras.utils.Dataset.from_tensor_slices((val, target[:n_val]))
    for x, y in train_ds.take(1):
        assert set(x) == set(cols) and y.shape == ()
    train_ds = train_ds.batch(32)
    val_ds = val_ds.batch(32)

    feature_space = _example_feature_space()
    train_ds_with_no_labels = train_ds.map(lambda x, _: x)
    feature_space.adapt(train_ds_with_no_labels)
    for x, _ in train_ds.take(1):
        preprocessed_x = feature_space(x)
        # 6 int lookups (2+5+2+3+2+4) + thal 3 + age 30 + 5 floats + crosses 64 + 16
        assert preprocessed_x.shape == (32, 2 + 5 + 2 + 3 + 2 + 4 + 3 + 30 + 5 + 64 + 16)
        assert preprocessed_x.dtype == np.float32

    preprocessed_train_ds = train_ds.map(lambda x, y: (feature_space(x), y),
                                         num_parallel_calls=keras.utils.Dataset.AUTOTUNE)
    preprocessed_train_ds = preprocessed_train_ds.prefetch(keras.utils.Dataset.AUTOTUNE)
    preprocessed_val_ds = val_ds.map(lambda x, y: (feature_space(x), y)).prefetch(2)

    dict_inputs = feature_space.get_inputs()
    encoded_features = feature_space.get_encoded_features()
    x = layers.Dense(32, activation="relu")(encoded_features)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid")(x)
    training_model = keras.Model(inputs=encoded_features, outputs=predictions)
    training_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    inference_model = keras.Model(inputs=dict_inputs, outputs=predictions)
    history = training_model.fit(preprocessed_train_ds, epochs=20,
                                 validation_data=preprocessed_val_ds, verbose=0)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > history.history["accuracy"][0]

    sample = {"age": 60, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1,
              "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0,
              "thal": "fixed"}
    input_dict = {name: np.asarray([value]) for name, value in sample.items()}
    p = inference_model.predict(input_dict, verbose=0)
    # the inference model on raw columns is the training model on the encoding
    encoded = feature_space(sample)
    assert encoded.shape == (preprocessed_x.shape[1],)
    np.testing.assert_allclose(p, training_model.predict(encoded[None], verbose=0),
                               rtol=1e-6)
    batch = {k: v[:20] for k, v in cols.items()}
    np.testing.assert_allclose(inference_model.predict(batch, verbose=0),
                               training_model.predict(feature_space(batch), verbose=0),
                               rtol=1e-6)


@pytest.fixture
def keras_ref(keras):
    return keras


def test_encoding_matches_references(keras_ref):
    """Each block of the concatenation (in Keras's order: features by
    sorted name, then crosses) against a reference: Keras 3's Normalization
    adapted on the same column, one-hot vectors of the lookup and
    discretization ids, and the crosses' hashes."""
    K = keras_ref
    cols, _ = _heart(n=150, seed=2)
    fs = FeatureSpace(
        features={"trestbps": FeatureSpace.float_normalized(),
                  "thal": FeatureSpace.string_categorical(num_oov_indices=0),
                  "cp": FeatureSpace.integer_categorical(),
                  "age": FeatureSpace.float_discretized(num_bins=4),
                  "oldpeak": "float", "chol": FeatureSpace.float_rescaled(scale=0.5, offset=1)},
        crosses=[("thal", "cp")], crossing_dim=8, output_mode="dict")
    fs.adapt(cols)
    out = fs({k: v[:40] for k, v in cols.items()})
    assert list(out) == ["age", "chol", "cp", "oldpeak", "thal", "trestbps", "thal_X_cp"]
    norm = K.layers.Normalization(axis=-1)
    norm.adapt(cols["trestbps"][:, None])
    np.testing.assert_allclose(out["trestbps"], np.asarray(norm(cols["trestbps"][:40, None])),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["chol"], cols["chol"][:40, None] * 0.5 + 1, rtol=1e-6)
    np.testing.assert_array_equal(out["oldpeak"], cols["oldpeak"][:40, None])
    ids = {}
    for name in ("thal", "cp", "age"):
        layer = fs.preprocessors[name]
        ids[name] = np.asarray(layer(cols[name][:40, None]))
        depth = layer.vocabulary_size() if hasattr(layer, "vocabulary_size") else layer.num_bins
        ref = np.asarray(K.layers.CategoryEncoding(num_tokens=depth, output_mode="multi_hot")(
            ids[name]))
        np.testing.assert_array_equal(out[name], ref)
    assert out["thal"].shape == (40, 3) and out["cp"].shape == (40, 6)
    assert out["age"].shape == (40, 4)
    crossed = HashedCrossing(8)([ids["thal"], ids["cp"]])
    np.testing.assert_array_equal(out["thal_X_cp"].argmax(-1), crossed[:, 0])
    # the crosses are pynn.layers.HashedCrossing's, TensorFlow's bins by ops.hash_cross
    assert isinstance(fs.crossers["thal_X_cp"], layers.HashedCrossing)
    np.testing.assert_array_equal(out["thal_X_cp"].argmax(-1),
                                  keras.ops.hash_cross([ids["thal"], ids["cp"]], 8)[:, 0])
    # concat mode: the same blocks in the same order
    fs2 = FeatureSpace.from_config(fs.get_config())
    assert FeatureSpace.from_config(fs2.get_config()).get_config() == fs2.get_config()
    for name, spec in fs.get_config()["features"].items():  # all but the build state
        spec2 = fs2.get_config()["features"][name]
        assert spec["config"]["preprocessor"]["config"] == \
            spec2["config"]["preprocessor"]["config"]
    fs2.output_mode = "concat"
    fs2.adapt(cols)
    whole = fs2({k: v[:40] for k, v in cols.items()})
    np.testing.assert_allclose(whole, np.concatenate(list(out.values()), axis=-1), rtol=1e-6)


def test_hashed_crossing_matches_tensorflows_bins():
    """The bins of Keras's own HashedCrossing tests (TensorFlow's
    cross_hashed), for strings with integers."""
    feat1 = np.array(["A", "B", "A", "B", "A"])
    feat2 = np.array([101, 101, 101, 102, 102])
    np.testing.assert_array_equal(HashedCrossing(num_bins=5)((feat1, feat2)), [1, 4, 1, 1, 3])
    np.testing.assert_array_equal(HashedCrossing(num_bins=5)((feat1[:, None], feat2[:, None])),
                                  [[1], [4], [1], [1], [3]])
    one_hot = HashedCrossing(num_bins=5, output_mode="one_hot")((feat1, feat2))
    np.testing.assert_array_equal(one_hot.argmax(-1), [1, 4, 1, 1, 3])
    assert one_hot.shape == (5, 5)
    assert int(HashedCrossing(num_bins=10)((np.array("A"), np.array(101)))) == 1
    with pytest.raises(ValueError, match="at least two"):
        HashedCrossing(num_bins=10)([np.array([1])])
    with pytest.raises(ValueError, match="equal shape"):
        HashedCrossing(num_bins=10)([np.array([1]), np.array([1, 2])])
    with pytest.raises(ValueError, match="integers or strings"):
        HashedCrossing(num_bins=10)([np.array([1.0]), np.array([1.0])])


def test_single_samples_errors_and_dict_mode():
    cols, _ = _heart(n=60)
    fs = FeatureSpace({"cp": "integer_categorical", "chol": "float_normalized",
                       "thal": "string_hashed", "age": "float_discretized"},
                      num_discretization_bins=5, hashing_dim=7)
    with pytest.raises(ValueError, match="adapt"):
        fs({"cp": 1})
    fs.adapt(keras.utils.Dataset.from_tensor_slices({k: cols[k] for k in
                                                     ("cp", "chol", "thal", "age")}))
    one = fs({"cp": 2, "chol": 200.0, "thal": "normal", "age": 50.0})
    assert one.shape == (5 + 1 + fs.preprocessors["cp"].vocabulary_size() + 7,)
    with pytest.raises(ValueError, match="only be called with a dict"):
        fs([1, 2])
    with pytest.raises(ValueError, match="has no column"):
        fs({"cp": 1})
    with pytest.raises(ValueError, match="Invalid feature type"):
        FeatureSpace({"a": "nope"})
    with pytest.raises(ValueError, match="unknown features"):
        FeatureSpace({"a": "float"}, crosses=[("a", "b")])
    with pytest.raises(ValueError, match="output_mode"):
        FeatureSpace({"a": "float"}, output_mode="list")
    ints = FeatureSpace({"cp": FeatureSpace.integer_categorical(output_mode="int")})
    with pytest.raises(ValueError, match="Cannot concatenate"):
        ints.adapt({"cp": cols["cp"]})
    ints = FeatureSpace({"cp": FeatureSpace.integer_categorical(output_mode="int")},
                        output_mode="dict")
    ints.adapt({"cp": cols["cp"]})
    np.testing.assert_array_equal(ints({"cp": cols["cp"][:5]})["cp"],
                                  ints.preprocessors["cp"](cols["cp"][:5, None]))
