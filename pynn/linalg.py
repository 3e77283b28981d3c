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


def _recorded(*xs):
    """Whether any of ``xs`` is recorded by a GradientTape (then the
    computation goes through pynn.ops, float32, and records)."""
    from . import autodiff
    return any(type(autodiff.resolve(x)) is autodiff.Traced for x in xs)


def _wide(*xs):
    """float64 when any of the (untraced) ``xs`` is float64, else float32."""
    return np.float64 if any(np.asarray(ops.convert_to_numpy(x)).dtype == np.float64
                             for x in xs) else np.float32


def _plain64(x):
    return np.asarray(ops.convert_to_numpy(x), np.float64)


# NumPy's functions under pynn.ops's names: values no tape records are
# computed in float64 with them, then given the inputs' precision
_NUMPY = __import__("types").SimpleNamespace(
    tril=np.tril, triu=np.triu, swapaxes=np.swapaxes, matmul=np.matmul, add=np.add,
    take=np.take, concatenate=np.concatenate, reshape=np.reshape, stack=np.stack,
    multiply=np.multiply, expand_dims=np.expand_dims, squeeze=np.squeeze)


def _computing(*xs):
    """(the functions to compute with, the inputs for them, the result's
    dtype or None): pynn.ops on recorded inputs, else NumPy in float64."""
    if _recorded(*xs):
        return ops, xs, None
    return _NUMPY, tuple(_plain64(x) for x in xs), _wide(*xs)


def _finish(result, dt):
    return result if dt is None else np.asarray(result).astype(dt)


def _solve_dense(who, a, b):
    """``a^-1 b`` for batches of square ``a`` and ``b`` of shape (..., n, k):
    recorded through ops.solve, or in float64 for plain values."""
    sa, sb = tuple(ops.shape(a)), tuple(ops.shape(b))
    if len(sb) < 2 or sb[-2] != sa[-1]:
        raise ValueError(f"tf.linalg.{who}: rhs of shape {sb} does not fit matrices of shape {sa} (rhs "
                         f"must be (..., {sa[-1]}, K))")
    if _recorded(a, b):
        if sa[:-2] != sb[:-2]:
            shape = np.broadcast_shapes(sa[:-2], sb[:-2])
            a, b = ops.broadcast_to(a, shape + sa[-2:]), ops.broadcast_to(b, shape + sb[-2:])
        return ops.solve(a, b)
    dt = _wide(a, b)
    with np.errstate(all="ignore"):
        try:
            return np.linalg.solve(_plain64(a), _plain64(b)).astype(dt)
        except np.linalg.LinAlgError:
            from .debugging import InvalidArgumentError
            raise InvalidArgumentError(None, None, f"tf.linalg.{who}: the matrix is "
                                       f"singular") from None


def triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    """``x`` with ``matrix @ x = rhs`` (``matrix^H @ x = rhs`` with
    ``adjoint``), reading only the lower (or upper) triangle of the
    square matrices (..., M, M); rhs (..., M, K).  Gradients flow to both
    (to the triangle read)."""
    _square("triangular_solve", matrix)
    xp, (matrix, rhs), dt = _computing(matrix, rhs)
    tri = xp.tril(matrix) if lower else xp.triu(matrix)
    if adjoint:
        tri = xp.swapaxes(tri, -1, -2)
    return _finish(_solve_dense("triangular_solve", tri, rhs), dt)


def _band_index(k, m, lower):
    """For each entry (i, j) of an (m, m) matrix, its place in (k, m)
    bands stored as TensorFlow's LEFT_RIGHT alignment, or k * m (zero)."""
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    d = i - j if lower else j - i                       # (which sub/super-diagonal)
    row = d if lower else k - 1 - d
    # (subdiagonals right-aligned, superdiagonals left-aligned: both at column i)
    inside = (d >= 0) & (d < k)
    return np.where(inside, row * m + i, k * m).ravel()


def banded_triangular_solve(bands, rhs, lower=True, adjoint=False, name=None):
    """triangular_solve of the banded triangular matrices given by their
    ``bands`` (..., K, M): the diagonal and K - 1 subdiagonals (``lower``,
    the diagonal the first row) or superdiagonals (the diagonal the last
    row), in TensorFlow's LEFT_RIGHT alignment."""
    shape = tuple(ops.shape(bands))
    if len(shape) < 2 or shape[-2] < 1 or shape[-2] > shape[-1]:
        raise ValueError(f"banded_triangular_solve: bands must have shape (..., K, M) with "
                         f"1 <= K <= M, got {shape}")
    k, m = shape[-2:]
    batch = shape[:-2]
    xp, (bands, rhs), dt = _computing(bands, rhs)
    flat = xp.reshape(bands, batch + (k * m,))
    zero = np.zeros(batch + (1,), np.dtype(ops.dtype(bands)))
    dense = xp.reshape(xp.take(xp.concatenate([flat, zero], axis=-1),
                               _band_index(k, m, lower), axis=-1), batch + (m, m))
    return _finish(triangular_solve(dense, rhs, lower=lower, adjoint=adjoint), dt)


def _tridiagonal(who, xp, diagonals, diagonals_format):
    """The dense (..., M, M) matrices of TensorFlow's tridiagonal forms:
    'compact' (..., 3, M) rows superdiagonal (its last entry unused),
    diagonal, subdiagonal (its first entry unused); 'sequence' those three
    as a list; 'matrix' the matrices themselves."""
    if diagonals_format == "matrix":
        _square(who, diagonals)
        return xp.multiply(diagonals, _tri_mask(tuple(ops.shape(diagonals))[-1]))
    if diagonals_format == "sequence":
        if not isinstance(diagonals, (list, tuple)) or len(diagonals) != 3:
            raise ValueError(f"tf.linalg.{who}: diagonals in the 'sequence' format are a list of three "
                             f"tensors (superdiagonal, diagonal, subdiagonal)")
        diagonals = xp.stack(list(diagonals), axis=-2)
    elif diagonals_format != "compact":
        raise ValueError(f"tf.linalg.{who}: diagonals_format must be 'compact', 'sequence' or "
                         f"'matrix', got {diagonals_format!r}")
    shape = tuple(ops.shape(diagonals))
    if len(shape) < 2 or shape[-2] != 3:
        raise ValueError(f"tf.linalg.{who}: diagonals in the 'compact' format have shape (..., 3, M), "
                         f"got {shape}")
    m, batch = shape[-1], shape[:-2]
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    # A[i, i+1] = super[i], A[i, i] = diag[i], A[i+1, i] = sub[i+1]
    place = np.full((m, m), 3 * m)
    place[(j == i + 1)] = (0 * m + i)[j == i + 1]
    place[(j == i)] = (1 * m + i)[j == i]
    place[(i == j + 1)] = (2 * m + i)[i == j + 1]
    flat = xp.reshape(diagonals, batch + (3 * m,))
    zero = np.zeros(batch + (1,), np.dtype(ops.dtype(diagonals)))
    return xp.reshape(xp.take(xp.concatenate([flat, zero], axis=-1), place.ravel(), axis=-1),
                      batch + (m, m))


def _tri_mask(m):
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    return (np.abs(i - j) <= 1).astype(np.float32)


def tridiagonal_solve(diagonals, rhs, diagonals_format="compact", transpose_rhs=False,
                      conjugate_rhs=False, name=None, partial_pivoting=True,
                      perturb_singular=False):
    """``x`` with ``A @ x = rhs`` for the tridiagonal matrices A given by
    ``diagonals`` (see the formats above); rhs (..., M, K), or (..., M) for
    one right-hand side (or (..., K, M) with ``transpose_rhs``).
    Gradients flow to diagonals and rhs."""
    if perturb_singular:
        raise ValueError("tridiagonal_solve: perturb_singular is not supported by pynn")
    seq = list(diagonals) if isinstance(diagonals, (list, tuple)) else [diagonals]
    xp, values, dt = _computing(*seq, rhs)
    a = _tridiagonal("tridiagonal_solve", xp, list(values[:-1]) if len(seq) > 1 else values[0],
                     diagonals_format)
    b = xp.swapaxes(values[-1], -1, -2) if transpose_rhs else values[-1]
    vector = len(ops.shape(b)) == len(ops.shape(a)) - 1
    x = _solve_dense("tridiagonal_solve", a, xp.expand_dims(b, -1) if vector else b)
    return _finish(xp.squeeze(x, -1) if vector else x, dt)


def tridiagonal_matmul(diagonals, rhs, diagonals_format="compact", name=None):
    """``A @ rhs`` for the tridiagonal matrices A given by ``diagonals``."""
    seq = list(diagonals) if isinstance(diagonals, (list, tuple)) else [diagonals]
    xp, values, dt = _computing(*seq, rhs)
    a = _tridiagonal("tridiagonal_matmul", xp,
                     list(values[:-1]) if len(seq) > 1 else values[0], diagonals_format)
    return _finish(xp.matmul(a, values[-1]), dt)


def lstsq(matrix, rhs, l2_regularizer=0.0, fast=True, name=None):
    """The least-squares solutions of ``matrix @ x = rhs`` for (..., M, N)
    matrices and (..., M, K) rhs, with ``l2_regularizer`` * ||x||^2 added.
    ``fast``: the normal equations (A^T A + l2 I) x = A^T b when M >= N,
    x = A^T (A A^T + l2 I)^-1 b when M < N (full-rank A), recorded on a
    tape; otherwise the minimum-norm solution by SVD, of any rank (no
    gradient and no regularizer, as TensorFlow's)."""
    sa, sb = tuple(ops.shape(matrix)), tuple(ops.shape(rhs))
    if len(sa) < 2 or len(sb) != len(sa) or sb[-2] != sa[-2]:
        raise ValueError(f"lstsq: matrix of shape {sa} and rhs of shape {sb} do not fit "
                         f"(matrix (..., M, N), rhs (..., M, K))")
    m, n = sa[-2:]
    lam = float(np.asarray(ops.convert_to_numpy(l2_regularizer)))
    if not fast:
        if _recorded(matrix, rhs):
            raise ValueError("lstsq: the gradient is defined for fast=True only (as "
                             "TensorFlow's)")
        return np.asarray(np.linalg.pinv(_plain64(matrix)) @ _plain64(rhs), _wide(matrix, rhs))
    xp, (matrix, rhs), dt = _computing(matrix, rhs)
    ridge = lam * np.eye(min(m, n), dtype=np.float32 if dt is None else np.float64)
    at = xp.swapaxes(matrix, -1, -2)
    if m >= n:
        gram = xp.add(xp.matmul(at, matrix), ridge)
        return _finish(_solve_dense("lstsq", gram, xp.matmul(at, rhs)), dt)
    gram = xp.add(xp.matmul(matrix, at), ridge)
    return _finish(xp.matmul(at, _solve_dense("lstsq", gram, rhs)), dt)


_PADE13 = (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800.,
           129060195264000., 10559470521600., 670442572800., 33522128640., 1323241920.,
           40840800., 960960., 16380., 182., 1.)


def _expm64(a):
    """exp of one float64 matrix: Higham's (2005) scaling and squaring with
    the [13/13] Pade approximant (to double precision)."""
    n = a.shape[-1]
    norm1 = np.abs(a).sum(axis=0).max() if a.size else 0.0
    s = max(0, int(np.ceil(np.log2(norm1 / 5.371920351148152)))) if norm1 > 0 else 0
    a = a / 2.0 ** s
    b, ident = _PADE13, np.eye(n)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * ident)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
        + b[0] * ident
    r = np.linalg.solve(v - u, v + u)
    for _ in range(s):
        r = r @ r
    return r


def _batched(fn, x):
    x = np.asarray(x, np.float64)
    flat = x.reshape((-1,) + x.shape[-2:])
    return np.stack([fn(m) for m in flat]).reshape(x.shape) if flat.shape[0] else x.copy()


def expm(input, name=None):
    """The matrix exponential of square matrices (..., M, M), computed in
    float64; its gradient is the Frechet derivative (the upper-right block
    of exp([[A^T, G], [0, A^T]]))."""
    _square("expm", input)
    dt = _wide(input) if not _recorded(input) else np.float32

    @ops.custom_gradient
    def f(x):
        a = _plain64(x)

        def grad(g):
            g64 = np.broadcast_to(np.asarray(g, np.float64), a.shape)
            n = a.shape[-1]
            at = np.swapaxes(a, -1, -2)
            block = np.zeros(a.shape[:-2] + (2 * n, 2 * n))
            block[..., :n, :n] = at
            block[..., n:, n:] = at
            block[..., :n, n:] = g64
            return _batched(_expm64, block)[..., :n, n:].astype(np.float32)
        return _batched(_expm64, a).astype(dt), grad
    return f(input)


def _eig_function(x, fn):
    """``fn`` of the eigenvalues of diagonalizable matrices: V fn(L) V^-1."""
    a = np.asarray(ops.convert_to_numpy(x))
    w, v = np.linalg.eig(a.astype(np.complex128))
    out = (v * fn(w)[..., None, :]) @ np.linalg.inv(v)
    return out


def logm(input, name=None):
    """The principal matrix logarithm of complex square matrices (as
    TensorFlow's, complex64 or complex128 only), through their
    eigendecomposition (diagonalizable matrices)."""
    _square("logm", input)
    a = np.asarray(ops.convert_to_numpy(input))
    if a.dtype.kind != "c":
        raise TypeError(f"logm: the input must be complex64 or complex128 (as TensorFlow's), "
                        f"got {a.dtype}")
    return _eig_function(a, np.log).astype(a.dtype)


def sqrtm(input, name=None):
    """The principal square root of real square matrices (..., M, M) whose
    eigenvalues are not negative reals, through their eigendecomposition;
    its gradient solves the Sylvester equation Y^T X + X Y^T = G."""
    _square("sqrtm", input)
    dt = _wide(input) if not _recorded(input) else np.float32

    @ops.custom_gradient
    def f(x):
        a = _plain64(x)
        y = _eig_function(a, np.sqrt)
        if np.abs(y.imag).max(initial=0.0) > 1e-6 * max(1.0, np.abs(y.real).max(initial=0.0)):
            raise ValueError("sqrtm: the matrix has negative real eigenvalues (no real "
                             "principal square root)")
        y = y.real

        def grad(g):
            yt = np.swapaxes(y, -1, -2)
            d, v = np.linalg.eig(yt.astype(np.complex128))
            vi = np.linalg.inv(v)
            gh = vi @ np.broadcast_to(np.asarray(g, np.float64), y.shape) @ v
            xh = gh / (d[..., :, None] + d[..., None, :])
            return (v @ xh @ vi).real.astype(np.float32)
        return y.astype(dt), grad
    return f(input)


def matrix_rank(a, tol=None, validate_args=False, name=None):
    """The number of singular values of each matrix above ``tol`` (by
    default max(M, N) * eps * the largest singular value, eps of a's
    dtype), as int32."""
    x = np.asarray(ops.convert_to_numpy(a))
    if x.ndim < 2:
        raise ValueError(f"matrix_rank: expected matrices (..., M, N), got shape {x.shape}")
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    s = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    if tol is None:
        tol = s.max(axis=-1, keepdims=True, initial=0.0) * max(x.shape[-2:]) * \
            np.finfo(dt).eps
    else:
        tol = np.asarray(ops.convert_to_numpy(tol), np.float64)[..., None]
    return np.sum(s > tol, axis=-1).astype(np.int32)


_FUNCTIONS = ["matmul", "matvec", "matrix_transpose", "inv", "det", "slogdet", "logdet",
              "cholesky", "solve", "qr", "svd", "eigh", "eigvalsh", "pinv", "diag",
              "diag_part", "set_diag", "band_part", "trace", "tensordot", "einsum", "cross",
              "normalize", "triangular_solve", "banded_triangular_solve", "tridiagonal_solve",
              "tridiagonal_matmul", "lstsq", "expm", "logm", "sqrtm", "matrix_rank"]
for _name in _FUNCTIONS:
    globals()[_name] = _eager_results(globals()[_name])
del _name
adjoint = matrix_transpose
__all__ = _FUNCTIONS + ["adjoint", "eye", "norm", "l2_normalize", "global_norm"]
