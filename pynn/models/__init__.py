"""Models: the graph (Model, the functional API), Sequential, loading,
cloning."""
from .cloning import clone_model
from .functional import Functional, Model
from .sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model saved with ``model.save``, compiled and with its optimizer
    state, ready to continue training."""
    from .. import saving
    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                             safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, **kwargs):
    """``model.save(filepath)`` as a function (Keras's keras.models.save_model)."""
    model.save(filepath, overwrite=overwrite, **kwargs)


def model_from_config(config, custom_objects=None):
    """A model from the config ``model.get_config()`` returned, or from
    ``{'class_name': ..., 'config': ...}``."""
    from .. import saving
    if isinstance(config, dict) and "class_name" not in config and "input_layers" in config:
        config = {"class_name": "Functional", "config": config}
    return saving.model_from_config(config, custom_objects)


def model_from_json(json_string, custom_objects=None):
    """A model from ``model.to_json()``."""
    import json
    try:
        config = json.loads(json_string)
    except ValueError as e:
        raise ValueError(f"model_from_json: not valid JSON: {e}") from None
    return model_from_config(config, custom_objects)


def model_from_yaml(yaml_string, custom_objects=None):
    """Removed from TensorFlow 2.6 on, because a YAML config could run
    arbitrary code: raises ``RuntimeError`` as tf.keras does, pointing to
    ``model_from_json``."""
    raise RuntimeError("Method `model_from_yaml()` has been removed due to security risk of "
                       "arbitrary code execution. Please use `Model.to_json()` and "
                       "`model_from_json()` instead.")


__all__ = ["Model", "Functional", "Sequential", "load_model", "save_model", "clone_model",
           "model_from_config", "model_from_json", "model_from_yaml"]
