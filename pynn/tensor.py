"""The arrays that eager code gets back, as TensorFlow's eager tensors.

A model or layer called on data, ``pynn.constant`` and its TF-style
neighbours, and a Dataset's elements give a :class:`Tensor`: a NumPy array
(same memory, same arithmetic, accepted wherever an ndarray is, the C
bridge included) that also has what TensorFlow-era programs call on their
tensors: ``.numpy()``, ``.shape.as_list()`` and, on the output of a
masking layer, ``_keras_mask``.  ``predict`` and the training loop keep
returning plain ndarrays; a Tensor costs one view where it is made.
"""
import functools

import numpy as np


class TensorShape(tuple):
    """A shape (a tuple of ints) with TensorFlow's ``as_list`` and ``rank``."""
    __slots__ = ()

    def as_list(self):
        return list(self)

    @property
    def rank(self):
        return len(self)

    ndims = rank

    def num_elements(self):
        n = 1
        for d in self:
            if d is None:
                return None
            n *= d
        return n

    def __getitem__(self, key):
        got = tuple.__getitem__(self, key)
        return TensorShape(got) if isinstance(key, slice) else got


class Tensor(np.ndarray):
    """An ndarray as an eager tensor: ``numpy()`` gives the plain array
    (a Python-side NumPy scalar for a 0-d one, as TensorFlow does)."""

    @property
    def shape(self):
        return TensorShape(_ndarray_shape.__get__(self))

    @shape.setter
    def shape(self, value):
        _ndarray_shape.__set__(self, value)

    def get_shape(self):
        return self.shape

    def numpy(self):
        plain = self.view(np.ndarray)
        return plain[()] if plain.ndim == 0 else plain


_ndarray_shape = np.ndarray.shape


def eager(x):
    """``x`` with its arrays (in lists, tuples and dicts) as Tensors; other
    values (weights, traced values, numbers) as they are."""
    t = type(x)
    if t is np.ndarray:
        return x.view(Tensor)
    if t is list or t is tuple:
        return t(eager(v) for v in x)
    if t is dict:
        return {k: eager(v) for k, v in x.items()}
    if isinstance(x, np.generic):  # a reduction's scalar: tf.reduce_sum(x).numpy()
        return np.asarray(x).view(Tensor)
    return x


def eager_results(f):
    """``f`` returning what it returns as eager tensors."""
    def eager_result(*args, **kwargs):
        return eager(f(*args, **kwargs))
    return functools.update_wrapper(eager_result, f)
