"""Keras 2's ``keras.engine``: the base Layer, InputSpec, Input and Model
(``from keras.engine.topology import Layer`` in custom layers)."""
from ..layers import Input, InputLayer, InputSpec, Layer  # noqa: F401
from ..models import Model  # noqa: F401
from ..utils import get_source_inputs  # noqa: F401
