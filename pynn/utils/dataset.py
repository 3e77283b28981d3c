"""Dataset: a re-iterable pipeline of NumPy elements with the tf.data
methods that Keras tutorials call (take, skip, map, batch, unbatch,
shuffle, repeat, cache, prefetch, as_numpy_iterator).

An element is an array, or a tuple, list or dict of them (an
``(images, labels)`` batch, say).  A Dataset holds a recipe, not data:
every ``iter()`` runs the recipe again, so one object serves every epoch.
"""
import queue
import threading

import numpy as np

from . import seeding

AUTOTUNE = -1
INFINITE = -1
UNKNOWN = -2


def _background(make_items, depth):
    """Iterate the iterable that ``make_items()`` returns on a daemon thread,
    ``depth`` items ahead of the caller.  An exception on the thread is
    raised in the caller; a caller that stops early stops the thread."""
    items = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in make_items():
                if not put((item, None)):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            put((done, e))
            return
        put((done, None))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


def _stack(elements):
    first = elements[0]
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, list):
        return [_stack([e[i] for e in elements]) for i in range(len(first))]
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    return np.stack([np.asarray(e) for e in elements])


def _length(element):
    if isinstance(element, (tuple, list)):
        return _length(element[0])
    if isinstance(element, dict):
        return _length(next(iter(element.values())))
    return len(element)


def _row(element, i):
    if isinstance(element, tuple):
        return tuple(_row(e, i) for e in element)
    if isinstance(element, list):
        return [_row(e, i) for e in element]
    if isinstance(element, dict):
        return {k: _row(v, i) for k, v in element.items()}
    return element[i]


def _check_count(count, where, name="count"):
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise TypeError(f"Dataset.{where}: {name} must be an integer, got {count!r}")
    return int(count)


class Dataset:
    """A re-iterable sequence of elements built by chaining tf.data-style
    methods.  ``len()`` is the number of elements where it is known."""

    AUTOTUNE = AUTOTUNE

    def __init__(self, make_iterator, cardinality=UNKNOWN):
        self._make_iterator = make_iterator
        self._cardinality = cardinality

    @classmethod
    def from_tensor_slices(cls, tensors):
        """One element per row of ``tensors`` (an array, or a tuple, list or
        dict of arrays with the same number of rows)."""
        def convert(t):
            if isinstance(t, tuple):
                return tuple(convert(e) for e in t)
            if isinstance(t, list) and t and isinstance(t[0], np.ndarray):
                return [convert(e) for e in t]
            if isinstance(t, dict):
                return {k: convert(v) for k, v in t.items()}
            return np.asarray(t)
        tensors = convert(tensors)
        n = _length(tensors)
        return cls(lambda: (_row(tensors, i) for i in range(n)), n)

    def __iter__(self):
        return iter(self._make_iterator())

    def __len__(self):
        if self._cardinality == INFINITE:
            raise TypeError("The dataset is infinite.")
        if self._cardinality < 0:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    def cardinality(self):
        """The number of elements, INFINITE (-1) or UNKNOWN (-2)."""
        return self._cardinality

    def as_numpy_iterator(self):
        """An iterator over the elements (already NumPy arrays)."""
        return iter(self)

    def _derive(self, make_iterator, cardinality):
        return Dataset(make_iterator, cardinality)

    def take(self, count):
        """The first ``count`` elements (all of them for -1)."""
        count = _check_count(count, "take")
        if count < 0:
            return self._derive(self._make_iterator, self._cardinality)

        def make():
            it = iter(self)
            for _ in range(count):
                try:
                    yield next(it)
                except StopIteration:
                    return
        card = self._cardinality
        return self._derive(make, count if card == INFINITE else
                            (min(card, count) if card >= 0 else UNKNOWN))

    def skip(self, count):
        """All but the first ``count`` elements (none for -1)."""
        count = _check_count(count, "skip")

        def make():
            it = iter(self)
            if count < 0:
                for _ in it:
                    pass
                return
            for _ in range(count):
                if next(it, StopIteration) is StopIteration:
                    return
            yield from it
        card = self._cardinality
        if count < 0:
            new = 0
        elif card >= 0:
            new = max(card - count, 0)
        else:
            new = card
        return self._derive(make, new)

    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """``map_func`` applied to each element; a tuple element is passed as
        separate arguments, as tf.data does."""
        if not callable(map_func):
            raise TypeError(f"Dataset.map: map_func must be callable, got {map_func!r}")

        def apply(element):
            return map_func(*element) if isinstance(element, tuple) else map_func(element)
        return self._derive(lambda: (apply(e) for e in self), self._cardinality)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None):
        """Consecutive elements stacked into batches of ``batch_size``."""
        batch_size = _check_count(batch_size, "batch", "batch_size")
        if batch_size < 1:
            raise ValueError(f"Dataset.batch: batch_size must be >= 1, got {batch_size}")

        def make():
            group = []
            for element in self:
                group.append(element)
                if len(group) == batch_size:
                    yield _stack(group)
                    group = []
            if group and not drop_remainder:
                yield _stack(group)
        card = self._cardinality
        if card >= 0:
            card = card // batch_size if drop_remainder else -(-card // batch_size)
        return self._derive(make, card)

    def unbatch(self):
        """Each batch split back into its rows."""
        def make():
            for element in self:
                for i in range(_length(element)):
                    yield _row(element, i)
        return self._derive(make, INFINITE if self._cardinality == INFINITE else UNKNOWN)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Elements in random order, drawn from a buffer of ``buffer_size``
        as tf.data does (a buffer as large as the dataset shuffles it
        uniformly).  With ``seed`` the orders are the same on every run: a
        new one each pass over the data unless ``reshuffle_each_iteration``
        is False."""
        buffer_size = _check_count(buffer_size, "shuffle", "buffer_size")
        if buffer_size < 1:
            raise ValueError(f"Dataset.shuffle: buffer_size must be >= 1, got {buffer_size}")
        passes = [0]
        lock = threading.Lock()

        def make():
            with lock:
                n = passes[0]
                passes[0] += 1
            if seed is None:
                rng = np.random.default_rng(seeding.next_seed())
            else:
                rng = np.random.default_rng([int(seed), n if reshuffle_each_iteration else 0])
            buffer = []
            for element in self:
                if len(buffer) < buffer_size:
                    buffer.append(element)
                    continue
                i = int(rng.integers(buffer_size))
                yield buffer[i]
                buffer[i] = element
            for i in rng.permutation(len(buffer)):
                yield buffer[i]
        return self._derive(make, self._cardinality)

    def repeat(self, count=None):
        """The elements ``count`` times over (forever for None or -1)."""
        if count is not None:
            count = _check_count(count, "repeat")
        forever = count is None or count < 0

        def make():
            k = 0
            while forever or k < count:
                empty = True
                for element in self:
                    empty = False
                    yield element
                if empty:
                    return
                k += 1
        card = self._cardinality
        if card == 0:
            new = 0
        elif forever:
            new = INFINITE
        else:
            new = card * count if card >= 0 else card
        return self._derive(make, new)

    def cache(self, filename=""):
        """Keep the elements in memory after the first complete pass; later
        passes read them from there."""
        if filename:
            raise ValueError("Dataset.cache: pynn caches in memory only; call cache() "
                             f"without a filename (got {filename!r})")
        stored = []
        state = {"complete": False}

        def make():
            if state["complete"]:
                yield from stored
                return
            seen = []
            for element in self:
                seen.append(element)
                yield element
            stored[:] = seen
            state["complete"] = True
        return self._derive(make, self._cardinality)

    def prefetch(self, buffer_size):
        """The same elements, prepared ``buffer_size`` ahead on a background
        thread (two for AUTOTUNE)."""
        buffer_size = _check_count(buffer_size, "prefetch", "buffer_size")
        depth = 2 if buffer_size < 0 else max(buffer_size, 1)
        return self._derive(lambda: _background(lambda: iter(self), depth), self._cardinality)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None,
                  preferred_backend=None):
    """Keras's split_dataset: the samples of ``dataset`` (an array, a list
    or tuple of arrays with the same number of rows, or a Dataset) as two
    Datasets, the first ``left_size`` samples and the last ``right_size``
    (an int is a count, a float in (0, 1) a fraction; None: the rest).
    ``shuffle`` shuffles the samples first, with Python's random generator
    seeded by ``seed`` as Keras does, so a seed splits as Keras's does.
    ``preferred_backend`` is accepted for Keras's signature; the splits are
    pynn Datasets."""
    from .. import tree
    if isinstance(dataset, np.ndarray):
        rows = list(dataset)
    elif isinstance(dataset, (list, tuple)):
        if not dataset:
            raise ValueError("split_dataset: received an empty list dataset; give a "
                             "non-empty list of arrays")
        arrays = [np.asarray(a) for a in dataset]
        lengths = {len(a) if a.ndim else None for a in arrays}
        if len(lengths) != 1 or None in lengths:
            raise ValueError(f"split_dataset: the arrays must have the same number of rows, "
                             f"got shapes {[a.shape for a in arrays]}")
        rows = list(zip(*arrays))
    elif isinstance(dataset, Dataset):
        rows = list(dataset)
    else:
        raise TypeError(f"split_dataset: dataset must be a Dataset, a NumPy array or a "
                        f"list/tuple of arrays, got {type(dataset).__name__}")
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    if shuffle:
        import random
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(rows)
    left_size, right_size = _split_sizes(left_size, right_size, len(rows))

    def restore(part):
        if isinstance(dataset, np.ndarray):
            return np.array(part)
        spec = part[0]
        columns = [np.array(c) for c in zip(*(tree.flatten(r) for r in part))]
        return tree.lists_to_tuples(tree.pack_sequence_as(spec, columns))
    return (Dataset.from_tensor_slices(restore(rows[:left_size])),
            Dataset.from_tensor_slices(restore(rows[-right_size:])))


def _split_sizes(left_size, right_size, total):
    """(left, right) sample counts from split_dataset's sizes, with Keras's
    checks."""
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, "
                            f"Received: type({name})={type(size)}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and (size <= 0 or size >= total)) or \
                (type(size) is float and (size <= 0 or size >= 1)):
            raise ValueError(f"`{name}` should be either a positive integer smaller than "
                             f"{total}, or a float within the range `[0, 1]`. Received: "
                             f"{name}={size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total}. Received: left_size + right_size = {left + right}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length={total}, `left_size`={left} and "
                             f"`right_size`={right}. Resulting {side} side dataset split will "
                             f"be empty. Adjust any of the aforementioned parameters")
    return int(left), int(right)
