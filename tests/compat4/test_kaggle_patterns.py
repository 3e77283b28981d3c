"""Patterns of notebook-style Keras programs (tabular, image folders, text,
time series) run with only their imports changed, that broke in pynn,
reproduced in a few lines each."""
import os
import warnings

import numpy as np
import pytest

from keras_reference import keras as real_keras, needs_keras
from pynn import keras


class _Table:
    """The part of a pandas DataFrame that flow_from_dataframe reads: a
    column by name, and the number of rows."""

    def __init__(self, **columns):
        self.columns = columns

    def __getitem__(self, name):
        return self.columns[name]

    def __len__(self):
        return len(next(iter(self.columns.values())))


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(7)
    names = []
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3)).astype(np.uint8)).save(
            tmp_path / f"img{i}.png")
        names.append(f"img{i}.png")
    (tmp_path / "notes.txt").write_text("x")
    labels = [["cat", "dog", "fox"][i % 3] for i in range(30)]
    table = _Table(id=names + ["missing.png", "notes.txt"], label=labels + ["cat", "dog"],
                   age=[float(i % 5) for i in range(30)] + [0.0, 0.0],
                   score=[i * 0.1 for i in range(30)] + [0.0, 0.0],
                   tags=[[lab, "x"] if i % 4 else [lab] for i, lab in enumerate(labels)] +
                   [["cat"], ["dog"]],
                   w=[1.0 + i % 2 for i in range(30)] + [1.0, 1.0])
    return str(tmp_path), table


def test_flow_from_dataframe_labels_subsets_and_missing_files(image_folder):
    """A Kaggle image-competition notebook reads train.csv into a data
    frame and feeds ``datagen.flow_from_dataframe(df, directory, x_col,
    y_col, subset=...)`` to fit; ImageDataGenerator had no such method.
    The expected values are those Keras's own iterator gives for the same
    table."""
    root, table = image_folder
    gen = keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255., validation_split=0.2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = gen.flow_from_dataframe(table, directory=root, x_col="id", y_col="label",
                                        target_size=(16, 16), batch_size=7, shuffle=False,
                                        subset="training")
    assert any("2 invalid image filename(s)" in str(w.message) for w in caught)
    assert train.class_indices == {"cat": 0, "dog": 1, "fox": 2}
    assert train.filenames[0] == "img6.png" and train.samples == 24 and len(train) == 4
    assert list(train.classes) == [0, 1, 2] * 8
    x, y = train[0]
    assert x.shape == (7, 16, 16, 3) and x.dtype == np.float32 and x.max() <= 1.0
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2, 0]])
    val = gen.flow_from_dataframe(table, root, x_col="id", y_col="label", target_size=(16, 16),
                                  batch_size=7, shuffle=False, subset="validation",
                                  class_mode="sparse")
    assert val.filenames == [f"img{i}.png" for i in range(6)]
    np.testing.assert_array_equal(val[0][1], [0, 1, 2, 0, 1, 2])

    plain = keras.preprocessing.image.ImageDataGenerator()
    raw = plain.flow_from_dataframe(table, root, x_col="id", y_col=["age", "score"],
                                    class_mode="raw", target_size=(8, 8), batch_size=5,
                                    shuffle=False)
    np.testing.assert_allclose(raw[1][1], [[0, .5], [1, .6], [2, .7], [3, .8], [4, .9]])
    multi = plain.flow_from_dataframe(table, root, x_col="id", y_col=["age", "score"],
                                      class_mode="multi_output", target_size=(8, 8),
                                      batch_size=5, shuffle=False)
    ages, scores = multi[1][1]
    np.testing.assert_allclose(ages, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(scores, [.5, .6, .7, .8, .9])
    tags = plain.flow_from_dataframe(table, root, x_col="id", y_col="tags", weight_col="w",
                                     target_size=(8, 8), batch_size=5, shuffle=False)
    assert tags.class_indices == {"cat": 0, "dog": 1, "fox": 2, "x": 3}
    _, multi_hot, weights = tags[0]
    np.testing.assert_array_equal(multi_hot, [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1],
                                              [1, 0, 0, 1], [0, 1, 0, 0]])
    np.testing.assert_array_equal(weights, [1, 2, 1, 2, 1])
    # named classes keep their order and drop the rows of other classes
    binary = plain.flow_from_dataframe(table, root, x_col="id", y_col="label",
                                       classes=["dog", "cat"], class_mode="binary",
                                       color_mode="grayscale", target_size=(8, 8),
                                       batch_size=50, shuffle=False)
    bx, by = binary[0]
    assert bx.shape == (20, 8, 8, 1)
    np.testing.assert_array_equal(by, [1, 0] * 10)
    # full paths and no labels, for a test set
    paths = _Table(path=[os.path.join(root, f"img{i}.png") for i in range(9)])
    test = plain.flow_from_dataframe(paths, x_col="path", y_col=None, class_mode=None,
                                     target_size=(8, 8), batch_size=4, shuffle=False)
    assert len(test) == 3 and test[0].shape == (4, 8, 8, 3)


def test_flow_from_dataframe_trains_and_refuses_bad_tables(image_folder):
    root, table = image_folder
    gen = keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255.)
    with pytest.warns(UserWarning):
        flow = gen.flow_from_dataframe(table, root, x_col="id", y_col="score",
                                       class_mode="raw", target_size=(8, 8), batch_size=8)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(flow, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    with pytest.raises(TypeError, match="y_col='age' must be strings"):
        gen.flow_from_dataframe(table, root, x_col="id", y_col="age", class_mode="sparse")
    with pytest.raises(ValueError, match="must be 2 classes, found 3"):
        gen.flow_from_dataframe(table, root, x_col="id", y_col="label", class_mode="binary")
    with pytest.raises(KeyError, match="no column 'file'"):
        gen.flow_from_dataframe(table, root, x_col="file", y_col="label")
    with pytest.raises(TypeError, match="y_col must be a list"):
        gen.flow_from_dataframe(table, root, x_col="id", y_col="age",
                                class_mode="multi_output")


@needs_keras
@pytest.mark.parametrize("as_list", [True, False])
def test_embedding_takes_a_pretrained_matrix_as_weights(as_list):
    """The GloVe notebook: ``Embedding(vocab, dim, weights=[embedding_matrix],
    trainable=False)`` in a Sequential model, then fit; building the layer
    recursed without end.  Keras 3 also takes the bare matrix."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(20, 4)).astype(np.float32)
    weights = [matrix] if as_list else matrix
    model = keras.Sequential([
        keras.layers.Embedding(20, 4, weights=weights, trainable=False),
        keras.layers.LSTM(3), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    ids = rng.integers(0, 20, (16, 5))
    model.fit(ids, rng.integers(0, 2, 16), epochs=1, verbose=0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], matrix)
    ref = real_keras.layers.Embedding(20, 4, weights=weights)
    np.testing.assert_allclose(keras.layers.Embedding(20, 4, weights=weights)(ids),
                               np.asarray(ref(ids)), rtol=1e-6)


def test_tf_keras_2_names_of_notebooks(tmp_path):
    """Names tf.keras 2 programs import that Keras 3 dropped:
    ``load_img(path, grayscale=True)``, ``from keras.layers.convolutional
    import Conv2D, MaxPooling2D`` and ``optimizers.legacy.Adam(lr=...)``."""
    from PIL import Image
    from pynn.keras.layers.convolutional import Conv2D, MaxPooling2D  # noqa: F401
    from pynn.keras.optimizers import legacy
    from pynn.keras.preprocessing.image import load_img
    path = tmp_path / "a.png"
    Image.fromarray(np.full((6, 5, 3), 200, np.uint8)).save(path)
    with pytest.warns(UserWarning, match="grayscale is deprecated"):
        img = load_img(str(path), grayscale=True, target_size=(4, 4))
    assert img.mode == "L" and img.size == (4, 4)
    assert MaxPooling2D is keras.layers.MaxPooling2D
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    opt = legacy.Adam(lr=0.05, decay=1e-3)
    model.compile(optimizer=opt, loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    history = model.fit(x, x.sum(1), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert isinstance(opt, keras.optimizers.Adam)


def test_learning_rate_schedule_may_return_a_float_tensor():
    """tf.keras 2's own LearningRateScheduler example returns
    ``lr * tf.math.exp(-0.1)``, a float tensor: it was refused."""
    import pynn as tf
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    sched = keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: lr if epoch < 1 else lr * tf.math.exp(-0.1))
    x = np.ones((8, 2), np.float32)
    history = model.fit(x, x[:, 0], epochs=3, callbacks=[sched], verbose=0)
    np.testing.assert_allclose(history.history["learning_rate"],
                               [0.1, 0.1 * np.exp(-0.1), 0.1 * np.exp(-0.2)], rtol=1e-5)
    bad = keras.callbacks.LearningRateScheduler(lambda epoch: np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(x, x[:, 0], epochs=1, callbacks=[bad], verbose=0)


def test_tpu_detection_falls_back_to_the_default_strategy():
    """The accelerator cell at the top of many notebooks: a
    TPUClusterResolver that raises ValueError where there is no TPU, then
    the default strategy."""
    import pynn as tf
    try:
        tpu = tf.distribute.cluster_resolver.TPUClusterResolver()
    except ValueError as e:
        assert "no TPU" in str(e)
        tpu = None
    with pytest.raises(ValueError, match="no TPU 'node-1'"):
        tf.distribute.cluster_resolver.TPUClusterResolver.connect("node-1")
    assert tpu is None
    strategy = tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("adam", "mse")
    model.fit(np.ones((4, 2)), np.ones(4), epochs=1, verbose=0)


class Attention(keras.layers.Layer):
    """The text notebooks' own attention pooling, named as Keras's layer."""

    def __init__(self, step_dim, **kwargs):
        super().__init__(**kwargs)
        self.step_dim = step_dim

    def build(self, input_shape):
        self.W = self.add_weight(shape=(input_shape[-1],), initializer="glorot_uniform",
                                 name="W")
        self.b = self.add_weight(shape=(input_shape[1],), initializer="zeros", name="b")

    def call(self, x):
        K = keras.backend
        eij = K.tanh(K.reshape(K.dot(K.reshape(x, (-1, x.shape[-1])),
                                     K.reshape(self.W, (-1, 1))), (-1, self.step_dim)) + self.b)
        a = K.exp(eij)
        a /= K.sum(a, axis=1, keepdims=True) + K.epsilon()
        return K.sum(x * K.expand_dims(a), axis=1)

    def get_config(self):
        return {**super().get_config(), "step_dim": self.step_dim}


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_own_layer_named_as_a_keras_layer_saves_and_loads(tmp_path, suffix):
    """A user's ``class Attention(Layer)`` was saved with Keras's Attention
    row (KeyError 'call_options'), and read back with its call options."""
    inp = keras.Input((6,))
    x = keras.layers.Embedding(20, 4)(inp)
    x = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(x)
    out = keras.layers.Dense(1, activation="sigmoid")(Attention(6)(x))
    model = keras.Model(inp, out)
    model.compile("adam", "binary_crossentropy")
    ids = np.random.default_rng(0).integers(0, 20, (8, 6))
    model.fit(ids, np.arange(8) % 2, epochs=1, verbose=0)
    path = str(tmp_path / f"att{suffix}")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"Attention": Attention})
    assert isinstance(loaded.layers[3], Attention)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0),
                               rtol=1e-6)


class _Dummies:
    """pandas' get_dummies beside a float column: bool and float64 columns
    that np.asarray makes one object array."""

    def __init__(self, columns):
        self.columns = columns
        self.dtypes = [c.dtype for c in columns]

    def __array__(self, dtype=None, copy=None):
        out = np.empty((len(self.columns[0]), len(self.columns)), object)
        for j, c in enumerate(self.columns):
            out[:, j] = list(c)
        return out if dtype is None else out.astype(dtype)

    def __len__(self):
        return len(self.columns[0])


@needs_keras
def test_fit_takes_a_table_of_bool_and_float_columns():
    """``model.fit(pd.get_dummies(df), y)`` was refused as object data;
    Keras 3 takes it as the numbers it holds."""
    rng = np.random.default_rng(0)
    age = rng.normal(size=12)
    sex = rng.random(12) < 0.5
    table = _Dummies([age, sex, ~sex])
    assert np.asarray(table).dtype == object
    y = (age + sex).astype(np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    ref = real_keras.Sequential([real_keras.Input((3,)), real_keras.layers.Dense(1)])
    ref.set_weights(model.get_weights())
    numbers = np.stack([age, sex, ~sex], 1).astype(np.float32)
    np.testing.assert_allclose(model.predict(table, verbose=0), ref.predict(numbers, verbose=0),
                               rtol=1e-5)
    model.fit(table, y, epochs=2, verbose=0)
    strings = _Dummies([age, np.array(["m", "f"] * 6)])
    with pytest.raises(TypeError, match="expected numeric data"):
        model.predict(strings, verbose=0)


def test_cudnn_recurrent_layers_of_keras_2(tmp_path):
    """``from keras.layers import CuDNNLSTM, CuDNNGRU`` (Keras 2.0-2.3 text
    notebooks): LSTM and GRU with their defaults, saved as those."""
    from pynn.keras.layers import CuDNNGRU, CuDNNLSTM
    inp = keras.Input((5,))
    x = keras.layers.Embedding(30, 4)(inp)
    x = keras.layers.Bidirectional(CuDNNLSTM(6, return_sequences=True,
                                             kernel_regularizer=keras.regularizers.l2(1e-4)))(x)
    x = CuDNNGRU(3, return_sequences=True)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalMaxPooling1D()(x))
    model = keras.Model(inp, out)
    model.compile("adam", "binary_crossentropy")
    ids = np.random.default_rng(0).integers(0, 30, (16, 5))
    model.fit(ids, np.arange(16) % 2, epochs=1, verbose=0)
    path = str(tmp_path / "cudnn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers[2:4]] == ["Bidirectional", "GRU"]
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0),
                               rtol=1e-6)
