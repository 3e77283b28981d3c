"""Keras's FeatureSpace: one object that turns a dict of raw columns
(numbers, integer codes, strings) into model inputs, by a preprocessing
layer per column (Normalization, Discretization, IntegerLookup,
StringLookup, Hashing, Rescaling), hashed crosses of columns, one-hot
encodings, and a concatenation (or a dict).

It is used as Keras's is: ``adapt`` it on a Dataset (or a dict of arrays)
of the raw columns; call it on a batch (inside ``Dataset.map``) to get the
encoded features; or build a model from ``get_inputs()`` and
``get_encoded_features()``, whose layers are its own, so a model can take
raw columns.
"""
import numpy as np

from .. import layers as layers_mod
from ..layers.base import Layer
from ..layers.text import HashedCrossing, _data_call


def _auto_name(prefix):
    """Keras's auto_name for a feature: prefix, prefix_1, ..."""
    from ..backend import get_uid
    uid = get_uid(prefix)
    return prefix if uid == 1 else f"{prefix}_{uid - 1}"


_IDENTITY = "TFDIdentity"


class _Identity(Layer):
    """A float column as it is (FeatureSpace.float)."""
    _no_gradient = True

    def __call__(self, inputs, training=None, **kwargs):
        return _data_call(self, inputs, training, kwargs)

    def compute(self, inputs):
        return np.asarray(getattr(inputs, "value", inputs), np.float32)

    def forward(self, ctx, inputs, training):
        return self.compute(inputs)

    def backward(self, ctx, dy, need_input_grad=True):
        return dy if need_input_grad else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


# ------------------------------------------------------- features, crosses

class Cross:
    """A cross of features: their (preprocessed) values hashed together
    into ``crossing_dim`` bins."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in {"int", "one_hot"}:
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of "
                             f"{{'int', 'one_hot'}}. Received: output_mode={output_mode}")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self):
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Feature:
    """A column: its input dtype, the layer that preprocesses it, and how
    its output is encoded ('int', 'one_hot' or 'float')."""

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of "
                             f"{{'int', 'one_hot', 'float'}}. Received: "
                             f"output_mode={output_mode}")
        self.dtype = dtype
        if isinstance(preprocessor, dict):
            if preprocessor.get("class_name") == _IDENTITY:
                preprocessor = _Identity(name=preprocessor.get("config", {}).get("name"))
            else:
                from .. import utils
                preprocessor = utils.deserialize_keras_object(preprocessor)
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self):
        from .. import utils
        if isinstance(self.preprocessor, _Identity):  # Keras's name for it
            preprocessor = {"module": "keras.src.layers.preprocessing.feature_space",
                            "class_name": _IDENTITY, "registered_name": None,
                            "config": {"name": self.preprocessor.name, "dtype": "float32"}}
        else:
            preprocessor = utils.serialize_keras_object(self.preprocessor)
        return {"dtype": self.dtype, "preprocessor": preprocessor,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class FeatureSpace:
    """Keras's FeatureSpace (see the module's docstring).

    ``features`` maps each column name to a :class:`Feature` (from the
    class methods below) or to one of the names 'float',
    'float_normalized', 'float_rescaled', 'float_discretized',
    'integer_categorical', 'string_categorical', 'integer_hashed',
    'string_hashed'.  ``crosses``: Cross objects or tuples of feature names
    (crossed into ``crossing_dim`` bins).  ``output_mode`` 'concat' gives
    one float32 array, 'dict' one array per feature and cross."""

    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        name = name or _auto_name("float")
        return Feature("float32", _Identity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        name = name or _auto_name("float_rescaled")
        return Feature("float32", layers_mod.Rescaling(scale=scale, offset=offset,
                                                       name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name=None):
        name = name or _auto_name("float_normalized")
        return Feature("float32", layers_mod.Normalization(axis=-1,
                                                           name=f"{name}_preprocessor"),
                       "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot",
                          name=None):
        name = name or _auto_name("float_discretized")
        return Feature("float32", layers_mod.Discretization(
            num_bins=num_bins, bin_boundaries=bin_boundaries, name=f"{name}_preprocessor"),
            output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                            name=None):
        name = name or _auto_name("integer_categorical")
        return Feature("int32", layers_mod.IntegerLookup(
            name=f"{name}_preprocessor", max_tokens=max_tokens,
            num_oov_indices=num_oov_indices), output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                           name=None):
        name = name or _auto_name("string_categorical")
        return Feature("string", layers_mod.StringLookup(
            name=f"{name}_preprocessor", max_tokens=max_tokens,
            num_oov_indices=num_oov_indices), output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or _auto_name("string_hashed")
        return Feature("string", layers_mod.Hashing(name=f"{name}_preprocessor",
                                                    num_bins=num_bins), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or _auto_name("integer_hashed")
        return Feature("int32", layers_mod.Hashing(name=f"{name}_preprocessor",
                                                   num_bins=num_bins), output_mode)

    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32,
                 hashing_dim=32, num_discretization_bins=32, name=None):
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        self.name = name or _auto_name("feature_space")
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {name: self._standardize_feature(name, value)
                         for name, value in features.items()}
        self.crosses = []
        for cross in crosses or ():
            if isinstance(cross, dict):
                cross = Cross.from_config(cross.get("config", cross))
            if not isinstance(cross, Cross):
                if not crossing_dim:
                    raise ValueError("When specifying `crosses`, the argument `crossing_dim` "
                                     "(dimensionality of the crossing space) should be "
                                     "specified as well.")
                unknown = [k for k in cross if k not in features]
                if unknown:
                    raise ValueError(f"All features referenced in the `crosses` argument "
                                     f"should be present in the `features` dict. Received "
                                     f"unknown features: {cross}")
                cross = Cross(cross, crossing_dim=crossing_dim)
            self.crosses.append(cross)
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        if output_mode not in {"dict", "concat"}:
            raise ValueError(f"Invalid value for argument `output_mode`. Expected one of "
                             f"{{'dict', 'concat'}}. Received: output_mode={output_mode}")
        self.output_mode = output_mode
        self.inputs = {name: layers_mod.Input(shape=(1,), dtype=feature.dtype, name=name)
                       for name, feature in self.features.items()}
        self.preprocessors = {name: f.preprocessor for name, f in self.features.items()}
        self.crossers = {cross.name: HashedCrossing(cross.crossing_dim, name=cross.name)
                         for cross in self.crosses}
        self.one_hot_encoders = {}
        self.encoded_features = None
        self.concat = None
        self._is_adapted = False
        self._built = False

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return Feature.from_config(feature.get("config", feature))
        makers = {"float": lambda: self.float(name=name),
                  "float_normalized": lambda: self.float_normalized(name=name),
                  "float_rescaled": lambda: self.float_rescaled(name=name),
                  "float_discretized": lambda: self.float_discretized(
                      name=name, num_bins=self.num_discretization_bins),
                  "integer_categorical": lambda: self.integer_categorical(name=name),
                  "string_categorical": lambda: self.string_categorical(name=name),
                  "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
                  "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name)}
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(f"Invalid feature type: {feature}")
        return makers[feature]()

    # ------------------------------------------------------------ adapting

    def _adaptable(self):
        names = []
        for name in self.features:
            p = self.preprocessors[name]
            if isinstance(p, layers_mod.Normalization) and p.input_mean is not None:
                continue  # given its mean and variance
            if isinstance(p, layers_mod.Discretization) and \
                    getattr(p, "bin_boundaries", None) is not None:
                continue  # given its boundaries
            if hasattr(p, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset):
        """Adapt each column's preprocessing layer (the normalization's
        mean and variance, the vocabularies, the bin boundaries) to the
        column in ``dataset``: a Dataset of dicts (rows or batches) or a
        dict of arrays."""
        from .dataset import Dataset
        if not isinstance(dataset, Dataset):
            if not isinstance(dataset, dict):
                raise ValueError(f"`adapt()` can only be called on a Dataset or a dict of "
                                 f"arrays/lists. Received instead: {dataset!r} (of type "
                                 f"{type(dataset).__name__})")
            dataset = Dataset.from_tensor_slices(dataset)
        for name in self._adaptable():
            column = dataset.map(lambda x, name=name: x[name])
            first = np.asarray(next(iter(column)))
            if first.ndim == 0:  # rows: batched for adapt
                column = column.batch(32)
            if first.ndim in (0, 1):
                column = column.map(lambda x: np.expand_dims(np.asarray(x), -1))
            self.preprocessors[name].adapt(column)
        self._is_adapted = True
        self.get_encoded_features()
        self._built = True

    def _check_if_adapted(self):
        if not self._is_adapted:
            if self._adaptable():
                raise ValueError("You need to call `.adapt(dataset)` on the FeatureSpace "
                                 "before you can start using it.")
            self._is_adapted = True

    def _check_if_built(self):
        if not self._built:
            self._check_if_adapted()
            self.get_encoded_features()
            self._built = True

    # ------------------------------------------------------------- encoding

    def get_inputs(self):
        """The model inputs (one pynn.Input per feature, by name)."""
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        """The encoded features as symbolic tensors of the inputs (one
        tensor in 'concat' mode, a dict in 'dict' mode)."""
        self._check_if_adapted()
        if self.encoded_features is None:
            pre = self._preprocess(self.inputs)
            self.encoded_features = self._merge(pre, self._cross(pre))
        return self.encoded_features

    def _preprocess(self, features):
        return {name: self.preprocessors[name](features[name]) for name in features}

    def _cross(self, features):
        return {c.name: self.crossers[c.name]([features[n] for n in c.feature_names])
                for c in self.crosses}

    def _merge(self, preprocessed, crossed):
        names = sorted(preprocessed) + sorted(crossed)
        values = [preprocessed[n] for n in sorted(preprocessed)] + \
            [crossed[n] for n in sorted(crossed)]
        specs = [self.features[n] for n in sorted(preprocessed)] + \
            [self.crosses_by_name[n] for n in sorted(crossed)]
        out = {}
        for name, value, spec in zip(names, values, specs):
            if spec.output_mode == "one_hot":
                encoder = self.one_hot_encoders.get(name)
                if encoder is None:
                    encoder = self._one_hot_encoder(name, value)
                value = encoder(value)
            if self.output_mode == "concat":
                dtype = str(value.dtype)
                if dtype.startswith("int") or dtype in ("string", "object") or \
                        dtype.startswith("<U"):
                    raise ValueError(f"Cannot concatenate features because feature {name!r} "
                                     f"has not been encoded (it has dtype {dtype}). Consider "
                                     f"using `output_mode='dict'`.")
            out[name] = value
        if self.output_mode == "dict":
            return out
        if self.concat is None:
            self.concat = layers_mod.Concatenate(axis=-1)
        return self.concat([out[n] for n in names])

    def _one_hot_encoder(self, name, value):
        dtype = str(value.dtype)
        if not dtype.startswith("int"):
            raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. Thus its "
                             f"preprocessor should return an integer dtype. Instead it "
                             f"returns a {dtype} dtype.")
        p = self.preprocessors.get(name) or self.crossers.get(name)
        if isinstance(p, (layers_mod.IntegerLookup, layers_mod.StringLookup)):
            cardinality = p.vocabulary_size()
        elif isinstance(p, layers_mod.CategoryEncoding):
            cardinality = p.num_tokens
        elif isinstance(p, (layers_mod.Discretization, HashedCrossing, layers_mod.Hashing)):
            cardinality = p.num_bins
        else:
            raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. However it isn't "
                             f"a standard feature and the dimensionality of its output space "
                             f"is not known, thus it cannot be one-hot encoded. Try using "
                             f"`output_mode='int'`.")
        encoder = self.one_hot_encoders[name] = layers_mod.CategoryEncoding(
            num_tokens=cardinality, output_mode="multi_hot")
        return encoder

    def __call__(self, data):
        """The encoded features of ``data``: a dict of columns, each a
        batch (rank 1, or rank 2 with one column) or a single value (the
        result then has no batch axis)."""
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError(f"A FeatureSpace can only be called with a dict. Received: "
                             f"data={data!r} (of type {type(data).__name__})")
        missing = [n for n in self.features if n not in data]
        if missing:
            raise ValueError(f"FeatureSpace {self.name!r}: the data has no column(s) "
                             f"{missing}; it has {sorted(data)}")
        columns, rebatched = {}, False
        for name in self.features:
            x = data[name]
            x = np.asarray(getattr(x, "value", x))
            if x.ndim == 0:
                x, rebatched = x.reshape(1, 1), True
            elif x.ndim == 1:
                x = x[:, None]
            columns[name] = x
        pre = self._preprocess(columns)
        merged = self._merge(pre, self._cross(pre))
        if rebatched:
            if self.output_mode == "concat":
                return merged[0]
            return {n: x[0] if x.ndim == 2 and x.shape[0] == 1 else x
                    for n, x in merged.items()}
        return merged

    # --------------------------------------------------------------- config

    def get_config(self):
        return {"features": {n: {"class_name": "Feature", "config": f.get_config()}
                             for n, f in self.features.items()},
                "output_mode": self.output_mode,
                "crosses": [{"class_name": "Cross", "config": c.get_config()}
                            for c in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
