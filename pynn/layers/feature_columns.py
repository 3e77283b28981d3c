"""tf.feature_column (TensorFlow 2) and tf.keras 2's DenseFeatures layer:
descriptions of how the features of a dict of inputs (a table's columns)
become one dense float32 matrix.

Numeric columns pass their values through (reshaped to one row per
sample); categorical columns map each value to an id (by a vocabulary, by
the value itself, or by a hash) and become dense through an indicator
column (multi-hot) or an embedding column (a trained table, combined by
mean, sum or sqrtn); a bucketized column is both.  DenseFeatures
concatenates its columns in the order of their names, as TensorFlow does.

Hash buckets and out-of-vocabulary buckets are TensorFlow's: FarmHash's
Fingerprint64 of the value's text (tf.strings.to_hash_bucket_fast), so a
value lands in the bucket it lands in under TensorFlow.  Crossed columns
hash as tf.sparse.cross_hashed does (strings by Fingerprint64, integers
and ids as they are, chained by FingerprintCat64 from the hash key), so
a cross lands in TensorFlow's bucket too.
"""
import itertools

import numpy as np

from .. import autodiff, backend, ops
from .. import initializers as initializers_mod
from .base import Layer

__all__ = ["numeric_column", "bucketized_column", "categorical_column_with_vocabulary_list",
           "categorical_column_with_vocabulary_file", "categorical_column_with_identity",
           "categorical_column_with_hash_bucket", "indicator_column", "embedding_column",
           "shared_embeddings", "crossed_column", "DenseFeatures"]


def _values(features, key, who):
    """The raw values of ``key`` as a NumPy array of one row per sample."""
    if not isinstance(features, dict):
        raise TypeError(f"{who}: expected a dict of features by name, got "
                        f"{type(features).__name__}")
    if key not in features:
        raise ValueError(f"{who}: the features have no {key!r} (they have {sorted(features)})")
    a = np.asarray(autodiff.value_of(features[key]))
    if a.ndim == 0:
        raise ValueError(f"{who}: feature {key!r} has no batch axis (shape ())")
    return a.reshape(a.shape[0], -1)


def _text(a):
    """Values as text (bytes decoded, numbers as str gives them)."""
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in a.ravel()],
                    dtype=object).reshape(a.shape)


def _multi_hot(ids, n):
    """(batch, n) float32 counts of each valid id (ids < 0 are left out)."""
    out = np.zeros((ids.shape[0], n), np.float32)
    rows, cols = np.nonzero(ids >= 0)
    np.add.at(out, (rows, ids[rows, cols]), 1.0)
    return out


def _check_key(key, who):
    if not isinstance(key, str) or not key:
        raise ValueError(f"{who}: key must be a non-empty string, got {key!r}")


class _Column:
    """What every column has: a name, and the width of its dense form."""

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, self.name))


class _CategoricalColumn(_Column):
    """A column whose ``_ids(features)`` are ids in [0, num_buckets), one
    row per sample; -1 marks no id."""


class NumericColumn(_Column):
    def __init__(self, key, shape, default_value, dtype, normalizer_fn):
        self.key, self.shape, self.default_value = key, shape, default_value
        self.dtype, self.normalizer_fn = dtype, normalizer_fn

    @property
    def name(self):
        return self.key

    @property
    def dense_size(self):
        return int(np.prod(self.shape))

    def _dense(self, features):
        who = f"numeric_column({self.key!r})"
        _values(features, self.key, who)    # (a dict with the key, a batch axis)
        value = features[self.key]
        n = int(np.prod(np.shape(autodiff.value_of(value))[1:]))
        if n != self.dense_size:
            raise ValueError(f"{who}: expected {self.dense_size} value(s) per sample (shape "
                             f"{self.shape}), got {n}")
        value = backend.cast(value, "float32")
        if self.normalizer_fn is not None:
            value = self.normalizer_fn(value)
        return backend.reshape(value, (-1, self.dense_size))


def numeric_column(key, shape=(1,), default_value=None, dtype="float32", normalizer_fn=None):
    """Real values: ``key``'s values as they are (``shape`` per sample),
    through ``normalizer_fn`` where given."""
    _check_key(key, "numeric_column")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"numeric_column({key!r}): shape must be positive sizes, got {shape}")
    if normalizer_fn is not None and not callable(normalizer_fn):
        raise TypeError(f"numeric_column({key!r}): normalizer_fn must be callable, got "
                        f"{normalizer_fn!r}")
    return NumericColumn(key, shape, default_value, dtype, normalizer_fn)


class BucketizedColumn(_CategoricalColumn):
    def __init__(self, source_column, boundaries):
        self.source_column, self.boundaries = source_column, boundaries

    @property
    def name(self):
        return f"{self.source_column.name}_bucketized"

    @property
    def num_buckets(self):
        return self.source_column.dense_size * (len(self.boundaries) + 1)

    dense_size = num_buckets

    def _ids(self, features):
        source = np.asarray(autodiff.value_of(self.source_column._dense(features)))
        buckets = np.digitize(source, self.boundaries)   # b[i-1] <= x < b[i] -> i
        # element j of the source owns the ids j*(len+1) ... j*(len+1)+len
        return buckets + np.arange(source.shape[1]) * (len(self.boundaries) + 1)

    def _dense(self, features):
        return _multi_hot(self._ids(features), self.num_buckets)


def bucketized_column(source_column, boundaries):
    """A numeric column's values as the index of their interval between
    the sorted ``boundaries``: one-hot in a dense layer, ids otherwise."""
    if not isinstance(source_column, NumericColumn):
        raise ValueError(f"bucketized_column: source_column must be a numeric_column, got "
                         f"{source_column!r}")
    boundaries = tuple(float(b) for b in boundaries)
    if not boundaries or any(a >= b for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError(f"bucketized_column: boundaries must be a sorted list of distinct "
                         f"values, got {boundaries}")
    return BucketizedColumn(source_column, boundaries)


class VocabularyListCategoricalColumn(_CategoricalColumn):
    def __init__(self, key, vocabulary_list, dtype, default_value, num_oov_buckets):
        self.key, self.vocabulary_list, self.dtype = key, vocabulary_list, dtype
        self.default_value, self.num_oov_buckets = default_value, num_oov_buckets

    @property
    def name(self):
        return self.key

    @property
    def num_buckets(self):
        return len(self.vocabulary_list) + self.num_oov_buckets

    def _ids(self, features):
        texts = _text(_values(features, self.key, f"categorical_column({self.key!r})"))
        table = {str(v): i for i, v in enumerate(self.vocabulary_list)}
        ids = np.array([table.get(t, -1) for t in texts.ravel()], np.int64).reshape(texts.shape)
        missing = ids < 0
        if self.num_oov_buckets:
            oov = np.asarray(ops.hash_buckets(texts, self.num_oov_buckets))
            ids[missing] = len(self.vocabulary_list) + oov[missing]
        else:
            ids[missing] = self.default_value
        return ids


def categorical_column_with_vocabulary_list(key, vocabulary_list, dtype=None, default_value=-1,
                                            num_oov_buckets=0):
    """Values as their index in ``vocabulary_list``; others as
    ``default_value`` (-1: no id) or, with ``num_oov_buckets``, a hashed
    bucket after the vocabulary."""
    _check_key(key, "categorical_column_with_vocabulary_list")
    # (a string tensor's values, not its 0-d tensors, whose str is tf.Tensor(...))
    values = vocabulary_list.numpy() if hasattr(vocabulary_list, "numpy") else vocabulary_list
    vocabulary_list = tuple(v.decode() if isinstance(v, bytes) else v
                            for v in np.asarray(values, dtype=object).ravel().tolist())
    if not vocabulary_list:
        raise ValueError(f"categorical_column_with_vocabulary_list({key!r}): the vocabulary "
                         f"is empty")
    if len(set(map(str, vocabulary_list))) != len(vocabulary_list):
        raise ValueError(f"categorical_column_with_vocabulary_list({key!r}): the vocabulary "
                         f"has duplicates: {vocabulary_list}")
    if num_oov_buckets < 0:
        raise ValueError(f"categorical_column_with_vocabulary_list({key!r}): num_oov_buckets "
                         f"must be >= 0, got {num_oov_buckets}")
    if num_oov_buckets and default_value != -1:
        raise ValueError(f"categorical_column_with_vocabulary_list({key!r}): give "
                         f"default_value or num_oov_buckets, not both")
    if not -1 <= default_value < len(vocabulary_list):
        raise ValueError(f"categorical_column_with_vocabulary_list({key!r}): default_value "
                         f"must be -1 or a vocabulary index, got {default_value}")
    return VocabularyListCategoricalColumn(key, vocabulary_list, dtype, default_value,
                                           num_oov_buckets)


class VocabularyFileCategoricalColumn(VocabularyListCategoricalColumn):
    def __init__(self, key, vocabulary_file, vocabulary_size, dtype, default_value,
                 num_oov_buckets):
        self.key, self.vocabulary_file, self.vocabulary_size = \
            key, vocabulary_file, vocabulary_size
        self.dtype, self.default_value, self.num_oov_buckets = \
            dtype, default_value, num_oov_buckets

    @property
    def vocabulary_list(self):
        """The file's lines (its first ``vocabulary_size``), read once, as
        tf.lookup.TextFileInitializer reads a vocabulary."""
        held = self.__dict__.get("_vocabulary")
        if held is None:
            from .. import dtypes
            from ..lookup import TextFileIndex, TextFileInitializer
            text = self.dtype is None or dtypes.as_dtype(self.dtype) == dtypes.string
            keys, _ = TextFileInitializer(
                self.vocabulary_file, dtypes.string if text else dtypes.int64,
                TextFileIndex.WHOLE_LINE, dtypes.int64, TextFileIndex.LINE_NUMBER,
                vocab_size=self.vocabulary_size)._pairs()
            held = self._vocabulary = tuple(k.decode("utf-8") if isinstance(k, bytes) else
                                            int(k) for k in keys.tolist())
        return held


def categorical_column_with_vocabulary_file(key, vocabulary_file, vocabulary_size=None,
                                            dtype="string", default_value=None,
                                            num_oov_buckets=0):
    """Values as their line number in ``vocabulary_file`` (one entry per
    line; only the first ``vocabulary_size`` lines when given); others as
    ``default_value`` (None: -1, no id) or, with ``num_oov_buckets``, a
    hashed bucket after the vocabulary."""
    who = f"categorical_column_with_vocabulary_file({key!r})"
    _check_key(key, "categorical_column_with_vocabulary_file")
    if not vocabulary_file:
        raise ValueError(f"{who}: vocabulary_file is missing")
    if vocabulary_size is not None and vocabulary_size < 1:
        raise ValueError(f"{who}: vocabulary_size must be > 0, got {vocabulary_size}")
    if num_oov_buckets < 0:
        raise ValueError(f"{who}: num_oov_buckets must be >= 0, got {num_oov_buckets}")
    if num_oov_buckets and default_value is not None:
        raise ValueError(f"{who}: give default_value or num_oov_buckets, not both")
    column = VocabularyFileCategoricalColumn(
        key, str(vocabulary_file), vocabulary_size, dtype,
        -1 if default_value is None else int(default_value), int(num_oov_buckets))
    vocabulary = column.vocabulary_list   # (read now: a missing file fails here)
    if len(set(map(str, vocabulary))) != len(vocabulary):
        raise ValueError(f"{who}: the vocabulary file has duplicate lines")
    if not -1 <= column.default_value < len(vocabulary):
        raise ValueError(f"{who}: default_value must be -1 or a vocabulary index, got "
                         f"{default_value}")
    return column


class IdentityCategoricalColumn(_CategoricalColumn):
    def __init__(self, key, number_buckets, default_value):
        self.key, self.number_buckets, self.default_value = key, number_buckets, default_value

    @property
    def name(self):
        return self.key

    @property
    def num_buckets(self):
        return self.number_buckets

    def _ids(self, features):
        who = f"categorical_column_with_identity({self.key!r})"
        raw = _values(features, self.key, who)
        if raw.dtype.kind not in "biuf" or (raw.dtype.kind == "f" and
                                             np.any(raw != np.round(raw))):
            raise ValueError(f"{who}: expected integer ids, got dtype {raw.dtype}")
        ids = raw.astype(np.int64)
        outside = (ids < 0) | (ids >= self.number_buckets)
        if outside.any():
            if self.default_value is None:
                raise ValueError(f"{who}: ids must be in [0, {self.number_buckets}), got "
                                 f"{ids[outside][:5].tolist()}")
            ids[outside] = self.default_value
        return ids


def categorical_column_with_identity(key, num_buckets, default_value=None):
    """Integer values that are their own ids, in [0, num_buckets); others
    become ``default_value`` (an error when None)."""
    _check_key(key, "categorical_column_with_identity")
    if num_buckets < 1:
        raise ValueError(f"categorical_column_with_identity({key!r}): num_buckets must be "
                         f">= 1, got {num_buckets}")
    if default_value is not None and not 0 <= default_value < num_buckets:
        raise ValueError(f"categorical_column_with_identity({key!r}): default_value must be "
                         f"in [0, {num_buckets}), got {default_value}")
    return IdentityCategoricalColumn(key, int(num_buckets), default_value)


class HashedCategoricalColumn(_CategoricalColumn):
    def __init__(self, key, hash_bucket_size, dtype):
        self.key, self.hash_bucket_size, self.dtype = key, hash_bucket_size, dtype

    @property
    def name(self):
        return self.key

    @property
    def num_buckets(self):
        return self.hash_bucket_size

    def _ids(self, features):
        texts = _text(_values(features, self.key, f"categorical_column({self.key!r})"))
        # FarmHash's Fingerprint64 of the text, TensorFlow's bucket for it
        # (tf.strings.to_hash_bucket_fast; an integer as its decimal text)
        return np.asarray(ops.hash_buckets(texts, self.hash_bucket_size))


def categorical_column_with_hash_bucket(key, hash_bucket_size, dtype="string"):
    """Values (strings, or integers as their text) hashed into
    ``hash_bucket_size`` ids."""
    _check_key(key, "categorical_column_with_hash_bucket")
    if hash_bucket_size < 1:
        raise ValueError(f"categorical_column_with_hash_bucket({key!r}): hash_bucket_size "
                         f"must be >= 1, got {hash_bucket_size}")
    return HashedCategoricalColumn(key, int(hash_bucket_size), dtype)


class CrossedColumn(_CategoricalColumn):
    def __init__(self, keys, hash_bucket_size, hash_key):
        self.keys, self.hash_bucket_size, self.hash_key = keys, hash_bucket_size, hash_key

    @property
    def name(self):
        return "_X_".join(sorted(k if isinstance(k, str) else k.name for k in self.keys))

    @property
    def num_buckets(self):
        return self.hash_bucket_size

    def _leaves(self):
        """The keys crossed, a crossed key's own keys in its place (as
        TensorFlow flattens them)."""
        out = []
        for k in self.keys:
            out += k._leaves() if isinstance(k, CrossedColumn) else [k]
        return out

    def _leaf_values(self, key, features):
        """(values, present) of one key, one row per sample: a feature's
        strings or integers (an empty string or -1 is no value, as
        TensorFlow drops them), or a categorical column's ids (where its
        feature has a value)."""
        who = f"crossed_column({self.name!r})"
        if isinstance(key, str):
            raw = _values(features, key, who)
            if raw.dtype.kind in "OSU":
                values = _text(raw)
                return values, values != ""
            if raw.dtype.kind not in "biu":
                raise ValueError(f"{who}: feature {key!r} holds {raw.dtype} values; a cross "
                                 f"takes strings or integers (bucketize numbers first)")
            values = raw.astype(np.int64)
            return values, values != -1
        ids = np.asarray(key._ids(features), np.int64)
        raw_key = getattr(key, "key", None)
        if isinstance(raw_key, str):
            raw = _values(features, raw_key, who)
            if raw.shape == ids.shape:
                present = _text(raw) != "" if raw.dtype.kind in "OSU" else raw != -1
                return ids, present
        return ids, np.ones(ids.shape, bool)

    def _ids(self, features):
        leaves = [self._leaf_values(k, features) for k in self._leaves()]
        rows = leaves[0][0].shape[0]
        combos = []   # per sample, the crossed values' combinations
        for i in range(rows):
            per_key = [values[i][present[i]].tolist() for values, present in leaves]
            combos.append(list(itertools.product(*per_key)))
        width = max(1, max(len(c) for c in combos))
        ids = np.full((rows, width), -1, np.int64)   # (-1: no id)
        flat = [c for row in combos for c in row]
        if flat:
            columns = [np.array(col, dtype=object if values.dtype.kind in "OSU" else np.int64)
                       for col, (values, _) in zip(zip(*flat), leaves)]
            hashed = ops.hash_cross(columns, self.hash_bucket_size, self.hash_key)
            at = 0
            for i, row in enumerate(combos):
                ids[i, :len(row)] = hashed[at:at + len(row)]
                at += len(row)
        return ids


def crossed_column(keys, hash_bucket_size, hash_key=None):
    """Every combination of the values of ``keys`` (feature names or
    categorical columns, not hashed ones) hashed into ``hash_bucket_size``
    ids."""
    keys = tuple(keys)
    if len(keys) < 2:
        raise ValueError(f"crossed_column: keys must have at least two entries, got {keys}")
    for k in keys:
        if not isinstance(k, (str, _CategoricalColumn)) or isinstance(k, HashedCategoricalColumn):
            raise ValueError(f"crossed_column: each key must be a feature name or a "
                             f"categorical column other than a hashed one, got {k!r}")
    if hash_bucket_size < 2:
        raise ValueError(f"crossed_column: hash_bucket_size must be > 1, got "
                         f"{hash_bucket_size}")
    if hash_key is not None and (not isinstance(hash_key, (int, np.integer)) or
                                 not 0 <= hash_key < 2 ** 64):
        raise ValueError(f"crossed_column: hash_key must be an unsigned 64-bit integer, got "
                         f"{hash_key!r}")
    return CrossedColumn(keys, int(hash_bucket_size), hash_key)


class IndicatorColumn(_Column):
    def __init__(self, categorical_column):
        self.categorical_column = categorical_column

    @property
    def name(self):
        return f"{self.categorical_column.name}_indicator"

    @property
    def dense_size(self):
        return self.categorical_column.num_buckets

    def _dense(self, features):
        return _multi_hot(self.categorical_column._ids(features), self.dense_size)


def indicator_column(categorical_column):
    """A categorical column as a multi-hot vector: per sample, how often
    each id occurs."""
    if not isinstance(categorical_column, _CategoricalColumn):
        raise ValueError(f"indicator_column: expected a categorical column, got "
                         f"{categorical_column!r}")
    return IndicatorColumn(categorical_column)


class EmbeddingColumn(_Column):
    def __init__(self, categorical_column, dimension, combiner, initializer, max_norm,
                 trainable):
        self.categorical_column, self.dimension, self.combiner = \
            categorical_column, dimension, combiner
        self.initializer, self.max_norm, self.trainable = initializer, max_norm, trainable

    @property
    def name(self):
        return f"{self.categorical_column.name}_embedding"

    @property
    def _table_name(self):
        return self.name

    @property
    def dense_size(self):
        return self.dimension

    def _dense_from(self, features, table):
        counts = _multi_hot(self.categorical_column._ids(features),
                            self.categorical_column.num_buckets)
        n = counts.sum(axis=1, keepdims=True)
        if self.combiner == "mean":
            counts = counts / np.maximum(n, 1)
        elif self.combiner == "sqrtn":   # (each occurrence of an id weighs 1)
            counts = counts / np.sqrt(np.maximum(n, 1))
        if self.max_norm is not None:
            norms = backend.sqrt(backend.sum(backend.square(table), axis=1, keepdims=True))
            table = table * backend.minimum(1.0, self.max_norm / backend.maximum(norms, 1e-12))
        # (the combined rows are the count matrix times the table, which
        # differentiates to the table's rows as a gather would)
        return backend.matmul(counts, table)


def embedding_column(categorical_column, dimension, combiner="mean", initializer=None,
                     ckpt_to_load_from=None, tensor_name_in_ckpt=None, max_norm=None,
                     trainable=True, use_safe_embedding_lookup=True):
    """A categorical column as a trained ``dimension``-wide embedding; a
    sample's several ids are combined by ``combiner`` ('mean', 'sum' or
    'sqrtn').  The table starts truncated normal with standard deviation
    1/sqrt(dimension), as TensorFlow's."""
    if not isinstance(categorical_column, _CategoricalColumn):
        raise ValueError(f"embedding_column: expected a categorical column, got "
                         f"{categorical_column!r}")
    if dimension is None or dimension < 1:
        raise ValueError(f"embedding_column: dimension must be >= 1, got {dimension}")
    if combiner not in ("mean", "sum", "sqrtn"):
        raise ValueError(f"embedding_column: combiner must be 'mean', 'sum' or 'sqrtn', got "
                         f"{combiner!r}")
    if ckpt_to_load_from is not None or tensor_name_in_ckpt is not None:
        raise ValueError("embedding_column: loading the table from a TensorFlow checkpoint "
                         "is not supported; set the layer's weights instead")
    if initializer is not None and not callable(initializer):
        raise ValueError(f"embedding_column: initializer must be callable, got {initializer!r}")
    return EmbeddingColumn(categorical_column, int(dimension), combiner, initializer, max_norm,
                           trainable)


class SharedEmbeddingColumn(EmbeddingColumn):
    def __init__(self, categorical_column, dimension, combiner, initializer, max_norm,
                 trainable, shared_embedding_collection_name):
        super().__init__(categorical_column, dimension, combiner, initializer, max_norm,
                         trainable)
        self.shared_embedding_collection_name = shared_embedding_collection_name

    @property
    def name(self):
        return f"{self.categorical_column.name}_shared_embedding"

    @property
    def _table_name(self):
        return self.shared_embedding_collection_name


def shared_embeddings(categorical_columns, dimension, combiner="mean", initializer=None,
                      shared_embedding_collection_name=None, ckpt_to_load_from=None,
                      tensor_name_in_ckpt=None, max_norm=None, trainable=True,
                      use_safe_embedding_lookup=True):
    """One embedding column per categorical column, all reading one table
    (the columns must have the same number of buckets); its name is
    ``shared_embedding_collection_name`` or the columns' sorted names
    joined, as TensorFlow names it."""
    columns = list(categorical_columns)
    if not columns:
        raise ValueError("shared_embeddings: categorical_columns is empty")
    for c in columns:
        embedding_column(c, dimension, combiner, initializer, ckpt_to_load_from,
                         tensor_name_in_ckpt, max_norm, trainable)   # (the same checks)
    ordered = sorted(columns, key=lambda c: c.name)
    sizes = {c.name: c.num_buckets for c in ordered}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"shared_embeddings: all categorical_columns must have the same "
                         f"number of buckets, got {sizes}")
    name = shared_embedding_collection_name or \
        "_".join(c.name for c in ordered) + "_shared_embedding"
    return [SharedEmbeddingColumn(c, int(dimension), combiner, initializer, max_norm,
                                  trainable, name) for c in columns]


class DenseFeatures(Layer):
    """tf.keras 2's DenseFeatures: a dict of features (by name) as one
    float32 matrix, the dense forms of ``feature_columns`` side by side in
    the order of the columns' names."""

    # (a Sequential starting with it is fed a dict of features)
    _takes_feature_dict = True

    def __init__(self, feature_columns, trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        columns = [feature_columns] if isinstance(feature_columns, _Column) else \
            list(feature_columns.values() if isinstance(feature_columns, dict)
                 else feature_columns)
        if not columns:
            raise ValueError(f"DenseFeatures {self.name!r}: feature_columns is empty")
        for c in columns:
            if not hasattr(c, "dense_size"):
                raise ValueError(f"DenseFeatures {self.name!r}: {c!r} has no dense form; wrap "
                                 f"a categorical column in indicator_column or "
                                 f"embedding_column")
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise ValueError(f"DenseFeatures {self.name!r}: duplicate feature columns {names}")
        self._feature_columns = sorted(columns, key=lambda c: c.name)
        self._tables = {}

    def build(self, input_shape=None):
        for c in self._feature_columns:
            if isinstance(c, EmbeddingColumn) and c._table_name not in self._tables:
                init = c.initializer or initializers_mod.TruncatedNormal(
                    mean=0.0, stddev=1.0 / np.sqrt(c.dimension))
                self._tables[c._table_name] = self.add_weight(
                    name=f"{c._table_name}/embedding_weights",
                    shape=(c.categorical_column.num_buckets, c.dimension),
                    initializer=init, trainable=c.trainable)
        self.built = True

    def call(self, features):
        if not isinstance(features, dict):
            raise TypeError(f"DenseFeatures {self.name!r}: expected a dict of features by "
                            f"name, got {type(features).__name__}")
        parts = []
        for c in self._feature_columns:
            if isinstance(c, EmbeddingColumn):
                parts.append(c._dense_from(features, self._tables[c._table_name]))
            else:
                parts.append(c._dense(features))
        return parts[0] if len(parts) == 1 else backend.concatenate(parts, axis=1)

    def compute_output_shape(self, input_shape):
        return (None, sum(c.dense_size for c in self._feature_columns))

    def get_config(self):
        return {**super().get_config(),
                "feature_columns": [_column_config(c) for c in self._feature_columns]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["feature_columns"] = [_column_from_config(c)
                                     for c in config["feature_columns"]]
        return cls(**config)


_COLUMN_CLASSES = {c.__name__: c for c in (
    NumericColumn, BucketizedColumn, VocabularyListCategoricalColumn,
    VocabularyFileCategoricalColumn, IdentityCategoricalColumn, HashedCategoricalColumn,
    CrossedColumn, IndicatorColumn, EmbeddingColumn, SharedEmbeddingColumn)}


def _column_config(value):
    """A column (its constructor's arguments, nested columns, functions
    and initializers) as a JSON config."""
    from ..utils.custom_objects import serialize_function
    if isinstance(value, _Column):
        return {"class_name": type(value).__name__,
                "config": {k: _column_config(v) for k, v in vars(value).items()
                           if not k.startswith("_")}}   # (not what it caches)
    if isinstance(value, (list, tuple)):
        return [_column_config(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, initializers_mod.Initializer):
        return {"initializer": initializers_mod.serialize(value)}
    if callable(value):
        return serialize_function(value)
    return value


def _column_from_config(value):
    from ..utils.custom_objects import deserialize_function, is_function_description
    if isinstance(value, list):
        return tuple(_column_from_config(v) for v in value)
    if is_function_description(value) or type(value).__name__ == "FunctionRef":
        return deserialize_function(value, "DenseFeatures")
    if isinstance(value, dict) and "initializer" in value:
        return initializers_mod.get(value["initializer"])
    if isinstance(value, dict) and value.get("class_name") in _COLUMN_CLASSES:
        return _COLUMN_CLASSES[value["class_name"]](
            **{k: _column_from_config(v) for k, v in value["config"].items()})
    return value
