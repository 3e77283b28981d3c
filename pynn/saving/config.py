"""Model configs: the layer registry, a model's config (Keras 3's
functional and Sequential structure) and back, and the compile settings.
Every file format builds on these: ``.pynn`` stores them as they are, the
Keras formats translate them (see keras_config)."""


def layer_classes():
    """Every Layer subclass by class name (pynn's own win a name clash), so
    layers defined after this module, in pynn or by users, are found."""
    from .. import layers as _layers  # noqa: F401  (imports every layer module)
    from ..layers.base import Layer
    found, todo = {}, list(Layer.__subclasses__())
    seen = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        name = cls.__name__
        if name not in found or (cls.__module__.startswith("pynn.")
                                 and not found[name].__module__.startswith("pynn.")):
            found[name] = cls
    return found


def serialize_layer(layer):
    """``{'class_name', 'config'}`` of a layer; a model built from inputs
    and outputs is a 'Functional', as Keras names it."""
    from ..layers.base import Layer
    from ..models.summary import class_label
    from .serialization import serialize_keras_object
    config = layer.get_config()
    # A user's layer whose config holds layers (given to its __init__):
    # they are written as their own configs, as Keras serializes them,
    # for its from_config to deserialize.
    config = {key: serialize_keras_object(value) if isinstance(value, Layer) else value
              for key, value in config.items()}
    spec = {"class_name": class_label(layer), "config": config}
    if getattr(layer, "_subclassed", False) and layer.built:
        # the input shape its call is traced on when it is rebuilt
        spec["build_config"] = layer.get_build_config()
    return spec


_MODEL_CLASSES = ("Functional", "Model", "Sequential")


def deserialize_layer(spec, custom_objects=None):
    from ..layers.base import Layer
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
            or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"a layer must be described as {{'class_name': ..., 'config': {{...}}}}, "
                         f"got {spec!r}")
    name = spec["class_name"]
    custom = (custom_objects or {}).get(name) or _registered_layer(name)
    if custom is None and name in _MODEL_CLASSES:
        return model_from_config(spec, custom_objects)
    cls = custom or layer_classes().get(name)
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"unknown layer class {name!r}; pass it in custom_objects="
                         f"{{{name!r}: {name}}} if it is your own layer")
    from ..models.functional import Model
    layer = cls.from_config(spec.get("config", {}))
    if (custom is not None or isinstance(layer, Model)) and "build_config" in spec and (
            isinstance(layer, Model) or cls.build_from_config is not Layer.build_from_config):
        # a user's model (traced on its input shape), or a user's layer
        # whose build takes more than the input shape
        layer.build_from_config(spec["build_config"])
    return layer


def _registered_layer(name):
    """A Layer class registered under ``name`` (register_keras_serializable
    or an enclosing custom_object_scope), or None."""
    from ..layers.base import Layer
    from ..utils.custom_objects import lookup
    found = lookup(name)
    return found if isinstance(found, type) and issubclass(found, Layer) else None


def _model_subclass(name, module=None):
    """A Model subclass named ``name`` (defined in ``module``, where the
    file names it) that computes in its own call(): a subclassed model the
    program that loads it has defined, as Keras finds one in the module it
    was saved from; or None."""
    from ..models.functional import Model
    cls = layer_classes().get(name)
    ok = isinstance(cls, type) and issubclass(cls, Model) and cls.call is not Model.call and \
        (module is None or cls.__module__ == module)
    return cls if ok else None


# ----------------------------------------------------- model <-> config

def _history(tensor, reindex):
    h = tensor._keras_history
    node = h.operation._inbound_nodes[h.node_index]
    return [h.operation.name, reindex.get(id(node), h.node_index), h.tensor_index]


def _tensor_ref(tensor, reindex):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(tensor.shape), "dtype": tensor.dtype,
                       "keras_history": _history(tensor, reindex)}}


def functional_config(model):
    """Keras 3's functional config: every layer with the nodes at which the
    model calls it (``inbound_nodes``, each naming its input tensors by
    [layer, node index, tensor index]), and the model's inputs and
    outputs."""
    from ..layers.base import InputLayer
    nodes = set(id(n) for n in model._nodes) | {id(t.node) for t in model._inputs}
    reindex = {}
    for layer in model._operations:
        kept = 0
        for node in layer._inbound_nodes:
            if id(node) in nodes:
                reindex[id(node)] = kept
                kept += 1
    layers = []
    for layer in model._operations:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        inbound = []
        if not isinstance(layer, InputLayer):
            for node in layer._inbound_nodes:
                if id(node) not in nodes:
                    continue
                refs = [_tensor_ref(t, reindex) for t in node.call_inputs]
                kwargs = {} if node.training is None else {"training": bool(node.training)}
                kwargs.update(node.call_args)
                single, read = node.single_input, layer.__dict__.get("_reads")
                if read and len(refs) == layer._reads_after[0] + len(read):
                    # The graph's tensors its call reads besides its inputs
                    # (Keras 2's custom loss layer reading z_mean), in the
                    # order it reads them: kept apart from its inputs.
                    count, single = layer._reads_after
                    refs, kwargs["reads"] = refs[:count], refs[count:]
                given = node.given_masks
                if given is not None:  # a mask given to the call as a tensor, as Keras 3
                    kwargs["mask"] = _tensor_ref(given, reindex) if node.mask_layout == \
                        "single" else [None if m is None else _tensor_ref(m, reindex)
                                       for m in given]
                binding = layer.__dict__.get("_call_binding")
                keys = layer.__dict__.get("_input_keys")
                if binding and not single and len(refs) == len(binding):
                    # layer(a, b, mask) bound to call(a, b, mask=None)'s
                    # parameters by position: rebuilt the same way
                    kwargs["call_binding"] = list(binding)
                elif keys is not None and len(keys) == len(refs) and not single:
                    # called on a dict: its keys, as Keras writes them
                    refs = dict(zip(keys, refs))
                inbound.append({"args": [refs[0] if single else refs], "kwargs": kwargs})
        entry["inbound_nodes"] = inbound
        if layer.__dict__.get("_from_operator"):
            entry["operator"] = True  # x + y, not a layer (see KerasTensor._merge)
        layers.append(entry)

    def refs(struct):
        if isinstance(struct, dict):
            return {k: _history(v, reindex) for k, v in struct.items()}
        if isinstance(struct, (list, tuple)):
            return [_history(t, reindex) for t in struct]
        return _history(struct, reindex)

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": refs(model._inputs_struct),
            "output_layers": refs(model._outputs_struct)}


def sequential_config(model):
    """Keras 3's Sequential config: the InputLayer (once the input is
    known) and each layer's config."""
    layers = []
    if model._input_layer is not None:
        layers.append(serialize_layer(model._input_layer))
    layers += [serialize_layer(l) for l in model.layers]
    shape = model._input_layer.shape if model._input_layer is not None else None
    config = {"name": model.name, "trainable": model.trainable, "layers": layers,
              "build_input_shape": None if shape is None else list(shape)}
    features = model.__dict__.get("_feature_inputs")
    if features:    # (a DenseFeatures first, built on a dict of features)
        config["feature_inputs"] = {k: {"shape": list(i.shape), "dtype": i.dtype}
                                    for k, i in features.items()}
    return config


def _check_history(ref, what):
    if not (isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    for v in ref[1:])):
        raise ValueError(f"{what} must be [layer name, node index, tensor index], got {ref!r}")
    return ref


def _functional_from_config(config, custom_objects):
    from ..layers.base import reading
    from ..layers.lambda_layer import TensorOperation
    from .keras_ops import OPERATOR_MERGES
    from ..models.functional import Model
    from ..models.node import KerasTensor
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a functional model config must be a dict with a 'layers' list")
    created = {}
    pending = []
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise ValueError(f"a layer entry must be a dict, got {entry!r}")
        layer = deserialize_layer(entry, custom_objects)
        if entry.get("operator") is True and type(layer).__name__ in OPERATOR_MERGES:
            layer._from_operator = True
        name = entry.get("name", layer.name)
        if name in created:
            raise ValueError(f"the layer name {name!r} appears twice in the config")
        created[name] = layer
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"inbound_nodes of layer {name!r} must be a list")
        pending.append((layer, name, list(nodes)))
    outputs = {}  # (layer name, node index) -> output tensors

    from ..layers.base import InputLayer
    for layer, name, _ in pending:
        if isinstance(layer, InputLayer):
            outputs[(name, 0)] = [layer.output]

    def resolve(ref):
        if isinstance(ref, dict) and ref.get("class_name") != "__keras_tensor__":
            made = {k: resolve(v) for k, v in ref.items()}  # a layer called on a dict
            return None if any(v is None for v in made.values()) else made
        if isinstance(ref, dict):
            ref = (ref.get("config") or {}).get("keras_history")
        if isinstance(ref, list) and ref and isinstance(ref[0], (list, dict)):
            return [resolve(r) for r in ref]
        lname, node_index, tensor_index = _check_history(ref, "a tensor reference")
        made = outputs.get((lname, node_index))
        if made is None:
            return None
        if tensor_index >= len(made):
            raise ValueError(f"layer {lname!r} has no output {tensor_index}")
        return made[tensor_index]

    progress = True
    while progress:
        progress = False
        for layer, name, nodes in pending:
            while nodes:
                node = nodes[0]
                args, kwargs = _node_call(node, name, layer.node_call_arguments, layer)
                inputs = resolve(args)
                leaves = list(inputs.values()) if isinstance(inputs, dict) else \
                    inputs if isinstance(inputs, list) else [inputs]
                reads = kwargs.pop("reads", None)
                if reads is not None:
                    reads = [resolve(r) for r in reads]
                    leaves = leaves + reads
                mask = kwargs.pop("mask", None)
                if mask is not None:  # a mask given to the call as a tensor
                    mask = [None if m is None else resolve(m) for m in mask] \
                        if isinstance(mask, list) else resolve(mask)
                    leaves = leaves + [m for m in (mask if isinstance(mask, list) else [mask])
                                       if m is not None]
                    kwargs["mask"] = mask
                if any(t is None for t in leaves):
                    break
                if isinstance(layer, TensorOperation) and len(nodes) == 1 and \
                        not kwargs and not reads:
                    layer = _operator_merge(layer, inputs)
                binding = kwargs.pop("call_binding", None)
                spread = bool(binding) and isinstance(inputs, list) and \
                    len(inputs) == len(binding)
                with reading(layer, reads):
                    # (a call bound by position is made again the same way)
                    out = layer(*inputs, **kwargs) if spread else layer(inputs, **kwargs)
                index = sum(1 for key in outputs if key[0] == name)
                if isinstance(out, dict):
                    out = list(out.values())
                outputs[(name, index)] = out if isinstance(out, list) else [out]
                nodes.pop(0)
                progress = True
    stuck = [name for _, name, nodes in pending if nodes]
    if stuck:
        raise ValueError(f"the config's graph cannot be rebuilt: the inputs of layers {stuck} "
                         f"are never produced")

    def structure(refs):
        if isinstance(refs, dict):
            return {k: resolve(_check_history(v, "a model input/output")) for k, v in
                    refs.items()}
        if isinstance(refs, list) and refs and isinstance(refs[0], list):
            return [resolve(_check_history(r, "a model input/output")) for r in refs]
        return resolve(_check_history(refs, "a model input/output"))

    inputs = structure(config.get("input_layers"))
    outputs_ = structure(config.get("output_layers"))
    for t in (inputs.values() if isinstance(inputs, dict) else
              inputs if isinstance(inputs, list) else [inputs]):
        if not isinstance(t, KerasTensor):
            raise ValueError("the config names a model input that no layer produces")
    return Model(inputs, outputs_, name=config.get("name"),
                 trainable=config.get("trainable", True))


def _operator_merge(operation, inputs):
    """A file's ``x + y`` (``x - y``, ``x * y``) of two tensors, as the
    operator records it when a program builds the graph: through the merge
    layer that computes it with pynn's kernels (see operator_merge), named
    as the operation; any other operation as it is."""
    from ..models.node import operator_merge
    from .keras_ops import OPERATOR_MERGES
    kinds = {op: cls for cls, op in OPERATOR_MERGES.items()}
    if operation.op not in kinds or operation.kwargs or \
            operation.args != [{"__tensor__": 0}, {"__tensor__": 1}] or \
            not isinstance(inputs, list) or len(inputs) != 2:
        return operation
    merge = operator_merge(kinds[operation.op], *inputs, name=operation.name)
    return operation if merge is None else merge


def _is_tensor_ref(ref):
    """Whether a node's ``mask`` argument names tensors of the graph (a
    reference, or a list of references and None)."""
    def one(r):
        return isinstance(r, dict) and r.get("class_name") == "__keras_tensor__"
    return one(ref) or isinstance(ref, list) and any(one(r) for r in ref) and all(
        r is None or one(r) for r in ref)


def _is_history(ref):
    return isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in ref[1:])


def _history_ref(ref):
    return {"class_name": "__keras_tensor__", "config": {"keras_history": ref}}


def _node_call(node, name, layer_arguments=(), layer=None):
    """(inputs reference, call kwargs) of one inbound node, in Keras 3's
    form ({'args': [...], 'kwargs': {...}}) or Keras 2's ([[name, i, j,
    kwargs], ...]); ``layer_arguments`` names the layer's own call
    arguments that its nodes keep (Layer.node_call_arguments)."""
    if isinstance(node, dict):
        args = node.get("args") or []
        kwargs = node.get("kwargs") or {}
        names = getattr(layer, "_call_tensor_names", ())
        if 1 < len(args) <= len(names) and all(_is_tensor_ref(a) for a in args):
            # layer(a, b, c) with the tensors by position (Keras's record of
            # a call(a, b, mask=None)): bound to those parameters again
            kwargs = {**kwargs, "call_binding": list(names[:len(args)])}
            args = [list(args)]
        if len(args) != 1:
            raise ValueError(f"layer {name!r}: a node must have one argument (a tensor or a "
                             f"list of tensors), got {len(args)}")
        # (a custom layer's constant arguments of its call(), too)
        allowed = {k: v for k, v in kwargs.items()
                   if k in ("training", "mask") or k in layer_arguments or
                   k == "call_binding" and isinstance(v, list) and layer is not None and
                   all(n in layer._call_tensor_names for n in v) or
                   k == "reads" and isinstance(v, list) and all(_is_tensor_ref(r) for r in v) or
                   layer is not None and getattr(layer, "_traces_call", False) and
                   layer._takes_constants({k: v})}
        if "training" in allowed and allowed["training"] is not None:
            allowed["training"] = bool(allowed["training"])
        if not _is_tensor_ref(allowed.get("mask")):
            allowed.pop("mask", None)  # (Keras 2's constant masks)
        return args[0], allowed
    if isinstance(node, list) and node and all(isinstance(r, list) for r in node):
        refs = [r[:3] for r in node]
        given = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        kwargs = {k: bool(v) for k, v in given.items() if k == "training" and v is not None}
        # Keras 2 names a mask tensor given to the call by [layer, node, tensor]
        mask = given.get("mask")
        if _is_history(mask):
            kwargs["mask"] = _history_ref(mask)
        elif isinstance(mask, list) and any(_is_history(m) for m in mask) and all(
                m is None or _is_history(m) for m in mask):
            kwargs["mask"] = [None if m is None else _history_ref(m) for m in mask]
        return (refs[0] if len(refs) == 1 else refs), kwargs
    raise ValueError(f"layer {name!r}: cannot read the inbound node {node!r}")


def _sequential_from_config(config, custom_objects):
    from ..models.sequential import Sequential
    if isinstance(config, list):  # Keras 1/2's bare list of layers
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a Sequential config must be a dict with a 'layers' list")
    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
    for spec in config["layers"]:
        model.add(deserialize_layer(spec, custom_objects))
    shape = config.get("build_input_shape")
    if shape is not None and not model.built and model.layers:
        if not isinstance(shape, list) or not all(d is None or (isinstance(d, int) and d >= 0)
                                                  for d in shape):
            raise ValueError(f"build_input_shape must be a list of integers, got {shape!r}")
        model.build(tuple(shape))
    features = config.get("feature_inputs")
    if features is not None and not model.built and model.layers:
        if not isinstance(features, dict) or not all(
                isinstance(f, dict) and isinstance(f.get("shape"), list) for f in
                features.values()):
            raise ValueError(f"feature_inputs must map names to shapes and dtypes, got "
                             f"{features!r}")
        model.build_for_features(list(features), [tuple(f["shape"]) for f in features.values()],
                                 [f.get("dtype", "float32") for f in features.values()])
    return model


def model_from_config(config, custom_objects=None):
    """A model from ``{'class_name': 'Sequential' | 'Functional', 'config':
    ...}`` (or a bare Sequential config); functions named in it are looked
    up in ``custom_objects`` too."""
    from ..utils.custom_objects import custom_object_scope
    with custom_object_scope(custom_objects):
        return _model_from_config(config, custom_objects)


def _model_from_config(config, custom_objects):
    if isinstance(config, dict) and "class_name" in config and "config" in config:
        kind = config["class_name"]
        custom = (custom_objects or {}).get(kind) or _registered_layer(kind) or \
            _model_subclass(kind)
        if custom is not None and hasattr(custom, "from_config") and \
                kind not in _MODEL_CLASSES:
            if "build_config" in config:  # a user's model, traced on its input shape
                return deserialize_layer(config, custom_objects)
            return custom.from_config(config["config"])
        if kind == "Sequential":
            return _sequential_from_config(config["config"], custom_objects)
        if kind in ("Functional", "Model"):
            return _functional_from_config(config["config"], custom_objects)
        raise ValueError(f"unknown model class {kind!r}; pynn reads Sequential and "
                         f"Functional models")
    return _sequential_from_config(config, custom_objects)


def _serialize_metric(m):
    from ..metrics import MeanMetricWrapper, Metric, _config_of
    from ..utils.custom_objects import serialize_function
    if isinstance(m, str):
        return m
    if isinstance(m, MeanMetricWrapper) and not m.fn_kwargs:
        return serialize_function(m.fn)
    if isinstance(m, Metric) or (isinstance(m, type) and issubclass(m, Metric)):
        cls = m if isinstance(m, type) else type(m)
        return {"class_name": cls.__name__,
                "config": _config_of(m) if not isinstance(m, type) else {}}
    if callable(m) and (hasattr(m, "_metric_class") or hasattr(m, "_loss_class")):
        return m.__name__
    if callable(m) and not isinstance(m, type):
        return serialize_function(m)
    raise ValueError(f"save: cannot describe the metric {m!r} in a model file")


def map_structure(fn, spec):
    """``fn`` over the leaves of a loss or metrics spec: one value, a list
    or a dict by output name (a serialized object, a dict with a
    'class_name', is a leaf)."""
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: map_structure(fn, v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [map_structure(fn, v) for v in spec]
    return None if spec is None else fn(spec)


def compile_config(model):
    from .. import losses, optimizers
    loss, loss_weights, metrics, weighted = model._compile_args

    def ser_loss(l):
        return losses.serialize(losses.to_loss(l))

    return {"optimizer": optimizers.serialize(model.optimizer),
            "loss": map_structure(ser_loss, loss),
            "loss_weights": loss_weights,
            "metrics": map_structure(_serialize_metric, metrics),
            "weighted_metrics": map_structure(_serialize_metric, weighted),
            "run_eagerly": bool(getattr(model, "run_eagerly", False))}


def compile_from_config(model, config):
    from .. import losses
    from .. import metrics as metrics_mod
    from .. import optimizers
    from ..utils.custom_objects import deserialize_function, is_function_description
    if not isinstance(config, dict):
        raise ValueError("the compile settings must be a dict")

    def metric(m):
        # A Keras file's custom metric (a class or a function) comes here
        # already found in custom_objects (keras_config translates it).
        if isinstance(m, metrics_mod.Metric) or (callable(m) and not isinstance(m, type)):
            return m
        if is_function_description(m):
            return deserialize_function(m, "metric")
        if isinstance(m, dict):
            cls = getattr(metrics_mod, str(m.get("class_name")), None)
            if not (isinstance(cls, type) and issubclass(cls, metrics_mod.Metric)):
                raise ValueError(f"unknown metric {m.get('class_name')!r}")
            return cls.from_config(m.get("config") or {})
        if not isinstance(m, str):
            raise ValueError(f"a metric must be a name or a dict, got {m!r}")
        return m

    opt = config.get("optimizer")
    if isinstance(opt, dict):
        # (a custom optimizer class found in custom_objects or registered)
        opt = optimizers.deserialize(opt)
    elif not isinstance(opt, optimizers.Optimizer):   # (a Keras file's, already made)
        raise ValueError("the optimizer must be described as a dict")
    model.compile(optimizer=opt,
                  loss=map_structure(losses.to_loss, config.get("loss")),
                  loss_weights=config.get("loss_weights"),
                  metrics=map_structure(metric, config.get("metrics")),
                  weighted_metrics=map_structure(metric, config.get("weighted_metrics")),
                  run_eagerly=bool(config.get("run_eagerly") or False))
