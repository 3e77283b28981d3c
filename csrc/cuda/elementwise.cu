/*
 * elementwise.cu - dropout (the CPU's counter-based draws), row gathers, the
 * merge operations and their gradients, finiteness checks, fills, and the
 * row-wise L2 normalization.
 */
#include "cuda_internal.cuh"

using namespace pynn_cuda;

namespace {

/* splitmix64 and mix32: csrc/elementwise.c's generator, so element i of a
 * mask drawn here equals the CPU's for the same seed and offset. */
uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

__device__ __forceinline__ uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

__global__ void dropout_kernel(const float *x, float *y, uint8_t *mask, ptrdiff_t n,
                               uint32_t threshold, float scale, uint64_t keys, uint64_t offset)
{
    const uint32_t k0 = (uint32_t)keys, k1 = (uint32_t)(keys >> 32);
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        uint64_t at = offset + (uint64_t)i;
        uint32_t r = mix32(mix32((uint32_t)at ^ k0) ^ (k1 ^ (uint32_t)(at >> 32)));
        int keep = (r >> 8) >= threshold;
        mask[i] = (uint8_t)keep;
        y[i] = x[i] * ((float)keep * scale);
    }
}

__global__ void dropout_backward_kernel(const float *dy, const uint8_t *mask, float *dx,
                                        ptrdiff_t n, float scale)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x)
        dx[i] = dy[i] * ((float)mask[i] * scale);
}

/* One row per block.y-stride, its bytes copied 4 at a time where the row
 * size allows. */
__global__ void gather_words_kernel(const uint32_t *src, const int64_t *idx, uint32_t *dst,
                                    ptrdiff_t count, ptrdiff_t words)
{
    const ptrdiff_t total = count * words;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        ptrdiff_t r = i / words, c = i % words;
        dst[i] = src[idx[r] * words + c];
    }
}

__global__ void gather_bytes_kernel(const uint8_t *src, const int64_t *idx, uint8_t *dst,
                                    ptrdiff_t count, ptrdiff_t row_bytes)
{
    const ptrdiff_t total = count * row_bytes;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        ptrdiff_t r = i / row_bytes, c = i % row_bytes;
        dst[i] = src[idx[r] * row_bytes + c];
    }
}

__global__ void binary_kernel(int op, const float *a, const float *b, float *y, ptrdiff_t n)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        float u = a[i], v = b[i], r;
        switch (op) {
        case PYNN_BIN_ADD: r = u + v; break;
        case PYNN_BIN_SUB: r = u - v; break;
        case PYNN_BIN_MUL: r = u * v; break;
        /* NaN in either gives NaN, as NumPy's maximum and minimum */
        case PYNN_BIN_MAX: r = (u >= v || u != u) ? u : v; break;
        default: r = (u <= v || u != u) ? u : v; break;
        }
        y[i] = r;
    }
}

__global__ void axpby_kernel(float alpha, const float *a, float beta, const float *b, float *y,
                             ptrdiff_t n)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x)
        y[i] = b ? alpha * a[i] + beta * b[i] : alpha * a[i];
}

struct Extrema {
    const float *xs[PYNN_CUDA_MAX_EXTREMA];
    float *dxs[PYNN_CUDA_MAX_EXTREMA];
};

/* dxs[j] = dy where xs[j] is the first of the inputs to equal y. */
__global__ void extremum_backward_kernel(int k, Extrema e, const float *y, const float *dy,
                                         ptrdiff_t n)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        const float yi = y[i];
        bool taken = false;
        for (int j = 0; j < k; j++) {
            const float v = e.xs[j][i];
            bool hit = !taken && (v == yi || (yi != yi && v != v));
            taken = taken || hit;
            if (e.dxs[j]) e.dxs[j][i] = hit ? dy[i] : 0.0f;
        }
    }
}

__global__ void finite_kernel(const float *x, ptrdiff_t n, int *all_finite)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x)
        if (!isfinite(x[i])) *all_finite = 0;
}

__global__ void fill_kernel(float *x, float value, ptrdiff_t n)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < n;
         i += (ptrdiff_t)gridDim.x * blockDim.x)
        x[i] = value;
}

/* y = x / sqrt(max(sum x^2, eps)) per row, one block per row. */
__global__ void l2_normalize_kernel(const float *x, float *y, float *inv, ptrdiff_t rows,
                                    ptrdiff_t cols, float eps)
{
    __shared__ float scratch[kThreads];
    for (ptrdiff_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols;
        float s = 0.0f;
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x) s += xr[j] * xr[j];
        s = block_sum(s, scratch);
        const float iv = 1.0f / sqrtf(fmaxf(s, eps));
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x) y[r * cols + j] = xr[j] * iv;
        if (threadIdx.x == 0) inv[r] = iv;
    }
}

/* dx = inv * (dy - y * sum(dy * y)) where the sum of squares exceeds eps
 * (the clamp is inactive), inv * dy where it does not. */
__global__ void l2_normalize_backward_kernel(const float *x, const float *y, const float *inv,
                                             const float *dy, float *dx, ptrdiff_t rows,
                                             ptrdiff_t cols, float eps)
{
    __shared__ float scratch[kThreads];
    for (ptrdiff_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols, *yr = y + r * cols, *gr = dy + r * cols;
        float ss = 0.0f, dot = 0.0f;
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x) {
            ss += xr[j] * xr[j];
            dot += gr[j] * yr[j];
        }
        ss = block_sum(ss, scratch);
        dot = block_sum(dot, scratch);
        const float iv = inv[r];
        const bool clamped = ss <= eps;
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x)
            dx[r * cols + j] = clamped ? iv * gr[j] : iv * (gr[j] - yr[j] * dot);
    }
}

dim3 row_grid(ptrdiff_t rows) { return dim3((unsigned)(rows < kMaxBlocks ? rows : kMaxBlocks)); }

}  // namespace

extern "C" int pynn_cuda_dropout_forward(const float *x, float *y, uint8_t *mask, ptrdiff_t n,
                                         float rate, uint64_t seed, uint64_t offset,
                                         cudaStream_t stream)
{
    if (bad_size(n) || !(rate >= 0.0f && rate < 1.0f)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    /* keep when the top 24 bits of the draw, as a fraction, are >= rate */
    uint32_t threshold = (uint32_t)((double)rate * 16777216.0);
    float scale = 1.0f / (1.0f - rate);
    PYNN_LAUNCH(dropout_kernel, grid_for(n), kThreads, stream)(x, y, mask, n, threshold, scale,
                                                               splitmix64(seed), offset);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_dropout_backward(const float *dy, const uint8_t *mask, float *dx,
                                          ptrdiff_t n, float rate, cudaStream_t stream)
{
    if (bad_size(n) || !(rate >= 0.0f && rate < 1.0f)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    PYNN_LAUNCH(dropout_backward_kernel, grid_for(n), kThreads, stream)(dy, mask, dx, n,
                                                                        1.0f / (1.0f - rate));
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_gather_rows(const void *src, const int64_t *idx, void *dst,
                                     ptrdiff_t count, ptrdiff_t row_bytes, cudaStream_t stream)
{
    if (bad_size(count) || bad_size(row_bytes) || (double)count * row_bytes > 1e15)
        return cudaErrorInvalidValue;
    if (count * row_bytes == 0) return cudaSuccess;
    if (row_bytes % 4 == 0 && (uintptr_t)src % 4 == 0 && (uintptr_t)dst % 4 == 0) {
        ptrdiff_t words = row_bytes / 4;
        PYNN_LAUNCH(gather_words_kernel, grid_for(count * words), kThreads, stream)(
            (const uint32_t *)src, idx, (uint32_t *)dst, count, words);
    } else {
        PYNN_LAUNCH(gather_bytes_kernel, grid_for(count * row_bytes), kThreads, stream)(
            (const uint8_t *)src, idx, (uint8_t *)dst, count, row_bytes);
    }
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_binary(int op, const float *a, const float *b, float *y, ptrdiff_t n,
                                cudaStream_t stream)
{
    if (bad_size(n) || op < PYNN_BIN_ADD || op > PYNN_BIN_MIN) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    PYNN_LAUNCH(binary_kernel, grid_for(n), kThreads, stream)(op, a, b, y, n);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_axpby(float alpha, const float *a, float beta, const float *b, float *y,
                               ptrdiff_t n, cudaStream_t stream)
{
    if (bad_size(n)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    PYNN_LAUNCH(axpby_kernel, grid_for(n), kThreads, stream)(alpha, a, beta, b, y, n);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_extremum_backward(int k, const float *const *xs, const float *y,
                                           const float *dy, float *const *dxs, ptrdiff_t n,
                                           cudaStream_t stream)
{
    if (bad_size(n) || k < 1 || k > PYNN_CUDA_MAX_EXTREMA) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    Extrema e{};
    for (int j = 0; j < k; j++) {
        e.xs[j] = xs[j];
        e.dxs[j] = dxs[j];
    }
    PYNN_LAUNCH(extremum_backward_kernel, grid_for(n), kThreads, stream)(k, e, y, dy, n);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_check_finite(const float *x, ptrdiff_t n, int *all_finite,
                                      cudaStream_t stream)
{
    if (bad_size(n)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    PYNN_LAUNCH(finite_kernel, grid_for(n), kThreads, stream)(x, n, all_finite);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_fill(float *x, float value, ptrdiff_t n, cudaStream_t stream)
{
    if (bad_size(n)) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    PYNN_LAUNCH(fill_kernel, grid_for(n), kThreads, stream)(x, value, n);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_l2_normalize_rows(const float *x, float *y, float *inv, ptrdiff_t rows,
                                           ptrdiff_t cols, float eps, cudaStream_t stream)
{
    if (bad_size(rows) || bad_size(cols)) return cudaErrorInvalidValue;
    if (rows == 0) return cudaSuccess;
    PYNN_LAUNCH(l2_normalize_kernel, row_grid(rows), row_threads(cols), stream)(x, y, inv, rows,
                                                                                cols, eps);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_l2_normalize_backward_rows(const float *x, const float *y,
                                                    const float *inv, const float *dy,
                                                    float *dx, ptrdiff_t rows, ptrdiff_t cols,
                                                    float eps, cudaStream_t stream)
{
    if (bad_size(rows) || bad_size(cols)) return cudaErrorInvalidValue;
    if (rows == 0) return cudaSuccess;
    PYNN_LAUNCH(l2_normalize_backward_kernel, row_grid(rows), row_threads(cols), stream)(
        x, y, inv, dy, dx, rows, cols, eps);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}
