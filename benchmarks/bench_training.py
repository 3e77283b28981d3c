"""Whole training epochs and single-sample predict: pynn against PyTorch
(where installed), side by side in one run.

Data is random (the timing does not depend on it); sizes follow the
tutorials: 48,000 samples for the SGD MLP (MNIST's 60,000 less a 20 %
validation split) and 60,000 for the dropout RMSprop MLP.
"""
import numpy as np
import pytest

import pynn
from pynn import layers

try:
    import torch
except ImportError:  # PyTorch is never a dependency; compare when present
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def _data(n, features=784, classes=10, seed=0):
    g = np.random.default_rng(seed)
    return g.random((n, features), dtype=np.float32), g.integers(0, classes, n)


def _mlp_flops(n, sizes):
    per_sample = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    # forward, weight gradient and input gradient (none for the first layer)
    return 2 * n * (3 * per_sample - sizes[0] * sizes[1])


CASES = {
    "mlp_sgd": dict(sizes=(784, 128, 128, 10), dropout=0.0, n=48000, batch=64, opt="sgd"),
    "mlp_dropout_rmsprop": dict(sizes=(784, 512, 512, 10), dropout=0.2, n=60000, batch=128,
                                opt="rmsprop"),
}


def pynn_model(sizes, dropout, opt, functional=False):
    """The MLP as a Sequential, or built with the functional API (the same
    graph, which must train as fast)."""
    pynn.utils.set_random_seed(0)
    stack = []
    for units in sizes[1:-1]:
        stack.append(layers.Dense(units, activation="relu"))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(sizes[-1], activation="softmax"))
    if functional:
        inp = x = pynn.Input(shape=(sizes[0],))
        for layer in stack:
            x = layer(x)
        model = pynn.Model(inp, x)
    else:
        model = pynn.Sequential([pynn.Input(shape=(sizes[0],))] + stack)
    optimizer = pynn.optimizers.SGD(0.01) if opt == "sgd" else pynn.optimizers.RMSprop(0.001)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def torch_model(sizes, dropout, opt):
    torch.manual_seed(0)
    mods = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        if dropout:
            mods.append(torch.nn.Dropout(dropout))
    mods.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    model = torch.nn.Sequential(*mods)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01) if opt == "sgd" else \
        torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    return model, optimizer


def torch_epoch(model, optimizer, x, y, batch):
    """The idiomatic loop: shuffle, slice, forward, loss, backward, step,
    and the running accuracy a progress bar would show."""
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    perm = torch.randperm(x.shape[0])
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
    return correct


def _epoch(benchmark, case, functional):
    c = CASES[case]
    x, y = _data(c["n"], c["sizes"][0])
    model = pynn_model(c["sizes"], c["dropout"], c["opt"], functional)
    model.fit(x[:c["batch"] * 4], y[:c["batch"] * 4], batch_size=c["batch"], epochs=1, verbose=0)
    benchmark.group = f"epoch {case}"
    benchmark.extra_info["flops"] = _mlp_flops(c["n"], c["sizes"])
    benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=c["batch"], epochs=1,
                                                           verbose=0),
                       rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_epoch_pynn(benchmark, case):
    _epoch(benchmark, case, False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_epoch_functional(benchmark, case):
    """The same MLP written with the functional API (report: 'functional')."""
    _epoch(benchmark, case, True)


@needs_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_epoch_torch(benchmark, case):
    c = CASES[case]
    torch.set_num_threads(pynn.get_num_threads())
    x, y = _data(c["n"], c["sizes"][0])
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model, optimizer = torch_model(c["sizes"], c["dropout"], c["opt"])
    benchmark.group = f"epoch {case}"
    benchmark.extra_info["flops"] = _mlp_flops(c["n"], c["sizes"])
    benchmark.pedantic(torch_epoch, args=(model, optimizer, x, y, c["batch"]),
                       rounds=5, warmup_rounds=1)


def test_predict_one_pynn(benchmark):
    model = pynn_model((784, 128, 128, 10), 0.0, "sgd")
    x = _data(1)[0]
    model.predict(x)
    benchmark.group = "predict one sample (784-128-128-10)"
    benchmark(model.predict, x)


def test_predict_one_numpy(benchmark):
    model = pynn_model((784, 128, 128, 10), 0.0, "sgd")
    w = [v for v in model.get_weights()]
    x = _data(1)[0]

    def numpy_forward(x):
        h = np.maximum(x @ w[0] + w[1], 0)
        h = np.maximum(h @ w[2] + w[3], 0)
        z = h @ w[4] + w[5]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    benchmark.group = "predict one sample (784-128-128-10)"
    benchmark(numpy_forward, x)


@needs_torch
def test_predict_one_torch(benchmark):
    torch.set_num_threads(pynn.get_num_threads())
    model, _ = torch_model((784, 128, 128, 10), 0.0, "sgd")
    model.eval()
    x = torch.from_numpy(_data(1)[0])

    def torch_predict(x):
        with torch.no_grad():
            return torch.softmax(model(x), dim=1).numpy()

    benchmark.group = "predict one sample (784-128-128-10)"
    benchmark(torch_predict, x)
