"""How much a busy neighbour slows training: one epoch of the MNIST convnet
(1,024 samples, batch 128, Adam, all cores) on a quiet machine and with
another process spinning on one core, pynn and PyTorch (where it imports)
alternated round by round, so both meet the same machine.  Prints each
implementation's median epoch in both situations and the slowdown factor
(busy / quiet).

    python benchmarks/busy_machine.py [--rounds 5] [--torch-python PATH]

``--torch-python`` names an interpreter where torch imports (make bench's
environment imports both; the PyTorch epoch runs in a child process of
that interpreter either way, so the two never share a thread pool).
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import sys, time
sys.path.insert(0, {here!r})
import numpy as np
import bench_cnn as b
impl, rounds = sys.argv[1], int(sys.argv[2])
x, y = b._data(1024)
if impl == "pynn":
    model = b.pynn_cnn()
    def epoch():
        model.fit(x, y, batch_size=b.BATCH, epochs=1, verbose=0)
else:
    import torch, pynn
    torch.set_num_threads(pynn.get_num_threads())
    tx, ty = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    model, opt = b.torch_cnn()
    def epoch():
        b.torch_epoch(model, opt, tx, ty, b.BATCH)
epoch()
times = []
for _ in range(rounds):
    t = time.perf_counter()
    epoch()
    times.append(time.perf_counter() - t)
print("SECONDS", min(times))
"""


def epoch_seconds(python, impl, busy, repeats=3):
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run([python, "-c", CHILD.format(here=HERE), impl, str(repeats)],
                             capture_output=True, text=True, timeout=900)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(next(l for l in out.stdout.splitlines()
                      if l.startswith("SECONDS")).split()[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--torch-python", default=sys.executable)
    args = parser.parse_args()
    have_torch = subprocess.run([args.torch_python, "-c", "import torch, pynn"],
                                capture_output=True).returncode == 0
    impls = [("pynn", sys.executable)] + ([("torch", args.torch_python)] if have_torch else [])
    times = {(i, b): [] for i, _ in impls for b in (False, True)}
    for r in range(args.rounds):
        for impl, python in impls:
            for busy in (False, True):
                times[impl, busy].append(epoch_seconds(python, impl, busy))
        print(f"round {r}: " + ", ".join(
            f"{i} {'busy' if b else 'quiet'} {v[-1] * 1e3:.0f} ms"
            for (i, b), v in times.items()), flush=True)
    print(f"{'':8s} {'quiet ms':>9s} {'busy ms':>9s} {'slowdown':>9s}")
    for impl, _ in impls:
        q = statistics.median(times[impl, False])
        b = statistics.median(times[impl, True])
        ratios = [bt / qt for qt, bt in zip(times[impl, False], times[impl, True])]
        print(f"{impl:8s} {q * 1e3:9.0f} {b * 1e3:9.0f} {statistics.median(ratios):8.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
