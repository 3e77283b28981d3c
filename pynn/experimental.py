"""``tf.experimental`` for programs ported with ``import pynn as tf``:
the cosine schedules and the PeepholeLSTMCell tf.keras 2.2-2.8 kept here
(``tf.keras.experimental``), and
``tf.experimental.numpy`` (``import pynn.experimental.numpy as tnp``),
TensorFlow's NumPy API.

pynn's tensors are NumPy arrays, so tnp's functions are NumPy's own, with
NumPy's dtypes and defaults (float64 for Python floats, as tnp's).  A call
given a value a GradientTape traces (a Variable, a watched array, a value
computed on the tape) goes to pynn.ops's function of the same name where
there is one, so that the tape records it; results are eager tensors
(``.numpy()``).
"""
import functools
import inspect
import sys
import types

import numpy as _np

from . import ops
from .backend import _eager_results
from .layers.rnn import PeepholeLSTMCell
from .optimizers.schedules import CosineDecay, CosineDecayRestarts
from .tensor import Tensor
from .utils.dataset import Optional


def _traced(values):
    return any(ops._is_traced(v) or (type(v) in (list, tuple) and _traced(v)) for v in values)


def _accepts(fn, kwargs):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return all(k in params for k in kwargs) or any(
        p.kind is p.VAR_KEYWORD for p in params.values())


def _dispatch(name, np_fn):
    ops_fn = getattr(ops, name, None)

    def call(*args, **kwargs):
        if ops_fn is not None and _traced(list(args) + list(kwargs.values())) and \
                _accepts(ops_fn, kwargs):
            return ops_fn(*args, **kwargs)
        return np_fn(*args, **kwargs)
    # (tf.experimental.numpy keeps NumPy's dtypes: float64 for Python floats)
    return functools.update_wrapper(_eager_results(call, python_floats=False), np_fn)


def experimental_enable_numpy_behavior(prefer_float32=False, dtype_conversion_mode="legacy"):
    """TensorFlow's switch giving tensors NumPy's methods (``x.reshape``,
    ``x.T``) and type promotion; pynn's tensors are NumPy arrays and have
    them already, so there is nothing to switch."""
    return None


class _NumpyModule(types.ModuleType):
    """NumPy's names, each function dispatched as the module says; dtypes,
    constants and classes as NumPy's."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            value = getattr(_np, name)
        except AttributeError:
            raise AttributeError(f"module 'pynn.experimental.numpy' has no attribute "
                                 f"{name!r}") from None
        if callable(value) and not isinstance(value, type):
            value = _dispatch(name, value)
        setattr(self, name, value)  # (built once per name)
        return value

    def __dir__(self):
        return sorted(set(dir(_np)) | set(self.__dict__))


numpy = _NumpyModule(__name__ + ".numpy", __doc__)
numpy.ndarray = Tensor
numpy.experimental_enable_numpy_behavior = experimental_enable_numpy_behavior


def _asarray(a, dtype=None):
    """NumPy's asarray, keeping a traced value on its tape."""
    if ops._is_traced(a):
        return a if dtype is None else ops.cast(a, _np.dtype(dtype).name)
    return _np.asarray(a, dtype=dtype)


def _asarray_chkfinite(a, dtype=None):
    """asarray, refusing infinities and NaNs as NumPy's."""
    if not _np.isfinite(_np.asarray(ops.convert_to_numpy(a), dtype=dtype)).all():
        raise ValueError("array must not contain infs or NaNs")
    return _asarray(a, dtype)


def _require(a, dtype=None, requirements=None):
    """NumPy's require: the array (C-contiguous, aligned and writable
    already), as dtype."""
    return _asarray(a, dtype)


numpy.asarray = numpy.array = numpy.asanyarray = numpy.ascontiguousarray = \
    numpy.asfortranarray = _eager_results(_asarray, python_floats=False)
numpy.asarray_chkfinite = _eager_results(_asarray_chkfinite, python_floats=False)
numpy.require = _eager_results(_require, python_floats=False)
sys.modules[numpy.__name__] = numpy

__all__ = ["CosineDecay", "CosineDecayRestarts", "Optional", "PeepholeLSTMCell", "numpy"]
