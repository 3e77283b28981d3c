"""``ops.matmul`` against NumPy's BLAS at every size of ``bench_ops.py``,
each library alone in its own process (two libraries' thread pools in one
process spin against each other when cores are few), processes alternated
round by round so both meet the same machine.  Prints, per shape, the
median over rounds of each process's best time and the ratio pynn / NumPy
(below 1: pynn is faster).

    python benchmarks/matmul_sizes.py [--rounds 3] [--shapes 16,64,256x784x128]

Hold every library to AVX2 on an AVX-512 machine with
``PYNN_CPU=avx2 OPENBLAS_CORETYPE=Haswell``; pin cores with ``taskset``.
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
from bench_ops import SHAPES, operands
impl = sys.argv[1]
wanted = sys.argv[2].split(",") if sys.argv[2] else None
if impl == "pynn":
    import pynn
    fn = lambda a, b, out: pynn.ops.matmul(a, b, out)
else:
    fn = lambda a, b, out: np.matmul(a, b, out=out)
for shape in SHAPES:
    m, k, n = shape[:3]
    key = "x".join(map(str, shape[:3])) + ("T" if shape[3] else "") + ("t" if shape[4] else "")
    if wanted and key not in wanted and str(m) not in wanted:
        continue
    a, b = operands(*shape)
    out = np.empty((m, n), np.float32)
    # as many calls per timing as make it last about 20 ms
    fn(a, b, out)
    reps = max(1, int(2e-2 / max(2 * m * n * k / 5e10, 1e-7)))
    best = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps):
            fn(a, b, out)
        best = min(best, (time.perf_counter() - t) / reps)
    print("TIME", key, best, flush=True)
"""


def run(impl, shapes):
    out = subprocess.run([sys.executable, "-c", CHILD.format(here=HERE), impl, shapes],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return {line.split()[1]: float(line.split()[2])
            for line in out.stdout.splitlines() if line.startswith("TIME")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shapes", default="",
                        help="comma-separated: a square's side or MxKxN (T/t: A/B transposed)")
    args = parser.parse_args()
    times = {"pynn": [], "numpy": []}
    for _ in range(args.rounds):
        for impl in times:
            times[impl].append(run(impl, args.shapes))
    print(f"{'shape':>16} {'pynn us':>10} {'numpy us':>10} {'pynn/numpy':>11}"
          f"   (PYNN_CPU={os.environ.get('PYNN_CPU', 'auto')})")
    for key in times["pynn"][0]:
        p = statistics.median(r[key] for r in times["pynn"])
        q = statistics.median(r[key] for r in times["numpy"])
        print(f"{key:>16} {p * 1e6:10.1f} {q * 1e6:10.1f} {p / q:11.2f}")


if __name__ == "__main__":
    main()
