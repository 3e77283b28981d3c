"""Padding ragged sequences to one length (Keras's pad_sequences)."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or cut) each sequence to ``maxlen`` items, giving an array of
    shape ``(len(sequences), maxlen) + item_shape``.

    ``maxlen`` defaults to the longest sequence.  ``padding='pre'`` puts
    ``value`` before a short sequence, ``'post'`` after it; ``truncating``
    says the same of where a long one loses items.  Items may themselves be
    arrays (all of one shape).  For strings use ``dtype=object`` (or a string
    dtype).  Exactly Keras's ``keras.utils.pad_sequences``:

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
    array([[0, 0, 1],
           [0, 2, 3],
           [4, 5, 6]], dtype=int32)
    """
    who = "pad_sequences"
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"{who}: `sequences` must be a list of sequences, got "
                         f"{type(sequences).__name__}")
    if padding not in ("pre", "post"):
        raise ValueError(f'{who}: Padding type "{padding}" not understood: use "pre" or "post"')
    if truncating not in ("pre", "post"):
        raise ValueError(f'{who}: Truncating type "{truncating}" not understood: use "pre" '
                         f'or "post"')
    if maxlen is not None:
        if isinstance(maxlen, (bool, np.bool_)) or not isinstance(maxlen, (int, np.integer)):
            raise TypeError(f"{who}: maxlen must be None or an integer, got {maxlen!r}")
        if maxlen < 0:
            raise ValueError(f"{who}: maxlen must be >= 0, got {maxlen}")
        maxlen = int(maxlen)
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{who}: dtype {dtype!r} is not a NumPy dtype ({e})") from None
    if isinstance(value, str) and dtype.kind not in "OUS":
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         f"strings.")

    lengths = []
    sample_shape = None
    for idx, s in enumerate(sequences):
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(f"{who}: `sequences` must be a list of iterables. Found "
                             f"non-iterable at position {idx}: {s!r}") from None
        if sample_shape is None and len(s):
            try:
                sample_shape = np.asarray(s).shape[1:]
            except ValueError:
                raise ValueError(f"{who}: the items of the sequence at position {idx} have "
                                 f"different shapes") from None
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)

    try:
        x = np.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: value {value!r} does not fit dtype {dtype} ({e})") from None
    if maxlen == 0:
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        try:
            trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        except (TypeError, KeyError):
            raise TypeError(f"{who}: the sequence at position {idx} ({type(s).__name__}) "
                            f"cannot be sliced; give lists or arrays") from None
        try:
            trunc = np.asarray(trunc, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{who}: the sequence at position {idx} holds values that are not "
                          f"{dtype} ({e})") from None
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position "
                             f"{idx} is different from expected shape {sample_shape}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x
