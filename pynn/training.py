"""The training loop: compile, fit, evaluate, predict.

Data is converted to float32 once per call, never per batch.  Each epoch
shuffles an index and gathers each batch into one reused buffer; each step
runs forward, the (fused) loss and its gradient, backward, and one optimizer
pass over the model's flat parameter array.
"""
import math

import numpy as np

from . import losses as losses_mod
from . import metrics as metrics_mod
from . import ops
from . import optimizers as optimizers_mod
from .callbacks import CallbackList, History, ProgbarLogger
from .utils.progbar import Progbar
from .utils.seeding import rng


def _as_float_input(x, what="x"):
    """float32, C-contiguous, finite: the model's input, converted once."""
    if x is None:
        raise ValueError(f"{what} is required")
    if isinstance(x, (list, tuple)) and len(x) > 1 and all(isinstance(a, np.ndarray) for a in x):
        raise ValueError(f"{what}: a Sequential model takes one input array, got {len(x)}")
    if type(x) is np.ndarray and x.dtype == np.float32 and x.ndim and x.flags.c_contiguous:
        if not ops.all_finite(x):
            raise ValueError(f"{what} contains NaN or infinite values")
        return x
    try:
        arr = np.asarray(x)
    except ValueError as e:
        raise ValueError(f"{what}: cannot make an array of the input: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected numeric data, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.ndim == 0:
        raise ValueError(f"{what}: expected an array with a batch dimension, got a scalar")
    if not ops.all_finite(arr):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def _validate_now(freq, epoch):
    """Keras's validation_freq: every freq-th epoch, or the listed epochs."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


class TrainingMixin:
    """compile/fit/evaluate/predict for a model whose subclass provides
    ``layers`` (in order), ``_forward(x, training)``, ``_backward(g)`` and
    ``_ensure_built(input_shape)``."""

    # ---------------------------------------------------------- compile

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, **kwargs):
        if kwargs:
            raise TypeError(f"compile: unexpected argument(s) {', '.join(sorted(kwargs))}")
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mse'")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        self._metric_specs = list(metrics or [])
        for m in self._metric_specs:  # fail now on unknown names, not in fit
            metrics_mod.get(m, self.loss)
        self.compiled = True
        self.stop_training = False

    def _require_compiled(self, what):
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"You must call compile() before {what}: the model has no "
                               f"loss or optimizer yet")

    def _make_metrics(self):
        units = self._output_shape_full()[-1]
        return [metrics_mod.get(m, self.loss, units) for m in self._metric_specs]

    def _output_shape_full(self):
        return self.layers[-1].output_shape

    def _fusion(self):
        """How the loss meets the last layer: (fused, activation) where fused
        means y_pred is logits.  A softmax/sigmoid last layer followed by the
        matching cross-entropy hands the loss its logits (stable for any
        logits, and one pass instead of two)."""
        if self.loss.from_logits:
            return True, None
        last = self.layers[-1]
        act = getattr(last, "activation", None)
        if self.loss.fuses_activation is not None and act == self.loss.fuses_activation:
            return True, act
        return False, None

    # ------------------------------------------------------------- data

    def _prepare(self, x, y, sample_weight=None, class_weight=None, what="x"):
        x = _as_float_input(x, what)
        self._ensure_built((None,) + x.shape[1:])
        y = self.loss.prepare_targets(y, self._output_shape_full())
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x and y have different numbers of samples: {x.shape[0]} "
                             f"and {y.shape[0]}")
        w = None
        if sample_weight is not None:
            w = np.ascontiguousarray(sample_weight, dtype=np.float32).reshape(-1)
            if w.shape[0] != x.shape[0]:
                raise ValueError(f"sample_weight has {w.shape[0]} entries for "
                                 f"{x.shape[0]} samples")
        if class_weight is not None:
            labels = y if y.dtype == np.int32 else (
                np.argmax(y, axis=-1) if y.shape[-1] > 1 else (y[..., 0] > 0.5).astype(np.int32))
            labels = labels.reshape(labels.shape[0], -1)[:, 0]
            table = np.ones(int(max(class_weight.keys(), default=0)) + 1 if class_weight else 1,
                            np.float32)
            for k, v in class_weight.items():
                table[int(k)] = v
            cw = np.where(labels < table.size, table[np.minimum(labels, table.size - 1)], 1.0)
            w = cw.astype(np.float32) if w is None else (w * cw).astype(np.float32)
        return x, y, w

    # -------------------------------------------------------------- fit

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        self._require_compiled("fit()")
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"fit: batch_size must be >= 1, got {batch_size}")
        verbose = 1 if verbose == "auto" else int(verbose)
        x, y, w = self._prepare(x, y, sample_weight, class_weight)
        if validation_data is None and validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            # Keras holds out the last samples, before any shuffling.
            split = int(x.shape[0] * (1.0 - validation_split))
            val = (x[split:], y[split:], None if w is None else w[split:])
            x, y = x[:split], y[:split]
            w = None if w is None else w[:split]
        elif validation_data is not None:
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or "
                                 "(x_val, y_val, sample_weight)")
            val = self._prepare(*validation_data[:2], *validation_data[2:3], what="x_val")
        else:
            val = None
        n = x.shape[0]
        if n == 0:
            raise ValueError("fit: no training samples")
        steps = math.ceil(n / batch_size)
        if steps_per_epoch is not None:
            steps = int(steps_per_epoch)

        history = History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        cbs.append(history)
        cb = CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose,
                                      "batch_size": batch_size, "samples": n})
        self.history = history
        self.stop_training = False

        fused, logits_of = self._fusion()
        params, grads = self._flat_parameters()
        metrics = self._make_metrics()
        out_shape = self._output_shape_full()[1:]
        grad_buf = None
        xb_buf = np.empty((batch_size,) + x.shape[1:], np.float32)
        yb_buf = np.empty((batch_size,) + y.shape[1:], y.dtype)
        wb_buf = None if w is None else np.empty((batch_size,), np.float32)
        need_batch_logs = cb.has_on_train_batch_end

        self._set_emit_logits(logits_of is not None)
        cb.on_train_begin()
        cursor, order = n, None  # steps_per_epoch may span epochs of the data
        epoch = initial_epoch
        try:
            for epoch in range(initial_epoch, epochs):
                cb.on_epoch_begin(epoch)
                loss_sum, seen = 0.0, 0.0
                for m in metrics:
                    m.reset_state()
                for step in range(steps):
                    if cursor >= n:
                        order = rng().permutation(n) if shuffle else None
                        cursor = 0
                    end = min(cursor + batch_size, n)
                    bs = end - cursor
                    if order is None:
                        xb, yb = x[cursor:end], y[cursor:end]
                        wb = None if w is None else w[cursor:end]
                    else:
                        idx = order[cursor:end]
                        xb = ops.gather_rows(x, idx, xb_buf[:bs])
                        yb = ops.gather_rows(y, idx, yb_buf[:bs])
                        wb = None if w is None else ops.gather_rows(w, idx, wb_buf[:bs])
                    cursor = end
                    if cb.has_on_train_batch_begin:
                        cb.on_train_batch_begin(step)

                    out = self._forward(xb, True)
                    if grad_buf is None or grad_buf.shape[0] != bs:
                        grad_buf = np.empty((bs,) + out_shape, np.float32)
                    per = self.loss.compute(yb, out, wb, bs, grad_buf, fused)
                    self._backward(grad_buf)
                    self.optimizer.apply(params, grads)

                    loss_sum += float(per.sum() if wb is None else np.dot(per, wb))
                    seen += bs
                    for m in metrics:
                        m.update_state(yb, out, None, logits_of)  # unweighted, as Keras's metrics
                    if need_batch_logs:
                        logs = {"loss": loss_sum / seen}
                        for m in metrics:
                            logs[m.name] = m.result()
                        cb.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                logs = {"loss": loss_sum / max(seen, 1)}
                for m in metrics:
                    logs[m.name] = m.result()
                if val is not None and _validate_now(validation_freq, epoch):
                    self._set_emit_logits(False)
                    vlogs = self._evaluate_arrays(*val, validation_batch_size or batch_size,
                                                  validation_steps)
                    self._set_emit_logits(logits_of is not None)
                    logs.update({"val_" + k: v for k, v in vlogs.items()})
                cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            self._set_emit_logits(False)
        cb.on_train_end(logs if epochs > initial_epoch else None)
        return history

    def _set_emit_logits(self, flag):
        last = self.layers[-1]
        if hasattr(last, "emit_logits"):
            last.emit_logits = flag

    # --------------------------------------------------------- evaluate

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        self._require_compiled("evaluate()")
        x, y, w = self._prepare(x, y, sample_weight)
        verbose = 1 if verbose == "auto" else int(verbose)
        cb = CallbackList(callbacks or [], self, {"verbose": verbose})
        cb.on_test_begin()
        logs = self._evaluate_arrays(x, y, w, batch_size or 32, steps, verbose, cb)
        cb.on_test_end(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate_arrays(self, x, y, w, batch_size, steps=None, verbose=0, cb=None):
        metrics = self._make_metrics()
        n = x.shape[0]
        total_steps = math.ceil(n / batch_size)
        if steps is not None:
            total_steps = min(total_steps, int(steps))
        bar = Progbar(total_steps, verbose) if verbose else None
        loss_sum, seen = 0.0, 0.0
        for step in range(total_steps):
            s, e = step * batch_size, min((step + 1) * batch_size, n)
            if cb is not None:
                cb.on_test_batch_begin(step)
            out = self._forward(x[s:e], False)
            wb = None if w is None else w[s:e]
            per = self.loss.compute(y[s:e], out, wb, e - s, None, self.loss.from_logits)
            loss_sum += float(per.sum() if wb is None else np.dot(per, wb))
            seen += e - s  # Keras: sum(w * loss) / samples
            for m in metrics:
                m.update_state(y[s:e], out, None, None)
            logs = {"loss": loss_sum / max(seen, 1e-12)}
            for m in metrics:
                logs[m.name] = m.result()
            if cb is not None:
                cb.on_test_batch_end(step, logs)
            if bar:
                bar.update(step + 1, logs, finalize=step + 1 == total_steps)
        if seen == 0:
            logs = {"loss": 0.0, **{m.name: 0.0 for m in metrics}}
        return logs

    # ---------------------------------------------------------- predict

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x``, batch by batch.  A progress bar is shown
        (verbose='auto' or 1) when there is more than one batch."""
        x = _as_float_input(x)
        self._ensure_built((None,) + x.shape[1:])
        batch_size = 32 if batch_size is None else int(batch_size)
        n = x.shape[0]
        if n <= batch_size and not callbacks:
            return np.array(self._forward(x, False))
        cb = CallbackList(callbacks or [], self, {"verbose": verbose})
        total = math.ceil(n / batch_size)
        if steps is not None:
            total = min(total, int(steps))
        verbose = 1 if verbose == "auto" else int(verbose)
        bar = Progbar(total, verbose) if verbose and total > 1 else None
        out = None
        cb.on_predict_begin()
        for step in range(total):
            s, e = step * batch_size, min((step + 1) * batch_size, n)
            cb.on_predict_batch_begin(step)
            yb = self._forward(x[s:e], False)
            if out is None:
                out = np.empty((min(n, total * batch_size),) + yb.shape[1:], np.float32)
            out[s:e] = yb
            cb.on_predict_batch_end(step, {"outputs": out[s:e]})
            if bar:
                bar.update(step + 1, None, finalize=step + 1 == total)
        cb.on_predict_end()
        return out

    def predict_on_batch(self, x):
        x = _as_float_input(x)
        self._ensure_built((None,) + x.shape[1:])
        return np.array(self._forward(x, False))

    def __call__(self, x, training=False):
        x = _as_float_input(x)
        self._ensure_built((None,) + x.shape[1:])
        return np.array(self._forward(x, bool(training)))

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Class indices: argmax of a multi-class output, ``p > 0.5`` for a
        one-unit output (Keras 2's Sequential.predict_classes)."""
        p = self.predict(x, batch_size=batch_size, verbose=verbose)
        if p.shape[-1] > 1:
            return p.argmax(axis=-1)
        return (p > 0.5).astype(np.int32)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        self._require_compiled("train_on_batch()")
        x, y, w = self._prepare(x, y, sample_weight, class_weight)
        fused, logits_of = self._fusion()
        params, grads = self._flat_parameters()
        self._set_emit_logits(logits_of is not None)
        try:
            out = self._forward(x, True)
            grad = np.empty(out.shape, np.float32)
            per = self.loss.compute(y, out, w, x.shape[0], grad, fused)
            self._backward(grad)
            self.optimizer.apply(params, grads)
        finally:
            self._set_emit_logits(False)
        logs = {"loss": float(per.sum() if w is None else np.dot(per, w)) / x.shape[0]}
        for m in self._make_metrics():
            m.update_state(y, out, None, logits_of)
            logs[m.name] = m.result()
        return logs if return_dict else (list(logs.values()) if len(logs) > 1 else logs["loss"])

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        return self.evaluate(x, y, batch_size=max(len(x), 1), verbose=0,
                             sample_weight=sample_weight, return_dict=return_dict)

