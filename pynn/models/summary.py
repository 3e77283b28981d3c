"""``model.summary()``: Keras 3's table of layers, output shapes and
parameter counts, with a "Connected to" column for graphs that are not a
plain stack."""
import math
import re
import shutil

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
    """Lines of at most ``width`` characters, as rich wraps the cells of
    Keras's table: broken at spaces; a word longer than a line stands on a
    line of its own, cut to the width with an ellipsis."""
    lines, line = [], ""
    for word in re.findall(r"\s*\S+\s*", text):
        if width - len(line) >= len(word.rstrip()):
            line += word
        else:
            if line:
                lines.append(line)
            line = word
    lines.append(line)
    lines = [ln.rstrip() for ln in lines]
    return [ln if len(ln) <= width else ln[:width - 1] + "\u2026" for ln in lines]


# Keras's layers without weights that are built from the start (their
# __init__ builds them) and those that are not until called, where pynn's
# rule (built from the start when the class has no build) would differ.
_BUILT_AT_INIT = frozenset(
    [f"{kind}Pooling{d}D" for kind in ("Max", "Average", "GlobalMax", "GlobalAverage")
     for d in (1, 2, 3)] + ["Masking", "UnitNormalization"])
_UNBUILT_AT_INIT = frozenset(["Flatten", "Permute", "RepeatVector", "Rescaling",
                              "CenterCrop", "Resizing"])


def _unbuilt_in_keras(layer):
    """Whether Keras's summary says "(unbuilt)" for this layer, not built
    yet here: Keras builds a layer with no build of its own from the start,
    unless it holds unbuilt layers, and a few others (see above)."""
    name = type(layer).__name__
    if type(layer).__module__.startswith("pynn.layers."):
        if name in _BUILT_AT_INIT:
            return False
        if name in _UNBUILT_AT_INIT:
            return True
    return type(layer).build is not Layer.build or \
        not all(sub.built for sub in layer._sublayers())


def _column_widths(fractions, total_width):
    """The text width of each column, as Keras's rich table lays them out:
    Keras asks for each fraction's share of ``total_width`` plus a space
    each side, and rich narrows (or widens) the columns evenly to fit the
    table's width less its borders."""
    widths, prev = [], 0
    for f in fractions:
        w = int(f * total_width) - prev
        widths.append(w + 2)
        prev += w
    room = total_width - len(widths) - 1
    if sum(widths) > room:  # rich's ratio_reduce, every column alike
        excess, left = sum(widths) - room, len(widths)
        for i, w in enumerate(widths):
            cut = min(w, round(excess / left))
            widths[i] -= cut
            excess -= cut
            left -= 1
    elif sum(widths) < room:  # rich's ratio_distribute, by the columns' widths
        extra, share = room - sum(widths), sum(widths)
        for i, w in enumerate(widths):
            add = math.ceil(w * extra / share) if share > 0 else extra
            widths[i] += add
            extra -= add
            share -= w
    return [max(w - 2, 1) for w in widths]


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    from .sequential import Sequential
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
        fractions, default_width = [0.45, 0.80, 1.0], 88
    else:
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        fractions, default_width = [0.30, 0.56, 0.74, 1.0], 108
    if show_trainable:
        default_width += 12
    # As Keras: the default fits the terminal, or 80 columns where the
    # output is no terminal (a file, a pipe, a notebook's captured cell).
    total_width = line_length or min(default_width, shutil.get_terminal_size().columns - 4)
    if positions:
        fractions = [p / total_width if p > 1 else p for p in positions]
    if show_trainable:
        header.append("Trainable")
        fractions = [f * 0.9 for f in fractions] + [1.0]
    widths = _column_widths(fractions, total_width)
    # (Keras: the counts to the right, the Trainable flags centred)
    aligns = ["<", "<", ">", "<"][:len(header) - show_trainable] + ["^"] * show_trainable

    def rule(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row_lines(cells, bar="\u2502"):
        wrapped = [_wrap(str(c), w) for c, w in zip(cells, widths)]
        height = max(len(c) for c in wrapped)
        if bar != "\u2502":  # rich sets the header's cells at the bottom
            wrapped = [[""] * (height - len(c)) + c for c in wrapped]
        out = []
        for i in range(height):
            parts = [f" {(c[i] if i < len(c) else ''):{a}{w}} "
                     for c, a, w in zip(wrapped, aligns, widths)]
            out.append(bar + bar.join(parts) + bar)
        return out

    rows = []

    def add_rows(layer, depth):
        name = layer.name if depth == 0 else "   " * depth + "\u2514 " + layer.name
        label = f"{name} ({shown_class(layer)})"
        if not layer.built and _unbuilt_in_keras(layer):
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
    if print_fn is None:
        print("\n".join(out))
    else:
        # (Keras hands a print_fn the text rich captured, ending in a newline)
        print_fn("\n".join(out) + "\n")
