"""The time per training step of data-parallel pynn on N = 1 ... 256
machines, on paper: measured single-process compute time per step, the
gradient's size, and the cost of a ring allreduce.

    python benchmarks/scaling_model.py            # measures, prints the tables

Weak scaling: each machine keeps its per-step batch, so the compute time
per step stays what one machine measures, t_c.  Summing the gradients
(S bytes) over N machines with a ring allreduce costs

    t_ar(N) = 2 (N - 1) / N * S / B  +  2 (N - 1) * alpha

for a link of B bytes/s and a per-message latency alpha.  Gradients are
summed in buckets while backward runs, so at best the allreduce hides
behind the backward pass (about two thirds of t_c); the step takes between
t_c + t_ar (no overlap) and max(t_c, t_c / 3 + t_ar) (full overlap).  The
efficiency is t_c over the step time.
"""
import time

import numpy as np

import pynn
from pynn import layers

LINKS = {"10 Gbit/s": (10e9 / 8, 20e-6), "100 Gbit/s": (100e9 / 8, 5e-6)}
NODES = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def models():
    pynn.utils.set_random_seed(0)
    g = np.random.default_rng(0)
    mlp = pynn.Sequential([pynn.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                           layers.Dense(128, activation="relu"),
                           layers.Dense(10, activation="softmax")])
    cnn = pynn.Sequential([
        pynn.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(), layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    out = [("MLP 784-128-128-10, batch 64", mlp, "sgd",
            g.random((64 * 50, 784), dtype=np.float32), g.integers(0, 10, 64 * 50), 64),
           ("MNIST convnet, batch 128", cnn, "adam",
            g.random((128 * 20, 28, 28, 1), dtype=np.float32), g.integers(0, 10, 128 * 20), 128)]
    if hasattr(layers, "LSTM") and hasattr(layers, "Embedding"):
        lstm = pynn.Sequential([pynn.Input(shape=(500,), dtype="int32"),
                                layers.Embedding(10000, 32), layers.LSTM(32),
                                layers.Dense(1, activation="sigmoid")])
        out.append(("IMDB LSTM (Embedding 10000x32, LSTM 32), batch 128", lstm, "rmsprop",
                    g.integers(1, 10000, (128 * 4, 500)), g.integers(0, 2, 128 * 4), 128))
    return out


def measure(model, optimizer, x, y, batch):
    """Median seconds per step over three epochs, and the gradient's bytes."""
    loss = "binary_crossentropy" if y.max() <= 1 and model.output_shape[-1] == 1 else \
        "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, verbose=0)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        model.fit(x, y, batch_size=batch, verbose=0, shuffle=False)
        times.append((time.perf_counter() - t) / (len(x) // batch))
    return float(np.median(times)), 4 * sum(w.value.size for w in model.trainable_weights)


def allreduce_seconds(n, size, bandwidth, latency):
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * latency


def main():
    pynn.set_num_threads(1)
    print("One thread per machine (the per-step compute time below is one core's); "
          "efficiency = compute / step time, without / with overlap.\n")
    for name, model, opt, x, y, batch in models():
        t_c, size = measure(model, opt, x, y, batch)
        print(f"### {name}: t_c = {t_c * 1e3:.2f} ms per step, gradient "
              f"{size / 1e6:.2f} MB\n")
        print("| N | " + " | ".join(f"{link} step (ms) | efficiency" for link in LINKS) + " |")
        print("|---|" + "---|---|" * len(LINKS))
        for n in NODES:
            cells = []
            for bandwidth, latency in LINKS.values():
                t_ar = allreduce_seconds(n, size, bandwidth, latency)
                worst = t_c + t_ar
                best = max(t_c, t_c / 3 + t_ar)
                cells.append(f"{best * 1e3:.2f}-{worst * 1e3:.2f} | "
                             f"{t_c / worst:.2f}-{t_c / best:.2f}")
            print(f"| {n} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
