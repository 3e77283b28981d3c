"""Keras's Siamese MNIST example (mnist_siamese.py): one tower embeds two
digit images, a Lambda layer computes the Euclidean distance of the two
embeddings, and the contrastive loss pulls pairs of the same digit
together and pushes other pairs at least a margin apart.  The distance, the
loss and the accuracy metric are the example's own Python functions of the
backend (K); pynn trains through them by differentiating them.

    python examples/siamese_lambda.py [--epochs N] [--save siamese.pynn]
"""
import argparse

import numpy as np

import pynn as keras
from pynn import backend as K
from pynn import layers

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--save", metavar="PATH", help="write the trained model to PATH (.pynn)")
args = parser.parse_args()

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255


def euclidean_distance(vects):
    x, y = vects
    sum_square = K.sum(K.square(x - y), axis=1, keepdims=True)
    return K.sqrt(K.maximum(sum_square, K.epsilon()))


def eucl_dist_output_shape(shapes):
    shape1, shape2 = shapes
    return (shape1[0], 1)


def contrastive_loss(y_true, y_pred):
    """Contrastive loss from Hadsell et al. 2006 (label 1: the same digit)."""
    margin = 1
    square_pred = K.square(y_pred)
    margin_square = K.square(K.maximum(margin - y_pred, 0))
    return K.mean(y_true * square_pred + (1 - y_true) * margin_square)


def accuracy(y_true, y_pred):
    """Pairs closer than 0.5 are called the same digit."""
    return K.mean(K.equal(y_true, K.cast(y_pred < 0.5, y_true.dtype)))


def create_pairs(x, digit_indices, seed):
    """Alternating positive and negative pairs, as many per digit as the
    rarest digit allows."""
    g = np.random.default_rng(seed)
    pairs, labels = [], []
    n = min(len(d) for d in digit_indices) - 1
    for d in range(10):
        for i in range(n):
            z1, z2 = digit_indices[d][i], digit_indices[d][i + 1]
            pairs.append([x[z1], x[z2]])
            dn = (d + g.integers(1, 10)) % 10
            z1, z2 = digit_indices[d][i], digit_indices[dn][i]
            pairs.append([x[z1], x[z2]])
            labels += [1.0, 0.0]
    return np.array(pairs), np.array(labels, np.float32)


def create_base_network(input_shape):
    inp = keras.Input(shape=input_shape)
    x = layers.Dense(128, activation="relu")(inp)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(128, activation="relu")(x)
    return keras.Model(inp, x, name="base_network")


tr_pairs, tr_y = create_pairs(x_train, [np.flatnonzero(y_train == d) for d in range(10)], 0)
te_pairs, te_y = create_pairs(x_test, [np.flatnonzero(y_test == d) for d in range(10)], 1)

keras.utils.set_random_seed(1)
base_network = create_base_network((784,))
input_a = keras.Input(shape=(784,))
input_b = keras.Input(shape=(784,))
distance = layers.Lambda(euclidean_distance, output_shape=eucl_dist_output_shape)(
    [base_network(input_a), base_network(input_b)])
model = keras.Model([input_a, input_b], distance)
model.summary()

model.compile(loss=contrastive_loss, optimizer=keras.optimizers.RMSprop(), metrics=[accuracy])
model.fit([tr_pairs[:, 0], tr_pairs[:, 1]], tr_y, batch_size=128, epochs=args.epochs,
          validation_data=([te_pairs[:, 0], te_pairs[:, 1]], te_y), verbose=2)


def compute_accuracy(y_true, y_pred):
    return np.mean((y_pred.ravel() < 0.5) == y_true)


tr_acc = compute_accuracy(tr_y, model.predict([tr_pairs[:, 0], tr_pairs[:, 1]], verbose=0))
te_acc = compute_accuracy(te_y, model.predict([te_pairs[:, 0], te_pairs[:, 1]], verbose=0))
print(f"Accuracy on training set: {100 * tr_acc:.2f}%")
print(f"Test accuracy: {te_acc:.4f}")
if args.save:
    model.save(args.save)
    print(f"Saved to {args.save}; load it with custom_objects for euclidean_distance, "
          f"eucl_dist_output_shape, contrastive_loss and accuracy")
x_test = [te_pairs[:, 0], te_pairs[:, 1]]
