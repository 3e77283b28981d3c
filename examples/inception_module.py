"""An Inception-style module on MNIST: four branches over the same input
(1x1 convolutions, a 3x3 after a 1x1, a pooled branch and a stacked 3x3
branch) joined by concatenating their channels, as in the functional-API
chapter of "Deep Learning with Python".
"""
import numpy as np

import pynn as keras
from pynn import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)

keras.utils.set_random_seed(1)
inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(32, 3, activation="relu")(inputs)
x = layers.MaxPooling2D(2)(x)

branch_a = layers.Conv2D(32, 1, activation="relu", strides=2)(x)

branch_b = layers.Conv2D(32, 1, activation="relu")(x)
branch_b = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(branch_b)

branch_c = layers.AveragePooling2D(3, strides=2, padding="same")(x)
branch_c = layers.Conv2D(32, 3, activation="relu", padding="same")(branch_c)

branch_d = layers.Conv2D(32, 1, activation="relu")(x)
branch_d = layers.Conv2D(32, 3, activation="relu", padding="same")(branch_d)
branch_d = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(branch_d)

output = layers.concatenate([branch_a, branch_b, branch_c, branch_d], axis=-1)
x = layers.Flatten()(output)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(10, activation="softmax")(x)

model = keras.Model(inputs, outputs, name="inception")
model.summary()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=128, epochs=5, validation_split=0.1, verbose=2)

loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"Test accuracy: {accuracy:.4f}")
