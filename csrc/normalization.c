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

/* ------------------------------------------------------------------
 * Group normalization, and layer normalization as its case of one group:
 * x is n x s x groups x size (NHWC data with its channels cut into groups
 * of `size`; s the pixels), each (sample, group) is normalized over its
 * s * size values, then each channel scaled by gamma and shifted by beta.
 * Layer normalization over the last axis is n = rows, s = 1, groups = 1.
 * Threads split the (sample, group) pairs.
 */

/* Mean and 1 / sqrt(var + eps) of pairs [p0, p1), two passes in double,
 * and the normalized, scaled and shifted values. */
static void group_norm_pairs(const float *x, ptrdiff_t s, ptrdiff_t groups, ptrdiff_t size,
                             float eps, const float *gamma, const float *beta, float *y,
                             float *mean, float *inv_std, ptrdiff_t p0, ptrdiff_t p1)
{
    const ptrdiff_t c = groups * size;
    const double count = (double)PYNN_MAX(s * size, 1);
    for (ptrdiff_t p = p0; p < p1; p++) {
        ptrdiff_t b = p / groups, g = p % groups;
        const float *xb = x + b * s * c + g * size;
        float *yb = y + b * s * c + g * size;
        double sum = 0.0;
        for (ptrdiff_t i = 0; i < s; i++) {
            const float *r = xb + i * c;
            for (ptrdiff_t j = 0; j < size; j++) sum += r[j];
        }
        double m = sum / count, q = 0.0;
        for (ptrdiff_t i = 0; i < s; i++) {
            const float *r = xb + i * c;
            for (ptrdiff_t j = 0; j < size; j++) {
                double d = (double)r[j] - m;
                q += d * d;
            }
        }
        float inv = (float)(1.0 / sqrt(q / count + (double)eps));
        float mf = (float)m;
        mean[p] = mf;
        inv_std[p] = inv;
        const float *gm = gamma ? gamma + g * size : NULL, *bt = beta ? beta + g * size : NULL;
        for (ptrdiff_t i = 0; i < s; i++) {
            const float *r = xb + i * c;
            float *o = yb + i * c;
            for (ptrdiff_t j = 0; j < size; j++) {
                float v = (r[j] - mf) * inv;
                if (gm)
                    v *= gm[j];
                if (bt)
                    v += bt[j];
                o[j] = v;
            }
        }
    }
}

void pynn_group_norm_forward(const float *x, ptrdiff_t n, ptrdiff_t s, ptrdiff_t groups,
                             ptrdiff_t size, float eps, const float *gamma, const float *beta,
                             float *y, float *mean, float *inv_std)
{
    PYNN_FTZ_SCOPE;
    ptrdiff_t pairs = n * groups;
    if (pairs <= 0)
        return;
    int nt = pynn_threads_for(pairs * s * size * 3);
    PYNN_PARALLEL_RANGE(nt, pairs, group_norm_pairs(x, s, groups, size, eps, gamma, beta, y,
                                                    mean, inv_std, lo, hi));
}

/* The backward pass over pairs [p0, p1): dx of those pairs, and this
 * share's sums of dy * xhat and dy per channel into acc[0:c], acc[c:2c]. */
static void group_norm_backward_pairs(const float *x, const float *dy, ptrdiff_t s,
                                      ptrdiff_t groups, ptrdiff_t size, const float *mean,
                                      const float *inv_std, const float *gamma, float *dx,
                                      double *acc, ptrdiff_t p0, ptrdiff_t p1)
{
    const ptrdiff_t c = groups * size;
    const float inv_count = 1.0f / (float)PYNN_MAX(s * size, 1);
    if (acc)
        for (ptrdiff_t j = 0; j < 2 * c; j++) acc[j] = 0.0;
    for (ptrdiff_t p = p0; p < p1; p++) {
        ptrdiff_t b = p / groups, g = p % groups;
        const ptrdiff_t at = b * s * c + g * size;
        const float *xb = x + at, *gb = dy + at;
        const float *gm = gamma ? gamma + g * size : NULL;
        const float m = mean[p], inv = inv_std[p];
        double sum_g = 0.0, sum_gx = 0.0;
        for (ptrdiff_t i = 0; i < s; i++) {
            const float *r = xb + i * c, *d = gb + i * c;
            double *ag = acc ? acc + g * size : NULL, *ab = acc ? acc + c + g * size : NULL;
            for (ptrdiff_t j = 0; j < size; j++) {
                float xhat = (r[j] - m) * inv;
                float gg = gm ? d[j] * gm[j] : d[j];
                sum_g += gg;
                sum_gx += (double)gg * xhat;
                if (ag) {
                    ag[j] += (double)d[j] * xhat;
                    ab[j] += d[j];
                }
            }
        }
        if (!dx)
            continue;
        const float mg = (float)sum_g * inv_count, mgx = (float)sum_gx * inv_count;
        float *ob = dx + at;
        for (ptrdiff_t i = 0; i < s; i++) {
            const float *r = xb + i * c, *d = gb + i * c;
            float *o = ob + i * c;
            for (ptrdiff_t j = 0; j < size; j++) {
                float xhat = (r[j] - m) * inv;
                float gg = gm ? d[j] * gm[j] : d[j];
                o[j] = inv * (gg - mg - xhat * mgx);
            }
        }
    }
}

int pynn_group_norm_backward(const float *x, const float *dy, ptrdiff_t n, ptrdiff_t s,
                             ptrdiff_t groups, ptrdiff_t size, const float *mean,
                             const float *inv_std, const float *gamma, float *dx, float *dgamma,
                             float *dbeta)
{
    PYNN_FTZ_SCOPE;
    const ptrdiff_t pairs = n * groups, c = groups * size;
    const int sums = dgamma != NULL || dbeta != NULL;
    int nt = pynn_threads_for(pairs * s * size * 4);
    if (pairs <= 0) {
        for (ptrdiff_t j = 0; j < c; j++) {
            if (dgamma)
                dgamma[j] = 0.0f;
            if (dbeta)
                dbeta[j] = 0.0f;
        }
        return 0;
    }
    nt = (int)PYNN_MIN((ptrdiff_t)nt, pairs);
    double *parts[PYNN_MAX_THREADS];
    int failed = 0;
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            PYNN_FTZ_SCOPE;
            int t = pynn_thread_id();
            ptrdiff_t lo, hi;
            pynn_thread_range(pairs, &lo, &hi);
            double *acc = parts[t] = sums ? (double *)pynn_scratch(PYNN_SCRATCH_PARTIAL, 4 * c)
                                          : NULL;
            if (sums && !acc) {
#pragma omp atomic write
                failed = 1;
            } else {
                group_norm_backward_pairs(x, dy, s, groups, size, mean, inv_std, gamma, dx, acc,
                                          lo, hi);
            }
        }
    } else {
        nt = 1;
        parts[0] = sums ? (double *)pynn_scratch(PYNN_SCRATCH_PARTIAL, 4 * c) : NULL;
        if (sums && !parts[0])
            failed = 1;
        else
            group_norm_backward_pairs(x, dy, s, groups, size, mean, inv_std, gamma, dx, parts[0],
                                      0, pairs);
    }
    if (failed)
        return -1;
    if (sums)
        for (ptrdiff_t j = 0; j < c; j++) {
            double a = 0.0, bsum = 0.0;
            for (int t = 0; t < nt; t++) {
                a += parts[t][j];
                bsum += parts[t][c + j];
            }
            if (dgamma)
                dgamma[j] = (float)a;
            if (dbeta)
                dbeta[j] = (float)bsum;
        }
    return 0;
}
