# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The one bridge from Python to pynn's C kernels.

Every function here checks what the C code assumes (NumPy array, dtype,
C-contiguity, writeability, matching sizes) and raises ValueError/TypeError
otherwise, then releases the GIL around the kernel call.  Shape rules that
belong to a layer or an op (which dimensions must agree and why) are checked
one level up, in pynn.ops, where the message can name them.
"""
cimport numpy as cnp
import numpy as np
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

cnp.import_array()

from libc.stdlib cimport malloc, free, calloc
from libc.string cimport memset

cdef extern from "pynn.h" nogil:
    void pynn_cpu_init()
    int pynn_cpu_level()
    const char *pynn_cpu_simd_level()
    int pynn_get_num_threads()
    void pynn_set_num_threads(int n)
    int pynn_have_openmp()

    void pynn_sgemm(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                    float alpha, const float *a, Py_ssize_t lda,
                    const float *b, Py_ssize_t ldb,
                    float beta, float *c, Py_ssize_t ldc)
    void pynn_sgemm_batched(Py_ssize_t count, int trans_a, int trans_b, Py_ssize_t m,
                            Py_ssize_t n, Py_ssize_t k, float alpha, const float *a,
                            Py_ssize_t lda, Py_ssize_t stride_a, const float *b, Py_ssize_t ldb,
                            Py_ssize_t stride_b, float beta, float *c, Py_ssize_t ldc,
                            Py_ssize_t stride_c)

    ctypedef struct pynn_conv_shape:
        Py_ssize_t n, h, w, cin
        Py_ssize_t kh, kw, cout
        Py_ssize_t sh, sw, dh, dw
        Py_ssize_t pad_top, pad_left
        Py_ssize_t oh, ow
    int pynn_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                            const float *bias, int act, float alpha, float *y)
    int pynn_conv2d_backward(const pynn_conv_shape *s, const float *x, const float *k,
                             int act, float alpha, const float *pre, const float *y,
                             const float *dy, float *dk, float *db, float *dx)
    int pynn_depthwise_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                                      const float *bias, int act, float alpha, float *y)
    int pynn_depthwise_conv2d_backward(const pynn_conv_shape *s, const float *x,
                                       const float *k, const float *dy, float *dk,
                                       float *db, float *dx)

    ctypedef struct pynn_pool_shape:
        Py_ssize_t n, h, w, c
        Py_ssize_t ph, pw, sh, sw
        Py_ssize_t pad_top, pad_left
        Py_ssize_t oh, ow
    int pynn_max_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y)
    int pynn_max_pool2d_backward(const pynn_pool_shape *s, const float *x, const float *y,
                                 const float *dy, float *dx)
    int pynn_avg_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y)
    int pynn_avg_pool2d_backward(const pynn_pool_shape *s, const float *dy, float *dx)
    int pynn_conv2d_pooled_backward_fits(const pynn_conv_shape *s, const pynn_pool_shape *p,
                                         int act)
    int pynn_conv2d_pooled_backward(const pynn_conv_shape *s, const pynn_pool_shape *p,
                                    const float *x, int act, const float *y,
                                    const float *pool_y, const float *pool_dy, float *dk,
                                    float *db)

    void pynn_moments(const float *x, Py_ssize_t rows, Py_ssize_t cols, float *mean,
                      float *var)
    void pynn_channel_affine(const float *x, const float *scale, const float *shift,
                             float *y, Py_ssize_t rows, Py_ssize_t cols)
    int pynn_batchnorm_backward(const float *x, const float *dy, const float *mean,
                                const float *inv_std, const float *gamma, float *dx,
                                float *dgamma, float *dbeta, Py_ssize_t rows,
                                Py_ssize_t cols)

    void pynn_bias_activation_forward(int act, float alpha, const float *x,
                                      const float *bias, float *y,
                                      Py_ssize_t rows, Py_ssize_t cols)
    void pynn_activation_backward(int act, float alpha, const float *x,
                                  const float *y, const float *dy, float *dx,
                                  Py_ssize_t rows, Py_ssize_t cols)
    void pynn_bias_grad(const float *dy, float *db, Py_ssize_t rows, Py_ssize_t cols)

    void pynn_loss(int kind, const float *pred, const float *target,
                   const float *weights, float scale, float *sample_loss,
                   float *grad, Py_ssize_t rows, Py_ssize_t cols)
    Py_ssize_t pynn_sparse_loss(int from_logits, const float *pred, const int32_t *labels,
                                const float *weights, float scale, float *sample_loss,
                                float *grad, Py_ssize_t rows, Py_ssize_t cols)
    double pynn_accuracy(int kind, const float *pred, const void *target,
                         const float *weights, Py_ssize_t rows, Py_ssize_t cols,
                         float threshold)

    void pynn_sgd_update(float *w, const float *g, float *v, Py_ssize_t n,
                         float lr, float momentum, int nesterov)
    void pynn_rmsprop_update(float *w, const float *g, float *s, float *m, float *mg,
                             Py_ssize_t n, float lr, float rho, float momentum, float eps)
    void pynn_adam_update(float *w, const float *g, float *m, float *v, Py_ssize_t n,
                          float lr, float beta1, float beta2, float eps, int64_t t)
    double pynn_weight_penalty(const float *w, float *g, Py_ssize_t n, float l1, float l2)

    ctypedef struct pynn_rnn_desc:
        int cell
        Py_ssize_t batch, steps, input, units
        int act, rec_act
        int reset_after
        int go_backwards
        int return_sequences
        int zero_masked_outputs
        int training
    Py_ssize_t pynn_rnn_work_size(const pynn_rnn_desc *d)
    int pynn_rnn_forward(const pynn_rnn_desc *d, const float *x, const float *kernel,
                         const float *rec, const float *bias, const uint8_t *mask,
                         const float *input_mask, const float *rec_mask, const float *h0,
                         const float *c0, float *y, float *h_out, float *c_out, float *work)
    int pynn_rnn_backward(const pynn_rnn_desc *d, const float *kernel, const float *rec,
                          const uint8_t *mask, const float *input_mask, const float *rec_mask,
                          const float *dy, const float *dh_last, const float *dc_last,
                          float *work, float *dx, float *dh0, float *dc0, float *dkernel,
                          float *drec, float *dbias)
    Py_ssize_t pynn_embedding_gather(const float *table, Py_ssize_t vocab, Py_ssize_t dim,
                                     const void *ids, int ids_wide, Py_ssize_t n, float *out,
                                     int64_t *bad_lo, int64_t *bad_hi)
    Py_ssize_t pynn_embedding_scatter_add(const void *ids, int ids_wide, Py_ssize_t n,
                                          const float *dy, const void *prev_ids, int prev_wide,
                                          Py_ssize_t n_prev, float *grad, Py_ssize_t vocab,
                                          Py_ssize_t dim, int64_t *bad_lo, int64_t *bad_hi)

    void pynn_dropout_forward(const float *x, float *y, uint8_t *mask, Py_ssize_t n,
                              float rate, uint64_t seed, uint64_t offset)
    void pynn_dropout_backward(const float *dy, const uint8_t *mask, float *dx,
                               Py_ssize_t n, float rate)
    void pynn_gather_rows(const void *src, const int64_t *idx, void *dst,
                          Py_ssize_t count, Py_ssize_t row_bytes)
    int pynn_all_finite(const float *x, Py_ssize_t n)

    void pynn_binary(int op, const float *a, const float *b, float *y, Py_ssize_t n)
    void pynn_axpby(float alpha, const float *a, float beta, const float *b, float *y,
                    Py_ssize_t n)
    void pynn_extremum_backward(int k, const float *const *xs, const float *y, const float *dy,
                                float *const *dxs, Py_ssize_t n)
    void pynn_copy_2d(const float *src, Py_ssize_t lds, float *dst, Py_ssize_t ldd,
                      Py_ssize_t rows, Py_ssize_t cols)
    void pynn_l2_normalize_rows(const float *x, float *y, float *inv, Py_ssize_t rows,
                                Py_ssize_t cols, float eps)
    void pynn_l2_normalize_backward_rows(const float *x, const float *y, const float *inv,
                                         const float *dy, float *dx, Py_ssize_t rows,
                                         Py_ssize_t cols, float eps)
    ctypedef struct pynn_warp_shape:
        Py_ssize_t n, h, w, c
        Py_ssize_t oh, ow
    void pynn_affine_warp(const pynn_warp_shape *s, const float *x, const int64_t *index,
                          const double *matrices, int interpolation, int fill_mode, float cval,
                          const float *channel_shift, const float *brightness,
                          const float *scale, const float *offset, float *y)

    int pynn_group_norm_forward(const float *x, Py_ssize_t n, Py_ssize_t s, Py_ssize_t groups,
                                Py_ssize_t size, float eps, const float *gamma,
                                const float *beta, float *y, float *mean, float *inv_std)
    int pynn_group_norm_backward(const float *x, const float *dy, Py_ssize_t n, Py_ssize_t s,
                                 Py_ssize_t groups, Py_ssize_t size, const float *mean,
                                 const float *inv_std, const float *gamma, float *dx,
                                 float *dgamma, float *dbeta)

    void pynn_relu_general_forward(const float *x, float *y, Py_ssize_t n, float negative_slope,
                                   float max_value, float threshold)
    void pynn_relu_general_backward(const float *x, const float *dy, float *dx, Py_ssize_t n,
                                    float negative_slope, float max_value, float threshold)
    void pynn_prelu_forward(const float *x, const float *alpha, float *y, Py_ssize_t rows,
                            Py_ssize_t cols)
    void pynn_prelu_backward(const float *x, const float *alpha, const float *dy, float *dx,
                             float *dalpha, Py_ssize_t rows, Py_ssize_t cols)

    void pynn_masked_affine(const float *x, const uint8_t *mask, float *y, Py_ssize_t n,
                            float scale, float shift, float fill)
    void pynn_random_normal(float *y, Py_ssize_t n, float mean, float stddev, uint64_t seed)
    void pynn_sample_channel_scale(const float *x, const float *scale, float *y, Py_ssize_t n,
                                   Py_ssize_t s, Py_ssize_t c)

    ctypedef struct pynn_shift_shape:
        Py_ssize_t n, d, h, w, c
        Py_ssize_t od, oh, ow
        Py_ssize_t fd, fh, fw
    void pynn_pad_crop(const pynn_shift_shape *s, const float *x, float *y, float fill)
    ctypedef struct pynn_resize_shape:
        Py_ssize_t n, h, w, c
        Py_ssize_t top, left, wh, ww
        Py_ssize_t oh, ow
    void pynn_resize_forward(const pynn_resize_shape *s, int mode, const float *x, float *y)
    void pynn_resize_backward(const pynn_resize_shape *s, int mode, const float *dy, float *dx)
    void pynn_repeat(const float *x, Py_ssize_t outer, Py_ssize_t times, Py_ssize_t inner,
                     float *y)
    void pynn_repeat_backward(const float *dy, Py_ssize_t outer, Py_ssize_t times,
                              Py_ssize_t inner, float *dx)
    void pynn_transpose(const float *x, int rank, const Py_ssize_t *shape, const int *perm,
                        float *y)

    ctypedef struct pynn_plan_ref:
        int buf
        Py_ssize_t off
    ctypedef struct pynn_plan_step:
        int kind
        int act
        float alpha
        float p[3]
        double eps
        Py_ssize_t rows, inner, cols
        pynn_conv_shape conv
        pynn_pool_shape pool
        pynn_shift_shape shift
        Py_ssize_t ldx, ldy, group_x, group_x2
        pynn_plan_ref x, x2, w, b, y
        pynn_plan_ref mean, var, gamma, beta
    int pynn_plan_check(const pynn_plan_step *steps, Py_ssize_t count, const Py_ssize_t *sizes,
                        const unsigned char *writable, int nbufs)
    int pynn_plan_run(const pynn_plan_step *steps, Py_ssize_t count, float *const *table)

    int pynn_hash_buckets(const unsigned char *data, const int64_t *offsets, Py_ssize_t n,
                          int64_t num_buckets, int keyed, uint64_t k0, uint64_t k1,
                          int64_t *out)
    int pynn_hash_int64_buckets(const int64_t *values, Py_ssize_t n, int64_t num_buckets,
                                int keyed, uint64_t k0, uint64_t k1, int64_t *out)
    int pynn_fingerprint64_strings(const unsigned char *data, const int64_t *offsets,
                                   Py_ssize_t n, uint64_t *out)


pynn_cpu_init()

# ------------------------------------------------------------------ checks

cdef inline cnp.ndarray _arr(object a, str name):
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name}: expected a NumPy array, got {type(a).__name__}")
    return <cnp.ndarray>a


cdef float *_f32(object a, str name, bint writable=False) except NULL:
    """Pointer to a C-contiguous float32 array's data, after checking it."""
    cdef cnp.ndarray arr = _arr(a, name)
    if cnp.PyArray_TYPE(arr) != cnp.NPY_FLOAT32:
        raise TypeError(f"{name}: expected float32, got {arr.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{name}: expected a C-contiguous array")
    if writable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name}: array is read-only")
    return <float *>cnp.PyArray_DATA(arr)


cdef float *_f32_or_null(object a, str name, Py_ssize_t size) except? NULL:
    if a is None:
        return NULL
    cdef float *p = _f32(a, name)
    if (<cnp.ndarray>a).size != size:
        raise ValueError(f"{name}: expected {size} elements, got {(<cnp.ndarray>a).size}")
    return p


cdef inline Py_ssize_t _cols(cnp.ndarray a):
    """Length of the last axis (1 for a 0-d array)."""
    cdef int nd = cnp.PyArray_NDIM(a)
    return cnp.PyArray_DIMS(a)[nd - 1] if nd > 0 else 1


cdef int _same_size(cnp.ndarray a, cnp.ndarray b, str what) except -1:
    if a.size != b.size:
        raise ValueError(f"{what}: sizes differ ({a.size} vs {b.size})")
    return 0


cdef int _status(int err, str name) except -1:
    """Raises for a kernel's failure status (enum pynn_status)."""
    if err == -1:
        raise MemoryError(f"{name}: cannot allocate the work buffer")
    if err == -2:
        raise ValueError(f"{name}: the kernel refused the shape (a size of zero where one "
                         f"is needed, a negative size, or sizes whose product overflows)")
    return 0

# ------------------------------------------------------------------- cpu.c

def simd_level():
    return pynn_cpu_simd_level().decode()

def get_num_threads():
    return pynn_get_num_threads()

def set_num_threads(int n):
    if n < 1:
        raise ValueError(f"set_num_threads: expected n >= 1, got {n}")
    pynn_set_num_threads(n)

def have_openmp():
    return bool(pynn_have_openmp())

# ------------------------------------------------------------------ gemm.c

cdef int _gemm_operand(cnp.ndarray a, Py_ssize_t *ld) except -2:
    """0 for row-major, 1 for a transposed view (column-major), -1 when the
    strides fit neither and the caller must copy.  Sets *ld in elements."""
    cdef Py_ssize_t r = cnp.PyArray_DIMS(a)[0], c = cnp.PyArray_DIMS(a)[1]
    cdef Py_ssize_t s0 = cnp.PyArray_STRIDES(a)[0], s1 = cnp.PyArray_STRIDES(a)[1]
    if (s1 == 4 or c <= 1) and s0 % 4 == 0 and (s0 >= 4 * c or r <= 1):
        ld[0] = s0 // 4 if r > 1 else (c if c > 0 else 1)
        return 0
    if (s0 == 4 or r <= 1) and s1 % 4 == 0 and (s1 >= 4 * r or c <= 1):
        ld[0] = s1 // 4 if c > 1 else (r if r > 0 else 1)
        return 1
    return -1


def gemm_layout(a):
    """(trans, ld) for a 2-D float32 array usable without a copy, else None."""
    cdef Py_ssize_t ld = 0
    cdef cnp.ndarray arr = _arr(a, "gemm_layout")
    if cnp.PyArray_NDIM(arr) != 2 or cnp.PyArray_TYPE(arr) != cnp.NPY_FLOAT32:
        return None
    cdef int t = _gemm_operand(arr, &ld)
    return None if t < 0 else (t, ld)


# A large product's C starts on a cache line: NumPy's blocks start 16
# bytes into one, so each row of a C tile was stored across two lines,
# k / KC times over (512^3 and 1024^3 products: 1-2.5 % slower).  Below
# this size the view's cost (0.1-0.2 us) would not pay.
cdef Py_ssize_t _ALIGNED_OUT_MIN = 1 << 16


def aligned_empty(shape, dtype=np.float32):
    """An uninitialized C-ordered array whose data starts on a 64-byte
    boundary (a cache line, an AVX-512 register).  NumPy's large arrays
    start 16 bytes past one (malloc's header), so every second AVX2 load
    of a weight matrix's rows was split over two lines: one sample
    through a 784 x 128 Dense layer took 4.4 us on AVX2 from an array
    NumPy allocated, 3.5 us from an aligned one.  Weights, fit's and
    apply_gradients' flat parameters, work buffers, the inference plan's
    arena and large products' outputs are made with it (backend's
    ``aligned_empty``)."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    count = 1
    for d in shape:
        count *= int(d)
    pad = 64 // dtype.itemsize
    raw = np.empty(count + pad, dtype)
    skip = (-raw.ctypes.data) % 64 // dtype.itemsize
    return raw[skip:skip + count].reshape(shape)


def sgemm(a, b, out, float alpha=1.0, float beta=0.0):
    """out = alpha * a @ b + beta * out.  a and b may be transposed views of
    C-contiguous arrays (no copy); out must be C-contiguous, or None for a
    new array (then beta must be 0): a small product's caller saves
    allocating it in Python."""
    cdef cnp.ndarray A = _arr(a, "matmul: a"), B = _arr(b, "matmul: b")
    if cnp.PyArray_NDIM(A) != 2 or cnp.PyArray_NDIM(B) != 2:
        raise ValueError("matmul: expected 2-D arrays")
    if cnp.PyArray_TYPE(A) != cnp.NPY_FLOAT32:
        raise TypeError(f"matmul: a must be float32, got {(<object>A).dtype}")
    if cnp.PyArray_TYPE(B) != cnp.NPY_FLOAT32:
        raise TypeError(f"matmul: b must be float32, got {(<object>B).dtype}")
    cdef Py_ssize_t m = cnp.PyArray_DIMS(A)[0], k = cnp.PyArray_DIMS(A)[1]
    cdef Py_ssize_t n = cnp.PyArray_DIMS(B)[1]
    if cnp.PyArray_DIMS(B)[0] != k:
        raise ValueError(f"matmul: shapes {(<object>A).shape} and {(<object>B).shape} do not align")
    cdef cnp.npy_intp dims[2]
    if out is None:
        if beta != 0.0:
            raise ValueError("matmul: beta needs an out array to accumulate into")
        if m > 0 and n > ((<Py_ssize_t>1) << 32) // m:
            raise ValueError(f"matmul: a ({m}, {n}) product is too large")
        if m * n >= _ALIGNED_OUT_MIN:
            out = aligned_empty((m, n))
        else:
            dims[0] = m
            dims[1] = n
            out = cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32, 0)
    cdef cnp.ndarray C = _arr(out, "matmul: out")
    if cnp.PyArray_NDIM(C) != 2:
        raise ValueError("matmul: expected 2-D arrays")
    cdef float *c = _f32(out, "matmul: out", True)
    if cnp.PyArray_DIMS(C)[0] != m or cnp.PyArray_DIMS(C)[1] != n:
        raise ValueError(f"matmul: out has shape {(<object>C).shape}, expected ({m}, {n})")
    cdef Py_ssize_t lda = 0, ldb = 0
    cdef int ta = _gemm_operand(A, &lda), tb = _gemm_operand(B, &ldb)
    if ta < 0:  # neither row- nor column-major (a strided slice): copy
        A = cnp.PyArray_GETCONTIGUOUS(A)
        ta = _gemm_operand(A, &lda)
    if tb < 0:
        B = cnp.PyArray_GETCONTIGUOUS(B)
        tb = _gemm_operand(B, &ldb)
    cdef const float *pa = <const float *>cnp.PyArray_DATA(A)
    cdef const float *pb = <const float *>cnp.PyArray_DATA(B)
    cdef Py_ssize_t ldc = n if n > 0 else 1
    if m == 0 or n == 0:
        return out
    if m * n <= 32768 and m * n * k <= 32768:
        # Under a microsecond of work: releasing and taking back the GIL
        # would cost a fifth of it.
        pynn_sgemm(ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, c, ldc)
        return out
    with nogil:
        pynn_sgemm(ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, c, ldc)
    return out



def dense_forward(x, w, bias, int act, float alpha, out):
    """out = act(x @ w + bias) for 2-D x (rows x in) and w (in x units):
    the GEMM and the fused bias/activation pass in one call."""
    cdef cnp.ndarray X = _arr(x, "Dense: input"), W = _arr(w, "Dense: kernel")
    cdef const float *px = _f32(x, "Dense: input")
    cdef const float *pw = _f32(w, "Dense: kernel")
    cdef float *po = _f32(out, "Dense: out", True)
    if cnp.PyArray_NDIM(X) != 2 or cnp.PyArray_NDIM(W) != 2:
        raise ValueError("Dense: expected a 2-D input and kernel")
    cdef Py_ssize_t m = cnp.PyArray_DIMS(X)[0], k = cnp.PyArray_DIMS(X)[1]
    cdef Py_ssize_t n = cnp.PyArray_DIMS(W)[1]
    if cnp.PyArray_DIMS(W)[0] != k:
        raise ValueError(f"Dense: input has {k} features, the kernel expects "
                         f"{cnp.PyArray_DIMS(W)[0]}")
    if (<cnp.ndarray>out).size != m * n:
        raise ValueError(f"Dense: out must hold {m}x{n} values")
    cdef const float *pb = _f32_or_null(bias, "Dense: bias", n)
    if m == 0 or n == 0:
        return out
    with nogil:
        pynn_sgemm(0, 0, m, n, k, 1.0, px, k, pw, n, 0.0, po, n)
        if act != 0 or pb != NULL:
            pynn_bias_activation_forward(act, alpha, po, pb, po, m, n)
    return out


def dense_backward(x, w, pre, y, dy, int act, float alpha, dw, db, dx, dact):
    """Backward of out = act(x @ w + b) in one call: g = dy * act'(.) into
    dact (skipped for linear), dw = x.T @ g, db = sum(g) (db may be None),
    dx = g @ w.T (dx may be None when the input needs no gradient).  pre is
    the pre-activation, needed only by the activations that read x."""
    cdef cnp.ndarray X = _arr(x, "Dense backward: x"), W = _arr(w, "Dense backward: kernel")
    cdef const float *px = _f32(x, "Dense backward: x")
    cdef const float *pw = _f32(w, "Dense backward: kernel")
    cdef const float *pdy = _f32(dy, "Dense backward: dy")
    cdef float *pdw = NULL
    if dw is not None:
        pdw = _f32(dw, "Dense backward: kernel gradient", True)
    if cnp.PyArray_NDIM(X) != 2 or cnp.PyArray_NDIM(W) != 2:
        raise ValueError("Dense backward: expected a 2-D input and kernel")
    cdef Py_ssize_t m = cnp.PyArray_DIMS(X)[0], k = cnp.PyArray_DIMS(X)[1]
    cdef Py_ssize_t n = cnp.PyArray_DIMS(W)[1]
    if cnp.PyArray_DIMS(W)[0] != k or (<cnp.ndarray>dy).size != m * n \
            or (dw is not None and (<cnp.ndarray>dw).size != k * n):
        raise ValueError(f"Dense backward: shapes do not fit: x {(<object>X).shape}, "
                         f"kernel {(<object>W).shape}, dy {dy.shape}, "
                         f"dw {None if dw is None else dw.shape}")
    cdef const float *pg = pdy
    cdef const float *pre_p = NULL
    cdef const float *py = NULL
    cdef float *pdact = NULL
    if act != 0:
        py = _f32(y, "Dense backward: y")
        pdact = _f32(dact, "Dense backward: work", True)
        _same_size(<cnp.ndarray>dy, <cnp.ndarray>y, "Dense backward: y")
        _same_size(<cnp.ndarray>dy, <cnp.ndarray>dact, "Dense backward: work")
        pre_p = _f32_or_null(pre, "Dense backward: pre-activation", m * n)
        pg = pdact
    cdef float *pdb = NULL
    if db is not None:
        pdb = _f32(db, "Dense backward: bias gradient", True)
        if (<cnp.ndarray>db).size != n:
            raise ValueError(f"Dense backward: bias gradient must hold {n} values")
    cdef float *pdx = NULL
    if dx is not None:
        pdx = _f32(dx, "Dense backward: dx", True)
        if (<cnp.ndarray>dx).size != m * k:
            raise ValueError(f"Dense backward: dx must hold {m}x{k} values")
    if m == 0:  # no samples: the weight gradients are zero, not left as they were
        if dw is not None:
            dw.fill(0)
        if db is not None:
            db.fill(0)
        return dx
    with nogil:
        if act != 0:
            pynn_activation_backward(act, alpha, pre_p, py, pdy, pdact, m, n)
        if pdw != NULL:
            pynn_sgemm(1, 0, k, n, m, 1.0, px, k, pg, n, 0.0, pdw, n)
        if pdb != NULL:
            pynn_bias_grad(pg, pdb, m, n)
        if pdx != NULL:
            pynn_sgemm(0, 1, m, k, n, 1.0, pg, n, pw, n, 0.0, pdx, k)
    return dx

# ------------------------------------------------------------------ conv.c

cdef int _dims4(object a, str name, Py_ssize_t *d) except -1:
    cdef cnp.ndarray A = _arr(a, name)
    if cnp.PyArray_NDIM(A) != 4:
        raise ValueError(f"{name}: expected a 4-D array, got shape {(<object>A).shape}")
    cdef int i
    for i in range(4):
        d[i] = cnp.PyArray_DIMS(A)[i]
    return 0


cdef int _conv_shape(x, k, y, tuple geometry, bint depthwise, str name,
                     pynn_conv_shape *s) except -1:
    """Fills s from x (NHWC), k (HWIO), y (the output) and geometry
    (sh, sw, dh, dw, pad_top, pad_left), checking they agree."""
    cdef Py_ssize_t xd[4]
    cdef Py_ssize_t kd[4]
    cdef Py_ssize_t yd[4]
    _dims4(x, f"{name}: input", xd)
    _dims4(k, f"{name}: kernel", kd)
    _dims4(y, f"{name}: output", yd)
    s.n, s.h, s.w, s.cin = xd[0], xd[1], xd[2], xd[3]
    s.kh, s.kw, s.cout = kd[0], kd[1], kd[3]
    s.sh, s.sw, s.dh, s.dw, s.pad_top, s.pad_left = geometry
    s.oh, s.ow = yd[1], yd[2]
    cdef Py_ssize_t channels = s.cin * s.cout if depthwise else s.cout
    if kd[2] != s.cin:
        raise ValueError(f"{name}: kernel of shape {(<object>k).shape} expects {kd[2]} input "
                         f"channels, the input of shape {(<object>x).shape} has {s.cin}")
    if yd[0] != s.n or yd[3] != channels:
        raise ValueError(f"{name}: output of shape {(<object>y).shape} does not fit input "
                         f"{(<object>x).shape} and kernel {(<object>k).shape}")
    if min(s.sh, s.sw, s.dh, s.dw) < 1 or min(s.pad_top, s.pad_left) < 0 or \
            min(s.kh, s.kw, s.oh, s.ow) < 1:
        raise ValueError(f"{name}: invalid geometry {geometry} for kernel {(<object>k).shape}")
    return 0


def conv2d_forward(x, k, bias, tuple geometry, int act, float alpha, y, bint depthwise=False):
    """y = act(conv(x, k) + bias); geometry = (sh, sw, dh, dw, pad_top, pad_left)."""
    name = "depthwise_conv2d" if depthwise else "conv2d"
    cdef pynn_conv_shape s
    cdef const float *px = _f32(x, f"{name}: input")
    cdef const float *pk = _f32(k, f"{name}: kernel")
    cdef float *py = _f32(y, f"{name}: output", True)
    _conv_shape(x, k, y, geometry, depthwise, name, &s)
    cdef const float *pb = _f32_or_null(bias, f"{name}: bias", _cols(<cnp.ndarray>y))
    cdef int err
    if (<cnp.ndarray>y).size == 0:
        return y
    with nogil:
        if depthwise:
            err = pynn_depthwise_conv2d_forward(&s, px, pk, pb, act, alpha, py)
        else:
            err = pynn_conv2d_forward(&s, px, pk, pb, act, alpha, py)
    _status(err, name)
    return y


cdef float *_kernel_grad(k, dk, str name) except? NULL:
    """A convolution's kernel gradient buffer (NULL for None), checked
    against the kernel's size."""
    if dk is None:
        return NULL
    cdef float *p = _f32(dk, f"{name}: kernel gradient", True)
    _same_size(<cnp.ndarray>k, <cnp.ndarray>dk, f"{name}: kernel gradient")
    return p


cdef float *_bias_grad(db, Py_ssize_t channels, str name) except? NULL:
    """A convolution's bias gradient buffer (NULL for None) of `channels`
    values."""
    if db is None:
        return NULL
    cdef float *p = _f32(db, f"{name}: bias gradient", True)
    if (<cnp.ndarray>db).size != channels:
        raise ValueError(f"{name}: bias gradient has {(<cnp.ndarray>db).size} elements, "
                         f"expected {channels}")
    return p


def conv2d_backward(x, k, dy, dk, db, dx, tuple geometry, bint depthwise=False,
                    int act=0, float alpha=0.0, pre=None, y=None):
    """Gradients of a convolution from dy, the gradient of its output
    y = act(pre) (the depthwise one takes no activation); dk, db and dx may
    each be None.  pre is needed only by the activations whose derivative
    reads it."""
    name = "depthwise_conv2d backward" if depthwise else "conv2d backward"
    cdef pynn_conv_shape s
    cdef const float *px = _f32(x, f"{name}: input")
    cdef const float *pk = _f32(k, f"{name}: kernel")
    cdef const float *pdy = _f32(dy, f"{name}: dy")
    _conv_shape(x, k, dy, geometry, depthwise, name, &s)
    cdef float *pdk = _kernel_grad(k, dk, name)
    cdef float *pdb = _bias_grad(db, _cols(<cnp.ndarray>dy), name)
    cdef float *pdx = NULL
    if dx is not None:
        pdx = _f32(dx, f"{name}: input gradient", True)
        _same_size(<cnp.ndarray>x, <cnp.ndarray>dx, f"{name}: input gradient")
    cdef const float *ppre = NULL
    cdef const float *py = NULL
    if act != 0:
        if depthwise:
            raise ValueError(f"{name}: takes no activation")
        py = _f32(y, f"{name}: y")
        _same_size(<cnp.ndarray>dy, <cnp.ndarray>y, f"{name}: y")
        ppre = _f32_or_null(pre, f"{name}: pre-activation", (<cnp.ndarray>dy).size)
        if ppre == NULL and act in (2, 3, 7, 8, 11):
            raise ValueError(f"{name}: this activation's derivative needs the pre-activation")
    cdef int err
    with nogil:
        if depthwise:
            err = pynn_depthwise_conv2d_backward(&s, px, pk, pdy, pdk, pdb, pdx)
        else:
            err = pynn_conv2d_backward(&s, px, pk, act, alpha, ppre, py, pdy, pdk, pdb, pdx)
    _status(err, name)

# ------------------------------------------------------------------ pool.c

cdef int _pool_shape(x, y, tuple window, str name, pynn_pool_shape *s) except -1:
    """Fills s from x, y and window (ph, pw, sh, sw, pad_top, pad_left),
    checking that every window holds at least one input pixel."""
    cdef Py_ssize_t xd[4]
    cdef Py_ssize_t yd[4]
    _dims4(x, f"{name}: input", xd)
    _dims4(y, f"{name}: output", yd)
    s.n, s.h, s.w, s.c = xd[0], xd[1], xd[2], xd[3]
    s.ph, s.pw, s.sh, s.sw, s.pad_top, s.pad_left = window
    s.oh, s.ow = yd[1], yd[2]
    if yd[0] != s.n or yd[3] != s.c:
        raise ValueError(f"{name}: output of shape {(<object>y).shape} does not fit input "
                         f"{(<object>x).shape}")
    if min(s.ph, s.pw, s.sh, s.sw) < 1 or min(s.pad_top, s.pad_left) < 0 or \
            s.pad_top >= s.ph or s.pad_left >= s.pw or \
            (s.oh - 1) * s.sh - s.pad_top >= s.h or (s.ow - 1) * s.sw - s.pad_left >= s.w:
        raise ValueError(f"{name}: window {window} leaves an output of shape "
                         f"{(<object>y).shape} with windows outside input {(<object>x).shape}")
    if s.h * s.w * s.c >= 2**31:
        raise ValueError(f"{name}: one sample of shape {(<object>x).shape[1:]} is too large")
    return 0


def max_pool2d_forward(x, tuple window, y):
    cdef pynn_pool_shape s
    cdef const float *px = _f32(x, "max_pool2d: input")
    cdef float *py = _f32(y, "max_pool2d: output", True)
    _pool_shape(x, y, window, "max_pool2d", &s)
    cdef int err
    with nogil:
        err = pynn_max_pool2d_forward(&s, px, py)
    _status(err, "max_pool2d")
    return y


def max_pool2d_backward(x, y, dy, tuple window, dx):
    """dx from dy, the forward pass's input x and its output y."""
    cdef pynn_pool_shape s
    cdef const float *px = _f32(x, "max_pool2d backward: x")
    cdef const float *py = _f32(y, "max_pool2d backward: y")
    cdef const float *pdy = _f32(dy, "max_pool2d backward: dy")
    cdef float *pdx = _f32(dx, "max_pool2d backward: dx", True)
    _pool_shape(x, dy, window, "max_pool2d backward", &s)
    _same_size(<cnp.ndarray>dy, <cnp.ndarray>y, "max_pool2d backward: y and dy")
    _same_size(<cnp.ndarray>x, <cnp.ndarray>dx, "max_pool2d backward: x and dx")
    cdef int err
    with nogil:
        err = pynn_max_pool2d_backward(&s, px, py, pdy, pdx)
    _status(err, "max_pool2d backward")
    return dx


def conv2d_pooled_backward(x, k, y, pool_y, pool_dy, dk, db, tuple geometry, tuple window,
                           int act):
    """dk and db of a convolution (input x, kernel k, output y = act(...))
    whose only reader is a max pooling (window; output pool_y), from
    pool_dy, the gradient of the pooling's output, without the pooling's
    input gradient.  False, with nothing written, where the fused kernel
    does not take these shapes: the caller then runs the two passes."""
    name = "conv2d backward through max_pool2d"
    cdef pynn_conv_shape s
    cdef pynn_pool_shape p
    cdef const float *px = _f32(x, f"{name}: input")
    _f32(k, f"{name}: kernel")
    cdef const float *py = _f32(y, f"{name}: y")
    cdef const float *ppy = _f32(pool_y, f"{name}: pooled y")
    cdef const float *ppdy = _f32(pool_dy, f"{name}: pooled dy")
    _conv_shape(x, k, y, geometry, False, name, &s)
    _pool_shape(y, pool_y, window, name, &p)
    _same_size(<cnp.ndarray>pool_y, <cnp.ndarray>pool_dy, f"{name}: pooled y and dy")
    cdef float *pdk = _kernel_grad(k, dk, name)
    cdef float *pdb = _bias_grad(db, s.cout, name)
    if not pynn_conv2d_pooled_backward_fits(&s, &p, act):
        return False
    cdef int err
    with nogil:
        err = pynn_conv2d_pooled_backward(&s, &p, px, act, py, ppy, ppdy, pdk, pdb)
    _status(err, name)
    return True


def avg_pool2d_forward(x, tuple window, y):
    cdef pynn_pool_shape s
    cdef const float *px = _f32(x, "avg_pool2d: input")
    cdef float *py = _f32(y, "avg_pool2d: output", True)
    _pool_shape(x, y, window, "avg_pool2d", &s)
    cdef int err
    with nogil:
        err = pynn_avg_pool2d_forward(&s, px, py)
    _status(err, "avg_pool2d")
    return y


def avg_pool2d_backward(dy, tuple window, dx):
    cdef pynn_pool_shape s
    cdef const float *pdy = _f32(dy, "avg_pool2d backward: dy")
    cdef float *pdx = _f32(dx, "avg_pool2d backward: dx", True)
    _pool_shape(dx, dy, window, "avg_pool2d backward", &s)
    cdef int err
    with nogil:
        err = pynn_avg_pool2d_backward(&s, pdy, pdx)
    _status(err, "avg_pool2d backward")
    return dx

# --------------------------------------------------------- normalization.c

cdef Py_ssize_t _rows_cols(cnp.ndarray x, Py_ssize_t *cols):
    cols[0] = _cols(x)
    return x.size // cols[0] if cols[0] > 0 else 0


def moments(x, mean, var):
    """Per-channel (last axis) mean and biased variance of x."""
    cdef const float *px = _f32(x, "moments: x")
    cdef Py_ssize_t cols
    cdef Py_ssize_t rows = _rows_cols(<cnp.ndarray>x, &cols)
    cdef float *pm = _f32_or_null(mean, "moments: mean", cols)
    cdef float *pv = _f32_or_null(var, "moments: variance", cols)
    if pm == NULL or pv == NULL or not (<cnp.ndarray>mean).flags.writeable or \
            not (<cnp.ndarray>var).flags.writeable:
        raise ValueError("moments: writable mean and variance arrays are required")
    with nogil:
        pynn_moments(px, rows, cols, pm, pv)
    return mean, var


def channel_affine(x, scale, shift, y):
    """y = x * scale + shift over the last axis."""
    cdef const float *px = _f32(x, "channel_affine: x")
    cdef float *py = _f32(y, "channel_affine: out", True)
    _same_size(<cnp.ndarray>x, <cnp.ndarray>y, "channel_affine")
    cdef Py_ssize_t cols
    cdef Py_ssize_t rows = _rows_cols(<cnp.ndarray>x, &cols)
    cdef const float *ps = _f32_or_null(scale, "channel_affine: scale", cols)
    cdef const float *pt = _f32_or_null(shift, "channel_affine: shift", cols)
    if ps == NULL or pt == NULL:
        raise ValueError("channel_affine: scale and shift are required")
    with nogil:
        pynn_channel_affine(px, ps, pt, py, rows, cols)
    return y


def batchnorm_backward(x, dy, mean, inv_std, gamma, dx, dgamma, dbeta):
    cdef const float *px = _f32(x, "BatchNormalization backward: x")
    cdef const float *pdy = _f32(dy, "BatchNormalization backward: dy")
    _same_size(<cnp.ndarray>x, <cnp.ndarray>dy, "BatchNormalization backward")
    cdef Py_ssize_t cols
    cdef Py_ssize_t rows = _rows_cols(<cnp.ndarray>x, &cols)
    cdef const float *pm = _f32_or_null(mean, "BatchNormalization backward: mean", cols)
    cdef const float *pi = _f32_or_null(inv_std, "BatchNormalization backward: inv_std", cols)
    if pm == NULL or pi == NULL:
        raise ValueError("BatchNormalization backward: mean and inv_std are required")
    cdef const float *pg = _f32_or_null(gamma, "BatchNormalization backward: gamma", cols)
    cdef float *pdx = NULL
    cdef float *pdg = NULL
    cdef float *pdb = NULL
    if dx is not None:
        pdx = _f32(dx, "BatchNormalization backward: dx", True)
        _same_size(<cnp.ndarray>x, <cnp.ndarray>dx, "BatchNormalization backward: dx")
    if dgamma is not None:
        pdg = _f32(dgamma, "BatchNormalization backward: gamma gradient", True)
        _f32_or_null(dgamma, "BatchNormalization backward: gamma gradient", cols)
    if dbeta is not None:
        pdb = _f32(dbeta, "BatchNormalization backward: beta gradient", True)
        _f32_or_null(dbeta, "BatchNormalization backward: beta gradient", cols)
    cdef int err
    with nogil:
        err = pynn_batchnorm_backward(px, pdy, pm, pi, pg, pdx, pdg, pdb, rows, cols)
    if err:
        raise MemoryError("BatchNormalization backward: cannot allocate the work buffer")
    return dx

# ------------------------------------------------------------ activation.c

def bias_activation(int act, float alpha, x, bias, y):
    """y = act(x + bias) over the last axis; y may be x."""
    cdef const float *px = _f32(x, "activation: x")
    cdef float *py = _f32(y, "activation: out", True)
    cdef cnp.ndarray X = <cnp.ndarray>x
    _same_size(X, <cnp.ndarray>y, "activation")
    cdef Py_ssize_t cols = _cols(X)
    cdef Py_ssize_t rows = X.size // cols if cols > 0 else 0
    cdef const float *pb = _f32_or_null(bias, "activation: bias", cols)
    if X.size == 0:
        return y
    with nogil:
        pynn_bias_activation_forward(act, alpha, px, pb, py, rows, cols)
    return y


def activation_backward(int act, float alpha, x, y, dy, dx):
    """dx = dy * act'(x); y is the forward output.  x may be None for the
    activations whose derivative needs only y."""
    cdef cnp.ndarray Y = _arr(y, "activation backward: y")
    cdef const float *py = _f32(y, "activation backward: y")
    cdef const float *pdy = _f32(dy, "activation backward: dy")
    cdef float *pdx = _f32(dx, "activation backward: dx", True)
    cdef const float *px = _f32_or_null(x, "activation backward: x", Y.size)
    _same_size(Y, <cnp.ndarray>dy, "activation backward")
    _same_size(Y, <cnp.ndarray>dx, "activation backward")
    cdef Py_ssize_t cols = _cols(Y)
    cdef Py_ssize_t rows = Y.size // cols if cols > 0 else 0
    if Y.size == 0:
        return dx
    with nogil:
        pynn_activation_backward(act, alpha, px, py, pdy, pdx, rows, cols)
    return dx


def bias_grad(dy, db):
    """db = dy summed over every axis but the last."""
    cdef const float *pdy = _f32(dy, "bias grad: dy")
    cdef float *pdb = _f32(db, "bias grad: out", True)
    cdef cnp.ndarray D = <cnp.ndarray>dy
    cdef Py_ssize_t cols = _cols(D)
    if (<cnp.ndarray>db).size != cols:
        raise ValueError(f"bias grad: out has {(<cnp.ndarray>db).size} elements, expected {cols}")
    cdef Py_ssize_t rows = D.size // cols if cols > 0 else 0
    with nogil:
        pynn_bias_grad(pdy, pdb, rows, cols)
    return db

# ------------------------------------------------------------------ loss.c

cdef int _loss_outputs(cnp.ndarray P, Py_ssize_t rows, sample_loss, weights, grad,
                       float **ps, const float **pw, float **pg) except -1:
    """Checks a loss's outputs (one value per sample, the gradient shaped as
    the predictions) and its optional sample weights."""
    ps[0] = _f32(sample_loss, "loss: out", True)
    if (<cnp.ndarray>sample_loss).size != rows:
        raise ValueError("loss: out must hold one value per sample")
    pw[0] = _f32_or_null(weights, "loss: sample_weight", rows)
    pg[0] = NULL
    if grad is not None:
        pg[0] = _f32(grad, "loss: grad", True)
        _same_size(P, <cnp.ndarray>grad, "loss: grad")
    return 0

def loss(int kind, pred, target, weights, float scale, sample_loss, grad):
    cdef cnp.ndarray P = _arr(pred, "loss: y_pred")
    cdef const float *pp = _f32(pred, "loss: y_pred")
    cdef const float *pt = _f32(target, "loss: y_true")
    _same_size(P, <cnp.ndarray>target, "loss: y_true and y_pred")
    cdef Py_ssize_t cols = _cols(P)
    cdef Py_ssize_t rows = P.size // cols if cols > 0 else 0
    cdef float *ps
    cdef const float *pw
    cdef float *pg
    _loss_outputs(P, rows, sample_loss, weights, grad, &ps, &pw, &pg)
    with nogil:
        pynn_loss(kind, pp, pt, pw, scale, ps, pg, rows, cols)
    return sample_loss


def sparse_loss(bint from_logits, pred, labels, weights, float scale, sample_loss, grad):
    cdef cnp.ndarray P = _arr(pred, "loss: y_pred")
    cdef const float *pp = _f32(pred, "loss: y_pred")
    cdef cnp.ndarray L = _arr(labels, "loss: y_true")
    if cnp.PyArray_TYPE(L) != cnp.NPY_INT32 or not cnp.PyArray_IS_C_CONTIGUOUS(L):
        raise TypeError("loss: labels must be a C-contiguous int32 array")
    cdef Py_ssize_t cols = _cols(P)
    cdef Py_ssize_t rows = P.size // cols if cols > 0 else 0
    if L.size != rows:
        raise ValueError(f"loss: {L.size} labels for {rows} predictions")
    cdef float *ps
    cdef const float *pw
    cdef float *pg
    _loss_outputs(P, rows, sample_loss, weights, grad, &ps, &pw, &pg)
    cdef const int32_t *pl = <const int32_t *>cnp.PyArray_DATA(L)
    cdef Py_ssize_t bad
    with nogil:
        bad = pynn_sparse_loss(from_logits, pp, pl, pw, scale, ps, pg, rows, cols)
    if bad:
        raise ValueError(f"sparse_categorical_crossentropy: {bad} label(s) outside "
                         f"[0, {cols}) for an output of {cols} classes")
    return sample_loss


def accuracy(int kind, pred, target, weights, float threshold=0.5):
    """Weighted count of correct predictions (see enum pynn_accuracy)."""
    cdef cnp.ndarray P = _arr(pred, "accuracy: y_pred"), T = _arr(target, "accuracy: y_true")
    cdef const float *pp = _f32(pred, "accuracy: y_pred")
    cdef Py_ssize_t cols = _cols(P)
    cdef Py_ssize_t rows = P.size // cols if cols > 0 else 0
    if kind == 1:
        if cnp.PyArray_TYPE(T) != cnp.NPY_INT32 or not cnp.PyArray_IS_C_CONTIGUOUS(T):
            raise TypeError("accuracy: labels must be a C-contiguous int32 array")
        if T.size != rows:
            raise ValueError(f"accuracy: {T.size} labels for {rows} predictions")
    else:
        _f32(target, "accuracy: y_true")
        _same_size(P, T, "accuracy: y_true and y_pred")
    cdef const float *pw = _f32_or_null(weights, "accuracy: sample_weight", rows)
    cdef const void *pt = cnp.PyArray_DATA(T)
    cdef double r
    with nogil:
        r = pynn_accuracy(kind, pp, pt, pw, rows, cols, threshold)
    return r

# ----------------------------------------------------------------- optim.c

def sgd_update(w, g, v, float lr, float momentum, bint nesterov):
    cdef float *pw = _f32(w, "SGD: variable", True)
    cdef const float *pg = _f32(g, "SGD: gradient")
    cdef cnp.ndarray W = <cnp.ndarray>w
    _same_size(W, <cnp.ndarray>g, "SGD: variable and gradient")
    cdef float *pv = NULL
    if v is not None:
        pv = _f32(v, "SGD: momentum", True)
        _same_size(W, <cnp.ndarray>v, "SGD: variable and momentum")
    with nogil:
        pynn_sgd_update(pw, pg, pv, W.size, lr, momentum, nesterov)


def rmsprop_update(w, g, s, m, mg, float lr, float rho, float momentum, float eps):
    """m (momentum) and mg (centered mean gradient) may be None."""
    cdef float *pw = _f32(w, "RMSprop: variable", True)
    cdef const float *pg = _f32(g, "RMSprop: gradient")
    cdef float *ps = _f32(s, "RMSprop: velocity", True)
    cdef float *pm = NULL
    cdef float *pmg = NULL
    cdef cnp.ndarray W = <cnp.ndarray>w
    _same_size(W, <cnp.ndarray>g, "RMSprop: variable and gradient")
    _same_size(W, <cnp.ndarray>s, "RMSprop: variable and velocity")
    if m is not None:
        pm = _f32(m, "RMSprop: momentum", True)
        _same_size(W, <cnp.ndarray>m, "RMSprop: variable and momentum")
    if mg is not None:
        pmg = _f32(mg, "RMSprop: average gradient", True)
        _same_size(W, <cnp.ndarray>mg, "RMSprop: variable and average gradient")
    with nogil:
        pynn_rmsprop_update(pw, pg, ps, pm, pmg, W.size, lr, rho, momentum, eps)


def weight_penalty(w, g, float l1, float l2):
    """sum(l1 |w| + l2 w^2); adds its gradient to g unless g is None."""
    cdef const float *pw = _f32(w, "regularizer: weight")
    cdef float *pg = NULL
    if g is not None:
        pg = _f32(g, "regularizer: gradient", True)
        _same_size(<cnp.ndarray>w, <cnp.ndarray>g, "regularizer: weight and gradient")
    cdef Py_ssize_t n = (<cnp.ndarray>w).size
    cdef double total
    with nogil:
        total = pynn_weight_penalty(pw, pg, n, l1, l2)
    return total


def adam_update(w, g, m, v, float lr, float beta1, float beta2, float eps, int64_t t):
    cdef float *pw = _f32(w, "Adam: variable", True)
    cdef const float *pg = _f32(g, "Adam: gradient")
    cdef float *pm = _f32(m, "Adam: momentum", True)
    cdef float *pv = _f32(v, "Adam: velocity", True)
    cdef cnp.ndarray W = <cnp.ndarray>w
    _same_size(W, <cnp.ndarray>g, "Adam: variable and gradient")
    _same_size(W, <cnp.ndarray>m, "Adam: variable and momentum")
    _same_size(W, <cnp.ndarray>v, "Adam: variable and velocity")
    if t < 1:
        raise ValueError(f"Adam: step must be >= 1, got {t}")
    with nogil:
        pynn_adam_update(pw, pg, pm, pv, W.size, lr, beta1, beta2, eps, t)

# ------------------------------------------------------------- recurrent.c

cdef float *_f32_sized(object a, str name, Py_ssize_t size, bint writable=False) except NULL:
    """A C-contiguous float32 array of exactly `size` elements."""
    cdef float *p = _f32(a, name, writable)
    if (<cnp.ndarray>a).size != size:
        raise ValueError(f"{name}: expected {size} elements, got {(<cnp.ndarray>a).size}")
    return p


cdef const uint8_t *_mask_u8(object m, str name, Py_ssize_t size) except? NULL:
    """A C-contiguous uint8 or bool mask of `size` elements, or NULL for None."""
    if m is None:
        return NULL
    cdef cnp.ndarray M = _arr(m, name)
    if cnp.PyArray_TYPE(M) not in (cnp.NPY_UINT8, cnp.NPY_BOOL):
        raise TypeError(f"{name}: expected a bool or uint8 array, got {M.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(M):
        raise ValueError(f"{name}: expected a C-contiguous array")
    if M.size != size:
        raise ValueError(f"{name}: expected {size} elements, got {M.size}")
    return <const uint8_t *>cnp.PyArray_DATA(M)


cdef int _rnn_desc(tuple desc, pynn_rnn_desc *d) except -1:
    """desc: (cell, batch, steps, input, units, act, rec_act, reset_after,
    go_backwards, return_sequences, zero_masked_outputs, training)."""
    (d.cell, d.batch, d.steps, d.input, d.units, d.act, d.rec_act, d.reset_after,
     d.go_backwards, d.return_sequences, d.zero_masked_outputs, d.training) = desc
    if pynn_rnn_work_size(d) < 0:
        raise ValueError(f"recurrent: invalid layer description {desc} (steps, input and "
                         f"units must be >= 1, activations linear, relu, sigmoid, "
                         f"hard_sigmoid or tanh) or a work buffer too large to address")
    return 0


def rnn_work_size(tuple desc):
    """Floats of the work buffer a recurrent run of this description needs."""
    cdef pynn_rnn_desc d
    _rnn_desc(desc, &d)
    return pynn_rnn_work_size(&d)


cdef Py_ssize_t _rnn_gates(const pynn_rnn_desc *d):
    return 4 if d.cell == 1 else (3 if d.cell == 2 else 1)


cdef Py_ssize_t _rnn_bias_size(const pynn_rnn_desc *d):
    return _rnn_gates(d) * d.units * (2 if d.cell == 2 and d.reset_after else 1)


def rnn_forward(str name, tuple desc, x, kernel, rec, bias, mask, input_mask, rec_mask,
                h0, c0, y, h_out, c_out, work):
    """Runs a recurrent layer through time (pynn_rnn_forward); desc as in
    rnn_work_size.  c0 and c_out are LSTM's only."""
    cdef pynn_rnn_desc d
    _rnn_desc(desc, &d)
    cdef Py_ssize_t B = d.batch, T = d.steps, I = d.input, U = d.units
    cdef Py_ssize_t GU = _rnn_gates(&d) * U
    cdef bint lstm = d.cell == 1
    cdef const float *px = _f32_sized(x, f"{name}: inputs", B * T * I)
    cdef const float *pk = _f32_sized(kernel, f"{name}: kernel", I * GU)
    cdef const float *pr = _f32_sized(rec, f"{name}: recurrent_kernel", U * GU)
    cdef const float *pb = _f32_or_null(bias, f"{name}: bias", _rnn_bias_size(&d))
    cdef const uint8_t *pm = _mask_u8(mask, f"{name}: mask", B * T)
    cdef const float *pim = _f32_or_null(input_mask, f"{name}: dropout mask", B * I)
    cdef const float *prm = _f32_or_null(rec_mask, f"{name}: recurrent dropout mask", B * U)
    cdef const float *ph0 = _f32_or_null(h0, f"{name}: initial h", B * U)
    cdef const float *pc0 = NULL
    cdef float *pc = NULL
    if lstm:
        pc0 = _f32_or_null(c0, f"{name}: initial c", B * U)
        pc = _f32_sized(c_out, f"{name}: c out", B * U, True)
    cdef float *py = _f32_sized(y, f"{name}: output", B * T * U if d.return_sequences else B * U,
                                True)
    cdef float *ph = _f32_sized(h_out, f"{name}: h out", B * U, True)
    cdef float *pw = _f32(work, f"{name}: work buffer", True)
    cdef Py_ssize_t need = pynn_rnn_work_size(&d)
    if (<cnp.ndarray>work).size < need:
        raise ValueError(f"{name}: the work buffer holds {(<cnp.ndarray>work).size} floats, "
                         f"the run needs {need}")
    cdef int err
    with nogil:
        err = pynn_rnn_forward(&d, px, pk, pr, pb, pm, pim, prm, ph0, pc0, py, ph, pc, pw)
    if err:
        raise ValueError(f"{name}: invalid layer description {desc}")
    return y


def rnn_backward(str name, tuple desc, kernel, rec, mask, input_mask, rec_mask, dy, dh, dc,
                 work, dx, dh0, dc0, dkernel, drec, dbias):
    """Backward through time (pynn_rnn_backward) from a training forward
    pass's work buffer, which it consumes."""
    cdef pynn_rnn_desc d
    _rnn_desc(desc, &d)
    if not d.training:
        raise ValueError(f"{name}: the backward pass needs a forward pass run with training")
    cdef Py_ssize_t B = d.batch, T = d.steps, I = d.input, U = d.units
    cdef Py_ssize_t GU = _rnn_gates(&d) * U
    cdef bint lstm = d.cell == 1
    cdef const float *pk = _f32_sized(kernel, f"{name}: kernel", I * GU)
    cdef const float *pr = _f32_sized(rec, f"{name}: recurrent_kernel", U * GU)
    cdef const uint8_t *pm = _mask_u8(mask, f"{name}: mask", B * T)
    cdef const float *pim = _f32_or_null(input_mask, f"{name}: dropout mask", B * I)
    cdef const float *prm = _f32_or_null(rec_mask, f"{name}: recurrent dropout mask", B * U)
    cdef const float *pdy = _f32_or_null(dy, f"{name}: output gradient",
                                         B * T * U if d.return_sequences else B * U)
    cdef const float *pdh = _f32_or_null(dh, f"{name}: h gradient", B * U)
    cdef const float *pdc = _f32_or_null(dc, f"{name}: c gradient", B * U) if lstm else NULL
    cdef float *pw = _f32(work, f"{name}: work buffer", True)
    if (<cnp.ndarray>work).size < pynn_rnn_work_size(&d):
        raise ValueError(f"{name}: the work buffer is smaller than the run needs")
    cdef float *pdx = NULL
    cdef float *pdh0 = NULL
    cdef float *pdc0 = NULL
    cdef float *pdb = NULL
    if dx is not None:
        pdx = _f32_sized(dx, f"{name}: input gradient", B * T * I, True)
    if dh0 is not None:
        pdh0 = _f32_sized(dh0, f"{name}: initial h gradient", B * U, True)
    if dc0 is not None and lstm:
        pdc0 = _f32_sized(dc0, f"{name}: initial c gradient", B * U, True)
    cdef float *pdk = _f32_sized(dkernel, f"{name}: kernel gradient", I * GU, True)
    cdef float *pdr = _f32_sized(drec, f"{name}: recurrent_kernel gradient", U * GU, True)
    if dbias is not None:
        pdb = _f32_sized(dbias, f"{name}: bias gradient", _rnn_bias_size(&d), True)
    cdef int err
    with nogil:
        err = pynn_rnn_backward(&d, pk, pr, pm, pim, prm, pdy, pdh, pdc, pw, pdx, pdh0, pdc0,
                                pdk, pdr, pdb)
    if err:
        raise ValueError(f"{name}: invalid layer description {desc}")
    return dx


cdef int _ids(object ids, str name, const void **p, int *wide) except -1:
    """An int32 or int64 C-contiguous id array's data and width."""
    cdef cnp.ndarray A = _arr(ids, name)
    cdef int t = cnp.PyArray_TYPE(A)
    if t == cnp.NPY_INT32:
        wide[0] = 0
    elif t == cnp.NPY_INT64:
        wide[0] = 1
    else:
        raise TypeError(f"{name}: expected int32 or int64 ids, got {A.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(A):
        raise ValueError(f"{name}: expected a C-contiguous array")
    p[0] = cnp.PyArray_DATA(A)
    return 0


cdef int _bad_ids(str name, Py_ssize_t bad, int64_t lo, int64_t hi, Py_ssize_t vocab) except -1:
    if bad < 0:
        raise ValueError(f"{name}: invalid sizes")
    if bad > 0:
        raise ValueError(f"{name}: {bad} id(s) outside [0, {vocab}) for a vocabulary of "
                         f"{vocab}: smallest {lo}, largest {hi}")
    return 0


def embedding_gather(table, ids, out):
    """out[i] = table[ids[i]]: rows of a 2-D table by int32/int64 ids."""
    cdef cnp.ndarray Tb = _arr(table, "embedding: table")
    cdef const float *pt = _f32(table, "embedding: table")
    if cnp.PyArray_NDIM(Tb) != 2:
        raise ValueError(f"embedding: the table must be 2-D, got shape {(<object>Tb).shape}")
    cdef Py_ssize_t vocab = cnp.PyArray_DIMS(Tb)[0], dim = cnp.PyArray_DIMS(Tb)[1]
    cdef const void *pi
    cdef int wide
    _ids(ids, "embedding: ids", &pi, &wide)
    cdef Py_ssize_t n = (<cnp.ndarray>ids).size
    cdef float *po = _f32_sized(out, "embedding: out", n * dim, True)
    cdef int64_t lo = 0, hi = 0
    cdef Py_ssize_t bad
    with nogil:
        bad = pynn_embedding_gather(pt, vocab, dim, pi, wide, n, po, &lo, &hi)
    _bad_ids("embedding", bad, lo, hi, vocab)
    return out


def embedding_scatter_add(ids, dy, grad, previous_ids):
    """The embedding's gradient into grad (vocab x dim), touching only the
    rows named by ids and previous_ids (pynn_embedding_scatter_add)."""
    cdef cnp.ndarray G = _arr(grad, "embedding gradient: grad")
    cdef float *pg = _f32(grad, "embedding gradient: grad", True)
    if cnp.PyArray_NDIM(G) != 2:
        raise ValueError(f"embedding gradient: grad must be 2-D, got shape {(<object>G).shape}")
    cdef Py_ssize_t vocab = cnp.PyArray_DIMS(G)[0], dim = cnp.PyArray_DIMS(G)[1]
    cdef const void *pi
    cdef const void *pp = NULL
    cdef int wide, pwide = 0
    _ids(ids, "embedding gradient: ids", &pi, &wide)
    cdef Py_ssize_t n = (<cnp.ndarray>ids).size, n_prev = 0
    if previous_ids is not None:
        _ids(previous_ids, "embedding gradient: previous_ids", &pp, &pwide)
        n_prev = (<cnp.ndarray>previous_ids).size
    cdef const float *pdy = _f32_sized(dy, "embedding gradient: dy", n * dim)
    cdef int64_t lo = 0, hi = 0
    cdef Py_ssize_t bad
    with nogil:
        bad = pynn_embedding_scatter_add(pi, wide, n, pdy, pp, pwide, n_prev, pg, vocab, dim,
                                         &lo, &hi)
    _bad_ids("embedding gradient", bad, lo, hi, vocab)
    return grad

# ----------------------------------------------------------- elementwise.c

def dropout_forward(x, y, mask, float rate, uint64_t seed, uint64_t offset=0):
    cdef const float *px = _f32(x, "Dropout: x")
    cdef float *py = _f32(y, "Dropout: out", True)
    cdef cnp.ndarray M = _arr(mask, "Dropout: mask")
    cdef cnp.ndarray X = <cnp.ndarray>x
    if cnp.PyArray_TYPE(M) != cnp.NPY_UINT8 or not cnp.PyArray_IS_C_CONTIGUOUS(M):
        raise TypeError("Dropout: mask must be C-contiguous uint8")
    _same_size(X, <cnp.ndarray>y, "Dropout")
    _same_size(X, M, "Dropout: mask")
    if not (0.0 <= rate < 1.0):
        raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
    cdef uint8_t *pm = <uint8_t *>cnp.PyArray_DATA(M)
    with nogil:
        pynn_dropout_forward(px, py, pm, X.size, rate, seed, offset)
    return y


def dropout_backward(dy, mask, dx, float rate):
    cdef const float *pdy = _f32(dy, "Dropout backward: dy")
    cdef float *pdx = _f32(dx, "Dropout backward: dx", True)
    cdef cnp.ndarray M = _arr(mask, "Dropout: mask")
    if cnp.PyArray_TYPE(M) != cnp.NPY_UINT8 or not cnp.PyArray_IS_C_CONTIGUOUS(M):
        raise TypeError("Dropout: mask must be C-contiguous uint8")
    _same_size(<cnp.ndarray>dy, M, "Dropout backward")
    _same_size(<cnp.ndarray>dy, <cnp.ndarray>dx, "Dropout backward")
    cdef const uint8_t *pm = <const uint8_t *>cnp.PyArray_DATA(M)
    with nogil:
        pynn_dropout_backward(pdy, pm, pdx, (<cnp.ndarray>dy).size, rate)
    return dx


def gather_rows(src, idx, dst):
    """dst[i] = src[idx[i]] along the first axis, any dtype."""
    cdef cnp.ndarray S = _arr(src, "gather: src"), D = _arr(dst, "gather: dst")
    cdef cnp.ndarray I = _arr(idx, "gather: index")
    if not cnp.PyArray_IS_C_CONTIGUOUS(S) or not cnp.PyArray_IS_C_CONTIGUOUS(D):
        raise ValueError("gather: arrays must be C-contiguous")
    if cnp.PyArray_TYPE(I) != cnp.NPY_INT64 or not cnp.PyArray_IS_C_CONTIGUOUS(I):
        raise TypeError("gather: index must be C-contiguous int64")
    if S.dtype != D.dtype or cnp.PyArray_NDIM(S) < 1 or cnp.PyArray_NDIM(D) < 1:
        raise TypeError("gather: src and dst must share a dtype and have rows")
    if not cnp.PyArray_ISWRITEABLE(D):
        raise ValueError("gather: dst is read-only")
    cdef Py_ssize_t n = S.shape[0], count = I.size
    if count == 0:
        return dst
    cdef Py_ssize_t row_bytes = S.nbytes // n if n > 0 else 0
    if D.shape[0] < count or (D.nbytes // D.shape[0] if D.shape[0] else 0) != row_bytes:
        raise ValueError(f"gather: dst of shape {(<object>D).shape} cannot hold {count} rows of {(<object>S).shape}")
    cdef const int64_t *pi = <const int64_t *>cnp.PyArray_DATA(I)
    cdef Py_ssize_t i
    for i in range(count):
        if pi[i] < 0 or pi[i] >= n:
            raise IndexError(f"gather: index {pi[i]} out of range for {n} rows")
    with nogil:
        pynn_gather_rows(cnp.PyArray_DATA(S), pi, cnp.PyArray_DATA(D), count, row_bytes)
    return dst


def all_finite(x):
    cdef const float *px = _f32(x, "all_finite: x")
    cdef Py_ssize_t n = (<cnp.ndarray>x).size
    cdef int r
    with nogil:
        r = pynn_all_finite(px, n)
    return bool(r)


# ------------------------------------------------------------- merging

def binary(int op, a, b, y):
    """y = a op b elementwise (0 add, 1 subtract, 2 multiply, 3 maximum,
    4 minimum, 5 divide) over arrays of one size; y may be a or b."""
    cdef const float *pa = _f32(a, "binary: a")
    cdef const float *pb = _f32(b, "binary: b")
    cdef float *py = _f32(y, "binary: out", True)
    if op < 0 or op > 5:
        raise ValueError(f"binary: unknown operation {op}")
    _same_size(<cnp.ndarray>a, <cnp.ndarray>b, "binary")
    _same_size(<cnp.ndarray>a, <cnp.ndarray>y, "binary: out")
    cdef Py_ssize_t n = (<cnp.ndarray>a).size
    with nogil:
        pynn_binary(op, pa, pb, py, n)
    return y


def axpby(float alpha, a, float beta, b, y):
    """y = alpha * a + beta * b (b may be None: y = alpha * a)."""
    cdef const float *pa = _f32(a, "axpby: a")
    cdef float *py = _f32(y, "axpby: out", True)
    _same_size(<cnp.ndarray>a, <cnp.ndarray>y, "axpby: out")
    cdef const float *pb = _f32_or_null(b, "axpby: b", (<cnp.ndarray>a).size)
    cdef Py_ssize_t n = (<cnp.ndarray>a).size
    with nogil:
        pynn_axpby(alpha, pa, beta, pb, py, n)
    return y


def extremum_backward(list xs, y, dy, list dxs):
    """dxs[j] = dy where xs[j] is the first input equal to y, else 0 (the
    gradient of an elementwise maximum or minimum); entries of dxs may be
    None."""
    cdef int k = len(xs), j
    if k == 0 or len(dxs) != k:
        raise ValueError("extremum_backward: expected as many gradients as inputs")
    cdef const float *py = _f32(y, "extremum_backward: y")
    cdef const float *pdy = _f32(dy, "extremum_backward: dy")
    cdef Py_ssize_t n = (<cnp.ndarray>y).size
    _same_size(<cnp.ndarray>y, <cnp.ndarray>dy, "extremum_backward: dy")
    for j in range(k):
        _f32(xs[j], "extremum_backward: input")
        _same_size(<cnp.ndarray>y, <cnp.ndarray>xs[j], "extremum_backward: input")
        if dxs[j] is not None:
            _f32(dxs[j], "extremum_backward: gradient", True)
            _same_size(<cnp.ndarray>y, <cnp.ndarray>dxs[j], "extremum_backward: gradient")
    cdef const float **px = <const float **>malloc(k * sizeof(float *))
    cdef float **pdx = <float **>malloc(k * sizeof(float *))
    if px == NULL or pdx == NULL:
        free(px)
        free(pdx)
        raise MemoryError("extremum_backward: out of memory")
    for j in range(k):
        px[j] = <const float *>cnp.PyArray_DATA(<cnp.ndarray>xs[j])
        pdx[j] = NULL if dxs[j] is None else <float *>cnp.PyArray_DATA(<cnp.ndarray>dxs[j])
    with nogil:
        pynn_extremum_backward(k, px, py, pdy, pdx, n)
    free(px)
    free(pdx)
    return dxs


def copy_block(src, Py_ssize_t src_offset, Py_ssize_t lds, dst, Py_ssize_t dst_offset,
               Py_ssize_t ldd, Py_ssize_t rows, Py_ssize_t cols):
    """Copies rows x cols floats from src (starting at element src_offset,
    rows lds apart) into dst (from dst_offset, rows ldd apart)."""
    cdef const float *ps = _f32(src, "copy_block: src")
    cdef float *pd = _f32(dst, "copy_block: dst", True)
    cdef Py_ssize_t ns = (<cnp.ndarray>src).size, nd = (<cnp.ndarray>dst).size
    if rows < 0 or cols < 0 or src_offset < 0 or dst_offset < 0 or lds < cols or ldd < cols:
        raise ValueError("copy_block: negative size or offset, or a row stride below the "
                         "row length")
    if rows > 0 and cols > 0 and (src_offset + (rows - 1) * lds + cols > ns
                                  or dst_offset + (rows - 1) * ldd + cols > nd):
        raise ValueError("copy_block: the block does not fit its arrays")
    with nogil:
        pynn_copy_2d(ps + src_offset, lds, pd + dst_offset, ldd, rows, cols)
    return dst


def l2_normalize_rows(x, y, inv, float eps):
    """y = x / sqrt(max(sum x^2, eps)) per row of x (rows x last axis)."""
    cdef const float *px = _f32(x, "l2_normalize: x")
    cdef float *py = _f32(y, "l2_normalize: out", True)
    cdef float *pinv = _f32(inv, "l2_normalize: norms", True)
    cdef Py_ssize_t cols = _cols(<cnp.ndarray>x)
    cdef Py_ssize_t rows = (<cnp.ndarray>x).size // cols if cols else 0
    _same_size(<cnp.ndarray>x, <cnp.ndarray>y, "l2_normalize: out")
    if (<cnp.ndarray>inv).size != rows:
        raise ValueError(f"l2_normalize: norms must hold {rows} values")
    with nogil:
        pynn_l2_normalize_rows(px, py, pinv, rows, cols, eps)
    return y


def l2_normalize_backward_rows(x, y, inv, dy, dx, float eps):
    cdef const float *px = _f32(x, "l2_normalize backward: x")
    cdef const float *py = _f32(y, "l2_normalize backward: y")
    cdef const float *pinv = _f32(inv, "l2_normalize backward: norms")
    cdef const float *pdy = _f32(dy, "l2_normalize backward: dy")
    cdef float *pdx = _f32(dx, "l2_normalize backward: dx", True)
    cdef Py_ssize_t cols = _cols(<cnp.ndarray>x)
    cdef Py_ssize_t rows = (<cnp.ndarray>x).size // cols if cols else 0
    for other in (y, dy, dx):
        _same_size(<cnp.ndarray>x, <cnp.ndarray>other, "l2_normalize backward")
    if (<cnp.ndarray>inv).size != rows:
        raise ValueError(f"l2_normalize backward: norms must hold {rows} values")
    with nogil:
        pynn_l2_normalize_backward_rows(px, py, pinv, pdy, pdx, rows, cols, eps)
    return dx


def sgemm_batched(a, b, out, bint trans_a, bint trans_b):
    """out[i] = op(a[i]) @ op(b[i]) for 3-D C-contiguous float32 arrays,
    op transposing the last two axes when asked."""
    cdef const float *pa = _f32(a, "batch_matmul: a")
    cdef const float *pb = _f32(b, "batch_matmul: b")
    cdef float *pc = _f32(out, "batch_matmul: out", True)
    cdef cnp.ndarray A = <cnp.ndarray>a, B = <cnp.ndarray>b, C = <cnp.ndarray>out
    if cnp.PyArray_NDIM(A) != 3 or cnp.PyArray_NDIM(B) != 3 or cnp.PyArray_NDIM(C) != 3:
        raise ValueError("batch_matmul: expected 3-D arrays")
    cdef Py_ssize_t count = cnp.PyArray_DIMS(A)[0]
    cdef Py_ssize_t ar = cnp.PyArray_DIMS(A)[1], ac = cnp.PyArray_DIMS(A)[2]
    cdef Py_ssize_t br = cnp.PyArray_DIMS(B)[1], bc = cnp.PyArray_DIMS(B)[2]
    cdef Py_ssize_t m = ac if trans_a else ar, k = ar if trans_a else ac
    cdef Py_ssize_t n = br if trans_b else bc, kb = bc if trans_b else br
    if cnp.PyArray_DIMS(B)[0] != count or cnp.PyArray_DIMS(C)[0] != count or kb != k \
            or cnp.PyArray_DIMS(C)[1] != m or cnp.PyArray_DIMS(C)[2] != n:
        raise ValueError(f"batch_matmul: shapes {(<object>A).shape}, {(<object>B).shape} and "
                         f"{(<object>C).shape} do not fit")
    with nogil:
        pynn_sgemm_batched(count, trans_a, trans_b, m, n, k, 1.0, pa, ac, ar * ac, pb, bc,
                           br * bc, 0.0, pc, n, m * n)
    return out
# ------------------------------------------------------------------ image.c

def affine_warp(x, index, matrices, y, int interpolation, int fill_mode, float cval,
                channel_shift=None, brightness=None, scale=None, offset=None):
    """y[b] = x[index[b]] (x[b] when index is None) through the affine map
    matrices[b] (six float64 values per output image: output (row, col) ->
    input row and column), then the optional per-image channel shift and
    brightness and per-channel scale and offset (see pynn_affine_warp in
    csrc/pynn.h)."""
    cdef pynn_warp_shape s
    cdef Py_ssize_t xd[4]
    cdef Py_ssize_t yd[4]
    cdef const float *px = _f32(x, "affine_warp: images")
    cdef float *py = _f32(y, "affine_warp: out", True)
    _dims4(x, "affine_warp: images", xd)
    _dims4(y, "affine_warp: out", yd)
    s.n, s.h, s.w, s.c = yd[0], xd[1], xd[2], xd[3]
    s.oh, s.ow = yd[1], yd[2]
    if yd[3] != s.c:
        raise ValueError(f"affine_warp: out of shape {(<object>y).shape} does not fit images "
                         f"of shape {(<object>x).shape}")
    cdef const int64_t *pi = NULL
    cdef cnp.ndarray I
    if index is None:
        if xd[0] != s.n:
            raise ValueError(f"affine_warp: out of shape {(<object>y).shape} does not fit "
                             f"images of shape {(<object>x).shape}")
    else:
        I = _arr(index, "affine_warp: index")
        if cnp.PyArray_TYPE(I) != cnp.NPY_INT64 or not cnp.PyArray_IS_C_CONTIGUOUS(I):
            raise TypeError("affine_warp: index must be a C-contiguous int64 array")
        if I.size != s.n:
            raise ValueError(f"affine_warp: {I.size} indices for {s.n} output images")
        if s.n and ((<object>I).min() < 0 or (<object>I).max() >= xd[0]):
            raise IndexError(f"affine_warp: index out of range for {xd[0]} images")
        pi = <const int64_t *>cnp.PyArray_DATA(I)
    if (<cnp.ndarray>y).size and (s.h == 0 or s.w == 0):
        raise ValueError(f"affine_warp: images of shape {(<object>x).shape} have no pixels "
                         f"to read")
    if s.h * s.w * s.c >= 2**31 or s.oh >= 2**31 or s.ow >= 2**31:
        raise ValueError(f"affine_warp: images of shape {(<object>x).shape[1:]} or "
                         f"{(<object>y).shape[1:]} are too large")
    if interpolation not in (0, 1) or fill_mode not in (0, 1, 2, 3, 4, 5):
        raise ValueError(f"affine_warp: unknown interpolation {interpolation} or "
                         f"fill mode {fill_mode}")
    cdef cnp.ndarray M = _arr(matrices, "affine_warp: matrices")
    if cnp.PyArray_TYPE(M) != cnp.NPY_FLOAT64 or not cnp.PyArray_IS_C_CONTIGUOUS(M):
        raise TypeError("affine_warp: matrices must be a C-contiguous float64 array")
    if M.size != 6 * s.n:
        raise ValueError(f"affine_warp: expected 6 matrix values per image ({6 * s.n}), "
                         f"got {M.size}")
    if not np.isfinite(M).all():
        raise ValueError("affine_warp: the matrices must be finite")
    if np.may_share_memory(x, y):
        raise ValueError("affine_warp: out must not overlap the images")
    cdef const double *pm = <const double *>cnp.PyArray_DATA(M)
    cdef const float *pcs = _f32_or_null(channel_shift, "affine_warp: channel_shift", s.n)
    cdef const float *pbr = _f32_or_null(brightness, "affine_warp: brightness", s.n)
    cdef const float *psc = _f32_or_null(scale, "affine_warp: scale", s.c)
    cdef const float *pof = _f32_or_null(offset, "affine_warp: offset", s.c)
    if (psc == NULL) != (pof == NULL):
        raise ValueError("affine_warp: scale and offset go together")
    if (<cnp.ndarray>y).size == 0:
        return y
    with nogil:
        pynn_affine_warp(&s, px, pi, pm, interpolation, fill_mode, cval, pcs, pbr, psc, pof,
                         py)
    return y


# ------------------------------------------- normalization.c: groups, rows

def group_norm_forward(x, Py_ssize_t n, Py_ssize_t s, Py_ssize_t groups, Py_ssize_t size,
                       float eps, gamma, beta, y, mean, inv_std):
    """Group (and layer) normalization of x seen as n x s x groups x size;
    mean and inv_std receive the n * groups statistics."""
    cdef const float *px = _f32(x, "group_norm: x")
    cdef float *py = _f32(y, "group_norm: out", True)
    cdef float *pm = _f32(mean, "group_norm: mean", True)
    cdef float *pi = _f32(inv_std, "group_norm: inv_std", True)
    if n < 0 or s < 0 or groups < 1 or size < 0:
        raise ValueError(f"group_norm: invalid sizes n={n}, s={s}, groups={groups}, size={size}")
    cdef Py_ssize_t total = n * s * groups * size
    if (<cnp.ndarray>x).size != total or (<cnp.ndarray>y).size != total:
        raise ValueError(f"group_norm: x and out must hold {total} values")
    if (<cnp.ndarray>mean).size != n * groups or (<cnp.ndarray>inv_std).size != n * groups:
        raise ValueError(f"group_norm: mean and inv_std must hold {n * groups} values")
    if not eps > 0:
        raise ValueError(f"group_norm: epsilon must be > 0, got {eps}")
    cdef const float *pg = _f32_or_null(gamma, "group_norm: gamma", groups * size)
    cdef const float *pb = _f32_or_null(beta, "group_norm: beta", groups * size)
    with nogil:
        pynn_group_norm_forward(px, n, s, groups, size, eps, pg, pb, py, pm, pi)
    return y


def group_norm_backward(x, dy, Py_ssize_t n, Py_ssize_t s, Py_ssize_t groups, Py_ssize_t size,
                        mean, inv_std, gamma, dx, dgamma, dbeta):
    cdef const float *px = _f32(x, "group_norm backward: x")
    cdef const float *pdy = _f32(dy, "group_norm backward: dy")
    cdef const float *pm = _f32(mean, "group_norm backward: mean")
    cdef const float *pi = _f32(inv_std, "group_norm backward: inv_std")
    if n < 0 or s < 0 or groups < 1 or size < 0:
        raise ValueError(f"group_norm backward: invalid sizes n={n}, s={s}, groups={groups}, "
                         f"size={size}")
    cdef Py_ssize_t total = n * s * groups * size, c = groups * size
    if (<cnp.ndarray>x).size != total or (<cnp.ndarray>dy).size != total:
        raise ValueError(f"group_norm backward: x and dy must hold {total} values")
    if (<cnp.ndarray>mean).size != n * groups or (<cnp.ndarray>inv_std).size != n * groups:
        raise ValueError(f"group_norm backward: mean and inv_std must hold {n * groups} values")
    cdef const float *pg = _f32_or_null(gamma, "group_norm backward: gamma", c)
    cdef float *pdx = NULL
    cdef float *pdg = NULL
    cdef float *pdb = NULL
    if dx is not None:
        pdx = _f32(dx, "group_norm backward: dx", True)
        _same_size(<cnp.ndarray>x, <cnp.ndarray>dx, "group_norm backward: dx")
    if dgamma is not None:
        pdg = _f32(dgamma, "group_norm backward: gamma gradient", True)
        _f32_or_null(dgamma, "group_norm backward: gamma gradient", c)
    if dbeta is not None:
        pdb = _f32(dbeta, "group_norm backward: beta gradient", True)
        _f32_or_null(dbeta, "group_norm backward: beta gradient", c)
    cdef int err
    with nogil:
        err = pynn_group_norm_backward(px, pdy, n, s, groups, size, pm, pi, pg, pdx, pdg, pdb)
    if err:
        raise MemoryError("group_norm backward: cannot allocate the work buffer")
    return dx

# ---------------------------------------------- activation.c: ReLU, PReLU

def relu_general(x, y, float negative_slope, float max_value, float threshold):
    cdef const float *px = _f32(x, "relu: x")
    cdef float *py = _f32(y, "relu: out", True)
    _same_size(<cnp.ndarray>x, <cnp.ndarray>y, "relu")
    cdef Py_ssize_t n = (<cnp.ndarray>x).size
    with nogil:
        pynn_relu_general_forward(px, py, n, negative_slope, max_value, threshold)
    return y


def relu_general_backward(x, dy, dx, float negative_slope, float max_value, float threshold):
    cdef const float *px = _f32(x, "relu backward: x")
    cdef const float *pdy = _f32(dy, "relu backward: dy")
    cdef float *pdx = _f32(dx, "relu backward: dx", True)
    _same_size(<cnp.ndarray>x, <cnp.ndarray>dy, "relu backward")
    _same_size(<cnp.ndarray>x, <cnp.ndarray>dx, "relu backward")
    cdef Py_ssize_t n = (<cnp.ndarray>x).size
    with nogil:
        pynn_relu_general_backward(px, pdy, pdx, n, negative_slope, max_value, threshold)
    return dx


def prelu(x, alpha, y, Py_ssize_t cols):
    """y = max(x, 0) + alpha * min(x, 0), x seen as rows x cols, alpha (cols)."""
    cdef const float *px = _f32(x, "PReLU: x")
    cdef float *py = _f32(y, "PReLU: out", True)
    _same_size(<cnp.ndarray>x, <cnp.ndarray>y, "PReLU")
    cdef const float *pa = _f32_or_null(alpha, "PReLU: alpha", cols)
    cdef Py_ssize_t n = (<cnp.ndarray>x).size
    if pa == NULL or cols < 1 or n % cols:
        raise ValueError(f"PReLU: alpha of {cols} values does not tile {n} inputs")
    with nogil:
        pynn_prelu_forward(px, pa, py, n // cols, cols)
    return y


def prelu_backward(x, alpha, dy, dx, dalpha, Py_ssize_t cols):
    cdef const float *px = _f32(x, "PReLU backward: x")
    cdef const float *pdy = _f32(dy, "PReLU backward: dy")
    _same_size(<cnp.ndarray>x, <cnp.ndarray>dy, "PReLU backward")
    cdef const float *pa = _f32_or_null(alpha, "PReLU backward: alpha", cols)
    cdef Py_ssize_t n = (<cnp.ndarray>x).size
    if pa == NULL or cols < 1 or n % cols:
        raise ValueError(f"PReLU backward: alpha of {cols} values does not tile {n} inputs")
    cdef float *pdx = NULL
    cdef float *pda = NULL
    if dx is not None:
        pdx = _f32(dx, "PReLU backward: dx", True)
        _same_size(<cnp.ndarray>x, <cnp.ndarray>dx, "PReLU backward: dx")
    if dalpha is not None:
        pda = _f32(dalpha, "PReLU backward: alpha gradient", True)
        _f32_or_null(dalpha, "PReLU backward: alpha gradient", cols)
    with nogil:
        pynn_prelu_backward(px, pa, pdy, pdx, pda, n // cols, cols)
    return dx

# ------------------------------------------------ elementwise.c: noise

cdef uint8_t *_mask(object m, str name, cnp.ndarray like) except NULL:
    cdef cnp.ndarray M = _arr(m, name)
    if cnp.PyArray_TYPE(M) != cnp.NPY_UINT8 or not cnp.PyArray_IS_C_CONTIGUOUS(M):
        raise TypeError(f"{name}: mask must be C-contiguous uint8")
    _same_size(like, M, name)
    return <uint8_t *>cnp.PyArray_DATA(M)


def masked_affine(x, mask, y, float scale, float shift, float fill):
    """y = mask ? x * scale + shift : fill (mask: a dropout's uint8 draws)."""
    cdef const float *px = _f32(x, "masked_affine: x")
    cdef float *py = _f32(y, "masked_affine: out", True)
    _same_size(<cnp.ndarray>x, <cnp.ndarray>y, "masked_affine")
    cdef const uint8_t *pm = _mask(mask, "masked_affine", <cnp.ndarray>x)
    cdef Py_ssize_t n = (<cnp.ndarray>x).size
    with nogil:
        pynn_masked_affine(px, pm, py, n, scale, shift, fill)
    return y


def random_normal(y, float mean, float stddev, uint64_t seed):
    cdef float *py = _f32(y, "random_normal: out", True)
    cdef Py_ssize_t n = (<cnp.ndarray>y).size
    with nogil:
        pynn_random_normal(py, n, mean, stddev, seed)
    return y


def sample_channel_scale(x, scale, y, Py_ssize_t n, Py_ssize_t s, Py_ssize_t c):
    """y[b, i, :] = x[b, i, :] * scale[b, :] over n x s x c values."""
    cdef const float *px = _f32(x, "sample_channel_scale: x")
    cdef const float *pf = _f32(scale, "sample_channel_scale: scale")
    cdef float *py = _f32(y, "sample_channel_scale: out", True)
    if n < 0 or s < 0 or c < 0:
        raise ValueError("sample_channel_scale: negative size")
    if (<cnp.ndarray>x).size != n * s * c or (<cnp.ndarray>y).size != n * s * c or \
            (<cnp.ndarray>scale).size != n * c:
        raise ValueError(f"sample_channel_scale: sizes do not fit {n} x {s} x {c}")
    with nogil:
        pynn_sample_channel_scale(px, pf, py, n, s, c)
    return y


# --------------------------------------------------------------- reshape.c

def pad_crop(x, y, tuple in_dhw, tuple out_dhw, tuple offsets, float fill):
    """y (n x out_dhw x c) = x (n x in_dhw x c) shifted by offsets (depth,
    height, width); uncovered output values are fill."""
    cdef pynn_shift_shape s
    cdef const float *px = _f32(x, "pad_crop: x")
    cdef float *py = _f32(y, "pad_crop: out", True)
    cdef cnp.ndarray X = <cnp.ndarray>x, Y = <cnp.ndarray>y
    if cnp.PyArray_NDIM(X) < 1 or cnp.PyArray_NDIM(Y) < 1:
        raise ValueError("pad_crop: expected arrays with a batch axis")
    s.n = cnp.PyArray_DIMS(X)[0]
    s.c = _cols(X)
    s.d, s.h, s.w = in_dhw
    s.od, s.oh, s.ow = out_dhw
    s.fd, s.fh, s.fw = offsets
    if min(s.d, s.h, s.w, s.od, s.oh, s.ow, s.c) < 0 or cnp.PyArray_DIMS(Y)[0] != s.n or \
            _cols(Y) != s.c:
        raise ValueError(f"pad_crop: shapes {(<object>X).shape} and {(<object>Y).shape} do "
                         f"not fit {in_dhw} -> {out_dhw}")
    if X.size != s.n * s.d * s.h * s.w * s.c or Y.size != s.n * s.od * s.oh * s.ow * s.c:
        raise ValueError(f"pad_crop: shapes {(<object>X).shape} and {(<object>Y).shape} do "
                         f"not fit {in_dhw} -> {out_dhw}")
    with nogil:
        pynn_pad_crop(&s, px, py, fill)
    return y


cdef int _resize_shape(x, y, tuple window, pynn_resize_shape *s, str name) except -1:
    cdef Py_ssize_t xd[4]
    cdef Py_ssize_t yd[4]
    _dims4(x, f"{name}: input", xd)
    _dims4(y, f"{name}: output", yd)
    s.n, s.h, s.w, s.c = xd[0], xd[1], xd[2], xd[3]
    s.top, s.left, s.wh, s.ww = window
    s.oh, s.ow = yd[1], yd[2]
    if yd[0] != s.n or yd[3] != s.c:
        raise ValueError(f"{name}: output of shape {(<object>y).shape} does not fit input "
                         f"{(<object>x).shape}")
    if s.top < 0 or s.left < 0 or s.wh < 1 or s.ww < 1 or s.top + s.wh > s.h or \
            s.left + s.ww > s.w:
        raise ValueError(f"{name}: window {window} does not fit input {(<object>x).shape}")
    return 0


def resize_forward(x, y, tuple window, int mode):
    """y = the window (top, left, height, width) of x resized to y's size."""
    cdef pynn_resize_shape s
    cdef const float *px = _f32(x, "resize: input")
    cdef float *py = _f32(y, "resize: output", True)
    _resize_shape(x, y, window, &s, "resize")
    if mode not in (0, 1):
        raise ValueError(f"resize: unknown mode {mode}")
    with nogil:
        pynn_resize_forward(&s, mode, px, py)
    return y


def resize_backward(dy, dx, tuple window, int mode):
    cdef pynn_resize_shape s
    cdef const float *pdy = _f32(dy, "resize backward: dy")
    cdef float *pdx = _f32(dx, "resize backward: dx", True)
    _resize_shape(dx, dy, window, &s, "resize backward")
    if mode not in (0, 1):
        raise ValueError(f"resize backward: unknown mode {mode}")
    with nogil:
        pynn_resize_backward(&s, mode, pdy, pdx)
    return dx


def repeat(x, y, Py_ssize_t outer, Py_ssize_t times, Py_ssize_t inner):
    """y[o, t, :] = x[o, :] (x outer x inner, y outer x times x inner)."""
    cdef const float *px = _f32(x, "repeat: x")
    cdef float *py = _f32(y, "repeat: out", True)
    if outer < 0 or times < 0 or inner < 0 or (<cnp.ndarray>x).size != outer * inner or \
            (<cnp.ndarray>y).size != outer * times * inner:
        raise ValueError(f"repeat: sizes do not fit {outer} x {times} x {inner}")
    with nogil:
        pynn_repeat(px, outer, times, inner, py)
    return y


def repeat_backward(dy, dx, Py_ssize_t outer, Py_ssize_t times, Py_ssize_t inner):
    cdef const float *pdy = _f32(dy, "repeat backward: dy")
    cdef float *pdx = _f32(dx, "repeat backward: dx", True)
    if outer < 0 or times < 0 or inner < 0 or (<cnp.ndarray>dx).size != outer * inner or \
            (<cnp.ndarray>dy).size != outer * times * inner:
        raise ValueError(f"repeat backward: sizes do not fit {outer} x {times} x {inner}")
    with nogil:
        pynn_repeat_backward(pdy, outer, times, inner, pdx)
    return dx


def transpose(x, tuple perm, y):
    """y = x.transpose(perm) for C-contiguous float32 x and y."""
    cdef const float *px = _f32(x, "transpose: x")
    cdef float *py = _f32(y, "transpose: out", True)
    cdef cnp.ndarray X = <cnp.ndarray>x, Y = <cnp.ndarray>y
    cdef int rank = cnp.PyArray_NDIM(X), a
    if rank < 1 or rank > 8 or len(perm) != rank or sorted(perm) != list(range(rank)):
        raise ValueError(f"transpose: perm {perm} is not a permutation of the {rank} axes")
    cdef Py_ssize_t shape[8]
    cdef int p[8]
    for a in range(rank):
        shape[a] = cnp.PyArray_DIMS(X)[a]
        p[a] = perm[a]
    cdef bint fits = cnp.PyArray_NDIM(Y) == rank
    for a in range(rank):
        fits = fits and cnp.PyArray_DIMS(Y)[a] == shape[p[a]]
    if not fits:
        raise ValueError(f"transpose: out of shape {(<object>Y).shape} does not fit "
                         f"{(<object>X).shape} transposed by {perm}")
    with nogil:
        pynn_transpose(px, rank, shape, p, py)
    return y


# -------------------------------------------------------------- hash.c

cdef int64_t *_i64(object a, str name, Py_ssize_t size, bint writable=False) except NULL:
    cdef cnp.ndarray arr = _arr(a, name)
    if cnp.PyArray_TYPE(arr) != cnp.NPY_INT64 or not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise TypeError(f"{name}: expected a C-contiguous int64 array, got {arr.dtype}")
    if arr.size != size:
        raise ValueError(f"{name}: expected {size} elements, got {arr.size}")
    if writable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name}: array is read-only")
    return <int64_t *>cnp.PyArray_DATA(arr)


def hash_buckets(bytes data, offsets, int64_t num_buckets, key, out):
    """out[i] = hash(data[offsets[i]:offsets[i + 1]]) % num_buckets, for the
    out.size strings packed in ``data``: SipHash-2-4 keyed by ``key`` (two
    unsigned 64-bit integers), or FarmHash's Fingerprint64 when key is None."""
    cdef cnp.ndarray O = _arr(out, "hash_buckets: out")
    cdef Py_ssize_t n = O.size
    cdef int64_t *po = _i64(out, "hash_buckets: out", n, True)
    cdef const int64_t *poff = _i64(offsets, "hash_buckets: offsets", n + 1)
    if num_buckets < 1:
        raise ValueError(f"hash_buckets: num_buckets must be >= 1, got {num_buckets}")
    if poff[0] != 0 or poff[n] > len(data):
        raise ValueError(f"hash_buckets: offsets must run from 0 to at most the {len(data)} "
                         f"bytes of data, got {poff[0]}..{poff[n]}")
    cdef uint64_t k0 = 0, k1 = 0
    cdef int keyed = key is not None
    if keyed:
        k0, k1 = key
    cdef const unsigned char *pd = <const unsigned char *>data
    cdef int err
    with nogil:
        err = pynn_hash_buckets(pd, poff, n, num_buckets, keyed, k0, k1, po)
    if err:
        raise ValueError("hash_buckets: offsets must not decrease")
    return out


def hash_int64_buckets(values, int64_t num_buckets, key, out):
    """As hash_buckets for the decimal text of each int64 of ``values``."""
    cdef cnp.ndarray V = _arr(values, "hash_int64_buckets: values")
    cdef Py_ssize_t n = V.size
    cdef const int64_t *pv = _i64(values, "hash_int64_buckets: values", n)
    cdef int64_t *po = _i64(out, "hash_int64_buckets: out", n, True)
    if num_buckets < 1:
        raise ValueError(f"hash_int64_buckets: num_buckets must be >= 1, got {num_buckets}")
    cdef uint64_t k0 = 0, k1 = 0
    cdef int keyed = key is not None
    if keyed:
        k0, k1 = key
    with nogil:
        pynn_hash_int64_buckets(pv, n, num_buckets, keyed, k0, k1, po)
    return out


def fingerprint64(bytes data, offsets, out):
    """out[i] = Fingerprint64(data[offsets[i]:offsets[i + 1]]), all 64 bits
    (stored in an int64 array), for the out.size strings packed in
    ``data``."""
    cdef cnp.ndarray O = _arr(out, "fingerprint64: out")
    cdef Py_ssize_t n = O.size
    cdef int64_t *po = _i64(out, "fingerprint64: out", n, True)
    cdef const int64_t *poff = _i64(offsets, "fingerprint64: offsets", n + 1)
    if poff[0] != 0 or poff[n] > len(data):
        raise ValueError(f"fingerprint64: offsets must run from 0 to at most the {len(data)} "
                         f"bytes of data, got {poff[0]}..{poff[n]}")
    cdef const unsigned char *pd = <const unsigned char *>data
    cdef int err
    with nogil:
        err = pynn_fingerprint64_strings(pd, poff, n, <uint64_t *>po)
    if err:
        raise ValueError("fingerprint64: offsets must not decrease")
    return out


# -------------------------------------------------------------- plan.c

cdef pynn_plan_ref _plan_ref(object ref) except *:
    cdef pynn_plan_ref r
    if ref is None:
        r.buf, r.off = -1, 0
    else:
        r.buf, r.off = ref
    return r


cdef class _PlanArena:
    """One run's work memory and buffer table (a run at a time uses it)."""
    cdef cnp.ndarray mem
    cdef float **table

    def __cinit__(self, Py_ssize_t size, int nbufs):
        # (from a cache line's start, as the plan's offsets are whole lines)
        self.mem = aligned_empty(max(size, 1))
        self.table = <float **>calloc(max(nbufs, 1), sizeof(float *))
        if self.table == NULL:
            raise MemoryError("inference plan: cannot allocate a buffer table")
        self.table[0] = <float *>cnp.PyArray_DATA(self.mem)

    def __dealloc__(self):
        free(self.table)


cdef class InferencePlan:
    """A model's inference pass for inputs of fixed shapes as one C call
    (csrc/plan.c).  ``steps`` are dicts describing pynn_plan_step's fields
    (operands as (buffer, offset) pairs: buffer 0 the arena of
    ``arena_size`` floats, then the inputs, the outputs, and the weights);
    ``weights`` are (owner, attribute) pairs naming each weight buffer's
    Weight, whose value array the plan keeps and checks on every run, or
    float32 arrays: constants the plan keeps."""
    cdef pynn_plan_step *steps
    cdef Py_ssize_t count, arena_size
    cdef int n_in, n_out, n_w, nbufs
    cdef Py_ssize_t *in_dims
    cdef Py_ssize_t *out_dims
    cdef int *in_nd
    cdef int *out_nd
    cdef list owners, names, arrays, pool
    cdef readonly tuple input_shapes, output_shapes

    def __cinit__(self):
        self.steps = NULL
        self.in_dims = self.out_dims = NULL
        self.in_nd = self.out_nd = NULL

    def __dealloc__(self):
        free(self.steps)
        free(self.in_dims)
        free(self.out_dims)
        free(self.in_nd)
        free(self.out_nd)

    def __init__(self, list steps, list input_shapes, list output_shapes, Py_ssize_t arena_size,
                 list weights):
        cdef Py_ssize_t i, j, size
        cdef cnp.ndarray arr
        self.n_in, self.n_out, self.n_w = len(input_shapes), len(output_shapes), len(weights)
        self.nbufs = 1 + self.n_in + self.n_out + self.n_w
        self.arena_size = arena_size
        self.input_shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
        self.output_shapes = tuple(tuple(int(d) for d in s) for s in output_shapes)
        self.in_dims = <Py_ssize_t *>calloc(8 * max(self.n_in, 1), sizeof(Py_ssize_t))
        self.out_dims = <Py_ssize_t *>calloc(8 * max(self.n_out, 1), sizeof(Py_ssize_t))
        self.in_nd = <int *>calloc(max(self.n_in, 1), sizeof(int))
        self.out_nd = <int *>calloc(max(self.n_out, 1), sizeof(int))
        self.count = len(steps)
        self.steps = <pynn_plan_step *>calloc(max(self.count, 1), sizeof(pynn_plan_step))
        cdef Py_ssize_t *sizes = <Py_ssize_t *>calloc(self.nbufs, sizeof(Py_ssize_t))
        cdef unsigned char *writable = <unsigned char *>calloc(self.nbufs, 1)
        try:
            if self.steps == NULL or self.in_dims == NULL or self.out_dims == NULL or \
                    self.in_nd == NULL or self.out_nd == NULL or sizes == NULL or \
                    writable == NULL:
                raise MemoryError("inference plan: out of memory")
            if arena_size < 0:
                raise ValueError(f"inference plan: arena size {arena_size} < 0")
            sizes[0], writable[0] = arena_size, 1
            for shapes, first, w in ((self.input_shapes, 1, 0),
                                     (self.output_shapes, 1 + self.n_in, 1)):
                for i, shape in enumerate(shapes):
                    if not 1 <= len(shape) <= 8 or any(d < 0 for d in shape):
                        raise ValueError(f"inference plan: bad shape {shape}")
                    size = 1
                    for d in shape:
                        if d and size > (2**62) // d:
                            raise ValueError(f"inference plan: shape {shape} is too large")
                        size *= d
                    sizes[first + i], writable[first + i] = size, w
            for i, shape in enumerate(self.input_shapes):
                self.in_nd[i] = len(shape)
                for j, d in enumerate(shape):
                    self.in_dims[8 * i + j] = d
            for i, shape in enumerate(self.output_shapes):
                self.out_nd[i] = len(shape)
                for j, d in enumerate(shape):
                    self.out_dims[8 * i + j] = d
            self.owners, self.names, self.arrays = [], [], []
            for i, item in enumerate(weights):
                if isinstance(item, np.ndarray):
                    owner, name, value = None, "constant", item
                else:
                    owner, name = item
                    value = getattr(owner, name).value
                _f32(value, f"inference plan: weight {name}")
                self.owners.append(owner)
                self.names.append(name)
                self.arrays.append(value)
                sizes[1 + self.n_in + self.n_out + i] = (<cnp.ndarray>value).size
            for i, st in enumerate(steps):
                self.steps[i] = _plan_step(st)
            if pynn_plan_check(self.steps, self.count, sizes, writable, self.nbufs) != 0:
                raise ValueError("inference plan: the steps do not fit their buffers")
        finally:
            free(sizes)
            free(writable)
        self.pool = []

    def run(self, list xs):
        """The outputs (new arrays) for the input arrays ``xs``, or None
        when the plan does not fit them (a shape, dtype or layout not as
        planned) or a weight's value is no longer the array it planned
        with."""
        cdef int i, j, nd
        cdef cnp.ndarray x
        if len(xs) != self.n_in:
            return None
        for i in range(self.n_in):
            obj = xs[i]
            if not cnp.PyArray_Check(obj):
                return None
            x = <cnp.ndarray>obj
            nd = cnp.PyArray_NDIM(x)
            if cnp.PyArray_TYPE(x) != cnp.NPY_FLOAT32 or not cnp.PyArray_IS_C_CONTIGUOUS(x) \
                    or nd != self.in_nd[i]:
                return None
            for j in range(nd):
                if cnp.PyArray_DIMS(x)[j] != self.in_dims[8 * i + j]:
                    return None
        for i in range(self.n_w):
            owner = self.owners[i]
            if owner is not None and getattr(owner, self.names[i]).value is not self.arrays[i]:
                return None
        cdef _PlanArena arena
        try:
            arena = self.pool.pop()
        except IndexError:
            arena = _PlanArena(self.arena_size, self.nbufs)
        cdef float **table = arena.table
        cdef list outs = []
        try:
            for i in range(self.n_in):
                table[1 + i] = <float *>cnp.PyArray_DATA(<cnp.ndarray>xs[i])
            for i in range(self.n_out):
                x = cnp.PyArray_EMPTY(self.out_nd[i], <cnp.npy_intp *>&self.out_dims[8 * i],
                                     cnp.NPY_FLOAT32, 0)
                outs.append(x)
                table[1 + self.n_in + i] = <float *>cnp.PyArray_DATA(x)
            for i in range(self.n_w):
                table[1 + self.n_in + self.n_out + i] = \
                    <float *>cnp.PyArray_DATA(<cnp.ndarray>self.arrays[i])
            with nogil:
                i = pynn_plan_run(self.steps, self.count, table)
        finally:
            self.pool.append(arena)
        _status(i, "predict")
        return outs


cdef pynn_plan_step _plan_step(dict st) except *:
    cdef pynn_plan_step s
    memset(&s, 0, sizeof(s))
    s.kind = st["kind"]
    s.act = st.get("act", 0)
    s.alpha = st.get("alpha", 0.0)
    p = st.get("p", (0.0, 0.0, 0.0))
    s.p[0], s.p[1], s.p[2] = p[0], p[1], p[2]
    s.eps = st.get("eps", 0.0)
    s.rows, s.inner, s.cols = st.get("rows", 0), st.get("inner", 0), st.get("cols", 0)
    conv = st.get("conv")
    if conv is not None:
        (s.conv.n, s.conv.h, s.conv.w, s.conv.cin, s.conv.kh, s.conv.kw, s.conv.cout,
         s.conv.sh, s.conv.sw, s.conv.dh, s.conv.dw, s.conv.pad_top, s.conv.pad_left,
         s.conv.oh, s.conv.ow) = conv
    pool = st.get("pool")
    if pool is not None:
        (s.pool.n, s.pool.h, s.pool.w, s.pool.c, s.pool.ph, s.pool.pw, s.pool.sh, s.pool.sw,
         s.pool.pad_top, s.pool.pad_left, s.pool.oh, s.pool.ow) = pool
    shift = st.get("shift")
    if shift is not None:
        (s.shift.n, s.shift.d, s.shift.h, s.shift.w, s.shift.c, s.shift.od, s.shift.oh,
         s.shift.ow, s.shift.fd, s.shift.fh, s.shift.fw) = shift
    s.ldx, s.ldy = st.get("ldx", 0), st.get("ldy", 0)
    s.group_x, s.group_x2 = st.get("group_x", 1), st.get("group_x2", 1)
    s.x = _plan_ref(st.get("x"))
    s.x2 = _plan_ref(st.get("x2"))
    s.w = _plan_ref(st.get("w"))
    s.b = _plan_ref(st.get("b"))
    s.y = _plan_ref(st.get("y"))
    s.mean = _plan_ref(st.get("mean"))
    s.var = _plan_ref(st.get("var"))
    s.gamma = _plan_ref(st.get("gamma"))
    s.beta = _plan_ref(st.get("beta"))
    return s
