"""What data-parallel training adds to a step: the same start on every
process, and gradients summed across processes in buckets that start
while the backward pass is still running (as PyTorch's DDP does)."""
import os

import numpy as np

from ..utils.seeding import rng, set_rng_state


def synchronize_start(model, comm):
    """Every process starts from rank 0's weights, optimizer state and random
    state (so shuffles and dropout draws agree everywhere)."""
    set_rng_state(comm.bcast_object(rng().bit_generator.state, what="the random state"))
    for w in model.weights:
        comm.bcast_(w.value, what=f"weight {w.path!r}")
    params, _ = model._flat_parameters()
    opt = model.optimizer
    opt.build(params.size)
    for v in opt._state_arrays():
        comm.bcast_(v, what="the optimizer's state")
    it = np.array([opt.iterations], np.int64)
    comm.bcast_(it, what="the optimizer's step count")
    opt.iterations = int(it[0])


def _leaf_layers(layer):
    from ..models.functional import Model
    if isinstance(layer, Model):
        return [leaf for inner in layer.layers for leaf in _leaf_layers(inner)]
    return [layer]


class GradientReducer:
    """Sums the flat gradient buffer over the processes, bucket by bucket.

    Buckets are contiguous ranges of the buffer, about ``PYNN_MPI_BUCKET_MB``
    (default 1) MB each, taken from the end of the buffer (the last layers,
    whose gradients backward finishes first).  A bucket's sum starts as soon
    as backward has passed every call of every layer in it; buckets start in
    the same order on every process, as MPI requires of collectives."""

    def __init__(self, model, comm):
        self.comm = comm
        params, grads = model._flat_parameters()
        self.grads = grads
        weights = model._trainable_snapshot
        offsets, off = [], 0
        for w in weights:
            offsets.append((off, off + w.value.size))
            off += w.value.size
        owner = {}
        for layer in model.layers:
            for leaf in _leaf_layers(layer):
                for w in leaf.weights:
                    owner.setdefault(id(w), leaf)
        # The step (of the model's program, which backward visits in
        # reverse) after which a layer's gradients are complete: the first
        # step that calls it, or a nested model holding it.
        done_after = {}
        for i, st in enumerate(model._program.steps):
            for leaf in _leaf_layers(st.layer):
                done_after.setdefault(id(leaf), i)
        mb = float(os.environ.get("PYNN_MPI_BUCKET_MB", "1"))
        limit = max(1, int(mb * (1 << 20) / 4))
        buckets = []
        hi = off
        ready = None
        for w, (a, b) in reversed(list(zip(weights, offsets))):
            step = done_after.get(id(owner.get(id(w))), -1)
            ready = step if ready is None else min(ready, step)
            if hi - a >= limit:
                buckets.append((a, hi, ready))
                hi, ready = a, None
        if hi > 0:
            buckets.append((0, hi, -1 if ready is None else ready))
        self.buckets = buckets
        self.ready_at = {}
        for k, (_, _, step) in enumerate(buckets):
            self.ready_at.setdefault(step, []).append(k)
        self._reset()
        # Batch-norm moving statistics: each process updates them from its
        # own rows; they are averaged after each step so replicas agree.
        self.moving = moving_statistics(model)
        size = sum(a.size for a in self.moving)
        self._moving_buf = np.empty(size, np.float32) if size else None

    def _reset(self):
        self.requests = []
        self.ready = [False] * len(self.buckets)
        self.next = 0

    def _start_ready(self):
        while self.next < len(self.buckets) and self.ready[self.next]:
            a, b, _ = self.buckets[self.next]
            self.requests.append(self.comm.iallreduce_(self.grads[a:b]))
            self.next += 1

    def after_step(self, i):
        """Backward has finished step i of the model's program."""
        started = self.ready_at.get(i)
        if started:
            for k in started:
                self.ready[k] = True
            self._start_ready()
        elif self.requests:
            self.comm.MPI.Request.Testall(self.requests)  # let MPI make progress

    def reduce_all(self):
        """Start what is left and wait for every bucket's sum."""
        self.ready = [True] * len(self.buckets)
        self._start_ready()
        self.comm.wait(self.requests, "the gradient sum")
        self._reset()

    def global_rows(self, rows):
        """For processes that each bring their own rows (a distribution
        with ``auto_shard_dataset=False``): the global batch, and the row
        at which this process's share starts in it (shares in rank order,
        as the automatic sharding takes them)."""
        counts = self.comm.gather_values(rows, "the global batch size")
        return int(sum(counts)), int(sum(counts[:self.comm.rank]))

    def check_same_steps(self, steps, what):
        """Processes that each bring their own data must take the same
        number of steps per epoch (each step's sum waits for all of them)."""
        counts = self.comm.gather_values(-1 if steps is None else steps,
                                         "the number of steps per epoch")
        if len(set(counts)) > 1:
            known = ", ".join("unknown" if c < 0 else str(int(c)) for c in counts)
            raise ValueError(f"{what}: with auto_shard_dataset=False every process must "
                             f"bring the same number of batches per epoch; processes 0 to "
                             f"{len(counts) - 1} bring {known} (give steps_per_epoch)")

    def after_update(self):
        if self._moving_buf is not None:
            average_(self.comm, self.moving, self._moving_buf)


def moving_statistics(model, with_synchronized=False):
    """The batch-normalization moving statistics of ``model`` that each
    process updates from its own rows (a synchronized layer's are the
    same everywhere under a distribution: included only when asked)."""
    found = []
    for layer in model.layers:
        for leaf in _leaf_layers(layer):
            if getattr(leaf, "moving_mean", None) is not None and \
                    (with_synchronized or not getattr(leaf, "synchronized", False)):
                found += [leaf.moving_mean.value, leaf.moving_variance.value]
    return found


def average_(comm, arrays, buf=None):
    """Each of ``arrays`` (float32) set, in place, to its mean over the
    processes, in one sum (through ``buf``, their total size, if given)."""
    if buf is None:
        buf = np.empty(sum(a.size for a in arrays), np.float32)
    off = 0
    for a in arrays:
        buf[off:off + a.size] = a.reshape(-1)
        off += a.size
    comm.allreduce_(buf, "the batch-normalization statistics")
    buf *= np.float32(1.0 / comm.size)
    off = 0
    for a in arrays:
        a.reshape(-1)[...] = buf[off:off + a.size]
        off += a.size
