"""Keras 3's operations on symbolic tensors in its model files: each
``keras.ops`` function pynn records as a TensorOperation, with the Keras
operation class that records it there (``keras.src.ops.<module>.<Class>``),
the function's parameters in order, how many of them the operation's call
takes (the rest configure the operation: its config), and their
defaults.  Read from Keras 3's own functions; tests/saving checks the table
against the installed Keras."""
import inspect

import numpy as np

# op: (module, class, parameters, call parameters, defaults)
KERAS_OPS = {
    "abs": ("numpy", "Absolute", ['x'], 1, {}),
    "absolute": ("numpy", "Absolute", ['x'], 1, {}),
    "add": ("numpy", "Add", ['x1', 'x2'], 2, {}),
    "all": ("numpy", "All", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "allclose": ("numpy", "AllClose", ['x1', 'x2', 'rtol', 'atol', 'equal_nan'], 2, {'rtol': 1e-05, 'atol': 1e-08, 'equal_nan': False}),
    "amax": ("numpy", "Amax", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "amin": ("numpy", "Amin", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "any": ("numpy", "Any", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "append": ("numpy", "Append", ['x1', 'x2', 'axis'], 2, {'axis': None}),
    "arccos": ("numpy", "Arccos", ['x'], 1, {}),
    "arccosh": ("numpy", "Arccosh", ['x'], 1, {}),
    "arcsin": ("numpy", "Arcsin", ['x'], 1, {}),
    "arcsinh": ("numpy", "Arcsinh", ['x'], 1, {}),
    "arctan": ("numpy", "Arctan", ['x'], 1, {}),
    "arctan2": ("numpy", "Arctan2", ['x1', 'x2'], 2, {}),
    "arctanh": ("numpy", "Arctanh", ['x'], 1, {}),
    "argmax": ("numpy", "Argmax", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "argmin": ("numpy", "Argmin", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "argsort": ("numpy", "Argsort", ['x', 'axis'], 1, {'axis': -1}),
    "array": ("numpy", "Array", ['x', 'dtype'], 1, {'dtype': None}),
    "array_split": ("numpy", "ArraySplit", ['x', 'indices_or_sections', 'axis'], 1, {'axis': 0}),
    "average_pool": ("nn", "AveragePool", ['inputs', 'pool_size', 'strides', 'padding', 'data_format'], 1, {'strides': None, 'padding': 'valid', 'data_format': None}),
    "binary_crossentropy": ("nn", "BinaryCrossentropy", ['target', 'output', 'from_logits'], 2, {'from_logits': False}),
    "bincount": ("numpy", "Bincount", ['x', 'weights', 'minlength', 'sparse'], 1, {'weights': None, 'minlength': 0, 'sparse': False}),
    "broadcast_to": ("numpy", "BroadcastTo", ['x', 'shape'], 1, {}),
    "cast": ("core", "Cast", ['x', 'dtype'], 1, {}),
    "categorical_crossentropy": ("nn", "CategoricalCrossentropy", ['target', 'output', 'from_logits', 'axis'], 2, {'from_logits': False, 'axis': -1}),
    "cbrt": ("numpy", "Cbrt", ['x'], 1, {}),
    "ceil": ("numpy", "Ceil", ['x'], 1, {}),
    "celu": ("nn", "Celu", ['x', 'alpha'], 1, {'alpha': 1.0}),
    "clip": ("numpy", "Clip", ['x', 'x_min', 'x_max'], 1, {}),
    "concatenate": ("numpy", "Concatenate", ['xs', 'axis'], 1, {'axis': 0}),
    "conv": ("nn", "Conv", ['inputs', 'kernel', 'strides', 'padding', 'data_format', 'dilation_rate'], 2, {'strides': 1, 'padding': 'valid', 'data_format': None, 'dilation_rate': 1}),
    "conv_transpose": ("nn", "ConvTranspose", ['inputs', 'kernel', 'strides', 'padding', 'output_padding', 'data_format', 'dilation_rate'], 2, {'strides': 1, 'padding': 'valid', 'output_padding': None, 'data_format': None, 'dilation_rate': 1}),
    "copy": ("numpy", "Copy", ['x'], 1, {}),
    "cos": ("numpy", "Cos", ['x'], 1, {}),
    "cosh": ("numpy", "Cosh", ['x'], 1, {}),
    "count_nonzero": ("numpy", "CountNonzero", ['x', 'axis'], 1, {'axis': None}),
    "cumprod": ("numpy", "Cumprod", ['x', 'axis', 'dtype'], 1, {'axis': None, 'dtype': None}),
    "cumsum": ("numpy", "Cumsum", ['x', 'axis', 'dtype'], 1, {'axis': None, 'dtype': None}),
    "deg2rad": ("numpy", "Deg2rad", ['x'], 1, {}),
    "depth_to_space": ("nn", "DepthToSpace", ['x', 'block_size', 'data_format'], 1, {'data_format': 'channels_last'}),
    "depthwise_conv": ("nn", "DepthwiseConv", ['inputs', 'kernel', 'strides', 'padding', 'data_format', 'dilation_rate'], 2, {'strides': 1, 'padding': 'valid', 'data_format': None, 'dilation_rate': 1}),
    "diag": ("numpy", "Diag", ['x', 'k'], 1, {'k': 0}),
    "diagflat": ("numpy", "Diagflat", ['x', 'k'], 1, {'k': 0}),
    "diagonal": ("numpy", "Diagonal", ['x', 'offset', 'axis1', 'axis2'], 1, {'offset': 0, 'axis1': 0, 'axis2': 1}),
    "digitize": ("numpy", "Digitize", ['x', 'bins'], 2, {}),
    "divide": ("numpy", "Divide", ['x1', 'x2'], 2, {}),
    "divide_no_nan": ("numpy", "DivideNoNan", ['x1', 'x2'], 2, {}),
    "dot": ("numpy", "Dot", ['x1', 'x2'], 2, {}),
    "dsplit": ("numpy", "Dsplit", ['x', 'indices_or_sections'], 1, {}),
    "dstack": ("numpy", "Dstack", ['xs'], 1, {}),
    "eigh": ("linalg", "Eigh", ['x'], 1, {}),
    "elu": ("nn", "Elu", ['x', 'alpha'], 1, {'alpha': 1.0}),
    "empty_like": ("numpy", "EmptyLike", ['x', 'dtype'], 1, {'dtype': None}),
    "equal": ("numpy", "Equal", ['x1', 'x2'], 2, {}),
    "erf": ("math", "Erf", ['x'], 1, {}),
    "exp": ("numpy", "Exp", ['x'], 1, {}),
    "exp2": ("numpy", "Exp2", ['x'], 1, {}),
    "expand_dims": ("numpy", "ExpandDims", ['x', 'axis'], 1, {}),
    "expm1": ("numpy", "Expm1", ['x'], 1, {}),
    "flip": ("numpy", "Flip", ['x', 'axis'], 1, {'axis': None}),
    "fliplr": ("numpy", "Fliplr", ['x'], 1, {}),
    "flipud": ("numpy", "Flipud", ['x'], 1, {}),
    "floor": ("numpy", "Floor", ['x'], 1, {}),
    "floor_divide": ("numpy", "FloorDivide", ['x1', 'x2'], 2, {}),
    "fmod": ("numpy", "Fmod", ['x1', 'x2'], 2, {}),
    "full_like": ("numpy", "FullLike", ['x', 'fill_value', 'dtype'], 2, {'dtype': None}),
    "gelu": ("nn", "Gelu", ['x', 'approximate'], 1, {'approximate': True}),
    "glu": ("nn", "Glu", ['x', 'axis'], 1, {'axis': -1}),
    "greater": ("numpy", "Greater", ['x1', 'x2'], 2, {}),
    "greater_equal": ("numpy", "GreaterEqual", ['x1', 'x2'], 2, {}),
    "hard_shrink": ("nn", "HardShrink", ['x', 'threshold'], 1, {'threshold': 0.5}),
    "hard_sigmoid": ("nn", "HardSigmoid", ['x'], 1, {}),
    "hard_silu": ("nn", "HardSilu", ['x'], 1, {}),
    "hard_swish": ("nn", "HardSilu", ['x'], 1, {}),
    "hard_tanh": ("nn", "HardTanh", ['x'], 1, {}),
    "heaviside": ("numpy", "Heaviside", ['x1', 'x2'], 2, {}),
    "hsplit": ("numpy", "Hsplit", ['x', 'indices_or_sections'], 1, {}),
    "hstack": ("numpy", "Hstack", ['xs'], 1, {}),
    "hypot": ("numpy", "Hypot", ['x1', 'x2'], 2, {}),
    "in_top_k": ("math", "InTopK", ['targets', 'predictions', 'k'], 2, {}),
    "inner": ("numpy", "Inner", ['x1', 'x2'], 2, {}),
    "isclose": ("numpy", "Isclose", ['x1', 'x2', 'rtol', 'atol', 'equal_nan'], 4, {'rtol': 1e-05, 'atol': 1e-08, 'equal_nan': False}),
    "isfinite": ("numpy", "Isfinite", ['x'], 1, {}),
    "isin": ("numpy", "IsIn", ['x1', 'x2', 'assume_unique', 'invert'], 2, {'assume_unique': False, 'invert': False}),
    "isinf": ("numpy", "Isinf", ['x'], 1, {}),
    "isnan": ("numpy", "Isnan", ['x'], 1, {}),
    "isneginf": ("numpy", "Isneginf", ['x'], 1, {}),
    "isposinf": ("numpy", "Isposinf", ['x'], 1, {}),
    "leaky_relu": ("nn", "LeakyRelu", ['x', 'negative_slope'], 1, {'negative_slope': 0.2}),
    "less": ("numpy", "Less", ['x1', 'x2'], 2, {}),
    "less_equal": ("numpy", "LessEqual", ['x1', 'x2'], 2, {}),
    "log": ("numpy", "Log", ['x'], 1, {}),
    "log10": ("numpy", "Log10", ['x'], 1, {}),
    "log1p": ("numpy", "Log1p", ['x'], 1, {}),
    "log2": ("numpy", "Log2", ['x'], 1, {}),
    "log_sigmoid": ("nn", "LogSigmoid", ['x'], 1, {}),
    "log_softmax": ("nn", "LogSoftmax", ['x', 'axis'], 1, {'axis': -1}),
    "logaddexp": ("numpy", "Logaddexp", ['x1', 'x2'], 2, {}),
    "logaddexp2": ("numpy", "Logaddexp2", ['x1', 'x2'], 2, {}),
    "logdet": ("math", "Logdet", ['x'], 1, {}),
    "logical_and": ("numpy", "LogicalAnd", ['x1', 'x2'], 2, {}),
    "logical_not": ("numpy", "LogicalNot", ['x'], 1, {}),
    "logical_or": ("numpy", "LogicalOr", ['x1', 'x2'], 2, {}),
    "logical_xor": ("numpy", "LogicalXor", ['x1', 'x2'], 2, {}),
    "logsumexp": ("math", "Logsumexp", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "lstsq": ("linalg", "Lstsq", ['a', 'b', 'rcond'], 2, {'rcond': None}),
    "map": ("core", "Map", ['f', 'xs'], 2, {}),
    "matmul": ("numpy", "Matmul", ['x1', 'x2'], 2, {}),
    "matrix_rank": ("linalg", "MatrixRank", ['x', 'tol'], 1, {'tol': None}),
    "max": ("numpy", "Max", ['x', 'axis', 'keepdims', 'initial'], 1, {'axis': None, 'keepdims': False, 'initial': None}),
    "max_pool": ("nn", "MaxPool", ['inputs', 'pool_size', 'strides', 'padding', 'data_format'], 1, {'strides': None, 'padding': 'valid', 'data_format': None}),
    "maximum": ("numpy", "Maximum", ['x1', 'x2'], 2, {}),
    "mean": ("numpy", "Mean", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "median": ("numpy", "Median", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "min": ("numpy", "Min", ['x', 'axis', 'keepdims', 'initial'], 1, {'axis': None, 'keepdims': False, 'initial': None}),
    "minimum": ("numpy", "Minimum", ['x1', 'x2'], 2, {}),
    "mod": ("numpy", "Mod", ['x1', 'x2'], 2, {}),
    "moveaxis": ("numpy", "Moveaxis", ['x', 'source', 'destination'], 1, {}),
    "multiply": ("numpy", "Multiply", ['x1', 'x2'], 2, {}),
    "nan_to_num": ("numpy", "NanToNum", ['x', 'nan', 'posinf', 'neginf'], 1, {'nan': 0.0, 'posinf': None, 'neginf': None}),
    "ndim": ("numpy", "Ndim", ['x'], 1, {}),
    "negative": ("numpy", "Negative", ['x'], 1, {}),
    "nonzero": ("numpy", "Nonzero", ['x'], 1, {}),
    "norm": ("linalg", "Norm", ['x', 'ord', 'axis', 'keepdims'], 1, {'ord': None, 'axis': None, 'keepdims': False}),
    "normalize": ("nn", "Normalize", ['x', 'axis', 'order', 'epsilon'], 1, {'axis': -1, 'order': 2, 'epsilon': None}),
    "not_equal": ("numpy", "NotEqual", ['x1', 'x2'], 2, {}),
    "one_hot": ("nn", "OneHot", ['x', 'num_classes', 'axis', 'dtype', 'sparse'], 1, {'axis': -1, 'dtype': None, 'sparse': False}),
    "ones_like": ("numpy", "OnesLike", ['x', 'dtype'], 1, {'dtype': None}),
    "outer": ("numpy", "Outer", ['x1', 'x2'], 2, {}),
    "percentile": ("numpy", "Percentile", ['x', 'q', 'axis', 'method', 'keepdims'], 2, {'axis': None, 'method': 'linear', 'keepdims': False}),
    "pinv": ("linalg", "Pinv", ['x', 'rcond'], 1, {'rcond': None}),
    "power": ("numpy", "Power", ['x1', 'x2'], 2, {}),
    "prod": ("numpy", "Prod", ['x', 'axis', 'keepdims', 'dtype'], 1, {'axis': None, 'keepdims': False, 'dtype': None}),
    "psnr": ("nn", "PSNR", ['x1', 'x2', 'max_val'], 2, {}),
    "ptp": ("numpy", "Ptp", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "qr": ("linalg", "Qr", ['x', 'mode'], 1, {'mode': 'reduced'}),
    "quantile": ("numpy", "Quantile", ['x', 'q', 'axis', 'method', 'keepdims'], 2, {'axis': None, 'method': 'linear', 'keepdims': False}),
    "rad2deg": ("numpy", "Rad2deg", ['x'], 1, {}),
    "ravel": ("numpy", "Ravel", ['x'], 1, {}),
    "reciprocal": ("numpy", "Reciprocal", ['x'], 1, {}),
    "relu": ("nn", "Relu", ['x'], 1, {}),
    "relu6": ("nn", "Relu6", ['x'], 1, {}),
    "repeat": ("numpy", "Repeat", ['x', 'repeats', 'axis'], 1, {'axis': None}),
    "reshape": ("numpy", "Reshape", ['x', 'newshape'], 1, {}),
    "roll": ("numpy", "Roll", ['x', 'shift', 'axis'], 1, {'axis': None}),
    "rot90": ("numpy", "Rot90", ['array', 'k', 'axes'], 1, {'k': 1, 'axes': (0, 1)}),
    "round": ("numpy", "Round", ['x', 'decimals'], 1, {'decimals': 0}),
    "rsqrt": ("math", "Rsqrt", ['x'], 1, {}),
    "scan": ("core", "Scan", ['f', 'init', 'xs', 'length', 'reverse', 'unroll'], 3, {'xs': None, 'length': None, 'reverse': False, 'unroll': 1}),
    "scatter": ("core", "Scatter", ['indices', 'values', 'shape'], 2, {}),
    "scatter_update": ("core", "ScatterUpdate", ['inputs', 'indices', 'updates', 'reduction'], 3, {'reduction': None}),
    "searchsorted": ("numpy", "SearchSorted", ['sorted_sequence', 'values', 'side'], 2, {'side': 'left'}),
    "segment_max": ("math", "SegmentMax", ['data', 'segment_ids', 'num_segments', 'sorted'], 2, {'num_segments': None, 'sorted': False}),
    "segment_sum": ("math", "SegmentSum", ['data', 'segment_ids', 'num_segments', 'sorted'], 2, {'num_segments': None, 'sorted': False}),
    "select": ("numpy", "Select", ['condlist', 'choicelist', 'default'], 3, {'default': 0}),
    "selu": ("nn", "Selu", ['x'], 1, {}),
    "separable_conv": ("nn", "SeparableConv", ['inputs', 'depthwise_kernel', 'pointwise_kernel', 'strides', 'padding', 'data_format', 'dilation_rate'], 3, {'strides': 1, 'padding': 'valid', 'data_format': None, 'dilation_rate': 1}),
    "sigmoid": ("nn", "Sigmoid", ['x'], 1, {}),
    "sign": ("numpy", "Sign", ['x'], 1, {}),
    "signbit": ("numpy", "Signbit", ['x'], 1, {}),
    "silu": ("nn", "Silu", ['x'], 1, {}),
    "sin": ("numpy", "Sin", ['x'], 1, {}),
    "sinc": ("numpy", "Sinc", ['x'], 1, {}),
    "sinh": ("numpy", "Sinh", ['x'], 1, {}),
    "size": ("numpy", "Size", ['x'], 1, {}),
    "slice": ("core", "Slice", ['inputs', 'start_indices', 'shape'], 2, {}),
    "slice_update": ("core", "SliceUpdate", ['inputs', 'start_indices', 'updates'], 3, {}),
    "slogdet": ("numpy", "Slogdet", ['x'], 1, {}),
    "soft_shrink": ("nn", "SoftShrink", ['x', 'threshold'], 1, {'threshold': 0.5}),
    "softmax": ("nn", "Softmax", ['x', 'axis'], 1, {'axis': -1}),
    "softplus": ("nn", "Softplus", ['x'], 1, {}),
    "softsign": ("nn", "Softsign", ['x'], 1, {}),
    "solve": ("linalg", "Solve", ['a', 'b'], 2, {}),
    "solve_triangular": ("linalg", "SolveTriangular", ['a', 'b', 'lower'], 2, {'lower': False}),
    "sort": ("numpy", "Sort", ['x', 'axis'], 1, {'axis': -1}),
    "space_to_depth": ("nn", "SpaceToDepth", ['x', 'block_size', 'data_format'], 1, {'data_format': 'channels_last'}),
    "sparse_categorical_crossentropy": ("nn", "SparseCategoricalCrossentropy", ['target', 'output', 'from_logits', 'axis'], 2, {'from_logits': False, 'axis': -1}),
    "sparse_plus": ("nn", "SparsePlus", ['x'], 1, {}),
    "split": ("numpy", "Split", ['x', 'indices_or_sections', 'axis'], 1, {'axis': 0}),
    "sqrt": ("numpy", "Sqrt", ['x'], 1, {}),
    "square": ("numpy", "Square", ['x'], 1, {}),
    "squareplus": ("nn", "Squareplus", ['x', 'b'], 1, {'b': 4}),
    "squeeze": ("numpy", "Squeeze", ['x', 'axis'], 1, {'axis': None}),
    "stack": ("numpy", "Stack", ['x', 'axis'], 1, {'axis': 0}),
    "std": ("numpy", "Std", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "stop_gradient": ("core", "StopGradient", ['variable'], 1, {}),
    "subtract": ("numpy", "Subtract", ['x1', 'x2'], 2, {}),
    "sum": ("numpy", "Sum", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "svd": ("linalg", "SVD", ['x', 'full_matrices', 'compute_uv'], 1, {'full_matrices': True, 'compute_uv': True}),
    "swapaxes": ("numpy", "Swapaxes", ['x', 'axis1', 'axis2'], 1, {}),
    "swish": ("nn", "Silu", ['x'], 1, {}),
    "take": ("numpy", "Take", ['x', 'indices', 'axis'], 2, {'axis': None}),
    "take_along_axis": ("numpy", "TakeAlongAxis", ['x', 'indices', 'axis'], 2, {'axis': None}),
    "tan": ("numpy", "Tan", ['x'], 1, {}),
    "tanh": ("numpy", "Tanh", ['x'], 1, {}),
    "tanh_shrink": ("nn", "TanhShrink", ['x'], 1, {}),
    "tensordot": ("numpy", "Tensordot", ['x1', 'x2', 'axes'], 2, {'axes': 2}),
    "threshold": ("nn", "Threshold", ['x', 'threshold', 'default_value'], 1, {}),
    "tile": ("numpy", "Tile", ['x', 'repeats'], 1, {}),
    "top_k": ("math", "TopK", ['x', 'k', 'sorted'], 1, {'sorted': True}),
    "trace": ("numpy", "Trace", ['x', 'offset', 'axis1', 'axis2'], 1, {'offset': 0, 'axis1': 0, 'axis2': 1}),
    "transpose": ("numpy", "Transpose", ['x', 'axes'], 1, {'axes': None}),
    "tril": ("numpy", "Tril", ['x', 'k'], 1, {'k': 0}),
    "triu": ("numpy", "Triu", ['x', 'k'], 1, {'k': 0}),
    "true_divide": ("numpy", "TrueDivide", ['x1', 'x2'], 2, {}),
    "trunc": ("numpy", "Trunc", ['x'], 1, {}),
    "unstack": ("core", "Unstack", ['x', 'num', 'axis'], 1, {'num': None, 'axis': 0}),
    "var": ("numpy", "Var", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "vdot": ("numpy", "Vdot", ['x1', 'x2'], 2, {}),
    "vsplit": ("numpy", "Vsplit", ['x', 'indices_or_sections'], 1, {}),
    "vstack": ("numpy", "Vstack", ['xs'], 1, {}),
    "where": ("numpy", "Where", ['condition', 'x1', 'x2'], 3, {'x1': None, 'x2': None}),
    "zeros_like": ("numpy", "ZerosLike", ['x', 'dtype'], 1, {'dtype': None}),
}
# More of Keras 3's ops (pynn/_more_ops.py).
KERAS_OPS.update({
    "angle": ("numpy", "Angle", ['x'], 1, {}),
    "argpartition": ("numpy", "Argpartition", ['x', 'kth', 'axis'], 1, {'axis': -1}),
    "bitwise_and": ("numpy", "BitwiseAnd", ['x', 'y'], 2, {}),
    "bitwise_invert": ("numpy", "BitwiseInvert", ['x'], 1, {}),
    "bitwise_left_shift": ("numpy", "BitwiseLeftShift", ['x', 'y'], 2, {}),
    "bitwise_not": ("numpy", "BitwiseNot", ['x'], 1, {}),
    "bitwise_or": ("numpy", "BitwiseOr", ['x', 'y'], 2, {}),
    "bitwise_right_shift": ("numpy", "BitwiseRightShift", ['x', 'y'], 2, {}),
    "bitwise_xor": ("numpy", "BitwiseXor", ['x', 'y'], 2, {}),
    "cdist": ("math", "CDist", ['x', 'y'], 2, {}),
    "cholesky_inverse": ("linalg", "CholeskyInverse", ['x', 'upper'], 1, {'upper': False}),
    "conj": ("numpy", "Conj", ['x'], 1, {}),
    "conjugate": ("numpy", "Conjugate", ['x'], 1, {}),
    "correlate": ("numpy", "Correlate", ['x1', 'x2', 'mode'], 2, {'mode': 'valid'}),
    "cross": ("numpy", "Cross", ['x1', 'x2', 'axisa', 'axisb', 'axisc', 'axis'], 2,
          {'axisa': -1, 'axisb': -1, 'axisc': -1, 'axis': None}),
    "erfc": ("math", "Erfc", ['x'], 1, {}),
    "erfinv": ("math", "Erfinv", ['x'], 1, {}),
    "extract_sequences": ("math", "ExtractSequences", ['x', 'sequence_length', 'sequence_stride'], 1,
          {}),
    "fabs": ("numpy", "Fabs", ['x'], 1, {}),
    "fmax": ("numpy", "Fmax", ['x1', 'x2'], 2, {}),
    "fmin": ("numpy", "Fmin", ['x1', 'x2'], 2, {}),
    "fold": ("nn", "Fold", ['x', 'output_size', 'kernel_size', 'dilation', 'padding', 'stride'], 1,
          {'dilation': 1, 'padding': 0, 'stride': 1}),
    "gcd": ("numpy", "Gcd", ['x1', 'x2'], 2, {}),
    "i0": ("numpy", "I0", ['x'], 1, {}),
    "imag": ("numpy", "Imag", ['x'], 1, {}),
    "isreal": ("numpy", "Isreal", ['x'], 1, {}),
    "kron": ("numpy", "Kron", ['x1', 'x2'], 2, {}),
    "lcm": ("numpy", "Lcm", ['x1', 'x2'], 2, {}),
    "ldexp": ("numpy", "Ldexp", ['x1', 'x2'], 2, {}),
    "left_shift": ("numpy", "LeftShift", ['x', 'y'], 2, {}),
    "nanargmax": ("numpy", "Nanargmax", ['x', 'axis', 'keepdims'], 1,
          {'axis': None, 'keepdims': False}),
    "nanargmin": ("numpy", "Nanargmin", ['x', 'axis', 'keepdims'], 1,
          {'axis': None, 'keepdims': False}),
    "nancumprod": ("numpy", "Nancumprod", ['x', 'axis', 'dtype'], 1,
          {'axis': None, 'dtype': None}),
    "nancumsum": ("numpy", "Nancumsum", ['x', 'axis', 'dtype'], 1, {'axis': None, 'dtype': None}),
    "nanmax": ("numpy", "Nanmax", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "nanmean": ("numpy", "Nanmean", ['x', 'axis', 'keepdims'], 1,
          {'axis': None, 'keepdims': False}),
    "nanmedian": ("numpy", "Nanmedian", ['x', 'axis', 'keepdims'], 1,
          {'axis': None, 'keepdims': False}),
    "nanmin": ("numpy", "Nanmin", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "nanpercentile": ("numpy", "Nanpercentile", ['x', 'q', 'axis', 'method', 'keepdims'], 2,
          {'axis': None, 'method': 'linear', 'keepdims': False}),
    "nanprod": ("numpy", "Nanprod", ['x', 'axis', 'keepdims'], 1,
          {'axis': None, 'keepdims': False}),
    "nanquantile": ("numpy", "Nanquantile", ['x', 'q', 'axis', 'method', 'keepdims'], 2,
          {'axis': None, 'method': 'linear', 'keepdims': False}),
    "nanstd": ("numpy", "Nanstd", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "nansum": ("numpy", "Nansum", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "nanvar": ("numpy", "Nanvar", ['x', 'axis', 'keepdims'], 1, {'axis': None, 'keepdims': False}),
    "nextafter": ("numpy", "Nextafter", ['x1', 'x2'], 2, {}),
    "real": ("numpy", "Real", ['x'], 1, {}),
    "right_shift": ("numpy", "RightShift", ['x', 'y'], 2, {}),
    "rfft": ("math", "RFFT", ['x', 'fft_length'], 1, {'fft_length': None}),
    "irfft": ("math", "IRFFT", ['x', 'fft_length'], 1, {'fft_length': None}),
    "stft": ("math", "STFT", ['x', 'sequence_length', 'sequence_stride', 'fft_length', 'window',
                              'center'], 1, {'window': 'hann', 'center': True}),
    "istft": ("math", "ISTFT", ['x', 'sequence_length', 'sequence_stride', 'fft_length', 'length',
                                'window', 'center'], 1,
              {'length': None, 'window': 'hann', 'center': True}),
    "saturate_cast": ("core", "SaturateCast", ['x', 'dtype'], 1, {}),
    "segment_min": ("math", "SegmentMin", ['data', 'segment_ids', 'num_segments', 'sorted'], 2,
          {'num_segments': None, 'sorted': False}),
    "segment_prod": ("math", "SegmentProd", ['data', 'segment_ids', 'num_segments', 'sorted'], 2,
          {'num_segments': None, 'sorted': False}),
    "sparse_sigmoid": ("nn", "SparseSigmoid", ['x'], 1, {}),
    "sparsemax": ("nn", "Sparsemax", ['x', 'axis'], 1, {'axis': -1}),
    "trapezoid": ("numpy", "Trapezoid", ['y', 'x', 'dx', 'axis'], 1,
          {'x': None, 'dx': 1.0, 'axis': -1}),
    "unfold": ("nn", "Unfold", ['x', 'kernel_size', 'dilation', 'padding', 'stride'], 1,
          {'dilation': 1, 'padding': 0, 'stride': 1}),
    "vander": ("numpy", "Vander", ['x', 'N', 'increasing'], 1, {'N': None, 'increasing': False}),
})
# x[key]: Keras's GetItem takes the tensor and the key.
GETITEM = ("numpy", "GetItem")
# The merge layers through which pynn computes ``x + y``, ``x - y`` and
# ``x * y`` on symbolic tensors of one rank (see KerasTensor._merge), and
# the operation each is in Keras's files.
OPERATOR_MERGES = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply"}
# The op a Keras class is read as, where several functions share it.
_BY_CLASS = {(row[0], row[1]): op for op, row in sorted(KERAS_OPS.items(), reverse=True)}


def _pynn_function(op):
    from ..layers.lambda_layer import OPERATORS
    if op in OPERATORS:
        return OPERATORS[op]
    from .. import ops
    return getattr(ops, op)


# ------------------------------------------------------------------ write

def _to_keras_value(value, refs):
    """A TensorOperation argument (its JSON form) as Keras serializes it,
    its tensors as the node's references."""
    if isinstance(value, list):
        return [_to_keras_value(v, refs) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return refs[value["__tensor__"]]
        if "__slice__" in value:
            start, stop, step = (_to_keras_value(v, refs) for v in value["__slice__"])
            return {"class_name": "__slice__",
                    "config": {"start": start, "stop": stop, "step": step}}
        if "__ellipsis__" in value:
            return {"class_name": "__ellipsis__", "config": {}}
        if "__tuple__" in value:
            return [_to_keras_value(v, refs) for v in value["__tuple__"]]
        if "__array__" in value:
            return {"class_name": "__numpy__",
                    "config": {"value": value["__array__"], "dtype": value["dtype"]}}
    return value


def operation_to_keras(layer, inbound_nodes):
    """The Keras 3 entry of a TensorOperation, given the tensor references
    of its nodes (pynn's inbound_nodes: one argument, the tensor or the
    list of tensors)."""
    label = f"save: operation {layer.name!r} ({layer.op})"
    if layer.op == "getitem":
        module, cls = GETITEM
        params, n_call, values = ["x", "key"], 2, layer.args
    else:
        row = KERAS_OPS.get(layer.op)
        if row is None:
            raise ValueError(f"{label}: pynn does not write this operation in Keras's files "
                             f"yet; save the model in pynn's format (.pynn)")
        module, cls, params, n_call, _ = row
        try:
            bound = inspect.signature(_pynn_function(layer.op)).bind(*layer.args,
                                                                    **layer.kwargs)
        except TypeError as e:
            raise ValueError(f"{label}: {e}") from None
        bound.apply_defaults()
        values = list(bound.arguments.values())[:len(params)]
    nodes = []
    for node in inbound_nodes:
        arg = node["args"][0]
        refs = arg if isinstance(arg, list) else [arg]
        encoded = [_to_keras_value(v, refs) for v in values]
        nodes.append({"args": encoded[:n_call], "kwargs": {}})
    config = {"name": layer.name}
    if nodes:  # the configuration part holds no tensors
        config.update({p: _to_keras_value(v, []) for p, v in zip(params[n_call:],
                                                                 values[n_call:])})
    return {"module": f"keras.src.ops.{module}", "class_name": cls, "config": config,
            "registered_name": cls, "name": layer.name, "inbound_nodes": nodes}


# ------------------------------------------------------------------- read

def _from_keras_value(value, tensors, label):
    if isinstance(value, list):
        return [_from_keras_value(v, tensors, label) for v in value]
    if isinstance(value, dict):
        kind = value.get("class_name")
        config = value.get("config") or {}
        if kind == "__keras_tensor__":
            tensors.append(value)
            return {"__tensor__": len(tensors) - 1}
        if kind == "__slice__":
            return {"__slice__": [_from_keras_value(config.get(k), tensors, label)
                                  for k in ("start", "stop", "step")]}
        if kind == "__ellipsis__":
            return {"__ellipsis__": True}
        if kind in ("__numpy__", "__tensor__"):  # (a constant array: Keras 3.10+ says tensor)
            return {"__array__": config.get("value"), "dtype": str(np.dtype(config.get(
                "dtype", "float32")))}
        raise ValueError(f"{label}: an argument pynn cannot read: {value!r}")
    return value


def operation_from_keras(entry, label):
    """The pynn spec and inbound_nodes of a Keras operation entry: a
    TensorOperation whose arguments are the call's, then its config's."""
    module = str(entry.get("module", "")).replace("keras.src.ops.", "")
    cls = entry.get("class_name")
    if (module, cls) not in _BY_CLASS and (module, cls) != GETITEM:
        raise ValueError(f"{label}: Keras operation {cls!r} ({entry.get('module')}) has no "
                         f"counterpart in pynn.ops")
    config = entry.get("config") or {}
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1 or not isinstance(nodes[0], dict):
        raise ValueError(f"{label}: a {cls} operation called {len(nodes)} times; pynn reads "
                         f"operations called once")
    tensors = []
    args = [_from_keras_value(v, tensors, label) for v in nodes[0].get("args") or []]
    if nodes[0].get("kwargs"):
        raise ValueError(f"{label}: a {cls} operation called with keyword arguments "
                         f"{sorted(nodes[0]['kwargs'])}")
    if (module, cls) == GETITEM:
        op = "getitem"
        if len(args) == 2 and isinstance(args[1], list):
            args[1] = {"__tuple__": args[1]}
    else:
        op = _BY_CLASS[(module, cls)]
        _, _, params, n_call, defaults = KERAS_OPS[op]
        settings = [_from_keras_value(config.get(p, defaults.get(p)), [], label)
                    for p in params[n_call:]]
        accepted = [p for p in inspect.signature(_pynn_function(op)).parameters.values()
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        # Settings pynn's function lacks must hold Keras's defaults.
        while len(args) + len(settings) > len(accepted):
            p = params[n_call + len(settings) - 1]
            if settings[-1] != defaults.get(p):
                raise ValueError(f"{label}: {cls} with {p}={settings[-1]!r} is not "
                                 f"supported by pynn")
            settings.pop()
        args += settings
    name = config.get("name", entry.get("name"))
    spec = {"class_name": "TensorOperation", "config": {"name": name, "op": op,
                                                        "args": args, "kwargs": {}}}
    if not tensors:
        raise ValueError(f"{label}: a {cls} operation of no tensor")
    pynn_nodes = [{"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": {}}]
    return spec, pynn_nodes
