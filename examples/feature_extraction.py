"""Feature extraction from intermediate layers.

1. Train a small convnet on MNIST, then build a model that returns the
   activations of its first layers (``Model(model.input, [layer.output for
   layer in model.layers[:4]])``), as the chapter on visualizing what
   convnets learn does, and print what each layer produces.
2. Reuse the trained convolutional base, frozen, under a new classifier
   head trained on only 500 images: the base's features carry over.
"""
import numpy as np

import pynn as keras
from pynn import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)

keras.utils.set_random_seed(1)
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(32, 3, activation="relu"),
    layers.MaxPooling2D(2),
    layers.Conv2D(64, 3, activation="relu"),
    layers.MaxPooling2D(2),
    layers.Flatten(name="features"),
    layers.Dropout(0.5),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=128, epochs=4, verbose=2)

layer_outputs = [layer.output for layer in model.layers[:4]]
activation_model = keras.Model(inputs=model.input, outputs=layer_outputs)
activations = activation_model.predict(x_test[:1], verbose=0)
for layer, activation in zip(model.layers[:4], activations):
    print(f"{layer.name:>16}: {activation.shape}, mean activation {activation.mean():.4f}, "
          f"{(activation > 0).mean():.0%} of units active")

conv_base = keras.Model(model.input, model.get_layer("features").output, name="conv_base")
conv_base.trainable = False
inputs = keras.Input(shape=(28, 28, 1))
x = conv_base(inputs, training=False)
x = layers.Dense(64, activation="relu")(x)
outputs = layers.Dense(10, activation="softmax")(x)
new_model = keras.Model(inputs, outputs, name="new_head")
new_model.summary()
new_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
new_model.fit(x_train[:500], y_train[:500], batch_size=32, epochs=5, verbose=2)

loss, accuracy = new_model.evaluate(x_test, y_test, verbose=0)
print(f"Test accuracy: {accuracy:.4f}")
model = new_model
