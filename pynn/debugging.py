"""TensorFlow's ``tf.debugging`` assertions and ``tf.errors``' exception
classes, for programs ported with ``import pynn as tf``.  Values are
checked when the assertion is called (pynn runs eagerly); a failed one
raises :class:`InvalidArgumentError` (a ValueError) with the message,
the values' shapes and the first offending entries."""
import types

import numpy as np

from . import ops


class OpError(Exception):
    """TensorFlow's ``tf.errors.OpError``, the base of its run-time errors."""

    def __init__(self, node_def=None, op=None, message=None, *args):
        # TensorFlow's (node_def, op, message) or just a message
        text = message if message is not None else node_def
        super().__init__(text)
        self.message = text


class InvalidArgumentError(OpError, ValueError):
    """A value broke an assertion (``tf.errors.InvalidArgumentError``)."""


class DataLossError(OpError):
    """A file that is truncated or whose checksums do not match (a damaged
    TFRecord file; ``tf.errors.DataLossError``)."""


class OutOfRangeError(OpError):
    """Nothing more to read: a closed queue with too few elements left
    (``tf.errors.OutOfRangeError``)."""


class FailedPreconditionError(OpError):
    """The data broke what the program asserted about it: a dataset whose
    number of elements is not the one ``assert_cardinality`` gave
    (``tf.errors.FailedPreconditionError``)."""


class CancelledError(OpError):
    """An operation given up: an enqueue into a closed queue
    (``tf.errors.CancelledError``)."""


errors = types.SimpleNamespace(OpError=OpError, InvalidArgumentError=InvalidArgumentError,
                               DataLossError=DataLossError, OutOfRangeError=OutOfRangeError,
                               CancelledError=CancelledError,
                               FailedPreconditionError=FailedPreconditionError)


def _array(x):
    return np.asarray(ops.convert_to_numpy(x))


def _fail(who, message, detail, summarize):
    n = 3 if summarize is None else int(summarize)
    with np.printoptions(threshold=max(n, 1), edgeitems=max(n, 1)):
        text = f"{who}: {message + ': ' if message else ''}{detail}"
    raise InvalidArgumentError(None, None, text)


def _compare(who, relation, x, y, message, summarize):
    a, b = _array(x), _array(y)
    try:
        ok = relation(a, b)
    except ValueError:
        _fail(who, message, f"shapes {a.shape} and {b.shape} do not broadcast", summarize)
    if not np.all(ok):
        bad = np.argwhere(~np.broadcast_to(ok, np.broadcast_shapes(a.shape, b.shape)))
        _fail(who, message, f"the condition fails at {len(bad)} of "
                            f"{int(np.size(ok))} entries, first at index "
                            f"{tuple(int(i) for i in bad[0]) if bad.size else ()}; x (shape "
                            f"{a.shape}) = {a}, y (shape {b.shape}) = {b}", summarize)


def assert_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_equal", np.equal, x, y, message, summarize)


def assert_none_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_none_equal", np.not_equal, x, y, message, summarize)


def assert_less(x, y, message=None, summarize=None, name=None):
    _compare("assert_less", np.less, x, y, message, summarize)


def assert_less_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_less_equal", np.less_equal, x, y, message, summarize)


def assert_greater(x, y, message=None, summarize=None, name=None):
    _compare("assert_greater", np.greater, x, y, message, summarize)


def assert_greater_equal(x, y, message=None, summarize=None, name=None):
    _compare("assert_greater_equal", np.greater_equal, x, y, message, summarize)


def assert_near(x, y, rtol=None, atol=None, message=None, summarize=None, name=None):
    """|x - y| <= atol + rtol * |y|, the tolerances 10 eps of the dtype by
    default (as TensorFlow's)."""
    a = _array(x)
    eps = np.finfo(a.dtype if a.dtype.kind == "f" else np.float32).eps
    rtol = 10 * eps if rtol is None else rtol
    atol = 10 * eps if atol is None else atol
    _compare("assert_near", lambda p, q: np.abs(p - q) <= atol + rtol * np.abs(q), x, y,
             message, summarize)


def _sign(who, relation, x, message, summarize):
    _compare(who, lambda a, _: relation(a), x, 0, message, summarize)


def assert_positive(x, message=None, summarize=None, name=None):
    _sign("assert_positive", lambda a: a > 0, x, message, summarize)


def assert_negative(x, message=None, summarize=None, name=None):
    _sign("assert_negative", lambda a: a < 0, x, message, summarize)


def assert_non_negative(x, message=None, summarize=None, name=None):
    _sign("assert_non_negative", lambda a: a >= 0, x, message, summarize)


def assert_non_positive(x, message=None, summarize=None, name=None):
    _sign("assert_non_positive", lambda a: a <= 0, x, message, summarize)


def assert_rank(x, rank, message=None, name=None):
    got = len(ops.shape(x))
    if got != int(rank):
        _fail("assert_rank", message, f"expected rank {int(rank)}, got shape "
                                      f"{tuple(ops.shape(x))}", None)


def assert_rank_at_least(x, rank, message=None, name=None):
    if len(ops.shape(x)) < int(rank):
        _fail("assert_rank_at_least", message, f"expected rank >= {int(rank)}, got shape "
                                               f"{tuple(ops.shape(x))}", None)


def assert_shapes(shapes, data=None, summarize=None, message=None, name=None):
    """Each (tensor, dims) pair's shape fits its dims, where a name (a str
    dimension) stands for the same size everywhere it appears."""
    sizes = {}
    for x, dims in shapes:
        shape = tuple(ops.shape(x))
        dims = tuple(dims)
        if len(shape) != len(dims):
            _fail("assert_shapes", message, f"shape {shape} has rank {len(shape)}, expected "
                                            f"{dims}", summarize)
        for got, want in zip(shape, dims):
            if isinstance(want, str):
                want = sizes.setdefault(want, got)
            if want is not None and got != want:
                _fail("assert_shapes", message, f"shape {shape} does not fit {dims}",
                      summarize)


def assert_type(tensor, tf_type, message=None, name=None):
    from .dtypes import as_dtype
    got = as_dtype(_array(tensor).dtype)
    if got != as_dtype(tf_type):
        raise TypeError(f"assert_type: {message + ': ' if message else ''}expected "
                        f"{as_dtype(tf_type).name}, got {got.name}")


def assert_all_finite(t, msg, name=None, x=None, message=None):
    """``t`` (TensorFlow 2: ``x``) unchanged when every entry is finite."""
    value = x if x is not None else t
    a = _array(value)
    if not np.all(np.isfinite(a)):
        _fail("assert_all_finite", message or msg, f"{int(np.size(a) - np.isfinite(a).sum())}"
                                                   f" entries of {a.shape} are not finite", None)
    return value


def check_numerics(tensor, message, name=None):
    """``tensor`` unchanged when it has no NaN or infinity."""
    return assert_all_finite(tensor, message)


def Assert(condition, data, summarize=None, name=None):
    """Raise InvalidArgumentError showing ``data`` when ``condition`` is false."""
    if not bool(np.all(_array(condition))):
        _fail("Assert", None, "condition is false; data: " +
              ", ".join(str(_array(d) if not isinstance(d, str) else d) for d in data),
              summarize)


__all__ = ["assert_equal", "assert_none_equal", "assert_less", "assert_less_equal",
           "assert_greater", "assert_greater_equal", "assert_near", "assert_positive",
           "assert_negative", "assert_non_negative", "assert_non_positive", "assert_rank",
           "assert_rank_at_least", "assert_shapes", "assert_type", "assert_all_finite",
           "check_numerics", "Assert", "InvalidArgumentError", "errors"]
