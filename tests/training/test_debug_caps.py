"""keras.config's debugging caps: set_max_epochs limits fit's epochs,
set_max_steps_per_epoch the batches of every fit epoch, validation,
evaluate and predict pass (never adding any), each with Keras's warning;
the KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH environment variables set
them at import."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import layers


@pytest.fixture
def caps():
    yield pynn.config
    pynn.config.set_max_epochs(None)
    pynn.config.set_max_steps_per_epoch(None)


class _Batches(pynn.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.train = 0
        self.test = 0

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1


def _model():
    model = pynn.Sequential([pynn.Input((4,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_caps_limit_fit_evaluate_and_predict(caps):
    x = np.random.default_rng(0).random((320, 4), np.float32)
    y = x.sum(1, keepdims=True)
    model, seen = _model(), _Batches()
    caps.set_max_epochs(2)
    caps.set_max_steps_per_epoch(3)
    assert (caps.max_epochs(), caps.max_steps_per_epoch()) == (2, 3)
    with pytest.warns(UserWarning, match="Limiting epochs to 2"):
        history = model.fit(x, y, epochs=10, verbose=0, validation_data=(x, y),
                            callbacks=[seen])
    assert len(history.history["loss"]) == 2 and seen.train == 3
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
        assert model.predict(x, verbose=0).shape == (96, 1)
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
        model.evaluate(x, y, verbose=0)
    # a cap above the data's batches adds none
    caps.set_max_steps_per_epoch(50)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[seen])
    assert seen.train == 10
    caps.set_max_epochs(None)
    caps.set_max_steps_per_epoch(None)
    assert len(model.fit(x, y, epochs=3, verbose=0).history["loss"]) == 3
    assert model.predict(x, verbose=0).shape == (320, 1)


def test_environment_sets_the_caps():
    env = {**os.environ, "KERAS_MAX_EPOCHS": "1", "KERAS_MAX_STEPS_PER_EPOCH": "2"}
    out = subprocess.run([sys.executable, "-c", "import pynn; c = pynn.config; "
                          "print(c.max_epochs(), c.max_steps_per_epoch())"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "2"]
