"""TensorFlow's ``tf.dtypes`` (and the top-level ``tf.float32``, ``tf.int32``,
... ``tf.as_dtype``) for programs ported with ``import pynn as tf``.

A :class:`DType` is a ``str``, its name, so it goes wherever pynn and NumPy
take a dtype (``tf.cast(x, tf.float32)``, ``np.zeros(3, tf.int32)``,
``Input(dtype=tf.string)``), and has what TensorFlow code reads from one:
``name``, ``as_numpy_dtype``, ``is_floating``, ``min``, ``max``, ...
"""
import builtins

import numpy as np


class DType(str):
    """A TensorFlow dtype: the str of its name, with DType's properties.
    Equal to its name, to the NumPy dtype and to the NumPy type of the same
    kind (``tf.float32 == np.float32``), as TensorFlow's."""

    @property
    def name(self):
        return str(self)

    @property
    def as_numpy_dtype(self):
        """The NumPy scalar type (``object`` for strings, as NumPy holds them)."""
        return np.object_ if self == "string" else np.dtype(str(self)).type

    @property
    def _np(self):
        return np.dtype(self.as_numpy_dtype)

    @property
    def is_floating(self):
        return self._np.kind == "f"

    @property
    def is_integer(self):
        return self._np.kind in "iu"

    @property
    def is_unsigned(self):
        return self._np.kind == "u"

    @property
    def is_complex(self):
        return self._np.kind == "c"

    @property
    def is_bool(self):
        return self._np.kind == "b"

    @property
    def is_numeric(self):
        return self._np.kind in "iufc"

    @property
    def is_quantized(self):
        return False

    @property
    def size(self):
        """Bytes per element (1 for strings, as TensorFlow says)."""
        return 1 if self == "string" else self._np.itemsize

    @property
    def base_dtype(self):
        return self

    @property
    def real_dtype(self):
        return {"complex64": float32, "complex128": float64}.get(str(self), self)

    @property
    def min(self):
        return self._limits().min

    @property
    def max(self):
        return self._limits().max

    def _limits(self):
        kind = self._np.kind
        if kind == "f":
            return np.finfo(self._np)
        if kind in "iu":
            return np.iinfo(self._np)
        if kind == "b":
            return _BOOL_LIMITS
        raise TypeError(f"DType {self.name}: has no min and max")

    def is_compatible_with(self, other):
        return self == as_dtype(other)

    def __eq__(self, other):
        if isinstance(other, str):
            return str.__eq__(self, other)
        if other is None:
            # (no dtype: not NumPy's default float64 that as_dtype(None) gives)
            return False
        try:
            return str.__eq__(self, as_dtype(other))
        except TypeError:
            return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = str.__hash__

    def __repr__(self):
        return f"tf.{self}"

    def __reduce__(self):
        return as_dtype, (str(self),)


class _BoolLimits:
    min, max = False, True


_BOOL_LIMITS = _BoolLimits()

float16, float32, float64 = DType("float16"), DType("float32"), DType("float64")
half, double = float16, float64
int8, int16, int32, int64 = DType("int8"), DType("int16"), DType("int32"), DType("int64")
uint8, uint16, uint32, uint64 = DType("uint8"), DType("uint16"), DType("uint32"), DType("uint64")
complex64, complex128 = DType("complex64"), DType("complex128")
bool = DType("bool")
string = DType("string")
_ALL = {str(d): d for d in (float16, float32, float64, int8, int16, int32, int64, uint8,
                             uint16, uint32, uint64, complex64, complex128, bool, string)}
_ALL.update(half=float16, double=float64)


def as_dtype(type_value):
    """The DType of ``type_value``: a DType, a name (``'float32'``; also
    TensorFlow's ``'float'``, ``'double'``, ``'half'``), a NumPy dtype or
    type, or a Python type (float: float32, int: int32, bool, str/bytes:
    string), as ``tf.as_dtype``."""
    if isinstance(type_value, DType):
        return type_value
    python = {builtins.float: float32, builtins.int: int32, builtins.bool: bool,
              builtins.str: string, builtins.bytes: string, builtins.object: string}
    if isinstance(type_value, type) and type_value in python:
        return python[type_value]
    if isinstance(type_value, str) and type_value in _ALL:
        return _ALL[type_value]
    if isinstance(type_value, str) and type_value == "float":
        return float32  # (TensorFlow's name; NumPy's 'float' is float64)
    try:
        dt = np.dtype(type_value)
    except TypeError:
        dt = None
    if dt is not None:
        if dt.kind in "OSU":
            return string
        if dt.name in _ALL:
            return _ALL[dt.name]
    raise TypeError(f"as_dtype: cannot convert {type_value!r} to a DType; give one of "
                    f"{sorted(_ALL)}")


def saturate_cast(value, dtype, name=None):
    """``value`` cast to ``dtype``, clipped first to that dtype's range."""
    from . import ops
    return ops.saturate_cast(value, str(as_dtype(dtype)))


def bitcast(input, type, name=None):
    """TensorFlow's ``tf.bitcast``: the same bytes read as ``type``, no
    value converted.  To a narrower type the tensor gains a last axis of
    the ratio of the sizes; from a narrower one its last axis must be that
    ratio, and it goes."""
    from . import ops
    from .tensor import eager
    a = np.array(ops.convert_to_numpy(input), order="C")
    have, want = as_dtype(a.dtype), as_dtype(type)
    if have == string or want == string or have == bool or want == bool:
        raise TypeError(f"tf.bitcast: cannot bitcast {have.name} to {want.name}: give "
                        f"numeric dtypes")
    if have.size == want.size:
        out = a.view(want.as_numpy_dtype)
    elif have.size > want.size:
        out = a.reshape(a.shape + (1,)).view(want.as_numpy_dtype)
    else:
        ratio = want.size // have.size
        if a.ndim == 0 or a.shape[-1] != ratio:
            from .debugging import InvalidArgumentError
            raise InvalidArgumentError(
                None, None, f"tf.bitcast: cannot bitcast a tensor of shape {list(a.shape)} "
                            f"from {have.name} to {want.name}: its last axis must be "
                            f"{ratio}")
        out = a.view(want.as_numpy_dtype).reshape(a.shape[:-1])
    return eager(np.array(out))


def cast(x, dtype, name=None):
    """``tf.dtypes.cast``: TensorFlow's ``tf.cast``."""
    from .backend import cast as _cast
    return _cast(x, dtype)


__all__ = ["DType", "as_dtype", "bitcast", "cast", "saturate_cast"] + sorted(_ALL)
