"""Keras 2's ``layers.experimental`` names, where tf.keras 2.x programs
find them (``layers.experimental.RandomFourierFeatures``,
``layers.experimental.preprocessing.Rescaling``, ``from
tensorflow.keras.layers.experimental import preprocessing``): the same
layers as ``pynn.layers``."""
import sys
import types

from .core import EinsumDense, RandomFourierFeatures
from .normalization import SyncBatchNormalization

# tf.keras 2.3-2.8 kept the preprocessing layers here before they moved
# to keras.layers.
_PREPROCESSING = ("CategoryEncoding", "CenterCrop", "Discretization", "HashedCrossing",
                  "Hashing", "IntegerLookup", "Normalization", "RandomBrightness",
                  "RandomContrast", "RandomCrop", "RandomFlip", "RandomHeight",
                  "RandomRotation", "RandomTranslation", "RandomWidth", "RandomZoom",
                  "Rescaling", "Resizing", "StringLookup", "TextVectorization")


def _preprocessing():
    # (imported last by pynn.layers, which holds every name by then)
    from .. import layers
    module = types.ModuleType(__name__ + ".preprocessing",
                              "Keras 2's layers.experimental.preprocessing names.")
    for name in _PREPROCESSING:
        setattr(module, name, getattr(layers, name))
    return module


preprocessing = _preprocessing()
# importable by its path too (``from tensorflow.keras.layers.experimental.
# preprocessing import Rescaling``): this module holds it as a package
# holds a submodule
__path__ = []
sys.modules[preprocessing.__name__] = preprocessing

__all__ = ["EinsumDense", "RandomFourierFeatures", "SyncBatchNormalization", "preprocessing"]
