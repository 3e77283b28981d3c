"""The compiled inference plan against the step-by-step Python path of the
same program (outputs equal bit for bit), for the classic architectures at
their default sizes, batch 1: the two alternated in one process, median
times and the median of the per-round ratios.  Run as a script (pin it to
one core with ``taskset -c 1`` for one thread)::

    .venv/bin/python benchmarks/plan_speed.py [--rounds 9]
"""
import argparse
import time

import numpy as np

import pynn
from pynn import applications
from pynn.models.passes import inference_program

MODELS = [("MobileNetV3Small", 224), ("MobileNetV2", 224), ("EfficientNetB0", 224),
          ("ResNet50", 224), ("DenseNet121", 224), ("InceptionV3", 299)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    rounds = parser.parse_args().rounds
    for name, size in MODELS:
        pynn.utils.set_random_seed(0)
        model = getattr(applications, name)(weights=None, input_shape=(size, size, 3))
        prog = inference_program(model)
        x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
        state = prog.new_state(None)
        planned = prog.run_planned([x])
        if planned is None or not np.array_equal(np.asarray(prog.run([x], state)[0]),
                                                 planned[0]):
            raise SystemExit(f"{name}: no plan, or a plan that differs from the Python path")
        python, plan = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            prog.run([x], state)
            python.append(time.perf_counter() - t)
            t = time.perf_counter()
            prog.run_planned([x])
            plan.append(time.perf_counter() - t)
        print(f"{name:18s} python {1e3 * np.median(python):7.1f} ms  plan "
              f"{1e3 * np.median(plan):7.1f} ms  ratio "
              f"{np.median(np.array(plan) / np.array(python)):.3f}", flush=True)


if __name__ == "__main__":
    main()
