"""PyDataset: Keras 3's base class for data computed batch by batch in
Python (``Sequence`` is the same class under Keras 2's name).

A subclass returns the number of batches from ``__len__`` and batch
``index`` from ``__getitem__``; ``fit`` calls ``on_epoch_begin`` and
``on_epoch_end`` around each epoch.  ``workers``, ``use_multiprocessing``
and ``max_queue_size`` are Keras's settings for the training loop, kept
here for it to read.
"""
import itertools
import warnings


class PyDataset:
    """Base class for a dataset produced batch by batch in Python.

    Args:
        workers: number of threads (or processes) the training loop may use
            to prepare batches.
        use_multiprocessing: whether those workers are processes.
        max_queue_size: how many batches may wait, prepared, in the queue.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size")
                   if not hasattr(self, name)]
        if missing:
            self._workers = getattr(self, "_workers", 1)
            self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
            self._max_queue_size = getattr(self, "_max_queue_size", 10)
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in "
                          "its constructor. `**kwargs` can include `workers`, "
                          "`use_multiprocessing`, `max_queue_size`.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """Batch number ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    @property
    def num_batches(self):
        """The number of batches, or None for an endless dataset."""
        if "_num_batches" in self.__dict__:
            return self._num_batches
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must define __len__ or num_batches")

    @num_batches.setter
    def num_batches(self, value):
        # Keras 2's Sequence had no such property, and its subclasses often
        # keep their count as ``self.num_batches = n`` (returned by __len__);
        # Keras 3's read-only property refuses that assignment.
        self._num_batches = value

    def __iter__(self):
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        for index in (range(count) if count is not None else itertools.count()):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset
