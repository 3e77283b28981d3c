"""Keras 3's Operation and Function.

An Operation is a computation a program defines by subclassing and
writing ``call``: called on arrays it computes at once; called on symbolic
tensors (from ``Input``) it becomes a node of the graph, so a model can be
built from it.  A Function is the graph between symbolic inputs and
outputs, callable on arrays (what Keras's Functional model is built on)."""
import re

from .. import tree
from ..layers.lambda_layer import Lambda
from ..layers.base import unique_name
from .node import KerasTensor


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Operation:
    """The base of operations: subclasses compute in ``call(*args,
    **kwargs)``.  ``op(...)`` runs ``call``, or with symbolic tensors among
    its arguments, adds the operation to the graph being built."""

    def __init__(self, name=None):
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(f"Argument `name` must be a string and cannot contain character "
                             f"`/`. Received: name={name} (of type {type(name)})")
        self.name = name or unique_name(_snake(type(self).__name__))

    def __call__(self, *args, **kwargs):
        if any(isinstance(a, KerasTensor) for a in tree.flatten((args, kwargs))):
            return self.symbolic_call(*args, **kwargs)
        return self.call(*args, **kwargs)

    def symbolic_call(self, *args, **kwargs):
        """The operation as a node of the graph: its symbolic tensor
        arguments are the node's inputs, the others are kept as given."""
        flat = tree.flatten((args, kwargs))
        where = [i for i, a in enumerate(flat) if isinstance(a, KerasTensor)]

        def run(tensors):
            values = list(flat)
            for i, t in zip(where, tensors if len(where) > 1 else [tensors]):
                values[i] = t
            a, k = tree.pack_sequence_as((args, kwargs), values)
            return self.call(*a, **k)
        tensors = [flat[i] for i in where]
        return Lambda(run, name=unique_name(self.name))(
            tensors if len(tensors) > 1 else tensors[0])

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def compute_output_spec(self, *args, **kwargs):
        """The symbolic output of the operation for symbolic arguments."""
        return self.symbolic_call(*args, **kwargs)

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<Operation name={self.name}>"


class Function(Operation):
    """The graph between symbolic ``inputs`` and ``outputs`` (any
    structure of them) as a callable: ``fn(arrays)`` runs it on new
    inputs and returns outputs in the structure of ``outputs``."""

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name)
        from .functional import Model
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self._model = Model(inputs, outputs, name=self.name)

    @property
    def inputs(self):
        return tree.flatten(self._inputs_struct)

    @property
    def outputs(self):
        return tree.flatten(self._outputs_struct)

    @property
    def operations(self):
        return list(self._model._operations)  # (every node: operations too, as Keras)

    def call(self, inputs):
        return self._model(inputs)

    def __call__(self, inputs):
        return self.call(inputs)

    def compute_output_spec(self, inputs):
        return self._model(inputs)

    def compute_output_shape(self, input_shape):
        return self._model.compute_output_shape(input_shape)

    def __repr__(self):
        return f"<Function name={self.name}>"
