"""TensorFlow's ``tf.linalg`` for programs ported with ``import pynn as tf``:
batched matrix functions over the last two axes, with TensorFlow's
argument names and result forms (``svd`` gives s, u, v), through pynn.ops
(``matmul``, ``diag``, ``band_part``, ``trace`` record on a GradientTape)."""
import numpy as np

from . import ops
from .backend import _eager_results
from .backend import matmul as _matmul
from .math import eye, global_norm, l2_normalize, norm


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, name=None):
    return _matmul(a, b, transpose_a=transpose_a or adjoint_a,
                   transpose_b=transpose_b or adjoint_b)


def matvec(a, b, transpose_a=False, adjoint_a=False, name=None):
    """The matrices of ``a`` times the vectors of ``b``."""
    return ops.squeeze(matmul(a, ops.expand_dims(b, -1), transpose_a=transpose_a or adjoint_a),
                       -1)


def matrix_transpose(a, name="matrix_transpose", conjugate=False):
    """The last two axes swapped."""
    return ops.swapaxes(a, -1, -2)


adjoint = matrix_transpose


def _square(name, x):
    shape = tuple(ops.shape(x))
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"tf.linalg.{name}: expected square matrices (..., n, n), got shape "
                         f"{shape}")


def inv(input, adjoint=False, name=None):
    _square("inv", input)
    out = ops.inv(input)
    return ops.swapaxes(out, -1, -2) if adjoint else out


def det(input, name=None):
    _square("det", input)
    return ops.det(input)


def slogdet(input, name=None):
    """(the sign, the log of the absolute value) of each determinant."""
    _square("slogdet", input)
    return ops.slogdet(input)


def logdet(matrix, name=None):
    """log det of Hermitian positive definite matrices, through the Cholesky factor."""
    _square("logdet", matrix)
    chol = ops.cholesky(matrix)
    return ops.multiply(ops.sum(ops.log(diag_part(chol)), axis=-1), 2.0)


def cholesky(input, name=None):
    _square("cholesky", input)
    return ops.cholesky(input)


def solve(matrix, rhs, adjoint=False, name=None):
    _square("solve", matrix)
    return ops.solve(ops.swapaxes(matrix, -1, -2) if adjoint else matrix, rhs)


def triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    """x with ``matrix @ x = rhs`` for triangular ``matrix`` (lower by
    default, its other half ignored); with ``adjoint`` its transpose's."""
    _square("triangular_solve", matrix)
    tri = ops.tril(matrix) if lower else ops.triu(matrix)
    return ops.solve(ops.swapaxes(tri, -1, -2) if adjoint else tri, rhs)


def lstsq(matrix, rhs, l2_regularizer=0.0, fast=True, name=None):
    """The least-squares solution x of ``matrix @ x = rhs`` ((m, n) matrix,
    (m, k) rhs), with ``l2_regularizer`` the ridge penalty: TensorFlow's
    fast path, the normal equations (A^T A + l2 I) x = A^T b when m >= n,
    x = A^T (A A^T + l2 I)^-1 b when m < n."""
    shape, rhs_shape = tuple(ops.shape(matrix)), tuple(ops.shape(rhs))
    if len(shape) < 2 or len(rhs_shape) != len(shape) or rhs_shape[-2] != shape[-2]:
        raise ValueError(f"lstsq: expected matrices (..., m, n) and (..., m, k), got shapes "
                         f"{shape} and {rhs_shape}")
    m, n = shape[-2:]
    at = ops.swapaxes(matrix, -1, -2)
    if m >= n:
        gram = ops.matmul(at, matrix)
        if l2_regularizer:
            gram = ops.add(gram, np.float32(l2_regularizer) * np.eye(n, dtype=np.float32))
        return ops.solve(gram, ops.matmul(at, rhs))
    gram = ops.matmul(matrix, at)
    if l2_regularizer:
        gram = ops.add(gram, np.float32(l2_regularizer) * np.eye(m, dtype=np.float32))
    return ops.matmul(at, ops.solve(gram, rhs))


def qr(input, full_matrices=False, name=None):
    """(q, r)."""
    return ops.qr(input, mode="complete" if full_matrices else "reduced")


def svd(tensor, full_matrices=False, compute_uv=True, name=None):
    """(s, u, v) with tensor = u @ diag(s) @ v^T (v, not its transpose, as
    TensorFlow gives it); s alone when not ``compute_uv``."""
    if not compute_uv:
        return ops.svd(tensor, full_matrices=full_matrices, compute_uv=False)
    u, s, vh = ops.svd(tensor, full_matrices=full_matrices)
    return s, u, ops.swapaxes(vh, -1, -2)


def eigh(tensor, name=None):
    """(eigenvalues ascending, eigenvectors as columns) of symmetric matrices."""
    _square("eigh", tensor)
    return ops.eigh(tensor)


def eigvalsh(tensor, name=None):
    return eigh(tensor)[0]


def pinv(a, rcond=None, validate_args=False, name=None):
    return ops.pinv(a) if rcond is None else ops.pinv(a, rcond=rcond)


def diag(diagonal, name="diag", k=0, num_rows=-1, num_cols=-1, padding_value=0,
         align="RIGHT_LEFT"):
    """Square matrices with the last axis of ``diagonal`` on their main
    diagonal (zeros elsewhere); only k=0 and TensorFlow's default sizes."""
    if k != 0 or num_rows != -1 or num_cols != -1 or padding_value != 0:
        raise ValueError("tf.linalg.diag: only the main diagonal (k=0) with default "
                         "num_rows, num_cols and padding_value is supported")
    n = ops.shape(diagonal)[-1]
    return ops.multiply(ops.expand_dims(diagonal, -1), np.eye(n, dtype=np.float32))


def diag_part(input, name="diag_part", k=0, padding_value=0, align="RIGHT_LEFT"):
    """The ``k``-th diagonal of each matrix (of the last two axes)."""
    return ops.diagonal(input, offset=int(k), axis1=-2, axis2=-1)


def set_diag(input, diagonal, name="set_diag", k=0, align="RIGHT_LEFT"):
    """The matrices with their main diagonal replaced by ``diagonal``."""
    if k != 0:
        raise ValueError("tf.linalg.set_diag: only the main diagonal (k=0) is supported")
    rows, cols = ops.shape(input)[-2:]
    mask = np.eye(rows, cols, dtype=bool)
    placed = ops.multiply(ops.expand_dims(diagonal, -2), np.eye(rows, cols, dtype=np.float32))
    return ops.where(mask, placed, input)


def band_part(input, num_lower, num_upper, name=None):
    """Each matrix with the entries outside its band zeroed: kept where
    i - j <= num_lower and j - i <= num_upper (a negative bound keeps that
    whole triangle)."""
    rows, cols = ops.shape(input)[-2:]
    i, j = np.arange(rows)[:, None], np.arange(cols)[None, :]
    keep = ((int(num_lower) < 0) | (i - j <= int(num_lower))) & \
        ((int(num_upper) < 0) | (j - i <= int(num_upper)))
    return ops.where(keep, input, np.zeros((), dtype=ops.dtype(ops._plain(input))))


def trace(x, name=None):
    """The sum of each matrix's diagonal (the last two axes)."""
    return ops.trace(x, axis1=-2, axis2=-1)


def tensordot(a, b, axes, name=None):
    return ops.tensordot(a, b, axes=axes)


def einsum(equation, *inputs, **kwargs):
    return ops.einsum(equation, *inputs)


def cross(a, b, name=None):
    return ops.cross(a, b)


def normalize(tensor, ord="euclidean", axis=None, name=None):
    """(tensor / its norm, the norm) as tf.linalg.normalize."""
    n = norm(tensor, ord=ord, axis=axis, keepdims=True)
    return ops.divide(tensor, n), n


_FUNCTIONS = ["matmul", "matvec", "matrix_transpose", "inv", "det", "slogdet", "logdet",
              "cholesky", "solve", "triangular_solve", "lstsq", "qr", "svd", "eigh", "eigvalsh", "pinv", "diag",
              "diag_part", "set_diag", "band_part", "trace", "tensordot", "einsum", "cross",
              "normalize"]
for _name in _FUNCTIONS:
    globals()[_name] = _eager_results(globals()[_name])
del _name
adjoint = matrix_transpose
__all__ = _FUNCTIONS + ["adjoint", "eye", "norm", "l2_normalize", "global_norm"]
