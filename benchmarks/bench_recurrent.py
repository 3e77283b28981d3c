"""Recurrent kernels and the embedding against PyTorch (where installed), side
by side, at the size of the IMDB LSTM tutorial: batch 128, 500 steps, 32
input features (the embedding's width), 32 units.

One round is a training step's share of the layer: the forward pass keeping
what the backward pass needs, then the backward pass from the last output's
gradient (return_sequences=False, as the tutorial's LSTM), including the
input's gradient (the embedding below needs it).  Both sides reuse their
buffers from round to round.  GFLOP/s counts the GEMM work of the equations
(forward, input gradient, recurrent gradient, weight gradients); the gate
arithmetic is not counted.
"""
import numpy as np
import pytest

import pynn
from pynn import ops

try:
    import torch
except ImportError:  # PyTorch is never a dependency; compare when present
    torch = None

BATCH, STEPS, FEATURES, UNITS = 128, 500, 32, 32
VOCAB = 10000
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
TORCH_CELL = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "RNN"}

g = np.random.default_rng(0)


def flops(cell, backward=True):
    """Multiply-adds of x W and h R over every step, twice for a flop; the
    backward pass does three times the forward's (dZ R^T and dZ W^T, the
    weight gradients)."""
    per_step = BATCH * GATES[cell] * UNITS * (FEATURES + UNITS)
    return 2 * STEPS * per_step * (3 if backward else 1)


def weights(cell):
    gates = GATES[cell]
    k = g.standard_normal((FEATURES, gates * UNITS), dtype=np.float32) * 0.2
    r = g.standard_normal((UNITS, gates * UNITS), dtype=np.float32) * 0.2
    b = np.zeros((2, 3 * UNITS) if cell == "gru" else gates * UNITS, np.float32)
    return k, r, b


def pynn_step(cell, backward):
    """One round with pynn.ops, every buffer kept between rounds."""
    x = g.standard_normal((BATCH, STEPS, FEATURES), dtype=np.float32)
    k, r, b = weights(cell)
    forward, grad = getattr(ops, cell), getattr(ops, f"{cell}_grad")
    first = forward(x, k, r, b, training=backward)
    out, states, kept = first[0], list(first[1:-1]), {"trace": first[-1]}
    dy = np.ones_like(out)
    dx, kg, rg, bg = np.empty_like(x), np.empty_like(k), np.empty_like(r), np.empty_like(b)
    state_grads = [np.empty_like(s) for s in states]

    def step():
        trace = forward(x, k, r, b, training=backward, work=kept["trace"], out=out,
                        state_out=states)[-1]
        if backward:
            grad(trace, dy, input_grad=dx, state_grads=state_grads, kernel_grad=kg,
                 recurrent_kernel_grad=rg, bias_grad=bg)
        kept["trace"] = trace
    return step


def torch_step(cell, backward):
    torch.manual_seed(0)
    layer = getattr(torch.nn, TORCH_CELL[cell])(FEATURES, UNITS, batch_first=True)
    x = torch.randn(BATCH, STEPS, FEATURES, requires_grad=backward)

    def step():
        if backward:
            layer.zero_grad(set_to_none=True)
            x.grad = None
            out, _ = layer(x)
            out[:, -1].sum().backward()
        else:
            with torch.no_grad():
                layer(x)
    return step


@pytest.mark.parametrize("impl", ["pynn", "torch"])
@pytest.mark.parametrize("backward", [True, False], ids=["fwd+bwd", "fwd"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_recurrent(benchmark, cell, backward, impl):
    benchmark.group = (f"{cell} {'fwd+bwd' if backward else 'fwd'} "
                       f"{BATCH}x{STEPS}x{FEATURES}->{UNITS}")
    benchmark.extra_info["flops"] = flops(cell, backward)
    if impl == "pynn":
        benchmark(pynn_step(cell, backward))
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        torch.set_num_threads(pynn.get_num_threads())
        benchmark(torch_step(cell, backward))


@pytest.mark.parametrize("impl", ["pynn", "torch"])
def test_embedding(benchmark, impl):
    """Gather a batch's rows and scatter their gradient back (the rows of
    the previous batch cleared), the tutorial's Embedding(10000, 32)."""
    benchmark.group = f"embedding fwd+bwd {VOCAB}x{FEATURES}, ids {BATCH}x{STEPS}"
    ids = [g.integers(0, VOCAB, (BATCH, STEPS)) for _ in range(2)]
    table = g.standard_normal((VOCAB, FEATURES), dtype=np.float32)
    dy = np.ones((BATCH, STEPS, FEATURES), np.float32)
    if impl == "pynn":
        out, grad, turn = np.empty_like(dy), np.zeros_like(table), [0]

        def step():
            i = turn[0] = 1 - turn[0]
            ops.embedding(table, ids[i], out=out)
            ops.embedding_grad(ids[i], dy, grad, previous_ids=ids[1 - i])
        benchmark(step)
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        torch.set_num_threads(pynn.get_num_threads())
        layer = torch.nn.Embedding(VOCAB, FEATURES)
        tids = [torch.from_numpy(i) for i in ids]
        tdy, turn = torch.from_numpy(dy), [0]

        def step():
            i = turn[0] = 1 - turn[0]
            layer.zero_grad(set_to_none=False)
            layer(tids[i]).backward(tdy)
        benchmark(step)


# One epoch of the IMDB LSTM tutorial (Embedding 10,000 x 32, LSTM 32, Dense 1
# sigmoid; RMSprop, batch 128, reviews of 500 words) on random tokens.
EPOCH_SEQUENCES = 1280


def _imdb_data():
    g = np.random.default_rng(1)
    return g.integers(1, VOCAB, (EPOCH_SEQUENCES, STEPS)), g.integers(0, 2, EPOCH_SEQUENCES)


def _epoch_flops():
    """The LSTM's GEMM work over the epoch (as flops() counts a batch),
    the Dense layer's, and no flops for the embedding's gather."""
    batches = EPOCH_SEQUENCES // BATCH
    return batches * flops("lstm") + 2 * EPOCH_SEQUENCES * UNITS * 3


def test_imdb_lstm_epoch_pynn(benchmark):
    x, y = _imdb_data()
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.layers.Embedding(VOCAB, FEATURES), pynn.layers.LSTM(UNITS),
                             pynn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    benchmark.group = f"IMDB LSTM epoch, {EPOCH_SEQUENCES} reviews of {STEPS} words"
    benchmark.extra_info["flops"] = _epoch_flops()
    benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=BATCH, epochs=1,
                                                           verbose=0),
                       rounds=3, warmup_rounds=1)


def test_imdb_lstm_epoch_torch(benchmark):
    if torch is None:
        pytest.skip("PyTorch is not installed")
    torch.set_num_threads(pynn.get_num_threads())
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in _imdb_data())
    y = y.float()

    class IMDBLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, FEATURES)
            self.lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
            self.dense = torch.nn.Linear(UNITS, 1)

        def forward(self, ids):
            out, _ = self.lstm(self.embedding(ids))
            return self.dense(out[:, -1]).squeeze(1)

    model = IMDBLSTM()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def epoch():
        """The idiomatic loop: shuffle, slice, forward, loss, backward, step,
        and the running accuracy a progress bar would show."""
        model.train()
        perm = torch.randperm(x.shape[0])
        correct = 0
        for s in range(0, x.shape[0], BATCH):
            idx = perm[s:s + BATCH]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            correct += ((logits > 0).float() == yb).sum().item()
        return correct

    benchmark.group = f"IMDB LSTM epoch, {EPOCH_SEQUENCES} reviews of {STEPS} words"
    benchmark.extra_info["flops"] = _epoch_flops()
    benchmark.pedantic(epoch, rounds=3, warmup_rounds=1)
