import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.utils import set_random_seed


@pytest.fixture(scope="session")
def mnist():
    """The MNIST sample (offline fallback): all 5,000 images, scaled to
    [0, 1], with labels."""
    (x_train, y_train), (x_test, y_test) = pynn.datasets.mnist.load_data()
    x = np.concatenate([x_train, x_test]).astype(np.float32) / 255.0
    y = np.concatenate([y_train, y_test])
    return x, y


@pytest.fixture(scope="session")
def mlp(mnist):
    """The README's 784-128-128-10 MLP, trained briefly so its class
    predictions mean something."""
    x, y = mnist
    set_random_seed(1)
    model = pynn.Sequential([
        pynn.Input(shape=(784,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:4000].reshape(-1, 784), y[:4000], batch_size=64, epochs=3, verbose=0)
    return model
