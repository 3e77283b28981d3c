"""TensorFlow's ``tf.summary`` for custom training loops: a file writer
made the default writer, and ``scalar``, ``histogram``, ``image`` and
``text`` summaries written to its TensorBoard event files at a step::

    writer = tf.summary.create_file_writer("logs/train")
    with writer.as_default():
        tf.summary.scalar("loss", loss, step=epoch)

The event files are written by the tensorboard package's own writer (the
one the TensorBoard callback uses): ``pip install 'pynn[tensorboard]'``.
Without a default writer (or inside ``record_if(False)``) a summary writes
nothing and returns False, as TensorFlow's.
"""
import contextlib
import os
import threading
import time

import numpy as np

from . import backend
from .autodiff import value_of

__all__ = ["SummaryWriter", "create_file_writer", "create_noop_writer", "scalar", "histogram",
           "image", "text", "write", "flush", "record_if", "should_record_summaries",
           "experimental", "trace_on", "trace_export", "trace_off"]


class _State(threading.local):
    def __init__(self):
        self.writer = None      # the default writer
        self.step = None        # experimental.set_step's (or as_default's) step
        self.record_if = []     # the conditions of the open record_if blocks


_state = _State()


class SummaryWriter:
    """A writer of event files in ``logdir`` (tf.summary.SummaryWriter)."""

    def __init__(self, logdir, max_queue=None, flush_millis=None, filename_suffix=None):
        from .callbacks import _tensorboard_modules
        self._tb = _tensorboard_modules()
        self.logdir = os.fspath(logdir)
        self._max_queue = 10 if max_queue is None else int(max_queue)
        self._flush_secs = 120 if flush_millis is None else max(int(flush_millis) / 1000, 0.001)
        self._suffix = filename_suffix or ""
        self._events = None
        self._closed = False

    def init(self):
        """Create the event file now (summaries create it when first
        written)."""
        self._file()

    def _file(self):
        if self._closed:
            raise RuntimeError(f"SummaryWriter for {self.logdir!r}: the writer is closed")
        if self._events is None:
            self._events = self._tb.EventFileWriter(
                self.logdir, max_queue_size=self._max_queue, flush_secs=self._flush_secs,
                filename_suffix=self._suffix)
        return self._events

    def _write(self, summary, step):
        self._file().add_event(self._tb.Event(wall_time=time.time(), step=int(step),
                                              summary=summary))

    @contextlib.contextmanager
    def as_default(self, step=None):
        """The default writer inside the block (with ``step``, the default
        step too; both are restored after it)."""
        saved = _state.writer, _state.step
        _state.writer = self
        if step is not None:
            _state.step = step
        try:
            yield self
        finally:
            _state.writer, _state.step = saved
            self.flush()

    def set_as_default(self, step=None):
        """Make this the default writer (and ``step`` the default step)
        from now on."""
        _state.writer = self
        if step is not None:
            _state.step = step

    def flush(self):
        if self._events is not None:
            self._events.flush()

    def close(self):
        if self._events is not None:
            self._events.close()
            self._events = None
        self._closed = True


class _NoopWriter(SummaryWriter):
    """A writer that writes nothing (tf.summary.create_noop_writer)."""

    def __init__(self):
        self.logdir = None
        self._events = None
        self._closed = False

    def _write(self, summary, step):
        pass

    def init(self):
        pass


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None,
                       name=None, experimental_trackable=False, experimental_mesh=None):
    """A SummaryWriter of event files in ``logdir`` (created on the first
    summary)."""
    return SummaryWriter(logdir, max_queue, flush_millis, filename_suffix)


def create_noop_writer():
    return _NoopWriter()


@contextlib.contextmanager
def record_if(condition):
    """Summaries inside the block are written only where ``condition`` (a
    bool, or a callable giving one, asked at each summary) holds."""
    _state.record_if.append(condition)
    try:
        yield
    finally:
        _state.record_if.pop()


def should_record_summaries():
    """Whether a summary written now would be recorded: a default writer
    exists and every open record_if condition holds."""
    if _state.writer is None:
        return False
    for condition in _state.record_if:
        if not bool(value_of(condition() if callable(condition) else condition)):
            return False
    return True


def _step(step, name):
    if step is None:
        step = _state.step
    if step is None:
        raise ValueError(f"tf.summary: no step given for summary {name!r} and no default "
                         f"step set: pass step=, or call tf.summary.experimental.set_step")
    return int(np.asarray(value_of(step)))


def _tag(name):
    scope = backend.current_name_scope_path()
    return f"{scope}/{name}" if scope else name


def _emit(name, step, build):
    """Write ``build(tag)`` at ``step`` with the default writer; False
    when nothing is recorded."""
    if not should_record_summaries():
        return False
    step = _step(step, name)
    _state.writer._write(build(_tag(name)), step)
    return True


def _array(data):
    value = value_of(data)
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value)


def scalar(name, data, step=None, description=None):
    """Write a scalar summary: True when written."""
    def build(tag):
        value = _array(data)
        if value.size != 1:
            raise ValueError(f"tf.summary.scalar {name!r}: data must be a scalar, got shape "
                             f"{value.shape}")
        return _state.writer._tb.scalar_pb(tag, float(value.reshape(())),
                                           description=description)
    return _emit(name, step, build)


def histogram(name, data, step=None, buckets=None, description=None):
    """Write a histogram of ``data``'s values (``buckets`` of them, 30 by
    default, as TensorFlow's)."""
    def build(tag):
        value = _array(data).astype(np.float64)
        return _state.writer._tb.histogram_pb(tag, value, buckets=buckets or 30,
                                              description=description)
    return _emit(name, step, build)


def image(name, data, step=None, max_outputs=3, description=None):
    """Write up to ``max_outputs`` images of ``data``, shape (k, h, w, c)
    with c 1, 3 or 4: floats in [0, 1] or uint8."""
    from .callbacks import _image_summary

    def build(tag):
        value = _array(data)
        if value.ndim != 4 or value.shape[-1] not in (1, 3, 4):
            raise ValueError(f"tf.summary.image {name!r}: data must have shape [k, h, w, c] "
                             f"with c 1, 3 or 4, got {value.shape}")
        if value.dtype != np.uint8:
            value = value.astype(np.float32)
        return _image_summary(_state.writer._tb, tag, value, int(max_outputs), description)
    return _emit(name, step, build)


def text(name, data, step=None, description=None):
    """Write a text summary (a string or an array of strings, in
    Markdown)."""
    def build(tag):
        from tensorboard.plugins.text.summary_v2 import text_pb
        value = _array(data)
        if value.dtype.kind not in "SUO":
            raise TypeError(f"tf.summary.text {name!r}: data must be strings, got "
                            f"{value.dtype}")
        if value.dtype.kind != "S":
            value = np.vectorize(lambda s: s if isinstance(s, bytes) else
                                 str(s).encode("utf-8"), otypes=[object])(value)
        return text_pb(tag, value, description=description)
    return _emit(name, step, build)


def write(tag, tensor, step=None, metadata=None, name=None):
    """Write ``tensor`` under ``tag`` with the given SummaryMetadata (or
    none), as tf.summary.write."""
    def build(full_tag):
        tb = _state.writer._tb
        value = tb.Summary.Value(tag=full_tag, tensor=tb.make_tensor_proto(
            _array(tensor)))
        if metadata is not None:
            value.metadata.CopyFrom(metadata if isinstance(metadata, tb.SummaryMetadata)
                                    else tb.SummaryMetadata.FromString(bytes(metadata)))
        return tb.Summary(value=[value])
    return _emit(tag, step, build)


def flush(writer=None, name=None):
    """Write what ``writer`` (the default writer) holds to its file."""
    writer = writer if writer is not None else _state.writer
    if writer is not None:
        writer.flush()


# ------------------------------------------------------------------ traces

def trace_on(graph=True, profiler=False, profiler_outdir=None):
    """Start recording the graphs of the tf.functions called from now on
    (one per function and input signature: its inputs, the call, its
    outputs), for trace_export.  ``profiler=True``: TensorFlow's profiler
    has no counterpart here; the graphs are still recorded, and a warning
    says the profile is not."""
    from . import execution
    if profiler:
        import warnings
        warnings.warn("tf.summary.trace_on(profiler=True): pynn records the functions' graphs "
                      "but has no profiler trace to write", stacklevel=2)
    if execution.traced_calls[0] is not None:
        import warnings
        warnings.warn("tf.summary.trace_on: a trace is already on; it goes on", stacklevel=2)
        return
    execution.traced_calls[0] = {}


def trace_off():
    """Stop recording and drop what was recorded."""
    from . import execution
    execution.traced_calls[0] = None


def trace_export(name, step=None, profiler_outdir=None):
    """Write the graphs recorded since trace_on under ``name`` at ``step``
    with the default writer, as TensorFlow's run-metadata graph summary
    (TensorBoard's Graphs dashboard lists it by ``name``), then stop the
    trace."""
    from . import execution
    calls = execution.traced_calls[0]
    if calls is None:
        raise ValueError("tf.summary.trace_export: must enable trace before export through "
                         "tf.summary.trace_on")
    try:
        if should_record_summaries():
            from tensorboard.compat.proto.config_pb2 import RunMetadata
            tb = _state.writer._tb
            run = RunMetadata()
            run.function_graphs.add().pre_optimization_graph.CopyFrom(_graph_def(calls))
            metadata = tb.SummaryMetadata(plugin_data=tb.SummaryMetadata.PluginData(
                plugin_name="graph_run_metadata_graph", content=b"1"))
            write(name, np.array(run.SerializeToString(), dtype=object), step=step,
                  metadata=metadata)
    finally:
        trace_off()


def _graph_def(calls):
    """A GraphDef of the recorded calls: per function and signature, a
    Placeholder per input, a StatefulPartitionedCall of the function (as
    TensorFlow's graph of a call shows it) and an Identity per output."""
    from tensorboard.compat.proto import attr_value_pb2, graph_pb2, tensor_shape_pb2, types_pb2

    def dtype_attr(dtype):
        name = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF",
                "int32": "DT_INT32", "int64": "DT_INT64", "int8": "DT_INT8",
                "uint8": "DT_UINT8", "bool": "DT_BOOL", "string": "DT_STRING"}.get(
                    dtype, "DT_INVALID")
        return attr_value_pb2.AttrValue(type=types_pb2.DataType.Value(name))

    def shape_attr(shape):
        return attr_value_pb2.AttrValue(shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else int(d))
                 for d in shape]))
    graph = graph_pb2.GraphDef()
    for node_name, (fname, ins, outs) in calls.items():
        inputs = []
        for i, (arg, shape, dtype) in enumerate(ins):
            node = graph.node.add(name=f"{node_name}/{arg}", op="Placeholder")
            node.attr["dtype"].CopyFrom(dtype_attr(dtype))
            node.attr["shape"].CopyFrom(shape_attr(shape))
            inputs.append(node.name)
        call = graph.node.add(name=node_name, op="StatefulPartitionedCall", input=inputs)
        call.attr["f"].CopyFrom(attr_value_pb2.AttrValue(
            func=attr_value_pb2.NameAttrList(name=fname)))
        call.attr["Tout"].CopyFrom(attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(
            type=[dtype_attr(d).type for _, _, d in outs])))
        for k, (out, shape, dtype) in enumerate(outs):
            node = graph.node.add(name=f"{node_name}/{out}", op="Identity",
                                  input=[f"{node_name}:{k}" if k else node_name])
            node.attr["T"].CopyFrom(dtype_attr(dtype))
            node.attr["_output_shapes"].CopyFrom(attr_value_pb2.AttrValue(
                list=attr_value_pb2.AttrValue.ListValue(shape=[shape_attr(shape).shape])))
    return graph


class experimental:
    """tf.summary.experimental: the default step."""

    @staticmethod
    def get_step():
        return _state.step

    @staticmethod
    def set_step(step):
        _state.step = step
