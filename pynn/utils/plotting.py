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


def _shape(layer, attr):
    from ..layers.base import shape_str
    try:
        return shape_str(getattr(layer, attr))
    except AttributeError:
        return "?"


def plot_model(model, to_file="model.png", show_shapes=True, show_layer_names=True,
               dpi=96, show_params=False):
    """A picture of the model: one box per layer (name, class, input and
    output shapes), arrows from input to output, drawn with matplotlib (no
    graphviz).  Saved to ``to_file`` atomically; returns the Figure."""
    Figure = _matplotlib("plot_model")
    from matplotlib.patches import FancyBboxPatch
    layers = list(model.layers)
    if not layers:
        raise ValueError("plot_model: the model has no layers")
    rows = []
    try:
        input_shape = model.input_shape
    except AttributeError:
        input_shape = None
    if input_shape is not None:
        from ..layers.base import shape_str
        rows.append(("input_layer" if show_layer_names else "", "InputLayer",
                     None, shape_str(input_shape), None))
    for layer in layers:
        params = f"{layer.count_params():,} params" if (show_params and layer.built) else None
        rows.append((layer.name if show_layer_names else "", type(layer).__name__,
                     _shape(layer, "input_shape"), _shape(layer, "output_shape"), params))
    box_h, gap, width = 1.0, 0.6, 6.0
    height = len(rows) * (box_h + gap)
    fig = Figure(figsize=(4.2, max(1.6, 0.62 * height)))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    for i, (name, cls, shp_in, shp_out, params) in enumerate(rows):
        top = height - gap / 2 - i * (box_h + gap)
        y0 = top - box_h
        ax.add_patch(FancyBboxPatch((0.4, y0), width - 0.8, box_h,
                                    boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor="#dbe9f6" if i or input_shape is None else "#eeeeee",
                                    edgecolor="#34495e", linewidth=1.2))
        title = f"{name} ({cls})" if name else cls
        ax.text(width / 2, y0 + box_h * (0.7 if show_shapes else 0.5), title,
                ha="center", va="center", fontsize=9, fontweight="bold")
        if show_shapes:
            shapes = f"output: {shp_out}" if shp_in is None else f"{shp_in} \u2192 {shp_out}"
            if params:
                shapes += f"   {params}"
            ax.text(width / 2, y0 + box_h * 0.28, shapes, ha="center", va="center",
                    fontsize=8, family="monospace")
        if i:
            ax.annotate("", xy=(width / 2, top), xytext=(width / 2, top + gap),
                        arrowprops=dict(arrowstyle="-|>", color="#34495e", lw=1.2))
    _save(fig, to_file, dpi)
    return fig
