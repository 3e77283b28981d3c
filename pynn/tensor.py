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

    # true when the rank is known (a scalar's shape too), as TensorFlow's
    def __bool__(self):
        return True

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
