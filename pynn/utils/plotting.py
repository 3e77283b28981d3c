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
    from ..models.summary import shown_class
    from ..models.sequential import Sequential
    if model._program is None:  # an unbuilt Sequential: a plain stack
        rows = [[(i, l.name, shown_class(l), "?", "?", l)] for i, l in enumerate(model.layers)]
        return rows, [(i, i + 1) for i in range(len(rows) - 1)]
    depth, boxes, edges = {}, [], []
    for t in model._inputs:
        layer = t.node.operation
        depth[id(t)] = 0
        if isinstance(model, Sequential) and len(model._inputs) == 1:
            boxes.append((id(t), layer.name, "InputLayer", None, shapes_str(t.shape), layer, 0))
        else:
            boxes.append((id(t), layer.name, shown_class(layer), None, shapes_str(t.shape),
                          layer, 0))
    for node in model._nodes:
        d = 1 + max((depth.get(id(t), 0) for t in node.input_tensors), default=0)
        key = id(node)
        ins = [t.shape for t in node.input_tensors]
        outs = [t.shape for t in node.output_tensors]
        boxes.append((key, node.operation.name, shown_class(node.operation),
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


# ------------------------------------------------------------ DOT graphs

def _dot_id(text):
    text = str(text)
    if text.replace("_", "").isalnum() and not text[:1].isdigit():
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_value(value):
    value = str(value).lower() if isinstance(value, bool) else str(value)
    if value.startswith("<") and value.endswith(">"):  # an HTML-like label stays as it is
        return value
    return _dot_id(value)


def _dot_attrs(attrs):
    return "[" + ", ".join(f"{k}={_dot_value(v)}" for k, v in attrs.items()) + "]" \
        if attrs else ""


class Dot:
    """A Graphviz graph in the DOT language, as ``model_to_dot`` builds it
    (the parts of pydot's ``Dot`` that Keras programs use): ``to_string()``
    gives the DOT text; ``create`` / ``write`` / ``write_png`` /
    ``write_svg`` run Graphviz's ``dot`` program to lay it out, and need
    Graphviz installed.  ``subgraph=True`` makes a dashed cluster for a
    nested model."""

    def __init__(self, graph_name="G", subgraph=False, **attrs):
        self.graph_name = graph_name
        self.subgraph = subgraph
        self.attrs = dict(attrs)
        self.node_defaults = {}
        self.nodes = {}       # name -> attributes, in the order added
        self.edges = []       # (source name, destination name, attributes)
        self.subgraphs = []

    def set(self, name, value):
        self.attrs[name] = value

    def set_node_defaults(self, **attrs):
        self.node_defaults.update(attrs)

    def add_node(self, name, **attrs):
        self.nodes[str(name)] = attrs

    def get_node(self, name):
        """The attributes of node ``name`` (here or in a subgraph), or None."""
        if str(name) in self.nodes:
            return self.nodes[str(name)]
        for sub in self.subgraphs:
            found = sub.get_node(name)
            if found is not None:
                return found
        return None

    def add_edge(self, src, dst, **attrs):
        if not self.get_edge(src, dst):
            self.edges.append((str(src), str(dst), attrs))

    def get_edge(self, src, dst):
        return [e for e in self.edges if e[0] == str(src) and e[1] == str(dst)]

    def add_subgraph(self, graph):
        self.subgraphs.append(graph)

    def _lines(self, indent):
        pad = " " * indent
        out = [f"{pad}{k}={_dot_value(v)};" for k, v in self.attrs.items()]
        if self.node_defaults:
            out.append(f"{pad}node {_dot_attrs(self.node_defaults)};")
        out += [f"{pad}{_dot_id(n)} {_dot_attrs(a)};" for n, a in self.nodes.items()]
        for sub in self.subgraphs:
            out.append(f"{pad}subgraph {_dot_id('cluster_' + sub.graph_name)} {{")
            out += sub._lines(indent + 2)
            out.append(f"{pad}}}")
        out += [f"{pad}{_dot_id(s)} -> {_dot_id(d)} {_dot_attrs(a)};"
                for s, d, a in self.edges]
        return out

    def to_string(self):
        return "\n".join([f"digraph {_dot_id(self.graph_name)} {{"] + self._lines(2) +
                         ["}", ""])

    __str__ = to_string

    def create(self, prog="dot", format="png"):
        """The graph laid out by Graphviz's ``prog`` in ``format`` (bytes)."""
        import shutil
        import subprocess
        exe = shutil.which(prog)
        if exe is None:
            raise OSError(f"Graphviz's {prog!r} program was not found on PATH; install "
                          f"Graphviz (https://graphviz.org/download/) to lay out the graph, "
                          f"or use to_string() for the DOT text")
        run = subprocess.run([exe, f"-T{format}"], input=self.to_string().encode(),
                             capture_output=True, check=False)
        if run.returncode != 0:
            raise OSError(f"Graphviz's {prog!r} failed: "
                          f"{run.stderr.decode(errors='replace').strip()}")
        return run.stdout

    def write(self, path, prog="dot", format="raw"):
        """Write the DOT text (``format='raw'``) or the layout in
        ``format`` to ``path`` (atomically)."""
        from .io import atomic_write
        data = self.to_string().encode() if format == "raw" else self.create(prog, format)
        with atomic_write(path, "wb") as f:
            f.write(data)

    def write_png(self, path, prog="dot"):
        self.write(path, prog, "png")

    def write_svg(self, path, prog="dot"):
        self.write(path, prog, "svg")

    def write_raw(self, path):
        self.write(path)


def _activation_name(layer):
    act = layer.activation
    return getattr(act, "name", None) or getattr(act, "__name__", None) or str(act)


def _layer_label(layer, show_layer_names, show_layer_activations, show_dtype, show_shapes,
                 show_trainable):
    """Keras's HTML-like table: the layer's name and class, then its
    activation, shapes, dtype and trainability as asked."""
    import html
    from ..models.summary import shown_class
    name = shown_class(layer)
    span = max(1, (2 if show_shapes else 0) + int(show_dtype) + int(show_trainable))
    head = f"<b>{html.escape(layer.name)}</b> ({name})" if show_layer_names else f"<b>{name}</b>"
    table = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
             f'<tr><td colspan="{span}" bgcolor="black"><font point-size="16" color="white">'
             f"{head}</font></td></tr>")
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        table += (f'<tr><td bgcolor="white" colspan="{span}"><font point-size="14">'
                  f"Activation: <b>{html.escape(_activation_name(layer))}</b></font></td></tr>")
    cells = []

    def cell(text):
        return f'<td bgcolor="white"><font point-size="14">{text}</font></td>'

    def shape_of(what):
        try:
            value = getattr(layer, what)
        except (ValueError, AttributeError):  # a shared layer has no one shape
            return "?"
        shapes = [t.shape for t in value] if isinstance(value, (list, tuple)) else value.shape
        return html.escape(str(shapes))
    if show_shapes:
        if name != "InputLayer":
            cells.append(cell(f"Input shape: <b>{shape_of('input')}</b>"))
        cells.append(cell(f"Output shape: <b>{shape_of('output')}</b>"))
    if show_dtype:
        try:
            out = layer.output
            dtype = out[0].dtype if isinstance(out, (list, tuple)) else out.dtype
        except (ValueError, AttributeError):
            dtype = None
        cells.append(cell(f"Output dtype: <b>{dtype or '?'}</b>"))
    if show_trainable and layer.weights:
        color, text = ("forestgreen", "Trainable") if layer.trainable else \
            ("firebrick", "Non-trainable")
        cells.append(f'<td bgcolor="{color}"><font point-size="14" color="white">'
                     f"<b>{text}</b></font></td>")
    if cells:
        table += f"<tr>{''.join(cells)}</tr>"
    return table + "</table>>"


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, splines="ortho",
                 **kwargs):
    """The model's graph as a :class:`Dot` (Keras's ``model_to_dot``, with
    its node labels and graph settings): one node per layer, an edge per
    connection; ``expand_nested`` draws nested models as clusters of their
    own layers.  The DOT text needs nothing installed; laying it out
    (``create``, ``write_png``) needs Graphviz's ``dot``."""
    from ..models.functional import Model
    from ..models.sequential import Sequential
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling "
                         "`build()` or by calling the model on a batch of data.")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    if subgraph:
        dot = Dot(model.name, subgraph=True, style="dashed", label=model.name, labeljust="l")
    else:
        dot = Dot(rankdir=rankdir, concentrate=True, dpi=dpi, splines=splines)
        dot.set_node_defaults(shape="record")
    options = dict(show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_dtype=show_dtype,
                   show_shapes=show_shapes, show_trainable=show_trainable)

    def add_node(layer):
        dot.add_node(str(id(layer)), label=_layer_label(layer, **options),
                     fontname="Helvetica", border="0", margin="0")

    def is_graph(layer):
        return isinstance(layer, Model) and layer._program is not None

    def add_edge(src, dst):
        dot.add_edge(str(id(src)), str(id(dst)), penwidth="2")

    if isinstance(model, Sequential) or not is_graph(model):
        layers = list(model.layers)
        if not isinstance(model, Sequential):  # a subclassed model: one node
            add_node(model)
            return dot
    else:
        layers = [t.node.operation for t in model._inputs] + \
            [n.operation for n in model._nodes]
        layers = list(dict.fromkeys(layers))
    for layer in layers:
        if expand_nested and is_graph(layer):
            dot.add_subgraph(model_to_dot(layer, show_shapes, show_dtype, show_layer_names,
                                          rankdir, expand_nested, subgraph=True,
                                          show_layer_activations=show_layer_activations,
                                          show_trainable=show_trainable))
        else:
            add_node(layer)

    def last_layer(layer):   # where a nested model's output comes from
        while expand_nested and is_graph(layer):
            layer = layer._outputs[0].node.operation
        return layer

    def first_layers(layer):  # what a nested model's inputs feed
        if not (expand_nested and is_graph(layer)):
            return [layer]
        if isinstance(layer, Sequential):
            return first_layers(layer.layers[0])
        return [n.operation for n in layer._nodes
                if any(t.node.is_input for t in n.input_tensors)]

    if isinstance(model, Sequential) or not is_graph(model):
        for a, b in zip(layers, layers[1:]):
            for dst in first_layers(b):
                add_edge(last_layer(a), dst)
        return dot
    for node in model._nodes:
        for t in node.input_tensors:
            for dst in first_layers(node.operation):
                add_edge(last_layer(t.node.operation), dst)
    return dot
