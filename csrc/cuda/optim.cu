/*
 * optim.cu - the optimizer updates over a model's flat parameter buffer (one
 * kernel per step), and the L1/L2 weight penalties: csrc/optim.c's update
 * rules, one thread per parameter.
 */
#include "cuda_internal.cuh"

using namespace pynn_cuda;

namespace {

__global__ void sgd_kernel(float *w, const float *g, float *v, ptrdiff_t n, float lr,
                           float momentum, int nesterov)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        if (!v) {
            w[i] -= lr * g[i];
            continue;
        }
        float vi = momentum * v[i] - lr * g[i];
        v[i] = vi;
        w[i] += nesterov ? momentum * vi - lr * g[i] : vi;
    }
}

__global__ void rmsprop_kernel(float *w, const float *g, float *s, float *m, float *mg,
                               ptrdiff_t n, float lr, float rho, float momentum, float eps)
{
    const float a = 1.0f - rho;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        float gi = g[i];
        float si = rho * s[i] + a * gi * gi;
        s[i] = si;
        float denom = si + eps;
        if (mg) {
            float mgi = rho * mg[i] + a * gi;
            mg[i] = mgi;
            denom -= mgi * mgi;
        }
        float step = lr * gi / sqrtf(denom);
        if (m) {
            step += momentum * m[i];
            m[i] = step;
        }
        w[i] -= step;
    }
}

__global__ void adam_kernel(float *w, const float *g, float *m, float *v, ptrdiff_t n,
                            float alpha, float beta1, float beta2, float eps)
{
    const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * a1;
        float vi = v[i] + (gi * gi - v[i]) * a2;
        m[i] = mi;
        v[i] = vi;
        w[i] -= alpha * mi / (sqrtf(vi) + eps);
    }
}

/* Blocks of 4096 values keep the float partial sums accurate, as on the
 * CPU; the partials are added in double. */
constexpr ptrdiff_t kPenaltyBlock = 4096;

__global__ void penalty_kernel(const float *w, float *g, ptrdiff_t n, float l1, float l2,
                               double *sum)
{
    __shared__ float scratch[kThreads];
    const ptrdiff_t i0 = (ptrdiff_t)blockIdx.x * kPenaltyBlock;
    const ptrdiff_t i1 = i0 + kPenaltyBlock < n ? i0 + kPenaltyBlock : n;
    float acc = 0.0f;
    for (ptrdiff_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
        float wi = w[i];
        acc += l1 * fabsf(wi) + l2 * wi * wi;
        if (g) {
            float sign = (float)(wi > 0.0f) - (float)(wi < 0.0f);
            g[i] += l1 * sign + 2.0f * l2 * wi;
        }
    }
    float total = block_sum(acc, scratch);
    if (threadIdx.x == 0) atomicAdd(sum, (double)total);
}

}  // namespace

extern "C" int pynn_cuda_sgd_update(float *w, const float *g, float *v, ptrdiff_t n, float lr,
                                    float momentum, int nesterov, cudaStream_t stream)
{
    if (bad_size(n) || (momentum != 0.0f && !v)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    PYNN_LAUNCH(sgd_kernel, grid_for(n), kThreads, stream)(w, g, momentum == 0.0f ? nullptr : v,
                                                           n, lr, momentum, nesterov);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_rmsprop_update(float *w, const float *g, float *s, float *m, float *mg,
                                        ptrdiff_t n, float lr, float rho, float momentum,
                                        float eps, cudaStream_t stream)
{
    if (bad_size(n)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    PYNN_LAUNCH(rmsprop_kernel, grid_for(n), kThreads, stream)(w, g, s, m, mg, n, lr, rho,
                                                                 momentum, eps);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_adam_update(float *w, const float *g, float *m, float *v, ptrdiff_t n,
                                     float lr, float beta1, float beta2, float eps, int64_t t,
                                     cudaStream_t stream)
{
    if (bad_size(n) || t < 1) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    /* Bias corrections in double, as on the CPU: beta^t underflows float. */
    double c1 = 1.0 - pow((double)beta1, (double)t);
    double c2 = 1.0 - pow((double)beta2, (double)t);
    float alpha = (float)((double)lr * sqrt(c2) / c1);
    PYNN_LAUNCH(adam_kernel, grid_for(n), kThreads, stream)(w, g, m, v, n, alpha, beta1, beta2,
                                                            eps);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_weight_penalty(const float *w, float *g, ptrdiff_t n, float l1,
                                        float l2, double *sum, cudaStream_t stream)
{
    if (bad_size(n)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    ptrdiff_t blocks = (n + kPenaltyBlock - 1) / kPenaltyBlock;
    if (blocks > 0x7FFFFFFF) return cudaErrorInvalidValue;
    PYNN_LAUNCH(penalty_kernel, dim3((unsigned)blocks), kThreads, stream)(w, g, n, l1, l2, sum);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}
