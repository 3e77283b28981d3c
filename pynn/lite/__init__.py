"""pynn.lite: export pynn models to TensorFlow Lite flatbuffers.

Mirrors ``tf.lite`` so that converter code ports by changing its imports::

    converter = pynn.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [pynn.lite.Optimize.DEFAULT]      # dynamic range
    converter.representative_dataset = representative_data_gen  # full integer
    converter.target_spec.supported_ops = [pynn.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = np.int8
    converter.inference_output_type = np.int8
    tflite_bytes = converter.convert()

or, in one line, ``model.export_tflite('model.tflite', quantize='int8',
representative_dataset=...)``.  The modes follow TensorFlow's converter:
no optimizations -> float32; ``Optimize.DEFAULT`` with
``target_spec.supported_types = [np.float16]`` -> float16 weights;
``Optimize.DEFAULT`` alone -> dynamic-range (int8 weights, float
activations); ``Optimize.DEFAULT`` with a ``representative_dataset`` ->
full integer (int8 weights and activations).  See pynn.lite.quantize.

Writing needs the ``tflite`` and ``flatbuffers`` packages
(``pip install 'pynn[lite]'``); they are imported on first use.
"""
import enum
import os

import numpy as np

from .converter import ConversionError

__all__ = ["TFLiteConverter", "Optimize", "OpsSet", "TargetSpec", "RepresentativeDataset",
           "ConversionError", "export_tflite", "Interpreter"]


def Interpreter(model_path=None, model_content=None, **kwargs):
    """``tf.lite.Interpreter``: LiteRT's interpreter (the ``ai-edge-litert``
    package, or the older ``tflite-runtime``) on a ``.tflite`` file or its
    bytes, so a program checks what it converted as TensorFlow's tutorials
    do (``allocate_tensors``, ``get_signature_runner``, ``invoke``)."""
    try:
        from ai_edge_litert.interpreter import Interpreter as runtime
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter as runtime
        except ImportError:
            raise ImportError("pynn.lite.Interpreter runs models with LiteRT, which is not "
                              "installed: pip install ai-edge-litert") from None
    return runtime(model_path=model_path, model_content=model_content, **kwargs)


class Optimize(enum.Enum):
    """``tf.lite.Optimize``: DEFAULT quantizes (the two old names are its
    aliases, as in TensorFlow)."""
    DEFAULT = "DEFAULT"
    OPTIMIZE_FOR_SIZE = "DEFAULT"
    OPTIMIZE_FOR_LATENCY = "DEFAULT"


class OpsSet(enum.Enum):
    """``tf.lite.OpsSet``: the op sets a model may use.  SELECT_TF_OPS
    allows TensorFlow ops where no builtin fits; pynn's exporter writes
    builtins only, so it is accepted and changes nothing."""
    TFLITE_BUILTINS = "TFLITE_BUILTINS"
    TFLITE_BUILTINS_INT8 = "TFLITE_BUILTINS_INT8"
    SELECT_TF_OPS = "SELECT_TF_OPS"


class RepresentativeDataset:
    """``tf.lite.RepresentativeDataset``: wraps a generator function that
    yields lists of input arrays."""

    def __init__(self, input_gen):
        self.input_gen = input_gen


class TargetSpec:
    """``tf.lite.TargetSpec``: the ops and types the target runs."""

    def __init__(self, supported_ops=None, supported_types=None):
        self.supported_ops = set(supported_ops) if supported_ops else \
            {OpsSet.TFLITE_BUILTINS}
        self.supported_types = list(supported_types or [])


def _dtype(value, what, allowed):
    try:
        dt = np.dtype(value)
    except TypeError:
        dt = None
    if dt is None or dt not in [np.dtype(a) for a in allowed]:
        names = ", ".join(np.dtype(a).name for a in allowed)
        raise ConversionError(f"{what} must be one of {names}, got {value!r}")
    return dt


class TFLiteConverter:
    """Converts a pynn Sequential model to TFLite flatbuffer bytes, with
    ``tf.lite.TFLiteConverter``'s attributes."""

    def __init__(self, model):
        self._model = model
        self.optimizations = []
        self.representative_dataset = None
        self.target_spec = TargetSpec()
        self.inference_input_type = np.float32
        self.inference_output_type = np.float32
        self.allow_custom_ops = False
        self.experimental_new_converter = True

    @classmethod
    def from_keras_model(cls, model):
        return cls(model)

    @classmethod
    def from_keras_model_file(cls, model_file, input_arrays=None, input_shapes=None,
                              output_arrays=None, custom_objects=None):
        """A converter for the model saved in ``model_file`` (``.h5``,
        ``.keras`` or ``.pynn``), as TensorFlow 1's converter was made from
        a saved Keras model."""
        if input_arrays is not None or input_shapes is not None or output_arrays is not None:
            raise ConversionError("from_keras_model_file: input_arrays, input_shapes and "
                                  "output_arrays are not supported; the model's own inputs "
                                  "and outputs are converted")
        from ..models import load_model
        return cls(load_model(model_file, custom_objects=custom_objects, compile=False))

    # ---------------------------------------------------------- settings

    def _mode(self):
        """'float32', 'float16', 'dynamic' or 'int8', decided as
        TensorFlow's converter decides."""
        opts = list(self.optimizations or [])
        for o in opts:
            if not isinstance(o, Optimize):
                raise ConversionError(f"optimizations must hold pynn.lite.Optimize values, "
                                      f"got {o!r}")
        ops_sets = set(self.target_spec.supported_ops or [OpsSet.TFLITE_BUILTINS])
        for s in ops_sets:
            if not isinstance(s, OpsSet):
                raise ConversionError(f"target_spec.supported_ops must hold pynn.lite.OpsSet "
                                      f"values, got {s!r}")
        types = [_dtype(t, "target_spec.supported_types entries",
                        (np.float16, np.float32, np.int8, np.uint8))
                 for t in self.target_spec.supported_types or []]
        int8_only = ops_sets == {OpsSet.TFLITE_BUILTINS_INT8}
        if not opts:
            if int8_only or self.representative_dataset is not None:
                raise ConversionError("full-integer quantization needs "
                                      "optimizations=[pynn.lite.Optimize.DEFAULT]")
            return "float32"
        if np.dtype(np.float16) in types and not int8_only and \
                np.dtype(np.int8) not in types:
            return "float16"
        if self.representative_dataset is not None:
            return "int8"
        if int8_only or np.dtype(np.int8) in types:
            raise ConversionError("full-integer quantization (TFLITE_BUILTINS_INT8 or int8 in "
                                  "supported_types) needs a representative_dataset to calibrate "
                                  "the activations' ranges")
        return "dynamic"

    # ----------------------------------------------------------- convert

    def convert(self):
        """The model as TFLite flatbuffer bytes."""
        from . import converter, quantize, writer
        from .. import __version__
        mode = self._mode()
        in_type = _dtype(self.inference_input_type, "inference_input_type",
                         (np.float32, np.int8, np.uint8))
        out_type = _dtype(self.inference_output_type, "inference_output_type",
                          (np.float32, np.int8, np.uint8))
        if mode != "int8" and (in_type != np.float32 or out_type != np.float32):
            raise ConversionError(
                f"inference_input_type / inference_output_type other than float32 need "
                f"full-integer quantization (optimizations=[Optimize.DEFAULT] and a "
                f"representative_dataset); this conversion is {mode}")
        graph = converter.build_graph(self._model, int8=mode == "int8")
        if mode == "float16":
            quantize.float16(graph)
        elif mode == "dynamic":
            quantize.dynamic_range(graph)
        elif mode == "int8":
            data = self.representative_dataset
            if isinstance(data, RepresentativeDataset):
                data = data.input_gen
            batches = quantize.representative_batches(data, self._model._inputs)
            ranges = quantize.calibrate(self._model, graph, batches)
            int8_only = set(self.target_spec.supported_ops) == {OpsSet.TFLITE_BUILTINS_INT8}
            quantize.full_integer(graph, ranges, in_type, out_type, int8_only=int8_only)
        return writer.write(graph, description=f"pynn {__version__} ({mode})")


_QUANTIZE_MODES = {None: None, "none": None, "float32": None, "float16": "float16",
                   "dynamic": "dynamic", "int8": "int8"}


def export_tflite(model, path, quantize=None, representative_dataset=None,
                  inference_input_type=np.float32, inference_output_type=np.float32,
                  optimizations=None, supported_types=None, supported_ops=None):
    """Convert ``model`` and write the flatbuffer to ``path`` atomically;
    returns the bytes written.  ``quantize`` is None (float32),
    'float16', 'dynamic' or 'int8' (which needs ``representative_dataset``);
    the other arguments are TFLiteConverter's attributes."""
    from ..utils.io import atomic_write
    key = quantize.lower() if isinstance(quantize, str) else quantize
    if key not in _QUANTIZE_MODES:
        raise ValueError(f"export_tflite: quantize must be one of None, 'float16', 'dynamic', "
                         f"'int8', got {quantize!r}")
    mode = _QUANTIZE_MODES[key]
    conv = TFLiteConverter.from_keras_model(model)
    conv.representative_dataset = representative_dataset
    conv.inference_input_type = inference_input_type
    conv.inference_output_type = inference_output_type
    if optimizations is not None:
        conv.optimizations = list(optimizations)
    if supported_types is not None:
        conv.target_spec.supported_types = list(supported_types)
    if supported_ops is not None:
        conv.target_spec.supported_ops = set(supported_ops)
    if mode is not None:
        conv.optimizations = [Optimize.DEFAULT]
        if mode == "float16":
            conv.target_spec.supported_types = [np.float16]
        elif mode == "int8" and representative_dataset is None:
            raise ConversionError("export_tflite: quantize='int8' needs representative_dataset="
                                  "..., a callable yielding lists of input arrays")
        elif mode == "dynamic" and representative_dataset is not None:
            raise ConversionError("export_tflite: quantize='dynamic' takes no "
                                  "representative_dataset (with one, use quantize='int8')")
    data = conv.convert()
    name = os.fspath(path)
    with atomic_write(name, "wb") as f:
        f.write(data)
    return data
