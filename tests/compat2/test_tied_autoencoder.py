"""Géron 17's tied-weights autoencoder: a DenseTranspose layer that reads
another layer's kernel, with its bias made by add_weight(shape=<int>) as
tf.keras accepted, and its activation from keras.activations.get; the
shared kernel gets the gradients of both uses."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers


class DenseTranspose(layers.Layer):
    def __init__(self, dense, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense
        self.activation = keras.activations.get(activation)

    def build(self, batch_input_shape):
        self.biases = self.add_weight(name="bias", shape=self.dense.input_shape[-1],
                                      initializer="zeros")
        super().build(batch_input_shape)

    def call(self, inputs):
        z = keras.ops.matmul(inputs, keras.ops.transpose(self.dense.weights[0]))
        return self.activation(z + self.biases)


@pytest.mark.parametrize("activation", ["sigmoid", keras.activations.sigmoid])
def test_tied_autoencoder_trains_one_kernel(activation):
    keras.utils.set_random_seed(0)
    dense = layers.Dense(6, activation="relu")
    encoder = keras.Sequential([layers.Flatten(input_shape=[4, 4]), dense])
    decoder = keras.Sequential([DenseTranspose(dense, activation=activation),
                                layers.Reshape([4, 4])])
    model = keras.Sequential([encoder, decoder])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(learning_rate=0.01))
    # the kernel is counted once: 16*6 + 6 (encoder) + 16 (the decoder's bias)
    assert model.count_params() == 16 * 6 + 6 + 16
    x = np.random.default_rng(0).random((32, 4, 4)).astype("float32")
    kernel = dense.kernel.numpy()
    history = model.fit(x, x, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    assert not np.allclose(dense.kernel.numpy(), kernel)
    assert decoder.layers[0].biases.shape == (16,)
