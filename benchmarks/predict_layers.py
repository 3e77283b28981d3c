"""Where a small model's predict spends its time: for bench_predict.py's
models, ``predict_on_batch`` of the models made of their first k layers
(k = 1 ... all), timed in turn round by round, medians in microseconds; the
difference between neighbours is a layer's share.

    python benchmarks/predict_layers.py [--rounds 200] [--model convnet]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pynn  # noqa: E402
from bench_predict import MODELS  # noqa: E402


def table(name, rounds):
    build, shape = MODELS[name]
    model = build()
    prefixes = [pynn.Sequential([pynn.Input(shape)] + model.layers[:k])
                for k in range(1, len(model.layers) + 1)]
    for batch in (1, 32):
        x = np.random.default_rng(0).random((batch,) + shape, dtype=np.float32)
        times = [[] for _ in prefixes]
        for _ in range(rounds if batch == 1 else max(rounds // 5, 5)):
            for k, sub in enumerate(prefixes):
                t = time.perf_counter()
                sub.predict_on_batch(x)
                times[k].append(time.perf_counter() - t)
        cells = [f"+{layer.name} {np.median(t) * 1e6:.1f}"
                 for layer, t in zip(model.layers, times)]
        print(f"{name} b{batch} threads {pynn.get_num_threads()}: " + " | ".join(cells),
              flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--model", choices=sorted(MODELS), default=None)
    args = parser.parse_args()
    for name in [args.model] if args.model else sorted(MODELS):
        table(name, args.rounds)
