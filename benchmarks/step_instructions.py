"""Instructions per training step of a tiny model (8-4-3 MLP, batch 64,
SGD, accuracy metric), where the Python work around the kernels is most of
the cost: a number that stays put on a busy machine, to compare the
training loop's overhead between commits and between Sequential and
functional models.

    python benchmarks/step_instructions.py [sequential|functional|tape]

(tape: the Sequential model trained by a custom loop, GradientTape and
apply_gradients, as TensorFlow's guides write it)

runs the model under valgrind's callgrind twice (100 and 400 steps, one
thread) and prints the difference over 300: the instructions of one step,
start-up excluded.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


def train(kind, steps):
    import pynn
    from pynn import layers
    g = np.random.default_rng(0)
    x = g.random((64 * steps, 8), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[g.integers(0, 3, 64 * steps)]
    pynn.utils.set_random_seed(1)
    if kind in ("sequential", "tape"):
        model = pynn.Sequential([pynn.Input(shape=(8,)), layers.Dense(4, activation="relu"),
                                 layers.Dense(3, activation="softmax")])
    else:
        inp = pynn.Input(shape=(8,))
        hidden = layers.Dense(4, activation="relu")(inp)
        model = pynn.Model(inp, layers.Dense(3, activation="softmax")(hidden))
    if kind == "tape":
        optimizer = pynn.optimizers.SGD()
        loss_fn = pynn.losses.CategoricalCrossentropy()
        for i in range(steps):
            with pynn.GradientTape() as tape:
                loss = loss_fn(y[64 * i:64 * i + 64], model(x[64 * i:64 * i + 64], training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)


def instructions(kind, steps):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        sys.executable, __file__, "--run", kind, str(steps)],
                       env=dict(os.environ, OMP_NUM_THREADS="1"), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as f:
            return int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        train(sys.argv[2], int(sys.argv[3]))
    else:
        kind = sys.argv[1] if len(sys.argv) > 1 else "sequential"
        per_step = (instructions(kind, 400) - instructions(kind, 100)) / 300
        print(f"{kind}: {per_step:,.0f} instructions per training step")
