"""Losses with Keras's names.

The functions (``mean_squared_error(y_true, y_pred)``, ...) return one loss
per sample, as Keras's do; the classes reduce to the (weighted) mean.  Models
train through :meth:`Loss.compute`, which also writes the gradient and, where
the model's last layer applies a softmax or sigmoid, takes its logits and
fuses the two into one stable kernel.

A Python function ``loss=my_fn`` (``my_fn(y_true, y_pred)`` written with
pynn.ops, pynn.backend or NumPy operators) becomes a
:class:`LossFunctionWrapper`, whose gradient comes from differentiating the
function (pynn.autodiff).  The losses and their functions may also be
called on traced predictions inside such code (a custom layer's call).
"""
import warnings

import numpy as np

from . import autodiff, ops
from .tensor import eager
from .utils.custom_objects import deserialize_function, is_function_description, lookup, \
    serialize_function


class Reduction:
    """tf.keras 2's names for a loss's ``reduction`` (Keras 3 takes the
    strings): ``Loss(reduction=Reduction.NONE)`` gives one loss per
    sample, as a distributed training loop wants it."""
    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)


class Loss:
    """Base of the loss classes.  ``kind`` names the C kernel."""
    kind = None
    fused_kind = None       # the kernel that takes logits instead
    fuses_activation = None  # the output activation it can absorb
    sparse = False
    # The losses Keras computes by elementwise arithmetic: targets with a
    # last axis of 1 broadcast over the output's last axis, as in Keras.
    broadcast_targets = False

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None,
                 dtype=None):
        if reduction not in ("sum_over_batch_size", "auto", "sum", "none", None):
            raise ValueError(f"{type(self).__name__}: unknown reduction {reduction!r}")
        self.from_logits = bool(from_logits)
        self.reduction = reduction
        self.name = name or _CLASS_TO_NAME.get(type(self)) or "".join(
            "_" + c.lower() if c.isupper() else c for c in type(self).__name__).lstrip("_")

    def __init_subclass__(cls, **kwargs):
        # A subclass written as Keras's are (``call(y_true, y_pred)`` returning
        # per-sample values) trains as a loss function does: differentiated.
        # So does one that overrides ``__call__(y_true, y_pred,
        # sample_weight=None)`` itself (keras.io's SupervisedContrastiveLoss),
        # whose targets need not have the output's shape.
        super().__init_subclass__(**kwargs)
        overrides_call = "__call__" in cls.__dict__
        if ("call" in cls.__dict__ or overrides_call) and \
                not issubclass(cls, LossFunctionWrapper):
            cls.kind = None
            for method in ("prepare_targets", "compute", "per_sample", "_unreduced"):
                if method not in cls.__dict__:
                    setattr(cls, method, _CALL_METHODS[method])
            if "_call_fn" not in cls.__dict__:
                cls._call_fn = (lambda self, y_true, y_pred: self(eager(y_true), eager(y_pred))) \
                    if overrides_call else \
                    (lambda self, y_true, y_pred: self.call(eager(y_true), eager(y_pred)))

    # --------------------------------------------------------- for users

    def __call__(self, y_true, y_pred, sample_weight=None):
        if ops._SYMBOLIC and any(isinstance(v, ops._SYMBOLIC[0]) for v in (y_true, y_pred)):
            return self._symbolic_call(y_true, y_pred, sample_weight)
        if self.kind is None and any(isinstance(v, (list, tuple, dict)) for v in (y_true, y_pred)):
            # a formula over structures (GauGAN's feature matching of a
            # discriminator's outputs): its arguments as given
            return self._reduce(self._unreduced(y_true, y_pred, traced=True), sample_weight)
        if autodiff.any_traced((autodiff.resolve(y_pred), autodiff.resolve(y_true))):
            return self._traced_call(y_true, y_pred, sample_weight)
        y_pred = np.asarray(y_pred, dtype=np.float32)
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
            y_true = np.asarray(y_true).reshape(-1, 1) if not self.sparse else y_true
        y_true = self.prepare_targets(y_true, y_pred.shape)
        values = np.asarray(self._unreduced(y_true, y_pred, traced=False), np.float32)
        sample_weight = self._masked_weight(y_true, sample_weight)
        if sample_weight is not None:
            values = values * _weight_like(sample_weight, values.ndim)
        # (tensors, as Keras's losses give: ``loss_object(y, p).numpy()``)
        if self.reduction in ("none", None):
            return eager(values)
        if self.reduction == "sum":
            return eager(np.float32(values.sum()))
        return eager(np.float32(values.sum() / max(values.size, 1)))

    def _symbolic_call(self, y_true, y_pred, sample_weight):
        """The loss of symbolic tensors (Keras 2's VAE: ``binary_crossentropy(
        inputs, outputs)`` given to ``model.add_loss``): a Lambda layer
        computing it, so it predicts and trains in the graph."""
        from .layers import Lambda
        from .layers.base import unique_name
        symbolic = [isinstance(v, ops._SYMBOLIC[0]) for v in (y_true, y_pred)]
        tensors = [v for v, s in zip((y_true, y_pred), symbolic) if s]

        def loss_of(inputs):
            given = iter(inputs if isinstance(inputs, list) else [inputs])
            yt, yp = (next(given) if s else v for v, s in zip((y_true, y_pred), symbolic))
            return self(yt, yp, sample_weight)
        return Lambda(loss_of, name=unique_name(self.name))(
            tensors if len(tensors) > 1 else tensors[0])

    def _traced_call(self, y_true, y_pred, sample_weight):
        """__call__ on traced predictions: the same values, recorded."""
        y_pred = autodiff.resolve(y_pred)
        traced_true = autodiff.any_traced((autodiff.resolve(y_true),))
        if self.kind is None and traced_true:
            # A loss computed by its formula (a call() or a function) whose
            # first argument is traced too (GauGAN's hinge of a
            # discriminator's output): both as given, as Keras's.
            values = self._unreduced(y_true, y_pred, traced=True)
        elif traced_true and self.kind in _ERROR_FORMULAS:
            # traced targets (a curve fitted as mse(a * x**b, data)): the
            # formula, differentiated with respect to both arguments
            values = _ERROR_FORMULAS[self.kind](ops.subtract(y_pred, y_true))
        else:
            if y_pred.ndim == 1:
                y_pred = ops.reshape(y_pred, (-1, 1))
                if not self.sparse:
                    y_true = np.asarray(autodiff.value_of(y_true)).reshape(-1, 1)
            y_true = self.prepare_targets(autodiff.value_of(y_true), y_pred.shape)
            values = self._unreduced(y_true, y_pred, traced=True)
            sample_weight = self._masked_weight(y_true, sample_weight)
        return self._reduce(values, sample_weight)

    def value_mask(self, y_true):
        """Which loss values count, by the prepared targets (False where a
        target is to be ignored: SparseCategoricalCrossentropy's
        ignore_class); None where all do."""
        return None

    def _masked_weight(self, y_true, sample_weight):
        """``sample_weight`` with the value mask applied as Keras applies a
        mask to loss values: masked values weigh 0 and, for a mean, the
        others ``total / valid``, so the mean runs over the valid ones."""
        mask = self.value_mask(y_true)
        if mask is None:
            return sample_weight
        keep = np.asarray(mask, np.float32)
        if self.reduction in ("sum_over_batch_size", "auto"):
            valid = float(keep.sum())
            keep = keep * (keep.size / valid if valid else 0.0)
        if sample_weight is None:
            return keep
        return keep * _weight_like(sample_weight, keep.ndim)

    def _reduce(self, values, sample_weight):
        """Unreduced values (traced or not) weighted and reduced."""
        if sample_weight is not None:
            values = ops.multiply(values, _weight_like(sample_weight, ops.ndim(values)))
        if self.reduction in ("none", None):
            return values
        if self.reduction == "sum":
            return ops.sum(values)
        return ops.divide(ops.sum(values), float(max(ops.size(values), 1)))

    def _unreduced(self, y_true, y_pred, traced):
        """The values a call reduces, shaped as Keras's: one per sample and
        position (the prediction's shape without its last axis)."""
        if traced:
            per = self.per_sample(y_true, y_pred)
            return ops.reshape(per, y_pred.shape[:-1]) if y_pred.ndim > 2 else per
        per = self.compute(y_true, y_pred, fused=self.from_logits)
        return per.reshape(y_pred.shape[:-1]) if y_pred.ndim > 2 else per

    def per_sample(self, y_true, y_pred):
        """Per-sample losses of arrays prepared as for compute (traced
        predictions included)."""
        return ops.loss(self.fused_kind if self.from_logits else self.kind, y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ------------------------------------------------------ for training

    def prepare_targets(self, y, output_shape, where="the model's output"):
        """Convert and check targets once per fit/evaluate: float32 of the
        output's shape."""
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: targets must be numeric, got dtype {y.dtype}")
        y = np.ascontiguousarray(y, dtype=np.float32)
        want = tuple(output_shape[1:])
        if y.ndim == len(want) and want[-1] == 1:
            y = y.reshape(y.shape + (1,))
        if self.broadcast_targets and y.ndim == len(want) + 1:
            # Keras broadcasts the targets against the output in the
            # elementwise losses: a (batch, 1) column over a wider output,
            # one value per sample against a sequence output (a forecaster
            # whose last layers keep the time axis) at every step
            full = tuple(w if n == 1 and w is not None else n for n, w in zip(y.shape[1:], want))
            if full != y.shape[1:] and all(w is None or n == w for n, w in zip(full, want)):
                y = np.ascontiguousarray(np.broadcast_to(y, y.shape[:1] + full))
        # An axis of unknown size (a sequence of any length) takes any.
        if y.ndim != len(want) + 1 or any(w is not None and w != n
                                           for n, w in zip(y.shape[1:], want)):
            hint = ""
            if self.kind == "categorical_crossentropy" and y.ndim == 1:
                hint = (" The targets look like integer class labels: use "
                        "loss='sparse_categorical_crossentropy' or one-hot encode them with "
                        "pynn.utils.to_categorical.")
            raise ValueError(f"{self.name}: targets of shape {y.shape} do not match "
                             f"{where} of shape {(None,) + want}.{hint}")
        if not ops.all_finite(y):
            raise ValueError(f"{self.name}: targets contain NaN or infinite values")
        return y

    def compute(self, y_true, y_pred, sample_weight=None, scale=None, grad=None, fused=False):
        """Per-sample losses; with ``grad``, also the gradient of
        ``sum(w * loss) / scale`` w.r.t. ``y_pred`` (the logits when fused)."""
        kind = self.fused_kind if fused else self.kind
        if self.broadcast_targets and type(y_true) is np.ndarray and \
                type(y_pred) is np.ndarray and y_true.shape != y_pred.shape and \
                y_true.shape[-1:] == (1,) and y_true.shape[:-1] == y_pred.shape[:-1]:
            # (an output wider than the shape its model was built to give: a
            # custom call of a Dense subclass, say)
            y_true = np.ascontiguousarray(np.broadcast_to(y_true, y_pred.shape))
        return ops.loss(kind, y_true, y_pred, sample_weight, scale, grad)


class MeanSquaredError(Loss):
    kind = "mean_squared_error"
    broadcast_targets = True


class MeanAbsoluteError(Loss):
    kind = "mean_absolute_error"
    broadcast_targets = True


class _SmoothedLabels(Loss):
    """Keras's ``label_smoothing``: the targets are pulled toward the
    uniform distribution, ``y * (1 - s) + s / n`` (``n`` the classes, 2 for
    a binary loss), before the loss is taken; the metrics see them as given."""
    smoothing_classes = None  # None: the size of the last axis

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        who = type(self).__name__
        # Binary: the axes the per-element losses are averaged over (a VAE's
        # reconstruction term takes axis=(1, 2, 3)); categorical: the last.
        binary = self.smoothing_classes == 2
        _check_label_smoothing(who, label_smoothing, -1 if binary else axis)
        if binary:
            axis = _check_axis(who, axis)
        super().__init__(from_logits, reduction, name, dtype)
        self.label_smoothing, self.axis = float(label_smoothing), axis

    def _smoothed(self, y_true):
        if not self.label_smoothing:
            return y_true
        return _smooth_labels(y_true, self.label_smoothing, self.smoothing_classes)

    def compute(self, y_true, y_pred, sample_weight=None, scale=None, grad=None, fused=False):
        return super().compute(self._smoothed(y_true), y_pred, sample_weight, scale, grad, fused)

    def _unreduced(self, y_true, y_pred, traced):
        ndim = len(y_pred.shape)
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if any(not -ndim <= a < ndim for a in axes):
            raise ValueError(f"{self.name}: axis={self.axis!r} is out of range for "
                             f"predictions of shape {tuple(y_pred.shape)}")
        axes = tuple(sorted(a % ndim for a in axes))
        if axes == (ndim - 1,):
            return super()._unreduced(y_true, y_pred, traced)
        # each element its own one-class position, then the mean over the axes
        y_true = np.asarray(autodiff.value_of(y_true))[..., None]
        values = super()._unreduced(y_true, ops.expand_dims(y_pred, -1), traced)
        return ops.mean(values, axis=axes)

    def per_sample(self, y_true, y_pred):
        return super().per_sample(self._smoothed(y_true), y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class BinaryCrossentropy(_SmoothedLabels):
    kind = "binary_crossentropy"
    fused_kind = "sigmoid_crossentropy"
    fuses_activation = "sigmoid"
    smoothing_classes = 2
    # Targets outside [0, 1] are scored by the same formula, as Keras does:
    # GANs train on labels with added noise (1 + 0.05 * uniform).


class CategoricalCrossentropy(_SmoothedLabels):
    kind = "categorical_crossentropy"
    fused_kind = "softmax_crossentropy"
    fuses_activation = "softmax"


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy of integer class labels.  ``ignore_class``: a label
    value (a segmentation's 255 or -1 "void") whose positions have no loss
    and no gradient; the mean runs over the others, as in Keras."""
    kind = "sparse_categorical_crossentropy"
    fused_kind = kind
    fuses_activation = "softmax"
    sparse = True

    def __init__(self, from_logits=False, ignore_class=None,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(from_logits, reduction, name, dtype)
        if ignore_class is not None:
            if isinstance(ignore_class, bool) or \
                    not float(ignore_class).is_integer():
                raise ValueError(f"SparseCategoricalCrossentropy: ignore_class must be an "
                                 f"integer label or None, got {ignore_class!r}")
            ignore_class = int(ignore_class)
        self.ignore_class = ignore_class

    def get_config(self):
        return {**super().get_config(), "ignore_class": self.ignore_class}

    def value_mask(self, y_true):
        if self.ignore_class is None:
            return None
        return self._kept_labels(y_true)[1].reshape(np.shape(y_true))

    def _kept_labels(self, y_true):
        """The labels with the ignored ones as class 0 (their values are
        zeroed after) and the mask of the others, flat; (labels, None)
        without ignore_class."""
        if self.ignore_class is None:
            return y_true, None
        labels = y_true.to_numpy() if hasattr(y_true, "to_numpy") else \
            np.asarray(autodiff.value_of(y_true))  # (a GPU batch's labels, read back)
        keep = (labels != self.ignore_class).reshape(-1)
        return np.where(keep, labels.reshape(-1), 0).astype(np.int32), keep

    def prepare_targets(self, y, output_shape, where="the model's output"):
        y = np.asarray(y)
        classes = output_shape[-1]
        if y.ndim == len(output_shape) and y.shape[-1] == 1:
            y = y.reshape(y.shape[:-1])
        if y.ndim != len(output_shape) - 1:
            hint = (" The targets look one-hot encoded: use loss='categorical_crossentropy'."
                    if y.ndim == len(output_shape) and y.shape[-1] == classes else "")
            raise ValueError(f"{self.name}: expected integer class labels of shape "
                             f"{(None,) + tuple(output_shape[1:-1])}, got targets of shape "
                             f"{y.shape} for {where} of shape "
                             f"{(None,) + tuple(output_shape[1:])}.{hint}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)):
                raise ValueError(f"{self.name}: labels contain NaN or infinite values")
            fraction = y != np.trunc(y)
            if fraction.any():
                # Keras casts the labels to integers on every backend,
                # truncating: a segmentation mask resized with bilinear
                # interpolation holds 1.5 where classes 1 and 2 meet, and
                # that pixel trains as class 1
                warnings.warn(f"{self.name}: labels that are not whole numbers are truncated "
                              f"to integers, as Keras casts them", stacklevel=2)
                y = np.trunc(y)
        elif y.dtype.kind not in "biu":
            raise TypeError(f"{self.name}: labels must be integers, got dtype {y.dtype}")
        counted = y if self.ignore_class is None else y[y != self.ignore_class]
        if counted.size and (counted.min() < 0 or counted.max() >= classes):
            ignored = "" if self.ignore_class is None else \
                f" (besides ignore_class={self.ignore_class})"
            raise ValueError(f"{self.name}: labels must be in [0, {classes}){ignored} for an "
                             f"output of {classes} classes, got values from {counted.min()} "
                             f"to {counted.max()}")
        return np.ascontiguousarray(y, dtype=np.int32)

    def compute(self, y_true, y_pred, sample_weight=None, scale=None, grad=None, fused=False):
        if y_pred.ndim > 2:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
        if grad is not None and grad.ndim > 2:  # a view: the gradient lands in grad
            grad = grad.reshape(-1, grad.shape[-1])
        labels, keep = self._kept_labels(y_true)
        if keep is not None and not keep.all() and type(y_pred) is not np.ndarray:
            # a GPU batch: its labels, the ignored ones made class 0, go back
            # there; the training step's weights mask those positions
            y_true = type(y_pred).from_numpy(labels, y_pred.device)
        elif keep is not None and not keep.all():
            # the ignored positions weigh 0: no loss, no gradient (the
            # training step's weights already mask them; a direct call's
            # may not)
            y_true = labels
            w = np.ones(keep.size, np.float32) if sample_weight is None else \
                np.broadcast_to(np.asarray(sample_weight, np.float32).reshape(-1), keep.shape)
            sample_weight = np.ascontiguousarray(w * keep)
            per = ops.sparse_loss(y_true, y_pred, from_logits=fused,
                                  sample_weight=sample_weight, scale=scale, grad=grad)
            return per * keep
        return ops.sparse_loss(y_true, y_pred, from_logits=fused, sample_weight=sample_weight,
                               scale=scale, grad=grad)

    def per_sample(self, y_true, y_pred):
        if y_pred.ndim > 2:
            y_pred = ops.reshape(y_pred, (-1, y_pred.shape[-1]))
        y_true, keep = self._kept_labels(y_true)
        per = ops.sparse_loss(y_true, y_pred, from_logits=self.from_logits)
        return per if keep is None else ops.multiply(per, keep.astype(np.float32))


class LossFunctionWrapper(Loss):
    """A loss function ``fn(y_true, y_pred, **kwargs)`` written with
    pynn.ops, pynn.backend or NumPy operators.  It returns one value per
    sample (values with the batch first are averaged over the other axes)
    or a scalar; training differentiates it with respect to ``y_pred``.
    Targets are passed as float32 arrays, with the output's rank where the
    output has one unit."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        if not callable(fn):
            fn = deserialize_function(fn, f"loss {name!r}")
        self.fn = fn
        self.fn_kwargs = kwargs
        super().__init__(reduction=reduction,
                         name=name or getattr(fn, "__name__", type(fn).__name__))

    def _call_fn(self, y_true, y_pred):
        # (a program's function gets tensors, whose in-place operators
        # make new ones: ``offset *= mask`` never writes into the targets)
        return self.fn(eager(y_true), eager(y_pred), **self.fn_kwargs)

    def _unreduced(self, y_true, y_pred, traced):
        # the function's values as it returns them, as Keras reduces them
        return self._call_fn(y_true, y_pred)

    def prepare_targets(self, y, output_shape, where="the model's output"):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: targets must be numeric, got dtype {y.dtype}")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if y.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
            y = y.reshape(y.shape + (1,))
        if not ops.all_finite(y):
            raise ValueError(f"{self.name}: targets contain NaN or infinite values")
        return y

    def compute(self, y_true, y_pred, sample_weight=None, scale=None, grad=None, fused=False):
        return autodiff.loss_values(self._call_fn, f"loss {self.name!r}", y_true, y_pred,
                                    sample_weight, scale, grad)

    def per_sample(self, y_true, y_pred):
        values = self._call_fn(y_true, y_pred)
        if ops.ndim(values) == 0:
            return ops.multiply(values, np.ones(ops.shape(y_pred)[0], np.float32))
        if ops.ndim(values) == 1:
            return values
        return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction,
                "fn": serialize_function(self.fn), **self.fn_kwargs}


_CALL_METHODS = {m: getattr(LossFunctionWrapper, m)
                 for m in ("prepare_targets", "compute", "per_sample", "_unreduced")}


class _FormulaLoss(LossFunctionWrapper):
    """A Keras loss with no kernel of its own: its formula is written with
    pynn.ops (``_formula(y_true, y_pred)``, per-sample values) and trained
    by differentiating it."""

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(self._formula, reduction=reduction,
                         name=name or _CLASS_TO_NAME[type(self)])

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


_ERROR_FORMULAS = {
    "mean_squared_error": lambda error: ops.mean(ops.square(error), axis=-1),
    "mean_absolute_error": lambda error: ops.mean(ops.abs(error), axis=-1),
}


def _weight_like(sample_weight, ndim):
    """Sample weights as Keras applies them to loss values of rank
    ``ndim``: trailing axes of one added (per-sample weights scale every
    position of a sample), a trailing axis of one dropped."""
    w = np.asarray(autodiff.value_of(sample_weight), np.float32)
    while w.ndim > ndim and w.shape[-1] == 1:
        w = w[..., 0]
    return w.reshape(w.shape + (1,) * (ndim - w.ndim)) if w.ndim < ndim else w


def _last_axis_mean(values):
    return ops.mean(values, axis=-1)


class Huber(_FormulaLoss):
    """Squared error below ``delta``, linear above (Keras's ``huber``)."""
    broadcast_targets = True

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        self.delta = float(delta)
        super().__init__(reduction, name)

    def _formula(self, y_true, y_pred):
        error = ops.abs(ops.subtract(y_pred, y_true))
        small = ops.minimum(error, self.delta)
        return _last_axis_mean(ops.add(ops.multiply(ops.square(small), 0.5),
                                       ops.multiply(ops.subtract(error, small), self.delta)))

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class MeanAbsolutePercentageError(_FormulaLoss):
    broadcast_targets = True

    def _formula(self, y_true, y_pred):
        scale = np.maximum(np.abs(np.asarray(y_true, np.float32)), 1e-7)
        return ops.multiply(_last_axis_mean(ops.abs(ops.divide(ops.subtract(y_true, y_pred),
                                                               scale))), 100.0)


class MeanSquaredLogarithmicError(_FormulaLoss):
    broadcast_targets = True

    def _formula(self, y_true, y_pred):
        first = ops.log(ops.add(ops.maximum(y_pred, 1e-7), 1.0))
        second = np.log(np.maximum(np.asarray(y_true, np.float32), 1e-7) + 1.0)
        return _last_axis_mean(ops.square(ops.subtract(first, second)))


class Hinge(_FormulaLoss):
    """``max(1 - y_true * y_pred, 0)`` with 0/1 labels taken as -1/1."""
    broadcast_targets = True

    def _formula(self, y_true, y_pred):
        y = np.asarray(y_true, np.float32)
        y = np.where((y == 0) | (y == 1), 2 * y - 1, y)
        return _last_axis_mean(ops.maximum(ops.subtract(1.0, ops.multiply(y, y_pred)), 0.0))


class SquaredHinge(Hinge):
    def _formula(self, y_true, y_pred):
        y = np.asarray(y_true, np.float32)
        y = np.where((y == 0) | (y == 1), 2 * y - 1, y)
        return _last_axis_mean(ops.square(
            ops.maximum(ops.subtract(1.0, ops.multiply(y, y_pred)), 0.0)))


class KLDivergence(_FormulaLoss):
    def _formula(self, y_true, y_pred):
        y = np.clip(np.asarray(y_true, np.float32), 1e-7, 1)
        return ops.sum(ops.multiply(y, ops.subtract(np.log(y),
                                                    ops.log(ops.clip(y_pred, 1e-7, 1)))),
                       axis=-1)


class Poisson(_FormulaLoss):
    broadcast_targets = True

    def _formula(self, y_true, y_pred):
        return _last_axis_mean(ops.subtract(y_pred, ops.multiply(
            y_true, ops.log(ops.add(y_pred, 1e-7)))))


class LogCosh(_FormulaLoss):
    broadcast_targets = True

    def _formula(self, y_true, y_pred):
        x = ops.subtract(y_pred, y_true)
        # log(cosh(x)) = x + softplus(-2x) - log(2), stable for large |x|
        return _last_axis_mean(ops.subtract(ops.add(x, ops.softplus(ops.multiply(x, -2.0))),
                                            float(np.log(2.0))))


class CategoricalHinge(_FormulaLoss):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``
    over the classes (one-hot targets)."""

    def _formula(self, y_true, y_pred):
        y = np.asarray(y_true, np.float32)
        positive = ops.sum(ops.multiply(y, y_pred), axis=-1)
        negative = ops.max(ops.multiply(1.0 - y, y_pred), axis=-1)
        return ops.maximum(ops.add(ops.subtract(negative, positive), 1.0), 0.0)


class CosineSimilarity(_FormulaLoss):
    """Minus the cosine of the angle between targets and predictions along
    ``axis`` (-1 where they point the same way)."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None, dtype=None):
        self.axis = axis
        super().__init__(reduction, name)

    def _formula(self, y_true, y_pred):
        y = np.asarray(y_true, np.float32)
        norm = np.sqrt((y * y).sum(axis=self.axis, keepdims=True))
        y = y / np.where(norm == 0, np.float32(1), norm)
        return ops.negative(ops.sum(ops.multiply(y, ops.l2_normalize(y_pred, axis=self.axis)),
                                    axis=self.axis))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _smooth_labels(y_true, smoothing, classes=None):
    """Keras's ``label_smoothing``: targets pulled toward the uniform
    distribution, ``y * (1 - s) + s / n`` (``n`` the classes, the last
    axis's size unless given; 2 for a binary loss), as float32."""
    y = np.asarray(y_true, np.float32)
    if not smoothing:
        return y
    return y * np.float32(1.0 - smoothing) + np.float32(smoothing / (classes or y.shape[-1]))


def _check_finite_numbers(who, **values):
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or \
                not np.isfinite(value):
            raise ValueError(f"{who}: {key} must be a finite number, got {value!r}")


def _check_label_smoothing(who, label_smoothing, axis):
    _check_finite_numbers(who, label_smoothing=label_smoothing)
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if axis != -1:
        raise ValueError(f"{who}: pynn takes the classes on the last axis (axis=-1), got "
                         f"axis={axis!r}")


def _check_axis(who, axis):
    """``axis`` as an int or a tuple of ints."""
    if isinstance(axis, (list, tuple)) and axis and \
            all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
        return tuple(int(a) for a in axis) if len(axis) > 1 else int(axis[0])
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return int(axis)
    raise ValueError(f"{who}: axis must be an int or a tuple of ints, got {axis!r}")


def _check_focal_arguments(who, alpha, gamma, label_smoothing, axis):
    _check_finite_numbers(who, alpha=alpha, gamma=gamma)
    if gamma < 0:
        raise ValueError(f"{who}: gamma must be >= 0, got {gamma!r}")
    _check_label_smoothing(who, label_smoothing, axis)


class BinaryFocalCrossentropy(_FormulaLoss):
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma`` (Lin et al.,
    "Focal Loss for Dense Object Detection"), so that well classified
    examples weigh less; with ``apply_class_balancing``, positives are
    weighted by ``alpha`` and negatives by ``1 - alpha``."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None,
                 dtype=None):
        _check_focal_arguments(type(self).__name__, alpha, gamma, label_smoothing, axis)
        super().__init__(reduction, name)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), \
            float(label_smoothing), axis

    def _formula(self, y_true, y_pred):
        y = _smooth_labels(y_true, self.label_smoothing, 2)
        if self.from_logits:
            y_pred = ops.sigmoid(y_pred)
        clipped = ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
        bce = ops.negative(ops.add(ops.multiply(y, ops.log(clipped)),
                                   ops.multiply(1.0 - y, ops.log(ops.subtract(1.0, clipped)))))
        # 1 - p_t, with p_t the probability given to the true class
        miss = ops.subtract(1.0, ops.add(ops.multiply(y, y_pred),
                                         ops.multiply(1.0 - y, ops.subtract(1.0, y_pred))))
        focal = ops.multiply(ops.power(miss, self.gamma), bce)
        if self.apply_class_balancing:
            focal = ops.multiply(y * np.float32(self.alpha) + (1.0 - y) * np.float32(
                1.0 - self.alpha), focal)
        return _last_axis_mean(focal)

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class CategoricalFocalCrossentropy(_FormulaLoss):
    """Categorical crossentropy with each class's term scaled by
    ``alpha * (1 - p) ** gamma`` (Lin et al.), for one-hot targets."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        _check_focal_arguments(type(self).__name__, alpha, gamma, label_smoothing, axis)
        super().__init__(reduction, name)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), \
            float(label_smoothing), axis

    def _formula(self, y_true, y_pred):
        y = _smooth_labels(y_true, self.label_smoothing)
        if self.from_logits:
            y_pred = ops.softmax(y_pred, axis=-1)
        output = ops.divide(y_pred, ops.sum(y_pred, axis=-1, keepdims=True))
        output = ops.clip(output, _EPSILON, 1.0 - _EPSILON)
        cce = ops.multiply(-y, ops.log(output))
        weight = ops.multiply(ops.power(ops.subtract(1.0, output), self.gamma), self.alpha)
        return ops.sum(ops.multiply(weight, cce), axis=-1)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


_EPSILON = 1e-7


_NAME_TO_CLASS = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "huber": Huber, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "kl_divergence": KLDivergence,
    "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,  # Keras 2's name
    "poisson": Poisson, "log_cosh": LogCosh,
    "logcosh": LogCosh, "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity, "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
}
_CLASS_TO_NAME = {MeanSquaredError: "mean_squared_error", MeanAbsoluteError: "mean_absolute_error",
                  BinaryCrossentropy: "binary_crossentropy",
                  CategoricalCrossentropy: "categorical_crossentropy",
                  SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
                  Huber: "huber", MeanAbsolutePercentageError: "mean_absolute_percentage_error",
                  MeanSquaredLogarithmicError: "mean_squared_logarithmic_error",
                  Hinge: "hinge", SquaredHinge: "squared_hinge", KLDivergence: "kl_divergence",
                  Poisson: "poisson", LogCosh: "log_cosh", CategoricalHinge: "categorical_hinge",
                  CosineSimilarity: "cosine_similarity",
                  BinaryFocalCrossentropy: "binary_focal_crossentropy",
                  CategoricalFocalCrossentropy: "categorical_focal_crossentropy"}


_BY_CLASS_NAME = {c.__name__: c for c in _CLASS_TO_NAME}


def _per_sample_of(loss, y_true, y_pred):
    """``loss`` (reduction "none") of each sample; Keras's function forms
    reduce the last axis, so a 1-D pair (Keras 2's VAE: the flattened
    batch) is one sample and its loss a scalar."""
    rank = y_pred.ndim if hasattr(y_pred, "ndim") else np.ndim(y_pred)
    if rank == 1:
        true_shape = tuple(y_true.shape) if hasattr(y_true, "shape") else np.shape(y_true)
        if len(true_shape) == 2 and true_shape[-1] == 1:
            # a (batch, 1) column of targets against (batch,) predictions:
            # Keras 3 gives the predictions the column's axis, one loss per
            # sample (tf.keras 2 broadcast the pair to (batch, batch))
            return loss(y_true, ops.reshape(y_pred, (-1, 1)))
        return loss(ops.reshape(y_true, (1, -1)), ops.reshape(y_pred, (1, -1)))[0]
    return loss(y_true, y_pred)


def _per_sample(cls):
    def fn(y_true, y_pred, from_logits=False, **kwargs):
        return _per_sample_of(cls(from_logits=from_logits, reduction="none", **kwargs),
                              y_true, y_pred)
    fn.__name__ = _CLASS_TO_NAME[cls]
    fn.__doc__ = f"Per-sample {fn.__name__.replace('_', ' ')} (Keras's function form)."
    fn._loss_class = cls
    return fn


mean_squared_error = mse = MSE = _per_sample(MeanSquaredError)
mean_absolute_error = mae = MAE = _per_sample(MeanAbsoluteError)
binary_crossentropy = _per_sample(BinaryCrossentropy)
categorical_crossentropy = _per_sample(CategoricalCrossentropy)
sparse_categorical_crossentropy = _per_sample(SparseCategoricalCrossentropy)


def _formula_per_sample(cls):
    def fn(y_true, y_pred, **kwargs):
        return _per_sample_of(cls(reduction="none", **kwargs), y_true, y_pred)
    fn.__name__ = _CLASS_TO_NAME[cls]
    fn.__doc__ = f"Per-sample {fn.__name__.replace('_', ' ')} (Keras's function form)."
    fn._loss_class = cls
    return fn


mean_absolute_percentage_error = mape = MAPE = _formula_per_sample(MeanAbsolutePercentageError)
mean_squared_logarithmic_error = msle = MSLE = _formula_per_sample(MeanSquaredLogarithmicError)
hinge = _formula_per_sample(Hinge)
squared_hinge = _formula_per_sample(SquaredHinge)
kl_divergence = kld = KLD = kullback_leibler_divergence = _formula_per_sample(KLDivergence)
poisson = _formula_per_sample(Poisson)
log_cosh = logcosh = _formula_per_sample(LogCosh)
huber = _formula_per_sample(Huber)
categorical_hinge = _formula_per_sample(CategoricalHinge)
cosine_similarity = _formula_per_sample(CosineSimilarity)
binary_focal_crossentropy = _formula_per_sample(BinaryFocalCrossentropy)
categorical_focal_crossentropy = _formula_per_sample(CategoricalFocalCrossentropy)


# Keras 3's losses written as functions of pynn.ops (NumPy and traced
# arrays alike), each also a class that trains by differentiating it.

def ctc(y_true, y_pred):
    """CTC loss per sample, as Keras's: ``y_true`` integer labels (batch,
    max_length) padded with 0, the blank class; ``y_pred`` logits (batch,
    steps, classes).  Every step counts."""
    y_pred = autodiff.resolve(y_pred)
    if len(ops.shape(y_true)) != 2:
        raise ValueError(f"ctc: targets y_true must be integer labels of shape (batch_size, "
                         f"max_length), got shape {ops.shape(y_true)}")
    if len(ops.shape(y_pred)) != 3:
        raise ValueError(f"ctc: logits y_pred must be of shape (batch_size, max_length, "
                         f"num_classes), got shape {ops.shape(y_pred)}")
    labels = np.asarray(autodiff.value_of(y_true))
    batch, steps = ops.shape(y_pred)[:2]
    return ops.ctc_loss(labels, y_pred, np.sum(labels != 0, axis=-1),
                        np.full(batch, steps), mask_index=0)


def dice(y_true, y_pred, axis=None):
    """``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))`` over
    ``axis`` (None: everything)."""
    axis = _axis_tuple(axis)
    intersection = ops.sum(ops.multiply(y_true, y_pred), axis=axis)
    total = ops.add(ops.add(ops.sum(y_true, axis=axis), ops.sum(y_pred, axis=axis)), _EPSILON)
    return ops.subtract(1.0, ops.divide(ops.multiply(intersection, 2.0), total))


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha * FP + beta * FN)`` over ``axis`` (Salehi et
    al.), with Keras's reading of FP and FN."""
    axis = _axis_tuple(axis)
    intersection = ops.sum(ops.multiply(y_true, y_pred), axis=axis)
    fp = ops.sum(ops.multiply(ops.subtract(1.0, y_pred), y_true), axis=axis)
    fn = ops.sum(ops.multiply(y_pred, ops.subtract(1.0, y_true)), axis=axis)
    denominator = ops.add(ops.add(ops.add(intersection, ops.multiply(fp, float(alpha))),
                                  ops.multiply(fn, float(beta))), _EPSILON)
    return ops.subtract(1.0, ops.divide(intersection, denominator))


def _axis_tuple(axis):
    return tuple(axis) if isinstance(axis, list) else axis


# Stands for minus infinity in Circle's log-sum-exps: exp of it is 0 as
# exp(-inf) is, but a row with nothing to sum keeps a finite gradient.
_NO_PAIR = -1e30


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True,
           gamma=80, margin=0.4):
    """Circle loss per sample (Sun et al.): ``y_pred`` L2-normalized
    embeddings, ``y_true`` their integer labels; pairs of one label pull
    together, of different labels push apart, against the references (the
    batch itself by default)."""
    labels = np.asarray(autodiff.value_of(y_true)).astype(np.int64).reshape(-1)
    if ops.ndim(y_pred) != 2 or ops.shape(y_pred)[0] != labels.size:
        raise ValueError(f"circle: y_pred must be embeddings of shape ({labels.size}, dims) "
                         f"for {labels.size} labels, got shape {ops.shape(y_pred)}")
    references = y_pred if ref_embeddings is None else ref_embeddings
    ref = labels if ref_labels is None else \
        np.asarray(autodiff.value_of(ref_labels)).astype(np.int64).reshape(-1)
    positive = labels[:, None] == ref[None, :]
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~np.eye(labels.size, ref.size, dtype=bool)
    distances = ops.maximum(ops.subtract(1.0, ops.matmul(y_pred, ops.transpose(references))),
                            0.0)
    gamma, margin = float(gamma), float(margin)
    pos_weights = ops.maximum(ops.multiply(ops.add(distances, margin), positive), 0.0)
    neg_weights = ops.maximum(ops.multiply(ops.subtract(1.0 + margin, distances), negative),
                              0.0)
    pos = ops.multiply(ops.multiply(pos_weights, ops.subtract(margin, distances)), -gamma)
    neg = ops.multiply(ops.multiply(neg_weights, ops.subtract(1.0 - margin, distances)), gamma)
    p_loss = ops.logsumexp(ops.where(positive, pos, np.float32(_NO_PAIR)), axis=1)
    n_loss = ops.logsumexp(ops.where(negative, neg, np.float32(_NO_PAIR)), axis=1)
    return ops.softplus(ops.add(p_loss, n_loss))


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """``(1 - p ** q) / q`` with ``p`` the probability given to the true
    class (Zhang & Sabuncu), for integer class labels."""
    labels = np.asarray(autodiff.value_of(y_true)).astype(np.int64)
    classes = ops.shape(y_pred)[-1]
    one_hot = (labels.reshape(-1)[:, None] == np.arange(classes)).astype(np.float32)
    p = ops.sum(ops.multiply(y_pred, one_hot.reshape(ops.shape(y_pred))), axis=-1)
    return ops.divide(ops.subtract(1.0, ops.power(p, float(q))), float(q))


class _FunctionLoss(LossFunctionWrapper):
    """One of the functions above as a Keras loss class: the function's
    keyword arguments are the class's, in its config."""
    function = None
    defaults = {}

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(unknown)}")
        arguments = {**self.defaults, **kwargs}
        super().__init__(type(self).function, reduction=reduction,
                         name=name or self.function.__name__, **arguments)
        for key, value in arguments.items():
            setattr(self, key, value)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None and self.reduction in ("sum", "none", None) and \
                "axis" in self.fn_kwargs and self.fn_kwargs["axis"] is None:
            # one value for the whole batch, which Keras leaves as it is
            return type(self).function(y_true, y_pred, **self.fn_kwargs)
        return super().__call__(y_true, y_pred, sample_weight)

    def _call_fn(self, y_true, y_pred):
        return type(self).function(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self.fn_kwargs}


class CTC(_FunctionLoss):
    """Connectionist temporal classification loss (see :func:`ctc`)."""
    function = ctc

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(reduction, name)

    def prepare_targets(self, y, output_shape, where="the model's output"):
        y = super().prepare_targets(y, output_shape, where)
        if y.ndim != 2:
            raise ValueError(f"{self.name}: targets must be integer labels of shape "
                             f"(batch_size, max_length) for {where} of shape "
                             f"{(None,) + tuple(output_shape[1:])}, got shape {y.shape}")
        return y


class Dice(_FunctionLoss):
    function = dice
    defaults = {"axis": None}

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(reduction, name, axis=axis)


class Tversky(_FunctionLoss):
    function = tversky
    defaults = {"alpha": 0.5, "beta": 0.5, "axis": None}

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky",
                 axis=None, dtype=None):
        super().__init__(reduction, name, alpha=alpha, beta=beta, axis=axis)


class Circle(_FunctionLoss):
    """Circle loss (see :func:`circle`).  As Keras, the samples whose loss
    is 0 (no pair to pull or push) are left out of the batch mean."""
    function = circle
    defaults = {"gamma": 80.0, "margin": 0.4, "remove_diagonal": True}

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True,
                 reduction="sum_over_batch_size", name="circle", dtype=None):
        super().__init__(reduction, name, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)

    def _call_fn(self, y_true, y_pred):
        values = circle(y_true, y_pred, **self.fn_kwargs)
        if self.reduction not in ("sum_over_batch_size", "auto"):
            return values
        # Keras masks out the zeros and the mean runs over the others
        counted = np.asarray(autodiff.value_of(values)) > 0
        valid = int(counted.sum())
        scale = counted * np.float32(counted.size / valid if valid else 0.0)
        return ops.multiply(values, scale.astype(np.float32))


class CategoricalGeneralizedCrossEntropy(_FunctionLoss):
    function = categorical_generalized_cross_entropy
    defaults = {"q": 0.5}

    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy", dtype=None):
        if isinstance(q, bool) or not isinstance(q, (int, float, np.number)) or not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: q must be in the interval "
                             f"(0, 1), got {q!r}")
        super().__init__(reduction, name, q=q)


for _fn, _cls in ((ctc, CTC), (dice, Dice), (tversky, Tversky), (circle, Circle),
                  (categorical_generalized_cross_entropy, CategoricalGeneralizedCrossEntropy)):
    _fn._loss_class = _cls
    _NAME_TO_CLASS[_fn.__name__] = _cls
    _CLASS_TO_NAME[_cls] = _fn.__name__
    _BY_CLASS_NAME[_cls.__name__] = _cls
del _fn, _cls


def deserialize(name, custom_objects=None):
    """A loss from its config (``serialize``'s or Keras's) or a name: a
    class name gives the class's instance, a function's name the function,
    as Keras's ``losses.deserialize``."""
    if isinstance(name, str):
        found = (custom_objects or {}).get(name)
        if found is not None:
            return found
        if name in _BY_CLASS_NAME:
            return _BY_CLASS_NAME[name]()
        fn = globals().get(name)
        if callable(fn) and hasattr(fn, "_loss_class"):
            return fn
        return to_loss(name)
    if isinstance(name, dict):
        from .saving.serialization import deserialize_keras_object
        config = name if "module" in name else {**name, "module": "keras.losses"}
        return deserialize_keras_object(config, custom_objects)
    raise ValueError(f"losses.deserialize: expected a name or a config dict, got {name!r}")


def get(identifier):
    """Keras's ``losses.get``: None stays None, a function name gives the
    per-sample function (``get("mse")`` is ``mean_squared_error``), a class
    name, a class or a config its instance; a Loss instance or any other
    callable is returned as it is.  (What compile makes of all of these is
    :func:`to_loss`.)"""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        found = identifier in _NAME_TO_CLASS and (
            globals().get(identifier) or globals()[_CLASS_TO_NAME[_NAME_TO_CLASS[identifier]]])
        if found:
            return found
        if identifier not in _BY_CLASS_NAME and lookup(identifier) is None:
            raise ValueError(f"Could not interpret loss identifier: {identifier}")
    if isinstance(identifier, dict):
        return to_loss(identifier)
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    return to_loss(identifier)


def to_loss(identifier):
    """A Loss instance from a name, a class, a function of this module or an
    instance; any other function (or a registered custom object's name, or
    a config's description of one) as a LossFunctionWrapper.  Raises
    ValueError naming an unknown loss."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and hasattr(identifier, "_loss_class"):
        return identifier._loss_class()
    if isinstance(identifier, str) and identifier in _NAME_TO_CLASS:
        return _NAME_TO_CLASS[identifier]()
    if isinstance(identifier, str) and identifier in _BY_CLASS_NAME:  # as Keras takes them
        return _BY_CLASS_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS_NAME:
        cls = _BY_CLASS_NAME[identifier["class_name"]]
        return cls.from_config(identifier.get("config", {}))
    if is_function_description(identifier):
        return LossFunctionWrapper(deserialize_function(identifier, "loss"))
    if isinstance(identifier, dict) and identifier.get("class_name") == "LossFunctionWrapper":
        return LossFunctionWrapper.from_config(identifier.get("config", {}))
    if isinstance(identifier, str) and lookup(identifier) is not None:
        return to_loss(lookup(identifier))
    if isinstance(identifier, dict):
        # a program's own Loss class, found in the custom objects
        for key in (identifier.get("registered_name"), identifier.get("class_name")):
            custom = lookup(key) if isinstance(key, str) else None
            if isinstance(custom, type) and issubclass(custom, Loss):
                return custom.from_config(identifier.get("config") or {})
    if callable(identifier) and not isinstance(identifier, type):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Unknown loss {identifier!r}; expected one of "
                     f"{sorted(k for k in _NAME_TO_CLASS if k.islower())}, or a function "
                     f"of (y_true, y_pred)")


def serialize(loss):
    """A loss's config entry (a custom function's description for a
    LossFunctionWrapper, as Keras 3 writes it)."""
    if isinstance(loss, LossFunctionWrapper) and \
            not isinstance(loss, (_FormulaLoss, _FunctionLoss)) and not loss.fn_kwargs and \
            loss.reduction == "sum_over_batch_size":
        return serialize_function(loss.fn)
    return {"class_name": type(loss).__name__, "config": loss.get_config()}
