"""How TensorFlow runs code, for programs ported with ``import pynn as tf``:
``tf.function``, ``tf.TensorSpec``, ``tf.py_function``,
``tf.numpy_function``, ``tf.TensorArray``, ``tf.print``,
``tf.executing_eagerly``, and the control flow (``tf.cond``,
``tf.while_loop``, ``tf.map_fn``, ``tf.switch_case``).

pynn runs everything eagerly (the C kernels are its compiled code), so a
``tf.function`` runs the Python function itself, each call: the results
are those of the undecorated function, and a GradientTape open around the
call records what it computes.
"""
import contextlib
import functools
import inspect
import sys
import types

import numpy as np

from . import ops
from .autodiff import value_of as _value_of
from .debugging import InvalidArgumentError
from .dtypes import as_dtype, float32
from .tensor import Tensor, TensorShape, eager


class TensorSpec:
    """TensorFlow's ``tf.TensorSpec``: a shape (None where any size fits) and
    a dtype that a function's inputs or a dataset's elements have."""

    def __init__(self, shape, dtype=float32, name=None):
        # (None: any rank, as TensorFlow's TensorSpec(None))
        self.shape = None if shape is None else TensorShape(shape)
        self.dtype = as_dtype(dtype)
        self.name = name

    @property
    def value_type(self):
        """The Python type of the values this spec describes (tf.Tensor)."""
        return Tensor

    @classmethod
    def from_tensor(cls, tensor, name=None):
        return cls(ops.shape(tensor), _dtype_of(tensor), name)

    def is_compatible_with(self, spec_or_tensor):
        """Whether ``spec_or_tensor`` (a TensorSpec or a value) has this
        spec's rank, its known sizes and its dtype."""
        other = spec_or_tensor if isinstance(spec_or_tensor, TensorSpec) else \
            TensorSpec.from_tensor(spec_or_tensor)
        return self.dtype == other.dtype and _shapes_fit(self.shape, other.shape)

    def __eq__(self, other):
        return isinstance(other, TensorSpec) and (self.shape, self.dtype, self.name) == \
            (other.shape, other.dtype, other.name)

    def __hash__(self):
        return hash((self.shape, str(self.dtype), self.name))

    def __repr__(self):
        shape = None if self.shape is None else tuple(self.shape)
        return f"TensorSpec(shape={shape}, dtype={self.dtype!r}, name={self.name!r})"


class RaggedTensorSpec(TensorSpec):
    """TensorFlow's ``tf.RaggedTensorSpec``: the shape (the ragged axis
    None), dtype and ragged rank of RaggedTensors, for a tf.function's
    input_signature or tf.map_fn's fn_output_signature."""

    def __init__(self, shape=None, dtype=float32, ragged_rank=None, row_splits_dtype="int64",
                 flat_values_spec=None, name=None):
        super().__init__(shape, dtype, name)
        rank = None if self.shape is None else len(self.shape)
        if ragged_rank is None:
            ragged_rank = 1 if rank is None else rank - 1
        # (ragged_rank 0: a row of a RaggedTensor, a dense tensor, as a
        # dataset sliced from one has for its elements)
        if ragged_rank not in (0, 1) or (rank is not None and rank < ragged_rank + 1):
            raise ValueError(f"tf.RaggedTensorSpec: pynn's RaggedTensor has one ragged "
                             f"dimension (ragged_rank=1, rank 2 or more; or ragged_rank=0, "
                             f"a row), got shape "
                             f"{None if self.shape is None else tuple(self.shape)} and "
                             f"ragged_rank={ragged_rank}")
        self.ragged_rank = ragged_rank
        self.row_splits_dtype = as_dtype(row_splits_dtype)
        self.flat_values_spec = flat_values_spec

    @property
    def value_type(self):
        from .ragged import RaggedTensor
        return RaggedTensor

    @classmethod
    def from_value(cls, value):
        return cls(value.shape, value.dtype, ragged_rank=value.ragged_rank)

    def is_compatible_with(self, spec_or_value):
        """Whether ``spec_or_value`` (a RaggedTensorSpec or a RaggedTensor)
        has this spec's dtype, rank and known sizes."""
        from .ragged import RaggedTensor
        if isinstance(spec_or_value, RaggedTensor):
            spec_or_value = RaggedTensorSpec.from_value(spec_or_value)
        elif self.ragged_rank == 0 and not isinstance(spec_or_value, TensorSpec):
            return TensorSpec(self.shape, self.dtype).is_compatible_with(spec_or_value)
        if not isinstance(spec_or_value, RaggedTensorSpec):
            return False
        return self.dtype == spec_or_value.dtype and \
            (spec_or_value.shape is None or _shapes_fit(self.shape, spec_or_value.shape))

    def __eq__(self, other):
        return isinstance(other, RaggedTensorSpec) and super().__eq__(other)

    def __hash__(self):
        return hash(("ragged", self.shape, str(self.dtype), self.name))

    def __repr__(self):
        shape = None if self.shape is None else tuple(self.shape)
        return (f"RaggedTensorSpec(TensorShape({list(shape) if shape is not None else None}), "
                f"{self.dtype!r}, {self.ragged_rank}, {self.row_splits_dtype!r})")


def _dtype_of(x):
    if isinstance(x, (str, bytes)):
        return as_dtype("string")
    dtype = getattr(x, "dtype", None)
    # Python numbers and lists as tf.constant takes them: float32, int32
    return as_dtype(np.asarray(ops.convert_to_tensor(x)).dtype if dtype is None else dtype)


def _shapes_fit(spec, shape):
    if spec is None:
        return True
    return len(spec) == len(shape) and all(a is None or a == b for a, b in zip(spec, shape))


class _SignatureMismatch(Exception):
    """A value that does not fit its TensorSpec (told apart from a
    structure that does not match)."""


class InputSignatureError(TypeError, InvalidArgumentError):
    """A call whose inputs do not fit a tf.function's input_signature: a
    TypeError as TensorFlow 2.13 and later raise, a ValueError as earlier
    versions did, and the InvalidArgumentError a concrete function raises
    for a tensor of another dtype."""

    def __init__(self, message):
        TypeError.__init__(self, message)
        self.message = message


def _plain_parameters(fn):
    """The parameters of ``fn`` when all are named positional ones (no
    ``*args``, ``**kwargs`` or keyword-only), else None."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
        return None
    return params


def _numbers_as_tensors(out):
    """A tf.function's Python numbers returned as tensors, as TensorFlow
    returns them (``tf.function(relu)(x)`` giving ``0``: ``.numpy()``)."""
    if isinstance(out, (bool, int, float, np.generic)):
        from .backend import constant_tensor
        return constant_tensor(out)
    if type(out) in (list, tuple):
        return type(out)(_numbers_as_tensors(v) for v in out)
    if type(out) is dict:
        return {k: _numbers_as_tensors(v) for k, v in out.items()}
    return out


# The calls recorded while tf.summary.trace_on is on: {node name:
# (function name, [(argument, shape, dtype)], [(output, shape, dtype)])},
# one per function and input signature; None while off.
traced_calls = [None]


def _leaf_specs(prefix, value):
    """[(name, shape, dtype name)] of the tensors in ``value``, as
    TensorSpec.from_tensor sees them (objects and None are not tensors of
    the graph)."""
    from .tree import flatten
    specs = []
    for i, leaf in enumerate(flatten(value)):
        if isinstance(leaf, (str, bytes)):
            shape, dtype = (), "string"
        elif isinstance(_value_of(leaf), (bool, int, float, np.generic, np.ndarray)):
            spec = TensorSpec.from_tensor(leaf)
            shape, dtype = spec.shape, spec.dtype.name
        else:
            continue
        specs.append((prefix if i == 0 else f"{prefix}_{i}", tuple(shape), dtype))
    return specs


def _record_call(fname, python_function, args, kwargs, out):
    try:
        names = list(inspect.signature(python_function).parameters)
    except (TypeError, ValueError):
        names = []
    ins = []
    for i, a in enumerate(args):
        ins += _leaf_specs(names[i] if i < len(names) else f"arg_{i}", a)
    for k, v in kwargs.items():
        ins += _leaf_specs(k, v)
    outs = _leaf_specs("output", out)
    calls = traced_calls[0]
    for node_name, entry in calls.items():
        if entry == (fname, ins, outs):
            return  # (the same function and signature: one concrete function)
    taken = sum(1 for e in calls.values() if e[0] == fname)
    calls[fname if not taken else f"{fname}_{taken}"] = (fname, ins, outs)


class Function:
    """What ``tf.function`` makes: calling it calls the Python function
    (``python_function``) on its arguments, after checking them against
    ``input_signature`` when one was given, as TensorFlow does.  Tracing
    options (``jit_compile``, ``reduce_retracing``, ``autograph``) are kept
    and change nothing: every call runs the Python code eagerly."""

    def __init__(self, python_function, input_signature=None, autograph=True,
                 jit_compile=None, reduce_retracing=False, name=None):
        if not callable(python_function):
            raise TypeError(f"tf.function: expected a function, got {python_function!r}")
        self.python_function = python_function
        self.input_signature = None if input_signature is None else tuple(input_signature)
        self.autograph = autograph
        self.jit_compile = jit_compile
        self.reduce_retracing = reduce_retracing
        self._name = name or getattr(python_function, "__name__", type(python_function).__name__)
        functools.update_wrapper(self, python_function, updated=())

    @property
    def name(self):
        return self._name

    def __call__(self, *args, **kwargs):
        if self.input_signature is not None:
            args, kwargs = self._check_signature(args, kwargs)
        out = _numbers_as_tensors(self.python_function(*args, **kwargs))
        if traced_calls[0] is not None:
            _record_call(self._name, self.python_function, args, kwargs, out)
        return out

    def _check_signature(self, args, kwargs):
        """The arguments as tensors of the input_signature's dtypes (a
        Python string, number or list becomes one, as TensorFlow converts
        them), or a ValueError where one does not fit its spec."""
        from .backend import constant_tensor
        from .tree import map_structure_up_to
        values = list(args) + list(kwargs.values())
        params = _plain_parameters(self.python_function)
        if params is not None and len(values) < len(self.input_signature):
            # (the arguments by name and the defaults in the parameters'
            # order, as TensorFlow binds them: __call__(img, size, tile=512)
            # called with two)
            try:
                bound = inspect.Signature(params).bind(*args, **kwargs)
            except TypeError:
                pass
            else:
                bound.apply_defaults()
                args, kwargs = tuple(bound.arguments.values()), {}
                values = list(args)
        if len(values) != len(self.input_signature):
            raise TypeError(f"tf.function {self._name!r}: input_signature has "
                            f"{len(self.input_signature)} inputs, the call gave {len(values)}")
        converted = []
        for i, (spec, value) in enumerate(zip(self.input_signature, values)):
            # The value is matched to the signature's structure only as deep
            # as it goes: a list given for a TensorSpec is one tensor
            # (compute_z([1, 2], ...) for TensorSpec(shape=[None])).
            def leaf(s, v, i=i):
                if getattr(v, "dtype", None) is None and not isinstance(v, np.generic):
                    try:
                        v = constant_tensor(v, dtype=None if s.dtype.name == "string"
                                            else s.dtype.name)
                    except (TypeError, ValueError):
                        pass  # (reported below as not fitting)
                if not s.is_compatible_with(v):
                    raise _SignatureMismatch(
                        f"tf.function {self._name!r}: input {i} of shape "
                        f"{tuple(getattr(v, 'shape', None) or ops.shape(v))} and dtype {_dtype_of(v)} does not fit the "
                        f"input_signature's {s!r}")
                return eager(v) if type(v) is np.ndarray else v
            try:
                converted.append(map_structure_up_to(spec, leaf, spec, value))
            except _SignatureMismatch as e:
                raise InputSignatureError(str(e)) from None
            except (TypeError, ValueError):
                raise InputSignatureError(
                    f"tf.function {self._name!r}: input {i} has the structure of {value!r}, "
                    f"not that of the signature's {spec!r}") from None
        n = len(args)
        return tuple(converted[:n]), dict(zip(kwargs, converted[n:]))

    def __get__(self, instance, owner=None):
        # a decorated method: the function bound to the instance, decorated
        if instance is None:
            return self
        bound = Function(types.MethodType(self.python_function, instance),
                         self.input_signature, self.autograph, self.jit_compile,
                         self.reduce_retracing, self._name)
        return bound

    def get_concrete_function(self, *args, **kwargs):
        """A callable for the given inputs (TensorSpecs or values) or for
        the input_signature; it runs the Python function as this one does."""
        if args or kwargs:
            # Tensors and TensorSpecs are the concrete function's inputs;
            # other Python values (numbers, objects) are bound into it, as
            # TensorFlow bakes them into the traced graph.
            def is_input(a):
                return isinstance(a, TensorSpec) or hasattr(a, "dtype") and hasattr(a, "shape")
            fixed_args = [(i, a) for i, a in enumerate(args) if not is_input(a)]
            fixed_kwargs = {k: v for k, v in kwargs.items() if not is_input(v)}
            inputs = [a for a in args if is_input(a)] + \
                [v for v in kwargs.values() if is_input(v)]
            names = [k for k, v in kwargs.items() if is_input(v)]
            signature = tuple(a if isinstance(a, TensorSpec) else TensorSpec.from_tensor(a)
                              for a in inputs)
            if not (fixed_args or fixed_kwargs):
                return self._concrete(signature)
            n_positional = len(inputs) - len(names)
            python_function = self.python_function

            fixed_at = dict(fixed_args)

            def bound(*values, **named):
                # the inputs in order: the positional ones, then the named ones
                given = list(values) + [named.pop(k) for k in names if k in named]
                positional = iter(given[:n_positional])
                full = [fixed_at[i] if i in fixed_at else next(positional)
                        for i in range(len(args))]
                return python_function(*full, **fixed_kwargs,
                                       **dict(zip(names, given[n_positional:])), **named)
            return ConcreteFunction(bound, signature, self._name)
        elif self.input_signature is not None:
            signature = self.input_signature
        else:
            raise ValueError(f"tf.function {self._name!r}: get_concrete_function needs the "
                             f"inputs (values or TensorSpecs) or an input_signature")
        return self._concrete(tuple(signature))

    def _concrete(self, signature):
        """The one concrete function of ``signature``: asked again for the
        same shapes and dtypes, the same object, as TensorFlow's cache
        gives."""
        cache = self.__dict__.setdefault("_concrete_functions", {})
        if signature not in cache:
            cache[signature] = ConcreteFunction(self.python_function, signature, self._name)
        return cache[signature]

    def experimental_get_tracing_count(self):
        """0: nothing is ever traced, every call runs the Python function."""
        return 0

    def __repr__(self):
        return f"<pynn function {self._name}>"


class ConcreteFunction(Function):
    """A Function for one input signature (``get_concrete_function``)."""

    def __init__(self, python_function, input_signature, name):
        super().__init__(python_function, input_signature, name=name)

    @property
    def structured_input_signature(self):
        return self.input_signature, {}

    @property
    def inputs(self):
        return list(self.input_signature)


def function(func=None, input_signature=None, autograph=True, jit_compile=None,
             reduce_retracing=False, experimental_implements=None,
             experimental_autograph_options=None, experimental_attributes=None,
             experimental_relax_shapes=None, experimental_compile=None,
             experimental_follow_type_hints=None):
    """TensorFlow's ``tf.function``, as a decorator with or without
    arguments or called on a function: a :class:`Function` that runs it."""
    def decorate(f):
        return Function(f, input_signature, autograph,
                        jit_compile if jit_compile is not None else experimental_compile,
                        reduce_retracing or bool(experimental_relax_shapes))
    return decorate if func is None else decorate(func)


@contextlib.contextmanager
def init_scope():
    """``tf.init_scope``: what runs in it runs eagerly, once, outside any
    function being traced (a variable made on a first call).  A tf.function
    here runs its Python code eagerly at each call, so the block runs as it
    is."""
    yield


def executing_eagerly():
    """True, but False in the steps of fit and evaluate and while a
    subclassed model's call() is traced into the graph that training runs,
    as TensorFlow runs those in a tf.function: code that inspects values
    only when eager (a shape checker in a call()) skips itself there."""
    from .autodiff import in_fit_step, model_being_traced
    return model_being_traced() is None and not in_fit_step()


def py_function(func=None, inp=None, Tout=None, name=None):
    """``func(*inp)``, its results cast to ``Tout`` (a dtype, or a list of
    them for several results), as eager tensors.  ``func`` sees the inputs
    as they are, so pynn operations in it record on an open GradientTape.
    Without ``func`` (``@tf.py_function(Tout=...)``), a decorator: the
    decorated function's arguments are the inputs."""
    if func is None:
        return _decorator(py_function, Tout, name)
    out = func(*inp)
    return _as_outputs(out, Tout, "py_function")


def numpy_function(func=None, inp=None, Tout=None, stateful=True, name=None):
    """``func`` called on the inputs as plain NumPy arrays (scalars as
    NumPy's scalars, a string as its bytes), its results
    cast to ``Tout``; no gradient flows through it (as TensorFlow's).
    Without ``func``, a decorator, as py_function's."""
    if func is None:
        return _decorator(numpy_function, Tout, name)

    def plain(v):
        # (a 0-d input as NumPy's scalar, a string's as its bytes, as
        # TensorFlow hands them over: Image.open(path) in the function)
        a = np.asarray(ops.convert_to_numpy(v))
        return a[()] if a.ndim == 0 else a
    out = func(*[plain(v) for v in inp])
    return _as_outputs(out, Tout, "numpy_function")


def _decorator(wrapper, Tout, name):
    if Tout is None:
        raise TypeError(f"{wrapper.__name__}: Tout (the results' dtypes) is required")

    def decorate(fn):
        @functools.wraps(fn)
        def call(*args):
            return wrapper(fn, list(args), Tout, name=name)
        return call
    return decorate


def _as_outputs(out, Tout, who):
    def one(v, dtype):
        if dtype is None:
            return v
        name = str(as_dtype(dtype))
        if name == "string":
            return eager(np.asarray(v, dtype=object))
        return v if _dtype_of(v) == name else ops.cast(v, name)
    if isinstance(Tout, (list, tuple)):
        if not Tout and out is None:
            return []  # (Tout=[]: a function run for its effect, as TensorFlow's)
        if len(Tout) == 1 and not isinstance(out, (list, tuple)):
            out = [out]  # (one result for Tout=[dtype], as TensorFlow takes it)
        if not isinstance(out, (list, tuple)) or len(out) != len(Tout):
            raise ValueError(f"{who}: Tout names {len(Tout)} results, the function returned "
                             f"{out!r}")
        return eager([one(v, t) for v, t in zip(out, Tout)])
    return eager(one(out, Tout))


class TensorArray:
    """TensorFlow's ``tf.TensorArray``: a list of same-shaped values written
    by index (``ta = ta.write(i, x)``) and stacked at the end; ``stack``
    and ``concat`` record on a GradientTape as ``tf.stack`` does."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        self.dtype = as_dtype(dtype)
        self._values = [None] * int(size or 0)
        self._dynamic = bool(dynamic_size)
        self._element_shape = None if element_shape is None else TensorShape(element_shape)
        self._infer_shape = infer_shape

    @property
    def element_shape(self):
        return self._element_shape

    def size(self, name=None):
        return eager(np.asarray(len(self._values), np.int32))

    def write(self, index, value, name=None):
        i = int(index)
        if i < 0 or (i >= len(self._values) and not self._dynamic):
            raise IndexError(f"TensorArray.write: index {i} is outside the array of size "
                             f"{len(self._values)} (dynamic_size=False)")
        if _dtype_of(value) != self.dtype:
            value = ops.cast(value, str(self.dtype))
        shape = TensorShape(ops.shape(value))
        if self._element_shape is not None and self._infer_shape and \
                not _shapes_fit(self._element_shape, shape):
            raise ValueError(f"TensorArray.write: a value of shape {tuple(shape)} does not fit "
                             f"the element shape {tuple(self._element_shape)}")
        if self._infer_shape and self._element_shape is None:
            self._element_shape = shape
        self._values.extend([None] * (i + 1 - len(self._values)))
        self._values[i] = value
        return self

    def read(self, index, name=None):
        v = self._values[int(index)]
        if v is None:
            raise ValueError(f"TensorArray.read: index {int(index)} was never written")
        return eager(v)

    def unstack(self, value, name=None):
        for i in range(ops.shape(value)[0]):
            self.write(i, value[i])
        return self

    def scatter(self, indices, value, name=None):
        for j, i in enumerate(np.asarray(ops.convert_to_numpy(indices)).ravel()):
            self.write(int(i), value[j])
        return self

    def _written(self, who):
        missing = [i for i, v in enumerate(self._values) if v is None]
        if missing:
            raise ValueError(f"TensorArray.{who}: indices {missing} were never written")
        return self._values

    def stack(self, name=None):
        values = self._written("stack")
        if not values:
            shape = (0,) + tuple(d or 0 for d in (self._element_shape or ()))
            return eager(np.zeros(shape, self.dtype.as_numpy_dtype))
        return eager(ops.stack(values, axis=0))

    def gather(self, indices, name=None):
        values = self._written("gather")
        return eager(ops.stack([values[int(i)] for i in
                                np.asarray(ops.convert_to_numpy(indices)).ravel()], axis=0))

    def concat(self, name=None):
        return eager(ops.concatenate(self._written("concat"), axis=0))

    def close(self, name=None):
        self._values = []


def print(*inputs, output_stream=None, summarize=3, sep=" ", end="\n", name=None):
    """TensorFlow's ``tf.print``: the inputs (tensors as NumPy prints them,
    at most ``summarize`` entries at each end of an axis; -1 or None for
    all) to ``output_stream`` (sys.stderr by default, as TensorFlow's).  A
    string is printed as it is, any other Python object as ``pprint``
    formats it (a NumPy array as ``array([...])``, bytes as ``b'...'``), a
    list or dict holding tensors with each tensor formatted in its place,
    as TensorFlow's."""
    import pprint
    from .math import is_tensor
    full = summarize is None or summarize < 0

    def tensor_text(v):
        a = np.asarray(ops.convert_to_numpy(v))
        text = (lambda b: b.decode(errors="replace") if isinstance(b, bytes) else str(b))
        if a.dtype.kind in "OSU" and not a.ndim:
            return text(a[()])
        # (the strings of a string tensor in double quotes, as TensorFlow's)
        formatter = ({"all": lambda b: '"' + text(b) + '"'} if a.dtype.kind in "OSU"
                     else None)
        with np.printoptions(threshold=sys.maxsize if full else 2 * summarize,
                             edgeitems=max(int(summarize), 1) if not full else 3):
            return (np.array2string(a, separator=" ", formatter=formatter) if a.ndim
                    else str(a[()]))

    parts = []
    for v in inputs:
        if isinstance(v, str):
            parts.append(v)
        elif is_tensor(v):
            parts.append(tensor_text(v))
        elif isinstance(v, np.generic):
            # (a NumPy scalar as NumPy 1 printed it: 0.5, not np.float32(0.5))
            parts.append(str(v))
        elif isinstance(v, (list, tuple, dict)):
            from .tree import flatten, pack_sequence_as
            leaves = flatten(v)
            found = [x for x in leaves if is_tensor(x)]
            if not found:
                parts.append(pprint.pformat(v))
                continue
            mark = "{tensor_%d}" % id(found)
            text = pprint.pformat(pack_sequence_as(
                v, [_Mark(mark) if is_tensor(x) else x for x in leaves]))
            for x in found:
                text = text.replace(mark, tensor_text(x), 1)
            parts.append(text)
        else:
            parts.append(pprint.pformat(v))
    stream = sys.stderr if output_stream is None else output_stream
    if isinstance(stream, str):  # TensorFlow's "file://path" and logging names
        if stream.startswith("file://"):
            with open(stream[len("file://"):], "a") as f:
                f.write(sep.join(parts) + end)
            return None
        stream = sys.stdout if stream == "stdout" else sys.stderr
    stream.write(sep.join(parts) + end)
    return None


def no_op(name=None):
    """TensorFlow's ``tf.no_op``: nothing to do (None, as TensorFlow's in
    eager execution, where operations run as they are called)."""
    return None


def group(*inputs, **kwargs):
    """TensorFlow's ``tf.group``: in eager execution every operation has
    run when it was called, so there is nothing to wait for (None, as
    TensorFlow's eager ``tf.group``)."""
    unknown = set(kwargs) - {"name"}
    if unknown:
        raise TypeError(f"tf.group: unknown keyword arguments {sorted(unknown)}")
    return None


class _NoControl:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def control_dependencies(control_inputs):
    """TensorFlow's ``tf.control_dependencies`` in eager execution: the
    control inputs have run already (callables among them are called now,
    as TensorFlow's), and the block runs as it is."""
    if control_inputs is not None:
        if not isinstance(control_inputs, (list, tuple)):
            raise TypeError(f"tf.control_dependencies: control_inputs must be a list, got "
                            f"{type(control_inputs).__name__}")
        for c in control_inputs:
            if callable(c) and not hasattr(c, "shape"):
                c()
    return _NoControl()


class _Mark(str):
    """A tensor's place in the text ``pprint`` makes of a structure
    (printed bare, with no quotes)."""

    def __repr__(self):
        return str(self)


# ------------------------------------------------------------ control flow
# Eager, as everything here: the branch or loop runs in Python on the
# predicate's value, and a tape records the operations each step computes.

def cond(pred, true_fn=None, false_fn=None, name=None):
    """``true_fn()`` when ``pred`` holds, else ``false_fn()``."""
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("tf.cond: true_fn and false_fn must be callables")
    return ops.cond(pred, true_fn, false_fn)


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, maximum_iterations=None, name=None):
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` holds (at
    most ``maximum_iterations`` times); the loop variables in the structure
    given."""
    return ops.while_loop(cond, body, loop_vars, maximum_iterations=maximum_iterations)


def switch_case(branch_index, branch_fns, default=None, name=None):
    """The result of ``branch_fns[branch_index]()`` (a list, or a dict of
    index to callable), ``default()`` for an index with no branch (the last
    branch when no default is given, as TensorFlow's)."""
    fns = dict(branch_fns) if isinstance(branch_fns, dict) else \
        dict(enumerate(f[1] if isinstance(f, tuple) else f for f in branch_fns))
    if not fns:
        raise ValueError("tf.switch_case: branch_fns is empty")
    i = int(np.asarray(ops._plain(branch_index)))
    fn = fns.get(i, default if default is not None else fns[max(fns)])
    return fn()


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None, fn_output_signature=None):
    """``fn`` applied to each entry of ``elems`` along its first axis (each
    element of a tuple of tensors together), the results stacked;
    ``fn_output_signature`` (or ``dtype``) casts them."""
    from .ragged import RaggedTensor
    if isinstance(elems, RaggedTensor):
        return _map_rows(fn, elems, fn_output_signature if fn_output_signature is not None
                         else dtype)
    several = isinstance(elems, (tuple, list))
    parts = list(elems) if several else [elems]
    n = {int(ops.shape(e)[0]) for e in parts}
    if len(n) != 1:
        raise ValueError(f"tf.map_fn: the elems have different first dimensions: "
                         f"{[ops.shape(e)[0] for e in parts]}")
    rows = [ops.unstack(e) for e in parts]
    results = [fn(type(elems)(r[i] for r in rows) if several else rows[0][i])
               for i in range(n.pop())]
    signature = fn_output_signature if fn_output_signature is not None else dtype

    def stacked(values, spec):
        out = ops.stack(list(values))
        spec = getattr(spec, "dtype", spec)
        return out if spec is None else ops.cast(out, as_dtype(spec))
    if results and isinstance(results[0], (tuple, list)):
        specs = signature if isinstance(signature, (tuple, list)) else \
            [signature] * len(results[0])
        return type(results[0])(stacked(v, sp) for v, sp in zip(zip(*results), specs))
    if not results:
        raise ValueError("tf.map_fn: elems has no entries to map over")
    return stacked(results, signature)


def _map_rows(fn, elems, signature):
    """map_fn over a RaggedTensor's rows: a RaggedTensor of the results
    (TensorFlow's default, the elems' own signature), or the results
    stacked into a dense tensor when ``signature`` is a dtype or a
    TensorSpec (one result of one shape per row)."""
    from .ragged import RaggedTensor
    results = [np.asarray(ops._plain(fn(eager(np.asarray(row))))) for row in elems]
    spec = getattr(signature, "dtype", signature)
    if signature is not None and not isinstance(signature, RaggedTensorSpec):
        if not results:
            return eager(np.zeros((0,), as_dtype(spec)))
        shapes = {r.shape for r in results}
        if len(shapes) != 1:
            raise ValueError(f"tf.map_fn: fn_output_signature {signature!r} asks for a dense "
                             f"result, but the rows' results have shapes {sorted(shapes)}; "
                             f"give tf.RaggedTensorSpec for rows of different lengths")
        return eager(np.stack(results).astype(np.dtype(as_dtype(spec))))
    if any(r.ndim == 0 for r in results):
        raise ValueError("tf.map_fn: fn gave a scalar for a row of a RaggedTensor; give "
                         "fn_output_signature (a dtype or tf.TensorSpec) for a dense result")
    inner = {r.shape[1:] for r in results}
    if len(inner) > 1:
        raise ValueError(f"tf.map_fn: the rows' results differ in their inner shapes "
                         f"{sorted(inner)}")
    kind = np.dtype(as_dtype(spec)) if spec is not None else (
        np.result_type(*results) if results else np.asarray(elems.values).dtype)
    flat = np.concatenate(results).astype(kind) if results else \
        np.zeros((0,), kind)
    return RaggedTensor.from_row_lengths(flat, [len(r) for r in results])


def _entries(elems, who):
    """The entries of ``elems`` (a tensor, or a nested structure of them)
    along their first axis, each of ``elems``' structure."""
    from . import tree
    parts = tree.flatten(elems)
    if not parts:
        raise ValueError(f"{who}: elems is empty")
    sizes = {int(ops.shape(e)[0]) if ops.ndim(e) else None for e in parts}
    if None in sizes or len(sizes) != 1:
        raise ValueError(f"{who}: the elems must share their first dimension, got shapes "
                         f"{[tuple(ops.shape(e)) for e in parts]}")
    rows = [ops.unstack(e) for e in parts]
    return [tree.pack_sequence_as(elems, [r[i] for r in rows]) for i in range(sizes.pop())]


def _fold(fn, elems, initializer, reverse, who):
    """The accumulators of ``acc = fn(acc, entry)`` over the entries of
    ``elems`` (from the last one with ``reverse``); with no initializer the
    first entry taken is the first accumulator."""
    entries = _entries(elems, who)
    if reverse:
        entries = entries[::-1]
    if initializer is None:
        acc, entries, accs = entries[0], entries[1:], [entries[0]]
    else:
        acc, accs = initializer, []
    for entry in entries:
        acc = fn(acc, entry)
        accs.append(acc)
    return acc, accs


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """tf.foldl: ``fn(accumulator, entry)`` over the entries of ``elems``
    (a tensor or a structure of them, along their first axis) from the
    first; the last accumulator.  Without ``initializer`` the first entry
    starts the accumulator."""
    return _fold(fn, elems, initializer, False, "tf.foldl")[0]


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """tf.foldr: tf.foldl from the last entry of ``elems`` to the first."""
    return _fold(fn, elems, initializer, True, "tf.foldr")[0]


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """tf.scan: every accumulator of ``fn(accumulator, entry)`` over the
    entries of ``elems``, stacked along a new first axis (each part of a
    structured accumulator stacked on its own), in the entries' order
    (``reverse``: from the last entry, the results still in the entries'
    order)."""
    from . import tree
    _, accs = _fold(fn, elems, initializer, reverse, "tf.scan")
    if not accs:
        raise ValueError("tf.scan: elems has no entries")
    if reverse:
        accs = accs[::-1]
    flat = [tree.flatten(a) for a in accs]
    return tree.pack_sequence_as(accs[0], [ops.stack(list(v)) for v in zip(*flat)])


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    """``fn`` applied to each entry of ``elems`` along its first axis, the
    results stacked (tf.vectorized_map).  TensorFlow vectorizes the loop
    into batched operations where it can; the values are those of
    ``map_fn``, which computes them one entry after another."""
    return map_fn(fn, elems)


__all__ = ["function", "Function", "TensorSpec", "RaggedTensorSpec", "executing_eagerly", "init_scope", "py_function",
           "numpy_function", "TensorArray", "cond", "while_loop", "switch_case", "map_fn",
           "vectorized_map", "foldl", "foldr", "scan", "no_op", "group",
           "control_dependencies"]
