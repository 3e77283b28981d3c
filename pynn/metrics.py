"""Metrics with Keras's names, accumulated over an epoch as running means.

``'accuracy'`` becomes binary, categorical or sparse categorical accuracy
from the loss, as Keras picks it.  A metric sees the model's output as
probabilities, or as logits when the model fused its output activation into
the loss (accuracy is the same on both; mae/mse are taken after the
activation).  A Python function ``fn(y_true, y_pred)`` is a metric too
(:class:`MeanMetricWrapper`).
"""
import functools
import inspect
import re
import threading
import weakref

import numpy as np

from . import autodiff, distribute, ops
from .tensor import eager, eager_results
from .utils.custom_objects import deserialize_function, is_function_description, lookup


class Scalar(float):
    """A metric's scalar result: a float that also has ``numpy()``, as the
    tensor Keras's ``result()`` returns does (``metric.result().numpy()``
    in a custom training loop)."""

    def numpy(self):
        return np.float32(self)

    # (a float32 scalar tensor's: ``metric.result().dtype``, ``.shape``)
    @property
    def dtype(self):
        from .dtypes import float32
        return float32

    @property
    def shape(self):
        from .tensor import TensorShape
        return TensorShape(())


_summing = threading.local()


def _global_result(metric, world, result):
    """``result()`` of the sum of every process's state of ``metric``."""
    state = metric._state()
    flat = np.concatenate([np.asarray(v, np.float64).reshape(-1) for v in state]) \
        if state else np.zeros(0)
    world.allreduce_(flat, f"the state of metric {metric.name!r}")
    summed, k = [], 0
    for v in state:
        summed.append(flat[k:k + np.size(v)].reshape(np.shape(v)))
        k += np.size(v)
    _summing.active = True  # (a subclass's result calling its base's: summed once)
    try:
        return metric._stateless(summed, "result", lambda: result(metric))[0]
    finally:
        _summing.active = False


def _scalar_result(result):
    """``result`` whose float (or 0-d array) value comes back as a Scalar;
    for a metric made in a multi-process tf.distribute strategy's scope,
    read outside its ``run``, the result of every process's state."""
    @functools.wraps(result)
    def wrapped(self):
        world = None if getattr(_summing, "active", False) else \
            distribute._metric_world(self)
        value = result(self) if world is None else _global_result(self, world, result)
        if isinstance(value, (float, np.floating)) or (
                isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "f"):
            return Scalar(value)
        return value
    return wrapped


class Metric:
    """A running, sample-weighted mean of a per-sample value.

    Keras's way of writing a metric works too: a subclass that creates its
    state with ``add_weight``/``add_variable`` (variables with ``assign``,
    ``assign_add``, ``assign_sub``) and defines ``update_state(y_true,
    y_pred, sample_weight=None)`` and ``result()``.  It is given the
    model's outputs as probabilities, and ``reset_state`` sets its
    variables back to their initial values."""
    name = None
    # The state that a distributed job sums over its processes.
    _summed_state = ("total", "count")

    def __init__(self, name=None, dtype=None):
        if name is not None:
            self.name = name
        elif self.name is None:
            self.name = _snake_case(type(self).__name__)
        self._variables = []
        distribute._adopt_metric(self)
        # Keras's metric.dtype, which a subclass casts its values to
        self.dtype = "float32" if dtype is None else \
            (dtype.get("config") or {}).get("name", "float32") if isinstance(dtype, dict) \
            else np.dtype(dtype).name
        # pynn's metrics set up their state here; a subclass written for
        # Keras creates its variables after this returns, so its own
        # reset_state (which reads them) is not called yet.
        if _defining_class(type(self), "reset_state").__module__.startswith("pynn.") and \
                type(self).reset_states is Metric.reset_states:
            self.reset_state()
        else:
            self._reset_own_state()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "result" in cls.__dict__:
            cls.result = _scalar_result(cls.__dict__["result"])
        if "update_state" in cls.__dict__ and cls.__module__.startswith("pynn."):
            cls.update_state = _constant_arguments(cls.__dict__["update_state"])

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
        """A Keras-style metric's variables; a built-in metric's state (its
        running totals, named as Keras names them) as variables holding
        their values now."""
        own = getattr(self, "_variables", None)
        if own:
            return [v for v, _ in own]
        from .layers.base import Weight
        return [Weight(name, np.array(value, np.float32), trainable=False)
                for name, value in self._state_items()]

    def _state_items(self):
        """[(name, value)] of a built-in metric's state made so far."""
        return [(name, getattr(self, name)) for name in self._summed_state
                if getattr(self, name) is not None]

    def _state(self):
        own = getattr(self, "_variables", None)
        if own:
            return [np.array(v.value) for v, _ in own]
        return [np.array(value, np.float64) for _, value in self._state_items()]

    def _set_state(self, values, caller):
        values = [autodiff.value_of(getattr(v, "value", v)) for v in values]
        own = getattr(self, "_variables", None)
        names = [v for v, _ in own] if own else [n for n, _ in self._state_items()]
        if len(values) != len(names):
            raise ValueError(f"{type(self).__name__}.{caller}: expected {len(names)} state "
                             f"values (metric.variables), got {len(values)}")
        for name, value in zip(names, values):
            if own:
                name.assign(np.asarray(value, np.float32).reshape(name.value.shape))
            else:
                old = getattr(self, name)
                value = np.asarray(value, np.float64).reshape(np.shape(old))
                setattr(self, name, value if np.ndim(old) else float(value))

    def _stateless(self, metric_variables, caller, fn):
        """``fn()`` run on the state ``metric_variables`` (None: the reset
        state); returns its result and the state it leaves, and puts the
        metric's own state back."""
        own = getattr(self, "_variables", None)
        saved = [np.array(v.value) for v, _ in own] if own else \
            {name: np.copy(getattr(self, name)) if isinstance(getattr(self, name), np.ndarray)
             else getattr(self, name) for name in self._summed_state}
        try:
            if metric_variables is None:
                self.reset_state()
            else:
                self._set_state(metric_variables, caller)
            out = fn()
            return out, self._state()
        finally:
            if own:
                for (v, _), value in zip(own, saved):
                    v.assign(value)
            else:
                for name, value in saved.items():
                    setattr(self, name, value)

    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """Keras 3's: the state after ``update_state(*args)`` from the state
        ``metric_variables`` (a list of arrays, as ``metric.variables``),
        leaving the metric's own state as it was."""
        return self._stateless(metric_variables, "stateless_update_state",
                               lambda: self.update_state(*args, **kwargs))[1]

    def stateless_result(self, metric_variables):
        """Keras 3's: ``result()`` of the state ``metric_variables``."""
        return self._stateless(metric_variables, "stateless_result", self.result)[0]

    def stateless_reset_state(self):
        """Keras 3's: the state ``reset_state`` makes, as a list of arrays."""
        return self._stateless(None, "stateless_reset_state", lambda: None)[1]

    def reset_state(self):
        own = type(self).reset_states
        if own is not Metric.reset_states and not self.__dict__.get("_in_reset_states"):
            # A Keras 2 metric resets in its own reset_states (tf.keras 2
            # called it in reset_state's place): Python state kept there
            # (lists of predictions) is cleared too.
            self.__dict__["_in_reset_states"] = True
            try:
                own(self)
            finally:
                self.__dict__["_in_reset_states"] = False
            return
        self._reset_own_state()

    def _reset_own_state(self):
        if getattr(self, "_variables", None):
            for variable, initial in self._variables:
                variable.assign(initial)
            return
        self.total = 0.0
        self.count = 0.0

    def reset_states(self):
        """Keras 2's name of :meth:`reset_state` (the subclass's own)."""
        self.reset_state()

    def update_from_model(self, y_true, y_pred, sample_weight=None, logits_of=None):
        """What training calls after each batch: ``update_state``, with
        probabilities for a Keras-style metric when the model hands logits."""
        if _takes_logits(self.update_state):
            self.update_state(y_true, y_pred, sample_weight, logits_of)
            return
        if logits_of is not None:
            y_pred = ops.activation(y_pred, logits_of)
        if not getattr(type(self).update_state, "__module__", "pynn").startswith("pynn"):
            # a metric's own update_state sees tensors, as in Keras
            # (y_true.set_shape(...), y_true.numpy())
            y_true, y_pred = (eager(v) if type(v) is np.ndarray else v
                              for v in (y_true, y_pred))
        self.update_state(y_true, y_pred, sample_weight=sample_weight)

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the result, as Keras's
        metrics do when called: the arguments are update_state's
        (``y_true, y_pred`` or, for Mean and Sum, ``values``)."""
        self.update_state(*args, **kwargs)
        out = self.result()
        if isinstance(out, Scalar):
            # (tf.keras 2's: ``self.add_metric(metric(values))`` in a
            # call() reports the metric itself, under its name)
            out._metric_obj = self
        return out

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
        if np.ndim(v) == 0:
            # one value for the whole batch (a correlation of 1-D series
            # over its only axis): one sample, as Keras's Mean counts it
            v = np.reshape(v, (1,))
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.shape[0]
        else:
            w = _weights_per_value(sample_weight, v.shape[0])
            self.total += float(np.dot(v, w))
            self.count += float(w.sum())

    @_scalar_result
    def result(self):
        return self.total / self.count if self.count else 0.0


def _constant(a):
    """A value computed on a GradientTape (or a Variable) as its array: a
    metric only reads it; Python lists and numbers as arrays, as Keras
    takes them."""
    if type(a) is np.ndarray:  # what training hands over, every batch
        return a
    a = autodiff.value_of(a)
    return a if isinstance(a, np.ndarray) else np.asarray(a)


def _constant_arguments(update_state):
    """A built-in metric's ``update_state`` reading values computed on a
    tape (a layer's call updating a metric while the model trains: labels,
    logits and sample weights that are graph inputs) as their arrays."""
    @functools.wraps(update_state)
    def wrapped(self, *args, **kwargs):
        args = [a if a is None or type(a) is np.ndarray or isinstance(a, _PLAIN) else
                _constant(a) for a in args]
        kwargs = {k: v if v is None or type(v) is np.ndarray or isinstance(v, _PLAIN) else
                  _constant(v) for k, v in kwargs.items()}
        return update_state(self, *args, **kwargs)
    return wrapped


_PLAIN = (str, int, float, bool, list, tuple, dict)
Metric.update_state = _constant_arguments(Metric.update_state)


# Whether an update_state takes logits_of, per function: training asks
# after every batch, and inspect.signature costs more than the accuracy
# kernel of a small batch.  Keyed by id with a weak reference to tell a
# reused id apart (a WeakKeyDictionary's lookup runs Python code and makes
# a reference each time).
_TAKES_LOGITS = {}


def _takes_logits(update_state):
    fn = getattr(update_state, "__func__", update_state)
    hit = _TAKES_LOGITS.get(id(fn))
    if hit is not None and hit[0]() is fn:
        return hit[1]
    takes = "logits_of" in inspect.signature(update_state).parameters
    key = id(fn)
    try:
        ref = weakref.ref(fn, lambda _, key=key: _TAKES_LOGITS.pop(key, None))
    except TypeError:  # not weakly referable: asked again next time
        return takes
    _TAKES_LOGITS[key] = (ref, takes)
    return takes


def _defining_class(cls, attribute):
    """The class in ``cls``'s method resolution order that defines
    ``attribute``."""
    return next(c for c in cls.__mro__ if attribute in vars(c))


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
            if y_true.size != y_pred.size and y_true.ndim <= y_pred.ndim:
                # labels that broadcast, as Keras compares them: one 1.0
                # for a batch of a GAN's real images
                try:
                    y_true = np.broadcast_to(y_true, y_pred.shape)
                except ValueError:
                    pass
            # One group per sample, or per step when weighted per step
            # (a masked sequence).
            groups = rows if sample_weight is None or sample_weight.size == rows \
                else sample_weight.size
            y_pred = y_pred.reshape(groups, -1)
            y_true = y_true.reshape(groups, -1)
            if type(y_true) is np.ndarray and type(y_pred) is np.ndarray and \
                    y_true.shape == y_pred.shape and not _hard_labels(y_true):
                # targets other than 0 and 1 (noisy GAN labels, random
                # targets): Keras counts y_true == (y_pred > t), so they
                # never count as right; the kernel reads y_true > 0.5
                hits = np.mean(y_true == (y_pred > t), axis=1, dtype=np.float64)
                self.total += float(hits.sum() if sample_weight is None else
                                    np.dot(hits, np.reshape(sample_weight, -1)))
                self.count += rows if sample_weight is None else float(sample_weight.sum())
                return
        per_row = y_pred.shape[0] // rows if rows else 1
        self.total += ops.accuracy_count(self.kind, y_true, y_pred, sample_weight, t) / per_row
        self.count += rows if sample_weight is None else float(
            sample_weight.sum()) / per_row


def _hard_labels(y_true):
    """Whether every target is 0 or 1."""
    return bool(np.all((y_true == 0) | (y_true == 1)))


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
        if y_true.dtype.kind in "iu" and y_pred.shape[-1] > 1 and \
                y_true.shape != y_pred.shape:
            # sparse labels: compare with their one-hot form (integer
            # targets of a regression are values)
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


# Keras's stand-in for minus infinity: the predictions top_k leaves out.
_NEG_INF = -1e10


def _thresholds_list(thresholds, default, who):
    """``thresholds`` (one number or a list of them, each in [0, 1]) as a
    list; ``[default]`` when None."""
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) \
        else [thresholds]
    for t in values:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) \
                or not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"{who}: thresholds must be numbers in [0, 1], got "
                             f"{thresholds!r}")
    if not values:
        raise ValueError(f"{who}: thresholds is an empty list")
    return [float(t) for t in values]


def _evenly_distributed(thresholds):
    """Whether the thresholds are i / (n - 1) for i = 0..n-1 (n >= 3), which
    Keras counts by bucketing the predictions instead of comparing."""
    n = len(thresholds)
    return n >= 3 and np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1),
                                  atol=1e-7)


def _confusion_counts(y_true, y_pred, sample_weight, thresholds, evenly, top_k=None,
                      class_id=None, who="metric"):
    """(tp, fp, tn, fn) at each threshold, as Keras 3 counts them: a label
    is positive where it is non-zero, a prediction where it is above the
    threshold; sample weights per sample or per value."""
    y_pred = np.asarray(y_pred, np.float32)
    y_true = np.asarray(y_true)
    if y_true.size != y_pred.size:
        raise ValueError(f"{who}: y_true has {y_true.size} values, y_pred {y_pred.size} "
                         f"(shapes {y_true.shape} and {y_pred.shape})")
    y_true = y_true.reshape(y_pred.shape)
    w = _sample_weights_like(sample_weight, y_pred.shape, who)
    if top_k is not None:
        if y_pred.ndim == 0 or top_k > y_pred.shape[-1]:
            raise ValueError(f"{who}: top_k={top_k} needs predictions with at least "
                             f"{top_k} values on their last axis, got shape {y_pred.shape}")
        order = np.argsort(y_pred, axis=-1)[..., ::-1][..., :top_k]
        keep = np.zeros(y_pred.shape, bool)
        np.put_along_axis(keep, order, True, axis=-1)
        y_pred = np.where(keep, y_pred, np.float32(_NEG_INF))
    if class_id is not None:
        if y_pred.ndim < 2:
            raise ValueError(f"{who}: class_id needs y_pred of shape (samples, classes), "
                             f"got {y_pred.shape}")
        if not 0 <= class_id < y_pred.shape[-1]:
            raise ValueError(f"{who}: class_id {class_id} is out of range for "
                             f"{y_pred.shape[-1]} classes")
        y_true, y_pred, w = y_true[..., class_id], y_pred[..., class_id], w[..., class_id]
    label = (y_true != 0).reshape(-1)
    y_pred, w = y_pred.reshape(-1), w.reshape(-1)
    positives, negatives = w * label, w * ~label
    n = len(thresholds)
    if evenly:
        bucket = np.ceil(np.clip(y_pred, 0.0, 1.0) * np.float32(n - 1)) - 1
        if thresholds[0] < 0.0 or thresholds[-1] > 1.0:
            bucket = np.maximum(bucket, 0)
        bucket = bucket.astype(np.int64)
        valid = bucket >= 0
        tp = np.bincount(bucket[valid], positives[valid], minlength=n)[::-1].cumsum()[::-1]
        fp = np.bincount(bucket[valid], negatives[valid], minlength=n)[::-1].cumsum()[::-1]
    else:
        above = y_pred[None, :] > np.asarray(thresholds, np.float32)[:, None]
        tp, fp = above @ positives, above @ negatives
    return tp, fp, negatives.sum() - fp, positives.sum() - tp


class _ConfusionMetric(Metric):
    """Counts of true/false positives/negatives at each of ``thresholds``
    (a prediction is positive above one), of the ``top_k`` predictions per
    row or of one ``class_id``, as Keras 3's confusion metrics count them.
    With several thresholds the result is one value per threshold."""
    default_threshold = 0.5
    _summed_state = ("true_positives", "false_positives", "true_negatives",
                     "false_negatives")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        who = type(self).__name__
        self.init_thresholds = thresholds
        self.top_k, self.class_id = top_k, class_id
        default = self.default_threshold if top_k is None else _NEG_INF
        self._thresholds = _thresholds_list(thresholds, default, who)
        self._evenly = _evenly_distributed(self._thresholds)
        super().__init__(name)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def reset_state(self):
        for name in self._summed_state:
            setattr(self, name, np.zeros(len(self._thresholds), np.float64))

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        counts = _confusion_counts(_constant(y_true), _probabilities(_constant(y_pred),
                                                                    logits_of),
                                   sample_weight, self._thresholds, self._evenly, self.top_k,
                                   self.class_id, type(self).__name__)
        for name, value in zip(("true_positives", "false_positives", "true_negatives",
                                "false_negatives"), counts):
            setattr(self, name, getattr(self, name) + value)

    def _one_or_all(self, values):
        return float(values[0]) if len(values) == 1 else values.astype(np.float32)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """True positives over predicted positives."""
    name = "precision"

    def result(self):
        tp = self.true_positives
        return self._one_or_all(_divide_no_nan(tp, tp + self.false_positives))


class Recall(_ConfusionMetric):
    """True positives over actual positives."""
    name = "recall"

    def result(self):
        tp = self.true_positives
        return self._one_or_all(_divide_no_nan(tp, tp + self.false_negatives))


class _ConditionCount(_ConfusionMetric):
    """The (weighted) count of one cell of the confusion matrix, per
    threshold."""
    count_of = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def result(self):
        return self._one_or_all(getattr(self, self.count_of))

    def get_config(self):
        return {"name": self.name, "dtype": "float32", "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    name = "true_positives"
    count_of = "true_positives"


class FalsePositives(_ConditionCount):
    name = "false_positives"
    count_of = "false_positives"


class TrueNegatives(_ConditionCount):
    name = "true_negatives"
    count_of = "true_negatives"


class FalseNegatives(_ConditionCount):
    name = "false_negatives"
    count_of = "false_negatives"


class _AtConstraint(_ConfusionMetric):
    """The best of one rate among ``num_thresholds`` evenly spaced
    thresholds where another rate reaches ``value`` (Keras 3's
    SensitivitySpecificityBase)."""
    constraint = None   # the argument's name: the rate that must reach it

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        who = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{who}: {self.constraint} must be a number in [0, 1], got "
                             f"{value!r}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds,
                                                              (int, np.integer)) \
                or num_thresholds <= 0:
            raise ValueError(f"{who}: num_thresholds must be an integer > 0, got "
                             f"{num_thresholds!r}")
        self.value, self.num_thresholds = float(value), int(num_thresholds)
        setattr(self, self.constraint, self.value)
        # The thresholds are fixed by num_thresholds, not given as a list,
        # so _ConfusionMetric's own argument handling is skipped.
        self.init_thresholds, self.top_k, self.class_id = None, None, class_id
        n = self.num_thresholds
        self._thresholds = [0.5] if n == 1 else \
            [0.0] + [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)] + [1.0]
        self._evenly = n > 1
        Metric.__init__(self, name)

    def _rates(self):
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        return {"sensitivity": _divide_no_nan(tp, tp + fn), "recall": _divide_no_nan(tp, tp + fn),
                "specificity": _divide_no_nan(tn, tn + fp),
                "precision": _divide_no_nan(tp, tp + fp)}

    def result(self):
        rates = self._rates()
        feasible = rates[self.constraint] >= self.value
        return float(np.max(np.where(feasible, rates[self.optimized], 0.0), initial=0.0))

    def get_config(self):
        return {"name": self.name, "dtype": "float32", "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self.constraint: self.value}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) where specificity >= ``specificity``."""
    name = "sensitivity_at_specificity"
    constraint, optimized = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity where sensitivity >= ``sensitivity``."""
    name = "specificity_at_sensitivity"
    constraint, optimized = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """The best precision where recall >= ``recall``."""
    name = "precision_at_recall"
    constraint, optimized = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall where precision >= ``precision``."""
    name = "recall_at_precision"
    constraint, optimized = "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


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


class Sum(Metric):
    """The running (weighted) sum of the values given to update_state."""
    name = "sum"
    _summed_state = ("total",)

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None, logits_of=None):
        v = np.asarray(_constant(values), np.float64)
        if sample_weight is not None:
            v, w = _same_rank(v, np.asarray(sample_weight, np.float64))
            if v.ndim > w.ndim:  # values per sample summed before weighting
                v = v.sum(axis=tuple(range(w.ndim, v.ndim)))
            v = v * np.broadcast_to(w, v.shape)
        self.total += float(v.sum())

    def result(self):
        return self.total


def _same_rank(a, b):
    """Keras's squeeze_or_expand_to_same_rank: when the ranks differ by one
    and the longer has a last axis of 1, that axis goes (or, against a
    vector, the vector gains one)."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        return (a, b[..., None]) if b.ndim == 1 else (a[..., 0], b)
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        return (a[..., None], b) if a.ndim == 1 else (a, b[..., 0])
    return a, b


def _per_sample_mean(v):
    return v.reshape(v.shape[0], -1).mean(axis=1) if v.ndim > 1 else v


class Accuracy(Metric):
    """How often the predictions equal the targets exactly."""
    name = "accuracy"

    def values(self, y_true, y_pred, logits_of=None):
        y_pred = _probabilities(y_pred, logits_of)
        y_true, y_pred = _same_rank(np.asarray(y_true).astype(np.float32), y_pred)
        return _per_sample_mean((y_true == y_pred).astype(np.float32))


class R2Score(Metric):
    """The coefficient of determination per output column, averaged
    uniformly (``'uniform_average'``), by the columns' variances
    (``'variance_weighted_average'``) or not at all (None); adjusted for
    ``num_regressors`` independent variables when given."""
    name = "r2_score"
    _summed_state = ("sum", "squared_sum", "total_mse", "count", "num_samples")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0,
                 name="r2_score", dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score: class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors,
                                                              (int, np.integer)) \
                or num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be an integer >= 0, got "
                             f"{num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        self._columns = None
        super().__init__(name)

    def reset_state(self):
        zeros = None if self._columns is None else np.zeros(self._columns, np.float64)
        self.sum, self.squared_sum, self.total_mse, self.count = [
            None if zeros is None else zeros.copy() for _ in range(4)]
        self.num_samples = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        y_pred = _probabilities(_constant(y_pred), logits_of).astype(np.float64)
        y_true, y_pred = _same_rank(np.asarray(_constant(y_true), np.float64), y_pred)
        if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(f"R2Score expects 2D inputs of one shape (batch_size, "
                             f"output_dim); got y_true {y_true.shape} and y_pred "
                             f"{y_pred.shape}")
        if self._columns is None:
            self._columns = y_pred.shape[1]
            self.reset_state()
        elif y_pred.shape[1] != self._columns:
            raise ValueError(f"R2Score: it has seen {self._columns} output columns, now "
                             f"{y_pred.shape[1]}")
        w = np.ones(y_true.shape) if sample_weight is None else \
            np.asarray(sample_weight, np.float64)
        if w.ndim == 1:
            w = w[:, None]
        w = np.broadcast_to(w, y_true.shape)
        self.sum = self.sum + (y_true * w).sum(axis=0)
        self.squared_sum = self.squared_sum + (y_true * y_true * w).sum(axis=0)
        self.total_mse = self.total_mse + ((y_true - y_pred) ** 2 * w).sum(axis=0)
        self.count = self.count + w.sum(axis=0)
        self.num_samples += y_true.size

    def result(self):
        if self._columns is None:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = float(np.mean(raw))
        elif self.class_aggregation == "variance_weighted_average":
            score = float(np.sum(total * raw) / np.sum(total))
        else:
            score = raw.astype(np.float32)
        p, n = self.num_regressors, self.num_samples
        if p:
            import warnings
            if p > n - 1:
                warnings.warn("R2Score: more independent predictors than data points in the "
                              "adjusted R2 score; falling back to the standard R2 score",
                              stacklevel=2)
            elif p == n - 1:
                warnings.warn("R2Score: division by zero in the adjusted R2 score; falling "
                              "back to the standard R2 score", stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return score

    def get_config(self):
        return {"name": self.name, "dtype": "float32",
                "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


_EPSILON = 1e-7


def _binary_crossentropy_values(y_true, y_pred, from_logits, label_smoothing):
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = 1.0 / (1.0 + np.exp(-y_pred))
    y_pred = np.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
    return -(y_true * np.log(y_pred) + (1.0 - y_true) * np.log(1.0 - y_pred)).mean(axis=-1)


def _categorical_crossentropy_values(y_true, y_pred, from_logits, axis):
    if from_logits:
        shifted = y_pred - y_pred.max(axis=axis, keepdims=True)
        log_prob = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    else:
        y_pred = y_pred / y_pred.sum(axis=axis, keepdims=True)
        log_prob = np.log(np.clip(y_pred, _EPSILON, 1.0 - _EPSILON))
    return -(y_true * log_prob).sum(axis=axis)


class _LossValuesMetric(Metric):
    """The running mean of a loss function's per-sample values (Keras 3's
    loss metrics, MeanMetricWrapper over the function)."""

    def values(self, y_true, y_pred, logits_of=None):
        # The model's output as the model gives it (probabilities where it
        # fused its activation into the loss), as Keras's metric sees it.
        y_pred = _probabilities(y_pred, logits_of)
        return _per_sample_mean(np.asarray(self._loss_values(np.asarray(y_true), y_pred),
                                           np.float32))

    def get_config(self):
        return {"name": self.name, "dtype": "float32"}


class BinaryCrossentropy(_LossValuesMetric):
    name = "binary_crossentropy"

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):
        self.from_logits, self.label_smoothing = bool(from_logits), label_smoothing
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true.astype(np.float32), y_pred)
        return _binary_crossentropy_values(y_true, y_pred, self.from_logits,
                                           self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(_LossValuesMetric):
    name = "categorical_crossentropy"

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        self.from_logits, self.label_smoothing = bool(from_logits), label_smoothing
        self.axis = axis
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        y_true = y_true.astype(np.float32).reshape(y_pred.shape)
        if self.label_smoothing:
            classes = y_true.shape[self.axis]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return _categorical_crossentropy_values(y_true, y_pred, self.from_logits, self.axis)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(_LossValuesMetric):
    name = "sparse_categorical_crossentropy"

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):
        self.from_logits, self.ignore_class, self.axis = bool(from_logits), ignore_class, axis
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        labels = np.asarray(y_true)
        if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
            labels = labels[..., 0]
        labels = labels.astype(np.int64)
        if labels.shape != y_pred.shape[:-1]:
            raise ValueError(f"metric {self.name!r}: labels of shape {labels.shape} do not fit "
                             f"predictions of shape {y_pred.shape}")
        valid = np.ones(labels.shape, bool) if self.ignore_class is None else \
            labels != self.ignore_class
        classes = y_pred.shape[-1]
        labels = np.where(valid, labels, 0)
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"metric {self.name!r}: labels must be in [0, {classes}), got "
                             f"values from {labels.min()} to {labels.max()}")
        one_hot = np.eye(classes, dtype=np.float32)[labels]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = _categorical_crossentropy_values(one_hot, np.where(
                valid[..., None], y_pred, np.float32(0)), self.from_logits, -1)
        return np.where(valid, values, 0.0)

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        # Keras 3 masks the ignored labels out of the weights it is given:
        # weighted, they count for nothing; unweighted, as a loss of 0.
        if self.ignore_class is not None and sample_weight is not None:
            labels = np.asarray(_constant(y_true))
            rows = labels.shape[0] if labels.ndim else 1
            valid = (labels.reshape(rows, -1) != self.ignore_class).mean(axis=1)
            sample_weight = np.asarray(sample_weight, np.float32).reshape(-1) * valid
        super().update_state(y_true, y_pred, sample_weight, logits_of)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}


class KLDivergence(_LossValuesMetric):
    name = "kl_divergence"

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true.astype(np.float32), y_pred)
        t, p = np.clip(y_true, _EPSILON, 1.0), np.clip(y_pred, _EPSILON, 1.0)
        return (t * np.log(t / p)).sum(axis=-1)


class CosineSimilarity(_LossValuesMetric):
    """The mean cosine of the angle between targets and predictions along
    ``axis``."""
    name = "cosine_similarity"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        self.axis = axis
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true.astype(np.float32), y_pred)

        def unit(x):
            norm = np.sqrt((x * x).sum(axis=self.axis, keepdims=True))
            return x / np.where(norm == 0, np.float32(1), norm)
        return (unit(y_true) * unit(y_pred)).sum(axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class LogCoshError(_LossValuesMetric):
    """The mean of log(cosh(prediction - target))."""
    name = "logcosh"

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true.astype(np.float32), y_pred)
        x = y_pred - y_true
        return (x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0)).mean(axis=-1)


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
        # (tensors in: a function's in-place operators leave the batch as it is)
        v = np.asarray(self.fn(eager(y_true), eager(y_pred), **self.fn_kwargs),
                       dtype=np.float32)
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
    @eager_results
    def fn(y_true, y_pred, **kwargs):
        metric = cls(**kwargs) if kwargs else cls()
        if not isinstance(metric, _AccuracyMetric):
            # Keras's metric functions mae/mse are its loss functions: they
            # reduce the last axis, so a 1-D pair (a whole series against
            # its forecast) gives one number, not one per element
            from . import losses
            return getattr(losses, name)(y_true, y_pred)
        y_pred = np.ascontiguousarray(y_pred, dtype=np.float32)
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        y_true = np.asarray(y_true)
        if metric.kind == "sparse":
            hit = y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])
        elif metric.kind == "categorical":
            hit = y_pred.argmax(-1) == y_true.reshape(y_pred.shape).argmax(-1)
        else:
            # (Keras compares the targets as they are: a target other
            # than 0 or 1 is never right)
            hit = ((y_pred > metric.threshold).astype(np.float32) ==
                   y_true.reshape(y_pred.shape).astype(np.float32)).mean(axis=-1)
        return hit.astype(np.float32)
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


def _keras_snake_case(name):
    """Keras's to_snake_case: its string alias of a metric class."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
_LOSS_NAMES = ("binary_crossentropy", "categorical_crossentropy",
               "sparse_categorical_crossentropy")


def accuracy_kind(y_true_shape, y_pred_shape):
    """Keras 3's rule for 'accuracy': binary for a one-unit output, sparse
    when the targets have one axis less than the output (or one unit
    against several), categorical otherwise."""
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if y_true_shape is None:  # (no targets seen yet: model.metrics_names)
        return CategoricalAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and
                                                  y_pred_shape[-1] != 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier):
    """Keras's ``metrics.get``: None stays None, a name, a class or a config
    gives a metric instance ("accuracy" is Accuracy, as in Keras 3), a
    Metric instance or a function is returned as it is.  (What compile
    makes of all of these is :func:`to_metric`.)"""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return Accuracy(name=identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()   # (named as the class names itself: 'mse' too)
    if isinstance(identifier, Metric) or (callable(identifier) and
                                          not isinstance(identifier, type)):
        return identifier
    return to_metric(identifier)


def to_metric(identifier, y_true_shape=None, y_pred_shape=None):
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
        return LossMetric(losses.to_loss(identifier), name=identifier)
    if isinstance(identifier, str) and identifier in _CONFUSION_BY_NAME:
        return _CONFUSION_BY_NAME[identifier]()
    if is_function_description(identifier):
        return MeanMetricWrapper(deserialize_function(identifier, "metric"))
    if isinstance(identifier, str) and lookup(identifier) is not None:
        return to_metric(lookup(identifier), y_true_shape, y_pred_shape)
    if callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Unknown metric {identifier!r}; expected 'accuracy' or one of "
                     f"{sorted(_BY_NAME) + list(_LOSS_NAMES)}, or a function of "
                     f"(y_true, y_pred)")


def serialize(metric):
    """A metric's config entry: its class and, for pynn's own metric
    classes, its whole config (thresholds, class_id, ...)."""
    return {"class_name": type(metric).__name__, "config": _config_of(metric)}


def _config_of(metric):
    # pynn's own metric classes and a program's (its get_config, as Keras
    # saves it); the wrappers of a function or a loss are saved by name.
    if not isinstance(metric, (LossMetric, MeanMetricWrapper)):
        return metric.get_config()
    return {"name": metric.name}


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
    _summed_state = ("true_positives", "false_positives", "true_negatives",
                     "false_negatives")

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
    _summed_state = ("true_positives", "false_positives", "false_negatives",
                     "intermediate_weights")

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
    _summed_state = ("total_cm",)

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


# Names that build these with their defaults (the IoUs need num_classes),
# as Keras 3 spells them: the class name and its snake case.
_CONFUSION_BY_NAME = {alias: cls for cls in (
    AUC, F1Score, FBetaScore, Accuracy, R2Score, TruePositives, FalsePositives, TrueNegatives,
    FalseNegatives, PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity,
    SpecificityAtSensitivity, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, KLDivergence, CosineSimilarity, LogCoshError)
    for alias in (cls.__name__, _keras_snake_case(cls.__name__))}
_CONFUSION_BY_NAME.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy})


class _LossFormulaMetric(_LossValuesMetric):
    """The running mean of one of pynn.losses' per-sample formulas (Keras
    3's Hinge, Poisson, ... metrics)."""
    loss_class = None

    def __init__(self, name=None, dtype=None):
        self._loss = self.loss_class(reduction="none")
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true.astype(np.float32), y_pred)
        return self._loss._formula(y_true, y_pred)


def _loss_formula_metric(class_name, metric_name):
    from . import losses
    cls = type(class_name, (_LossFormulaMetric,),
               {"name": metric_name, "loss_class": getattr(losses, class_name),
                "__module__": __name__, "__qualname__": class_name,
                "__doc__": f"The running mean of {metric_name.replace('_', ' ')}."})
    return cls


Hinge = _loss_formula_metric("Hinge", "hinge")
SquaredHinge = _loss_formula_metric("SquaredHinge", "squared_hinge")
CategoricalHinge = _loss_formula_metric("CategoricalHinge", "categorical_hinge")
Poisson = _loss_formula_metric("Poisson", "poisson")
MeanAbsolutePercentageError = _loss_formula_metric("MeanAbsolutePercentageError",
                                                   "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _loss_formula_metric("MeanSquaredLogarithmicError",
                                                   "mean_squared_logarithmic_error")


def pearson_correlation(y_true, y_pred, axis=-1):
    """The Pearson correlation of targets and predictions along ``axis``,
    one per sample."""
    y_pred = np.asarray(_constant(y_pred), np.float32)
    y_true, y_pred = _same_rank(np.asarray(_constant(y_true), np.float32), y_pred)
    axis = tuple(axis) if isinstance(axis, list) else axis
    t = y_true - y_true.mean(axis=axis, keepdims=True)
    p = y_pred - y_pred.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = t / t.std(axis=axis, keepdims=True)
        p = p / p.std(axis=axis, keepdims=True)
    return (t * p).mean(axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation of targets and predictions along
    ``axis``, one per sample, in Keras 3's form (its covariance term centres
    the targets on the predictions' mean)."""
    y_pred = np.asarray(_constant(y_pred), np.float32)
    y_true, y_pred = _same_rank(np.asarray(_constant(y_true), np.float32), y_pred)
    axis = tuple(axis) if isinstance(axis, list) else axis
    true_mean = y_true.mean(axis=axis, keepdims=True)
    pred_mean = y_pred.mean(axis=axis, keepdims=True)
    norm = (y_true - true_mean).var(axis=axis, keepdims=True) + \
        (y_pred - pred_mean).var(axis=axis, keepdims=True) + np.square(true_mean - pred_mean)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    return (2 * covariance / (norm + np.float32(_EPSILON))).mean(axis=axis)


class _CorrelationMetric(_LossValuesMetric):
    function = None

    def __init__(self, name=None, dtype=None, axis=-1):
        self.axis = axis
        super().__init__(name)

    def _loss_values(self, y_true, y_pred):
        return type(self).function(y_true, y_pred, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class PearsonCorrelation(_CorrelationMetric):
    """The running mean of the per-sample Pearson correlation."""
    name = "pearson_correlation"
    function = pearson_correlation


class ConcordanceCorrelation(_CorrelationMetric):
    """The running mean of the per-sample concordance correlation."""
    name = "concordance_correlation"
    function = concordance_correlation


class OneHotIoU(IoU):
    """IoU of the classes ``target_class_ids`` for one-hot targets and
    scores per class (argmax taken over ``axis``)."""
    name = "one_hot_io_u"

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None,
                 ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """The mean IoU over all classes for one-hot targets and scores per
    class (argmax taken over ``axis``)."""
    name = "one_hot_mean_io_u"

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the target's class (the argmax of one-hot ``y_true``) is among
    the ``k`` best predictions, else 0, in ``y_true``'s shape less its last
    axis."""
    y_pred = np.asarray(_constant(y_pred), np.float32)
    labels = np.asarray(_constant(y_true), np.float32).argmax(axis=-1)
    hits = ops.in_top_k(labels.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return hits.astype(np.float32).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label is among the ``k`` best predictions (or,
    ``from_sorted_ids``, among the first ``k`` class ids of ``y_pred``), in
    ``y_true``'s shape."""
    y_pred = np.asarray(_constant(y_pred))
    labels = np.asarray(_constant(y_true))
    rows = y_pred.reshape(-1, y_pred.shape[-1])
    if from_sorted_ids:
        flat = labels.astype(y_pred.dtype).reshape(-1)
        hits = np.any(flat[:, None] == rows[:, :k], axis=1)
    else:
        hits = ops.in_top_k(labels.astype(np.int64).reshape(-1), rows.astype(np.float32), k)
    return hits.astype(np.float32).reshape(labels.shape)


def _import_loss_functions():
    """Keras 3's metric functions that are its loss functions."""
    from . import losses
    names = ("binary_crossentropy", "categorical_crossentropy",
             "sparse_categorical_crossentropy", "binary_focal_crossentropy",
             "categorical_focal_crossentropy", "hinge", "squared_hinge", "categorical_hinge",
             "huber", "kl_divergence", "log_cosh", "poisson", "mean_absolute_percentage_error",
             "mean_squared_logarithmic_error")
    globals().update({name: getattr(losses, name) for name in names})


_import_loss_functions()

for _cls in (Hinge, SquaredHinge, CategoricalHinge, Poisson, MeanAbsolutePercentageError,
             MeanSquaredLogarithmicError, PearsonCorrelation, ConcordanceCorrelation):
    _CONFUSION_BY_NAME[_cls.__name__] = _CONFUSION_BY_NAME[_keras_snake_case(
        _cls.__name__)] = _cls
del _cls
_CONFUSION_BY_NAME.update({"MAE": MeanAbsoluteError, "MSE": MeanSquaredError,
                           "mape": MeanAbsolutePercentageError,
                           "MAPE": MeanAbsolutePercentageError,
                           "msle": MeanSquaredLogarithmicError,
                           "MSLE": MeanSquaredLogarithmicError,
                           # tf.keras 2's names of the cosine similarity
                           # metric (Keras 3 has only cosine_similarity)
                           "cosine_proximity": CosineSimilarity,
                           "cosine": CosineSimilarity})
for _fn in (top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, pearson_correlation,
            concordance_correlation):
    _fn._metric_class = {"top_k_categorical_accuracy": TopKCategoricalAccuracy,
                         "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
                         "pearson_correlation": PearsonCorrelation,
                         "concordance_correlation": ConcordanceCorrelation}[_fn.__name__]
del _fn


def deserialize(config, custom_objects=None):
    """A metric from its config (``serialize``'s or Keras's) or a name (a
    class's name or its snake case, as Keras's ``metrics.deserialize``)."""
    if isinstance(config, str):
        found = (custom_objects or {}).get(config)
        if found is not None:
            return found
        if config in _BY_CLASS_NAME or config in _BY_NAME or config in _CONFUSION_BY_NAME:
            return to_metric(config)
        raise ValueError(f"metrics.deserialize: unknown metric {config!r}")
    if isinstance(config, dict):
        from .saving.serialization import deserialize_keras_object
        spec = config if "module" in config else {**config, "module": "keras.metrics"}
        return deserialize_keras_object(spec, custom_objects)
    raise ValueError(f"metrics.deserialize: expected a name or a config dict, got {config!r}")
