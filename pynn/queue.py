"""TensorFlow's ``tf.queue``: ``FIFOQueue``, ``PaddingFIFOQueue``,
``RandomShuffleQueue`` and ``PriorityQueue``, queues of tuples of tensors
shared by the threads of a program.

An element is one tensor per component, of the queue's ``dtypes`` (and
``shapes`` where given).  As in TensorFlow, ``enqueue`` into a full queue
waits until another thread dequeues, ``dequeue`` from an empty one waits
until another thread enqueues, and ``close()`` ends the waiting: dequeues
then raise ``tf.errors.OutOfRangeError`` once too few elements are left,
enqueues raise ``tf.errors.CancelledError``.
"""
import heapq
import itertools
import threading

import numpy as np

from . import ops
from .debugging import CancelledError, InvalidArgumentError, OutOfRangeError
from .dtypes import as_dtype
from .tensor import eager

__all__ = ["QueueBase", "FIFOQueue", "PaddingFIFOQueue", "RandomShuffleQueue",
           "PriorityQueue"]

_names = itertools.count()


def _component(value, dtype, who):
    """One component of an element as an array of ``dtype`` (strings as
    an object array of bytes, as TensorFlow holds them)."""
    if dtype.name == "string":
        arr = np.asarray(ops.convert_to_numpy(value), dtype=object)
        if arr.size and not all(isinstance(v, (bytes, str)) for v in arr.reshape(-1)):
            raise InvalidArgumentError(f"{who}: expected strings for a tf.string component, "
                                       f"got {value!r}")
        out = np.empty(arr.shape, dtype=object)
        out.reshape(-1)[:] = [v.encode() if isinstance(v, str) else v for v in arr.reshape(-1)]
        return out
    arr = np.asarray(ops.convert_to_numpy(value))
    if arr.dtype.kind in "OSU":
        raise InvalidArgumentError(f"{who}: expected {dtype.name} values, got {value!r}")
    cast = arr.astype(dtype.as_numpy_dtype)
    if arr.dtype.kind == "f" and cast.dtype.kind in "iub" and not np.array_equal(cast, arr):
        raise InvalidArgumentError(f"{who}: {value!r} cannot be converted to {dtype.name} "
                                   f"without losing its fraction")
    return cast


class QueueBase:
    """What the queues share: the components' dtypes, shapes and names,
    blocking enqueue and dequeue, close and size."""

    _requires_shapes = True  # (for dequeue_many; PaddingFIFOQueue pads instead)

    def __init__(self, capacity, dtypes, shapes=None, names=None, name="queue"):
        self._single = not isinstance(dtypes, (list, tuple))
        dtypes = [dtypes] if self._single else list(dtypes)
        if not dtypes:
            raise ValueError(f"{type(self).__name__}: give at least one dtype")
        self._dtypes = [as_dtype(d) for d in dtypes]
        if shapes is not None:
            shapes = [shapes] if self._single else list(shapes)
            if len(shapes) != len(dtypes):
                raise ValueError(f"{type(self).__name__}: {len(dtypes)} dtypes but "
                                 f"{len(shapes)} shapes")
            shapes = [tuple(None if d is None else int(d) for d in
                            ([] if s is None else ([s] if np.isscalar(s) else list(s))))
                      for s in shapes]
        self._shapes = shapes
        if names is not None:
            names = [names] if isinstance(names, str) else list(names)
            if len(names) != len(dtypes):
                raise ValueError(f"{type(self).__name__}: {len(dtypes)} dtypes but "
                                 f"{len(names)} names")
        self._names = names
        self._capacity = int(capacity) if capacity is not None and capacity >= 0 else None
        self._name = f"{name}_{next(_names)}" if name else f"queue_{next(_names)}"
        self._lock = threading.Condition()
        self._closed = False
        self._cancelled = False

    # ------------------------------------------------------------ reading

    @property
    def name(self):
        return self._name

    @property
    def dtypes(self):
        return list(self._dtypes)

    @property
    def shapes(self):
        from .tensor import TensorShape
        if self._shapes is None:
            return [None] * len(self._dtypes)
        return [TensorShape(s) for s in self._shapes]

    @property
    def names(self):
        return None if self._names is None else list(self._names)

    def size(self, name=None):
        with self._lock:
            return eager(np.asarray(self._count(), np.int32))

    def is_closed(self, name=None):
        with self._lock:
            return eager(np.asarray(self._closed))

    def close(self, cancel_pending_enqueues=False, name=None):
        """No more enqueues; waiting dequeues get what is left, then
        OutOfRangeError (with ``cancel_pending_enqueues``, waiting enqueues
        are given up with CancelledError)."""
        with self._lock:
            self._closed = True
            self._cancelled = self._cancelled or bool(cancel_pending_enqueues)
            self._lock.notify_all()

    # ------------------------------------------------------------ values

    def _label(self):
        return f"{type(self).__name__} '{self._name}'"

    def _components(self, vals, who):
        """``vals`` (one value, a list, or a dict by name) as the list of
        the element's components."""
        if self._names is not None:
            if not isinstance(vals, dict) or set(vals) != set(self._names):
                raise ValueError(f"{who}: {self._label()} has names {self._names}; give a "
                                 f"dict with exactly those keys, got {vals!r}")
            vals = [vals[n] for n in self._names]
        elif self._single or not isinstance(vals, (list, tuple)):
            vals = [vals]
        if len(vals) != len(self._dtypes):
            raise ValueError(f"{who}: {self._label()} has {len(self._dtypes)} components, "
                             f"got {len(vals)} values")
        return [_component(v, d, who) for v, d in zip(vals, self._dtypes)]

    def _check_shape(self, arr, i, who):
        if self._shapes is None:
            return
        want = self._shapes[i]
        if len(want) != arr.ndim or any(w is not None and w != d
                                        for w, d in zip(want, arr.shape)):
            raise ValueError(f"{who}: component {i} of {self._label()} has shape "
                             f"{list(want)}, got a value of shape {list(arr.shape)}")

    def _out(self, components):
        values = [eager(c) for c in components]
        if self._names is not None:
            return dict(zip(self._names, values))
        return values[0] if self._single or len(values) == 1 else values

    # ------------------------------------------------------------ enqueue

    def enqueue(self, vals, name=None):
        """Adds one element, waiting while the queue is full."""
        comps = self._components(vals, "enqueue")
        for i, c in enumerate(comps):
            self._check_shape(c, i, "enqueue")
        self._put([comps], "enqueue")

    def enqueue_many(self, vals, name=None):
        """Adds the elements along the first axis of every component (all
        of the same length), waiting for room as needed."""
        comps = self._components(vals, "enqueue_many")
        n = {c.shape[0] if c.ndim else None for c in comps}
        if None in n or len(n) != 1:
            raise ValueError(f"enqueue_many: every component needs the same first "
                             f"dimension (the number of elements), got shapes "
                             f"{[list(c.shape) for c in comps]}")
        for i, c in enumerate(comps):
            if len(c):
                self._check_shape(c[0, ...], i, "enqueue_many")
        # (c[j, ...]: a 0-d array even for a string, never a bare bytes)
        self._put([[c[j, ...] for c in comps] for j in range(n.pop())], "enqueue_many")

    def _put(self, elements, who):
        with self._lock:
            for element in elements:
                while True:
                    if self._closed:
                        raise CancelledError(f"{who}: {self._label()} is closed")
                    if self._capacity is None or self._count() < self._capacity:
                        break
                    self._lock.wait()
                self._push(element)
                self._lock.notify_all()

    # ------------------------------------------------------------ dequeue

    def dequeue(self, name=None):
        """Removes and gives one element, waiting while the queue is empty."""
        return self._out(self._take(1, "dequeue", exact=True)[0])

    def dequeue_many(self, n, name=None):
        """Removes ``n`` elements, waiting until there are that many; each
        component stacked along a new first axis."""
        return self._out(self._stack(self._take(int(n), "dequeue_many", exact=True),
                                     "dequeue_many"))

    def dequeue_up_to(self, n, name=None):
        """As dequeue_many, but a closed queue gives what it has left
        (fewer than ``n``, at least one)."""
        return self._out(self._stack(self._take(int(n), "dequeue_up_to", exact=False),
                                     "dequeue_up_to"))

    def _take(self, n, who, exact):
        if n < 0:
            raise ValueError(f"{who}: the number of elements must be >= 0, got {n}")
        if who != "dequeue" and self._requires_shapes and (
                self._shapes is None or any(None in s for s in self._shapes)):
            raise InvalidArgumentError(f"{who}: {self._label()} requires the components to "
                                       f"have specified shapes (give shapes= to the queue)")
        with self._lock:
            while True:
                have = self._available()
                if have >= n:
                    break
                if self._closed:
                    if not exact and self._count() > 0:
                        n = self._count()
                        break
                    raise OutOfRangeError(f"{who}: {self._label()} is closed and has "
                                          f"insufficient elements (requested {n}, current "
                                          f"size {self._count()})")
                self._lock.wait()
            out = [self._pop() for _ in range(n)]
            self._lock.notify_all()
        return out

    def _available(self):
        return self._count()

    def _stack(self, elements, who):
        out = []
        for i, dtype in enumerate(self._dtypes):
            parts = [e[i] for e in elements]
            if not parts:
                shape = tuple(0 if d is None else d for d in self._shapes[i])
                out.append(np.empty((0,) + shape, dtype=object if dtype.name == "string"
                                    else dtype.as_numpy_dtype))
            else:
                out.append(np.stack(parts))
        return out


class FIFOQueue(QueueBase):
    """Elements come out in the order they went in (tf.queue.FIFOQueue)."""

    def __init__(self, capacity, dtypes, shapes=None, names=None, shared_name=None,
                 name="fifo_queue"):
        super().__init__(capacity, dtypes, shapes, names, name)
        self._items = []
        self._head = 0

    def _count(self):
        return len(self._items) - self._head

    def _push(self, element):
        self._items.append(element)

    def _pop(self):
        element = self._items[self._head]
        self._head += 1
        if self._head > 64 and self._head * 2 > len(self._items):
            del self._items[:self._head]
            self._head = 0
        return element


class PaddingFIFOQueue(FIFOQueue):
    """A FIFOQueue whose components may have sizes left as None:
    dequeue_many pads each to the longest of the batch with zeros (empty
    strings), as tf.queue.PaddingFIFOQueue."""

    _requires_shapes = False

    def __init__(self, capacity, dtypes, shapes, names=None, shared_name=None,
                 name="padding_fifo_queue"):
        if shapes is None:
            raise ValueError("PaddingFIFOQueue: shapes must be given (None for a size that "
                             "may vary)")
        super().__init__(capacity, dtypes, shapes, names, shared_name, name)

    def _stack(self, elements, who):
        out = []
        for i, dtype in enumerate(self._dtypes):
            parts = [e[i] for e in elements]
            dims = tuple(max([p.shape[k] for p in parts], default=0) if d is None else d
                         for k, d in enumerate(self._shapes[i]))
            if dtype.name == "string":
                batch = np.full((len(parts),) + dims, b"", dtype=object)
            else:
                batch = np.zeros((len(parts),) + dims, dtype.as_numpy_dtype)
            for j, p in enumerate(parts):
                # (a 0-d string goes in as its bytes, not as an array)
                batch[(j,) + tuple(slice(0, s) for s in p.shape)] = p if p.ndim else p[()]
            out.append(batch)
        return out


class RandomShuffleQueue(QueueBase):
    """Elements come out in a random order; a dequeue waits while it would
    leave fewer than ``min_after_dequeue`` (until the queue is closed), as
    tf.queue.RandomShuffleQueue."""

    def __init__(self, capacity, min_after_dequeue, dtypes, shapes=None, names=None,
                 seed=None, shared_name=None, name="random_shuffle_queue"):
        super().__init__(capacity, dtypes, shapes, names, name)
        self._min_after = max(int(min_after_dequeue), 0)
        if self._capacity is not None and self._min_after >= self._capacity:
            raise ValueError(f"RandomShuffleQueue: min_after_dequeue ({self._min_after}) must "
                             f"be smaller than capacity ({self._capacity})")
        from .random import SeedGenerator
        self._rng = SeedGenerator(seed).generator
        self._items = []

    def _count(self):
        return len(self._items)

    def _available(self):
        return len(self._items) if self._closed else len(self._items) - self._min_after

    def _push(self, element):
        self._items.append(element)

    def _pop(self):
        i = int(self._rng.integers(len(self._items)))
        self._items[i], self._items[-1] = self._items[-1], self._items[i]
        return self._items.pop()


class PriorityQueue(QueueBase):
    """Elements come out lowest priority first (ties in the order they
    went in): the first component of each is its int64 priority, a scalar,
    before the components ``types`` names (tf.queue.PriorityQueue)."""

    def __init__(self, capacity, types, shapes=None, names=None, shared_name=None,
                 name="priority_queue"):
        types = [types] if not isinstance(types, (list, tuple)) else list(types)
        if shapes is not None:
            shapes = [()] + ([shapes] if not isinstance(shapes, (list, tuple)) or
                             (shapes and np.isscalar(shapes[0])) else list(shapes))
        super().__init__(capacity, ["int64"] + types, shapes, names, name)
        if self._shapes is None:
            self._shapes = [()] + [None] * len(types)
        self._heap = []
        self._order = itertools.count()

    def _check_shape(self, arr, i, who):
        if i == 0 and arr.ndim != 0:
            raise ValueError(f"{who}: the priority of {self._label()} must be a scalar, got "
                             f"shape {list(arr.shape)}")
        if self._shapes[i] is not None:
            super()._check_shape(arr, i, who)

    def _take(self, n, who, exact):
        if who != "dequeue" and any(s is None or None in s for s in self._shapes):
            raise InvalidArgumentError(f"{who}: {self._label()} requires the components to "
                                       f"have specified shapes (give shapes= to the queue)")
        saved, self._requires_shapes = self._requires_shapes, False
        try:
            return super()._take(n, who, exact)
        finally:
            self._requires_shapes = saved

    def _count(self):
        return len(self._heap)

    def _push(self, element):
        heapq.heappush(self._heap, (int(element[0]), next(self._order), element))

    def _pop(self):
        return heapq.heappop(self._heap)[2]
