/* loss.c - losses per sample and their gradients, in one pass. */
#include "pynn.h"
#include "internal.h"

#include <math.h>

/* Keras clips probabilities to [EPS, 1 - EPS] before taking logs. */
#define EPS 1e-7f

/* A row of logits' maximum and the sum of e^(p - max), both reductions
 * over vector lanes (`omp simd`), e^ inlined: one add after another, and
 * libm's expf called per class, a 10,000-word vocabulary's loss took
 * several times its arithmetic. */
static inline __attribute__((always_inline)) float
row_max(const float *p, ptrdiff_t cols)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (ptrdiff_t j = 0; j < cols; j++) mx = p[j] > mx ? p[j] : mx;
    return mx;
}

static inline __attribute__((always_inline)) float
row_loss(int kind, const float *p, const float *t, float *g, float gscale, ptrdiff_t cols)
{
    float s = 0.0f;
    float inv_cols = 1.0f / (float)cols;
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
                int inside = pj > EPS && pj < 1.0f - EPS;
                g[j] = inside ? (pc - t[j]) / (pc * (1.0f - pc)) * inv_cols * gscale : 0.0f;
            }
        }
        return s * inv_cols;
    case PYNN_LOSS_CATEGORICAL_CROSSENTROPY: {
        /* Keras divides the predictions by their sum before clipping, so a
         * last layer that is not a softmax is scored as a distribution.
         * With q = p / S, dL/dp_k = (dL/dq_k - sum_j dL/dq_j q_j) / S, and
         * sum_j dL/dq_j q_j = -(the targets' sum over unclipped classes). */
        float sum = 0.0f, t_inside = 0.0f;
        for (ptrdiff_t j = 0; j < cols; j++) sum += p[j];
        float inv = 1.0f / sum;
        for (ptrdiff_t j = 0; j < cols; j++) {
            float q = p[j] * inv, qc = fminf(fmaxf(q, EPS), 1.0f - EPS);
            s -= t[j] * logf(qc);
            if (q > EPS && q < 1.0f - EPS)
                t_inside += t[j];
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
        float mx = row_max(p, cols), se = 0.0f, tsum = 0.0f, tx = 0.0f;
#pragma omp simd reduction(+ : se, tsum, tx)
        for (ptrdiff_t j = 0; j < cols; j++) {
            se += pynn_exp_vec(p[j] - mx);
            tsum += t[j];
            tx += t[j] * p[j];
        }
        float lse = mx + logf(se);
        if (g) {
            float inv = 1.0f / se;
            for (ptrdiff_t j = 0; j < cols; j++)
                g[j] = (pynn_exp_vec(p[j] - mx) * inv * tsum - t[j]) * gscale;
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

static inline __attribute__((always_inline)) void
loss_rows_body(int kind, const float *pred, const float *target, const float *weights,
               float scale, float *sample_loss, float *grad, ptrdiff_t cols, ptrdiff_t i0,
               ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; i++) {
        float gscale = (weights ? weights[i] : 1.0f) / scale;
        sample_loss[i] = row_loss(kind, pred + i * cols, target + i * cols,
                                  grad ? grad + i * cols : NULL, gscale, cols);
    }
}

PYNN_PER_LEVEL(static, loss_rows, loss_rows_body,
               (int kind, const float *pred, const float *target, const float *weights,
                float scale, float *sample_loss, float *grad, ptrdiff_t cols, ptrdiff_t i0,
                ptrdiff_t i1),
               (kind, pred, target, weights, scale, sample_loss, grad, cols, i0, i1))

void pynn_loss(int kind, const float *pred, const float *target,
               const float *weights, float scale, float *sample_loss,
               float *grad, ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(rows * cols * 8);
    PYNN_PARALLEL_RANGE(nt, rows, loss_rows(kind, pred, target, weights, scale,
                                            sample_loss, grad, cols, lo, hi));
}

static inline __attribute__((always_inline)) void
sparse_loss_rows_body(int from_logits, const float *pred, const int32_t *labels,
                      const float *weights, float scale, float *sample_loss, float *grad,
                      ptrdiff_t cols, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t *bad_rows)
{
    ptrdiff_t bad = 0;
    for (ptrdiff_t i = i0; i < i1; i++) {
        const float *p = pred + i * cols;
        float *g = grad ? grad + i * cols : NULL;
        float gscale = (weights ? weights[i] : 1.0f) / scale;
        int32_t y = labels[i];
        if (y < 0 || y >= cols) {
            bad++;
            sample_loss[i] = NAN;
            if (g)
                for (ptrdiff_t j = 0; j < cols; j++) g[j] = 0.0f;
            continue;
        }
        if (from_logits) {
            float mx = row_max(p, cols), se = 0.0f;
#pragma omp simd reduction(+ : se)
            for (ptrdiff_t j = 0; j < cols; j++) se += pynn_exp_vec(p[j] - mx);
            sample_loss[i] = mx + logf(se) - p[y];
            if (g) {
                float inv = 1.0f / se;
                for (ptrdiff_t j = 0; j < cols; j++)
                    g[j] = pynn_exp_vec(p[j] - mx) * inv * gscale;
                g[y] -= gscale;
            }
        } else {
            /* As the categorical loss: p is divided by its sum first, as
             * Keras does, and the gradient goes through that division. */
            float sum = 0.0f;
            for (ptrdiff_t j = 0; j < cols; j++) sum += p[j];
            float inv = 1.0f / sum, q = p[y] * inv, qc = fminf(fmaxf(q, EPS), 1.0f - EPS);
            sample_loss[i] = -logf(qc);
            if (g) {
                int inside = q > EPS && q < 1.0f - EPS;
                for (ptrdiff_t j = 0; j < cols; j++) g[j] = inside ? inv * gscale : 0.0f;
                if (inside)
                    g[y] -= 1.0f / q * inv * gscale;
            }
        }
    }
    *bad_rows = bad;
}

PYNN_PER_LEVEL(static, sparse_loss_rows, sparse_loss_rows_body,
               (int from_logits, const float *pred, const int32_t *labels,
                const float *weights, float scale, float *sample_loss, float *grad,
                ptrdiff_t cols, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t *bad_rows),
               (from_logits, pred, labels, weights, scale, sample_loss, grad, cols, i0, i1,
                bad_rows))

ptrdiff_t pynn_sparse_loss(int from_logits, const float *pred, const int32_t *labels,
                           const float *weights, float scale, float *sample_loss,
                           float *grad, ptrdiff_t rows, ptrdiff_t cols)
{
    PYNN_FTZ_SCOPE;
    int nt = pynn_threads_for(rows * cols * 8);
    ptrdiff_t bad = 0;
    if (nt > 1) {
#pragma omp parallel num_threads(nt) reduction(+ : bad)
        {
            PYNN_FTZ_SCOPE;
            ptrdiff_t lo, hi, mine;
            pynn_thread_range(rows, &lo, &hi);
            sparse_loss_rows(from_logits, pred, labels, weights, scale, sample_loss, grad,
                             cols, lo, hi, &mine);
            bad += mine;
        }
    } else {
        sparse_loss_rows(from_logits, pred, labels, weights, scale, sample_loss, grad, cols,
                         0, rows, &bad);
    }
    return bad;
}

static ptrdiff_t argmax_row(const float *p, ptrdiff_t cols)
{
    ptrdiff_t best = 0;
    for (ptrdiff_t j = 1; j < cols; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

double pynn_accuracy(int kind, const float *pred, const void *target,
                     const float *weights, ptrdiff_t rows, ptrdiff_t cols,
                     float threshold)
{
    PYNN_FTZ_SCOPE;
    double sum = 0.0;
    for (ptrdiff_t i = 0; i < rows; i++) {
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
        sum += weights ? weights[i] * hit : hit;
    }
    return sum;
}
