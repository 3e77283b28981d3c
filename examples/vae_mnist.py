"""A variational autoencoder on MNIST, as the Keras books write it: an
encoder gives the mean and log-variance of a 2-D latent code, a custom
Sampling layer draws the code (z_mean + exp(z_log_var / 2) * epsilon) and
adds the KL divergence to the loss with self.add_loss, and a decoder
rebuilds the image.  The Sampling layer and the reconstruction loss are
plain Python written with the backend functions (K); pynn trains through
them by differentiating them.

    python examples/vae_mnist.py                 # 2 epochs, prints the final loss
    python examples/vae_mnist.py --epochs 10 --save vae.pynn
"""
import argparse

import numpy as np

import pynn as keras
from pynn import backend as K
from pynn import layers

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--save", metavar="PATH", help="write the trained model to PATH (.pynn)")
args = parser.parse_args()

original_dim, intermediate_dim, latent_dim = 784, 256, 2

(x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, original_dim).astype("float32") / 255
x_test = x_test.reshape(-1, original_dim).astype("float32") / 255


class Sampling(layers.Layer):
    """Draws z from N(z_mean, exp(z_log_var)) by the reparameterization
    trick, and adds the KL divergence from N(0, 1) to the model's loss."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl_loss = -0.5 * K.sum(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=-1)
        self.add_loss(K.mean(kl_loss))
        epsilon = K.random_normal(shape=(K.shape(z_mean)[0], latent_dim))
        return z_mean + K.exp(0.5 * z_log_var) * epsilon


def reconstruction_loss(x, x_decoded):
    """Binary cross-entropy summed over the pixels (Keras's example)."""
    return original_dim * keras.losses.binary_crossentropy(x, x_decoded)


keras.utils.set_random_seed(1)
inputs = keras.Input(shape=(original_dim,), name="encoder_input")
h = layers.Dense(intermediate_dim, activation="relu")(inputs)
z_mean = layers.Dense(latent_dim, name="z_mean")(h)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
z = Sampling(name="z")([z_mean, z_log_var])
h_decoded = layers.Dense(intermediate_dim, activation="relu")(z)
outputs = layers.Dense(original_dim, activation="sigmoid")(h_decoded)
vae = keras.Model(inputs, outputs, name="vae")
vae.summary()

vae.compile(optimizer="adam", loss=reconstruction_loss)
history = vae.fit(x_train, x_train, epochs=args.epochs, batch_size=128,
                  validation_data=(x_test, x_test), verbose=2)

# The encoder alone maps images to their latent means.
encoder = keras.Model(inputs, z_mean)
codes = encoder.predict(x_test, verbose=0)
print(f"Latent means of the test images: mean {np.round(codes.mean(0), 3)}, "
      f"std {np.round(codes.std(0), 3)}")
print(f"Final loss: {history.history['loss'][-1]:.2f}  "
      f"(validation: {history.history['val_loss'][-1]:.2f})")
if args.save:
    vae.save(args.save)
    print(f"Saved to {args.save}; load it with custom_objects={{'Sampling': Sampling, "
          f"'reconstruction_loss': reconstruction_loss}}")
model, x_sample = vae, x_test
