"""clone_model: the same architecture with fresh weights (Keras's)."""
from ..layers.base import InputLayer, flatten
from .functional import Model
from .sequential import Sequential


def _clone_layer(layer):
    if isinstance(layer, Model):
        return clone_model(layer)
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False):
    """A new model with the same layers, arguments and connections and
    fresh weights; not compiled.  ``clone_function(layer)`` makes each new
    layer (default: from its config); ``input_tensors`` gives the new
    model's inputs (a functional model is rebuilt on them)."""
    if not isinstance(model, Model):
        raise ValueError(f"clone_model: expected a pynn model, got {type(model).__name__}")
    cls = type(model)
    if cls.call is not Model.call and cls.get_config is not Model.get_config and \
            clone_function is None and input_tensors is None:
        # A subclass with its own config is rebuilt from it, as Keras
        # clones a subclassed model (its layers are its __init__'s).
        return cls.from_config(model.get_config())
    clone_function = clone_function or _clone_layer
    if isinstance(model, Sequential):
        clone = Sequential(name=model.name, trainable=model.trainable)
        if input_tensors is not None:
            clone.add(flatten(input_tensors)[0])
        elif model._input_layer is not None:
            clone.add(InputLayer(batch_shape=model._input_layer.shape,
                                 dtype=model._input_layer.dtype, name=model._input_layer.name))
        for layer in model.layers:
            clone.add(clone_function(layer))
        return clone
    model._require_graph("graph to clone")
    if input_tensors is not None:
        new_inputs = flatten(input_tensors)
        if len(new_inputs) != len(model._inputs):
            raise ValueError(f"clone_model: the model has {len(model._inputs)} inputs, "
                             f"input_tensors gives {len(new_inputs)}")
    else:
        from ..layers.base import Input
        new_inputs = [Input(batch_shape=t.shape, dtype=t.dtype, name=t.name)
                      if isinstance(t.node.operation, InputLayer) else
                      Input(batch_shape=t.shape, dtype=t.dtype) for t in model._inputs]
    tensor_map = {id(old): new for old, new in zip(model._inputs, new_inputs)}
    layer_map = {}
    for node in model._nodes:
        layer = node.operation
        if id(layer) not in layer_map:
            layer_map[id(layer)] = clone_function(layer)
        new_layer = layer_map[id(layer)]
        args = [tensor_map[id(t)] for t in node.call_inputs]
        kwargs = dict(node.call_args)
        given = node.given_masks
        if given is not None:  # a mask given to the call as a tensor
            kwargs["mask"] = tensor_map[id(given)] if node.mask_layout == "single" else \
                [None if m is None else tensor_map[id(m)] for m in given]
        out = new_layer(args[0] if node.single_input else args, training=node.training,
                        **kwargs)
        outs = list(out.values()) if isinstance(out, dict) else (
            out if isinstance(out, list) else [out])
        for old, new in zip(node.output_tensors, outs):
            tensor_map[id(old)] = new

    def rebuild(struct):
        if isinstance(struct, dict):
            return {k: tensor_map[id(v)] for k, v in struct.items()}
        if isinstance(struct, (list, tuple)):
            return [tensor_map[id(t)] for t in struct]
        return tensor_map[id(struct)]

    return Model(rebuild(model._inputs_struct), rebuild(model._outputs_struct),
                 name=model.name, trainable=model.trainable)
