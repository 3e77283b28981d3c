/*
 * normalization.cu - batch normalization: per-column moments, the
 * per-column affine map, the training-mode backward pass, and the
 * per-channel scale and shift from the statistics.
 *
 * Columns are channels (the last axis), rows everything else.  A block owns
 * 32 columns and reads all their rows: 8 rows at a time, 32 consecutive
 * columns per row (coalesced), summing in double as normalization.c does,
 * so the result does not depend on the number of rows per thread.
 */
#include "cuda_internal.cuh"

using namespace pynn_cuda;

namespace {

constexpr int kCols = 32, kRowsPerPass = 8;

/* The sum over the block's 8 row phases of each column's partial; every
 * thread of the column gets it. */
__device__ double column_total(double v, double (*scratch)[kCols])
{
    scratch[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    double s = 0.0;
    for (int r = 0; r < kRowsPerPass; r++) s += scratch[r][threadIdx.x];
    __syncthreads();
    return s;
}

__global__ void moments_kernel(const float *x, ptrdiff_t rows, ptrdiff_t cols, float *mean,
                               float *var)
{
    __shared__ double scratch[kRowsPerPass][kCols];
    const ptrdiff_t j = (ptrdiff_t)blockIdx.x * kCols + threadIdx.x;
    const bool col = j < cols;
    const double denom = (double)(rows > 0 ? rows : 1);
    double s = 0.0;
    if (col)
        for (ptrdiff_t i = threadIdx.y; i < rows; i += kRowsPerPass) s += x[i * cols + j];
    const double m = column_total(s, scratch) / denom;
    /* the mean is rounded to float before the second pass, as on the CPU */
    const float mf = (float)m;
    double q = 0.0;
    if (col)
        for (ptrdiff_t i = threadIdx.y; i < rows; i += kRowsPerPass) {
            double d = (double)x[i * cols + j] - mf;
            q += d * d;
        }
    const double v = column_total(q, scratch) / denom;
    if (col && threadIdx.y == 0) {
        mean[j] = mf;
        var[j] = (float)v;
    }
}

__global__ void affine_kernel(const float *x, const float *scale, const float *shift, float *y,
                              ptrdiff_t total, ptrdiff_t cols)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < total;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        ptrdiff_t j = i % cols;
        y[i] = x[i] * scale[j] + shift[j];
    }
}

__global__ void batchnorm_backward_kernel(const float *x, const float *dy, const float *mean,
                                          const float *inv_std, const float *gamma, float *dx,
                                          float *dgamma, float *dbeta, ptrdiff_t rows,
                                          ptrdiff_t cols)
{
    __shared__ double scratch[kRowsPerPass][kCols];
    const ptrdiff_t j = (ptrdiff_t)blockIdx.x * kCols + threadIdx.x;
    const bool col = j < cols;
    const float mj = col ? mean[j] : 0.0f, sj = col ? inv_std[j] : 0.0f;
    double sum_dy = 0.0, sum_dyx = 0.0;
    if (col)
        for (ptrdiff_t i = threadIdx.y; i < rows; i += kRowsPerPass) {
            float g = dy[i * cols + j];
            sum_dy += g;
            sum_dyx += (double)g * ((x[i * cols + j] - mj) * sj);
        }
    sum_dy = column_total(sum_dy, scratch);
    sum_dyx = column_total(sum_dyx, scratch);
    if (!col) return;
    if (threadIdx.y == 0) {
        if (dgamma) dgamma[j] = (float)sum_dyx;
        if (dbeta) dbeta[j] = (float)sum_dy;
    }
    if (!dx) return;
    const float inv_rows = 1.0f / (float)(rows > 0 ? rows : 1);
    const float k = (gamma ? gamma[j] : 1.0f) * sj;
    const float fdy = (float)sum_dy, fdyx = (float)sum_dyx;
    for (ptrdiff_t i = threadIdx.y; i < rows; i += kRowsPerPass) {
        float xhat = (x[i * cols + j] - mj) * sj;
        dx[i * cols + j] = k * (dy[i * cols + j] - fdy * inv_rows - xhat * fdyx * inv_rows);
    }
}

__global__ void batchnorm_affine_kernel(const float *mean, const float *var, const float *gamma,
                                        const float *beta, double eps, float *scale, float *shift,
                                        float *inv_std, ptrdiff_t cols)
{
    for (ptrdiff_t j = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; j < cols;
         j += (ptrdiff_t)gridDim.x * blockDim.x) {
        float is = (float)(1.0 / sqrt((double)var[j] + eps));
        float sc = gamma ? is * gamma[j] : is;
        float sh = -mean[j] * sc;
        if (beta) sh += beta[j];
        inv_std[j] = is;
        scale[j] = sc;
        shift[j] = sh;
    }
}

dim3 column_grid(ptrdiff_t cols) { return dim3((unsigned)((cols + kCols - 1) / kCols)); }

bool bad(ptrdiff_t rows, ptrdiff_t cols)
{
    return bad_size(rows) || bad_size(cols) || (double)rows * cols > 1e15 ||
           (cols + kCols - 1) / kCols > 0x7FFFFFFF;
}

}  // namespace

extern "C" int pynn_cuda_moments(const float *x, ptrdiff_t rows, ptrdiff_t cols, float *mean,
                                 float *var, cudaStream_t stream)
{
    if (bad(rows, cols)) return cudaErrorInvalidValue;
    if (cols == 0) return cudaSuccess;
    PYNN_LAUNCH(moments_kernel, column_grid(cols), dim3(kCols, kRowsPerPass), stream)(
        x, rows, cols, mean, var);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_channel_affine(const float *x, const float *scale, const float *shift,
                                        float *y, ptrdiff_t rows, ptrdiff_t cols,
                                        cudaStream_t stream)
{
    if (bad(rows, cols)) return cudaErrorInvalidValue;
    if (rows * cols == 0) return cudaSuccess;
    PYNN_LAUNCH(affine_kernel, grid_for(rows * cols), kThreads, stream)(x, scale, shift, y,
                                                                        rows * cols, cols);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_batchnorm_backward(const float *x, const float *dy, const float *mean,
                                            const float *inv_std, const float *gamma, float *dx,
                                            float *dgamma, float *dbeta, ptrdiff_t rows,
                                            ptrdiff_t cols, cudaStream_t stream)
{
    if (bad(rows, cols)) return cudaErrorInvalidValue;
    if (cols == 0) return cudaSuccess;
    PYNN_LAUNCH(batchnorm_backward_kernel, column_grid(cols), dim3(kCols, kRowsPerPass),
                stream)(x, dy, mean, inv_std, gamma, dx, dgamma, dbeta, rows, cols);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_batchnorm_affine(const float *mean, const float *var,
                                          const float *gamma, const float *beta, double eps,
                                          float *scale, float *shift, float *inv_std,
                                          ptrdiff_t cols, cudaStream_t stream)
{
    if (bad_size(cols)) return cudaErrorInvalidValue;
    if (cols == 0) return cudaSuccess;
    PYNN_LAUNCH(batchnorm_affine_kernel, grid_for(cols), kThreads, stream)(
        mean, var, gamma, beta, eps, scale, shift, inv_std, cols);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}
