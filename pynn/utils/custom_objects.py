"""User functions in configs: how a Lambda's function, a custom activation
or a custom loss is described in a layer config, and found again.

A config holds a function by name only, never its code:
``{'module': 'mymodule', 'class_name': 'function', 'config': 'my_fn',
'registered_name': 'my_fn'}`` (Keras 3's form).  In memory the description
also carries the function itself, so ``clone_model`` and
``from_config(get_config())`` give the same function back.  A function
defined inside another (a closure such as ``create_huber(2.0)``'s
``huber_fn``) is described by its own name, as Keras does, and is found
again only through the custom objects; a lambda has no name and is
described as ``'__lambda__'``, which cannot be written to a model file.

Reading a description back looks in the custom objects (the
``custom_objects=`` of the loading call, :func:`custom_object_scope`,
:func:`get_custom_objects`, :func:`register_keras_serializable`), then
among the functions of pynn's array modules (pynn.ops, pynn.backend...).
Importing any other module named by a config runs its code, so that
happens only outside safe mode (``load_model(..., safe_mode=False)``, for
files one trusts).
"""
import importlib
import inspect
import threading

_GLOBAL_CUSTOM_OBJECTS = {}
# Each registered object's 'package>name', for get_registered_name.
_GLOBAL_CUSTOM_NAMES = {}
_local = threading.local()
# pynn's modules of pure functions of arrays: safe mode finds their
# functions by name (and nothing else of theirs).
_SAFE_MODULES = frozenset({"pynn.ops", "pynn.backend", "pynn.activations", "pynn.losses",
                           "pynn.metrics", "pynn.random"})


class FunctionRef(dict):
    """A function's JSON description that, in memory, keeps the function."""

    def __init__(self, description, function):
        super().__init__(description)
        self.function = function

    def __deepcopy__(self, memo):
        return FunctionRef(dict(self), self.function)


def get_custom_objects():
    """The process-wide dict of custom objects by name (Keras's)."""
    return _GLOBAL_CUSTOM_OBJECTS


class CustomObjectScope:
    """``with custom_object_scope({'name': obj}):`` the names resolve to
    these objects while configs are read."""

    def __init__(self, *objects):
        self.objects = {}
        for d in objects:
            self.objects.update(d or {})

    def __enter__(self):
        self._saved = getattr(_local, "objects", None)
        _local.objects = {**(self._saved or {}), **self.objects}
        return self

    def __exit__(self, *exc):
        _local.objects = self._saved


custom_object_scope = CustomObjectScope


_unsafe_everywhere = False


def enable_unsafe_deserialization():
    """Turn safe mode off for every load that follows (Keras 3's
    ``keras.config.enable_unsafe_deserialization``): configs may import the
    modules they name, whatever ``safe_mode`` a load is given."""
    global _unsafe_everywhere
    _unsafe_everywhere = True


class SafeModeScope:
    """Whether reading configs may import the modules they name."""

    def __init__(self, safe_mode=True):
        self.safe_mode = bool(safe_mode) and not _unsafe_everywhere

    def __enter__(self):
        self._saved = getattr(_local, "safe_mode", None)
        _local.safe_mode = self.safe_mode
        return self

    def __exit__(self, *exc):
        _local.safe_mode = self._saved


def in_safe_mode():
    """True unless a ``SafeModeScope(False)`` is active."""
    mode = getattr(_local, "safe_mode", None)
    return True if mode is None else mode


def register_keras_serializable(package="Custom", name=None):
    """Decorator registering a class or function under ``'package>name'``
    (``name`` defaults to its own name), as Keras 3 does; configs that name
    it by its bare name find it too.  A class needs a ``get_config``
    method."""
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a non-empty string "
                         f"without '>', got {package!r}")
    if name is not None and (not isinstance(name, str) or not name or ">" in name):
        raise ValueError(f"register_keras_serializable: name must be a non-empty string "
                         f"without '>', got {name!r}")

    def register(obj):
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: cannot register the class "
                             f"{obj.__name__}, which has no get_config() method")
        registered = f"{package}>{name or obj.__name__}"
        _GLOBAL_CUSTOM_OBJECTS[registered] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj
    return register


def get_registered_name(obj):
    """The name ``obj`` was registered under ('package>name'), else its
    own ``__name__``."""
    try:
        registered = _GLOBAL_CUSTOM_NAMES.get(obj)
    except TypeError:  # an unhashable object is never registered
        registered = None
    return registered if registered is not None else obj.__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered under ``name``: from the active
    custom_object_scope, the registered objects, then ``custom_objects``
    and ``module_objects``; None when none has it."""
    scoped = getattr(_local, "objects", None) or {}
    for table in (scoped, _GLOBAL_CUSTOM_OBJECTS, custom_objects or {}, module_objects or {}):
        if name in table:
            return table[name]
    return None


def lookup(name):
    """A custom object by name, from the active scope or the global dict;
    a bare name also finds an object registered as 'package>name'."""
    scoped = getattr(_local, "objects", None) or {}
    if name in scoped:
        return scoped[name]
    found = _GLOBAL_CUSTOM_OBJECTS.get(name)
    if found is None and isinstance(name, str) and ">" not in name:
        suffix = ">" + name
        for key, obj in list(_GLOBAL_CUSTOM_OBJECTS.items()):
            if isinstance(key, str) and key.endswith(suffix):
                return obj
    return found


def _is_anonymous(fn):
    qualname = getattr(fn, "__qualname__", "")
    return (not qualname or "<lambda>" in qualname
            or getattr(fn, "__module__", None) is None)


def serialize_function(fn):
    """The config entry for a Python function (see the module docstring)."""
    if isinstance(fn, FunctionRef):
        return fn
    if not callable(fn):
        raise TypeError(f"expected a function, got {type(fn).__name__}")
    registered = _GLOBAL_CUSTOM_NAMES.get(fn) if getattr(fn, "__hash__", None) else None
    if registered is None and (not hasattr(fn, "__qualname__") or _is_anonymous(fn)):
        code = getattr(fn, "__code__", None)
        where = f"{code.co_filename}:{code.co_firstlineno}" if code is not None else \
            type(fn).__name__
        return FunctionRef({"class_name": "__lambda__",
                            "config": {"name": getattr(fn, "__qualname__", repr(fn)),
                                       "defined_at": where}}, fn)
    # A registered function is found again by the name it is registered
    # under; one defined inside another by its own name (its qualified name
    # holds '<locals>', which names nothing a loader could find).
    name = fn.__name__ if registered is not None or "<locals>" in fn.__qualname__ \
        else fn.__qualname__
    # Keras finds a function by its config alone (registered_name is read
    # for classes only), so a registered one is written by the name it is
    # registered under, as Keras writes it ('package>name').
    return FunctionRef({"module": fn.__module__, "class_name": "function",
                        "config": registered or name, "registered_name": registered or name},
                       fn)


def get_object(identifier, what, base, by_name, wrap_function, expected, from_name=None):
    """The ``base`` object (a regularizer, a constraint) an identifier
    names, as Keras's ``get`` functions read them: None, an instance, a
    built-in name in ``by_name`` (made by ``from_name``, else with no
    arguments), a custom object's name, a config dict (built-in or custom
    class), a function description, a ``base`` subclass, or a function of
    the weights (wrapped by ``wrap_function``).  ``expected`` ends the error
    for anything else."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        if identifier in by_name:
            return (from_name or (lambda name: by_name[name]()))(identifier)
        custom = lookup(identifier)
        if custom is not None:
            return get_object(custom, what, base, by_name, wrap_function, expected, from_name)
    elif is_function_description(identifier):
        return wrap_function(deserialize_function(identifier, what))
    elif isinstance(identifier, dict):
        name, config = identifier.get("class_name"), identifier.get("config") or {}
        if name in by_name:
            return by_name[name].from_config(config)
        for key in (identifier.get("registered_name"), name):
            custom = lookup(key) if isinstance(key, str) else None
            if isinstance(custom, type) and issubclass(custom, base):
                return custom.from_config(config)
        if isinstance(name, str):
            raise ValueError(f"Unknown {what} {name!r}: a custom {what} is found "
                             f"through custom_objects={{{name!r}: {name}}}")
    elif isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    elif callable(identifier):
        return wrap_function(identifier)
    raise ValueError(f"Unknown {what} {identifier!r}; expected {expected}")


def serialize_object(obj, function_type, by_name):
    """The config entry of what get_object reads back: None, a function
    (wrapped in ``function_type``) as its description, a built-in class in
    ``by_name`` by class name and config, a custom class also with its
    module and registered name."""
    if obj is None:
        return None
    if isinstance(obj, function_type):
        return serialize_function(obj.function)
    if callable(obj) and not hasattr(obj, "get_config"):   # (a plain function)
        return serialize_function(obj)
    cls = type(obj)
    if cls in by_name.values():
        return {"class_name": cls.__name__, "config": obj.get_config()}
    return {"module": cls.__module__, "class_name": cls.__name__,
            "config": obj.get_config(), "registered_name": cls.__name__}


def is_function_description(value):
    return isinstance(value, dict) and value.get("class_name") in ("function", "__lambda__")


def deserialize_function(value, who):
    """The function a config entry describes (a FunctionRef, a description
    dict or a bare name); ``who`` names the layer or setting in errors."""
    if isinstance(value, FunctionRef):
        return value.function
    if callable(value):
        return value
    if isinstance(value, str):
        found = lookup(value)
        if found is None:
            raise ValueError(f"{who}: unknown function {value!r}; pass it in "
                             f"custom_objects={{{value!r}: {value}}}")
        return found
    if not is_function_description(value):
        raise ValueError(f"{who}: expected a function description, got {value!r}")
    if value["class_name"] == "__lambda__":
        cfg = value.get("config") or {}
        raise ValueError(f"{who} was built with the anonymous function {cfg.get('name')!r} "
                         f"({cfg.get('defined_at', 'unknown place')}); pynn never stores code, "
                         f"so it cannot be rebuilt from a config. Define the function with "
                         f"def at module level, or rebuild the layer in code")
    name = value.get("config")
    module = value.get("module")
    if not isinstance(name, str) or not (module is None or isinstance(module, str)):
        raise ValueError(f"{who}: a function description needs a name and a module, got "
                         f"{value!r}")
    for key in (value.get("registered_name"), name, name.rsplit(".", 1)[-1],
                name.rsplit(">", 1)[-1]):
        if isinstance(key, str):
            found = lookup(key)
            if found is not None:
                return found
    if in_safe_mode() and module in _SAFE_MODULES and "." not in name:
        obj = getattr(importlib.import_module(module), name, None)
        if callable(obj) and getattr(obj, "__module__", "") in _SAFE_MODULES:
            return obj
    if module is None or in_safe_mode():
        raise ValueError(
            f"{who}: the config names the function {name!r} of module {module!r}. Safe mode "
            f"does not import code a config names: pass custom_objects={{{name!r}: {name}}}, "
            f"or load with safe_mode=False if you trust the file")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{who}: cannot find the function {name!r} in module {module!r} "
                         f"({e}); pass it in custom_objects") from None
    if not callable(obj):
        raise ValueError(f"{who}: {module}.{name} is not a function")
    return obj
