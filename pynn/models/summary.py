"""``model.summary()``: Keras 3's table of layers, output shapes and
parameter counts, with a "Connected to" column for graphs that are not a
plain stack."""
from ..layers.base import InputLayer, Layer, shape_str


def _format_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def class_label(layer):
    """The class name Keras shows: a model built from inputs and outputs
    is 'Functional'."""
    from .functional import Model
    return "Functional" if type(layer) is Model else type(layer).__name__


def shown_class(layer):
    """The class summary and plot_model show: class_label, but for an
    operation on symbolic tensors Keras's class of the operation (``x * 2``
    is a Multiply)."""
    from ..layers.lambda_layer import TensorOperation
    if isinstance(layer, TensorOperation):
        from ..saving.keras_ops import GETITEM, KERAS_OPS
        row = GETITEM if layer.op == "getitem" else KERAS_OPS.get(layer.op)
        if row is not None:
            return row[1]
    return class_label(layer)


def _output_shape(layer, nodes, batch=None):
    """The layer's output shape(s) in ``nodes``; ``batch`` in place of an
    unknown batch size (a subclassed model's layers show the batch its
    call first ran on, as Keras's)."""
    mine = [n for n in layer._inbound_nodes if id(n) in nodes] or layer._inbound_nodes
    if mine:
        shapes = [t.shape for t in mine[0].output_tensors]
        if batch is not None:
            shapes = [(batch,) + tuple(s[1:]) if len(s) and s[0] is None else s
                      for s in shapes]
        return shape_str(shapes[0]) if len(shapes) == 1 else \
            "[" + ", ".join(shape_str(s) for s in shapes) + "]"
    try:
        return shape_str(layer.output_shape)
    except (AttributeError, ValueError):
        return "?"


def _connections(layer, nodes, reindex):
    parts = []
    for node in layer._inbound_nodes:
        if id(node) not in nodes:
            continue
        for t in node.input_tensors:
            h = t._keras_history
            idx = reindex.get(id(h.operation._inbound_nodes[h.node_index]), h.node_index)
            parts.append(f"{h.operation.name}[{idx}][{h.tensor_index}]")
    return ", ".join(parts) or "-"


def _is_stack(model):
    """A model Keras prints without the "Connected to" column: a
    Sequential, or a graph whose nodes form one chain with no shared
    layer."""
    from .sequential import Sequential
    if isinstance(model, Sequential) or model._program is None or model._traced_call:
        return True
    prog = model._program
    if len(prog.input_slots) != 1 or len(prog.output_slots) != 1:
        return False
    seen = set()
    for st in prog.steps:
        if len(st.ins) != 1 or len(st.outs) != 1 or id(st.layer) in seen:
            return False
        seen.add(id(st.layer))
    return True


def _wrap(text, width):
    """Lines of at most ``width`` characters, broken at spaces where
    possible, as rich wraps table cells."""
    lines = []
    for word in text.split(" "):
        while len(word) > width:
            if lines and len(lines[-1]) < width:
                room = width - len(lines[-1]) - (1 if lines[-1] else 0)
                if room > 0 and lines[-1]:
                    lines[-1] += " " + word[:room]
                    word = word[room:]
                    continue
            lines.append(word[:width])
            word = word[width:]
        if not word:
            continue
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    from .sequential import Sequential
    print_fn = print_fn or print
    stack = _is_stack(model)
    batch = None
    if isinstance(model, Sequential) or model._program is None:
        layers = list(model.layers)
        nodes = set()
    elif model._traced_call:
        # Keras lists a subclassed model's own layers, not what its call did
        # (its operations, the inputs, added losses).
        layers = list(model.layers)
        nodes = {id(n) for n in model._nodes}
        batch = model.__dict__.get("_first_batch")
    else:
        layers = list(model._operations)
        nodes = {id(n) for n in model._nodes} | {id(t.node) for t in model._inputs}
    if layer_range is not None:
        import re
        if len(layer_range) != 2:
            raise ValueError(f"summary: layer_range must be a pair of layer names, got "
                             f"{layer_range!r}")
        lo = [i for i, l in enumerate(layers) if re.match(layer_range[0], l.name)]
        hi = [i for i, l in enumerate(layers) if re.match(layer_range[1], l.name)]
        if not lo or not hi:
            raise ValueError(f"summary: layer_range {layer_range!r} matches no layer")
        layers = layers[min(lo):max(hi) + 1]
    reindex = {}
    for layer in layers:
        kept = 0
        for node in layer._inbound_nodes:
            if id(node) in nodes:
                reindex[id(node)] = kept
                kept += 1

    if stack:
        header = ["Layer (type)", "Output Shape", "Param #"]
        fractions = [0.45, 0.80, 1.0]
        total_width = line_length or 84
    else:
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        fractions = [0.30, 0.56, 0.70, 1.0]
        total_width = line_length or 104
    if positions:
        fractions = [p / total_width if p > 1 else p for p in positions]
    if show_trainable:
        header.append("Trainable")
        fractions = [f * 0.9 for f in fractions] + [1.0]
    inner = total_width - 3 * len(header) - 1
    widths, prev = [], 0
    for f in fractions:
        w = int(round(f * inner)) - prev
        widths.append(max(w, 4))
        prev += w
    aligns = ["<", "<", ">", "<", "^"][:len(header)]

    def rule(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row_lines(cells, bar="\u2502"):
        wrapped = [_wrap(str(c), w) for c, w in zip(cells, widths)]
        height = max(len(c) for c in wrapped)
        out = []
        for i in range(height):
            parts = [f" {(c[i] if i < len(c) else ''):{a}{w}} "
                     for c, a, w in zip(wrapped, aligns, widths)]
            out.append(bar + bar.join(parts) + bar)
        return out

    rows = []

    def add_rows(layer, depth):
        name = layer.name if depth == 0 else "   " * (depth - 1) + " \u2514 " + layer.name
        label = f"{name} ({shown_class(layer)})"
        # (Keras builds a layer with no build of its own from the start,
        # unless it holds unbuilt layers)
        if not layer.built and (type(layer).build is not Layer.build or
                                not all(sub.built for sub in layer._sublayers())):
            params = "0 (unbuilt)"
        else:
            params = f"{layer.count_params():,}"
        cells = [label, _output_shape(layer, nodes, batch), params]
        if not stack:
            cells.append(_connections(layer, nodes, reindex))
        if show_trainable:
            cells.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        rows.append(cells)
        if expand_nested and hasattr(layer, "layers") and not isinstance(layer, InputLayer):
            for inner_layer in layer.layers:
                add_rows(inner_layer, depth + 1)

    for layer in layers:
        add_rows(layer, 0)

    out = [f'Model: "{model.name}"', rule("\u250f", "\u2533", "\u2513", "\u2501")]
    out += row_lines(header, "\u2503")
    out.append(rule("\u2521", "\u2547", "\u2529", "\u2501"))
    for i, cells in enumerate(rows):
        out += row_lines(cells)
        if i < len(rows) - 1:
            out.append(rule("\u251c", "\u253c", "\u2524", "\u2500"))
    out.append(rule("\u2514", "\u2534", "\u2518", "\u2500"))
    trainable = sum(w.value.size for w in model.trainable_weights)
    total = sum(w.value.size for w in model.weights)
    opt = getattr(model, "optimizer", None)
    opt_count = 0
    if opt is not None and getattr(model, "compiled", False) and \
            (opt.iterations > 0 or opt._state_arrays()):
        # Keras counts the iteration counter and the learning rate too.
        opt_count = 2 + sum(v.size for v in opt._state_arrays())
    grand = total + opt_count
    out.append(f" Total params: {grand:,} ({_format_bytes(grand * 4)})")
    out.append(f" Trainable params: {trainable:,} ({_format_bytes(trainable * 4)})")
    out.append(f" Non-trainable params: {total - trainable:,} "
               f"({_format_bytes((total - trainable) * 4)})")
    if opt_count:
        out.append(f" Optimizer params: {opt_count:,} ({_format_bytes(opt_count * 4)})")
    print_fn("\n".join(out))
