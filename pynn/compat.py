"""The few TensorFlow 1 names (``tf.compat.v1``) and ``tf.autograph``
switches that TF 2 notebooks still call in their first cell, before any
model: the log verbosity, the global seed; and tf.compat's string
conversions (``as_bytes``, ``as_text``).  ``tf.get_logger()`` and
``tf.compat.v1.logging`` are Python's ``pynn`` logger, where pynn's
messages go once interactive logging is off (the ``tensorflow`` logger's
part in TensorFlow).  ``tf.compat.v1.data.get_output_shapes`` & co. read a
dataset's element_spec, as TF 2 notebooks call them for padded_batch."""
import os
import types

from . import nn as _nn
from .backend import _eager_results
from .execution import foldl, foldr, scan
from .math import boolean_mask, gather_nd
from .random import set_seed
from .tensor import Dimension, dimension_at_index, dimension_value  # noqa: F401
from .utils.io_utils import get_logger, logger


def _namespace(name, **names):
    """A module object holding ``names`` (a name it lacks fails as a
    module's would, naming it: ``module 'pynn.compat.v1' has no
    attribute 'Session'``)."""
    module = types.ModuleType(name)
    module.__dict__.update(names)
    return module


logging = _namespace(
    "pynn.compat.v1.logging", DEBUG=10, INFO=20, WARN=30, WARNING=30, ERROR=40, FATAL=50,
    set_verbosity=logger.setLevel, get_verbosity=logger.getEffectiveLevel, log=logger.log,
    debug=logger.debug, info=logger.info, warn=logger.warning, warning=logger.warning,
    error=logger.error, fatal=logger.critical)


def _output_structure(what, leaf):
    def get(dataset_or_iterator):
        spec = getattr(dataset_or_iterator, "element_spec", None)
        if spec is None:
            raise TypeError(f"tf.compat.v1.data.get_output_{what}: expected a tf.data "
                            f"Dataset or iterator, got {type(dataset_or_iterator).__name__}")
        from .utils.dataset import _map_structure
        return _map_structure(leaf, spec)
    get.__name__ = f"get_output_{what}"
    get.__doc__ = (f"The {what} of the elements of a dataset (or an iterator over one), "
                   f"in their structure, from its element_spec (tf.compat.v1.data's "
                   f"get_output_{what}).")
    return get


def _legacy_shape(spec):
    from .tensor import TensorShape
    return TensorShape(spec.shape)


data = _namespace(
    "pynn.compat.v1.data",
    get_output_shapes=_output_structure("shapes", _legacy_shape),
    get_output_types=_output_structure("types", lambda spec: spec.dtype),
    get_output_classes=_output_structure("classes", lambda spec: spec.value_type))


# tf.compat.v1.nn's CTC functions, whose arguments differ from tf.nn's
# (SparseTensor labels and a last-class blank for the loss, merge_repeated
# for the beam search)
nn_v1 = _namespace("pynn.compat.v1.nn", ctc_loss=_eager_results(_nn._ctc_loss_v1),
                   ctc_greedy_decoder=_nn._ctc_greedy_decoder_v1,
                   ctc_beam_search_decoder=_nn._ctc_beam_search_decoder_v1)

v1 = _namespace("pynn.compat.v1", logging=logging, set_random_seed=set_seed,
                get_logger=get_logger, data=data, nn=nn_v1, scan=scan, foldl=foldl, foldr=foldr,
                boolean_mask=boolean_mask, gather_nd=gather_nd, Dimension=Dimension,
                dimension_value=dimension_value, dimension_at_index=dimension_at_index)


def _do_not_convert(func=None):
    # pynn runs a tf.function's Python as it is written: nothing to leave
    # unconverted, with or without the decorator
    return func if func is not None else (lambda f: f)


def _set_autograph_verbosity(level, alsologtostdout=False):
    # pynn converts no code, so its conversion logs nothing at any level
    if not isinstance(level, int) or level < 0:
        raise ValueError(f"autograph.set_verbosity: level must be an integer >= 0, got {level!r}")


autograph = _namespace(
    "pynn.autograph", set_verbosity=_set_autograph_verbosity,
    experimental=_namespace("pynn.autograph.experimental", do_not_convert=_do_not_convert))


def as_bytes(bytes_or_text, encoding="utf-8"):
    """``bytes_or_text`` as bytes: a str encoded, bytes (or a bytearray) as
    they are (tf.compat.as_bytes)."""
    if isinstance(bytes_or_text, bytearray):
        return bytes(bytes_or_text)
    if isinstance(bytes_or_text, str):
        return bytes_or_text.encode(encoding)
    if isinstance(bytes_or_text, bytes):
        return bytes_or_text
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


def as_text(bytes_or_text, encoding="utf-8"):
    """``bytes_or_text`` as str: bytes decoded, a str as it is
    (tf.compat.as_text, also as_str)."""
    if isinstance(bytes_or_text, str):
        return bytes_or_text
    if isinstance(bytes_or_text, bytes):
        return bytes_or_text.decode(encoding)
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


as_str = as_text


def path_to_str(path):
    """A path-like object's str (tf.compat.path_to_str); anything else as
    it is."""
    return os.fspath(path) if isinstance(path, os.PathLike) else path
