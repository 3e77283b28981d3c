"""Metrics with Keras's names, accumulated over an epoch as running means.

``'accuracy'`` becomes binary, categorical or sparse categorical accuracy
from the loss, as Keras picks it.  A metric sees the model's output as
probabilities, or as logits when the model fused its output activation into
the loss (accuracy is the same on both; mae/mse are taken after the
activation).
"""
import numpy as np

from . import ops


class Metric:
    """A running, sample-weighted mean of a per-sample value."""
    name = None

    def __init__(self, name=None):
        if name is not None:
            self.name = name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def values(self, y_true, y_pred, logits_of=None):
        """Per-sample values.  ``logits_of`` names the activation that turns
        ``y_pred`` into probabilities when it holds logits."""
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        v = self.values(y_true, y_pred, logits_of)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.shape[0]
        else:
            self.total += float(np.dot(v, sample_weight))
            self.count += float(sample_weight.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


def _flat_rows(a):
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)


class _AccuracyMetric(Metric):
    """Counted in one C pass (argmax or threshold, compare, weighted sum)."""
    kind = None
    threshold = 0.5

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        t = self.threshold
        if logits_of == "sigmoid":  # sigmoid(x) > t  <=>  x > logit(t)
            t = float(np.log(t / (1.0 - t)))
        rows = y_pred.shape[0]
        if self.kind != "binary" and y_pred.ndim > 2:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            y_true = y_true.reshape(y_pred.shape[0], -1) if self.kind == "categorical" \
                else y_true.reshape(-1)
            if sample_weight is not None:
                sample_weight = np.repeat(sample_weight, y_pred.shape[0] // rows)
        elif self.kind == "binary":
            y_pred = y_pred.reshape(rows, -1)
            y_true = y_true.reshape(rows, -1)
        per_row = y_pred.shape[0] // rows if rows else 1
        self.total += ops.accuracy_count(self.kind, y_true, y_pred, sample_weight, t) / per_row
        self.count += rows if sample_weight is None else float(
            sample_weight.sum()) / per_row


class BinaryAccuracy(_AccuracyMetric):
    name = "binary_accuracy"
    kind = "binary"

    def __init__(self, name=None, threshold=0.5):
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


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
}


def get(identifier, loss=None, output_units=None):
    """A Metric from a name or instance.  'accuracy'/'acc' follow the loss
    as Keras's rule does: binary for binary cross-entropy or a one-unit
    output, sparse for sparse categorical cross-entropy, categorical
    otherwise."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if identifier in ("accuracy", "acc"):
        kind = getattr(loss, "kind", None)
        cls = {"binary_crossentropy": BinaryAccuracy,
               "sparse_categorical_crossentropy": SparseCategoricalAccuracy}.get(
                   kind, CategoricalAccuracy)
        if output_units == 1 and kind != "sparse_categorical_crossentropy":
            cls = BinaryAccuracy
        return cls(name=identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier](name=identifier)
    raise ValueError(f"Unknown metric {identifier!r}; expected 'accuracy' or one of "
                     f"{sorted(_BY_NAME)}")

