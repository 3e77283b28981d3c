"""pynn's CUDA kernels against PyTorch's CUDA build on the same GPU, side by
side in one run: SGEMM 4096 x 4096 float32 (against cuBLAS through
torch.matmul, TF32 off on both sides; and with TF32 on both), one training
epoch of the MNIST convnet (60,000 samples, batch 128, Adam) and of the
MLPs of bench_training.py, and one-image predict.  The report prints
achieved TFLOP/s against the GPU's float32 peak (PYNN_GPU_PEAK_TFLOPS, else
67 for an H100 SXM, 51 for an H100 PCIe).

Skipped without a GPU; PyTorch's side is skipped without its CUDA build.
"""
import os

import numpy as np
import pytest

import pynn
from pynn import cuda, ops

from bench_cnn import _data as cnn_data, _flops as cnn_flops, pynn_cnn, torch_cnn
from bench_training import CASES, _data as mlp_data, _mlp_flops, pynn_model, torch_model

if not cuda.is_available():
    pytest.skip(f"no CUDA device ({cuda.unavailable_reason()})", allow_module_level=True)

try:
    import torch
    TORCH_CUDA = torch.cuda.is_available()
except ImportError:
    torch, TORCH_CUDA = None, False

needs_torch = pytest.mark.skipif(not TORCH_CUDA, reason="PyTorch with CUDA is not installed")


def peak_gflops():
    """The GPU's float32 (non-tensor-core) peak, GFLOP/s."""
    if os.environ.get("PYNN_GPU_PEAK_TFLOPS"):
        return float(os.environ["PYNN_GPU_PEAK_TFLOPS"]) * 1e3
    name = cuda.device_name(0)
    if "H100" in name or "H200" in name:
        return 51e3 if "PCIe" in name else 67e3
    return None


def gpu_info(benchmark, group, flops=None):
    benchmark.group = group
    if flops:
        benchmark.extra_info["flops"] = flops
    benchmark.extra_info["peak_gflops"] = peak_gflops()
    benchmark.extra_info["device"] = cuda.device_name(0)


# ------------------------------------------------------------------- SGEMM

SGEMM = 4096


@pytest.mark.parametrize("tf32", [False, True], ids=["fp32", "tf32"])
def test_sgemm_pynn(benchmark, tf32):
    g = np.random.default_rng(0)
    a = cuda.to_device(g.standard_normal((SGEMM, SGEMM), dtype=np.float32))
    b = cuda.to_device(g.standard_normal((SGEMM, SGEMM), dtype=np.float32))
    c = cuda.empty((SGEMM, SGEMM))

    def run():
        ops.matmul(a, b, out=c)
        cuda.synchronize()

    cuda.matmul.allow_tf32 = tf32
    try:
        run()
        gpu_info(benchmark, f"sgemm {SGEMM} {'tf32' if tf32 else 'fp32'} (gpu)",
                 2 * SGEMM ** 3)
        benchmark.pedantic(run, rounds=20, warmup_rounds=3)
    finally:
        cuda.matmul.allow_tf32 = False


@needs_torch
@pytest.mark.parametrize("tf32", [False, True], ids=["fp32", "tf32"])
def test_sgemm_torch(benchmark, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a = torch.randn(SGEMM, SGEMM, device="cuda")
    b = torch.randn(SGEMM, SGEMM, device="cuda")
    c = torch.empty(SGEMM, SGEMM, device="cuda")

    def run():
        torch.matmul(a, b, out=c)
        torch.cuda.synchronize()

    try:
        run()
        gpu_info(benchmark, f"sgemm {SGEMM} {'tf32' if tf32 else 'fp32'} (gpu)",
                 2 * SGEMM ** 3)
        benchmark.pedantic(run, rounds=20, warmup_rounds=3)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False


# ------------------------------------------------------------------ epochs

def torch_gpu_epoch(model, optimizer, x, y, batch):
    """PyTorch's idiomatic loop with the data set already on the GPU (the
    faster of its usual set-ups): shuffle, slice, forward, loss, backward,
    step, and the running accuracy a progress bar shows."""
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    perm = torch.randperm(x.shape[0], device=x.device)
    correct = 0
    for s in range(0, x.shape[0], batch):
        idx = perm[s:s + batch]
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        optimizer.step()
        correct += (out.argmax(1) == yb).sum().item()
    torch.cuda.synchronize()
    return correct


MNIST = 60000


def test_cnn_epoch_pynn(benchmark):
    x, y = cnn_data(MNIST)
    with pynn.device("gpu:0"):
        model = pynn_cnn()
        model.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)
        gpu_info(benchmark, "epoch mnist cnn adam 60000 (gpu)", cnn_flops(MNIST))
        benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=128, epochs=1,
                                                               verbose=0),
                           rounds=3, warmup_rounds=1)


@needs_torch
def test_cnn_epoch_torch(benchmark):
    x, y = cnn_data(MNIST)
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).cuda()
    y = torch.from_numpy(y).cuda()
    model, _ = torch_cnn()
    model = model.cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    gpu_info(benchmark, "epoch mnist cnn adam 60000 (gpu)", cnn_flops(MNIST))
    benchmark.pedantic(torch_gpu_epoch, args=(model, optimizer, x, y, 128), rounds=3,
                       warmup_rounds=1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_mlp_epoch_pynn(benchmark, case):
    c = CASES[case]
    x, y = mlp_data(c["n"], c["sizes"][0])
    with pynn.device("gpu:0"):
        model = pynn_model(c["sizes"], c["dropout"], c["opt"])
        model.fit(x[:c["batch"] * 4], y[:c["batch"] * 4], batch_size=c["batch"], epochs=1,
                  verbose=0)
        gpu_info(benchmark, f"epoch {case} (gpu)", _mlp_flops(c["n"], c["sizes"]))
        benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=c["batch"], epochs=1,
                                                               verbose=0),
                           rounds=3, warmup_rounds=1)


@needs_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_mlp_epoch_torch(benchmark, case):
    c = CASES[case]
    x, y = mlp_data(c["n"], c["sizes"][0])
    x, y = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    model, _ = torch_model(c["sizes"], c["dropout"], c["opt"])
    model = model.cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01) if c["opt"] == "sgd" else \
        torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    gpu_info(benchmark, f"epoch {case} (gpu)", _mlp_flops(c["n"], c["sizes"]))
    benchmark.pedantic(torch_gpu_epoch, args=(model, optimizer, x, y, c["batch"]), rounds=3,
                       warmup_rounds=1)


# ----------------------------------------------------------------- predict

def test_cnn_predict_one_pynn(benchmark):
    x = cnn_data(1)[0]
    with pynn.device("gpu:0"):
        model = pynn_cnn()
        model.predict(x, verbose=0)
        gpu_info(benchmark, "predict one image mnist cnn (gpu)")
        benchmark(model.predict, x, verbose=0)


@needs_torch
def test_cnn_predict_one_torch(benchmark):
    model, _ = torch_cnn()
    model = model.cuda().eval()
    x = torch.from_numpy(cnn_data(1)[0].transpose(0, 3, 1, 2).copy())

    def torch_predict(x):
        with torch.no_grad():
            return torch.softmax(model(x.cuda()), dim=1).cpu().numpy()

    torch_predict(x)
    gpu_info(benchmark, "predict one image mnist cnn (gpu)")
    benchmark(torch_predict, x)
