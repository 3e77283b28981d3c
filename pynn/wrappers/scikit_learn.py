"""tf.keras 2's scikit-learn wrappers (``keras.wrappers.scikit_learn``):
``KerasClassifier`` and ``KerasRegressor`` around a ``build_fn`` that
builds and compiles a model.

The keyword arguments given to the constructor (``sk_params``) are the
estimator's parameters: those that ``build_fn`` names are passed to it,
those that ``Model.fit``, ``predict`` or ``evaluate`` name are passed to
them (``epochs``, ``batch_size``, ``verbose``, ...), so scikit-learn's
``GridSearchCV`` can tune both.  These classes need no scikit-learn: they
speak its protocol (get_params/set_params, fit/predict/score, tags) by
duck typing, and ``sklearn.base.clone`` copies them.
"""
import inspect
import types

import numpy as np

__all__ = ["KerasClassifier", "KerasRegressor"]


def _has_arg(fn, name):
    """Whether ``fn`` takes an argument called ``name`` (by name: a
    ``**kwargs`` does not count, as in Keras)."""
    param = inspect.signature(fn).parameters.get(name)
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD,
                                                param.KEYWORD_ONLY)


def _is_categorical_crossentropy(loss):
    from .. import losses
    if isinstance(loss, losses.CategoricalCrossentropy):
        return True
    if isinstance(loss, losses.LossFunctionWrapper):
        loss = loss.fn
    return loss == "categorical_crossentropy" or \
        getattr(loss, "__name__", None) == "categorical_crossentropy"


class BaseWrapper:
    """The parameters and the model building shared by KerasClassifier and
    KerasRegressor.

    ``build_fn`` is a function, an object with a ``__call__`` method, or
    None for a subclass whose own ``__call__`` builds the model.  It must
    return a compiled model."""

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _build_function(self):
        if self.build_fn is None:
            return self.__call__
        if isinstance(self.build_fn, (types.FunctionType, types.MethodType)):
            return self.build_fn
        return self.build_fn.__call__

    def check_params(self, params):
        """Raises ValueError for a parameter that neither the build function
        nor Model.fit, predict or evaluate takes (a typo, most often)."""
        from ..models import Sequential
        legal = [Sequential.fit, Sequential.predict, Sequential.evaluate,
                 self._build_function()]
        for name in params:
            if name != "nb_epoch" and not any(_has_arg(fn, name) for fn in legal):
                raise ValueError(f"{type(self).__name__}: {name} is not a legal parameter "
                                 f"(not an argument of the build function, nor of "
                                 f"Model.fit, predict or evaluate)")

    def get_params(self, **params):
        """The estimator's parameters: ``build_fn`` and the sk_params
        (``deep`` and other arguments are ignored)."""
        res = dict(self.sk_params)
        res["build_fn"] = self.build_fn
        return res

    def set_params(self, **params):
        """Updates the sk_params (checked as the constructor checks them)."""
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn, override=None):
        """The sk_params that ``fn`` takes, updated with ``override``."""
        res = {name: value for name, value in self.sk_params.items() if _has_arg(fn, name)}
        res.update(override or {})
        return res

    def fit(self, x, y, **kwargs):
        """Builds a new model with the build function and fits it on
        ``(x, y)``; ``kwargs`` (Model.fit's arguments) override the
        sk_params.  Returns the History."""
        from ..models import Sequential
        from ..utils import to_categorical
        build = self._build_function()
        self.model = build(**self.filter_sk_params(build))
        y = np.asarray(y)
        if _is_categorical_crossentropy(self.model.loss) and y.ndim != 2:
            y = to_categorical(y)
        fit_args = self.filter_sk_params(Sequential.fit)
        if "nb_epoch" in self.sk_params and "epochs" not in fit_args:
            fit_args["epochs"] = self.sk_params["nb_epoch"]
        fit_args.update(kwargs)
        return self.model.fit(x, y, **fit_args)

    def _predict_args(self, kwargs):
        from ..models import Sequential
        return self.filter_sk_params(Sequential.predict, kwargs)

    def _evaluate_args(self, kwargs):
        from ..models import Sequential
        return self.filter_sk_params(Sequential.evaluate, kwargs)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model")

    def __sklearn_tags__(self):
        # (scikit-learn >= 1.6 asks for these; it is installed when it asks)
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags
        classifier = self._estimator_type == "classifier"
        return Tags(estimator_type=self._estimator_type,
                    target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags() if classifier else None,
                    regressor_tags=None if classifier else RegressorTags(),
                    non_deterministic=True)

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class KerasClassifier(BaseWrapper):
    """A scikit-learn classifier around a model built by ``build_fn``.

    Labels of any type are encoded as their index in ``classes_`` for
    training (one-hot where the loss is categorical crossentropy) and
    ``predict`` turns the model's output back into labels; ``score`` is the
    model's accuracy metric, so the model is compiled with
    ``metrics=["accuracy"]``."""
    _estimator_type = "classifier"

    def fit(self, x, y, **kwargs):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError(f"{type(self).__name__}.fit: invalid shape for y: {y.shape} "
                             f"(expected (n_samples,), (n_samples, 1) or one-hot "
                             f"(n_samples, n_classes))")
        self.n_classes_ = len(self.classes_)
        return super().fit(x, y, **kwargs)

    def predict(self, x, **kwargs):
        """The predicted labels, shape (n_samples,): the class of highest
        probability, or of probability above 0.5 for one sigmoid unit."""
        proba = np.asarray(self.model.predict(x, **self._predict_args(kwargs)))
        if proba.shape[-1] > 1:
            classes = proba.argmax(axis=-1)
        else:
            classes = (proba[..., 0] > 0.5).astype("int32")
        return self.classes_[classes]

    def predict_proba(self, x, **kwargs):
        """The class probabilities, shape (n_samples, n_classes): two
        columns (1 - p, p) for one sigmoid unit, as scikit-learn expects."""
        probs = np.asarray(self.model.predict(x, **self._predict_args(kwargs)))
        if probs.shape[1] == 1:
            probs = np.hstack([1 - probs, probs])
        return probs

    def score(self, x, y, **kwargs):
        """The model's accuracy on ``(x, y)``."""
        from ..utils import to_categorical
        y = np.searchsorted(self.classes_, np.asarray(y))
        if _is_categorical_crossentropy(self.model.loss) and y.ndim != 2:
            y = to_categorical(y, num_classes=len(self.classes_))
        outputs = self.model.evaluate(x, y, **self._evaluate_args(kwargs))
        if not isinstance(outputs, list):
            outputs = [outputs]
        for name, output in zip(self.model.metrics_names, outputs):
            if name in ("accuracy", "acc"):
                return output
        raise ValueError(f"{type(self).__name__}.score: the model is not configured to "
                         f"compute accuracy. You should pass `metrics=[\"accuracy\"]` to the "
                         f"`model.compile()` method.")


class KerasRegressor(BaseWrapper):
    """A scikit-learn regressor around a model built by ``build_fn``;
    ``score`` is the negated loss (greater is better)."""
    _estimator_type = "regressor"

    def predict(self, x, **kwargs):
        """The predictions, with a last axis of one unit dropped."""
        preds = np.asarray(self.model.predict(x, **self._predict_args(kwargs)))
        return np.squeeze(preds, axis=-1) if preds.shape[-1] == 1 else preds

    def score(self, x, y, **kwargs):
        """The negated loss of the model on ``(x, y)``."""
        loss = self.model.evaluate(x, y, **self._evaluate_args(kwargs))
        if isinstance(loss, list):
            return -loss[0]
        return -loss
