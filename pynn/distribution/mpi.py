"""The collectives data-parallel training needs, over mpi4py.

Every wait has a deadline (``PYNN_MPI_TIMEOUT`` seconds, default 300): a
process that is gone or stuck makes the others stop with an error naming
what they waited for, never hang.  An uncaught exception in any process
aborts the whole job (after printing which process failed and why), so
``mpiexec`` exits non-zero at once.
"""
import os
import sys
import time

import numpy as np

_world = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("distributed training needs mpi4py and an MPI library: "
                          "pip install 'pynn[mpi]' (mpi4py and the mpich wheel, which "
                          "brings mpiexec)") from None
    return MPI


def world():
    """The job's communicator, made once."""
    global _world
    if _world is None:
        _world = World()
    return _world


class World:
    """MPI_COMM_WORLD with deadlines on every wait."""

    def __init__(self):
        MPI = _mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout = float(os.environ.get("PYNN_MPI_TIMEOUT", "300"))
        self._hooked = False

    # -------------------------------------------------------------- faults

    def abort(self, message):
        """Stop every process of the job, after saying why."""
        sys.stderr.write(f"pynn: process {self.rank} of {self.size}: {message}\n")
        sys.stderr.flush()
        # The launcher forwards each process's output through a pipe, and
        # an abort tears the job down without draining it: without a pause,
        # two processes failing together could both lose their messages.
        time.sleep(0.3)
        self.comm.Abort(1)

    def abort_on_uncaught_exception(self):
        """An exception no one catches, in any process, ends the whole job
        (the others would otherwise wait for it forever)."""
        if self._hooked or self.size < 2:
            return
        previous = sys.excepthook

        def hook(kind, value, tb):
            previous(kind, value, tb)
            self.abort(f"failed with {kind.__name__}: {value}")

        sys.excepthook = hook
        self._hooked = True

    def wait(self, requests, what):
        """Wait for nonblocking operations, at most the deadline.

        A collective advances only while its processes poll it, so a sleep
        between polls delays every round of it: a 140 KB sum that takes
        60 us polled back to back took 4-6 ms with 200 us sleeps.  The first
        50 ms are polled back to back, yielding the core to anyone who wants
        it; a longer wait (a process writing a file, a slow neighbour) sleeps
        between polls instead of keeping a core busy."""
        MPI = self.MPI
        now = time.monotonic()
        deadline, spin_until = now + self.timeout, now + 0.05
        while not MPI.Request.Testall(requests):
            now = time.monotonic()
            if now < spin_until:
                os.sched_yield()
            else:
                time.sleep(0.001)
            if now > deadline:
                self.abort(f"{what} did not complete within {self.timeout:.0f} s "
                           f"(PYNN_MPI_TIMEOUT): another process is stuck or has died")

    # --------------------------------------------------------- collectives

    def allreduce_(self, array, what="a sum across processes"):
        """Sum ``array`` (C-contiguous) over all processes, in place."""
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
        self.wait([req], what)
        return array

    def iallreduce_(self, array):
        """Start summing ``array`` over all processes in place; returns the
        request to wait on."""
        return self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)

    def sum_values(self, values, what="a sum across processes"):
        """The sums of a list of floats over all processes."""
        buf = np.asarray(values, np.float64).copy()
        self.allreduce_(buf, what)
        return [float(v) for v in buf]

    def gather_values(self, value, what="a gather across processes"):
        """Every process's float ``value``, in rank order, on every process."""
        buf = np.zeros(self.size, np.float64)
        buf[self.rank] = value
        self.allreduce_(buf, what)
        return [float(v) for v in buf]

    def gather_rows(self, array, what="a gather across processes"):
        """Every process's ``array`` concatenated along its first axis, in
        rank order, on every process (the processes' row counts may
        differ; the other axes must agree)."""
        array = np.ascontiguousarray(array)
        if array.ndim == 0:
            array = array.reshape(1)
        ranks = self.gather_values(float(array.ndim), what)
        # (every process sees the same lists, so all raise together)
        dims = [self.gather_values(float(d), what) for d in array.shape] \
            if len(set(ranks)) == 1 else None
        if dims is None or any(len(set(d)) > 1 for d in dims[1:]):
            raise ValueError(f"{what}: the processes' values must agree in shape beyond "
                             f"the first axis; this process has shape {array.shape}")
        row = int(np.prod(array.shape[1:], dtype=np.int64))
        counts = [int(c) * row for c in dims[0]]
        out = np.empty((sum(int(c) for c in dims[0]),) + array.shape[1:], array.dtype)
        req = self.comm.Iallgatherv(array, [out, counts])
        self.wait([req], what)
        return out

    def bcast_(self, array, root=0, what="a broadcast"):
        """Rank ``root``'s ``array`` onto every process, in place."""
        req = self.comm.Ibcast(array, root=root)
        self.wait([req], what)
        return array

    def bcast_object(self, obj, root=0, what="a broadcast"):
        """Rank ``root``'s picklable-free object: a JSON-able value, sent as
        bytes."""
        import json
        data = json.dumps(obj).encode() if self.rank == root else b""
        size = np.array([len(data)], np.int64)
        self.bcast_(size, root, what)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == root else \
            np.empty(int(size[0]), np.uint8)
        self.bcast_(buf, root, what)
        return json.loads(buf.tobytes().decode())

    def barrier(self, what="a barrier"):
        self.wait([self.comm.Ibarrier()], what)
