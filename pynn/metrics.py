"""Metrics with Keras's names, accumulated over an epoch as running means.

``'accuracy'`` becomes binary, categorical or sparse categorical accuracy
from the loss, as Keras picks it.  A metric sees the model's output as
probabilities, or as logits when the model fused its output activation into
the loss (accuracy is the same on both; mae/mse are taken after the
activation).  A Python function ``fn(y_true, y_pred)`` is a metric too
(:class:`MeanMetricWrapper`).
"""
import inspect
import weakref

import numpy as np

from . import autodiff, ops
from .utils.custom_objects import deserialize_function, is_function_description, lookup


class Metric:
    """A running, sample-weighted mean of a per-sample value.

    Keras's way of writing a metric works too: a subclass that creates its
    state with ``add_weight``/``add_variable`` (variables with ``assign``,
    ``assign_add``, ``assign_sub``) and defines ``update_state(y_true,
    y_pred, sample_weight=None)`` and ``result()``.  It is given the
    model's outputs as probabilities, and ``reset_state`` sets its
    variables back to their initial values."""
    name = None

    def __init__(self, name=None, dtype=None):
        if name is not None:
            self.name = name
        elif self.name is None:
            self.name = _snake_case(type(self).__name__)
        self._variables = []
        self.reset_state()

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        from . import initializers
        from .layers.base import Weight
        init = initializers.get(initializer)
        value = np.asarray(init(tuple(shape)) if callable(init) else init, np.float32)
        variable = Weight(name or f"variable_{len(self._variables)}",
                          np.array(np.broadcast_to(value, tuple(shape))), trainable=False)
        self._variables.append((variable, variable.value.copy()))
        return variable

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None,
                   aggregation="sum"):
        return self.add_variable(shape, initializer, dtype, aggregation, name)

    @property
    def variables(self):
        return [v for v, _ in getattr(self, "_variables", [])]

    def reset_state(self):
        if getattr(self, "_variables", None):
            for variable, initial in self._variables:
                variable.assign(initial)
            return
        self.total = 0.0
        self.count = 0.0

    def update_from_model(self, y_true, y_pred, sample_weight=None, logits_of=None):
        """What training calls after each batch: ``update_state``, with
        probabilities for a Keras-style metric when the model hands logits."""
        if _takes_logits(self.update_state):
            self.update_state(y_true, y_pred, sample_weight, logits_of)
            return
        if logits_of is not None:
            y_pred = ops.activation(y_pred, logits_of)
        self.update_state(y_true, y_pred, sample_weight=sample_weight)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Update the state with one batch and return the result, as Keras's
        metrics do when called."""
        self.update_state(y_true, y_pred, sample_weight=sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": "float32"}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def values(self, y_true, y_pred, logits_of=None):
        """Per-sample values.  ``logits_of`` names the activation that turns
        ``y_pred`` into probabilities when it holds logits."""
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        y_true, y_pred = _constant(y_true), _constant(y_pred)
        v = self.values(y_true, y_pred, logits_of)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.shape[0]
        else:
            w = _weights_per_value(sample_weight, v.shape[0])
            self.total += float(np.dot(v, w))
            self.count += float(w.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


def _constant(a):
    """A value computed on a GradientTape (or a Variable) as its array: a
    metric only reads it."""
    return autodiff.value_of(a)


# Whether an update_state takes logits_of, per function: training asks
# after every batch, and inspect.signature costs more than the accuracy
# kernel of a small batch.
_TAKES_LOGITS = weakref.WeakKeyDictionary()


def _takes_logits(update_state):
    fn = getattr(update_state, "__func__", update_state)
    try:
        return _TAKES_LOGITS[fn]
    except (KeyError, TypeError):  # not seen yet, or not weakly referable
        pass
    takes = "logits_of" in inspect.signature(update_state).parameters
    try:
        _TAKES_LOGITS[fn] = takes
    except TypeError:
        pass
    return takes


def _snake_case(name):
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out


def _flat_rows(a):
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)


def _weights_per_value(w, n):
    """Sample weights repeated for outputs with several values per sample
    (the steps of a sequence); weights per value are kept as they are."""
    w = np.asarray(w, np.float32).reshape(-1)
    if w.size != n and w.size and n % w.size == 0:
        return np.repeat(w, n // w.size)
    return w


class _AccuracyMetric(Metric):
    """Counted in one C pass (argmax or threshold, compare, weighted sum)."""
    kind = None
    threshold = 0.5

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        y_true, y_pred = _constant(y_true), _constant(y_pred)
        t = self.threshold
        if logits_of == "sigmoid":  # sigmoid(x) > t  <=>  x > logit(t)
            t = float(np.log(t / (1.0 - t)))
        rows = y_pred.shape[0]
        if self.kind != "binary" and y_pred.ndim > 2:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            y_true = y_true.reshape(y_pred.shape[0], -1) if self.kind == "categorical" \
                else y_true.reshape(-1)
            if sample_weight is not None:
                sample_weight = _weights_per_value(sample_weight, y_pred.shape[0])
        elif self.kind == "binary":
            # One group per sample, or per step when weighted per step
            # (a masked sequence).
            groups = rows if sample_weight is None or sample_weight.size == rows \
                else sample_weight.size
            y_pred = y_pred.reshape(groups, -1)
            y_true = y_true.reshape(groups, -1)
        per_row = y_pred.shape[0] // rows if rows else 1
        self.total += ops.accuracy_count(self.kind, y_true, y_pred, sample_weight, t) / per_row
        self.count += rows if sample_weight is None else float(
            sample_weight.sum()) / per_row


class BinaryAccuracy(_AccuracyMetric):
    name = "binary_accuracy"
    kind = "binary"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name)


class CategoricalAccuracy(_AccuracyMetric):
    name = "categorical_accuracy"
    kind = "categorical"


class SparseCategoricalAccuracy(_AccuracyMetric):
    name = "sparse_categorical_accuracy"
    kind = "sparse"


class _ErrorMetric(Metric):
    def values(self, y_true, y_pred, logits_of=None):
        if logits_of is not None:
            y_pred = ops.activation(y_pred, logits_of)
        if y_true.dtype.kind in "iu":  # sparse labels: compare with their one-hot form
            y_true = np.eye(y_pred.shape[-1], dtype=np.float32)[y_true]
        d = _flat_rows(y_pred) - _flat_rows(y_true)
        if y_pred.ndim > 2:  # one value per step of a sequence
            d = d.reshape(-1, y_pred.shape[-1])
        return self._reduce(d)


class MeanAbsoluteError(_ErrorMetric):
    name = "mean_absolute_error"

    @staticmethod
    def _reduce(d):
        return np.abs(d).mean(axis=1)


class MeanSquaredError(_ErrorMetric):
    name = "mean_squared_error"

    @staticmethod
    def _reduce(d):
        return (d * d).mean(axis=1)


class RootMeanSquaredError(MeanSquaredError):
    """The root of the mean squared error over everything seen."""
    name = "root_mean_squared_error"

    def result(self):
        return float(np.sqrt(super().result()))


class _ConfusionMetric(Metric):
    """Counts of true/false positives/negatives of predictions above
    ``thresholds`` (one threshold; or the ``top_k`` predictions per row,
    or one ``class_id``), as Keras's Precision and Recall count them."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.thresholds = 0.5 if thresholds is None else thresholds
        if not isinstance(self.thresholds, (int, float)):
            raise ValueError(f"{type(self).__name__}: pynn takes one threshold, got "
                             f"{thresholds!r}")
        self.top_k, self.class_id = top_k, class_id
        super().__init__(name)

    def reset_state(self):
        self.tp = self.fp = self.fn = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        if logits_of is not None:
            y_pred = ops.activation(y_pred, logits_of)
        y_pred = np.asarray(y_pred, np.float32)
        y_true = np.asarray(y_true, np.float32).reshape(y_pred.shape)
        if self.top_k is not None:
            kth = -np.sort(-y_pred, axis=-1)[..., self.top_k - 1:self.top_k]
            predicted = y_pred >= kth
        else:
            predicted = y_pred > self.thresholds
        actual = y_true > 0.5
        if self.class_id is not None:
            predicted, actual = predicted[..., self.class_id], actual[..., self.class_id]
        w = np.ones(predicted.shape, np.float64) if sample_weight is None else \
            np.broadcast_to(np.asarray(sample_weight, np.float64).reshape(
                (-1,) + (1,) * (predicted.ndim - 1)), predicted.shape)
        self.tp += float(w[predicted & actual].sum())
        self.fp += float(w[predicted & ~actual].sum())
        self.fn += float(w[~predicted & actual].sum())

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """True positives over predicted positives."""
    name = "precision"

    def result(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0


class Recall(_ConfusionMetric):
    """True positives over actual positives."""
    name = "recall"

    def result(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


class _TopKMetric(Metric):
    sparse = False

    def __init__(self, k=5, name=None, dtype=None):
        self.k = int(k)
        super().__init__(name)

    def values(self, y_true, y_pred, logits_of=None):
        y_pred = y_pred.reshape(-1, y_pred.shape[-1])
        labels = y_true.reshape(-1).astype(np.int64) if self.sparse else \
            y_true.reshape(y_pred.shape).argmax(-1)
        target = y_pred[np.arange(y_pred.shape[0]), labels]
        # in the top k: fewer than k scores beat the target's (ties count for it)
        return ((y_pred > target[:, None]).sum(axis=-1) < self.k).astype(np.float32)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class TopKCategoricalAccuracy(_TopKMetric):
    name = "top_k_categorical_accuracy"


class SparseTopKCategoricalAccuracy(_TopKMetric):
    name = "sparse_top_k_categorical_accuracy"
    sparse = True


class Mean(Metric):
    """The running (weighted) mean of the values given to update_state."""
    name = "mean"

    def update_state(self, values, sample_weight=None, logits_of=None):
        v = np.asarray(_constant(values), dtype=np.float64).reshape(-1)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.size
        else:
            w = np.broadcast_to(np.asarray(sample_weight, np.float64).reshape(-1), v.shape)
            self.total += float(np.dot(v, w))
            self.count += float(w.sum())


class LossMetric(Metric):
    """A loss used as a metric (``metrics=['binary_crossentropy']`` or a
    loss function): the running mean of its per-sample values."""

    def __init__(self, loss, name=None):
        self.loss = loss
        super().__init__(name or loss.name)

    def values(self, y_true, y_pred, logits_of=None):
        return self.loss.compute(y_true, y_pred, fused=logits_of is not None)


class MeanMetricWrapper(Metric):
    """A metric function ``fn(y_true, y_pred)`` (NumPy arrays in, a scalar
    or values with the batch first out): the running mean of its values
    per sample."""

    def __init__(self, fn, name=None, **kwargs):
        self.fn = fn
        self.fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))

    def values(self, y_true, y_pred, logits_of=None):
        if logits_of is not None:
            y_pred = ops.activation(y_pred, logits_of)
        v = np.asarray(self.fn(y_true, y_pred, **self.fn_kwargs), dtype=np.float32)
        rows = y_pred.shape[0]
        if v.ndim == 0:
            return np.full(rows, v, np.float32)
        if v.shape[0] != rows:
            raise ValueError(f"metric {self.name!r} returned values of shape {v.shape} for a "
                             f"batch of {rows}; a metric returns a scalar or one value per "
                             f"sample")
        return v.reshape(rows, -1).mean(axis=1)


# Keras's metric functions: per-sample values of (y_true, y_pred).

def _per_sample(cls, name, doc):
    def fn(y_true, y_pred, **kwargs):
        metric = cls(**kwargs) if kwargs else cls()
        y_pred = np.ascontiguousarray(y_pred, dtype=np.float32)
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        if isinstance(metric, _AccuracyMetric):
            y_true = np.asarray(y_true)
            if metric.kind == "sparse":
                hit = y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])
            elif metric.kind == "categorical":
                hit = y_pred.argmax(-1) == y_true.reshape(y_pred.shape).argmax(-1)
            else:
                hit = ((y_pred > metric.threshold) ==
                       (y_true.reshape(y_pred.shape) > 0.5)).mean(axis=-1)
            return hit.astype(np.float32)
        y_true = np.ascontiguousarray(y_true, dtype=np.float32).reshape(y_pred.shape)
        return metric.values(y_true, y_pred).astype(np.float32)
    fn.__name__ = name
    fn.__doc__ = doc
    fn._metric_class = cls
    return fn


binary_accuracy = _per_sample(BinaryAccuracy, "binary_accuracy",
                              "Per-sample binary accuracy (threshold 0.5).")
categorical_accuracy = _per_sample(CategoricalAccuracy, "categorical_accuracy",
                                   "Per-sample categorical accuracy (argmax against one-hot).")
sparse_categorical_accuracy = _per_sample(SparseCategoricalAccuracy,
                                          "sparse_categorical_accuracy",
                                          "Per-sample accuracy against integer labels.")
mean_absolute_error = mae = _per_sample(MeanAbsoluteError, "mean_absolute_error",
                                        "Per-sample mean absolute error.")
mean_squared_error = mse = _per_sample(MeanSquaredError, "mean_squared_error",
                                       "Per-sample mean squared error.")


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError, "precision": Precision, "recall": Recall,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
}
# Keras also takes the class names as strings: metrics=["RootMeanSquaredError"]
_BY_CLASS_NAME = {c.__name__: c for c in _BY_NAME.values()}
_LOSS_NAMES = ("binary_crossentropy", "categorical_crossentropy",
               "sparse_categorical_crossentropy")


def accuracy_kind(y_true_shape, y_pred_shape):
    """Keras 3's rule for 'accuracy': binary for a one-unit output, sparse
    when the targets have one axis less than the output (or one unit
    against several), categorical otherwise."""
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and
                                                  y_pred_shape[-1] != 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A Metric from a name, class, function or instance.  'accuracy'/'acc'
    follow the targets' and output's shapes as Keras 3's rule does (see
    accuracy_kind); loss names and functions become their running mean."""
    from . import losses
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier) and hasattr(identifier, "_metric_class"):
        return identifier._metric_class(name=identifier.__name__)
    if callable(identifier) and hasattr(identifier, "_loss_class"):
        return LossMetric(identifier._loss_class(), name=identifier.__name__)
    if isinstance(identifier, losses.Loss):
        return LossMetric(identifier)
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        if y_pred_shape is None:
            return CategoricalAccuracy(name=identifier)
        return accuracy_kind(y_true_shape, y_pred_shape)(name=identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier](name=identifier)
    if isinstance(identifier, str) and identifier in _BY_CLASS_NAME:
        return _BY_CLASS_NAME[identifier]()
    if isinstance(identifier, str) and identifier in _CONFUSION_BY_NAME:
        return _CONFUSION_BY_NAME[identifier]()
    if isinstance(identifier, str) and identifier in _LOSS_NAMES:
        return LossMetric(losses.get(identifier), name=identifier)
    if is_function_description(identifier):
        return MeanMetricWrapper(deserialize_function(identifier, "metric"))
    if isinstance(identifier, str) and lookup(identifier) is not None:
        return get(lookup(identifier), y_true_shape, y_pred_shape)
    if callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Unknown metric {identifier!r}; expected 'accuracy' or one of "
                     f"{sorted(_BY_NAME) + list(_LOSS_NAMES)}, or a function of "
                     f"(y_true, y_pred)")


def serialize(metric):
    return {"class_name": type(metric).__name__, "config": {"name": metric.name}}


# Metrics over a confusion matrix (Keras 3's AUC, F-scores and IoUs): their
# state is the matrix's counts, not a running mean.

def _probabilities(y_pred, logits_of):
    y_pred = np.asarray(y_pred, np.float32)
    return ops.activation(np.ascontiguousarray(y_pred), logits_of) if logits_of else y_pred


def _sample_weights_like(sample_weight, shape, who):
    """Sample weights broadcast to ``shape`` (one per sample, per value, or
    one for all), as float64."""
    if sample_weight is None:
        return np.ones(shape, np.float64)
    w = np.asarray(sample_weight, np.float64)
    if w.ndim and w.ndim < len(shape) and w.shape == tuple(shape[:w.ndim]):
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"{who}: sample_weight of shape {np.shape(sample_weight)} does not "
                         f"fit values of shape {tuple(shape)}") from None


_CURVES = {"roc": "ROC", "pr": "PR"}
_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts
    at ``num_thresholds`` thresholds (Keras 3's AUC: the same thresholds,
    trapezoids for ROC and Davis & Goadrich's interpolation for PR)."""
    name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        curve_key = str(curve).lower()
        if curve_key not in _CURVES:
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        summation = str(summation_method).lower()
        if summation not in _SUMMATIONS:
            raise ValueError(f"AUC: summation_method must be one of {_SUMMATIONS}, got "
                             f"{summation_method!r}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds,
                                                                  (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1, got "
                                 f"{num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1)
                     for i in range(self.num_thresholds - 2)]
        eps = 1e-7
        self._thresholds = np.array([0.0 - eps] + inner + [1.0 + eps])
        self.curve = _CURVES[curve_key]
        self.summation_method = summation
        if num_labels and not multi_label:
            raise ValueError("AUC: num_labels is needed only when multi_label is True")
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else \
            np.asarray(label_weights, np.float64).reshape(-1)
        self._from_logits = bool(from_logits)
        self._shape = (self.num_thresholds, int(num_labels)) if multi_label and num_labels \
            else None if multi_label else (self.num_thresholds,)
        super().__init__(name)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def reset_state(self):
        shape = self._shape
        zeros = (lambda: None) if shape is None else (lambda: np.zeros(shape, np.float64))
        self.true_positives, self.false_positives = zeros(), zeros()
        self.true_negatives, self.false_negatives = zeros(), zeros()

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        y_pred = np.asarray(y_pred, np.float32)
        if self._from_logits:
            y_pred = ops.activation(np.ascontiguousarray(y_pred), "sigmoid")
        else:
            y_pred = _probabilities(y_pred, logits_of)
        y_true = np.asarray(y_true, np.float64)
        if y_true.size != y_pred.size:
            raise ValueError(f"AUC: y_true has {y_true.size} values, y_pred {y_pred.size}")
        y_true = y_true.reshape(y_pred.shape)
        w = _sample_weights_like(sample_weight, y_pred.shape, "AUC")
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError(f"AUC: multi_label needs y_pred of rank 2, got shape "
                                 f"{y_pred.shape}")
            if self._shape is None:
                self._shape = (self.num_thresholds, y_pred.shape[1])
                self.reset_state()
            cols = [(y_true[:, j], y_pred[:, j], w[:, j]) for j in range(y_pred.shape[1])]
        else:
            if self.label_weights is not None:
                w = w * np.broadcast_to(self.label_weights, y_pred.shape)
            cols = [(y_true.reshape(-1), y_pred.reshape(-1), w.reshape(-1))]
        counts = [self._counts(t, p, cw) for t, p, cw in cols]
        for k, name in enumerate(("true_positives", "false_positives", "true_negatives",
                                  "false_negatives")):
            add = np.stack([c[k] for c in counts], axis=-1) if self.multi_label else counts[0][k]
            setattr(self, name, getattr(self, name) + add)

    def _counts(self, t, p, w):
        """(tp, fp, tn, fn) at every threshold: a prediction counts as
        positive at the thresholds strictly below it."""
        thresholds = self._thresholds.astype(np.float32)
        above = np.searchsorted(thresholds, p, side="left")  # thresholds < p
        n = self.num_thresholds
        pos = np.bincount(above, weights=w * t, minlength=n + 1)
        neg = np.bincount(above, weights=w * (1.0 - t), minlength=n + 1)
        # positive predictions at threshold i: those with above > i
        tp = np.cumsum(pos[::-1])[::-1][1:]
        fp = np.cumsum(neg[::-1])[::-1][1:]
        return tp, fp, neg.sum() - fp, pos.sum() - tp

    def _by_label(self, values):
        if not self.multi_label:
            return float(np.sum(values))
        by_label = np.sum(values, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        lw = self.label_weights
        total = float(np.sum(lw))
        return float(np.sum(by_label * lw) / total) if total else 0.0

    def result(self):
        if self.true_positives is None:
            return 0.0
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._by_label((x[:-1] - x[1:]) * heights)

    def _interpolate_pr_auc(self):
        """Keras's closed form of Davis & Goadrich's interpolation: TP and
        TP + FP vary linearly between successive thresholds."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        increment = _divide_no_nan(slope * (dtp + intercept * log_ratio),
                                   np.maximum(tp[1:] + fn[1:], 0))
        return self._by_label(increment)

    def get_config(self):
        config = {"name": self.name, "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else
                  self.label_weights.tolist(), "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self._thresholds[1:-1]]
        return config


def _divide_no_nan(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = np.zeros(a.shape, np.float64)
    np.divide(a, b, out=out, where=b != 0)
    return out


class FBetaScore(Metric):
    """The F-beta score per class (``average=None``), or their
    ``'macro'``/``'weighted'`` mean, or over all values (``'micro'``), as
    Keras 3 computes it: a prediction is positive above ``threshold``, or,
    with no threshold, where it is its row's largest (non-zero) value."""
    name = "fbeta_score"

    def __init__(self, average=None, beta=1.0, threshold=None, name=None, dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: average must be None, 'micro', 'macro' "
                             f"or 'weighted', got {average!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"{type(self).__name__}: beta must be a number > 0, got {beta!r}")
        if threshold is not None and (isinstance(threshold, bool) or
                                      not isinstance(threshold, (int, float)) or
                                      not 0.0 < threshold <= 1.0):
            raise ValueError(f"{type(self).__name__}: threshold must verify 0 < threshold <= 1, "
                             f"got {threshold!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        super().__init__(name)

    def reset_state(self):
        self.true_positives = self.false_positives = None
        self.false_negatives = self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        y_pred = _probabilities(y_pred, logits_of).astype(np.float64)
        y_true = np.asarray(y_true, np.float64)
        who = type(self).__name__
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(f"{who} expects 2D inputs of one shape (batch_size, output_dim); "
                             f"got y_true {y_true.shape} and y_pred {y_pred.shape}")
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            positive = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
        else:
            positive = y_pred > self.threshold
        positive = positive.astype(np.float64)
        w = None if sample_weight is None else \
            np.asarray(sample_weight, np.float64).reshape(-1, 1)
        axis = None if self.average == "micro" else 0

        def weighted_sum(v):
            return np.sum(v if w is None else v * w, axis=axis)
        sums = [weighted_sum(positive * y_true), weighted_sum(positive * (1 - y_true)),
                weighted_sum((1 - positive) * y_true), weighted_sum(y_true)]
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.false_negatives, \
                self.intermediate_weights = sums
        else:
            self.true_positives = self.true_positives + sums[0]
            self.false_positives = self.false_positives + sums[1]
            self.false_negatives = self.false_negatives + sums[2]
            self.intermediate_weights = self.intermediate_weights + sums[3]

    def result(self):
        if self.true_positives is None:
            return 0.0
        eps = 1e-7
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            weights = self.intermediate_weights / (np.sum(self.intermediate_weights) + eps)
            return float(np.sum(score * weights))
        if self.average is not None:
            return float(np.mean(score))
        return score.astype(np.float32)

    def get_config(self):
        return {"name": self.name, "beta": self.beta, "average": self.average,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score: FBetaScore with beta = 1."""
    name = "f1_score"

    def __init__(self, average=None, threshold=None, name=None, dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class IoU(Metric):
    """Intersection over union of the classes ``target_class_ids``, from a
    (num_classes x num_classes) confusion matrix of integer class ids, as
    Keras 3's IoU (integer weights: its matrix is integer-typed)."""
    name = "io_u"

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        who = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or num_classes < 1:
            raise ValueError(f"{who}: num_classes must be a positive integer, got "
                             f"{num_classes!r}")
        self.num_classes = int(num_classes)
        ids = [int(i) for i in target_class_ids]
        if not ids or max(ids) >= self.num_classes or min(ids) < 0:
            raise ValueError(f"{who}: target class ids {ids} are out of range, which is "
                             f"[0, {self.num_classes})")
        self.target_class_ids = ids
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)
        self.axis = axis
        self._float_counts = dtype is not None and "float" in str(dtype)
        super().__init__(name)

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes), np.float64)

    def _class_ids(self, y_true, y_pred, logits_of):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = y_true.argmax(axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(axis=self.axis)
        return y_true, y_pred

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        y_true, y_pred = self._class_ids(y_true, y_pred, logits_of)
        kind = np.float64 if self._float_counts else np.int64
        y_true = np.asarray(y_true).astype(kind).reshape(-1)
        y_pred = np.asarray(y_pred).astype(kind).reshape(-1)
        if y_true.size != y_pred.size:
            raise ValueError(f"{type(self).__name__}: y_true has {y_true.size} class ids, "
                             f"y_pred {y_pred.size}")
        w = np.ones(y_true.size, kind) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight).astype(kind).reshape(-1), y_true.shape)
        n = self.num_classes
        keep = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            keep &= y_true != self.ignore_class
        t, p = y_true[keep].astype(np.int64), y_pred[keep].astype(np.int64)
        self.total_cm += np.bincount(t * n + p, weights=w[keep].astype(np.float64),
                                     minlength=n * n).reshape(n, n)

    def result(self):
        cm = self.total_cm
        if not self._float_counts:
            cm = np.trunc(cm)
        tp = np.diag(cm)
        denominator = cm.sum(axis=0) + cm.sum(axis=1) - tp
        ids = self.target_class_ids
        tp, denominator = tp[ids].astype(np.float32), denominator[ids].astype(np.float32)
        valid = denominator > 1e-9
        iou = np.where(valid, tp / (denominator + np.float32(1e-7)), 0.0)
        return float(np.sum(iou) / (np.sum(valid) + 1e-7))

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class MeanIoU(IoU):
    """The mean intersection over union over all ``num_classes`` classes."""
    name = "mean_io_u"

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(int(num_classes))) if isinstance(
            num_classes, (int, np.integer)) and num_classes > 0 else [0], name=name,
            dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """IoU of two classes from scores: class 1 where ``y_pred >=
    threshold``, else 0."""
    name = "binary_io_u"

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = float(threshold)

    def _class_ids(self, y_true, y_pred, logits_of):
        y_pred = _probabilities(y_pred, logits_of)
        return np.asarray(y_true), (y_pred >= self.threshold).astype(np.int64)

    def get_config(self):
        return {"name": self.name, "target_class_ids": self.target_class_ids,
                "threshold": self.threshold}


# Names that build these with their defaults (the IoUs need num_classes).
_CONFUSION_BY_NAME = {"AUC": AUC, "auc": AUC, "F1Score": F1Score, "f1_score": F1Score,
                      "FBetaScore": FBetaScore, "fbeta_score": FBetaScore}
