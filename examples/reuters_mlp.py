"""Newswire topics, 46 classes: the multi-class text model of "Deep Learning
with Python" (Reuters, multi-hot vectors of a 10,000-word vocabulary, two
Dense layers of 64 and a 46-way softmax, one-hot labels).

On the real Reuters newswires when they are cached (or can be
downloaded); otherwise on a clearly labelled synthetic stand-in: wires in
Reuters's format over 46 topics of unequal frequency, each topic with its
own words among Zipf-distributed common ones.
"""
import numpy as np

import pynn as keras
from pynn import layers
from pynn.datasets import reuters

num_words, num_topics = 10000, 46


def synthetic_wires(n, seed):
    """Reuters-format wires: (object array of word-index lists, topics)."""
    g = np.random.default_rng(seed)
    ranks = np.arange(1, num_words - 3)
    zipf = 1.0 / (ranks + 10.0)
    zipf /= zipf.sum()
    fixed = np.random.default_rng(0)
    topic_words = fixed.choice(np.arange(100, 5000), (num_topics, 40), replace=False)
    frequency = 1.0 / np.arange(1, num_topics + 1) ** 0.8  # a few topics dominate
    topics = g.choice(num_topics, n, p=frequency / frequency.sum())
    wires = []
    for topic in topics:
        words = g.choice(ranks, g.integers(40, 200), p=zipf)
        on_topic = g.random(words.size) < 0.12
        words[on_topic] = g.choice(topic_words[topic], np.sum(on_topic))
        wires.append([1] + [int(w) + 3 for w in words])
    out = np.empty(n, dtype=object)
    out[:] = wires
    return out, topics


try:
    (train_data, train_labels), (test_data, test_labels) = \
        reuters.load_data(num_words=num_words)
except RuntimeError as e:
    print(f"Reuters is not available ({e.__class__.__name__}); training on a SYNTHETIC "
          f"STAND-IN for it (Reuters-format wires over 46 topics). Put reuters.npz in "
          f"~/.pynn/datasets to run on the real newswires.")
    (train_data, train_labels), (test_data, test_labels) = \
        (synthetic_wires(4000, 1), synthetic_wires(1000, 2))


def vectorize_sequences(sequences, dimension=num_words):
    results = np.zeros((len(sequences), dimension), dtype="float32")
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


x_train = vectorize_sequences(train_data)
x_test = vectorize_sequences(test_data)
y_train = keras.utils.to_categorical(train_labels, num_topics)
y_test = keras.utils.to_categorical(test_labels, num_topics)

keras.utils.set_random_seed(1)
model = keras.Sequential([
    keras.Input(shape=(num_words,)),
    layers.Dense(64, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(num_topics, activation="softmax"),
])
model.summary()
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=9, batch_size=512, validation_split=0.1, verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"Test accuracy: {accuracy:.4f}")
