"""Sequential: a graph built by ``add``, one layer after another.

Once the input shape is known (an ``Input`` first, ``input_shape=`` on the
first layer, or the first data it sees) each added layer is called on the
current output, so a Sequential is the same graph a functional model is:
``model.input``, ``model.output`` and ``layer.output`` work on it, and it
trains and predicts through the same program.
"""
import warnings

import numpy as np

from .. import backend
from ..layers.base import InputLayer, Layer, shape_str, unique_name
from .functional import Model, input_dtype_of
from .node import KerasTensor


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Dense(...), ...])`` or
    ``model.add(layer)``."""
    # As Keras 3's, which has no input spec: called on arrays of other sizes
    # than it was built for, it runs wherever its layers can.
    _strict_input_spec = False

    def __init__(self, layers=None, trainable=True, name=None):
        Model.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        self._layers = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._layers)

    @property
    def operations(self):
        # Keras 3's Sequential is no functional model: it has none
        raise AttributeError("'Sequential' object has no attribute 'operations'")

    def add(self, layer, rebuild=True):
        """Append a layer (a model too); an ``Input`` may only come first."""
        if isinstance(layer, KerasTensor):
            h = layer._keras_history
            if h is None or not isinstance(h.operation, InputLayer):
                raise ValueError("Sequential.add: a tensor can only be added when it comes "
                                 "from pynn.Input")
            layer = h.operation
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential: an Input can only be the first layer")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, got {type(layer).__name__}")
        # The same layer may come again (its weights shared, as Keras
        # allows); two different layers may not share a name.
        if any(existing.name == layer.name and existing is not layer
               for existing in self._layers):
            raise ValueError(f"Sequential: all layer names must be unique; {layer.name!r} "
                             f"is already in the model")
        first_shape = layer._batch_input_shape
        if first_shape is None and getattr(layer, "_program", None) is not None and \
                len(layer.inputs) == 1:
            # A built model first (Sequential([encoder, decoder])): its input
            # is this model's, as in Keras.
            first_shape = layer.inputs[0].shape
        if not self._layers and self._input_layer is None and first_shape is not None \
                and len(first_shape) > 0:
            self._input_layer = InputLayer(batch_shape=first_shape,
                                           dtype=input_dtype_of(layer))
        self._layers.append(layer)
        if self._input_layer is None:
            self.built = False
            return
        try:
            if self._program is not None:
                # Extend the graph: call the new layer on the current output.
                with backend.name_scope(self.name, caller=self):
                    out = layer(self._outputs[0])
                self._init_graph(self._inputs[0], out)
            else:
                self._build_graph()
        except BaseException:
            self._layers.pop()  # (a layer that does not fit is not added)
            raise

    def pop(self, rebuild=True):
        """Remove the last layer and return it."""
        if not self._layers:
            raise ValueError("Sequential.pop: the model has no layers")
        layer = self._layers.pop()
        self._program = None
        self.built = False
        if self._layers and self._input_layer is not None:
            self._build_graph()
        return layer

    def __call__(self, inputs, *args, training=None, mask=None, **kwargs):
        try:
            return super().__call__(inputs, *args, training=training, mask=mask, **kwargs)
        except ValueError as err:
            # Not buildable, or built, with the first axis as the batch (a
            # preprocessing stack on one unbatched image:
            # ``resize_and_rescale(image)``, also in a ``Dataset.map`` after
            # a batch built it): as tf.keras's, the layers run one after
            # another on what they are given, where each can; the model is
            # left as it was.
            if args or kwargs or mask is not None or not self._layers or \
                    not isinstance(inputs, np.ndarray) or isinstance(inputs, KerasTensor):
                raise
            try:
                y = inputs
                for layer in self._layers:
                    y = layer(y, training=training)
            except Exception:
                raise err from None
            return y

    def _build_graph(self):
        feature_inputs = self.__dict__.get("_feature_inputs")
        x = {k: layer.output for k, layer in feature_inputs.items()} if feature_inputs \
            else self._input_layer.output
        inputs = x
        # the weights its layers make get paths under its name, as
        # Keras's (sequential/dense/kernel)
        with backend.name_scope(self.name, caller=self):
            for layer in self._layers:
                x = layer(x)
        self._init_graph(inputs, x)

    def build(self, input_shape=None):
        """Build for inputs of ``input_shape`` (batch first)."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError("Sequential.build: the input shape is unknown; pass "
                                 "input_shape=... to the first layer, start with "
                                 "Input(shape=...), or call fit/predict on data")
            input_shape = self._input_layer.shape
        if not self._layers:
            raise ValueError("Sequential: the model has no layers")
        input_shape = tuple(input_shape)
        before = self._input_layer
        if self._input_layer is None or tuple(self._input_layer.shape[1:]) != input_shape[1:]:
            if self._program is not None:
                # tf.keras 2 leaves a built model as it is (the DCGAN of
                # Python Machine Learning builds its Input((28, 28, 1))
                # critic for (None, 784)); its calls still check their inputs
                warnings.warn(f"Sequential {self.name!r} was built for inputs of shape "
                              f"{shape_str(self._input_layer.shape)}; build(input_shape="
                              f"{shape_str(input_shape)}) leaves it as it is", stacklevel=2)
                return
            self._input_layer = InputLayer(batch_shape=(None,) + input_shape[1:],
                                           dtype=input_dtype_of(self._layers[0]))
        if self._program is None:
            try:
                self._build_graph()
            except BaseException:
                # not built: the model is as it was (its layers all kept),
                # and the next call may build it for another shape
                self._input_layer = before
                raise
            self._restore_deferred()

    def build_for_features(self, keys, shapes, dtypes):
        """Builds tf.keras 2's Sequential([DenseFeatures(columns), ...]),
        fed a dict of features: one input per feature, named by its key."""
        self.__dict__["_feature_inputs"] = {
            k: InputLayer(batch_shape=(None,) + tuple(s[1:]), dtype=d, name=k)
            for k, s, d in zip(keys, shapes, dtypes)}
        try:
            self._build_graph()
        except BaseException:
            del self.__dict__["_feature_inputs"]
            raise
        self._restore_deferred()

    def build_for(self, input_shape, need_shape=True):
        if self._program is None:
            self.build(input_shape)
        return self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        # A Sequential given no input shape yet is built for the one asked
        # about, as tf.keras builds it (Keras 3 gives the same shape).
        if self._program is None and self._layers and not isinstance(input_shape, list):
            self.build(input_shape)
        return super().compute_output_shape(input_shape)

    def _first_inputs(self, xs):
        """tf.keras 2 built a Sequential starting with ``Embedding(...,
        input_length=1)`` for inputs of shape (batch, 1), and its data
        adapter made a vector of ids a column: such a model, fed a vector
        first, is built on the column (a Keras 2 word model's
        ``Embedding(vocab, 10, input_length=1)`` then ``LSTM``)."""
        first = self._layers[0] if self._layers else None
        if len(xs) == 1 and xs[0].ndim == 1 and \
                getattr(first, "_input_length", None) == 1:
            return [xs[0][:, None]]
        return xs

    def _ensure_built(self, shapes, dtypes=None):
        keys = self.__dict__.pop("_input_keys", None)
        if self._program is None and keys is not None and self._layers and \
                getattr(self._layers[0], "_takes_feature_dict", False):
            self.build_for_features(keys, shapes, dtypes or ["float32"] * len(shapes))
            return
        if self._program is None:
            if len(shapes) != 1:
                raise ValueError(f"Sequential {self.name!r} takes one input array, got "
                                 f"{len(shapes)}")
            self.build(shapes[0])

    def get_config(self):
        from ..saving import sequential_config
        return sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving import model_from_config
        return model_from_config({"class_name": "Sequential", "config": config},
                                 custom_objects)

    def __repr__(self):
        return f"<Sequential name={self.name}, {len(self._layers)} layers, built={self.built}>"
