"""Callbacks with Keras's hooks: the base class, the list that dispatches to
them, History and ProgbarLogger."""
from .utils import io_utils
from .utils.progbar import Progbar


class Callback:
    """Base class: override the hooks you need.  ``self.model`` and
    ``self.params`` (epochs, steps, verbose) are set before training."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    # Keras's older names of the training batch hooks: a callback that
    # defines them is called for each training batch.
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


_BATCH_ALIASES = {"on_train_batch_begin": "on_batch_begin",
                  "on_train_batch_end": "on_batch_end"}
_HOOKS = [name for name in vars(Callback)
          if name.startswith("on_") and name not in _BATCH_ALIASES.values()]


def _hook_of(cb, hook):
    """The method of ``cb`` that answers ``hook`` (its on_batch_end for
    on_train_batch_end where it defines only that), or None where it keeps
    the base class's no-op."""
    for name in (hook, _BATCH_ALIASES.get(hook)):
        if name is not None and getattr(type(cb), name) is not getattr(Callback, name):
            return getattr(cb, name)
    return None


def listed(callbacks):
    """The callbacks given to fit, evaluate or predict as a list: None, one
    callback, or a (nested) list of them, as Keras flattens them."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (list, tuple)):
        return [cb for item in callbacks for cb in listed(item)]
    return [callbacks]


def history_in(callbacks):
    """The History fit records into and returns: the program's own among
    ``callbacks`` (``callbacks=[history]``), as Keras 3 keeps it, else a new
    one appended."""
    for cb in callbacks:
        if isinstance(cb, History):
            return cb
    callbacks.append(History())
    return callbacks[-1]


class CallbackList:
    """Calls every hook on each callback in order.  Batch hooks are skipped
    entirely when no callback overrides them, so the training loop pays
    nothing for them."""

    def __init__(self, callbacks, model, params):
        self.callbacks = listed(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        for hook in _HOOKS:
            bound = [fn for fn in (_hook_of(cb, hook) for cb in self.callbacks)
                     if fn is not None]
            setattr(self, hook, _dispatch(bound, _HOOK_ARITY[hook]) if bound else _noop)
            setattr(self, "has_" + hook, bool(bound))


def _noop(*args, **kwargs):
    pass


def _dispatch(bound, arity):
    """Calls each hook with Keras's positional arguments, ``logs``
    included (an empty dict when the loop has none, as Keras gives): a
    callback may define ``on_train_begin(self, logs)`` with no default and
    read ``logs.keys()``."""
    def call(*args, logs=None):
        if len(args) < arity:
            args = args + ({} if logs is None else logs,)
        elif args[-1] is None:
            args = args[:-1] + ({},)
        for fn in bound:
            fn(*args)
    return call


class _HistoryDict(dict):
    """History's dict, keyed as Keras 3 logs; Keras 2's older names for
    some of those keys read them too: a schedule's 'lr' (``plt.plot(
    history.epoch, history.history["lr"])``) and Keras 2.0's names of
    metrics=['accuracy'] and ['mae'], 'acc' and 'mean_absolute_error'
    (with 'val_' for the validation's)."""
    _KERAS2_NAMES = {"lr": "learning_rate", "acc": "accuracy", "mean_absolute_error": "mae",
                     "mean_squared_error": "mse"}

    def __reduce__(self):
        # pickled (pickle.dump or np.save of history.history) as the plain
        # dict it is in Keras, which reads back without pynn
        return dict, (dict(self),)

    def __missing__(self, key):
        prefix = "val_" if key.startswith("val_") and key != "val_" else ""
        new = self._KERAS2_NAMES.get(key[len(prefix):]) if isinstance(key, str) else None
        if new is not None and prefix + new in self:
            return self[prefix + new]
        raise KeyError(key)


class History(Callback):
    """Records each epoch's logs: ``history.history['val_accuracy']``."""

    def __init__(self):
        super().__init__()
        self.history = _HistoryDict()
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class BaseLogger(Callback):
    """tf.keras 2's: sums each training batch's logs weighted by the batch's
    ``size`` log and, at the end of the epoch, writes their averages into
    the epoch's logs for the names in ``params['metrics']`` (the last
    value for ``stateful_metrics``).  fit's logs already hold the epoch's
    averages and no ``size``, so as in tf.keras 2 it changes nothing there;
    programs subclass it as a plain callback (PyImageSearch's
    TrainingMonitor)."""

    def __init__(self, stateful_metrics=None):
        super().__init__()
        self.stateful_metrics = set(stateful_metrics or [])
        self.seen = 0
        self.totals = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0
        self.totals = {}

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        batch_size = logs.get("size", 0)
        self.seen += batch_size * logs.get("num_steps", 1)
        for k, v in logs.items():
            if k in self.stateful_metrics:
                self.totals[k] = v
            else:
                self.totals[k] = self.totals.get(k, 0) + v * batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for k in self.params.get("metrics", ()):
            if k in self.stateful_metrics and k in self.totals:
                logs[k] = self.totals[k]
            elif k in self.totals and self.seen:
                logs[k] = self.totals[k] / self.seen


class ProgbarLogger(Callback):
    """Prints the epoch header and the Keras-style progress bar."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            io_utils.print_msg(f"Epoch {epoch + 1}/{self.params.get('epochs')}")
        self._bar = Progbar(self.params.get("steps"), verbose=self.verbose)
        self._seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        self._bar.update(batch + 1, logs, finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar.target is None:
            # an epoch of unknown length (a generator) ends with its length
            # known: the last line shows it, as Keras's does
            self._bar.target = self._seen
        self._bar.update(self._bar.target, logs, finalize=True)


# ---------------------------------------------------------------------------
# The standard Keras callbacks: early stopping, checkpoints, learning-rate
# schedules, CSV logs, NaN guard, lambdas.  Each follows Keras 3's hooks,
# arguments and messages.

import csv as _csv
import inspect as _inspect
import io as _io
import math as _math
import os as _os
import warnings as _warnings

import numpy as _np


def _resolve_mode(monitor, mode, who):
    """(is_better(a, b), initial best) for ``mode`` 'min'/'max'/'auto';
    'auto' maximizes accuracy-like names and minimizes the rest."""
    if mode not in ("auto", "min", "max"):
        _warnings.warn(f"{who} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
        mode = "auto"
    if mode == "auto":
        name = monitor[4:] if monitor.startswith("val_") else monitor
        maximize = any(k in name for k in ("acc", "auc", "precision", "recall", "fmeasure")) \
            and not name.endswith("loss")
        mode = "max" if maximize else "min"
    return mode


def _lr_value(model):
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "learning_rate"):
        raise ValueError("This callback needs a compiled model whose optimizer has a "
                         "learning_rate")
    return float(opt.learning_rate)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving for
    ``patience`` epochs (Keras 3's EarlyStopping)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.mode = _resolve_mode(monitor, mode, "EarlyStopping")
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self.mode == "max":
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            _warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                           f"available. Available metrics are: {','.join(logs)}", stacklevel=2)
        return value


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after every epoch, or only when
    ``monitor`` improves with ``save_best_only``.  ``filepath`` may hold
    ``{epoch:02d}`` and any log, e.g. ``'ckpt-{epoch:02d}-{val_loss:.2f}.pynn'``.
    Files are written atomically: a crash mid-save keeps the last good one."""
    writes_files = True  # only rank 0 of a distributed job writes

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, period=None):
        super().__init__()
        from .saving import _is_folder_name, file_kind, is_checkpoint_prefix
        self.filepath = _os.fspath(filepath)
        if save_weights_only and is_checkpoint_prefix(self.filepath):
            pass  # (weights to a name of no format: a checkpoint, as TensorFlow's Keras)
        elif save_weights_only or not _is_folder_name(self.filepath, None):
            # (a whole model to a name of no suffix: a SavedModel folder, as tf.keras 2)
            file_kind(self.filepath, "ModelCheckpoint")
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq "
                             f"to be 'epoch' or a positive integer")
        self.save_freq = save_freq
        self.mode = _resolve_mode(monitor, mode, "ModelCheckpoint")
        self.best = initial_value_threshold if initial_value_threshold is not None else (
            _math.inf if self.mode == "min" else -_math.inf)
        self._batches_seen = 0
        self._current_epoch = 0
        # tf.keras 2's period=n: with save_freq='epoch', every n-th epoch only
        if period is not None:
            _warnings.warn("`period` argument is deprecated. Please use `save_freq` to "
                           "specify the frequency in number of batches seen.", stacklevel=2)
            if not (isinstance(period, int) and period > 0):
                raise ValueError(f"ModelCheckpoint: period must be a positive integer, "
                                 f"got {period!r}")
        self.period = 1 if period is None else period
        self._epochs_since_last_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches_seen += 1
            if self._batches_seen % self.save_freq == 0:
                self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._epochs_since_last_save += 1
            if self._epochs_since_last_save >= self.period:
                self._epochs_since_last_save = 0
                self._save_model(epoch, None, logs)

    def _get_file_path(self, epoch, batch, logs):
        values = dict(logs or {})
        values.pop("epoch", None)
        values.pop("batch", None)
        try:
            if batch is None:
                return self.filepath.format(epoch=epoch + 1, **values)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **values)
        except KeyError as e:
            raise KeyError(f"Failed to format this callback filepath: \"{self.filepath}\". "
                           f"It names {e}, which is not in the logs; available: "
                           f"{', '.join(['epoch'] + list(values))}") from None

    def _improved(self, current):
        return current < self.best if self.mode == "min" else current > self.best

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        folder = _os.path.dirname(filepath)
        if folder:
            _os.makedirs(folder, exist_ok=True)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                _warnings.warn(f"Can save best model only with {self.monitor} available, "
                               f"skipping.", stacklevel=2)
                return
            if not self._improved(current):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not
    improved for ``patience`` epochs.  Logs ``learning_rate`` each epoch."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:  # Keras 2's name of min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        self.monitor = monitor
        self.factor = float(factor)
        self.min_lr = float(min_lr)
        self.min_delta = float(min_delta)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        self.mode = mode
        self._reset()

    def _reset(self):
        self.mode = _resolve_mode(self.monitor, self.mode, "Learning rate reduction")
        self.best = _math.inf if self.mode == "min" else -_math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _better(self, a, b):
        return a < b - self.min_delta if self.mode == "min" else a > b + self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _lr_value(self.model)
        current = logs.get(self.monitor)
        if current is None:
            _warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                           f"which is not available. Available metrics are: "
                           f"{','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _lr_value(self.model)
                if old_lr > _np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning "
                              f"rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to
    ``schedule(epoch, lr)`` (or ``schedule(epoch)``); logs ``learning_rate``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose
        try:
            params = [p for p in _inspect.signature(schedule).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
            self._takes_lr = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):
            self._takes_lr = True

    def on_epoch_begin(self, epoch, logs=None):
        lr = _lr_value(self.model)
        lr = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        if hasattr(lr, "__array__") and not isinstance(lr, _np.generic):
            # a float scalar tensor, as tf.keras 2 took (its own example
            # returned ``lr * tf.math.exp(-0.1)``)
            value = _np.asarray(lr)
            if value.ndim == 0 and value.dtype.kind == "f":
                lr = float(value)
        if not isinstance(lr, (int, float, _np.floating, _np.integer)) or isinstance(lr, bool):
            raise ValueError(f"The output of the `schedule` function should be a float. "
                             f"Got: {lr!r}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _lr_value(self.model)


class CSVLogger(Callback):
    """Write each epoch's logs as one CSV row (``epoch`` counts from 0, as in
    Keras).  With ``append=True`` rows go after those already in the file.
    The file is rewritten atomically after every epoch, so it is always a
    complete CSV, even if the process is killed."""
    writes_files = True  # only rank 0 of a distributed job writes

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = _os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._prefix = ""
        self._header = True
        self._rows = []

    def on_train_begin(self, logs=None):
        self.keys = None
        self._rows = []
        self._prefix = ""
        self._header = True
        if self.append and _os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8", newline="") as f:
                self._prefix = f.read()
            if self._prefix and not self._prefix.endswith("\n"):
                self._prefix += "\n"
            self._header = not self._prefix
            first = self._prefix.splitlines()[0] if self._prefix else ""
            if first:  # keep the columns the file already has
                self.keys = [k for k in next(_csv.reader([first], delimiter=self.sep))
                             if k != "epoch"]

    @staticmethod
    def _value(v):
        if isinstance(v, str):
            return v
        if isinstance(v, _np.ndarray) and v.ndim == 0:
            return v.item()
        if isinstance(v, (list, tuple, _np.ndarray)):
            return f"[{', '.join(map(str, v))}]"
        return v

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        elif self._header:
            # validation_freq > 1: val_ columns appear later; the header is
            # rewritten with the whole file, earlier rows get NA.
            self.keys = sorted(set(self.keys) | set(logs))
        row = {"epoch": epoch, **{k: self._value(v) for k, v in logs.items()}}
        self._rows.append(row)
        self._write()

    def _write(self):
        class Dialect(_csv.excel):
            delimiter = self.sep
        out = _io.StringIO()
        writer = _csv.DictWriter(out, fieldnames=["epoch"] + self.keys, dialect=Dialect,
                                 restval="NA", extrasaction="ignore")
        if self._header:
            writer.writeheader()
        for row in self._rows:
            writer.writerow(row)
        from .utils.io import atomic_write
        with atomic_write(self.filename, "w", newline="") as f:
            f.write(self._prefix + out.getvalue())

    def on_train_end(self, logs=None):
        self._rows = []


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not _math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class RemoteMonitor(Callback):
    """Posts each epoch's logs to a server (Keras's RemoteMonitor): an HTTP
    POST to ``root + path`` of the JSON of ``{"epoch": ..., <logs>}``, as
    the form field ``field`` or, with ``send_as_json``, as an
    ``application/json`` body, with the extra ``headers``.  A server that
    cannot be reached gives a warning, and training goes on."""

    timeout = 10.0   # seconds one post may take before it counts as unreachable

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch, logs=None):
        import urllib.error
        import urllib.parse
        import urllib.request
        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            send[k] = v.item() if isinstance(v, (_np.ndarray, _np.generic)) else v
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = _json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: _json.dumps(send)}).encode("ascii")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError:
            pass   # (the server answered, with an error status: reached, as Keras sees it)
        except (urllib.error.URLError, OSError, ValueError):
            # (ValueError: a root that is no URL at all, as requests' errors)
            _warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}",
                           stacklevel=2)


class LambdaCallback(Callback):
    """A callback built from plain functions, e.g.
    ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch))``.
    ``on_batch_begin``/``on_batch_end`` are Keras's names for the training
    batch hooks; any other hook may be given by its name."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}
        for alias, hook in (("on_batch_begin", "on_train_batch_begin"),
                            ("on_batch_end", "on_train_batch_end")):
            if alias in kwargs:
                hooks[hook] = kwargs.pop(alias)
        for name, fn in kwargs.items():
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; hooks are "
                                f"{', '.join(_HOOKS)}")
            hooks[name] = fn
        given = {name: staticmethod(_with_logs(fn, _HOOK_ARITY[name]))
                 for name, fn in hooks.items() if fn is not None}
        # A subclass per instance holding only the given hooks, so the
        # training loop dispatches (and pays for) just those.
        self.__class__ = type("LambdaCallback", (LambdaCallback,), given)


_HOOK_ARITY = {name: 2 if ("epoch" in name or "batch" in name) else 1 for name in _HOOKS}


def _with_logs(fn, arity):
    """Call ``fn`` with Keras's positional arguments, ``logs`` included
    (None when the loop gave none)."""
    def hook(*args, logs=None):
        args = args + (logs,) * (arity - len(args))
        return fn(*args[:arity])
    hook.__name__ = getattr(fn, "__name__", "hook")
    return hook


# ---------------------------------------------------------------------------
# TensorBoard: event files written with the tensorboard package's own event
# writer and summary builders (the optional extra 'tensorboard', imported
# when the callback is made).

import json as _json
import time as _time
import types as _types


def _layer_graph(model):
    """A GraphDef of the model's graph: a Placeholder per input, a node
    per layer call named after the layer (``name_1``, ... for a shared
    layer's later calls) whose op is its class, fed by the calls it takes
    tensors from; None for a model with no graph (one whose call runs
    eagerly)."""
    nodes = getattr(model, "_nodes", None)
    inputs = getattr(model, "_inputs", None)
    if not nodes or not inputs:
        return None
    from tensorboard.compat.proto import graph_pb2
    graph = graph_pb2.GraphDef()
    names, taken = {}, set()

    def name_of(node):
        if node.is_input:
            return node.operation.name
        if id(node) not in names:
            base = getattr(node.operation, "name", None) or type(node.operation).__name__
            name, k = base, 0
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            names[id(node)] = name
        return names[id(node)]
    for t in inputs:
        name = t._keras_history.operation.name
        taken.add(name)
        graph.node.add(name=name, op="Placeholder")
    for node in nodes:
        graph.node.add(name=name_of(node), op=type(node.operation).__name__,
                       input=[name_of(p) for p in node.parent_nodes])
    return graph


def _tensorboard_modules():
    try:
        from google.protobuf import text_format
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb
        from tensorboard.plugins.image import metadata as image_metadata
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util.tensor_util import make_tensor_proto
    except ImportError as e:
        raise ImportError(f"TensorBoard needs the tensorboard package, which the 'tensorboard' "
                          f"extra installs: pip install 'pynn[tensorboard]' ({e})") from None
    return _types.SimpleNamespace(
        text_format=text_format, Event=Event, Summary=Summary, SummaryMetadata=SummaryMetadata,
        histogram_pb=histogram_pb, image_metadata=image_metadata,
        ProjectorConfig=ProjectorConfig, scalar_pb=scalar_pb, EventFileWriter=EventFileWriter,
        make_tensor_proto=make_tensor_proto)


def _image_summary(tb, tag, images, max_outputs=3, description=None):
    """What tf.summary.image writes for a (k, h, w, c) batch: the width,
    height and up to ``max_outputs`` PNGs; float values clipped to [0, 1]
    and scaled to bytes as tf.image.convert_image_dtype does, uint8 values
    as they are."""
    from PIL import Image  # a dependency of the tensorboard package
    pngs = []
    for image in images[:max_outputs]:
        if image.dtype == _np.uint8:
            pixels = image
        else:
            pixels = _np.minimum(_np.clip(image, 0.0, 1.0) * 255.5, 255.0).astype(_np.uint8)
        buffer = _io.BytesIO()
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(
            buffer, format="PNG")
        pngs.append(buffer.getvalue())
    height, width = images.shape[1:3]
    value = tb.Summary.Value(
        tag=tag, metadata=tb.image_metadata.create_summary_metadata(
            display_name=None, description=description),
        tensor=tb.make_tensor_proto([str(width).encode(), str(height).encode()] + pngs))
    return tb.Summary(value=[value])


class TensorBoard(Callback):
    """Logs for TensorBoard, laid out and named as Keras 3 writes them.

    ``log_dir/train`` and ``log_dir/validation`` hold event files with each
    epoch's losses and metrics as ``epoch_loss``, ``epoch_accuracy``, ...
    (the validation values under the same names, without ``val_``) and
    ``epoch_learning_rate``.  With ``update_freq='batch'`` or an integer n,
    the running ``batch_loss``, ``batch_accuracy``, ... every n-th batch
    (steps counted from 1 across epochs).  With ``write_steps_per_second``,
    ``epoch_steps_per_second`` (and ``batch_steps_per_second`` with batch
    logs).  Every ``histogram_freq`` epochs (from epoch 0) each weight's
    histogram goes to ``<weight path>/histogram`` (e.g.
    ``sequential/dense/kernel/histogram``: Keras puts a Sequential model's
    name in its weights' paths, not a functional model's), and with
    ``write_images`` its picture to ``<weight path>/image``.
    ``model.evaluate`` writes ``evaluation_<metric>_vs_iterations`` to the
    validation folder at the optimizer's step count.

    ``write_graph`` writes the model's config as Keras does (the ``keras``
    summary of TensorBoard's ``graph_keras_model`` plugin), which the Graphs
    tab draws as a graph of layers; without TensorFlow there is no graph of
    operations to write.  ``embeddings_freq`` saves, every that many epochs,
    the ``embeddings`` weight of each layer that has one as a TSV file in
    ``log_dir/train`` and lists it in ``log_dir/projector_config.pbtxt`` for
    the Projector tab; ``embeddings_metadata`` (one file for all such
    layers, or a dict of layer name to file) is given to the Projector as it
    is, relative to ``log_dir``.  ``profile_batch`` must be 0: pynn has no
    profiler.

    Event files are append-only logs with a checksum per record: a crash
    loses at most the last record, which TensorBoard skips.  They are
    written by the ``tensorboard`` package: ``pip install 'pynn[tensorboard]'``.
    """
    writes_files = True  # only rank 0 of a distributed job writes

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self._tb = _tensorboard_modules()
        self.log_dir = _os.fspath(log_dir)
        for name, value in (("histogram_freq", histogram_freq),
                            ("embeddings_freq", embeddings_freq)):
            if isinstance(value, bool) or not isinstance(value, (int, _np.integer)) or value < 0:
                raise ValueError(f"TensorBoard: {name} must be an integer >= 0, got {value!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(
                update_freq, (int, _np.integer)) or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or an integer "
                             f">= 1, got {update_freq!r}")
        if embeddings_metadata is not None and not isinstance(embeddings_metadata, (str, dict)):
            raise TypeError(f"TensorBoard: embeddings_metadata must be a file name or a dict "
                            f"of layer names to file names, got {embeddings_metadata!r}")
        _check_profile_batch(profile_batch)
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self.embeddings_freq = int(embeddings_freq)
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_steps = 0
        self._epoch_start = 0.0
        self._batch_start = 0.0
        if update_freq != "epoch" or write_steps_per_second:
            # Only then are the batch hooks needed; the training loop skips
            # the hooks (and the per-batch logs) of a class without them.
            self.__class__ = _TensorBoardWithBatches

    # -------------------------------------------------------------- writing

    def _writer(self, which):
        """The event file of ``log_dir/train`` or ``log_dir/validation``,
        created on first use as Keras does."""
        if which not in self._writers:
            folder = _os.path.join(self.log_dir, "train" if which == "train" else "validation")
            self._writers[which] = self._tb.EventFileWriter(folder)
        return self._writers[which]

    def _write(self, which, summary, step):
        self._writer(which).add_event(
            self._tb.Event(wall_time=_time.time(), step=int(step), summary=summary))

    def _write_scalars(self, which, prefix, logs, step):
        for name, value in _scalars(logs):
            self._write(which, self._tb.scalar_pb(prefix + name, value), step)

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def set_model(self, model):
        super().set_model(model)
        self._close_writers()
        if self.write_graph:
            self._write_model_config()
        if self.embeddings_freq:
            self._embedding_layers()  # checks embeddings_metadata's layer names now

    def _write_model_config(self):
        """The model's Keras JSON as the ``keras`` summary at step 0, for
        TensorBoard's graph_keras_model plugin (what Keras writes)."""
        try:
            to_json = getattr(self.model, "to_json", None)
            config = to_json() if to_json is not None else _json.dumps(
                {"class_name": type(self.model).__name__, "config": self.model.get_config()})
        except Exception as e:  # as Keras: a model that cannot be serialized is not drawn
            _warnings.warn(f"Model failed to serialize as JSON. Ignoring... {e}", stacklevel=3)
            return
        tb = self._tb
        metadata = tb.SummaryMetadata(plugin_data=tb.SummaryMetadata.PluginData(
            plugin_name="graph_keras_model", content=b"1"))
        value = tb.Summary.Value(tag="keras", metadata=metadata,
                                 tensor=tb.make_tensor_proto(config))
        self._write("train", tb.Summary(value=[value]), 0)
        graph = _layer_graph(self.model)
        if graph is not None:  # (TensorBoard's graphs dashboard: the model's op graph)
            self._writer("train").add_event(tb.Event(wall_time=_time.time(),
                                                     graph_def=graph.SerializeToString()))
        self._writer("train").flush()

    # ---------------------------------------------------------------- hooks

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if not logs or optimizer is None or not hasattr(optimizer, "iterations"):
            return
        step = int(optimizer.iterations)
        for name, value in _scalars(logs):
            self._write("val", self._tb.scalar_pb(f"evaluation_{name}_vs_iterations", value),
                        step)
        self._writer("val").flush()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_steps = 0
        self._epoch_start = _time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._log_embeddings()
        for writer in self._writers.values():
            writer.flush()

    # -------------------------------------------------------------- logging

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            elapsed = _time.perf_counter() - self._epoch_start
            train["steps_per_second"] = self._epoch_steps / elapsed if elapsed > 0 else 0.0
        self._write_scalars("train", "epoch_", train, epoch)
        if val:
            self._write_scalars("val", "epoch_", val, epoch)

    def _log_weights(self, epoch):
        for layer in self.model.layers:
            for weight in layer.weights:
                path = weight.path.replace(":", "_")  # (Keras's histogram tags)
                value = _np.asarray(weight.numpy())
                self._write("train", self._tb.histogram_pb(f"{path}/histogram", value), epoch)
                if self.write_images:
                    images = _weight_images(value)
                    if images is not None:
                        self._write("train", _image_summary(self._tb, f"{path}/image", images),
                                    epoch)

    def _embedding_layers(self):
        """[(layer name, its embeddings weight, metadata file or None)]."""
        found = []
        for layer in self.model.layers:
            for weight in layer.weights:
                if weight.name.rsplit("/", 1)[-1] == "embeddings":
                    found.append((layer.name, weight))
        metadata = self.embeddings_metadata
        if isinstance(metadata, dict):
            unknown = set(metadata) - {name for name, _ in found}
            if unknown:
                raise ValueError(f"Unrecognized `Embedding` layer names passed to "
                                 f"`keras.callbacks.TensorBoard` `embeddings_metadata` "
                                 f"argument: {sorted(unknown)}")
            return [(name, w, metadata.get(name)) for name, w in found]
        return [(name, w, metadata) for name, w in found]

    def _log_embeddings(self):
        """Each embedding matrix as a TSV file, and the Projector's config
        listing them (both replaced atomically)."""
        from .utils.io import atomic_write
        layers = self._embedding_layers()
        if not layers:
            return
        folder = _os.path.join(self.log_dir, "train")
        _os.makedirs(folder, exist_ok=True)
        config = self._tb.ProjectorConfig()
        for name, weight, metadata in layers:
            matrix = _np.asarray(weight.numpy())
            matrix = matrix.reshape(len(matrix), -1)
            fname = name.replace("/", "_") + "_embeddings.tsv"
            with atomic_write(_os.path.join(folder, fname), "w") as f:
                _np.savetxt(f, matrix, delimiter="\t", fmt="%.9g")
            entry = config.embeddings.add()
            entry.tensor_name = f"{name}/embeddings"
            entry.tensor_path = f"train/{fname}"
            entry.tensor_shape.extend(matrix.shape)
            if metadata is not None:
                entry.metadata_path = metadata
        with atomic_write(_os.path.join(self.log_dir, "projector_config.pbtxt"), "w") as f:
            f.write(self._tb.text_format.MessageToString(config))


class _TensorBoardWithBatches(TensorBoard):
    """TensorBoard with the batch hooks, for batch-level logs or steps per
    second."""

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._batch_start = _time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_steps += 1
        step = self._global_train_batch
        if self.update_freq == "epoch" or step % self.update_freq:
            return
        batch_logs = {}
        if self.write_steps_per_second:
            elapsed = _time.perf_counter() - self._batch_start
            if elapsed > 0:
                batch_logs["steps_per_second"] = 1.0 / elapsed
        batch_logs.update(logs or {})
        self._write_scalars("train", "batch_", batch_logs, step)


def _check_profile_batch(profile_batch):
    """Keras's checks of profile_batch; then anything but 0 is refused,
    since pynn has no profiler."""
    message = ("profile_batch must be a non-negative integer or 2-tuple of positive integers. "
               "A pair of positive integers signifies a range of batches to profile. "
               f"Found: {profile_batch}")
    value = profile_batch
    try:
        if isinstance(value, str):
            value = [int(v) for v in value.split(",")]
        if isinstance(value, (int, _np.integer)) and not isinstance(value, bool):
            start = stop = int(value)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            start, stop = (int(v) for v in value)
        else:
            raise ValueError(message)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if start < 0 or stop < start:
        raise ValueError(message)
    if start or stop:
        raise ValueError(f"TensorBoard: profiling is not available in pynn. Received: "
                         f"profile_batch={profile_batch} (must be 0)")


def _scalars(logs):
    """(name, float) for each log that is a single number (others, such as
    per-class arrays, have no scalar to plot and are left out)."""
    out = []
    for name, value in logs.items():
        if isinstance(value, _np.ndarray) and value.size == 1:
            value = value.reshape(()).item()
        if isinstance(value, (int, float, _np.integer, _np.floating)) \
                and not isinstance(value, (bool, _np.bool_)):
            out.append((name, float(value)))
    return out


def _weight_images(w):
    """A weight as Keras pictures it, as a (k, h, w, c) batch: a vector as
    one row, a matrix (turned to be wider than tall) as one picture, a
    convolution kernel with one input channel as a picture per output
    channel, a 4-D kernel with 1, 3 or 4 outputs as it lies; None for other
    shapes."""
    w = _np.squeeze(w)
    if w.ndim == 1:
        w = w.reshape(1, 1, w.shape[0], 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        w = w.transpose(2, 0, 1)[..., None]
    return w if w.ndim == 4 and w.shape[-1] in (1, 3, 4) else None


class BackupAndRestore(Callback):
    """Back up the training state (weights, optimizer state, epoch, step and
    random state) in ``backup_dir`` at the end of each epoch, or every
    ``save_freq`` batches; when ``fit`` starts and finds a backup, it
    continues from it, so a job killed mid-run and started again ends as an
    uninterrupted run would (Keras's BackupAndRestore).  The backup is
    deleted when training ends (``delete_checkpoint``).  In a distributed
    job rank 0 writes it and every rank restores from it."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a non-empty path")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive "
                             f"integer, got {save_freq!r}")
        self.backup_dir = _os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._model_path = _os.path.join(self.backup_dir, "latest.pynn")
        self._meta_path = _os.path.join(self.backup_dir, "training_metadata.json")
        self._epoch = 0
        self._batches = 0
        # batches since the last backup, counted across epochs as Keras
        # counts them (save_freq=30 with 100 batches an epoch: after
        # batches 30, 60, 90, 120 = epoch 1's 20th, ...)
        self._since_backup = 0

    def _comm(self):
        from .distribution import active
        return active()

    def _paths(self, previous=False):
        suffix = ".bkp" if previous else ""
        return self._model_path + suffix, self._meta_path + suffix

    def on_train_begin(self, logs=None):
        import json
        self._since_backup = 0
        for previous in (False, True):
            model_path, meta_path = self._paths(previous)
            if not (_os.path.exists(model_path) and _os.path.exists(meta_path)):
                continue
            try:
                with open(meta_path, encoding="utf-8") as f:
                    meta = json.load(f)
                from .saving import restore_training_state
                restore_training_state(self.model, model_path)
            except (OSError, ValueError, KeyError) as e:
                if previous or not self.double_checkpoint:
                    raise ValueError(f"BackupAndRestore: the backup in {self.backup_dir!r} "
                                     f"cannot be restored: {e}") from e
                continue
            from .utils.seeding import set_rng_state
            set_rng_state(meta["rng"])
            self.model._resume = meta
            self._epoch, self._batches = meta["epoch"], meta.get("batch", 0)
            return

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1
        if self.save_freq != "epoch":
            self._since_backup += 1
            if self._since_backup >= self.save_freq:
                self._since_backup = 0
                self._save(self._epoch, self._batches)

    def on_epoch_end(self, epoch, logs=None):
        # (an epoch's end is backed up too, unless its last batch just was)
        if self.save_freq == "epoch" or self._since_backup != 0:
            self._save(epoch + 1, 0)

    def _save(self, epoch, batch):
        import json
        from .utils.io import atomic_write
        from .utils.seeding import rng
        comm = self._comm()
        if comm is None or comm.rank == 0:
            _os.makedirs(self.backup_dir, exist_ok=True)
            if self.double_checkpoint and _os.path.exists(self._meta_path):
                for cur, prev in zip(self._paths(), self._paths(True)):
                    _os.replace(cur, prev)
            meta = {"epoch": int(epoch), "batch": int(batch),
                    "rng": rng().bit_generator.state,
                    "epoch_rng": getattr(self.model, "_epoch_rng_state", None)}
            self.model.save(self._model_path)
            with atomic_write(self._meta_path, "w") as f:
                f.write(json.dumps(meta))
        if comm is not None:
            comm.barrier("the backup")

    def on_train_end(self, logs=None):
        comm = self._comm()
        if self.delete_checkpoint and (comm is None or comm.rank == 0):
            import shutil
            shutil.rmtree(self.backup_dir, ignore_errors=True)


class SwapEMAWeights(Callback):
    """Evaluates and predicts with the moving averages of the weights that
    an optimizer built with ``use_ema=True`` keeps: the averages are
    swapped into the model for each evaluation (fit's validation too) and
    prediction, and swapped out after it.  With ``swap_on_epoch`` they are
    also in the model from the end of each epoch (for the callbacks after
    this one, e.g. ModelCheckpoint) to the start of the next, and stay
    there after the last (Keras 3's SwapEMAWeights)."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _exchange(self, keep_weights=False):
        optimizer = self.model.optimizer
        if optimizer is None:
            raise ValueError("SwapEMAWeights: the model has no optimizer; compile it with one "
                             "built with use_ema=True")
        # the variables in the order the optimizer steps them (fit's)
        weights = self.model._trainable_snapshot or list(self.model.trainable_weights)
        optimizer._ema_exchange(weights, keep_weights)

    def _swap_in(self):
        if not self._ema_weights_in_model:
            self._exchange()
            self._ema_weights_in_model = True

    def _swap_out(self):
        if self._ema_weights_in_model:
            self._exchange()
            self._ema_weights_in_model = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._swap_out()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_in()
            if epoch == self.params.get("epochs", 0) - 1:
                # the averages become the weights for good
                self._exchange(keep_weights=True)

    def on_test_begin(self, logs=None):
        self._swap_in()

    def on_test_end(self, logs=None):
        self._swap_out()

    def on_predict_begin(self, logs=None):
        self._swap_in()

    def on_predict_end(self, logs=None):
        self._swap_out()


# TensorFlow 2.3 to 2.7 kept BackupAndRestore under callbacks.experimental
experimental = _types.SimpleNamespace(BackupAndRestore=BackupAndRestore)
