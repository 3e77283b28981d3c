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
import sys

import numpy as np


class Dimension:
    """One size of a shape, None where unknown (tf.compat.v1.Dimension,
    what ``TensorShape.dims`` lists): compared, combined and checked as
    TensorFlow's, where an unknown size makes a comparison or a sum
    unknown (None)."""

    __slots__ = ("_value",)

    def __init__(self, value):
        if isinstance(value, Dimension):
            value = value.value
        if value is not None:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
                    and not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
                raise TypeError(f"Dimension value must be integer or None or have an "
                                f"__index__ method, got value {value!r} with type "
                                f"{type(value)!r}")
            value = int(value)
            if value < 0:
                raise ValueError(f"Dimension {value} must be >= 0")
        self._value = value

    @property
    def value(self):
        return self._value

    def __repr__(self):
        return f"Dimension({self._value!r})"

    def __str__(self):
        return "?" if self._value is None else str(self._value)

    def __int__(self):
        return self._value

    def __index__(self):
        return self._value

    def __bool__(self):
        return bool(self._value)

    def __hash__(self):
        return hash(self._value)

    def __eq__(self, other):
        other = _other_dimension(other)
        if other is NotImplemented:
            return other
        if self._value is None or other.value is None:
            return None
        return self._value == other.value

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is None or equal is NotImplemented else not equal

    def is_compatible_with(self, other):
        other = as_dimension(other)
        return self._value is None or other.value is None or self._value == other.value

    def assert_is_compatible_with(self, other):
        if not self.is_compatible_with(other):
            raise ValueError(f"Dimensions {self} and {as_dimension(other)} are not compatible")

    def merge_with(self, other):
        """The known one of the two sizes; a ValueError where both are
        known and differ."""
        other = as_dimension(other)
        self.assert_is_compatible_with(other)
        return Dimension(other.value if self._value is None else self._value)

    def _combine(self, other, op, reverse=False):
        other = _other_dimension(other)
        if other is NotImplemented:
            return other
        if self._value is None or other.value is None:
            return Dimension(None)
        a, b = (other.value, self._value) if reverse else (self._value, other.value)
        return Dimension(op(a, b))

    def __add__(self, other):
        return self._combine(other, lambda a, b: a + b)

    def __radd__(self, other):
        return self._combine(other, lambda a, b: a + b, True)

    def __sub__(self, other):
        return self._combine(other, lambda a, b: a - b)

    def __rsub__(self, other):
        return self._combine(other, lambda a, b: a - b, True)

    def __mul__(self, other):
        return self._combine(other, lambda a, b: a * b)

    def __rmul__(self, other):
        return self._combine(other, lambda a, b: a * b, True)

    def __floordiv__(self, other):
        return self._combine(other, lambda a, b: a // b)

    def __rfloordiv__(self, other):
        return self._combine(other, lambda a, b: a // b, True)

    def __mod__(self, other):
        return self._combine(other, lambda a, b: a % b)

    def __rmod__(self, other):
        return self._combine(other, lambda a, b: a % b, True)

    def __truediv__(self, other):
        raise TypeError(f"unsupported operand type(s) for /: 'Dimension' and "
                        f"'{type(other).__name__}', please use // instead")

    def _order(self, other, op):
        other = _other_dimension(other)
        if other is NotImplemented:
            return other
        if self._value is None or other.value is None:
            return None
        return op(self._value, other.value)

    def __lt__(self, other):
        return self._order(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._order(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._order(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._order(other, lambda a, b: a >= b)

    def __reduce__(self):
        return Dimension, (self._value,)


class Reference:
    """What ``tensor.ref()`` and ``variable.ref()`` give: hashable, equal
    only to a reference to the same object, ``deref()`` gives it back
    (TensorFlow's way to key a dict or a set by a tensor or variable)."""

    __slots__ = ("_wrapped",)

    def __init__(self, wrapped):
        self._wrapped = wrapped

    def deref(self):
        return self._wrapped

    def __hash__(self):
        return id(self._wrapped)

    def __eq__(self, other):
        return isinstance(other, Reference) and other._wrapped is self._wrapped

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return f"<Reference wrapping {self._wrapped!r}>"


def as_dimension(value):
    """``value`` as a Dimension (a Dimension as it is)."""
    return value if isinstance(value, Dimension) else Dimension(value)


def _other_dimension(other):
    try:
        return as_dimension(other)
    except (TypeError, ValueError):
        return NotImplemented


def dimension_value(dimension):
    """The size of a Dimension (an int or None); an int or None as it is
    (tf.compat.dimension_value)."""
    return dimension.value if isinstance(dimension, Dimension) else dimension


def dimension_at_index(shape, index):
    """The Dimension of ``shape`` at ``index`` (an unknown one for a shape
    of unknown rank), as tf.compat.dimension_at_index."""
    shape = TensorShape(shape)
    if shape.rank is None:
        return Dimension(None)
    return Dimension(shape[index])


class TensorShape(tuple):
    """TensorFlow's ``tf.TensorShape`` (``pynn.TensorShape``): sizes, None
    where unknown.  A tuple, so it goes wherever a shape does (a cell's
    state_size, a layer's build)."""

    def __new__(cls, dims=()):
        if dims is None or isinstance(dims, _UnknownRankShape):
            return tuple.__new__(_UnknownRankShape)
        if isinstance(dims, (int, np.integer)):
            dims = (dims,)
        return super().__new__(cls, (None if d is None else int(d) for d in (
            d.value if isinstance(d, Dimension) else d for d in dims)))

    def as_list(self):
        return list(self)

    def __bool__(self):
        # (TensorFlow's: a shape of known rank is true, a scalar's () too;
        # test ``rank == 0`` for a scalar)
        return True

    @property
    def rank(self):
        return len(self)

    ndims = rank

    @property
    def dims(self):
        """The sizes as Dimensions (TensorFlow's; ``as_list()`` gives ints)."""
        return [Dimension(d) for d in self]

    def is_fully_defined(self):
        return all(d is not None for d in self)

    def num_elements(self):
        return int(np.prod(self, dtype=np.int64)) if self.is_fully_defined() else None

    def concatenate(self, other):
        other = TensorShape(other)
        if other.rank is None:  # (with a shape of unknown rank: unknown, as TF)
            return other
        return TensorShape(tuple(self) + tuple(other))

    def is_compatible_with(self, other):
        """Whether ``other`` has this rank and equal sizes where both are
        known (TensorFlow's shape compatibility)."""
        other = TensorShape(other)
        return len(self) == len(other) and all(
            a is None or b is None or a == b for a, b in zip(self, other))

    def assert_is_compatible_with(self, other):
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {TensorShape(other)} are incompatible")

    def merge_with(self, other):
        """The shape with the sizes of both (the known one where one is
        None); a ValueError where they are incompatible."""
        other = TensorShape(other)
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {other} are not compatible")
        return TensorShape(b if a is None else a for a, b in zip(self, other))

    def most_specific_compatible_shape(self, other):
        """The sizes both shapes share (None where they differ); of shapes
        of two ranks, a ValueError (pynn's shapes always have a rank)."""
        other = TensorShape(other)
        if len(self) != len(other):
            raise ValueError(f"most_specific_compatible_shape: shapes {self} and {other} "
                             f"differ in rank; their common shape has an unknown rank, "
                             f"which pynn's TensorShape does not represent")
        return TensorShape(a if a == b else None for a, b in zip(self, other))

    def assert_has_rank(self, rank):
        if len(self) != rank:
            raise ValueError(f"Shape {self} must have rank {rank}")

    def with_rank(self, rank):
        self.assert_has_rank(rank)
        return self

    def with_rank_at_least(self, rank):
        if len(self) < rank:
            raise ValueError(f"Shape {self} must have rank at least {rank}")
        return self

    def with_rank_at_most(self, rank):
        if len(self) > rank:
            raise ValueError(f"Shape {self} must have rank at most {rank}")
        return self

    def assert_same_rank(self, other):
        other = TensorShape(other)
        if len(self) != len(other):
            raise ValueError(f"Shapes {self} and {other} must have the same rank")

    def assert_is_fully_defined(self):
        if not self.is_fully_defined():
            raise ValueError(f"Shape {self} is not fully defined")

    def __getitem__(self, key):
        out = tuple.__getitem__(self, key)
        return TensorShape(out) if isinstance(key, slice) else out

    def __repr__(self):
        return f"TensorShape({list(self)})"

    # print(x.shape) shows "(2, 5)", as TensorFlow's str() does
    def __str__(self):
        return tuple.__repr__(self)

    # equal to a list of the same sizes, as TensorFlow's (``x.shape == [3, 4]``)
    def __eq__(self, other):
        return tuple.__eq__(self, tuple(other) if isinstance(other, list) else other)

    def __ne__(self, other):
        return not self == other

    __hash__ = tuple.__hash__

    def __reduce__(self):
        return TensorShape, (tuple(self),)


class _UnknownRankShape(TensorShape):
    """``TensorShape(None)``: a shape whose rank is not known, as
    TensorFlow's: ``rank``, ``ndims`` and ``dims`` are None, ``as_list()``,
    ``len()`` and iteration raise ValueError, an index gives None (an
    unknown size) and a slice the unknown shape again; it is false, and
    equal only to another unknown shape."""

    @property
    def rank(self):
        return None

    ndims = rank

    @property
    def dims(self):
        return None

    def as_list(self):
        raise ValueError("as_list() is not defined on an unknown TensorShape.")

    def __len__(self):
        raise ValueError("Cannot take the length of shape with unknown rank.")

    def __iter__(self):
        raise ValueError("Cannot iterate over a shape with unknown rank.")

    def __bool__(self):
        return False

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self
        if isinstance(key, (int, np.integer)):
            return None
        raise TypeError(f"TensorShape indices must be integers or slices, not "
                        f"{type(key).__name__}")

    def is_fully_defined(self):
        return False

    def num_elements(self):
        return None

    def concatenate(self, other):
        return self

    def __repr__(self):
        return "TensorShape(None)"

    def __str__(self):
        return "<unknown>"

    def __eq__(self, other):
        return isinstance(other, _UnknownRankShape) or other is None

    def __ne__(self, other):
        return not self == other

    __hash__ = tuple.__hash__

    def __reduce__(self):
        return TensorShape, (None,)


class Tensor(np.ndarray):
    """An ndarray as an eager tensor: ``numpy()`` gives the plain array
    (a Python-side NumPy scalar for a 0-d one, as TensorFlow does)."""

    @property
    def shape(self):
        # (tuple's constructor: the sizes are the array's own ints)
        return tuple.__new__(TensorShape, _ndarray_shape.__get__(self))

    @shape.setter
    def shape(self, value):
        _ndarray_shape.__set__(self, value)

    def get_shape(self):
        return self.shape

    def set_shape(self, shape):
        """TensorFlow's: an eager tensor's shape is known, so this checks
        that ``shape`` (None for a size left open) fits it."""
        want = list(TensorShape(shape))
        if len(want) != self.ndim or any(w is not None and w != d
                                         for w, d in zip(want, self.shape)):
            raise ValueError(f"set_shape: shapes {list(self.shape)} and {want} are "
                             f"incompatible")

    @property
    def device(self):
        """Where the value lives, in TensorFlow's words: a host array is
        on the CPU."""
        return "/job:localhost/replica:0/task:0/device:CPU:0"

    def numpy(self):
        plain = self.view(np.ndarray)
        return plain[()] if plain.ndim == 0 else plain

    # TensorFlow's dtype rules for arithmetic (NumPy's otherwise):
    # - a NumPy scalar (np.float64(2.0), np.sqrt(2.0), np.int64(3)) or a 0-d
    #   array beside a tensor takes the tensor's dtype where TensorFlow
    #   converts it so (a float for a floating tensor, an integer that fits
    #   for an integer one), as Python numbers already do;
    # - the operators between a floating point tensor and an integer one
    #   raise InvalidArgumentError, as TensorFlow's (no silent float64);
    # - ``/`` of 8- and 16-bit integers gives float32 (float64 for 32- and
    #   64-bit ones, as NumPy's).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if kwargs.get("out") is None:
            # (the common case first: floating point tensors, arrays of the
            # same dtype, Python numbers; NumPy's rules are TensorFlow's)
            plain = _fast_operands(inputs)
            if plain is not None:
                r = getattr(ufunc, method)(*plain, **kwargs)
                if type(r) is np.ndarray:
                    return r.view(Tensor)
                return tuple(_as_tensor(v) for v in r) if type(r) is tuple else _as_tensor(r)
        out = kwargs.get("out")
        for v in inputs + (out or ()):
            if _foreign_ufunc(v):
                return NotImplemented  # (a traced or symbolic value records it)
        if method == "__call__" and len(inputs) == 2:
            inputs = _tf_operands(ufunc, *inputs)
        inputs = tuple(v.view(np.ndarray) if isinstance(v, Tensor) else v for v in inputs)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Tensor) else o
                                  for o in out)
            getattr(ufunc, method)(*inputs, **kwargs)
            return out[0] if len(out) == 1 else out
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if type(result) is tuple:
            return tuple(_as_tensor(r) for r in result)
        return _as_tensor(result)

    # string tensors add by joining their strings, as TensorFlow's
    # (``data_dir + file_path`` in a Dataset's map)
    def _holds_strings(self):
        kind = self.dtype.kind
        return kind in "SU" or (kind == "O" and self.size > 0 and
                                isinstance(self.flat[0], (bytes, str)))

    def __add__(self, other):
        if self.dtype.kind in "OSU" and self._holds_strings():
            from .strings import join
            return join([self, other])
        return np.ndarray.__add__(self, other)

    def __radd__(self, other):
        if self.dtype.kind in "OSU" and self._holds_strings():
            from .strings import join
            return join([other, self])
        return np.ndarray.__radd__(self, other)

    def ref(self):
        """A hashable reference to this tensor (TensorFlow's ``ref()``: a
        set or dict key by identity); ``deref()`` gives it back."""
        return Reference(self)

    experimental_ref = ref

    # A tensor is a value, as TensorFlow's: ``t += 1`` or ``offset *= mask``
    # (on a slice of a loss's targets) gives a new tensor and leaves the
    # array it was made from, and every view of it, as they were.
    def __iadd__(self, other):
        return self.__add__(other)

    def __isub__(self, other):
        return self.__sub__(other)

    def __imul__(self, other):
        return self.__mul__(other)

    def __itruediv__(self, other):
        return self.__truediv__(other)

    def __ifloordiv__(self, other):
        return self.__floordiv__(other)

    def __imod__(self, other):
        return self.__mod__(other)

    def __ipow__(self, other):
        return self.__pow__(other)

    def __imatmul__(self, other):
        return self.__matmul__(other)

    def __iand__(self, other):
        return self.__and__(other)

    def __ior__(self, other):
        return self.__or__(other)

    def __ixor__(self, other):
        return self.__xor__(other)

    def __ilshift__(self, other):
        return self.__lshift__(other)

    def __irshift__(self, other):
        return self.__rshift__(other)

    # int(action) of a (1, 1) tensor, as TensorFlow's (NumPy 2.4 takes 0-d only)
    def __int__(self):
        return int(one_element(self, "int"))

    def __float__(self):
        return float(one_element(self, "float"))

    def __getitem__(self, key):
        # one element is a 0-d tensor, as TensorFlow's (``t[0].numpy()``);
        # ``t[()]`` stays NumPy's way of taking the scalar out
        out = np.ndarray.__getitem__(self, key)
        if type(key) is tuple and not key:
            return out
        if isinstance(out, np.generic):
            return np.asarray(out).view(Tensor)
        if self.dtype.kind == "O" and not isinstance(out, np.ndarray):
            # one string of a string tensor: a 0-d tensor of its bytes
            # (``result[0].numpy().decode('utf-8')``)
            one = np.empty((), dtype=object)
            one[()] = out
            return one.view(Tensor)
        return out

    # A string tensor holds bytes, as TensorFlow's; TensorFlow compares it
    # with a str too (``inputs["thal"] == "fixed"``), which NumPy's object
    # arrays of bytes never find equal.
    def __eq__(self, other):
        if self.dtype.kind in "OSU":
            return np.equal(*text_operands(self.view(np.ndarray), other)).view(Tensor)
        return np.ndarray.__eq__(self, other)

    def __ne__(self, other):
        if self.dtype.kind in "OSU":
            return np.not_equal(*text_operands(self.view(np.ndarray), other)).view(Tensor)
        return np.ndarray.__ne__(self, other)

    def __hash__(self):
        # a 0-d tensor hashes as its value, so the elements of a tensor go
        # in sets and dicts as NumPy's scalars do (set(np.unique(t)))
        if self.ndim == 0:
            return hash(self.view(np.ndarray)[()])
        raise TypeError("unhashable type: 'Tensor' (a tensor of more than one value)")

    # Printed as TensorFlow prints an eager tensor: str (print) as
    # ``tf.Tensor([1 2 3], shape=(3,), dtype=int32)``, repr as
    # ``<tf.Tensor: shape=(3,), dtype=int32, numpy=array([1, 2, 3], dtype=int32)>``.
    # (through the plain array: NumPy formats the elements it indexes,
    # which would be 0-d tensors here)
    def _tf_dtype_name(self):
        return "string" if self.dtype.kind in "OSU" else self.dtype.name

    def __repr__(self):
        plain = self.view(np.ndarray)
        text = str(plain[()]) if plain.ndim == 0 else repr(plain)
        sep = "\n" if "\n" in text else ""
        return (f"<tf.Tensor: shape={tuple(plain.shape)}, dtype={self._tf_dtype_name()}, "
                f"numpy={sep}{text}>")

    def __str__(self):
        text = str(self.view(np.ndarray))
        sep = "\n" if "\n" in text else ""
        return (f"tf.Tensor({sep}{text}, shape={tuple(self.shape)}, "
                f"dtype={self._tf_dtype_name()})")


_ndarray_shape = np.ndarray.shape
_NDARRAY_UFUNC = np.ndarray.__array_ufunc__
_TENSOR_UFUNC = Tensor.__array_ufunc__
# the ufuncs of the operators between two tensors, by TensorFlow's op names
_OPERATOR_OPS = {np.add: "AddV2", np.subtract: "Sub", np.multiply: "Mul",
                 np.true_divide: "RealDiv", np.floor_divide: "FloorDiv",
                 np.remainder: "FloorMod", np.power: "Pow", np.matmul: "MatMul"}


def _foreign_ufunc(v):
    """Whether ``v`` takes NumPy's ufuncs itself (a traced value, a
    symbolic tensor): a Tensor leaves the operation to it."""
    f = getattr(type(v), "__array_ufunc__", None)
    return f is not None and f is not _NDARRAY_UFUNC and f is not _TENSOR_UFUNC and \
        not getattr(v, "_plain_for_tensors", False)


def _fast_operands(inputs):
    """The operands as plain arrays where TensorFlow's rules are NumPy's:
    floating point (or complex) tensors and arrays of one dtype, and
    Python numbers; None otherwise."""
    dtype = None
    plain = []
    for v in inputs:
        t = type(v)
        if t is Tensor or t is np.ndarray:
            if dtype is None:
                dtype = v.dtype
                if dtype.kind not in "fc":
                    return None
            elif v.dtype != dtype:
                return None
            plain.append(v.view(np.ndarray) if t is Tensor else v)
        elif t is float or t is int:
            plain.append(v)
        else:
            return None
    return plain if dtype is not None else None


def _as_tensor(r):
    if isinstance(r, np.ndarray):
        return r.view(Tensor)
    if isinstance(r, np.generic):
        return np.asarray(r).view(Tensor)
    if r is None:  # (ufunc.at)
        return r
    one = np.empty((), dtype=object)  # (an element of object arrays: a 0-d tensor)
    one[()] = r
    return one.view(Tensor)


def weak_operand(v, dtype):
    """A NumPy scalar or 0-d array ``v`` beside a tensor of ``dtype``, in
    that dtype where TensorFlow converts it so (a real number for a
    floating tensor, an integer that fits for an integer one)."""
    if not (isinstance(v, np.generic) or type(v) is np.ndarray and v.ndim == 0) or \
            v.dtype == dtype:
        return v
    have, want = v.dtype.kind, dtype.kind
    if want in "fc" and have in "iuf" or want == "c" and have == "c" or \
            want in "iu" and have in "iu":
        with np.errstate(all="ignore"):
            cast = v.astype(dtype)
        if want in "iu" and cast != v or want in "fc" and np.isfinite(v) and \
                not np.isfinite(cast):
            return v  # (out of the tensor's range: NumPy's promotion)
        return cast
    return v


def _mixes_kinds(da, db):
    """Whether operands of dtypes ``da`` and ``db`` mix a floating point
    dtype with an integer one: what a program meets as TensorFlow's
    InvalidArgumentError.  Other mixes TensorFlow refuses (float32 with
    float64, int32 with int64) are computed with NumPy's promotion: pynn's
    math functions compute float64 and float16 tensors in float32, and
    some give int64 where TensorFlow gives int32, so a program that runs
    in TensorFlow can meet them."""
    return {da.kind, db.kind} in ({"f", "i"}, {"f", "u"})


def _called_from_pynn(depth):
    frame = sys._getframe(depth + 1)
    # (Tensor's own operators, __add__ of a string tensor, are the program's)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "") if frame is not None else ""
    return module == "pynn" or module.startswith(("pynn.", "numpy"))


def check_operand_dtypes(ufunc, da, db, depth):
    """TensorFlow's InvalidArgumentError for an operator between a
    floating point tensor (or variable) of dtype ``da`` and an integer one
    of ``db``, written in a program (the caller of the function ``depth``
    frames up from this one);
    pynn's own arithmetic on the tensors a program gives it (a metric's
    ``y_pred - y_true``) computes as NumPy does."""
    if ufunc in _OPERATOR_OPS and _mixes_kinds(da, db) and not _called_from_pynn(depth + 1):
        from .debugging import InvalidArgumentError
        op = _OPERATOR_OPS[ufunc]
        raise InvalidArgumentError(
            None, None,
            f"cannot compute {op} as input #1(zero-based) was expected to be a "
            f"{_tf_kind(da)} tensor but is a {_tf_kind(db)} tensor [Op:{op}] (tensors of "
            f"dtypes {da.name} and {db.name}: tf.cast one to the other's dtype)")


def _tf_operands(ufunc, a, b):
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        check_operand_dtypes(ufunc, a.dtype, b.dtype, 2)
    elif ta:
        b = weak_operand(b, a.dtype)
    elif tb:
        a = weak_operand(a, b.dtype)
    if ufunc is np.true_divide:
        # (a Python int beside a tensor is weak: the tensor's dtype decides)
        # (np.result_type takes no lists: ``x / [vocab_size, 1.0, 1.0]``)
        typed = [np.asarray(v).dtype for v in (a, b) if type(v) is not int]
        if all(d.kind in "iu" and d.itemsize <= 2 for d in typed):
            a = np.asarray(a, dtype=np.float32)
            b = np.asarray(b, dtype=np.float32)
    return a, b


def _tf_kind(dtype):
    """TensorFlow's name of a dtype in its messages (float, double, int32)."""
    return {"float32": "float", "float64": "double", "float16": "half"}.get(dtype.name,
                                                                           dtype.name)


def one_element(value, who):
    """The one element of a tensor of any rank (``int(t)`` of a (1, 1)
    tensor, as TensorFlow converts it), as a 0-d array; more or fewer
    elements are a TypeError saying the shape."""
    plain = np.asarray(value)
    if plain.size != 1:
        raise TypeError(f"{who}(): only a tensor of one element converts to a Python "
                        f"scalar, got shape {tuple(plain.shape)}")
    return plain.reshape(())


def _decoded(x):
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if isinstance(x, np.ndarray) and x.dtype.kind == "S":
        return np.char.decode(x, "utf-8").astype(object)
    if isinstance(x, np.ndarray) and x.dtype.kind in "OU":
        return np.frompyfunc(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v,
                             1, 1)(x)
    return x


def text_operands(a, b):
    """``a`` and ``b`` for an elementwise comparison, bytes decoded to str
    (UTF-8) where either is text, so bytes and str of the same text are
    equal, as in TensorFlow; other operands as they are."""
    def is_text(v):
        return isinstance(v, (str, bytes)) or isinstance(v, np.ndarray) and v.dtype.kind in "OSU"
    if not (is_text(a) or is_text(b)):
        return a, b
    return _decoded(a), _decoded(b)


_INT32_RANGE = (-2 ** 31, 2 ** 31 - 1)


def _python_leaves(value, out):
    """The values inside nested lists and tuples, in order."""
    if type(value) in (list, tuple):
        for v in value:
            _python_leaves(v, out)
    else:
        out.append(value)
    return out


def tf_default_dtype(value, dtype_hint=None):
    """The dtype TensorFlow gives ``value`` converted without a dtype: an
    array's, tensor's or NumPy scalar's own (float64 and int64 kept); of
    Python numbers, int32 for ints (int64 where one does not fit int32),
    float32 for floats, complex128 for complex numbers, bool for booleans;
    in a list, the arrays and NumPy scalars it holds decide over Python
    numbers.  ``dtype_hint`` is taken for Python numbers it holds (a float
    hint takes ints too), as ``tf.convert_to_tensor``'s.  None for text
    and for what has no dtype of these."""
    own = getattr(value, "dtype", None)
    if own is not None and not isinstance(value, (list, tuple)):
        own = np.dtype(str(own)) if str(own) != "string" else np.dtype(object)
        return None if own.kind in "OSUV" else own
    leaves = _python_leaves(value, [])
    typed, plain = [], []
    for v in leaves:
        if type(v) is bool:
            plain.append(np.dtype(np.bool_))
        elif isinstance(v, np.generic) or getattr(v, "dtype", None) is not None:
            d = np.dtype(str(v.dtype)) if str(v.dtype) != "string" else np.dtype(object)
            if d.kind in "OSUV":
                return None
            typed.append(d)
        elif isinstance(v, int):
            plain.append(np.dtype(np.int32) if _INT32_RANGE[0] <= v <= _INT32_RANGE[1]
                         else np.dtype(np.int64))
        elif isinstance(v, float):
            plain.append(np.dtype(np.float32))
        elif isinstance(v, complex):
            plain.append(np.dtype(np.complex128))
        else:
            return None  # (text, or what NumPy decides)
    if typed:
        return np.result_type(*typed)
    if not plain:
        return np.dtype(np.float32)  # (an empty list: float32, as TensorFlow)
    kinds = {d.kind for d in plain}
    if dtype_hint is not None:
        hint = np.dtype(str(dtype_hint))
        if kinds <= {"i"} and hint.kind in "iufc" or kinds <= {"i", "f"} and \
                hint.kind in "fc" or kinds == {"b"} and hint.kind == "b":
            return hint
    for kind in "cfi":
        if kind in kinds:
            return max((d for d in plain if d.kind == kind), key=lambda d: d.itemsize)
    return np.dtype(np.bool_)


def eager(x):
    """``x`` with its arrays (in lists, tuples and dicts) as Tensors; other
    values (weights, traced values, numbers) as they are."""
    t = type(x)
    if (t is np.ndarray or t is Tensor) and x.dtype.kind == "U":
        # NumPy's str (tf.gather(label_names, ids) of an array of names):
        # TensorFlow's string tensors hold UTF-8 bytes
        return np.asarray(np.frompyfunc(str.encode, 1, 1)(x), dtype=object).reshape(
            x.shape).view(Tensor)
    if t is np.ndarray:
        return x.view(Tensor)
    if t is list or t is tuple:
        return t(eager(v) for v in x)
    if t is dict:
        return {k: eager(v) for k, v in x.items()}
    if isinstance(x, np.generic):  # a reduction's scalar: tf.reduce_sum(x).numpy()
        return np.asarray(x).view(Tensor)
    if getattr(t, "_views_a_variable", False):
        # a view of a variable's storage (tf.reshape(v, ...), tf.transpose(v)):
        # a tensor of its own, as TensorFlow reads the variable, which a
        # later assign leaves as it was
        return np.array(x).view(Tensor)
    return x


def eager_results(f):
    """``f`` returning what it returns as eager tensors."""
    def eager_result(*args, **kwargs):
        return eager(f(*args, **kwargs))
    return functools.update_wrapper(eager_result, f)
