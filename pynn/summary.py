"""``tf.summary`` for programs ported with ``import pynn as tf``: a writer
of TensorBoard event files (``create_file_writer``), made the default with
``as_default()``, and the summaries written to it (``scalar``,
``histogram``, ``text``, ``image``) at a step given or set with
``experimental.set_step``.  A summary written with no default writer is
dropped and returns False, as TensorFlow's.  The files are written by the
``tensorboard`` package: ``pip install 'pynn[tensorboard]'``."""
import contextlib
import os
import threading
import time
import types

import numpy as np

from .callbacks import _image_summary, _tensorboard_modules

_local = threading.local()  # (the default writer and step belong to a thread, as in TF)
_step = [None]


def _default():
    return getattr(_local, "writer", None)


class SummaryWriter:
    """An event file in ``logdir``; summaries go to it while it is the
    default (``with writer.as_default():`` or ``writer.set_as_default()``)."""

    def __init__(self, logdir, max_queue=None, flush_millis=None, filename_suffix=None):
        self._tb = _tensorboard_modules()
        self.logdir = os.fspath(logdir)
        self._max_queue = 10 if max_queue is None else int(max_queue)
        self._flush_secs = 120.0 if flush_millis is None else flush_millis / 1000.0
        self._suffix = filename_suffix or ""
        self._file = None

    def _events(self):
        if self._file is None:  # created on the first write, as TensorFlow does
            self._file = self._tb.EventFileWriter(self.logdir, self._max_queue,
                                                  self._flush_secs, self._suffix)
        return self._file

    def _write(self, summary, step):
        self._events().add_event(self._tb.Event(wall_time=time.time(), step=int(step),
                                                summary=summary))

    @contextlib.contextmanager
    def as_default(self, step=None):
        """Makes this the default writer (and ``step`` the default step)
        inside the ``with``; flushes on leaving it."""
        saved = _default(), _step[0]
        _local.writer = self
        if step is not None:
            _step[0] = int(step)
        try:
            yield self
        finally:
            _local.writer, _step[0] = saved[0], saved[1] if step is not None else _step[0]
            self.flush()

    def set_as_default(self, step=None):
        _local.writer = self
        if step is not None:
            _step[0] = int(step)

    def init(self):
        self._events()

    def flush(self):
        if self._file is not None:
            self._file.flush()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class _NoopWriter(SummaryWriter):
    """create_noop_writer's: the default writer that writes nothing."""

    def __init__(self):
        self._file = None

    def _write(self, summary, step):
        pass


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None,
                       name=None, experimental_trackable=False, experimental_mesh=None):
    """A SummaryWriter of event files in ``logdir``."""
    return SummaryWriter(logdir, max_queue, flush_millis, filename_suffix)


def create_noop_writer():
    return _NoopWriter()


def _emit(name, make, step):
    writer = _default()
    if writer is None:
        return False
    step = _step[0] if step is None else step
    if step is None:
        raise ValueError(f"tf.summary: no step for {name!r}: give step= or call "
                         f"tf.summary.experimental.set_step()")
    if isinstance(writer, _NoopWriter):
        return True
    writer._write(make(writer._tb), int(np.asarray(step)))
    return True


def _value(data):
    return np.asarray(data.numpy() if hasattr(data, "numpy") else data)


def scalar(name, data, step=None, description=None):
    """Writes the scalar ``data`` under ``name``; False with no default writer."""
    value = _value(data)
    if value.size != 1:
        raise ValueError(f"tf.summary.scalar {name!r}: data must be a scalar, got shape "
                         f"{value.shape}")
    return _emit(name, lambda tb: tb.scalar_pb(name, float(value.reshape(())), description),
                 step)


def histogram(name, data, step=None, buckets=None, description=None):
    """Writes the histogram of ``data``'s values (``buckets`` bins, 30 by default)."""
    value = _value(data).astype(np.float64).reshape(-1)
    return _emit(name, lambda tb: tb.histogram_pb(name, value, buckets or 30, description),
                 step)


def text(name, data, step=None, description=None):
    """Writes the string (or array of strings) ``data``."""
    value = _value(data)

    def make(tb):
        from tensorboard.plugins.text.summary_v2 import text_pb
        return text_pb(name, value.astype(str).tolist(), description)
    return _emit(name, make, step)


def image(name, data, step=None, max_outputs=3, description=None):
    """Writes up to ``max_outputs`` of the (k, h, w, c) images ``data``
    (c 1, 3 or 4; floats in [0, 1] or uint8) as PNGs."""
    value = _value(data)
    if value.ndim != 4 or value.shape[-1] not in (1, 3, 4):
        raise ValueError(f"tf.summary.image {name!r}: data must be (k, h, w, c) with c 1, 3 "
                         f"or 4, got shape {value.shape}")
    return _emit(name, lambda tb: _image_summary(tb, name, value, max_outputs, description),
                 step)


def flush(writer=None, name=None):
    writer = writer if writer is not None else _default()
    if writer is not None:
        writer.flush()


def _set_step(step):
    _step[0] = None if step is None else int(np.asarray(step))


def _get_step():
    return _step[0]


experimental = types.SimpleNamespace(set_step=_set_step, get_step=_get_step)

__all__ = ["SummaryWriter", "create_file_writer", "create_noop_writer", "scalar", "histogram",
           "text", "image", "flush", "experimental"]
