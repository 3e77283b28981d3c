/*
 * activation.cu - bias + activation (fused) and their gradients, and the
 * bias gradient.  The activations are those of csrc/activation.c, with
 * the same codes and formulas; softmax (over the last axis) runs one block
 * per row.
 */
#include "cuda_internal.cuh"

using namespace pynn_cuda;

namespace {

__global__ void bias_act_kernel(int act, float alpha, const float *x, const float *bias,
                                float *y, ptrdiff_t total, ptrdiff_t cols)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        float v = x[i];
        if (bias) v += bias[i % cols];
        y[i] = act_forward(act, alpha, v);
    }
}

__global__ void softmax_kernel(const float *x, const float *bias, float *y, ptrdiff_t rows,
                               ptrdiff_t cols)
{
    __shared__ float scratch[kThreads];
    for (ptrdiff_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = -INFINITY;
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x)
            mx = fmaxf(mx, xr[j] + (bias ? bias[j] : 0.0f));
        mx = block_max(mx, scratch);
        float s = 0.0f;
        /* (each thread reads back only the values it wrote: y may alias x) */
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x) {
            float e = expf(xr[j] + (bias ? bias[j] : 0.0f) - mx);
            yr[j] = e;
            s += e;
        }
        const float inv = 1.0f / block_sum(s, scratch);
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] *= inv;
    }
}

__global__ void act_backward_kernel(int act, float alpha, const float *x, const float *y,
                                    const float *dy, float *dx, ptrdiff_t total)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x)
        dx[i] = dy[i] * act_derivative(act, alpha, x ? x[i] : 0.0f, y[i]);
}

/* dx_j = y_j * (dy_j - sum_k dy_k y_k), one block per row. */
__global__ void softmax_backward_kernel(const float *y, const float *dy, float *dx,
                                        ptrdiff_t rows, ptrdiff_t cols)
{
    __shared__ float scratch[kThreads];
    for (ptrdiff_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *yr = y + r * cols, *gr = dy + r * cols;
        float *dr = dx + r * cols;
        float dot = 0.0f;
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x) dot += gr[j] * yr[j];
        dot = block_sum(dot, scratch);
        for (ptrdiff_t j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = yr[j] * (gr[j] - dot);
    }
}

/* Column sums, 32 columns per block, 8 rows at a time (as normalization.cu),
 * each block over `chunk` rows from blockIdx.y * chunk: one chunk writes
 * its sums, several add theirs (a conv layer's bias gradient sums 10^5
 * rows: one block per 32 columns would leave the GPU idle). */
__global__ void bias_grad_kernel(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols,
                                 ptrdiff_t chunk)
{
    __shared__ double scratch[8][32];
    const ptrdiff_t j = (ptrdiff_t)blockIdx.x * 32 + threadIdx.x;
    const ptrdiff_t begin = (ptrdiff_t)blockIdx.y * chunk;
    const ptrdiff_t end = begin + chunk < rows ? begin + chunk : rows;
    double s = 0.0;
    if (j < cols)
        for (ptrdiff_t i = begin + threadIdx.y; i < end; i += 8) s += dy[i * cols + j];
    scratch[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < cols) {
        double t = 0.0;
        for (int r = 0; r < 8; r++) t += scratch[r][threadIdx.x];
        if (gridDim.y == 1) db[j] = (float)t;
        else atomicAdd(&db[j], (float)t);
    }
}

bool bad(ptrdiff_t rows, ptrdiff_t cols)
{
    return bad_size(rows) || bad_size(cols) || (double)rows * cols > 1e15;
}

dim3 row_grid(ptrdiff_t rows) { return dim3((unsigned)(rows < kMaxBlocks ? rows : kMaxBlocks)); }

}  // namespace

extern "C" int pynn_cuda_bias_activation_forward(int act, float alpha, const float *x,
                                                 const float *bias, float *y, ptrdiff_t rows,
                                                 ptrdiff_t cols, cudaStream_t stream)
{
    if (bad(rows, cols)) return cudaErrorInvalidValue;
    if (rows * cols == 0) return cudaSuccess;
    if (act == PYNN_ACT_SOFTMAX)
        PYNN_LAUNCH(softmax_kernel, row_grid(rows), row_threads(cols), stream)(x, bias, y, rows,
                                                                              cols);
    else
        PYNN_LAUNCH(bias_act_kernel, grid_for(rows * cols), kThreads, stream)(
            act, alpha, x, bias, y, rows * cols, cols);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_activation_backward(int act, float alpha, const float *x,
                                             const float *y, const float *dy, float *dx,
                                             ptrdiff_t rows, ptrdiff_t cols,
                                             cudaStream_t stream)
{
    if (bad(rows, cols) || (act_needs_input(act) && !x)) return cudaErrorInvalidValue;
    if (rows * cols == 0) return cudaSuccess;
    if (act == PYNN_ACT_SOFTMAX)
        PYNN_LAUNCH(softmax_backward_kernel, row_grid(rows), row_threads(cols), stream)(
            y, dy, dx, rows, cols);
    else
        PYNN_LAUNCH(act_backward_kernel, grid_for(rows * cols), kThreads, stream)(
            act, alpha, act_needs_input(act) ? x : nullptr, y, dy, dx, rows * cols);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_bias_grad(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols,
                                   cudaStream_t stream)
{
    if (bad(rows, cols) || (cols + 31) / 32 > 0x7FFFFFFF) return cudaErrorInvalidValue;
    if (cols == 0) return cudaSuccess;
    /* chunks of at least 1024 rows, as many as fill a large GPU about
     * twice over; one chunk (the sums in one fixed order) up to 4096 rows */
    const ptrdiff_t col_blocks = (cols + 31) / 32;
    ptrdiff_t chunks = rows > 4096 ? rows / 1024 : 1;
    const ptrdiff_t most = (264 + col_blocks - 1) / col_blocks;
    if (chunks > most) chunks = most > 1 ? most : 1;
    const ptrdiff_t chunk = chunks > 1 ? (rows + chunks - 1) / chunks : (rows > 0 ? rows : 1);
    chunks = rows > 0 ? (rows + chunk - 1) / chunk : 1;
    if (chunks > 1) PYNN_CHECK(cudaMemsetAsync(db, 0, (size_t)cols * sizeof(float), stream));
    PYNN_LAUNCH(bias_grad_kernel, dim3((unsigned)col_blocks, (unsigned)chunks), dim3(32, 8),
                stream)(dy, db, rows, cols, chunk);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}
