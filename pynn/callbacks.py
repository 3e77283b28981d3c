"""Callbacks with Keras's hooks: the base class, the list that dispatches to
them, History and ProgbarLogger."""
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


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls every hook on each callback in order.  Batch hooks are skipped
    entirely when no callback overrides them, so the training loop pays
    nothing for them."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        for hook in _HOOKS:
            bound = [getattr(cb, hook) for cb in self.callbacks
                     if getattr(type(cb), hook) is not getattr(Callback, hook)]
            setattr(self, hook, _dispatch(bound) if bound else _noop)
            setattr(self, "has_" + hook, bool(bound))


def _noop(*args, **kwargs):
    pass


def _dispatch(bound):
    def call(*args, **kwargs):
        for fn in bound:
            fn(*args, **kwargs)
    return call


class History(Callback):
    """Records each epoch's logs: ``history.history['val_accuracy']``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class ProgbarLogger(Callback):
    """Prints the epoch header and the Keras-style progress bar."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", flush=True)
        self._bar = Progbar(self.params.get("steps"), verbose=self.verbose)

    def on_train_batch_end(self, batch, logs=None):
        self._bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._bar.update(self.params.get("steps"), logs, finalize=True)
