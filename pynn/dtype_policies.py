"""Keras 3's dtype policies (``keras.dtype_policies``): the dtype a layer
keeps its variables in and the one it computes in, by name.

pynn keeps variables and computes in float32.  The mixed policies
("mixed_float16", "mixed_bfloat16") are accepted and report what Keras
reports (variables float32, computation float16 or bfloat16), so programs
written for mixed precision run unchanged, and the files they save load in
Keras with the same policies; pynn has no half-precision kernels, so their
layers compute in float32, which is at least as accurate.  A policy that
would keep the variables in another dtype ("float16", "float64") is
refused by name."""

# name -> (variable dtype, compute dtype, as Keras reports them)
_POLICIES = {"float32": ("float32", "float32"),
             "mixed_float16": ("float32", "float16"),
             "mixed_bfloat16": ("float32", "bfloat16")}
# The class names Keras writes a float policy under (Keras 2 wrote Policy).
_CLASS_NAMES = ("DTypePolicy", "FloatDTypePolicy", "Policy")


class DTypePolicy:
    """A dtype policy by name: ``DTypePolicy("mixed_float16")``."""

    def __init__(self, name=None):
        if name is None:
            name = _global_policy.name if _global_policy is not None else "float32"
        if not isinstance(name, str):
            try:
                import numpy as np
                name = np.dtype(name).name
            except TypeError:
                raise ValueError(f"DTypePolicy: a policy name must be a string, got "
                                 f"{name!r}") from None
        if name not in _POLICIES:
            raise ValueError(f"DTypePolicy: pynn keeps variables in float32; it takes the "
                             f"policies {sorted(_POLICIES)}, got {name!r}")
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def variable_dtype(self):
        return _POLICIES[self._name][0]

    @property
    def compute_dtype(self):
        return _POLICIES[self._name][1]

    @property
    def quantization_mode(self):
        return None

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'


FloatDTypePolicy = DTypePolicy


class QuantizedDTypePolicy(DTypePolicy):
    """The policy of a layer ``model.quantize(mode)`` quantized: named
    ``"<mode>_from_<source>"`` ("int8_from_float32"); its variables and
    computation are the source policy's, its kernel is int8."""

    def __init__(self, mode, source_name=None):
        if mode != "int8":
            raise ValueError(f"QuantizedDTypePolicy: pynn quantizes to 'int8' only, got "
                             f"mode {mode!r}")
        source = DTypePolicy(source_name)
        super().__init__(source.name)
        self._mode = mode

    @property
    def name(self):
        return f"{self._mode}_from_{self._name}"

    @property
    def quantization_mode(self):
        return self._mode

    def get_config(self):
        return {"mode": self._mode, "source_name": self._name}

    def __eq__(self, other):
        return isinstance(other, QuantizedDTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<QuantizedDTypePolicy "{self.name}">'


_global_policy = None


def get(identifier, who=None):
    """A DTypePolicy from a policy, a name (a NumPy dtype too), Keras's
    serialized dict, or None (the global policy).  ``who`` names the layer
    in the error."""
    if isinstance(identifier, DTypePolicy):
        return identifier
    try:
        if identifier is None:
            return dtype_policy()
        if isinstance(identifier, dict):
            return deserialize(identifier)
        if isinstance(identifier, str) and "_from_" in identifier:
            return QuantizedDTypePolicy(*identifier.split("_from_", 1))
        return DTypePolicy(identifier)
    except ValueError as e:
        if who is None:
            raise
        raise ValueError(f"{who}: {e}") from None


def serialize(policy):
    """Keras 3's form of a policy in configs and files."""
    if isinstance(policy, QuantizedDTypePolicy):
        return {"module": "keras.dtype_policies", "class_name": "QuantizedDTypePolicy",
                "config": policy.get_config(), "registered_name": None}
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(),
            "registered_name": None}


def deserialize(config):
    if isinstance(config, dict) and config.get("class_name") == "QuantizedDTypePolicy":
        return QuantizedDTypePolicy(**dict(config.get("config") or {}))
    if not isinstance(config, dict) or config.get("class_name") not in _CLASS_NAMES:
        what = config.get("class_name") if isinstance(config, dict) else config
        raise ValueError(f"the dtype policy {what!r} is not one pynn has; it takes "
                         f"DTypePolicy {sorted(_POLICIES)}")
    return DTypePolicy.from_config(dict(config.get("config") or {}))


def set_dtype_policy(policy):
    """The policy of the layers created from now on (Keras's
    ``keras.config.set_dtype_policy``, ``mixed_precision.set_global_policy``)."""
    global _global_policy
    _global_policy = None if policy is None else get(policy)


def dtype_policy():
    """The global policy (float32 unless set)."""
    return _global_policy if _global_policy is not None else DTypePolicy("float32")


__all__ = ["DTypePolicy", "FloatDTypePolicy", "QuantizedDTypePolicy", "get", "serialize", "deserialize",
           "set_dtype_policy", "dtype_policy"]
