"""``tensorflow.keras``'s module paths with ``tensorflow`` renamed to
``pynn``: ``from pynn.keras.layers import Dense``, ``import pynn.keras as
keras``, ``from pynn.keras.applications.vgg16 import preprocess_input``.
``pynn.keras`` is pynn itself (``tf.keras`` after ``import pynn as tf``),
so ``pynn.keras.X.Y`` is the module ``pynn.X.Y``, or the module that
``pynn.X`` holds as its attribute ``Y``."""
import importlib
import importlib.abc
import importlib.util
import sys
import types

_PREFIX = "pynn.keras"


def _target(fullname):
    real = "pynn" + fullname[len(_PREFIX):]
    try:
        return importlib.import_module(real)
    except ImportError:
        parent, _, name = real.rpartition(".")
        try:
            owner = importlib.import_module(parent)
        except ImportError:
            return None
        found = getattr(owner, name, None)
        return found if isinstance(found, types.ModuleType) else None


class _KerasPath(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _PREFIX and not fullname.startswith(_PREFIX + "."):
            return None
        module = _target(fullname)
        if module is None:
            return None
        spec = importlib.util.spec_from_loader(fullname, self, origin=module.__name__,
                                               is_package=hasattr(module, "__path__"))
        spec._pynn_module = module
        spec._pynn_spec = module.__spec__
        return spec

    def create_module(self, spec):
        # the module under pynn's own path, unchanged (its name, spec and
        # attributes stay pynn's)
        return spec._pynn_module

    def exec_module(self, module):
        # (the import system sets every module's __spec__ to the one found:
        # pynn.utils's own is put back, or relative imports inside it warn
        # that __package__ != __spec__.parent)
        module.__spec__ = module.__spec__._pynn_spec


# First in line: pynn.keras is pynn, whose __path__ would otherwise let the
# file finder load pynn/layers/ a second time as a module named
# pynn.keras.layers (the other names it passes on at once).
if not any(isinstance(f, _KerasPath) for f in sys.meta_path):
    sys.meta_path.insert(0, _KerasPath())
