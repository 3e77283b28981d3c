"""Models: Sequential (a stack of layers) with Keras's API."""
import numpy as np

from .layers.base import InputLayer, Layer, shape_str, unique_name
from .layers.normalization import BatchNormalization
from .training import TrainingMixin


def _format_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


class Sequential(TrainingMixin):
    """A linear stack of layers: ``Sequential([Dense(...), ...])`` or
    ``model.add(layer)``."""

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or unique_name("sequential")
        self.trainable = trainable
        self._layers = []
        self._input_shape = None
        self.built = False
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self._flat_key = None
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------ layers

    @property
    def layers(self):
        return list(self._layers)

    def add(self, layer):
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Sequential: an Input can only be the first layer")
            self._input_shape = layer.shape
            return
        if isinstance(layer, Sequential):
            for inner in layer.layers:
                self.add(inner)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, got {type(layer).__name__}")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential: all layer names must be unique; {layer.name!r} "
                             f"is already in the model")
        if not self._layers and self._input_shape is None and layer._batch_input_shape:
            self._input_shape = layer._batch_input_shape
        self._layers.append(layer)
        self.built = False
        self._flat_key = None
        if self._input_shape is not None:
            self.build(self._input_shape)

    def pop(self):
        if not self._layers:
            raise ValueError("Sequential.pop: the model has no layers")
        layer = self._layers.pop()
        self.built = False
        self._flat_key = None
        if self._layers and self._input_shape is not None:
            self.build(self._input_shape)
        return layer

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Layers: {[l.name for l in self._layers]}")

    # ------------------------------------------------------------- build

    def build(self, input_shape=None):
        if input_shape is None:
            input_shape = self._input_shape
        if input_shape is None:
            raise ValueError("Sequential.build: the input shape is unknown; pass "
                             "input_shape=... to the first layer, start with Input(shape=...), "
                             "or call fit/predict on data")
        if not self._layers:
            raise ValueError("Sequential: the model has no layers")
        shape = (None,) + tuple(input_shape)[1:]
        self._input_shape = shape
        for layer in self._layers:
            shape = layer.build_for(shape)
        self.built = True

    def _ensure_built(self, input_shape):
        if self.built and input_shape[1:] == self._input_shape[1:]:
            return
        if not self.built:
            self.build(input_shape)
            return
        want = self._input_shape
        if len(input_shape) != len(want) or any(
                a is not None and a != b for a, b in zip(want[1:], input_shape[1:])):
            first = self._layers[0]
            raise ValueError(f"Input 0 of layer {first.name!r} is incompatible with the layer: "
                             f"expected shape={shape_str(want)}, found "
                             f"shape={shape_str(input_shape)}")

    @property
    def input_shape(self):
        if self._input_shape is None:
            raise AttributeError("The model has not been built: its input shape is unknown")
        return self._input_shape

    @property
    def output_shape(self):
        return self._layers[-1].output_shape

    # ------------------------------------------------------ computation

    def _forward(self, x, training):
        layers = self._layers
        if training or not self._has_batch_norm():
            for layer in layers:
                x = layer.call(x, training)
            return x
        # Inference: a BatchNormalization right after a convolution or dense
        # layer with no activation of its own is a per-channel affine map
        # that layer can absorb into its kernel and bias (exact), so the
        # pair runs as one kernel call.
        i, n = 0, len(layers)
        while i < n:
            layer = layers[i]
            nxt = layers[i + 1] if i + 1 < n else None
            if isinstance(nxt, BatchNormalization) and getattr(layer, "can_fold_affine", False) \
                    and layer.activation == "linear":
                x = layer.call_folded(x, *nxt.inference_affine())
                i += 2
            else:
                x = layer.call(x, False)
                i += 1
        return x

    def _has_batch_norm(self):
        return any(isinstance(layer, BatchNormalization) for layer in self._layers)

    def _backward(self, g):
        need = self._needs_input_grad
        layers = self._layers
        for i in range(len(layers) - 1, -1, -1):
            g = layers[i].backward(g, need[i])
            if g is None:
                break

    def _flat_parameters(self):
        """Gather every trainable parameter into one flat array (and the
        gradients into another), rebinding each weight to a view of it, so
        the optimizer runs one kernel per step.  Redone only when the set of
        trainable weights changes."""
        weights = [w for layer in self._layers for w in layer.trainable_weights] \
            if self.trainable else []
        key = tuple(id(w) for w in weights)
        if key != self._flat_key:
            total = sum(w.value.size for w in weights)
            params = np.empty(total, np.float32)
            grads = np.zeros(total, np.float32)
            off = 0
            for w in weights:
                n = w.value.size
                params[off:off + n] = w.value.reshape(-1)
                w.value = params[off:off + n].reshape(w.value.shape)
                w.grad = grads[off:off + n].reshape(w.value.shape)
                off += n
            self._flat = (params, grads)
            self._flat_key = key
            trainable_before = False
            self._needs_input_grad = []
            for layer in self._layers:
                self._needs_input_grad.append(trainable_before)
                trainable_before = trainable_before or bool(layer.trainable_weights)
        return self._flat

    # ----------------------------------------------------------- weights

    @property
    def weights(self):
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self._layers for w in layer.trainable_weights] \
            if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"set_weights: the model has {len(mine)} weight arrays, "
                             f"got {len(weights)}")
        for w, v in zip(mine, weights):
            w.assign(v)

    def count_params(self):
        if not self.built:
            raise ValueError("count_params: the model has not been built; give it an input "
                             "shape first")
        return int(sum(layer.count_params() for layer in self._layers))

    # ----------------------------------------------------------- summary

    def summary(self, line_length=None, positions=None, print_fn=None):
        """Keras's summary table: layers, output shapes, parameter counts."""
        print_fn = print_fn or print
        widths = [33, 26, 15] if not line_length else \
            [int(line_length * 0.45), int(line_length * 0.35), int(line_length * 0.2)]
        rows = []
        for layer in self._layers:
            shape = shape_str(layer.output_shape) if layer._output_shape else "?"
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))

        def line(left, mid, right, fill):
            return left + mid.join(fill * (w + 2) for w in widths) + right

        def row(cells, aligns=("<", "<", ">")):
            return "\u2502" + "\u2502".join(
                f" {c:{a}{w}} " for c, a, w in zip(cells, aligns, widths)) + "\u2502"

        out = [f'Model: "{self.name}"', line("\u250f", "\u2533", "\u2513", "\u2501"),
               "\u2503" + "\u2503".join(f" {c:{a}{w}} " for c, a, w in zip(
                   ("Layer (type)", "Output Shape", "Param #"), "<<>", widths)) + "\u2503",
               line("\u2521", "\u2547", "\u2529", "\u2501")]
        for i, r in enumerate(rows):
            out.append(row(r))
            if i < len(rows) - 1:
                out.append(line("\u251c", "\u253c", "\u2524", "\u2500"))
        out.append(line("\u2514", "\u2534", "\u2518", "\u2500"))
        trainable = sum(w.value.size for w in self.trainable_weights)
        total = sum(w.value.size for w in self.weights)
        out.append(f" Total params: {total:,} ({_format_bytes(total * 4)})")
        out.append(f" Trainable params: {trainable:,} ({_format_bytes(trainable * 4)})")
        out.append(f" Non-trainable params: {total - trainable:,} "
                   f"({_format_bytes((total - trainable) * 4)})")
        if self.optimizer is not None and self.optimizer.variables():
            n = sum(v.size for v in self.optimizer.variables())
            out.append(f" Optimizer params: {n:,} ({_format_bytes(n * 4)})")
        print_fn("\n".join(out))

    def __repr__(self):
        return f"<Sequential name={self.name}, {len(self._layers)} layers>"

    # ------------------------------------------------------------ saving

    def get_config(self):
        """The layers and their arguments (Keras's Sequential config)."""
        from . import saving
        return saving.model_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from . import saving
        return saving.model_from_config(config, custom_objects)

    def save(self, filepath, overwrite=True, **kwargs):
        """Write the whole model (config, weights, compile settings and
        optimizer state) to a ``.pynn`` file; see pynn.saving."""
        if kwargs:
            raise TypeError(f"save: unexpected argument(s) {', '.join(sorted(kwargs))}")
        from . import saving
        saving.save_model(self, filepath, overwrite=overwrite)

    def export_tflite(self, filepath, quantize=None, representative_dataset=None, **options):
        """Write the model as a TensorFlow Lite flatbuffer (atomically) and
        return its bytes.  ``quantize``: None (float32), 'float16',
        'dynamic' or 'int8' (with ``representative_dataset``, a callable
        yielding lists of input arrays, as tf.lite's); ``options`` are the
        converter's settings (``inference_input_type=np.int8``, ...).  See
        pynn.lite."""
        from . import lite
        return lite.export_tflite(self, filepath, quantize=quantize,
                                  representative_dataset=representative_dataset, **options)

    def save_weights(self, filepath, overwrite=True):
        """Write the weights only, to a file named ``*.weights.pynn``."""
        from . import saving
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Read weights saved by save_weights (or from a whole-model file)."""
        from . import saving
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model saved with ``model.save``, compiled and with its optimizer
    state, ready to continue training."""
    from . import saving
    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                             safe_mode=safe_mode)


def clone_model(model, input_tensors=None, clone_function=None):
    """Same architecture, fresh weights (Keras's clone_model)."""
    from . import saving
    return saving.clone_model(model, input_tensors=input_tensors,
                              clone_function=clone_function)
