"""make demo: train the Keras MNIST convnet on the default data, export it
to TensorFlow Lite, check the file in the LiteRT interpreter, and report
accuracy, file sizes and timings."""
import os
import tempfile
import time

import numpy as np

import pynn as keras
from pynn import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)

keras.show_config()
keras.utils.set_random_seed(1)
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Flatten(),
    layers.Dropout(0.5),
    layers.Dense(10, activation="softmax"),
])
model.summary()
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
epochs = 10
t0 = time.perf_counter()
model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1, verbose=2)
train_s = time.perf_counter() - t0
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
assert np.isfinite(loss)

one = x_test[:1]
model.predict(one, verbose=0)
reps = 1000
t0 = time.perf_counter()
for _ in range(reps):
    model.predict(one, verbose=0)
predict_us = (time.perf_counter() - t0) / reps * 1e6

print(f"\nTest accuracy:       {accuracy:.4f} on {len(x_test)} images")
print(f"Training time:       {train_s / epochs:.2f} s per epoch "
      f"({int(len(x_train) * 0.9)} samples, batch 128)")
print(f"predict, one image:  {predict_us:.1f} us")

# Export: float32, and full integer calibrated on 200 training images.
out_dir = tempfile.mkdtemp(prefix="pynn-demo-")
float_path = os.path.join(out_dir, "mnist_cnn.tflite")
int8_path = os.path.join(out_dir, "mnist_cnn_int8.tflite")
model.export_tflite(float_path)


def representative_data():
    for i in range(200):
        yield [x_train[i:i + 1]]


model.export_tflite(int8_path, quantize="int8", representative_dataset=representative_data)

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    Interpreter = None
    print("\nai-edge-litert is not installed: the .tflite files are written but not run")

for path in (float_path, int8_path):
    size = os.path.getsize(path)
    if Interpreter is None:
        print(f"{os.path.basename(path)}: {size:,} bytes")
        continue
    interp = Interpreter(model_path=path)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    preds = []
    t0 = time.perf_counter()
    for i in range(len(x_test)):
        x = x_test[i:i + 1]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            x = np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"])
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        preds.append(np.argmax(interp.get_tensor(out["index"])[0]))
    invoke_us = (time.perf_counter() - t0) / len(x_test) * 1e6
    tflite_acc = float(np.mean(np.array(preds) == y_test))
    print(f"{os.path.basename(path)}: {size:,} bytes, LiteRT test accuracy {tflite_acc:.4f}, "
          f"{invoke_us:.0f} us per image")
    assert tflite_acc >= accuracy - 0.02, "the exported model disagrees with pynn"
print(f"(files in {out_dir})")
