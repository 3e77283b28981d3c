"""Serialize a :class:`pynn.lite.graph.Graph` as a TFLite flatbuffer.

Everything is written through the ``flatbuffers`` runtime and the schema
bindings of the ``tflite`` package (its generated ``ModelStart``,
``TensorAddShape``, ... functions), so the layout is the schema's, never
hand-packed.  The model has schema version 3, one subgraph, a
``serving_default`` signature, and the ``min_runtime_version`` metadata
entry that TensorFlow's converter writes.
"""
import numpy as np

SCHEMA_VERSION = 3
BUFFER_ALIGNMENT = 16  # weight data start on 16-byte boundaries (SIMD loads, mmap)
MAX_FLATBUFFER_BYTES = (1 << 31) - (1 << 24)  # flatbuffers' 2 GiB offsets, less the tables


def _tflite():
    try:
        import flatbuffers
        import tflite
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("pynn.lite needs the 'tflite' and 'flatbuffers' packages: "
                          "pip install 'pynn[lite]'") from e
    return flatbuffers, tflite


_TENSOR_TYPES = {np.dtype(np.float32): "FLOAT32", np.dtype(np.float16): "FLOAT16",
                 np.dtype(np.int32): "INT32", np.dtype(np.uint8): "UINT8",
                 np.dtype(np.int64): "INT64", np.dtype(np.int8): "INT8",
                 np.dtype(np.bool_): "BOOL", np.dtype(np.uint32): "UINT32"}

_ACTIVATIONS = {None: "NONE", "linear": "NONE", "relu": "RELU", "relu6": "RELU6"}


def fused_activation_code(name):
    _, tflite = _tflite()
    return getattr(tflite.ActivationFunctionType, _ACTIVATIONS[name])


def padding_code(name):
    _, tflite = _tflite()
    return tflite.Padding.SAME if name == "same" else tflite.Padding.VALID


# ------------------------------------------------------------- versions

def op_version(op):
    """The operator version TensorFlow's converter gives this op for its
    tensor types (tensorflow/lite/tools/versioning/op_version.cc)."""
    code = op.code
    first = op.inputs[0]
    t_in = first.dtype if first is not None else np.dtype(np.float32)
    t_out = op.outputs[0].dtype
    int8_in = t_in == np.int8
    weights = op.inputs[1] if len(op.inputs) > 1 else None
    hybrid = t_in == np.float32 and weights is not None and weights.dtype == np.int8
    opts = (op.options or (None, {}))[1]
    if code == "CONV_2D":
        if int8_in:
            return 3
        if hybrid:
            return 5 if weights.quant.per_channel else 2
        return 1
    if code == "DEPTHWISE_CONV_2D":
        if hybrid:
            return 6 if weights.quant.per_channel else 4
        if int8_in:
            return 3
        if opts.get("DilationWFactor", 1) != 1 or opts.get("DilationHFactor", 1) != 1:
            return 2
        return 1
    if code == "FULLY_CONNECTED":
        if hybrid and weights.quant.per_channel:
            return 12
        if opts.get("KeepNumDims"):
            return 5
        if int8_in:
            return 4
        if hybrid:
            return 9 if opts.get("AsymmetricQuantizeInputs") else 3
        return 1
    if code == "DEQUANTIZE":
        if t_in == np.float16:
            return 3
        if t_in == np.int8:
            return 5 if first.quant is not None and first.quant.per_channel else 2
        return 1
    if code == "QUANTIZE":
        return 1
    if code in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN"):
        # float, or hybrid (int8 weights) with asymmetrically quantized inputs
        return 3 if op.inputs[2].dtype == np.int8 else 1
    if code == "GATHER" and t_in == np.int8:
        return 2
    if code in ("LEAKY_RELU", "HARD_SWISH", "RESHAPE", "ELU", "SHAPE", "PRELU"):
        return 1
    if code == "TRANSPOSE_CONV":
        # the kernel is input 1, the bias input 3
        if opts.get("FusedActivationFunction", 0) != 0:
            return 4
        if len(op.inputs) == 4 and op.inputs[3] is not None:
            return 3
        return 2 if weights is not None and weights.dtype == np.int8 else 1
    if code in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR") and \
            (opts.get("HalfPixelCenters") or opts.get("AlignCorners")):
        return 3
    if code == "PAD" and len(first.shape) > 4:
        return 4
    if code == "MUL" and int8_in:
        q1, q2, qo = first.quant, op.inputs[1].quant, op.outputs[0].quant
        if q1 and q2 and qo and float(q1.scale[0]) * float(q2.scale[0]) / float(qo.scale[0]) >= 1:
            return 3
        return 2
    if int8_in or (code in ("SOFTMAX", "LOGISTIC", "TANH") and t_out == np.int8):
        return 2
    return 1


# TFLite runtime release that first ran each (op, version)
# (tensorflow/lite/tools/versioning/runtime_version.cc).
_RUNTIME = {
    ("AVERAGE_POOL_2D", 1): "1.5.0", ("AVERAGE_POOL_2D", 2): "1.14.0",
    ("CONV_2D", 1): "1.5.0", ("CONV_2D", 2): "1.14.0", ("CONV_2D", 3): "1.14.0",
    ("CONV_2D", 5): "2.4.0",
    ("DEPTHWISE_CONV_2D", 1): "1.5.0", ("DEPTHWISE_CONV_2D", 2): "1.12.0",
    ("DEPTHWISE_CONV_2D", 3): "1.14.0", ("DEPTHWISE_CONV_2D", 4): "2.2.0",
    ("DEPTHWISE_CONV_2D", 6): "2.3.0",
    ("ADD", 1): "1.5.0", ("ADD", 2): "1.14.0",
    ("FULLY_CONNECTED", 1): "1.5.0", ("FULLY_CONNECTED", 3): "1.14.0",
    ("FULLY_CONNECTED", 4): "1.14.0", ("FULLY_CONNECTED", 5): "2.0.0",
    ("FULLY_CONNECTED", 9): "2.3.0",
    ("MAX_POOL_2D", 1): "1.5.0", ("MAX_POOL_2D", 2): "1.14.0",
    ("MUL", 1): "1.5.0", ("MUL", 2): "1.14.0", ("MUL", 3): "1.15.0",
    ("PAD", 1): "1.5.0", ("PAD", 2): "1.14.0", ("PAD", 4): "2.6.0",
    ("RESHAPE", 1): "1.5.0",
    ("SOFTMAX", 1): "1.5.0", ("SOFTMAX", 2): "1.14.0",
    ("MEAN", 1): "1.6.0", ("MEAN", 2): "1.14.0",
    ("REDUCE_MAX", 1): "1.11.0", ("REDUCE_MAX", 2): "1.14.0",
    ("RELU", 1): "1.5.0", ("RELU", 2): "2.1.0",
    ("RELU6", 1): "1.5.0", ("RELU6", 2): "1.14.0",
    ("TANH", 1): "1.14.0", ("TANH", 2): "1.14.0",
    ("LOGISTIC", 1): "1.14.0", ("LOGISTIC", 2): "1.14.0",
    ("LEAKY_RELU", 1): "1.13.1", ("ELU", 1): "1.14.0",
    ("HARD_SWISH", 1): "1.15.0",
    ("QUANTIZE", 1): "1.14.0",
    ("DEQUANTIZE", 1): "1.13.1", ("DEQUANTIZE", 2): "1.14.0", ("DEQUANTIZE", 3): "1.15.0",
    ("DEQUANTIZE", 5): "2.7.0",
    ("CONCATENATION", 1): "1.5.0", ("CONCATENATION", 2): "1.14.0",
    ("SUB", 1): "1.6.0", ("SUB", 2): "1.14.0",
    ("MAXIMUM", 1): "1.14.0", ("MAXIMUM", 2): "1.14.0",
    ("MINIMUM", 1): "1.14.0", ("MINIMUM", 2): "1.14.0",
    ("BATCH_MATMUL", 1): "2.3.0", ("BATCH_MATMUL", 2): "2.3.0",
    ("L2_NORMALIZATION", 1): "1.5.0", ("L2_NORMALIZATION", 2): "1.14.0",
    ("TRANSPOSE_CONV", 1): "1.9.0", ("TRANSPOSE_CONV", 2): "2.2.0",
    ("TRANSPOSE_CONV", 3): "2.3.0", ("TRANSPOSE_CONV", 4): "2.13.0",
    ("RESIZE_BILINEAR", 1): "1.7.0", ("RESIZE_BILINEAR", 2): "1.14.0",
    ("RESIZE_BILINEAR", 3): "2.2.0",
    ("RESIZE_NEAREST_NEIGHBOR", 1): "1.13.1", ("RESIZE_NEAREST_NEIGHBOR", 2): "1.14.0",
    ("RESIZE_NEAREST_NEIGHBOR", 3): "2.3.0",
    ("PADV2", 1): "1.9.0", ("PADV2", 2): "1.14.0",
    ("SLICE", 1): "1.14.0", ("SLICE", 2): "1.14.0",
    ("STRIDED_SLICE", 1): "1.6.0", ("STRIDED_SLICE", 2): "1.14.0",
    ("TILE", 1): "1.10.1", ("TILE", 2): "2.2.0",
    ("TRANSPOSE", 1): "1.6.0", ("TRANSPOSE", 2): "1.14.0",
    ("PRELU", 1): "1.8.0", ("SHAPE", 1): "1.10.0",
    ("SQUARED_DIFFERENCE", 1): "1.13.1", ("SQUARED_DIFFERENCE", 2): "2.5.0",
    ("RSQRT", 1): "1.10.0", ("RSQRT", 2): "2.5.0",
}


def _version_key(v):
    return tuple(int(p) for p in v.split("."))


def min_runtime_version(op_versions):
    """The newest runtime any (op, version) needs; pairs missing from the
    table are skipped, as TensorFlow's converter skips them."""
    best = "1.5.0"
    for key in op_versions:
        v = _RUNTIME.get(key)
        if v is not None and _version_key(v) > _version_key(best):
            best = v
    return best


# ---------------------------------------------------------------- write

class _Writer:
    def __init__(self, graph, description):
        self.fb, self.tfl = _tflite()
        self.b = self.fb.Builder(1 << 16)
        self.graph = graph
        self.description = description

    def int_vector(self, start, values, width="Int32"):
        b = self.b
        start(b, len(values))
        prepend = getattr(b, f"Prepend{width}")
        for v in reversed(list(values)):
            prepend(int(v))
        return b.EndVector()

    def float_vector(self, start, values):
        b = self.b
        start(b, len(values))
        for v in reversed(list(values)):
            b.PrependFloat32(float(v))
        return b.EndVector()

    def offsets_vector(self, start, offsets):
        b = self.b
        start(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def buffer(self, data):
        t, b = self.tfl, self.b
        vec = None
        if data is not None and len(data):
            # Pad so that the bytes (not the length prefix) end up on a
            # 16-byte boundary; Finish pads the whole file to the largest
            # alignment asked for, so the offset from the start is aligned too.
            b.Prep(BUFFER_ALIGNMENT, len(data))
            vec = b.CreateByteVector(bytes(data))
        t.BufferStart(b)
        if vec is not None:
            t.BufferAddData(b, vec)
        return t.BufferEnd(b)

    def quantization(self, q):
        t, b = self.tfl, self.b
        scale = self.float_vector(t.QuantizationParametersStartScaleVector, q.scale)
        zp = self.int_vector(t.QuantizationParametersStartZeroPointVector, q.zero_point,
                             "Int64")
        t.QuantizationParametersStart(b)
        t.QuantizationParametersAddScale(b, scale)
        t.QuantizationParametersAddZeroPoint(b, zp)
        t.QuantizationParametersAddQuantizedDimension(b, q.axis)
        return t.QuantizationParametersEnd(b)

    def tensor(self, tensor, buffer_index):
        t, b = self.tfl, self.b
        name = b.CreateString(tensor.name)
        shape = self.int_vector(t.TensorStartShapeVector, tensor.shape)
        sig = None
        if tensor.dynamic_batch:
            sig = self.int_vector(t.TensorStartShapeSignatureVector,
                                  (-1,) + tensor.shape[1:])
        quant = self.quantization(tensor.quant) if tensor.quant is not None else None
        t.TensorStart(b)
        t.TensorAddShape(b, shape)
        if sig is not None:
            t.TensorAddShapeSignature(b, sig)
        t.TensorAddType(b, getattr(t.TensorType, _TENSOR_TYPES[tensor.dtype]))
        t.TensorAddBuffer(b, buffer_index)
        t.TensorAddName(b, name)
        if quant is not None:
            t.TensorAddQuantization(b, quant)
        if tensor.is_variable:
            t.TensorAddIsVariable(b, True)
        return t.TensorEnd(b)

    def options(self, table, fields):
        """Build an options table from ``{Field: value}`` through the
        generated ``<Table>Add<Field>`` functions; list values become
        vectors (of floats where they hold one) through
        ``<Table>Start<Field>Vector``."""
        t, b = self.tfl, self.b
        vectors = {k: (self.float_vector if any(isinstance(e, float) for e in v)
                       else self.int_vector)(getattr(t, f"{table}Start{k}Vector"), v)
                   for k, v in fields.items() if isinstance(v, (list, tuple))}
        getattr(t, f"{table}Start")(b)
        for k, v in fields.items():
            add = getattr(t, f"{table}Add{k}")
            add(b, vectors[k] if k in vectors else v)
        return getattr(t, f"{table}End")(b)

    def operator(self, op, opcode_index, index_of):
        t, b = self.tfl, self.b
        inputs = self.int_vector(t.OperatorStartInputsVector,
                                 [-1 if x is None else index_of[id(x)] for x in op.inputs])
        outputs = self.int_vector(t.OperatorStartOutputsVector,
                                  [index_of[id(x)] for x in op.outputs])
        opts = None
        if op.options is not None:
            table, fields = op.options
            opts = self.options(table, fields)
        t.OperatorStart(b)
        t.OperatorAddOpcodeIndex(b, opcode_index)
        t.OperatorAddInputs(b, inputs)
        t.OperatorAddOutputs(b, outputs)
        if opts is not None:
            t.OperatorAddBuiltinOptionsType(b, getattr(t.BuiltinOptions, op.options[0]))
            t.OperatorAddBuiltinOptions(b, opts)
        return t.OperatorEnd(b)

    def tensor_map(self, name, index):
        t, b = self.tfl, self.b
        s = b.CreateString(name)
        t.TensorMapStart(b)
        t.TensorMapAddName(b, s)
        t.TensorMapAddTensorIndex(b, index)
        return t.TensorMapEnd(b)

    def write(self):
        t, b, g = self.tfl, self.b, self.graph
        tensors = g.tensors()
        index_of = {id(x): i for i, x in enumerate(tensors)}

        # Buffer 0 is the empty buffer every run-time tensor points at;
        # each constant gets its own.  The metadata buffer comes last.
        buffer_data = [None]
        buffer_index = []
        for x in tensors:
            if x.is_constant:
                buffer_index.append(len(buffer_data))
                buffer_data.append(np.ascontiguousarray(x.data).tobytes())
            else:
                buffer_index.append(0)

        # Operator codes, in first-use order, with their versions.
        codes, code_index, op_codes = [], {}, []
        for op in g.ops:
            key = (op.code, op_version(op))
            if key not in code_index:
                code_index[key] = len(codes)
                codes.append(key)
            op_codes.append(code_index[key])
        total = sum(len(d) for d in buffer_data if d is not None)
        if total > MAX_FLATBUFFER_BYTES:
            from .converter import ConversionError
            raise ConversionError(f"the model's constants take {total:,} bytes; a TFLite "
                                  f"flatbuffer holds under 2 GiB")
        runtime = min_runtime_version(codes).encode("ascii")
        buffer_data.append(runtime + b"\0" * (16 - len(runtime)))
        metadata_buffer = len(buffer_data) - 1

        # Large data first: it goes to the end of the file, after the tables.
        buffers = [self.buffer(d) for d in buffer_data]
        tensor_offs = [self.tensor(x, buffer_index[i]) for i, x in enumerate(tensors)]
        op_offs = [self.operator(op, op_codes[i], index_of) for i, op in enumerate(g.ops)]

        sg_name = b.CreateString("main")
        sg_tensors = self.offsets_vector(t.SubGraphStartTensorsVector, tensor_offs)
        sg_inputs = self.int_vector(t.SubGraphStartInputsVector,
                                    [index_of[id(x)] for x in g.inputs])
        sg_outputs = self.int_vector(t.SubGraphStartOutputsVector,
                                     [index_of[id(x)] for x in g.outputs])
        sg_ops = self.offsets_vector(t.SubGraphStartOperatorsVector, op_offs)
        t.SubGraphStart(b)
        t.SubGraphAddTensors(b, sg_tensors)
        t.SubGraphAddInputs(b, sg_inputs)
        t.SubGraphAddOutputs(b, sg_outputs)
        t.SubGraphAddOperators(b, sg_ops)
        t.SubGraphAddName(b, sg_name)
        subgraph = t.SubGraphEnd(b)

        opcode_offs = []
        builtin = t.BuiltinOperator
        for name, version in codes:
            value = getattr(builtin, name)
            t.OperatorCodeStart(b)
            t.OperatorCodeAddDeprecatedBuiltinCode(b, min(value, 127))
            t.OperatorCodeAddBuiltinCode(b, value)
            t.OperatorCodeAddVersion(b, version)
            opcode_offs.append(t.OperatorCodeEnd(b))

        meta_name = b.CreateString("min_runtime_version")
        t.MetadataStart(b)
        t.MetadataAddName(b, meta_name)
        t.MetadataAddBuffer(b, metadata_buffer)
        metadata = t.MetadataEnd(b)

        in_names, out_names = g.signature_names or ([x.name for x in g.inputs],
                                                    [x.name for x in g.outputs])
        sig_inputs = [self.tensor_map(n, index_of[id(x)]) for n, x in zip(in_names, g.inputs)]
        sig_outputs = [self.tensor_map(n, index_of[id(x)])
                       for n, x in zip(out_names, g.outputs)]
        sig_in = self.offsets_vector(t.SignatureDefStartInputsVector, sig_inputs)
        sig_out = self.offsets_vector(t.SignatureDefStartOutputsVector, sig_outputs)
        sig_key = b.CreateString("serving_default")
        t.SignatureDefStart(b)
        t.SignatureDefAddInputs(b, sig_in)
        t.SignatureDefAddOutputs(b, sig_out)
        t.SignatureDefAddSignatureKey(b, sig_key)
        t.SignatureDefAddSubgraphIndex(b, 0)
        signature = t.SignatureDefEnd(b)

        description = b.CreateString(self.description)
        m_opcodes = self.offsets_vector(t.ModelStartOperatorCodesVector, opcode_offs)
        m_subgraphs = self.offsets_vector(t.ModelStartSubgraphsVector, [subgraph])
        m_buffers = self.offsets_vector(t.ModelStartBuffersVector, buffers)
        m_metadata = self.offsets_vector(t.ModelStartMetadataVector, [metadata])
        m_sigs = self.offsets_vector(t.ModelStartSignatureDefsVector, [signature])
        t.ModelStart(b)
        t.ModelAddVersion(b, SCHEMA_VERSION)
        t.ModelAddOperatorCodes(b, m_opcodes)
        t.ModelAddSubgraphs(b, m_subgraphs)
        t.ModelAddDescription(b, description)
        t.ModelAddBuffers(b, m_buffers)
        t.ModelAddMetadata(b, m_metadata)
        t.ModelAddSignatureDefs(b, m_sigs)
        model = t.ModelEnd(b)
        b.Finish(model, file_identifier=b"TFL3")
        return bytes(b.Output())


def write(graph, description="pynn"):
    """The flatbuffer bytes of ``graph``."""
    return _Writer(graph, description).write()
