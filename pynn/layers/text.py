"""Keras's lookup and text preprocessing layers: StringLookup,
IntegerLookup, TextVectorization, CategoryEncoding, Hashing,
HashedCrossing, Discretization.

They turn raw features (strings, integer codes, numbers) into the ids,
multi-hot or count vectors a model reads.  They have no trained weights
and pass no gradient (their inputs are data, not activations); ``adapt``
learns a vocabulary (or bin boundaries) from data: an array, a list, or
an iterable of batches such as a dataset.  They are applied to arrays at
once (``vectorizer(texts)``, ``dataset.map(lambda x, y: (vectorizer(x),
y))``) or, called on ``Input``, as the first layers of a model.

Vocabularies are built as Keras builds them: tokens by decreasing count,
ties by decreasing token, after the reserved ones (in ``int`` mode the
mask token ``''`` at 0 and ``'[UNK]'`` at 1; in the vector modes
``'[UNK]'`` at 0); ``max_tokens`` counts the reserved ones.
"""
import re

import numpy as np

from .. import autodiff, ops
from ..ragged import RaggedTensor
from ..tensor import eager
from .base import Layer, check_numeric, shape_str

_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _current_output_mode(output_mode):
    """Keras's present name for an output mode given by its older name
    ('binary' is 'multi_hot', 'tf-idf' is 'tf_idf'), as Keras accepts them."""
    return {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode) \
        if isinstance(output_mode, str) else output_mode


def _ragged_rows(x):
    """The rows of a ragged batch (a list of lists of different lengths,
    what ``tf.ragged.constant`` builds in a TensorFlow program), or None
    for anything else."""
    if not isinstance(x, (list, tuple)) or not x or \
            not all(isinstance(row, (list, tuple, np.ndarray)) for row in x):
        return None
    return [list(row) for row in x] if len({len(row) for row in x}) > 1 else None


def _row_size(a):
    """The size of one example of ``a`` (a reshape to (n, -1) cannot work
    it out for an empty batch)."""
    return int(np.prod(a.shape[1:], dtype=np.int64))

def _batches(data):
    """``data`` as a sequence of batches: an array or list is one batch; a
    dataset or generator yields batches (an (x, y) pair gives its x)."""
    if isinstance(data, (np.ndarray, list, tuple)):
        return [data]
    batches = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            item = item[0]
        batches.append(item)
    return batches


def _as_array(x):
    value = getattr(x, "value", x)
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value)


class _Lookup(Layer):
    """What StringLookup, IntegerLookup and TextVectorization share: the
    vocabulary, the OOV and mask tokens, and the output encodings."""
    _no_gradient = True
    fixed_input_axes = ()  # one lookup serves inputs of any shape and rank, as Keras's
    fixed_input_rank = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} {self.name!r}"
        output_mode = _current_output_mode(output_mode)
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(f"{who}: output_mode must be one of {', '.join(_OUTPUT_MODES)}, "
                             f"got {output_mode!r}")
        if sparse:
            raise ValueError(f"{who}: sparse outputs are not supported")
        if int(num_oov_indices) < 0:
            raise ValueError(f"{who}: num_oov_indices must be >= 0, got {num_oov_indices!r}")
        if invert and output_mode != "int":
            raise ValueError(f"{who}: invert=True needs output_mode='int'")
        if max_tokens is not None and int(max_tokens) <= 1:
            raise ValueError(f"{who}: max_tokens must be > 1, got {max_tokens!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse = False
        if self.invert:
            self.input_dtype = "int64"  # ids in, tokens out
        self._vocab = None
        self._index = None
        self.idf_weights = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError(f"{who}: idf_weights needs a vocabulary")

    # ---------------------------------------------------------- vocabulary

    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def _reserved(self):
        out = []
        if self.mask_token is not None and self.output_mode == "int":
            out.append(self.mask_token)
        out += [self.oov_token] * self.num_oov_indices
        return out

    def set_vocabulary(self, vocabulary, idf_weights=None):
        who = f"{type(self).__name__} {self.name!r}"
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        tokens = [self._token(t) for t in _as_array(vocabulary).ravel().tolist()]
        reserved = self._reserved()
        if tokens[:len(reserved)] == reserved and reserved:
            tokens = tokens[len(reserved):]
            has_special = True
        else:
            has_special = False
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"{who}: the vocabulary has repeated tokens")
        for special in (self.mask_token, self.oov_token):
            if special is not None and special in tokens:
                raise ValueError(f"{who}: the vocabulary holds the reserved token {special!r} "
                                 f"after the start")
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{who}: output_mode='tf_idf' needs idf_weights with a "
                                 f"vocabulary")
            idf = np.asarray(idf_weights, np.float32).ravel()
            n = len(tokens) + (len(reserved) if has_special else 0)
            if idf.size != n:
                raise ValueError(f"{who}: idf_weights has {idf.size} values for a vocabulary "
                                 f"of {n}")
            if not has_special:
                idf = np.concatenate([np.full(self._token_start(), idf.mean(), np.float32),
                                      idf])
            self.idf_weights = idf
        elif idf_weights is not None:
            raise ValueError(f"{who}: idf_weights is only for output_mode='tf_idf'")
        if self.max_tokens is not None and len(tokens) + self._token_start() > self.max_tokens:
            raise ValueError(f"{who}: the vocabulary has {len(tokens) + self._token_start()} "
                             f"entries with the reserved ones, more than max_tokens="
                             f"{self.max_tokens}")
        self._set_tokens(tokens)

    def _set_tokens(self, tokens):
        self._vocab = self._reserved() + list(tokens)
        start = self._token_start()
        self._index = {t: start + i for i, t in enumerate(tokens)}

    def get_vocabulary(self, include_special_tokens=True):
        self._need_vocabulary()
        vocab = list(self._vocab)
        return vocab if include_special_tokens else vocab[self._token_start():]

    def vocabulary_size(self):
        self._need_vocabulary()
        return len(self._vocab)

    def _need_vocabulary(self):
        if self._vocab is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} has no vocabulary: call "
                             f"adapt(data) or pass vocabulary=")

    def _inverted(self, vocab, ids):
        """The tokens of ``ids`` (an inverting layer's call): an id outside
        the vocabulary gives the OOV token, as Keras's lookup table has it
        for its default value."""
        known = (ids >= 0) & (ids < len(vocab))
        if known.all():
            return vocab[ids]
        oov = self.oov_token
        if isinstance(oov, str):
            oov = oov.encode(getattr(self, "encoding", "utf-8"))
        out = np.full(ids.shape, oov, dtype=vocab.dtype)
        out[known] = vocab[ids[known]]
        return out

    def _output_size(self):
        self._need_vocabulary()
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return self.max_tokens
        return len(self._vocab)

    # --------------------------------------------------------------- adapt

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and, for tf_idf, the document frequencies)
        from ``data``."""
        counts, docs, n_docs = {}, {}, 0
        for i, batch in enumerate(_batches(data)):
            if steps is not None and i >= steps:
                break
            for row in self._token_rows(batch):
                n_docs += 1
                for t in row:
                    counts[t] = counts.get(t, 0) + 1
                if self.output_mode == "tf_idf":
                    for t in set(row):
                        docs[t] = docs.get(t, 0) + 1
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        tokens = list(counts)
        if tokens:
            keys = np.array(tokens, dtype=object)
            order = sorted(range(len(tokens)), key=lambda i: (counts[tokens[i]], keys[i]),
                           reverse=True)
            tokens = [tokens[i] for i in order]
        if self.max_tokens is not None:
            tokens = tokens[:max(self.max_tokens - self._token_start(), 0)]
        if self.output_mode == "tf_idf":
            df = np.array([docs[t] for t in tokens], np.float64)
            idf = np.log(1.0 + n_docs / (1.0 + df)).astype(np.float32)
            mean = idf.mean() if idf.size else np.float32(0)
            idf = np.concatenate([np.full(self._token_start(), mean, np.float32), idf])
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.pad(idf, (0, self.max_tokens - idf.size))
            self.idf_weights = idf
        self._set_tokens(tokens)

    def _token_rows(self, batch):
        """The tokens of each example of a batch, for adapt (a RaggedTensor:
        ``tf.strings.split`` of a dataset's batch of texts)."""
        ragged = batch.to_list() if isinstance(batch, RaggedTensor) else _ragged_rows(batch)
        if ragged is not None:
            return [[self._token(t) for t in row] for row in ragged]
        arr = _as_array(batch)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        rows = arr.reshape(arr.shape[0], _row_size(arr)) if arr.ndim > 1 else arr.reshape(-1, 1)
        return [[self._token(t) for t in row] for row in rows.tolist()]

    # ------------------------------------------------------------- lookup

    def _ids(self, tokens):
        """Ids of a nested list/array of tokens, as an int64 array."""
        index, oov = self._index, self._oov_start()
        n_oov = self.num_oov_indices
        mask = self.mask_token

        def one(t):
            t = self._token(t)
            if mask is not None and t == mask:
                return 0
            hit = index.get(t)
            if hit is not None:
                return hit
            if n_oov == 0:
                if autodiff.inferring_shapes():
                    return 0
                raise ValueError(f"{type(self).__name__} {self.name!r}: {t!r} is not in the "
                                 f"vocabulary and num_oov_indices=0")
            return oov + (0 if n_oov == 1 else self._oov_bucket(t, n_oov))
        arr = np.asarray(tokens, dtype=object)
        return np.vectorize(one, otypes=[np.int64])(arr) if arr.size else \
            np.zeros(arr.shape, np.int64)

    def _oov_bucket(self, token, n):
        """Keras's bucket among ``n`` OOV indices: FarmHash's Fingerprint64
        of a string (to_hash_bucket_fast), an integer modulo n."""
        if isinstance(token, str):
            return int(ops.hash_buckets([token], n)[0])
        return int(token) % n

    def _encode(self, ids):
        """Ids (batch, ...) in the output mode: int as they are, one_hot,
        multi_hot, count or tf_idf over the vocabulary."""
        if self.output_mode == "int":
            return ids
        depth = self._output_size()
        if self.output_mode == "one_hot":
            if ids.ndim > 1 and ids.shape[-1] == 1:
                ids = ids[..., 0]  # one id per row: one vector per row, as Keras's
            out = np.zeros(ids.shape + (depth,), np.float32)
            np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
            return out
        rows = ids.reshape(ids.shape[0], _row_size(ids)) if ids.ndim > 1 else ids.reshape(-1, 1)
        out = np.zeros((rows.shape[0], depth), np.float32)
        r = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
        np.add.at(out, (r, rows.ravel()), 1.0)
        if self.output_mode == "multi_hot":
            np.minimum(out, 1.0, out=out)
        elif self.output_mode == "tf_idf":
            idf = np.zeros(depth, np.float32)
            idf[:self.idf_weights.size] = self.idf_weights[:depth]
            out *= idf
        return out[0] if ids.ndim == 0 else out  # one value: one vector, as Keras's

    def _encode_ragged(self, rows):
        """One multi_hot, count or tf_idf vector per row of a ragged batch."""
        if self.output_mode not in ("multi_hot", "count", "tf_idf"):
            raise ValueError(f"{type(self).__name__} {self.name!r}: rows of different lengths "
                             f"(a ragged batch) need output_mode 'multi_hot', 'count' or "
                             f"'tf_idf', which give one vector per row; got output_mode="
                             f"{self.output_mode!r}")
        return np.concatenate([self._encode(self._ids(np.array(row, dtype=object))[None])
                               for row in rows])

    def _token(self, t):
        return t

    # ------------------------------------------------------------ layer

    def forward(self, ctx, inputs, training):
        return self.compute(inputs)

    def _output_dtypes(self, n):
        if self.output_mode != "int":
            return ["float32"] * n
        return [self._token_dtype if self.invert else "int64"] * n

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        depth = self._output_size() if self._vocab is not None else None
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return shape + (depth,)
        return shape[:1] + (depth,)

    def backward(self, ctx, dy, need_input_grad=True):
        if need_input_grad:
            raise ValueError(f"{type(self).__name__} {self.name!r} turns data into ids and "
                             f"passes no gradient to what comes before it")
        return None

    def get_config(self):
        config = super().get_config()
        config.update(max_tokens=self.max_tokens, num_oov_indices=self.num_oov_indices,
                      mask_token=self.mask_token, oov_token=self.oov_token,
                      output_mode=self.output_mode, pad_to_max_tokens=self.pad_to_max_tokens,
                      sparse=False, invert=self.invert,
                      vocabulary=None if self._vocab is None else
                      self.get_vocabulary(include_special_tokens=False),
                      idf_weights=None if self.idf_weights is None else
                      self.idf_weights.tolist())
        return config


class StringLookup(_Lookup):
    """Keras's StringLookup: strings to ids (or, ``invert=True``, ids to
    strings), or to one_hot/multi_hot/count/tf_idf vectors."""
    input_dtype = "string"
    _token_dtype = "string"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", **kwargs):
        kwargs.pop("vocabulary_dtype", None)
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, **kwargs)
        self.encoding = encoding

    def _token(self, t):
        # (a vocabulary given as a string tensor is read while the base
        # class is set up, before the encoding is kept)
        return t.decode(getattr(self, "encoding", "utf-8")) if isinstance(t, bytes) else str(t)

    def __call__(self, inputs, training=None, **kwargs):
        return _data_call(self, inputs, training, kwargs)

    def compute(self, inputs):
        self._need_vocabulary()
        ragged = _ragged_rows(inputs)
        if ragged is not None:
            return self._encode_ragged(ragged)
        arr = _as_array(inputs)
        if self.invert:
            ids = arr.astype(np.int64)
            vocab = np.empty(len(self._vocab), dtype=object)
            # (tokens as the UTF-8 bytes TensorFlow's string tensors hold, as
            # Keras's layer gives them: .numpy().decode('utf-8') reads one)
            vocab[:] = [t.encode(self.encoding) if isinstance(t, str) else t
                        for t in self._vocab]
            # (one id gives a 0-d array of its token, not the bare string)
            return np.asarray(self._inverted(vocab, ids), dtype=object)
        return self._encode(self._ids(arr))

    def get_config(self):
        config = super().get_config()
        config["encoding"] = self.encoding
        return config


class IntegerLookup(_Lookup):
    """Keras's IntegerLookup: integer codes to ids (``mask_token`` and
    ``oov_token`` are integers: None and -1 by default)."""
    input_dtype = "int64"
    _token_dtype = "int64"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, **kwargs):
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, **kwargs)

    def _token(self, t):
        return int(t)

    def __call__(self, inputs, training=None, **kwargs):
        return _data_call(self, inputs, training, kwargs)

    def compute(self, inputs):
        self._need_vocabulary()
        ragged = _ragged_rows(inputs)
        if ragged is not None:
            return self._encode_ragged(ragged)
        arr = _as_array(inputs)
        if self.invert:
            ids = arr.astype(np.int64)
            return self._inverted(np.array(self._vocab, dtype=np.int64), ids)
        return self._encode(self._ids(arr.astype(np.int64)))


class TextVectorization(_Lookup):
    """Keras's TextVectorization: standardize (``'lower_and_strip_
    punctuation'``, ``'lower'``, ``'strip_punctuation'``, None or a
    function of an array of strings), split (``'whitespace'``,
    ``'character'``, None or a function), ngrams (an int n for 1..n, or a
    tuple of sizes; joined by spaces), then ids (``output_mode='int'``,
    padded with 0 or cut to ``output_sequence_length``, else to the
    longest text of the batch) or ``multi_hot``/``count``/``tf_idf``
    vectors."""
    input_dtype = "string"

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        who = f"TextVectorization {kwargs.get('name')!r}"
        if standardize not in (None, "lower_and_strip_punctuation", "lower",
                               "strip_punctuation") and not callable(standardize):
            raise ValueError(f"{who}: unknown standardize {standardize!r}")
        if split not in (None, "whitespace", "character") and not callable(split):
            raise ValueError(f"{who}: unknown split {split!r}")
        if ngrams is not None and not (isinstance(ngrams, int) or (
                isinstance(ngrams, (tuple, list)) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError(f"{who}: ngrams must be None, an integer or a tuple of integers, "
                             f"got {ngrams!r}")
        if output_mode == "one_hot":
            raise ValueError(f"{who}: output_mode must be int, multi_hot, count or tf_idf")
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError(f"{who}: output_sequence_length is only for output_mode='int'")
        if ragged and output_mode != "int":
            raise ValueError(f"{who}: ragged must not be true if output_mode is not 'int', "
                             f"got ragged={ragged} and output_mode={output_mode!r}")
        # (ragged: each row's ids as long as its tokens, a RaggedTensor)
        self.ragged = bool(ragged)
        self.standardize = standardize
        self.split = split
        self.ngrams = list(ngrams) if isinstance(ngrams, (tuple, list)) else ngrams
        self._ngram_sizes = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else \
            (tuple(ngrams) if ngrams is not None else None)
        self.output_sequence_length = None if output_sequence_length is None \
            else int(output_sequence_length)
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=1,
                         mask_token="" if output_mode == "int" else None, oov_token="[UNK]",
                         vocabulary=vocabulary, idf_weights=idf_weights, invert=False,
                         output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens,
                         sparse=sparse, **kwargs)

    def __call__(self, inputs, training=None, **kwargs):
        return _data_call(self, inputs, training, kwargs)

    def _token(self, t):
        # (a vocabulary given as a string tensor is read while the base
        # class is set up, before the encoding is kept)
        return t.decode(getattr(self, "encoding", "utf-8")) if isinstance(t, bytes) else str(t)

    def _texts(self, inputs):
        arr = _as_array(inputs)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"TextVectorization {self.name!r}: expects a batch of strings, "
                             f"shape (batch,) or (batch, 1), got shape {arr.shape}")
        texts = np.array([self._token(t) for t in arr.tolist()], dtype=object)
        s = self.standardize
        if callable(s):
            # (tf.strings functions give bytes, as TensorFlow's: decoded here)
            texts = np.array([self._token(t) for t in
                              np.asarray(s(texts.astype(str)), dtype=object).tolist()],
                             dtype=object)
        else:
            if s in ("lower", "lower_and_strip_punctuation"):
                texts = np.array([t.lower() for t in texts], dtype=object)
            if s in ("strip_punctuation", "lower_and_strip_punctuation"):
                texts = np.array([_PUNCTUATION.sub("", t) for t in texts], dtype=object)
        return texts

    def _tokenize(self, inputs):
        texts = self._texts(inputs)
        if self.split is None:
            rows = [[t] for t in texts]
        elif self.split == "whitespace":
            rows = [t.split() for t in texts]
        elif self.split == "character":
            rows = [list(t) for t in texts]
        else:
            rows = [[self._token(w) for w in _as_array(r).ravel().tolist()]
                    for r in self.split(texts.astype(str))]
        if self._ngram_sizes is not None:
            rows = [[" ".join(row[i:i + n]) for n in self._ngram_sizes
                     for i in range(len(row) - n + 1)] for row in rows]
        return rows

    def _token_rows(self, batch):
        return self._tokenize(batch)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return super().compute_output_shape((input_shape[0],))

    def compute(self, inputs):
        out = self._compute(inputs)
        # One string (not a batch) gives one row, as Keras gives it: a
        # sentence encoded and decoded id by id, a dataset mapped before
        # it is batched.
        return out[0] if _as_array(inputs).ndim == 0 else out

    def _compute(self, inputs):
        self._need_vocabulary()
        rows = self._tokenize(inputs)
        if self.output_mode == "int" and self.ragged:
            # (cut to output_sequence_length, never padded, as Keras's)
            rows = [self._ids(r[:self.output_sequence_length]) if r else np.zeros(0, np.int64)
                    for r in rows]
            return RaggedTensor.from_row_lengths(
                np.concatenate(rows) if rows else np.zeros(0, np.int64), [len(r) for r in rows])
        if self.output_mode == "int":
            length = self.output_sequence_length
            if length is None:
                length = max((len(r) for r in rows), default=0)
            out = np.zeros((len(rows), length), np.int64)
            for i, r in enumerate(rows):
                ids = self._ids(r[:length]) if r else np.zeros(0, np.int64)
                out[i, :ids.size] = ids
            return out
        depth = self._output_size()
        out = np.zeros((len(rows), depth), np.float32)
        for i, r in enumerate(rows):
            if r:
                np.add.at(out[i], self._ids(r), 1.0)
        if self.output_mode == "multi_hot":
            np.minimum(out, 1.0, out=out)
        elif self.output_mode == "tf_idf":
            idf = np.zeros(depth, np.float32)
            idf[:min(depth, self.idf_weights.size)] = self.idf_weights[:depth]
            out *= idf
        return out

    def get_config(self):
        config = super().get_config()
        for key in ("num_oov_indices", "mask_token", "oov_token", "invert"):
            config.pop(key)
        if callable(self.standardize) or callable(self.split):
            raise ValueError(f"TextVectorization {self.name!r}: a layer with a standardize or "
                             f"split function cannot be saved (functions are not stored)")
        config.update(standardize=self.standardize, split=self.split, ngrams=self.ngrams,
                      output_sequence_length=self.output_sequence_length,
                      ragged=self.ragged, encoding=self.encoding)
        return config


def _data_call(layer, inputs, training, kwargs):
    """Calling a data layer: on symbolic tensors it records a node; on data
    it computes at once and returns the ids or vectors."""
    from ..models.node import KerasTensor
    if kwargs:
        raise TypeError(f"Layer {layer.name!r} ({type(layer).__name__}): unexpected call "
                        f"argument(s) {', '.join(sorted(kwargs))}")
    if isinstance(inputs, KerasTensor):
        if getattr(layer, "ragged", False):
            raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}): ragged=True "
                             f"gives RaggedTensors, which a functional model does not carry; "
                             f"call it on data (in a Dataset's map), or use ragged=False")
        return Layer.__call__(layer, inputs, training=training)
    if isinstance(inputs, RaggedTensor) and isinstance(layer, (StringLookup, IntegerLookup)):
        # ids of a ragged batch (tf.strings.unicode_split's characters) stay
        # ragged; vector modes give one vector per row
        if layer.output_mode == "int":
            return RaggedTensor(layer.compute(inputs.values), inputs.row_splits)
        return eager(layer.compute([list(np.asarray(row)) for row in inputs]))
    return eager(layer.compute(inputs))


def _encode_categories(ids, output_mode, depth, who, count_weights=None):
    """Keras's encode_categorical_inputs: integer ids (batch,) or (batch, k)
    as one_hot, multi_hot or count vectors of ``depth``."""
    ids = np.asarray(ids)
    check_numeric(ids, who)
    if ids.dtype.kind == "f":
        if not np.all(np.isfinite(ids)) or np.any(ids != np.round(ids)):
            raise ValueError(f"{who}: expected integer ids, got non-integer values")
    ids = ids.astype(np.int64)
    if output_mode == "int":
        return ids
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if ids.size and (ids.min() < 0 or ids.max() >= depth):
        raise ValueError(f"{who}: ids must be in [0, {depth}), got values from {ids.min()} to "
                         f"{ids.max()}")
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids[..., 0]
        out = np.zeros(ids.shape + (depth,), np.float32)
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out
    rows = ids.reshape(1, -1) if ids.ndim == 1 else ids.reshape(ids.shape[0], _row_size(ids))
    out = np.zeros((rows.shape[0], depth), np.float32)
    r = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
    if output_mode == "multi_hot":
        out[r, rows.ravel()] = 1.0
    else:
        w = 1.0 if count_weights is None else \
            np.broadcast_to(np.asarray(count_weights, np.float32).reshape(rows.shape),
                            rows.shape).ravel()
        np.add.at(out, (r, rows.ravel()), w)
    return out[0] if ids.ndim == 1 else out


class CategoryEncoding(Layer):
    """Keras's CategoryEncoding: integer ids in [0, num_tokens) as
    ``one_hot``, ``multi_hot`` (the default) or ``count`` vectors (with
    ``count_weights`` in the call).  tf.keras 2.3-2.4's experimental layer
    took ``max_tokens`` and, given none, learnt it in ``adapt`` (the
    largest id + 1), and read a 1-D input as a batch of single ids (one
    vector per id, where Keras 3 encodes the whole vector): a layer made
    that way (no num_tokens) keeps those rules."""
    input_dtype = "int64"

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, max_tokens=None,
                 **kwargs):
        super().__init__(**kwargs)
        who = f"CategoryEncoding {self.name!r}"
        output_mode = _current_output_mode(output_mode)
        self._rank1_is_batch = num_tokens is None
        if num_tokens is None:
            num_tokens = max_tokens
        if num_tokens is not None and int(num_tokens) < 1:
            raise ValueError(f"{who}: num_tokens must be a positive integer, got "
                             f"{num_tokens!r}")
        if output_mode not in ("one_hot", "multi_hot", "count"):
            raise ValueError(f"{who}: output_mode must be one_hot, multi_hot or count, got "
                             f"{output_mode!r}")
        self.num_tokens = None if num_tokens is None else int(num_tokens)
        self.output_mode = output_mode
        # sparse: a call on values gives a SparseTensor of the nonzero
        # entries (a layer in a functional graph is refused: its graph
        # computes dense values)
        self.sparse = bool(sparse)

    def adapt(self, data, batch_size=None, steps=None):
        """num_tokens from ``data``: its largest id + 1 (tf.keras 2.3's
        adaptable layer)."""
        largest = -1
        for i, batch in enumerate(_batches(data)):
            if steps is not None and i >= steps:
                break
            ids = _as_array(batch)
            if ids.size:
                largest = max(largest, int(ids.max()))
        if largest < 0:
            raise ValueError(f"CategoryEncoding {self.name!r}: adapt needs at least one "
                             f"non-negative id")
        self.num_tokens = largest + 1

    def __call__(self, inputs, count_weights=None, training=None):
        from ..models.node import KerasTensor
        if self.num_tokens is None:
            raise ValueError(f"CategoryEncoding {self.name!r}: give num_tokens, or call adapt "
                             f"on the ids first")
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(f"CategoryEncoding {self.name!r}: count_weights is only for "
                             f"output_mode='count'")
        if isinstance(inputs, KerasTensor):
            if count_weights is not None:
                raise ValueError(f"CategoryEncoding {self.name!r}: count_weights is for calls "
                                 f"on arrays")
            if self.sparse:
                raise ValueError(f"CategoryEncoding {self.name!r}: sparse=True gives "
                                 f"SparseTensors on calls on values; a functional model "
                                 f"computes dense ones: use sparse=False there")
            return Layer.__call__(self, inputs, training=training)
        out = _encode_categories(self._ids(_as_array(inputs)), self.output_mode,
                                 self.num_tokens, f"CategoryEncoding {self.name!r}",
                                 count_weights)
        if self.sparse:
            from ..sparse import from_dense
            return from_dense(out)
        return eager(out)

    def _ids(self, ids):
        return ids[:, None] if self._rank1_is_batch and ids.ndim == 1 else ids

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self._rank1_is_batch and len(shape) == 1:
            shape += (1,)
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return shape + (self.num_tokens,)
        return shape[:1] + (self.num_tokens,) if len(shape) > 1 else (self.num_tokens,)

    def forward(self, ctx, inputs, training):
        return _encode_categories(self._ids(inputs), self.output_mode, self.num_tokens,
                                  f"CategoryEncoding {self.name!r}")

    def backward(self, ctx, dy, need_input_grad=True):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(num_tokens=self.num_tokens, output_mode=self.output_mode,
                      sparse=self.sparse)
        if self._rank1_is_batch:
            # (tf.keras 2.3's config, which keeps its rules on reloading)
            config["max_tokens"] = config.pop("num_tokens")
        return config


def _hashed_output_dtype(output_mode, sparse, dtype, who):
    """The dtype of Hashing's and HashedCrossing's dense outputs: int32 or
    int64 bins (int64 by default) for output_mode 'int', float32 vectors
    otherwise; ``dtype`` may be Keras 3's serialized dtype policy."""
    if sparse:
        raise ValueError(f"{who}: sparse outputs are not supported (sparse=True); "
                         f"the outputs are dense arrays")
    if isinstance(dtype, dict):  # Keras 3's serialized dtype policy
        dtype = (dtype.get("config") or {}).get("name")
    if output_mode == "int":
        if dtype not in (None, "int32", "int64"):
            raise ValueError(f"{who}: output_mode='int' gives integers: dtype must be "
                             f"'int32' or 'int64', got {dtype!r}")
        return dtype or "int64"
    if dtype not in (None, "float32"):
        raise ValueError(f"{who}: output_mode={output_mode!r} gives float32 vectors, "
                         f"got dtype={dtype!r}")
    return "float32"


class Hashing(Layer):
    """Keras's Hashing: strings or integers to bins in [0, num_bins) by a
    hash, the same bins Keras and TensorFlow give (FarmHash's
    Fingerprint64 of the UTF-8 text, or SipHash-2-4 keyed by ``salt``, of
    the decimal text for integers; floats are truncated to integers
    first).  With ``mask_value``, values equal to it go to bin 0 and the
    others to [1, num_bins).  ``output_mode`` 'int' gives the bins (int64,
    or ``dtype='int32'``); 'one_hot', 'multi_hot' and 'count' encode them
    over ``num_bins`` as float32 vectors."""
    _no_gradient = True

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 dtype=None, **kwargs):
        super().__init__(**kwargs)
        who = f"Hashing {self.name!r}"
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or \
                num_bins <= 0:
            raise ValueError(f"{who}: num_bins must be a positive integer, got {num_bins!r}")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"{who}: output_mode must be one of int, one_hot, multi_hot, "
                             f"count, got {output_mode!r}")
        self._out_dtype = _hashed_output_dtype(output_mode, sparse, dtype, who)
        def is_int(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
        if salt is None:
            self.salt = None
        elif is_int(salt):
            self.salt = [int(salt), int(salt)]
        elif isinstance(salt, (tuple, list)) and len(salt) == 2 and all(map(is_int, salt)):
            self.salt = [int(v) for v in salt]
        else:
            raise ValueError(f"{who}: salt can only be a tuple of size 2 integers, or a "
                             f"single integer, got {salt!r}")
        if self.salt is not None and not all(-2 ** 63 <= v < 2 ** 64 for v in self.salt):
            raise ValueError(f"{who}: salt values must fit 64 bits, got {self.salt!r}")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.output_mode = output_mode
        self.sparse = False

    def __call__(self, inputs, training=None, **kwargs):
        return _data_call(self, inputs, training, kwargs)

    def compute(self, inputs):
        who = f"Hashing {self.name!r}"
        values = _as_array(inputs)
        if values.dtype.kind == "f":
            # Keras hashes a float as the integer it truncates to.
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{who}: float inputs are hashed as integers; got NaN or "
                                 f"infinite values")
            values = values.astype(np.int64)
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = self._masked(values)
        try:
            ids = ops.hash_buckets(values, bins, self.salt)
        except TypeError as e:
            raise TypeError(f"{who}: {e}") from None
        if mask is not None:
            ids += 1
            ids[mask] = 0
        if self.output_mode == "int":
            return ids.astype(self._out_dtype, copy=False)
        if self.output_mode == "one_hot":
            return _encode_categories(ids, "one_hot", self.num_bins, who)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        rows = _encode_categories(ids.reshape(-1, ids.shape[-1]), self.output_mode,
                                  self.num_bins, who)
        return rows.reshape(ids.shape[:-1] + (self.num_bins,))

    def _masked(self, values):
        """Where the values equal mask_value (strings and bytes compare as
        text)."""
        mask_value = self.mask_value
        if values.dtype.kind in "OUS":
            def text(v):
                return v.decode("utf-8") if isinstance(v, bytes) else v
            mask_value = text(mask_value)
            flat = [text(v) == mask_value for v in values.reshape(-1).tolist()]
            return np.array(flat, bool).reshape(values.shape)
        if isinstance(mask_value, (str, bytes)):
            raise ValueError(f"Hashing {self.name!r}: mask_value {mask_value!r} is text and "
                             f"the inputs are numbers ({values.dtype})")
        return values == mask_value

    def _output_dtypes(self, n):
        return [self._out_dtype] * n

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return shape + (self.num_bins,)
        return shape[:-1] + (self.num_bins,)

    def forward(self, ctx, inputs, training):
        return self.compute(inputs)

    def backward(self, ctx, dy, need_input_grad=True):
        if need_input_grad:
            raise ValueError(f"Hashing {self.name!r} turns data into bins and passes no "
                             f"gradient to what comes before it")
        return None

    def get_config(self):
        config = super().get_config()
        config.update(num_bins=self.num_bins, salt=self.salt, mask_value=self.mask_value,
                      output_mode=self.output_mode, sparse=False, dtype=self._out_dtype)
        return config


class HashedCrossing(Layer):
    """Keras's HashedCrossing: crosses two or more categorical features
    (integers or strings, each of shape (batch,) or (batch, 1)) into one
    feature hashed into ``num_bins`` bins, the bins TensorFlow's
    ``tf.sparse.cross_hashed`` gives (see pynn.ops.hash_cross), so a model
    trained with Keras reads the same crosses.  ``output_mode`` 'int'
    gives the bins (int64, or ``dtype='int32'``), 'one_hot' float32
    vectors of ``num_bins``."""
    _no_gradient = True

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        who = f"HashedCrossing {self.name!r}"
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or \
                num_bins <= 0:
            raise ValueError(f"{who}: num_bins must be a positive integer, got {num_bins!r}")
        if output_mode not in ("int", "one_hot"):
            raise ValueError(f"{who}: output_mode must be one of 'int', 'one_hot', got "
                             f"{output_mode!r}")
        self._out_dtype = _hashed_output_dtype(output_mode, sparse, dtype, who)
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = False

    def __call__(self, inputs, training=None, **kwargs):
        from ..models.node import KerasTensor
        if kwargs:
            raise TypeError(f"Layer {self.name!r} (HashedCrossing): unexpected call "
                            f"argument(s) {', '.join(sorted(kwargs))}")
        self._check_inputs(inputs)
        if any(isinstance(x, KerasTensor) for x in inputs):
            return Layer.__call__(self, list(inputs), training=training)
        return eager(self.compute(inputs))

    def _check_inputs(self, inputs):
        who = f"HashedCrossing {self.name!r}"
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{who} should be called on a list or tuple of inputs, got "
                             f"{type(inputs).__name__}")
        if len(inputs) < 2:
            raise ValueError(f"{who} should be called on at least two inputs, got "
                             f"{len(inputs)}")

    def _check_shapes(self, shapes):
        who = f"HashedCrossing {self.name!r}"
        first = tuple(shapes[0])
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(f"{who}: all inputs should have shape (), (batch_size,) or "
                             f"(batch_size, 1), got {shape_str(first)}")
        if any(tuple(s) != first for s in shapes[1:]):
            raise ValueError(f"{who}: all inputs should have equal shapes, got "
                             f"{', '.join(shape_str(s) for s in shapes)}")

    def compute(self, inputs):
        who = f"HashedCrossing {self.name!r}"
        self._check_inputs(inputs)
        columns = [_as_array(x) for x in inputs]
        self._check_shapes([c.shape for c in columns])
        for c in columns:
            if c.dtype.kind not in "iuOUS":
                raise ValueError(f"{who}: all inputs should have an integer or string dtype "
                                 f"(only integers or strings are crossed), got {c.dtype}")
        ids = ops.hash_cross(columns, self.num_bins)
        if self.output_mode == "int":
            return ids.astype(self._out_dtype, copy=False)
        return _encode_categories(ids, "one_hot", self.num_bins, who)

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.built = True

    def _output_dtypes(self, n):
        return [self._out_dtype] * n

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        shape = tuple(input_shape[0])
        if self.output_mode == "int":
            return shape
        if len(shape) > 1 and shape[-1] == 1:
            shape = shape[:-1]
        return shape + (self.num_bins,)

    def forward(self, ctx, inputs, training):
        return self.compute(inputs)

    def backward(self, ctx, dy, need_input_grad=True):
        if need_input_grad:
            raise ValueError(f"HashedCrossing {self.name!r} turns data into bins and passes "
                             f"no gradient to what comes before it")
        return None

    def get_config(self):
        # Keras's config of this layer has no 'trainable'
        return {"num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": False,
                "name": self.name, "dtype": self._out_dtype}


class Discretization(Layer):
    """Keras's Discretization: values to the index of their bin
    (``np.digitize`` over ``bin_boundaries``), or to one_hot/multi_hot/
    count vectors; ``adapt`` finds ``num_bins`` quantile boundaries with
    Keras's summaries (so it learns the boundaries Keras learns)."""

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, dtype=None, **kwargs):
        super().__init__(**kwargs)
        who = f"Discretization {self.name!r}"
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"{who}: output_mode must be int, one_hot, multi_hot or count, got "
                             f"{output_mode!r}")
        if sparse:
            raise ValueError(f"{who}: sparse outputs are not supported")
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError(f"{who}: give exactly one of bin_boundaries and num_bins")
        if num_bins is not None and int(num_bins) < 1:
            raise ValueError(f"{who}: num_bins must be >= 1, got {num_bins!r}")
        self.bin_boundaries = None if bin_boundaries is None else \
            [float(b) for b in np.asarray(bin_boundaries).ravel()]
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = False
        self._summary = np.zeros((2, 0), np.float32)

    def adapt(self, data, steps=None):
        if self.num_bins is None:
            raise ValueError(f"Discretization {self.name!r} was given bin_boundaries; adapt "
                             f"needs num_bins")
        self._summary = np.zeros((2, 0), np.float32)
        for i, batch in enumerate(_batches(data)):
            if steps is not None and i >= steps:
                break
            values = _as_array(batch).astype(np.float32)
            summary = _summarize(values, self.epsilon)
            self._summary = _compress(np.take(
                np.concatenate((summary, self._summary), axis=1),
                np.argsort(np.concatenate((summary, self._summary), axis=1)[0]), axis=1),
                self.epsilon)
        self.bin_boundaries = _compress(self._summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def __call__(self, inputs, training=None):
        from ..models.node import KerasTensor
        if isinstance(inputs, KerasTensor):
            return Layer.__call__(self, inputs, training=training)
        return eager(self.compute(inputs))

    def compute(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization {self.name!r} has no bin boundaries: pass "
                             f"bin_boundaries= or call adapt(data)")
        x = _as_array(inputs)
        check_numeric(x, f"Discretization {self.name!r}")
        ids = np.digitize(x.astype(np.float32),
                          np.asarray(self.bin_boundaries, np.float32)).astype(np.int64)
        return _encode_categories(ids, self.output_mode, len(self.bin_boundaries) + 1,
                                  f"Discretization {self.name!r}")

    def _output_dtypes(self, n):
        return ["int64" if self.output_mode == "int" else "float32"] * n

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        depth = None if self.bin_boundaries is None else len(self.bin_boundaries) + 1
        if self.output_mode == "int":
            return shape
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return shape + (depth,)
        return shape[:1] + (depth,)

    def forward(self, ctx, inputs, training):
        return self.compute(inputs)

    def backward(self, ctx, dy, need_input_grad=True):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(bin_boundaries=self.bin_boundaries, num_bins=self.num_bins,
                      epsilon=self.epsilon, output_mode=self.output_mode, sparse=False)
        return config

    @classmethod
    def from_config(cls, config):
        # An adapted layer's config holds both its num_bins and the
        # boundaries adapt found, which the constructor refuses together:
        # the boundaries are set after it, as Keras does.
        config = dict(config)
        boundaries = config.pop("bin_boundaries", None)
        if boundaries is None or config.get("num_bins") is None:
            return super().from_config(dict(config, bin_boundaries=boundaries))
        layer = super().from_config(config)
        layer.bin_boundaries = [float(b) for b in np.asarray(boundaries).ravel()]
        return layer


def _summarize(values, epsilon):
    """Keras's quantile summary of one batch: every ``step``-th sorted
    value, with weight ``step``."""
    values = np.sort(values.reshape(-1))
    step = max(values.size * epsilon, 1)
    points = values[int(step - 1)::int(step)]
    return np.stack([points, np.ones_like(points) * step])


def _compress(summary, epsilon):
    """Keras's compress_summary: the summary at quantiles ``epsilon`` apart,
    interpolated on the cumulative weights."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_percents, summary[0])
    cum_weights = np.interp(percents, cum_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype(np.float32)
