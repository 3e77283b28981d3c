"""Movie-review sentiment from multi-hot word vectors: the first text model
of "Deep Learning with Python" (IMDB, a 10,000-word vocabulary, two Dense
layers of 16 and a sigmoid).

On the real IMDB reviews when they are cached (or can be downloaded);
otherwise on a clearly labelled synthetic stand-in: reviews in IMDB's
format (word ranks shifted by 3, starting with 1) whose words follow a
Zipf law, with 100 words that lean positive or negative.
"""
import numpy as np

import pynn as keras
from pynn import layers
from pynn.datasets import imdb

num_words = 10000


def synthetic_reviews(n, seed):
    """IMDB-format reviews: (object array of word-index lists, 0/1 labels).
    Words follow a Zipf law; 50 words lean positive and 50 negative, and a
    review draws a tenth of its words from its own side, a fiftieth from
    the other."""
    g = np.random.default_rng(seed)
    ranks = np.arange(1, num_words - 3)
    zipf = 1.0 / (ranks + 10.0)
    zipf /= zipf.sum()
    lean = np.random.default_rng(0).choice(np.arange(20, 1000), 100, replace=False)
    positive, negative = lean[:50], lean[50:]
    labels = g.integers(0, 2, n)
    reviews = []
    for label in labels:
        words = g.choice(ranks, g.integers(40, 150), p=zipf)
        source = g.random(words.size)
        own, other = (positive, negative) if label else (negative, positive)
        words[source < 0.1] = g.choice(own, np.sum(source < 0.1))
        flip = (source >= 0.1) & (source < 0.12)
        words[flip] = g.choice(other, np.sum(flip))
        reviews.append([1] + [int(w) + 3 for w in words])
    out = np.empty(n, dtype=object)
    out[:] = reviews
    return out, labels


try:
    (train_data, train_labels), (test_data, test_labels) = imdb.load_data(num_words=num_words)
except RuntimeError as e:
    print(f"IMDB is not available ({e.__class__.__name__}); training on a SYNTHETIC "
          f"STAND-IN for it (IMDB-format reviews with sentiment words). Put imdb.npz in "
          f"~/.pynn/datasets to run on the real reviews.")
    (train_data, train_labels), (test_data, test_labels) = \
        (synthetic_reviews(5000, 1), synthetic_reviews(1000, 2))


def vectorize_sequences(sequences, dimension=num_words):
    results = np.zeros((len(sequences), dimension), dtype="float32")
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


x_train = vectorize_sequences(train_data)
x_test = vectorize_sequences(test_data)
y_train = np.asarray(train_labels).astype("float32")
y_test = np.asarray(test_labels).astype("float32")

keras.utils.set_random_seed(1)
model = keras.Sequential([
    keras.Input(shape=(num_words,)),
    layers.Dense(16, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(1, activation="sigmoid"),
])
model.summary()
model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=4, batch_size=512, validation_split=0.2, verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"Test accuracy: {accuracy:.4f}")
