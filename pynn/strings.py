"""TensorFlow's ``tf.strings`` for text pipelines ported with
``import pynn as tf`` (a TextVectorization's ``standardize`` function, a
Dataset's ``map``).

Inputs are a str or bytes, a list of them or a NumPy array (str, bytes or
object); results are, as TensorFlow's string tensors, object arrays of
UTF-8 ``bytes`` (``.numpy()`` gives ``b'...'``).  Patterns are Python
regular expressions, which agree with TensorFlow's RE2 on the common
syntax (classes, alternation, repetition; ``\\0`` and ``\\1`` in a
rewrite), matched on the UTF-8 text by characters as RE2 does.
"""
import functools
import re

import numpy as np

from . import ops
from .debugging import InvalidArgumentError
from .dtypes import as_dtype
from .tensor import eager


def _bytes(v):
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, np.bytes_):
        return bytes(v)
    raise TypeError(f"tf.strings: expected strings, got {type(v).__name__} {v!r}")


def _strings(x):
    """``x`` as an object array of bytes."""
    if isinstance(x, (str, bytes)):
        return np.asarray(_bytes(x), dtype=object)
    a = np.asarray(ops.convert_to_numpy(x) if not isinstance(x, (list, tuple)) else x)
    return _map(_bytes, a.astype(object))


def _map(fn, a, *rest):
    out = np.frompyfunc(fn, 1 + len(rest), 1)(a, *rest)
    return np.asarray(out, dtype=object)


def _text(b):
    return b.decode("utf-8", errors="replace")


def lower(input, encoding="", name=None):
    """Lowercase: ASCII letters only (TensorFlow's default), every letter
    with ``encoding='utf-8'``."""
    fn = (lambda b: _text(b).lower().encode()) if encoding else bytes.lower
    return eager(_map(fn, _strings(input)))


def upper(input, encoding="", name=None):
    fn = (lambda b: _text(b).upper().encode()) if encoding else bytes.upper
    return eager(_map(fn, _strings(input)))


def strip(input, name=None):
    """Leading and trailing whitespace removed."""
    return eager(_map(bytes.strip, _strings(input)))


def _pattern(pattern):
    # (matched on the text, as RE2 matches UTF-8 by characters: a class
    # [¿?] holds the one character ¿, not its two bytes)
    p = pattern
    if not isinstance(p, (str, bytes)):
        p = np.asarray(ops.convert_to_numpy(p)).item()
    return re.compile(_utf8(_bytes(p)))


def _utf8(b):
    # (bytes that are not UTF-8 kept as they are through the round trip)
    return b.decode("utf-8", errors="surrogateescape")


def _rewrite(rewrite):
    """RE2's rewrite string as a function of a match: ``\\0`` is the whole
    match, ``\\1``-``\\9`` a group, ``\\\\`` a backslash."""
    text, pieces, i = _utf8(_bytes(rewrite)), [], 0
    while i < len(text):
        j = text.find("\\", i)
        if j < 0:
            pieces.append(text[i:])
            break
        pieces.append(text[i:j])
        nxt = text[j + 1:j + 2]
        if nxt.isdigit():
            pieces.append(int(nxt))
        elif nxt == "\\":
            pieces.append("\\")
        else:
            raise ValueError(f"regex_replace: invalid rewrite pattern {rewrite!r}: a backslash "
                             f"is followed by a digit (a group) or another backslash")
        i = j + 2
    return lambda m: "".join(p if isinstance(p, str) else (m.group(p) or "") for p in pieces)


def regex_replace(input, pattern, rewrite, replace_global=True, name=None):
    """Matches of ``pattern`` replaced by ``rewrite`` (all of them, or the
    first with ``replace_global=False``); in the rewrite, ``\\0`` is the
    match and ``\\1`` its first group, as in RE2."""
    regex, new = _pattern(pattern), _rewrite(rewrite)
    count = 0 if replace_global else 1
    return eager(_map(lambda b: regex.sub(new, _utf8(b), count=count).encode(
        "utf-8", errors="surrogateescape"), _strings(input)))


def regex_full_match(input, pattern, name=None):
    """Whether each whole string matches ``pattern``."""
    regex = _pattern(pattern)
    return eager(_map(lambda b: regex.fullmatch(_utf8(b)) is not None,
                      _strings(input)).astype(bool))


def split(input, sep=None, maxsplit=-1, name=None):
    """Each string split at ``sep`` (runs of whitespace when None): of one
    string a 1-D tensor of its pieces, of a 1-D batch a RaggedTensor
    (``tf.strings.split(lines)[i]`` is line i's pieces)."""
    s = None if sep is None else _bytes(sep)
    return _per_string("split", input, lambda b: b.split(s, maxsplit), object)


def join(inputs, separator="", name=None):
    """The strings of ``inputs`` (a list of same-shaped tensors) joined
    elementwise with ``separator``; RaggedTensors among them (all of the
    same rows) give a RaggedTensor of those rows."""
    from .ragged import RaggedTensor
    ragged = [x for x in inputs if isinstance(x, RaggedTensor)]
    if ragged:
        splits = np.asarray(ragged[0].row_splits)
        if any(not isinstance(x, RaggedTensor) or
               not np.array_equal(np.asarray(x.row_splits), splits) for x in inputs):
            raise InvalidArgumentError(
                "tf.strings.join: RaggedTensors are joined with RaggedTensors of the same "
                f"row lengths, got {[type(x).__name__ for x in inputs]}")
        return RaggedTensor(join([x.values for x in inputs], separator), splits)
    parts = np.broadcast_arrays(*[_strings(x) for x in inputs])
    sep = _bytes(separator)
    return eager(_map(lambda *bs: sep.join(bs), *parts) if len(parts) > 1 else
                 _map(lambda b: b, parts[0]))


def reduce_join(inputs, axis=None, keepdims=False, separator="", name=None):
    """The strings joined with ``separator`` along ``axis`` (all of them
    when None)."""
    from .ragged import RaggedTensor
    sep = _bytes(separator)
    if isinstance(inputs, RaggedTensor):
        if axis is None:
            inputs = inputs.values
        elif int(axis) in (1, -1):
            out = _map(lambda row: sep.join(_strings(row).tolist()), _rows(inputs))
            return eager(out[:, None] if keepdims else out)
        else:
            raise ValueError(f"tf.strings.reduce_join: a RaggedTensor joins along its rows "
                             f"(axis -1) or all of it (axis None), got axis {axis}")
    a = _strings(inputs)
    if axis is None:
        out = np.asarray(sep.join(a.ravel().tolist()), dtype=object)
        return eager(out.reshape((1,) * a.ndim) if keepdims else out)
    axis = int(axis) % max(a.ndim, 1)
    moved = np.moveaxis(a, axis, -1)
    out = np.empty(moved.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = sep.join(moved[idx].tolist())
    return eager(np.expand_dims(out, axis) if keepdims else out)


def length(input, unit="BYTE", name=None):
    """Each string's length in bytes, or in characters with ``unit='UTF8_CHAR'``."""
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise ValueError(f"tf.strings.length: unit must be 'BYTE' or 'UTF8_CHAR', got {unit!r}")
    fn = len if unit == "BYTE" else (lambda b: len(_text(b)))
    return eager(_map(fn, _strings(input)).astype(np.int32))


def substr(input, pos, len, unit="BYTE", name=None):
    """``len`` bytes (or characters, ``unit='UTF8_CHAR'``) of each string
    from ``pos`` (negative: from the end)."""
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise ValueError(f"tf.strings.substr: unit must be 'BYTE' or 'UTF8_CHAR', got {unit!r}")
    a = _strings(input)
    pos_a, len_a = np.broadcast_to(np.asarray(pos), a.shape), np.broadcast_to(np.asarray(len),
                                                                               a.shape)

    def one(b, p, n):
        s = b if unit == "BYTE" else _text(b)
        size = s.__len__()
        start = int(p) + size if int(p) < 0 else int(p)
        if not 0 <= start <= size:
            raise ValueError(f"tf.strings.substr: pos {int(p)} is outside a string of length "
                             f"{size}")
        piece = s[start:start + int(n)]
        return piece if unit == "BYTE" else piece.encode()
    return eager(_map(one, a, pos_a, len_a))


def to_number(string_tensor, out_type="float32", name=None):
    """Each string parsed as a number of ``out_type``."""
    dtype = np.dtype(as_dtype(out_type).as_numpy_dtype)
    a = _strings(string_tensor)

    def one(b):
        try:
            return int(b) if dtype.kind in "iu" else float(b)
        except ValueError:
            raise ValueError(f"tf.strings.to_number: {b!r} is not a number of type "
                             f"{dtype.name}") from None
    return eager(_map(one, a).astype(dtype))


def as_string(input, precision=-1, scientific=False, shortest=False, width=-1, fill="",
              name=None):
    """Numbers as strings: integers in full, floats with ``precision``
    decimals (6 when -1, as C's %f), ``scientific`` (%e) or ``shortest``
    (%g); booleans as 'true'/'false'; ``width`` pads with ``fill``."""
    a = np.asarray(ops.convert_to_numpy(input))
    if a.dtype.kind == "f":
        p = 6 if precision < 0 else int(precision)
        spec = "g" if shortest else ("e" if scientific else "f")
        fmt = f"%.{p}{spec}" if not shortest or precision >= 0 else "%g"
    else:
        fmt = "%d"
    fill = fill or " "

    def one(v):
        s = ("true" if v else "false") if a.dtype.kind == "b" else fmt % v
        if width > 0:
            s = s.rjust(int(width), fill[0])
        return s.encode()
    return eager(_map(one, a))


def _per_string(who, input, one, dtype):
    """``one`` (a string's bytes to a list of values) of each string: of
    one string a 1-D tensor, of a 1-D batch a RaggedTensor (TensorFlow's
    result; pynn's RaggedTensor has one ragged dimension)."""
    a = _strings(input)
    if a.ndim == 0:
        return eager(np.array(one(a.item()), dtype=dtype).reshape(-1))
    if a.ndim != 1:
        raise ValueError(f"tf.strings.{who}: expected a string or a 1-D batch of strings, got "
                         f"shape {a.shape}")
    rows = [one(b) for b in a]
    return _ragged(rows, dtype)


def _ragged(rows, dtype):
    from .ragged import RaggedTensor
    values = np.empty(sum(len(r) for r in rows), dtype=dtype)
    values[:] = [v for r in rows for v in r]
    return RaggedTensor.from_row_lengths(values, [len(r) for r in rows])


def _decoded(b, encoding, errors, replacement_char):
    """The characters of ``b`` in ``encoding``; errors='replace' puts
    ``replacement_char`` for each bad sequence, 'ignore' drops them,
    'strict' raises InvalidArgumentError."""
    if errors not in ("replace", "ignore", "strict"):
        raise ValueError(f"tf.strings: errors must be 'replace', 'ignore' or 'strict', got "
                         f"{errors!r}")
    try:
        text = b.decode(encoding, errors=errors)
    except UnicodeDecodeError as e:
        from .debugging import InvalidArgumentError
        raise InvalidArgumentError(None, None, f"tf.strings: invalid {encoding} in {b!r}: "
                                               f"{e}") from None
    if errors == "replace" and replacement_char != 0xFFFD:
        # (Python marks bad sequences with U+FFFD; those of the text itself stay)
        good = b.decode(encoding, errors="ignore")
        if "\ufffd" not in good:
            text = text.replace("\ufffd", chr(replacement_char))
    return text


def unicode_split(input, input_encoding, errors="replace", replacement_char=65533, name=None):
    """Each string split into its characters (each as UTF-8 bytes): of one
    string a 1-D tensor, of a 1-D batch a RaggedTensor."""
    return _per_string("unicode_split", input, lambda b: [
        c.encode() for c in _decoded(b, input_encoding, errors, replacement_char)], object)


def unicode_decode(input, input_encoding, errors="replace", replacement_char=65533,
                   replace_control_characters=False, name=None):
    """Each string as its Unicode code points (int32): of one string a 1-D
    tensor, of a 1-D batch a RaggedTensor."""
    def one(b):
        chars = _decoded(b, input_encoding, errors, replacement_char)
        if replace_control_characters:
            chars = "".join(chr(replacement_char) if ord(c) < 32 or 127 <= ord(c) < 160 else c
                            for c in chars)
        return [ord(c) for c in chars]
    return _per_string("unicode_decode", input, one, np.int32)


def bytes_split(input, name=None):
    """Each string split into its bytes (each a 1-byte string): of one
    string a 1-D tensor, of a 1-D batch a RaggedTensor."""
    return _per_string("bytes_split", input, lambda b: [b[i:i + 1] for i in range(len(b))],
                       object)


def unicode_encode(input, output_encoding, errors="replace", replacement_char=65533,
                   name=None):
    """Code points back to strings in ``output_encoding``: a 1-D tensor of
    them gives one string, a RaggedTensor (or a 2-D tensor) one string per
    row; invalid code points become ``replacement_char``."""
    from .ragged import RaggedTensor
    if output_encoding not in ("UTF-8", "UTF-16-BE", "UTF-32-BE"):
        raise ValueError(f"tf.strings.unicode_encode: output_encoding must be 'UTF-8', "
                         f"'UTF-16-BE' or 'UTF-32-BE', got {output_encoding!r}")

    def one(points):
        chars = []
        for p in np.asarray(points).reshape(-1).tolist():
            if not (0 <= p <= 0x10FFFF) or 0xD800 <= p <= 0xDFFF:
                if errors == "strict":
                    from .debugging import InvalidArgumentError
                    raise InvalidArgumentError(None, None, f"tf.strings.unicode_encode: "
                                                           f"invalid code point {p}")
                if errors == "ignore":
                    continue
                p = replacement_char
            chars.append(chr(p))
        return "".join(chars).encode(output_encoding.lower())
    if isinstance(input, RaggedTensor):
        return eager(_map(one, _rows(input)))
    a = np.asarray(ops.convert_to_numpy(input))
    if a.ndim == 1:
        return eager(np.asarray(one(a), dtype=object))
    out = np.empty(a.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = one(a[idx])
    return eager(out)


_ENCODINGS = ("UTF-8", "UTF-16-BE", "UTF-32-BE")


def _with_offsets(b, encoding, errors, replacement_char, replace_control_characters):
    """(characters, the byte offset in ``b`` where each starts) of ``b``
    decoded from ``encoding``, as _decoded decodes it."""
    import codecs
    if errors not in ("replace", "ignore", "strict"):
        raise ValueError(f"tf.strings: errors must be 'replace', 'ignore' or 'strict', got "
                         f"{errors!r}")
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    chars, offsets, start = [], [], 0
    i = 0
    while i < len(b):
        try:
            out = decoder.decode(b[i:i + 1], final=i == len(b) - 1)
        except UnicodeDecodeError:
            decoder.reset()
            if errors == "strict":
                raise InvalidArgumentError(None, None, f"tf.strings: invalid {encoding} in "
                                                       f"{b!r} at byte {start}") from None
            if errors == "replace":
                chars.append(chr(replacement_char))
                offsets.append(start)
            i = start = start + 1                       # (one bad byte, then on)
            continue
        i += 1
        for c in out:
            chars.append(c)
            offsets.append(start)
        if out:
            start = i
    if replace_control_characters:
        chars = [chr(replacement_char) if ord(c) < 32 or 127 <= ord(c) < 160 else c
                 for c in chars]
    return chars, offsets


def _per_string_pair(who, input, one, dtype):
    """_per_string for a function giving (values, offsets) of a string."""
    a = _strings(input)
    if a.ndim == 0:
        values, offsets = one(a.item())
        return (eager(np.array(values, dtype=dtype).reshape(-1)),
                eager(np.array(offsets, dtype=np.int64).reshape(-1)))
    if a.ndim != 1:
        raise ValueError(f"tf.strings.{who}: expected a string or a 1-D batch of strings, got "
                         f"shape {a.shape}")
    pairs = [one(b) for b in a]
    return (_ragged([p[0] for p in pairs], dtype),
            _ragged([p[1] for p in pairs], np.int64))


def _input_encoding(who, encoding):
    if encoding not in _ENCODINGS + ("US-ASCII", "ISO-8859-1", "UTF-16-LE", "UTF-32-LE"):
        raise ValueError(f"tf.strings.{who}: unknown input_encoding {encoding!r}")
    return encoding


def unicode_decode_with_offsets(input, input_encoding, errors="replace",
                                replacement_char=65533, replace_control_characters=False,
                                name=None):
    """unicode_decode's code points and, for each, the byte offset in its
    string where the character starts (int64)."""
    enc = _input_encoding("unicode_decode_with_offsets", input_encoding)

    def one(b):
        chars, offsets = _with_offsets(b, enc, errors, replacement_char,
                                       replace_control_characters)
        return [ord(c) for c in chars], offsets
    return _per_string_pair("unicode_decode_with_offsets", input, one, np.int32)


def unicode_split_with_offsets(input, input_encoding, errors="replace", replacement_char=65533,
                               name=None):
    """unicode_split's characters (UTF-8 bytes) and the byte offset where
    each starts (int64)."""
    enc = _input_encoding("unicode_split_with_offsets", input_encoding)

    def one(b):
        chars, offsets = _with_offsets(b, enc, errors, replacement_char, False)
        return [c.encode() for c in chars], offsets
    return _per_string_pair("unicode_split_with_offsets", input, one, object)


def unicode_transcode(input, input_encoding, output_encoding, errors="replace",
                      replacement_char=65533, replace_control_characters=False, name=None):
    """Each string (any shape) decoded from ``input_encoding`` and encoded
    in ``output_encoding`` ('UTF-8', 'UTF-16-BE' or 'UTF-32-BE'); bad
    sequences as ``errors`` says."""
    enc = _input_encoding("unicode_transcode", input_encoding)
    if output_encoding not in _ENCODINGS:
        raise ValueError(f"tf.strings.unicode_transcode: output_encoding must be 'UTF-8', "
                         f"'UTF-16-BE' or 'UTF-32-BE', got {output_encoding!r}")

    def one(b):
        chars, _ = _with_offsets(b, enc, errors, replacement_char, replace_control_characters)
        return "".join(chars).encode(output_encoding.lower())
    return eager(_map(one, _strings(input)))


def _summary(a, summarize, depth=0):
    """A tensor as TensorFlow summarizes one in tf.strings.format: nested
    brackets, entries apart by spaces, rows by newlines, at most
    ``summarize`` entries at each end of an axis ("..." between)."""
    def scalar(v):
        if isinstance(v, (bytes, np.bytes_)):
            return '"' + bytes(v).decode("utf-8", errors="replace") + '"'
        if isinstance(v, (bool, np.bool_)):
            return "1" if v else "0"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):g}"
        return str(v)
    if a.ndim == 0:
        return scalar(a[()])
    n = a.shape[0]
    cut = summarize is not None and 0 <= summarize and n > 2 * summarize
    rows = list(range(summarize)) + [None] + list(range(n - summarize, n)) if cut else \
        list(range(n))
    parts = ["..." if r is None else _summary(np.asarray(a[r], dtype=a.dtype), summarize,
                                              depth + 1) for r in rows]
    sep = " " if a.ndim == 1 else "\n" * (a.ndim - 1) + " " * (depth + 1)
    return "[" + sep.join(parts) + "]"


def format(template, inputs, placeholder="{}", summarize=3, name=None):
    """``template`` with each ``placeholder`` replaced by the next of
    ``inputs`` (a tensor or a list of them), summarized as TensorFlow
    prints tensors: a scalar string tensor."""
    if not isinstance(template, str):
        raise TypeError(f"tf.strings.format: template must be a Python string, got "
                        f"{type(template).__name__}")
    values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    pieces = template.split(placeholder)
    if len(pieces) - 1 != len(values):
        raise ValueError(f"tf.strings.format: the template has {len(pieces) - 1} placeholders "
                         f"{placeholder!r}, got {len(values)} inputs")
    out = [pieces[0]]
    for v, piece in zip(values, pieces[1:]):
        if isinstance(v, (str, bytes)):
            text = v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
        else:
            a = np.asarray(ops.convert_to_numpy(v))
            if a.dtype.kind in "SU":
                a = _strings(a)
            if a.ndim == 0 and a.dtype == object:
                text = _bytes(a[()]).decode("utf-8", errors="replace")
            else:
                text = _summary(a, None if summarize is None or summarize < 0 else
                                int(summarize))
        out += [text, piece]
    return eager(np.asarray("".join(out).encode(), dtype=object))


def _rows(ragged):
    """The rows of a RaggedTensor as an object array of arrays."""
    out = np.empty(ragged.nrows(), dtype=object)
    for i, row in enumerate(ragged):
        out[i] = np.asarray(row)
    return out


def ngrams(data, ngram_width, separator=" ", pad_values=None, padding_width=None,
           preserve_short_sequences=False, name=None):
    """The n-grams of the last axis of ``data`` (strings), each joined with
    ``separator``; ``ngram_width`` one width or several (all widths of one
    row in the order given).  ``pad_values`` (a string, or a (left, right)
    pair) pads each row by ``padding_width`` (ngram_width - 1 when None);
    ``preserve_short_sequences`` gives a row too short for any n-gram its
    whole self.  1-D data gives a 1-D tensor; a RaggedTensor or a 2-D
    batch a RaggedTensor."""
    from .ragged import RaggedTensor
    widths = [int(w) for w in np.ravel(ngram_width)]
    if not widths or min(widths) < 1:
        raise ValueError(f"tf.strings.ngrams: ngram_width must be positive, got {ngram_width}")
    sep = _bytes(separator)
    if pad_values is None:
        left = right = None
    elif isinstance(pad_values, (list, tuple)):
        left, right = (_bytes(p) for p in pad_values)
    else:
        left = right = _bytes(pad_values)

    def one(row):
        row = list(row)
        grams = []
        for w in widths:
            pad = min(w - 1, int(padding_width)) if padding_width is not None else w - 1
            if padding_width is not None and int(padding_width) < 1:
                raise ValueError(f"tf.strings.ngrams: padding_width must be positive, got "
                                 f"{padding_width}")
            padded = ([left] * pad + row + [right] * pad) if left is not None else row
            grams += [sep.join(padded[i:i + w]) for i in range(len(padded) - w + 1)]
        if not grams and preserve_short_sequences and row:
            grams = [sep.join(row)]
        return grams
    if isinstance(data, RaggedTensor):
        return _ragged([one(_strings(r).tolist()) for r in data], object)
    a = _strings(data)
    if a.ndim == 1:
        grams = one(a.tolist())
        out = np.empty(len(grams), dtype=object)
        out[:] = grams
        return eager(out)
    if a.ndim == 2:
        return _ragged([one(r) for r in a.tolist()], object)
    raise ValueError(f"tf.strings.ngrams: expected 1-D or 2-D data or a RaggedTensor, got "
                     f"shape {a.shape}")


def to_hash_bucket_fast(input, num_buckets, name=None):
    """Each string's bucket: FarmHash's Fingerprint64 of its bytes modulo
    ``num_buckets``, int64 (tf.strings.to_hash_bucket_fast)."""
    return eager(np.asarray(ops.hash_buckets(_strings(input), num_buckets)))


def to_hash_bucket_strong(input, num_buckets, key, name=None):
    """Each string's bucket: SipHash-2-4 of its bytes keyed by ``key`` (two
    integers) modulo ``num_buckets``, int64 (tf.strings.to_hash_bucket_strong)."""
    return eager(np.asarray(ops.hash_buckets(_strings(input), num_buckets,
                                             key=tuple(np.asarray(key).tolist()))))


__all__ = ["lower", "upper", "strip", "regex_replace", "regex_full_match", "split", "join",
           "reduce_join", "length", "substr", "to_number", "as_string", "unicode_split",
           "unicode_decode", "unicode_encode", "bytes_split", "ngrams", "to_hash_bucket_fast",
           "to_hash_bucket_strong", "unicode_decode_with_offsets", "unicode_split_with_offsets",
           "unicode_transcode", "format"]


def _elementwise_on_ragged(fn):
    """``fn`` (one result per string) applied to a RaggedTensor's values,
    the rows kept, as TensorFlow dispatches its elementwise string ops."""
    def on_ragged(input, *args, **kwargs):
        from .ragged import RaggedTensor
        if isinstance(input, RaggedTensor):
            return RaggedTensor(fn(input.values, *args, **kwargs), input.row_splits)
        return fn(input, *args, **kwargs)
    return functools.update_wrapper(on_ragged, fn)


for _name in ("lower", "upper", "strip", "regex_replace", "regex_full_match", "length",
              "substr", "to_number", "to_hash_bucket_fast", "to_hash_bucket_strong"):
    globals()[_name] = _elementwise_on_ragged(globals()[_name])
del _name
