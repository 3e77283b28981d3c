"""Keras 3's ``serialize_keras_object`` / ``deserialize_keras_object``: any
object of the Keras API (a layer or model, a loss, an optimizer, an
initializer, a regularizer, a constraint, a metric, a registered class or
function) as a JSON-ready dict and back, in Keras 3's form::

    {"module": "keras.layers", "class_name": "Dense", "config": {...},
     "registered_name": None}

Plain values (None, numbers, strings, lists, tuples, dicts) pass through
with their contents converted; NumPy arrays become Keras's ``__numpy__``
entries.  Reading a config never runs code it carries: classes and
functions come from pynn, the registered objects and ``custom_objects``
(safe mode refuses to import any other module, as load_model does).
"""
import importlib
import inspect

import numpy as np

from ..utils.custom_objects import (SafeModeScope, custom_object_scope, deserialize_function,
                                    get_registered_name, get_registered_object, lookup,
                                    serialize_function)
from . import keras_config
from .config import deserialize_layer

_PLAIN = (str, int, float, bool)
# pynn's modules of Keras objects, by the name of Keras's public module.
_KINDS = ("layers", "models", "losses", "metrics", "optimizers", "initializers",
          "regularizers", "constraints", "activations")


def _kind(module):
    """'layers', 'losses'... for a module of pynn or Keras (keras.layers,
    keras.src.losses.losses, pynn.layers.core), else None."""
    parts = (module or "").split(".")
    if parts[0] not in ("keras", "pynn"):
        return None
    parts = parts[2:] if parts[1:2] == ["src"] else parts[1:]
    if parts and parts[0] == "optimizers" and parts[1:2] == ["schedules"]:
        return "schedules"
    return parts[0] if parts and parts[0] in _KINDS else None


def serialize_keras_object(obj):
    """``obj`` as a JSON-ready value in Keras 3's form (see the module
    docstring); pynn's layers, models, losses, metrics, optimizers,
    initializers, regularizers and constraints as Keras writes its own, so
    Keras reads them back."""
    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(),
                                                      "dtype": str(obj.dtype)}}
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.item()
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        name = _public_function_name(obj)
        if name is not None:  # as Keras writes its own functions
            return {"module": "builtins", "class_name": "function", "config": name,
                    "registered_name": "function"}
        return dict(serialize_function(obj))
    cls = type(obj)
    own = cls.__module__.startswith("pynn.") and get_registered_name(cls) == cls.__name__
    kind = _kind(cls.__module__) if own else None
    if kind in ("layers", "models") or _is_layer(obj):
        spec = keras_config.to_keras(obj)
    elif kind in _SERIALIZED_KINDS and callable(getattr(obj, "get_config", None)):
        module = "keras.optimizers.schedules" if kind == "schedules" else f"keras.{kind}"
        spec = {"module": module, "class_name": cls.__name__,
                "config": serialize_keras_object(obj.get_config()), "registered_name": None}
        if kind == "losses" and "Crossentropy" not in spec["class_name"] and \
                spec["config"].get("from_logits") is False:
            # Keras's other losses take no from_logits argument
            spec["config"] = {k: v for k, v in spec["config"].items() if k != "from_logits"}
    elif callable(getattr(obj, "get_config", None)):
        spec = {"module": cls.__module__, "class_name": cls.__name__,
                "config": serialize_keras_object(obj.get_config()), "registered_name": None}
    else:
        raise TypeError(f"serialize_keras_object: cannot serialize {cls.__name__} objects: "
                        f"they have no get_config() method")
    if not own:
        spec["registered_name"] = get_registered_name(cls)
    return spec


# pynn's modules of Keras's public functions (activations, losses, metrics).
_FUNCTION_MODULES = ("activations", "losses", "metrics")


def _public_function_name(fn):
    """The name under which ``fn`` is one of pynn's public activation, loss
    or metric functions, else None."""
    name = getattr(fn, "__name__", None)
    for module in _FUNCTION_MODULES:
        if getattr(importlib.import_module(f"pynn.{module}"), str(name), None) is fn:
            return name
    return None


def _is_layer(obj):
    from ..layers.base import Layer
    return isinstance(obj, Layer)


_SERIALIZED_KINDS = ("losses", "metrics", "optimizers", "initializers", "regularizers",
                     "constraints", "schedules")
# Keras's tables of each kind's classes and the config keys pynn reads.
_TABLES = {"losses": keras_config.LOSSES, "metrics": keras_config.METRICS,
           "optimizers": keras_config.OPTIMIZERS, "initializers": keras_config.INITIALIZERS,
           "regularizers": keras_config.REGULARIZERS, "constraints": keras_config.CONSTRAINTS}


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object a config of :func:`serialize_keras_object` (or of Keras 3's)
    describes.  Classes are found by ``registered_name`` among the
    registered objects and ``custom_objects``, then by module and
    ``class_name`` among pynn's; functions as load_model finds them (safe
    mode never imports a module a config names)."""
    with SafeModeScope(safe_mode), custom_object_scope(custom_objects):
        return _deserialize(config, dict(custom_objects or {}))


def _deserialize(config, custom_objects):
    if config is None or isinstance(config, (int, float, bool)):
        return config
    if isinstance(config, str):
        found = custom_objects.get(config)
        return found if found is not None else config
    if isinstance(config, (list, tuple)):
        items = [_deserialize(x, custom_objects) for x in config]
        return tuple(items) if isinstance(config, tuple) else items
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: cannot read a config of type "
                        f"{type(config).__name__}: {config!r}")
    class_name = config.get("class_name")
    if not isinstance(class_name, str) or "config" not in config:
        return {k: _deserialize(v, custom_objects) for k, v in config.items()}
    inner = config["config"]
    if class_name in ("__numpy__", "__tensor__"):
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "function" and (config.get("module") == "builtins" or _kind(
            config.get("module")) in _FUNCTION_MODULES):
        # one of Keras's own functions (Keras 3 writes their module as
        # 'builtins'): pynn's of that name
        for name in _FUNCTION_MODULES:
            found = getattr(importlib.import_module(f"pynn.{name}"), str(inner), None)
            if callable(found) and not isinstance(found, type):
                return found
    if class_name in ("function", "__lambda__"):
        return deserialize_function(config, "deserialize_keras_object")
    registered = config.get("registered_name")
    custom = None
    for key in (registered, class_name):
        if isinstance(key, str) and custom is None:
            custom = get_registered_object(key, custom_objects)
    if custom is None and isinstance(registered, str):
        custom = lookup(registered)
    if inspect.isfunction(custom):
        return custom
    if custom is not None:
        if _is_layer_class(custom):
            spec = keras_config.model_from_keras(config, {**custom_objects, class_name: custom})
            return deserialize_layer(spec, {**custom_objects, class_name: custom})
        inner = _deserialize(inner, custom_objects)
        from_config = getattr(custom, "from_config", None)
        return from_config(inner) if callable(from_config) else custom(**inner)
    kind = _kind(config.get("module"))
    if kind in ("layers", "models") or (kind is None and _known_layer(class_name)):
        return deserialize_layer(keras_config.model_from_keras(config, custom_objects),
                                 custom_objects)
    if kind in _TABLES or kind == "schedules":
        module = importlib.import_module("pynn.optimizers.schedules" if kind == "schedules"
                                         else f"pynn.{kind}")
        if class_name in _TABLES.get(kind, ()):
            # Keras's config, its settings pynn lacks checked and dropped
            spec = keras_config._Translator(custom_objects).object(config, _TABLES[kind],
                                                                   f"the {kind[:-1]}")
            return getattr(module, spec["class_name"]).from_config(spec["config"])
        cls = getattr(module, class_name, None)
        if isinstance(cls, type) and callable(getattr(cls, "from_config", None)):
            return cls.from_config(_deserialize(inner, custom_objects))
    raise ValueError(f"deserialize_keras_object: unknown class {class_name!r} (module "
                     f"{config.get('module')!r}, registered as {registered!r}); register it "
                     f"with register_keras_serializable or pass custom_objects="
                     f"{{{class_name!r}: {class_name}}}")


def _is_layer_class(cls):
    from ..layers.base import Layer
    return isinstance(cls, type) and issubclass(cls, Layer)


def _known_layer(class_name):
    return class_name in keras_config.LAYERS or class_name in keras_config.MODELS
