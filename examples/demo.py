"""make demo: train the MNIST MLP on the default data and report accuracy
and timings."""
import time

import numpy as np

import pynn as keras
from pynn import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255

keras.show_config()
keras.utils.set_random_seed(1)
model = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
model.summary()
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
epochs = 10
t0 = time.perf_counter()
model.fit(x_train, y_train, batch_size=64, epochs=epochs, validation_split=0.2, verbose=2)
train_s = time.perf_counter() - t0
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)

one = x_test[:1]
model.predict(one)
reps = 2000
t0 = time.perf_counter()
for _ in range(reps):
    model.predict(one)
predict_us = (time.perf_counter() - t0) / reps * 1e6

print(f"\nTest accuracy:       {accuracy:.4f} on {len(x_test)} images")
print(f"Training time:       {train_s / epochs * 1e3:.1f} ms per epoch "
      f"({len(x_train) * 0.8:.0f} samples, batch 64)")
print(f"predict, one image:  {predict_us:.1f} us")
assert np.isfinite(loss)
