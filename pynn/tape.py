"""TensorFlow's ``GradientTape`` and ``Variable`` for custom training code:
the loops of "Writing a training loop from scratch", a model's own
``train_step``, GANs, saliency maps and Grad-CAM.

While a tape records, a model or a built-in layer called on data (arrays,
or values computed on the tape) computes at once and is recorded as ONE
operation whose backward is the model's own backward program (the C
kernels); everything after it — a pynn.losses object or function,
pynn.ops / pynn.backend functions, NumPy operators on the traced results —
is recorded by :mod:`pynn.autodiff` as in a custom layer.  Each call keeps
its own saved activations, so a model called twice (a GAN's discriminator
on real and on generated images, a shared model on two inputs) gets both
calls' gradients summed.

``tape.gradient(target, sources)`` replays the records in reverse.  A
source may be a weight (``model.trainable_weights``), a :class:`Variable`,
an array given to ``tape.watch`` or a value computed on the tape (an
intermediate activation); the result has the sources' structure, with None
where the target does not depend on a source (``unconnected_gradients=
"zero"`` gives zeros).  Gradients are tensors (NumPy arrays with ``.numpy()``).

Gradients of gradients (a WGAN-GP's gradient penalty, a Hessian-vector
product): while tapes are nested, operations also keep their gradient
written with recorded operations, and models and the built-in layers that
have such a form (Dense, EinsumDense; the convolutions but Conv3DTranspose
and grouped ones; max, average and global pooling; the normalizations;
SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed; Embedding; the
activation, dropout, noise, reshaping, padding, cropping, upsampling and
merging layers; layers computing through call()) are recorded layer by
layer, operation by operation, instead of as one call.  A ``gradient()``
asked while another tape records, or inside a persistent tape's own block
(whose operations keep those forms too, its model and layer calls staying
one record each), replays the records with those forms, on the tape: the
gradient it returns is a traced value the tape differentiates.  What has no such form sends back a value that raises when
differentiated ("second derivative of ... is not supported"), never a
constant.
"""
import contextlib
import enum
import sys
import warnings
from types import FunctionType

import numpy as np

from . import autodiff, backend, ops
from .autodiff import Traced, _Recording, _val
from .dtypes import as_dtype
from .layers.base import Weight, _pack_like, flatten
from .tensor import _OPERATOR_OPS, Tensor, check_operand_dtypes, eager, weak_operand


class _GradientRecord(autodiff.Tape):
    """The records of a GradientTape (shared by tapes nested in it).  Reads
    of trainable weights and variables are watched automatically, as
    TensorFlow's tape watches trainable variables."""
    __slots__ = ("arrays", "requested", "kept", "paused", "recording_depth", "given", "open",
                 "higher_order", "substituted", "listed", "pending")
    records_calls = True
    # NumPy functions of its values are constants, as on TensorFlow's eager
    # tensors (``np.random.choice(n, p=np.squeeze(probs))`` in RL code)
    numpy_gives_constants = True

    def __init__(self):
        super().__init__("the GradientTape")
        self.arrays = {}        # id of a watched NumPy array -> (array, traced leaf)
        self.requested = set()  # ids of the weights the running gradient() wants
        self.kept = set()       # ids of the traced values it wants
        self.paused = False
        self.recording_depth = 0
        # The gradients gradient() returned while the tape still recorded
        # (kept, so their ids stay theirs): a target among them asks for a
        # second derivative.
        self.given = {}
        self.open = []  # the GradientTapes whose with-block runs
        # (nested tapes: what is recorded may be differentiated twice)
        self.higher_order = False
        # id of a weight -> the traced value standing for it during a
        # stateless_call given traced values (MAML's adapted weights)
        self.substituted = {}
        # whether pynn.ops looks for the arrays watched here (see ops._WATCHED)
        self.listed = False
        # how many of the tapes sharing these records may still take a
        # gradient (see GradientTape._release)
        self.pending = 0

    def release(self):
        """Forget what was recorded, once no tape can take a gradient of
        it: a loss kept from the block (``losses.append(loss)``) then
        holds its value, not every activation of the step."""
        self.records.clear()
        self.watched.clear()
        self.arrays.clear()
        self.given.clear()
        self.substituted.clear()
        self.layer_grads = {}

    def watch(self, weight):
        stand_in = self.substituted.get(id(weight))
        if stand_in is not None:
            return stand_in
        if not weight.trainable and id(weight) not in self.watched:
            return weight.value
        hit = self.watched.get(id(weight))
        if hit is None:
            hit = self.watched[id(weight)] = (weight, Traced(weight.value, self))
        return hit[1]

    def watch_weight(self, weight):
        """Watch a weight explicitly (a non-trainable one included)."""
        if id(weight) not in self.watched:
            self.watched[id(weight)] = (weight, Traced(weight.value, self))

    def watch_array(self, array):
        if not self.listed and self.recording_depth:
            ops._WATCHED.append(_watched_arrays)
            self.listed = True
        hit = self.arrays.get(id(array))
        if hit is None:
            # (the leaf holds a copy: pynn.ops takes the watched array as
            # its leaf, and the leaf's own value must not be taken again)
            hit = self.arrays[id(array)] = (array, Traced(
                np.array(array, dtype=np.float32, order="C"), self))
        return hit[1]

    def operand(self, x):
        """``x`` as it enters a recorded call: a watched array as its
        traced leaf, a weight as its leaf or value."""
        if isinstance(x, np.ndarray):
            hit = self.arrays.get(id(x))
            return x if hit is None else hit[1]
        return autodiff.resolve(x)

    def record(self, value, parents, vjp):
        if self.paused:
            return autodiff._f32(value)
        if self.higher_order and type(vjp) is FunctionType and not hasattr(vjp, "op") and \
                not hasattr(vjp, "reads"):
            vjp.op = _operation_name()
        return super().record(value, parents, vjp)

    def record_several(self, values, parents, vjp):
        if self.paused:
            return [autodiff._f32(v) for v in values]
        return super().record_several(values, parents, vjp)

    @property
    def converts_to_numpy(self):
        # Outside the with-block (or under stop_recording) a traced value
        # converts to a constant array, even for pynn's functions; inside,
        # the program's conversions do (numpy_gives_constants), while a
        # pynn function converting one would cut its gradient, so raises.
        return self.recording_depth == 0 or self.paused


def _watched_arrays():
    """The arrays the recording GradientTape watches, for pynn.ops to take
    as their traced leaves (None when none records or it is paused)."""
    tape = autodiff.active_tape()
    if type(tape) is _GradientRecord and tape.arrays and not tape.paused:
        return tape.arrays
    return None


class UnconnectedGradients(str, enum.Enum):
    """What a gradient is where the target does not depend on a source
    (tf.UnconnectedGradients): None, or zeros."""
    NONE = "none"
    ZERO = "zero"


class VariableAggregation(str, enum.Enum):
    """How replicas' updates of a variable combine (tf.VariableAggregation);
    one process holds one copy, so it is kept for the program only."""
    NONE = "none"
    SUM = "sum"
    MEAN = "mean"
    ONLY_FIRST_REPLICA = "only_first_replica"


class VariableSynchronization(str, enum.Enum):
    """When a variable's copies are synchronized (tf.VariableSynchronization)."""
    AUTO = "auto"
    NONE = "none"
    ON_WRITE = "on_write"
    ON_READ = "on_read"


class GradientTape:
    """Records operations for automatic differentiation (tf.GradientTape).

    ``persistent=True`` allows several ``gradient`` calls;
    ``watch_accessed_variables=False`` differentiates only what ``watch``
    was given.  Tapes opened inside another one (``with tf.GradientTape()
    as gen_tape, tf.GradientTape() as disc_tape:``) share its records."""

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)
        self._record = None
        self._used = False
        self._saved = None
        self._released = False
        self._seeding = False

    def __enter__(self):
        if self._record is not None:
            raise RuntimeError("GradientTape: this tape has already recorded; open a new one")
        current = autodiff.active_tape()
        self._record = current if isinstance(current, _GradientRecord) else _GradientRecord()
        self._record.recording_depth += 1
        self._record.pending += 1
        self._record.open.append(self)
        self._record.higher_order = _differentiates_twice(self._record.open)
        self._saved = _Recording(self._record, self._record.losses)
        self._saved.__enter__()
        return self

    def __exit__(self, *exc):
        self._saved.__exit__(*exc)
        self._record.recording_depth -= 1
        if self._record.listed and not self._record.recording_depth:
            # its arrays are no operands of pynn.ops any more
            ops._WATCHED.remove(_watched_arrays)
            self._record.listed = False
        self._record.open.remove(self)
        self._record.higher_order = _differentiates_twice(self._record.open)
        if self._released:  # (its gradient was taken inside the block)
            self._release_records()

    def _release(self):
        """This tape takes no more gradients (a non-persistent one has
        taken its gradient; any tape, deleted): once no tape sharing its
        records can, and none records, the records are released, as
        TensorFlow frees a tape's resources."""
        if self._record is None or self._released:
            return
        self._released = True
        self._record.pending -= 1
        self._release_records()

    def _release_records(self):
        record = self._record
        if record.pending <= 0 and not record.recording_depth:
            record.release()

    def __del__(self):
        try:
            self._release()
        except Exception:
            pass

    def watch(self, tensor):
        """Differentiate with respect to ``tensor`` (a NumPy array, a
        Variable or weight, or a list of them).  A watched array that is
        passed to a model or layer is a leaf of the tape; arithmetic on it
        outside a model goes through the traced value ``watch`` returns."""
        record = self._require_record("watch")
        if isinstance(tensor, (list, tuple)):
            return [self.watch(t) for t in tensor]
        if isinstance(tensor, Weight):
            record.watch_weight(tensor)
            return tensor
        if type(tensor) is Traced:
            return tensor
        if isinstance(tensor, np.ndarray) and tensor.dtype.kind in "biu":
            # as TensorFlow: a warning, and no gradient for it
            warnings.warn(f"GradientTape.watch: the dtype of the watched tensor must be "
                          f"floating (e.g. float32), got {tensor.dtype}", stacklevel=2)
            return tensor
        if type(tensor) is Tensor:
            # arithmetic on it, and the pynn functions given it, record from now on
            tensor.__class__ = WatchedTensor
        if not isinstance(tensor, np.ndarray) or tensor.dtype.kind != "f":
            got = f"an array of {tensor.dtype}" if isinstance(tensor, np.ndarray) else \
                type(tensor).__name__
            raise TypeError(f"GradientTape.watch: expected a float array or a Variable (or "
                            f"weight), got {got}: only floats have gradients")
        return record.watch_array(tensor)

    @contextlib.contextmanager
    def stop_recording(self):
        """Operations in this block are not recorded (their results are
        constants)."""
        record = self._require_record("stop_recording")
        was = record.paused
        record.paused = True
        try:
            with _Recording(None, []):
                yield
        finally:
            record.paused = was

    def reset(self):
        """Forget everything recorded so far (inside the with-block)."""
        record = self._require_record("reset")
        record.records.clear()
        record.watched.clear()
        record.arrays.clear()

    def watched_variables(self):
        record = self._require_record("watched_variables")
        return [w for w, _ in record.watched.values()]

    def _require_record(self, what):
        if self._record is None:
            raise RuntimeError(f"GradientTape.{what}: use it inside `with GradientTape() as "
                               f"tape:`")
        return self._record

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """The gradient of ``target`` (a value computed on the tape, or a
        list of them, summed; a non-scalar target counts as its sum) with
        respect to each of ``sources`` (one, or a list, tuple or dict)."""
        record = self._require_record("gradient")
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"GradientTape.gradient: unconnected_gradients must be 'none' or "
                             f"'zero', got {unconnected_gradients!r}")
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a "
                               "non-persistent tape; use GradientTape(persistent=True)")
        self._used = True
        flat = flatten(sources)
        targets = flatten(target)
        if output_gradients is None:
            given = [None] * len(targets)
        else:
            given = flatten(output_gradients)
            if len(given) != len(targets):
                raise ValueError(f"GradientTape.gradient: {len(given)} output_gradients for "
                                 f"{len(targets)} targets")
        if any(id(t) in record.given and record.given[id(t)] is t for t in targets):
            raise NotImplementedError(
                "GradientTape.gradient: the target is a gradient computed while no other "
                "tape recorded, so its computation was not recorded and it has no second "
                "derivatives. Nest the tapes (with GradientTape() as outer: with "
                "GradientTape() as inner: ...; the inner gradient taken inside the outer "
                "block) to differentiate a gradient.")
        # Another tape records, or this one (persistent) still does: this
        # gradient's computation is recorded for it.
        differentiable = any(t is not self or t.persistent for t in record.open)
        seeds = []
        for t, g in zip(targets, given):
            t = autodiff.resolve(t)
            if type(t) is Traced and t.tape is record:
                seeds.append((t, 1.0 if g is None else np.asarray(_val(g), np.float32)))
        leaves = [self._leaf(record, s) for s in flat]
        keep = {id(leaf) for leaf in leaves if type(leaf) is Traced}
        record.requested = {id(s) for s in flat if isinstance(s, Weight)}
        record.kept = keep
        record.layer_grads = {}
        try:
            with _Recording(None, []), autodiff.keeping_traces(self.persistent):
                if differentiable:
                    leaves_read = keep | {id(record.watched[w][1]) for w in record.requested
                                          if w in record.watched}
                    grads = record.backward_recorded(seeds, keep, leaves_read,
                                                     record.requested)
                else:
                    grads = record.backward(seeds, keep)
        finally:
            record.requested, record.kept = set(), set()
        out = []
        for s, leaf in zip(flat, leaves):
            if isinstance(s, Weight):
                g = record.weight_gradient(s, grads)
            elif type(leaf) is Traced:
                g = grads.get(id(leaf))
            else:
                g = None
            if g is None and type(leaf) is Traced and type(s) is np.ndarray and \
                    not _read_on_tape(record, leaf):
                raise ValueError(
                    "GradientTape.gradient: the watched NumPy array was never used by a "
                    "recorded operation: NumPy's own arithmetic on a plain array (x * x, "
                    "np.square(x)) cannot be recorded. Make it a tensor first (x = "
                    "pynn.constant(x) or pynn.convert_to_tensor(x)), then watch it, or use "
                    "pynn's functions (pynn.square(x)) on it.")
            if g is not None:
                if type(g) is not Traced:
                    g = eager(np.array(g, dtype=np.float32))
            elif unconnected_gradients == "zero":
                g = eager(np.zeros(np.shape(_val(autodiff.value_of(s))), np.float32))
            out.append(g)
        record.layer_grads = {}
        if record.recording_depth and not differentiable:
            record.given.update((id(g), g) for g in out if g is not None)
        if not self.persistent and not self._seeding:
            self._release()
        return _pack_like(sources, out)

    def jacobian(self, target, sources, unconnected_gradients="none",
                 parallel_iterations=None, experimental_use_pfor=True):
        """The Jacobian of ``target`` with respect to each of ``sources``:
        for a source of shape S, an array of shape ``target.shape + S``
        (one gradient per element of the target, as TensorFlow's)."""
        self._require_record("jacobian")
        shape = np.shape(_val(autodiff.value_of(target)))
        flat = flatten(sources)
        rows = self._seeded_gradients(target, flat, shape, [(i,) for i in range(
            int(np.prod(shape, dtype=np.int64)))], unconnected_gradients, "jacobian")
        out = [_stack_rows([r[j] for r in rows], s, shape, unconnected_gradients)
               for j, s in enumerate(flat)]
        return _pack_like(sources, out)

    def batch_jacobian(self, target, source, unconnected_gradients="none",
                       parallel_iterations=None, experimental_use_pfor=True):
        """The Jacobian of each example of ``target`` (batch first) with
        respect to the same example of ``source``: an array of shape
        ``(batch,) + target.shape[1:] + source.shape[1:]``; the examples
        must not depend on each other's (as TensorFlow assumes)."""
        self._require_record("batch_jacobian")
        shape = np.shape(_val(autodiff.value_of(target)))
        source_shape = np.shape(_val(autodiff.value_of(source)))
        if not shape or not source_shape or shape[0] != source_shape[0]:
            raise ValueError(f"GradientTape.batch_jacobian: the target (shape {shape}) and "
                             f"the source (shape {source_shape}) must share their first "
                             f"(batch) axis")
        inner = shape[1:]
        picks = [(slice(None),) + np.unravel_index(k, inner) if inner else (slice(None),)
                 for k in range(int(np.prod(inner, dtype=np.int64)))]
        rows = self._seeded_gradients(target, [source], shape, picks, unconnected_gradients,
                                      "batch_jacobian")
        got = [r[0] for r in rows]
        if all(g is None for g in got):
            if unconnected_gradients == "zero":
                return eager(np.zeros(shape + source_shape[1:], np.float32))
            return None
        stacked = np.stack([np.zeros(source_shape, np.float32) if g is None else
                            np.asarray(g, np.float32) for g in got], axis=1)
        return eager(stacked.reshape(shape + source_shape[1:]))

    def _seeded_gradients(self, target, flat, shape, picks, unconnected_gradients, what):
        """One gradient() per pick: the target's gradient seeded with ones
        at the picked elements."""
        if self._used and not self.persistent:
            raise RuntimeError(f"GradientTape.{what} can only be called once on a "
                               f"non-persistent tape; use GradientTape(persistent=True)")
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"GradientTape.{what}: unconnected_gradients must be 'none' or "
                             f"'zero', got {unconnected_gradients!r}")
        rows = []
        for pick in picks:
            seed = np.zeros(shape, np.float32)
            if shape:
                if len(pick) == 1 and not isinstance(pick[0], slice):
                    seed.reshape(-1)[pick[0]] = 1.0
                else:
                    seed[pick] = 1.0
            else:
                seed[()] = 1.0
            self._used = False
            self._seeding = True
            try:
                rows.append(self.gradient(target, list(flat), output_gradients=[seed]))
            finally:
                self._seeding = False
        self._used = True
        if not self.persistent:
            self._release()
        return rows

    @staticmethod
    def _leaf(record, source):
        if isinstance(source, Weight):
            return None
        if type(source) is Traced:
            return source if source.tape is record else None
        if isinstance(source, np.ndarray):
            hit = record.arrays.get(id(source))
            return None if hit is None else hit[1]
        if isinstance(source, (np.generic, int, float)):
            return None  # a constant (``tf.Variable(2.0) + 1.0``): no gradient, as TensorFlow
        raise TypeError(f"GradientTape.gradient: a source must be a weight, a Variable, a "
                        f"watched array or a value computed on the tape, got "
                        f"{type(source).__name__}")


def _stack_rows(grads, source, shape, unconnected_gradients):
    """A Jacobian from its rows (the gradients of each target element), a
    tensor as gradient() gives (``tape.jacobian(y, x).numpy()``)."""
    source_shape = np.shape(_val(autodiff.value_of(source)))
    if all(g is None for g in grads) and unconnected_gradients != "zero":
        return None
    rows = [np.zeros(source_shape, np.float32) if g is None else np.asarray(_val(g), np.float32)
            for g in grads]
    return eager(np.stack(rows).reshape(shape + source_shape) if rows else
                 np.zeros(shape + source_shape, np.float32))


def _differentiates_twice(open_tapes):
    """Whether what is recorded now may be differentiated twice: tapes are
    nested, or a persistent tape records (a gradient taken inside its own
    block is recorded on it, as TensorFlow's; the operations then keep
    their recorded gradients, a model or layer call stays one record)."""
    return len(open_tapes) > 1 or any(t.persistent for t in open_tapes)


def _operation_name():
    """The pynn function recording an operation, for messages: the first
    public function of pynn.autodiff (or pynn.ops) on the stack."""
    f = sys._getframe(2)
    while f is not None:
        module = f.f_globals.get("__name__", "")
        name = f.f_code.co_name
        # (``op``: a function made by a factory, named by the caller above)
        if module in ("pynn.autodiff", "pynn.ops") and not name.startswith("_") and \
                name != "op":
            return f"pynn.ops.{name.rstrip('_')}"
        f = f.f_back
    return "an operation"


def _read_on_tape(record, leaf):
    """Whether a recorded operation took ``leaf`` as an operand."""
    return any(p is leaf for _, parents, _ in record.records for p in parents)


class WatchedTensor(Tensor):
    """A Tensor given to ``GradientTape.watch``: while that tape records,
    its arithmetic, indexing and the pynn functions given it are recorded
    (through the tape's leaf for it); elsewhere it is a plain Tensor."""

    def _operand(self):
        record = autodiff.active_tape()
        hit = getattr(record, "arrays", {}).get(id(self))
        return self.view(np.ndarray) if hit is None or hit[0] is not self else hit[1]

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(autodiff.resolve(x) if type(x) is WatchedTensor else x for x in inputs)
        out = kwargs.pop("out", None)
        if out is None or any(type(x) is Traced for x in inputs):
            # (in place while the tape records, ``x += step``: a new recorded
            # tensor, as TensorFlow's ``+=`` rebinds the name)
            return eager(getattr(ufunc, method)(*inputs, **kwargs))
        # in place outside the tape (Langevin sampling's ``x += step * grads``
        # after tape.gradient): into the array itself, which stays watched
        plain = tuple(o.view(np.ndarray) if isinstance(o, WatchedTensor) else o for o in out)
        getattr(ufunc, method)(*inputs, out=plain, **kwargs)
        return out[0] if len(out) == 1 else out

    def __array_function__(self, func, types, args, kwargs):
        def plain(v):
            if type(v) is WatchedTensor:
                return autodiff.resolve(v)
            if isinstance(v, (list, tuple)):
                return type(v)(plain(u) for u in v)
            return v
        return eager(func(*plain(args), **{k: plain(v) for k, v in kwargs.items()}))

    def __getitem__(self, key):
        return eager(self._operand()[key])

    # (NumPy computes ``x ** 2``, ``x ** 0.5`` and ``x ** -1`` as np.square,
    # np.sqrt, np.reciprocal, which a tape's NumPy convention takes for
    # constants: the operator records the power itself)
    def __pow__(self, o):
        return eager(autodiff.resolve(self) ** autodiff.resolve(o))

    def __rpow__(self, o):
        return eager(autodiff.resolve(o) ** autodiff.resolve(self))

    def __matmul__(self, o):
        return eager(autodiff.resolve(self) @ autodiff.resolve(o))

    def __rmatmul__(self, o):
        return eager(autodiff.resolve(o) @ autodiff.resolve(self))


ops._TRACED.add(WatchedTensor)


def _variable_dtype(dtype):
    """float32, or a complex, integer, boolean or string dtype; "int" is
    int32 as in Keras."""
    if dtype in (None, "float32", np.float32):
        return np.dtype(np.float32)
    from .dtypes import string
    if dtype in (string, "string", str, bytes):
        # TensorFlow's string variables: the bytes as NumPy's objects
        return np.dtype(object)
    try:
        found = np.dtype("int32" if isinstance(dtype, str) and dtype == "int" else dtype)
    except TypeError:
        raise ValueError(f"Variable: unknown dtype {dtype!r}") from None
    if found.kind not in "biuc":
        raise ValueError(f"Variable: a variable is float32, or holds integers, booleans "
                         f"or complex numbers; got dtype {dtype!r}")
    return found


def _string_values(value):
    """``value`` (a str, bytes or nested list of them, or such an array) as
    an object array of UTF-8 bytes, as TensorFlow holds strings."""
    a = np.asarray(_val(autodiff.value_of(value)), dtype=object)
    flat = [v.encode() if isinstance(v, str) else v for v in a.ravel()]
    if any(not isinstance(v, bytes) for v in flat):
        raise TypeError(f"Variable: a string variable holds str or bytes values, got "
                        f"{sorted({type(v).__name__ for v in flat} - {'bytes'})}")
    out = np.empty(a.shape, object)
    out.ravel()[:] = flat
    return out


def _enum_value(given, default):
    if given is None:
        return default
    return given.value if isinstance(given, enum.Enum) else str(given).lower()


class _ValueArray(np.ndarray):
    """A variable's value as both Keras 3 and TensorFlow read it: the array
    (``v.value + 1``, ``v.value[0]``, ``v.value.shape``) that can also be
    called (``v.value()``, TensorFlow's read).  What is computed from it is
    a plain array."""

    # (tensor.eager copies it: a TF function's result owns its values)
    _views_a_variable = True

    def __array_finalize__(self, obj):
        self._variable = None

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        obj = obj.view(np.ndarray)
        return obj[()] if return_scalar else obj

    def __getitem__(self, key):
        return self.view(np.ndarray)[key]

    def __call__(self):
        # TensorFlow's value(): under a GradientTape the variable itself (so
        # the gradient reaches it), otherwise a tensor of its value now
        variable = self._variable
        if autodiff.active_tape() is not None and variable.trainable:
            return variable
        return variable.read_value()


_VALUE_SLOT = Weight.value


class Variable(Weight):
    """A float32 variable (tf.Variable, or keras.Variable given
    ``initializer=`` and ``shape=``): usable in pynn.ops / pynn.backend
    functions and NumPy arithmetic, watched by a GradientTape when
    trainable, updated by ``assign``, ``assign_add``, ``assign_sub`` or an
    optimizer's ``apply_gradients``.  A non-trainable variable may hold
    integers or booleans (Swin's relative position index)."""
    __slots__ = ("aggregation", "synchronization")
    _count = [0]

    def __init__(self, initial_value=None, trainable=True, name=None, dtype=None,
                 constraint=None, *, initializer=None, shape=None, **kwargs):
        unknown = set(kwargs) - {"validate_shape", "caching_device", "synchronization",
                                 "aggregation", "experimental_enable_variable_lifting",
                                 "autocast", "layout"}
        if unknown:
            raise TypeError(f"Variable: unexpected argument(s) {', '.join(sorted(unknown))}")
        if (initial_value is None) == (initializer is None):
            raise TypeError("Variable: give its value, as initial_value (tf.Variable) or "
                            "initializer (keras.Variable)")
        if dtype is None and initializer is None and isinstance(initial_value, np.ndarray) \
                and initial_value.dtype.kind in "biuc":
            # TensorFlow's: an integer or boolean array's or tensor's own
            # dtype (a step counter, tf.Variable(tf.constant(0, tf.int64)));
            # such a variable is not trained.
            dtype, trainable = initial_value.dtype, False
        if dtype is None and initializer is None and isinstance(initial_value, (int, list, tuple)):
            # Python integers and booleans (tf.Variable(0) a counter,
            # tf.Variable([False, True]) a flag): int32 and bool, as
            # tf.constant takes them, as TensorFlow's and Keras 3's
            # keras.Variable(0); not trained
            given = np.asarray(ops.convert_to_tensor(initial_value)).dtype
            if given.kind in "biuc":
                # (complex numbers: complex128 from Python's, as TensorFlow)
                dtype, trainable = given, False
        dtype = _variable_dtype(dtype)
        if dtype.kind == "O":
            initial_value = _string_values(initial_value)
        if dtype.kind in "biucO":
            # integers and booleans take no gradient: such a variable is not
            # trained, whatever ``trainable`` says (TensorFlow and Keras 3
            # accept the default True for ``tf.Variable(0, dtype=tf.int64)``);
            # nor do complex values in pynn, whose tape records real ones
            trainable = False
        if initializer is not None and (callable(initializer) or isinstance(initializer, str)):
            if shape is None:
                raise ValueError(f"Variable: initializer {initializer!r} needs the shape")
            from . import initializers
            initial_value = initializers.get(initializer)(tuple(shape))
        elif initializer is not None:
            initial_value = initializer
        if callable(initial_value):
            initial_value = initial_value()
        value = np.array(_val(autodiff.value_of(initial_value)), dtype=dtype, order="C")
        if shape is not None and tuple(shape) != value.shape:
            raise ValueError(f"Variable: a value of shape {value.shape} does not have the "
                             f"given shape {tuple(shape)}")
        if name is None:
            name = "Variable" if not Variable._count[0] else f"Variable_{Variable._count[0]}"
            Variable._count[0] += 1
        from . import constraints
        # (the weight is made from a float32 stand-in, its value set below)
        super().__init__(name, value if dtype.kind not in "cO" else np.zeros(value.shape, np.float32),
                         trainable=trainable,
                         constraint=constraints.to_constraint(constraint))
        if dtype != np.float32:
            self.value = value
            from .distribute import _sync_initial_value
            self.value = _sync_initial_value(self.value)
        self.aggregation = VariableAggregation(_enum_value(kwargs.get("aggregation"), "none"))
        self.synchronization = VariableSynchronization(
            _enum_value(kwargs.get("synchronization"), "auto"))

    @property
    def value(self):
        view = _VALUE_SLOT.__get__(self).view(_ValueArray)
        view._variable = self
        return view

    @value.setter
    def value(self, array):
        _VALUE_SLOT.__set__(self, array.view(np.ndarray) if type(array) is _ValueArray
                            else array)

    def numpy(self):
        """A copy of the value, in the variable's dtype; of a scalar, a
        NumPy scalar, as TensorFlow's ``numpy()`` gives."""
        value = np.array(self.value)
        return value[()] if value.ndim == 0 else value

    def read_value(self):
        """The value now, as a tensor (a copy: later assignments do not
        change it)."""
        return eager(np.array(self.value))

    @property
    def dtype(self):
        return as_dtype(self.value.dtype.name)

    # (use_locking and name are tf.Variable's, of no effect here; with
    # read_value=False the update returns nothing, as TensorFlow's op)
    def assign(self, value, use_locking=None, name=None, read_value=True):
        value = (_string_values(value) if self.value.dtype.kind == "O" else
                 np.asarray(_val(autodiff.value_of(value)), dtype=self.value.dtype))
        if value.shape != self.value.shape:
            raise ValueError(f"Variable {self.name!r}: cannot assign a value of shape "
                             f"{value.shape} to a variable of shape {self.value.shape}")
        scope = backend.get_stateless_scope()
        if scope is not None:
            scope.add_update((self, value))  # (put back when the scope ends)
        else:
            self.value[...] = value
        return self if read_value else None

    def _delta_dtype(self):
        # (float32 for real variables, as before; complex ones keep theirs)
        return self.value.dtype if self.value.dtype.kind == "c" else np.float32

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return self.assign(self.value + np.asarray(_val(autodiff.value_of(delta)),
                                                  self._delta_dtype()), read_value=read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return self.assign(self.value - np.asarray(_val(autodiff.value_of(delta)),
                                                  self._delta_dtype()), read_value=read_value)

    def __getitem__(self, key):
        # a copy, as TensorFlow's read (a later assign leaves it as it
        # was), which assigns into this part of the variable as a sliced
        # tf.Variable does: ``v[0, 1].assign(42)``, ``v[:, 2].assign([0., 1.])``
        out = eager(Weight.__getitem__(self, key))
        if type(out) is not Tensor:
            return out  # (on a tape: the recorded read)
        out = out.copy()

        def assign(value, use_locking=None, name=None, read_value=True):
            whole = self.value.copy()
            whole[key] = np.asarray(_val(autodiff.value_of(value)), dtype=whole.dtype)
            return self.assign(whole, read_value=read_value)
        out.assign = assign
        return out

    def scatter_nd_update(self, indices, updates, use_locking=None, name=None):
        """Sets the elements (or slices) at ``indices`` (each row an index
        into the leading axes) to ``updates``, as tf.Variable's."""
        indices = np.asarray(_val(autodiff.value_of(indices)), dtype=np.int64)
        whole = self.value.copy()
        whole[tuple(np.moveaxis(indices, -1, 0))] = np.asarray(
            _val(autodiff.value_of(updates)), dtype=whole.dtype)
        return self.assign(whole)

    def scatter_update(self, sparse_delta, use_locking=None, name=None):
        """Sets the rows ``sparse_delta.indices`` to ``sparse_delta.values``
        (a tf.IndexedSlices), as tf.Variable's."""
        whole = self.value.copy()
        whole[np.asarray(sparse_delta.indices, dtype=np.int64)] = np.asarray(
            _val(autodiff.value_of(sparse_delta.values)), dtype=whole.dtype)
        return self.assign(whole)

    @property
    def device(self):
        """Where the value lives, in TensorFlow's words (a host array: the
        CPU), as an eager tensor's."""
        return Tensor.device.fget(self)

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        # TensorFlow's form: <tf.Variable 'v' shape=(2,) dtype=float32, numpy=array(...)>
        # (a scalar's value as a number; a value of several lines starts on
        # a line of its own)
        plain = np.asarray(self.value).view(np.ndarray)
        text = str(plain[()]) if plain.ndim == 0 else repr(plain)
        if "\n" in text:
            text = "\n" + text
        return (f"<tf.Variable {self.name!r} shape={tuple(plain.shape)} "
                f"dtype={self.dtype.name}, numpy={text}>")


_OPERATOR_UFUNC_OF = {f"__{r}{op}__": u for op, u in (
    ("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
    ("pow", np.power), ("matmul", np.matmul)) for r in ("", "r")}


def _eager_operator(name):
    inner = getattr(Weight, name)

    ufunc = _OPERATOR_UFUNC_OF.get(name)

    def operator(self, *args):
        # (a NumPy scalar beside the variable takes its dtype, as beside a
        # tensor; a tensor of integers beside a float variable is refused
        # as TensorFlow refuses it)
        dtype = _VALUE_SLOT.__get__(self).dtype
        if ufunc is not None and args and isinstance(args[0], Tensor):
            check_operand_dtypes(ufunc, dtype, args[0].dtype, 1)
        return eager(inner(self, *(weak_operand(a, dtype) for a in args)))
    operator.__name__ = name
    return operator


def _variable_ufunc(self, ufunc, method, *inputs, **kwargs):
    # (``np.float64(2.0) * v`` reaches here as np.multiply: as ``v * 2.0``,
    # the NumPy scalar in the variable's dtype and the result a tensor)
    if method != "__call__" or len(inputs) != 2 or ufunc not in _OPERATOR_OPS:
        return Weight.__array_ufunc__(self, ufunc, method, *inputs, **kwargs)
    dtype = _VALUE_SLOT.__get__(self).dtype
    for v in inputs:
        if isinstance(v, Tensor):  # (``tf.constant(40) * v``)
            check_operand_dtypes(ufunc, v.dtype, dtype, 2)
    inputs = tuple(v if v is self else weak_operand(v, dtype) for v in inputs)
    return eager(Weight.__array_ufunc__(self, ufunc, method, *inputs, **kwargs))


Variable.__array_ufunc__ = _variable_ufunc


# A Variable's arithmetic gives tensors, as TensorFlow's (``(v * 3.0).numpy()``,
# a 0-d result included); a layer's own weights keep NumPy's results.
for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__pow__", "__rpow__", "__matmul__",
              "__rmatmul__", "__neg__", "__abs__", "__lt__", "__le__",
              "__gt__", "__ge__"):
    if hasattr(Weight, _name):
        setattr(Variable, _name, _eager_operator(_name))
del _name

ops._TRACED.add(Variable)


# ------------------------------------------------- a call on the tape

def _dtype_of(layer, i):
    inputs = getattr(layer, "_inputs", None)
    name = inputs[i].dtype if inputs is not None and i < len(inputs) else layer.input_dtype
    return {"float32": np.float32, "int32": np.int32, "int64": np.int64}[name]


def _traced_attributes(layer):
    """(owner, name, value) for each traced value set as an attribute of
    ``layer`` or of a layer inside it (a model's layers, a custom layer's
    sublayers)."""
    from .models.functional import Model
    found, stack, seen = [], [layer], set()
    while stack:
        owner = stack.pop()
        if id(owner) in seen:
            continue
        seen.add(id(owner))
        if vars(owner).get("_given_traced"):  # (set by Layer.__setattr__)
            found += [(owner, name, v) for name, v in vars(owner).items() if type(v) is Traced]
        stack += list(owner.layers) if isinstance(owner, Model) else owner._sublayers()
    return found


def _swap(swapped, stand_in):
    """Puts the stand-in weights of ``swapped`` (owner, name, weight, traced)
    in their owners' places, as the owners' weights, or the traced values
    back."""
    for owner, name, w, t in swapped:
        vars(owner)[name] = w if stand_in else t
        if stand_in:
            owner._weights.append(w)
        else:  # (by identity: == on weights compares their values)
            del owner._weights[next(i for i, x in enumerate(owner._weights) if x is w)]


def record_call(record, layer, inputs, training):
    """``layer(inputs)`` while a GradientTape records, for a model or a
    layer with its own backward: its forward runs now on plain arrays (with
    what backward needs kept in a context of this call), and one record
    sends the gradients of its outputs through its backward.  A model's
    activity penalties and add_loss values form one more output, which
    ``model.losses`` returns."""
    from .models.functional import Model
    from .models.node import CallContext
    is_model = isinstance(layer, Model)
    mask = autodiff.take_given_mask()  # (``lstm(x, mask=m)`` on the tape)
    if isinstance(inputs, dict) and is_model:
        if layer._program is None:  # a subclassed model traced on its first dict
            layer._prepare_inputs({k: _val(v) for k, v in inputs.items()}, any_rows=True)
        xs, multi_in = [inputs[n] for n in layer.input_names], len(layer.input_names) > 1
    else:
        multi_in = isinstance(inputs, (list, tuple))
        xs = list(inputs) if multi_in else [inputs]
    xs = [record.operand(x) for x in xs]
    shapes = [(None,) + tuple(np.shape(_val(x))[1:]) for x in xs]
    layer._build_for_arrays(shapes if multi_in else shapes[0])
    values = [np.ascontiguousarray(_val(x), dtype=_dtype_of(layer, i))
              for i, x in enumerate(xs)]
    if any(v.ndim == 0 for v in values):
        raise ValueError(f"{autodiff.describe(layer)}: expected arrays with a batch dimension, "
                         f"got a scalar")
    if is_model and layer._gpu is not None:
        raise ValueError(f"Model {layer.name!r} runs on a GPU; a GradientTape computes on the "
                         f"CPU: place it there with pynn.device('cpu')")
    if len(record.open) > 1 and mask is None:
        # Tapes are nested: the call's gradient may be differentiated, so
        # it is recorded operation by operation where it can be.  (A
        # persistent tape alone keeps one record per call: recording each
        # operation would slow every step of the programs that take their
        # gradients after its block.)
        ins = [x if type(x) is Traced else v for x, v in zip(xs, values)]
        if is_model:
            stepped = _model_by_steps(layer, ins, training)
            if stepped is not None:
                outs, layer._call_losses = stepped
                return layer._pack_outputs(outs)
        else:
            y = _recorded_merge(record, layer, ins, training) if multi_in else \
                _recorded_layer(record, layer, ins[0], training)
            if y is not None:
                return y
    ctx = CallContext()
    ctx.mask = mask
    # (called without ``training``: a model's layers each as their default
    # says, Keras 3's rule, so augmentation augments; a layer as its own)
    ctx.inference_behaviour = not training if training is not None else \
        None if is_model else not layer._training_default
    bound = [w for w in layer.trainable_weights if w.grad is None]
    for w in bound:  # custom layers inside watch the weights that train
        w.grad = np.empty_like(w.value)
    # Traced values a program set in place of the layer's weights (a
    # hypernetwork writing a Dense's kernel and bias): weights standing in
    # for them hold their values while the layer computes, and their
    # gradients go to those values.
    swapped = [(owner, name, Weight(name, t.value), t)
               for owner, name, t in _traced_attributes(layer)]
    _swap(swapped, True)
    try:
        with _Recording(None, []):
            y = type(layer).forward(layer, ctx, values if multi_in else values[0], True)
    finally:
        for w in bound:
            w.grad = None
        _swap(swapped, False)
    multi_out = isinstance(y, (list, tuple))
    outs = list(y) if multi_out else [y]
    rows = values[0].shape[0]
    adds_loss = is_model and layer._program.has_activity
    if adds_loss:
        penalty = layer._program.activity_penalty(ctx.inner, 1.0 / max(rows, 1))
        outs.append(np.float32(penalty))
    need = [type(x) is Traced for x in xs]
    # Weights standing in for traced values (a stateless_call): their
    # gradients go to those values, parents of this record.
    stand_ins = ([(w, record.substituted[id(w)]) for w in layer.weights
                  if id(w) in record.substituted] if record.substituted else []) + \
        [(w, t) for _, _, w, t in swapped]

    def vjp(gs):
        gs = list(gs) if len(outs) > 1 else [gs]
        if adds_loss:
            scale = float(gs.pop())
            layer._program.activity_penalty(ctx.inner, scale / max(rows, 1))
            _scale_added_losses(layer._program, ctx.inner, scale)
        _swap(swapped, True)
        weights = layer.weights
        wanted = {id(w) for w in layer.trainable_weights} & record.requested | \
            {id(w) for w, _ in stand_ins}
        saved = [w.grad for w in weights]
        scratch = {}
        for w in weights:
            if id(w) in wanted:
                w.grad = scratch.setdefault(id(w), np.zeros(w.value.shape, np.float32))
            else:
                w.grad = None
        from .models.functional import enter_binding, leave_binding
        entered = enter_binding(layer, frozenset(wanted))
        ctx.grad_token = object()
        # (the backward reads the weights: the values they stood for)
        own = [w.numpy() for w, _ in stand_ins]
        for w, t in stand_ins:
            w.assign(t.value)
        wanted_outs = [k for k, t in enumerate(traced_outs[:len(traced_outs) - adds_loss])
                       if id(t) in record.kept]
        try:
            dy = gs if multi_out else gs[0]
            if is_model and wanted_outs:
                prog = layer._program
                slots = {prog.output_slots[k]: None for k in wanted_outs}
                dx = prog.backward(ctx.inner, list(gs), ctx.grad_token, need, slot_grads=slots)
                vjp.output_totals = {k: slots[prog.output_slots[k]] for k in wanted_outs}
                dx = dx if multi_in else dx[0]
            else:
                dx = type(layer).backward(layer, ctx, dy, need if multi_in else need[0])
        finally:
            for w, g in zip(weights, saved):
                w.grad = g
            for (w, _), value in zip(stand_ins, own):
                w.assign(value)
            _swap(swapped, False)
            leave_binding(entered)
        taken = [scratch.pop(id(w)) for w, _ in stand_ins]
        for w in weights:
            if id(w) in scratch:
                record.add_layer_grad(w, scratch.pop(id(w)))
        return (list(dx) if multi_in else [dx]) + taken

    # (a model's weights are not among the record's operands: a gradient
    # for them is asked of this record)
    vjp.reads = layer
    parents = tuple(xs) + tuple(t for _, t in stand_ins)
    if len(outs) > 1:
        traced = record.record_several(outs, parents, vjp)
    else:
        traced = [record.record(outs[0], parents, vjp)]
    traced_outs = list(traced)
    if adds_loss:
        layer._call_losses = [traced.pop()]
    elif is_model:
        layer._call_losses = []
    if is_model:
        return layer._pack_outputs(traced)
    return traced if multi_out else traced[0]


def _model_by_steps(model, xs, training):
    """A model's call run layer by layer on the tape (each layer recorded
    as autodiff.call_layer records it): its outputs and what its layers
    gave to add_loss (model.losses), or None where its graph has what that
    does not carry (masks, extra call arguments)."""
    from .models.functional import _default_training
    prog = model._program
    if prog is None or prog.has_masks or any(st.node.call_args for st in prog.steps):
        return None
    penalties = []
    vals = [None] * prog.n_slots
    for s, x in zip(prog.input_slots, xs):
        vals[s] = x
    for st in prog.steps:
        x = vals[st.ins[0]] if st.single_in else [vals[i] for i in st.ins]
        if st.training is False:
            step_training = False
        elif training is None:
            step_training = _default_training(st)
        else:
            step_training = training or bool(st.training)
        y = autodiff.call_layer(st.layer, x, step_training)
        if st.layer.activity_regularizer is not None:
            penalties += [_activity_penalty(st.layer.activity_regularizer, out)
                          for out in ([y] if st.single_out else y)]
        if st.single_out:
            vals[st.outs[0]] = y
        else:
            for o, v in zip(st.outs, y):
                vals[o] = v
    # (the calls through call() and the models inside keep theirs)
    givers = {id(st.layer): st.layer for st in prog.steps
              if st.is_model or st.layer._traces_call}
    losses = [v for la in givers.values() for v in la.__dict__.get("_call_losses", ())]
    return [vals[o] for o in prog.output_slots], penalties + losses


def _activity_penalty(reg, y):
    """An activity regularizer's penalty of a layer's output, recorded,
    over the batch size (as Keras 3 and the model's own pass scale it)."""
    # (L1/L2 record their penalty on a traced output, as any regularizer)
    total = autodiff.sum_(reg(y))
    return autodiff.divide(total, np.float32(max(np.shape(_val(y))[0], 1)))


def _activate(y, act):
    if act == "linear":
        return y
    return act(y) if callable(act) else autodiff.apply_activation(y, act)


def _recorded_layer(record, layer, x, training):
    """``layer(x)`` for a built-in layer, computed with recorded operations
    (whose gradients have recorded forms too), or None for a layer that
    has no such form here (it is then recorded as one call)."""
    from .layers import activation, conv, core, embedding, normalization, pooling, recurrent, \
        reshaping, regularization
    from .layers.preprocessing import Normalization, Rescaling
    cls = type(layer)
    if training is None:
        training = layer._training_default
    if cls is core.Dense:
        shape = x.shape
        y = autodiff.matmul(x if len(shape) == 2 else autodiff.reshape(x, (-1, shape[-1])),
                            record.watch(layer.kernel))
        if layer.bias is not None:
            y = autodiff.add(y, record.watch(layer.bias))
        y = _activate(y, layer.activation)
        return y if len(shape) == 2 else autodiff.reshape(y, shape[:-1] + (layer.units,))
    if cls is core.EinsumDense:
        xs, ws, ys = layer._letters(len(x.shape))
        y = autodiff.einsum(f"{xs},{ws}->{ys}", x, record.watch(layer.kernel))
        if layer.bias is not None:
            y = autodiff.add(y, record.watch(layer.bias))
        return _activate(y, layer.activation)
    if isinstance(layer, (conv._Conv, conv.Conv2DTranspose)):
        return _recorded_conv(record, layer, x)
    if cls is normalization.BatchNormalization:
        return _batch_norm(record, layer, x, training)
    if cls is embedding.Embedding and layer.quantization_mode is None:
        return autodiff._index(record.watch(layer.embeddings), layer._integer_ids(x))
    if cls in (recurrent.SimpleRNN, recurrent.LSTM, recurrent.GRU):
        return _recorded_rnn(record, layer, x, [], training)
    if cls is recurrent.Bidirectional:
        return _bidirectional(record, layer, x, training)
    if cls is recurrent.TimeDistributed:
        shape = tuple(x.shape)
        inner = autodiff.reshape(x, (shape[0] * shape[1],) + shape[2:])
        y = _recorded_layer(record, layer.layer, inner, training)
        return None if y is None else \
            autodiff.reshape(y, shape[:2] + tuple(np.shape(_val(y)))[1:])
    if cls is normalization.GroupNormalization:
        return _group_norm(record, layer, x)
    if cls is activation.PReLU:
        alpha = record.watch(layer.alpha)
        return autodiff.where(_val(x) > 0, x, autodiff.multiply(x, alpha))
    if type(x) is not Traced:
        return None  # a layer without weights on a constant: a constant
    if cls in (core.Identity, regularization.ActivityRegularization):
        return x  # (the model adds the activity penalty)
    if cls is core.Activation:
        return _activate(x, layer.activation)
    if cls is activation.LeakyReLU:
        return autodiff.apply_activation(x, "leaky_relu", alpha=layer.negative_slope)
    if cls is activation.ReLU:
        return _relu(layer, x)
    if cls is activation.ELU:
        return autodiff.apply_activation(x, "elu", alpha=layer.alpha)
    if cls is activation.Softmax:
        return autodiff.softmax(x, axis=layer.axis)
    if cls in (reshaping.ZeroPadding1D, reshaping.ZeroPadding3D, reshaping.Cropping1D,
               reshaping.Cropping2D, reshaping.Cropping3D, reshaping.UpSampling1D,
               reshaping.UpSampling2D, reshaping.UpSampling3D, reshaping.RepeatVector,
               reshaping.Permute):
        # (a fixed linear map of the input: padding, cropping, upsampling)
        return _linear_layer(layer, x)
    if cls in (regularization.GaussianNoise, regularization.GaussianDropout,
               regularization.AlphaDropout, regularization.SpatialDropout1D,
               regularization.SpatialDropout2D, regularization.SpatialDropout3D, Rescaling,
               Normalization):
        return _elementwise_affine(layer, x, training)
    if cls is normalization.UnitNormalization:
        axes = layer._plan(x.ndim)[0]
        return autodiff.l2_normalize(x, axis=axes if len(axes) > 1 else axes[0],
                                     epsilon=layer.EPSILON)
    if cls is core.Dropout:
        if not training or layer.rate == 0.0:
            return x
        shape = x.shape if layer.noise_shape is None else layer._mask_shape(x.shape)
        scale, _ = ops.dropout(np.ones(shape, np.float32), layer.rate, layer._seed())
        return autodiff.multiply(x, scale)
    if cls is core.Flatten:
        return autodiff.reshape(x, (x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64))))
    if cls is core.Reshape:
        return autodiff.reshape(x, (x.shape[0],) + layer.compute_output_shape(x.shape)[1:])
    if cls is reshaping.ZeroPadding2D:
        return autodiff.pad(x, ((0, 0),) + tuple(layer.padding) + ((0, 0),))
    if cls is normalization.LayerNormalization:
        return _layer_norm(record, layer, x)
    if isinstance(layer, pooling._Pooling):
        return _recorded_pool(layer, x)
    if isinstance(layer, pooling._GlobalPooling):
        first = layer.data_format == "channels_first"
        axes = tuple(range(2, x.ndim)) if first else tuple(range(1, x.ndim - 1))
        reduce = autodiff.max_ if layer.kind == "max" else autodiff.mean
        return reduce(x, axis=axes, keepdims=layer.keepdims)
    return None


def _relu(layer, x):
    """Keras's ReLU (a threshold, a slope below it, a cap), piecewise
    linear: its pieces chosen by the input's values."""
    v = _val(x)
    y = autodiff.where(v > layer.threshold, x, autodiff.multiply(
        autodiff.subtract(x, np.float32(layer.threshold)), np.float32(layer.negative_slope)))
    if layer.max_value is not None:
        y = autodiff.where(v >= layer.max_value, np.float32(layer.max_value), y)
    return y


def _linear_layer(layer, x):
    """A layer computing a fixed linear map, recorded with its own forward
    and backward (each other's gradients)."""
    from .models.node import CallContext
    shape = tuple(x.shape)

    def forward(v):
        return np.array(type(layer).forward(layer, CallContext(), _contiguous32(v), False))

    def adjoint(g):
        ctx = CallContext()
        type(layer).forward(layer, ctx, np.zeros(shape, np.float32), True)
        return np.array(type(layer).backward(layer, ctx, _contiguous32(g), True))
    return autodiff.linear_map(x, forward, adjoint)


def _contiguous32(v):
    return np.ascontiguousarray(v, dtype=np.float32)


def _elementwise_affine(layer, x, training):
    """A layer computing x * a + b elementwise, a and b fixed by its call
    (noise drawn once, a per-channel dropout mask, a rescaling): its forward
    runs once, a is its backward of ones, b what remains."""
    from .models.node import CallContext
    ctx = CallContext()
    ctx.inference_behaviour = not training
    xv = _contiguous32(_val(x))
    y = np.array(type(layer).forward(layer, ctx, xv, True))
    a = np.array(type(layer).backward(layer, ctx, np.ones(xv.shape, np.float32), True))
    y_rec = autodiff.multiply(x, a)
    b = y - _val(y_rec)
    return autodiff.add(y_rec, b) if b.any() else y_rec


def _group_norm(record, layer, x):
    """GroupNormalization: each sample's consecutive channel groups
    normalized over their positions and channels."""
    shape = tuple(x.shape)
    c = shape[-1]
    groups = layer._groups_for(c)
    grouped = autodiff.reshape(x, (shape[0], -1, groups, c // groups))
    y = autodiff.reshape(_standardize(grouped, (1, 3), layer.epsilon), shape)
    return _scale_shift(record, layer, y)


def _bidirectional(record, layer, x, training):
    """Bidirectional over SimpleRNN, LSTM or GRU layers, as its forward
    merges them (the backward layer's sequence reversed back)."""
    outs = []
    for sub in (layer.forward_layer, layer.backward_layer):
        y = _recorded_rnn(record, sub, x, [], training)
        if y is None:
            return None
        outs.append(y if layer.return_state else [y])
    (fout, *fst), (bout, *bst) = outs
    if layer.return_sequences:
        bout = autodiff._index(bout, (slice(None), slice(None, None, -1)))
    mode = layer.merge_mode
    if mode is None:
        merged = [fout, bout]
    elif mode == "concat":
        merged = [autodiff.concatenate([fout, bout], axis=-1)]
    elif mode == "mul":
        merged = [autodiff.multiply(fout, bout)]
    else:
        y = autodiff.add(fout, bout)
        merged = [autodiff.multiply(y, np.float32(0.5)) if mode == "ave" else y]
    merged += fst + bst
    return merged if len(merged) > 1 else merged[0]


def _recorded_conv(record, layer, x):
    """A convolution layer (1-D and 2-D ones, grouped, depthwise, separable,
    transposed; the 3-D ones by depth taps) with recorded operations."""
    from .layers import conv
    rank = layer.rank

    def kernel(weight):
        k = record.watch(weight)
        return k if rank != 1 else autodiff.reshape(k, (1,) + weight.value.shape)
    shape = tuple(x.shape)
    x4 = x if rank != 1 else autodiff.reshape(x, (shape[0], 1) + shape[1:])
    if isinstance(layer, conv.Conv2DTranspose):
        _, s, op, d = layer._geo2d
        plane = (lambda planes, k: autodiff.conv_transpose(planes, k, s, layer.padding, op, d))
        y = plane(x4, kernel(layer.kernel)) if rank != 3 else \
            _by_depth_taps(layer, x, record.watch(layer.kernel), plane)
    elif rank == 3:
        _, s, p, d = layer._geo2d
        y = _by_depth_taps(layer, x, record.watch(layer.kernel),
                           lambda planes, k: autodiff.conv(planes, k, s, p, d, False))
    else:
        _, s, p, d = layer._geo2d
        if isinstance(layer, conv.SeparableConv2D):
            mid = autodiff.conv(x4, kernel(layer.depthwise_kernel), s, p, d, True)
            y = autodiff.conv(mid, kernel(layer.pointwise_kernel), 1, "valid", 1, False)
        elif getattr(layer, "groups", 1) != 1:
            # one group per input channel: the depthwise convolution
            k = kernel(layer.kernel)
            k = autodiff.reshape(k, np.shape(layer._depthwise(_val(k))))
            y = autodiff.conv(x4, k, s, p, d, True)
        else:
            y = autodiff.conv(x4, kernel(layer._main_kernel()), s, p, d, layer.depthwise)
    if layer.bias is not None:
        y = autodiff.add(y, record.watch(layer.bias))
    y = _activate(y, layer.activation)
    if rank == 1:
        y = autodiff.reshape(y, (shape[0],) + tuple(np.shape(_val(y)))[2:])
    return y


def _by_depth_taps(layer, x, kernel, plane):
    """A 3-D convolution (or transposed one) as its forward computes it: for
    each depth tap of the kernel, ``plane(planes, kernel[tap])``, the 2-D
    one of the input planes it reads, added into the output planes it
    writes."""
    n, d, h, w, c = x.shape
    od, taps = layer._depth(d)
    y = None
    for t, iz, oz in taps:
        planes = autodiff.reshape(autodiff._index(x, (slice(None), iz)), (-1, h, w, c))
        part = plane(planes, autodiff._index(kernel, t))
        oh, ow, f = np.shape(_val(part))[1:]
        part = autodiff.reshape(part, (n, len(oz), oh, ow, f))
        placed = autodiff._scatter(part, (slice(None), oz), (n, od, oh, ow, f), False)
        y = placed if y is None else autodiff.add(y, placed)
    return y


def _recorded_pool(layer, x):
    """Max and average pooling (1-D, 2-D, and 3-D as its two 2-D stages)."""
    if layer.rank == 3:
        stages = layer._stages(x.shape)
    else:
        stages = [(layer._as2d(x.shape),) + tuple(layer._window2d())]
    out_shape = layer.compute_output_shape(x.shape)
    y = x
    for shape, window, strides in stages:
        y = autodiff.pool(layer.kind, autodiff.reshape(y, shape), window, strides, layer.padding)
    return autodiff.reshape(y, (x.shape[0],) + tuple(out_shape[1:]))


def _batch_norm(record, layer, x, training):
    """BatchNormalization over the last axis: by the batch's moments in a
    training step (the moving averages updated as its forward does), by
    the moving ones otherwise."""
    if layer._sync_comm() is not None:
        return None
    axes = tuple(range(len(x.shape) - 1))
    if training and layer.trainable:
        xv = np.ascontiguousarray(_val(x), np.float32)
        mean, var = ops.moments(xv.reshape(-1, xv.shape[-1]))
        ops.moving_average(layer.moving_mean.value, mean, layer.momentum)
        ops.moving_average(layer.moving_variance.value, var, layer.momentum)
        y = _standardize(x, axes, layer.epsilon)
    else:
        inv = (1.0 / np.sqrt(layer.moving_variance.value.astype(np.float64) +
                             layer.epsilon)).astype(np.float32)
        y = autodiff.multiply(autodiff.subtract(x, layer.moving_mean.value), inv)
    return _scale_shift(record, layer, y)


def _recorded_rnn(record, layer, x, states, training):
    """SimpleRNN, LSTM and GRU step by step with recorded operations (Keras's
    cell equations), or None for a stateful layer.  Dropout masks are drawn
    as the layer's forward draws them: the input's multiplies the input,
    the recurrent one the state where it enters the recurrent product."""
    from .models.node import CallContext
    if layer.stateful:
        return None
    batch, steps, features = x.shape
    u = layer.units
    if training and layer.dropout:
        x = autodiff.multiply(x, layer._dropout_mask(
            CallContext(), "dropout", (batch, features), layer.dropout)[:, None, :])
    rmask = layer._dropout_mask(CallContext(), "recurrent_dropout", (batch, u),
                                layer.recurrent_dropout) \
        if training and layer.recurrent_dropout else None
    kernel, recurrent_kernel = record.watch(layer.kernel), record.watch(layer.recurrent_kernel)
    bias = None if layer.bias is None else record.watch(layer.bias)
    state = list(states) or [np.zeros((batch, u), np.float32)] * layer.state_count
    act = layer.activation
    rec = layer.recurrent_activation

    def cols(a, i, j):
        return autodiff._index(a, (Ellipsis, slice(i * u, j * u)))

    def row(a, i):
        return autodiff._index(a, i)
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    # the input's share of every step at once
    xs = autodiff.matmul(x, kernel)
    gru_after = type(layer).__name__ == "GRU" and layer.reset_after
    if bias is not None:
        xs = autodiff.add(xs, row(bias, 0) if gru_after else bias)
    outs = []
    for t in order:
        xt = autodiff._index(xs, (slice(None), t))
        h = state[0]
        hr = h if rmask is None else autodiff.multiply(h, rmask)
        if layer._cell_op == "simple_rnn":
            h = autodiff.apply_activation(autodiff.add(xt, autodiff.matmul(hr, recurrent_kernel)),
                                          act)
            state = [h]
        elif layer._cell_op == "lstm":
            z = autodiff.add(xt, autodiff.matmul(hr, recurrent_kernel))
            i, f, o = (autodiff.apply_activation(cols(z, a, a + 1), rec) for a in (0, 1, 3))
            c = autodiff.add(autodiff.multiply(f, state[1]),
                             autodiff.multiply(i, autodiff.apply_activation(cols(z, 2, 3), act)))
            h = autodiff.multiply(o, autodiff.apply_activation(c, act))
            state = [h, c]
        else:
            if gru_after:
                inner = autodiff.matmul(hr, recurrent_kernel)
                if bias is not None:
                    inner = autodiff.add(inner, row(bias, 1))
                rz, rr, rh = cols(inner, 0, 1), cols(inner, 1, 2), cols(inner, 2, 3)
            else:
                inner = autodiff.matmul(hr, cols(recurrent_kernel, 0, 2))
                rz, rr = cols(inner, 0, 1), cols(inner, 1, 2)
            zg = autodiff.apply_activation(autodiff.add(cols(xt, 0, 1), rz), rec)
            r = autodiff.apply_activation(autodiff.add(cols(xt, 1, 2), rr), rec)
            if gru_after:
                rh = autodiff.multiply(r, rh)
            else:
                rh = autodiff.matmul(autodiff.multiply(r, hr), cols(recurrent_kernel, 2, 3))
            hh = autodiff.apply_activation(autodiff.add(cols(xt, 2, 3), rh), act)
            h = autodiff.add(autodiff.multiply(zg, h),
                             autodiff.multiply(autodiff.subtract(np.float32(1), zg), hh))
            state = [h]
        outs.append(h)
    if layer.return_sequences:
        y = autodiff.concatenate([autodiff.reshape(h, (batch, 1, u)) for h in outs], axis=1)
    else:
        y = outs[-1]
    return [y] + state if layer.return_state else y


def _recorded_merge(record, layer, xs, training):
    """A merging layer's call with recorded operations, or None for one
    that has none here."""
    from .layers import merging, recurrent
    cls = type(layer)
    if cls in (recurrent.SimpleRNN, recurrent.LSTM, recurrent.GRU):
        return _recorded_rnn(record, layer, xs[0], list(xs[1:]),
                             layer._training_default if training is None else training)
    if cls is merging.Concatenate:
        return autodiff.concatenate(xs, axis=layer._axis(len(xs[0].shape)))
    fold = {merging.Add: autodiff.add, merging.Average: autodiff.add,
            merging.Subtract: autodiff.subtract, merging.Multiply: autodiff.multiply}.get(cls)
    if fold is None:
        return None
    rank = max(len(x.shape) for x in xs)
    xs = [x if len(x.shape) == rank else
          autodiff.reshape(x, merging.same_rank_shape(x.shape, rank)) for x in xs]
    y = xs[0]
    for x in xs[1:]:
        y = fold(y, x)
    return autodiff.multiply(y, np.float32(1 / len(xs))) if cls is merging.Average else y


def _layer_norm(record, layer, x):
    """LayerNormalization over its axes; its weights (of those axes' sizes)
    broadcast along the others."""
    axes = tuple(sorted(int(a) % x.ndim for a in (layer.axis if isinstance(layer.axis, list)
                                                  else [layer.axis])))
    trailing = axes == tuple(range(x.ndim - len(axes), x.ndim))
    shape = None if trailing else tuple(d if a in axes else 1 for a, d in enumerate(x.shape))
    return _scale_shift(record, layer, _standardize(x, axes, layer.epsilon), shape)


def _standardize(x, axes, epsilon):
    """(x - mean) / sqrt(variance + epsilon) over ``axes``, recorded."""
    centred = autodiff.subtract(x, autodiff.mean(x, axis=axes, keepdims=True))
    variance = autodiff.mean(autodiff.square(centred), axis=axes, keepdims=True)
    return autodiff.divide(centred, autodiff.sqrt(autodiff.add(variance, np.float32(epsilon))))


def _scale_shift(record, layer, y, shape=None):
    """``y`` times the layer's gamma plus its beta (those it has), each
    reshaped to ``shape`` when given."""
    for weight, op in ((layer.gamma, autodiff.multiply), (layer.beta, autodiff.add)):
        if weight is not None:
            w = record.watch(weight)
            y = op(y, w if shape is None else autodiff.reshape(w, shape))
    return y


def _scale_added_losses(program, state, scale):
    """Tell the calls inside that computed through call() how much of
    their add_loss values the target holds (their gradient's seed)."""
    for st, ctx in zip(program.steps, state.ctxs):
        if st.is_model:
            inner = getattr(ctx, "inner", None)
            if inner is not None:
                _scale_added_losses(st.layer._program, inner, scale)
        elif st.layer._traces_call:
            ctx.loss_scale = scale


def weight_penalties(weights):
    """The penalties of the regularized weights, each a value on the
    recording GradientTape (a float32 scalar tensor outside one): L1/L2, or the call of a
    regularizer of its own (a function, a subclass's ``__call__``; an
    array it returns is summed, as fit sums it)."""
    from .regularizers import Regularizer
    out = []
    for w in weights:
        reg = w.regularizer
        if reg is None:
            continue
        x = autodiff.resolve(w)
        if type(reg).__call__ is not Regularizer.__call__:
            total = reg(x)
            if np.ndim(_val(autodiff.value_of(total))):
                total = ops.sum(total)
            out.append(total if type(total) is Traced else
                       eager(np.asarray(_val(autodiff.value_of(total)), np.float32)))
            continue
        total = 0.0
        if reg.l1:
            total = total + reg.l1 * ops.sum(ops.abs(x))
        if reg.l2:
            total = total + reg.l2 * ops.sum(ops.square(x))
        out.append(total if type(total) is Traced else eager(np.asarray(total, np.float32)))
    return out


__all__ = ["GradientTape", "Variable"]
