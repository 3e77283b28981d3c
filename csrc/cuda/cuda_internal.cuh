/*
 * cuda_internal.cuh - what the .cu files share: launch and error helpers,
 * the activation functions, block reductions.  Not part of the C API.
 *
 * Kernels use only what every CUDA GPU since sm_60 has: static shared
 * memory, __syncthreads, atomicAdd on float and double.  Launches go
 * through PYNN_LAUNCH so every one of them is followed by an error check.
 */
#ifndef PYNN_CUDA_INTERNAL_CUH
#define PYNN_CUDA_INTERNAL_CUH

#include <math.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "pynn_cuda.h"

/* (a test build of the kernels on the CPU brings a launcher of its own) */
#ifndef PYNN_LAUNCH
#define PYNN_LAUNCH(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#endif

/* After a launch: return its error (a bad configuration, a launch on a
 * device without kernels for its architecture) to the caller. */
#define PYNN_CHECK_LAUNCH()                                                    \
    do {                                                                       \
        cudaError_t err_ = cudaGetLastError();                                 \
        if (err_ != cudaSuccess) return err_;                                  \
    } while (0)

/* Fully unrolls the loop that follows, so the arrays it indexes (a
 * thread's accumulators) stay in registers instead of local memory. */
#if defined(__CUDACC__)
#define PYNN_UNROLL _Pragma("unroll")
#else
#define PYNN_UNROLL
#endif

#define PYNN_CHECK(call)                                                       \
    do {                                                                       \
        cudaError_t err_ = (cudaError_t)(call);                                \
        if (err_ != cudaSuccess) return err_;                                  \
    } while (0)

namespace pynn_cuda {

/* Threads per block of the one-dimensional kernels. */
constexpr int kThreads = 256;
/* Grid-stride loops cap their grid here: enough blocks to fill any GPU. */
constexpr ptrdiff_t kMaxBlocks = 65535;

inline dim3 grid_for(ptrdiff_t n, int threads = kThreads)
{
    ptrdiff_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > kMaxBlocks) b = kMaxBlocks;
    return dim3((unsigned)b);
}

/* Sizes the kernels refuse: a negative one, or a product that would not
 * fit the signed 64-bit index type. */
inline bool bad_size(ptrdiff_t n) { return n < 0 || n > (ptrdiff_t)1 << 48; }

__device__ __forceinline__ float sigmoidf_stable(float x)
{
    /* exp of a non-positive number only, as the CPU kernels */
    float e = expf(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

__device__ __forceinline__ float softplusf_stable(float x)
{
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

/* act(x) for every activation but softmax (a row operation). */
__device__ __forceinline__ float act_forward(int act, float alpha, float x)
{
    switch (act) {
    case PYNN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case PYNN_ACT_RELU6: return fminf(fmaxf(x, 0.0f), 6.0f);
    case PYNN_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case PYNN_ACT_ELU: return x > 0.0f ? x : alpha * expm1f(x);
    case PYNN_ACT_SIGMOID: return sigmoidf_stable(x);
    case PYNN_ACT_HARD_SIGMOID: return fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case PYNN_ACT_HARD_SWISH: return x * fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case PYNN_ACT_TANH: return tanhf(x);
    case PYNN_ACT_SOFTPLUS: return softplusf_stable(x);
    case PYNN_ACT_SWISH: return x * sigmoidf_stable(x);
    default: return x;
    }
}

/* act'(.) from the output y and (for the activations that need it) the
 * input x, as csrc/activation.c takes it; not for softmax. */
__device__ __forceinline__ float act_derivative(int act, float alpha, float x, float y)
{
    switch (act) {
    case PYNN_ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case PYNN_ACT_RELU6: return (y > 0.0f && y < 6.0f) ? 1.0f : 0.0f;
    case PYNN_ACT_LEAKY_RELU: return x > 0.0f ? 1.0f : alpha;
    case PYNN_ACT_ELU: return x > 0.0f ? 1.0f : y + alpha;
    case PYNN_ACT_SIGMOID: return y * (1.0f - y);
    case PYNN_ACT_HARD_SIGMOID: return (y > 0.0f && y < 1.0f) ? 1.0f / 6.0f : 0.0f;
    case PYNN_ACT_HARD_SWISH:
        return x <= -3.0f ? 0.0f : x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f;
    case PYNN_ACT_TANH: return 1.0f - y * y;
    case PYNN_ACT_SOFTPLUS: return sigmoidf_stable(x);
    case PYNN_ACT_SWISH: {
        float s = sigmoidf_stable(x);
        return s * (1.0f + x * (1.0f - s));
    }
    default: return 1.0f;
    }
}

/* Whether act_derivative reads x. */
inline bool act_needs_input(int act)
{
    return act == PYNN_ACT_LEAKY_RELU || act == PYNN_ACT_ELU || act == PYNN_ACT_SOFTPLUS ||
           act == PYNN_ACT_SWISH || act == PYNN_ACT_HARD_SWISH;
}

/* The sum over the block of each thread's v (blockDim.x a power of two up
 * to kThreads); every thread gets it.  `scratch` holds kThreads values. */
template <typename T>
__device__ T block_sum(T v, T *scratch)
{
    unsigned t = threadIdx.x;
    scratch[t] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] += scratch[t + half];
        __syncthreads();
    }
    T total = scratch[0];
    __syncthreads();
    return total;
}

/* The same with the maximum.  NaNs are skipped, as the CPU's scan skips
 * them; a row holding one still ends NaN through its sums. */
__device__ __forceinline__ float block_max(float v, float *scratch)
{
    unsigned t = threadIdx.x;
    scratch[t] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] = fmaxf(scratch[t], scratch[t + half]);
        __syncthreads();
    }
    float m = scratch[0];
    __syncthreads();
    return m;
}

/* Threads of a row kernel (one block per row): a power of two, enough for
 * the row's columns. */
inline int row_threads(ptrdiff_t cols)
{
    int t = 32;
    while (t < kThreads && t < cols) t *= 2;
    return t;
}

}  // namespace pynn_cuda

#endif
