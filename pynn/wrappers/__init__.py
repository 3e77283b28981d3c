"""scikit-learn estimators around a model (Keras 3's keras.wrappers):
SKLearnClassifier, SKLearnRegressor and SKLearnTransformer.

``model`` is a compiled Model (cloned, with its compile settings, for each
``fit``) or a function ``model(X=..., y=..., **model_kwargs)`` building
one; ``fit_kwargs`` go to ``Model.fit``.  scikit-learn is an optional
dependency: it is imported when one of these names is first used, and
making an estimator without it raises an ImportError naming it.

``scikit_learn`` holds tf.keras 2's KerasClassifier and KerasRegressor
(``keras.wrappers.scikit_learn``), which need no scikit-learn.
"""
import copy

import numpy as np

from . import scikit_learn  # noqa: F401  (tf.keras.wrappers.scikit_learn)

_NAMES = ("SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer")
__all__ = list(_NAMES)


def assert_sklearn_installed(symbol_name):
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError(f"{symbol_name} requires `scikit-learn` to be installed. Run "
                          f"`pip install scikit-learn` to install it.") from None


def _check_model(model):
    if not getattr(model, "compiled", False) or not model.loss or not model.optimizer:
        raise RuntimeError("Given model needs to be compiled, and have a loss and an "
                           "optimizer.")


def _build():
    """The estimator classes, on scikit-learn's bases where it is installed
    (without it, classes whose constructor says it is needed)."""
    try:
        import sklearn
        import sklearn.pipeline
        import sklearn.preprocessing
        from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, \
            TransformerMixin
        from sklearn.utils.multiclass import type_of_target as sk_type_of_target
        from sklearn.utils.validation import check_is_fitted
    except ImportError:
        sklearn = None

        class BaseEstimator:
            pass

        class ClassifierMixin:
            pass

        class RegressorMixin:
            pass

        class TransformerMixin:
            pass

    def validate_data(estimator, *args, **kwargs):
        try:
            from sklearn.utils.validation import validate_data as validate
        except ImportError:  # scikit-learn < 1.6: a method of the estimator
            return estimator._validate_data(*args, **kwargs)
        return validate(estimator, *args, **kwargs)

    def type_of_target(y):
        target_type = sk_type_of_target(y)
        if target_type == "unknown":
            raise ValueError(f"Unknown label type for data: {y!r}")
        return target_type

    class TargetReshaper(TransformerMixin, BaseEstimator):
        """1-D targets as a column for fit; predictions back to 1-D."""

        def fit(self, y):
            self.ndim_ = y.ndim
            return self

        def transform(self, y):
            return y.reshape(-1, 1) if y.ndim == 1 else y

        def inverse_transform(self, y):
            check_is_fitted(self)
            if self.ndim_ == 1 and y.ndim == 2:
                return np.squeeze(y, axis=1)
            return y

    class SKLBase(BaseEstimator):
        def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
            assert_sklearn_installed(type(self).__name__)
            self.model = model
            self.warm_start = warm_start
            self.model_kwargs = model_kwargs
            self.fit_kwargs = fit_kwargs

        def _more_tags(self):
            return {"non_deterministic": True}

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.non_deterministic = True
            return tags

        def __sklearn_clone__(self):
            # (Keras 3.15's clone drops fit_kwargs: a clone in cross_val_score
            # would fit for one epoch; kept here)
            model = self.model if callable(self.model) else copy.deepcopy(self.model)
            return type(self)(model=model, warm_start=self.warm_start,
                              model_kwargs=self.model_kwargs, fit_kwargs=self.fit_kwargs)

        @property
        def epoch_(self):
            return getattr(self, "history_", {}).get("epoch", 0)

        def set_fit_request(self, **kwargs):
            if not sklearn.get_config().get("enable_metadata_routing", False):
                raise RuntimeError("This method is only available when metadata routing is "
                                   "enabled. You can enable it using "
                                   "sklearn.set_config(enable_metadata_routing=True).")
            self._metadata_request = sklearn.utils.metadata_routing.MetadataRequest(
                owner=type(self).__name__)
            for param, alias in kwargs.items():
                self._metadata_request.score.add_request(param=param, alias=alias)
            return self

        def _get_model(self, X, y):
            from ..models import Model, clone_model
            if isinstance(self.model, Model):
                model = clone_model(self.model)
                if getattr(self.model, "compiled", False):  # (Keras's clone keeps it)
                    model.compile_from_config(self.model.get_compile_config())
                return model
            return self.model(X=X, y=y, **(self.model_kwargs or {}))

        def fit(self, X, y, **kwargs):
            """Builds (or clones) the model and fits it on X, y; extra
            arguments go to Model.fit after ``fit_kwargs``."""
            X, y = validate_data(self, X, y)
            y = self._process_target(y, reset=True)
            model = self._get_model(X, y)
            _check_model(model)
            fit_kwargs = dict(self.fit_kwargs or {})
            fit_kwargs.update(kwargs)
            self.history_ = model.fit(X, y, **fit_kwargs)
            self.model_ = model
            return self

        def predict(self, X):
            check_is_fitted(self)
            X = validate_data(self, X, reset=False)
            return self._reverse_process_target(self.model_.predict(X))

        def _process_target(self, y, reset=False):
            type_of_target(y)
            if reset:
                self._target_encoder = TargetReshaper().fit(y)
            return self._target_encoder.transform(y)

        def _reverse_process_target(self, y):
            return self._target_encoder.inverse_transform(y)

    class SKLearnClassifier(ClassifierMixin, SKLBase):
        """A scikit-learn classifier around a model: the targets (binary or
        multiclass labels of any type) are one-hot encoded for fit, and
        ``predict`` turns the model's outputs back into labels."""

        def decision_function(self, X):
            check_is_fitted(self)
            X = validate_data(self, X, reset=False)
            return self.model_.predict(X)

        def _process_target(self, y, reset=False):
            target_type = type_of_target(y)
            if target_type not in ("binary", "multiclass"):
                raise ValueError(f"Only binary and multiclass target types are supported. "
                                 f"Target type: {target_type}")
            if reset:
                self._target_encoder = sklearn.pipeline.make_pipeline(
                    TargetReshaper(),
                    sklearn.preprocessing.OneHotEncoder(sparse_output=False)).fit(y)
                self.classes_ = np.unique(y)
                if len(self.classes_) == 1:
                    raise ValueError("Classifier can't train when only one class is present.")
            return self._target_encoder.transform(y)

        def _more_tags(self):
            return {"poor_score": True}

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.classifier_tags.poor_score = True
            return tags

    class SKLearnRegressor(RegressorMixin, SKLBase):
        """A scikit-learn regressor around a model."""

        def _more_tags(self):
            return {"poor_score": True}

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.regressor_tags.poor_score = True
            return tags

    class SKLearnTransformer(TransformerMixin, SKLBase):
        """A scikit-learn transformer around a model: ``transform`` is the
        model's prediction."""

        def transform(self, X):
            check_is_fitted(self)
            X = validate_data(self, X, reset=False)
            return self.model_.predict(X)

        def _more_tags(self):
            return {"preserves_dtype": []}

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.transformer_tags.preserves_dtype = []
            return tags

    # (all kept in the module, where pickle finds a fitted estimator's parts)
    classes = {"SKLearnClassifier": SKLearnClassifier, "SKLearnRegressor": SKLearnRegressor,
               "SKLearnTransformer": SKLearnTransformer, "SKLBase": SKLBase,
               "TargetReshaper": TargetReshaper}
    for cls in classes.values():
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return classes


def __getattr__(name):
    # scikit-learn is imported on first use only (it is slow to import)
    if name in _NAMES + ("SKLBase", "TargetReshaper"):
        globals().update(_build())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_NAMES))
