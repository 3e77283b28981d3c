/*
 * normalization.c - batch normalization's kernels: per-column moments, the
 * per-column affine map (which is the whole forward pass once the scale and
 * shift are known), and the training-mode backward pass.
 *
 * Columns are channels (the last axis of NHWC data), rows everything else,
 * so there are many rows and few columns: threads split the rows, each
 * summing into its own partial (in double, so a million rows lose nothing),
 * and the partials are added in thread order.
 */
#include "pynn.h"
#include "internal.h"

#include <math.h>

static void sum_rows(const float *x, const float *center, ptrdiff_t cols, ptrdiff_t lo,
                     ptrdiff_t hi, double *acc)
{
    for (ptrdiff_t j = 0; j < cols; j++) acc[j] = 0.0;
    for (ptrdiff_t i = lo; i < hi; i++) {
        const float *r = x + i * cols;
        if (center)
            for (ptrdiff_t j = 0; j < cols; j++) {
                double d = (double)r[j] - center[j];
                acc[j] += d * d;
            }
        else
            for (ptrdiff_t j = 0; j < cols; j++) acc[j] += r[j];
    }
}

/* out[j] = (sum over rows of x[:, j], or of (x[:, j] - center[j])^2) / rows.
 * Returns -1 if a per-thread buffer cannot be had. */
static int column_mean(const float *x, const float *center, ptrdiff_t rows, ptrdiff_t cols,
                       float *out)
{
    int nt = pynn_threads_for(rows * cols);
    double *parts[PYNN_MAX_THREADS];
    int failed = 0;
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            PYNN_FTZ_SCOPE;
            int t = pynn_thread_id();
            ptrdiff_t lo, hi;
            pynn_thread_range(rows, &lo, &hi);
            double *acc = parts[t] = (double *)pynn_scratch(PYNN_SCRATCH_PARTIAL, 2 * cols);
            if (acc) {
                sum_rows(x, center, cols, lo, hi, acc);
            } else {
#pragma omp atomic write
                failed = 1;
            }
        }
        if (failed)
            return -1;
    } else {
        parts[0] = (double *)pynn_scratch(PYNN_SCRATCH_PARTIAL, 2 * cols);
        if (!parts[0])
            return -1;
        sum_rows(x, center, cols, 0, rows, parts[0]);
        nt = 1;
    }
    for (ptrdiff_t j = 0; j < cols; j++) {
        double s = 0.0;
        for (int t = 0; t < nt; t++) s += parts[t][j];
        out[j] = (float)(s / (double)(rows > 0 ? rows : 1));
    }
    return 0;
}

void pynn_moments(const float *x, ptrdiff_t rows, ptrdiff_t cols, float *mean, float *var)
{
    PYNN_FTZ_SCOPE;
    /* Two passes (mean, then squared deviations): the one-pass formula
     * E[x^2] - E[x]^2 cancels badly when the mean is large. */
    if (column_mean(x, NULL, rows, cols, mean) || column_mean(x, mean, rows, cols, var)) {
        /* No buffer: fall back to a plain serial loop. */
        for (ptrdiff_t j = 0; j < cols; j++) {
            double s = 0.0, q = 0.0;
            for (ptrdiff_t i = 0; i < rows; i++) s += x[i * cols + j];
            double m = s / (double)(rows > 0 ? rows : 1);
            for (ptrdiff_t i = 0; i < rows; i++) {
                double d = x[i * cols + j] - m;
                q += d * d;
            }
            mean[j] = (float)m;
            var[j] = (float)(q / (double)(rows > 0 ? rows : 1));
        }
    }
}

static void affine_rows(const float *x, const float *scale, const float *shift, float *y,
                        ptrdiff_t cols, ptrdiff_t lo, ptrdiff_t hi)
{
    for (ptrdiff_t i = lo; i < hi; i++) {
        const float *r = x + i * cols;
        float *o = y + i * cols;
        for (ptrdiff_t j = 0; j < cols; j++) o[j] = r[j] * scale[j] + shift[j];
    }
}

void pynn_channel_affine(const float *x, const float *scale, const float *shift, float *y,
                         ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(rows * cols);
    PYNN_PARALLEL_RANGE(nt, rows, affine_rows(x, scale, shift, y, cols, lo, hi));
}

/* Sums of dy and dy * xhat over rows [lo, hi) into acc[0:cols], acc[cols:2cols]. */
static void backward_sums(const float *x, const float *dy, const float *mean,
                          const float *inv_std, ptrdiff_t cols, ptrdiff_t lo, ptrdiff_t hi,
                          double *acc)
{
    for (ptrdiff_t j = 0; j < 2 * cols; j++) acc[j] = 0.0;
    for (ptrdiff_t i = lo; i < hi; i++) {
        const float *r = x + i * cols, *g = dy + i * cols;
        for (ptrdiff_t j = 0; j < cols; j++) {
            acc[j] += g[j];
            acc[cols + j] += (double)g[j] * ((r[j] - mean[j]) * inv_std[j]);
        }
    }
}

static void backward_dx(const float *x, const float *dy, const float *mean,
                        const float *inv_std, const float *gamma, const float *sum_dy,
                        const float *sum_dyx, float inv_rows, float *dx, ptrdiff_t cols,
                        ptrdiff_t lo, ptrdiff_t hi)
{
    for (ptrdiff_t i = lo; i < hi; i++) {
        const float *r = x + i * cols, *g = dy + i * cols;
        float *o = dx + i * cols;
        for (ptrdiff_t j = 0; j < cols; j++) {
            float xhat = (r[j] - mean[j]) * inv_std[j];
            float k = (gamma ? gamma[j] : 1.0f) * inv_std[j];
            o[j] = k * (g[j] - sum_dy[j] * inv_rows - xhat * sum_dyx[j] * inv_rows);
        }
    }
}

int pynn_batchnorm_backward(const float *x, const float *dy, const float *mean,
                            const float *inv_std, const float *gamma, float *dx,
                            float *dgamma, float *dbeta, ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(rows * cols * 2);
    double *parts[PYNN_MAX_THREADS];
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        PYNN_FTZ_SCOPE;
        int t = pynn_thread_id();
        ptrdiff_t lo, hi;
        pynn_thread_range(rows, &lo, &hi);
        double *acc = parts[t] = (double *)pynn_scratch(PYNN_SCRATCH_PARTIAL, 4 * cols);
        if (acc) {
            backward_sums(x, dy, mean, inv_std, cols, lo, hi, acc);
        } else {
#pragma omp atomic write
            failed = 1;
        }
    }
    if (failed)
        return -1;
    /* The two sums are dbeta and dgamma; a scratch stands in for either one
     * the caller does not want. */
    float *sum_dy = dbeta, *sum_dyx = dgamma;
    float *tmp = NULL;
    if (!sum_dy || !sum_dyx) {
        tmp = pynn_scratch(PYNN_SCRATCH_COLS, 2 * cols);
        if (!tmp)
            return -1;
        if (!sum_dy)
            sum_dy = tmp;
        if (!sum_dyx)
            sum_dyx = tmp + cols;
    }
    for (ptrdiff_t j = 0; j < cols; j++) {
        double a = 0.0, b = 0.0;
        for (int t = 0; t < nt; t++) {
            a += parts[t][j];
            b += parts[t][cols + j];
        }
        sum_dy[j] = (float)a;
        sum_dyx[j] = (float)b;
    }
    if (dx) {
        float inv_rows = 1.0f / (float)(rows > 0 ? rows : 1);
        PYNN_PARALLEL_RANGE(nt, rows, backward_dx(x, dy, mean, inv_std, gamma, sum_dy, sum_dyx,
                                                  inv_rows, dx, cols, lo, hi));
    }
    return 0;
}
