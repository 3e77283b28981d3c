/*
 * loss.cu - per-sample losses and their gradients, sparse labels, and the
 * accuracy count: csrc/loss.c's formulas, one thread per sample (a row of
 * a loss is the classes of one sample: short).
 */
#include "cuda_internal.cuh"

using namespace pynn_cuda;

namespace {

/* Keras clips probabilities to [EPS, 1 - EPS] before taking logs. */
constexpr float EPS = 1e-7f;

__device__ float row_loss(int kind, const float *p, const float *t, float *g, float gscale,
                          ptrdiff_t cols)
{
    float s = 0.0f;
    const float inv_cols = 1.0f / (float)cols;
    switch (kind) {
    case PYNN_LOSS_MSE:
        for (ptrdiff_t j = 0; j < cols; j++) {
            float d = p[j] - t[j];
            s += d * d;
            if (g) g[j] = 2.0f * d * inv_cols * gscale;
        }
        return s * inv_cols;
    case PYNN_LOSS_MAE:
        for (ptrdiff_t j = 0; j < cols; j++) {
            float d = p[j] - t[j];
            s += fabsf(d);
            if (g) g[j] = (d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f) * inv_cols * gscale;
        }
        return s * inv_cols;
    case PYNN_LOSS_BINARY_CROSSENTROPY:
        for (ptrdiff_t j = 0; j < cols; j++) {
            float pj = p[j], pc = fminf(fmaxf(pj, EPS), 1.0f - EPS);
            s -= t[j] * logf(pc) + (1.0f - t[j]) * logf(1.0f - pc);
            if (g) {
                bool inside = pj > EPS && pj < 1.0f - EPS;
                g[j] = inside ? (pc - t[j]) / (pc * (1.0f - pc)) * inv_cols * gscale : 0.0f;
            }
        }
        return s * inv_cols;
    case PYNN_LOSS_CATEGORICAL_CROSSENTROPY: {
        /* As csrc/loss.c: the predictions are divided by their sum first,
         * as Keras does, and the gradient goes through that division. */
        float sum = 0.0f, t_inside = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) sum += p[j];
        float inv = 1.0f / sum;
        for (ptrdiff_t j = 0; j < cols; j++) {
            float q = p[j] * inv, qc = fminf(fmaxf(q, EPS), 1.0f - EPS);
            s -= t[j] * logf(qc);
            if (q > EPS && q < 1.0f - EPS) t_inside += t[j];
        }
        if (g)
            for (ptrdiff_t j = 0; j < cols; j++) {
                float q = p[j] * inv;
                float dq = q > EPS && q < 1.0f - EPS ? -t[j] / q : 0.0f;
                g[j] = (dq + t_inside) * inv * gscale;
            }
        return s;
    }
    case PYNN_LOSS_SOFTMAX_CROSSENTROPY: {
        float mx = -INFINITY, se = 0.0f, tsum = 0.0f, tx = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) mx = p[j] > mx ? p[j] : mx;
        for (ptrdiff_t j = 0; j < cols; j++) {
            se += expf(p[j] - mx);
            tsum += t[j];
            tx += t[j] * p[j];
        }
        float lse = mx + logf(se);
        if (g) {
            float inv = 1.0f / se;
            for (ptrdiff_t j = 0; j < cols; j++)
                g[j] = (expf(p[j] - mx) * inv * tsum - t[j]) * gscale;
        }
        return tsum * lse - tx;
    }
    case PYNN_LOSS_SIGMOID_CROSSENTROPY:
        for (ptrdiff_t j = 0; j < cols; j++) {
            float x = p[j];
            s += fmaxf(x, 0.0f) - x * t[j] + log1pf(expf(-fabsf(x)));
            if (g) {
                float sg = x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
                g[j] = (sg - t[j]) * inv_cols * gscale;
            }
        }
        return s * inv_cols;
    default:
        return 0.0f;
    }
}

__global__ void loss_kernel(int kind, const float *pred, const float *target,
                            const float *weights, float scale, float *sample_loss, float *grad,
                            ptrdiff_t rows, ptrdiff_t cols)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < rows;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        float gscale = (weights ? weights[i] : 1.0f) / scale;
        sample_loss[i] = row_loss(kind, pred + i * cols, target + i * cols,
                                  grad ? grad + i * cols : nullptr, gscale, cols);
    }
}

__global__ void sparse_loss_kernel(int from_logits, const float *pred, const int32_t *labels,
                                   const float *weights, float scale, float *sample_loss,
                                   float *grad, ptrdiff_t rows, ptrdiff_t cols,
                                   unsigned long long *bad)
{
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < rows;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        const float *p = pred + i * cols;
        float *g = grad ? grad + i * cols : nullptr;
        float gscale = (weights ? weights[i] : 1.0f) / scale;
        int32_t y = labels[i];
        if (y < 0 || y >= cols) {
            if (bad) atomicAdd(bad, 1ull);
            sample_loss[i] = NAN;
            if (g)
                for (ptrdiff_t j = 0; j < cols; j++) g[j] = 0.0f;
            continue;
        }
        if (from_logits) {
            float mx = -INFINITY, se = 0.0f;
            for (ptrdiff_t j = 0; j < cols; j++) mx = p[j] > mx ? p[j] : mx;
            for (ptrdiff_t j = 0; j < cols; j++) se += expf(p[j] - mx);
            sample_loss[i] = mx + logf(se) - p[y];
            if (g) {
                float inv = 1.0f / se;
                for (ptrdiff_t j = 0; j < cols; j++)
                    g[j] = (expf(p[j] - mx) * inv - (j == y ? 1.0f : 0.0f)) * gscale;
            }
        } else {
            /* As the categorical loss: p is divided by its sum first. */
            float sum = 0.0f;
            for (ptrdiff_t j = 0; j < cols; j++) sum += p[j];
            float inv = 1.0f / sum, q = p[y] * inv, qc = fminf(fmaxf(q, EPS), 1.0f - EPS);
            sample_loss[i] = -logf(qc);
            if (g) {
                bool inside = q > EPS && q < 1.0f - EPS;
                for (ptrdiff_t j = 0; j < cols; j++) g[j] = inside ? inv * gscale : 0.0f;
                if (inside) g[y] -= 1.0f / q * inv * gscale;
            }
        }
    }
}

__device__ ptrdiff_t argmax_row(const float *p, ptrdiff_t cols)
{
    ptrdiff_t best = 0;
    for (ptrdiff_t j = 1; j < cols; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

__global__ void accuracy_kernel(int kind, const float *pred, const void *target,
                                const float *weights, ptrdiff_t rows, ptrdiff_t cols,
                                float threshold, double *sum)
{
    __shared__ double scratch[kThreads];
    double part = 0.0;
    for (ptrdiff_t i = blockIdx.x * (ptrdiff_t)blockDim.x + threadIdx.x; i < rows;
         i += (ptrdiff_t)gridDim.x * blockDim.x) {
        const float *p = pred + i * cols;
        double hit;
        if (kind == PYNN_ACC_SPARSE) {
            hit = argmax_row(p, cols) == ((const int32_t *)target)[i];
        } else if (kind == PYNN_ACC_CATEGORICAL) {
            hit = argmax_row(p, cols) == argmax_row((const float *)target + i * cols, cols);
        } else {
            const float *t = (const float *)target + i * cols;
            ptrdiff_t n = 0;
            for (ptrdiff_t j = 0; j < cols; j++) n += (p[j] > threshold) == (t[j] > 0.5f);
            hit = (double)n / (double)cols;
        }
        part += weights ? weights[i] * hit : hit;
    }
    double total = block_sum(part, scratch);
    if (threadIdx.x == 0) atomicAdd(sum, total);
}

bool bad(ptrdiff_t rows, ptrdiff_t cols)
{
    return bad_size(rows) || bad_size(cols) || (double)rows * cols > 1e15;
}

}  // namespace

extern "C" int pynn_cuda_loss(int kind, const float *pred, const float *target,
                              const float *weights, float scale, float *sample_loss, float *grad,
                              ptrdiff_t rows, ptrdiff_t cols, cudaStream_t stream)
{
    if (bad(rows, cols)) return cudaErrorInvalidValue;
    if (rows == 0) return cudaSuccess;
    if (cols < 1) return cudaErrorInvalidValue;
    PYNN_LAUNCH(loss_kernel, grid_for(rows, 128), 128, stream)(kind, pred, target, weights, scale,
                                                              sample_loss, grad, rows, cols);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_sparse_loss(int from_logits, const float *pred, const int32_t *labels,
                                     const float *weights, float scale, float *sample_loss,
                                     float *grad, ptrdiff_t rows, ptrdiff_t cols,
                                     unsigned long long *bad_count, cudaStream_t stream)
{
    if (bad(rows, cols)) return cudaErrorInvalidValue;
    if (rows == 0) return cudaSuccess;
    if (cols < 1) return cudaErrorInvalidValue;
    PYNN_LAUNCH(sparse_loss_kernel, grid_for(rows, 128), 128, stream)(
        from_logits, pred, labels, weights, scale, sample_loss, grad, rows, cols, bad_count);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}

extern "C" int pynn_cuda_accuracy(int kind, const float *pred, const void *target,
                                  const float *weights, ptrdiff_t rows, ptrdiff_t cols,
                                  float threshold, double *sum, cudaStream_t stream)
{
    if (bad(rows, cols)) return cudaErrorInvalidValue;
    if (rows == 0) return cudaSuccess;
    if (cols < 1) return cudaErrorInvalidValue;
    PYNN_LAUNCH(accuracy_kernel, grid_for(rows), kThreads, stream)(kind, pred, target, weights,
                                                                   rows, cols, threshold, sum);
    PYNN_CHECK_LAUNCH();
    return cudaSuccess;
}
