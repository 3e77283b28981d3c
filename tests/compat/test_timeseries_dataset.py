"""timeseries_dataset_from_array as Keras documents it, and the
temperature-forecasting program of Deep Learning with Python (2nd ed.,
chapter 10) on a synthetic series."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers


def test_keras_documented_example():
    # Keras's docstring: windows of 10 over range(100), target the next value
    data = np.arange(100)
    steps = 10
    ds = keras.utils.timeseries_dataset_from_array(data[:-steps], data[steps:],
                                                   sequence_length=steps, batch_size=32)
    batches = list(ds)
    assert len(ds) == len(batches) == 3
    x, y = batches[0]
    np.testing.assert_array_equal(x[0], np.arange(10))
    assert y[0] == 10 and x.shape == (32, 10)
    assert sum(len(b[1]) for b in batches) == 81
    np.testing.assert_array_equal(batches[-1][0][-1], np.arange(80, 90))


def test_stride_rate_and_index_window():
    data = np.arange(50)[:, None] * np.ones((1, 2))
    ds = keras.preprocessing.timeseries_dataset_from_array(
        data, np.arange(50), sequence_length=4, sequence_stride=3, sampling_rate=2,
        batch_size=None, start_index=5, end_index=30)
    windows = list(ds)
    # starts 0,3,...; num = 25 - 3 * 2 = 19 -> 7 windows
    assert len(windows) == 7
    x, y = windows[1]
    np.testing.assert_array_equal(x[:, 0], [8, 10, 12, 14])
    assert y == 8


def test_shuffle_is_seeded_covers_every_window_and_reshuffles():
    data = np.arange(40)
    ds = keras.utils.timeseries_dataset_from_array(data, None, 5, batch_size=8, shuffle=True,
                                                   seed=3)
    first = np.concatenate(list(ds))[:, 0]
    second = np.concatenate(list(ds))[:, 0]
    assert sorted(first) == list(range(36)) and sorted(second) == list(range(36))
    assert list(first) != list(second)
    again = keras.utils.timeseries_dataset_from_array(data, None, 5, batch_size=8,
                                                      shuffle=True, seed=3)
    np.testing.assert_array_equal(np.concatenate(list(again))[:, 0], first)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="sequence_length"):
        keras.utils.timeseries_dataset_from_array(np.arange(9), None, 0)
    with pytest.raises(ValueError, match="end_index"):
        keras.utils.timeseries_dataset_from_array(np.arange(9), None, 2, start_index=5,
                                                  end_index=3)


def test_dlwp_temperature_forecasting_program():
    rng = np.random.default_rng(0)
    t = np.arange(3000)
    raw_data = np.stack([np.sin(t / 40) + 0.1 * rng.normal(size=t.size),
                         np.cos(t / 60), rng.normal(size=t.size)], axis=1).astype("float32")
    temperature = raw_data[:, 0]
    num_train_samples, num_val_samples = 2000, 500
    mean = raw_data[:num_train_samples].mean(axis=0)
    std = raw_data[:num_train_samples].std(axis=0)
    raw_data = (raw_data - mean) / std
    sampling_rate, sequence_length = 6, 20
    delay = sampling_rate * (sequence_length + 24 - 1)
    batch_size = 64
    train_dataset = keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], sampling_rate=sampling_rate,
        sequence_length=sequence_length, shuffle=True, batch_size=batch_size,
        start_index=0, end_index=num_train_samples)
    val_dataset = keras.utils.timeseries_dataset_from_array(
        raw_data[:-delay], targets=temperature[delay:], sampling_rate=sampling_rate,
        sequence_length=sequence_length, shuffle=True, batch_size=batch_size,
        start_index=num_train_samples, end_index=num_train_samples + num_val_samples)
    for samples, targets in train_dataset:
        assert samples.shape == (batch_size, sequence_length, 3) and targets.shape == (64,)
        break
    inputs = keras.Input(shape=(sequence_length, raw_data.shape[-1]))
    x = layers.GRU(8, recurrent_dropout=0.25)(inputs)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train_dataset, epochs=2, validation_data=val_dataset, verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert np.isfinite(model.evaluate(val_dataset, verbose=0)[1])
