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
from pynn.keras.callbacks import BaseLogger, Callback, LearningRateScheduler, ModelCheckpoint
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
    # Keras 2's time decay: lr / (1 + decay * iterations)
    assert model.optimizer.iterations == 18
    np.testing.assert_allclose(float(model.optimizer.learning_rate),
                               0.05 / (1 + 0.05 / 40 * 18), rtol=1e-6)
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
