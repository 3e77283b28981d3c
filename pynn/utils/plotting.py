"""Pictures of training: learning curves (plot_history) and the layer
stack (plot_model), drawn with matplotlib only.

matplotlib is an optional dependency (``pip install pynn[examples]``); it is
imported inside each function.  Saving draws on the Agg canvas directly and
never touches pyplot's global backend; the PNG is written atomically.
"""
import os

_MISSING = ("{what} needs matplotlib, which is not installed: pip install matplotlib "
            "(or pip install 'pynn[examples]')")


def _matplotlib(what):
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(_MISSING.format(what=what)) from None
    return Figure


def _save(fig, path, dpi):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from .io import atomic_write
    FigureCanvasAgg(fig)
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi)


def _new_figure(Figure, path, figsize):
    if path is not None:
        return Figure(figsize=figsize)
    import matplotlib.pyplot as plt  # shown on screen: pyplot's backend
    return plt.figure(figsize=figsize)


def plot_history(history, path=None, metrics=None, dpi=100):
    """Training vs validation curves per epoch: one panel per metric
    (accuracy first, then loss, as the tutorials draw them).

    ``history`` is the History that ``fit`` returns (or its ``.history``
    dict).  With ``path`` the figure is saved there (PNG unless the suffix
    names another format) and not shown; without, it is shown with pyplot.
    Returns the matplotlib Figure.
    """
    Figure = _matplotlib("plot_history")
    from matplotlib.ticker import MaxNLocator
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history: expected a History returned by fit() (or its "
                         ".history dict) with at least one epoch recorded")
    if metrics is None:
        names = [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
        names.sort(key=lambda k: (k == "loss", k))  # accuracy-like first, loss last
    else:
        names = list(metrics)
        missing = [k for k in names if k not in logs]
        if missing:
            raise ValueError(f"plot_history: {missing} not in the history; it has "
                             f"{sorted(logs)}")
    fig = _new_figure(Figure, path, (5.0 * len(names), 4.0))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        epochs = range(1, len(logs[name]) + 1)
        ax.plot(list(epochs), logs[name], label="train")
        val = logs.get("val_" + name)
        if val:
            # validation_freq > 1 records fewer validation points
            step = max(1, round(len(logs[name]) / len(val)))
            ax.plot(list(range(step, step * len(val) + 1, step)), val, label="validation")
        title = {"acc": "accuracy"}.get(name, name)
        ax.set_title(f"model {title}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        ax.legend(loc="best")
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    if path is not None:
        _save(fig, path, dpi)
    else:
        import matplotlib.pyplot as plt
        plt.show()
    return fig


def _graph_rows(model):
    """Boxes of the picture, rows by depth from the inputs: a list of rows,
    each a list of (key, name, class, input shape text, output shape text,
    layer), and the arrows between boxes as (from key, to key)."""
    from ..layers.base import shapes_str
    from ..models.summary import class_label
    from ..models.sequential import Sequential
    if model._program is None:  # an unbuilt Sequential: a plain stack
        rows = [[(i, l.name, class_label(l), "?", "?", l)] for i, l in enumerate(model.layers)]
        return rows, [(i, i + 1) for i in range(len(rows) - 1)]
    depth, boxes, edges = {}, [], []
    for t in model._inputs:
        layer = t.node.operation
        depth[id(t)] = 0
        if isinstance(model, Sequential) and len(model._inputs) == 1:
            boxes.append((id(t), layer.name, "InputLayer", None, shapes_str(t.shape), layer, 0))
        else:
            boxes.append((id(t), layer.name, class_label(layer), None, shapes_str(t.shape),
                          layer, 0))
    for node in model._nodes:
        d = 1 + max((depth.get(id(t), 0) for t in node.input_tensors), default=0)
        key = id(node)
        ins = [t.shape for t in node.input_tensors]
        outs = [t.shape for t in node.output_tensors]
        boxes.append((key, node.operation.name, class_label(node.operation),
                      shapes_str(ins[0] if len(ins) == 1 else ins),
                      shapes_str(outs[0] if len(outs) == 1 else outs), node.operation, d))
        for t in node.input_tensors:
            src = t.node
            edges.append((id(t) if src.is_input else id(src), key))
        for t in node.output_tensors:
            depth[id(t)] = d
    rows = {}
    for b in boxes:
        rows.setdefault(b[-1], []).append(b[:-1])
    return [rows[d] for d in sorted(rows)], edges


def plot_model(model, to_file="model.png", show_shapes=True, show_layer_names=True,
               dpi=96, show_params=False, rankdir="TB", expand_nested=False,
               show_layer_activations=False, show_dtype=False, show_trainable=False):
    """A picture of the model's graph: one box per layer call (name, class,
    input and output shapes), arrows along the connections, rows from the
    inputs down to the outputs, drawn with matplotlib (no graphviz).  Saved
    to ``to_file`` atomically; returns the Figure."""
    Figure = _matplotlib("plot_model")
    from matplotlib.patches import FancyBboxPatch
    if not model.layers:
        raise ValueError("plot_model: the model has no layers")
    rows, edges = _graph_rows(model)
    box_h, gap, box_w, hgap = 1.0, 0.6, 5.2, 0.4
    cols = max(len(r) for r in rows)
    width = cols * (box_w + hgap) + 0.4
    height = len(rows) * (box_h + gap)
    fig = Figure(figsize=(max(4.2, 0.8 * width), max(1.6, 0.62 * height)))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    where = {}
    for i, row in enumerate(rows):
        top = height - gap / 2 - i * (box_h + gap)
        y0 = top - box_h
        offset = (width - len(row) * (box_w + hgap)) / 2
        for j, (key, name, cls, shp_in, shp_out, layer) in enumerate(row):
            x0 = offset + j * (box_w + hgap) + hgap / 2
            where[key] = (x0 + box_w / 2, top, y0)
            is_input = shp_in is None
            ax.add_patch(FancyBboxPatch((x0, y0), box_w, box_h,
                                        boxstyle="round,pad=0.02,rounding_size=0.12",
                                        facecolor="#eeeeee" if is_input else "#dbe9f6",
                                        edgecolor="#34495e", linewidth=1.2))
            title = f"{name} ({cls})" if show_layer_names else cls
            if show_layer_activations and getattr(layer, "activation", None) not in (None,):
                from ..activations import name_of
                title += f" [{name_of(layer.activation)}]"
            if show_trainable:
                title += " [T]" if layer.trainable else " [F]"
            ax.text(x0 + box_w / 2, y0 + box_h * (0.7 if show_shapes else 0.5), title,
                    ha="center", va="center", fontsize=9, fontweight="bold")
            if show_shapes:
                shapes = f"output: {shp_out}" if is_input else f"{shp_in} \u2192 {shp_out}"
                if show_params and layer.built and not is_input:
                    shapes += f"   {layer.count_params():,} params"
                ax.text(x0 + box_w / 2, y0 + box_h * 0.28, shapes, ha="center", va="center",
                        fontsize=8, family="monospace")
    for src, dst in edges:
        if src in where and dst in where:
            (sx, _, sy0), (dx, dtop, _) = where[src], where[dst]
            ax.annotate("", xy=(dx, dtop), xytext=(sx, sy0),
                        arrowprops=dict(arrowstyle="-|>", color="#34495e", lw=1.2))
    _save(fig, to_file, dpi)
    return fig
