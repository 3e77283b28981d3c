"""The TensorFlow 1-era tutorial ending: model.save('trained_model.h5'),
load_model and TFLiteConverter.from_keras_model_file, with only the imports
changed; the .tflite predicts what the model does."""
import numpy as np
import pytest
from litehelp import run

import pynn
from pynn.models import load_model

pytest.importorskip("h5py", reason="h5py (pip install 'pynn[keras]') is not installed")


@pytest.mark.parametrize("name", ["trained_model.h5", "trained_model.keras",
                                  "trained_model.pynn"])
def test_saved_model_converts(tmp_path, mnist, name):
    x, y = mnist
    x = x[:512].reshape(-1, 28, 28, 1)
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input(shape=(28, 28, 1)),
                             pynn.layers.Conv2D(8, 3, activation="relu"),
                             pynn.layers.MaxPooling2D(),
                             pynn.layers.BatchNormalization(),
                             pynn.layers.Flatten(),
                             pynn.layers.Dropout(0.3),
                             pynn.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y[:512], epochs=1, batch_size=64, verbose=0)
    path = str(tmp_path / name)
    model.save(path)

    restored = load_model(path)
    expected = model.predict(x[:32], verbose=0)
    np.testing.assert_array_equal(restored.predict(x[:32], verbose=0), expected)

    converter = pynn.lite.TFLiteConverter.from_keras_model_file(path)
    tflite_model = converter.convert()
    (tmp_path / "model.tflite").write_bytes(tflite_model)
    np.testing.assert_allclose(run(tflite_model, x[:32]), expected, rtol=0, atol=1e-5)


def test_converter_options_of_tf1_are_refused(tmp_path):
    model = pynn.Sequential([pynn.Input(shape=(3,)), pynn.layers.Dense(2)])
    model.save(tmp_path / "m.h5")
    with pytest.raises(pynn.lite.ConversionError, match="input_arrays"):
        pynn.lite.TFLiteConverter.from_keras_model_file(str(tmp_path / "m.h5"),
                                                        input_arrays=["x"])
