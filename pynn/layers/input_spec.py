"""InputSpec: what a layer accepts (Keras 3's ``keras.InputSpec``), and the
check every call of a layer with an ``input_spec`` makes, with Keras's
messages."""
import numpy as np

from .base import flatten, shape_str


def _dtype_name(dtype):
    """A dtype as Keras names it ('float32', 'int64', 'string', 'bool')."""
    if dtype in ("string", str, "str", object):
        return "string"
    try:
        return np.dtype(dtype).name
    except TypeError:
        raise ValueError(f"InputSpec: unknown dtype {dtype!r}") from None


def _dim(d, who):
    if d is None:
        return None
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
        raise ValueError(f"{who}: dimensions must be non-negative integers or None, got {d!r}")
    return int(d)


class InputSpec:
    """The rank, dtype and shape every input of a layer must have.

    A layer sets ``self.input_spec`` to one InputSpec (or a list, one per
    input); every call then checks its inputs against it, before the layer
    is built and again after (build may set a new spec), and refuses a
    mismatch naming the layer, the input and the shapes.  ``shape``
    includes the batch dimension; None in it matches any size.  ``axes``
    maps an axis to the size it must have."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = _dtype_name(dtype) if dtype is not None else None
        if shape is not None:
            self.shape = tuple(_dim(d, "InputSpec: shape") for d in shape)
            self.ndim = len(self.shape)
        else:
            self.ndim = ndim
            self.shape = None
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.name = name
        self.optional = optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError):
            raise TypeError(f"Argument `axes` must be a dict with integer keys. Received: "
                            f"axes={axes}") from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.max_ndim) - 1
            max_axis = max(self.axes)
            if max_axis > max_dim:
                raise ValueError(f"Axis {max_axis} is greater than the maximum allowed value: "
                                 f"{max_dim}")

    def __repr__(self):
        spec = [f"dtype={self.dtype}" if self.dtype else "",
                f"shape={self.shape}" if self.shape else "",
                f"ndim={self.ndim}" if self.ndim else "",
                f"max_ndim={self.max_ndim}" if self.max_ndim else "",
                f"min_ndim={self.min_ndim}" if self.min_ndim else "",
                f"axes={self.axes}" if self.axes else ""]
        return f"InputSpec({', '.join(x for x in spec if x)})"

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes,
                "optional": self.optional}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _input_dtype(x):
    """The dtype of an input as the layer will see it: a float array is
    computed in float32, as Keras casts floats to the layer's dtype."""
    dtype = getattr(x, "dtype", None)
    if isinstance(dtype, str):  # a symbolic tensor
        return dtype
    kind = np.dtype(dtype).kind
    return "float32" if kind == "f" else "string" if kind in "OUS" else np.dtype(dtype).name


def assert_input_compatibility(input_spec, inputs, layer_name):
    """Raise ValueError, with Keras's messages, where ``inputs`` (a tensor,
    an array or a structure of them; or (shape, dtype) pairs from
    Layer.build_for, dtype None) do not fit ``input_spec``."""
    if not input_spec:
        return
    specs = flatten(input_spec)
    if isinstance(inputs, dict):
        names = [spec.name for spec in specs]
        if all(names):
            for name in names:
                if name not in inputs:
                    raise ValueError(f'Missing data for input "{name}". You passed a data '
                                     f"dictionary with keys {list(inputs.keys())}. Expected "
                                     f"the following keys: {names}")
            inputs = [inputs[name] for name in names]
    items = flatten(inputs)
    if len(items) != len(specs):
        spec_names = [spec.name for spec in specs if spec is not None]
        if len(spec_names) == len(specs) and all(spec_names):
            keys = ", ".join(f"'{n}': ..." for n in spec_names)
            raise ValueError(f'Layer "{layer_name}" expects {len(specs)} named input(s) with '
                             f"keys {spec_names}, but it received {len(items)} input tensors. "
                             f"Pass inputs as a dict, e.g. `layer({{{keys}}})`.")
        raise ValueError(f'Layer "{layer_name}" expects {len(specs)} input(s), but it '
                         f"received {len(items)} input tensors.")
    for index, (x, spec) in enumerate(zip(items, specs)):
        if spec is None or (x is None and spec.optional):
            continue
        if isinstance(x, _ShapeOnly):
            shape, dtype = x.shape, None
        else:
            if not hasattr(x, "shape"):
                try:
                    x = np.asarray(x)
                except Exception:
                    x = None
                if x is None or x.dtype == object and x.ndim == 0:
                    raise ValueError(f"Inputs to a layer should be tensors. Got '{items[index]}' "
                                     f"(of type {type(items[index])}) as input for layer "
                                     f"'{layer_name}'.")
            shape, dtype = tuple(x.shape), _input_dtype(x)
        ndim = len(shape)
        where = f"Input {index} with name '{spec.name}' of layer '{layer_name}' is " \
                f"incompatible with the layer:"
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(f"{where} expected ndim={spec.ndim}, found ndim={ndim}. Full shape "
                             f"received: {shape_str(shape)}")
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(f"{where} expected max_ndim={spec.max_ndim}, found ndim={ndim}")
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(f"{where} expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                             f"Full shape received: {shape_str(shape)}")
        if spec.dtype is not None and dtype is not None and dtype != spec.dtype:
            raise ValueError(f"{where} expected dtype={spec.dtype}, found dtype={dtype}")
        for axis, value in spec.axes.items():
            if value is None:
                continue
            if not -ndim <= axis < ndim:
                raise ValueError(f"{where} expected axis {axis} of input shape to have value "
                                 f"{value}, but received input with shape {shape_str(shape)}")
            if shape[axis] not in (value, None):
                raise ValueError(f"{where} expected axis {axis} of input shape to have value "
                                 f"{value}, but received input with shape {shape_str(shape)}")
        if spec.shape is not None:
            spec_shape, got = spec.shape, shape
            if spec.allow_last_axis_squeeze:
                if len(got) > 0 and got[-1] == 1:
                    got = got[:-1]
                if len(spec_shape) > 0 and spec_shape[-1] == 1:
                    spec_shape = spec_shape[:-1]
            for spec_dim, dim in zip(spec_shape, got):
                if spec_dim is not None and dim is not None and spec_dim != dim:
                    raise ValueError(f"{where} expected shape={shape_str(spec.shape)}, found "
                                     f"shape={shape_str(got)}")


class _ShapeOnly:
    """An input known by its shape only (a build's input shape)."""
    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = tuple(shape)


def shapes_as_inputs(shapes):
    """Layer.build_for's shape (or list of shapes) as inputs to check."""
    if isinstance(shapes, list):
        return [_ShapeOnly(s) for s in shapes]
    return _ShapeOnly(shapes)
