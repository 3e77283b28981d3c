"""TensorFlow's ``tf.Module``: a named container of variables and other
modules, found by walking its attributes (and the lists, tuples and dicts
in them), as TensorFlow's ``Module`` finds them.  Layers and models are
Modules, as Keras's layers are in TensorFlow."""
import functools
import re

from . import backend

# attribute names TensorFlow's walk skips (its checkpoint bookkeeping)
_IGNORED = frozenset(("_self_unconditional_checkpoint_dependencies",
                      "_self_unconditional_dependency_names"))


def _camel_to_snake(name):
    """TensorFlow's module naming: ``MyDense`` -> ``my_dense``."""
    return re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", name).lower()


class Module:
    """``tf.Module``: ``variables``, ``trainable_variables``,
    ``non_trainable_variables`` and ``submodules`` are found recursively
    through the module's attributes (sorted by attribute name, each once),
    ``name_scope`` opens a name scope of the module's name (variables made
    inside get paths under it), and ``Module.with_name_scope`` wraps a
    method in it."""

    def __init__(self, name=None):
        if name is None:
            name = _camel_to_snake(type(self).__name__)
        elif not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{name!r} is not a valid module name. Module names must be "
                             f"valid Python 3 identifiers.")
        self.name = name
        with backend.name_scope(name):
            self._scope_name = backend.current_name_scope_path()

    @property
    def name_scope(self):
        """A name scope of the module's name (TensorFlow's
        ``with self.name_scope:``)."""
        path = getattr(self, "_scope_name", None) or self.name
        parent, _, own = path.rpartition("/")
        return backend.name_scope(own, override_parent=parent)

    @property
    def variables(self):
        return [v for v, _ in _walk(self) if _is_variable(v)]

    @property
    def trainable_variables(self):
        return [v for v, trainable in _walk(self) if _is_variable(v) and trainable]

    @property
    def non_trainable_variables(self):
        return [v for v, trainable in _walk(self) if _is_variable(v) and not trainable]

    @property
    def submodules(self):
        """Every module reachable from this one (each once), not this one."""
        return [v for v, _ in _walk(self) if isinstance(v, Module)]

    @classmethod
    def with_name_scope(cls, method):
        """A method that runs inside the module's name scope."""
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)
        return wrapper


def _is_variable(v):
    from .layers.base import Weight
    return isinstance(v, Weight)


def _children(module):
    """(value, trainable) for the variables and modules held by
    ``module``'s attributes, containers flattened, in TensorFlow's order
    (attributes and dict keys sorted).  A layer's own weights are its
    ``weights``, not trainable when the layer is frozen (as Keras reports
    them); its sublayers are found by their attributes."""
    from .layers.base import Layer, Weight
    out = []

    def add(value):
        if isinstance(value, (Module, Weight)):
            out.append((value, getattr(value, "trainable", True)))
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                add(value[key])
        elif isinstance(value, (list, tuple)):
            for v in value:
                add(v)
    if isinstance(module, Layer):
        out.extend((w, w.trainable and module.trainable) for w in module.weights)
    attributes = vars(module)
    for key in sorted(attributes):
        if key not in _IGNORED and key != "_weights":
            add(attributes[key])
    return out


def _walk(module, seen=None):
    """TensorFlow's walk: a module's own values first, then each of its
    submodules' in turn, every value once."""
    seen = {id(module)} if seen is None else seen
    below = []
    for value, trainable in _children(module):
        if id(value) in seen:
            continue
        seen.add(id(value))
        yield value, trainable
        if isinstance(value, Module):
            below.append(value)
    for sub in below:
        yield from _walk(sub, seen)
