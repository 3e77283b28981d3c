"""Hashing layers of integer inputs to TFLite builtin operators.

TFLite has no 64-bit hash op (TensorFlow's converter leaves
``tf.sparse.cross_hashed`` to the select TensorFlow ops), so the hash is
written out in 64-bit integer arithmetic the interpreter's builtin kernels
have: int64 MUL and ADD wrap around as unsigned 64-bit arithmetic does;
exclusive or and the logical right shift run on the two 32-bit words of a
value (BITCAST to int32 pairs, BITWISE_XOR, RIGHT_SHIFT of the high word as
uint32, PACK, BITCAST back), and the unsigned remainder is FLOOR_MOD with a
correction for the values whose top bit is set (LESS, SELECT_V2).

- HashedCrossing of integer columns -> CAST to int64, then per column
  FingerprintCat64 (pynn.ops.hash_cross) in those ops, and the remainder
  by ``num_bins``; one_hot as CategoryEncoding.
"""
import numpy as np

from .sequence import _op

_MASK64 = 2 ** 64 - 1
_CROSS_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default key (pynn.ops.hash_cross)
_CROSS_MUL = 0xC6A4A7935BD1E995


def _bits(v):
    """A Python integer's low 64 bits as an int64."""
    return np.array([v & _MASK64], np.uint64).view(np.int64)


class _Uint64:
    """Unsigned 64-bit arithmetic on int64 tensors of ``shape`` (batch
    first) written as builtin ops of ``layer``; a value is a tensor or a
    Python integer (a constant, folded while both operands are)."""

    def __init__(self, ctx, layer, shape):
        self.ctx, self.layer, self.g = ctx, layer, ctx.g
        self.shape, self.n = (None,) + tuple(shape[1:]), 0

    def _name(self, what):
        self.n += 1
        return f"{self.layer.name}/hash/{what}_{self.n}"

    def _const(self, v, dtype=np.int64):
        return self.g.constant(self._name("c"), _bits(v) if dtype == np.int64 else
                               np.asarray([v], dtype))

    def _op(self, code, inputs, what, options=None, shape=None, dtype=np.int64):
        return _op(self.ctx, self.layer, code, inputs, shape or self.shape, self._name(what),
                   options, dtype=dtype)

    def _tensor(self, v):
        return self._const(v) if isinstance(v, int) else v

    def mul(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return (a * b) & _MASK64
        return self._op("MUL", [self._tensor(a), self._tensor(b)], "mul",
                        ("MulOptions", {"FusedActivationFunction": 0}))

    def _pair(self, a):
        """An int64 tensor as its (low, high) int32 words, a last axis of 2."""
        return self._op("BITCAST", [a], "words", shape=self.shape + (2,), dtype=np.int32)

    def xor(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return a ^ b
        if isinstance(a, int):
            a, b = b, a
        other = self.g.constant(self._name("c"), _bits(b).view(np.int32)) \
            if isinstance(b, int) else self._pair(b)
        pair = self._op("BITWISE_XOR", [self._pair(a), other], "xor", shape=self.shape + (2,),
                        dtype=np.int32)
        return self._op("BITCAST", [pair], "joined")

    def shift_mix(self, a):
        """``a ^ (a >> 47)`` (logical): the high word shifted by 15 into
        the low one."""
        if isinstance(a, int):
            return a ^ (a >> 47)
        low, high = (self.g.activation(self._name(w), self.shape, dtype=np.int32)
                     for w in ("low", "high"))
        self.g.add("UNPACK", [self._pair(a)], [low, high],
                   ("UnpackOptions", {"Num": 2, "Axis": len(self.shape)}), self.layer.name)
        unsigned = self._op("BITCAST", [high], "unsigned", dtype=np.uint32)
        shifted = self._op("RIGHT_SHIFT", [unsigned, self._const(15, np.uint32)], "shifted",
                           dtype=np.uint32)
        mixed = self._op("BITWISE_XOR", [low, self._op("BITCAST", [shifted], "signed",
                                                       dtype=np.int32)], "mixed",
                         dtype=np.int32)
        pair = self._op("PACK", [mixed, high], "pair",
                        ("PackOptions", {"ValuesCount": 2, "Axis": len(self.shape)}),
                        shape=self.shape + (2,), dtype=np.int32)
        return self._op("BITCAST", [pair], "joined")

    def remainder(self, a, n):
        """``a`` (unsigned) modulo ``n``: FLOOR_MOD of the signed value,
        plus 2**64 mod n where the top bit is set, FLOOR_MOD again."""
        a = self._tensor(a)
        n64 = self.g.constant(self._name("n"), np.array([n], np.int64))
        r = self._op("FLOOR_MOD", [a, n64], "mod")
        if (2 ** 64) % n == 0:
            return r
        top = self._op("LESS", [a, self.g.constant(self._name("zero"), np.zeros(1, np.int64))],
                       "top_bit", dtype=np.bool_)
        wrap = self._op("SELECT_V2", [top, self.g.constant(self._name("wrap"), np.array(
            [(2 ** 64) % n], np.int64)), self.g.constant(self._name("zero"),
                                                         np.zeros(1, np.int64))], "wrap")
        return self._op("FLOOR_MOD", [self._op("ADD", [r, wrap], "sum", ("AddOptions", {
            "FusedActivationFunction": 0})), n64], "bucket")


def hashed_crossing(ctx, step, k, xs):
    """HashedCrossing of integer columns (see the module's docstring)."""
    from .converter import _cast, _encode_ids, _out_shape
    layer = step.layer
    for x in xs:
        if x.dtype not in (np.int32, np.int64):
            raise ctx.error(layer, f"crossing {x.dtype} columns has no TensorFlow Lite form in "
                                   f"pynn.lite: it crosses integer columns")
    columns = [_cast(ctx, layer, x, np.int64, f"{layer.name}/column_{i}")
               for i, x in enumerate(xs)]
    u = _Uint64(ctx, layer, columns[0].shape)
    acc = _CROSS_KEY
    for h in columns:
        acc = u.xor(acc, _CROSS_MUL)
        acc = u.xor(acc, u.mul(u.shift_mix(u.mul(h, _CROSS_MUL)), _CROSS_MUL))
        acc = u.mul(acc, _CROSS_MUL)
        acc = u.shift_mix(u.mul(u.shift_mix(acc), _CROSS_MUL))
    ids = u.remainder(acc, layer.num_bins)
    shape = _out_shape(ctx, step)
    if layer.output_mode == "one_hot":
        return _encode_ids(ctx, layer, _cast(ctx, layer, ids, np.int32, f"{layer.name}/ids"),
                           layer.num_bins, "one_hot", shape, step.name, k)
    ids = _cast(ctx, layer, ids, layer._out_dtype, f"{layer.name}/bins")
    ids.name = ctx.g._unique(step.name)
    return ids


HANDLERS = {"HashedCrossing": hashed_crossing}
