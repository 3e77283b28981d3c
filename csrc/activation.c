/* activation.c - bias + activation forward (fused) and their gradients. */
#include "pynn.h"
#include "internal.h"

#include <math.h>

static inline float sigmoidf(float x)
{
    /* Stable on both tails: exp of a non-positive number only. */
    if (x >= 0.0f) {
        float e = expf(-x);
        return 1.0f / (1.0f + e);
    }
    float e = expf(x);
    return e / (1.0f + e);
}

static inline float softplusf(float x)
{
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

static inline float act_scalar(int act, float alpha, float x)
{
    switch (act) {
    case PYNN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case PYNN_ACT_RELU6: return fminf(fmaxf(x, 0.0f), 6.0f);
    case PYNN_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case PYNN_ACT_ELU: return x > 0.0f ? x : alpha * expm1f(x);
    case PYNN_ACT_SIGMOID: return sigmoidf(x);
    /* Keras 3: relu6(x + 3) / 6 */
    case PYNN_ACT_HARD_SIGMOID: return fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case PYNN_ACT_HARD_SWISH: return x * fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case PYNN_ACT_TANH: return tanhf(x);
    case PYNN_ACT_SOFTPLUS: return softplusf(x);
    case PYNN_ACT_SWISH: return x * sigmoidf(x);
    default: return x;
    }
}

static void softmax_row(const float *x, const float *bias, float *y, ptrdiff_t cols)
{
    float mx = -INFINITY;
    for (ptrdiff_t j = 0; j < cols; j++) {
        float v = x[j] + (bias ? bias[j] : 0.0f);
        y[j] = v;
        mx = v > mx ? v : mx;
    }
    float s = 0.0f;
    for (ptrdiff_t j = 0; j < cols; j++) {
        float e = expf(y[j] - mx);
        y[j] = e;
        s += e;
    }
    float inv = 1.0f / s;
    for (ptrdiff_t j = 0; j < cols; j++) y[j] *= inv;
}

void pynn_bias_activation_forward(int act, float alpha, const float *x,
                                  const float *bias, float *y,
                                  ptrdiff_t rows, ptrdiff_t cols)
{
    int nt = pynn_threads_for(rows * cols * (act == PYNN_ACT_RELU || act == PYNN_ACT_LINEAR ? 1 : 8));
    if (act == PYNN_ACT_SOFTMAX) {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (ptrdiff_t i = 0; i < rows; i++)
            softmax_row(x + i * cols, bias, y + i * cols, cols);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (ptrdiff_t i = 0; i < rows; i++) {
        const float *xi = x + i * cols;
        float *yi = y + i * cols;
        switch (act) {
        /* The two common cases get loops the compiler vectorizes. */
        case PYNN_ACT_LINEAR:
            if (bias)
                for (ptrdiff_t j = 0; j < cols; j++) yi[j] = xi[j] + bias[j];
            else if (yi != xi)
                for (ptrdiff_t j = 0; j < cols; j++) yi[j] = xi[j];
            break;
        case PYNN_ACT_RELU:
            if (bias)
                for (ptrdiff_t j = 0; j < cols; j++) { float v = xi[j] + bias[j]; yi[j] = v > 0.0f ? v : 0.0f; }
            else
                for (ptrdiff_t j = 0; j < cols; j++) { float v = xi[j]; yi[j] = v > 0.0f ? v : 0.0f; }
            break;
        default:
            for (ptrdiff_t j = 0; j < cols; j++)
                yi[j] = act_scalar(act, alpha, xi[j] + (bias ? bias[j] : 0.0f));
        }
    }
}

void pynn_activation_backward(int act, float alpha, const float *x,
                              const float *y, const float *dy, float *dx,
                              ptrdiff_t rows, ptrdiff_t cols)
{
    ptrdiff_t n = rows * cols;
    int nt = pynn_threads_for(n * 4);
    if (act == PYNN_ACT_SOFTMAX) {
        /* dx_j = y_j * (dy_j - sum_k dy_k y_k) */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (ptrdiff_t i = 0; i < rows; i++) {
            const float *yi = y + i * cols, *gi = dy + i * cols;
            float *di = dx + i * cols;
            float dot = 0.0f;
            for (ptrdiff_t j = 0; j < cols; j++) dot += gi[j] * yi[j];
            for (ptrdiff_t j = 0; j < cols; j++) di[j] = yi[j] * (gi[j] - dot);
        }
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (ptrdiff_t i = 0; i < n; i++) {
        float g = dy[i], d;
        switch (act) {
        case PYNN_ACT_RELU: d = y[i] > 0.0f ? 1.0f : 0.0f; break;
        case PYNN_ACT_RELU6: d = (y[i] > 0.0f && y[i] < 6.0f) ? 1.0f : 0.0f; break;
        case PYNN_ACT_LEAKY_RELU: d = x[i] > 0.0f ? 1.0f : alpha; break;
        case PYNN_ACT_ELU: d = x[i] > 0.0f ? 1.0f : y[i] + alpha; break;
        case PYNN_ACT_SIGMOID: d = y[i] * (1.0f - y[i]); break;
        case PYNN_ACT_HARD_SIGMOID: d = (y[i] > 0.0f && y[i] < 1.0f) ? 1.0f / 6.0f : 0.0f; break;
        case PYNN_ACT_HARD_SWISH: {
            float xv = x[i];
            d = xv <= -3.0f ? 0.0f : xv >= 3.0f ? 1.0f : (2.0f * xv + 3.0f) / 6.0f;
            break;
        }
        case PYNN_ACT_TANH: d = 1.0f - y[i] * y[i]; break;
        case PYNN_ACT_SOFTPLUS: d = sigmoidf(x[i]); break;
        case PYNN_ACT_SWISH: {
            float s = sigmoidf(x[i]);
            d = s * (1.0f + x[i] * (1.0f - s));
            break;
        }
        default: d = 1.0f;
        }
        dx[i] = g * d;
    }
}

void pynn_bias_grad(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols)
{
    /* Sum over rows, cols in the inner loop so it vectorizes. Per-thread
     * partial sums would change the summation order with the thread count;
     * a column split keeps results identical for any thread count. */
    int nt = pynn_threads_for(rows * cols);
    ptrdiff_t chunk = 64;
    ptrdiff_t nchunks = (cols + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (ptrdiff_t c = 0; c < nchunks; c++) {
        ptrdiff_t j0 = c * chunk, j1 = PYNN_MIN(cols, j0 + chunk);
        for (ptrdiff_t j = j0; j < j1; j++) db[j] = 0.0f;
        for (ptrdiff_t i = 0; i < rows; i++) {
            const float *r = dy + i * cols;
            for (ptrdiff_t j = j0; j < j1; j++) db[j] += r[j];
        }
    }
}
