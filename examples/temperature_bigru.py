"""Forecasting the temperature 24 hours ahead from the last five days of
weather, with a bidirectional GRU, as in the time-series chapter of "Deep
Learning with Python" (the Jena climate recordings: 14 quantities every
10 minutes, read hourly).  The model is compared with the common-sense
baseline that tomorrow's temperature is today's.

On the real recordings when jena_climate_2009_2016.csv is in the cache
folder ($PYNN_HOME/datasets, default ~/.pynn/datasets); otherwise on a
clearly labelled synthetic stand-in: 14 series driven by daily and yearly
cycles and slowly varying weather, hourly, the pressure announcing the
weather a day ahead.
"""
import os

import numpy as np

import pynn as keras
from pynn import layers
from pynn.datasets._files import cache_dir

lookback, delay = 120, 24  # hours: five days of history, one day ahead


def jena_hourly(path):
    """The Jena recordings (every 10 minutes) read hourly: (hours, 14)."""
    rows = []
    with open(path) as f:
        next(f)
        for i, line in enumerate(f):
            if i % 6 == 0:
                rows.append([float(v) for v in line.rstrip().split(",")[1:]])
    return np.asarray(rows, np.float32)


def synthetic_weather(hours, seed=0):
    """Hourly (hours, 14) series; column 1 is the temperature (as in Jena's).
    Temperature = yearly cycle + daily cycle + weather (a slow AR(1)
    process); column 0, the pressure, sees the weather a day before it
    arrives (as a front announces itself); the other 12 quantities mix
    these with noise."""
    g = np.random.default_rng(seed)
    t = np.arange(hours)
    weather = np.zeros(hours + 24)
    shocks = g.normal(0, 0.35, hours + 24)
    for i in range(1, hours + 24):
        weather[i] = 0.985 * weather[i - 1] + shocks[i]
    yearly = -9 * np.cos(2 * np.pi * t / (24 * 365.25))
    daily = -4 * np.cos(2 * np.pi * (t % 24) / 24)
    now, ahead = weather[:hours], weather[24:]
    temperature = 9 + yearly + daily + now
    latent = np.stack([yearly, daily, now, temperature], 1)
    data = latent @ g.normal(0, 1, (4, 14)) + g.normal(0, 1.0, (hours, 14))
    data[:, 0] = 990 - 2 * ahead + g.normal(0, 0.5, hours)
    data[:, 1] = temperature
    return data.astype(np.float32)


path = os.path.join(cache_dir(), "jena_climate_2009_2016.csv")
if os.path.exists(path):
    float_data = jena_hourly(path)
    train_hours, epochs = 200000 // 6, 10
else:
    print(f"The Jena climate recordings are not in {path}; training on a SYNTHETIC "
          f"STAND-IN for them (14 hourly series with daily and yearly cycles and slow "
          f"weather).")
    float_data = synthetic_weather(24 * 365)
    train_hours, epochs = 24 * 250, 6

mean = float_data[:train_hours].mean(axis=0)
std = float_data[:train_hours].std(axis=0)
data = (float_data - mean) / std


def windows(start, stop, stride):
    """(samples, lookback, 14) windows ending at hours in [start, stop) and
    the normalized temperature `delay` hours after each."""
    ends = np.arange(max(start, lookback), stop - delay, stride)
    x = np.stack([data[e - lookback:e] for e in ends])
    return x, data[ends - 1 + delay, 1]


x_train, y_train = windows(0, train_hours, 2)
x_val, y_val = windows(train_hours, train_hours + (len(data) - train_hours) // 2, 3)
x_test, y_test = windows(train_hours + (len(data) - train_hours) // 2, len(data), 3)

keras.utils.set_random_seed(1)
model = keras.Sequential([
    keras.Input(shape=(lookback, data.shape[-1])),
    layers.Bidirectional(layers.GRU(32)),
    layers.Dense(1),
])
model.summary()
model.compile(optimizer="rmsprop", loss="mae")
model.fit(x_train, y_train, epochs=epochs, batch_size=128, validation_data=(x_val, y_val),
          verbose=2)

scale = std[1]  # normalized errors back to degrees Celsius
baseline = float(np.mean(np.abs(x_test[:, -1, 1] - y_test))) * scale
mae = float(model.evaluate(x_test, y_test, verbose=0)) * scale
print(f"Baseline MAE (tomorrow as today): {baseline:.2f} degrees")
print(f"Test MAE: {mae:.2f} degrees")
