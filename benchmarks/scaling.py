"""Weak scaling of data-parallel training on one machine: the MNIST convnet
with a fixed batch per process, 1, 2, ... processes of one thread each,
pynn over MPI beside PyTorch's DistributedDataParallel (gloo) in the same
run.  Prints samples per second and the parallel efficiency
(samples/s at N) / (N x samples/s at 1).

    python benchmarks/scaling.py [--ranks 1 2] [--steps 40] [--batch 128] [--no-torch]

Needs the mpi extra (mpiexec); the PyTorch side runs where torch imports
(make bench's environment).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np


def pynn_job(steps, batch):
    """Run under mpiexec: time ``steps`` steps of a global batch of
    ``batch`` x processes; rank 0 prints the seconds."""
    import pynn
    from pynn import layers
    pynn.distribution.initialize()
    pynn.distribution.set_distribution(pynn.distribution.DataParallel())
    comm = pynn.distribution.active()
    size = 1 if comm is None else comm.size
    rank = 0 if comm is None else comm.rank
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([
        pynn.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    g = np.random.default_rng(0)
    n = batch * size * steps
    x = g.random((n, 28, 28, 1), dtype=np.float32)
    y = g.integers(0, 10, n)
    model.fit(x[:batch * size * 2], y[:batch * size * 2], batch_size=batch * size, verbose=0)
    best = None
    for _ in range(3):
        t = time.perf_counter()
        model.fit(x, y, batch_size=batch * size, epochs=1, verbose=0, shuffle=False)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    if rank == 0:
        print(f"SECONDS {best}")


def torch_worker(rank, size, steps, batch, port, queue):
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=size)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(1600, 10))
    model = torch.nn.parallel.DistributedDataParallel(model) if size > 1 else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = np.random.default_rng(rank)
    x = torch.from_numpy(g.random((batch * steps, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(g.integers(0, 10, batch * steps))

    def epoch(count):
        for s in range(count):
            xb, yb = x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            opt.step()

    epoch(2)
    best = None
    for _ in range(3):
        dist.barrier() if size > 1 else None
        t = time.perf_counter()
        epoch(steps)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    if rank == 0:
        queue.put(best)
    if size > 1:
        dist.destroy_process_group()


def run_torch(size, steps, batch):
    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = 29500 + os.getpid() % 1000 + size
    procs = [ctx.Process(target=torch_worker, args=(r, size, steps, batch, port, queue))
             for r in range(size)]
    for p in procs:
        p.start()
    seconds = queue.get(timeout=600)
    for p in procs:
        p.join()
    return seconds


def run_pynn(size, steps, batch):
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or \
        shutil.which("mpiexec")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([mpiexec, "-n", str(size), sys.executable, __file__, "--job",
                          "--steps", str(steps), "--batch", str(batch)],
                         capture_output=True, text=True, env=env, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(next(l for l in out.stdout.splitlines() if l.startswith("SECONDS")).split()[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+",
                        default=[n for n in (1, 2, 4, 8) if n <= (os.cpu_count() or 1)])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128, help="samples per process per step")
    parser.add_argument("--no-torch", action="store_true",
                        help="pynn alone, even where torch imports")
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        pynn_job(args.steps, args.batch)
        return
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
    print(f"weak scaling, convnet, {args.batch} samples per process per step, "
          f"{args.steps} steps, one thread per process")
    print(f"{'processes':>9} {'pynn samples/s':>15} {'efficiency':>10} "
          f"{'torch samples/s':>16} {'efficiency':>10}")
    base = {}
    for n in args.ranks:
        samples = n * args.batch * args.steps
        row = [f"{n:9d}"]
        impls = [("pynn", run_pynn)] + ([("torch", run_torch)] if have_torch else [])
        for name, fn in impls:
            rate = samples / fn(n, args.steps, args.batch)
            base.setdefault(name, rate)
            row.append(f"{rate:15.0f} {rate / (n * base[name]):10.2f}")
        print(" ".join(row))


if __name__ == "__main__":
    main()
