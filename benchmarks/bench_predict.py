"""Inference latency of small models: ``predict``, ``predict_on_batch``
and ``model(x)`` for one sample and for a batch of 32, side by side with
the LiteRT interpreter running the .tflite that ``pynn.lite`` writes for
the same model (with as many threads as pynn uses), as an on-device
runtime would serve it.  Models: an MLP 784-128-128-10 and the Keras
MNIST convnet.

Run as a script for a table of medians::

    .venv/bin/python benchmarks/bench_predict.py [--rounds 100] [--block 20]

Each round runs every callable for a block of calls in a row, as a
server answering requests would (the first three of a block are not
counted), and the callables take turns round by round, so that a busy
machine slows all of them alike.  Calls of different libraries must not
alternate one by one: each library's worker threads keep spinning a while
after its call and take the cores from the other's next call (measured
that way, LiteRT's one-image convnet took 71 us instead of 35).
"""
import argparse
import time

import numpy as np
import pytest

import pynn
from pynn import layers


def mlp():
    return pynn.Sequential([pynn.Input((784,)), layers.Dense(128, activation="relu"),
                            layers.Dense(128, activation="relu"),
                            layers.Dense(10, activation="softmax")])


def convnet():
    return pynn.Sequential([
        pynn.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])


MODELS = {"mlp": (mlp, (784,)), "convnet": (convnet, (28, 28, 1))}


def _interpreter(model):
    """A LiteRT interpreter for the model's .tflite, or None where
    ai-edge-litert is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    flat = pynn.lite.TFLiteConverter.from_keras_model(model).convert()
    interp = Interpreter(model_content=flat, num_threads=pynn.get_num_threads())
    return interp


def _litert_runner(interp, batch):
    inp = interp.get_input_details()[0]
    if tuple(inp["shape"][:1]) != (batch,):
        interp.resize_tensor_input(inp["index"], [batch] + list(inp["shape"][1:]))
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    i_out = interp.get_output_details()[0]["index"]

    def run(x):
        interp.set_tensor(i_in, x)
        interp.invoke()
        return interp.get_tensor(i_out)
    return run


def runners(name, batch):
    """{label: (callable taking x, x)} for one model and batch size."""
    build, shape = MODELS[name]
    pynn.utils.set_random_seed(0)
    model = build()
    x = np.random.default_rng(0).random((batch,) + shape, dtype=np.float32)
    out = {
        "predict": lambda a: model.predict(a, verbose=0),
        "predict_on_batch": model.predict_on_batch,
        "model(x)": model,
    }
    interp = _interpreter(model)
    if interp is not None:
        out["litert"] = _litert_runner(interp, batch)
    ref = model.predict(x, verbose=0)
    for label, fn in out.items():
        np.testing.assert_allclose(np.asarray(fn(x)), ref, rtol=1e-4, atol=1e-5,
                                   err_msg=label)
    return out, x


@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("impl", ["predict", "predict_on_batch", "model(x)", "litert"])
@pytest.mark.parametrize("name", list(MODELS))
def test_predict(benchmark, name, impl, batch):
    benchmark.group = f"predict {name} batch {batch}"
    fns, x = runners(name, batch)
    if impl not in fns:
        pytest.skip("ai-edge-litert is not installed")
    benchmark(fns[impl], x)


def table(rounds, block):
    """Medians in microseconds of every callable's calls, in blocks."""
    print(f"threads {pynn.get_num_threads()}, {rounds} rounds of {block} calls, "
          f"median us (ratio to litert)")
    for name in MODELS:
        for batch in (1, 32):
            fns, x = runners(name, batch)
            times = {k: [] for k in fns}
            order = list(fns.items())
            for r in range(rounds):
                for k, fn in order[r % len(order):] + order[:r % len(order)]:
                    for i in range(block):
                        t = time.perf_counter()
                        fn(x)
                        if i >= 3:
                            times[k].append(time.perf_counter() - t)
            med = {k: np.median(v) * 1e6 for k, v in times.items()}
            base = med.get("litert")
            cells = [f"{k} {v:8.1f}" + (f" ({v / base:4.2f}x)" if base else "")
                     for k, v in med.items()]
            print(f"{name:8s} b{batch:<3d} " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--block", type=int, default=20)
    args = parser.parse_args()
    table(args.rounds, args.block)
