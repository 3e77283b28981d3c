"""Metrics with Keras's names, accumulated over an epoch as running means.

``'accuracy'`` becomes binary, categorical or sparse categorical accuracy
from the loss, as Keras picks it.  A metric sees the model's output as
probabilities, or as logits when the model fused its output activation into
the loss (accuracy is the same on both; mae/mse are taken after the
activation).  A Python function ``fn(y_true, y_pred)`` is a metric too
(:class:`MeanMetricWrapper`).
"""
import inspect

import numpy as np

from . import ops
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
        if "logits_of" in inspect.signature(self.update_state).parameters:
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
    from . import autodiff
    return autodiff.value_of(a)


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
