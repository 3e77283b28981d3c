"""The kernels of the reshaping, normalization and transposed-convolution
layers against NumPy and (where installed) PyTorch, side by side: the
transposed convolution of a DCGAN generator, and of the convolution it
mirrors; layer normalization of transformer-sized rows; transposition;
bilinear upsampling."""
import numpy as np
import pytest

import pynn

try:
    import torch
except ImportError:
    torch = None

g = np.random.default_rng(0)


def torch_or_skip():
    if torch is None:
        pytest.skip("PyTorch is not installed")
    torch.set_num_threads(pynn.get_num_threads())
    return torch


# (batch, height, width, in channels, filters, kernel, stride): a DCGAN
# generator's upsampling layers, 'same' padding.
TRANSPOSE = [(64, 7, 7, 128, 64, 5, 2), (32, 16, 16, 64, 32, 4, 2), (16, 32, 32, 32, 3, 3, 1)]


@pytest.mark.parametrize("impl", ["pynn", "pynn_mirrored_conv2d", "torch"])
@pytest.mark.parametrize("shape", TRANSPOSE, ids=lambda s: "x".join(map(str, s)))
def test_conv2d_transpose(benchmark, impl, shape):
    n, h, w, c, f, k, s = shape
    x = g.standard_normal((n, h, w, c), dtype=np.float32)
    kernel = g.standard_normal((k, k, f, c), dtype=np.float32)
    benchmark.group = f"conv2d_transpose {n}x{h}x{w}x{c} -> {f}, {k}x{k} stride {s}"
    benchmark.extra_info["flops"] = 2 * n * h * w * c * k * k * f
    (oh, ow), _ = pynn.ops.conv_transpose_geometry(x.shape, (k, k), s, "same")
    if impl == "pynn":
        out = np.empty((n, oh, ow, f), np.float32)
        benchmark(pynn.ops.conv2d_transpose, x, kernel, None, s, "same", out=out)
    elif impl == "pynn_mirrored_conv2d":
        # the convolution whose input gradient the transposed one is
        z = g.standard_normal((n, oh, ow, f), dtype=np.float32)
        out = np.empty((n, h, w, c), np.float32)
        benchmark(pynn.ops.conv2d, z, kernel, None, s, "same", out=out)
    else:
        t = torch_or_skip()
        tx = t.from_numpy(x.transpose(0, 3, 1, 2).copy())
        tk = t.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
        pad = (k - 1) // 2
        benchmark(t.nn.functional.conv_transpose2d, tx, tk, None, s, pad, s - k + 2 * pad)


@pytest.mark.parametrize("impl", ["pynn", "numpy", "torch"])
@pytest.mark.parametrize("shape", [(4096, 768), (512, 64)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_layer_norm(benchmark, impl, shape):
    x = g.standard_normal(shape, dtype=np.float32)
    gamma, beta = np.ones(shape[1], np.float32), np.zeros(shape[1], np.float32)
    benchmark.group = f"layer_norm {shape[0]}x{shape[1]}"
    if impl == "pynn":
        out = np.empty_like(x)
        mean, inv = np.empty(shape[0], np.float32), np.empty(shape[0], np.float32)
        benchmark(pynn.ops.layer_norm, x, gamma, beta, 1e-3, out, mean, inv)
    elif impl == "numpy":
        def numpy_layer_norm():
            m = x.mean(-1, keepdims=True)
            return (x - m) / np.sqrt(x.var(-1, keepdims=True) + 1e-3) * gamma + beta
        benchmark(numpy_layer_norm)
    else:
        t = torch_or_skip()
        tx, tg, tb = t.from_numpy(x), t.from_numpy(gamma), t.from_numpy(beta)
        benchmark(t.nn.functional.layer_norm, tx, (shape[1],), tg, tb, 1e-3)


@pytest.mark.parametrize("impl", ["pynn", "numpy"])
@pytest.mark.parametrize("perm", [(0, 2, 1), (0, 3, 1, 2)], ids=["btf_to_bft", "nhwc_to_nchw"])
def test_transpose(benchmark, impl, perm):
    x = g.standard_normal((64, 128, 256) if len(perm) == 3 else (32, 56, 56, 64),
                          dtype=np.float32)
    benchmark.group = f"transpose {x.shape} by {perm}"
    if impl == "pynn":
        out = np.empty(tuple(x.shape[a] for a in perm), np.float32)
        benchmark(pynn.ops.transpose, x, perm, out)
    else:
        benchmark(lambda: np.ascontiguousarray(x.transpose(perm)))


@pytest.mark.parametrize("impl", ["pynn", "torch"])
def test_bilinear_upsampling(benchmark, impl):
    x = g.standard_normal((32, 28, 28, 64), dtype=np.float32)
    benchmark.group = "bilinear resize 32x28x28x64 to 56x56"
    if impl == "pynn":
        out = np.empty((32, 56, 56, 64), np.float32)
        benchmark(pynn.ops.resize, x, (56, 56), "bilinear", None, out)
    else:
        t = torch_or_skip()
        tx = t.from_numpy(x).permute(0, 3, 1, 2)  # NHWC memory, as pynn's
        benchmark(t.nn.functional.interpolate, tx, size=(56, 56), mode="bilinear",
                  align_corners=False)
