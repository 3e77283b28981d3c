"""pynn: neural networks with C kernels, a Keras-compatible API and a TFLite
exporter.  ``import pynn as keras`` gives Keras 3's top-level names."""
__version__ = "0.1.0"
import sys as _sys

# backend first: it loads the kernels with the thread runtime's settings.
from . import backend  # noqa: I001
# models next: the layers import its node module, and it imports them.
from . import models
from . import (activations, callbacks, config, constraints, cuda, datasets, distribute,
               distribution, dtype_policies, initializers, layers, losses, metrics, mixed_precision, ops,
               optimizers, preprocessing, quantizers, random, regularizers, tree, utils)
from .backend import device, get_num_threads, name_scope, set_num_threads, show_config
from .backend import RematScope, StatelessScope, SymbolicScope, remat
from .initializers import Initializer
from .regularizers import Regularizer
from .layers import Input, InputLayer, InputSpec, Layer
from .losses import Loss
from .metrics import Metric
from .optimizers import Optimizer
from .dtype_policies import DTypePolicy, FloatDTypePolicy
from .quantizers import Quantizer
from .models import Model, Sequential
from .models.node import KerasTensor
from .models.operation import Function, Operation
from .tape import (GradientTape, UnconnectedGradients, Variable, VariableAggregation,
                   VariableSynchronization)
from .module import Module
# TensorFlow's names, so that custom training code ported with
# `import pynn as tf` runs: tf.math and tf.nn as modules, and the top-level
# functions (TensorFlow's argument names; anything else of TensorFlow is
# in pynn.ops / pynn.backend by its Keras name).
from . import math, nn  # noqa: E402
from .backend import cast, ones_like, zeros_like  # noqa: E402
from .backend import matmul, ones, reshape, stack, zeros  # noqa: E402
from .backend import concatenate as concat  # noqa: E402
from .backend import constant_tensor as constant  # noqa: E402
from .backend import convert_to_tensor  # noqa: E402
from .ops import custom_gradient, einsum  # noqa: E402
from .tensor import Tensor, TensorShape  # noqa: E402
from . import tree as nest  # noqa: E402  (tf.nest: flatten, map_structure, pack_sequence_as)
from .math import (  # noqa: E402
    abs, add_n, argmax, argmin, argsort, ceil, clip_by_norm, clip_by_value, complex, conj, cos,
    cumsum, equal, exp, expand_dims, eye, fill, floor, gather, greater, greater_equal, identity,
    less, less_equal, linspace, log, logical_and, logical_not, logical_or, maximum, minimum,
    norm, not_equal, one_hot, pad, pow, range, rank, reduce_all, reduce_any, reduce_logsumexp,
    reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum, repeat, round, shape, sigmoid,
    sign, sin, size, sort, split, sqrt, square, squeeze, stop_gradient, tanh, tile, transpose,
    unstack, where)
# (tf.math's functions that TensorFlow also has at the top level)
from .math import (  # noqa: E402
    acos, acosh, add, asin, asinh, atan, atan2, atanh, broadcast_to, cosh, divide, multiply,
    negative, sinh, subtract, tan, truediv)
from .math import (  # noqa: E402
    boolean_mask, gather_nd, histogram_fixed_width, histogram_fixed_width_bins, is_tensor,
    meshgrid, reverse, roll, scatter_nd, searchsorted, sequence_mask, slice, tensor_scatter_nd_add,
    tensor_scatter_nd_max, tensor_scatter_nd_min, tensor_scatter_nd_sub, tensor_scatter_nd_update,
    unique, unique_with_counts)
from .math import ensure_shape, reverse_sequence, scalar_mul, strided_slice  # noqa: E402
from .math import (  # noqa: E402
    dynamic_partition, dynamic_stitch, gradients, identity_n, recompute_grad, unravel_index)
from .linalg import tensordot  # noqa: E402
_TF_NAMES = ["ensure_shape", "scalar_mul", "reverse_sequence", "strided_slice",
             "unravel_index", "dynamic_partition", "dynamic_stitch", "no_op", "group",
             "control_dependencies", "identity_n", "recompute_grad", "conj", "gradients",
             "make_tensor_proto", "make_ndarray", "saved_model", "tensordot", "add_n", "argmax", "argmin", "argsort", "ceil", "clip_by_norm",
             "clip_by_value", "cos", "cumsum", "equal", "exp", "expand_dims", "eye", "fill",
             "floor", "gather", "greater", "greater_equal", "identity", "less", "less_equal",
             "linspace", "log", "logical_and", "logical_not", "logical_or", "maximum",
             "minimum", "norm", "not_equal", "one_hot", "pad", "rank", "reduce_all",
             "reduce_any", "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min",
             "reduce_prod", "reduce_sum", "repeat", "sigmoid", "sign", "sin", "size", "sort",
             "split", "sqrt", "square", "squeeze", "stop_gradient", "tanh", "tile", "transpose",
             "unstack", "where", "nn", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2",
             "atanh", "broadcast_to", "cosh", "divide", "multiply", "negative", "sinh",
             "subtract", "tan", "truediv", "custom_gradient", "Module", "UnconnectedGradients",
             "VariableAggregation", "VariableSynchronization", "summary", "train", "distribute", "sparse",
             "SparseTensor", "edit_distance", "IndexedSlices", "sets", "queue", "ragged",
             "RaggedTensor",
             "boolean_mask", "gather_nd",
             "histogram_fixed_width", "histogram_fixed_width_bins", "is_tensor", "meshgrid",
             "reverse", "roll", "scatter_nd", "searchsorted", "sequence_mask",
             "tensor_scatter_nd_add", "tensor_scatter_nd_sub", "tensor_scatter_nd_update",
             "tensor_scatter_nd_max", "tensor_scatter_nd_min", "unique", "unique_with_counts", "tensordot", "scan", "foldl", "foldr"]
# (range, abs, round, pow, complex, slice and math stay out of __all__: `from pynn import *`
# must not hide Python's builtins and math module)
newaxis = None
# TensorFlow's dtypes (``tf.cast(n, tf.float32)`` in a custom metric): str
# subclasses, so they go wherever pynn's functions take a dtype string.
from . import dtypes  # noqa: E402
from .dtypes import DType, as_dtype, bitcast, saturate_cast  # noqa: E402
from .dtypes import (bool, complex64, complex128, double, float16, float32,  # noqa: E402
                     float64, half, int8, int16, int32, int64, string, uint8, uint16,
                     uint32, uint64)
# tf.function and its neighbours (pynn runs them eagerly)
from .execution import (RaggedTensorSpec, SparseTensorSpec, TensorArray, TensorSpec,  # noqa: E402
                        cond, control_dependencies, group, no_op, executing_eagerly, foldl,
                        foldr, function, init_scope, map_fn,
                        numpy_function, print, py_function, scan, vectorized_map,
                        switch_case, while_loop)
from . import audio, debugging, image, io, linalg, signal, sparse, strings  # noqa: E402
from . import lookup, summary, test, train  # noqa: E402
from . import queue, ragged, sets  # noqa: E402
from .ragged import RaggedTensor  # noqa: E402
from .sparse import IndexedSlices, SparseTensor, edit_distance  # noqa: E402
from .debugging import Assert, errors  # noqa: E402
from .utils.io_utils import get_logger  # noqa: E402
from .math import clip_by_global_norm  # noqa: E402
# TensorFlow 2's initializer names (tf.random_normal_initializer(0., 0.02)
# in a DCGAN's layers), and its tf.initializers module
from .initializers import Constant as constant_initializer  # noqa: E402
from .initializers import Ones as ones_initializer  # noqa: E402
from .initializers import RandomNormal as random_normal_initializer  # noqa: E402
from .initializers import RandomUniform as random_uniform_initializer  # noqa: E402
from .initializers import Zeros as zeros_initializer  # noqa: E402
from . import lite  # noqa: E402  (the TFLite exporter, as tf.lite)
from . import applications  # noqa: E402  (built on models and layers)
from . import saving  # noqa: E402  (keras.saving: load_model, register_keras_serializable, ...)
from . import saved_model  # noqa: E402  (tf.saved_model: save, load)
from .records import make_ndarray, make_tensor_proto  # noqa: E402
from . import data  # noqa: E402  (tf.data's names for pynn.utils.Dataset)
from . import wrappers  # noqa: E402  (scikit-learn estimators around a model)
from . import feature_column  # noqa: E402  (tf.feature_column, for layers.DenseFeatures)
from . import visualization  # noqa: E402  (image galleries, segmentation masks drawn)
# tf.keras: this package (``tf.keras.layers.Dense`` with ``import pynn as tf``)
keras = _sys.modules[__name__]
from . import _keras_path  # noqa: E402,F401  (``from pynn.keras.layers import Dense``)



# tf.keras.experimental (TensorFlow 2.2-2.8), where ported programs find the
# cosine schedules before they moved to optimizers.schedules, and
# tf.experimental.numpy
from . import experimental  # noqa: E402
# tf.compat.v1's logging and seed, tf.autograph's switches
from . import compat  # noqa: E402
from .compat import autograph  # noqa: E402


class _Version:
    """pynn's version: ``version()`` as Keras's ``keras.version()``, and
    ``version.VERSION`` as TensorFlow's ``tf.version`` module."""
    VERSION = __version__
    GIT_VERSION = f"v{__version__}"
    COMPILER_VERSION = __import__("platform").python_compiler()

    def __call__(self):
        return __version__

    def __repr__(self):
        return f"<pynn version {__version__}>"


version = _Version()


__all__ = ["Sequential", "Model", "Input", "InputLayer", "InputSpec", "KerasTensor", "Layer",
           "Loss", "Metric", "Optimizer", "DTypePolicy", "FloatDTypePolicy", "Quantizer",
           "Operation", "Function", "GradientTape",
           "Variable", "config", "version",
           "activations",
           "applications", "data", "backend", "random", "callbacks", "constraints", "cuda",
           "datasets",
           "distribute", "distribution", "dtype_policies", "initializers", "mixed_precision", "layers", "lite",
           "losses", "metrics", "models", "ops",
           "optimizers", "preprocessing", "quantizers", "regularizers", "tree", "utils",
           "wrappers", "feature_column", "visualization", "Initializer",
           "Regularizer", "name_scope", "set_num_threads", "StatelessScope", "SymbolicScope",
           "RematScope", "remat",
           "get_num_threads", "show_config", "device",
           "cast", "concat", "constant",
           "convert_to_tensor", "einsum", "float16", "float32", "float64", "int8",
           "int16", "int32", "int64", "uint8", "matmul", "nest", "newaxis", "ones",
           "ones_like", "Tensor", "TensorShape", "reshape", "shape",
           "stack", "zeros", "zeros_like", "__version__", "dtypes", "DType", "as_dtype",
           "bitcast", "saturate_cast",
           "complex64", "complex128", "double", "half", "string", "uint16", "uint32", "uint64",
           "function", "TensorSpec", "RaggedTensorSpec", "SparseTensorSpec", "TensorArray", "executing_eagerly", "init_scope",
           "py_function", "numpy_function", "debugging", "errors", "Assert", "image", "io",
           "linalg", "strings", "clip_by_global_norm", "constant_initializer",
           "ones_initializer", "random_normal_initializer", "random_uniform_initializer",
           "zeros_initializer", "experimental", "summary", "signal", "audio", "cond",
           "while_loop", "switch_case", "map_fn", "vectorized_map", "foldl", "foldr", "scan",
           "compat", "autograph", "lookup",
           "get_logger"] + _TF_NAMES
