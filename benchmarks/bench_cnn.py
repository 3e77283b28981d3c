"""The Keras MNIST convnet (Conv2D 32 3x3 ReLU, MaxPooling 2x2, Conv2D 64
3x3 ReLU, MaxPooling 2x2, Flatten, Dropout 0.5, Dense 10 softmax): one
training epoch of 10,240 random 28x28x1 samples at batch 128 with Adam, and
predict on one image; pynn against PyTorch (where installed), side by side,
plus the convolution kernels against PyTorch's."""
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import layers, ops

from bench_training import torch_epoch  # the same idiomatic PyTorch loop

try:
    import torch
except ImportError:  # PyTorch is never a dependency; compare when present
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

N, BATCH = 10240, 128


def _data(n, seed=0):
    g = np.random.default_rng(seed)
    return g.random((n, 28, 28, 1), dtype=np.float32), g.integers(0, 10, n)


def _flops(n):
    """Multiply-adds x 2 of the forward pass, the weight gradients and the
    input gradients (none for the first convolution)."""
    conv1 = 26 * 26 * 9 * 32
    conv2 = 11 * 11 * 288 * 64
    dense = 1600 * 10
    return 2 * n * (3 * (conv1 + conv2 + dense) - conv1)


def pynn_cnn(functional=False):
    """The tutorial's convnet as a Sequential, or the same graph built with
    the functional API."""
    pynn.utils.set_random_seed(0)
    stack = [layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
             layers.MaxPooling2D(pool_size=(2, 2)),
             layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
             layers.MaxPooling2D(pool_size=(2, 2)),
             layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")]
    if functional:
        inp = x = pynn.Input(shape=(28, 28, 1))
        for layer in stack:
            x = layer(x)
        model = pynn.Model(inp, x)
    else:
        model = pynn.Sequential([pynn.Input(shape=(28, 28, 1))] + stack)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    return model


def torch_cnn():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(1600, 10))
    return model, torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)


@pytest.mark.parametrize("functional", [False, True], ids=["pynn", "functional"])
def test_cnn_epoch(benchmark, functional):
    x, y = _data(N)
    model = pynn_cnn(functional)
    model.fit(x[:BATCH * 2], y[:BATCH * 2], batch_size=BATCH, epochs=1, verbose=0)
    benchmark.group = "epoch cnn_adam"
    benchmark.extra_info["flops"] = _flops(N)
    benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=BATCH, epochs=1,
                                                           verbose=0),
                       rounds=5, warmup_rounds=1)


class _Batches(pynn.utils.PyDataset):
    """The same epoch as a PyDataset whose batches are prepared in Python
    (sliced, copied, the labels one-hot encoded), as a generator of
    augmented images would: fit prefetches the next batch in a background
    thread while the kernels train on this one."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return -(-len(self.x) // BATCH)

    def __getitem__(self, i):
        sl = slice(i * BATCH, (i + 1) * BATCH)
        return np.array(self.x[sl]), self.y[sl].copy()


def test_cnn_epoch_from_a_generator(benchmark):
    x, y = _data(N)
    model = pynn_cnn()
    data = _Batches(x, y)
    model.fit(_Batches(x[:BATCH * 2], y[:BATCH * 2]), epochs=1, verbose=0)
    benchmark.group = "epoch cnn_adam"
    benchmark.extra_info["flops"] = _flops(N)
    benchmark.pedantic(model.fit, args=(data,), kwargs=dict(epochs=1, verbose=0, shuffle=False),
                       rounds=5, warmup_rounds=1)


@pytest.fixture(params=["quiet", "one core taken"])
def machine(request):
    """As found, or with another process spinning on one core for the
    length of the test (the case where OpenMP threads that spin at a barrier
    made an epoch 16 times slower)."""
    if request.param == "quiet":
        yield request.param
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield request.param
    finally:
        hog.kill()
        hog.wait()


def test_cnn_epoch_busy_machine(benchmark, machine):
    x, y = _data(1024)
    model = pynn_cnn()
    model.fit(x[:BATCH * 2], y[:BATCH * 2], batch_size=BATCH, epochs=1, verbose=0)
    benchmark.group = "epoch cnn_adam, 1,024 samples: quiet and busy machine"
    benchmark.extra_info["flops"] = _flops(1024)
    benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=BATCH, epochs=1,
                                                           verbose=0),
                       rounds=5, warmup_rounds=1)


@needs_torch
def test_cnn_epoch_busy_machine_torch(benchmark, machine):
    torch.set_num_threads(pynn.get_num_threads())
    x, y = _data(1024)
    x, y = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    model, optimizer = torch_cnn()
    torch_epoch(model, optimizer, x[:BATCH * 2], y[:BATCH * 2], BATCH)
    benchmark.group = "epoch cnn_adam, 1,024 samples: quiet and busy machine"
    benchmark.extra_info["flops"] = _flops(1024)
    benchmark.pedantic(torch_epoch, args=(model, optimizer, x, y, BATCH), rounds=5,
                       warmup_rounds=1)


@needs_torch
def test_cnn_epoch_torch(benchmark):
    torch.set_num_threads(pynn.get_num_threads())
    x, y = _data(N)
    # PyTorch's layout is NCHW.
    x, y = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    model, optimizer = torch_cnn()
    benchmark.group = "epoch cnn_adam"
    benchmark.extra_info["flops"] = _flops(N)
    benchmark.pedantic(torch_epoch, args=(model, optimizer, x, y, BATCH), rounds=5,
                       warmup_rounds=1)


def test_cnn_predict_one_pynn(benchmark):
    model = pynn_cnn()
    x = _data(1)[0]
    model.predict(x, verbose=0)
    benchmark.group = "predict one image (mnist cnn)"
    benchmark(model.predict, x, verbose=0)


@needs_torch
def test_cnn_predict_one_torch(benchmark):
    torch.set_num_threads(pynn.get_num_threads())
    model, _ = torch_cnn()
    model.eval()
    x = torch.from_numpy(_data(1)[0].transpose(0, 3, 1, 2).copy())

    def torch_predict(x):
        with torch.no_grad():
            return torch.softmax(model(x), dim=1).numpy()

    benchmark.group = "predict one image (mnist cnn)"
    benchmark(torch_predict, x)


CONVS = {  # the tutorial's second convolution at batch 128, and a wider one
    "conv 128x13x13x32 k3 -> 64": ((128, 13, 13, 32), (3, 3, 32, 64), 1, "valid"),
    "conv 32x32x32x64 k3 same -> 64": ((32, 32, 32, 64), (3, 3, 64, 64), 1, "same"),
}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv2d_pynn(benchmark, name):
    xs, ks, stride, padding = CONVS[name]
    g = np.random.default_rng(0)
    x, k = g.random(xs, dtype=np.float32), g.random(ks, dtype=np.float32)
    y = ops.conv2d(x, k, strides=stride, padding=padding)
    benchmark.group = name
    benchmark.extra_info["flops"] = 2 * y.size * ks[0] * ks[1] * ks[2]
    benchmark(ops.conv2d, x, k, None, stride, padding, out=y)


@needs_torch
@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv2d_torch(benchmark, name):
    torch.set_num_threads(pynn.get_num_threads())
    xs, ks, stride, padding = CONVS[name]
    g = np.random.default_rng(0)
    x = torch.from_numpy(g.random(xs, dtype=np.float32).transpose(0, 3, 1, 2).copy())
    k = torch.from_numpy(g.random(ks, dtype=np.float32).transpose(3, 2, 0, 1).copy())
    f = torch.nn.functional.conv2d
    with torch.no_grad():
        y = f(x, k, None, stride, padding)
    benchmark.group = name
    benchmark.extra_info["flops"] = 2 * y.numel() * ks[0] * ks[1] * ks[2]

    def run():
        with torch.no_grad():
            return f(x, k, None, stride, padding)

    benchmark(run)
