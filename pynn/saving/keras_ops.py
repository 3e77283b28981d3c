"""Keras 3's operations on symbolic tensors in its model files: each
``keras.ops`` function pynn records as a TensorOperation, with the Keras
operation class that records it there (``keras.src.ops.<module>.<Class>``),
the function's parameters in order, how many of them the operation's call
takes (the rest configure the operation: its config), and their
defaults.  Read from Keras 3's own functions; tests/saving checks the table
against the installed Keras."""
import inspect

import numpy as np

# op: (module, class, parameters, call parameters, defaults)
KERAS_OPS = {
    "abs": ("numpy", "Absolute", ['x'], 1, {}),
    "absolute": ("numpy", "Absolute", ['x'], 1, {}),
    "add": ("numpy", "Add", ['x1', 'x2'], 2, {}),
    "all": ("numpy", "All", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "any": ("numpy", "Any", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "argmax": ("numpy", "Argmax", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "argmin": ("numpy", "Argmin", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "argsort": ("numpy", "Argsort", ['x', 'axis'], 1, {'axis': -1}),
    "broadcast_to": ("numpy", "BroadcastTo", ['x', 'shape'], 1, {}),
    "ceil": ("numpy", "Ceil", ['x'], 1, {}),
    "clip": ("numpy", "Clip", ['x', 'x_min', 'x_max'], 1, {}),
    "concatenate": ("numpy", "Concatenate", ['xs', 'axis'], 1, {'axis': 0}),
    "cos": ("numpy", "Cos", ['x'], 1, {}),
    "cumsum": ("numpy", "Cumsum", ['x', 'axis', 'dtype'], 1, {'axis': None, 'dtype': None}),
    "divide": ("numpy", "Divide", ['x1', 'x2'], 2, {}),
    "dot": ("numpy", "Dot", ['x1', 'x2'], 2, {}),
    "elu": ("nn", "Elu", ['x', 'alpha'], 1, {'alpha': 1.0}),
    "equal": ("numpy", "Equal", ['x1', 'x2'], 2, {}),
    "erf": ("math", "Erf", ['x'], 1, {}),
    "exp": ("numpy", "Exp", ['x'], 1, {}),
    "expand_dims": ("numpy", "ExpandDims", ['x', 'axis'], 1, {}),
    "expm1": ("numpy", "Expm1", ['x'], 1, {}),
    "flip": ("numpy", "Flip", ['x', 'axis'], 1, {'axis': None}),
    "floor": ("numpy", "Floor", ['x'], 1, {}),
    "greater": ("numpy", "Greater", ['x1', 'x2'], 2, {}),
    "greater_equal": ("numpy", "GreaterEqual", ['x1', 'x2'], 2, {}),
    "hard_sigmoid": ("nn", "HardSigmoid", ['x'], 1, {}),
    "hard_swish": ("nn", "HardSilu", ['x'], 1, {}),
    "leaky_relu": ("nn", "LeakyRelu", ['x', 'negative_slope'], 1, {'negative_slope': 0.2}),
    "less": ("numpy", "Less", ['x1', 'x2'], 2, {}),
    "less_equal": ("numpy", "LessEqual", ['x1', 'x2'], 2, {}),
    "log": ("numpy", "Log", ['x'], 1, {}),
    "log1p": ("numpy", "Log1p", ['x'], 1, {}),
    "log_softmax": ("nn", "LogSoftmax", ['x', 'axis'], 1, {'axis': -1}),
    "logical_and": ("numpy", "LogicalAnd", ['x1', 'x2'], 2, {}),
    "logical_not": ("numpy", "LogicalNot", ['x'], 1, {}),
    "logical_or": ("numpy", "LogicalOr", ['x1', 'x2'], 2, {}),
    "logsumexp": ("math", "Logsumexp", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "matmul": ("numpy", "Matmul", ['x1', 'x2'], 2, {}),
    "max": ("numpy", "Max", ['x', 'axis', 'keepdims', 'initial'], 1, {'axis': None, 'keepdims': False, 'initial': None}),
    "maximum": ("numpy", "Maximum", ['x1', 'x2'], 2, {}),
    "mean": ("numpy", "Mean", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "min": ("numpy", "Min", ['x', 'axis', 'keepdims', 'initial'], 1, {'axis': None, 'keepdims': False, 'initial': None}),
    "minimum": ("numpy", "Minimum", ['x1', 'x2'], 2, {}),
    "moveaxis": ("numpy", "Moveaxis", ['x', 'source', 'destination'], 1, {}),
    "multiply": ("numpy", "Multiply", ['x1', 'x2'], 2, {}),
    "negative": ("numpy", "Negative", ['x'], 1, {}),
    "norm": ("linalg", "Norm", ['x', 'ord', 'axis', 'keepdims'], 1, {'ord': None, 'axis': None, 'keepdims': False}),
    "normalize": ("nn", "Normalize", ['x', 'axis', 'order', 'epsilon'], 1, {'axis': -1, 'order': 2, 'epsilon': None}),
    "not_equal": ("numpy", "NotEqual", ['x1', 'x2'], 2, {}),
    "one_hot": ("nn", "OneHot", ['x', 'num_classes', 'axis', 'dtype', 'sparse'], 1, {'axis': -1, 'dtype': None, 'sparse': False}),
    "ones_like": ("numpy", "OnesLike", ['x', 'dtype'], 1, {'dtype': None}),
    "power": ("numpy", "Power", ['x1', 'x2'], 2, {}),
    "prod": ("numpy", "Prod", ['x', 'axis', 'keepdims', 'dtype'], 1, {'axis': None, 'keepdims': False, 'dtype': None}),
    "reciprocal": ("numpy", "Reciprocal", ['x'], 1, {}),
    "relu": ("nn", "Relu", ['x'], 1, {}),
    "relu6": ("nn", "Relu6", ['x'], 1, {}),
    "repeat": ("numpy", "Repeat", ['x', 'repeats', 'axis'], 1, {'axis': None}),
    "reshape": ("numpy", "Reshape", ['x', 'newshape'], 1, {}),
    "round": ("numpy", "Round", ['x', 'decimals'], 1, {'decimals': 0}),
    "segment_sum": ("math", "SegmentSum", ['data', 'segment_ids', 'num_segments', 'sorted'], 2, {'num_segments': None, 'sorted': False}),
    "sigmoid": ("nn", "Sigmoid", ['x'], 1, {}),
    "sign": ("numpy", "Sign", ['x'], 1, {}),
    "silu": ("nn", "Silu", ['x'], 1, {}),
    "sin": ("numpy", "Sin", ['x'], 1, {}),
    "softmax": ("nn", "Softmax", ['x', 'axis'], 1, {'axis': -1}),
    "softplus": ("nn", "Softplus", ['x'], 1, {}),
    "softsign": ("nn", "Softsign", ['x'], 1, {}),
    "split": ("numpy", "Split", ['x', 'indices_or_sections', 'axis'], 1, {'axis': 0}),
    "sqrt": ("numpy", "Sqrt", ['x'], 1, {}),
    "square": ("numpy", "Square", ['x'], 1, {}),
    "squeeze": ("numpy", "Squeeze", ['x', 'axis'], 1, {'axis': None}),
    "stack": ("numpy", "Stack", ['x', 'axis'], 1, {'axis': 0}),
    "std": ("numpy", "Std", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "stop_gradient": ("core", "StopGradient", ['variable'], 1, {}),
    "subtract": ("numpy", "Subtract", ['x1', 'x2'], 2, {}),
    "sum": ("numpy", "Sum", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "swapaxes": ("numpy", "Swapaxes", ['x', 'axis1', 'axis2'], 1, {}),
    "swish": ("nn", "Silu", ['x'], 1, {}),
    "take": ("numpy", "Take", ['x', 'indices', 'axis'], 2, {'axis': None}),
    "take_along_axis": ("numpy", "TakeAlongAxis", ['x', 'indices', 'axis'], 2, {'axis': None}),
    "tanh": ("numpy", "Tanh", ['x'], 1, {}),
    "tensordot": ("numpy", "Tensordot", ['x1', 'x2', 'axes'], 2, {'axes': 2}),
    "tile": ("numpy", "Tile", ['x', 'repeats'], 1, {}),
    "top_k": ("math", "TopK", ['x', 'k', 'sorted'], 1, {'sorted': True}),
    "transpose": ("numpy", "Transpose", ['x', 'axes'], 1, {'axes': None}),
    "tril": ("numpy", "Tril", ['x', 'k'], 1, {'k': 0}),
    "triu": ("numpy", "Triu", ['x', 'k'], 1, {'k': 0}),
    "true_divide": ("numpy", "TrueDivide", ['x1', 'x2'], 2, {}),
    "var": ("numpy", "Var", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "where": ("numpy", "Where", ['condition', 'x1', 'x2'], 3, {'x1': None, 'x2': None}),
    "zeros_like": ("numpy", "ZerosLike", ['x', 'dtype'], 1, {'dtype': None}),
    "floor_divide": ("numpy", "FloorDivide", ['x1', 'x2'], 2, {}),
    "mod": ("numpy", "Mod", ['x1', 'x2'], 2, {}),
}
# x[key]: Keras's GetItem takes the tensor and the key.
GETITEM = ("numpy", "GetItem")
# The op a Keras class is read as, where several functions share it.
_BY_CLASS = {(row[0], row[1]): op for op, row in sorted(KERAS_OPS.items(), reverse=True)}


def _pynn_function(op):
    from ..layers.lambda_layer import OPERATORS
    if op in OPERATORS:
        return OPERATORS[op]
    from .. import ops
    return getattr(ops, op)


# ------------------------------------------------------------------ write

def _to_keras_value(value, refs):
    """A TensorOperation argument (its JSON form) as Keras serializes it,
    its tensors as the node's references."""
    if isinstance(value, list):
        return [_to_keras_value(v, refs) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return refs[value["__tensor__"]]
        if "__slice__" in value:
            start, stop, step = (_to_keras_value(v, refs) for v in value["__slice__"])
            return {"class_name": "__slice__",
                    "config": {"start": start, "stop": stop, "step": step}}
        if "__ellipsis__" in value:
            return {"class_name": "__ellipsis__", "config": {}}
        if "__tuple__" in value:
            return [_to_keras_value(v, refs) for v in value["__tuple__"]]
        if "__array__" in value:
            return {"class_name": "__numpy__",
                    "config": {"value": value["__array__"], "dtype": value["dtype"]}}
    return value


def operation_to_keras(layer, inbound_nodes):
    """The Keras 3 entry of a TensorOperation, given the tensor references
    of its nodes (pynn's inbound_nodes: one argument, the tensor or the
    list of tensors)."""
    label = f"save: operation {layer.name!r} ({layer.op})"
    if layer.op == "getitem":
        module, cls = GETITEM
        params, n_call, values = ["x", "key"], 2, layer.args
    else:
        row = KERAS_OPS.get(layer.op)
        if row is None:
            raise ValueError(f"{label}: Keras's files have no operation for it; save the "
                             f"model in pynn's format (.pynn)")
        module, cls, params, n_call, _ = row
        try:
            bound = inspect.signature(_pynn_function(layer.op)).bind(*layer.args,
                                                                    **layer.kwargs)
        except TypeError as e:
            raise ValueError(f"{label}: {e}") from None
        bound.apply_defaults()
        values = list(bound.arguments.values())[:len(params)]
    nodes = []
    for node in inbound_nodes:
        arg = node["args"][0]
        refs = arg if isinstance(arg, list) else [arg]
        encoded = [_to_keras_value(v, refs) for v in values]
        nodes.append({"args": encoded[:n_call], "kwargs": {}})
    config = {"name": layer.name}
    if nodes:  # the configuration part holds no tensors
        config.update({p: _to_keras_value(v, []) for p, v in zip(params[n_call:],
                                                                 values[n_call:])})
    return {"module": f"keras.src.ops.{module}", "class_name": cls, "config": config,
            "registered_name": cls, "name": layer.name, "inbound_nodes": nodes}


# ------------------------------------------------------------------- read

def _from_keras_value(value, tensors, label):
    if isinstance(value, list):
        return [_from_keras_value(v, tensors, label) for v in value]
    if isinstance(value, dict):
        kind = value.get("class_name")
        config = value.get("config") or {}
        if kind == "__keras_tensor__":
            tensors.append(value)
            return {"__tensor__": len(tensors) - 1}
        if kind == "__slice__":
            return {"__slice__": [_from_keras_value(config.get(k), tensors, label)
                                  for k in ("start", "stop", "step")]}
        if kind == "__ellipsis__":
            return {"__ellipsis__": True}
        if kind == "__numpy__":
            return {"__array__": config.get("value"), "dtype": str(np.dtype(config.get(
                "dtype", "float32")))}
        raise ValueError(f"{label}: an argument pynn cannot read: {value!r}")
    return value


def operation_from_keras(entry, label):
    """The pynn spec and inbound_nodes of a Keras operation entry: a
    TensorOperation whose arguments are the call's, then its config's."""
    module = str(entry.get("module", "")).replace("keras.src.ops.", "")
    cls = entry.get("class_name")
    if (module, cls) not in _BY_CLASS and (module, cls) != GETITEM:
        raise ValueError(f"{label}: Keras operation {cls!r} ({entry.get('module')}) has no "
                         f"counterpart in pynn.ops")
    config = entry.get("config") or {}
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1 or not isinstance(nodes[0], dict):
        raise ValueError(f"{label}: a {cls} operation called {len(nodes)} times; pynn reads "
                         f"operations called once")
    tensors = []
    args = [_from_keras_value(v, tensors, label) for v in nodes[0].get("args") or []]
    if nodes[0].get("kwargs"):
        raise ValueError(f"{label}: a {cls} operation called with keyword arguments "
                         f"{sorted(nodes[0]['kwargs'])}")
    if (module, cls) == GETITEM:
        op = "getitem"
        if len(args) == 2 and isinstance(args[1], list):
            args[1] = {"__tuple__": args[1]}
    else:
        op = _BY_CLASS[(module, cls)]
        _, _, params, n_call, defaults = KERAS_OPS[op]
        settings = [_from_keras_value(config.get(p, defaults.get(p)), [], label)
                    for p in params[n_call:]]
        accepted = [p for p in inspect.signature(_pynn_function(op)).parameters.values()
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        # Settings pynn's function lacks must hold Keras's defaults.
        while len(args) + len(settings) > len(accepted):
            p = params[n_call + len(settings) - 1]
            if settings[-1] != defaults.get(p):
                raise ValueError(f"{label}: {cls} with {p}={settings[-1]!r} is not "
                                 f"supported by pynn")
            settings.pop()
        args += settings
    name = config.get("name", entry.get("name"))
    spec = {"class_name": "TensorOperation", "config": {"name": name, "op": op,
                                                        "args": args, "kwargs": {}}}
    if not tensors:
        raise ValueError(f"{label}: a {cls} operation of no tensor")
    pynn_nodes = [{"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": {}}]
    return spec, pynn_nodes
