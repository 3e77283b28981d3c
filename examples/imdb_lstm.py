"""Movie-review sentiment read word by word: an Embedding of the 10,000 most
frequent words into 32 dimensions, an LSTM of 32 units and a sigmoid, as in
"Deep Learning with Python" (reviews cut or padded to their last 500 words).

On the real IMDB reviews when they are cached (or can be downloaded);
otherwise on a clearly labelled synthetic stand-in (IMDB-format reviews
with sentiment words among Zipf-distributed ones), with fewer and shorter
reviews so that it runs in about a minute.
"""
import numpy as np

import pynn as keras
from pynn import layers
from pynn.datasets import imdb
from pynn.utils import pad_sequences

max_features = 10000


def synthetic_reviews(n, seed):
    """IMDB-format reviews: (object array of word-index lists, 0/1 labels).
    Words follow a Zipf law; 50 words lean positive and 50 negative, and a
    review draws a tenth of its words from its own side, a fiftieth from
    the other."""
    g = np.random.default_rng(seed)
    ranks = np.arange(1, max_features - 3)
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
    (input_train, y_train), (input_test, y_test) = imdb.load_data(num_words=max_features)
    maxlen, epochs = 500, 10
except RuntimeError as e:
    print(f"IMDB is not available ({e.__class__.__name__}); training on a SYNTHETIC "
          f"STAND-IN for it (fewer, shorter IMDB-format reviews with sentiment words). Put "
          f"imdb.npz in ~/.pynn/datasets to run on the real reviews.")
    (input_train, y_train), (input_test, y_test) = \
        (synthetic_reviews(2560, 1), synthetic_reviews(1000, 2))
    maxlen, epochs = 150, 5

x_train = pad_sequences(input_train, maxlen=maxlen)
x_test = pad_sequences(input_test, maxlen=maxlen)
print("input_train shape:", x_train.shape)

keras.utils.set_random_seed(1)
model = keras.Sequential([
    layers.Embedding(max_features, 32),
    layers.LSTM(32),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=epochs, batch_size=128, validation_split=0.2, verbose=2)
model.summary()
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"Test accuracy: {accuracy:.4f}")
