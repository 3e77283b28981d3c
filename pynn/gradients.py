"""GradientTape and Variable: gradients of code run eagerly, as
``tf.GradientTape`` gives them (filter visualization, Grad-CAM, DeepDream,
style transfer, custom training loops).

Inside ``with pynn.GradientTape() as tape:`` the code computes as usual,
and what it computes from watched values is recorded (pynn.autodiff):

- a :class:`Variable` (or any layer weight) read by the code is watched
  automatically (``watch_accessed_variables=True``, as in TensorFlow);
- an array given to ``tape.watch(x)`` is watched where it enters a layer
  or a model (``model(x)``), as the books write it: the results of
  ``tape.watch(image); loss = f(model(image))`` are traced.  Arithmetic
  done on the plain array before it reaches a layer is not recorded:
  use ``x = tape.watch(x)`` (it returns the traced array) for that.

``tape.gradient(target, sources)`` returns the gradient of the target
(summed if it is not a scalar) for each source, in the sources'
structure; None for a source the target does not depend on.  Layers and
models called with no ``training`` argument compute as at inference
(Dropout passes, BatchNormalization uses its moving statistics), as in
Keras outside ``fit``; ``model(x, training=True)`` computes as in
training.
"""
import numpy as np

from . import autodiff, ops
from .layers.base import Weight, unique_name


class _Recorder(autodiff.Tape):
    """The tape of one GradientTape: it watches the variables it is told
    to (all trainable ones read, by default), whether or not a model is
    training them, and the arrays given to ``watch``."""
    __slots__ = ("owner",)

    def __init__(self, owner):
        super().__init__("the code in a GradientTape")
        self.owner = owner
        self.default_training = False

    def watch(self, weight):
        owner = self.owner
        if not ((owner.watch_accessed_variables and weight.trainable)
                or id(weight) in owner._variables):
            return weight.value
        hit = self.watched.get(id(weight))
        if hit is None:
            hit = self.watched[id(weight)] = (weight, autodiff.Traced(weight.value, self))
        return hit[1]

    def substitute(self, inputs):
        """``inputs`` (an array, or a list, tuple or dict of them) with each
        watched array replaced by its traced leaf."""
        arrays = self.owner._arrays
        if not arrays:
            return inputs
        if isinstance(inputs, (list, tuple)):
            return type(inputs)(self.substitute(x) for x in inputs)
        if isinstance(inputs, dict):
            return {k: self.substitute(v) for k, v in inputs.items()}
        hit = arrays.get(id(inputs))
        return inputs if hit is None or hit[0] is not inputs else hit[1]


class GradientTape:
    """tf.GradientTape's API: ``watch``, ``gradient``, ``stop_recording``,
    ``reset``, ``watched_variables``; ``persistent=True`` allows several
    ``gradient`` calls."""

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)
        self._variables = {}
        self._arrays = {}
        self._tape = _Recorder(self)
        self._recording = None
        self._used = False

    def __enter__(self):
        if self._recording is not None:
            raise RuntimeError("GradientTape: this tape is already recording")
        if autodiff.active_tape() is not None:
            raise RuntimeError("GradientTape: tapes cannot be nested (or opened inside a "
                               "layer's call while it trains)")
        self._recording = self._tape.recording()
        self._recording.__enter__()
        return self

    def __exit__(self, *exc):
        self._recording.__exit__(*exc)
        self._recording = None

    def stop_recording(self):
        """A with-block in which nothing is recorded."""
        return autodiff.untraced()

    def reset(self):
        """Forget what was recorded (and watched) so far."""
        self._tape = _Recorder(self)
        self._variables.clear()
        self._arrays.clear()
        if self._recording is not None:
            self._recording.__exit__(None, None, None)
            self._recording = self._tape.recording()
            self._recording.__enter__()

    def watch(self, tensor):
        """Watch ``tensor`` (an array, a Variable or weight, or a list of
        them).  Returns the traced array of an array watched while
        recording, for code that computes on it before any layer."""
        if isinstance(tensor, (list, tuple)):
            return type(tensor)(self.watch(t) for t in tensor)
        if isinstance(tensor, Weight):
            self._variables[id(tensor)] = tensor
            return tensor
        if type(tensor) is autodiff.Traced:
            return tensor
        if not isinstance(tensor, np.ndarray) or tensor.dtype.kind != "f":
            raise TypeError(f"GradientTape.watch: expected a float array or a Variable, got "
                            f"{type(tensor).__name__}"
                            f"{' of dtype ' + str(tensor.dtype) if hasattr(tensor, 'dtype') else ''}")
        hit = self._arrays.get(id(tensor))
        if hit is None or hit[0] is not tensor:
            value = np.ascontiguousarray(tensor, dtype=np.float32)
            hit = self._arrays[id(tensor)] = (tensor, autodiff.Traced(value, self._tape))
        return hit[1]

    def watched_variables(self):
        return [w for w, _ in self._tape.watched.values()]

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients="none"):
        """The gradient of ``target`` with respect to each of ``sources``
        (an array or Variable, or a list, tuple or dict of them)."""
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"GradientTape.gradient: unconnected_gradients must be 'none' or "
                             f"'zero', got {unconnected_gradients!r}")
        if self._recording is not None and not self.persistent:
            raise RuntimeError("GradientTape.gradient: call it after the with-block (or make "
                               "the tape persistent=True)")
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a "
                               "non-persistent tape; make it persistent=True for more")
        self._used = True
        targets = target if isinstance(target, (list, tuple)) else [target]
        if output_gradients is None:
            seeds_in = [1.0] * len(targets)
        else:
            seeds_in = output_gradients if isinstance(output_gradients, (list, tuple)) \
                else [output_gradients]
        seeds = [(autodiff.resolve(t), g) for t, g in zip(targets, seeds_in)
                 if type(autodiff.resolve(t)) is autodiff.Traced]
        leaves = _flatten_sources(sources)
        weights = [s for s in leaves if isinstance(s, Weight)]
        keep = {id(s) for s in leaves if type(s) is autodiff.Traced}
        grads = self._backward(seeds, weights, keep)
        out = [self._gradient_of(s, grads, unconnected_gradients) for s in leaves]
        return _restructure(sources, out)

    def _backward(self, seeds, weights, keep):
        """tape.backward with the requested weights bound to scratch
        gradient buffers, so the layers called inside write theirs."""
        from .models.functional import new_binding
        bound = [w for w in weights if w.grad is None]
        for w in bound:
            w.grad = np.zeros(w.shape, np.float32)
        if bound:
            new_binding()
        try:
            return self._tape.backward(seeds, keep)
        finally:
            for w in bound:
                w.grad = None
            if bound:
                new_binding()

    def _gradient_of(self, source, grads, unconnected):
        if isinstance(source, Weight):
            g = self._tape.weight_gradient(source, grads)
            shape = source.shape
        else:
            traced = source if type(source) is autodiff.Traced else None
            if traced is None:
                hit = self._arrays.get(id(source))
                traced = hit[1] if hit is not None and hit[0] is source else None
            g = None if traced is None else grads.get(id(traced))
            shape = np.shape(source if traced is None else traced.value)
        if g is None:
            return np.zeros(shape, np.float32) if unconnected == "zero" else None
        return np.array(g, dtype=np.float32)


def _flatten_sources(sources):
    if isinstance(sources, dict):
        return [v for v in sources.values()]
    if isinstance(sources, (list, tuple)):
        return list(sources)
    return [sources]


def _restructure(sources, values):
    if isinstance(sources, dict):
        return dict(zip(sources.keys(), values))
    if isinstance(sources, (list, tuple)):
        return type(sources)(values)
    return values[0]


class Variable(Weight):
    """Keras 3's ``keras.Variable``: a float32 value that code reads as an
    array, a GradientTape differentiates, and an optimizer or ``assign``
    updates (``Variable(initializer, shape=None, dtype=None,
    trainable=True, name=None)``; the initializer is an array, or an
    initializer with ``shape``)."""
    __slots__ = ()

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, name=None,
                 **kwargs):
        unknown = set(kwargs) - {"autocast", "aggregation", "synchronization"}
        if unknown:
            raise TypeError(f"Variable: unexpected argument(s) {', '.join(sorted(unknown))}")
        if dtype is not None and np.dtype(dtype) != np.float32:
            raise ValueError(f"Variable: only float32 is supported, got dtype {dtype!r}")
        if callable(initializer) or isinstance(initializer, str):
            from . import initializers
            if shape is None:
                raise ValueError("Variable: an initializer needs shape=")
            value = initializers.get(initializer)(tuple(int(d) for d in shape))
        else:
            value = np.array(autodiff.value_of(initializer), dtype=np.float32)
            if shape is not None and tuple(shape) != value.shape:
                raise ValueError(f"Variable: the value has shape {value.shape}, shape= says "
                                 f"{tuple(shape)}")
        super().__init__(name or unique_name("variable"), value, trainable=trainable)

    def assign_add(self, value):
        self.assign(self.value + np.asarray(value, np.float32))

    def assign_sub(self, value):
        self.assign(self.value - np.asarray(value, np.float32))

    def __repr__(self):
        return f"<Variable {self.name} shape={self.value.shape}>"


# pynn.ops sends calls given a variable to the tape while one records.
ops._TRACED.add(Variable)
