"""Programs in the style of the PyImageSearch tutorials and "Deep Learning
for Computer Vision with Python" (tf.keras 2), with only their imports
changed to pynn's, at tiny sizes on synthetic data and generated image
folders."""
import json
import os

import numpy as np
import pytest

import pynn as tf
from pynn.keras import backend as K
from pynn.keras.callbacks import (BaseLogger, Callback, LambdaCallback, LearningRateScheduler,
                                  ModelCheckpoint)
from pynn.keras.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D,
                               Conv2DTranspose, Dense, Dropout, Flatten, Input, Lambda,
                               MaxPooling2D, Reshape, concatenate)
from pynn.keras.models import Model, Sequential, load_model
from pynn.keras.optimizers import SGD, Adam
from pynn.keras.preprocessing.image import ImageDataGenerator, img_to_array, load_img
from pynn.keras.utils import to_categorical


@pytest.fixture(autouse=True)
def _seeded():
    K.clear_session()
    tf.utils.set_random_seed(42)
    yield
    K.clear_session()


def _blobs(n=48, size=16, classes=3, channels=3, seed=0):
    """Images whose class is where a bright square sits, scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.random((n, size, size, channels)).astype("float32") * 0.3
    for i, c in enumerate(y):
        r = (c * size) // classes
        x[i, r:r + size // classes, :, :] += 0.7
    return x, y


def _one_hot_by_hand(labels, classes):
    """LabelBinarizer's fit_transform, by hand."""
    out = np.zeros((len(labels), classes), dtype="float32")
    out[np.arange(len(labels)), labels] = 1
    return out


# ------------------------------------------------- Starter bundle networks

class ShallowNet:
    @staticmethod
    def build(width, height, depth, classes):
        model = Sequential()
        inputShape = (height, width, depth)
        if K.image_data_format() == "channels_first":
            inputShape = (depth, height, width)
        model.add(Conv2D(8, (3, 3), padding="same", input_shape=inputShape))
        model.add(Activation("relu"))
        model.add(Flatten())
        model.add(Dense(classes))
        model.add(Activation("softmax"))
        return model


class MiniVGGNet:
    @staticmethod
    def build(width, height, depth, classes):
        model = Sequential()
        inputShape = (height, width, depth)
        chanDim = -1
        if K.image_data_format() == "channels_first":
            inputShape = (depth, height, width)
            chanDim = 1
        model.add(Conv2D(8, (3, 3), padding="same", input_shape=inputShape))
        model.add(Activation("relu"))
        model.add(BatchNormalization(axis=chanDim))
        model.add(Conv2D(8, (3, 3), padding="same"))
        model.add(Activation("relu"))
        model.add(BatchNormalization(axis=chanDim))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Dropout(0.25))
        model.add(Flatten())
        model.add(Dense(16))
        model.add(Activation("relu"))
        model.add(BatchNormalization())
        model.add(Dropout(0.5))
        model.add(Dense(classes))
        model.add(Activation("softmax"))
        return model


def test_shallownet_with_keras2_sgd_decay_and_classification_report():
    from sklearn.metrics import classification_report
    x, y = _blobs()
    Y = _one_hot_by_hand(y, 3)
    model = ShallowNet.build(width=16, height=16, depth=3, classes=3)
    opt = SGD(lr=0.05, decay=0.05 / 40, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    H = model.fit(x, Y, validation_data=(x, Y), batch_size=16, epochs=6, verbose=0)
    assert set(H.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert H.history["loss"][-1] < H.history["loss"][0]
    # as tf.keras 2's, the rate read is the base rate; the steps divide it
    # by 1 + decay * iterations (see the resume test below)
    assert model.optimizer.iterations == 18
    assert K.get_value(model.optimizer.lr) == pytest.approx(0.05)
    preds = model.predict(x, batch_size=16)
    report = classification_report(Y.argmax(axis=1), preds.argmax(axis=1),
                                   target_names=["top", "middle", "bottom"], output_dict=True)
    assert report["accuracy"] > 0.9


def test_minivggnet_step_decay_schedule_and_training_monitor(tmp_path):
    """A step-decay LearningRateScheduler and the book's TrainingMonitor, a
    BaseLogger subclass writing its history to JSON and a plot each epoch."""

    def step_decay(epoch):
        initAlpha, factor, dropEvery = 0.01, 0.5, 2
        return float(initAlpha * (factor ** np.floor((1 + epoch) / dropEvery)))

    class TrainingMonitor(BaseLogger):
        def __init__(self, figPath, jsonPath=None, startAt=0):
            super(TrainingMonitor, self).__init__()
            self.figPath, self.jsonPath, self.startAt = figPath, jsonPath, startAt

        def on_train_begin(self, logs={}):
            self.H = {}
            if self.jsonPath is not None and os.path.exists(self.jsonPath):
                self.H = json.loads(open(self.jsonPath).read())
                if self.startAt > 0:
                    for k in self.H.keys():
                        self.H[k] = self.H[k][:self.startAt]

        def on_epoch_end(self, epoch, logs={}):
            for (k, v) in logs.items():
                values = self.H.get(k, [])
                values.append(float(v))
                self.H[k] = values
            if self.jsonPath is not None:
                with open(self.jsonPath, "w") as f:
                    f.write(json.dumps(self.H))
            if len(self.H["loss"]) > 1:
                import matplotlib
                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
                N = np.arange(0, len(self.H["loss"]))
                plt.style.use("ggplot")
                plt.figure()
                plt.plot(N, self.H["loss"], label="train_loss")
                plt.plot(N, self.H["val_loss"], label="val_loss")
                plt.plot(N, self.H["accuracy"], label="train_acc")
                plt.plot(N, self.H["val_accuracy"], label="val_acc")
                plt.title("Training Loss and Accuracy [Epoch {}]".format(len(self.H["loss"])))
                plt.legend()
                plt.savefig(self.figPath)
                plt.close()

    x, y = _blobs(n=32)
    Y = to_categorical(y, 3)
    figPath = str(tmp_path / "{}.png".format(os.getpid()))
    jsonPath = str(tmp_path / "{}.json".format(os.getpid()))
    callbacks = [TrainingMonitor(figPath, jsonPath=jsonPath),
                 LearningRateScheduler(step_decay)]
    model = MiniVGGNet.build(width=16, height=16, depth=3, classes=3)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=SGD(lr=0.01, momentum=0.9, nesterov=True))
    H = model.fit(x, Y, validation_data=(x, Y), batch_size=16, epochs=4,
                  callbacks=callbacks, verbose=0)
    saved = json.loads(open(jsonPath).read())
    assert len(saved["loss"]) == 4
    np.testing.assert_allclose(saved["loss"], H.history["loss"], rtol=1e-6)
    # (the scheduler logs the rate after the monitor, listed first, has run)
    assert "learning_rate" not in saved
    np.testing.assert_allclose(H.history["lr"], [0.01, 0.005, 0.005, 0.0025], rtol=1e-6)
    np.testing.assert_allclose(K.get_value(model.optimizer.lr), 0.0025, rtol=1e-6)
    assert os.path.getsize(figPath) > 0
    # restarting from epoch 2 keeps the first two epochs of the JSON history
    monitor = TrainingMonitor(figPath, jsonPath=jsonPath, startAt=2)
    model.fit(x, Y, validation_data=(x, Y), batch_size=16, epochs=1,
              callbacks=[monitor], verbose=0)
    assert len(json.loads(open(jsonPath).read())["loss"]) == 3


def test_base_logger_averages_batch_logs_by_size():
    """tf.keras 2's BaseLogger: batch logs weighted by their 'size'."""
    logger = BaseLogger(stateful_metrics=["count"])
    logger.set_params({"metrics": ["loss", "count"], "epochs": 1})
    logger.on_epoch_begin(0)
    logger.on_batch_end(0, {"size": 4, "loss": 1.0, "count": 4})
    logger.on_batch_end(1, {"size": 2, "loss": 4.0, "count": 6})
    logs = {}
    logger.on_epoch_end(0, logs)
    assert logs == {"loss": pytest.approx(2.0), "count": 6}


# ------------------------------------------------- Practitioner bundle: learning rates

class CyclicLR(Callback):
    """The triangular policy of Smith's cyclical learning rates, as the
    bundle's clr_callback.py writes it (K.set_value on optimizer.lr)."""

    def __init__(self, base_lr=0.001, max_lr=0.006, step_size=2000.):
        super(CyclicLR, self).__init__()
        self.base_lr, self.max_lr, self.step_size = base_lr, max_lr, step_size
        self.clr_iterations = 0.
        self.trn_iterations = 0.
        self.history = {}

    def clr(self):
        cycle = np.floor(1 + self.clr_iterations / (2 * self.step_size))
        x = np.abs(self.clr_iterations / self.step_size - 2 * cycle + 1)
        return self.base_lr + (self.max_lr - self.base_lr) * np.maximum(0, (1 - x))

    def on_train_begin(self, logs={}):
        logs = logs or {}
        if self.clr_iterations == 0:
            K.set_value(self.model.optimizer.lr, self.base_lr)
        else:
            K.set_value(self.model.optimizer.lr, self.clr())

    def on_batch_end(self, epoch, logs=None):
        logs = logs or {}
        self.trn_iterations += 1
        self.clr_iterations += 1
        self.history.setdefault("lr", []).append(K.get_value(self.model.optimizer.lr))
        self.history.setdefault("iterations", []).append(self.trn_iterations)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        K.set_value(self.model.optimizer.lr, self.clr())


def test_cyclical_learning_rate_callback_drives_the_sgd_steps():
    x, y = _blobs(n=32, size=8)
    Y = to_categorical(y, 3)
    model = ShallowNet.build(8, 8, 3, 3)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1, momentum=0.0),
                  metrics=["accuracy"])
    clr = CyclicLR(base_lr=1e-3, max_lr=1e-2, step_size=2)
    model.fit(x, Y, batch_size=8, epochs=3, callbacks=[clr], verbose=0, shuffle=False)
    lrs = np.array(clr.history["lr"], dtype="float64")
    # the rate used for batch i (read after it), triangle of period 4 batches
    expected = [1e-3 + 9e-3 * max(0, 1 - abs(i / 2 - 2 * np.floor(1 + i / 4) + 1))
                for i in range(12)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    assert len(clr.history["loss"]) == 12 and "accuracy" in clr.history

    # the rate set by the callback is the one the step uses: one more batch by
    # hand with plain SGD at the callback's rate gives the same weights
    w_before = [w.copy() for w in model.get_weights()]
    K.set_value(model.optimizer.lr, 0.005)
    model.train_on_batch(x[:8], Y[:8])
    moved = [np.abs(a - b).max() for a, b in zip(model.get_weights(), w_before)]
    model.set_weights(w_before)
    K.set_value(model.optimizer.lr, 0.01)
    model.train_on_batch(x[:8], Y[:8])
    moved2 = [np.abs(a - b).max() for a, b in zip(model.get_weights(), w_before)]
    np.testing.assert_allclose(moved2, 2 * np.array(moved), rtol=1e-3)


class LearningRateFinder:
    """The bundle's learning rate finder: an exponentially growing rate,
    stopped once the smoothed loss blows up."""

    def __init__(self, model, stopFactor=4, beta=0.98):
        self.model, self.stopFactor, self.beta = model, stopFactor, beta
        self.lrs, self.losses = [], []
        self.lrMult, self.avgLoss, self.bestLoss, self.batchNum = 1, 0, 1e9, 0

    def on_batch_end(self, batch, logs):
        lr = K.get_value(self.model.optimizer.lr)
        self.lrs.append(lr)
        l = logs["loss"]
        self.batchNum += 1
        self.avgLoss = (self.beta * self.avgLoss) + ((1 - self.beta) * l)
        smooth = self.avgLoss / (1 - (self.beta ** self.batchNum))
        self.losses.append(smooth)
        stopLoss = self.stopFactor * self.bestLoss
        if self.batchNum > 1 and smooth > stopLoss:
            self.model.stop_training = True
            return
        if self.batchNum == 1 or smooth < self.bestLoss:
            self.bestLoss = smooth
        lr *= self.lrMult
        K.set_value(self.model.optimizer.lr, lr)

    def find(self, trainData, startLR, endLR, epochs=None, batchSize=32, verbose=0):
        numSamples = len(trainData[0])
        stepsPerEpoch = np.ceil(numSamples / float(batchSize))
        numBatchUpdates = epochs * stepsPerEpoch
        self.lrMult = (endLR / startLR) ** (1.0 / numBatchUpdates)
        self.weightsFile = None
        origLR = K.get_value(self.model.optimizer.lr)
        K.set_value(self.model.optimizer.lr, startLR)
        callback = LambdaCallback(on_batch_end=lambda batch, logs: self.on_batch_end(batch, logs))
        self.model.fit(trainData[0], trainData[1], batch_size=batchSize, epochs=epochs,
                       callbacks=[callback], verbose=verbose)
        K.set_value(self.model.optimizer.lr, origLR)


def test_learning_rate_finder_grows_the_rate_and_stops_on_divergence():
    rng = np.random.default_rng(3)
    # labels no network can learn: a rate of hundreds makes confident mistakes
    x = rng.random((64, 8, 8, 3)).astype("float32")
    Y = to_categorical(rng.integers(0, 3, 64), 3)
    model = ShallowNet.build(8, 8, 3, 3)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9),
                  metrics=["accuracy"])
    lrf = LearningRateFinder(model)
    lrf.find((x, Y), 1e-4, 1e+3, epochs=6, batchSize=8)
    lrs = np.array(lrf.lrs, dtype="float64")
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], lrf.lrMult, rtol=1e-5)
    assert lrs[0] == pytest.approx(1e-4)
    # a rate of hundreds diverges: the finder stopped the run early
    assert len(lrs) < 48 and model.stop_training
    assert lrf.losses[-1] > 4 * min(lrf.losses)
    assert K.get_value(model.optimizer.lr) == pytest.approx(0.01)


def test_polynomial_decay_schedule_class():
    class LearningRateDecay:
        def plot(self, epochs, title="Learning Rate Schedule"):
            return [self(i) for i in epochs]

    class PolynomialDecay(LearningRateDecay):
        def __init__(self, maxEpochs=100, initAlpha=0.01, power=1.0):
            self.maxEpochs, self.initAlpha, self.power = maxEpochs, initAlpha, power

        def __call__(self, epoch):
            decay = (1 - (epoch / float(self.maxEpochs))) ** self.power
            return float(self.initAlpha * decay)

    x, y = _blobs(n=16, size=8)
    model = ShallowNet.build(8, 8, 3, 3)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1, momentum=0.9),
                  metrics=["accuracy"])
    schedule = PolynomialDecay(maxEpochs=4, initAlpha=1e-1, power=2)
    H = model.fit(x, to_categorical(y, 3), batch_size=8, epochs=4, verbose=0,
                  callbacks=[LearningRateScheduler(schedule)])
    np.testing.assert_allclose(H.history["lr"], schedule.plot(range(4)), rtol=1e-6)
    np.testing.assert_allclose(H.history["lr"], [0.1, 0.05625, 0.025, 0.00625], rtol=1e-6)


# ------------------------------------------------- checkpoints, augmentation, saving

def test_checkpoint_best_val_loss_with_templated_name_and_h5_round_trip(tmp_path):
    pytest.importorskip("h5py")
    x, y = _blobs(n=48, size=8)
    Y = to_categorical(y, 3)
    model = MiniVGGNet.build(8, 8, 3, 3)
    model.compile(loss="categorical_crossentropy", optimizer=Adam(lr=1e-2),
                  metrics=["accuracy"])
    fname = os.path.sep.join([str(tmp_path), "weights-{epoch:03d}-{val_loss:.4f}.hdf5"])
    checkpoint = ModelCheckpoint(fname, monitor="val_loss", mode="min",
                                 save_best_only=True, verbose=0)
    H = model.fit(x, Y, validation_data=(x[:12], Y[:12]), batch_size=16, epochs=4,
                  callbacks=[checkpoint], verbose=0)
    val = H.history["val_loss"]
    improved = [e for e in range(4) if val[e] < min(val[:e], default=np.inf)]
    names = sorted(os.listdir(tmp_path))
    assert names == ["weights-{:03d}-{:.4f}.hdf5".format(e + 1, val[e]) for e in improved]

    # model.save(path, save_format="h5") and load_model give the same predictions
    path = str(tmp_path / "minivggnet.model")
    model.save(path, save_format="h5")
    restored = load_model(path)
    np.testing.assert_allclose(restored.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)
    import h5py
    with h5py.File(path, "r") as f:
        assert "model_weights" in f and "model_config" in f.attrs
    best = load_model(os.path.join(str(tmp_path), names[-1]))
    assert best.evaluate(x[:12], Y[:12], verbose=0)[0] == pytest.approx(min(val), rel=1e-4)


def test_ctrl_c_resume_sets_the_rate_of_a_reloaded_decaying_optimizer(tmp_path):
    """DL4CV's stop-and-resume training: load the checkpoint, set a new rate
    with K.set_value and train on; under tf.keras 2's decay the new rate is
    the base rate, still divided by 1 + decay * iterations."""
    pytest.importorskip("h5py")
    rng = np.random.default_rng(8)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(loss="mse", optimizer=SGD(lr=0.1, decay=0.5))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "checkpoints" / "epoch_1.hdf5")
    os.makedirs(os.path.dirname(path))
    model.save(path)
    model = load_model(path)
    assert model.optimizer.iterations == 2
    assert "old learning rate: {}".format(K.get_value(model.optimizer.lr)) == \
        "old learning rate: 0.1"
    K.set_value(model.optimizer.lr, 1e-2)
    assert K.get_value(model.optimizer.lr) == pytest.approx(1e-2)
    W, b = [w.astype("float64") for w in model.get_weights()]
    err = x @ W + b - y
    gW, gb = 2 * x.T @ err / len(x), 2 * err.mean(axis=0)
    model.train_on_batch(x, y)
    rate = 1e-2 / (1 + 0.5 * 2)
    np.testing.assert_allclose(model.get_weights()[0], W - rate * gW, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.get_weights()[1], b - rate * gb, rtol=1e-5, atol=1e-7)


def test_schedulers_set_the_base_rate_of_a_decaying_optimizer():
    """A LearningRateScheduler and ReduceLROnPlateau beside SGD(decay=...):
    as in tf.keras 2 they read and set the base rate, which the decay
    keeps dividing step by step."""
    from pynn.keras.callbacks import ReduceLROnPlateau
    rng = np.random.default_rng(13)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(loss="mse", optimizer=SGD(lr=0.1, decay=0.25))
    seen = []
    probe = LambdaCallback(on_train_batch_begin=lambda b, logs: seen.append(
        (K.get_value(model.optimizer.lr), int(model.optimizer.iterations))))
    H = model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False,
                  callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)), probe])
    np.testing.assert_allclose(H.history["lr"], [0.1, 0.05, 0.1 / 3], rtol=1e-6)
    assert [it for _, it in seen] == list(range(6))
    np.testing.assert_allclose([lr for lr, _ in seen], [0.1, 0.1, 0.05, 0.05, 0.1 / 3, 0.1 / 3],
                               rtol=1e-6)
    # the step at iteration 6 takes the base rate over 1 + 0.25 * 6
    W, b = [w.astype("float64") for w in model.get_weights()]
    err = x[:4] @ W + b - y[:4]
    model.train_on_batch(x[:4], y[:4])
    np.testing.assert_allclose(model.get_weights()[0],
                               W - (0.1 / 3) / 2.5 * 2 * x[:4].T @ err / 4, rtol=1e-5)
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[reduce])
    # (the first epoch sets the best loss; the second, no better, halves the rate)
    assert K.get_value(model.optimizer.lr) == pytest.approx(0.1 / 6)


def test_dl4cv_save_to_a_dot_model_name_and_load_it_back(tmp_path):
    """DL4CV's ``model.save(config.MODEL_PATH, overwrite=True)`` with
    MODEL_PATH 'output/alexnet_dogs_vs_cats.model': tf.keras 2 writes a
    SavedModel folder there, and load_model reads it back."""
    x, y = _blobs(n=16, size=8)
    model = ShallowNet.build(8, 8, 3, 3)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.05), metrics=["accuracy"])
    model.fit(x, to_categorical(y, 3), batch_size=8, epochs=1, verbose=0)
    path = os.path.sep.join([str(tmp_path), "output", "alexnet_dogs_vs_cats.model"])
    model.save(path, overwrite=True)
    assert os.path.isdir(path)
    restored = load_model(path)
    np.testing.assert_allclose(restored.predict(x), model.predict(x), rtol=1e-6)
    assert restored.optimizer.iterations == 2


def test_fit_on_augmentation_flow_with_steps_per_epoch():
    x, y = _blobs(n=40, size=12)
    Y = to_categorical(y, 3)
    aug = ImageDataGenerator(rotation_range=10, zoom_range=0.05, width_shift_range=0.1,
                             height_shift_range=0.1, shear_range=0.05, horizontal_flip=True,
                             fill_mode="nearest")
    BS = 8
    model = ShallowNet.build(12, 12, 3, 3)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9),
                  metrics=["accuracy"])
    seen = []
    counter = LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    H = model.fit(x=aug.flow(x, Y, batch_size=BS), validation_data=(x, Y),
                  steps_per_epoch=len(x) // BS, epochs=3, callbacks=[counter], verbose=0)
    assert seen == list(range(5)) * 3
    assert len(H.history["val_accuracy"]) == 3
    assert H.history["loss"][-1] < H.history["loss"][0]


def test_rank1_rank5_accuracy():
    def rank5_accuracy(preds, labels):
        rank1 = rank5 = 0
        for (p, gt) in zip(preds, labels):
            p = np.argsort(p)[::-1]
            if gt in p[:5]:
                rank5 += 1
            if gt == p[0]:
                rank1 += 1
        return rank1 / float(len(labels)), rank5 / float(len(labels))

    x, y = _blobs(n=40, size=10, classes=10)
    model = Sequential([Flatten(input_shape=(10, 10, 3)), Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    preds = model.predict(x, batch_size=16)
    r1, r5 = rank5_accuracy(preds, y)
    top = np.argsort(-preds, axis=1)
    assert r1 == pytest.approx(np.mean(top[:, 0] == y))
    assert r5 == pytest.approx(np.mean((top[:, :5] == y[:, None]).any(axis=1)))
    assert r1 <= r5


# ------------------------------------------------- transfer learning

class FCHeadNet:
    @staticmethod
    def build(baseModel, classes, D):
        headModel = baseModel.output
        headModel = Flatten(name="flatten")(headModel)
        headModel = Dense(D, activation="relu")(headModel)
        headModel = Dropout(0.5)(headModel)
        headModel = Dense(classes, activation="softmax")(headModel)
        return headModel


def test_vgg16_fine_tuning_freeze_then_unfreeze_from_layer_15():
    from pynn.keras.applications import VGG16
    x, y = _blobs(n=8, size=32)
    Y = to_categorical(y, 3)
    baseModel = VGG16(weights=None, include_top=False, input_tensor=Input(shape=(32, 32, 3)))
    headModel = FCHeadNet.build(baseModel, 3, 16)
    model = Model(inputs=baseModel.input, outputs=headModel)
    assert len(baseModel.layers) == 19 and baseModel.output_shape == (None, 1, 1, 512)
    for layer in baseModel.layers:
        layer.trainable = False
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.001, momentum=0.9),
                  metrics=["accuracy"])
    assert len(model.trainable_weights) == 4
    base_before = [w.copy() for w in baseModel.get_weights()]
    head_before = [w.copy() for w in model.layers[-1].get_weights()]
    model.fit(x, Y, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(baseModel.get_weights(), base_before):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.layers[-1].get_weights()[0], head_before[0])

    for layer in baseModel.layers[15:]:
        layer.trainable = True
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.001, momentum=0.9),
                  metrics=["accuracy"])
    # block5's three convolutions, kernel and bias each, and the head
    assert len(model.trainable_weights) == 10
    assert [l.name for l in baseModel.layers[15:] if l.weights] == \
        ["block5_conv1", "block5_conv2", "block5_conv3"]
    model.fit(x, Y, batch_size=4, epochs=1, verbose=0)
    after = baseModel.get_weights()
    frozen = sum(len(l.weights) for l in baseModel.layers[:15])
    for a, b in zip(after[:frozen], base_before[:frozen]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(after[-2], base_before[-2])


def test_feature_extraction_to_hdf5_then_logistic_regression(tmp_path):
    h5py = pytest.importorskip("h5py")
    from pynn.keras.applications import VGG16, imagenet_utils

    class HDF5DatasetWriter:
        def __init__(self, dims, outputPath, dataKey="images", bufSize=1000):
            self.db = h5py.File(outputPath, "w")
            self.data = self.db.create_dataset(dataKey, dims, dtype="float")
            self.labels = self.db.create_dataset("labels", (dims[0],), dtype="int")
            self.bufSize = bufSize
            self.buffer = {"data": [], "labels": []}
            self.idx = 0

        def add(self, rows, labels):
            self.buffer["data"].extend(rows)
            self.buffer["labels"].extend(labels)
            if len(self.buffer["data"]) >= self.bufSize:
                self.flush()

        def flush(self):
            i = self.idx + len(self.buffer["data"])
            self.data[self.idx:i] = self.buffer["data"]
            self.labels[self.idx:i] = self.buffer["labels"]
            self.idx = i
            self.buffer = {"data": [], "labels": []}

        def storeClassLabels(self, classLabels):
            dt = h5py.special_dtype(vlen=str)
            labelSet = self.db.create_dataset("label_names", (len(classLabels),), dtype=dt)
            labelSet[:] = classLabels

        def close(self):
            if len(self.buffer["data"]) > 0:
                self.flush()
            self.db.close()

    images, labels = _blobs(n=12, size=32)
    images = images * 255.0
    model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "features.hdf5")
    dataset = HDF5DatasetWriter((len(images), 512 * 1 * 1), path, dataKey="features",
                                bufSize=8)
    dataset.storeClassLabels(["top", "middle", "bottom"])
    bs = 5
    for i in np.arange(0, len(images), bs):
        batchImages = imagenet_utils.preprocess_input(images[i:i + bs].copy())
        features = model.predict(batchImages, batch_size=bs)
        features = features.reshape((features.shape[0], 512 * 1 * 1))
        dataset.add(features, labels[i:i + bs])
    dataset.close()

    db = h5py.File(path, "r")
    assert list(db["label_names"].asstr()[:]) == ["top", "middle", "bottom"]
    np.testing.assert_array_equal(db["labels"][:], labels)
    expected = model.predict(imagenet_utils.preprocess_input(images.copy())).reshape(12, 512)
    np.testing.assert_allclose(db["features"][:], expected, rtol=1e-4, atol=1e-4)
    # caffe-style preprocessing: RGB -> BGR, ImageNet means subtracted
    pre = imagenet_utils.preprocess_input(images[:1].copy())
    np.testing.assert_allclose(pre[0, ..., 0], images[0, ..., 2] - 103.939, rtol=1e-5)
    from sklearn.linear_model import LogisticRegression
    clf = LogisticRegression(max_iter=200).fit(db["features"][:], db["labels"][:])
    assert clf.score(db["features"][:], db["labels"][:]) > 0.5
    db.close()


# ------------------------------------------------- GradCAM

class GradCAM:
    def __init__(self, model, classIdx, layerName=None):
        self.model, self.classIdx, self.layerName = model, classIdx, layerName
        if self.layerName is None:
            self.layerName = self.find_target_layer()

    def find_target_layer(self):
        for layer in reversed(self.model.layers):
            if len(layer.output_shape) == 4:
                return layer.name
        raise ValueError("Could not find 4D layer. Cannot apply GradCAM.")

    def compute_heatmap(self, image, eps=1e-8):
        gradModel = Model(inputs=[self.model.inputs],
                          outputs=[self.model.get_layer(self.layerName).output,
                                   self.model.output])
        with tf.GradientTape() as tape:
            inputs = tf.cast(image, tf.float32)
            (convOutputs, predictions) = gradModel(inputs)
            loss = predictions[:, self.classIdx]
        grads = tape.gradient(loss, convOutputs)
        castConvOutputs = tf.cast(convOutputs > 0, "float32")
        castGrads = tf.cast(grads > 0, "float32")
        guidedGrads = castConvOutputs * castGrads * grads
        convOutputs = convOutputs[0]
        guidedGrads = guidedGrads[0]
        weights = tf.reduce_mean(guidedGrads, axis=(0, 1))
        cam = tf.reduce_sum(tf.multiply(weights, convOutputs), axis=-1)
        (w, h) = (image.shape[2], image.shape[1])
        heatmap = tf.image.resize(cam[..., None], (h, w)).numpy()[..., 0]
        numer = heatmap - np.min(heatmap)
        denom = (heatmap.max() - heatmap.min()) + eps
        heatmap = numer / denom
        heatmap = (heatmap * 255).astype("uint8")
        return heatmap, np.asarray(cam)


def test_gradcam_with_gradient_tape_over_a_two_output_model():
    model = Sequential([
        Conv2D(4, (3, 3), padding="same", activation="relu", input_shape=(8, 8, 3),
               name="conv_a"),
        Conv2D(6, (3, 3), padding="same", activation="relu", name="conv_last"),
        tf.keras.layers.GlobalAveragePooling2D(),
        Dense(3, activation="softmax")])
    image = np.random.default_rng(5).random((1, 8, 8, 3)).astype("float32")
    preds = model.predict(image)
    i = int(np.argmax(preds[0]))
    cam = GradCAM(model, i)
    assert cam.layerName == "conv_last"
    heatmap, raw = cam.compute_heatmap(image)
    assert heatmap.shape == (8, 8) and heatmap.dtype == np.uint8
    assert raw.max() > raw.min() and heatmap.min() == 0 and heatmap.max() >= 254

    # the class score's gradient with respect to the conv output, by
    # differences through the top of the network alone
    conv = Model(model.inputs, model.get_layer("conv_last").output).predict(image)
    top = Sequential(model.layers[2:])

    def score(c):
        return float(top.predict(c)[0, i])

    gradModel = Model(inputs=[model.inputs],
                      outputs=[model.get_layer("conv_last").output, model.output])
    with tf.GradientTape() as tape:
        convOutputs, predictions = gradModel(tf.cast(image, tf.float32))
        loss = predictions[:, i]
    grads = np.asarray(tape.gradient(loss, convOutputs))
    np.testing.assert_allclose(np.asarray(convOutputs), conv, rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(5):
        idx = tuple(int(rng.integers(n)) for n in conv.shape)
        cp, cm = conv.copy(), conv.copy()
        cp[idx] += 1e-2
        cm[idx] -= 1e-2
        np.testing.assert_allclose(grads[idx], (score(cp) - score(cm)) / 2e-2,
                                   rtol=3e-2, atol=3e-4)


# ------------------------------------------------- autoencoders, Siamese networks

class ConvAutoencoder:
    @staticmethod
    def build(width, height, depth, filters=(8, 16), latentDim=4):
        inputShape = (height, width, depth)
        chanDim = -1
        inputs = Input(shape=inputShape)
        x = inputs
        for f in filters:
            x = Conv2D(f, (3, 3), strides=2, padding="same")(x)
            x = tf.keras.layers.LeakyReLU(alpha=0.2)(x)
            x = BatchNormalization(axis=chanDim)(x)
        volumeSize = K.int_shape(x)
        x = Flatten()(x)
        latent = Dense(latentDim)(x)
        encoder = Model(inputs, latent, name="encoder")
        latentInputs = Input(shape=(latentDim,))
        x = Dense(np.prod(volumeSize[1:]))(latentInputs)
        x = Reshape((volumeSize[1], volumeSize[2], volumeSize[3]))(x)
        for f in filters[::-1]:
            x = Conv2DTranspose(f, (3, 3), strides=2, padding="same")(x)
            x = tf.keras.layers.LeakyReLU(alpha=0.2)(x)
            x = BatchNormalization(axis=chanDim)(x)
        x = Conv2DTranspose(depth, (3, 3), padding="same")(x)
        outputs = Activation("sigmoid")(x)
        decoder = Model(latentInputs, outputs, name="decoder")
        autoencoder = Model(inputs, decoder(encoder(inputs)), name="autoencoder")
        return (encoder, decoder, autoencoder)


def test_denoising_conv_autoencoder():
    rng = np.random.default_rng(0)
    x, _ = _blobs(n=32, size=8, channels=1)
    x = np.clip(x, 0, 1)
    trainNoise = rng.normal(loc=0.5, scale=0.5, size=x.shape)
    trainXNoisy = np.clip(x + trainNoise * 0.2, 0, 1).astype("float32")
    (encoder, decoder, autoencoder) = ConvAutoencoder.build(8, 8, 1)
    assert encoder.output_shape == (None, 4) and decoder.output_shape == (None, 8, 8, 1)
    assert K.int_shape(encoder.layers[-3].output) == (None, 2, 2, 16)
    autoencoder.compile(loss="mse", optimizer=Adam(lr=1e-2))
    H = autoencoder.fit(trainXNoisy, x, validation_data=(trainXNoisy, x), epochs=6,
                        batch_size=8, verbose=0)
    assert H.history["loss"][-1] < 0.6 * H.history["loss"][0]
    decoded = autoencoder.predict(trainXNoisy)
    np.testing.assert_allclose(decoded, decoder.predict(encoder.predict(trainXNoisy)),
                               rtol=1e-4, atol=1e-5)
    outputs = np.hstack([np.vstack([x[i], decoded[i]]) for i in range(3)])
    outputs = (outputs * 255).astype("uint8")
    assert outputs.shape == (16, 24, 1)


def euclidean_distance(vectors):
    (featsA, featsB) = vectors
    sumSquared = K.sum(K.square(featsA - featsB), axis=1, keepdims=True)
    return K.sqrt(K.maximum(sumSquared, K.epsilon()))


def contrastive_loss(y, preds, margin=1):
    y = tf.cast(y, preds.dtype)
    squaredPreds = K.square(preds)
    squaredMargin = K.square(K.maximum(margin - preds, 0))
    loss = K.mean(y * squaredPreds + (1 - y) * squaredMargin)
    return loss


def test_siamese_network_with_lambda_distance_and_contrastive_loss():
    def build_siamese_model(inputShape, embeddingDim=4):
        inputs = Input(inputShape)
        x = Conv2D(4, (2, 2), padding="same", activation="relu")(inputs)
        x = MaxPooling2D(pool_size=(2, 2))(x)
        x = Dropout(0.3)(x)
        pooledOutput = tf.keras.layers.GlobalAveragePooling2D()(x)
        outputs = Dense(embeddingDim)(pooledOutput)
        return Model(inputs, outputs)

    rng = np.random.default_rng(1)
    x, y = _blobs(n=24, size=8, channels=1, classes=2)
    pairA, pairB, labels = [], [], []
    for i in range(24):
        j = int(rng.integers(24))
        pairA.append(x[i])
        pairB.append(x[j])
        labels.append([int(y[i] == y[j])])
    pairA, pairB = np.array(pairA), np.array(pairB)
    labels = np.array(labels, dtype="float32")

    imgA, imgB = Input(shape=(8, 8, 1)), Input(shape=(8, 8, 1))
    featureExtractor = build_siamese_model((8, 8, 1))
    featsA, featsB = featureExtractor(imgA), featureExtractor(imgB)
    distance = Lambda(euclidean_distance)([featsA, featsB])
    model = Model(inputs=[imgA, imgB], outputs=distance)
    assert model.output_shape == (None, 1)
    model.compile(loss=contrastive_loss, optimizer="adam")
    H = model.fit([pairA, pairB], labels[:], validation_data=([pairA, pairB], labels[:]),
                  batch_size=8, epochs=4, verbose=0)
    assert np.isfinite(H.history["val_loss"]).all()
    d = model.predict([pairA, pairB])
    fa = featureExtractor.predict(pairA)
    fb = featureExtractor.predict(pairB)
    np.testing.assert_allclose(d[:, 0], np.sqrt(np.maximum(((fa - fb) ** 2).sum(1), 1e-7)),
                               rtol=1e-4)
    expected = np.mean(labels * d ** 2 + (1 - labels) * np.maximum(1 - d, 0) ** 2)
    assert model.evaluate([pairA, pairB], labels, verbose=0, batch_size=24) == \
        pytest.approx(expected, rel=1e-4)


# ------------------------------------------------- multi-output, mixed data

class FashionNet:
    @staticmethod
    def build_category_branch(inputs, numCategories, finalAct="softmax", chanDim=-1):
        x = Lambda(lambda c: tf.image.rgb_to_grayscale(c))(inputs)
        x = Conv2D(4, (3, 3), padding="same")(x)
        x = Activation("relu")(x)
        x = BatchNormalization(axis=chanDim)(x)
        x = MaxPooling2D(pool_size=(2, 2))(x)
        x = Dropout(0.25)(x)
        x = Flatten()(x)
        x = Dense(8)(x)
        x = Activation("relu")(x)
        x = Dense(numCategories)(x)
        return Activation(finalAct, name="category_output")(x)

    @staticmethod
    def build_color_branch(inputs, numColors, finalAct="softmax", chanDim=-1):
        x = Conv2D(4, (3, 3), padding="same")(inputs)
        x = Activation("relu")(x)
        x = BatchNormalization(axis=chanDim)(x)
        x = MaxPooling2D(pool_size=(2, 2))(x)
        x = Flatten()(x)
        x = Dense(8)(x)
        x = Activation("relu")(x)
        x = Dense(numColors)(x)
        return Activation(finalAct, name="color_output")(x)

    @staticmethod
    def build(width, height, numCategories, numColors, finalAct="softmax"):
        inputShape = (height, width, 3)
        chanDim = -1
        inputs = Input(shape=inputShape)
        categoryBranch = FashionNet.build_category_branch(inputs, numCategories, finalAct,
                                                          chanDim)
        colorBranch = FashionNet.build_color_branch(inputs, numColors, finalAct, chanDim)
        return Model(inputs=inputs, outputs=[categoryBranch, colorBranch], name="fashionnet")


def test_fashionnet_two_heads_with_loss_dicts_and_weights():
    rng = np.random.default_rng(2)
    n = 24
    colors = np.array([[1, 0, 0], [0, 0, 1]], dtype="float32")
    colorLabels = np.arange(n) % 2
    categoryLabels = (np.arange(n) // 2) % 3
    x = rng.random((n, 8, 8, 3)).astype("float32") * 0.2
    for i in range(n):
        x[i] += colors[colorLabels[i]] * 0.8
        x[i, 2 * categoryLabels[i]:2 * categoryLabels[i] + 2] += 0.5
    model = FashionNet.build(8, 8, numCategories=3, numColors=2, finalAct="softmax")
    losses = {"category_output": "categorical_crossentropy",
              "color_output": "categorical_crossentropy"}
    lossWeights = {"category_output": 1.0, "color_output": 1.0}
    opt = Adam(lr=1e-2, decay=1e-2 / 10)
    model.compile(optimizer=opt, loss=losses, loss_weights=lossWeights, metrics=["accuracy"])
    catY, colY = to_categorical(categoryLabels, 3), to_categorical(colorLabels, 2)
    H = model.fit(x=x, y={"category_output": catY, "color_output": colY},
                  validation_data=(x, {"category_output": catY, "color_output": colY}),
                  epochs=8, batch_size=8, verbose=0)
    for key in ("loss", "category_output_loss", "color_output_loss",
                "category_output_accuracy", "color_output_accuracy",
                "val_color_output_accuracy"):
        assert key in H.history, key
    assert H.history["color_output_accuracy"][-1] == 1.0
    (categoryProba, colorProba) = model.predict(x)
    assert categoryProba.shape == (n, 3) and colorProba.shape == (n, 2)
    np.testing.assert_array_equal(colorProba.argmax(axis=1), colorLabels)
    total, cat_loss, col_loss = model.evaluate(x, [catY, colY], verbose=0)[:3]
    assert total == pytest.approx(cat_loss + col_loss, rel=1e-4)


def test_house_prices_mixed_data_mlp_plus_cnn():
    def create_mlp(dim, regress=False):
        model = Sequential()
        model.add(Dense(8, input_dim=dim, activation="relu"))
        model.add(Dense(4, activation="relu"))
        if regress:
            model.add(Dense(1, activation="linear"))
        return model

    def create_cnn(width, height, depth, filters=(4, 8), regress=False):
        inputShape = (height, width, depth)
        chanDim = -1
        inputs = Input(shape=inputShape)
        for (i, f) in enumerate(filters):
            if i == 0:
                x = inputs
            x = Conv2D(f, (3, 3), padding="same")(x)
            x = Activation("relu")(x)
            x = BatchNormalization(axis=chanDim)(x)
            x = MaxPooling2D(pool_size=(2, 2))(x)
        x = Flatten()(x)
        x = Dense(8)(x)
        x = Activation("relu")(x)
        x = BatchNormalization(axis=chanDim)(x)
        x = Dropout(0.5)(x)
        x = Dense(4)(x)
        x = Activation("relu")(x)
        if regress:
            x = Dense(1, activation="linear")(x)
        return Model(inputs, x)

    rng = np.random.default_rng(4)
    n = 48
    attrs = rng.random((n, 5)).astype("float32")
    images = rng.random((n, 16, 16, 3)).astype("float32")
    prices = 200000 + 300000 * attrs[:, 0] + 100000 * images.mean(axis=(1, 2, 3))
    maxPrice = prices.max()
    trainY = (prices / maxPrice).astype("float32")

    mlp = create_mlp(attrs.shape[1], regress=False)
    cnn = create_cnn(16, 16, 3, regress=False)
    combinedInput = concatenate([mlp.output, cnn.output])
    x = Dense(4, activation="relu")(combinedInput)
    x = Dense(1, activation="linear")(x)
    model = Model(inputs=[mlp.input, cnn.input], outputs=x)
    assert model.output_shape == (None, 1) and len(model.inputs) == 2
    model.compile(loss="mean_absolute_percentage_error", optimizer=Adam(lr=1e-3, decay=1e-3 / 200))
    H = model.fit(x=[attrs, images], y=trainY, validation_data=([attrs, images], trainY),
                  epochs=3, batch_size=8, verbose=0)
    preds = model.predict([attrs, images])
    diff = preds.flatten() - trainY
    percentDiff = (diff / trainY) * 100
    expected = np.mean(np.abs(percentDiff))
    assert H.history["val_loss"][-1] == pytest.approx(expected, rel=1e-3)
    assert np.isfinite(np.std(np.abs(percentDiff)))


def test_hyperparameter_loop_without_keras_tuner():
    x, y = _blobs(n=24, size=8)
    Y = to_categorical(y, 3)
    results = []
    for lr in (1e-1, 1e-3):
        for units in (4, 8):
            K.clear_session()
            model = Sequential([Flatten(input_shape=(8, 8, 3)), Dense(units, activation="relu"),
                                Dense(3, activation="softmax")])
            model.compile(optimizer=Adam(learning_rate=lr), loss="categorical_crossentropy",
                          metrics=["accuracy"])
            H = model.fit(x, Y, validation_data=(x, Y), epochs=3, batch_size=8, verbose=0)
            results.append((max(H.history["val_accuracy"]), lr, units))
    best = max(results)
    assert len(results) == 4 and best[0] >= max(r[0] for r in results)
    assert best[1] == 1e-1


# ------------------------------------------------- super resolution

def test_srcnn_and_espcn_with_depth_to_space():
    class SRCNN:
        @staticmethod
        def build(width, height, depth):
            model = Sequential()
            inputShape = (height, width, depth)
            model.add(Conv2D(8, (5, 5), kernel_initializer="he_normal", input_shape=inputShape))
            model.add(Activation("relu"))
            model.add(Conv2D(4, (1, 1), kernel_initializer="he_normal"))
            model.add(Activation("relu"))
            model.add(Conv2D(depth, (3, 3), kernel_initializer="he_normal"))
            model.add(Activation("relu"))
            return model

    rng = np.random.default_rng(6)
    lr_img = rng.random((8, 12, 12, 1)).astype("float32")
    srcnn = SRCNN.build(12, 12, 1)
    assert srcnn.output_shape == (None, 6, 6, 1)
    srcnn.compile(loss="mse", optimizer=Adam(lr=1e-3, decay=1e-3 / 5))
    srcnn.fit(lr_img, lr_img[:, 3:9, 3:9], batch_size=4, epochs=1, verbose=0)

    def get_model(upscale_factor=3, channels=1):
        conv_args = {"activation": "relu", "kernel_initializer": "Orthogonal",
                     "padding": "same"}
        inputs = tf.keras.Input(shape=(None, None, channels))
        x = Conv2D(8, 5, **conv_args)(inputs)
        x = Conv2D(4, 3, **conv_args)(x)
        x = Conv2D(channels * (upscale_factor ** 2), 3, name="subpixel", **conv_args)(x)
        outputs = tf.nn.depth_to_space(x, upscale_factor)
        return tf.keras.Model(inputs, outputs)

    espcn = get_model(upscale_factor=2)
    hr = rng.random((8, 16, 16, 1)).astype("float32")
    lo = hr[:, ::2, ::2]
    espcn.compile(optimizer=Adam(learning_rate=1e-3), loss="mse")
    H = espcn.fit(lo, hr, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(H.history["loss"]).all()
    out = espcn.predict(lo[:1])
    assert out.shape == (1, 16, 16, 1)
    # the pixel shuffle itself, against NumPy
    inner = Model(espcn.inputs, espcn.get_layer("subpixel").output).predict(lo[:1])
    shuffled = inner.reshape(1, 8, 8, 2, 2, 1).transpose(0, 1, 3, 2, 4, 5).reshape(1, 16, 16, 1)
    np.testing.assert_allclose(out, shuffled, rtol=1e-6)
    # a fully convolutional model takes another size
    assert espcn.predict(rng.random((1, 5, 7, 1)).astype("float32")).shape == (1, 10, 14, 1)


# ------------------------------------------------- OCR ResNet, mask detector

class ResNet:
    @staticmethod
    def residual_module(data, K_, stride, chanDim, red=False, reg=0.0001, bnEps=2e-5,
                        bnMom=0.9):
        from pynn.keras.layers import add
        from pynn.keras.regularizers import l2
        shortcut = data
        bn1 = BatchNormalization(axis=chanDim, epsilon=bnEps, momentum=bnMom)(data)
        act1 = Activation("relu")(bn1)
        conv1 = Conv2D(int(K_ * 0.25), (1, 1), use_bias=False,
                       kernel_regularizer=l2(reg))(act1)
        bn2 = BatchNormalization(axis=chanDim, epsilon=bnEps, momentum=bnMom)(conv1)
        act2 = Activation("relu")(bn2)
        conv2 = Conv2D(int(K_ * 0.25), (3, 3), strides=stride, padding="same", use_bias=False,
                       kernel_regularizer=l2(reg))(act2)
        bn3 = BatchNormalization(axis=chanDim, epsilon=bnEps, momentum=bnMom)(conv2)
        act3 = Activation("relu")(bn3)
        conv3 = Conv2D(K_, (1, 1), use_bias=False, kernel_regularizer=l2(reg))(act3)
        if red:
            shortcut = Conv2D(K_, (1, 1), strides=stride, use_bias=False,
                              kernel_regularizer=l2(reg))(act1)
        return add([conv3, shortcut])

    @staticmethod
    def build(width, height, depth, classes, stages, filters, reg=0.0001, bnEps=2e-5,
              bnMom=0.9):
        from pynn.keras.regularizers import l2
        inputShape = (height, width, depth)
        chanDim = -1
        if K.image_data_format() == "channels_first":
            inputShape = (depth, height, width)
            chanDim = 1
        inputs = Input(shape=inputShape)
        x = BatchNormalization(axis=chanDim, epsilon=bnEps, momentum=bnMom)(inputs)
        x = Conv2D(filters[0], (3, 3), use_bias=False, padding="same",
                   kernel_regularizer=l2(reg))(x)
        for i in range(0, len(stages)):
            stride = (1, 1) if i == 0 else (2, 2)
            x = ResNet.residual_module(x, filters[i + 1], stride, chanDim, red=True,
                                       bnEps=bnEps, bnMom=bnMom)
            for j in range(0, stages[i] - 1):
                x = ResNet.residual_module(x, filters[i + 1], (1, 1), chanDim,
                                           bnEps=bnEps, bnMom=bnMom)
        x = BatchNormalization(axis=chanDim, epsilon=bnEps, momentum=bnMom)(x)
        x = Activation("relu")(x)
        x = AveragePooling2D((4, 4))(x)
        x = Flatten()(x)
        x = Dense(classes, kernel_regularizer=l2(reg))(x)
        x = Activation("softmax")(x)
        return Model(inputs, x, name="resnet")


def test_ocr_resnet_with_class_weights_and_augmentation():
    x, y = _blobs(n=36, size=8, channels=1, classes=4)
    # an imbalanced set, weighted as the OCR tutorial weights its classes
    keep = np.r_[np.arange(36)[y != 3], np.arange(36)[y == 3][:3]]
    x, y = x[keep], y[keep]
    labels = _one_hot_by_hand(y, 4)
    classTotals = labels.sum(axis=0)
    classWeight = {i: classTotals.max() / classTotals[i] for i in range(len(classTotals))}
    assert classWeight[3] == 3.0
    EPOCHS, INIT_LR, BS = 2, 1e-1, 8
    aug = ImageDataGenerator(rotation_range=10, zoom_range=0.05, width_shift_range=0.1,
                             height_shift_range=0.1, shear_range=0.15,
                             horizontal_flip=False, fill_mode="nearest")
    opt = SGD(lr=INIT_LR, decay=INIT_LR / EPOCHS)
    model = ResNet.build(8, 8, 1, 4, (1, 1), (8, 8, 16), reg=0.0005)
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    assert model.output_shape == (None, 4)
    # the L2 penalties of the regularized kernels are part of the loss
    assert len(model.losses) == sum(1 for l in model.layers
                                    if getattr(l, "kernel_regularizer", None) is not None)
    H = model.fit(aug.flow(x, labels, batch_size=BS), validation_data=(x, labels),
                  steps_per_epoch=len(x) // BS, epochs=EPOCHS, class_weight=classWeight,
                  verbose=0)
    assert len(H.history["loss"]) == EPOCHS and np.isfinite(H.history["loss"]).all()
    preds = model.predict(x, batch_size=BS)
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, rtol=1e-5)


def _write_image_folder(root, size=40):
    """dataset/{with_mask,without_mask}/*.png: a mask is a bright lower half."""
    from PIL import Image
    rng = np.random.default_rng(7)
    paths = []
    for label in ("with_mask", "without_mask"):
        os.makedirs(os.path.join(root, label))
        for i in range(6):
            img = (rng.random((size, size, 3)) * 90).astype("uint8")
            if label == "with_mask":
                img[size // 2:] += 150
            path = os.path.join(root, label, "{:03d}.png".format(i))
            Image.fromarray(img).save(path)
            paths.append(path)
    return paths


def test_mask_detector_mobilenetv2_head_from_an_image_folder(tmp_path):
    pytest.importorskip("PIL")
    from pynn.keras.applications import MobileNetV2
    from pynn.keras.applications.mobilenet_v2 import preprocess_input
    imagePaths = _write_image_folder(str(tmp_path / "dataset"))
    data, labels = [], []
    for imagePath in imagePaths:
        label = imagePath.split(os.path.sep)[-2]
        image = load_img(imagePath, target_size=(32, 32))
        image = img_to_array(image)
        image = preprocess_input(image)
        data.append(image)
        labels.append(label)
    data = np.array(data, dtype="float32")
    labels = np.array(labels)
    assert data.shape == (12, 32, 32, 3) and data.min() >= -1 and data.max() <= 1
    classes = sorted(set(labels))
    labels = to_categorical([classes.index(l) for l in labels])

    aug = ImageDataGenerator(rotation_range=20, zoom_range=0.15, width_shift_range=0.2,
                             height_shift_range=0.2, shear_range=0.15, horizontal_flip=True,
                             fill_mode="nearest")
    baseModel = MobileNetV2(weights=None, include_top=False,
                            input_tensor=Input(shape=(32, 32, 3)))
    assert baseModel.output_shape == (None, 1, 1, 1280)
    headModel = baseModel.output
    headModel = AveragePooling2D(pool_size=(1, 1))(headModel)
    headModel = Flatten(name="flatten")(headModel)
    headModel = Dense(8, activation="relu")(headModel)
    headModel = Dropout(0.5)(headModel)
    headModel = Dense(2, activation="softmax")(headModel)
    model = Model(inputs=baseModel.input, outputs=headModel)
    for layer in baseModel.layers:
        layer.trainable = False
    INIT_LR, EPOCHS, BS = 1e-4, 1, 4
    opt = Adam(lr=INIT_LR, decay=INIT_LR / EPOCHS)
    model.compile(loss="binary_crossentropy", optimizer=opt, metrics=["accuracy"])
    assert len(model.trainable_weights) == 4
    H = model.fit(aug.flow(data, labels, batch_size=BS), steps_per_epoch=len(data) // BS,
                  validation_data=(data, labels), validation_steps=len(data) // BS,
                  epochs=EPOCHS, verbose=0)
    assert np.isfinite(H.history["val_loss"]).all()
    predIdxs = np.argmax(model.predict(data, batch_size=BS), axis=1)
    assert predIdxs.shape == (12,)
    path = str(tmp_path / "mask_detector.model")
    model.save(path, save_format="h5")
    restored = load_model(path)
    np.testing.assert_allclose(restored.predict(data[:2]), model.predict(data[:2]),
                               rtol=1e-4, atol=1e-6)


# ------------------------------------------------- directory iterators, generators

def test_flow_from_directory_train_validate_then_predict_in_order(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    rng = np.random.default_rng(9)
    root = str(tmp_path / "food5k")
    for split in ("training", "validation", "evaluation"):
        for c in ("food", "non_food"):
            os.makedirs(os.path.join(root, split, c))
            for i in range(5):
                img = (rng.random((20, 20, 3)) * 120).astype("uint8")
                if c == "food":
                    img[:, :, 0] += 120
                Image.fromarray(img).save(os.path.join(root, split, c, "{}.jpg".format(i)))
    BS = 4
    trainAug = ImageDataGenerator(rotation_range=30, zoom_range=0.15, width_shift_range=0.2,
                                  height_shift_range=0.2, shear_range=0.15,
                                  horizontal_flip=True, fill_mode="nearest", rescale=1 / 255.0)
    valAug = ImageDataGenerator(rescale=1 / 255.0)
    trainGen = trainAug.flow_from_directory(os.path.join(root, "training"),
                                            class_mode="categorical", target_size=(16, 16),
                                            color_mode="rgb", shuffle=True, batch_size=BS)
    valGen = valAug.flow_from_directory(os.path.join(root, "validation"),
                                        class_mode="categorical", target_size=(16, 16),
                                        color_mode="rgb", shuffle=False, batch_size=BS)
    testGen = valAug.flow_from_directory(os.path.join(root, "evaluation"),
                                         class_mode="categorical", target_size=(16, 16),
                                         color_mode="rgb", shuffle=False, batch_size=BS)
    assert trainGen.class_indices == {"food": 0, "non_food": 1}
    model = ShallowNet.build(16, 16, 3, 2)
    model.compile(loss="binary_crossentropy", optimizer=SGD(lr=0.05, momentum=0.9),
                  metrics=["accuracy"])
    H = model.fit(x=trainGen, steps_per_epoch=10 // BS, validation_data=valGen,
                  validation_steps=10 // BS, epochs=2, verbose=0)
    assert len(H.history["val_loss"]) == 2
    testGen.reset()
    predIdxs = model.predict(x=testGen, steps=(10 // BS) + 1)
    assert predIdxs.shape == (10, 2)
    np.testing.assert_array_equal(testGen.classes, [0] * 5 + [1] * 5)
    # in the order of testGen.filenames, whatever the batches
    images = np.stack([img_to_array(load_img(os.path.join(root, "evaluation", f),
                                             target_size=(16, 16))) / 255.0
                       for f in testGen.filenames])
    np.testing.assert_allclose(predIdxs, model.predict(images), rtol=1e-5, atol=1e-6)


def test_minigooglenet_on_a_python_generator_with_epoch_checkpoints(tmp_path):
    def conv_module(x, K_, kX, kY, stride, chanDim, padding="same"):
        x = Conv2D(K_, (kX, kY), strides=stride, padding=padding)(x)
        x = BatchNormalization(axis=chanDim)(x)
        return Activation("relu")(x)

    def inception_module(x, numK1x1, numK3x3, chanDim):
        conv_1x1 = conv_module(x, numK1x1, 1, 1, (1, 1), chanDim)
        conv_3x3 = conv_module(x, numK3x3, 3, 3, (1, 1), chanDim)
        return concatenate([conv_1x1, conv_3x3], axis=chanDim)

    def downsample_module(x, K_, chanDim):
        conv_3x3 = conv_module(x, K_, 3, 3, (2, 2), chanDim, padding="valid")
        pool = MaxPooling2D((3, 3), strides=(2, 2))(x)
        return concatenate([conv_3x3, pool], axis=chanDim)

    inputs = Input(shape=(16, 16, 3))
    x = conv_module(inputs, 8, 3, 3, (1, 1), -1)
    x = inception_module(x, 4, 4, -1)
    x = downsample_module(x, 8, -1)
    x = inception_module(x, 4, 6, -1)
    x = AveragePooling2D((7, 7))(x)
    x = Dropout(0.5)(x)
    x = Flatten()(x)
    x = Dense(2)(x)
    x = Activation("softmax")(x)
    model = Model(inputs, x, name="googlenet")
    # 8 + 8 channels after the downsample, 4 + 6 after the last inception
    assert K.int_shape(model.layers[-6].output) == (None, 7, 7, 10)

    class EpochCheckpoint(Callback):
        def __init__(self, outputPath, every=5, startAt=0):
            super(Callback, self).__init__()
            self.outputPath, self.every, self.intEpoch = outputPath, every, startAt

        def on_epoch_end(self, epoch, logs={}):
            if (self.intEpoch + 1) % self.every == 0:
                p = os.path.sep.join([self.outputPath,
                                      "epoch_{}.hdf5".format(self.intEpoch + 1)])
                self.model.save(p, overwrite=True)
            self.intEpoch += 1

    rng = np.random.default_rng(10)
    images, labels = _blobs(n=24, size=16, classes=2)

    def generator(passes=np.inf, batchSize=8):
        # HDF5DatasetGenerator.generator(): endless passes over the rows
        epochs = 0
        while epochs < passes:
            for i in np.arange(0, len(images), batchSize):
                yield (images[i:i + batchSize] + rng.normal(0, 0.01, (batchSize, 16, 16, 3)),
                       to_categorical(labels[i:i + batchSize], 2))
            epochs += 1

    pytest.importorskip("h5py")
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=1e-2, momentum=0.9),
                  metrics=["accuracy"])
    H = model.fit_generator(generator(), steps_per_epoch=3, validation_data=generator(),
                            validation_steps=3, epochs=4, max_queue_size=4, verbose=0,
                            callbacks=[EpochCheckpoint(str(tmp_path), every=2, startAt=0)])
    assert len(H.history["val_accuracy"]) == 4
    assert sorted(os.listdir(tmp_path)) == ["epoch_2.hdf5", "epoch_4.hdf5"]
    restored = load_model(str(tmp_path / "epoch_4.hdf5"))
    np.testing.assert_allclose(restored.predict(images), model.predict(images),
                               rtol=1e-4, atol=1e-6)
    assert restored.optimizer.iterations == 12


def test_learning_rate_finder_on_an_augmentation_iterator_restores_the_weights():
    """The post's finder: it tells an iterator by its class name, saves the
    weights to a mkstemp file (no suffix) and loads them back afterwards."""
    import tempfile

    x, y = _blobs(n=32, size=8)
    Y = to_categorical(y, 3)
    model = ShallowNet.build(8, 8, 3, 3)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=1e-2, momentum=0.9),
                  metrics=["accuracy"])
    aug = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1)
    trainData = aug.flow(x, Y, batch_size=8)
    iterClasses = ["NumpyArrayIterator", "DirectoryIterator", "DataFrameIterator",
                   "Iterator", "Sequence"]
    assert trainData.__class__.__name__ in iterClasses
    before = [w.copy() for w in model.get_weights()]
    weightsFile = tempfile.mkstemp()[1]
    try:
        model.save_weights(weightsFile)
        lrs = []
        callback = LambdaCallback(on_batch_end=lambda batch, logs: (
            lrs.append(K.get_value(model.optimizer.lr)),
            K.set_value(model.optimizer.lr, lrs[-1] * 2)))
        K.set_value(model.optimizer.lr, 1e-4)
        model.fit(x=trainData, steps_per_epoch=np.ceil(32 / 8.0), epochs=2, verbose=0,
                  callbacks=[callback])
        np.testing.assert_allclose(lrs, 1e-4 * 2.0 ** np.arange(8), rtol=1e-6)
        assert not np.array_equal(model.get_weights()[0], before[0])
        model.load_weights(weightsFile)
    finally:
        for suffix in ("", ".index"):
            if os.path.exists(weightsFile + suffix):
                os.remove(weightsFile + suffix)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_scikit_learn_randomized_search_over_a_keras_classifier():
    from sklearn.model_selection import RandomizedSearchCV
    from pynn.keras.wrappers.scikit_learn import KerasClassifier
    rng = np.random.default_rng(11)
    X = rng.random((48, 6)).astype("float32")
    y = (X[:, 0] > 0.5).astype("int64")

    def get_mlp_model(hiddenLayerOne=8, dropout=0.2, learnRate=0.01):
        model = Sequential()
        model.add(Flatten())
        model.add(Dense(hiddenLayerOne, activation="relu", input_shape=(6,)))
        model.add(Dropout(dropout))
        model.add(Dense(2, activation="softmax"))
        model.compile(optimizer=Adam(learning_rate=learnRate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    model = KerasClassifier(build_fn=get_mlp_model, verbose=0)
    grid = dict(hiddenLayerOne=[4, 8], learnRate=[1e-1, 1e-3], dropout=[0.0],
                batch_size=[8], epochs=[3])
    searcher = RandomizedSearchCV(estimator=model, n_jobs=1, cv=2, param_distributions=grid,
                                  scoring="accuracy", n_iter=3, random_state=0)
    searchResults = searcher.fit(X, y)
    assert set(searchResults.best_params_) == set(grid)
    assert len(searchResults.cv_results_["mean_test_score"]) == 3
    bestModel = searchResults.best_estimator_
    accuracy = bestModel.score(X, y)
    assert 0.0 <= accuracy <= 1.0
    assert bestModel.predict(X).shape == (48,)


# ------------------------------------------------- adversarial images, tf.data

def test_fgsm_and_targeted_adversarial_attacks():
    from pynn.keras.losses import MSE, SparseCategoricalCrossentropy
    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    image = np.random.default_rng(12).random((1, 4, 4, 1)).astype("float32")

    def generate_image_adversary(model, image, label, eps=2 / 255.0):
        image = tf.cast(image, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(image)
            pred = model(image)
            loss = MSE(label, pred)
        gradient = tape.gradient(loss, image)
        signedGrad = tf.sign(gradient)
        adversary = (image + (signedGrad * eps)).numpy()
        return adversary, np.asarray(gradient)

    label = np.eye(3, dtype="float32")[[0]]
    adversary, gradient = generate_image_adversary(model, image, label)
    np.testing.assert_allclose(adversary - image, np.sign(gradient) * 2 / 255.0, atol=1e-6)
    # the gradient against differences of the loss
    p = model.predict(image)
    idx = (0, 1, 2, 0)
    xp, xm = image.copy(), image.copy()
    xp[idx] += 1e-2
    xm[idx] -= 1e-2
    fd = (np.mean((model.predict(xp) - label) ** 2) - np.mean((model.predict(xm) - label) ** 2))
    assert gradient[idx] == pytest.approx(fd / 2e-2, rel=2e-2, abs=1e-5)

    def clip_eps(tensor, eps=4 / 255.0):
        return tf.clip_by_value(tensor, clip_value_min=-eps, clip_value_max=eps)

    baseImage = tf.constant(image, dtype=tf.float32)
    delta = tf.Variable(tf.zeros_like(baseImage), trainable=True)
    optimizer = Adam(learning_rate=1e-2)
    sccLoss = SparseCategoricalCrossentropy()
    for step in range(0, 6):
        with tf.GradientTape() as tape:
            tape.watch(delta)
            adversary = baseImage + delta
            predictions = model(adversary, training=False)
            originalLoss = -sccLoss(tf.convert_to_tensor([0]), predictions)
            targetLoss = sccLoss(tf.convert_to_tensor([2]), predictions)
            totalLoss = originalLoss + targetLoss
        gradients = tape.gradient(totalLoss, delta)
        optimizer.apply_gradients([(gradients, delta)])
        delta.assign_add(clip_eps(delta) - delta)
    assert np.abs(delta.numpy()).max() <= 4 / 255.0 + 1e-7
    adverImage = (baseImage + delta).numpy()
    q = model.predict(adverImage)
    assert q[0, 2] > p[0, 2] and q[0, 0] < p[0, 0]


def test_tf_data_pipeline_from_image_paths(tmp_path):
    pytest.importorskip("PIL")
    import glob
    paths = _write_image_folder(str(tmp_path / "dataset"), size=20)
    imagePaths = sorted(glob.glob(str(tmp_path / "dataset" / "*" / "*.png")))
    assert imagePaths == sorted(paths)
    classNames = np.array(sorted(os.listdir(str(tmp_path / "dataset"))))

    def load_images(imagePath):
        image = tf.io.read_file(imagePath)
        image = tf.image.decode_png(image, channels=3)
        image = tf.image.convert_image_dtype(image, dtype=tf.float32)
        image = tf.image.resize(image, (16, 16))
        label = tf.strings.split(imagePath, os.path.sep)[-2]
        oneHot = label == classNames
        encodedLabel = tf.argmax(oneHot)
        return (image, encodedLabel)

    def augment_using_ops(images, labels):
        images = tf.image.random_flip_left_right(images)
        return (images, labels)

    AUTOTUNE = tf.data.AUTOTUNE
    trainDS = tf.data.Dataset.from_tensor_slices(imagePaths)
    trainDS = (trainDS.shuffle(len(imagePaths), seed=42)
               .map(load_images, num_parallel_calls=AUTOTUNE)
               .cache().batch(4)
               .map(augment_using_ops, num_parallel_calls=AUTOTUNE)
               .prefetch(AUTOTUNE))
    batches = list(trainDS.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(4, 16, 16, 3)] * 3
    labels = np.concatenate([b[1] for b in batches])
    assert sorted(labels.tolist()) == [0] * 6 + [1] * 6
    # a masked image is bright in its lower half, in each batch's order
    for images, labs in batches:
        lower = images[:, 8:].mean(axis=(1, 2, 3)) > images[:, :8].mean(axis=(1, 2, 3)) + 0.3
        np.testing.assert_array_equal(lower, labs == 0)
    model = ShallowNet.build(16, 16, 3, 2)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=SGD(lr=0.05),
                  metrics=["accuracy"])
    H = model.fit(trainDS, validation_data=trainDS, epochs=2, verbose=0)
    assert len(H.history["val_accuracy"]) == 2


def test_multi_label_smallervggnet_with_sigmoid_outputs():
    """'Multi-label classification with Keras': a sigmoid per label,
    binary cross-entropy, the two most likely labels by argsort."""
    rng = np.random.default_rng(14)
    n = 24
    # labels: (red | blue) x (dress | shirt), each image two labels
    mlb_classes = ["blue", "dress", "red", "shirt"]
    color = rng.integers(0, 2, n)
    kind = rng.integers(0, 2, n)
    x = rng.random((n, 8, 8, 3)).astype("float32") * 0.3
    x[color == 0, :, :, 2] += 0.7     # blue
    x[color == 1, :, :, 0] += 0.7     # red
    x[kind == 0, :4] += 0.3           # dress: bright top
    Y = np.zeros((n, 4), "float32")
    Y[np.arange(n), np.where(color == 0, 0, 2)] = 1
    Y[np.arange(n), np.where(kind == 0, 1, 3)] = 1
    model = MiniVGGNet.build(8, 8, 3, 4)
    model.pop()
    model.add(Activation("sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=Adam(lr=1e-2, decay=1e-2 / 10),
                  metrics=["accuracy"])
    H = model.fit(x, Y, batch_size=8, epochs=3, verbose=0)
    proba = model.predict(x)
    assert proba.shape == (n, 4) and proba.min() >= 0 and proba.max() <= 1
    # 'accuracy' over four outputs is categorical accuracy, as TF 2.x and
    # Keras 3 pick it (by the shapes, not the loss): the tutorial's
    # well-known gotcha; binary_accuracy is the labels' agreement
    acc = model.evaluate(x, Y, verbose=0)[1]
    assert acc == pytest.approx(np.mean(proba.argmax(1) == Y.argmax(1)), abs=1e-6)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["binary_accuracy"])
    acc = model.evaluate(x, Y, verbose=0)[1]
    assert acc == pytest.approx(np.mean((proba > 0.5) == (Y > 0.5)), abs=1e-6)
    assert len(H.history["accuracy"]) == 3
    idxs = np.argsort(proba[0])[::-1][:2]
    labels = ["{}: {:.2f}%".format(mlb_classes[j], proba[0][j] * 100) for j in idxs]
    assert len(labels) == 2
