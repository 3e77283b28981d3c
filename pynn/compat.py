"""The few TensorFlow 1 names (``tf.compat.v1``) and ``tf.autograph``
switches that TF 2 notebooks still call in their first cell, before any
model: the log verbosity, the global seed; and tf.compat's string
conversions (``as_bytes``, ``as_text``).  ``tf.get_logger()`` and
``tf.compat.v1.logging`` are Python's ``pynn`` logger, where pynn's
messages go once interactive logging is off (the ``tensorflow`` logger's
part in TensorFlow)."""
import os
import types

from . import nn as _nn
from .backend import _eager_results
from .execution import foldl, foldr, scan
from .math import boolean_mask, gather_nd
from .random import set_seed
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


# tf.compat.v1.nn's CTC functions, whose arguments differ from tf.nn's
# (SparseTensor labels and a last-class blank for the loss, merge_repeated
# for the beam search)
nn_v1 = _namespace("pynn.compat.v1.nn", ctc_loss=_eager_results(_nn._ctc_loss_v1),
                   ctc_greedy_decoder=_nn._ctc_greedy_decoder_v1,
                   ctc_beam_search_decoder=_nn._ctc_beam_search_decoder_v1)

v1 = _namespace("pynn.compat.v1", logging=logging, set_random_seed=set_seed,
                get_logger=get_logger, nn=nn_v1, scan=scan, foldl=foldl, foldr=foldr,
                boolean_mask=boolean_mask, gather_nd=gather_nd)


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
