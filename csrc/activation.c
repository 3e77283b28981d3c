/* activation.c - bias + activation forward (fused) and their gradients. */
#include "pynn.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>

static inline float softplusf(float x)
{
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

/* relu6(x + 3) / 6, NaN kept (see act_scalar) */
static inline float hard_sigmoidf(float x)
{
    float v = x / 6.0f + 0.5f;
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

static inline float act_scalar(int act, float alpha, float x)
{
    switch (act) {
    /* Written with comparisons that are false for NaN so that a NaN input
     * gives NaN, as NumPy's maximum does (fmaxf would turn it into 0 and
     * hide a diverging model). */
    case PYNN_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case PYNN_ACT_RELU6: return x < 0.0f ? 0.0f : x > 6.0f ? 6.0f : x;
    case PYNN_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case PYNN_ACT_ELU: return x > 0.0f ? x : alpha * expm1f(x);
    case PYNN_ACT_SIGMOID: return pynn_sigmoid_vec(x);
    /* Keras 3: relu6(x + 3) / 6 */
    case PYNN_ACT_HARD_SIGMOID: return hard_sigmoidf(x);
    case PYNN_ACT_HARD_SWISH: return x * hard_sigmoidf(x);
    case PYNN_ACT_TANH: return pynn_tanh_vec(x);
    case PYNN_ACT_SOFTPLUS: return softplusf(x);
    case PYNN_ACT_SWISH: return x * pynn_sigmoid_vec(x);
    default: return x;
    }
}

/* The row's maximum and sum are reductions the compiler may split over
 * vector lanes (`omp simd`): summed one element after another, each add
 * waited on the last, and a 256 x 1000 softmax took 2.6x NumPy's time.
 * A NaN is not seen by the maximum, but it reaches the sum: the row is
 * NaN, as NumPy's. */
static inline __attribute__((always_inline)) void
softmax_row(const float *x, const float *bias, float *y, ptrdiff_t cols)
{
    if (bias)
        for (ptrdiff_t j = 0; j < cols; j++) y[j] = x[j] + bias[j];
    else if (y != x)
        for (ptrdiff_t j = 0; j < cols; j++) y[j] = x[j];
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (ptrdiff_t j = 0; j < cols; j++) mx = y[j] > mx ? y[j] : mx;
    for (ptrdiff_t j = 0; j < cols; j++) y[j] = pynn_exp_vec(y[j] - mx);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (ptrdiff_t j = 0; j < cols; j++) s += y[j];
    float inv = 1.0f / s;
    for (ptrdiff_t j = 0; j < cols; j++) y[j] *= inv;
}

static inline __attribute__((always_inline)) void
forward_rows_body(int act, float alpha, const float *x, const float *bias, float *y,
                  ptrdiff_t cols, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
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
                for (ptrdiff_t j = 0; j < cols; j++) { float v = xi[j] + bias[j]; yi[j] = v < 0.0f ? 0.0f : v; }
            else
                for (ptrdiff_t j = 0; j < cols; j++) { float v = xi[j]; yi[j] = v < 0.0f ? 0.0f : v; }
            break;
        case PYNN_ACT_SOFTMAX:
            softmax_row(xi, bias, yi, cols);
            break;
        /* and these, whose exp is inlined, get loops without a switch or a
         * conditional load */
#define ROW_LOOP(EXPR)                                                          \
    do {                                                                        \
        if (bias)                                                               \
            for (ptrdiff_t j = 0; j < cols; j++) {                              \
                float v = xi[j] + bias[j];                                      \
                yi[j] = (EXPR);                                                 \
            }                                                                   \
        else                                                                    \
            for (ptrdiff_t j = 0; j < cols; j++) {                              \
                float v = xi[j];                                                \
                yi[j] = (EXPR);                                                 \
            }                                                                   \
    } while (0)
        case PYNN_ACT_SIGMOID:
            ROW_LOOP(pynn_sigmoid_vec(v));
            break;
        case PYNN_ACT_TANH:
            ROW_LOOP(pynn_tanh_vec(v));
            break;
        case PYNN_ACT_SWISH:
            ROW_LOOP(v * pynn_sigmoid_vec(v));
            break;
#undef ROW_LOOP
        default:
            for (ptrdiff_t j = 0; j < cols; j++)
                yi[j] = act_scalar(act, alpha, xi[j] + (bias ? bias[j] : 0.0f));
        }
    }
}

void pynn_bias_activation_forward(int act, float alpha, const float *x,
                                  const float *bias, float *y,
                                  ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    int cheap = act == PYNN_ACT_RELU || act == PYNN_ACT_LINEAR;
    int nt = pynn_threads_for(rows * cols * (cheap ? 1 : 8));
    PYNN_PARALLEL_RANGE(nt, rows, pynn_bias_activation_rows(act, alpha, x, bias, y, cols, lo, hi));
}

static inline __attribute__((always_inline)) void
softmax_backward_body(const float *y, const float *dy, float *dx, ptrdiff_t cols, ptrdiff_t i0,
                      ptrdiff_t i1)
{
    /* dx_j = y_j * (dy_j - sum_k dy_k y_k), the sum over vector lanes (see
     * softmax_row) */
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *yi = y + i * cols, *gi = dy + i * cols;
        float *di = dx + i * cols;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (ptrdiff_t j = 0; j < cols; j++) dot += gi[j] * yi[j];
        for (ptrdiff_t j = 0; j < cols; j++) di[j] = yi[j] * (gi[j] - dot);
    }
}

static inline __attribute__((always_inline)) void
backward_body(int act, float alpha, const float *x, const float *y, const float *dy, float *dx,
              ptrdiff_t i0, ptrdiff_t i1)
{
    if (act == PYNN_ACT_RELU) { /* the common case, vectorized */
        /* dy is loaded unconditionally, so this is a vector select rather
         * than a branch mispredicted on every sign change of y. */
        for (ptrdiff_t i = i0; i < i1; i++) {
            float g = dy[i];
            dx[i] = y[i] > 0.0f ? g : 0.0f;
        }
        return;
    }
    for (ptrdiff_t i = i0; i < i1; i++) {
        float g = dy[i], d;
        switch (act) {
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
        case PYNN_ACT_SOFTPLUS: d = pynn_sigmoid_vec(x[i]); break;
        case PYNN_ACT_SWISH: {
            float s = pynn_sigmoid_vec(x[i]);
            d = s * (1.0f + x[i] * (1.0f - s));
            break;
        }
        default: d = 1.0f;
        }
        dx[i] = g * d;
    }
}

/* The two loops above, compiled once per instruction set and picked at run
 * time. */
PYNN_PER_LEVEL(, pynn_bias_activation_rows, forward_rows_body,
               (int act, float alpha, const float *x, const float *bias, float *y,
                ptrdiff_t cols, ptrdiff_t i0, ptrdiff_t i1),
               (act, alpha, x, bias, y, cols, i0, i1))
PYNN_PER_LEVEL(static, softmax_backward_rows, softmax_backward_body,
               (const float *y, const float *dy, float *dx, ptrdiff_t cols, ptrdiff_t i0,
                ptrdiff_t i1),
               (y, dy, dx, cols, i0, i1))
PYNN_PER_LEVEL(static, backward_range, backward_body,
               (int act, float alpha, const float *x, const float *y, const float *dy,
                float *dx, ptrdiff_t i0, ptrdiff_t i1),
               (act, alpha, x, y, dy, dx, i0, i1))

void pynn_activation_backward_rows(int act, float alpha, const float *x, const float *y,
                                   const float *dy, float *dx, ptrdiff_t cols, ptrdiff_t i0,
                                   ptrdiff_t i1)
{
    if (act == PYNN_ACT_SOFTMAX)
        softmax_backward_rows(y, dy, dx, cols, i0, i1);
    else
        backward_range(act, alpha, x, y, dy, dx, i0 * cols, i1 * cols);
}

void pynn_activation_backward(int act, float alpha, const float *x,
                              const float *y, const float *dy, float *dx,
                              ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    ptrdiff_t n = rows * cols;
    int nt = pynn_threads_for(n * 4);
    if (act == PYNN_ACT_SOFTMAX)
        PYNN_PARALLEL_RANGE(nt, rows, softmax_backward_rows(y, dy, dx, cols, lo, hi));
    else
        PYNN_PARALLEL_RANGE(nt, n, backward_range(act, alpha, x, y, dy, dx, lo, hi));
}

static void bias_grad_cols(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols,
                           ptrdiff_t j0, ptrdiff_t j1)
{
    for (ptrdiff_t j = j0; j < j1; j++) db[j] = 0.0f;
    for (ptrdiff_t i = 0; i < rows; i++) {
        const float *r = dy + i * cols;
        for (ptrdiff_t j = j0; j < j1; j++) db[j] += r[j];
    }
}

void pynn_bias_grad(const float *dy, float *db, ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    /* Sum over rows with cols in the inner loop so it vectorizes.  Threads
     * split the columns, not the rows, so the summation order (and the
     * result) is the same for any thread count. */
    int nt = cols >= 64 ? pynn_threads_for(rows * cols) : 1;
    PYNN_PARALLEL_RANGE(nt, cols, bias_grad_cols(dy, db, rows, cols, lo, hi));
}

/* ------------------------------------------------------------------
 * Keras's ReLU layer in its general form, and PReLU.
 */

/* y = x > threshold ? min(x, max_value) : negative_slope * (x - threshold);
 * as selects on float compares, through integer masks so they vectorize. */
static inline __attribute__((always_inline)) void
relu_general_body(const float *x, float *y, float slope, float max_value, float threshold,
                  ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        float v = x[i];
        y[i] = pynn_pick(pynn_mask_of(v > threshold), fminf(v, max_value), slope * (v - threshold));
    }
}

PYNN_PER_LEVEL(static, relu_general_range, relu_general_body,
               (const float *x, float *y, float slope, float max_value, float threshold,
                ptrdiff_t i0, ptrdiff_t i1),
               (x, y, slope, max_value, threshold, i0, i1))

void pynn_relu_general_forward(const float *x, float *y, ptrdiff_t n, float negative_slope,
                               float max_value, float threshold)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0)
        return;
    int nt = pynn_threads_for(n);
    PYNN_PARALLEL_RANGE(nt, n, relu_general_range(x, y, negative_slope, max_value, threshold,
                                                  lo, hi));
}

/* dx = dy where threshold < x < max_value, dy * negative_slope where
 * x <= threshold, 0 above max_value. */
static inline __attribute__((always_inline)) void
relu_general_grad_body(const float *x, const float *dy, float *dx, float slope, float max_value,
                       float threshold, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        float v = x[i], g = dy[i];
        float d = pynn_pick(pynn_mask_of(v > threshold), pynn_pick(pynn_mask_of(v < max_value), 1.0f, 0.0f), slope);
        dx[i] = g * d;
    }
}

PYNN_PER_LEVEL(static, relu_general_grad_range, relu_general_grad_body,
               (const float *x, const float *dy, float *dx, float slope, float max_value,
                float threshold, ptrdiff_t i0, ptrdiff_t i1),
               (x, dy, dx, slope, max_value, threshold, i0, i1))

void pynn_relu_general_backward(const float *x, const float *dy, float *dx, ptrdiff_t n,
                                float negative_slope, float max_value, float threshold)
{
    PYNN_FTZ_SCOPE;
    if (n <= 0)
        return;
    int nt = pynn_threads_for(n);
    PYNN_PARALLEL_RANGE(nt, n, relu_general_grad_range(x, dy, dx, negative_slope, max_value,
                                                       threshold, lo, hi));
}

static inline __attribute__((always_inline)) void
prelu_body(const float *x, const float *alpha, float *y, ptrdiff_t cols, ptrdiff_t r0,
           ptrdiff_t r1)
{
    for (ptrdiff_t r = r0; r < r1; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        for (ptrdiff_t j = 0; j < cols; j++) {
            float v = xr[j];
            /* not fmaxf/fminf, which turn NaN into 0: NaN passes through
             * (a select through a mask, which vectorizes) */
            yr[j] = pynn_pick(pynn_mask_of(v < 0.0f), alpha[j] * v, v);
        }
    }
}

PYNN_PER_LEVEL(static, prelu_range, prelu_body,
               (const float *x, const float *alpha, float *y, ptrdiff_t cols, ptrdiff_t r0,
                ptrdiff_t r1),
               (x, alpha, y, cols, r0, r1))

void pynn_prelu_forward(const float *x, const float *alpha, float *y, ptrdiff_t rows,
                        ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    if (rows <= 0 || cols <= 0)
        return;
    int nt = pynn_threads_for(rows * cols);
    PYNN_PARALLEL_RANGE(nt, rows, prelu_range(x, alpha, y, cols, lo, hi));
}

/* Columns [j0, j1) of PReLU's backward pass: dx = dy * (x > 0 ? 1 : alpha)
 * (when dx is not NULL) and dalpha = sum over rows of dy * min(x, 0) (when
 * dalpha is not NULL). */
static void prelu_grad_cols(const float *x, const float *alpha, const float *dy, float *dx,
                            float *dalpha, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t j0,
                            ptrdiff_t j1)
{
    if (dalpha)
        for (ptrdiff_t j = j0; j < j1; j++) dalpha[j] = 0.0f;
    for (ptrdiff_t i = 0; i < rows; i++) {
        const float *xr = x + i * cols, *gr = dy + i * cols;
        float *dr = dx ? dx + i * cols : NULL;
        if (dr)
            for (ptrdiff_t j = j0; j < j1; j++)
                dr[j] = gr[j] * pynn_pick(pynn_mask_of(xr[j] > 0.0f), 1.0f, alpha[j]);
        if (dalpha)
            for (ptrdiff_t j = j0; j < j1; j++) dalpha[j] += gr[j] * fminf(xr[j], 0.0f);
    }
}

void pynn_prelu_backward(const float *x, const float *alpha, const float *dy, float *dx,
                         float *dalpha, ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    if (cols <= 0)
        return;
    /* Threads split the columns (as the bias gradient does), so the sums
     * are the same for any thread count. */
    int nt = cols >= 64 ? pynn_threads_for(rows * cols * 2) : 1;
    PYNN_PARALLEL_RANGE(nt, cols, prelu_grad_cols(x, alpha, dy, dx, dalpha, rows, cols, lo, hi));
}
