"""TensorFlow's ``tf.saved_model`` for pynn models: ``save(model, dir)``
writes a folder holding the model in pynn's own format (TensorFlow's
protocol buffers need TensorFlow to read them), ``load(dir)`` gives back a
callable with the same outputs and TensorFlow's ``signatures
["serving_default"]``, which takes the inputs by name and returns a dict
of the outputs by name.  ``model.save("folder")`` (a name without a
suffix, or ``save_format="tf"``) writes the same folder, as tf.keras 2
wrote a SavedModel, and ``load_model("folder")`` reads it back as a
model.  Nothing here pickles or runs code from the folder."""
import os

# The file in the folder that holds the model (pynn's format).
MODEL_FILE = "pynn_model.pynn"
SERVING = "serving_default"


def _model_path(export_dir):
    return os.path.join(os.fspath(export_dir), MODEL_FILE)


def contains_saved_model(export_dir):
    """Whether ``export_dir`` is a folder that ``save`` wrote."""
    return os.path.isfile(_model_path(export_dir))


def write(model, export_dir, overwrite=True):
    """The folder ``export_dir`` with the whole model inside (made if
    missing; the model file is written atomically)."""
    from .saving import pynn_format
    export_dir = os.fspath(export_dir)
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise ValueError(f"tf.saved_model.save: {export_dir!r} exists and is not a folder")
    path = _model_path(export_dir)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save: {export_dir!r} already holds a saved model and "
                              f"overwrite=False")
    os.makedirs(export_dir, exist_ok=True)
    pynn_format.save_model(model, path, True)


def read_model(export_dir, custom_objects=None, compile=True):
    """The model in a folder that ``save`` (or ``model.save``) wrote."""
    from .saving import pynn_format
    if not contains_saved_model(export_dir):
        raise ValueError(f"load: {os.fspath(export_dir)!r} is not a folder written by pynn's "
                         f"tf.saved_model.save or model.save (it has no {MODEL_FILE!r}); "
                         f"a SavedModel written by TensorFlow holds protocol buffers that "
                         f"need TensorFlow to read them")
    return pynn_format.load_model(_model_path(export_dir), custom_objects, compile)


def save(obj, export_dir, signatures=None, options=None):
    """Write the pynn model ``obj`` to the folder ``export_dir``.
    ``signatures``, if given, must be the model itself or its call (pynn
    serves the model's call as ``serving_default``)."""
    from .models.functional import Model
    if not isinstance(obj, Model):
        raise TypeError(f"tf.saved_model.save: pynn saves models (pynn.Model, Sequential), "
                        f"got {type(obj).__name__}")
    if signatures is not None:
        fns = signatures.values() if isinstance(signatures, dict) else [signatures]
        for fn in fns:
            target = getattr(fn, "python_function", fn)
            if target is not obj and getattr(target, "__self__", None) is not obj:
                raise ValueError("tf.saved_model.save: pynn serves the model's own call; "
                                 "signatures must be the model or its call")
    write(obj, export_dir)


class _Signature:
    """``signatures["serving_default"]``: the model called on its inputs
    given by name (keywords), its outputs as a dict by name."""

    def __init__(self, model):
        self._model = model
        self.input_names = list(model.input_names)
        self.output_names = list(model.output_names)

    def __call__(self, *args, **kwargs):
        if args:
            raise TypeError(f"serving_default takes its inputs by name (keywords "
                            f"{self.input_names}), got {len(args)} positional argument(s)")
        missing = [n for n in self.input_names if n not in kwargs]
        extra = [n for n in kwargs if n not in self.input_names]
        if missing or extra:
            raise TypeError(f"serving_default takes the inputs {self.input_names}; missing "
                            f"{missing}, unexpected {extra}")
        xs = [kwargs[n] for n in self.input_names]
        out = self._model(xs if len(xs) > 1 else xs[0], training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return dict(zip(self.output_names, outs))

    @property
    def structured_outputs(self):
        return {n: None for n in self.output_names}


class LoadedModel:
    """What ``tf.saved_model.load`` gives: callable as the model was
    (``loaded(x)``, ``training`` too), with ``signatures``, the model's
    ``variables`` and ``trainable_variables``."""

    def __init__(self, model):
        self._model = model
        self.signatures = {SERVING: _Signature(model)}

    def __call__(self, inputs, training=False, mask=None):
        return self._model(inputs, training=training)

    @property
    def variables(self):
        return list(self._model.weights)

    @property
    def trainable_variables(self):
        return list(self._model.trainable_weights)

    @property
    def non_trainable_variables(self):
        return list(self._model.non_trainable_weights)


def load(export_dir, tags=None, options=None):
    """The model that ``save`` wrote to ``export_dir``, as a callable with
    ``signatures``."""
    return LoadedModel(read_model(export_dir, compile=False))


__all__ = ["save", "load", "contains_saved_model", "SERVING"]
