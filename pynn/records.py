"""TFRecord files and ``tf.train.Example`` records, as TensorFlow writes and
reads them: ``tf.train.Example``/``Features``/``Feature``/``BytesList``/
``FloatList``/``Int64List`` (the protocol buffer messages, encoded here in
their wire format: no protobuf package needed), ``tf.io.TFRecordWriter``,
``tf.data.TFRecordDataset``, ``tf.data.experimental.TFRecordWriter`` and
``tf.io.parse_single_example``/``parse_example`` with ``FixedLenFeature``
and ``VarLenFeature``.

A TFRecord file is a sequence of records, each ``uint64 length``,
``uint32 masked CRC-32C of the length``, the bytes, ``uint32 masked
CRC-32C of the bytes`` (little-endian), optionally compressed whole with
GZIP or ZLIB.  Readers check every length against the file and every CRC:
a damaged file raises DataLossError instead of giving wrong records.
"""
import gzip
import os
import struct
import zlib

import numpy as np

from .debugging import DataLossError, InvalidArgumentError
from .tensor import eager
from .utils.dataset import UNKNOWN, Dataset


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the message
    (google.protobuf.message.DecodeError)."""


# --------------------------------------------------------------- CRC-32C

def _crc_table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def _crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data):
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------- protocol buffer wire

def _varint(n):
    n &= (1 << 64) - 1  # negative int64s as two's complement, ten bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(data, pos, end):
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise DecodeError("truncated or overlong varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _len_field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _fields(data, pos=0, end=None):
    """(field number, wire type, value) of each field of a message:
    the value an int (varint, fixed32/64) or a (start, stop) slice."""
    end = len(data) if end is None else end
    while pos < end:
        key, pos = _read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos, end)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise DecodeError("truncated fixed-size field")
            value = (pos, pos + size)
            pos += size
        elif wire == 2:
            size, pos = _read_varint(data, pos, end)
            if size > end - pos:
                raise DecodeError("a length runs past the end of the message")
            value = (pos, pos + size)
            pos += size
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        yield number, wire, value


def _escape(b):
    """Bytes as protobuf's text format writes them (C escapes, octal for
    the rest)."""
    out = []
    for c in b:
        if c == 0x0A:
            out.append("\\n")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x09:
            out.append("\\t")
        elif c in (0x22, 0x27, 0x5C):
            out.append("\\" + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\%03o" % c)
    return "".join(out)


class _Message:
    """What the messages share: bytes, parsing, text format, equality."""

    def SerializeToString(self, deterministic=None):
        return self._encode()

    @classmethod
    def FromString(cls, data):
        msg = cls()
        msg.ParseFromString(data)
        return msg

    def ParseFromString(self, data):
        data = _as_bytes(data, f"{type(self).__name__}.ParseFromString")
        self.Clear()
        self._decode(data, 0, len(data))
        return len(data)

    def MergeFromString(self, data):
        data = _as_bytes(data, f"{type(self).__name__}.MergeFromString")
        self._decode(data, 0, len(data))
        return len(data)

    def CopyFrom(self, other):
        self.ParseFromString(other._encode())

    def ByteSize(self):
        return len(self._encode())

    def __eq__(self, other):
        return type(other) is type(self) and other._encode() == self._encode()

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __str__(self):
        return "".join(line + "\n" for line in self._text_lines())

    __repr__ = __str__


def _as_bytes(data, who):
    if hasattr(data, "numpy"):
        data = data.numpy()
    if isinstance(data, np.ndarray) and data.ndim == 0:
        data = data.item()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{who}: expected bytes, got {type(data).__name__}")
    return bytes(data)


class _Values(list):
    """A repeated field: a list whose entries are checked (and converted)
    as the field's type, as protobuf's repeated fields are."""

    def __init__(self, check, values=()):
        self._check = check
        super().__init__(check(v) for v in values)

    def append(self, v):
        super().append(self._check(v))

    def extend(self, values):
        super().extend(self._check(v) for v in values)

    def insert(self, i, v):
        super().insert(i, self._check(v))

    def __setitem__(self, i, v):
        if isinstance(i, slice):
            super().__setitem__(i, [self._check(u) for u in v])
        else:
            super().__setitem__(i, self._check(v))


def _scalar(v):
    if hasattr(v, "numpy"):
        v = v.numpy()
    if isinstance(v, np.ndarray):
        if v.ndim != 0:
            raise TypeError(f"expected a scalar, got an array of shape {v.shape}")
        v = v.item()
    return v


def _check_bytes(v):
    v = _scalar(v)
    if isinstance(v, np.bytes_):
        v = bytes(v)
    if not isinstance(v, bytes):
        raise TypeError(f"{v!r} has type {type(v).__name__}, but expected one of: bytes")
    return v


def _check_float(v):
    v = _scalar(v)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                            np.floating)):
        raise TypeError(f"{v!r} has type {type(v).__name__}, but expected one of: int, float")
    # (a float field holds float32, as the bytes do)
    return float(np.float32(v))


def _check_int64(v):
    v = _scalar(v)
    if not isinstance(v, (int, np.integer, bool, np.bool_)):
        raise TypeError(f"{v!r} has type {type(v).__name__}, but expected one of: int")
    v = int(v)
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError(f"Value out of range: {v}")
    return v


class _List(_Message):
    """BytesList, FloatList, Int64List: one repeated field ``value``."""
    _check = None

    def __init__(self, value=()):
        self.value = value

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, values):
        if hasattr(values, "numpy"):
            values = values.numpy()
        if isinstance(values, np.ndarray):
            values = values.reshape(-1).tolist()
        self._value = _Values(type(self)._check, values)

    def Clear(self):
        self._value = _Values(type(self)._check)

    def _text_lines(self):
        return [f"value: {self._text(v)}" for v in self._value]


class BytesList(_List):
    _check = staticmethod(_check_bytes)

    def _encode(self):
        return b"".join(_len_field(1, v) for v in self._value)

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number == 1 and wire == 2:
                list.append(self._value, data[value[0]:value[1]])

    @staticmethod
    def _text(v):
        return f'"{_escape(v)}"'


class FloatList(_List):
    _check = staticmethod(_check_float)

    def _encode(self):
        if not self._value:
            return b""
        return _len_field(1, np.asarray(self._value, "<f4").tobytes())

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number != 1:
                continue
            if wire == 2:  # packed
                if (value[1] - value[0]) % 4:
                    raise DecodeError("FloatList: a packed field whose length is not a "
                                      "multiple of 4")
                list.extend(self._value, np.frombuffer(
                    data[value[0]:value[1]], "<f4").astype(float).tolist())
            elif wire == 5:
                list.append(self._value, float(np.frombuffer(data[value[0]:value[1]],
                                                             "<f4")[0]))

    @staticmethod
    def _text(v):
        # (protobuf's: six significant digits where they give the float32
        # back, else nine)
        s = "%.6g" % v
        return s if np.float32(s) == np.float32(v) else "%.9g" % v


class Int64List(_List):
    _check = staticmethod(_check_int64)

    def _encode(self):
        if not self._value:
            return b""
        return _len_field(1, b"".join(_varint(v) for v in self._value))

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number != 1:
                continue
            if wire == 2:  # packed
                p, stop = value
                while p < stop:
                    v, p = _read_varint(data, p, stop)
                    list.append(self._value, v - (1 << 64) if v >= 1 << 63 else v)
            elif wire == 0:
                list.append(self._value, value - (1 << 64) if value >= 1 << 63 else value)

    @staticmethod
    def _text(v):
        return str(v)


_KINDS = ("bytes_list", "float_list", "int64_list")
_KIND_CLASSES = {"bytes_list": BytesList, "float_list": FloatList, "int64_list": Int64List}


class Feature(_Message):
    """One of ``bytes_list``, ``float_list``, ``int64_list`` (the oneof
    ``kind``): ``WhichOneof("kind")`` names the one set."""

    def __init__(self, bytes_list=None, float_list=None, int64_list=None):
        given = [(k, v) for k, v in zip(_KINDS, (bytes_list, float_list, int64_list))
                 if v is not None]
        if len(given) > 1:
            raise ValueError("Feature: give one of bytes_list, float_list, int64_list")
        self.Clear()
        for kind, v in given:
            if not isinstance(v, _KIND_CLASSES[kind]):
                raise TypeError(f"Feature: {kind} must be a {_KIND_CLASSES[kind].__name__}, "
                                f"got {type(v).__name__}")
            self._lists[kind] = v
            self._kind = kind

    def Clear(self):
        self._lists = {k: c() for k, c in _KIND_CLASSES.items()}
        self._kind = None

    def WhichOneof(self, oneof_group):
        if oneof_group != "kind":
            raise ValueError(f'Feature has no "{oneof_group}" field.')
        if self._kind is None:
            # (a list filled in place, ``feature.int64_list.value.append(1)``)
            for k in _KINDS:
                if self._lists[k].value:
                    return k
        return self._kind

    def HasField(self, name):
        return self.WhichOneof("kind") == name

    def _encode(self):
        kind = self.WhichOneof("kind")
        if kind is None:
            return b""
        return _len_field(_KINDS.index(kind) + 1, self._lists[kind]._encode())

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if 1 <= number <= 3 and wire == 2:
                kind = _KINDS[number - 1]
                if kind != self._kind:
                    self._lists = {k: c() for k, c in _KIND_CLASSES.items()}
                self._kind = kind
                self._lists[kind]._decode(data, value[0], value[1])

    def _text_lines(self):
        kind = self.WhichOneof("kind")
        if kind is None:
            return []
        return [kind + " {"] + ["  " + s for s in self._lists[kind]._text_lines()] + ["}"]


def _kind_property(kind):
    def get(self):
        return self._lists[kind]
    return property(get)


for _k in _KINDS:
    setattr(Feature, _k, _kind_property(_k))


class _FeatureMap(dict):
    """Features.feature: reading a missing key adds an empty Feature, as a
    protobuf map of messages does."""

    def __missing__(self, key):
        self[key] = Feature()
        return self[key]

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError(f"Features.feature: keys are str, got {type(key).__name__}")
        if not isinstance(value, Feature):
            raise TypeError(f"Features.feature[{key!r}]: expected a Feature, got "
                            f"{type(value).__name__}")
        super().__setitem__(key, value)


class Features(_Message):
    """``feature``: a map of names to Feature."""

    def __init__(self, feature=None):
        self.Clear()
        for k, v in (feature or {}).items():
            self.feature[k] = v

    def Clear(self):
        self.feature = _FeatureMap()

    def _encode(self):
        # (keys in order, as TensorFlow's deterministic serialization)
        return b"".join(_len_field(1, _len_field(1, k.encode()) +
                                   _len_field(2, self.feature[k]._encode()))
                        for k in sorted(self.feature))

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number != 1 or wire != 2:
                continue
            key, feature = "", Feature()
            for n, w, v in _fields(data, value[0], value[1]):
                if n == 1 and w == 2:
                    try:
                        key = data[v[0]:v[1]].decode()
                    except UnicodeDecodeError:
                        raise DecodeError("Features: a key that is not UTF-8") from None
                elif n == 2 and w == 2:
                    feature = Feature()
                    feature._decode(data, v[0], v[1])
            dict.__setitem__(self.feature, key, feature)

    def _text_lines(self):
        lines = []
        for k in sorted(self.feature):
            lines += ["feature {", f'  key: "{_escape(k.encode())}"', "  value {"]
            lines += ["    " + s for s in self.feature[k]._text_lines()]
            lines += ["  }", "}"]
        return lines


class Example(_Message):
    """``features``: the record a TFRecord file of examples holds."""

    def __init__(self, features=None):
        self.Clear()
        if features is not None:
            if not isinstance(features, Features):
                raise TypeError(f"Example: features must be a Features, got "
                                f"{type(features).__name__}")
            self.features = features

    def Clear(self):
        self.features = Features()

    def _encode(self):
        body = self.features._encode()
        return _len_field(1, body) if body else b""

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number == 1 and wire == 2:
                self.features._decode(data, value[0], value[1])

    def _text_lines(self):
        inner = self.features._text_lines()
        return ["features {"] + ["  " + s for s in inner] + ["}"] if inner else []


class _Messages(list):
    """A repeated message field (FeatureList.feature): only ``cls``
    messages go in; ``add()`` appends a new one and gives it back."""

    def __init__(self, cls, who):
        super().__init__()
        self._cls, self._who = cls, who

    def _check(self, v):
        if not isinstance(v, self._cls):
            raise TypeError(f"{self._who}: expected a {self._cls.__name__}, got "
                            f"{type(v).__name__}")
        return v

    def add(self, **fields):
        msg = self._cls(**fields)
        list.append(self, msg)
        return msg

    def append(self, v):
        list.append(self, self._check(v))

    def extend(self, values):
        list.extend(self, [self._check(v) for v in values])

    def insert(self, i, v):
        list.insert(self, i, self._check(v))

    def __setitem__(self, i, v):
        raise TypeError(f"{self._who}: a repeated message field does not take assignment; "
                        f"use append, extend or add")


class FeatureList(_Message):
    """``feature``: the Features of a sequence's steps, one per step."""

    def __init__(self, feature=None):
        self.Clear()
        self.feature.extend(feature or ())

    def Clear(self):
        self.feature = _Messages(Feature, "FeatureList.feature")

    def _encode(self):
        return b"".join(_len_field(1, f._encode()) for f in self.feature)

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number == 1 and wire == 2:
                f = Feature()
                f._decode(data, value[0], value[1])
                list.append(self.feature, f)

    def _text_lines(self):
        lines = []
        for f in self.feature:
            lines += ["feature {"] + ["  " + s for s in f._text_lines()] + ["}"]
        return lines


class _FeatureListMap(dict):
    """FeatureLists.feature_list: a missing key reads as a new empty
    FeatureList, as a protobuf map of messages does."""

    def __missing__(self, key):
        self[key] = FeatureList()
        return self[key]

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError(f"FeatureLists.feature_list: keys are str, got "
                            f"{type(key).__name__}")
        if not isinstance(value, FeatureList):
            raise TypeError(f"FeatureLists.feature_list[{key!r}]: expected a FeatureList, "
                            f"got {type(value).__name__}")
        super().__setitem__(key, value)


class FeatureLists(_Message):
    """``feature_list``: a map of names to FeatureList."""

    def __init__(self, feature_list=None):
        self.Clear()
        for k, v in (feature_list or {}).items():
            self.feature_list[k] = v

    def Clear(self):
        self.feature_list = _FeatureListMap()

    def _encode(self):
        return b"".join(_len_field(1, _len_field(1, k.encode()) +
                                   _len_field(2, self.feature_list[k]._encode()))
                        for k in sorted(self.feature_list))

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number != 1 or wire != 2:
                continue
            key, flist = "", FeatureList()
            for n, w, v in _fields(data, value[0], value[1]):
                if n == 1 and w == 2:
                    try:
                        key = data[v[0]:v[1]].decode()
                    except UnicodeDecodeError:
                        raise DecodeError("FeatureLists: a key that is not UTF-8") from None
                elif n == 2 and w == 2:
                    flist = FeatureList()
                    flist._decode(data, v[0], v[1])
            dict.__setitem__(self.feature_list, key, flist)

    def _text_lines(self):
        lines = []
        for k in sorted(self.feature_list):
            lines += ["feature_list {", f'  key: "{_escape(k.encode())}"', "  value {"]
            lines += ["    " + s for s in self.feature_list[k]._text_lines()]
            lines += ["  }", "}"]
        return lines


class SequenceExample(_Message):
    """``context`` (Features of the whole sequence) and ``feature_lists``
    (a FeatureList per sequence feature): tf.train.SequenceExample."""

    def __init__(self, context=None, feature_lists=None):
        self.Clear()
        if context is not None:
            if not isinstance(context, Features):
                raise TypeError(f"SequenceExample: context must be a Features, got "
                                f"{type(context).__name__}")
            self.context = context
        if feature_lists is not None:
            if not isinstance(feature_lists, FeatureLists):
                raise TypeError(f"SequenceExample: feature_lists must be a FeatureLists, "
                                f"got {type(feature_lists).__name__}")
            self.feature_lists = feature_lists

    def Clear(self):
        self.context = Features()
        self.feature_lists = FeatureLists()

    def _encode(self):
        context, lists = self.context._encode(), self.feature_lists._encode()
        return (_len_field(1, context) if context else b"") + \
            (_len_field(2, lists) if lists else b"")

    def _decode(self, data, pos, end):
        for number, wire, value in _fields(data, pos, end):
            if number == 1 and wire == 2:
                self.context._decode(data, value[0], value[1])
            elif number == 2 and wire == 2:
                self.feature_lists._decode(data, value[0], value[1])

    def _text_lines(self):
        lines = []
        for name, msg in (("context", self.context), ("feature_lists", self.feature_lists)):
            inner = msg._text_lines()
            if inner:
                lines += [name + " {"] + ["  " + s for s in inner] + ["}"]
        return lines


# ------------------------------------------------------------ TFRecord files

def _compression(options, who):
    kind = getattr(options, "compression_type", options)
    kind = (kind or "").upper()
    if kind not in ("", "GZIP", "ZLIB"):
        raise ValueError(f"{who}: compression_type must be None, '', 'GZIP' or 'ZLIB', "
                         f"got {kind!r}")
    return kind


class TFRecordOptions:
    """How a TFRecord file is compressed (tf.io.TFRecordOptions)."""

    def __init__(self, compression_type=None, flush_mode=None, input_buffer_size=None,
                 output_buffer_size=None, window_bits=None, compression_level=None,
                 compression_method=None, mem_level=None, compression_strategy=None):
        self.compression_type = _compression(compression_type, "TFRecordOptions")
        self.compression_level = compression_level


def _frame(record):
    length = struct.pack("<Q", len(record))
    return length + struct.pack("<I", _masked_crc(length)) + record + \
        struct.pack("<I", _masked_crc(record))


class TFRecordWriter:
    """Writes records to a TFRecord file (tf.io.TFRecordWriter): ``write``
    each, then ``close`` (or a with-block).  The file appears whole at
    close: it is written beside its place and renamed into it."""

    def __init__(self, path, options=None):
        from .io import _path
        self._path = _path(path, "TFRecordWriter")
        self._kind = _compression(options, "TFRecordWriter")
        self._level = getattr(options, "compression_level", None)
        self._tmp = self._path + ".tmp-" + str(os.getpid())
        raw = open(self._tmp, "wb")
        level = -1 if self._level is None else self._level
        if self._kind == "GZIP":
            self._file = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9 if level < 0
                                       else level)
        elif self._kind == "ZLIB":
            self._file, self._z = raw, zlib.compressobj(level)
        else:
            self._file = raw
        self._raw = raw

    def write(self, record):
        if self._file is None:
            raise ValueError("TFRecordWriter: the writer is closed")
        data = _frame(_as_bytes(record, "TFRecordWriter.write"))
        self._file.write(self._z.compress(data) if self._kind == "ZLIB" else data)

    def flush(self):
        if self._file is not None:
            self._file.flush()

    def close(self):
        if self._file is None:
            return
        if self._kind == "ZLIB":
            self._raw.write(self._z.flush())
        if self._file is not self._raw:
            self._file.close()
        self._raw.close()
        self._file = None
        os.replace(self._tmp, self._path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _read_records(path, kind):
    with open(path, "rb") as f:
        data = f.read()
    try:
        if kind == "GZIP":
            data = gzip.decompress(data)
        elif kind == "ZLIB":
            data = zlib.decompress(data)
    except (OSError, zlib.error, EOFError) as e:
        raise DataLossError(f"TFRecordDataset: {path} is not {kind}-compressed as given "
                            f"({e})") from None
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < 12:
            raise DataLossError(f"TFRecordDataset: {path} is truncated at byte {pos} (a "
                                f"record header needs 12 bytes, {n - pos} are left)")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if crc != _masked_crc(header):
            raise DataLossError(f"TFRecordDataset: corrupted record at byte {pos} of {path} "
                                f"(its length's checksum does not match)")
        start = pos + 12
        if length > n - start - 4:
            raise DataLossError(f"TFRecordDataset: {path} is truncated: the record at byte "
                                f"{pos} says {length} bytes, {max(n - start - 4, 0)} are left")
        record = data[start:start + length]
        (crc,) = struct.unpack("<I", data[start + length:start + length + 4])
        if crc != _masked_crc(record):
            raise DataLossError(f"TFRecordDataset: corrupted record at byte {pos} of {path} "
                                f"(its data's checksum does not match)")
        pos = start + length + 4
        yield np.array(record, dtype=object)


class TFRecordDataset(Dataset):
    """tf.data.TFRecordDataset: the records of the TFRecord files
    ``filenames`` (a path, a list of paths or a Dataset of them), file
    after file, each a scalar string tensor; ``num_parallel_reads`` > 1
    reads that many files at once, a record from each in turn."""

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        from .utils.dataset import _check_count
        kind = _compression(compression_type, "TFRecordDataset")
        if isinstance(filenames, Dataset):
            source = filenames
        else:
            paths = np.asarray(filenames.numpy() if hasattr(filenames, "numpy") else
                               [os.fspath(p) if isinstance(p, os.PathLike) else p
                                for p in filenames]
                               if isinstance(filenames, (list, tuple)) else
                               os.fspath(filenames) if isinstance(filenames, os.PathLike)
                               else filenames)
            if paths.dtype.kind not in "USO" or paths.ndim > 1:
                raise TypeError(f"TFRecordDataset: filenames must be a path or a list of "
                                f"paths, got {filenames!r}")
            source = Dataset.from_tensor_slices(paths.reshape(-1))

        def one_file(path):
            path = np.asarray(path).item()
            path = path.decode() if isinstance(path, bytes) else str(path)
            return Dataset(lambda: _read_records(path, kind))

        cycle = 1 if not num_parallel_reads or num_parallel_reads < 0 else \
            _check_count(num_parallel_reads, "TFRecordDataset", "num_parallel_reads")
        files = source.interleave(one_file, cycle_length=cycle)
        super().__init__(files._make_iterator, UNKNOWN)


class DatasetTFRecordWriter:
    """tf.data.experimental.TFRecordWriter: ``write(dataset)`` writes a
    dataset of scalar strings to one TFRecord file."""

    def __init__(self, filename, compression_type=None):
        self._filename = filename
        self._options = TFRecordOptions(compression_type)

    def write(self, dataset):
        with TFRecordWriter(self._filename, self._options) as writer:
            for record in dataset:
                writer.write(record)


# ------------------------------------------------------------ parsing

class FixedLenFeature:
    """A feature with ``prod(shape)`` values, parsed to a tensor of
    ``shape`` (tf.io.FixedLenFeature); ``default_value`` where an example
    lacks it (else the example is an error)."""

    def __init__(self, shape, dtype, default_value=None):
        self.shape = tuple(int(d) for d in (shape if isinstance(shape, (list, tuple)) else
                                            ([] if shape is None else list(shape))))
        self.dtype = _feature_dtype(dtype, "FixedLenFeature")
        self.default_value = default_value

    def __repr__(self):
        return (f"FixedLenFeature(shape={list(self.shape)}, dtype={self.dtype.name}, "
                f"default_value={self.default_value!r})")


class VarLenFeature:
    """A feature with any number of values, parsed to a SparseTensor
    (tf.io.VarLenFeature)."""

    def __init__(self, dtype):
        self.dtype = _feature_dtype(dtype, "VarLenFeature")

    def __repr__(self):
        return f"VarLenFeature(dtype={self.dtype.name})"


class RaggedFeature:
    """A feature with any number of values, parsed to a RaggedTensor of one
    row per example (tf.io.RaggedFeature; of a single example, a 1-D
    tensor of its values).  ``value_key`` names the feature to read (the
    dict's key when None)."""

    def __init__(self, dtype, value_key=None, partitions=(), row_splits_dtype="int32",
                 validate=False):
        self.dtype = _feature_dtype(dtype, "RaggedFeature")
        if partitions:
            raise ValueError("tf.io.RaggedFeature: partitions make more ragged dimensions; "
                             "pynn's RaggedTensor has one (a row per example), so "
                             "partitions are not supported")
        self.value_key = value_key
        self.partitions = ()
        self.row_splits_dtype = row_splits_dtype
        self.validate = validate

    def __repr__(self):
        return (f"RaggedFeature(dtype={self.dtype.name}, value_key={self.value_key!r}, "
                f"partitions=(), row_splits_dtype={self.row_splits_dtype!r}, "
                f"validate={self.validate})")


class FixedLenSequenceFeature:
    """A sequence feature whose every step has ``prod(shape)`` values,
    parsed to a tensor of ``(steps,) + shape``
    (tf.io.FixedLenSequenceFeature); with ``allow_missing``, a sequence
    without it gives zero steps."""

    def __init__(self, shape, dtype, allow_missing=False, default_value=None):
        self.shape = tuple(int(d) for d in (shape if isinstance(shape, (list, tuple)) else
                                            ([] if shape is None else list(shape))))
        self.dtype = _feature_dtype(dtype, "FixedLenSequenceFeature")
        self.allow_missing = bool(allow_missing)
        self.default_value = default_value

    def __repr__(self):
        return (f"FixedLenSequenceFeature(shape={list(self.shape)}, dtype={self.dtype.name}, "
                f"allow_missing={self.allow_missing}, default_value={self.default_value!r})")


def _feature_dtype(dtype, who):
    from .dtypes import as_dtype
    d = as_dtype(dtype)
    if d.name not in ("int64", "float32", "string"):
        raise ValueError(f"{who}: dtype must be tf.int64, tf.float32 or tf.string (the "
                         f"types a Feature holds), got {d.name}")
    return d


_KIND_OF = {"int64": "int64_list", "float32": "float_list", "string": "bytes_list"}
_NP_OF = {"int64": np.int64, "float32": np.float32, "string": object}


def _values(feature, key, dtype):
    kind = feature.WhichOneof("kind")
    if kind is None:
        return []
    if kind != _KIND_OF[dtype.name]:
        have = {"int64_list": "int64", "float_list": "float", "bytes_list": "string"}[kind]
        raise InvalidArgumentError(f"Feature: {key} (data type: {dtype.name}): data types "
                                   f"don't match. Data type: {have} but expected type: "
                                   f"{dtype.name}")
    return list(feature._lists[kind].value)


def _array(values, dtype):
    out = np.empty(len(values), object) if dtype.name == "string" else \
        np.asarray(values, _NP_OF[dtype.name]).reshape(-1)
    if dtype.name == "string":
        out[:] = values
    return out


def _examples(serialized, who):
    if hasattr(serialized, "numpy"):
        serialized = serialized.numpy()
    if isinstance(serialized, (bytes, bytearray)):
        return [bytes(serialized)], ()
    a = np.asarray(serialized, dtype=object)
    out = []
    for v in a.reshape(-1):
        if isinstance(v, np.ndarray):
            v = v.item()
        if not isinstance(v, (bytes, bytearray)):
            raise TypeError(f"tf.io.{who}: expected serialized examples (bytes), got "
                            f"{type(v).__name__}")
        out.append(bytes(v))
    return out, a.shape


def _parse(records, batch_shape, features, who):
    examples = []
    for r in records:
        try:
            examples.append(Example.FromString(r).features.feature)
        except DecodeError as e:
            raise InvalidArgumentError(f"tf.io.{who}: could not parse an example "
                                       f"({e})") from None
    return _parse_features(examples, batch_shape, features, who)


def _parse_features(examples, batch_shape, features, who):
    """The tensors ``features`` describes, from the feature maps of
    ``examples`` (one per example of the batch)."""
    from .sparse import SparseTensor
    out = {}
    for key, spec in features.items():
        if isinstance(spec, FixedLenFeature):
            size = int(np.prod(spec.shape))
            rows = []
            for i, f in enumerate(examples):
                vals = _values(f[key], key, spec.dtype) if key in f else []
                if key not in f or (not vals and size):
                    if spec.default_value is None:
                        raise InvalidArgumentError(
                            f"tf.io.{who}: Feature: {key} (data type: {spec.dtype.name}) is "
                            f"required but could not be found (example {i})")
                    d = spec.default_value
                    d = d.numpy() if hasattr(d, "numpy") else d
                    if spec.dtype.name == "string":
                        d = np.asarray(d, object)
                        d = np.vectorize(lambda s: s.encode() if isinstance(s, str) else s,
                                         otypes=[object])(d) if d.size else d
                        row = np.empty(spec.shape, object)
                        row[...] = d
                    else:
                        row = np.broadcast_to(np.asarray(d, _NP_OF[spec.dtype.name]),
                                              spec.shape).copy()
                    rows.append(row)
                    continue
                if len(vals) != size:
                    raise InvalidArgumentError(
                        f"tf.io.{who}: Key: {key}. Can't parse serialized Example: the "
                        f"feature has {len(vals)} values, FixedLenFeature of shape "
                        f"{list(spec.shape)} needs {size}")
                rows.append(_array(vals, spec.dtype).reshape(spec.shape))
            value = np.stack(rows) if rows else np.empty((0,) + spec.shape,
                                                         _NP_OF[spec.dtype.name])
            out[key] = eager(value.reshape(tuple(batch_shape) + spec.shape))
        elif isinstance(spec, VarLenFeature):
            indices, values, width = [], [], 0
            for i, f in enumerate(examples):
                vals = _values(f[key], key, spec.dtype) if key in f else []
                width = max(width, len(vals))
                indices += [[i, j] for j in range(len(vals))]
                values += vals
            idx = np.asarray(indices, np.int64).reshape(-1, 2)
            if len(batch_shape) == 0:
                idx = idx[:, 1:]
                shape = [width]
            else:
                shape = [len(examples), width]
            out[key] = SparseTensor(idx, _array(values, spec.dtype), shape)
        elif isinstance(spec, RaggedFeature):
            from .ragged import RaggedTensor
            name = key if spec.value_key is None else spec.value_key
            rows = [_values(f[name], name, spec.dtype) if name in f else [] for f in examples]
            flat = _array([v for r in rows for v in r], spec.dtype)
            if len(tuple(batch_shape)) > 1:
                raise ValueError(f"tf.io.{who}: a RaggedFeature is parsed from a scalar or a "
                                 f"1-D batch of examples, got shape {tuple(batch_shape)}")
            out[key] = RaggedTensor.from_row_lengths(flat, [len(r) for r in rows]) \
                if len(batch_shape) > 0 else eager(flat)
        elif isinstance(spec, FixedLenSequenceFeature):
            out[key] = _sequence_of_steps(examples, batch_shape, key, spec, who)
        else:
            raise TypeError(f"tf.io.{who}: features[{key!r}] must be a FixedLenFeature, "
                            f"VarLenFeature, FixedLenSequenceFeature or RaggedFeature, got "
                            f"{type(spec).__name__}")
    return out


def _sequence_of_steps(examples, batch_shape, key, spec, who):
    """A FixedLenSequenceFeature of Examples (a float list of any length read
    as steps of ``shape``): ``(steps,) + shape`` for one example, ``(batch,
    longest) + shape`` for a batch, the shorter ones padded with
    ``default_value`` (zeros, or empty strings), as TensorFlow parses it."""
    if not spec.allow_missing:
        raise ValueError(f"tf.io.{who}: Unsupported: FixedLenSequenceFeature requires "
                         f"allow_missing to be True (feature {key!r} of an Example)")
    size = int(np.prod(spec.shape))
    rows = []
    for i, f in enumerate(examples):
        vals = _values(f[key], key, spec.dtype) if key in f else []
        if (size == 0 and vals) or (size and len(vals) % size):
            raise InvalidArgumentError(
                f"tf.io.{who}: Key: {key}, Index: {i}. Number of {spec.dtype.name} values "
                f"({len(vals)}) is not a multiple of the size of the shape "
                f"{list(spec.shape)} ({size})")
        steps = len(vals) // size if size else 0
        rows.append(_array(vals, spec.dtype).reshape((steps,) + spec.shape))
    if len(batch_shape) == 0:
        return eager(rows[0])
    longest = max((len(r) for r in rows), default=0)
    pad = spec.default_value
    pad = pad.numpy() if hasattr(pad, "numpy") else pad
    if spec.dtype.name == "string":
        pad = b"" if pad is None else (pad.encode() if isinstance(pad, str) else pad)
        value = np.empty((len(rows), longest) + spec.shape, object)
        value[...] = pad
    else:
        value = np.full((len(rows), longest) + spec.shape, 0 if pad is None else pad,
                        _NP_OF[spec.dtype.name])
    for i, r in enumerate(rows):
        value[i, :len(r)] = r
    return eager(value)


def parse_single_example(serialized, features, name=None, example_names=None):
    """One serialized Example (a scalar string) parsed to a dict of tensors
    as ``features`` describes them (tf.io.parse_single_example)."""
    records, shape = _examples(serialized, "parse_single_example")
    if shape != ():
        raise ValueError(f"tf.io.parse_single_example: expected one serialized example (a "
                         f"scalar), got shape {shape}")
    return _parse(records, (), features, "parse_single_example")


def parse_example(serialized, features, name=None, example_names=None):
    """A vector of serialized Examples parsed to a dict of batched tensors
    (tf.io.parse_example): FixedLenFeature as ``(batch,) + shape``,
    VarLenFeature as a SparseTensor of ``[batch, longest]``."""
    records, shape = _examples(serialized, "parse_example")
    if len(shape) > 1:
        raise ValueError(f"tf.io.parse_example: expected a vector of serialized examples, "
                         f"got shape {shape}")
    return _parse(records, (len(records),) if len(shape) > 0 else (), features, "parse_example")


def parse_single_sequence_example(serialized, context_features=None, sequence_features=None,
                                  example_name=None, name=None):
    """One serialized SequenceExample parsed to ``(context, feature_lists)``,
    two dicts of tensors (tf.io.parse_single_sequence_example): the context
    as parse_single_example parses features; each sequence feature a
    FixedLenSequenceFeature, ``(steps,) + shape``, or a VarLenFeature, a
    SparseTensor of ``[steps, longest step]``."""
    from .sparse import SparseTensor
    who = "parse_single_sequence_example"
    records, shape = _examples(serialized, who)
    if shape != ():
        raise ValueError(f"tf.io.{who}: expected one serialized sequence example (a "
                         f"scalar), got shape {shape}")
    try:
        seq = SequenceExample.FromString(records[0])
    except DecodeError as e:
        raise InvalidArgumentError(f"tf.io.{who}: could not parse a sequence example "
                                   f"({e})") from None
    context = _parse_features([seq.context.feature], (), context_features or {}, who)
    lists = seq.feature_lists.feature_list
    sequences = {}
    for key, spec in (sequence_features or {}).items():
        steps = [_values(f, key, spec.dtype) for f in lists[key].feature] \
            if key in lists else None
        if isinstance(spec, FixedLenSequenceFeature):
            if steps is None and not spec.allow_missing:
                raise InvalidArgumentError(
                    f"tf.io.{who}: Feature list '{key}' is required but could not be found "
                    f"(give FixedLenSequenceFeature(..., allow_missing=True) to allow it)")
            size = int(np.prod(spec.shape))
            for i, vals in enumerate(steps or []):
                if len(vals) != size:
                    raise InvalidArgumentError(
                        f"tf.io.{who}: Key: {key}, Index: {i}. Number of values != expected. "
                        f"values size: {len(vals)} but output shape: {list(spec.shape)}")
            value = np.stack([_array(v, spec.dtype).reshape(spec.shape) for v in steps]) \
                if steps else np.empty((0,) + spec.shape, _NP_OF[spec.dtype.name])
            sequences[key] = eager(value)
        elif isinstance(spec, VarLenFeature):
            steps = steps or []
            indices = [[i, j] for i, vals in enumerate(steps) for j in range(len(vals))]
            values = [v for vals in steps for v in vals]
            sequences[key] = SparseTensor(
                np.asarray(indices, np.int64).reshape(-1, 2), _array(values, spec.dtype),
                [len(steps), max((len(v) for v in steps), default=0)])
        else:
            raise TypeError(f"tf.io.{who}: sequence_features[{key!r}] must be a "
                            f"FixedLenSequenceFeature or VarLenFeature, got "
                            f"{type(spec).__name__}")
    return context, sequences


__all__ = ["BytesList", "FloatList", "Int64List", "Feature", "Features", "Example",
           "FeatureList", "FeatureLists", "SequenceExample",
           "TFRecordWriter", "TFRecordOptions", "TFRecordDataset", "DatasetTFRecordWriter",
           "FixedLenFeature", "VarLenFeature", "FixedLenSequenceFeature",
           "parse_single_example", "parse_example", "parse_single_sequence_example",
           "serialize_tensor", "parse_tensor", "serialize_sparse", "DecodeError"]


# ------------------------------------------------- tensors as TensorProto

# TensorFlow's DataType numbers (types.proto) of the dtypes pynn holds
_DT_NUMBERS = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6,
               "string": 7, "complex64": 8, "int64": 9, "bool": 10, "uint16": 17,
               "complex128": 18, "float16": 19, "uint32": 22, "uint64": 23}
_DT_NAMES = {v: k for k, v in _DT_NUMBERS.items()}
# TensorProto's repeated numeric value fields (float_val, double_val,
# int_val, scomplex_val, int64_val, bool_val, dcomplex_val, half_val,
# uint32_val, uint64_val): number -> how each is stored, a little-endian
# NumPy type or "varint"
_VALUE_FIELDS = {5: "<f4", 6: "<f8", 7: "varint", 9: "<f4", 10: "varint", 11: "varint",
                 12: "<f8", 13: "varint", 16: "varint", 17: "varint"}


def _dtype_name(value):
    from .dtypes import as_dtype
    return as_dtype(value).name


def serialize_tensor(tensor, name=None):
    """The tensor as TensorFlow's ``TensorProto`` bytes (a 0-d string
    tensor), as ``tf.io.serialize_tensor`` writes it: the dtype, the shape
    and the values (numbers in ``tensor_content``, strings each in a
    ``string_val``); ``parse_tensor`` and TensorFlow read it back."""
    return eager(np.asarray(_tensor_proto(tensor, "tf.io.serialize_tensor", False),
                            dtype=object))


def serialize_sparse(sp_input, out_type="string", name=None):
    """A SparseTensor as TensorFlow's ``tf.io.serialize_sparse``: a vector
    of three serialized TensorProtos, its indices, values and dense shape
    (every one with its values in ``tensor_content``, as TensorFlow writes
    them here)."""
    from .dtypes import as_dtype
    if as_dtype(out_type).name != "string":
        raise ValueError(f"tf.io.serialize_sparse: out_type must be tf.string, got "
                         f"{as_dtype(out_type).name} (pynn has no variant tensors)")
    who = "tf.io.serialize_sparse"
    parts = [_tensor_proto(np.asarray(sp_input.indices, np.int64), who, True),
             _tensor_proto(sp_input.values, who, True),
             _tensor_proto(np.asarray(sp_input.dense_shape, np.int64), who, True)]
    out = np.empty(3, dtype=object)
    out[:] = parts
    return eager(out)


def _tensor_proto(tensor, who, strings_as_content):
    """TensorProto bytes of ``tensor``: strings in ``string_val`` fields or,
    with ``strings_as_content``, in ``tensor_content`` as TensorFlow packs
    them (every length as a varint, then the bytes)."""
    from . import ops
    arr = np.asarray(ops.convert_to_numpy(tensor))
    if arr.dtype.kind in "USO":
        dtype = "string"
    else:
        dtype = arr.dtype.name
        if dtype not in _DT_NUMBERS:
            raise TypeError(f"{who}: tensors of dtype {dtype} have no TensorProto form")
    shape = b"".join(_len_field(2, _varint(1 << 3) + _varint(d) if d else b"")
                     for d in arr.shape)
    out = _varint(1 << 3) + _varint(_DT_NUMBERS[dtype]) + _len_field(2, shape)
    if dtype == "string":
        values = [v.encode() if isinstance(v, str) else _as_bytes(v, who)
                  for v in arr.reshape(-1)]
        if strings_as_content:
            if values:
                out += _len_field(4, b"".join(_varint(len(v)) for v in values) +
                                  b"".join(values))
        else:
            out += b"".join(_len_field(8, v) for v in values)
    elif arr.size:
        out += _len_field(4, np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes())
    return out


def _string_content(content, size, who):
    """The ``size`` strings TensorFlow packs into a string tensor's
    ``tensor_content``: their lengths as varints, then their bytes."""
    lengths, pos = [], 0
    try:
        for _ in range(size):
            n, pos = _read_varint(content, pos, len(content))
            lengths.append(n)
    except DecodeError:
        raise InvalidArgumentError(f"{who}: the content does not hold {size} strings") \
            from None
    if sum(lengths) != len(content) - pos:
        raise InvalidArgumentError(f"{who}: the content does not hold {size} strings")
    out = np.empty(size, dtype=object)
    for i, n in enumerate(lengths):
        out[i] = content[pos:pos + n]
        pos += n
    return out


def parse_tensor(serialized, out_type, name=None):
    """The tensor that ``serialize_tensor`` (or TensorFlow) wrote as
    ``TensorProto`` bytes; ``out_type`` must be its dtype, as TensorFlow
    checks.  Values given in the repeated fields (``float_val``, ...)
    rather than ``tensor_content`` are read too, the last one filling the
    rest of the tensor as TensorFlow fills it."""
    from . import ops
    data = serialized
    if not isinstance(data, (bytes, bytearray)):
        data = np.asarray(ops.convert_to_numpy(data))
        if data.ndim != 0:
            raise InvalidArgumentError(f"tf.io.parse_tensor: expected one serialized "
                                       f"tensor (a 0-d string), got shape {data.shape}")
        data = data.item()
    data = _as_bytes(data, "tf.io.parse_tensor")
    want = _dtype_name(out_type)
    dtype, shape, content, values = None, [], None, []
    try:
        for number, wire, value in _fields(data):
            if number == 1 and wire == 0:
                dtype = value
            elif number == 2 and wire == 2:
                shape = []
                for n, w, dim in _fields(data, *value):
                    if n == 2 and w == 2:
                        size = [v for k, t, v in _fields(data, *dim) if k == 1 and t == 0]
                        shape.append(size[-1] if size else 0)
                    elif n == 3 and w == 0 and dim:
                        raise InvalidArgumentError("tf.io.parse_tensor: the tensor's rank "
                                                   "is unknown")
            elif number == 4 and wire == 2:
                content = data[value[0]:value[1]]
            elif number == 8 and wire == 2:
                values.append(data[value[0]:value[1]])
            elif number in _VALUE_FIELDS:
                values.extend(_packed(data, wire, value, _VALUE_FIELDS[number]))
    except DecodeError as e:
        raise InvalidArgumentError(f"tf.io.parse_tensor: could not parse the serialized "
                                   f"tensor ({e})") from None
    got = _DT_NAMES.get(dtype)
    if got is None:
        raise InvalidArgumentError(f"tf.io.parse_tensor: unsupported or missing data type "
                                   f"{dtype!r} in the serialized tensor")
    if got != want:
        raise InvalidArgumentError(f"tf.io.parse_tensor: type mismatch between parsed tensor "
                                   f"({got}) and dtype ({want})")
    shape = tuple(int(d) for d in shape)
    size = int(np.prod(shape, dtype=np.int64))
    np_dtype = object if got == "string" else np.dtype(got)
    if content is not None and got == "string":
        out = _string_content(content, size, "tf.io.parse_tensor").reshape(shape)
    elif content is not None:
        little = np.dtype(np_dtype).newbyteorder("<")
        if len(content) != size * little.itemsize:
            raise InvalidArgumentError(f"tf.io.parse_tensor: {len(content)} bytes of content "
                                       f"do not hold a {got} tensor of shape {list(shape)}")
        out = np.frombuffer(content, little).astype(np_dtype).reshape(shape)
    else:
        if len(values) > size:
            raise InvalidArgumentError(f"tf.io.parse_tensor: {len(values)} values for a "
                                       f"tensor of shape {list(shape)}")
        out = np.zeros(size, dtype=np_dtype) if got != "string" else \
            np.full(size, b"", dtype=object)
        if values:
            if got == "float16":  # (half_val holds each half's bits)
                values = np.asarray(values, np.uint16).view(np.float16)
            elif got in ("complex64", "complex128"):  # (real, imaginary pairs)
                values = np.asarray(values).reshape(-1, 2) @ np.array([1, 1j])
            vals = np.empty(len(values), dtype=object) if got == "string" else None
            if vals is not None:
                vals[:] = values
            out[:len(values)] = values if vals is None else vals
            out[len(values):] = out[len(values) - 1]
        out = out.reshape(shape)
    return eager(out)


def _packed(data, wire, value, kind):
    """The numbers of one occurrence of a repeated numeric field, packed
    or not."""
    if kind == "varint":
        if wire == 0:
            return [value - (1 << 64) if value >= 1 << 63 else value]
        out, p, stop = [], value[0], value[1]
        while p < stop:
            v, p = _read_varint(data, p, stop)
            out.append(v - (1 << 64) if v >= 1 << 63 else v)
        return out
    chunk = data[value[0]:value[1]]
    if len(chunk) % np.dtype(kind).itemsize:
        raise DecodeError("a packed field whose length is not a multiple of its item size")
    return np.frombuffer(chunk, kind).tolist()


# ------------------------------------------------- tf.make_tensor_proto / make_ndarray

class TensorProto:
    """TensorFlow's ``TensorProto`` message as ``tf.make_tensor_proto``
    gives it: ``dtype`` (the DataType number), ``tensor_shape.dim[i].size``,
    ``SerializeToString()`` (the message's bytes, which TensorFlow parses)
    and ``FromString`` / ``ParseFromString`` of such bytes."""

    def __init__(self, serialized=b""):
        self._data = bytes(serialized)

    @classmethod
    def FromString(cls, data):
        proto = cls(_as_bytes(data, "TensorProto.FromString"))
        proto.dtype  # (checks the message)
        return proto

    def ParseFromString(self, data):
        self._data = _as_bytes(data, "TensorProto.ParseFromString")
        return len(self._data)

    def SerializeToString(self, deterministic=None):
        return self._data

    def _header(self):
        dtype, dims = None, []
        try:
            for number, wire, value in _fields(self._data):
                if number == 1 and wire == 0:
                    dtype = value
                elif number == 2 and wire == 2:
                    dims = []
                    for n, w, dim in _fields(self._data, *value):
                        if n == 2 and w == 2:
                            size = [v for k, t, v in _fields(self._data, *dim)
                                    if k == 1 and t == 0]
                            dims.append(size[-1] if size else 0)
        except DecodeError as e:
            raise InvalidArgumentError(f"TensorProto: could not parse the message ({e})") \
                from None
        if dtype not in _DT_NAMES:
            raise InvalidArgumentError(f"TensorProto: unsupported or missing data type "
                                       f"{dtype!r}")
        return dtype, dims

    @property
    def dtype(self):
        return self._header()[0]

    @property
    def tensor_shape(self):
        import types
        dims = self._header()[1]
        return types.SimpleNamespace(dim=[types.SimpleNamespace(size=d, name="") for d in dims],
                                     unknown_rank=False)

    def __eq__(self, other):
        return isinstance(other, TensorProto) and other._data == self._data

    __hash__ = None

    def __repr__(self):
        dtype, dims = self._header()
        return f"TensorProto(dtype={_DT_NAMES[dtype]}, shape={dims})"


def make_tensor_proto(values, dtype=None, shape=None, verify_shape=False,
                      allow_broadcast=False):
    """``values`` as a TensorProto (tensor_content holding the numbers,
    string_val the strings), as TensorFlow's: Python ints int32, floats
    float32, NumPy arrays their own dtype; ``shape`` reshapes (a single
    value fills it; ``allow_broadcast`` broadcasts; ``verify_shape``
    requires the values' own shape)."""
    from . import ops
    from .dtypes import as_dtype
    who = "tf.make_tensor_proto"
    if isinstance(values, TensorProto):
        return values
    arr = np.asarray(ops.convert_to_numpy(values))
    if not isinstance(values, (np.ndarray, np.generic)) and dtype is None:
        arr = np.asarray(ops.convert_to_numpy(ops.convert_to_tensor(values)))
    if dtype is not None:
        name = as_dtype(dtype).name
        if name == "string":
            arr = arr.astype(object)
        else:
            if arr.dtype.kind in "USO":
                raise TypeError(f"{who}: cannot convert strings to {name}")
            if arr.dtype.kind == "f" and np.dtype(name).kind in "iub":
                raise TypeError(f"{who}: expected {name}, got floating point values")
            arr = arr.astype(name)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        size = int(np.prod(shape, dtype=np.int64))
        if verify_shape and arr.shape != shape:
            raise TypeError(f"{who}: expected shape {shape}, got {arr.shape}")
        if allow_broadcast:
            try:
                arr = np.broadcast_to(arr, shape)
            except ValueError:
                raise ValueError(f"{who}: values of shape {arr.shape} do not broadcast to "
                                 f"{shape}") from None
        elif arr.size == size:
            arr = arr.reshape(shape)
        elif arr.size == 1:
            arr = np.full(shape, arr.reshape(-1)[0], dtype=arr.dtype)
        else:
            raise ValueError(f"{who}: {arr.size} values do not fill the shape {list(shape)} "
                             f"({size} values)")
    return TensorProto(_tensor_proto(arr, who, False))


def make_ndarray(tensor):
    """The NumPy array a TensorProto (or its bytes) holds (strings as
    bytes objects)."""
    data = tensor.SerializeToString() if isinstance(tensor, TensorProto) else \
        _as_bytes(tensor, "tf.make_ndarray")
    dtype = TensorProto(data).dtype
    return np.asarray(parse_tensor(data, _DT_NAMES[dtype])).view(np.ndarray)


__all__ += ["TensorProto", "make_tensor_proto", "make_ndarray"]
