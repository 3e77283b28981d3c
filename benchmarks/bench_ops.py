"""pynn.ops kernels against NumPy (and PyTorch where installed), side by
side: matmul on squares and on the shapes of dense training, activations."""
import numpy as np
import pytest

import pynn

try:
    import torch
except ImportError:
    torch = None

g = np.random.default_rng(0)

# (m, k, n, trans_a, trans_b): squares, then a dense layer's forward and its
# two gradient products (x.T @ dy and dy @ W.T) as a training step runs them.
SHAPES = [(s, s, s, False, False) for s in (16, 32, 64, 96, 128, 256, 512, 1024, 2048)] + [
    (16, 256, 256, False, False), (32, 128, 128, False, False), (8, 1024, 1024, False, False),
    (64, 784, 128, False, False), (784, 64, 128, True, False), (64, 128, 784, False, True),
    (128, 784, 512, False, False), (784, 128, 512, True, False), (128, 512, 784, False, True),
    (128, 512, 512, False, False), (1, 784, 128, False, False),
]


def operands(m, k, n, ta, tb):
    a = g.random((k, m), dtype=np.float32).T if ta else g.random((m, k), dtype=np.float32)
    b = g.random((n, k), dtype=np.float32).T if tb else g.random((k, n), dtype=np.float32)
    return a, b


def label(m, k, n, ta, tb):
    return f"matmul {m}x{k}{'(T)' if ta else ''} @ {k}x{n}{'(T)' if tb else ''}"


@pytest.mark.parametrize("impl", ["pynn", "numpy", "torch"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:3])) +
                         ("_ta" if s[3] else "") + ("_tb" if s[4] else ""))
def test_matmul(benchmark, impl, shape):
    m, k, n, ta, tb = shape
    a, b = operands(*shape)
    benchmark.group = label(*shape)
    benchmark.extra_info["flops"] = 2 * m * n * k
    if impl == "pynn":
        out = np.empty((m, n), np.float32)
        benchmark(pynn.ops.matmul, a, b, out)
    elif impl == "numpy":
        out = np.empty((m, n), np.float32)
        benchmark(np.matmul, a, b, out=out)
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        torch.set_num_threads(pynn.get_num_threads())
        ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
        benchmark(torch.mm, ta_, tb_)


NUMPY_ACT = {
    "relu": lambda x, b, out: np.maximum(np.add(x, b, out=out), 0, out=out),
    "sigmoid": lambda x, b, out: np.divide(1, 1 + np.exp(-(x + b)), out=out),
    "tanh": lambda x, b, out: np.tanh(x + b, out=out),
    "softmax": lambda x, b, out: np.divide(
        np.exp(x + b - (x + b).max(1, keepdims=True)),
        np.exp(x + b - (x + b).max(1, keepdims=True)).sum(1, keepdims=True), out=out),
}


@pytest.mark.parametrize("impl", ["pynn", "numpy"])
@pytest.mark.parametrize("name", sorted(NUMPY_ACT))
@pytest.mark.parametrize("shape", [(128, 512), (1024, 1024)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_activation_with_bias(benchmark, impl, name, shape):
    x = g.standard_normal(shape, dtype=np.float32)
    b = g.standard_normal(shape[1], dtype=np.float32)
    out = np.empty_like(x)
    benchmark.group = f"{name}(x + b) {shape[0]}x{shape[1]}"
    if impl == "pynn":
        benchmark(pynn.ops.activation, x, name, b, None, out)
    else:
        benchmark(NUMPY_ACT[name], x, b, out)
