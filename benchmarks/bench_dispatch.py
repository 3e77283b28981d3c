"""The Python cost of a pynn.ops call on small arrays, where it shows:
every function first tests whether an operand is a traced array (see
pynn.autodiff), so these times are what a plain NumPy call pays for that
test plus argument checking.  Side by side with NumPy doing the same work,
and with the same op recorded on a tape (a custom layer's training call)."""
import numpy as np
import pytest

import pynn
from pynn.autodiff import Tape

g = np.random.default_rng(0)
A = g.random((8, 8), dtype=np.float32)
B = g.random((8, 8), dtype=np.float32)
OUT = np.empty((8, 8), np.float32)

CASES = {
    "add 8x8": (lambda x, y: pynn.ops.add(x, y, out=OUT), lambda x, y: np.add(x, y, out=OUT)),
    "relu 8x8": (lambda x, y: pynn.ops.relu(x, out=OUT),
                 lambda x, y: np.maximum(x, 0, out=OUT)),
    "matmul 8x8": (lambda x, y: pynn.ops.matmul(x, y, OUT),
                   lambda x, y: np.matmul(x, y, out=OUT)),
    "softmax 8x8": (lambda x, y: pynn.ops.softmax(x, out=OUT),
                    lambda x, y: np.divide(np.exp(x), np.exp(x).sum(-1, keepdims=True),
                                           out=OUT)),
    "sum 8x8": (lambda x, y: pynn.ops.sum(x, axis=1), lambda x, y: np.sum(x, axis=1)),
}


@pytest.mark.parametrize("impl", ["pynn", "numpy"])
@pytest.mark.parametrize("case", list(CASES))
def test_small_call(benchmark, case, impl):
    benchmark.group = f"small call: {case}"
    fn = CASES[case][0 if impl == "pynn" else 1]
    benchmark(fn, A, B)


@pytest.mark.parametrize("case", ["add 8x8", "matmul 8x8", "sum 8x8"])
def test_small_call_recorded_pynn(benchmark, case):
    """The same op on traced arrays: computed and recorded on a tape."""
    benchmark.group = f"recorded: {case}"
    fn = {"add 8x8": pynn.ops.add, "matmul 8x8": pynn.ops.matmul,
          "sum 8x8": lambda x, y: pynn.ops.sum(x, axis=1)}[case]

    def run():
        tape = Tape("the benchmark")
        return fn(tape.input(A), tape.input(B))
    benchmark(run)
