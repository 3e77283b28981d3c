"""A Keras-style progress bar for fit, evaluate and predict."""
import sys
import time

import numpy as np

from . import io_utils


def format_time(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(round(seconds))}s"


def format_step_time(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _format_value(v):
    if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.size:
        # a custom train_step's per-sample losses: shown by their mean, as Keras does
        v = float(np.mean(v))
    if isinstance(v, float):
        return f"{v:.4f}" if v == 0 or abs(v) >= 1e-3 else f"{v:.4e}"
    return str(v)


def format_logs(logs):
    return " - ".join(f"{k}: {_format_value(v)}" for k, v in logs.items())


class Progbar:
    """``verbose=1``: a bar redrawn in place at most every ``interval``
    seconds, with the running logs; ``verbose=2``: one line at the end.

    Keras's public form too: ``update(current, values)`` with ``values`` a
    list of ``(name, value)`` pairs shows each value's mean over the steps
    so far (weighted by the steps each update covers), except the names in
    ``stateful_metrics``, shown as given; ``add(n, values)`` advances by n.
    A dict of logs is shown as it is."""

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step", stream=None):
        self.target = target
        self.verbose = verbose
        self.width = width
        self.interval = interval
        # with interactive logging off, whole lines go to the pynn logger
        self._to_log = stream is None and not io_utils.is_interactive_logging_enabled()
        self.stream = stream or sys.stdout
        self.start = time.perf_counter()
        self._last = 0.0
        self._dynamic = not self._to_log and hasattr(self.stream, "isatty") and \
            self.stream.isatty()
        self.stateful_metrics = set(stateful_metrics or ())
        self._seen = 0
        self._sums = {}  # name -> [weighted sum, steps] of the averaged values

    def _running_logs(self, step, values):
        if values is None or isinstance(values, dict):
            return values
        covered = max(step - self._seen, 1)
        self._seen = step
        logs = {}
        for name, value in values:
            if name in self.stateful_metrics:
                logs[name] = float(value)
                continue
            total = self._sums.setdefault(name, [0.0, 0])
            total[0] += float(value) * covered
            total[1] += covered
            logs[name] = total[0] / total[1]
        return logs

    def add(self, n, values=None):
        self.update(self._seen + n, values)

    def update(self, current, values=None, finalize=None):
        step = current
        logs = self._running_logs(step, values)
        self._seen = step
        if finalize is None:
            finalize = self.target is not None and step >= self.target
        now = time.perf_counter()
        if self.verbose != 1 or (not finalize and now - self._last < self.interval):
            if finalize and self.verbose == 2:
                self._line_end(step, logs, now)
            return
        self._last = now
        elapsed = now - self.start
        target = self.target
        if target:
            done = int(self.width * step / target)
            bar = "\u2501" * done + "\u2500" * (self.width - done)
            head = f"{step}/{target} {bar}"
        else:
            head = f"{step}/Unknown"
        per = elapsed / step if step else 0.0
        if finalize or not target:
            timing = f"{format_time(elapsed)} {format_step_time(per)}"
        else:
            timing = f"{format_time(per * (target - step))} {format_step_time(per)}"
        line = f"{head} {timing}"
        if logs:
            line += " - " + format_logs(logs)
        if finalize and self._to_log:
            io_utils.logger.info(line)
            return
        if finalize:
            self.stream.write(("\r" if self._dynamic else "") + line + "\n")
        elif self._dynamic:
            self.stream.write("\r" + line)
        self.stream.flush()

    def _line_end(self, step, logs, now):
        elapsed = now - self.start
        line = f"{step}/{self.target} - {format_time(elapsed)} - " \
               f"{format_step_time(elapsed / max(step, 1))}"
        if logs:
            line += " - " + format_logs(logs)
        if self._to_log:
            io_utils.logger.info(line)
            return
        self.stream.write(line + "\n")
        self.stream.flush()
