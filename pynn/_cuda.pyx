# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The bridge from Python to pynn's CUDA kernels (csrc/cuda), the optional
pynn._cuda extension.

It owns the CUDA runtime's state: one stream per device on which every
kernel, copy, allocation and free is queued in order, and device memory
from the runtime's stream-ordered pool (freed blocks are kept for reuse, so
a training step allocates nothing from the driver).  Arrays are handed over
as device addresses with their sizes; pynn.cuda and pynn._cuda_ops check
shapes, dtypes and devices before calling, and every call here turns a
CUDA error into pynn.cuda.CudaError naming the kernel and the error.

Importing this module never touches the GPU: ``probe()`` does, and says
why no GPU can be used when none can.
"""
cimport numpy as cnp
import numpy as np
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t, uintptr_t

cnp.import_array()

cdef extern from "cuda_runtime_api.h" nogil:
    ctypedef int cudaError_t
    ctypedef void *cudaStream_t
    ctypedef void *cudaMemPool_t
    cdef enum:
        cudaSuccess
        cudaErrorNotSupported
        cudaMemcpyHostToDevice
        cudaMemcpyDeviceToHost
        cudaMemcpyDeviceToDevice
        cudaStreamNonBlocking
        cudaHostRegisterDefault
        cudaMemPoolAttrReleaseThreshold
        cudaDevAttrComputeCapabilityMajor
        cudaDevAttrComputeCapabilityMinor
        cudaDevAttrMultiProcessorCount
    cudaError_t cudaGetDeviceCount(int *count)
    cudaError_t cudaSetDevice(int device)
    cudaError_t cudaDeviceGetAttribute(int *value, int attr, int device)
    cudaError_t cudaDriverGetVersion(int *version)
    cudaError_t cudaRuntimeGetVersion(int *version)
    cudaError_t cudaGetLastError()
    const char *cudaGetErrorString(cudaError_t err)
    const char *cudaGetErrorName(cudaError_t err)
    cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags)
    cudaError_t cudaStreamSynchronize(cudaStream_t stream)
    cudaError_t cudaMallocAsync(void **ptr, size_t size, cudaStream_t stream)
    cudaError_t cudaMalloc(void **ptr, size_t size)
    cudaError_t cudaFree(void *ptr)
    cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream)
    cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device)
    cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, int attr, void *value)
    cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, int kind,
                                cudaStream_t stream)
    cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
                                  size_t width, size_t height, int kind, cudaStream_t stream)
    cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream)
    cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags)
    cudaError_t cudaHostUnregister(void *ptr)

cdef extern from "pynn_cuda.h" nogil:
    ctypedef struct pynn_conv_shape:
        Py_ssize_t n, h, w, cin
        Py_ssize_t kh, kw, cout
        Py_ssize_t sh, sw, dh, dw
        Py_ssize_t pad_top, pad_left
        Py_ssize_t oh, ow
    ctypedef struct pynn_pool_shape:
        Py_ssize_t n, h, w, c
        Py_ssize_t ph, pw, sh, sw
        Py_ssize_t pad_top, pad_left
        Py_ssize_t oh, ow
    int PYNN_CUDA_MAX_EXTREMA
    int pynn_cuda_sgemm(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                        float alpha, const float *a, Py_ssize_t lda, const float *b,
                        Py_ssize_t ldb, float beta, float *c, Py_ssize_t ldc, int allow_tf32,
                        cudaStream_t stream)
    int pynn_cuda_sgemm_batched(Py_ssize_t count, int trans_a, int trans_b, Py_ssize_t m,
                                Py_ssize_t n, Py_ssize_t k, float alpha, const float *a,
                                Py_ssize_t lda, Py_ssize_t stride_a, const float *b,
                                Py_ssize_t ldb, Py_ssize_t stride_b, float beta, float *c,
                                Py_ssize_t ldc, Py_ssize_t stride_c, int allow_tf32,
                                cudaStream_t stream)
    int pynn_cuda_dense_forward(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *x,
                                const float *w, const float *bias, int act, float alpha_act,
                                float *y, int allow_tf32, cudaStream_t stream)
    int pynn_cuda_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                                 const float *bias, int act, float alpha, float *y,
                                 cudaStream_t stream)
    int pynn_cuda_conv2d_backward(const pynn_conv_shape *s, const float *x, const float *k,
                                  int act, float alpha, const float *pre, const float *y,
                                  const float *dy, float *work, float *dk, float *db,
                                  float *dx, cudaStream_t stream)
    int pynn_cuda_depthwise_conv2d_forward(const pynn_conv_shape *s, const float *x,
                                           const float *k, const float *bias, int act,
                                           float alpha, float *y, cudaStream_t stream)
    int pynn_cuda_depthwise_conv2d_backward(const pynn_conv_shape *s, const float *x,
                                            const float *k, const float *dy, float *dk,
                                            float *db, float *dx, cudaStream_t stream)
    int pynn_cuda_max_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y,
                                     cudaStream_t stream)
    int pynn_cuda_max_pool2d_backward(const pynn_pool_shape *s, const float *x, const float *y,
                                      const float *dy, float *dx, cudaStream_t stream)
    int pynn_cuda_avg_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y,
                                     cudaStream_t stream)
    int pynn_cuda_avg_pool2d_backward(const pynn_pool_shape *s, const float *dy, float *dx,
                                      cudaStream_t stream)
    int pynn_cuda_moments(const float *x, Py_ssize_t rows, Py_ssize_t cols, float *mean,
                          float *var, cudaStream_t stream)
    int pynn_cuda_channel_affine(const float *x, const float *scale, const float *shift,
                                 float *y, Py_ssize_t rows, Py_ssize_t cols,
                                 cudaStream_t stream)
    int pynn_cuda_batchnorm_backward(const float *x, const float *dy, const float *mean,
                                     const float *inv_std, const float *gamma, float *dx,
                                     float *dgamma, float *dbeta, Py_ssize_t rows,
                                     Py_ssize_t cols, cudaStream_t stream)
    int pynn_cuda_batchnorm_affine(const float *mean, const float *var, const float *gamma,
                                   const float *beta, double eps, float *scale, float *shift,
                                   float *inv_std, Py_ssize_t cols, cudaStream_t stream)
    int pynn_cuda_bias_activation_forward(int act, float alpha, const float *x,
                                          const float *bias, float *y, Py_ssize_t rows,
                                          Py_ssize_t cols, cudaStream_t stream)
    int pynn_cuda_activation_backward(int act, float alpha, const float *x, const float *y,
                                      const float *dy, float *dx, Py_ssize_t rows,
                                      Py_ssize_t cols, cudaStream_t stream)
    int pynn_cuda_bias_grad(const float *dy, float *db, Py_ssize_t rows, Py_ssize_t cols,
                            cudaStream_t stream)
    int pynn_cuda_loss(int kind, const float *pred, const float *target, const float *weights,
                       float scale, float *sample_loss, float *grad, Py_ssize_t rows,
                       Py_ssize_t cols, cudaStream_t stream)
    int pynn_cuda_sparse_loss(int from_logits, const float *pred, const int32_t *labels,
                              const float *weights, float scale, float *sample_loss,
                              float *grad, Py_ssize_t rows, Py_ssize_t cols,
                              unsigned long long *bad, cudaStream_t stream)
    int pynn_cuda_accuracy(int kind, const float *pred, const void *target,
                           const float *weights, Py_ssize_t rows, Py_ssize_t cols,
                           float threshold, double *sum, cudaStream_t stream)
    int pynn_cuda_sgd_update(float *w, const float *g, float *v, Py_ssize_t n, float lr,
                             float momentum, int nesterov, cudaStream_t stream)
    int pynn_cuda_rmsprop_update(float *w, const float *g, float *s, float *m, float *mg,
                                 Py_ssize_t n, float lr, float rho, float momentum, float eps,
                                 cudaStream_t stream)
    int pynn_cuda_adam_update(float *w, const float *g, float *m, float *v, Py_ssize_t n,
                              float lr, float beta1, float beta2, float eps, int64_t t,
                              cudaStream_t stream)
    int pynn_cuda_weight_penalty(const float *w, float *g, Py_ssize_t n, float l1, float l2,
                                 double *sum, cudaStream_t stream)
    int pynn_cuda_dropout_forward(const float *x, float *y, uint8_t *mask, Py_ssize_t n,
                                  float rate, uint64_t seed, uint64_t offset,
                                  cudaStream_t stream)
    int pynn_cuda_dropout_backward(const float *dy, const uint8_t *mask, float *dx,
                                   Py_ssize_t n, float rate, cudaStream_t stream)
    int pynn_cuda_gather_rows(const void *src, const int64_t *idx, void *dst, Py_ssize_t count,
                              Py_ssize_t row_bytes, cudaStream_t stream)
    int pynn_cuda_binary(int op, const float *a, const float *b, float *y, Py_ssize_t n,
                         cudaStream_t stream)
    int pynn_cuda_axpby(float alpha, const float *a, float beta, const float *b, float *y,
                        Py_ssize_t n, cudaStream_t stream)
    int pynn_cuda_extremum_backward(int k, const float *const *xs, const float *y,
                                    const float *dy, float *const *dxs, Py_ssize_t n,
                                    cudaStream_t stream)
    int pynn_cuda_check_finite(const float *x, Py_ssize_t n, int *all_finite,
                               cudaStream_t stream)
    int pynn_cuda_fill(float *x, float value, Py_ssize_t n, cudaStream_t stream)
    int pynn_cuda_l2_normalize_rows(const float *x, float *y, float *inv, Py_ssize_t rows,
                                    Py_ssize_t cols, float eps, cudaStream_t stream)
    int pynn_cuda_l2_normalize_backward_rows(const float *x, const float *y, const float *inv,
                                             const float *dy, float *dx, Py_ssize_t rows,
                                             Py_ssize_t cols, float eps, cudaStream_t stream)


cdef enum:
    MAX_DEVICES = 64
cdef cudaStream_t _streams[MAX_DEVICES]
cdef int _device_count = -1


cdef int _raise(int err, str what) except -1:
    from .cuda import CudaError
    raise CudaError(f"{what}: {cudaGetErrorName(<cudaError_t>err).decode()} "
                    f"({cudaGetErrorString(<cudaError_t>err).decode()})")


cdef inline int _check(int err, str what) except -1:
    if err != cudaSuccess:
        cudaGetLastError()  # clear a sticky launch error so later calls report their own
        _raise(err, what)
    return 0


def probe():
    """(number of GPUs, None), or (0, why none can be used).  Asks the
    driver once."""
    global _device_count
    cdef int count = 0, err
    if _device_count > 0:
        return _device_count, None
    err = cudaGetDeviceCount(&count)
    if err != cudaSuccess:
        cudaGetLastError()
        return 0, f"{cudaGetErrorName(<cudaError_t>err).decode()}: " \
                  f"{cudaGetErrorString(<cudaError_t>err).decode()}"
    _device_count = min(count, MAX_DEVICES)
    if count == 0:
        return 0, "the CUDA driver reports no GPU"
    return _device_count, None


cdef cudaStream_t _stream(int device) except? NULL:
    """The device's stream (made on first use, with the memory pool told to
    keep freed blocks)."""
    cdef cudaStream_t s
    cdef cudaMemPool_t pool
    cdef uint64_t keep = <uint64_t>-1
    if device < 0 or device >= MAX_DEVICES or device >= _device_count:
        raise ValueError(f"pynn.cuda: no GPU number {device} (this machine has "
                         f"{max(_device_count, 0)})")
    _check(cudaSetDevice(device), "cudaSetDevice")
    if _streams[device] == NULL:
        _check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate")
        _streams[device] = s
        if cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess:
            cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep)
        cudaGetLastError()
    return _streams[device]


def device_properties(int device):
    """(name, (major, minor), multiprocessors) of a GPU."""
    cdef char name[256]
    cdef int major = 0, minor = 0, sms = 0
    _stream(device)
    _check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
           "cudaDeviceGetAttribute")
    _check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device),
           "cudaDeviceGetAttribute")
    _check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
           "cudaDeviceGetAttribute")
    return _device_name(device), (major, minor), sms


cdef extern from *:
    """
    #include <stdio.h>
    static const char *pynn_cuda_device_name(int device, char *buf, size_t size)
    {
        struct cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "unknown GPU";
        snprintf(buf, size, "%s", prop.name);
        return buf;
    }
    """
    const char *pynn_cuda_device_name(int device, char *buf, size_t size)


cdef str _device_name(int device):
    cdef char buf[256]
    return pynn_cuda_device_name(device, buf, sizeof(buf)).decode()


def versions():
    """(driver version, runtime version) as CUDA numbers them (13000 = 13.0)."""
    cdef int driver = 0, runtime = 0
    cudaDriverGetVersion(&driver)
    cudaRuntimeGetVersion(&runtime)
    cudaGetLastError()
    return driver, runtime


def synchronize(int device):
    """Wait for everything queued on the device's stream; raises the first
    error a kernel met."""
    cdef cudaStream_t s = _stream(device)
    cdef int err
    with nogil:
        err = cudaStreamSynchronize(s)
    _check(err, "synchronize")


cdef class DeviceBuffer:
    """nbytes of device memory (at least 1), freed in stream order when the
    last array viewing it goes away."""
    cdef readonly uintptr_t ptr
    cdef readonly Py_ssize_t nbytes
    cdef readonly int device
    cdef bint pooled

    def __cinit__(self, Py_ssize_t nbytes, int device):
        cdef void *p = NULL
        if nbytes < 0:
            raise ValueError(f"pynn.cuda: cannot allocate {nbytes} bytes")
        cdef cudaStream_t s = _stream(device)
        cdef int err = cudaMallocAsync(&p, <size_t>max(nbytes, 1), s)
        if err == cudaErrorNotSupported:  # a GPU or driver without memory pools
            cudaGetLastError()
            err = cudaMalloc(&p, <size_t>max(nbytes, 1))
            self.pooled = False
        else:
            self.pooled = True
        if err != cudaSuccess:
            cudaGetLastError()
            raise MemoryError(f"pynn.cuda: cannot allocate {nbytes:,} bytes on GPU {device}: "
                              f"{cudaGetErrorString(<cudaError_t>err).decode()}")
        self.ptr = <uintptr_t>p
        self.nbytes = nbytes
        self.device = device

    def __dealloc__(self):
        if self.ptr and self.device < MAX_DEVICES and _streams[self.device] != NULL:
            cudaSetDevice(self.device)
            if self.pooled:
                cudaFreeAsync(<void *>self.ptr, _streams[self.device])
            else:  # waits for the device: the memory may be in use by queued work
                cudaFree(<void *>self.ptr)


cdef inline void *_host_ptr(cnp.ndarray a):
    return cnp.PyArray_DATA(a)


def copy_to_device(uintptr_t dst, cnp.ndarray src, int device):
    """src (C-contiguous) into device memory, queued on the stream; src may
    be reused at once (a pageable source is staged before this returns)."""
    if not cnp.PyArray_IS_C_CONTIGUOUS(src):
        raise ValueError("copy_to_device: the host array must be C-contiguous")
    cdef size_t n = <size_t>cnp.PyArray_NBYTES(src)
    if n:
        _check(cudaMemcpyAsync(<void *>dst, _host_ptr(src), n, cudaMemcpyHostToDevice,
                               _stream(device)), "copy to the GPU")


def copy_to_host(cnp.ndarray dst, uintptr_t src, int device):
    """Device memory into dst (C-contiguous, writable); waits for it."""
    if not cnp.PyArray_IS_C_CONTIGUOUS(dst) or not cnp.PyArray_ISWRITEABLE(dst):
        raise ValueError("copy_to_host: the host array must be C-contiguous and writable")
    cdef size_t n = <size_t>cnp.PyArray_NBYTES(dst)
    cdef cudaStream_t s = _stream(device)
    cdef int err = cudaSuccess
    cdef void *d = _host_ptr(dst)
    if n:
        with nogil:
            err = cudaMemcpyAsync(d, <const void *>src, n, cudaMemcpyDeviceToHost, s)
            if err == cudaSuccess:
                err = cudaStreamSynchronize(s)
    _check(err, "copy from the GPU")


def copy_device(uintptr_t dst, uintptr_t src, Py_ssize_t nbytes, int device):
    if nbytes > 0:
        _check(cudaMemcpyAsync(<void *>dst, <const void *>src, <size_t>nbytes,
                               cudaMemcpyDeviceToDevice, _stream(device)), "copy on the GPU")


def copy_block(uintptr_t src, Py_ssize_t lds, uintptr_t dst, Py_ssize_t ldd, Py_ssize_t rows,
               Py_ssize_t cols, int device):
    """rows x cols floats between row strides lds and ldd (floats), as
    pynn_copy_2d."""
    if rows > 0 and cols > 0:
        _check(cudaMemcpy2DAsync(<void *>dst, <size_t>ldd * 4, <const void *>src,
                                 <size_t>lds * 4, <size_t>cols * 4, <size_t>rows,
                                 cudaMemcpyDeviceToDevice, _stream(device)), "copy_block")


def memset(uintptr_t dst, int value, Py_ssize_t nbytes, int device):
    if nbytes > 0:
        _check(cudaMemsetAsync(<void *>dst, value, <size_t>nbytes, _stream(device)), "memset")


def host_register(cnp.ndarray a):
    """Page-lock a host array so copies from it run asynchronously at full
    speed; returns False when the driver refuses (the copies still work)."""
    cdef int err = cudaHostRegister(_host_ptr(a), <size_t>cnp.PyArray_NBYTES(a),
                                    cudaHostRegisterDefault)
    if err != cudaSuccess:
        cudaGetLastError()
        return False
    return True


def host_unregister(uintptr_t ptr):
    cudaHostUnregister(<void *>ptr)
    cudaGetLastError()


# ---------------------------------------------------------------- kernels

cdef inline float *F(uintptr_t p):
    return <float *>p


def sgemm(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
          uintptr_t a, Py_ssize_t lda, uintptr_t b, Py_ssize_t ldb, float beta, uintptr_t c,
          Py_ssize_t ldc, bint tf32, int device):
    _check(pynn_cuda_sgemm(trans_a, trans_b, m, n, k, alpha, F(a), lda, F(b), ldb, beta, F(c),
                           ldc, tf32, _stream(device)), "sgemm")


def sgemm_batched(Py_ssize_t count, int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n,
                  Py_ssize_t k, float alpha, uintptr_t a, Py_ssize_t lda, Py_ssize_t stride_a,
                  uintptr_t b, Py_ssize_t ldb, Py_ssize_t stride_b, float beta, uintptr_t c,
                  Py_ssize_t ldc, Py_ssize_t stride_c, bint tf32, int device):
    _check(pynn_cuda_sgemm_batched(count, trans_a, trans_b, m, n, k, alpha, F(a), lda, stride_a,
                                   F(b), ldb, stride_b, beta, F(c), ldc, stride_c, tf32,
                                   _stream(device)), "sgemm_batched")


def dense_forward(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, uintptr_t x, uintptr_t w,
                  uintptr_t bias, int act, float alpha, uintptr_t y, bint tf32, int device):
    _check(pynn_cuda_dense_forward(m, n, k, F(x), F(w), F(bias), act, alpha, F(y), tf32,
                                   _stream(device)), "dense")


cdef pynn_conv_shape _conv_shape(tuple s) except *:
    cdef pynn_conv_shape c
    (c.n, c.h, c.w, c.cin, c.kh, c.kw, c.cout, c.sh, c.sw, c.dh, c.dw, c.pad_top, c.pad_left,
     c.oh, c.ow) = s
    return c


cdef pynn_pool_shape _pool_shape(tuple s) except *:
    cdef pynn_pool_shape p
    (p.n, p.h, p.w, p.c, p.ph, p.pw, p.sh, p.sw, p.pad_top, p.pad_left, p.oh, p.ow) = s
    return p


def conv2d_forward(tuple shape, uintptr_t x, uintptr_t k, uintptr_t bias, int act, float alpha,
                   uintptr_t y, bint depthwise, int device):
    cdef pynn_conv_shape s = _conv_shape(shape)
    if depthwise:
        _check(pynn_cuda_depthwise_conv2d_forward(&s, F(x), F(k), F(bias), act, alpha, F(y),
                                                  _stream(device)), "depthwise_conv2d")
    else:
        _check(pynn_cuda_conv2d_forward(&s, F(x), F(k), F(bias), act, alpha, F(y),
                                        _stream(device)), "conv2d")


def conv2d_backward(tuple shape, uintptr_t x, uintptr_t k, int act, float alpha, uintptr_t pre,
                    uintptr_t y, uintptr_t dy, uintptr_t work, uintptr_t dk, uintptr_t db,
                    uintptr_t dx, bint depthwise, int device):
    cdef pynn_conv_shape s = _conv_shape(shape)
    if depthwise:
        _check(pynn_cuda_depthwise_conv2d_backward(&s, F(x), F(k), F(dy), F(dk), F(db), F(dx),
                                                   _stream(device)), "depthwise_conv2d backward")
    else:
        _check(pynn_cuda_conv2d_backward(&s, F(x), F(k), act, alpha, F(pre), F(y), F(dy),
                                         F(work), F(dk), F(db), F(dx), _stream(device)),
               "conv2d backward")


def max_pool2d_forward(tuple shape, uintptr_t x, uintptr_t y, int device):
    cdef pynn_pool_shape s = _pool_shape(shape)
    _check(pynn_cuda_max_pool2d_forward(&s, F(x), F(y), _stream(device)), "max_pool2d")


def max_pool2d_backward(tuple shape, uintptr_t x, uintptr_t y, uintptr_t dy, uintptr_t dx,
                        int device):
    cdef pynn_pool_shape s = _pool_shape(shape)
    _check(pynn_cuda_max_pool2d_backward(&s, F(x), F(y), F(dy), F(dx), _stream(device)),
           "max_pool2d backward")


def avg_pool2d_forward(tuple shape, uintptr_t x, uintptr_t y, int device):
    cdef pynn_pool_shape s = _pool_shape(shape)
    _check(pynn_cuda_avg_pool2d_forward(&s, F(x), F(y), _stream(device)), "avg_pool2d")


def avg_pool2d_backward(tuple shape, uintptr_t dy, uintptr_t dx, int device):
    cdef pynn_pool_shape s = _pool_shape(shape)
    _check(pynn_cuda_avg_pool2d_backward(&s, F(dy), F(dx), _stream(device)),
           "avg_pool2d backward")


def moments(uintptr_t x, Py_ssize_t rows, Py_ssize_t cols, uintptr_t mean, uintptr_t var,
            int device):
    _check(pynn_cuda_moments(F(x), rows, cols, F(mean), F(var), _stream(device)), "moments")


def channel_affine(uintptr_t x, uintptr_t scale, uintptr_t shift, uintptr_t y, Py_ssize_t rows,
                   Py_ssize_t cols, int device):
    _check(pynn_cuda_channel_affine(F(x), F(scale), F(shift), F(y), rows, cols,
                                    _stream(device)), "channel_affine")


def batchnorm_backward(uintptr_t x, uintptr_t dy, uintptr_t mean, uintptr_t inv_std,
                       uintptr_t gamma, uintptr_t dx, uintptr_t dgamma, uintptr_t dbeta,
                       Py_ssize_t rows, Py_ssize_t cols, int device):
    _check(pynn_cuda_batchnorm_backward(F(x), F(dy), F(mean), F(inv_std), F(gamma), F(dx),
                                        F(dgamma), F(dbeta), rows, cols, _stream(device)),
           "batch normalization backward")


def batchnorm_affine(uintptr_t mean, uintptr_t var, uintptr_t gamma, uintptr_t beta,
                     double eps, uintptr_t scale, uintptr_t shift, uintptr_t inv_std,
                     Py_ssize_t cols, int device):
    _check(pynn_cuda_batchnorm_affine(F(mean), F(var), F(gamma), F(beta), eps, F(scale),
                                      F(shift), F(inv_std), cols, _stream(device)),
           "batch_norm_affine")


def bias_activation(int act, float alpha, uintptr_t x, uintptr_t bias, uintptr_t y,
                    Py_ssize_t rows, Py_ssize_t cols, int device):
    _check(pynn_cuda_bias_activation_forward(act, alpha, F(x), F(bias), F(y), rows, cols,
                                             _stream(device)), "activation")


def activation_backward(int act, float alpha, uintptr_t x, uintptr_t y, uintptr_t dy,
                        uintptr_t dx, Py_ssize_t rows, Py_ssize_t cols, int device):
    _check(pynn_cuda_activation_backward(act, alpha, F(x), F(y), F(dy), F(dx), rows, cols,
                                         _stream(device)), "activation backward")


def bias_grad(uintptr_t dy, uintptr_t db, Py_ssize_t rows, Py_ssize_t cols, int device):
    _check(pynn_cuda_bias_grad(F(dy), F(db), rows, cols, _stream(device)), "bias_grad")


def loss(int kind, uintptr_t pred, uintptr_t target, uintptr_t weights, float scale,
         uintptr_t sample_loss, uintptr_t grad, Py_ssize_t rows, Py_ssize_t cols, int device):
    _check(pynn_cuda_loss(kind, F(pred), F(target), F(weights), scale, F(sample_loss), F(grad),
                          rows, cols, _stream(device)), "loss")


def sparse_loss(bint from_logits, uintptr_t pred, uintptr_t labels, uintptr_t weights,
                float scale, uintptr_t sample_loss, uintptr_t grad, Py_ssize_t rows,
                Py_ssize_t cols, uintptr_t bad, int device):
    _check(pynn_cuda_sparse_loss(from_logits, F(pred), <const int32_t *>labels, F(weights),
                                 scale, F(sample_loss), F(grad), rows, cols,
                                 <unsigned long long *>bad, _stream(device)),
           "sparse_categorical_crossentropy")


def accuracy(int kind, uintptr_t pred, uintptr_t target, uintptr_t weights, Py_ssize_t rows,
             Py_ssize_t cols, float threshold, uintptr_t total, int device):
    _check(pynn_cuda_accuracy(kind, F(pred), <const void *>target, F(weights), rows, cols,
                              threshold, <double *>total, _stream(device)), "accuracy")


def sgd_update(uintptr_t w, uintptr_t g, uintptr_t v, Py_ssize_t n, float lr, float momentum,
               bint nesterov, int device):
    _check(pynn_cuda_sgd_update(F(w), F(g), F(v), n, lr, momentum, nesterov, _stream(device)),
           "sgd_update")


def rmsprop_update(uintptr_t w, uintptr_t g, uintptr_t s, uintptr_t m, uintptr_t mg,
                   Py_ssize_t n, float lr, float rho, float momentum, float eps, int device):
    _check(pynn_cuda_rmsprop_update(F(w), F(g), F(s), F(m), F(mg), n, lr, rho, momentum, eps,
                                    _stream(device)), "rmsprop_update")


def adam_update(uintptr_t w, uintptr_t g, uintptr_t m, uintptr_t v, Py_ssize_t n, float lr,
                float beta1, float beta2, float eps, int64_t t, int device):
    _check(pynn_cuda_adam_update(F(w), F(g), F(m), F(v), n, lr, beta1, beta2, eps, t,
                                 _stream(device)), "adam_update")


def weight_penalty(uintptr_t w, uintptr_t g, Py_ssize_t n, float l1, float l2, uintptr_t total,
                   int device):
    _check(pynn_cuda_weight_penalty(F(w), F(g), n, l1, l2, <double *>total, _stream(device)),
           "weight_penalty")


def dropout_forward(uintptr_t x, uintptr_t y, uintptr_t mask, Py_ssize_t n, float rate,
                    uint64_t seed, uint64_t offset, int device):
    _check(pynn_cuda_dropout_forward(F(x), F(y), <uint8_t *>mask, n, rate, seed, offset,
                                     _stream(device)), "dropout")


def dropout_backward(uintptr_t dy, uintptr_t mask, uintptr_t dx, Py_ssize_t n, float rate,
                     int device):
    _check(pynn_cuda_dropout_backward(F(dy), <const uint8_t *>mask, F(dx), n, rate,
                                      _stream(device)), "dropout backward")


def gather_rows(uintptr_t src, uintptr_t idx, uintptr_t dst, Py_ssize_t count,
                Py_ssize_t row_bytes, int device):
    _check(pynn_cuda_gather_rows(<const void *>src, <const int64_t *>idx, <void *>dst, count,
                                 row_bytes, _stream(device)), "gather_rows")


def binary(int op, uintptr_t a, uintptr_t b, uintptr_t y, Py_ssize_t n, int device):
    _check(pynn_cuda_binary(op, F(a), F(b), F(y), n, _stream(device)), "elementwise op")


def axpby(float alpha, uintptr_t a, float beta, uintptr_t b, uintptr_t y, Py_ssize_t n,
          int device):
    _check(pynn_cuda_axpby(alpha, F(a), beta, F(b), F(y), n, _stream(device)), "axpby")


def extremum_backward(list xs, uintptr_t y, uintptr_t dy, list dxs, Py_ssize_t n, int device):
    cdef const float *px[64]
    cdef float *pd[64]
    cdef int k = len(xs), j
    if k < 1 or k > PYNN_CUDA_MAX_EXTREMA or len(dxs) != k:
        raise ValueError(f"extremum_grad: the GPU kernel takes 1 to {PYNN_CUDA_MAX_EXTREMA} "
                         f"inputs, got {k}")
    for j in range(k):
        px[j] = F(xs[j])
        pd[j] = F(dxs[j])
    _check(pynn_cuda_extremum_backward(k, px, F(y), F(dy), pd, n, _stream(device)),
           "extremum_grad")


def check_finite(uintptr_t x, Py_ssize_t n, uintptr_t flag, int device):
    _check(pynn_cuda_check_finite(F(x), n, <int *>flag, _stream(device)), "all_finite")


def fill(uintptr_t x, float value, Py_ssize_t n, int device):
    _check(pynn_cuda_fill(F(x), value, n, _stream(device)), "fill")


def l2_normalize_rows(uintptr_t x, uintptr_t y, uintptr_t inv, Py_ssize_t rows, Py_ssize_t cols,
                      float eps, int device):
    _check(pynn_cuda_l2_normalize_rows(F(x), F(y), F(inv), rows, cols, eps, _stream(device)),
           "l2_normalize")


def l2_normalize_backward_rows(uintptr_t x, uintptr_t y, uintptr_t inv, uintptr_t dy,
                               uintptr_t dx, Py_ssize_t rows, Py_ssize_t cols, float eps,
                               int device):
    _check(pynn_cuda_l2_normalize_backward_rows(F(x), F(y), F(inv), F(dy), F(dx), rows, cols,
                                                eps, _stream(device)), "l2_normalize backward")
