"""A Siamese network on MNIST: one Dense tower, shared by two inputs,
embeds two digit images; the cosine similarity of the embeddings (a Dot
layer with normalize=True), rescaled by a BatchNormalization as in Keras's
Siamese example, decides whether they show the same digit.  The tower's
weights are trained through both of its calls.
"""
import numpy as np

import pynn as keras
from pynn import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255


def make_pairs(x, y, seed):
    """For every image, one partner with the same digit and one with another
    digit: label 1 for the same digit, 0 otherwise."""
    g = np.random.default_rng(seed)
    by_digit = [np.flatnonzero(y == d) for d in range(10)]
    left, right, same = [], [], []
    for i in range(len(x)):
        left.append(i)
        right.append(g.choice(by_digit[y[i]]))
        same.append(1.0)
        other = (y[i] + g.integers(1, 10)) % 10
        left.append(i)
        right.append(g.choice(by_digit[other]))
        same.append(0.0)
    order = g.permutation(len(left))
    left, right = np.array(left)[order], np.array(right)[order]
    return x[left], x[right], np.array(same, np.float32)[order]


pairs_train = make_pairs(x_train, y_train, seed=0)
pairs_test = make_pairs(x_test, y_test, seed=1)

keras.utils.set_random_seed(1)
tower_input = keras.Input(shape=(784,))
t = layers.Dense(128, activation="relu")(tower_input)
t = layers.Dense(64, activation="relu")(t)
tower = keras.Model(tower_input, t, name="tower")

left_input = keras.Input(shape=(784,), name="left")
right_input = keras.Input(shape=(784,), name="right")
similarity = layers.Dot(axes=1, normalize=True)([tower(left_input), tower(right_input)])
similarity = layers.BatchNormalization()(similarity)
same_digit = layers.Dense(1, activation="sigmoid")(similarity)
model = keras.Model([left_input, right_input], same_digit, name="siamese")
model.summary()

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit([pairs_train[0], pairs_train[1]], pairs_train[2], batch_size=128, epochs=6,
          validation_split=0.1, verbose=2)

loss, accuracy = model.evaluate([pairs_test[0], pairs_test[1]], pairs_test[2], verbose=0)
print(f"Test accuracy: {accuracy:.4f}")
x_test = [pairs_test[0], pairs_test[1]]
