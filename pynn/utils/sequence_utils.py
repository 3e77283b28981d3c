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


def make_sampling_table(size, sampling_factor=1e-5):
    """Keras's word2vec sampling table: entry ``i`` is the probability of
    keeping the word of frequency rank ``i`` (index 0 taken as rank 1),
    ``min(1, sqrt(f / sampling_factor) / (f / sampling_factor))`` with the
    frequency ``f`` of rank ``r`` from Zipf's law,
    ``1 / (r (log r + 0.577) + 1/2 - 1/(12 r))``."""
    rank = np.arange(int(size), dtype=np.float64)
    if rank.size:
        rank[0] = 1
    f = sampling_factor * (rank * (np.log(rank) + 0.577) + 0.5 - 1.0 / (12.0 * rank))
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(sequence, vocabulary_size, window_size=4, negative_samples=1.0, shuffle=True,
              categorical=False, sampling_table=None, seed=None):
    """Keras's skip-gram pairs of a sequence of word ids: ``(couples,
    labels)``, lists of ``[word, context]`` and of 1 for each context word
    within ``window_size`` of a word (0 ids are skipped; a word is kept with
    probability ``sampling_table[word]``), then ``negative_samples`` times as
    many ``[word, random id in [1, vocabulary_size)]`` labelled 0.  Labels
    are ``[0, 1]`` / ``[1, 0]`` when ``categorical``.  ``shuffle`` puts the
    pairs (with their labels) in a random order; ``seed`` makes the draws
    repeat."""
    import random

    from .seeding import rng
    # Python's generator, as Keras's, but one of its own: seeded by ``seed``,
    # or by pynn's generator so pynn.utils.set_random_seed repeats the draws
    draw = random.Random(int(seed) if seed is not None else int(rng().integers(2 ** 32)))
    if negative_samples > 0 and vocabulary_size < 2:
        raise ValueError(f"skipgrams: negative samples are drawn from [1, vocabulary_size), "
                         f"so vocabulary_size must be at least 2, got {vocabulary_size}")
    positive, negative = ([0, 1], [1, 0]) if categorical else (1, 0)
    sequence = [int(w) for w in sequence]
    couples = []
    for i, wi in enumerate(sequence):
        if not wi or sampling_table is not None and sampling_table[wi] < draw.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([wi, sequence[j]])
    labels = [positive] * len(couples)
    if negative_samples > 0 and couples:
        words = [c[0] for c in couples]
        draw.shuffle(words)
        n = int(len(labels) * negative_samples)
        couples += [[words[i % len(words)], draw.randint(1, vocabulary_size - 1)]
                    for i in range(n)]
        labels += [negative] * n
    if shuffle:
        order = list(range(len(couples)))
        draw.shuffle(order)
        couples = [couples[k] for k in order]
        labels = [labels[k] for k in order]
    return couples, labels
