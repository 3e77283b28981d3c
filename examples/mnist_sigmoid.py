"""The smallest MNIST network: 784-10 (sigmoid) -10 (softmax), trained with 'sgd'.

The Keras tutorial, with only its imports changed.
"""
import pynn as keras
from pynn.layers import Dense
from pynn.models import Sequential

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255
y_train = keras.utils.to_categorical(y_train, 10)
y_test = keras.utils.to_categorical(y_test, 10)

keras.utils.set_random_seed(1)
model = Sequential()
model.add(Dense(10, activation="sigmoid", input_shape=(784,)))
model.add(Dense(10, activation="softmax"))
model.summary()
model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=32, epochs=10, verbose=2, validation_split=0.1)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"Test accuracy: {accuracy:.4f}")
