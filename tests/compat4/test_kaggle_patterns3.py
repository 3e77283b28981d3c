"""Kaggle notebooks and blog tutorials written for tf.keras (tabular,
image folders, transfer learning, text, time series, autoencoders,
callbacks, saving, K-fold and hyperparameter loops, tf.keras 2 idioms),
run with only their imports changed: each program checks what the
original prints or plots, against NumPy, scikit-learn or Keras 3 where
they give the same numbers."""
import os

import numpy as np
import pytest

import pynn as tf
import pynn.keras.backend as K
from keras_reference import keras as real_keras, needs_keras
from pynn import keras
from pynn.keras import layers
from pynn.keras.layers import Dense, Dropout, Input
from pynn.keras.models import Model, Sequential, load_model

sklearn = pytest.importorskip("sklearn")


@pytest.fixture
def rng():
    keras.utils.set_random_seed(0)
    return np.random.default_rng(0)


def _png_folder(root, classes, n, size=(20, 20), seed=0):
    """A folder per class of ``n`` random PNG images each."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c in classes:
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, size + (3,)).astype(np.uint8)).save(
                os.path.join(root, c, f"{c}{i}.png"))
    return str(root)


# ------------------------------------------------------------------ text

def test_text_vectorization_mapped_then_exported_and_in_a_string_input(rng, tmp_path):
    """TensorFlow's text classification tutorial: the layer adapted on the
    raw texts, applied in ``ds.map`` to ``tf.expand_dims(text, -1)``, then
    put in an export model called on a plain list of strings; a later cell
    calls it on ``Input(shape=(1,), dtype="string")``.  The layer was held
    to the rank it was first built for: "expected shape=(None,), found
    shape=(None, 1)".  Keras's lookup layers take any rank."""
    texts = np.array(["the movie was great", "terrible film, awful", "great acting",
                      "awful awful plot"] * 4)
    y = np.array([1, 0, 1, 0] * 4)
    raw = tf.data.Dataset.from_tensor_slices((texts, y)).batch(4)
    vectorize = layers.TextVectorization(max_tokens=30, output_sequence_length=5)
    vectorize.adapt(raw.map(lambda x, y: x))

    def vectorize_text(text, label):
        return vectorize(tf.expand_dims(text, -1)), label

    train = raw.map(vectorize_text).cache().prefetch(tf.data.AUTOTUNE)
    model = Sequential([layers.Embedding(31, 4), layers.GlobalAveragePooling1D(),
                        layers.Dense(1)])
    model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True), optimizer="adam",
                  metrics=tf.metrics.BinaryAccuracy(threshold=0.0))
    model.fit(train, epochs=1, verbose=0)
    export = Sequential([vectorize, model, layers.Activation("sigmoid")])
    export.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    probs = export.predict(np.array(["great great movie", "awful"]), verbose=0)
    want = 1 / (1 + np.exp(-model.predict(vectorize(np.array(["great great movie", "awful"])),
                                          verbose=0)))
    np.testing.assert_allclose(probs, want, rtol=1e-5)

    inp = keras.Input(shape=(1,), dtype="string")
    out = layers.Dense(1, activation="sigmoid")(layers.Bidirectional(layers.LSTM(3))(
        layers.Embedding(31, 4)(vectorize(inp))))
    strings_in = keras.Model(inp, out)
    strings_in.compile("adam", "binary_crossentropy")
    strings_in.fit(texts[:, None], y, epochs=1, verbose=0)
    path = str(tmp_path / "text.keras")
    strings_in.save(path)
    np.testing.assert_allclose(load_model(path).predict(texts[:4, None], verbose=0),
                               strings_in.predict(texts[:4, None], verbose=0), rtol=1e-6)
    lookup = layers.StringLookup(vocabulary=["a", "b"])
    assert Sequential([lookup]).predict(np.array(["a", "b"]), verbose=0).tolist() == [1, 2]
    column = keras.Input((1,), dtype="string")
    assert keras.Model(column, lookup(column)).predict(
        np.array([["b"], ["z"]]), verbose=0).tolist() == [[2], [0]]


# ---------------------------------------------------------------- saving

def test_checkpoint_prefix_is_found_by_latest_checkpoint(rng, tmp_path):
    """TensorFlow's "Save and load models" tutorial:
    ``ModelCheckpoint("training_2/cp-{epoch:04d}.ckpt", save_weights_only=
    True)``, then ``tf.train.latest_checkpoint(checkpoint_dir)`` and
    ``model.load_weights(latest)``.  save_weights wrote the checkpoint but
    not the folder's ``checkpoint`` file, so latest_checkpoint gave None.
    tf.keras records each one written there."""
    x = rng.normal(size=(20, 4)).astype("float32")

    def create_model():
        model = Sequential([Dense(4, activation="relu", input_shape=(4,)), Dense(1)])
        model.compile("adam", "mse")
        return model

    checkpoint_path = str(tmp_path / "training_2" / "cp-{epoch:04d}.ckpt")
    checkpoint_dir = os.path.dirname(checkpoint_path)
    model = create_model()
    model.save_weights(checkpoint_path.format(epoch=0))
    assert tf.train.latest_checkpoint(checkpoint_dir) == checkpoint_path.format(epoch=0)
    cp_callback = keras.callbacks.ModelCheckpoint(filepath=checkpoint_path, verbose=0,
                                                  save_weights_only=True)
    model.fit(x, x[:, :1], epochs=3, callbacks=[cp_callback], verbose=0)
    assert sorted(os.listdir(checkpoint_dir)) == ["checkpoint"] + [
        f"cp-{e:04d}.ckpt.index" for e in range(4)]
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    assert latest == checkpoint_path.format(epoch=3)
    fresh = create_model()
    fresh.load_weights(latest)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


class _DropoutInTraining(keras.Model):
    """The subclassing tutorials' model: its Dropout runs under
    ``if training:`` only."""

    def __init__(self, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dense_1 = layers.Dense(8, activation="relu")
        self.dropout = layers.Dropout(0.2)
        self.dense_2 = layers.Dense(num_classes, activation="softmax")

    def call(self, inputs, training=None):
        x = self.dense_1(inputs)
        if training:
            x = self.dropout(x, training=training)
        return self.dense_2(x)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class _OwnStep(keras.Model):
    """A model trained by its own train_step (apply_gradients)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(3, activation="softmax")

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": loss}


@pytest.mark.parametrize("cls", [_DropoutInTraining, _OwnStep])
@pytest.mark.parametrize("suffix", [".keras", ".pynn"])
def test_subclassed_model_saves_and_resumes_with_its_optimizer(rng, tmp_path, cls, suffix):
    """``model.save("model.keras")`` after fit, then load_model and go on
    training.  A subclassed model whose call branches on ``training`` could
    not be saved at all (AttributeError: no attribute 'output_names'); one
    trained by its own train_step (or a GradientTape loop) was saved with
    its Adam moments as zeros and resumed from them.  Keras saves the
    optimizer's state: training goes on as it would have."""
    x = rng.random((20, 5)).astype("float32")
    y = np.arange(20) % 3
    model = cls()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=5, verbose=0)
    path = str(tmp_path / f"sub{suffix}")
    model.save(path)
    loaded = load_model(path, custom_objects={cls.__name__: cls})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    want = [np.asarray(v) for v in model.optimizer.variables]
    got = [np.asarray(v) for v in loaded.optimizer.variables]
    assert len(got) == len(want) and np.abs(want[2]).sum() > 0
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for m in (model, loaded):
        keras.utils.set_random_seed(1)
        m.fit(x, y, epochs=1, batch_size=5, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_gradient_tape_loop_state_saved_in_a_keras_file(rng, tmp_path):
    """A custom loop (``opt.apply_gradients`` on a compiled functional
    model), then ``model.save``: the file held zeros for the moments."""
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    inp = Input((3,))
    model = Model(inp, Dense(1)(Dense(4, activation="tanh")(inp)))
    opt = keras.optimizers.Adam(0.01)
    model.compile(optimizer=opt, loss="mse")
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_weights),
                                model.trainable_weights))
    path = str(tmp_path / "loop.keras")
    model.save(path)
    loaded = load_model(path)
    for a, b in zip(loaded.optimizer.variables, opt.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    assert int(loaded.optimizer.iterations) == 3


# --------------------------------------------------------------- tabular

def test_pima_diabetes_sequential_add_with_input_dim(rng):
    """Machine Learning Mastery's first Keras network: ``model.add(Dense(12,
    input_dim=8, kernel_initializer='uniform'))``, evaluate printed as
    ``"%s: %.2f%%" % (model.metrics_names[1], scores[1]*100)``, then
    thresholded predictions into scikit-learn's reports."""
    from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score
    x = rng.normal(size=(100, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = Sequential()
    model.add(Dense(12, input_dim=8, activation="relu", kernel_initializer="uniform"))
    model.add(Dense(8, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_split=0.33)
    assert history.params["steps"] == 7 and sorted(history.history) == [
        "accuracy", "loss", "val_accuracy", "val_loss"]
    scores = model.evaluate(x, y, verbose=0)
    assert model.metrics_names[1] == "accuracy"
    probs = model.predict(x, verbose=0)
    pred = (probs > 0.5).astype("int32")
    np.testing.assert_allclose(scores[1], accuracy_score(y, pred), rtol=1e-6)
    assert confusion_matrix(y, pred).sum() == 100
    assert 0 <= roc_auc_score(y, probs) <= 1


def test_iris_label_encoder_to_categorical_early_stopping(rng):
    """The iris notebook: LabelEncoder, ``to_categorical``, StandardScaler,
    ``Adam(lr=0.05)`` (Keras 2's name), ``EarlyStopping(restore_best_weights
    =True)``: the weights kept are those of the best val_loss."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder, StandardScaler
    names = np.array(["setosa", "versicolor", "virginica"])[rng.integers(0, 3, 150)]
    x = rng.normal(size=(150, 4)) + (names == "setosa")[:, None]
    encoder = LabelEncoder()
    labels = encoder.fit_transform(names)
    y = keras.utils.to_categorical(labels)
    assert y.dtype == np.float32 and y.shape == (150, 3)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=1, stratify=labels)
    scaler = StandardScaler()
    xtr, xte = scaler.fit_transform(xtr), scaler.transform(xte)
    model = keras.models.Sequential([layers.Dense(10, activation="relu", input_shape=(4,)),
                                     layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(lr=0.05), loss="categorical_crossentropy", metrics=["acc"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=2,
                                         restore_best_weights=True)
    history = model.fit(xtr, ytr, validation_data=(xte, yte), epochs=8, batch_size=16,
                        callbacks=[stop], verbose=0)
    assert "val_acc" in history.history
    best = min(history.history["val_loss"])
    np.testing.assert_allclose(model.evaluate(xte, yte, verbose=0)[0], best, rtol=1e-5)
    pred = np.argmax(model.predict(xte, verbose=0), axis=-1)
    assert set(encoder.inverse_transform(pred)) <= set(names)


def test_house_prices_checkpoint_best_h5_and_epoch_file_names(rng, tmp_path):
    """A regression kernel: ``ModelCheckpoint('best_model.h5',
    save_best_only=True)`` beside ``'weights-{epoch:02d}-{val_loss:.2f}.hdf5'``
    with Keras 2's ``period=1``; the best model loaded back scores the
    lowest val_loss, and scikit-learn's metrics agree with evaluate."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error
    x = rng.normal(size=(80, 5)).astype("float32")
    y = (x @ rng.normal(size=5) + 1).astype("float32")
    best = str(tmp_path / "best_model.h5")
    with pytest.warns(UserWarning, match="period"):
        every = keras.callbacks.ModelCheckpoint(
            str(tmp_path / "weights-{epoch:02d}-{val_loss:.2f}.hdf5"), save_weights_only=True,
            period=1)
    model = Sequential([Dense(16, activation="relu", input_shape=(5,)), Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="rmsprop",
                  metrics=["mean_absolute_error"])
    history = model.fit(x, y, validation_split=0.2, epochs=3, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(best, monitor="val_loss", save_best_only=True), every])
    files = sorted(os.listdir(tmp_path))
    assert files[0] == "best_model.h5" and len(files) == 4
    assert files[1] == f"weights-01-{history.history['val_loss'][0]:.2f}.hdf5"
    restored = load_model(best)
    xv, yv = x[64:], y[64:]
    loss, mae = restored.evaluate(xv, yv, verbose=0)
    np.testing.assert_allclose(loss, min(history.history["val_loss"]), rtol=1e-5)
    p = restored.predict(xv, verbose=0).ravel()
    np.testing.assert_allclose(loss, mean_squared_error(yv, p), rtol=1e-4)
    np.testing.assert_allclose(mae, mean_absolute_error(yv, p), rtol=1e-4)
    assert "val_mean_absolute_error" in history.history


def test_evaluate_unpacked_in_the_order_metrics_were_named(rng):
    """``loss, acc, recall, auc = model.evaluate(...)`` after
    ``metrics=['accuracy', 'Recall', 'AUC']``, and the fuel-efficiency
    regression's ``loss, mape, mae = ...`` after ``metrics=['mape',
    'mae']``: evaluate's list (and metrics_names) put the metrics named by
    a class ('Recall', 'AUC') or an alias ('mape', 'MAE') in alphabetical
    order, so the unpacked names held each other's values.  Keras 3 keeps
    the order compile was given; 'MAE' and 'MSE' are its metric names too."""
    from sklearn.metrics import mean_absolute_error, recall_score, roc_auc_score
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy", "Recall", "AUC"])
    model.fit(x, y, epochs=1, verbose=0)
    assert model.metrics_names == ["loss", "accuracy", "Recall", "AUC"]
    loss, acc, recall, auc = model.evaluate(x, y, batch_size=64, verbose=0)
    probs = model.predict(x, verbose=0).ravel()
    np.testing.assert_allclose(recall, recall_score(y, probs > 0.5), rtol=1e-6)
    np.testing.assert_allclose(auc, roc_auc_score(y, probs), atol=0.02)
    target = x @ np.array([1.0, 2.0, 3.0], np.float32) + 10
    regression = Sequential([Dense(1, input_shape=(3,))])
    regression.compile("adam", "mse", metrics=["mape", "MAE", "MSE"])
    history = regression.fit(x, target, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "mape", "MAE", "MSE"]
    loss, mape, mae, mse = regression.evaluate(x, target, batch_size=64, verbose=0)
    p = regression.predict(x, verbose=0).ravel()
    np.testing.assert_allclose(mae, mean_absolute_error(target, p), rtol=1e-4)
    np.testing.assert_allclose(mape, 100 * np.mean(np.abs((target - p) / target)), rtol=1e-4)
    np.testing.assert_allclose(mse, loss, rtol=1e-6)


def test_titanic_stratified_kfold_rebuilding_models(rng):
    """A K-fold loop: a ``create_model()`` per fold after
    ``K.clear_session()``, out-of-fold predictions scored with roc_auc,
    and the same model in scikit-learn's cross_val_score and GridSearchCV
    through ``KerasClassifier(build_fn=...)``."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
    from pynn.keras.wrappers.scikit_learn import KerasClassifier
    X = rng.normal(size=(60, 5)).astype("float32")
    Y = (X.sum(1) > 0).astype(int)

    def create_model(units=8, lr=0.01):
        model = Sequential()
        model.add(Dense(units, input_dim=5, activation="relu"))
        model.add(Dense(1, activation="sigmoid"))
        model.compile(loss="binary_crossentropy",
                      optimizer=keras.optimizers.Adam(learning_rate=lr), metrics=["accuracy"])
        return model

    oof, scores = np.zeros(len(X)), []
    for train, test in StratifiedKFold(n_splits=3, shuffle=True, random_state=7).split(X, Y):
        K.clear_session()
        model = create_model()
        assert model.name == "sequential" and model.layers[0].name == "dense"
        model.fit(X[train], Y[train], epochs=2, batch_size=10, verbose=0)
        scores.append(model.evaluate(X[test], Y[test], verbose=0)[1])
        oof[test] = model.predict(X[test], verbose=0).ravel()
    assert len(scores) == 3 and 0 <= roc_auc_score(Y, oof) <= 1
    estimator = KerasClassifier(build_fn=create_model, epochs=1, batch_size=10, verbose=0)
    results = cross_val_score(estimator, X, Y, cv=KFold(n_splits=3, shuffle=True,
                                                        random_state=1))
    assert results.shape == (3,) and np.all((results >= 0) & (results <= 1))
    grid = GridSearchCV(KerasClassifier(build_fn=create_model, verbose=0),
                        param_grid={"units": [4, 8], "epochs": [1]}, cv=2).fit(X, Y)
    assert set(grid.best_params_) == {"units", "epochs"}


def test_credit_fraud_class_weights_and_confusion_metrics(rng):
    """TensorFlow's imbalanced-data tutorial: an output bias of
    ``log(pos/neg)``, class weights from scikit-learn's
    ``compute_class_weight('balanced')``, the TP/FP/TN/FN, precision,
    recall, AUC and PR-AUC metrics, early stopping on ``val_prc``."""
    from sklearn.metrics import confusion_matrix, precision_score
    from sklearn.utils import class_weight
    x = rng.normal(size=(100, 3)).astype("float32")
    y = (x[:, 0] > 1.0).astype(int)
    weights = dict(enumerate(class_weight.compute_class_weight(
        class_weight="balanced", classes=np.unique(y), y=y)))
    neg, pos = np.bincount(y)
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)),
                        Dense(1, activation="sigmoid", bias_initializer=keras.initializers.Constant(
                            np.log([pos / neg])))])
    np.testing.assert_allclose(model.layers[1].bias.numpy(), np.log([pos / neg]), rtol=1e-6)
    metrics = [keras.metrics.TruePositives(name="tp"), keras.metrics.FalsePositives(name="fp"),
               keras.metrics.TrueNegatives(name="tn"), keras.metrics.FalseNegatives(name="fn"),
               keras.metrics.BinaryAccuracy(name="accuracy"),
               keras.metrics.Precision(name="precision"), keras.metrics.Recall(name="recall"),
               keras.metrics.AUC(name="auc"), keras.metrics.AUC(name="prc", curve="PR")]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss=keras.losses.BinaryCrossentropy(), metrics=metrics)
    stop = keras.callbacks.EarlyStopping(monitor="val_prc", patience=10, mode="max",
                                         restore_best_weights=True)
    history = model.fit(x, y, batch_size=32, epochs=3, class_weight=weights,
                        validation_split=0.2, callbacks=[stop], verbose=0)
    assert len(history.history["val_prc"]) == 3
    results = dict(zip(model.metrics_names, model.evaluate(x, y, batch_size=32, verbose=0)))
    pred = (model.predict(x, verbose=0) > 0.5).astype(int).ravel()
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (results["tp"], results["fp"], results["tn"], results["fn"]) == (tp, fp, tn, fn)
    np.testing.assert_allclose(results["precision"], precision_score(y, pred, zero_division=0),
                               rtol=1e-6)
    model.fit(x, y, sample_weight=class_weight.compute_sample_weight("balanced", y), epochs=1,
              verbose=0)


# ---------------------------------------------------------------- images

def test_mnist_style_fit_generator_with_augmentation(rng):
    """The digit-recognizer kernel: ``ImageDataGenerator(rotation_range,
    zoom_range, shifts, featurewise_center/std)``, ``datagen.fit(x)``,
    ``model.fit_generator(datagen.flow(x, y, batch_size), steps_per_epoch=
    len(x) // bs, callbacks=[ReduceLROnPlateau(monitor='val_accuracy')])``
    and ``evaluate_generator``."""
    from pynn.keras.preprocessing.image import ImageDataGenerator
    x = rng.random((40, 12, 12, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, 40), 3)
    datagen = ImageDataGenerator(rotation_range=10, zoom_range=0.1, width_shift_range=0.1,
                                 height_shift_range=0.1, featurewise_center=True,
                                 featurewise_std_normalization=True)
    datagen.fit(x)
    np.testing.assert_allclose(datagen.mean.ravel(), [x.mean()], rtol=1e-5)
    model = Sequential([layers.Conv2D(4, (3, 3), activation="relu", input_shape=(12, 12, 1)),
                        layers.MaxPool2D(), layers.Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", patience=1, factor=0.5,
                                               min_lr=0.00001)
    history = model.fit_generator(datagen.flow(x, y, batch_size=8), epochs=3,
                                  validation_data=(x[:8], y[:8]), steps_per_epoch=len(x) // 8,
                                  callbacks=[reduce], verbose=0)
    lrs = history.history["lr"]
    assert lrs[0] == pytest.approx(0.001) and all(b in (a, a / 2) for a, b in zip(lrs, lrs[1:]))
    loss, acc = model.evaluate_generator(datagen.flow(x, y, batch_size=8, shuffle=False), steps=5)
    assert np.isfinite(loss) and 0 <= acc <= 1


def test_dogs_vs_cats_flow_from_directory_binary(rng, tmp_path):
    """``flow_from_directory(..., class_mode='binary', subset=...)`` with
    ``validation_split``, ``fit(steps_per_epoch=samples // batch_size)``,
    then ``val.reset()``, ``predict(val, steps=len(val))`` and a confusion
    matrix against ``val.classes``, labels mapped back through
    ``class_indices``."""
    from sklearn.metrics import confusion_matrix
    from pynn.keras.preprocessing.image import ImageDataGenerator
    root = _png_folder(tmp_path / "train", ["cats", "dogs"], 10)
    gen = ImageDataGenerator(rescale=1. / 255, shear_range=0.2, zoom_range=0.2,
                             horizontal_flip=True, validation_split=0.2)
    train = gen.flow_from_directory(root, target_size=(16, 16), batch_size=4,
                                    class_mode="binary", subset="training")
    val = gen.flow_from_directory(root, target_size=(16, 16), batch_size=4,
                                  class_mode="binary", subset="validation", shuffle=False)
    assert train.class_indices == {"cats": 0, "dogs": 1}
    assert (train.samples, val.samples, train.image_shape) == (16, 4, (16, 16, 3))
    model = Sequential([layers.Conv2D(4, 3, input_shape=(16, 16, 3)), layers.Flatten(),
                        Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop(lr=1e-4),
                  metrics=["accuracy"])
    model.fit(train, steps_per_epoch=train.samples // train.batch_size, epochs=1,
              validation_data=val, validation_steps=val.samples // val.batch_size, verbose=0)
    val.reset()
    probs = model.predict(val, steps=len(val), verbose=0)
    assert probs.shape == (4, 1) and list(val.classes) == [0, 0, 1, 1]
    assert val.filenames[0] == os.path.join("cats", "cats0.png")
    pred = (probs > 0.5).astype(int).ravel()
    assert confusion_matrix(val.classes, pred, labels=[0, 1]).sum() == 4
    names = {v: k for k, v in train.class_indices.items()}
    assert {names[k] for k in pred} <= {"cats", "dogs"}


def test_flowers_image_dataset_from_directory_pipeline(rng, tmp_path):
    """TensorFlow's image classification tutorial: ``image_dataset_from_
    directory(validation_split, subset, seed)``, ``class_names``,
    ``cache().shuffle(1000).prefetch(AUTOTUNE)``, augmentation layers and
    Rescaling in the model, logits through ``tf.nn.softmax`` for one image
    read with ``load_img``/``img_to_array``/``tf.expand_dims``."""
    root = _png_folder(tmp_path / "flowers", ["daisy", "roses"], 10)
    kwargs = dict(validation_split=0.2, seed=123, image_size=(16, 16), batch_size=4,
                  label_mode="categorical")
    train_ds = keras.utils.image_dataset_from_directory(root, subset="training", **kwargs)
    val_ds = keras.preprocessing.image_dataset_from_directory(root, subset="validation",
                                                              **kwargs)
    class_names = train_ds.class_names
    assert class_names == ["daisy", "roses"]
    images, labels = next(iter(train_ds))
    assert images.shape == (4, 16, 16, 3) and labels.shape == (4, 2)
    train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=tf.data.AUTOTUNE)
    val_ds = val_ds.cache().prefetch(buffer_size=tf.data.experimental.AUTOTUNE)
    augmentation = keras.Sequential([layers.RandomFlip("horizontal", input_shape=(16, 16, 3)),
                                     layers.RandomRotation(0.1), layers.RandomZoom(0.1)])
    model = Sequential([augmentation, layers.Rescaling(1. / 255),
                        layers.Conv2D(4, 3, padding="same", activation="relu"),
                        layers.MaxPooling2D(), layers.Dropout(0.2), layers.Flatten(),
                        layers.Dense(len(class_names))])
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(train_ds, validation_data=val_ds, epochs=2, verbose=0)
    assert len(history.history["val_accuracy"]) == 2
    img = keras.utils.load_img(os.path.join(root, "daisy", "daisy0.png"), target_size=(16, 16))
    logits = model.predict(tf.expand_dims(keras.utils.img_to_array(img), 0), verbose=0)
    score = tf.nn.softmax(logits[0])
    np.testing.assert_allclose(np.sum(score), 1.0, rtol=1e-6)
    assert class_names[np.argmax(score)] in class_names
    y_true = np.concatenate([y for x, y in val_ds], axis=0)
    assert y_true.shape == (4, 2)


def test_cats_vs_dogs_from_scratch_of_keras_io(tmp_path):
    """keras.io's "Image classification from scratch": corrupt files
    dropped where ``tf.compat.as_bytes("JFIF")`` is not in the first bytes
    (tf.compat had no as_bytes), ``subset="both"``, augmentation layers
    applied in a ``tf_data.AUTOTUNE`` map, a SeparableConv2D network with
    ``layers.add`` residuals, ``ModelCheckpoint("save_at_{epoch}.keras")``
    and the score ``float(keras.ops.sigmoid(predictions[0][0]))``."""
    from pynn import data as tf_data
    root = _png_folder(tmp_path / "PetImages", ["Cat", "Dog"], 5, size=(24, 24))
    (tmp_path / "PetImages" / "Cat" / "broken.jpg").write_bytes(b"not an image")
    num_skipped = 0
    for folder_name in ("Cat", "Dog"):
        folder_path = os.path.join(root, folder_name)
        for fname in os.listdir(folder_path):
            fpath = os.path.join(folder_path, fname)
            with open(fpath, "rb") as fobj:
                is_image = tf.compat.as_bytes("PNG") in fobj.peek(10)
            if not is_image:
                num_skipped += 1
                os.remove(fpath)
    assert num_skipped == 1
    assert tf.compat.as_text(b"JFIF") == tf.compat.as_str("JFIF") == "JFIF"
    assert tf.compat.path_to_str(tmp_path) == str(tmp_path)
    with pytest.raises(TypeError, match="Expected binary or unicode string"):
        tf.compat.as_bytes(3)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        root, validation_split=0.2, subset="both", seed=1337, image_size=(16, 16), batch_size=4)
    augmentation_layers = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]

    def data_augmentation(images):
        for layer in augmentation_layers:
            images = layer(images)
        return images

    train_ds = train_ds.map(lambda img, label: (data_augmentation(img), label),
                            num_parallel_calls=tf_data.AUTOTUNE).prefetch(tf_data.AUTOTUNE)
    inputs = keras.Input(shape=(16, 16, 3))
    x = layers.Activation("relu")(layers.BatchNormalization()(
        layers.Conv2D(8, 3, strides=2, padding="same")(layers.Rescaling(1.0 / 255)(inputs))))
    previous = x
    for size in [8, 16]:
        x = layers.BatchNormalization()(layers.SeparableConv2D(size, 3, padding="same")(
            layers.Activation("relu")(x)))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.add([x, layers.Conv2D(size, 1, strides=2, padding="same")(previous)])
        previous = x
    outputs = layers.Dense(1)(layers.Dropout(0.25)(layers.GlobalAveragePooling2D()(x)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(3e-4),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(name="acc")])
    model.fit(train_ds, epochs=2, validation_data=val_ds, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(str(tmp_path / "save_at_{epoch}.keras"))])
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["save_at_1.keras",
                                                               "save_at_2.keras"]
    img = keras.utils.load_img(os.path.join(root, "Cat", "Cat1.png"), target_size=(16, 16))
    predictions = model.predict(keras.ops.expand_dims(keras.utils.img_to_array(img), 0),
                                verbose=0)
    score = float(keras.ops.sigmoid(predictions[0][0]))
    np.testing.assert_allclose(score, 1 / (1 + np.exp(-predictions[0][0])), rtol=1e-6)


def test_mobilenet_v2_transfer_learning_then_fine_tuning(rng):
    """TensorFlow's transfer learning tutorial with ``weights=None``: a
    frozen base called with ``training=False``, preprocess_input, a new
    head; then ``base.trainable = True`` with all but the last layers
    frozen again, recompiled with a lower rate, trained on from
    ``initial_epoch=history.epoch[-1] + 1``."""
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False,
                                          weights=None, alpha=0.35)
    base.trainable = False
    inputs = keras.Input(shape=(32, 32, 3))
    x = base(keras.applications.mobilenet_v2.preprocess_input(inputs), training=False)
    outputs = layers.Dense(1)(layers.Dropout(0.2)(layers.GlobalAveragePooling2D()(x)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0, name="accuracy")])
    assert len(model.trainable_variables) == 2
    images = rng.random((8, 32, 32, 3)).astype("float32") * 255
    labels = rng.integers(0, 2, 8)
    history = model.fit(images, labels, epochs=1, verbose=0)
    base.trainable = True
    assert len(base.layers) == 154
    for layer in base.layers[:100]:
        layer.trainable = False
    model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(learning_rate=1e-5), metrics=["accuracy"])
    want = sum(len(layer.trainable_weights) for layer in base.layers[100:]) + 2
    assert len(model.trainable_variables) == want
    frozen = [w.numpy().copy() for w in base.layers[1].weights]
    fine = model.fit(images, labels, epochs=3, initial_epoch=history.epoch[-1] + 1, verbose=0)
    assert fine.epoch == [1, 2]
    for w, before in zip(base.layers[1].weights, frozen):
        np.testing.assert_array_equal(w.numpy(), before)


def test_vgg16_base_in_a_sequential_and_submission_mapping(rng, tmp_path):
    """A Keras 2 kernel: VGG16 (``weights=None``) frozen layer by layer and
    added to a Sequential; ``ImageDataGenerator(preprocessing_function=
    preprocess_input)``; a test iterator with ``class_mode=None,
    shuffle=False`` whose predictions map back to labels through
    ``class_indices`` beside ``filenames``; a feature extractor
    ``Model(base.input, base.get_layer('block3_pool').output)``."""
    from pynn.keras.applications import VGG16
    from pynn.keras.applications.vgg16 import preprocess_input
    from pynn.keras.preprocessing.image import ImageDataGenerator
    root = _png_folder(tmp_path / "imgs", ["a", "b", "c"], 3)
    base = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    for layer in base.layers:
        layer.trainable = False
    model = Sequential()
    model.add(base)
    model.add(layers.Flatten())
    model.add(Dense(3, activation="softmax"))
    model.compile(optimizer=keras.optimizers.SGD(lr=1e-4, momentum=0.9),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 26
    train = ImageDataGenerator(preprocessing_function=preprocess_input).flow_from_directory(
        root, target_size=(32, 32), batch_size=3, classes=["a", "b", "c"])
    model.fit(train, epochs=1, verbose=0)
    test_gen = ImageDataGenerator(preprocessing_function=preprocess_input).flow_from_directory(
        root, target_size=(32, 32), class_mode=None, shuffle=False, batch_size=4)
    test_gen.reset()
    pred = model.predict(test_gen, steps=len(test_gen), verbose=0)
    labels = {v: k for k, v in train.class_indices.items()}
    predictions = [labels[k] for k in np.argmax(pred, axis=1)]
    assert len(predictions) == len(test_gen.filenames) == 9
    feat = Model(inputs=base.input, outputs=base.get_layer("block3_pool").output)
    assert feat.predict(np.zeros((1, 32, 32, 3)), verbose=0).shape == (1, 4, 4, 256)


def test_grad_cam_heatmap_from_keras_io(rng, tmp_path):
    """keras.io's Grad-CAM: ``model.layers[-1].activation = None``, a
    model of ``[last conv output, model.output]``, the gradient of the top
    class's score under a GradientTape, pooled and weighed into a heatmap,
    coloured with matplotlib's jet map and blended with array_to_img."""
    import matplotlib
    matplotlib.use("Agg")
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="relu")(inp)
    x = layers.Conv2D(6, 3, activation="relu", name="last_conv")(x)
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    img_array = rng.random((1, 16, 16, 3)).astype("float32")
    model.layers[-1].activation = None
    grad_model = keras.models.Model([model.inputs],
                                    [model.get_layer("last_conv").output, model.output])
    with tf.GradientTape() as tape:
        conv_out, preds = grad_model(img_array)
        pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, conv_out)
    pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
    # the pooled gradient is the top logit's Dense column over the 12 x 12 positions
    np.testing.assert_allclose(pooled, model.layers[-1].kernel.numpy()[:, int(pred_index)] / 144,
                               rtol=1e-5, atol=1e-8)
    heatmap = tf.squeeze(conv_out[0] @ pooled[..., tf.newaxis])
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    assert heatmap.numpy().shape == (12, 12)
    heatmap = np.uint8(255 * heatmap)
    jet = matplotlib.colormaps["jet"](np.arange(256))[:, :3][heatmap]
    jet = keras.utils.img_to_array(keras.utils.array_to_img(jet).resize((16, 16)))
    blended = keras.utils.array_to_img(jet * 0.4 + img_array[0] * 255)
    blended.save(str(tmp_path / "cam.jpg"))
    assert blended.size == (16, 16)


def test_tf_data_pipeline_from_file_paths(rng, tmp_path):
    """TensorFlow's "Load and preprocess images" tutorial: ``list_files``,
    labels from ``tf.strings.split(path, os.path.sep)[-2] == class_names``,
    ``tf.io.read_file``/``decode_png``/``tf.image.resize`` in a map with
    AUTOTUNE, cache/shuffle/batch/prefetch, tf.image augmentation, and a
    probability model on top."""
    import pathlib
    data_dir = pathlib.Path(_png_folder(tmp_path / "pipe", ["x", "y"], 4))
    image_count = len(list(data_dir.glob("*/*.png")))
    list_ds = tf.data.Dataset.list_files(str(data_dir / "*/*"), shuffle=False)
    list_ds = list_ds.shuffle(image_count, reshuffle_each_iteration=False)
    class_names = np.array(sorted(item.name for item in data_dir.glob("*")))

    def process_path(file_path):
        label = tf.argmax(tf.strings.split(file_path, os.path.sep)[-2] == class_names)
        img = tf.image.resize(tf.io.decode_png(tf.io.read_file(file_path), channels=3), [12, 12])
        return img, label

    train_ds = list_ds.map(process_path, num_parallel_calls=tf.data.AUTOTUNE)
    image, label = next(iter(train_ds))
    assert image.numpy().shape == (12, 12, 3) and int(label) in (0, 1)

    def augment(image, label):
        image = tf.image.random_flip_left_right(image)
        image = tf.image.convert_image_dtype(image / 255.0, tf.float32)
        return tf.clip_by_value(image, 0, 1), label

    train_ds = train_ds.cache().shuffle(1000).batch(4).prefetch(tf.data.AUTOTUNE).map(augment)
    model = Sequential([layers.Input((12, 12, 3)), layers.Conv2D(4, 3, activation="relu"),
                        layers.GlobalMaxPooling2D(), Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_ds, epochs=1, verbose=0)
    image_batch, label_batch = next(iter(train_ds))
    assert image_batch.shape == (4, 12, 12, 3) and float(tf.reduce_max(image_batch)) <= 1
    probability_model = Sequential([model, layers.Softmax()])
    np.testing.assert_allclose(probability_model.predict(image_batch, verbose=0).sum(1),
                               np.ones(4), rtol=1e-6)
    np.testing.assert_array_equal(
        tf.math.confusion_matrix([0, 1, 1], [0, 1, 0], num_classes=2).numpy(), [[1, 0], [1, 1]])


# ------------------------------------------------------------------ text

@needs_keras
@pytest.mark.parametrize("kwargs", [dict(num_words=100, oov_token="<OOV>"), dict(num_words=5),
                                    dict(char_level=True)])
def test_tokenizer_pad_sequences_and_json_as_keras_legacy(kwargs):
    """The "NLP Zero to Hero" notebook: ``Tokenizer(num_words, oov_token)``,
    ``texts_to_sequences``, ``pad_sequences(padding='post', truncating=
    'post', maxlen)``, a reverse word index, ``to_json``/``tokenizer_from_
    json`` saved for serving; the same numbers as Keras's own Tokenizer, and
    each reads the other's JSON."""
    from keras.src.legacy.preprocessing import text as keras_text
    from pynn.keras.preprocessing.sequence import pad_sequences
    from pynn.keras.preprocessing.text import Tokenizer, tokenizer_from_json
    sentences = ["I love my dog", "I love my cat", "You love my dog!",
                 "Do you think my dog is amazing?"]
    ours, theirs = Tokenizer(**kwargs), keras_text.Tokenizer(**kwargs)
    ours.fit_on_texts(sentences)
    theirs.fit_on_texts(sentences)
    assert ours.word_index == theirs.word_index
    test = sentences + ["i really love my manatee"]
    seqs = ours.texts_to_sequences(test)
    assert seqs == theirs.texts_to_sequences(test)
    padded = pad_sequences(seqs, padding="post", truncating="post", maxlen=5)
    np.testing.assert_array_equal(padded, real_keras.utils.pad_sequences(
        seqs, padding="post", truncating="post", maxlen=5))
    for mode in ("binary", "count", "tfidf", "freq"):
        np.testing.assert_allclose(ours.texts_to_matrix(test, mode=mode),
                                   theirs.texts_to_matrix(test, mode=mode), rtol=1e-6)
    reverse = {v: k for k, v in ours.word_index.items()}
    assert [reverse.get(i, "?") for i in padded[0]][:4] == \
        ([*"i lo"] if kwargs.get("char_level") else ["i", "love", "my", "dog"])
    assert tokenizer_from_json(theirs.to_json()).texts_to_sequences(test) == seqs
    assert keras_text.tokenizer_from_json(ours.to_json()).texts_to_sequences(test) == seqs


def test_captcha_ocr_with_ctc_and_inverted_string_lookup(rng):
    """keras.io's captcha OCR: characters to ids with ``StringLookup(
    vocabulary, mask_token=None)`` over ``tf.strings.unicode_split``, a
    CTCLayer adding ``K.ctc_batch_cost`` as its loss, trained on a
    dataset of {"image", "label"} dicts, then ``K.ctc_decode`` (greedy)
    and an inverted StringLookup joined with ``tf.strings.reduce_join``.
    ctc_decode pads its paths with -1, which the inverse lookup refused
    ("ids must be in [0, 7)"); Keras's gives the OOV token for an id of no
    token, so a short prediction reads "ab[UNK]"."""
    characters = sorted(set("abc123"))
    char_to_num = layers.StringLookup(vocabulary=list(characters), mask_token=None)
    num_to_char = layers.StringLookup(vocabulary=char_to_num.get_vocabulary(), mask_token=None,
                                      invert=True)
    label = char_to_num(tf.strings.unicode_split("ab1c", input_encoding="UTF-8"))
    np.testing.assert_array_equal(label, [4, 5, 1, 6])
    assert tf.strings.reduce_join(num_to_char(label)).numpy().decode("utf-8") == "ab1c"
    np.testing.assert_array_equal(num_to_char(np.array([4, -1, 7])), [b"a", b"[UNK]", b"[UNK]"])
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=[7, 8], invert=True)(
        np.array([1, -1, 3])), [7, -1, -1])

    class CTCLayer(layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.backend.ctc_batch_cost

        def call(self, y_true, y_pred):
            batch_len = tf.cast(tf.shape(y_true)[0], dtype="int64")
            input_length = tf.cast(tf.shape(y_pred)[1], dtype="int64")
            label_length = tf.cast(tf.shape(y_true)[1], dtype="int64")
            input_length = input_length * tf.ones(shape=(batch_len, 1), dtype="int64")
            label_length = label_length * tf.ones(shape=(batch_len, 1), dtype="int64")
            self.add_loss(self.loss_fn(y_true, y_pred, input_length, label_length))
            return y_pred

    input_img = layers.Input(shape=(20, 8, 1), name="image", dtype="float32")
    labels = layers.Input(name="label", shape=(None,), dtype="float32")
    x = layers.MaxPooling2D((2, 2))(layers.Conv2D(4, (3, 3), activation="relu",
                                                  padding="same")(input_img))
    x = layers.Dense(8, activation="relu")(layers.Reshape(target_shape=(10, 16))(x))
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True, dropout=0.25))(x)
    x = layers.Dense(len(char_to_num.get_vocabulary()) + 1, activation="softmax",
                     name="dense2")(x)
    model = keras.models.Model(inputs=[input_img, labels], outputs=CTCLayer(name="ctc_loss")(
        labels, x), name="ocr_model_v1")
    model.compile(optimizer=keras.optimizers.Adam())
    images = rng.random((8, 20, 8, 1)).astype("float32")
    targets = rng.integers(1, 7, (8, 4)).astype("float32")
    train = tf.data.Dataset.from_tensor_slices({"image": images, "label": targets}).batch(4)
    history = model.fit(train, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    prediction_model = keras.models.Model(model.get_layer(name="image").input,
                                          model.get_layer(name="dense2").output)
    pred = prediction_model.predict(images, verbose=0)
    input_len = np.ones(pred.shape[0]) * pred.shape[1]
    results = keras.backend.ctc_decode(pred, input_length=input_len, greedy=True)[0][0][:, :4]
    texts = [tf.strings.reduce_join(num_to_char(res)).numpy().decode("utf-8")
             for res in results]
    for res, text in zip(np.asarray(results), texts):
        assert text == "".join(characters[i - 1] if i > 0 else "[UNK]" for i in res)


def test_lyrics_text_generation_with_ngram_sequences(rng):
    """The "Irish lyrics" generator: n-gram prefixes of each line padded
    'pre', the last word one-hot with ``to_categorical(labels,
    num_classes=total_words)``, an Embedding + Bidirectional LSTM, then the
    next word taken with ``np.argmax(model.predict(...), axis=-1)`` (what
    replaced predict_classes) and looked up in ``word_index``."""
    from pynn.keras.preprocessing.sequence import pad_sequences
    from pynn.keras.preprocessing.text import Tokenizer
    data = ("In the town of Athy one Jeremy Lanigan\nBattered away til he hadnt a pound\n"
            "His father died and made him a man again")
    corpus = data.lower().split("\n")
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(corpus)
    total_words = len(tokenizer.word_index) + 1
    input_sequences = []
    for line in corpus:
        token_list = tokenizer.texts_to_sequences([line])[0]
        input_sequences += [token_list[:i + 1] for i in range(1, len(token_list))]
    max_len = max(len(s) for s in input_sequences)
    input_sequences = np.array(pad_sequences(input_sequences, maxlen=max_len, padding="pre"))
    xs, labels = input_sequences[:, :-1], input_sequences[:, -1]
    ys = keras.utils.to_categorical(labels, num_classes=total_words)
    model = Sequential()
    model.add(layers.Embedding(total_words, 8))
    model.add(layers.Bidirectional(layers.LSTM(6)))
    model.add(Dense(total_words, activation="softmax"))
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])
    model.fit(xs, ys, epochs=2, verbose=0)
    seed_text = "jeremy"
    for _ in range(3):
        token_list = pad_sequences([tokenizer.texts_to_sequences([seed_text])[0]],
                                   maxlen=max_len - 1, padding="pre")
        predicted = np.argmax(model.predict(token_list, verbose=0), axis=-1)
        assert predicted.shape == (1,)
        output_word = next((w for w, i in tokenizer.word_index.items() if i == predicted), "")
        seed_text += " " + output_word
    assert len(seed_text.split()) == 4


def test_toxic_comments_text_cnn_and_masked_bigru(rng, tmp_path):
    """Kaggle's toxic-comments kernels: parallel Conv1D branches of kernel
    sizes 2-4 over a SpatialDropout1D'd Embedding, max-pooled and
    concatenated; and ``Embedding(mask_zero=True)`` into a
    ``Bidirectional(GRU(reset_after=False), merge_mode='sum')``, a
    Bidirectional LSTM with recurrent dropout, dot-product Attention,
    average and max pooling, saved as .h5 and loaded back."""
    maxlen, vocab = 12, 40
    xs = rng.integers(1, vocab, (24, maxlen))
    ys = rng.integers(0, 2, 24)
    inp = Input(shape=(maxlen,), dtype="int32")
    emb = layers.SpatialDropout1D(0.2)(layers.Embedding(vocab, 8)(inp))
    pooled = [layers.GlobalMaxPooling1D()(layers.Conv1D(
        4, k, activation="relu", kernel_regularizer=keras.regularizers.l2(0.01))(emb))
        for k in (2, 3, 4)]
    out = Dense(1, activation="sigmoid")(layers.GaussianNoise(0.1)(
        layers.Concatenate(axis=1)(pooled)))
    cnn = Model(inputs=[inp], outputs=[out])
    cnn.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    cnn.fit(xs, ys, batch_size=8, epochs=1, validation_split=0.25, verbose=0)

    padded = xs.copy()
    padded[:, 9:] = 0
    inp2 = Input(shape=(maxlen,))
    e = layers.Embedding(vocab, 8, mask_zero=True)(inp2)
    g = layers.Bidirectional(layers.GRU(4, return_sequences=True, reset_after=False),
                             merge_mode="sum")(e)
    g = layers.Bidirectional(layers.LSTM(4, return_sequences=True, dropout=0.1,
                                         recurrent_dropout=0.1))(g)
    att = layers.Attention()([g, g])
    both = layers.concatenate([layers.GlobalAveragePooling1D()(att),
                               layers.GlobalMaxPooling1D()(g)])
    rnn = Model(inp2, Dense(1, activation="sigmoid")(both))
    rnn.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC()])
    assert sorted(rnn.fit(padded, ys, epochs=1, verbose=0).history) == ["auc", "loss"]
    path = str(tmp_path / "gru.h5")
    rnn.save(path)
    np.testing.assert_allclose(load_model(path).predict(padded, verbose=0),
                               rnn.predict(padded, verbose=0), rtol=1e-5, atol=1e-7)


def test_transformer_block_classifier_with_validation_freq(rng):
    """keras.io's "Text classification with Transformer": custom
    TransformerBlock and TokenAndPositionEmbedding layers (``tf.shape(x)
    [-1]``, ``tf.range``), ``SparseTopKCategoricalAccuracy``, and
    ``validation_freq=2``: validation only every second epoch."""

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"),
                                         layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1, self.dropout2 = layers.Dropout(rate), layers.Dropout(rate)

        def call(self, inputs, training=False):
            attn = self.dropout1(self.att(inputs, inputs), training=training)
            out1 = self.layernorm1(inputs + attn)
            return self.layernorm2(out1 + self.dropout2(self.ffn(out1), training=training))

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            positions = self.pos_emb(tf.range(start=0, limit=tf.shape(x)[-1], delta=1))
            return self.token_emb(x) + positions

    maxlen, vocab = 10, 30
    inputs = layers.Input(shape=(maxlen,))
    x = TransformerBlock(8, 2, 8)(TokenAndPositionEmbedding(maxlen, vocab, 8)(inputs))
    x = layers.Dense(4, activation="relu")(layers.Dropout(0.1)(layers.GlobalAveragePooling1D()(x)))
    model = keras.Model(inputs=inputs, outputs=layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=1,
                                                                                  name="top1")])
    xs, ys = rng.integers(0, vocab, (16, maxlen)), rng.integers(0, 2, 16)
    history = model.fit(xs, ys, batch_size=8, epochs=4, validation_data=(xs, ys), verbose=0,
                        validation_freq=2)
    assert len(history.history["loss"]) == 4 and len(history.history["val_top1"]) == 2
    assert history.history["top1"] == history.history["accuracy"]


# ----------------------------------------------------------- time series

def test_windowed_dataset_lstm_and_learning_rate_sweep(rng, tmp_path):
    """Coursera's time-series course: ``ds.window(size + 1, shift=1,
    drop_remainder=True).flat_map(lambda w: w.batch(size + 1))``, shuffled,
    split into (w[:-1], w[1:]), a causal Conv1D + LSTMs + ``Lambda(lambda
    x: x * 40)`` under Huber loss, the learning-rate sweep
    ``LearningRateScheduler(lambda epoch: 1e-8 * 10**(epoch / 20))``
    plotted from ``history.history["lr"]`` with semilogx, then
    ``model_forecast`` over every window."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = (np.sin(np.arange(120) / 10) + rng.normal(size=120) * 0.1).astype("float32")
    window_size, split = 10, 90

    def windowed_dataset(series, window_size, batch_size, shuffle_buffer):
        ds = tf.data.Dataset.from_tensor_slices(tf.expand_dims(series, axis=-1))
        ds = ds.window(window_size + 1, shift=1, drop_remainder=True)
        ds = ds.flat_map(lambda w: w.batch(window_size + 1)).shuffle(shuffle_buffer)
        return ds.map(lambda w: (w[:-1], w[1:])).batch(batch_size).prefetch(1)

    x, y = next(iter(windowed_dataset(series[:split], window_size, 16, 100)))
    assert x.shape == (16, 10, 1) and y.shape == (16, 10, 1)
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    model = Sequential([
        layers.Conv1D(filters=8, kernel_size=3, strides=1, padding="causal", activation="relu",
                      input_shape=[None, 1]),
        layers.LSTM(8, return_sequences=True), layers.Dense(1), layers.Lambda(lambda x: x * 40)])
    model.compile(loss=keras.losses.Huber(), metrics=["mae"],
                  optimizer=keras.optimizers.SGD(learning_rate=1e-8, momentum=0.9))
    history = model.fit(windowed_dataset(series[:split], window_size, 16, 100), epochs=3,
                        callbacks=[keras.callbacks.LearningRateScheduler(
                            lambda epoch: 1e-8 * 10 ** (epoch / 20))], verbose=0)
    np.testing.assert_allclose(history.history["lr"], [1e-8 * 10 ** (e / 20) for e in range(3)],
                               rtol=1e-6)
    plt.semilogx(history.history["lr"], history.history["loss"])
    plt.axis([1e-8, 1e-4, 0, 30])
    plt.savefig(str(tmp_path / "lr.png"))
    plt.close()

    def model_forecast(model, series, window_size):
        ds = tf.data.Dataset.from_tensor_slices(series)
        ds = ds.window(window_size, shift=1, drop_remainder=True)
        ds = ds.flat_map(lambda w: w.batch(window_size))
        return model.predict(ds.batch(32).prefetch(1), verbose=0)

    forecast = model_forecast(model, series[..., np.newaxis], window_size)
    assert forecast.shape == (111, 10, 1)
    forecast = forecast[split - window_size:-1, -1, 0]
    mae = keras.metrics.mean_absolute_error(series[split:], forecast).numpy()
    np.testing.assert_allclose(mae, np.mean(np.abs(series[split:] - forecast)), rtol=1e-5)


def test_weather_forecast_timeseries_dataset_and_best_weights(rng, tmp_path):
    """keras.io's weather forecasting: ``timeseries_dataset_from_array``
    (targets shifted by the sequence length, ``start_index`` for the
    validation part), a GRU with recurrent dropout, ``ModelCheckpoint(
    save_weights_only=True, save_best_only=True)`` to ``.weights.h5`` beside
    EarlyStopping, then ``load_weights`` of the best."""
    data = rng.normal(size=(200, 3)).astype("float32")
    seq = 12
    train = keras.utils.timeseries_dataset_from_array(
        data[:-seq], targets=data[seq:, 0], sequence_length=seq, batch_size=32, shuffle=True,
        seed=1, end_index=150)
    val = keras.preprocessing.timeseries_dataset_from_array(
        data[:-seq], data[seq:, 0], sequence_length=seq, batch_size=32, start_index=150)
    inputs, targets = next(iter(val))
    assert inputs.numpy().shape == (27, 12, 3)
    np.testing.assert_array_equal(inputs.numpy()[1], data[151:163])
    assert targets.numpy()[1] == data[163, 0]
    inp = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
    model = keras.Model(inp, layers.Dense(1)(layers.GRU(8, dropout=0.1,
                                                        recurrent_dropout=0.1)(inp)))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
    path = str(tmp_path / "model_checkpoint.weights.h5")
    history = model.fit(train, epochs=3, validation_data=val, verbose=0, callbacks=[
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5),
        keras.callbacks.ModelCheckpoint(monitor="val_loss", filepath=path, verbose=0,
                                        save_weights_only=True, save_best_only=True)])
    model.load_weights(path)
    np.testing.assert_allclose(model.evaluate(val, verbose=0), min(history.history["val_loss"]),
                               rtol=1e-5)


def test_timeseries_generator_and_recursive_forecast(rng):
    """A Keras 2 forecasting blog: MinMaxScaler, ``TimeseriesGenerator(
    scaled, scaled, length=n_input, batch_size)`` given to fit and
    fit_generator, ``model.history.history['loss']``, then a forecast fed
    back into the window one step at a time with ``np.append``."""
    from sklearn.preprocessing import MinMaxScaler
    from pynn.keras.preprocessing.sequence import TimeseriesGenerator
    series = np.arange(60, dtype="float32").reshape(-1, 1)
    scaler = MinMaxScaler()
    scaled = scaler.fit_transform(series)
    n_input, n_features = 5, 1
    generator = TimeseriesGenerator(scaled, scaled, length=n_input, batch_size=8)
    assert len(generator) == 7
    np.testing.assert_array_equal(generator[0][0][1, :, 0], scaled[1:6, 0])
    np.testing.assert_array_equal(generator[0][1][1], scaled[6])
    model = Sequential()
    model.add(layers.LSTM(10, activation="relu", input_shape=(n_input, n_features)))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")
    model.fit(generator, epochs=2, verbose=0)
    model.fit_generator(generator, epochs=1, verbose=0)
    assert len(model.history.history["loss"]) == 1
    current_batch = scaled[-n_input:].reshape((1, n_input, n_features))
    predictions = []
    for _ in range(3):
        current_pred = model.predict(current_batch, verbose=0)[0]
        predictions.append(current_pred)
        current_batch = np.append(current_batch[:, 1:, :], [[current_pred]], axis=1)
    np.testing.assert_array_equal(current_batch[0, -3:], np.array(predictions))
    assert scaler.inverse_transform(predictions).shape == (3, 1)


def test_stateful_lstm_and_lstm_autoencoder(rng):
    """A stateful LSTM (``batch_input_shape=(1, 1, 1)``, ``stateful=True``)
    trained one epoch at a time with ``shuffle=False`` and
    ``model.reset_states()`` between them; an LSTM autoencoder with
    RepeatVector and TimeDistributed, whose encoder is
    ``Model(inputs=model.inputs, outputs=model.layers[0].output)``."""
    series = np.sin(np.arange(30) / 5).astype("float32")
    X, Y = series[:-1].reshape(-1, 1, 1), series[1:].reshape(-1, 1)
    model = Sequential()
    model.add(layers.LSTM(4, batch_input_shape=(1, 1, 1), stateful=True))
    model.add(Dense(1))
    model.compile(loss="mean_squared_error", optimizer="adam")
    for _ in range(2):
        model.fit(X, Y, epochs=1, batch_size=1, verbose=0, shuffle=False)
        model.reset_states()
    first = model.predict(X[:1], batch_size=1, verbose=0)
    second = model.predict(X[:1], batch_size=1, verbose=0)
    assert not np.allclose(first, second)  # the state carried over
    model.reset_states()
    np.testing.assert_allclose(model.predict(X[:1], batch_size=1, verbose=0), first, rtol=1e-6)
    seq = rng.normal(size=(16, 7, 2)).astype("float32")
    ae = Sequential([layers.LSTM(8, activation="relu", input_shape=(7, 2)),
                     layers.RepeatVector(7), layers.LSTM(8, activation="relu",
                                                         return_sequences=True),
                     layers.TimeDistributed(Dense(2))])
    ae.compile(optimizer="adam", loss="mse")
    ae.fit(seq, seq, epochs=1, verbose=0)
    assert ae.predict(seq[:2], verbose=0).shape == (2, 7, 2)
    encoder = Model(inputs=ae.inputs, outputs=ae.layers[0].output)
    assert encoder.predict(seq[:2], verbose=0).shape == (2, 8)


# ---------------------------------------------------------- autoencoders

def test_ecg_anomaly_detector_subclassed_autoencoder(rng):
    """TensorFlow's ECG anomaly detection: an ``AnomalyDetector(Model)``
    of an encoder and a decoder Sequential, trained on normal rhythms only,
    the threshold ``mean + std`` of the training reconstruction MAE, and
    ``tf.math.less(loss, threshold)`` scored with scikit-learn."""
    from sklearn.metrics import accuracy_score, precision_score, recall_score
    normal = rng.normal(size=(200, 16)).astype("float32") * 0.05 + 0.5
    anomalous = rng.random((20, 16)).astype("float32")

    class AnomalyDetector(Model):
        def __init__(self):
            super(AnomalyDetector, self).__init__()
            self.encoder = tf.keras.Sequential([layers.Dense(8, activation="relu"),
                                                layers.Dense(4, activation="relu")])
            self.decoder = tf.keras.Sequential([layers.Dense(8, activation="relu"),
                                                layers.Dense(16, activation="sigmoid")])

        def call(self, x):
            return self.decoder(self.encoder(x))

    autoencoder = AnomalyDetector()
    autoencoder.compile(optimizer=keras.optimizers.Adam(0.01), loss="mae")
    autoencoder.fit(normal, normal, epochs=10, batch_size=32, shuffle=True, verbose=0,
                    validation_data=(anomalous, anomalous))
    reconstructions = autoencoder.predict(normal, verbose=0)
    train_loss = tf.keras.losses.mae(reconstructions, normal)
    np.testing.assert_allclose(train_loss, np.abs(reconstructions - normal).mean(1), rtol=1e-5)
    threshold = np.mean(train_loss) + np.std(train_loss)

    def predict(model, data, threshold):
        return tf.math.less(tf.keras.losses.mae(model(data), data), threshold)

    labels = np.r_[np.ones(200, bool), np.zeros(20, bool)]
    preds = np.r_[predict(autoencoder, normal, threshold), predict(autoencoder, anomalous,
                                                                   threshold)]
    assert accuracy_score(labels, preds) > 0.8
    assert precision_score(labels, preds) > 0.9 and recall_score(labels, preds) > 0.5
    assert autoencoder.encoder(anomalous).numpy().shape == (20, 4)


def test_conv1d_transpose_autoencoder_and_denoising_unet(rng):
    """keras.io's timeseries anomaly detection (Conv1D down, Conv1DTranspose
    up, strides 2, the threshold the largest training MAE); a denoising
    Conv2D/UpSampling2D autoencoder fed by ``flow_from_directory``-free
    arrays; a small U-Net with Conv2DTranspose skips, a Dice loss and
    MeanIoU/BinaryIoU metrics, saved as .keras with its custom functions."""
    x = rng.normal(size=(16, 24, 1)).astype("float32")
    model = keras.Sequential([
        layers.Input(shape=(24, 1)),
        layers.Conv1D(8, 7, padding="same", strides=2, activation="relu"),
        layers.Dropout(rate=0.2),
        layers.Conv1D(4, 7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(4, 7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(8, 7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(1, 7, padding="same")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
    model.fit(x, x, epochs=1, batch_size=8, validation_split=0.1, verbose=0, callbacks=[
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")])
    train_mae = np.mean(np.abs(model.predict(x, verbose=0) - x), axis=1)
    assert train_mae.shape == (16, 1) and np.sum(train_mae > np.max(train_mae)) == 0

    def dice_coef(y_true, y_pred, smooth=1):
        y_true_f, y_pred_f = K.flatten(y_true), K.flatten(y_pred)
        intersection = K.sum(y_true_f * y_pred_f)
        return (2. * intersection + smooth) / (K.sum(y_true_f) + K.sum(y_pred_f) + smooth)

    def bce_dice_loss(y_true, y_pred):
        return keras.losses.binary_crossentropy(y_true, y_pred) + 1 - dice_coef(y_true, y_pred)

    inputs = Input((16, 16, 1))
    c1 = layers.Conv2D(4, 3, activation="relu", kernel_initializer="he_normal",
                       padding="same")(inputs)
    c2 = layers.Conv2D(8, 3, activation="relu", padding="same")(layers.MaxPooling2D()(c1))
    u3 = layers.concatenate([layers.Conv2DTranspose(4, 2, strides=2, padding="same")(c2), c1],
                            axis=3)
    outputs = layers.Conv2D(1, 1, activation="sigmoid")(layers.Conv2D(4, 3, activation="relu",
                                                                      padding="same")(u3))
    unet = Model(inputs=[inputs], outputs=[outputs])
    unet.compile(optimizer="adam", loss=bce_dice_loss, metrics=[
        dice_coef, keras.metrics.MeanIoU(num_classes=2),
        keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)])
    images = rng.random((8, 16, 16, 1)).astype("float32")
    masks = (images > 0.5).astype("float32")
    history = unet.fit(images, masks, batch_size=4, epochs=1, verbose=0)
    assert sorted(history.history) == ["binary_io_u", "dice_coef", "loss", "mean_io_u"]
    pred = unet.predict(images, verbose=0)
    flat = pred.ravel()
    want = (2 * np.sum(masks.ravel() * flat) + 1) / (masks.sum() + flat.sum() + 1)
    np.testing.assert_allclose(float(dice_coef(masks, pred)), want, rtol=1e-5)
    from sklearn.metrics import jaccard_score
    logs = unet.evaluate(images, masks, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["binary_io_u"], jaccard_score(
        masks.ravel(), pred.ravel() > 0.5), rtol=1e-5)


# ------------------------------------------------------------- callbacks

def test_csv_logger_append_tensorboard_and_stopping_callback(rng, tmp_path):
    """Callbacks of the courses: ``CSVLogger(append=True)`` over two fits
    (one header), ``TensorBoard(log_dir=logs/fit/<datetime>,
    histogram_freq=1)`` with its train and validation run folders, the
    DeepLearning.AI ``myCallback`` that sets ``self.model.stop_training``
    from ``logs.get('accuracy')``, and the accuracy/loss plots."""
    import datetime
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = rng.normal(size=(60, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = Sequential([Dense(4, activation="relu", input_shape=(4,)),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy", keras.metrics.AUC(
        name="auc"), keras.metrics.Precision(), keras.metrics.Recall()])
    log = str(tmp_path / "training.log")
    log_dir = os.path.join(str(tmp_path), "logs", "fit",
                           datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    board = keras.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=1, write_graph=True,
                                        update_freq="epoch", profile_batch=0)
    model.fit(x, y, epochs=2, validation_split=0.2, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(log, separator=",", append=False), board])
    history = model.fit(x, y, epochs=2, validation_split=0.2, verbose=0,
                        callbacks=[keras.callbacks.CSVLogger(log, append=True)])
    rows = open(log).read().splitlines()
    assert rows[0] == ("epoch,accuracy,auc,loss,precision,recall,val_accuracy,val_auc,"
                       "val_loss,val_precision,val_recall")
    assert len(rows) == 5 and [r.split(",")[0] for r in rows[1:]] == ["0", "1", "0", "1"]
    assert float(rows[-1].split(",")[3]) == pytest.approx(history.history["loss"][-1])
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    assert all(os.listdir(os.path.join(log_dir, run)) for run in ("train", "validation"))

    class myCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs={}):
            if logs.get("accuracy") is not None and logs.get("accuracy") >= 0.0:
                self.model.stop_training = True

    history = model.fit(x, y, epochs=10, callbacks=[myCallback()], verbose=0)
    assert history.epoch == [0]
    acc = history.history["accuracy"]
    plt.plot(range(len(acc)), acc, "r", label="Training accuracy")
    plt.legend(loc=0)
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    for i, met in enumerate(["precision", "recall"]):
        ax[i].plot(history.history[met])
    plt.savefig(str(tmp_path / "acc.png"))
    plt.close("all")


def test_history_callback_of_the_program_and_pickled_history(rng, tmp_path):
    """The StackOverflow answer kernels copy: ``history = History()``,
    ``model.fit(..., callbacks=[history])`` then ``pickle.dump(
    history.history, file_pi)``.  fit returned (and set as
    ``model.history``) a History of its own, not the program's as Keras 3
    does; and the pickled dict was pynn's class, which reads back only
    where pynn is installed."""
    import pickle
    x = rng.normal(size=(40, 3)).astype("float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile("adam", "mse", metrics=["mae"])
    history = keras.callbacks.History()
    returned = model.fit(x, x.sum(1), epochs=2, verbose=0, validation_split=0.25,
                         callbacks=[history])
    assert returned is history and model.history is history
    assert history.epoch == [0, 1] and len(history.history["val_mae"]) == 2
    assert history.history["mean_absolute_error"] == history.history["mae"]  # tf.keras 2.0's
    path = tmp_path / "trainHistoryDict"
    with open(path, "wb") as file_pi:
        pickle.dump(history.history, file_pi)
    assert b"pynn" not in path.read_bytes()
    with open(path, "rb") as file_pi:
        loaded = pickle.load(file_pi)
    assert type(loaded) is dict and loaded == dict(history.history)
    np.save(tmp_path / "history.npy", history.history)
    assert np.load(tmp_path / "history.npy", allow_pickle=True).item() == loaded


def test_roc_auc_callback_one_cycle_and_lr_finder(rng):
    """Kaggle callbacks: a ``RocAucEvaluation`` writing ``logs['val_roc_
    auc']`` that EarlyStopping and CSV/History then see; a one-cycle
    schedule calling ``K.set_value(self.model.optimizer.lr, ...)`` in
    on_train_batch_begin (the step takes that rate); an LR finder growing
    the rate in on_batch_end and stopping mid-epoch."""
    from sklearn.metrics import roc_auc_score
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")

    class RocAucEvaluation(keras.callbacks.Callback):
        def __init__(self, validation_data=(), interval=1):
            super(RocAucEvaluation, self).__init__()
            self.interval = interval
            self.X_val, self.y_val = validation_data

        def on_epoch_end(self, epoch, logs={}):
            if epoch % self.interval == 0:
                logs["val_roc_auc"] = roc_auc_score(
                    self.y_val, self.model.predict(self.X_val, verbose=0))

    model = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    model.compile("adam", "binary_crossentropy")
    stop = keras.callbacks.EarlyStopping(monitor="val_roc_auc", mode="max", patience=1)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[
        RocAucEvaluation(validation_data=(x, y)), stop])
    assert sorted(history.history) == ["loss", "val_roc_auc"]
    assert stop.best == max(history.history["val_roc_auc"])

    class OneCycle(keras.callbacks.Callback):
        def __init__(self, lrs):
            super().__init__()
            self.lrs, self.seen = lrs, []

        def on_train_batch_begin(self, batch, logs=None):
            K.set_value(self.model.optimizer.lr, self.lrs[batch % len(self.lrs)])

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append(float(K.get_value(self.model.optimizer.learning_rate)))

    linear = Sequential([Dense(1, input_shape=(4,), kernel_initializer="zeros",
                               use_bias=False)])
    linear.compile(keras.optimizers.SGD(0.0), "mse")
    cycle = OneCycle([0.1, 0.0])
    linear.fit(x[:32], y[:32], batch_size=16, epochs=1, shuffle=False, callbacks=[cycle],
               verbose=0)
    grad = -2 * x[:16].T @ y[:16] / 16
    np.testing.assert_allclose(linear.get_weights()[0].ravel(), -0.1 * grad, rtol=1e-5)
    assert cycle.seen == [pytest.approx(0.1), 0.0]

    class LRFinder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.lrs, self.losses = [], []

        def on_train_begin(self, logs=None):
            K.set_value(self.model.optimizer.lr, 1e-4)

        def on_batch_end(self, batch, logs=None):
            lr = K.get_value(self.model.optimizer.lr)
            self.lrs.append(lr)
            self.losses.append(logs["loss"])
            K.set_value(self.model.optimizer.lr, lr * 10)
            if batch == 2:
                self.model.stop_training = True

    finder = LRFinder()
    linear.compile(keras.optimizers.SGD(), "mse")
    history = linear.fit(x, y, batch_size=4, epochs=3, callbacks=[finder], verbose=0)
    assert history.epoch == [0]
    np.testing.assert_allclose(finder.lrs, [1e-4, 1e-3, 1e-2], rtol=1e-6)


# -------------------------------------------------- custom objects, I/O

@keras.utils.register_keras_serializable(package="kaggle")
class ScaledDense(layers.Layer):
    """A custom layer of the blogs: add_weight in build, get_config."""

    def __init__(self, units=4, scale=1.0, **kwargs):
        super(ScaledDense, self).__init__(**kwargs)
        self.units, self.scale = units, scale

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros",
                                 trainable=True)
        super(ScaledDense, self).build(input_shape)

    def call(self, inputs):
        return self.scale * (tf.matmul(inputs, self.w) + self.b)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super(ScaledDense, self).get_config()
        config.update({"units": self.units, "scale": self.scale})
        return config


class WeightedMSE(keras.losses.Loss):
    def __init__(self, weight=2.0, name="weighted_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = weight

    def call(self, y_true, y_pred):
        return self.weight * tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def rmse(y_true, y_pred):
    return K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))


def r_square(y_true, y_pred):
    ss_res = K.sum(K.square(y_true - y_pred))
    ss_tot = K.sum(K.square(y_true - K.mean(y_true)))
    return 1 - ss_res / (ss_tot + K.epsilon())


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_custom_layer_loss_and_metric_functions_round_trip(rng, tmp_path, suffix):
    """A registered custom layer, a Loss subclass with get_config and the
    blogs' ``rmse``/``r_square`` metric functions, saved and loaded with
    ``custom_objects`` (and with ``compile=False``); ``to_json`` plus
    ``save_weights`` into ``model_from_json``.  r_square is scikit-learn's
    r2_score on one batch."""
    from sklearn.metrics import r2_score
    x = rng.normal(size=(40, 3)).astype("float32")
    y = x.sum(1, keepdims=True)
    model = Sequential([Input(shape=(3,)), ScaledDense(8, scale=0.5), layers.Activation("relu"),
                        Dense(1)])
    model.compile(optimizer="adam", loss=WeightedMSE(3.0), metrics=[rmse, r_square, "mae"])
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.25)
    assert sorted(history.history)[:4] == ["loss", "mae", "r_square", "rmse"]
    loss, got_rmse, got_r2, mae = model.evaluate(x, y, batch_size=40, verbose=0)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(loss, 3 * np.mean((p - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(got_r2, r2_score(y, p), rtol=1e-4)
    np.testing.assert_allclose(got_rmse, mae, rtol=1e-6)  # one output: |error|
    path = str(tmp_path / f"custom{suffix}")
    model.save(path)
    loaded = load_model(path, custom_objects={"WeightedMSE": WeightedMSE, "rmse": rmse,
                                              "r_square": r_square})
    np.testing.assert_allclose(loaded.evaluate(x, y, batch_size=40, verbose=0),
                               [loss, got_rmse, got_r2, mae], rtol=1e-5)
    bare = load_model(path, compile=False)
    assert type(bare.layers[0]) is ScaledDense and bare.layers[0].scale == 0.5
    assert keras.utils.get_registered_name(ScaledDense) == "kaggle>ScaledDense"
    weights = str(tmp_path / "w.weights.h5")
    model.save_weights(weights)
    rebuilt = keras.models.model_from_json(model.to_json())
    rebuilt.load_weights(weights)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), p, rtol=1e-6)


def test_f1_precision_recall_metric_functions_of_the_kernels(rng):
    """The ``recall_m``/``precision_m``/``f1_m`` functions copied across
    Kaggle kernels (``K.round(K.clip(y_true * y_pred, 0, 1))``), beside
    Keras's F1Score: on one full batch each is scikit-learn's score of the
    rounded predictions."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    def recall_m(y_true, y_pred):
        true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
        return true_positives / (K.sum(K.round(K.clip(y_true, 0, 1))) + K.epsilon())

    def precision_m(y_true, y_pred):
        true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
        return true_positives / (K.sum(K.round(K.clip(y_pred, 0, 1))) + K.epsilon())

    def f1_m(y_true, y_pred):
        precision, recall = precision_m(y_true, y_pred), recall_m(y_true, y_pred)
        return 2 * ((precision * recall) / (precision + recall + K.epsilon()))

    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")[:, None]
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=[
        "acc", f1_m, precision_m, recall_m, keras.metrics.F1Score(threshold=0.5)])
    model.fit(x, y, epochs=2, verbose=0, batch_size=64)
    _, acc, f1, precision, recall, f1_keras = model.evaluate(x, y, verbose=0, batch_size=64)
    pred = (model.predict(x, verbose=0) > 0.5).astype(int).ravel()
    np.testing.assert_allclose([f1, precision, recall, f1_keras], [
        f1_score(y.ravel(), pred), precision_score(y.ravel(), pred),
        recall_score(y.ravel(), pred), f1_score(y.ravel(), pred)], rtol=1e-4)


def test_siamese_network_with_contrastive_loss(rng, tmp_path):
    """The Keras 2 MNIST siamese example: one base network shared by two
    inputs, ``Lambda(euclidean_distance, output_shape=eucl_dist_output_
    shape)``, ``contrastive_loss`` and an accuracy function; its saved
    model holds Python code in the Lambda, which pynn writes only to its
    own format (and a triplet model over concatenated embeddings)."""

    def euclidean_distance(vects):
        x, y = vects
        return K.sqrt(K.maximum(K.sum(K.square(x - y), axis=1, keepdims=True), K.epsilon()))

    def eucl_dist_output_shape(shapes):
        return (shapes[0][0], 1)

    def contrastive_loss(y_true, y_pred):
        margin = 1
        return K.mean(y_true * K.square(y_pred) +
                      (1 - y_true) * K.square(K.maximum(margin - y_pred, 0)))

    def accuracy(y_true, y_pred):
        return K.mean(K.equal(y_true, K.cast(y_pred < 0.5, y_true.dtype)))

    base = Sequential([Dense(8, activation="relu", input_shape=(5,)), Dropout(0.1), Dense(4)])
    a, b = Input(shape=(5,)), Input(shape=(5,))
    distance = layers.Lambda(euclidean_distance,
                             output_shape=eucl_dist_output_shape)([base(a), base(b)])
    model = Model([a, b], distance)
    model.compile(loss=contrastive_loss, optimizer=keras.optimizers.RMSprop(),
                  metrics=[accuracy])
    pa, pb = rng.normal(size=(2, 32, 5)).astype("float32")
    same = rng.integers(0, 2, 32).astype("float32")
    model.fit([pa, pb], same, batch_size=8, epochs=1, validation_data=([pa, pb], same),
              verbose=0)
    d = model.predict([pa, pb], verbose=0)
    emb = base.predict(pa, verbose=0) - base.predict(pb, verbose=0)
    np.testing.assert_allclose(d[:, 0], np.sqrt(np.maximum((emb ** 2).sum(1), 1e-7)),
                               rtol=1e-5)
    _, acc = model.evaluate([pa, pb], same, batch_size=32, verbose=0)
    np.testing.assert_allclose(acc, np.mean(same == (d[:, 0] < 0.5)), rtol=1e-6)
    with pytest.raises(ValueError, match="Lambda, which holds Python code"):
        model.save(str(tmp_path / "siamese.h5"))
    model.save(str(tmp_path / "siamese.pynn"))

    def triplet_loss(y_true, y_pred, alpha=0.2):
        anchor, positive, negative = y_pred[:, :4], y_pred[:, 4:8], y_pred[:, 8:]
        pos_dist = K.sum(K.square(anchor - positive), axis=1)
        neg_dist = K.sum(K.square(anchor - negative), axis=1)
        return K.maximum(pos_dist - neg_dist + alpha, 0.0)

    c = Input(shape=(5,))
    triplet = Model([a, b, c], layers.concatenate([base(a), base(b), base(c)], axis=-1))
    triplet.compile(loss=triplet_loss, optimizer="adam")
    triplet.fit([pa, pb, pa[::-1]], np.zeros((32, 1)), epochs=1, verbose=0)


# --------------------------------------------------- models of many parts

def test_ticket_triage_multi_input_multi_output(rng, tmp_path):
    """keras.io's functional API guide: title, body and tags inputs, a
    priority and a department output, losses, loss_weights and metrics as
    dicts by output name, data as dicts of arrays and as a tf.data
    dataset of dicts, saved as .keras."""
    n = 48
    title, body = rng.integers(0, 50, (n, 6)), rng.integers(0, 80, (n, 10))
    tags = rng.integers(0, 2, (n, 4)).astype("float32")
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(4,), name="tags")
    x = layers.concatenate([layers.LSTM(8)(layers.Embedding(50, 8)(title_input)),
                            layers.LSTM(4)(layers.Embedding(80, 8)(body_input)), tags_input])
    model = keras.Model(inputs=[title_input, body_input, tags_input],
                        outputs=[layers.Dense(1, name="priority")(x),
                                 layers.Dense(3, name="department")(x)])
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
                        "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.2},
                  metrics={"priority": ["accuracy"],
                           "department": [keras.metrics.CategoricalAccuracy(name="acc")]})
    priority = (rng.random((n, 1)) > 0.5).astype("float32")
    department = keras.utils.to_categorical(rng.integers(0, 3, n), 3)
    inputs = {"title": title, "body": body, "tags": tags}
    targets = {"priority": priority, "department": department}
    history = model.fit(inputs, targets, epochs=1, batch_size=16, verbose=0,
                        validation_split=0.25)
    assert sorted(history.history) == sorted(
        p + k for p in ("", "val_") for k in ("loss", "priority_loss", "department_loss",
                                               "priority_accuracy", "department_acc"))
    logs = model.evaluate([title, body, tags], [priority, department], verbose=0,
                          return_dict=True)
    np.testing.assert_allclose(logs["loss"], logs["priority_loss"] +
                               0.2 * logs["department_loss"], rtol=1e-5)
    p, d = model.predict(inputs, verbose=0)
    want = np.mean(np.argmax(d, 1) == np.argmax(department, 1))
    np.testing.assert_allclose(logs["department_acc"], want, rtol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices((inputs, targets)).shuffle(64).batch(16)
    model.fit(ds.prefetch(tf.data.AUTOTUNE), epochs=1, verbose=0)
    path = str(tmp_path / "multi.keras")
    model.save(path)
    np.testing.assert_allclose(load_model(path).predict(inputs, verbose=0)[1],
                               model.predict(inputs, verbose=0)[1], rtol=1e-5, atol=1e-6)


def test_heart_disease_structured_data_preprocessing_layers(rng):
    """keras.io's structured data classification: a dataset from
    ``dict(dataframe)``, each column encoded by a Normalization or a
    StringLookup/IntegerLookup adapted on ``ds.map(lambda x, y: x[name])``
    (expanded to a column), concatenated, and a prediction for one patient
    from ``{name: tf.convert_to_tensor([value])}``."""
    n = 40
    data = {"age": rng.integers(20, 70, n).astype("int64"),
            "thal": np.array(["fixed", "normal", "reversible"])[rng.integers(0, 3, n)],
            "sex": rng.integers(0, 2, n), "chol": rng.normal(200, 30, n)}
    target = rng.integers(0, 2, n)
    train_ds = tf.data.Dataset.from_tensor_slices((dict(data), target)).shuffle(n).batch(8)
    features, label = next(iter(tf.data.Dataset.from_tensor_slices((dict(data), target))))
    assert sorted(features) == ["age", "chol", "sex", "thal"] and int(label) == target[0]

    def encode_numerical_feature(feature, name, dataset):
        normalizer = layers.Normalization()
        normalizer.adapt(dataset.map(lambda x, y: x[name]).map(lambda x: tf.expand_dims(x, -1)))
        return normalizer(feature), normalizer

    def encode_categorical_feature(feature, name, dataset, is_string):
        lookup = (layers.StringLookup if is_string else layers.IntegerLookup)(
            output_mode="one_hot")
        lookup.adapt(dataset.map(lambda x, y: x[name]).map(lambda x: tf.expand_dims(x, -1)))
        return lookup(feature)

    sex = keras.Input(shape=(1,), name="sex", dtype="int64")
    thal = keras.Input(shape=(1,), name="thal", dtype="string")
    age, chol = keras.Input(shape=(1,), name="age"), keras.Input(shape=(1,), name="chol")
    age_feature, age_norm = encode_numerical_feature(age, "age", train_ds)
    np.testing.assert_allclose(age_norm.mean.numpy().ravel(), [data["age"].mean()], rtol=1e-5)
    np.testing.assert_allclose(age_norm.variance.numpy().ravel(), [data["age"].var()], rtol=1e-4)
    encoded = layers.concatenate([encode_categorical_feature(sex, "sex", train_ds, False),
                                  encode_categorical_feature(thal, "thal", train_ds, True),
                                  age_feature, encode_numerical_feature(chol, "chol", train_ds)[0]])
    assert encoded.shape == (None, 3 + 4 + 2)
    x = layers.Dropout(0.5)(layers.Dense(8, activation="relu")(encoded))
    model = keras.Model([sex, thal, age, chol], layers.Dense(1, activation="sigmoid")(x))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(train_ds, epochs=2, validation_data=train_ds, verbose=0)
    sample = {"age": 60, "sex": 1, "chol": 230.0, "thal": "fixed"}
    prediction = model.predict({name: tf.convert_to_tensor([value])
                                for name, value in sample.items()}, verbose=0)
    assert prediction.shape == (1, 1) and 0 < prediction[0][0] < 1


def test_manual_hyperparameter_search_over_schedules(rng):
    """A Keras-Tuner-less search: ``itertools.product`` of units and
    dropout, each with another learning-rate schedule object
    (ExponentialDecay staircase, CosineDecay, PiecewiseConstantDecay,
    InverseTimeDecay) given to Adam, the best configuration kept by
    val_accuracy; then ``K.set_value``/``K.get_value`` and assignment on
    ``model.optimizer.lr``."""
    import itertools
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 3, 64)
    schedules = [
        keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=4, decay_rate=0.9,
                                                    staircase=True),
        keras.optimizers.schedules.CosineDecay(1e-2, decay_steps=100, alpha=0.1),
        tf.keras.optimizers.schedules.PiecewiseConstantDecay([4, 20], [1e-2, 5e-3, 1e-3]),
        tf.keras.optimizers.schedules.InverseTimeDecay(0.01, decay_steps=8, decay_rate=1)]
    step = 6  # 2 epochs of 3 batches
    want = [1e-2 * 0.9 ** (step // 4),
            1e-2 * (0.9 * 0.5 * (1 + np.cos(np.pi * step / 100)) + 0.1), 5e-3,
            0.01 / (1 + step / 8)]
    results = {}
    for ((units, dropout), schedule), rate in zip(zip(itertools.product([4, 8], [0.0, 0.3]),
                                                      schedules), want):
        model = Sequential([Dense(units, activation="relu", input_shape=(6,)), Dropout(dropout),
                            Dense(3, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0, batch_size=16)
        assert int(model.optimizer.iterations) == step
        np.testing.assert_allclose(float(model.optimizer.learning_rate), rate, rtol=1e-5)
        results[(units, dropout, type(schedule).__name__)] = max(history.history["val_accuracy"])
    assert max(results, key=results.get) in results
    model = Sequential([Dense(3, input_shape=(6,))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    assert K.get_value(model.optimizer.lr) == pytest.approx(0.1)
    K.set_value(model.optimizer.lr, 0.05)
    assert K.get_value(model.optimizer.learning_rate) == pytest.approx(0.05)
    model.optimizer.learning_rate.assign(0.02)
    assert float(model.optimizer.lr) == pytest.approx(0.02)
    model.optimizer.lr = 0.01
    history = model.fit(x, rng.normal(size=(64, 3)), epochs=3, verbose=0, callbacks=[
        keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: lr if epoch < 1 else float(lr * tf.math.exp(-0.1)))])
    np.testing.assert_allclose(history.history["lr"], 0.01 * np.exp(-0.1 * np.arange(3)),
                               rtol=1e-5)


def test_data_generators_sequence_and_from_generator(rng):
    """Stanford's "detailed example of how to use data generators":
    a ``keras.utils.Sequence`` shuffling its indexes in on_epoch_end, given
    to fit with ``workers``/``use_multiprocessing``/``max_queue_size`` and
    to fit_generator/predict_generator; an endless Python generator with
    steps_per_epoch; ``Dataset.from_generator`` with output_signature and
    with TF 2.0's output_types/output_shapes; class weights on a dataset;
    train_on_batch and test_on_batch."""

    class DataGenerator(keras.utils.Sequence):
        def __init__(self, x, y, batch_size=8, shuffle=True, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
            self.epochs_seen = 0
            self.on_epoch_end()

        def __len__(self):
            return int(np.floor(len(self.x) / self.batch_size))

        def __getitem__(self, index):
            idx = self.indexes[index * self.batch_size:(index + 1) * self.batch_size]
            return self.x[idx], self.y[idx]

        def on_epoch_end(self):
            self.epochs_seen += 1
            self.indexes = np.arange(len(self.x))
            if self.shuffle:
                np.random.shuffle(self.indexes)

    x = rng.normal(size=(40, 5)).astype("float32")
    labels = rng.integers(0, 2, 40)
    y = keras.utils.to_categorical(labels)
    model = Sequential([Dense(2, activation="softmax", input_shape=(5,))])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    train = DataGenerator(x, y)
    history = model.fit(train, validation_data=DataGenerator(x, y, shuffle=False), epochs=2,
                        verbose=0, workers=2, use_multiprocessing=False, max_queue_size=4)
    assert history.params["steps"] == 5 and train.epochs_seen == 3
    model.fit_generator(generator=DataGenerator(x, y), epochs=1, verbose=0, workers=1)
    np.testing.assert_allclose(model.predict_generator(DataGenerator(x, y, shuffle=False)),
                               model.predict(x, verbose=0), rtol=1e-6)

    def endless():
        while True:
            i = np.random.randint(0, 40, 8)
            yield x[i], y[i]

    model.fit(endless(), steps_per_epoch=3, epochs=1, verbose=0)
    signature = (tf.TensorSpec(shape=(5,), dtype=tf.float32),
                 tf.TensorSpec(shape=(2,), dtype=tf.float32))
    ds = tf.data.Dataset.from_generator(lambda: ((x[i], y[i]) for i in range(40)),
                                        output_signature=signature)
    model.fit(ds.batch(8).repeat(), steps_per_epoch=5, epochs=1, verbose=0)
    old = tf.data.Dataset.from_generator(lambda: ((x[i], y[i]) for i in range(40)),
                                         output_types=(tf.float32, tf.float32),
                                         output_shapes=((5,), (2,)))
    np.testing.assert_allclose(model.evaluate(old.batch(8), verbose=0),
                               model.evaluate(x, y, batch_size=8, verbose=0), rtol=1e-6)
    start = model.get_weights()
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), class_weight={0: 1., 1: 3.},
              epochs=1, verbose=0)
    by_dataset = model.get_weights()
    model.set_weights(start)
    model.fit(x, y, sample_weight=np.where(labels == 1, 3.0, 1.0), batch_size=8, epochs=1,
              shuffle=False, verbose=0)
    for a, b in zip(by_dataset, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    loss, acc = model.train_on_batch(x[:8], y[:8])
    assert np.isfinite(loss) and model.predict_on_batch(x[:2]).shape == (2, 2)
    np.testing.assert_allclose(model.test_on_batch(x[:8], y[:8]),
                               model.evaluate(x[:8], y[:8], verbose=0), rtol=1e-6)


def test_vae_with_its_own_train_step_and_loss_trackers(rng):
    """keras.io's VAE: a Sampling layer (``tf.shape``, ``tf.random.normal``),
    encoder and decoder models, a ``VAE(keras.Model)`` with Mean trackers
    listed in its ``metrics`` property and its own train_step: the history
    holds what the step returns, reset each epoch."""

    class Sampling(layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            epsilon = tf.random.normal(shape=(tf.shape(z_mean)[0], tf.shape(z_mean)[1]))
            return z_mean + tf.exp(0.5 * z_log_var) * epsilon

    encoder_inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Dense(8, activation="relu")(layers.Flatten()(x))
    z_mean, z_log_var = layers.Dense(2, name="z_mean")(x), layers.Dense(2, name="z_log_var")(x)
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    latent_inputs = keras.Input(shape=(2,))
    x = layers.Reshape((4, 4, 4))(layers.Dense(64, activation="relu")(latent_inputs))
    x = layers.Conv2DTranspose(4, 3, activation="relu", strides=2, padding="same")(x)
    decoder = keras.Model(latent_inputs, layers.Conv2DTranspose(
        1, 3, activation="sigmoid", padding="same")(x))

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.kl_loss_tracker]

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = self.decoder(z)
                reconstruction_loss = tf.reduce_mean(tf.reduce_sum(
                    keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
                kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
                kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
                total_loss = reconstruction_loss + kl_loss
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {"loss": self.total_loss_tracker.result(),
                    "kl_loss": self.kl_loss_tracker.result()}

    data = rng.random((32, 8, 8, 1)).astype("float32")
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    before = [w.numpy().copy() for w in decoder.weights]
    history = vae.fit(data, epochs=2, batch_size=16, verbose=0)
    assert sorted(history.history) == ["kl_loss", "loss"] and len(history.history["loss"]) == 2
    assert all(not np.array_equal(w.numpy(), b) for w, b in zip(decoder.weights, before))
    assert vae.encoder.predict(data, verbose=0)[0].shape == (32, 2)
    assert decoder.predict(np.array([[0.0, 0.0]]), verbose=0).shape == (1, 8, 8, 1)


def test_keras2_gan_with_a_frozen_discriminator_in_the_combined_model(rng):
    """The Keras 2 GAN scripts (eriklindernoren's Keras-GAN): the
    discriminator compiled, then ``discriminator.trainable = False`` before
    the combined model is built and compiled; ``train_on_batch`` on each.
    As in tf.keras 2, the discriminator still trains on its own (trainable
    took effect when it was compiled) and stays fixed in the combined
    model, whose steps train the generator."""
    latent = 4
    generator = Sequential([Dense(8, input_dim=latent), layers.LeakyReLU(0.2),
                            layers.BatchNormalization(momentum=0.8), Dense(6, activation="tanh")])
    discriminator = Sequential([Dense(8, input_dim=6), layers.LeakyReLU(alpha=0.2),
                                Dense(1, activation="sigmoid")])
    discriminator.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.0002, 0.5),
                          metrics=["accuracy"])
    discriminator.trainable = False
    z = Input(shape=(latent,))
    combined = Model(z, discriminator(generator(z)))
    combined.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.0002, 0.5))
    assert len(discriminator.trainable_weights) == 0 and len(combined.trainable_weights) == 6
    real = rng.normal(size=(8, 6)).astype("float32")
    noise = np.random.normal(0, 1, (8, latent))
    d0 = [w.copy() for w in discriminator.get_weights()]
    d_loss_real = discriminator.train_on_batch(real, np.ones((8, 1)))
    d_loss_fake = discriminator.train_on_batch(generator.predict(noise, verbose=0),
                                               np.zeros((8, 1)))
    d_loss = 0.5 * np.add(d_loss_real, d_loss_fake)
    assert d_loss.shape == (2,) and 0 <= d_loss[1] <= 1
    d1 = [w.copy() for w in discriminator.get_weights()]
    assert all(not np.array_equal(a, b) for a, b in zip(d0, d1))
    g0 = [w.copy() for w in generator.get_weights()]
    g_loss = combined.train_on_batch(noise, np.ones((8, 1)))
    assert np.ndim(g_loss) == 0 and np.isfinite(g_loss)
    for a, b in zip(d1, discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(g0[0], generator.get_weights()[0])


def test_tf_keras_2_import_paths_and_optimizers(rng, tmp_path):
    """Imports of Keras 2.2-2.4 kernels: ``keras.layers.core``,
    ``.recurrent``, ``.embeddings``, ``.normalization``,
    ``.advanced_activations``, ``.merge``, ``.pooling``,
    ``keras.utils.np_utils``, ``keras.utils.vis_utils.plot_model``,
    ``keras.engine.topology.Layer``, ``layers.experimental.preprocessing``;
    a model with l1_l2 and max_norm compiled with each of Keras's
    optimizers in turn; ``LeakyReLU(alpha=...)`` stored as Keras 3's
    negative_slope."""
    from pynn.keras.engine.topology import Layer  # noqa: F401
    from pynn.keras.layers.advanced_activations import LeakyReLU
    from pynn.keras.layers.core import Activation, Dense as CoreDense, Dropout as CoreDropout
    from pynn.keras.layers.embeddings import Embedding  # noqa: F401
    from pynn.keras.layers.experimental.preprocessing import RandomFlip, Rescaling  # noqa: F401
    from pynn.keras.layers.merge import concatenate  # noqa: F401
    from pynn.keras.layers.normalization import BatchNormalization
    from pynn.keras.layers.pooling import MaxPooling1D  # noqa: F401
    from pynn.keras.layers.recurrent import LSTM  # noqa: F401
    from pynn.keras.optimizers import Adadelta, Adagrad, Adamax, Nadam
    from pynn.keras.utils.np_utils import to_categorical
    from pynn.keras.utils.vis_utils import plot_model
    assert CoreDense is Dense and LSTM is layers.LSTM and Layer is layers.Layer
    x = rng.normal(size=(30, 6)).astype("float32")
    y = to_categorical(rng.integers(0, 3, 30))
    model = Sequential()
    model.add(CoreDense(8, input_shape=(6,), kernel_initializer="he_normal",
                        kernel_regularizer=keras.regularizers.l1_l2(l1=1e-5, l2=1e-4),
                        kernel_constraint=keras.constraints.max_norm(3)))
    model.add(BatchNormalization(momentum=0.9))
    model.add(LeakyReLU(alpha=0.1))
    model.add(CoreDropout(0.2))
    model.add(CoreDense(3))
    model.add(Activation("softmax"))
    assert model.layers[2].get_config()["negative_slope"] == pytest.approx(0.1)
    for opt in [Adadelta(), Nadam(), Adagrad(lr=0.01), Adamax(),
                keras.optimizers.AdamW(weight_decay=1e-4), keras.optimizers.Ftrl(),
                keras.optimizers.experimental.AdamW(weight_decay=1e-4)]:
        model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        loss = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
        assert np.linalg.norm(model.layers[0].kernel.numpy(), axis=0).max() <= 3 + 1e-5
    plot_model(model, to_file=str(tmp_path / "model.png"), show_shapes=True,
               show_layer_names=True)
    assert os.path.getsize(tmp_path / "model.png") > 0


def test_first_cell_seeding_devices_and_strategy():
    """A notebook's first cell: ``seed_everything`` (random, NumPy,
    tf.random.set_seed, PYTHONHASHSEED), ``keras.utils.set_random_seed`` with
    ``enable_op_determinism``; GPUs listed and memory growth set on each;
    the mixed-precision policy set and reset; a MirroredStrategy with
    the batch scaled by num_replicas_in_sync."""
    import random

    def seed_everything(seed=42):
        random.seed(seed)
        np.random.seed(seed)
        tf.random.set_seed(seed)
        os.environ["PYTHONHASHSEED"] = str(seed)

    seed_everything()
    a = Sequential([Dense(2, input_shape=(3,))]).get_weights()[0]
    seed_everything()
    np.testing.assert_array_equal(Sequential([Dense(2, input_shape=(3,))]).get_weights()[0], a)
    tf.keras.utils.set_random_seed(1)
    tf.config.experimental.enable_op_determinism()
    c = Sequential([Dense(2, input_shape=(3,))]).get_weights()[0]
    tf.keras.utils.set_random_seed(1)
    np.testing.assert_array_equal(Sequential([Dense(2, input_shape=(3,))]).get_weights()[0], c)
    gpus = tf.config.experimental.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    assert len(tf.config.list_physical_devices("GPU")) == len(gpus)
    from pynn.keras import mixed_precision
    mixed_precision.set_global_policy("mixed_float16")
    try:
        assert mixed_precision.global_policy().name == "mixed_float16"
    finally:
        mixed_precision.set_global_policy("float32")
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = Sequential([Dense(1, input_shape=(2,))])
        model.compile("adam", "mse")
    history = model.fit(np.ones((8, 2)), np.ones(8), epochs=1, verbose=0,
                        batch_size=2 * strategy.num_replicas_in_sync)
    assert history.params["steps"] == 8 // (2 * strategy.num_replicas_in_sync)


def test_saving_in_the_older_ways_and_export_to_tflite(rng, tmp_path):
    """``model.save(path, save_format='h5')``, ``keras.models.save_model``,
    the legacy HDF5 file's layout as Keras writes it, ``clone_model`` +
    ``set_weights``, ``Sequential.from_config``, ``summary(print_fn=...)``
    collected in a list, ``count_params`` and the TFLite converter with
    ``optimizations = [tf.lite.Optimize.DEFAULT]``; ``model.save`` to a
    folder (tf.keras 2's SavedModel) and load_model of that folder."""
    import h5py
    x = rng.normal(size=(20, 4)).astype("float32")
    model = Sequential([Dense(3, activation="relu", input_shape=(4,), name="d1"),
                        Dense(1, name="d2")])
    model.compile("adam", "mse")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    model.save(str(tmp_path / "m.h5"), save_format="h5")
    keras.models.save_model(model, str(tmp_path / "m2.h5"))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert sorted(f.keys()) == ["model_weights", "optimizer_weights"]
        assert "model_config" in f.attrs and "training_config" in f.attrs
    for name in ("m.h5", "m2.h5"):
        restored = load_model(str(tmp_path / name))
        assert type(restored.optimizer).__name__ == "Adam"
        np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=1e-6)
    model.save(str(tmp_path / "saved_model_dir"))
    np.testing.assert_allclose(load_model(str(tmp_path / "saved_model_dir")).predict(
        x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert len(Sequential.from_config(model.get_config()).layers) == 2
    lines = []
    model.summary(print_fn=lambda s, **kwargs: lines.append(s))
    assert any("Trainable params: 19 (76.00 B)" in line for line in lines)
    assert model.count_params() == 19 and model.layers[0].output.shape == (None, 3)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    flatbuffer = converter.convert()
    (tmp_path / "model.tflite").write_bytes(flatbuffer)
    assert flatbuffer[4:8] == b"TFL3"
