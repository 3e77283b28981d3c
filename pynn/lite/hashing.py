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
- Hashing of int32 values (without a salt) -> their decimal text as bytes
  (FLOOR_DIV and FLOOR_MOD by the powers of ten, the length by
  GREATER_EQUAL, the bytes from the start picked by EQUAL and SUM), then
  FarmHash's Fingerprint64 of texts of 1 to 11 bytes (its three short
  cases, chosen by the length with SELECT_V2, words loaded by MUL and SUM
  of the bytes, rotations as a logical right shift plus a wrapping
  multiply), the remainder by ``num_bins`` (after ``mask_value``), and the
  other output modes as CategoryEncoding.
"""
import numpy as np

from .. import ops
from .sequence import _op

_MASK64 = 2 ** 64 - 1
# tf.sparse.cross_hashed's key and multiplier, as pynn.ops.hash_cross uses them
_CROSS_KEY, _CROSS_MUL = int(ops._CROSS_KEY), int(ops._CROSS_MUL)


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
        low, high = self._words(a)
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

    def add(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return (a + b) & _MASK64
        return self._op("ADD", [self._tensor(a), self._tensor(b)], "add",
                        ("AddOptions", {"FusedActivationFunction": 0}))

    def _words(self, a):
        low, high = (self.g.activation(self._name(w), self.shape, dtype=np.int32)
                     for w in ("low", "high"))
        self.g.add("UNPACK", [self._pair(a)], [low, high],
                   ("UnpackOptions", {"Num": 2, "Axis": len(self.shape)}), self.layer.name)
        return low, high

    def _word_shifted(self, word, r):
        """An int32 word shifted right by ``r`` as unsigned, zero-extended
        to int64."""
        unsigned = self._op("BITCAST", [word], "unsigned", dtype=np.uint32)
        if r:
            unsigned = self._op("RIGHT_SHIFT", [unsigned, self._const(r, np.uint32)], "shifted",
                                dtype=np.uint32)
        signed = self._op("BITCAST", [unsigned], "signed", dtype=np.int32)
        zero = self._op("MUL", [signed, self._const(0, np.int32)], "zero",
                        ("MulOptions", {"FusedActivationFunction": 0}), dtype=np.int32)
        pair = self._op("PACK", [signed, zero], "pair",
                        ("PackOptions", {"ValuesCount": 2, "Axis": len(self.shape)}),
                        shape=self.shape + (2,), dtype=np.int32)
        return self._op("BITCAST", [pair], "joined")

    def shr(self, a, r):
        """The logical right shift by ``r`` (1 to 63): the words shifted, the
        bits the high word passes down added to the low one."""
        if isinstance(a, int):
            return a >> r
        low, high = self._words(a)
        if r >= 32:
            return self._word_shifted(high, r - 32)
        passed = self._op("FLOOR_MOD", [self.mul(self._word_shifted(high, 0), 1 << (32 - r)),
                                        self._const(1 << 32)], "passed")
        return self.add(self.add(self._word_shifted(low, r), passed),
                        self.mul(self._word_shifted(high, r), 1 << 32))

    def rotr(self, a, r):
        """Rotation right by ``r``: the two parts' bits do not overlap."""
        return self.add(self.shr(a, r), self.mul(a, 1 << (64 - r)))

    def hash_len16(self, u, v, mul):
        a = self.shift_mix(self.mul(self.xor(u, v), mul))
        b = self.shift_mix(self.mul(self.xor(v, a), mul))
        return self.mul(b, mul)

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


_K0, _K2 = 0xC3A5C85C97CB3127, 0x9AE16A3B2F90404F  # FarmHash's constants
_DIGITS = 10  # of an int32's magnitude
_TEXT = _DIGITS + 1  # and its sign


def _text_bytes(ctx, layer, x):
    """The decimal text of int32 ``x`` (-2**31 excluded) as bytes: its
    length (int32), and the bytes from its start and from its end, int64
    (..., 11) with zeros past the length."""
    from .converter import _cast
    g, name = ctx.g, f"{layer.name}/text"
    shape = (None,) + tuple(x.shape[1:])

    def op(code, inputs, what, dtype=np.int32, shape=shape, options=None):
        return _op(ctx, layer, code, inputs, shape, f"{name}/{what}", options, dtype=dtype)

    def const(v, dtype=np.int32):
        return g.constant(f"{name}/c", np.asarray(v, dtype))

    negative = op("LESS", [x, const([0])], "negative", np.bool_)
    magnitude = op("SELECT_V2", [negative, op("NEG", [x], "negated"), x], "magnitude")
    powers = const([10 ** i for i in range(_DIGITS)])
    column = ctx.reshape(layer, magnitude, shape + (1,), f"{name}/column")
    wide = shape + (_DIGITS,)
    digits = op("FLOOR_MOD", [op("FLOOR_DIV", [column, powers], "shifted", shape=wide),
                              const([10])], "digits", shape=wide)
    # (the number of digits: 1, and one more for each power of ten reached)
    reached = op("GREATER_EQUAL", [column, const([0] + [10 ** i for i in range(1, _DIGITS)])],
                 "reached", np.bool_, wide)
    axis = ctx.int32(f"{name}/digits_axis", [len(wide) - 1])
    count = op("SUM", [_cast(ctx, layer, reached, np.int32, f"{name}/reached_int"), axis],
               "count", options=("ReducerOptions", {"KeepDims": False}))
    sign = _cast(ctx, layer, negative, np.int32, f"{name}/sign")
    length = op("ADD", [count, sign], "length", options=("AddOptions", {
        "FusedActivationFunction": 0}))
    full = shape + (_TEXT,)
    positions = const(np.arange(_TEXT))
    count_column = ctx.reshape(layer, count, shape + (1,), f"{name}/count_column")
    sign_column = ctx.reshape(layer, negative, shape + (1,), f"{name}/sign_column")
    # from the end: the digits, then '-' for a negative value, then zeros
    padded = op("PAD", [digits, ctx.int32(f"{name}/padding", [[0, 0]] * (len(wide) - 1) +
                                          [[0, 1]])], "padded", shape=full)
    is_digit = op("LESS", [positions, count_column], "is_digit", np.bool_, full)
    is_sign = op("LOGICAL_AND", [op("EQUAL", [positions, count_column], "at_sign", np.bool_,
                                    full), sign_column], "is_sign", np.bool_, full)
    ascii_digits = op("ADD", [padded, const([48])], "ascii", shape=full,
                      options=("AddOptions", {"FusedActivationFunction": 0}))
    from_end = op("SELECT_V2", [is_digit, ascii_digits, op("SELECT_V2", [
        is_sign, const([45]), const([0])], "minus", shape=full)], "from_end", shape=full)
    # from the start: byte p is byte length - 1 - p from the end
    wanted = op("SUB", [ctx.reshape(layer, length, shape + (1,), f"{name}/length_column"),
                        const(np.arange(1, _TEXT + 1))], "wanted", shape=full,
                options=("SubOptions", {"FusedActivationFunction": 0}))
    square = shape + (_TEXT, _TEXT)
    picks = _cast(ctx, layer, op("EQUAL", [ctx.reshape(layer, wanted, square[:-1] + (1,),
                                                       f"{name}/wanted_column"), positions],
                                 "picks", np.bool_, square), np.int32, f"{name}/picks_int")
    spread = ctx.reshape(layer, from_end, shape + (1, _TEXT), f"{name}/from_end_row")
    from_start = op("SUM", [op("MUL", [picks, spread], "picked", shape=square, options=(
        "MulOptions", {"FusedActivationFunction": 0})), ctx.int32(f"{name}/source_axis",
                                                             [len(square) - 1])],
        "from_start", shape=full, options=("ReducerOptions", {"KeepDims": False}))
    return (length, _cast(ctx, layer, from_start, np.int64, f"{name}/start64"),
            _cast(ctx, layer, from_end, np.int64, f"{name}/end64"))


def _fingerprint_of_text(ctx, layer, u, length, start, end):
    """FarmHash's Fingerprint64 of texts of 1 to 11 bytes (``start`` and
    ``end``: the bytes from either end, int64 (..., 11))."""
    from .converter import _cast
    from .sequence import _op as op
    g, name = ctx.g, f"{layer.name}/fingerprint"
    full = u.shape + (_TEXT,)

    def word(bytes_, n, reverse):
        """The little-endian word of the first ``n`` bytes (of the last,
        read from the end, with ``reverse``)."""
        weights = np.zeros(_TEXT, np.int64)
        weights[:n] = [256 ** (n - 1 - i) if reverse else 256 ** i for i in range(n)]
        scaled = op(ctx, layer, "MUL", [bytes_, g.constant(f"{name}/weights", weights)], full,
                    f"{name}/scaled", ("MulOptions", {"FusedActivationFunction": 0}),
                    dtype=np.int64)
        return op(ctx, layer, "SUM", [scaled, ctx.int32(f"{name}/axis", [len(full) - 1])],
                  u.shape, f"{name}/word", ("ReducerOptions", {"KeepDims": False}),
                  dtype=np.int64)

    n64 = _cast(ctx, layer, length, np.int64, f"{name}/length")
    mul = u.add(u.mul(n64, 2), _K2)
    # 1 to 3 bytes: the first, the middle (len >> 1) and the last
    first = word(start, 1, False)
    second = u.shr(word(start, 2, False), 8)
    one = op(ctx, layer, "EQUAL", [length, g.constant(f"{name}/one", np.array([1], np.int32))],
             u.shape, f"{name}/one_byte", dtype=np.bool_)
    middle = op(ctx, layer, "SELECT_V2", [one, first, second], u.shape, f"{name}/middle",
                dtype=np.int64)
    y = u.add(first, u.mul(middle, 256))
    z = u.add(n64, u.mul(word(end, 1, True), 4))
    short = u.mul(u.shift_mix(u.xor(u.mul(y, _K2), u.mul(z, _K0))), _K2)
    # 4 to 7 bytes
    medium = u.hash_len16(u.add(n64, u.mul(word(start, 4, False), 8)), word(end, 4, True), mul)
    # 8 to 11 bytes
    a = u.add(word(start, 8, False), _K2)
    b = word(end, 8, True)
    long_ = u.hash_len16(u.add(u.mul(u.rotr(b, 37), mul), a),
                         u.mul(u.add(u.rotr(a, 25), b), mul), mul)

    def below(n):
        return op(ctx, layer, "LESS", [length, g.constant(f"{name}/bound", np.array(
            [n], np.int32))], u.shape, f"{name}/below_{n}", dtype=np.bool_)
    upper = op(ctx, layer, "SELECT_V2", [below(8), medium, long_], u.shape, f"{name}/upper",
               dtype=np.int64)
    return op(ctx, layer, "SELECT_V2", [below(4), short, upper], u.shape, f"{name}/hash",
              dtype=np.int64)


def hashing(ctx, step, k, xs):
    """Hashing of int32 values (see the module's docstring)."""
    from .converter import _cast, _encode_ids, _out_shape
    layer, x = step.layer, xs[0]
    if layer.salt is not None:
        raise ctx.error(layer, "a salt (SipHash-2-4) has no TensorFlow Lite form in pynn.lite; "
                               "it exports without one (FarmHash)")
    if x.dtype != np.int32:
        raise ctx.error(layer, f"{x.dtype} inputs have no TensorFlow Lite form in pynn.lite: it "
                               f"hashes int32 values (declare the input int32)")
    g, name = ctx.g, layer.name
    bins = layer.num_bins
    masked = layer.mask_value is not None and bins > 1
    bins -= masked
    shape = (None,) + tuple(x.shape[1:])
    # -2**31 (whose magnitude no int32 holds) takes its bin from a table
    lowest = -2 ** 31
    special = _op(ctx, layer, "EQUAL", [x, g.constant(f"{name}/lowest", np.array(
        [lowest], np.int32))], shape, f"{name}/is_lowest", dtype=np.bool_)
    safe = _op(ctx, layer, "MAXIMUM", [x, g.constant(f"{name}/floor", np.array(
        [lowest + 1], np.int32))], shape, f"{name}/safe", dtype=np.int32)
    u = _Uint64(ctx, layer, shape)
    length, start, end = _text_bytes(ctx, layer, safe)
    ids = u.remainder(_fingerprint_of_text(ctx, layer, u, length, start, end), bins)
    ids = _op(ctx, layer, "SELECT_V2", [special, g.constant(f"{name}/lowest_bin", np.array(
        [int(ops.hash_buckets(np.array([lowest], np.int64), bins)[0])], np.int64)), ids],
        shape, f"{name}/bins", dtype=np.int64)
    if masked:
        is_mask = _op(ctx, layer, "EQUAL", [x, g.constant(f"{name}/mask_value", np.array(
            [int(layer.mask_value)], np.int32))], shape, f"{name}/is_mask", dtype=np.bool_)
        ids = _op(ctx, layer, "SELECT_V2", [is_mask, g.constant(f"{name}/zero", np.zeros(
            1, np.int64)), u.add(ids, 1)], shape, f"{name}/masked_bins", dtype=np.int64)
    out_shape = _out_shape(ctx, step)
    if layer.output_mode != "int":
        return _encode_ids(ctx, layer, _cast(ctx, layer, ids, np.int32, f"{name}/ids"),
                           layer.num_bins, layer.output_mode, out_shape, step.name, k)
    ids = _cast(ctx, layer, ids, layer._out_dtype, f"{name}/out")
    ids.name = g._unique(step.name)
    return ids


HANDLERS = {"HashedCrossing": hashed_crossing, "Hashing": hashing}
