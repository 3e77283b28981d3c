/*
 * pynn_cuda.h - the C API of pynn's CUDA kernels (the optional pynn._cuda
 * extension).
 *
 * The same conventions as pynn.h, whose shape structs and enums these
 * functions share: float32, row-major, NHWC images, HWIO kernels, sizes as
 * ptrdiff_t.  Every pointer is device memory unless its comment says
 * otherwise.  Every function queues its kernels on `stream` and returns at
 * once with a cudaError_t (cudaSuccess, or the error of the first launch or
 * call that failed, e.g. cudaErrorInvalidValue for a size the kernels
 * cannot index); nothing here synchronizes unless it says so.  The caller
 * (the Cython bridge pynn/_cuda.pyx) validates shapes, dtypes and devices
 * first, as the CPU bridge does; the functions still refuse sizes whose
 * products do not fit their index types instead of reading out of bounds.
 */
#ifndef PYNN_CUDA_H
#define PYNN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "../pynn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- gemm.cu */

/* C = alpha * op(A) * op(B) + beta * C, row-major, as pynn_sgemm (beta == 0
 * never reads C).  allow_tf32 lets the product run on the tensor cores in
 * TF32 (10-bit mantissa inputs, float32 accumulation) on GPUs that have
 * them; otherwise every product is an exact float32 FMA. */
int pynn_cuda_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                    float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                    float beta, float *c, ptrdiff_t ldc, int allow_tf32, cudaStream_t stream);
/* count products as pynn_sgemm_batched. */
int pynn_cuda_sgemm_batched(ptrdiff_t count, int trans_a, int trans_b, ptrdiff_t m,
                            ptrdiff_t n, ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                            ptrdiff_t stride_a, const float *b, ptrdiff_t ldb, ptrdiff_t stride_b,
                            float beta, float *c, ptrdiff_t ldc, ptrdiff_t stride_c,
                            int allow_tf32, cudaStream_t stream);
/* y = act(x @ w + bias) for x m x k, w k x n: one GEMM whose output pass
 * adds the bias and applies the activation (softmax, a row operation, in a
 * second kernel).  bias may be NULL. */
int pynn_cuda_dense_forward(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *x,
                            const float *w, const float *bias, int act, float alpha_act,
                            float *y, int allow_tf32, cudaStream_t stream);

/* ------------------------------------------------------------- conv.cu */

/* y = act(conv(x, k) + bias) as pynn_conv2d_forward: an implicit GEMM
 * (n*oh*ow) x cout x (kh*kw*cin) whose A operand is read straight from the
 * input image (no unrolled copy in memory). */
int pynn_cuda_conv2d_forward(const pynn_conv_shape *s, const float *x, const float *k,
                             const float *bias, int act, float alpha, float *y,
                             cudaStream_t stream);
/* As pynn_conv2d_backward.  work (n*oh*ow*cout floats) receives dy times the
 * activation's derivative; it is needed unless act is PYNN_ACT_LINEAR (then
 * it may be NULL).  dk, db, dx may each be NULL. */
int pynn_cuda_conv2d_backward(const pynn_conv_shape *s, const float *x, const float *k,
                              int act, float alpha, const float *pre, const float *y,
                              const float *dy, float *work, float *dk, float *db, float *dx,
                              cudaStream_t stream);
int pynn_cuda_depthwise_conv2d_forward(const pynn_conv_shape *s, const float *x,
                                       const float *k, const float *bias, int act, float alpha,
                                       float *y, cudaStream_t stream);
int pynn_cuda_depthwise_conv2d_backward(const pynn_conv_shape *s, const float *x,
                                        const float *k, const float *dy, float *dk, float *db,
                                        float *dx, cudaStream_t stream);

/* ------------------------------------------------------------- pool.cu */

/* As the pool.c functions (global pooling is the window h x w). */
int pynn_cuda_max_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y,
                                 cudaStream_t stream);
int pynn_cuda_max_pool2d_backward(const pynn_pool_shape *s, const float *x, const float *y,
                                  const float *dy, float *dx, cudaStream_t stream);
int pynn_cuda_avg_pool2d_forward(const pynn_pool_shape *s, const float *x, float *y,
                                 cudaStream_t stream);
int pynn_cuda_avg_pool2d_backward(const pynn_pool_shape *s, const float *dy, float *dx,
                                  cudaStream_t stream);

/* ---------------------------------------------------- normalization.cu */

int pynn_cuda_moments(const float *x, ptrdiff_t rows, ptrdiff_t cols, float *mean, float *var,
                      cudaStream_t stream);
int pynn_cuda_channel_affine(const float *x, const float *scale, const float *shift, float *y,
                             ptrdiff_t rows, ptrdiff_t cols, cudaStream_t stream);
int pynn_cuda_batchnorm_backward(const float *x, const float *dy, const float *mean,
                                 const float *inv_std, const float *gamma, float *dx,
                                 float *dgamma, float *dbeta, ptrdiff_t rows, ptrdiff_t cols,
                                 cudaStream_t stream);
/* Per channel: inv_std = 1 / sqrt(var + eps) (in double, rounded once),
 * scale = gamma * inv_std, shift = beta - mean * scale, as
 * pynn.ops.batch_norm_affine; gamma and beta may be NULL. */
int pynn_cuda_batchnorm_affine(const float *mean, const float *var, const float *gamma,
                               const float *beta, double eps, float *scale, float *shift,
                               float *inv_std, ptrdiff_t cols, cudaStream_t stream);

/* ------------------------------------------------------- activation.cu */

int pynn_cuda_bias_activation_forward(int act, float alpha, const float *x, const float *bias,
                                      float *y, ptrdiff_t rows, ptrdiff_t cols,
                                      cudaStream_t stream);
int pynn_cuda_activation_backward(int act, float alpha, const float *x, const float *y,
                                  const float *dy, float *dx, ptrdiff_t rows, ptrdiff_t cols,
                                  cudaStream_t stream);
int pynn_cuda_bias_grad(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols,
                        cudaStream_t stream);

/* ------------------------------------------------------------- loss.cu */

int pynn_cuda_loss(int kind, const float *pred, const float *target, const float *weights,
                   float scale, float *sample_loss, float *grad, ptrdiff_t rows,
                   ptrdiff_t cols, cudaStream_t stream);
/* As pynn_sparse_loss; the number of labels outside [0, cols) is added to
 * *bad (device memory, may be NULL) instead of returned. */
int pynn_cuda_sparse_loss(int from_logits, const float *pred, const int32_t *labels,
                          const float *weights, float scale, float *sample_loss, float *grad,
                          ptrdiff_t rows, ptrdiff_t cols, unsigned long long *bad,
                          cudaStream_t stream);
/* As pynn_accuracy; the sum is added to *sum (device memory). */
int pynn_cuda_accuracy(int kind, const float *pred, const void *target, const float *weights,
                       ptrdiff_t rows, ptrdiff_t cols, float threshold, double *sum,
                       cudaStream_t stream);

/* ------------------------------------------------------------ optim.cu */

int pynn_cuda_sgd_update(float *w, const float *g, float *v, ptrdiff_t n, float lr,
                         float momentum, int nesterov, cudaStream_t stream);
int pynn_cuda_rmsprop_update(float *w, const float *g, float *s, float *m, float *mg,
                             ptrdiff_t n, float lr, float rho, float momentum, float eps,
                             cudaStream_t stream);
int pynn_cuda_adam_update(float *w, const float *g, float *m, float *v, ptrdiff_t n, float lr,
                          float beta1, float beta2, float eps, int64_t t, cudaStream_t stream);
/* Adds sum(l1 |w| + l2 w^2) to *sum (device memory) and, when g is not
 * NULL, the penalty's gradient to g. */
int pynn_cuda_weight_penalty(const float *w, float *g, ptrdiff_t n, float l1, float l2,
                             double *sum, cudaStream_t stream);

/* ------------------------------------------------------ elementwise.cu */

/* The same draws as pynn_dropout_forward: element i keeps its value when
 * the counter-based hash of (seed, offset + i) says so, so a mask drawn on
 * the GPU equals the CPU's for the same seed. */
int pynn_cuda_dropout_forward(const float *x, float *y, uint8_t *mask, ptrdiff_t n, float rate,
                              uint64_t seed, uint64_t offset, cudaStream_t stream);
int pynn_cuda_dropout_backward(const float *dy, const uint8_t *mask, float *dx, ptrdiff_t n,
                               float rate, cudaStream_t stream);
/* Rows idx[0..count) of src into dst, row_bytes each; idx is device memory
 * and every index must lie in [0, rows). */
int pynn_cuda_gather_rows(const void *src, const int64_t *idx, void *dst, ptrdiff_t count,
                          ptrdiff_t row_bytes, cudaStream_t stream);
int pynn_cuda_binary(int op, const float *a, const float *b, float *y, ptrdiff_t n,
                     cudaStream_t stream);
int pynn_cuda_axpby(float alpha, const float *a, float beta, const float *b, float *y,
                    ptrdiff_t n, cudaStream_t stream);
/* The most arrays pynn_cuda_extremum_backward takes. */
#define PYNN_CUDA_MAX_EXTREMA 16
int pynn_cuda_extremum_backward(int k, const float *const *xs, const float *y, const float *dy,
                                float *const *dxs, ptrdiff_t n, cudaStream_t stream);
/* Sets *all_finite (device memory, set to 1 by the caller) to 0 when one
 * of the n floats is NaN or infinite. */
int pynn_cuda_check_finite(const float *x, ptrdiff_t n, int *all_finite, cudaStream_t stream);
int pynn_cuda_fill(float *x, float value, ptrdiff_t n, cudaStream_t stream);
int pynn_cuda_l2_normalize_rows(const float *x, float *y, float *inv, ptrdiff_t rows,
                                ptrdiff_t cols, float eps, cudaStream_t stream);
int pynn_cuda_l2_normalize_backward_rows(const float *x, const float *y, const float *inv,
                                         const float *dy, float *dx, ptrdiff_t rows,
                                         ptrdiff_t cols, float eps, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* PYNN_CUDA_H */
